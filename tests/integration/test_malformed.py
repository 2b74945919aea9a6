#!/usr/bin/python3
"""Malformed and unwanted frames from Linux (scapy, sent on br0 of a namespace
of our own): each kind is dropped and counted under its own counter, 2000
reassemblies that never complete (and 300 large ones) keep memory bounded, and
the stack still answers afterwards.

Each kind of frame is sent a different number of times, so that a frame
counted under the wrong counter shows. Where only our frames can move a
counter the count must be exact; where Linux's own traffic on br0 could add to
it (multicast reports, ARP) it must be at least the number sent.

Not reachable from Linux: eth_drop_short (a TAP never passes a frame shorter
than an Ethernet header: the packet socket refuses it) and eth_drop_oversize
(a TAP read returns at most one MTU-sized frame).
"""
import os
import socket
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nslib  # noqa: E402

MAC = "02:00:0a:00:00:02"
# For an ASan build (USTACK_BIN): a small quarantine, or freed fragments would
# count in the RSS bounds below. Ignored by a normal build.
ENV = {"ASAN_OPTIONS": ":".join(x for x in (os.environ.get("ASAN_OPTIONS"),
                                            "quarantine_size_mb=1:thread_local_quarantine_size_kb=64") if x)}
ME, LINUX = "10.0.0.2", "10.0.0.1"


