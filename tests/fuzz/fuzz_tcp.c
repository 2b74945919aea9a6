/*
 * libFuzzer target for TCP input: reaches
 * tcp_input() in every state of RFC 9293 with segments the fuzzer chooses,
 * all with correct IPv4 and TCP checksums so that they get past the parsers.
 *
 * Each input runs against a fresh stack (10.0.0.2, port 80 for passive opens,
 * port 5000 for active ones) on one end of a memory link; this program plays
 * the peer 10.0.0.1:6000 on the other end, and the application through the
 * socket API (non-blocking, no runtime). The stack's segments are parsed to
 * track its sequence numbers, so that fuzzed segments can be placed relative
 * to them (in window, at the edges, or anywhere).
 *
 * Input layout:
 *   byte 0      scenario: the state to drive the connection to with
 *               well-formed segments before fuzzing (CLOSED, LISTEN,
 *               SYN-SENT, SYN-RECEIVED passive and simultaneous, ESTABLISHED
 *               passive, active and not yet accepted, FIN-WAIT-1/2 held and
 *               orphaned, CLOSING, TIME-WAIT, CLOSE-WAIT, LAST-ACK)
 *   byte 1      variant bits: data queued by the stack, data queued for the
 *               application, MSS, SACK, timestamp and window-scale options, zero
 *               window, TCP_NODELAY, small buffers
 *   then ops    segments (header fields relative to the tracked state, raw
 *               options, payload), time passing, application calls (send,
 *               recv, shutdown, close, abortive close, accept, options),
 *               ICMP errors quoting the connection.
 * At the end every socket is closed and time runs until every timer expired;
 * then the stack must hold no TCB, socket or packet buffer (else abort()).
 * Every segment the stack sends must carry a correct TCP checksum, fit the
 * 1500-byte MTU, and carry no more data than the MSS our SYNs announced
 * (536 without the option, 64 at least; 1460 once a SYN cookie opened a
 * connection, whose MSS is the table entry the completing ACK names).
 *
 * FUZZ_TCP_STATES=1 in the environment: at exit, print in which states
 * tcp_input() was reached by a fuzzed segment; FUZZ_TCP_STATES=require also
 * fails (exit 1) unless all eleven states were reached. make fuzz-ci runs the
 * seed corpus (tests/fuzz/corpus_tcp) that way before fuzzing.
 */
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ustack/link.h>
#include <ustack/socket.h>
#include <ustack/ustack.h>
#include "internal.h"
#include "tcp_var.h"
#include "fuzz.h"

#define LPORT 80            /* the stack listens here */
#define CPORT 5000          /* the stack connects from here */
#define PPORT 6000          /* the peer's port */

static const uint8_t US_MAC[6] = {0x02, 0x00, 10, 0, 0, 2};
static const uint8_t PEER_MAC[6] = {0x02, 0x00, 10, 0, 0, 1};

/* ------------------------------------------------------------ input */

struct in {
    const uint8_t *p;
    size_t n, off;
};

static uint8_t rd8(struct in *in) { return in->off < in->n ? in->p[in->off++] : 0; }
static uint16_t rd16_in(struct in *in)
{
    uint16_t v = (uint16_t)(rd8(in) << 8);
    return v | rd8(in);
}
static uint32_t rd32_in(struct in *in)
{
    uint32_t v = (uint32_t)rd16_in(in) << 16;
    return v | rd16_in(in);
}

/* ------------------------------------------------------------ the world */

enum scenario {
    SC_CLOSED,        /* no socket: segments to closed ports */
    SC_LISTEN,
    SC_SYN_SENT,
    SC_SYN_RCVD,      /* passive: SYN in, SYN-ACK out */
    SC_SYN_RCVD_SIM,  /* simultaneous open: SYN out, SYN in */
    SC_EST_PASSIVE,
    SC_EST_ACTIVE,
    SC_EST_UNACCEPTED,/* established, still in the accept queue */
    SC_FIN_WAIT_1,
    SC_FIN_WAIT_2,
    SC_FIN_WAIT_2_ORPHAN,
    SC_CLOSING,
    SC_TIME_WAIT,
    SC_CLOSE_WAIT,
    SC_LAST_ACK,
    SC_COUNT
};

