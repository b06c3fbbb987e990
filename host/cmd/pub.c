// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pub.c - `psoffload pub`: publish at QoS -1 (no connection), 0, 1 or 2,
 * a message given, a --size payload, stdin whole or line by line.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/client.h"
#include "cmd/conn.h"

#define MAX_PAYLOAD	(MQTTSN_MAX_MSG - 4 - MQTTSN_PUBLISH_BODY_LEN)

enum pub_source { SRC_NONE, SRC_MESSAGE, SRC_LINES, SRC_STDIN, SRC_SIZE };

struct pub_src {
	enum pub_source source;
	const char *message;	/* -m */
	size_t size;		/* --size */
};

struct pub {
	struct client_opts o;
	struct pub_src src;
	bool retain;
	struct conn *c;
	uint16_t topic_id;
	uint8_t topic_type;
	int late_rc;		/* PUBACK refusing a QoS 0 publish, or -1 */
};

/* ---- Options ----------------------------------------------------------- */

static int set_source(const struct pso_opt_spec *spec, struct pub_src *src,
		      enum pub_source s)
{
	if (src->source != SRC_NONE && src->source != s)
		return pso_opts_error(spec, "give one of -m, -l, -s, --size");
	src->source = s;
	return 0;
}

static int opt_message(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		       const char *arg, void *field)
{
	struct pub_src *src = field;

	src->message = arg;
	return set_source(spec, src, SRC_MESSAGE);
}

static int opt_lines(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		     const char *arg, void *field)
{
	return set_source(spec, field, SRC_LINES);
}

static int opt_stdin(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		     const char *arg, void *field)
{
	return set_source(spec, field, SRC_STDIN);
}

static int opt_size(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		    const char *arg, void *field)
{
	struct pub_src *src = field;
	long long n;

	if (pso_opt_num(spec, opt, arg, &n))
		return 2;
	src->size = n;
	return set_source(spec, src, SRC_SIZE);
}

#define PUB(f) PSO_OPT_FIELD(struct pub, f)

static const struct pso_opt pub_opts[] = {
	CLIENT_OPT_HOST(struct pub),
	CLIENT_OPT_PORT(struct pub),
	{ "topic", 't', PSO_OPT_FUNC, PUB(o), .fn = client_opt_topic, .arg = "TOPIC",
	  .help = "topic name (registered with the broker)" },
	CLIENT_OPT_TOPIC_ID(struct pub),
	CLIENT_OPT_SHORT_TOPIC(struct pub),
	{ "qos", 'q', PSO_OPT_INT, PUB(o.qos), .min = -1, .max = 2, .arg = "QOS",
	  .help = "-1 (no connection; -i or -T only), 0, 1 or 2 (0)" },
	{ "retain", 'r', PSO_OPT_FLAG, PUB(retain), .help = "set the RETAIN flag" },
	{ "message", 'm', PSO_OPT_FUNC, PUB(src), .fn = opt_message, .arg = "MESSAGE",
	  .help = "the payload" },
	{ "count", 'C', PSO_OPT_INT, PUB(o.count), .min = 1, .max = 1L << 30, .arg = "COUNT",
	  .help = "publish the -m / --size message COUNT times (1)" },
	{ "stdin-line", 'l', PSO_OPT_FUNC, PUB(src), .fn = opt_lines,
	  .help = "one message per line of stdin (blank lines skipped)" },
	{ "stdin-file", 's', PSO_OPT_FUNC, PUB(src), .fn = opt_stdin,
	  .help = "the whole of stdin as one message" },
	{ "size", 0, PSO_OPT_FUNC, PUB(src), .fn = opt_size, .min = 0, .max = MAX_PAYLOAD,
	  .arg = "N", .help = "a payload of N bytes \"abc...zab...\"" },
	CLIENT_OPT_ID(struct pub),
	CLIENT_OPT_KEEPALIVE(struct pub),
	CLIENT_OPT_WILL(struct pub),
	{ "timeout", 'W', PSO_OPT_UINT, PUB(o.timeout_s), .min = 1, .max = 86400 * 365,
	  .unit = "seconds", .arg = "SECONDS",
	  .help = "give up after SECONDS (10); with -l, per message" },
	CLIENT_OPT_DEBUG(struct pub),
	CLIENT_OPT_HELP,
	{ 0 },
};

