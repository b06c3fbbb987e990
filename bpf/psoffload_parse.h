/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * psoffload_parse.h - packet parsing shared by the XDP and TC programs.
 *
 * Small cursor parsers in the style of xdp-tools' parsing_helpers.h: each
 * checks its bounds, advances the cursor and returns what comes next.  The
 * caller, pso_parse(), reads as the list of layers and ends in one verdict.
 *
 * Judging rule: until the UDP header shows the broker's address and port, a
 * packet is not ours and passes untouched, however odd it is.  From then on,
 * anything truncated or inconsistent is dropped with its own reason.
 */
#ifndef PSOFFLOAD_PARSE_H
#define PSOFFLOAD_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include "psoffload_abi.h"

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#define PSO_IP_MF     0x2000
#define PSO_IP_OFFSET 0x1fff
#define PSO_IPPROTO_UDP 17
#define PSO_IPPROTO_FRAGMENT 44

struct pso_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

enum pso_verdict {
	PSO_V_PUBLISH,		/* QoS 0 / -1, normal or predefined topic id */
	PSO_V_SLOW_QOS,		/* QoS 1 / 2 publish: daemon */
	PSO_V_CONTROL,		/* other valid message: daemon */
	PSO_V_NOT_BROKER,	/* not ours: untouched */
	PSO_V_FRAGMENT,		/* IP fragment: stack reassembles */
	PSO_V_TRUNCATED,
	PSO_V_BAD_LENGTH,
	PSO_V_MALFORMED,
};

/* What the parse learned; offsets are from the start of the frame. */
struct pso_pkt {
	struct ethhdr *eth;
	void *l3;		/* struct iphdr or struct ipv6hdr, by family */
	struct udphdr *udp;
	__u32 l3_off;
	__u32 l4_off;
	__u16 msg_len;		/* MQTT-SN length == UDP payload length */
	__u8 hdr_len;		/* MQTT-SN header: 2 (1-byte length) or 4 bytes */
	__u8 family;		/* PSO_AF_INET or PSO_AF_INET6 */
	__u8 msg_type;
	__u8 pub_flags;		/* PUBLISH flags byte */
	__u16 topic_id;		/* PUBLISH topic id, host order */
	__u8 *pub;		/* PUBLISH flags byte in the packet, its 5-byte
				 * body checked in bounds (XDP writes through
				 * it; TC goes by offset) */
};

/*
 * The flags byte of the copy a subscriber gets (from the publish's flags
 * and the slot's PSO_SUB_F_*): QoS 0, since QoS -1 exists only from client
 * to gateway; DUP and RETAIN clear (a live publish to a subscription that
 * exists, first sent to this subscriber); the TopicIdType the subscriber
 * knows the topic by, predefined, short name or the normal id
 * SUBACK/REGACK/REGISTER gave it, or its client discards the copy (a
 * normal or predefined id is global; a short name replaces the id in the
 * copy, pso_copy_topic).  The bits PUBLISH does not use (WILL,
 * CLEAN_SESSION) stand as sent.
 */
static __always_inline __u8 pso_copy_flags(__u8 pub_flags, __u8 sub_flags)
{
	__u8 form = MQTTSN_TOPIC_NORMAL;

	if (sub_flags & PSO_SUB_F_SHORT)
		form = MQTTSN_TOPIC_SHORT;
	else if (sub_flags & PSO_SUB_F_PREDEFINED)
		form = MQTTSN_TOPIC_PREDEFINED;
	return (pub_flags & (MQTTSN_FLAG_WILL | MQTTSN_FLAG_CLEAN_SESSION)) | form;
}

/* The TTL / hop limit of every copy: one less than the publish came with
 * (pso_admit refused it at 1 or 0).  The microbenchmark's builds
 * (PSO_BENCH_KEEP_TTL) keep it, so that a copy to an "identity" slot is
 * again the publish it was and every iteration of a test run takes the
 * path measured: the checksum arithmetic and the stores are the same. */
static __always_inline __u8 pso_fwd_ttl(__u8 ttl)
{
#ifdef PSO_BENCH_KEEP_TTL
	return ttl;
#else
	return ttl - 1;
#endif
}

struct pso_cursor {
	void *pos;
	void *end;
};

