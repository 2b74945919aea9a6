/*
 * SYN cookies (RFC 4987 3.6) and the engine's resource limits, scripted
 * with the TCP fixture (tcp_fixture.h): a full SYN queue answered with a
 * cookie and no TCB, the ACK that returns it making the connection (the
 * options the timestamp carried, the MSS rounded down to the table, data on
 * the ACK delivered), forged, misdirected and stale cookies counted and
 * reset, tcp.syncookies 0, 1 and 2 and the per-socket switch, the accept
 * queue overflowing (dropped, or reset with tcp.abort_on_overflow), and
 * tcp.max_half_open and tcp.max_connections biting while a connection
 * already open carries on. Every test ends with the fixture's leak check.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <ustack/socket.h>
#include <ustack/trace.h>
#include "tcp_fixture.h"

#define PEER_ISN 7000u
#define TS_OPT_MASK 0x3fu /* the low TSval bits a cookie's options take */

/* A stack with this SYN-cookie mode and a SYN queue of two. */
static void restart_cookies(unsigned mode)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.syncookies = mode;
    c.syn_backlog = 2;
    fx_restart(&c);
}

static struct tcb *listen_on(uint16_t port, unsigned backlog)
{
    int err;
    struct tcb *l = tcp_listen(T.ts, 0, port, backlog, NULL, &err);
    ck_assert_ptr_nonnull(l);
    return l;
}

/* Two SYNs from ports 1000 and 1001 fill the SYN queue (syn_backlog 2);
 * their SYN-ACKs are taken off the wire. */
static void fill_syn_queue(struct tcb *l)
{
    for (uint16_t i = 0; i < 2; i++) {
        INJECT(.sport = (uint16_t)(1000 + i), .seq = 100, .flags = TCP_SYN, .mss = 1460);
        EXPECT(TCP_SYN | TCP_ACK, ANY, 101, 0);
    }
    ck_assert_uint_eq(l->synq_len, 2);
}

/* The peer's SYN from PPORT, answered with a cookie: no TCB is made. */
static struct outseg cookie_syn(struct segspec syn)
{
    size_t tcbs = tcp_tcb_count(T.ts);
    uint64_t sent = CNT(tcp_syncookies_sent);
    fx_inject(syn);
    struct outseg o = EXPECT(TCP_SYN | TCP_ACK, ANY, syn.seq + 1, 0);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), tcbs);
    ck_assert_uint_eq(CNT(tcp_syncookies_sent), sent + 1);
    return o;
}

/* ------------------------------------------------------------ cookies */

START_TEST(full_syn_queue_answers_with_a_cookie_and_the_ack_makes_the_connection)
{
    restart_cookies(1);
    struct tcb *l = listen_on(LPORT, 8);
    fill_syn_queue(l);
    size_t tcbs = tcp_tcb_count(T.ts);
    struct outseg sa = cookie_syn((struct segspec){.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460});
    ck_assert_int_eq(sa.mss, 1460); /* our MSS, as any SYN-ACK */
    ck_assert_int_eq(sa.ws, -1);
    ck_assert(!sa.sackok && !sa.ts);
    ck_assert_uint_eq(CNT(tcp_drop_syn_queue_full), 0);
    ck_assert_uint_eq(l->synq_len, 2);
    fx_advance(USTACK_MS(10));
    INJECT(.seq = PEER_ISN + 1, .ack = sa.seq + 1, .flags = TCP_ACK, .wnd = 30000);
    EXPECT_NONE();
    ck_assert_uint_eq(tcp_tcb_count(T.ts), tcbs + 1);
    ck_assert_uint_eq(CNT(tcp_syncookies_recv), 1);
    ck_assert_uint_eq(CNT(tcp_syncookies_failed), 0);
    ck_assert_uint_eq(l->acceptq_len, 1);
    ck_assert_uint_eq(l->synq_len, 2); /* the two children still wait */
    struct tcb *c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->state, TCPS_ESTABLISHED);
    ck_assert_uint_eq(c->rport, PPORT);
    ck_assert_uint_eq(c->iss, sa.seq);
    ck_assert_uint_eq(c->rcv_nxt, PEER_ISN + 1);
    ck_assert_uint_eq(c->mss, 1460);
    ck_assert_uint_eq(c->snd_wnd, 30000);
    ck_assert_uint_eq(c->tflags & (TF_WS_OK | TF_SACK_OK | TF_TS_OK), 0);
    /* It carries data like any connection. */
    ck_assert_int_eq(tcp_write(c, "hello", 5), 5);
    EXPECT(TCP_ACK | TCP_PSH, sa.seq + 1, PEER_ISN + 1, 5);
    INJECT(.seq = PEER_ISN + 1, .ack = sa.seq + 6, .flags = TCP_ACK, .data = "world", .len = 5);
    char buf[8];
    ck_assert_int_eq(tcp_read(c, buf, sizeof buf), 5);
    ck_assert_mem_eq(buf, "world", 5);
    tcp_abort(c);
    fx_drain();
    tcp_close(l);
}
END_TEST

