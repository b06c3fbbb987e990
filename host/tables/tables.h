/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * tables.h - the host's side of the data-plane tables.
 *
 * The daemon keeps a shadow of pso_topics and pso_subs and writes every
 * change to the BPF maps in an order that never lets the data plane see a
 * half-written subscriber (see subs.c for the protocol).  Full tables
 * refuse with -ENOSPC and are left exactly as they were.
 */
#ifndef PSO_TABLES_H
#define PSO_TABLES_H

#include <stdbool.h>
#include <stdint.h>
#include "psoffload_abi.h"

/*
 * A NIC's copy of the tables (hardware offload).  Its client map receives
 * every client write.  Its topic map is a HASH holding only the topics
 * placed in the NIC (at most `capacity`), and a placed topic receives every
 * write the host's entry receives, in the same order; every other topic
 * misses in the NIC, whose program then passes the publish to the host.
 */
struct pso_tables_mirror {
	int topics_fd;
	int clients_fd;
	int stats_fd;		/* the NIC's per-topic counters (HASH) */
	uint32_t capacity;	/* topics the NIC holds */
	uint32_t nplaced;
	uint8_t *placed;	/* bitmap over topic ids */
};

#define PSO_TABLES_MAX_MIRRORS 8

struct pso_grace;	/* grace.c: the worker of deferred mode */
struct pso_pending;	/* subs.c: a topic's target while it waits */
struct pso_tables;
struct pso_tables_call {
	void (*fn)(struct pso_tables *t, void *arg);
	void *arg;
	uint64_t need;
};

struct pso_tables {
	int topics_fd;		/* pso_topics */
	int subs_fd;		/* pso_subs: the subscriber pool */
	int runs_fd;		/* pso_topic_runs: each topic's run of it */
	int clients_fd;		/* pso_clients */
	uint32_t max_topics;
	uint32_t pool_slots;	/* pso_subs entries */
	uint32_t max_run;	/* slots one topic may have: a power of two, at
				 * most the PSO_MAX_RUN the TC program walks */
	uint32_t max_clients;
	uint32_t nclients;
	/* pso_client_slots (driver build), -1 until pso_tables_use_client_slots():
	 * clients direct-mapped in front of pso_clients.  Shadow: the owner of
	 * each slot (family 0: free), and for a slot freed while readers may
	 * still use it, the grace period that must pass before its reuse. */
	int client_slots_fd;
	struct pso_endpoint *slot_owner;
	uint64_t *slot_reuse_after;	/* value of syncs needed, 0: none */
	uint64_t syncs;			/* reader waits done so far (deferred
					 * mode: completed, as of the last
					 * pso_tables_grace_done()) */
	/* Deferred mode: a HASH-only client waiting for its slot to be
	 * reusable (family 0: none), and the slots with a waiter. */
	struct pso_endpoint *slot_waiter;
	uint32_t *cslot_waiting;
	uint32_t ncslot_waiting;
	uint32_t nclient_slots;		/* clients in a slot, not only the HASH */
	uint32_t nsubs;		/* live slots over all topics (deferred mode:
				 * in the targets) */
	struct pso_topic *topics;	/* shadow, max_topics entries */
	/* When each pool slot / each topic's first became servable
	 * (CLOCK_REALTIME ns, before the write that enabled it), see subs.c. */
	uint64_t *slot_since, *first_since;
	struct pso_sub *subs;		/* shadow of the pool, pool_slots entries */
	struct pso_run *runs;		/* shadow of pso_topic_runs */
	/* Per topic: the period that must complete before the half of its
	 * run entry that readers left may be written again (0: none). */
	uint64_t *half_need;
	/* Per topic: the period after its latest write that cleared a
	 * RESOLVED flag (slot or first), for content rewritten later. */
	uint64_t *disable_need;
	/* Per topic: PSO_TOPIC_F_HOST as pso_tables_topic_set() asked (a
	 * pending topic has it in the maps anyway, see subs.c). */
	bool *proto_host;
	struct pso_pool *pool;		/* pool.c: the free runs */
	/* Runs topics left, zeroed and freed after their period (subs.c). */
	struct pso_retired *retired;
	uint32_t nretired, retired_cap;
	/* Map slots by (topic, endpoint), for pso_tables_sub_served_at():
	 * bucket heads, and each pool slot's next in its bucket. */
	uint32_t *ix_head, *ix_next;
	uint16_t *ix_topic;		/* the topic each slot was written for */
	uint32_t ix_mask;
	uint64_t run_moves;		/* runs grown, shrunk or freed */
	/* pso_short_names (driver build), -1 until
	 * pso_tables_use_short_names(); shadow, max_topics entries. */
	int short_names_fd;
	struct pso_short_name *short_names;
	struct pso_sub *want, *undo;	/* scratch, max_run each */
	/* pso_topic_stats, -1 until pso_tables_use_topic_stats(), and what
	 * each topic freed for good has left to do (recycle.c; NULL until
	 * the first). */
	int topic_stats_fd;
	uint32_t topic_stats_type;	/* enum bpf_map_type */
	uint8_t *recycle;

