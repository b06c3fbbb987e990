// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tcpbench.c - experiment loop of the library-driven bench clients (see
 * tcpbench.h): probe every fan-out, throughput points (closed loop), then
 * latency points (paced); CSV rows through benchlib.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tcpbench.h"

static int level_index(const struct tb *t, int fan)
{
	for (int l = 0; l < t->n_levels; l++)
		if (t->levels[l] == fan)
			return l;
	return -1;
}

static void snapshot(struct tb *t, uint64_t *v)
{
	for (int i = 0; i < t->n_subs; i++)
		v[i] = atomic_load_explicit(&t->recv[i], memory_order_relaxed);
}

static uint64_t total(struct tb *t)
{
	uint64_t s = 0;

	for (int i = 0; i < t->n_subs; i++)
		s += atomic_load_explicit(&t->recv[i], memory_order_relaxed);
	return s;
}

/* Until deliveries stop coming (100 ms without one), at most 10 s. */
static void drain(struct tb *t)
{
	double end = bl_now() + 10, quiet_since = bl_now();
	uint64_t last = total(t);

	while (bl_now() < end && bl_now() - quiet_since < 0.1 && !bl_stop_requested()) {
		uint64_t now_total;

		t->be->pump(t, 1000);
		now_total = total(t);
		if (now_total != last) {
			last = now_total;
			quiet_since = bl_now();
		}
	}
}

/* Fewest messages any subscriber of the fan-out received since base. */
static uint64_t slowest(struct tb *t, int fan, const uint64_t *base)
{
	uint64_t m = UINT64_MAX;

	for (int i = 0; i < fan; i++) {
		uint64_t v = atomic_load_explicit(&t->recv[i], memory_order_relaxed) - base[i];

		if (v < m)
			m = v;
	}
	return m;
}

static void probe(struct tb *t, int li)
{
	int fan = t->levels[li];
	uint8_t payload[64];
	uint64_t before[BL_MAX_SUBS], after[BL_MAX_SUBS];
	const int want = 100;

	bl_fill_payload(payload, sizeof(payload));
	for (int attempt = 0; attempt < 20 && !bl_stop_requested(); attempt++) {
		bool ok = true;
		int sent = 0;
		double end = bl_now() + 2;

		snapshot(t, before);
		while (sent < want && bl_now() < end) {
			bl_stamp_payload(payload);
			if (t->be->publish(t, li, payload, sizeof(payload)) == 0)
				sent++;
			t->be->pump(t, 0);
		}
		drain(t);
		snapshot(t, after);
		for (int i = 0; i < t->n_subs; i++) {
			uint64_t got = after[i] - before[i];

			if (i < fan ? got < (uint64_t)sent * 9 / 10 || !sent : got != 0)
				ok = false;
		}
		if (ok)
			return;
		bl_sleep(0.2);
	}
	bl_die("%s: fan-out %d: deliveries do not reach exactly the %d subscribers", t->be->name,
	       fan, fan);
}

static void tput_point(struct tb *t, int fan, int payload_len, int rep)
{
	int li = level_index(t, fan);
	uint8_t payload[1500];
	uint64_t base[BL_MAX_SUBS], r0[BL_MAX_SUBS], r1[BL_MAX_SUBS], sent = 0, s0 = 0, s1 = 0;
	struct bl_window w;
	struct bl_tput_row r = { .fanout = fan, .payload = payload_len, .rep = rep };
	double t_w0, t_w1, secs;
	bool in_window = false;
	uint64_t window = TB_WINDOW_BYTES / ((uint64_t)payload_len * fan);

	window = window < TB_WINDOW_MIN ? TB_WINDOW_MIN : window > TB_WINDOW_MAX ? TB_WINDOW_MAX : window;
	bl_fill_payload(payload, payload_len);
	bl_place_napi(&t->o);
	drain(t);
	snapshot(t, base);
	t_w0 = bl_now() + t->o.warmup_s;
	t_w1 = t_w0 + t->o.duration_s;
	while (!bl_stop_requested()) {
		double now = bl_now();
		uint64_t lag_floor = slowest(t, fan, base);
		int burst = 0;

		if (!in_window && now >= t_w0) {
			snapshot(t, r0);
			s0 = sent;
			bl_window_start(&w);
			in_window = true;
		} else if (in_window && now >= t_w1) {
			bl_window_stop(&w);
			snapshot(t, r1);
			s1 = sent;
			break;
		}
		while (sent - lag_floor < window && burst < 64) {
			bl_stamp_payload(payload);
			if (t->be->publish(t, li, payload, payload_len))
				break;
			sent++;
			burst++;
		}
		t->be->pump(t, burst ? 0 : 200);
	}
	secs = w.t1 - w.t0;
	r.duration_s = secs;
	r.offered = (s1 - s0) / secs;
	r.sub_min = 1e18;
	for (int i = 0; i < fan; i++) {
		double v = (r1[i] - r0[i]) / secs;

		r.delivered += v;
		r.sub_min = v < r.sub_min ? v : r.sub_min;
		r.sub_max = v > r.sub_max ? v : r.sub_max;
	}
	r.sub_avg = r.delivered / fan;
	bl_write_tput(&t->o, &w, &r);
}

