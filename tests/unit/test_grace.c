// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_grace.c - the tables in deferred mode (pso_tables_defer_start()),
 * against real BPF maps (128 topics x 4 slots).
 *
 * The sync hook is a gate: each grace period the worker starts blocks in
 * it until the test releases that period, so the test decides when a
 * period ends.  Every map write and both ends of every period are logged
 * (one mutex: the worker logs too), and the log is replayed against the
 * rules of host/tables/subs.c over all topics at once: content changes only
 * while the flags are 0 before and after, a disabled servable entry is
 * rewritten only after a period that STARTED after the disable has ENDED,
 * sub_count never covers an unwritten slot, no subscriber is servable in
 * two slots of a topic, and the replay ends where the shadow is.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include "tables/porttab.h"
#include "tables/tables.h"
#include "tblcheck.h"

#define NT 128
#define NS 4		/* the longest run */
#define NP (NT * NS)	/* pool slots */
#define NC 256
#define DEADLINE_MS 5000

enum ev_kind { EV_TOPIC, EV_SLOT, EV_OTHER, EV_SYNC_START, EV_SYNC_END, EV_RUN };

struct ev {
	enum ev_kind kind;
	uint32_t key;		/* topic id, slot index; EV_SYNC_END: the log
				 * index of its EV_SYNC_START */
	int err;
	struct pso_topic topic;
	struct pso_sub sub;
	struct pso_run run;
};

struct fx {
	struct pso_tables t;
	int topics_fd, subs_fd, runs_fd, clients_fd, frozen_subs_fd, cslots_fd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct ev *log;
	int nlog, cap;
	int started, released;	/* periods begun in the gate, let go */
	bool open;		/* the gate lets every period through */
	long pass_count;	/* periods through pass_sync() */
	/* the maps when the log was last reset */
	struct pso_topic topics0[NT];
	struct pso_run runs0[NT];
	struct pso_sub subs0[NP];
};

/* ---- fixture ------------------------------------------------------------- */

static void log_ev(struct fx *f, const struct ev *e)
{
	if (f->nlog == f->cap) {
		f->cap = f->cap ? 2 * f->cap : 4096;
		f->log = realloc(f->log, f->cap * sizeof(*f->log));
		assert_non_null(f->log);
	}
	f->log[f->nlog++] = *e;
}

static void on_write(void *ctx, int fd, const void *key, const void *val, int err)
{
	struct fx *f = ctx;
	struct ev e = { .kind = EV_OTHER, .err = err };

	if (fd == f->topics_fd) {
		e.kind = EV_TOPIC;
		e.key = *(const uint32_t *)key;
		e.topic = *(const struct pso_topic *)val;
	} else if (fd == f->runs_fd) {
		e.kind = EV_RUN;
		e.key = *(const uint32_t *)key;
		e.run = *(const struct pso_run *)val;
	} else if (fd == f->subs_fd || fd == f->frozen_subs_fd) {
		e.kind = EV_SLOT;
		e.key = *(const uint32_t *)key;
		e.sub = *(const struct pso_sub *)val;
	}
	pthread_mutex_lock(&f->mu);
	log_ev(f, &e);
	pthread_mutex_unlock(&f->mu);
}

/* The gate: runs in the worker (or inline when finishing). */
static void gate_sync(void *ctx)
{
	struct fx *f = ctx;
	struct ev e = { .kind = EV_SYNC_START };
	int me;

	pthread_mutex_lock(&f->mu);
	e.key = f->nlog;
	log_ev(f, &e);
	me = ++f->started;
	pthread_cond_broadcast(&f->cv);
	while (!f->open && f->released < me)
		pthread_cond_wait(&f->cv, &f->mu);
	e.kind = EV_SYNC_END;
	log_ev(f, &e);
	pthread_mutex_unlock(&f->mu);
}

/* A real grace period, counted. */
static void pass_sync(void *ctx)
{
	struct fx *f = ctx;

	pso_tables_sync_rcu(NULL);
	__atomic_add_fetch(&f->pass_count, 1, __ATOMIC_SEQ_CST);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->topics_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "g_topics", sizeof(uint32_t),
				      sizeof(struct pso_topic), NT, NULL);
	f->subs_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "g_subs", sizeof(uint32_t),
				    sizeof(struct pso_sub), NT * NS, NULL);
	f->frozen_subs_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "g_frozen", sizeof(uint32_t),
					   sizeof(struct pso_sub), NT * NS, NULL);
	f->runs_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "g_runs", sizeof(uint32_t),
				    sizeof(struct pso_run), NT, NULL);
	f->clients_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "g_clients", sizeof(struct pso_endpoint),
				       sizeof(struct pso_client_val), NC, NULL);
	f->cslots_fd = -1;
	if (f->topics_fd < 0 || f->subs_fd < 0 || f->frozen_subs_fd < 0 || f->clients_fd < 0 ||
	    f->runs_fd < 0) {
		print_message("skip: cannot create BPF maps (%s); run as root\n", strerror(errno));
		free(f);
		*state = NULL;
		return 0;
	}
	assert_int_equal(bpf_map_freeze(f->frozen_subs_fd), 0);
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	assert_int_equal(pso_tables_init(&f->t, f->topics_fd, f->subs_fd, f->runs_fd, f->clients_fd,
					 NT, NP, NC), 0);
	assert_int_equal(pso_tables_set_max_run(&f->t, NS), 0);
	f->t.on_write = on_write;
	f->t.sync_readers = gate_sync;
	f->t.hook_ctx = f;
	for (uint16_t id = 1; id < NT; id++)
		assert_int_equal(pso_tables_topic_set(&f->t, id, 0), 0);
	*state = f;
	return 0;
}

