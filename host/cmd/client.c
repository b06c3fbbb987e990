// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * client.c - `psoffload pub` and `psoffload sub`, MQTT-SN v1.2 clients.
 *
 * Three layers, shared by both commands:
 *   options    getopt_long over one table of common and per-command flags
 *   transport  one connected UDP socket: send, receive with a deadline, and
 *              request/response with retransmission (DUP on PUBLISH and
 *              SUBSCRIBE); whatever arrives that is not the awaited answer
 *              goes to the command's handler, so a subscriber keeps
 *              printing while it waits for PINGRESP
 *   flows      connect, register, publish (QoS -1/0/1/2), subscribe,
 *              receive loop, disconnect
 *
 * Transport functions return a negative errno; the flow that knows what it
 * was waiting for turns it into the one line the user sees.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include "cmd/client.h"
#include "proto/mqttsn.h"

#define RETRY_MS	1000	/* wait for an answer before retransmitting */
#define TRIES		5	/* sends of one request before giving up */
#define GOODBYE_MS	1000	/* wait for the broker's DISCONNECT */
#define PUB_TIMEOUT_S	10	/* pub's default -W */
#define MAX_PAYLOAD	(MQTTSN_MAX_MSG - 4 - MQTTSN_PUBLISH_BODY_LEN)
#define QOS2_PENDING	64	/* QoS 2 msg ids a subscriber remembers */

#define BIT(type)	(1u << (type))

/* ---- Options ----------------------------------------------------------- */

struct topic_arg {
	uint8_t type;		/* MQTTSN_TOPIC_NORMAL, _PREDEFINED, _SHORT */
	const char *name;	/* NORMAL: topic name or filter */
	uint16_t id;		/* PREDEFINED: the id; SHORT: the 2 characters */
};

enum pub_source { SRC_NONE, SRC_MESSAGE, SRC_LINES, SRC_STDIN, SRC_SIZE };

struct opts {
	bool is_pub;
	const char *prog;	/* "psoffload pub" */
	const char *host;
	const char *port;
	struct topic_arg *topics;
	size_t n_topics;
	int qos;
	const char *client_id;
	char default_id[24];
	unsigned keepalive;
	unsigned timeout_s;	/* -W; 0 = none */
	bool debug;
	long count;		/* -C; 0 = unlimited (sub) / 1 (pub) */
	/* pub */
	enum pub_source source;
	const char *message;
	size_t size;
	bool retain;
	/* sub */
	bool verbose, no_newline, hex, no_retained;
};

enum { OPT_HELP = 256, OPT_SIZE, OPT_HEX };

#define COMMON_SHORT ":h:p:t:i:T:q:I:k:W:dC:"
#define COMMON_LONG							\
	{ "host", required_argument, NULL, 'h' },			\
	{ "port", required_argument, NULL, 'p' },			\
	{ "topic", required_argument, NULL, 't' },			\
	{ "topic-id", required_argument, NULL, 'i' },			\
	{ "short-topic", required_argument, NULL, 'T' },		\
	{ "qos", required_argument, NULL, 'q' },			\
	{ "id", required_argument, NULL, 'I' },				\
	{ "keepalive", required_argument, NULL, 'k' },			\
	{ "timeout", required_argument, NULL, 'W' },			\
	{ "debug", no_argument, NULL, 'd' },				\
	{ "count", required_argument, NULL, 'C' },			\
	{ "help", no_argument, NULL, OPT_HELP }

static const struct option pub_long[] = {
	COMMON_LONG,
	{ "message", required_argument, NULL, 'm' },
	{ "stdin-line", no_argument, NULL, 'l' },
	{ "stdin-file", no_argument, NULL, 's' },
	{ "retain", no_argument, NULL, 'r' },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ 0 }
};

