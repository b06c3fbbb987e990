// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pkt.c - test frame builder and from-scratch Internet checksums.
 *
 * Every header is written byte by byte in network order from its RFC
 * layout, with no kernel struct, so a layout mistake in the code under test
 * cannot be mirrored here.
 */
#include <string.h>
#include "pkt.h"

#define ETH_HLEN	14
#define VLAN_HLEN	4
#define IP4_HLEN	20
#define IP6_HLEN	40
#define IP6_FRAG_HLEN	8
#define UDP_HLEN	8
#define TCP_HLEN	20
#define ARP_LEN		28

#define ETHERTYPE_IP4	0x0800
#define ETHERTYPE_ARP	0x0806
#define ETHERTYPE_8021Q	0x8100
#define ETHERTYPE_IP6	0x86dd
#define PROTO_TCP	6
#define PROTO_UDP	17
#define PROTO_FRAGMENT	44

#define MQTTSN_PUBLISH_TYPE	0x0c	/* MQTT-SN v1.2 sec. 5.2.2 */
#define MQTTSN_3BYTE_MARK	0x01	/* sec. 5.2.1 */
#define TRAILER_BYTE		0xee

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void fill_pattern(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pkt_pattern(i);
}

/* ---- Checksums ------------------------------------------------------------ */

uint64_t csum_partial_be(uint64_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	/* Deferred carries: a 64-bit sum of 16-bit words cannot overflow for
	 * any frame size, and RFC 1071 sec. 2(C) lets us fold once at the end. */
	for (i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint16_t)(p[len - 1] << 8);
	return sum;
}

