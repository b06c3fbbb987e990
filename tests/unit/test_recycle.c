// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_recycle.c - topic ids that come back: idle topics freed by the
 * protocol layer (host/proto/recycle.c), their ids quarantined and reused
 * by the registry (host/proto/topics.c), and the data plane's traces of
 * them cleared by the table writer (host/tables/recycle.c).
 *
 * The protocol rows run against a small fake transport with a fake clock
 * (now_ms is whatever the test says); the table rows against real BPF maps
 * (run as root), in synchronous and deferred mode.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "proto/mqttsn.h"
#include "proto/persist.h"
#include "proto/proto.h"
#include "proto/session.h"
#include "proto/topics.h"
#include "tables/tables.h"

/* ---- registry ------------------------------------------------------------ */

static void test_registry_release_reuse(void **state)
{
	struct pso_registry *reg = pso_registry_new(8);	/* ids 1..7 */
	char name[16];
	uint16_t id;
	bool created;

	assert_non_null(reg);
	for (int i = 1; i <= 7; i++) {
		snprintf(name, sizeof(name), "t/%d", i);
		assert_int_equal(pso_registry_register(reg, name, strlen(name), &id, &created), 0);
		assert_int_equal(id, i);
	}
	assert_int_equal(pso_registry_register(reg, "x", 1, &id, &created), -ENOSPC);

	/* Released: the name is gone, the id quarantined, nothing gets it. */
	assert_int_equal(pso_registry_release(reg, 3), 0);
	assert_null(pso_registry_name(reg, 3));
	assert_int_equal(pso_registry_lookup(reg, "t/3", 3, &id), -ENOENT);
	assert_true(pso_registry_is_quarantined(reg, 3));
	assert_int_equal(pso_registry_count(reg), 6);
	assert_int_equal(pso_registry_nquarantined(reg), 1);
	assert_int_equal(pso_registry_register(reg, "x", 1, &id, &created), -ENOSPC);
	assert_int_equal(pso_registry_restore(reg, 3, "y"), -EEXIST);
	assert_int_equal(pso_registry_release(reg, 3), -EINVAL);	/* twice */
	/* The others are still found (the hash entry went, not theirs). */
	for (int i = 1; i <= 7; i++) {
		if (i == 3)
			continue;
		snprintf(name, sizeof(name), "t/%d", i);
		assert_int_equal(pso_registry_lookup(reg, name, strlen(name), &id), 0);
		assert_int_equal(id, i);
	}

	/* FIFO: the id freed first is reused first, not the lowest. */
	assert_int_equal(pso_registry_release(reg, 6), 0);
	assert_int_equal(pso_registry_release(reg, 2), 0);
	assert_int_equal(pso_registry_reuse(reg, 6), 0);
	assert_int_equal(pso_registry_reuse(reg, 2), 0);
	assert_int_equal(pso_registry_reuse(reg, 2), -EINVAL);	/* not quarantined */
	assert_int_equal(pso_registry_nfreed(reg), 2);
	assert_int_equal(pso_registry_register(reg, "x", 1, &id, &created), 0);
	assert_int_equal(id, 6);
	assert_true(created);
	assert_int_equal(pso_registry_register(reg, "y", 1, &id, &created), 0);
	assert_int_equal(id, 2);
	/* 3 is still quarantined. */
	assert_int_equal(pso_registry_register(reg, "z", 1, &id, &created), -ENOSPC);
	assert_int_equal(pso_registry_reuse(reg, 3), 0);
	/* A restore may take a freed id out of turn. */
	assert_int_equal(pso_registry_restore(reg, 3, "r"), 0);
	assert_int_equal(pso_registry_nfreed(reg), 0);
	assert_int_equal(pso_registry_register(reg, "z", 1, &id, &created), -ENOSPC);

	/* Predefined ids are never given back. */
	pso_registry_free(reg);
	reg = pso_registry_new(8);
	assert_int_equal(pso_registry_add_predefined(reg, 5, "p"), 0);
	assert_int_equal(pso_registry_release(reg, 5), -EINVAL);
	assert_int_equal(pso_registry_release(reg, 4), -EINVAL);	/* unused */
	pso_registry_free(reg);
}

/* The ids a shared store's claim tries: the ones register() would give, in
 * its order - never-used upwards, then the freed FIFO - and none in
 * quarantine or in use. */
static void test_registry_candidates(void **state)
{
	struct pso_registry *reg = pso_registry_new(8);	/* ids 1..7 */
	uint16_t ids[8], id;
	bool created;
	char name[16];

	(void)state;
	assert_non_null(reg);
	assert_int_equal(pso_registry_candidates(reg, ids, 8), 7);
	for (int i = 0; i < 7; i++)
		assert_int_equal(ids[i], i + 1);
	assert_int_equal(pso_registry_candidates(reg, ids, 2), 2);
	assert_int_equal(ids[1], 2);
	for (int i = 1; i <= 5; i++) {
		snprintf(name, sizeof(name), "t/%d", i);
		assert_int_equal(pso_registry_register(reg, name, strlen(name), &id, &created), 0);
	}
	/* Restored out of turn (another broker's claim): skipped. */
	assert_int_equal(pso_registry_restore(reg, 7, "r"), 0);
	assert_int_equal(pso_registry_release(reg, 4), 0);	/* quarantined */
	assert_int_equal(pso_registry_release(reg, 2), 0);
	assert_int_equal(pso_registry_release(reg, 1), 0);
	assert_int_equal(pso_registry_reuse(reg, 2), 0);
	assert_int_equal(pso_registry_reuse(reg, 1), 0);
	assert_int_equal(pso_registry_candidates(reg, ids, 8), 3);
	assert_int_equal(ids[0], 6);
	assert_int_equal(ids[1], 2);
	assert_int_equal(ids[2], 1);
	/* The first candidate is what register() gives. */
	assert_int_equal(pso_registry_register(reg, "n", 1, &id, &created), 0);
	assert_int_equal(id, 6);
	assert_int_equal(pso_registry_candidates(reg, ids, 8), 2);
	assert_int_equal(ids[0], 2);
	pso_registry_free(reg);
}

