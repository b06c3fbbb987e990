/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * psoffload_ctx_xdp.h - the XDP program's side of psoffload_ctx.h (both
 * builds).  Included through psoffload_ctx.h only.
 */
#ifndef PSOFFLOAD_CTX_XDP_H
#define PSOFFLOAD_CTX_XDP_H

#include <linux/bpf.h>
#include "psoffload_abi.h"
#include "psoffload_lookup.h"
#include "psoffload_parse.h"

static __always_inline __u32 pso_ctx_ifindex(const struct xdp_md *ctx)
{
#ifdef PSO_OFFLOAD
	/* The NIC's program may read only data and data_end from its
	 * context; its own maps describe its one port (pso_port_lookup). */
	(void)ctx;
	return 0;
#else
	return ctx->ingress_ifindex;
#endif
}

/* XDP judges a publish first: its bucket holds exactly the burst. */
#define PSO_CTX_RATE_BUCKET PSO_RATE_XDP
#define PSO_CTX_RATE_SLACK 0

/*
 * A table miss.  The driver build's tables are complete, so a miss is a
 * drop; the NIC's are a subset of the host's, so the offload build passes
 * the packet to the host, whose XDP program decides.
 */
#ifdef PSO_OFFLOAD
#define pso_miss(p, counter) pso_exit((p), PSO_CNT_XDP_PASS_HOST, XDP_PASS)
#else
#define pso_miss(p, counter) pso_exit((p), (counter), XDP_DROP)
#endif

/* XDP counts each refusal by its reason.  The client and topic tables can
 * miss; a topic's QoS -1 policy and a packet's TTL are the same in every
 * table. */
static __always_inline int pso_refused(const struct pso_pkt *p, enum pso_refusal why)
{
	switch (why) {
	case PSO_R_NOT_CONNECTED:
		return pso_miss(p, PSO_CNT_XDP_DROP_NOT_CONNECTED);
	case PSO_R_UNKNOWN_TOPIC:
		return pso_miss(p, PSO_CNT_XDP_DROP_UNKNOWN_TOPIC);
	case PSO_R_UNKNOWN_TOPIC_UP:
#ifdef PSO_OFFLOAD
		return pso_exit(p, PSO_CNT_XDP_PASS_HOST, XDP_PASS);
#else
		return pso_exit(p, PSO_CNT_XDP_PASS_UNKNOWN_TOPIC, XDP_PASS);
#endif
	case PSO_R_TTL_EXPIRED:
		return pso_exit(p, PSO_CNT_XDP_DROP_TTL, XDP_DROP);
	case PSO_R_OVER_RATE:
		/* The NIC's budget is its own: what it refuses is not the
		 * host's to judge again. */
		return pso_exit(p, PSO_CNT_XDP_DROP_RATE, XDP_DROP);
	case PSO_R_QOSM1_DENIED:
	default:
		return pso_exit(p, PSO_CNT_XDP_DROP_QOSM1_DENIED, XDP_DROP);
	}
}

#endif /* PSOFFLOAD_CTX_XDP_H */
