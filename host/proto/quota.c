// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * quota.c - nothing permanent without consent: what one client may hold,
 * what all of them may hold together, and how fast one source may ask
 * (struct pso_limits; docs/DESIGN.md, "Limits").
 *
 * Plain MQTT-SN over UDP authenticates no one, so anything a session holds
 * may be a spoofer's.  Every holding is therefore bounded and ends:
 *   - keep-alive 0 ("never expire", MQTT-SN 5.4.4) and keep-alives above
 *     max_keepalive_s get max_keepalive_s; so do sleep durations (6.14).
 *     CONNACK has no field for the value the broker chose (MQTT 5 has a
 *     Server Keep Alive, MQTT-SN v1.2 none), so the broker simply expires
 *     a client silent for 1.5 x the cap;
 *   - per client: subscriptions, topics held (a filter holds every topic
 *     it matches, including topics created later), topics created,
 *     retained bytes stored, QoS 1/2 deliveries owed (outbox) and QoS 0
 *     publishes kept while asleep (sleep buffer);
 *   - in all: retained bytes, buffered messages;
 *   - per source network (ratelimit.h): CONNECTs a second, other control
 *     messages a second.  What is over the rate is dropped unanswered:
 *     an answer to a spoofed source is what a reflection attack wants.
 * A refusal is "rejected: congestion" (0x01) in the SUBACK, REGACK or
 * PUBACK the message asks for, or a drop; each is counted in struct
 * pso_proto_stats.  A limit of 0 is no limit.
 */
#include <errno.h>
#include <string.h>
#include "proto/session.h"
#include "proto/topics.h"
#include "util/log.h"

enum { RL_CONNECT, RL_CONTROL };

uint16_t pso_quota_keepalive(struct pso_proto *p, uint16_t asked)
{
	uint32_t cap = p->cfg.lim.max_keepalive_s;

	if (!cap || (asked && asked <= cap))
		return asked;
	p->stats.keepalive_capped++;
	return cap > UINT16_MAX ? UINT16_MAX : (uint16_t)cap;
}

/* Messages that ask the broker for work or an answer.  The QoS flow
 * (PUBLISH, its acknowledgements, REGACK of the broker's REGISTER) is
 * data, limited by the data plane's publish rate and by the outbox. */
static bool is_control(uint8_t type)
{
	switch (type) {
	case MQTTSN_PUBLISH:
	case MQTTSN_PUBACK:
	case MQTTSN_PUBREC:
	case MQTTSN_PUBREL:
	case MQTTSN_PUBCOMP:
	case MQTTSN_REGACK:
		return false;
	default:
		return true;
	}
}

bool pso_quota_source(struct pso_proto *p, const struct pso_endpoint *src, uint8_t type)
{
	bool connect = type == MQTTSN_CONNECT, ok;
	char s[64];

	if (!is_control(type))
		return true;
	pso_rl_set_rate(p->rl, RL_CONNECT, p->cfg.lim.connect_rate);
	pso_rl_set_rate(p->rl, RL_CONTROL, p->cfg.lim.control_rate);
	ok = pso_rl_take(p->rl, src, connect ? RL_CONNECT : RL_CONTROL, p->now_ms);
	p->stats.rate_evicted = pso_rl_evictions(p->rl);
	if (ok)
		return true;
	if (connect)
		p->stats.rate_connect++;
	else
		p->stats.rate_control++;
	pso_debug("%s from %s dropped: over its source's rate", mqttsn_type_name(type),
		  pso_endpoint_str(src, s, sizeof(s)));
	return false;
}

bool pso_quota_subscription(struct pso_proto *p, struct pso_client *c)
{
	uint32_t max = p->cfg.lim.subscriptions;

	if (!max || (uint32_t)c->nsubs < max)
		return true;
	p->stats.quota_subscriptions++;
	pso_warn("client %s: SUBSCRIBE refused: it has %d subscriptions (--max-client-subscriptions)",
		 c->id, c->nsubs);
	return false;
}

