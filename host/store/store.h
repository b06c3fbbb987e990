/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * store.h - where the broker's lasting state is kept: sessions, registered
 * topics and retained messages (the records of proto/persist.h), so that
 * they outlive the process.
 *
 * One interface, one file per backend:
 *   none           volatile: nothing is kept (store_none.c)
 *   sqlite:PATH    an SQLite database in WAL mode (store_sqlite.c)
 * and, for a cluster, a backend with the same operations over etcd.
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

/* What list and watch hand out.  A delete carries the key alone (rec has
 * the kind and key fields set, nothing else). */
struct pso_store_item {
	bool deleted;
	const struct pso_rec *rec;
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
};

/* "none" or "sqlite:PATH" (a relative PATH is taken as given). */
int pso_store_open(struct pso_store **s, const char *spec, unsigned int flags, char *err,
		   size_t errlen);
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
 * list again, then watch from that revision.  Never a silent gap. */
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
/* Periodic work: leases whose time is up end.  now_unix_ms: CLOCK_REALTIME. */
void pso_store_tick(struct pso_store *s, uint64_t now_unix_ms);

#endif /* PSO_STORE_H */
