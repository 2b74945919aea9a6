# ustack — build, test, demo. See README.md.
#
#   make            library + programs (gcc; CC=clang works too)
#   make test       deps, build, unit + simulation tests, ASan/UBSan run, short fuzz, integration
#   make unit       Check unit and simulation tests
#   make asan       the same tests built with ASan + UBSan
#   make fuzz       libFuzzer on ustack_input (FUZZ_SECONDS, default 300)
#   make integration  netns + TAP tests against Linux tools (root)
#   make demo       build, bring up the namespace, ping the stack, tear down
#   make deps       install missing Debian packages
#   make install PREFIX=/usr/local

CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif
PREFIX ?= /usr/local
BUILD ?= build
OPT ?= -O2
WARN := -Wall -Wextra -Werror
CFLAGS_BASE := -std=gnu11 -g $(WARN) -D_GNU_SOURCE -Istack/include -Istack
CFLAGS ?= $(OPT)
ALL_CFLAGS := $(CFLAGS_BASE) $(CFLAGS)
LDLIBS := -lpthread -lm
FUZZ_SECONDS ?= 300

LIB_SRC := $(wildcard stack/*.c) $(wildcard stack/link/*.c) $(wildcard stack/runtime/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB_PIC := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
LIB_A := $(BUILD)/lib/libustack.a
LIB_SO := $(BUILD)/lib/libustack.so

APP_COMMON := $(BUILD)/obj/apps/common.o $(BUILD)/obj/apps/util.o
APPS := ustackd ustack-ping ustack-raw ustack-get ustack-nc ustack-bulk
APP_BINS := $(APPS:%=$(BUILD)/bin/%)

UNIT_SRC := $(wildcard tests/unit/*.c)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

.PHONY: all lib apps test unit asan fuzz fuzz-ci integration demo deps install clean
all: lib apps

lib: $(LIB_A) $(LIB_SO)
apps: $(APP_BINS)

$(BUILD)/obj/%.o: %.c $(wildcard stack/*.h stack/include/ustack/*.h apps/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/pic/%.o: %.c $(wildcard stack/*.h stack/include/ustack/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -c $< -o $@

$(LIB_A): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(LIB_SO): $(LIB_PIC)
	@mkdir -p $(dir $@)
	$(CC) -shared -Wl,-soname,libustack.so.0 -o $@ $^ $(LDLIBS)

$(BUILD)/bin/ustackd: $(BUILD)/obj/apps/services.o $(BUILD)/obj/apps/http.o

$(BUILD)/bin/%: $(BUILD)/obj/apps/%.o $(APP_COMMON) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)

# ---------------------------------------------------------------- tests

$(BUILD)/tests/unit: $(UNIT_SRC) $(wildcard tests/unit/*.h) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -Itests/unit -o $@ $(UNIT_SRC) $(LIB_A) $(CHECK_LIBS) $(LDLIBS)

unit: $(BUILD)/tests/unit
	CK_FORK=no $(BUILD)/tests/unit

asan:
	$(MAKE) --no-print-directory BUILD=build/asan CC=clang OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDLIBS="-lpthread -lm -fsanitize=address,undefined" build/asan/tests/unit
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 CK_FORK=no build/asan/tests/unit

FUZZ_BIN := $(BUILD)/fuzz/fuzz_input
$(FUZZ_BIN): tests/fuzz/fuzz_input.c $(LIB_SRC) $(wildcard stack/*.h stack/include/ustack/*.h)
	@mkdir -p $(dir $@)
	clang $(CFLAGS_BASE) -O1 -fsanitize=fuzzer,address,undefined -o $@ tests/fuzz/fuzz_input.c \
	  $(filter-out stack/runtime/%,$(LIB_SRC)) $(LDLIBS)

fuzz: $(FUZZ_BIN)
	@mkdir -p $(BUILD)/fuzz/corpus
	$(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(BUILD)/fuzz/corpus tests/fuzz/corpus

fuzz-ci:
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=60

integration: all
	bash tests/integration/run.sh

test: deps
	$(MAKE) --no-print-directory all
	CC=clang $(MAKE) --no-print-directory BUILD=build/clang all
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory asan
	$(MAKE) --no-print-directory fuzz-ci
	$(MAKE) --no-print-directory integration

demo: deps all
	bash tools/demo.sh

deps:
	@bash tools/deps.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/ustack $(DESTDIR)$(PREFIX)/bin \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libustack.so.0
	ln -sf libustack.so.0 $(DESTDIR)$(PREFIX)/lib/libustack.so
	install -m 644 stack/include/ustack/*.h $(DESTDIR)$(PREFIX)/include/ustack/
	install -m 755 $(APP_BINS) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' tools/ustack.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ustack.pc

clean:
	rm -rf build
