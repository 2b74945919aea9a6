#!/usr/bin/env bash
# TCP: ustack's clients against Linux's servers and Linux's netcat. ustack-get
# fetches a page and 100 MiB from `python3 -m http.server` (sha256-equal; a 404 exits 22). ustack-nc and
# OpenBSD nc move 50 MiB each way (sha256-equal). Half-close, both ways:
# ustack-nc sends 1 MiB and its FIN while Linux's nc keeps sending 50 MiB,
# all of which still arrives (the stack in FIN-WAIT-2 receives); Linux's nc
# sends 1 MiB and its FIN while ustack-nc keeps sending 50 MiB, and sends 50
# MiB to ustackd's echo service with its FIN long before the echo is done: the
# stack in CLOSE-WAIT still sends everything. A capture of the FINs (and of
# the data after them) on br0 shows the order.
. "$(dirname "$0")/lib.sh"

ns_up
ustackd_start --services echo || { FAIL=$((FAIL + 1)); finish; exit 1; }

# --- 3. ustack-get from python3 -m http.server
mkdir -p "$WORK/srv"
echo "<html><body>served by Linux</body></html>" >"$WORK/srv/index.html"
head -c 104857600 /dev/urandom >"$WORK/srv/big.bin"
bg_start httpd "$PY" -m http.server 8000 --bind 10.0.0.1 --directory "$WORK/srv"
HTTPD_PID=$BG_PID
check "python3 -m http.server is serving on 10.0.0.1:8000" \
    wait_for 10 ip netns exec "$NS" curl -sf -o /dev/null http://10.0.0.1:8000/index.html
nsx timeout 30 "$BIN/ustack-get" -o "$WORK/index.got" http://10.0.0.1:8000/ 2>"$WORK/get.err"
rc=$?
check_eq "ustack-get http://10.0.0.1:8000/: exit$(note "$WORK/get.err")" "$rc" 0
check "ustack-get: the page byte for byte" cmp -s "$WORK/index.got" "$WORK/srv/index.html"
nsx timeout 30 "$BIN/ustack-get" -o /dev/null http://10.0.0.1:8000/missing 2>"$WORK/get404.err"
rc=$?
check_eq "ustack-get of a missing page: exit 22 (HTTP error)$(note "$WORK/get404.err")" "$rc" 22
t0=$(now_s)
nsx timeout 120 "$BIN/ustack-get" --sha256 -o "$WORK/big.got" http://10.0.0.1:8000/big.bin 2>"$WORK/getbig.err"
rc=$?
echo "time: ustack-get of 100 MiB from python3 -m http.server: $(since_s "$t0") s"
check_eq "ustack-get of 100 MiB: exit$(note "$WORK/getbig.err")" "$rc" 0
want=$(sha256_of "$WORK/srv/big.bin")
check_eq "ustack-get of 100 MiB: sha256 of the file written" "$(sha256_of "$WORK/big.got")" "$want"
check "ustack-get of 100 MiB: its own --sha256 agrees" grep -q "104857600 bytes sha256 $want" "$WORK/getbig.err"
rm -f "$WORK/big.got" "$WORK/srv/big.bin"
kill "$HTTPD_PID" 2>/dev/null; wait "$HTTPD_PID" 2>/dev/null

# --- 4. ustack-nc <-> nc, 50 MiB each way
M50=52428800
head -c $M50 /dev/urandom >"$WORK/a"
head -c $M50 /dev/urandom >"$WORK/b"
head -c 1048576 /dev/urandom >"$WORK/small"
sha_a=$(sha256_of "$WORK/a") sha_b=$(sha256_of "$WORK/b") sha_small=$(sha256_of "$WORK/small")

# Linux's nc connects to a ustack-nc -l that may not listen yet, or whose
# stack does not answer ARP yet: retry while refused or unreachable (bounded).
nc_to_ustack() {
    local port=$1 in=$2 out=$3 end=$((SECONDS + 10))
    while :; do
        ip netns exec "$NS" timeout 120 nc -N 10.0.0.3 "$port" <"$in" >"$out" 2>"$WORK/nc.err" && return 0
        grep -qE 'refused|No route to host' "$WORK/nc.err" && [ $SECONDS -lt $end ] || return 1
        sleep 0.05
    done
}

