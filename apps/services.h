/*
 * ustackd's TCP services: echo (7), discard (9), chargen (19) and an
 * HTTP/1.1 server (80). The first three share one event loop thread; the
 * HTTP server has an acceptor thread and a thread per connection.
 */
#ifndef USTACK_APPS_SERVICES_H
#define USTACK_APPS_SERVICES_H

#include <ustack/ustack.h>

struct services;

/* list: comma-separated names ("echo,discard,chargen,http" or "all").
 * Returns NULL after printing a message on a bad list or a failure. */
/* Connections of echo, discard and chargen without activity for
 * idle_timeout_s seconds are closed (0: never). */
struct services *services_start(struct ustack *st, const char *list, const char *http_root,
                                unsigned idle_timeout_s);
/* Closes every listening and connected socket and joins the threads. */
void services_stop(struct services *sv);
/* Checks a list without starting anything: 0 or -1. */
int services_parse(const char *list, unsigned *mask);

/* The HTTP server's handler for one connection (http.c). */
void http_serve(struct ustack *st, int fd, const char *root);

#endif
