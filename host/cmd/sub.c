// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sub.c - `psoffload sub`: subscribe to names, filters, predefined ids and
 * short topics, print what arrives; QoS 2 delivers each message once.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/client.h"
#include "cmd/conn.h"

#define QOS2_PENDING	64	/* QoS 2 msg ids a subscriber remembers */

struct topic_name {
	uint16_t id;
	char *name;
};

struct sub {
	struct client_opts o;
	bool verbose, no_newline, hex, no_retained;
	struct conn *c;
	struct topic_name *names;	/* learned from SUBACK and REGISTER */
	size_t n_names;
	uint16_t qos2_pending[QOS2_PENDING];	/* PUBREC sent, PUBREL not yet */
	size_t n_pending;
	long received;
	bool done;
	unsigned int sleep_s;	/* --sleep: a sleeping client (MQTT-SN 6.14) */
};

#define SUB(f) PSO_OPT_FIELD(struct sub, f)

static const struct pso_opt sub_opts[] = {
	CLIENT_OPT_HOST(struct sub),
	CLIENT_OPT_PORT(struct sub),
	{ "topic", 't', PSO_OPT_FUNC, SUB(o), .fn = client_opt_topic, .arg = "FILTER",
	  .help = "topic name or filter with + and # (repeatable)" },
	CLIENT_OPT_TOPIC_ID(struct sub),
	CLIENT_OPT_SHORT_TOPIC(struct sub),
	{ "qos", 'q', PSO_OPT_INT, SUB(o.qos), .min = 0, .max = 2, .arg = "QOS",
	  .help = "requested QoS: 0, 1 or 2 (0)" },
	{ "count", 'C', PSO_OPT_INT, SUB(o.count), .min = 1, .max = 1L << 30, .arg = "COUNT",
	  .help = "exit after COUNT messages" },
	{ "sleep", 0, PSO_OPT_UINT, SUB(sleep_s), .min = 1, .max = 65535, .unit = "seconds",
	  .arg = "SEC", .help = "after subscribing, sleep (DISCONNECT with duration SEC)\n"
				"and wake every SEC/2 seconds with PINGREQ for what\n"
				"the broker kept meanwhile" },
	{ "verbose", 'v', PSO_OPT_FLAG, SUB(verbose),
	  .help = "print \"TOPIC PAYLOAD\" (TOPIC: name, or id if unknown)" },
	{ "no-newline", 'N', PSO_OPT_FLAG, SUB(no_newline),
	  .help = "no newline after each payload" },
	{ "hex", 0, PSO_OPT_FLAG, SUB(hex), .help = "print payloads as hex" },
	{ "no-retained", 'R', PSO_OPT_FLAG, SUB(no_retained),
	  .help = "do not print messages with the RETAIN flag" },
	CLIENT_OPT_ID(struct sub),
	{ "disable-clean-session", 'c', PSO_OPT_FLAG, SUB(o.keep_session),
	  .help = "CONNECT without CleanSession: the broker keeps the\n"
		  "session (subscriptions) when this client goes; with\n"
		  "the same -I later, no -t is needed to resume it" },
	CLIENT_OPT_KEEPALIVE(struct sub),
	CLIENT_OPT_WILL(struct sub),
	{ "timeout", 'W', PSO_OPT_UINT, SUB(o.timeout_s), .min = 1, .max = 86400 * 365,
	  .unit = "seconds", .arg = "SECONDS",
	  .help = "exit 1 if not done after SECONDS (none)" },
	CLIENT_OPT_DEBUG(struct sub),
	CLIENT_OPT_HELP,
	{ 0 },
};

static const struct pso_opt_spec sub_spec = {
	.prog = "psoffload sub",
	.opts = sub_opts,
	.head = "usage: psoffload sub [-h HOST] [-p PORT] {-t FILTER | -i TOPIC_ID | -T XX}...\n"
		"                     [-q 0|1|2] [-I CLIENT_ID] [-c] [-k KEEPALIVE] [-W SECONDS] [-d]\n"
		"                     [-C COUNT] [-v] [-N] [--hex] [-R]\n",
	.tail = "exit status: 0 done or interrupted, 1 refused, timed out or disconnected,\n"
		"2 bad usage\n",
};

/* ---- Receiving --------------------------------------------------------- */

static volatile sig_atomic_t sub_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	sub_stop = 1;
}

