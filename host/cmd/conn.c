// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * conn.c - the options both MQTT-SN clients take, and their connection to
 * the broker (see conn.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "cmd/conn.h"

#define PUB_TIMEOUT_S	10	/* pub's default -W */

/* ---- Options ----------------------------------------------------------- */

void client_opts_init(struct client_opts *o, bool is_pub)
{
	*o = (struct client_opts){
		.is_pub = is_pub,
		.prog = is_pub ? "psoffload pub" : "psoffload sub",
		.host = "localhost",
		.port = 1883,
		.keepalive = 60,
		.timeout_s = is_pub ? PUB_TIMEOUT_S : 0,
		.count = is_pub ? 1 : 0,
	};
	snprintf(o->default_id, sizeof(o->default_id), "pso-%s-%d",
		 is_pub ? "pub" : "sub", (int)getpid());
	o->client_id = o->default_id;
}

int client_opts_check(const struct pso_opt_spec *spec, struct client_opts *o)
{
	/* A subscriber resuming a kept session may name no topic: the
	 * session's subscriptions are still there. */
	if (!o->n_topics && !(o->keep_session && !o->is_pub))
		return pso_opts_error(spec, "no topic: give %s",
				      o->is_pub ? "-t, -i or -T" : "-t, -i or -T (repeatable)");
	snprintf(o->port_s, sizeof(o->port_s), "%u", o->port);
	return PSO_OPTS_RUN;
}

/* The next topic of the command line, or NULL after one line. */
static struct topic_arg *add_topic(const struct pso_opt_spec *spec, struct client_opts *o,
				   uint8_t type)
{
	struct topic_arg *grown;

	if (o->is_pub && o->n_topics) {
		pso_opts_error(spec, "give one topic (-t, -i or -T)");
		return NULL;
	}
	grown = realloc(o->topics, (o->n_topics + 1) * sizeof(*grown));
	if (!grown) {
		pso_opts_error(spec, "out of memory");
		return NULL;
	}
	o->topics = grown;
	grown[o->n_topics] = (struct topic_arg){ .type = type };
	return &grown[o->n_topics++];
}

int client_opt_topic(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		     const char *arg, void *field)
{
	struct client_opts *o = field;
	struct topic_arg *t;

	if (!*arg)
		return pso_opts_error(spec, "empty topic");
	if (o->is_pub && strpbrk(arg, "+#"))
		return pso_opts_error(spec, "cannot publish to a filter: '%s'", arg);
	t = add_topic(spec, o, MQTTSN_TOPIC_NORMAL);
	if (!t)
		return 2;
	t->name = arg;
	return 0;
}

/* 0x0000 and 0xFFFF are reserved topic ids: the table says 1..0xfffe. */
int client_opt_topic_id(const struct pso_opt_spec *spec, const struct pso_opt *opt,
			const char *arg, void *field)
{
	struct topic_arg *t;
	long long id;

	if (pso_opt_num(spec, opt, arg, &id))
		return 2;
	t = add_topic(spec, field, MQTTSN_TOPIC_PREDEFINED);
	if (!t)
		return 2;
	t->id = id;
	return 0;
}

int client_opt_short_topic(const struct pso_opt_spec *spec, const struct pso_opt *opt,
			   const char *arg, void *field)
{
	struct topic_arg *t;

	if (strlen(arg) != 2)
		return pso_opts_error(spec, "a short topic is 2 characters, not '%s'", arg);
	t = add_topic(spec, field, MQTTSN_TOPIC_SHORT);
	if (!t)
		return 2;
	t->id = (uint8_t)arg[0] << 8 | (uint8_t)arg[1];
	return 0;
}

int client_opt_id(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		  const char *arg, void *field)
{
	if (!*arg || strlen(arg) > MQTTSN_CLIENT_ID_MAX)
		return pso_opts_error(spec, "client id '%s' is not 1 to %d characters", arg,
				      MQTTSN_CLIENT_ID_MAX);
	*(const char **)field = arg;
	return 0;
}

/* ---- Transport --------------------------------------------------------- */

int64_t conn_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void debug_msg(const struct conn *c, const char *dir, const struct mqttsn_msg *m)
{
	char line[256];

	if (!c->o->debug)
		return;
	mqttsn_format(m, line, sizeof(line));
	fprintf(stderr, "%s: %s %s\n", c->o->prog, dir, line);
}

uint16_t conn_next_msg_id(struct conn *c)
{
	if (++c->msg_id == 0)
		c->msg_id = 1;
	return c->msg_id;
}

/* Open a connected socket to the current address or, failing that, to
 * the next ones. */
static int conn_open_from(struct conn *c, struct addrinfo *ai)
{
	int err = -EHOSTUNREACH;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	for (; ai; ai = ai->ai_next) {
		c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			       ai->ai_protocol);
		if (c->fd < 0) {
			err = -errno;
			continue;
		}
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			c->addr = ai;
			c->gone = false;
			return 0;
		}
		err = -errno;
		close(c->fd);
		c->fd = -1;
	}
	return err;
}

