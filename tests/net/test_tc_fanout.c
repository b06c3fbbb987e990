// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_tc_fanout.c - the TC fan-out path end to end, through real kernels.
 *
 * Lab (names carry the PID, so parallel runs never meet):
 *
 *     [pso-<pid>-c]  c0 ==veth== b0  [pso-<pid>-br]  b1 ==veth== d0  [pso-<pid>-d]
 *     publisher and               psoffload_tc on                  subscribers
 *     subscribers                 clsact ingress of b0, b1         behind b1
 *
 * Every veth has tx and rx checksum offload off, so each receiving kernel
 * verifies the UDP checksum of every copy in software (veth would otherwise
 * hand CHECKSUM_PARTIAL across or mark CHECKSUM_UNNECESSARY).  The one
 * exception is deliberate: the *_partial_csum cases turn tx offload on at
 * the publisher, so its publish reaches the program as CHECKSUM_PARTIAL
 * (the UDP checksum field holding only the pseudo-header sum, as for any
 * locally sent datagram); the broker ports, tx off, complete each copy's
 * checksum in software on the way out and the receivers verify it.
 * The *_vlan_* cases write an 802.1Q-tagged publish raw on c0 (no VLAN
 * device needed) and require untagged copies on the untagged ports.
 *
 * The tables are written as the daemon writes them: slots before the count.
 * A UDP socket on the broker address :1883 in the broker namespace plays the
 * daemon and sees whatever the program lets continue up.
 *
 * Each case publishes one real MQTT-SN PUBLISH and then a sentinel publish
 * on the same topic.  Every served subscriber must read exactly the first
 * publish, then the sentinel: a duplicate would come before the sentinel on
 * the same path (the process is pinned to one CPU, so both publishes take
 * the same backlog queue).  Checksums are proved twice: a raw capture on the
 * receiving interface checks each copy field by field against an RFC 1071
 * sum computed here, and the receivers' Udp InCsumErrors stay put while
 * InDatagrams moves by exactly the copies read (UDP verifies the checksum
 * when the datagram is read and drops it silently if it is wrong).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "psoffload_abi.h"
#include "psoffload_tc.skel.h"
#include "netns.h"

#define BROKER_PORT 1883
#define PUB_TTL 33		/* the original keeps it; copies carry one less */
#define RECV_TIMEOUT_MS 3000
#define SILENCE_MS 50		/* grace poll after the sentinel proved ordering */
#define MAX_SUBS 64
#define MAX_MSG 1500

/* The two broker ports and what sits behind each. */
enum side { SIDE_C, SIDE_D, N_SIDES };

struct side_cfg {
	char ns[NETNS_NAME_MAX];	/* peer namespace */
	const char *br_if, *peer_if;
	const char *br4, *peer4, *br6, *peer6;	/* addresses */
	int br_idx, peer_idx;
	uint8_t br_mac[6], peer_mac[6];
};

static struct lab {
	char br[NETNS_NAME_MAX];
	struct side_cfg side[N_SIDES];
	struct psoffload_tc *skel;
	int fd_port_cfg, fd_topics, fd_subs, fd_runs, fd_clients, fd_counters;
	int ncpus;
	int daemon4, daemon6;		/* "daemon" sockets on broker:1883 */
	int pub4, pub6;			/* connected publishers (in pso_clients) */
	int stranger4;			/* a publisher the broker never admitted */
	const char *skip_reason;
	char fail_reason[600];
} lab = {
	.side = {
		[SIDE_C] = { .br_if = "b0", .peer_if = "c0",
			     .br4 = "10.71.0.1", .peer4 = "10.71.0.2",
			     .br6 = "fd00:71::1", .peer6 = "fd00:71::2" },
		[SIDE_D] = { .br_if = "b1", .peer_if = "d0",
			     .br4 = "10.71.1.1", .peer4 = "10.71.1.2",
			     .br6 = "fd00:71:1::1", .peer6 = "fd00:71:1::2" },
	},
	.daemon4 = -1, .daemon6 = -1, .pub4 = -1, .pub6 = -1, .stranger4 = -1,
};

static const char *const counter_names[] = PSO_COUNTER_NAMES;

/* ---- small helpers ------------------------------------------------------ */

static int pso_family(int af)
{
	return af == AF_INET ? PSO_AF_INET : PSO_AF_INET6;
}

static void addr_bytes(int af, const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	assert_int_equal(inet_pton(af, s, out), 1);
}

/* A socket address for s:port. */
static socklen_t sockaddr_of(int af, const char *s, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		inet_pton(AF_INET, s, &sin->sin_addr);
		return sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		inet_pton(AF_INET6, s, &sin6->sin6_addr);
		return sizeof(*sin6);
	}
}

/* "addr:port" of a socket address, for messages. */
static const char *sockaddr_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	uint16_t port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		port = ntohs(sin->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		port = ntohs(sin6->sin6_port);
	}
	snprintf(buf, len, "%s:%u", a, port);
	return buf;
}

static bool sockaddr_is(const struct sockaddr_storage *ss, int af, const char *s, uint16_t port)
{
	struct sockaddr_storage want;

	sockaddr_of(af, s, port, &want);
	if (ss->ss_family != af)
		return false;
	if (af == AF_INET)
		return memcmp(ss, &want, sizeof(struct sockaddr_in)) == 0;
	return memcmp(&((struct sockaddr_in6 *)ss)->sin6_addr,
		      &((struct sockaddr_in6 *)&want)->sin6_addr, 16) == 0 &&
	       ((struct sockaddr_in6 *)ss)->sin6_port == htons(port);
}

/* A UDP socket in ns bound to addr:port (port 0: any). */
static int udp_bound(const char *ns, int af, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sockaddr_of(af, addr, port, &ss);
	int one = 1, fd;

	fd = netns_socket(ns, af, SOCK_DGRAM, 0);
	if (fd < 0)
		fail_msg("socket in %s: %s", ns, netns_error());
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl))
		fail_msg("bind %s:%u in %s: %s", addr, port, ns, strerror(errno));
	return fd;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &sl), 0);
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					     : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

static void hexdump(const char *what, const uint8_t *p, int len)
{
	print_error("%s (%d bytes):", what, len);
	for (int i = 0; i < len; i++)
		print_error("%s%02x", i % 16 ? " " : "\n  ", p[i]);
	print_error("\n");
}

/* Datagram bytes must match exactly; on a mismatch show both. */
static void assert_bytes(const char *who, const uint8_t *want, int wlen, const uint8_t *got, int glen)
{
	if (wlen == glen && memcmp(want, got, wlen) == 0)
		return;
	hexdump("expected", want, wlen);
	hexdump("actual", got, glen);
	fail_msg("%s: received bytes differ from the published MQTT-SN message", who);
}

/* ---- MQTT-SN ------------------------------------------------------------ */

/* PUBLISH: length (1 byte, or 0x01 + 2 bytes), MsgType, Flags, TopicId,
 * MsgId, payload. */
static int mqttsn_publish(uint8_t *buf, uint8_t flags, uint16_t topic, uint16_t msg_id,
			  int payload_len, uint8_t seed)
{
	int hdr = 7 + payload_len < 256 ? 2 : 4, len = hdr + 5 + payload_len, i = 0;

	assert_true(len <= MAX_MSG);
	if (hdr == 2) {
		buf[i++] = len;
	} else {
		buf[i++] = MQTTSN_LEN_3BYTE_MARK;
		buf[i++] = len >> 8;
		buf[i++] = len & 0xff;
	}
	buf[i++] = MQTTSN_PUBLISH;
	buf[i++] = flags;
	buf[i++] = topic >> 8;
	buf[i++] = topic & 0xff;
	buf[i++] = msg_id >> 8;
	buf[i++] = msg_id & 0xff;
	for (int k = 0; k < payload_len; k++)
		buf[i++] = (uint8_t)(seed + 7 * k);
	return len;
}

static void send_to_broker(int fd, int af, const uint8_t *msg, int len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sockaddr_of(af, af == AF_INET ? lab.side[SIDE_C].br4 : lab.side[SIDE_C].br6,
				   BROKER_PORT, &ss);

	assert_int_equal(sendto(fd, msg, len, 0, (struct sockaddr *)&ss, sl), len);
}