/* Never-used ids go first, then freed ones. */
static void test_registry_fresh_first(void **state)
{
	struct pso_registry *reg = pso_registry_new(8);
	uint16_t id;

	assert_int_equal(pso_registry_register(reg, "a", 1, &id, NULL), 0);
	assert_int_equal(pso_registry_register(reg, "b", 1, &id, NULL), 0);
	assert_int_equal(pso_registry_release(reg, 1), 0);
	assert_int_equal(pso_registry_reuse(reg, 1), 0);
	assert_int_equal(pso_registry_register(reg, "c", 1, &id, NULL), 0);
	assert_int_equal(id, 3);
	for (int i = 4; i <= 7; i++) {
		char name[4] = { 'd', (char)('0' + i), 0 };

		assert_int_equal(pso_registry_register(reg, name, 2, &id, NULL), 0);
		assert_int_equal(id, i);
	}
	assert_int_equal(pso_registry_register(reg, "e", 1, &id, NULL), 0);
	assert_int_equal(id, 1);
	/* The same name again is the same id. */
	assert_int_equal(pso_registry_register(reg, "a", 1, &id, NULL), -ENOSPC);
	assert_int_equal(pso_registry_lookup(reg, "e", 1, &id), 0);
	assert_int_equal(id, 1);
	pso_registry_free(reg);
}

/* Deleting from the open-addressing table keeps every other name found,
 * over many collisions. */
static void test_registry_hash_delete(void **state)
{
	enum { N = 3000 };
	struct pso_registry *reg = pso_registry_new(4096);
	static uint16_t ids[N];
	char name[32];
	uint16_t id;

	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "h/%d", i);
		assert_int_equal(pso_registry_register(reg, name, strlen(name), &ids[i], NULL), 0);
	}
	for (int round = 0; round < 3; round++) {
		for (int i = round; i < N; i += 3) {
			assert_int_equal(pso_registry_release(reg, ids[i]), 0);
			assert_int_equal(pso_registry_reuse(reg, ids[i]), 0);
		}
		for (int i = 0; i < N; i++) {
			bool gone = i % 3 == round;

			snprintf(name, sizeof(name), "h/%d", i);
			assert_int_equal(pso_registry_lookup(reg, name, strlen(name), &id),
					 gone ? -ENOENT : 0);
			if (!gone)
				assert_int_equal(id, ids[i]);
		}
		for (int i = round; i < N; i += 3) {
			snprintf(name, sizeof(name), "h/%d", i);
			assert_int_equal(pso_registry_register(reg, name, strlen(name), &ids[i],
							       NULL), 0);
		}
		assert_int_equal(pso_registry_count(reg), N);
	}
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "h/%d", i);
		assert_int_equal(pso_registry_lookup(reg, name, strlen(name), &id), 0);
		assert_int_equal(id, ids[i]);
		assert_string_equal(pso_registry_name(reg, id), name);
	}
	pso_registry_free(reg);
}

/* ---- protocol layer: a fake transport ---------------------------------------- */

#define MAX_SENT 256

struct sent {
	int client;
	struct mqttsn_msg m;
	uint8_t buf[256];
};

struct fake {
	struct sent sent[MAX_SENT];
	int nsent;
	int free_err;			/* topic_free() returns it */
	bool reusable;			/* topic_reusable() says it */
	uint16_t freed[64];		/* topic_free() calls that succeeded */
	int nfreed, free_calls;
	uint16_t changed[256];		/* topic_changed() */
	int nchanged;
	uint16_t last_topic_set;
	char last_topic_name[64];
};

struct fx {
	struct fake f;
	struct pso_proto_cfg cfg;
	struct pso_proto *p;
	uint64_t now;
};

static struct fx *X;

static struct pso_endpoint ep_of(int n)
{
	struct pso_endpoint ep = { .port = htons(20000 + n), .family = PSO_AF_INET };

	ep.addr[0] = 10;
	ep.addr[3] = n;
	return ep;
}

static int num_of(const struct pso_endpoint *ep)
{
	return ep->family == PSO_AF_INET ? ep->addr[3] : 0;
}

static int fake_send(void *ctx, const struct pso_endpoint *ep, const struct in6_pktinfo *local,
		     const uint8_t *buf, size_t len)
{
	struct fake *f = ctx;
	struct sent *s;

	assert_true(f->nsent < MAX_SENT);
	assert_true(len <= sizeof(s->buf));
	s = &f->sent[f->nsent++];
	s->client = num_of(ep);
	memcpy(s->buf, buf, len);
	assert_int_equal(mqttsn_decode(s->buf, len, &s->m), 0);
	return (int)len;
}

static int fake_broadcast(void *ctx, const uint8_t *buf, size_t len)
{
	return 0;
}

static void fake_resolve(void *ctx, const struct pso_endpoint *ep, const struct in6_pktinfo *local,
			 struct pso_sub *slot)
{
	slot->dst_port = ep->port;
	slot->family = ep->family;
	memcpy(slot->dst_addr, ep->addr, sizeof(slot->dst_addr));
	slot->flags = PSO_SUB_F_RESOLVED;
}

