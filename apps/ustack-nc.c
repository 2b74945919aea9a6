/*
 * ustack-nc: netcat on a ustack instance. Connects to HOST PORT (or, with -l,
 * waits for one connection on PORT), copies standard input to the socket and
 * the socket to standard output, and half-closes the connection when standard
 * input ends; it exits when both directions have ended (or on an error).
 *
 * One thread, one loop: poll(2) waits on standard input and on the kernel
 * descriptor of a ustack epoll instance (us_epoll_fd) that watches the
 * connection, so neither direction waits for the other.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ustack/socket.h>
#include "common.h"
#include "util.h"

/* The two directions of the connection, driven from one loop. */
struct nc {
    struct ustack *st;
    int fd, ep;
    uint8_t out[16384];     /* read from standard input, not yet sent */
    size_t out_len, out_off;
    bool in_eof;            /* standard input ended */
    bool shut;              /* ... and everything is sent and SHUT_WR done */
    bool peer_eof;          /* the peer's FIN: nothing more to read */
    uint32_t watching;      /* the events registered */
};

/* What the connection is watched for: data until the peer's EOF, room
 * while something waits to be sent (errors and hang-ups always). */
static int nc_watch(struct nc *c)
{
    uint32_t want = (c->peer_eof ? 0 : EPOLLIN | EPOLLRDHUP) | (c->out_len > c->out_off ? EPOLLOUT : 0);
    if (want == c->watching)
        return 0;
    struct epoll_event ev = {.events = want, .data.fd = c->fd};
    c->watching = want;
    return us_epoll_ctl(c->st, c->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends what is buffered as far as the window allows; at input EOF with
 * nothing left, half-closes. Returns 0 or -1 with errno (EPIPE: the peer
 * is gone, which ends this direction quietly). */
static int nc_flush(struct nc *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = us_send(c->st, c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->out_off += (size_t)n;
    }
    c->out_off = c->out_len = 0;
    if (c->in_eof && !c->shut) {
        us_shutdown(c->st, c->fd, SHUT_WR);
        c->shut = true;
    }
    return 0;
}

/* Each direction moves at most this much per turn of the loop, so that a
 * fast one does not starve the other. */
#define NC_TURN (256 * 1024)

/* Reads what the connection holds to standard output (one turn's worth). */
static int nc_drain(struct nc *c)
{
    uint8_t buf[16384];
    for (size_t moved = 0; moved < NC_TURN; moved += sizeof buf) {
        ssize_t n = us_recv(c->st, c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0) {
            c->peer_eof = true;
            return 0;
        }
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
            return -1;
        fflush(stdout);
    }
    return 0;
}

/* Standard input to the connection: what poll found readable, then more
 * while input is readable at once and the connection takes it, one turn's
 * worth. Returns what nc_flush returns. */
static int nc_pump_in(struct nc *c, bool readable)
{
    for (size_t moved = 0; readable && !c->in_eof && c->out_len == 0 && moved < NC_TURN;) {
        ssize_t n = read(0, c->out, sizeof c->out);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            c->in_eof = true;
        } else {
            c->out_len = (size_t)n;
            moved += (size_t)n;
        }
        if (nc_flush(c) < 0)
            return -1;
        struct pollfd p = {.fd = 0, .events = POLLIN};
        readable = poll(&p, 1, 0) == 1;
    }
    return nc_flush(c);
}

/* Until both directions are over. Returns the exit status. */
static int nc_run(struct nc *c)
{
    c->ep = us_epoll_create(c->st, 0);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c->fd};
    c->watching = ev.events;
    int kfd = c->ep < 0 || us_epoll_ctl(c->st, c->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0 ? -1 : us_epoll_fd(c->st, c->ep);
    if (kfd < 0) {
        fprintf(stderr, "ustack-nc: epoll: %s\n", strerror(errno));
        return 1;
    }
    int rc = 0;
    while (!(c->peer_eof && c->shut)) {
        struct pollfd pfd[2] = {{.fd = kfd, .events = POLLIN}, {.fd = -1, .events = POLLIN}};
        /* Standard input only while there is room to take it. */
        if (!c->in_eof && c->out_len == 0)
            pfd[1].fd = 0;
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = 1;
            break;
        }
        struct epoll_event got = {0};
        bool hup = false;
        if (us_epoll_wait(c->st, c->ep, &got, 1, 0) < 0) {
            rc = 1;
            break;
        }
        /* An error or hang-up is reported whatever is watched: the
         * connection is over (a pending error comes out of the read). */
        hup = got.events & (EPOLLERR | EPOLLHUP);
        if ((!c->peer_eof || hup) && nc_drain(c) < 0) {
            fprintf(stderr, "ustack-nc: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        if (hup && !(c->peer_eof && c->shut))
            break;
        if (nc_pump_in(c, pfd[1].revents != 0) < 0) {
            if (errno != EPIPE) {
                fprintf(stderr, "ustack-nc: %s\n", strerror(errno));
                rc = 1;
            }
            break; /* the peer is gone: nothing more goes either way */
        }
        if (nc_watch(c) < 0) {
            rc = 1;
            break;
        }
    }
    fflush(stdout);
    us_close(c->st, c->ep);
    return rc;
}

static void usage(void)
{
    printf("usage: ustack-nc [options] HOST PORT\n"
           "       ustack-nc [options] -l [HOST] PORT\n"
           "netcat over a ustack instance (default --tap tap1 --addr 10.0.0.3/24): standard input to\n"
           "the connection, the connection to standard output; EOF on input half-closes.\n\n%s",
           app_net_usage);
}

int main(int argc, char **argv)
{
    struct app_net net;
    app_net_init(&net, "ustack-nc", "tap1", "10.0.0.3/24");
    bool listen_mode = false;
    const char *pos[2];
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        }
        if (app_net_option(&net, argc, argv, &i))
            continue;
        if (strcmp(a, "-l") == 0)
            listen_mode = true;
        else if (a[0] == '-')
            app_usage_error("ustack-nc", "unknown option '%s'", a);
        else if (npos < 2)
            pos[npos++] = a;
        else
            app_usage_error("ustack-nc", "too many arguments");
    }
    if (npos < (listen_mode ? 1 : 2))
        app_usage_error("ustack-nc", listen_mode ? "which PORT?" : "which HOST and PORT?");
    const char *host = npos == 2 ? pos[0] : "0.0.0.0";
    const char *port_s = pos[npos - 1];
    char *end;
    unsigned long port = strtoul(port_s, &end, 10);
    if (*end || port == 0 || port > 65535)
        app_usage_error("ustack-nc", "bad port '%s'", port_s);
    uint32_t addr;
    uint8_t len;
    if (ustack_ip_parse(host, &addr, &len) < 0 || strchr(host, '/'))
        app_usage_error("ustack-nc", "HOST must be an IPv4 address, not '%s'", host);

    app_net_start(&net);
    struct ustack *st = net.st;
    int rc = 0;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = addr};
    int fd = us_socket(st, AF_INET, SOCK_STREAM, 0);
    if (listen_mode) {
        int on = 1, lfd = fd;
        us_setsockopt(st, lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        if (lfd < 0 || us_bind(st, lfd, (struct sockaddr *)&sin, sizeof sin) < 0 || us_listen(st, lfd, 1) < 0) {
            fprintf(stderr, "ustack-nc: listen on port %lu: %s\n", port, strerror(errno));
            app_net_stop(&net, NULL);
            return 1;
        }
        fd = us_accept(st, lfd, NULL, NULL, 0);
        us_close(st, lfd);
        if (fd < 0) {
            fprintf(stderr, "ustack-nc: accept: %s\n", strerror(errno));
            app_net_stop(&net, NULL);
            return 1;
        }
    } else if (fd < 0 || us_connect(st, fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        fprintf(stderr, "ustack-nc: connect to %s port %lu: %s\n", host, port, strerror(errno));
        app_net_stop(&net, NULL);
        return 1;
    }
    struct nc c = {.st = st, .fd = fd};
    rc = nc_run(&c);
    /* Let what we sent leave before the stack goes away. */
    us_close(st, fd);
    app_net_drain(&net, 2000);
    app_net_stop(&net, NULL);
    return rc;
}
