/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * session.h - inside the protocol layer: clients, their subscriptions and
 * the (client, topic) pairs that deliveries follow.
 *
 * Who subscribes to what is held once, in two linked forms:
 *   - struct pso_subscription: what a client asked for (a name, a filter, a
 *     predefined id or a short name); a filter lists the topics it took;
 *   - struct pso_hold: one per (client, topic), counting the subscriptions
 *     of that client that want the topic; it owns the client's slot in the
 *     topic's data-plane table, and is linked into the topic's list, which
 *     host-path delivery walks.
 * The table writer keeps its own shadow of the maps; this layer never reads
 * it except through ops->slot_served().
 */
#ifndef PSO_SESSION_H
#define PSO_SESSION_H

#include "proto/mqttsn.h"
#include "proto/proto.h"
#include "util/endpoint.h"
#include "util/ratelimit.h"

enum pso_sub_kind { PSO_SUB_NAME, PSO_SUB_FILTER, PSO_SUB_PREDEFINED, PSO_SUB_SHORT };

struct pso_subscription {
	enum pso_sub_kind kind;
	int qos;		/* granted: 0, 1 or 2 */
	char *filter;		/* name, filter or short name; NULL for predefined */
	uint16_t topic_id;	/* the topic of a non-filter subscription */
	uint16_t *ids;		/* a filter's topics, each holding one ref */
	int nids;
};

struct pso_client;

/*
 * The form a subscriber knows a topic by, which every publish it receives
 * must carry (MQTT-SN TopicIdType): the normal id it was told (SUBACK,
 * REGACK, REGISTER), the predefined id it subscribed with, or the short
 * name.  The data plane writes the first two per copy (PSO_SUB_F_PREDEFINED
 * in the slot); short-name subscribers are served by the daemon.
 */
enum pso_form { PSO_FORM_NORMAL, PSO_FORM_PREDEFINED, PSO_FORM_SHORT };

struct pso_hold {
	struct pso_client *c;
	uint16_t id;
	uint16_t refs;		/* subscriptions of c that want topic id */
	enum pso_form form;	/* of the subscription that took the slot */
	int qos;		/* the highest granted by those subscriptions */
	bool told;		/* the client knows the id (REGISTER sent, or it
				 * named the topic itself) */
	bool retain_owed;	/* its retained message waits for validation */
	bool slotless;		/* connected, but the topic's slots were full:
				 * the daemon delivers to it (PSO_TOPIC_F_HOST) */
	struct pso_hold *next, *prev;	/* the topic's list */
};

#define PSO_QOS2_PENDING_MAX 16

/* A QoS 1/2 delivery owed to a session (outbox.c). */
enum pso_out_state { PSO_OUT_QUEUED, PSO_OUT_WAIT_ACK, PSO_OUT_WAIT_COMP };

struct pso_outmsg {
	struct pso_outmsg *next;
	enum pso_out_state state;
	uint16_t msg_id;	/* the broker's, 0 until first sent */
	bool sent_before;	/* a resend carries DUP */
	uint8_t flags;		/* QoS, RETAIN, TopicIdType as the client gets them */
	uint16_t topic_field;	/* the id, or the short name's two characters */
	size_t len;
	uint8_t data[];
};

/* The defaults of pso_limits.outbox and .sleep_buffer. */
#define PSO_OUTBOX_MAX 64	/* QoS 1/2 deliveries queued per session */
#define PSO_SLEEP_BUFFER_MAX 64	/* QoS 0 publishes kept for a sleeping client */

/* A client's will (MQTT-SN 6.2-6.4): published when the client is lost
 * (keep-alive, a takeover), never after its DISCONNECT. */
struct pso_will {
	char *topic;		/* NULL: no will */
	uint8_t flags;		/* QoS and RETAIN to publish it with */
	uint8_t *msg;
	size_t len;
};

/*
 * Address validation of a connection (validate.c, RFC 9000 section 8.1):
 * until the endpoint echoes a value only a receiver of the broker's
 * datagrams can know, the broker sends it at most 3 x the bytes it
 * received from it, the data plane sends it nothing and publishes for it
 * wait here.
 */