static const char *fake_ifname(void *ctx, int ifindex)
{
	return "fake0";
}

static int fake_client_add(void *ctx, const struct pso_endpoint *ep)
{
	return 0;
}

static void fake_client_remove(void *ctx, const struct pso_endpoint *ep)
{
}

static int fake_client_rx(void *ctx, const struct pso_endpoint *ep, uint64_t *rx_msgs)
{
	return -ENOENT;
}

static int fake_topic_set(void *ctx, uint16_t id, uint8_t flags, const char *name)
{
	struct fake *f = ctx;

	f->last_topic_set = id;
	snprintf(f->last_topic_name, sizeof(f->last_topic_name), "%s", name ? name : "");
	return 0;
}

static int fake_slot_add(void *ctx, uint16_t id, const struct pso_sub *slot)
{
	return 0;
}

static void fake_slots_set(void *ctx, const struct pso_sub *slot, const uint16_t *ids, int n)
{
}

static void fake_slots_remove(void *ctx, const struct pso_endpoint *ep, const uint16_t *ids,
			      int n)
{
}

static bool fake_slot_served(void *ctx, uint16_t id, const struct pso_endpoint *ep,
			     uint8_t family, uint64_t rx_ns)
{
	return false;	/* the daemon delivers */
}

static int fake_topic_free(void *ctx, uint16_t id)
{
	struct fake *f = ctx;

	f->free_calls++;
	if (f->free_err)
		return f->free_err;
	assert_true(f->nfreed < 64);
	f->freed[f->nfreed++] = id;
	return 0;
}

static bool fake_topic_reusable(void *ctx, uint16_t id)
{
	return ((struct fake *)ctx)->reusable;
}

static void fake_session_changed(void *ctx, const char *client_id)
{
}

static void fake_topic_changed(void *ctx, uint16_t id)
{
	struct fake *f = ctx;

	if (f->nchanged < 256)
		f->changed[f->nchanged++] = id;
}

static void fake_retained_changed(void *ctx, uint16_t id)
{
}

static const struct pso_proto_ops fake_ops = {
	.send = fake_send, .broadcast = fake_broadcast, .resolve = fake_resolve,
	.ifname = fake_ifname, .client_add = fake_client_add,
	.client_remove = fake_client_remove, .client_rx = fake_client_rx,
	.topic_set = fake_topic_set, .slot_add = fake_slot_add, .slots_set = fake_slots_set,
	.slots_remove = fake_slots_remove, .slot_served = fake_slot_served,
	.topic_free = fake_topic_free, .topic_reusable = fake_topic_reusable,
	.session_changed = fake_session_changed, .topic_changed = fake_topic_changed,
	.retained_changed = fake_retained_changed,
};

static const struct pso_cidr trust_all[] = { { .family = PSO_AF_INET, .plen = 0 } };

#define IDLE_S 60

static int setup_cfg(void **state, uint32_t max_topics)
{
	static struct fx fx;

	memset(&fx, 0, sizeof(fx));
	fx.cfg = (struct pso_proto_cfg){
		.trusted = trust_all, .ntrusted = 1, .qosm1 = PSO_QOSM1_PREDEFINED,
		.gw_id = 1, .max_topics = max_topics, .max_clients = 16,
		.session_expiry_s = 600, .retry_s = 10, .retries = 3,
		.topic_idle_s = IDLE_S, .lim = PSO_LIMITS_DEFAULT,
	};
	fx.cfg.lim.connect_rate = fx.cfg.lim.control_rate = 0;
	fx.f.reusable = true;
	fx.p = pso_proto_new(&fx.cfg, &fake_ops, &fx.f);
	assert_non_null(fx.p);
	fx.now = 1000;
	X = &fx;
	*state = &fx;
	return 0;
}

static int setup(void **state)
{
	return setup_cfg(state, 128);
}

static int setup_small(void **state)
{
	return setup_cfg(state, 4);	/* ids 1..3 */
}

static int teardown(void **state)
{
	pso_proto_free(X->p);
	return 0;
}

static void input_at(int n, const struct mqttsn_msg *m, uint64_t rx_ns)
{
	struct pso_rx rx = { .ep = ep_of(n), .rx_ns = rx_ns };
	uint8_t buf[512];
	ssize_t len = mqttsn_encode(m, buf, sizeof(buf));

	assert_true(len > 0);
	rx.local.ipi6_ifindex = 2;
	pso_proto_input(X->p, &rx, buf, (size_t)len, X->now);
}

static void input(int n, const struct mqttsn_msg *m)
{
	input_at(n, m, 0);
}

/* The last message sent to client n (NULL: none since the mark). */
static const struct mqttsn_msg *last_to(int n, int since)
{
	for (int i = X->f.nsent - 1; i >= since; i--)
		if (X->f.sent[i].client == n)
			return &X->f.sent[i].m;
	return NULL;
}

static void tick_at(uint64_t now)
{
	X->now = now;
	pso_proto_tick(X->p, now);
}

static void connect_as(int n, const char *id, bool clean)
{
	struct mqttsn_msg m = {
		.type = MQTTSN_CONNECT, .flags = clean ? MQTTSN_FLAG_CLEAN_SESSION : 0,
		.duration = 0, .data = (const uint8_t *)id, .data_len = strlen(id),
	};
	int mark = X->f.nsent;

	input(n, &m);
	assert_non_null(last_to(n, mark));
	assert_int_equal(last_to(n, mark)->type, MQTTSN_CONNACK);
	assert_int_equal(last_to(n, mark)->return_code, 0);
}

