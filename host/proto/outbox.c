// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * outbox.c - QoS 1 and 2 deliveries (MQTT-SN 6.5, 6.6, 6.13).
 *
 * Each session has an outbox: the publishes it is owed at QoS 1 or 2, in
 * order.  One is in flight at a time, with a message id of the broker's;
 * it is sent again with DUP set every retry_s until acknowledged (PUBACK;
 * PUBREC then PUBREL/PUBCOMP for QoS 2), at most retries times, then given
 * up.  A kept session's outbox waits while its client is away and goes on
 * when it is back.  QoS 0 deliveries never come here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "proto/session.h"
#include "util/log.h"

struct pso_outmsg *pso_outmsg_new(uint8_t flags, uint16_t topic_field, const uint8_t *data,
				  size_t len)
{
	struct pso_outmsg *o = calloc(1, sizeof(*o) + len);

	if (!o)
		return NULL;
	o->flags = flags;
	o->topic_field = topic_field;
	o->len = len;
	if (len)
		memcpy(o->data, data, len);
	return o;
}

void pso_outmsg_append(struct pso_outmsg **head, struct pso_outmsg **tail, struct pso_outmsg *o)
{
	if (*tail)
		(*tail)->next = o;
	else
		*head = o;
	*tail = o;
}

struct pso_outmsg *pso_outmsg_pop(struct pso_outmsg **head, struct pso_outmsg **tail)
{
	struct pso_outmsg *o = *head;

	if (!o)
		return NULL;
	*head = o->next;
	if (!*head)
		*tail = NULL;
	o->next = NULL;
	return o;
}

static uint16_t next_msg_id(struct pso_client *c)
{
	if (!++c->next_msg_id)
		++c->next_msg_id;	/* 0 is no message id */
	return c->next_msg_id;
}

static void send_inflight(struct pso_proto *p, struct pso_client *c, bool dup)
{
	const struct pso_outmsg *o = c->out_head;
	struct mqttsn_msg m = { .msg_id = o->msg_id };

	if (o->state == PSO_OUT_WAIT_COMP) {
		m.type = MQTTSN_PUBREL;
	} else {
		m.type = MQTTSN_PUBLISH;
		m.flags = o->flags | (dup ? MQTTSN_FLAG_DUP : 0);
		m.topic_id = o->topic_field;
		m.data = o->data;
		m.data_len = o->len;
	}
	pso_send_to(p, c, &m);
	c->out_sent_ms = p->now_ms;
}

/* Start the next delivery if none is in flight and the client is here. */
static void pump(struct pso_proto *p, struct pso_client *c)
{
	struct pso_outmsg *o = c->out_head;

	if (!o || !pso_outbox_may_send(c) || o->state != PSO_OUT_QUEUED)
		return;
	if (!o->msg_id)
		o->msg_id = next_msg_id(c);
	o->state = PSO_OUT_WAIT_ACK;
	c->out_tries = 1;
	/* Sent before the client went away: this is a retransmission. */
	send_inflight(p, c, o->sent_before);
	o->sent_before = true;
}

static void pop(struct pso_proto *p, struct pso_client *c)
{
	free(pso_outmsg_pop(&c->out_head, &c->out_tail));
	c->out_len--;
	p->buffered--;
	pump(p, c);
	pso_sleep_outbox_done(p, c);
}

int pso_outbox_add(struct pso_proto *p, struct pso_client *c, uint8_t flags, uint16_t topic_field,
		   const uint8_t *data, size_t len)
{
	uint32_t max = p->cfg.lim.outbox;
	struct pso_outmsg *o;

	if (max && c->out_len >= max) {
		p->stats.qos_queue_full++;
		pso_debug("client %s: outbox full (%u, --max-outbox): a QoS %d delivery dropped",
			  c->id, max, mqttsn_flags_qos(flags));
		return -ENOSPC;
	}
	if (!pso_quota_buffer(p)) {
		pso_debug("client %s: every buffer full (--max-buffered-total): a QoS %d delivery dropped",
			  c->id, mqttsn_flags_qos(flags));
		return -ENOBUFS;
	}
	o = pso_outmsg_new(flags, topic_field, data, len);
	if (!o)
		return -ENOMEM;
	pso_outmsg_append(&c->out_head, &c->out_tail, o);
	c->out_len++;
	p->buffered++;
	p->stats.qos_deliveries++;
	pso_session_touch(p, c);
	pump(p, c);
	return 0;
}

void pso_outbox_ack(struct pso_proto *p, struct pso_client *c, uint8_t type, uint16_t msg_id)
{
	struct pso_outmsg *o = c->out_head;

	if (!o || o->msg_id != msg_id)
		return;	/* not what is in flight: a late or stray answer */
	switch (type) {
	case MQTTSN_PUBACK:
		if (o->state == PSO_OUT_WAIT_ACK && mqttsn_flags_qos(o->flags) == 1)
			pop(p, c);
		break;
	case MQTTSN_PUBREC:
		if (o->state == PSO_OUT_WAIT_ACK && mqttsn_flags_qos(o->flags) == 2) {
			o->state = PSO_OUT_WAIT_COMP;
			c->out_tries = 1;
			send_inflight(p, c, false);
		} else if (o->state == PSO_OUT_WAIT_COMP) {
			send_inflight(p, c, false);	/* our PUBREL was lost */
		}
		break;
	case MQTTSN_PUBCOMP:
		if (o->state == PSO_OUT_WAIT_COMP)
			pop(p, c);
		break;
	}
}

void pso_outbox_tick(struct pso_proto *p, struct pso_client *c)
{
	struct pso_outmsg *o = c->out_head;

	if (!o || !pso_outbox_may_send(c) || o->state == PSO_OUT_QUEUED ||
	    p->now_ms - c->out_sent_ms < (uint64_t)p->cfg.retry_s * 1000)
		return;
	if (c->out_tries > p->cfg.retries) {
		p->stats.qos_given_up++;
		pso_info("client %s: QoS %d delivery of message %u given up after %u retries",
			 c->id, mqttsn_flags_qos(o->flags), o->msg_id, p->cfg.retries);
		pso_session_touch(p, c);
		pop(p, c);
		return;
	}
	c->out_tries++;
	p->stats.qos_retransmits++;
	send_inflight(p, c, true);
}

void pso_outbox_away(struct pso_client *c)
{
	/* The in-flight one goes again, whole, when the client is back. */
	if (c->out_head && c->out_head->state != PSO_OUT_WAIT_COMP)
		c->out_head->state = PSO_OUT_QUEUED;
}

void pso_outbox_back(struct pso_proto *p, struct pso_client *c)
{
	if (c->out_head && c->out_head->state == PSO_OUT_WAIT_COMP) {
		c->out_tries = 1;
		send_inflight(p, c, false);
		return;
	}
	pump(p, c);
}

void pso_outbox_free(struct pso_proto *p, struct pso_client *c)
{
	p->buffered -= c->out_len;
	while (c->out_head)
		free(pso_outmsg_pop(&c->out_head, &c->out_tail));
	c->out_len = 0;
}
