#!/usr/bin/python3
"""IPv4 options, ustack against Linux as the reference.

The test is a host of its own, 10.0.0.3x on tap1 (it opens the TAP and
answers ARP itself), next to ustackd (10.0.0.2 on tap0) and Linux (br0,
10.0.0.1) on the namespace's bridge. It sends the same crafted datagrams to
both and compares:

- echo requests with Record Route and Timestamp options: the reply's options
  byte for byte (the responder's address and the timestamps set aside), each
  against the layout we expect and against Linux's reply to the same request;
  ustack's timestamps have the high-order bit set (not UT), Linux's do not;
- malformed options: ICMP Parameter Problem, code 0, the same pointer as
  Linux's, quoting the datagram;
- source routes: neither answers (Linux's accept_source_route=0); with
  --accept-source-route 1 ustackd answers a finished route, not an unfinished
  one;
- options it ignores: the echo is answered without options;
- Linux's ping -R against ustackd: the route reads 10.0.0.1, 10.0.0.2,
  10.0.0.2, 10.0.0.1 (each host records itself arriving and leaving).

Absence of a reply is checked with a sentinel: a plain echo request sent
right after; once its reply is in, an answer to the datagram before it would
have come (both stacks handle a sender's datagrams in order).
"""
import fcntl
import os
import re
import select
import socket
import struct
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nslib  # noqa: E402

ME_MAC = "02:00:0a:00:00:03"
USTACK, LINUX = "10.0.0.2", "10.0.0.1"
USTACK_MAC = "02:00:0a:00:00:02"
TUNSETIFF, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0002, 0x1000
ANON = b"\xaa\xaa\xaa\xaa"  # the responder's address, once set aside


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def ip_packet(src, dst, opts, proto, payload, ident=1):
    """An IPv4 datagram with the options as given (a multiple of 4 bytes)."""
    assert len(opts) % 4 == 0 and len(opts) <= 40
    hl = 20 + len(opts)
    h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x40 | hl // 4, 0, hl + len(payload), ident, 0, 64, proto, 0,
                              socket.inet_aton(src), socket.inet_aton(dst)) + opts)
    h[10:12] = struct.pack("!H", nslib.csum(bytes(h)))
    return bytes(h) + payload


def A(x):
    return socket.inet_aton(x)


class TapHost:
    """This test as a host on tap1: frames in and out, ARP answered for every
    address it sends from (self.addrs)."""

    def __init__(self, name):
        self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(self.fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI))
        self.mac = mac(ME_MAC)
        self.addrs = set()
        self.inbox = []  # IPv4 datagrams received and not yet taken

    def close(self):
        os.close(self.fd)

    def send(self, dst_mac, ip):
        os.write(self.fd, mac(dst_mac) + self.mac + b"\x08\x00" + ip)

    def _pump(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        while r:
            try:
                f = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            if len(f) < 14:
                continue
            etype = struct.unpack("!H", f[12:14])[0]
            if etype == 0x0806 and len(f) >= 42:
                op, = struct.unpack("!H", f[20:22])
                spa, tpa = f[28:32], f[38:42]
                if op == 1 and socket.inet_ntoa(tpa) in self.addrs:
                    reply = (f[6:12] + self.mac + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2)
                             + self.mac + tpa + f[22:28] + spa)
                    os.write(self.fd, reply)
            elif etype == 0x0800:
                self.inbox.append(f[14:])

    def wait(self, pred, secs=3.0):
        """The first received datagram for which pred(ip) holds (taken off),
        or None after secs."""
        end = time.monotonic() + secs
        while True:
            for i, ip in enumerate(self.inbox):
                if pred(ip):
                    return self.inbox.pop(i)
            left = end - time.monotonic()
            if left <= 0:
                return None
            self._pump(min(left, 0.05))


def hl_of(ip):
    return (ip[0] & 0x0f) * 4


def icmp_of(ip):
    return ip[hl_of(ip):]


def echo_request(ident, seq, data=b"ip options"):
    b = bytearray(struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data)
    b[2:4] = struct.pack("!H", nslib.csum(bytes(b)))
    return bytes(b)


def is_reply(src, ident, seq):
    def pred(ip):
        if socket.inet_ntoa(ip[12:16]) != src or ip[9] != 1:
            return False
        i = icmp_of(ip)
        return len(i) >= 8 and i[0] == 0 and struct.unpack("!HH", i[4:8]) == (ident, seq)
    return pred


def is_error_about(src, ident, seq):
    """An ICMP error from src quoting our echo request (ident, seq)."""
    def pred(ip):
        if socket.inet_ntoa(ip[12:16]) != src or ip[9] != 1:
            return False
        i = icmp_of(ip)
        if len(i) < 8 + 20 + 8 or i[0] not in (3, 11, 12):
            return False
        q = i[8:]
        qi = q[hl_of(q):]
        return len(qi) >= 8 and qi[0] == 8 and struct.unpack("!HH", qi[4:8]) == (ident, seq)
    return pred


