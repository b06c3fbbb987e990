// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * microbench.c - per-packet cost of each data-plane path, by
 * BPF_PROG_TEST_RUN with a large repeat count.
 *
 *   (a) XDP fast path, one subscriber on the ingress port (XDP_TX), IPv4,
 *       64-byte MQTT-SN payload, driver build; and (a2) the same with the
 *       publisher held to a publish-rate limit it never reaches (its token
 *       bucket taken from each time: the clock read, the check, the store)
 *   (b) the same through the offload build (run on the host CPU)
 *   (c) the XDP_PASS decision for a topic with two subscribers
 *   (d) floor: swap Ethernet/IP/UDP source and destination, XDP_TX
 *       (bench/floor_xdp.bpf.c)
 *   (e) a program that only returns XDP_TX
 *   (f) TC fan-out to 2, 8 and 64 subscribers (sched_cls test run): N-1
 *       clones through the sink; the last copy is the original, which the
 *       program hands back with TC_ACT_REDIRECT, so its transmit (not its
 *       rewrite) falls outside the figure
 *   (h) the fan-out floor (bench/floor_tc.bpf.c) at the fan-outs of (f):
 *       clone, rewrite MACs, addresses, ports and both checksums, redirect,
 *       over the same identity slots and sink; the last table states (f)
 *       as a fraction of it (floor ns / psoffload ns, psoffload's rate over
 *       the floor's), fan-out by fan-out.  Before any measurement the floor's
 *       copies are checked: three distinct subscribers, the last copy's
 *       headers and both checksums computed from scratch
 *   (g) the cost of the event stream, side by side with the same driver
 *       build compiled without it (-DPSO_NO_EVENTS, "no events"): the fast
 *       path (a), the fan-out to 8 (f), and a malformed publish dropped
 *       (xdp_drop_malformed) in a flood, where the CPU's rate limit is
 *       spent and every event is suppressed (event_suppressed)
 *
 * A test run executes the program `repeat` times on one buffer, which the
 * program's rewrite changes in place.  So that every iteration takes the
 * path being measured, subscriber slots here are "identity" slots: their
 * headers are the packet's own (publisher:1883 -> broker:1883; copies leave
 * from the broker port, so the publisher sends from that port too), so the
 * rewrite does all its work and leaves a packet that is again a publish to
 * the broker from a connected client.  The checksum arithmetic and stores
 * cost the same whatever the values.
 *
 * TC copies go to a sink device in a private namespace: a dummy interface,
 * or where the kernel has none (CONFIG_DUMMY unset), an ifb device without a
 * qdisc; both free every frame handed to their transmit function.
 *
 * Every measurement is verified: its return code, the data-plane counter of
 * the path (xdp_tx, xdp_pass_fanout, tc_copies, ...) moving by exactly
 * repeat x copies, and for TC the sink taking exactly that many frames.
 * Measurements are interleaved round by round (the start rotates) so that
 * noise hits all alike; the table shows the median.
 *
 * Usage: microbench [-r ROUNDS] [-t TARGET_MS] [-f FANOUTS]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "psoffload_abi.h"
/* The programs with copies that keep their TTL (PSO_BENCH_KEEP_TTL). */
#include "psoffload_xdp_bench.skel.h"
#include "psoffload_xdp_offload_bench.skel.h"
#include "psoffload_tc_bench.skel.h"
#include "psoffload_xdp_bench_noev.skel.h"
#include "psoffload_tc_bench_noev.skel.h"
#include "floor_xdp.skel.h"
#include "floor_tc.skel.h"
#include "floor_tc.h"
#include "netns.h"

#define MAX_ROUNDS 31
#define FIXED_SAMPLES 5
#define MAX_BENCH 40
#define MAX_FAN 8
#define BROKER_PORT 1883
/* The publisher sends from the broker's port too: copies leave from the
 * broker port, so an identity slot (see above) needs the publish to. */
#define PUB_PORT BROKER_PORT
#define PAYLOAD 64
#define TOPIC_ONE 5		/* one subscriber: XDP_TX */
#define TOPIC_TWO 6		/* two subscribers: XDP_PASS to TC */
#define TOPIC_FAN 7		/* TC fan-out topics: 7, 8, ... */
#define SINK "psob0"

static const uint8_t broker_mac[6] = { 0x02, 0, 0, 0, 0x01, 0x01 };
static const uint8_t pub_mac[6] = { 0x02, 0, 0, 0, 0x01, 0x02 };
static const char *broker_ip = "10.72.0.1", *pub_ip = "10.72.0.2";

struct frame {
	uint8_t b[256];
	uint32_t len;
};

/* A counter to check after each run: it moves by repeat * per_pkt. */
struct check {
	int map_fd;
	bool percpu;
	uint32_t idx;
	uint64_t per_pkt;
};

