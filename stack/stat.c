/*
 * Live connection statistics (ustack/stat.h): a read-only walk over every TCB
 * that copies what `ss -tin` would show, through the TCP engine's call. It
 * changes nothing, reads no clock and makes no system call; the caller holds
 * the stack.
 */
#include <ustack/stat.h>
#include "internal.h"
#include "tcp.h"

size_t ustack_conn_list(struct ustack *st, struct ustack_conn_info *out, size_t max)
{
    if (!st || !st->tcp)
        return 0;
    return tcp_conn_list(st->tcp, out, max);
}
