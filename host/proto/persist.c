// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * persist.c - sessions, registered topics and retained messages to and
 * from plain records (persist.h), for the store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proto/persist.h"
#include "proto/session.h"
#include "proto/topics.h"
#include "util/log.h"

_Static_assert(sizeof(((struct pso_rec_session *)0)->qos2) ==
	       sizeof(((struct pso_client *)0)->qos2_pending), "qos2 pending ids");

void pso_rec_free(struct pso_rec *rec)
{
	switch (rec->kind) {
	case PSO_REC_SESSION: {
		struct pso_rec_session *s = &rec->s;

		for (int i = 0; i < s->nsubs; i++)
			free(s->subs[i].filter);
		for (int i = 0; i < s->nmsgs; i++)
			free(s->msgs[i].data);
		free(s->subs);
		free(s->msgs);
		free(s->told);
		free(s->will_topic);
		free(s->will_msg);
		free(s->validation);
		break;
	}
	case PSO_REC_TOPIC:
		free(rec->t.name);
		break;
	case PSO_REC_RETAINED:
		free(rec->r.data);
		break;
	}
	memset(rec, 0, sizeof(*rec));
}

static void *dup_bytes(const void *data, size_t len)
{
	void *copy = malloc(len ? len : 1);

	if (copy && len)
		memcpy(copy, data, len);
	return copy;
}

static int export_msgs(struct pso_rec_session *s, const struct pso_outmsg *o, enum pso_rec_box box)
{
	for (; o; o = o->next) {
		struct pso_rec_msg *m = &s->msgs[s->nmsgs];

		*m = (struct pso_rec_msg){
			.box = box, .state = o->state, .sent_before = o->sent_before,
			.msg_id = o->msg_id, .flags = o->flags, .topic_field = o->topic_field,
			.len = o->len, .data = dup_bytes(o->data, o->len),
		};
		if (!m->data)
			return -ENOMEM;
		s->nmsgs++;
	}
	return 0;
}

int pso_proto_export_session(struct pso_proto *p, const char *client_id, uint64_t now_unix_ms,
			     struct pso_rec *rec)
{
	struct pso_client *c = pso_client_find_id(p, client_id);
	struct pso_rec_session *s = &rec->s;

	memset(rec, 0, sizeof(*rec));
	rec->kind = PSO_REC_SESSION;
	snprintf(s->id, sizeof(s->id), "%s", client_id);	/* the key, even of a delete */
	if (!c)
		return -ENOENT;
	s->clean = c->clean;
	s->connected = c->connected;
	s->asleep = c->asleep;
	if (c->connected && !pso_client_forwarded(c)) {
		s->ep = c->ep;
		s->local = c->local;
	}
	if (pso_client_forwarded(c)) {
		s->fwd = c->fwd;
		s->fwd_ep = c->fwd_ep;
		s->fwd_local = c->fwd_local;
	}
	s->keepalive_s = c->keepalive_s;
	s->sleep_s = c->sleep_s;
	s->next_msg_id = c->next_msg_id;
	if (!c->connected) {
		uint64_t age = p->now_ms > c->lost_ms ? p->now_ms - c->lost_ms : 0;

		s->lost_unix_ms = now_unix_ms > age ? now_unix_ms - age : 0;
	}
	s->nqos2 = c->nqos2;
	memcpy(s->qos2, c->qos2_pending, sizeof(s->qos2));
	if (c->will.topic) {
		s->will_topic = strdup(c->will.topic);
		s->will_flags = c->will.flags;
		s->will_msg = dup_bytes(c->will.msg, c->will.len);
		s->will_len = c->will.len;
		if (!s->will_topic || !s->will_msg)
			goto nomem;
	}
	s->subs = calloc(c->nsubs ? c->nsubs : 1, sizeof(*s->subs));
	s->told = calloc(c->nheld + c->nknown + 1, sizeof(*s->told));
	s->msgs = calloc(c->out_len + c->zz_len + 1, sizeof(*s->msgs));
	if (!s->subs || !s->told || !s->msgs)
		goto nomem;
	for (int i = 0; i < c->nsubs; i++) {
		const struct pso_subscription *sub = &c->subs[i];
		struct pso_rec_sub *r = &s->subs[s->nsubs];

		*r = (struct pso_rec_sub){ .kind = sub->kind, .qos = sub->qos,
					   .topic_id = sub->topic_id };
		if (sub->filter && !(r->filter = strdup(sub->filter)))
			goto nomem;
		s->nsubs++;
	}
	/* Every id it knows (recycle.c), and its holds' that it was told. */
	for (uint32_t i = 0; i < c->nknown; i++)
		s->told[s->ntold++] = c->known[i];
	for (int i = 0; i < c->nheld; i++)
		if (c->held[i]->told && !pso_client_knows(c, c->held[i]->id))
			s->told[s->ntold++] = c->held[i]->id;
	if (export_msgs(s, c->out_head, PSO_BOX_OUTBOX) || export_msgs(s, c->zz_head, PSO_BOX_SLEEP))
		goto nomem;
	/* Address validation: whether this connection's address was proven
	 * and whether some connection of the session's was. */
	s->validation = malloc(1);
	if (!s->validation)
		goto nomem;
	s->validation[0] = (c->connected && c->v.ok ? PSO_REC_VALID_OK : 0) |
			   (c->v.proven_once ? PSO_REC_VALID_ONCE : 0);
	s->validation_len = 1;
	return 0;
nomem:
	pso_rec_free(rec);
	return -ENOMEM;
}

