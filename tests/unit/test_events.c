// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_events.c - the host side of the event stream (host/daemon/events.c):
 * the bounded history, followers, the reason filter, and the JSON and text
 * forms an event takes on the control socket and the terminal.  Events are
 * fed with pso_events_push(), as the ring buffer consumer feeds them; the
 * data plane's side is tested in test_xdp_packets and test_tc_packets.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>
#include "daemon/events.h"

#define SEC 1000000000ull

static struct pso_event ev4(uint16_t reason, uint16_t port)
{
	struct pso_event ev = {
		.ts_ns = 100 * SEC, .reason = reason, .cause = reason, .count = 1,
		.flags = PSO_EVENT_F_SOURCE | PSO_EVENT_F_TOPIC, .family = PSO_AF_INET,
		.src_addr = { 10, 0, 0, 10 }, .src_port = htons(port), .topic_id = 66, .len = 23,
	};

	return ev;
}

static const char *names(void *ctx, uint16_t id)
{
	return id == 66 ? "sensors/temp" : NULL;
}

struct seen {
	uint64_t seq[PSO_EVENTS_HISTORY];
	int n;
};

static void collect(void *ctx, const struct pso_event_rec *rec)
{
	struct seen *s = ctx;

	s->seq[s->n++] = rec->seq;
}

static void test_history_is_bounded_oldest_first(void **state)
{
	struct pso_events *e;
	struct seen s = { 0 };
	struct pso_event ev = ev4(PSO_CNT_XDP_DROP_MALFORMED, 40000);

	assert_int_equal(pso_events_open(&e, -1, 4, names, NULL), 0);
	for (int i = 0; i < 6; i++)
		pso_events_push(e, &ev, 100 * SEC, 1000 * SEC);
	assert_int_equal(pso_events_total(e), 6);
	pso_events_foreach(e, 0, collect, &s);
	assert_int_equal(s.n, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(s.seq[i], 3 + i);
	s.n = 0;
	pso_events_foreach(e, 5, collect, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.seq[0], 6);
	pso_events_close(e);
}

static void test_followers_get_new_events_until_they_leave(void **state)
{
	struct pso_events *e;
	struct seen a = { 0 }, b = { 0 };
	struct pso_event ev = ev4(PSO_CNT_XDP_DROP_MALFORMED, 40000);
	int ida, idb, ids[PSO_EVENTS_FOLLOWERS];

	assert_int_equal(pso_events_open(&e, -1, 0, names, NULL), 0);
	pso_events_push(e, &ev, 100 * SEC, 1000 * SEC);	/* before anyone follows */
	ida = pso_events_follow(e, collect, &a);
	idb = pso_events_follow(e, collect, &b);
	assert_true(ida > 0 && idb > 0 && ida != idb);
	pso_events_push(e, &ev, 100 * SEC, 1000 * SEC);
	pso_events_unfollow(e, ida);
	pso_events_push(e, &ev, 100 * SEC, 1000 * SEC);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.seq[0], 2);
	assert_int_equal(b.n, 2);
	assert_int_equal(b.seq[1], 3);
	pso_events_unfollow(e, idb);

	/* A full table refuses politely. */
	for (int i = 0; i < PSO_EVENTS_FOLLOWERS; i++)
		assert_true((ids[i] = pso_events_follow(e, collect, &a)) > 0);
	assert_int_equal(pso_events_follow(e, collect, &a), -ENOSPC);
	pso_events_close(e);
}

static void copy_rec(void *ctx, const struct pso_event_rec *rec)
{
	*(struct pso_event_rec *)ctx = *rec;
}

/* The event's monotonic time becomes wall time: read 2 s after it
 * happened, it happened 2 s before the wall clock of that read. */
static void test_wall_time_and_topic_name(void **state)
{
	struct pso_events *e;
	struct pso_event ev = ev4(PSO_CNT_XDP_DROP_NOT_CONNECTED, 40000);
	struct pso_event_rec rec;

	assert_int_equal(pso_events_open(&e, -1, 0, names, NULL), 0);
	pso_events_push(e, &ev, 102 * SEC, 1700000000 * SEC);
	pso_events_foreach(e, 0, copy_rec, &rec);
	assert_int_equal(rec.time_ns, 1700000000 * SEC - 2 * SEC);
	assert_string_equal(rec.topic, "sensors/temp");
	pso_events_close(e);
}

