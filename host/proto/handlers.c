// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * handlers.c - one handler per MQTT-SN control message, and the topics
 * they create.
 *
 * A handler answers the client (CONNACK, REGACK, SUBACK, ...), changes the
 * sessions (session.c) and, through them, the data-plane tables.  Order
 * matters where the data plane is involved: a new subscriber's slots stay
 * not servable until its SUBACK and every REGISTER it needs are sent, so no
 * PUBLISH overtakes them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proto/session.h"
#include "proto/topics.h"
#include "util/log.h"

/* The topics of subscription s (its one topic, or a filter's). */
static int sub_topics(const struct pso_subscription *s, const uint16_t **ids)
{
	if (s->kind == PSO_SUB_FILTER) {
		*ids = s->ids;
		return s->nids;
	}
	*ids = &s->topic_id;
	return 1;
}

/* After subscriptions changed: each hold's QoS is the highest its
 * subscriptions grant (MQTT: overlapping subscriptions, the highest QoS). */
static void refresh_qos(struct pso_client *c, const uint16_t *ids, int n)
{
	for (int i = 0; i < n; i++) {
		struct pso_hold *h = pso_client_hold_of(c, ids[i]);

		if (h)
			h->qos = pso_hold_qos(c, ids[i]);
	}
}

/* The QoS a SUBSCRIBE asked for, as granted: 0, 1 or 2 (0b11 is QoS -1,
 * which exists only for publishing: 0). */
static int granted_qos(uint8_t flags)
{
	int qos = mqttsn_flags_qos(flags);

	return qos < 0 ? 0 : qos;
}

/* A topic seen for the first time: offer it to the wildcard subscriptions. */
void pso_topic_created(struct pso_proto *p, uint16_t id, const char *name)
{
	p->ops->topic_set(p->ctx, id, pso_topic_policy(p, id), name);
	if (p->ops->topic_changed && !pso_registry_is_predefined(p->reg, id))
		p->ops->topic_changed(p->ctx, id);
	pso_info("topic %u registered: %s", id, name);
	/* Only the sessions with a filter: not every session per new topic. */
	for (struct pso_client *c = p->filter_clients; c; c = c->next_filter) {
		for (int i = 0; i < c->nsubs; i++) {
			struct pso_subscription *s = &c->subs[i];
			uint16_t *ids;
			bool added;

			if (s->kind != PSO_SUB_FILTER || !pso_topic_match(s->filter, name))
				continue;
			/* A filter holds every topic it matches, later ones
			 * too: past its share, the client is not told. */
			if (!pso_client_hold_of(c, id) && !pso_quota_hold(p, c))
				continue;
			/* REGISTER goes out before the slot is servable;
			 * an offline session hears of it when it is back. */
			if (pso_client_reachable(c))
				pso_send_register(p, c, id, name);
			ids = realloc(s->ids, (s->nids + 1) * sizeof(*ids));
			if (ids)
				s->ids = ids;
			if (!ids || pso_client_hold(p, c, id, PSO_FORM_NORMAL, true, &added)) {
				p->stats.congestion++;
				pso_warn("topic %u: client %s (filter %s) left out: out of memory",
					 id, c->id, s->filter);
				continue;
			}
			s->ids[s->nids++] = id;
			pso_session_touch(p, c);
			refresh_qos(c, &id, 1);
			if (added)
				pso_client_enable(p, c, &id, 1);
		}
	}
}

uint8_t pso_topic_policy(const struct pso_proto *p, uint16_t id)
{
	uint8_t flags = p->slotless[id] ? PSO_TOPIC_F_HOST : 0;

	switch (p->cfg.qosm1) {
	case PSO_QOSM1_ALL:
		return flags | PSO_TOPIC_F_ALLOW_QOSM1;
	case PSO_QOSM1_PREDEFINED:
		return flags | (pso_registry_is_predefined(p->reg, id) ? PSO_TOPIC_F_ALLOW_QOSM1 : 0);
	default:
		return flags;
	}
}

int pso_topic_refresh(struct pso_proto *p, uint16_t id)
{
	return p->ops->topic_set(p->ctx, id, pso_topic_policy(p, id), pso_registry_name(p->reg, id));
}

#define CLAIM_TRIES 64

/*
 * A name new to this broker, when brokers share the store: its id is the
 * one the store has for it, or the first of the ids this broker's registry
 * would give next (pso_registry_candidates: never-used ids first, freed
 * ones oldest first; never one in quarantine) that the store lets this
 * name claim (one transaction creates both keys: two brokers never give
 * one id to two names, nor two ids to one).
 */