struct pso_valid {
	bool ok;			/* proven, or trusted */
	bool proven_once;		/* on some connection of this session */
	uint16_t challenge;		/* the MsgId of the broker's REGISTER */
	uint64_t rx_bytes, tx_bytes;	/* while unproven */
	uint64_t since_ms;		/* the CONNECT */
	uint64_t sent_ms;		/* the REGISTER last sent (0: not yet) */
	uint32_t tries;
	struct pso_outmsg *held_head, *held_tail;	/* QoS 0 publishes */
	uint32_t held_len;
	size_t held_bytes;
};

/* Where a CONNECT with the Will flag stands. */
enum pso_will_step { PSO_WILL_DONE, PSO_WILL_WAIT_TOPIC, PSO_WILL_WAIT_MSG };

/*
 * A session.  Connected, it has an endpoint, an entry in the client table
 * and a slot for every hold.  A session that asked to be kept (CleanSession
 * 0) outlives its connection: offline it keeps its subscriptions and holds,
 * with no endpoint and no table entry, until the client connects again
 * (from any endpoint) or the session expires (pso_proto_cfg.session_expiry_s).
 */
struct pso_client {
	struct pso_endpoint ep;		/* while connected */
	struct in6_pktinfo local;	/* broker address the client talks to */
	char id[MQTTSN_CLIENT_ID_MAX + 1];
	bool connected;
	bool clean;			/* CleanSession: the session ends with the connection */
	uint64_t lost_ms;		/* offline since */
	uint16_t keepalive_s;		/* as granted (quota.c) */
	uint16_t keepalive_asked;	/* as the CONNECT asked */
	uint64_t last_seen_ms;
	uint64_t fast_rx;		/* last ops->client_rx() seen */
	struct pso_sub slot;		/* delivery template: where it is reached */
	struct pso_subscription *subs;
	int nsubs;
	struct pso_hold **held;
	int nheld;
	uint16_t qos2_pending[PSO_QOS2_PENDING_MAX];
	int nqos2;
	uint16_t next_msg_id;
	/* QoS 1/2 deliveries: head in flight, the rest waiting behind it */
	struct pso_outmsg *out_head, *out_tail;
	uint32_t out_len;
	uint64_t out_sent_ms;
	uint32_t out_tries;
	struct pso_will will;
	enum pso_will_step will_step;
	struct pso_valid v;
	uint64_t unknown_reply_ms;	/* next "invalid topic id" PUBACK to QoS 0 */
	/* Sleeping (sleep.c): asleep, awake for a PINGREQ, the QoS 0
	 * publishes buffered meanwhile */
	bool asleep, awake;
	uint16_t sleep_s;
	struct pso_outmsg *zz_head, *zz_tail;
	uint32_t zz_len;	/* CONNACK waits for WILLTOPIC, WILLMSG */
	/* Behind a forwarder (MQTT-SN 5.5; fwd.node_len > 0): the client is
	 * (forwarder endpoint, wireless node id), and everything to it goes
	 * wrapped to the forwarder.  Its `ep` is then a placeholder of the
	 * discard prefix 100::/64, unique per client, that keys its (never
	 * servable) slots, so the data plane passes its topics' publishes up. */
	struct mqttsn_encap fwd;
	struct pso_endpoint fwd_ep;
	struct in6_pktinfo fwd_local;
	struct pso_client *next_ep, *next_id, *next_fwd;	/* hash chains */
	/* Its filter (wildcard) subscriptions, and its place in the list of
	 * the sessions that have any: a new topic is offered to those only. */
	int nfilters;
	struct pso_client *next_filter, *prev_filter;
	/* What it holds against its quotas (quota.c) besides nsubs, nheld,
	 * out_len and zz_len: topics it created, retained bytes it stored. */
	uint32_t ncreated;
	uint64_t retained_bytes;
	/* Every registered topic id the session knows (recycle.c), sorted:
	 * kept while the session lasts, so those topics are never freed. */
	uint16_t *known;
	uint32_t nknown, known_cap;
};