int conn_open(struct conn *c)
{
	const char *host = c->o->host;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
				  .ai_protocol = IPPROTO_UDP };
	char literal[64];
	size_t n = strlen(host);
	int r;

	/* Accept "[::1]" as well as "::1". */
	if (n > 2 && n < sizeof(literal) && host[0] == '[' && host[n - 1] == ']') {
		memcpy(literal, host + 1, n - 2);
		literal[n - 2] = '\0';
		host = literal;
	}
	r = getaddrinfo(host, c->o->port_s, &hints, &c->addrs);
	if (r) {
		c->gai_error = gai_strerror(r);
		return -EADDRNOTAVAIL;
	}
	return conn_open_from(c, c->addrs);
}

/* The broker refused on this address ("localhost" may be ::1 first while
 * the broker listens on 127.0.0.1 only): move to the next one. */
static bool conn_next_addr(struct conn *c)
{
	return c->addr && c->addr->ai_next && conn_open_from(c, c->addr->ai_next) == 0;
}

struct conn *conn_new(const struct client_opts *o)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c) {
		c->o = o;
		c->fd = -1;
	}
	return c;
}

void conn_free(struct conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->addrs)
		freeaddrinfo(c->addrs);
	free(c);
}

int conn_send(struct conn *c, const struct mqttsn_msg *m)
{
	ssize_t n = mqttsn_encode(m, c->tx, sizeof(c->tx));

	if (n < 0)
		return n;
	debug_msg(c, "->", m);
	if (send(c->fd, c->tx, n, 0) < 0) {
		if (errno == ECONNREFUSED)
			c->gone = true;
		return -errno;
	}
	return 0;
}

/* Next well-formed message before `until` (ms).  1: got one; 0: `until`
 * passed; -ETIMEDOUT: the overall deadline passed; -EINTR: stop signal;
 * other negative errno from the socket (-ECONNREFUSED: nobody listens). */
int conn_recv(struct conn *c, struct mqttsn_msg *m, int64_t until)
{
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		bool overall = c->deadline && c->deadline <= until;
		int64_t wait = (overall ? c->deadline : until) - conn_now_ms();
		struct timespec ts;
		ssize_t n;
		int r;

		if (c->stop && *c->stop)
			return -EINTR;
		if (wait < 0)
			wait = 0;
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (wait % 1000) * 1000000;
		r = ppoll(&pfd, 1, &ts, c->waitmask);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return overall ? -ETIMEDOUT : 0;
		n = recv(c->fd, c->rx, sizeof(c->rx), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == ECONNREFUSED)
				c->gone = true;
			return -errno;
		}
		if (mqttsn_decode(c->rx, n, m)) {
			if (c->o->debug)
				fprintf(stderr, "%s: <- malformed datagram of %zd bytes, ignored\n",
					c->o->prog, n);
			continue;
		}
		debug_msg(c, "<-", m);
		if (m->type == MQTTSN_DISCONNECT)
			c->gone = true;
		return 1;
	}
}