	/* Deferred mode (pso_tables_defer_start()), NULL/0 otherwise: the
	 * worker, and the topics whose target the maps do not hold yet
	 * (pending[id], and their ids in pending_ids[0..npending-1]). */
	struct pso_grace *grace;
	struct pso_pending **pending;
	uint16_t *pending_ids;
	uint32_t npending;
	struct pso_tables_call *calls;	/* pso_tables_defer_call(), waiting */
	uint32_t ncalls, calls_cap;
	bool grace_hold;		/* requests held back (a batch) ... */
	uint64_t grace_held;		/* ... the highest one */
	uint64_t deferred_errors;	/* deferred steps whose map write failed
					 * (each retried at the next grace) */

	/*
	 * Wait until every data-plane program run that began before the call
	 * has ended (an RCU grace period), so that no reader combines what it
	 * read before a "disable" write with what it reads after the next
	 * content write.  pso_tables_init() sets pso_tables_sync_rcu; NULL
	 * skips the wait (faster, but only readers that overlap a single map
	 * write are then covered; see subs.c).
	 */
	void (*sync_readers)(void *ctx);
	/* Called after every map write attempt (val NULL for a delete, err 0
	 * or the negative errno); for tests, NULL in production. */
	void (*on_write)(void *ctx, int fd, const void *key, const void *val, int err);
	void *hook_ctx;		/* ctx of both hooks */

	/* The publish-rate limit every client is written with
	 * (pso_tables_set_publish_rate(); per_s 0: none), and for the NICs'
	 * budgets (pso_tables_rate_refill()) when they were last refilled and
	 * the thousandths of a publish not handed out yet. */
	struct {
		uint32_t per_s, burst;
		uint64_t last_ms;
		uint64_t carry_milli;
	} rate;
	uint64_t rate_refills;		/* NIC budget entries rewritten */

	struct pso_tables_mirror mirrors[PSO_TABLES_MAX_MIRRORS];
	int nmirrors;
	uint64_t mirror_errors;	/* writes a NIC refused for another reason */
	uint64_t mirror_full;	/* writes a full NIC table refused (normal) */
};

/* Start keeping a NIC's maps: its clients now, its topics as they are
 * placed.  -ENOSPC when there are too many mirrors; the first write error. */
int pso_tables_mirror_add(struct pso_tables *t, int topics_fd, int clients_fd,
			  int stats_fd, uint32_t capacity);
struct pso_tables_mirror *pso_tables_mirror_find(struct pso_tables *t, int topics_fd);
/* Place a topic in the NIC (its counters zeroed, then its entry, whole), or
 * take it out (entry first: the NIC passes the topic up from then on).
 * place: -ENOSPC when the NIC is full, 0 if already placed.  unplace adds
 * the NIC's final counters of the topic into *last when given. */
int pso_tables_mirror_place(struct pso_tables *t, struct pso_tables_mirror *m, uint16_t id);
int pso_tables_mirror_unplace(struct pso_tables *t, struct pso_tables_mirror *m, uint16_t id,
			      struct pso_topic_stats *last);
bool pso_tables_mirror_is_placed(const struct pso_tables_mirror *m, uint16_t id);
void pso_tables_mirror_remove(struct pso_tables *t, int topics_fd);

