/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * psoffload_lookup.h - how the programs read the tables, and count into them.
 *
 * The maps are defined in psoffload_maps.h; everything that touches them
 * is here, shared by the XDP program (both builds) and the TC program:
 *
 *   pso_count, pso_count_n   outcome counters (pso_counters)
 *   pso_exit, pso_exit_why   count a packet's outcome, report it when it is
 *                            an event (psoffload_events.h), return its action
 *   pso_port_lookup          the broker's config on the ingress port: the
 *                            direct-mapped slot, then the HASH
 *   pso_client_admit         is the publisher connected and within its
 *                            publish rate: the direct-mapped slot, then the
 *                            HASH; counts its sign of life
 *   pso_rate_take            one publish from a client's token bucket
 *                            (driver build; the NIC spends a budget)
 *   pso_topic_lookup         the topic of an id, if this table serves it
 *   pso_sub_take             is a subscriber slot servable, and its flags
 *   pso_count_topic          per-topic messages and bytes (pso_topic_stats)
 *   pso_merge                where two paths meet: keeps the compiler from
 *                            threading one past the join (a backward jump)
 *
 * Who calls them in which order (the admission rule) is psoffload_admit.h.
 *
 * Where the builds differ (per-CPU or shared counters, slots or none) the
 * difference is chosen here at compile time by PSO_OFFLOAD, so the programs
 * read the same either way.
 */
#ifndef PSOFFLOAD_LOOKUP_H
#define PSOFFLOAD_LOOKUP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "psoffload_abi.h"
#include "psoffload_maps.h"
#include "psoffload_parse.h"

/*
 * Counter adds.  Per-CPU values need no atomics; shared ARRAY values (offload)
 * use an atomic add whose result is unused, which compiles to the non-fetch
 * BPF_ATOMIC|BPF_ADD (XADD) the NFP supports.
 */
#ifdef PSO_OFFLOAD
#define pso_add(ptr, v) __sync_fetch_and_add((ptr), (v))
#else
#define pso_add(ptr, v) (*(ptr) += (v))
#endif

static __always_inline void pso_count(__u32 counter)
{
	__u64 *val = bpf_map_lookup_elem(&pso_counters, &counter);

	if (val)
		pso_add(val, 1);
}

static __always_inline void pso_count_n(__u32 counter, __u64 n)
{
	__u64 *val = bpf_map_lookup_elem(&pso_counters, &counter);

	if (val)
		pso_add(val, n);
}

/* pso_report(), which counts what it suppresses with pso_count(). */
#include "psoffload_events.h"

/*
 * The one way out of a program: count the packet's outcome, report it if
 * it is an event (a drop or a refusal, PSO_EVENT_REASONS; driver build),
 * return its action.  Each program's counters account for every packet it
 * saw, so every exit goes through here.  p is the packet as parsed so far,
 * for the event: NULL where its pointers are stale.  cause: what the event
 * names as the reason when the counter stands for several (see struct
 * pso_event); pso_exit() is the usual case, cause == counter.
 */
static __always_inline int pso_exit_why(const struct pso_pkt *p, __u32 counter, __u32 cause,
					int action)
{
	pso_count(counter);
	pso_report(p, counter, cause);
	return action;
}

static __always_inline int pso_exit(const struct pso_pkt *p, __u32 counter, int action)
{
	return pso_exit_why(p, counter, counter, action);
}

/*
 * Hide what the compiler knows of v where two paths meet, so it cannot
 * jump-thread one path past the join to code laid out before the other:
 * that is a backward jump, which the XDP objects must not have.
 */
#define pso_merge(v) asm volatile("" : "+r"(v))

/*
 * The broker's config on the ingress port, or NULL when it is not a broker
 * port.  Driver build: the port's direct-mapped slot when it holds this
 * port and is valid (its flags byte changes alone, host/tables/porttab.c), else
 * the HASH, which holds every port.
 */
static __always_inline struct pso_port_cfg *pso_port_lookup(__u32 ifindex)
{
#ifdef PSO_OFFLOAD
	__u32 key = 0;	/* the device's own maps describe the device */

	(void)ifindex;	/* one port per device: its config is key 0 */
	return bpf_map_lookup_elem(&pso_port_cfg, &key);
#else
	__u32 slot = pso_port_slot_of(ifindex);
	struct pso_port_cfg *cfg = bpf_map_lookup_elem(&pso_port_slots, &slot);

	if (!cfg || !(cfg->flags & PSO_PORT_F_VALID) || cfg->ifindex != ifindex)
		cfg = bpf_map_lookup_elem(&pso_port_cfg, &ifindex);
	pso_merge(cfg);
	return cfg;
#endif
}

/* What pso_client_admit() found. */
enum pso_client_verdict {
	PSO_CLIENT_UNKNOWN = 0,	/* not a connected client */
	PSO_CLIENT_OK,		/* connected, within its publish rate */
	PSO_CLIENT_OVER_RATE,	/* connected, over its publish rate */
};

#ifndef PSO_OFFLOAD
/*
 * Take one publish from bucket `prog` of a client's rate limit (struct
 * pso_rate, psoffload_abi.h, has the rule): 1 when it is within the rate.
 * slack publishes more than the burst are allowed (the TC program's
 * bucket, behind XDP's, psoffload_ctx.h).  No clock is read for a client
 * without a limit.  Two CPUs taking from one bucket at once may both be
 * admitted on the old timestamp: a client's publishes hash to one receive
 * queue, so this is rare, and it admits one more, never one less.
 */