#define V_STACK_DATA 0x01 /* the stack has sent data the peer has not acknowledged */
#define V_APP_DATA 0x02   /* the peer's data waits for the application */
#define V_MSS 0x04        /* the peer announces a small MSS and offers SACK, timestamps, window scaling */
#define V_ZERO_WND 0x08   /* the peer closes its window during setup */
#define V_NODELAY 0x10
#define V_SMALLBUF 0x20   /* SO_RCVBUF/SO_SNDBUF at the minimum */
#define V_ACTIVE 0x40     /* for the states after ESTABLISHED: active open */
#define V_OOO 0x80        /* out-of-order data held by the stack */

struct w {
    struct ustack *st;
    struct ustack_link *la, *lb;
    ustack_time_t now;
    uint32_t us, peer;          /* network order */
    int lsock, csock;           /* listener, connection (-1: none) */
    uint16_t lport;             /* the stack's port of the connection */
    /* What the stack has said on the connection. */
    bool have_iss;
    uint32_t st_iss, st_max;    /* its ISS, highest sequence number sent + 1 */
    bool have_ack;
    uint32_t st_ack;            /* the last ACK it sent (its RCV.NXT) */
    /* The peer's own sequence space. */
    uint32_t p_iss, p_nxt;
    uint32_t max_mss;           /* largest MSS any of our SYNs announced (536 without the option) */
    uint8_t buf[USTACK_FRAME_MAX];
};

static uint64_t state_hits[TCPS_TIME_WAIT + 1];
static int stats_mode; /* 0 off, 1 print, 2 require all */

/* ------------------------------------------------------------ frames */


/* Ethernet + IPv4 header around l4 (proto), from the peer to the stack. */
static void send_ip(struct w *w, uint8_t proto, const uint8_t *l4, size_t len)
{
    static uint8_t f[14 + 20 + 65536];
    memcpy(f, US_MAC, 6);
    memcpy(f + 6, PEER_MAC, 6);
    fz_put16(f + 12, 0x0800);
    uint8_t *ip = f + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    fz_put16(ip + 2, (uint16_t)(20 + len));
    ip[8] = 64;
    ip[9] = proto;
    memcpy(ip + 12, &w->peer, 4);
    memcpy(ip + 16, &w->us, 4);
    fz_put16(ip + 10, fz_fold(fz_sum16(ip, 20, 0)));
    memcpy(ip + 20, l4, len);
    ustack_input(w->st, f, 14 + 20 + len);
}

struct seg {
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t wnd, urg;
    const uint8_t *opts;
    size_t optlen;              /* padded to a multiple of 4 with EOL */
    const uint8_t *data;
    size_t len;
};

static void tcp_csum(struct w *w, uint8_t *t, size_t total, uint32_t src, uint32_t dst)
{
    uint8_t ph[12];
    memcpy(ph, &src, 4);
    memcpy(ph + 4, &dst, 4);
    ph[8] = 0;
    ph[9] = 6;
    fz_put16(ph + 10, (uint16_t)total);
    (void)w;
    fz_put16(t + 16, 0);
    fz_put16(t + 16, fz_fold(fz_sum16(t, total, fz_sum16(ph, 12, 0))));
}

/* The state of the TCB a segment from the peer will meet. */
static enum tcp_state state_for(struct w *w, uint16_t sport, uint16_t dport)
{
    struct tcb *t = tcp_lookup(w->st->tcp, w->us, dport, w->peer, sport);
    if (t)
        return t->state;
    if (tcp_listen_lookup(w->st->tcp, w->us, dport))
        return TCPS_LISTEN;
    return TCPS_CLOSED;
}

static void send_seg(struct w *w, const struct seg *s, bool fuzzed)
{
    static uint8_t t[60 + 65536];
    size_t optlen = s->optlen > 40 ? 40 : s->optlen;
    size_t hlen = 20 + ((optlen + 3) & ~(size_t)3);
    memset(t, 0, hlen);
    fz_put16(t, s->sport);
    fz_put16(t + 2, s->dport);
    fz_put32(t + 4, s->seq);
    fz_put32(t + 8, s->ack);
    t[12] = (uint8_t)((hlen / 4) << 4);
    t[13] = s->flags;
    fz_put16(t + 14, s->wnd);
    fz_put16(t + 18, s->urg);
    if (optlen)
        memcpy(t + 20, s->opts, optlen);
    if (s->len)
        memcpy(t + hlen, s->data, s->len);
    tcp_csum(w, t, hlen + s->len, w->peer, w->us);
    if (fuzzed && stats_mode)
        state_hits[state_for(w, s->sport, s->dport)]++;
    if ((s->flags & TCP_SYN) && s->sport == PPORT && s->dport == w->lport) {
        /* The MSS the stack may take from this SYN, parsed as the stack does
         * (an over-estimate is harmless: it only loosens the check). */
        uint32_t mss = TCP_DEFAULT_MSS;
        for (size_t i = 20; i < hlen;) {
            uint8_t kind = t[i];
            if (kind == TCP_OPT_EOL)
                break;
            if (kind == TCP_OPT_NOP) {
                i++;
                continue;
            }
            if (i + 1 >= hlen || t[i + 1] < 2 || i + t[i + 1] > hlen)
                break;
            if (kind == TCP_OPT_MSS && t[i + 1] == 4 && fz_get16(t + i + 2) > mss)
                mss = fz_get16(t + i + 2);
            i += t[i + 1];
        }
        if (mss > w->max_mss)
            w->max_mss = mss;
    }
    send_ip(w, 6, t, hlen + s->len);
}

