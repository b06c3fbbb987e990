// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_client.c - `psoffload pub` and `psoffload sub` against a scripted
 * fake broker on 127.0.0.1.
 *
 * The fake broker runs in a thread: each test gives it a script of
 * "expect this message, answer that" steps.  It never calls cmocka (whose
 * asserts are not thread-safe); the first deviation is written to its
 * error text and the main thread asserts on it after joining.  Every wait
 * on both sides is bounded: the broker by FAKE_DEADLINE_MS, the client by
 * -W.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "cmd/client.h"
#include "proto/mqttsn.h"

#define FAKE_DEADLINE_MS 8000

struct fake;
typedef void (*script_fn)(struct fake *f);

struct fake {
	int fd;
	char port[8];
	struct sockaddr_in peer;
	bool have_peer;
	int64_t deadline;
	script_fn script;
	pthread_t thread;
	char error[512];
	uint8_t rx[65536];
	uint8_t tx[65536];
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fake_fail(struct fake *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fake_fail(struct fake *f, const char *fmt, ...)
{
	va_list ap;

	if (f->error[0])
		return;
	va_start(ap, fmt);
	vsnprintf(f->error, sizeof(f->error), fmt, ap);
	va_end(ap);
}

/* Next well-formed message within `ms` (bounded by the broker deadline). */
static bool fake_recv_within(struct fake *f, struct mqttsn_msg *m, int64_t ms)
{
	int64_t until = now_ms() + ms;

	if (until > f->deadline)
		until = f->deadline;
	for (;;) {
		struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
		socklen_t alen = sizeof(f->peer);
		int64_t wait = until - now_ms();
		ssize_t n;

		if (poll(&pfd, 1, wait > 0 ? (int)wait : 0) <= 0)
			return false;
		n = recvfrom(f->fd, f->rx, sizeof(f->rx), 0,
			     (struct sockaddr *)&f->peer, &alen);
		if (n < 0)
			return false;
		f->have_peer = true;
		if (mqttsn_decode(f->rx, n, m) == 0)
			return true;
		fake_fail(f, "client sent a malformed datagram of %zd bytes", n);
	}
}

static bool fake_expect(struct fake *f, uint8_t type, struct mqttsn_msg *m)
{
	if (!fake_recv_within(f, m, FAKE_DEADLINE_MS)) {
		fake_fail(f, "no %s from the client", mqttsn_type_name(type));
		return false;
	}
	if (m->type != type) {
		char got[32];

		snprintf(got, sizeof(got), "%s", mqttsn_type_name(m->type));
		fake_fail(f, "expected %s, got %s", mqttsn_type_name(type), got);
		return false;
	}
	return true;
}

static void fake_send(struct fake *f, const struct mqttsn_msg *m)
{
	ssize_t n = mqttsn_encode(m, f->tx, sizeof(f->tx));

	if (n < 0 || !f->have_peer ||
	    sendto(f->fd, f->tx, n, 0, (struct sockaddr *)&f->peer, sizeof(f->peer)) != n)
		fake_fail(f, "cannot send %s", mqttsn_type_name(m->type));
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	f->script(f);
	return NULL;
}

static void fake_start(struct fake *f, script_fn script)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	memset(f, 0, sizeof(*f));
	f->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(f->fd >= 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&a, &alen), 0);
	snprintf(f->port, sizeof(f->port), "%u", ntohs(a.sin_port));
	f->deadline = now_ms() + FAKE_DEADLINE_MS;
	f->script = script;
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_finish(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->fd);
	if (f->error[0])
		fail_msg("fake broker: %s", f->error);
}

/* Script helpers: leave the script at the first deviation. */
#define EXPECT(f, type, m)						\
	do {								\
		if (!fake_expect(f, type, m))				\
			return;						\
	} while (0)
#define CHECK(f, cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fake_fail(f, __VA_ARGS__);			\
			return;						\
		}							\
	} while (0)

static bool data_is(const struct mqttsn_msg *m, const char *s)
{
	return m->data_len == strlen(s) && !memcmp(m->data, s, m->data_len);
}

