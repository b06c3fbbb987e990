/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * psoffload_maps.h - the data-plane tables (BPF side): definitions only.
 *
 * Keys and values are the structs of psoffload_abi.h.  The offload build
 * (PSO_OFFLOAD) keeps to what the NFP accepts: ARRAY and HASH maps, no map
 * flags, one port config per device (key 0), shared counters (ARRAY).
 * The driver build may use per-CPU counters and a devmap.
 *
 * How the programs read and count into these tables (the slots in front
 * of the HASH maps, the per-build counter adds) is psoffload_lookup.h.
 */
#ifndef PSOFFLOAD_MAPS_H
#define PSOFFLOAD_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "psoffload_abi.h"

/*
 * Data-plane events (psoffload_events.h): the driver build has them; the
 * offload build, which the NFP could not run them in, reports the same
 * reasons through its counters only.  -DPSO_NO_EVENTS makes a driver build
 * without them, for the benchmark's side-by-side figure.
 */
#if !defined(PSO_OFFLOAD) && !defined(PSO_NO_EVENTS)
#define PSO_EVENTS 1
#endif

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
	__uint(max_entries, PSO_MAP_TOPICS);
	__type(key, __u32);
	__type(value, struct pso_topic);
} pso_topics SEC(".maps");

#ifndef PSO_OFFLOAD
/*
 * The subscriber pool and each topic's run of it, read by the TC fan-out
 * only; the NIC serves one subscriber per topic, from pso_topic.first, so
 * the offload build has neither.  Both ARRAYs (the kernel has no
 * BPF_F_NO_PREALLOC for them: an ARRAY's memory is its max_entries): the
 * fan-out indexes them on every slot, an inlined lookup, where a HASH
 * would cost a call and a hash per subscriber.  Sized at load
 * (pso_dp_sizes.subscriptions, .topics).
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PSO_POOL_SLOTS);
	__type(key, __u32);
	__type(value, struct pso_sub);
} pso_subs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PSO_MAP_TOPICS);
	__type(key, __u32);
	__type(value, struct pso_run);
} pso_topic_runs SEC(".maps");

/*
 * The TC fan-out's counts of one publish (key 0, this CPU's: a program run
 * does not migrate).  In a map value rather than on the stack: the
 * verifier knows nothing of a map value's contents, so the walk's bpf_loop
 * callback reaches the same state on every slot and is verified once; a
 * count on the stack would be a new constant each slot, and the callback
 * unrolled up to the loop's bound.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pso_fanout_tally);
} pso_fanout_tally SEC(".maps");

/* Topic id -> its short name, read only for a copy to a short-form slot
 * (PSO_SUB_F_SHORT).  The NIC has none: such a slot goes to the host. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PSO_MAP_TOPICS);
	__type(key, __u32);
	__type(value, struct pso_short_name);
} pso_short_names SEC(".maps");
#endif

/* The driver build allocates an entry as a client connects, so memory
 * follows the clients connected, not --max-clients (the programs only look
 * entries up, which a non-preallocated HASH allows in XDP and TC).  The
 * NFP takes no map flags: the offload build preallocates. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PSO_MAP_CLIENTS);
#ifndef PSO_OFFLOAD
	__uint(map_flags, BPF_F_NO_PREALLOC);
#endif
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
	__uint(max_entries, PSO_MAP_TOPICS);
	__type(key, __u32);
	__type(value, struct pso_topic_stats);
} pso_topic_stats SEC(".maps");

#ifdef PSO_EVENTS
/* Sampled events for the daemon, its only reader. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, PSO_EVENT_RING_BYTES);
} pso_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pso_event_cfg);
} pso_event_cfg SEC(".maps");

/* Per CPU: no atomics, and one CPU's flood spends only its own bucket. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pso_event_bucket);
} pso_event_buckets SEC(".maps");
#endif

#endif /* PSOFFLOAD_MAPS_H */
