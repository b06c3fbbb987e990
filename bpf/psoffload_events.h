/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * psoffload_events.h - the sampled event stream (driver build): what was
 * dropped or refused, from whom, to which topic, how long.
 *
 * Reported from the places that count, nowhere else: pso_exit() (every
 * exit of a program, psoffload_lookup.h) and the TC program's count of the
 * copies it did not make.  Only the outcomes in PSO_EVENT_REASONS
 * (psoffload_abi.h) report, and the reason is a constant at every call
 * site but those that a switch turned into a table, so the test folds away
 * on the forwarding paths: they emit nothing and carry no code for it.
 *
 * A flood of bad packets must not turn the ring buffer into a CPU sink:
 * each CPU has a token bucket (struct pso_event_bucket) refilled from
 * bpf_ktime_get_coarse_ns() at the rate in pso_event_cfg.  An event it has no
 * token for costs two array lookups and a clock read; it is counted
 * (event_suppressed) and the number is told in the CPU's next event.  A
 * full ring buffer loses the event, counted as event_lost.
 *
 * The offload build (and a driver build made with -DPSO_NO_EVENTS) has no
 * event maps: pso_report() and pso_report_copies() are empty there, and the
 * same reasons are seen through the counters only.
 *
 * Included through psoffload_lookup.h only (it uses pso_count()).
 */
#ifndef PSOFFLOAD_EVENTS_H
#define PSOFFLOAD_EVENTS_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "psoffload_abi.h"
#include "psoffload_maps.h"
#include "psoffload_parse.h"

#define PSO_NSEC_PER_EVENT 1000000000ull	/* bucket credit of one event */

#ifdef PSO_EVENTS

/*
 * Take a token from this CPU's bucket: 1 if the event may go, 0 if it is
 * suppressed (counted here).  now: CLOCK_MONOTONIC_COARSE.  Refill first: rate units of credit per
 * nanosecond since the last refill, at most a full bucket; a refill
 * longer than PSO_EVENT_REFILL_MAX_NS fills any bucket (the host keeps
 * burst <= 64 * rate), and the cap keeps elapsed * rate far from overflow.
 */
static __always_inline int pso_event_token(struct pso_event_bucket *b,
					   const struct pso_event_cfg *cfg, __u64 now)
{
	__u64 full = (__u64)cfg->burst * PSO_NSEC_PER_EVENT;
	__u64 elapsed = now > b->stamp_ns ? now - b->stamp_ns : 0;	/* a stamp ahead: written by the host */
	__u64 credit;

	if (elapsed > PSO_EVENT_REFILL_MAX_NS)
		elapsed = PSO_EVENT_REFILL_MAX_NS;
	credit = b->credit + elapsed * cfg->rate;
	if (credit > full)
		credit = full;
	b->stamp_ns = now;
	if (credit < PSO_NSEC_PER_EVENT) {
		b->credit = credit;
		b->suppressed++;
		pso_count(PSO_CNT_EVENT_SUPPRESSED);
		return 0;
	}
	b->credit = credit - PSO_NSEC_PER_EVENT;
	return 1;
}

/*
 * May an event go now?  This CPU's bucket, with a token taken (1), or NULL
 * when events are off or the bucket is empty (the event suppressed,
 * counted).  Asked before an event is built, so that in a flood a
 * suppressed one costs two array lookups, a clock load and the arithmetic.
 */
static __always_inline struct pso_event_bucket *pso_event_allowed(void)
{
	__u32 key = 0;
	struct pso_event_cfg *cfg = bpf_map_lookup_elem(&pso_event_cfg, &key);
	struct pso_event_bucket *b = bpf_map_lookup_elem(&pso_event_buckets, &key);

	if (!cfg || !b || !cfg->rate)	/* events off */
		return NULL;
	/* The tick-grained clock is a load where the precise one reads the
	 * clock source (tens of ns in a VM): in a flood, that is most of the
	 * cost of an event suppressed.  A tick is far finer than the bucket
	 * needs at rates up to a few thousand per second. */
	return pso_event_token(b, cfg, bpf_ktime_get_coarse_ns()) ? b : NULL;
}

/*
 * What an event says but its address, in two words: a subprogram takes
 * five arguments, and an event built on the caller's stack would cost the
 * TC program stack it does not have (its frame, this and
 * pso_tc_count_copies() stay within 512 bytes as kernels before 6.10
 * count them, each frame rounded up to 32).
 */
#define PSO_EV_WHAT(reason, cause, count, flags, family)			\
	((__u64)(__u16)(reason) | (__u64)(__u16)(cause) << 16 |		\
	 (__u64)(__u16)(count) << 32 | (__u64)(__u8)(flags) << 48 |		\
	 (__u64)(__u8)(family) << 56)
#define PSO_EV_WHERE(port, topic_id, len)					\
	((__u64)(__u16)(port) | (__u64)(__u16)(topic_id) << 16 | (__u64)(__u16)(len) << 32)