/* REGISTER from client n: the REGACK's return code, its id in *id. */
static int register_name(int n, const char *name, uint16_t *id)
{
	struct mqttsn_msg m = {
		.type = MQTTSN_REGISTER, .msg_id = 7,
		.data = (const uint8_t *)name, .data_len = strlen(name),
	};
	int mark = X->f.nsent;
	const struct mqttsn_msg *ack;

	input(n, &m);
	ack = last_to(n, mark);
	assert_non_null(ack);
	assert_int_equal(ack->type, MQTTSN_REGACK);
	if (id)
		*id = ack->topic_id;
	return ack->return_code;
}

static void subscribe(int n, const char *filter)
{
	struct mqttsn_msg m = {
		.type = MQTTSN_SUBSCRIBE, .msg_id = 9,
		.data = (const uint8_t *)filter, .data_len = strlen(filter),
	};
	int mark = X->f.nsent;
	bool acked = false;

	input(n, &m);
	for (int i = mark; i < X->f.nsent; i++)
		if (X->f.sent[i].client == n && X->f.sent[i].m.type == MQTTSN_SUBACK) {
			assert_int_equal(X->f.sent[i].m.return_code, 0);
			acked = true;
		}
	assert_true(acked);
}

static void disconnect(int n, int sleep_s)
{
	struct mqttsn_msg m = { .type = MQTTSN_DISCONNECT, .has_duration = sleep_s > 0,
				.duration = (uint16_t)sleep_s };

	input(n, &m);
}

static bool named(uint16_t id)
{
	return pso_registry_name(pso_proto_registry(X->p), id) != NULL;
}

static bool changed(uint16_t id)
{
	for (int i = 0; i < X->f.nchanged; i++)
		if (X->f.changed[i] == id)
			return true;
	return false;
}

/* ---- protocol rows ------------------------------------------------------------- */

/* Freed after exactly --topic-idle with nobody using it, not before. */
static void test_idle_timing(void **state)
{
	uint16_t id;
	struct pso_rec rec;
	uint64_t t0;

	connect_as(1, "c1", true);
	assert_int_equal(register_name(1, "a/b", &id), 0);
	assert_int_equal(id, 1);
	/* Known to a connected session: kept however long. */
	tick_at(X->now + 10 * IDLE_S * 1000);
	assert_true(named(id));
	disconnect(1, 0);
	t0 = X->now;
	tick_at(t0 + (IDLE_S - 1) * 1000);
	assert_true(named(id));
	assert_int_equal(X->f.free_calls, 0);
	tick_at(t0 + IDLE_S * 1000);
	assert_false(named(id));
	assert_int_equal(X->f.nfreed, 1);
	assert_int_equal(X->f.freed[0], id);
	assert_int_equal(pso_proto_stats(X->p)->topics_freed, 1);
	assert_int_equal(pso_proto_ntopics(X->p), 0);
	/* The store is told, and finds nothing to keep: it deletes it. */
	assert_true(changed(id));
	assert_int_equal(pso_proto_export_topic(X->p, id, &rec), -ENOENT);
	pso_rec_free(&rec);
	/* A publish to the freed id is to an unknown topic. */
	connect_as(2, "c2", true);
	{
		struct mqttsn_msg pub = { .type = MQTTSN_PUBLISH, .flags = MQTTSN_FLAG_QOS_1,
					  .topic_id = id, .msg_id = 3, .data = (const uint8_t *)"x",
					  .data_len = 1 };
		int mark = X->f.nsent;

		input(2, &pub);
		assert_int_equal(last_to(2, mark)->type, MQTTSN_PUBACK);
		assert_int_equal(last_to(2, mark)->return_code, MQTTSN_RC_INVALID_TOPIC);
	}
	/* A name used again just before its idle period ends starts a new one. */
	assert_int_equal(register_name(2, "a/c", &id), 0);
	disconnect(2, 0);
	t0 = X->now;
	tick_at(t0 + (IDLE_S - 2) * 1000);
	connect_as(3, "c3", true);
	assert_int_equal(register_name(3, "a/c", NULL), 0);
	disconnect(3, 0);
	tick_at(t0 + IDLE_S * 1000 + 500);
	assert_true(named(id));
	tick_at(t0 + (2 * IDLE_S - 2) * 1000 + 1000);
	assert_false(named(id));
}

