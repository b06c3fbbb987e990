// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * psoffload_xdp.bpf.c - the MQTT-SN fast path.
 *
 * One source, two builds:
 *   driver build  (native and generic XDP): may redirect through pso_devmap
 *                 and count per CPU;
 *   offload build (-DPSO_OFFLOAD, NFP hardware): helpers 1-3 only, returns
 *                 DROP/PASS/TX, reads only data/data_end from the context,
 *                 and passes up whatever its small tables cannot finish.
 *
 * Per packet: parse, admit, look up, rewrite, act, count.  Admission is
 * the rule both programs share (pso_admit, psoffload_admit.h); what is
 * XDP's own in it comes from psoffload_ctx_xdp.h.  Every exit goes through
 * pso_exit() (psoffload_lookup.h), which counts the outcome and, in the
 * driver build, reports a drop or refusal as an event (psoffload_events.h).
 */
/* This program's context, for psoffload_ctx.h. */
#define PSO_CTX_XDP

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "psoffload_abi.h"
#include "psoffload_maps.h"
#include "psoffload_lookup.h"
#include "psoffload_parse.h"
#include "psoffload_admit.h"
#include "psoffload_csum.h"

/*
 * Rewrite Ethernet, IP and UDP headers for subscriber s.  The checksum
 * terms are summed from the old packet words and the new slot words (RFC
 * 1624 eqn. 3, see psoffload_csum.h); the address terms count twice, once
 * in the IP header and once in the UDP pseudo header.  The TTL / hop
 * limit goes out one less (pso_fwd_ttl).  Of the MQTT-SN message only the
 * PUBLISH flags byte may change, to the form the subscriber knows
 * (pso_copy_flags), and for a short-form subscriber the topic-id field, to
 * the topic's short name `sn`.  The flags are written only when they
 * differ, which a QoS 0 publish by normal id to a normal-form slot (nearly
 * all traffic) never does.  Their checksum word is (flags, topic id high
 * byte), at an even UDP offset in both length forms, both bytes known from
 * the parse: no packet load.  The short name's second byte is the high
 * byte of the next word (topic id low byte, message id high byte): the
 * message id byte stays, so the word is taken with 0 for it on both sides
 * of ~m + m', which leaves the sum unchanged.
 *
 * Every packet word the checksums need is read before the first store.  A
 * frame's first cache line was last written by another CPU (the sender, a
 * NIC's DMA); the stores can wait in the store buffer while that line comes
 * over, but a load of a word just stored (the TTL's 16-bit checksum word
 * after a one-byte TTL store, say) cannot, and stalls the program for the
 * whole transfer.  Measured on veth: a third of the fast path's rate.
 */
static __always_inline void pso_rewrite(struct pso_pkt *p, const struct pso_sub *s,
					const struct pso_port_cfg *cfg, __u8 sub_flags,
					const struct pso_short_name *sn)
{
	struct udphdr *udp = p->udp;
	__be16 old_sport = udp->source, old_dport = udp->dest, old_ucheck = udp->check;
	__u32 addr_terms, udp_terms;
	__u8 flags;

	if (p->family == PSO_AF_INET) {
		struct iphdr *ip = p->l3;
		__u16 *ttl_word = (__u16 *)&ip->ttl;	/* ttl and protocol */
		__u16 old_ttl_word = *ttl_word, new_ttl_word = old_ttl_word;
		__u16 check;

		/* wire order: ttl first */
		((__u8 *)&new_ttl_word)[0] = pso_fwd_ttl(((__u8 *)&old_ttl_word)[0]);
		addr_terms = pso_csum_words(0, (__u16 *)&ip->saddr, (const __u16 *)s->src_addr, 2);
		addr_terms = pso_csum_words(addr_terms, (__u16 *)&ip->daddr, (const __u16 *)s->dst_addr, 2);
		check = pso_csum_apply(ip->check, pso_csum_word(addr_terms, old_ttl_word, new_ttl_word));

		__builtin_memcpy(p->eth->h_dest, s->dst_mac, ETH_ALEN);
		__builtin_memcpy(p->eth->h_source, s->src_mac, ETH_ALEN);
		ip->saddr = *(const __u32 *)s->src_addr;
		ip->daddr = *(const __u32 *)s->dst_addr;
		*ttl_word = new_ttl_word;
		ip->check = check;
	} else {
		struct ipv6hdr *ip6 = p->l3;

		addr_terms = pso_csum_words(0, (__u16 *)&ip6->saddr, (const __u16 *)s->src_addr, 8);
		addr_terms = pso_csum_words(addr_terms, (__u16 *)&ip6->daddr, (const __u16 *)s->dst_addr, 8);

		__builtin_memcpy(p->eth->h_dest, s->dst_mac, ETH_ALEN);
		__builtin_memcpy(p->eth->h_source, s->src_mac, ETH_ALEN);
		__builtin_memcpy(&ip6->saddr, s->src_addr, 16);
		__builtin_memcpy(&ip6->daddr, s->dst_addr, 16);
		ip6->hop_limit = pso_fwd_ttl(ip6->hop_limit);
	}

	/* One broker port number on every interface: the ingress port's. */
	udp_terms = pso_csum_word(addr_terms, old_sport, cfg->udp_port);
	udp_terms = pso_csum_word(udp_terms, old_dport, s->dst_port);
	udp->source = cfg->udp_port;
	udp->dest = s->dst_port;
	/* Computed here, not with the loads above: it needs no packet byte,
	 * and a short life keeps it in a register. */
	flags = pso_copy_flags(p->pub_flags, sub_flags);
	if (sn) {
		__u16 hi = p->topic_id >> 8, lo = p->topic_id & 0xff;

		udp_terms = pso_csum_word(udp_terms, bpf_htons(p->pub_flags << 8 | hi),
					  bpf_htons(flags << 8 | sn->name[0]));
		udp_terms = pso_csum_word(udp_terms, bpf_htons(lo << 8), bpf_htons(sn->name[1] << 8));
		p->pub[0] = flags;
		p->pub[1] = sn->name[0];
		p->pub[2] = sn->name[1];
	} else if (flags != p->pub_flags) {
		__u16 hi = p->topic_id >> 8;

		/* The word as it stands in memory, in host order (csum.h). */
		udp_terms = pso_csum_word(udp_terms, bpf_htons(p->pub_flags << 8 | hi),
					  bpf_htons(flags << 8 | hi));
		p->pub[0] = flags;
	}
	/* IPv4 "no checksum" (0) stays 0: never an incrementally updated zero. */
	if (p->family == PSO_AF_INET6 || old_ucheck)
		udp->check = pso_csum_apply_udp(old_ucheck, udp_terms);
}