/* ---- tables ------------------------------------------------------------- */

static void counters_read(uint64_t out[PSO_CNT__MAX])
{
	uint64_t vals[lab.ncpus];

	for (__u32 k = 0; k < PSO_CNT__MAX; k++) {
		out[k] = 0;
		assert_int_equal(bpf_map_lookup_elem(lab.fd_counters, &k, vals), 0);
		for (int c = 0; c < lab.ncpus; c++)
			out[k] += vals[c];
	}
}

struct counter_wait {
	enum pso_counter which;
	uint64_t target;
};

static bool counter_reached(void *arg)
{
	struct counter_wait *w = arg;
	uint64_t c[PSO_CNT__MAX];

	counters_read(c);
	return c[w->which] >= w->target;
}

/*
 * "Any": the peers' own ARP, neighbour discovery and MLD frames cross the
 * broker ports too and are passed untouched (tc_pass) whenever the kernel
 * decides to send them, so that counter is not exact in a live lab.
 */
#define CNT_ANY UINT64_MAX

/* Wait for the per-packet outcome counter `which` to reach base+n, then
 * compare every counter's delta with want[] (unset entries: 0; CNT_ANY:
 * not compared, or for `which` at least n). */
static void counters_expect(const uint64_t base[PSO_CNT__MAX], enum pso_counter which, uint64_t n,
			    const uint64_t want[PSO_CNT__MAX])
{
	struct counter_wait w = { which, base[which] + n };
	uint64_t now[PSO_CNT__MAX];
	bool bad = false;

	if (netns_wait(counter_reached, &w, RECV_TIMEOUT_MS))
		print_error("counter %s did not reach +%llu in %d ms\n", counter_names[which],
			    (unsigned long long)n, RECV_TIMEOUT_MS);
	counters_read(now);
	for (int k = 0; k < PSO_CNT__MAX; k++) {
		if (want[k] == CNT_ANY && k != (int)which)
			continue;
		if (want[k] == CNT_ANY ? now[k] - base[k] < n : now[k] - base[k] != want[k]) {
			print_error("counter %-16s delta %llu, expected %s%llu\n", counter_names[k],
				    (unsigned long long)(now[k] - base[k]),
				    want[k] == CNT_ANY ? ">= " : "",
				    (unsigned long long)(want[k] == CNT_ANY ? n : want[k]));
			bad = true;
		}
	}
	if (bad)
		fail_msg("data-plane counters differ from the expected outcome");
}

/* The slot for a subscriber at side s, UDP port `port`. */
static void sub_slot(enum side s, int af, uint16_t port, struct pso_sub *out)
{
	const struct side_cfg *c = &lab.side[s];

	memset(out, 0, sizeof(*out));
	memcpy(out->dst_mac, c->peer_mac, 6);
	memcpy(out->src_mac, c->br_mac, 6);
	out->ifindex = c->br_idx;
	out->dst_port = htons(port);
	out->family = pso_family(af);
	out->flags = PSO_SUB_F_RESOLVED;
	addr_bytes(af, af == AF_INET ? c->br4 : c->br6, out->src_addr);
	addr_bytes(af, af == AF_INET ? c->peer4 : c->peer6, out->dst_addr);
}

/* Each topic's run: MAX_SUBS pool slots at topic * MAX_SUBS. */
static uint32_t run_cap_of(int n)
{
	uint32_t cap = 1;

	while (cap < (uint32_t)n)
		cap <<= 1;
	return n ? cap : 0;
}

/* Daemon write order: the run's slots first, then its entry, then the
 * topic entry that counts them. */
static void topic_install(uint16_t topic, const struct pso_sub *slots, int n, uint8_t flags)
{
	struct pso_topic t = { .sub_count = n < PSO_SUB_COUNT_MAX ? n : PSO_SUB_COUNT_MAX,
			       .flags = PSO_TOPIC_F_VALID | flags };
	struct pso_run run = { .base = { (__u32)topic * MAX_SUBS }, .cap = { run_cap_of(n) } };

	for (int i = 0; i < n; i++) {
		__u32 k = (__u32)topic * MAX_SUBS + i;

		assert_int_equal(bpf_map_update_elem(lab.fd_subs, &k, &slots[i], BPF_ANY), 0);
	}
	if (n)
		t.first = slots[0];
	{
		__u32 k = topic;

		assert_int_equal(bpf_map_update_elem(lab.fd_runs, &k, &run, BPF_ANY), 0);
		assert_int_equal(bpf_map_update_elem(lab.fd_topics, &k, &t, BPF_ANY), 0);
	}
}

/* Reverse order: the count goes to zero before slots are cleared. */
static void topic_remove(uint16_t topic, int n)
{
	struct pso_topic t = {};
	struct pso_sub empty = {};
	__u32 k = topic;

	struct pso_run no_run = {};

	bpf_map_update_elem(lab.fd_topics, &k, &t, BPF_ANY);
	bpf_map_update_elem(lab.fd_runs, &k, &no_run, BPF_ANY);
	for (int i = 0; i < n; i++) {
		k = (__u32)topic * MAX_SUBS + i;
		bpf_map_update_elem(lab.fd_subs, &k, &empty, BPF_ANY);
	}
}

/* ---- /proc/net/snmp ----------------------------------------------------- */

enum ns_id { NS_BR, NS_C, NS_D, N_NS };

struct udp_stats {
	uint64_t in[N_NS], csum_err[N_NS];
};

static const char *ns_name(enum ns_id id)
{
	return id == NS_BR ? lab.br : lab.side[id == NS_C ? SIDE_C : SIDE_D].ns;
}

static void udp_stats_read(int af, struct udp_stats *st)
{
	for (int i = 0; i < N_NS; i++) {
		const char *ns = ns_name(i);
		int e1, e2;

		if (af == AF_INET) {
			e1 = netns_snmp(ns, "Udp", "InDatagrams", &st->in[i]);
			e2 = netns_snmp(ns, "Udp", "InCsumErrors", &st->csum_err[i]);
		} else {
			e1 = netns_snmp(ns, NULL, "Udp6InDatagrams", &st->in[i]);
			e2 = netns_snmp(ns, NULL, "Udp6InCsumErrors", &st->csum_err[i]);
		}
		if (e1 || e2)
			fail_msg("snmp: %s", netns_error());
	}
}

/* No receiver saw a bad UDP checksum, and each took in exactly want_in[]. */
static void udp_stats_expect(int af, const struct udp_stats *before, const uint64_t want_in[N_NS])
{
	struct udp_stats after;
	bool bad = false;

	udp_stats_read(af, &after);
	for (int i = 0; i < N_NS; i++) {
		if (after.csum_err[i] != before->csum_err[i]) {
			print_error("[%s] Udp%sInCsumErrors %llu -> %llu\n", ns_name(i),
				    af == AF_INET ? "" : "6",
				    (unsigned long long)before->csum_err[i],
				    (unsigned long long)after.csum_err[i]);
			bad = true;
		}
		if (after.in[i] - before->in[i] != want_in[i]) {
			print_error("[%s] Udp%sInDatagrams +%llu, expected +%llu\n", ns_name(i),
				    af == AF_INET ? "" : "6",
				    (unsigned long long)(after.in[i] - before->in[i]),
				    (unsigned long long)want_in[i]);
			bad = true;
		}
	}
	if (bad)
		fail_msg("receivers' UDP counters show bad checksums or wrong copy counts");
}

/* ---- independent checksum (RFC 1071) ------------------------------------ */

/* One's-complement sum of big-endian 16-bit words; an odd last byte is
 * padded with zero on the right (RFC 1071 4.1). */
static uint32_t ones_sum(uint32_t acc, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	return acc;
}

static uint16_t ones_fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)acc;
}

/* The UDP checksum of the datagram as it should be, computed from scratch
 * with the checksum field taken as zero (RFC 768, RFC 8200 8.1). */
