// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_xdp_packets.c - the XDP fast path, one crafted frame at a time,
 * through BPF_PROG_TEST_RUN, in the driver and the offload build.
 *
 * Each row of xdp_cases[] is one behaviour: a frame described field by
 * field, the table contents, whether the topic's stats move, and per build
 * the verdict, the one counter that must move (by exactly one; every other
 * counter must stay put) and the output: the input untouched, or the input
 * rewritten for the topic's only subscriber.  The rewritten frame is built
 * by tests/lib/pkt.c from the subscriber slot with checksums computed from
 * scratch, never through bpf/psoffload_csum.h (the code under test).
 *
 * Every row runs as two cmocka tests ("drv: ..." and "off: ...").  The
 * process moves into a network namespace of its own, so lo is ifindex 1
 * (the driver build's ingress port) and the veth pair that stands for a
 * second broker port vanishes with the process even if it dies.
 *
 * A frame shorter than an Ethernet header cannot be tested here: the kernel
 * refuses it (BPF_PROG_TEST_RUN needs at least ETH_HLEN bytes).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>

#include "psoffload_abi.h"
#include "psoffload_xdp.skel.h"
#include "psoffload_xdp_offload.skel.h"
#include "pkt.h"

/* ---- The world the rows live in ------------------------------------------ */

#define LO_IFINDEX	1	/* ingress port; lo is 1 in every netns */
#define BROKER_PORT	1883
#define PUB_PORT	40000
#define TOPIC		0x0042
#define TOPIC_PREDEF	0x0007
#define TOPIC_LAST	(PSO_MAX_TOPICS - 1)
#define TOPIC_BEYOND	PSO_MAX_TOPICS	/* first id the table cannot hold */
#define FWD_TTL		64	/* what the spec says a forwarded frame carries */

#define VETH_PORT	"pso-xdp0"	/* stands for a second broker port */
#define VETH_PEER	"pso-xdp1"

#define MAC_BROKER	{ 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 }
#define MAC_PUB		{ 0x02, 0x00, 0x00, 0x00, 0x00, 0x0a }
#define MAC_BCAST	{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }
#define IP4_BROKER	{ 10, 0, 0, 1 }
#define IP4_PUB		{ 10, 0, 0, 10 }
#define IP4_OTHER	{ 10, 0, 0, 2 }
#define IP6_BROKER	{ 0xfd, 0x00, [15] = 0x01 }
#define IP6_PUB		{ 0xfd, 0x00, [15] = 0x10 }
#define IP6_OTHER	{ 0xfd, 0x00, [15] = 0x02 }

#define QOS0		(MQTTSN_FLAG_QOS_0 | MQTTSN_TOPIC_NORMAL)
#define QOS0_PREDEF	(MQTTSN_FLAG_QOS_0 | MQTTSN_TOPIC_PREDEFINED)
#define QOSM1_PREDEF	(MQTTSN_FLAG_QOS_M1 | MQTTSN_TOPIC_PREDEFINED)

/* Subscriber slots a row can put in the topic (built by make_sub()). */
enum sub_kind {
	SUB_NONE = 0,
	SUB_SAME4,		/* IPv4, resolved, behind the ingress port */
	SUB_OTHER4,		/* IPv4, resolved, behind the other port */
	SUB_SAME6,		/* IPv6, resolved, behind the ingress port */
	SUB_OTHER6,		/* IPv6, resolved, behind the other port */
	SUB_UNRESOLVED4,	/* IPv4, ingress port, next hop not known yet */
};

#define MAX_ROW_SUBS 3

/* Table contents for one row.  Everything not written here is empty. */
struct tables {
	bool no_port;		/* the ingress port is not a broker port */
	bool client;		/* (publisher address, PUB_PORT) is connected */
	uint16_t topic;		/* topic entry written, 0 = none */
	uint8_t topic_flags;	/* PSO_TOPIC_F_* */
	enum sub_kind subs[MAX_ROW_SUBS];	/* slots; sub_count = how many */
	bool no_devmap;		/* the other port is missing from pso_devmap */
};

enum out {
	OUT_INPUT = 0,		/* output == input, byte for byte */
	OUT_REWRITTEN,		/* input rewritten for subs[0] */
};

struct expect {
	int verdict;			/* XDP_* */
	enum pso_counter counter;	/* moves by one, nothing else moves */
	enum out out;
};

struct xdp_case {
	const char *name;
	struct pkt_desc pkt;
	size_t cut;		/* frame cut to this many bytes, 0 = whole */
	size_t trim;		/* bytes cut off the end */
	struct tables tbl;
	bool stats;		/* pso_topic_stats: +1 msg, +msg_len bytes */
	struct expect drv, off;
	/* Premises, checked so a row cannot silently stop testing its edge:
	 * the UDP checksum field of the input / expected frame, 0 = any. */
	uint16_t in_csum, want_csum;
};

/* ---- Row shorthands ----------------------------------------------------- */

/*
 * Rows start from a typical frame or table and override fields after the
 * defaults; the last designated initializer wins (C11 6.7.9p19).
 */
#pragma GCC diagnostic ignored "-Woverride-init"

/* A QoS 0 PUBLISH of 16 data bytes from a connected client to the broker.
 * Addresses are set once per family: a row that overrides one gives all
 * the bytes that differ (IP4_OTHER, IP6_OTHER). */
#define PKT_BASE							\
	.eth_dst = MAC_BROKER, .eth_src = MAC_PUB,			\
	.ttl = 61, .sport = PUB_PORT, .dport = BROKER_PORT,		\
	.msg_type = MQTTSN_PUBLISH, .pub_flags = QOS0,			\
	.topic_id = TOPIC, .msg_id = 0, .data_len = 16
#define PKT4(...) { PKT_BASE, .l3 = PKT_L3_IP4,			\
		    .ip_src = IP4_PUB, .ip_dst = IP4_BROKER, __VA_ARGS__ }
#define PKT6(...) { PKT_BASE, .l3 = PKT_L3_IP6,			\
		    .ip_src = IP6_PUB, .ip_dst = IP6_BROKER, __VA_ARGS__ }

/* A connected publisher and a valid TOPIC; rows add .subs. */
#define TBL(...) { .client = true, .topic = TOPIC,			\
		   .topic_flags = PSO_TOPIC_F_VALID, __VA_ARGS__ }

#define KEEP(v, c)	{ (v), (c), OUT_INPUT }
#define FWD(v, c)	{ (v), (c), OUT_REWRITTEN }
#define BOTH(e)		.drv = e, .off = e

#define TX		FWD(XDP_TX, PSO_CNT_XDP_TX)
#define PASS(c)		KEEP(XDP_PASS, (c))
#define DROP(c)		KEEP(XDP_DROP, (c))
#define NOT_BROKER	BOTH(PASS(PSO_CNT_XDP_PASS_NOT_BROKER))
#define CONTROL		BOTH(PASS(PSO_CNT_XDP_PASS_CONTROL))
#define PASS_HOST	PASS(PSO_CNT_XDP_PASS_HOST)
/* One subscriber behind another port: devmap redirect, or up to the host
 * where the NIC cannot redirect. */
#define OTHER_PORT	.drv = FWD(XDP_REDIRECT, PSO_CNT_XDP_REDIRECT),	\
			.off = PASS_HOST
/* A miss in tables that are complete (driver) or a subset (offload). */
#define MISS(c)		.drv = DROP(c), .off = PASS_HOST

/* Realistic bodies for control messages (MQTT-SN v1.2 sec. 5.4). */
static const uint8_t connect_body[] = {
	MQTTSN_FLAG_CLEAN_SESSION, 0x01, 0x00, 0x3c,	/* flags, protocol, 60 s */
	's', 'e', 'n', 's', 'o', 'r', '-', '1',
};
static const uint8_t subscribe_body[] = {
	MQTTSN_TOPIC_NORMAL, 0x00, 0x01, 'a', '/', 'b', '/', '#',
};
/* Control messages that are not well formed: the data plane drops them. */
static const uint8_t connect_bad_protocol[] = {
	MQTTSN_FLAG_CLEAN_SESSION, 0x02, 0x00, 0x3c, 'x',
};
static const uint8_t subscribe_reserved_type[] = {
	0x03, 0x00, 0x01, 0x00, 0x07,
};
static const uint8_t subscribe_predef_long[] = {
	MQTTSN_TOPIC_PREDEFINED, 0x00, 0x01, 0x00, 0x07, 0x00,
};
static const uint8_t puback_short[] = { 0x00, 0x01, 0x00, 0x02 };
static const uint8_t pingresp_tail[] = { 0x00 };
static const uint8_t register_body[] = {
	0x00, 0x00, 0x00, 0x02, 's', '/', 't', 'e', 'm', 'p',
};
static const uint8_t searchgw_body[] = { 0x01 };	/* radius */
static const uint8_t publish_short_body[] = { QOS0, 0x00, 0x42 };

