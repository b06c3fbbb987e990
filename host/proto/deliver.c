// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * deliver.c - what the daemon sends: replies, REGISTERs, and publishes on
 * the host path.
 *
 * Who delivers a publish:
 *   - the data plane, for QoS 0/-1 publishes with a normal or predefined
 *     topic id, to every slot that is servable when the publish arrives;
 *   - the daemon, for every other subscriber of such a publish when the
 *     data plane passes it up (it judged the datagram: pso_rx.judged), and
 *     to every subscriber of what the data plane does not forward at all:
 *     QoS 1/2, short topic names, fragments, publishes that arrive on an
 *     interface without the data plane (e.g. loopback).
 * The daemon walks the topic's holds (its own subscription state) and asks
 * the table writer only whether the data plane served a subscriber.
 * Each subscriber gets a publish at the lower of the publish's QoS and the
 * QoS its subscriptions were granted (QoS -1 counts as 0), in the form it
 * knows the topic by (struct pso_hold.form).  QoS 0 is sent at once; QoS
 * 1/2 deliveries go through the session's outbox (outbox.c).  The data
 * plane only ever forwards QoS 0/-1 publishes, which every subscriber gets
 * at QoS 0, so it serves QoS 1/2 subscribers too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "proto/session.h"
#include "proto/topics.h"
#include "util/log.h"

int pso_send_msg(struct pso_proto *p, const struct pso_endpoint *ep,
		 const struct in6_pktinfo *local, const struct mqttsn_msg *m)
{
	ssize_t n = mqttsn_encode(m, p->txbuf, sizeof(p->txbuf));

	if (n < 0) {
		pso_warn("cannot encode %s: %s", mqttsn_type_name(m->type), strerror((int)-n));
		return (int)n;
	}
	return p->ops->send(p->ctx, ep, local, p->txbuf, (size_t)n);
}

int pso_send_simple(struct pso_proto *p, const struct pso_endpoint *ep,
		    const struct in6_pktinfo *local, uint8_t type)
{
	struct mqttsn_msg m = { .type = type };

	return pso_send_msg(p, ep, local, &m);
}

int pso_send_to(struct pso_proto *p, struct pso_client *c, const struct mqttsn_msg *m)
{
	/* Not yet proven: within 3 x what its endpoint sent (validate.c). */
	if (!pso_valid_may_send(p, c, m))
		return -ENOBUFS;
	if (pso_client_forwarded(c))
		return pso_fwd_send(p, &c->fwd_ep, &c->fwd_local, &c->fwd, m);
	return pso_send_msg(p, &c->ep, &c->local, m);
}

int pso_send_to_simple(struct pso_proto *p, struct pso_client *c, uint8_t type)
{
	struct mqttsn_msg m = { .type = type };

	return pso_send_to(p, c, &m);
}

bool pso_unknown_reply_allowed(struct pso_proto *p)
{
	/* A token bucket over every endpoint without a session: what a
	 * spoofer can make the broker send anyone is bounded. */
	if (p->now_ms >= p->unknown_refill_ms) {
		p->unknown_tokens = PSO_UNKNOWN_REPLIES_PER_S;
		p->unknown_refill_ms = p->now_ms + 1000;
	}
	if (!p->unknown_tokens) {
		p->stats.unknown_dropped++;
		return false;
	}
	p->unknown_tokens--;
	return true;
}

int pso_reply_unknown(struct pso_proto *p, const struct pso_endpoint *ep,
		      const struct in6_pktinfo *local, uint8_t type)
{
	if (!pso_unknown_reply_allowed(p))
		return -EAGAIN;
	return pso_send_simple(p, ep, local, type);
}

int pso_send_register(struct pso_proto *p, struct pso_client *c, uint16_t id, const char *name)
{
	struct mqttsn_msg m = {
		.type = MQTTSN_REGISTER,
		.topic_id = id,
		.msg_id = ++c->next_msg_id ? c->next_msg_id : ++c->next_msg_id,
		.data = (const uint8_t *)name,
		.data_len = strlen(name),
	};

	pso_client_know(p, c, id);	/* from now on it may use the id */
	return pso_send_to(p, c, &m);
}

enum pso_form pso_form_of(enum pso_sub_kind kind)
{
	switch (kind) {
	case PSO_SUB_PREDEFINED:
		return PSO_FORM_PREDEFINED;
	case PSO_SUB_SHORT:
		return PSO_FORM_SHORT;
	default:
		return PSO_FORM_NORMAL;
	}
}

