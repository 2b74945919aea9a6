#!/usr/bin/python3
"""Frame floods that hping3 cannot make, for test_floods.sh: run inside the
test's namespace, they send prebuilt frames on br0 from a packet socket as
fast as it takes them, until SECS pass or SIGTERM, then print
"flood_frames: sent N frames in S s".

  flood_frames.py arp SECS [SEED]       ARP storm: requests for 10.0.0.2 and
        unsolicited replies to it from 4096 random senders (random unicast
        MACs, random addresses in 10.0.0.0/24 and outside it)
  flood_frames.py overlap SECS [SEED]   overlapping IPv4 fragments: for each
        of 4096 identifications from 10.0.0.1, a first fragment (bytes 0-15,
        MF) and a second one (bytes 8-23, MF) that overlaps it

The random choices come from SEED (default 1), so a run can be repeated.
Nothing is built with scapy: a prebuilt frame is one send() away, which keeps
the rate at a flood's, not at a script's.
"""
import random
import signal
import socket
import struct
import sys
import time

ME = socket.inet_aton("10.0.0.2")
LINUX = socket.inet_aton("10.0.0.1")
ME_MAC = bytes.fromhex("02000a000002")
BCAST = b"\xff" * 6


def random_mac(rng):
    m = bytearray(rng.randbytes(6))
    m[0] = (m[0] & 0xfc) | 0x02  # unicast, locally administered
    return bytes(m)


def random_sender_ip(rng):
    if rng.random() < 0.75:
        # In the subnet, never .0, .1 (Linux), .2 (us) or .255.
        return bytes([10, 0, 0, rng.randrange(3, 255)])
    return bytes([rng.randrange(1, 224), rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)])


def arp_frames(rng, n=4096):
    frames = []
    for _ in range(n):
        mac, ip = random_mac(rng), random_sender_ip(rng)
        if rng.random() < 0.8:  # who-has 10.0.0.2, broadcast
            dst, op, tmac = BCAST, 1, b"\0" * 6
        else:  # an unsolicited reply to us
            dst, op, tmac = ME_MAC, 2, ME_MAC
        arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, mac, ip, tmac, ME)
        frames.append(dst + mac + b"\x08\x06" + arp)
    return frames


def ip_checksum(h):
    s = sum(struct.unpack("!%dH" % (len(h) // 2), h))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def ipv4(src, ident, frag_units, mf, payload):
    ff = (0x2000 if mf else 0) | frag_units
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, ff, 64, 1, 0, src, ME)
    h = h[:10] + struct.pack("!H", ip_checksum(h)) + h[12:]
    return h + payload


def overlap_frames(rng, src_mac, n=4096):
    frames = []
    eth = ME_MAC + src_mac + b"\x08\x00"
    for ident in rng.sample(range(65536), n):
        # An echo request's first 16 bytes, then 16 bytes from offset 8.
        first = struct.pack("!BBHHH", 8, 0, 0, ident, 0) + rng.randbytes(8)
        frames.append(eth + ipv4(LINUX, ident, 0, True, first))
        frames.append(eth + ipv4(LINUX, ident, 1, True, rng.randbytes(16)))
    return frames


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("arp", "overlap"):
        sys.exit(__doc__)
    kind, secs = sys.argv[1], float(sys.argv[2])
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind(("br0", 0))
    br0_mac = s.getsockname()[4]
    frames = arp_frames(rng) if kind == "arp" else overlap_frames(rng, br0_mac)

    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    sent, t0 = 0, time.monotonic()
    end = t0 + secs
    while not stop and time.monotonic() < end:
        for f in frames:
            try:
                s.send(f)
                sent += 1
            except (BlockingIOError, OSError):
                pass  # the bridge's queue is full: a flood loses frames
        if stop:
            break
    print("flood_frames: sent %d frames in %.1f s" % (sent, time.monotonic() - t0), flush=True)


if __name__ == "__main__":
    main()