/* Each thing that uses a topic keeps it; the one that nothing uses goes. */
static void test_in_use_kept(void **state)
{
	struct pso_registry *reg = pso_proto_registry(X->p);
	uint16_t held, retained, kept, asleep, control;
	struct mqttsn_msg pub = { .type = MQTTSN_PUBLISH,
				  .flags = MQTTSN_FLAG_QOS_0 | MQTTSN_FLAG_RETAIN,
				  .data = (const uint8_t *)"r", .data_len = 1 };
	uint64_t t0;

	assert_int_equal(pso_registry_add_predefined(reg, 100, "p/1"), 0);
	/* A wildcard hold of a kept session that is offline: it was never
	 * told the id (it hears of it when back), only its hold keeps it. */
	connect_as(2, "wild", false);
	subscribe(2, "w/#");
	disconnect(2, 0);
	/* Client 1 creates the topics and leaves. */
	connect_as(1, "maker", true);
	assert_int_equal(register_name(1, "w/1", &held), 0);
	assert_int_equal(register_name(1, "r/1", &retained), 0);
	pub.topic_id = retained;
	input(1, &pub);
	assert_int_equal(register_name(1, "c/1", &control), 0);
	disconnect(1, 0);
	/* A kept session that registered a name, offline. */
	connect_as(4, "keeper", false);
	assert_int_equal(register_name(4, "k/1", &kept), 0);
	disconnect(4, 0);
	/* A sleeping client's registration. */
	connect_as(5, "sleeper", true);
	assert_int_equal(register_name(5, "z/1", &asleep), 0);
	disconnect(5, 3600);

	t0 = X->now;
	tick_at(t0 + IDLE_S * 1000);
	assert_false(named(control));
	assert_true(named(held));
	assert_true(named(retained));
	assert_true(named(kept));
	assert_true(named(asleep));
	assert_true(named(100));
	assert_int_equal(X->f.nfreed, 1);
	assert_true(pso_topic_in_use(X->p, held));
	assert_true(pso_topic_in_use(X->p, retained));
	assert_true(pso_topic_in_use(X->p, kept));
	assert_true(pso_topic_in_use(X->p, asleep));
	tick_at(t0 + 500 * 1000);
	assert_int_equal(X->f.nfreed, 1);

	/* The kept session expires (session-expiry 600 s): what only it knew
	 * idles from then on. */
	tick_at(t0 + 601 * 1000);
	assert_null(pso_client_find_id(X->p, "keeper"));
	assert_true(named(kept));
	/* The wildcard session expired too (same expiry): w/1 idles with it. */
	assert_null(pso_client_find_id(X->p, "wild"));
	tick_at(t0 + (601 + IDLE_S - 1) * 1000);
	assert_true(named(kept));
	assert_true(named(held));
	tick_at(t0 + (601 + IDLE_S) * 1000);
	assert_false(named(kept));
	assert_false(named(held));
	assert_true(named(retained));
	assert_true(named(asleep));
	assert_true(named(100));
}

/* The data plane still holds something (-EBUSY): kept, tried again. */
static void test_busy_retried(void **state)
{
	uint16_t id;

	connect_as(1, "c1", true);
	assert_int_equal(register_name(1, "b/1", &id), 0);
	disconnect(1, 0);
	X->f.free_err = -EBUSY;
	tick_at(X->now + IDLE_S * 1000);
	assert_int_equal(X->f.free_calls, 1);
	assert_true(named(id));
	assert_int_equal(pso_proto_stats(X->p)->topics_freed, 0);
	tick_at(X->now + 1000);
	assert_int_equal(X->f.free_calls, 2);
	assert_true(named(id));
	X->f.free_err = 0;
	tick_at(X->now + 1000);
	assert_false(named(id));
	assert_int_equal(pso_proto_stats(X->p)->topics_freed, 1);
}

/* --topic-idle 0: never. */
static void test_idle_zero_never(void **state)
{
	uint16_t id;

	X->p->cfg.topic_idle_s = 0;
	connect_as(1, "c1", true);
	assert_int_equal(register_name(1, "n/1", &id), 0);
	disconnect(1, 0);
	tick_at(X->now + 1000ull * 1000 * 1000);
	assert_true(named(id));
	assert_int_equal(X->f.free_calls, 0);
}

/* A full registry refuses new names (0x01) until idle topics are freed
 * and their quarantine is over; then the id comes back, and a publish the
 * kernel received before that is not the new topic's. */
static void test_quarantine_then_reuse(void **state)
{
	uint16_t a, id;
	uint64_t t0;
	int mark;
	struct mqttsn_msg pub = { .type = MQTTSN_PUBLISH, .flags = MQTTSN_FLAG_QOS_1,
				  .msg_id = 5, .data = (const uint8_t *)"late", .data_len = 4 };

	connect_as(1, "c1", true);
	assert_int_equal(register_name(1, "q/a", &a), 0);
	assert_int_equal(register_name(1, "q/b", NULL), 0);
	assert_int_equal(register_name(1, "q/c", NULL), 0);
	assert_int_equal(register_name(1, "q/d", NULL), MQTTSN_RC_CONGESTION);
	disconnect(1, 0);

	/* The data plane is not done with them yet. */
	X->f.reusable = false;
	t0 = X->now + IDLE_S * 1000;
	tick_at(t0);
	assert_int_equal(X->f.nfreed, 3);
	connect_as(2, "c2", true);
	assert_int_equal(register_name(2, "q/d", NULL), MQTTSN_RC_CONGESTION);
	tick_at(t0 + 5000);
	assert_int_equal(register_name(2, "q/d", NULL), MQTTSN_RC_CONGESTION);
	assert_true(pso_registry_is_quarantined(pso_proto_registry(X->p), a));

	/* Done: the first freed id comes back. */
	X->f.reusable = true;
	tick_at(t0 + 6000);
	assert_int_equal(register_name(2, "q/d", &id), 0);
	assert_int_equal(id, a);
	assert_int_equal(X->f.last_topic_set, a);
	assert_string_equal(X->f.last_topic_name, "q/d");
	assert_int_equal(pso_proto_stats(X->p)->topics_reused, 1);

	/* Client 3 subscribes to the new topic. */
	connect_as(3, "c3", true);
	subscribe(3, "q/d");

	/* A publish to the id that the kernel had before the id was reused:
	 * meant for q/a, refused, never delivered to q/d's subscriber. */
	pub.topic_id = a;
	mark = X->f.nsent;
	input_at(2, &pub, 1);
	assert_int_equal(last_to(2, mark)->type, MQTTSN_PUBACK);
	assert_int_equal(last_to(2, mark)->return_code, MQTTSN_RC_INVALID_TOPIC);
	assert_null(last_to(3, mark));
	assert_int_equal(pso_proto_stats(X->p)->late_publishes, 1);
	/* QoS 0 too: dropped as unknown. */
	pub.flags = MQTTSN_FLAG_QOS_0;
	mark = X->f.nsent;
	input_at(2, &pub, 2);
	assert_null(last_to(3, mark));
	assert_int_equal(pso_proto_stats(X->p)->late_publishes, 2);

	/* One received now is the new topic's. */
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		pub.flags = MQTTSN_FLAG_QOS_1;
		mark = X->f.nsent;
		input_at(2, &pub, (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec + 1000);
		assert_int_equal(last_to(2, mark)->type, MQTTSN_PUBACK);
		assert_int_equal(last_to(2, mark)->return_code, 0);
		assert_non_null(last_to(3, mark));
		assert_int_equal(last_to(3, mark)->type, MQTTSN_PUBLISH);
		assert_int_equal(last_to(3, mark)->topic_id, a);
	}
}

