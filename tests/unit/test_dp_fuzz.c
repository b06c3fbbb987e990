// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_dp_fuzz.c - the data plane against an independent model: random and
 * mutated frames through both XDP builds and the TC program by
 * BPF_PROG_TEST_RUN, every verdict, counter, topic stat, client count and
 * output byte compared with what the model says.
 *
 *   PSO_DP_FUZZ_COUNT=N  frames (default 1,000,000), each through all three
 *   PSO_DP_FUZZ_SEED=S   the PRNG seed (default: from the clock; printed)
 *
 * The model (model_* below) is plain C written from docs/DESIGN.md and the
 * MQTT-SN v1.2 message layouts; it shares only bpf/psoffload_abi.h with
 * the programs (struct layouts and constants) and never their parse,
 * admission or checksum code: checksums are computed from scratch by
 * tests/lib/pkt.c.  Where an input's own checksum was wrong, the forwarded
 * frame must carry the same error (an incremental update keeps it): its
 * checksum is compared modulo 0xffff, so either form of zero passes.
 *
 * The frames: the rows of tests/fixtures/xdp_packets.h and frames built
 * field by field with random fields (every message type, both length
 * forms, IPv4/IPv6, 802.1Q, fragments, options, odd lengths), then 0-6
 * mutations each (bytes at the offsets parsers read, truncation, growth,
 * random bytes), checksums repaired half the time, and pure noise.
 *
 * The world: a netns of its own with four TAP devices - A and B are broker
 * ports (A in its direct-mapped slot, B in the HASH only, B without IPv6),
 * C is no broker port and not in the devmap, D is down - and a missing
 * ifindex.  Clients, topics and subscriber slots are the tables below:
 * every outcome of docs/DESIGN.md's table "The outcome for an admitted
 * publish" has a topic (subscribers beyond the slots, PSO_TOPIC_F_HOST,
 * included), and so has each topic-id form of a subscriber
 * (normal, predefined, short name with and without a name in the table).
 * Copies leave with the TTL / hop limit less one; 1 and 0 are dropped.
 * TC copies are read back from the TAP devices.
 *
 * A mismatch prints the frame, what the model expected and what the
 * program did, and the run goes on to count them all (0 is the only pass).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include "psoffload_abi.h"
#include "psoffload_xdp.skel.h"
#include "psoffload_xdp_offload.skel.h"
#include "psoffload_tc.skel.h"
#include "pkt.h"

/* The fixture rows are seeds of the mutations; their world is this one. */
#include "../fixtures/xdp_packets.h"

#define DEFAULT_COUNT	1000000
#define MAX_FRAME	1518

/* ---- The world ------------------------------------------------------------ */

enum port { PORT_A, PORT_B, PORT_C, PORT_D, N_TAPS, PORT_MISSING = N_TAPS, N_PORTS };

static const char *const tap_names[N_TAPS] = { "pso-fza", "pso-fzb", "pso-fzc", "pso-fzd" };
static int ifindex_of[N_PORTS];
static int tap_fd[N_TAPS] = { -1, -1, -1, -1 };

/* A and B are broker ports; B has no IPv6 address. */
static struct pso_port_cfg port_cfg[2];

struct client {
	int family;
	const char *addr;
	uint16_t port;
	bool in_slot;		/* driver build: in pso_client_slots too */
};

static const struct client clients[] = {
	{ PSO_AF_INET, "10.0.0.10", PUB_PORT, true },
	{ PSO_AF_INET6, "fd00::10", PUB_PORT, false },
	{ PSO_AF_INET, "10.1.0.10", PUB_PORT, false },
	{ PSO_AF_INET, "10.0.0.11", PUB_PORT + 1, true },
};
#define N_CLIENTS (sizeof(clients) / sizeof(clients[0]))
static struct pso_endpoint client_ep[N_CLIENTS];

/* A subscriber: its port, family, servable or not, topic-id form. */
struct sub_spec {
	enum port port;
	int family;
	bool unresolved;
	bool predef;
	bool shortname;		/* knows the topic by its short name */
};

struct topic_spec {
	uint16_t id;
	uint8_t flags;
	bool placed;		/* in the NIC's table (offload build) */
	int nsubs;		/* the run's slots: a hole has family 0 */
	struct sub_spec subs[4];
	const char *short_name;	/* in pso_short_names, NULL: none */
};

/* Rows name only the fields that are set. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define V4 PSO_AF_INET
#define V6 PSO_AF_INET6
#define ALLOW (PSO_TOPIC_F_VALID | PSO_TOPIC_F_ALLOW_QOSM1)
static const struct topic_spec topics[] = {
	{ TOPIC, PSO_TOPIC_F_VALID, true, 1, { { PORT_A, V4 } } },		/* TX */
	{ 0x43, PSO_TOPIC_F_VALID, true, 1, { { PORT_B, V4 } } },		/* REDIRECT */
	{ 0x44, ALLOW, true, 3, { { PORT_A, V4 }, { PORT_B, V4, false, true }, { PORT_A, V6 } } },
	{ 0x45, PSO_TOPIC_F_VALID, false, 2, { { PORT_A, V4, true }, { PORT_C, V4 } } },
	{ TOPIC_PREDEF, ALLOW, true, 1, { { PORT_A, V6, false, true } } },
	{ 0x46, ALLOW, true, 0 },						/* no subscriber */
	{ 0x47, PSO_TOPIC_F_VALID, false, 1, { { PORT_A, V4, true } } },	/* unresolved */
	{ 0x48, ALLOW, false, 1, { { PORT_C, V4, false, true } } },	/* not in devmap */
	{ 0x49, PSO_TOPIC_F_VALID, false, 3,
	  { { PORT_A, V4 }, { PORT_MISSING, V4 }, { PORT_D, V4 } } },		/* copies fail */
	{ 0x4a, PSO_TOPIC_F_VALID, false, 2, { { PORT_C, V6 }, { PORT_A, V4, false, true } } },
	{ 0x4b, PSO_TOPIC_F_ALLOW_QOSM1, true, 1, { { PORT_A, V4 } } },	/* not valid */
	{ TOPIC_LAST, ALLOW, false, 1, { { PORT_B, V6 } } },
	/* Short-name subscribers: the name in each copy, where it is known. */
	{ 0x4c, PSO_TOPIC_F_VALID, true, 1, { { PORT_A, V4, .shortname = true } }, "ab" },
	{ 0x4d, ALLOW, true, 1, { { PORT_A, V4, .shortname = true } } },	/* no name */
	{ 0x4e, ALLOW, false, 3, { { PORT_A, V4, .shortname = true },
				   { PORT_B, V4, false, true, true }, { PORT_A, V4 } }, "zz" },
	{ 0x4f, PSO_TOPIC_F_VALID, false, 1, { { PORT_B, V6, .shortname = true } }, "\xff\x01" },
	{ 0x50, PSO_TOPIC_F_VALID, false, 2, { { PORT_C, V4, .shortname = true }, { PORT_B, V4 } } },
	/* Subscribers beyond the slots (PSO_TOPIC_F_HOST): the daemon's too. */
	{ 0x51, ALLOW | PSO_TOPIC_F_HOST, true, 1, { { PORT_A, V4 } } },
	{ 0x52, PSO_TOPIC_F_VALID | PSO_TOPIC_F_HOST, false, 0 },
	{ 0x53, PSO_TOPIC_F_VALID | PSO_TOPIC_F_HOST, false, 2, { { PORT_B, V4 }, { PORT_A, V6 } } },
	/* Runs with holes (removed subscribers): skipped, never the daemon's. */
	{ 0x54, PSO_TOPIC_F_VALID, false, 4, { { 0, 0 }, { PORT_A, V4 }, { 0, 0 }, { PORT_B, V4 } } },
	{ 0x55, ALLOW, false, 4, { { PORT_A, V6 }, { 0, 0 }, { 0, 0 }, { 0, 0 } } },
	{ 0x56, PSO_TOPIC_F_VALID, false, 4, { { PORT_B, V4 }, { 0, 0 }, { PORT_A, V4, true },
					       { 0, 0 } } },
};
#define N_TOPICS (sizeof(topics) / sizeof(topics[0]))

/* The model's copy of the tables: topic id -> topic, the slots of each. */
static struct pso_topic model_topic[PSO_MAP_TOPICS];
static bool model_placed[PSO_MAP_TOPICS];
static struct pso_sub model_sub[PSO_MAP_TOPICS][4];
static uint32_t model_cap[PSO_MAP_TOPICS];	/* each topic's run length */
static struct pso_short_name model_short[PSO_MAP_TOPICS];

static void set_addr(uint8_t *a, const char *text, int family)
{
	memset(a, 0, 16);
	assert_int_equal(inet_pton(family == V6 ? AF_INET6 : AF_INET, text, a), 1);
}

