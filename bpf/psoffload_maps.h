/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * psoffload_maps.h - the data-plane tables (BPF side).
 *
 * Keys and values are the structs of psoffload_abi.h.  The offload build
 * (PSO_OFFLOAD) keeps to what the NFP accepts: ARRAY and HASH maps, no map
 * flags, one port config per device (key 0), shared counters with atomic add.
 * The driver build may use per-CPU counters and a devmap.
 */
#ifndef PSOFFLOAD_MAPS_H
#define PSOFFLOAD_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "psoffload_abi.h"

#ifdef PSO_OFFLOAD
/* Per-topic counters of the topics placed in the NIC. */
#define PSO_TOPIC_STATS_MAP_TYPE BPF_MAP_TYPE_HASH
/* A device-bound program serves exactly one port: its config sits at key 0. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pso_port_cfg);
} pso_port_cfg SEC(".maps");
#define PSO_COUNTER_MAP_TYPE BPF_MAP_TYPE_ARRAY
#else
/* Keyed by ifindex: one program instance serves every port of the broker. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PSO_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct pso_port_cfg);
} pso_port_cfg SEC(".maps");
#define PSO_COUNTER_MAP_TYPE BPF_MAP_TYPE_PERCPU_ARRAY
#define PSO_TOPIC_STATS_MAP_TYPE BPF_MAP_TYPE_PERCPU_ARRAY

/* pso_port_cfg direct-mapped by ifindex: an inlined array lookup where the
 * HASH costs a call and a hash of the key. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PSO_PORT_SLOTS);
	__type(key, __u32);
	__type(value, struct pso_port_cfg);
} pso_port_slots SEC(".maps");

/* Connected clients direct-mapped (pso_client_slot_of), in front of the
 * pso_clients HASH, for the same reason. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PSO_CLIENT_SLOTS);
	__type(key, __u32);
	__type(value, struct pso_client_slot);
} pso_client_slots SEC(".maps");

/* Egress ports for the one-subscriber-behind-another-port case. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, PSO_MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} pso_devmap SEC(".maps");
#endif

/*
 * Topic id -> topic.  The host's table is an ARRAY indexed by the id.  A
 * NIC's table is far smaller than the id space: a HASH holding just the
 * topics the controller placed there (the busiest); the rest miss and pass
 * to the host.
 */
#ifdef PSO_OFFLOAD
#define PSO_TOPIC_MAP_TYPE BPF_MAP_TYPE_HASH
#else
#define PSO_TOPIC_MAP_TYPE BPF_MAP_TYPE_ARRAY
#endif

struct {
	__uint(type, PSO_TOPIC_MAP_TYPE);
	__uint(max_entries, PSO_MAX_TOPICS);
	__type(key, __u32);
	__type(value, struct pso_topic);
} pso_topics SEC(".maps");

#ifndef PSO_OFFLOAD
/* Read by the TC fan-out only; the NIC serves one subscriber per topic, from
 * pso_topic.first, so the offload build has no slot table. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PSO_MAX_TOPICS * PSO_MAX_SUBS);
	__type(key, __u32);
	__type(value, struct pso_sub);
} pso_subs SEC(".maps");
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PSO_MAX_CLIENTS);
	__type(key, struct pso_endpoint);
	__type(value, struct pso_client_val);
} pso_clients SEC(".maps");

struct {
	__uint(type, PSO_COUNTER_MAP_TYPE);
	__uint(max_entries, PSO_CNT__MAX);
	__type(key, __u32);
	__type(value, __u64);
} pso_counters SEC(".maps");

struct {
	__uint(type, PSO_TOPIC_STATS_MAP_TYPE);
	__uint(max_entries, PSO_MAX_TOPICS);
	__type(key, __u32);
	__type(value, struct pso_topic_stats);
} pso_topic_stats SEC(".maps");

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

/*
 * Hide what the compiler knows of v where two paths meet, so it cannot
 * jump-thread one path past the join to code laid out before the other:
 * that is a backward jump, which the XDP objects must not have.
 */
#define pso_merge(v) asm volatile("" : "+r"(v))

/*
 * The broker's config on the ingress port, or NULL when it is not a broker
 * port.  Driver build: the port's direct-mapped slot when it holds this
 * port and is valid (its flags byte changes alone, host/porttab.c), else
 * the HASH, which holds every port.
 */
static __always_inline struct pso_port_cfg *pso_port_lookup(__u32 ifindex)
{
#ifdef PSO_OFFLOAD
	__u32 key = 0;	/* the device's own maps describe the device */

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

/*
 * Is (addr, port) a connected client?  addr: four words in wire order, an
 * IPv4 address in word 0 and zeros after.  Counts the publish in the
 * client's rx_msgs, the daemon's sign of life from a client whose publishes
 * never reach it.  Driver build: the direct-mapped slot first (valid when
 * ep.family is set, host/tables.c), the HASH behind it.  The slot's counter
 * is a plain add: a lost update between CPUs still leaves it changed, which
 * is all the keep-alive check asks.
 */
static __always_inline int pso_client_admit(const __u32 *addr, __be16 port, __u8 family)
{
	struct pso_endpoint key = {};
	struct pso_client_val *val;
	int found = 0;
#ifndef PSO_OFFLOAD
	__u32 a0 = addr[0], a1 = addr[1], a2 = addr[2], a3 = addr[3];
	__u32 slot = pso_client_slot_of(a0, a1, a2, a3, port);
	struct pso_client_slot *cs = bpf_map_lookup_elem(&pso_client_slots, &slot);

	if (cs && cs->ep.family == family && cs->ep.port == port) {
		const __u32 *w = (const __u32 *)cs->ep.addr;

		if (w[0] == a0 && w[1] == a1 && w[2] == a2 && w[3] == a3) {
			cs->rx_msgs++;
			found = 1;
		}
	}
	pso_merge(found);
#endif
	if (!found) {
		__builtin_memcpy(key.addr, addr, 16);
		key.port = port;
		key.family = family;
		val = bpf_map_lookup_elem(&pso_clients, &key);
		if (val) {
			/* Shared by all CPUs: non-fetch atomic add (XADD, which
			 * the NFP has). */
			__sync_fetch_and_add(&val->rx_msgs, 1);
			found = 1;
		}
	}
	pso_merge(found);
	return found;
}

static __always_inline void pso_count_topic(__u32 topic_id, __u32 msg_len)
{
	struct pso_topic_stats *st = bpf_map_lookup_elem(&pso_topic_stats, &topic_id);

	if (st) {
		pso_add(&st->msgs, 1);
		pso_add(&st->bytes, msg_len);
	}
}

#endif /* PSOFFLOAD_MAPS_H */
