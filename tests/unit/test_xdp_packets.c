// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_xdp_packets.c - the XDP fast path, one crafted frame at a time,
 * through BPF_PROG_TEST_RUN, in the driver and the offload build.
 *
 * The rows are data kept apart from this driver, in
 * tests/fixtures/xdp_packets.h (included below).  Each row of xdp_cases[]
 * is one behaviour: a frame described field by
 * field, the table contents, whether the topic's stats move, and per build
 * the verdict, the one counter that must move (by exactly one; every other
 * counter must stay put) and the output: the input untouched, or the input
 * rewritten for the topic's only subscriber.  The rewritten frame is built
 * by tests/lib/pkt.c from the subscriber slot with checksums computed from
 * scratch, never through bpf/psoffload_csum.h (the code under test).
 *
 * In the driver build each row is also judged by its events: a row whose
 * counter is an event (PSO_EVENT_REASONS: a drop or a refusal) must give
 * exactly one, with that reason, the frame's source address and port, its
 * length and (for a refusal) its topic id; any other row, every forwarding
 * one among them, must give none.  The offload build has no event stream.
 * Apart from the rows: the rate limit suppresses and counts, and tells the
 * number in the next event.
 *
 * Every row runs as one cmocka test per build: "off: ..." and, for the
 * driver build's four slot layouts, "drv: ...", "drv/slots: ...",
 * "drv/taken: ..." and "drv/disabled: ...".  The
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
#include <time.h>
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
#include "evcatch.h"
#include "copy_desc.h"

/* ---- The driver's own world ---------------------------------------------- */

#define LO_IFINDEX	1	/* ingress port; lo is 1 in every netns */
#define VETH_PORT	"pso-xdp0"	/* stands for a second broker port */
#define VETH_PEER	"pso-xdp1"

/* The rows, their types and the world they name. */
#include "../fixtures/xdp_packets.h"

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
	int short_names_fd;	/* driver build only, else -1 */
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
static struct evcatch events;	/* the driver build's */
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
	b->short_names_fd = bpf_map__fd(drv_skel->maps.pso_short_names);
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
	b->devmap_fd = b->short_names_fd = -1;
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

/* The kind a *_PREDEF or *_SHORT kind is a copy of in another form, and
 * the PSO_SUB_F_* of that form; others: itself, 0. */
static enum sub_kind base_kind(enum sub_kind k, uint8_t *form)
{
	*form = PSO_SUB_F_PREDEFINED;
	switch (k) {
	case SUB_SAME4_PREDEF:
		return SUB_SAME4;
	case SUB_OTHER4_PREDEF:
		return SUB_OTHER4;
	case SUB_SAME6_PREDEF:
		return SUB_SAME6;
	case SUB_OTHER6_PREDEF:
		return SUB_OTHER6;
	default:
		break;
	}
	*form = PSO_SUB_F_SHORT;
	switch (k) {
	case SUB_SAME4_SHORT:
		return SUB_SAME4;
	case SUB_OTHER4_SHORT:
		return SUB_OTHER4;
	case SUB_SAME6_SHORT:
		return SUB_SAME6;
	case SUB_OTHER6_SHORT:
		return SUB_OTHER6;
	default:
		*form = 0;
		return k;
	}
}

/* The slot a subscriber kind stands for: every field the rewrite writes.
 * A *_PREDEF or *_SHORT kind has its base kind's headers and the flag of
 * its form. */
