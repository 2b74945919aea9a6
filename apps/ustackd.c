/*
 * ustackd: a host on a TAP device. It answers ARP and ping, runs a UDP echo
 * service on port 7 and, with --services, TCP echo, discard, chargen and HTTP,
 * and serves live snapshots to ustack-stat on a control socket (control.h),
 * until SIGINT or SIGTERM; then it prints its counters.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <ustack/socket.h>
#include "common.h"
#include "control.h"
#include "services.h"

struct udp_echo {
    struct ustack *st;
    int fd;
    pthread_t thread;
    uint8_t buf[65536];
};

static void *udp_echo_main(void *arg)
{
    struct udp_echo *e = arg;
    for (;;) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = us_recvfrom(e->st, e->fd, e->buf, sizeof e->buf, 0, (struct sockaddr *)&from, &fl);
        if (n < 0) {
            if (errno == EBADF)
                return NULL; /* closed: shutting down */
            continue;
        }
        us_sendto(e->st, e->fd, e->buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
    }
}

static void usage(void)
{
    printf("usage: ustackd [--tap NAME] [--addr A.B.C.D/LEN] [--services LIST] [--http-root DIR] [options]\n"
           "A user-space TCP/IP host on a TAP device: answers ARP and ping, echoes UDP on port 7.\n"
           "  --services LIST   TCP services, comma-separated: echo (7), discard (9),\n"
           "                    chargen (19), http (80), or all\n"
           "  --http-root DIR   files the HTTP server serves (besides /bytes/N and PUT /upload)\n"
           "  --idle-timeout S  close a service's connection idle for S seconds (HTTP: no\n"
           "                    request, or a peer not reading; default 600; 0: never)\n"
           "  --control PATH    control socket for ustack-stat (docs/stat.md); default\n"
           "                    " CONTROL_RUN_DIR "/TAP.sock, else /tmp/ustack-TAP.sock; 'off': none\n"
           "Prints 'ustackd: ready' when up; SIGINT/SIGTERM stop it and print its counters.\n"
           "Defaults: --tap tap0 --addr 10.0.0.2/24.\n\n%s",
           app_net_usage);
}

int main(int argc, char **argv)
{
    struct app_net net;
    app_net_init(&net, "ustackd", "tap0", "10.0.0.2/24");
    const char *services = NULL, *http_root = NULL, *control = NULL;
    unsigned idle_timeout_s = 600;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return 0;
        }
        if (app_net_option(&net, argc, argv, &i))
            continue;
        if (strcmp(argv[i], "--idle-timeout") == 0) {
            char *end;
            if (i + 1 >= argc)
                app_usage_error("ustackd", "%s needs a value", argv[i]);
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (*end || !*argv[i] || v > 86400u * 365)
                app_usage_error("ustackd", "--idle-timeout wants seconds, not '%s'", argv[i]);
            idle_timeout_s = (unsigned)v;
            continue;
        }
        if (strcmp(argv[i], "--services") == 0 || strcmp(argv[i], "--http-root") == 0 ||
            strcmp(argv[i], "--control") == 0) {
            if (i + 1 >= argc)
                app_usage_error("ustackd", "%s needs a value", argv[i]);
            if (argv[i][2] == 's')
                services = argv[++i];
            else if (argv[i][2] == 'h')
                http_root = argv[++i];
            else if (!*(control = argv[++i]))
                app_usage_error("ustackd", "--control wants a path (or 'off')");
            continue;
        }
        app_usage_error("ustackd", "unknown argument '%s'", argv[i]);
    }
    unsigned mask;
    if (services && services_parse(services, &mask) < 0)
        app_usage_error("ustackd", "--services wants a list of echo,discard,chargen,http (or all), not '%s'",
                        services);

    /* Signals are taken synchronously by the main thread only. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    /* The control socket first: a bad --control stops us before the stack
     * sends anything; a busy default only warns. */
    struct control *ctl = NULL;
    if (!control || strcmp(control, "off") != 0) {
        ctl = control_open(&net, control);
        if (!ctl && control)
            return 1;
    }

    app_net_start(&net);

    struct udp_echo echo = {.st = net.st};
    echo.fd = us_socket(net.st, AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(7)};
    if (echo.fd < 0 || us_bind(net.st, echo.fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        fprintf(stderr, "ustackd: UDP echo service: %s\n", strerror(errno));
        control_stop(ctl);
        app_net_stop(&net, NULL);
        return 1;
    }
    pthread_create(&echo.thread, NULL, udp_echo_main, &echo);
    struct services *sv = NULL;
    if (services && !(sv = services_start(net.st, services, http_root, idle_timeout_s))) {
        us_close(net.st, echo.fd);
        pthread_join(echo.thread, NULL);
        control_stop(ctl);
        app_net_stop(&net, NULL);
        return 1;
    }

    if (ctl && control_serve(ctl) < 0) {
        control_stop(ctl);
        ctl = NULL;
    }
    if (ctl)
        printf("ustackd: control socket %s\n", control_path(ctl));
    printf("ustackd: ready\n");
    fflush(stdout);

    int sig;
    sigwait(&sigs, &sig);

    control_stop(ctl);
    services_stop(sv);
    us_close(net.st, echo.fd);
    pthread_join(echo.thread, NULL);
    app_net_drain(&net, 1000); /* let closing connections deliver their FIN */
    app_net_stop(&net, stdout);
    return 0;
}