int pso_proto_export_topic(struct pso_proto *p, uint16_t id, struct pso_rec *rec)
{
	const char *name = pso_registry_name(p->reg, id);

	memset(rec, 0, sizeof(*rec));
	rec->kind = PSO_REC_TOPIC;
	rec->t.id = id;
	if (!name || pso_registry_is_predefined(p->reg, id))
		return -ENOENT;
	rec->t.name = strdup(name);
	return rec->t.name ? 0 : -ENOMEM;
}

int pso_proto_export_retained(struct pso_proto *p, uint16_t id, struct pso_rec *rec)
{
	const struct pso_retained *r = id < p->cfg.max_topics ? p->retained[id] : NULL;

	memset(rec, 0, sizeof(*rec));
	rec->kind = PSO_REC_RETAINED;
	rec->r.topic_id = id;
	if (!r)
		return -ENOENT;
	rec->r.flags = r->flags;
	rec->r.len = r->len;
	rec->r.data = dup_bytes(r->data, r->len);
	return rec->r.data ? 0 : -ENOMEM;
}

/* ---- import ------------------------------------------------------------------ */

static int import_topic(struct pso_proto *p, const struct pso_rec_topic *t, char *err,
			size_t errlen)
{
	int ret = pso_registry_restore(p->reg, t->id, t->name);

	if (ret == -EEXIST) {
		snprintf(err, errlen, "topic %u (%s): its id or name is predefined now: not restored",
			 t->id, t->name);
		return ret;
	}
	if (ret) {
		snprintf(err, errlen, "topic %u (%s): %s", t->id, t->name,
			 ret == -EINVAL ? "bad id or name" : strerror(-ret));
		return ret;
	}
	p->ops->topic_set(p->ctx, t->id, pso_topic_policy(p, t->id), t->name);
	pso_topic_touch(p, t->id);	/* a whole idle period from the start */
	return 0;
}

static int import_retained(struct pso_proto *p, const struct pso_rec_retained *r, char *err,
			   size_t errlen)
{
	if (!pso_registry_name(p->reg, r->topic_id)) {
		snprintf(err, errlen, "retained message of topic %u: no such topic now: dropped",
			 r->topic_id);
		return -ENOENT;
	}
	/* Its owner (for the retained quota) is not kept: none, as for QoS -1. */
	pso_retain_store(p, NULL, r->topic_id, r->flags, r->data, r->len);
	return p->retained[r->topic_id] || !r->len ? 0 : -ENOMEM;
}

struct match_ctx {
	const char *filter;
	uint16_t *ids;
	int n;
};