# ustack-nc -> Linux (nc -l prints what arrives and exits at the FIN).
bg_start ncl nc -l 10.0.0.1 6001
NCL=$BG_PID
wait_for 10 bash -c "ip netns exec $NS ss -ltn | grep -q '10.0.0.1:6001 '"
t0=$(now_s)
nsx timeout 120 "$BIN/ustack-nc" 10.0.0.1 6001 <"$WORK/a" >/dev/null 2>"$WORK/unc.err"
rc=$?
wait_exit 60 "$NCL"
echo "time: ustack-nc -> nc, 50 MiB: $(since_s "$t0") s"
check_eq "ustack-nc -> nc -l: ustack-nc exit$(note "$WORK/unc.err")" "$rc" 0
check_eq "ustack-nc -> nc -l: 50 MiB sha256-equal" "$(sha256_of "$WORK/ncl.out")" "$sha_a"

# Linux -> ustack-nc -l (whose stdin ends at once: it half-closes first).
bg_start unc "$BIN/ustack-nc" -l 6002
UNC=$BG_PID
t0=$(now_s)
nc_to_ustack 6002 "$WORK/b" /dev/null
rc=$?
wait_exit 60 "$UNC"
urc=$?
echo "time: nc -> ustack-nc -l, 50 MiB: $(since_s "$t0") s"
check_eq "nc -N -> ustack-nc -l: nc exit$(note "$WORK/nc.err")" "$rc" 0
check_eq "nc -N -> ustack-nc -l: ustack-nc exit$(note "$WORK/unc.err")" "$urc" 0
check_eq "nc -N -> ustack-nc -l: 50 MiB sha256-equal" "$(sha256_of "$WORK/unc.out")" "$sha_b"

# --- half-close: FINs and the data after them, on br0
# Headers only; FINs and the data of the two directions that go on after one.
tcpdump_start "$WORK/fin.pcap" -s 80 -B 65536 \
    '(tcp[tcpflags] & tcp-fin != 0) or (dst port 6003 and len > 100) or (src port 6004 and len > 100) or (src port 7 and len > 100)'
fin_time() {   # fin_time SRC DST: the time of the first FIN from SRC to DST
    tcpdump -r "$WORK/fin.pcap" -nn -tt 2>/dev/null |
        awk -v s="$1" -v d="$2" '$3 ~ "^"s"$" && $5 ~ "^"d":$" && $7 ~ /F/ { print $1; exit }'
}
data_after() {  # data_after T SRC DST: data segments from SRC to DST after time T
    tcpdump -r "$WORK/fin.pcap" -nn -tt 2>/dev/null |
        awk -v t="$1" -v s="$2" -v d="$3" '$1 > t && $3 ~ "^"s"$" && $5 ~ "^"d":$" && / length [1-9]/ { n++ } END { print n + 0 }'
}

# ustack-nc -l sends 1 MiB and its FIN; Linux's nc sends 50 MiB and keeps
# sending after that FIN, then its own.
BG_STDIN=$WORK/small bg_start unc2 "$BIN/ustack-nc" -l 6003
UNC=$BG_PID
t0=$(now_s)
nc_to_ustack 6003 "$WORK/a" "$WORK/nc2.out"
rc=$?
wait_exit 60 "$UNC"
urc=$?
echo "time: half-close, ustack FIN first, 50 MiB after it: $(since_s "$t0") s"
check_eq "half-close (ustack's FIN first): nc exit$(note "$WORK/nc.err")" "$rc" 0
check_eq "half-close (ustack's FIN first): ustack-nc exit$(note "$WORK/unc2.err")" "$urc" 0
check_eq "half-close: Linux got ustack's 1 MiB" "$(sha256_of "$WORK/nc2.out")" "$sha_small"
check_eq "half-close: ustack got Linux's 50 MiB after its own FIN" "$(sha256_of "$WORK/unc2.out")" "$sha_a"