START_TEST(the_timestamp_carries_window_scale_sack_and_the_mss_rounds_down)
{
    restart_cookies(1);
    struct tcb *l = listen_on(LPORT, 8);
    fill_syn_queue(l);
    struct outseg sa = cookie_syn((struct segspec){.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1400, .has_ws = true,
                                                   .ws = 7, .sackok = true, .ts = true, .tsval = 1000});
    ck_assert(sa.ts && sa.sackok);
    ck_assert_int_ge(sa.ws, 0);
    ck_assert_uint_eq(sa.tsecr, 1000);
    ck_assert_uint_eq(sa.tsval & TS_OPT_MASK, 7u | 0x10u); /* shift 7, SACK-permitted */
    fx_advance(USTACK_MS(20));
    INJECT(.seq = PEER_ISN + 1, .ack = sa.seq + 1, .flags = TCP_ACK, .wnd = 1000, .ts = true, .tsval = 1020,
           .tsecr = sa.tsval);
    struct tcb *c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->tflags & (TF_WS_OK | TF_SACK_OK | TF_TS_OK), TF_WS_OK | TF_SACK_OK | TF_TS_OK);
    ck_assert_uint_eq(c->snd_wscale, 7);
    ck_assert_uint_eq(c->rcv_wscale, (unsigned)sa.ws);
    ck_assert_uint_eq(c->snd_wnd, 1000u << 7);
    ck_assert_uint_eq(c->mss, 1300 - 12); /* 1400 rounds down to 1300; less the timestamps */
    ck_assert_uint_eq(c->ts_recent, 1020);
    /* Our clock goes on from the cookie's TSval, never behind it. */
    ck_assert_int_eq(tcp_write(c, "x", 1), 1);
    struct outseg d = EXPECT(TCP_ACK | TCP_PSH, sa.seq + 1, PEER_ISN + 1, 1);
    ck_assert(d.ts);
    ck_assert_uint_eq(d.tsecr, 1020);
    ck_assert_int_ge((int32_t)(d.tsval - sa.tsval), 20);
    ck_assert_int_lt((int32_t)(d.tsval - sa.tsval), 20 + 64);
    /* The window it offers is scaled by the shift the SYN-ACK announced. */
    ck_assert_uint_eq((uint32_t)d.wnd << sa.ws, c->rcv_adv - c->rcv_nxt);
    tcp_abort(c);
    fx_drain();
    tcp_close(l);
}
END_TEST

START_TEST(without_timestamps_a_cookie_connection_has_no_window_scale_or_sack)
{
    restart_cookies(1);
    struct tcb *l = listen_on(LPORT, 8);
    fill_syn_queue(l);
    struct outseg sa = cookie_syn((struct segspec){.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1450, .has_ws = true,
                                                   .ws = 7, .sackok = true});
    ck_assert_int_eq(sa.ws, -1);
    ck_assert(!sa.sackok && !sa.ts);
    ck_assert_uint_eq(sa.wnd, 65535); /* the 256 KiB buffer, as far as an unscaled field goes */
    INJECT(.seq = PEER_ISN + 1, .ack = sa.seq + 1, .flags = TCP_ACK, .wnd = 1000);
    struct tcb *c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->tflags & (TF_WS_OK | TF_SACK_OK | TF_TS_OK), 0);
    ck_assert_uint_eq(c->snd_wscale, 0);
    ck_assert_uint_eq(c->rcv_wscale, 0);
    ck_assert_uint_eq(c->snd_wnd, 1000); /* unscaled */
    ck_assert_uint_eq(c->mss, 1440);     /* 1450 rounds down to 1440 */
    tcp_abort(c);
    fx_drain();
    tcp_close(l);
}
END_TEST