struct bench {
	const char *label;
	int prog_fd;
	bool skb;		/* sched_cls test run, else XDP */
	struct frame f;
	int expect_ret;
	struct check chk[2];
	int n_chk;
	uint32_t copies;	/* TC: copies per packet, all but the last to the sink */
	uint32_t repeat;
	double wall[MAX_ROUNDS];	/* wall time of each round's run */
	double ns[MAX_ROUNDS];	/* per packet, fixed cost taken off */
	double kns[MAX_ROUNDS];	/* kernel's own figure (whole ns) */
};

static struct bench benches[MAX_BENCH];
static const char *const counter_names[] = PSO_COUNTER_NAMES;
static int n_bench, ncpus, sink_idx;
static const char *sink_kind;

static int die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "microbench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ---- the packet ---------------------------------------------------------- */

static uint16_t csum16(uint32_t acc, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		acc += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		acc += (uint32_t)p[len - 1] << 8;
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return ~acc;
}

/* Ethernet + IPv4 + UDP + MQTT-SN PUBLISH (QoS 0, normal topic id). */
static void publish_frame(struct frame *f, uint16_t topic)
{
	struct ethhdr *eth = (void *)f->b;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	uint8_t *m = (uint8_t *)(udp + 1);
	int mlen = 7 + PAYLOAD;
	uint32_t ph;

	memset(f, 0, sizeof(*f));
	memcpy(eth->h_dest, broker_mac, 6);
	memcpy(eth->h_source, pub_mac, 6);
	eth->h_proto = htons(ETH_P_IP);
	m[0] = mlen;
	m[1] = MQTTSN_PUBLISH;
	m[2] = MQTTSN_FLAG_QOS_0 | MQTTSN_TOPIC_NORMAL;
	m[3] = topic >> 8;
	m[4] = topic & 0xff;
	m[5] = 0;
	m[6] = 1;
	for (int i = 0; i < PAYLOAD; i++)
		m[7 + i] = i;
	udp->source = htons(PUB_PORT);
	udp->dest = htons(BROKER_PORT);
	udp->len = htons(sizeof(*udp) + mlen);
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons(sizeof(*ip) + sizeof(*udp) + mlen);
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	inet_pton(AF_INET, pub_ip, &ip->saddr);
	inet_pton(AF_INET, broker_ip, &ip->daddr);
	ip->check = htons(csum16(0, (uint8_t *)ip, sizeof(*ip)));
	ph = 0;
	{
		uint8_t pseudo[12];

		memcpy(pseudo, &ip->saddr, 8);
		pseudo[8] = 0;
		pseudo[9] = IPPROTO_UDP;
		memcpy(pseudo + 10, &udp->len, 2);
		for (int i = 0; i < 12; i += 2)
			ph += (uint32_t)pseudo[i] << 8 | pseudo[i + 1];
	}
	udp->check = htons(csum16(ph, (uint8_t *)udp, sizeof(*udp) + mlen));
	if (!udp->check)
		udp->check = 0xffff;
	f->len = sizeof(*eth) + sizeof(*ip) + sizeof(*udp) + mlen;
}

/* The same, its MsgType 0x03 undefined: dropped as malformed. */
static void malformed_frame(struct frame *f)
{
	publish_frame(f, TOPIC_ONE);
	f->b[sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr) + 1] = 0x03;
}

/* ---- tables -------------------------------------------------------------- */

static void map_set(int fd, const void *key, const void *val, const char *what)
{
	if (bpf_map_update_elem(fd, key, val, BPF_ANY))
		die("writing %s: %s", what, strerror(errno));
}

/* A slot whose headers are the publish's own: see the file comment. */
static void identity_sub(struct pso_sub *s)
{
	memset(s, 0, sizeof(*s));
	memcpy(s->dst_mac, broker_mac, 6);
	memcpy(s->src_mac, pub_mac, 6);
	s->ifindex = sink_idx;
	s->dst_port = htons(BROKER_PORT);
	s->family = PSO_AF_INET;
	s->flags = PSO_SUB_F_RESOLVED;
	inet_pton(AF_INET, pub_ip, s->src_addr);
	inet_pton(AF_INET, broker_ip, s->dst_addr);
}

/* Port config, the publisher as a connected client, and topic with n
 * identity subscribers (slots first, then the count).  subs is NULL for the
 * offload build, which serves one subscriber from the topic entry alone.
 * Where the object has the direct-mapped pso_port_slots and
 * pso_client_slots, port and client are in their slots too, as the daemon
 * puts them when no other holds the slot: the path measured is the fast one. */
/* The publisher's publish-rate limit in the tables written next: none, or
 * one it never reaches (an interval of 1 ns, a burst of 2^31). */
static bool rate_limited;