struct pso_retained {
	struct pso_client *owner;	/* who stored it; NULL: gone, or none */
	uint8_t flags;
	size_t len;
	uint8_t data[];
};

/* Buckets of the session tables: chains stay short up to about 100,000
 * sessions (65,536: 1.5 MB of heads for the three). */
#define PSO_CLIENT_HASH_SIZE 65536

struct pso_proto {
	struct pso_proto_cfg cfg;
	const struct pso_proto_ops *ops;
	void *ctx;
	struct pso_registry *reg;
	struct pso_client *by_ep[PSO_CLIENT_HASH_SIZE];
	struct pso_client *by_id[PSO_CLIENT_HASH_SIZE];	/* every session */
	struct pso_client *by_fwd[PSO_CLIENT_HASH_SIZE];	/* behind forwarders */
	struct pso_client *filter_clients;	/* sessions with nfilters > 0 */
	uint64_t fwd_placeholders;		/* placeholder endpoints handed out */
	uint32_t nclients;		/* connected */
	uint32_t nsessions;		/* connected or kept */
	bool refusing;			/* pso_proto_set_refusing */
	bool shared_ids;		/* pso_proto_share_topic_ids */
	struct pso_hold **topic_holds;		/* by topic id: list heads */
	uint32_t *slotless;			/* by topic id: its slotless holds */
	struct pso_retained **retained;		/* by topic id */
	uint64_t now_ms;
	/* pso_proto_shutdown(): the next client to hear DISCONNECT */
	int bye_bucket;				/* by_ep index; PSO_CLIENT_HASH_SIZE: done */
	struct pso_client *bye_next;
	bool bye_started;
	uint32_t unknown_tokens;		/* pso_reply_unknown()'s bucket */
	uint64_t unknown_refill_ms;
	/* validate.c: the topic its REGISTERs name (0: not registered yet),
	 * wrong echoes per source address, the bytes held for all sessions */
	uint16_t valid_topic;
	struct pso_guess *guesses;
	uint32_t guess_seed;
	uint64_t valid_held_bytes;
	/* recycle.c, by topic id: when last in use (0: not seen yet), the
	 * sessions that know the id, when a reused id got its topic
	 * (CLOCK_REALTIME ns; 0: a fresh id), when it was freed (0: not
	 * freed); the quarantined ids, and the last sweep. */
	uint64_t *topic_used_ms;
	uint32_t *known_by;
	uint64_t *topic_born_ns;
	uint64_t *freed_ms;
	uint16_t *quarantine;
	uint32_t nquarantine;
	uint64_t sweep_ms;
	struct pso_proto_stats stats;
	/* Limits (quota.c): totals over every client, per-source buckets. */
	uint64_t retained_bytes;
	uint32_t buffered;		/* outbox and sleep-buffer messages */
	struct pso_rl *rl;
	uint8_t txbuf[MQTTSN_MAX_MSG];
};

/* ---- session.c: clients and holds ---- */
struct pso_client *pso_client_find(struct pso_proto *p, const struct pso_endpoint *ep);
struct pso_client *pso_client_find_id(struct pso_proto *p, const char *id);
/* A new client at ep, in both hash tables; NULL when out of memory. */
struct pso_client *pso_client_new(struct pso_proto *p, const struct pso_endpoint *ep,
				  const struct in6_pktinfo *local, const char *id);
/* End the session: every slot and the client's table entry go (when
 * connected), then the session itself; logged with why. */
void pso_client_remove(struct pso_proto *p, struct pso_client *c, const char *why);
/* c gained (delta 1) or lost (-1) a filter subscription: it joins or
 * leaves p->filter_clients as its count leaves or reaches 0. */
void pso_client_filters_add(struct pso_proto *p, struct pso_client *c, int delta);
/* The connection ends, the session stays (CleanSession 0): slots and the
 * client's table entry go, subscriptions and holds stay. */
