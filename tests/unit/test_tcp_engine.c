/*
 * Scripted tests of the TCP engine (stack/tcp*.c), driven through the engine
 * API with forged segments and a fake clock: "at t inject this, expect that"
 * (tcp_fixture.h: segments go in as Ethernet frames through IPv4, and come
 * out through the real IPv4, ARP and Ethernet output path). Every test ends
 * with the fixture's check that no TCB, packet buffer or timer leaked.
 *
 * Part of the unit runner (make unit, make asan). The "sim" case runs two
 * stacks on the library's simulator, each behind a seeded fault injector
 * (drop, reorder, duplicate, corrupt, delay). TCP_SIM_SEEDS=N runs seeds
 * 1..N (default 40), TCP_SIM_SEED=S replays one seed, TCP_SIM_BYTES sets the
 * transfer size, TCP_SIM_VERBOSE=1 prints counters per run.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ustack/link.h>
#include <ustack/sim.h>
#include <ustack/ustack.h>
#include "tcp_cc_cubic.h"
#include "tcp_fixture.h"


/* ----------------------------------------------------- connection helpers */

#define PEER_ISN 5000u

/* Active open completed: returns the TCB; our ISS in *iss. The SYN-ACK comes
 * 10 ms after the SYN, so the first RTT sample is 10 ms (RTO = 200 ms min). */
static struct tcb *open_active(uint32_t *iss, uint32_t peer_isn, uint32_t peer_wnd)
{
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    ck_assert_ptr_nonnull(tcb);
    tcp_set_event_cb(tcb, fx_on_event, NULL);
    struct outseg o = EXPECT(TCP_SYN, ANY, 0, 0);
    (void)o;
    *iss = o.seq;
    ck_assert_int_eq(o.mss, 1460);
    fx_advance(USTACK_MS(10));
    INJECT(.seq = peer_isn, .ack = *iss + 1, .flags = TCP_SYN | TCP_ACK, .mss = 1460, .wnd = peer_wnd);
    ck_assert_int_eq(tcb->state, TCPS_ESTABLISHED);
    EXPECT(TCP_ACK, *iss + 1, peer_isn + 1, 0);
    return tcb;
}

/* Passive open completed and accepted. */
static struct tcb *open_passive(struct tcb **listener, uint32_t *iss, uint32_t peer_isn)
{
    int err;
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 8, NULL, &err);
    ck_assert_ptr_nonnull(l);
    tcp_set_event_cb(l, fx_on_event, NULL);
    INJECT(.seq = peer_isn, .flags = TCP_SYN, .mss = 1460);
    struct outseg o = EXPECT(TCP_SYN | TCP_ACK, ANY, peer_isn + 1, 0);
    (void)o;
    *iss = o.seq;
    fx_advance(USTACK_MS(10));
    INJECT(.seq = peer_isn + 1, .ack = *iss + 1, .flags = TCP_ACK);
    EXPECT_NONE();
    ck_assert(T.events & TCP_EV_ACCEPT);
    struct tcb *c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->state, TCPS_ESTABLISHED);
    tcp_set_event_cb(c, fx_on_event, NULL);
    *listener = l;
    return c;
}


/* ------------------------------------------------------------ handshakes */

START_TEST(active_open_sends_syn_and_completes_on_syn_ack)
{
    uint32_t iss;
    T.events = 0;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    ck_assert(T.events & TCP_EV_CONNECTED);
    ck_assert_uint_eq(tcb->mss, 1460);
    ck_assert_uint_eq(tcb->snd_una, iss + 1);
    ck_assert_uint_eq(tcb->rcv_nxt, PEER_ISN + 1);
    ck_assert_uint_eq(tcb->srtt, USTACK_MS(10)); /* first sample: SRTT = R */
    ck_assert_uint_eq(tcb->rto, USTACK_MS(210)); /* 10 + max(4 * 5 ms, the 200 ms minimum) */
    ck_assert_uint_eq(tcb->cwnd, 10u * 1460);  /* RFC 6928 IW10 */
    tcp_abort(tcb);
    EXPECT(TCP_RST | TCP_ACK, iss + 1, PEER_ISN + 1, 0);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(passive_open_answers_syn_ack_and_queues_for_accept)
{
    struct tcb *l;
    uint32_t iss;
    struct tcb *c = open_passive(&l, &iss, PEER_ISN);
    ck_assert_uint_eq(c->lport, LPORT);
    ck_assert_uint_eq(c->rport, PPORT);
    ck_assert_ptr_null(tcp_accept_next(l));
    ck_assert_uint_eq(CNT(tcp_passive_opens), 1);
    tcp_abort(c);
    EXPECT(TCP_RST | TCP_ACK, iss + 1, PEER_ISN + 1, 0);
    tcp_close(l);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(syn_ack_without_mss_option_uses_536)
{
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    struct outseg o = EXPECT(TCP_SYN, ANY, 0, 0);
    INJECT(.seq = PEER_ISN, .ack = o.seq + 1, .flags = TCP_SYN | TCP_ACK);
    ck_assert_uint_eq(tcb->mss, 536);
    tcp_abort(tcb);
}
END_TEST

START_TEST(simultaneous_open_goes_through_syn_received)
{
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    struct outseg o = EXPECT(TCP_SYN, ANY, 0, 0);
    uint32_t iss = o.seq;
    /* The peer's SYN crosses ours. */
    INJECT(.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460);
    ck_assert_int_eq(tcb->state, TCPS_SYN_RECEIVED);
    EXPECT(TCP_SYN | TCP_ACK, iss, PEER_ISN + 1, 0);
    /* Its SYN,ACK (repeating its SYN) completes the handshake. */
    INJECT(.seq = PEER_ISN, .ack = iss + 1, .flags = TCP_SYN | TCP_ACK, .mss = 1460);
    ck_assert_int_eq(tcb->state, TCPS_ESTABLISHED);
    tcp_abort(tcb);
}
END_TEST

START_TEST(syn_is_retransmitted_with_backoff_then_times_out)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.syn_retries = 2;
    fx_restart(&c);
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    tcp_set_event_cb(tcb, fx_on_event, NULL);
    struct outseg o = EXPECT(TCP_SYN, ANY, 0, 0);
    fx_advance(USTACK_MS(999));
    EXPECT_NONE();
    fx_advance(USTACK_MS(1));
    EXPECT(TCP_SYN, o.seq, 0, 0);
    fx_advance(USTACK_MS(1999));
    EXPECT_NONE();
    fx_advance(USTACK_MS(1));
    EXPECT(TCP_SYN, o.seq, 0, 0);
    T.events = 0;
    fx_advance(USTACK_SEC(4));
    EXPECT_NONE();
    ck_assert_int_eq(tcb->state, TCPS_CLOSED);
    ck_assert(T.events & TCP_EV_ERROR);
    ck_assert_int_eq(tcp_take_error(tcb), ETIMEDOUT);
    tcp_close(tcb);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(rst_acking_our_syn_refuses_the_connection)
{
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    struct outseg o = EXPECT(TCP_SYN, ANY, 0, 0);
    /* An RST that does not acknowledge the SYN is ignored (RFC 5961 3). */
    INJECT(.seq = 0, .flags = TCP_RST);
    ck_assert_int_eq(tcb->state, TCPS_SYN_SENT);
    /* A bad ACK in SYN-SENT gets an RST. */
    INJECT(.seq = 1, .ack = o.seq + 1000, .flags = TCP_ACK);
    EXPECT(TCP_RST, o.seq + 1000, 0, 0);
    INJECT(.seq = 0, .ack = o.seq + 1, .flags = TCP_RST | TCP_ACK);
    ck_assert_int_eq(tcb->state, TCPS_CLOSED);
    ck_assert_int_eq(tcp_take_error(tcb), ECONNREFUSED);
    tcp_close(tcb);
}
END_TEST

START_TEST(closed_port_answers_rst)
{
    INJECT(.seq = 100, .flags = TCP_SYN);
    EXPECT(TCP_RST | TCP_ACK, 0, 101, 0);
    INJECT(.seq = 100, .ack = 777, .flags = TCP_ACK);
    EXPECT(TCP_RST, 777, 0, 0);
    uint8_t d[10] = {0};
    INJECT(.seq = 100, .flags = 0, .data = d, .len = 10);
    EXPECT(TCP_RST | TCP_ACK, 0, 110, 0);
    INJECT(.seq = 100, .flags = TCP_RST);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_rx_closed_port), 4);
}
END_TEST

START_TEST(listen_answers_ack_with_rst_and_ignores_rst)
{
    int err;
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 4, NULL, &err);
    INJECT(.seq = 100, .ack = 555, .flags = TCP_ACK);
    EXPECT(TCP_RST, 555, 0, 0);
    INJECT(.seq = 100, .flags = TCP_RST);
    EXPECT_NONE();
    INJECT(.seq = 100, .flags = TCP_FIN);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_drop_listen_no_syn), 1);
    tcp_close(l);
}
END_TEST

START_TEST(bad_checksum_is_dropped_and_counted)
{
    int err;
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 4, NULL, &err);
    INJECT(.seq = 100, .flags = TCP_SYN, .bad_csum = true);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_drop_bad_checksum), 1);
    tcp_close(l);
}
END_TEST

