/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * proto.h - the MQTT-SN control protocol: sessions, subscriptions, topics,
 * retained messages, keep-alive and host-path delivery.
 *
 * This layer owns no socket, no BPF map and no netlink handle.  It talks to
 * the rest of the broker through struct pso_proto_ops: send a datagram,
 * learn where an endpoint is reached, and write the data-plane tables.  The
 * daemon implements the ops with the broker socket, the next-hop cache and
 * the table writer (daemon/proto_env.c); the unit tests with a fake
 * transport that records every datagram and table call (tests/unit/
 * test_proto.c).  See docs/DESIGN.md, "Control protocol".
 */
#ifndef PSO_PROTO_H
#define PSO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include "psoffload_abi.h"
#include "util/endpoint.h"

enum pso_qosm1_policy {
	PSO_QOSM1_PREDEFINED,	/* QoS -1 admitted to predefined topics (default) */
	PSO_QOSM1_ALL,
	PSO_QOSM1_NONE,
};

/*
 * What one client, and all of them together, may hold, and how fast one
 * source may ask (quota.c; docs/DESIGN.md, "Limits").  0: no limit.  The
 * defaults (PSO_LIMITS_DEFAULT) are far above what an ordinary client
 * uses; every refusal is the MQTT-SN return code "rejected: congestion"
 * (0x01) in the reply the message asks for, or a counted drop.
 */
struct pso_limits {
	/* A CONNECT's keep-alive of 0 or above this gets this (and so does
	 * a sleep duration): the client is lost 1.5 x this after its last
	 * message.  MQTT-SN's CONNACK cannot tell the client. */
	uint32_t max_keepalive_s;
	uint32_t subscriptions;		/* per client */
	uint32_t holds;			/* topics a client's subscriptions take a
					 * subscriber slot in: a filter counts
					 * every topic it matches, later ones too */
	uint32_t registrations;		/* topics one session may create */
	uint64_t retained;		/* bytes of retained messages a client stored */
	uint32_t outbox;		/* QoS 1/2 deliveries owed a client */
	uint32_t sleep_buffer;		/* QoS 0 publishes kept for a sleeper */
	uint64_t retained_total;	/* bytes of retained messages in all */
	uint32_t buffered_total;	/* messages in every outbox and sleep buffer */
	uint32_t connect_rate;		/* CONNECTs a second per source network */
	uint32_t control_rate;		/* other control messages a second per source */
};

#define PSO_LIMITS_DEFAULT {						\
	.max_keepalive_s = 3600, .subscriptions = 256, .holds = 1024,	\
	.registrations = 1024, .retained = 1 << 20, .outbox = 64,	\
	.sleep_buffer = 64, .retained_total = 64 << 20,			\
	.buffered_total = 65536, .connect_rate = 50, .control_rate = 500, \
}

struct pso_proto_cfg {
	enum pso_qosm1_policy qosm1;
	uint8_t gw_id;			/* GWINFO, ADVERTISE */
	uint16_t advertise_s;		/* ADVERTISE's duration field */
	uint32_t max_topics;		/* ids 1 .. max_topics-1 */
	uint32_t max_clients;
	/* A session kept (CleanSession 0) ends this long after its
	 * connection did, unless the client connects again. */
	uint32_t session_expiry_s;
	/* QoS 1/2 deliveries: sent again every retry_s until acknowledged,
	 * at most retries times (MQTT-SN T_RETRY, N_RETRY). */
	uint32_t retry_s;
	uint32_t retries;
	/* Address validation (validate.c): endpoints in these networks, and
	 * loopback, are taken as proven; a session that has not proven its
	 * address within unvalidated_s (0: 30 s) ends. */
	const struct pso_cidr *trusted;
	int ntrusted;
	uint32_t unvalidated_s;
	/* A registered topic nobody uses (no subscriber, no retained
	 * message, not predefined, its id known to no session) is freed
	 * after this long, and its id reused later (recycle.c); 0: never. */
	uint32_t topic_idle_s;
	struct pso_limits lim;
};

