// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_ctlsock.c - the control socket (daemon/ctlsock.c) with a table of
 * test requests: request parsing and dispatch; the server over a real Unix
 * socket, pumped by hand as the event loop does - pipelined requests, a
 * slow peer that does not stall the others, an oversized request, a full
 * house, idle connections, a stale socket file, a live one; and the
 * metrics' address parser and exposition (daemon/metrics.c).
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
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <cmocka.h>
#include <json-c/json.h>
#include "daemon/ctlsock.h"
#include "daemon/metrics.h"
#include "daemon/snapshot.h"

/* ---- a table of test requests ------------------------------------------------ */

static int calls;

static int req_echo(void *ctx, struct json_object *req, struct json_object *reply,
		    char *err, size_t errlen)
{
	struct json_object *v;

	calls++;
	assert_ptr_equal(ctx, &calls);
	if (json_object_object_get_ex(req, "value", &v))
		json_object_object_add(reply, "value", json_object_get(v));
	return 0;
}

static int req_fail(void *ctx, struct json_object *req, struct json_object *reply,
		    char *err, size_t errlen)
{
	snprintf(err, errlen, "it failed, as asked");
	return -EINVAL;
}

static int req_big(void *ctx, struct json_object *req, struct json_object *reply,
		   char *err, size_t errlen)
{
	static char s[200000];

	memset(s, 'x', sizeof(s) - 1);
	json_object_object_add(reply, "big", json_object_new_string(s));
	return 0;
}

static const struct pso_ctl_request table[] = {
	{ "echo", req_echo, "[\"value\": ANY]" },
	{ "fail", req_fail, "" },
	{ "big", req_big, "" },
	{ 0 },
};

/* The reply to one line, parsed. */
static struct json_object *ask(const char *line)
{
	size_t n;
	char *out = pso_ctl_dispatch(table, &calls, line, strlen(line), &n);
	struct json_object *o;

	assert_non_null(out);
	assert_int_equal(out[n - 1], '\n');
	assert_null(memchr(out, '\n', n - 1));	/* one line */
	o = json_tokener_parse(out);
	assert_non_null(o);
	free(out);
	return o;
}

static bool reply_ok(struct json_object *o)
{
	struct json_object *ok;

	return json_object_object_get_ex(o, PSO_CTL_OK, &ok) && json_object_get_boolean(ok);
}

static const char *reply_error(struct json_object *o)
{
	struct json_object *e;

	return json_object_object_get_ex(o, PSO_CTL_ERROR, &e) ? json_object_get_string(e) : "";
}