#define MSG(type, b) .msg_type = (type), .body = (b), .body_len = sizeof(b)
#define MSG_EMPTY(type) .msg_type = (type), .data_len = 0

/* ---- The rows ----------------------------------------------------------- */

static const struct xdp_case xdp_cases[] = {
	/* Forwarding: one subscriber */
	{ "ipv4 qos0 normal topic, subscriber on the ingress port: TX",
	  .pkt = PKT4(), .tbl = TBL(.subs = { SUB_SAME4 }),
	  .stats = true, BOTH(TX) },
	{ "ipv4 qos0 predefined topic id: TX",
	  .pkt = PKT4(.pub_flags = QOS0_PREDEF, .topic_id = TOPIC_PREDEF),
	  .tbl = TBL(.topic = TOPIC_PREDEF, .subs = { SUB_SAME4 }),
	  .stats = true, BOTH(TX) },
	{ "ipv4 qos-1 allowed, publisher not connected: TX",
	  .pkt = PKT4(.pub_flags = QOSM1_PREDEF, .topic_id = TOPIC_PREDEF),
	  .tbl = TBL(.client = false, .topic = TOPIC_PREDEF,
		     .topic_flags = PSO_TOPIC_F_VALID | PSO_TOPIC_F_ALLOW_QOSM1,
		     .subs = { SUB_SAME4 }),
	  .stats = true, BOTH(TX) },
	{ "ipv6 qos0 subscriber on the ingress port: TX",
	  .pkt = PKT6(), .tbl = TBL(.subs = { SUB_SAME6 }),
	  .stats = true, BOTH(TX) },
	{ "ipv6 qos-1 allowed, publisher not connected: TX",
	  .pkt = PKT6(.pub_flags = QOSM1_PREDEF, .topic_id = TOPIC_PREDEF),
	  .tbl = TBL(.client = false, .topic = TOPIC_PREDEF,
		     .topic_flags = PSO_TOPIC_F_VALID | PSO_TOPIC_F_ALLOW_QOSM1,
		     .subs = { SUB_SAME6 }),
	  .stats = true, BOTH(TX) },
	{ "ipv4 subscriber behind another port: REDIRECT / offload PASS_HOST",
	  .pkt = PKT4(), .tbl = TBL(.subs = { SUB_OTHER4 }),
	  .stats = true, OTHER_PORT },
	{ "ipv6 subscriber behind another port: REDIRECT / offload PASS_HOST",
	  .pkt = PKT6(), .tbl = TBL(.subs = { SUB_OTHER6 }),
	  .stats = true, OTHER_PORT },
	{ "ipv4 other port missing from the devmap: PASS_HOST untouched",
	  .pkt = PKT4(), .tbl = TBL(.subs = { SUB_OTHER4 }, .no_devmap = true),
	  .stats = true, BOTH(PASS_HOST) },
	{ "ipv4 UDP checksum 0 stays 0: TX",
	  .pkt = PKT4(.udp_csum_zero = true), .tbl = TBL(.subs = { SUB_SAME4 }),
	  .stats = true, BOTH(TX) },
	{ "ipv4 UDP checksum 0, odd payload, other port: checksum stays 0",
	  .pkt = PKT4(.udp_csum_zero = true, .data_len = 1),
	  .tbl = TBL(.subs = { SUB_OTHER4 }),
	  .stats = true, OTHER_PORT },
	{ "ipv6 UDP checksum 0 (invalid in IPv6): DROP malformed",
	  .pkt = PKT6(.udp_csum_zero = true), .tbl = TBL(.subs = { SUB_SAME6 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },
	/* MsgIds chosen so one checksum computes to 0, sent as 0xffff
	 * (RFC 768): the rewrite must never put a computed 0 on the wire. */
	{ "ipv4 rewritten UDP checksum computes to 0: sent as 0xffff",
	  .pkt = PKT4(.msg_id = 0xe7cb), .tbl = TBL(.subs = { SUB_SAME4 }),
	  .want_csum = 0xffff, .stats = true, BOTH(TX) },
	{ "ipv6 rewritten UDP checksum computes to 0: sent as 0xffff",
	  .pkt = PKT6(.msg_id = 0xdde5), .tbl = TBL(.subs = { SUB_SAME6 }),
	  .want_csum = 0xffff, .stats = true, BOTH(TX) },
	{ "ipv4 input UDP checksum 0xffff (computed 0): TX",
	  .pkt = PKT4(.msg_id = 0xf9f2), .tbl = TBL(.subs = { SUB_SAME4 }),
	  .in_csum = 0xffff, .stats = true, BOTH(TX) },
	{ "ipv6 input UDP checksum 0xffff (computed 0): TX",
	  .pkt = PKT6(.msg_id = 0xf20c), .tbl = TBL(.subs = { SUB_SAME6 }),
	  .in_csum = 0xffff, .stats = true, BOTH(TX) },
	{ "ipv4 802.1Q tag kept: TX",
	  .pkt = PKT4(.vlan = true, .vlan_tci = 100),
	  .tbl = TBL(.subs = { SUB_SAME4 }), .stats = true, BOTH(TX) },
	{ "ipv6 802.1Q tag kept: TX",
	  .pkt = PKT6(.vlan = true, .vlan_tci = 0x2064),
	  .tbl = TBL(.subs = { SUB_SAME6 }), .stats = true, BOTH(TX) },
	{ "ipv4 802.1Q, subscriber behind another port",
	  .pkt = PKT4(.vlan = true, .vlan_tci = 100),
	  .tbl = TBL(.subs = { SUB_OTHER4 }), .stats = true, OTHER_PORT },
	{ "ipv4 options IHL 6 kept: TX",
	  .pkt = PKT4(.ip4_opt_len = 4), .tbl = TBL(.subs = { SUB_SAME4 }),
	  .stats = true, BOTH(TX) },
	{ "ipv4 options IHL 15 kept, odd payload: TX",
	  .pkt = PKT4(.ip4_opt_len = 40, .data_len = 33),
	  .tbl = TBL(.subs = { SUB_SAME4 }), .stats = true, BOTH(TX) },
	{ "ipv4 options IHL 11, 802.1Q, checksum 0, other port",
	  .pkt = PKT4(.ip4_opt_len = 24, .vlan = true, .vlan_tci = 7,
		      .udp_csum_zero = true),
	  .tbl = TBL(.subs = { SUB_OTHER4 }), .stats = true, OTHER_PORT },
	{ "ipv4 DF set is no fragment: TX",
	  .pkt = PKT4(.ip4_frag = 0x4000), .tbl = TBL(.subs = { SUB_SAME4 }),
	  .stats = true, BOTH(TX) },
	{ "ipv4 Ethernet padding after a 49-byte frame kept: TX",
	  .pkt = PKT4(.data_len = 0, .trailer_len = 11),
	  .tbl = TBL(.subs = { SUB_SAME4 }), .stats = true, BOTH(TX) },
	{ "ipv4 topic id of the last table entry: TX",
	  .pkt = PKT4(.topic_id = TOPIC_LAST),
	  .tbl = TBL(.topic = TOPIC_LAST, .subs = { SUB_SAME4 }),
	  .stats = true, BOTH(TX) },
	{ "ipv4 short message in the 3-byte length form: TX",
	  .pkt = PKT4(.long_len = true), .tbl = TBL(.subs = { SUB_SAME4 }),
	  .stats = true, BOTH(TX) },

	/* Payload sizes: odd lengths and the length-form boundary */
	{ "ipv4 payload 0: TX",
	  .pkt = PKT4(.data_len = 0), .tbl = TBL(.subs = { SUB_SAME4 }),
	  .stats = true, BOTH(TX) },
	{ "ipv4 payload 1: TX",
	  .pkt = PKT4(.data_len = 1), .tbl = TBL(.subs = { SUB_SAME4 }),
	  .stats = true, BOTH(TX) },
	{ "ipv4 payload 248, longest 1-byte length (255): TX",
	  .pkt = PKT4(.data_len = 248), .tbl = TBL(.subs = { SUB_SAME4 }),
	  .stats = true, BOTH(TX) },
	{ "ipv4 payload 247, 3-byte length 256: TX",
	  .pkt = PKT4(.data_len = 247, .long_len = true),
	  .tbl = TBL(.subs = { SUB_SAME4 }), .stats = true, BOTH(TX) },
	{ "ipv4 payload 255: TX",
	  .pkt = PKT4(.data_len = 255, .long_len = true),
	  .tbl = TBL(.subs = { SUB_SAME4 }), .stats = true, BOTH(TX) },
	{ "ipv4 payload 256: TX",
	  .pkt = PKT4(.data_len = 256, .long_len = true),
	  .tbl = TBL(.subs = { SUB_SAME4 }), .stats = true, BOTH(TX) },
	{ "ipv4 payload 257: TX",
	  .pkt = PKT4(.data_len = 257, .long_len = true),
	  .tbl = TBL(.subs = { SUB_SAME4 }), .stats = true, BOTH(TX) },
	{ "ipv4 payload 1400: TX",
	  .pkt = PKT4(.data_len = 1400, .long_len = true),
	  .tbl = TBL(.subs = { SUB_SAME4 }), .stats = true, BOTH(TX) },
	{ "ipv4 payload 1400, other port",
	  .pkt = PKT4(.data_len = 1400, .long_len = true),
	  .tbl = TBL(.subs = { SUB_OTHER4 }), .stats = true, OTHER_PORT },
	{ "ipv6 payload 0: TX",
	  .pkt = PKT6(.data_len = 0), .tbl = TBL(.subs = { SUB_SAME6 }),
	  .stats = true, BOTH(TX) },
	{ "ipv6 payload 1: TX",
	  .pkt = PKT6(.data_len = 1), .tbl = TBL(.subs = { SUB_SAME6 }),
	  .stats = true, BOTH(TX) },
	{ "ipv6 payload 255: TX",
	  .pkt = PKT6(.data_len = 255, .long_len = true),
	  .tbl = TBL(.subs = { SUB_SAME6 }), .stats = true, BOTH(TX) },
	{ "ipv6 payload 256: TX",
	  .pkt = PKT6(.data_len = 256, .long_len = true),
	  .tbl = TBL(.subs = { SUB_SAME6 }), .stats = true, BOTH(TX) },
	{ "ipv6 payload 257: TX",
	  .pkt = PKT6(.data_len = 257, .long_len = true),
	  .tbl = TBL(.subs = { SUB_SAME6 }), .stats = true, BOTH(TX) },
	{ "ipv6 payload 1400: TX",
	  .pkt = PKT6(.data_len = 1400, .long_len = true),
	  .tbl = TBL(.subs = { SUB_SAME6 }), .stats = true, BOTH(TX) },

	/* Subscriber sets the fast path hands on */
	{ "ipv4 subscriber slot not resolved: PASS_HOST",
	  .pkt = PKT4(), .tbl = TBL(.subs = { SUB_UNRESOLVED4 }),
	  .stats = true, BOTH(PASS_HOST) },
	{ "ipv4 publish, only subscriber is IPv6: PASS_HOST",
	  .pkt = PKT4(), .tbl = TBL(.subs = { SUB_SAME6 }),
	  .stats = true, BOTH(PASS_HOST) },
	{ "ipv6 publish, only subscriber is IPv4: PASS_HOST",
	  .pkt = PKT6(), .tbl = TBL(.subs = { SUB_SAME4 }),
	  .stats = true, BOTH(PASS_HOST) },
	{ "ipv4 two subscribers: PASS_FANOUT",
	  .pkt = PKT4(), .tbl = TBL(.subs = { SUB_SAME4, SUB_OTHER4 }),
	  .stats = true, BOTH(PASS(PSO_CNT_XDP_PASS_FANOUT)) },
	{ "ipv6 three subscribers, mixed: PASS_FANOUT",
	  .pkt = PKT6(), .tbl = TBL(.subs = { SUB_SAME6, SUB_OTHER4, SUB_UNRESOLVED4 }),
	  .stats = true, BOTH(PASS(PSO_CNT_XDP_PASS_FANOUT)) },
	{ "ipv4 topic without subscribers: DROP no_subscriber",
	  .pkt = PKT4(), .tbl = TBL(),
	  .stats = true, BOTH(DROP(PSO_CNT_XDP_DROP_NO_SUBSCRIBER)) },

	/* Admission and topic lookup */
	{ "ipv4 qos0 from an unconnected client: DROP / offload PASS_HOST",
	  .pkt = PKT4(), .tbl = TBL(.client = false, .subs = { SUB_SAME4 }),
	  MISS(PSO_CNT_XDP_DROP_NOT_CONNECTED) },
	{ "ipv6 qos0 from an unconnected client: DROP / offload PASS_HOST",
	  .pkt = PKT6(), .tbl = TBL(.client = false, .subs = { SUB_SAME6 }),
	  MISS(PSO_CNT_XDP_DROP_NOT_CONNECTED) },
	{ "ipv4 qos0 from a connected address but another port: not connected",
	  .pkt = PKT4(.sport = PUB_PORT + 1), .tbl = TBL(.subs = { SUB_SAME4 }),
	  MISS(PSO_CNT_XDP_DROP_NOT_CONNECTED) },
	{ "ipv4 qos-1 to a topic that forbids it: DROP qosm1_denied",
	  .pkt = PKT4(.pub_flags = QOSM1_PREDEF, .topic_id = TOPIC_PREDEF),
	  .tbl = TBL(.client = false, .topic = TOPIC_PREDEF, .subs = { SUB_SAME4 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_QOSM1_DENIED)) },
	{ "ipv4 qos-1 to a topic not in the table: miss",
	  .pkt = PKT4(.pub_flags = QOSM1_PREDEF, .topic_id = TOPIC_PREDEF),
	  .tbl = TBL(.client = false, .subs = { SUB_SAME4 }),
	  MISS(PSO_CNT_XDP_DROP_UNKNOWN_TOPIC) },
	{ "ipv4 topic entry not VALID: miss",
	  .pkt = PKT4(), .tbl = TBL(.topic_flags = 0, .subs = { SUB_SAME4 }),
	  MISS(PSO_CNT_XDP_DROP_UNKNOWN_TOPIC) },
	{ "ipv4 topic id beyond the table: miss",
	  .pkt = PKT4(.topic_id = TOPIC_BEYOND), .tbl = TBL(.subs = { SUB_SAME4 }),
	  MISS(PSO_CNT_XDP_DROP_UNKNOWN_TOPIC) },
	{ "ipv6 topic id 0xffff: miss",
	  .pkt = PKT6(.topic_id = 0xffff), .tbl = TBL(.subs = { SUB_SAME6 }),
	  MISS(PSO_CNT_XDP_DROP_UNKNOWN_TOPIC) },
	{ "ipv4 RETAIN: PASS_RETAIN",
	  .pkt = PKT4(.pub_flags = QOS0 | MQTTSN_FLAG_RETAIN),
	  .tbl = TBL(.subs = { SUB_SAME4 }),
	  .stats = true, BOTH(PASS(PSO_CNT_XDP_PASS_RETAIN)) },
	{ "ipv6 RETAIN qos-1 to a topic without subscribers: PASS_RETAIN",
	  .pkt = PKT6(.pub_flags = QOSM1_PREDEF | MQTTSN_FLAG_RETAIN,
		      .topic_id = TOPIC_PREDEF),
	  .tbl = TBL(.client = false, .topic = TOPIC_PREDEF,
		     .topic_flags = PSO_TOPIC_F_VALID | PSO_TOPIC_F_ALLOW_QOSM1),
	  .stats = true, BOTH(PASS(PSO_CNT_XDP_PASS_RETAIN)) },
	{ "ipv4 qos1: PASS_SLOW_QOS",
	  .pkt = PKT4(.pub_flags = MQTTSN_FLAG_QOS_1, .msg_id = 7),
	  .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(PASS(PSO_CNT_XDP_PASS_SLOW_QOS)) },
	{ "ipv6 qos2: PASS_SLOW_QOS",
	  .pkt = PKT6(.pub_flags = MQTTSN_FLAG_QOS_2, .msg_id = 8),
	  .tbl = TBL(.subs = { SUB_SAME6 }),
	  BOTH(PASS(PSO_CNT_XDP_PASS_SLOW_QOS)) },
	{ "ipv4 qos1 from an unconnected client: PASS_SLOW_QOS, daemon decides",
	  .pkt = PKT4(.pub_flags = MQTTSN_FLAG_QOS_1, .msg_id = 9),
	  .tbl = TBL(.client = false),
	  BOTH(PASS(PSO_CNT_XDP_PASS_SLOW_QOS)) },
	{ "ipv4 short topic name: PASS_CONTROL",
	  .pkt = PKT4(.pub_flags = MQTTSN_FLAG_QOS_0 | MQTTSN_TOPIC_SHORT,
		      .topic_id = ('a' << 8) | 'b'),
	  .tbl = TBL(.subs = { SUB_SAME4 }), CONTROL },
	{ "ipv4 reserved topic id type 3: DROP malformed",
	  .pkt = PKT4(.pub_flags = MQTTSN_FLAG_QOS_0 | 0x03),
	  .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },

	/* Control messages and message types */
	{ "ipv4 CONNECT: PASS_CONTROL",
	  .pkt = PKT4(MSG(MQTTSN_CONNECT, connect_body)), .tbl = TBL(), CONTROL },
	{ "ipv6 CONNECT, 3-byte length form: PASS_CONTROL",
	  .pkt = PKT6(MSG(MQTTSN_CONNECT, connect_body), .long_len = true),
	  .tbl = TBL(), CONTROL },
	{ "ipv4 SUBSCRIBE: PASS_CONTROL",
	  .pkt = PKT4(MSG(MQTTSN_SUBSCRIBE, subscribe_body)), .tbl = TBL(), CONTROL },
	{ "ipv4 REGISTER: PASS_CONTROL",
	  .pkt = PKT4(MSG(MQTTSN_REGISTER, register_body)), .tbl = TBL(), CONTROL },
	{ "ipv4 PINGREQ: PASS_CONTROL",
	  .pkt = PKT4(MSG_EMPTY(MQTTSN_PINGREQ)), .tbl = TBL(), CONTROL },
	{ "ipv6 PINGREQ over 802.1Q: PASS_CONTROL",
	  .pkt = PKT6(MSG_EMPTY(MQTTSN_PINGREQ), .vlan = true, .vlan_tci = 5),
	  .tbl = TBL(), CONTROL },
	{ "ipv4 CONNECT with protocol id 2: DROP malformed",
	  .pkt = PKT4(MSG(MQTTSN_CONNECT, connect_bad_protocol)), .tbl = TBL(),
	  BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },
	{ "ipv4 SUBSCRIBE with reserved topic id type: DROP malformed",
	  .pkt = PKT4(MSG(MQTTSN_SUBSCRIBE, subscribe_reserved_type)), .tbl = TBL(),
	  BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },
	{ "ipv6 SUBSCRIBE predefined id with a trailing byte: DROP malformed",
	  .pkt = PKT6(MSG(MQTTSN_SUBSCRIBE, subscribe_predef_long)), .tbl = TBL(),
	  BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },
	{ "ipv4 PUBACK one byte short: DROP malformed",
	  .pkt = PKT4(MSG(MQTTSN_PUBACK, puback_short)), .tbl = TBL(),
	  BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },
	{ "ipv4 PINGRESP with a body: DROP malformed",
	  .pkt = PKT4(MSG(MQTTSN_PINGRESP, pingresp_tail)), .tbl = TBL(),
	  BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },
	{ "ipv4 DISCONNECT: PASS_CONTROL",
	  .pkt = PKT4(MSG_EMPTY(MQTTSN_DISCONNECT)), .tbl = TBL(), CONTROL },
	{ "ipv4 SEARCHGW: PASS_CONTROL",
	  .pkt = PKT4(MSG(MQTTSN_SEARCHGW, searchgw_body)), .tbl = TBL(), CONTROL },
	{ "ipv4 encapsulated message (0xfe): PASS_CONTROL",
	  .pkt = PKT4(.msg_type = MQTTSN_ENCAPSULATED, .data_len = 6),
	  .tbl = TBL(), CONTROL },
	{ "ipv4 undefined message type 0x03: DROP malformed",
	  .pkt = PKT4(.msg_type = 0x03, .data_len = 4),
	  .tbl = TBL(), BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },
	{ "ipv4 undefined message type 0x19: DROP malformed",
	  .pkt = PKT4(.msg_type = 0x19, .data_len = 0),
	  .tbl = TBL(), BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },
	{ "ipv6 undefined message type 0xff: DROP malformed",
	  .pkt = PKT6(.msg_type = 0xff, .data_len = 3),
	  .tbl = TBL(), BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },

	/* MQTT-SN and UDP lengths */
	{ "ipv4 MQTT-SN length one more than the UDP payload: DROP length",
	  .pkt = PKT4(.msg_len_adjust = 1), .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_LENGTH)) },
	{ "ipv4 MQTT-SN length one less than the UDP payload: DROP length",
	  .pkt = PKT4(.msg_len_adjust = -1), .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_LENGTH)) },
	{ "ipv6 3-byte length one more than the UDP payload: DROP length",
	  .pkt = PKT6(.data_len = 300, .long_len = true, .msg_len_adjust = 1),
	  .tbl = TBL(.subs = { SUB_SAME6 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_LENGTH)) },
	{ "ipv4 control message with a wrong length: DROP length",
	  .pkt = PKT4(MSG(MQTTSN_CONNECT, connect_body), .msg_len_adjust = 2),
	  .tbl = TBL(), BOTH(DROP(PSO_CNT_XDP_DROP_LENGTH)) },
	{ "ipv4 1-byte length 0: DROP malformed",
	  .pkt = PKT4(MSG_EMPTY(MQTTSN_PINGREQ), .msg_len_adjust = -2),
	  .tbl = TBL(), BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },
	{ "ipv4 3-byte length 3, shorter than its header: DROP malformed",
	  .pkt = PKT4(MSG_EMPTY(MQTTSN_PINGREQ), .long_len = true,
		      .msg_len_adjust = -1),
	  .tbl = TBL(), BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },
	{ "ipv4 PUBLISH shorter than flags, topic id, msg id: DROP malformed",
	  .pkt = PKT4(MSG(MQTTSN_PUBLISH, publish_short_body)),
	  .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },
	{ "ipv4 empty UDP payload: DROP malformed",
	  .pkt = PKT4(.msg_type = PKT_RAW_PAYLOAD, .data_len = 0),
	  .tbl = TBL(), BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },
	{ "ipv6 1-byte UDP payload: DROP malformed",
	  .pkt = PKT6(.msg_type = PKT_RAW_PAYLOAD, .data_len = 1),
	  .tbl = TBL(), BOTH(DROP(PSO_CNT_XDP_DROP_MALFORMED)) },
	{ "ipv4 UDP length beyond the IP payload: DROP length",
	  .pkt = PKT4(.udp_len_adjust = 2), .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_LENGTH)) },
	{ "ipv6 UDP length beyond the IP payload: DROP length",
	  .pkt = PKT6(.udp_len_adjust = 1), .tbl = TBL(.subs = { SUB_SAME6 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_LENGTH)) },
	/* UDP and MQTT-SN agree, the IP header claims less: the datagram
	 * would run past the IP packet. */
	{ "ipv4 IP total length 2 short of the UDP datagram: DROP length",
	  .pkt = PKT4(.ip_len_adjust = -2), .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_LENGTH)) },
	{ "ipv6 payload length 1 short of the UDP datagram: DROP length",
	  .pkt = PKT6(.ip_len_adjust = -1), .tbl = TBL(.subs = { SUB_SAME6 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_LENGTH)) },
	{ "ipv4 UDP length 7, below its own header: DROP length",
	  .pkt = PKT4(.udp_len_adjust = -(8 + 23) + 7),
	  .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_LENGTH)) },
	{ "ipv4 UDP length one short of the message: DROP length",
	  .pkt = PKT4(.udp_len_adjust = -1), .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_LENGTH)) },
	{ "ipv4 IP total length beyond the frame: DROP truncated",
	  .pkt = PKT4(.ip_len_adjust = 8), .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_TRUNCATED)) },
	{ "ipv6 payload length beyond the frame: DROP truncated",
	  .pkt = PKT6(.ip_len_adjust = 1), .tbl = TBL(.subs = { SUB_SAME6 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_TRUNCATED)) },

	/* Truncation at every header boundary */
	{ "frame is an Ethernet header alone: PASS not_broker",
	  .pkt = PKT4(), .cut = 14, .tbl = TBL(.subs = { SUB_SAME4 }), NOT_BROKER },
	{ "frame ends inside the 802.1Q tag: PASS not_broker",
	  .pkt = PKT4(.vlan = true), .cut = 16,
	  .tbl = TBL(.subs = { SUB_SAME4 }), NOT_BROKER },
	{ "frame ends inside the IPv4 header: PASS not_broker",
	  .pkt = PKT4(), .cut = 14 + 19, .tbl = TBL(.subs = { SUB_SAME4 }),
	  NOT_BROKER },
	{ "frame ends inside the IPv4 options: PASS not_broker",
	  .pkt = PKT4(.ip4_opt_len = 8), .cut = 14 + 24,
	  .tbl = TBL(.subs = { SUB_SAME4 }), NOT_BROKER },
	{ "frame ends inside the IPv6 header: PASS not_broker",
	  .pkt = PKT6(), .cut = 14 + 39, .tbl = TBL(.subs = { SUB_SAME6 }),
	  NOT_BROKER },
	{ "frame ends inside the UDP header (ipv4): PASS not_broker",
	  .pkt = PKT4(), .cut = 14 + 20 + 7, .tbl = TBL(.subs = { SUB_SAME4 }),
	  NOT_BROKER },
	{ "frame ends inside the UDP header (ipv6, 802.1Q): PASS not_broker",
	  .pkt = PKT6(.vlan = true), .cut = 18 + 40 + 4,
	  .tbl = TBL(.subs = { SUB_SAME6 }), NOT_BROKER },
	{ "frame ends right after the UDP header (ipv4): DROP truncated",
	  .pkt = PKT4(), .cut = 14 + 20 + 8, .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_TRUNCATED)) },
	{ "frame ends right after the UDP header (ipv6): DROP truncated",
	  .pkt = PKT6(), .cut = 14 + 40 + 8, .tbl = TBL(.subs = { SUB_SAME6 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_TRUNCATED)) },
	{ "frame ends inside the PUBLISH fields: DROP truncated",
	  .pkt = PKT4(), .cut = 14 + 20 + 8 + 4, .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_TRUNCATED)) },
	{ "frame one byte short of its IP length: DROP truncated",
	  .pkt = PKT4(.data_len = 257, .long_len = true), .trim = 1,
	  .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(DROP(PSO_CNT_XDP_DROP_TRUNCATED)) },

	/* Not for the broker: untouched */
	{ "ipv4 UDP to another port: PASS not_broker",
	  .pkt = PKT4(.dport = BROKER_PORT + 1), .tbl = TBL(.subs = { SUB_SAME4 }),
	  NOT_BROKER },
	{ "ipv4 to another address: PASS not_broker",
	  .pkt = PKT4(.ip_dst = IP4_OTHER), .tbl = TBL(.subs = { SUB_SAME4 }),
	  NOT_BROKER },
	{ "ipv6 to another address: PASS not_broker",
	  .pkt = PKT6(.ip_dst = IP6_OTHER), .tbl = TBL(.subs = { SUB_SAME6 }),
	  NOT_BROKER },
	{ "ipv4 TCP to the broker port (MQTT over TCP): PASS not_broker",
	  .pkt = PKT4(.l4 = PKT_L4_TCP), .tbl = TBL(.subs = { SUB_SAME4 }),
	  NOT_BROKER },
	{ "ARP request for the broker address: PASS not_broker",
	  .pkt = PKT4(.l3 = PKT_L3_ARP, .eth_dst = MAC_BCAST), .tbl = TBL(),
	  NOT_BROKER },
	{ "ingress port is no broker port: PASS not_broker",
	  .pkt = PKT4(), .tbl = TBL(.no_port = true, .subs = { SUB_SAME4 }),
	  NOT_BROKER },

	/* Fragments: the stack reassembles */
	{ "ipv4 first fragment (MF): PASS fragment",
	  .pkt = PKT4(.ip4_frag = 0x2000), .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(PASS(PSO_CNT_XDP_PASS_FRAGMENT)) },
	{ "ipv4 last fragment (offset 185): PASS fragment",
	  .pkt = PKT4(.ip4_frag = 185), .tbl = TBL(.subs = { SUB_SAME4 }),
	  BOTH(PASS(PSO_CNT_XDP_PASS_FRAGMENT)) },
	{ "ipv6 fragment header (M set): PASS fragment",
	  .pkt = PKT6(.ip6_frag_hdr = true, .ip6_frag = 0x0001),
	  .tbl = TBL(.subs = { SUB_SAME6 }),
	  BOTH(PASS(PSO_CNT_XDP_PASS_FRAGMENT)) },
	{ "ipv6 atomic fragment (offset 0, M clear): PASS fragment",
	  .pkt = PKT6(.ip6_frag_hdr = true, .ip6_frag = 0),
	  .tbl = TBL(.subs = { SUB_SAME6 }),
	  BOTH(PASS(PSO_CNT_XDP_PASS_FRAGMENT)) },
};