/* What the stack sent: checked, and its sequence numbers tracked. */
static void drain(struct w *w)
{
    int n;
    while ((n = ustack_link_recv(w->lb, w->now, w->buf, sizeof w->buf)) > 0) {
        const uint8_t *f = w->buf;
        if ((size_t)n < 14 + 20 || fz_get16(f + 12) != 0x0800)
            continue;
        const uint8_t *ip = f + 14;
        size_t ihl = (size_t)(ip[0] & 15) * 4, tot = fz_get16(ip + 2);
        if (tot > 1500) {
            fprintf(stderr, "fuzz_tcp: the stack sent a %zu-byte IP datagram on a 1500-byte MTU\n", tot);
            abort();
        }
        if (ip[9] != 6 || (fz_get16(ip + 6) & 0x3fff) || tot > (size_t)n - 14 || tot < ihl + 20)
            continue; /* not TCP, or a fragment */
        const uint8_t *t = ip + ihl;
        size_t tlen = tot - ihl, thl = (size_t)(t[12] >> 4) * 4;
        uint32_t src, dst;
        memcpy(&src, ip + 12, 4);
        memcpy(&dst, ip + 16, 4);
        uint8_t ph[12];
        memcpy(ph, &src, 4);
        memcpy(ph + 4, &dst, 4);
        ph[8] = 0;
        ph[9] = 6;
        fz_put16(ph + 10, (uint16_t)tlen);
        if (fz_fold(fz_sum16(t, tlen, fz_sum16(ph, 12, 0))) != 0) {
            fprintf(stderr, "fuzz_tcp: the stack sent a TCP segment with a bad checksum\n");
            abort();
        }
        if (thl < 20 || thl > tlen) {
            fprintf(stderr, "fuzz_tcp: the stack sent a TCP segment with a bad data offset\n");
            abort();
        }
        if (fz_get16(t) != w->lport || fz_get16(t + 2) != PPORT)
            continue; /* another connection (fuzzer-chosen ports) */
        size_t payload = tlen - thl;
        /* A connection opened by a SYN cookie takes its MSS from the table
         * entry the cookie's index names, and the index is recovered
         * relative to the ACK's sequence number (as on Linux): a peer that
         * offsets it picks another entry, up to 1460 (then ours caps it). */
        uint32_t mss = w->max_mss;
        if (w->st->counters[CNT_tcp_syncookies_recv] && mss < 1460)
            mss = 1460;
        if (payload && mss && payload > (mss > 64 ? mss : 64)) {
            fprintf(stderr, "fuzz_tcp: the stack sent %zu bytes in one segment; the peer's MSS is %u\n", payload,
                    mss);
            abort();
        }
        uint32_t seq = fz_get32(t + 4), ack = fz_get32(t + 8);
        uint8_t fl = t[13];
        uint32_t end = seq + (uint32_t)(tlen - thl) + !!(fl & TCP_SYN) + !!(fl & TCP_FIN);
        if (fl & TCP_RST)
            continue;
        if (fl & TCP_SYN) {
            w->have_iss = true;
            w->st_iss = seq;
            w->st_max = end;
        } else if (w->have_iss && SEQ_GT(end, w->st_max)) {
            w->st_max = end;
        }
        if (fl & TCP_ACK) {
            w->have_ack = true;
            w->st_ack = ack;
        }
    }
}

/* Runs every timer due up to now + dt, one deadline at a time. */
static void run_for(struct w *w, ustack_time_t dt)
{
    ustack_time_t end = w->now + dt;
    for (unsigned i = 0; i < 100000; i++) {
        ustack_time_t d = ustack_next_deadline(w->st);
        if (d > end)
            break;
        if (d > w->now)
            w->now = d;
        ustack_poll(w->st, w->now);
        drain(w);
    }
    w->now = end;
    ustack_poll(w->st, w->now);
    drain(w);
}

