// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * recycle.c - topics nobody uses are freed, and their ids come back.
 *
 * A registered topic is in use while any of these holds:
 *   - a subscriber holds it (an exact or a wildcard hold, a kept session's
 *     offline holds included);
 *   - it has a retained message;
 *   - it is predefined, or the broker's own validation topic;
 *   - a session knows its id: it REGISTERed the name, subscribed by name
 *     (its SUBACK says the id) or was sent a REGISTER for it.  MQTT-SN
 *     registrations last as long as the session, so a kept (CleanSession 0)
 *     session, connected, asleep or offline, keeps every id it knows.
 * pso_topics_sweep() (once a second, from pso_proto_tick) notes when each
 * topic was last in use; one idle for cfg.topic_idle_s (0: never) is freed:
 *   1. ops->topic_free() takes it out of the data plane (-EBUSY: the tables
 *      still hold something of it; tried again at the next sweep);
 *   2. the registry forgets its name and quarantines the id; the store is
 *      told (ops->topic_changed), and deletes the record in the same round;
 *   3. once ops->topic_reusable() says the data plane holds no trace of it
 *      (a grace period after the entry went, its counters zeroed) and at
 *      least PSO_TOPIC_QUARANTINE_MS have passed, the id is free again,
 *      behind every id freed before it (topics.c).
 * A publish to the id that the kernel received before the id named its new
 * topic (SO_TIMESTAMPNS, pso_rx.rx_ns) was meant for the old one: it is
 * treated as a publish to an unknown id ("invalid topic id", counted as
 * late_publishes), never delivered to the new topic's subscribers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "proto/session.h"
#include "proto/topics.h"
#include "util/log.h"

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int pso_recycle_init(struct pso_proto *p)
{
	uint32_t n = p->cfg.max_topics;

	p->topic_used_ms = calloc(n, sizeof(*p->topic_used_ms));
	p->known_by = calloc(n, sizeof(*p->known_by));
	p->topic_born_ns = calloc(n, sizeof(*p->topic_born_ns));
	p->freed_ms = calloc(n, sizeof(*p->freed_ms));
	p->quarantine = calloc(n, sizeof(*p->quarantine));
	if (!p->topic_used_ms || !p->known_by || !p->topic_born_ns || !p->freed_ms ||
	    !p->quarantine)
		return -ENOMEM;
	return 0;
}

void pso_recycle_free(struct pso_proto *p)
{
	free(p->topic_used_ms);
	free(p->known_by);
	free(p->topic_born_ns);
	free(p->freed_ms);
	free(p->quarantine);
}