static struct pso_sub make_sub(const struct sub_spec *s, int i)
{
	static const char *const v4_src[] = { "10.0.0.1", "10.1.0.1", "10.2.0.1", "10.3.0.1", "10.4.0.1" };
	static const char *const v6_src[] = { "fd00::1", "fd01::1", "fd02::1", "fd03::1", "fd04::1" };
	struct pso_sub sub = {
		.dst_mac = { 0x02, 0x00, 0x00, 0x01, (uint8_t)s->port, (uint8_t)(0x10 + i) },
		.src_mac = { 0x02, 0x00, 0x00, 0x00, (uint8_t)(s->port + 1), 0x01 },
		.ifindex = (uint32_t)ifindex_of[s->port],
		.dst_port = htons(50000 + i),
		.family = (uint8_t)s->family,
		.flags = (s->unresolved ? 0 : PSO_SUB_F_RESOLVED) | (s->predef ? PSO_SUB_F_PREDEFINED : 0) |
			 (s->shortname ? PSO_SUB_F_SHORT : 0),
	};
	char dst[64];

	if (!s->family)
		return (struct pso_sub){ 0 };	/* a hole */
	if (s->family == V6) {
		set_addr(sub.src_addr, v6_src[s->port], V6);
		snprintf(dst, sizeof(dst), "fd%02x::1:%x", s->port, 0x10 + i);
		set_addr(sub.dst_addr, dst, V6);
	} else {
		set_addr(sub.src_addr, v4_src[s->port], V4);
		snprintf(dst, sizeof(dst), "10.%d.1.%d", s->port, 10 + i);
		set_addr(sub.dst_addr, dst, V4);
	}
	return sub;
}

/* ---- The model --------------------------------------------------------------
 *
 * From docs/DESIGN.md section 3 and the MQTT-SN v1.2 layouts (5.4): what a
 * frame is, what becomes of it, and the bytes that leave.  Offsets into the
 * frame, no pointers into it.
 */

enum m_kind {
	M_NOT_BROKER, M_FRAGMENT, M_CONTROL, M_SLOW_QOS, M_PUBLISH,
	M_TRUNCATED, M_BAD_LENGTH, M_MALFORMED,
};

struct m_frame {
	size_t len;
	size_t l3, l4, msg;	/* offsets */
	int family;
	uint32_t ulen;		/* UDP payload length */
	uint32_t msg_len;
	uint32_t hdr;		/* MQTT-SN header: 2 or 4 */
	uint8_t type, flags;
	uint16_t topic;
	uint8_t ttl;		/* TTL / hop limit */
	struct pso_endpoint src;
};

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* MQTT-SN 5.4: does a control message of this type have a body of this
 * length (and these first bytes) that can be well formed? */
static bool m_control_ok(uint8_t type, uint32_t n, const uint8_t *body)
{
	switch (type) {
	case MQTTSN_WILLTOPICREQ: case MQTTSN_WILLMSGREQ: case MQTTSN_PINGRESP:
		return n == 0;
	case MQTTSN_SEARCHGW: case MQTTSN_CONNACK: case MQTTSN_WILLTOPICRESP:
	case MQTTSN_WILLMSGRESP:
		return n == 1;			/* radius / return code */
	case MQTTSN_PUBCOMP: case MQTTSN_PUBREC: case MQTTSN_PUBREL: case MQTTSN_UNSUBACK:
		return n == 2;			/* msg id */
	case MQTTSN_ADVERTISE:
		return n == 3;			/* gw id, duration */
	case MQTTSN_REGACK: case MQTTSN_PUBACK:
		return n == 5;			/* topic id, msg id, rc */
	case MQTTSN_SUBACK:
		return n == 6;			/* flags, topic id, msg id, rc */
	case MQTTSN_GWINFO:
		return n >= 1;
	case MQTTSN_REGISTER:
		return n >= 5;			/* topic id, msg id, name */
	case MQTTSN_DISCONNECT:
		return n == 0 || n == 2;	/* duration or none */
	case MQTTSN_WILLTOPIC: case MQTTSN_WILLTOPICUPD:
		return n == 0 || n >= 2;	/* empty, or flags + topic */
	case MQTTSN_CONNECT:
		return n >= 4 && body[1] == MQTTSN_PROTOCOL_ID;
	case MQTTSN_SUBSCRIBE: case MQTTSN_UNSUBSCRIBE:
		if (n < 4)
			return false;
		switch (body[0] & 3) {
		case MQTTSN_TOPIC_NORMAL:
			return true;
		case MQTTSN_TOPIC_PREDEFINED: case MQTTSN_TOPIC_SHORT:
			return n == 5;
		}
		return false;
	case MQTTSN_WILLMSG: case MQTTSN_WILLMSGUPD: case MQTTSN_PINGREQ:
	case MQTTSN_ENCAPSULATED:
		return true;
	}
	return false;			/* not a type of MQTT-SN v1.2 */
}

static enum m_kind m_classify(const uint8_t *f, size_t len, const struct pso_port_cfg *cfg,
			      struct m_frame *m)
{
	size_t l3 = 14, l4;
	uint16_t ethertype;
	uint32_t l3_payload, udp_len;
	uint8_t proto;
	const uint8_t *u, *msg;

	memset(m, 0, sizeof(*m));
	m->len = len;
	if (len < 14)
		return M_NOT_BROKER;
	ethertype = be16(f + 12);
	if (ethertype == 0x8100) {
		if (len < 18)
			return M_NOT_BROKER;
		ethertype = be16(f + 16);
		l3 = 18;
	}
	m->l3 = l3;
	if (ethertype == 0x0800) {
		size_t ihl;

		if (len < l3 + 20 || f[l3] >> 4 != 4)
			return M_NOT_BROKER;
		ihl = (size_t)(f[l3] & 15) * 4;
		if (ihl < 20 || len < l3 + ihl || be16(f + l3 + 2) < ihl)
			return M_NOT_BROKER;
		if (be16(f + l3 + 6) & 0x3fff)	/* MF or an offset */
			return M_FRAGMENT;
		l3_payload = be16(f + l3 + 2) - (uint32_t)ihl;
		proto = f[l3 + 9];
		m->ttl = f[l3 + 8];
		l4 = l3 + ihl;
		m->family = V4;
	} else if (ethertype == 0x86dd) {
		if (len < l3 + 40 || f[l3] >> 4 != 6)
			return M_NOT_BROKER;
		if (f[l3 + 6] == 44)		/* a fragment header */
			return M_FRAGMENT;
		l3_payload = be16(f + l3 + 4);
		proto = f[l3 + 6];
		m->ttl = f[l3 + 7];
		l4 = l3 + 40;
		m->family = V6;
	} else {
		return M_NOT_BROKER;
	}
	if (proto != 17 || len < l4 + 8)
		return M_NOT_BROKER;
	u = f + l4;
	m->l4 = l4;
	/* Ours only when sent to the broker's address and port on this port. */
	if (be16(u + 2) != ntohs(cfg->udp_port))
		return M_NOT_BROKER;
	if (m->family == V4 ? (!cfg->ip4 || memcmp(f + l3 + 16, &cfg->ip4, 4))
			    : (all_zero(cfg->ip6, 16) || memcmp(f + l3 + 24, cfg->ip6, 16)))
		return M_NOT_BROKER;
	m->src.family = (uint8_t)m->family;
	memcpy(m->src.addr, f + l3 + (m->family == V4 ? 12 : 8), m->family == V4 ? 4 : 16);
	memcpy(&m->src.port, u, 2);

	if (m->family == V6 && be16(u + 6) == 0)	/* IPv6 has no "no checksum" */
		return M_MALFORMED;
	udp_len = be16(u + 4);
	if (udp_len < 8 || udp_len > l3_payload)
		return M_BAD_LENGTH;
	if (l4 + l3_payload > len)
		return M_TRUNCATED;
	m->ulen = udp_len - 8;
	m->msg = l4 + 8;
	msg = f + m->msg;
	if (m->ulen < 2)
		return M_MALFORMED;
	if (msg[0] == MQTTSN_LEN_3BYTE_MARK) {
		if (m->ulen < 4)
			return M_MALFORMED;
		m->msg_len = be16(msg + 1);
		m->type = msg[3];
		m->hdr = 4;
	} else {
		m->msg_len = msg[0];
		m->type = msg[1];
		m->hdr = 2;
	}
	if (m->msg_len < m->hdr)
		return M_MALFORMED;
	/* A forwarder's envelope (MQTT-SN 5.5) carries its header's length:
	 * any plausible one goes up, the daemon judges the rest. */
	if (m->hdr == 2 && m->type == MQTTSN_ENCAPSULATED)
		return m->msg_len >= 3 && m->msg_len <= m->ulen ? M_CONTROL : M_MALFORMED;
	if (m->msg_len != m->ulen)
		return M_BAD_LENGTH;
	if (m->type != MQTTSN_PUBLISH)
		return m_control_ok(m->type, m->msg_len - m->hdr, msg + m->hdr) ? M_CONTROL
										  : M_MALFORMED;
	if (m->msg_len < m->hdr + 5)		/* flags, topic id, msg id */
		return M_MALFORMED;
	m->flags = msg[m->hdr];
	m->topic = be16(msg + m->hdr + 1);
	if ((m->flags & 3) == 3)
		return M_MALFORMED;
	if ((m->flags & MQTTSN_FLAG_QOS_MASK) == MQTTSN_FLAG_QOS_1 ||
	    (m->flags & MQTTSN_FLAG_QOS_MASK) == MQTTSN_FLAG_QOS_2)
		return M_SLOW_QOS;
	if ((m->flags & 3) == MQTTSN_TOPIC_SHORT)
		return M_CONTROL;		/* the daemon resolves short names */
	return M_PUBLISH;
}