static int collect_match(uint16_t id, const char *name, void *arg)
{
	struct match_ctx *m = arg;

	if (pso_topic_match(m->filter, name))
		m->ids[m->n++] = id;
	return 0;
}

/* Subscription r of c back, with its holds (c is offline: no table call).
 * 0; a subscription that cannot come back is left out with a log line. */
static int import_sub(struct pso_proto *p, struct pso_client *c, const struct pso_rec_sub *r)
{
	struct pso_subscription sub = { .kind = r->kind, .qos = r->qos };
	struct match_ctx m = { .filter = r->filter };
	bool added;
	int ret = 0;

	switch (r->kind) {
	case PSO_SUB_PREDEFINED:
		if (!pso_registry_is_predefined(p->reg, r->topic_id)) {
			pso_warn("client %s: predefined topic %u is no longer predefined: its "
				 "subscription ends", c->id, r->topic_id);
			return 0;
		}
		sub.topic_id = r->topic_id;
		break;
	case PSO_SUB_NAME:
	case PSO_SUB_SHORT:
		if (!r->filter)
			return -EINVAL;
		ret = pso_topic_register(p, r->filter, r->kind == PSO_SUB_SHORT ? 2 : strlen(r->filter),
					 &sub.topic_id);
		break;
	case PSO_SUB_FILTER:
		if (!r->filter || !pso_topic_filter_valid(r->filter, strlen(r->filter)))
			return -EINVAL;
		m.ids = calloc(p->cfg.max_topics, sizeof(*m.ids));
		if (!m.ids)
			return -ENOMEM;
		pso_registry_foreach(p->reg, collect_match, &m);
		sub.ids = realloc(m.ids, (m.n ? m.n : 1) * sizeof(*m.ids));
		if (!sub.ids)
			sub.ids = m.ids;
		sub.nids = m.n;
		break;
	default:
		return -EINVAL;
	}
	if (ret) {
		pso_warn("client %s: subscription to %s not restored: %s", c->id, r->filter,
			 strerror(-ret));
		return 0;
	}
	if (r->filter && !(sub.filter = strdup(r->filter))) {
		pso_subscription_free(&sub);
		return -ENOMEM;
	}
	if (r->kind == PSO_SUB_FILTER) {
		for (int i = 0; i < sub.nids; i++)
			if (pso_client_hold(p, c, sub.ids[i], PSO_FORM_NORMAL, true, &added))
				ret = -ENOMEM;
	} else {
		ret = pso_client_hold(p, c, sub.topic_id, pso_form_of(r->kind), false, &added);
	}
	if (ret) {
		pso_subscription_free(&sub);
		return ret;
	}
	c->subs[c->nsubs++] = sub;
	if (sub.kind == PSO_SUB_FILTER)
		pso_client_filters_add(p, c, 1);
	return 0;
}

static int import_msgs(struct pso_proto *p, struct pso_client *c, const struct pso_rec_session *s)
{
	for (int i = 0; i < s->nmsgs; i++) {
		const struct pso_rec_msg *r = &s->msgs[i];
		struct pso_outmsg *o = calloc(1, sizeof(*o) + r->len);
		struct pso_outmsg **head, **tail;
		uint32_t *len;

		if (!o)
			return -ENOMEM;
		o->flags = r->flags;
		o->topic_field = r->topic_field;
		o->msg_id = r->msg_id;
		o->sent_before = r->sent_before;
		o->len = r->len;
		if (r->len)
			memcpy(o->data, r->data, r->len);
		if (r->box == PSO_BOX_SLEEP) {
			head = &c->zz_head, tail = &c->zz_tail, len = &c->zz_len;
		} else {
			head = &c->out_head, tail = &c->out_tail, len = &c->out_len;
			/* In flight before: it goes again, whole, with DUP; a
			 * PUBREL owed is sent again as it is. */
			o->state = r->state == PSO_OUT_WAIT_COMP ? PSO_OUT_WAIT_COMP : PSO_OUT_QUEUED;
			if (r->state == PSO_OUT_WAIT_ACK)
				o->sent_before = true;
		}
		if (*tail)
			(*tail)->next = o;
		else
			*head = o;
		*tail = o;
		(*len)++;
		p->buffered++;	/* against the total (quota.c), as queued ones are */
	}
	return 0;
}

