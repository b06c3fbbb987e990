// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * connect.c - CONNECT (MQTT-SN 6.2, 6.3): which session it opens or
 * resumes, the will handshake before CONNACK, and what a resumed session
 * is owed after it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "proto/handlers.h"
#include "proto/topics.h"
#include "util/log.h"

/*
 * The session a CONNECT opens (MQTT-SN 6.2, CleanSession): a clean CONNECT
 * ends whatever session the client id had and starts a new one; otherwise
 * a session kept for the id - offline, or connected at another endpoint
 * (the old connection is taken over) - resumes at this endpoint with its
 * subscriptions.  A client id lives at one endpoint, and an endpoint holds
 * one client.  NULL with ack's return code set when refused.
 */
static struct pso_client *connect_session(struct pso_proto *p, struct rx *rx, const char *id,
					  struct mqttsn_msg *ack)
{
	bool clean = rx->m.flags & MQTTSN_FLAG_CLEAN_SESSION;
	struct pso_client *old = pso_client_find_id(p, id), *c;
	struct pso_will lost = { 0 };
	char s[64];

	/* A sleeper's CONNECT is its wake-up (6.14): the session goes on,
	 * with what was buffered for it. */
	if (old && old->asleep)
		clean = false;
	/* A live session of this id at another endpoint is taken over: that
	 * client is lost, and its will is published. */
	if (old && old->connected && old != rx->c)
		lost = pso_will_take(old);
	if (old && clean) {
		pso_client_remove(p, old, old == rx->c ? "reconnected" : "replaced by a new connection");
		if (old == rx->c)
			rx->c = NULL;
		old = NULL;
	}
	if (rx->c && rx->c != old) {
		/* Another client id at this endpoint: that one is gone. */
		pso_client_remove(p, rx->c, "reconnected");
		rx->c = NULL;
	}
	if (old && old->connected) {
		pso_info("client %s: session moves from %s", id,
			 pso_endpoint_str(&old->ep, s, sizeof(s)));
		pso_client_detach(p, old);
	}
	pso_will_publish(p, &lost, id);
	/* The data plane's client table admits direct clients' QoS 0
	 * publishes; a forwarded client's come wrapped, to the daemon. */
	if (p->nclients >= p->cfg.max_clients ||
	    (!rx->fwd && p->ops->client_add(p->ctx, &rx->ep))) {
		p->stats.congestion++;
		ack->return_code = MQTTSN_RC_CONGESTION;
		pso_warn("client %s (%s) refused: client table full", id,
			 pso_endpoint_str(&rx->ep, s, sizeof(s)));
		return NULL;
	}
	if (old) {
		pso_fwd_set(p, old, rx->fwd, &rx->fwd_ep, &rx->fwd_local);
		pso_client_attach(p, old, &rx->ep, &rx->local);
		return old;
	}
	c = pso_client_new(p, &rx->ep, &rx->local, id);
	if (!c) {
		if (!rx->fwd)
			p->ops->client_remove(p->ctx, &rx->ep);
		ack->return_code = MQTTSN_RC_CONGESTION;
		return NULL;
	}
	pso_fwd_set(p, c, rx->fwd, &rx->fwd_ep, &rx->fwd_local);
	pso_client_resolve(p, c);
	return c;
}

/* After the CONNACK of a resumed session (kept, or woken from sleep): the
 * names of topics its filters took while it was away, its slots servable
 * again, then what was buffered for it. */
static void resume_session(struct pso_proto *p, struct pso_client *c)
{
	pso_session_owed(p, c, true);
}

/* The CONNECT is complete: CONNACK, then what a resumed session needs. */
static void connect_done(struct pso_proto *p, struct pso_client *c, const struct mqttsn_msg *ack)
{
	char s[64];

	pso_info("client %s connected from %s%s, keep-alive %us%s%s%s", c->id,
		 pso_endpoint_str(pso_client_forwarded(c) ? &c->fwd_ep : &c->ep, s, sizeof(s)),
		 pso_client_forwarded(c) ? " (a forwarder's node)" : "", c->keepalive_s,
		 c->keepalive_s != c->keepalive_asked ? " (capped: --max-keepalive)" : "",
		 c->nheld ? ", session resumed" : "", c->will.topic ? ", with a will" : "");
	if (c->slot.flags & PSO_SUB_F_RESOLVED)
		pso_client_log_next_hop(p, c);
	pso_send_to(p, c, ack);
	/* Unproven, it is owed what a resumed session is once proven. */
	if (!c->v.ok) {
		pso_valid_challenge(p, c);
		return;
	}
	if (c->nheld || c->zz_head || c->out_head)
		resume_session(p, c);
}

void pso_handle_connect(struct pso_proto *p, struct rx *rx)
{
	struct mqttsn_msg ack = { .type = MQTTSN_CONNACK, .return_code = MQTTSN_RC_ACCEPTED };
	struct pso_client *c;
	char id[MQTTSN_CLIENT_ID_MAX + 1];
	size_t n = rx->m.data_len < MQTTSN_CLIENT_ID_MAX ? rx->m.data_len : MQTTSN_CLIENT_ID_MAX;

	memcpy(id, rx->m.data, n);
	id[n] = '\0';
	/* Client ids reach the log: no control or non-ASCII bytes there. */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)id[i] < 0x20 || (unsigned char)id[i] >= 0x7f)
			id[i] = '?';
	c = connect_session(p, rx, id, &ack);
	if (!c) {
		pso_reply(p, rx, &ack);
		return;
	}
	/* A new connection proves its address anew (validate.c). */
	pso_valid_start(p, c, rx->len);
	c->clean = rx->m.flags & MQTTSN_FLAG_CLEAN_SESSION;
	c->keepalive_asked = rx->m.duration;
	c->keepalive_s = pso_quota_keepalive(p, rx->m.duration);
	c->last_seen_ms = p->now_ms;
	/* A new CONNECT brings its own will, or none. */
	pso_will_free(&c->will);
	if (rx->m.flags & MQTTSN_FLAG_WILL) {
		/* 6.3: the will first, CONNACK after WILLMSG. */
		c->will_step = PSO_WILL_WAIT_TOPIC;
		pso_reply_simple(p, rx, MQTTSN_WILLTOPICREQ);
		return;
	}
	c->will_step = PSO_WILL_DONE;
	connect_done(p, c, &ack);
}

/* WILLTOPIC, WILLMSG, WILLTOPICUPD, WILLMSGUPD (will.c decides). */
void pso_handle_will(struct pso_proto *p, struct rx *rx)
{
	struct pso_client *c = rx->c;
	struct mqttsn_msg out;
	bool connected;

	if (!pso_will_input(p, c, &rx->m, &out, &connected))
		return;
	if (out.type != MQTTSN_CONNACK) {
		pso_reply(p, rx, &out);
		return;
	}
	if (connected) {
		connect_done(p, c, &out);
		return;
	}
	pso_reply(p, rx, &out);
	pso_client_remove(p, c, "refused: bad will");
	rx->c = NULL;
}