/* The maps must be new (all-zero ARRAYs, empty HASH): the shadow starts
 * zeroed (maps written before: pso_tables_adopt()).  subs_fd is the pool
 * (pool_slots entries), runs_fd pso_topic_runs (max_topics).  Map types
 * and value sizes are checked: -EINVAL on mismatch.  Runs may be up to
 * PSO_MAX_RUN slots long; pso_tables_set_max_run() sets less. */
/*
 * The shortest run a topic with subscribers gets: its first few adds fill
 * holes without a move (a move from no run costs no grace period, but the
 * next one waits for the half the first left).  At most max_run.
 */
#define PSO_TABLES_MIN_RUN 4

int pso_tables_init(struct pso_tables *t, int topics_fd, int subs_fd, int runs_fd,
		    int clients_fd, uint32_t max_topics, uint32_t pool_slots,
		    uint32_t max_clients);
/* The most subscribers one topic may have slots for: a power of two, 1 to
 * PSO_MAX_RUN (-EINVAL).  Before any subscriber is added. */
int pso_tables_set_max_run(struct pso_tables *t, uint32_t max_run);
void pso_tables_free(struct pso_tables *t);

/* What an adoption found in the maps. */
struct pso_tables_adoption {
	uint32_t topics;	/* valid topic entries */
	uint64_t subs;		/* live subscriber slots */
	uint32_t disabled;	/* live slots caught disabled (mid-change) */
	uint32_t clients, client_slots;
	uint32_t repaired;	/* topics a crash left mid-change, repaired */
};
/*
 * The maps were written by a daemon before this one (a restart, a crash):
 * read them back into the shadow instead of starting from zero.  After
 * pso_tables_init() (and the use_* calls), before pso_tables_defer_start().
 * The maps are checked against the write protocol first (adopt.c): one
 * that no state of it can leave is -EUCLEAN with one line in err and
 * nothing written; what a crash can leave is repaired by the protocol.
 */
int pso_tables_adopt(struct pso_tables *t, struct pso_tables_adoption *res, char *err,
		     size_t errlen);
/* Every client of the client table (adopted ones included), until fn
 * returns non-zero (returned). */
int pso_tables_foreach_client(const struct pso_tables *t,
			      int (*fn)(const struct pso_endpoint *ep, void *ctx), void *ctx);

/* The default sync_readers: an RCU grace period (membarrier(2)
 * MEMBARRIER_CMD_GLOBAL), typically 5-30 ms. */
void pso_tables_sync_rcu(void *ctx);

/*
 * Deferred mode: grace periods run in a worker thread, and no pso_tables_*
 * call waits for data-plane readers any more.  An operation does the steps
 * that need no wait and returns; a topic (or client slot) that must wait
 * is pending, and its remaining steps run from pso_tables_grace_done().
 * Answers (-ENOSPC, -EEXIST, -ENOENT, -EINVAL) are given at once, on the
 * target: what the callers have asked for, pending changes included.
 * pso_tables_topic() and pso_tables_slot() keep returning the map state;
 * pso_tables_target() and pso_tables_sub_find() the target.  A host path
 * must walk the target and ask pso_tables_sub_served(): while a removal
 * waits, the map state still holds the leaving subscriber (disabled) below
 * sub_count and the moved one beyond it.
 *
 * sync_readers and hook_ctx are taken at pso_tables_defer_start() and
 * called from the worker; the hook must not call into the tables.
 */
/* Start the worker; from now on no pso_tables_* call blocks on readers.
 * 0 (also when already started) or -errno. */
int  pso_tables_defer_start(struct pso_tables *t);
/* Join the worker and finish all pending work synchronously (waiting for
 * readers inline), so the maps are at rest; then synchronous mode again.
 * pso_tables_free() calls it. */
void pso_tables_defer_stop(struct pso_tables *t);
/* Readable when a grace period completed; -1 when not deferred. */
int  pso_tables_grace_fd(const struct pso_tables *t);
/* For the event loop when grace_fd is readable (harmless at any time):
 * drains it, then runs every topic's and client slot's pending steps whose
 * grace period has completed, possibly requesting the next period. */
