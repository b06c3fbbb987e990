// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_persist.c - sessions that outlive the protocol layer: a broker's
 * state is written to an SQLite store through the protocol layer's change
 * hooks (as daemon/store_env.c does, one commit per "round"), the layer is
 * freed, a new one is loaded from the store, and the sessions behave as
 * before: a persistent subscriber resumes at its endpoint with its
 * subscriptions and gets publishes with no action of its own; a QoS 1
 * delivery in flight is sent again (DUP); an offline session gets what it
 * was owed when it connects; topic ids and retained messages are the same;
 * keep-alive counts from the load.
 *
 * The fake transport records the datagrams sent (decoded) and accepts
 * every table call.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include "proto/mqttsn.h"
#include "proto/persist.h"
#include "proto/proto.h"
#include "proto/topics.h"
#include "store/store.h"
#include "util/endpoint.h"

/* ---- the fake transport and the "daemon" ------------------------------------ */

#define MAX_SENT 256

struct sent {
	struct pso_endpoint ep;
	struct mqttsn_msg m;
	uint8_t buf[1024];
};

struct env {
	struct sent sent[MAX_SENT];
	int nsent, cursor;
	int client_adds, slot_adds;
	/* dirty keys, as the daemon keeps them */
	char ids[64][MQTTSN_CLIENT_ID_MAX + 1];
	int nids;
	uint16_t topics[64], retained[64];
	int ntopics, nretained;
};

static struct env env;
static struct pso_proto *p;
static struct pso_store *store;
static char dir[128], spec[256], err[256];
static uint64_t now = 1000000;

static struct pso_endpoint ep_of(int n)
{
	struct pso_endpoint ep = { .family = PSO_AF_INET, .port = htons(20000 + n) };

	ep.addr[0] = 10;
	ep.addr[3] = (uint8_t)n;
	return ep;
}

static int num_of(const struct pso_endpoint *ep)
{
	return ep->addr[3];
}

static int e_send(void *ctx, const struct pso_endpoint *ep, const struct in6_pktinfo *local,
		  const uint8_t *buf, size_t len)
{
	struct sent *s;

	assert_true(env.nsent < MAX_SENT && len <= sizeof(s->buf));
	s = &env.sent[env.nsent++];
	s->ep = *ep;
	memcpy(s->buf, buf, len);
	assert_int_equal(mqttsn_decode(s->buf, len, &s->m), 0);
	return (int)len;
}

static int e_broadcast(void *ctx, const uint8_t *buf, size_t len)
{
	return 0;
}

static void e_resolve(void *ctx, const struct pso_endpoint *ep, const struct in6_pktinfo *local,
		      struct pso_sub *slot)
{
	slot->family = ep->family;
	slot->dst_port = ep->port;
	memcpy(slot->dst_addr, ep->addr, sizeof(slot->dst_addr));
	slot->flags = PSO_SUB_F_RESOLVED;
}

static const char *e_ifname(void *ctx, int ifindex)
{
	return "fake0";
}

static int e_client_add(void *ctx, const struct pso_endpoint *ep)
{
	env.client_adds++;
	return 0;
}

static void e_client_remove(void *ctx, const struct pso_endpoint *ep)
{
}

static int e_client_rx(void *ctx, const struct pso_endpoint *ep, uint64_t *rx)
{
	*rx = 0;
	return 0;
}

static int e_topic_set(void *ctx, uint16_t id, uint8_t flags, const char *name)
{
	return 0;
}

static int e_slot_add(void *ctx, uint16_t id, const struct pso_sub *slot)
{
	env.slot_adds++;
	return 0;
}

static void e_slots_set(void *ctx, const struct pso_sub *slot, const uint16_t *ids, int n)
{
}

static void e_slots_remove(void *ctx, const struct pso_endpoint *ep, const uint16_t *ids, int n)
{
}

/* The data plane never served anyone: the daemon delivers every publish. */
static bool e_slot_served(void *ctx, uint16_t id, const struct pso_endpoint *ep, uint8_t family,
			  uint64_t rx_ns)
{
	return false;
}

