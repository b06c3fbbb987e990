// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * loadgen.c - packet-rate load generator for the MQTT-SN brokers (psoffload,
 * the baseline) and the XDP_TX floor.
 *
 * Runs in the generator/subscriber namespace, on the generator CPU:
 *   - N subscribers, one UDP socket each (ports BASE..BASE+N-1), CONNECT and
 *     SUBSCRIBE through the real control protocol to topics "bench/fF", one
 *     topic per fan-out F, subscriber i on every topic with F > i;
 *   - a publisher socket that CONNECTs and REGISTERs those topics, so the
 *     broker admits its QoS 0 publishes;
 *   - the sink (loadgen.bpf.c) in native mode on the device: it counts the
 *     deliveries per subscriber port and drops them, and samples latency;
 *   - the injector: BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES sends
 *     the publisher's PUBLISH frame into the broker's receive ring, at a
 *     rate it paces itself: ramped up to flat out, then at the rate that
 *     delivered most (throughput, see tput_point), or fixed (latency).
 * With --floor there is no control protocol: the frame goes to the floor
 * program (bench/floor_xdp.bpf.c) on the broker side, which sends it back to
 * the publisher port, where the sink counts it.
 *
 * Writes one CSV row per measured point (benchlib.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "benchlib.h"
#include "proto/mqttsn.h"
#include "loadgen.skel.h"

#define TOPIC_FMT "bench/f%d"
/* Subscriber sockets, one port each from --base-port: the largest fan-out. */
#define LG_MAX_SUBS 4096
#define PACED_BATCH 8

struct lg {
	struct bl_opts o;
	const char *dev;
	int ifindex;
	uint8_t mac[6], dst_mac[6];
	bool have_dst_mac, floor;
	struct in_addr src_ip;
	struct sockaddr_in broker;
	int ncpus;
	struct loadgen *skel;
	bool sink_attached;
	int pub_fd;
	uint16_t pub_port, base_port;
	int sub_fd[LG_MAX_SUBS];
	int n_subs;
	int levels[2 * BL_MAX_LIST], n_levels;	/* every fan-out used */
	/* The broker refused a subscriber of the level's topic (it holds
	 * fewer on a topic): its points are skipped, with a line each. */
	int refused_sub[2 * BL_MAX_LIST];	/* the subscriber refused + 1, or 0 */
	uint8_t refused_rc[2 * BL_MAX_LIST];
	uint16_t topic[2 * BL_MAX_LIST];	/* topic id per level */
	uint8_t frame[1600];
	uint32_t frame_len;
	uint32_t batch;		/* live-frames batch size, flat out */
	bool ramping;		/* throughput point: rate changes on the fly */
	uint32_t cur_batch;	/* of the test run going on: paced runs flush
				 * after every few frames, so a due frame
				 * does not wait for a batch to fill */
};

static struct lg G;

/* ---- control protocol (MQTT-SN over the sockets) ------------------------ */

/* Send req, wait for a reply of type want (and msg_id when non-zero). */
static int ctl(int fd, const struct mqttsn_msg *req, uint8_t want, uint16_t msg_id,
	       uint8_t *rc_out, uint16_t *topic_out)
{
	uint8_t out[512], in[2048];
	ssize_t n = mqttsn_encode(req, out, sizeof(out));

	if (n < 0)
		return -EINVAL;
	for (int attempt = 0; attempt < 10 && !bl_stop_requested(); attempt++) {
		double deadline = bl_now() + 0.3;

		if (sendto(fd, out, n, 0, (struct sockaddr *)&G.broker, sizeof(G.broker)) != n)
			return -errno;
		while (bl_now() < deadline) {
			struct pollfd p = { .fd = fd, .events = POLLIN };
			struct mqttsn_msg m;
			ssize_t len;

			if (poll(&p, 1, 50) <= 0)
				continue;
			len = recv(fd, in, sizeof(in), 0);
			if (len <= 0 || mqttsn_decode(in, len, &m) || m.type != want)
				continue;
			if (msg_id && m.msg_id != msg_id)
				continue;
			if (rc_out)
				*rc_out = m.return_code;
			if (topic_out)
				*topic_out = m.topic_id;
			return 0;
		}
	}
	return -ETIMEDOUT;
}

static int udp_socket(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr = G.src_ip };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		bl_die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
		bl_die("bind to %s:%u: %s", inet_ntoa(G.src_ip), port, strerror(errno));
	return fd;
}