static uint16_t udp_csum_expected(int af, const uint8_t *src, const uint8_t *dst,
				  const uint8_t *udp, size_t len)
{
	uint8_t copy[MAX_MSG + 8];
	uint32_t acc = 0;
	uint16_t c;

	memcpy(copy, udp, len);
	copy[6] = copy[7] = 0;
	acc = ones_sum(acc, src, af == AF_INET ? 4 : 16);
	acc = ones_sum(acc, dst, af == AF_INET ? 4 : 16);
	acc += 17 + (uint32_t)len;	/* zero, protocol, UDP length */
	acc = ones_sum(acc, copy, len);
	c = ~ones_fold(acc);
	return c ? c : 0xffff;	/* a computed 0 is sent as all ones */
}

/* recvmsg(2) of one message before the deadline (poll); returns its length,
 * -ETIMEDOUT or a negative errno. */
static int recvmsg_deadline(int fd, struct msghdr *mh, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = netns_now_ms();
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(deadline - now)) <= 0)
			continue;
		r = recvmsg(fd, mh, MSG_DONTWAIT);
		if (r >= 0)
			return r;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

/* ---- raw capture -------------------------------------------------------- */

/* AF_PACKET on the peer interface of side s: every frame the peer receives. */
static int capture_open(enum side s)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = lab.side[s].peer_idx,
	};

	int one = 1, fd;

	fd = netns_socket(lab.side[s].ns, AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0)
		fail_msg("AF_PACKET socket: %s", netns_error());
	/* The stack takes an 802.1Q tag out of the frame on receive; auxdata
	 * reports it. */
	setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)))
		fail_msg("bind AF_PACKET: %s", strerror(errno));
	return fd;
}

struct expect_copy {
	enum side side;
	uint16_t port;
	bool predef;		/* the subscriber knows the predefined id */
	bool seen;
};

/*
 * Read the copies side s received and check each frame field by field:
 * Ethernet addresses of the slot, broker source address and port 1883,
 * subscriber destination, TTL/hop limit 64, the IPv4 header checksum, the
 * MQTT-SN bytes unchanged and the UDP checksum recomputed here.  With
 * zero_ok an IPv4 checksum of 0 ("none") is accepted as well.
 */
static void capture_check(int fd, enum side s, int af, const uint8_t *msg,
			  const uint8_t *msg_predef, int msg_len,
			  struct expect_copy *exp, int n_exp, bool zero_ok)
{
	const struct side_cfg *c = &lab.side[s];
	uint8_t br[16], peer[16];
	uint64_t deadline = netns_now_ms() + RECV_TIMEOUT_MS;
	int want = 0, got = 0;

	addr_bytes(af, af == AF_INET ? c->br4 : c->br6, br);
	addr_bytes(af, af == AF_INET ? c->peer4 : c->peer6, peer);
	for (int i = 0; i < n_exp; i++)
		want += exp[i].side == s;

	while (got < want) {
		/* The frame 2 bytes in: its IP header 4-byte aligned (UBSan). */
		uint8_t fbuf[2 + 2048] __attribute__((aligned(4))), *f = fbuf + 2;
		char cbuf[CMSG_SPACE(sizeof(struct tpacket_auxdata))];
		struct sockaddr_ll from;
		struct iovec iov = { f, sizeof(fbuf) - 2 };
		struct msghdr mh = {
			.msg_name = &from, .msg_namelen = sizeof(from),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		const struct tpacket_auxdata *aux = NULL;
		const struct udphdr *udp;
		const uint8_t *src, *dst;
		uint16_t proto, ulen, csum, expect;
		int len, l3 = ETH_HLEN, l4, ttl;

		len = recvmsg_deadline(fd, &mh, deadline);
		if (len < 0)
			fail_msg("capture on %s: %d of %d copies seen (%s)", c->peer_if, got, want,
				 strerror(-len));
		if (from.sll_pkttype == PACKET_OUTGOING || len < ETH_HLEN)
			continue;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_PACKET && cm->cmsg_type == PACKET_AUXDATA)
				aux = (const void *)CMSG_DATA(cm);
		proto = f[12] << 8 | f[13];
		if (af == AF_INET && proto == ETH_P_IP && len >= l3 + 20) {
			const struct iphdr *ip = (const void *)(f + l3);

			if (ip->protocol != IPPROTO_UDP)
				continue;
			l4 = l3 + ip->ihl * 4;
			src = (const uint8_t *)&ip->saddr;
			dst = (const uint8_t *)&ip->daddr;
			ttl = ip->ttl;
			if (ones_fold(ones_sum(0, f + l3, ip->ihl * 4)) != 0xffff) {
				hexdump("frame", f, len);
				fail_msg("copy to %s: bad IPv4 header checksum", c->peer_if);
			}
			assert_int_equal(ntohs(ip->tot_len), len - l3);
		} else if (af == AF_INET6 && proto == ETH_P_IPV6 && len >= l3 + 40) {
			const struct ipv6hdr *ip6 = (const void *)(f + l3);

			if (ip6->nexthdr != IPPROTO_UDP)
				continue;
			l4 = l3 + 40;
			src = (const uint8_t *)&ip6->saddr;
			dst = (const uint8_t *)&ip6->daddr;
			ttl = ip6->hop_limit;
			assert_int_equal(ntohs(ip6->payload_len), len - l4);
		} else {
			continue;	/* ARP, neighbour discovery, ... */
		}
		udp = (const void *)(f + l4);
		if (ntohs(udp->source) != BROKER_PORT)
			continue;
		got++;
		/* Slots know no VLAN: a copy leaves as the egress port sends it. */
		if (aux && (aux->tp_status & TP_STATUS_VLAN_VALID))
			fail_msg("copy to %s port %u carries 802.1Q tag %u (the publisher's?)",
				 c->peer_if, ntohs(udp->dest), aux->tp_vlan_tci & 0xfff);
		ulen = ntohs(udp->len);
		assert_int_equal(ulen, len - l4);
		assert_int_equal(ulen, 8 + msg_len);
		if (memcmp(f, c->peer_mac, 6) || memcmp(f + 6, c->br_mac, 6)) {
			hexdump("frame", f, len);
			fail_msg("copy to %s: wrong Ethernet addresses", c->peer_if);
		}
		assert_memory_equal(src, br, af == AF_INET ? 4 : 16);
		assert_memory_equal(dst, peer, af == AF_INET ? 4 : 16);
		assert_int_equal(ttl, PUB_TTL - 1);	/* one hop less */

		csum = ntohs(udp->check);
		expect = udp_csum_expected(af, src, dst, f + l4, ulen);
		if (!(csum == expect || (zero_ok && af == AF_INET && csum == 0))) {
			hexdump("frame", f, len);
			fail_msg("copy to %s port %u: UDP checksum 0x%04x, recomputed 0x%04x",
				 c->peer_if, ntohs(udp->dest), csum, expect);
		}
		/* Each subscriber exactly once. */
		{
			bool matched = false;

			for (int i = 0; i < n_exp; i++) {
				if (exp[i].side == s && exp[i].port == ntohs(udp->dest)) {
					if (exp[i].seen)
						fail_msg("two copies to port %u", exp[i].port);
					exp[i].seen = matched = true;
					/* The message in the form this subscriber knows. */
					assert_bytes("captured copy", exp[i].predef ? msg_predef : msg,
						     msg_len, f + l4 + 8, ulen - 8);
				}
			}
			if (!matched)
				fail_msg("copy to unexpected port %u on %s", ntohs(udp->dest), c->peer_if);
		}
	}
}

/* ---- the daemon's view -------------------------------------------------- */

/* Receive on a daemon socket, with the TTL / hop limit of the datagram. */
static int daemon_recvmsg(int fd, uint8_t *buf, int len, struct sockaddr_storage *from, int *ttl,
			  uint64_t deadline)
{
	char cbuf[256];
	struct iovec iov = { buf, len };
	struct msghdr mh = {
		.msg_name = from, .msg_namelen = sizeof(*from),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	int r;

	*ttl = -1;
	r = recvmsg_deadline(fd, &mh, deadline);
	if (r < 0)
		return r;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if ((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TTL) ||
		    (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_HOPLIMIT))
			memcpy(ttl, CMSG_DATA(cm), sizeof(int));
	}
	return r;
}

