// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * store.c - the store's front end (store.h): picks the backend by the
 * spec's scheme, queues changes coalesced by key, commits them in one
 * transaction, and counts and times what it does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "store/backend.h"
#include "util/log.h"

const uint64_t pso_store_lat_bounds_us[PSO_STORE_LAT_BUCKETS] = {
	50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000, 10000000,
};

static const struct pso_store_backend *const backends[] = {
	&pso_store_none, &pso_store_sqlite, &pso_store_etcd,
};

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static uint64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void lat_add(struct pso_store_lat *l, uint64_t us)
{
	l->count++;
	l->sum_us += us;
	for (int i = 0; i < PSO_STORE_LAT_BUCKETS; i++)
		if (us <= pso_store_lat_bounds_us[i])
			l->le[i]++;
}

void pso_store_default_spec(const char *broker_name, char *buf, size_t len)
{
	if (!broker_name || !strcmp(broker_name, "psoffload"))
		snprintf(buf, len, "sqlite:%s/state.db", PSO_STORE_DIR);
	else
		snprintf(buf, len, "sqlite:%s/%s.db", PSO_STORE_DIR, broker_name);
}

/* The backend of spec, and what follows its "scheme:". */
static const struct pso_store_backend *backend_of(const char *spec, const char **arg)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		size_t n = strlen(backends[i]->scheme);

		if (strncmp(spec, backends[i]->scheme, n))
			continue;
		if (spec[n] == '\0' || spec[n] == ':') {
			*arg = spec[n] ? spec + n + 1 : spec + n;
			return backends[i];
		}
	}
	return NULL;
}

