// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * fuzz_proto.c - libFuzzer target: the control-protocol layer (host/proto)
 * behind a fake transport, stateful across several clients.
 *
 * An input is a sequence of records, each
 *
 *   meta (1)   bits 0-2: which of N_EP endpoints sends (IPv4 and IPv6, two
 *              sharing an address); bit 3: the data plane judged it;
 *              bit 4: it came in on port 2 (else 1); bit 5: first the
 *              next hops change (every endpoint's MAC) and
 *              pso_proto_resolve_all() runs; bit 6: first an ADVERTISE
 *              (pso_proto_advertise()); bit 7: no datagram, the data plane
 *              admitted a publish from the endpoint (client_rx() moves:
 *              keep-alive activity)
 *   step (1)   time passes first: (step & 0x7f) x 100 ms, x 10 s with bit
 *              7; when it is not 0, pso_proto_tick() runs
 *   len (1)    then len bytes: the datagram (the rest of the input if
 *              shorter)
 *
 * so one input explores a conversation between the broker and several
 * clients over time.  The fake transport mirrors the data-plane tables
 * from the calls it gets (client table, topics, each topic's slots) and
 * refuses what a small table cannot hold, so full tables are explored too.
 *
 * After every record, these must hold (else abort, a finding):
 *   - every datagram sent decodes (mqttsn_decode, inside an envelope when
 *     wrapped for a forwarder);
 *   - an answer (CONNACK, REGACK, SUBACK, UNSUBACK, PINGRESP, DISCONNECT,
 *     PUBACK, PUBREC, PUBREL, PUBCOMP, WILLTOPICRESP, WILLMSGRESP,
 *     WILLTOPICREQ, WILLMSGREQ, GWINFO, ADVERTISE) from an endpoint with no
 *     session is answered with nothing at all;
 *   - an endpoint with no session is sent at most one datagram per record,
 *     of at most 3x the bytes it sent (no amplification), and all such
 *     endpoints together at most PSO_UNKNOWN_REPLIES_PER_S a second (plus
 *     one second's burst) - for every message but CONNECT, whose answers
 *     (a resumed session's REGISTERs and deliveries) wait for address
 *     validation;
 *   - a record makes a bounded number of datagrams (set by the tables'
 *     sizes, not by the input);
 *   - table calls are consistent: no client added twice or removed when
 *     absent, no slot added twice, set or removed when absent, topic ids
 *     within the table; every hold of a connected client has its slot,
 *     but a slotless one (the topic's slots were full), and a topic has
 *     PSO_TOPIC_F_HOST exactly while it has slotless holds; an idle topic
 *     is freed (--topic-idle 20 s) only when no slot is left in it;
 *   - no client holds more than its quotas (small ones, cfg.lim below):
 *     subscriptions, holds, QoS 1/2 owed, sleep buffer;
 *   - the layer's own counts agree with its sessions and with the fake's
 *     client table: rx_msgs counts the datagrams fed, the connected
 *     sessions are nclients, every session nsessions, and each connected
 *     client (not behind a forwarder) has exactly one client-table entry.
 * At the end the layer is freed: LeakSanitizer checks nothing is left.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "proto/mqttsn.h"
#include "proto/proto.h"
#include "proto/session.h"
#include "util/log.h"

#define N_EP		8
#define MAX_TOPICS	16	/* ids 1..15 */
#define MAX_CLIENTS	6
#define FAKE_CLIENTS	5	/* the fake's client table refuses beyond */
#define FAKE_SLOTS	3	/* slots per topic in the fake's table */
#define MAX_TRACK	256	/* endpoints the fake can track (placeholders) */

/* ---- the daemon's log: formatted (UBSan sees the arguments), not shown - */

void pso_log(enum pso_log_level lvl, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
}

/* ---- the fake transport ------------------------------------------------- */

struct fake {
	struct pso_endpoint clients[MAX_TRACK];
	int nclients;
	bool topic_known[MAX_TOPICS];
	uint8_t topic_flags[MAX_TOPICS];	/* the last topic_set() */
	struct pso_endpoint slots[MAX_TOPICS][MAX_TRACK];
	int nslots[MAX_TOPICS];
	uint64_t rx[N_EP];
	uint8_t hop_gen;		/* next hops as resolve() sees them now */
	/* this record */
	int sends;
	size_t bytes_to_sender;
	int sends_to_sender;
	const struct pso_endpoint *sender;
};

static struct fake F;
static struct pso_endpoint eps[N_EP];

static void __attribute__((noreturn, format(printf, 1, 2))) finding(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_proto: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	abort();
}

static bool ep_eq(const struct pso_endpoint *a, const struct pso_endpoint *b)
{
	return !memcmp(a, b, sizeof(*a));
}

static int ep_index(const struct pso_endpoint *ep)
{
	for (int i = 0; i < N_EP; i++)
		if (ep_eq(ep, &eps[i]))
			return i;
	return -1;
}

static int find_ep(const struct pso_endpoint *set, int n, const struct pso_endpoint *ep)
{
	for (int i = 0; i < n; i++)
		if (ep_eq(&set[i], ep))
			return i;
	return -1;
}

static void check_topic_id(const char *op, uint16_t id)
{
	if (id == 0 || id >= MAX_TOPICS)
		finding("%s: topic id %u outside the table (1..%u)", op, id, MAX_TOPICS - 1);
}

static void check_datagram(const uint8_t *buf, size_t len)
{
	struct mqttsn_msg m;
	struct mqttsn_encap e;
	const uint8_t *inner;
	size_t inner_len;

	if (len >= 2 && buf[1] == MQTTSN_ENCAPSULATED) {
		if (mqttsn_decap(buf, len, &e, &inner, &inner_len))
			finding("sent a malformed envelope (%zu bytes)", len);
		buf = inner;
		len = inner_len;
	}
	if (mqttsn_decode(buf, len, &m))
		finding("sent a datagram that does not decode (%zu bytes, type 0x%02x)", len,
			len >= 2 ? buf[1] : 0);
}

static int fake_send(void *ctx, const struct pso_endpoint *ep, const struct in6_pktinfo *local,
		     const uint8_t *buf, size_t len)
{
	check_datagram(buf, len);
	F.sends++;
	if (F.sender && ep_eq(ep, F.sender)) {
		F.sends_to_sender++;
		F.bytes_to_sender += len;
	}
	return (int)len;
}

static int fake_broadcast(void *ctx, const uint8_t *buf, size_t len)
{
	check_datagram(buf, len);
	F.sends++;
	return 0;
}

static void fake_resolve(void *ctx, const struct pso_endpoint *ep, const struct in6_pktinfo *local,
			 struct pso_sub *slot)
{
	int n = ep_index(ep);

	memset(slot, 0, sizeof(*slot));
	slot->dst_port = ep->port;
	slot->family = ep->family;
	memcpy(slot->dst_addr, ep->addr, sizeof(slot->dst_addr));
	slot->ifindex = local ? local->ipi6_ifindex : 0;
	if (n == 3)		/* its next hop is never known */
		return;
	slot->dst_mac[0] = 0x02;
	slot->dst_mac[4] = F.hop_gen;
	slot->dst_mac[5] = (uint8_t)n;
	slot->flags = PSO_SUB_F_RESOLVED;
}

static const char *fake_ifname(void *ctx, int ifindex)
{
	return "fake0";
}

static int fake_client_add(void *ctx, const struct pso_endpoint *ep)
{
	if (find_ep(F.clients, F.nclients, ep) >= 0)
		finding("client_add for a client already in the table");
	if (F.nclients >= FAKE_CLIENTS)
		return -ENOSPC;
	F.clients[F.nclients++] = *ep;
	return 0;
}

static void fake_client_remove(void *ctx, const struct pso_endpoint *ep)
{
	int i = find_ep(F.clients, F.nclients, ep);

	if (i < 0)
		finding("client_remove for a client not in the table");
	F.clients[i] = F.clients[--F.nclients];
}

static int fake_client_rx(void *ctx, const struct pso_endpoint *ep, uint64_t *rx_msgs)
{
	int n = ep_index(ep);

	*rx_msgs = n >= 0 ? F.rx[n] : 0;
	return 0;
}

static int fake_topic_set(void *ctx, uint16_t id, uint8_t flags, const char *name)
{
	check_topic_id("topic_set", id);
	if (!name || !*name)
		finding("topic_set: topic %u without a name", id);
	F.topic_known[id] = true;
	F.topic_flags[id] = flags;
	return 0;
}

/* A topic is freed (recycle.c) only when no subscriber has a slot in it. */
static int fake_topic_free(void *ctx, uint16_t id)
{
	check_topic_id("topic_free", id);
	if (F.nslots[id])
		finding("topic_free: topic %u still has %d subscriber slots", id, F.nslots[id]);
	F.topic_known[id] = false;
	return 0;
}

static void slot_endpoint(const struct pso_sub *slot, struct pso_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->family = slot->family;
	ep->port = slot->dst_port;
	memcpy(ep->addr, slot->dst_addr, sizeof(ep->addr));
}

static int fake_slot_add(void *ctx, uint16_t id, const struct pso_sub *slot)
{
	struct pso_endpoint ep;

	check_topic_id("slot_add", id);
	slot_endpoint(slot, &ep);
	if (find_ep(F.slots[id], F.nslots[id], &ep) >= 0)
		finding("slot_add: topic %u has this endpoint's slot already", id);
	if (F.nslots[id] >= FAKE_SLOTS)
		return -ENOSPC;
	F.slots[id][F.nslots[id]++] = ep;
	return 0;
}

static void fake_slots_set(void *ctx, const struct pso_sub *slot, const uint16_t *ids, int n)
{
	struct pso_endpoint ep;

	slot_endpoint(slot, &ep);
	for (int i = 0; i < n; i++) {
		check_topic_id("slots_set", ids[i]);
		if (find_ep(F.slots[ids[i]], F.nslots[ids[i]], &ep) < 0)
			finding("slots_set: topic %u has no slot of this endpoint", ids[i]);
	}
}

static void fake_slots_remove(void *ctx, const struct pso_endpoint *ep, const uint16_t *ids,
			      int n)
{
	for (int i = 0; i < n; i++) {
		uint16_t id = ids[i];
		int k;

		check_topic_id("slots_remove", id);
		k = find_ep(F.slots[id], F.nslots[id], ep);
		if (k < 0)
			finding("slots_remove: topic %u has no slot of this endpoint", id);
		F.slots[id][k] = F.slots[id][--F.nslots[id]];
	}
}

static bool fake_slot_served(void *ctx, uint16_t id, const struct pso_endpoint *ep,
			     uint8_t family, uint64_t rx_ns)
{
	check_topic_id("slot_served", id);
	return ep_index(ep) % 2 == 1;
}

static const struct pso_proto_ops fake_ops = {
	.send = fake_send,
	.broadcast = fake_broadcast,
	.resolve = fake_resolve,
	.ifname = fake_ifname,
	.client_add = fake_client_add,
	.client_remove = fake_client_remove,
	.client_rx = fake_client_rx,
	.topic_set = fake_topic_set,
	.slot_add = fake_slot_add,
	.slots_set = fake_slots_set,
	.slots_remove = fake_slots_remove,
	.slot_served = fake_slot_served,
	.topic_free = fake_topic_free,
};

static const struct pso_proto_cfg cfg = {
	.qosm1 = PSO_QOSM1_ALL,
	.gw_id = 7,
	.advertise_s = 900,
	.max_topics = MAX_TOPICS,
	.max_clients = MAX_CLIENTS,
	.session_expiry_s = 60,
	.topic_idle_s = 20,	/* idle topics are freed, their ids reused */
	.retry_s = 2,
	.retries = 2,
	/* Small limits, so that inputs reach them (0 would be none). */
	.lim = {
		.max_keepalive_s = 30, .subscriptions = 4, .holds = 6, .registrations = 6,
		.retained = 600, .outbox = 4, .sleep_buffer = 4, .retained_total = 2000,
		.buffered_total = 16, .connect_rate = 5, .control_rate = 40,
	},
};

/* ---- invariants --------------------------------------------------------- */

/* Answers: never answered when they come from an endpoint without a session. */
static bool is_answer(uint8_t type)
{
	switch (type) {
	case MQTTSN_CONNACK: case MQTTSN_REGACK: case MQTTSN_SUBACK: case MQTTSN_UNSUBACK:
	case MQTTSN_PINGRESP: case MQTTSN_DISCONNECT: case MQTTSN_PUBACK: case MQTTSN_PUBREC:
	case MQTTSN_PUBREL: case MQTTSN_PUBCOMP: case MQTTSN_WILLTOPICRESP:
	case MQTTSN_WILLMSGRESP: case MQTTSN_WILLTOPICREQ: case MQTTSN_WILLMSGREQ:
	case MQTTSN_GWINFO: case MQTTSN_ADVERTISE:
		return true;
	}
	return false;
}

/* The type of the message a datagram carries (inside an envelope too), or
 * -1 when it is no decodable message. */
static int message_type(const uint8_t *buf, size_t len, bool *wrapped, struct mqttsn_encap *e)
{
	struct mqttsn_msg m;
	const uint8_t *inner;
	size_t inner_len;

	*wrapped = false;
	if (len >= 2 && buf[1] == MQTTSN_ENCAPSULATED) {
		if (mqttsn_decap(buf, len, e, &inner, &inner_len))
			return -1;
		*wrapped = true;
		buf = inner;
		len = inner_len;
	}
	return mqttsn_decode(buf, len, &m) ? -1 : m.type;
}

/* Not instrumented: its walk of every hash bucket is the checker's, and
 * would otherwise cost most of each run in coverage callbacks. */
__attribute__((no_sanitize("coverage")))
static void check_sessions(struct pso_proto *p, uint64_t fed)
{
	uint32_t sessions = 0, connected = 0, direct = 0, slotless[MAX_TOPICS] = { 0 };

	for (int h = 0; h < PSO_CLIENT_HASH_SIZE; h++)
		for (struct pso_client *c = p->by_id[h]; c; c = c->next_id) {
			sessions++;
			/* Quotas hold whatever the input asked for. */
			if ((uint32_t)c->nsubs > cfg.lim.subscriptions ||
			    (uint32_t)c->nheld > cfg.lim.holds || c->out_len > cfg.lim.outbox ||
			    c->zz_len > cfg.lim.sleep_buffer)
				finding("client %s beyond its quotas: %d subscriptions, %d holds, "
					"%u owed, %u buffered", c->id, c->nsubs, c->nheld, c->out_len,
					c->zz_len);
			if (!c->connected)
				continue;
			connected++;
			if (pso_client_forwarded(c))
				continue;
			direct++;
			if (find_ep(F.clients, F.nclients, &c->ep) < 0 &&
			    F.nclients < FAKE_CLIENTS)
				finding("connected client %s has no client-table entry", c->id);
			for (int i = 0; i < c->nheld; i++) {
				const struct pso_hold *h = c->held[i];
				bool has = find_ep(F.slots[h->id], F.nslots[h->id], &c->ep) >= 0;

				/* A slotless hold (the topic's slots were full) has
				 * none, every other hold has one. */
				if (h->slotless && has)
					finding("client %s: slotless hold of topic %u has a slot", c->id,
						h->id);
				if (!h->slotless && !has)
					finding("client %s holds topic %u without a slot", c->id, h->id);
				slotless[h->id] += h->slotless;
			}
		}
	/* The daemon serves slotless holders: their topics go up
	 * (PSO_TOPIC_F_HOST) exactly while there are any. */
	for (uint16_t id = 1; id < MAX_TOPICS; id++) {
		bool host = (F.topic_flags[id] & PSO_TOPIC_F_HOST) != 0;

		if (slotless[id] != p->slotless[id])
			finding("topic %u: %u slotless holds, the layer counts %u", id, slotless[id],
				p->slotless[id]);
		if (host != (slotless[id] > 0))
			finding("topic %u: %u slotless holds, PSO_TOPIC_F_HOST %s", id, slotless[id],
				host ? "set" : "clear");
	}
	if (sessions != pso_proto_nsessions(p))
		finding("%u sessions, nsessions says %u", sessions, pso_proto_nsessions(p));
	if (connected != pso_proto_nclients(p))
		finding("%u connected, nclients says %u", connected, pso_proto_nclients(p));
	if ((uint32_t)F.nclients > direct)
		finding("client table holds %d entries for %u connected clients", F.nclients, direct);
	if (pso_proto_stats(p)->rx_msgs != fed)
		finding("rx_msgs %llu after %llu datagrams",
			(unsigned long long)pso_proto_stats(p)->rx_msgs, (unsigned long long)fed);
	if (pso_proto_ntopics(p) >= MAX_TOPICS)
		finding("%u topics in a table of %u", pso_proto_ntopics(p), MAX_TOPICS);
}

/* What one record may send at most, whatever the input: an answer, a
 * REGISTER and a retained message per topic, the sleep buffer, the outbox,
 * a delivery (or a will's) to every session. */
static int send_bound(const struct pso_proto *p)
{
	int n = (int)pso_proto_nsessions(p) + 1;

	return 8 + 2 * MAX_TOPICS + PSO_SLEEP_BUFFER_MAX + PSO_OUTBOX_MAX + 2 * n * n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	for (int i = 0; i < N_EP; i++) {
		struct pso_endpoint *ep = &eps[i];

		memset(ep, 0, sizeof(*ep));
		ep->port = htons(20001 + i);
		if (i < 4 || i == 7) {
			ep->family = PSO_AF_INET;
			ep->addr[0] = 10;
			ep->addr[3] = i == 7 ? 1 : (uint8_t)(i + 1);	/* 7 shares 0's address */
		} else {
			ep->family = PSO_AF_INET6;
			ep->addr[0] = 0xfd;
			ep->addr[15] = (uint8_t)(i + 1);
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint64_t start_ms = 1000000;
	uint64_t now = start_ms, fed = 0, unknown_replies = 0;
	struct pso_proto *p;
	size_t off = 0;

	memset(&F, 0, sizeof(F));
	p = pso_proto_new(&cfg, &fake_ops, NULL);
	if (!p)
		return 0;
	while (off + 3 <= size) {
		uint8_t meta = data[off], step = data[off + 1];
		size_t len = data[off + 2];
		const struct pso_endpoint *ep = &eps[meta & 7];
		struct pso_rx rx = { .ep = *ep, .judged = (meta & 0x08) != 0 };
		struct mqttsn_encap e;
		bool wrapped, known;
		uint8_t *dgram;
		int type;

		off += 3;
		if (len > size - off)
			len = size - off;
		if (step) {
			now += (uint64_t)(step & 0x7f) * (step & 0x80 ? 10000 : 100);
			F.sends = 0;
			F.sender = NULL;
			pso_proto_tick(p, now);
			if (F.sends > send_bound(p))
				finding("one tick sent %d datagrams (bound %d)", F.sends, send_bound(p));
			check_sessions(p, fed);
		}
		if (meta & 0x60) {
			F.sends = 0;
			F.sender = NULL;
			if (meta & 0x20) {
				F.hop_gen++;
				pso_proto_resolve_all(p);
			}
			if (meta & 0x40)
				pso_proto_advertise(p);
			if (F.sends > 1)
				finding("ADVERTISE and re-resolving sent %d datagrams", F.sends);
			check_sessions(p, fed);
		}
		if (meta & 0x80) {	/* a fast-path publish, not a datagram */
			F.rx[meta & 7]++;
			off += len;
			continue;
		}
		/* Exactly len bytes of its own: ASan sees any read past them. */
		dgram = malloc(len ? len : 1);
		if (!dgram)
			break;
		memcpy(dgram, data + off, len);
		off += len;
		rx.local.ipi6_ifindex = meta & 0x10 ? 2 : 1;
		rx.rx_ns = now * 1000000;
		type = message_type(dgram, len, &wrapped, &e);
		known = wrapped ? pso_fwd_find(p, ep, &e) != NULL : pso_client_find(p, ep) != NULL;

		F.sends = 0;
		F.sends_to_sender = 0;
		F.bytes_to_sender = 0;
		F.sender = ep;
		pso_proto_input(p, &rx, dgram, len, now);
		fed++;
		free(dgram);

		if (!known && type >= 0 && is_answer((uint8_t)type) && F.sends)
			finding("an answer (type 0x%02x) from an endpoint without a session got %d "
				"datagram(s) in reply", type, F.sends);
		/* A CONNECT starts or resumes a session: what follows it is
		 * bounded by address validation (issue 13), not here yet. */
		if (!known && !wrapped && type != MQTTSN_CONNECT) {
			if (F.sends_to_sender > 1 || F.bytes_to_sender > 3 * len)
				finding("an endpoint without a session sent %zu bytes (type %d) and got "
					"%d datagram(s), %zu bytes", len, type, F.sends_to_sender,
					F.bytes_to_sender);
			unknown_replies += (uint64_t)F.sends_to_sender;
			if (unknown_replies >
			    PSO_UNKNOWN_REPLIES_PER_S * (2 + (now - start_ms) / 1000))
				finding("%llu replies to endpoints without a session in %llu ms",
					(unsigned long long)unknown_replies,
					(unsigned long long)(now - start_ms));
		}
		if (F.sends > send_bound(p))
			finding("one datagram made %d datagrams (bound %d)", F.sends, send_bound(p));
		check_sessions(p, fed);
	}
	pso_proto_free(p);
	return 0;
}
