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
#include <sys/epoll.h>
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
/* As poll(2): events POLLIN, POLLOUT, POLLRDHUP; revents may add POLLERR,
 * POLLHUP. timeout_ms < 0 waits forever. Returns the number of ready
 * entries. */
int us_poll(struct ustack *st, struct pollfd *fds, nfds_t n, int timeout_ms);

/* epoll(7) over the stack's sockets. An instance is a descriptor of the
 * stack, like a socket (us_close frees it; the socket calls give ENOTSOCK
 * on it); flags may be EPOLL_CLOEXEC (no effect) and nothing else.
 * us_epoll_ctl: EPOLL_CTL_ADD, _MOD, _DEL of a socket with EPOLLIN, EPOLLOUT,
 * EPOLLRDHUP, EPOLLET and EPOLLONESHOT (EPOLLERR and EPOLLHUP are always
 * reported) and `data` returned as given; a socket closed while registered
 * leaves the instance. us_epoll_wait returns up to maxevents ready entries,
 * waiting up to timeout_ms (< 0: forever; never without a runtime); its cost
 * is in the number of entries that became ready, not of those registered.
 * Instances cannot watch each other (EINVAL): a kernel epoll watches them
 * through us_epoll_fd. */
int us_epoll_create(struct ustack *st, int flags);
int us_epoll_ctl(struct ustack *st, int epfd, int op, int fd, struct epoll_event *ev);
int us_epoll_wait(struct ustack *st, int epfd, struct epoll_event *events, int maxevents, int timeout_ms);
/* A kernel file descriptor that is readable while the instance has entries
 * ready (level-triggered), for poll(2), select(2) or a kernel epoll that
 * also waits on the program's own descriptors: when it is readable, call
 * us_epoll_wait with timeout 0. It stays the instance's (closed with it).
 * EOPNOTSUPP without a runtime. It may be readable once with nothing to
 * report, when what was ready stopped being so before the wait looked. */
int us_epoll_fd(struct ustack *st, int epfd);

#ifdef __cplusplus
}
#endif
#endif