static void mqtt_connect(int fd, const char *id)
{
	struct mqttsn_msg m = { .type = MQTTSN_CONNECT, .flags = MQTTSN_FLAG_CLEAN_SESSION,
				.duration = 0, .data = (const uint8_t *)id, .data_len = strlen(id) };
	uint8_t rc = 0xff;

	/* Keep-alive 0: the broker never expires these clients mid-run. */
	if (ctl(fd, &m, MQTTSN_CONNACK, 0, &rc, NULL) || rc != MQTTSN_RC_ACCEPTED)
		bl_die("%s: no CONNACK accepted from %s (rc 0x%02x)", id, inet_ntoa(G.broker.sin_addr),
		       rc);
}

static void mqtt_disconnect(int fd)
{
	struct mqttsn_msg m = { .type = MQTTSN_DISCONNECT };
	uint8_t out[16];
	ssize_t n = mqttsn_encode(&m, out, sizeof(out));

	if (n > 0)
		sendto(fd, out, n, 0, (struct sockaddr *)&G.broker, sizeof(G.broker));
}

static void control_setup(void)
{
	char name[32], id[24];
	uint16_t msg_id = 1;
	struct rlimit nofile;

	/* A socket per subscriber: up to 4,096, past a default soft limit
	 * of 1,024 descriptors. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < (rlim_t)G.n_subs + 64) {
		nofile.rlim_cur = nofile.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &nofile) || nofile.rlim_cur < (rlim_t)G.n_subs + 64)
			bl_die("%d subscriber sockets: the descriptor limit is %llu", G.n_subs,
			       (unsigned long long)nofile.rlim_cur);
	}

	G.pub_fd = udp_socket(G.pub_port);
	if (G.floor)
		return;
	mqtt_connect(G.pub_fd, "lg-pub");
	for (int l = 0; l < G.n_levels; l++) {
		struct mqttsn_msg m = { .type = MQTTSN_REGISTER, .msg_id = msg_id };
		uint8_t rc = 0xff;

		snprintf(name, sizeof(name), TOPIC_FMT, G.levels[l]);
		m.data = (const uint8_t *)name;
		m.data_len = strlen(name);
		if (ctl(G.pub_fd, &m, MQTTSN_REGACK, msg_id++, &rc, &G.topic[l]) || rc)
			bl_die("REGISTER %s refused or unanswered (rc 0x%02x)", name, rc);
	}
	for (int i = 0; i < G.n_subs; i++) {
		G.sub_fd[i] = udp_socket(G.base_port + i);
		snprintf(id, sizeof(id), "lg-s%02d", i);
		mqtt_connect(G.sub_fd[i], id);
		for (int l = 0; l < G.n_levels; l++) {
			struct mqttsn_msg m = { .type = MQTTSN_SUBSCRIBE, .msg_id = msg_id,
						.flags = MQTTSN_FLAG_QOS_0 | MQTTSN_TOPIC_NORMAL };
			uint8_t rc = 0xff;
			uint16_t tid = 0;

			if (i >= G.levels[l] || G.refused_sub[l])
				continue;
			snprintf(name, sizeof(name), TOPIC_FMT, G.levels[l]);
			m.data = (const uint8_t *)name;
			m.data_len = strlen(name);
			if (ctl(G.sub_fd[i], &m, MQTTSN_SUBACK, msg_id++, &rc, &tid))
				bl_die("%s: SUBSCRIBE %s unanswered", id, name);
			if (rc) {
				G.refused_sub[l] = i + 1;
				G.refused_rc[l] = rc;
				fprintf(stderr, "loadgen: %s: fan-out %d skipped: the broker refused "
					"subscriber %d of topic %s (SUBACK 0x%02x)\n", G.o.system,
					G.levels[l], i + 1, name, rc);
				continue;
			}
			if (tid != G.topic[l])
				bl_die("%s: SUBACK topic id %u, REGACK gave %u: ids not global", id, tid,
				       G.topic[l]);
		}
	}
}

static void control_teardown(void)
{
	for (int i = 0; i < G.n_subs; i++) {
		if (G.sub_fd[i] > 0) {
			mqtt_disconnect(G.sub_fd[i]);
			close(G.sub_fd[i]);
		}
	}
	if (G.pub_fd > 0) {
		if (!G.floor)
			mqtt_disconnect(G.pub_fd);
		close(G.pub_fd);
	}
}

/* ---- the frame ---------------------------------------------------------- */

/* Unfolded sum of native-order 16-bit words (see loadgen.h). */
static uint32_t sum16(uint32_t acc, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2) {
		uint16_t w;

		memcpy(&w, p + i, 2);
		acc += w;
	}
	if (len & 1) {
		uint8_t last[2] = { p[len - 1], 0 };
		uint16_t w;

		memcpy(&w, last, 2);
		acc += w;
	}
	return acc;
}