static void reply(struct fake *f, uint8_t type, uint16_t topic_id, uint16_t msg_id,
		  uint8_t rc)
{
	struct mqttsn_msg m = { .type = type, .topic_id = topic_id, .msg_id = msg_id,
				.return_code = rc };

	fake_send(f, &m);
}

static void accept_connect(struct fake *f, const char *client_id)
{
	struct mqttsn_msg m;

	EXPECT(f, MQTTSN_CONNECT, &m);
	CHECK(f, m.flags & MQTTSN_FLAG_CLEAN_SESSION, "CONNECT without clean session");
	CHECK(f, !client_id || data_is(&m, client_id), "CONNECT client id %.*s",
	      (int)m.data_len, m.data);
	reply(f, MQTTSN_CONNACK, 0, 0, MQTTSN_RC_ACCEPTED);
}

static void accept_disconnect(struct fake *f)
{
	struct mqttsn_msg m;

	EXPECT(f, MQTTSN_DISCONNECT, &m);
	reply(f, MQTTSN_DISCONNECT, 0, 0, 0);
}

static void send_publish(struct fake *f, uint8_t flags, uint16_t topic_id,
			 uint16_t msg_id, const char *payload)
{
	struct mqttsn_msg m = { .type = MQTTSN_PUBLISH, .flags = flags,
				.topic_id = topic_id, .msg_id = msg_id,
				.data = (const uint8_t *)payload,
				.data_len = strlen(payload) };

	fake_send(f, &m);
}

/* ---- Running the client with its output captured ------------------------ */

struct capture {
	int fd, saved;
	FILE *tmp;
};

static void capture_begin(struct capture *c, int fd)
{
	fflush(fd == 1 ? stdout : stderr);
	c->fd = fd;
	c->saved = dup(fd);
	c->tmp = tmpfile();
	assert_non_null(c->tmp);
	dup2(fileno(c->tmp), fd);
}

/* The captured text (caller frees); the original fd is back. */
static char *capture_end(struct capture *c)
{
	char *text;
	long n;

	fflush(c->fd == 1 ? stdout : stderr);
	dup2(c->saved, c->fd);
	close(c->saved);
	n = ftell(c->tmp);
	text = calloc(1, n + 1);
	rewind(c->tmp);
	if (n > 0 && fread(text, 1, n, c->tmp) != (size_t)n)
		text[0] = '\0';
	fclose(c->tmp);
	return text;
}

struct run {
	int rc;
	char *out, *err;
};

/* Run pub or sub with argv (NULL-terminated), stdout and stderr captured. */
static void run_cmd(struct run *r, int (*cmd)(int, char **), char **argv)
{
	struct capture out, err;
	int argc = 0;

	while (argv[argc])
		argc++;
	capture_begin(&out, 1);
	capture_begin(&err, 2);
	r->rc = cmd(argc, argv);
	r->err = capture_end(&err);
	r->out = capture_end(&out);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

#define ARGV(...) ((char *[]){ __VA_ARGS__, NULL })

/* ---- pub ---------------------------------------------------------------- */

static void script_pub_qos1(struct fake *f)
{
	struct mqttsn_msg m;

	accept_connect(f, "test-pub");
	EXPECT(f, MQTTSN_REGISTER, &m);
	CHECK(f, data_is(&m, "a/b"), "REGISTER of the wrong name");
	reply(f, MQTTSN_REGACK, 7, m.msg_id, MQTTSN_RC_ACCEPTED);
	EXPECT(f, MQTTSN_PUBLISH, &m);
	CHECK(f, m.flags == MQTTSN_FLAG_QOS_1, "PUBLISH flags 0x%02x", m.flags);
	CHECK(f, m.topic_id == 7, "PUBLISH to topic %u, not the registered 7", m.topic_id);
	CHECK(f, m.msg_id != 0, "QoS 1 PUBLISH with msg id 0");
	CHECK(f, data_is(&m, "hello"), "PUBLISH payload");
	reply(f, MQTTSN_PUBACK, 7, m.msg_id, MQTTSN_RC_ACCEPTED);
	accept_disconnect(f);
}

static void test_pub_qos1(void **state)
{
	struct fake f;
	struct run r;

	fake_start(&f, script_pub_qos1);
	run_cmd(&r, pso_cmd_pub, ARGV("pub", "-h", "127.0.0.1", "-p", f.port, "-t", "a/b",
				      "-q", "1", "-m", "hello", "-I", "test-pub", "-W", "5"));
	fake_finish(&f);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.err, "");
	run_free(&r);
}