static void e_session_changed(void *ctx, const char *id)
{
	for (int i = 0; i < env.nids; i++)
		if (!strcmp(env.ids[i], id))
			return;
	assert_true(env.nids < 64);
	snprintf(env.ids[env.nids++], sizeof(env.ids[0]), "%s", id);
}

static void e_topic_changed(void *ctx, uint16_t id)
{
	env.topics[env.ntopics++] = id;
}

static void e_retained_changed(void *ctx, uint16_t id)
{
	env.retained[env.nretained++] = id;
}

static const struct pso_proto_ops ops = {
	.send = e_send, .broadcast = e_broadcast, .resolve = e_resolve, .ifname = e_ifname,
	.client_add = e_client_add, .client_remove = e_client_remove, .client_rx = e_client_rx,
	.topic_set = e_topic_set, .slot_add = e_slot_add, .slots_set = e_slots_set,
	.slots_remove = e_slots_remove, .slot_served = e_slot_served,
	.session_changed = e_session_changed, .topic_changed = e_topic_changed,
	.retained_changed = e_retained_changed,
};

/* The test's clients (10.0.0.n) are trusted: no address validation. */
static struct pso_cidr trusted[1];
static struct pso_proto_cfg cfg = {
	.max_topics = 64, .max_clients = 16, .session_expiry_s = 3600, .retry_s = 10,
	.retries = 3, .trusted = trusted, .ntrusted = 1,
};

static void put_or_delete(int ret, struct pso_rec *rec)
{
	if (!ret) {
		assert_int_equal(pso_store_put(store, rec), 0);
	} else {
		struct pso_store_key key;

		assert_int_equal(ret, -ENOENT);
		key = pso_store_key_of(rec);
		assert_int_equal(pso_store_delete(store, &key), 0);
	}
	pso_rec_free(rec);
}

/* The end of a round: what changed, written in one commit. */
static void flush(void)
{
	struct pso_rec rec;

	for (int i = 0; i < env.ntopics; i++)
		put_or_delete(pso_proto_export_topic(p, env.topics[i], &rec), &rec);
	for (int i = 0; i < env.nretained; i++)
		put_or_delete(pso_proto_export_retained(p, env.retained[i], &rec), &rec);
	for (int i = 0; i < env.nids; i++)
		put_or_delete(pso_proto_export_session(p, env.ids[i], 1700000000000ull + now, &rec),
			      &rec);
	env.ntopics = env.nretained = env.nids = 0;
	assert_int_equal(pso_store_commit(store, NULL, err, sizeof(err)), 0);
}

static int import_one(const struct pso_store_item *it, void *ctx)
{
	char why[256];

	assert_int_equal(pso_proto_import(p, it->rec, now, 1700000000000ull + now, why,
					  sizeof(why)), 0);
	return 0;
}

/* The broker stops (its last round written) and starts again on the
 * same store, some seconds later. */
static void restart(uint64_t down_ms)
{
	flush();
	pso_proto_free(p);
	pso_store_close(store);
	now += down_ms;
	assert_int_equal(pso_store_open(&store, spec, 0, err, sizeof(err)), 0);
	p = pso_proto_new(&cfg, &ops, NULL);
	assert_non_null(p);
	assert_int_equal(pso_registry_add_predefined(pso_proto_registry(p), 50, "pre/def"), 0);
	pso_proto_topics_publish(p);
	memset(&env, 0, sizeof(env));
	assert_int_equal(pso_store_load(store, import_one, NULL, NULL, err, sizeof(err)), 0);
	env.nids = env.ntopics = env.nretained = 0;	/* the daemon's dirty_clear */
	pso_proto_resume_imported(p, now);
}

