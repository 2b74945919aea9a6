/*
 * ustackd's TCP services: echo (7), discard (9), chargen (19) and an
 * HTTP/1.1 server (80). Each listens on its own socket with an acceptor
 * thread and serves each connection in a thread of its own, using the
 * blocking socket API.
 */
#ifndef USTACK_APPS_SERVICES_H
#define USTACK_APPS_SERVICES_H

#include <ustack/ustack.h>

struct services;

/* list: comma-separated names ("echo,discard,chargen,http" or "all").
 * Returns NULL after printing a message on a bad list or a failure. */
struct services *services_start(struct ustack *st, const char *list, const char *http_root);
/* Closes every listening and connected socket and joins the threads. */
void services_stop(struct services *sv);
/* Checks a list without starting anything: 0 or -1. */
int services_parse(const char *list, unsigned *mask);

/* The HTTP server's handler for one connection (http.c). */
void http_serve(struct ustack *st, int fd, const char *root);

#endif