static const char *sub_name_of(const struct sub *s, uint16_t id)
{
	size_t i;

	for (i = 0; i < s->n_names; i++)
		if (s->names[i].id == id)
			return s->names[i].name;
	return NULL;
}

static int sub_learn_name(struct sub *s, uint16_t id, const uint8_t *name, size_t len)
{
	struct topic_name *grown;
	char *copy = strndup((const char *)name, len);
	size_t i;

	if (!copy)
		return -ENOMEM;
	for (i = 0; i < s->n_names; i++) {
		if (s->names[i].id == id) {
			free(s->names[i].name);
			s->names[i].name = copy;
			return 0;
		}
	}
	grown = realloc(s->names, (s->n_names + 1) * sizeof(*grown));
	if (!grown) {
		free(copy);
		return -ENOMEM;
	}
	s->names = grown;
	s->names[s->n_names++] = (struct topic_name){ .id = id, .name = copy };
	return 0;
}

static void sub_print_topic(const struct sub *s, const struct mqttsn_msg *m)
{
	const char *name = NULL;

	switch (m->flags & MQTTSN_FLAG_TOPIC_MASK) {
	case MQTTSN_TOPIC_SHORT:
		printf("%c%c ", m->topic_id >> 8, m->topic_id & 0xff);
		return;
	case MQTTSN_TOPIC_NORMAL:
		name = sub_name_of(s, m->topic_id);
		break;
	}
	if (name)
		printf("%s ", name);
	else
		printf("%u ", m->topic_id);
}

static void sub_print(struct sub *s, const struct mqttsn_msg *m)
{
	size_t i;

	if (s->verbose)
		sub_print_topic(s, m);
	if (s->hex)
		for (i = 0; i < m->data_len; i++)
			printf("%02x", m->data[i]);
	else
		fwrite(m->data, 1, m->data_len, stdout);
	if (!s->no_newline)
		putchar('\n');
	fflush(stdout);
}

static bool qos2_seen(struct sub *s, uint16_t msg_id, bool remove)
{
	size_t i;

	for (i = 0; i < s->n_pending; i++) {
		if (s->qos2_pending[i] != msg_id)
			continue;
		if (remove)
			s->qos2_pending[i] = s->qos2_pending[--s->n_pending];
		return true;
	}
	return false;
}

static void qos2_remember(struct sub *s, uint16_t msg_id)
{
	/* Full: forget the oldest; at worst a very late duplicate prints. */
	if (s->n_pending == QOS2_PENDING)
		memmove(s->qos2_pending, s->qos2_pending + 1,
			--s->n_pending * sizeof(s->qos2_pending[0]));
	s->qos2_pending[s->n_pending++] = msg_id;
}

static bool sub_subscribed_predefined(const struct sub *s, uint16_t id)
{
	for (size_t i = 0; i < s->o.n_topics; i++)
		if (s->o.topics[i].type == MQTTSN_TOPIC_PREDEFINED && s->o.topics[i].id == id)
			return true;
	return false;
}

/*
 * A PUBLISH that names a topic in a form other than the one this client
 * knows it by: a predefined id it knows only as a normal id (SUBACK,
 * REGISTER), or a normal id it knows only as a predefined one.  A strict
 * client cannot tell what such a message is about (MQTT-SN 6.10); this one
 * says so and ignores it.  Ids it knows in no form are printed as ids.
 */
static bool sub_form_mismatch(const struct sub *s, const struct mqttsn_msg *m)
{
	switch (m->flags & MQTTSN_FLAG_TOPIC_MASK) {
	case MQTTSN_TOPIC_PREDEFINED:
		return !sub_subscribed_predefined(s, m->topic_id) && sub_name_of(s, m->topic_id);
	case MQTTSN_TOPIC_NORMAL:
		return sub_subscribed_predefined(s, m->topic_id) && !sub_name_of(s, m->topic_id);
	default:
		return false;
	}
}