static int setup(void **state)
{
	int n;

	assert_int_equal(pso_cidr_parse_list("10.0.0.0/8", trusted, 1, &n), 0);
	snprintf(dir, sizeof(dir), "/tmp/pso-test-persist.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(spec, sizeof(spec), "sqlite:%s/state.db", dir);
	memset(&env, 0, sizeof(env));
	assert_int_equal(pso_store_open(&store, spec, 0, err, sizeof(err)), 0);
	p = pso_proto_new(&cfg, &ops, NULL);
	assert_non_null(p);
	assert_int_equal(pso_registry_add_predefined(pso_proto_registry(p), 50, "pre/def"), 0);
	return 0;
}

static int teardown(void **state)
{
	char cmd[200];

	pso_proto_free(p);
	pso_store_close(store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* ---- the script -------------------------------------------------------------- */

static void in(int client, const struct mqttsn_msg *m)
{
	uint8_t buf[1024];
	ssize_t n = mqttsn_encode(m, buf, sizeof(buf));
	struct pso_rx rx = { .ep = ep_of(client) };

	assert_true(n > 0);
	rx.local.ipi6_ifindex = 1;
	pso_proto_input(p, &rx, buf, (size_t)n, now);
}

/* The next datagram sent: to client, of type. */
static const struct mqttsn_msg *out(int client, uint8_t type)
{
	const struct sent *s;

	if (env.cursor >= env.nsent)
		fail_msg("expected %s to client %d, nothing sent", mqttsn_type_name(type), client);
	s = &env.sent[env.cursor++];
	if (num_of(&s->ep) != client || s->m.type != type)
		fail_msg("expected %s to client %d, got %s to client %d", mqttsn_type_name(type),
			 client, mqttsn_type_name(s->m.type), num_of(&s->ep));
	return &s->m;
}

static void nothing_more(void)
{
	if (env.cursor < env.nsent)
		fail_msg("unexpected %s to client %d", mqttsn_type_name(env.sent[env.cursor].m.type),
			 num_of(&env.sent[env.cursor].ep));
}

static void do_connect(int client, const char *id, bool clean, uint16_t keepalive, bool will)
{
	struct mqttsn_msg m = {
		.type = MQTTSN_CONNECT, .protocol_id = 1, .duration = keepalive,
		.flags = (clean ? MQTTSN_FLAG_CLEAN_SESSION : 0) | (will ? MQTTSN_FLAG_WILL : 0),
		.data = (const uint8_t *)id, .data_len = strlen(id),
	};

	in(client, &m);
	if (will) {
		struct mqttsn_msg wt = { .type = MQTTSN_WILLTOPIC, .flags = MQTTSN_FLAG_RETAIN,
					 .data = (const uint8_t *)"will/t", .data_len = 6 };
		struct mqttsn_msg wm = { .type = MQTTSN_WILLMSG, .data = (const uint8_t *)"bye",
					 .data_len = 3 };

		out(client, MQTTSN_WILLTOPICREQ);
		in(client, &wt);
		out(client, MQTTSN_WILLMSGREQ);
		in(client, &wm);
	}
	assert_int_equal(out(client, MQTTSN_CONNACK)->return_code, MQTTSN_RC_ACCEPTED);
}

static uint16_t subscribe(int client, const char *filter, int qos)
{
	struct mqttsn_msg m = { .type = MQTTSN_SUBSCRIBE, .msg_id = 1,
				.flags = mqttsn_qos_flags(qos) | MQTTSN_TOPIC_NORMAL,
				.data = (const uint8_t *)filter, .data_len = strlen(filter) };
	const struct mqttsn_msg *ack;

	in(client, &m);
	ack = out(client, MQTTSN_SUBACK);
	assert_int_equal(ack->return_code, MQTTSN_RC_ACCEPTED);
	return ack->topic_id;
}

/* REGISTER from client; told: a subscriber whose filter takes the new
 * topic is sent its REGISTER first (0: none). */
static uint16_t reg(int client, const char *name, int told)
{
	struct mqttsn_msg m = { .type = MQTTSN_REGISTER, .msg_id = 2,
				.data = (const uint8_t *)name, .data_len = strlen(name) };

	in(client, &m);
	if (told)
		out(told, MQTTSN_REGISTER);
	return out(client, MQTTSN_REGACK)->topic_id;
}

static void publish(int client, uint16_t id, int qos, bool retain, const char *payload)
{
	struct mqttsn_msg m = { .type = MQTTSN_PUBLISH, .topic_id = id, .msg_id = 9,
				.flags = mqttsn_qos_flags(qos) | (retain ? MQTTSN_FLAG_RETAIN : 0),
				.data = (const uint8_t *)payload, .data_len = strlen(payload) };

	in(client, &m);
	if (qos == 1)
		out(client, MQTTSN_PUBACK);
}

static void expect_publish(int client, uint16_t id, const char *payload, bool dup,
			   uint16_t *msg_id)
{
	const struct mqttsn_msg *m = out(client, MQTTSN_PUBLISH);

	assert_int_equal(m->topic_id, id);
	assert_int_equal(m->data_len, strlen(payload));
	assert_memory_equal(m->data, payload, m->data_len);
	assert_int_equal(!!(m->flags & MQTTSN_FLAG_DUP), dup);
	if (msg_id)
		*msg_id = m->msg_id;
}

static void puback(int client, uint16_t id, uint16_t msg_id)
{
	struct mqttsn_msg m = { .type = MQTTSN_PUBACK, .topic_id = id, .msg_id = msg_id };

	in(client, &m);
}

static int client_state(const struct pso_client_info *ci, void *ctx)
{
	struct pso_client_info *want = ctx;

	if (strcmp(ci->id, want->id))
		return 0;
	*want = *ci;
	return 1;
}

static struct pso_client_info info_of(const char *id)
{
	struct pso_client_info ci = { .id = id };

	assert_int_equal(pso_proto_foreach_client(p, client_state, &ci), 1);
	return ci;
}

/* ---- tests ------------------------------------------------------------------- */

/*
 * A persistent subscriber (CleanSession 0, a will, a name and a filter),
 * a publisher; a QoS 1 delivery in flight, a retained message.  After the
 * restart: the same topic ids, the subscriber connected at its endpoint
 * with its subscriptions, its QoS 1 delivery sent again with DUP, and a
 * new publish reaches it with nothing asked of it.
 */
static void t_subscriber_resumes(void **state)
{
	uint16_t ab, xy, msg_id, again;
	struct pso_client_info ci;

	do_connect(1, "sub", false, 60, true);
	ab = subscribe(1, "a/b", 1);
	assert_int_equal(subscribe(1, "x/#", 0), 0);
	do_connect(2, "pub", true, 30, false);
	xy = reg(2, "x/y", 1);	/* the filter's new topic: REGISTER to 1 */
	publish(2, xy, 0, true, "kept");
	expect_publish(1, xy, "kept", false, NULL);
	publish(2, ab, 1, false, "m1");
	expect_publish(1, ab, "m1", false, &msg_id);	/* not acknowledged */
	nothing_more();

	restart(5000);
	/* the in-flight delivery, again, DUP */
	expect_publish(1, ab, "m1", true, &again);
	assert_int_equal(again, msg_id);
	nothing_more();
	ci = info_of("sub");
	assert_true(ci.connected);
	assert_false(ci.clean);
	assert_int_equal(ci.subscriptions, 2);
	assert_int_equal(ci.topics, 2);
	assert_int_equal(ci.outbox, 1);
	assert_string_equal(ci.will_topic, "will/t");
	assert_int_equal(ci.keepalive_s, 60);
	ci = info_of("pub");
	assert_true(ci.connected);
	assert_int_equal(env.client_adds, 2);
	{
		uint16_t id;

		assert_int_equal(pso_proto_topic_id(p, "a/b", &id), 0);
		assert_int_equal(id, ab);
		assert_int_equal(pso_proto_topic_id(p, "x/y", &id), 0);
		assert_int_equal(id, xy);
	}
	/* acknowledged now; then the publisher, restored too, publishes */
	puback(1, ab, again);
	assert_int_equal(info_of("sub").outbox, 0);
	publish(2, xy, 0, false, "after");
	expect_publish(1, xy, "after", false, NULL);
	nothing_more();
	/* the retained message is there for a new subscriber */
	do_connect(3, "late", true, 60, false);
	assert_int_equal(subscribe(3, "x/y", 0), xy);
	expect_publish(3, xy, "kept", false, NULL);
	nothing_more();
}

/*
 * An offline session (DISCONNECT after CleanSession 0) owed a QoS 1
 * message across a restart: it gets it when it connects again, from
 * another endpoint; a session that ended (clean DISCONNECT) is gone from
 * the store.
 */
static void t_offline_owed(void **state)
{
	struct mqttsn_msg dis = { .type = MQTTSN_DISCONNECT };
	uint16_t id, msg_id;
	struct pso_client_info ci;

	do_connect(1, "away", false, 60, false);
	id = subscribe(1, "q/1", 1);
	in(1, &dis);
	out(1, MQTTSN_DISCONNECT);
	do_connect(2, "gone", true, 60, false);
	publish(2, id, 1, false, "owed");
	in(2, &dis);
	out(2, MQTTSN_DISCONNECT);
	nothing_more();

	restart(2000);
	nothing_more();
	ci = info_of("away");
	assert_false(ci.connected);
	assert_int_equal(ci.state, PSO_SESSION_OFFLINE);
	assert_int_equal(ci.outbox, 1);
	assert_true(ci.expires_in_ms <= 3600 * 1000 - 2000);	/* it kept counting */
	{
		struct pso_client_info g = { .id = "gone" };

		assert_int_equal(pso_proto_foreach_client(p, client_state, &g), 0);
	}
	assert_int_equal(pso_proto_nsessions(p), 1);
	do_connect(5, "away", false, 60, false);
	expect_publish(5, id, "owed", false, &msg_id);
	puback(5, id, msg_id);
	nothing_more();
	assert_int_equal(info_of("away").outbox, 0);
}

/* Keep-alive counts from the load: a restored client that says nothing
 * is not expired before 1.5 keep-alive periods after the restart. */
static void t_keepalive_grace(void **state)
{
	do_connect(1, "quiet", false, 10, false);
	subscribe(1, "k/a", 0);
	now += 12000;	/* most of its period gone before the stop */
	restart(3000);
	pso_proto_tick(p, now + 14000);
	assert_true(info_of("quiet").connected);
	pso_proto_tick(p, now + 15500);
	assert_false(info_of("quiet").connected);	/* lost: kept offline */
	assert_int_equal(info_of("quiet").subscriptions, 1);
}

/* A sleeping client's buffer and its sleep survive; its PINGREQ gets
 * them after the restart. */
static void t_sleeper(void **state)
{
	struct mqttsn_msg sleep = { .type = MQTTSN_DISCONNECT, .has_duration = true, .duration = 60 };
	struct mqttsn_msg ping = { .type = MQTTSN_PINGREQ, .data = (const uint8_t *)"zz",
				   .data_len = 2 };
	uint16_t id;

	do_connect(1, "zz", false, 60, false);
	id = subscribe(1, "s/1", 0);
	in(1, &sleep);
	out(1, MQTTSN_DISCONNECT);
	do_connect(2, "p", true, 60, false);
	publish(2, id, 0, false, "while asleep");
	nothing_more();

	restart(1000);
	nothing_more();	/* a sleeper is sent nothing */
	assert_int_equal(info_of("zz").state, PSO_SESSION_ASLEEP);
	assert_int_equal(info_of("zz").buffered, 1);
	in(1, &ping);
	expect_publish(1, id, "while asleep", false, NULL);
	out(1, MQTTSN_PINGRESP);
	nothing_more();
}

/* ---- a hot standby's copy (ha/: daemon/ha_env.c) ---- */

static struct pso_proto *q;	/* the standby's layer */
static uint64_t q_rev;

static int apply_one(const struct pso_store_item *it, void *ctx)
{
	char why[256];

	if (it->rec)
		assert_int_equal(pso_proto_apply(q, it->rec, it->deleted, now,
						 1700000000000ull + now, why, sizeof(why)), 0);
	return 0;
}

/* The standby follows the store's changes since its last revision. */
static void follow(void)
{
	uint64_t next = q_rev;

	assert_int_equal(pso_store_watch(store, q_rev, apply_one, NULL, &next), 0);
	q_rev = next;
}

static int q_state(const struct pso_client_info *ci, void *ctx)
{
	struct pso_client_info *want = ctx;

	if (strcmp(ci->id, want->id))
		return 0;
	*want = *ci;
	return 1;
}

/* -1: no such session in the standby's layer; else its subscriptions. */
static int q_subs(const char *id)
{
	struct pso_client_info ci = { .id = id };

	return pso_proto_foreach_client(q, q_state, &ci) == 1 ? (int)ci.subscriptions : -1;
}

/*
 * A standby lists the store, then follows its changes: a session that
 * changed is replaced, one that ended is gone, and none of it sends a
 * datagram.  Forgotten and listed again, it is the same.  Promoted (its
 * sessions resumed), it serves the leader's subscriber with nothing asked
 * of the client.
 */
static void t_standby_copy(void **state)
{
	struct mqttsn_msg dis = { .type = MQTTSN_DISCONNECT };
	uint16_t ab, cd, id;
	int sent;

	do_connect(1, "sub", false, 60, false);
	ab = subscribe(1, "a/b", 0);
	do_connect(2, "pub", true, 30, false);
	flush();
	q = pso_proto_new(&cfg, &ops, NULL);
	assert_non_null(q);
	assert_int_equal(pso_registry_add_predefined(pso_proto_registry(q), 50, "pre/def"), 0);
	sent = env.nsent;
	assert_int_equal(pso_store_list(store, 0, 0, apply_one, NULL, &q_rev), 0);
	assert_int_equal(q_subs("sub"), 1);
	assert_int_equal(q_subs("pub"), 0);
	/* the leader goes on: a second subscription, a clean DISCONNECT */
	cd = subscribe(1, "c/d", 0);
	in(2, &dis);
	out(2, MQTTSN_DISCONNECT);
	flush();
	sent = env.nsent;
	follow();
	assert_int_equal(q_subs("sub"), 2);
	assert_int_equal(q_subs("pub"), -1);
	assert_int_equal(pso_proto_topic_id(q, "c/d", &id), 0);
	assert_int_equal(id, cd);
	assert_int_equal(env.nsent, sent);	/* the standby sent nothing */
	/* forgotten whole, listed again: the same */
	assert_int_equal(pso_proto_forget_sessions(q), 1);
	assert_int_equal(q_subs("sub"), -1);
	assert_int_equal(pso_store_list(store, 0, 0, apply_one, NULL, &q_rev), 0);
	assert_int_equal(q_subs("sub"), 2);
	assert_int_equal(env.nsent, sent);
	/* the takeover: the leader's layer is gone, the standby's serves */
	env.cursor = env.nsent;
	pso_proto_free(p);
	p = q;
	q = NULL;
	pso_proto_resume_imported(p, now);
	nothing_more();		/* it was told both topics: nothing owed */
	do_connect(3, "pub2", true, 30, false);
	assert_int_equal(reg(3, "a/b", 0), ab);
	publish(3, ab, 0, false, "after");
	expect_publish(1, ab, "after", false, NULL);
	nothing_more();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_subscriber_resumes, setup, teardown),
		cmocka_unit_test_setup_teardown(t_offline_owed, setup, teardown),
		cmocka_unit_test_setup_teardown(t_keepalive_grace, setup, teardown),
		cmocka_unit_test_setup_teardown(t_sleeper, setup, teardown),
		cmocka_unit_test_setup_teardown(t_standby_copy, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