bool pso_quota_hold(struct pso_proto *p, struct pso_client *c)
{
	uint32_t max = p->cfg.lim.holds;

	if (!max || (uint32_t)c->nheld < max)
		return true;
	p->stats.quota_holds++;
	pso_debug("client %s: no topic more: it holds %d (--max-holds)", c->id, c->nheld);
	return false;
}

int pso_quota_topic_register(struct pso_proto *p, struct pso_client *c, const char *name,
			     size_t len, uint16_t *id)
{
	uint32_t max = p->cfg.lim.registrations;
	uint32_t before = pso_registry_count(p->reg);
	int ret;

	if (c && max && c->ncreated >= max && pso_topic_name_valid(name, len) &&
	    pso_registry_lookup(p->reg, name, len, id)) {
		p->stats.quota_registrations++;
		pso_warn("client %s: topic %.*s not created: it created %u (--max-registrations)",
			 c->id, (int)(len > 64 ? 64 : len), name, c->ncreated);
		return -EDQUOT;
	}
	ret = pso_topic_register(p, name, len, id);
	if (!ret && c && pso_registry_count(p->reg) > before)
		c->ncreated++;
	return ret;
}

int pso_quota_retain(struct pso_proto *p, const struct pso_client *c, uint16_t id, size_t len)
{
	const struct pso_retained *old = p->retained[id];
	uint64_t old_len = old ? old->len : 0;
	uint64_t mine = c ? c->retained_bytes - (old && old->owner == c ? old_len : 0) : 0;

	/* Clearing (an empty retained publish) frees; it is always allowed. */
	if (!len)
		return 0;
	if (c && p->cfg.lim.retained && mine + len > p->cfg.lim.retained) {
		p->stats.quota_retained++;
		pso_warn("client %s: retained message on topic %u refused: %llu bytes stored (--max-retained)",
			 c->id, id, (unsigned long long)c->retained_bytes);
		return -EDQUOT;
	}
	if (p->cfg.lim.retained_total &&
	    p->retained_bytes - old_len + len > p->cfg.lim.retained_total) {
		p->stats.retained_full++;
		pso_warn("retained message on topic %u refused: %llu bytes stored in all (--max-retained-total)",
			 id, (unsigned long long)p->retained_bytes);
		return -ENOBUFS;
	}
	return 0;
}

void pso_quota_retained_set(struct pso_proto *p, uint16_t id, struct pso_retained *r,
			    struct pso_client *c)
{
	struct pso_retained *old = p->retained[id];

	if (old) {
		p->retained_bytes -= old->len;
		if (old->owner)
			old->owner->retained_bytes -= old->len;
	}
	if (r) {
		r->owner = c;
		p->retained_bytes += r->len;
		if (c)
			c->retained_bytes += r->len;
	}
}

bool pso_quota_buffer(struct pso_proto *p)
{
	if (!pso_quota_buffers_full(p))
		return true;
	p->stats.buffered_full++;
	return false;
}

bool pso_quota_buffers_full(const struct pso_proto *p)
{
	return p->cfg.lim.buffered_total && p->buffered >= p->cfg.lim.buffered_total;
}

void pso_quota_client_gone(struct pso_proto *p, struct pso_client *c)
{
	/* Its retained messages stay (MQTT), counted in the total only. */
	for (uint32_t id = 0; c->retained_bytes && id < p->cfg.max_topics; id++) {
		struct pso_retained *r = p->retained[id];

		if (r && r->owner == c) {
			r->owner = NULL;
			c->retained_bytes -= r->len;
		}
	}
}

uint64_t pso_proto_retained_bytes(const struct pso_proto *p)
{
	return p->retained_bytes;
}

uint32_t pso_proto_buffered(const struct pso_proto *p)
{
	return p->buffered;
}
