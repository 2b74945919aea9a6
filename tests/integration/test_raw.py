#!/usr/bin/python3
"""Raw IP sockets against Linux, with ustack-raw on tap1 as 10.0.0.3:
a raw socket for protocol 253 receives, whole and intact, the datagrams Linux
sends it (built by scapy and sent on a Linux raw socket with IP_HDRINCL, with
IP options, and one that Linux fragments), and what it sends (the stack
building the header, fragmented, or the caller's own with IP_HDRINCL) reaches
a Linux raw socket for protocol 253 exactly as built.
"""
import os
import socket
import struct
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nslib  # noqa: E402

RAW = os.path.join(nslib.BIN, "ustack-raw")
NET = ["--tap", "tap1", "--addr", "10.0.0.3/24"]
STACK, LINUX = "10.0.0.3", "10.0.0.1"


def parse_line(line):
    """`from SRC proto P len L hex HEX` -> (src, proto, len, bytes) or None."""
    f = line.split()
    if len(f) != 8 or f[0] != "from" or f[2] != "proto" or f[4] != "len" or f[6] != "hex":
        return None
    return f[1], int(f[3]), int(f[5]), bytes.fromhex(f[7])


def main(t):
    from scapy.all import IP, IPOption_Router_Alert, Raw, conf
    from scapy.supersocket import L3RawSocket
    conf.verb = 0
    if not t.check("build/bin/ustack-raw exists", os.access(RAW, os.X_OK), RAW):
        return

    # ---------------------------------------------------- Linux -> stack
    rx = nslib.Proc([RAW] + NET + ["--proto", "253", "--recv", "3", "--timeout", "10"])
    if not t.check("ustack-raw --recv: ready", rx.wait_output(r"^ustack-raw: ready$", 10),
                   rx.err.decode(errors="replace").strip()):
        rx.stop()
        return
    crafted = IP(src=LINUX, dst=STACK, proto=253, id=0x4242, ttl=61, tos=0x28) / Raw(b"raw socket test \x00\xff" * 4)
    with_opts = IP(src=LINUX, dst=STACK, proto=253, id=0x4343, options=[IPOption_Router_Alert()]) / Raw(b"options!")
    want = [bytes(crafted), bytes(with_opts)]
    # A Linux raw socket with IP_HDRINCL (scapy's L3RawSocket): the kernel
    # resolves 10.0.0.3 and sends the bytes scapy built (all fields are set,
    # so it fills in nothing).
    s3 = L3RawSocket(iface="br0")
    s3.send(crafted)
    s3.send(with_opts)
    s3.close()
    # A datagram the kernel builds and fragments (3000 bytes > MTU).
    big = bytes(range(256)) * 11 + bytes(184)
    lr = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
    lr.sendto(big, (STACK, 0))
    rc = rx.wait(15)
    t.eq("ustack-raw --recv 3 exits 0", rc, 0)
    lines = [parse_line(x) for x in rx.text().splitlines() if x.startswith("from ")]
    t.eq("three datagrams printed", len(lines), 3)
    if len(lines) == 3 and all(lines):
        # The two crafted datagrams may overtake each other in the kernel while
        # it resolves 10.0.0.2 (the first one waits for ARP): match them by IP id.
        first = sorted(lines[:2], key=lambda x: x[3][4:6])
        for (src, proto, n, data), exp, what in zip(first, want, ["scapy-built", "with IP options"]):
            t.eq("%s: from 10.0.0.1, proto 253, len" % what, (src, proto, n), (LINUX, 253, len(exp)))
            t.same_bytes("%s: received byte for byte as built" % what, data, exp)
        src, proto, n, data = lines[2]
        t.eq("fragmented by Linux: from, proto, len", (src, proto, n), (LINUX, 253, 20 + len(big)))
        t.same_bytes("fragmented by Linux: reassembled payload intact", data[20:], big)
        t.eq("fragmented by Linux: header as reassembled (no MF/offset, length, checksum)",
             (struct.unpack("!H", data[6:8])[0] & 0x3fff, struct.unpack("!H", data[2:4])[0], nslib.csum(data[:20])),
             (0, 20 + len(big), 0))
    else:
        print("ustack-raw said:\n" + rx.text() + rx.err.decode(errors="replace"))

    # ---------------------------------------------------- stack -> Linux
    lr.settimeout(5)

    def linux_recv():
        try:
            while True:
                d, a = lr.recvfrom(65535)
                if d[12:16] == socket.inet_aton(STACK):
                    return d
        except socket.timeout:
            return b""

    def send(args, what):
        r = nslib.Proc([RAW] + NET + ["--proto", "253", "--send", LINUX] + args)
        rc = r.wait(15)
        t.eq("%s: ustack-raw --send exits 0" % what, rc, 0)
        if rc != 0:
            print(r.err.decode(errors="replace"))
        return linux_recv()

    payload = b"from the user-space stack \x01\x02\x03"
    d = send(["--payload", payload.hex()], "stack-built header")
    ok = len(d) >= 20
    t.same_bytes("stack-built header: Linux got payload intact", d[20:], payload)
    t.eq("stack-built header: version/IHL, proto, ttl, src, dst, length, checksum",
         (d[0], d[9], d[8], d[12:16], d[16:20], struct.unpack("!H", d[2:4])[0], nslib.csum(d[:20])) if ok else None,
         (0x45, 253, 64, socket.inet_aton(STACK), socket.inet_aton(LINUX), 20 + len(payload), 0))

    big2 = bytes((i * 7) & 0xff for i in range(3500))
    d = send(["--payload", big2.hex()], "3500 bytes, fragmented by the stack")
    t.same_bytes("3500 bytes: Linux reassembled it intact", d[20:], big2)

    own = IP(src=STACK, dst=LINUX, proto=253, id=0x1234, ttl=33, tos=0x10) / Raw(b"hdrincl, every byte mine")
    exp = bytes(own)
    d = send(["--hdrincl", "--payload", exp.hex()], "IP_HDRINCL")
    t.same_bytes("IP_HDRINCL: Linux received the datagram exactly as built", d, exp)

    # Zero id, source and checksum are filled in by the stack, as Linux does.
    bare = bytearray(bytes(IP(src="0.0.0.0", dst=LINUX, proto=253, id=0, ttl=20) / Raw(b"fill me in")))
    bare[10:12] = b"\0\0"
    d = send(["--hdrincl", "--payload", bytes(bare).hex()], "IP_HDRINCL with zero id/src/checksum")
    ok = len(d) >= 20
    t.eq("IP_HDRINCL filled in: src, checksum valid, payload and ttl kept",
         (d[12:16], nslib.csum(d[:20]), d[20:], d[8]) if ok else None,
         (socket.inet_aton(STACK), 0, b"fill me in", 20))
    t.check("IP_HDRINCL filled in: id chosen (non-zero)", ok and d[4:6] != b"\0\0", d[4:6].hex() if ok else "")


nslib.run(main)