static int sub_on_publish(struct sub *s, const struct mqttsn_msg *m)
{
	int qos = mqttsn_flags_qos(m->flags);
	bool deliver = true;

	if (sub_form_mismatch(s, m)) {
		fprintf(stderr, "%s: PUBLISH names topic %u as a %s id, which this client "
			"knows in the other form: ignored\n", s->o.prog, m->topic_id,
			(m->flags & MQTTSN_FLAG_TOPIC_MASK) == MQTTSN_TOPIC_PREDEFINED ? "predefined"
											 : "normal");
		return 0;
	}

	/* QoS 2 is exactly once: a resend before PUBREL is not a new message. */
	if (qos == 2) {
		deliver = !qos2_seen(s, m->msg_id, false);
		if (deliver)
			qos2_remember(s, m->msg_id);
	}
	if (s->no_retained && (m->flags & MQTTSN_FLAG_RETAIN))
		deliver = false;
	if (deliver && !s->done) {
		sub_print(s, m);
		if (s->o.count && ++s->received >= s->o.count)
			s->done = true;
	}
	if (qos == 1)
		return conn_send_ack(s->c, MQTTSN_PUBACK, m->topic_id, m->msg_id);
	if (qos == 2)
		return conn_send_ack(s->c, MQTTSN_PUBREC, 0, m->msg_id);
	return 0;
}

static int sub_handler(struct conn *c, const struct mqttsn_msg *m, void *ctx)
{
	struct sub *s = ctx;
	int r;

	switch (m->type) {
	case MQTTSN_PUBLISH:
		return sub_on_publish(s, m);
	case MQTTSN_REGISTER:
		r = sub_learn_name(s, m->topic_id, m->data, m->data_len);
		return r < 0 ? r : conn_answer_common(c, m);
	case MQTTSN_PUBREL:
		qos2_seen(s, m->msg_id, true);
		return conn_send_ack(c, MQTTSN_PUBCOMP, 0, m->msg_id);
	}
	return conn_answer_common(c, m);
}

static int sub_subscribe(struct sub *s, const struct topic_arg *t)
{
	struct mqttsn_msg req = {
		.type = MQTTSN_SUBSCRIBE,
		.flags = mqttsn_qos_flags(s->o.qos) | t->type,
		.msg_id = conn_next_msg_id(s->c),
		.topic_id = t->id,
	}, resp;
	int r;

	if (t->type == MQTTSN_TOPIC_NORMAL) {
		req.data = (const uint8_t *)t->name;
		req.data_len = strlen(t->name);
	}
	r = conn_request(s->c, &req, BIT(MQTTSN_SUBACK), &resp, TRIES, RETRY_MS);
	if (r < 0)
		return conn_net_error(s->c, "SUBACK", r);
	if (resp.return_code != MQTTSN_RC_ACCEPTED)
		return conn_refused(s->c, "subscribe", resp.return_code);
	/* A plain name gets its id here; a filter's topics come by REGISTER. */
	if (t->type == MQTTSN_TOPIC_NORMAL && !strpbrk(t->name, "+#") && resp.topic_id &&
	    sub_learn_name(s, resp.topic_id, req.data, req.data_len) < 0)
		return conn_net_error(s->c, "SUBACK", -ENOMEM);
	return 0;
}

static int sub_timeout(const struct sub *s)
{
	if (s->o.count)
		fprintf(stderr, "%s: timeout after %u s: %ld of %ld messages\n",
			s->o.prog, s->o.timeout_s, s->received, s->o.count);
	else
		fprintf(stderr, "%s: timeout after %u s\n", s->o.prog, s->o.timeout_s);
	return 1;
}

/* Receive until -C is reached; PINGREQ every keep-alive period.  0 done,
 * negative errno from the transport, or an exit code already reported. */
static int sub_loop(struct sub *s)
{
	int64_t period = (int64_t)s->o.keepalive * 1000;
	int64_t next_ping = period ? conn_now_ms() + period : INT64_MAX;
	struct mqttsn_msg m;
	int r;

	while (!s->done) {
		r = conn_recv(s->c, &m, next_ping);
		if (r == 0) {
			r = conn_ping(s->c);
			if (r == -ETIMEDOUT && !conn_deadline_passed(s->c))
				return conn_net_error(s->c, "PINGRESP", r);
			if (r < 0)
				return r;
			next_ping = conn_now_ms() + period;
			continue;
		}
		if (r < 0)
			return r;
		if (m.type == MQTTSN_DISCONNECT)
			return -ECONNRESET;
		r = sub_handler(s->c, &m, s);
		if (r < 0)
			return r;
	}
	return 0;
}

/* After the last message, let open QoS 2 handshakes (PUBREC sent, PUBREL
 * not yet) finish before saying goodbye. */