static uint16_t fold_not(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return ~s;
}

/* Ethernet + IPv4 + UDP + MQTT-SN PUBLISH (QoS 0) to topic with payload
 * bytes, timestamp zero; sets the injector's template and checksum base. */
static void build_frame(uint16_t topic, int payload)
{
	uint8_t *f = G.frame, pl[1500], pseudo[12];
	struct mqttsn_msg m = { .type = MQTTSN_PUBLISH, .flags = MQTTSN_FLAG_QOS_0 |
				MQTTSN_TOPIC_NORMAL, .topic_id = topic, .msg_id = 0,
				.data = pl, .data_len = payload };
	uint64_t magic = LG_MAGIC;
	struct lg_inject_cfg *cfg = &G.skel->bss->inject_cfg;
	ssize_t mlen;
	uint16_t udp_len, ip_len, csum;
	uint32_t base;

	for (int i = 0; i < payload; i++)
		pl[i] = 'a' + i % 26;
	memset(f, 0, sizeof(G.frame));
	mlen = mqttsn_encode(&m, f + 42, sizeof(G.frame) - 42);
	if (mlen < 0)
		bl_die("cannot encode a %d-byte publish", payload);
	memset(f + LG_TS_OFF, 0, 8);
	memcpy(f + LG_MAGIC_OFF, &magic, 8);
	/* Ethernet */
	memcpy(f, G.dst_mac, 6);
	memcpy(f + 6, G.mac, 6);
	f[12] = 0x08;
	f[13] = 0x00;
	/* IPv4, no options */
	ip_len = 20 + 8 + mlen;
	udp_len = 8 + mlen;
	f[14] = 0x45;
	f[16] = ip_len >> 8;
	f[17] = ip_len & 0xff;
	f[20] = 0x40;		/* DF */
	f[22] = 64;		/* TTL */
	f[23] = IPPROTO_UDP;
	memcpy(f + 26, &G.src_ip, 4);
	memcpy(f + 30, &G.broker.sin_addr, 4);
	csum = fold_not(sum16(0, f + 14, 20));
	memcpy(f + 24, &csum, 2);
	/* UDP */
	f[34] = G.pub_port >> 8;
	f[35] = G.pub_port & 0xff;
	memcpy(f + 36, &G.broker.sin_port, 2);
	f[38] = udp_len >> 8;
	f[39] = udp_len & 0xff;
	memcpy(pseudo, f + 26, 8);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_UDP;
	pseudo[10] = udp_len >> 8;
	pseudo[11] = udp_len & 0xff;
	base = sum16(sum16(0, pseudo, 12), f + LG_UDP_OFF, udp_len);
	csum = fold_not(base);
	if (!csum)
		csum = 0xffff;
	memcpy(f + LG_UDP_CSUM_OFF, &csum, 2);
	G.frame_len = 14 + ip_len;
	if (G.frame_len < LG_MAGIC_OFF + 8)
		bl_die("frame too short for the timestamp");

	memcpy(cfg->tmpl, f, LG_TMPL_LEN);
	cfg->csum_base = base;
	cfg->stamp = 1;
	G.skel->bss->sink_topic = topic;
}

/* ---- injector and counters ---------------------------------------------- */