static const struct pso_opt_spec pub_spec = {
	.prog = "psoffload pub",
	.opts = pub_opts,
	.head = "usage: psoffload pub [-h HOST] [-p PORT] {-t TOPIC | -i TOPIC_ID | -T XX}\n"
		"                     [-q -1|0|1|2] [-r] [-I CLIENT_ID] [-k KEEPALIVE] [-W SECONDS] [-d]\n"
		"                     {-m MESSAGE [-C COUNT] | -l | -s | --size N [-C COUNT]}\n",
	.tail = "exit status: 0 published, 1 refused or timed out, 2 bad usage\n",
};

/* What the table cannot say: the options that go together. */
static int pub_check(struct pub *p)
{
	if (p->src.source == SRC_NONE)
		return pso_opts_error(&pub_spec, "nothing to publish: give -m, -l, -s or --size");
	if (p->o.count > 1 && p->src.source != SRC_MESSAGE && p->src.source != SRC_SIZE)
		return pso_opts_error(&pub_spec, "-C repeats -m or --size only");
	if (p->o.qos == -1 && p->o.topics[0].type == MQTTSN_TOPIC_NORMAL)
		return pso_opts_error(&pub_spec, "QoS -1 publishes to a predefined id (-i) or "
				      "a short topic (-T), not to '%s'", p->o.topics[0].name);
	return PSO_OPTS_RUN;
}

/* ---- Publishing -------------------------------------------------------- */

static int pub_handler(struct conn *c, const struct mqttsn_msg *m, void *ctx)
{
	struct pub *p = ctx;

	/* A broker may refuse a QoS 0 publish with a PUBACK. */
	if (m->type == MQTTSN_PUBACK && m->return_code != MQTTSN_RC_ACCEPTED)
		p->late_rc = m->return_code;
	return conn_answer_common(c, m);
}

static int pub_register(struct pub *p)
{
	const char *name = p->o.topics[0].name;
	struct mqttsn_msg req = {
		.type = MQTTSN_REGISTER,
		.msg_id = conn_next_msg_id(p->c),
		.data = (const uint8_t *)name,
		.data_len = strlen(name),
	}, resp;
	int r = conn_request(p->c, &req, BIT(MQTTSN_REGACK), &resp, TRIES, RETRY_MS);

	if (r < 0)
		return conn_net_error(p->c, "REGACK", r);
	if (resp.return_code != MQTTSN_RC_ACCEPTED)
		return conn_refused(p->c, "register", resp.return_code);
	p->topic_id = resp.topic_id;
	return 0;
}

static int pub_qos2_release(struct pub *p, uint16_t msg_id)
{
	struct mqttsn_msg req = { .type = MQTTSN_PUBREL, .msg_id = msg_id }, resp;
	int r = conn_request(p->c, &req, BIT(MQTTSN_PUBCOMP), &resp, TRIES, RETRY_MS);

	return r < 0 ? conn_net_error(p->c, "PUBCOMP", r) : 0;
}

static int publish_one(struct pub *p, const uint8_t *data, size_t len)
{
	struct mqttsn_msg req = {
		.type = MQTTSN_PUBLISH,
		.flags = mqttsn_qos_flags(p->o.qos) | p->topic_type |
			 (p->retain ? MQTTSN_FLAG_RETAIN : 0),
		.topic_id = p->topic_id,
		.data = data,
		.data_len = len,
	}, resp;
	uint32_t want = BIT(MQTTSN_PUBACK) | (p->o.qos == 2 ? BIT(MQTTSN_PUBREC) : 0);
	int r;

	if (p->o.qos <= 0) {
		r = conn_send(p->c, &req);
		return r < 0 ? conn_net_error(p->c, "PUBLISH", r) : 0;
	}
	req.msg_id = conn_next_msg_id(p->c);
	r = conn_request(p->c, &req, want, &resp, TRIES, RETRY_MS);
	if (r < 0)
		return conn_net_error(p->c, p->o.qos == 2 ? "PUBREC" : "PUBACK", r);
	/* For QoS 2 too, a refusal comes back as a PUBACK. */
	if (resp.type == MQTTSN_PUBACK) {
		if (resp.return_code != MQTTSN_RC_ACCEPTED)
			return conn_refused(p->c, "publish", resp.return_code);
		return 0;
	}
	return pub_qos2_release(p, req.msg_id);
}