static void open_gate(struct fx *f)
{
	pthread_mutex_lock(&f->mu);
	f->open = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	open_gate(f);	/* the worker may be waiting in it */
	pso_tables_free(&f->t);
	close(f->topics_fd);
	close(f->subs_fd);
	close(f->frozen_subs_fd);
	close(f->runs_fd);
	close(f->clients_fd);
	if (f->cslots_fd >= 0)
		close(f->cslots_fd);
	free(f->log);
	free(f);
	return 0;
}

#define FX() ({ struct fx *_f = *state; if (!_f) skip(); _f; })

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Wait (with a deadline) until the worker has begun n periods in the gate. */
static void wait_started(struct fx *f, int n)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += DEADLINE_MS / 1000;
	pthread_mutex_lock(&f->mu);
	while (f->started < n)
		if (pthread_cond_timedwait(&f->cv, &f->mu, &dl) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&f->mu);
	if (f->started < n)
		fail_msg("%d grace periods started, want %d", f->started, n);
}

static int started(struct fx *f)
{
	int n;

	pthread_mutex_lock(&f->mu);
	n = f->started;
	pthread_mutex_unlock(&f->mu);
	return n;
}

/* Let the oldest blocked period end. */
static void release(struct fx *f)
{
	pthread_mutex_lock(&f->mu);
	f->released++;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

static bool readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

/* The event loop's part: grace_fd readable (within the deadline), then
 * grace_done. */
static void grace_done(struct fx *f)
{
	if (!readable(pso_tables_grace_fd(&f->t), DEADLINE_MS))
		fail_msg("grace_fd not readable within %d ms", DEADLINE_MS);
	pso_tables_grace_done(&f->t);
}

/* Release periods and run grace_done until nothing is pending. */
static int settle(struct fx *f)
{
	int periods = 0;

	while (pso_tables_pending(&f->t)) {
		assert_true(periods < 16);
		wait_started(f, f->released + 1);
		release(f);
		grace_done(f);
		periods++;
	}
	return periods;
}

static void reset_log(struct fx *f)
{
	pthread_mutex_lock(&f->mu);
	f->nlog = 0;
	memcpy(f->topics0, f->t.topics, sizeof(f->topics0));
	memcpy(f->runs0, f->t.runs, sizeof(f->runs0));
	memcpy(f->subs0, f->t.subs, sizeof(f->subs0));
	pthread_mutex_unlock(&f->mu);
}

/* ---- subscribers ---------------------------------------------------------- */

/* Subscriber n: 10.0.n/256.n%256:(1000+n) behind MAC 02::n. */
static struct pso_sub sub4(int n, bool resolved)
{
	struct pso_sub s = {};

	s.dst_mac[0] = 0x02;
	s.dst_mac[4] = n >> 8;
	s.dst_mac[5] = n;
	s.src_mac[0] = 0x02;
	s.src_mac[5] = 0xfe;
	s.ifindex = 1 + n % 3;
	s.dst_port = htons(1000 + n);
	s.family = PSO_AF_INET;
	s.flags = resolved ? PSO_SUB_F_RESOLVED : 0;
	s.src_addr[0] = 10;
	s.src_addr[3] = 254;
	s.dst_addr[0] = 10;
	s.dst_addr[2] = n >> 8;
	s.dst_addr[3] = n;
	return s;
}

static struct pso_sub moved(struct pso_sub s)
{
	s.dst_mac[3] ^= 0x5a;	/* a new next hop */
	return s;
}

static struct pso_endpoint ep_of(const struct pso_sub *s)
{
	struct pso_endpoint ep;

	pso_sub_endpoint(s, &ep);
	return ep;
}

static bool same_content(const struct pso_sub *a, const struct pso_sub *b)
{
	struct pso_sub x = *a, y = *b;

	x.flags = y.flags = 0;
	return !memcmp(&x, &y, sizeof(x));
}

static bool is_zero(const struct pso_sub *s)
{
	static const struct pso_sub zero;

	return !memcmp(s, &zero, sizeof(zero));
}

/* ---- checks --------------------------------------------------------------- */

static uint32_t rbase(const struct pso_tables *t, uint16_t id)
{
	const struct pso_run *r = pso_tables_run(t, id);

	return r->base[r->cur & 1];
}

static uint32_t rcap(const struct pso_tables *t, uint16_t id)
{
	const struct pso_run *r = pso_tables_run(t, id);

	return r->cap[r->cur & 1];
}

/* The maps hold the shadow; with rest, every topic is at rest too:
 * `first` is its first live slot, slots outside every run are zero. */
static void check_maps(const struct fx *f, bool rest)
{
	bool owned[NP] = {};

	for (uint32_t k = 0; k < NT; k++) {
		struct pso_topic v;
		struct pso_run r;

		assert_int_equal(bpf_map_lookup_elem(f->topics_fd, &k, &v), 0);
		assert_memory_equal(&v, &f->t.topics[k], sizeof(v));
		assert_int_equal(bpf_map_lookup_elem(f->runs_fd, &k, &r), 0);
		assert_memory_equal(&r, &f->t.runs[k], sizeof(r));
		for (uint32_t i = 0; i < rcap(&f->t, (uint16_t)k); i++)
			owned[rbase(&f->t, (uint16_t)k) + i] = true;
		if (rest && v.sub_count) {
			uint32_t i = 0;

			while (!f->t.subs[rbase(&f->t, (uint16_t)k) + i].family)
				i++;
			assert_memory_equal(&v.first, &f->t.subs[rbase(&f->t, (uint16_t)k) + i],
					    sizeof(v.first));
		}
	}
	for (uint32_t k = 0; k < NP; k++) {
		struct pso_sub v;

		assert_int_equal(bpf_map_lookup_elem(f->subs_fd, &k, &v), 0);
		assert_memory_equal(&v, &f->t.subs[k], sizeof(v));
		if (rest && !owned[k])
			assert_true(is_zero(&v));
	}
}

/* Topic id holds exactly these subscribers, in this run order (holes
 * skipped), at rest. */
static void expect_layout(const struct fx *f, uint16_t id, uint32_t n, const struct pso_sub *want)
{
	const struct pso_topic *t = pso_tables_topic(&f->t, id);
	uint32_t tn, k = 0;
	const struct pso_sub *tgt = pso_tables_target(&f->t, id, &tn);

	assert_int_equal(t->sub_count, n);
	assert_int_equal(tn, rcap(&f->t, id));
	for (uint32_t i = 0; i < tn; i++) {
		if (!tgt[i].family) {
			assert_true(is_zero(pso_tables_slot(&f->t, id, i)));
			continue;
		}
		assert_true(k < n);
		assert_memory_equal(pso_tables_slot(&f->t, id, i), &want[k], sizeof(want[k]));
		assert_memory_equal(&tgt[i], &want[k], sizeof(want[k]));
		k++;
	}
	assert_int_equal(k, n);
	if (n)
		assert_memory_equal(&t->first, &want[0], sizeof(want[0]));
}

/* The target (not the maps) holds these, in this order (holes skipped). */
static void expect_target(const struct fx *f, uint16_t id, uint32_t n, const struct pso_sub *want)
{
	uint32_t tn, k = 0;
	const struct pso_sub *tgt = pso_tables_target(&f->t, id, &tn);

	for (uint32_t i = 0; i < tn; i++) {
		struct pso_endpoint ep;

		if (!tgt[i].family)
			continue;
		assert_true(k < n);
		ep = ep_of(&want[k]);
		assert_memory_equal(&tgt[i], &want[k], sizeof(want[k]));
		assert_int_equal(pso_tables_sub_find(&f->t, id, &ep), (int)i);
		k++;
	}
	assert_int_equal(k, n);
}

/*
 * Replay the whole log from the maps at reset_log() as the data plane's
 * readers see it (tblcheck.h): a period whose START is after a write
 * covers it once its END is logged.
 */
static void replay(struct fx *f)
{
	struct tblcheck c;

	pthread_mutex_lock(&f->mu);
	assert_int_equal(tblcheck_init(&c, NT, NP, f->topics0, f->runs0, f->subs0), 0);
	for (int n = 0; n < f->nlog; n++) {
		const struct ev *e = &f->log[n];

		if (e->kind == EV_SYNC_END) {
			tblcheck_sync(&c, (int)e->key);
			continue;
		}
		if (e->err || e->kind == EV_OTHER || e->kind == EV_SYNC_START)
			continue;
		if (e->kind == EV_TOPIC)
			tblcheck_topic(&c, n, e->key, &e->topic);
		else if (e->kind == EV_RUN)
			tblcheck_run(&c, n, e->key, &e->run);
		else
			tblcheck_slot(&c, n, e->key, &e->sub);
	}
	if (tblcheck_equal(&c, f->t.topics, f->t.runs, f->t.subs)) {
		if (getenv("TBL_DEBUG"))
			for (int n = 0; n < f->nlog; n++) {
				const struct ev *e = &f->log[n];

				fprintf(stderr, "%d: kind %d key %u err %d flags %u fam %u run %u/%u,%u/%u cur %u cnt %u\n",
					n, e->kind, e->key, e->err, e->sub.flags, e->sub.family,
					e->run.base[0], e->run.cap[0], e->run.base[1], e->run.cap[1],
					e->run.cur, e->topic.sub_count);
			}
		pthread_mutex_unlock(&f->mu);
		fail_msg("%s", c.err);
	}
	tblcheck_free(&c);
	pthread_mutex_unlock(&f->mu);
}

static void defer(struct fx *f)
{
	assert_int_equal(pso_tables_grace_fd(&f->t), -1);
	assert_int_equal(pso_tables_defer_start(&f->t), 0);
	assert_true(pso_tables_grace_fd(&f->t) >= 0);
}

/* ---- tests ---------------------------------------------------------------- */

/* A change that needs a grace period returns at once with the maps in the
 * disabled state; the fd turns readable when the test ends the period, and
 * grace_done completes the change. */
static void test_deferred_update(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true), a2 = moved(a);
	struct pso_endpoint ea = ep_of(&a), eb = ep_of(&b);
	struct pso_sub got;
	uint32_t k;

	defer(f);
	reset_log(f);
	/* Adds need no wait: done before they return. */
	assert_int_equal(pso_tables_sub_add(&f->t, 1, &a), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 1, &b), 0);
	assert_int_equal(pso_tables_pending(&f->t), 0);
	expect_layout(f, 1, 2, (struct pso_sub[]){ a, b });
	assert_int_equal(started(f), 0);
	assert_true(pso_tables_sub_served(&f->t, 1, &ea, PSO_AF_INET));
	assert_false(pso_tables_sub_served(&f->t, 1, &ea, PSO_AF_INET6));

	/* A new next hop for a: disable, then wait - but not here. */
	assert_int_equal(pso_tables_sub_update(&f->t, 1, &a2), 0);
	assert_int_equal(pso_tables_pending(&f->t), 1);
	wait_started(f, 1);	/* the hook runs, and is not released */
	k = rbase(&f->t, 1);
	assert_int_equal(bpf_map_lookup_elem(f->subs_fd, &k, &got), 0);
	assert_int_equal(got.flags, 0);
	assert_true(same_content(&got, &a));	/* old content, disabled */
	assert_int_equal(pso_tables_topic(&f->t, 1)->first.flags, 0);
	check_maps(f, false);
	expect_target(f, 1, 2, (struct pso_sub[]){ a2, b });
	assert_false(pso_tables_sub_served(&f->t, 1, &ea, PSO_AF_INET));
	assert_true(pso_tables_sub_served(&f->t, 1, &eb, PSO_AF_INET));
	assert_false(readable(pso_tables_grace_fd(&f->t), 0));
	/* grace_done before the period ends changes nothing */
	pso_tables_grace_done(&f->t);
	assert_int_equal(pso_tables_pending(&f->t), 1);
	assert_int_equal(pso_tables_topic(&f->t, 1)->first.flags, 0);

	release(f);
	grace_done(f);
	assert_int_equal(pso_tables_pending(&f->t), 0);
	expect_layout(f, 1, 2, (struct pso_sub[]){ a2, b });
	check_maps(f, true);
	assert_true(pso_tables_sub_served(&f->t, 1, &ea, PSO_AF_INET));
	assert_int_equal(started(f), 1);
	assert_false(readable(pso_tables_grace_fd(&f->t), 0));	/* drained */
	replay(f);
	assert_int_equal(f->t.deferred_errors, 0);
}