static bool told_of(const struct pso_rec_session *s, uint16_t id)
{
	for (int i = 0; i < s->ntold; i++)
		if (s->told[i] == id)
			return true;
	return false;
}

static int import_session(struct pso_proto *p, const struct pso_rec_session *s, uint64_t now_ms,
			  uint64_t now_unix_ms, char *err, size_t errlen)
{
	struct pso_client *c;
	int ret = 0;

	if (pso_client_find_id(p, s->id)) {
		snprintf(err, errlen, "session %s: twice in the store: the second dropped", s->id);
		return -EEXIST;
	}
	c = pso_client_new_offline(p, s->id);
	if (!c)
		return -ENOMEM;
	c->clean = s->clean;
	c->keepalive_s = s->keepalive_s;
	c->sleep_s = s->sleep_s;
	c->next_msg_id = s->next_msg_id;
	c->nqos2 = s->nqos2 < PSO_QOS2_PENDING_MAX ? s->nqos2 : PSO_QOS2_PENDING_MAX;
	memcpy(c->qos2_pending, s->qos2, sizeof(c->qos2_pending));
	if (s->will_topic) {
		c->will.topic = strdup(s->will_topic);
		c->will.msg = dup_bytes(s->will_msg, s->will_len);
		c->will.len = s->will_len;
		c->will.flags = s->will_flags;
		if (!c->will.topic || !c->will.msg)
			ret = -ENOMEM;
	}
	c->subs = calloc(s->nsubs ? s->nsubs : 1, sizeof(*c->subs));
	if (!c->subs)
		ret = -ENOMEM;
	for (int i = 0; !ret && i < s->nsubs; i++)
		ret = import_sub(p, c, &s->subs[i]);
	if (!ret)
		ret = import_msgs(p, c, s);
	if (ret) {
		pso_client_remove(p, c, "not restored: out of memory");
		snprintf(err, errlen, "session %s: %s", s->id, strerror(-ret));
		return ret;
	}
	/* What it knows: the topics it named, and those it was told. */
	for (int i = 0; i < c->nheld; i++) {
		struct pso_hold *h = c->held[i];

		h->told = h->form != PSO_FORM_NORMAL || told_of(s, h->id);
		for (int k = 0; !h->told && k < c->nsubs; k++)
			h->told = c->subs[k].kind == PSO_SUB_NAME && c->subs[k].topic_id == h->id;
		h->qos = pso_hold_qos(c, h->id);
	}
	/* The ids it knows keep their topics while the session lasts. */
	for (int i = 0; i < s->ntold; i++)
		if (pso_registry_name(p->reg, s->told[i]))
			pso_client_know(p, c, s->told[i]);
	for (int k = 0; k < c->nsubs; k++)
		if (c->subs[k].kind == PSO_SUB_NAME)
			pso_client_know(p, c, c->subs[k].topic_id);
	if (s->fwd.node_len)
		pso_fwd_set(p, c, &s->fwd, &s->fwd_ep, &s->fwd_local);

	if (s->connected) {
		struct pso_endpoint ep = s->ep;

		if (pso_client_forwarded(c))
			pso_fwd_placeholder(p, &ep);
		if (p->nclients >= p->cfg.max_clients ||
		    (!pso_client_forwarded(c) && p->ops->client_add(p->ctx, &ep))) {
			pso_warn("client %s: client table full: restored offline", c->id);
		} else {
			uint8_t v = s->validation_len ? s->validation[0] : 0;

			c->asleep = s->asleep;
			c->last_seen_ms = now_ms;	/* a full keep-alive period of grace */
			pso_client_attach(p, c, &ep, &s->local);
			/* Proven before the stop, at this endpoint: still proven;
			 * else a new challenge (pso_proto_resume_imported). */
			c->v.proven_once = v & PSO_REC_VALID_ONCE;
			if (v & PSO_REC_VALID_OK)
				c->v.ok = true;
			else
				pso_valid_start(p, c, 0);
			return 0;
		}
	}
	c->v.proven_once = s->validation_len && (s->validation[0] & PSO_REC_VALID_ONCE);
	{
		uint64_t age = s->lost_unix_ms && now_unix_ms > s->lost_unix_ms
				       ? now_unix_ms - s->lost_unix_ms : 0;

		c->lost_ms = now_ms > age ? now_ms - age : 0;
	}
	return 0;
}

