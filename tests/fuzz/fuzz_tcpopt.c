/*
 * libFuzzer target for the TCP header and option parser, tcp_parse()
 * (stack/tcp_input.c), called directly, and for its counterpart on the way
 * out, tcp_options_write() (stack/tcp_output.c).
 *
 * Input layout:
 *   byte 0      the header's data-offset byte (its high nibble is the
 *               offset in words: below 5 and beyond the segment included)
 *   byte 1      the flags
 *   the rest    what follows the 20-byte fixed header: options, then payload
 * The segment gets a correct checksum over the pseudo-header, so that the
 * parser always reaches the options.
 *
 * Checked on every input, against a walk of the options written here from
 * RFC 9293 3.2, RFC 7323 and RFC 2018 (a kind other than EOL and NOP has a
 * length byte of at least 2 that stays inside the header; unknown kinds and
 * known kinds of the wrong length are skipped; a later option of a kind
 * replaces an earlier one, SACK blocks add up to TCP_MAX_SACK_BLOCKS):
 *   - the parser accepts exactly the segments the walk accepts; a refusal
 *     counts exactly one drop counter by one (short, offset, options) and
 *     an acceptance counts nothing;
 *   - every field it reports is the walk's, the payload starts at the data
 *     offset;
 *   - the options it found, written back by tcp_options_write() (SACK
 *     blocks cut to what fits, as the output path does), make a whole number
 *     of words within the 40 bytes, and parse back to the same fields.
 *
 * The stack is created once: tcp_parse() reads only its argument and
 * touches nothing but the counters, which are compared around each call.
 */
#include <stdlib.h>
#include <string.h>

#include <ustack/link.h>
#include <ustack/ustack.h>
#include "internal.h"
#include "tcp_var.h"
#include "fuzz.h"

static struct ustack *st;
static struct ustack_link *la, *lb;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct ustack_config cfg;
    fz_config(&cfg);
    if (ustack_link_mem_pair(&la, &lb) < 0 || !(st = ustack_create(&cfg, la)))
        abort();
    return 0;
}

/* What the walk found: the fields of struct tcp_seg that options set. */
struct ref {
    bool ok;
    unsigned counter; /* CNT_tcp_drop_* when !ok */
    bool has_mss, has_wscale, sack_permitted, has_ts;
    uint16_t mss;
    uint8_t wscale;
    uint32_t ts_val, ts_ecr;
    unsigned nsack;
    uint32_t sack[TCP_MAX_SACK_BLOCKS][2];
};

static void ref_walk(const uint8_t *p, size_t len, struct ref *r)
{
    memset(r, 0, sizeof *r);
    if (len < 20) {
        r->counter = CNT_tcp_drop_short;
        return;
    }
    size_t doff = (size_t)(p[12] >> 4) * 4;
    if (doff < 20 || doff > len) {
        r->counter = CNT_tcp_drop_bad_offset;
        return;
    }
    size_t i = 20;
    while (i < doff && p[i] != 0) {
        if (p[i] == 1) {
            i++;
            continue;
        }
        if (i + 2 > doff || p[i + 1] < 2 || i + p[i + 1] > doff) {
            r->counter = CNT_tcp_drop_bad_options;
            return;
        }
        const uint8_t *o = p + i + 2;
        unsigned kind = p[i], olen = p[i + 1];
        if (kind == 2 && olen == 4) {
            r->has_mss = true;
            r->mss = fz_get16(o);
        } else if (kind == 3 && olen == 3) {
            r->has_wscale = true;
            r->wscale = o[0];
        } else if (kind == 4 && olen == 2) {
            r->sack_permitted = true;
        } else if (kind == 5 && olen >= 10 && (olen - 2) % 8 == 0) {
            for (unsigned b = 0; b < (olen - 2) / 8 && r->nsack < TCP_MAX_SACK_BLOCKS; b++, r->nsack++) {
                r->sack[r->nsack][0] = fz_get32(o + 8 * b);
                r->sack[r->nsack][1] = fz_get32(o + 8 * b + 4);
            }
        } else if (kind == 8 && olen == 10) {
            r->has_ts = true;
            r->ts_val = fz_get32(o);
            r->ts_ecr = fz_get32(o + 4);
        }
        i += olen;
    }
    r->ok = true;
}

static void check_fields(const struct tcp_seg *s, const struct ref *r, const char *what)
{
    FZ_CHECK(s->has_mss == r->has_mss && (!r->has_mss || s->mss == r->mss), "%s: MSS", what);
    FZ_CHECK(s->has_wscale == r->has_wscale && (!r->has_wscale || s->wscale == r->wscale), "%s: window scale",
             what);
    FZ_CHECK(s->sack_permitted == r->sack_permitted, "%s: SACK-permitted", what);
    FZ_CHECK(s->has_ts == r->has_ts && (!r->has_ts || (s->ts_val == r->ts_val && s->ts_ecr == r->ts_ecr)),
             "%s: timestamps", what);
    FZ_CHECK(s->nsack == r->nsack, "%s: %u SACK blocks, %u expected", what, s->nsack, r->nsack);
    for (unsigned b = 0; b < r->nsack; b++)
        FZ_CHECK(s->sack[b][0] == r->sack[b][0] && s->sack[b][1] == r->sack[b][1], "%s: SACK block %u", what, b);
}