def normalise(opts, responder, ts_from):
    """The option bytes with the responder's address replaced by ANON and the
    timestamps written by the responder (time fields from pointer ts_from
    on, none if ts_from is 0) zeroed; returns (bytes, [timestamps])."""
    b = bytearray(opts)
    stamps = []
    i = 0
    while i < len(b):
        t = b[i]
        if t == 0:
            break
        if t == 1:
            i += 1
            continue
        if i + 1 >= len(b) or b[i + 1] < 2:
            break
        ln = b[i + 1]
        o = b[i:i + ln]
        if t == 68 and ln >= 4 and ts_from:
            flag, ptr = o[3] & 0x0f, o[2]
            step = 4 if flag == 0 else 8
            p = ts_from
            while p + step - 1 <= min(ptr - 1, ln):
                tpos = p - 1 + (step - 4)
                stamps.append(struct.unpack("!I", bytes(o[tpos:tpos + 4]))[0])
                o[tpos:tpos + 4] = b"\0\0\0\0"
                p += step
        for k in range(3, ln - 3):
            if bytes(o[k:k + 4]) == socket.inet_aton(responder):
                o[k:k + 4] = ANON
        b[i:i + ln] = o
        i += ln
    return bytes(b), stamps


def main(t):
    br0_mac = open("/sys/class/net/br0/address").read().strip()
    targets = [("ustack", USTACK, USTACK_MAC), ("Linux (reference)", LINUX, br0_mac)]
    p = nslib.start_ustackd()
    if not t.check("ustackd started", p is not None):
        return
    host = TapHost("tap1")
    subprocess.run(["ip", "link", "set", "tap1", "up"], check=False)
    t.check("tap1 forwards on the bridge",
            nslib.wait_for(10, lambda: open("/sys/class/net/tap1/brport/state").read().strip() == "3"))
    src_n = [99]
    seq = [0]

    def send(addr, dmac, opts, data=b"ip options"):
        """An echo request with opts from a new source address (Linux limits
        ICMP errors per destination: 6 at once, then 1 per second); returns
        (source, sequence number)."""
        src_n[0] += 1
        src = "10.0.0.%d" % (100 + src_n[0] % 150)
        host.addrs.add(src)
        seq[0] += 1
        host.send(dmac, ip_packet(src, addr, opts, 1, echo_request(0x4f50, seq[0], data)))
        return src, seq[0]

    def exchange(addr, dmac, opts, pred_kind="reply", data=b"ip options"):
        src, s = send(addr, dmac, opts, data)
        pred = is_reply(addr, 0x4f50, s) if pred_kind == "reply" else is_error_about(addr, 0x4f50, s)
        return src, s, host.wait(pred)

    def sentinel_ok(addr, dmac):
        return exchange(addr, dmac, b"")[2] is not None

    def unanswered(addr, dmac, opts, data=b"routed"):
        """Sent, then a sentinel answered, and nothing came about the first."""
        _, s = send(addr, dmac, opts, data)
        if not sentinel_ok(addr, dmac):
            return False
        return host.wait(is_reply(addr, 0x4f50, s), secs=0) is None and \
            host.wait(is_error_about(addr, 0x4f50, s), secs=0) is None

    try:
        # Reachable at all, both.
        for name, addr, dmac in targets:
            t.check("%s answers a plain echo request" % name, sentinel_ok(addr, dmac))

        # (name, request options, the request's timestamp pointer, expected
        # reply options with the responder as ANON and its timestamps zeroed,
        # timestamps expected).
        rr9 = bytes([7, 39, 4]) + bytes(37)
        rr_sender = bytes([7, 11, 8]) + A("10.0.0.3") + bytes(5)
        cases = [
            ("record route, room for 9", rr9, 0, bytes([7, 39, 12]) + ANON * 2 + bytes(29), 0),
            ("record route, the sender's slot used", rr_sender, 0,
             bytes([7, 11, 12]) + A("10.0.0.3") + ANON + bytes(1), 0),
            ("record route, room for 1", bytes([7, 7, 4]) + bytes(5), 0, bytes([7, 7, 8]) + ANON + bytes(1), 0),
            ("record route, full", bytes([7, 7, 8, 10, 0, 0, 3, 0]), 0, bytes([7, 7, 8, 10, 0, 0, 3, 0]), 0),
            ("timestamps only, room for 9", bytes([68, 40, 5, 0]) + bytes(36), 5, bytes([68, 40, 13, 0]) + bytes(36), 2),
            ("timestamps only, room for 1", bytes([68, 8, 5, 0]) + bytes(4), 5, bytes([68, 8, 9, 0]) + bytes(4), 1),
            ("timestamps only, full: overflow 2 -> 3", bytes([68, 8, 9, 0x20, 0, 0, 0, 1]), 0,
             bytes([68, 8, 9, 0x30, 0, 0, 0, 1]), 0),
            ("address and timestamp, room for 2", bytes([68, 20, 5, 1]) + bytes(16), 5,
             bytes([68, 20, 21, 1]) + ANON + bytes(4) + ANON + bytes(4), 2),
            ("prespecified, someone else's first", bytes([68, 20, 5, 3]) + A("10.0.0.9") + bytes(4) + A("10.0.0.9")
             + bytes(4), 0, bytes([68, 20, 5, 3]) + A("10.0.0.9") + bytes(4) + A("10.0.0.9") + bytes(4), 0),
            ("timestamp then record route: reply has record route first", bytes([68, 8, 5, 0]) + bytes(4)
             + bytes([1, 7, 11, 4]) + bytes(8), 5,
             bytes([7, 11, 12]) + ANON * 2 + bytes([68, 8, 9, 0]) + bytes(4) + bytes(1), 1),
        ]
        for cname, req, ts_from, want, nstamps in cases:
            for name, addr, dmac in targets:
                src, s, got = exchange(addr, dmac, req)
                if not t.check("%s: %s: echo reply" % (name, cname), got is not None):
                    continue
                norm, stamps = normalise(got[20:hl_of(got)], addr, ts_from)
                t.same_bytes("%s: %s: reply options" % (name, cname), norm, want)
                t.eq("%s: %s: timestamps written" % (name, cname), len(stamps), nstamps)
                if stamps:
                    high = all(x & 0x80000000 for x in stamps)
                    if addr == USTACK:
                        t.check("%s: %s: timestamps marked not UT (high-order bit)" % (name, cname), high,
                                " ".join("%08x" % x for x in stamps))
                    else:
                        t.check("%s: %s: timestamps in UT (high-order bit clear)" % (name, cname),
                                not any(x & 0x80000000 for x in stamps) and all(x < 86400000 for x in stamps),
                                " ".join("%08x" % x for x in stamps))
                    t.le("%s: %s: arrival and departure stamps within 50 ms" % (name, cname),
                         (max(stamps) - min(stamps)) & 0x7fffffff, 50)
                i = icmp_of(got)
                t.check("%s: %s: the echo data comes back" % (name, cname),
                        i[8:] == b"ip options" and nslib.csum(i) == 0)

        # Prespecified with the responder's own address twice: each fills
        # its own, arriving and leaving.
        for name, addr, dmac in targets:
            req = bytes([68, 20, 5, 3]) + A(addr) + bytes(4) + A(addr) + bytes(4)
            _, _, got = exchange(addr, dmac, req)
            if t.check("%s: prespecified, own address twice: echo reply" % name, got is not None):
                norm, stamps = normalise(got[20:hl_of(got)], addr, 5)
                t.same_bytes("%s: prespecified, own address twice: reply options" % name, norm,
                             bytes([68, 20, 21, 3]) + ANON + bytes(4) + ANON + bytes(4))
                t.eq("%s: prespecified: timestamps written" % name, len(stamps), 2)

        # Options that are ignored: unknown type, security, stream identifier,
        # router alert, NOP, EOL and junk after it. Answered, with no options.
        ignored = (bytes([0x99, 4, 0xde, 0xad, 130, 11, 0xf1, 0x35]) + bytes(7) + bytes([136, 4, 0x12, 0x34])
                   + bytes([148, 4, 0, 0, 1, 0, 0xff, 0x07, 0x01]))
        for name, addr, dmac in targets:
            _, _, got = exchange(addr, dmac, ignored)
            if t.check("%s: ignored options: echo reply" % name, got is not None):
                t.eq("%s: ignored options: reply header length" % name, hl_of(got), 20)

        # Malformed: Parameter Problem code 0 with the pointer at the octet.
        # (name, options, pointer[, {offset: value} where Linux's quote shows
        # its own changes on arrival: it quotes the datagram after updating
        # the options before the faulty one; ustack quotes it as received.)
        malformed = [
            ("length 0", bytes([7, 0, 4, 0]), 20),
            ("length 1", bytes([7, 1, 0, 0]), 20),
            ("option past the header", bytes([7, 40, 4, 0, 0, 0, 0, 0]), 20),
            ("type in the last octet", bytes([1, 1, 1, 7]), 23),
            ("record route of length 2", bytes([7, 2, 0, 0]), 21),
            ("record route pointer 3", bytes([7, 7, 3, 0, 0, 0, 0, 0]), 22),
            ("record route pointer inside a slot", bytes([7, 7, 5, 0, 0, 0, 0, 0]), 22),
            ("two record routes", bytes([7, 3, 4, 7, 3, 4, 0, 0]), 23),
            ("timestamp of length 3", bytes([68, 3, 5, 0]), 21),
            ("timestamp pointer 4", bytes([68, 8, 4, 0, 0, 0, 0, 0]), 22),
            ("timestamp with address, room for half", bytes([68, 8, 5, 1, 0, 0, 0, 0]), 22),
            ("full timestamp, overflow 15", bytes([68, 8, 9, 0xf0, 0, 0, 0, 0]), 23),
            ("two timestamps", bytes([68, 4, 5, 0, 68, 4, 5, 0]), 24, {23: 0x10}),
            ("loose source route pointer 3", bytes([131, 3, 3, 0]), 22),
            ("two source routes", bytes([131, 3, 4, 137, 3, 4, 0, 0]), 23),
            ("router alert of length 3", bytes([148, 3, 0, 0]), 21),
        ]
        for cname, req, pointer, *linux_changed in malformed:
            for name, addr, dmac in targets:
                src, s, got = exchange(addr, dmac, req, pred_kind="error")
                if not t.check("%s: %s: an ICMP error" % (name, cname), got is not None):
                    continue
                i = icmp_of(got)
                t.eq("%s: %s: parameter problem, code 0, pointer" % (name, cname), (i[0], i[1], i[4]),
                     (12, 0, pointer))
                sent = bytearray(ip_packet(src, addr, req, 1, echo_request(0x4f50, s)))
                if addr == LINUX and linux_changed:
                    for off, val in linux_changed[0].items():
                        sent[off] = val
                t.same_bytes("%s: %s: quotes the header and 8 bytes" % (name, cname), i[8:8 + 20 + len(req) + 8],
                             sent[:20 + len(req) + 8])

        # Source routes (one hop, 10.0.0.9): unfinished (pointer 4) and
        # finished (pointer 8), loose and strict: no answer from either.
        routes = [("loose, unfinished", 131, 4), ("strict, unfinished", 137, 4), ("loose, finished", 131, 8),
                  ("strict, finished", 137, 8)]
        for cname, typ, ptr in routes:
            req = bytes([typ, 7, ptr]) + A("10.0.0.9") + bytes(1)
            for name, addr, dmac in targets:
                t.check("%s: source route %s: dropped, no answer" % (name, cname), unanswered(addr, dmac, req))

        # Linux's own ping -R to ustackd: 10.0.0.1 records itself leaving,
        # ustack arriving and leaving, 10.0.0.1 arriving.
        r = subprocess.run(["ping", "-c", "1", "-W", "2", "-R", USTACK], capture_output=True, text=True, timeout=10)
        m = re.search(r"RR:\s+((?:\d+\.\d+\.\d+\.\d+\s*)+)", r.stdout)
        route = m.group(1).split() if m else []
        t.eq("ping -R %s: the recorded route" % USTACK, route, [LINUX, USTACK, USTACK, LINUX])
    finally:
        rc, c = nslib.stop_ustackd(p)
    t.eq("ustackd exit status", rc, 0)
    t.eq("ip_drop_bad_options", c.get("ip_drop_bad_options"), len(malformed))
    t.eq("ip_drop_srcroute (unfinished)", c.get("ip_drop_srcroute"), 2)
    t.eq("ip_drop_srcroute_refused (finished, not accepted)", c.get("ip_drop_srcroute_refused"), 2)
    t.eq("icmp_tx_errors: the parameter problems", c.get("icmp_tx_errors"), len(malformed))
    t.eq("icmp_err_rate_limited", c.get("icmp_err_rate_limited"), 0)
    t.eq("usage_pbuf_bytes at exit", c.get("usage_pbuf_bytes"), 0)

    # With --accept-source-route 1 a finished route ends here: answered,
    # without options (the route is not reversed); an unfinished one is not.
    p = nslib.start_ustackd("--accept-source-route", "1")
    if not t.check("ustackd restarted with --accept-source-route 1", p is not None):
        host.close()
        return
    try:
        req = bytes([131, 7, 8]) + A("10.0.0.9") + bytes(1)
        _, _, got = exchange(USTACK, USTACK_MAC, req, data=b"routed")
        if t.check("finished loose source route accepted: echo reply", got is not None):
            t.eq("finished source route: reply without options", hl_of(got), 20)
        req = bytes([131, 7, 4]) + A("10.0.0.9") + bytes(1)
        t.check("unfinished source route still dropped", unanswered(USTACK, USTACK_MAC, req))
    finally:
        rc, c = nslib.stop_ustackd(p)
        host.close()
    t.eq("ustackd exit status", rc, 0)
    t.eq("ip_drop_srcroute", c.get("ip_drop_srcroute"), 1)
    t.eq("ip_drop_srcroute_refused", c.get("ip_drop_srcroute_refused"), 0)


nslib.run(main)
