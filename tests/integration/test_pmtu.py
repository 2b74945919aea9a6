#!/usr/bin/python3
"""Path MTU discovery against Linux (RFC 1191, RFC 5927's checks).

curl on the Linux side (10.0.0.1) downloads /bytes/N from ustackd --services
all. Between them, nftables plays a router with a 1000-byte link: every
datagram from ustackd's port 80 longer than 1000 bytes is dropped (and
counted), so the full-size segments (1500 bytes: 1448 of data and the
timestamp option) stall in flight. The test then forges what that router
would send, an ICMP fragmentation needed (type 3 code 4) with Next-Hop MTU
1000 quoting one of those segments (IP header and the first 8 bytes of TCP,
as captured on tap0), from 10.0.0.1:

  - first quoting a sequence number far outside the window: counted in
    tcp_icmp_oow (read live from ustack-stat), the path MTU unchanged, and
    the next retransmission is still full-size;
  - then the real one: the lost segment goes again at once (well before the
    next RTO), every later segment from 10.0.0.2 is at most 1000 bytes, the
    transfer completes and its sha256 is right.

Every segment ustackd sends carries DF; its SYN-ACK announces MSS 1460 (link
MTU - 40). At exit: ip_pmtu_updates 1, tcp_pmtu_updates 1,
icmp_rx_frag_needed 2, tcp_icmp_oow 1, and nothing leaked.
"""
import hashlib
import os
import struct
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nslib  # noqa: E402

ME, LINUX = "10.0.0.2", "10.0.0.1"
MAC = "02:00:0a:00:00:02"
SIZE = 2 * 1048576
PATH_MTU = 1000
NFT_TABLE = "ustack_pmtu"


def chargen(n):
    """N bytes of the chargen pattern ustackd's /bytes/N serves (lib.sh)."""
    period = bytes(13 if c == 72 else 10 if c == 73 else 32 + (l + c) % 95
                   for l in range(95) for c in range(74))
    reps = n // len(period) + 1
    return (period * reps)[:n]


def frag_needed(ip_hdr, tcp8, mtu):
    """An ICMP fragmentation needed quoting ip_hdr and tcp8, as bytes."""
    body = ip_hdr + tcp8
    hdr = struct.pack("!BBHHH", 3, 4, 0, 0, mtu)
    c = nslib.csum(hdr + body)
    return struct.pack("!BBHHH", 3, 4, c, 0, mtu) + body


def stat_counters(ctl):
    """The live counters of ustackd (ustack-stat --raw)."""
    r = subprocess.run([os.path.join(nslib.BIN, "ustack-stat"), "--control", ctl, "--raw", "-c"],
                       capture_output=True, text=True, timeout=10)
    c = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) == 3 and f[0] == "counter":
            c[f[1]] = int(f[2])
    return c