/* Work disabled while a period runs waits for the next one. */
static void test_started_after(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true);
	struct pso_endpoint ea = ep_of(&a);

	defer(f);
	for (uint16_t id = 1; id <= 2; id++) {
		assert_int_equal(pso_tables_sub_add(&f->t, id, &a), 0);
		assert_int_equal(pso_tables_sub_add(&f->t, id, &b), 0);
	}
	reset_log(f);
	assert_int_equal(pso_tables_sub_remove(&f->t, 1, &ea), 0);
	wait_started(f, 1);
	/* Period 1 is running: this removal is not covered by it. */
	assert_int_equal(pso_tables_sub_remove(&f->t, 2, &ea), 0);
	assert_int_equal(pso_tables_pending(&f->t), 2);
	release(f);
	grace_done(f);
	assert_int_equal(pso_tables_pending(&f->t), 1);
	expect_layout(f, 1, 1, &b);
	expect_target(f, 2, 1, &b);
	assert_int_equal(pso_tables_topic(&f->t, 2)->sub_count, 1);
	assert_int_equal(pso_tables_topic(&f->t, 2)->first.flags, 0);	/* still a's, disabled */
	wait_started(f, 2);	/* the worker went on by itself */
	release(f);
	grace_done(f);
	assert_int_equal(pso_tables_pending(&f->t), 0);
	expect_layout(f, 2, 1, &b);
	assert_int_equal(started(f), 2);
	check_maps(f, true);
	replay(f);
}