/* Where a datagram came from, and how it reached the broker. */
struct pso_rx {
	struct pso_endpoint ep;
	/* Our address to answer from (unspecified: the ingress interface's)
	 * and the ingress ifindex. */
	struct in6_pktinfo local;
	/* The data plane judged this datagram (whole, on a broker port, to
	 * its broker address), so it served every servable slot already. */
	bool judged;
	/* When the kernel received it (CLOCK_REALTIME ns; 0: unknown), so a
	 * slot enabled after that is known not to have been served. */
	uint64_t rx_ns;
};

/*
 * What the protocol layer needs from the broker.  Table calls follow the
 * table writer's rules (tables/tables.h): slots are added not servable and
 * enabled once the client was told (SUBACK, REGISTER) what it will receive.
 */
struct pso_proto_ops {
	/* One encoded datagram to ep, from local's address when local is given
	 * (an unspecified address: from the address of local's interface). */
	int (*send)(void *ctx, const struct pso_endpoint *ep, const struct in6_pktinfo *local,
		    const uint8_t *buf, size_t len);
	/* One encoded datagram to every client that could hear the broker:
	 * the broker decides where (each port, each family); 0 when it went
	 * out somewhere, else a negative errno. */
	int (*broadcast)(void *ctx, const uint8_t *buf, size_t len);
	/* Where ep is reached: the delivery template of its slots (flags
	 * PSO_SUB_F_RESOLVED when the data plane can deliver to it). */
	void (*resolve)(void *ctx, const struct pso_endpoint *ep, const struct in6_pktinfo *local,
			struct pso_sub *slot);
	/* Log line "next hop resolved via IFACE" needs the interface name. */
	const char *(*ifname)(void *ctx, int ifindex);

	int (*client_add)(void *ctx, const struct pso_endpoint *ep);	/* -ENOSPC: full */
	void (*client_remove)(void *ctx, const struct pso_endpoint *ep);
	/* Publishes the data plane admitted from ep so far (keep-alive);
	 * 0, or a negative errno when it cannot tell. */
	int (*client_rx)(void *ctx, const struct pso_endpoint *ep, uint64_t *rx_msgs);

	/* Topic id, named name, known to the data plane with PSO_TOPIC_F_*
	 * flags; a name of two bytes is also the topic's short name, which
	 * the data plane writes into copies to short-form slots. */
	int (*topic_set)(void *ctx, uint16_t id, uint8_t flags, const char *name);
	/* Add slot (written not servable) to topic id: -ENOSPC when full. */
	int (*slot_add)(void *ctx, uint16_t id, const struct pso_sub *slot);
	/* Rewrite ep's slot in each topic as *slot says (enable, new hop). */
	void (*slots_set)(void *ctx, const struct pso_sub *slot, const uint16_t *ids, int n);
	void (*slots_remove)(void *ctx, const struct pso_endpoint *ep, const uint16_t *ids, int n);
	/* Did the data plane deliver to ep's slot of topic id a datagram the
	 * kernel received at rx_ns (0: would it now)? */
	bool (*slot_served)(void *ctx, uint16_t id, const struct pso_endpoint *ep, uint8_t family,
			    uint64_t rx_ns);

	/* Optional (NULL: nothing to wait for): take topic id out of the
	 * data plane for good (-EBUSY: not now, it still has subscribers
	 * there), and whether the data plane has no trace of it left, so
	 * that the id may name another topic (tables.h, recycle.c). */
	int (*topic_free)(void *ctx, uint16_t id);
	bool (*topic_reusable)(void *ctx, uint16_t id);

	/* Optional (NULL: nothing is kept), for a store (persist.h): the
	 * session of this client id changed or ended, a topic was
	 * registered, a topic's retained message changed.  Called as it
	 * happens, any number of times; the owner reads the records back
	 * with pso_proto_export_*() when it writes. */
	void (*session_changed)(void *ctx, const char *client_id);
	/* Optional (NULL: the registry's own ids are the only ones): a new
	 * name's id for every broker sharing the store.  0 with *id want (it
	 * is this name's now) or the id the name has already; -EEXIST when
	 * want is another name's (try another); other errors: cannot say now. */
	int (*claim_topic)(void *ctx, const char *name, uint16_t want, uint16_t *id);
	void (*topic_changed)(void *ctx, uint16_t id);
	void (*retained_changed)(void *ctx, uint16_t id);
};

