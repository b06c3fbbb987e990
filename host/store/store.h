/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * store.h - where the broker's lasting state is kept: sessions, registered
 * topics and retained messages (the records of proto/persist.h), so that
 * they outlive the process.
 *
 * One interface, one file per backend:
 *   none           volatile: nothing is kept (store_none.c)
 *   sqlite:PATH    an SQLite database in WAL mode (store_sqlite.c)
 *   etcd:URL[,URL...]  an etcd 3.4 cluster through its v3 JSON gateway
 *                  (store_etcd.c), shared by the brokers of one cluster
 *
 * The model is etcd's, so that such a backend fits without changing the
 * callers: every record has a key (its kind and its client id or topic
 * id); the store has one revision counter, which each commit raises by one;
 * every record carries the revision that created it and the one that last
 * changed it; a record may belong to a lease, and goes when the lease does.
 *
 * Writing: pso_store_put() / pso_store_delete() queue changes;
 * pso_store_commit() writes every queued change in one transaction (the
 * daemon commits once per event-loop round).  A commit that fails keeps
 * its changes queued: the next one tries them again.
 *
 * Every function returns 0 or a negative errno; the functions that take
 * err write one line there on failure, for the caller to print.
 */
#ifndef PSO_STORE_H
#define PSO_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "proto/persist.h"

struct pso_store;

/* pso_store_open() flags */
#define PSO_STORE_RESET 0x1	/* set an existing store aside, start empty */

/* The key of a record: a session's client id, or a topic id. */
struct pso_store_key {
	enum pso_rec_kind kind;
	uint16_t id;		/* PSO_REC_TOPIC, PSO_REC_RETAINED */
	const char *client_id;	/* PSO_REC_SESSION */
};
/* The key of rec. */
struct pso_store_key pso_store_key_of(const struct pso_rec *rec);

/* A raw key's value (see "raw keys" below). */
struct pso_store_raw {
	const char *key;	/* under the cluster's prefix: "leader", "members/b1" */
	const void *val;	/* NULL for a delete */
	size_t len;
};

/* What list and watch hand out.  A delete carries the key alone (rec has
 * the kind and key fields set, nothing else).  A watch also hands out the
 * changes of raw keys: rec is NULL then, raw is set. */
struct pso_store_item {
	bool deleted;
	const struct pso_rec *rec;
	const struct pso_store_raw *raw;
	uint64_t create_rev, mod_rev;
	uint64_t lease;		/* 0: none */
};
/* Non-zero stops the walk and is returned. */
typedef int (*pso_store_fn)(const struct pso_store_item *it, void *ctx);

/* What the store did, for status and metrics. */
#define PSO_STORE_LAT_BUCKETS 12	/* pso_store_lat_bounds_us */
extern const uint64_t pso_store_lat_bounds_us[PSO_STORE_LAT_BUCKETS];
struct pso_store_lat {
	uint64_t count, sum_us;
	uint64_t le[PSO_STORE_LAT_BUCKETS];	/* cumulative, by bound */
};
struct pso_store_stats {
	uint64_t revision;		/* the store's, after the last commit */
	uint64_t commits;		/* transactions written */
	uint64_t puts, deletes;		/* records written, removed */
	uint64_t errors;		/* commits that failed */
	uint64_t last_write_unix_ms;	/* the last commit that wrote (0: none yet) */
	uint64_t pending;		/* changes queued */
	uint64_t loaded[PSO_REC__KINDS];	/* records at load, by kind */
	struct pso_store_lat load, commit;
	char last_error[160];		/* of the last failed commit */
	bool reachable;			/* the last request reached the store */
};

/* "none", "sqlite:PATH" (a relative PATH is taken as given) or
 * "etcd:URL[,URL...]" (http://HOST:PORT of the cluster's members; a
 * request that cannot reach one tries the next). */
int pso_store_open(struct pso_store **s, const char *spec, unsigned int flags, char *err,
		   size_t errlen);
/* The same for the brokers of cluster (NULL: PSO_STORE_CLUSTER): with etcd,
 * every key is under /psoffload/CLUSTER/ (docs/DESIGN.md, the store). */
#define PSO_STORE_CLUSTER "default"
int pso_store_open_in(struct pso_store **s, const char *spec, const char *cluster,
		      unsigned int flags, char *err, size_t errlen);
/* Commit what is queued (logged if that fails), then close. */
void pso_store_close(struct pso_store *s);

/* The spec it was opened with ("sqlite:/var/lib/psoffload/state.db"). */
const char *pso_store_spec(const struct pso_store *s);
/* Does it outlive the process (not "none")? */
bool pso_store_persistent(const struct pso_store *s);
const struct pso_store_stats *pso_store_stats(const struct pso_store *s);

/* The default spec for a broker of this name: sqlite:PSO_STORE_DIR/state.db
 * for the default name (psoffload), sqlite:PSO_STORE_DIR/NAME.db for any
 * other, so that two brokers never share one file. */
#define PSO_STORE_DIR "/var/lib/psoffload"
void pso_store_default_spec(const char *broker_name, char *buf, size_t len);
/* Is spec one pso_store_open() understands?  0, or -EINVAL with why. */
int pso_store_spec_check(const char *spec, char *why, size_t whylen);

/* Every record at the current revision, topics first, then retained
 * messages, then sessions; *rev: that revision.  Counted as the load. */
int pso_store_load(struct pso_store *s, pso_store_fn fn, void *ctx, uint64_t *rev, char *err,
		   size_t errlen);

