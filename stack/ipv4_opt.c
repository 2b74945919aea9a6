/*
 * IPv4 options (RFC 791 3.1, RFC 1122 3.2.1.8): ipv4_input() hands the
 * options of every datagram for us to ipv4_opts_input(), which checks the
 * option list and records this host in Record Route and Timestamp options on
 * arrival; ICMP asks ipv4_opts_echo() for the options of an echo reply, where
 * this host is recorded a second time, on departure. The checks and the two
 * records are what Linux's receive path (ip_options_compile) and its echo
 * reply (ip_options_echo, ip_options_build) do; docs/protocols.md lists where
 * ustack differs.
 *
 * Each option other than EOL and NOP is type, length (counting type and
 * length), data. Record Route and Timestamp carry a pointer (octet 3, from 1 at
 * the type octet) to the first free slot: pointer > length means full.
 */
#include <string.h>
#include "internal.h"

/* RFC 791 Timestamp: milliseconds since midnight UT, or any time with the
 * high-order bit set when UT is not available. The stack has no wall clock,
 * only st->now, whose origin is arbitrary: its milliseconds modulo one day,
 * marked non-standard. */
static uint32_t ipv4_opt_timestamp(const struct ustack *st)
{
    return (uint32_t)((st->now / 1000u) % 86400000u) | 0x80000000u;
}

/* Records this host in the Record Route option o (length and pointer checked)
 * if it has a free slot. */
static void opt_rr_record(const struct ustack *st, uint8_t *o)
{
    unsigned len = o[1], ptr = o[2];
    if (ptr + 3 > len)
        return; /* full (or, on departure, no whole slot left) */
    wraddr(o + ptr - 1, st->cfg.addr);
    o[2] = (uint8_t)(ptr + 4);
}

/* Records this host in the Timestamp option o (checked) as its flag says:
 * a timestamp, our address and a timestamp, or a timestamp in the slot the
 * sender reserved for our address. When the option is full, a datagram
 * arriving increments its overflow count (not a reply leaving: Linux counts
 * one overflow per hop). */
static void opt_ts_record(const struct ustack *st, uint8_t *o, bool arriving)
{
    unsigned len = o[1], ptr = o[2], flag = o[3] & 0x0f;
    if (ptr > len) {
        if (arriving && flag != IPV4_TS_PRESPEC)
            o[3] = (uint8_t)((o[3] & 0x0f) | (((o[3] >> 4) + 1) << 4)); /* < 15: checked */
        return;
    }
    switch (flag) {
    case IPV4_TS_ONLY:
        if (ptr + 3 > len)
            return;
        wr32(o + ptr - 1, ipv4_opt_timestamp(st));
        o[2] = (uint8_t)(ptr + 4);
        break;
    case IPV4_TS_ADDR:
        if (ptr + 7 > len)
            return;
        wraddr(o + ptr - 1, st->cfg.addr);
        wr32(o + ptr + 3, ipv4_opt_timestamp(st));
        o[2] = (uint8_t)(ptr + 8);
        break;
    case IPV4_TS_PRESPEC:
        if (ptr + 7 > len || rdaddr(o + ptr - 1) != st->cfg.addr)
            return; /* the next slot is someone else's */
        wr32(o + ptr + 3, ipv4_opt_timestamp(st));
        o[2] = (uint8_t)(ptr + 8);
        break;
    default:
        break; /* a flag RFC 791 does not define: left as it is */
    }
}

int ipv4_opts_input(struct ustack *st, const uint8_t *hdr, struct ipv4_hdr_info *h)
{
    struct ipv4_opts *o = &h->opt;
    unsigned n = h->ihl_bytes - IPV4_HDR_LEN;
    o->len = (uint8_t)n;
    o->rr = o->ts = o->srr = 0;
    memcpy(o->b, hdr + IPV4_HDR_LEN, n);
    for (unsigned i = 0; i < n;) {
        const uint8_t *p = o->b + i;
        unsigned at = IPV4_HDR_LEN + i; /* the option's offset in the header */
        if (p[0] == IPV4_OPT_EOL)
            break; /* the rest is padding, whatever it holds */
        if (p[0] == IPV4_OPT_NOP) {
            i++;
            continue;
        }
        /* A length octet, at least 2, and the option within the header. */
        if (n - i < 2 || p[1] < 2 || p[1] > n - i)
            return (int)at;
        unsigned len = p[1];
        unsigned ptr = len > 2 ? p[2] : 0; /* where a route or timestamp has one */
        switch (p[0]) {
        case IPV4_OPT_LSRR:
        case IPV4_OPT_SSRR:
            if (len < 3)
                return (int)at + 1;
            if (ptr < 4)
                return (int)at + 2;
            if (o->srr)
                return (int)at; /* one source route only (RFC 1812 5.2.4.1) */
            o->srr = (uint8_t)at;
            break;
        case IPV4_OPT_RR:
            if (o->rr)
                return (int)at; /* RFC 791: at most once */
            if (len < 3)
                return (int)at + 1;
            if (ptr < 4 || (ptr <= len && ptr + 3 > len))
                return (int)at + 2; /* before the first slot, or inside the last */
            o->rr = (uint8_t)at;
            break;
        case IPV4_OPT_TS:
            if (o->ts)
                return (int)at;
            if (len < 4)
                return (int)at + 1;
            if (ptr < 5)
                return (int)at + 2;
            if (ptr <= len) {
                unsigned flag = p[3] & 0x0f, slot = flag == IPV4_TS_ADDR || flag == IPV4_TS_PRESPEC ? 8 : 4;
                if (ptr + slot - 1 > len)
                    return (int)at + 2; /* a slot cut by the end of the option */
            } else if ((p[3] & 0x0f) != IPV4_TS_PRESPEC && p[3] >> 4 == 15) {
                return (int)at + 3; /* full, and the overflow count cannot grow */
            }
            o->ts = (uint8_t)at;
            break;
        case IPV4_OPT_RA:
            if (len < 4)
                return (int)at + 1;
            break;
        default:
            /* Security, stream identifier and options unknown to us are
             * ignored (RFC 1122 3.2.1.8: MUST ignore unknown options). */
            break;
        }
        i += len;
    }
    /* Valid: this host is a hop of the recorded route (as Linux records it). */
    if (o->rr)
        opt_rr_record(st, o->b + o->rr - IPV4_HDR_LEN);
    if (o->ts)
        opt_ts_record(st, o->b + o->ts - IPV4_HDR_LEN, true);
    return 0;
}

size_t ipv4_opts_echo(struct ustack *st, const struct ipv4_opts *in, uint8_t out[IPV4_OPT_SPACE])
{
    size_t n = 0;
    if (in->rr) {
        const uint8_t *p = in->b + in->rr - IPV4_HDR_LEN;
        memcpy(out + n, p, p[1]);
        opt_rr_record(st, out + n);
        n += p[1];
    }
    if (in->ts) {
        const uint8_t *p = in->b + in->ts - IPV4_HDR_LEN;
        memcpy(out + n, p, p[1]);
        opt_ts_record(st, out + n, false);
        n += p[1];
    }
    /* Source routes are not reversed (docs/protocols.md); the others are not
     * echoed (RFC 1122 3.2.2.6 names only these two). */
    while (n % 4)
        out[n++] = IPV4_OPT_EOL;
    return n;
}