static void tables(struct bpf_object *obj, uint32_t port_key, uint16_t topic, int n)
{
	struct bpf_map *port_cfg = bpf_object__find_map_by_name(obj, "pso_port_cfg");
	struct bpf_map *port_slots = bpf_object__find_map_by_name(obj, "pso_port_slots");
	struct bpf_map *clients = bpf_object__find_map_by_name(obj, "pso_clients");
	struct bpf_map *client_slots = bpf_object__find_map_by_name(obj, "pso_client_slots");
	struct bpf_map *topics = bpf_object__find_map_by_name(obj, "pso_topics");
	struct bpf_map *subs = bpf_object__find_map_by_name(obj, "pso_subs");
	struct bpf_map *runs = bpf_object__find_map_by_name(obj, "pso_topic_runs");
	struct pso_port_cfg cfg = { .ifindex = sink_idx, .udp_port = htons(BROKER_PORT),
				    .flags = PSO_PORT_F_VALID };
	struct pso_endpoint client = { .port = htons(PUB_PORT), .family = PSO_AF_INET };
	struct pso_topic t = { .sub_count = n, .flags = PSO_TOPIC_F_VALID };
	struct pso_client_val cval = { .budget_end = UINT64_MAX };
	struct pso_sub s;

	memcpy(cfg.mac, broker_mac, 6);
	inet_pton(AF_INET, broker_ip, &cfg.ip4);
	map_set(bpf_map__fd(port_cfg), &port_key, &cfg, "pso_port_cfg");
	inet_pton(AF_INET, pub_ip, client.addr);
	if (rate_limited)
		cval.rate = (struct pso_rate){ .interval_ns = 1, .burst = 1u << 31 };
	if (bpf_map__value_size(clients) != sizeof(cval))
		die("pso_clients value of another size than expected");
	map_set(bpf_map__fd(clients), &client, &cval, "pso_clients");
	if (port_slots) {
		uint32_t k = pso_port_slot_of(sink_idx);

		map_set(bpf_map__fd(port_slots), &k, &cfg, "pso_port_slots");
	}
	if (client_slots) {
		struct pso_client_slot cs = { .ep = client, .rate = cval.rate };
		uint32_t w[4], k;

		memcpy(w, client.addr, sizeof(w));
		k = pso_client_slot_of(w[0], w[1], w[2], w[3], client.port);
		map_set(bpf_map__fd(client_slots), &k, &cs, "pso_client_slots");
	}
	identity_sub(&s);
	/* The topic's run of the pool: PSO_MAX_RUN slots from topic *
	 * PSO_MAX_RUN, n of them used, the run's capacity the power of two
	 * at or above n (as the host sizes runs), cur 0.  Written here and
	 * not by host/tables: its writer keys a topic's subscribers by
	 * endpoint, and the n identity slots (see the file comment) are one
	 * endpoint n times, which it would take as one subscriber. */
	for (int i = 0; subs && i < n; i++) {
		uint32_t k = (uint32_t)topic * PSO_MAX_RUN + i;

		map_set(bpf_map__fd(subs), &k, &s, "pso_subs");
	}
	if (runs) {
		struct pso_run r = { .base = { (uint32_t)topic * PSO_MAX_RUN } };
		uint32_t k = topic;

		while (r.cap[0] < (uint32_t)n)
			r.cap[0] = r.cap[0] ? 2 * r.cap[0] : 1;
		map_set(bpf_map__fd(runs), &k, &r, "pso_topic_runs");
	}
	t.first = s;
	{
		uint32_t k = topic;

		map_set(bpf_map__fd(topics), &k, &t, "pso_topics");
	}
}

static uint64_t counter(const struct check *c)
{
	uint64_t vals[ncpus], sum = 0;
	int n = c->percpu ? ncpus : 1;

	if (bpf_map_lookup_elem(c->map_fd, &c->idx, vals))
		die("reading counter %u: %s", c->idx, strerror(errno));
	for (int i = 0; i < n; i++)
		sum += vals[i];
	return sum;
}

/* Frames handed to the sink's transmit function, from /proc/net/dev of the
 * namespace this thread is in.  dummy counts them as tx, ifb (whose
 * transmit is the receive side of a redirect) as rx: the sum serves both. */
static uint64_t sink_packets(void)
{
	char line[512];
	FILE *f = fopen("/proc/thread-self/net/dev", "r");
	unsigned long long v[10];
	uint64_t tx = UINT64_MAX;

	while (f && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':');

		if (!p)
			continue;
		*p = '\0';
		if (strcmp(line + strspn(line, " "), SINK))
			continue;
		/* rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes packets */
		if (sscanf(p + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
			   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) == 10)
			tx = v[1] + v[9];
	}
	if (f)
		fclose(f);
	if (tx == UINT64_MAX)
		die("no %s in /proc/net/dev", SINK);
	return tx;
}

/* ---- running ------------------------------------------------------------- */

