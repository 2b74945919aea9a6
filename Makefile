# ustack — build, test, demo. See README.md.
#
#   make            library + programs (gcc; CC=clang works too)
#   make test       deps, build, layering check, unit + simulation tests, ASan/UBSan run, short fuzz,
#                   integration
#   make unit       Check unit and simulation tests
#   make sim        TCP simulation: 10 MiB over lossy links, 1000 seeds (SIM_SEEDS; SEED=N replays one)
#   make soak       a million connections opened and closed with loss, in virtual time: nothing
#                   may leak (SOAK_CONNS; soak-ci: 50 000, in make test)
#   make sim-matrix goodput by loss x RTT x reordering x TCP configuration against
#                   tests/sim/matrix.snapshot (sim-matrix-short: the CI form; UPDATE=1 or
#                   sim-matrix-update rewrites the snapshots; docs/sim-matrix.md)
#   make asan       the unit tests and 40 simulation seeds built with ASan + UBSan
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (default 300 each; docs/fuzzing.md)
#   make fuzz-long  every target to 10 million executions, and the table (FUZZ_LONG_RUNS,
#                   FUZZ_LONG_SECONDS, FUZZ_LONG_TARGETS, FUZZ_LONG_JOBS)
#   make integration  netns + TAP tests against Linux tools (root)
#   make integration-asan  the same against ASan + UBSan builds of the programs (ASAN_SUITES
#                   picks tests; make test runs the TCP, malformed-input and PMTU ones)
#   make check-layers  protocol code imports no clock, system call or runtime symbol; tcp_var.h
#                   only in stack/tcp*.c; links, runtime and programs use public headers only
#   make check-layers-test  tools/check-layers.sh against the tree and planted violations
#   make study SCENARIO=NAME [SEED=N] [MODERN=1]  a simulated TCP scenario: trace, pcap, plots in build/study/NAME
#   make study-docs  regenerate docs/study/img/*.png (every scenario, fixed seeds)
#   make study-real SCENARIO=NAME  the same scenario over the real TAP against Linux (root)
#   make demo       build, bring up the namespace, ping the stack, tear down
#   make bench-trace  throughput with the event trace off and on (root; not in make test)
#   make bench      ustack against the kernel and the raw TAP limit, one table (root)
#   make bench-loss goodput under loss/reordering, ustack against Linux (root; QUICK=1)
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
SIM_SEEDS ?= 1000
ASAN_SIM_SEEDS ?= 40
SIM_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

