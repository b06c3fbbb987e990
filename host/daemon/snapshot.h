/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * snapshot.h - one moment of the broker's state and counters, taken by the
 * event loop, and its one serialisation as JSON.
 *
 * Everything that reports counters reads them from a snapshot: the control
 * socket's `status` and `stats` replies (ctlreq.c), the status file
 * (statusfile.c) and the Prometheus exposition (metrics.c), so a counter is
 * read and named in one place.  The metrics thread never touches the
 * broker: it asks the event loop for a fresh snapshot (metrics.h).
 *
 * The status document's schema (the keys are PSO_ST_* in statusfile.h):
 *
 *   { "broker": { "name", "pid", "udp_port", "pin_dir", "requested_mode",
 *                 "control_socket", "metrics" },
 *     "interfaces": [ { "name", "ifindex", "driver", "profile", "xdp_features",
 *                       "state" (up|down|gone|failed), "requested_mode" (--mode or
 *                       its [interface NAME] mode), "mode", "host_mode",
 *                       "reason", "programs": { "xdp", "xdp_hw", "tc" }, "mtu",
 *                       "links": { "xdp" (pinned link|link|netlink|none),
 *                                  "tc" (tcx link|cls_bpf filter|none),
 *                                  "adopted" (its programs replaced in place) },
 *                       hw mode: "nic_topics_capacity", "nic_topics": [ids] } ],
 *     "tables": { "topics"|"subscribers"|"clients": { "used", "capacity" },
 *                 "subscribers_per_topic", "pending_grace" },
 *     "restart": { "restarts", "adoptions" (of this data plane, from pso_meta),
 *                  "adopted": how this daemon came (fresh|handover|crash),
 *                  "adopted_build", "build", "created_ms", "handover_ms",
 *                  "adopt_read_ms", "placeholders": { "endpoints", "slots",
 *                  "clients", "claimed", "expired", "next_expiry_s",
 *                  "pings_answered" }, "reserved_topic_ids" },
 *     "daemon": { every counter of pso_snap_daemon_counters[] by its name,
 *                 "sessions", "sessions_by_state": { state: n },
 *                 "retained_messages", "retained_bytes", "buffered",
 *                 "rx_by_type": { "CONNECT": n, ... (types seen) },
 *                 "nic_write_errors", "nic_table_full",
 *                 "validation": { "validated", "unvalidated" (connected
 *                 sessions whose address is proven or not), "held_bytes" } },
 *     "store": { "spec", "persistent", "revision", "commits", "puts", "deletes",
 *                "errors", "pending", "last_write_ms" (CLOCK_REALTIME, 0: none
 *                yet), "last_write_age_ms", "last_error", "reachable"
 *                (false: the last request reached no etcd member),
 *                "loaded": { "sessions", "topics", "retained" } } }
 *
 * `stats` adds { "counters": { data-plane counter: n (PSO_COUNTER_NAMES) },
 * "topics": [ topics with traffic: { "topic_id", "name", "msgs", "bytes" } ] }
 * and the same "daemon" object.
 */
#ifndef PSO_SNAPSHOT_H
#define PSO_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include "proto/proto.h"
#include "store/store.h"
#include "ha/ha.h"
#include "tables/tables.h"

struct json_object;
struct pso_broker;

/* What to read besides the cheap parts (the protocol layer, the tables'
 * occupancy, the interfaces): */
#define PSO_SNAP_DATAPLANE 0x1	/* the data plane's outcome counters */
#define PSO_SNAP_TOPICS    0x2	/* every topic, with its data-plane counters */

struct pso_snap_iface {
	char name[IF_NAMESIZE];
	int ifindex;
	char driver[32];
	char profile[32];
	char features[128];
	const char *state;		/* up, down, gone, failed */
	const char *requested;		/* the mode asked for it */
	const char *mode, *host_mode;	/* "none" when not attached */
	char reason[512];
	unsigned int xdp_id, hw_id, tc_id, mtu;
	const char *xdp_link, *tc_link;	/* how each is attached */
	bool adopted;
	bool hw;
	uint32_t nic_topics_cap, n_nic_topics;
	uint16_t *nic_topics;
};