void pso_client_detach(struct pso_proto *p, struct pso_client *c);
/* A kept session at an endpoint again (its client-table entry added by the
 * caller): every hold gets its slot back, not servable until
 * pso_client_enable(); a hold whose topic's table is full is dropped with
 * the subscription that wants it (counted as congestion, logged). */
void pso_client_attach(struct pso_proto *p, struct pso_client *c, const struct pso_endpoint *ep,
		       const struct in6_pktinfo *local);
/* Every topic c holds a slot in (its slotless holds left out). */
int pso_client_held_ids(const struct pso_client *c, uint16_t *ids);
/* Fill c->slot from ops->resolve(). */
void pso_client_resolve(struct pso_proto *p, struct pso_client *c);
void pso_client_log_next_hop(struct pso_proto *p, const struct pso_client *c);

/*
 * One more subscription of c wants topic id.  The first takes a slot in the
 * topic's table, not servable until pso_client_enable(): the client first
 * learns (SUBACK, REGISTER) what it will receive.  *added tells whether this
 * call took the slot.  When the topic's table is full: -ENOSPC, or with
 * overflow (a filter's topics: the SUBACK covers many) a hold without a
 * slot, which the daemon serves (the topic gets PSO_TOPIC_F_HOST).
 * -EDQUOT when c holds its share of topics (pso_limits.holds; counted).
 */
int pso_client_hold(struct pso_proto *p, struct pso_client *c, uint16_t id, enum pso_form form,
		    bool overflow, bool *added);
struct pso_hold *pso_client_hold_of(const struct pso_client *c, uint16_t id);
/* Drop one ref on each topic; the slots no subscription wants any more
 * leave the tables together. */
void pso_client_release(struct pso_proto *p, struct pso_client *c, const uint16_t *ids, int n);
/* Write c's delivery template, in each topic's form, into its slots of
 * these topics. */
void pso_client_enable(struct pso_proto *p, struct pso_client *c, const uint16_t *ids, int n);

void pso_subscription_free(struct pso_subscription *s);

/* ---- forward.c: clients behind forwarders ---- */
static inline bool pso_client_forwarded(const struct pso_client *c)
{
	return c->fwd.node_len > 0;
}
struct pso_client *pso_fwd_find(struct pso_proto *p, const struct pso_endpoint *fwd_ep,
				const struct mqttsn_encap *e);
/* A new placeholder endpoint for a client behind a forwarder. */
void pso_fwd_placeholder(struct pso_proto *p, struct pso_endpoint *ep);
/* c is reached through this forwarder now (e NULL: directly). */
void pso_fwd_set(struct pso_proto *p, struct pso_client *c, const struct mqttsn_encap *e,
		 const struct pso_endpoint *fwd_ep, const struct in6_pktinfo *fwd_local);
/* Send m wrapped for node e through the forwarder at ep. */
int pso_fwd_send(struct pso_proto *p, const struct pso_endpoint *ep,
		 const struct in6_pktinfo *local, const struct mqttsn_encap *e,
		 const struct mqttsn_msg *m);

/* ---- deliver.c: sending, host-path delivery, retained messages ---- */
/* To a client, wrapped when it is behind a forwarder. */
/* -ENOBUFS: over an unproven client's budget (validate.c), not sent. */
int pso_send_to(struct pso_proto *p, struct pso_client *c, const struct mqttsn_msg *m);
int pso_send_to_simple(struct pso_proto *p, struct pso_client *c, uint8_t type);
int pso_send_msg(struct pso_proto *p, const struct pso_endpoint *ep,
		 const struct in6_pktinfo *local, const struct mqttsn_msg *m);
int pso_send_simple(struct pso_proto *p, const struct pso_endpoint *ep,
		    const struct in6_pktinfo *local, uint8_t type);
int pso_send_register(struct pso_proto *p, struct pso_client *c, uint16_t id, const char *name);
/* A reply to an endpoint with no session: at most PSO_UNKNOWN_REPLIES_PER_S
 * a second in all (the rest counted in unknown_dropped). */
