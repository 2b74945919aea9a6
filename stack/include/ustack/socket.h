/*
 * A BSD-like socket API on top of a `struct ustack`.
 *
 * Names, arguments, constants (AF_INET, SOCK_DGRAM, SOCK_RAW, SOL_SOCKET,
 * SO_RCVBUF, IP_HDRINCL, MSG_DONTWAIT, POLLIN, ...) and errno values are those
 * of BSD sockets, from the system headers; each call takes the stack as its
 * first argument and returns -1 with errno set on failure.
 *
 * Sockets are small integers local to one stack. When a runtime drives the
 * stack (ustack/runtime.h) every call is thread-safe and blocking calls sleep
 * until the stack's loop thread changes the socket's state. Without a runtime
 * (simulator, unit tests) all calls behave as non-blocking.
 *
 * Socket types: SOCK_STREAM (TCP: connect, listen and accept, with the
 * options below), SOCK_DGRAM (UDP) and SOCK_RAW (any IP protocol, as on
 * Linux: receives a copy of each matching datagram including its IP header;
 * sends with the stack building the header, or the caller's own with
 * IP_HDRINCL).
 */
#ifndef USTACK_SOCKET_H
#define USTACK_SOCKET_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <poll.h>
#include <ustack/ustack.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Stream sockets also take, at level IPPROTO_TCP: TCP_NODELAY, TCP_KEEPIDLE,
 * TCP_KEEPINTVL, TCP_KEEPCNT, TCP_CONGESTION (a name: "cubic", "newreno",
 * "reno"), and this one, an int of USTACK_TCPF_* bits (ustack/ustack.h);
 * both take effect for a connection opened after they are set (the SYN
 * negotiates the options) and carry over from a listener to its children. */
#define USTACK_TCP_FEATURES 0x7501
/* Also at level IPPROTO_TCP, an int: a listener's SYN cookies, as
 * ustack_config.tcp.syncookies (0 never, 1 when its SYN queue is full, 2
 * always); other values are EINVAL. */
#define USTACK_TCP_SYNCOOKIES 0x7502

/* type may carry SOCK_NONBLOCK. */
int us_socket(struct ustack *st, int domain, int type, int protocol);
int us_bind(struct ustack *st, int s, const struct sockaddr *addr, socklen_t len);
int us_connect(struct ustack *st, int s, const struct sockaddr *addr, socklen_t len);
int us_listen(struct ustack *st, int s, int backlog);
/* flags may carry SOCK_NONBLOCK for the new socket. */
int us_accept(struct ustack *st, int s, struct sockaddr *addr, socklen_t *len, int flags);
ssize_t us_sendto(struct ustack *st, int s, const void *buf, size_t len, int flags,
                  const struct sockaddr *to, socklen_t tolen);
ssize_t us_send(struct ustack *st, int s, const void *buf, size_t len, int flags);
ssize_t us_recvfrom(struct ustack *st, int s, void *buf, size_t len, int flags,
                    struct sockaddr *from, socklen_t *fromlen);
ssize_t us_recv(struct ustack *st, int s, void *buf, size_t len, int flags);
int us_shutdown(struct ustack *st, int s, int how);
int us_close(struct ustack *st, int s);
int us_setsockopt(struct ustack *st, int s, int level, int name, const void *val, socklen_t len);
int us_getsockopt(struct ustack *st, int s, int level, int name, void *val, socklen_t *len);
int us_getsockname(struct ustack *st, int s, struct sockaddr *addr, socklen_t *len);
int us_getpeername(struct ustack *st, int s, struct sockaddr *addr, socklen_t *len);
/* Sets or clears O_NONBLOCK-like behaviour. */
int us_set_nonblocking(struct ustack *st, int s, int on);
/* As poll(2): events POLLIN, POLLOUT; revents may add POLLERR, POLLHUP.
 * timeout_ms < 0 waits forever. Returns the number of ready entries. */
int us_poll(struct ustack *st, struct pollfd *fds, nfds_t n, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