/* The first PUBLISH goes unanswered: the client resends it with DUP. */
static void script_pub_qos2(struct fake *f)
{
	struct mqttsn_msg m;
	uint16_t id;

	accept_connect(f, NULL);
	EXPECT(f, MQTTSN_PUBLISH, &m);
	CHECK(f, m.flags == (MQTTSN_FLAG_QOS_2 | MQTTSN_TOPIC_PREDEFINED | MQTTSN_FLAG_RETAIN),
	      "first PUBLISH flags 0x%02x", m.flags);
	CHECK(f, m.topic_id == 5, "PUBLISH topic %u", m.topic_id);
	id = m.msg_id;
	EXPECT(f, MQTTSN_PUBLISH, &m);
	CHECK(f, m.flags & MQTTSN_FLAG_DUP, "resent PUBLISH without DUP");
	CHECK(f, m.msg_id == id, "resent PUBLISH with another msg id");
	CHECK(f, data_is(&m, "exactly once"), "PUBLISH payload");
	reply(f, MQTTSN_PUBREC, 0, id, 0);
	EXPECT(f, MQTTSN_PUBREL, &m);
	CHECK(f, m.msg_id == id, "PUBREL msg id %u, PUBLISH had %u", m.msg_id, id);
	reply(f, MQTTSN_PUBCOMP, 0, id, 0);
	accept_disconnect(f);
}

static void test_pub_qos2_retransmit(void **state)
{
	struct fake f;
	struct run r;

	fake_start(&f, script_pub_qos2);
	run_cmd(&r, pso_cmd_pub, ARGV("pub", "-h", "127.0.0.1", "-p", f.port, "-i", "5",
				      "-q", "2", "-r", "-m", "exactly once", "-W", "5"));
	fake_finish(&f);
	assert_int_equal(r.rc, 0);
	run_free(&r);
}

static void script_pub_refused(struct fake *f)
{
	struct mqttsn_msg m;

	accept_connect(f, NULL);
	EXPECT(f, MQTTSN_PUBLISH, &m);
	reply(f, MQTTSN_PUBACK, m.topic_id, m.msg_id, MQTTSN_RC_CONGESTION);
	accept_disconnect(f);
}

static void test_pub_qos1_refused(void **state)
{
	struct fake f;
	struct run r;

	fake_start(&f, script_pub_refused);
	run_cmd(&r, pso_cmd_pub, ARGV("pub", "-h", "127.0.0.1", "-p", f.port, "-T", "ab",
				      "-q", "1", "-m", "x", "-W", "5"));
	fake_finish(&f);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err,
		"psoffload pub: publish refused: rejected: congestion (0x01)\n");
	run_free(&r);
}

static void script_connect_refused(struct fake *f)
{
	struct mqttsn_msg m;

	EXPECT(f, MQTTSN_CONNECT, &m);
	reply(f, MQTTSN_CONNACK, 0, 0, MQTTSN_RC_NOT_SUPPORTED);
}

static void test_pub_connect_refused(void **state)
{
	struct fake f;
	struct run r;

	fake_start(&f, script_connect_refused);
	run_cmd(&r, pso_cmd_pub, ARGV("pub", "-h", "127.0.0.1", "-p", f.port, "-t", "t",
				      "-m", "x", "-W", "5"));
	fake_finish(&f);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err,
		"psoffload pub: connect refused: rejected: not supported (0x03)\n");
	run_free(&r);
}

