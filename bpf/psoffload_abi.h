/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * psoffload_abi.h - the one contract between the eBPF data plane and the host.
 *
 * Everything both sides must agree on lives here and only here: MQTT-SN wire
 * constants, the layout of every map key and value, the counter indexes and
 * the capacity defaults.  BPF programs and host code both include this file.
 *
 * Table layout (see bpf/psoffload_maps.h for the map definitions and
 * bpf/psoffload_lookup.h for how the programs read them):
 *
 *   pso_port_cfg   HASH, key = ifindex: which address/port is "the broker"
 *                  on an interface (offload build: ARRAY, key 0)
 *   pso_port_slots ARRAY, index = ifindex % PSO_PORT_SLOTS: the same configs
 *                  direct-mapped, so the fast path finds its port without a
 *                  hash (driver build; a port whose slot is taken is in
 *                  pso_port_cfg only)
 *   pso_topics     ARRAY, index = topic id        -> struct pso_topic
 *                  (offload build: HASH of the topics placed in the NIC)
 *   pso_subs       ARRAY, the subscriber pool: index = pool slot
 *                                                 -> struct pso_sub
 *                  (driver build; family 0: an empty slot)
 *   pso_topic_runs ARRAY, index = topic id        -> struct pso_run: the
 *                  run of pool slots the topic owns (driver build)
 *   pso_clients    HASH,  key = struct pso_endpoint (connected clients)
 *   pso_client_slots ARRAY, index = pso_client_slot_of(endpoint): connected
 *                  clients direct-mapped (driver build); a client whose slot
 *                  is taken is found in pso_clients
 *   pso_devmap     DEVMAP_HASH, ifindex -> ifindex (driver build only)
 *   pso_counters   one u64 per enum pso_counter
 *   pso_topic_stats  ARRAY, index = topic id      -> struct pso_topic_stats
 *   pso_events     RINGBUF of struct pso_event (driver build only)
 *   pso_event_cfg  ARRAY, key 0 -> struct pso_event_cfg (driver build only)
 *   pso_event_buckets PERCPU_ARRAY, key 0 -> struct pso_event_bucket
 *                  (driver build only; the data plane's own state)
 *   pso_fanout_tally PERCPU_ARRAY, key 0 -> struct pso_fanout_tally
 *                  (driver build only; the TC fan-out's scratch counts)
 *
 * Write order that keeps the data plane consistent (host side, see
 * host/tables/subs.c for the whole protocol): a slot (or the copy of the
 * first one in struct pso_topic) changes its content only while its
 * PSO_SUB_F_RESOLVED flag is clear, so a torn read is never servable; a
 * run's slots are written whole before its half of struct pso_run is, and
 * that half before `cur` points at it.
 */
#ifndef PSOFFLOAD_ABI_H
#define PSOFFLOAD_ABI_H

#include <linux/types.h>

/* ---- Capacity defaults (override with -D at build time) ---------------- */

/* Capacities are run-time settings (--max-topics, --max-clients,
 * --max-subscriptions, the NIC profile's [driver] keys): the loader sizes
 * the maps with bpf_map__set_max_entries before load.  The PSO_MAX_*
 * constants are the largest a setting may be, the PSO_DEFAULT_* ones what
 * a broker gets when nothing asks otherwise, and the map definitions carry
 * the PSO_MAP_* sizes, which only an object loaded as built (the packet
 * tests) keeps.
 *
 * Topic ids index pso_topics directly; ids >= the topic count are unknown.
 * 65536: the whole 16-bit id space (id 0 is never a topic). */
#ifndef PSO_MAX_TOPICS
#define PSO_MAX_TOPICS 65536
#endif
#ifndef PSO_DEFAULT_TOPICS
#define PSO_DEFAULT_TOPICS PSO_MAX_TOPICS
#endif
#ifndef PSO_MAP_TOPICS
#define PSO_MAP_TOPICS 4096
#endif

/*
 * The subscriber pool (pso_subs, driver build): every topic's subscriber
 * slots, each topic owning one run of them (struct pso_run).  The pool's
 * size is a run-time setting (struct pso_dp_sizes.subscriptions:
 * --max-subscriptions, profile key driver.max_subscriptions, at most
 * PSO_MAX_SUBSCRIPTIONS); this is the size the map is built with.
 * One slot is 56 bytes in the map (52, rounded to 8): 2^20 slots, 56 MiB.
 */
#ifndef PSO_POOL_SLOTS
#define PSO_POOL_SLOTS (1u << 20)
#endif

/*
 * The most slots one topic's run may have: the subscribers one topic can
 * have in the data plane (more are the daemon's: PSO_TOPIC_F_HOST), and
 * the bound of the TC fan-out's bpf_loop.  A power of two (runs are
 * sized in powers of two); the host may be set lower (pso_tables).
 */
#ifndef PSO_MAX_RUN
#define PSO_MAX_RUN 4096
#endif

/* Subscriptions in all: the subscriber slots of every topic together (a
 * wildcard filter taking one in each topic it matches), which is the pool's
 * size (pso_subs entries; a topic of n subscribers holds n to 4n of them).
 * PSO_POOL_SLOTS above is the size the map is built with. */
#ifndef PSO_MAX_SUBSCRIPTIONS
#define PSO_MAX_SUBSCRIPTIONS (1u << 22)
#endif
#ifndef PSO_DEFAULT_SUBSCRIPTIONS
#define PSO_DEFAULT_SUBSCRIPTIONS 1048576
#endif

/* Connected clients the data plane admits QoS 0 publishes from.  The
 * driver build's pso_clients allocates as clients come (BPF_F_NO_PREALLOC),
 * so a large maximum costs only what is used. */
#ifndef PSO_MAX_CLIENTS
#define PSO_MAX_CLIENTS 1048576
#endif
#ifndef PSO_DEFAULT_CLIENTS
#define PSO_DEFAULT_CLIENTS 131072
#endif
#ifndef PSO_MAP_CLIENTS
#define PSO_MAP_CLIENTS 16384
#endif

/* Interfaces (ports) one broker serves. */
#ifndef PSO_MAX_PORTS
#define PSO_MAX_PORTS 64
#endif

/* Direct-mapped fast copies of pso_port_cfg and pso_clients (driver build).
 * Powers of two.  A client or port whose slot another holds is still served,
 * from the HASH behind, at the cost of one hash lookup. */
#ifndef PSO_PORT_SLOT_BITS
#define PSO_PORT_SLOT_BITS 8
#endif
#define PSO_PORT_SLOTS (1u << PSO_PORT_SLOT_BITS)
#ifndef PSO_CLIENT_SLOT_BITS
#define PSO_CLIENT_SLOT_BITS 17
#endif
#define PSO_CLIENT_SLOTS (1u << PSO_CLIENT_SLOT_BITS)

#define PSO_DEFAULT_UDP_PORT 1883

/* ---- MQTT-SN v1.2 wire constants --------------------------------------- */

/* Message types (MsgType field). */
enum mqttsn_msg_type {
	MQTTSN_ADVERTISE     = 0x00,
	MQTTSN_SEARCHGW      = 0x01,
	MQTTSN_GWINFO        = 0x02,
	MQTTSN_CONNECT       = 0x04,
	MQTTSN_CONNACK       = 0x05,
	MQTTSN_WILLTOPICREQ  = 0x06,
	MQTTSN_WILLTOPIC     = 0x07,
	MQTTSN_WILLMSGREQ    = 0x08,
	MQTTSN_WILLMSG       = 0x09,
	MQTTSN_REGISTER      = 0x0A,
	MQTTSN_REGACK        = 0x0B,
	MQTTSN_PUBLISH       = 0x0C,
	MQTTSN_PUBACK        = 0x0D,
	MQTTSN_PUBCOMP       = 0x0E,
	MQTTSN_PUBREC        = 0x0F,
	MQTTSN_PUBREL        = 0x10,
	MQTTSN_SUBSCRIBE     = 0x12,
	MQTTSN_SUBACK        = 0x13,
	MQTTSN_UNSUBSCRIBE   = 0x14,
	MQTTSN_UNSUBACK      = 0x15,
	MQTTSN_PINGREQ       = 0x16,
	MQTTSN_PINGRESP      = 0x17,
	MQTTSN_DISCONNECT    = 0x18,
	MQTTSN_WILLTOPICUPD  = 0x1A,
	MQTTSN_WILLTOPICRESP = 0x1B,
	MQTTSN_WILLMSGUPD    = 0x1C,
	MQTTSN_WILLMSGRESP   = 0x1D,
	MQTTSN_ENCAPSULATED  = 0xFE,
};

/* Flags field bits. */
#define MQTTSN_FLAG_DUP           0x80
#define MQTTSN_FLAG_QOS_MASK      0x60
#define MQTTSN_FLAG_QOS_0         0x00
#define MQTTSN_FLAG_QOS_1         0x20
#define MQTTSN_FLAG_QOS_2         0x40
#define MQTTSN_FLAG_QOS_M1        0x60	/* QoS -1: publish without connection */
#define MQTTSN_FLAG_RETAIN        0x10
#define MQTTSN_FLAG_WILL          0x08
#define MQTTSN_FLAG_CLEAN_SESSION 0x04
#define MQTTSN_FLAG_TOPIC_MASK    0x03
#define MQTTSN_TOPIC_NORMAL       0x00
#define MQTTSN_TOPIC_PREDEFINED   0x01
#define MQTTSN_TOPIC_SHORT        0x02

/* Return codes. */
#define MQTTSN_RC_ACCEPTED        0x00
#define MQTTSN_RC_CONGESTION      0x01
#define MQTTSN_RC_INVALID_TOPIC   0x02
#define MQTTSN_RC_NOT_SUPPORTED   0x03

/* Length field: one byte, or 0x01 followed by a 2-byte big-endian length. */
#define MQTTSN_LEN_3BYTE_MARK     0x01
/* CONNECT's ProtocolId. */
#define MQTTSN_PROTOCOL_ID        0x01
/* PUBLISH body after the fixed header: flags, topic id, msg id. */
#define MQTTSN_PUBLISH_BODY_LEN   5

/* ---- Map keys and values ------------------------------------------------ */

#define PSO_PORT_F_VALID 0x01	/* a pso_port_slots entry may be used */

/* The broker's own identity on one interface. */
struct pso_port_cfg {
	__u32 ifindex;
	__be16 udp_port;	/* broker UDP port, network order */
	__u8 mac[6];		/* this interface's MAC */
	__be32 ip4;		/* broker IPv4 address, 0 = none */
	__u8 ip6[16];		/* broker IPv6 address, all-zero = none */
	__u8 flags;		/* PSO_PORT_F_*; read only in pso_port_slots,
				 * where it changes alone (see host/tables/porttab.c) */
	__u8 pad[3];
};

/* The pso_port_slots index of an interface. */
static inline __u32 pso_port_slot_of(__u32 ifindex)
{
	return ifindex & (PSO_PORT_SLOTS - 1);
}

#define PSO_AF_INET  4
#define PSO_AF_INET6 6

/* An (address, UDP port) pair: client key and subscriber address. */
struct pso_endpoint {
	__u8 addr[16];		/* IPv4 in the first 4 bytes, rest zero */
	__be16 port;
	__u8 family;		/* PSO_AF_INET or PSO_AF_INET6 */
	__u8 pad;
};

/*
 * A client's publish-rate limit (--max-publish-rate) in the driver build: a
 * token bucket kept as GCRA (the "virtual scheduling" form of ITU-T I.371),
 * one timestamp per program instead of a token count and a refill time.  A
 * publish at time now (bpf_ktime_get_coarse_ns) is admitted when
 *     tat[prog] <= now + (burst - 1 + slack) * interval_ns
 * and then tat[prog] = max(tat[prog], now) + interval_ns.  A bucket that
 * has been idle for burst intervals admits burst publishes back to back,
 * then one per interval.  tat 0 is a full bucket, so the host writes a
 * client with zeros and a test can set any state, no sleeping, by writing
 * tat relative to CLOCK_MONOTONIC_COARSE (the clock the program reads: the
 * tick's time, a load where bpf_ktime_get_ns reads the clock source; its
 * steps of a tick, 1-10 ms, only let a burst grow by a tick's worth).
 * XDP and TC each have a bucket (PSO_RATE_XDP, PSO_RATE_TC): TC sees what
 * XDP admitted, and sharing one bucket would charge a fanned-out publish
 * twice.  interval_ns 0: no limit (the data plane reads no clock).
 */
#define PSO_RATE_XDP 0
#define PSO_RATE_TC  1
struct pso_rate {
	__u64 tat[2];		/* theoretical arrival time, ns, per program */
	__u32 interval_ns;	/* 1 s / the rate; 0 = unlimited */
	__u32 burst;		/* publishes a full bucket admits at once, >= 1 */
};

/*
 * Value of pso_clients.  The data plane counts each publish it sees from a
 * connected client, admitted or over its rate, so the daemon can see that
 * a client which only publishes on the fast path is alive (keep-alive)
 * without any packet reaching user space.
 *
 * budget_end is the rate limit of the offload build, whose NIC has no
 * clock: a publish is admitted while rx_msgs < budget_end, so the budget
 * left is budget_end - rx_msgs, spent by the count the data plane keeps
 * anyway.  The host refills it from its event loop's timer (at most
 * burst, host/tables/clients.c pso_tables_rate_refill); ~0 = unlimited.
 * The driver build ignores it, the offload build ignores rate.
 *
 * 40 bytes: with its key (20, rounded to 24) one entry fills the NFP's 64
 * bytes per entry exactly.
 */
struct pso_client_val {
	__u64 rx_msgs;
	struct pso_rate rate;	/* driver build */
	__u64 budget_end;	/* offload build */
};

/*
 * One pso_client_slots entry.  ep.family is the valid byte: 0 = empty, and
 * the host changes the other fields only while it is 0 (host/tables/subs.c).
 * rx_msgs and rate as in pso_client_val, for publishes from this slot.
 */
struct pso_client_slot {
	struct pso_endpoint ep;
	__u32 pad;
	__u64 rx_msgs;
	struct pso_rate rate;
};

/*
 * The pso_client_slots index of an endpoint: its address words (as loaded
 * from wire order; an IPv4 address is word 0, the others 0) folded with the
 * port, then mixed (MurmurHash3's 32-bit finalizer) so that every input bit
 * moves the low bits.  Both sides compute it on the same CPU, so native
 * loads agree.
 */
static inline __u32 pso_client_slot_of(__u32 a0, __u32 a1, __u32 a2, __u32 a3, __be16 port)
{
	__u32 h = a0 ^ a1 ^ a2 ^ a3 ^ port;

	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h & (PSO_CLIENT_SLOTS - 1);
}

/* Subscriber slot flags. */
#define PSO_SUB_F_RESOLVED 0x01	/* next-hop MAC known: data plane may deliver */
/*
 * The form the subscriber knows the topic by, which each copy must carry
 * (MQTT-SN TopicIdType): the normal id REGACK/SUBACK/REGISTER told it
 * (neither flag), the predefined id (the id itself is the global one
 * either way), or the topic's two-byte short name, which each copy carries
 * in its topic-id field instead of the id (pso_short_names).
 */
#define PSO_SUB_F_PREDEFINED 0x02
#define PSO_SUB_F_SHORT      0x04

/*
 * One subscriber as the data plane needs it: every header field the rewrite
 * writes, so delivery needs no further lookup.  A slot is "servable" by the
 * data plane when it is resolved and of the publish's address family; the
 * daemon delivers a publish to every other slot itself (host path).
 */
struct pso_sub {
	__u8 dst_mac[6];	/* next hop towards the subscriber */
	__u8 src_mac[6];	/* egress interface MAC */
	__u32 ifindex;		/* egress interface */
	__be16 dst_port;	/* subscriber UDP port (the source port is the
				 * broker's, pso_port_cfg.udp_port) */
	__u8 family;		/* PSO_AF_INET or PSO_AF_INET6 */
	__u8 flags;		/* PSO_SUB_F_* */
	__u8 src_addr[16];	/* broker address on the egress interface */
	__u8 dst_addr[16];	/* subscriber address */
};

/* MACs and addresses stand in wire order, so each pair is one copy.  52
 * bytes: with its 4-byte key, one pso_subs entry fits the NFP's 64 bytes
 * per entry (key rounded to 8, plus value). */

/* The one rule for who delivers: the data plane serves a slot exactly when
 * this holds; the daemon delivers to every other slot (host path). */
static inline int pso_sub_servable(const struct pso_sub *s, __u8 family)
{
	return (s->flags & PSO_SUB_F_RESOLVED) && s->family == family;
}

/* Topic flags. */
#define PSO_TOPIC_F_VALID      0x01	/* entry is authoritative in this table */
#define PSO_TOPIC_F_ALLOW_QOSM1 0x02	/* QoS -1 publishes admitted */
/* Some subscribers of the topic have no slot (its slots were full when
 * they came): the daemon delivers to them, so every publish also goes up. */
#define PSO_TOPIC_F_HOST       0x04

/*
 * One topic.  sub_count is the number of subscribers with a slot, capped
 * at PSO_SUB_COUNT_MAX: its high byte is always 0, so a write can change
 * only its low byte and a torn read sees the old or the new count, never a
 * mix (a u16 going 255 -> 256 could read as 0 or 511).  Readers need only
 * 0 (no subscriber), 1 (`first` is the one) and more.  `first` is a copy
 * of the topic's first live slot in run order, so the single-subscriber
 * fast path (XDP, and the offload build, which has no pool) needs one
 * lookup.  56 bytes: key (rounded to 8) plus value within the NFP's 64
 * bytes per map entry.
 */
#define PSO_SUB_COUNT_MAX 255
struct pso_topic {
	__u16 sub_count;
	__u8 flags;		/* PSO_TOPIC_F_* */
	__u8 pad;
	struct pso_sub first;
};

/*
 * The run of pool slots a topic owns: pso_subs[base .. base + cap - 1], in
 * two halves.  A reader reads `cur` (one byte: it cannot tear), then
 * base[cur] and cap[cur], and walks the cap slots, skipping empty ones
 * (family 0).  The host moves a topic to another run (grow, shrink, free)
 * by writing the new run's slots whole (nobody reads them), then the
 * inactive half, then flipping cur; the old run and the old half are
 * rewritten only after a grace period.  So a reader walks the old run whole
 * or the new one whole: no subscriber twice, none skipped by the move.
 * cap 0: the topic has no run.  cap is a power of two, at most PSO_MAX_RUN.
 */
struct pso_run {
	__u32 base[2];
	__u32 cap[2];
	__u8 cur;		/* 0 or 1: the half readers use */
	__u8 pad[3];
};

/*
 * A topic's short name (MQTT-SN 3.1.1.3: exactly two bytes), for the copies
 * to subscribers that know it by that name (PSO_SUB_F_SHORT).  Written by
 * the host when the topic is created, before any such slot is servable,
 * and left alone while the id is in use: valid 0 means the topic has no
 * short name, and a short-form slot of it is not the data plane's.
 */
struct pso_short_name {
	__u8 name[2];		/* wire order: the topic-id field's two bytes */
	__u8 valid;
	__u8 pad;
};

/* The TC fan-out's scratch counts of the publish it is working on
 * (pso_fanout_tally: the data plane's own state, no host reads it). */
/* Header fields of a publish as they stand in the packet (TC fan-out). */
struct pso_hdrs {
	struct pso_sub sub;	/* MACs, destination port, addresses */
	__be16 src_port;
	__u8 ttl;
	/* The PUBLISH flags byte and topic-id field, and a 0 byte after
	 * them (pso_pub_word): the part of the message a copy may change. */
	__u32 pub;
};

struct pso_fanout_tally {
	__u32 copies;		/* clones sent */
	__u32 failed;		/* clones bpf_clone_redirect refused */
	__u32 shed;		/* slots skipped: their port's queue was full */
	__u32 pad;
	struct pso_hdrs orig;	/* the publish's headers as it arrived */
};

struct pso_topic_stats {
	__u64 msgs;
	__u64 bytes;		/* MQTT-SN message bytes */
};

/*
 * Counters: one outcome per packet seen by a program (XDP_* and TC_* blocks
 * each account for every packet their program saw), plus per-copy TC counts.
 */
enum pso_counter {
	/* XDP: forwarded */
	PSO_CNT_XDP_TX = 0,		/* one subscriber, same port */
	PSO_CNT_XDP_REDIRECT,		/* one subscriber, other port */
	/* XDP: passed up */
	PSO_CNT_XDP_PASS_NOT_BROKER,	/* not addressed to the broker */
	PSO_CNT_XDP_PASS_FRAGMENT,	/* IP fragment: stack reassembles */
	PSO_CNT_XDP_PASS_CONTROL,	/* control message for the daemon */
	PSO_CNT_XDP_PASS_SLOW_QOS,	/* QoS 1/2 publish */
	PSO_CNT_XDP_PASS_RETAIN,	/* RETAIN publish: TC fans out, daemon keeps */
	PSO_CNT_XDP_PASS_FANOUT,	/* two or more subscribers: TC */
	PSO_CNT_XDP_PASS_HOST,		/* this program cannot finish it here */
	PSO_CNT_XDP_PASS_UNKNOWN_TOPIC,	/* QoS 0 from a client to an unknown id:
					 * the daemon answers "invalid topic id" */
	PSO_CNT_XDP_PASS_OVERFLOW,	/* topic with subscribers beyond its slots
					 * (PSO_TOPIC_F_HOST): TC, then the daemon */
	/* XDP: dropped */
	PSO_CNT_XDP_DROP_TRUNCATED,	/* shorter than its headers say */
	PSO_CNT_XDP_DROP_LENGTH,	/* MQTT-SN length != UDP payload length */
	PSO_CNT_XDP_DROP_MALFORMED,	/* bad MQTT-SN header or message type */
	PSO_CNT_XDP_DROP_NOT_CONNECTED,	/* QoS 0 from an unknown client */
	PSO_CNT_XDP_DROP_QOSM1_DENIED,	/* QoS -1 to a topic that forbids it */
	PSO_CNT_XDP_DROP_UNKNOWN_TOPIC,	/* topic id outside or absent from table */
	PSO_CNT_XDP_DROP_NO_SUBSCRIBER,	/* topic has no subscriber */
	PSO_CNT_XDP_DROP_TTL,		/* TTL / hop limit 1 or 0: a forward would
					 * send it on with 0 (a loop dies here) */
	PSO_CNT_XDP_DROP_RATE,		/* QoS 0 from a client over its publish
					 * rate (--max-publish-rate) */
	/* TC ingress: per packet */
	PSO_CNT_TC_FANOUT,		/* fanned out, original consumed */
	PSO_CNT_TC_FANOUT_UP,		/* fanned out, original continues up */
	PSO_CNT_TC_PASS,		/* not a fast-path publish: untouched */
	PSO_CNT_TC_DROP,		/* malformed or not admitted */
	PSO_CNT_TC_DROP_RATE,		/* not admitted: over its publish rate */
	/* TC ingress: per copy */
	PSO_CNT_TC_COPIES,		/* copies sent */
	PSO_CNT_TC_COPY_FAILED,		/* bpf_clone_redirect failed */
	PSO_CNT_TC_COPY_HOST,		/* slot left to the daemon (host path) */
	PSO_CNT_TC_COPY_SHED,		/* slot not tried: its port's queue was full */
	/* Events (driver build): not packets, the event stream's own */
	PSO_CNT_EVENT_SUPPRESSED,	/* not sent: the CPU's rate limit was spent */
	PSO_CNT_EVENT_LOST,		/* not sent: the ring buffer was full */
	PSO_CNT__MAX
};

#define PSO_COUNTER_NAMES {					\
	[PSO_CNT_XDP_TX]		= "xdp_tx",			\
	[PSO_CNT_XDP_REDIRECT]		= "xdp_redirect",		\
	[PSO_CNT_XDP_PASS_NOT_BROKER]	= "xdp_pass_not_broker",	\
	[PSO_CNT_XDP_PASS_FRAGMENT]	= "xdp_pass_fragment",		\
	[PSO_CNT_XDP_PASS_CONTROL]	= "xdp_pass_control",		\
	[PSO_CNT_XDP_PASS_SLOW_QOS]	= "xdp_pass_slow_qos",		\
	[PSO_CNT_XDP_PASS_RETAIN]	= "xdp_pass_retain",		\
	[PSO_CNT_XDP_PASS_FANOUT]	= "xdp_pass_fanout",		\
	[PSO_CNT_XDP_PASS_HOST]		= "xdp_pass_host",		\
	[PSO_CNT_XDP_PASS_UNKNOWN_TOPIC] = "xdp_pass_unknown_topic",	\
	[PSO_CNT_XDP_PASS_OVERFLOW]	= "xdp_pass_overflow",		\
	[PSO_CNT_XDP_DROP_TRUNCATED]	= "xdp_drop_truncated",		\
	[PSO_CNT_XDP_DROP_LENGTH]	= "xdp_drop_length",		\
	[PSO_CNT_XDP_DROP_MALFORMED]	= "xdp_drop_malformed",		\
	[PSO_CNT_XDP_DROP_NOT_CONNECTED] = "xdp_drop_not_connected",	\
	[PSO_CNT_XDP_DROP_QOSM1_DENIED]	= "xdp_drop_qosm1_denied",	\
	[PSO_CNT_XDP_DROP_UNKNOWN_TOPIC] = "xdp_drop_unknown_topic",	\
	[PSO_CNT_XDP_DROP_NO_SUBSCRIBER] = "xdp_drop_no_subscriber",	\
	[PSO_CNT_XDP_DROP_TTL]		= "xdp_drop_ttl",		\
	[PSO_CNT_XDP_DROP_RATE]		= "xdp_drop_rate",		\
	[PSO_CNT_TC_FANOUT]		= "tc_fanout",			\
	[PSO_CNT_TC_FANOUT_UP]		= "tc_fanout_up",		\
	[PSO_CNT_TC_PASS]		= "tc_pass",			\
	[PSO_CNT_TC_DROP]		= "tc_drop",			\
	[PSO_CNT_TC_DROP_RATE]		= "tc_drop_rate",		\
	[PSO_CNT_TC_COPIES]		= "tc_copies",			\
	[PSO_CNT_TC_COPY_FAILED]	= "tc_copy_failed",		\
	[PSO_CNT_TC_COPY_HOST]		= "tc_copy_host",		\
	[PSO_CNT_TC_COPY_SHED]		= "tc_copy_shed",		\
	[PSO_CNT_EVENT_SUPPRESSED]	= "event_suppressed",		\
	[PSO_CNT_EVENT_LOST]		= "event_lost",			\
}

/* ---- Data-plane events (driver build; bpf/psoffload_events.h) ----------- */

/*
 * The outcomes that are reported one by one as well as counted: every drop
 * and admission refusal of either program and the fan-out copies not made.
 * A bit per enum pso_counter, so an event's reason is a counter index and
 * its name comes from PSO_COUNTER_NAMES.  Nothing that forwards is here: the
 * forwarding paths never emit.  A new drop counter joins this list.
 */
#define PSO_EVENT_BIT(c) (1ull << (c))
#define PSO_EVENT_REASONS						\
	(PSO_EVENT_BIT(PSO_CNT_XDP_PASS_UNKNOWN_TOPIC) |		\
	 PSO_EVENT_BIT(PSO_CNT_XDP_DROP_TRUNCATED) |			\
	 PSO_EVENT_BIT(PSO_CNT_XDP_DROP_LENGTH) |			\
	 PSO_EVENT_BIT(PSO_CNT_XDP_DROP_MALFORMED) |			\
	 PSO_EVENT_BIT(PSO_CNT_XDP_DROP_NOT_CONNECTED) |		\
	 PSO_EVENT_BIT(PSO_CNT_XDP_DROP_QOSM1_DENIED) |			\
	 PSO_EVENT_BIT(PSO_CNT_XDP_DROP_UNKNOWN_TOPIC) |		\
	 PSO_EVENT_BIT(PSO_CNT_XDP_DROP_NO_SUBSCRIBER) |		\
	 PSO_EVENT_BIT(PSO_CNT_XDP_DROP_TTL) |				\
	 PSO_EVENT_BIT(PSO_CNT_XDP_DROP_RATE) |				\
	 PSO_EVENT_BIT(PSO_CNT_TC_DROP) |				\
	 PSO_EVENT_BIT(PSO_CNT_TC_DROP_RATE) |				\
	 PSO_EVENT_BIT(PSO_CNT_TC_COPY_FAILED) |			\
	 PSO_EVENT_BIT(PSO_CNT_TC_COPY_SHED))

/* Ring buffer size (a power of two, a multiple of the page size). */
#ifndef PSO_EVENT_RING_BYTES
#define PSO_EVENT_RING_BYTES (256 * 1024)
#endif
/* Events per second each CPU may send, unless the daemon is told otherwise;
 * its bucket holds one second's worth. */
#define PSO_EVENT_RATE_DEFAULT 200
#define PSO_EVENT_RATE_MAX 1000000

/* pso_event_cfg[0], written by the daemon.  rate 0: no events at all (the
 * table as loaded).  The host keeps 1 <= burst <= 64 * rate, so that a
 * refill of at most PSO_EVENT_REFILL_MAX_NS fills any bucket. */
struct pso_event_cfg {
	__u32 rate;		/* events per second per CPU */
	__u32 burst;		/* bucket size: events a quiet CPU may send at once */
};

#define PSO_EVENT_REFILL_MAX_NS (64ull * 1000000000ull)

/* pso_event_buckets[0] on each CPU: a token bucket in units of
 * 1/1e9 event, refilled by rate units per nanosecond. */
struct pso_event_bucket {
	__u64 stamp_ns;		/* bpf_ktime_get_coarse_ns() of the last refill */
	__u64 credit;		/* 1e9 per event it may send now */
	__u32 suppressed;	/* since this CPU's last event: told in the next */
	__u32 pad;
};

#define PSO_EVENT_F_SOURCE 0x01	/* family, src_addr and src_port are known */
#define PSO_EVENT_F_TOPIC  0x02	/* topic_id is known (a PUBLISH) */

/*
 * One event.  reason is the counter the packet (or copy) moved; cause says
 * why when one counter stands for several causes (tc_drop): the XDP counter
 * of the same cause (xdp_drop_malformed, xdp_drop_not_connected, ...), or
 * tc_drop itself when the cause is the program's own (the packet could not
 * be made writable).  Otherwise cause == reason.  48 bytes.
 */
struct pso_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u16 reason;		/* enum pso_counter */
	__u16 cause;		/* enum pso_counter */
	__u16 count;		/* copies this event stands for (tc_copy_*), else 1 */
	__u8 flags;		/* PSO_EVENT_F_* */
	__u8 family;		/* PSO_AF_INET or PSO_AF_INET6 */
	__u8 src_addr[16];	/* the sender; IPv4 in the first 4 bytes */
	__be16 src_port;
	__u16 topic_id;
	__u16 len;		/* UDP payload bytes, as the UDP header says */
	__u16 pad;
	__u32 suppressed;	/* this CPU's events suppressed just before it */
	__u32 pad2;
};

#endif /* PSOFFLOAD_ABI_H */