static int m_client(const struct pso_endpoint *ep)
{
	for (size_t i = 0; i < N_CLIENTS; i++)
		if (!memcmp(&client_ep[i], ep, sizeof(*ep)))
			return (int)i;
	return -1;
}

/* What a program did with one frame, or must do. */
struct result {
	int verdict;
	uint64_t cnt[PSO_CNT__MAX];	/* deltas */
	int client;			/* whose rx_msgs moves by one, -1: none */
	uint16_t stats_topic;		/* +1 msg, +bytes; 0: none */
	uint32_t stats_bytes;
	bool out_checked;		/* compare the output frame */
	uint8_t out[MAX_FRAME];
	size_t out_len;
	int ncopies;			/* TC: copies sent, in order */
	struct copy {
		enum port port;
		uint8_t b[MAX_FRAME];
	} copies[8];
	/* Checksum fields whose input was wrong: compared modulo 0xffff. */
	bool ip_loose, udp_loose;
};

/* The flags byte of a forwarded copy: QoS 0, no DUP or RETAIN, the
 * subscriber's TopicIdType (short name before predefined id), the unused
 * bits as sent (DESIGN 3). */
static uint8_t m_copy_flags(uint8_t pub, const struct pso_sub *s)
{
	uint8_t form = s->flags & PSO_SUB_F_SHORT ? MQTTSN_TOPIC_SHORT :
		       s->flags & PSO_SUB_F_PREDEFINED ? MQTTSN_TOPIC_PREDEFINED : MQTTSN_TOPIC_NORMAL;

	return (pub & (MQTTSN_FLAG_WILL | MQTTSN_FLAG_CLEAN_SESSION)) | form;
}

/* A short-form subscriber is the data plane's only where the topic's name
 * is in the short-name table (the NIC has none). */
static bool m_short_ok(const struct pso_sub *s, uint16_t topic, bool offload)
{
	return !(s->flags & PSO_SUB_F_SHORT) || (!offload && model_short[topic].valid);
}

static uint16_t ip4_csum_of(const uint8_t *f, const struct m_frame *m)
{
	return csum_ip4_header(f + m->l3, (size_t)(f[m->l3] & 15) * 4);
}

/* The UDP checksum the frame should carry (0 computed goes as 0xffff). */
static uint16_t udp_csum_of(const uint8_t *f, const struct m_frame *m)
{
	size_t ulen = m->ulen + 8;
	uint8_t l4[MAX_FRAME];
	uint16_t c;

	memcpy(l4, f + m->l4, ulen);
	l4[6] = l4[7] = 0;
	if (m->family == V4)
		c = csum_l4(4, f + m->l3 + 12, f + m->l3 + 16, 17, (uint32_t)ulen, l4, ulen);
	else
		c = csum_l4(6, f + m->l3 + 8, f + m->l3 + 24, 17, (uint32_t)ulen, l4, ulen);
	return c ? c : 0xffff;
}

/* One's-complement difference of two 16-bit fields: the output's error
 * is the input's. */
static uint16_t oc_add(uint32_t a, uint32_t b)
{
	uint32_t s = a + b;

	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)((s & 0xffff) + (s >> 16));
}

/*
 * The frame f rewritten for subscriber s: its MACs, addresses, the
 * broker's port of the ingress port as source, the subscriber's port,
 * TTL / hop limit one less, the flags byte, for a short-form subscriber
 * the topic's short name in the topic-id field; everything else as it came.  The
 * checksums are computed from scratch; a checksum that was wrong in f
 * stays wrong by as much.
 */
static void m_rewrite(const uint8_t *in, const struct m_frame *m, const struct pso_sub *s,
		      const struct pso_port_cfg *cfg, uint8_t *out, struct result *r)
{
	uint16_t udp_in = be16(in + m->l4 + 6);
	uint16_t udp_err = 0, ip_err = 0;
	bool udp_none = m->family == V4 && udp_in == 0;

	memcpy(out, in, m->len);
	if (m->family == V4) {
		uint16_t want = ip4_csum_of(in, m), have = be16(in + m->l3 + 10);

		if (want != have) {
			r->ip_loose = true;
			ip_err = oc_add(have, (uint16_t)~want);
		}
	}
	if (!udp_none) {
		uint16_t want = udp_csum_of(in, m);

		if (want != udp_in) {
			r->udp_loose = true;
			udp_err = oc_add(udp_in, (uint16_t)~want);
		}
	}
	memcpy(out, s->dst_mac, 6);
	memcpy(out + 6, s->src_mac, 6);
	if (m->family == V4) {
		out[m->l3 + 8] = (uint8_t)(in[m->l3 + 8] - 1);
		memcpy(out + m->l3 + 12, s->src_addr, 4);
		memcpy(out + m->l3 + 16, s->dst_addr, 4);
	} else {
		out[m->l3 + 7] = (uint8_t)(in[m->l3 + 7] - 1);
		memcpy(out + m->l3 + 8, s->src_addr, 16);
		memcpy(out + m->l3 + 24, s->dst_addr, 16);
	}
	memcpy(out + m->l4, &cfg->udp_port, 2);
	memcpy(out + m->l4 + 2, &s->dst_port, 2);
	out[m->msg + m->hdr] = m_copy_flags(m->flags, s);
	if (s->flags & PSO_SUB_F_SHORT)
		memcpy(out + m->msg + m->hdr + 1, model_short[m->topic].name, 2);
	if (m->family == V4) {
		uint16_t c = ip4_csum_of(out, m);

		if (r->ip_loose)
			c = oc_add(c, ip_err);
		out[m->l3 + 10] = c >> 8;
		out[m->l3 + 11] = c & 0xff;
	}
	if (!udp_none) {
		uint16_t c = udp_csum_of(out, m);

		if (r->udp_loose)
			c = oc_add(c, udp_err);
		out[m->l4 + 6] = c >> 8;
		out[m->l4 + 7] = c & 0xff;
	}
}

/* Admission (DESIGN 3): QoS 0 only from a connected client; the topic
 * served by this table; QoS -1 only where its policy allows; a TTL / hop
 * limit of at least 2.  Returns the topic, or NULL with the refusal in
 * *why (0 not connected, 1 unknown, 2 qos-1 denied, 3 TTL). */
static const struct pso_topic *m_admit(const struct m_frame *m, bool offload, struct result *r,
				       int *why)
{
	bool qos0 = (m->flags & MQTTSN_FLAG_QOS_MASK) == MQTTSN_FLAG_QOS_0;
	const struct pso_topic *t;

	r->client = -1;
	if (qos0) {
		r->client = m_client(&m->src);
		if (r->client < 0) {
			*why = 0;
			return NULL;
		}
	}
	t = m->topic < PSO_MAP_TOPICS ? &model_topic[m->topic] : NULL;
	if (!t || !(t->flags & PSO_TOPIC_F_VALID) || (offload && !model_placed[m->topic])) {
		*why = 1;
		return NULL;
	}
	if (!qos0 && !(t->flags & PSO_TOPIC_F_ALLOW_QOSM1)) {
		*why = 2;
		return NULL;
	}
	if (m->ttl <= 1) {
		*why = 3;
		return NULL;
	}
	return t;
}

static bool m_servable(const struct pso_sub *s, int family)
{
	return (s->flags & PSO_SUB_F_RESOLVED) && s->family == family;
}

static void model_xdp(const uint8_t *in, size_t len, enum port ingress, bool offload,
		      struct result *r)
{
	const struct pso_port_cfg *cfg = &port_cfg[ingress];
	static const int pass_of[] = {
		[M_NOT_BROKER] = PSO_CNT_XDP_PASS_NOT_BROKER, [M_FRAGMENT] = PSO_CNT_XDP_PASS_FRAGMENT,
		[M_CONTROL] = PSO_CNT_XDP_PASS_CONTROL, [M_SLOW_QOS] = PSO_CNT_XDP_PASS_SLOW_QOS,
		[M_TRUNCATED] = PSO_CNT_XDP_DROP_TRUNCATED, [M_BAD_LENGTH] = PSO_CNT_XDP_DROP_LENGTH,
		[M_MALFORMED] = PSO_CNT_XDP_DROP_MALFORMED,
	};
	const struct pso_topic *t;
	const struct pso_sub *s;
	struct m_frame m;
	enum m_kind k;
	int why, c;

