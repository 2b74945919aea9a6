#!/usr/bin/python3
"""Checks one ustack-study run and its plots (tests/study/test_study.sh).

    check_study.py SCENARIO DIR

DIR holds what `ustack-study SCENARIO -o DIR` and `tools/study-plot.sh DIR
SCENARIO` wrote. Prints one line per check, "ok - ..." or "FAIL - ...", and
exits 0 (the shell script counts the lines). For a group (sack-recovery,
rack-tlp, cubic-vs-newreno) DIR holds one run per part: each is checked as a
scenario "GROUP/PART", then the parts against each other (GROUP_CHECKS).

What is checked, for every scenario:
  - the trace parses, and each stack's TCP segments in its pcap are exactly
    its seg_out and seg_in events, in order, field by field (seq, ack, len,
    flags, window: on the wire shifted right by the sender's scale when both
    SYNs carry the window scale option), at the same times; the exceptions:
    the SYN that reaches
    the server's listener has no seg_in (the listener is not a connection),
    and the client's SYN waits for ARP (the event is when TCP sent it, the
    pcap when it left; if the ARP request is lost, the SYN's retransmission
    waits too and both leave together);
  - tcpdump reads each pcap and counts the same TCP segments;
  - the plots are valid PNG (signature, IHDR) and SVG (XML with an <svg> root);
  - the CSV data hold the points the trace says: as many retransmission
    markers as "retransmit" events of the plotted connection, cwnd points as
    "cwnd" events, RTT points as "rtt" events, RTO expiries as "rto_fired",
    probes as "persist_probe" + "keepalive";
  - the summary says ok and its retransmission count is the trace's and the
    stack counter's;
and what each scenario is about (see SCENARIO_CHECKS).
"""

import csv
import json
import os
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
MSS = 1460
FLAG_NAMES = "FSRPAUEC"  # bit 0 first, as the trace writes them

results = []
PREFIX = [""]   # the run being checked: the scenario, or GROUP/PART
CUR_DIR = [""]  # its directory


def check(what, ok, detail=""):
    results.append((bool(ok), PREFIX[0], what, detail))
    return bool(ok)


# ------------------------------------------------------------------ inputs