LIB_SRC := $(wildcard stack/*.c) $(wildcard stack/link/*.c) $(wildcard stack/runtime/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB_PIC := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
LIB_A := $(BUILD)/lib/libustack.a
LIB_SO := $(BUILD)/lib/libustack.so

APP_COMMON := $(BUILD)/obj/apps/common.o $(BUILD)/obj/apps/util.o
APPS := ustackd ustack-ping ustack-raw ustack-get ustack-nc ustack-bulk ustack-stat ustack-study ustack-impair
APP_BINS := $(APPS:%=$(BUILD)/bin/%)

UNIT_SRC := $(wildcard tests/unit/*.c)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck -lsubunit -lrt -lm)

.PHONY: all lib apps test unit sim soak soak-ci sim-matrix sim-matrix-short sim-matrix-update asan asan-apps fuzz fuzz-ci fuzz-long fuzz-bins integration integration-asan demo deps install clean study study-docs study-test study-real check-layers check-layers-test
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

$(BUILD)/bin/ustackd: $(BUILD)/obj/apps/services.o $(BUILD)/obj/apps/http.o $(BUILD)/obj/apps/http_parse.o $(BUILD)/obj/apps/control.o
$(BUILD)/bin/ustack-study: $(BUILD)/obj/apps/study_synflood.o

$(BUILD)/bin/%: $(BUILD)/obj/apps/%.o $(APP_COMMON) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)

# ---------------------------------------------------------------- tests

$(BUILD)/tests/unit: $(UNIT_SRC) $(wildcard tests/unit/*.h) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -Itests/unit -o $@ $(UNIT_SRC) $(LIB_A) $(CHECK_LIBS) $(LDLIBS)

unit: $(BUILD)/tests/unit
	CK_FORK=no $(BUILD)/tests/unit

# The TCP simulation (tests/sim/sim_tcp.c): all seeds, or SEED=N alone
# (verbose); SIM_ARGS adds options (e.g. --bytes N).
SIM_BIN := $(BUILD)/sim/sim_tcp
$(SIM_BIN): tests/sim/sim_tcp.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/sim/sim_tcp.c $(LIB_A) $(LDLIBS)

SOAK_BIN := $(BUILD)/sim/sim_soak
$(SOAK_BIN): tests/sim/sim_soak.c $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ tests/sim/sim_soak.c $(LIB_A) $(LDLIBS)

# Connection churn in virtual time (tests/sim/sim_soak.c): SOAK_CONNS
# connections with loss, then every stack must be clean and the resident
# memory back to its start. soak-ci is the short form in make test.
SOAK_CONNS ?= 1000000
soak: $(SOAK_BIN)
	$(SOAK_BIN) --conns $(SOAK_CONNS) -v
soak-ci: $(SOAK_BIN)
	$(SOAK_BIN) --conns 50000

sim: $(SIM_BIN)
ifdef SEED
	$(SIM_BIN) --seed $(SEED) $(SIM_ARGS)
else
	$(SIM_BIN) --seeds $(SIM_SEEDS) --jobs $(SIM_JOBS) --replay-check $(SIM_ARGS)
endif

# The simulation matrix (tests/sim/sim_matrix.c, docs/sim-matrix.md): goodput
# by loss x RTT x reordering for three TCP configurations, compared with the
# snapshot (a cell more than SIM_MATRIX_TOLERANCE percent away fails) and with
# the claims SACK and RACK are for. sim-matrix-short is the reduced form for
# CI; UPDATE=1 (or sim-matrix-update, both snapshots) rewrites the snapshot.
SIM_MATRIX_BIN := $(BUILD)/sim/sim_matrix
SIM_MATRIX_TOLERANCE ?= 10
SIM_MATRIX_RUN = $(SIM_MATRIX_BIN) --jobs $(SIM_JOBS) --tolerance $(SIM_MATRIX_TOLERANCE)
$(SIM_MATRIX_BIN): tests/sim/sim_matrix.c $(BUILD)/obj/apps/util.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Iapps -o $@ tests/sim/sim_matrix.c $(BUILD)/obj/apps/util.o $(LIB_A) $(LDLIBS)

sim-matrix: $(SIM_MATRIX_BIN)
	$(SIM_MATRIX_RUN) --snapshot tests/sim/matrix.snapshot $(if $(UPDATE),--update) $(SIM_MATRIX_ARGS)

sim-matrix-short: $(SIM_MATRIX_BIN)
	$(SIM_MATRIX_RUN) --short --snapshot tests/sim/matrix-short.snapshot $(if $(UPDATE),--update) $(SIM_MATRIX_ARGS)

sim-matrix-update: $(SIM_MATRIX_BIN)
	@rc=0; \
	$(SIM_MATRIX_RUN) --snapshot tests/sim/matrix.snapshot --update $(SIM_MATRIX_ARGS) || rc=1; \
	$(SIM_MATRIX_RUN) --short --snapshot tests/sim/matrix-short.snapshot --update $(SIM_MATRIX_ARGS) || rc=1; \
	exit $$rc

ASAN_ENV := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
ASAN_OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
ASAN_LDLIBS := -lpthread -lm -fsanitize=address,undefined
asan:
	$(MAKE) --no-print-directory BUILD=build/asan CC=clang OPT="$(ASAN_OPT)" \
	  LDLIBS="$(ASAN_LDLIBS)" build/asan/tests/unit build/asan/sim/sim_tcp \
	  build/asan/sim/sim_soak
ifdef SEED
	$(ASAN_ENV) build/asan/sim/sim_tcp --seed $(SEED) $(SIM_ARGS)
else
	$(ASAN_ENV) CK_FORK=no build/asan/tests/unit
	$(ASAN_ENV) build/asan/sim/sim_tcp --seeds $(ASAN_SIM_SEEDS) --jobs $(SIM_JOBS) $(SIM_ARGS)
	$(ASAN_ENV) build/asan/sim/sim_soak --conns 2000
endif

# libFuzzer targets (docs/fuzzing.md), tests/fuzz/fuzz_NAME.c, each with a
# kept corpus in tests/fuzz/corpus_NAME. The library is built once for all of
# them, with ASan + UBSan and coverage instrumentation (minus
# tests/fuzz/coverage-ignore.txt); fuzz_http links ustackd's parser instead.
FUZZ_TARGETS := input tcp tcpopt reasm arp http
FUZZ_BINS := $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_CFLAGS := $(CFLAGS_BASE) -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
  -fno-sanitize-recover=undefined -fsanitize-coverage-ignorelist=tests/fuzz/coverage-ignore.txt
FUZZ_LIB_OBJ := $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(filter-out stack/runtime/%,$(LIB_SRC)))
FUZZ_SRC_http := apps/http_parse.c
FUZZ_SECONDS ?= 300
FUZZ_CI_SECONDS ?= 20
FUZZ_LONG_RUNS ?= 10000000
FUZZ_LONG_SECONDS ?=
FUZZ_LONG_JOBS ?= 2
FUZZ_LONG_TARGETS ?= $(FUZZ_TARGETS)

$(BUILD)/fuzz/obj/%.o: %.c tests/fuzz/coverage-ignore.txt
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<
.SECONDARY: $(FUZZ_LIB_OBJ)
-include $(FUZZ_LIB_OBJ:.o=.d)

.SECONDEXPANSION:
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $$(FUZZ_SRC_$$*) $$(if $$(filter http,$$*),,$(FUZZ_LIB_OBJ)) \
  $(wildcard stack/*.h stack/include/ustack/*.h apps/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -Iapps -o $@ $< $(FUZZ_SRC_$*) \
	  $(if $(filter http,$*),,$(FUZZ_LIB_OBJ)) $(LDLIBS)

fuzz-bins: $(FUZZ_BINS)

# Every target for FUZZ_SECONDS, from its kept corpus (new inputs go to
# build/fuzz/corpus_NAME; minimise them into the kept one with
# tools/fuzz.sh merge NAME).
fuzz: $(FUZZ_BINS)
	FUZZ_BUILD=$(BUILD) bash tools/fuzz.sh run $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The CI form: each kept corpus replayed (fuzz_tcp's must reach every TCP
# state), then FUZZ_CI_SECONDS of fuzzing per target, one after the other.
fuzz-ci: $(FUZZ_BINS)
	FUZZ_BUILD=$(BUILD) bash tools/fuzz.sh ci $(FUZZ_CI_SECONDS) $(FUZZ_TARGETS)

# Each target until FUZZ_LONG_RUNS executions (or FUZZ_LONG_SECONDS), at most
# FUZZ_LONG_JOBS at a time, niced; then the table of build/fuzz/long/*.result.
fuzz-long: $(FUZZ_LONG_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
	FUZZ_BUILD=$(BUILD) FUZZ_LONG_RUNS=$(FUZZ_LONG_RUNS) FUZZ_LONG_SECONDS=$(FUZZ_LONG_SECONDS) \
	  FUZZ_LONG_JOBS=$(FUZZ_LONG_JOBS) bash tools/fuzz.sh long $(FUZZ_LONG_TARGETS)

integration: all
	bash tests/integration/run.sh

# The integration suite against ASan + UBSan builds of the programs
# (build/asan/bin): a sanitizer report or a leak at exit makes a program exit
# non-zero, which the tests count as a failure. ASAN_SUITES picks the tests
# (default: all); make test runs the TCP, malformed-input and PMTU ones.
ASAN_SUITES ?=
ASAN_CI_SUITES := test_tcp_linux.sh test_tcp_http.sh test_tcp_loss.sh test_malformed.py test_pmtu.py
asan-apps:
	$(MAKE) --no-print-directory BUILD=build/asan CC=clang OPT="$(ASAN_OPT)" LDLIBS="$(ASAN_LDLIBS)" apps

integration-asan: asan-apps
	USTACK_BIN=$(CURDIR)/build/asan/bin $(ASAN_ENV) bash tests/integration/run.sh $(ASAN_SUITES)

# The layering (tools/check-layers.sh): nm on the library's objects, $(CC) -MM
# on its sources and the programs'. check-layers-test plants violations in
# copies and checks that they are found (tests/layers/test_check_layers.sh).
check-layers: lib
	bash tools/check-layers.sh --obj $(BUILD)/obj/stack --cc $(CC)

check-layers-test: lib
	CC=$(CC) OBJ=$(BUILD)/obj/stack bash tests/layers/test_check_layers.sh

# ---------------------------------------------------------------- study (docs/study)

# make study SCENARIO=NAME [SEED=N]: a simulated scenario (apps/ustack-study.c)
# and its graphs (tools/study-plot.sh, tools/ustack-plot) in build/study/NAME/;
# a group of runs (sack-recovery, rack-tlp, cubic-vs-newreno) has one
# directory per part and the comparison next to them. make study-docs: the
# graphs of every scenario, fixed seeds, into docs/study/img/. A scenario the
# build cannot run (status 77: cubic-vs-newreno before CUBIC is merged) is
# skipped with a message. MODERN=1: the same scenario with ustack's default
# TCP (ustack-study --modern: every feature, CUBIC) in build/study/NAME-modern,
# to compare with the classic TCP the first seven scenarios pin.
STUDY_SCENARIOS := handshake slow-start loss-fast-retransmit loss-rto reorder zero-window lossy-5pct \
	sack-recovery rack-tlp cubic-vs-newreno syn-flood
STUDY_SEED = $(if $(SEED),$(SEED),1)
STUDY_PYTHON := /usr/bin/python3
STUDY_BIN := $(BUILD)/bin/ustack-study
STUDY_GRAPHS := tseq tseq-zoom cwnd rtt
STUDY_OUT = $(BUILD)/study/$(SCENARIO)$(if $(MODERN),-modern)

study: $(STUDY_BIN)
	@[ -n "$(SCENARIO)" ] || { echo "usage: make study SCENARIO=NAME [SEED=N] [MODERN=1]; NAME is one of: $(STUDY_SCENARIOS)"; exit 2; }
	@rc=0; $(STUDY_BIN) $(SCENARIO) --seed $(STUDY_SEED) $(if $(MODERN),--modern) -o $(STUDY_OUT) || rc=$$?; \
	if [ $$rc -eq 77 ]; then echo "study: $(SCENARIO) skipped (see above)"; exit 0; fi; \
	[ $$rc -eq 0 ] || exit $$rc; \
	USTACK_BIN=$(BUILD)/bin bash tools/study-plot.sh $(STUDY_OUT) $(SCENARIO)

study-docs: $(STUDY_BIN)
	@mkdir -p docs/study/img
	@set -e; for s in $(STUDY_SCENARIOS); do \
	  d=$(BUILD)/study-docs/$$s; rm -rf $$d; \
	  rc=0; $(STUDY_BIN) $$s --seed 1 -q -o $$d || rc=$$?; \
	  if [ $$rc -eq 77 ]; then echo "study-docs: $$s skipped, its images kept"; continue; fi; \
	  [ $$rc -eq 0 ] || exit $$rc; \
	  USTACK_BIN=$(BUILD)/bin bash tools/study-plot.sh $$d $$s -q; \
	  rm -f docs/study/img/$$s-*.png; \
	  parts=$$($(STUDY_BIN) --parts $$s); \
	  for g in $(STUDY_GRAPHS); do [ ! -f $$d/$$g.png ] || cp $$d/$$g.png docs/study/img/$$s-$$g.png; done; \
	  for p in $$parts; do for g in $(STUDY_GRAPHS); do \
	    [ ! -f $$d/$$p/$$g.png ] || cp $$d/$$p/$$g.png docs/study/img/$$s-$$p-$$g.png; done; done; \
	  for g in compare-cwnd compare-tseq synflood; do [ ! -f $$d/$$g.png ] || cp $$d/$$g.png docs/study/img/$$s-$$g.png; done; \
	  echo "study-docs: docs/study/img/$$s-*.png"; \
	done

# The same scenarios over the real TAP against Linux (tools/study-real.sh),
# into build/study-real/NAME; root, not part of make test.
study-real: all
	@[ -n "$(SCENARIO)" ] || { echo "usage: make study-real SCENARIO=NAME [SEED=N]; NAME is one of: $(STUDY_SCENARIOS)"; exit 2; }
	bash tools/study-real.sh $(SCENARIO) $(STUDY_SEED)

study-test: $(STUDY_BIN)
	bash tests/study/test_study.sh

test: deps
	$(MAKE) --no-print-directory all
	CC=clang $(MAKE) --no-print-directory BUILD=build/clang all
	$(MAKE) --no-print-directory check-layers
	$(MAKE) --no-print-directory check-layers-test
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory sim
	$(MAKE) --no-print-directory soak-ci
	$(MAKE) --no-print-directory sim-matrix-short
	$(MAKE) --no-print-directory study-test
	$(MAKE) --no-print-directory asan
	$(MAKE) --no-print-directory fuzz-ci
	$(MAKE) --no-print-directory integration
	$(MAKE) --no-print-directory integration-asan ASAN_SUITES="$(ASAN_CI_SUITES)"

demo: deps all
	bash tools/demo.sh

# What the event trace costs, trace off against on (not part of `make test`);
# BENCH_ARGS passes options, e.g. BENCH_ARGS="--runs 5 --base 7f00fd1".
.PHONY: bench-trace
bench-trace: all
	bash tools/bench-trace.sh $(BENCH_ARGS)

# Goodput under loss and reordering, ustack against Linux over one impaired
# path (tools/bench-loss.sh; QUICK=1 for a one-minute run; BENCH_ARGS passes
# options). And the performance table: ustack against the kernel and the raw
# TAP limit, measured in the same run (tools/bench.sh). Root; not in make test.
.PHONY: bench bench-loss
bench-loss: all
	QUICK=$(QUICK) bash tools/bench-loss.sh $(BENCH_ARGS)

bench: all
	QUICK=$(QUICK) bash tools/bench.sh $(BENCH_ARGS)

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
