// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * store_env.c - the daemon and its store (store/store.h): opened before
 * anything is loaded, loaded into the protocol layer before the broker
 * serves, written once per event-loop round.
 *
 * The protocol layer says what changed (the session_changed,
 * topic_changed and retained_changed ops): those keys go into a dirty
 * set, each once however often it changed.  At the end of each round the
 * daemon reads each back from the protocol layer (pso_proto_export_*) and
 * commits them all in one transaction, so the store's cost is one
 * transaction per round, not one per message.  A commit that fails keeps
 * its changes for the next round (logged once, then every 10 s).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "daemon/daemon.h"
#include "proto/persist.h"
#include "store/store.h"
#include "util/log.h"

#define ERROR_LOG_INTERVAL_MS 10000

static uint64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the dirty set ------------------------------------------------------------- */

struct pso_dirty {
	/* sessions: client ids, each once (open addressing over positions) */
	char (*ids)[MQTTSN_CLIENT_ID_MAX + 1];
	size_t nids, capids;
	uint32_t *hash;
	size_t hcap;
	/* topics and retained messages: ids, each once (a bit per id) */
	uint16_t *topics, *retained;
	uint32_t ntopics, nretained;
	uint8_t *topic_bits, *retained_bits;
	uint32_t max_topics;
};

static uint32_t id_hash(const char *id)
{
	uint32_t h = 2166136261u;

	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 16777619u;
	return h;
}

static size_t id_slot(const struct pso_dirty *d, const char *id)
{
	size_t i = id_hash(id) & (d->hcap - 1);

	while (d->hash[i] && strcmp(d->ids[d->hash[i] - 1], id))
		i = (i + 1) & (d->hcap - 1);
	return i;
}

static int dirty_grow(struct pso_dirty *d)
{
	if (d->nids == d->capids) {
		size_t cap = d->capids ? 2 * d->capids : 256;
		void *ids = realloc(d->ids, cap * sizeof(*d->ids));

		if (!ids)
			return -ENOMEM;
		d->ids = ids;
		d->capids = cap;
	}
	if (2 * (d->nids + 1) > d->hcap) {
		size_t cap = d->hcap ? 2 * d->hcap : 512;
		uint32_t *hash = calloc(cap, sizeof(*hash));

		if (!hash)
			return -ENOMEM;
		free(d->hash);
		d->hash = hash;
		d->hcap = cap;
		for (size_t i = 0; i < d->nids; i++)
			d->hash[id_slot(d, d->ids[i])] = (uint32_t)i + 1;
	}
	return 0;
}

static void dirty_session(struct pso_dirty *d, const char *id)
{
	size_t slot;

	if (dirty_grow(d)) {
		pso_warn("store: out of memory: a change of session %s is not written", id);
		return;
	}
	slot = id_slot(d, id);
	if (d->hash[slot])
		return;
	snprintf(d->ids[d->nids], sizeof(d->ids[0]), "%s", id);
	d->hash[slot] = (uint32_t)++d->nids;
}

static void dirty_id(uint8_t *bits, uint16_t *list, uint32_t *n, uint32_t max, uint16_t id)
{
	if (id >= max || bits[id / 8] & (1u << (id % 8)))
		return;
	bits[id / 8] |= (uint8_t)(1u << (id % 8));
	list[(*n)++] = id;
}

static void dirty_clear(struct pso_dirty *d, bool sessions, bool topics, bool retained)
{
	if (sessions) {
		d->nids = 0;
		if (d->hash)
			memset(d->hash, 0, d->hcap * sizeof(*d->hash));
	}
	if (topics) {
		for (uint32_t i = 0; i < d->ntopics; i++)
			d->topic_bits[d->topics[i] / 8] = 0;
		d->ntopics = 0;
	}
	if (retained) {
		for (uint32_t i = 0; i < d->nretained; i++)
			d->retained_bits[d->retained[i] / 8] = 0;
		d->nretained = 0;
	}
}

static void dirty_free(struct pso_dirty *d)
{
	if (!d)
		return;
	free(d->ids);
	free(d->hash);
	free(d->topics);
	free(d->retained);
	free(d->topic_bits);
	free(d->retained_bits);
	free(d);
}

/* ---- the protocol layer's ops ---------------------------------------------------- */