/* 100 removals in a burst: no call waits, two periods cover them all. */
static void test_burst(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true);
	struct pso_endpoint ea = ep_of(&a);
	int64_t worst = 0, total = 0;
	enum { N = 100 };

	defer(f);
	for (uint16_t id = 1; id <= N; id++) {
		assert_int_equal(pso_tables_sub_add(&f->t, id, &a), 0);
		assert_int_equal(pso_tables_sub_add(&f->t, id, &b), 0);
	}
	assert_int_equal(f->t.nsubs, 2 * N);
	reset_log(f);
	for (uint16_t id = 1; id <= N; id++) {
		int64_t t0 = now_ns(), dt;

		/* The gate is closed: a call that waited would never return. */
		assert_int_equal(pso_tables_sub_remove(&f->t, id, &ea), 0);
		dt = now_ns() - t0;
		total += dt;
		if (dt > worst)
			worst = dt;
	}
	assert_int_equal(f->t.nsubs, N);
	assert_int_equal(pso_tables_pending(&f->t), N);
	wait_started(f, 1);
	print_message("burst of %d removals: %.1f us per call (worst %.1f us), gate closed\n",
		      N, total / 1e3 / N, worst / 1e3);
	assert_true(settle(f) <= 2);
	assert_true(started(f) <= 2);
	for (uint16_t id = 1; id <= N; id++)
		expect_layout(f, id, 1, &b);
	check_maps(f, true);
	replay(f);
}

/* A topic changed three times while it waits ends at the last target, with
 * every answer given at once on the target. */
static void test_converge(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true), c = sub4(3, true);
	struct pso_sub d = sub4(4, false), e = sub4(5, true), b2 = moved(b);
	struct pso_endpoint ea = ep_of(&a), ec = ep_of(&c), ed = ep_of(&d);

	defer(f);
	assert_int_equal(pso_tables_sub_add(&f->t, 7, &a), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 7, &b), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 7, &c), 0);
	reset_log(f);

	/* 1: a leaves (a hole: nobody moves) */
	assert_int_equal(pso_tables_sub_remove(&f->t, 7, &ea), 0);
	expect_target(f, 7, 2, (struct pso_sub[]){ b, c });
	assert_int_equal(pso_tables_sub_remove(&f->t, 7, &ea), -ENOENT);
	assert_true(pso_tables_sub_served(&f->t, 7, &ec, PSO_AF_INET));	/* not moved */
	wait_started(f, 1);
	/* 2: b's next hop moves, during period 1 */
	assert_int_equal(pso_tables_sub_update(&f->t, 7, &b2), 0);
	expect_target(f, 7, 2, (struct pso_sub[]){ b2, c });
	/* 3: d joins (a's hole), a comes back (the last slot); then the
	 * topic is full */
	assert_int_equal(pso_tables_sub_add(&f->t, 7, &d), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 7, &d), -EEXIST);
	assert_int_equal(pso_tables_sub_add(&f->t, 7, &a), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 7, &e), -ENOSPC);
	expect_target(f, 7, 4, (struct pso_sub[]){ d, b2, c, a });
	assert_false(pso_tables_sub_served(&f->t, 7, &ea, PSO_AF_INET));
	assert_false(pso_tables_sub_served(&f->t, 7, &ed, PSO_AF_INET));
	assert_int_equal(f->t.nsubs, 4);
	check_maps(f, false);

	/* Period 1 does not cover b's disable: still pending after it. */
	release(f);
	grace_done(f);
	assert_int_equal(pso_tables_pending(&f->t), 1);
	assert_int_equal(settle(f), 1);
	expect_layout(f, 7, 4, (struct pso_sub[]){ d, b2, c, a });
	assert_true(pso_tables_sub_served(&f->t, 7, &ea, PSO_AF_INET));
	assert_true(pso_tables_sub_served(&f->t, 7, &ec, PSO_AF_INET));
	assert_false(pso_tables_sub_served(&f->t, 7, &ed, PSO_AF_INET));	/* unresolved */
	assert_int_equal(started(f), 2);
	check_maps(f, true);
	replay(f);
}