/* ---- per-test resources, released by the teardown even on failure ------- */

static struct {
	int fds[2 * MAX_SUBS + 8];
	int n_fds;
	int topic, n_slots;		/* topic < 0: none installed */
	bool no_check;			/* SO_NO_CHECK set on pub4 */
	bool tx_csum;			/* tx checksum offload turned on on c0 */
} res = { .topic = -1 };

static int res_fd(int fd)
{
	assert_true(res.n_fds < (int)(sizeof(res.fds) / sizeof(res.fds[0])));
	res.fds[res.n_fds++] = fd;
	return fd;
}

static void res_close(int fd)
{
	for (int i = 0; i < res.n_fds; i++) {
		if (res.fds[i] == fd) {
			res.fds[i] = res.fds[--res.n_fds];
			break;
		}
	}
	close(fd);
}

/* Drain whatever a socket still holds (a failed test may leave datagrams). */
static void drain(int fd)
{
	uint8_t buf[MAX_MSG];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
		;
}

/* Checksum offload on the publisher's side of the link: its datagrams then
 * reach the program as CHECKSUM_PARTIAL, the UDP checksum field holding only
 * the pseudo-header sum; the broker ports (tx off) complete it in software
 * on the way out, so the receivers still verify every copy. */
static void tx_csum_offload(bool on)
{
	const char *argv[] = { "ethtool", "-K", lab.side[SIDE_C].peer_if, "tx", on ? "on" : "off", NULL };

	if (netns_exec(lab.side[SIDE_C].ns, argv))
		fail_msg("%s", netns_error());
}

/* First thing in every test: skip (cmocka only skips from a test body)
 * when the machine cannot host the lab, fail when the lab broke. */
static void lab_ready(void)
{
	if (lab.skip_reason) {
		print_message("[  SKIP    ] %s\n", lab.skip_reason);
		skip();
	}
	if (lab.fail_reason[0])
		fail_msg("lab not ready: %s", lab.fail_reason);
}

static int test_setup(void **state)
{
	if (lab.daemon4 >= 0)
		drain(lab.daemon4);
	if (lab.daemon6 >= 0)
		drain(lab.daemon6);
	return 0;
}

static int test_teardown(void **state)
{
	if (res.topic >= 0)
		topic_remove(res.topic, res.n_slots);
	res.topic = -1;
	while (res.n_fds)
		res_close(res.fds[res.n_fds - 1]);
	if (res.no_check) {
		int zero = 0;

		setsockopt(lab.pub4, SOL_SOCKET, SO_NO_CHECK, &zero, sizeof(zero));
		res.no_check = false;
	}
	if (res.tx_csum) {
		tx_csum_offload(false);
		res.tx_csum = false;
	}
	return 0;
}

/* ---- receive checks ----------------------------------------------------- */

/* The next datagram on fd is exactly msg, from the broker on side s. */
static void expect_copy(int fd, int af, enum side s, const uint8_t *msg, int len, const char *who)
{
	const struct side_cfg *c = &lab.side[s];
	struct sockaddr_storage from = {};
	unsigned int fl = sizeof(from);
	uint8_t buf[MAX_MSG];
	char a[80];
	int r;

	r = netns_recv_deadline(fd, buf, sizeof(buf), &from, &fl, netns_now_ms() + RECV_TIMEOUT_MS);
	if (r < 0)
		fail_msg("%s: no copy within %d ms (%s)", who, RECV_TIMEOUT_MS, strerror(-r));
	assert_bytes(who, msg, len, buf, r);
	if (!sockaddr_is(&from, af, af == AF_INET ? c->br4 : c->br6, BROKER_PORT))
		fail_msg("%s: copy from %s, expected the broker on %s port %d", who,
			 sockaddr_str(&from, a, sizeof(a)), c->br_if, BROKER_PORT);
}

/* The daemon socket receives msg as the publisher sent it: source address
 * and port of the publisher, the publisher's TTL (copies carry 64). */
static void expect_daemon(int af, int pub_fd, const uint8_t *msg, int len)
{
	int fd = af == AF_INET ? lab.daemon4 : lab.daemon6;
	struct sockaddr_storage from;
	uint8_t buf[MAX_MSG];
	char a[80];
	int r, ttl;

	r = daemon_recvmsg(fd, buf, sizeof(buf), &from, &ttl, netns_now_ms() + RECV_TIMEOUT_MS);
	if (r < 0)
		fail_msg("daemon socket: nothing went up within %d ms (%s)", RECV_TIMEOUT_MS,
			 strerror(-r));
	assert_bytes("daemon", msg, len, buf, r);
	if (!sockaddr_is(&from, af, af == AF_INET ? lab.side[SIDE_C].peer4 : lab.side[SIDE_C].peer6,
			 local_port(pub_fd)))
		fail_msg("daemon: publish from %s, expected the publisher %s port %u",
			 sockaddr_str(&from, a, sizeof(a)),
			 af == AF_INET ? lab.side[SIDE_C].peer4 : lab.side[SIDE_C].peer6,
			 local_port(pub_fd));
	if (ttl != PUB_TTL)
		fail_msg("daemon: TTL %d, expected the publisher's %d (original headers)", ttl, PUB_TTL);
}

/* Nothing arrives on fd.  Called after a later sentinel has been seen on
 * the same path, so anything due would already be queued; the short poll
 * only catches stragglers. */
static void expect_nothing(int fd, const char *who)
{
	uint8_t buf[MAX_MSG];
	int r = netns_recv_deadline(fd, buf, sizeof(buf), NULL, NULL, netns_now_ms() + SILENCE_MS);

	if (r >= 0) {
		hexdump("unexpected datagram", buf, r);
		fail_msg("%s received a datagram it must not get", who);
	}
}

/* ---- fan-out cases ------------------------------------------------------ */

struct fan_case {
	int af;
	uint16_t topic;
	int n;			/* subscriber slots */
	int d_every;		/* slot i is behind b1 when i % d_every == d_every - 1 */
	int unresolved;		/* slot without PSO_SUB_F_RESOLVED, or -1 */
	int other_family;	/* slot of the other address family, or -1 */
	bool retain;
	uint8_t qos;		/* MQTTSN_FLAG_QOS_0, or _M1 from an unadmitted client */
	int payload;
	bool capture;
	bool zero_csum;		/* IPv4 publisher sends UDP checksum 0 */
	bool partial;		/* publisher's checksum left to offload (PARTIAL) */
	uint16_t vlan;		/* publish sent raw with this 802.1Q tag (0: none) */
	bool mixed_forms;	/* odd slots know the topic by predefined id */
};

/*
 * The publish as the publisher's socket would send it, but tagged with VLAN
 * vid and written raw on c0 (the kernel here may lack 802.1Q devices; the
 * receiving stack needs none to take the tag off into skb->vlan_tci).
 */
