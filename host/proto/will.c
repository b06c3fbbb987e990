// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * will.c - wills (MQTT-SN 6.2-6.4).
 *
 * A CONNECT with the Will flag is completed in three steps: the gateway
 * asks for the topic (WILLTOPICREQ), then for the message (WILLMSGREQ),
 * then sends CONNACK.  The will is published, with the QoS and RETAIN its
 * WILLTOPIC gave, when the client is lost: keep-alive expiry or a takeover
 * of its client id.  A DISCONNECT discards it.  WILLTOPICUPD and WILLMSGUPD
 * change it later; an empty WILLTOPIC(UPD) deletes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "proto/session.h"
#include "proto/topics.h"
#include "util/log.h"

void pso_will_free(struct pso_will *w)
{
	free(w->topic);
	free(w->msg);
	memset(w, 0, sizeof(*w));
}

struct pso_will pso_will_take(struct pso_client *c)
{
	struct pso_will w = c->will;

	memset(&c->will, 0, sizeof(c->will));
	return w;
}

static int set_topic(struct pso_will *w, const struct mqttsn_msg *m)
{
	char *topic;

	if (!m->data_len) {	/* the empty form: no will */
		pso_will_free(w);
		return 0;
	}
	if (!pso_topic_name_valid((const char *)m->data, m->data_len))
		return -EINVAL;
	topic = strndup((const char *)m->data, m->data_len);
	if (!topic)
		return -ENOMEM;
	free(w->topic);
	w->topic = topic;
	w->flags = m->flags & (MQTTSN_FLAG_QOS_MASK | MQTTSN_FLAG_RETAIN);
	return 0;
}

static int set_msg(struct pso_will *w, const struct mqttsn_msg *m)
{
	uint8_t *msg = malloc(m->data_len ? m->data_len : 1);

	if (!msg)
		return -ENOMEM;
	if (m->data_len)
		memcpy(msg, m->data, m->data_len);
	free(w->msg);
	w->msg = msg;
	w->len = m->data_len;
	return 0;
}

static uint8_t rc_of(int err)
{
	switch (err) {
	case 0:
		return MQTTSN_RC_ACCEPTED;
	case -ENOMEM:
		return MQTTSN_RC_CONGESTION;
	default:
		return MQTTSN_RC_INVALID_TOPIC;	/* not a topic name */
	}
}

uint8_t pso_will_input(struct pso_proto *p, struct pso_client *c, const struct mqttsn_msg *m,
		       struct mqttsn_msg *reply, bool *connected)
{
	int err;

	(void)p;
	*connected = false;
	memset(reply, 0, sizeof(*reply));
	switch (m->type) {
	case MQTTSN_WILLTOPIC:
		if (c->will_step != PSO_WILL_WAIT_TOPIC)
			return 0;	/* not asked for: nothing to answer */
		err = set_topic(&c->will, m);
		if (err || !c->will.topic) {
			/* A bad or empty will topic: connected without a will,
			 * or refused. */
			c->will_step = PSO_WILL_DONE;
			reply->type = MQTTSN_CONNACK;
			reply->return_code = err ? rc_of(err) : MQTTSN_RC_ACCEPTED;
			*connected = !err;
			return reply->type;
		}
		c->will_step = PSO_WILL_WAIT_MSG;
		reply->type = MQTTSN_WILLMSGREQ;
		return reply->type;
	case MQTTSN_WILLMSG:
		if (c->will_step != PSO_WILL_WAIT_MSG)
			return 0;
		err = set_msg(&c->will, m);
		c->will_step = PSO_WILL_DONE;
		reply->type = MQTTSN_CONNACK;
		reply->return_code = rc_of(err);
		*connected = !err;
		return reply->type;
	case MQTTSN_WILLTOPICUPD:
		err = set_topic(&c->will, m);
		if (!err && c->will.topic && !c->will.msg)
			err = set_msg(&c->will, &(struct mqttsn_msg){ 0 });
		reply->type = MQTTSN_WILLTOPICRESP;
		reply->return_code = rc_of(err);
		return reply->type;
	case MQTTSN_WILLMSGUPD:
		/* A message with no will topic would never be published. */
		err = c->will.topic ? set_msg(&c->will, m) : -EINVAL;
		reply->type = MQTTSN_WILLMSGRESP;
		reply->return_code = rc_of(err);
		return reply->type;
	default:
		return 0;
	}
}

void pso_will_publish(struct pso_proto *p, struct pso_will *w, const char *client_id)
{
	uint16_t id;
	int ret;

	if (!w->topic)
		return;
	ret = pso_topic_register(p, w->topic, strlen(w->topic), &id);
	if (ret) {
		pso_warn("client %s: will on %s not published: %s", client_id, w->topic,
			 ret == -ENOSPC ? "topic table full" : strerror(-ret));
	} else {
		pso_info("client %s: will published on %s", client_id, w->topic);
		p->stats.wills_published++;
		/* Its client is gone: only the total bounds what it keeps. */
		if ((w->flags & MQTTSN_FLAG_RETAIN) && !pso_quota_retain(p, NULL, id, w->len))
			pso_retain_store(p, NULL, id, w->flags, w->msg, w->len);
		pso_deliver(p, id, 0, false, mqttsn_flags_qos(w->flags), 0, w->msg, w->len);
	}
	pso_will_free(w);
}
