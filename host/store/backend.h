/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * backend.h - inside the store: what a backend implements (store_none.c,
 * store_sqlite.c, store_etcd.c), and the front end's state (store.c),
 * which queues changes, coalesces them by key and counts.
 */
#ifndef PSO_STORE_BACKEND_H
#define PSO_STORE_BACKEND_H

#include "store/store.h"

/* One queued change: a put of rec, or a delete of rec's key (rec then has
 * its kind and key fields only). */
struct pso_store_change {
	bool deleted;
	uint64_t lease;
	struct pso_rec rec;
};

struct pso_store_backend {
	const char *scheme;		/* "none", "sqlite", "etcd" */
	bool persistent;
	/* The revision is the backend's (etcd's): commit sets s->rev. */
	bool own_revision;
	/* arg: what follows "scheme:" (may be empty). */
	int (*open)(struct pso_store *s, const char *arg, unsigned int flags, char *err,
		    size_t errlen);
	void (*close)(struct pso_store *s);
	/* Records of kind (0: all, in kind order) at the current revision. */
	int (*list)(struct pso_store *s, enum pso_rec_kind kind, pso_store_fn fn, void *ctx,
		    char *err, size_t errlen);
	/* n changes in one transaction at revision rev (the current + 1). */
	int (*commit)(struct pso_store *s, const struct pso_store_change *ch, size_t n, uint64_t rev,
		      char *err, size_t errlen);
	/* NULL: -EOPNOTSUPP. */
	int (*watch)(struct pso_store *s, uint64_t from_rev, pso_store_fn fn, void *ctx);
	/* The key's mod revision now (0: no such key). */
	int (*mod_rev)(struct pso_store *s, const struct pso_store_key *key, uint64_t *rev);
	int (*lease_grant)(struct pso_store *s, unsigned int ttl_s, uint64_t now_unix_ms,
			   uint64_t *lease);
	int (*lease_keepalive)(struct pso_store *s, uint64_t lease, uint64_t now_unix_ms);
	/* The records of lease, as delete changes for commit() (the lease
	 * itself goes with that commit: lease_drop). */
	int (*lease_records)(struct pso_store *s, uint64_t lease, struct pso_store_change **ch,
			     size_t *n);
	int (*lease_drop)(struct pso_store *s, uint64_t lease);
	/* Leases whose time is up (at most cap). */
	int (*leases_expired)(struct pso_store *s, uint64_t now_unix_ms, uint64_t *leases,
			      size_t cap, size_t *n);

	/* A backend that does the whole operation itself sets these (etcd);
	 * NULL: the front end does it with the ones above. */
	int (*list_at)(struct pso_store *s, uint64_t rev, enum pso_rec_kind kind, pso_store_fn fn,
		       void *ctx, uint64_t *at_rev);
	int (*watch_from)(struct pso_store *s, uint64_t from_rev, pso_store_fn fn, void *ctx,
			  uint64_t *next_rev);
	int (*watch_fd)(struct pso_store *s);
	int (*cas)(struct pso_store *s, const struct pso_store_change *ch, uint64_t expect_rev,
		   uint64_t *rev);
	int (*lease_revoke)(struct pso_store *s, uint64_t lease);
	void (*tick)(struct pso_store *s, uint64_t now_unix_ms);
	int (*claim_topic)(struct pso_store *s, const char *name, uint16_t want_id, uint16_t *id);
	/* Raw keys; expect_rev PSO_STORE_ANY_REV: no compare; val NULL: delete. */
	int (*raw_get)(struct pso_store *s, const char *key, void *buf, size_t cap, size_t *len,
		       uint64_t *mod_rev, uint64_t *lease);
	int (*raw_cas)(struct pso_store *s, const char *key, uint64_t expect_rev, const void *val,
		       size_t len, uint64_t lease, uint64_t *rev);
	int (*raw_list)(struct pso_store *s, const char *prefix, pso_store_fn fn, void *ctx,
			uint64_t *at_rev);
};
#define PSO_STORE_ANY_REV UINT64_MAX

extern const struct pso_store_backend pso_store_none;
extern const struct pso_store_backend pso_store_sqlite;
extern const struct pso_store_backend pso_store_etcd;

struct pso_store {
	const struct pso_store_backend *be;
	void *priv;			/* the backend's */
	char spec[512];
	char cluster[64];		/* pso_store_open_in()'s, or PSO_STORE_CLUSTER */
	uint64_t rev;			/* the current revision (the backend sets it at open) */
	struct pso_store_stats stats;
	struct pso_store_change *q;	/* queued, in order */
	size_t nq, capq;
	uint32_t *index;		/* open addressing: queue position + 1, 0 empty */
	size_t index_cap;
};

/* A session key's text, a topic key's decimal id: the key column. */
void pso_store_key_text(const struct pso_store_key *key, char *buf, size_t len);
/* A delete change's record: kind and key only. */
void pso_store_key_rec(const struct pso_store_key *key, struct pso_rec *rec);

#endif /* PSO_STORE_BACKEND_H */