/* Queue a put of rec (the store takes what rec owns; rec is zeroed), or a
 * delete of key.  A later change of the same key replaces a queued one. */
int pso_store_put(struct pso_store *s, struct pso_rec *rec);
int pso_store_put_leased(struct pso_store *s, struct pso_rec *rec, uint64_t lease);
int pso_store_delete(struct pso_store *s, const struct pso_store_key *key);
/* Forget every queued change, unwritten (a group member that is no longer
 * the leader: what it could not write is not its to write any more). */
void pso_store_drop_queued(struct pso_store *s);
/* Write everything queued in one transaction; *rev (may be NULL): the new
 * revision.  Nothing queued: nothing written, 0. */
int pso_store_commit(struct pso_store *s, uint64_t *rev, char *err, size_t errlen);

/* ---- for a cluster (the etcd backend); the SQLite backend implements
 * them for one process, as documented in docs/DESIGN.md ---- */

/* The records of one kind (0: every kind) as they were at revision rev
 * (0: now); *at_rev: the revision listed.  -ENODATA when the store no
 * longer has that revision (SQLite keeps only the current one; etcd the
 * ones after its last compaction): list now instead. */
int pso_store_list(struct pso_store *s, uint64_t rev, enum pso_rec_kind kind, pso_store_fn fn,
		   void *ctx, uint64_t *at_rev);
/* Every change after revision from_rev, in order, as puts of the current
 * value or deletes; *next_rev: the revision to watch from next time.
 * -ENODATA when changes after from_rev are no longer known (compacted):
 * list again, then watch from that revision.  Never a silent gap.  etcd:
 * the changes that have arrived so far (the first call starts the stream;
 * it never waits: see pso_store_watch_fd()). */
int pso_store_watch(struct pso_store *s, uint64_t from_rev, pso_store_fn fn, void *ctx,
		    uint64_t *next_rev);
/* Put rec (NULL: delete key) only if the key's mod revision is still
 * expect_rev (0: only if the key does not exist); first commits what is
 * queued.  0 with *rev the new revision, or -ECANCELED when the compare
 * failed (nothing written). */
int pso_store_cas(struct pso_store *s, const struct pso_store_key *key, uint64_t expect_rev,
		  struct pso_rec *rec, uint64_t *rev);
/* Leases: records put with a lease are deleted when it ends (revoked, or
 * not kept alive for ttl_s). */
int pso_store_lease_grant(struct pso_store *s, unsigned int ttl_s, uint64_t *lease);
int pso_store_lease_keepalive(struct pso_store *s, uint64_t lease);
int pso_store_lease_revoke(struct pso_store *s, uint64_t lease);
/* Periodic work: leases whose time is up end (SQLite); the leases granted
 * here are kept alive at a third of their TTL (etcd).  now_unix_ms:
 * CLOCK_REALTIME. */
void pso_store_tick(struct pso_store *s, uint64_t now_unix_ms);
/* A descriptor that becomes readable when a watch has changes to hand out
 * (etcd: the watch streams in a thread; pso_store_watch() hands out what
 * has arrived, without waiting), or -EOPNOTSUPP (SQLite: every change is
 * there at once). */
int pso_store_watch_fd(struct pso_store *s);

/*
 * Global topic ids: claim (name, id) for the whole cluster.  etcd: one
 * transaction creates topics/name/NAME and topics/id/ID together, only if
 * neither exists, so two brokers can never give one id to two names.
 * 0 with *id = want_id (claimed now, the record written), 0 with *id = the
 * id the name already has, or -EEXIST when want_id belongs to another name
 * (pick another id and claim again).  SQLite and none: one process owns the
 * registry, *id = want_id (the record is written by the round's commit).
 */
int pso_store_claim_topic(struct pso_store *s, const char *name, uint16_t want_id, uint16_t *id);

/*
 * Raw keys: small values the HA layer keeps beside the records (a member
 * record under "members/NAME", the leader key "leader"), each under the
 * cluster's prefix.  Not queued: written by the call, at once.  key must
 * not start with "topics/", "retained/" or "sessions/" (-EINVAL).  etcd
 * only (else -EOPNOTSUPP).
 */
#define PSO_STORE_KEY_LEADER "leader"
#define PSO_STORE_KEY_MEMBERS "members/"
/* A raw key's value and revisions; -ENOENT when there is none, -ENOSPC
 * when it is longer than cap (*len: its length). */
int pso_store_raw_get(struct pso_store *s, const char *key, void *buf, size_t cap, size_t *len,
		      uint64_t *mod_rev, uint64_t *lease);
/* Put val (lease 0: none) if the key's mod revision is expect_rev (0: only
 * if it does not exist); val NULL: delete it.  0 with *rev (may be NULL)
 * the new revision, or -ECANCELED (nothing written). */
int pso_store_raw_cas(struct pso_store *s, const char *key, uint64_t expect_rev, const void *val,
		      size_t len, uint64_t lease, uint64_t *rev);
/* Put or delete whatever is there. */
int pso_store_raw_put(struct pso_store *s, const char *key, const void *val, size_t len,
		      uint64_t lease, uint64_t *rev);
int pso_store_raw_delete(struct pso_store *s, const char *key, uint64_t *rev);
/* The raw keys that start with prefix ("members/"), at the current
 * revision (*at_rev); it->raw and the revisions set, it->rec NULL. */
int pso_store_raw_list(struct pso_store *s, const char *prefix, pso_store_fn fn, void *ctx,
		       uint64_t *at_rev);

#endif /* PSO_STORE_H */