#define N_CASES (sizeof(xdp_cases) / sizeof(xdp_cases[0]))

/* ---- The two builds ------------------------------------------------------ */

/*
 * How the driver build's direct-mapped slots stand beside the HASHes (the
 * answers must not depend on it):
 *   HASH      slots empty: port and client found in pso_port_cfg/pso_clients;
 *   SLOTS     port and client in their slots too, as the daemon puts them;
 *   TAKEN     their slots hold another port and another client: HASH;
 *   DISABLED  their slots hold this port and client, disabled (flags and
 *             family 0) over wrong content: HASH.
 */
enum layout { LAYOUT_HASH, LAYOUT_SLOTS, LAYOUT_TAKEN, LAYOUT_DISABLED };

struct build {
	const char *name;
	bool offload;
	enum layout layout;
	int port_slots_fd, client_slots_fd;	/* driver build, else -1 */
	int prog_fd;
	int port_cfg_fd, topics_fd, subs_fd, clients_fd;
	int counters_fd, stats_fd;
	int devmap_fd;		/* driver build only, else -1 */
	int ncpus;		/* values per element: per-CPU maps hold one per CPU */
};

static struct psoffload_xdp *drv_skel;
static struct psoffload_xdp_offload *off_skel;
static struct build builds[] = {
	{ .name = "drv", .layout = LAYOUT_HASH },
	{ .name = "off", .offload = true },
	{ .name = "drv/slots", .layout = LAYOUT_SLOTS },
	{ .name = "drv/taken", .layout = LAYOUT_TAKEN },
	{ .name = "drv/disabled", .layout = LAYOUT_DISABLED },
};
#define N_BUILDS (sizeof(builds) / sizeof(builds[0]))
static int other_ifindex;	/* VETH_PORT, 0 when it could not be made */
static struct nl_sock *rtnl;