def main(t):
    from scapy.all import ARP, ICMP, IP, UDP, Ether, Raw, conf, get_if_hwaddr
    conf.verb = 0
    br0 = get_if_hwaddr("br0")
    l2 = conf.L2socket(iface="br0")

    def send_all(frames, what):
        """Sends frames in batches and waits until ustackd has read each batch
        from tap0 (the TAP counts a frame as transmitted when it is read)."""
        sent = 0
        for i in range(0, len(frames), 200):
            base = nslib.iface_stat("tap0", "tx_packets")
            batch = frames[i:i + 200]
            for f in batch:
                l2.send(f)
            sent += len(batch)
            if not nslib.wait_for(10, lambda: nslib.iface_stat("tap0", "tx_packets") >= base + len(batch)):
                t.check("%s: ustackd read every frame" % what, False)
                return False
        return True

    def eth(dst=MAC, type=0x0800):
        return Ether(src=br0, dst=dst, type=type)

    def ip(**kw):
        kw.setdefault("src", LINUX)
        kw.setdefault("dst", ME)
        return IP(**kw)

    # Each case: (name, frame builder(i) -> bytes, times, {counter: per frame}).
    def raw_ip(p, **fix):
        """An IP packet as bytes with header fields forced after scapy built it."""
        b = bytearray(bytes(p))
        for off, val in fix.items():
            b[int(off[1:])] = val
        return bytes(b)

    def bad_ip_sum(i):
        b = bytearray(bytes(ip(id=i) / ICMP(id=7, seq=i)))
        b[10] ^= 0x5a
        return bytes(eth()) + bytes(b)

    cases = [
        ("Ethernet header only (IPv4)", lambda i: bytes(eth()), 3, {"ip_drop_short": 1}),
        ("IPv4 header cut to 10 bytes", lambda i: bytes(eth()) + bytes(ip() / ICMP())[:10], 4, {"ip_drop_short": 1}),
        ("ARP cut to 20 bytes", lambda i: bytes(eth("ff:ff:ff:ff:ff:ff", 0x0806))
         + bytes(ARP(op=1, hwsrc=br0, psrc=LINUX, pdst=ME))[:20], 5, {"arp_drop_short": 1}),
        ("ARP for another hardware type", lambda i: bytes(eth("ff:ff:ff:ff:ff:ff", 0x0806)
         / ARP(hwtype=6, op=1, hwsrc=br0, psrc=LINUX, pdst=ME)), 6, {"arp_drop_bad_format": 1}),
        ("ARP opcode 9", lambda i: bytes(eth("ff:ff:ff:ff:ff:ff", 0x0806)
         / ARP(op=9, hwsrc=br0, psrc=LINUX, pdst=ME)), 7, {"arp_drop_bad_format": 1}),
        ("IP version 6 in an IPv4 frame", lambda i: bytes(eth() / ip(version=6) / ICMP()), 8,
         {"ip_drop_bad_version": 1}),
        ("IHL 4 (< 5)", lambda i: bytes(eth() / ip(ihl=4) / ICMP()), 9, {"ip_drop_bad_ihl": 1}),
        ("IHL 15 beyond the frame", lambda i: bytes(eth()) + raw_ip(ip() / Raw(b"x" * 8), b0=0x4f), 10,
         {"ip_drop_bad_ihl": 1}),
        ("total length beyond the frame", lambda i: bytes(eth() / ip(len=1000) / ICMP()), 11, {"ip_drop_bad_len": 1}),
        ("total length below the header", lambda i: bytes(eth() / ip(len=12) / ICMP()), 12, {"ip_drop_bad_len": 1}),
        ("bad IP checksum", bad_ip_sum, 13, {"ip_drop_bad_checksum": 1}),
        ("ICMP cut to 4 bytes", lambda i: bytes(eth() / ip(proto=1) / Raw(b"\x08\x00\xf7\xff")), 14,
         {"icmp_drop_short": 1, "icmp_rx": 1}),
        ("bad ICMP checksum", lambda i: bytes(eth() / ip() / ICMP(id=9, seq=i, chksum=0x1234) / Raw(b"ping")), 15,
         {"icmp_drop_bad_checksum": 1, "icmp_rx": 1}),
        ("UDP cut to 4 bytes", lambda i: bytes(eth() / ip(proto=17) / Raw(b"\x9c\x40\x00\x07")), 16,
         {"udp_drop_short": 1}),
        ("UDP length beyond the datagram", lambda i: bytes(eth() / ip() / UDP(sport=40000, dport=7, len=200)
                                                            / Raw(b"0123456789")), 17, {"udp_drop_bad_len": 1}),
        ("UDP length 4 (< 8)", lambda i: bytes(eth() / ip() / UDP(sport=40000, dport=7, len=4) / Raw(b"abcd")), 18,
         {"udp_drop_bad_len": 1}),
        # Fragments: offset + length beyond 65535 (both a middle and a last piece).
        ("fragment ending beyond 65535 (MF)", lambda i: bytes(eth() / ip(id=0x7000 + i, flags="MF", frag=8189, proto=17)
                                                              / Raw(b"z" * 104)), 19, {"ip_drop_frag_too_big": 1}),
        ("last fragment ending beyond 65535", lambda i: bytes(eth() / ip(id=0x7100 + i, frag=8190, proto=17)
                                                              / Raw(b"z" * 100)), 20, {"ip_drop_frag_too_big": 1}),
        ("middle fragment not a multiple of 8", lambda i: bytes(eth() / ip(id=0x7200 + i, flags="MF", frag=1, proto=17)
                                                                / Raw(b"q" * 10)), 21, {"ip_drop_frag_bad": 1}),
        ("unicast for another MAC", lambda i: bytes(eth("02:00:0a:00:00:99") / ip() / ICMP(seq=i)), 22,
         {"eth_drop_other_mac": 1}),
        ("ethertype 0x88b5", lambda i: bytes(eth(type=0x88b5) / Raw(b"local experimental " * 3)), 23,
         {"eth_drop_ethertype": 1}),
        ("ethertype IPv6", lambda i: bytes(eth(type=0x86dd) / Raw(b"\x60" + b"\0" * 47)), 24,
         {"eth_drop_ethertype": 1}),
        ("IPv4 multicast 224.0.0.1", lambda i: bytes(eth("01:00:5e:00:00:01") / ip(dst="224.0.0.1") / ICMP(seq=i)), 25,
         {"eth_drop_multicast": 1}),
        ("IP for another address", lambda i: bytes(eth() / ip(dst="10.0.0.50") / ICMP(seq=i)), 26,
         {"ip_drop_not_for_us": 1}),
        ("IP from 127.0.0.1", lambda i: bytes(eth() / ip(src="127.0.0.1") / ICMP(seq=i)), 27, {"ip_drop_bad_src": 1}),
        ("IP from a multicast source", lambda i: bytes(eth() / ip(src="224.1.2.3") / ICMP(seq=i)), 28,
         {"ip_drop_bad_src": 1}),
        ("unknown protocol 253", lambda i: bytes(eth() / ip(proto=253) / Raw(b"experimental")), 29,
         {"ip_drop_unknown_proto": 1}),
        ("echo request to the broadcast address", lambda i: bytes(eth("ff:ff:ff:ff:ff:ff") / ip(dst="10.0.0.255")
                                                                    / ICMP(seq=i)), 30,
         {"icmp_drop_broadcast_echo": 1, "icmp_rx": 1}),
    ]
    # Reassembly: overlapping pieces discard the datagram; an exact duplicate
    # is ignored. Each datagram has its own id.
    overlap, dup = 31, 32

    def overlap_pair(i):
        a = eth() / ip(id=0x6000 + i, flags="MF", frag=0, proto=17) / Raw(b"A" * 24)
        b = eth() / ip(id=0x6000 + i, flags="MF", frag=2, proto=17) / Raw(b"B" * 24)
        return [bytes(a), bytes(b)]

    def dup_pair(i):
        a = eth() / ip(id=0x6800 + i, flags="MF", frag=0, proto=17) / Raw(b"D" * 16)
        return [bytes(a), bytes(a)]

    p = nslib.start_ustackd(env=ENV)
    if not t.check("ustackd started", p is not None):
        return
    try:
        rss0 = nslib.rss_kib(p.pid)
        drops0 = nslib.iface_stat("tap0", "tx_dropped")
        frames = []
        for name, build, n, _ in cases:
            frames += [build(i) for i in range(n)]
        for i in range(overlap):
            frames += overlap_pair(i)
        for i in range(dup):
            frames += dup_pair(i)
        send_all(frames, "malformed frames")

        # 2000 reassemblies that never complete: a first piece each, no more.
        flood = [bytes(eth() / ip(id=(0x8000 + i) & 0xffff, flags="MF", frag=0, proto=17) / Raw(bytes(1480)))
                 for i in range(2000)]
        send_all(flood, "2000 first fragments")
        rss1 = nslib.rss_kib(p.pid)
        t.check("VmRSS after 2000 open reassemblies < 64 MiB", rss1 is not None and rss1 < 64 * 1024,
                "%s KiB, %s KiB at start" % (rss1, rss0))
        t.le("VmRSS growth after 2000 open reassemblies (KiB)", rss1 - rss0, 16 * 1024)

        # Still alive: Linux's ping and the UDP echo service.
        got, out = nslib.ping(ME, count=3)
        t.eq("ping answered after the malformed frames", got, 3)
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.settimeout(3)
        u.sendto(b"still there?", (ME, 7))
        try:
            echoed = u.recv(100)
        except socket.timeout:
            echoed = b""
        t.eq("UDP echo answered after the malformed frames", echoed, b"still there?")
        t.eq("tap0 dropped nothing on the way (tx_dropped)", nslib.iface_stat("tap0", "tx_dropped") - drops0, 0)
    finally:
        rc, c = nslib.stop_ustackd(p)
    t.eq("ustackd exit status", rc, 0)

    # Exact where only our frames count, at least where Linux may add its own.
    at_least = {"eth_drop_multicast", "eth_drop_other_mac"}
    want = {}
    for name, _, n, effects in cases:
        for k, v in effects.items():
            want[k] = want.get(k, 0) + n * v
    want["ip_reasm_overlap"] = overlap
    want["ip_reasm_dup"] = dup
    want["icmp_rx"] += 3  # the pings at the end
    for k in sorted(want):
        if k in at_least:
            t.ge(k, c.get(k), want[k])
        else:
            t.eq(k, c.get(k), want[k])
    t.eq("eth_drop_short (not reachable through a TAP)", c.get("eth_drop_short"), 0)
    # Fragments that reached reassembly: the overlap and dup pairs, the flood,
    # and the three kinds of bad fragment (counted before they are refused).
    frags = 2 * overlap + 2 * dup + 2000 + 19 + 20 + 21
    t.eq("ip_frags_rx", c.get("ip_frags_rx"), frags)
    t.eq("ip_reasm_ok (nothing completed)", c.get("ip_reasm_ok"), 0)
    # Open at the end: at most 64 (reasm_max_datagrams); the rest were evicted
    # (or, if the run took 30 s, timed out). The open ones: dup's, the overlap
    # pairs' (discarded: none) and the flood's.
    opened = dup + 2000
    t.eq("ip_reasm_evicted + ip_reasm_timeout = opened - 64", c.get("ip_reasm_evicted", 0) + c.get("ip_reasm_timeout", 0),
         opened - 64)
    # Protocol unreachable for each proto-253 datagram, as the rate limit allows.
    t.eq("icmp_tx_errors + icmp_err_rate_limited = protocol-253 datagrams",
         c.get("icmp_tx_errors", 0) + c.get("icmp_err_rate_limited", 0), 29)
    t.ge("icmp_tx_errors (burst allowed)", c.get("icmp_tx_errors"), 1)
    t.eq("no echo reply to anything malformed: replies = the 3 pings", c.get("icmp_tx_echo_replies"), 3)
    t.eq("udp_tx: only the final echo", c.get("udp_tx"), 1)
    t.eq("pbuf_alloc_failed", c.get("pbuf_alloc_failed"), 0)

    # Large reassemblies: 300 datagrams of 44 pieces of 1480 bytes (65120
    # bytes each, the last piece never sent): 19 MB offered against the
    # 4 MiB reassembly budget (cfg.reasm_max_bytes) and 64 datagrams at once.
    # Built by hand (13200 frames): Ethernet + IPv4 header + zero payload.
    def frag_frame(ident, k):
        h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 1480, ident, 0x2000 | (k * 185), 64, 17, 0,
                                  socket.inet_aton(LINUX), socket.inet_aton(ME)))
        h[10:12] = struct.pack("!H", nslib.csum(bytes(h)))
        return ether_hdr + bytes(h) + bytes(1480)

    ether_hdr = bytes(eth())
    p = nslib.start_ustackd(env=ENV)
    if not t.check("ustackd restarted", p is not None):
        return
    try:
        rss0 = nslib.rss_kib(p.pid)
        big = [frag_frame(0x9000 + d, k) for d in range(300) for k in range(44)]
        send_all(big, "300 large reassemblies")
        rss1 = nslib.rss_kib(p.pid)
        t.check("VmRSS after 19 MB of never-completed fragments < 64 MiB", rss1 is not None and rss1 < 64 * 1024,
                "%s KiB, %s KiB at start" % (rss1, rss0))
        t.le("VmRSS growth after 19 MB of held fragments (KiB; budget 4 MiB)", rss1 - rss0, 12 * 1024)
        got, out = nslib.ping(ME, count=3, extra=["-s", "3000"])
        t.eq("fragmented ping answered afterwards", got, 3)
    finally:
        rc, c = nslib.stop_ustackd(p)
    t.eq("ustackd exit status", rc, 0)
    t.eq("ip_frags_rx", c.get("ip_frags_rx"), 300 * 44 + 3 * 3)
    t.eq("ip_reasm_ok: only the 3 pings", c.get("ip_reasm_ok"), 3)
    t.ge("ip_reasm_evicted: all but 64 at most", c.get("ip_reasm_evicted"), 300 - 64)


nslib.run(main)