static int sub_drain_qos2(struct sub *s)
{
	int64_t until = conn_now_ms() + GOODBYE_MS;
	struct mqttsn_msg m;
	int r = 0;

	while (s->n_pending && (r = conn_recv(s->c, &m, until)) > 0) {
		if (m.type == MQTTSN_DISCONNECT)
			return -ECONNRESET;
		r = sub_handler(s->c, &m, s);
		if (r < 0)
			return r;
	}
	/* The count was reached: running out of time now is no failure. */
	return r < 0 && r != -ETIMEDOUT ? r : 0;
}

/*
 * A sleeping client: DISCONNECT with a duration, then every half of it a
 * PINGREQ with the client id, which gets what the broker buffered (handled
 * like any message: printed, acknowledged) and ends with PINGRESP.
 */
static int sub_sleep_loop(struct sub *s)
{
	struct mqttsn_msg dis = {
		.type = MQTTSN_DISCONNECT, .has_duration = true, .duration = (uint16_t)s->sleep_s,
	}, ping = {
		.type = MQTTSN_PINGREQ,
		.data = (const uint8_t *)s->o.client_id, .data_len = strlen(s->o.client_id),
	}, m;
	int64_t wake_ms = s->sleep_s * 500 > 500 ? s->sleep_s * 500 : 500;
	int r = conn_request(s->c, &dis, BIT(MQTTSN_DISCONNECT), &m, TRIES, RETRY_MS);

	while (!r && !s->done) {
		int64_t wake = conn_now_ms() + wake_ms;

		/* Asleep: the broker sends nothing; whatever comes is handled. */
		while (!s->done && (r = conn_recv(s->c, &m, wake)) > 0) {
			if (m.type == MQTTSN_DISCONNECT)
				continue;	/* a repeated answer to ours */
			r = sub_handler(s->c, &m, s);
			if (r < 0)
				return r;
		}
		if (r < 0 || s->done)
			break;
		r = conn_request(s->c, &ping, BIT(MQTTSN_PINGRESP), &m, TRIES, RETRY_MS);
	}
	return r < 0 ? r : 0;
}

static int sub_run(struct sub *s)
{
	size_t i;
	int r;

	conn_set_deadline(s->c, s->o.timeout_s);
	r = conn_open(s->c);
	if (r < 0)
		return conn_net_error(s->c, "broker address", r);
	r = conn_connect(s->c);
	for (i = 0; !r && i < s->o.n_topics; i++)
		r = sub_subscribe(s, &s->o.topics[i]);
	if (!r)
		r = s->sleep_s ? sub_sleep_loop(s) : sub_loop(s);
	if (!r)
		r = sub_drain_qos2(s);
	s->done = true;		/* print nothing more */
	if (r == -ETIMEDOUT)
		r = sub_timeout(s);
	else if (r < 0)
		r = conn_net_error(s->c, "PUBLISH", r);
	conn_disconnect(s->c);
	/* Interrupted by the user: a normal end. */
	return sub_stop ? 0 : r;
}

int pso_cmd_sub(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_stop_signal }, old_int, old_term;
	sigset_t block, old_mask, wait_mask;
	struct sub s = { 0 };
	size_t i;
	int r;

	client_opts_init(&s.o, false);
	r = pso_opts_parse(&sub_spec, argc, argv, &s, NULL);
	if (r == PSO_OPTS_RUN)
		r = client_opts_check(&sub_spec, &s.o);
	if (r != PSO_OPTS_RUN) {
		free(s.o.topics);
		return r;
	}
	s.c = conn_new(&s.o);
	if (!s.c) {
		fprintf(stderr, "%s: out of memory\n", s.o.prog);
		free(s.o.topics);
		return 1;
	}
	s.c->handler = sub_handler;
	s.c->ctx = &s;

	/* Signals stay blocked except inside ppoll(), so a stop request can
	 * never slip in between checking the flag and going to sleep. */
	sub_stop = 0;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	pthread_sigmask(SIG_BLOCK, &block, &old_mask);
	wait_mask = old_mask;
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	s.c->waitmask = &wait_mask;
	s.c->stop = &sub_stop;

	r = sub_run(&s);

	pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	conn_free(s.c);
	for (i = 0; i < s.n_names; i++)
		free(s.names[i].name);
	free(s.names);
	free(s.o.topics);
	return r;
}
