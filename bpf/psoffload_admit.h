/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * psoffload_admit.h - the admission rule, written once for both programs.
 *
 * The data plane forwards a parsed QoS 0 / -1 PUBLISH with a normal or
 * predefined topic id (PSO_V_PUBLISH) only when, checked in this order:
 *
 *   1. QoS 0: its publisher is a connected client (pso_client_admit, which
 *      also counts the publish as the client's sign of life), and
 *      within its publish rate (--max-publish-rate): a token bucket in
 *      the driver build, one per program (the TC program's holds one
 *      publish more than XDP's: it sees what XDP admitted a little later,
 *      and must not turn that jitter into drops), and in the offload
 *      build a budget the host refills (struct pso_client_val);
 *   2. its topic id is served by this topic table (pso_topic_lookup); a
 *      QoS 0 publish to an unknown id, from a connected client, goes up
 *      to the daemon, which answers PUBACK "invalid topic id";
 *   3. QoS -1: the topic's policy admits QoS -1 (PSO_TOPIC_F_ALLOW_QOSM1);
 *   4. its TTL / hop limit is at least 2: every copy leaves with one less
 *      (pso_fwd_ttl), and none leaves with 0, so a datagram caught in a
 *      loop between brokers (each subscribed, by a spoofer say, as the
 *      other's subscriber) dies within its TTL's hops.
 *
 * The XDP program calls pso_admit() for both of its lanes and in both
 * builds, the TC program for every publish it fans out: TC is also reached
 * without XDP's judgement, and the tables may change between the two.
 * What a refusal becomes, its counter and its action, is each program's
 * own: pso_refused(), chosen by the program's context (psoffload_ctx.h).
 */
#ifndef PSOFFLOAD_ADMIT_H
#define PSOFFLOAD_ADMIT_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include "psoffload_abi.h"
#include "psoffload_lookup.h"
#include "psoffload_parse.h"
#include "psoffload_ctx.h"

/* The publisher, read from the packet: IPv4 source in word 0 and zeros
 * after, or the IPv6 source; and its UDP port.  enum pso_client_verdict. */
static __always_inline int pso_publisher_admit(const struct pso_pkt *p)
{
	__u32 addr[4] = {};

	if (p->family == PSO_AF_INET) {
		addr[0] = ((struct iphdr *)p->l3)->saddr;
	} else {
		const __u32 *src = (const __u32 *)&((struct ipv6hdr *)p->l3)->saddr;

		addr[0] = src[0];
		addr[1] = src[1];
		addr[2] = src[2];
		addr[3] = src[3];
	}
	return pso_client_admit(addr, p->udp->source, p->family, PSO_CTX_RATE_BUCKET,
				PSO_CTX_RATE_SLACK);
}

/* The TTL / hop limit the publish arrived with. */
static __always_inline __u8 pso_pkt_ttl(const struct pso_pkt *p)
{
	if (p->family == PSO_AF_INET)
		return ((struct iphdr *)p->l3)->ttl;
	return ((struct ipv6hdr *)p->l3)->hop_limit;
}

/*
 * Admit the publish p: its topic, or NULL with *action set to the end of
 * the packet (pso_refused(), already counted).  Counts nothing else: the
 * topic's stats are the XDP program's, which sees the publish first.
 */
static __always_inline struct pso_topic *pso_admit(const struct pso_pkt *p, int *action)
{
	__u8 qos = p->pub_flags & MQTTSN_FLAG_QOS_MASK;
	struct pso_topic *t;

	if (qos == MQTTSN_FLAG_QOS_0) {
		int client = pso_publisher_admit(p);

		if (client != PSO_CLIENT_OK) {
			*action = pso_refused(p, client == PSO_CLIENT_UNKNOWN ? PSO_R_NOT_CONNECTED
									      : PSO_R_OVER_RATE);
			return NULL;
		}
	}
	t = pso_topic_lookup(p->topic_id);
	if (!t) {
		/* A connected client told of the topic id it lost (after a
		 * broker restart, say) registers again (MQTT-SN 6.5): the
		 * daemon answers, so its publish goes up. */
		*action = pso_refused(p, qos == MQTTSN_FLAG_QOS_0 ? PSO_R_UNKNOWN_TOPIC_UP
								 : PSO_R_UNKNOWN_TOPIC);
		return NULL;
	}
	if (qos == MQTTSN_FLAG_QOS_M1 && !(t->flags & PSO_TOPIC_F_ALLOW_QOSM1)) {
		*action = pso_refused(p, PSO_R_QOSM1_DENIED);
		return NULL;
	}
	if (pso_pkt_ttl(p) <= 1) {
		*action = pso_refused(p, PSO_R_TTL_EXPIRED);
		return NULL;
	}
	return t;
}

#endif /* PSOFFLOAD_ADMIT_H */