static int topic_claim(struct pso_proto *p, const char *name, size_t len, uint16_t *id,
		       bool *created)
{
	char buf[PSO_TOPIC_NAME_MAX + 1];
	uint16_t want[CLAIM_TRIES], got = 0;
	int ret = -ENOSPC, n;

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, name, len);
	buf[len] = '\0';
	n = pso_registry_candidates(p->reg, want, CLAIM_TRIES);
	for (int i = 0; i < n; i++) {
		ret = p->ops->claim_topic(p->ctx, buf, want[i], &got);
		if (ret != -EEXIST)
			break;
		ret = -ENOSPC;	/* every candidate taken by another broker */
	}
	if (ret)
		return ret == -ENOSPC ? -ENOSPC : -EAGAIN;	/* the store cannot say */
	ret = pso_registry_restore(p->reg, got, buf);
	if (ret == -EEXIST)
		pso_warn("topic %s: the store says id %u, which this broker has for %s", buf, got,
			 pso_registry_name(p->reg, got) ?: "a predefined name");
	if (ret)
		return ret == -EEXIST ? -ENOSPC : ret;
	*id = got;
	*created = true;
	return 0;
}

int pso_topic_register(struct pso_proto *p, const char *name, size_t len, uint16_t *id)
{
	bool created = false;
	int ret;

	ret = -EAGAIN;
	if (p->shared_ids && p->ops->claim_topic && pso_topic_name_valid(name, len) &&
	    pso_registry_lookup(p->reg, name, len, id))
		ret = topic_claim(p, name, len, id, &created);
	/* Not shared, or the store cannot answer now: this broker's own id
	 * (its write waits queued with the others; a group member refuses
	 * the request before it gets here). */
	if (ret == -EAGAIN)
		ret = pso_registry_register(p->reg, name, len, id, &created);

	if (ret)
		return ret;
	pso_topic_touch(p, *id);
	if (created) {
		pso_topic_reborn(p, *id);
		pso_topic_created(p, *id, pso_registry_name(p->reg, *id));
	}
	return 0;
}

/* ---- message handlers --------------------------------------------------- */

#include "proto/handlers.h"

/* Answer the sender, in the wrapping it came in. */
int pso_reply(struct pso_proto *p, const struct rx *rx, const struct mqttsn_msg *m)
{
	if (rx->c && !pso_valid_may_send(p, rx->c, m))
		return -ENOBUFS;
	if (rx->fwd)
		return pso_fwd_send(p, &rx->fwd_ep, &rx->fwd_local, rx->fwd, m);
	return pso_send_msg(p, &rx->ep, &rx->local, m);
}

int pso_reply_simple(struct pso_proto *p, const struct rx *rx, uint8_t type)
{
	struct mqttsn_msg m = { .type = type };

	return pso_reply(p, rx, &m);
}

/* A reply to a sender without a session, within pso_reply_unknown()'s
 * bound. */
int pso_reply_unknown_rx(struct pso_proto *p, const struct rx *rx, uint8_t type)
{
	if (!rx->fwd)
		return pso_reply_unknown(p, &rx->ep, &rx->local, type);
	if (!pso_unknown_reply_allowed(p))
		return -EAGAIN;
	return pso_reply_simple(p, rx, type);
}

static void handle_register(struct pso_proto *p, struct rx *rx)
{
	struct mqttsn_msg ack = {
		.type = MQTTSN_REGACK, .msg_id = rx->m.msg_id, .return_code = MQTTSN_RC_ACCEPTED,
	};
	uint16_t id = 0;
	int ret = pso_quota_topic_register(p, rx->c, (const char *)rx->m.data, rx->m.data_len, &id);

	if (ret == -EDQUOT) {
		ack.return_code = MQTTSN_RC_CONGESTION;	/* counted by quota.c */
	} else if (ret == -ENOSPC || ret == -ENOMEM) {
		p->stats.congestion++;
		ack.return_code = MQTTSN_RC_CONGESTION;
		if (ret == -ENOSPC && pso_registry_nquarantined(p->reg))
			pso_warn("REGISTER from %s refused: topic table full (%u freed ids not "
				 "free again yet)", rx->c->id, pso_registry_nquarantined(p->reg));
		else
			pso_warn("REGISTER from %s refused: %s", rx->c->id,
				 ret == -ENOSPC ? "topic table full" : "out of memory");
	} else if (ret) {
		ack.return_code = MQTTSN_RC_INVALID_TOPIC;
	} else if (pso_client_know(p, rx->c, id)) {
		/* Not recorded, the topic could be freed under the client. */
		p->stats.congestion++;
		ack.return_code = MQTTSN_RC_CONGESTION;
		pso_warn("REGISTER from %s refused: out of memory", rx->c->id);
	}
	ack.topic_id = id;
	pso_reply(p, rx, &ack);
}