# Linux's nc sends 1 MiB and its FIN; ustack-nc -l keeps sending 50 MiB.
BG_STDIN=$WORK/b bg_start unc3 "$BIN/ustack-nc" -l 6004
UNC=$BG_PID
t0=$(now_s)
nc_to_ustack 6004 "$WORK/small" "$WORK/nc3.out"
rc=$?
wait_exit 60 "$UNC"
urc=$?
echo "time: half-close, Linux FIN first, ustack-nc sends 50 MiB after it: $(since_s "$t0") s"
check_eq "half-close (Linux's FIN first): nc exit$(note "$WORK/nc.err")" "$rc" 0
check_eq "half-close (Linux's FIN first): ustack-nc exit$(note "$WORK/unc3.err")" "$urc" 0
check_eq "half-close: ustack got Linux's 1 MiB" "$(sha256_of "$WORK/unc3.out")" "$sha_small"
check_eq "half-close: Linux got ustack-nc's 50 MiB after its own FIN" "$(sha256_of "$WORK/nc3.out")" "$sha_b"

# Linux's nc sends 50 MiB to ustackd's echo (port 7) and its FIN; the stack
# keeps echoing in CLOSE-WAIT.
t0=$(now_s)
nsx timeout 120 nc -N 10.0.0.2 7 <"$WORK/b" >"$WORK/echo.out" 2>"$WORK/ncecho.err"
rc=$?
echo "time: half-close, Linux FIN first, 50 MiB echoed: $(since_s "$t0") s"
check_eq "half-close (Linux's FIN first): nc to echo exit$(note "$WORK/ncecho.err")" "$rc" 0
check_eq "half-close (Linux's FIN first): the 50 MiB echo is sha256-equal" "$(sha256_of "$WORK/echo.out")" "$sha_b"

tcpdump_stop
f_u=$(fin_time '10\.0\.0\.3\.6003' '10\.0\.0\.1\.[0-9]+')
f_l=$(fin_time '10\.0\.0\.1\.[0-9]+' '10\.0\.0\.3\.6003')
check "capture: ustack-nc's FIN (at ${f_u:-none}) before Linux's (at ${f_l:-none})" \
    awk -v a="$f_u" -v b="$f_l" 'BEGIN { exit !(a != "" && b != "" && a + 0 < b + 0) }'
check_ge "capture: Linux's data segments to ustack-nc after its FIN" \
    "$(data_after "${f_u:-9e99}" '10\.0\.0\.1\.[0-9]+' '10\.0\.0\.3\.6003')" 100
f_l=$(fin_time '10\.0\.0\.1\.[0-9]+' '10\.0\.0\.3\.6004')
f_u=$(fin_time '10\.0\.0\.3\.6004' '10\.0\.0\.1\.[0-9]+')
check "capture: Linux's FIN (at ${f_l:-none}) before ustack-nc's (at ${f_u:-none})" \
    awk -v a="$f_l" -v b="$f_u" 'BEGIN { exit !(a != "" && b != "" && a + 0 < b + 0) }'
check_ge "capture: ustack-nc's data segments after Linux's FIN" \
    "$(data_after "${f_l:-9e99}" '10\.0\.0\.3\.6004' '10\.0\.0\.1\.[0-9]+')" 100
f_l=$(fin_time '10\.0\.0\.1\.[0-9]+' '10\.0\.0\.2\.7')
f_u=$(fin_time '10\.0\.0\.2\.7' '10\.0\.0\.1\.[0-9]+')
check "capture: Linux's FIN to echo (at ${f_l:-none}) before the stack's (at ${f_u:-none})" \
    awk -v a="$f_l" -v b="$f_u" 'BEGIN { exit !(a != "" && b != "" && a + 0 < b + 0) }'
check_ge "capture: echo data segments from the stack after Linux's FIN" \
    "$(data_after "${f_l:-9e99}" '10\.0\.0\.2\.7' '10\.0\.0\.1\.[0-9]+')" 1

ustackd_stop
check_eq "ustackd: echo connections (tcp_passive_opens)" "$(counter tcp_passive_opens)" 1
check_no_leaks "ustackd at exit" "$USTACKD_OUT"
finish
