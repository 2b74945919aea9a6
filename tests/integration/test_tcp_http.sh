#!/usr/bin/env bash
# TCP: Linux's HTTP clients against ustackd's HTTP server. curl fetches the
# index (same bytes as the file) and /bytes/104857600 (100 MiB; its sha256 is
# computed here from the chargen pattern); `curl -T` uploads 100 MiB
# (Content-Length) and 10 MiB (chunked) to /upload, which answers with the right count and sha256; 50 curl
# processes in parallel make 200 requests, all 200 with the right bodies;
# `ab -k -n 5000 -c 50` completes 5000 keep-alive requests with none failed,
# and `ab -n 1000 -c 50` 1000 requests on as many connections (the stack
# closes each first and keeps it in TIME-WAIT);
# a closed port answers curl's SYN with an RST at once (exit 7), and
# ustack-get to a closed Linux port exits 7 saying "refused". At the end
# ustackd holds no socket, connection or buffer.
. "$(dirname "$0")/lib.sh"

ns_up
mkdir -p "$WORK/www/sub"
{
    echo "<!doctype html><title>ustack</title><h1>hello from ustack</h1>"
    for i in $(seq 300); do echo "<p>line $i of the index</p>"; done
} >"$WORK/www/index.html"
head -c 1048576 /dev/urandom >"$WORK/www/sub/random.bin"
ustackd_start --services all --http-root "$WORK/www" || { FAIL=$((FAIL + 1)); finish; exit 1; }

# --- 1. the index, a binary file, 100 MiB of /bytes, 100 MiB uploaded
nsx curl -sS -f -m 30 -o "$WORK/index.got" http://10.0.0.2/ 2>"$WORK/curl.err"
rc=$?
check_eq "curl http://10.0.0.2/: exit$(note "$WORK/curl.err")" "$rc" 0
check "GET / returns index.html byte for byte ($(stat -c %s "$WORK/www/index.html") bytes)" \
    cmp -s "$WORK/index.got" "$WORK/www/index.html"
nsx curl -sS -f -m 30 -o "$WORK/random.got" http://10.0.0.2/sub/random.bin
check "GET /sub/random.bin (1 MiB of random bytes) byte for byte" cmp -s "$WORK/random.got" "$WORK/www/sub/random.bin"
check_eq "GET /nonexistent: 404" "$(nsx curl -sS -m 10 -o /dev/null -w '%{http_code}' http://10.0.0.2/nonexistent)" 404