static bool carries_msg_id(uint8_t type)
{
	return BIT(type) & (BIT(MQTTSN_REGACK) | BIT(MQTTSN_PUBACK) | BIT(MQTTSN_PUBREC) |
			    BIT(MQTTSN_PUBCOMP) | BIT(MQTTSN_SUBACK) | BIT(MQTTSN_UNSUBACK));
}

static bool answers(const struct mqttsn_msg *req, const struct mqttsn_msg *resp,
		    uint32_t want)
{
	if (resp->type >= 32 || !(want & BIT(resp->type)))
		return false;
	return !carries_msg_id(resp->type) || resp->msg_id == req->msg_id;
}

/* Send req and wait for a message of a type in `want` (with req's msg id
 * where the answer carries one); resend every interval_ms, `tries` sends in
 * all, marking PUBLISH and SUBSCRIBE resends DUP.  Anything else received
 * meanwhile goes to the handler; a DISCONNECT not asked for ends the wait
 * with -ECONNRESET.  0, or negative errno (-ETIMEDOUT: no answer). */
int conn_request(struct conn *c, struct mqttsn_msg *req, uint32_t want,
			struct mqttsn_msg *resp, int tries, int interval_ms)
{
	int t, r;

	for (t = 0; t < tries; t++) {
		int64_t until;

		if (t && (req->type == MQTTSN_PUBLISH || req->type == MQTTSN_SUBSCRIBE))
			req->flags |= MQTTSN_FLAG_DUP;
		r = conn_send(c, req);
		if (r < 0)
			return r;
		until = conn_now_ms() + interval_ms;
		while ((r = conn_recv(c, resp, until)) > 0) {
			if (answers(req, resp, want))
				return 0;
			if (resp->type == MQTTSN_DISCONNECT)
				return -ECONNRESET;
			if (c->handler && (r = c->handler(c, resp, c->ctx)) < 0)
				return r;
		}
		if (r < 0)
			return r;
	}
	return -ETIMEDOUT;
}

/* ---- Errors ------------------------------------------------------------ */

/* The one line for a transport failure while waiting for `answer`;
 * returns the exit code 1.  A stop request (-EINTR) is no news. */
int conn_net_error(const struct conn *c, const char *answer, int err)
{
	const struct client_opts *o = c->o;

	switch (err) {
	case -EINTR:
		break;
	case -ETIMEDOUT:
		fprintf(stderr, "%s: timeout waiting for %s from %s port %s\n",
			o->prog, answer, o->host, o->port_s);
		break;
	case -ECONNREFUSED:
		fprintf(stderr, "%s: no broker at %s port %s (connection refused)\n",
			o->prog, o->host, o->port_s);
		break;
	case -ECONNRESET:
		fprintf(stderr, "%s: disconnected by broker\n", o->prog);
		break;
	case -EADDRNOTAVAIL:
		fprintf(stderr, "%s: cannot resolve '%s': %s\n", o->prog, o->host,
			c->gai_error ? c->gai_error : strerror(-err));
		break;
	case -EMSGSIZE:
		fprintf(stderr, "%s: message too large for MQTT-SN over UDP\n", o->prog);
		break;
	default:
		fprintf(stderr, "%s: %s: %s\n", o->prog, answer, strerror(-err));
	}
	return 1;
}

int conn_refused(const struct conn *c, const char *what, uint8_t rc)
{
	fprintf(stderr, "%s: %s refused: %s (0x%02x)\n", c->o->prog, what,
		mqttsn_rc_name(rc), rc);
	return 1;
}

/* ---- Session ----------------------------------------------------------- */