/* A new slot is not served while its enable waits behind the topic's grace
 * period, and is once it is written. */
static void test_served(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true), c = sub4(3, true), a2 = moved(a);
	struct pso_endpoint ea = ep_of(&a), eb = ep_of(&b), ec = ep_of(&c);

	defer(f);
	assert_false(pso_tables_sub_served(&f->t, 3, &ea, PSO_AF_INET));
	assert_int_equal(pso_tables_sub_add(&f->t, 3, &a), 0);
	assert_true(pso_tables_sub_served(&f->t, 3, &ea, PSO_AF_INET));	/* via first */
	assert_int_equal(pso_tables_sub_add(&f->t, 3, &b), 0);
	assert_true(pso_tables_sub_served(&f->t, 3, &eb, PSO_AF_INET));	/* via the slots */
	reset_log(f);
	assert_int_equal(pso_tables_sub_update(&f->t, 3, &(struct pso_sub){ 0 }), -EINVAL);
	assert_int_equal(pso_tables_sub_update(&f->t, 3, &(struct pso_sub){ .family = PSO_AF_INET }),
			 -ENOENT);
	assert_int_equal(pso_tables_sub_update(&f->t, 3, &a2), 0);
	/* The period a2's disable asked for has started before c comes, so
	 * the periods below do not depend on when the worker runs. */
	wait_started(f, f->released + 1);
	assert_int_equal(pso_tables_sub_add(&f->t, 3, &c), 0);
	assert_false(pso_tables_sub_served(&f->t, 3, &ec, PSO_AF_INET));
	assert_false(pso_tables_sub_served(&f->t, 3, &ea, PSO_AF_INET));
	assert_true(pso_tables_sub_served(&f->t, 3, &eb, PSO_AF_INET));
	assert_int_equal(pso_tables_sub_find(&f->t, 3, &ec), 2);
	assert_int_equal(pso_tables_topic(&f->t, 3)->sub_count, 2);	/* not yet covered */
	/* c came after period 1 had started: the topic waits for period 2. */
	assert_int_equal(settle(f), 2);
	assert_true(pso_tables_sub_served(&f->t, 3, &ec, PSO_AF_INET));
	assert_true(pso_tables_sub_served(&f->t, 3, &ea, PSO_AF_INET));
	assert_false(pso_tables_sub_served(&f->t, 4, &ea, PSO_AF_INET));
	assert_false(pso_tables_sub_served(&f->t, 0, &ea, PSO_AF_INET));
	expect_layout(f, 3, 3, (struct pso_sub[]){ a2, b, c });
	replay(f);
}

/* remove_many and update_many: every topic disabled at once, one period. */
static void test_many(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true), a2 = moved(a);
	struct pso_endpoint ea = ep_of(&a);
	uint16_t ids[] = { 10, 11, 12, 13 };

	defer(f);
	for (int k = 0; k < 4; k++) {
		assert_int_equal(pso_tables_sub_add(&f->t, ids[k], k & 1 ? &b : &a), 0);
		assert_int_equal(pso_tables_sub_add(&f->t, ids[k], k & 1 ? &a : &b), 0);
	}
	reset_log(f);
	assert_int_equal(pso_tables_sub_update_many(&f->t, &a2, ids, 4), 0);
	assert_int_equal(pso_tables_pending(&f->t), 4);
	assert_int_equal(settle(f), 1);
	expect_layout(f, 10, 2, (struct pso_sub[]){ a2, b });
	expect_layout(f, 11, 2, (struct pso_sub[]){ b, a2 });
	assert_int_equal(pso_tables_sub_remove_many(&f->t, &ea, ids, 4), 0);
	assert_int_equal(f->t.nsubs, 4);
	assert_int_equal(settle(f), 1);
	for (int k = 0; k < 4; k++)
		expect_layout(f, ids[k], 1, &b);
	assert_int_equal(started(f), 2);
	check_maps(f, true);
	replay(f);
}

/* Random operations on a few topics, with periods ending at random points:
 * the answers follow a model of the targets, the log keeps the rules, and
 * everything settles at the model. */
/* The live ones of a run, packed. */
static const struct pso_sub *live_of(const struct pso_sub *run, uint32_t cap, struct pso_sub *out)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < cap; i++)
		if (run[i].family)
			out[n++] = run[i];
	return out;
}