static void script_pub_register_refused(struct fake *f)
{
	struct mqttsn_msg m;

	accept_connect(f, NULL);
	EXPECT(f, MQTTSN_REGISTER, &m);
	reply(f, MQTTSN_REGACK, 0, m.msg_id, MQTTSN_RC_CONGESTION);
	accept_disconnect(f);
}

static void test_pub_register_refused(void **state)
{
	struct fake f;
	struct run r;

	fake_start(&f, script_pub_register_refused);
	run_cmd(&r, pso_cmd_pub, ARGV("pub", "-h", "127.0.0.1", "-p", f.port, "-t", "full",
				      "-m", "x", "-W", "5"));
	fake_finish(&f);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err,
		"psoffload pub: register refused: rejected: congestion (0x01)\n");
	run_free(&r);
}

/* QoS -1: no CONNECT, just the PUBLISH, -C times. */
static void script_pub_qosm1(struct fake *f)
{
	struct mqttsn_msg m;
	int i;

	for (i = 0; i < 3; i++) {
		EXPECT(f, MQTTSN_PUBLISH, &m);
		CHECK(f, m.flags == (MQTTSN_FLAG_QOS_M1 | MQTTSN_TOPIC_SHORT),
		      "PUBLISH flags 0x%02x", m.flags);
		CHECK(f, m.topic_id == ('a' << 8 | 'b'), "PUBLISH topic 0x%04x", m.topic_id);
		CHECK(f, m.data_len == 300, "payload of %zu bytes", m.data_len);
		CHECK(f, m.data[0] == 'a' && m.data[26] == 'a' && m.data[299] == 'n',
		      "--size payload pattern");
	}
	CHECK(f, !fake_recv_within(f, &m, 200), "QoS -1 client sent %s",
	      mqttsn_type_name(m.type));
}

static void test_pub_qosm1(void **state)
{
	struct fake f;
	struct run r;

	fake_start(&f, script_pub_qosm1);
	run_cmd(&r, pso_cmd_pub, ARGV("pub", "-h", "127.0.0.1", "-p", f.port, "-T", "ab",
				      "-q", "-1", "--size", "300", "-C", "3"));
	fake_finish(&f);
	assert_int_equal(r.rc, 0);
	run_free(&r);
}

static void script_silent(struct fake *f)
{
	struct mqttsn_msg m;

	EXPECT(f, MQTTSN_CONNECT, &m);
}

static void test_pub_timeout(void **state)
{
	struct fake f;
	struct run r;
	int64_t t0 = now_ms();

	fake_start(&f, script_silent);
	run_cmd(&r, pso_cmd_pub, ARGV("pub", "-h", "127.0.0.1", "-p", f.port, "-t", "t",
				      "-m", "x", "-W", "1"));
	fake_finish(&f);
	assert_int_equal(r.rc, 1);
	assert_non_null(strstr(r.err, "psoffload pub: timeout waiting for CONNACK"));
	assert_true(now_ms() - t0 < 3000);
	run_free(&r);
}

/* -l: one PUBLISH per non-blank line, the last one without a newline. */
static void script_pub_lines(struct fake *f)
{
	struct mqttsn_msg m;

	accept_connect(f, NULL);
	EXPECT(f, MQTTSN_PUBLISH, &m);
	CHECK(f, data_is(&m, "one"), "first line %.*s", (int)m.data_len, m.data);
	EXPECT(f, MQTTSN_PUBLISH, &m);
	CHECK(f, data_is(&m, "two"), "second line %.*s", (int)m.data_len, m.data);
	accept_disconnect(f);
}

static void test_pub_stdin_lines(void **state)
{
	static const char input[] = "one\n\ntwo";
	struct fake f;
	struct run r;
	int pipefd[2], saved;

	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(write(pipefd[1], input, sizeof(input) - 1), sizeof(input) - 1);
	close(pipefd[1]);
	saved = dup(0);
	dup2(pipefd[0], 0);
	close(pipefd[0]);

	fake_start(&f, script_pub_lines);
	run_cmd(&r, pso_cmd_pub, ARGV("pub", "-h", "127.0.0.1", "-p", f.port, "-i", "3",
				      "-l", "-W", "5"));
	dup2(saved, 0);
	close(saved);
	fake_finish(&f);
	assert_int_equal(r.rc, 0);
	run_free(&r);
}