/* What a session knows goes into its record and comes back with it; a
 * topic record nobody knows is freed (and deleted) after a start. */
static void test_store_known(void **state)
{
	struct pso_rec trec = { 0 }, srec = { 0 }, lone = { 0 };
	struct pso_proto *p2;
	char err[256];
	uint16_t id, other;
	bool found = false;

	connect_as(4, "keeper", false);
	assert_int_equal(register_name(4, "s/1", &id), 0);
	assert_int_equal(register_name(4, "s/2", &other), 0);
	disconnect(4, 0);
	assert_int_equal(pso_proto_export_topic(X->p, id, &trec), 0);
	assert_int_equal(pso_proto_export_topic(X->p, other, &lone), 0);
	assert_int_equal(pso_proto_export_session(X->p, "keeper", 0, &srec), 0);
	for (int i = 0; i < srec.s.ntold; i++)
		found |= srec.s.told[i] == id;
	assert_true(found);
	/* Drop s/2 from what it knows: only the record's topic stays. */
	for (int i = 0; i < srec.s.ntold; i++)
		if (srec.s.told[i] == other)
			srec.s.told[i] = srec.s.told[--srec.s.ntold];

	/* A new broker reads the records back. */
	p2 = pso_proto_new(&X->cfg, &fake_ops, &X->f);
	assert_non_null(p2);
	pso_proto_free(X->p);
	X->p = p2;
	X->f.nchanged = 0;
	assert_int_equal(pso_proto_import(p2, &trec, X->now, 0, err, sizeof(err)), 0);
	assert_int_equal(pso_proto_import(p2, &lone, X->now, 0, err, sizeof(err)), 0);
	assert_int_equal(pso_proto_import(p2, &srec, X->now, 0, err, sizeof(err)), 0);
	tick_at(X->now + IDLE_S * 1000 + 1000);
	assert_true(named(id));
	assert_false(named(other));
	assert_true(changed(other));
	pso_rec_free(&lone);
	assert_int_equal(pso_proto_export_topic(p2, other, &lone), -ENOENT);
	pso_rec_free(&trec);
	pso_rec_free(&srec);
	pso_rec_free(&lone);
}

/* ---- tables ------------------------------------------------------------------- */

#define N_TOPICS 16
#define N_SLOTS 4

enum wkind { W_TOPIC, W_SUB, W_SHORT, W_STATS, W_SYNC, W_RUN };

struct tfx {
	struct pso_tables t;
	int topics_fd, subs_fd, runs_fd, clients_fd, names_fd, stats_fd;
	enum wkind log[256];
	uint32_t keys[256];
	int nlog;
	int syncs;
};

static void t_on_write(void *ctx, int fd, const void *key, const void *val, int err)
{
	struct tfx *f = ctx;

	if (f->nlog >= 256)
		return;
	f->keys[f->nlog] = key && fd != f->clients_fd ? *(const uint32_t *)key : 0;
	f->log[f->nlog++] = fd == f->topics_fd ? W_TOPIC : fd == f->subs_fd ? W_SUB
			    : fd == f->names_fd ? W_SHORT : fd == f->runs_fd ? W_RUN : W_STATS;
}

static void t_on_sync(void *ctx)
{
	struct tfx *f = ctx;

	__atomic_add_fetch(&f->syncs, 1, __ATOMIC_SEQ_CST);
	if (!f->t.grace && f->nlog < 256)
		f->log[f->nlog++] = W_SYNC;
}

static int tsetup(void **state)
{
	struct tfx *f = calloc(1, sizeof(*f));

	f->topics_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "r_topics", sizeof(uint32_t),
				      sizeof(struct pso_topic), N_TOPICS, NULL);
	f->subs_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "r_subs", sizeof(uint32_t),
				    sizeof(struct pso_sub), N_TOPICS * N_SLOTS, NULL);
	f->runs_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "r_runs", sizeof(uint32_t),
				    sizeof(struct pso_run), N_TOPICS, NULL);
	f->clients_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "r_clients", sizeof(struct pso_endpoint),
				       sizeof(struct pso_client_val), 4, NULL);
	f->names_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "r_short", sizeof(uint32_t),
				     sizeof(struct pso_short_name), N_TOPICS, NULL);
	f->stats_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "r_stats", sizeof(uint32_t),
				     sizeof(struct pso_topic_stats), N_TOPICS, NULL);
	if (f->topics_fd < 0 || f->subs_fd < 0 || f->clients_fd < 0 || f->names_fd < 0 ||
	    f->stats_fd < 0 || f->runs_fd < 0)
		fail_msg("cannot create BPF maps (%s); run as root", strerror(errno));
	assert_int_equal(pso_tables_init(&f->t, f->topics_fd, f->subs_fd, f->runs_fd,
					 f->clients_fd, N_TOPICS, N_TOPICS * N_SLOTS, 4), 0);
	assert_int_equal(pso_tables_set_max_run(&f->t, N_SLOTS), 0);
	assert_int_equal(pso_tables_use_short_names(&f->t, f->names_fd), 0);
	assert_int_equal(pso_tables_use_topic_stats(&f->t, f->topics_fd), -EINVAL);
	assert_int_equal(pso_tables_use_topic_stats(&f->t, f->stats_fd), 0);
	f->t.on_write = t_on_write;
	f->t.sync_readers = t_on_sync;
	f->t.hook_ctx = f;
	*state = f;
	return 0;
}