/* The --size payload: "abcdefghijklmnopqrstuvwxyzabc..." */
static uint8_t *make_payload(size_t n)
{
	uint8_t *b = malloc(n ? n : 1);
	size_t i;

	for (i = 0; b && i < n; i++)
		b[i] = 'a' + i % 26;
	return b;
}

static uint8_t *read_all(int fd, size_t *len)
{
	size_t cap = 4096, n = 0;
	uint8_t *b = malloc(cap), *grown;
	ssize_t r;

	while (b) {
		if (n == cap) {
			grown = realloc(b, cap *= 2);
			if (!grown)
				break;
			b = grown;
		}
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0) {
				*len = n;
				return b;
			}
			break;
		}
		n += r;
	}
	free(b);
	return NULL;
}

static int publish_repeated(struct pub *p, const uint8_t *data, size_t len)
{
	long i;
	int r = 0;

	for (i = 0; i < p->o.count && !r; i++)
		r = publish_one(p, data, len);
	return r;
}

/* Publish each complete line in buf[0..*len); keep the unfinished tail. */
static int publish_lines(struct pub *p, char *buf, size_t *len)
{
	char *start = buf, *nl;
	int r = 0;

	while (!r && (nl = memchr(start, '\n', buf + *len - start))) {
		if (nl > start) {
			conn_set_deadline(p->c, p->o.timeout_s);
			r = publish_one(p, (uint8_t *)start, nl - start);
		}
		start = nl + 1;
	}
	*len -= start - buf;
	memmove(buf, start, *len);
	return r;
}

static int pub_recv_pending(struct pub *p)
{
	struct mqttsn_msg m;
	int r = conn_recv(p->c, &m, conn_now_ms());

	if (r <= 0)
		return r < 0 ? conn_net_error(p->c, "messages", r) : 0;
	if (m.type == MQTTSN_DISCONNECT)
		return conn_net_error(p->c, "messages", -ECONNRESET);
	r = pub_handler(p->c, &m, p);
	return r < 0 ? conn_net_error(p->c, "answer", r) : 0;
}

/* -l: one message per line, as lines come; keep the connection alive with
 * PINGREQ while stdin is quiet. */
static int pub_stdin_lines(struct pub *p, bool connected)
{
	size_t cap = MAX_PAYLOAD + 1, len = 0;
	char *buf = malloc(cap);
	int64_t period = (int64_t)p->o.keepalive * 1000;
	int64_t next_ping = conn_now_ms() + period;
	int r = 0;

	if (!buf)
		return conn_net_error(p->c, "stdin", -ENOMEM);
	while (!r) {
		struct pollfd pfd[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
					 { .fd = p->c->fd, .events = POLLIN } };
		bool pings = connected && period;
		int64_t wait = pings ? next_ping - conn_now_ms() : -1;
		ssize_t n;

		p->c->deadline = 0;
		if (pings && wait <= 0) {
			conn_set_deadline(p->c, p->o.timeout_s);
			r = conn_ping(p->c);
			if (r < 0)
				r = conn_net_error(p->c, "PINGRESP", r);
			next_ping = conn_now_ms() + period;
			continue;
		}
		if (poll(pfd, connected ? 2 : 1, pings ? (int)wait : -1) < 0) {
			if (errno != EINTR)
				r = conn_net_error(p->c, "stdin", -errno);
			continue;
		}
		if (pfd[1].revents) {
			r = pub_recv_pending(p);
			continue;
		}
		if (!pfd[0].revents)
			continue;
		if (len == cap) {
			fprintf(stderr, "%s: line longer than %d bytes\n", p->o.prog, MAX_PAYLOAD);
			r = 1;
			break;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "%s: reading stdin: %s\n", p->o.prog, strerror(errno));
			r = 1;
			break;
		}
		if (n == 0) {
			if (len)
				buf[len++] = '\n';	/* last line without newline */
			r = publish_lines(p, buf, &len);
			break;
		}
		len += n;
		r = publish_lines(p, buf, &len);
		next_ping = conn_now_ms() + period;
	}
	free(buf);
	return r;
}