static int inject(uint32_t repeat)
{
	struct xdp_md ctx = { .data_end = G.frame_len, .ingress_ifindex = G.ifindex };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = G.frame,
		.data_size_in = G.frame_len,
		.ctx_in = &ctx,
		.ctx_size_in = sizeof(ctx),
		.repeat = repeat,
		.flags = BPF_F_TEST_XDP_LIVE_FRAMES,
		.batch_size = G.cur_batch,
	);

	if (bpf_prog_test_run_opts(bpf_program__fd(G.skel->progs.inject), &opts))
		return -errno;
	return 0;
}

static uint64_t percpu_sum(int fd, uint32_t key)
{
	uint64_t v[G.ncpus], s = 0;

	if (bpf_map_lookup_elem(fd, &key, v))
		return 0;
	for (int i = 0; i < G.ncpus; i++)
		s += v[i];
	return s;
}

static uint64_t injected(void)
{
	return percpu_sum(bpf_map__fd(G.skel->maps.inject_count), 0);
}

/* Deliveries per subscriber port (or at the publisher port for the floor). */
static void read_ports(uint64_t *out, int n)
{
	int fd = bpf_map__fd(G.skel->maps.sink_ports);

	if (G.floor) {
		out[0] = percpu_sum(fd, G.pub_port);
		return;
	}
	for (int i = 0; i < n; i++)
		out[i] = percpu_sum(fd, G.base_port + i);
}

static void read_hist(uint64_t *h)
{
	int fd = bpf_map__fd(G.skel->maps.sink_hist);

	for (uint32_t b = 0; b < LG_HIST_BUCKETS; b++)
		h[b] = percpu_sum(fd, b);
}

static uint64_t injected(void);

/*
 * The injector thread: one test run after another (each ends by signal or
 * after 2^30 calls of the program) until told to stop.  Between points only:
 * a test run has a fixed cost of tens of ms, so a point is one long run.
 */
static pthread_t inj_thread;
static volatile bool inj_stop, inj_running;
static volatile int inj_err;

static void on_usr1(int sig)
{
}

static void *injector_main(void *arg)
{
	bl_pin_self(G.o.gen_cpu);
	while (!inj_stop) {
		int err = inject(1u << 30);

		if (err && err != -EINTR) {
			inj_err = err;
			break;
		}
	}
	inj_running = false;
	return NULL;
}

/* Start sending: rate publishes/s, 0 for flat out. */
static void injector_start(double rate)
{
	G.skel->bss->pace_interval_ns = rate > 0 ? (uint64_t)(1e9 / rate) : 0;
	G.skel->bss->pace_next_ns = 0;
	G.cur_batch = rate > 0 && !G.ramping ? PACED_BATCH : G.batch;
	if (rate > 0 && !G.skel->bss->pace_interval_ns)
		G.skel->bss->pace_interval_ns = 1;
	inj_stop = false;
	inj_running = true;
	inj_err = 0;
	if (pthread_create(&inj_thread, NULL, injector_main, NULL))
		bl_die("cannot start the injector thread");
	/* A test run starts tens of ms late (dispatcher switch): wait for the
	 * first frames, so that what follows measures a running generator. */
	for (uint64_t i0 = injected(); injected() == i0 && inj_running;)
		bl_sleep(0.001);
}

static void injector_stop(void)
{
	inj_stop = true;
	/* A signal ends the running test run (EINTR); repeat in case it came
	 * before the thread entered the next one. */
	while (inj_running) {
		pthread_kill(inj_thread, SIGUSR1);
		bl_sleep(0.002);
	}
	pthread_join(inj_thread, NULL);
	if (inj_err)
		bl_die("test run (live frames) failed: %s", strerror(-inj_err));
}

/* Send at rate (0: flat out) for secs. */
static void send_for(double rate, double secs)
{
	injector_start(rate);
	bl_sleep(secs);
	injector_stop();
}

/* Frames for one fan-out really reach each of its subscribers, and only
 * them: a slow trickle, checked, repeated while the broker settles. */