static int tteardown(void **state)
{
	struct tfx *f = *state;

	pso_tables_free(&f->t);
	close(f->topics_fd);
	close(f->subs_fd);
	close(f->runs_fd);
	close(f->clients_fd);
	close(f->names_fd);
	close(f->stats_fd);
	free(f);
	return 0;
}

static struct pso_sub sub_of(int n)
{
	struct pso_sub s = { .family = PSO_AF_INET, .dst_port = htons(30000 + n),
			     .flags = PSO_SUB_F_RESOLVED };

	s.dst_addr[0] = 10;
	s.dst_addr[3] = n;
	s.dst_mac[5] = n;
	return s;
}

/* Some counts, as the data plane would add them on every CPU. */
static void stats_count(struct tfx *f, uint16_t id)
{
	int ncpu = libbpf_num_possible_cpus();
	struct pso_topic_stats vals[ncpu];
	uint32_t key = id;

	for (int c = 0; c < ncpu; c++)
		vals[c] = (struct pso_topic_stats){ .msgs = 3 + c, .bytes = 300 };
	assert_int_equal(bpf_map_update_elem(f->stats_fd, &key, vals, BPF_ANY), 0);
}

static uint64_t stats_sum(struct tfx *f, uint16_t id)
{
	int ncpu = libbpf_num_possible_cpus();
	struct pso_topic_stats vals[ncpu];
	uint32_t key = id;
	uint64_t sum = 0;

	assert_int_equal(bpf_map_lookup_elem(f->stats_fd, &key, vals), 0);
	for (int c = 0; c < ncpu; c++)
		sum += vals[c].msgs + vals[c].bytes;
	return sum;
}

/* Every trace of the topic in the maps and the shadow is zero. */
static void expect_no_trace(struct tfx *f, uint16_t id)
{
	static const struct pso_topic zt;
	static const struct pso_sub zs;
	static const struct pso_short_name zn;
	struct pso_topic tv;
	struct pso_sub sv;
	struct pso_short_name nv;
	uint32_t key = id, n;

	assert_int_equal(bpf_map_lookup_elem(f->topics_fd, &key, &tv), 0);
	assert_memory_equal(&tv, &zt, sizeof(zt));
	assert_memory_equal(pso_tables_topic(&f->t, id), &zt, sizeof(zt));
	assert_int_equal(bpf_map_lookup_elem(f->names_fd, &key, &nv), 0);
	assert_memory_equal(&nv, &zn, sizeof(zn));
	/* No run, and no pool slot outside the other topics' runs holds
	 * anything: the freed id has no slots left. */
	{
		const struct pso_run *r = pso_tables_run(&f->t, id);
		bool owned[N_TOPICS * N_SLOTS] = { false };

		assert_int_equal(r->cap[r->cur & 1], 0);
		assert_null(pso_tables_slot(&f->t, id, 0));
		for (uint16_t o = 1; o < N_TOPICS; o++) {
			const struct pso_run *ro = pso_tables_run(&f->t, o);

			for (uint32_t i = 0; i < ro->cap[ro->cur & 1]; i++)
				owned[ro->base[ro->cur & 1] + i] = true;
		}
		for (uint32_t sk = 0; sk < N_TOPICS * N_SLOTS; sk++) {
			if (owned[sk])
				continue;
			assert_int_equal(bpf_map_lookup_elem(f->subs_fd, &sk, &sv), 0);
			assert_memory_equal(&sv, &zs, sizeof(zs));
		}
	}
	pso_tables_target(&f->t, id, &n);
	assert_int_equal(n, 0);
	assert_int_equal(stats_sum(f, id), 0);
}

static int log_find(struct tfx *f, enum wkind k, uint32_t key, int from)
{
	for (int i = from; i < f->nlog; i++)
		if (f->log[i] == k && (k == W_SYNC || f->keys[i] == key))
			return i;
	return -1;
}

/* Synchronous mode: a subscriber keeps the topic; once it has gone the
 * entry and the short name are cleared, then after a wait for readers the
 * counters, and the id is reusable. */
static void test_tables_free_sync(void **state)
{
	struct tfx *f = *state;
	struct pso_sub s = sub_of(1);
	struct pso_endpoint ep;
	int topic_w, sync_w, stats_w;

	assert_int_equal(pso_tables_topic_set(&f->t, 5, 0), 0);
	assert_int_equal(pso_tables_short_name_set(&f->t, 5, (const uint8_t *)"ab"), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 5, &s), 0);
	stats_count(f, 5);
	assert_false(pso_tables_topic_reusable(&f->t, 5));
	assert_int_equal(pso_tables_topic_free(&f->t, 5), -EBUSY);
	assert_int_equal(pso_tables_topic_free(&f->t, 0), -EINVAL);
	assert_int_equal(pso_tables_topic_free(&f->t, N_TOPICS), -EINVAL);
	assert_true(pso_tables_topic(&f->t, 5)->flags & PSO_TOPIC_F_VALID);
	pso_sub_endpoint(&s, &ep);
	assert_int_equal(pso_tables_sub_remove(&f->t, 5, &ep), 0);

	f->nlog = 0;
	assert_int_equal(pso_tables_topic_free(&f->t, 5), 0);
	expect_no_trace(f, 5);
	assert_true(pso_tables_topic_reusable(&f->t, 5));
	/* The order: entry (and name) first, a grace period, then the counters. */
	topic_w = log_find(f, W_TOPIC, 5, 0);
	sync_w = log_find(f, W_SYNC, 0, topic_w + 1);
	stats_w = log_find(f, W_STATS, 5, 0);
	assert_true(topic_w >= 0);
	assert_true(log_find(f, W_SHORT, 5, 0) >= 0);
	assert_true(log_find(f, W_SHORT, 5, 0) < sync_w);
	assert_true(sync_w > topic_w);
	assert_true(stats_w > sync_w);
	/* Other topics untouched; the id can hold a new topic. */
	assert_int_equal(pso_tables_topic_set(&f->t, 5, 0), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 5, &s), 0);
	assert_int_equal(pso_tables_topic(&f->t, 5)->sub_count, 1);
}

