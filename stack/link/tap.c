/*
 * TAP link: attaches to an existing (persistent) Linux TAP interface through
 * /dev/net/tun with IFF_TAP|IFF_NO_PI, non-blocking, so frames are exchanged
 * with the host kernel. The fd op exposes the descriptor for the runtime's poll().
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_tun.h>

#include <ustack/link.h>

struct tap_link {
    struct ustack_link link; /* first: the link pointer is the tap_link pointer */
    int fd;
    char ifname[IFNAMSIZ];
};

static struct tap_link *tap_of(struct ustack_link *l) { return (struct tap_link *)l; }

static int tap_send(struct ustack_link *l, ustack_time_t now, const uint8_t *frame, size_t len)
{
    struct tap_link *t = tap_of(l);
    (void)now;
    for (;;) {
        ssize_t n = write(t->fd, frame, len);
        if (n >= 0) {
            /* A TAP write is all or nothing: one write, one frame. */
            l->tx_frames++;
            l->tx_bytes += (uint64_t)n;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return -EAGAIN;
        return -errno;
    }
}

static int tap_recv(struct ustack_link *l, ustack_time_t now, uint8_t *buf, size_t cap)
{
    struct tap_link *t = tap_of(l);
    (void)now;
    if (cap > USTACK_FRAME_MAX)
        cap = USTACK_FRAME_MAX; /* keeps the result within an int */
    for (;;) {
        ssize_t n = read(t->fd, buf, cap);
        if (n >= 0) {
            if (n > 0) {
                l->rx_frames++;
                l->rx_bytes += (uint64_t)n;
            }
            return (int)n;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -errno;
    }
}

static int tap_fd(struct ustack_link *l) { return tap_of(l)->fd; }

static void tap_close(struct ustack_link *l)
{
    struct tap_link *t = tap_of(l);
    close(t->fd);
    free(t);
}

static const struct ustack_link_ops tap_ops = {
    .send = tap_send,
    .recv = tap_recv,
    .next_deadline = NULL,
    .poll = NULL,
    .fd = tap_fd,
    .close = tap_close,
};

/* Attaching gives the TAP its carrier, but the kernel notices that a little
 * later (linkwatch); until then a bridge drops what the device sends, and the
 * stack's first frames (its ARP announcement, an ARP request) would be lost.
 * Wait, briefly and bounded, until the kernel reports the device up. */
#define TAP_CARRIER_WAIT_MS 200

static void tap_wait_operstate_up(const char *ifname)
{
    char path[64];
    snprintf(path, sizeof path, "/sys/class/net/%s/operstate", ifname);
    for (int ms = 0; ms < TAP_CARRIER_WAIT_MS; ms++) {
        char state[16] = "";
        FILE *f = fopen(path, "r");
        if (!f)
            return; /* no sysfs here: nothing to wait on */
        bool up = fgets(state, sizeof state, f) && strncmp(state, "up", 2) == 0;
        fclose(f);
        if (up)
            return;
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
}

struct ustack_link *ustack_link_tap_open(const char *ifname)
{
    if (!ifname || !*ifname) {
        errno = EINVAL;
        return NULL;
    }
    if (strlen(ifname) >= IFNAMSIZ) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    /* Attach only: TUNSETIFF would otherwise create a transient device (or
     * fail with a puzzling EPERM for an unprivileged user). */
    if (if_nametoindex(ifname) == 0) {
        errno = ENODEV;
        return NULL;
    }

    struct tap_link *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;

    t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        int e = errno;
        free(t);
        errno = e;
        return NULL;
    }

    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    memcpy(ifr.ifr_name, ifname, strlen(ifname) + 1);
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(t->fd);
        free(t);
        errno = e;
        return NULL;
    }

    memcpy(t->ifname, ifr.ifr_name, IFNAMSIZ);
    t->ifname[IFNAMSIZ - 1] = '\0';
    tap_wait_operstate_up(t->ifname);
    t->link.ops = &tap_ops;
    t->link.name = t->ifname;
    return &t->link;
}