/* Ethernet and at most one 802.1Q tag; returns the EtherType, host order. */
static __always_inline int pso_parse_eth(struct pso_cursor *c, struct pso_pkt *p)
{
	struct ethhdr *eth = c->pos;
	__u16 proto;

	if ((void *)(eth + 1) > c->end)
		return -1;
	p->eth = eth;
	c->pos = eth + 1;
	p->l3_off = sizeof(*eth);
	proto = bpf_ntohs(eth->h_proto);
	if (proto == ETH_P_8021Q) {
		struct pso_vlan_hdr *vh = c->pos;

		if ((void *)(vh + 1) > c->end)
			return -1;
		c->pos = vh + 1;
		p->l3_off += sizeof(*vh);
		proto = bpf_ntohs(vh->encap_proto);
	}
	return proto;
}

/*
 * IPv4 with any valid IHL (options kept).  Returns the L4 protocol, or -1
 * when this is no IPv4 packet we can read.  *l3_payload gets the bytes after
 * the IP header that the IP header claims.
 */
static __always_inline int pso_parse_ip4(struct pso_cursor *c, struct pso_pkt *p,
					 __u32 *l3_payload, int *frag)
{
	struct iphdr *ip = c->pos;
	__u32 hlen, tot;

	if ((void *)(ip + 1) > c->end)
		return -1;
	if (ip->version != 4)
		return -1;
	hlen = ip->ihl * 4;
	if (hlen < sizeof(*ip))
		return -1;
	/* hlen <= 60: a bounded variable offset the verifier can follow. */
	if (c->pos + hlen > c->end)
		return -1;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < hlen)
		return -1;
	*frag = (ip->frag_off & bpf_htons(PSO_IP_MF | PSO_IP_OFFSET)) != 0;
	*l3_payload = tot - hlen;
	p->l3 = ip;
	p->family = PSO_AF_INET;
	p->l4_off = p->l3_off + hlen;
	c->pos += hlen;
	return ip->protocol;
}

/* IPv6 without extension headers (a fragment header is reported as such). */
static __always_inline int pso_parse_ip6(struct pso_cursor *c, struct pso_pkt *p,
					 __u32 *l3_payload, int *frag)
{
	struct ipv6hdr *ip6 = c->pos;

	if ((void *)(ip6 + 1) > c->end)
		return -1;
	if (ip6->version != 6)
		return -1;
	*frag = ip6->nexthdr == PSO_IPPROTO_FRAGMENT;
	*l3_payload = bpf_ntohs(ip6->payload_len);
	p->l3 = ip6;
	p->family = PSO_AF_INET6;
	p->l4_off = p->l3_off + sizeof(*ip6);
	c->pos = ip6 + 1;
	return ip6->nexthdr;
}

static __always_inline int pso_is_broker_addr(const struct pso_pkt *p,
					      const struct pso_port_cfg *cfg)
{
	if (p->family == PSO_AF_INET)
		return cfg->ip4 && ((struct iphdr *)p->l3)->daddr == cfg->ip4;
	{
		const __u32 *a = (const __u32 *)&((struct ipv6hdr *)p->l3)->daddr;
		const __u32 *b = (const __u32 *)cfg->ip6;

		if (!(b[0] | b[1] | b[2] | b[3]))
			return 0;
		return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
	}
}

/* Message types of MQTT-SN v1.2 below 32 (bit n set = type n is defined). */
#define MQTTSN_TYPES_DEFINED_LO					\
	((1u << MQTTSN_ADVERTISE) | (1u << MQTTSN_SEARCHGW) |		\
	 (1u << MQTTSN_GWINFO) | (1u << MQTTSN_CONNECT) |		\
	 (1u << MQTTSN_CONNACK) | (1u << MQTTSN_WILLTOPICREQ) |	\
	 (1u << MQTTSN_WILLTOPIC) | (1u << MQTTSN_WILLMSGREQ) |		\
	 (1u << MQTTSN_WILLMSG) | (1u << MQTTSN_REGISTER) |		\
	 (1u << MQTTSN_REGACK) | (1u << MQTTSN_PUBLISH) |		\
	 (1u << MQTTSN_PUBACK) | (1u << MQTTSN_PUBCOMP) |		\
	 (1u << MQTTSN_PUBREC) | (1u << MQTTSN_PUBREL) |		\
	 (1u << MQTTSN_SUBSCRIBE) | (1u << MQTTSN_SUBACK) |		\
	 (1u << MQTTSN_UNSUBSCRIBE) | (1u << MQTTSN_UNSUBACK) |		\
	 (1u << MQTTSN_PINGREQ) | (1u << MQTTSN_PINGRESP) |		\
	 (1u << MQTTSN_DISCONNECT) | (1u << MQTTSN_WILLTOPICUPD) |	\
	 (1u << MQTTSN_WILLTOPICRESP) | (1u << MQTTSN_WILLMSGUPD) |	\
	 (1u << MQTTSN_WILLMSGRESP))

