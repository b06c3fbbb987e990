/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * psoffload_ctx.h - what differs between the XDP and the TC program, by
 * one name each, as Cilium's overloadable_xdp.h / overloadable_skb.h do.
 *
 * Shared code (psoffload_admit.h) calls these names; each program context
 * has its own implementation, chosen here at compile time by the macro the
 * program defines before its first include:
 *
 *   PSO_CTX_XDP  psoffload_ctx_xdp.h   psoffload_xdp.bpf.c (both builds)
 *   PSO_CTX_SKB  psoffload_ctx_skb.h   psoffload_tc.bpf.c
 *
 * Each implements:
 *
 *   __u32 pso_ctx_ifindex(ctx)          the ingress port, as the port table
 *                                       is keyed in this build
 *   int pso_refused(p, enum pso_refusal)  publish p refused admission:
 *                                       count (and report) it and return
 *                                       the program's action
 *   PSO_CTX_RATE_BUCKET                 the program's token bucket in a
 *                                       client's rate limit (PSO_RATE_*)
 *   PSO_CTX_RATE_SLACK                  publishes it allows beyond the burst
 *
 * Only what really differs is here; everything else is written once.
 */
#ifndef PSOFFLOAD_CTX_H
#define PSOFFLOAD_CTX_H

/* Why pso_admit() refused a publish, in the order it checks. */
enum pso_refusal {
	PSO_R_NOT_CONNECTED,	/* QoS 0 from a client that is not connected */
	PSO_R_UNKNOWN_TOPIC,	/* topic id not served by this table (QoS -1) */
	PSO_R_UNKNOWN_TOPIC_UP,	/* the same from a connected client (QoS 0):
				 * up, for the daemon's PUBACK "invalid topic id" */
	PSO_R_QOSM1_DENIED,	/* QoS -1 to a topic whose policy forbids it */
	PSO_R_TTL_EXPIRED,	/* TTL / hop limit 1 or 0: no hop left */
	PSO_R_OVER_RATE,	/* QoS 0 from a client over its publish rate */
};

#if defined(PSO_CTX_XDP) && !defined(PSO_CTX_SKB)
#include "psoffload_ctx_xdp.h"
#elif defined(PSO_CTX_SKB) && !defined(PSO_CTX_XDP)
#include "psoffload_ctx_skb.h"
#else
#error "define PSO_CTX_XDP or PSO_CTX_SKB (the program's context) before including psoffload_ctx.h"
#endif

#endif /* PSOFFLOAD_CTX_H */
