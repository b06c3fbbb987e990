/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * conn.h - what `psoffload pub` and `psoffload sub` share: the options
 * both take, and the MQTT-SN client connection.
 *
 *   options     struct client_opts, filled from each command's option table
 *               by the entries and handlers below
 *   transport   one connected UDP socket: send, receive with a deadline, and
 *               request/response with retransmission (DUP on PUBLISH and
 *               SUBSCRIBE); whatever arrives that is not the awaited answer
 *               goes to the command's handler, so a subscriber keeps
 *               printing while it waits for PINGRESP
 *   session     connect, disconnect, ping, acks
 *
 * Transport functions return a negative errno; the flow that knows what it
 * was waiting for turns it into the one line the user sees with
 * conn_net_error() or conn_refused(), which return the exit code 1.
 */
#ifndef PSO_CONN_H
#define PSO_CONN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netdb.h>

#include "proto/mqttsn.h"
#include "util/opts.h"

#define RETRY_MS	1000	/* wait for an answer before retransmitting */
#define TRIES		5	/* sends of one request before giving up */
#define GOODBYE_MS	1000	/* wait for the broker's DISCONNECT */

#define BIT(type)	(1u << (type))

/* ---- Options ----------------------------------------------------------- */

struct topic_arg {
	uint8_t type;		/* MQTTSN_TOPIC_NORMAL, _PREDEFINED, _SHORT */
	const char *name;	/* NORMAL: topic name or filter */
	uint16_t id;		/* PREDEFINED: the id; SHORT: the 2 characters */
};

struct client_opts {
	bool is_pub;		/* one topic, no filter; QoS -1 allowed */
	const char *prog;	/* "psoffload pub" */
	const char *host;
	unsigned int port;
	char port_s[8];		/* port as text: getaddrinfo, messages */
	struct topic_arg *topics;	/* -t, -i, -T in order; free() it */
	size_t n_topics;
	int qos;
	const char *client_id;
	char default_id[24];
	unsigned int keepalive;
	unsigned int timeout_s;	/* -W; 0 = none */
	bool debug;
	long count;		/* -C; 0 = unlimited (sub) / 1 (pub) */
	bool keep_session;	/* -c: CONNECT without CleanSession */
	/* --will-*: the will the broker publishes when this client is lost */
	const char *will_topic;
	const char *will_payload;
	int will_qos;
	bool will_retain;
};

/* Defaults; pub's -W is 10 s, sub waits forever. */
void client_opts_init(struct client_opts *o, bool is_pub);
/* After pso_opts_parse(): PSO_OPTS_RUN, or 2 after one line. */
int client_opts_check(const struct pso_opt_spec *spec, struct client_opts *o);

/* PSO_OPT_FUNC handlers; their field is the struct client_opts. */
int client_opt_topic(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		     const char *arg, void *field);
int client_opt_topic_id(const struct pso_opt_spec *spec, const struct pso_opt *opt,
			const char *arg, void *field);
int client_opt_short_topic(const struct pso_opt_spec *spec, const struct pso_opt *opt,
			   const char *arg, void *field);
int client_opt_id(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		  const char *arg, void *field);

/* Table entries both commands have, in a settings struct T whose member
 * `o` is the struct client_opts. */
#define CLIENT_OPT(T, f)	PSO_OPT_FIELD(T, o.f)
#define CLIENT_OPT_HOST(T)						\
	{ "host", 'h', PSO_OPT_STRING, CLIENT_OPT(T, host), .arg = "HOST",	\
	  .help = "broker name or address, IPv4 or IPv6 (localhost)" }
#define CLIENT_OPT_PORT(T)						\
	{ "port", 'p', PSO_OPT_UINT, CLIENT_OPT(T, port), .min = 1, .max = 65535, \
	  .arg = "PORT", .help = "broker UDP port (1883)" }
#define CLIENT_OPT_TOPIC_ID(T)						\
	{ "topic-id", 'i', PSO_OPT_FUNC, PSO_OPT_FIELD(T, o), .arg = "ID",	\
	  .fn = client_opt_topic_id, .min = 1, .max = 0xfffe,		\
	  .help = "predefined topic id" }
#define CLIENT_OPT_SHORT_TOPIC(T)					\
	{ "short-topic", 'T', PSO_OPT_FUNC, PSO_OPT_FIELD(T, o), .arg = "XX",	\
	  .fn = client_opt_short_topic, .help = "two-character short topic name" }
#define CLIENT_OPT_ID(T)						\
	{ "id", 'I', PSO_OPT_FUNC, CLIENT_OPT(T, client_id), .arg = "CLIENT_ID",	\
	  .fn = client_opt_id,						\
	  .help = "client id, 1 to 23 characters (pso-CMD-PID)" }