static void build_init_drv(struct build *b)
{
	b->prog_fd = bpf_program__fd(drv_skel->progs.psoffload_xdp);
	b->port_cfg_fd = bpf_map__fd(drv_skel->maps.pso_port_cfg);
	b->topics_fd = bpf_map__fd(drv_skel->maps.pso_topics);
	b->subs_fd = bpf_map__fd(drv_skel->maps.pso_subs);
	b->clients_fd = bpf_map__fd(drv_skel->maps.pso_clients);
	b->counters_fd = bpf_map__fd(drv_skel->maps.pso_counters);
	b->stats_fd = bpf_map__fd(drv_skel->maps.pso_topic_stats);
	b->devmap_fd = bpf_map__fd(drv_skel->maps.pso_devmap);
	b->port_slots_fd = bpf_map__fd(drv_skel->maps.pso_port_slots);
	b->client_slots_fd = bpf_map__fd(drv_skel->maps.pso_client_slots);
	b->ncpus = libbpf_num_possible_cpus();
}

static void build_init_off(struct build *b)
{
	b->prog_fd = bpf_program__fd(off_skel->progs.psoffload_xdp);
	b->port_cfg_fd = bpf_map__fd(off_skel->maps.pso_port_cfg);
	b->topics_fd = bpf_map__fd(off_skel->maps.pso_topics);
	b->subs_fd = -1;	/* the offload build has no slot table */
	b->clients_fd = bpf_map__fd(off_skel->maps.pso_clients);
	b->counters_fd = bpf_map__fd(off_skel->maps.pso_counters);
	b->stats_fd = bpf_map__fd(off_skel->maps.pso_topic_stats);
	b->devmap_fd = -1;
	b->port_slots_fd = b->client_slots_fd = -1;
	b->ncpus = 1;		/* plain ARRAY counters */
}

