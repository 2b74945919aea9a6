/*
 * Acceptor and connection threads for ustackd's TCP services.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ustack/socket.h>
#include "services.h"
#include "util.h"

#define SVC_ECHO 1u
#define SVC_DISCARD 2u
#define SVC_CHARGEN 4u
#define SVC_HTTP 8u
#define MAX_CONNS 1024

static const struct {
    const char *name;
    unsigned bit;
    uint16_t port;
} svc_table[] = {
    {"echo", SVC_ECHO, 7}, {"discard", SVC_DISCARD, 9}, {"chargen", SVC_CHARGEN, 19}, {"http", SVC_HTTP, 80},
};
#define NSVC (sizeof svc_table / sizeof svc_table[0])

struct conn {
    struct services *sv;
    int fd;
    unsigned kind;
    pthread_t thread;
    struct conn *next;
};

struct listener {
    struct services *sv;
    int fd;
    unsigned kind;
    pthread_t thread;
    bool running;
};

struct services {
    struct ustack *st;
    const char *http_root;
    pthread_mutex_t mu;
    pthread_cond_t idle;
    bool stopping;
    unsigned nconns;
    struct conn *conns;
    struct listener listeners[NSVC];
    unsigned nlisteners;
};

int services_parse(const char *list, unsigned *mask)
{
    *mask = 0;
    char buf[256];
    if (strlen(list) >= sizeof buf)
        return -1;
    strcpy(buf, list);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "all") == 0) {
            *mask |= SVC_ECHO | SVC_DISCARD | SVC_CHARGEN | SVC_HTTP;
            continue;
        }
        size_t i;
        for (i = 0; i < NSVC; i++)
            if (strcmp(tok, svc_table[i].name) == 0)
                break;
        if (i == NSVC)
            return -1;
        *mask |= svc_table[i].bit;
    }
    return *mask ? 0 : -1;
}

static void serve_echo(struct ustack *st, int fd)
{
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = us_recv(st, fd, buf, sizeof buf, 0);
        if (n <= 0 || us_send_all(st, fd, buf, (size_t)n) < 0)
            return;
    }
}

static void serve_discard(struct ustack *st, int fd)
{
    uint8_t buf[16384];
    while (us_recv(st, fd, buf, sizeof buf, 0) > 0) {
    }
}

static void serve_chargen(struct ustack *st, int fd)
{
    uint8_t buf[16384];
    uint64_t off = 0;
    /* Sends until the peer goes away (RFC 864); what it sends is discarded. */
    us_shutdown(st, fd, SHUT_RD);
    for (;;) {
        chargen_fill(buf, sizeof buf, off);
        if (us_send_all(st, fd, buf, sizeof buf) < 0)
            return;
        off += sizeof buf;
    }
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    struct services *sv = c->sv;
    switch (c->kind) {
    case SVC_ECHO: serve_echo(sv->st, c->fd); break;
    case SVC_DISCARD: serve_discard(sv->st, c->fd); break;
    case SVC_CHARGEN: serve_chargen(sv->st, c->fd); break;
    case SVC_HTTP: http_serve(sv->st, c->fd, sv->http_root); break;
    }
    pthread_mutex_lock(&sv->mu);
    /* Unlink; the socket is closed here unless services_stop took it. */
    for (struct conn **p = &sv->conns; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    if (c->fd >= 0)
        us_close(sv->st, c->fd);
    sv->nconns--;
    pthread_cond_broadcast(&sv->idle);
    pthread_mutex_unlock(&sv->mu);
    free(c);
    return NULL;
}

static void *listener_main(void *arg)
{
    struct listener *l = arg;
    struct services *sv = l->sv;
    for (;;) {
        int fd = us_accept(sv->st, l->fd, NULL, NULL, 0);
        if (fd < 0) {
            if (errno == EBADF || errno == EINVAL)
                return NULL; /* listening socket closed: stopping */
            continue;
        }
        pthread_mutex_lock(&sv->mu);
        if (sv->stopping || sv->nconns >= MAX_CONNS) {
            pthread_mutex_unlock(&sv->mu);
            us_close(sv->st, fd);
            continue;
        }
        struct conn *c = calloc(1, sizeof *c);
        if (!c) {
            pthread_mutex_unlock(&sv->mu);
            us_close(sv->st, fd);
            continue;
        }
        c->sv = sv;
        c->fd = fd;
        c->kind = l->kind;
        c->next = sv->conns;
        sv->conns = c;
        sv->nconns++;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        if (pthread_create(&c->thread, &attr, conn_main, c) != 0) {
            sv->conns = c->next;
            sv->nconns--;
            us_close(sv->st, fd);
            free(c);
        }
        pthread_attr_destroy(&attr);
        pthread_mutex_unlock(&sv->mu);
    }
}

struct services *services_start(struct ustack *st, const char *list, const char *http_root)
{
    unsigned mask;
    if (services_parse(list, &mask) < 0) {
        fprintf(stderr, "ustackd: --services wants a list of echo,discard,chargen,http (or all), not '%s'\n", list);
        return NULL;
    }
    struct services *sv = calloc(1, sizeof *sv);
    if (!sv)
        return NULL;
    sv->st = st;
    sv->http_root = http_root;
    pthread_mutex_init(&sv->mu, NULL);
    pthread_cond_init(&sv->idle, NULL);
    for (size_t i = 0; i < NSVC; i++) {
        if (!(mask & svc_table[i].bit))
            continue;
        struct listener *l = &sv->listeners[sv->nlisteners];
        l->sv = sv;
        l->kind = svc_table[i].bit;
        l->fd = us_socket(st, AF_INET, SOCK_STREAM, 0);
        int on = 1;
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(svc_table[i].port)};
        if (l->fd < 0 || us_setsockopt(st, l->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0 ||
            us_bind(st, l->fd, (struct sockaddr *)&sin, sizeof sin) < 0 || us_listen(st, l->fd, 128) < 0) {
            fprintf(stderr, "ustackd: %s service on port %u: %s\n", svc_table[i].name, svc_table[i].port,
                    strerror(errno));
            if (l->fd >= 0)
                us_close(st, l->fd);
            services_stop(sv);
            return NULL;
        }
        if (pthread_create(&l->thread, NULL, listener_main, l) != 0) {
            us_close(st, l->fd);
            services_stop(sv);
            return NULL;
        }
        l->running = true;
        sv->nlisteners++;
    }
    return sv;
}

void services_stop(struct services *sv)
{
    if (!sv)
        return;
    pthread_mutex_lock(&sv->mu);
    sv->stopping = true;
    pthread_mutex_unlock(&sv->mu);
    for (unsigned i = 0; i < sv->nlisteners; i++) {
        us_close(sv->st, sv->listeners[i].fd);
        if (sv->listeners[i].running)
            pthread_join(sv->listeners[i].thread, NULL);
    }
    /* Abort the connections still open: their threads wake with an error
     * and finish on their own. */
    pthread_mutex_lock(&sv->mu);
    for (struct conn *c = sv->conns; c; c = c->next) {
        us_close(sv->st, c->fd);
        c->fd = -1;
    }
    while (sv->nconns)
        pthread_cond_wait(&sv->idle, &sv->mu);
    pthread_mutex_unlock(&sv->mu);
    pthread_mutex_destroy(&sv->mu);
    pthread_cond_destroy(&sv->idle);
    free(sv);
}