START_TEST(a_small_mss_takes_the_smallest_entry)
{
    restart_cookies(2);
    struct tcb *l = listen_on(LPORT, 8);
    struct outseg sa = cookie_syn((struct segspec){.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1299});
    INJECT(.seq = PEER_ISN + 1, .ack = sa.seq + 1, .flags = TCP_ACK);
    struct tcb *c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->mss, 536);
    tcp_abort(c);
    fx_drain();
    /* No MSS option: 536 (RFC 9293 3.7.1) is in the table. */
    sa = cookie_syn((struct segspec){.sport = 1234, .seq = PEER_ISN, .flags = TCP_SYN});
    INJECT(.sport = 1234, .seq = PEER_ISN + 1, .ack = sa.seq + 1, .flags = TCP_ACK);
    c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(c->mss, 536);
    tcp_abort(c);
    fx_drain();
    tcp_close(l);
}
END_TEST

START_TEST(data_on_the_cookie_ack_is_delivered)
{
    restart_cookies(1);
    struct tcb *l = listen_on(LPORT, 8);
    fill_syn_queue(l);
    struct outseg sa = cookie_syn((struct segspec){.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460});
    INJECT(.seq = PEER_ISN + 1, .ack = sa.seq + 1, .flags = TCP_ACK | TCP_PSH, .data = "GET / HTTP/1.0\r\n\r\n",
           .len = 18);
    struct tcb *c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(tcp_readable_bytes(c), 18);
    char buf[32];
    ck_assert_int_eq(tcp_read(c, buf, sizeof buf), 18);
    ck_assert_mem_eq(buf, "GET / HTTP/1.0\r\n\r\n", 18);
    ck_assert_uint_eq(c->rcv_nxt, PEER_ISN + 19);
    fx_advance(USTACK_MS(40)); /* the delayed ACK */
    EXPECT(TCP_ACK, sa.seq + 1, PEER_ISN + 19, 0);
    /* A FIN on it too: the connection is then in CLOSE-WAIT. */
    sa = cookie_syn((struct segspec){.sport = 1234, .seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460});
    INJECT(.sport = 1234, .seq = PEER_ISN + 1, .ack = sa.seq + 1, .flags = TCP_ACK | TCP_FIN, .data = "bye",
           .len = 3);
    EXPECT(TCP_ACK, sa.seq + 1, PEER_ISN + 5, 0);
    struct tcb *c2 = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c2);
    ck_assert_int_eq(c2->state, TCPS_CLOSE_WAIT);
    ck_assert_uint_eq(tcp_readable_bytes(c2), 3);
    tcp_abort(c2);
    tcp_abort(c);
    fx_drain();
    tcp_close(l);
}
END_TEST

