// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sleep.c - sleeping clients (MQTT-SN 6.14).
 *
 * DISCONNECT with a duration puts a client to sleep: the gateway answers
 * DISCONNECT, takes its slots from the data plane (they stay in the tables,
 * not servable, so what the data plane sees for it comes up here) and
 * buffers what arrives for it: QoS 0 publishes in the sleep buffer (bounded,
 * the oldest dropped and counted), QoS 1/2 in its outbox, which waits.
 * A PINGREQ with its client id wakes it for a moment: the REGISTERs of
 * topics it does not know yet, then every buffered message once, then -
 * when its outbox is empty too - PINGRESP, and it sleeps again.  A CONNECT
 * wakes it for good: its session and buffer are kept whatever the
 * CONNECT's CleanSession says (it is the wake-up the spec describes), and
 * it is resumed like any kept session (handlers.c: resume_session).  Silent past 1.5 x the sleep duration, it is lost (will
 * published) like a client past its keep-alive.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "proto/session.h"
#include "proto/topics.h"
#include "util/log.h"

static void buffer_free(struct pso_proto *p, struct pso_client *c)
{
	p->buffered -= c->zz_len;
	while (c->zz_head)
		free(pso_outmsg_pop(&c->zz_head, &c->zz_tail));
	c->zz_len = 0;
}

void pso_sleep_free(struct pso_proto *p, struct pso_client *c)
{
	buffer_free(p, c);
}

int pso_sleep_buffer(struct pso_proto *p, struct pso_client *c, uint8_t flags,
		     uint16_t topic_field, const uint8_t *data, size_t len)
{
	uint32_t max = p->cfg.lim.sleep_buffer;
	struct pso_outmsg *o;

	/* Its own buffer full, or every buffer together (quota.c): the
	 * sleeper's oldest makes room, so the newest is what it wakes to. */
	if (c->zz_head && ((max && c->zz_len >= max) || pso_quota_buffers_full(p))) {
		free(pso_outmsg_pop(&c->zz_head, &c->zz_tail));
		c->zz_len--;
		p->buffered--;
		p->stats.sleep_dropped++;
	}
	if (!pso_quota_buffer(p))
		return -ENOBUFS;
	o = pso_outmsg_new(flags, topic_field, data, len);
	if (!o)
		return -ENOMEM;
	pso_outmsg_append(&c->zz_head, &c->zz_tail, o);
	c->zz_len++;
	p->buffered++;
	p->stats.sleep_buffered++;
	pso_session_touch(p, c);
	return 0;
}

void pso_sleep_start(struct pso_proto *p, struct pso_client *c, uint16_t duration_s)
{
	uint16_t ids[c->nheld ? c->nheld : 1];

	c->asleep = true;
	c->awake = false;
	/* Asleep is as long as a keep-alive may be (quota.c). */
	c->sleep_s = pso_quota_keepalive(p, duration_s);
	pso_info("client %s asleep for %us%s", c->id, c->sleep_s,
		 c->sleep_s != duration_s ? " (capped: --max-keepalive)" : "");
	/* The same slots, not servable: the data plane passes it up. */
	pso_client_enable(p, c, ids, pso_client_held_ids(c, ids));
}

void pso_session_owed(struct pso_proto *p, struct pso_client *c, bool enable_slots)
{
	/* First the names it does not know (no PUBLISH before its REGISTER)... */
	for (int i = 0; i < c->nheld; i++) {
		struct pso_hold *h = c->held[i];

		if (!h->told) {
			pso_send_register(p, c, h->id, pso_registry_name(p->reg, h->id));
			h->told = true;
		}
	}
	if (enable_slots) {
		uint16_t ids[c->nheld ? c->nheld : 1];

		pso_client_enable(p, c, ids, pso_client_held_ids(c, ids));
	}
	/* ... then each buffered message once: the buffer empties ... */
	for (struct pso_outmsg *o = c->zz_head; o; o = o->next) {
		struct mqttsn_msg m = {
			.type = MQTTSN_PUBLISH, .flags = o->flags, .topic_id = o->topic_field,
			.data = o->data, .data_len = o->len,
		};

		p->stats.host_deliveries++;
		pso_send_to(p, c, &m);
	}
	buffer_free(p, c);
	/* ... then the QoS 1/2 ones, one at a time. */
	pso_outbox_back(p, c);
}

void pso_sleep_ping(struct pso_proto *p, struct pso_client *c)
{
	c->awake = true;
	pso_session_owed(p, c, false);
	pso_sleep_outbox_done(p, c);
}

void pso_sleep_outbox_done(struct pso_proto *p, struct pso_client *c)
{
	/* Awake for a PINGREQ: PINGRESP only after everything owed. */
	if (!c->asleep || !c->awake || c->out_head)
		return;
	c->awake = false;
	pso_send_to_simple(p, c, MQTTSN_PINGRESP);
}