static void send_tagged(int af, int pub_fd, uint16_t vid, const uint8_t *msg, int len)
{
	const struct side_cfg *c = &lab.side[SIDE_C];
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_ifindex = c->peer_idx,
		.sll_halen = ETH_ALEN,
	};
	/* The frame 2 bytes in: its IP header 4-byte aligned (UBSan). */
	uint8_t fbuf[2 + MAX_MSG + 128] __attribute__((aligned(4))) = {}, *f = fbuf + 2, *src, *dst;
	struct udphdr *udp;
	int l3 = ETH_HLEN + 4, l4, fd;

	memcpy(f, c->br_mac, ETH_ALEN);
	memcpy(f + ETH_ALEN, c->peer_mac, ETH_ALEN);
	f[12] = ETH_P_8021Q >> 8;
	f[13] = ETH_P_8021Q & 0xff;
	f[14] = vid >> 8;
	f[15] = vid & 0xff;
	if (af == AF_INET) {
		struct iphdr *ip = (void *)(f + l3);

		f[16] = ETH_P_IP >> 8;
		f[17] = ETH_P_IP & 0xff;
		l4 = l3 + sizeof(*ip);
		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(sizeof(*ip) + sizeof(*udp) + len);
		ip->ttl = PUB_TTL;
		ip->protocol = IPPROTO_UDP;
		inet_pton(AF_INET, c->peer4, &ip->saddr);
		inet_pton(AF_INET, c->br4, &ip->daddr);
		ip->check = htons(~ones_fold(ones_sum(0, (uint8_t *)ip, sizeof(*ip))));
		src = (uint8_t *)&ip->saddr;
		dst = (uint8_t *)&ip->daddr;
	} else {
		struct ipv6hdr *ip6 = (void *)(f + l3);

		f[16] = ETH_P_IPV6 >> 8;
		f[17] = ETH_P_IPV6 & 0xff;
		l4 = l3 + sizeof(*ip6);
		ip6->version = 6;
		ip6->payload_len = htons(sizeof(*udp) + len);
		ip6->nexthdr = IPPROTO_UDP;
		ip6->hop_limit = PUB_TTL;
		inet_pton(AF_INET6, c->peer6, &ip6->saddr);
		inet_pton(AF_INET6, c->br6, &ip6->daddr);
		src = (uint8_t *)&ip6->saddr;
		dst = (uint8_t *)&ip6->daddr;
	}
	udp = (void *)(f + l4);
	udp->source = htons(local_port(pub_fd));	/* the admitted client */
	udp->dest = htons(BROKER_PORT);
	udp->len = htons(sizeof(*udp) + len);
	memcpy(udp + 1, msg, len);
	udp->check = htons(udp_csum_expected(af, src, dst, (uint8_t *)udp, sizeof(*udp) + len));

	memcpy(sll.sll_addr, c->br_mac, ETH_ALEN);
	fd = netns_socket(c->ns, AF_PACKET, SOCK_RAW, 0);
	if (fd < 0)
		fail_msg("AF_PACKET socket: %s", netns_error());
	len += l4 + sizeof(*udp);
	if (sendto(fd, f, len, 0, (struct sockaddr *)&sll, sizeof(sll)) != len) {
		close(fd);
		fail_msg("raw send on %s: %s", c->peer_if, strerror(errno));
	}
	close(fd);
}

static void publish_send(const struct fan_case *fc, int pub, const uint8_t *msg, int len)
{
	if (fc->vlan)
		send_tagged(fc->af, pub, fc->vlan, msg, len);
	else
		send_to_broker(pub, fc->af, msg, len);
}

static void run_fanout(const struct fan_case *fc)
{
	int af = fc->af, other = af == AF_INET ? AF_INET6 : AF_INET;
	struct pso_sub slots[MAX_SUBS];
	int fds[MAX_SUBS], cap[N_SIDES] = { -1, -1 };
	enum side sides[MAX_SUBS];
	bool served[MAX_SUBS];
	struct expect_copy exp[MAX_SUBS];
	int n_exp = 0, copies = 0, per_side[N_SIDES] = {};
	uint8_t msg[MAX_MSG], sentinel[MAX_MSG], copy[MAX_MSG], sentinel_copy[MAX_MSG];
	uint8_t copy_p[MAX_MSG], sentinel_copy_p[MAX_MSG];	/* predefined form */
	bool predef[MAX_SUBS];
	int msg_len, sentinel_len, copy_len, sentinel_copy_len, pub;
	uint64_t base[PSO_CNT__MAX], want[PSO_CNT__MAX] = {};
	struct udp_stats st;
	bool up;
	char who[64];

	lab_ready();
	assert_true(fc->n <= MAX_SUBS && fc->n <= PSO_MAX_RUN);
	for (int i = 0; i < fc->n; i++) {
		int saf = i == fc->other_family ? other : af;
		enum side s = fc->d_every && i % fc->d_every == fc->d_every - 1 ? SIDE_D : SIDE_C;
		uint16_t port = (s == SIDE_C ? 20000 : 30000) + i;
		const struct side_cfg *c = &lab.side[s];

		sides[i] = s;
		fds[i] = res_fd(udp_bound(c->ns, saf, saf == AF_INET ? c->peer4 : c->peer6, port));
		sub_slot(s, saf, port, &slots[i]);
		if (i == fc->unresolved)
			slots[i].flags &= ~PSO_SUB_F_RESOLVED;
		predef[i] = fc->mixed_forms && i % 2;
		if (predef[i])
			slots[i].flags |= PSO_SUB_F_PREDEFINED;
		served[i] = i != fc->unresolved && i != fc->other_family;
		if (served[i]) {
			exp[n_exp++] = (struct expect_copy){ .side = s, .port = port,
							     .predef = predef[i] };
			copies++;
			per_side[s]++;
		}
	}
	res.topic = fc->topic;
	res.n_slots = fc->n;
	topic_install(fc->topic, slots, fc->n,
		      fc->qos == MQTTSN_FLAG_QOS_M1 ? PSO_TOPIC_F_ALLOW_QOSM1 : 0);
	up = fc->retain || copies < fc->n;

	if (fc->qos == MQTTSN_FLAG_QOS_M1) {
		assert_int_equal(af, AF_INET);
		pub = lab.stranger4;
	} else {
		pub = af == AF_INET ? lab.pub4 : lab.pub6;
	}
	if (fc->zero_csum) {
		int one = 1;

		assert_int_equal(af, AF_INET);
		assert_int_equal(setsockopt(pub, SOL_SOCKET, SO_NO_CHECK, &one, sizeof(one)), 0);
		res.no_check = true;
	}
	if (fc->partial) {
		res.tx_csum = true;
		tx_csum_offload(true);
	}
	msg_len = mqttsn_publish(msg, fc->qos | (fc->retain ? MQTTSN_FLAG_RETAIN : 0) |
				 MQTTSN_TOPIC_NORMAL, fc->topic, 0x0101, fc->payload, 0x11);
	/* Subscribers get a live publish with RETAIN clear (MQTT) at QoS 0
	 * (QoS -1 exists only from client to gateway); the daemon gets it as
	 * sent. */
	copy_len = mqttsn_publish(copy, MQTTSN_FLAG_QOS_0 | MQTTSN_TOPIC_NORMAL, fc->topic, 0x0101,
				  fc->payload, 0x11);
	sentinel_len = mqttsn_publish(sentinel, fc->qos | MQTTSN_TOPIC_NORMAL, fc->topic, 0x0202,
				      fc->payload + 1, 0x5a);
	sentinel_copy_len = mqttsn_publish(sentinel_copy, MQTTSN_FLAG_QOS_0 | MQTTSN_TOPIC_NORMAL,
					   fc->topic, 0x0202, fc->payload + 1, 0x5a);
	/* A subscriber that knows the topic by its predefined id gets that
	 * form (the id is the same). */
	mqttsn_publish(copy_p, MQTTSN_FLAG_QOS_0 | MQTTSN_TOPIC_PREDEFINED, fc->topic, 0x0101,
		       fc->payload, 0x11);
	mqttsn_publish(sentinel_copy_p, MQTTSN_FLAG_QOS_0 | MQTTSN_TOPIC_PREDEFINED, fc->topic,
		       0x0202, fc->payload + 1, 0x5a);
	if (fc->capture) {
		for (int s = 0; s < N_SIDES; s++)
			if (per_side[s])
				cap[s] = res_fd(capture_open(s));
	}

	/* The publish: one copy each, the original consumed or sent up. */
	counters_read(base);
	udp_stats_read(af, &st);
	publish_send(fc, pub, msg, msg_len);
	/* The wire first: a receiver silently drops a copy whose checksum is
	 * wrong, the capture says why. */
	for (int s = 0; s < N_SIDES; s++) {
		if (cap[s] >= 0) {
			capture_check(cap[s], s, af, copy, copy_p, copy_len, exp, n_exp,
				      fc->zero_csum);
			res_close(cap[s]);
		}
	}
	for (int i = 0; i < fc->n; i++) {
		if (!served[i])
			continue;
		snprintf(who, sizeof(who), "subscriber %d (%s)", i, lab.side[sides[i]].peer_if);
		expect_copy(fds[i], af, sides[i], predef[i] ? copy_p : copy, copy_len, who);
	}
	if (up)
		expect_daemon(af, pub, msg, msg_len);
	want[up ? PSO_CNT_TC_FANOUT_UP : PSO_CNT_TC_FANOUT] = 1;
	want[PSO_CNT_TC_PASS] = CNT_ANY;
	want[PSO_CNT_TC_COPIES] = copies;
	want[PSO_CNT_TC_COPY_HOST] = fc->n - copies;
	counters_expect(base, up ? PSO_CNT_TC_FANOUT_UP : PSO_CNT_TC_FANOUT, 1, want);

	/* The sentinel: it must be the next datagram everywhere, so the
	 * publish was delivered exactly once. */
	counters_read(base);
	publish_send(fc, pub, sentinel, sentinel_len);
	for (int i = 0; i < fc->n; i++) {
		if (!served[i])
			continue;
		snprintf(who, sizeof(who), "subscriber %d (%s), sentinel", i,
			 lab.side[sides[i]].peer_if);
		expect_copy(fds[i], af, sides[i], predef[i] ? sentinel_copy_p : sentinel_copy,
			    sentinel_copy_len, who);
	}
	want[PSO_CNT_TC_FANOUT] = !(copies < fc->n);
	want[PSO_CNT_TC_FANOUT_UP] = copies < fc->n;
	counters_expect(base, copies < fc->n ? PSO_CNT_TC_FANOUT_UP : PSO_CNT_TC_FANOUT, 1, want);
	if (copies < fc->n)
		expect_daemon(af, pub, sentinel, sentinel_len);
	for (int i = 0; i < fc->n; i++) {
		if (!served[i]) {
			snprintf(who, sizeof(who), "unserved subscriber %d", i);
			expect_nothing(fds[i], who);
		}
	}
	expect_nothing(af == AF_INET ? lab.daemon4 : lab.daemon6, "daemon socket");

	{
		uint64_t in[N_NS] = {
			[NS_BR] = (uint64_t)up + (copies < fc->n),
			[NS_C] = 2 * per_side[SIDE_C],
			[NS_D] = 2 * per_side[SIDE_D],
		};

		udp_stats_expect(af, &st, in);
	}
}