/*
 * What becomes of an admitted publish to topic t, counted in its topic
 * stats already: up for RETAIN, for subscribers beyond the topic's slots
 * (the daemon's) or many subscribers, dropped for none, sent on to one.
 * Both lanes end here.
 */
static __always_inline int pso_deliver(const struct pso_port_cfg *cfg, struct pso_pkt *p,
				       struct pso_topic *t)
{
	const struct pso_short_name *sn = NULL;
	struct pso_sub *s;
	__u8 sub_flags;

	if (p->pub_flags & MQTTSN_FLAG_RETAIN)
		return pso_exit(p, PSO_CNT_XDP_PASS_RETAIN, XDP_PASS);
	if (t->flags & PSO_TOPIC_F_HOST)
		return pso_exit(p, PSO_CNT_XDP_PASS_OVERFLOW, XDP_PASS);
	if (t->sub_count == 0)
		return pso_exit(p, PSO_CNT_XDP_DROP_NO_SUBSCRIBER, XDP_DROP);
	if (t->sub_count > 1)
		return pso_exit(p, PSO_CNT_XDP_PASS_FANOUT, XDP_PASS);

	/* one subscriber: rewrite and act */
	s = &t->first;
	if (!pso_sub_take(s, p->family, &sub_flags))
		return pso_exit(p, PSO_CNT_XDP_PASS_HOST, XDP_PASS);
	if (sub_flags & PSO_SUB_F_SHORT) {
#ifdef PSO_OFFLOAD
		/* The NIC has no short-name table: the host writes the name. */
		return pso_exit(p, PSO_CNT_XDP_PASS_HOST, XDP_PASS);
#else
		sn = pso_short_name_lookup(p->topic_id);
		if (!sn)
			return pso_exit(p, PSO_CNT_XDP_PASS_HOST, XDP_PASS);
#endif
	}
	if (s->ifindex == cfg->ifindex) {
		pso_rewrite(p, s, cfg, sub_flags, sn);
		return pso_exit(p, PSO_CNT_XDP_TX, XDP_TX);
	}
#ifdef PSO_OFFLOAD
	return pso_exit(p, PSO_CNT_XDP_PASS_HOST, XDP_PASS);
#else
	/* Redirect first: if the port is not in the devmap the packet goes up
	 * unmodified and the TC path serves it. */
	if (bpf_redirect_map(&pso_devmap, s->ifindex, 0) != XDP_REDIRECT)
		return pso_exit(p, PSO_CNT_XDP_PASS_HOST, XDP_PASS);
	pso_rewrite(p, s, cfg, sub_flags, sn);
	return pso_exit(p, PSO_CNT_XDP_REDIRECT, XDP_REDIRECT);
#endif
}

/*
 * The fast lane: the one shape nearly all of a broker's traffic has, parsed
 * in straight-line code with as few loads and branches as the checks allow.
 * Untagged IPv4 without options or fragmentation, UDP to the broker's
 * address and port with lengths that agree exactly, an MQTT-SN PUBLISH in
 * the 1-byte length form, QoS 0 or -1, a normal or predefined topic id, no
 * RETAIN: *p filled as pso_parse() would fill it (pso_parse() would say
 * PSO_V_PUBLISH), then judged by the one rule, pso_admit(): its topic, or
 * NULL and *action, the end of the packet (counted).  A refusal here is the
 * one the general path would give, counter and action alike.  The rule's
 * copy inlined here knows the publisher is IPv4 (one address word, three
 * zeros); the copy after pso_parse() branches on the family and carries
 * four words through the client lookup.
 *
 * Any other packet gets NULL and *action = PSO_SLOW_LANE before anything
 * is counted, and pso_parse() judges it from the start.
 */