static __always_inline int mqttsn_type_defined(__u8 type)
{
	if (type == MQTTSN_ENCAPSULATED)
		return 1;
	return type < 32 && ((MQTTSN_TYPES_DEFINED_LO >> type) & 1);
}

/*
 * Is a control message of this type, with body_len bytes after its header,
 * well formed (MQTT-SN v1.2 section 5.4)?  Fixed-size bodies exactly, the
 * others at least their fixed fields; SUBSCRIBE/UNSUBSCRIBE with the
 * reserved TopicIdType 0b11 and CONNECT with a protocol id other than 0x01
 * are malformed too.  What is not well formed is dropped and counted here,
 * not passed up for the daemon to discard unseen.
 */
static __always_inline int mqttsn_control_ok(__u8 type, __u32 body_len, const __u8 *body,
					     const void *end)
{
	switch (type) {
	case MQTTSN_WILLTOPICREQ:
	case MQTTSN_WILLMSGREQ:
	case MQTTSN_PINGRESP:
		return body_len == 0;
	case MQTTSN_SEARCHGW:
	case MQTTSN_CONNACK:
	case MQTTSN_WILLTOPICRESP:
	case MQTTSN_WILLMSGRESP:
		return body_len == 1;
	case MQTTSN_PUBCOMP:
	case MQTTSN_PUBREC:
	case MQTTSN_PUBREL:
	case MQTTSN_UNSUBACK:
		return body_len == 2;
	case MQTTSN_ADVERTISE:
		return body_len == 3;
	case MQTTSN_REGACK:
	case MQTTSN_PUBACK:
		return body_len == 5;
	case MQTTSN_SUBACK:
		return body_len == 6;
	case MQTTSN_GWINFO:
		return body_len >= 1;
	case MQTTSN_REGISTER:
		return body_len >= 5;
	case MQTTSN_DISCONNECT:
		return body_len == 0 || body_len == 2;
	case MQTTSN_WILLTOPIC:
	case MQTTSN_WILLTOPICUPD:
		return body_len == 0 || body_len >= 2;
	case MQTTSN_CONNECT:
		/* flags, protocol id, duration, client id */
		if (body_len < 4 || (void *)(body + 2) > end)
			return 0;
		return body[1] == MQTTSN_PROTOCOL_ID;
	case MQTTSN_SUBSCRIBE:
	case MQTTSN_UNSUBSCRIBE:
		/* flags, msg id, topic name or 2-byte topic id */
		if (body_len < 4 || (void *)(body + 1) > end)
			return 0;
		switch (body[0] & MQTTSN_FLAG_TOPIC_MASK) {
		case MQTTSN_TOPIC_NORMAL:
			return 1;
		case MQTTSN_TOPIC_PREDEFINED:
		case MQTTSN_TOPIC_SHORT:
			return body_len == 5;
		default:
			return 0;
		}
	default:	/* WILLMSG, WILLMSGUPD, PINGREQ: any tail; 0xFE: the daemon's */
		return 1;
	}
}

/*
 * MQTT-SN fixed header (1- or 3-byte length form) and, for PUBLISH, its
 * flags and topic id.  udp_payload is the UDP length minus its header.
 */