static void test_fanout_v4_2(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 10, .n = 2, .unresolved = -1,
				       .other_family = -1, .payload = 64, .capture = true });
}

static void test_fanout_v4_8_two_ports(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 11, .n = 8, .d_every = 3,
				       .unresolved = -1, .other_family = -1, .payload = 13,
				       .capture = true });
}

static void test_fanout_v4_64_two_ports(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 12, .n = 64, .d_every = 4,
				       .unresolved = -1, .other_family = -1, .payload = 64,
				       .capture = true });
}

static void test_fanout_v4_3byte_length(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 13, .n = 8, .d_every = 2,
				       .unresolved = -1, .other_family = -1, .payload = 1001,
				       .capture = true });
}

static void test_fanout_v4_zero_udp_csum(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 14, .n = 8, .d_every = 3,
				       .unresolved = -1, .other_family = -1, .payload = 13,
				       .capture = true, .zero_csum = true });
}

static void test_fanout_v4_partial_csum(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 15, .n = 8, .d_every = 3,
				       .unresolved = -1, .other_family = -1, .payload = 13,
				       .capture = true, .partial = true });
}

static void test_fanout_v6_partial_csum(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET6, .topic = 22, .n = 8, .d_every = 3,
				       .unresolved = -1, .other_family = -1, .payload = 13,
				       .capture = true, .partial = true });
}

static void test_retain_v4_partial_csum_goes_up(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 35, .n = 4, .d_every = 2,
				       .unresolved = -1, .other_family = -1, .retain = true,
				       .payload = 21, .capture = true, .partial = true });
}

static void test_fanout_v6_8_two_ports(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET6, .topic = 20, .n = 8, .d_every = 3,
				       .unresolved = -1, .other_family = -1, .payload = 13,
				       .capture = true });
}

static void test_fanout_v6_64_two_ports(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET6, .topic = 21, .n = 64, .d_every = 4,
				       .unresolved = -1, .other_family = -1, .payload = 64,
				       .capture = true });
}

static void test_retain_v4_goes_up(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 30, .n = 4, .d_every = 2,
				       .unresolved = -1, .other_family = -1, .retain = true,
				       .payload = 21, .capture = true });
}

static void test_retain_v6_goes_up(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET6, .topic = 31, .n = 4, .d_every = 2,
				       .unresolved = -1, .other_family = -1, .retain = true,
				       .payload = 21, .capture = true });
}

static void test_unresolved_slot_goes_up(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 32, .n = 8, .d_every = 3,
				       .unresolved = 3, .other_family = -1, .payload = 64,
				       .capture = true });
}

static void test_other_family_slot_goes_up_v6(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET6, .topic = 33, .n = 4, .d_every = 2,
				       .unresolved = -1, .other_family = 1, .payload = 64,
				       .capture = true });
}

/* A publish tagged 802.1Q (the fast path accepts one tag): subscribers on
 * untagged ports get untagged copies. */
static void test_fanout_v4_vlan_tagged_publish(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 16, .n = 4, .d_every = 2,
				       .unresolved = -1, .other_family = -1, .payload = 20,
				       .capture = true, .vlan = 10 });
}

static void test_fanout_v6_vlan_tagged_publish(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET6, .topic = 23, .n = 4, .d_every = 2,
				       .unresolved = -1, .other_family = -1, .payload = 20,
				       .capture = true, .vlan = 10 });
}

static void test_qosm1_allowed_from_unconnected(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 34, .n = 4, .d_every = 2,
				       .unresolved = -1, .other_family = -1,
				       .qos = MQTTSN_FLAG_QOS_M1, .payload = 64 });
}

/* Subscribers that know the topic by its predefined id (odd slots) beside
 * ones that know its normal id: each copy in its subscriber's form, QoS 0,
 * the checksum right on the wire in every skb checksum state; what goes up
 * goes as sent. */
static void test_forms_v4_mixed_qosm1(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 36, .n = 8, .d_every = 3,
				       .unresolved = -1, .other_family = -1,
				       .qos = MQTTSN_FLAG_QOS_M1, .payload = 13,
				       .capture = true, .mixed_forms = true });
}

static void test_forms_v4_mixed_partial_csum(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 37, .n = 8, .d_every = 3,
				       .unresolved = -1, .other_family = -1, .payload = 13,
				       .capture = true, .partial = true, .mixed_forms = true });
}

static void test_forms_v4_mixed_zero_udp_csum(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 38, .n = 4, .d_every = 2,
				       .unresolved = -1, .other_family = -1, .payload = 13,
				       .capture = true, .zero_csum = true, .mixed_forms = true });
}

static void test_forms_v6_mixed_partial_csum_retain(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET6, .topic = 24, .n = 8, .d_every = 3,
				       .unresolved = -1, .other_family = -1, .retain = true,
				       .payload = 300, .capture = true, .partial = true,
				       .mixed_forms = true });
}

static void test_forms_v4_mixed_unresolved_goes_up(void **state)
{
	run_fanout(&(struct fan_case){ .af = AF_INET, .topic = 39, .n = 6, .d_every = 2,
				       .unresolved = 5, .other_family = -1,
				       .qos = MQTTSN_FLAG_QOS_M1, .payload = 64,
				       .capture = true, .mixed_forms = true });
}

/* QoS 0 from a client the broker never admitted, and QoS -1 to a topic that
 * forbids it: dropped, counted, seen by nobody. */