static const struct option sub_long[] = {
	COMMON_LONG,
	{ "verbose", no_argument, NULL, 'v' },
	{ "no-newline", no_argument, NULL, 'N' },
	{ "hex", no_argument, NULL, OPT_HEX },
	{ "no-retained", no_argument, NULL, 'R' },
	{ 0 }
};

static const char pub_usage[] =
	"usage: psoffload pub [-h HOST] [-p PORT] {-t TOPIC | -i TOPIC_ID | -T XX}\n"
	"                     [-q -1|0|1|2] [-r] [-I CLIENT_ID] [-k KEEPALIVE] [-W SECONDS] [-d]\n"
	"                     {-m MESSAGE [-C COUNT] | -l | -s | --size N [-C COUNT]}\n";

static const char sub_usage[] =
	"usage: psoffload sub [-h HOST] [-p PORT] {-t FILTER | -i TOPIC_ID | -T XX}...\n"
	"                     [-q 0|1|2] [-I CLIENT_ID] [-k KEEPALIVE] [-W SECONDS] [-d]\n"
	"                     [-C COUNT] [-v] [-N] [--hex] [-R]\n";

static const char common_help[] =
	"  -h, --host HOST         broker name or address, IPv4 or IPv6 (localhost)\n"
	"  -p, --port PORT         broker UDP port (1883)\n"
	"  -i, --topic-id ID       predefined topic id\n"
	"  -T, --short-topic XX    two-character short topic name\n"
	"  -I, --id CLIENT_ID      client id, 1 to 23 characters (pso-CMD-PID)\n"
	"  -k, --keepalive SECONDS keep-alive period (60)\n"
	"  -d, --debug             print every message sent and received on stderr\n"
	"      --help              this text\n";

static const char pub_help[] =
	"  -t, --topic TOPIC       topic name (registered with the broker)\n"
	"  -q, --qos QOS           -1 (no connection; -i or -T only), 0, 1 or 2 (0)\n"
	"  -r, --retain            set the RETAIN flag\n"
	"  -m, --message MESSAGE   the payload\n"
	"  -C, --count COUNT       publish the -m / --size message COUNT times (1)\n"
	"  -l, --stdin-line        one message per line of stdin (blank lines skipped)\n"
	"  -s, --stdin-file        the whole of stdin as one message\n"
	"      --size N            a payload of N bytes \"abc...zab...\"\n"
	"  -W, --timeout SECONDS   give up after SECONDS (10); with -l, per message\n"
	"exit status: 0 published, 1 refused or timed out, 2 bad usage\n";

static const char sub_help[] =
	"  -t, --topic FILTER      topic name or filter with + and # (repeatable)\n"
	"  -q, --qos QOS           requested QoS: 0, 1 or 2 (0)\n"
	"  -C, --count COUNT       exit after COUNT messages\n"
	"  -v, --verbose           print \"TOPIC PAYLOAD\" (TOPIC: name, or id if unknown)\n"
	"  -N, --no-newline        no newline after each payload\n"
	"      --hex               print payloads as hex\n"
	"  -R, --no-retained       do not print messages with the RETAIN flag\n"
	"  -W, --timeout SECONDS   exit 1 if not done after SECONDS (none)\n"
	"exit status: 0 done or interrupted, 1 refused, timed out or disconnected,\n"
	"2 bad usage\n";