static void lat_point(struct tb *t, int fan, int level)
{
	int li = level_index(t, fan), payload_len = t->o.lat_payload;
	double cap = bl_capacity(fan, payload_len), rate = cap * level / 100.0, t0, secs;
	static uint64_t h0[LG_HIST_BUCKETS], h1[LG_HIST_BUCKETS];
	uint64_t r0[BL_MAX_SUBS], r1[BL_MAX_SUBS], sent = 0, s0 = 0, s1 = 0;
	uint8_t payload[1500];
	struct bl_window w;
	struct bl_lat_row r = { .fanout = fan, .payload = payload_len, .level = level,
				.target = rate, .hist = h1 };
	bool in_window = false;
	double t_w0, t_w1;

	if (cap <= 0)
		bl_die("latency at fan-out %d: no throughput point with payload %d measured first", fan,
		       payload_len);
	bl_fill_payload(payload, payload_len);
	bl_place_napi(&t->o);
	drain(t);
	t0 = bl_now();
	t_w0 = t0 + 0.2;
	t_w1 = t_w0 + t->o.lat_duration_s;
	while (!bl_stop_requested()) {
		double now = bl_now(), due;
		int burst = 0;

		if (!in_window && now >= t_w0) {
			for (int b = 0; b < LG_HIST_BUCKETS; b++)
				h0[b] = atomic_load_explicit(&t->hist[b], memory_order_relaxed);
			snapshot(t, r0);
			s0 = sent;
			bl_window_start(&w);
			in_window = true;
		} else if (in_window && now >= t_w1) {
			bl_window_stop(&w);
			s1 = sent;
			break;
		}
		due = rate * (now - t0) - sent;
		while (due >= 1 && burst < 64) {
			bl_stamp_payload(payload);
			if (t->be->publish(t, li, payload, payload_len))
				break;
			sent++;
			burst++;
			due--;
		}
		/* Until the next one is due, at most 1 ms. */
		due = (1 - due) / rate * 1e6;
		t->be->pump(t, due > 1000 ? 1000 : due < 0 ? 0 : (int)due);
	}
	drain(t);	/* the window's last messages */
	snapshot(t, r1);
	for (int b = 0; b < LG_HIST_BUCKETS; b++)
		h1[b] = atomic_load_explicit(&t->hist[b], memory_order_relaxed) - h0[b];
	secs = w.t1 - w.t0;
	r.offered = (s1 - s0) / secs;
	for (int i = 0; i < fan; i++)
		r.delivered += (r1[i] - r0[i]) / secs;
	bl_write_lat(&t->o, &w, &r);
}

static void usage(FILE *f, const struct tb_backend *be, const char *prog)
{
	fprintf(f,
		"usage: %s --host ADDR [--port N] [OPTIONS]\n"
		"  publisher and N subscribers of %s through its C client library\n"
		"  --host ADDR            the broker; --port N: its port (%d)\n"
		BL_COMMON_USAGE,
		prog, be->name, be->default_port);
}

int tb_main(const struct tb_backend *be, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		BL_COMMON_LONGOPTS,
		{}
	};
	static struct tb t;
	int opt;

	bl_opts_init(&t.o);
	t.o.system = be->name;
	t.be = be;
	t.port = be->default_port;
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int c = bl_common_opt(&t.o, opt, optarg);

		if (c < 0)
			bl_die("bad value for option %d: %s", opt, optarg);
		if (c)
			continue;
		switch (opt) {
		case 'H': t.host = optarg; break;
		case 'p': t.port = atoi(optarg); break;
		case 'h': usage(stdout, be, argv[0]); return 0;
		default: usage(stderr, be, argv[0]); return 2;
		}
	}
	if (!t.host || bl_opts_done(&t.o)) {
		usage(stderr, be, argv[0]);
		return 2;
	}
	bl_catch_signals();
	/* Every thread the libraries start inherits the generator CPU. */
	if (bl_pin_self(t.o.gen_cpu))
		bl_die("cannot pin to CPU %d", t.o.gen_cpu);
	for (int i = 0; i < t.o.n_fanouts + t.o.n_lat_fanouts; i++) {
		int f = i < t.o.n_fanouts ? t.o.fanouts[i] : t.o.lat_fanouts[i - t.o.n_fanouts];

		if (level_index(&t, f) < 0)
			t.levels[t.n_levels++] = f;
		t.n_subs = f > t.n_subs ? f : t.n_subs;
	}
	if (be->setup(&t))
		return 1;
	bl_place_napi(&t.o);
	for (int l = 0; l < t.n_levels; l++)
		probe(&t, l);
	bl_progress(&t.o, "%d subscribers, every fan-out probed", t.n_subs);

	for (int r = 1; r <= t.o.repeats && !bl_stop_requested(); r++)
		for (int p = 0; p < t.o.n_payloads && !bl_stop_requested(); p++)
			for (int f = 0; f < t.o.n_fanouts && !bl_stop_requested(); f++)
				tput_point(&t, t.o.fanouts[f], t.o.payloads[p], r);
	for (int f = 0; f < t.o.n_lat_fanouts && !bl_stop_requested(); f++)
		for (int l = 0; l < t.o.n_lat_levels && !bl_stop_requested(); l++)
			lat_point(&t, t.o.lat_fanouts[f], t.o.lat_levels[l]);
	be->teardown(&t);
	return bl_stop_requested() ? 1 : 0;
}