int conn_connect(struct conn *c)
{
	const struct client_opts *o = c->o;
	struct mqttsn_msg req = {
		.type = MQTTSN_CONNECT,
		.flags = (o->keep_session ? 0 : MQTTSN_FLAG_CLEAN_SESSION) |
			 (o->will_topic ? MQTTSN_FLAG_WILL : 0),
		.protocol_id = MQTTSN_PROTOCOL_ID,
		.duration = o->keepalive,
		.data = (const uint8_t *)o->client_id,
		.data_len = strlen(o->client_id),
	}, resp;
	const uint32_t want = BIT(MQTTSN_CONNACK) | BIT(MQTTSN_WILLTOPICREQ) | BIT(MQTTSN_WILLMSGREQ);
	int r;

	for (;;) {
		r = conn_request(c, &req, want, &resp, TRIES, RETRY_MS);
		if (r != -ECONNREFUSED || !conn_next_addr(c))
			break;
	}
	/* With a will the broker asks for it before it answers CONNACK. */
	if (!r && resp.type == MQTTSN_WILLTOPICREQ) {
		struct mqttsn_msg wt = {
			.type = MQTTSN_WILLTOPIC,
			.flags = mqttsn_qos_flags(o->will_qos) | (o->will_retain ? MQTTSN_FLAG_RETAIN : 0),
			.data = (const uint8_t *)o->will_topic, .data_len = strlen(o->will_topic),
		};

		r = conn_request(c, &wt, want, &resp, TRIES, RETRY_MS);
	}
	if (!r && resp.type == MQTTSN_WILLMSGREQ) {
		const char *msg = o->will_payload ? o->will_payload : "";
		struct mqttsn_msg wm = {
			.type = MQTTSN_WILLMSG,
			.data = (const uint8_t *)msg, .data_len = strlen(msg),
		};

		r = conn_request(c, &wm, BIT(MQTTSN_CONNACK), &resp, TRIES, RETRY_MS);
	}
	if (!r && resp.type != MQTTSN_CONNACK)
		r = -EPROTO;
	if (r < 0)
		return conn_net_error(c, "CONNACK", r);
	if (resp.return_code != MQTTSN_RC_ACCEPTED)
		return conn_refused(c, "connect", resp.return_code);
	c->connected = true;
	return 0;
}

/* Say goodbye and give the broker a moment to answer; nothing it does now
 * changes the outcome. */
void conn_disconnect(struct conn *c)
{
	struct mqttsn_msg req = { .type = MQTTSN_DISCONNECT }, resp;

	if (!c->connected || c->gone)
		return;
	c->connected = false;
	c->deadline = 0;
	conn_request(c, &req, BIT(MQTTSN_DISCONNECT), &resp, 1, GOODBYE_MS);
}

int conn_send_ack(struct conn *c, uint8_t type, uint16_t topic_id, uint16_t msg_id)
{
	struct mqttsn_msg m = { .type = type, .topic_id = topic_id, .msg_id = msg_id,
				.return_code = MQTTSN_RC_ACCEPTED };

	return conn_send(c, &m);
}

/* Messages either client answers whatever it is doing. */
int conn_answer_common(struct conn *c, const struct mqttsn_msg *m)
{
	switch (m->type) {
	case MQTTSN_PINGREQ:
		return conn_send_ack(c, MQTTSN_PINGRESP, 0, 0);
	case MQTTSN_REGISTER:
		return conn_send_ack(c, MQTTSN_REGACK, m->topic_id, m->msg_id);
	}
	return 0;
}

/* 0, or negative errno (-ETIMEDOUT: no PINGRESP, or the deadline passed). */
int conn_ping(struct conn *c)
{
	struct mqttsn_msg req = { .type = MQTTSN_PINGREQ }, resp;

	return conn_request(c, &req, BIT(MQTTSN_PINGRESP), &resp, TRIES, RETRY_MS);
}

void conn_set_deadline(struct conn *c, unsigned int seconds)
{
	c->deadline = seconds ? conn_now_ms() + (int64_t)seconds * 1000 : 0;
}

bool conn_deadline_passed(const struct conn *c)
{
	return c->deadline && conn_now_ms() >= c->deadline;
}
