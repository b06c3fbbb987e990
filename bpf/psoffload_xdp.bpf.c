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
 * Per packet: parse, admit, look up, rewrite, act, count.  Every exit goes
 * through pso_exit(), which counts the outcome.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "psoffload_abi.h"
#include "psoffload_maps.h"
#include "psoffload_parse.h"
#include "psoffload_csum.h"

static __always_inline int pso_exit(__u32 counter, int action)
{
	pso_count(counter);
	return action;
}

/*
 * A table miss.  The driver build's tables are complete, so a miss is a
 * drop; the NIC's are a subset of the host's, so the offload build passes
 * the packet to the host, whose XDP program decides.
 */
#ifdef PSO_OFFLOAD
#define pso_miss(counter) pso_exit(PSO_CNT_XDP_PASS_HOST, XDP_PASS)
#else
#define pso_miss(counter) pso_exit((counter), XDP_DROP)
#endif

static __always_inline struct pso_port_cfg *pso_ingress_port(struct xdp_md *ctx)
{
#ifdef PSO_OFFLOAD
	__u32 key = 0;	/* the device's own maps describe the device */
#else
	__u32 key = ctx->ingress_ifindex;
#endif
	return bpf_map_lookup_elem(&pso_port_cfg, &key);
}

static __always_inline int pso_client_connected(const struct pso_pkt *p)
{
	struct pso_endpoint key = {};
	struct pso_client_val *val;

	if (p->family == PSO_AF_INET) {
		*(__u32 *)key.addr = ((struct iphdr *)p->l3)->saddr;
	} else {
		__u32 *dst = (__u32 *)key.addr;
		const __u32 *src = (const __u32 *)&((struct ipv6hdr *)p->l3)->saddr;

		dst[0] = src[0];
		dst[1] = src[1];
		dst[2] = src[2];
		dst[3] = src[3];
	}
	key.port = p->udp->source;
	key.family = p->family;
	val = bpf_map_lookup_elem(&pso_clients, &key);
	if (!val)
		return 0;
	/* Shared by all CPUs: non-fetch atomic add, as in the offload build. */
	__sync_fetch_and_add(&val->rx_msgs, 1);
	return 1;
}

/*
 * Rewrite Ethernet, IP and UDP headers for subscriber s.  The checksum
 * terms are summed from the old packet words and the new slot words before
 * anything is written (RFC 1624 eqn. 3, see psoffload_csum.h); the address
 * terms count twice, once in the IP header and once in the UDP pseudo header.
 * The MQTT-SN bytes are never touched.
 */
static __always_inline void pso_rewrite(struct pso_pkt *p, const struct pso_sub *s,
					const struct pso_port_cfg *cfg)
{
	struct udphdr *udp = p->udp;
	__u32 addr_terms, udp_terms;

	__builtin_memcpy(p->eth->h_dest, s->dst_mac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, s->src_mac, ETH_ALEN);

	if (p->family == PSO_AF_INET) {
		struct iphdr *ip = p->l3;
		__u16 *ttl_word = (__u16 *)&ip->ttl;	/* ttl and protocol */
		__u16 old_ttl_word = *ttl_word;

		addr_terms = pso_csum_words(0, (__u16 *)&ip->saddr, (const __u16 *)s->src_addr, 2);
		addr_terms = pso_csum_words(addr_terms, (__u16 *)&ip->daddr, (const __u16 *)s->dst_addr, 2);
		ip->saddr = *(const __u32 *)s->src_addr;
		ip->daddr = *(const __u32 *)s->dst_addr;
		ip->ttl = PSO_DEFAULT_TTL;
		ip->check = pso_csum_apply(ip->check, pso_csum_word(addr_terms, old_ttl_word, *ttl_word));
	} else {
		struct ipv6hdr *ip6 = p->l3;

		addr_terms = pso_csum_words(0, (__u16 *)&ip6->saddr, (const __u16 *)s->src_addr, 8);
		addr_terms = pso_csum_words(addr_terms, (__u16 *)&ip6->daddr, (const __u16 *)s->dst_addr, 8);
		__builtin_memcpy(&ip6->saddr, s->src_addr, 16);
		__builtin_memcpy(&ip6->daddr, s->dst_addr, 16);
		ip6->hop_limit = PSO_DEFAULT_TTL;
	}

	/* One broker port number on every interface: the ingress port's. */
	udp_terms = pso_csum_word(addr_terms, udp->source, cfg->udp_port);
	udp_terms = pso_csum_word(udp_terms, udp->dest, s->dst_port);
	udp->source = cfg->udp_port;
	udp->dest = s->dst_port;
	/* IPv4 "no checksum" (0) stays 0: never an incrementally updated zero. */
	if (p->family == PSO_AF_INET6 || udp->check)
		udp->check = pso_csum_apply_udp(udp->check, udp_terms);
}

