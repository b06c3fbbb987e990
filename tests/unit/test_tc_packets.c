// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_tc_packets.c - the TC fan-out program, one crafted frame at a time,
 * through BPF_PROG_TEST_RUN, every copy captured and compared byte for byte.
 *
 * The rows are data kept apart from this driver, in
 * tests/fixtures/tc_packets.h (included below): the frame, the topic and
 * its subscriber slots, the verdict, which slots' copies must arrive, what
 * the skb must hold after the run, and every counter's delta.
 *
 * How the copies are caught: the program sends each clone with
 * bpf_clone_redirect() to the slot's ifindex, and that really transmits
 * (dev_queue_xmit) even from BPF_PROG_TEST_RUN.  The process moves into a
 * network namespace of its own (the skb the kernel builds for the run comes
 * in on that namespace's lo, ifindex 1, the broker port here) and creates
 * TAP devices there (IFF_TAP | IFF_NO_PI): every frame transmitted on one is
 * read from its file descriptor, with a deadline (poll).  The last slot is
 * served by the original itself (bpf_redirect(), TC_ACT_REDIRECT), which the
 * test run does not carry out: that copy is the skb handed back in
 * data_out.  The namespace and its devices vanish with the process.
 *
 * Expected copies are built by tests/lib/pkt.c from the row's frame with the
 * slot's headers, checksums computed from scratch (never through
 * bpf/psoffload_csum.h, the code under test), and every copy is checked by
 * pkt_check_csums() as well.  A failure prints the input, the expected and
 * the actual bytes of whatever differs.
 *
 * Every row is judged by its events too: one per event counter the row
 * moves (PSO_EVENT_REASONS): a tc_drop with its cause, the copies not made
 * (tc_copy_failed, tc_copy_shed) as one event each with their number; the
 * publisher's address and port, the length and topic id from the frame.
 * A row that only forwards gives none.  Apart from the rows: a refusal's
 * cause is the XDP counter of the same reason, and a run at scale (1,080
 * subscribers in a run of 2,048, with holes), beyond a row's 64 slots.
 *
 * What a test run cannot reach: the kernel builds the skb from the bytes
 * alone (CHECKSUM_NONE, no skb->vlan_tci; the __sk_buff fields it accepts
 * as context carry neither), so an 802.1Q tag stays in the frame and the
 * skb_vlan_pop()/push() and CHECKSUM_PARTIAL paths are not taken here;
 * tests/net/test_tc_fanout covers them with real traffic.
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

#include "psoffload_abi.h"
#include "psoffload_tc.skel.h"
#include "pkt.h"
#include "evcatch.h"
#include "copy_desc.h"

/* ---- The driver's own world ---------------------------------------------- */

#define LO_IFINDEX	1	/* ingress port: the test run's skb comes in on lo */
#define SUB_PORT_BASE	50000	/* slot i's subscriber UDP port: base + i */
#define MISSING_IFINDEX	0x7ffffff0
#define COPY_TIMEOUT_MS	2000	/* for the copies that must arrive */
#define SILENCE_MS	20	/* then: nothing more may arrive */
#define TAP_QLEN	4096	/* frames a tap holds until read */

/* The rows, their types and the world they name. */
#include "../fixtures/tc_packets.h"

static const char *const port_names[N_PORTS] = {
	[PORT_A] = "pso-tca", [PORT_B] = "pso-tcb", [PORT_DOWN] = "pso-tcdown",
};

static struct {
	struct psoffload_tc *skel;
	int prog_fd, port_cfg_fd, topics_fd, subs_fd, runs_fd, clients_fd, short_names_fd;
	int counters_fd, stats_fd;
	int ncpus;
	int tap_fd[N_PORTS];		/* -1: no device (PORT_MISSING) */
	int ifindex[N_PORTS];
} w = { .tap_fd = { -1, -1, -1, -1 } };

static bool port_up(enum tc_port p)
{
	return p == PORT_A || p == PORT_B;
}

/* ---- Table contents ----------------------------------------------------- */

static int sub_count(const struct tc_tables *t)
{
	int n = 0;

	while (n < MAX_ROW_SUBS && (t->subs[n].family || t->subs[n].hole))
		n++;
	return n;
}

/* The run the row's slots are written in: the next power of two. */
static uint32_t run_cap(const struct tc_tables *t)
{
	uint32_t n = (uint32_t)sub_count(t), cap = 1;

	while (cap < n)
		cap <<= 1;
	return n ? cap : 0;
}

/* Where in the pool: away from slot 0, in the topic's own place. */
static uint32_t run_base(const struct tc_tables *t)
{
	return (uint32_t)t->topic * MAX_ROW_SUBS;
}

/*
 * The slot a row's subscriber i stands for: every header field the rewrite
 * writes, distinct per slot and per port, so a copy shows whose it is.
 */
static struct pso_sub make_sub(const struct tc_sub *r, int i)
{
	uint8_t p = (uint8_t)r->port;
	struct pso_sub s;