/*
 * The topic id a PUBLISH names, or 0 when unknown.  A short topic name is
 * registered on first use, but only for a connected client (c) and within
 * its share (*quota_err -EDQUOT): an unconnected QoS -1 sender must not be
 * able to fill the registry for good.
 */
static uint16_t publish_topic(struct pso_proto *p, const struct mqttsn_msg *m,
			      struct pso_client *c, int *quota_err)
{
	uint16_t id = 0;

	*quota_err = 0;
	switch (m->flags & MQTTSN_FLAG_TOPIC_MASK) {
	case MQTTSN_TOPIC_SHORT: {
		char name[3] = { m->topic_id >> 8, m->topic_id & 0xff, 0 };
		int ret = c ? pso_quota_topic_register(p, c, name, 2, &id)
			    : pso_registry_lookup(p->reg, name, 2, &id);

		if (ret == -EDQUOT)
			*quota_err = ret;
		return ret ? 0 : id;
	}
	case MQTTSN_TOPIC_PREDEFINED:
	case MQTTSN_TOPIC_NORMAL:
		return pso_registry_name(p->reg, m->topic_id) ? m->topic_id : 0;
	default:
		return 0;
	}
}

static bool qos2_seen(struct pso_client *c, uint16_t msg_id, bool add)
{
	for (int i = 0; i < c->nqos2; i++)
		if (c->qos2_pending[i] == msg_id)
			return true;
	if (add) {
		if (c->nqos2 == PSO_QOS2_PENDING_MAX)
			memmove(c->qos2_pending, c->qos2_pending + 1,
				(PSO_QOS2_PENDING_MAX - 1) * sizeof(c->qos2_pending[0]));
		else
			c->nqos2++;
		c->qos2_pending[c->nqos2 - 1] = msg_id;
	}
	return false;
}

static void qos2_release(struct pso_client *c, uint16_t msg_id)
{
	for (int i = 0; i < c->nqos2; i++) {
		if (c->qos2_pending[i] == msg_id) {
			c->qos2_pending[i] = c->qos2_pending[--c->nqos2];
			return;
		}
	}
}

/*
 * May this QoS -1 publish to topic id go on?  MQTT-SN 6.8 allows a
 * predefined id or a short topic name.  The default policy admits both,
 * ALL any topic, NONE nothing.  A short name never reaches the data plane's
 * topic table (the data plane passes it up), so it is judged here by its
 * form; an id by the topic's policy, as the data plane judges it.  A
 * refusal is counted and logged.
 */
static bool qosm1_admitted(struct pso_proto *p, const struct rx *rx, uint16_t id)
{
	bool short_name = (rx->m.flags & MQTTSN_FLAG_TOPIC_MASK) == MQTTSN_TOPIC_SHORT;
	char s[64];

	if (short_name ? p->cfg.qosm1 != PSO_QOSM1_NONE
		       : pso_topic_policy(p, id) & PSO_TOPIC_F_ALLOW_QOSM1)
		return true;
	p->stats.qosm1_denied++;
	pso_debug("QoS -1 publish from %s to topic %u (%s) denied by --qos-m1",
		  pso_endpoint_str(&rx->ep, s, sizeof(s)), id, pso_registry_name(p->reg, id));
	return false;
}

