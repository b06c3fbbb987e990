// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tblcheck.c - replaying table writes as the data plane's readers see
 * them (tblcheck.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tblcheck.h"

static void __attribute__((format(printf, 2, 3))) violation(struct tblcheck *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
}

static bool same_content(const struct pso_sub *a, const struct pso_sub *b)
{
	struct pso_sub x = *a, y = *b;

	x.flags = y.flags = 0;
	return !memcmp(&x, &y, sizeof(x));
}

static bool same_ep(const struct pso_sub *a, const struct pso_sub *b)
{
	return a->family == b->family && a->dst_port == b->dst_port &&
	       !memcmp(a->dst_addr, b->dst_addr, sizeof(a->dst_addr));
}

static uint32_t cur_base(const struct tblcheck *c, uint32_t id)
{
	return c->runs[id].base[c->runs[id].cur & 1];
}

static uint32_t cur_cap(const struct tblcheck *c, uint32_t id)
{
	return c->runs[id].cap[c->runs[id].cur & 1];
}

int tblcheck_init(struct tblcheck *c, uint32_t ntopics, uint32_t npool,
		  const struct pso_topic *topics, const struct pso_run *runs,
		  const struct pso_sub *subs)
{
	memset(c, 0, sizeof(*c));
	c->ntopics = ntopics;
	c->npool = npool;
	c->topics = malloc(ntopics * sizeof(*topics));
	c->runs = malloc(ntopics * sizeof(*runs));
	c->subs = malloc(npool * sizeof(*subs));
	c->dis = malloc((npool + ntopics) * sizeof(*c->dis));
	c->half_left = malloc(ntopics * sizeof(*c->half_left));
	c->left = calloc(ntopics * TBLCHECK_MAX_LEFT, sizeof(*c->left));
	c->nleft = calloc(ntopics, 1);
	if (!c->topics || !c->runs || !c->subs || !c->dis || !c->half_left || !c->left ||
	    !c->nleft) {
		tblcheck_free(c);
		return -1;
	}
	memcpy(c->topics, topics, ntopics * sizeof(*topics));
	memcpy(c->runs, runs, ntopics * sizeof(*runs));
	memcpy(c->subs, subs, npool * sizeof(*subs));
	for (uint32_t i = 0; i < npool + ntopics; i++)
		c->dis[i] = -1;
	/* What happened before the log: assume the worst of nothing. */
	for (uint32_t i = 0; i < ntopics; i++)
		c->half_left[i] = -1;
	return 0;
}

void tblcheck_free(struct tblcheck *c)
{
	free(c->topics);
	free(c->runs);
	free(c->subs);
	free(c->dis);
	free(c->half_left);
	free(c->left);
	free(c->nleft);
	memset(c, 0, sizeof(*c));
}

/* May a reader walk pool slot key now? Which topic's run holds it. */
static bool readable(const struct tblcheck *c, uint32_t key, uint32_t *owner)
{
	for (uint32_t id = 0; id < c->ntopics; id++) {
		if (key >= cur_base(c, id) && key - cur_base(c, id) < cur_cap(c, id)) {
			*owner = id;
			return true;
		}
		for (int k = 0; k < c->nleft[id]; k++) {
			const struct tblcheck_left *l = &c->left[id * TBLCHECK_MAX_LEFT + k];

			if (key >= l->base && key - l->base < l->cap) {
				*owner = id;
				return true;
			}
		}
	}
	return false;
}

static void check_one_write(struct tblcheck *c, int n, const char *what, uint32_t key,
			    const struct pso_sub *before, const struct pso_sub *after)
{
	if (!same_content(before, after) && (before->flags || after->flags))
		violation(c, "write %d: %s %u content changed with flags %#x -> %#x", n, what, key,
			  before->flags, after->flags);
}

/* No subscriber servable twice in the slots base .. base+cap-1. */
static void check_twice(struct tblcheck *c, int n, uint32_t base, uint32_t cap)
{
	for (uint32_t i = 0; i < cap && base + i < c->npool; i++) {
		const struct pso_sub *a = &c->subs[base + i];

		if (!(a->flags & PSO_SUB_F_RESOLVED))
			continue;
		for (uint32_t j = i + 1; j < cap && base + j < c->npool; j++) {
			const struct pso_sub *b = &c->subs[base + j];

			if ((b->flags & PSO_SUB_F_RESOLVED) && same_ep(a, b))
				violation(c, "write %d: one subscriber servable in slots %u and %u", n,
					  base + i, base + j);
		}
	}
}

void tblcheck_topic(struct tblcheck *c, int n, uint32_t id, const struct pso_topic *v)
{
	struct pso_topic *cur = &c->topics[id];
	int *dis = &c->dis[c->npool + id];

	check_one_write(c, n, "first of topic", id, &cur->first, &v->first);
	if (*dis >= 0 && !same_content(&cur->first, &v->first))
		violation(c, "write %d: topic %u first rewritten before its grace period ended", n,
			  id);
	if ((cur->first.flags & PSO_SUB_F_RESOLVED) && !(v->first.flags & PSO_SUB_F_RESOLVED))
		*dis = n;
	if (v->sub_count > PSO_SUB_COUNT_MAX)
		violation(c, "write %d: topic %u sub_count %u above %u (its high byte may tear)", n,
			  id, v->sub_count, PSO_SUB_COUNT_MAX);
	*cur = *v;
}

/* The servable subscribers of two runs, compared whole (a disabled one,
 * a removal's, may be left behind). */
static bool same_subscribers(const struct tblcheck *c, uint32_t ab, uint32_t ac, uint32_t bb,
			     uint32_t bc)
{
	uint32_t na = 0, nb = 0;

	for (uint32_t i = 0; i < ac; i++)
		na += (c->subs[ab + i].flags & PSO_SUB_F_RESOLVED) != 0;
	for (uint32_t j = 0; j < bc; j++)
		nb += (c->subs[bb + j].flags & PSO_SUB_F_RESOLVED) != 0;
	if (na != nb)
		return false;
	for (uint32_t i = 0; i < ac; i++) {
		const struct pso_sub *a = &c->subs[ab + i];
		uint32_t found = 0;

		if (!(a->flags & PSO_SUB_F_RESOLVED))
			continue;
		for (uint32_t j = 0; j < bc; j++)
			found += !memcmp(a, &c->subs[bb + j], sizeof(*a));
		if (found != 1)
			return false;
	}
	return true;
}

void tblcheck_run(struct tblcheck *c, int n, uint32_t id, const struct pso_run *v)
{
	struct pso_run *cur = &c->runs[id];
	unsigned a = cur->cur & 1, b = a ^ 1;

	if (v->cur > 1) {
		violation(c, "write %d: topic %u run half %u", n, id, v->cur);
		return;
	}
	if (v->cur != cur->cur) {
		/* The flip: nothing else may change in the same write. */
		if (memcmp(v->base, cur->base, sizeof(v->base)) ||
		    memcmp(v->cap, cur->cap, sizeof(v->cap))) {
			violation(c, "write %d: topic %u run flipped and rewritten at once", n, id);
			return;
		}
		if (v->cap[b] && v->base[b] + v->cap[b] > c->npool)
			violation(c, "write %d: topic %u run past the pool", n, id);
		else if (!same_subscribers(c, cur->base[a], cur->cap[a], v->base[b], v->cap[b]))
			violation(c, "write %d: topic %u flipped to a run with other subscribers", n,
				  id);
		for (uint32_t o = 0; o < c->ntopics; o++) {
			uint32_t ob = cur_base(c, o), oc = cur_cap(c, o);

			if (o != id && oc && v->cap[b] && v->base[b] < ob + oc &&
			    ob < v->base[b] + v->cap[b])
				violation(c, "write %d: topic %u flipped onto topic %u's run", n, id, o);
		}
		if (cur->cap[a]) {
			if (c->nleft[id] == TBLCHECK_MAX_LEFT)
				violation(c, "write %d: topic %u left too many runs within a grace "
					  "period", n, id);
			else
				c->left[id * TBLCHECK_MAX_LEFT + c->nleft[id]++] =
					(struct tblcheck_left){ cur->base[a], cur->cap[a], n };
		}
		c->half_left[id] = n;
		*cur = *v;
		check_twice(c, n, cur_base(c, id), cur_cap(c, id));
		return;
	}
	if (v->base[a] != cur->base[a] || v->cap[a] != cur->cap[a])
		violation(c, "write %d: topic %u: the half readers use rewritten", n, id);
	if ((v->base[b] != cur->base[b] || v->cap[b] != cur->cap[b]) && c->half_left[id] >= 0)
		violation(c, "write %d: topic %u: the half readers left rewritten before a grace "
			  "period", n, id);
	*cur = *v;
}

void tblcheck_slot(struct tblcheck *c, int n, uint32_t key, const struct pso_sub *v)
{
	struct pso_sub *cur;
	uint32_t owner;

	if (key >= c->npool) {
		violation(c, "write %d: pool slot %u outside the pool", n, key);
		return;
	}
	cur = &c->subs[key];
	if (readable(c, key, &owner)) {
		check_one_write(c, n, "pool slot", key, cur, v);
		if (c->dis[key] >= 0 && !same_content(cur, v))
			violation(c, "write %d: pool slot %u rewritten before its grace period ended",
				  n, key);
	}
	if ((cur->flags & PSO_SUB_F_RESOLVED) && !(v->flags & PSO_SUB_F_RESOLVED))
		c->dis[key] = n;
	*cur = *v;
	if (readable(c, key, &owner)) {
		check_twice(c, n, cur_base(c, owner), cur_cap(c, owner));
		for (int k = 0; k < c->nleft[owner]; k++)
			check_twice(c, n, c->left[owner * TBLCHECK_MAX_LEFT + k].base,
				    c->left[owner * TBLCHECK_MAX_LEFT + k].cap);
	}
}

void tblcheck_sync(struct tblcheck *c, int start_n)
{
	for (uint32_t i = 0; i < c->npool + c->ntopics; i++)
		if (c->dis[i] >= 0 && c->dis[i] < start_n)
			c->dis[i] = -1;
	for (uint32_t id = 0; id < c->ntopics; id++) {
		uint8_t kept = 0;

		if (c->half_left[id] >= 0 && c->half_left[id] < start_n)
			c->half_left[id] = -1;
		for (int k = 0; k < c->nleft[id]; k++) {
			struct tblcheck_left *l = &c->left[id * TBLCHECK_MAX_LEFT + k];

			if (l->since >= start_n)
				c->left[id * TBLCHECK_MAX_LEFT + kept++] = *l;
		}
		c->nleft[id] = kept;
	}
}

int tblcheck_equal(struct tblcheck *c, const struct pso_topic *topics,
		   const struct pso_run *runs, const struct pso_sub *subs)
{
	if (c->err[0])
		return -1;
	if (memcmp(c->topics, topics, c->ntopics * sizeof(*topics)))
		violation(c, "the replay's topics differ from the tables'");
	else if (memcmp(c->runs, runs, c->ntopics * sizeof(*runs)))
		violation(c, "the replay's runs differ from the tables'");
	else if (memcmp(c->subs, subs, c->npool * sizeof(*subs)))
		violation(c, "the replay's pool differs from the tables'");
	return c->err[0] ? -1 : 0;
}