	memset(r, 0, offsetof(struct result, out));
	r->client = -1;
	r->ncopies = 0;
	r->ip_loose = r->udp_loose = false;
	memcpy(r->out, in, len);
	r->out_len = len;
	r->out_checked = true;
	k = m_classify(in, len, cfg, &m);
	if (k != M_PUBLISH) {
		c = pass_of[k];
		r->verdict = k >= M_TRUNCATED ? XDP_DROP : XDP_PASS;
		goto out;
	}
	t = m_admit(&m, offload, r, &why);
	if (!t) {
		/* A miss in the NIC's partial tables goes to the host. */
		if (why == 3) {
			c = PSO_CNT_XDP_DROP_TTL;
			r->verdict = XDP_DROP;
		} else if (offload && why != 2) {
			c = PSO_CNT_XDP_PASS_HOST;
			r->verdict = XDP_PASS;
		} else if (why == 0) {
			c = PSO_CNT_XDP_DROP_NOT_CONNECTED;
			r->verdict = XDP_DROP;
		} else if (why == 1 && (m.flags & MQTTSN_FLAG_QOS_MASK) == MQTTSN_FLAG_QOS_0) {
			c = PSO_CNT_XDP_PASS_UNKNOWN_TOPIC;	/* the daemon answers */
			r->verdict = XDP_PASS;
		} else {
			c = why == 1 ? PSO_CNT_XDP_DROP_UNKNOWN_TOPIC : PSO_CNT_XDP_DROP_QOSM1_DENIED;
			r->verdict = XDP_DROP;
		}
		goto out;
	}
	r->stats_topic = m.topic;
	r->stats_bytes = m.msg_len;
	r->verdict = XDP_PASS;
	if (m.flags & MQTTSN_FLAG_RETAIN) {
		c = PSO_CNT_XDP_PASS_RETAIN;
	} else if (t->flags & PSO_TOPIC_F_HOST) {
		c = PSO_CNT_XDP_PASS_OVERFLOW;	/* some subscribers have no slot */
	} else if (t->sub_count == 0) {
		c = PSO_CNT_XDP_DROP_NO_SUBSCRIBER;
		r->verdict = XDP_DROP;
	} else if (t->sub_count > 1) {
		c = PSO_CNT_XDP_PASS_FANOUT;
	} else if (s = &t->first, !m_servable(s, m.family) || !m_short_ok(s, m.topic, offload)) {
		c = PSO_CNT_XDP_PASS_HOST;
	} else if (s->ifindex == cfg->ifindex) {
		m_rewrite(in, &m, s, cfg, r->out, r);
		c = PSO_CNT_XDP_TX;
		r->verdict = XDP_TX;
	} else if (offload || (s->ifindex != (uint32_t)ifindex_of[PORT_A] &&
			       s->ifindex != (uint32_t)ifindex_of[PORT_B])) {
		c = PSO_CNT_XDP_PASS_HOST;	/* no redirect, or not in the devmap */
	} else {
		m_rewrite(in, &m, s, cfg, r->out, r);
		c = PSO_CNT_XDP_REDIRECT;
		r->verdict = XDP_REDIRECT;
	}
out:
	r->cnt[c] = 1;
}

static void model_tc(const uint8_t *in, size_t len, enum port ingress, struct result *r)
{
	const struct pso_port_cfg *cfg = &port_cfg[ingress];
	const struct pso_topic *t;
	bool to_daemon;
	struct m_frame m;
	enum m_kind k;
	const struct pso_sub *pend = NULL;
	int why, n, copies = 0, failed = 0;

	memset(r, 0, offsetof(struct result, out));
	r->client = -1;
	r->ncopies = 0;
	r->ip_loose = r->udp_loose = false;
	memcpy(r->out, in, len);
	r->out_len = len;
	r->out_checked = true;
	k = m_classify(in, len, cfg, &m);
	if (k == M_TRUNCATED || k == M_BAD_LENGTH || k == M_MALFORMED)
		goto drop;
	if (k != M_PUBLISH)
		goto pass;
	t = m_admit(&m, false, r, &why);
	if (!t) {
		if (why == 1 && r->client >= 0)
			goto pass;		/* up, for "invalid topic id" */
		goto drop;
	}
	/* RETAIN: the daemon keeps it; a topic with subscribers beyond its
	 * slots: the daemon delivers to those. */
	to_daemon = (m.flags & MQTTSN_FLAG_RETAIN) || (t->flags & PSO_TOPIC_F_HOST);
	n = t->sub_count;
	if (n == 0 && !to_daemon)
		goto drop;
	/* One copy per servable slot of the run, in slot order, holes
	 * skipped; an unservable one is the daemon's, and then the original
	 * goes up as it came.  The last servable slot gets the original
	 * itself when nothing else needs it. */
	for (uint32_t i = 0; i <= model_cap[m.topic]; i++) {
		const struct pso_sub *s = i < model_cap[m.topic] ? &model_sub[m.topic][i] : NULL;

		if (s && !s->family)
			continue;
		if (s && (!m_servable(s, m.family) || !m_short_ok(s, m.topic, false))) {
			r->cnt[PSO_CNT_TC_COPY_HOST]++;
			to_daemon = true;
			continue;
		}
		if (pend && !s && !to_daemon) {
			m_rewrite(in, &m, pend, cfg, r->out, r);
			r->cnt[PSO_CNT_TC_COPIES] = (uint64_t)copies + 1;
			r->cnt[PSO_CNT_TC_COPY_FAILED] = (uint64_t)failed;
			r->cnt[PSO_CNT_TC_FANOUT] = 1;
			r->verdict = TC_ACT_REDIRECT;
			return;
		}
		if (pend && (pend->ifindex == (uint32_t)ifindex_of[PORT_MISSING] ||
			     pend->ifindex == (uint32_t)ifindex_of[PORT_D])) {
			failed++;		/* no such device, or down */
		} else if (pend) {
			copies++;
			assert_true(r->ncopies < (int)(sizeof(r->copies) / sizeof(r->copies[0])));
			r->copies[r->ncopies].port =
				pend->ifindex == (uint32_t)ifindex_of[PORT_A] ? PORT_A :
				pend->ifindex == (uint32_t)ifindex_of[PORT_B] ? PORT_B : PORT_C;
			m_rewrite(in, &m, pend, cfg, r->copies[r->ncopies].b, r);
			r->ncopies++;
		}
		pend = s;
	}
	r->cnt[PSO_CNT_TC_COPIES] = (uint64_t)copies;
	r->cnt[PSO_CNT_TC_COPY_FAILED] = (uint64_t)failed;
	if (!to_daemon) {
		r->cnt[PSO_CNT_TC_FANOUT] = 1;
		r->verdict = TC_ACT_STOLEN;
		r->out_checked = false;		/* consumed */
		return;
	}
	r->cnt[PSO_CNT_TC_FANOUT_UP] = 1;
	r->verdict = TC_ACT_OK;
	/* Up as it came: the same bytes, a wrong checksum as wrong as it was. */
	if (copies || failed) {
		r->ip_loose = m.family == V4 && ip4_csum_of(in, &m) != be16(in + m.l3 + 10);
		r->udp_loose = !(m.family == V4 && !be16(in + m.l4 + 6)) &&
			       udp_csum_of(in, &m) != be16(in + m.l4 + 6);
	}
	return;
pass:
	r->cnt[PSO_CNT_TC_PASS] = 1;
	r->verdict = TC_ACT_OK;
	return;
drop:
	r->cnt[PSO_CNT_TC_DROP] = 1;
	r->verdict = TC_ACT_SHOT;
	r->out_checked = false;
}

/* ---- The programs ---------------------------------------------------------- */

struct prog {
	const char *name;
	bool offload, tc;
	int prog_fd, port_cfg_fd, port_slots_fd, topics_fd, subs_fd, clients_fd;
	int client_slots_fd, counters_fd, stats_fd, devmap_fd;
	int ncpus;
	int short_names_fd;	/* not in the offload build: -1 */
	int runs_fd;		/* pso_topic_runs; offload: -1 */
};

static struct psoffload_xdp *drv_skel;
static struct psoffload_xdp_offload *off_skel;
static struct psoffload_tc *tc_skel;
static struct prog progs[3] = {
	{ .name = "xdp driver build" },
	{ .name = "xdp offload build", .offload = true },
	{ .name = "tc", .tc = true },
};

#define MAP_FD(skel, m) bpf_map__fd((skel)->maps.m)