/* "http://HOST:PORT,https://HOST:PORT...": each a URL the gateway is at. */
static int etcd_urls_check(const char *arg, char *why, size_t whylen)
{
	for (const char *p = arg; *p;) {
		size_t n = strcspn(p, ",");

		if (!((n > 7 && !strncmp(p, "http://", 7)) || (n > 8 && !strncmp(p, "https://", 8)))) {
			snprintf(why, whylen, "etcd: '%.*s' is not http://HOST:PORT", (int)n, p);
			return -EINVAL;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

int pso_store_spec_check(const char *spec, char *why, size_t whylen)
{
	const char *arg;
	const struct pso_store_backend *be = backend_of(spec, &arg);

	if (!be) {
		snprintf(why, whylen, "use none, sqlite:PATH or etcd:URL[,URL...]");
		return -EINVAL;
	}
	if (be->persistent && !*arg) {
		if (!strcmp(be->scheme, "etcd"))
			snprintf(why, whylen, "etcd: needs its members: etcd:http://HOST:PORT[,...]");
		else
			snprintf(why, whylen, "%s: needs a file: %s:PATH", be->scheme, be->scheme);
		return -EINVAL;
	}
	if (!be->persistent && *arg) {
		snprintf(why, whylen, "none takes no argument");
		return -EINVAL;
	}
	if (!strcmp(be->scheme, "etcd"))
		return etcd_urls_check(arg, why, whylen);
	return 0;
}

int pso_store_open(struct pso_store **out, const char *spec, unsigned int flags, char *err,
		   size_t errlen)
{
	return pso_store_open_in(out, spec, NULL, flags, err, errlen);
}

int pso_store_open_in(struct pso_store **out, const char *spec, const char *cluster,
		      unsigned int flags, char *err, size_t errlen)
{
	struct pso_store *s;
	const char *arg;
	char why[128];
	int ret;

	if (pso_store_spec_check(spec, why, sizeof(why))) {
		snprintf(err, errlen, "bad store '%s': %s", spec, why);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->be = backend_of(spec, &arg);
	snprintf(s->spec, sizeof(s->spec), "%s", spec);
	if (!cluster || !*cluster)
		cluster = PSO_STORE_CLUSTER;
	if (strlen(cluster) >= sizeof(s->cluster) || strchr(cluster, '/')) {
		snprintf(err, errlen, "bad cluster name '%s': at most %zu characters, no '/'",
			 cluster, sizeof(s->cluster) - 1);
		free(s);
		return -EINVAL;
	}
	snprintf(s->cluster, sizeof(s->cluster), "%s", cluster);
	ret = s->be->open(s, arg, flags, err, errlen);
	if (ret) {
		free(s);
		return ret;
	}
	s->stats.revision = s->rev;
	s->stats.reachable = true;
	*out = s;
	return 0;
}

static void change_free(struct pso_store_change *ch)
{
	pso_rec_free(&ch->rec);
}

static void queue_clear(struct pso_store *s)
{
	for (size_t i = 0; i < s->nq; i++)
		change_free(&s->q[i]);
	s->nq = 0;
	if (s->index)
		memset(s->index, 0, s->index_cap * sizeof(*s->index));
	s->stats.pending = 0;
}

void pso_store_drop_queued(struct pso_store *s)
{
	if (s)
		queue_clear(s);
}

void pso_store_close(struct pso_store *s)
{
	char err[256];

	if (!s)
		return;
	if (s->nq && pso_store_commit(s, NULL, err, sizeof(err)))
		pso_err("store %s: %zu changes not written: %s", s->spec, s->nq, err);
	queue_clear(s);
	s->be->close(s);
	free(s->q);
	free(s->index);
	free(s);
}

const char *pso_store_spec(const struct pso_store *s)
{
	return s->spec;
}

bool pso_store_persistent(const struct pso_store *s)
{
	return s->be->persistent;
}

const struct pso_store_stats *pso_store_stats(const struct pso_store *s)
{
	return &s->stats;
}

struct pso_store_key pso_store_key_of(const struct pso_rec *rec)
{
	struct pso_store_key k = { .kind = rec->kind };

	switch (rec->kind) {
	case PSO_REC_SESSION:
		k.client_id = rec->s.id;
		break;
	case PSO_REC_TOPIC:
		k.id = rec->t.id;
		break;
	case PSO_REC_RETAINED:
		k.id = rec->r.topic_id;
		break;
	}
	return k;
}

void pso_store_key_text(const struct pso_store_key *key, char *buf, size_t len)
{
	if (key->kind == PSO_REC_SESSION)
		snprintf(buf, len, "%s", key->client_id);
	else
		snprintf(buf, len, "%u", key->id);
}

void pso_store_key_rec(const struct pso_store_key *key, struct pso_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->kind = key->kind;
	if (key->kind == PSO_REC_SESSION)
		snprintf(rec->s.id, sizeof(rec->s.id), "%s", key->client_id);
	else if (key->kind == PSO_REC_TOPIC)
		rec->t.id = key->id;
	else
		rec->r.topic_id = key->id;
}

static uint32_t key_hash(const struct pso_store_key *k)
{
	uint32_t h = 2166136261u ^ (uint32_t)k->kind;

	if (k->kind == PSO_REC_SESSION)
		for (const char *c = k->client_id; *c; c++)
			h = (h ^ (uint8_t)*c) * 16777619u;
	else
		h = (h ^ k->id) * 16777619u;
	return h;
}

static bool key_equal(const struct pso_store_key *a, const struct pso_store_key *b)
{
	if (a->kind != b->kind)
		return false;
	return a->kind == PSO_REC_SESSION ? !strcmp(a->client_id, b->client_id) : a->id == b->id;
}

/* The index slot of key: where it is, or the empty one where it goes. */
static size_t index_slot(const struct pso_store *s, const struct pso_store_key *key)
{
	size_t i = key_hash(key) & (s->index_cap - 1);

	for (;;) {
		uint32_t pos = s->index[i];

		if (!pos)
			return i;
		{
			struct pso_store_key other = pso_store_key_of(&s->q[pos - 1].rec);

			if (key_equal(&other, key))
				return i;
		}
		i = (i + 1) & (s->index_cap - 1);
	}
}

/* Room for one more change, the index at most half full. */
static int queue_grow(struct pso_store *s)
{
	if (s->nq == s->capq) {
		size_t cap = s->capq ? 2 * s->capq : 64;
		struct pso_store_change *q = realloc(s->q, cap * sizeof(*q));

		if (!q)
			return -ENOMEM;
		s->q = q;
		s->capq = cap;
	}
	if (2 * (s->nq + 1) > s->index_cap) {
		size_t cap = s->index_cap ? 2 * s->index_cap : 256;
		uint32_t *index = calloc(cap, sizeof(*index));

		if (!index)
			return -ENOMEM;
		free(s->index);
		s->index = index;
		s->index_cap = cap;
		for (size_t i = 0; i < s->nq; i++) {
			struct pso_store_key k = pso_store_key_of(&s->q[i].rec);

			s->index[index_slot(s, &k)] = (uint32_t)i + 1;
		}
	}
	return 0;
}

static int enqueue(struct pso_store *s, struct pso_store_change *ch)
{
	struct pso_store_key key = pso_store_key_of(&ch->rec);
	size_t slot;
	int ret = queue_grow(s);

	if (ret) {
		change_free(ch);
		return ret;
	}
	slot = index_slot(s, &key);
	if (s->index[slot]) {
		/* The newer change of a key replaces the queued one. */
		struct pso_store_change *old = &s->q[s->index[slot] - 1];

		change_free(old);
		*old = *ch;
		return 0;
	}
	s->q[s->nq++] = *ch;
	s->index[slot] = (uint32_t)s->nq;
	s->stats.pending = s->nq;
	return 0;
}

int pso_store_put_leased(struct pso_store *s, struct pso_rec *rec, uint64_t lease)
{
	struct pso_store_change ch = { .lease = lease, .rec = *rec };

	memset(rec, 0, sizeof(*rec));
	return enqueue(s, &ch);
}

int pso_store_put(struct pso_store *s, struct pso_rec *rec)
{
	return pso_store_put_leased(s, rec, 0);
}

int pso_store_delete(struct pso_store *s, const struct pso_store_key *key)
{
	struct pso_store_change ch = { .deleted = true };

	pso_store_key_rec(key, &ch.rec);
	return enqueue(s, &ch);
}

static int commit_changes(struct pso_store *s, const struct pso_store_change *ch, size_t n,
			  char *err, size_t errlen)
{
	uint64_t t0 = mono_us();
	int ret = s->be->commit(s, ch, n, s->rev + 1, err, errlen);

	if (ret) {
		s->stats.errors++;
		snprintf(s->stats.last_error, sizeof(s->stats.last_error), "%s", err);
		return ret;
	}
	lat_add(&s->stats.commit, mono_us() - t0);
	if (!s->be->own_revision)
		s->rev++;
	s->stats.revision = s->rev;
	s->stats.commits++;
	s->stats.last_write_unix_ms = unix_ms();
	for (size_t i = 0; i < n; i++) {
		if (ch[i].deleted)
			s->stats.deletes++;
		else
			s->stats.puts++;
	}
	return 0;
}

int pso_store_commit(struct pso_store *s, uint64_t *rev, char *err, size_t errlen)
{
	int ret;

	if (!s->nq) {
		if (rev)
			*rev = s->rev;
		return 0;
	}
	ret = commit_changes(s, s->q, s->nq, err, errlen);
	if (ret)
		return ret;	/* kept queued: the next commit tries again */
	queue_clear(s);
	if (rev)
		*rev = s->rev;
	return 0;
}

/* Load: the walk counts each record by kind. */
struct load_ctx {
	struct pso_store *s;
	pso_store_fn fn;
	void *ctx;
};

static int count_loaded(const struct pso_store_item *it, void *arg)
{
	struct load_ctx *l = arg;

	if (it->rec->kind > 0 && it->rec->kind < PSO_REC__KINDS)
		l->s->stats.loaded[it->rec->kind]++;
	return l->fn(it, l->ctx);
}

int pso_store_load(struct pso_store *s, pso_store_fn fn, void *ctx, uint64_t *rev, char *err,
		   size_t errlen)
{
	struct load_ctx l = { .s = s, .fn = fn, .ctx = ctx };
	uint64_t t0 = mono_us();
	int ret;

	memset(s->stats.loaded, 0, sizeof(s->stats.loaded));
	ret = s->be->list(s, 0, count_loaded, &l, err, errlen);
	if (ret)
		return ret;
	lat_add(&s->stats.load, mono_us() - t0);
	if (rev)
		*rev = s->rev;
	return 0;
}

int pso_store_list(struct pso_store *s, uint64_t rev, enum pso_rec_kind kind, pso_store_fn fn,
		   void *ctx, uint64_t *at_rev)
{
	char err[256];

	if (s->be->list_at)
		return s->be->list_at(s, rev, kind, fn, ctx, at_rev);
	/* Only the current revision is kept here. */
	if (rev && rev != s->rev)
		return -ENODATA;
	if (at_rev)
		*at_rev = s->rev;
	return s->be->list(s, kind, fn, ctx, err, sizeof(err));
}

int pso_store_watch(struct pso_store *s, uint64_t from_rev, pso_store_fn fn, void *ctx,
		    uint64_t *next_rev)
{
	int ret;

	if (s->be->watch_from)
		return s->be->watch_from(s, from_rev, fn, ctx, next_rev);
	if (!s->be->watch)
		return -EOPNOTSUPP;
	if (from_rev > s->rev)
		return -EINVAL;
	ret = s->be->watch(s, from_rev, fn, ctx);
	if (!ret && next_rev)
		*next_rev = s->rev;
	return ret;
}

int pso_store_cas(struct pso_store *s, const struct pso_store_key *key, uint64_t expect_rev,
		  struct pso_rec *rec, uint64_t *rev)
{
	struct pso_store_change ch = { 0 };
	char err[256];
	uint64_t cur = 0;
	int ret;

	if (!s->be->mod_rev && !s->be->cas)
		return -EOPNOTSUPP;
	/* What was asked before comes first. */
	ret = pso_store_commit(s, NULL, err, sizeof(err));
	if (!ret && !s->be->cas)
		ret = s->be->mod_rev(s, key, &cur);
	if (ret)
		return ret;
	if (!s->be->cas && cur != expect_rev)
		return -ECANCELED;
	if (rec) {
		struct pso_store_key k = pso_store_key_of(rec);

		if (!key_equal(&k, key))
			return -EINVAL;
		ch.rec = *rec;
		memset(rec, 0, sizeof(*rec));
	} else {
		ch.deleted = true;
		pso_store_key_rec(key, &ch.rec);
	}
	if (s->be->cas) {
		/* The compare and the write in one transaction of the backend's. */
		ret = s->be->cas(s, &ch, expect_rev, rev);
		change_free(&ch);
		return ret;
	}
	/* One process owns the file (an exclusive lock): nothing can come
	 * between the compare and this write. */
	ret = commit_changes(s, &ch, 1, err, sizeof(err));
	change_free(&ch);
	if (!ret && rev)
		*rev = s->rev;
	return ret;
}

int pso_store_lease_grant(struct pso_store *s, unsigned int ttl_s, uint64_t *lease)
{
	if (!s->be->lease_grant)
		return -EOPNOTSUPP;
	if (!ttl_s)
		return -EINVAL;
	return s->be->lease_grant(s, ttl_s, unix_ms(), lease);
}

int pso_store_lease_keepalive(struct pso_store *s, uint64_t lease)
{
	if (!s->be->lease_keepalive)
		return -EOPNOTSUPP;
	return s->be->lease_keepalive(s, lease, unix_ms());
}

int pso_store_lease_revoke(struct pso_store *s, uint64_t lease)
{
	struct pso_store_change *ch = NULL;
	char err[256];
	size_t n = 0;
	int ret;

	if (s->be->lease_revoke)
		return s->be->lease_revoke(s, lease);
	if (!s->be->lease_records)
		return -EOPNOTSUPP;
	ret = pso_store_commit(s, NULL, err, sizeof(err));
	if (!ret)
		ret = s->be->lease_records(s, lease, &ch, &n);
	if (ret)
		return ret;
	if (n)
		ret = commit_changes(s, ch, n, err, sizeof(err));
	for (size_t i = 0; i < n; i++)
		change_free(&ch[i]);
	free(ch);
	if (!ret)
		ret = s->be->lease_drop(s, lease);
	return ret;
}

void pso_store_tick(struct pso_store *s, uint64_t now_unix_ms)
{
	uint64_t leases[16];
	size_t n = 0;

	if (s->be->tick)
		s->be->tick(s, now_unix_ms);
	if (!s->be->leases_expired || s->be->leases_expired(s, now_unix_ms, leases, 16, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		int ret = pso_store_lease_revoke(s, leases[i]);

		if (ret)
			pso_warn("store %s: lease %llu: %s", s->spec, (unsigned long long)leases[i],
				 strerror(-ret));
		else
			pso_info("store %s: lease %llu ended: its records are gone", s->spec,
				 (unsigned long long)leases[i]);
	}
}

int pso_store_watch_fd(struct pso_store *s)
{
	return s->be->watch_fd ? s->be->watch_fd(s) : -EOPNOTSUPP;
}

int pso_store_claim_topic(struct pso_store *s, const char *name, uint16_t want_id, uint16_t *id)
{
	if (!name || !*name || !want_id)
		return -EINVAL;
	if (s->be->claim_topic)
		return s->be->claim_topic(s, name, want_id, id);
	/* One process owns the registry: what it picked is the cluster's. */
	*id = want_id;
	return 0;
}

/* ---- raw keys ---- */

static int raw_key_ok(const char *key)
{
	static const char *const records[] = { "topics/", "retained/", "sessions/" };

	if (!key || !*key || key[0] == '/')
		return -EINVAL;
	for (size_t i = 0; i < sizeof(records) / sizeof(records[0]); i++)
		if (!strncmp(key, records[i], strlen(records[i])))
			return -EINVAL;
	return 0;
}

int pso_store_raw_get(struct pso_store *s, const char *key, void *buf, size_t cap, size_t *len,
		      uint64_t *mod_rev, uint64_t *lease)
{
	if (!s->be->raw_get)
		return -EOPNOTSUPP;
	if (raw_key_ok(key))
		return -EINVAL;
	return s->be->raw_get(s, key, buf, cap, len, mod_rev, lease);
}

int pso_store_raw_cas(struct pso_store *s, const char *key, uint64_t expect_rev, const void *val,
		      size_t len, uint64_t lease, uint64_t *rev)
{
	if (!s->be->raw_cas)
		return -EOPNOTSUPP;
	if (raw_key_ok(key) || expect_rev == PSO_STORE_ANY_REV)
		return -EINVAL;
	return s->be->raw_cas(s, key, expect_rev, val, len, lease, rev);
}

int pso_store_raw_put(struct pso_store *s, const char *key, const void *val, size_t len,
		      uint64_t lease, uint64_t *rev)
{
	if (!s->be->raw_cas)
		return -EOPNOTSUPP;
	if (raw_key_ok(key) || !val)
		return -EINVAL;
	return s->be->raw_cas(s, key, PSO_STORE_ANY_REV, val, len, lease, rev);
}

int pso_store_raw_delete(struct pso_store *s, const char *key, uint64_t *rev)
{
	if (!s->be->raw_cas)
		return -EOPNOTSUPP;
	if (raw_key_ok(key))
		return -EINVAL;
	return s->be->raw_cas(s, key, PSO_STORE_ANY_REV, NULL, 0, 0, rev);
}

int pso_store_raw_list(struct pso_store *s, const char *prefix, pso_store_fn fn, void *ctx,
		       uint64_t *at_rev)
{
	if (!s->be->raw_list)
		return -EOPNOTSUPP;
	if (!prefix)
		prefix = "";
	if (*prefix && raw_key_ok(prefix))
		return -EINVAL;
	return s->be->raw_list(s, prefix, fn, ctx, at_rev);
}