void pso_broker_session_changed(void *ctx, const char *client_id)
{
	struct pso_broker *b = ctx;

	if (b->dirty)
		dirty_session(b->dirty, client_id);
}

void pso_broker_topic_changed(void *ctx, uint16_t id)
{
	struct pso_broker *b = ctx;
	struct pso_dirty *d = b->dirty;

	if (d)
		dirty_id(d->topic_bits, d->topics, &d->ntopics, d->max_topics, id);
}

void pso_broker_retained_changed(void *ctx, uint16_t id)
{
	struct pso_broker *b = ctx;
	struct pso_dirty *d = b->dirty;

	if (d)
		dirty_id(d->retained_bits, d->retained, &d->nretained, d->max_topics, id);
}

/* ---- open, load, write ----------------------------------------------------------- */

int pso_broker_open_store(struct pso_broker *b, char *err, size_t errlen)
{
	char spec[512], why[384];
	int ret;

	if (b->cfg.store)
		snprintf(spec, sizeof(spec), "%s", b->cfg.store);
	else
		pso_store_default_spec(b->name, spec, sizeof(spec));
	/* A group's keys are under its name (etcd: /psoffload/GROUP/). */
	ret = pso_store_open_in(&b->store, spec, b->cfg.ha_group,
			     b->cfg.store_reset ? PSO_STORE_RESET : 0, why,
			     sizeof(why));
	if (ret == -EUCLEAN)
		snprintf(err, errlen, "%s; it is kept as it is: --store-reset sets it aside and "
			 "starts empty", why);
	else if (ret)
		snprintf(err, errlen, "%s", why);
	return ret;
}

struct load_ctx {
	struct pso_broker *b;
	uint64_t now_ms, now_unix_ms;
	uint32_t refused, connected;
};

static int load_one(const struct pso_store_item *it, void *arg)
{
	struct load_ctx *l = arg;
	char why[256];

	if (pso_proto_import(l->b->proto, it->rec, l->now_ms, l->now_unix_ms, why, sizeof(why))) {
		pso_warn("store: %s", why);
		l->refused++;
	} else if (it->rec->kind == PSO_REC_SESSION && it->rec->s.connected) {
		l->connected++;
	}
	return 0;
}

int pso_broker_load_store(struct pso_broker *b, char *err, size_t errlen)
{
	struct load_ctx l = { .b = b, .now_ms = mono_ms(), .now_unix_ms = unix_ms() };
	const struct pso_store_stats *st;
	uint64_t rev, t0 = l.now_ms;
	int ret;

	if (!pso_store_persistent(b->store)) {
		pso_info("store: none (--store=none): sessions, registrations and retained "
			 "messages end with the process");
		return 0;
	}
	b->dirty = calloc(1, sizeof(*b->dirty));
	if (b->dirty) {
		b->dirty->max_topics = b->max_topics;
		b->dirty->topics = calloc(b->dirty->max_topics, sizeof(uint16_t));
		b->dirty->retained = calloc(b->dirty->max_topics, sizeof(uint16_t));
		b->dirty->topic_bits = calloc(b->dirty->max_topics / 8 + 1, 1);
		b->dirty->retained_bits = calloc(b->dirty->max_topics / 8 + 1, 1);
	}
	if (!b->dirty || !b->dirty->topics || !b->dirty->retained || !b->dirty->topic_bits ||
	    !b->dirty->retained_bits) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = pso_store_load(b->store, load_one, &l, &rev, err, errlen);
	if (ret)
		return ret;
	b->store_rev = rev;
	/* What the load itself touched is in the store as it is; topics it
	 * had to register anew are not. */
	dirty_clear(b->dirty, true, false, true);
	st = pso_store_stats(b->store);
	pso_info("store %s: revision %llu: %llu session%s (%u connected), %llu topic%s, %llu "
		 "retained message%s restored in %llu ms%s", pso_store_spec(b->store),
		 (unsigned long long)rev, (unsigned long long)st->loaded[PSO_REC_SESSION],
		 st->loaded[PSO_REC_SESSION] == 1 ? "" : "s", l.connected,
		 (unsigned long long)st->loaded[PSO_REC_TOPIC],
		 st->loaded[PSO_REC_TOPIC] == 1 ? "" : "s",
		 (unsigned long long)st->loaded[PSO_REC_RETAINED],
		 st->loaded[PSO_REC_RETAINED] == 1 ? "" : "s",
		 (unsigned long long)(mono_ms() - t0), l.refused ? " (some refused: see above)" : "");
	return 0;
}