#define PSO_UNKNOWN_REPLIES_PER_S 50
int pso_reply_unknown(struct pso_proto *p, const struct pso_endpoint *ep,
		      const struct in6_pktinfo *local, uint8_t type);
/* Takes one of that bound's replies: false when none is left (counted). */
bool pso_unknown_reply_allowed(struct pso_proto *p);
/* A publish on topic id to every subscriber the data plane did not serve
 * (judged: it served the servable ones; else it served none). */
void pso_deliver(struct pso_proto *p, uint16_t id, uint8_t family, bool judged, int qos,
		 uint64_t rx_ns, const uint8_t *data, size_t len);
/* The highest QoS the subscriptions of c that want topic id granted. */
int pso_hold_qos(const struct pso_client *c, uint16_t id);
/* Topic id's retained message, stored by c (NULL: a QoS -1 sender);
 * pso_quota_retain() said it may be. */
void pso_retain_store(struct pso_proto *p, struct pso_client *c, uint16_t id, uint8_t flags,
		      const uint8_t *data, size_t len);
void pso_retain_send(struct pso_proto *p, struct pso_client *c, uint16_t id);
/* The form a subscription of this kind gives its topics. */
enum pso_form pso_form_of(enum pso_sub_kind kind);

/* ---- outbox.c: QoS 1/2 deliveries ---- */
/* A session's queues (the outbox, the sleep buffer, what waits for the
 * address check) hold struct pso_outmsg: a copy of one message, appended
 * at the tail, taken from the head (NULL when empty). */
struct pso_outmsg *pso_outmsg_new(uint8_t flags, uint16_t topic_field, const uint8_t *data,
				  size_t len);
void pso_outmsg_append(struct pso_outmsg **head, struct pso_outmsg **tail, struct pso_outmsg *o);
struct pso_outmsg *pso_outmsg_pop(struct pso_outmsg **head, struct pso_outmsg **tail);
/* Queue one delivery (flags: its QoS 1 or 2, RETAIN, TopicIdType); sent
 * when it reaches the head.  -ENOSPC when the outbox is full (counted). */
int pso_outbox_add(struct pso_proto *p, struct pso_client *c, uint8_t flags, uint16_t topic_field,
		   const uint8_t *data, size_t len);
/* PUBACK, PUBREC or PUBCOMP from the client. */
void pso_outbox_ack(struct pso_proto *p, struct pso_client *c, uint8_t type, uint16_t msg_id);
/* Retransmit or give up what waits too long. */
void pso_outbox_tick(struct pso_proto *p, struct pso_client *c);
/* The client went away / is back (kept sessions). */
void pso_outbox_away(struct pso_client *c);
void pso_outbox_back(struct pso_proto *p, struct pso_client *c);
void pso_outbox_free(struct pso_proto *p, struct pso_client *c);

/* ---- will.c ---- */
/* WILLTOPIC, WILLMSG (during CONNECT), WILLTOPICUPD, WILLMSGUPD: the reply
 * to send, 0 when none.  *connected: the CONNECT is complete now. */
uint8_t pso_will_input(struct pso_proto *p, struct pso_client *c, const struct mqttsn_msg *m,
		       struct mqttsn_msg *reply, bool *connected);
/* Move c's will out (c has none after). */
struct pso_will pso_will_take(struct pso_client *c);
/* Publish a will taken from a lost client, then free it. */
void pso_will_publish(struct pso_proto *p, struct pso_will *w, const char *client_id);
void pso_will_free(struct pso_will *w);

/* ---- sleep.c: sleeping clients ---- */
void pso_sleep_start(struct pso_proto *p, struct pso_client *c, uint16_t duration_s);
/* A QoS 0 publish for a sleeper (the oldest dropped when full). */
int pso_sleep_buffer(struct pso_proto *p, struct pso_client *c, uint8_t flags,
		     uint16_t topic_field, const uint8_t *data, size_t len);