START_TEST(syn_queue_is_bounded)
{
    /* Without SYN cookies (test_tcp_syncookie.c has them): SYNs beyond the
     * queue are dropped. */
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.syncookies = 0;
    fx_restart(&c);
    int err;
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 2, NULL, &err);
    for (uint16_t i = 0; i < 4; i++)
        INJECT(.sport = (uint16_t)(1000 + i), .seq = 100, .flags = TCP_SYN);
    ck_assert_uint_eq(l->synq_len, 2);
    ck_assert_uint_eq(CNT(tcp_drop_syn_queue_full), 2);
    ck_assert_uint_eq(CNT(tcp_syncookies_sent), 0);
    tcp_close(l);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(synack_retransmitted_on_duplicate_syn)
{
    int err;
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 4, NULL, &err);
    INJECT(.seq = 100, .flags = TCP_SYN);
    struct outseg o = EXPECT(TCP_SYN | TCP_ACK, ANY, 101, 0);
    INJECT(.seq = 100, .flags = TCP_SYN);
    EXPECT(TCP_SYN | TCP_ACK, o.seq, 101, 0);
    /* A bad ACK in SYN-RECEIVED: RST <SEQ=SEG.ACK>. */
    INJECT(.seq = 101, .ack = o.seq + 50, .flags = TCP_ACK);
    EXPECT(TCP_RST, o.seq + 50, 0, 0);
    tcp_close(l);
}
END_TEST

/* ------------------------------------------------------------ data in */

START_TEST(in_order_data_is_acked_after_delack_timeout)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    uint8_t d[100];
    fx_fill(d, sizeof d, 1);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK | TCP_PSH, .data = d, .len = 100);
    EXPECT_NONE();
    ustack_time_t delack = T.ts->cfg->delack_us;
    fx_advance(delack - 1);
    EXPECT_NONE();
    fx_advance(1);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 101, 0);
    uint8_t r[200];
    ck_assert_int_eq(tcp_read(tcb, r, sizeof r), 100);
    ck_assert_mem_eq(r, d, 100);
    ck_assert_int_eq(tcp_read(tcb, r, sizeof r), -EAGAIN);
    tcp_abort(tcb);
}
END_TEST

START_TEST(every_second_full_segment_is_acked_at_once)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    uint8_t d[1460];
    fx_fill(d, sizeof d, 2);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .data = d, .len = 1460);
    EXPECT_NONE();
    INJECT(.seq = PEER_ISN + 1 + 1460, .ack = iss + 1, .flags = TCP_ACK, .data = d, .len = 1460);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1 + 2920, 0);
    ck_assert_uint_eq(tcp_readable_bytes(tcb), 2920);
    tcp_abort(tcb);
}
END_TEST

START_TEST(out_of_order_data_gets_dup_ack_and_gap_fill_acks_all)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    uint8_t d[3000];
    fx_fill(d, sizeof d, 3);
    uint32_t s = PEER_ISN + 1;
    /* Segments 3 and 2 before 1. */
    INJECT(.seq = s + 2000, .ack = iss + 1, .flags = TCP_ACK, .data = d + 2000, .len = 1000);
    EXPECT(TCP_ACK, iss + 1, s, 0);
    INJECT(.seq = s + 1000, .ack = iss + 1, .flags = TCP_ACK, .data = d + 1000, .len = 1000);
    EXPECT(TCP_ACK, iss + 1, s, 0);
    ck_assert_uint_eq(tcb->ooo_len, 1); /* merged into one range */
    ck_assert_uint_eq(tcp_readable_bytes(tcb), 0);
    INJECT(.seq = s, .ack = iss + 1, .flags = TCP_ACK, .data = d, .len = 1000);
    EXPECT(TCP_ACK, iss + 1, s + 3000, 0);
    uint8_t r[4000];
    ck_assert_int_eq(tcp_read(tcb, r, sizeof r), 3000);
    ck_assert_mem_eq(r, d, 3000);
    ck_assert_uint_eq(CNT(tcp_rx_ooo), 2);
    tcp_abort(tcb);
}
END_TEST

START_TEST(overlapping_and_duplicate_data_is_trimmed)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    uint8_t d[300];
    fx_fill(d, sizeof d, 4);
    uint32_t s = PEER_ISN + 1;
    INJECT(.seq = s, .ack = iss + 1, .flags = TCP_ACK, .data = d, .len = 200);
    /* Entirely old: unacceptable, answered by an ACK. */
    INJECT(.seq = s, .ack = iss + 1, .flags = TCP_ACK, .data = d, .len = 100);
    EXPECT(TCP_ACK, iss + 1, s + 200, 0);
    /* Overlapping: the new part is kept. */
    INJECT(.seq = s + 100, .ack = iss + 1, .flags = TCP_ACK, .data = d + 100, .len = 200);
    EXPECT(TCP_ACK, iss + 1, s + 300, 0);
    uint8_t r[400];
    ck_assert_int_eq(tcp_read(tcb, r, sizeof r), 300);
    ck_assert_mem_eq(r, d, 300);
    tcp_abort(tcb);
}
END_TEST

START_TEST(receive_window_closes_and_reopens_on_read)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.rcvbuf = 4096;
    fx_restart(&c);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    uint8_t d[4096];
    fx_fill(d, sizeof d, 5);
    uint32_t s = PEER_ISN + 1;
    INJECT(.seq = s, .ack = iss + 1, .flags = TCP_ACK, .data = d, .len = 1460);
    INJECT(.seq = s + 1460, .ack = iss + 1, .flags = TCP_ACK, .data = d + 1460, .len = 1460);
    struct outseg o = EXPECT(TCP_ACK, iss + 1, s + 2920, 0);
    ck_assert_uint_eq(o.wnd, 4096 - 2920);
    INJECT(.seq = s + 2920, .ack = iss + 1, .flags = TCP_ACK, .data = d + 2920, .len = 1176);
    fx_advance(USTACK_MS(200));
    o = EXPECT(TCP_ACK, iss + 1, s + 4096, 0);
    ck_assert_uint_eq(o.wnd, 0);
    /* Beyond a zero window: not accepted, ACKed. */
    INJECT(.seq = s + 4096, .ack = iss + 1, .flags = TCP_ACK, .data = d, .len = 10);
    o = EXPECT(TCP_ACK, iss + 1, s + 4096, 0);
    ck_assert_uint_eq(o.wnd, 0);
    /* Reading a little does not reopen it (receiver SWS avoidance)... */
    uint8_t r[4096];
    ck_assert_int_eq(tcp_read(tcb, r, 100), 100);
    EXPECT_NONE();
    /* ...reading enough sends a window update at once. */
    ck_assert_int_eq(tcp_read(tcb, r + 100, 3000), 3000);
    o = EXPECT(TCP_ACK, iss + 1, s + 4096, 0);
    ck_assert_uint_eq(o.wnd, 3100);
    ck_assert_mem_eq(r, d, 3100);
    tcp_abort(tcb);
}
END_TEST

/* ------------------------------------------------------------ data out */

START_TEST(nagle_holds_a_small_tail_until_acked)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    uint8_t d[3000];
    fx_fill(d, sizeof d, 6);
    ck_assert_int_eq(tcp_write(tcb, d, 3000), 3000);
    struct outseg o = EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 1460);
    ck_assert_mem_eq(o.data, d, 1460);
    EXPECT(TCP_ACK, iss + 1 + 1460, PEER_ISN + 1, 1460);
    EXPECT_NONE(); /* 80 bytes wait: data is in flight */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1 + 2920, .flags = TCP_ACK);
    o = EXPECT(TCP_ACK | TCP_PSH, iss + 1 + 2920, PEER_ISN + 1, 80);
    ck_assert_mem_eq(o.data, d + 2920, 80);
    tcp_abort(tcb);
}
END_TEST

START_TEST(nodelay_sends_the_small_tail_at_once)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    FX_SET_OPT(tcb, nodelay, true);
    uint8_t d[3000];
    fx_fill(d, sizeof d, 7);
    ck_assert_int_eq(tcp_write(tcb, d, 3000), 3000);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 1460);
    EXPECT(TCP_ACK, iss + 1 + 1460, PEER_ISN + 1, 1460);
    EXPECT(TCP_ACK | TCP_PSH, iss + 1 + 2920, PEER_ISN + 1, 80);
    tcp_abort(tcb);
}
END_TEST

START_TEST(rto_retransmits_with_exponential_backoff)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    uint8_t d[100];
    fx_fill(d, sizeof d, 8);
    tcp_write(tcb, d, 100);
    EXPECT(TCP_ACK | TCP_PSH, iss + 1, PEER_ISN + 1, 100);
    ustack_time_t expect_rto = USTACK_MS(210);
    for (int i = 0; i < 4; i++) {
        fx_advance(expect_rto - 1);
        EXPECT_NONE();
        fx_advance(1);
        struct outseg o = EXPECT(TCP_ACK | TCP_PSH, iss + 1, PEER_ISN + 1, 100);
        ck_assert_mem_eq(o.data, d, 100);
        expect_rto *= 2;
    }
    ck_assert_uint_eq(CNT(tcp_rto_expired), 4);
    ck_assert_uint_eq(tcb->cwnd, 1460); /* loss window */
    /* The ACK ends it; no RTT sample from a retransmission (Karn). */
    uint64_t samples = CNT(tcp_rtt_samples);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 101, .flags = TCP_ACK);
    ck_assert_uint_eq(CNT(tcp_rtt_samples), samples);
    ck_assert_uint_eq(tcb->rto_backoff, 0);
    ck_assert(!timer_armed(&tcb->t_rexmt));
    tcp_abort(tcb);
}
END_TEST