/* ---- Table contents ----------------------------------------------------- */

static void set_addr(uint8_t *a, const char *text, int family)
{
	memset(a, 0, 16);
	assert_int_equal(inet_pton(family == PSO_AF_INET6 ? AF_INET6 : AF_INET,
				   text, a), 1);
}

/* The slot a subscriber kind stands for: every field the rewrite writes. */
static struct pso_sub make_sub(enum sub_kind k)
{
	static const uint8_t broker_mac[6] = MAC_BROKER;
	static const uint8_t port2_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x01, 0x01 };
	bool other = k == SUB_OTHER4 || k == SUB_OTHER6;
	bool v6 = k == SUB_SAME6 || k == SUB_OTHER6;
	struct pso_sub s = {
		.dst_mac = { 0x02, 0x00, 0x00, 0x00, other ? 0x01 : 0x00, 0x0b + k },
		.ifindex = other ? (uint32_t)other_ifindex : LO_IFINDEX,
		.dst_port = htons(50000 + k),
		.family = v6 ? PSO_AF_INET6 : PSO_AF_INET,
		.flags = k == SUB_UNRESOLVED4 ? 0 : PSO_SUB_F_RESOLVED,
	};

	memcpy(s.src_mac, other ? port2_mac : broker_mac, 6);
	if (v6) {
		set_addr(s.src_addr, other ? "fd01::1" : "fd00::1", s.family);
		set_addr(s.dst_addr, other ? "fd01::12" : "fd00::11", s.family);
	} else {
		set_addr(s.src_addr, other ? "10.1.0.1" : "10.0.0.1", s.family);
		set_addr(s.dst_addr, other ? "10.1.0.12" : "10.0.0.11", s.family);
	}
	return s;
}