START_TEST(forged_misdirected_and_stale_cookies_are_counted_and_reset)
{
    restart_cookies(1);
    struct tcb *l = listen_on(LPORT, 8);
    fill_syn_queue(l);
    size_t tcbs = tcp_tcb_count(T.ts);
    struct outseg sa = cookie_syn((struct segspec){.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460});
    /* A wrong cookie. */
    INJECT(.seq = PEER_ISN + 1, .ack = sa.seq + 1 + 0x1000, .flags = TCP_ACK);
    EXPECT(TCP_RST, sa.seq + 1 + 0x1000, 0, 0);
    ck_assert_uint_eq(CNT(tcp_syncookies_failed), 1);
    /* The right cookie for another 4-tuple, or another sequence number. */
    INJECT(.sport = PPORT + 1, .seq = PEER_ISN + 1, .ack = sa.seq + 1, .flags = TCP_ACK);
    EXPECT(TCP_RST, sa.seq + 1, 0, 0);
    INJECT(.seq = PEER_ISN + 1 + 0x1000, .ack = sa.seq + 1, .flags = TCP_ACK);
    EXPECT(TCP_RST, sa.seq + 1, 0, 0);
    ck_assert_uint_eq(CNT(tcp_syncookies_failed), 3);
    ck_assert_uint_eq(CNT(tcp_listen_ack_rst), 3);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), tcbs);
    /* Two counter periods on, the cookie is stale. Its queue's children
     * have been given up meanwhile; new SYNs fill the queue again and keep
     * cookies coming, so ACKs are still checked for one. */
    fx_run_for(USTACK_SEC(130));
    fx_drain();
    ck_assert_uint_eq(l->synq_len, 0);
    fill_syn_queue(l);
    cookie_syn((struct segspec){.sport = 2001, .seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460});
    INJECT(.seq = PEER_ISN + 1, .ack = sa.seq + 1, .flags = TCP_ACK);
    EXPECT(TCP_RST, sa.seq + 1, 0, 0);
    ck_assert_uint_eq(CNT(tcp_syncookies_failed), 4);
    ck_assert_uint_eq(CNT(tcp_syncookies_recv), 0);
    ck_assert_uint_eq(l->acceptq_len, 0);
    tcp_close(l);
}
END_TEST

START_TEST(a_cookie_stays_valid_for_one_more_counter_period)
{
    restart_cookies(2);
    struct tcb *l = listen_on(LPORT, 8);
    struct outseg sa = cookie_syn((struct segspec){.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460});
    fx_advance(USTACK_SEC(64)); /* the clock started at 100 s: period 1, now 2 */
    INJECT(.seq = PEER_ISN + 1, .ack = sa.seq + 1, .flags = TCP_ACK);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_syncookies_recv), 1);
    struct tcb *c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    tcp_abort(c);
    fx_drain();
    tcp_close(l);
}
END_TEST

START_TEST(an_ack_with_no_cookie_sent_lately_is_reset_without_a_check)
{
    restart_cookies(1);
    struct tcb *l = listen_on(LPORT, 8);
    INJECT(.seq = PEER_ISN + 1, .ack = 12345, .flags = TCP_ACK);
    EXPECT(TCP_RST, 12345, 0, 0);
    ck_assert_uint_eq(CNT(tcp_listen_ack_rst), 1);
    ck_assert_uint_eq(CNT(tcp_syncookies_failed), 0);
    tcp_close(l);
}
END_TEST

START_TEST(syncookies_2_answers_every_syn_with_a_cookie)
{
    restart_cookies(2);
    struct tcb *l = listen_on(LPORT, 8);
    struct outseg sa = cookie_syn((struct segspec){.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460});
    ck_assert_uint_eq(l->synq_len, 0);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 1);
    ck_assert_uint_eq(CNT(tcp_passive_opens), 0);
    INJECT(.seq = PEER_ISN + 1, .ack = sa.seq + 1, .flags = TCP_ACK);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 2);
    ck_assert_uint_eq(CNT(tcp_passive_opens), 1);
    ck_assert_uint_eq(CNT(tcp_established), 1);
    struct tcb *c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    /* A cookie SYN-ACK is never retransmitted: nothing is kept to do it. */
    fx_run_for(USTACK_SEC(10));
    EXPECT_NONE();
    tcp_abort(c);
    fx_drain();
    tcp_close(l);
}
END_TEST

START_TEST(syncookies_0_drops_as_before)
{
    restart_cookies(0);
    struct tcb *l = listen_on(LPORT, 8);
    fill_syn_queue(l);
    INJECT(.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_drop_syn_queue_full), 1);
    ck_assert_uint_eq(CNT(tcp_syncookies_sent), 0);
    tcp_close(l);
}
END_TEST

START_TEST(the_listener_option_overrides_the_stack)
{
    restart_cookies(0);
    struct tcb *l = listen_on(LPORT, 8);
    FX_SET_OPT(l, syncookies, 2);
    cookie_syn((struct segspec){.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460});
    FX_SET_OPT(l, syncookies, 0);
    INJECT(.sport = 1234, .seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460);
    EXPECT(TCP_SYN | TCP_ACK, ANY, PEER_ISN + 1, 0);
    ck_assert_uint_eq(l->synq_len, 1);
    tcp_close(l);
}
END_TEST