/* One test run of `repeat` iterations; returns its wall time in ns. */
static double run(struct bench *b, uint32_t repeat, double *kern_ns)
{
	struct xdp_md xctx = { .data_end = b->f.len, .ingress_ifindex = sink_idx };
	struct __sk_buff sctx = { .ifindex = sink_idx };
	LIBBPF_OPTS(bpf_test_run_opts, o,
		.data_in = b->f.b,
		.data_size_in = b->f.len,
		.repeat = repeat,
	);
	uint64_t before[2], sink_before = 0;
	double t0, t1;

	if (b->skb) {
		o.ctx_in = &sctx;
		o.ctx_size_in = sizeof(sctx);
	} else {
		o.ctx_in = &xctx;
		o.ctx_size_in = sizeof(xctx);
	}
	for (int i = 0; i < b->n_chk; i++)
		before[i] = counter(&b->chk[i]);
	if (b->skb)
		sink_before = sink_packets();
	t0 = now_ns();
	if (bpf_prog_test_run_opts(b->prog_fd, &o))
		die("%s: test run failed: %s", b->label, strerror(errno));
	t1 = now_ns();
	if ((int)o.retval != b->expect_ret)
		die("%s: returned %u, expected %d", b->label, o.retval, b->expect_ret);
	for (int i = 0; i < b->n_chk; i++) {
		uint64_t d = counter(&b->chk[i]) - before[i];

		if (d != (uint64_t)repeat * b->chk[i].per_pkt)
			die("%s: counter %s moved by %llu, expected %llu: not the path measured",
			    b->label, counter_names[b->chk[i].idx], (unsigned long long)d,
			    (unsigned long long)repeat * b->chk[i].per_pkt);
	}
	/* Copies really left through the sink: all but the last, which is
	 * the original itself, redirected by the program's return code. */
	if (b->skb && sink_packets() - sink_before != (uint64_t)repeat * (b->copies - 1))
		die("%s: sink sent %llu frames, expected %llu", b->label,
		    (unsigned long long)(sink_packets() - sink_before),
		    (unsigned long long)repeat * (b->copies - 1));
	*kern_ns = o.duration;
	return t1 - t0;
}

/*
 * What a test run costs besides its iterations.  An XDP run with repeat > 1
 * switches the kernel's XDP dispatcher to the program and back, which waits
 * for RCU grace periods: tens of ms, varying.  Taken from runs of 2
 * iterations and subtracted, so the per-packet figure keeps its fraction of a
 * ns that the kernel's own (whole-ns) figure truncates.
 */
static double fixed_cost(struct bench *b)
{
	double k;

	return run(b, 2, &k);
}

/* Pick the repeat count so that the iterations of one run take target_ms. */
static void calibrate(struct bench *b, double target_ms, double fixed_ns)
{
	/* Large fan-outs take hundreds of us a packet: start lower. */
	double k, t, r = b->copies > 100 ? 10 : 1000, r_min = r;

	/* Grow until the iterations clearly outweigh the fixed cost. */
	for (;;) {
		t = run(b, r, &k) - fixed_ns;
		if (t > 50e6 || r >= 100e6)
			break;
		r *= 10;
	}
	r *= target_ms * 1e6 / (t > 1e5 ? t : 1e5);
	if (r < r_min)
		r = r_min;
	if (r > 1e9)
		r = 1e9;
	/* Two significant digits read better in the table. */
	{
		double mag = 1;

		while (r / mag >= 100)
			mag *= 10;
		b->repeat = (uint32_t)((long)(r / mag) * mag);
	}
}

static struct bench *bench_add(const char *label, int prog_fd, bool skb, int expect_ret)
{
	struct bench *b = &benches[n_bench++];

	b->label = label;
	b->prog_fd = prog_fd;
	b->skb = skb;
	b->expect_ret = expect_ret;
	return b;
}

static void bench_check(struct bench *b, struct bpf_map *counters, bool percpu, uint32_t idx,
			uint64_t per_pkt)
{
	b->chk[b->n_chk++] = (struct check){ bpf_map__fd(counters), percpu, idx, per_pkt };
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n, double *lo, double *hi)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	*lo = s[0];
	*hi = s[n - 1];
	return n & 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- set-up -------------------------------------------------------------- */

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/*
 * The sink for TC copies, in namespace ns: a dummy interface, or where the
 * kernel has no dummy driver, an ifb device without a qdisc (noqueue).  ifb
 * frees at once whatever reaches its transmit function without having been
 * redirected from a real ingress, which is every copy here; a veth with its
 * peer down would do as cheaply but makes each copy report NET_XMIT_DROP.
 */
static void make_sink(const char *ns)
{
	const char *dummy[] = { "ip", "link", "add", SINK, "type", "dummy", NULL };
	const char *ifb[] = { "ip", "link", "add", SINK, "type", "ifb", NULL };
	const char *noqueue[] = { "tc", "qdisc", "replace", "dev", SINK, "root", "noqueue", NULL };
	/* No IPv6 address, so the kernel sends nothing of its own (router
	 * solicitations, MLD reports) that the sink would count. */
	const char *quiet[] = { "ip", "link", "set", SINK, "addrgenmode", "none", NULL };
	const char *up[] = { "ip", "link", "set", SINK, "up", NULL };

	if (netns_exec(ns, dummy) == 0) {
		sink_kind = "dummy";
	} else {
		if (netns_exec(ns, ifb) || netns_exec(ns, quiet) || netns_exec(ns, up) ||
		    netns_exec(ns, noqueue))
			die("cannot create a sink device (dummy or ifb): %s", netns_error());
		sink_kind = "ifb, noqueue (kernel has no dummy driver)";
	}
	if (netns_exec(ns, quiet) || netns_exec(ns, up) || netns_ifinfo(ns, SINK, &sink_idx, NULL))
		die("sink device: %s", netns_error());
}