void pso_sleep_ping(struct pso_proto *p, struct pso_client *c);
/* The outbox of a client awake for a PINGREQ emptied: PINGRESP. */
void pso_sleep_outbox_done(struct pso_proto *p, struct pso_client *c);
/* Everything a session is owed, in order: REGISTERs of the topics it does
 * not know, its slots servable (enable_slots), the buffered QoS 0
 * publishes, then its outbox. */
void pso_session_owed(struct pso_proto *p, struct pso_client *c, bool enable_slots);
void pso_sleep_free(struct pso_proto *p, struct pso_client *c);
/* A sleeper that is not awake, or a client that has not proven its
 * address, gets nothing now. */
static inline bool pso_client_reachable(const struct pso_client *c)
{
	return c->connected && c->v.ok && (!c->asleep || c->awake);
}
/* The outbox may send: an unproven client may get a QoS 1/2 delivery
 * within its budget, since acknowledging it proves the address. */
static inline bool pso_outbox_may_send(const struct pso_client *c)
{
	return c->connected && (!c->asleep || c->awake);
}

/* ---- validate.c: address validation (RFC 9000 section 8.1) ---- */
/* The name of the topic the broker's challenge REGISTER carries. */
#define PSO_VALID_TOPIC "$pso/v"
#define PSO_VALID_HELD_MAX 64		/* publishes held per session */
#define PSO_VALID_HELD_BYTES_MAX (8u << 20)	/* for all sessions together */
#define PSO_VALID_GUESS_BURST 4		/* wrong echoes per address ... */
#define PSO_VALID_GUESS_REFILL_MS 5000	/* ... and one more this often */
#define PSO_VALID_GUESS_TABLE 1024
#define PSO_VALID_EXPIRY_S 30		/* pso_proto_cfg.unvalidated_s 0 */

int pso_valid_init(struct pso_proto *p);
/* A CONNECT at this endpoint (rx_len bytes came with it): proven when
 * trusted, else a new challenge. */
void pso_valid_start(struct pso_proto *p, struct pso_client *c, size_t rx_len);
/* rx_len more bytes from c's endpoint. */
void pso_valid_rx(struct pso_client *c, size_t rx_len);
/* Sending m to c fits its budget (counted when it does not). */
bool pso_valid_may_send(struct pso_proto *p, struct pso_client *c, const struct mqttsn_msg *m);
/* The challenge REGISTER, after the CONNACK. */
void pso_valid_challenge(struct pso_proto *p, struct pso_client *c);
/* A REGACK, PUBACK, PUBREC or PUBCOMP from an unproven c: true when it
 * echoes what the broker sent (then call pso_valid_proved()). */
bool pso_valid_answer(struct pso_proto *p, struct pso_client *c, uint8_t type, uint16_t msg_id);
/* Proven: what waited goes out (REGISTERs, retained messages, the held
 * publishes), its slots become servable, then its outbox. */
void pso_valid_proved(struct pso_proto *p, struct pso_client *c);
/* A QoS 0 publish for an unproven client (the oldest dropped when full). */
int pso_valid_hold(struct pso_proto *p, struct pso_client *c, uint8_t flags,
		   uint16_t topic_field, const uint8_t *data, size_t len);
/* Periodic: resend the challenge, end sessions past unvalidated_s; true
 * when c is gone or offline now. */
bool pso_valid_tick(struct pso_proto *p, struct pso_client *c);
void pso_valid_free(struct pso_proto *p, struct pso_client *c);
/* ---- quota.c: what a client may hold, how fast a source may ask ---- */
/* The keep-alive (or sleep duration) a client gets for the one it asked. */
uint16_t pso_quota_keepalive(struct pso_proto *p, uint16_t asked);
/* May a datagram of this type from source src be handled now?  false:
 * drop it, unanswered (counted). */