uint16_t csum_finish(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Sum of l4 bytes with the 2-byte checksum field at field_off taken as 0. */
static uint64_t sum_without_field(uint64_t sum, const uint8_t *p, size_t len,
				  size_t field_off)
{
	if (len < field_off + 2)
		return csum_partial_be(sum, p, len);
	sum = csum_partial_be(sum, p, field_off);
	return csum_partial_be(sum, p + field_off + 2, len - field_off - 2);
}

uint16_t csum_ip4_header(const uint8_t *ip, size_t hlen)
{
	return csum_finish(sum_without_field(0, ip, hlen, 10));
}

uint16_t csum_l4(int family, const uint8_t *src, const uint8_t *dst,
		 uint8_t proto, uint32_t pseudo_len, const uint8_t *l4,
		 size_t l4_len)
{
	size_t alen = family == 6 ? 16 : 4;
	uint8_t tail[8] = { 0 };
	uint64_t sum;

	/* Pseudo header: RFC 768 (IPv4: zero, proto, 16-bit length) and
	 * RFC 8200 sec. 8.1 (IPv6: 32-bit length, 3 zero bytes, next header). */
	sum = csum_partial_be(0, src, alen);
	sum = csum_partial_be(sum, dst, alen);
	if (family == 6) {
		put32(tail, pseudo_len);
		tail[7] = proto;
		sum = csum_partial_be(sum, tail, 8);
	} else {
		tail[1] = proto;
		put16(tail + 2, (uint16_t)pseudo_len);
		sum = csum_partial_be(sum, tail, 4);
	}
	return csum_finish(sum_without_field(sum, l4, l4_len,
					     proto == PROTO_TCP ? 16 : 6));
}

/* ---- Builder -------------------------------------------------------------- */

static size_t build_eth(const struct pkt_desc *d, uint8_t *p, uint16_t ethertype)
{
	size_t off = 12;

	memcpy(p, d->eth_dst, 6);
	memcpy(p + 6, d->eth_src, 6);
	if (d->vlan) {
		put16(p + off, ETHERTYPE_8021Q);
		put16(p + off + 2, d->vlan_tci);
		off += VLAN_HLEN;
	}
	put16(p + off, ethertype);
	return off + 2;
}

static size_t mqttsn_body_len(const struct pkt_desc *d)
{
	if (d->body)
		return d->body_len;
	if (d->msg_type == MQTTSN_PUBLISH_TYPE)
		return 5 + d->data_len;		/* Flags, TopicId, MsgId, Data */
	return d->data_len;
}

/* The UDP payload; returns its length or -1. */
static int build_mqttsn(const struct pkt_desc *d, uint8_t *m, size_t cap)
{
	size_t hlen = d->long_len ? 4 : 2;
	size_t body_len = mqttsn_body_len(d);
	size_t total = hlen + body_len;
	long enc = (long)total + d->msg_len_adjust;
	uint8_t *body = m + hlen;

	if (d->msg_type == PKT_RAW_PAYLOAD) {
		if (d->data_len > cap)
			return -1;
		fill_pattern(m, d->data_len);
		return (int)d->data_len;
	}
	if (total > cap || enc < 0 || enc > (d->long_len ? 0xffff : 0xff))
		return -1;

	if (d->long_len) {
		m[0] = MQTTSN_3BYTE_MARK;
		put16(m + 1, (uint16_t)enc);
		m[3] = (uint8_t)d->msg_type;
	} else {
		m[0] = (uint8_t)enc;
		m[1] = (uint8_t)d->msg_type;
	}

	if (d->body) {
		memcpy(body, d->body, d->body_len);
	} else if (d->msg_type == MQTTSN_PUBLISH_TYPE) {
		body[0] = d->pub_flags;
		put16(body + 1, d->topic_id);
		put16(body + 3, d->msg_id);
		fill_pattern(body + 5, d->data_len);
	} else {
		fill_pattern(body, d->data_len);
	}
	return (int)total;
}

/* L4 header in front of a payload already at p + hlen; checksum left 0. */
static size_t build_l4(const struct pkt_desc *d, uint8_t *p, size_t payload_len)
{
	put16(p, d->sport);
	put16(p + 2, d->dport);
	if (d->l4 == PKT_L4_TCP) {
		put32(p + 4, 1);		/* sequence number */
		put32(p + 8, 0);		/* acknowledgment number */
		p[12] = (TCP_HLEN / 4) << 4;	/* data offset */
		p[13] = 0x02;			/* SYN */
		put16(p + 14, 0xffff);		/* window */
		put16(p + 16, 0);		/* checksum, filled later */
		put16(p + 18, 0);		/* urgent pointer */
		return TCP_HLEN;
	}
	put16(p + 4, (uint16_t)(UDP_HLEN + payload_len + d->udp_len_adjust));
	put16(p + 6, 0);
	return UDP_HLEN;
}

static void build_ip4_options(uint8_t *o, size_t len)
{
	/* Router Alert (RFC 2113) first, as real traffic carries it, then
	 * NOPs: any option bytes the parser must skip intact. */
	memset(o, 0x01, len);
	if (len >= 4) {
		o[0] = 0x94;
		o[1] = 4;
		o[2] = 0;
		o[3] = 0;
	}
}

static size_t build_ip4(const struct pkt_desc *d, uint8_t *ip, size_t l4_len,
			uint8_t proto)
{
	size_t hlen = IP4_HLEN + d->ip4_opt_len;

	ip[0] = 0x40 | (uint8_t)(hlen / 4);	/* version, IHL */
	ip[1] = 0;				/* DSCP/ECN */
	put16(ip + 2, (uint16_t)(hlen + l4_len + d->ip_len_adjust));
	put16(ip + 4, 0x1234);			/* identification */
	put16(ip + 6, d->ip4_frag);
	ip[8] = d->ttl;
	ip[9] = proto;
	put16(ip + 10, 0);
	memcpy(ip + 12, d->ip_src, 4);
	memcpy(ip + 16, d->ip_dst, 4);
	build_ip4_options(ip + IP4_HLEN, d->ip4_opt_len);
	put16(ip + 10, csum_ip4_header(ip, hlen));
	return hlen;
}

static size_t build_ip6(const struct pkt_desc *d, uint8_t *ip, size_t l4_len,
			uint8_t proto)
{
	size_t hlen = IP6_HLEN + (d->ip6_frag_hdr ? IP6_FRAG_HLEN : 0);

	put32(ip, 0x60000000);			/* version, class, flow */
	put16(ip + 4, (uint16_t)(hlen - IP6_HLEN + l4_len + d->ip_len_adjust));
	ip[6] = d->ip6_frag_hdr ? PROTO_FRAGMENT : proto;
	ip[7] = d->ttl;
	memcpy(ip + 8, d->ip_src, 16);
	memcpy(ip + 24, d->ip_dst, 16);
	if (d->ip6_frag_hdr) {
		uint8_t *f = ip + IP6_HLEN;

		f[0] = proto;
		f[1] = 0;
		put16(f + 2, d->ip6_frag);
		put32(f + 4, 0x1234);		/* identification */
	}
	return hlen;
}

static size_t build_arp(const struct pkt_desc *d, uint8_t *a)
{
	put16(a, 1);				/* Ethernet */
	put16(a + 2, ETHERTYPE_IP4);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);			/* request */
	memcpy(a + 8, d->eth_src, 6);
	memcpy(a + 14, d->ip_src, 4);
	memset(a + 18, 0, 6);
	memcpy(a + 24, d->ip_dst, 4);
	return ARP_LEN;
}