/* ---- sub ---------------------------------------------------------------- */

/* A wildcard subscription: the broker names each topic with REGISTER. */
static void script_sub_register(struct fake *f)
{
	struct mqttsn_msg m;

	accept_connect(f, "test-sub");
	EXPECT(f, MQTTSN_SUBSCRIBE, &m);
	CHECK(f, (m.flags & MQTTSN_FLAG_TOPIC_MASK) == MQTTSN_TOPIC_NORMAL &&
		 mqttsn_flags_qos(m.flags) == 1, "SUBSCRIBE flags 0x%02x", m.flags);
	CHECK(f, data_is(&m, "a/+"), "SUBSCRIBE filter");
	reply(f, MQTTSN_SUBACK, 0, m.msg_id, MQTTSN_RC_ACCEPTED);

	fake_send(f, &(struct mqttsn_msg){ .type = MQTTSN_REGISTER, .topic_id = 9,
					   .msg_id = 100, .data = (const uint8_t *)"a/b",
					   .data_len = 3 });
	EXPECT(f, MQTTSN_REGACK, &m);
	CHECK(f, m.topic_id == 9 && m.msg_id == 100 && m.return_code == MQTTSN_RC_ACCEPTED,
	      "REGACK topic %u msg %u rc %u", m.topic_id, m.msg_id, m.return_code);

	send_publish(f, MQTTSN_FLAG_QOS_1, 9, 101, "hi");
	EXPECT(f, MQTTSN_PUBACK, &m);
	CHECK(f, m.topic_id == 9 && m.msg_id == 101 && m.return_code == MQTTSN_RC_ACCEPTED,
	      "PUBACK topic %u msg %u rc %u", m.topic_id, m.msg_id, m.return_code);
	send_publish(f, MQTTSN_FLAG_QOS_0 | MQTTSN_FLAG_RETAIN, 9, 0, "retained");
	send_publish(f, MQTTSN_FLAG_QOS_0, 10, 0, "unnamed");
	accept_disconnect(f);
}

static void test_sub_register(void **state)
{
	struct fake f;
	struct run r;

	fake_start(&f, script_sub_register);
	run_cmd(&r, pso_cmd_sub, ARGV("sub", "-h", "127.0.0.1", "-p", f.port, "-t", "a/+",
				      "-q", "1", "-v", "-R", "-C", "2", "-I", "test-sub",
				      "-W", "5"));
	fake_finish(&f);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "a/b hi\n10 unnamed\n");
	run_free(&r);
}

/* QoS 2 delivered exactly once even when the broker resends the PUBLISH;
 * the last handshake completes before the client disconnects. */
static void script_sub_qos2(struct fake *f)
{
	struct mqttsn_msg m;

	accept_connect(f, NULL);
	EXPECT(f, MQTTSN_SUBSCRIBE, &m);
	CHECK(f, (m.flags & MQTTSN_FLAG_TOPIC_MASK) == MQTTSN_TOPIC_PREDEFINED &&
		 m.topic_id == 5 && mqttsn_flags_qos(m.flags) == 2,
	      "SUBSCRIBE flags 0x%02x topic %u", m.flags, m.topic_id);
	reply(f, MQTTSN_SUBACK, 5, m.msg_id, MQTTSN_RC_ACCEPTED);

	send_publish(f, MQTTSN_FLAG_QOS_2 | MQTTSN_TOPIC_PREDEFINED, 5, 7, "\x01\x02");
	EXPECT(f, MQTTSN_PUBREC, &m);
	CHECK(f, m.msg_id == 7, "PUBREC msg id %u", m.msg_id);
	send_publish(f, MQTTSN_FLAG_QOS_2 | MQTTSN_TOPIC_PREDEFINED | MQTTSN_FLAG_DUP,
		     5, 7, "\x01\x02");
	EXPECT(f, MQTTSN_PUBREC, &m);
	reply(f, MQTTSN_PUBREL, 0, 7, 0);
	EXPECT(f, MQTTSN_PUBCOMP, &m);
	CHECK(f, m.msg_id == 7, "PUBCOMP msg id %u", m.msg_id);

	send_publish(f, MQTTSN_FLAG_QOS_2 | MQTTSN_TOPIC_PREDEFINED, 5, 8, "\xab");
	EXPECT(f, MQTTSN_PUBREC, &m);
	reply(f, MQTTSN_PUBREL, 0, 8, 0);
	EXPECT(f, MQTTSN_PUBCOMP, &m);
	CHECK(f, m.msg_id == 8, "PUBCOMP msg id %u", m.msg_id);
	accept_disconnect(f);
}

