/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pkt.h - test packets: a field-by-field frame builder and an independent
 * Internet checksum (RFC 1071).
 *
 * A test describes a frame with struct pkt_desc (Ethernet [802.1Q] IPv4|IPv6
 * UDP|TCP MQTT-SN, or ARP) and pkt_build() writes it, header field by header
 * field, with correct checksums unless the description asks otherwise.  The
 * expected output of a forwarding test is built the same way from a copy of
 * the description with the rewritten fields, so it never goes through the
 * code under test.
 *
 * The checksum code here is written from RFC 1071/768/8200 alone and must
 * stay independent of bpf/psoffload_csum.h: it is what that header is
 * verified against.
 */
#ifndef PSO_TEST_PKT_H
#define PSO_TEST_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A buffer this size holds any frame the tests build (BPF_PROG_TEST_RUN
 * takes up to about a page of linear data). */
#define PKT_MAX_LEN 2048

enum pkt_l3 {
	PKT_L3_IP4 = 0,		/* default */
	PKT_L3_IP6,
	PKT_L3_ARP,		/* ARP request from ip_src for ip_dst */
};

enum pkt_l4 {
	PKT_L4_UDP = 0,		/* default */
	PKT_L4_TCP,		/* 20-byte TCP header (SYN), same payload */
};

/* msg_type value: the UDP payload is data_len pattern bytes, no MQTT-SN. */
#define PKT_RAW_PAYLOAD (-1)

struct pkt_desc {
	/* Ethernet, optionally one 802.1Q tag */
	uint8_t eth_dst[6];
	uint8_t eth_src[6];
	bool vlan;
	uint16_t vlan_tci;

	/* IP; addresses in network order, IPv4 in the first 4 bytes */
	enum pkt_l3 l3;
	uint8_t ip_src[16];
	uint8_t ip_dst[16];
	uint8_t ttl;		/* IPv4 TTL or IPv6 hop limit */
	uint8_t ip4_opt_len;	/* IPv4 option bytes: multiple of 4, <= 40 */
	uint16_t ip4_frag;	/* IPv4 flags+offset field (host order): DF, MF, offset */
	bool ip6_frag_hdr;	/* IPv6: a fragment header precedes L4 */
	uint16_t ip6_frag;	/* its offset+M field (host order) */
	int ip_len_adjust;	/* added to IPv4 total length / IPv6 payload length */

	/* L4; ports in host order */
	enum pkt_l4 l4;
	uint16_t sport;
	uint16_t dport;
	bool udp_csum_zero;	/* send UDP checksum 0 ("none", IPv4 only legal) */
	int udp_len_adjust;	/* added to the UDP length field */

	/* MQTT-SN message = UDP payload */
	int msg_type;		/* MsgType, or PKT_RAW_PAYLOAD */
	bool long_len;		/* 3-byte length form: 0x01, length (2 bytes) */
	int msg_len_adjust;	/* added to the encoded Length field */
	uint8_t pub_flags;	/* PUBLISH: Flags */
	uint16_t topic_id;	/* PUBLISH: TopicId */
	uint16_t msg_id;	/* PUBLISH: MsgId */
	const uint8_t *body;	/* bytes after MsgType; NULL: built from the fields */
	size_t body_len;
	size_t data_len;	/* PUBLISH Data / other body / raw payload, pattern bytes */

	/* After the IP packet: Ethernet padding or trailer, 0xee bytes */
	size_t trailer_len;
};

/* Where pkt_build() put things. */
struct pkt_info {
	size_t len;		/* frame length */
	size_t l3_off;		/* IP (or ARP) header */
	size_t l4_off;		/* UDP/TCP header */
	size_t msg_off;		/* UDP payload (MQTT-SN message) */
	size_t msg_len;		/* its length in bytes */
};

/*
 * Write the frame d describes into buf.  Returns the frame length, or -1 when
 * it does not fit in cap or d asks for something the wire cannot carry (an
 * MQTT-SN message over 255 bytes in the 1-byte length form, bad IPv4 option
 * length).  info may be NULL.
 */
int pkt_build(const struct pkt_desc *d, uint8_t *buf, size_t cap,
	      struct pkt_info *info);

/* Byte i of every pattern-filled payload, so tests can reproduce it. */
static inline uint8_t pkt_pattern(size_t i)
{
	return (uint8_t)(i * 31 + 7);
}

/* ---- Independent Internet checksum (RFC 1071) ----------------------------- */

/*
 * Add len bytes to a running one's-complement sum as big-endian 16-bit
 * words; an odd last byte is padded with zero.  Only the last chunk of a sum
 * may have odd length.
 */
uint64_t csum_partial_be(uint64_t sum, const void *data, size_t len);

/* Fold a running sum to 16 bits and complement it: the checksum field. */
uint16_t csum_finish(uint64_t sum);

/* IPv4 header checksum of hlen bytes (the field itself counts as zero). */
uint16_t csum_ip4_header(const uint8_t *ip, size_t hlen);

/*
 * UDP (proto 17) or TCP (6) checksum with the IPv4 (family 4) or IPv6 (6)
 * pseudo header; l4 holds l4_len bytes, checksum field counted as zero.
 * pseudo_len is the length the pseudo header carries.  Returned as computed:
 * a UDP caller maps 0 to 0xffff (RFC 768).
 */
uint16_t csum_l4(int family, const uint8_t *src, const uint8_t *dst,
		 uint8_t proto, uint32_t pseudo_len, const uint8_t *l4,
		 size_t l4_len);

/*
 * Verify the checksums of an Ethernet frame from scratch: IPv4 header
 * checksum and UDP checksum (IPv4 checksum 0 = none, accepted).  Returns 0,
 * or -1 with a reason in why.  Frames that are not IP/UDP pass.
 */
int pkt_check_csums(const uint8_t *frame, size_t len, char *why, size_t why_len);

/* ---- Diagnostics ---------------------------------------------------------- */

/* Hex dump, 16 bytes a line; bytes that differ from ref (if given) are
 * marked with '*' so a failing comparison shows where it went wrong. */
void pkt_hexdump(FILE *f, const char *label, const uint8_t *buf, size_t len,
		 const uint8_t *ref, size_t ref_len);

#endif /* PSO_TEST_PKT_H */