static void handle_publish(struct pso_proto *p, struct rx *rx)
{
	const struct mqttsn_msg *m = &rx->m;
	int qos = mqttsn_flags_qos(m->flags);
	uint8_t topic_type = m->flags & MQTTSN_FLAG_TOPIC_MASK;
	bool retain = m->flags & MQTTSN_FLAG_RETAIN, duplicate = false;
	uint16_t id;
	bool judged;
	int refused;

	if (qos != -1 && !rx->c) {
		pso_reply_unknown_rx(p, rx, MQTTSN_DISCONNECT);
		return;
	}
	id = publish_topic(p, m, rx->c, &refused);
	/* Meant for the topic the id named before it was freed (recycle.c). */
	if (id && topic_type != MQTTSN_TOPIC_SHORT && pso_topic_late(p, id, rx->rx_ns))
		id = 0;
	/* Over a quota (quota.c): a QoS 1/2 publish is refused whole; of a
	 * QoS 0/-1 one, which the data plane may have forwarded already,
	 * only what would be kept (its topic, its retained copy). */
	if (id && retain && pso_quota_retain(p, rx->c, id, m->data_len)) {
		refused = -EDQUOT;
		retain = false;
	}
	if (qos == 1 || qos == 2) {
		struct mqttsn_msg ack = {
			.type = qos == 1 ? MQTTSN_PUBACK : MQTTSN_PUBREC,
			.topic_id = m->topic_id, .msg_id = m->msg_id,
		};

		if (!id || refused) {
			/* PUBACK carries the refusal for both QoS 1 and 2. */
			ack.type = MQTTSN_PUBACK;
			ack.return_code = refused ? MQTTSN_RC_CONGESTION : MQTTSN_RC_INVALID_TOPIC;
			pso_reply(p, rx, &ack);
			return;
		}
		if (qos == 2)
			duplicate = qos2_seen(rx->c, m->msg_id, true);
		pso_reply(p, rx, &ack);
		if (duplicate)
			return;
	}
	if (!id) {
		/* 6.5: a QoS 0 publish to a topic id the gateway does not know
		 * is answered PUBACK "invalid topic id" too, so the client can
		 * register again - at most once a second per client, since it
		 * asks for no answer.  QoS -1 senders have no session. */
		if (qos == 0 && !refused && p->now_ms >= rx->c->unknown_reply_ms) {
			struct mqttsn_msg ack = {
				.type = MQTTSN_PUBACK, .topic_id = m->topic_id,
				.return_code = MQTTSN_RC_INVALID_TOPIC,
			};

			rx->c->unknown_reply_ms = p->now_ms + 1000;
			p->stats.unknown_topic++;
			pso_reply(p, rx, &ack);
		}
		return;
	}
	if (qos == -1 && !qosm1_admitted(p, rx, id))
		return;

	/* Only what the data plane forwards at all was served by it. */
	judged = (qos == 0 || qos == -1) && topic_type != MQTTSN_TOPIC_SHORT && rx->judged;
	if (retain)
		pso_retain_store(p, rx->c, id, m->flags, m->data, m->data_len);
	pso_deliver(p, id, rx->ep.family, judged, qos, rx->rx_ns, m->data, m->data_len);
}

/* Hold topic id for a new subscription; *added: its slot is new. */
static int subscribe_topic(struct pso_proto *p, struct pso_client *c, struct pso_subscription *s,
			   uint16_t id, bool *added)
{
	int ret = pso_client_hold(p, c, id, pso_form_of(s->kind), false, added);

	if (ret)
		return ret;
	s->topic_id = id;
	/* It named the topic itself: its SUBACK says the id. */
	pso_client_hold_of(c, id)->told = true;
	if (s->kind == PSO_SUB_NAME)
		pso_client_know(p, c, id);	/* its hold keeps the topic anyway */
	return 0;
}

/* One walk of the registry for a new filter: hold every matching topic. */
struct wildcard_ctx {
	struct pso_proto *p;
	struct pso_client *c;
	const char *filter;
	uint16_t *held, *added;
	int nheld, nadded;
	int err;
};

static int hold_matching(uint16_t id, const char *name, void *arg)
{
	struct wildcard_ctx *w = arg;
	bool added;

	if (!pso_topic_match(w->filter, name))
		return 0;
	w->err = pso_client_hold(w->p, w->c, id, PSO_FORM_NORMAL, true, &added);
	if (w->err)
		return 1;
	w->held[w->nheld++] = id;
	if (added)
		w->added[w->nadded++] = id;
	return 0;
}

static struct pso_subscription *find_subscription(struct pso_client *c, enum pso_sub_kind kind,
					      const char *filter, uint16_t id)
{
	for (int i = 0; i < c->nsubs; i++) {
		struct pso_subscription *s = &c->subs[i];

		if (s->kind != kind)
			continue;
		if (kind == PSO_SUB_PREDEFINED ? s->topic_id == id : !strcmp(s->filter, filter))
			return s;
	}
	return NULL;
}

