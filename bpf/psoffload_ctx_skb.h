/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * psoffload_ctx_skb.h - the TC program's side of psoffload_ctx.h.
 * Included through psoffload_ctx.h only.
 */
#ifndef PSOFFLOAD_CTX_SKB_H
#define PSOFFLOAD_CTX_SKB_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include "psoffload_abi.h"
#include "psoffload_lookup.h"
#include "psoffload_parse.h"

/* clsact ingress: the device the packet came in on. */
static __always_inline __u32 pso_ctx_ifindex(const struct __sk_buff *skb)
{
	return skb->ifindex;
}

/*
 * TC's own bucket in a client's rate limit, one publish deeper than XDP's:
 * a publish XDP admitted reaches TC some nanoseconds to microseconds later
 * (a NAPI batch), and a burst XDP admitted exactly at the edge must not
 * become a drop here.  A publish that reaches TC without XDP's judgement
 * is still held to the rate, with a burst of one more.
 */
#define PSO_CTX_RATE_BUCKET PSO_RATE_TC
#define PSO_CTX_RATE_SLACK 1

/* TC has one drop counter, tc_drop, for every packet it refuses, but for
 * the publish rate (tc_drop_rate); the other reasons have counters of
 * their own in XDP only, and an event names the XDP counter of its reason
 * as its cause.  What the daemon must answer goes on up, untouched. */
static __always_inline int pso_refused(const struct pso_pkt *p, enum pso_refusal why)
{
	switch (why) {
	case PSO_R_UNKNOWN_TOPIC_UP:
		return pso_exit(p, PSO_CNT_TC_PASS, TC_ACT_OK);
	case PSO_R_OVER_RATE:
		return pso_exit(p, PSO_CNT_TC_DROP_RATE, TC_ACT_SHOT);
	case PSO_R_NOT_CONNECTED:
		return pso_exit_why(p, PSO_CNT_TC_DROP, PSO_CNT_XDP_DROP_NOT_CONNECTED, TC_ACT_SHOT);
	case PSO_R_UNKNOWN_TOPIC:
		return pso_exit_why(p, PSO_CNT_TC_DROP, PSO_CNT_XDP_DROP_UNKNOWN_TOPIC, TC_ACT_SHOT);
	case PSO_R_TTL_EXPIRED:
		return pso_exit_why(p, PSO_CNT_TC_DROP, PSO_CNT_XDP_DROP_TTL, TC_ACT_SHOT);
	case PSO_R_QOSM1_DENIED:
	default:
		return pso_exit_why(p, PSO_CNT_TC_DROP, PSO_CNT_XDP_DROP_QOSM1_DENIED, TC_ACT_SHOT);
	}
}

#endif /* PSOFFLOAD_CTX_SKB_H */