START_TEST(data_retries_exhausted_gives_etimedout)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.data_retries = 3;
    fx_restart(&c);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    tcp_write(tcb, "hello", 5);
    EXPECT(TCP_ACK | TCP_PSH, iss + 1, PEER_ISN + 1, 5);
    T.events = 0;
    fx_run_for(USTACK_SEC(120));
    for (int i = 0; i < 3; i++)
        EXPECT(TCP_ACK | TCP_PSH, iss + 1, PEER_ISN + 1, 5);
    EXPECT(TCP_RST | TCP_ACK, iss + 6, PEER_ISN + 1, 0);
    ck_assert_int_eq(tcb->state, TCPS_CLOSED);
    ck_assert(T.events & TCP_EV_ERROR);
    char b[8];
    ck_assert_int_eq(tcp_read(tcb, b, sizeof b), -ETIMEDOUT);
    tcp_close(tcb);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(three_dup_acks_trigger_fast_retransmit)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    FX_SET_OPT(tcb, cc, &tcp_cc_newreno); /* RFC 5681's numbers below: ssthresh = FlightSize / 2 */
    static uint8_t d[20 * 1460];
    fx_fill(d, sizeof d, 9);
    ck_assert_int_eq(tcp_write(tcb, d, sizeof d), (ssize_t)sizeof d);
    for (int i = 0; i < 10; i++) /* IW10 */
        EXPECT(TCP_ACK, iss + 1 + (uint32_t)i * 1460, PEER_ISN + 1, 1460);
    EXPECT_NONE();
    uint32_t una = iss + 1 + 1460; /* first segment acked, second lost */
    INJECT(.seq = PEER_ISN + 1, .ack = una, .flags = TCP_ACK);
    EXPECT(TCP_ACK, iss + 1 + 10 * 1460, PEER_ISN + 1, 1460); /* slow start: +1 MSS */
    EXPECT(TCP_ACK, iss + 1 + 11 * 1460, PEER_ISN + 1, 1460);
    /* RFC 3042 limited transmit: the first two duplicates each send one new
     * segment, cwnd unchanged. */
    INJECT(.seq = PEER_ISN + 1, .ack = una, .flags = TCP_ACK);
    EXPECT(TCP_ACK, iss + 1 + 12 * 1460, PEER_ISN + 1, 1460);
    INJECT(.seq = PEER_ISN + 1, .ack = una, .flags = TCP_ACK);
    EXPECT(TCP_ACK, iss + 1 + 13 * 1460, PEER_ISN + 1, 1460);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_limited_transmit), 2);
    ck_assert_uint_eq(tcb->cwnd, 11 * 1460);
    INJECT(.seq = PEER_ISN + 1, .ack = una, .flags = TCP_ACK);
    struct outseg o = EXPECT(TCP_ACK, una, PEER_ISN + 1, 1460);
    ck_assert_mem_eq(o.data, d + 1460, 1460);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_fast_retransmit), 1);
    uint32_t flight = 13 * 1460;
    ck_assert_uint_eq(tcb->ssthresh, flight / 2);
    ck_assert_uint_eq(tcb->cwnd, flight / 2 + 3 * 1460);
    /* The ACK of everything ends recovery: cwnd deflates to ssthresh
     * (RFC 6582 3.2 step 3, second option, as Linux). */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1 + 14 * 1460, .flags = TCP_ACK);
    ck_assert_uint_eq(tcb->cwnd, flight / 2);
    ck_assert(!(tcb->tflags & TF_IN_RECOVERY));
    tcp_abort(tcb);
}
END_TEST

/* The same loss with the default algorithm: CUBIC's ssthresh is 0.7 cwnd
 * (RFC 9438 4.6), W_max the cwnd at the loss, and congestion avoidance
 * after recovery starts a curve with K = cbrt((W_max - cwnd) / C). */
START_TEST(fast_retransmit_with_cubic_keeps_seven_tenths)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    ck_assert_ptr_eq(tcb->opt.cc, &tcp_cc_cubic);
    static uint8_t d[30 * 1460];
    fx_fill(d, sizeof d, 9);
    ck_assert_int_eq(tcp_write(tcb, d, sizeof d), (ssize_t)sizeof d);
    for (int i = 0; i < 10; i++)
        EXPECT(TCP_ACK, iss + 1 + (uint32_t)i * 1460, PEER_ISN + 1, 1460);
    uint32_t una = iss + 1 + 1460;
    INJECT(.seq = PEER_ISN + 1, .ack = una, .flags = TCP_ACK);
    EXPECT(TCP_ACK, iss + 1 + 10 * 1460, PEER_ISN + 1, 1460);
    EXPECT(TCP_ACK, iss + 1 + 11 * 1460, PEER_ISN + 1, 1460);
    /* Limited transmit on the first two duplicates (cwnd unchanged). */
    INJECT(.seq = PEER_ISN + 1, .ack = una, .flags = TCP_ACK);
    EXPECT(TCP_ACK, iss + 1 + 12 * 1460, PEER_ISN + 1, 1460);
    INJECT(.seq = PEER_ISN + 1, .ack = una, .flags = TCP_ACK);
    EXPECT(TCP_ACK, iss + 1 + 13 * 1460, PEER_ISN + 1, 1460);
    INJECT(.seq = PEER_ISN + 1, .ack = una, .flags = TCP_ACK);
    EXPECT(TCP_ACK, una, PEER_ISN + 1, 1460);
    ck_assert_uint_eq(CNT(tcp_fast_retransmit), 1);
    uint32_t cwnd = 11 * 1460;
    ck_assert_uint_eq(tcb->ssthresh, cwnd * 7 / 10);
    ck_assert_uint_eq(tcb->cwnd, cwnd * 7 / 10 + 3 * 1460);
    struct tcp_cubic_info ci;
    ck_assert(tcp_cubic_get_info(tcb, &ci));
    ck_assert_uint_eq(ci.w_max, cwnd);
    ck_assert_uint_eq(ci.cwnd_prior, cwnd);
    ck_assert(!ci.epoch_valid);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1 + 14 * 1460, .flags = TCP_ACK);
    ck_assert_uint_eq(tcb->cwnd, cwnd * 7 / 10);
    /* The next ACK, with cwnd limiting the sender, begins the curve. */
    ck_assert(SEQ_GEQ(tcb->snd_max, iss + 1 + 20 * 1460));
    fx_advance(USTACK_MS(10));
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1 + 15 * 1460, .flags = TCP_ACK);
    ck_assert(tcp_cubic_get_info(tcb, &ci));
    ck_assert(ci.epoch_valid);
    ck_assert_uint_eq(ci.epoch_start, T.now);
    ck_assert_uint_eq(ci.cwnd_epoch, cwnd * 7 / 10);
    ck_assert_uint_eq(ci.k_ms, 2020); /* cbrt(3.3 segments / 0.4) = 2.0206 s */
    tcp_abort(tcb);
}
END_TEST

START_TEST(zero_window_is_probed_with_backoff_and_resumes)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, ZERO_WND);
    ck_assert_int_eq(tcp_write(tcb, "0123456789", 10), 10);
    EXPECT_NONE();
    ck_assert(timer_armed(&tcb->t_persist));
    fx_advance(USTACK_MS(210));
    EXPECT(TCP_ACK, iss, PEER_ISN + 1, 0); /* probe: old sequence number */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .wnd = ZERO_WND);
    EXPECT_NONE();
    fx_advance(USTACK_MS(419));
    EXPECT_NONE();
    fx_advance(USTACK_MS(1));
    EXPECT(TCP_ACK, iss, PEER_ISN + 1, 0);
    ck_assert_uint_eq(CNT(tcp_persist_probes), 2);
    /* The window opens: the data goes at once. */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .wnd = 1000);
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH, iss + 1, PEER_ISN + 1, 10);
    ck_assert_mem_eq(o.data, "0123456789", 10);
    ck_assert(!timer_armed(&tcb->t_persist));
    tcp_abort(tcb);
}
END_TEST

START_TEST(zero_window_that_never_opens_times_out)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.persist_max_probes = 3;
    fx_restart(&c);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, ZERO_WND);
    tcp_write(tcb, "x", 1);
    fx_run_for(USTACK_SEC(100));
    ck_assert_uint_eq(CNT(tcp_persist_probes), 3);
    ck_assert_int_eq(tcb->state, TCPS_CLOSED);
    ck_assert_int_eq(tcp_take_error(tcb), ETIMEDOUT);
    tcp_close(tcb);
}
END_TEST

START_TEST(zero_window_answered_by_a_live_peer_is_never_given_up)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.persist_max_probes = 3;
    fx_restart(&c);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, ZERO_WND);
    tcp_write(tcb, "x", 1);
    /* Ten probes, each answered with the window still shut: far more than
     * persist_max_probes, yet the connection stays (RFC 1122 4.2.2.17). */
    unsigned answered = 0;
    for (int ms = 0; ms < 10 * 61000 && answered < 10; ms += 50) {
        fx_advance(USTACK_MS(50));
        struct outseg o;
        if (fx_next_out(&o)) {
            ck_assert_uint_eq(o.seq, iss);  /* the probe: an old sequence number */
            INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .wnd = ZERO_WND);
            answered++;
        }
    }
    ck_assert_uint_eq(answered, 10);
    ck_assert_uint_eq(CNT(tcp_persist_probes), 10);
    ck_assert_int_eq(tcb->state, TCPS_ESTABLISHED);
    ck_assert_int_eq(tcb->err, 0);
    tcp_abort(tcb);
}
END_TEST

START_TEST(send_buffer_full_returns_eagain)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.sndbuf = 2500;
    fx_restart(&c);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    uint8_t d[3000] = {0};
    ck_assert_int_eq(tcp_write(tcb, d, 3000), 2500);
    ck_assert_int_eq(tcp_write(tcb, d, 10), -EAGAIN);
    ck_assert_uint_eq(tcp_send_space(tcb), 0);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1 + 1460, .flags = TCP_ACK);
    ck_assert_uint_eq(tcp_send_space(tcb), 1460);
    tcp_abort(tcb);
}
END_TEST

/* ------------------------------------------------------------ closing */