/* hw mode: a topic still in a NIC's table leaves it (entry and counters)
 * before the host entry goes. */
static void test_tables_free_nic(void **state)
{
	struct tfx *f = *state;
	struct pso_tables_mirror *m;
	struct pso_topic got;
	struct pso_topic_stats st;
	uint32_t key = 7;
	int nic_topics = bpf_map_create(BPF_MAP_TYPE_HASH, "r_nic_topics", sizeof(uint32_t),
					sizeof(struct pso_topic), 4, NULL);
	int nic_stats = bpf_map_create(BPF_MAP_TYPE_HASH, "r_nic_stats", sizeof(uint32_t),
				       sizeof(struct pso_topic_stats), 4, NULL);
	int nic_clients = bpf_map_create(BPF_MAP_TYPE_HASH, "r_nic_clients",
					 sizeof(struct pso_endpoint),
					 sizeof(struct pso_client_val), 4, NULL);

	assert_true(nic_topics >= 0 && nic_stats >= 0 && nic_clients >= 0);
	assert_int_equal(pso_tables_mirror_add(&f->t, nic_topics, nic_clients, nic_stats, 4), 0);
	m = pso_tables_mirror_find(&f->t, nic_topics);
	assert_int_equal(pso_tables_topic_set(&f->t, 7, 0), 0);
	assert_int_equal(pso_tables_mirror_place(&f->t, m, 7), 0);
	assert_int_equal(bpf_map_lookup_elem(nic_topics, &key, &got), 0);
	assert_int_equal(bpf_map_lookup_elem(nic_stats, &key, &st), 0);

	assert_int_equal(pso_tables_topic_free(&f->t, 7), 0);
	assert_false(pso_tables_mirror_is_placed(m, 7));
	assert_int_not_equal(bpf_map_lookup_elem(nic_topics, &key, &got), 0);
	assert_int_not_equal(bpf_map_lookup_elem(nic_stats, &key, &st), 0);
	expect_no_trace(f, 7);
	assert_true(pso_tables_topic_reusable(&f->t, 7));
	pso_tables_mirror_remove(&f->t, nic_topics);
	close(nic_topics);
	close(nic_stats);
	close(nic_clients);
}

static void wait_grace(struct tfx *f, int want_syncs)
{
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd pfd = { .fd = pso_tables_grace_fd(&f->t), .events = POLLIN };

		poll(&pfd, 1, 100);
		pso_tables_grace_done(&f->t);
		if (__atomic_load_n(&f->syncs, __ATOMIC_SEQ_CST) >= want_syncs &&
		    !pso_tables_pending(&f->t))
			return;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > 5)
			fail_msg("no grace period within 5 s");
	}
}

/* Deferred mode: nothing waits; a removal still pending keeps the topic
 * busy; counts the data plane adds during the grace period are zeroed
 * too, and the id is reusable only after it. */
static void test_tables_free_deferred(void **state)
{
	struct tfx *f = *state;
	struct pso_sub s = sub_of(2);
	struct pso_endpoint ep;

	assert_int_equal(pso_tables_defer_start(&f->t), 0);
	assert_int_equal(pso_tables_topic_set(&f->t, 6, 0), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 6, &s), 0);
	pso_sub_endpoint(&s, &ep);
	assert_int_equal(pso_tables_sub_remove(&f->t, 6, &ep), 0);
	/* The slot's removal waits for its grace period: still busy. */
	assert_true(pso_tables_pending(&f->t) > 0);
	assert_int_equal(pso_tables_topic_free(&f->t, 6), -EBUSY);
	wait_grace(f, 1);

	stats_count(f, 6);
	f->syncs = 0;
	assert_int_equal(pso_tables_topic_free(&f->t, 6), 0);
	assert_false(pso_tables_topic_reusable(&f->t, 6));
	assert_false(pso_tables_topic(&f->t, 6)->flags & PSO_TOPIC_F_VALID);
	stats_count(f, 6);	/* a run that read the old entry, still counting */
	wait_grace(f, 1);
	assert_true(pso_tables_topic_reusable(&f->t, 6));
	expect_no_trace(f, 6);
	pso_tables_defer_stop(&f->t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_release_reuse),
		cmocka_unit_test(test_registry_fresh_first),
		cmocka_unit_test(test_registry_candidates),
		cmocka_unit_test(test_registry_hash_delete),
		cmocka_unit_test_setup_teardown(test_idle_timing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_use_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_zero_never, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_then_reuse, setup_small, teardown),
		cmocka_unit_test_setup_teardown(test_store_known, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tables_free_sync, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_tables_free_nic, tsetup, tteardown),
		cmocka_unit_test_setup_teardown(test_tables_free_deferred, tsetup, tteardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