#define PSO_SLOW_LANE (-1)	/* no XDP action */

static __always_inline struct pso_topic *pso_fast_lane(void *data, void *data_end,
							const struct pso_port_cfg *cfg,
							struct pso_pkt *p, int *action)
{
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct udphdr *udp = (void *)(ip + 1);
	__u8 *m = (__u8 *)(udp + 1);
	__u32 udp_len, msg_len;
	__u8 flags, qos;

	*action = PSO_SLOW_LANE;
	if ((void *)(m + 2 + MQTTSN_PUBLISH_BODY_LEN) > data_end)
		return NULL;
	if (*(__u16 *)(data + 12) != bpf_htons(ETH_P_IP) || *(__u8 *)ip != 0x45 ||
	    (ip->frag_off & bpf_htons(PSO_IP_MF | PSO_IP_OFFSET)) ||
	    ip->protocol != PSO_IPPROTO_UDP)
		return NULL;
	if (udp->dest != cfg->udp_port || ip->daddr != cfg->ip4 || !cfg->ip4)
		return NULL;
	/* IP, UDP and MQTT-SN lengths agree, and the frame holds them all. */
	udp_len = bpf_ntohs(udp->len);
	msg_len = m[0];	/* 8 bits: a bound older verifiers follow */
	if (bpf_ntohs(ip->tot_len) != sizeof(struct iphdr) + udp_len ||
	    msg_len != udp_len - sizeof(struct udphdr) || msg_len < 2 + MQTTSN_PUBLISH_BODY_LEN ||
	    (void *)m + msg_len > data_end)
		return NULL;
	flags = m[2];
	qos = flags & MQTTSN_FLAG_QOS_MASK;
	if (m[1] != MQTTSN_PUBLISH || (flags & (MQTTSN_FLAG_RETAIN | MQTTSN_TOPIC_SHORT)) ||
	    (qos != MQTTSN_FLAG_QOS_0 && qos != MQTTSN_FLAG_QOS_M1))
		return NULL;

	p->eth = data;
	p->l3 = ip;
	p->udp = udp;
	p->family = PSO_AF_INET;
	p->msg_len = msg_len;
	p->pub = m + 2;
	p->pub_flags = flags;
	p->topic_id = (__u16)m[3] << 8 | m[4];
	return pso_admit(p, action);
}

/* Every verdict of pso_parse() but PSO_V_PUBLISH: its counter and action. */
static __always_inline int pso_not_publish(const struct pso_pkt *p, enum pso_verdict v)
{
	switch (v) {
	case PSO_V_SLOW_QOS:
		return pso_exit(p, PSO_CNT_XDP_PASS_SLOW_QOS, XDP_PASS);
	case PSO_V_CONTROL:
		return pso_exit(p, PSO_CNT_XDP_PASS_CONTROL, XDP_PASS);
	case PSO_V_FRAGMENT:
		return pso_exit(p, PSO_CNT_XDP_PASS_FRAGMENT, XDP_PASS);
	case PSO_V_TRUNCATED:
		return pso_exit(p, PSO_CNT_XDP_DROP_TRUNCATED, XDP_DROP);
	case PSO_V_BAD_LENGTH:
		return pso_exit(p, PSO_CNT_XDP_DROP_LENGTH, XDP_DROP);
	case PSO_V_MALFORMED:
		return pso_exit(p, PSO_CNT_XDP_DROP_MALFORMED, XDP_DROP);
	case PSO_V_NOT_BROKER:
	default:
		return pso_exit(p, PSO_CNT_XDP_PASS_NOT_BROKER, XDP_PASS);
	}
}

SEC("xdp")
int psoffload_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pso_port_cfg *cfg = pso_port_lookup(pso_ctx_ifindex(ctx));
	struct pso_pkt p = {};
	struct pso_topic *t;
	enum pso_verdict v;
	int action;

	if (!cfg)	/* not a broker port */
		return pso_exit(NULL, PSO_CNT_XDP_PASS_NOT_BROKER, XDP_PASS);
	t = pso_fast_lane(data, data_end, cfg, &p, &action);
	if (!t && action == PSO_SLOW_LANE) {
		v = pso_parse(data, data_end, cfg, &p);
		if (v != PSO_V_PUBLISH)
			return pso_not_publish(&p, v);
		t = pso_admit(&p, &action);
	}
	if (!t)		/* refused, counted */
		return action;
	/* Both lanes meet here, laid out after both (no backward jump): one
	 * delivery, one copy of its code.  An admitted publish is counted in
	 * its topic's stats here, once: TC, which sees it after, does not. */
	pso_merge(t);
	pso_count_topic(p.topic_id, p.msg_len);
	return pso_deliver(cfg, &p, t);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