START_TEST(active_close_goes_through_fin_wait_and_time_wait)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    ck_assert_int_eq(tcp_shutdown_write(tcb), 0);
    ck_assert_int_eq(tcb->state, TCPS_FIN_WAIT_1);
    EXPECT(TCP_ACK | TCP_FIN, iss + 1, PEER_ISN + 1, 0);
    ck_assert_int_eq(tcp_write(tcb, "x", 1), -EPIPE);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 2, .flags = TCP_ACK);
    ck_assert_int_eq(tcb->state, TCPS_FIN_WAIT_2);
    /* Half-close: data still flows to us. */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 2, .flags = TCP_ACK, .data = "abc", .len = 3);
    INJECT(.seq = PEER_ISN + 4, .ack = iss + 2, .flags = TCP_ACK | TCP_FIN);
    EXPECT(TCP_ACK, iss + 2, PEER_ISN + 5, 0);
    ck_assert_int_eq(tcb->state, TCPS_TIME_WAIT);
    char b[8];
    ck_assert_int_eq(tcp_read(tcb, b, sizeof b), 3);
    ck_assert_int_eq(tcp_read(tcb, b, sizeof b), 0);
    tcp_close(tcb);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 1);
    ck_assert_ptr_null(tcb->sndq.buf); /* TIME-WAIT holds no buffers */
    ck_assert_ptr_null(tcb->rcvq.buf);
    /* A retransmitted FIN is ACKed again and restarts the timer. */
    fx_advance(USTACK_SEC(30));
    INJECT(.seq = PEER_ISN + 4, .ack = iss + 2, .flags = TCP_ACK | TCP_FIN);
    EXPECT(TCP_ACK, iss + 2, PEER_ISN + 5, 0);
    fx_advance(USTACK_SEC(60) - 1);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 1);
    fx_advance(1);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
    ck_assert_uint_eq(CNT(tcp_timewait_expired), 1);
}
END_TEST

START_TEST(passive_close_goes_through_close_wait_and_last_ack)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    T.events = 0;
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK | TCP_FIN);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 2, 0);
    ck_assert_int_eq(tcb->state, TCPS_CLOSE_WAIT);
    ck_assert(T.events & TCP_EV_READABLE);
    char b[4];
    ck_assert_int_eq(tcp_read(tcb, b, sizeof b), 0);
    ck_assert_int_eq(tcp_write(tcb, "bye", 3), 3);
    EXPECT(TCP_ACK | TCP_PSH, iss + 1, PEER_ISN + 2, 3);
    tcp_close(tcb);
    ck_assert_int_eq(tcb->state, TCPS_LAST_ACK);
    EXPECT(TCP_ACK | TCP_FIN, iss + 4, PEER_ISN + 2, 0);
    /* On RTO, everything unacknowledged is lost: the data and the FIN go
     * again, as they were sent, in order. */
    fx_advance(USTACK_MS(210));
    struct outseg o = EXPECT(TCP_ACK | TCP_PSH, iss + 1, PEER_ISN + 2, 3);
    ck_assert_mem_eq(o.data, "bye", 3);
    EXPECT(TCP_ACK | TCP_FIN, iss + 4, PEER_ISN + 2, 0);
    INJECT(.seq = PEER_ISN + 2, .ack = iss + 5, .flags = TCP_ACK);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(simultaneous_close_goes_through_closing)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    tcp_shutdown_write(tcb);
    EXPECT(TCP_ACK | TCP_FIN, iss + 1, PEER_ISN + 1, 0);
    /* The peer's FIN crosses ours: it does not acknowledge our FIN. */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK | TCP_FIN);
    ck_assert_int_eq(tcb->state, TCPS_CLOSING);
    EXPECT(TCP_ACK, iss + 2, PEER_ISN + 2, 0);
    INJECT(.seq = PEER_ISN + 2, .ack = iss + 2, .flags = TCP_ACK);
    ck_assert_int_eq(tcb->state, TCPS_TIME_WAIT);
    tcp_close(tcb);
    fx_advance(USTACK_SEC(60));
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(close_with_unread_data_sends_rst)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .data = "abc", .len = 3);
    tcp_close(tcb);
    EXPECT(TCP_RST | TCP_ACK, iss + 1, PEER_ISN + 4, 0);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(orphan_in_fin_wait_2_is_reset_after_timeout)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    tcp_close(tcb);
    EXPECT(TCP_ACK | TCP_FIN, iss + 1, PEER_ISN + 1, 0);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 2, .flags = TCP_ACK);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 1);
    fx_advance(USTACK_SEC(60));
    EXPECT(TCP_RST | TCP_ACK, iss + 2, PEER_ISN + 1, 0);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

/* Tunables that only the engine's own config reached before are set through
 * ustack_config.tcp: the initial window and the FIN-WAIT-2 limit. */
START_TEST(initial_window_and_fin_wait2_limit_come_from_the_config)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.initial_window_segs = 4;
    c.fin_wait2_us = USTACK_SEC(5);
    fx_restart(&c);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    ck_assert_uint_eq(tcb->cwnd, 4u * 1460);
    static uint8_t d[10 * 1460];
    fx_fill(d, sizeof d, 3);
    ck_assert_int_eq(tcp_write(tcb, d, sizeof d), (ssize_t)sizeof d);
    for (uint32_t i = 0; i < 4; i++)
        EXPECT(TCP_ACK, iss + 1 + i * 1460, PEER_ISN + 1, 1460);
    EXPECT_NONE(); /* four segments: the window is full */
    fx_advance(USTACK_MS(10));
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1 + 4 * 1460, .flags = TCP_ACK);
    for (uint32_t i = 4; i < 10; i++) /* slow start: the window is now 8 segments */
        EXPECT(TCP_ACK | (i == 9 ? TCP_PSH : 0), iss + 1 + i * 1460, PEER_ISN + 1, 1460);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1 + sizeof d, .flags = TCP_ACK);
    fx_drain();
    tcp_close(tcb);
    EXPECT(TCP_ACK | TCP_FIN, ANY, PEER_ISN + 1, 0);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 2 + sizeof d, .flags = TCP_ACK);
    fx_advance(USTACK_SEC(5) - 1);
    EXPECT_NONE();
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 1);
    fx_advance(1);
    EXPECT(TCP_RST | TCP_ACK, iss + 2 + sizeof d, PEER_ISN + 1, 0);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
    ck_assert_uint_eq(CNT(tcp_fin_wait2_timeout), 1);
}
END_TEST

START_TEST(time_wait_is_reopened_by_a_syn_with_higher_sequence)
{
    struct tcb *l;
    uint32_t iss;
    struct tcb *c = open_passive(&l, &iss, PEER_ISN);
    tcp_close(c);
    EXPECT(TCP_ACK | TCP_FIN, iss + 1, PEER_ISN + 1, 0);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 2, .flags = TCP_ACK | TCP_FIN);
    EXPECT(TCP_ACK, iss + 2, PEER_ISN + 2, 0);
    ck_assert_int_eq(c->state, TCPS_TIME_WAIT);
    /* An old SYN (lower sequence) gets an ACK, not a new connection. */
    INJECT(.seq = PEER_ISN - 10, .flags = TCP_SYN);
    EXPECT(TCP_ACK, iss + 2, PEER_ISN + 2, 0);
    INJECT(.seq = PEER_ISN + 100000, .flags = TCP_SYN, .mss = 1460);
    struct outseg o = EXPECT(TCP_SYN | TCP_ACK, iss + 2 + 65537, PEER_ISN + 100001, 0);
    (void)o;
    ck_assert_uint_eq(CNT(tcp_timewait_reopen), 1);
    ck_assert_uint_eq(l->synq_len, 1);
    tcp_close(l);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

/* ------------------------------------------------------------ RFC 5961 */

START_TEST(rst_with_exact_sequence_resets)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    T.events = 0;
    INJECT(.seq = PEER_ISN + 1, .flags = TCP_RST);
    ck_assert_int_eq(tcb->state, TCPS_CLOSED);
    ck_assert(T.events & TCP_EV_ERROR);
    ck_assert_int_eq(tcp_write(tcb, "x", 1), -ECONNRESET);
    ck_assert_int_eq(tcp_write(tcb, "x", 1), -EPIPE);
    tcp_close(tcb);
    EXPECT_NONE();
}
END_TEST

START_TEST(in_window_rst_gets_challenge_ack)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    INJECT(.seq = PEER_ISN + 1000, .flags = TCP_RST);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 0);
    ck_assert_int_eq(tcb->state, TCPS_ESTABLISHED);
    /* Outside the window: silently dropped. */
    INJECT(.seq = PEER_ISN + 1 + 70000, .flags = TCP_RST);
    INJECT(.seq = PEER_ISN - 5, .flags = TCP_RST);
    EXPECT_NONE();
    ck_assert_int_eq(tcb->state, TCPS_ESTABLISHED);
    ck_assert_uint_eq(CNT(tcp_challenge_ack), 1);
    ck_assert_uint_eq(CNT(tcp_drop_rst_unacceptable), 2);
    tcp_abort(tcb);
}
END_TEST

START_TEST(syn_in_established_gets_challenge_ack)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    INJECT(.seq = PEER_ISN + 500, .flags = TCP_SYN);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 0);
    INJECT(.seq = 12345, .flags = TCP_SYN);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 0);
    ck_assert_int_eq(tcb->state, TCPS_ESTABLISHED);
    tcp_abort(tcb);
}
END_TEST

START_TEST(challenge_acks_are_rate_limited)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.challenge_ack_per_sec = 2;
    fx_restart(&c);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    for (int i = 0; i < 3; i++)
        INJECT(.seq = PEER_ISN + 100, .flags = TCP_RST);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 0);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 0);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_challenge_ack_limited), 1);
    fx_advance(USTACK_SEC(1));
    INJECT(.seq = PEER_ISN + 100, .flags = TCP_RST);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 0);
    tcp_abort(tcb);
}
END_TEST

START_TEST(ack_of_unsent_data_is_dropped_with_ack)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1000, .flags = TCP_ACK, .data = "zz", .len = 2);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 0);
    ck_assert_uint_eq(tcp_readable_bytes(tcb), 0);
    ck_assert_uint_eq(CNT(tcp_drop_ack_too_new), 1);
    tcp_abort(tcb);
}
END_TEST

/* ------------------------------------------------------------ wraparound */