static void test_unadmitted_publish_dropped(void **state)
{
	const struct side_cfg *c = &lab.side[SIDE_C];
	const uint16_t topic = 40;
	struct pso_sub slots[2];
	int fds[2];
	uint8_t msg[MAX_MSG];
	int len;
	uint64_t base[PSO_CNT__MAX], want[PSO_CNT__MAX] = {};
	struct udp_stats st;

	lab_ready();
	for (int i = 0; i < 2; i++) {
		fds[i] = res_fd(udp_bound(c->ns, AF_INET, c->peer4, 21000 + i));
		sub_slot(SIDE_C, AF_INET, 21000 + i, &slots[i]);
	}
	res.topic = topic;
	res.n_slots = 2;
	topic_install(topic, slots, 2, 0);

	counters_read(base);
	udp_stats_read(AF_INET, &st);
	len = mqttsn_publish(msg, MQTTSN_FLAG_QOS_0, topic, 1, 32, 0x21);
	send_to_broker(lab.stranger4, AF_INET, msg, len);
	len = mqttsn_publish(msg, MQTTSN_FLAG_QOS_M1, topic, 2, 32, 0x22);
	send_to_broker(lab.stranger4, AF_INET, msg, len);
	want[PSO_CNT_TC_DROP] = 2;
	want[PSO_CNT_TC_PASS] = CNT_ANY;
	counters_expect(base, PSO_CNT_TC_DROP, 2, want);

	/* A sentinel from the admitted publisher is the first thing to arrive. */
	len = mqttsn_publish(msg, MQTTSN_FLAG_QOS_0, topic, 3, 32, 0x23);
	send_to_broker(lab.pub4, AF_INET, msg, len);
	for (int i = 0; i < 2; i++)
		expect_copy(fds[i], AF_INET, SIDE_C, msg, len, "subscriber after drops");
	expect_nothing(lab.daemon4, "daemon socket");
	{
		uint64_t in[N_NS] = { [NS_C] = 2 };

		udp_stats_expect(AF_INET, &st, in);
	}
}

/* Subscribers on side C at ports 21100 + i, slot i sent to bad[i] instead
 * when bad[i] is not 0, and a publish to them. */
static void slots_with_bad(uint16_t topic, int n, const int *bad, int *fds, uint8_t *msg,
			   int *len)
{
	const struct side_cfg *c = &lab.side[SIDE_C];
	struct pso_sub slots[4];

	assert_true(n <= 4);
	for (int i = 0; i < n; i++) {
		fds[i] = res_fd(udp_bound(c->ns, AF_INET, c->peer4, 21100 + i));
		sub_slot(SIDE_C, AF_INET, 21100 + i, &slots[i]);
		if (bad[i])
			slots[i].ifindex = bad[i];
	}
	res.topic = topic;
	res.n_slots = n;
	topic_install(topic, slots, n, 0);
	*len = mqttsn_publish(msg, MQTTSN_FLAG_QOS_0, topic, 1, 32, 0x41);
	send_to_broker(lab.pub4, AF_INET, msg, *len);
}

/* A copy to an interface that does not exist fails for that slot alone:
 * counted, the other subscribers served. */
static void test_missing_device_fails_one_slot(void **state)
{
	const int bad[3] = { 0, 0x7ffffff0, 0 };
	uint64_t base[PSO_CNT__MAX], want[PSO_CNT__MAX] = {};
	uint8_t msg[MAX_MSG];
	int fds[3], len;

	lab_ready();
	counters_read(base);
	slots_with_bad(41, 3, bad, fds, msg, &len);
	expect_copy(fds[0], AF_INET, SIDE_C, msg, len, "slot 0");
	expect_copy(fds[2], AF_INET, SIDE_C, msg, len, "slot 2, after the failed slot");
	want[PSO_CNT_TC_FANOUT] = 1;
	want[PSO_CNT_TC_COPIES] = 2;
	want[PSO_CNT_TC_COPY_FAILED] = 1;
	want[PSO_CNT_TC_PASS] = CNT_ANY;
	counters_expect(base, PSO_CNT_TC_FANOUT, 1, want);
}

/*
 * A copy that a port's queue refuses (here: a veth whose peer is down, so
 * without carrier, whose noop qdisc answers NET_XMIT_CN as a full ring
 * answers NET_XMIT_DROP): the publish's later slots on that port are shed,
 * untried; slots on other ports are still served.
 */
static void test_full_queue_sheds_its_port(void **state)
{
	const char *const down[] = { "ip", "link", "set", "psocg1", "down", NULL };
	const char *const del[] = { "ip", "link", "del", "psocg0", NULL };
	uint64_t base[PSO_CNT__MAX], want[PSO_CNT__MAX] = {};
	uint8_t msg[MAX_MSG], mac[6];
	int fds[4], len, ifindex = 0;

	lab_ready();
	if (netns_veth_add(lab.br, "psocg0", lab.br, "psocg1") || netns_exec(lab.br, down) ||
	    netns_ifinfo(lab.br, "psocg0", &ifindex, mac))
		fail_msg("a veth with its peer down: %s", netns_error());
	counters_read(base);
	slots_with_bad(42, 4, (const int[4]){ 0, ifindex, ifindex, 0 }, fds, msg, &len);
	expect_copy(fds[0], AF_INET, SIDE_C, msg, len, "slot 0, before the full queue");
	expect_copy(fds[3], AF_INET, SIDE_C, msg, len, "slot 3, on another port");
	netns_exec(lab.br, del);
	want[PSO_CNT_TC_FANOUT] = 1;
	want[PSO_CNT_TC_COPIES] = 2;
	want[PSO_CNT_TC_COPY_FAILED] = 1;
	want[PSO_CNT_TC_COPY_SHED] = 1;
	want[PSO_CNT_TC_PASS] = CNT_ANY;
	counters_expect(base, PSO_CNT_TC_FANOUT, 1, want);
}

/* Control messages and non-broker traffic pass untouched. */
static void test_control_and_foreign_pass(void **state)
{
	const struct side_cfg *c = &lab.side[SIDE_C];
	/* PINGREQ: length 2, MsgType 0x16. */
	const uint8_t ping[] = { 2, MQTTSN_PINGREQ };
	uint8_t pub[MAX_MSG];
	int other, len;
	uint64_t base[PSO_CNT__MAX], want[PSO_CNT__MAX] = {};

	lab_ready();
	/* A PUBLISH to another port of the broker address is not ours. */
	other = res_fd(udp_bound(lab.br, AF_INET, c->br4, BROKER_PORT + 1));
	counters_read(base);
	send_to_broker(lab.pub4, AF_INET, ping, sizeof(ping));
	expect_daemon(AF_INET, lab.pub4, ping, sizeof(ping));
	len = mqttsn_publish(pub, MQTTSN_FLAG_QOS_0, 10, 7, 8, 0x31);
	{
		struct sockaddr_storage ss;
		socklen_t sl = sockaddr_of(AF_INET, c->br4, BROKER_PORT + 1, &ss);
		struct sockaddr_storage from;
		unsigned int fl = sizeof(from);
		uint8_t buf[MAX_MSG];
		int r;

		assert_int_equal(sendto(lab.pub4, pub, len, 0, (struct sockaddr *)&ss, sl), len);
		r = netns_recv_deadline(other, buf, sizeof(buf), &from, &fl,
					netns_now_ms() + RECV_TIMEOUT_MS);
		assert_true(r > 0);
		assert_bytes("port 1884", pub, len, buf, r);
	}
	want[PSO_CNT_TC_PASS] = CNT_ANY;	/* at least the two above */
	counters_expect(base, PSO_CNT_TC_PASS, 2, want);
}

/* ---- the lab ------------------------------------------------------------ */

static char skip_buf[600];

static int lab_skip(const char *what)
{
	snprintf(skip_buf, sizeof(skip_buf), "%s: %s", what, netns_error());
	lab.skip_reason = skip_buf;
	return 0;
}

static int lab_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(lab.fail_reason, sizeof(lab.fail_reason), fmt, ap);
	va_end(ap);
	return 0;
}

static int tc_attach(int ifindex, int prog_fd)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

static int port_cfg_install(const struct side_cfg *c)
{
	struct pso_port_cfg cfg = {
		.ifindex = c->br_idx,
		.udp_port = htons(BROKER_PORT),
	};
	__u32 key = c->br_idx;

	memcpy(cfg.mac, c->br_mac, 6);
	inet_pton(AF_INET, c->br4, &cfg.ip4);
	inet_pton(AF_INET6, c->br6, cfg.ip6);
	return bpf_map_update_elem(lab.fd_port_cfg, &key, &cfg, BPF_ANY);
}

