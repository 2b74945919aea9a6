/*
 * ustackd's control socket (control.h): a thread accepts on a Unix stream
 * socket and answers each connection with one snapshot of the stack
 * (app_net_snapshot in common.c: copied under the stack's lock, formatted
 * and written without it, so a slow reader never holds up the stack).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include "control.h"

#define CONTROL_WRITE_TIMEOUT_S 2 /* a reader that stops reading is dropped */

struct control {
    struct app_net *net;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int fd;
    int wake[2]; /* pipe: control_stop() writes, the thread wakes and leaves */
    dev_t dev;
    ino_t ino;
    pthread_t thread;
    bool running;
};

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* the reader went away or stalled: its loss */
        }
        p += w;
        n -= (size_t)w;
    }
}

static void serve_one(struct control *c, int fd)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return;
    app_net_snapshot(c->net, f);
    if (fclose(f) == 0)
        send_all(fd, text, len);
    free(text);
}

static void *control_main(void *arg)
{
    struct control *c = arg;
    for (;;) {
        struct pollfd pfd[2] = {{.fd = c->fd, .events = POLLIN}, {.fd = c->wake[0], .events = POLLIN}};
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        if (pfd[1].revents)
            return NULL;
        if (!(pfd[0].revents & POLLIN))
            continue;
        int fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue; /* ECONNABORTED, EMFILE, ...: try the next one */
        struct timeval tv = {.tv_sec = CONTROL_WRITE_TIMEOUT_S};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        serve_one(c, fd);
        close(fd);
    }
}

/* ------------------------------------------------------------ set-up */

/* The socket file to remove if the program exits without control_stop()
 * (app_net_start() exits when the TAP cannot be opened). */
static struct {
    bool armed;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev;
    ino_t ino;
} leftover;

static void remove_if_ours(const char *path, dev_t dev, ino_t ino)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && sb.st_dev == dev && sb.st_ino == ino)
        unlink(path);
}

static void remove_leftover(void)
{
    if (leftover.armed)
        remove_if_ours(leftover.path, leftover.dev, leftover.ino);
}

/* Binds and listens on path. A socket file left by a ustackd that died is
 * replaced; one a live ustackd answers on is not (-EADDRINUSE), nor is any
 * file that is not a socket (-EEXIST). Returns the fd or -errno. */
static int control_bind(struct control *c, const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sun.sun_path)
        return -ENAMETOOLONG;
    strcpy(sun.sun_path, path);
    struct stat sb;
    if (lstat(path, &sb) == 0) {
        if (!S_ISSOCK(sb.st_mode))
            return -EEXIST;
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe < 0)
            return -errno;
        int r = connect(probe, (struct sockaddr *)&sun, sizeof sun);
        int err = errno;
        close(probe);
        if (r == 0)
            return -EADDRINUSE;
        if (err != ECONNREFUSED)
            return -err;
        unlink(path); /* stale: nobody listens */
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 || listen(fd, 16) < 0 || stat(path, &sb) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    c->dev = sb.st_dev;
    c->ino = sb.st_ino;
    snprintf(c->path, sizeof c->path, "%s", path);
    return fd;
}

static const char *bind_error(int err)
{
    switch (-err) {
    case EADDRINUSE: return "a running ustackd serves it";
    case EEXIST: return "a file that is not a socket is in the way";
    default: return strerror(-err);
    }
}

struct control *control_open(struct app_net *n, const char *path)
{
    struct control *c = calloc(1, sizeof *c);
    if (!c) {
        fprintf(stderr, "%s: control socket: out of memory\n", n->prog);
        return NULL;
    }
    c->net = n;
    c->fd = -1;
    if (pipe2(c->wake, O_CLOEXEC) < 0) {
        fprintf(stderr, "%s: control socket: %s\n", n->prog, strerror(errno));
        free(c);
        return NULL;
    }
    if (path) {
        c->fd = control_bind(c, path);
        if (c->fd < 0)
            fprintf(stderr, "%s: control socket %s: %s\n", n->prog, path, bind_error(c->fd));
    } else {
        /* /run/ustack/TAP.sock, else /tmp/ustack-TAP.sock; but a live
         * ustackd on the first is not worked around (ustack-stat --tap would
         * find that one), only reported. */
        char run[sizeof c->path], tmp[sizeof c->path];
        control_default_path(n->tap, 0, run, sizeof run);
        control_default_path(n->tap, 1, tmp, sizeof tmp);
        if (mkdir(CONTROL_RUN_DIR, 0755) < 0 && errno != EEXIST)
            c->fd = -errno;
        else
            c->fd = control_bind(c, run);
        if (c->fd < 0 && c->fd != -EADDRINUSE) {
            int err_run = c->fd;
            c->fd = control_bind(c, tmp);
            if (c->fd < 0)
                fprintf(stderr, "%s: warning: no control socket: %s: %s; %s: %s\n", n->prog, run,
                        bind_error(err_run), tmp, bind_error(c->fd));
        } else if (c->fd < 0) {
            fprintf(stderr,
                    "%s: warning: no control socket: %s: %s (on a TAP of the same name in another "
                    "namespace?); give each ustackd its own --control PATH\n",
                    n->prog, run, bind_error(c->fd));
        }
    }
    if (c->fd < 0) {
        close(c->wake[0]);
        close(c->wake[1]);
        free(c);
        return NULL;
    }
    static bool registered;
    if (!registered)
        registered = atexit(remove_leftover) == 0;
    memcpy(leftover.path, c->path, sizeof leftover.path);
    leftover.dev = c->dev;
    leftover.ino = c->ino;
    leftover.armed = true;
    return c;
}

int control_serve(struct control *c)
{
    if (pthread_create(&c->thread, NULL, control_main, c) != 0) {
        fprintf(stderr, "%s: control socket: cannot start its thread\n", c->net->prog);
        return -1;
    }
    c->running = true;
    return 0;
}

const char *control_path(const struct control *c) { return c->path; }

void control_stop(struct control *c)
{
    if (!c)
        return;
    if (c->running) {
        char x = 1;
        ssize_t w = write(c->wake[1], &x, 1);
        (void)w;
        pthread_join(c->thread, NULL);
    }
    close(c->fd);
    close(c->wake[0]);
    close(c->wake[1]);
    /* Remove the file only if it is still the one we bound (a later ustackd
     * may have replaced it after deciding ours was stale). */
    remove_if_ours(c->path, c->dev, c->ino);
    leftover.armed = false;
    free(c);
}