static void test_dispatch(void **state)
{
	static const struct {
		const char *line, *error;	/* NULL: ok */
	} rows[] = {
		{ "{\"request\":\"echo\",\"value\":7}", NULL },
		{ "  {\"request\": \"echo\"}  ", NULL },
		{ "{\"request\":\"echo\"}\r", NULL },
		{ "", "one JSON object per line" },
		{ "not json", "one JSON object per line" },
		{ "[1,2]", "one JSON object per line" },
		{ "\"echo\"", "one JSON object per line" },
		{ "{\"request\":\"echo\"} trailing", "one JSON object per line" },
		{ "{\"request\":\"echo\"", "one JSON object per line" },
		{ "{\"value\":1}", "has no \"request\"" },
		{ "{\"request\":7}", "has no \"request\"" },
		{ "{\"request\":\"nope\"}", "unknown request 'nope' (known: echo, fail, big)" },
		{ "{\"request\":\"fail\"}", "it failed, as asked" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct json_object *o = ask(rows[i].line);

		if (!rows[i].error) {
			assert_true(reply_ok(o));
		} else {
			if (reply_ok(o) || !strstr(reply_error(o), rows[i].error))
				fail_msg("'%s': expected an error with \"%s\", got %s", rows[i].line,
					 rows[i].error, json_object_to_json_string(o));
		}
		json_object_put(o);
	}
	{
		struct json_object *o = ask("{\"request\":\"echo\",\"value\":\"a\\nb\"}"), *v;

		assert_true(json_object_object_get_ex(o, "value", &v));
		assert_string_equal(json_object_get_string(v), "a\nb");
		json_object_put(o);
	}
}

/* ---- the server ---------------------------------------------------------------- */

struct server {
	char dir[40], path[96];
	struct pso_ctlsock *cs;
	uint64_t now;
};

static void server_open(struct server *s)
{
	char err[256];
	bool replaced = true;

	snprintf(s->dir, sizeof(s->dir), "/tmp/pso-test-ctl.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/sub/t.sock", s->dir);
	assert_int_equal(pso_ctlsock_open(&s->cs, s->path, table, &calls, &replaced, err, sizeof(err)), 0);
	assert_false(replaced);
	s->now = 1000;
}

static void server_close(struct server *s)
{
	char sub[160];

	pso_ctlsock_close(s->cs);
	snprintf(sub, sizeof(sub), "%s/sub", s->dir);
	rmdir(sub);
	rmdir(s->dir);
}

/* What the event loop does once: poll (no wait), process. */
static void pump(struct server *s)
{
	struct pollfd pfd[1 + PSO_CTL_MAX_CONNS];
	int n = pso_ctlsock_pollfds(s->cs, pfd, 1 + PSO_CTL_MAX_CONNS);

	assert_true(poll(pfd, (nfds_t)n, 20) >= 0);
	pso_ctlsock_process(s->cs, pfd, n, s->now);
}

static int client(const struct server *s)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->path);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static void say(int fd, const char *text)
{
	assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* Pump until fd has `lines` whole lines (or 200 rounds); returns them. */
static char *hear(struct server *s, int fd, int lines, size_t cap)
{
	char *buf = calloc(1, cap + 1);
	size_t got = 0;

	for (int round = 0; round < 200; round++) {
		ssize_t n;
		int have = 0;

		pump(s);
		n = recv(fd, buf + got, cap - got, MSG_DONTWAIT);
		if (n > 0)
			got += (size_t)n;
		for (size_t i = 0; i < got; i++)
			have += buf[i] == '\n';
		if (have >= lines)
			break;
	}
	buf[got] = '\0';
	return buf;
}

/* 0 once the server closed fd's connection (pumping meanwhile). */
static int closed_by_server(struct server *s, int fd)
{
	char c;

	for (int round = 0; round < 100; round++) {
		pump(s);
		if (recv(fd, &c, 1, MSG_DONTWAIT) == 0)
			return 0;
	}
	return -1;
}

static void test_server_requests(void **state)
{
	struct server s;
	struct stat st;
	char *r;
	int fd;

	server_open(&s);
	assert_int_equal(stat(s.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);

	/* Two requests in one write: two replies, in order. */
	fd = client(&s);
	say(fd, "{\"request\":\"echo\",\"value\":1}\n{\"request\":\"echo\",\"value\":2}\n");
	r = hear(&s, fd, 2, 4096);
	assert_string_equal(r, "{\"ok\":true,\"value\":1}\n{\"ok\":true,\"value\":2}\n");
	free(r);
	/* A request in pieces. */
	say(fd, "{\"request\":");
	pump(&s);
	say(fd, "\"fail\"}\n");
	r = hear(&s, fd, 1, 4096);
	assert_string_equal(r, "{\"ok\":false,\"error\":\"it failed, as asked\"}\n");
	free(r);
	/* A reply larger than the socket buffer arrives whole. */
	say(fd, "{\"request\":\"big\"}\n");
	r = hear(&s, fd, 1, 300000);
	assert_true(strlen(r) > 200000);
	assert_int_equal(r[strlen(r) - 1], '\n');
	free(r);
	close(fd);
	server_close(&s);
	assert_int_equal(stat(s.path, &st), -1);	/* the socket file went with it */
}

static void test_server_slow_peers(void **state)
{
	struct server s;
	char big[PSO_CTL_REQUEST_MAX + 100], *r;
	int slow, quick, reader, fd[PSO_CTL_MAX_CONNS];

	server_open(&s);
	/* A peer that sends half a request and stops stalls nobody. */
	slow = client(&s);
	say(slow, "{\"request\":\"ec");
	pump(&s);
	/* Nor does one that asks for a big reply and never reads it. */
	reader = client(&s);
	say(reader, "{\"request\":\"big\"}\n");
	pump(&s);
	quick = client(&s);
	say(quick, "{\"request\":\"echo\",\"value\":3}\n");
	r = hear(&s, quick, 1, 4096);
	assert_string_equal(r, "{\"ok\":true,\"value\":3}\n");
	free(r);
	close(quick);

	/* A request longer than the bound: an error, then closed. */
	quick = client(&s);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	say(quick, big);
	r = hear(&s, quick, 1, 4096);
	assert_non_null(strstr(r, "a request is at most 4096 bytes"));
	free(r);
	assert_int_equal(closed_by_server(&s, quick), 0);
	close(quick);

	/* Idle connections are closed after PSO_CTL_IDLE_MS without progress. */
	assert_int_equal(pso_ctlsock_nconns(s.cs), 2);
	s.now += PSO_CTL_IDLE_MS + 1;
	pump(&s);
	assert_int_equal(pso_ctlsock_nconns(s.cs), 0);
	assert_int_equal(closed_by_server(&s, slow), 0);
	close(slow);
	close(reader);

	/* A full house: the next one hears "busy" and is closed. */
	for (int i = 0; i < PSO_CTL_MAX_CONNS; i++) {
		fd[i] = client(&s);
		pump(&s);
	}
	assert_int_equal(pso_ctlsock_nconns(s.cs), PSO_CTL_MAX_CONNS);
	quick = client(&s);
	r = hear(&s, quick, 1, 4096);
	assert_non_null(strstr(r, "busy"));
	free(r);
	for (int i = 0; i < PSO_CTL_MAX_CONNS; i++)
		close(fd[i]);
	close(quick);
	server_close(&s);
}

static void test_server_stale_and_live(void **state)
{
	struct server s;
	struct pso_ctlsock *other;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char err[256];
	bool replaced = false;
	int fd;

	server_open(&s);
	/* A second server on a live socket: refused, the first unharmed. */
	assert_int_equal(pso_ctlsock_open(&other, s.path, table, &calls, &replaced, err, sizeof(err)),
			 -EADDRINUSE);
	assert_non_null(strstr(err, "another broker answers"));
	fd = client(&s);
	say(fd, "{\"request\":\"echo\"}\n");
	free(hear(&s, fd, 1, 4096));
	close(fd);
	server_close(&s);

	/* A socket file nobody listens on: replaced. */
	assert_non_null(mkdtemp(strcpy(s.dir, "/tmp/pso-test-ctl.XXXXXX")));
	snprintf(s.path, sizeof(s.path), "%s/stale.sock", s.dir);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s.path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	assert_int_equal(pso_ctlsock_open(&s.cs, s.path, table, &calls, &replaced, err, sizeof(err)), 0);
	assert_true(replaced);
	fd = client(&s);
	say(fd, "{\"request\":\"echo\"}\n");
	free(hear(&s, fd, 1, 4096));
	close(fd);
	pso_ctlsock_close(s.cs);
	rmdir(s.dir);
}

static void test_names(void **state)
{
	char buf[64];

	assert_true(pso_ctl_name_valid("psoffload"));
	assert_true(pso_ctl_name_valid("edge-1.lab_2"));
	assert_false(pso_ctl_name_valid(""));
	assert_false(pso_ctl_name_valid(".hidden"));
	assert_false(pso_ctl_name_valid("a/b"));
	assert_false(pso_ctl_name_valid("../x"));
	assert_false(pso_ctl_name_valid("a b"));
	assert_false(pso_ctl_name_valid("0123456789012345678901234567890123456789012345678"));
	pso_ctl_name_from_pin_dir("/sys/fs/bpf/psoffload", buf, sizeof(buf));
	assert_string_equal(buf, "psoffload");
	pso_ctl_name_from_pin_dir("/sys/fs/bpf/edge1/", buf, sizeof(buf));
	assert_string_equal(buf, "edge1");
	pso_ctl_path("edge1", buf, sizeof(buf));
	assert_string_equal(buf, "/run/psoffload/edge1.sock");
}

/* ---- metrics --------------------------------------------------------------- */

static void test_metrics_addr(void **state)
{
	struct sockaddr_storage ss;

	assert_int_equal(pso_metrics_parse_addr("127.0.0.1:9464", &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(pso_metrics_parse_addr("[::1]:9464", &ss), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(pso_metrics_parse_addr(":9464", &ss), 0);
	assert_int_equal(pso_metrics_parse_addr("*:1", &ss), 0);
	assert_int_equal(pso_metrics_parse_addr("127.0.0.1", &ss), -EINVAL);
	assert_int_equal(pso_metrics_parse_addr("127.0.0.1:0", &ss), -EINVAL);
	assert_int_equal(pso_metrics_parse_addr("127.0.0.1:65536", &ss), -EINVAL);
	assert_int_equal(pso_metrics_parse_addr("localhost:9464", &ss), -EINVAL);
	assert_int_equal(pso_metrics_parse_addr("[::1:9464", &ss), -EINVAL);
	assert_int_equal(pso_metrics_parse_addr("::1:9464", &ss), -EINVAL);
}

static int count_lines(const char *text, const char *prefix)
{
	int n = 0;

	for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		n += !strncmp(l, prefix, strlen(prefix));
	return n;
}

static void test_metrics_render(void **state)
{
	struct pso_snapshot *s = calloc(1, sizeof(*s));
	char names[3][32] = { "a/\"quoted\"", "b\\slash", "quiet" };
	size_t len;
	char *text;

	snprintf(s->name, sizeof(s->name), "t");
	s->requested_mode = "auto";
	for (int i = 0; i < PSO_CNT__MAX; i++)
		s->dp[i] = 100 + i;
	s->topics = calloc(3, sizeof(*s->topics));
	s->ntopics = 3;
	for (int i = 0; i < 3; i++)
		s->topics[i] = (struct pso_snap_topic){ .id = i + 1, .name = names[i], .msgs = 10 - 5 * i };
	snprintf(s->store, sizeof(s->store), "sqlite:/var/lib/psoffload/t.db");
	s->store_persistent = true;
	s->store_stats.revision = 42;
	s->store_stats.commit.count = 3;
	s->store_stats.commit.sum_us = 600;
	for (int i = 0; i < PSO_STORE_LAT_BUCKETS; i++)
		s->store_stats.commit.le[i] = pso_store_lat_bounds_us[i] >= 250 ? 3 : 1;
	text = pso_metrics_render(s, 1, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	/* Every data-plane counter is one series, with all its labels (a
	 * counter added to the ABI without a row in dp_series[] fails here). */
	assert_null(strstr(text, "(null)"));
	assert_null(strstr(text, "=\"\""));
	assert_int_equal(count_lines(text, "psoffload_dataplane_packets_total{") +
			 count_lines(text, "psoffload_dataplane_copies_total{") +
			 count_lines(text, "psoffload_dataplane_events_unsent_total{"), PSO_CNT__MAX);
	assert_non_null(strstr(text, "psoffload_dataplane_packets_total{path=\"xdp\",outcome=\"tx\","
				     "reason=\"same_port\"} 100\n"));
	/* Only the busiest topic, its name escaped. */
	assert_int_equal(count_lines(text, "psoffload_topic_messages_total{"), 1);
	assert_non_null(strstr(text, "psoffload_topic_messages_total{topic=\"a/\\\"quoted\\\"\","
				     "topic_id=\"1\"} 10\n"));
	/* The store: what it is, its revision, its latency as a histogram. */
	assert_non_null(strstr(text, "psoffload_store_info{store=\"sqlite:/var/lib/psoffload/t.db\","
				     "persistent=\"yes\"} 1\n"));
	assert_non_null(strstr(text, "psoffload_store_revision 42\n"));
	assert_non_null(strstr(text, "psoffload_store_operation_duration_seconds_bucket{"
				     "operation=\"commit\",le=\"0.0001\"} 1\n"));
	assert_non_null(strstr(text, "psoffload_store_operation_duration_seconds_bucket{"
				     "operation=\"commit\",le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(text, "psoffload_store_operation_duration_seconds_sum{"
				     "operation=\"commit\"} 0.000600\n"));
	assert_non_null(strstr(text, "psoffload_store_operation_duration_seconds_count{"
				     "operation=\"load\"} 0\n"));
	/* One HELP and one TYPE per family, counters named _total. */
	assert_int_equal(count_lines(text, "# HELP "), count_lines(text, "# TYPE "));
	for (const char *l = strstr(text, "# TYPE "); l; l = strstr(l + 1, "# TYPE ")) {
		char fam[128], type[16];

		assert_int_equal(sscanf(l, "# TYPE %127s %15s", fam, type), 2);
		if (!strcmp(type, "counter"))
			assert_non_null(strstr(fam, "_total"));
	}
	free(text);
	s->topics[0].name = NULL;	/* not ours to free */
	free(s->topics);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_server_requests),
		cmocka_unit_test(test_server_slow_peers),
		cmocka_unit_test(test_server_stale_and_live),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_metrics_addr),
		cmocka_unit_test(test_metrics_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
