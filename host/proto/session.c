// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * session.c - clients and the (client, topic) holds their subscriptions
 * make (see session.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proto/session.h"
#include "util/log.h"

static unsigned int fnv1a(const void *data, size_t len)
{
	const uint8_t *b = data;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 16777619u;
	return h % PSO_CLIENT_HASH_SIZE;
}

static unsigned int ep_hash(const struct pso_endpoint *ep)
{
	return fnv1a(ep, sizeof(*ep));
}

static unsigned int id_hash(const char *id)
{
	return fnv1a(id, strlen(id));
}

struct pso_client *pso_client_find(struct pso_proto *p, const struct pso_endpoint *ep)
{
	for (struct pso_client *c = p->by_ep[ep_hash(ep)]; c; c = c->next_ep)
		if (!memcmp(&c->ep, ep, sizeof(*ep)))
			return c;
	return NULL;
}

struct pso_client *pso_client_find_id(struct pso_proto *p, const char *id)
{
	for (struct pso_client *c = p->by_id[id_hash(id)]; c; c = c->next_id)
		if (!strcmp(c->id, id))
			return c;
	return NULL;
}

static void link_ep(struct pso_proto *p, struct pso_client *c)
{
	unsigned int he = ep_hash(&c->ep);

	c->next_ep = p->by_ep[he];
	p->by_ep[he] = c;
	c->connected = true;
	p->nclients++;
}

static void unlink_ep(struct pso_proto *p, struct pso_client *c)
{
	struct pso_client **pp;

	for (pp = &p->by_ep[ep_hash(&c->ep)]; *pp && *pp != c; pp = &(*pp)->next_ep)
		;
	if (*pp)
		*pp = c->next_ep;
	c->connected = false;
	p->nclients--;
}

struct pso_client *pso_client_new(struct pso_proto *p, const struct pso_endpoint *ep,
				  const struct in6_pktinfo *local, const char *id)
{
	struct pso_client *c = calloc(1, sizeof(*c));
	unsigned int hi;

	if (!c)
		return NULL;
	c->ep = *ep;
	c->local = *local;
	snprintf(c->id, sizeof(c->id), "%s", id);
	hi = id_hash(c->id);
	c->next_id = p->by_id[hi];
	p->by_id[hi] = c;
	p->nsessions++;
	link_ep(p, c);
	pso_session_touch(p, c);
	return c;
}

struct pso_client *pso_client_new_offline(struct pso_proto *p, const char *id)
{
	struct pso_client *c = calloc(1, sizeof(*c));
	unsigned int hi;

	if (!c)
		return NULL;
	snprintf(c->id, sizeof(c->id), "%s", id);
	hi = id_hash(c->id);
	c->next_id = p->by_id[hi];
	p->by_id[hi] = c;
	p->nsessions++;
	return c;
}

static void unlink_id(struct pso_proto *p, struct pso_client *c)
{
	struct pso_client **pp;

	for (pp = &p->by_id[id_hash(c->id)]; *pp && *pp != c; pp = &(*pp)->next_id)
		;
	if (*pp)
		*pp = c->next_id;
	p->nsessions--;
}

void pso_client_resolve(struct pso_proto *p, struct pso_client *c)
{
	memset(&c->slot, 0, sizeof(c->slot));
	if (pso_client_forwarded(c)) {
		/* Its placeholder, never servable: the daemon delivers. */
		c->slot.family = c->ep.family;
		memcpy(c->slot.dst_addr, c->ep.addr, sizeof(c->slot.dst_addr));
		return;
	}
	p->ops->resolve(p->ctx, &c->ep, &c->local, &c->slot);
}

void pso_client_log_next_hop(struct pso_proto *p, const struct pso_client *c)
{
	const uint8_t *m = c->slot.dst_mac;

	if (c->slot.flags & PSO_SUB_F_RESOLVED)
		pso_info("client %s: next hop resolved via %s (%02x:%02x:%02x:%02x:%02x:%02x)",
			 c->id, p->ops->ifname(p->ctx, c->slot.ifindex), m[0], m[1], m[2], m[3], m[4],
			 m[5]);
	else
		pso_info("client %s: next hop unresolved: the daemon delivers to it", c->id);
}

/* The slot of one hold: where c is reached, in the hold's form. */
static struct pso_sub hold_slot(const struct pso_client *c, enum pso_form form)
{
	struct pso_sub slot = c->slot;

	/* Asleep, or its address not proven (validate.c): the daemon keeps
	 * what comes for it. */
	if (c->asleep || !c->v.ok)
		slot.flags &= ~PSO_SUB_F_RESOLVED;
	if (form == PSO_FORM_PREDEFINED)
		slot.flags |= PSO_SUB_F_PREDEFINED;
	else if (form == PSO_FORM_SHORT)
		slot.flags |= PSO_SUB_F_SHORT;
	return slot;
}

static struct pso_hold *hold_of(const struct pso_client *c, uint16_t id, int *index)
{
	for (int i = 0; i < c->nheld; i++) {
		if (c->held[i]->id == id) {
			if (index)
				*index = i;
			return c->held[i];
		}
	}
	return NULL;
}

struct pso_hold *pso_client_hold_of(const struct pso_client *c, uint16_t id)
{
	return hold_of(c, id, NULL);
}

/*
 * Hold h has no slot (on) or has one again (off).  The topic's first
 * slotless hold sets PSO_TOPIC_F_HOST before the daemon is counted on to
 * deliver to it; the last one clears it after the hold has its slot, so
 * no publish is lost in between (one the data plane served as well goes
 * to nobody twice: the daemon asks slot_served).
 */
static void hold_set_slotless(struct pso_proto *p, struct pso_hold *h, bool on)
{
	if (h->slotless == on)
		return;
	h->slotless = on;
	if (on ? p->slotless[h->id]++ == 0 : --p->slotless[h->id] == 0)
		pso_topic_refresh(p, h->id);
}

int pso_client_hold(struct pso_proto *p, struct pso_client *c, uint16_t id, enum pso_form form,
		    bool overflow, bool *added)
{
	bool slotless = false;

	struct pso_hold *h = hold_of(c, id, NULL), **grown;
	struct pso_sub slot = hold_slot(c, form);
	int ret;

	*added = false;
	if (h) {
		h->refs++;
		return 0;
	}
	if (!pso_quota_hold(p, c))
		return -EDQUOT;
	grown = realloc(c->held, (c->nheld + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	c->held = grown;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	/* Not servable until the client knows what it will receive; an
	 * offline session gets its slots when it is back. */
	slot.flags &= ~PSO_SUB_F_RESOLVED;
	ret = c->connected ? p->ops->slot_add(p->ctx, id, &slot) : 0;
	if (ret == -ENOSPC && overflow) {
		p->stats.overflow++;
		pso_info("topic %u: no slot left for client %s: the daemon delivers to it", id,
			 c->id);
		slotless = true;
	} else if (ret && ret != -EEXIST) {
		free(h);
		return ret;
	}
	*h = (struct pso_hold){ .c = c, .id = id, .refs = 1, .form = form,
				.told = pso_client_reachable(c), .next = p->topic_holds[id] };
	if (h->next)
		h->next->prev = h;
	p->topic_holds[id] = h;
	c->held[c->nheld++] = h;
	hold_set_slotless(p, h, slotless);
	*added = c->connected && !slotless;
	return 0;
}

/* Hold i of c leaves its topic's list and c; no table call. */
static void hold_free(struct pso_proto *p, struct pso_client *c, int i)
{
	struct pso_hold *h = c->held[i];

	hold_set_slotless(p, h, false);
	if (h->prev)
		h->prev->next = h->next;
	else
		p->topic_holds[h->id] = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pso_topic_touch(p, h->id);	/* idle from now, if it was the last */
	c->held[i] = c->held[--c->nheld];
	free(h);
}

int pso_client_held_ids(const struct pso_client *c, uint16_t *ids)
{
	int n = 0;

	/* A slotless hold has no slot of c in its topic to rewrite. */
	for (int i = 0; i < c->nheld; i++)
		if (!c->held[i]->slotless)
			ids[n++] = c->held[i]->id;
	return n;
}

/*
 * A slot of topic id was given back: the first slotless hold of the topic
 * takes it (added not servable, enabled, then counted as slotless no
 * more, so the daemon serves it until the data plane does).
 */
static void promote_slotless(struct pso_proto *p, uint16_t id)
{
	if (!p->slotless[id])
		return;
	for (struct pso_hold *h = p->topic_holds[id]; h; h = h->next) {
		struct pso_sub slot;

		if (!h->slotless)
			continue;
		slot = hold_slot(h->c, h->form);
		slot.flags &= ~PSO_SUB_F_RESOLVED;
		if (p->ops->slot_add(p->ctx, id, &slot))
			return;
		pso_client_enable(p, h->c, &id, 1);
		hold_set_slotless(p, h, false);
		pso_info("topic %u: client %s has a slot again", id, h->c->id);
		return;
	}
}

/* Slots of c in topics ids (n of them) leave the tables together; each
 * place freed goes to a slotless hold of its topic. */
static void remove_slots(struct pso_proto *p, struct pso_client *c, const uint16_t *ids, int n)
{
	if (!n)
		return;
	p->ops->slots_remove(p->ctx, &c->ep, ids, n);
	for (int i = 0; i < n; i++)
		promote_slotless(p, ids[i]);
}

void pso_client_release(struct pso_proto *p, struct pso_client *c, const uint16_t *ids, int n)
{
	uint16_t gone[n ? n : 1];
	int ngone = 0;

	for (int k = 0; k < n; k++) {
		int i;
		struct pso_hold *h = hold_of(c, ids[k], &i);

		if (!h || --h->refs > 0)
			continue;
		if (!h->slotless)
			gone[ngone++] = ids[k];
		hold_free(p, c, i);
	}
	if (c->connected)
		remove_slots(p, c, gone, ngone);
}

void pso_client_enable(struct pso_proto *p, struct pso_client *c, const uint16_t *ids, int n)
{
	uint16_t group[n ? n : 1];

	/* One table call per form: each writes one slot template. */
	for (enum pso_form form = PSO_FORM_NORMAL; form <= PSO_FORM_SHORT; form++) {
		struct pso_sub slot = hold_slot(c, form);
		int m = 0;

		for (int i = 0; i < n; i++) {
			const struct pso_hold *h = hold_of(c, ids[i], NULL);

			if (h && h->form == form)
				group[m++] = ids[i];
		}
		if (m)
			p->ops->slots_set(p->ctx, &slot, group, m);
	}
}

void pso_subscription_free(struct pso_subscription *s)
{
	free(s->filter);
	free(s->ids);
	s->filter = NULL;
	s->ids = NULL;
	s->nids = 0;
}

void pso_client_detach(struct pso_proto *p, struct pso_client *c)
{
	if (!c->connected)
		return;
	if (c->nheld) {
		uint16_t ids[c->nheld];
		int n = 0;

		/* Every slot at once: one table change for all of them. */
		for (int i = 0; i < c->nheld; i++) {
			if (c->held[i]->slotless)
				hold_set_slotless(p, c->held[i], false);
			else
				ids[n++] = c->held[i]->id;
		}
		remove_slots(p, c, ids, n);
	}
	if (!pso_client_forwarded(c))
		p->ops->client_remove(p->ctx, &c->ep);
	unlink_ep(p, c);
	c->lost_ms = p->now_ms;
	/* Awake when it is back; what was buffered for its sleep stays
	 * with the session. */
	c->asleep = c->awake = false;
	pso_outbox_away(c);
	pso_session_touch(p, c);
}

/* Topic id is no longer held by c: the subscriptions that want it forget
 * it (an exact one goes, a filter drops the id). */
static void forget_topic(struct pso_client *c, uint16_t id)
{
	for (int i = 0; i < c->nsubs; i++) {
		struct pso_subscription *s = &c->subs[i];

		if (s->kind == PSO_SUB_FILTER) {
			for (int k = 0; k < s->nids; k++)
				if (s->ids[k] == id)
					s->ids[k--] = s->ids[--s->nids];
		} else if (s->topic_id == id) {
			pso_subscription_free(s);
			*s = c->subs[--c->nsubs];
			i--;
		}
	}
}

void pso_client_attach(struct pso_proto *p, struct pso_client *c, const struct pso_endpoint *ep,
		       const struct in6_pktinfo *local)
{
	c->ep = *ep;
	c->local = *local;
	link_ep(p, c);
	pso_session_touch(p, c);
	pso_client_resolve(p, c);
	for (int i = 0; i < c->nheld; i++) {
		struct pso_hold *h = c->held[i];
		struct pso_sub slot = hold_slot(c, h->form);
		int ret;

		slot.flags &= ~PSO_SUB_F_RESOLVED;
		ret = p->ops->slot_add(p->ctx, h->id, &slot);
		if (!ret || ret == -EEXIST)
			continue;
		if (ret == -ENOSPC) {
			/* Its SUBACK was given: the daemon serves it. */
			p->stats.overflow++;
			pso_info("client %s: no slot left in topic %u: the daemon delivers to it",
				 c->id, h->id);
			hold_set_slotless(p, h, true);
			continue;
		}
		p->stats.congestion++;
		pso_warn("client %s: topic %u: %s: its subscription to it ends", c->id, h->id,
			 strerror(-ret));
		forget_topic(c, h->id);
		hold_free(p, c, i--);
	}
}

void pso_client_filters_add(struct pso_proto *p, struct pso_client *c, int delta)
{
	bool was = c->nfilters > 0;

	c->nfilters += delta;
	if (was == (c->nfilters > 0))
		return;
	if (c->nfilters > 0) {
		c->prev_filter = NULL;
		c->next_filter = p->filter_clients;
		if (c->next_filter)
			c->next_filter->prev_filter = c;
		p->filter_clients = c;
		return;
	}
	if (c->prev_filter)
		c->prev_filter->next_filter = c->next_filter;
	else
		p->filter_clients = c->next_filter;
	if (c->next_filter)
		c->next_filter->prev_filter = c->prev_filter;
	c->next_filter = c->prev_filter = NULL;
}

void pso_client_remove(struct pso_proto *p, struct pso_client *c, const char *why)
{
	char s[64];
	bool was_connected = c->connected;

	pso_client_detach(p, c);
	pso_session_touch(p, c);	/* ends: the store deletes it */
	while (c->nheld)
		hold_free(p, c, 0);
	for (int i = 0; i < c->nsubs; i++)
		pso_subscription_free(&c->subs[i]);
	pso_client_filters_add(p, c, -c->nfilters);
	unlink_id(p, c);
	pso_fwd_set(p, c, NULL, NULL, NULL);
	pso_outbox_free(p, c);
	pso_will_free(&c->will);
	pso_sleep_free(p, c);
	pso_valid_free(p, c);
	pso_quota_client_gone(p, c);
	pso_client_forget_all(p, c);
	if (was_connected)
		pso_info("client %s (%s) %s", c->id, pso_endpoint_str(&c->ep, s, sizeof(s)), why);
	else
		pso_info("client %s %s", c->id, why);
	free(c->subs);
	free(c->held);
	free(c);
}