static void prog_fds(void)
{
	struct prog *d = &progs[0], *o = &progs[1], *t = &progs[2];

	*d = (struct prog){ d->name, false, false, bpf_program__fd(drv_skel->progs.psoffload_xdp),
		MAP_FD(drv_skel, pso_port_cfg), MAP_FD(drv_skel, pso_port_slots),
		MAP_FD(drv_skel, pso_topics), MAP_FD(drv_skel, pso_subs),
		MAP_FD(drv_skel, pso_clients), MAP_FD(drv_skel, pso_client_slots),
		MAP_FD(drv_skel, pso_counters), MAP_FD(drv_skel, pso_topic_stats),
		MAP_FD(drv_skel, pso_devmap), libbpf_num_possible_cpus(),
		MAP_FD(drv_skel, pso_short_names), MAP_FD(drv_skel, pso_topic_runs) };
	*o = (struct prog){ o->name, true, false, bpf_program__fd(off_skel->progs.psoffload_xdp),
		MAP_FD(off_skel, pso_port_cfg), -1, MAP_FD(off_skel, pso_topics), -1,
		MAP_FD(off_skel, pso_clients), -1, MAP_FD(off_skel, pso_counters),
		MAP_FD(off_skel, pso_topic_stats), -1, 1, -1, -1 };
	*t = (struct prog){ t->name, false, true, bpf_program__fd(tc_skel->progs.psoffload_tc),
		MAP_FD(tc_skel, pso_port_cfg), MAP_FD(tc_skel, pso_port_slots),
		MAP_FD(tc_skel, pso_topics), MAP_FD(tc_skel, pso_subs),
		MAP_FD(tc_skel, pso_clients), MAP_FD(tc_skel, pso_client_slots),
		MAP_FD(tc_skel, pso_counters), MAP_FD(tc_skel, pso_topic_stats), -1,
		libbpf_num_possible_cpus(), MAP_FD(tc_skel, pso_short_names),
		MAP_FD(tc_skel, pso_topic_runs) };
}

static uint32_t client_slot_index(const struct pso_endpoint *ep)
{
	uint32_t w[4];

	memcpy(w, ep->addr, sizeof(w));
	return pso_client_slot_of(w[0], w[1], w[2], w[3], ep->port);
}

/* Each topic's run: 4 slots at id * 4 in the pool, in half id & 1; the
 * other half points at a decoy run of subscribers nobody has (a reader
 * that took the wrong half would copy to them). */
static uint32_t run_base_of(uint16_t id)
{
	return (uint32_t)id * 4;
}

#define DECOY_BASE 8	/* ids 2 and 3's slots: no topic of the table */

static void write_run(const struct prog *p, uint16_t id)
{
	struct pso_run r = { .cur = id & 1 };
	__u32 key = id;

	r.base[id & 1] = run_base_of(id);
	r.cap[id & 1] = model_cap[id];
	r.base[(id & 1) ^ 1] = DECOY_BASE;
	r.cap[(id & 1) ^ 1] = 4;
	assert_int_equal(bpf_map_update_elem(p->runs_fd, &key, &r, BPF_ANY), 0);
}

static void write_decoys(const struct prog *p)
{
	static const struct sub_spec decoy = { PORT_A, V4 };

	for (__u32 k = DECOY_BASE; k < DECOY_BASE + 4 && p->subs_fd >= 0; k++) {
		struct pso_sub s = make_sub(&decoy, 99);

		assert_int_equal(bpf_map_update_elem(p->subs_fd, &k, &s, BPF_ANY), 0);
	}
}

/* The tables, as the daemon would write them: slots before the topic. */
static void write_tables(const struct prog *p)
{
	for (int i = 0; i < 2; i++) {
		__u32 key = p->offload ? 0 : port_cfg[i].ifindex;
		__u32 slot = pso_port_slot_of(port_cfg[i].ifindex);

		if (p->offload && i > 0)
			break;		/* a device-bound program serves one port */
		assert_int_equal(bpf_map_update_elem(p->port_cfg_fd, &key, &port_cfg[i], BPF_ANY), 0);
		if (p->port_slots_fd >= 0 && i == PORT_A)
			assert_int_equal(bpf_map_update_elem(p->port_slots_fd, &slot, &port_cfg[i],
							     BPF_ANY), 0);
	}
	for (size_t i = 0; i < N_CLIENTS; i++) {
		/* No publish-rate limit (the host's entry with the limit off:
		 * budget_end unlimited, interval 0); the model has none. */
		struct pso_client_val val = { .budget_end = UINT64_MAX };
		struct pso_client_slot cs = { .ep = client_ep[i] };
		__u32 idx = client_slot_index(&client_ep[i]);

		assert_int_equal(bpf_map_update_elem(p->clients_fd, &client_ep[i], &val, BPF_ANY), 0);
		if (p->client_slots_fd >= 0 && clients[i].in_slot)
			assert_int_equal(bpf_map_update_elem(p->client_slots_fd, &idx, &cs, BPF_ANY), 0);
	}
	write_decoys(p);
	for (size_t i = 0; i < N_TOPICS; i++) {
		const struct topic_spec *ts = &topics[i];
		__u32 key = ts->id;

		if (p->offload && !ts->placed)
			continue;
		for (uint32_t k = 0; k < model_cap[ts->id] && p->subs_fd >= 0; k++) {
			__u32 slot = run_base_of(ts->id) + k;

			assert_int_equal(bpf_map_update_elem(p->subs_fd, &slot, &model_sub[ts->id][k],
							     BPF_ANY), 0);
		}
		if (p->runs_fd >= 0)
			write_run(p, ts->id);
		if (p->short_names_fd >= 0 && ts->short_name)
			assert_int_equal(bpf_map_update_elem(p->short_names_fd, &key,
							     &model_short[ts->id], BPF_ANY), 0);
		assert_int_equal(bpf_map_update_elem(p->topics_fd, &key, &model_topic[ts->id],
						     BPF_ANY), 0);
		if (p->offload) {
			struct pso_topic_stats zero = { 0 };

			assert_int_equal(bpf_map_update_elem(p->stats_fd, &key, &zero, BPF_ANY), 0);
		}
	}
	for (int i = PORT_A; i <= PORT_B && p->devmap_fd >= 0; i++) {
		__u32 key = (__u32)ifindex_of[i], val = key;

		assert_int_equal(bpf_map_update_elem(p->devmap_fd, &key, &val, BPF_ANY), 0);
	}
}

static void build_world(void)
{
	static const uint8_t mac[6] = MAC_BROKER;

	for (int i = 0; i < 2; i++) {
		struct pso_port_cfg *c = &port_cfg[i];

		memset(c, 0, sizeof(*c));
		c->ifindex = (uint32_t)ifindex_of[i];
		c->udp_port = htons(BROKER_PORT);
		memcpy(c->mac, mac, 6);
		c->mac[5] += (uint8_t)i;
		set_addr((uint8_t *)&c->ip4, i ? "10.1.0.1" : "10.0.0.1", V4);
		if (i == PORT_A)
			set_addr(c->ip6, "fd00::1", V6);
		c->flags = PSO_PORT_F_VALID;
	}
	for (size_t i = 0; i < N_CLIENTS; i++) {
		struct pso_endpoint *ep = &client_ep[i];

		memset(ep, 0, sizeof(*ep));
		set_addr(ep->addr, clients[i].addr, clients[i].family);
		ep->port = htons(clients[i].port);
		ep->family = (uint8_t)clients[i].family;
	}
	for (size_t i = 0; i < N_TOPICS; i++) {
		const struct topic_spec *ts = &topics[i];
		struct pso_topic *t = &model_topic[ts->id];

		t->flags = ts->flags;
		model_placed[ts->id] = ts->placed;
		model_cap[ts->id] = ts->nsubs <= 1 ? (uint32_t)ts->nsubs : ts->nsubs <= 2 ? 2 : 4;
		for (int k = 0; k < ts->nsubs; k++) {
			model_sub[ts->id][k] = make_sub(&ts->subs[k], k);
			if (!model_sub[ts->id][k].family)
				continue;
			if (!t->sub_count++)
				t->first = model_sub[ts->id][k];
		}
		if (ts->short_name) {
			memcpy(model_short[ts->id].name, ts->short_name, 2);
			model_short[ts->id].valid = 1;
		}
	}
}

/* All counters of a program, summed over CPUs, in one batch call. */
static void read_counters(const struct prog *p, uint64_t cnt[PSO_CNT__MAX])
{
	static uint64_t vals[PSO_CNT__MAX * 512];
	__u32 keys[PSO_CNT__MAX], out_batch, count = PSO_CNT__MAX;
	int err;

	assert_true(p->ncpus <= 512);
	err = bpf_map_lookup_batch(p->counters_fd, NULL, &out_batch, keys, vals, &count, NULL);
	assert_true(err == 0 || (err < 0 && errno == ENOENT));
	assert_int_equal(count, PSO_CNT__MAX);
	for (__u32 i = 0; i < count; i++) {
		cnt[keys[i]] = 0;
		for (int c = 0; c < p->ncpus; c++)
			cnt[keys[i]] += vals[i * (__u32)p->ncpus + (__u32)c];
	}
}