static int sub_count(const struct tables *t)
{
	int n = 0;

	while (n < MAX_ROW_SUBS && t->subs[n] != SUB_NONE)
		n++;
	return n;
}

static void write_port_cfg(const struct build *b)
{
	static const uint8_t mac[6] = MAC_BROKER;
	struct pso_port_cfg cfg = {
		.ifindex = LO_IFINDEX,
		.udp_port = htons(BROKER_PORT),
	};
	__u32 key = b->offload ? 0 : LO_IFINDEX;

	__u32 slot = pso_port_slot_of(LO_IFINDEX);
	struct pso_port_cfg other;

	memcpy(cfg.mac, mac, 6);
	set_addr((uint8_t *)&cfg.ip4, "10.0.0.1", PSO_AF_INET);
	set_addr(cfg.ip6, "fd00::1", PSO_AF_INET6);
	cfg.flags = PSO_PORT_F_VALID;
	assert_int_equal(bpf_map_update_elem(b->port_cfg_fd, &key, &cfg, BPF_ANY), 0);
	other = cfg;
	switch (b->layout) {
	case LAYOUT_HASH:
		return;
	case LAYOUT_SLOTS:
		break;
	case LAYOUT_TAKEN:	/* another port, same slot, another UDP port */
		other.ifindex = LO_IFINDEX + PSO_PORT_SLOTS;
		other.udp_port = htons(BROKER_PORT + 1);
		break;
	case LAYOUT_DISABLED:	/* being rewritten: wrong content, flags 0 */
		other.udp_port = htons(BROKER_PORT + 1);
		other.ip4 ^= htonl(1);
		other.flags = 0;
		break;
	}
	assert_int_equal(bpf_map_update_elem(b->port_slots_fd, &slot, &other, BPF_ANY), 0);
}

static uint32_t client_slot_index(const struct pso_endpoint *ep)
{
	uint32_t w[4];

	memcpy(w, ep->addr, sizeof(w));
	return pso_client_slot_of(w[0], w[1], w[2], w[3], ep->port);
}

/* Admitted publishes counted for the row's client, in its HASH value and
 * its slot. */
static uint64_t client_rx(const struct build *b, const struct pso_endpoint *ep)
{
	struct pso_client_val val = { 0 };
	struct pso_client_slot cs = { 0 };
	uint32_t idx = client_slot_index(ep);
	uint64_t rx = 0;

	if (!bpf_map_lookup_elem(b->clients_fd, ep, &val))
		rx += val.rx_msgs;
	if (b->client_slots_fd >= 0 && !bpf_map_lookup_elem(b->client_slots_fd, &idx, &cs) &&
	    cs.ep.family == ep->family && cs.ep.port == ep->port &&
	    !memcmp(cs.ep.addr, ep->addr, 16))
		rx += cs.rx_msgs;
	return rx;
}

/* The connected client is (publisher address, PUB_PORT): a publish from
 * another source port is a different client. */
static struct pso_endpoint row_client(const struct pkt_desc *d)
{
	struct pso_endpoint ep = {
		.port = htons(PUB_PORT),
		.family = d->l3 == PKT_L3_IP6 ? PSO_AF_INET6 : PSO_AF_INET,
	};

	memcpy(ep.addr, d->ip_src, ep.family == PSO_AF_INET6 ? 16 : 4);
	return ep;
}

static void write_client(const struct build *b, const struct pkt_desc *d)
{
	struct pso_endpoint ep = row_client(d);
	struct pso_client_val val = { 0 };
	struct pso_client_slot cs = { .ep = ep };
	uint32_t idx = client_slot_index(&ep);

	assert_int_equal(bpf_map_update_elem(b->clients_fd, &ep, &val, BPF_ANY), 0);
	switch (b->layout) {
	case LAYOUT_HASH:
		return;
	case LAYOUT_SLOTS:
		break;
	case LAYOUT_TAKEN:	/* another client (address + 1) in the slot */
		cs.ep.addr[ep.family == PSO_AF_INET6 ? 15 : 3] ^= 1;
		break;
	case LAYOUT_DISABLED:
		cs.ep.family = 0;
		break;
	}
	assert_int_equal(bpf_map_update_elem(b->client_slots_fd, &idx, &cs, BPF_ANY), 0);
}

/* ABI write order: the slots first, then the topic whose sub_count covers them. */
static void write_topic(const struct build *b, const struct tables *t)
{
	struct pso_topic topic = {
		.sub_count = (uint16_t)sub_count(t),
		.flags = t->topic_flags,
	};

	for (int i = 0; i < topic.sub_count; i++) {
		struct pso_sub s = make_sub(t->subs[i]);
		__u32 key = (__u32)t->topic * PSO_MAX_SUBS + i;

		if (b->subs_fd >= 0)
			assert_int_equal(bpf_map_update_elem(b->subs_fd, &key, &s, BPF_ANY), 0);
		if (i == 0)
			topic.first = s;
	}
	__u32 key = t->topic;
	assert_int_equal(bpf_map_update_elem(b->topics_fd, &key, &topic, BPF_ANY), 0);
	/* The NIC's tables are HASHes of the placed topics: the controller
	 * places a topic with a zeroed stats entry beside it. */
	if (b->offload) {
		struct pso_topic_stats zero = { 0 };

		assert_int_equal(bpf_map_update_elem(b->stats_fd, &key, &zero, BPF_ANY), 0);
	}
}

static void write_devmap(const struct build *b)
{
	__u32 key = (__u32)other_ifindex, val = (__u32)other_ifindex;

	assert_int_equal(bpf_map_update_elem(b->devmap_fd, &key, &val, BPF_ANY), 0);
}

static void write_tables(const struct build *b, const struct xdp_case *c)
{
	if (!c->tbl.no_port)
		write_port_cfg(b);
	if (c->tbl.client)
		write_client(b, &c->pkt);
	if (c->tbl.topic)
		write_topic(b, &c->tbl);
	if (b->devmap_fd >= 0 && other_ifindex && !c->tbl.no_devmap)
		write_devmap(b);
}

static void delete_all(int fd, size_t key_size)
{
	uint8_t key[64];

	assert_true(key_size <= sizeof(key));
	while (bpf_map_get_next_key(fd, NULL, key) == 0)
		assert_int_equal(bpf_map_delete_elem(fd, key), 0);
}

static void zero_elem(int fd, __u32 key, size_t value_size)
{
	uint8_t zero[128] = { 0 };

	assert_true(value_size <= sizeof(zero));
	assert_int_equal(bpf_map_update_elem(fd, &key, zero, BPF_ANY), 0);
}