struct pso_snap_topic {
	uint16_t id;
	char *name;
	bool predefined, qosm1;
	uint32_t subscribers;
	uint32_t retained_bytes;
	bool retained;
	uint64_t msgs, bytes;		/* the data plane's (PSO_SNAP_TOPICS) */
};

struct pso_snapshot {
	unsigned int what;		/* PSO_SNAP_* read */
	uint64_t taken_ms;		/* CLOCK_REALTIME */
	uint64_t started_ms;		/* the broker's start, CLOCK_REALTIME */
	/* the broker */
	char name[64];
	int pid;
	uint16_t udp_port;
	char pin_dir[256];
	const char *requested_mode;
	char control_socket[256];
	char metrics[128];		/* "" when not serving */
	/* counters */
	__u64 dp[PSO_CNT__MAX];		/* PSO_SNAP_DATAPLANE */
	struct pso_proto_stats proto;
	struct pso_tables_usage tables;
	/* --max-subscriptions, the slots it refused; the kernel memory of
	 * every map (pso_dp_map_memory) */
	uint64_t subscriptions_cap, subscriptions_full, map_memory;
	uint32_t topics_quarantined;	/* freed ids not free again yet */
	uint32_t sessions[PSO_SESSION__STATES];
	uint32_t nsessions;
	uint64_t retained_msgs, retained_bytes;
	struct pso_valid_state valid;	/* connected sessions proven or not */
	uint32_t buffered;		/* outbox and sleep-buffer messages */
	int nifaces;
	struct pso_snap_iface ifaces[PSO_MAX_PORTS];
	/* restart and recovery */
	uint32_t restarts, adoptions;
	const char *came;		/* fresh, handover, crash */
	char adopted_build[64], build[64];
	uint64_t created_ms, handover_ms, adopt_ms, pings;
	uint32_t reserved_ids;
	uint32_t ph_endpoints, ph_clients;
	uint64_t ph_slots, ph_claimed, ph_expired, ph_next_ms;
	uint32_t ntopics;		/* PSO_SNAP_TOPICS */
	struct pso_snap_topic *topics;	/* in id order */
	/* the store (store/store.h) */
	char store[512];		/* its spec: "sqlite:PATH", "none" */
	bool store_persistent;
	struct pso_store_stats store_stats;
	/* the broker group (ha/ha.h); has_ha false: none */
	bool has_ha;
	struct pso_ha_status ha;
	uint64_t ha_store_rev, ha_applied, ha_dropped;
};

/* The daemon's counters (struct pso_proto_stats), named once: the JSON
 * key, and the metric's help. */
struct pso_snap_counter {
	const char *name;
	size_t off;
	const char *help;
};
extern const struct pso_snap_counter pso_snap_daemon_counters[];
extern const size_t pso_snap_ndaemon_counters;
static inline uint64_t pso_snap_counter(const struct pso_snapshot *s, size_t i)
{
	return *(const uint64_t *)((const char *)&s->proto + pso_snap_daemon_counters[i].off);
}

/* The data plane's counter names (PSO_COUNTER_NAMES). */
extern const char *const pso_snap_dp_names[PSO_CNT__MAX];

/* From the event loop only.  NULL when out of memory; a map that cannot
 * be read leaves its counters 0 and is logged at debug level. */
struct pso_snapshot *pso_snapshot_take(struct pso_broker *b, unsigned int what);
void pso_snapshot_free(struct pso_snapshot *s);

/* The status document, and its parts `stats` shares. */
struct json_object *pso_snap_status_json(const struct pso_snapshot *s);
struct json_object *pso_snap_daemon_json(const struct pso_snapshot *s);
struct json_object *pso_snap_counters_json(const struct pso_snapshot *s);
struct json_object *pso_snap_topic_json(const struct pso_snap_topic *t);

#endif /* PSO_SNAPSHOT_H */