/* Upper bound of the L3 header so the payload can be written first. */
static size_t l3_hlen(const struct pkt_desc *d)
{
	if (d->l3 == PKT_L3_IP6)
		return IP6_HLEN + (d->ip6_frag_hdr ? IP6_FRAG_HLEN : 0);
	return IP4_HLEN + d->ip4_opt_len;
}

int pkt_build(const struct pkt_desc *d, uint8_t *buf, size_t cap,
	      struct pkt_info *info)
{
	bool ip6 = d->l3 == PKT_L3_IP6;
	uint8_t proto = d->l4 == PKT_L4_TCP ? PROTO_TCP : PROTO_UDP;
	size_t l3_off, l4_off, l4_hlen, end;
	uint16_t ethertype, check;
	int msg_len;

	if (cap < ETH_HLEN + VLAN_HLEN || d->ip4_opt_len % 4 || d->ip4_opt_len > 40)
		return -1;
	memset(buf, 0, cap);

	ethertype = d->l3 == PKT_L3_ARP ? ETHERTYPE_ARP :
		    ip6 ? ETHERTYPE_IP6 : ETHERTYPE_IP4;
	l3_off = build_eth(d, buf, ethertype);
	if (d->l3 == PKT_L3_ARP) {
		if (l3_off + ARP_LEN + d->trailer_len > cap)
			return -1;
		end = l3_off + build_arp(d, buf + l3_off);
		l4_off = end;
		msg_len = 0;
		goto trailer;
	}

	/* Payload first: the headers in front of it carry its length. */
	l4_off = l3_off + l3_hlen(d);
	l4_hlen = proto == PROTO_TCP ? TCP_HLEN : UDP_HLEN;
	if (l4_off + l4_hlen + d->trailer_len > cap)
		return -1;
	msg_len = build_mqttsn(d, buf + l4_off + l4_hlen,
			       cap - l4_off - l4_hlen - d->trailer_len);
	if (msg_len < 0)
		return -1;
	build_l4(d, buf + l4_off, (size_t)msg_len);
	if (ip6)
		build_ip6(d, buf + l3_off, l4_hlen + msg_len, proto);
	else
		build_ip4(d, buf + l3_off, l4_hlen + msg_len, proto);
	end = l4_off + l4_hlen + msg_len;