def load_trace(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def conn_of(events, laddr):
    for ev in events:
        c = ev.get("conn", "")
        if c.startswith(laddr + ":") and not c.startswith("0.0.0.0"):
            return c
    return None


def tcp_options(opts):
    """{"wscale": shift, "sack_ok": True, "sack": [(start, end)], "ts": (val, ecr)} of a TCP header's options."""
    out, i = {}, 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        ln = opts[i + 1]
        body = opts[i + 2: i + ln]
        if kind == 3 and ln == 3:
            out["wscale"] = body[0]
        elif kind == 4:
            out["sack_ok"] = True
        elif kind == 5:
            out["sack"] = [struct.unpack_from(">II", body, 8 * b) for b in range((ln - 2) // 8)]
        elif kind == 8 and ln == 10:
            out["ts"] = struct.unpack_from(">II", body, 0)
        i += ln
    return out


def read_pcap(path, with_options=False):
    """[(t_us, src, dst, (seq, ack, len, flags, win))] for the TCP segments
    (with_options: a fifth item, the options as tcp_options() reads them)."""
    with open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack_from("<I", data, 0)
    if magic != 0xA1B2C3D4:
        raise ValueError("not a little-endian microsecond pcap: %08x" % magic)
    out, off = [], 24
    while off + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack_from("<IIII", data, off)
        fr = data[off + 16: off + 16 + incl]
        off += 16 + incl
        if len(fr) < 34 or fr[12:14] != b"\x08\x00":
            continue
        ip = fr[14:]
        ihl = (ip[0] & 15) * 4
        if ip[9] != 6:
            continue
        tot = struct.unpack_from(">H", ip, 2)[0]
        src = ".".join(str(b) for b in ip[12:16])
        dst = ".".join(str(b) for b in ip[16:20])
        tcp = ip[ihl:tot]
        seq, ack = struct.unpack_from(">II", tcp, 4)
        doff = (tcp[12] >> 4) * 4
        flags = tcp[13]
        win = struct.unpack_from(">H", tcp, 14)[0]
        fs = "".join(FLAG_NAMES[i] for i in range(8) if flags & (1 << i))
        seg = (seq, ack if flags & 0x10 else 0, len(tcp) - doff, fs, win)
        if with_options:
            out.append((sec * 1000000 + usec, src, dst, seg, tcp_options(tcp[20:doff])))
        else:
            out.append((sec * 1000000 + usec, src, dst, seg))
    return out


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------ checks


def check_pcap(events, d, node, addr, pcap_name):
    conn = conn_of(events, addr)
    mine = [ev for ev in events if ev.get("conn") == conn]
    outs = [ev for ev in mine if ev["ev"] == "seg_out"]
    ins = [ev for ev in mine if ev["ev"] == "seg_in"]
    try:
        frames_o = read_pcap(os.path.join(d, pcap_name), True)
    except (OSError, ValueError, struct.error) as e:
        check("%s: %s parses" % (node, pcap_name), False, str(e))
        return
    # RFC 7323 2: with window scaling (both SYNs carry the option), the
    # window field of every segment but a SYN is the window shifted right by
    # its sender's scale; the trace has the window itself.
    frames = [f[:4] for f in frames_o]
    syns = {}
    for f in frames_o:
        if "S" in f[3][3]:
            syns.setdefault(f[1], f[4])
    scaled = len(syns) == 2 and all("wscale" in o for o in syns.values())
    peer = SERVER if addr == CLIENT else CLIENT

    def trace_seg(ev, sender):
        seg = (ev["seq"], ev["ack"], ev["len"], ev["flags"], ev["win"])
        if scaled and "S" not in ev["flags"]:
            seg = seg[:4] + (ev["win"] >> syns[sender]["wscale"],)
        return seg

    p_out = [f for f in frames if f[1] == addr]
    p_in = [f for f in frames if f[2] == addr]
    # Out: one frame per seg_out, same fields; the time differs only for a
    # segment that waited for ARP (the client's first SYN).
    same = len(p_out) == len(outs) and all(f[3] == trace_seg(ev, addr) for f, ev in zip(p_out, outs))
    check("%s: its %d TCP segments out in %s are its %d seg_out events, field by field%s"
          % (node, len(p_out), pcap_name, len(outs), " (windows scaled)" if scaled else ""), same,
          first_diff([f[3] for f in p_out], [trace_seg(ev, addr) for ev in outs]))
    late = [(ev, f) for f, ev in zip(p_out, outs) if f[0] != ev["t"]]
    check("%s: seg_out times equal the pcap's (except SYNs that waited for ARP)" % node,
          all("S" in ev["flags"] and f[0] > ev["t"] for ev, f in late),
          "; ".join("%s at %d in the trace, %d in the pcap" % (ev["flags"], ev["t"], f[0]) for ev, f in late[:3]))
    # In: the same, plus the SYN the listener got (no connection: no seg_in).
    k, extra, bad = 0, [], []
    for f in p_in:
        if k < len(ins) and f[3] == trace_seg(ins[k], peer) and f[0] == ins[k]["t"]:
            k += 1
        elif f[3][3] == "S":
            extra.append(f)
        else:
            bad.append(f)
    want_extra = 1 if node == "server" else 0
    check("%s: its %d TCP segments in are its %d seg_in events%s" % (
        node, len(p_in), len(ins), " + the SYN to the listener" if want_extra else ""),
        k == len(ins) and not bad and len(extra) == want_extra,
        "matched %d of %d, %d unexplained (first %s), %d bare SYNs" % (
            k, len(ins), len(bad), bad[0][3] if bad else None, len(extra)))
    # tcpdump reads the file and finds as many TCP segments.
    try:
        r = subprocess.run(["tcpdump", "-r", os.path.join(d, pcap_name), "-nn", "tcp"], capture_output=True,
                           text=True, timeout=30)
        n = len([l for l in r.stdout.splitlines() if l.strip()])
        check("%s: tcpdump -r %s counts %d TCP segments = seg_out %d + seg_in %d%s" % (
            node, pcap_name, n, len(outs), len(ins), " + 1" if want_extra else ""),
            r.returncode == 0 and n == len(outs) + len(ins) + want_extra and n == len(p_out) + len(p_in),
            r.stderr.strip()[-200:])
    except (OSError, subprocess.TimeoutExpired) as e:
        check("%s: tcpdump reads %s" % (node, pcap_name), False, str(e))


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return "#%d: pcap %s, trace %s" % (i, x, y)
    return "lengths %d and %d" % (len(a), len(b)) if len(a) != len(b) else ""


def valid_png(path):
    with open(path, "rb") as f:
        head = f.read(33)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return False
    w, h = struct.unpack(">II", head[16:24])
    return w > 100 and h > 100


def valid_svg(path):
    root = ET.parse(path).getroot()
    return root.tag in ("svg", "{http://www.w3.org/2000/svg}svg")


def check_plots(d):
    stems = ["tseq", "cwnd", "rtt"] + (["tseq-zoom"] if os.path.exists(os.path.join(d, "tseq-zoom.png")) else [])
    for stem in stems:
        for fmt, ok in (("png", valid_png), ("svg", valid_svg)):
            p = os.path.join(d, "%s.%s" % (stem, fmt))
            try:
                good = ok(p)
                why = ""
            except (OSError, ET.ParseError, struct.error) as e:
                good, why = False, str(e)
            check("plot %s.%s exists and is valid %s" % (stem, fmt, fmt.upper()), good, why)


def check_csv(events, d):
    with open(os.path.join(d, "conn.txt")) as f:
        conn = f.readline().split()[1]
    client = conn_of(events, CLIENT)
    check("the plotted connection is the client's (it sent the most data)", conn == client,
          "%s, not %s" % (conn, client))
    mine = [ev for ev in events if ev.get("conn") == conn]

    def n(name):
        return sum(1 for ev in mine if ev["ev"] == name)

    tseq = read_csv(os.path.join(d, "tseq.csv"))
    kinds = {}
    for r in tseq:
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
    rex = [r for r in tseq if r["kind"] == "retransmit"]
    check("tseq.csv: %d retransmission markers = %d retransmit events" % (len(rex), n("retransmit")),
          len(rex) == n("retransmit"))
    trace_rex = [(ev["seq"], ev["len"], ev["t"]) for ev in mine if ev["ev"] == "retransmit"]
    with open(os.path.join(d, "conn.txt")) as f:
        info = dict(line.split() for line in f)
    isn = int(info["isn"])
    check("tseq.csv: each retransmission marker at its event's time and sequence number",
          [(int(r["seq"]), int(r["len"]), int(r["t_us"])) for r in rex]
          == [((s - isn) & 0xFFFFFFFF, ln, t) for s, ln, t in trace_rex])
    sends = sum(1 for ev in mine if ev["ev"] == "seg_out" and ev["len"] > 0)
    check("tseq.csv: %d segment bars = %d seg_out events with data" % (kinds.get("send", 0), sends),
          kinds.get("send", 0) == sends)
    acks = sum(1 for ev in mine if ev["ev"] == "seg_in" and "A" in ev["flags"] and "R" not in ev["flags"])
    check("tseq.csv: %d ACK-line points = %d seg_in events with ACK" % (kinds.get("ack", 0), acks),
          kinds.get("ack", 0) == acks and kinds.get("window", 0) == acks)
    probes = n("persist_probe") + n("keepalive")
    check("tseq.csv: %d probe markers = %d persist_probe + keepalive events" % (kinds.get("probe", 0), probes),
          kinds.get("probe", 0) == probes)
    check("tseq.csv: %d duplicate-ACK markers = %d dupack events" % (kinds.get("dupack", 0), n("dupack")),
          kinds.get("dupack", 0) == n("dupack"))
    cw = read_csv(os.path.join(d, "cwnd.csv"))
    check("cwnd.csv: %d points = %d cwnd events" % (len(cw), n("cwnd")), len(cw) == n("cwnd"))
    check("cwnd.csv: the values are the events'",
          [(int(r["cwnd"]), int(r["ssthresh"]) if r["ssthresh"] else -1, r["why"]) for r in cw]
          == [(ev["cwnd"], ev["ssthresh"], ev["why"]) for ev in mine if ev["ev"] == "cwnd"])
    rt = read_csv(os.path.join(d, "rtt.csv"))
    check("rtt.csv: %d points = %d rtt events" % (len(rt), n("rtt")), len(rt) == n("rtt"))
    check("rtt.csv: the samples are the events' (ms)",
          [round(float(r["sample_ms"]) * 1000) for r in rt] == [ev["sample"] for ev in mine if ev["ev"] == "rtt"])
    ro = read_csv(os.path.join(d, "rto.csv"))
    check("rto.csv: %d points = %d rto_fired events" % (len(ro), n("rto_fired")), len(ro) == n("rto_fired"))
    return conn, mine


def summary_value(d, key):
    with open(os.path.join(d, "summary.txt")) as f:
        for line in f:
            if line.startswith(key + " "):
                return line[len(key):].strip()
    return ""


def check_summary(d, mine):
    check("summary.txt: the run is ok", summary_value(d, "result").startswith("ok"), summary_value(d, "result"))
    nrex = sum(1 for ev in mine if ev["ev"] == "retransmit")
    rex = summary_value(d, "retransmits")
    counters = summary_value(d, "counters")
    check("summary.txt: %d retransmissions by the client, as the trace and tcp_retransmit_segs say" % nrex,
          rex.startswith("%d by the client" % nrex) and ("tcp_retransmit_segs %d " % nrex) in counters,
          rex + " / " + counters)


# ------------------------------------------------------------------ per scenario


def events_named(mine, name):
    return [ev for ev in mine if ev["ev"] == name]


def states(events, conn):
    return [ev["to"] for ev in events if ev.get("conn") == conn and ev["ev"] == "state"]


def sc_handshake(events, mine):
    c, s = conn_of(events, CLIENT), conn_of(events, SERVER)
    check("client states SYN-SENT ESTABLISHED FIN-WAIT-1 FIN-WAIT-2 TIME-WAIT CLOSED",
          states(events, c) == ["SYN-SENT", "ESTABLISHED", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT", "CLOSED"],
          states(events, c))
    check("server states SYN-RECEIVED ESTABLISHED CLOSE-WAIT LAST-ACK CLOSED",
          states(events, s) == ["SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED"], states(events, s))
    outs = [ev["flags"] for ev in events_named(mine, "seg_out")]
    check("the client's first segment is a SYN, the server's a SYN,ACK",
          outs[:1] == ["S"] and [ev["flags"] for ev in events if ev.get("conn") == s and ev["ev"] == "seg_out"][:1]
          == ["SA"])
    tw = [ev["t"] for ev in events if ev.get("conn") == c and ev["ev"] == "state" and ev["to"] in ("TIME-WAIT", "CLOSED")]
    check("TIME-WAIT lasts 2 MSL (60 s)", len(tw) == 2 and tw[1] - tw[0] == 60000000, tw)
    check("no retransmission", not events_named(events, "retransmit"))


def sc_slow_start(events, mine):
    cw = events_named(mine, "cwnd")
    check("cwnd starts at 10 MSS (RFC 6928: 14600 bytes)",
          cw and cw[0]["why"] == "init" and cw[0]["cwnd"] == 10 * MSS, cw[:1])
    grow = cw[1:]
    steps = [b["cwnd"] - a["cwnd"] for a, b in zip(cw, cw[1:])]
    whole = sum(1 for x in steps if x == MSS)
    check("every change is slow start, never more than 1 MSS, and %d of %d are exactly 1 MSS"
          % (whole, len(steps)),
          grow and all(ev["why"] == "slow_start" for ev in grow) and all(0 < x <= MSS for x in steps)
          and whole >= 0.9 * len(steps), steps[:10])
    ack_times = {ev["t"] for ev in events_named(mine, "seg_in") if "A" in ev["flags"]}
    check("each increase comes with an ACK (one MSS per ACK)", all(ev["t"] in ack_times for ev in grow))
    check("cwnd grows past 40 MSS, ssthresh stays infinite, nothing is lost",
          cw[-1]["cwnd"] >= 40 * MSS and all(ev["ssthresh"] == -1 for ev in cw)
          and not events_named(events, "retransmit") and not events_named(events, "dupack"))


def sc_loss_fast_retransmit(events, mine):
    rex = events_named(events, "retransmit")
    check("exactly one retransmission, why fast_retransmit",
          len(rex) == 1 and rex[0]["why"] == "fast_retransmit", [ev.get("why") for ev in rex])
    check("no rto_fired", not events_named(events, "rto_fired"))
    dup = events_named(mine, "dupack")
    check("the retransmission comes with the third duplicate ACK",
          rex and any(ev["count"] == 3 and ev["t"] == rex[0]["t"] for ev in dup), len(dup))
    whys = [ev["why"] for ev in events_named(mine, "cwnd")]
    check("cwnd through fast_retransmit, dupack_inflate, recovery_end",
          "fast_retransmit" in whys and "dupack_inflate" in whys and "recovery_end" in whys)


def sc_loss_rto(events, mine):
    rto = events_named(mine, "rto_fired")
    backoffs = [ev["backoff"] for ev in rto]
    check("at least two rto_fired, the backoff growing 1, 2, ...",
          len(rto) >= 2 and backoffs == list(range(1, len(rto) + 1)), backoffs)
    check("each expiry doubles the RTO", all(b["rto"] == 2 * a["rto"] for a, b in zip(rto, rto[1:])),
          [ev["rto"] for ev in rto])
    gaps = [b["t"] - a["t"] for a, b in zip(rto, rto[1:])]
    check("the second expiry comes one backed-off RTO after the first",
          gaps and gaps[0] == rto[0]["rto"], (gaps, [ev["rto"] for ev in rto]))
    rex = events_named(events, "retransmit")
    check("every retransmission is why rto, none fast",
          rex and all(ev["why"] == "rto" for ev in rex) and not events_named(events, "dupack"))


def sc_reorder(events, mine):
    # Without SACK the sender has only the cumulative ACK. The third duplicate
    # ACK for the segment held back behind five starts NewReno recovery (RFC
    # 6582 3.2) with a fast retransmit of it, though it has arrived. Its late
    # arrival fills the hole while the rest of the window is still in flight,
    # so the ACKs that follow stay below `recover`: each is a partial ACK and
    # resends the first unacknowledged segment (RFC 6582 3.2 step 5), which
    # had arrived too, its ACK still on the way. Every retransmission is
    # needless: the server receives each segment twice.
    rex = events_named(mine, "retransmit")
    check("no RTO", not events_named(events, "rto_fired") and all(ev["why"] != "rto" for ev in rex))
    isn = client_isn(mine)
    held = [(isn + 1 + off) & 0xFFFFFFFF for off, _ in scripted(CUR_DIR[0], "held back")]
    check("two segments held back by the path", len(held) == 2, held)
    if not rex or len(held) != 2:
        check("there are retransmissions", False)
        return
    dup3 = [ev for ev in events_named(mine, "dupack") if ev["count"] == 3]
    rs = events_named(mine, "recovery_start")
    check("the first retransmission is the fast retransmit of the segment held behind five, at the third"
          " duplicate ACK, and starts the one recovery",
          rex[0]["why"] == "fast_retransmit" and rex[0]["seq"] == held[1] and dup3 and dup3[0]["t"] == rex[0]["t"]
          and len(rs) == 1 and rs[0]["t"] == rex[0]["t"], (rex[0], dup3[:1], rs))
    check("the segment held behind two is not retransmitted (fewer than three duplicate ACKs)",
          not [ev for ev in rex if ev["seq"] == held[0]])
    pa = events_named(mine, "partial_ack")
    lost = {ev["t"]: ev for ev in events_named(mine, "mark_lost") if ev["why"] == "partial_ack"}
    rest = rex[1:]
    check("each later retransmission (%d) goes with a partial_ack below recover and a mark_lost why partial_ack"
          " of the segment at that ACK" % len(rest),
          len(rest) >= 10 and len(pa) == len(rest)
          and all(r["why"] == "fast_retransmit" and p["t"] == r["t"] and p["ack"] == r["seq"]
                  and 0 < ((p["recover"] - p["ack"]) & 0xFFFFFFFF) < 0x80000000 and p["recover"] == rs[0]["recover"]
                  and r["t"] in lost and lost[r["t"]]["seq"] == r["seq"] for p, r in zip(pa, rest)),
          (len(rest), len(pa)))
    # From the server's side: the original of every retransmitted segment
    # arrived (seg_in) before the client resent it, and the copy arrived
    # later and was dropped as a duplicate (below RCV.NXT).
    srv = conn_of(events, SERVER)
    s_in = [ev for ev in events if ev.get("conn") == srv and ev["ev"] == "seg_in" and ev["len"] > 0]
    drops = [ev for ev in events if ev.get("conn") == srv and ev["ev"] == "drop"]
    twice = []
    for r in rex:
        arr = [ev["t"] for ev in s_in if ev["seq"] == r["seq"]]
        if (len(arr) == 2 and arr[0] < r["t"] < arr[1]
                and any(d["t"] == arr[1] and d.get("seq") == r["seq"] for d in drops)):
            twice.append(r["seq"])
    check("every retransmitted segment reached the server twice: the original before the client resent it,"
          " the copy later, dropped as a duplicate (%d of %d)" % (len(twice), len(rex)),
          len(twice) == len(rex), [((r["seq"] - isn) & 0xFFFFFFFF) for r in rex if r["seq"] not in twice][:5])
    # The same from the server's capture: each of those sequence numbers
    # arrives twice.
    frames = read_pcap(os.path.join(CUR_DIR[0], "capture-server.pcap"))
    seen = {}
    for f in frames:
        if f[2] == SERVER and f[3][2] > 0:
            seen[f[3][0]] = seen.get(f[3][0], 0) + 1
    check("capture-server.pcap: each retransmitted sequence number arrives twice",
          all(seen.get(r["seq"]) == 2 for r in rex), [(r["seq"], seen.get(r["seq"])) for r in rex][:5])
    ends = [ev for ev in events_named(mine, "cwnd") if ev["why"] == "recovery_end"]
    check("recovery ends at the ACK of recover, with cwnd = ssthresh; the duplicate ACKs the needless copies"
          " bring after it start no second recovery (RFC 6582 3.2 step 1)",
          len(ends) == 1 and ends[0]["cwnd"] == ends[0]["ssthresh"] == rs[0]["ssthresh"]
          and any(ev["t"] > ends[0]["t"] and ev["count"] >= 3 for ev in events_named(mine, "dupack")),
          ends)
    dup = events_named(mine, "dupack")
    counts = [ev["count"] for ev in dup]
    # The first reordering (one segment behind two) stays below the threshold
    # of three; the second (behind five) reaches it.
    first_run = counts[:counts.index(1, 1)] if 1 in counts[1:] else counts
    check("duplicate ACKs from both reorderings: a first run below 3, then one reaching 3",
          dup and max(first_run) < 3 and max(counts) >= 3, counts)


def sc_zero_window(events, mine):
    pw = events_named(mine, "peer_window")
    check("the client sees the window close", any(ev["wnd"] == 0 for ev in pw))
    pp = events_named(mine, "persist_probe")
    check("persist_probe events, the backoff growing within a closed period",
          len(pp) >= 2 and any(b["backoff"] > a["backoff"] for a, b in zip(pp, pp[1:])),
          [(ev["probes"], ev["backoff"]) for ev in pp])
    s = conn_of(events, SERVER)
    wu = [ev for ev in events if ev.get("conn") == s and ev["ev"] == "window_update"]
    check("the server's window updates reopen it", len(wu) >= 3 and any(ev["old"] == 0 for ev in wu))
    check("no retransmission", not events_named(events, "retransmit"))


def sc_lossy(events, mine):
    imp = summary_value(sys.argv[2], "impairments")
    n = int(imp.split("; ")[1].split()[0]) if "; " in imp else 0
    check("frames dropped at random (%d)" % n, n > 0, imp)
    rex = events_named(mine, "retransmit")
    check("the losses were recovered by retransmissions", len(rex) > 0)


SCENARIO_CHECKS = {
    "handshake": sc_handshake,
    "slow-start": sc_slow_start,
    "loss-fast-retransmit": sc_loss_fast_retransmit,
    "loss-rto": sc_loss_rto,
    "reorder": sc_reorder,
    "zero-window": sc_zero_window,
    "lossy-5pct": sc_lossy,
}


# ------------------------------------------------------------------ groups
#
# A group (ustack-study GROUP -o DIR) leaves one run per part in DIR/PART;
# each part is checked as a scenario of its own (SCENARIO_CHECKS["GROUP/PART"])
# and then the parts against each other (GROUP_CHECKS["GROUP"], with
# {part: (events, mine)}).


def client_isn(mine):
    for ev in mine:
        if ev["ev"] == "seg_out" and "S" in ev["flags"]:
            return ev["seq"]
    return None


def scripted(d, what):
    """The stream offsets of the segments the path's rules dropped (what =
    "dropped"), held back or delayed, from summary.txt: [(offset, t_us)]."""
    out = []
    with open(os.path.join(d, "summary.txt")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("at ") and "client's segment of bytes" in line and ": " + what in line:
                t = float(line.split()[1])
                off = int(line.split("bytes ")[1].split("..")[0])
                out.append((off, round(t * 1e6) + 1000000))
    return out


def min_rtt(mine):
    samples = [ev["sample"] for ev in mine if ev["ev"] == "rtt"]
    return min(samples) if samples else 0


def sack_acks(d):
    """The client's incoming ACKs that carry SACK blocks: [(t_us, ack, blocks)]."""
    return [(f[0], f[3][1], f[4]["sack"]) for f in read_pcap(os.path.join(d, "capture.pcap"), True)
            if f[2] == CLIENT and "sack" in f[4]]


def sc_sack_recovery_sack(events, mine):
    d = CUR_DIR[0]
    isn = client_isn(mine)
    drops = [(isn + 1 + off) & 0xFFFFFFFF for off, _ in scripted(d, "dropped")]
    check("three segments were dropped by the path", len(drops) == 3, drops)
    acks = sack_acks(d)
    holes = sorted({b[0] for _, _, blocks in acks for b in blocks})
    check("SACK blocks reached the client (%d ACKs with SACK)" % len(acks), len(acks) > 0)
    check("the SACK blocks start right after each hole: the receiver reported all three",
          all(any(h == (seq + MSS - 12) & 0xFFFFFFFF for h in holes) for seq in drops), (drops, holes[:10]))
    rex = events_named(mine, "retransmit")
    check("each dropped segment is retransmitted exactly once, nothing else",
          sorted(ev["seq"] for ev in rex) == sorted(drops), [(ev["seq"], ev["why"]) for ev in rex])
    check("every retransmission is why sack (RFC 6675 loss marking, not the RTO)",
          rex and all(ev["why"] == "sack" for ev in rex), [ev["why"] for ev in rex])
    lost = [ev["seq"] for ev in events_named(mine, "mark_lost")]
    check("mark_lost for each dropped segment, and sack_lost events (the scoreboard found them)",
          sorted(lost) == sorted(drops) and events_named(mine, "sack_lost"), lost)
    check("no RACK, no TLP: rack_lost and tlp absent",
          not events_named(mine, "rack_lost") and not events_named(mine, "tlp"))
    rs = events_named(mine, "recovery_start")
    rtt = min_rtt(mine)
    spread = max(ev["t"] for ev in rex) - rs[0]["t"] if rs and rex else None
    check("one recovery, and all three retransmissions within one RTT of its start (%s us, min RTT %d us)"
          % (spread, rtt), len(rs) == 1 and spread is not None and spread < rtt)
    check("no rto_fired", not events_named(events, "rto_fired"))


def sc_sack_recovery_newreno(events, mine):
    d = CUR_DIR[0]
    isn = client_isn(mine)
    drops = [(isn + 1 + off) & 0xFFFFFFFF for off, _ in scripted(d, "dropped")]
    check("three segments were dropped by the path", len(drops) == 3, drops)
    check("no SACK block on the wire (SACK is off)", not sack_acks(d))
    rex = events_named(mine, "retransmit")
    check("each dropped segment is retransmitted exactly once, why fast_retransmit",
          sorted(ev["seq"] for ev in rex) == sorted(drops) and all(ev["why"] == "fast_retransmit" for ev in rex),
          [(ev["seq"], ev["why"]) for ev in rex])
    pa = events_named(mine, "partial_ack")
    check("two partial_ack events (RFC 6582: each reveals the next hole)", len(pa) == 2, len(pa))
    check("the second and third retransmissions go with the partial ACKs",
          len(rex) == 3 and [ev["t"] for ev in rex[1:]] == [ev["t"] for ev in pa])
    rtt = min_rtt(mine)
    gaps = [b["t"] - a["t"] for a, b in zip(rex, rex[1:])]
    check("one retransmission per round trip (gaps %s us, min RTT %d us)" % (gaps, rtt),
          len(gaps) == 2 and all(0.9 * rtt <= g <= 1.5 * rtt for g in gaps))
    check("one recovery, no rto_fired",
          len(events_named(mine, "recovery_start")) == 1 and not events_named(events, "rto_fired"))


def recovery_end(mine):
    ends = [ev["t"] for ev in mine if ev["ev"] == "cwnd" and ev["why"] == "recovery_end"]
    return ends[0] if ends else None


def grp_sack_recovery(runs):
    sack, nr = runs.get("sack"), runs.get("newreno")
    if not check("both parts ran (sack, newreno)", sack and nr, sorted(runs)):
        return
    start = events_named(sack[1], "recovery_start")[0]["t"]
    a, b = recovery_end(sack[1]), recovery_end(nr[1])
    rtt = min_rtt(sack[1])
    check("SACK recovery ends at least a round trip before NewReno's (%.1f and %.1f ms after it started)"
          % ((a - start) / 1e3, (b - start) / 1e3), a and b and b - a >= 0.9 * rtt)


def sc_rack_reorder(events, mine):
    d = CUR_DIR[0]
    isn = client_isn(mine)
    held = [(isn + 1 + off) & 0xFFFFFFFF for off, _ in scripted(d, "held back")]
    late = [(isn + 1 + off) & 0xFFFFFFFF for off, _ in scripted(d, "delayed")]
    check("one segment held back behind 2, two delayed 40 ms", len(held) == 1 and len(late) == 2, (held, late))
    if len(held) != 1 or len(late) != 2:
        return
    rex = events_named(mine, "retransmit")
    seg = lambda seq: (lambda ev: ev.get("seq") == seq)  # noqa: E731
    check("the segment held back behind 2 is not retransmitted", not [ev for ev in rex if seg(held[0])(ev)])
    timers = events_named(mine, "rack_timer")
    check("RACK armed its reordering timer (rack_timer, reo_wnd > 0) before the first segment was overdue",
          timers and timers[0]["reo_wnd_us"] > 0, timers[:1])
    first = [ev for ev in rex if seg(late[0])(ev)]
    check("the first late segment is retransmitted once, by RACK (rack_lost, why sack)",
          len(first) == 1 and first[0]["why"] == "sack" and
          any(ev["t"] == first[0]["t"] for ev in events_named(mine, "rack_lost")), first)
    ds = [ev for ev in events_named(mine, "dsack") if ev["start"] == late[0]]
    check("a D-SACK reports it received twice", len(ds) == 1 and (not first or ds[0]["t"] > first[0]["t"]), ds)
    undo = events_named(mine, "undo")
    # Eifel (RFC 3522): the original's ACK echoes the original's timestamp
    # before the retransmission's D-SACK can come back.
    check("the reduction is undone by Eifel, before the D-SACK (undo eifel, spurious_fast_retransmit),"
          " and ssthresh back to infinite",
          len(undo) == 1 and undo[0].get("eifel") == 1 and (not ds or undo[0]["t"] < ds[0]["t"]) and
          [ev for ev in events_named(mine, "spurious_fast_retransmit") if ev["t"] == undo[0]["t"]] and
          [ev for ev in mine if ev["ev"] == "cwnd" and ev["why"] == "undo" and ev["ssthresh"] == -1], undo)
    if ds:
        before = {ev["reo_wnd_us"] for ev in timers + events_named(mine, "rack_lost") if ev["t"] < ds[0]["t"]}
        after = {ev["reo_wnd_us"] for ev in timers + events_named(mine, "rack_lost") if ev["t"] >= ds[0]["t"]}
        check("the reordering window doubles with the D-SACK (%s -> %s us)" % (sorted(before), sorted(after)),
              len(before) == 1 and after and min(after) == 2 * min(before))
    check("the second late segment, as late as the first, is not retransmitted (the wider window)",
          not [ev for ev in rex if seg(late[1])(ev)] and len(rex) == 1, [(ev["seq"], ev["why"]) for ev in rex])
    check("no rto_fired", not events_named(events, "rto_fired"))


def sc_rack_tail_tlp(events, mine):
    tlp = events_named(mine, "tlp")
    check("one tail loss probe (tlp event), a retransmission of the last segment (why tlp)",
          len(tlp) == 1 and tlp[0]["retrans"] == 1 and [ev for ev in events_named(mine, "retransmit")
                                                          if ev["why"] == "tlp" and ev["t"] == tlp[0]["t"]], tlp)
    check("no rto_fired", not events_named(events, "rto_fired"))
    if not tlp:
        return
    # Both timers start again with every ACK (RFC 6298 5.3, RFC 8985 7.2).
    last = max(ev["t"] for ev in mine if ev["ev"] == "seg_in" and ev["t"] < tlp[0]["t"])
    srtt = [ev["srtt"] for ev in events_named(mine, "rtt") if ev["t"] <= tlp[0]["t"]][-1]
    rto = [ev["rto"] for ev in events_named(mine, "rtt") if ev["t"] <= tlp[0]["t"]][-1]
    wait = tlp[0]["t"] - last
    check("the probe goes 2 SRTT after the last ACK (%.1f ms; SRTT %.1f ms), before the RTO would (%.0f ms)"
          % (wait / 1e3, srtt / 1e3, rto / 1e3), abs(wait - 2 * srtt) <= 1000 and wait < rto)
    rl = events_named(mine, "rack_lost")
    check("its SACK lets RACK find the other lost segment (rack_lost after the probe, retransmitted why sack)",
          rl and rl[0]["t"] > tlp[0]["t"] and [ev for ev in events_named(mine, "retransmit") if ev["why"] == "sack"])


def sc_rack_tail_rto(events, mine):
    check("no tail loss probe (TLP is off)", not events_named(mine, "tlp"))
    rto = events_named(mine, "rto_fired")
    check("the RTO fires", len(rto) >= 1)
    if rto:
        last = max(ev["t"] for ev in mine if ev["ev"] == "seg_in" and ev["t"] < rto[0]["t"])
        check("at least 200 ms after the last ACK (%.1f ms)" % ((rto[0]["t"] - last) / 1e3),
              rto[0]["t"] - last >= 200000)


def last_byte(d):
    v = summary_value(d, "duration")
    return float(v.split()[0]) if v else None


def grp_rack_tlp(runs, d):
    tlp, rto = runs.get("tail-tlp"), runs.get("tail-rto")
    if not check("the parts ran (reorder, tail-tlp, tail-rto)", "reorder" in runs and tlp and rto, sorted(runs)):
        return
    t_tlp = events_named(tlp[1], "tlp")
    t_rto = events_named(rto[1], "rto_fired")
    check("the probe comes before the RTO would have",
          t_tlp and t_rto and t_tlp[0]["t"] < t_rto[0]["t"])
    a, b = last_byte(os.path.join(d, "tail-tlp")), last_byte(os.path.join(d, "tail-rto"))
    check("with TLP the last byte arrives sooner (%s s against %s s)" % (a, b), a and b and a < b)


def cc_loss(mine, mss):
    """At the first congestion event: (cwnd before, ssthresh, flight)."""
    cw = events_named(mine, "cwnd")
    i = next((k for k, ev in enumerate(cw) if ev["why"] == "fast_retransmit"), None)
    if not i:
        return None
    return cw[i - 1]["cwnd"], cw[i]["ssthresh"], cw[i]["flight"], cw[i]["t"]


def regain(mine, w, after):
    ts = [ev["t"] for ev in events_named(mine, "cwnd") if ev["t"] > after and ev["cwnd"] >= w]
    return ts[0] - after if ts else None


def grp_cubic_vs_newreno(runs, d):
    cu, nr = runs.get("cubic"), runs.get("newreno")
    if not check("both parts ran (cubic, newreno)", cu and nr, sorted(runs)):
        return
    mss = max(ev["len"] for ev in cu[1] if ev["ev"] == "seg_out")
    lc, ln = cc_loss(cu[1], mss), cc_loss(nr[1], mss)
    if not check("each found the loss by fast retransmit", lc and ln):
        return
    check("cubic: ssthresh = 0.7 cwnd at the loss (%d = 0.7 x %d)" % (lc[1], lc[0]),
          lc[1] == max(lc[0] * 7 // 10, 2 * mss))
    check("newreno: ssthresh = FlightSize / 2 at the loss (%d = %d / 2)" % (ln[1], ln[2]),
          ln[1] == max(ln[2] // 2, 2 * mss))
    ec, en = recovery_end(cu[1]), recovery_end(nr[1])
    if not check("each recovery ended at a full ACK (recovery_end), not by a timeout (cubic %s, newreno %s)"
                 % (ec, en), ec and en,
                 [(p, [ev["t"] for ev in events_named(r[1], "rto_fired")]) for p, r in (("cubic", cu), ("newreno", nr))]):
        return
    rc, rn = regain(cu[1], lc[0], ec), regain(nr[1], ln[0], en)
    check("after the loss cubic regains its W_max (%d bytes) sooner than newreno regains its own (%d): %s s and %s s"
          % (lc[0], ln[0], rc and rc / 1e6, rn and rn / 1e6), rc is not None and rn is not None and rc < rn)
    a, b = last_byte(os.path.join(d, "cubic")), last_byte(os.path.join(d, "newreno"))
    check("cubic delivers the data sooner, more goodput (%s s against %s s)" % (a, b), a and b and a < b)
    ca = [ev for ev in events_named(cu[1], "cwnd") if ev["t"] > ec]
    # The curve: concave below W_max (growth slowing), then convex above it.
    below = [ev for ev in ca if ev["cwnd"] < lc[0]]
    above = [ev for ev in ca if ev["cwnd"] > lc[0] * 1.05]
    def rate(evs):
        return (evs[-1]["cwnd"] - evs[0]["cwnd"]) / max(1, evs[-1]["t"] - evs[0]["t"]) if len(evs) > 1 else None
    h = len(below) // 2
    r1, r2, r3 = rate(below[:h]), rate(below[h:]), rate(above)
    check("cubic's cwnd: concave below W_max, convex above (growth %s, %s, then %s bytes/s)"
          % tuple(None if r is None else round(r * 1e6) for r in (r1, r2, r3)),
          r1 and r2 and r3 and r1 > 2 * r2 and r3 > 2 * r2)


SCENARIO_CHECKS.update({
    "sack-recovery/sack": sc_sack_recovery_sack,
    "sack-recovery/newreno": sc_sack_recovery_newreno,
    "rack-tlp/reorder": sc_rack_reorder,
    "rack-tlp/tail-tlp": sc_rack_tail_tlp,
    "rack-tlp/tail-rto": sc_rack_tail_rto,
})

GROUP_CHECKS = {
    "sack-recovery": lambda runs, d: grp_sack_recovery(runs),
    "rack-tlp": grp_rack_tlp,
    "cubic-vs-newreno": grp_cubic_vs_newreno,
}


def check_run(name, d):
    """The checks of one run in d; returns (events, mine) or None."""
    PREFIX[0], CUR_DIR[0] = name, d
    try:
        events = load_trace(os.path.join(d, "trace.jsonl"))
        check("trace.jsonl parses (%d events)" % len(events), events)
    except (OSError, ValueError) as e:
        check("trace.jsonl parses", False, str(e))
        return None
    if not events:
        return None
    check_pcap(events, d, "client", CLIENT, "capture.pcap")
    check_pcap(events, d, "server", SERVER, "capture-server.pcap")
    check_plots(d)
    try:
        conn, mine = check_csv(events, d)
        check_summary(d, mine)
        fn = SCENARIO_CHECKS.get(name)
        if check("%s has scenario checks" % name, fn or "/" in name):
            if fn:
                fn(events, mine)
        return events, mine
    except (OSError, KeyError, ValueError, IndexError, TypeError) as e:
        check("CSV and summary readable, scenario checks ran", False, repr(e))
    return None


def main():
    name, d = sys.argv[1], sys.argv[2]
    if os.path.exists(os.path.join(d, "trace.jsonl")) or name not in GROUP_CHECKS:
        check_run(name, d)
    else:
        parts = sorted(p for p in os.listdir(d) if os.path.isfile(os.path.join(d, p, "trace.jsonl")))
        runs = {}
        for p in parts:
            r = check_run("%s/%s" % (name, p), os.path.join(d, p))
            if r:
                runs[p] = r
        PREFIX[0], CUR_DIR[0] = name, d
        for stem in ("compare-cwnd", "compare-tseq"):
            for fmt, ok in (("png", valid_png), ("svg", valid_svg)):
                p = os.path.join(d, "%s.%s" % (stem, fmt))
                try:
                    good, why = ok(p), ""
                except (OSError, ET.ParseError, struct.error) as e:
                    good, why = False, str(e)
                check("plot %s.%s exists and is valid %s" % (stem, fmt, fmt.upper()), good, why)
        try:
            GROUP_CHECKS[name](runs, d)
        except (OSError, KeyError, ValueError, IndexError, TypeError) as e:
            check("the comparison ran", False, repr(e))
    for ok, prefix, what, detail in results:
        print("%s - %s: %s%s" % ("ok" if ok else "FAIL", prefix, what, "" if ok or not detail else " (%s)" % (detail,)))


if __name__ == "__main__":
    main()