/* The first index of c->known not below id. */
static uint32_t known_pos(const struct pso_client *c, uint16_t id)
{
	uint32_t lo = 0, hi = c->nknown;

	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;

		if (c->known[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool pso_client_knows(const struct pso_client *c, uint16_t id)
{
	uint32_t i = known_pos(c, id);

	return i < c->nknown && c->known[i] == id;
}

int pso_client_know(struct pso_proto *p, struct pso_client *c, uint16_t id)
{
	uint32_t i;

	if (!id || id >= p->cfg.max_topics || pso_registry_is_predefined(p->reg, id))
		return 0;	/* predefined ids are never freed */
	i = known_pos(c, id);
	if (i < c->nknown && c->known[i] == id)
		return 0;
	if (c->nknown == c->known_cap) {
		uint32_t cap = c->known_cap ? 2 * c->known_cap : 8;
		uint16_t *grown = realloc(c->known, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		c->known = grown;
		c->known_cap = cap;
	}
	memmove(c->known + i + 1, c->known + i, (c->nknown - i) * sizeof(*c->known));
	c->known[i] = id;
	c->nknown++;
	p->known_by[id]++;
	pso_session_touch(p, c);	/* its record lists what it knows */
	return 0;
}

void pso_client_forget_all(struct pso_proto *p, struct pso_client *c)
{
	for (uint32_t i = 0; i < c->nknown; i++) {
		uint16_t id = c->known[i];

		if (p->known_by[id])
			p->known_by[id]--;
		/* Idle from now, not from before this session went. */
		p->topic_used_ms[id] = p->now_ms;
	}
	free(c->known);
	c->known = NULL;
	c->nknown = c->known_cap = 0;
}

void pso_topic_touch(struct pso_proto *p, uint16_t id)
{
	if (id && id < p->cfg.max_topics)
		p->topic_used_ms[id] = p->now_ms ? p->now_ms : 1;
}

bool pso_topic_in_use(const struct pso_proto *p, uint16_t id)
{
	return pso_registry_is_predefined(p->reg, id) || id == p->valid_topic ||
	       p->topic_holds[id] || p->retained[id] || p->known_by[id];
}

void pso_topic_reborn(struct pso_proto *p, uint16_t id)
{
	if (!p->freed_ms[id])
		return;		/* a fresh id: nothing was meant for it before */
	p->freed_ms[id] = 0;
	p->topic_born_ns[id] = realtime_ns();
	p->stats.topics_reused++;
}

bool pso_topic_late(struct pso_proto *p, uint16_t id, uint64_t rx_ns)
{
	if (!rx_ns || id >= p->cfg.max_topics || rx_ns >= p->topic_born_ns[id])
		return false;
	p->stats.late_publishes++;
	return true;
}

/* Step 1 and 2 for one idle topic: 0, or the data plane's -EBUSY.  Its
 * name goes to name (the first of a sweep's is logged at info). */
static int topic_free(struct pso_proto *p, uint16_t id, char *name, size_t cap)
{
	uint64_t idle_s = (p->now_ms - p->topic_used_ms[id]) / 1000;
	int ret = p->ops->topic_free ? p->ops->topic_free(p->ctx, id) : 0;

	if (ret) {
		if (ret != -EBUSY)
			pso_warn("topic %u: cannot free it: %s", id, strerror(-ret));
		return ret;
	}
	snprintf(name, cap, "%s", pso_registry_name(p->reg, id));
	pso_registry_release(p->reg, id);
	p->freed_ms[id] = p->now_ms ? p->now_ms : 1;
	p->topic_born_ns[id] = 0;
	p->quarantine[p->nquarantine++] = id;
	p->stats.topics_freed++;
	if (p->ops->topic_changed)
		p->ops->topic_changed(p->ctx, id);	/* gone: the store deletes it */
	pso_debug("topic %u freed: %s (idle %llus)", id, name, (unsigned long long)idle_s);
	return 0;
}

/* Step 3: the quarantined ids whose old topic has left no trace. */
static void quarantine_end(struct pso_proto *p)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < p->nquarantine; i++) {
		uint16_t id = p->quarantine[i];

		if (!pso_registry_is_quarantined(p->reg, id))
			continue;	/* predefined by a reload meanwhile */
		if (p->now_ms - p->freed_ms[id] < PSO_TOPIC_QUARANTINE_MS ||
		    (p->ops->topic_reusable && !p->ops->topic_reusable(p->ctx, id))) {
			p->quarantine[kept++] = id;
			continue;
		}
		pso_registry_reuse(p->reg, id);
		pso_debug("topic id %u free again", id);
	}
	p->nquarantine = kept;
}

void pso_topics_sweep(struct pso_proto *p)
{
	uint64_t idle_ms = (uint64_t)p->cfg.topic_idle_s * 1000;
	char name[PSO_TOPIC_NAME_MAX + 1], other[PSO_TOPIC_NAME_MAX + 1];
	uint32_t nfreed = 0;
	uint16_t first = 0;

	if (p->now_ms < p->sweep_ms + PSO_TOPIC_SWEEP_MS && p->sweep_ms)
		return;
	p->sweep_ms = p->now_ms ? p->now_ms : 1;
	quarantine_end(p);
	if (!idle_ms)
		return;
	for (uint32_t id = 1; id < p->cfg.max_topics; id++) {
		if (!pso_registry_name(p->reg, id))
			continue;
		if (!p->topic_used_ms[id] || pso_topic_in_use(p, id)) {
			pso_topic_touch(p, id);
			continue;
		}
		if (p->now_ms - p->topic_used_ms[id] < idle_ms)
			continue;
		if (topic_free(p, id, nfreed ? other : name, sizeof(name)))
			continue;
		if (!nfreed++)
			first = (uint16_t)id;
	}
	/* One line a sweep: a broker whose clients come and go frees many. */
	if (nfreed == 1)
		pso_info("topic %u freed: %s (idle %us)", first, name, p->cfg.topic_idle_s);
	else if (nfreed)
		pso_info("%u idle topics freed (idle %us), topic %u first: %s", nfreed,
			 p->cfg.topic_idle_s, first, name);
}