void pso_broker_resume_store(struct pso_broker *b)
{
	uint32_t n;

	/* A group's standby serves nothing yet: its leader's takeover does
	 * this (ha_env.c). */
	if (!b->dirty || !pso_broker_serving(b))
		return;
	n = pso_proto_resume_imported(b->proto, b->now_ms);
	if (n)
		pso_info("store: %u restored session%s resumed at %s endpoint%s, keep-alive from now",
			 n, n == 1 ? "" : "s", n == 1 ? "its" : "their", n == 1 ? "" : "s");
}

static void put_or_delete(struct pso_broker *b, int ret, struct pso_rec *rec)
{
	if (!ret) {
		pso_store_put(b->store, rec);
	} else if (ret == -ENOENT) {
		struct pso_store_key key = pso_store_key_of(rec);

		pso_store_delete(b->store, &key);
	} else {
		pso_warn("store: out of memory: a change is not written");
	}
	pso_rec_free(rec);
}

void pso_broker_flush_store(struct pso_broker *b)
{
	struct pso_dirty *d = b->dirty;
	uint64_t now_unix;
	char err[256];

	if (!d || (!d->nids && !d->ntopics && !d->nretained &&
		   !pso_store_stats(b->store)->pending))
		return;
	/* A group's standby is a copy of the store: it never writes it. */
	if (!pso_broker_serving(b)) {
		dirty_clear(d, true, true, true);
		return;
	}
	now_unix = unix_ms();
	/* Topics before the sessions that name them. */
	for (uint32_t i = 0; i < d->ntopics; i++) {
		struct pso_rec rec;

		put_or_delete(b, pso_proto_export_topic(b->proto, d->topics[i], &rec), &rec);
	}
	for (uint32_t i = 0; i < d->nretained; i++) {
		struct pso_rec rec;

		put_or_delete(b, pso_proto_export_retained(b->proto, d->retained[i], &rec), &rec);
	}
	for (size_t i = 0; i < d->nids; i++) {
		struct pso_rec rec;

		put_or_delete(b, pso_proto_export_session(b->proto, d->ids[i], now_unix, &rec),
			      &rec);
	}
	dirty_clear(d, true, true, true);
	if (!pso_store_commit(b->store, NULL, err, sizeof(err))) {
		if (b->store_failing) {
			pso_info("store %s: writing again", pso_store_spec(b->store));
			b->store_failing = false;
		}
		return;
	}
	/* Kept queued: the next round tries again. */
	if (!b->store_failing || b->now_ms - b->store_error_logged_ms >= ERROR_LOG_INTERVAL_MS) {
		pso_err("store: %s (%llu changes waiting; trying every round)", err,
			(unsigned long long)pso_store_stats(b->store)->pending);
		b->store_error_logged_ms = b->now_ms;
	}
	b->store_failing = true;
}

void pso_broker_store_health(struct pso_broker *b)
{
	bool down;

	if (!b->store || !b->dirty)
		return;
	/* A group's store is known down by any request that failed (the
	 * lease's keep-alive too) or a commit that failed.  A lone broker
	 * accepts on and keeps its changes queued until the store answers
	 * (section 12): refusing is the group's rule, where another member
	 * may have to take over what was acknowledged. */
	if (!b->ha)
		return;
	down = b->store_failing || !pso_store_stats(b->store)->reachable;
	if (down == b->store_refusing)
		return;
	b->store_refusing = down;
	pso_proto_set_refusing(b->proto, down);
	if (down)
		pso_warn("store %s cannot be written: new CONNECTs, REGISTERs and SUBSCRIBEs are "
			 "refused (0x01) until it can; publishes go on", pso_store_spec(b->store));
	else
		pso_info("store %s: control requests accepted again", pso_store_spec(b->store));
	b->status_dirty = true;
}

void pso_broker_discard_changes(struct pso_broker *b)
{
	if (b->dirty)
		dirty_clear(b->dirty, true, true, true);
}

void pso_broker_close_store(struct pso_broker *b)
{
	if (!b->store)
		return;
	pso_broker_flush_store(b);
	pso_store_close(b->store);
	b->store = NULL;
	dirty_free(b->dirty);
	b->dirty = NULL;
}