/* tcp_parse() with the counters watched: the result, and which counter
 * moved (-1: none). Any other change to the counters is a finding. */
static int parse(const uint8_t *p, size_t len, struct tcp_seg *seg, int *moved)
{
    static uint64_t before[CNT__COUNT];
    struct ipv4_hdr_info h = {.src = fz_ip(10, 0, 0, 1), .dst = FZ_US_IP, .proto = 6};
    memcpy(before, st->counters, sizeof before);
    int rc = tcp_parse(st->tcp, p, len, &h, seg);
    *moved = -1;
    for (unsigned c = 0; c < CNT__COUNT; c++) {
        if (st->counters[c] == before[c])
            continue;
        FZ_CHECK(*moved < 0 && st->counters[c] == before[c] + 1, "counter %u moved by %llu", c,
                 (unsigned long long)(st->counters[c] - before[c]));
        *moved = (int)c;
    }
    return rc;
}

static void set_checksum(uint8_t *t, size_t len)
{
    fz_put16(t + 16, 0);
    fz_put16(t + 16, fz_fold(fz_sum16(t, len, fz_pseudo(fz_ip(10, 0, 0, 1), FZ_US_IP, 6, len))));
}

/* The parsed options written back and parsed again. */
static void round_trip(const struct tcp_seg *seg)
{
    struct tcp_out o = {0};
    o.has_mss = seg->has_mss;
    o.mss = seg->mss;
    o.sack_permitted = seg->sack_permitted;
    o.has_ts = seg->has_ts;
    o.ts_val = seg->ts_val;
    o.ts_ecr = seg->ts_ecr;
    o.has_wscale = seg->has_wscale;
    o.wscale = seg->wscale;
    /* The room left for SACK blocks, as the output path reckons it. */
    size_t used = (o.has_mss ? 4 : 0) + (o.has_ts ? 12 : o.sack_permitted ? 4 : 0) + (o.has_wscale ? 4 : 0);
    size_t room = used + 4 + TCP_SACK_BLOCK_LEN <= TCP_OPT_SPACE ? (TCP_OPT_SPACE - used - 4) / TCP_SACK_BLOCK_LEN : 0;
    o.nsack = (uint8_t)(seg->nsack < room ? seg->nsack : room);
    memcpy(o.sack, seg->sack, sizeof o.sack);

    uint8_t t[20 + TCP_OPT_SPACE + 8];
    memset(t, 0xa5, sizeof t); /* what the writer leaves alone shows */
    memset(t, 0, 20);
    size_t n = tcp_options_write(&o, t + 20);
    FZ_CHECK(n % 4 == 0 && n <= TCP_OPT_SPACE, "%zu bytes of options written", n);
    FZ_CHECK(tcp_options_write(&o, NULL) == n, "counting gives another length than writing");
    FZ_CHECK(t[20 + n] == 0xa5, "written past the %zu bytes reported", n);
    t[12] = (uint8_t)(((20 + n) / 4) << 4);
    t[13] = TCP_ACK;
    set_checksum(t, 20 + n);
    struct tcp_seg back;
    int moved;
    FZ_CHECK(parse(t, 20 + n, &back, &moved) == 0 && moved < 0, "written options refused (counter %d)", moved);
    struct ref r = {.ok = true, .has_mss = o.has_mss, .mss = o.mss, .has_wscale = o.has_wscale, .wscale = o.wscale,
                    .sack_permitted = o.sack_permitted, .has_ts = o.has_ts, .ts_val = o.ts_val, .ts_ecr = o.ts_ecr,
                    .nsack = o.nsack};
    memcpy(r.sack, o.sack, sizeof r.sack);
    check_fields(&back, &r, "written and parsed back");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t t[20 + 2048];
    if (size < 2 || size - 2 > sizeof t - 20)
        return 0;
    size_t len = 20 + (size - 2);
    memset(t, 0, 20);
    fz_put16(t, 6000);
    fz_put16(t + 2, 80);
    fz_put32(t + 4, 1000);
    fz_put32(t + 8, 2000);
    t[12] = data[0];
    t[13] = data[1];
    fz_put16(t + 14, 65535);
    memcpy(t + 20, data + 2, size - 2);
    set_checksum(t, len);

    struct ref r;
    ref_walk(t, len, &r);
    struct tcp_seg seg;
    int moved;
    int rc = parse(t, len, &seg, &moved);
    if (!r.ok) {
        FZ_CHECK(rc < 0 && moved == (int)r.counter, "accepted or counted %d where the walk drops with counter %u",
                 moved, r.counter);
        return 0;
    }
    FZ_CHECK(rc == 0 && moved < 0, "refused (counter %d) what the walk accepts", moved);
    size_t doff = (size_t)(t[12] >> 4) * 4;
    FZ_CHECK(seg.sport == 6000 && seg.dport == 80 && seg.seq == 1000 && seg.ack == 2000 && seg.flags == data[1] &&
                 seg.wnd == 65535,
             "the fixed header misread");
    FZ_CHECK(seg.data == t + doff && seg.len == len - doff && seg.wire_len == seg.len, "payload at %td, %u bytes",
             seg.data - t, seg.len);
    check_fields(&seg, &r, "parsed");
    round_trip(&seg);
    return 0;
}
