/*
 * Ethernet II: the bottom of the stack. eth_input() accepts frames for our MAC
 * and broadcast and dispatches ARP and IPv4; eth_output() prepends the header,
 * pads to the 60-byte minimum and hands the frame to the link.
 */
#include <string.h>
#include "internal.h"

static const uint8_t eth_broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void eth_input(struct ustack *st, struct pbuf *pb)
{
    const uint8_t *h = pb->data;
    if (memcmp(h, st->cfg.mac, 6) != 0) {
        if (memcmp(h, eth_broadcast, 6) == 0) {
            pb->link_bcast = true; /* accepted; never answered with an ICMP error */
        } else if (h[0] & 1) {
            COUNT(st, eth_drop_multicast);
            goto drop;
        } else {
            COUNT(st, eth_drop_other_mac);
            goto drop;
        }
    }
    uint16_t type = rd16(h + 12);
    pbuf_pull(pb, ETH_HDR_LEN);
    switch (type) {
    case ETH_TYPE_ARP:
        arp_input(st, pb);
        return;
    case ETH_TYPE_IPV4:
        ipv4_input(st, pb);
        return;
    default:
        COUNT(st, eth_drop_ethertype);
        goto drop;
    }
drop:
    pbuf_free(st, pb);
}

void eth_output(struct ustack *st, struct pbuf *pb, const uint8_t dst[6], uint16_t ethertype)
{
    uint8_t *h = pbuf_push(pb, ETH_HDR_LEN);
    if (!h) {
        COUNT(st, eth_tx_errors);
        pbuf_free(st, pb);
        return;
    }
    memcpy(h, dst, 6);
    memcpy(h + 6, st->cfg.mac, 6);
    wr16(h + 12, ethertype);
    const uint8_t *frame = pb->data;
    size_t len = pb->len;
    if (len < ETH_MIN_FRAME) {
        /* Pad short frames with zeros (the buffer may not have the room). */
        memcpy(st->txbuf, pb->data, len);
        memset(st->txbuf + len, 0, ETH_MIN_FRAME - len);
        frame = st->txbuf;
        len = ETH_MIN_FRAME;
    }
    if (ustack_link_send(st->link, st->now, frame, len) < 0) {
        COUNT(st, eth_tx_errors);
    } else {
        COUNT(st, eth_tx_frames);
        COUNT_ADD(st, eth_tx_bytes, len);
    }
    pbuf_free(st, pb);
}