int pso_proto_import(struct pso_proto *p, const struct pso_rec *rec, uint64_t now_ms,
		     uint64_t now_unix_ms, char *err, size_t errlen)
{
	p->now_ms = now_ms;
	switch (rec->kind) {
	case PSO_REC_TOPIC:
		return import_topic(p, &rec->t, err, errlen);
	case PSO_REC_RETAINED:
		return import_retained(p, &rec->r, err, errlen);
	case PSO_REC_SESSION:
		return import_session(p, &rec->s, now_ms, now_unix_ms, err, errlen);
	}
	snprintf(err, errlen, "a record of unknown kind %d", rec->kind);
	return -EINVAL;
}

uint32_t pso_proto_resume_imported(struct pso_proto *p, uint64_t now_ms)
{
	uint32_t n = 0;

	p->now_ms = now_ms;
	for (int h = 0; h < PSO_CLIENT_HASH_SIZE; h++) {
		for (struct pso_client *c = p->by_ep[h]; c; c = c->next_ep) {
			c->last_seen_ms = now_ms;	/* a full keep-alive period of grace */
			/* An unproven address is challenged first: what it is
			 * owed follows the proof (pso_valid_proved). */
			if (!c->v.ok && !c->asleep) {
				pso_valid_challenge(p, c);
				continue;
			}
			/* A sleeper's slots stay not servable; what it is owed
			 * waits for its PINGREQ or CONNECT. */
			if (!pso_client_reachable(c))
				continue;
			pso_session_owed(p, c, true);
			n++;
		}
	}
	return n;
}

/* ---- a hot standby's copy ------------------------------------------------------- */

static void forget(struct pso_proto *p, struct pso_client *c)
{
	/* Its will is the leader's to publish, not a copy's. */
	pso_will_free(&c->will);
	pso_client_remove(p, c, "forgotten: the leader's record replaces it");
}

int pso_proto_apply(struct pso_proto *p, const struct pso_rec *rec, bool deleted,
		    uint64_t now_ms, uint64_t now_unix_ms, char *err, size_t errlen)
{
	struct pso_client *c;
	const char *name;

	p->now_ms = now_ms;
	switch (rec->kind) {
	case PSO_REC_TOPIC:
		/* Ids are the cluster's (claimed once): one already here is
		 * this one; a deleted topic is the recycler's business. */
		name = pso_registry_name(p->reg, rec->t.id);
		if (deleted || (name && !strcmp(name, rec->t.name)))
			return 0;
		return import_topic(p, &rec->t, err, errlen);
	case PSO_REC_RETAINED:
		if (deleted) {
			pso_retain_store(p, NULL, rec->r.topic_id, 0, NULL, 0);
			return 0;
		}
		return import_retained(p, &rec->r, err, errlen);
	case PSO_REC_SESSION:
		c = pso_client_find_id(p, rec->s.id);
		if (c)
			forget(p, c);
		return deleted ? 0 : import_session(p, &rec->s, now_ms, now_unix_ms, err, errlen);
	}
	snprintf(err, errlen, "a record of unknown kind %d", rec->kind);
	return -EINVAL;
}

uint32_t pso_proto_forget_sessions(struct pso_proto *p)
{
	uint32_t n = 0;

	for (int h = 0; h < PSO_CLIENT_HASH_SIZE; h++)
		while (p->by_id[h]) {
			forget(p, p->by_id[h]);
			n++;
		}
	return n;
}