/* A level whose topic the broker would not give all its subscribers. */
static bool level_refused(int li, const char *what)
{
	if (!G.refused_sub[li])
		return false;
	fprintf(stderr, "loadgen: %s: fan-out %d %s skipped: the broker refused subscriber %d "
		"(SUBACK 0x%02x)\n", G.o.system, G.levels[li], what, G.refused_sub[li],
		G.refused_rc[li]);
	return true;
}

/* The probe's publish rate: 20,000/s up to fan-out 64; above it the
 * copies per second stay at 64 x 5,000 (fan-out 256: 1,250 publishes/s),
 * so that a trickle of a big fan-out is one the broker CPU and the
 * subscriber side take whole (at 20,000/s a fan-out of 256 is 5 M copies/s
 * and a tenth of them is lost to the veth, not to the broker's tables). */
static double probe_rate(int fan)
{
	return fan <= 64 ? 20000 : 320000.0 / fan;
}

static void probe(int li)
{
	int fan = G.levels[li], n = G.floor ? 1 : G.n_subs;
	uint64_t before[LG_MAX_SUBS], after[LG_MAX_SUBS], i0, sent = 0;

	if (G.refused_sub[li])
		return;
	for (int attempt = 0; attempt < 30 && !bl_stop_requested(); attempt++) {
		bool ok = true;

		read_ports(before, n);
		i0 = injected();
		/* A test run starts some 20 ms late (dispatcher switch). */
		send_for(probe_rate(fan), 0.08);
		bl_sleep(0.03);
		sent = injected() - i0;
		read_ports(after, n);
		for (int i = 0; i < n; i++) {
			uint64_t got = after[i] - before[i];
			bool subscribed = G.floor || i < fan;

			if (subscribed ? got < sent * 9 / 10 || !sent : got != 0)
				ok = false;
		}
		if (ok)
			return;
		bl_sleep(0.1);
	}
	bl_die("fan-out %d: deliveries do not reach exactly the %d subscribers (%llu sent)", fan,
	       G.floor ? 1 : fan, (unsigned long long)sent);
}

static int level_index(int fan)
{
	for (int l = 0; l < G.n_levels; l++)
		if (G.levels[l] == fan)
			return l;
	return -1;
}

/* Sum of the deliveries to the fan-out's subscribers so far. */
static uint64_t delivered(int n)
{
	uint64_t v[LG_MAX_SUBS], s = 0;

	read_ports(v, n);
	for (int i = 0; i < n; i++)
		s += v[i];
	return s;
}

static void set_rate(double rate)
{
	G.skel->bss->pace_interval_ns = rate > 0 ? (uint64_t)(1e9 / rate) + 1 : 0;
	/* Due at once: a slow rate before must not hold back a fast one. */
	G.skel->bss->pace_next_ns = 0;
}

/* Publishes/s offered and deliveries/s over secs at the current rate. */
static void measure(int n, double secs, double *offered, double *deliv)
{
	uint64_t i0 = injected(), d0 = delivered(n), i1, d1;
	double t0 = bl_now(), dt;

	bl_sleep(secs);
	i1 = injected();
	d1 = delivered(n);
	dt = bl_now() - t0;
	*offered = (i1 - i0) / dt;
	*deliv = (d1 - d0) / dt;
}

/* Until the broker is idle: no delivery of any topic for 100 ms (at most
 * 5 s), so a backlog the last point's flood left does not run into this one. */
static void drain_broker(void)
{
	int fd = bpf_map__fd(G.skel->maps.sink_counters);
	double end = bl_now() + 5;
	uint64_t last = percpu_sum(fd, LG_SINK_PUBLISH) + percpu_sum(fd, LG_SINK_OTHER_TOPIC);

	while (bl_now() < end && !bl_stop_requested()) {
		uint64_t now;

		bl_sleep(0.1);
		now = percpu_sum(fd, LG_SINK_PUBLISH) + percpu_sum(fd, LG_SINK_OTHER_TOPIC);
		if (now == last)
			return;
		last = now;
	}
}

/*
 * One throughput point.  What a system delivers depends on how hard it is
 * pushed: XDP drops the excess where it costs nothing, but a user-space
 * broker flooded far past its capacity loses its CPU to the receive path
 * (livelock) and delivers less.  So the generator first ramps its rate up
 * geometrically, RAMP_STEP_S per step, through flat out (the flood, whose
 * offered rate shows the generator out-running the system, and whose
 * delivered rate is reported too), and the window is then measured at the
 * rate that delivered most: each system at its own capacity.
 */