/* A QoS 0 / -1 publish with a normal or predefined topic id. */
static __always_inline int pso_publish(const struct pso_port_cfg *cfg, struct pso_pkt *p)
{
	__u8 qos = p->pub_flags & MQTTSN_FLAG_QOS_MASK;
	__u32 topic_id = p->topic_id;
	struct pso_topic *t;
	struct pso_sub *s;

	/* admit */
	if (qos == MQTTSN_FLAG_QOS_0 && !pso_client_connected(p))
		return pso_miss(PSO_CNT_XDP_DROP_NOT_CONNECTED);
	/* look up: the topic id indexes the table directly */
	t = bpf_map_lookup_elem(&pso_topics, &topic_id);
	if (!t || !(t->flags & PSO_TOPIC_F_VALID))
		return pso_miss(PSO_CNT_XDP_DROP_UNKNOWN_TOPIC);
	if (qos == MQTTSN_FLAG_QOS_M1 && !(t->flags & PSO_TOPIC_F_ALLOW_QOSM1))
		return pso_exit(PSO_CNT_XDP_DROP_QOSM1_DENIED, XDP_DROP);
	pso_count_topic(topic_id, p->msg_len);

	if (p->pub_flags & MQTTSN_FLAG_RETAIN)
		return pso_exit(PSO_CNT_XDP_PASS_RETAIN, XDP_PASS);
	if (t->sub_count == 0)
		return pso_exit(PSO_CNT_XDP_DROP_NO_SUBSCRIBER, XDP_DROP);
	if (t->sub_count > 1)
		return pso_exit(PSO_CNT_XDP_PASS_FANOUT, XDP_PASS);

	/* one subscriber: rewrite and act */
	s = &t->first;
	if (!pso_sub_servable(s, p->family))
		return pso_exit(PSO_CNT_XDP_PASS_HOST, XDP_PASS);
	if (s->ifindex == cfg->ifindex) {
		pso_rewrite(p, s, cfg);
		return pso_exit(PSO_CNT_XDP_TX, XDP_TX);
	}
#ifdef PSO_OFFLOAD
	return pso_exit(PSO_CNT_XDP_PASS_HOST, XDP_PASS);
#else
	/* Redirect first: if the port is not in the devmap the packet goes up
	 * unmodified and the TC path serves it. */
	if (bpf_redirect_map(&pso_devmap, s->ifindex, 0) != XDP_REDIRECT)
		return pso_exit(PSO_CNT_XDP_PASS_HOST, XDP_PASS);
	pso_rewrite(p, s, cfg);
	return pso_exit(PSO_CNT_XDP_REDIRECT, XDP_REDIRECT);
#endif
}

SEC("xdp")
int psoffload_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pso_port_cfg *cfg = pso_ingress_port(ctx);
	struct pso_pkt p = {};

	if (!cfg)	/* not a broker port */
		return pso_exit(PSO_CNT_XDP_PASS_NOT_BROKER, XDP_PASS);
	switch (pso_parse(data, data_end, cfg, &p)) {
	case PSO_V_PUBLISH:
		return pso_publish(cfg, &p);
	case PSO_V_SLOW_QOS:
		return pso_exit(PSO_CNT_XDP_PASS_SLOW_QOS, XDP_PASS);
	case PSO_V_CONTROL:
		return pso_exit(PSO_CNT_XDP_PASS_CONTROL, XDP_PASS);
	case PSO_V_FRAGMENT:
		return pso_exit(PSO_CNT_XDP_PASS_FRAGMENT, XDP_PASS);
	case PSO_V_TRUNCATED:
		return pso_exit(PSO_CNT_XDP_DROP_TRUNCATED, XDP_DROP);
	case PSO_V_BAD_LENGTH:
		return pso_exit(PSO_CNT_XDP_DROP_LENGTH, XDP_DROP);
	case PSO_V_MALFORMED:
		return pso_exit(PSO_CNT_XDP_DROP_MALFORMED, XDP_DROP);
	case PSO_V_NOT_BROKER:
	default:
		return pso_exit(PSO_CNT_XDP_PASS_NOT_BROKER, XDP_PASS);
	}
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