	if (r->hole)
		return (struct pso_sub){ 0 };
	s = (struct pso_sub){
		.dst_mac = { 0x02, 0x00, 0x00, 0x01, p, (uint8_t)i },
		.src_mac = { 0x02, 0x00, 0x00, 0x00, (uint8_t)(p + 1), 0x01 },
		.ifindex = (uint32_t)w.ifindex[r->port],
		.dst_port = htons(SUB_PORT_BASE + i),
		.family = r->family,
		.flags = (r->unresolved ? 0 : PSO_SUB_F_RESOLVED) |
			 (r->predef ? PSO_SUB_F_PREDEFINED : 0) |
			 (r->short_form ? PSO_SUB_F_SHORT : 0),
	};

	if (r->family == PSO_AF_INET6) {
		s.src_addr[0] = s.dst_addr[0] = 0xfd;
		s.src_addr[1] = s.dst_addr[1] = (uint8_t)(p + 1);
		s.src_addr[15] = 0x01;
		s.dst_addr[14] = 0x01;
		s.dst_addr[15] = (uint8_t)i;
	} else {
		s.src_addr[0] = s.dst_addr[0] = 10;
		s.src_addr[1] = s.dst_addr[1] = (uint8_t)(p + 1);
		s.src_addr[3] = 1;
		s.dst_addr[2] = 1;
		s.dst_addr[3] = (uint8_t)(10 + i);
	}
	return s;
}

static void write_port_cfg(void)
{
	static const uint8_t mac[6] = MAC_BROKER, ip4[4] = IP4_BROKER, ip6[16] = IP6_BROKER;
	struct pso_port_cfg cfg = {
		.ifindex = LO_IFINDEX,
		.udp_port = htons(BROKER_PORT),
		.flags = PSO_PORT_F_VALID,
	};
	__u32 key = LO_IFINDEX;

	memcpy(cfg.mac, mac, 6);
	memcpy(&cfg.ip4, ip4, 4);
	memcpy(cfg.ip6, ip6, 16);
	assert_int_equal(bpf_map_update_elem(w.port_cfg_fd, &key, &cfg, BPF_ANY), 0);
}

/* The connected client is (publisher address, PUB_PORT). */
static struct pso_endpoint row_client(const struct pkt_desc *d)
{
	struct pso_endpoint ep = {
		.port = htons(PUB_PORT),
		.family = d->l3 == PKT_L3_IP6 ? PSO_AF_INET6 : PSO_AF_INET,
	};

	memcpy(ep.addr, d->ip_src, ep.family == PSO_AF_INET6 ? 16 : 4);
	return ep;
}

