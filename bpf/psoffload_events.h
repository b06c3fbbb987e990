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

/* A ring buffer slot, or NULL when it is full (the event lost, counted). */
static __always_inline struct pso_event *pso_event_reserve(void)
{
	struct pso_event *out = bpf_ringbuf_reserve(&pso_events, sizeof(*out), 0);

	if (!out)
		pso_count(PSO_CNT_EVENT_LOST);
	return out;
}

/* Time it, tell the events suppressed before it, send it. */
static __always_inline void pso_event_submit(struct pso_event *out, struct pso_event_bucket *b)
{
	out->ts_ns = bpf_ktime_get_ns();
	out->suppressed = b->suppressed;
	b->suppressed = 0;
	bpf_ringbuf_submit(out, 0);
}

/*
 * Send the event ev describes (all but its time and suppressed count) if
 * this CPU's bucket allows.  A subprogram: one copy of its code for every
 * exit that reports, and its callers need no branch on what it did.  It
 * takes the event built, never the parse: a pointer to the parse handed to
 * a call would keep the compiler from knowing the fast lane's address
 * family after it, and the verifier from following which header is there.
 */
static __noinline int pso_event_send(const struct pso_event *ev)
{
	struct pso_event_bucket *b = pso_event_allowed();
	struct pso_event *out;

	if (!b)
		return 0;
	out = pso_event_reserve();
	if (!out)
		return 0;
	__builtin_memcpy(out, ev, sizeof(*out));
	pso_event_submit(out, b);
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
	struct pso_event ev = {
		.reason = (__u16)reason,
		.cause = (__u16)cause,
		.count = 1,
	};

	if (!(PSO_EVENT_REASONS & PSO_EVENT_BIT(reason)))
		return;
	if (p && p->udp) {
		__u16 udp_len = bpf_ntohs(p->udp->len);

		ev.flags = PSO_EVENT_F_SOURCE;
		ev.family = p->family;
		ev.src_port = p->udp->source;
		ev.len = udp_len > sizeof(struct udphdr) ? udp_len - sizeof(struct udphdr) : 0;
		/* IPv6: a copy the verifier need not prove in bounds.  Which
		 * header p->l3 holds is p->family, a byte it may not follow to
		 * here (a caller's IPv4 header is proven for 20 bytes only);
		 * the parse checked the whole IPv6 header. */
		if (p->family == PSO_AF_INET)
			__builtin_memcpy(ev.src_addr, &((struct iphdr *)p->l3)->saddr, 4);
		else
			bpf_probe_read_kernel(ev.src_addr, 16, &((struct ipv6hdr *)p->l3)->saddr);
		if (p->pub) {
			ev.flags |= PSO_EVENT_F_TOPIC;
			ev.topic_id = p->topic_id;
		}
	}
	pso_event_send(&ev);
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
	struct pso_event ev = {
		.reason = (__u16)reason,
		.cause = (__u16)reason,
		.count = n > 0xffff ? 0xffff : (__u16)n,
		.flags = PSO_EVENT_F_SOURCE | PSO_EVENT_F_TOPIC,
		.family = family,
		.src_port = port,
		.topic_id = topic_id,
		.len = len,
	};

	if (!(PSO_EVENT_REASONS & PSO_EVENT_BIT(reason)) || !n)
		return;
	__builtin_memcpy(ev.src_addr, addr, 16);
	pso_event_send(&ev);
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