static void test_reason_names_and_filter(void **state)
{
	struct pso_event_rec rec = { .ev = ev4(PSO_CNT_TC_DROP, 1) };
	unsigned int r;

	rec.ev.cause = PSO_CNT_XDP_DROP_NOT_CONNECTED;
	assert_int_equal(pso_event_reason_parse("xdp_drop_malformed", &r), 0);
	assert_int_equal(r, PSO_CNT_XDP_DROP_MALFORMED);
	assert_int_equal(pso_event_reason_parse("no_such_reason", &r), -EINVAL);
	assert_string_equal(pso_event_reason_name(PSO_CNT_TC_COPY_SHED), "tc_copy_shed");
	assert_string_equal(pso_event_reason_name(PSO_CNT__MAX), "?");
	/* A TC drop matches its counter and its cause. */
	assert_true(pso_event_matches(&rec, PSO_CNT_TC_DROP));
	assert_true(pso_event_matches(&rec, PSO_CNT_XDP_DROP_NOT_CONNECTED));
	assert_false(pso_event_matches(&rec, PSO_CNT_XDP_DROP_MALFORMED));
}

static void test_json_round_trip(void **state)
{
	struct pso_event_rec in = { .seq = 7, .time_ns = 1700000000123456789ull }, out;
	struct json_object *o;

	in.ev = ev4(PSO_CNT_TC_COPY_SHED, 40001);
	in.ev.count = 3;
	in.ev.suppressed = 9;
	in.ev.ts_ns = 0;	/* the data plane's clock stays in the daemon */
	strcpy(in.topic, "sensors/temp");
	o = pso_event_to_json(&in);
	assert_string_equal(json_object_get_string(json_object_object_get(o, "reason")),
			    "tc_copy_shed");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "source")),
			    "10.0.0.10");
	assert_string_equal(json_object_get_string(json_object_object_get(o, "time")),
			    "2023-11-14T22:13:20.123Z");
	assert_int_equal(pso_event_from_json(o, &out), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	json_object_put(o);

	/* IPv6, no topic: nulls, and back. */
	memset(&in, 0, sizeof(in));
	in.seq = 1;
	in.ev.reason = in.ev.cause = PSO_CNT_XDP_DROP_LENGTH;
	in.ev.count = 1;
	in.ev.flags = PSO_EVENT_F_SOURCE;
	in.ev.family = PSO_AF_INET6;
	inet_pton(AF_INET6, "fd00::10", in.ev.src_addr);
	in.ev.src_port = htons(5);
	o = pso_event_to_json(&in);
	assert_true(json_object_object_get(o, "topic_id") == NULL);
	assert_int_equal(pso_event_from_json(o, &out), 0);
	assert_memory_equal(&in, &out, sizeof(in));
	json_object_put(o);

	/* Bad input: one wrong field is refused. */
	o = json_tokener_parse("{\"seq\":1,\"time_ns\":1,\"reason\":\"bogus\",\"cause\":\"bogus\","
			       "\"length\":1,\"count\":1,\"suppressed_before\":0}");
	assert_non_null(o);
	assert_int_equal(pso_event_from_json(o, &out), -EINVAL);
	json_object_put(o);
}

static void test_text_line(void **state)
{
	struct pso_event_rec rec = { .seq = 1, .time_ns = 1700000000123456789ull };
	char line[256];

	rec.ev = ev4(PSO_CNT_TC_DROP, 40000);
	rec.ev.cause = PSO_CNT_XDP_DROP_NOT_CONNECTED;
	rec.ev.suppressed = 4;
	strcpy(rec.topic, "sensors/temp");
	pso_event_format(&rec, line, sizeof(line));
	assert_non_null(strstr(line, "2023-11-14T22:13:20.123Z"));
	assert_non_null(strstr(line, "tc_drop(xdp_drop_not_connected)"));
	assert_non_null(strstr(line, "10.0.0.10:40000"));
	assert_non_null(strstr(line, "66 sensors/temp"));
	assert_non_null(strstr(line, " 23"));
	assert_non_null(strstr(line, "(4 suppressed before)"));

	rec.ev.flags = PSO_EVENT_F_SOURCE;
	rec.ev.family = PSO_AF_INET6;
	inet_pton(AF_INET6, "fd00::10", rec.ev.src_addr);
	pso_event_format(&rec, line, sizeof(line));
	assert_non_null(strstr(line, "[fd00::10]:40000"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_is_bounded_oldest_first),
		cmocka_unit_test(test_followers_get_new_events_until_they_leave),
		cmocka_unit_test(test_wall_time_and_topic_name),
		cmocka_unit_test(test_reason_names_and_filter),
		cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_text_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