#define PSO_PROTO_RX_TYPES 0x1e

/* Daemon-side counters (the data plane has its own). */
struct pso_proto_stats {
	uint64_t rx_msgs;		/* datagrams handed to pso_proto_input */
	uint64_t rx_malformed;
	uint64_t rx_unsupported;	/* answered "not supported" or undecodable */
	uint64_t host_deliveries;	/* publishes sent by the daemon */
	uint64_t congestion;		/* requests refused: tables full */
	uint64_t overflow;		/* holds left without a slot (a filter's
					 * topic was full): the daemon serves them */
	uint64_t expired;		/* clients expired by keep-alive */
	uint64_t qos_deliveries;	/* QoS 1/2 deliveries queued */
	uint64_t qos_retransmits;
	uint64_t qos_given_up;		/* not acknowledged after every retry */
	uint64_t qos_queue_full;	/* refused: the session's outbox was full */
	uint64_t wills_published;
	uint64_t unknown_topic;		/* QoS 0 to unknown ids answered 0x02 */
	uint64_t sleep_buffered;	/* QoS 0 publishes kept for sleepers */
	uint64_t sleep_dropped;		/* the oldest of a full sleep buffer */
	uint64_t forwarded;		/* datagrams wrapped by a forwarder */
	uint64_t unknown_dropped;	/* datagrams from endpoints without a
					 * session left unanswered */
	uint64_t topics_freed;		/* idle topics freed (recycle.c) */
	uint64_t topics_reused;		/* ids freed once, given to a new topic */
	uint64_t late_publishes;	/* publishes received before their id
					 * named its topic: meant for the old one */
	uint64_t qosm1_denied;		/* QoS -1 publishes --qos-m1 refused here */
	uint64_t unreachable;		/* clients lost to an ICMP port or host
					 * unreachable (pso_proto_unreachable) */
	uint64_t store_refused;		/* control requests refused (0x01): the
					 * store could not be written
					 * (pso_proto_set_refusing) */
	/* Address validation (validate.c) */
	uint64_t valid_proved;		/* endpoints that echoed the broker's value */
	uint64_t valid_failures;	/* wrong or rate-limited echoes */
	uint64_t valid_expired;		/* sessions that never proved their address */
	uint64_t valid_held;		/* publishes buffered until validation */
	uint64_t valid_held_dropped;	/* the oldest of a full buffer, or over the cap */
	uint64_t valid_capped_bytes;	/* not sent: over 3 x what the endpoint sent */
	/* Limits (struct pso_limits): each refusal counted once. */
	uint64_t keepalive_capped;	/* CONNECTs whose keep-alive was capped */
	uint64_t quota_subscriptions;	/* SUBSCRIBE refused: too many subscriptions */
	uint64_t quota_holds;		/* a topic not taken: too many held */
	uint64_t quota_registrations;	/* topics not created: too many created */
	uint64_t quota_retained;	/* retained publishes refused: client's bytes */
	uint64_t retained_full;		/* ... refused: every client's bytes */
	uint64_t buffered_full;		/* deliveries not buffered: every buffer's count */
	uint64_t rate_connect;		/* CONNECTs dropped by the per-source rate */
	uint64_t rate_control;		/* other control messages dropped so */
	uint64_t rate_evicted;		/* limiter entries taken from a recent source */
	/* Datagrams decoded, by MQTT-SN message type (0x00..0x1d; the
	 * forwarder's envelope counts in `forwarded`, its content here). */
	uint64_t rx_type[PSO_PROTO_RX_TYPES];
};

/* Address validation now: connected sessions proven or not, and the bytes
 * of publishes buffered for the latter. */
struct pso_valid_state {
	uint32_t validated;
	uint32_t unvalidated;
	uint64_t held_bytes;
};

struct pso_proto;
struct pso_registry;

/* NULL when out of memory. */
struct pso_proto *pso_proto_new(const struct pso_proto_cfg *cfg, const struct pso_proto_ops *ops,
				void *ctx);
void pso_proto_free(struct pso_proto *p);