static void test_random(void **state)
{
	struct fx *f = FX();
	struct { struct pso_sub s[NS]; uint32_t n; } model[6] = {};
	struct pso_sub packed[NS];
	unsigned seed = 12345;

	defer(f);
	reset_log(f);
	for (int step = 0; step < 1500; step++) {
		uint16_t id = 1 + rand_r(&seed) % 5;
		int who = 1 + rand_r(&seed) % 7, op = rand_r(&seed) % 4, i = -1, ret;
		struct pso_sub s = sub4(who, rand_r(&seed) % 4 != 0);
		struct pso_endpoint ep = ep_of(&s);

		if (rand_r(&seed) % 2)
			s.dst_mac[3] = rand_r(&seed) % 3;
		/* The model keeps the run's order: a hole has family 0, an
		 * add fills the first one. */
		for (uint32_t k = 0; k < NS; k++) {
			struct pso_endpoint have = ep_of(&model[id].s[k]);

			if (model[id].s[k].family && !memcmp(&have, &ep, sizeof(ep)))
				i = k;
		}
		if (op <= 1) {
			ret = pso_tables_sub_add(&f->t, id, &s);
			assert_int_equal(ret, i >= 0 ? -EEXIST : model[id].n == NS ? -ENOSPC : 0);
			if (!ret) {
				uint32_t h = 0;

				while (model[id].s[h].family)
					h++;
				model[id].s[h] = s;
				model[id].n++;
			}
		} else if (op == 2) {
			ret = pso_tables_sub_update(&f->t, id, &s);
			assert_int_equal(ret, i >= 0 ? 0 : -ENOENT);
			if (!ret)
				model[id].s[i] = s;
		} else {
			ret = pso_tables_sub_remove(&f->t, id, &ep);
			assert_int_equal(ret, i >= 0 ? 0 : -ENOENT);
			if (!ret) {
				memset(&model[id].s[i], 0, sizeof(model[id].s[i]));
				model[id].n--;
			}
		}
		expect_target(f, id, model[id].n, live_of(model[id].s, NS, packed));
		/* Now and then a period ends and the event loop gets to it
		 * (whatever is pending has asked for one). */
		if (rand_r(&seed) % 3 == 0 && pso_tables_pending(&f->t)) {
			wait_started(f, f->released + 1);
			release(f);
			grace_done(f);
		}
		if (step % 100 == 99)
			replay(f);
	}
	settle(f);
	for (uint16_t id = 1; id <= 5; id++)
		expect_layout(f, id, model[id].n, live_of(model[id].s, NS, packed));
	check_maps(f, true);
	replay(f);
	assert_int_equal(f->t.deferred_errors, 0);
	print_message("random: %d grace periods for 1500 operations\n", started(f));
}

/* A map write failing in a deferred step is counted and retried at the next
 * grace period; the maps stay safe meanwhile. */
static void test_deferred_error(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true);
	struct pso_endpoint ea = ep_of(&a);

	defer(f);
	assert_int_equal(pso_tables_sub_add(&f->t, 5, &a), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 5, &b), 0);
	reset_log(f);
	assert_int_equal(pso_tables_sub_remove(&f->t, 5, &ea), 0);
	wait_started(f, 1);
	f->t.subs_fd = f->frozen_subs_fd;	/* every slot write fails */
	release(f);
	grace_done(f);
	assert_int_equal(f->t.deferred_errors, 1);
	assert_int_equal(pso_tables_pending(&f->t), 1);
	check_maps(f, false);
	assert_false(pso_tables_sub_served(&f->t, 5, &ea, PSO_AF_INET));
	f->t.subs_fd = f->subs_fd;
	assert_int_equal(settle(f), 1);	/* the retry asked for a period */
	expect_layout(f, 5, 1, &b);
	assert_int_equal(f->t.deferred_errors, 1);
	check_maps(f, true);
	replay(f);
}

/* A write failing in the caller's own steps is the caller's error, and the
 * target stays what it was. */
static void test_immediate_error(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true), c = sub4(3, true);
	struct pso_endpoint eb = ep_of(&b);

	defer(f);
	assert_int_equal(pso_tables_sub_add(&f->t, 6, &a), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 6, &b), 0);
	reset_log(f);
	f->t.subs_fd = f->frozen_subs_fd;
	assert_int_equal(pso_tables_sub_add(&f->t, 6, &c), -EPERM);
	assert_int_equal(pso_tables_sub_remove(&f->t, 6, &eb), -EPERM);
	f->t.subs_fd = f->subs_fd;
	expect_target(f, 6, 2, (struct pso_sub[]){ a, b });
	settle(f);
	expect_layout(f, 6, 2, (struct pso_sub[]){ a, b });
	assert_int_equal(f->t.nsubs, 2);
	check_maps(f, true);
	replay(f);
}

/* Freeing with work pending joins the worker and finishes the work: the
 * maps are left at rest, at the targets. */
static void test_free_pending(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true), c = sub4(3, true), b2 = moved(b);
	struct pso_endpoint ea = ep_of(&a);
	struct pso_topic tv;
	struct pso_sub sv[NS];
	uint32_t base;

	defer(f);
	assert_int_equal(pso_tables_sub_add(&f->t, 9, &a), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 9, &b), 0);
	assert_int_equal(pso_tables_sub_remove(&f->t, 9, &ea), 0);
	wait_started(f, 1);
	assert_int_equal(pso_tables_sub_update(&f->t, 9, &b2), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 9, &c), 0);
	assert_int_equal(pso_tables_pending(&f->t), 1);
	base = rbase(&f->t, 9);
	open_gate(f);
	pso_tables_free(&f->t);
	assert_int_equal(pso_tables_grace_fd(&f->t), -1);
	for (uint32_t k = 0; k < NS; k++) {
		uint32_t key = base + k;

		assert_int_equal(bpf_map_lookup_elem(f->subs_fd, &key, &sv[k]), 0);
	}
	assert_int_equal(bpf_map_lookup_elem(f->topics_fd, &(uint32_t){ 9 }, &tv), 0);
	assert_int_equal(tv.sub_count, 2);
	/* c took a's place (the first hole); b2 stayed where b was */
	assert_memory_equal(&sv[0], &c, sizeof(c));
	assert_memory_equal(&sv[1], &b2, sizeof(sv[1]));
	assert_memory_equal(&tv.first, &sv[0], sizeof(sv[0]));
	assert_true(is_zero(&sv[2]) && is_zero(&sv[3]));
	/* teardown frees again: harmless on a freed (zeroed) struct */
}