static const char *cpu_model(void)
{
	static char model[128] = "unknown CPU";
	char line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "model name", 10) == 0) {
			char *p = strchr(line, ':');

			if (p) {
				snprintf(model, sizeof(model), "%s", p + 2);
				model[strcspn(model, "\n")] = '\0';
			}
			break;
		}
	}
	if (f)
		fclose(f);
	return model;
}

/* The fan-outs to measure: 2 (always, the fixed cost's run) and LIST. */
static int parse_fanouts(const char *list, int *fan, int n)
{
	char *end;

	for (const char *p = list; *p; p = *end ? end + 1 : end) {
		long v = strtol(p, &end, 10);

		if (end == p || (*end && *end != ',') || v < 2 || v > FLOOR_MAX_SUBS)
			die("bad fan-out list '%s' (numbers 2-%d, comma separated)", list,
			    FLOOR_MAX_SUBS);
		if (v == 2)
			continue;
		if (n == MAX_FAN)
			die("more than %d fan-outs", MAX_FAN - 1);
		fan[n++] = (int)v;
	}
	return n;
}

/* Why psoffload cannot be given a topic with n subscribers, or NULL. */
static const char *pso_fanout_refused(int n)
{
	static char why[96];

	if (n <= PSO_MAX_RUN)
		return NULL;
	snprintf(why, sizeof(why), "%d subscriber slots per topic (PSO_MAX_RUN)", PSO_MAX_RUN);
	return why;
}

/*
 * The floor's copies are right: three distinct subscribers (other MACs,
 * addresses and ports than the publish's), one run; the last copy is the
 * original, handed back in data_out after the two clones' rewrites went
 * through it, so its headers are the third subscriber's and both checksums
 * must verify from scratch.
 */
static void floor_tc_verify(void)
{
	struct floor_tc *ft = floor_tc__open_and_load();
	struct frame in, out = { 0 };
	struct __sk_buff sctx = { .ifindex = sink_idx };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in.b, .data_out = out.b,
		    .data_size_out = sizeof(out.b), .ctx_in = &sctx, .ctx_size_in = sizeof(sctx),
		    .repeat = 1);
	struct floor_cfg c = { 3 };
	struct pso_sub s[3];
	struct iphdr *ip = (void *)(out.b + sizeof(struct ethhdr));
	struct udphdr *udp = (void *)(ip + 1);
	uint32_t k, ph = 0;
	uint8_t pseudo[12];

	if (!ft)
		die("loading the fan-out floor failed");
	for (k = 0; k < 3; k++) {
		identity_sub(&s[k]);
		s[k].dst_mac[5] = 0x10 + k;
		s[k].dst_port = htons(40000 + k);
		s[k].dst_addr[3] = 100 + k;
		s[k].src_addr[2] = 9;
		map_set(bpf_map__fd(ft->maps.floor_subs), &k, &s[k], "floor_subs");
	}
	k = 0;
	map_set(bpf_map__fd(ft->maps.floor_cfg), &k, &c, "floor_cfg");
	publish_frame(&in, TOPIC_ONE);
	o.data_size_in = in.len;
	if (bpf_prog_test_run_opts(bpf_program__fd(ft->progs.floor_tc), &o))
		die("floor check: test run failed: %s", strerror(errno));
	if (o.retval != TC_ACT_REDIRECT || o.data_size_out != in.len)
		die("floor check: returned %u with %u bytes, expected %d with %u", o.retval,
		    o.data_size_out, TC_ACT_REDIRECT, in.len);
	if (memcmp(out.b, s[2].dst_mac, 6) || memcmp(out.b + 6, s[2].src_mac, 6) ||
	    memcmp(&ip->saddr, s[2].src_addr, 4) || memcmp(&ip->daddr, s[2].dst_addr, 4) ||
	    udp->source != htons(BROKER_PORT) || udp->dest != s[2].dst_port)
		die("floor check: the last copy's headers are not its subscriber's");
	if (csum16(0, (uint8_t *)ip, sizeof(*ip)) != 0)
		die("floor check: IP header checksum wrong");
	memcpy(pseudo, &ip->saddr, 8);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_UDP;
	memcpy(pseudo + 10, &udp->len, 2);
	for (int i = 0; i < 12; i += 2)
		ph += (uint32_t)pseudo[i] << 8 | pseudo[i + 1];
	if (csum16(ph, (uint8_t *)udp, ntohs(udp->len)) != 0)
		die("floor check: UDP checksum wrong");
	if (memcmp(out.b + 42, in.b + 42, in.len - 42))
		die("floor check: the payload changed");
	floor_tc__destroy(ft);
}