/* The topic registry, for loading predefined topics before the first
 * datagram; pso_proto_topics_publish() then makes them known to the data
 * plane. */
struct pso_registry *pso_proto_registry(struct pso_proto *p);
int pso_proto_topics_publish(struct pso_proto *p);

/* A reload: the settings of cfg that can change while clients are
 * connected (qosm1, gw_id, advertise_s, session_expiry_s, retry_s,
 * retries; not the table sizes).  A new QoS -1 policy is written to every
 * topic; a new session expiry applies to the sessions kept already. */
void pso_proto_set_cfg(struct pso_proto *p, const struct pso_proto_cfg *cfg);
/*
 * While on, a CONNECT, REGISTER or SUBSCRIBE is answered "rejected:
 * congestion" (0x01) and an UNSUBSCRIBE is left unanswered (its UNSUBACK
 * has no return code: the client sends it again): the store that would
 * keep their result cannot be written (a group that lost its etcd).
 * Publishes and what sessions already have go on.  Counted
 * (store_refused).
 */
void pso_proto_set_refusing(struct pso_proto *p, bool on);
/* Brokers share the store (etcd): a new topic name's id comes from
 * ops->claim_topic, so that every broker gives one name one id. */
void pso_proto_share_topic_ids(struct pso_proto *p, bool on);
struct pso_predef_reload;
/* The predefined file again (pso_registry_reload_predefined): each new
 * topic is made known to the data plane and offered to the wildcard
 * subscriptions that match it. */
int pso_proto_reload_predefined(struct pso_proto *p, const char *path,
				struct pso_predef_reload *res, char *err, size_t errlen);

/* One datagram from rx->ep. */
void pso_proto_input(struct pso_proto *p, const struct pso_rx *rx, const uint8_t *buf, size_t len,
		     uint64_t now_ms);

/* Keep-alive: expire the clients silent for 1.5 x their keep-alive (a
 * kept session goes offline); end kept sessions past their expiry. */
void pso_proto_tick(struct pso_proto *p, uint64_t now_ms);
/*
 * An ICMP port or host unreachable said nothing receives at ep any more
 * (`what` names it for the log).  The client connected there is lost at
 * once, as if its keep-alive had expired: its slots go (the data plane
 * stops sending to it), a clean session ends, a kept one goes offline,
 * its will is published; one log line, counted (stats.unreachable).
 * 1 when a client was lost, 0 when none is connected at ep.
 */
int pso_proto_unreachable(struct pso_proto *p, const struct pso_endpoint *ep, const char *what,
			  uint64_t now_ms);
/* Routes, neighbours or port addresses changed: re-resolve every client
 * and rewrite the slots whose delivery template changed. */
void pso_proto_resolve_all(struct pso_proto *p);
/* ADVERTISE, through ops->broadcast. */
void pso_proto_advertise(struct pso_proto *p);

/*
 * The broker is stopping: DISCONNECT (without a duration) to every client
 * that can hear it, through ops->send, wrapped for a client behind a
 * forwarder.  A sleeping client that is not awake gets none: MQTT-SN sends
 * an asleep client nothing (6.14), and its next PINGREQ, to a broker that
 * no longer knows it, is answered with DISCONNECT anyway.  Kept sessions
 * offline have nobody to tell.  Wills are not published: the broker, not
 * the client, is going.  At most `budget` datagrams per call, so the
 * caller can pace them; returns how many it sent, *done once every client
 * has had its one.  Call it last: nothing else may run between its calls.
 */
unsigned int pso_proto_shutdown(struct pso_proto *p, unsigned int budget, bool *done);
/* After pso_proto_shutdown() is done: every client it told ends as after
 * its own DISCONNECT (a clean session goes, a persistent one is kept
 * offline, no will), so a store written after it keeps what MQTT-SN
 * keeps.  Table calls included: the data plane is still attached. */
void pso_proto_shutdown_end(struct pso_proto *p);