START_TEST(the_socket_option_reads_and_sets_the_mode)
{
    int s = us_socket(T.st, AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    int v = -1;
    socklen_t len = sizeof v;
    ck_assert_int_eq(us_getsockopt(T.st, s, IPPROTO_TCP, USTACK_TCP_SYNCOOKIES, &v, &len), 0);
    ck_assert_int_eq(v, 1); /* the config's default */
    v = 2;
    ck_assert_int_eq(us_setsockopt(T.st, s, IPPROTO_TCP, USTACK_TCP_SYNCOOKIES, &v, sizeof v), 0);
    v = 3;
    ck_assert_int_eq(us_setsockopt(T.st, s, IPPROTO_TCP, USTACK_TCP_SYNCOOKIES, &v, sizeof v), -1);
    ck_assert_int_eq(errno, EINVAL);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(LPORT)};
    ck_assert_int_eq(us_bind(T.st, s, (struct sockaddr *)&sin, sizeof sin), 0);
    ck_assert_int_eq(us_listen(T.st, s, 8), 0);
    len = sizeof v;
    ck_assert_int_eq(us_getsockopt(T.st, s, IPPROTO_TCP, USTACK_TCP_SYNCOOKIES, &v, &len), 0);
    ck_assert_int_eq(v, 2);
    cookie_syn((struct segspec){.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460});
    ck_assert_int_eq(us_close(T.st, s), 0);
}
END_TEST

START_TEST(the_config_refuses_bad_values)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    ck_assert_uint_eq(c.syncookies, 1);
    ck_assert(!c.abort_on_overflow);
    ck_assert_uint_eq(c.max_half_open, 1024);
    ck_assert_uint_eq(c.max_connections, 16384);
    ck_assert_int_eq(tcp_config_check(&c), 0);
    c.syncookies = 3;
    ck_assert_int_eq(tcp_config_check(&c), -EINVAL);
    tcp_config_default(&c);
    c.max_half_open = 0;
    ck_assert_int_eq(tcp_config_check(&c), -EINVAL);
    tcp_config_default(&c);
    c.max_connections = 0;
    ck_assert_int_eq(tcp_config_check(&c), -EINVAL);
}
END_TEST

struct events {
    unsigned sent, recv, failed;
    int64_t mss;
};

static void on_trace(void *ctx, const struct ustack_trace_event *ev)
{
    struct events *e = ctx;
    if (!strcmp(ev->name, "syncookie_sent")) {
        e->sent++;
        ck_assert_uint_eq(ev->lport, LPORT);
        ck_assert_uint_eq(ev->rport, PPORT);
        ck_assert_str_eq(ev->ints[1].key, "mss");
        e->mss = ev->ints[1].value;
    } else if (!strcmp(ev->name, "syncookie_recv")) {
        e->recv++;
    } else if (!strcmp(ev->name, "syncookie_failed")) {
        e->failed++;
        ck_assert_str_eq(ev->ints[0].key, "bad");
    }
}

START_TEST(cookies_are_traced)
{
    restart_cookies(2);
    struct events e = {0};
    ustack_set_trace(T.st, on_trace, &e, 1);
    struct tcb *l = listen_on(LPORT, 8);
    struct outseg sa = cookie_syn((struct segspec){.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1445});
    INJECT(.seq = PEER_ISN + 1, .ack = sa.seq + 1 + 0x1000, .flags = TCP_ACK);
    EXPECT(TCP_RST, ANY, 0, 0);
    INJECT(.seq = PEER_ISN + 1, .ack = sa.seq + 1, .flags = TCP_ACK);
    ck_assert_uint_eq(e.sent, 1);
    ck_assert_int_eq(e.mss, 1440);
    ck_assert_uint_eq(e.failed, 1);
    ck_assert_uint_eq(e.recv, 1);
    ustack_set_trace(T.st, NULL, NULL, 0);
    struct tcb *c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    tcp_abort(c);
    fx_drain();
    tcp_close(l);
}
END_TEST

/* --------------------------------------------------- the accept queue */

