/*
 * The tables that grow with the number of connections: the TCP connection
 * table doubles as it fills and still finds every connection, and the socket
 * table hands out the lowest free number without walking the open sockets.
 */
#include <check.h>
#include <errno.h>
#include "harness.h"
#include "tcp.h"
#include "tcp_fixture.h"

#define NCONN 3000 /* almost three TCBs per chain of the first table */

START_TEST(the_connection_table_doubles_and_finds_every_connection)
{
    static struct tcb *c[NCONN];
    for (int i = 0; i < NCONN; i++) {
        c[i] = tcp_open_active(T.ts, 0, (uint16_t)(10000 + i), T.peer, PPORT, NULL, NULL);
        ck_assert_ptr_nonnull(c[i]);
    }
    /* 1024 chains -> 2048 at TCB 1025 -> 4096 at TCB 2049. */
    ck_assert_uint_eq(CNT(tcp_hash_grown), 2);
    for (int i = 0; i < NCONN; i++)
        ck_assert_ptr_eq(tcp_lookup(T.ts, T.us, (uint16_t)(10000 + i), T.peer, PPORT), c[i]);
    ck_assert_ptr_null(tcp_lookup(T.ts, T.us, 9999, T.peer, PPORT));
    /* Half of them gone: the others are still found, the gone ones not. */
    for (int i = 0; i < NCONN; i += 2)
        tcp_abort(c[i]);
    for (int i = 0; i < NCONN; i++) {
        struct tcb *t = tcp_lookup(T.ts, T.us, (uint16_t)(10000 + i), T.peer, PPORT);
        if (i % 2)
            ck_assert_ptr_eq(t, c[i]);
        else
            ck_assert_ptr_null(t);
    }
    for (int i = 1; i < NCONN; i += 2)
        tcp_abort(c[i]);
    ck_assert_uint_eq(tcp_tcb_count(T.ts), 0);
}
END_TEST

START_TEST(sockets_get_the_lowest_free_number)
{
    struct h *t = h_new();
    int fd[200];
    for (int i = 0; i < 200; i++) {
        fd[i] = us_socket(t->st, AF_INET, SOCK_DGRAM, 0);
        ck_assert_int_eq(fd[i], i);
    }
    static const int gone[] = {199, 130, 65, 64, 3};
    for (unsigned k = 0; k < 5; k++)
        ck_assert_int_eq(us_close(t->st, gone[k]), 0);
    static const int want[] = {3, 64, 65, 130, 199, 200};
    for (unsigned k = 0; k < 6; k++)
        ck_assert_int_eq(us_socket(t->st, AF_INET, SOCK_DGRAM, 0), want[k]);
    for (int i = 0; i <= 200; i++)
        ck_assert_int_eq(us_close(t->st, i), 0);
    ck_assert_uint_eq(h_usage(t).sockets, 0);
    ck_assert_int_eq(us_socket(t->st, AF_INET, SOCK_DGRAM, 0), 0);
    ck_assert_int_eq(us_close(t->st, 0), 0);
    h_done(t);
}
END_TEST

START_TEST(the_default_socket_table_holds_65536)
{
    struct ustack_config cfg;
    ustack_config_default(&cfg);
    ck_assert_uint_eq(cfg.max_sockets, 65536);
}
END_TEST

Suite *suite_tables(void)
{
    Suite *s = suite_create("tables");
    TCase *tc = tcase_create("tcp");
    tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, the_connection_table_doubles_and_finds_every_connection);
    suite_add_tcase(s, tc);
    TCase *ts = tcase_create("sockets");
    h_tcase(ts);
    tcase_add_test(ts, sockets_get_the_lowest_free_number);
    tcase_add_test(ts, the_default_socket_table_holds_65536);
    suite_add_tcase(s, ts);
    return s;
}