def nft_dropped():
    r = subprocess.run(["nft", "list", "table", "inet", NFT_TABLE], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if "drop" in line and "counter packets" in line:
            return int(line.split("counter packets")[1].split()[0])
    return None


def seq_of(ip):
    ihl = (ip[0] & 15) * 4
    return struct.unpack("!I", ip[ihl + 4:ihl + 8])[0]


def data_len(ip, tcp):
    """Payload bytes from the headers (the capture keeps only 128 bytes)."""
    return ip.len - ip.ihl * 4 - tcp.dataofs * 4


def main(t):
    work = os.environ.get("TMPDIR", "/tmp")
    tag = "%d" % os.getpid()
    files = {k: os.path.join(work, "ustack-pmtu-%s.%s" % (tag, k)) for k in ("sock", "pcap", "out")}
    procs = []
    try:
        run(t, files, procs)
    finally:
        for p in procs:
            p.stop()
        for f in files.values():
            if os.path.exists(f):
                os.unlink(f)


def run(t, files, procs):
    from scapy.all import Ether, IP, TCP, AsyncSniffer, conf, get_if_hwaddr, rdpcap
    conf.verb = 0
    ctl = files["sock"]
    p = nslib.start_ustackd("--services", "all", "--control", ctl)
    if not t.check("ustackd started", p is not None):
        return
    procs.append(p)

    # The narrow link: datagrams from the web service longer than PATH_MTU
    # go no further, as a router would drop them with DF set.
    rules = ("table inet %s {\n chain in {\n  type filter hook input priority 0; policy accept;\n"
             "  ip saddr %s tcp sport 80 ip length > %d counter drop\n }\n}\n" % (NFT_TABLE, ME, PATH_MTU))
    r = subprocess.run(["nft", "-f", "-"], input=rules, capture_output=True, text=True)
    if not t.check("nftables drops datagrams over %d bytes from port 80" % PATH_MTU, r.returncode == 0,
                   r.stderr.strip()):
        return

    # Everything on tap0, for the checks at the end (headers only); and,
    # live, what ustackd sends too big, to pick a segment to quote.
    tcpdump = nslib.Proc(["tcpdump", "-i", "tap0", "-nn", "-s", "128", "-U", "--immediate-mode", "-w",
                          files["pcap"], "tcp and host %s" % ME])
    procs.append(tcpdump)

    def tcpdump_ready():
        tcpdump._pump(0.05)
        return b"listening on" in tcpdump.err
    ok = nslib.wait_for(10, tcpdump_ready)
    if not t.check("tcpdump capturing on tap0", ok, tcpdump.err.decode(errors="replace").strip()):
        return
    big = []  # (time, IP datagram as bytes) of ustackd's segments over PATH_MTU
    sniffing = threading.Event()
    sniffer = AsyncSniffer(iface="tap0", store=False,
                           lfilter=lambda f: IP in f and TCP in f and f[IP].src == ME and f[TCP].sport == 80,
                           prn=lambda f: big.append((time.time(), bytes(f[IP]))) if f[IP].len > PATH_MTU else None,
                           started_callback=sniffing.set)
    sniffer.start()
    t.check("the sniffer is capturing on tap0", sniffing.wait(10))

    curl = nslib.Proc(["curl", "-s", "-o", files["out"], "--max-time", "90", "http://%s/bytes/%d" % (ME, SIZE)])
    procs.append(curl)

    # The initial window goes out full-size and stalls on the narrow link.
    ok = nslib.wait_for(20, lambda: len(big) >= 3)
    if not t.check("ustackd sends full-size segments that the narrow link drops", ok, "%d seen" % len(big)):
        return
    t.eq("no path MTU learnt yet", stat_counters(ctl).get("ip_pmtu_updates"), 0)
    first_seq = seq_of(big[0][1])

    br0 = get_if_hwaddr("br0")
    l2 = conf.L2socket(iface="br0")

    def send_icmp(quoted_ip, seq):
        ihl = (quoted_ip[0] & 15) * 4
        tcp8 = quoted_ip[ihl:ihl + 4] + struct.pack("!I", seq)
        icmp = frag_needed(quoted_ip[:ihl], tcp8, PATH_MTU)
        l2.send(Ether(src=br0, dst=MAC) / IP(src=LINUX, dst=ME, proto=1) / icmp)

    # --- out of window (RFC 5927 4.1): nothing changes but a counter.
    n_before = len(big)
    send_icmp(big[0][1], (first_seq + 0x80000000) & 0xffffffff)
    ok = nslib.wait_for(10, lambda: stat_counters(ctl).get("tcp_icmp_oow", 0) >= 1)
    c = stat_counters(ctl)
    t.check("out-of-window ICMP counted (tcp_icmp_oow)", ok and c.get("tcp_icmp_oow") == 1, c.get("tcp_icmp_oow"))
    t.eq("... no path MTU learnt", c.get("ip_pmtu_updates"), 0)
    t.eq("... no connection's MSS lowered", c.get("tcp_pmtu_updates"), 0)
    ok = nslib.wait_for(20, lambda: len(big) > n_before)
    t.check("... the next retransmission is still full-size", ok,
            "%d more over %d bytes" % (len(big) - n_before, PATH_MTU))

    # --- the real one. Once the first segment has gone three times (two
    # RTOs, 0.2 s and 0.4 s), the next RTO is 0.8 s away: a resend well
    # before that is the reaction to the ICMP, not the timer.
    ok = nslib.wait_for(20, lambda: sum(1 for _, b in big if seq_of(b) == first_seq) >= 3)
    t.check("the first segment was retransmitted full-size twice", ok)
    quoted = [b for _, b in big if seq_of(b) == first_seq][-1]
    sent_at = time.time()
    send_icmp(quoted, first_seq)
    rc = curl.wait(90)
    t.eq("curl finished", rc, 0)
    sniffer.stop()
    data = open(files["out"], "rb").read() if os.path.exists(files["out"]) else b""
    t.eq("sha256 of the %d bytes" % SIZE, hashlib.sha256(data).hexdigest(), hashlib.sha256(chargen(SIZE)).hexdigest())
    t.ge("nftables dropped full-size segments", nft_dropped(), 5)

    time.sleep(0.2)  # tcpdump -U writes each packet; the last ones a moment to land
    tcpdump.stop()
    frames = rdpcap(files["pcap"])
    ours = [(float(f.time), f[IP], f[TCP]) for f in frames if IP in f and TCP in f and f[IP].src == ME]
    t.ge("segments from ustackd captured", len(ours), SIZE // PATH_MTU)
    t.check("every segment from ustackd carries DF", ours and all(ip.flags.DF for _, ip, _ in ours),
            "%d without" % sum(1 for _, ip, _ in ours if not ip.flags.DF))
    synack = [tcp for _, _, tcp in ours if tcp.flags.S]
    mss = [v for k, v in synack[0].options if k == "MSS"] if synack else []
    t.eq("the SYN-ACK announces MSS 1460 (link MTU - 40)", mss, [1460])
    # The first small segment with the quoted sequence number after the
    # ICMP is the resend; from there on nothing is bigger than the path.
    resend = next((i for i, (ts, ip, tcp) in enumerate(ours)
                   if ts >= sent_at - 0.05 and tcp.seq == first_seq and ip.len <= PATH_MTU
                   and data_len(ip, tcp) > 0), None)
    if t.check("the quoted segment was resent cut to the path MTU", resend is not None):
        delay = ours[resend][0] - sent_at
        t.le("... at once (seconds after the ICMP; the next RTO was 0.8 s away)", round(delay, 3), 0.4)
        after = ours[resend:]
        too_big = [ip.len for _, ip, _ in after if ip.len > PATH_MTU]
        t.check("every later segment from ustackd is at most %d bytes" % PATH_MTU, not too_big,
                "%d of %d bigger, e.g. %s" % (len(too_big), len(after), too_big[:3]))
        full = sum(1 for _, ip, tcp in after if data_len(ip, tcp) == PATH_MTU - 40 - 12)
        t.ge("... most with 948 bytes of data (1000 - 40 - 12 of timestamps)", full, SIZE // 948 * 9 // 10)

    rc, cnt = nslib.stop_ustackd(p)
    procs.remove(p)
    t.eq("ustackd exit status", rc, 0)
    for name, want in (("ip_pmtu_updates", 1), ("tcp_pmtu_updates", 1), ("icmp_rx_frag_needed", 2),
                       ("tcp_icmp_oow", 1), ("ip_pmtu_drop_not_lower", 0), ("tcp_icmp_no_conn", 0)):
        t.eq("counter %s" % name, cnt.get(name), want)
    t.ge("counter tcp_pmtu_marked_lost", cnt.get("tcp_pmtu_marked_lost"), 1)
    for k in ("usage_sockets", "usage_tcp_busy", "usage_pbufs", "usage_arp_queued"):
        t.eq("ustackd %s" % k, cnt.get(k), 0)
    t.eq("ustackd usage_pmtu_entries (its 10 minutes are not over)", cnt.get("usage_pmtu_entries"), 1)


if __name__ == "__main__":
    nslib.run(main)