static struct pso_topic_stats read_stats(const struct prog *p, __u32 topic)
{
	static struct pso_topic_stats vals[512];
	struct pso_topic_stats sum = { 0 };

	if (topic >= PSO_MAP_TOPICS || bpf_map_lookup_elem(p->stats_fd, &topic, vals))
		return sum;
	for (int c = 0; c < p->ncpus; c++) {
		sum.msgs += vals[c].msgs;
		sum.bytes += vals[c].bytes;
	}
	return sum;
}

static uint64_t client_rx(const struct prog *p, int i)
{
	struct pso_client_val val = { 0 };
	struct pso_client_slot cs = { 0 };
	__u32 idx = client_slot_index(&client_ep[i]);
	uint64_t rx = 0;

	if (!bpf_map_lookup_elem(p->clients_fd, &client_ep[i], &val))
		rx += val.rx_msgs;
	if (p->client_slots_fd >= 0 && !bpf_map_lookup_elem(p->client_slots_fd, &idx, &cs) &&
	    !memcmp(&cs.ep, &client_ep[i], sizeof(cs.ep)))
		rx += cs.rx_msgs;
	return rx;
}

static int run(const struct prog *p, const uint8_t *in, size_t len, enum port ingress,
	       uint8_t *out, size_t *out_len)
{
	struct xdp_md xctx = { .data_end = (__u32)len, .ingress_ifindex = (__u32)ifindex_of[ingress] };
	struct __sk_buff sctx = { .ifindex = (__u32)ifindex_of[ingress] };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = in, .data_size_in = (__u32)len,
		.data_out = out, .data_size_out = (__u32)*out_len,
		.repeat = 1,
	);

	if (p->tc) {
		opts.ctx_in = &sctx;
		opts.ctx_size_in = sizeof(sctx);
	} else {
		opts.ctx_in = &xctx;
		opts.ctx_size_in = sizeof(xctx);
	}
	if (bpf_prog_test_run_opts(p->prog_fd, &opts))
		fail_msg("BPF_PROG_TEST_RUN of %s (%zu bytes): %s", p->name, len, strerror(errno));
	*out_len = opts.data_size_out;
	return (int)opts.retval;
}

/* ---- Comparing ------------------------------------------------------------- */

static const char *const counter_names[] = PSO_COUNTER_NAMES;
static uint64_t mismatches;

/* Equal, but where the input's own checksum was wrong (loose): there the
 * two checksums need only be the same one's-complement value, and either
 * zero may stand for the other - except a UDP checksum, which is never sent
 * as 0 (that would be "none"). */
static bool frame_equal(const uint8_t *want, const uint8_t *got, size_t len, const struct result *r,
			size_t ip_off, size_t udp_off)
{
	for (size_t i = 0; i < len; i++) {
		bool ip = r->ip_loose && ip_off && i == ip_off;
		bool udp = r->udp_loose && udp_off && i == udp_off;

		if ((ip || udp) && i + 1 < len) {
			uint16_t a = be16(want + i), b = be16(got + i);

			if (!(a == b || (a == 0 && b == 0xffff) || (ip && a == 0xffff && b == 0)))
				return false;
			i++;
			continue;
		}
		if (want[i] != got[i])
			return false;
	}
	return true;
}

static void report(uint64_t n, const struct prog *p, enum port ingress, const uint8_t *in,
		   size_t len, const char *what, const uint8_t *want, const uint8_t *got,
		   size_t got_len)
{
	if (++mismatches > 20)
		return;
	fflush(stdout);
	fprintf(stderr, "MISMATCH #%llu, frame %llu, %s, ingress %s: %s\n",
		(unsigned long long)mismatches, (unsigned long long)n, p->name,
		tap_names[ingress], what);
	pkt_hexdump(stderr, "  input", in, len, NULL, 0);
	if (want)
		pkt_hexdump(stderr, "  expected", want, len, NULL, 0);
	if (got)
		pkt_hexdump(stderr, "  actual (* = differs)", got, got_len, want, want ? len : 0);
	fflush(stderr);
}

static void offsets(const uint8_t *in, size_t len, enum port ingress, size_t *ip_off,
		    size_t *udp_off)
{
	struct m_frame m;

	*ip_off = *udp_off = 0;
	if (m_classify(in, len, &port_cfg[ingress], &m) != M_PUBLISH)
		return;
	if (m.family == V4)
		*ip_off = m.l3 + 10;
	*udp_off = m.l4 + 6;
}

/*
 * Read what the TAP devices got; compare with the model's copies.  Ports
 * the model sends nothing to are read every SWEEP frames only (a copy the
 * model does not send moves tc_copies, checked per frame, anyway).
 */
#define SWEEP 256

static void check_copies(uint64_t n, const struct prog *p, enum port ingress, const uint8_t *in,
			 size_t len, const struct result *want)
{
	int expected_on[N_TAPS] = { 0 }, seen_on[N_TAPS] = { 0 };
	size_t ip_off, udp_off;
	uint8_t buf[MAX_FRAME * 2];
	char what[128];

	offsets(in, len, ingress, &ip_off, &udp_off);
	for (int i = 0; i < want->ncopies; i++)
		expected_on[want->copies[i].port]++;
	for (int port = 0; port < N_TAPS; port++) {
		/* Copies leave in slot order: each port's in the model's order. */
		int k = 0;

		if (!expected_on[port] && n % SWEEP)
			continue;
		for (;;) {
			ssize_t r = read(tap_fd[port], buf, sizeof(buf));

			if (r < 0 && errno == EAGAIN && seen_on[port] < expected_on[port]) {
				struct pollfd pf = { .fd = tap_fd[port], .events = POLLIN };

				if (poll(&pf, 1, 1000) > 0)
					continue;
			}
			if (r <= 0)
				break;
			seen_on[port]++;
			while (k < want->ncopies && want->copies[k].port != (enum port)port)
				k++;
			if (k >= want->ncopies) {
				report(n, p, ingress, in, len, "a copy the model does not send",
				       NULL, buf, (size_t)r);
				continue;
			}
			if ((size_t)r != len ||
			    !frame_equal(want->copies[k].b, buf, len, want, ip_off, udp_off)) {
				snprintf(what, sizeof(what), "copy on %s differs", tap_names[port]);
				report(n, p, ingress, in, len, what, want->copies[k].b, buf, (size_t)r);
			}
			k++;
		}
		if (seen_on[port] != expected_on[port]) {
			snprintf(what, sizeof(what), "%d copies on %s, the model sends %d",
				 seen_on[port], tap_names[port], expected_on[port]);
			report(n, p, ingress, in, len, what, NULL, NULL, 0);
		}
	}
}

/*
 * BPF_PROG_TEST_RUN builds an skb for TC only when an IPv4 or IPv6 frame
 * (by its outer EtherType) holds the whole fixed IP header: such frames are
 * the kernel's to refuse, and skipped for TC (counted).
 */
static bool tc_can_run(const uint8_t *f, size_t len)
{
	uint16_t et = be16(f + 12);

	return !((et == 0x0800 && len < 14 + 20) || (et == 0x86dd && len < 14 + 40));
}

static uint64_t tc_skipped;
static uint64_t outcomes[3][PSO_CNT__MAX];	/* the model's, per program */
static uint64_t copies_read;

static void check_one(uint64_t n, const struct prog *p, const uint8_t *in, size_t len,
		      enum port ingress)
{
	static struct result want;
	/* Only these runs move the counters: one run's after is the next's
	 * before. */
	static uint64_t last[3][PSO_CNT__MAX];
	static bool have_last[3];
	uint64_t *before = last[p - progs], after[PSO_CNT__MAX], rx_before = 0, rx_after;
	struct pso_topic_stats st_before = { 0 }, st_after;
	uint8_t out[MAX_FRAME * 2];
	size_t out_len = sizeof(out), ip_off, udp_off;
	char what[160];
	int verdict;

	if (p->tc && !tc_can_run(in, len)) {
		tc_skipped++;
		return;
	}
	if (p->tc)
		model_tc(in, len, ingress, &want);
	else
		model_xdp(in, len, ingress, p->offload, &want);
	for (int k = 0; k < PSO_CNT__MAX; k++)
		outcomes[p - progs][k] += want.cnt[k];
	copies_read += (uint64_t)want.ncopies;
	if (!have_last[p - progs]) {
		read_counters(p, before);
		have_last[p - progs] = true;
	}
	if (want.stats_topic)
		st_before = read_stats(p, want.stats_topic);
	if (want.client >= 0)
		rx_before = client_rx(p, want.client);
	verdict = run(p, in, len, ingress, out, &out_len);
	read_counters(p, after);