/*
 * Send an event if this CPU's bucket allows: what and where as packed
 * above, addr the sender's address (4 or 16 bytes by family; in the packet
 * or on the stack) when the flags have PSO_EVENT_F_SOURCE.  The address is
 * copied with bpf_probe_read_kernel(), which needs no proof of bounds: the
 * callers checked them, and a packet pointer's IPv6 range is one the
 * verifier may not follow here.  A subprogram: one copy of its code for
 * every exit that reports, and its callers need no branch on what it did.
 */
static __noinline int pso_event_send(__u64 what, __u64 where, const void *addr)
{
	struct pso_event_bucket *b = pso_event_allowed();
	struct pso_event *out;
	__u8 flags = what >> 48, family = what >> 56;

	if (!b)
		return 0;
	out = bpf_ringbuf_reserve(&pso_events, sizeof(*out), 0);
	if (!out) {
		pso_count(PSO_CNT_EVENT_LOST);
		return 0;
	}
	__builtin_memset(out, 0, sizeof(*out));
	out->reason = (__u16)what;
	out->cause = (__u16)(what >> 16);
	out->count = (__u16)(what >> 32);
	out->flags = flags;
	out->family = family;
	out->src_port = (__be16)where;
	out->topic_id = (__u16)(where >> 16);
	out->len = (__u16)(where >> 32);
	if ((flags & PSO_EVENT_F_SOURCE) && addr) {
		if (family == PSO_AF_INET6)
			bpf_probe_read_kernel(out->src_addr, 16, addr);
		else
			bpf_probe_read_kernel(out->src_addr, 4, addr);
	}
	out->ts_ns = bpf_ktime_get_ns();
	out->suppressed = b->suppressed;
	b->suppressed = 0;
	bpf_ringbuf_submit(out, 0);
	return 0;
}

/*
 * Report packet p's outcome `reason` (an enum pso_counter) with its cause
 * (see struct pso_event).  p: the parse so far; NULL when its packet
 * pointers are no longer valid (after a helper that changes the packet),
 * or its udp NULL when the parse stopped before the broker's UDP header:
 * the event then has no source.  Until the UDP header shows the broker,
 * nothing reports (the judging rule of psoffload_parse.h), so a known UDP
 * header means a known IP header of p's family.
 */
static __always_inline void pso_report(const struct pso_pkt *p, __u32 reason, __u32 cause)
{
	__u64 what = PSO_EV_WHAT(reason, cause, 1, 0, 0), where = 0;
	const void *addr = NULL;

	if (!(PSO_EVENT_REASONS & PSO_EVENT_BIT(reason)))
		return;
	if (p && p->udp) {
		__u16 udp_len = bpf_ntohs(p->udp->len);
		__u8 flags = PSO_EVENT_F_SOURCE | (p->pub ? PSO_EVENT_F_TOPIC : 0);

		what = PSO_EV_WHAT(reason, cause, 1, flags, p->family);
		where = PSO_EV_WHERE(p->udp->source, p->pub ? p->topic_id : 0,
				     udp_len > sizeof(struct udphdr) ? udp_len - sizeof(struct udphdr) : 0);
		/* An address, not a load: pso_event_send() copies it. */
		addr = p->family == PSO_AF_INET ? (const void *)&((struct iphdr *)p->l3)->saddr
						: (const void *)&((struct ipv6hdr *)p->l3)->saddr;
	}
	pso_event_send(what, where, addr);
}

/*
 * Report n copies of a publish not made (tc_copy_shed, tc_copy_failed): one
 * event for all n.  The packet has been rewritten by then, so the source
 * comes from the caller's copy of the original headers: addr (16 bytes,
 * IPv4 in the first 4) and port of the publisher, its topic and length.
 */
static __always_inline void pso_report_copies(__u32 reason, __u32 n, __u8 family,
					      const __u8 *addr, __be16 port, __u16 topic_id,
					      __u16 len)
{
	if (!(PSO_EVENT_REASONS & PSO_EVENT_BIT(reason)) || !n)
		return;
	pso_event_send(PSO_EV_WHAT(reason, reason, n > 0xffff ? 0xffff : n,
				   PSO_EVENT_F_SOURCE | PSO_EVENT_F_TOPIC, family),
		       PSO_EV_WHERE(port, topic_id, len), addr);
}

#else /* no events: the counters say it all */

static __always_inline void pso_report(const struct pso_pkt *p, __u32 reason, __u32 cause)
{
	(void)p;
	(void)reason;
	(void)cause;
}

static __always_inline void pso_report_copies(__u32 reason, __u32 n, __u8 family,
					      const __u8 *addr, __be16 port, __u16 topic_id,
					      __u16 len)
{
	(void)reason;
	(void)n;
	(void)family;
	(void)addr;
	(void)port;
	(void)topic_id;
	(void)len;
}

#endif /* PSO_EVENTS */

#endif /* PSOFFLOAD_EVENTS_H */