/* Listener with backlog 2 and two children in SYN-RECEIVED after one
 * connection reached the accept queue; then the second fills it. Returns
 * the third child's SYN-ACK (port 1002). */
static struct outseg third_child_behind_a_full_accept_queue(struct tcb *l)
{
    struct outseg o[3];
    for (uint16_t i = 0; i < 2; i++) {
        INJECT(.sport = (uint16_t)(1000 + i), .seq = 100, .flags = TCP_SYN, .mss = 1460);
        o[i] = EXPECT(TCP_SYN | TCP_ACK, ANY, 101, 0);
    }
    INJECT(.sport = 1000, .seq = 101, .ack = o[0].seq + 1, .flags = TCP_ACK);
    INJECT(.sport = 1002, .seq = 100, .flags = TCP_SYN, .mss = 1460);
    o[2] = EXPECT(TCP_SYN | TCP_ACK, ANY, 101, 0);
    INJECT(.sport = 1001, .seq = 101, .ack = o[1].seq + 1, .flags = TCP_ACK);
    ck_assert_uint_eq(l->acceptq_len, 2);
    ck_assert_uint_eq(l->synq_len, 1);
    return o[2];
}

START_TEST(a_full_accept_queue_ignores_the_final_ack)
{
    struct tcb *l = listen_on(LPORT, 2);
    struct outseg o = third_child_behind_a_full_accept_queue(l);
    INJECT(.sport = 1002, .seq = 101, .ack = o.seq + 1, .flags = TCP_ACK);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_drop_accept_queue_full), 1);
    ck_assert_uint_eq(CNT(tcp_abort_on_overflow), 0);
    ck_assert_uint_eq(l->synq_len, 1); /* the child waits, and its SYN-ACK comes again */
    fx_run_for(USTACK_SEC(1));
    EXPECT(TCP_SYN | TCP_ACK, o.seq, 101, 0);
    tcp_close(l);
    fx_drain();
}
END_TEST

START_TEST(abort_on_overflow_resets_instead)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.abort_on_overflow = true;
    fx_restart(&c);
    struct tcb *l = listen_on(LPORT, 2);
    struct outseg o = third_child_behind_a_full_accept_queue(l);
    size_t tcbs = tcp_tcb_count(T.ts);
    INJECT(.sport = 1002, .seq = 101, .ack = o.seq + 1, .flags = TCP_ACK);
    EXPECT(TCP_RST, o.seq + 1, 0, 0);
    ck_assert_uint_eq(CNT(tcp_drop_accept_queue_full), 1);
    ck_assert_uint_eq(CNT(tcp_abort_on_overflow), 1);
    ck_assert_uint_eq(l->synq_len, 0);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), tcbs - 1);
    tcp_close(l);
    fx_drain();
}
END_TEST

START_TEST(a_cookie_ack_meeting_a_full_accept_queue_is_dropped)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.syncookies = 2;
    c.abort_on_overflow = true; /* as Linux: no effect on cookies */
    fx_restart(&c);
    struct tcb *l = listen_on(LPORT, 1);
    struct outseg a = cookie_syn((struct segspec){.sport = 1000, .seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460});
    struct outseg b = cookie_syn((struct segspec){.sport = 1001, .seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460});
    INJECT(.sport = 1000, .seq = PEER_ISN + 1, .ack = a.seq + 1, .flags = TCP_ACK);
    ck_assert_uint_eq(l->acceptq_len, 1);
    size_t tcbs = tcp_tcb_count(T.ts);
    INJECT(.sport = 1001, .seq = PEER_ISN + 1, .ack = b.seq + 1, .flags = TCP_ACK);
    EXPECT_NONE();
    ck_assert_uint_eq(tcp_tcb_count(T.ts), tcbs);
    ck_assert_uint_eq(CNT(tcp_syncookies_recv), 2);
    ck_assert_uint_eq(CNT(tcp_drop_accept_queue_full), 1);
    /* And with the queue full, a SYN is dropped: no cookie. */
    INJECT(.sport = 1002, .seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_drop_accept_queue_full), 2);
    ck_assert_uint_eq(CNT(tcp_syncookies_sent), 2);
    /* Once accepted, the next segment with the cookie gets in. */
    struct tcb *ca = tcp_accept_next(l);
    ck_assert_ptr_nonnull(ca);
    INJECT(.sport = 1001, .seq = PEER_ISN + 1, .ack = b.seq + 1, .flags = TCP_ACK, .data = "hi", .len = 2);
    struct tcb *cb = tcp_accept_next(l);
    ck_assert_ptr_nonnull(cb);
    ck_assert_uint_eq(tcp_readable_bytes(cb), 2);
    tcp_abort(ca);
    tcp_abort(cb);
    fx_drain();
    tcp_close(l);
}
END_TEST

