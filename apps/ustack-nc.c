/*
 * ustack-nc: netcat on a ustack instance. Connects to HOST PORT (or, with -l,
 * waits for one connection on PORT), copies standard input to the socket and
 * the socket to standard output, and half-closes the connection when standard
 * input ends; it exits when the peer has closed its side.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ustack/socket.h>
#include "common.h"
#include "util.h"

struct pump {
    struct ustack *st;
    int fd;
    int err;
};

static void *stdin_to_socket(void *arg)
{
    struct pump *p = arg;
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (us_send_all(p->st, p->fd, buf, (size_t)n) < 0) {
            p->err = errno;
            return NULL;
        }
    }
    us_shutdown(p->st, p->fd, SHUT_WR); /* EOF on stdin: half-close */
    return NULL;
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
    struct pump p = {.st = st, .fd = fd};
    pthread_t t;
    pthread_create(&t, NULL, stdin_to_socket, &p);
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = us_recv(st, fd, buf, sizeof buf, 0);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "ustack-nc: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n) {
            rc = 1;
            break;
        }
        fflush(stdout);
    }
    fflush(stdout);
    /* The peer's EOF ends only its direction (half-close): standard input
     * keeps flowing to it until it ends too, or the peer resets. */
    if (rc == 0)
        pthread_join(t, NULL);
    else
        pthread_detach(t);
    if (p.err && p.err != EPIPE) {
        fprintf(stderr, "ustack-nc: %s\n", strerror(p.err));
        rc = 1;
    }
    /* Let what we sent leave before the stack goes away. */
    us_close(st, fd);
    app_net_drain(&net, 2000);
    app_net_stop(&net, NULL);
    return rc;
}