	if (verdict != want.verdict) {
		snprintf(what, sizeof(what), "verdict %d, the model says %d", verdict, want.verdict);
		report(n, p, ingress, in, len, what, NULL, NULL, 0);
	}
	for (int k = 0; k < PSO_CNT__MAX; k++)
		if (after[k] - before[k] != want.cnt[k]) {
			snprintf(what, sizeof(what), "counter %s moved by %llu, the model says %llu",
				 counter_names[k], (unsigned long long)(after[k] - before[k]),
				 (unsigned long long)want.cnt[k]);
			report(n, p, ingress, in, len, what, NULL, NULL, 0);
		}
	if (want.stats_topic) {
		st_after = read_stats(p, want.stats_topic);
		if (st_after.msgs - st_before.msgs != 1 ||
		    st_after.bytes - st_before.bytes != want.stats_bytes) {
			snprintf(what, sizeof(what), "topic %u stats moved by %llu/%llu, model 1/%u",
				 want.stats_topic, (unsigned long long)(st_after.msgs - st_before.msgs),
				 (unsigned long long)(st_after.bytes - st_before.bytes), want.stats_bytes);
			report(n, p, ingress, in, len, what, NULL, NULL, 0);
		}
	}
	if (want.client >= 0) {
		rx_after = client_rx(p, want.client);
		if (rx_after - rx_before != 1) {
			snprintf(what, sizeof(what), "client %d rx_msgs moved by %llu, the model says 1",
				 want.client, (unsigned long long)(rx_after - rx_before));
			report(n, p, ingress, in, len, what, NULL, NULL, 0);
		}
	}
	memcpy(before, after, sizeof(after));
	if (want.out_checked) {
		offsets(in, len, ingress, &ip_off, &udp_off);
		if (out_len != len || !frame_equal(want.out, out, len, &want, ip_off, udp_off))
			report(n, p, ingress, in, len, "output frame differs", want.out, out, out_len);
	}
	if (p->tc)
		check_copies(n, p, ingress, in, len, &want);
}

/* ---- The frames ---------------------------------------------------------- */

/* xorshift64*: the same frames for the same seed on every machine. */
static uint64_t rng;

static uint32_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dull) >> 32);
}