/* ------------------------------------------------------------ limits */

/* A connection accepted on port 81 before the limits bite; returns it with
 * its ISS. */
static struct tcb *open_passive_on(struct tcb *l, uint16_t sport, uint32_t *iss)
{
    INJECT(.sport = sport, .dport = l->lport, .seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460);
    struct outseg o = EXPECT(TCP_SYN | TCP_ACK, ANY, PEER_ISN + 1, 0);
    INJECT(.sport = sport, .dport = l->lport, .seq = PEER_ISN + 1, .ack = o.seq + 1, .flags = TCP_ACK);
    struct tcb *c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->state, TCPS_ESTABLISHED);
    *iss = o.seq;
    return c;
}

/* The connection still moves data both ways. */
static void still_transfers(struct tcb *c, uint16_t sport, uint32_t iss, uint32_t *rcv, uint32_t *snd)
{
    INJECT(.sport = sport, .dport = c->lport, .seq = *rcv, .ack = *snd, .flags = TCP_ACK, .data = "ping", .len = 4);
    *rcv += 4;
    char buf[8];
    ck_assert_int_eq(tcp_read(c, buf, sizeof buf), 4);
    ck_assert_int_eq(tcp_write(c, "pong", 4), 4);
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH, *snd, *rcv, 4);
    ck_assert_mem_eq(o.data, "pong", 4);
    *snd += 4;
    INJECT(.sport = sport, .dport = c->lport, .seq = *rcv, .ack = *snd, .flags = TCP_ACK);
    (void)iss;
}

START_TEST(max_half_open_sends_cookies_or_drops)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.max_half_open = 2;
    c.syncookies = 0;
    fx_restart(&c);
    struct tcb *l80 = listen_on(LPORT, 8), *l81 = listen_on(81, 8);
    uint32_t iss, rcv = PEER_ISN + 1, snd;
    struct tcb *old = open_passive_on(l81, 5000, &iss);
    snd = iss + 1;
    /* Two half-open children, one per listener: the stack's limit. */
    INJECT(.sport = 1000, .seq = 100, .flags = TCP_SYN);
    EXPECT(TCP_SYN | TCP_ACK, ANY, 101, 0);
    INJECT(.sport = 1001, .dport = 81, .seq = 100, .flags = TCP_SYN);
    EXPECT(TCP_SYN | TCP_ACK, ANY, 101, 0);
    ck_assert_uint_eq(T.ts->nhalf_open, 2);
    /* A third is dropped, though its listener's queue has room. */
    INJECT(.sport = 1002, .seq = 100, .flags = TCP_SYN);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_drop_max_half_open), 1);
    ck_assert_uint_eq(CNT(tcp_drop_syn_queue_full), 0);
    still_transfers(old, 5000, iss, &rcv, &snd);
    /* With cookies it is answered with one. */
    FX_SET_OPT(l80, syncookies, 1);
    struct outseg sa = cookie_syn((struct segspec){.sport = 1003, .seq = 100, .flags = TCP_SYN});
    INJECT(.sport = 1003, .seq = 101, .ack = sa.seq + 1, .flags = TCP_ACK);
    ck_assert_uint_eq(l80->acceptq_len, 1);
    ck_assert_uint_eq(T.ts->nhalf_open, 2);
    ck_assert_uint_eq(CNT(tcp_drop_max_half_open), 1);
    still_transfers(old, 5000, iss, &rcv, &snd);
    tcp_abort(old);
    fx_drain();
    tcp_close(l80);
    tcp_close(l81);
    fx_drain();
    ck_assert_uint_eq(T.ts->nhalf_open, 0);
}
END_TEST