N=104857600
want=$(chargen_sha256 $N)
t0=$(now_s)
got=$(nsx curl -sS -f -m 120 -o "$WORK/big" -w '%{http_code} %{size_download}' http://10.0.0.2/bytes/$N 2>"$WORK/curl.err")
rc=$?
echo "time: GET /bytes/$N: $(since_s "$t0") s"
check_eq "GET /bytes/$N: curl exit$(note "$WORK/curl.err")" "$rc" 0
check_eq "GET /bytes/$N: status and size" "$got" "200 $N"
check_eq "GET /bytes/$N: sha256 of the chargen pattern" "$(sha256_of "$WORK/big")" "$want"
rm -f "$WORK/big"

head -c $N /dev/urandom >"$WORK/up"
up_sha=$(sha256_of "$WORK/up")
t0=$(now_s)
nsx curl -sS -f -m 120 -T "$WORK/up" http://10.0.0.2/upload >"$WORK/upload.txt" 2>"$WORK/curl.err"
rc=$?
echo "time: PUT /upload of $N bytes: $(since_s "$t0") s"
check_eq "curl -T 100 MiB to /upload: exit$(note "$WORK/curl.err")" "$rc" 0
check_eq "/upload counted" "$(counter bytes "$WORK/upload.txt")" $N
check_eq "/upload sha256" "$(awk '$1 == "sha256" { print $2 }' "$WORK/upload.txt")" "$up_sha"
head -c 10485760 "$WORK/up" >"$WORK/up10"
nsx curl -sS -f -m 60 -T - http://10.0.0.2/upload <"$WORK/up10" >"$WORK/upload10.txt" 2>"$WORK/curl.err"
rc=$?
check_eq "curl -T - (chunked) 10 MiB to /upload: exit$(note "$WORK/curl.err")" "$rc" 0
check_eq "chunked /upload counted" "$(counter bytes "$WORK/upload10.txt")" 10485760
check_eq "chunked /upload sha256" "$(awk '$1 == "sha256" { print $2 }' "$WORK/upload10.txt")" "$(sha256_of "$WORK/up10")"
rm -f "$WORK/up" "$WORK/up10"

# --- 2. 50 curl processes at once, 4 requests each (one connection per
# process, kept alive): /, the binary file and two /bytes/N of sizes that
# differ per request. Every status and body is checked.
chargen_file 300000 "$WORK/cg"
mkdir -p "$WORK/par"
t0=$(now_s)
nsx bash -c '
    cd "$1"
    for p in $(seq 0 49); do
        a=$((p * 997 % 300000)) b=$((p * 4099 % 300000 + 1))
        curl -sS -m 60 -w "%{http_code} %{size_download}\n" \
            -o $p.0 http://10.0.0.2/ -o $p.1 http://10.0.0.2/sub/random.bin \
            -o $p.2 http://10.0.0.2/bytes/$a -o $p.3 http://10.0.0.2/bytes/$b >$p.status 2>$p.err &
    done
    wait' _ "$WORK/par"
echo "time: 200 requests from 50 parallel curl processes: $(since_s "$t0") s"
ok=0 bad=
for p in $(seq 0 49); do
    a=$((p * 997 % 300000)) b=$((p * 4099 % 300000 + 1))
    f=$WORK/par/$p
    good=1
    [ "$(tr '\n' ' ' <"$f.status" 2>/dev/null)" = "200 $(stat -c %s "$WORK/www/index.html") 200 1048576 200 $a 200 $b " ] || good=
    cmp -s "$f.0" "$WORK/www/index.html" || good=
    cmp -s "$f.1" "$WORK/www/sub/random.bin" || good=
    cmp -s "$f.2" <(head -c $a "$WORK/cg") || good=
    cmp -s "$f.3" <(head -c $b "$WORK/cg") || good=
    if [ -n "$good" ]; then ok=$((ok + 4)); else bad="$bad $p"; fi
done
first=${bad# } first=${first%% *}
check_eq "200 parallel requests: all 200 with the right body${bad:+ (bad processes:$bad; the first said: $(cat "$WORK/par/$first.status" "$WORK/par/$first.err" 2>/dev/null | head -3 | tr '\n' ' '))}" $ok 200

# ab -k: HTTP/1.0 with Connection: keep-alive, 50 at a time.
t0=$(now_s)
nsx timeout 120 ab -k -n 5000 -c 50 -s 30 http://10.0.0.2/ >"$WORK/ab.out" 2>&1
rc=$?
echo "time: ab -k -n 5000 -c 50: $(since_s "$t0") s"
ab_field() { sed -nE "s/^$1: +([0-9]+).*/\1/p" "$WORK/ab.out"; }
check_eq "ab -k -n 5000 -c 50: exit" "$rc" 0
check_eq "ab: Complete requests" "$(ab_field 'Complete requests')" 5000
check_eq "ab: Failed requests" "$(ab_field 'Failed requests')" 0
check_eq "ab: Keep-Alive requests (all on 50 kept-alive connections)" "$(ab_field 'Keep-Alive requests')" 5000
check "ab: no non-2xx responses" bash -c "! grep -q '^Non-2xx responses' '$WORK/ab.out'"
check_eq "ab: document length is the index's" "$(ab_field 'Document Length')" "$(stat -c %s "$WORK/www/index.html")"
[ $FAIL -eq 0 ] || sed 's/^/  | /' "$WORK/ab.out" | head -40
t0=$(now_s)
nsx timeout 120 ab -n 1000 -c 50 -s 30 http://10.0.0.2/ >"$WORK/ab.out" 2>&1
rc=$?
echo "time: ab -n 1000 -c 50 (a connection per request): $(since_s "$t0") s"
check_eq "ab -n 1000 -c 50: exit" "$rc" 0
check_eq "ab (no keep-alive): Complete requests" "$(ab_field 'Complete requests')" 1000
check_eq "ab (no keep-alive): Failed requests" "$(ab_field 'Failed requests')" 0

# --- 5. closed ports: an RST at once
t0=$(now_s)
nsx curl -sS -m 10 http://10.0.0.2:81/ >/dev/null 2>"$WORK/curl81.err"
rc=$?
t=$(since_s "$t0")
check_eq "curl to closed port 81: exit 7 (connection refused)$(note "$WORK/curl81.err")" "$rc" 7
check_range "curl to closed port 81: answered at once (seconds)" "$t" 0 1
t0=$(now_s)
nsx timeout 30 "$BIN/ustack-get" --timeout 10 http://10.0.0.1:8999/ >/dev/null 2>"$WORK/get.err"
rc=$?
t=$(since_s "$t0")
check_eq "ustack-get to a closed Linux port: exit 7$(note "$WORK/get.err")" "$rc" 7
check "ustack-get to a closed Linux port: says refused" grep -qi 'refused' "$WORK/get.err"
check_range "ustack-get to a closed Linux port: at once (seconds)" "$t" 0 3

ustackd_stop
check_eq "ustackd: RST for the closed port (tcp_rx_closed_port)" "$(counter tcp_rx_closed_port)" 1
check_ge "ustackd: connections accepted (tcp_passive_opens)" "$(counter tcp_passive_opens)" 1105
check_eq "ustackd: no connection reset (tcp_conn_reset)" "$(counter tcp_conn_reset)" 0
check_no_leaks "ustackd at exit (connections it closed first may be in TIME-WAIT)" "$USTACKD_OUT" 1000
finish