/* A publisher socket in the client namespace; admitted ones go in pso_clients. */
static int publisher(int af, bool admitted)
{
	const struct side_cfg *c = &lab.side[SIDE_C];
	const char *addr = af == AF_INET ? c->peer4 : c->peer6;
	struct sockaddr_storage ss;
	socklen_t sl = sockaddr_of(af, addr, 0, &ss);
	int ttl = PUB_TTL, fd;

	fd = netns_socket(c->ns, af, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, sl))
		return -1;
	if (af == AF_INET)
		setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
	else
		setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &ttl, sizeof(ttl));
	if (admitted) {
		struct pso_endpoint key = { .family = pso_family(af) };
		/* The value is the daemon's business: zeros of the map's size. */
		uint8_t val[64] = {};

		if (bpf_map__value_size(lab.skel->maps.pso_clients) > sizeof(val))
			return -1;

		inet_pton(af, addr, key.addr);
		key.port = htons(local_port(fd));
		if (bpf_map_update_elem(lab.fd_clients, &key, val, BPF_ANY))
			return -1;
	}
	return fd;
}

/* The "daemon": a UDP socket on broker:1883 that reports TTL / hop limit. */
static int daemon_socket(int af)
{
	const struct side_cfg *c = &lab.side[SIDE_C];
	struct sockaddr_storage ss;
	socklen_t sl = sockaddr_of(af, af == AF_INET ? c->br4 : c->br6, BROKER_PORT, &ss);
	int one = 1, fd;

	fd = netns_socket(lab.br, af, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	if (af == AF_INET)
		setsockopt(fd, IPPROTO_IP, IP_RECVTTL, &one, sizeof(one));
	else
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl))
		return -1;
	return fd;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !getenv("PSO_TEST_VERBOSE"))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int lab_setup(void **state)
{
	int pid = getpid(), prog_fd, saved, err;

	if (geteuid() != 0) {
		lab.skip_reason = "needs root (network namespaces, BPF)";
		return 0;
	}
	libbpf_set_print(libbpf_quiet);
	snprintf(lab.br, sizeof(lab.br), "pso-%d-br", pid);
	snprintf(lab.side[SIDE_C].ns, NETNS_NAME_MAX, "pso-%d-c", pid);
	snprintf(lab.side[SIDE_D].ns, NETNS_NAME_MAX, "pso-%d-d", pid);

	if (netns_add(lab.br) || netns_add(lab.side[SIDE_C].ns) || netns_add(lab.side[SIDE_D].ns))
		return lab_skip("cannot create network namespaces");
	for (int s = 0; s < N_SIDES; s++) {
		struct side_cfg *c = &lab.side[s];
		char cidr[64];

		if (netns_veth_add(lab.br, c->br_if, c->ns, c->peer_if))
			return lab_skip("cannot create a veth pair");
		snprintf(cidr, sizeof(cidr), "%s/24", c->br4);
		err = netns_addr_add(lab.br, c->br_if, cidr);
		snprintf(cidr, sizeof(cidr), "%s/24", c->peer4);
		err = err ?: netns_addr_add(c->ns, c->peer_if, cidr);
		snprintf(cidr, sizeof(cidr), "%s/64", c->br6);
		err = err ?: netns_addr_add(lab.br, c->br_if, cidr);
		snprintf(cidr, sizeof(cidr), "%s/64", c->peer6);
		err = err ?: netns_addr_add(c->ns, c->peer_if, cidr);
		err = err ?: netns_ifinfo(lab.br, c->br_if, &c->br_idx, c->br_mac);
		err = err ?: netns_ifinfo(c->ns, c->peer_if, &c->peer_idx, c->peer_mac);
		if (err)
			return lab_fail("%s", netns_error());
	}

	lab.skel = psoffload_tc__open_and_load();
	if (!lab.skel)
		return lab_fail("loading psoffload_tc failed: %s", strerror(errno));
	lab.fd_port_cfg = bpf_map__fd(lab.skel->maps.pso_port_cfg);
	lab.fd_topics = bpf_map__fd(lab.skel->maps.pso_topics);
	lab.fd_subs = bpf_map__fd(lab.skel->maps.pso_subs);
	lab.fd_runs = bpf_map__fd(lab.skel->maps.pso_topic_runs);
	lab.fd_clients = bpf_map__fd(lab.skel->maps.pso_clients);
	lab.fd_counters = bpf_map__fd(lab.skel->maps.pso_counters);
	lab.ncpus = libbpf_num_possible_cpus();
	if (lab.ncpus <= 0)
		return lab_fail("cannot count possible CPUs");

	for (int s = 0; s < N_SIDES; s++)
		if (port_cfg_install(&lab.side[s]))
			return lab_fail("pso_port_cfg update: %s", strerror(errno));

	/* The program is global; only its attachment lives in the broker namespace. */
	prog_fd = bpf_program__fd(lab.skel->progs.psoffload_tc);
	if (netns_enter(lab.br, &saved))
		return lab_fail("%s", netns_error());
	err = tc_attach(lab.side[SIDE_C].br_idx, prog_fd);
	err = err ?: tc_attach(lab.side[SIDE_D].br_idx, prog_fd);
	if (netns_leave(saved))
		return lab_fail("%s", netns_error());
	if (err)
		return lab_fail("attaching to clsact ingress: %s", strerror(-err));

	lab.daemon4 = daemon_socket(AF_INET);
	lab.daemon6 = daemon_socket(AF_INET6);
	lab.pub4 = publisher(AF_INET, true);
	lab.pub6 = publisher(AF_INET6, true);
	lab.stranger4 = publisher(AF_INET, false);
	if (lab.daemon4 < 0 || lab.daemon6 < 0 || lab.pub4 < 0 || lab.pub6 < 0 || lab.stranger4 < 0)
		return lab_fail("lab sockets: %s", strerror(errno));
	return 0;
}

static int lab_teardown(void **state)
{
	int fds[] = { lab.daemon4, lab.daemon6, lab.pub4, lab.pub6, lab.stranger4 };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	/* Removing the namespaces removes the veths and with them the clsact
	 * qdiscs and filters; the program goes with the skeleton. */
	netns_cleanup_all();
	psoffload_tc__destroy(lab.skel);
	lab.skel = NULL;
	return 0;
}

static void on_signal(int sig)
{
	netns_cleanup_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
		T(test_fanout_v4_2),
		T(test_fanout_v4_8_two_ports),
		T(test_fanout_v4_64_two_ports),
		T(test_fanout_v4_3byte_length),
		T(test_fanout_v4_zero_udp_csum),
		T(test_fanout_v4_partial_csum),
		T(test_fanout_v4_vlan_tagged_publish),
		T(test_fanout_v6_8_two_ports),
		T(test_fanout_v6_64_two_ports),
		T(test_fanout_v6_partial_csum),
		T(test_fanout_v6_vlan_tagged_publish),
		T(test_retain_v4_goes_up),
		T(test_retain_v6_goes_up),
		T(test_retain_v4_partial_csum_goes_up),
		T(test_unresolved_slot_goes_up),
		T(test_other_family_slot_goes_up_v6),
		T(test_qosm1_allowed_from_unconnected),
		T(test_forms_v4_mixed_qosm1),
		T(test_forms_v4_mixed_partial_csum),
		T(test_forms_v4_mixed_zero_udp_csum),
		T(test_forms_v6_mixed_partial_csum_retain),
		T(test_forms_v4_mixed_unresolved_goes_up),
		T(test_unadmitted_publish_dropped),
		T(test_missing_device_fails_one_slot),
		T(test_full_queue_sheds_its_port),
		T(test_control_and_foreign_pass),
#undef T
	};
	cpu_set_t one;

	/* One CPU: a publish and its sentinel take the same backlog queue, so
	 * the sentinel cannot overtake a copy of the publish. */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
	sched_setaffinity(0, sizeof(one), &one);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	return cmocka_run_group_tests_name("tc_fanout", tests, lab_setup, lab_teardown);
}