START_TEST(sequence_numbers_wrap_around)
{
    tcp_set_next_isn(T.ts, 0xfffffff0u);
    uint32_t iss;
    uint32_t peer_isn = 0xffffff00u;
    struct tcb *tcb = open_active(&iss, peer_isn, 0);
    ck_assert_uint_eq(iss, 0xfffffff0u);
    FX_SET_OPT(tcb, nodelay, true);
    uint8_t d[600];
    fx_fill(d, sizeof d, 10);
    tcp_write(tcb, d, 600);
    EXPECT(TCP_ACK | TCP_PSH, 0xfffffff1u, peer_isn + 1, 600);
    INJECT(.seq = peer_isn + 1, .ack = 0xfffffff1u + 600, .flags = TCP_ACK);
    ck_assert_uint_eq(tcb->snd_una, 0xfffffff1u + 600);
    ck_assert_uint_eq(tcb->sndq.len, 0);
    /* Data from the peer across 2^32. */
    INJECT(.seq = peer_isn + 1, .ack = 0xfffffff1u + 600, .flags = TCP_ACK, .data = d, .len = 600);
    fx_advance(USTACK_MS(200));
    EXPECT(TCP_ACK, 0xfffffff1u + 600, peer_isn + 601, 0);
    uint8_t r[600];
    ck_assert_int_eq(tcp_read(tcb, r, sizeof r), 600);
    ck_assert_mem_eq(r, d, 600);
    tcp_abort(tcb);
}
END_TEST

/* ------------------------------------------------------------ keepalive */

START_TEST(keepalive_probes_then_times_out)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    struct tcp_opts ko = *tcp_get_opts(tcb);
    ko.keepalive = true;
    ko.keepidle_us = USTACK_SEC(10);
    ko.keepintvl_us = USTACK_SEC(1);
    ko.keepcnt = 2;
    tcp_set_opts(tcb, &ko);
    fx_advance(USTACK_SEC(10) - 1);
    EXPECT_NONE();
    fx_advance(1);
    EXPECT(TCP_ACK, iss, PEER_ISN + 1, 0);
    /* An answer resets the count. */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK);
    fx_advance(USTACK_SEC(1));
    EXPECT_NONE();
    fx_advance(USTACK_SEC(9));
    EXPECT(TCP_ACK, iss, PEER_ISN + 1, 0);
    fx_advance(USTACK_SEC(1));
    EXPECT(TCP_ACK, iss, PEER_ISN + 1, 0);
    fx_advance(USTACK_SEC(1));
    EXPECT(TCP_RST | TCP_ACK, iss + 1, PEER_ISN + 1, 0);
    ck_assert_int_eq(tcb->state, TCPS_CLOSED);
    ck_assert_int_eq(tcp_take_error(tcb), ETIMEDOUT);
    tcp_close(tcb);
}
END_TEST

/* ------------------------------------------------------------ ISN */

START_TEST(isn_follows_rfc6528)
{
    uint32_t a = tcp_isn(T.ts, T.us, 1000, T.peer, 80);
    uint32_t b = tcp_isn(T.ts, T.us, 1001, T.peer, 80);
    ck_assert_uint_ne(a, b);
    fx_advance(400); /* 400 us = 100 ticks of 4 us */
    ck_assert_uint_eq(tcp_isn(T.ts, T.us, 1000, T.peer, 80), a + 100);
}
END_TEST




START_TEST(rto_follows_rfc6298)
{
    struct ustack_tcp_config c;
    tcp_config_default(&c);
    c.rto_min_us = 1000; /* so that the formula shows */
    fx_restart(&c);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    /* First sample R = 10 ms: SRTT = R, RTTVAR = R/2, RTO = SRTT + 4 RTTVAR. */
    ck_assert_uint_eq(tcb->srtt, 10000);
    ck_assert_uint_eq(tcb->rttvar, 5000);
    ck_assert_uint_eq(tcb->rto, 30000);
    /* Second sample R' = 100 ms: RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'|,
     * SRTT = 7/8 SRTT + 1/8 R'. */
    tcp_write(tcb, "x", 1);
    EXPECT(TCP_ACK | TCP_PSH, iss + 1, PEER_ISN + 1, 1);
    fx_advance(USTACK_MS(29)); /* before the 30 ms RTO */
    EXPECT_NONE();
    tcb->rto = USTACK_SEC(1); /* keep the timer out of the way of the sample */
    tcp_rexmt_arm(tcb);
    fx_advance(USTACK_MS(71));
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 2, .flags = TCP_ACK);
    ck_assert_uint_eq(tcb->rttvar, 3750 + 22500);
    ck_assert_uint_eq(tcb->srtt, 8750 + 12500);
    ck_assert_uint_eq(tcb->rto, 21250 + 4 * 26250);
    tcp_abort(tcb);
}
END_TEST

/* ------------------------------------------------------------ more states */

START_TEST(fin_acked_and_received_together_goes_to_time_wait)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    tcp_shutdown_write(tcb);
    EXPECT(TCP_ACK | TCP_FIN, iss + 1, PEER_ISN + 1, 0);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 2, .flags = TCP_ACK | TCP_FIN);
    ck_assert_int_eq(tcb->state, TCPS_TIME_WAIT);
    EXPECT(TCP_ACK, iss + 2, PEER_ISN + 2, 0);
    tcp_close(tcb);
    fx_advance(USTACK_SEC(60));
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(shutdown_during_handshake_sends_fin_after_it)
{
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    struct outseg o = EXPECT(TCP_SYN, ANY, 0, 0);
    ck_assert_int_eq(tcp_write(tcb, "hi", 2), 2);
    ck_assert_int_eq(tcp_shutdown_write(tcb), 0);
    EXPECT_NONE();
    INJECT(.seq = PEER_ISN, .ack = o.seq + 1, .flags = TCP_SYN | TCP_ACK, .mss = 1460);
    ck_assert_int_eq(tcb->state, TCPS_FIN_WAIT_1);
    EXPECT(TCP_ACK | TCP_PSH | TCP_FIN, o.seq + 1, PEER_ISN + 1, 2);
    tcp_abort(tcb);
}
END_TEST

START_TEST(out_of_order_fin_is_taken_when_the_gap_fills)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    uint32_t s = PEER_ISN + 1;
    INJECT(.seq = s + 5, .ack = iss + 1, .flags = TCP_ACK | TCP_FIN, .data = "world", .len = 5);
    EXPECT(TCP_ACK, iss + 1, s, 0);
    ck_assert_int_eq(tcb->state, TCPS_ESTABLISHED);
    INJECT(.seq = s, .ack = iss + 1, .flags = TCP_ACK, .data = "hello", .len = 5);
    EXPECT(TCP_ACK, iss + 1, s + 11, 0);
    ck_assert_int_eq(tcb->state, TCPS_CLOSE_WAIT);
    char b[16];
    ck_assert_int_eq(tcp_read(tcb, b, sizeof b), 10);
    ck_assert_mem_eq(b, "helloworld", 10);
    ck_assert_int_eq(tcp_read(tcb, b, sizeof b), 0);
    tcp_abort(tcb);
}
END_TEST

START_TEST(data_after_close_is_answered_with_rst)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    tcp_close(tcb);
    EXPECT(TCP_ACK | TCP_FIN, iss + 1, PEER_ISN + 1, 0);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 2, .flags = TCP_ACK, .data = "late", .len = 4);
    EXPECT(TCP_RST | TCP_ACK, iss + 2, PEER_ISN + 1, 0);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
    ck_assert_uint_eq(CNT(tcp_rx_data_after_close), 1);
}
END_TEST

START_TEST(rst_in_syn_received_forgets_the_child)
{
    int err;
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 4, NULL, &err);
    INJECT(.seq = 100, .flags = TCP_SYN);
    EXPECT(TCP_SYN | TCP_ACK, ANY, 101, 0);
    ck_assert_uint_eq(l->synq_len, 1);
    INJECT(.seq = 101, .flags = TCP_RST);
    ck_assert_uint_eq(l->synq_len, 0);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 1);
    tcp_close(l);
}
END_TEST

START_TEST(synack_retransmission_gives_up_silently)
{
    int err;
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 4, NULL, &err);
    INJECT(.seq = 100, .flags = TCP_SYN);
    struct outseg o = EXPECT(TCP_SYN | TCP_ACK, ANY, 101, 0);
    fx_run_for(USTACK_SEC(120));
    for (int i = 0; i < 5; i++) /* cfg.synack_retries */
        EXPECT(TCP_SYN | TCP_ACK, o.seq, 101, 0);
    EXPECT_NONE();
    ck_assert_uint_eq(l->synq_len, 0);
    tcp_close(l);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(closing_a_listener_resets_unaccepted_connections)
{
    struct tcb *l;
    uint32_t iss;
    struct tcb *c = open_passive(&l, &iss, PEER_ISN);
    /* A second connection waits in the accept queue. */
    INJECT(.sport = 40001, .seq = 9000, .flags = TCP_SYN);
    struct outseg o = EXPECT(TCP_SYN | TCP_ACK, ANY, 9001, 0);
    INJECT(.sport = 40001, .seq = 9001, .ack = o.seq + 1, .flags = TCP_ACK);
    ck_assert_uint_eq(l->acceptq_len, 1);
    tcp_close(l);
    o = EXPECT(TCP_RST | TCP_ACK, o.seq + 1, 9001, 0);
    ck_assert_uint_eq(o.sport, LPORT);
    ck_assert_uint_eq(o.dport, 40001);
    /* The accepted one lives on. */
    ck_assert_int_eq(c->state, TCPS_ESTABLISHED);
    tcp_abort(c);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(accept_queue_full_ignores_the_final_ack)
{
    int err;
    struct tcb *l = tcp_listen(T.ts, 0, LPORT, 1, NULL, &err);
    INJECT(.sport = 1000, .seq = 100, .flags = TCP_SYN);
    struct outseg o1 = EXPECT(TCP_SYN | TCP_ACK, ANY, 101, 0);
    INJECT(.sport = 1000, .seq = 101, .ack = o1.seq + 1, .flags = TCP_ACK);
    ck_assert_uint_eq(l->acceptq_len, 1);
    /* The queue is full: a new SYN is dropped. */
    INJECT(.sport = 1001, .seq = 200, .flags = TCP_SYN);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_drop_accept_queue_full), 1);
    struct tcb *c = tcp_accept_next(l);
    ck_assert_ptr_nonnull(c);
    tcp_abort(c);
    fx_drain();
    tcp_close(l);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(rst_in_time_wait_closes_it)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    tcp_shutdown_write(tcb);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 2, .flags = TCP_ACK | TCP_FIN);
    ck_assert_int_eq(tcb->state, TCPS_TIME_WAIT);
    tcp_close(tcb);
    INJECT(.seq = PEER_ISN + 2, .flags = TCP_RST);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(ack_below_the_window_gets_challenge_ack)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    INJECT(.seq = PEER_ISN + 1, .ack = iss - 100000, .flags = TCP_ACK, .data = "zz", .len = 2);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 0);
    ck_assert_uint_eq(CNT(tcp_drop_ack_too_old), 1);
    ck_assert_uint_eq(tcp_readable_bytes(tcb), 0);
    /* Segments without ACK are dropped. */
    INJECT(.seq = PEER_ISN + 1, .flags = 0, .data = "zz", .len = 2);
    EXPECT_NONE();
    ck_assert_uint_eq(CNT(tcp_drop_no_ack), 1);
    tcp_abort(tcb);
}
END_TEST

