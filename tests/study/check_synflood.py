#!/usr/bin/python3
"""Checks a `ustack-study syn-flood -o DIR` run and its graph
(tests/study/test_study.sh).

    check_synflood.py DIR

DIR holds cookies-off/ and cookies-on/ (series.csv, connects.csv,
capture-server.pcap, summary.txt) and synflood.png/.svg. Prints one line per
check, "ok - ..." or "FAIL - ...". What is checked:
  - in both runs the attack fills the SYN queue (128, the listener's backlog)
    and the capture has the attack's SYNs, as many as the run says it sent;
  - cookies off: no cookie is sent; every client connection begun during the
    attack waits longer than 3 s for its handshake (SYN retransmissions)
    or fails, while those begun before it connect at once;
  - cookies on: every client connection is answered, each handshake within
    two round trips (40 ms), the cookies the server accepted are at least the
    client's connections made while the queue was full, none failed, and a
    cookie SYN-ACK went out for every attack SYN the full queue turned away
    (the capture's SYN-ACKs to the spoofed sources);
  - the graph is a valid PNG and SVG.
"""
import csv
import os
import subprocess
import sys

FULL = 128
RTT = 0.020


def check(what, ok, detail=""):
    print("%s - syn-flood: %s%s" % ("ok" if ok else "FAIL", what, "" if ok or not detail else " (%s)" % detail))


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def summary(d, key):
    with open(os.path.join(d, "summary.txt")) as f:
        for line in f:
            if line.startswith(key):
                return line[len(key):].strip()
    return ""


def tcpdump_count(pcap, flt):
    out = subprocess.run(["tcpdump", "-r", pcap, "-nn", flt], capture_output=True, text=True)
    return len(out.stdout.splitlines()) if out.returncode == 0 else -1


def main():
    top = sys.argv[1]
    attack = None
    for part in ("cookies-off", "cookies-on"):
        d = os.path.join(top, part)
        series = rows(os.path.join(d, "series.csv"))
        conns = rows(os.path.join(d, "connects.csv"))
        last = series[-1]
        peak = max(int(r["synq"]) for r in series)
        check("%s: the SYN queue fills (%d, want %d)" % (part, peak, FULL), peak == FULL)
        full = [float(r["t"]) for r in series if int(r["synq"]) == FULL]
        t_full, t_free = min(full), max(full)
        # The attack's window, from the summary ("... from 5 s to 35 s ...").
        words = summary(d, "attack").split()
        a0, a1 = float(words[words.index("from") + 1]), float(words[words.index("to") + 1])
        attack = (a0, a1)
        pcap = os.path.join(d, "capture-server.pcap")
        syns = tcpdump_count(pcap, "tcp[tcpflags] == tcp-syn and src net 198.18.0.0/15")
        check("%s: the capture holds every attack SYN (%d, run says %s)" % (part, syns, last["attack_syns"]),
              syns == int(last["attack_syns"]) and syns > 0)
        synacks = tcpdump_count(pcap, "tcp[tcpflags] == tcp-syn|tcp-ack and dst net 198.18.0.0/15")
        during = [c for c in conns if a0 <= float(c["start"]) < a1]
        before = [c for c in conns if float(c["start"]) < a0]
        check("%s: client connections before the attack connect at once" % part,
              before and all(0 <= float(c["connect_s"]) <= 2 * RTT + 0.001 for c in before),
              ", ".join(c["connect_s"] for c in before))
        if part == "cookies-off":
            check("cookies-off: no cookie sent", int(last["syncookies_sent"]) == 0 and int(last["syncookies_recv"]) == 0)
            in_full = [c for c in conns if t_full <= float(c["start"]) <= t_free]
            slow = [c for c in in_full if float(c["connect_s"]) < 0 or float(c["connect_s"]) > 3.0]
            check("cookies-off: every connection begun while the queue is full waits > 3 s or fails (%d of %d)" %
                  (len(slow), len(in_full)), len(in_full) >= len(during) - 1 and len(slow) == len(in_full))
            check("cookies-off: the full queue dropped SYNs (%s)" % last["syn_queue_full_drops"],
                  int(last["syn_queue_full_drops"]) >= int(last["attack_syns"]) - FULL)
            # Only the 128 half-open connections were answered, each SYN-ACK
            # sent once and retransmitted 5 times (synack_retries).
            check("cookies-off: SYN-ACKs to the spoofed sources only for the queue (%d <= %d)" % (synacks, FULL * 6),
                  0 < synacks <= FULL * 6)
        else:
            bad = [c for c in conns if c["result"] != "ok" or not (0 <= float(c["connect_s"]) <= 2 * RTT + 0.001)]
            check("cookies-on: every client connection answered, each handshake within 2 RTT (%d bad of %d)" %
                  (len(bad), len(conns)), conns and not bad, "; ".join("%s %s %s" % (c["start"], c["connect_s"], c["result"]) for c in bad[:3]))
            in_full = [c for c in conns if t_full <= float(c["start"]) <= t_free]
            check("cookies-on: cookies accepted (%s) >= client connections made while the queue was full (%d)" %
                  (last["syncookies_recv"], len(in_full)), int(last["syncookies_recv"]) >= len(in_full) > 0)
            check("cookies-on: no cookie failed", int(last["syncookies_failed"]) == 0)
            sent = int(last["syncookies_sent"])
            check("cookies-on: a cookie for every attack SYN the queue turned away (%d >= %d)" %
                  (sent, int(last["attack_syns"]) - FULL), sent >= int(last["attack_syns"]) - FULL)
            check("cookies-on: the capture's SYN-ACKs to spoofed sources cover the cookies (%d >= %d)" %
                  (synacks, sent - int(last["syncookies_recv"])), synacks >= sent - int(last["syncookies_recv"]))
            check("cookies-on: nothing dropped for a full queue", int(last["syn_queue_full_drops"]) == 0)
    for ext, magic in (("png", b"\x89PNG\r\n\x1a\n"), ("svg", b"<?xml")):
        p = os.path.join(top, "synflood." + ext)
        ok = os.path.exists(p) and open(p, "rb").read(len(magic)) == magic
        check("synflood.%s is a valid %s" % (ext, ext.upper()), ok)


if __name__ == "__main__":
    main()