static struct pso_sub make_sub(enum sub_kind kind)
{
	uint8_t form;
	enum sub_kind k = base_kind(kind, &form);
	static const uint8_t broker_mac[6] = MAC_BROKER;
	static const uint8_t port2_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x01, 0x01 };
	bool other = k == SUB_OTHER4 || k == SUB_OTHER6;
	bool v6 = k == SUB_SAME6 || k == SUB_OTHER6;
	struct pso_sub s = {
		.dst_mac = { 0x02, 0x00, 0x00, 0x00, other ? 0x01 : 0x00, 0x0b + k },
		.ifindex = other ? (uint32_t)other_ifindex : LO_IFINDEX,
		.dst_port = htons(50000 + k),
		.family = v6 ? PSO_AF_INET6 : PSO_AF_INET,
		.flags = (k == SUB_UNRESOLVED4 ? 0 : PSO_SUB_F_RESOLVED) | form,
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

/* The rate state the data plane uses for the row's client: the slot's
 * when the slot holds it, else the HASH value's. */
static struct pso_client_val client_live(const struct build *b, const struct pso_endpoint *ep)
{
	struct pso_client_val val = { 0 };
	struct pso_client_slot cs = { 0 };
	uint32_t idx = client_slot_index(ep);

	bpf_map_lookup_elem(b->clients_fd, ep, &val);
	if (b->client_slots_fd >= 0 && !bpf_map_lookup_elem(b->client_slots_fd, &idx, &cs) &&
	    cs.ep.family == ep->family && cs.ep.port == ep->port &&
	    !memcmp(cs.ep.addr, ep->addr, 16))
		val.rate = cs.rate;
	return val;
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

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A client's rate limit in state st, as the host writes it (tables/
 * clients.c) and then time and publishes moved it: the driver build's
 * bucket, relative to now, and the NIC's budget (*rx, *budget_end). */
static struct pso_rate rate_as(enum rate_state st, uint64_t now, __u64 *rx,
			       __u64 *budget_end)
{
	struct pso_rate r = { .interval_ns = RATE_INTERVAL_NS, .burst = RATE_BURST };
	uint64_t tat = 0;

	*rx = 0;
	*budget_end = RATE_BURST;
	switch (st) {
	case RATE_NONE:
		*budget_end = UINT64_MAX;
		return (struct pso_rate){ 0 };
	case RATE_FULL:
		break;
	case RATE_LAST:
		tat = now + (RATE_BURST - 1) * RATE_INTERVAL_NS;
		*rx = RATE_BURST - 1;
		break;
	case RATE_SPENT:
		tat = now + RATE_BURST * RATE_INTERVAL_NS;
		*rx = RATE_BURST;
		break;
	case RATE_REFILLED:
		tat = now + RATE_BURST * RATE_INTERVAL_NS - 3 * RATE_INTERVAL_NS / 2;
		*rx = RATE_BURST;
		*budget_end = 2 * RATE_BURST;
		break;
	}
	r.tat[PSO_RATE_XDP] = r.tat[PSO_RATE_TC] = tat;
	return r;
}

static void write_client_rate(const struct build *b, const struct pkt_desc *d,
			      enum rate_state st, uint64_t now)
{
	struct pso_endpoint ep = row_client(d);
	struct pso_client_val val = { 0 };
	struct pso_client_slot cs = { .ep = ep };
	uint32_t idx = client_slot_index(&ep);

	cs.rate = val.rate = rate_as(st, now, &val.rx_msgs, &val.budget_end);
	/* The slot counts the driver build's publishes; the NIC's budget is
	 * spent by the HASH's count. */
	cs.rx_msgs = 0;
	if (!b->offload)
		val.rx_msgs = 0;

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
		__u32 key = (__u32)t->topic * MAX_ROW_SUBS + i;

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
		write_client_rate(b, &c->pkt, c->tbl.rate, mono_ns());
	if (c->tbl.topic && c->tbl.short_name && b->short_names_fd >= 0) {
		struct pso_short_name sn = { .name = SHORT_NAME, .valid = 1 };
		__u32 key = c->tbl.topic;

		assert_int_equal(bpf_map_update_elem(b->short_names_fd, &key, &sn, BPF_ANY), 0);
	}
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
			zero_elem(b->subs_fd, (__u32)c->tbl.topic * MAX_ROW_SUBS + i,
				  sizeof(struct pso_sub));
		if (b->short_names_fd >= 0)
			zero_elem(b->short_names_fd, c->tbl.topic, sizeof(struct pso_short_name));
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

	if (topic >= PSO_MAP_TOPICS)
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
	struct pkt_info info;
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

/*
 * The bucket after the run: a QoS 0 publish within the rate moved XDP's
 * timestamp to max(tat, now) + one interval, now being some time between
 * t0 and t1; anything else left it (and TC's) alone.  The NIC's budget is
 * the host's to change, never the data plane's.
 */
static void check_rate(struct outcome *o, const struct xdp_case *c, const struct expect *e,
		       const struct build *b, const struct pso_client_val *before,
		       const struct pso_client_val *after, uint64_t t0, uint64_t t1)
{
	uint64_t tat = before->rate.tat[PSO_RATE_XDP], got = after->rate.tat[PSO_RATE_XDP];
	bool qos0 = c->pkt.msg_type == MQTTSN_PUBLISH && !c->pkt.body &&
		    (c->pkt.pub_flags & MQTTSN_FLAG_QOS_MASK) == MQTTSN_FLAG_QOS_0;
	bool takes = qos0 && e->counter != PSO_CNT_XDP_DROP_RATE;

	if (b->offload) {
		if (after->budget_end != before->budget_end)
			complain(o, "  the NIC's budget end moved from %llu to %llu\n",
				 (unsigned long long)before->budget_end,
				 (unsigned long long)after->budget_end);
		return;
	}
	if (after->rate.tat[PSO_RATE_TC] != before->rate.tat[PSO_RATE_TC])
		complain(o, "  XDP moved TC's bucket\n");
	if (!takes && got != tat)
		complain(o, "  the bucket moved (tat %+lld ns) for a publish not admitted\n",
			 (long long)(got - tat));
	if (takes && (got < (tat > t0 ? tat : t0) + RATE_INTERVAL_NS ||
		      got > (tat > t1 ? tat : t1) + RATE_INTERVAL_NS))
		complain(o, "  the bucket's tat is now+%lld ns, expected max(tat, now) + %llu\n",
			 (long long)(got - t1), (unsigned long long)RATE_INTERVAL_NS);
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

/* The refusals: the parse got as far as the topic id. */
static bool admission_reason(enum pso_counter c)
{
	return c == PSO_CNT_XDP_DROP_NOT_CONNECTED || c == PSO_CNT_XDP_DROP_UNKNOWN_TOPIC ||
	       c == PSO_CNT_XDP_DROP_QOSM1_DENIED || c == PSO_CNT_XDP_DROP_NO_SUBSCRIBER ||
	       c == PSO_CNT_XDP_DROP_TTL ||
	       c == PSO_CNT_XDP_PASS_UNKNOWN_TOPIC;
}

/* Driver build: one event for an outcome that is one, none for the rest. */
static void check_events(struct outcome *o, const struct xdp_case *c, const struct expect *e)
{
	size_t n = evcatch_drain(&events), want = PSO_EVENT_REASONS & PSO_EVENT_BIT(e->counter) ? 1 : 0;
	char why[512] = "";

	if (n != want) {
		complain(o, "  %zu event(s), expected %zu\n", n, want);
		return;
	}
	if (n && evcatch_check(&events.ev[0], &c->pkt, &o->info, e->counter, e->counter, 1,
			       admission_reason(e->counter), why, sizeof(why)))
		complain(o, "%s", why);
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
	o->info = info;
	if (c->cut) {
		assert_true(c->cut < o->in_len);
		o->in_len = c->cut;
	}
	assert_true(c->trim < o->in_len);
	o->in_len -= c->trim;

	if (e->out == OUT_REWRITTEN) {
		struct pkt_desc d = c->pkt;
		struct pso_sub s = make_sub(c->tbl.subs[0]);

		copy_desc(&d, &s, c->copy_flags, BROKER_PORT, SHORT_NAME_ID);
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
	struct pso_client_val live_before, live_after;
	struct pso_endpoint ep;
	uint64_t rx_before, rx, t0, t1;
	struct outcome *o;
	size_t n_errs;
	int err;

	if (!b->offload && c->drv.verdict == XDP_REDIRECT && !other_ifindex)
		skip();		/* no second port to redirect to, said at startup */
	o = calloc(1, sizeof(*o));
	assert_non_null(o);
	build_frames(c, e, o);

	if (!b->offload)
		evcatch_drain(&events);
	read_counters(b, o->before);
	o->st_before = read_stats(b, stats_topic(c));
	ep = row_client(&c->pkt);
	rx_before = client_rx(b, &ep);
	live_before = client_live(b, &ep);
	t0 = mono_ns();
	o->out_len = sizeof(o->out);
	err = run_prog(b, o->in, o->in_len, o->out, &o->out_len, &o->retval);
	assert_int_equal(err, 0);
	t1 = mono_ns();
	read_counters(b, o->after);
	o->st_after = read_stats(b, stats_topic(c));
	rx = client_rx(b, &ep) - rx_before;
	live_after = client_live(b, &ep);
	if (c->tbl.client && c->tbl.rate != RATE_NONE)
		check_rate(o, c, e, b, &live_before, &live_after, t0, t1);

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
	if (!b->offload)
		check_events(o, c, e);
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

/*
 * The bucket over time, in one build: a client idle for long sends
 * RATE_BURST publishes back to back, all forwarded; the next is dropped
 * and counted (xdp_drop_rate); an interval and a half later (the driver
 * build's bucket moved back by that much, which is what time does to it;
 * the NIC's budget topped up by one publish, what the host's refill does
 * after one interval) the next is forwarded again.
 */
static const struct xdp_case rate_seq_case = {
	"rate: burst, drop, refill", .pkt = PKT4(),
	.tbl = TBL(.subs = { SUB_SAME4 }, .rate = RATE_FULL),
};

static int rate_run(const struct build *b, const struct outcome *frame, enum pso_counter *moved)
{
	uint64_t before[PSO_CNT__MAX], after[PSO_CNT__MAX];
	uint8_t out[PKT_MAX_LEN * 2];
	size_t out_len = sizeof(out);
	int retval, n = 0;

	read_counters(b, before);
	assert_int_equal(run_prog(b, frame->in, frame->in_len, out, &out_len, &retval), 0);
	read_counters(b, after);
	for (int k = 0; k < PSO_CNT__MAX; k++) {
		if (after[k] != before[k]) {
			*moved = (enum pso_counter)k;
			n++;
		}
	}
	assert_int_equal(n, 1);
	return retval;
}

static void test_rate_sequence(void **state)
{
	const struct build *b = *state;
	const struct xdp_case *c = &rate_seq_case;
	struct pso_endpoint ep = row_client(&c->pkt);
	struct pso_client_val val;
	struct pso_client_slot cs;
	uint32_t idx = client_slot_index(&ep);
	struct outcome *o = calloc(1, sizeof(*o));
	enum pso_counter moved;

	assert_non_null(o);
	build_frames(c, &c->drv, o);
	write_tables(b, c);
	for (int i = 0; i < RATE_BURST; i++) {
		assert_int_equal(rate_run(b, o, &moved), XDP_TX);
		assert_int_equal(moved, PSO_CNT_XDP_TX);
	}
	assert_int_equal(rate_run(b, o, &moved), XDP_DROP);
	assert_int_equal(moved, PSO_CNT_XDP_DROP_RATE);
	assert_int_equal(rate_run(b, o, &moved), XDP_DROP);
	assert_int_equal(moved, PSO_CNT_XDP_DROP_RATE);

	assert_int_equal(bpf_map_lookup_elem(b->clients_fd, &ep, &val), 0);
	if (b->offload) {
		/* Every publish counted, the two refused ones too. */
		assert_int_equal(val.rx_msgs, RATE_BURST + 2);
		val.budget_end = val.rx_msgs + 1;
		assert_int_equal(bpf_map_update_elem(b->clients_fd, &ep, &val, BPF_EXIST), 0);
	} else if (b->layout == LAYOUT_SLOTS) {
		assert_int_equal(bpf_map_lookup_elem(b->client_slots_fd, &idx, &cs), 0);
		cs.rate.tat[PSO_RATE_XDP] -= 3 * RATE_INTERVAL_NS / 2;
		assert_int_equal(bpf_map_update_elem(b->client_slots_fd, &idx, &cs, BPF_ANY), 0);
	} else {
		val.rate.tat[PSO_RATE_XDP] -= 3 * RATE_INTERVAL_NS / 2;
		assert_int_equal(bpf_map_update_elem(b->clients_fd, &ep, &val, BPF_EXIST), 0);
	}
	assert_int_equal(rate_run(b, o, &moved), XDP_TX);
	assert_int_equal(moved, PSO_CNT_XDP_TX);
	assert_int_equal(rate_run(b, o, &moved), XDP_DROP);
	assert_int_equal(moved, PSO_CNT_XDP_DROP_RATE);
	clear_tables(b, c);
	free(o);
}

/* The NIC could not run it: the offload build has no event maps. */
static void test_offload_build_has_no_events(void **state)
{
	assert_null(bpf_object__find_map_by_name(off_skel->obj, "pso_events"));
	assert_null(bpf_object__find_map_by_name(off_skel->obj, "pso_event_cfg"));
	assert_non_null(bpf_object__find_map_by_name(drv_skel->obj, "pso_events"));
}

static uint64_t counter_sum(__u32 k)
{
	uint64_t cnt[PSO_CNT__MAX];

	read_counters(&builds[0], cnt);
	return cnt[k];
}

/* A malformed frame to the broker (MsgType 0x03 is not defined), run
 * `repeat` times in one test run. */
static void run_malformed(uint32_t repeat, struct pkt_desc *d, struct pkt_info *info)
{
	uint8_t in[PKT_MAX_LEN], out[PKT_MAX_LEN * 2];
	struct xdp_md ctx = { .ingress_ifindex = LO_IFINDEX };
	int len;

	*d = (struct pkt_desc)PKT4(.msg_type = 0x03, .data_len = 4, .sport = 40123);
	len = pkt_build(d, in, sizeof(in), info);
	assert_true(len > 0);
	ctx.data_end = (__u32)len;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = (__u32)len,
		    .data_out = out, .data_size_out = sizeof(out),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat);
	assert_int_equal(bpf_prog_test_run_opts(builds[0].prog_fd, &opts), 0);
	assert_int_equal(opts.retval, XDP_DROP);
}

/*
 * The rate limit: a bucket of 3 at 1 event/s lets 3 of 10 drops report
 * (the 10 take microseconds, far from a second's refill), counts the other
 * 7 as suppressed, and the next event that gets a token says 7.  The
 * tokens are given by writing the bucket, not by waiting.
 */
static void test_rate_limit_suppresses_and_counts(void **state)
{
	struct pkt_desc d;
	struct pkt_info info;
	uint64_t supp0, drop0;
	char why[512] = "";
	cpu_set_t one;

	/* Buckets are per CPU: every run on the same one. */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	write_port_cfg(&builds[0]);
	evcatch_set_rate(&events, 1, 3);
	evcatch_drain(&events);
	supp0 = counter_sum(PSO_CNT_EVENT_SUPPRESSED);
	drop0 = counter_sum(PSO_CNT_XDP_DROP_MALFORMED);
	run_malformed(10, &d, &info);
	assert_int_equal(counter_sum(PSO_CNT_XDP_DROP_MALFORMED) - drop0, 10);
	assert_int_equal(evcatch_drain(&events), 3);
	for (int i = 0; i < 3; i++) {
		if (evcatch_check(&events.ev[i], &d, &info, PSO_CNT_XDP_DROP_MALFORMED,
				  PSO_CNT_XDP_DROP_MALFORMED, 1, 0, why, sizeof(why)))
			fail_msg("event %d:\n%s", i, why);
		assert_int_equal(events.ev[i].suppressed, 0);
	}
	assert_int_equal(counter_sum(PSO_CNT_EVENT_SUPPRESSED) - supp0, 7);

	/* One token: the next drop reports, and tells of the 7 before it. */
	evcatch_set_credit(&events, 1);
	run_malformed(1, &d, &info);
	assert_int_equal(evcatch_drain(&events), 1);
	assert_int_equal(events.ev[0].suppressed, 7);
	assert_int_equal(counter_sum(PSO_CNT_EVENT_SUPPRESSED) - supp0, 7);

	/* Rate 0: no events at all, and nothing counted as suppressed. */
	evcatch_set_rate(&events, 0, 0);
	run_malformed(5, &d, &info);
	assert_int_equal(evcatch_drain(&events), 0);
	assert_int_equal(counter_sum(PSO_CNT_EVENT_SUPPRESSED) - supp0, 7);

}

static cpu_set_t all_cpus;

static int rate_setup(void **state)
{
	return sched_getaffinity(0, sizeof(all_cpus), &all_cpus);
}

/* Whatever the test got to: the rows after it see the rate wide open. */
static int rate_teardown(void **state)
{
	evcatch_set_rate(&events, PSO_EVENT_RATE_MAX, PSO_EVENT_RATE_MAX);
	clear_tables(&builds[0], &xdp_cases[0]);
	return sched_setaffinity(0, sizeof(all_cpus), &all_cpus);
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
	if (evcatch_open(&events, bpf_map__fd(drv_skel->maps.pso_events),
			 bpf_map__fd(drv_skel->maps.pso_event_cfg),
			 bpf_map__fd(drv_skel->maps.pso_event_buckets))) {
		fprintf(stderr, "cannot read the event ring buffer\n");
		return -1;
	}
	/* Wide open: a row's event is never suppressed. */
	evcatch_set_rate(&events, PSO_EVENT_RATE_MAX, PSO_EVENT_RATE_MAX);
	return 0;
}

static int group_teardown(void **state)
{
	remove_other_port();
	evcatch_close(&events);
	psoffload_xdp__destroy(drv_skel);
	psoffload_xdp_offload__destroy(off_skel);
	return 0;
}

int main(void)
{
	size_t n = 3 + N_BUILDS + N_BUILDS * N_CASES;
	struct CMUnitTest *tests = calloc(n, sizeof(*tests));
	struct run *runs = calloc(N_BUILDS * N_CASES, sizeof(*runs));
	static char seq_names[N_BUILDS][96];
	int failed;

	if (!tests || !runs)
		return 1;
	tests[0] = (struct CMUnitTest)cmocka_unit_test(test_csum_known_answers);
	tests[1] = (struct CMUnitTest)cmocka_unit_test(test_offload_build_has_no_events);
	tests[2] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(
		test_rate_limit_suppresses_and_counts, rate_setup, rate_teardown);
	for (size_t i = 0; i < N_BUILDS; i++) {
		snprintf(seq_names[i], sizeof(seq_names[i]), "%s: %s", builds[i].name,
			 rate_seq_case.name);
		tests[3 + N_BUILDS * N_CASES + i] = (struct CMUnitTest){
			.name = seq_names[i],
			.test_func = test_rate_sequence,
			.initial_state = &builds[i],
		};
	}
	for (size_t i = 0; i < N_BUILDS * N_CASES; i++) {
		struct run *r = &runs[i];

		r->c = &xdp_cases[i / N_BUILDS];
		r->b = &builds[i % N_BUILDS];
		snprintf(r->name, sizeof(r->name), "%s: %s", r->b->name, r->c->name);
		tests[i + 3] = (struct CMUnitTest){
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