/* A well-formed segment from the peer on the connection. */
static void peer_send(struct w *w, uint8_t flags, const uint8_t *data, size_t len, uint16_t wnd,
                      const uint8_t *opts, size_t optlen)
{
    struct seg s = {.sport = PPORT, .dport = w->lport, .seq = w->p_nxt, .flags = flags, .wnd = wnd,
                    .opts = opts, .optlen = optlen, .data = data, .len = len};
    if (flags & TCP_ACK)
        s.ack = w->st_max;
    send_seg(w, &s, false);
    w->p_nxt += (uint32_t)len + !!(flags & TCP_SYN) + !!(flags & TCP_FIN);
    drain(w);
}

static enum tcp_state conn_state(struct w *w)
{
    return state_for(w, PPORT, w->lport);
}

/* ------------------------------------------------------------ setup */

static int sock_opts(struct w *w, int s, unsigned v)
{
    int one = 1, small = 1024;
    if ((v & V_NODELAY) && us_setsockopt(w->st, s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one))
        return -1;
    if ((v & V_SMALLBUF) && (us_setsockopt(w->st, s, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) ||
                             us_setsockopt(w->st, s, SOL_SOCKET, SO_SNDBUF, &small, sizeof small)))
        return -1;
    return 0;
}

static void setup_abort(struct w *w, const char *what, enum tcp_state want)
{
    fprintf(stderr, "fuzz_tcp: setup did not reach %s (%s): state %s\n", tcp_state_name(want), what,
            tcp_state_name(conn_state(w)));
    abort();
}

static void expect_state(struct w *w, enum tcp_state want, const char *what)
{
    if (conn_state(w) != want)
        setup_abort(w, what, want);
}

