/*
 * ustackd's control socket: a Unix stream socket on which every connection
 * gets one text snapshot of the stack (connections, counters, usage), then
 * end of file. ustack-stat reads it; so can `socat - UNIX-CONNECT:PATH`.
 *
 * The path is given with `ustackd --control PATH`, or defaults to one named
 * after the TAP: /run/ustack/TAP.sock, or /tmp/ustack-TAP.sock when /run is
 * not writable. (Network namespaces share the filesystem: two ustackds on
 * "tap0" in two namespaces need --control to tell their sockets apart.)
 *
 * The snapshot, version 1 (docs/stat.md). One record per line, fields
 * separated by one space; a reader ignores record types and conn keys it does
 * not know, so records and keys can be added without a new version:
 *
 *   ustack-control 1                      first line: format and version
 *   tap tap0                              the TAP ustackd runs on
 *   addr 10.0.0.2                         the stack's address
 *   now_us 123456789                      the stack's clock (monotonic, us)
 *   conn state=ESTABLISHED local=10.0.0.2:80 remote=10.0.0.1:40312 iss=N irs=N
 *        snd_una=N snd_nxt=N snd_max=N rcv_nxt=N inflight=N cwnd=N ssthresh=N|inf
 *        srtt_us=N rttvar_us=N rto_us=N rto_backoff=N retrans=N sendq=N recvq=N
 *        snd_wnd=N rcv_wnd=N mss=N        (one line; one per TCB, listeners too;
 *                                          the fields of struct ustack_conn_info)
 *   counter NAME VALUE                    every counter of ustack_counter_name(),
 *                                          zeros included, in the stack's order,
 *                                          then fault_in_* / fault_out_* when a
 *                                          fault injector is in use
 *   usage NAME VALUE                      ustack_get_usage(): pbufs, timers,
 *                                          arp_entries, arp_queued, reasm_datagrams,
 *                                          reasm_bytes, sockets, tcp_connections, tcp_busy
 *   end                                   last line: the snapshot is complete
 *
 * Everything is taken in one ustack_rt_locked() call, so it is one instant
 * of the stack; the text is formatted and written after the lock is released.
 */
#ifndef USTACK_APPS_CONTROL_H
#define USTACK_APPS_CONTROL_H

#include <stdio.h>
#include "common.h"

#define CONTROL_MAGIC "ustack-control"
#define CONTROL_VERSION 1
#define CONTROL_RUN_DIR "/run/ustack"

/* The default paths for a TAP: which = 0 gives /run/ustack/TAP.sock, 1 gives
 * /tmp/ustack-TAP.sock. Returns snprintf's result. */
static inline int control_default_path(const char *tap, int which, char *buf, size_t cap)
{
    return which == 0 ? snprintf(buf, cap, CONTROL_RUN_DIR "/%s.sock", tap)
                      : snprintf(buf, cap, "/tmp/ustack-%s.sock", tap);
}

struct control;

/* Binds the control socket for n (before app_net_start(), so that a bad
 * --control fails before the stack sends anything). path: an explicit path;
 * any problem is an error (message printed, NULL returned). path NULL: the
 * default for n->tap; a problem there (another ustackd serving the same
 * name, nothing writable) only prints a warning, and NULL is returned. */
struct control *control_open(struct app_net *n, const char *path);
/* Starts serving snapshots of n's stack (now started) from a thread of its
 * own; connections made since control_open() waited in the backlog. 0 or -1. */
int control_serve(struct control *c);
const char *control_path(const struct control *c);
/* Stops the thread and removes the socket file (if it is still ours). NULL
 * is fine. */
void control_stop(struct control *c);

#endif