#define RAMP_START	2000.0
#define RAMP_FACTOR	1.3
#define RAMP_STEP_S	0.025
#define FLOOD_S		0.2

static void tput_point(int fan, int payload, int rep)
{
	int li = level_index(fan), n = G.floor ? 1 : fan, collapsed = 0;
	uint64_t p0[LG_MAX_SUBS], p1[LG_MAX_SUBS], i0, i1;
	struct bl_window w;
	struct bl_tput_row r = { .fanout = fan, .payload = payload, .rep = rep };
	double secs, best_rate = 0, best = -1, off, dl;

	if (level_refused(li, "throughput"))
		return;

	build_frame(G.topic[li], payload);
	bl_place_napi(&G.o);
	drain_broker();
	G.ramping = true;
	injector_start(RAMP_START);
	G.ramping = false;
	for (double rate = RAMP_START; rate < 20e6 && collapsed < 3 && !bl_stop_requested();
	     rate *= RAMP_FACTOR) {
		set_rate(rate);
		measure(n, RAMP_STEP_S, &off, &dl);
		if (off < rate * 0.8)
			break;	/* the generator's own limit: flat out takes over */
		if (dl > best) {
			best = dl;
			best_rate = rate;
		}
		collapsed = dl < best / 2 ? collapsed + 1 : 0;
	}
	set_rate(0);
	measure(n, FLOOD_S, &r.flood_offered, &r.flood_delivered);
	if (r.flood_delivered >= best)
		best_rate = 0;
	/* Let the queues the flood filled drain, then settle at the rate. */
	set_rate(1);
	bl_sleep(0.1);
	/* The window at that rate; a short ramp step can overrate a system
	 * that buffers (socket queues), so if the window lost more than 10 %,
	 * one more at what it delivered, and the better of the two counts. */
	for (int attempt = 0; attempt < 2 && !bl_stop_requested(); attempt++) {
		struct bl_tput_row t = r;
		struct bl_window tw;

		set_rate(best_rate);
		bl_sleep(G.o.warmup_s);
		read_ports(p0, n);
		i0 = injected();
		bl_window_start(&tw);
		bl_sleep(G.o.duration_s);
		bl_window_stop(&tw);
		i1 = injected();
		read_ports(p1, n);
		secs = tw.t1 - tw.t0;
		t.duration_s = secs;
		t.offered = (i1 - i0) / secs;
		t.delivered = 0;
		t.sub_min = 1e18;
		t.sub_max = 0;
		for (int i = 0; i < n; i++) {
			double v = (p1[i] - p0[i]) / secs;

			t.delivered += v;
			t.sub_min = v < t.sub_min ? v : t.sub_min;
			t.sub_max = v > t.sub_max ? v : t.sub_max;
		}
		if (attempt == 0 || t.delivered > r.delivered) {
			r = t;
			w = tw;
		}
		if (t.delivered >= 0.9 * t.offered * (G.floor ? 1 : fan))
			break;
		best_rate = t.delivered / (G.floor ? 1 : fan) * 1.05;
	}
	injector_stop();
	if (G.floor) {	/* the floor's one "subscriber" answers every fan-out */
		r.sub_min = r.sub_max = r.delivered;
	}
	r.sub_avg = r.delivered / n;
	bl_write_tput(&G.o, &w, &r);
	bl_sleep(0.05);	/* let the rings drain between points */
}