void pso_tables_grace_done(struct pso_tables *t);
/* Would the data plane deliver to ep's slot in topic id for a publish of
 * that family RIGHT NOW (the map state: the topic valid, the slot present
 * below sub_count - or `first` of a one-subscriber topic - and
 * pso_sub_servable)?  The daemon's host path sends to every subscriber of
 * the target for which this is false. */
/* The same for a datagram the kernel received at at_ns (CLOCK_REALTIME,
 * SO_TIMESTAMPNS; 0: now): a slot that became servable after that was not
 * servable when the data plane judged the datagram - the daemon delivers
 * to it (a new subscriber just after its SUBACK).  A slot re-enabled after
 * a move counts from its re-enabling, so a datagram that waited in the
 * socket across a move may be delivered twice. */
bool pso_tables_sub_served_at(const struct pso_tables *t, uint16_t id,
			      const struct pso_endpoint *ep, uint8_t family, uint64_t at_ns);
bool pso_tables_sub_served(const struct pso_tables *t, uint16_t id,
			   const struct pso_endpoint *ep, uint8_t family);
/* Run fn(t, arg) once a grace period that starts after this call has
 * ended: from pso_tables_grace_done() when deferred (0, or -ENOMEM and fn
 * is not called), else at once after waiting for readers.  For writers of
 * other maps that follow the same protocol (porttab.c). */
int  pso_tables_defer_call(struct pso_tables *t,
			   void (*fn)(struct pso_tables *t, void *arg), void *arg);
/* Topics, client slots and calls waiting for a grace period. */
uint32_t pso_tables_pending(const struct pso_tables *t);
/* The subscribers the topic is to have, in slot order (*n of them): its
 * pending target, or the maps when it is at rest.  NULL (and *n 0) for a
 * bad id.  Valid until the next call that changes the topic. */
const struct pso_sub *pso_tables_target(const struct pso_tables *t, uint16_t id, uint32_t *n);

/* Make a topic known to the data plane (VALID plus PSO_TOPIC_F_* flags);
 * its subscribers are kept.  One map write. */
int pso_tables_topic_set(struct pso_tables *t, uint16_t id, uint8_t flags);

/*
 * Topics freed for good, their ids given to other topics later (recycle.c).
 * use_topic_stats: the per-topic counters (pso_topic_stats) to zero, -EINVAL
 * when fd is no such map; without it there are none to zero.
 * topic_free: the topic must have no subscriber and nothing pending
 * (-EBUSY); its NIC copies, its entry (VALID cleared: the data plane passes
 * its publishes up as unknown) and its short name go now, its counters are
 * zeroed after a grace period.  reusable: true once all of that is done, so
 * the id may name another topic; topic_reused: it does now.
 */
int pso_tables_use_topic_stats(struct pso_tables *t, int fd);
int pso_tables_topic_free(struct pso_tables *t, uint16_t id);
bool pso_tables_topic_reusable(struct pso_tables *t, uint16_t id);
void pso_tables_topic_reused(struct pso_tables *t, uint16_t id);

/* Keep pso_short_names (an ARRAY of struct pso_short_name per topic id):
 * without it a short-form slot (PSO_SUB_F_SHORT) is never servable.
 * -EINVAL when fd is no such map. */
int pso_tables_use_short_names(struct pso_tables *t, int fd);
/* The short name of topic id (its name, two bytes long), which the copies
 * to its short-form slots carry.  Written before such a slot can be
 * servable: until it is, the tables write every short-form slot of the
 * topic not servable (the daemon delivers).  0, also without the map. */
int pso_tables_short_name_set(struct pso_tables *t, uint16_t id, const uint8_t name[2]);
const struct pso_topic *pso_tables_topic(const struct pso_tables *t, uint16_t id);
/* The run readers of topic id use (NULL for a bad id). */
const struct pso_run *pso_tables_run(const struct pso_tables *t, uint16_t id);
const struct pso_sub *pso_tables_slot(const struct pso_tables *t, uint16_t id,
				      uint32_t slot);

