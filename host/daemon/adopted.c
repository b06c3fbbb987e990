// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * adopted.c - placeholders for the entries of an adopted data plane that
 * no session claims (see adopted.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/adopted.h"
#include "tables/tables.h"

struct placeholder {
	struct pso_endpoint ep;	/* family 0: a free table slot */
	bool client;		/* an unclaimed client-table entry */
	bool gone;		/* expired or wholly claimed */
	uint16_t *ids;		/* topics of its unclaimed slots */
	uint32_t nids, cap;
	uint64_t rx_msgs;	/* fast-path publishes, as last read */
	uint64_t deadline_ms;
};

struct pso_adopted {
	struct pso_tables *t;
	uint64_t grace_ms;
	struct placeholder *ph;	/* open addressing by endpoint */
	uint32_t mask;
	uint32_t live;
	uint64_t claimed, expired;
};

static uint32_t ep_hash(const struct pso_endpoint *ep)
{
	uint32_t h = 2166136261u;
	const uint8_t *p = (const uint8_t *)ep;

	for (size_t i = 0; i < sizeof(*ep); i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static bool same(const struct pso_endpoint *a, const struct pso_endpoint *b)
{
	return a->family == b->family && a->port == b->port && !memcmp(a->addr, b->addr, 16);
}

static struct pso_endpoint norm(const struct pso_endpoint *in)
{
	struct pso_endpoint e = *in;

	if (e.family == PSO_AF_INET)
		memset(e.addr + 4, 0, sizeof(e.addr) - 4);
	e.pad = 0;
	return e;
}

/* ep's placeholder, or the free entry where it would go (add: made). */
static struct placeholder *find(const struct pso_adopted *a, const struct pso_endpoint *in,
				bool add)
{
	struct pso_endpoint ep = norm(in);
	uint32_t i = ep_hash(&ep) & a->mask;

	for (;;) {
		struct placeholder *p = &a->ph[i];

		if (!p->ep.family) {
			if (!add)
				return NULL;
			p->ep = ep;
			return p;
		}
		if (same(&p->ep, &ep))
			return p;
		i = (i + 1) & a->mask;
	}
}

static int add_id(struct placeholder *p, uint16_t id)
{
	if (p->nids == p->cap) {
		uint32_t cap = p->cap ? 2 * p->cap : 4;
		uint16_t *ids = realloc(p->ids, cap * sizeof(*ids));

		if (!ids)
			return -ENOMEM;
		p->ids = ids;
		p->cap = cap;
	}
	p->ids[p->nids++] = id;
	return 0;
}

static int add_client(const struct pso_endpoint *ep, void *ctx)
{
	struct pso_adopted *a = ctx;

	find(a, ep, true)->client = true;
	return 0;
}

struct pso_adopted *pso_adopted_new(struct pso_tables *t, uint64_t now_ms, uint64_t grace_ms)
{
	struct pso_adopted *a = calloc(1, sizeof(*a));
	struct pso_tables_usage u;
	uint32_t cap = 64;

	if (!a)
		return NULL;
	pso_tables_usage(t, &u);
	/* Every endpoint once, at most half full. */
	while (cap < 2 * (u.clients + u.subs) + 2)
		cap <<= 1;
	a->t = t;
	a->grace_ms = grace_ms;
	a->mask = cap - 1;
	a->ph = calloc(cap, sizeof(*a->ph));
	if (!a->ph)
		goto fail;
	if (pso_tables_foreach_client(t, add_client, a))
		goto fail;
	for (uint32_t id = 1; id < u.max_topics; id++) {
		uint32_t cap;
		const struct pso_sub *slots = pso_tables_target(t, (uint16_t)id, &cap);

		for (uint32_t i = 0; i < cap; i++) {
			struct pso_endpoint ep;

			if (!slots[i].family)
				continue;	/* a hole */
			pso_sub_endpoint(&slots[i], &ep);
			if (add_id(find(a, &ep, true), (uint16_t)id))
				goto fail;
		}
	}
	for (uint32_t i = 0; i <= a->mask; i++) {
		struct placeholder *p = &a->ph[i];
		struct pso_client_val v;

		if (!p->ep.family)
			continue;
		a->live++;
		p->deadline_ms = now_ms + grace_ms;
		if (p->client && !pso_tables_client_get(t, &p->ep, &v))
			p->rx_msgs = v.rx_msgs;
	}
	return a;
fail:
	pso_adopted_free(a);
	return NULL;
}

void pso_adopted_free(struct pso_adopted *a)
{
	if (!a)
		return;
	if (a->ph)
		for (uint32_t i = 0; i <= a->mask; i++)
			free(a->ph[i].ids);
	free(a->ph);
	free(a);
}

static void settle(struct pso_adopted *a, struct placeholder *p)
{
	if (!p->gone && !p->client && !p->nids) {
		p->gone = true;
		a->live--;
	}
}

bool pso_adopted_claim_slot(struct pso_adopted *a, uint16_t id, const struct pso_endpoint *ep)
{
	struct placeholder *p = a ? find(a, ep, false) : NULL;

	if (!p || p->gone)
		return false;
	for (uint32_t i = 0; i < p->nids; i++) {
		if (p->ids[i] != id)
			continue;
		p->ids[i] = p->ids[--p->nids];
		a->claimed++;
		settle(a, p);
		return true;
	}
	return false;
}

bool pso_adopted_claim_client(struct pso_adopted *a, const struct pso_endpoint *ep)
{
	struct placeholder *p = a ? find(a, ep, false) : NULL;

	if (!p || p->gone || !p->client)
		return false;
	p->client = false;
	a->claimed++;
	settle(a, p);
	return true;
}

bool pso_adopted_has(const struct pso_adopted *a, const struct pso_endpoint *ep)
{
	const struct placeholder *p = a ? find(a, ep, false) : NULL;

	return p && !p->gone && p->client;
}

void pso_adopted_touch(struct pso_adopted *a, const struct pso_endpoint *ep, uint64_t now_ms)
{
	struct placeholder *p = a ? find(a, ep, false) : NULL;

	if (p && !p->gone)
		p->deadline_ms = now_ms + a->grace_ms;
}

uint32_t pso_adopted_expire(struct pso_adopted *a, uint64_t now_ms, bool all)
{
	uint32_t n = 0;

	if (!a || !a->live)
		return 0;
	for (uint32_t i = 0; i <= a->mask; i++) {
		struct placeholder *p = &a->ph[i];
		struct pso_client_val v;

		if (!p->ep.family || p->gone || (!all && now_ms < p->deadline_ms))
			continue;
		/* Publishing on the fast path is being alive. */
		if (!all && p->client && !pso_tables_client_get(a->t, &p->ep, &v) &&
		    v.rx_msgs != p->rx_msgs) {
			p->rx_msgs = v.rx_msgs;
			p->deadline_ms = now_ms + a->grace_ms;
			continue;
		}
		if (p->nids)
			pso_tables_sub_remove_many(a->t, &p->ep, p->ids, (int)p->nids);
		if (p->client)
			pso_tables_client_remove(a->t, &p->ep);
		p->nids = 0;
		p->client = false;
		settle(a, p);
		a->expired++;
		n++;
	}
	return n;
}

void pso_adopted_usage(const struct pso_adopted *a, struct pso_adopted_usage *u)
{
	memset(u, 0, sizeof(*u));
	if (!a)
		return;
	u->endpoints = a->live;
	u->claimed = a->claimed;
	u->expired = a->expired;
	for (uint32_t i = 0; a->live && i <= a->mask; i++) {
		const struct placeholder *p = &a->ph[i];

		if (!p->ep.family || p->gone)
			continue;
		u->slots += p->nids;
		u->clients += p->client;
		if (!u->next_expiry_ms || p->deadline_ms < u->next_expiry_ms)
			u->next_expiry_ms = p->deadline_ms;
	}
}

int pso_adopted_foreach_topic(const struct pso_adopted *a, int (*fn)(uint16_t id, void *ctx),
			      void *ctx)
{
	uint8_t *seen;
	int ret = 0;

	if (!a)
		return 0;
	seen = calloc(65536 / 8, 1);
	if (!seen)
		return -ENOMEM;
	for (uint32_t i = 0; !ret && i <= a->mask; i++) {
		const struct placeholder *p = &a->ph[i];

		for (uint32_t j = 0; !ret && !p->gone && j < p->nids; j++) {
			uint16_t id = p->ids[j];

			if (seen[id / 8] & (1u << (id % 8)))
				continue;
			seen[id / 8] |= (uint8_t)(1u << (id % 8));
			ret = fn(id, ctx);
		}
	}
	free(seen);
	return ret;
}