/* Parse a SUBSCRIBE/UNSUBSCRIBE target into kind, name/filter and id. */
static int subscription_target(const struct mqttsn_msg *m, enum pso_sub_kind *kind,
			       char *name, size_t cap, uint16_t *id)
{
	switch (m->flags & MQTTSN_FLAG_TOPIC_MASK) {
	case MQTTSN_TOPIC_NORMAL:
		if (m->data_len == 0 || m->data_len >= cap)
			return -EINVAL;
		memcpy(name, m->data, m->data_len);
		name[m->data_len] = '\0';
		if (pso_topic_filter_is_wildcard(name, m->data_len)) {
			*kind = PSO_SUB_FILTER;
			return pso_topic_filter_valid(name, m->data_len) ? 0 : -EINVAL;
		}
		*kind = PSO_SUB_NAME;
		return pso_topic_name_valid(name, m->data_len) ? 0 : -EINVAL;
	case MQTTSN_TOPIC_PREDEFINED:
		*kind = PSO_SUB_PREDEFINED;
		*id = m->topic_id;
		name[0] = '\0';
		return 0;
	case MQTTSN_TOPIC_SHORT:
		*kind = PSO_SUB_SHORT;
		name[0] = m->topic_id >> 8;
		name[1] = m->topic_id & 0xff;
		name[2] = '\0';
		return 0;
	default:
		return -EINVAL;
	}
}