static int usage_error(const struct opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(const struct opts *o, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", o->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(o->is_pub ? pub_usage : sub_usage, stderr);
	return 2;
}

static bool parse_num(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int add_topic(struct opts *o, uint8_t type, const char *arg)
{
	struct topic_arg *t, *grown;
	long id;

	if (o->is_pub && o->n_topics)
		return usage_error(o, "give one topic (-t, -i or -T)");
	grown = realloc(o->topics, (o->n_topics + 1) * sizeof(*t));
	if (!grown)
		return usage_error(o, "out of memory");
	o->topics = grown;
	t = &o->topics[o->n_topics];
	*t = (struct topic_arg){ .type = type };
	switch (type) {
	case MQTTSN_TOPIC_NORMAL:
		if (!*arg)
			return usage_error(o, "empty topic");
		if (o->is_pub && strpbrk(arg, "+#"))
			return usage_error(o, "cannot publish to a filter: '%s'", arg);
		t->name = arg;
		break;
	case MQTTSN_TOPIC_PREDEFINED:
		/* 0x0000 and 0xFFFF are reserved topic ids. */
		if (!parse_num(arg, 1, 0xfffe, &id))
			return usage_error(o, "bad topic id '%s' (1..65534)", arg);
		t->id = id;
		break;
	case MQTTSN_TOPIC_SHORT:
		if (strlen(arg) != 2)
			return usage_error(o, "a short topic is 2 characters, not '%s'", arg);
		t->id = (uint8_t)arg[0] << 8 | (uint8_t)arg[1];
		break;
	}
	o->n_topics++;
	return 0;
}

static int parse_common(struct opts *o, int ch, const char *arg)
{
	long v;

	switch (ch) {
	case 'h':
		o->host = arg;
		return 0;
	case 'p':
		if (!parse_num(arg, 1, 65535, &v))
			return usage_error(o, "bad port '%s'", arg);
		o->port = arg;
		return 0;
	case 't':
		return add_topic(o, MQTTSN_TOPIC_NORMAL, arg);
	case 'i':
		return add_topic(o, MQTTSN_TOPIC_PREDEFINED, arg);
	case 'T':
		return add_topic(o, MQTTSN_TOPIC_SHORT, arg);
	case 'q':
		if (!parse_num(arg, o->is_pub ? -1 : 0, 2, &v))
			return usage_error(o, "bad QoS '%s' (%s0, 1 or 2)", arg,
					   o->is_pub ? "-1, " : "");
		o->qos = v;
		return 0;
	case 'I':
		if (!*arg || strlen(arg) > MQTTSN_CLIENT_ID_MAX)
			return usage_error(o, "client id '%s' is not 1 to 23 characters", arg);
		o->client_id = arg;
		return 0;
	case 'k':
		if (!parse_num(arg, 0, 65535, &v))
			return usage_error(o, "bad keep-alive '%s' (0..65535 s)", arg);
		o->keepalive = v;
		return 0;
	case 'W':
		if (!parse_num(arg, 1, 86400 * 365, &v))
			return usage_error(o, "bad timeout '%s' (seconds, > 0)", arg);
		o->timeout_s = v;
		return 0;
	case 'd':
		o->debug = true;
		return 0;
	case 'C':
		if (!parse_num(arg, 1, 1L << 30, &v))
			return usage_error(o, "bad count '%s'", arg);
		o->count = v;
		return 0;
	}
	return -1;
}

static int set_source(struct opts *o, enum pub_source s)
{
	if (o->source != SRC_NONE && o->source != s)
		return usage_error(o, "give one of -m, -l, -s, --size");
	o->source = s;
	return 0;
}

static int parse_pub(struct opts *o, int ch, const char *arg)
{
	long v;

	switch (ch) {
	case 'm':
		o->message = arg;
		return set_source(o, SRC_MESSAGE);
	case 'l':
		return set_source(o, SRC_LINES);
	case 's':
		return set_source(o, SRC_STDIN);
	case 'r':
		o->retain = true;
		return 0;
	case OPT_SIZE:
		if (!parse_num(arg, 0, MAX_PAYLOAD, &v))
			return usage_error(o, "bad --size '%s' (0..65526)", arg);
		o->size = v;
		return set_source(o, SRC_SIZE);
	}
	return -1;
}

static int parse_sub(struct opts *o, int ch, const char *arg)
{
	(void)arg;	/* sub's own flags take no value */
	switch (ch) {
	case 'v':
		o->verbose = true;
		return 0;
	case 'N':
		o->no_newline = true;
		return 0;
	case OPT_HEX:
		o->hex = true;
		return 0;
	case 'R':
		o->no_retained = true;
		return 0;
	}
	return -1;
}

static int check_opts(struct opts *o)
{
	if (!o->n_topics)
		return usage_error(o, "no topic: give %s", o->is_pub ? "-t, -i or -T"
							       : "-t, -i or -T (repeatable)");
	if (!o->is_pub)
		return 0;
	if (o->source == SRC_NONE)
		return usage_error(o, "nothing to publish: give -m, -l, -s or --size");
	if (o->count > 1 && o->source != SRC_MESSAGE && o->source != SRC_SIZE)
		return usage_error(o, "-C repeats -m or --size only");
	if (o->qos == -1 && o->topics[0].type == MQTTSN_TOPIC_NORMAL)
		return usage_error(o, "QoS -1 publishes to a predefined id (-i) or "
				   "a short topic (-T), not to '%s'", o->topics[0].name);
	return 0;
}

/* 0: run; 1: --help was printed; 2: usage error (printed). */
static int parse_opts(struct opts *o, bool is_pub, int argc, char **argv)
{
	const struct option *longopts = is_pub ? pub_long : sub_long;
	const char *shortopts = is_pub ? COMMON_SHORT "m:lsr" : COMMON_SHORT "vNR";
	int ch, r;

	*o = (struct opts){
		.is_pub = is_pub,
		.prog = is_pub ? "psoffload pub" : "psoffload sub",
		.host = "localhost",
		.port = "1883",
		.keepalive = 60,
		.timeout_s = is_pub ? PUB_TIMEOUT_S : 0,
		.count = is_pub ? 1 : 0,
	};
	snprintf(o->default_id, sizeof(o->default_id), "pso-%s-%d",
		 is_pub ? "pub" : "sub", (int)getpid());
	o->client_id = o->default_id;

	optind = 0;	/* GNU: rescan from scratch, so we can be called again */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (ch == OPT_HELP) {
			fputs(is_pub ? pub_usage : sub_usage, stdout);
			fputs(common_help, stdout);
			fputs(is_pub ? pub_help : sub_help, stdout);
			return 1;
		}
		if (ch == ':')
			return usage_error(o, "option '%s' needs a value", argv[optind - 1]);
		if (ch == '?' && optopt)
			return usage_error(o, "unknown option '-%c'", optopt);
		if (ch == '?')
			return usage_error(o, "unknown option '%s'", argv[optind - 1]);
		r = parse_common(o, ch, optarg);
		if (r < 0)
			r = is_pub ? parse_pub(o, ch, optarg) : parse_sub(o, ch, optarg);
		if (r)
			return 2;
	}
	if (optind < argc)
		return usage_error(o, "unexpected argument '%s'", argv[optind]);
	return check_opts(o) ? 2 : 0;
}

/* ---- Transport --------------------------------------------------------- */

struct conn;
/* A message that is not the answer being waited for; < 0 stops the wait. */
typedef int (*conn_handler)(struct conn *c, const struct mqttsn_msg *m, void *ctx);

struct conn {
	const struct opts *o;
	int fd;
	struct addrinfo *addrs, *addr;	/* resolved broker, the one in use */
	const char *gai_error;		/* when resolving failed */
	int64_t deadline;		/* CLOCK_MONOTONIC ms; 0 = none */
	bool connected;			/* CONNACK accepted */
	bool gone;			/* broker sent DISCONNECT or refuses */
	uint16_t msg_id;
	const sigset_t *waitmask;	/* signals let through while waiting */
	volatile sig_atomic_t *stop;	/* set by the signal handler */
	conn_handler handler;
	void *ctx;
	uint8_t tx[MQTTSN_MAX_MSG];
	uint8_t rx[MQTTSN_MAX_MSG + 1];
};

static int64_t now_ms(void)
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

static uint16_t next_msg_id(struct conn *c)
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

static int conn_open(struct conn *c, const char *host, const char *port)
{
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
	r = getaddrinfo(host, port, &hints, &c->addrs);
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

static struct conn *conn_new(const struct opts *o)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c) {
		c->o = o;
		c->fd = -1;
	}
	return c;
}