static void lat_point(int fan, int level)
{
	int li = level_index(fan), n = G.floor ? 1 : fan;
	double cap = bl_capacity(fan, G.o.lat_payload), rate = cap * level / 100.0, secs;
	static uint64_t h0[LG_HIST_BUCKETS], h1[LG_HIST_BUCKETS];
	uint64_t p0[LG_MAX_SUBS], p1[LG_MAX_SUBS], i0, i1;
	struct bl_window w;
	struct bl_lat_row r = { .fanout = fan, .payload = G.o.lat_payload, .level = level,
				.target = rate, .hist = h1 };

	if (level_refused(li, "latency"))
		return;

	if (cap <= 0)
		bl_die("latency at fan-out %d: no throughput point with payload %d measured first",
		       fan, G.o.lat_payload);
	build_frame(G.topic[li], G.o.lat_payload);
	bl_place_napi(&G.o);
	drain_broker();
	injector_start(rate);
	bl_sleep(0.2);
	read_hist(h0);
	read_ports(p0, n);
	i0 = injected();
	bl_window_start(&w);
	bl_sleep(G.o.lat_duration_s);
	bl_window_stop(&w);
	i1 = injected();
	read_ports(p1, n);
	read_hist(h1);
	injector_stop();
	for (int b = 0; b < LG_HIST_BUCKETS; b++)
		h1[b] -= h0[b];
	secs = w.t1 - w.t0;
	r.offered = (i1 - i0) / secs;
	for (int i = 0; i < n; i++)
		r.delivered += (p1[i] - p0[i]) / secs;
	bl_write_lat(&G.o, &w, &r);
	bl_sleep(0.05);
}

/* ---- set-up ------------------------------------------------------------- */

static void iface_info(void)
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	G.ifindex = if_nametoindex(G.dev);
	if (!G.ifindex || fd < 0)
		bl_die("no interface %s in this namespace", G.dev);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", G.dev);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr))
		bl_die("%s: no MAC: %s", G.dev, strerror(errno));
	memcpy(G.mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(fd, SIOCGIFADDR, &ifr))
		bl_die("%s: no IPv4 address: %s", G.dev, strerror(errno));
	G.src_ip = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr;
	close(fd);
}

/* The broker's MAC from this namespace's ARP table (the control exchange
 * resolved it). */