const struct pso_proto_stats *pso_proto_stats(const struct pso_proto *p);
uint32_t pso_proto_nclients(const struct pso_proto *p);	/* connected */
uint32_t pso_proto_nsessions(const struct pso_proto *p);	/* connected or kept */
uint32_t pso_proto_ntopics(const struct pso_proto *p);
void pso_proto_valid_state(const struct pso_proto *p, struct pso_valid_state *out);
/* What every client holds together (struct pso_limits' totals). */
uint64_t pso_proto_retained_bytes(const struct pso_proto *p);
uint32_t pso_proto_buffered(const struct pso_proto *p);

/*
 * Read-only views of the protocol layer's state, for the control socket
 * and the metrics (daemon/ctlreq.c, daemon/snapshot.c): each foreach calls
 * fn once per item, in no particular order, and stops early when fn
 * returns non-zero (returning that value).  The views point into the
 * layer's state and are valid only during the call.
 */
enum pso_session_state {
	PSO_SESSION_ACTIVE,	/* connected */
	PSO_SESSION_CONNECTING,	/* CONNECT waiting for WILLTOPIC / WILLMSG */
	PSO_SESSION_ASLEEP,	/* DISCONNECT with a duration */
	PSO_SESSION_AWAKE,	/* asleep, awake for a PINGREQ */
	PSO_SESSION_OFFLINE,	/* kept (CleanSession 0) without a connection */
	PSO_SESSION__STATES
};
/* "active", "connecting", "asleep", "awake", "offline" */
const char *pso_session_state_name(enum pso_session_state s);
/* 0, or -EINVAL for a name not above. */
int pso_session_state_parse(const char *name, enum pso_session_state *s);

struct pso_client_info {
	const char *id;
	enum pso_session_state state;
	bool connected;
	struct pso_endpoint ep;		/* connected: where it is (behind a
					 * forwarder: the forwarder's endpoint) */
	bool forwarded;			/* behind a forwarder */
	bool clean;			/* CleanSession: ends with its connection */
	bool resolved;			/* the data plane can deliver to it */
	uint16_t keepalive_s;
	uint16_t sleep_s;		/* asleep: the duration it asked for */
	uint64_t idle_ms;		/* connected: since its last message;
					 * offline: since its connection ended */
	uint64_t expires_in_ms;		/* offline: until the session ends */
	uint32_t subscriptions, topics;	/* what it asked for, topics held */
	uint32_t outbox;		/* QoS 1/2 deliveries owed */
	uint32_t buffered;		/* QoS 0 publishes kept while asleep */
	const char *will_topic;		/* NULL: no will */
};
int pso_proto_foreach_client(const struct pso_proto *p,
			     int (*fn)(const struct pso_client_info *ci, void *ctx), void *ctx);

struct pso_subscription_info {
	const char *client_id;
	const char *kind;		/* "name", "filter", "predefined", "short" */
	const char *topic;		/* the name, filter or short name asked for;
					 * a predefined id's name (NULL if none) */
	uint16_t topic_id;		/* not a filter: its topic */
	int qos;			/* granted */
	const uint16_t *ids;		/* the topics it wants (a filter's matches,
					 * else its one topic) */
	uint32_t nids;
};
int pso_proto_foreach_subscription(const struct pso_proto *p,
				   int (*fn)(const struct pso_subscription_info *si, void *ctx),
				   void *ctx);

struct pso_topic_info {
	uint16_t id;
	const char *name;
	bool predefined;
	bool qosm1;			/* QoS -1 admitted (--qos-m1) */
	uint32_t subscribers;		/* clients holding it */
	uint32_t retained_bytes;	/* its retained message; 0: none */
	bool retained;
};
/* In id order. */
int pso_proto_foreach_topic(const struct pso_proto *p,
			    int (*fn)(const struct pso_topic_info *ti, void *ctx), void *ctx);
/* The id of a topic name: 0, or -ENOENT. */
int pso_proto_topic_id(const struct pso_proto *p, const char *name, uint16_t *id);

/* Sessions by state, and the retained messages (count, payload bytes). */
void pso_proto_session_counts(const struct pso_proto *p, uint32_t counts[PSO_SESSION__STATES]);
void pso_proto_retained_usage(const struct pso_proto *p, uint64_t *msgs, uint64_t *bytes);

#endif /* PSO_PROTO_H */