static void conn_free(struct conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->addrs)
		freeaddrinfo(c->addrs);
	free(c);
}

static int conn_send(struct conn *c, const struct mqttsn_msg *m)
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
static int conn_recv(struct conn *c, struct mqttsn_msg *m, int64_t until)
{
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		bool overall = c->deadline && c->deadline <= until;
		int64_t wait = (overall ? c->deadline : until) - now_ms();
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
static int conn_request(struct conn *c, struct mqttsn_msg *req, uint32_t want,
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
		until = now_ms() + interval_ms;
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
static int net_error(const struct conn *c, const char *answer, int err)
{
	const struct opts *o = c->o;

	switch (err) {
	case -EINTR:
		break;
	case -ETIMEDOUT:
		fprintf(stderr, "%s: timeout waiting for %s from %s port %s\n",
			o->prog, answer, o->host, o->port);
		break;
	case -ECONNREFUSED:
		fprintf(stderr, "%s: no broker at %s port %s (connection refused)\n",
			o->prog, o->host, o->port);
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

static int refused(const struct conn *c, const char *what, uint8_t rc)
{
	fprintf(stderr, "%s: %s refused: %s (0x%02x)\n", c->o->prog, what,
		mqttsn_rc_name(rc), rc);
	return 1;
}

/* ---- Flows shared by pub and sub ---------------------------------------- */

static int session_connect(struct conn *c)
{
	const struct opts *o = c->o;
	struct mqttsn_msg req = {
		.type = MQTTSN_CONNECT,
		.flags = MQTTSN_FLAG_CLEAN_SESSION,
		.protocol_id = MQTTSN_PROTOCOL_ID,
		.duration = o->keepalive,
		.data = (const uint8_t *)o->client_id,
		.data_len = strlen(o->client_id),
	}, resp;
	int r;

	for (;;) {
		r = conn_request(c, &req, BIT(MQTTSN_CONNACK), &resp, TRIES, RETRY_MS);
		if (r != -ECONNREFUSED || !conn_next_addr(c))
			break;
	}
	if (r < 0)
		return net_error(c, "CONNACK", r);
	if (resp.return_code != MQTTSN_RC_ACCEPTED)
		return refused(c, "connect", resp.return_code);
	c->connected = true;
	return 0;
}

/* Say goodbye and give the broker a moment to answer; nothing it does now
 * changes the outcome. */
static void session_disconnect(struct conn *c)
{
	struct mqttsn_msg req = { .type = MQTTSN_DISCONNECT }, resp;

	if (!c->connected || c->gone)
		return;
	c->connected = false;
	c->deadline = 0;
	conn_request(c, &req, BIT(MQTTSN_DISCONNECT), &resp, 1, GOODBYE_MS);
}

static int send_ack(struct conn *c, uint8_t type, uint16_t topic_id, uint16_t msg_id)
{
	struct mqttsn_msg m = { .type = type, .topic_id = topic_id, .msg_id = msg_id,
				.return_code = MQTTSN_RC_ACCEPTED };

	return conn_send(c, &m);
}

/* Messages either client answers whatever it is doing. */
static int answer_common(struct conn *c, const struct mqttsn_msg *m)
{
	switch (m->type) {
	case MQTTSN_PINGREQ:
		return send_ack(c, MQTTSN_PINGRESP, 0, 0);
	case MQTTSN_REGISTER:
		return send_ack(c, MQTTSN_REGACK, m->topic_id, m->msg_id);
	}
	return 0;
}

/* 0, or negative errno (-ETIMEDOUT: no PINGRESP, or the deadline passed). */
static int ping(struct conn *c)
{
	struct mqttsn_msg req = { .type = MQTTSN_PINGREQ }, resp;

	return conn_request(c, &req, BIT(MQTTSN_PINGRESP), &resp, TRIES, RETRY_MS);
}

static void set_deadline(struct conn *c, unsigned seconds)
{
	c->deadline = seconds ? now_ms() + (int64_t)seconds * 1000 : 0;
}

/* ---- pub ---------------------------------------------------------------- */

struct pub {
	struct opts o;
	struct conn *c;
	uint16_t topic_id;
	uint8_t topic_type;
	int late_rc;		/* PUBACK refusing a QoS 0 publish, or -1 */
};

static int pub_handler(struct conn *c, const struct mqttsn_msg *m, void *ctx)
{
	struct pub *p = ctx;

	/* A broker may refuse a QoS 0 publish with a PUBACK. */
	if (m->type == MQTTSN_PUBACK && m->return_code != MQTTSN_RC_ACCEPTED)
		p->late_rc = m->return_code;
	return answer_common(c, m);
}

static int pub_register(struct pub *p)
{
	const char *name = p->o.topics[0].name;
	struct mqttsn_msg req = {
		.type = MQTTSN_REGISTER,
		.msg_id = next_msg_id(p->c),
		.data = (const uint8_t *)name,
		.data_len = strlen(name),
	}, resp;
	int r = conn_request(p->c, &req, BIT(MQTTSN_REGACK), &resp, TRIES, RETRY_MS);

	if (r < 0)
		return net_error(p->c, "REGACK", r);
	if (resp.return_code != MQTTSN_RC_ACCEPTED)
		return refused(p->c, "register", resp.return_code);
	p->topic_id = resp.topic_id;
	return 0;
}

static int pub_qos2_release(struct pub *p, uint16_t msg_id)
{
	struct mqttsn_msg req = { .type = MQTTSN_PUBREL, .msg_id = msg_id }, resp;
	int r = conn_request(p->c, &req, BIT(MQTTSN_PUBCOMP), &resp, TRIES, RETRY_MS);

	return r < 0 ? net_error(p->c, "PUBCOMP", r) : 0;
}

static int publish_one(struct pub *p, const uint8_t *data, size_t len)
{
	struct mqttsn_msg req = {
		.type = MQTTSN_PUBLISH,
		.flags = mqttsn_qos_flags(p->o.qos) | p->topic_type |
			 (p->o.retain ? MQTTSN_FLAG_RETAIN : 0),
		.topic_id = p->topic_id,
		.data = data,
		.data_len = len,
	}, resp;
	uint32_t want = BIT(MQTTSN_PUBACK) | (p->o.qos == 2 ? BIT(MQTTSN_PUBREC) : 0);
	int r;

	if (p->o.qos <= 0) {
		r = conn_send(p->c, &req);
		return r < 0 ? net_error(p->c, "PUBLISH", r) : 0;
	}
	req.msg_id = next_msg_id(p->c);
	r = conn_request(p->c, &req, want, &resp, TRIES, RETRY_MS);
	if (r < 0)
		return net_error(p->c, p->o.qos == 2 ? "PUBREC" : "PUBACK", r);
	/* For QoS 2 too, a refusal comes back as a PUBACK. */
	if (resp.type == MQTTSN_PUBACK) {
		if (resp.return_code != MQTTSN_RC_ACCEPTED)
			return refused(p->c, "publish", resp.return_code);
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
			set_deadline(p->c, p->o.timeout_s);
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
	int r = conn_recv(p->c, &m, now_ms());

	if (r <= 0)
		return r < 0 ? net_error(p->c, "messages", r) : 0;
	if (m.type == MQTTSN_DISCONNECT)
		return net_error(p->c, "messages", -ECONNRESET);
	r = pub_handler(p->c, &m, p);
	return r < 0 ? net_error(p->c, "answer", r) : 0;
}

/* -l: one message per line, as lines come; keep the connection alive with
 * PINGREQ while stdin is quiet. */
static int pub_stdin_lines(struct pub *p, bool connected)
{
	size_t cap = MAX_PAYLOAD + 1, len = 0;
	char *buf = malloc(cap);
	int64_t period = (int64_t)p->o.keepalive * 1000;
	int64_t next_ping = now_ms() + period;
	int r = 0;

	if (!buf)
		return net_error(p->c, "stdin", -ENOMEM);
	while (!r) {
		struct pollfd pfd[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
					 { .fd = p->c->fd, .events = POLLIN } };
		bool pings = connected && period;
		int64_t wait = pings ? next_ping - now_ms() : -1;
		ssize_t n;

		p->c->deadline = 0;
		if (pings && wait <= 0) {
			set_deadline(p->c, p->o.timeout_s);
			r = ping(p->c);
			if (r < 0)
				r = net_error(p->c, "PINGRESP", r);
			next_ping = now_ms() + period;
			continue;
		}
		if (poll(pfd, connected ? 2 : 1, pings ? (int)wait : -1) < 0) {
			if (errno != EINTR)
				r = net_error(p->c, "stdin", -errno);
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
		next_ping = now_ms() + period;
	}
	free(buf);
	return r;
}

static int pub_messages(struct pub *p, const uint8_t *stdin_data, size_t stdin_len,
			bool connected)
{
	const struct opts *o = &p->o;
	uint8_t *payload;
	int r;

	switch (o->source) {
	case SRC_MESSAGE:
		return publish_repeated(p, (const uint8_t *)o->message, strlen(o->message));
	case SRC_STDIN:
		return publish_one(p, stdin_data, stdin_len);
	case SRC_SIZE:
		payload = make_payload(o->size);
		if (!payload)
			return net_error(p->c, "payload", -ENOMEM);
		r = publish_repeated(p, payload, o->size);
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
	set_deadline(p->c, p->o.timeout_s);
	r = conn_open(p->c, p->o.host, p->o.port);
	if (r < 0)
		return net_error(p->c, "broker address", r);
	/* QoS -1: no connection, fire and forget. */
	if (p->o.qos == -1)
		return pub_messages(p, stdin_data, stdin_len, false);

	r = session_connect(p->c);
	if (!r && t->type == MQTTSN_TOPIC_NORMAL)
		r = pub_register(p);
	if (!r)
		r = pub_messages(p, stdin_data, stdin_len, true);
	session_disconnect(p->c);
	if (!r && p->late_rc >= 0)
		r = refused(p->c, "publish", p->late_rc);
	return r;
}

int pso_cmd_pub(int argc, char **argv)
{
	struct pub p = { .late_rc = -1 };
	uint8_t *stdin_data = NULL;
	size_t stdin_len = 0;
	int r;

	r = parse_opts(&p.o, true, argc, argv);
	if (r) {
		free(p.o.topics);
		return r == 1 ? 0 : r;
	}
	if (p.o.source == SRC_STDIN) {
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

/* ---- sub ---------------------------------------------------------------- */

struct topic_name {
	uint16_t id;
	char *name;
};

struct sub {
	struct opts o;
	struct conn *c;
	struct topic_name *names;	/* learned from SUBACK and REGISTER */
	size_t n_names;
	uint16_t qos2_pending[QOS2_PENDING];	/* PUBREC sent, PUBREL not yet */
	size_t n_pending;
	long received;
	bool done;
};

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

	if (s->o.verbose)
		sub_print_topic(s, m);
	if (s->o.hex)
		for (i = 0; i < m->data_len; i++)
			printf("%02x", m->data[i]);
	else
		fwrite(m->data, 1, m->data_len, stdout);
	if (!s->o.no_newline)
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

static int sub_on_publish(struct sub *s, const struct mqttsn_msg *m)
{
	int qos = mqttsn_flags_qos(m->flags);
	bool deliver = true;

	/* QoS 2 is exactly once: a resend before PUBREL is not a new message. */
	if (qos == 2) {
		deliver = !qos2_seen(s, m->msg_id, false);
		if (deliver)
			qos2_remember(s, m->msg_id);
	}
	if (s->o.no_retained && (m->flags & MQTTSN_FLAG_RETAIN))
		deliver = false;
	if (deliver && !s->done) {
		sub_print(s, m);
		if (s->o.count && ++s->received >= s->o.count)
			s->done = true;
	}
	if (qos == 1)
		return send_ack(s->c, MQTTSN_PUBACK, m->topic_id, m->msg_id);
	if (qos == 2)
		return send_ack(s->c, MQTTSN_PUBREC, 0, m->msg_id);
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
		return r < 0 ? r : answer_common(c, m);
	case MQTTSN_PUBREL:
		qos2_seen(s, m->msg_id, true);
		return send_ack(c, MQTTSN_PUBCOMP, 0, m->msg_id);
	}
	return answer_common(c, m);
}

static int sub_subscribe(struct sub *s, const struct topic_arg *t)
{
	struct mqttsn_msg req = {
		.type = MQTTSN_SUBSCRIBE,
		.flags = mqttsn_qos_flags(s->o.qos) | t->type,
		.msg_id = next_msg_id(s->c),
		.topic_id = t->id,
	}, resp;
	int r;

	if (t->type == MQTTSN_TOPIC_NORMAL) {
		req.data = (const uint8_t *)t->name;
		req.data_len = strlen(t->name);
	}
	r = conn_request(s->c, &req, BIT(MQTTSN_SUBACK), &resp, TRIES, RETRY_MS);
	if (r < 0)
		return net_error(s->c, "SUBACK", r);
	if (resp.return_code != MQTTSN_RC_ACCEPTED)
		return refused(s->c, "subscribe", resp.return_code);
	/* A plain name gets its id here; a filter's topics come by REGISTER. */
	if (t->type == MQTTSN_TOPIC_NORMAL && !strpbrk(t->name, "+#") && resp.topic_id &&
	    sub_learn_name(s, resp.topic_id, req.data, req.data_len) < 0)
		return net_error(s->c, "SUBACK", -ENOMEM);
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

static bool deadline_passed(const struct conn *c)
{
	return c->deadline && now_ms() >= c->deadline;
}

/* Receive until -C is reached; PINGREQ every keep-alive period.  0 done,
 * negative errno from the transport, or an exit code already reported. */
static int sub_loop(struct sub *s)
{
	int64_t period = (int64_t)s->o.keepalive * 1000;
	int64_t next_ping = period ? now_ms() + period : INT64_MAX;
	struct mqttsn_msg m;
	int r;

	while (!s->done) {
		r = conn_recv(s->c, &m, next_ping);
		if (r == 0) {
			r = ping(s->c);
			if (r == -ETIMEDOUT && !deadline_passed(s->c))
				return net_error(s->c, "PINGRESP", r);
			if (r < 0)
				return r;
			next_ping = now_ms() + period;
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
	int64_t until = now_ms() + GOODBYE_MS;
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

static int sub_run(struct sub *s)
{
	size_t i;
	int r;

	set_deadline(s->c, s->o.timeout_s);
	r = conn_open(s->c, s->o.host, s->o.port);
	if (r < 0)
		return net_error(s->c, "broker address", r);
	r = session_connect(s->c);
	for (i = 0; !r && i < s->o.n_topics; i++)
		r = sub_subscribe(s, &s->o.topics[i]);
	if (!r)
		r = sub_loop(s);
	if (!r)
		r = sub_drain_qos2(s);
	s->done = true;		/* print nothing more */
	if (r == -ETIMEDOUT)
		r = sub_timeout(s);
	else if (r < 0)
		r = net_error(s->c, "PUBLISH", r);
	session_disconnect(s->c);
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

	r = parse_opts(&s.o, false, argc, argv);
	if (r) {
		free(s.o.topics);
		return r == 1 ? 0 : r;
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
