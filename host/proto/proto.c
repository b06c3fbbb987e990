// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * proto.c - the protocol layer's life cycle and its periodic work:
 * keep-alive, re-resolving next hops, ADVERTISE, idle topics (recycle.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proto/session.h"
#include "proto/topics.h"
#include "util/log.h"

struct pso_proto *pso_proto_new(const struct pso_proto_cfg *cfg, const struct pso_proto_ops *ops,
				void *ctx)
{
	struct pso_proto *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->ops = ops;
	p->ctx = ctx;
	p->reg = pso_registry_new(cfg->max_topics);
	p->topic_holds = calloc(cfg->max_topics, sizeof(*p->topic_holds));
	p->slotless = calloc(cfg->max_topics, sizeof(*p->slotless));
	p->retained = calloc(cfg->max_topics, sizeof(*p->retained));
	p->rl = pso_rl_new(PSO_RL_ENTRIES_DEFAULT, NULL);
	if (!p->reg || !p->topic_holds || !p->slotless || !p->retained || !p->rl ||
	    pso_valid_init(p) || pso_recycle_init(p)) {
		pso_proto_free(p);
		return NULL;
	}
	return p;
}

/* Memory only: the tables go with the data plane. */
void pso_proto_free(struct pso_proto *p)
{
	if (!p)
		return;
	for (int h = 0; h < PSO_CLIENT_HASH_SIZE; h++) {
		struct pso_client *c, *next;

		for (c = p->by_id[h]; c; c = next) {
			next = c->next_id;
			for (int i = 0; i < c->nsubs; i++)
				pso_subscription_free(&c->subs[i]);
			for (int i = 0; i < c->nheld; i++)
				free(c->held[i]);
			pso_outbox_free(p, c);
			pso_will_free(&c->will);
			pso_sleep_free(p, c);
			pso_valid_free(p, c);
			free(c->subs);
			free(c->held);
			free(c->known);
			free(c);
		}
	}
	if (p->retained)
		for (uint32_t i = 0; i < p->cfg.max_topics; i++)
			free(p->retained[i]);
	free(p->retained);
	free(p->topic_holds);
	free(p->guesses);
	pso_recycle_free(p);
	pso_rl_free(p->rl);
	free(p->slotless);
	if (p->reg)
		pso_registry_free(p->reg);
	free(p);
}

struct pso_registry *pso_proto_registry(struct pso_proto *p)
{
	return p->reg;
}

static int publish_topic(uint16_t id, const char *name, void *ctx)
{
	struct pso_proto *p = ctx;

	return p->ops->topic_set(p->ctx, id, pso_topic_policy(p, id), name);
}

int pso_proto_topics_publish(struct pso_proto *p)
{
	return pso_registry_foreach(p->reg, publish_topic, p);
}

/* A client lost without its DISCONNECT: a clean session ends, a kept one
 * goes offline, and its will goes to the others. */
static void client_lost(struct pso_proto *p, struct pso_client *c, const char *why)
{
	struct pso_will will = pso_will_take(c);
	char id[sizeof(c->id)];

	snprintf(id, sizeof(id), "%s", c->id);
	if (c->clean) {
		pso_client_remove(p, c, why);
	} else {
		pso_info("client %s %s; session kept for %us", c->id, why,
			 p->cfg.session_expiry_s);
		pso_client_detach(p, c);
	}
	pso_will_publish(p, &will, id);
}

int pso_proto_unreachable(struct pso_proto *p, const struct pso_endpoint *ep, const char *what,
			  uint64_t now_ms)
{
	struct pso_client *c;
	char why[96];

	p->now_ms = now_ms;
	c = pso_client_find(p, ep);
	if (!c || !c->connected)
		return 0;
	p->stats.unreachable++;
	snprintf(why, sizeof(why), "unreachable (%s)", what);
	client_lost(p, c, why);
	return 1;
}

void pso_proto_set_cfg(struct pso_proto *p, const struct pso_proto_cfg *cfg)
{
	bool policy = cfg->qosm1 != p->cfg.qosm1;

	p->cfg.qosm1 = cfg->qosm1;
	p->cfg.gw_id = cfg->gw_id;
	p->cfg.advertise_s = cfg->advertise_s;
	p->cfg.session_expiry_s = cfg->session_expiry_s;
	p->cfg.topic_idle_s = cfg->topic_idle_s;
	p->cfg.retry_s = cfg->retry_s;
	p->cfg.retries = cfg->retries;
	/* Every limit is read where it is applied (quota.c): a new one holds
	 * from the next request on, and takes nothing away. */
	p->cfg.lim = cfg->lim;
	/* Who starts proven, for the endpoints that connect from now on. */
	p->cfg.trusted = cfg->trusted;
	p->cfg.ntrusted = cfg->ntrusted;
	if (policy)
		pso_proto_topics_publish(p);
}

static int predefined_added(uint16_t id, const char *name, void *ctx)
{
	pso_topic_created(ctx, id, name);
	return 0;
}

int pso_proto_reload_predefined(struct pso_proto *p, const char *path,
				struct pso_predef_reload *res, char *err, size_t errlen)
{
	return pso_registry_reload_predefined(p->reg, path, res, predefined_added, p, err, errlen);
}

void pso_proto_tick(struct pso_proto *p, uint64_t now_ms)
{
	p->now_ms = now_ms;
	for (int h = 0; h < PSO_CLIENT_HASH_SIZE; h++) {
		struct pso_client *c = p->by_ep[h], *next;

		for (; c; c = next) {
			uint64_t rx;
			unsigned int period;

			next = c->next_ep;
			/* Unproven past its time: gone or offline now. */
			if (pso_valid_tick(p, c))
				continue;
			pso_outbox_tick(p, c);
			/* A sleeper is lost past 1.5 x its sleep, not its
			 * keep-alive. */
			period = c->asleep ? c->sleep_s : c->keepalive_s;
			if (!period)
				continue;
			/* Publishes the data plane forwarded count as activity.
			 * Their counter (a map read, a system call) is read
			 * only once half the allowance passed without a
			 * message the daemon saw: a tick reads a few of
			 * 100,000 clients, not all.  Activity is credited when
			 * read, so a client heard only by the data plane lasts
			 * up to 2 x its period, one that is silent 1.5 x. */
			if (now_ms > c->last_seen_ms &&
			    now_ms - c->last_seen_ms > (uint64_t)period * 500 &&
			    !p->ops->client_rx(p->ctx, &c->ep, &rx) && rx != c->fast_rx) {
				c->fast_rx = rx;
				c->last_seen_ms = now_ms;
			}
			if (now_ms > c->last_seen_ms &&
			    now_ms - c->last_seen_ms > (uint64_t)period * 1500) {
				p->stats.expired++;
				client_lost(p, c, "expired (keep-alive)");
			}
		}
	}
	/* Kept sessions whose client did not come back in time. */
	for (int h = 0; h < PSO_CLIENT_HASH_SIZE; h++) {
		struct pso_client *c = p->by_id[h], *next;

		for (; c; c = next) {
			next = c->next_id;
			if (!c->connected && now_ms > c->lost_ms &&
			    now_ms - c->lost_ms > (uint64_t)p->cfg.session_expiry_s * 1000)
				pso_client_remove(p, c, "session expired");
		}
	}
	pso_topics_sweep(p);
}

void pso_proto_resolve_all(struct pso_proto *p)
{
	for (int h = 0; h < PSO_CLIENT_HASH_SIZE; h++) {
		for (struct pso_client *c = p->by_ep[h]; c; c = c->next_ep) {
			struct pso_sub old = c->slot;
			uint16_t ids[c->nheld ? c->nheld : 1];

			pso_client_resolve(p, c);
			if (!memcmp(&old, &c->slot, sizeof(old)))
				continue;
			pso_client_enable(p, c, ids, pso_client_held_ids(c, ids));
			pso_client_log_next_hop(p, c);
		}
	}
}

void pso_proto_advertise(struct pso_proto *p)
{
	struct mqttsn_msg m = {
		.type = MQTTSN_ADVERTISE, .gw_id = p->cfg.gw_id, .duration = p->cfg.advertise_s,
	};
	ssize_t n = mqttsn_encode(&m, p->txbuf, sizeof(p->txbuf));

	/* What to send is this layer's; where (every port) the broker's. */
	if (n < 0 || p->ops->broadcast(p->ctx, p->txbuf, (size_t)n))
		pso_debug("ADVERTISE not sent");
}

unsigned int pso_proto_shutdown(struct pso_proto *p, unsigned int budget, bool *done)
{
	unsigned int sent = 0;

	if (!p->bye_started) {
		p->bye_started = true;
		p->bye_bucket = 0;
		p->bye_next = p->by_ep[0];
	}
	while (p->bye_bucket < PSO_CLIENT_HASH_SIZE) {
		struct pso_client *c = p->bye_next;

		if (!c) {
			if (++p->bye_bucket < PSO_CLIENT_HASH_SIZE)
				p->bye_next = p->by_ep[p->bye_bucket];
			continue;
		}
		if (!pso_client_reachable(c)) {
			p->bye_next = c->next_ep;
			continue;
		}
		if (sent == budget)
			break;
		pso_send_to_simple(p, c, MQTTSN_DISCONNECT);
		sent++;
		p->bye_next = c->next_ep;
	}
	*done = p->bye_bucket >= PSO_CLIENT_HASH_SIZE;
	return sent;
}

void pso_proto_shutdown_end(struct pso_proto *p)
{
	struct pso_client **told = NULL;
	size_t n = 0, cap = 0;

	for (int h = 0; h < PSO_CLIENT_HASH_SIZE; h++) {
		for (struct pso_client *c = p->by_ep[h]; c; c = c->next_ep) {
			if (!pso_client_reachable(c))
				continue;
			if (n == cap) {
				struct pso_client **grown;

				cap = cap ? 2 * cap : 64;
				grown = realloc(told, cap * sizeof(*told));
				if (!grown)
					goto out;
				told = grown;
			}
			told[n++] = c;
		}
	}
	/* As after the client's own DISCONNECT (6.3: no will). */
	for (size_t i = 0; i < n; i++) {
		struct pso_client *c = told[i];

		pso_will_free(&c->will);
		if (c->clean)
			pso_client_remove(p, c, "told DISCONNECT: the broker stopped");
		else
			pso_client_detach(p, c);
	}
out:
	free(told);
}

const struct pso_proto_stats *pso_proto_stats(const struct pso_proto *p)
{
	return &p->stats;
}

uint32_t pso_proto_nclients(const struct pso_proto *p)
{
	return p->nclients;
}

uint32_t pso_proto_nsessions(const struct pso_proto *p)
{
	return p->nsessions;
}

uint32_t pso_proto_ntopics(const struct pso_proto *p)
{
	return pso_registry_count(p->reg);
}

void pso_proto_set_refusing(struct pso_proto *p, bool on)
{
	p->refusing = on;
}

void pso_proto_share_topic_ids(struct pso_proto *p, bool on)
{
	p->shared_ids = on;
}