static void handle_subscribe(struct pso_proto *p, struct rx *rx)
{
	struct pso_client *c = rx->c;
	struct mqttsn_msg ack = {
		.type = MQTTSN_SUBACK, .flags = MQTTSN_FLAG_QOS_0, .msg_id = rx->m.msg_id,
		.return_code = MQTTSN_RC_ACCEPTED,
	};
	char name[PSO_TOPIC_NAME_MAX + 1];
	struct pso_subscription sub = { 0 }, *grown, *existing;
	enum pso_sub_kind kind;
	uint16_t id = 0, *added = NULL;
	int ret, nadded = 0;
	bool one_added = false;

	if (subscription_target(&rx->m, &kind, name, sizeof(name), &id)) {
		ack.return_code = MQTTSN_RC_INVALID_TOPIC;
		goto reply;
	}
	ack.flags = mqttsn_qos_flags(granted_qos(rx->m.flags));
	existing = find_subscription(c, kind, name, id);
	if (existing) {
		const uint16_t *ids;
		int n;

		/* Already subscribed: MQTT replaces the subscription, which
		 * here can change only its QoS. */
		existing->qos = granted_qos(rx->m.flags);
		n = sub_topics(existing, &ids);
		refresh_qos(c, ids, n);
		if (kind == PSO_SUB_NAME || kind == PSO_SUB_PREDEFINED)
			ack.topic_id = existing->topic_id;
		goto reply;
	}
	if (!pso_quota_subscription(p, c)) {
		ack.return_code = MQTTSN_RC_CONGESTION;
		goto reply;
	}
	grown = realloc(c->subs, (c->nsubs + 1) * sizeof(*c->subs));
	if (!grown) {
		ack.return_code = MQTTSN_RC_CONGESTION;
		goto reply;
	}
	c->subs = grown;
	sub.kind = kind;
	sub.qos = granted_qos(rx->m.flags);

	switch (kind) {
	case PSO_SUB_PREDEFINED:
		if (!pso_registry_is_predefined(p->reg, id)) {
			ack.return_code = MQTTSN_RC_INVALID_TOPIC;
			goto reply;
		}
		ret = subscribe_topic(p, c, &sub, id, &one_added);
		break;
	case PSO_SUB_NAME:
	case PSO_SUB_SHORT:
		/* A short name is exactly 2 bytes, NUL included: the registry
		 * refuses a NUL, as it does for PUBLISH. */
		ret = pso_quota_topic_register(p, c, name, kind == PSO_SUB_SHORT ? 2 : strlen(name),
					       &id);
		if (!ret)
			ret = subscribe_topic(p, c, &sub, id, &one_added);
		break;
	case PSO_SUB_FILTER: {
		struct wildcard_ctx w = { .p = p, .c = c, .filter = name };

		w.held = calloc(p->cfg.max_topics, sizeof(*w.held));
		w.added = calloc(p->cfg.max_topics, sizeof(*w.added));
		if (!w.held || !w.added) {
			free(w.held);
			free(w.added);
			ret = -ENOMEM;
			break;
		}
		pso_registry_foreach(p->reg, hold_matching, &w);
		ret = w.err;
		if (ret) {	/* all or nothing: give back what this filter took */
			pso_client_release(p, c, w.held, w.nheld);
			free(w.held);
			free(w.added);
		} else {
			uint16_t *fit = realloc(w.held, (w.nheld ? w.nheld : 1) * sizeof(*w.held));

			sub.ids = fit ? fit : w.held;
			sub.nids = w.nheld;
			added = w.added;
			nadded = w.nadded;
		}
		break;
	}
	default:
		ret = -EINVAL;
	}
	if (ret == -ENOSPC || ret == -ENOMEM || ret == -EDQUOT) {
		/* A quota's refusal is counted by quota.c, as its own. */
		if (ret != -EDQUOT)
			p->stats.congestion++;
		ack.return_code = MQTTSN_RC_CONGESTION;
		pso_warn("SUBSCRIBE %s from %s refused: %s", name[0] ? name : "(predefined)", c->id,
			 ret == -ENOSPC ? "table full" : ret == -EDQUOT ?
			 "over the client's quota of topics (--max-holds, --max-registrations)" :
			 "out of memory");
		goto reply;
	}
	if (ret) {
		ack.return_code = MQTTSN_RC_INVALID_TOPIC;
		goto reply;
	}
	if (kind != PSO_SUB_PREDEFINED) {
		sub.filter = strdup(name);
		if (!sub.filter) {
			if (kind == PSO_SUB_FILTER)
				pso_client_release(p, c, sub.ids, sub.nids);
			else
				pso_client_release(p, c, &id, 1);
			pso_subscription_free(&sub);
			if (kind == PSO_SUB_FILTER)
				free(added);
			ack.return_code = MQTTSN_RC_CONGESTION;
			goto reply;
		}
	}
	c->subs[c->nsubs++] = sub;
	if (kind == PSO_SUB_FILTER)
		pso_client_filters_add(p, c, 1);
	{
		const uint16_t *ids;
		int n = sub_topics(&sub, &ids);

		refresh_qos(c, ids, n);
	}
	/* SUBACK's topic id is meaningful for a name or a predefined id only. */
	if (kind == PSO_SUB_NAME || kind == PSO_SUB_PREDEFINED)
		ack.topic_id = id;
	pso_info("client %s subscribed to %s%s", c->id,
		 kind == PSO_SUB_PREDEFINED ? pso_registry_name(p->reg, id) : name,
		 kind == PSO_SUB_FILTER ? " (filter)" : "");
	pso_reply(p, rx, &ack);

	/* After SUBACK: names the client cannot know, then retained messages. */
	if (kind == PSO_SUB_FILTER) {
		for (int i = 0; i < sub.nids; i++) {
			/* Unproven: the names wait with the rest (validate.c). */
			if (c->v.ok)
				pso_send_register(p, c, sub.ids[i],
						  pso_registry_name(p->reg, sub.ids[i]));
			pso_retain_send(p, c, sub.ids[i]);
		}
	} else {
		/* A short name needs no REGISTER (MQTT-SN 6.7): publishes
		 * carry the name itself. */
		pso_retain_send(p, c, id);
		if (one_added) {
			added = &id;
			nadded = 1;
		}
	}
	/* Told: now the data plane may deliver to it, in the slots this
	 * subscription added (the others are served already). */
	pso_client_enable(p, c, added, nadded);
	if (kind == PSO_SUB_FILTER)
		free(added);
	return;
reply:
	pso_reply(p, rx, &ack);
}

static void unsubscribe(struct pso_proto *p, struct pso_client *c, struct pso_subscription *s)
{
	const uint16_t *topics;
	int n = sub_topics(s, &topics);
	uint16_t ids[n ? n : 1];

	memcpy(ids, topics, n * sizeof(ids[0]));
	/* Exactly the refs this subscription took, no more. */
	pso_client_release(p, c, ids, n);
	if (s->kind == PSO_SUB_FILTER)
		pso_client_filters_add(p, c, -1);
	pso_subscription_free(s);
	*s = c->subs[--c->nsubs];
	refresh_qos(c, ids, n);
}

