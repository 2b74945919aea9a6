#!/usr/bin/env bash
# Installs the Debian packages ustack needs that are missing. As root it runs
# apt-get itself (updating the package lists first); otherwise it prints the
# exact command to run.
set -euo pipefail

pkgs=(
    gcc clang make pkg-config check        # build, unit tests
    libclang-rt-14-dev                     # libFuzzer and the sanitizers' runtime
    iproute2 iputils-ping iputils-arping   # namespace, TAP, ping, arping
    curl socat netcat-openbsd tcpdump      # integration tests
    apache2-utils                          # ab: many keep-alive HTTP requests (TCP tests)
    nftables                               # kernel-side loss without netem
    tshark                                 # captures read back (test_trace_tshark.sh, test_tcp_sack.sh)
    python3 python3-scapy                  # crafted and malformed packets
    hping3 nmap                            # floods and scans (test_floods.sh)
    python3-matplotlib                     # tools/ustack-plot (make study)
    wrk nginx-light                        # make bench: HTTP load against ustackd and nginx
)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "ustack needs these Debian packages; as root run:"
    echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}"
    exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
# Packages with a service (nginx) are not started by their installation:
# the benchmarks run them inside their own namespaces only.
made_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
fi
rc=0
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || rc=$?
[ $made_policy = 0 ] || rm -f /usr/sbin/policy-rc.d
[ $rc = 0 ] || exit $rc
echo "deps: done"