static int pub_messages(struct pub *p, const uint8_t *stdin_data, size_t stdin_len,
			bool connected)
{
	uint8_t *payload;
	int r;

	switch (p->src.source) {
	case SRC_MESSAGE:
		return publish_repeated(p, (const uint8_t *)p->src.message,
					strlen(p->src.message));
	case SRC_STDIN:
		return publish_one(p, stdin_data, stdin_len);
	case SRC_SIZE:
		payload = make_payload(p->src.size);
		if (!payload)
			return conn_net_error(p->c, "payload", -ENOMEM);
		r = publish_repeated(p, payload, p->src.size);
		free(payload);
		return r;
	case SRC_LINES:
		return pub_stdin_lines(p, connected);
	case SRC_NONE:
		break;
	}
	return 2;
}

static int pub_run(struct pub *p, const uint8_t *stdin_data, size_t stdin_len)
{
	const struct topic_arg *t = &p->o.topics[0];
	int r;

	p->topic_type = t->type;
	p->topic_id = t->id;
	conn_set_deadline(p->c, p->o.timeout_s);
	r = conn_open(p->c);
	if (r < 0)
		return conn_net_error(p->c, "broker address", r);
	/* QoS -1: no connection, fire and forget. */
	if (p->o.qos == -1)
		return pub_messages(p, stdin_data, stdin_len, false);

	r = conn_connect(p->c);
	if (!r && t->type == MQTTSN_TOPIC_NORMAL)
		r = pub_register(p);
	if (!r)
		r = pub_messages(p, stdin_data, stdin_len, true);
	conn_disconnect(p->c);
	if (!r && p->late_rc >= 0)
		r = conn_refused(p->c, "publish", p->late_rc);
	return r;
}

int pso_cmd_pub(int argc, char **argv)
{
	struct pub p = { .late_rc = -1 };
	uint8_t *stdin_data = NULL;
	size_t stdin_len = 0;
	int r;

	client_opts_init(&p.o, true);
	r = pso_opts_parse(&pub_spec, argc, argv, &p, NULL);
	if (r == PSO_OPTS_RUN)
		r = client_opts_check(&pub_spec, &p.o);
	if (r == PSO_OPTS_RUN)
		r = pub_check(&p);
	if (r != PSO_OPTS_RUN) {
		free(p.o.topics);
		return r;
	}
	if (p.src.source == SRC_STDIN) {
		stdin_data = read_all(STDIN_FILENO, &stdin_len);
		if (!stdin_data) {
			fprintf(stderr, "%s: reading stdin: %s\n", p.o.prog, strerror(errno));
			free(p.o.topics);
			return 1;
		}
		if (stdin_len > MAX_PAYLOAD) {
			fprintf(stderr, "%s: stdin holds %zu bytes, a message at most %d\n",
				p.o.prog, stdin_len, MAX_PAYLOAD);
			free(stdin_data);
			free(p.o.topics);
			return 1;
		}
	}
	p.c = conn_new(&p.o);
	if (!p.c) {
		fprintf(stderr, "%s: out of memory\n", p.o.prog);
		r = 1;
	} else {
		p.c->handler = pub_handler;
		p.c->ctx = &p;
		r = pub_run(&p, stdin_data, stdin_len);
	}
	conn_free(p.c);
	free(stdin_data);
	free(p.o.topics);
	return r;
}