int pso_hold_qos(const struct pso_client *c, uint16_t id)
{
	int qos = 0;

	for (int i = 0; i < c->nsubs; i++) {
		const struct pso_subscription *s = &c->subs[i];
		bool wants = s->kind != PSO_SUB_FILTER && s->topic_id == id;

		for (int k = 0; !wants && s->kind == PSO_SUB_FILTER && k < s->nids; k++)
			wants = s->ids[k] == id;
		if (wants && s->qos > qos)
			qos = s->qos;
	}
	return qos;
}

/* A publish to one subscriber, in the form it knows the topic by, at QoS
 * qos: QoS 0 goes now, QoS 1/2 through the session's outbox. */
static int send_publish(struct pso_proto *p, const struct pso_hold *h, bool retain, int qos,
			const uint8_t *data, size_t len)
{
	struct mqttsn_msg m = {
		.type = MQTTSN_PUBLISH,
		.flags = mqttsn_qos_flags(qos) | (retain ? MQTTSN_FLAG_RETAIN : 0),
		.topic_id = h->id,
		.data = data,
		.data_len = len,
	};
	const char *name;

	switch (h->form) {
	case PSO_FORM_PREDEFINED:
		m.flags |= MQTTSN_TOPIC_PREDEFINED;
		break;
	case PSO_FORM_SHORT:
		/* The two characters themselves, as the client sent them. */
		name = pso_registry_name(p->reg, h->id);
		if (!name || strlen(name) != 2)
			return -EINVAL;
		m.flags |= MQTTSN_TOPIC_SHORT;
		m.topic_id = (uint16_t)((uint8_t)name[0] << 8 | (uint8_t)name[1]);
		break;
	default:
		m.flags |= MQTTSN_TOPIC_NORMAL;
	}
	if (qos > 0)
		return pso_outbox_add(p, h->c, m.flags, m.topic_id, data, len);
	if (!h->c->connected)
		return 0;	/* QoS 0 is not kept for a client away */
	if (!h->c->v.ok)	/* its address not proven yet: kept till it is */
		return pso_valid_hold(p, h->c, m.flags, m.topic_id, data, len);
	if (!pso_client_reachable(h->c))	/* asleep: kept for its wake-up */
		return pso_sleep_buffer(p, h->c, m.flags, m.topic_id, data, len);
	p->stats.host_deliveries++;
	return pso_send_to(p, h->c, &m);
}

void pso_deliver(struct pso_proto *p, uint16_t id, uint8_t family, bool judged, int qos,
		 uint64_t rx_ns, const uint8_t *data, size_t len)
{
	if (qos < 0)
		qos = 0;	/* QoS -1 exists only from client to gateway */
	for (struct pso_hold *h = p->topic_holds[id]; h; h = h->next) {
		/* Each subscriber at the lower of the publish's QoS and its own. */
		int q = qos < h->qos ? qos : h->qos;

		/* A kept session's client is away: QoS 0 is not kept for it. */
		if (!q && !h->c->connected)
			continue;
		if (judged && h->c->connected &&
		    p->ops->slot_served(p->ctx, id, &h->c->ep, family, rx_ns))
			continue;
		send_publish(p, h, false, q, data, len);
	}
}

void pso_retain_store(struct pso_proto *p, struct pso_client *c, uint16_t id, uint8_t flags,
		      const uint8_t *data, size_t len)
{
	struct pso_retained *r = NULL;

	if (len) {
		r = malloc(sizeof(*r) + len);
		if (!r) {
			pso_warn("topic %u: out of memory for the retained message", id);
			return;
		}
		r->flags = flags;
		r->len = len;
		memcpy(r->data, data, len);
	}
	pso_quota_retained_set(p, id, r, c);
	free(p->retained[id]);
	/* An empty retained publish clears the topic's retained message (MQTT). */
	p->retained[id] = r;
	pso_topic_touch(p, id);
	if (p->ops->retained_changed)
		p->ops->retained_changed(p->ctx, id);
}

void pso_retain_send(struct pso_proto *p, struct pso_client *c, uint16_t id)
{
	struct pso_retained *r = p->retained[id];
	struct pso_hold *h = pso_client_hold_of(c, id);
	int qos;

	if (!r || !h)
		return;
	if (!c->v.ok) {		/* the retained message waits for validation */
		h->retain_owed = true;
		return;
	}
	qos = mqttsn_flags_qos(r->flags);
	if (qos < 0)
		qos = 0;
	send_publish(p, h, true, qos < h->qos ? qos : h->qos, r->data, r->len);
}
