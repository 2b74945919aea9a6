"""Shared helpers for the Python integration tests (test_*.py).

A test calls run(main): the script creates a network namespace of its own
(tools/netns.sh up NAME, unique NAME), runs itself again inside it with
`ip netns exec`, relays the output, and removes the namespace (and kills what
is left in it) on every way out: try/finally, atexit and SIGTERM/SIGINT.
Inside, main(t) gets a Test object and returns nothing; t.finish() prints the
one summary line "integration: N passed, N failed".

Nothing here touches the root namespace beyond creating and deleting ours.
"""
import atexit
import os
import random
import re
import select
import signal
import struct
import subprocess
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("USTACK_BIN") or os.path.join(ROOT, "build", "bin")  # as in lib.sh
NETNS_SH = os.path.join(ROOT, "tools", "netns.sh")
PY = "/usr/bin/python3"
ENV_INNER = "USTACK_IT_NS"
SUMMARY = re.compile(r"^integration: \d+ passed, \d+ failed$")


class Test:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, what, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS: %s%s" % (what, " (%s)" % detail if detail else ""), flush=True)
        else:
            self.failed += 1
            print("FAIL: %s%s" % (what, " (%s)" % detail if detail else ""), flush=True)
        return ok

    def eq(self, what, got, want):
        return self.check(what, got == want, "got %s, want %s" % (got, want))

    def same_bytes(self, what, got, want):
        """Byte strings equal; says where they first differ, not the bytes."""
        got = got if got is not None else b""
        if got == want:
            return self.check(what, True, "%d bytes" % len(want))
        at = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
        return self.check(what, False, "got %d bytes, want %d; first difference at byte %d: %s vs %s"
                          % (len(got), len(want), at, got[at:at + 8].hex(), want[at:at + 8].hex()))

    def ge(self, what, got, want):
        return self.check(what, got is not None and got >= want, "got %s, want >= %s" % (got, want))

    def le(self, what, got, want):
        return self.check(what, got is not None and got <= want, "got %s, want <= %s" % (got, want))

    def finish(self):
        print("integration: %d passed, %d failed" % (self.passed, self.failed), flush=True)
        return 0 if self.failed == 0 else 1


def csum(b):
    """The Internet checksum (RFC 1071) of bytes b, for crafted headers."""
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def wait_for(secs, fn, interval=0.02):
    """Polls fn() until it returns a true value or secs pass; returns it."""
    end = time.monotonic() + secs
    while True:
        v = fn()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


class Proc:
    """A program started in the background with its output collected."""

    def __init__(self, argv, env=None):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=dict(os.environ, **env) if env else None)
        self.out = b""
        self.err = b""

    @property
    def pid(self):
        return self.p.pid

    def _pump(self, timeout):
        fds = [f for f in (self.p.stdout, self.p.stderr) if f and not f.closed]
        if not fds:
            time.sleep(timeout)
            return
        r, _, _ = select.select(fds, [], [], timeout)
        for f in r:
            chunk = os.read(f.fileno(), 65536)
            if not chunk:
                f.close()
            elif f is self.p.stdout:
                self.out += chunk
            else:
                self.err += chunk

    def wait_output(self, pattern, secs):
        """Waits until stdout has a line matching the regex; True if it did."""
        rx = re.compile(pattern.encode() if isinstance(pattern, str) else pattern, re.M)
        end = time.monotonic() + secs
        while time.monotonic() < end:
            if rx.search(self.out):
                return True
            if self.p.poll() is not None and self.p.stdout.closed:
                break
            self._pump(0.05)
        return bool(rx.search(self.out))

    def wait(self, secs):
        """Waits for the exit (collecting output); returns the status or None."""
        end = time.monotonic() + secs
        while time.monotonic() < end:
            if self.p.poll() is not None:
                while not (self.p.stdout.closed and self.p.stderr.closed):
                    self._pump(0.05)
                return self.p.returncode
            self._pump(0.05)
        return None

    def stop(self, sig=signal.SIGTERM, secs=10):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        rc = self.wait(secs)
        if rc is None:
            self.p.kill()
            rc = self.wait(5)
        return rc

    def text(self):
        return self.out.decode(errors="replace")


def counters(text):
    """The `name value` lines a program prints (ustackd at exit, --stats)."""
    c = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_0-9]+) (\d+)$", line)
        if m:
            c[m.group(1)] = int(m.group(2))
    return c


def start_ustackd(*args, tap="tap0", addr="10.0.0.2/24", env=None):
    """ustackd inside the current namespace; returns the Proc once ready, or
    None (after printing why) if it did not get ready."""
    p = Proc([os.path.join(BIN, "ustackd"), "--tap", tap, "--addr", addr] + list(args), env=env)
    if not p.wait_output(r"^ustackd: ready$", 10):
        p.stop()
        print("ustackd did not become ready: %s" % p.err.decode(errors="replace").strip(), flush=True)
        return None
    return p


def stop_ustackd(p):
    """SIGTERM; returns (exit status, counters)."""
    rc = p.stop()
    return rc, counters(p.text())


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def iface_stat(dev, name):
    with open("/sys/class/net/%s/statistics/%s" % (dev, name)) as f:
        return int(f.read())


def ping(dst, count=3, timeout=10, extra=()):
    """Linux ping inside the namespace; returns (received, output)."""
    try:
        r = subprocess.run(["ping", "-c", str(count), "-i", "0.05", "-W", "1"] + list(extra) + [dst],
                           capture_output=True, text=True, timeout=timeout)
        out = r.stdout + r.stderr
    except subprocess.TimeoutExpired:
        return 0, "timeout"
    m = re.search(r"(\d+) received", out)
    return (int(m.group(1)) if m else 0), out


# ------------------------------------------------------------- namespace

def _ns_pids(ns):
    r = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split()] if r.returncode == 0 else []


def _ns_down(ns):
    for pid in _ns_pids(ns):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    subprocess.run([NETNS_SH, "down", ns], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run(main):
    """Entry point of a Python integration test (see the module comment)."""
    if os.environ.get(ENV_INNER):
        t = Test()
        try:
            main(t)
        except Exception as e:  # a broken test counts as a failure
            import traceback
            traceback.print_exc()
            t.check("test ran to the end without an exception", False, repr(e))
        sys.exit(t.finish())

    if os.geteuid() != 0:
        print("integration tests need root (network namespaces, TAP devices)")
        print("integration: 0 passed, 1 failed")
        sys.exit(1)
    ns = "ustpy%x%04x" % (os.getpid(), random.randrange(0x10000))
    done = []

    def cleanup():
        if not done:
            done.append(1)
            _ns_down(ns)

    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(130))
    signal.signal(signal.SIGINT, lambda *a: sys.exit(130))
    rc, summary = 1, False
    try:
        up = subprocess.run([NETNS_SH, "up", ns], capture_output=True, text=True)
        if up.returncode != 0:
            print("cannot create namespace %s: %s" % (ns, up.stderr.strip()))
        else:
            env = dict(os.environ, **{ENV_INNER: ns})
            inner = subprocess.Popen(["ip", "netns", "exec", ns, PY, os.path.abspath(sys.argv[0])] + sys.argv[1:],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
            for line in inner.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                summary |= bool(SUMMARY.match(line.rstrip("\n")))
            rc = inner.wait()
    finally:
        cleanup()
    if not summary:
        print("integration: 0 passed, 1 failed")
        rc = rc or 1
    sys.exit(rc)
