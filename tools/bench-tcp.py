#!/usr/bin/python3
"""The Linux end of the benchmarks' bulk transfers (tools/bench-loss.sh, tools/bench.sh).

  bench-tcp.py connect HOST PORT (--send N | --recv N) [--retry-s S] [--no-hash] [--cc NAME]
  bench-tcp.py listen ADDR PORT (--send N | --recv N) [--no-hash] [--cc NAME]

Moves N bytes of the chargen pattern (the one ustack-bulk and ustackd send)
over one TCP connection: --send writes them, half-closes and waits for the
peer's close (so everything sent has been received); --recv reads until the
peer closes and checks that exactly N bytes of the pattern arrived. The clock
runs from the established connection to the end, so the handshake (and an
ARP miss) is not counted. Prints, like ustack-bulk:

  bytes B seconds S mbps M sha256 H

`listen` serves one connection and prints 'listening' once it can be reached.
`connect --retry-s S` retries a refused or unanswered connect for S seconds.
`--max-s T` caps the transfer at T seconds: a transfer still under way then is
cut short (the connection reset) and its goodput is what arrived in T seconds:
the bytes the peer acknowledged (--send; sent less the unacknowledged SIOCOUTQ)
or the bytes received (--recv; checked to be the pattern's first bytes); the
line then ends in "capped".
`--cc NAME` sets the socket's congestion control (TCP_CONGESTION; as root
any algorithm the kernel has, even one the namespace does not allow).
Exit status 1 if the transfer failed or the bytes were wrong.
"""
import argparse
import fcntl
import hashlib
import socket
import struct
import sys
import termios
import time

LINE = 74
PERIOD = LINE * 95  # the pattern repeats every 95 lines


def chargen_period():
    out = bytearray()
    for i in range(PERIOD):
        line, col = divmod(i, LINE)
        out.append(13 if col == 72 else 10 if col == 73 else 32 + (line + col) % 95)
    return bytes(out)


PATTERN = chargen_period()
BIG = PATTERN * 150  # about 1 MiB; a chunk at offset o starts at BIG[o % PERIOD]
CHUNK = len(BIG) - PERIOD


def pattern_sha(n):
    h = hashlib.sha256()
    off = 0
    mv = memoryview(BIG)
    while off < n:
        k = min(CHUNK, n - off)
        h.update(mv[off % PERIOD:off % PERIOD + k])
        off += k
    return h.hexdigest()


class Capped(Exception):
    pass


def remaining(deadline):
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise Capped()
    return left


def unacked(sock):
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0" * 4))[0]


def send(sock, n, hashing, deadline):
    """Returns (bytes delivered, sha256 or '-', capped)."""
    h = hashlib.sha256() if hashing else None
    mv = memoryview(BIG)
    off = total = 0  # whole chunks; bytes handed to the kernel
    try:
        while off < n:
            k = min(CHUNK, n - off)
            chunk = mv[off % PERIOD:off % PERIOD + k]
            sent = 0
            while sent < k:
                sock.settimeout(remaining(deadline))
                try:
                    w = sock.send(chunk[sent:])
                    sent += w
                    total += w
                except socket.timeout:
                    raise Capped()
            if h:
                h.update(chunk)
            off += k
        sock.shutdown(socket.SHUT_WR)
        while True:  # until the peer's FIN
            sock.settimeout(remaining(deadline))
            try:
                if not sock.recv(65536):
                    break
            except socket.timeout:
                raise Capped()
    except Capped:
        return total - unacked(sock), "-", True
    return off, h.hexdigest() if h else "-", False


def recv(sock, n, hashing, deadline):
    h = hashlib.sha256() if hashing else None
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    got = 0
    capped = False
    while True:
        try:
            sock.settimeout(remaining(deadline))
            k = sock.recv_into(buf)
        except (Capped, socket.timeout):
            capped = True
            break
        if k == 0:
            break
        if h:
            h.update(mv[:k])
        got += k
    return got, h.hexdigest() if h else "-", capped


def run(sock, a):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.monotonic()
    deadline = t0 + a.max_s if a.max_s else None
    if a.send is not None:
        moved, sha, capped = send(sock, a.send, not a.no_hash, deadline)
    else:
        moved, sha, capped = recv(sock, a.recv, not a.no_hash, deadline)
    secs = min(time.monotonic(), deadline) - t0 if capped else time.monotonic() - t0
    if capped:  # reset, not a FIN: the transfer did not finish
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    print("bytes %d seconds %.3f mbps %.1f sha256 %s%s" % (moved, secs, moved * 8 / 1e6 / secs if secs > 0 else 0, sha,
                                                         " capped" if capped else ""), flush=True)
    if capped:
        if a.recv is not None and not a.no_hash and sha != pattern_sha(moved):
            print("bench-tcp: the bytes received are not the chargen pattern", file=sys.stderr)
            return 1
        return 0
    if a.recv is not None:
        if moved != a.recv:
            print("bench-tcp: received %d bytes, wanted %d" % (moved, a.recv), file=sys.stderr)
            return 1
        if not a.no_hash and sha != pattern_sha(a.recv):
            print("bench-tcp: the bytes received are not the chargen pattern", file=sys.stderr)
            return 1
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=["connect", "listen"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--send", type=int)
    g.add_argument("--recv", type=int)
    p.add_argument("--retry-s", type=float, default=0)
    p.add_argument("--no-hash", action="store_true", help="count bytes only (for the fastest paths)")
    p.add_argument("--cc", help="congestion control of the socket")
    p.add_argument("--max-s", type=float, default=0, help="cap the transfer at this many seconds")
    a = p.parse_args()

    def new_socket():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if a.cc:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, a.cc.encode())
        return s

    if a.mode == "listen":
        ls = new_socket()  # accepted sockets inherit the algorithm
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((a.host, a.port))
        ls.listen(1)
        print("listening", flush=True)
        s, _ = ls.accept()
        ls.close()
        return run(s, a)
    deadline = time.monotonic() + a.retry_s
    while True:
        s = new_socket()
        s.settimeout(2)
        try:
            s.connect((a.host, a.port))
            break
        except OSError as e:
            s.close()
            if time.monotonic() >= deadline:
                print("bench-tcp: connect to %s:%d: %s" % (a.host, a.port, e), file=sys.stderr)
                return 1
            time.sleep(0.05)
    s.settimeout(None)
    return run(s, a)


if __name__ == "__main__":
    sys.exit(main())
