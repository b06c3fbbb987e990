// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * inspect.c - read-only views of the protocol layer's state (proto.h):
 * clients and sessions, subscriptions, topics, retained messages.  For the
 * control socket's listings and the metrics; nothing here changes state.
 */
#include <errno.h>
#include <string.h>
#include "proto/session.h"
#include "proto/topics.h"

static const char *const state_names[PSO_SESSION__STATES] = {
	[PSO_SESSION_ACTIVE] = "active",
	[PSO_SESSION_CONNECTING] = "connecting",
	[PSO_SESSION_ASLEEP] = "asleep",
	[PSO_SESSION_AWAKE] = "awake",
	[PSO_SESSION_OFFLINE] = "offline",
};

const char *pso_session_state_name(enum pso_session_state s)
{
	return s < PSO_SESSION__STATES ? state_names[s] : "?";
}

int pso_session_state_parse(const char *name, enum pso_session_state *s)
{
	for (int i = 0; i < PSO_SESSION__STATES; i++) {
		if (!strcmp(name, state_names[i])) {
			*s = i;
			return 0;
		}
	}
	return -EINVAL;
}

static enum pso_session_state state_of(const struct pso_client *c)
{
	if (!c->connected)
		return PSO_SESSION_OFFLINE;
	if (c->will_step != PSO_WILL_DONE)
		return PSO_SESSION_CONNECTING;
	if (c->asleep)
		return c->awake ? PSO_SESSION_AWAKE : PSO_SESSION_ASLEEP;
	return PSO_SESSION_ACTIVE;
}

int pso_proto_foreach_client(const struct pso_proto *p,
			     int (*fn)(const struct pso_client_info *ci, void *ctx), void *ctx)
{
	for (int h = 0; h < PSO_CLIENT_HASH_SIZE; h++) {
		for (const struct pso_client *c = p->by_id[h]; c; c = c->next_id) {
			struct pso_client_info ci = {
				.id = c->id,
				.state = state_of(c),
				.connected = c->connected,
				.forwarded = pso_client_forwarded(c),
				.clean = c->clean,
				.resolved = (c->slot.flags & PSO_SUB_F_RESOLVED) != 0,
				.keepalive_s = c->keepalive_s,
				.sleep_s = c->asleep ? c->sleep_s : 0,
				.subscriptions = (uint32_t)c->nsubs,
				.topics = (uint32_t)c->nheld,
				.outbox = c->out_len,
				.buffered = c->zz_len,
				.will_topic = c->will.topic,
			};
			uint64_t since = c->connected ? c->last_seen_ms : c->lost_ms;
			int ret;

			if (c->connected)
				ci.ep = pso_client_forwarded(c) ? c->fwd_ep : c->ep;
			ci.idle_ms = p->now_ms > since ? p->now_ms - since : 0;
			if (!c->connected) {
				uint64_t life = (uint64_t)p->cfg.session_expiry_s * 1000;

				ci.expires_in_ms = life > ci.idle_ms ? life - ci.idle_ms : 0;
			}
			ret = fn(&ci, ctx);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static const char *kind_name(enum pso_sub_kind k)
{
	switch (k) {
	case PSO_SUB_NAME:
		return "name";
	case PSO_SUB_FILTER:
		return "filter";
	case PSO_SUB_PREDEFINED:
		return "predefined";
	case PSO_SUB_SHORT:
		return "short";
	}
	return "?";
}

int pso_proto_foreach_subscription(const struct pso_proto *p,
				   int (*fn)(const struct pso_subscription_info *si, void *ctx),
				   void *ctx)
{
	for (int h = 0; h < PSO_CLIENT_HASH_SIZE; h++) {
		for (const struct pso_client *c = p->by_id[h]; c; c = c->next_id) {
			for (int i = 0; i < c->nsubs; i++) {
				const struct pso_subscription *s = &c->subs[i];
				struct pso_subscription_info si = {
					.client_id = c->id,
					.kind = kind_name(s->kind),
					.topic = s->filter,
					.topic_id = s->kind == PSO_SUB_FILTER ? 0 : s->topic_id,
					.qos = s->qos,
				};
				int ret;

				if (s->kind == PSO_SUB_FILTER) {
					si.ids = s->ids;
					si.nids = (uint32_t)s->nids;
				} else {
					si.ids = &s->topic_id;
					si.nids = s->topic_id ? 1 : 0;
				}
				if (s->kind == PSO_SUB_PREDEFINED)
					si.topic = pso_registry_name(p->reg, s->topic_id);
				ret = fn(&si, ctx);
				if (ret)
					return ret;
			}
		}
	}
	return 0;
}

struct topic_walk {
	const struct pso_proto *p;
	int (*fn)(const struct pso_topic_info *ti, void *ctx);
	void *ctx;
};

static int topic_one(uint16_t id, const char *name, void *arg)
{
	const struct topic_walk *w = arg;
	const struct pso_proto *p = w->p;
	const struct pso_retained *r = id < p->cfg.max_topics ? p->retained[id] : NULL;
	struct pso_topic_info ti = {
		.id = id,
		.name = name,
		.predefined = pso_registry_is_predefined(p->reg, id),
		.qosm1 = (pso_topic_policy(p, id) & PSO_TOPIC_F_ALLOW_QOSM1) != 0,
		.retained = r != NULL,
		.retained_bytes = r ? (uint32_t)r->len : 0,
	};

	for (const struct pso_hold *h = id < p->cfg.max_topics ? p->topic_holds[id] : NULL; h;
	     h = h->next)
		ti.subscribers++;
	return w->fn(&ti, w->ctx);
}

int pso_proto_foreach_topic(const struct pso_proto *p,
			    int (*fn)(const struct pso_topic_info *ti, void *ctx), void *ctx)
{
	struct topic_walk w = { .p = p, .fn = fn, .ctx = ctx };

	return pso_registry_foreach(p->reg, topic_one, &w);
}

int pso_proto_topic_id(const struct pso_proto *p, const char *name, uint16_t *id)
{
	return pso_registry_lookup(p->reg, name, strlen(name), id) ? -ENOENT : 0;
}

void pso_proto_session_counts(const struct pso_proto *p, uint32_t counts[PSO_SESSION__STATES])
{
	memset(counts, 0, sizeof(counts[0]) * PSO_SESSION__STATES);
	for (int h = 0; h < PSO_CLIENT_HASH_SIZE; h++)
		for (const struct pso_client *c = p->by_id[h]; c; c = c->next_id)
			counts[state_of(c)]++;
}

void pso_proto_retained_usage(const struct pso_proto *p, uint64_t *msgs, uint64_t *bytes)
{
	*msgs = *bytes = 0;
	for (uint32_t id = 0; id < p->cfg.max_topics; id++) {
		if (p->retained[id]) {
			(*msgs)++;
			*bytes += p->retained[id]->len;
		}
	}
}