static void test_sub_qos2(void **state)
{
	struct fake f;
	struct run r;

	fake_start(&f, script_sub_qos2);
	run_cmd(&r, pso_cmd_sub, ARGV("sub", "-h", "127.0.0.1", "-p", f.port, "-i", "5",
				      "-q", "2", "--hex", "-v", "-C", "2", "-W", "5"));
	fake_finish(&f);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.out, "5 0102\n5 ab\n");
	run_free(&r);
}

static void script_sub_refused(struct fake *f)
{
	struct mqttsn_msg m;

	accept_connect(f, NULL);
	EXPECT(f, MQTTSN_SUBSCRIBE, &m);
	CHECK(f, (m.flags & MQTTSN_FLAG_TOPIC_MASK) == MQTTSN_TOPIC_SHORT &&
		 m.topic_id == ('x' << 8 | 'y'), "SUBSCRIBE short topic");
	reply(f, MQTTSN_SUBACK, 0, m.msg_id, MQTTSN_RC_CONGESTION);
	accept_disconnect(f);
}

static void test_sub_refused(void **state)
{
	struct fake f;
	struct run r;

	fake_start(&f, script_sub_refused);
	run_cmd(&r, pso_cmd_sub, ARGV("sub", "-h", "127.0.0.1", "-p", f.port, "-T", "xy",
				      "-W", "5"));
	fake_finish(&f);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err,
		"psoffload sub: subscribe refused: rejected: congestion (0x01)\n");
	run_free(&r);
}

/* Keep-alive 1 s: a PINGREQ comes; then the broker ends the session. */
static void script_sub_ping_then_disconnect(struct fake *f)
{
	struct mqttsn_msg m;
	int64_t t0;

	accept_connect(f, NULL);
	EXPECT(f, MQTTSN_SUBSCRIBE, &m);
	reply(f, MQTTSN_SUBACK, 3, m.msg_id, MQTTSN_RC_ACCEPTED);
	t0 = now_ms();
	EXPECT(f, MQTTSN_PINGREQ, &m);
	CHECK(f, now_ms() - t0 >= 800, "PINGREQ after %lld ms of a 1 s keep-alive",
	      (long long)(now_ms() - t0));
	reply(f, MQTTSN_PINGRESP, 0, 0, 0);
	send_publish(f, MQTTSN_FLAG_QOS_0, 3, 0, "plain");
	reply(f, MQTTSN_DISCONNECT, 0, 0, 0);
	CHECK(f, !fake_recv_within(f, &m, 300), "client answered DISCONNECT with %s",
	      mqttsn_type_name(m.type));
}

static void test_sub_ping_and_broker_disconnect(void **state)
{
	struct fake f;
	struct run r;

	fake_start(&f, script_sub_ping_then_disconnect);
	run_cmd(&r, pso_cmd_sub, ARGV("sub", "-h", "127.0.0.1", "-p", f.port, "-t", "plain",
				      "-k", "1", "-v", "-W", "5"));
	fake_finish(&f);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.out, "plain plain\n");
	assert_string_equal(r.err, "psoffload sub: disconnected by broker\n");
	run_free(&r);
}