START_TEST(pure_ack_after_rto_carries_snd_max)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    FX_SET_OPT(tcb, nodelay, true);
    uint8_t d[2920];
    fx_fill(d, sizeof d, 11);
    tcp_write(tcb, d, sizeof d);
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 1460);
    EXPECT(TCP_ACK | TCP_PSH, iss + 1461, PEER_ISN + 1, 1460);
    fx_advance(USTACK_MS(210));
    EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 1460); /* the first lost segment, cwnd 1 MSS */
    EXPECT_NONE();
    ck_assert_uint_eq(tcb->lost_out, 2920);
    ck_assert_uint_eq(tcb->retrans_out, 1460);
    /* Data from the peer is ACKed with SND.MAX, which it can accept. */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .data = "abc", .len = 3);
    fx_advance(USTACK_MS(200));
    EXPECT(TCP_ACK, iss + 2921, PEER_ISN + 4, 0);
    tcp_abort(tcb);
}
END_TEST

START_TEST(persist_timer_overrides_sender_sws_avoidance)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    uint8_t d[3000];
    fx_fill(d, sizeof d, 12);
    /* The peer offers only 100 bytes after a large window was seen. */
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK, .wnd = 100);
    tcp_write(tcb, d, sizeof d);
    EXPECT_NONE();
    fx_advance(USTACK_MS(210));
    struct outseg o = EXPECT(TCP_ACK, iss + 1, PEER_ISN + 1, 100);
    ck_assert_mem_eq(o.data, d, 100);
    tcp_abort(tcb);
}
END_TEST

START_TEST(icmp_port_unreachable_refuses_a_connecting_socket)
{
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    struct outseg o = EXPECT(TCP_SYN, ANY, 0, 0);
    /* A soft error first (host unreachable): kept, not fatal. */
    fx_inject_icmp_error(ICMP_DEST_UNREACH, ICMP_UNREACH_HOST, LPORT, PPORT, o.seq);
    ck_assert_int_eq(tcb->state, TCPS_SYN_SENT);
    ck_assert_int_eq(tcb->soft_err, EHOSTUNREACH);
    /* A quoted sequence number we never sent is ignored (RFC 5927). */
    fx_inject_icmp_error(ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, LPORT, PPORT, o.seq + 5000);
    ck_assert_int_eq(tcb->state, TCPS_SYN_SENT);
    fx_inject_icmp_error(ICMP_DEST_UNREACH, ICMP_UNREACH_PORT, LPORT, PPORT, o.seq);
    ck_assert_int_eq(tcb->state, TCPS_CLOSED);
    ck_assert_int_eq(tcp_take_error(tcb), ECONNREFUSED);
    tcp_close(tcb);
}
END_TEST

START_TEST(ephemeral_ports_are_random_and_unique_per_tuple)
{
    int err;
    struct tcb *a = tcp_open_active(T.ts, 0, 0, T.peer, PPORT, NULL, &err);
    struct tcb *b = tcp_open_active(T.ts, 0, 0, T.peer, PPORT, NULL, &err);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_ge(a->lport, 49152);
    ck_assert_uint_ge(b->lport, 49152);
    ck_assert_uint_ne(a->lport, b->lport);
    ck_assert(tcp_port_in_use(T.ts, 0, a->lport));
    ck_assert_ptr_null(tcp_open_active(T.ts, 0, a->lport, T.peer, PPORT, NULL, &err));
    ck_assert_int_eq(err, -EADDRINUSE);
    uint16_t pa = a->lport;
    tcp_abort(a);
    tcp_abort(b);
    ck_assert(!tcp_port_in_use(T.ts, 0, pa));
}
END_TEST

START_TEST(urgent_data_is_delivered_inline)
{
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK | TCP_URG, .urg = 1, .data = "!ab", .len = 3);
    ck_assert_uint_eq(tcb->rcv_up, PEER_ISN + 2);
    char b[4];
    ck_assert_int_eq(tcp_read(tcb, b, sizeof b), 3);
    ck_assert_mem_eq(b, "!ab", 3);
    tcp_abort(tcb);
}
END_TEST

START_TEST(random_segments_never_break_invariants)
{
    /* A crude fuzzer: thousands of forged segments around the window of an
     * established connection, with reads and writes in between. Run under
     * ASan/UBSan this catches memory errors; the asserts catch broken
     * sequence-space invariants. */
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    uint64_t r = 12345 + (uint64_t)_i * 7919;
    uint8_t d[1500];
    fx_fill(d, sizeof d, 13);
    for (int i = 0; i < 20000 && tcb->state != TCPS_CLOSED; i++) {
        if (i == 5000 && (_i & 1))
            tcp_shutdown_write(tcb); /* the closing states too */
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t x = (uint32_t)(r >> 33);
        uint8_t flags = (uint8_t)(x & 0x3f);
        if ((x >> 6) % 64 == 0)
            flags |= TCP_RST; /* rarely */
        else
            flags &= (uint8_t)~TCP_RST;
        uint32_t seq = tcb->rcv_nxt + (uint32_t)((int32_t)((x >> 8) % 140000) - 70000);
        uint32_t ack = tcb->snd_una + (uint32_t)((int32_t)((x >> 12) % 8000) - 4000);
        size_t len = (x >> 20) % 3 ? 0 : (x >> 16) % 1460;
        INJECT(.seq = seq, .ack = ack, .flags = flags, .wnd = (x >> 3) % 5 ? 65535 : ZERO_WND, .data = d,
               .len = len);
        if (x % 7 == 0)
            tcp_write(tcb, d, (x >> 5) % 1500);
        if (x % 5 == 0) {
            uint8_t b[4096];
            tcp_read(tcb, b, sizeof b);
        }
        if (x % 11 == 0)
            fx_advance((x >> 4) % USTACK_MS(300));
        fx_drain();
        if (tcb->state != TCPS_CLOSED) {
            ck_assert(SEQ_LEQ(tcb->snd_una, tcb->snd_nxt));
            ck_assert(SEQ_LEQ(tcb->snd_nxt, tcb->snd_max));
            ck_assert_uint_le(tcb->rcvq.len, tcb->rcvq.cap);
            ck_assert_uint_le(tcb->sndq.len, tcb->sndq.cap);
            ck_assert(SEQ_LEQ(tcb->snd_buf_seq, tcb->snd_una + 1));
        }
    }
    if (getenv("TCP_SIM_VERBOSE"))
        fprintf(stderr, "fuzz: ended in %s, challenge ACKs %llu, ooo %llu\n", tcp_state_name(tcb->state),
                (unsigned long long)CNT(tcp_challenge_ack), (unsigned long long)CNT(tcp_rx_ooo));
    if (tcb->state == TCPS_CLOSED)
        tcp_close(tcb);
    else
        tcp_abort(tcb);
    fx_run_for(USTACK_SEC(200));
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST


/* Records the state transitions reported through the trace hook. */
static char trace_buf[1024];
static void trace_states(void *ctx, const struct tcb *tcb, const char *ev, uint32_t a, uint32_t b)
{
    (void)ctx;
    (void)tcb;
    if (strcmp(ev, "state") != 0)
        return;
    size_t n = strlen(trace_buf);
    snprintf(trace_buf + n, sizeof trace_buf - n, "%s%s>%s", n ? " " : "", tcp_state_name((enum tcp_state)a),
             tcp_state_name((enum tcp_state)b));
}

START_TEST(trace_shows_every_transition_of_an_active_close)
{
    trace_buf[0] = 0;
    tcp_set_trace(T.ts, trace_states, NULL);
    uint32_t iss;
    struct tcb *tcb = open_active(&iss, PEER_ISN, 0);
    tcp_close(tcb);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 2, .flags = TCP_ACK);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 2, .flags = TCP_ACK | TCP_FIN);
    fx_advance(USTACK_SEC(60));
    ck_assert_str_eq(trace_buf, "CLOSED>SYN-SENT SYN-SENT>ESTABLISHED ESTABLISHED>FIN-WAIT-1 "
                                "FIN-WAIT-1>FIN-WAIT-2 FIN-WAIT-2>TIME-WAIT TIME-WAIT>CLOSED");
}
END_TEST