/* defer_stop: back to synchronous mode, nothing left pending. */
static void test_stop(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true);
	struct pso_endpoint ea = ep_of(&a), eb = ep_of(&b);

	defer(f);
	assert_int_equal(pso_tables_defer_start(&f->t), 0);	/* again: no-op */
	assert_int_equal(pso_tables_sub_add(&f->t, 2, &a), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 2, &b), 0);
	assert_int_equal(pso_tables_sub_remove(&f->t, 2, &ea), 0);
	wait_started(f, 1);
	release(f);
	pso_tables_defer_stop(&f->t);
	assert_int_equal(pso_tables_pending(&f->t), 0);
	assert_int_equal(pso_tables_grace_fd(&f->t), -1);
	expect_layout(f, 2, 1, &b);
	open_gate(f);
	/* synchronous again: the wait happens inside the call */
	assert_int_equal(pso_tables_sub_remove(&f->t, 2, &eb), 0);
	expect_layout(f, 2, 0, NULL);
	assert_int_equal(pso_tables_pending(&f->t), 0);
	check_maps(f, true);
}

/* Client slots: a slot freed by a leaving client is taken by the client
 * that had to stay in the HASH, once its grace period has passed. */
static struct pso_endpoint client(int n)
{
	struct pso_endpoint ep = { .family = PSO_AF_INET };

	ep.addr[0] = 192;
	ep.addr[1] = 168;
	ep.addr[3] = n;
	ep.port = htons(5000 + n);
	return ep;
}

static uint32_t slot_of(const struct pso_endpoint *ep)
{
	uint32_t w[4];

	memcpy(w, ep->addr, sizeof(w));
	return pso_client_slot_of(w[0], w[1], w[2], w[3], ep->port);
}

static struct pso_endpoint slot_mate(const struct pso_endpoint *ep)
{
	struct pso_endpoint m = *ep;

	/* More slots than ports: the third address byte varies too. */
	for (uint32_t a = 0; a < 256; a++) {
		m.addr[2] = (uint8_t)a;
		for (uint32_t port = 1; port <= 0xffff; port++) {
			m.port = htons(port);
			if (slot_of(&m) == slot_of(ep) && memcmp(&m, ep, sizeof(m)))
				return m;
		}
	}
	fail_msg("no client shares the slot");
	return m;
}

static struct pso_client_slot read_cslot(const struct fx *f, uint32_t idx)
{
	struct pso_client_slot v;

	assert_int_equal(bpf_map_lookup_elem(f->cslots_fd, &idx, &v), 0);
	return v;
}

static void test_client_slots(void **state)
{
	struct fx *f = FX();
	struct pso_endpoint a = client(1), b = slot_mate(&a), c = client(2), d = slot_mate(&c);
	uint32_t ia = slot_of(&a), ic = slot_of(&c);
	struct pso_client_slot v;

	f->cslots_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "g_cslots", sizeof(uint32_t),
				      sizeof(struct pso_client_slot), PSO_CLIENT_SLOTS, NULL);
	assert_true(f->cslots_fd >= 0);
	assert_int_equal(pso_tables_use_client_slots(&f->t, f->cslots_fd), 0);
	defer(f);
	assert_int_equal(pso_tables_client_add(&f->t, &a), 0);
	assert_int_equal(pso_tables_client_add(&f->t, &c), 0);
	assert_int_equal(f->t.nclient_slots, 2);
	/* Leaving never waits, and asks for no period by itself. */
	assert_int_equal(pso_tables_client_remove(&f->t, &a), 0);
	assert_int_equal(pso_tables_client_remove(&f->t, &c), 0);
	assert_int_equal(pso_tables_pending(&f->t), 0);
	/* b would take a's slot: HASH only for now, waiting for it */
	assert_int_equal(pso_tables_client_add(&f->t, &b), 0);
	assert_int_equal(f->t.nclient_slots, 0);
	assert_int_equal(pso_tables_pending(&f->t), 1);
	v = read_cslot(f, ia);
	assert_int_equal(v.ep.family, 0);
	assert_int_equal(v.ep.port, a.port);
	/* d would take c's slot, but leaves before the period ends */
	assert_int_equal(pso_tables_client_add(&f->t, &d), 0);
	assert_int_equal(pso_tables_pending(&f->t), 2);
	assert_int_equal(pso_tables_client_remove(&f->t, &d), 0);
	wait_started(f, 1);
	assert_int_equal(started(f), 1);
	release(f);
	grace_done(f);
	assert_int_equal(pso_tables_pending(&f->t), 0);
	v = read_cslot(f, ia);
	assert_memory_equal(&v.ep, &b, sizeof(b));
	assert_int_equal(f->t.nclient_slots, 1);
	v = read_cslot(f, ic);
	assert_int_equal(v.ep.family, 0);	/* c's, disabled: d is gone */
	assert_int_equal(v.ep.port, c.port);
	assert_int_equal(f->t.nclients, 1);
}

/* Port slots share the mechanism: a changed or removed port's slot is
 * disabled at once and finished after the period; the port is served from
 * the HASH meanwhile. */
static struct pso_port_cfg port_cfg(__u32 ifindex, int n)
{
	struct pso_port_cfg c = { .ifindex = ifindex, .udp_port = htons(1883) };

	c.mac[0] = 0x02;
	c.mac[5] = n;
	c.ip4 = htonl(0x0a000000 | n);
	return c;
}