static void script_sub_idle(struct fake *f)
{
	struct mqttsn_msg m;

	accept_connect(f, NULL);
	EXPECT(f, MQTTSN_SUBSCRIBE, &m);
	reply(f, MQTTSN_SUBACK, 0, m.msg_id, MQTTSN_RC_ACCEPTED);
	accept_disconnect(f);
}

static void test_sub_timeout(void **state)
{
	struct fake f;
	struct run r;

	fake_start(&f, script_sub_idle);
	run_cmd(&r, pso_cmd_sub, ARGV("sub", "-h", "127.0.0.1", "-p", f.port, "-t", "s/#",
				      "-C", "1", "-W", "1"));
	fake_finish(&f);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.err, "psoffload sub: timeout after 1 s: 0 of 1 messages\n");
	run_free(&r);
}

/* ---- Command line ------------------------------------------------------- */

static void test_usage_errors(void **state)
{
	const struct { bool pub; char **argv; } bad[] = {
		{ true, ARGV("pub", "-m", "x") },			/* no topic */
		{ true, ARGV("pub", "-t", "a") },			/* no message */
		{ true, ARGV("pub", "-t", "a", "-q", "-1", "-m", "x") },/* QoS -1 by name */
		{ true, ARGV("pub", "-t", "a/+", "-m", "x") },		/* filter */
		{ true, ARGV("pub", "-t", "a", "-i", "1", "-m", "x") },	/* two topics */
		{ true, ARGV("pub", "-t", "a", "-m", "x", "-l") },	/* two sources */
		{ true, ARGV("pub", "-t", "a", "-q", "3", "-m", "x") },
		{ true, ARGV("pub", "-T", "abc", "-m", "x") },
		{ true, ARGV("pub", "-i", "0", "-m", "x") },
		{ true, ARGV("pub", "-t", "a", "-m", "x", "-p", "70000") },
		{ true, ARGV("pub", "-t", "a", "-m", "x", "-I",
			     "a-client-id-of-24-chars!") },
		{ true, ARGV("pub", "-t", "a", "-m", "x", "--bogus") },
		{ true, ARGV("pub", "-t", "a", "-m") },		/* missing value */
		{ false, ARGV("sub") },					/* no topic */
		{ false, ARGV("sub", "-t", "a", "-q", "-1") },
		{ false, ARGV("sub", "-t", "a", "-m", "x") },		/* pub's flag */
		{ false, ARGV("sub", "-t", "a", "extra") },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct run r;

		run_cmd(&r, bad[i].pub ? pso_cmd_pub : pso_cmd_sub, bad[i].argv);
		if (r.rc != 2 || !strstr(r.err, "usage: psoffload"))
			fail_msg("case %zu: rc %d, stderr \"%s\"", i, r.rc, r.err);
		run_free(&r);
	}
}

static void test_help(void **state)
{
	struct run r;

	run_cmd(&r, pso_cmd_pub, ARGV("pub", "--help"));
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "usage: psoffload pub"));
	assert_non_null(strstr(r.out, "--size"));
	run_free(&r);
	run_cmd(&r, pso_cmd_sub, ARGV("sub", "--help"));
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "--hex"));
	run_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pub_qos1),
		cmocka_unit_test(test_pub_qos2_retransmit),
		cmocka_unit_test(test_pub_qos1_refused),
		cmocka_unit_test(test_pub_connect_refused),
		cmocka_unit_test(test_pub_register_refused),
		cmocka_unit_test(test_pub_qosm1),
		cmocka_unit_test(test_pub_timeout),
		cmocka_unit_test(test_pub_stdin_lines),
		cmocka_unit_test(test_sub_register),
		cmocka_unit_test(test_sub_qos2),
		cmocka_unit_test(test_sub_refused),
		cmocka_unit_test(test_sub_ping_and_broker_disconnect),
		cmocka_unit_test(test_sub_timeout),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_help),
	};

	return cmocka_run_group_tests_name("client", tests, NULL, NULL);
}