static void handle_unsubscribe(struct pso_proto *p, struct rx *rx)
{
	struct mqttsn_msg ack = { .type = MQTTSN_UNSUBACK, .msg_id = rx->m.msg_id };
	char name[PSO_TOPIC_NAME_MAX + 1];
	struct pso_subscription *s;
	enum pso_sub_kind kind;
	uint16_t id = 0;

	if (!subscription_target(&rx->m, &kind, name, sizeof(name), &id)) {
		s = find_subscription(rx->c, kind, name, id);
		if (s) {
			pso_info("client %s unsubscribed from %s", rx->c->id,
				 s->filter ? s->filter : pso_registry_name(p->reg, id));
			unsubscribe(p, rx->c, s);
		}
	}
	/* UNSUBACK has no return code: it is sent whatever was there. */
	pso_reply(p, rx, &ack);
}

static void handle_pubrel(struct pso_proto *p, struct rx *rx)
{
	struct mqttsn_msg comp = { .type = MQTTSN_PUBCOMP, .msg_id = rx->m.msg_id };

	qos2_release(rx->c, rx->m.msg_id);
	pso_reply(p, rx, &comp);
}

static void handle_disconnect(struct pso_proto *p, struct rx *rx)
{
	struct pso_client *c = rx->c;

	pso_reply_simple(p, rx, MQTTSN_DISCONNECT);
	/* 6.14: with a duration the client goes to sleep; its session, will
	 * and slots stay, and what arrives for it is buffered. */
	if (rx->m.has_duration && rx->m.duration) {
		pso_sleep_start(p, c, rx->m.duration);
		return;
	}
	rx->c = NULL;
	pso_will_free(&c->will);	/* 6.3: never published after a DISCONNECT */
	if (c->clean) {
		pso_client_remove(p, c, "disconnected");
		return;
	}
	pso_info("client %s disconnected; session kept for %us", c->id, p->cfg.session_expiry_s);
	pso_client_detach(p, c);
}

/* The store cannot keep what this request would change: 0x01 (true), or
 * not a request that changes it (false). */
static bool refuse(struct pso_proto *p, struct rx *rx)
{
	struct mqttsn_msg ack = { .msg_id = rx->m.msg_id, .return_code = MQTTSN_RC_CONGESTION };

	switch (rx->m.type) {
	case MQTTSN_CONNECT:
		ack.type = MQTTSN_CONNACK;
		break;
	case MQTTSN_REGISTER:
		ack.type = MQTTSN_REGACK;
		break;
	case MQTTSN_SUBSCRIBE:
		ack.type = MQTTSN_SUBACK;
		ack.flags = rx->m.flags & MQTTSN_FLAG_QOS_MASK;
		break;
	case MQTTSN_UNSUBSCRIBE:
		p->stats.store_refused++;
		return true;
	default:
		return false;
	}
	p->stats.store_refused++;
	pso_reply(p, rx, &ack);
	return true;
}