static uint64_t client_rx(const struct pso_endpoint *ep)
{
	struct pso_client_val val = { 0 };

	if (bpf_map_lookup_elem(w.clients_fd, ep, &val))
		return 0;
	return val.rx_msgs;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A client's rate limit in state st, relative to now: TC's bucket as the
 * row says, XDP's spent. */
static struct pso_rate rate_as(enum rate_state st, uint64_t now)
{
	struct pso_rate r = { .interval_ns = RATE_INTERVAL_NS, .burst = RATE_BURST };

	r.tat[PSO_RATE_XDP] = now + 10 * RATE_BURST * RATE_INTERVAL_NS;
	switch (st) {
	case RATE_NONE:
		return (struct pso_rate){ 0 };
	case RATE_FULL:
		r.tat[PSO_RATE_TC] = 0;
		break;
	case RATE_LAST:
		r.tat[PSO_RATE_TC] = now + RATE_BURST * RATE_INTERVAL_NS;
		break;
	case RATE_SPENT:
		r.tat[PSO_RATE_TC] = now + (RATE_BURST + 1) * RATE_INTERVAL_NS;
		break;
	case RATE_REFILLED:
		r.tat[PSO_RATE_TC] = now + (RATE_BURST + 1) * RATE_INTERVAL_NS -
				     3 * RATE_INTERVAL_NS / 2;
		break;
	}
	return r;
}

/* ABI write order: the slots first, then the topic whose sub_count covers them. */
static void write_topic(const struct tc_tables *t)
{
	int n = sub_count(t), live = 0;
	struct pso_topic topic = { .flags = t->topic_flags };
	/* The run in half 1 with a decoy in half 0 for odd topic ids, the
	 * other way round for even ones: the reader must take cur's. */
	struct pso_run run = { .cur = t->topic & 1 };
	__u32 key;

	for (int i = 0; i < n; i++) {
		struct pso_sub s = make_sub(&t->subs[i], i);

		key = run_base(t) + (__u32)i;
		assert_int_equal(bpf_map_update_elem(w.subs_fd, &key, &s, BPF_ANY), 0);
		if (t->subs[i].hole)
			continue;
		if (!live++)
			topic.first = s;
	}
	topic.sub_count = t->sub_count ? t->sub_count : (uint16_t)live;
	run.base[run.cur] = run_base(t);
	run.cap[run.cur] = run_cap(t);
	run.base[run.cur ^ 1] = 0;	/* slot 0: a decoy subscriber */
	run.cap[run.cur ^ 1] = 1;
	key = t->topic;
	assert_int_equal(bpf_map_update_elem(w.runs_fd, &key, &run, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(w.topics_fd, &key, &topic, BPF_ANY), 0);
}

static void write_tables(const struct tc_case *c)
{
	if (!c->tbl.no_port)
		write_port_cfg();
	if (c->tbl.client) {
		struct pso_endpoint ep = row_client(&c->pkt);
		struct pso_client_val val = { .rate = rate_as(c->tbl.rate, mono_ns()) };

		assert_int_equal(bpf_map_update_elem(w.clients_fd, &ep, &val, BPF_ANY), 0);
	}
	if (c->tbl.topic && c->tbl.short_name) {
		struct pso_short_name sn = { .name = SHORT_NAME, .valid = 1 };
		__u32 key = c->tbl.topic;

		assert_int_equal(bpf_map_update_elem(w.short_names_fd, &key, &sn, BPF_ANY), 0);
	}
	if (c->tbl.topic)
		write_topic(&c->tbl);
}

static void delete_all(int fd)
{
	uint8_t key[64];

	while (bpf_map_get_next_key(fd, NULL, key) == 0)
		assert_int_equal(bpf_map_delete_elem(fd, key), 0);
}

/* Back to empty tables, so no row sees another row's entries. */
static void clear_tables(const struct tc_case *c)
{
	static const struct pso_topic no_topic;
	static const struct pso_run no_run;
	static const struct pso_sub no_sub;
	static const struct pso_short_name no_name;

	delete_all(w.port_cfg_fd);
	delete_all(w.clients_fd);
	if (c->tbl.topic) {
		__u32 key = c->tbl.topic;

		assert_int_equal(bpf_map_update_elem(w.topics_fd, &key, &no_topic, BPF_ANY), 0);
		assert_int_equal(bpf_map_update_elem(w.short_names_fd, &key, &no_name, BPF_ANY), 0);
		assert_int_equal(bpf_map_update_elem(w.runs_fd, &key, &no_run, BPF_ANY), 0);
		for (int i = 0; i < MAX_ROW_SUBS; i++) {
			key = run_base(&c->tbl) + (__u32)i;
			assert_int_equal(bpf_map_update_elem(w.subs_fd, &key, &no_sub, BPF_ANY), 0);
		}
	}
}

/* ---- Reading the outcome ------------------------------------------------ */

static void read_counters(uint64_t cnt[PSO_CNT__MAX])
{
	uint64_t vals[w.ncpus];

	for (__u32 k = 0; k < PSO_CNT__MAX; k++) {
		assert_int_equal(bpf_map_lookup_elem(w.counters_fd, &k, vals), 0);
		cnt[k] = 0;
		for (int i = 0; i < w.ncpus; i++)
			cnt[k] += vals[i];
	}
}

/* msgs + bytes of one topic over all CPUs (0 outside the table). */
static uint64_t read_stats(__u32 topic)
{
	struct pso_topic_stats vals[w.ncpus];
	uint64_t sum = 0;

	if (topic >= PSO_MAP_TOPICS)
		return 0;
	assert_int_equal(bpf_map_lookup_elem(w.stats_fd, &topic, vals), 0);
	for (int i = 0; i < w.ncpus; i++)
		sum += vals[i].msgs + vals[i].bytes;
	return sum;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Throw away whatever a port holds, so a row sees only its own copies. */
static void drain_taps(void)
{
	uint8_t buf[PKT_MAX_LEN * 2];

	for (int p = 0; p < N_PORTS; p++)
		if (w.tap_fd[p] >= 0)
			while (read(w.tap_fd[p], buf, sizeof(buf)) > 0)
				;
}

/* ---- Expectations ------------------------------------------------------- */

static const char *const counter_names[] = PSO_COUNTER_NAMES;

static const char *verdict_name(int v)
{
	static const char *const names[] = {
		[TC_ACT_OK] = "TC_ACT_OK", [TC_ACT_RECLASSIFY] = "TC_ACT_RECLASSIFY",
		[TC_ACT_SHOT] = "TC_ACT_SHOT", [TC_ACT_PIPE] = "TC_ACT_PIPE",
		[TC_ACT_STOLEN] = "TC_ACT_STOLEN", [TC_ACT_QUEUED] = "TC_ACT_QUEUED",
		[TC_ACT_REPEAT] = "TC_ACT_REPEAT", [TC_ACT_REDIRECT] = "TC_ACT_REDIRECT",
	};

	return v >= 0 && v <= TC_ACT_REDIRECT && names[v] ? names[v] : "?";
}

struct frame {
	uint8_t b[PKT_MAX_LEN];
	size_t len;
};

struct outcome {
	struct frame in, out;
	struct frame want[MAX_ROW_SUBS];	/* slot i's copy */
	struct pkt_info info;
	int n_subs;
	int retval;
	uint64_t got_mask;			/* slots whose copy arrived */
	uint64_t before[PSO_CNT__MAX], after[PSO_CNT__MAX];
	const char *name;
	size_t n_errs;
};

/* One failed check, on stderr at once, so a dump follows its line; the
 * first one heads the report with the row's name and its input. */
static void __attribute__((format(printf, 2, 3)))
complain(struct outcome *o, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	if (!o->n_errs++) {
		fprintf(stderr, "%s\n", o->name);
		pkt_hexdump(stderr, "  input", o->in.b, o->in.len, NULL, 0);
	}
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

static uint16_t udp_csum_field(const uint8_t *frame, const struct pkt_info *info)
{
	return (uint16_t)(frame[info->l4_off + 6] << 8 | frame[info->l4_off + 7]);
}

static void build_frames(const struct tc_case *c, struct outcome *o)
{
	int len = pkt_build(&c->pkt, o->in.b, sizeof(o->in.b), &o->info);

	assert_true(len > 0);
	o->in.len = (size_t)len;
	if (c->in_csum)
		assert_int_equal(udp_csum_field(o->in.b, &o->info), c->in_csum);
	o->n_subs = sub_count(&c->tbl);
	/* Premises, so a row cannot silently stop testing what it says. */
	assert_true((c->sent & ~SLOTS_BELOW(o->n_subs)) == 0);
	if (c->out == OUT_SLOT)
		assert_true(c->out_slot >= 0 && c->out_slot < o->n_subs);
	for (int i = 0; i < o->n_subs; i++) {
		struct pkt_desc d = c->pkt;
		struct pso_sub s = make_sub(&c->tbl.subs[i], i);

		if (c->tbl.subs[i].hole) {
			/* No copy for a hole: neither sent nor the output. */
			assert_false(c->sent & SLOT(i));
			assert_false(c->out == OUT_SLOT && c->out_slot == i);
			continue;
		}
		if (c->sent & SLOT(i))
			assert_true(port_up(c->tbl.subs[i].port));
		copy_desc(&d, &s, c->copy_flags, BROKER_PORT, SHORT_NAME_ID);
		len = pkt_build(&d, o->want[i].b, sizeof(o->want[i].b), NULL);
		assert_int_equal(len, (int)o->in.len);
		o->want[i].len = (size_t)len;
	}
	if (c->want_csum) {
		assert_true(o->n_subs > 0);
		assert_int_equal(udp_csum_field(o->want[0].b, &o->info), c->want_csum);
	}
}

static int run_prog(struct outcome *o)
{
	uint8_t out[PKT_MAX_LEN * 2];
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = o->in.b,
		.data_size_in = (__u32)o->in.len,
		.data_out = out,
		.data_size_out = sizeof(out),
		.repeat = 1,
	);
	int err = bpf_prog_test_run_opts(w.prog_fd, &opts);

	o->retval = (int)opts.retval;
	o->out.len = opts.data_size_out < sizeof(o->out.b) ? opts.data_size_out : sizeof(o->out.b);
	memcpy(o->out.b, out, o->out.len);
	return err;
}

/* The slot a captured frame is for: its UDP destination port, where the
 * row's frame has it (every copy has the input's layout). */
static int frame_slot(const struct outcome *o, const uint8_t *f, size_t len)
{
	size_t off = o->info.l4_off + 2;
	int port;

	if (len < off + 2)
		return -1;
	port = (f[off] << 8 | f[off + 1]) - SUB_PORT_BASE;
	return port >= 0 && port < o->n_subs ? port : -1;
}

static void check_copy(struct outcome *o, const char *what, int slot,
		       const uint8_t *f, size_t len)
{
	const struct frame *want = &o->want[slot];
	char why[128];

	if (len != want->len || memcmp(f, want->b, len) != 0) {
		complain(o, "  %s for slot %d differs from the expected copy\n", what, slot);
		pkt_hexdump(stderr, "  expected", want->b, want->len, NULL, 0);
		pkt_hexdump(stderr, "  actual (* = differs)", f, len, want->b, want->len);
	}
	if (pkt_check_csums(f, len, why, sizeof(why)) != 0)
		complain(o, "  %s for slot %d, checksum: %s\n", what, slot, why);
}

/*
 * Read every port until each copy the row expects has arrived (or the
 * deadline passed), then for SILENCE_MS more: any other frame is a copy
 * that must not exist.
 */
static void collect_copies(const struct tc_case *c, struct outcome *o)
{
	uint64_t deadline = now_ms() + COPY_TIMEOUT_MS;
	bool quiet = false;

	for (;;) {
		struct pollfd pf[N_PORTS];
		int n = 0, timeout;
		uint64_t now = now_ms();

		if (!quiet && (o->got_mask & c->sent) == c->sent) {
			quiet = true;
			deadline = now + SILENCE_MS;
		}
		if (now >= deadline)
			break;
		timeout = (int)(deadline - now);
		for (int p = 0; p < N_PORTS; p++)
			if (w.tap_fd[p] >= 0 && port_up(p))
				pf[n++] = (struct pollfd){ .fd = w.tap_fd[p], .events = POLLIN };
		if (poll(pf, (nfds_t)n, timeout) <= 0)
			continue;
		for (int k = 0; k < n; k++) {
			uint8_t buf[PKT_MAX_LEN * 2];
			ssize_t len;
			int slot;

			if (!(pf[k].revents & POLLIN))
				continue;
			len = read(pf[k].fd, buf, sizeof(buf));
			if (len <= 0)
				continue;
			slot = frame_slot(o, buf, (size_t)len);
			if (slot < 0 || !(c->sent & SLOT(slot))) {
				complain(o, "  unexpected frame on a port (slot %d)\n", slot);
				pkt_hexdump(stderr, "  unexpected", buf, (size_t)len, NULL, 0);
				if (slot >= 0)
					pkt_hexdump(stderr, "  (slot's copy would be)", o->want[slot].b,
						    o->want[slot].len, NULL, 0);
				continue;
			}
			if (o->got_mask & SLOT(slot)) {
				complain(o, "  second copy for slot %d\n", slot);
				continue;
			}
			if (w.tap_fd[c->tbl.subs[slot].port] != pf[k].fd)
				complain(o, "  copy for slot %d on the wrong port\n", slot);
			o->got_mask |= SLOT(slot);
			check_copy(o, "copy", slot, buf, (size_t)len);
		}
	}
	for (int i = 0; i < o->n_subs; i++)
		if ((c->sent & SLOT(i)) && !(o->got_mask & SLOT(i)))
			complain(o, "  no copy arrived for slot %d\n", i);
}

static void check_counters(struct outcome *o, const struct tc_case *c)
{
	for (int k = 0; k < PSO_CNT__MAX; k++) {
		uint64_t delta = o->after[k] - o->before[k];

		if (delta != c->cnt[k])
			complain(o, "  counter %s moved by %llu, expected %llu\n",
				 counter_names[k], (unsigned long long)delta,
				 (unsigned long long)c->cnt[k]);
	}
}

static void check_out(struct outcome *o, const struct tc_case *c)
{
	switch (c->out) {
	case OUT_INPUT:
		if (o->out.len != o->in.len || memcmp(o->out.b, o->in.b, o->in.len)) {
			complain(o, "  skb after the run differs from the input\n");
			pkt_hexdump(stderr, "  actual (* = differs)", o->out.b, o->out.len,
				    o->in.b, o->in.len);
		}
		break;
	case OUT_SLOT:
		check_copy(o, "skb after the run (the original as last copy)",
			   c->out_slot, o->out.b, o->out.len);
		break;
	case OUT_CONSUMED:
		break;
	}
}

static struct evcatch events;
static int want_cause = -1;	/* the tc_drop event's cause, -1: any drop cause */

static bool is_xdp_drop(uint32_t c)
{
	return c >= PSO_CNT_XDP_DROP_TRUNCATED && c <= PSO_CNT_XDP_DROP_TTL;
}

/* One event per event counter the row moves, none for the rest. */
static void check_events(struct outcome *o, const struct tc_case *c)
{
	size_t n = evcatch_drain(&events), want = 0;
	char why[512] = "";

	for (int k = 0; k < PSO_CNT__MAX; k++) {
		const struct pso_event *ev = NULL;

		if (!c->cnt[k] || !(PSO_EVENT_REASONS & PSO_EVENT_BIT(k)))
			continue;
		want++;
		for (size_t i = 0; i < n; i++)
			if (events.ev[i].reason == k)
				ev = &events.ev[i];
		if (!ev) {
			complain(o, "  no event for %s\n", counter_names[k]);
			continue;
		}
		/* A drop names its cause: an XDP drop counter, or tc_drop
		 * itself for the program's own trouble. */
		if (evcatch_check(ev, &c->pkt, &o->info, (uint32_t)k,
				  k != PSO_CNT_TC_DROP ? (uint32_t)k :
				  want_cause >= 0 ? (uint32_t)want_cause :
				  is_xdp_drop(ev->cause) || ev->cause == PSO_CNT_TC_DROP ?
				  ev->cause : (uint32_t)k,
				  k == PSO_CNT_TC_DROP ? 1 : (uint32_t)c->cnt[k],
				  k != PSO_CNT_TC_DROP, why, sizeof(why)))
			complain(o, "%s", why);
	}
	if (n != want)
		complain(o, "  %zu event(s), expected %zu\n", n, want);
}

/* ---- The tests ---------------------------------------------------------- */

static void test_tc_case(void **state)
{
	const struct tc_case *c = *state;
	struct pso_endpoint ep = row_client(&c->pkt);
	__u32 stats_topic = c->pkt.topic_id;
	uint64_t rx_before, rx, st_before, st;
	struct outcome *o = calloc(1, sizeof(*o));
	size_t n_errs;

	assert_non_null(o);
	o->name = c->name;
	build_frames(c, o);
	drain_taps();
	evcatch_drain(&events);
	read_counters(o->before);
	rx_before = client_rx(&ep);
	st_before = read_stats(stats_topic);
	assert_int_equal(run_prog(o), 0);
	read_counters(o->after);
	rx = client_rx(&ep) - rx_before;
	st = read_stats(stats_topic) - st_before;

	if (o->retval != c->verdict)
		complain(o, "  verdict %s, expected %s\n", verdict_name(o->retval),
			 verdict_name(c->verdict));
	collect_copies(c, o);
	check_out(o, c);
	check_counters(o, c);
	check_events(o, c);
	if (rx != c->rx)
		complain(o, "  client rx_msgs moved by %llu, expected %llu\n",
			 (unsigned long long)rx, (unsigned long long)c->rx);
	/* Topic stats are XDP's, counted before it passes a publish up. */
	if (st)
		complain(o, "  topic stats moved\n");

	n_errs = o->n_errs;
	free(o);
	if (n_errs)
		fail_msg("%s: %zu check(s) failed, see above", c->name, n_errs);
}

/* tc_drop's causes: the XDP counter of the same reason. */
static const struct cause_case {
	struct tc_case c;	/* first: the state test_tc_case() reads */
	enum pso_counter cause;
} cause_cases[] = {
	{ { "event cause: publisher not connected",
	    .pkt = PKT4(), .tbl = TBL(.client = false, .subs = { S4(PORT_A) }), DROP(0) },
	  PSO_CNT_XDP_DROP_NOT_CONNECTED },
	{ { "event cause: undefined message type",
	    .pkt = PKT4(.msg_type = 0x03, .data_len = 4), .tbl = TBL(.subs = { S4(PORT_A) }),
	    DROP(0) },
	  PSO_CNT_XDP_DROP_MALFORMED },
	{ { "event cause: MQTT-SN length disagrees with UDP",
	    .pkt = PKT4(.msg_len_adjust = -1), .tbl = TBL(.subs = { S4(PORT_A) }), DROP(0) },
	  PSO_CNT_XDP_DROP_LENGTH },
	{ { "event cause: topic without subscribers",
	    .pkt = PKT4(), .tbl = TBL(), DROP(1) },
	  PSO_CNT_XDP_DROP_NO_SUBSCRIBER },
};
#define N_CAUSE_CASES (sizeof(cause_cases) / sizeof(cause_cases[0]))

static void test_tc_cause(void **state)
{
	const struct cause_case *cc = *state;

	want_cause = (int)cc->cause;
	test_tc_case(state);
	want_cause = -1;
}

/*
 * A run at scale, apart from the rows (whose slot sets are 64-bit masks):
 * BIG_SLOTS slots of a run of BIG_RUN, with holes scattered (every 7th
 * slot, a removed subscriber's) and a block of them (BIG_GAP_LEN slots,
 * a group that left), both up ports alternating.  The publish goes to
 * every live slot once: a clone each but the last live slot, which the
 * original serves (TC_ACT_REDIRECT); tc_copies counts them all, tc_fanout
 * once, nothing else moves.  Every copy is compared byte for byte with the
 * one tests/lib/pkt.c builds for its slot, checksums checked from scratch.
 */
#define BIG_RUN		2048
#define BIG_SLOTS	1300
#define BIG_BASE	(1u << 19)	/* aligned to BIG_RUN, away from the rows' */
#define BIG_GAP		500
#define BIG_GAP_LEN	40
#define BIG_TIMEOUT_MS	5000

static bool big_hole(int i)
{
	return i % 7 == 3 || (i >= BIG_GAP && i < BIG_GAP + BIG_GAP_LEN);
}

static struct tc_sub big_sub(int i)
{
	if (big_hole(i))
		return (struct tc_sub){ .hole = true };
	return (struct tc_sub){ .family = PSO_AF_INET, .port = i % 2 ? PORT_B : PORT_A };
}

static void big_write(const struct pkt_desc *pd, int *live, int *last)
{
	struct pso_endpoint ep = row_client(pd);
	struct pso_client_val val = { 0 };
	struct pso_topic topic = { .flags = PSO_TOPIC_F_VALID };
	struct pso_run run = { .cur = 1, .base = { 0, BIG_BASE }, .cap = { 1, BIG_RUN } };
	__u32 key;

	write_port_cfg();
	assert_int_equal(bpf_map_update_elem(w.clients_fd, &ep, &val, BPF_ANY), 0);
	*live = 0;
	*last = -1;
	for (int i = 0; i < BIG_SLOTS; i++) {
		struct tc_sub r = big_sub(i);
		struct pso_sub sl = make_sub(&r, i);

		key = BIG_BASE + (__u32)i;
		assert_int_equal(bpf_map_update_elem(w.subs_fd, &key, &sl, BPF_ANY), 0);
		if (r.hole)
			continue;
		if (!(*live)++)
			topic.first = sl;
		*last = i;
	}
	topic.sub_count = (uint16_t)*live;
	key = TOPIC;
	assert_int_equal(bpf_map_update_elem(w.runs_fd, &key, &run, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(w.topics_fd, &key, &topic, BPF_ANY), 0);
}

static void big_clear(void)
{
	static const struct pso_topic no_topic;
	static const struct pso_run no_run;
	static const struct pso_sub no_sub;
	__u32 key = TOPIC;

	delete_all(w.port_cfg_fd);
	delete_all(w.clients_fd);
	assert_int_equal(bpf_map_update_elem(w.topics_fd, &key, &no_topic, BPF_ANY), 0);
	assert_int_equal(bpf_map_update_elem(w.runs_fd, &key, &no_run, BPF_ANY), 0);
	for (int i = 0; i < BIG_SLOTS; i++) {
		key = BIG_BASE + (__u32)i;
		assert_int_equal(bpf_map_update_elem(w.subs_fd, &key, &no_sub, BPF_ANY), 0);
	}
}

/* A copy against its slot's expected frame: bytes and checksums. */
static void big_check(struct outcome *o, const struct frame *want, const char *what, int slot,
		      const uint8_t *f, size_t len)
{
	char why[128];

	if (len != want->len || memcmp(f, want->b, len) != 0) {
		complain(o, "  %s for slot %d differs from the expected copy\n", what, slot);
		pkt_hexdump(stderr, "  expected", want->b, want->len, NULL, 0);
		pkt_hexdump(stderr, "  actual (* = differs)", f, len, want->b, want->len);
	}
	if (pkt_check_csums(f, len, why, sizeof(why)) != 0)
		complain(o, "  %s for slot %d, checksum: %s\n", what, slot, why);
}

static void test_tc_big_run(void **state)
{
	struct pkt_desc pd = PKT4();
	struct outcome *o = calloc(1, sizeof(*o));
	struct frame *want = calloc(BIG_SLOTS, sizeof(*want));
	bool *got = calloc(BIG_SLOTS, sizeof(*got));
	int live, last, ngot = 0, len;
	uint64_t deadline;
	size_t n_errs;

	(void)state;
	assert_true(o && want && got);
	assert_true(BIG_SLOTS <= BIG_RUN && BIG_RUN <= PSO_MAX_RUN && BIG_BASE % BIG_RUN == 0);
	o->name = "fan-out over a run of 2048: 1300 slots, 1080 subscribers";
	len = pkt_build(&pd, o->in.b, sizeof(o->in.b), &o->info);
	assert_true(len > 0);
	o->in.len = (size_t)len;
	big_write(&pd, &live, &last);
	assert_true(live == 1080 && last > BIG_GAP + BIG_GAP_LEN);
	for (int i = 0; i < BIG_SLOTS; i++) {
		struct tc_sub r = big_sub(i);
		struct pso_sub sl = make_sub(&r, i);
		struct pkt_desc d = pd;

		if (r.hole)
			continue;
		copy_desc(&d, &sl, 0, BROKER_PORT, SHORT_NAME_ID);
		len = pkt_build(&d, want[i].b, sizeof(want[i].b), NULL);
		assert_int_equal(len, (int)o->in.len);
		want[i].len = (size_t)len;
	}
	drain_taps();
	evcatch_drain(&events);
	read_counters(o->before);
	assert_int_equal(run_prog(o), 0);
	read_counters(o->after);
	if (o->retval != TC_ACT_REDIRECT)
		complain(o, "  verdict %s, expected TC_ACT_REDIRECT\n", verdict_name(o->retval));
	/* The clones: one per live slot but the last, each once, on its port. */
	deadline = now_ms() + BIG_TIMEOUT_MS;
	while (ngot < live - 1 || now_ms() < deadline) {
		struct pollfd pf[2] = { { .fd = w.tap_fd[PORT_A], .events = POLLIN },
					{ .fd = w.tap_fd[PORT_B], .events = POLLIN } };
		uint64_t now = now_ms();

		if (ngot == live - 1 && deadline > now + SILENCE_MS)
			deadline = now + SILENCE_MS;	/* then: nothing more */
		if (now >= deadline || poll(pf, 2, (int)(deadline - now)) <= 0)
			break;
		for (int k = 0; k < 2; k++) {
			uint8_t buf[PKT_MAX_LEN * 2];
			size_t off = o->info.l4_off + 2;
			ssize_t n;
			int slot;

			if (!(pf[k].revents & POLLIN))
				continue;
			while ((n = read(pf[k].fd, buf, sizeof(buf))) > 0) {
				slot = (size_t)n >= off + 2 ?
				       (buf[off] << 8 | buf[off + 1]) - SUB_PORT_BASE : -1;
				if (slot < 0 || slot >= BIG_SLOTS || big_hole(slot) || slot == last) {
					complain(o, "  unexpected frame (slot %d)\n", slot);
					continue;
				}
				if (got[slot]) {
					complain(o, "  second copy for slot %d\n", slot);
					continue;
				}
				if (pf[k].fd != w.tap_fd[big_sub(slot).port])
					complain(o, "  copy for slot %d on the wrong port\n", slot);
				got[slot] = true;
				ngot++;
				big_check(o, &want[slot], "copy", slot, buf, (size_t)n);
			}
		}
	}
	for (int i = 0; i < BIG_SLOTS; i++)
		if (!big_hole(i) && i != last && !got[i])
			complain(o, "  no copy arrived for slot %d\n", i);
	/* The last live slot's copy is the original, handed back. */
	big_check(o, &want[last], "skb after the run (the original as last copy)", last,
		  o->out.b, o->out.len);
	for (int k = 0; k < PSO_CNT__MAX; k++) {
		uint64_t delta = o->after[k] - o->before[k];
		uint64_t expect = k == PSO_CNT_TC_FANOUT ? 1 : k == PSO_CNT_TC_COPIES ? (uint64_t)live : 0;

		if (delta != expect)
			complain(o, "  counter %s moved by %llu, expected %llu\n", counter_names[k],
				 (unsigned long long)delta, (unsigned long long)expect);
	}
	if (evcatch_drain(&events))
		complain(o, "  events, expected none\n");
	big_clear();
	n_errs = o->n_errs;
	free(got);
	free(want);
	free(o);
	if (n_errs)
		fail_msg("%zu check(s) failed, see above", n_errs);
}

static int case_setup(void **state)
{
	write_tables(*state);
	return 0;
}

static int case_teardown(void **state)
{
	clear_tables(*state);
	return 0;
}

/* ---- Runner ------------------------------------------------------------- */

static int write_sysctl(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	ok = write(fd, val, strlen(val)) == (ssize_t)strlen(val);
	close(fd);
	return ok ? 0 : -1;
}

/* A TAP device named name, up or not; returns its fd (non-blocking). */
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
	if (ioctl(s, SIOCGIFINDEX, &ifr) < 0)
		goto fail_s;
	*ifindex = ifr.ifr_ifindex;
	/* No ARP, and IPv6 is off in this namespace: the kernel sends
	 * nothing of its own on the device, every frame read is a copy. */
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		goto fail_s;
	ifr.ifr_flags |= IFF_NOARP | (up ? IFF_UP : 0);
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		goto fail_s;
	/* A queue for a whole run's copies at once (test_tc_big_run): the
	 * test run sends them all before any is read. */
	ifr.ifr_qlen = TAP_QLEN;
	if (ioctl(s, SIOCSIFTXQLEN, &ifr) < 0)
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
	/* A netns of our own: lo is ifindex 1, the taps cannot clash with
	 * anything on the host and die with the process. */
	if (unshare(CLONE_NEWNET) != 0) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (run as root)\n", strerror(errno));
		return -1;
	}
	libbpf_set_print(libbpf_quiet);
	write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
	for (int p = 0; p < N_PORTS; p++) {
		if (p == PORT_MISSING) {
			w.ifindex[p] = MISSING_IFINDEX;
			continue;
		}
		w.tap_fd[p] = tap_open(port_names[p], port_up(p), &w.ifindex[p]);
		if (w.tap_fd[p] < 0)
			return -1;
	}
	w.skel = psoffload_tc__open_and_load();
	if (!w.skel) {
		fprintf(stderr, "cannot load psoffload_tc (run as root)\n");
		return -1;
	}
	w.prog_fd = bpf_program__fd(w.skel->progs.psoffload_tc);
	w.port_cfg_fd = bpf_map__fd(w.skel->maps.pso_port_cfg);
	w.topics_fd = bpf_map__fd(w.skel->maps.pso_topics);
	w.subs_fd = bpf_map__fd(w.skel->maps.pso_subs);
	w.runs_fd = bpf_map__fd(w.skel->maps.pso_topic_runs);
	w.short_names_fd = bpf_map__fd(w.skel->maps.pso_short_names);
	w.clients_fd = bpf_map__fd(w.skel->maps.pso_clients);
	w.counters_fd = bpf_map__fd(w.skel->maps.pso_counters);
	w.stats_fd = bpf_map__fd(w.skel->maps.pso_topic_stats);
	w.ncpus = libbpf_num_possible_cpus();
	{
		/* Pool slot 0: the decoy every row's unused half points at; a
		 * copy to it (port SUB_PORT_BASE + 200) is a frame no row
		 * expects. */
		static const struct tc_sub decoy = { .family = PSO_AF_INET, .port = PORT_A };
		struct pso_sub s = make_sub(&decoy, 200);
		__u32 key = 0;

		if (bpf_map_update_elem(w.subs_fd, &key, &s, BPF_ANY))
			return -1;
	}
	if (evcatch_open(&events, bpf_map__fd(w.skel->maps.pso_events),
			 bpf_map__fd(w.skel->maps.pso_event_cfg),
			 bpf_map__fd(w.skel->maps.pso_event_buckets))) {
		fprintf(stderr, "cannot read the event ring buffer\n");
		return -1;
	}
	evcatch_set_rate(&events, PSO_EVENT_RATE_MAX, PSO_EVENT_RATE_MAX);
	return w.ncpus > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	for (int p = 0; p < N_PORTS; p++)
		if (w.tap_fd[p] >= 0)
			close(w.tap_fd[p]);	/* a non-persistent tap goes with its fd */
	evcatch_close(&events);
	psoffload_tc__destroy(w.skel);
	return 0;
}

int main(void)
{
	size_t n = N_CASES + N_CAUSE_CASES + 1;
	struct CMUnitTest *tests = calloc(n, sizeof(*tests));
	int failed;

	if (!tests)
		return 1;
	for (size_t i = 0; i < N_CASES; i++)
		tests[i] = (struct CMUnitTest){
			.name = tc_cases[i].name,
			.test_func = test_tc_case,
			.setup_func = case_setup,
			.teardown_func = case_teardown,
			.initial_state = (void *)&tc_cases[i],
		};
	for (size_t i = 0; i < N_CAUSE_CASES; i++)
		tests[N_CASES + i] = (struct CMUnitTest){
			.name = cause_cases[i].c.name,
			.test_func = test_tc_cause,
			.setup_func = case_setup,
			.teardown_func = case_teardown,
			.initial_state = (void *)&cause_cases[i],
		};
	tests[n - 1] = (struct CMUnitTest){
		.name = "fan-out over a run of 2048: 1300 slots, 1080 subscribers, holes "
			"scattered and a block",
		.test_func = test_tc_big_run,
	};
	/* The table is built at run time, so the group runner is called
	 * directly instead of through cmocka_run_group_tests(). */
	failed = _cmocka_run_group_tests("tc_packets", tests, n, group_setup, group_teardown);
	free(tests);
	return failed;
}