static void broker_mac_from_arp(void)
{
	char line[256], ip[64], hw[64], dev[64];
	FILE *f = fopen("/proc/self/net/arp", "r");

	while (f && fgets(line, sizeof(line), f)) {
		unsigned int flags, m[6];

		if (sscanf(line, "%63s %*s %x %63s %*s %63s", ip, &flags, hw, dev) != 4)
			continue;
		if (strcmp(ip, inet_ntoa(G.broker.sin_addr)) || !(flags & 0x2))
			continue;
		if (sscanf(hw, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6) {
			for (int i = 0; i < 6; i++)
				G.dst_mac[i] = m[i];
			G.have_dst_mac = true;
		}
	}
	if (f)
		fclose(f);
	if (!G.have_dst_mac)
		bl_die("no ARP entry for the broker %s: give --dst-mac", inet_ntoa(G.broker.sin_addr));
}

static void cleanup(void)
{
	if (inj_running)
		injector_stop();
	control_teardown();
	if (G.sink_attached)
		bpf_xdp_detach(G.ifindex, XDP_FLAGS_DRV_MODE, NULL);
	G.sink_attached = false;
	loadgen__destroy(G.skel);
	G.skel = NULL;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, ap);
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s --dev DEV --broker IPV4 [OPTIONS]\n"
		"  --dev DEV              this namespace's veth toward the broker (sink + injector)\n"
		"  --broker IPV4          broker address; --port N: its UDP port (1883)\n"
		"  --floor                no broker: the floor XDP program answers on the broker side\n"
		"  --dst-mac MAC          broker-side MAC (default: from ARP after the control exchange)\n"
		"  --base-port N          first subscriber UDP port (40000); publisher: N-1\n"
		"  --batch N              live-frames batch size, flat out (64; paced: 8)\n"
		BL_COMMON_USAGE,
		prog);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "dev", required_argument, NULL, 'd' },
		{ "broker", required_argument, NULL, 'b' },
		{ "port", required_argument, NULL, 'p' },
		{ "floor", no_argument, NULL, 'F' },
		{ "dst-mac", required_argument, NULL, 'm' },
		{ "base-port", required_argument, NULL, 'P' },
		{ "batch", required_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		BL_COMMON_LONGOPTS,
		{}
	};
	int opt, max_fan = 0, err;

	bl_opts_init(&G.o);
	G.o.max_subs = LG_MAX_SUBS;
	G.base_port = 40000;
	G.batch = 64;
	G.broker.sin_family = AF_INET;
	G.broker.sin_port = htons(PSO_DEFAULT_UDP_PORT);
	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int c = bl_common_opt(&G.o, opt, optarg);

		if (c < 0)
			bl_die("bad value for option %d: %s", opt, optarg);
		if (c)
			continue;
		switch (opt) {
		case 'd': G.dev = optarg; break;
		case 'b':
			if (inet_pton(AF_INET, optarg, &G.broker.sin_addr) != 1)
				bl_die("--broker wants an IPv4 address");
			break;
		case 'p': G.broker.sin_port = htons(atoi(optarg)); break;
		case 'F': G.floor = true; break;
		case 'm': {
			unsigned int m[6];

			if (sscanf(optarg, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4],
				   &m[5]) != 6)
				bl_die("--dst-mac wants aa:bb:cc:dd:ee:ff");
			for (int i = 0; i < 6; i++)
				G.dst_mac[i] = m[i];
			G.have_dst_mac = true;
			break;
		}
		case 'P': G.base_port = atoi(optarg); break;
		case 'B': G.batch = atoi(optarg); break;
		case 'h': usage(stdout, argv[0]); return 0;
		default: usage(stderr, argv[0]); return 2;
		}
	}
	if (!G.dev || !G.broker.sin_addr.s_addr || bl_opts_done(&G.o) || G.batch < 1 ||
	    G.batch > 256 || G.base_port < 1025 || G.base_port > 65535 - LG_MAX_SUBS) {
		usage(stderr, argv[0]);
		return 2;
	}
	G.pub_port = G.base_port - 1;
	bl_catch_signals();
	{
		/* No SA_RESTART: SIGUSR1 must end the injector's test run. */
		struct sigaction sa = { .sa_handler = on_usr1 };

		sigaction(SIGUSR1, &sa, NULL);
	}
	libbpf_set_print(libbpf_quiet);
	if (bl_pin_self(G.o.gen_cpu))
		bl_die("cannot pin to CPU %d", G.o.gen_cpu);
	G.ncpus = libbpf_num_possible_cpus();

	/* Every fan-out used, each a topic. */
	for (int i = 0; i < G.o.n_fanouts + G.o.n_lat_fanouts; i++) {
		int f = i < G.o.n_fanouts ? G.o.fanouts[i] : G.o.lat_fanouts[i - G.o.n_fanouts];

		if (level_index(f) < 0)
			G.levels[G.n_levels++] = f;
		max_fan = f > max_fan ? f : max_fan;
	}
	G.n_subs = G.floor ? 0 : max_fan;

	iface_info();
	G.skel = loadgen__open_and_load();
	if (!G.skel)
		bl_die("cannot load the load generator's BPF programs");
	atexit(cleanup);
	err = bpf_xdp_attach(G.ifindex, bpf_program__fd(G.skel->progs.sink), XDP_FLAGS_DRV_MODE,
			     NULL);
	if (err)
		bl_die("attaching the sink to %s (native XDP): %s", G.dev, strerror(-err));
	G.sink_attached = true;

	control_setup();
	if (!G.have_dst_mac)
		broker_mac_from_arp();
	bl_place_napi(&G.o);
	for (int l = 0; l < G.n_levels; l++) {
		build_frame(G.topic[l], 64);
		probe(l);
	}
	bl_progress(&G.o, "%d subscribers on %s, every fan-out probed", G.n_subs, G.dev);

	/* Repeats outermost: noise that comes and goes hits every point alike. */
	for (int r = 1; r <= G.o.repeats && !bl_stop_requested(); r++)
		for (int p = 0; p < G.o.n_payloads && !bl_stop_requested(); p++)
			for (int f = 0; f < G.o.n_fanouts && !bl_stop_requested(); f++)
				tput_point(G.o.fanouts[f], G.o.payloads[p], r);
	for (int f = 0; f < G.o.n_lat_fanouts && !bl_stop_requested(); f++)
		for (int l = 0; l < G.o.n_lat_levels && !bl_stop_requested(); l++)
			lat_point(G.o.lat_fanouts[f], G.o.lat_levels[l]);
	return bl_stop_requested() ? 1 : 0;
}