/* Back to empty tables, so no row sees another row's entries. */
static void clear_tables(const struct build *b, const struct xdp_case *c)
{
	if (b->offload)
		zero_elem(b->port_cfg_fd, 0, sizeof(struct pso_port_cfg));
	else
		delete_all(b->port_cfg_fd, sizeof(__u32));
	delete_all(b->clients_fd, sizeof(struct pso_endpoint));
	if (b->port_slots_fd >= 0)
		zero_elem(b->port_slots_fd, pso_port_slot_of(LO_IFINDEX), sizeof(struct pso_port_cfg));
	if (b->client_slots_fd >= 0) {
		struct pso_endpoint ep = row_client(&c->pkt);

		zero_elem(b->client_slots_fd, client_slot_index(&ep), sizeof(struct pso_client_slot));
	}
	if (b->devmap_fd >= 0)
		delete_all(b->devmap_fd, sizeof(__u32));
	if (c->tbl.topic && b->offload) {
		__u32 key = c->tbl.topic;

		bpf_map_delete_elem(b->topics_fd, &key);
		bpf_map_delete_elem(b->stats_fd, &key);
	} else if (c->tbl.topic) {
		zero_elem(b->topics_fd, c->tbl.topic, sizeof(struct pso_topic));
		for (int i = 0; i < MAX_ROW_SUBS && b->subs_fd >= 0; i++)
			zero_elem(b->subs_fd, (__u32)c->tbl.topic * PSO_MAX_SUBS + i,
				  sizeof(struct pso_sub));
	}
}

/* ---- Reading the outcome ------------------------------------------------ */

static void read_counters(const struct build *b, uint64_t cnt[PSO_CNT__MAX])
{
	uint64_t *vals = calloc(b->ncpus, sizeof(*vals));

	assert_non_null(vals);
	for (__u32 k = 0; k < PSO_CNT__MAX; k++) {
		assert_int_equal(bpf_map_lookup_elem(b->counters_fd, &k, vals), 0);
		cnt[k] = 0;
		for (int i = 0; i < b->ncpus; i++)
			cnt[k] += vals[i];
	}
	free(vals);
}

/* Summed over CPUs; a topic id outside the table has no stats (all 0). */
static struct pso_topic_stats read_stats(const struct build *b, __u32 topic)
{
	struct pso_topic_stats sum = { 0 }, *vals;

	if (topic >= PSO_MAX_TOPICS)
		return sum;
	vals = calloc(b->ncpus, sizeof(*vals));
	assert_non_null(vals);
	/* The NIC's HASH has no entry for a topic that is not placed. */
	if (b->offload && bpf_map_lookup_elem(b->stats_fd, &topic, vals)) {
		free(vals);
		return sum;
	}
	if (!b->offload)
		assert_int_equal(bpf_map_lookup_elem(b->stats_fd, &topic, vals), 0);
	for (int i = 0; i < b->ncpus; i++) {
		sum.msgs += vals[i].msgs;
		sum.bytes += vals[i].bytes;
	}
	free(vals);
	return sum;
}

/* The topic whose stats a row watches: the one the frame names, if any. */
static __u32 stats_topic(const struct xdp_case *c)
{
	if (c->pkt.msg_type == MQTTSN_PUBLISH && !c->pkt.body)
		return c->pkt.topic_id;
	return TOPIC;
}

static int run_prog(const struct build *b, const uint8_t *in, size_t len,
		    uint8_t *out, size_t *out_len, int *retval)
{
	/* Driver build: the port config is keyed by the ingress ifindex the
	 * program reads from the context.  The offload build ignores it. */
	struct xdp_md ctx = {
		.data_end = (__u32)len,
		.ingress_ifindex = LO_IFINDEX,
	};
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = in,
		.data_size_in = (__u32)len,
		.data_out = out,
		.data_size_out = (__u32)*out_len,
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.repeat = 1,
	);
	int err = bpf_prog_test_run_opts(b->prog_fd, &opts);

	*out_len = opts.data_size_out;
	*retval = (int)opts.retval;
	return err;
}

/* ---- Expectations ------------------------------------------------------- */

/* The input as the subscriber must receive it: headers from the slot, the
 * source port the broker's (one port number on every interface, from the
 * ingress port's config), everything else as sent; pkt_build() computes
 * every checksum again. */
static void rewrite_desc(struct pkt_desc *d, const struct pso_sub *s)
{
	memcpy(d->eth_dst, s->dst_mac, 6);
	memcpy(d->eth_src, s->src_mac, 6);
	memcpy(d->ip_src, s->src_addr, 16);
	memcpy(d->ip_dst, s->dst_addr, 16);
	d->ttl = FWD_TTL;
	d->sport = BROKER_PORT;
	d->dport = ntohs(s->dst_port);
}

static const char *const counter_names[] = PSO_COUNTER_NAMES;

static const char *verdict_name(int v)
{
	static const char *const names[] = {
		"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT",
	};

	return v >= 0 && v < 5 ? names[v] : "?";
}

/* One test = one row in one build. */
struct run {
	const struct xdp_case *c;
	struct build *b;
	char name[160];
};

struct outcome {
	uint8_t in[PKT_MAX_LEN], want[PKT_MAX_LEN], out[PKT_MAX_LEN * 2];
	size_t in_len, want_len, out_len;
	int retval;
	uint64_t before[PSO_CNT__MAX], after[PSO_CNT__MAX];
	struct pso_topic_stats st_before, st_after;
	size_t msg_len;
	char errs[1024];
	size_t n_errs;
};

static void __attribute__((format(printf, 2, 3)))
complain(struct outcome *o, const char *fmt, ...)
{
	size_t used = strlen(o->errs);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(o->errs + used, sizeof(o->errs) - used, fmt, ap);
	va_end(ap);
	o->n_errs++;
}

static void check_counters(struct outcome *o, const struct expect *e)
{
	for (int k = 0; k < PSO_CNT__MAX; k++) {
		uint64_t delta = o->after[k] - o->before[k];
		uint64_t want = k == (int)e->counter ? 1 : 0;

		if (delta != want)
			complain(o, "  counter %s moved by %llu, expected %llu\n",
				 counter_names[k], (unsigned long long)delta,
				 (unsigned long long)want);
	}
}

static void check_stats(struct outcome *o, const struct xdp_case *c)
{
	uint64_t msgs = o->st_after.msgs - o->st_before.msgs;
	uint64_t bytes = o->st_after.bytes - o->st_before.bytes;
	uint64_t want_msgs = c->stats ? 1 : 0;
	uint64_t want_bytes = c->stats ? o->msg_len : 0;

	if (msgs != want_msgs || bytes != want_bytes)
		complain(o, "  topic stats moved by %llu msgs / %llu bytes, expected %llu / %llu\n",
			 (unsigned long long)msgs, (unsigned long long)bytes,
			 (unsigned long long)want_msgs, (unsigned long long)want_bytes);
}

static void check_output(struct outcome *o, const struct expect *e)
{
	char why[128];

	if (o->out_len != o->want_len ||
	    memcmp(o->out, o->want, o->want_len) != 0)
		complain(o, "  output differs from the expected %s\n",
			 e->out == OUT_REWRITTEN ? "rewritten frame" : "input");
	/* Redundant with the byte comparison, but says which checksum broke. */
	if (e->out == OUT_REWRITTEN &&
	    pkt_check_csums(o->out, o->out_len, why, sizeof(why)) != 0)
		complain(o, "  output checksum: %s\n", why);
}

static void report(const struct run *r, const struct expect *e, struct outcome *o)
{
	fflush(stdout);
	fprintf(stderr, "%s\n  verdict %s, expected %s; counter expected %s\n%s",
		r->name, verdict_name(o->retval), verdict_name(e->verdict),
		counter_names[e->counter], o->errs);
	pkt_hexdump(stderr, "input", o->in, o->in_len, NULL, 0);
	pkt_hexdump(stderr, "expected", o->want, o->want_len, NULL, 0);
	pkt_hexdump(stderr, "actual (* = differs)", o->out, o->out_len,
		    o->want, o->want_len);
	fflush(stderr);
}

/* ---- The tests ---------------------------------------------------------- */

static uint16_t udp_csum_field(const uint8_t *frame, const struct pkt_info *info)
{
	return (uint16_t)(frame[info->l4_off + 6] << 8 | frame[info->l4_off + 7]);
}