static void handle_message(struct pso_proto *p, struct rx *rx)
{
	struct mqttsn_msg *m = &rx->m;
	bool needs_session;

	if (rx->c)
		rx->c->last_seen_ms = p->now_ms;
	if (m->type < PSO_PROTO_RX_TYPES)
		p->stats.rx_type[m->type]++;
	switch (m->type) {
	case MQTTSN_REGISTER:
	case MQTTSN_SUBSCRIBE:
	case MQTTSN_UNSUBSCRIBE:
	case MQTTSN_PUBREL:
	case MQTTSN_PINGREQ:
	case MQTTSN_DISCONNECT:
	case MQTTSN_WILLTOPIC:
	case MQTTSN_WILLMSG:
	case MQTTSN_WILLTOPICUPD:
	case MQTTSN_WILLMSGUPD:
		needs_session = true;
		break;
	default:
		needs_session = false;
	}
	if (needs_session && !rx->c) {
		/* MQTT-SN: a gateway answers a client it does not know with
		 * DISCONNECT, so the client reconnects - but never answers an
		 * answer (a DISCONNECT, a PUBREL it did not ask for), or two
		 * gateways, one spoofed datagram apart, would ping-pong. */
		if (m->type == MQTTSN_DISCONNECT || m->type == MQTTSN_PUBREL)
			p->stats.unknown_dropped++;
		else
			pso_reply_unknown_rx(p, rx, MQTTSN_DISCONNECT);
		return;
	}

	if (p->refusing && refuse(p, rx))
		return;
	switch (m->type) {
	case MQTTSN_SEARCHGW: {
		struct mqttsn_msg gw = { .type = MQTTSN_GWINFO, .gw_id = p->cfg.gw_id };

		pso_reply(p, rx, &gw);
		break;
	}
	case MQTTSN_CONNECT:
		pso_handle_connect(p, rx);
		break;
	case MQTTSN_REGISTER:
		handle_register(p, rx);
		break;
	case MQTTSN_PUBLISH:
		handle_publish(p, rx);
		break;
	case MQTTSN_PUBREL:
		handle_pubrel(p, rx);
		break;
	case MQTTSN_SUBSCRIBE:
		handle_subscribe(p, rx);
		break;
	case MQTTSN_UNSUBSCRIBE:
		handle_unsubscribe(p, rx);
		break;
	case MQTTSN_PINGREQ:
		/* 6.14: a sleeper's PINGREQ wakes it until it has all it is
		 * owed; PINGRESP comes after that. */
		if (rx->c->asleep)
			pso_sleep_ping(p, rx->c);
		else
			pso_reply_simple(p, rx, MQTTSN_PINGRESP);
		break;
	case MQTTSN_DISCONNECT:
		handle_disconnect(p, rx);
		break;
	case MQTTSN_WILLTOPIC:
	case MQTTSN_WILLMSG:
	case MQTTSN_WILLTOPICUPD:
	case MQTTSN_WILLMSGUPD:
		pso_handle_will(p, rx);
		break;
	case MQTTSN_PUBACK:	/* answers to our QoS 1/2 deliveries */
	case MQTTSN_PUBREC:
	case MQTTSN_PUBCOMP:
		if (rx->c) {
			/* An echo of the broker's message id proves the address. */
			bool proved = pso_valid_answer(p, rx->c, m->type, m->msg_id);

			pso_outbox_ack(p, rx->c, m->type, m->msg_id);
			if (proved)
				pso_valid_proved(p, rx->c);
		}
		break;
	case MQTTSN_REGACK:	/* answers to our REGISTER */
		if (rx->c && pso_valid_answer(p, rx->c, m->type, m->msg_id))
			pso_valid_proved(p, rx->c);
		break;
	case MQTTSN_PINGRESP:
	case MQTTSN_ADVERTISE:	/* other gateways */
	case MQTTSN_GWINFO:
		break;
	default:
		/* Gateway-to-client messages and forwarder encapsulation: no
		 * message of MQTT-SN can carry a refusal for these. */
		p->stats.rx_unsupported++;
		pso_debug("ignoring %s from a client", mqttsn_type_name(m->type));
		break;
	}
	/* What a session keeps changed (a QoS 0 or -1 publish changes none). */
	if (rx->c && (m->type != MQTTSN_PUBLISH || mqttsn_flags_qos(m->flags) == 2) &&
	    (m->type != MQTTSN_PINGREQ || rx->c->asleep) && m->type != MQTTSN_REGISTER &&
	    m->type != MQTTSN_REGACK)
		pso_session_touch(p, rx->c);
}


void pso_proto_input(struct pso_proto *p, const struct pso_rx *in, const uint8_t *buf, size_t len,
		     uint64_t now_ms)
{
	struct rx rx = { .ep = in->ep, .local = in->local, .judged = in->judged,
			 .rx_ns = in->rx_ns, .len = len };
	struct mqttsn_encap e;

	p->now_ms = now_ms;
	p->stats.rx_msgs++;
	if (len >= 2 && buf[1] == MQTTSN_ENCAPSULATED) {
		/* 5.5: the client is (forwarder, node); the data plane did not
		 * look inside. */
		if (mqttsn_decap(buf, len, &e, &buf, &len)) {
			p->stats.rx_malformed++;
			return;
		}
		rx.fwd = &e;
		rx.fwd_ep = in->ep;
		rx.fwd_local = in->local;
		rx.judged = false;
		rx.c = pso_fwd_find(p, &in->ep, &e);
		if (rx.c)
			rx.ep = rx.c->ep;
		else
			pso_fwd_placeholder(p, &rx.ep);
		p->stats.forwarded++;
	}
	if (mqttsn_decode(buf, len, &rx.m)) {
		p->stats.rx_malformed++;
		return;
	}
	/* Per source network: a forwarder's nodes share its address. */
	if (!pso_quota_source(p, &in->ep, rx.m.type))
		return;
	if (!rx.fwd)
		rx.c = pso_client_find(p, &rx.ep);
	if (rx.c)
		pso_valid_rx(rx.c, rx.len);
	handle_message(p, &rx);
}