START_TEST(trace_shows_every_transition_of_a_passive_close)
{
    trace_buf[0] = 0;
    tcp_set_trace(T.ts, trace_states, NULL);
    struct tcb *l;
    uint32_t iss;
    struct tcb *c = open_passive(&l, &iss, PEER_ISN);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK | TCP_FIN);
    tcp_close(c);
    INJECT(.seq = PEER_ISN + 2, .ack = iss + 2, .flags = TCP_ACK);
    tcp_close(l);
    ck_assert_str_eq(trace_buf, "CLOSED>LISTEN CLOSED>SYN-RECEIVED SYN-RECEIVED>ESTABLISHED "
                                "ESTABLISHED>CLOSE-WAIT CLOSE-WAIT>LAST-ACK LAST-ACK>CLOSED LISTEN>CLOSED");
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST


START_TEST(close_in_syn_received_sends_fin_once_established)
{
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    struct outseg o = EXPECT(TCP_SYN, ANY, 0, 0);
    uint32_t iss = o.seq;
    INJECT(.seq = PEER_ISN, .flags = TCP_SYN, .mss = 1460);
    EXPECT(TCP_SYN | TCP_ACK, iss, PEER_ISN + 1, 0);
    ck_assert_int_eq(tcb->state, TCPS_SYN_RECEIVED);
    tcp_close(tcb);
    EXPECT_NONE();
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 1, .flags = TCP_ACK);
    ck_assert_int_eq(tcb->state, TCPS_FIN_WAIT_1);
    EXPECT(TCP_ACK | TCP_FIN, iss + 1, PEER_ISN + 1, 0);
    INJECT(.seq = PEER_ISN + 1, .ack = iss + 2, .flags = TCP_ACK | TCP_FIN);
    EXPECT(TCP_ACK, iss + 2, PEER_ISN + 2, 0);
    fx_advance(USTACK_SEC(60));
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(data_in_syn_ack_is_delivered)
{
    int err;
    struct tcb *tcb = tcp_open_active(T.ts, 0, LPORT, T.peer, PPORT, NULL, &err);
    struct outseg o = EXPECT(TCP_SYN, ANY, 0, 0);
    INJECT(.seq = PEER_ISN, .ack = o.seq + 1, .flags = TCP_SYN | TCP_ACK | TCP_FIN, .mss = 1460, .data = "hi",
           .len = 2);
    ck_assert_int_eq(tcb->state, TCPS_CLOSE_WAIT);
    EXPECT(TCP_ACK, o.seq + 1, PEER_ISN + 4, 0);
    char b[4];
    ck_assert_int_eq(tcp_read(tcb, b, sizeof b), 2);
    ck_assert_int_eq(tcp_read(tcb, b, sizeof b), 0);
    tcp_abort(tcb);
}
END_TEST

/* ------------------------------------------------------------ simulation */

/* Two stacks on the library's simulator (ustack/sim.h): each sends through
 * its own seeded fault injector (drop, duplicate, reorder, corrupt, delay
 * with jitter), and virtual time jumps to the next event. The
 * applications are written here against the engine's calls. A bulk
 * transfer must arrive intact and both sides must close cleanly, whatever
 * the seed. */

#define SIM_PORT 5001

static uint8_t sim_byte(uint64_t i) { return (uint8_t)(i * 131 + (i >> 9) + 7); }

struct sim_opts {
    uint64_t seed;
    double loss, reorder, dup, corrupt;
    size_t nbytes;
    bool echo;                   /* B sends everything back; A checks it */
    size_t rcvbuf;               /* B's receive buffer (0: default) */
    size_t read_chunk;           /* slow reader: B reads this much ... */
    ustack_time_t read_every_us; /* ... this often (0: as fast as it comes) */
};

struct sim_result {
    uint64_t received, echoed;
    bool ok_data, closed_a, closed_b;
    int err_a, err_b;
    ustack_time_t elapsed;
};

static struct ustack *sim_node(struct ustack_sim *sim, uint8_t host, const struct sim_opts *o)
{
    struct ustack_config cfg;
    ustack_config_default(&cfg);
    uint8_t a[4] = {10, 0, 0, host};
    memcpy(&cfg.addr, a, 4);
    cfg.arp_gratuitous = 0;
    cfg.arp_reachable_us = USTACK_SEC(1000000);
    cfg.arp_stale_gc_us = USTACK_SEC(1000000);
    struct ustack_fault_config f = {0};
    f.out.drop = o->loss;
    f.out.dup = o->dup;
    f.out.reorder = o->reorder;
    f.out.corrupt = o->corrupt;
    f.out.delay_us = USTACK_MS(5);
    f.out.jitter_us = USTACK_MS(1);
    struct ustack *st = ustack_sim_add(sim, &cfg, &f);
    ck_assert_ptr_nonnull(st);
    return st;
}