static uint32_t below(uint32_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(int percent)
{
	return below(100) < (uint32_t)percent;
}

/* Topic ids worth drawing: the table's, its edges, beyond it. */
static uint16_t draw_topic(void)
{
	static const uint16_t edges[] = { 0, 1, TOPIC_LAST, TOPIC_BEYOND, 0xffff, 0x4c };

	if (chance(70))
		return topics[below(N_TOPICS)].id;
	if (chance(60))
		return edges[below(sizeof(edges) / sizeof(edges[0]))];
	return (uint16_t)rnd();
}

static enum port cur_ingress;	/* of the frame being drawn */

static void draw_addr(uint8_t *a, int family, bool dst)
{
	static const char *const v4[] = { "10.0.0.1", "10.1.0.1", "10.0.0.10", "10.1.0.10",
					  "10.0.0.11", "10.0.0.2", "255.255.255.255" };
	static const char *const v6[] = { "fd00::1", "fd00::10", "fd00::2", "ff02::1", "::" };

	if (chance(dst ? 85 : 80)) {
		if (family == V4)
			set_addr(a, dst ? (cur_ingress == PORT_B ? "10.1.0.1" : "10.0.0.1") :
				 v4[2 + below(3)], V4);
		else
			set_addr(a, dst ? "fd00::1" : "fd00::10", V6);
		return;
	}
	if (family == V4)
		set_addr(a, v4[below(7)], V4);
	else
		set_addr(a, v6[below(5)], V6);
	if (chance(20))
		for (int i = 0; i < (family == V4 ? 4 : 16); i++)
			a[i] = (uint8_t)rnd();
}

static const uint8_t msg_types[] = {
	MQTTSN_ADVERTISE, MQTTSN_SEARCHGW, MQTTSN_GWINFO, MQTTSN_CONNECT, MQTTSN_CONNACK,
	MQTTSN_WILLTOPICREQ, MQTTSN_WILLTOPIC, MQTTSN_WILLMSGREQ, MQTTSN_WILLMSG,
	MQTTSN_REGISTER, MQTTSN_REGACK, MQTTSN_PUBACK, MQTTSN_PUBCOMP, MQTTSN_PUBREC,
	MQTTSN_PUBREL, MQTTSN_SUBSCRIBE, MQTTSN_SUBACK, MQTTSN_UNSUBSCRIBE, MQTTSN_UNSUBACK,
	MQTTSN_PINGREQ, MQTTSN_PINGRESP, MQTTSN_DISCONNECT, MQTTSN_WILLTOPICUPD,
	MQTTSN_WILLTOPICRESP, MQTTSN_WILLMSGUPD, MQTTSN_WILLMSGRESP, MQTTSN_ENCAPSULATED,
	0x03, 0x11, 0x19, 0x1e, 0x1f, 0x20, 0xff,
};

/* A frame built field by field with random fields. */
static size_t draw_built(uint8_t *f)
{
	static uint8_t body[300];
	struct pkt_desc d = {
		.eth_dst = MAC_BROKER, .eth_src = MAC_PUB,
		.ttl = (uint8_t)(chance(70) ? 61 : chance(50) ? below(3) : rnd()),
		.sport = chance(80) ? PUB_PORT : (uint16_t)(chance(50) ? PUB_PORT + 1 : rnd()),
		.dport = chance(90) ? BROKER_PORT : (uint16_t)rnd(),
	};
	int len;

	d.l3 = chance(cur_ingress == PORT_B ? 90 : 70) ? PKT_L3_IP4 : PKT_L3_IP6;
	d.vlan = chance(10);
	d.vlan_tci = (uint16_t)rnd();
	draw_addr(d.ip_src, d.l3 == PKT_L3_IP6 ? V6 : V4, false);
	draw_addr(d.ip_dst, d.l3 == PKT_L3_IP6 ? V6 : V4, true);
	if (d.l3 == PKT_L3_IP4) {
		d.ip4_opt_len = chance(10) ? (uint8_t)(4 * (1 + below(10))) : 0;
		d.ip4_frag = chance(5) ? (uint16_t)rnd() : (chance(50) ? 0x4000 : 0);
		d.udp_csum_zero = chance(15);
	} else if (chance(4)) {
		d.ip6_frag_hdr = true;
		d.ip6_frag = (uint16_t)rnd();
	}
	if (chance(3))
		d.l4 = PKT_L4_TCP;
	if (chance(5))
		d.ip_len_adjust = (int)below(9) - 4;
	if (chance(5))
		d.udp_len_adjust = (int)below(9) - 4;
	if (chance(5))
		d.msg_len_adjust = (int)below(5) - 2;
	d.long_len = chance(10);
	d.trailer_len = chance(10) ? below(20) : 0;
	if (chance(60)) {
		d.msg_type = MQTTSN_PUBLISH;
		d.pub_flags = chance(60) ? (uint8_t)(below(2) * 0x60 | below(2)) : (uint8_t)rnd();
		d.topic_id = draw_topic();
		d.msg_id = (uint16_t)rnd();
		d.data_len = chance(90) ? below(64) : below(240);
	} else if (chance(5)) {
		d.msg_type = PKT_RAW_PAYLOAD;
		d.data_len = below(40);
	} else {
		d.msg_type = msg_types[below(sizeof(msg_types))];
		d.body_len = chance(50) ? below(8) : below(60);
		for (size_t i = 0; i < d.body_len; i++)
			body[i] = (uint8_t)rnd();
		if (d.msg_type == MQTTSN_CONNECT && d.body_len > 1 && chance(80))
			body[1] = MQTTSN_PROTOCOL_ID;
		d.body = body;
	}
	if (chance(5))
		d.l3 = PKT_L3_ARP;
	len = pkt_build(&d, f, MAX_FRAME, NULL);
	if (len < 14) {		/* something the wire cannot carry: again */
		d.long_len = true;
		d.data_len = 8;
		len = pkt_build(&d, f, MAX_FRAME, NULL);
	}
	return len < 14 ? 0 : (size_t)len;
}

static size_t draw_fixture(uint8_t *f)
{
	const struct xdp_case *c = &xdp_cases[below(N_CASES)];
	int len = pkt_build(&c->pkt, f, MAX_FRAME, NULL);

	if (len < 14)
		return 0;
	if (c->cut && c->cut < (size_t)len)
		len = (int)c->cut;
	if (c->trim < (size_t)len)
		len -= (int)c->trim;
	return (size_t)len;
}

/* Offsets the parsers read, for targeted mutations. */
static size_t hot_offset(const uint8_t *f, size_t len)
{
	size_t l3 = len >= 14 && be16(f + 12) == 0x8100 ? 18 : 14;
	bool v6 = len >= l3 && be16(f + l3 - 2) == 0x86dd;
	size_t l4 = v6 ? l3 + 40 : l3 + (len > l3 ? (size_t)(f[l3] & 15) * 4 : 20);
	static const size_t ip4[] = { 0, 2, 3, 6, 7, 8, 9, 16, 19 };
	static const size_t ip6[] = { 0, 4, 5, 6, 7, 24, 39 };
	static const size_t udp[] = { 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 };
	size_t off;

	switch (below(4)) {
	case 0:
		off = 12 + below(6);
		break;
	case 1:
		off = l3 + (v6 ? ip6[below(7)] : ip4[below(9)]);
		break;
	default:
		off = l4 + udp[below(12)];
		break;
	}
	return off;
}

static size_t mutate(uint8_t *f, size_t len)
{
	size_t off;

	switch (below(8)) {
	case 0:		/* flip a bit */
		if (len)
			f[below((uint32_t)len)] ^= (uint8_t)(1u << below(8));
		break;
	case 1:		/* a random byte */
		if (len)
			f[below((uint32_t)len)] = (uint8_t)rnd();
		break;
	case 2:		/* cut */
		if (len > 14)
			len = 14 + below((uint32_t)(len - 14));
		break;
	case 3:		/* grow */
		for (uint32_t n = 1 + below(16); n-- && len < MAX_FRAME;)
			f[len++] = (uint8_t)rnd();
		break;
	default:	/* a byte the parsers read */
		off = hot_offset(f, len);
		if (off < len) {
			static const uint8_t nice[] = { 0, 1, 2, 3, 4, 5, 7, 0x0c, 0x11, 0x20, 0x3f,
							0x40, 0x45, 0x60, 0x7f, 0x80, 0xfe, 0xff };

			f[off] = chance(50) ? nice[below(sizeof(nice))] : (uint8_t)(f[off] + below(5) - 2);
		}
		break;
	}
	return len;
}

/* Repair the IPv4 header and UDP checksums where the frame has them. */
static void fix_csums(uint8_t *f, size_t len)
{
	size_t l3 = len >= 18 && be16(f + 12) == 0x8100 ? 18 : 14, l4, ulen;
	uint16_t et = len >= l3 ? be16(f + l3 - 2) : 0, c;
	uint8_t l4buf[MAX_FRAME];

	if (et == 0x0800 && len >= l3 + 20) {
		size_t ihl = (size_t)(f[l3] & 15) * 4;

		if (ihl < 20 || len < l3 + ihl)
			return;
		f[l3 + 10] = f[l3 + 11] = 0;
		c = csum_ip4_header(f + l3, ihl);
		f[l3 + 10] = c >> 8;
		f[l3 + 11] = c & 0xff;
		l4 = l3 + ihl;
		if (f[l3 + 9] != 17 || len < l4 + 8)
			return;
		ulen = be16(f + l4 + 4);
		if (ulen < 8 || l4 + ulen > len || !be16(f + l4 + 6))
			return;
		memcpy(l4buf, f + l4, ulen);
		l4buf[6] = l4buf[7] = 0;
		c = csum_l4(4, f + l3 + 12, f + l3 + 16, 17, (uint32_t)ulen, l4buf, ulen);
	} else if (et == 0x86dd && len >= l3 + 48 && f[l3 + 6] == 17) {
		l4 = l3 + 40;
		ulen = be16(f + l4 + 4);
		if (ulen < 8 || l4 + ulen > len)
			return;
		memcpy(l4buf, f + l4, ulen);
		l4buf[6] = l4buf[7] = 0;
		c = csum_l4(6, f + l3 + 8, f + l3 + 24, 17, (uint32_t)ulen, l4buf, ulen);
	} else {
		return;
	}
	c = c ? c : 0xffff;
	f[l4 + 6] = c >> 8;
	f[l4 + 7] = c & 0xff;
}

static size_t draw_frame(uint8_t *f)
{
	size_t len;
	uint32_t n;

	if (chance(3)) {		/* noise */
		len = 14 + below(200);
		for (size_t i = 0; i < len; i++)
			f[i] = (uint8_t)rnd();
		if (chance(50)) {
			f[12] = chance(50) ? 0x08 : 0x86;
			f[13] = f[12] == 0x08 ? 0x00 : 0xdd;
		}
		return len;
	}
	len = chance(25) ? draw_fixture(f) : draw_built(f);
	if (!len)
		return draw_frame(f);
	n = chance(40) ? 0 : 1 + below(chance(80) ? 2 : 6);
	while (n--)
		len = mutate(f, len);
	if (len < 14)
		len = 14;
	if (chance(50))
		fix_csums(f, len);
	return len;
}

/* ---- The test -------------------------------------------------------------- */

static void test_dp_fuzz(void **state)
{
	const char *count_env = getenv("PSO_DP_FUZZ_COUNT"), *seed_env = getenv("PSO_DP_FUZZ_SEED");
	uint64_t count = count_env ? strtoull(count_env, NULL, 0) : DEFAULT_COUNT;
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : (uint64_t)time(NULL);
	static uint8_t f[MAX_FRAME + 32];
	struct timespec t0, t1;
	double secs;

	rng = seed ? seed : 1;
	printf("dp_fuzz: seed %llu (PSO_DP_FUZZ_SEED=%llu repeats this run), %llu frames\n",
	       (unsigned long long)seed, (unsigned long long)seed, (unsigned long long)count);
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t n = 0; n < count; n++) {
		enum port ingress = chance(75) ? PORT_A : PORT_B;
		size_t len = (cur_ingress = ingress, draw_frame(f));

		for (int i = 0; i < 3; i++) {
			const struct prog *p = &progs[i];
			enum port in = p->offload ? PORT_A : ingress;

			check_one(n, p, f, len, in);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("dp_fuzz: %llu frames x 3 programs in %.1f s: %.0f frames/s, %.0f program runs/s; "
	       "%llu not run through TC (IP header cut, the kernel refuses them); "
	       "%llu mismatches\n", (unsigned long long)count, secs, (double)count / secs,
	       (3.0 * (double)count - (double)tc_skipped) / secs, (unsigned long long)tc_skipped,
	       (unsigned long long)mismatches);
	/* What the frames exercised: each outcome the model predicted. */
	for (int i = 0; i < 3; i++) {
		printf("dp_fuzz: %s:", progs[i].name);
		for (int k = 0; k < PSO_CNT__MAX; k++)
			if (outcomes[i][k])
				printf(" %s=%llu", counter_names[k], (unsigned long long)outcomes[i][k]);
		printf("\n");
	}
	printf("dp_fuzz: %llu TC copies read back and compared\n", (unsigned long long)copies_read);
	assert_int_equal(mismatches, 0);
}

/* ---- Runner ------------------------------------------------------------------ */

static int write_sysctl(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

static int tap_open(const char *name, bool up, int *ifindex)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK), s;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		goto fail;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		goto fail;
	if (ioctl(s, SIOCGIFINDEX, &ifr) < 0 || ((*ifindex = ifr.ifr_ifindex), 0) ||
	    ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		goto fail_s;
	/* No ARP, IPv6 off: every frame read is a copy. */
	ifr.ifr_flags |= IFF_NOARP | (up ? IFF_UP : 0);
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		goto fail_s;
	close(s);
	return fd;
fail_s:
	close(s);
fail:
	fprintf(stderr, "tap %s: %s\n", name, strerror(errno));
	close(fd);
	return -1;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !getenv("PSO_TEST_VERBOSE"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int group_setup(void **state)
{
	if (unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (run as root)\n", strerror(errno));
		return -1;
	}
	libbpf_set_print(libbpf_quiet);
	write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	for (int p = 0; p < N_TAPS; p++) {
		tap_fd[p] = tap_open(tap_names[p], p != PORT_D, &ifindex_of[p]);
		if (tap_fd[p] < 0)
			return -1;
	}
	ifindex_of[PORT_MISSING] = 0x7ffffff0;
	drv_skel = psoffload_xdp__open_and_load();
	off_skel = psoffload_xdp_offload__open_and_load();
	tc_skel = psoffload_tc__open_and_load();
	if (!drv_skel || !off_skel || !tc_skel) {
		fprintf(stderr, "cannot load the data-plane objects (run as root)\n");
		return -1;
	}
	prog_fds();
	build_world();
	for (int i = 0; i < 3; i++)
		write_tables(&progs[i]);
	return 0;
}

static int group_teardown(void **state)
{
	for (int p = 0; p < N_TAPS; p++)
		if (tap_fd[p] >= 0)
			close(tap_fd[p]);
	psoffload_xdp__destroy(drv_skel);
	psoffload_xdp_offload__destroy(off_skel);
	psoffload_tc__destroy(tc_skel);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dp_fuzz),
	};

	return cmocka_run_group_tests_name("dp_fuzz", tests, group_setup, group_teardown);
}