int main(int argc, char **argv)
{
	struct psoffload_xdp_bench *xdp, *xdp_rl;
	struct psoffload_xdp_offload_bench *off;
	struct psoffload_tc_bench *tc;
	struct psoffload_xdp_bench_noev *xdp_ne;
	struct psoffload_tc_bench_noev *tc_ne;
	struct floor_xdp *fl;
	int rounds = 5, saved, opt, floor_i = -1, n_fixed = 0, fixed_bench[2] = { -1, -1 };
	double fixed[2][FIXED_SAMPLES + MAX_ROUNDS], lo, hi;
	double target_ms = 700;
	char ns[NETNS_NAME_MAX];
	struct utsname un;
	cpu_set_t one;
	struct bench *b;
	int fan[MAX_FAN] = { 2 }, n_fan = 1, fan_bench[MAX_FAN], floor_bench[MAX_FAN];
	static char fan_label[MAX_FAN][64], floor_label[MAX_FAN][64];
	struct floor_tc *ftc[MAX_FAN] = { 0 };
	const char *fanouts = "8,64,256,1024,4096";

	while ((opt = getopt(argc, argv, "r:t:f:h")) != -1) {
		switch (opt) {
		case 'r':
			rounds = atoi(optarg);
			break;
		case 't':
			target_ms = atof(optarg);
			break;
		case 'f':
			fanouts = optarg;
			break;
		default:
			fprintf(stderr, "usage: %s [-r ROUNDS (1-%d)] [-t TARGET_MS per run] "
				"[-f FANOUTS (list, 2-%d; default %s)]\n",
				argv[0], MAX_ROUNDS, FLOOR_MAX_SUBS, fanouts);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS || target_ms <= 0)
		die("bad -r or -t");
	n_fan = parse_fanouts(fanouts, fan, n_fan);
	if (geteuid() != 0)
		die("needs root (BPF_PROG_TEST_RUN, network namespaces)");
	libbpf_set_print(libbpf_quiet);
	ncpus = libbpf_num_possible_cpus();
	if (ncpus <= 0)
		die("cannot count CPUs");

	/* One CPU: all runs see the same caches and frequency domain. */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
	sched_setaffinity(0, sizeof(one), &one);

	snprintf(ns, sizeof(ns), "psob-%d", getpid());
	if (netns_add(ns))
		die("network namespace: %s", netns_error());
	make_sink(ns);
	/* Test runs resolve ifindexes in the caller's namespace. */
	if (netns_enter(ns, &saved))
		die("%s", netns_error());

	xdp = psoffload_xdp_bench__open_and_load();
	xdp_rl = psoffload_xdp_bench__open_and_load();
	off = psoffload_xdp_offload_bench__open_and_load();
	tc = psoffload_tc_bench__open_and_load();
	fl = floor_xdp__open_and_load();
	xdp_ne = psoffload_xdp_bench_noev__open_and_load();
	tc_ne = psoffload_tc_bench_noev__open_and_load();
	if (!xdp || !xdp_rl || !off || !tc || !fl || !xdp_ne || !tc_ne)
		die("loading the BPF programs failed");
	/* The daemon's default rate limit, as it runs. */
	{
		struct pso_event_cfg ecfg = { PSO_EVENT_RATE_DEFAULT, PSO_EVENT_RATE_DEFAULT };
		uint32_t k = 0;

		map_set(bpf_map__fd(xdp->maps.pso_event_cfg), &k, &ecfg, "pso_event_cfg");
	}

	/* (a) driver build, one subscriber on the ingress port. */
	tables(xdp->obj, sink_idx, TOPIC_ONE, 1);
	tables(xdp->obj, sink_idx, TOPIC_TWO, 2);
	b = bench_add("(a) XDP fast path, driver build, XDP_TX", bpf_program__fd(xdp->progs.psoffload_xdp),
		      false, XDP_TX);
	publish_frame(&b->f, TOPIC_ONE);
	bench_check(b, xdp->maps.pso_counters, true, PSO_CNT_XDP_TX, 1);

	/* (a2) the same in a second instance, whose publisher has a limit. */
	rate_limited = true;
	tables(xdp_rl->obj, sink_idx, TOPIC_ONE, 1);
	rate_limited = false;
	b = bench_add("(a2) the same, publish-rate limit on",
		      bpf_program__fd(xdp_rl->progs.psoffload_xdp), false, XDP_TX);
	publish_frame(&b->f, TOPIC_ONE);
	bench_check(b, xdp_rl->maps.pso_counters, true, PSO_CNT_XDP_TX, 1);

	/* (b) offload build: its one port config sits at key 0. */
	tables(off->obj, 0, TOPIC_ONE, 1);
	b = bench_add("(b) XDP fast path, offload build, XDP_TX",
		      bpf_program__fd(off->progs.psoffload_xdp), false, XDP_TX);
	publish_frame(&b->f, TOPIC_ONE);
	bench_check(b, off->maps.pso_counters, false, PSO_CNT_XDP_TX, 1);

	/* (c) two subscribers: the XDP program's part is the decision to pass. */
	b = bench_add("(c) XDP_PASS decision, 2-subscriber topic",
		      bpf_program__fd(xdp->progs.psoffload_xdp), false, XDP_PASS);
	publish_frame(&b->f, TOPIC_TWO);
	bench_check(b, xdp->maps.pso_counters, true, PSO_CNT_XDP_PASS_FANOUT, 1);

	/* (d) floor and (e) bare XDP_TX. */
	floor_i = n_bench;
	b = bench_add("(d) floor: swap Eth/IP/UDP, XDP_TX", bpf_program__fd(fl->progs.floor_xdp),
		      false, XDP_TX);
	publish_frame(&b->f, TOPIC_ONE);
	fixed_bench[0] = n_bench;
	b = bench_add("(e) return XDP_TX only", bpf_program__fd(fl->progs.tx_only), false, XDP_TX);
	publish_frame(&b->f, TOPIC_ONE);

	/* (f) TC fan-out, copies to the sink. */
	for (int i = 0; i < n_fan; i++) {
		const char *why = pso_fanout_refused(fan[i]);

		fan_bench[i] = -1;
		if (why) {
			printf("(f) psoffload fan-out %d skipped: %s\n", fan[i], why);
			continue;
		}
		tables(tc->obj, sink_idx, TOPIC_FAN + i, fan[i]);
		fan_bench[i] = n_bench;
		snprintf(fan_label[i], sizeof(fan_label[i]), "(f) TC fan-out, %d subscribers", fan[i]);
		if (fixed_bench[1] < 0)
			fixed_bench[1] = n_bench;
		b = bench_add(fan_label[i], bpf_program__fd(tc->progs.psoffload_tc), true,
			      TC_ACT_REDIRECT);
		publish_frame(&b->f, TOPIC_FAN + i);
		b->copies = fan[i];
		bench_check(b, tc->maps.pso_counters, true, PSO_CNT_TC_COPIES, fan[i]);
		bench_check(b, tc->maps.pso_counters, true, PSO_CNT_TC_FANOUT, 1);
	}

	/* (h) the fan-out floor at the same fan-outs: one instance each (its
	 * subscriber count is the instance's), the same identity slots. */
	floor_tc_verify();
	for (int i = 0; i < n_fan; i++) {
		struct pso_sub sub;
		struct floor_cfg c = { fan[i] };
		uint32_t k = 0;

		floor_bench[i] = -1;
		if (fan[i] < 8)
			continue;
		ftc[i] = floor_tc__open_and_load();
		if (!ftc[i])
			die("loading the fan-out floor failed");
		identity_sub(&sub);
		for (k = 0; k < (uint32_t)fan[i]; k++)
			map_set(bpf_map__fd(ftc[i]->maps.floor_subs), &k, &sub, "floor_subs");
		k = 0;
		map_set(bpf_map__fd(ftc[i]->maps.floor_cfg), &k, &c, "floor_cfg");
		snprintf(floor_label[i], sizeof(floor_label[i]), "(h) TC fan-out floor, %d subscribers",
			 fan[i]);
		floor_bench[i] = n_bench;
		b = bench_add(floor_label[i], bpf_program__fd(ftc[i]->progs.floor_tc), true,
			      TC_ACT_REDIRECT);
		publish_frame(&b->f, TOPIC_FAN + i);
		b->copies = fan[i];
	}

	/* (g) the event stream's cost, each beside its build without it. */
	tables(xdp_ne->obj, sink_idx, TOPIC_ONE, 1);
	b = bench_add("(g) (a) with no events compiled in",
		      bpf_program__fd(xdp_ne->progs.psoffload_xdp), false, XDP_TX);
	publish_frame(&b->f, TOPIC_ONE);
	bench_check(b, xdp_ne->maps.pso_counters, true, PSO_CNT_XDP_TX, 1);
	if (PSO_MAX_RUN >= 8) {
		tables(tc_ne->obj, sink_idx, TOPIC_FAN + 1, 8);
		b = bench_add("(g) (f) fan-out 8, no events compiled in",
			      bpf_program__fd(tc_ne->progs.psoffload_tc), true, TC_ACT_REDIRECT);
		publish_frame(&b->f, TOPIC_FAN + 1);
		b->copies = 8;
		bench_check(b, tc_ne->maps.pso_counters, true, PSO_CNT_TC_COPIES, 8);
		bench_check(b, tc_ne->maps.pso_counters, true, PSO_CNT_TC_FANOUT, 1);
	}
	b = bench_add("(g) drop malformed, events, rate spent",
		      bpf_program__fd(xdp->progs.psoffload_xdp), false, XDP_DROP);
	malformed_frame(&b->f);
	bench_check(b, xdp->maps.pso_counters, true, PSO_CNT_XDP_DROP_MALFORMED, 1);
	b = bench_add("(g) drop malformed, no events compiled in",
		      bpf_program__fd(xdp_ne->progs.psoffload_xdp), false, XDP_DROP);
	malformed_frame(&b->f);
	bench_check(b, xdp_ne->maps.pso_counters, true, PSO_CNT_XDP_DROP_MALFORMED, 1);

	/* Fixed costs per kind of run, sampled before and in every round. */
	for (int i = 0; i < FIXED_SAMPLES; i++) {
		fixed[0][n_fixed] = fixed_cost(&benches[fixed_bench[0]]);
		fixed[1][n_fixed++] = fixed_cost(&benches[fixed_bench[1]]);
	}
	for (int i = 0; i < n_bench; i++)
		calibrate(&benches[i], target_ms, median(fixed[benches[i].skb], n_fixed, &lo, &hi));
	for (int r = 0; r < rounds; r++) {
		fixed[0][n_fixed] = fixed_cost(&benches[fixed_bench[0]]);
		fixed[1][n_fixed++] = fixed_cost(&benches[fixed_bench[1]]);
		for (int j = 0; j < n_bench; j++) {
			struct bench *x = &benches[(j + r) % n_bench];

			x->wall[r] = run(x, x->repeat, &x->kns[r]);
		}
	}
	for (int i = 0; i < n_bench; i++) {
		struct bench *x = &benches[i];
		double f = median(fixed[x->skb], n_fixed, &lo, &hi);

		for (int r = 0; r < rounds; r++)
			x->ns[r] = (x->wall[r] - f) / x->repeat;
	}

	uname(&un);
	printf("psoffload microbenchmark: BPF_PROG_TEST_RUN, IPv4, %d-byte MQTT-SN payload "
	       "(%u-byte frame)\n", PAYLOAD, benches[0].f.len);
	printf("kernel %s, %s, pinned to one CPU; %d interleaved rounds, median shown; "
	       "TC sink: %s\n\n", un.release, cpu_model(), rounds, sink_kind);
	printf("%-44s %10s %9s %9s %9s %8s %8s %9s\n", "path", "repeat", "ns/pkt", "min", "max",
	       "kern ns", "Mpps", "x floor");
	{
		double floor_ns = median(benches[floor_i].ns, rounds, &lo, &hi);

		for (int i = 0; i < n_bench; i++) {
			struct bench *x = &benches[i];
			double m = median(x->ns, rounds, &lo, &hi), klo, khi;
			double km = median(x->kns, rounds, &klo, &khi);

			printf("%-44s %10u %9.2f %9.2f %9.2f %8.0f %8.2f %9.2f\n", x->label, x->repeat,
			       m, lo, hi, km, 1e3 / m, m / floor_ns);
		}
	}
	printf("\nns/pkt: (wall time of the run - fixed cost of a run) / repeat, median over rounds\n"
	       "(min, max); fixed cost per run, median of %d samples: XDP %.1f ms (dispatcher\n"
	       "switch), skb %.3f ms.  kern ns: the kernel's own figure (whole ns, median).\n"
	       "Every run verified by return code and counters (xdp_tx, xdp_pass_fanout,\n"
	       "tc_copies = N x repeat, tc_fanout = repeat).  TC: N-1 clones leave through\n"
	       "the sink inside the figure; the last copy is the original, redirected by the\n"
	       "return code after the program, so its transmit is not in the figure.\n", n_fixed,
	       median(fixed[0], n_fixed, &lo, &hi) / 1e6, median(fixed[1], n_fixed, &lo, &hi) / 1e6);

	/*
	 * psoffload's fan-out as a fraction of the floor's, per fan-out, by
	 * the kernel's own figure (median): its clock stops while the test run
	 * yields the CPU, which on a shared machine the wall time does not,
	 * and at microseconds a packet its whole ns lose nothing.
	 */
	printf("\nTC fan-out against its floor (f / h), kernel's figure (median): floor ns / "
	       "psoffload ns,\ni.e. psoffload's copies per second as a fraction of the floor's\n");
	printf("%-8s %14s %14s %8s\n", "fan-out", "psoffload ns", "floor ns", "ratio");
	for (int i = 0; i < n_fan; i++) {
		double p, fl;

		if (floor_bench[i] < 0)
			continue;
		fl = median(benches[floor_bench[i]].kns, rounds, &lo, &hi);
		if (fan_bench[i] < 0) {
			printf("%-8d %14s %14.1f %8s\n", fan[i], "skipped", fl, "-");
			printf("vs_floor fanout=%d psoffload_ns=skip floor_ns=%.1f ratio=skip\n",
			       fan[i], fl);
			continue;
		}
		p = median(benches[fan_bench[i]].kns, rounds, &lo, &hi);
		printf("%-8d %14.1f %14.1f %8.2f\n", fan[i], p, fl, fl / p);
		printf("vs_floor fanout=%d psoffload_ns=%.1f floor_ns=%.1f ratio=%.3f\n", fan[i], p,
		       fl, fl / p);
	}

	for (int i = 0; i < n_fan; i++)
		floor_tc__destroy(ftc[i]);

	psoffload_tc_bench_noev__destroy(tc_ne);
	psoffload_xdp_bench_noev__destroy(xdp_ne);
	floor_xdp__destroy(fl);
	psoffload_tc_bench__destroy(tc);
	psoffload_xdp_offload_bench__destroy(off);
	psoffload_xdp_bench__destroy(xdp_rl);
	psoffload_xdp_bench__destroy(xdp);
	netns_leave(saved);
	netns_cleanup_all();
	return 0;
}