static __always_inline enum pso_verdict
pso_parse_mqttsn(struct pso_cursor *c, struct pso_pkt *p, __u32 udp_payload)
{
	__u8 *m = c->pos;
	__u8 *body;
	__u32 len;
	__u8 qos, topic_type;

	/* The caller saw udp_payload bytes in the frame; the bounds checks
	 * below are for the verifier and never fail after that. */
	if (udp_payload < 2)
		return PSO_V_MALFORMED;
	if ((void *)(m + 2) > c->end)
		return PSO_V_TRUNCATED;
	if (m[0] == MQTTSN_LEN_3BYTE_MARK) {
		if (udp_payload < 4)
			return PSO_V_MALFORMED;
		if ((void *)(m + 4) > c->end)
			return PSO_V_TRUNCATED;
		len = ((__u32)m[1] << 8) | m[2];
		p->msg_type = m[3];
		body = m + 4;
		if (len < 4)
			return PSO_V_MALFORMED;
	} else {
		len = m[0];
		p->msg_type = m[1];
		body = m + 2;
		if (len < 2)
			return PSO_V_MALFORMED;
	}
	/* 5.5: a forwarder's encapsulation header carries its own length
	 * (3 + the node id); the wrapped message follows it.  The daemon
	 * unwraps and judges it. */
	if (body == m + 2 && p->msg_type == MQTTSN_ENCAPSULATED) {
		if (len < 3 || len > udp_payload)
			return PSO_V_MALFORMED;
		p->msg_len = udp_payload;
		p->hdr_len = 2;
		return PSO_V_CONTROL;
	}
	if (len != udp_payload)
		return PSO_V_BAD_LENGTH;
	p->msg_len = len;
	p->hdr_len = body - m;
	if (!mqttsn_type_defined(p->msg_type))
		return PSO_V_MALFORMED;
	if (p->msg_type != MQTTSN_PUBLISH)
		return mqttsn_control_ok(p->msg_type, len - (__u32)(body - m), body, c->end) ?
		       PSO_V_CONTROL : PSO_V_MALFORMED;

	if ((__u32)(body - m) + MQTTSN_PUBLISH_BODY_LEN > len)
		return PSO_V_MALFORMED;
	if ((void *)(body + MQTTSN_PUBLISH_BODY_LEN) > c->end)
		return PSO_V_TRUNCATED;
	p->pub = body;
	p->pub_flags = body[0];
	p->topic_id = ((__u16)body[1] << 8) | body[2];
	qos = p->pub_flags & MQTTSN_FLAG_QOS_MASK;
	topic_type = p->pub_flags & MQTTSN_FLAG_TOPIC_MASK;
	if (topic_type == 0x03)
		return PSO_V_MALFORMED;
	if (qos == MQTTSN_FLAG_QOS_1 || qos == MQTTSN_FLAG_QOS_2)
		return PSO_V_SLOW_QOS;
	/* Short topic names are resolved by the daemon. */
	if (topic_type == MQTTSN_TOPIC_SHORT)
		return PSO_V_CONTROL;
	return PSO_V_PUBLISH;
}

/*
 * The whole parse: Ethernet [802.1Q] IPv4|IPv6 UDP MQTT-SN.  cfg is the
 * broker's identity on the ingress port.
 */
static __always_inline enum pso_verdict
pso_parse(void *data, void *data_end, const struct pso_port_cfg *cfg,
	  struct pso_pkt *p)
{
	struct pso_cursor c = { .pos = data, .end = data_end };
	__u32 l3_payload = 0, udp_len;
	int proto, frag = 0;
	struct udphdr *udp;

	proto = pso_parse_eth(&c, p);
	if (proto == ETH_P_IP)
		proto = pso_parse_ip4(&c, p, &l3_payload, &frag);
	else if (proto == ETH_P_IPV6)
		proto = pso_parse_ip6(&c, p, &l3_payload, &frag);
	else
		return PSO_V_NOT_BROKER;
	if (proto < 0)
		return PSO_V_NOT_BROKER;
	if (frag)
		return PSO_V_FRAGMENT;
	if (proto != PSO_IPPROTO_UDP)
		return PSO_V_NOT_BROKER;

	udp = c.pos;
	if ((void *)(udp + 1) > c.end)
		return PSO_V_NOT_BROKER;
	if (udp->dest != cfg->udp_port || !pso_is_broker_addr(p, cfg))
		return PSO_V_NOT_BROKER;
	p->udp = udp;
	c.pos = udp + 1;

	/* Ours from here on: judge lengths. */
	udp_len = bpf_ntohs(udp->len);
	/* IPv6 has no "no checksum" (RFC 8200 8.1): a 0 would be forwarded
	 * as an incrementally updated zero and dropped by every receiver. */
	if (p->family == PSO_AF_INET6 && !udp->check)
		return PSO_V_MALFORMED;
	if (udp_len < sizeof(*udp) || udp_len > l3_payload)
		return PSO_V_BAD_LENGTH;
	if ((void *)udp + l3_payload > c.end)
		return PSO_V_TRUNCATED;
	return pso_parse_mqttsn(&c, p, udp_len - sizeof(*udp));
}

#endif /* PSOFFLOAD_PARSE_H */