	/* The L4 checksum covers the bytes as sent; the pseudo header carries
	 * the UDP length field (which a test may have made inconsistent) or,
	 * for TCP, the segment length. */
	if (proto == PROTO_TCP) {
		check = csum_l4(ip6 ? 6 : 4, d->ip_src, d->ip_dst, proto,
				l4_hlen + msg_len, buf + l4_off, l4_hlen + msg_len);
		put16(buf + l4_off + 16, check);
	} else if (!d->udp_csum_zero) {
		check = csum_l4(ip6 ? 6 : 4, d->ip_src, d->ip_dst, proto,
				get16(buf + l4_off + 4), buf + l4_off,
				l4_hlen + msg_len);
		put16(buf + l4_off + 6, check ? check : 0xffff);
	}

trailer:
	memset(buf + end, TRAILER_BYTE, d->trailer_len);
	if (info) {
		info->len = end + d->trailer_len;
		info->l3_off = l3_off;
		info->l4_off = l4_off;
		info->msg_off = l4_off + (proto == PROTO_TCP ? TCP_HLEN : UDP_HLEN);
		info->msg_len = (size_t)msg_len;
	}
	return (int)(end + d->trailer_len);
}

/* ---- Verification --------------------------------------------------------- */

#define WHY(...) (snprintf(why, why_len, __VA_ARGS__), -1)

static int check_udp(int family, const uint8_t *src, const uint8_t *dst,
		     const uint8_t *udp, size_t avail, char *why, size_t why_len)
{
	uint16_t ulen, want, got;

	if (avail < UDP_HLEN)
		return WHY("UDP header truncated");
	ulen = get16(udp + 4);
	if (ulen < UDP_HLEN || ulen > avail)
		return WHY("UDP length %u does not fit %zu bytes", ulen, avail);
	got = get16(udp + 6);
	if (got == 0 && family == 4)
		return 0;	/* IPv4: no checksum (RFC 768) */
	want = csum_l4(family, src, dst, PROTO_UDP, ulen, udp, ulen);
	if (want == 0)
		want = 0xffff;
	if (got != want)
		return WHY("UDP checksum 0x%04x, computed 0x%04x", got, want);
	return 0;
}

int pkt_check_csums(const uint8_t *f, size_t len, char *why, size_t why_len)
{
	size_t off = 12, hlen, tot;
	uint16_t type, got, want;

	if (len < ETH_HLEN)
		return 0;
	type = get16(f + off);
	if (type == ETHERTYPE_8021Q && len >= ETH_HLEN + VLAN_HLEN) {
		off += VLAN_HLEN;
		type = get16(f + off);
	}
	off += 2;

	if (type == ETHERTYPE_IP6) {
		if (len < off + IP6_HLEN || f[off + 6] != PROTO_UDP)
			return 0;
		tot = get16(f + off + 4);
		if (len < off + IP6_HLEN + tot)
			return WHY("IPv6 payload length %zu beyond frame", tot);
		return check_udp(6, f + off + 8, f + off + 24, f + off + IP6_HLEN,
				 tot, why, why_len);
	}
	if (type != ETHERTYPE_IP4 || len < off + IP4_HLEN)
		return 0;
	hlen = (f[off] & 0x0f) * 4u;
	tot = get16(f + off + 2);
	if (hlen < IP4_HLEN || len < off + hlen || tot < hlen || len < off + tot)
		return WHY("IPv4 header or total length beyond frame");
	got = get16(f + off + 10);
	want = csum_ip4_header(f + off, hlen);
	if (got != want)
		return WHY("IPv4 header checksum 0x%04x, computed 0x%04x", got, want);
	if (f[off + 9] != PROTO_UDP || (get16(f + off + 6) & 0x3fff))
		return 0;	/* not UDP, or a fragment: no whole datagram */
	return check_udp(4, f + off + 12, f + off + 16, f + off + hlen,
			 tot - hlen, why, why_len);
}

/* ---- Diagnostics ---------------------------------------------------------- */

void pkt_hexdump(FILE *f, const char *label, const uint8_t *buf, size_t len,
		 const uint8_t *ref, size_t ref_len)
{
	fprintf(f, "%s (%zu bytes):\n", label, len);
	for (size_t i = 0; i < len; i++) {
		bool differs = ref && (i >= ref_len || ref[i] != buf[i]);

		if (i % 16 == 0)
			fprintf(f, "  %04zx:", i);
		fprintf(f, " %02x%c", buf[i], differs ? '*' : ' ');
		if (i % 16 == 15 || i + 1 == len)
			fputc('\n', f);
	}
}