/* Subscriber slots of a topic, identified by the subscriber's endpoint
 * (dst_addr, dst_port, family).  Slots 0..sub_count-1 are live, in order;
 * removing one moves the last slot into its place.
 * add: -ENOSPC when the topic's slots are full, -EEXIST when already there;
 * update: rewrite the slot of the same endpoint (e.g. next hop learned);
 * remove: -ENOENT when absent; find: the slot index (in the target,
 * see deferred mode above), or -ENOENT.
 * All: -EINVAL for id 0 or >= max_topics, or a family other than
 * PSO_AF_INET/PSO_AF_INET6.  A map write error is returned after the
 * topic has been put back as it was (see subs.c); the shadow always
 * equals what the maps hold. */
int pso_tables_sub_add(struct pso_tables *t, uint16_t id, const struct pso_sub *s);
int pso_tables_sub_update(struct pso_tables *t, uint16_t id, const struct pso_sub *s);
int pso_tables_sub_remove(struct pso_tables *t, uint16_t id,
			  const struct pso_endpoint *ep);
int pso_tables_sub_find(const struct pso_tables *t, uint16_t id,
			const struct pso_endpoint *ep);

/* The same for one subscriber in many topics (topics without it are
 * skipped), with one wait for readers in all instead of one per topic. */
int pso_tables_sub_remove_many(struct pso_tables *t, const struct pso_endpoint *ep,
			       const uint16_t *ids, int n);
int pso_tables_sub_update_many(struct pso_tables *t, const struct pso_sub *sub,
			       const uint16_t *ids, int n);

/* Keep pso_client_slots too (an ARRAY of PSO_CLIENT_SLOTS struct
 * pso_client_slot): every client added after this goes in its slot when the
 * slot is free.  -EINVAL when fd is no such map, -ENOMEM. */
int pso_tables_use_client_slots(struct pso_tables *t, int fd);

/* Connected clients (QoS 0 admission).  add: 0 also when already there,
 * -ENOSPC when full; remove: -ENOENT when absent. */
int pso_tables_client_add(struct pso_tables *t, const struct pso_endpoint *ep);
int pso_tables_client_remove(struct pso_tables *t, const struct pso_endpoint *ep);
/* The data plane's counters for a client (rx_msgs: publishes admitted on the
 * fast path, for keep-alive).  -ENOENT when absent. */
/* rx_msgs is summed over the host map, the client's slot and every mirror. */
int pso_tables_client_get(const struct pso_tables *t, const struct pso_endpoint *ep,
			  struct pso_client_val *val);

/*
 * The publish-rate limit of every client added from now on: per_s publishes
 * a second, burst at once (0: per_s); per_s 0 is no limit.  The driver
 * build keeps each client's token bucket itself (struct pso_rate); a NIC
 * has no clock, so its clients get a budget of burst publishes, which
 * pso_tables_rate_refill() tops up.  -EINVAL for a burst without a rate.
 */
int pso_tables_set_publish_rate(struct pso_tables *t, uint32_t per_s, uint32_t burst);
/*
 * Top up the NICs' publish budgets (hw mode): what the rate earned since
 * the last call, at most burst left over; called from the event loop's
 * timer.  Only entries whose budget changes are written.  Publishes a NIC
 * counts between the read and the write of an entry are lost to its
 * rx_msgs, so such a client gets that many publishes more.
 */
void pso_tables_rate_refill(struct pso_tables *t, uint64_t now_ms);
/* The value a newly connected client is written with. */
struct pso_client_val pso_tables_client_val_new(const struct pso_tables *t);

/* The endpoint a slot delivers to. */
void pso_sub_endpoint(const struct pso_sub *s, struct pso_endpoint *ep);

/* What the tables hold against what they can hold, for status and metrics. */
struct pso_tables_usage {
	uint32_t topics, max_topics;		/* valid topic entries */
	uint64_t subs, max_subs;		/* subscribers; pool slots */
	uint32_t subs_per_topic;		/* the longest run (max_run) */
	uint32_t pool_free;			/* pool slots in no run */
	uint32_t pool_largest;			/* the longest run free now */
	uint64_t run_moves;			/* runs grown, shrunk or freed */
	uint32_t clients, max_clients;
	uint64_t nic_write_errors;		/* mirror_errors */
	uint64_t nic_table_full;		/* mirror_full */
	uint32_t pending;			/* waiting for a grace period */
};
void pso_tables_usage(const struct pso_tables *t, struct pso_tables_usage *u);

#endif /* PSO_TABLES_H */