START_TEST(max_connections_refuses_new_opens)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.max_connections = 2;
    fx_restart(&c);
    struct tcb *l = listen_on(LPORT, 8);
    uint32_t iss, rcv = PEER_ISN + 1, snd;
    struct tcb *old = open_passive_on(l, 5000, &iss);
    snd = iss + 1;
    /* A cookie SYN-ACK goes while there is room... */
    FX_SET_OPT(l, syncookies, 2);
    struct outseg sa = cookie_syn((struct segspec){.sport = 1001, .seq = 100, .flags = TCP_SYN});
    FX_SET_OPT(l, syncookies, 1);
    INJECT(.sport = 1000, .seq = 100, .flags = TCP_SYN);
    EXPECT(TCP_SYN | TCP_ACK, ANY, 101, 0);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 3); /* the listener does not count */
    /* ...now there is none: SYNs are dropped (cookies or not), the cookie
     * ACK too, and connect() fails. */
    INJECT(.sport = 1002, .seq = 100, .flags = TCP_SYN);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_drop_max_connections), 1);
    INJECT(.sport = 1001, .seq = 101, .ack = sa.seq + 1, .flags = TCP_ACK);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_drop_max_connections), 2);
    int err = 0;
    ck_assert_ptr_null(tcp_open_active(T.ts, 0, 0, T.peer, PPORT, NULL, &err));
    ck_assert_int_eq(err, -ENOBUFS);
    ck_assert_uint_eq(CNT(tcp_connect_max_connections), 1);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 3);
    still_transfers(old, 5000, iss, &rcv, &snd);
    /* The same through the socket API. */
    int s = us_socket(T.st, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(PPORT), .sin_addr = {T.peer}};
    ck_assert_int_eq(us_connect(T.st, s, (struct sockaddr *)&to, sizeof to), -1);
    ck_assert_int_eq(errno, ENOBUFS);
    ck_assert_int_eq(us_close(T.st, s), 0);
    /* One connection gone, there is room again. */
    tcp_abort(old);
    fx_drain();
    struct tcb *a = tcp_open_active(T.ts, 0, 0, T.peer, PPORT, NULL, &err);
    ck_assert_ptr_nonnull(a);
    EXPECT(TCP_SYN, ANY, 0, 0);
    tcp_abort(a);
    tcp_close(l);
    fx_drain();
}
END_TEST

Suite *suite_tcp_syncookie(void)
{
    Suite *s = suite_create("tcp_syncookie");
    TCase *tc = tcase_create("tcp_syncookie");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, full_syn_queue_answers_with_a_cookie_and_the_ack_makes_the_connection);
    tcase_add_test(tc, the_timestamp_carries_window_scale_sack_and_the_mss_rounds_down);
    tcase_add_test(tc, without_timestamps_a_cookie_connection_has_no_window_scale_or_sack);
    tcase_add_test(tc, a_small_mss_takes_the_smallest_entry);
    tcase_add_test(tc, data_on_the_cookie_ack_is_delivered);
    tcase_add_test(tc, forged_misdirected_and_stale_cookies_are_counted_and_reset);
    tcase_add_test(tc, a_cookie_stays_valid_for_one_more_counter_period);
    tcase_add_test(tc, an_ack_with_no_cookie_sent_lately_is_reset_without_a_check);
    tcase_add_test(tc, syncookies_2_answers_every_syn_with_a_cookie);
    tcase_add_test(tc, syncookies_0_drops_as_before);
    tcase_add_test(tc, the_listener_option_overrides_the_stack);
    tcase_add_test(tc, the_socket_option_reads_and_sets_the_mode);
    tcase_add_test(tc, the_config_refuses_bad_values);
    tcase_add_test(tc, cookies_are_traced);
    tcase_add_test(tc, a_full_accept_queue_ignores_the_final_ack);
    tcase_add_test(tc, abort_on_overflow_resets_instead);
    tcase_add_test(tc, a_cookie_ack_meeting_a_full_accept_queue_is_dropped);
    tcase_add_test(tc, max_half_open_sends_cookies_or_drops);
    tcase_add_test(tc, max_connections_refuses_new_opens);
    suite_add_tcase(s, tc);
    return s;
}