#define CLIENT_OPT_KEEPALIVE(T)						\
	{ "keepalive", 'k', PSO_OPT_UINT, CLIENT_OPT(T, keepalive), .min = 0,	\
	  .max = 65535, .unit = "seconds", .arg = "SECONDS",		\
	  .help = "keep-alive period (60)" }
/* The will (MQTT-SN 6.3): given to the broker with CONNECT. */
#define CLIENT_OPT_WILL(T)						\
	{ "will-topic", 0, PSO_OPT_STRING, CLIENT_OPT(T, will_topic), .arg = "TOPIC",	\
	  .help = "a will: published on TOPIC if this client is lost\n"	\
		  "(no DISCONNECT: keep-alive expiry, a takeover)" },		\
	{ "will-payload", 0, PSO_OPT_STRING, CLIENT_OPT(T, will_payload), .arg = "MSG",	\
	  .help = "the will's message (empty)" },				\
	{ "will-qos", 0, PSO_OPT_INT, CLIENT_OPT(T, will_qos), .min = 0, .max = 2,	\
	  .arg = "QOS", .help = "the will's QoS (0)" },				\
	{ "will-retain", 0, PSO_OPT_FLAG, CLIENT_OPT(T, will_retain),		\
	  .help = "publish the will as the topic's retained message" }
#define CLIENT_OPT_DEBUG(T)						\
	{ "debug", 'd', PSO_OPT_FLAG, CLIENT_OPT(T, debug),		\
	  .help = "print every message sent and received on stderr" }
#define CLIENT_OPT_HELP							\
	{ "help", 0, PSO_OPT_HELP, .help = "this text" }

/* ---- Transport --------------------------------------------------------- */

struct conn;
/* A message that is not the answer being waited for; < 0 stops the wait. */
typedef int (*conn_handler)(struct conn *c, const struct mqttsn_msg *m, void *ctx);

struct conn {
	const struct client_opts *o;
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

/* CLOCK_MONOTONIC in ms. */
int64_t conn_now_ms(void);

struct conn *conn_new(const struct client_opts *o);
void conn_free(struct conn *c);
/* Resolve o->host and o->port_s, connect a socket to the first address. */
int conn_open(struct conn *c);
int conn_send(struct conn *c, const struct mqttsn_msg *m);
/* Next well-formed message before `until` (ms).  1: got one; 0: `until`
 * passed; -ETIMEDOUT: the overall deadline passed; -EINTR: stop signal;
 * other negative errno from the socket (-ECONNREFUSED: nobody listens). */
int conn_recv(struct conn *c, struct mqttsn_msg *m, int64_t until);
/* Send req and wait for a message of a type in `want` (with req's msg id
 * where the answer carries one); resend every interval_ms, `tries` sends in
 * all, marking PUBLISH and SUBSCRIBE resends DUP.  Anything else received
 * meanwhile goes to the handler; a DISCONNECT not asked for ends the wait
 * with -ECONNRESET.  0, or negative errno (-ETIMEDOUT: no answer). */
int conn_request(struct conn *c, struct mqttsn_msg *req, uint32_t want,
		 struct mqttsn_msg *resp, int tries, int interval_ms);

uint16_t conn_next_msg_id(struct conn *c);
/* The overall deadline, seconds from now; 0: none. */
void conn_set_deadline(struct conn *c, unsigned int seconds);
bool conn_deadline_passed(const struct conn *c);

/* ---- Errors ------------------------------------------------------------ */

/* The one line for a transport failure while waiting for `answer`;
 * returns the exit code 1.  A stop request (-EINTR) is no news. */
int conn_net_error(const struct conn *c, const char *answer, int err);
/* "PROG: WHAT refused: REASON (0xRC)"; returns 1. */
int conn_refused(const struct conn *c, const char *what, uint8_t rc);

/* ---- Session ----------------------------------------------------------- */

/* CONNECT (clean session) and CONNACK; 0 or an exit code already reported. */
int conn_connect(struct conn *c);
/* Say goodbye and give the broker a moment to answer; nothing it does now
 * changes the outcome. */
void conn_disconnect(struct conn *c);
int conn_send_ack(struct conn *c, uint8_t type, uint16_t topic_id, uint16_t msg_id);
/* Messages either client answers whatever it is doing (PINGREQ, REGISTER). */
int conn_answer_common(struct conn *c, const struct mqttsn_msg *m);
/* 0, or negative errno (-ETIMEDOUT: no PINGRESP, or the deadline passed). */
int conn_ping(struct conn *c);

#endif /* PSO_CONN_H */