static __always_inline int pso_rate_take(struct pso_rate *r, __u32 prog, __u32 slack)
{
	__u32 interval = r->interval_ns, burst = r->burst;
	__u64 now, tat;

	if (!interval)
		return 1;
	now = bpf_ktime_get_coarse_ns();
	tat = r->tat[prog & 1];
	if (tat < now)
		tat = now;
	burst = burst ? burst - 1 : 0;
	if (tat - now > (__u64)(burst + slack) * interval)
		return 0;
	r->tat[prog & 1] = tat + interval;
	return 1;
}
#endif

/*
 * Is (addr, port) a connected client, and within its publish rate?  addr:
 * four words in wire order, an IPv4 address in word 0 and zeros after.
 * Counts the publish in the client's rx_msgs, within its rate or not: the
 * daemon's sign of life from a client whose publishes never reach it.
 * Driver build: the direct-mapped slot first (valid when ep.family is set,
 * host/tables/clients.c), the HASH behind it; the rate is bucket `prog` of
 * the entry found (pso_rate_take).  The slot's counter is a plain add: a
 * lost update between CPUs still leaves it changed, which is all the
 * keep-alive check asks.  Offload build: within its rate while rx_msgs,
 * before this publish, is below the budget the host last gave
 * (budget_end); the count is the non-fetch atomic add (XADD) the NFP has,
 * and NIC cores racing past the end admit at most one publish each.
 */
static __always_inline int pso_client_admit(const __u32 *addr, __be16 port, __u8 family,
					    __u32 prog, __u32 slack)
{
	struct pso_endpoint key = {};
	struct pso_client_val *val;
	int found = PSO_CLIENT_UNKNOWN;
#ifndef PSO_OFFLOAD
	__u32 a0 = addr[0], a1 = addr[1], a2 = addr[2], a3 = addr[3];
	__u32 slot = pso_client_slot_of(a0, a1, a2, a3, port);
	struct pso_client_slot *cs = bpf_map_lookup_elem(&pso_client_slots, &slot);

	if (cs && cs->ep.family == family && cs->ep.port == port) {
		const __u32 *w = (const __u32 *)cs->ep.addr;

		if (w[0] == a0 && w[1] == a1 && w[2] == a2 && w[3] == a3) {
			cs->rx_msgs++;
			found = pso_rate_take(&cs->rate, prog, slack) ? PSO_CLIENT_OK
								      : PSO_CLIENT_OVER_RATE;
		}
	}
	pso_merge(found);
#else
	(void)prog;
	(void)slack;
#endif
	if (found == PSO_CLIENT_UNKNOWN) {
		__builtin_memcpy(key.addr, addr, 16);
		key.port = port;
		key.family = family;
		val = bpf_map_lookup_elem(&pso_clients, &key);
		if (val) {
#ifdef PSO_OFFLOAD
			found = val->rx_msgs < val->budget_end ? PSO_CLIENT_OK
							      : PSO_CLIENT_OVER_RATE;
#endif
			/* Shared by all CPUs: non-fetch atomic add (XADD, which
			 * the NFP has). */
			__sync_fetch_and_add(&val->rx_msgs, 1);
#ifndef PSO_OFFLOAD
			found = pso_rate_take(&val->rate, prog, slack) ? PSO_CLIENT_OK
								       : PSO_CLIENT_OVER_RATE;
#endif
		}
	}
	pso_merge(found);
	return found;
}

/*
 * The topic of a publish, or NULL when this table does not serve the id:
 * an id outside the host's ARRAY, a slot the daemon has not filled or has
 * retired, a topic the controller did not place in the NIC.
 */
static __always_inline struct pso_topic *pso_topic_lookup(__u32 topic_id)
{
	struct pso_topic *t = bpf_map_lookup_elem(&pso_topics, &topic_id);

	if (!t || !(t->flags & PSO_TOPIC_F_VALID))
		return NULL;
	return t;
}

/*
 * Whether slot s is servable for a publish of this family (the ABI's rule,
 * pso_sub_servable) and, in *flags, the flags byte that said so: one read
 * answers both.  A slot's content stays put while a program that saw it
 * enabled runs (the host waits a grace period), but its flags byte does
 * not: a disable clears it at once, and a second read could see the old
 * slot without its PSO_SUB_F_PREDEFINED, a copy in a form its subscriber
 * discards.
 */
static __always_inline int pso_sub_take(const struct pso_sub *s, __u8 family, __u8 *flags)
{
	struct pso_sub seen = {
		.flags = *(const volatile __u8 *)&s->flags,
		.family = s->family,
	};

	*flags = seen.flags;
	return pso_sub_servable(&seen, family);
}

#ifndef PSO_OFFLOAD
/* The short name a short-form slot's copy carries, or NULL when the topic
 * has none (then the slot is the daemon's). */
static __always_inline const struct pso_short_name *pso_short_name_lookup(__u32 topic_id)
{
	const struct pso_short_name *n = bpf_map_lookup_elem(&pso_short_names, &topic_id);

	return n && n->valid ? n : NULL;
}
#endif

static __always_inline void pso_count_topic(__u32 topic_id, __u32 msg_len)
{
	struct pso_topic_stats *st = bpf_map_lookup_elem(&pso_topic_stats, &topic_id);

	if (st) {
		pso_add(&st->msgs, 1);
		pso_add(&st->bytes, msg_len);
	}
}

#endif /* PSOFFLOAD_LOOKUP_H */