bool pso_quota_source(struct pso_proto *p, const struct pso_endpoint *src, uint8_t type);
/* One more subscription / hold for c?  false: refused (counted). */
bool pso_quota_subscription(struct pso_proto *p, struct pso_client *c);
bool pso_quota_hold(struct pso_proto *p, struct pso_client *c);
/* pso_topic_register() on c's behalf: -EDQUOT (counted) when the name is
 * new and c created its share of topics already.  c NULL: no quota. */
int pso_quota_topic_register(struct pso_proto *p, struct pso_client *c, const char *name,
			     size_t len, uint16_t *id);
/* May c's retained publish of len bytes replace topic id's?  0, -EDQUOT
 * (c's share) or -ENOBUFS (everyone's), counted. */
int pso_quota_retain(struct pso_proto *p, const struct pso_client *c, uint16_t id, size_t len);
/* Topic id's retained message becomes r (NULL: none), stored by c. */
void pso_quota_retained_set(struct pso_proto *p, uint16_t id, struct pso_retained *r,
			    struct pso_client *c);
/* One more message buffered (outbox or sleep buffer) in all?  false:
 * refused (counted). */
bool pso_quota_buffer(struct pso_proto *p);
/* Every buffer together is at its limit (nothing counted). */
bool pso_quota_buffers_full(const struct pso_proto *p);
/* c ends: what it stored stays, no longer its. */
void pso_quota_client_gone(struct pso_proto *p, struct pso_client *c);

/* ---- handlers.c ---- */
/* Find or assign a topic id; a new topic is made known to the data plane
 * and offered to the wildcard subscriptions that match it. */
int pso_topic_register(struct pso_proto *p, const char *name, size_t len, uint16_t *id);
/* A topic new to the registry (registered, or predefined by a reload). */
void pso_topic_created(struct pso_proto *p, uint16_t id, const char *name);
/* The topic's PSO_TOPIC_F_* for the data plane: its QoS -1 policy, and
 * PSO_TOPIC_F_HOST while it has slotless holds. */
uint8_t pso_topic_policy(const struct pso_proto *p, uint16_t id);
/* Tell the data plane the topic's flags again (ops->topic_set). */
int pso_topic_refresh(struct pso_proto *p, uint16_t id);

/* ---- recycle.c: idle topics freed, their ids reused ---- */
#define PSO_TOPIC_SWEEP_MS 1000		/* how often idle topics are looked for */
#define PSO_TOPIC_QUARANTINE_MS 1000	/* at least this from free to reuse */
int pso_recycle_init(struct pso_proto *p);
void pso_recycle_free(struct pso_proto *p);
/* c knows topic id now (a REGACK, a SUBACK, a REGISTER): the topic stays
 * while the session does.  Predefined ids are not recorded.  -ENOMEM. */
int pso_client_know(struct pso_proto *p, struct pso_client *c, uint16_t id);
bool pso_client_knows(const struct pso_client *c, uint16_t id);
/* The session ends: it knows nothing any more. */
void pso_client_forget_all(struct pso_proto *p, struct pso_client *c);
/* Topic id is in use now (its idle time starts again). */
void pso_topic_touch(struct pso_proto *p, uint16_t id);
bool pso_topic_in_use(const struct pso_proto *p, uint16_t id);
/* Topic id was just given to a new topic (a freed id reused, or not). */
void pso_topic_reborn(struct pso_proto *p, uint16_t id);
/* A publish to id the kernel received at rx_ns was meant for the topic
 * the id named before (counted). */
bool pso_topic_late(struct pso_proto *p, uint16_t id, uint64_t rx_ns);
/* From pso_proto_tick: free the idle topics, end quarantines. */
void pso_topics_sweep(struct pso_proto *p);

/* ---- persist.c: what a store keeps (persist.h) ---- */
/* c's lasting state changed (or c ends): the store writes it again. */
static inline void pso_session_touch(struct pso_proto *p, const struct pso_client *c)
{
	if (p->ops->session_changed)
		p->ops->session_changed(p->ctx, c->id);
}
/* A session for id, offline, in the by-id table only (an import). */
struct pso_client *pso_client_new_offline(struct pso_proto *p, const char *id);

#endif /* PSO_SESSION_H */
