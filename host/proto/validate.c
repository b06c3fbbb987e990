// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * validate.c - address validation before delivery (RFC 9000 section 8.1,
 * applied to MQTT-SN over UDP; docs/SECURITY.md).
 *
 * A UDP source address proves nothing: anyone can send a CONNECT and a
 * SUBSCRIBE "from" a victim and have the broker stream a busy topic at it.
 * So a connection starts unproven, and until its endpoint shows that it
 * receives the broker's datagrams:
 *   - the broker sends it at most 3 x the bytes it received from it (the
 *     QUIC server's limit, RFC 9000 8.1); what does not fit is not sent
 *     and is counted (valid_capped_bytes);
 *   - its data-plane slots stay not servable (session.c hold_slot), so the
 *     data plane sends it nothing and passes its topics' publishes up;
 *   - QoS 0 publishes for it are held here (bounded, the oldest dropped
 *     and counted), retained messages and the REGISTERs of its filters'
 *     topics wait, and go out once it is proven: nothing is lost for a
 *     real client.
 * The proof uses plain MQTT-SN v1.2, so existing clients need no change:
 *   - right after the CONNACK the broker sends a REGISTER (5.4.10) of the
 *     topic "$pso/v" whose MsgId is random (getrandom); the client's REGACK
 *     (5.4.11, 6.5: it answers with the same MsgId) proves the address;
 *   - or the acknowledgement (PUBACK, PUBREC, PUBCOMP) of a QoS 1/2
 *     delivery the broker sent within the budget: its MsgId is the
 *     broker's, and an unproven session's ids start at a random value.
 * Wrong echoes are guesses: each source address may make
 * PSO_VALID_GUESS_BURST of them, then one per PSO_VALID_GUESS_REFILL_MS;
 * past that even a right one is ignored, so the 1 in 65535 chance per
 * guess stays a chance per hours of trying.  A session that is not proven
 * within pso_proto_cfg.unvalidated_s ends (a session it resumed that was
 * proven before goes offline instead, for its owner to come back to).
 * Loopback and the operator's --trusted networks start proven.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include "proto/session.h"
#include "proto/topics.h"
#include "util/log.h"

/* Wrong echoes from one source address: a token bucket. */
struct pso_guess {
	uint8_t family;
	uint8_t addr[16];
	uint8_t tokens;
	uint64_t refill_ms;
};

static uint32_t random32(void)
{
	uint32_t v;
	struct timespec ts;

	if (getrandom(&v, sizeof(v), 0) == (ssize_t)sizeof(v))
		return v;
	/* No getrandom(): far weaker, but never a constant. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	v = (uint32_t)ts.tv_nsec * 2654435761u ^ (uint32_t)ts.tv_sec;
	return v ^ (v >> 15);
}

static uint16_t random_msg_id(void)
{
	uint16_t id;

	do
		id = (uint16_t)random32();
	while (!id);	/* 0 is no message id */
	return id;
}

int pso_valid_init(struct pso_proto *p)
{
	p->guesses = calloc(PSO_VALID_GUESS_TABLE, sizeof(*p->guesses));
	p->guess_seed = random32();
	return p->guesses ? 0 : -ENOMEM;
}

/* The address the broker's datagrams to c go to. */
static const struct pso_endpoint *peer_of(const struct pso_client *c)
{
	return pso_client_forwarded(c) ? &c->fwd_ep : &c->ep;
}

static void held_free(struct pso_proto *p, struct pso_client *c)
{
	while (c->v.held_head)
		free(pso_outmsg_pop(&c->v.held_head, &c->v.held_tail));
	p->valid_held_bytes -= c->v.held_bytes;
	c->v.held_len = 0;
	c->v.held_bytes = 0;
}

void pso_valid_free(struct pso_proto *p, struct pso_client *c)
{
	held_free(p, c);
}

void pso_valid_start(struct pso_proto *p, struct pso_client *c, size_t rx_len)
{
	const struct pso_endpoint *ep = peer_of(c);
	bool trusted = pso_endpoint_is_loopback(ep) ||
		       pso_cidr_contains(p->cfg.trusted, p->cfg.ntrusted, ep);

	c->v.ok = trusted;
	c->v.rx_bytes = rx_len;
	c->v.tx_bytes = 0;
	c->v.since_ms = p->now_ms;
	c->v.sent_ms = 0;
	c->v.tries = 0;
	if (trusted)
		return;
	c->v.challenge = random_msg_id();
	/* Its QoS 1/2 deliveries' ids are proofs too: not guessable either. */
	c->next_msg_id = random_msg_id();
}

void pso_valid_rx(struct pso_client *c, size_t rx_len)
{
	if (!c->v.ok)
		c->v.rx_bytes += rx_len;
}

bool pso_valid_may_send(struct pso_proto *p, struct pso_client *c, const struct mqttsn_msg *m)
{
	ssize_t n;

	if (c->v.ok)
		return true;
	n = mqttsn_encode(m, p->txbuf, sizeof(p->txbuf));
	if (n < 0)
		return true;	/* the sender reports it */
	if (pso_client_forwarded(c))
		n += 3 + c->fwd.node_len;	/* the forwarder's envelope (5.5) */
	if (c->v.tx_bytes + (uint64_t)n > 3 * c->v.rx_bytes) {
		p->stats.valid_capped_bytes += (uint64_t)n;
		return false;
	}
	c->v.tx_bytes += (uint64_t)n;
	return true;
}

void pso_valid_challenge(struct pso_proto *p, struct pso_client *c)
{
	struct mqttsn_msg m = {
		.type = MQTTSN_REGISTER, .msg_id = c->v.challenge,
		.data = (const uint8_t *)PSO_VALID_TOPIC, .data_len = strlen(PSO_VALID_TOPIC),
	};

	if (c->v.ok)
		return;
	if (!p->valid_topic) {
		uint16_t id;

		if (pso_topic_register(p, PSO_VALID_TOPIC, strlen(PSO_VALID_TOPIC), &id)) {
			pso_warn("client %s: cannot register %s (topic table full): its address "
				 "can be proven by a QoS 1/2 acknowledgement only", c->id,
				 PSO_VALID_TOPIC);
			return;
		}
		p->valid_topic = id;
	}
	m.topic_id = p->valid_topic;
	/* Over its budget (a resend): later, when it has sent more. */
	if (pso_send_to(p, c, &m) == -ENOBUFS)
		return;
	c->v.sent_ms = p->now_ms;
	c->v.tries++;
}

static uint32_t addr_hash(const struct pso_proto *p, const struct pso_endpoint *ep)
{
	uint32_t h = 2166136261u ^ p->guess_seed;

	h = (h ^ ep->family) * 16777619u;
	for (int i = 0; i < 16; i++)
		h = (h ^ ep->addr[i]) * 16777619u;
	return h % PSO_VALID_GUESS_TABLE;
}

/* The bucket of ep's address, refilled up to now.  Two addresses that
 * share a slot share the bucket while it is in use, never the reverse:
 * pressure on the table makes guessing slower, not faster. */
static struct pso_guess *guess_bucket(struct pso_proto *p, const struct pso_endpoint *ep)
{
	struct pso_guess *g = &p->guesses[addr_hash(p, ep)];

	if (g->tokens < PSO_VALID_GUESS_BURST && p->now_ms >= g->refill_ms) {
		uint64_t more = (p->now_ms - g->refill_ms) / PSO_VALID_GUESS_REFILL_MS + 1;

		g->tokens = more >= (uint64_t)(PSO_VALID_GUESS_BURST - g->tokens)
				    ? PSO_VALID_GUESS_BURST : (uint8_t)(g->tokens + more);
		g->refill_ms += more * PSO_VALID_GUESS_REFILL_MS;
	}
	if (!g->family || (g->tokens == PSO_VALID_GUESS_BURST &&
			   (g->family != ep->family || memcmp(g->addr, ep->addr, 16)))) {
		g->family = ep->family;
		memcpy(g->addr, ep->addr, 16);
		g->tokens = PSO_VALID_GUESS_BURST;
	}
	return g;
}

/* Does this acknowledgement echo the delivery in flight? */
static bool echoes_delivery(const struct pso_client *c, uint8_t type, uint16_t msg_id)
{
	const struct pso_outmsg *o = c->out_head;
	int qos;

	if (!o || o->msg_id != msg_id || o->state == PSO_OUT_QUEUED)
		return false;
	qos = mqttsn_flags_qos(o->flags);
	switch (type) {
	case MQTTSN_PUBACK:
		return qos == 1 && o->state == PSO_OUT_WAIT_ACK;
	case MQTTSN_PUBREC:
		return qos == 2;
	case MQTTSN_PUBCOMP:
		return o->state == PSO_OUT_WAIT_COMP;
	default:
		return false;
	}
}

bool pso_valid_answer(struct pso_proto *p, struct pso_client *c, uint8_t type, uint16_t msg_id)
{
	struct pso_guess *g;
	bool right;
	char s[64];

	if (c->v.ok)
		return false;
	g = guess_bucket(p, peer_of(c));
	right = type == MQTTSN_REGACK ? c->v.tries && msg_id == c->v.challenge
				      : echoes_delivery(c, type, msg_id);
	if (g->tokens && right)
		return true;
	p->stats.valid_failures++;
	if (!g->tokens) {
		pso_debug("client %s (%s): %s ignored: too many wrong answers from this address",
			  c->id, pso_endpoint_str(peer_of(c), s, sizeof(s)), mqttsn_type_name(type));
		return false;
	}
	if (!--g->tokens)
		g->refill_ms = p->now_ms + PSO_VALID_GUESS_REFILL_MS;
	pso_debug("client %s (%s): %s with message id %u proves nothing", c->id,
		  pso_endpoint_str(peer_of(c), s, sizeof(s)), mqttsn_type_name(type), msg_id);
	return false;
}

void pso_valid_proved(struct pso_proto *p, struct pso_client *c)
{
	c->v.ok = true;
	c->v.proven_once = true;
	p->stats.valid_proved++;
	pso_info("client %s: address proven", c->id);
	/* What its subscriptions were owed, in the order a proven client
	 * gets it: the names, then the retained messages ... */
	for (int i = 0; i < c->nheld; i++) {
		struct pso_hold *h = c->held[i];

		/* Short names and predefined ids need no REGISTER (6.7). */
		if (!h->told && h->form == PSO_FORM_NORMAL)
			pso_send_register(p, c, h->id, pso_registry_name(p->reg, h->id));
		h->told = true;
	}
	for (int i = 0; i < c->nheld; i++) {
		struct pso_hold *h = c->held[i];

		if (h->retain_owed) {
			h->retain_owed = false;
			pso_retain_send(p, c, h->id);
		}
	}
	/* ... then what was published for it meanwhile ... */
	for (struct pso_outmsg *o = c->v.held_head; o; o = o->next) {
		struct mqttsn_msg m = {
			.type = MQTTSN_PUBLISH, .flags = o->flags, .topic_id = o->topic_field,
			.data = o->data, .data_len = o->len,
		};

		p->stats.host_deliveries++;
		pso_send_to(p, c, &m);
	}
	held_free(p, c);
	/* ... then its slots servable, a sleeper's buffer, its outbox. */
	pso_session_owed(p, c, true);
}

int pso_valid_hold(struct pso_proto *p, struct pso_client *c, uint8_t flags,
		   uint16_t topic_field, const uint8_t *data, size_t len)
{
	struct pso_outmsg *o;

	if (c->v.held_len >= PSO_VALID_HELD_MAX) {
		o = pso_outmsg_pop(&c->v.held_head, &c->v.held_tail);
		c->v.held_len--;
		c->v.held_bytes -= o->len;
		p->valid_held_bytes -= o->len;
		free(o);
		p->stats.valid_held_dropped++;
	}
	if (p->valid_held_bytes + len > PSO_VALID_HELD_BYTES_MAX) {
		p->stats.valid_held_dropped++;
		return -ENOBUFS;
	}
	o = pso_outmsg_new(flags, topic_field, data, len);
	if (!o)
		return -ENOMEM;
	pso_outmsg_append(&c->v.held_head, &c->v.held_tail, o);
	c->v.held_len++;
	c->v.held_bytes += len;
	p->valid_held_bytes += len;
	p->stats.valid_held++;
	return 0;
}

bool pso_valid_tick(struct pso_proto *p, struct pso_client *c)
{
	uint64_t expiry_ms = (uint64_t)(p->cfg.unvalidated_s ? p->cfg.unvalidated_s
							     : PSO_VALID_EXPIRY_S) * 1000;

	if (c->v.ok || !c->connected)
		return false;
	if (p->now_ms - c->v.since_ms > expiry_ms) {
		p->stats.valid_expired++;
		/* Its CONNECT may well have been a spoofer's: no will. */
		pso_will_free(&c->will);
		if (c->clean || !c->v.proven_once) {
			pso_client_remove(p, c, "ended: its address was never proven");
		} else {
			pso_info("client %s: address not proven; session kept for %us", c->id,
				 p->cfg.session_expiry_s);
			pso_client_detach(p, c);
		}
		return true;
	}
	/* The REGISTER again, as any unanswered one (T_RETRY, N_RETRY). */
	if (c->will_step == PSO_WILL_DONE &&
	    (!c->v.tries || (c->v.tries <= p->cfg.retries &&
			     p->now_ms - c->v.sent_ms >= (uint64_t)p->cfg.retry_s * 1000)))
		pso_valid_challenge(p, c);
	return false;
}

void pso_proto_valid_state(const struct pso_proto *p, struct pso_valid_state *out)
{
	memset(out, 0, sizeof(*out));
	for (int h = 0; h < PSO_CLIENT_HASH_SIZE; h++)
		for (const struct pso_client *c = p->by_ep[h]; c; c = c->next_ep)
			c->v.ok ? out->validated++ : out->unvalidated++;
	out->held_bytes = p->valid_held_bytes;
}