static void build_frames(const struct xdp_case *c, const struct expect *e,
			 struct outcome *o)
{
	struct pkt_info info;
	int len = pkt_build(&c->pkt, o->in, sizeof(o->in), &info);

	assert_true(len > 0);
	if (c->in_csum)
		assert_int_equal(udp_csum_field(o->in, &info), c->in_csum);
	o->in_len = (size_t)len;
	o->msg_len = info.msg_len;
	if (c->cut) {
		assert_true(c->cut < o->in_len);
		o->in_len = c->cut;
	}
	assert_true(c->trim < o->in_len);
	o->in_len -= c->trim;

	if (e->out == OUT_REWRITTEN) {
		struct pkt_desc d = c->pkt;
		struct pso_sub s = make_sub(c->tbl.subs[0]);

		rewrite_desc(&d, &s);
		len = pkt_build(&d, o->want, sizeof(o->want), &info);
		assert_int_equal(len, (int)o->in_len);
		o->want_len = (size_t)len;
		if (c->want_csum)
			assert_int_equal(udp_csum_field(o->want, &info), c->want_csum);
	} else {
		memcpy(o->want, o->in, o->in_len);
		o->want_len = o->in_len;
	}
}

static void test_xdp_case(void **state)
{
	const struct run *r = *state;
	const struct xdp_case *c = r->c;
	const struct build *b = r->b;
	const struct expect *e = b->offload ? &c->off : &c->drv;
	struct pso_endpoint ep;
	uint64_t rx_before, rx;
	struct outcome *o;
	size_t n_errs;
	int err;

	if (!b->offload && c->drv.verdict == XDP_REDIRECT && !other_ifindex)
		skip();		/* no second port to redirect to, said at startup */
	o = calloc(1, sizeof(*o));
	assert_non_null(o);
	build_frames(c, e, o);

	read_counters(b, o->before);
	o->st_before = read_stats(b, stats_topic(c));
	ep = row_client(&c->pkt);
	rx_before = client_rx(b, &ep);
	o->out_len = sizeof(o->out);
	err = run_prog(b, o->in, o->in_len, o->out, &o->out_len, &o->retval);
	assert_int_equal(err, 0);
	read_counters(b, o->after);
	o->st_after = read_stats(b, stats_topic(c));
	rx = client_rx(b, &ep) - rx_before;

	/* Admission counts a publish for its client once, whichever table
	 * and lane found it; a forwarded QoS 0 publish was admitted. */
	if (rx > 1)
		complain(o, "  client rx_msgs moved by %llu\n", (unsigned long long)rx);
	if (c->tbl.client && c->pkt.msg_type == MQTTSN_PUBLISH &&
	    (c->pkt.pub_flags & MQTTSN_FLAG_QOS_MASK) == MQTTSN_FLAG_QOS_0 &&
	    (e->counter == PSO_CNT_XDP_TX || e->counter == PSO_CNT_XDP_REDIRECT) && rx != 1)
		complain(o, "  client rx_msgs moved by %llu for a forwarded QoS 0 publish\n",
			 (unsigned long long)rx);

	if (o->retval != e->verdict)
		complain(o, "  wrong verdict\n");
	check_counters(o, e);
	check_stats(o, c);
	check_output(o, e);
	n_errs = o->n_errs;
	if (n_errs)
		report(r, e, o);
	free(o);
	if (n_errs)
		fail_msg("%s: %zu check(s) failed, see above", r->name, n_errs);
}

static int case_setup(void **state)
{
	const struct run *r = *state;

	write_tables(r->b, r->c);
	return 0;
}

static int case_teardown(void **state)
{
	const struct run *r = *state;

	clear_tables(r->b, r->c);
	return 0;
}

/* The independent checksum against published values, so the oracle itself
 * is known good: RFC 1071 sec. 3, a well-known IPv4 header, and UDP frames
 * whose checksums Wireshark validates (tshark -o udp.check_checksum:TRUE). */
static void test_csum_known_answers(void **state)
{
	static const uint8_t rfc1071[] = { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 };
	static const uint8_t ip4[] = {
		0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
		0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
	};
	struct pkt_desc d4 = PKT4(.data_len = 0);
	struct pkt_desc d6 = PKT6(.data_len = 2);
	uint8_t f[PKT_MAX_LEN];
	struct pkt_info info;

	assert_int_equal(csum_finish(csum_partial_be(0, rfc1071, sizeof(rfc1071))),
			 0x220d);
	assert_int_equal(csum_ip4_header(ip4, sizeof(ip4)), 0xb861);

	/* Odd UDP lengths: 15 over IPv4, 17 over IPv6. */
	assert_int_equal(pkt_build(&d4, f, sizeof(f), &info), 14 + 20 + 15);
	assert_int_equal(f[info.l3_off + 10] << 8 | f[info.l3_off + 11], 0x578c);
	assert_int_equal(f[info.l4_off + 6] << 8 | f[info.l4_off + 7], 0xff1d);
	assert_int_equal(pkt_build(&d6, f, sizeof(f), &info), 14 + 40 + 17);
	assert_int_equal(f[info.l4_off + 6] << 8 | f[info.l4_off + 7], 0xf10a);
}

/* ---- Runner ------------------------------------------------------------- */

/* A veth pair stands for the second broker port the devmap redirects to. */
static void make_other_port(void)
{
	int err;

	rtnl = nl_socket_alloc();
	if (!rtnl || nl_connect(rtnl, NETLINK_ROUTE) < 0)
		goto fail;
	err = rtnl_link_veth_add(rtnl, VETH_PORT, VETH_PEER, getpid());
	if (err < 0) {
		fprintf(stderr, "veth: %s\n", nl_geterror(err));
		goto fail;
	}
	other_ifindex = (int)if_nametoindex(VETH_PORT);
	if (other_ifindex)
		return;
fail:
	fprintf(stderr, "cannot create a veth pair: redirect rows are skipped\n");
}

static void remove_other_port(void)
{
	struct rtnl_link *link;

	if (other_ifindex && (link = rtnl_link_alloc())) {
		rtnl_link_set_name(link, VETH_PORT);
		rtnl_link_delete(rtnl, link);	/* takes the peer with it */
		rtnl_link_put(link);
	}
	if (rtnl)
		nl_socket_free(rtnl);
}

static int group_setup(void **state)
{
	/* A netns of our own: lo is ifindex 1, the veth pair cannot clash
	 * with anything on the host and dies with the process. */
	if (unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (run as root)\n",
			strerror(errno));
		return -1;
	}
	drv_skel = psoffload_xdp__open_and_load();
	off_skel = psoffload_xdp_offload__open_and_load();
	if (!drv_skel || !off_skel) {
		fprintf(stderr, "cannot load the XDP objects (run as root)\n");
		return -1;
	}
	for (size_t i = 0; i < N_BUILDS; i++) {
		if (builds[i].offload)
			build_init_off(&builds[i]);
		else
			build_init_drv(&builds[i]);
	}
	make_other_port();
	return 0;
}

static int group_teardown(void **state)
{
	remove_other_port();
	psoffload_xdp__destroy(drv_skel);
	psoffload_xdp_offload__destroy(off_skel);
	return 0;
}

int main(void)
{
	size_t n = 1 + N_BUILDS * N_CASES;
	struct CMUnitTest *tests = calloc(n, sizeof(*tests));
	struct run *runs = calloc(N_BUILDS * N_CASES, sizeof(*runs));
	int failed;

	if (!tests || !runs)
		return 1;
	tests[0] = (struct CMUnitTest)cmocka_unit_test(test_csum_known_answers);
	for (size_t i = 0; i < N_BUILDS * N_CASES; i++) {
		struct run *r = &runs[i];

		r->c = &xdp_cases[i / N_BUILDS];
		r->b = &builds[i % N_BUILDS];
		snprintf(r->name, sizeof(r->name), "%s: %s", r->b->name, r->c->name);
		tests[i + 1] = (struct CMUnitTest){
			.name = r->name,
			.test_func = test_xdp_case,
			.setup_func = case_setup,
			.teardown_func = case_teardown,
			.initial_state = r,
		};
	}
	/* The table is built at run time, so the group runner is called
	 * directly instead of through cmocka_run_group_tests(). */
	failed = _cmocka_run_group_tests("xdp_packets", tests, n,
					 group_setup, group_teardown);
	free(runs);
	free(tests);
	return failed;
}