/* Drives the connection to the scenario's state with well-formed segments. */
static void setup(struct w *w, enum scenario sc, unsigned v)
{
    static const uint8_t pdata[300] = {1, 2, 3, 4, 5, 6, 7, 8};
    /* MSS 100, SACK-permitted, timestamps (TSval 1000), NOP, window scale 7:
     * the stack then keeps a SACK scoreboard and checks PAWS, which the
     * fuzzed segments' raw options (SACK blocks, timestamps) exercise. */
    uint8_t mss_opt[20] = {TCP_OPT_MSS, 4, 0, 0, TCP_OPT_SACK_PERM, 2, TCP_OPT_TIMESTAMP, 10, 0, 0, 3, 0xe8,
                           0, 0, 0, 0, TCP_OPT_NOP, TCP_OPT_WSCALE, 3, 7};
    fz_put16(mss_opt + 2, 100);
    const uint8_t *opts = (v & V_MSS) ? mss_opt : NULL;
    size_t optlen = (v & V_MSS) ? sizeof mss_opt : 0;
    uint16_t wnd = 65535;
    w->p_iss = w->p_nxt = 0x7fffff00u; /* the peer's sequence numbers wrap soon */
    w->lport = LPORT;
    if (sc == SC_CLOSED)
        return;

    bool active = sc == SC_SYN_SENT || sc == SC_SYN_RCVD_SIM || sc == SC_EST_ACTIVE ||
                  (sc >= SC_FIN_WAIT_1 && (v & V_ACTIVE));
    struct sockaddr_in sin = {.sin_family = AF_INET};
    if (!active) {
        w->lsock = us_socket(w->st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        sin.sin_port = htons(LPORT);
        if (w->lsock < 0 || sock_opts(w, w->lsock, v) || us_bind(w->st, w->lsock, (struct sockaddr *)&sin, sizeof sin) ||
            us_listen(w->st, w->lsock, 2))
            setup_abort(w, "listen", TCPS_LISTEN);
        if (sc == SC_LISTEN)
            return;
        peer_send(w, TCP_SYN, NULL, 0, wnd, opts, optlen);
        expect_state(w, TCPS_SYN_RECEIVED, "SYN in");
        if (sc == SC_SYN_RCVD)
            return;
        peer_send(w, TCP_ACK, NULL, 0, wnd, NULL, 0);
        expect_state(w, TCPS_ESTABLISHED, "ACK of the SYN-ACK");
        if (sc != SC_EST_UNACCEPTED) {
            w->csock = us_accept(w->st, w->lsock, NULL, NULL, SOCK_NONBLOCK);
            if (w->csock < 0)
                setup_abort(w, "accept", TCPS_ESTABLISHED);
        }
    } else {
        w->lport = CPORT;
        w->csock = us_socket(w->st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        sin.sin_port = htons(CPORT);
        if (w->csock < 0 || sock_opts(w, w->csock, v) || us_bind(w->st, w->csock, (struct sockaddr *)&sin, sizeof sin))
            setup_abort(w, "bind", TCPS_SYN_SENT);
        sin.sin_port = htons(PPORT);
        sin.sin_addr.s_addr = w->peer;
        if (us_connect(w->st, w->csock, (struct sockaddr *)&sin, sizeof sin) != -1 || errno != EINPROGRESS)
            setup_abort(w, "connect", TCPS_SYN_SENT);
        drain(w);
        expect_state(w, TCPS_SYN_SENT, "connect");
        if (sc == SC_SYN_SENT)
            return;
        if (sc == SC_SYN_RCVD_SIM) {
            peer_send(w, TCP_SYN, NULL, 0, wnd, opts, optlen);
            expect_state(w, TCPS_SYN_RECEIVED, "simultaneous SYN");
            return;
        }
        peer_send(w, TCP_SYN | TCP_ACK, NULL, 0, wnd, opts, optlen);
        expect_state(w, TCPS_ESTABLISHED, "SYN-ACK in");
    }
    if (sc == SC_EST_UNACCEPTED)
        return;

    /* ESTABLISHED, held by w->csock. Optional data both ways. */
    if (v & V_APP_DATA)
        peer_send(w, TCP_ACK | TCP_PSH, pdata, sizeof pdata, wnd, NULL, 0);
    if (v & V_OOO) {
        /* 100 bytes beyond a 50-byte hole: held out of order. */
        struct seg s = {.sport = PPORT, .dport = w->lport, .seq = w->p_nxt + 50, .ack = w->st_max,
                        .flags = TCP_ACK, .wnd = wnd, .data = pdata, .len = 100};
        send_seg(w, &s, false);
        drain(w);
    }
    if (v & V_STACK_DATA) {
        static uint8_t sdata[3000];
        if (us_send(w->st, w->csock, sdata, sizeof sdata, 0) <= 0)
            setup_abort(w, "send", TCPS_ESTABLISHED);
        drain(w);
    }
    if (v & V_ZERO_WND) {
        /* Acknowledge nothing new, close the window. */
        struct seg s = {.sport = PPORT, .dport = w->lport, .seq = w->p_nxt, .ack = w->st_iss + 1,
                        .flags = TCP_ACK, .wnd = 0};
        send_seg(w, &s, false);
        drain(w);
    }
    expect_state(w, TCPS_ESTABLISHED, "data");
    if (sc == SC_EST_PASSIVE || sc == SC_EST_ACTIVE)
        return;

    if (sc == SC_CLOSE_WAIT || sc == SC_LAST_ACK) {
        peer_send(w, TCP_FIN | TCP_ACK, NULL, 0, wnd, NULL, 0);
        expect_state(w, TCPS_CLOSE_WAIT, "FIN in");
        if (sc == SC_CLOSE_WAIT)
            return;
        if (us_shutdown(w->st, w->csock, SHUT_WR))
            setup_abort(w, "shutdown", TCPS_LAST_ACK);
        drain(w);
        expect_state(w, TCPS_LAST_ACK, "shutdown in CLOSE-WAIT");
        return;
    }

    /* We close first. */
    if (sc == SC_FIN_WAIT_2_ORPHAN) {
        /* Only a socket with nothing unread closes gracefully. */
        uint8_t b[4096];
        while (us_recv(w->st, w->csock, b, sizeof b, 0) > 0) {}
        us_close(w->st, w->csock);
        w->csock = -1;
    } else if (us_shutdown(w->st, w->csock, SHUT_WR)) {
        setup_abort(w, "shutdown", TCPS_FIN_WAIT_1);
    }
    drain(w);
    expect_state(w, TCPS_FIN_WAIT_1, "shutdown");
    if (sc == SC_FIN_WAIT_1)
        return;
    if (sc == SC_CLOSING) {
        /* Their FIN not acknowledged, ours crosses it. */
        struct seg s = {.sport = PPORT, .dport = w->lport, .seq = w->p_nxt, .ack = w->st_max - 1,
                        .flags = TCP_FIN | TCP_ACK, .wnd = wnd};
        send_seg(w, &s, false);
        w->p_nxt++;
        drain(w);
        expect_state(w, TCPS_CLOSING, "simultaneous close");
        return;
    }
    /* Acknowledge everything until the FIN is out and acknowledged (data
     * still queued goes first, as the window and cwnd allow). */
    for (int i = 0; i < 100 && conn_state(w) == TCPS_FIN_WAIT_1; i++) {
        peer_send(w, TCP_ACK, NULL, 0, wnd, NULL, 0);
        if (conn_state(w) == TCPS_FIN_WAIT_1)
            run_for(w, USTACK_MS(250));
    }
    expect_state(w, TCPS_FIN_WAIT_2, "ACK of the FIN");
    if (sc == SC_FIN_WAIT_2 || sc == SC_FIN_WAIT_2_ORPHAN)
        return;
    peer_send(w, TCP_FIN | TCP_ACK, NULL, 0, wnd, NULL, 0);
    expect_state(w, TCPS_TIME_WAIT, "FIN in FIN-WAIT-2");
}

/* ------------------------------------------------------------ ops */

enum op {
    OP_SEG,          /* a fuzzed segment */
    OP_SEG2,         /* the same, more likely */
    OP_DATA,         /* a well-formed in-order data segment */
    OP_ACK_ALL,      /* a well-formed ACK of everything the stack sent */
    OP_TIME,
    OP_SEND,
    OP_RECV,
    OP_SHUTDOWN,
    OP_CLOSE,
    OP_ACCEPT,
    OP_OPT,
    OP_ICMP,
    OP_COUNT
};

static void op_seg(struct w *w, struct in *in)
{
    static uint8_t payload[4096];
    uint8_t flags = rd8(in);
    uint8_t mode = rd8(in);
    int16_t dseq = (int16_t)rd16_in(in);
    int16_t dack = (int16_t)rd16_in(in);
    struct seg s = {.sport = PPORT, .dport = w->lport, .flags = flags};
    uint32_t rcv = w->have_ack ? w->st_ack : w->p_nxt;
    switch (mode & 3) {
    case 0: s.seq = rcv; break;
    case 1: s.seq = rcv + (uint32_t)(int32_t)dseq; break;
    case 2: s.seq = w->p_nxt + (uint32_t)(int32_t)dseq; break;
    case 3: s.seq = rd32_in(in); break;
    }
    switch ((mode >> 2) & 3) {
    case 0: s.ack = w->st_max; break;
    case 1: s.ack = w->st_max + (uint32_t)(int32_t)dack; break;
    case 2: s.ack = w->st_iss + 1 + (uint32_t)(int32_t)dack; break;
    case 3: s.ack = rd32_in(in); break;
    }
    s.wnd = (mode & 0x10) ? rd16_in(in) : 65535;
    if (mode & 0x20) { /* raw options */
        static uint8_t opts[40];
        size_t n = rd8(in) % 41;
        for (size_t i = 0; i < n; i++)
            opts[i] = rd8(in);
        s.opts = opts;
        s.optlen = n;
    }
    if (mode & 0x40) { /* payload: length, then bytes from the input (pattern when it runs out) */
        size_t n = rd16_in(in) % sizeof payload;
        for (size_t i = 0; i < n; i++)
            payload[i] = in->off < in->n ? rd8(in) : (uint8_t)i;
        s.data = payload;
        s.len = n;
    }
    if (mode & 0x80) { /* other ports: new connections, closed ports */
        uint8_t p = rd8(in);
        s.sport = (p & 1) ? (uint16_t)(PPORT + 1 + (p >> 4)) : PPORT;
        s.dport = (p & 2) ? (p & 4 ? LPORT : CPORT) : (p & 8) ? (uint16_t)(1 + (p >> 4)) : w->lport;
    }
    if (flags & TCP_URG)
        s.urg = rd16_in(in);
    send_seg(w, &s, true);
    drain(w);
}

static void op_icmp(struct w *w, struct in *in)
{
    /* Destination/port/host unreachable, fragmentation needed, TTL exceeded:
     * quoting a segment of ours on the connection. */
    static const uint8_t kinds[][2] = {{3, 0}, {3, 1}, {3, 2}, {3, 3}, {3, 4}, {3, 13}, {11, 0}, {12, 0}, {4, 0}};
    uint8_t k = rd8(in) % (sizeof kinds / sizeof kinds[0]);
    uint8_t d[8 + 20 + 8];
    memset(d, 0, sizeof d);
    d[0] = kinds[k][0];
    d[1] = kinds[k][1];
    if (d[0] == 3 && d[1] == 4)
        fz_put16(d + 6, (uint16_t)(rd16_in(in) | 68));
    uint8_t *ip = d + 8;
    ip[0] = 0x45;
    fz_put16(ip + 2, 40);
    ip[8] = 64;
    ip[9] = 6;
    memcpy(ip + 12, &w->us, 4);
    memcpy(ip + 16, &w->peer, 4);
    fz_put16(ip + 10, fz_fold(fz_sum16(ip, 20, 0)));
    uint8_t *t = ip + 20;
    fz_put16(t, w->lport);
    fz_put16(t + 2, PPORT);
    fz_put32(t + 4, (rd8(in) & 1) ? rd32_in(in) : w->st_max - 1);
    fz_put16(d + 2, fz_fold(fz_sum16(d, sizeof d, 0)));
    send_ip(w, 1, d, sizeof d);
    drain(w);
}

static void op_app(struct w *w, enum op op, struct in *in)
{
    static uint8_t b[16384];
    uint8_t a = rd8(in);
    int s = w->csock;
    switch (op) {
    case OP_SEND:
        if (s >= 0)
            us_send(w->st, s, b, (size_t)(a + 1) * 64, 0);
        break;
    case OP_RECV:
        if (s >= 0)
            us_recv(w->st, s, b, (size_t)(a + 1) * 64, (a & 1) ? MSG_PEEK : 0);
        break;
    case OP_SHUTDOWN:
        if (s >= 0)
            us_shutdown(w->st, s, a % 3 == 0 ? SHUT_RD : a % 3 == 1 ? SHUT_WR : SHUT_RDWR);
        break;
    case OP_CLOSE:
        if ((a & 1) && w->lsock >= 0) {
            us_close(w->st, w->lsock);
            w->lsock = -1;
        } else if (s >= 0) {
            if (a & 2) { /* abortive: SO_LINGER 0 */
                struct linger l = {.l_onoff = 1, .l_linger = 0};
                us_setsockopt(w->st, s, SOL_SOCKET, SO_LINGER, &l, sizeof l);
            }
            us_close(w->st, s);
            w->csock = -1;
        }
        break;
    case OP_ACCEPT:
        if (w->lsock >= 0) {
            int c = us_accept(w->st, w->lsock, NULL, NULL, SOCK_NONBLOCK);
            if (c >= 0) {
                if (w->csock < 0 && w->lport == LPORT)
                    w->csock = c;
                else
                    us_close(w->st, c);
            }
        }
        break;
    case OP_OPT:
        if (s >= 0) {
            int v = a & 1;
            switch ((a >> 1) & 3) {
            case 0: us_setsockopt(w->st, s, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v); break;
            case 1: {
                int idle = 1 + (a >> 4), cnt = 1 + (a >> 6);
                us_setsockopt(w->st, s, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
                us_setsockopt(w->st, s, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle);
                us_setsockopt(w->st, s, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
                us_setsockopt(w->st, s, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v);
                break;
            }
            case 2: {
                int err;
                socklen_t len = sizeof err;
                us_getsockopt(w->st, s, SOL_SOCKET, SO_ERROR, &err, &len);
                break;
            }
            default: {
                struct pollfd p = {.fd = s, .events = POLLIN | POLLOUT};
                us_poll(w->st, &p, 1, 0);
                break;
            }
            }
        }
        break;
    default:
        break;
    }
    drain(w);
}

static void op_time(struct w *w, struct in *in)
{
    static const ustack_time_t steps[16] = {
        USTACK_MS(1),   USTACK_MS(10),  USTACK_MS(40),  USTACK_MS(100), USTACK_MS(199), USTACK_MS(201),
        USTACK_MS(500), USTACK_SEC(1),  USTACK_SEC(3),  USTACK_SEC(10), USTACK_SEC(30), USTACK_SEC(59),
        USTACK_SEC(61), USTACK_SEC(121), USTACK_SEC(600), USTACK_SEC(7200),
    };
    run_for(w, steps[rd8(in) & 15]);
}

/* ------------------------------------------------------------ stats */

static void print_stats(void)
{
    static const char *names[] = {"CLOSED", "LISTEN", "SYN-SENT", "SYN-RECEIVED", "ESTABLISHED", "FIN-WAIT-1",
                                  "FIN-WAIT-2", "CLOSE-WAIT", "CLOSING", "LAST-ACK", "TIME-WAIT"};
    int missing = 0;
    fprintf(stderr, "fuzz_tcp: fuzzed segments by the state they met:\n");
    for (int i = 0; i <= TCPS_TIME_WAIT; i++) {
        fprintf(stderr, "  %-13s %llu\n", names[i], (unsigned long long)state_hits[i]);
        missing += state_hits[i] == 0;
    }
    if (stats_mode == 2) {
        if (missing) {
            fprintf(stderr, "fuzz_tcp: %d state(s) never reached\n", missing);
            _exit(1);
        }
        fprintf(stderr, "fuzz_tcp: every state reached\n");
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *e = getenv("FUZZ_TCP_STATES");
    if (e && *e) {
        stats_mode = strcmp(e, "require") == 0 ? 2 : 1;
        atexit(print_stats);
    }
    return 0;
}

/* ------------------------------------------------------------ the target */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct w world;
    struct w *w = &world;
    memset(w, 0, sizeof *w);
    w->lsock = w->csock = -1;
    if (ustack_link_mem_pair(&w->la, &w->lb) < 0)
        return 0;
    struct ustack_config cfg;
    ustack_config_default(&cfg);
    ustack_ip_parse("10.0.0.2", &cfg.addr, NULL);
    ustack_ip_parse("10.0.0.1", &w->peer, NULL);
    w->us = cfg.addr;
    memcpy(cfg.mac, US_MAC, 6);
    cfg.arp_gratuitous = 0;
    cfg.random_seed = 1;
    /* 96 KiB buffers instead of the default 256 KiB: still more than a
     * 16-bit window, so window scaling is in play, but under ASan's
     * allocation size for mapped chunks (128 KiB), which cost a mapping
     * and page faults per buffer, per connection, per input. */
    cfg.tcp.sndbuf = cfg.tcp.rcvbuf = 96 * 1024;
    /* ARP stays resolved for the whole run, whatever time passes. */
    cfg.arp_reachable_us = USTACK_SEC(1000000);
    cfg.arp_stale_gc_us = USTACK_SEC(1000000);
    w->st = ustack_create(&cfg, w->la);
    if (!w->st)
        abort();
    w->now = USTACK_SEC(1);
    ustack_poll(w->st, w->now);

    /* The peer's MAC: an ARP request from it teaches the stack. */
    uint8_t arp[42] = {0};
    memcpy(arp, US_MAC, 6);
    memcpy(arp + 6, PEER_MAC, 6);
    fz_put16(arp + 12, 0x0806);
    fz_put16(arp + 14, 1);
    fz_put16(arp + 16, 0x0800);
    arp[18] = 6;
    arp[19] = 4;
    fz_put16(arp + 20, 1);
    memcpy(arp + 22, PEER_MAC, 6);
    memcpy(arp + 28, &w->peer, 4);
    memcpy(arp + 38, &w->us, 4);
    ustack_input(w->st, arp, sizeof arp);
    drain(w);

    struct in in = {.p = data, .n = size};
    enum scenario sc = (enum scenario)(rd8(&in) % SC_COUNT);
    unsigned v = rd8(&in);
    setup(w, sc, v);

    while (in.off < in.n) {
        enum op op = (enum op)(rd8(&in) % OP_COUNT);
        switch (op) {
        case OP_SEG:
        case OP_SEG2: op_seg(w, &in); break;
        case OP_DATA: {
            static uint8_t d[2048];
            size_t n = (size_t)rd8(&in) * 8;
            peer_send(w, TCP_ACK | (n ? TCP_PSH : 0), d, n, 65535, NULL, 0);
            break;
        }
        case OP_ACK_ALL: {
            if (w->have_ack)
                w->p_nxt = w->st_ack;
            peer_send(w, TCP_ACK, NULL, 0, 65535, NULL, 0);
            break;
        }
        case OP_TIME: op_time(w, &in); break;
        case OP_ICMP: op_icmp(w, &in); break;
        default: op_app(w, op, &in); break;
        }
    }

    /* Everything closed, every timer run out: nothing may be left. */
    if (w->csock >= 0)
        us_close(w->st, w->csock);
    if (w->lsock >= 0)
        us_close(w->st, w->lsock);
    for (int i = 0; i < 8; i++)
        run_for(w, USTACK_SEC(900));
    struct ustack_usage u;
    ustack_get_usage(w->st, &u);
    if (u.tcp_connections || u.sockets || u.pbufs) {
        fprintf(stderr, "fuzz_tcp: left after closing everything and 2 hours: %zu TCBs, %zu sockets, %zu pbufs\n",
                u.tcp_connections, u.sockets, u.pbufs);
        abort();
    }
    ustack_destroy(w->st);
    ustack_link_close(w->la);
    ustack_link_close(w->lb);
    return 0;
}