static void sim_run(const struct sim_opts *o, struct sim_result *r)
{
    uint64_t seed = o->seed;
    size_t nbytes = o->nbytes;
    struct ustack_sim *sim = ustack_sim_new(seed, USTACK_SEC(10));
    ck_assert_ptr_nonnull(sim);
    struct ustack *sta = sim_node(sim, 1, o), *stb = sim_node(sim, 2, o);
    struct tcp_stack *tsa = sta->tcp, *tsb = stb->tcp;
    memset(r, 0, sizeof *r);
    r->ok_data = true;
    struct tcp_opts lo;
    tcp_opts_default(tsb, &lo);
    if (o->rcvbuf) {
        lo.rcvbuf = o->rcvbuf;
        lo.rcvbuf_lock = true;
    }
    int err;
    struct tcb *l = tcp_listen(tsb, 0, SIM_PORT, 4, &lo, &err);
    ck_assert_ptr_nonnull(l);
    struct tcb *a = tcp_open_active(tsa, 0, 0, stb->cfg.addr, SIM_PORT, NULL, &err);
    ck_assert_ptr_nonnull(a);
    struct tcb *b = NULL;
    uint64_t sent = 0;
    bool a_shut = false, a_closed = false, b_closed = false, b_eof = false;
    ustack_time_t start = ustack_sim_now(sim), limit = start + USTACK_SEC(3600);
    ustack_time_t next_read = 0;
    static uint8_t chunk[65536], bbuf[65536];
    size_t bbuf_len = 0, bbuf_off = 0;
    for (;;) {
        /* Until the next event, or the slow reader's next read. */
        ustack_time_t now = ustack_sim_now(sim);
        bool wake = next_read > now && next_read < limit;
        if (ustack_sim_step(sim, wake ? next_read : limit) != 0) {
            if (!wake)
                break;
            ustack_sim_run_until(sim, NULL, NULL, next_read);
        }
        now = ustack_sim_now(sim);
        /* A: writes the pattern, then half-closes; reads the echo. */
        if (!a_closed && a->state >= TCPS_ESTABLISHED && sent < nbytes) {
            size_t n = nbytes - sent < sizeof chunk ? nbytes - sent : sizeof chunk;
            for (size_t i = 0; i < n; i++)
                chunk[i] = sim_byte(sent + i);
            ssize_t w = tcp_write(a, chunk, n);
            if (w > 0)
                sent += (uint64_t)w;
        }
        if (!a_closed && !a_shut && sent == nbytes && a->state == TCPS_ESTABLISHED) {
            tcp_shutdown_write(a);
            a_shut = true;
        }
        if (!a_closed) {
            ssize_t n;
            while ((n = tcp_read(a, chunk, sizeof chunk)) > 0) {
                for (ssize_t i = 0; i < n; i++)
                    if (chunk[i] != sim_byte(r->echoed + (uint64_t)i))
                        r->ok_data = false;
                r->echoed += (uint64_t)n;
            }
            if (n == 0 || (n < 0 && n != -EAGAIN)) {
                r->err_a = n < 0 ? (int)-n : 0;
                r->closed_a = n == 0;
                tcp_close(a);
                a_closed = true;
            }
        }
        /* B: accepts, reads (perhaps slowly), echoes, closes after EOF. */
        if (!b)
            b = tcp_accept_next(l);
        if (b && !b_closed) {
            bool may_read = !o->read_every_us || now >= next_read;
            ssize_t n = -EAGAIN;
            while (may_read && bbuf_off == bbuf_len && !b_eof) {
                size_t want = o->read_chunk ? o->read_chunk : sizeof bbuf;
                n = tcp_read(b, bbuf, want);
                if (n <= 0)
                    break;
                for (ssize_t i = 0; i < n; i++)
                    if (bbuf[i] != sim_byte(r->received + (uint64_t)i))
                        r->ok_data = false;
                r->received += (uint64_t)n;
                bbuf_len = o->echo ? (size_t)n : 0;
                bbuf_off = 0;
                if (o->read_every_us) {
                    next_read = now + o->read_every_us;
                    break;
                }
                if (o->echo) {
                    ssize_t w = tcp_write(b, bbuf, bbuf_len);
                    if (w > 0)
                        bbuf_off += (size_t)w;
                }
            }
            if (bbuf_off < bbuf_len) {
                ssize_t w = tcp_write(b, bbuf + bbuf_off, bbuf_len - bbuf_off);
                if (w > 0)
                    bbuf_off += (size_t)w;
            }
            if (n == 0)
                b_eof = true;
            if (n < 0 && n != -EAGAIN) {
                r->err_b = (int)-n;
                tcp_close(b);
                b_closed = true;
            } else if (b_eof && bbuf_off == bbuf_len) {
                r->closed_b = true;
                tcp_close(b);
                b_closed = true;
            }
        }
        if (a_closed && b_closed && tcp_tcb_count(tsa) == 0 && tcp_tcb_count(tsb) == 1)
            break;
    }
    r->elapsed = ustack_sim_now(sim) - start;
    ck_assert_msg(a_closed && b_closed, "seed %llu: stalled at %llu of %zu bytes (a %s, b %s)",
                  (unsigned long long)seed, (unsigned long long)r->received, nbytes,
                  a_closed ? "closed" : tcp_state_name(a->state),
                  b ? (b_closed ? "closed" : tcp_state_name(b->state)) : "none");
    if (getenv("TCP_SIM_VERBOSE")) {
        struct ustack *node[2] = {sta, stb};
        for (int i = 0; i < 2; i++) {
            fprintf(stderr, "node %d:", i);
#define X(name)                                                                                                \
    if (node[i]->counters[CNT_##name])                                                                         \
        fprintf(stderr, " %s=%llu", #name, (unsigned long long)node[i]->counters[CNT_##name]);
            TCP_COUNTERS(X)
#undef X
            fprintf(stderr, "\n");
        }
    }
    tcp_close(l);
    struct ustack *stacks[2] = {sta, stb};
    fx_sim_release(sim, stacks, 2);
    ustack_sim_free(sim);
}

static void sim_check(const struct sim_opts *o)
{
    struct sim_result r;
    sim_run(o, &r);
    if (getenv("TCP_SIM_VERBOSE"))
        fprintf(stderr, "seed %llu loss %.2f: %llu bytes (%llu echoed) in %.3f s virtual\n",
                (unsigned long long)o->seed, o->loss, (unsigned long long)r.received,
                (unsigned long long)r.echoed, (double)r.elapsed / 1e6);
    ck_assert_msg(r.ok_data && r.received == o->nbytes && r.echoed == (o->echo ? o->nbytes : 0),
                  "seed %llu loss %.2f: received %llu, echoed %llu of %zu bytes, data %s",
                  (unsigned long long)o->seed, o->loss, (unsigned long long)r.received,
                  (unsigned long long)r.echoed, o->nbytes, r.ok_data ? "ok" : "CORRUPT");
    ck_assert_msg(r.closed_a && r.closed_b && r.err_a == 0 && r.err_b == 0,
                  "seed %llu loss %.2f: unclean close (a err %d, b err %d)", (unsigned long long)o->seed, o->loss,
                  r.err_a, r.err_b);
}

/* TCP_SIM_SEEDS=N runs seeds 1..N (default 40); TCP_SIM_SEED=S replays one;
 * TCP_SIM_BYTES sets the transfer size. */
static void sim_seed_range(uint64_t *first, uint64_t *last, size_t *nbytes)
{
    *first = 1;
    *last = 40;
    if (getenv("TCP_SIM_SEEDS"))
        *last = strtoull(getenv("TCP_SIM_SEEDS"), NULL, 0);
    if (getenv("TCP_SIM_SEED"))
        *first = *last = strtoull(getenv("TCP_SIM_SEED"), NULL, 0);
    if (getenv("TCP_SIM_BYTES"))
        *nbytes = strtoull(getenv("TCP_SIM_BYTES"), NULL, 0);
}

static const double sim_losses[] = {0.01, 0.02, 0.05, 0.1, 0.2};

START_TEST(sim_transfer_without_loss)
{
    struct sim_opts o = {.seed = 1, .nbytes = 4u << 20};
    sim_check(&o);
}
END_TEST

START_TEST(sim_transfer_under_loss_reordering_duplication_corruption)
{
    struct sim_opts o = {.reorder = 0.05, .dup = 0.02, .corrupt = 0.01, .nbytes = 256u << 10};
    uint64_t first, last;
    sim_seed_range(&first, &last, &o.nbytes);
    for (o.seed = first; o.seed <= last; o.seed++) {
        o.loss = sim_losses[o.seed % 5];
        sim_check(&o);
    }
}
END_TEST

START_TEST(sim_echo_both_directions_under_loss)
{
    struct sim_opts o = {.reorder = 0.05, .dup = 0.02, .corrupt = 0.01, .nbytes = 128u << 10, .echo = true};
    uint64_t first, last;
    sim_seed_range(&first, &last, &o.nbytes);
    last = first + (last - first) / 2;
    for (o.seed = first; o.seed <= last; o.seed++) {
        o.loss = sim_losses[o.seed % 5];
        sim_check(&o);
    }
}
END_TEST

START_TEST(sim_slow_reader_closes_and_reopens_the_window)
{
    /* 1 KiB every 10 ms behind a 8 KiB buffer: zero windows, persist
     * probes and window updates, with and without loss. */
    struct sim_opts o = {.nbytes = 64u << 10, .rcvbuf = 8192, .read_chunk = 1024,
                         .read_every_us = USTACK_MS(10)};
    for (o.seed = 1; o.seed <= 10; o.seed++) {
        o.loss = o.seed <= 2 ? 0 : sim_losses[o.seed % 5];
        o.reorder = o.seed <= 2 ? 0 : 0.05;
        sim_check(&o);
    }
}
END_TEST

Suite *suite_tcp_engine(void)
{
    Suite *s = suite_create("tcp_engine");
    TCase *tc = tcase_create("tcp");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_add_test(tc, active_open_sends_syn_and_completes_on_syn_ack);
    tcase_add_test(tc, passive_open_answers_syn_ack_and_queues_for_accept);
    tcase_add_test(tc, syn_ack_without_mss_option_uses_536);
    tcase_add_test(tc, simultaneous_open_goes_through_syn_received);
    tcase_add_test(tc, syn_is_retransmitted_with_backoff_then_times_out);
    tcase_add_test(tc, rst_acking_our_syn_refuses_the_connection);
    tcase_add_test(tc, closed_port_answers_rst);
    tcase_add_test(tc, listen_answers_ack_with_rst_and_ignores_rst);
    tcase_add_test(tc, bad_checksum_is_dropped_and_counted);
    tcase_add_test(tc, syn_queue_is_bounded);
    tcase_add_test(tc, synack_retransmitted_on_duplicate_syn);
    tcase_add_test(tc, in_order_data_is_acked_after_delack_timeout);
    tcase_add_test(tc, every_second_full_segment_is_acked_at_once);
    tcase_add_test(tc, out_of_order_data_gets_dup_ack_and_gap_fill_acks_all);
    tcase_add_test(tc, overlapping_and_duplicate_data_is_trimmed);
    tcase_add_test(tc, receive_window_closes_and_reopens_on_read);
    tcase_add_test(tc, nagle_holds_a_small_tail_until_acked);
    tcase_add_test(tc, nodelay_sends_the_small_tail_at_once);
    tcase_add_test(tc, rto_retransmits_with_exponential_backoff);
    tcase_add_test(tc, rto_follows_rfc6298);
    tcase_add_test(tc, data_retries_exhausted_gives_etimedout);
    tcase_add_test(tc, three_dup_acks_trigger_fast_retransmit);
    tcase_add_test(tc, fast_retransmit_with_cubic_keeps_seven_tenths);
    tcase_add_test(tc, zero_window_is_probed_with_backoff_and_resumes);
    tcase_add_test(tc, zero_window_that_never_opens_times_out);
    tcase_add_test(tc, zero_window_answered_by_a_live_peer_is_never_given_up);
    tcase_add_test(tc, send_buffer_full_returns_eagain);
    tcase_add_test(tc, active_close_goes_through_fin_wait_and_time_wait);
    tcase_add_test(tc, passive_close_goes_through_close_wait_and_last_ack);
    tcase_add_test(tc, simultaneous_close_goes_through_closing);
    tcase_add_test(tc, close_with_unread_data_sends_rst);
    tcase_add_test(tc, orphan_in_fin_wait_2_is_reset_after_timeout);
    tcase_add_test(tc, initial_window_and_fin_wait2_limit_come_from_the_config);
    tcase_add_test(tc, time_wait_is_reopened_by_a_syn_with_higher_sequence);
    tcase_add_test(tc, rst_with_exact_sequence_resets);
    tcase_add_test(tc, in_window_rst_gets_challenge_ack);
    tcase_add_test(tc, syn_in_established_gets_challenge_ack);
    tcase_add_test(tc, challenge_acks_are_rate_limited);
    tcase_add_test(tc, ack_of_unsent_data_is_dropped_with_ack);
    tcase_add_test(tc, sequence_numbers_wrap_around);
    tcase_add_test(tc, keepalive_probes_then_times_out);
    tcase_add_test(tc, isn_follows_rfc6528);
    tcase_add_test(tc, fin_acked_and_received_together_goes_to_time_wait);
    tcase_add_test(tc, close_in_syn_received_sends_fin_once_established);
    tcase_add_test(tc, data_in_syn_ack_is_delivered);
    tcase_add_test(tc, trace_shows_every_transition_of_an_active_close);
    tcase_add_test(tc, trace_shows_every_transition_of_a_passive_close);
    tcase_add_test(tc, shutdown_during_handshake_sends_fin_after_it);
    tcase_add_test(tc, out_of_order_fin_is_taken_when_the_gap_fills);
    tcase_add_test(tc, data_after_close_is_answered_with_rst);
    tcase_add_test(tc, rst_in_syn_received_forgets_the_child);
    tcase_add_test(tc, synack_retransmission_gives_up_silently);
    tcase_add_test(tc, closing_a_listener_resets_unaccepted_connections);
    tcase_add_test(tc, accept_queue_full_ignores_the_final_ack);
    tcase_add_test(tc, rst_in_time_wait_closes_it);
    tcase_add_test(tc, ack_below_the_window_gets_challenge_ack);
    tcase_add_test(tc, pure_ack_after_rto_carries_snd_max);
    tcase_add_test(tc, persist_timer_overrides_sender_sws_avoidance);
    tcase_add_test(tc, icmp_port_unreachable_refuses_a_connecting_socket);
    tcase_add_test(tc, ephemeral_ports_are_random_and_unique_per_tuple);
    tcase_add_test(tc, urgent_data_is_delivered_inline);
    tcase_add_loop_test(tc, random_segments_never_break_invariants, 0, 8);
    suite_add_tcase(s, tc);
    TCase *sim = tcase_create("sim");
    tcase_set_timeout(sim, 600);
    tcase_add_test(sim, sim_transfer_without_loss);
    tcase_add_test(sim, sim_transfer_under_loss_reordering_duplication_corruption);
    tcase_add_test(sim, sim_echo_both_directions_under_loss);
    tcase_add_test(sim, sim_slow_reader_closes_and_reopens_the_window);
    suite_add_tcase(s, sim);
    return s;
}