static struct pso_port_cfg read_pslot(int fd, __u32 ifindex)
{
	struct pso_port_cfg v;
	__u32 slot = pso_port_slot_of(ifindex);

	assert_int_equal(bpf_map_lookup_elem(fd, &slot, &v), 0);
	return v;
}

static void test_port_slots(void **state)
{
	struct fx *f = FX();
	int hash_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "g_ports", sizeof(__u32),
				     sizeof(struct pso_port_cfg), 16, NULL);
	int slots_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "g_pslots", sizeof(__u32),
				      sizeof(struct pso_port_cfg), PSO_PORT_SLOTS, NULL);
	struct pso_port_cfg a = port_cfg(5, 1), a2 = port_cfg(5, 2), b = port_cfg(5 + PSO_PORT_SLOTS, 3);
	struct pso_port_cfg v, got;
	__u32 key = 5;

	assert_true(hash_fd >= 0 && slots_fd >= 0);
	/* Synchronous tables: the wait is inline, through sync_readers. */
	open_gate(f);
	assert_int_equal(pso_port_table_set_deferred(&f->t, hash_fd, slots_fd, &a), 0);
	assert_true(pso_port_table_in_slot(slots_fd, 5));
	assert_int_equal(pso_port_table_set_deferred(&f->t, hash_fd, slots_fd, &a2), 0);
	assert_int_equal(started(f), 1);
	got = read_pslot(slots_fd, 5);
	assert_int_equal(got.mac[5], 2);
	assert_true(pso_port_table_in_slot(slots_fd, 5));

	/* Deferred. */
	f->open = false;
	f->released = f->started;
	defer(f);
	assert_int_equal(pso_port_table_set_deferred(&f->t, hash_fd, slots_fd, &a), 0);
	assert_false(pso_port_table_in_slot(slots_fd, 5));	/* disabled, HASH serves */
	got = read_pslot(slots_fd, 5);
	assert_int_equal(got.flags, 0);
	assert_int_equal(got.mac[5], 2);
	assert_int_equal(bpf_map_lookup_elem(hash_fd, &key, &v), 0);
	assert_int_equal(v.mac[5], 1);
	assert_int_equal(pso_tables_pending(&f->t), 1);
	/* b shares the slot: HASH only while a's is disabled */
	assert_int_equal(pso_port_table_set_deferred(&f->t, hash_fd, slots_fd, &b), 0);
	assert_false(pso_port_table_in_slot(slots_fd, b.ifindex));
	assert_int_equal(settle(f), 1);
	got = read_pslot(slots_fd, 5);
	assert_int_equal(got.mac[5], 1);
	assert_true(pso_port_table_in_slot(slots_fd, 5));

	/* Removal: disabled and out of the HASH at once, zeroed later. */
	assert_int_equal(pso_port_table_remove_deferred(&f->t, hash_fd, slots_fd, 5), 0);
	assert_false(pso_port_table_in_slot(slots_fd, 5));
	assert_int_not_equal(bpf_map_lookup_elem(hash_fd, &key, &v), 0);
	assert_int_equal(settle(f), 1);
	got = read_pslot(slots_fd, 5);
	assert_memory_equal(&got, &(struct pso_port_cfg){ 0 }, sizeof(got));
	/* the slot is free: b takes it at its next set */
	assert_int_equal(pso_port_table_set_deferred(&f->t, hash_fd, slots_fd, &b), 0);
	assert_true(pso_port_table_in_slot(slots_fd, b.ifindex));
	assert_int_equal(pso_tables_pending(&f->t), 0);
	close(hash_fd);
	close(slots_fd);
}

/* The costs, with the real grace period (membarrier): N removals of one
 * resolved subscriber each, synchronous and deferred. */
static void test_cost(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true);
	struct pso_endpoint ea = ep_of(&a);
	enum { N = 100 };
	int64_t t0, sync_ns, defer_ns, settle_ns;
	long sync_periods, defer_periods;

	f->t.sync_readers = pass_sync;
	for (uint16_t id = 1; id <= N; id++) {
		assert_int_equal(pso_tables_sub_add(&f->t, id, &a), 0);
		assert_int_equal(pso_tables_sub_add(&f->t, id, &b), 0);
	}
	t0 = now_ns();
	for (uint16_t id = 1; id <= N / 2; id++)
		assert_int_equal(pso_tables_sub_remove(&f->t, id, &ea), 0);
	sync_ns = now_ns() - t0;
	sync_periods = f->pass_count;

	assert_int_equal(pso_tables_defer_start(&f->t), 0);
	t0 = now_ns();
	for (uint16_t id = N / 2 + 1; id <= N; id++)
		assert_int_equal(pso_tables_sub_remove(&f->t, id, &ea), 0);
	defer_ns = now_ns() - t0;
	while (pso_tables_pending(&f->t)) {
		assert_true(readable(pso_tables_grace_fd(&f->t), DEADLINE_MS));
		pso_tables_grace_done(&f->t);
	}
	settle_ns = now_ns() - t0;
	defer_periods = f->pass_count - sync_periods;
	for (uint16_t id = 1; id <= N; id++)
		expect_layout(f, id, 1, &b);
	print_message("%d removals, synchronous: %ld grace periods, %.3f ms per call\n",
		      N / 2, sync_periods, sync_ns / 1e6 / (N / 2));
	print_message("%d removals, deferred:    %ld grace periods, %.3f ms per call, "
		      "all done after %.1f ms\n", N / 2, defer_periods, defer_ns / 1e6 / (N / 2),
		      settle_ns / 1e6);
	assert_int_equal(sync_periods, N / 2);
	assert_true(defer_periods <= 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_deferred_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_started_after, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_converge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_served, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_immediate_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cost, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
