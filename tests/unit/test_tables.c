// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_tables.c - the host's writer of the data-plane tables, against real
 * BPF maps (16 topics, a pool of 64 subscriber slots with runs of at most 4
 * - the pool tests lift that - and 4 clients; the client slot tests add a
 * pso_client_slots map).
 *
 * After every operation the maps must equal the shadow and the expected
 * layout.  Every map write is also recorded (the on_write hook) and the
 * recorded sequence is replayed as the data plane's readers see it
 * (tests/lib/tblcheck.c: cur, the run, its slots; a reader may stall
 * until a grace period): no servable `first` or slot mixes two
 * subscribers, no subscriber is servable twice in a run a reader may walk,
 * a move flips to a run with the same subscribers (none skipped, none
 * twice), content changes only while disabled, and a disabled servable
 * entry, a left run or a left half is rewritten only after a grace period.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include "tables/tables.h"
#include "tblcheck.h"

#define N_TOPICS  16
#define N_SLOTS   4	/* the longest run, but in the pool tests */
#define N_POOL    64
#define N_CLIENTS 4
#define MAX_EVENTS 512

enum ev_kind { EV_TOPIC, EV_SLOT, EV_CLIENT, EV_SYNC, EV_CSLOT, EV_RUN };

struct ev {
	enum ev_kind kind;
	uint32_t key;		/* topic id or slot index (EV_TOPIC, EV_SLOT,
				 * EV_CSLOT) */
	int err;
	bool del;
	struct pso_topic topic;
	struct pso_sub sub;
	struct pso_endpoint ep;		/* EV_CLIENT: the key */
	struct pso_client_slot cslot;	/* EV_CSLOT */
	struct pso_run run;		/* EV_RUN */
};

struct fx {
	struct pso_tables t;
	int topics_fd, subs_fd, runs_fd, clients_fd;
	int frozen_topics_fd, frozen_subs_fd, frozen_runs_fd;	/* writes to these fail */
	int cslots_fd, frozen_cslots_fd;	/* -1 until use_slots() */
	struct ev log[MAX_EVENTS];
	int nlog;
	int writes;		/* successful writes since reset_log */
	int fail_after;		/* >= 0: fail the writes after this many */
	/* The shadow at reset_log(): where the replay starts. */
	struct pso_topic topics0[N_TOPICS];
	struct pso_run runs0[N_TOPICS];
	struct pso_sub subs0[N_POOL];
};

/* ---- fixture ------------------------------------------------------------- */

static int make_maps(int *topics, int *subs, int *runs)
{
	*topics = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_topics", sizeof(uint32_t),
				 sizeof(struct pso_topic), N_TOPICS, NULL);
	*subs = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_subs", sizeof(uint32_t),
			       sizeof(struct pso_sub), N_POOL, NULL);
	*runs = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_runs", sizeof(uint32_t),
			       sizeof(struct pso_run), N_TOPICS, NULL);
	return *topics < 0 || *subs < 0 || *runs < 0 ? -1 : 0;
}

static void on_write(void *ctx, int fd, const void *key, const void *val, int err)
{
	struct fx *f = ctx;
	struct ev *e;

	assert_true(f->nlog < MAX_EVENTS);
	e = &f->log[f->nlog++];
	memset(e, 0, sizeof(*e));
	e->err = err;
	e->del = val == NULL;
	if (fd == f->topics_fd || fd == f->frozen_topics_fd) {
		e->kind = EV_TOPIC;
		e->key = *(const uint32_t *)key;
		if (val)
			e->topic = *(const struct pso_topic *)val;
	} else if (fd == f->subs_fd || fd == f->frozen_subs_fd) {
		e->kind = EV_SLOT;
		e->key = *(const uint32_t *)key;
		if (val)
			e->sub = *(const struct pso_sub *)val;
	} else if (fd == f->runs_fd || fd == f->frozen_runs_fd) {
		e->kind = EV_RUN;
		e->key = *(const uint32_t *)key;
		if (val)
			e->run = *(const struct pso_run *)val;
	} else if (fd == f->cslots_fd || fd == f->frozen_cslots_fd) {
		e->kind = EV_CSLOT;
		e->key = *(const uint32_t *)key;
		if (val)
			e->cslot = *(const struct pso_client_slot *)val;
	} else {
		assert_int_equal(fd, f->clients_fd);
		e->kind = EV_CLIENT;
		e->ep = *(const struct pso_endpoint *)key;
	}

	/* Fault injection: after fail_after good writes, point the tables at
	 * frozen maps; after the first failure, back at the real ones. */
	if (f->fail_after < 0)
		return;
	if (err) {
		f->t.topics_fd = f->topics_fd;
		f->t.subs_fd = f->subs_fd;
		f->t.runs_fd = f->runs_fd;
		if (f->t.client_slots_fd >= 0)
			f->t.client_slots_fd = f->cslots_fd;
		f->fail_after = -1;
	} else if (++f->writes == f->fail_after) {
		f->t.topics_fd = f->frozen_topics_fd;
		f->t.subs_fd = f->frozen_subs_fd;
		f->t.runs_fd = f->frozen_runs_fd;
		if (f->t.client_slots_fd >= 0)
			f->t.client_slots_fd = f->frozen_cslots_fd;
	}
}

static void on_sync(void *ctx)
{
	struct fx *f = ctx;

	assert_true(f->nlog < MAX_EVENTS);
	memset(&f->log[f->nlog], 0, sizeof(f->log[0]));
	f->log[f->nlog++].kind = EV_SYNC;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	int err;

	if (!f)
		return -1;
	f->cslots_fd = f->frozen_cslots_fd = -1;
	if (make_maps(&f->topics_fd, &f->subs_fd, &f->runs_fd) ||
	    make_maps(&f->frozen_topics_fd, &f->frozen_subs_fd, &f->frozen_runs_fd)) {
		print_message("skip: cannot create BPF maps (%s); run as root\n", strerror(errno));
		free(f);
		*state = NULL;
		return 0;
	}
	f->clients_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "t_clients", sizeof(struct pso_endpoint),
				       sizeof(struct pso_client_val), N_CLIENTS, NULL);
	assert_true(f->clients_fd >= 0);
	assert_int_equal(bpf_map_freeze(f->frozen_topics_fd), 0);
	assert_int_equal(bpf_map_freeze(f->frozen_subs_fd), 0);
	assert_int_equal(bpf_map_freeze(f->frozen_runs_fd), 0);

	err = pso_tables_init(&f->t, f->topics_fd, f->subs_fd, f->runs_fd, f->clients_fd,
			      N_TOPICS, N_POOL, N_CLIENTS);
	assert_int_equal(err, 0);
	assert_int_equal(pso_tables_set_max_run(&f->t, N_SLOTS), 0);
	assert_ptr_equal(f->t.sync_readers, pso_tables_sync_rcu);
	f->t.on_write = on_write;
	f->t.sync_readers = on_sync;
	f->t.hook_ctx = f;
	f->fail_after = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	pso_tables_free(&f->t);
	close(f->topics_fd);
	close(f->subs_fd);
	close(f->clients_fd);
	close(f->frozen_topics_fd);
	close(f->frozen_subs_fd);
	close(f->runs_fd);
	close(f->frozen_runs_fd);
	if (f->cslots_fd >= 0)
		close(f->cslots_fd);
	if (f->frozen_cslots_fd >= 0)
		close(f->frozen_cslots_fd);
	free(f);
	return 0;
}

#define FX() ({ struct fx *_f = *state; if (!_f) skip(); _f; })

static void reset_log(struct fx *f)
{
	f->nlog = 0;
	f->writes = 0;
	memcpy(f->topics0, f->t.topics, sizeof(f->topics0));
	memcpy(f->runs0, f->t.runs, sizeof(f->runs0));
	memcpy(f->subs0, f->t.subs, sizeof(f->subs0));
}

/* ---- subscribers and expectations ------------------------------------------ */

/* Subscriber n: 10.0.0.n:(1000+n) behind MAC 02::n, egress ifindex n. */
static struct pso_sub sub4(int n, bool resolved)
{
	struct pso_sub s = {};

	s.dst_mac[0] = 0x02;
	s.dst_mac[4] = (uint8_t)(n >> 8);
	s.dst_mac[5] = (uint8_t)n;
	s.src_mac[0] = 0x02;
	s.src_mac[5] = 0xfe;
	s.ifindex = n;
	s.dst_port = htons(1000 + n);
	s.family = PSO_AF_INET;
	s.flags = resolved ? PSO_SUB_F_RESOLVED : 0;
	s.src_addr[0] = 10;
	s.src_addr[3] = 254;
	s.dst_addr[0] = 10;
	s.dst_addr[2] = (uint8_t)(n >> 8);
	s.dst_addr[3] = (uint8_t)n;
	return s;
}

static struct pso_endpoint ep_of(const struct pso_sub *s)
{
	struct pso_endpoint ep;

	pso_sub_endpoint(s, &ep);
	return ep;
}

struct dump {
	struct pso_topic topics[N_TOPICS];
	struct pso_run runs[N_TOPICS];
	struct pso_sub subs[N_POOL];
};

static void dump_maps(const struct fx *f, struct dump *d)
{
	for (uint32_t k = 0; k < N_TOPICS; k++) {
		assert_int_equal(bpf_map_lookup_elem(f->topics_fd, &k, &d->topics[k]), 0);
		assert_int_equal(bpf_map_lookup_elem(f->runs_fd, &k, &d->runs[k]), 0);
	}
	for (uint32_t k = 0; k < N_POOL; k++)
		assert_int_equal(bpf_map_lookup_elem(f->subs_fd, &k, &d->subs[k]), 0);
}

static bool is_zero(const struct pso_sub *s)
{
	static const struct pso_sub zero;

	return !memcmp(s, &zero, sizeof(zero));
}

static uint32_t run_base(const struct pso_run *r)
{
	return r->base[r->cur & 1];
}

static uint32_t run_cap(const struct pso_run *r)
{
	return r->cap[r->cur & 1];
}

/* The maps hold exactly the shadow, and every topic is at rest: `first`
 * is the first live slot of its run, sub_count the live ones (at most
 * 255), pool slots outside every run are zero, runs do not overlap. */
static void check_maps_of(const struct fx *f, const struct pso_tables *tb)
{
	static const struct pso_sub zero;
	uint8_t owned[N_POOL] = {};
	struct dump d;

	dump_maps(f, &d);
	assert_memory_equal(d.topics, tb->topics, sizeof(d.topics));
	assert_memory_equal(d.runs, tb->runs, sizeof(d.runs));
	assert_memory_equal(d.subs, tb->subs, sizeof(d.subs));
	for (int id = 0; id < N_TOPICS; id++) {
		const struct pso_topic *t = &d.topics[id];
		uint32_t base = run_base(&d.runs[id]), cap = run_cap(&d.runs[id]), live = 0;
		const struct pso_sub *first = NULL;

		assert_true(base + cap <= N_POOL);
		for (uint32_t i = 0; i < cap; i++) {
			assert_false(owned[base + i]);
			owned[base + i] = 1;
			if (d.subs[base + i].family) {
				live++;
				if (!first)
					first = &d.subs[base + i];
			} else {
				assert_true(is_zero(&d.subs[base + i]));
			}
		}
		assert_int_equal(t->sub_count, live < 255 ? live : 255);
		assert_memory_equal(&t->first, first ? first : &zero, sizeof(zero));
	}
	for (int k = 0; k < N_POOL; k++)
		if (!owned[k])
			assert_true(is_zero(&d.subs[k]));
}

static void check_maps(const struct fx *f)
{
	check_maps_of(f, &f->t);
}

/* Topic id holds exactly these subscribers, in this run order. */
static void expect_layout(const struct fx *f, uint16_t id, int n, const struct pso_sub *want)
{
	const struct pso_topic *t = pso_tables_topic(&f->t, id);
	const struct pso_run *r = pso_tables_run(&f->t, id);
	int k = 0;

	check_maps(f);
	for (uint32_t i = 0; i < run_cap(r); i++) {
		const struct pso_sub *s = pso_tables_slot(&f->t, id, i);
		struct pso_endpoint ep;

		if (!s->family)
			continue;
		assert_true(k < n);
		assert_memory_equal(s, &want[k], sizeof(want[k]));
		ep = ep_of(&want[k]);
		assert_int_equal(pso_tables_sub_find(&f->t, id, &ep), (int)i);
		k++;
	}
	assert_int_equal(k, n);
	assert_int_equal(t->sub_count, n < 255 ? n : 255);
	if (n)
		assert_memory_equal(&t->first, &want[0], sizeof(want[0]));
	else
		assert_int_equal(run_cap(r), 0);	/* no subscriber: no run */
}

static uint32_t pool_free(const struct fx *f)
{
	struct pso_tables_usage u;

	pso_tables_usage(&f->t, &u);
	return u.pool_free;
}

/* ---- replaying the write log ------------------------------------------------ */

/*
 * Replay the log since reset_log() as the data plane's readers see it
 * (tblcheck.h); it must end where the tables are.
 */
static void replay(const struct fx *f)
{
	struct tblcheck c;

	assert_int_equal(tblcheck_init(&c, N_TOPICS, N_POOL, f->topics0, f->runs0, f->subs0), 0);
	for (int n = 0; n < f->nlog; n++) {
		const struct ev *e = &f->log[n];

		if (e->kind == EV_SYNC) {
			/* Synchronous waits: every write before it is covered. */
			tblcheck_sync(&c, n);
			continue;
		}
		if (e->err || e->del)
			continue;
		if (e->kind == EV_TOPIC)
			tblcheck_topic(&c, n, e->key, &e->topic);
		else if (e->kind == EV_RUN)
			tblcheck_run(&c, n, e->key, &e->run);
		else if (e->kind == EV_SLOT)
			tblcheck_slot(&c, n, e->key, &e->sub);
	}
	if (tblcheck_equal(&c, f->t.topics, f->t.runs, f->t.subs))
		fail_msg("%s", c.err);
	tblcheck_free(&c);
}

/* ---- expected write sequences ------------------------------------------------ */

struct want_ev {
	enum ev_kind kind;
	uint32_t key;
	const void *val;	/* struct pso_topic, pso_sub, pso_run or
				 * pso_client_slot; EV_CLIENT: the key, or NULL
				 * for any */
};

static struct pso_topic topic_v(uint16_t count, uint8_t flags, struct pso_sub first)
{
	struct pso_topic t = { .sub_count = count, .flags = flags, .first = first };

	return t;
}

static struct pso_sub off(struct pso_sub s)
{
	s.flags = 0;
	return s;
}

static void expect_log(const struct fx *f, int n, const struct want_ev *want)
{
	static const char *kinds[] = { "topic", "slot", "client", "sync", "client slot", "run" };

	for (int i = 0; i < n && i < f->nlog; i++) {
		const struct ev *e = &f->log[i];

		if (e->kind != want[i].kind || (e->kind != EV_SYNC && e->key != want[i].key))
			fail_msg("write %d: got %s %u, want %s %u", i, kinds[e->kind], e->key,
				 kinds[want[i].kind], want[i].key);
		assert_int_equal(e->err, 0);
		if (e->kind == EV_TOPIC)
			assert_memory_equal(&e->topic, want[i].val, sizeof(e->topic));
		else if (e->kind == EV_SLOT)
			assert_memory_equal(&e->sub, want[i].val, sizeof(e->sub));
		else if (e->kind == EV_RUN)
			assert_memory_equal(&e->run, want[i].val, sizeof(e->run));
		else if (e->kind == EV_CSLOT)
			assert_memory_equal(&e->cslot, want[i].val, sizeof(e->cslot));
		else if (e->kind == EV_CLIENT && want[i].val)
			assert_memory_equal(&e->ep, want[i].val, sizeof(e->ep));
	}
	if (f->nlog != n)
		fail_msg("%d writes, want %d", f->nlog, n);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_init_checks(void **state)
{
	struct fx *f = FX();
	struct pso_tables t;
	int small;

	/* A pool map smaller than the pool asked for. */
	assert_int_equal(pso_tables_init(&t, f->topics_fd, f->subs_fd, f->runs_fd, f->clients_fd,
					 N_TOPICS, N_POOL + 1, N_CLIENTS), -EINVAL);
	/* Maps swapped: value sizes differ. */
	assert_int_equal(pso_tables_init(&t, f->subs_fd, f->topics_fd, f->runs_fd, f->clients_fd,
					 N_TOPICS, 1, N_CLIENTS), -EINVAL);
	assert_int_equal(pso_tables_init(&t, f->topics_fd, f->runs_fd, f->subs_fd, f->clients_fd,
					 N_TOPICS, N_POOL, N_CLIENTS), -EINVAL);
	assert_int_equal(pso_tables_init(&t, f->topics_fd, f->subs_fd, f->runs_fd, f->topics_fd,
					 N_TOPICS, N_POOL, N_CLIENTS), -EINVAL);
	assert_int_equal(pso_tables_init(&t, f->topics_fd, f->subs_fd, f->runs_fd, f->clients_fd,
					 1, N_POOL, N_CLIENTS), -EINVAL);
	assert_int_equal(pso_tables_init(&t, f->topics_fd, f->subs_fd, f->runs_fd, f->clients_fd,
					 N_TOPICS, 0, N_CLIENTS), -EINVAL);
	small = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_small", sizeof(uint32_t),
			       sizeof(struct pso_topic), N_TOPICS - 1, NULL);
	assert_true(small >= 0);
	assert_int_equal(pso_tables_init(&t, small, f->subs_fd, f->runs_fd, f->clients_fd,
					 N_TOPICS, N_POOL, N_CLIENTS), -EINVAL);
	close(small);
	assert_true(pso_tables_init(&t, -1, f->subs_fd, f->runs_fd, f->clients_fd,
				    N_TOPICS, N_POOL, N_CLIENTS) < 0);
	/* Runs: powers of two up to PSO_MAX_RUN. */
	assert_int_equal(pso_tables_set_max_run(&f->t, 3), -EINVAL);
	assert_int_equal(pso_tables_set_max_run(&f->t, 2 * PSO_MAX_RUN), -EINVAL);
	assert_int_equal(pso_tables_set_max_run(&f->t, 0), -EINVAL);
}

static void test_bad_arguments(void **state)
{
	struct fx *f = FX();
	struct pso_sub s = sub4(1, true), bad = s;
	struct pso_endpoint ep = ep_of(&s);

	bad.family = 5;
	assert_int_equal(pso_tables_sub_add(&f->t, 0, &s), -EINVAL);
	assert_int_equal(pso_tables_sub_add(&f->t, N_TOPICS, &s), -EINVAL);
	assert_int_equal(pso_tables_sub_add(&f->t, 1, &bad), -EINVAL);
	assert_int_equal(pso_tables_topic_set(&f->t, 0, 0), -EINVAL);
	assert_int_equal(pso_tables_topic_set(&f->t, N_TOPICS, 0), -EINVAL);
	assert_int_equal(pso_tables_sub_remove(&f->t, 1, &ep), -ENOENT);
	assert_int_equal(pso_tables_sub_update(&f->t, 1, &s), -ENOENT);
	assert_int_equal(pso_tables_sub_find(&f->t, 1, &ep), -ENOENT);
	assert_null(pso_tables_topic(&f->t, N_TOPICS));
	assert_null(pso_tables_slot(&f->t, 1, 0));	/* no run yet */
	assert_int_equal(f->nlog, 0);
}

static void test_topic_set(void **state)
{
	struct fx *f = FX();
	struct pso_sub s = sub4(1, true);
	struct pso_topic want;

	assert_int_equal(pso_tables_sub_add(&f->t, 5, &s), 0);
	reset_log(f);
	assert_int_equal(pso_tables_topic_set(&f->t, 5, PSO_TOPIC_F_ALLOW_QOSM1), 0);
	want = topic_v(1, PSO_TOPIC_F_VALID | PSO_TOPIC_F_ALLOW_QOSM1, s);
	expect_log(f, 1, (struct want_ev[]){ { EV_TOPIC, 5, &want } });
	expect_layout(f, 5, 1, &s);

	/* Flags are replaced, subscribers kept; the same flags write nothing. */
	reset_log(f);
	assert_int_equal(pso_tables_topic_set(&f->t, 5, 0), 0);
	assert_int_equal(pso_tables_topic_set(&f->t, 5, 0), 0);
	assert_int_equal(f->nlog, 1);
	assert_int_equal(pso_tables_topic(&f->t, 5)->flags, PSO_TOPIC_F_VALID);
	expect_layout(f, 5, 1, &s);
}

/*
 * Short-form slots (PSO_SUB_F_SHORT): the data plane serves one only when
 * it has the topic's short name, so the tables write such a slot not
 * servable until the name is in pso_short_names, and write the name once.
 */
static void test_short_names(void **state)
{
	struct fx *f = FX();
	struct pso_sub s = sub4(1, true), got;
	struct pso_short_name sn;
	int names_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_short", sizeof(uint32_t),
				      sizeof(struct pso_short_name), N_TOPICS, NULL);
	__u32 key = 5, slot;

	assert_true(names_fd >= 0);
	f->t.on_write = NULL;	/* the log knows no short-name map */
	/* Not the map it needs: refused, nothing kept. */
	assert_int_equal(pso_tables_use_short_names(&f->t, f->topics_fd), -EINVAL);
	assert_int_equal(f->t.short_names_fd, -1);
	/* Without the map a name is not written, and the slot stays the daemon's. */
	assert_int_equal(pso_tables_short_name_set(&f->t, 5, (const uint8_t *)"ab"), 0);
	s.flags |= PSO_SUB_F_SHORT;
	assert_int_equal(pso_tables_topic_set(&f->t, 5, 0), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 5, &s), 0);
	assert_int_equal(pso_tables_slot(&f->t, 5, 0)->flags, PSO_SUB_F_SHORT);
	slot = run_base(pso_tables_run(&f->t, 5));
	assert_int_equal(bpf_map_lookup_elem(f->subs_fd, &slot, &got), 0);
	assert_int_equal(got.flags, PSO_SUB_F_SHORT);

	assert_int_equal(pso_tables_use_short_names(&f->t, names_fd), 0);
	assert_int_equal(pso_tables_short_name_set(&f->t, N_TOPICS, (const uint8_t *)"ab"),
			 -EINVAL);
	assert_int_equal(pso_tables_short_name_set(&f->t, 5, (const uint8_t *)"ab"), 0);
	assert_int_equal(bpf_map_lookup_elem(names_fd, &key, &sn), 0);
	assert_int_equal(sn.valid, 1);
	assert_memory_equal(sn.name, "ab", 2);
	/* Now the same slot is servable, in its form. */
	assert_int_equal(pso_tables_sub_update(&f->t, 5, &s), 0);
	assert_int_equal(pso_tables_slot(&f->t, 5, 0)->flags, PSO_SUB_F_RESOLVED | PSO_SUB_F_SHORT);
	assert_int_equal(bpf_map_lookup_elem(f->subs_fd, &slot, &got), 0);
	assert_int_equal(got.flags, PSO_SUB_F_RESOLVED | PSO_SUB_F_SHORT);
	/* Another topic without a name: its short-form slot is not servable,
	 * by one subscriber's change across topics too. */
	assert_int_equal(pso_tables_topic_set(&f->t, 6, 0), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 6, &s), 0);
	assert_int_equal(pso_tables_sub_update_many(&f->t, &s, (const uint16_t[]){ 5, 6 }, 2), 0);
	assert_int_equal(pso_tables_slot(&f->t, 5, 0)->flags, PSO_SUB_F_RESOLVED | PSO_SUB_F_SHORT);
	assert_int_equal(pso_tables_slot(&f->t, 6, 0)->flags, PSO_SUB_F_SHORT);
	close(names_fd);
}

static void test_add_subscribers(void **state)
{
	struct fx *f = FX();
	struct pso_sub s[N_SLOTS];

	assert_int_equal(pso_tables_topic_set(&f->t, 3, 0), 0);
	for (int i = 0; i < N_SLOTS; i++) {
		s[i] = sub4(i + 1, i != 2);	/* one not yet resolved */
		reset_log(f);
		assert_int_equal(pso_tables_sub_add(&f->t, 3, &s[i]), 0);
		replay(f);
		expect_layout(f, 3, i + 1, s);
		assert_int_equal(f->t.nsubs, i + 1);
		assert_int_equal(pso_tables_topic(&f->t, 3)->flags, PSO_TOPIC_F_VALID);
	}
	/* Already there. */
	reset_log(f);
	assert_int_equal(pso_tables_sub_add(&f->t, 3, &s[1]), -EEXIST);
	assert_int_equal(f->nlog, 0);
	/* Other topics untouched. */
	assert_int_equal(pso_tables_topic(&f->t, 4)->sub_count, 0);
}

static void test_congestion(void **state)
{
	struct fx *f = FX();
	struct pso_sub extra = sub4(9, true);
	struct dump before, after;

	for (int i = 0; i < N_SLOTS; i++) {
		struct pso_sub s = sub4(i + 1, true);

		assert_int_equal(pso_tables_sub_add(&f->t, 7, &s), 0);
	}
	dump_maps(f, &before);
	reset_log(f);
	/* The run is as long as max_run lets it be. */
	assert_int_equal(pso_tables_sub_add(&f->t, 7, &extra), -ENOSPC);
	assert_int_equal(f->nlog, 0);
	dump_maps(f, &after);
	assert_memory_equal(&before, &after, sizeof(before));
	check_maps(f);
	assert_int_equal(f->t.nsubs, N_SLOTS);
	/* Another topic still takes subscribers. */
	assert_int_equal(pso_tables_sub_add(&f->t, 8, &extra), 0);
}

/* Topic id with subscribers 1..n, all resolved. */
static void fill(struct fx *f, uint16_t id, int n, struct pso_sub *s)
{
	for (int i = 0; i < n; i++) {
		s[i] = sub4(i + 1, true);
		assert_int_equal(pso_tables_sub_add(&f->t, id, &s[i]), 0);
	}
}

static void remove_checked(struct fx *f, uint16_t id, const struct pso_sub *s)
{
	struct pso_endpoint ep = ep_of(s);

	reset_log(f);
	assert_int_equal(pso_tables_sub_remove(&f->t, id, &ep), 0);
	replay(f);
	assert_int_equal(pso_tables_sub_find(&f->t, id, &ep), -ENOENT);
}

static void test_remove(void **state)
{
	struct fx *f = FX();
	struct pso_sub s[N_SLOTS];
	struct pso_endpoint ep;

	fill(f, 2, 4, s);
	/* middle: a hole, nothing moves */
	remove_checked(f, 2, &s[1]);
	expect_layout(f, 2, 3, (struct pso_sub[]){ s[0], s[2], s[3] });
	assert_true(is_zero(pso_tables_slot(&f->t, 2, 1)));
	/* first: `first` follows the first live slot */
	remove_checked(f, 2, &s[0]);
	expect_layout(f, 2, 2, (struct pso_sub[]){ s[2], s[3] });
	remove_checked(f, 2, &s[3]);
	expect_layout(f, 2, 1, (struct pso_sub[]){ s[2] });
	/* the only one: `first` is cleared, and the run freed */
	remove_checked(f, 2, &s[2]);
	expect_layout(f, 2, 0, NULL);
	assert_int_equal(f->t.nsubs, 0);
	ep = ep_of(&s[2]);
	assert_int_equal(pso_tables_sub_remove(&f->t, 2, &ep), -ENOENT);
	assert_int_equal(pool_free(f), N_POOL);

	/* The slots are reused; an add fills the first hole. */
	fill(f, 2, 4, s);
	expect_layout(f, 2, 4, s);
	remove_checked(f, 2, &s[1]);
	reset_log(f);
	assert_int_equal(pso_tables_sub_add(&f->t, 2, &s[1]), 0);
	replay(f);
	expect_layout(f, 2, 4, s);
}

static void test_update_in_place(void **state)
{
	struct fx *f = FX();
	struct pso_sub s[3], moved, unres, learned;
	uint32_t base;

	fill(f, 4, 3, s);
	base = run_base(pso_tables_run(&f->t, 4));

	/* Next hop of slot 0 changes: slot and `first` go through the protocol. */
	moved = s[0];
	moved.dst_mac[4] = 0x77;
	moved.ifindex = 42;
	reset_log(f);
	assert_int_equal(pso_tables_sub_update(&f->t, 4, &moved), 0);
	replay(f);
	struct pso_topic t_off = topic_v(3, 0, off(s[0]));
	struct pso_topic t_new_off = topic_v(3, 0, off(moved));
	struct pso_topic t_new = topic_v(3, 0, moved);
	struct pso_sub s0_off = off(s[0]), moved_off = off(moved);
	expect_log(f, 7, (struct want_ev[]){
		{ EV_TOPIC, 4, &t_off },
		{ EV_SLOT, base, &s0_off },
		{ EV_SYNC, 0, NULL },
		{ EV_SLOT, base, &moved_off },
		{ EV_SLOT, base, &moved },
		{ EV_TOPIC, 4, &t_new_off },
		{ EV_TOPIC, 4, &t_new },
	});
	expect_layout(f, 4, 3, (struct pso_sub[]){ moved, s[1], s[2] });

	/* Slot 2 loses its neighbour: only its flags byte changes. */
	unres = s[2];
	unres.flags = 0;
	reset_log(f);
	assert_int_equal(pso_tables_sub_update(&f->t, 4, &unres), 0);
	expect_log(f, 1, (struct want_ev[]){ { EV_SLOT, base + 2, &unres } });

	/* Then learns a new one: content while disabled, then flags - after
	 * a grace period: a reader that read the flags set just before they
	 * were cleared may still be reading the old content. */
	learned = s[2];
	learned.dst_mac[4] = 0x99;
	reset_log(f);
	assert_int_equal(pso_tables_sub_update(&f->t, 4, &learned), 0);
	replay(f);
	struct pso_sub learned_off = off(learned);
	expect_log(f, 3, (struct want_ev[]){
		{ EV_SYNC, 0, NULL },
		{ EV_SLOT, base + 2, &learned_off },
		{ EV_SLOT, base + 2, &learned },
	});
	expect_layout(f, 4, 3, (struct pso_sub[]){ moved, s[1], learned });

	/* The same content again writes nothing. */
	reset_log(f);
	assert_int_equal(pso_tables_sub_update(&f->t, 4, &learned), 0);
	assert_int_equal(f->nlog, 0);
	assert_int_equal(f->t.nsubs, 3);
}

/* The exact writes of the operations the protocol is built around. */
static void test_write_order(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true);
	struct pso_sub a_off = off(a), b_off = off(b);
	static const struct pso_sub zero;
	struct pso_endpoint ep_a = ep_of(&a), ep_b = ep_of(&b);
	struct pso_run r_half, r_flip, r_free;
	uint32_t base;

	/* add the first subscriber: a run (its half, then the flip; nobody
	 * read it before), then the slot in two steps, `first` disabled with
	 * the count still 0, then the count and the flags together */
	reset_log(f);
	assert_int_equal(pso_tables_sub_add(&f->t, 6, &a), 0);
	replay(f);
	base = run_base(pso_tables_run(&f->t, 6));
	r_half = (struct pso_run){ .base = { 0, base }, .cap = { 0, N_SLOTS }, .cur = 0 };
	r_flip = r_half;
	r_flip.cur = 1;
	struct pso_topic t1 = topic_v(0, 0, a_off), t2 = topic_v(1, 0, a);
	expect_log(f, 6, (struct want_ev[]){
		{ EV_RUN, 6, &r_half },
		{ EV_RUN, 6, &r_flip },
		{ EV_SLOT, base, &a_off },
		{ EV_SLOT, base, &a },
		{ EV_TOPIC, 6, &t1 },
		{ EV_TOPIC, 6, &t2 },
	});

	/* add a second: slot 1 in two steps (TC walks the whole run), then
	 * the count */
	struct pso_topic t3 = topic_v(2, 0, a);
	reset_log(f);
	assert_int_equal(pso_tables_sub_add(&f->t, 6, &b), 0);
	replay(f);
	expect_log(f, 3, (struct want_ev[]){
		{ EV_SLOT, base + 1, &b_off },
		{ EV_SLOT, base + 1, &b },
		{ EV_TOPIC, 6, &t3 },
	});

	/* remove slot 0 of two: count down with `first` disabled, disable slot
	 * 0, wait, `first` follows slot 1, zero the hole; b never moves */
	struct pso_topic r1 = topic_v(1, 0, a_off), r2 = topic_v(1, 0, b_off), r3 = topic_v(1, 0, b);
	reset_log(f);
	assert_int_equal(pso_tables_sub_remove(&f->t, 6, &ep_a), 0);
	replay(f);
	expect_log(f, 6, (struct want_ev[]){
		{ EV_TOPIC, 6, &r1 },
		{ EV_SLOT, base, &a_off },
		{ EV_SYNC, 0, NULL },
		{ EV_TOPIC, 6, &r2 },
		{ EV_TOPIC, 6, &r3 },
		{ EV_SLOT, base, &zero },
	});
	expect_layout(f, 6, 1, &b);

	/* remove the last: disabled, the run goes in the same grace period
	 * (its half, the flip), then the topic entry; the run zeroed after */
	/* (the half readers left already says "no run": only the flip) */
	r_free = (struct pso_run){ .base = { 0, base }, .cap = { 0, N_SLOTS }, .cur = 0 };
	struct pso_topic z1 = topic_v(0, 0, b_off), z2 = topic_v(0, 0, zero);
	reset_log(f);
	assert_int_equal(pso_tables_sub_remove(&f->t, 6, &ep_b), 0);
	replay(f);
	expect_log(f, 6, (struct want_ev[]){
		{ EV_TOPIC, 6, &z1 },
		{ EV_SLOT, base + 1, &b_off },
		{ EV_RUN, 6, &r_free },
		{ EV_SYNC, 0, NULL },
		{ EV_TOPIC, 6, &z2 },
		{ EV_SLOT, base + 1, &zero },
	});
	expect_layout(f, 6, 0, NULL);
	assert_int_equal(pool_free(f), N_POOL);
}

/*
 * A map write fails at every position of an operation in turn: the error
 * comes back, the topic has its subscribers as before, and the shadow
 * equals the maps.
 */
static void run_with_faults(struct fx *f, uint16_t id, int (*op)(struct fx *f, uint16_t id),
			    int n, const struct pso_sub *before)
{
	int total = 0, err;

	for (int k = 0;; k++) {
		reset_log(f);
		f->fail_after = k;
		if (k == 0) {
			f->t.topics_fd = f->frozen_topics_fd;
			f->t.subs_fd = f->frozen_subs_fd;
			f->t.runs_fd = f->frozen_runs_fd;
		}
		err = op(f, id);
		if (f->fail_after >= 0) {	/* finished before write k + 1 */
			f->fail_after = -1;
			f->t.topics_fd = f->topics_fd;
			f->t.subs_fd = f->subs_fd;
			f->t.runs_fd = f->runs_fd;
			assert_int_equal(err, 0);
			total = k;
			break;
		}
		if (err != -EPERM)
			fail_msg("fault after %d writes: got %d, want -EPERM", k, err);
		/* The undo followed the rules as well. */
		replay(f);
		expect_layout(f, id, n, before);
	}
	assert_true(total > 0);
}

static int op_add_first(struct fx *f, uint16_t id)
{
	struct pso_sub s = sub4(9, true);

	return pso_tables_sub_add(&f->t, id, &s);
}

static int op_remove_slot0(struct fx *f, uint16_t id)
{
	struct pso_sub s = sub4(1, true);
	struct pso_endpoint ep = ep_of(&s);

	return pso_tables_sub_remove(&f->t, id, &ep);
}

static int op_remove_middle(struct fx *f, uint16_t id)
{
	struct pso_sub s = sub4(2, true);
	struct pso_endpoint ep = ep_of(&s);

	return pso_tables_sub_remove(&f->t, id, &ep);
}

static int op_update_slot0(struct fx *f, uint16_t id)
{
	struct pso_sub s = sub4(1, true);

	s.dst_mac[3] = 0x55;
	return pso_tables_sub_update(&f->t, id, &s);
}

static void test_write_errors(void **state)
{
	struct fx *f = FX();
	struct pso_sub s[4];
	struct pso_sub upd = sub4(1, true);

	run_with_faults(f, 9, op_add_first, 0, NULL);
	assert_int_equal(f->t.nsubs, 1);
	fill(f, 10, 3, s);
	run_with_faults(f, 10, op_remove_slot0, 3, s);
	expect_layout(f, 10, 2, (struct pso_sub[]){ s[1], s[2] });
	fill(f, 11, 3, s);
	run_with_faults(f, 11, op_remove_middle, 3, s);
	expect_layout(f, 11, 2, (struct pso_sub[]){ s[0], s[2] });
	fill(f, 12, 3, s);
	run_with_faults(f, 12, op_update_slot0, 3, s);
	upd.dst_mac[3] = 0x55;
	expect_layout(f, 12, 3, (struct pso_sub[]){ upd, s[1], s[2] });
	/* Only the successful runs counted. */
	assert_int_equal(f->t.nsubs, 1 + 2 + 2 + 3);
}

/* Random operations against a model of each topic's subscriber set. */
static void test_random_ops(void **state)
{
	struct fx *f = FX();
	struct pso_sub model[N_TOPICS][N_SLOTS];
	int count[N_TOPICS] = {};
	unsigned int seed = 12345;

	for (int step = 0; step < 3000; step++) {
		uint16_t id = 1 + rand_r(&seed) % 3;
		int who = 1 + rand_r(&seed) % 6;
		struct pso_sub s = sub4(who, rand_r(&seed) % 4 != 0);
		struct pso_endpoint ep = ep_of(&s);
		int at = -1, op = rand_r(&seed) % 3, err;

		for (int i = 0; i < count[id]; i++)
			if (!memcmp(&model[id][i].dst_addr, &s.dst_addr, sizeof(s.dst_addr)))
				at = i;
		if (op == 2)	/* a next-hop change */
			s.dst_mac[4] = rand_r(&seed) % 3;
		reset_log(f);
		if (op == 0) {
			err = pso_tables_sub_add(&f->t, id, &s);
			if (at >= 0)
				assert_int_equal(err, -EEXIST);
			else if (count[id] == N_SLOTS)
				assert_int_equal(err, -ENOSPC);
			else {
				assert_int_equal(err, 0);
				model[id][count[id]++] = s;
			}
		} else if (op == 1) {
			err = pso_tables_sub_remove(&f->t, id, &ep);
			if (at < 0)
				assert_int_equal(err, -ENOENT);
			else {
				assert_int_equal(err, 0);
				memmove(&model[id][at], &model[id][at + 1],
					(size_t)(--count[id] - at) * sizeof(model[id][0]));
			}
		} else {
			err = pso_tables_sub_update(&f->t, id, &s);
			if (at < 0)
				assert_int_equal(err, -ENOENT);
			else {
				assert_int_equal(err, 0);
				model[id][at] = s;
			}
		}
		replay(f);
		/* Holes refill first: the run order is not the model's order;
		 * compare as sets. */
		check_maps(f);
		assert_int_equal(pso_tables_topic(&f->t, id)->sub_count, count[id]);
		for (int i = 0; i < count[id]; i++) {
			struct pso_endpoint e = ep_of(&model[id][i]);
			int k = pso_tables_sub_find(&f->t, id, &e);

			assert_true(k >= 0);
			assert_memory_equal(pso_tables_slot(&f->t, id, (uint32_t)k), &model[id][i],
					    sizeof(model[id][i]));
		}
	}
}

/* ---- the pool: runs grown, shrunk, freed ------------------------------------ */

static int live_in_run(const struct fx *f, uint16_t id)
{
	const struct pso_run *r = pso_tables_run(&f->t, id);
	int n = 0;

	for (uint32_t i = 0; i < run_cap(r); i++)
		n += pso_tables_slot(&f->t, id, i)->family != 0;
	return n;
}

/* Every subscriber of the list is in the topic's run, once. */
static void expect_set(const struct fx *f, uint16_t id, int n, const struct pso_sub *want)
{
	check_maps(f);
	assert_int_equal(live_in_run(f, id), n);
	for (int i = 0; i < n; i++) {
		struct pso_endpoint ep = ep_of(&want[i]);
		int k = pso_tables_sub_find(&f->t, id, &ep);

		assert_true(k >= 0);
		assert_memory_equal(pso_tables_slot(&f->t, id, (uint32_t)k), &want[i],
				    sizeof(want[i]));
		assert_true(pso_tables_sub_served(&f->t, id, &ep, PSO_AF_INET));
	}
}

/* A topic grows to half the pool (a grow needs the old run and the new
 * one at once), each move replayed as readers see it (the flip to a run
 * with the same subscribers), and shrinks back. */
static void test_pool_grow_shrink(void **state)
{
	struct fx *f = FX();
	struct pso_sub s[N_POOL / 2], t2[N_POOL / 2];
	struct pso_endpoint ep;
	uint32_t caps[] = { 4, 4, 4, 4, 8, 8, 8, 8, 16 };

	assert_int_equal(pso_tables_set_max_run(&f->t, N_POOL / 2), 0);
	assert_int_equal(pso_tables_topic_set(&f->t, 1, 0), 0);
	for (int i = 0; i < N_POOL / 2; i++) {
		s[i] = sub4(i + 1, true);
		reset_log(f);
		assert_int_equal(pso_tables_sub_add(&f->t, 1, &s[i]), 0);
		replay(f);
		expect_layout(f, 1, i + 1, s);	/* a grow keeps the order */
		if (i < (int)(sizeof(caps) / sizeof(caps[0])))
			assert_int_equal(run_cap(pso_tables_run(&f->t, 1)), caps[i]);
	}
	assert_int_equal(run_cap(pso_tables_run(&f->t, 1)), N_POOL / 2);
	/* The longest run is full: refused. */
	assert_int_equal(pso_tables_sub_add(&f->t, 1, &(struct pso_sub){ .family = PSO_AF_INET,
			 .dst_port = 7 }), -ENOSPC);
	/* Two more topics take most of the other half: 16 and 8. */
	fill(f, 2, N_POOL / 4, t2);
	fill(f, 3, N_POOL / 8, t2);
	assert_int_equal(pool_free(f), N_POOL / 8);
	/* No free run of 16 for topic 3's ninth: refused, nothing written. */
	reset_log(f);
	assert_int_equal(pso_tables_sub_add(&f->t, 3, &t2[N_POOL / 8]), -ENOSPC);
	assert_int_equal(f->nlog, 0);
	check_maps(f);
	/* The last 8 slots: two topics of 4, then the pool is full. */
	fill(f, 4, 4, t2);
	fill(f, 5, 4, t2);
	assert_int_equal(pool_free(f), 0);
	reset_log(f);
	assert_int_equal(pso_tables_sub_add(&f->t, 6, &t2[0]), -ENOSPC);
	assert_int_equal(f->nlog, 0);
	check_maps(f);
	for (int i = 0; i < N_POOL / 4; i++) {
		remove_checked(f, 2, &t2[i]);
		if (i < N_POOL / 8)
			remove_checked(f, 3, &t2[i]);
		if (i < 4) {
			remove_checked(f, 4, &t2[i]);
			remove_checked(f, 5, &t2[i]);
		}
	}
	assert_int_equal(pool_free(f), N_POOL / 2);
	/* Down to a quarter: the next removal shrinks the run (the live
	 * ones keep their order), replayed too. */
	for (int i = N_POOL / 2 - 1; i >= 3; i--) {
		ep = ep_of(&s[i]);
		reset_log(f);
		assert_int_equal(pso_tables_sub_remove(&f->t, 1, &ep), 0);
		replay(f);
		expect_layout(f, 1, i, s);
		/* Never more than a quarter empty... but for hysteresis: a
		 * run shrinks when at most a quarter of it is used. */
		assert_true(run_cap(pso_tables_run(&f->t, 1)) < (uint32_t)(4 * i + 4));
	}
	/* Three left: a run of PSO_MIN_RUN (4) at most twice what it holds. */
	assert_int_equal(run_cap(pso_tables_run(&f->t, 1)), 8);
	assert_int_equal(pool_free(f), N_POOL - 8);
	for (int i = 2; i >= 0; i--)
		remove_checked(f, 1, &s[i]);
	expect_layout(f, 1, 0, NULL);
	assert_int_equal(pool_free(f), N_POOL);
}

/* Holes from removals in the middle: adds fill the first hole, and the
 * run is not moved while it is more than a quarter full. */
static void test_pool_holes(void **state)
{
	struct fx *f = FX();
	struct pso_sub s[16], x = sub4(100, true);
	uint32_t base;

	assert_int_equal(pso_tables_set_max_run(&f->t, 16), 0);
	fill(f, 3, 16, s);
	base = run_base(pso_tables_run(&f->t, 3));
	for (int i = 1; i < 16; i += 3)
		remove_checked(f, 3, &s[i]);
	assert_int_equal(run_base(pso_tables_run(&f->t, 3)), base);
	reset_log(f);
	assert_int_equal(pso_tables_sub_add(&f->t, 3, &x), 0);
	replay(f);
	assert_int_equal(pso_tables_sub_find(&f->t, 3, &(struct pso_endpoint){ 0 }), -EINVAL);
	{
		struct pso_endpoint ep = ep_of(&x);

		assert_int_equal(pso_tables_sub_find(&f->t, 3, &ep), 1);	/* the first hole */
	}
	assert_int_equal(live_in_run(f, 3), 16 - 5 + 1);
}

/* Many topics growing and shrinking interleaved: afterwards the freed
 * runs merge back, and a run of the whole pool fits again; while the pool
 * is fragmented, a run that does not fit is refused with the tables as
 * they were. */
static void test_pool_fragmentation(void **state)
{
	struct fx *f = FX();
	struct pso_sub model[N_TOPICS][N_POOL];
	int count[N_TOPICS] = {};
	unsigned int seed = 777;
	int refused = 0;

	assert_int_equal(pso_tables_set_max_run(&f->t, 32), 0);
	for (uint16_t id = 1; id <= 8; id++)
		assert_int_equal(pso_tables_topic_set(&f->t, id, 0), 0);
	for (int step = 0; step < 4000; step++) {
		uint16_t id = 1 + rand_r(&seed) % 8;
		bool add = rand_r(&seed) % 100 < (step < 2000 ? 60 : 35);
		struct dump before, after;
		int err;

		if (add) {
			struct pso_sub s = sub4(1 + rand_r(&seed) % 200, true);
			bool there = false;

			for (int i = 0; i < count[id]; i++)
				there |= !memcmp(model[id][i].dst_addr, s.dst_addr, 16);
			if (there)
				continue;
			dump_maps(f, &before);
			reset_log(f);
			err = pso_tables_sub_add(&f->t, id, &s);
			if (err == -ENOSPC) {
				/* Refused: nothing written, the shadow as the maps. */
				refused++;
				assert_int_equal(f->nlog, 0);
				dump_maps(f, &after);
				assert_memory_equal(&before, &after, sizeof(before));
				check_maps(f);
				continue;
			}
			assert_int_equal(err, 0);
			model[id][count[id]++] = s;
		} else if (count[id]) {
			int at = rand_r(&seed) % count[id];
			struct pso_endpoint ep = ep_of(&model[id][at]);

			reset_log(f);
			assert_int_equal(pso_tables_sub_remove(&f->t, id, &ep), 0);
			model[id][at] = model[id][--count[id]];
		} else {
			continue;
		}
		replay(f);
		expect_set(f, id, count[id], model[id]);
	}
	assert_true(refused > 0);	/* the test reached a full pool */
	for (uint16_t id = 1; id <= 8; id++)
		while (count[id]) {
			struct pso_endpoint ep = ep_of(&model[id][--count[id]]);

			assert_int_equal(pso_tables_sub_remove(&f->t, id, &ep), 0);
		}
	check_maps(f);
	assert_int_equal(pool_free(f), N_POOL);
	/* Everything merged back: one topic can take the longest run, and
	 * another one as long beside it. */
	{
		struct pso_sub s[32];

		fill(f, 5, 32, s);
		expect_layout(f, 5, 32, s);
		fill(f, 6, 16, s);
		assert_int_equal(run_cap(pso_tables_run(&f->t, 6)), 16);
	}
}

static void test_ipv4_normalized(void **state)
{
	struct fx *f = FX();
	struct pso_sub s = sub4(1, true), clean = s;
	struct pso_endpoint ep;

	/* Bytes past an IPv4 address are not part of it. */
	memset(s.dst_addr + 4, 0xaa, 12);
	memset(s.src_addr + 4, 0xbb, 12);
	assert_int_equal(pso_tables_sub_add(&f->t, 1, &s), 0);
	expect_layout(f, 1, 1, &clean);
	ep = ep_of(&clean);
	memset(ep.addr + 4, 0xcc, 12);
	ep.pad = 7;
	assert_int_equal(pso_tables_sub_find(&f->t, 1, &ep), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 1, &clean), -EEXIST);

	/* An IPv6 subscriber with the same first 4 bytes is another one. */
	struct pso_sub v6 = s;
	v6.family = PSO_AF_INET6;
	assert_int_equal(pso_tables_sub_add(&f->t, 1, &v6), 0);
	assert_int_equal(pso_tables_topic(&f->t, 1)->sub_count, 2);
	check_maps(f);
}

static struct pso_endpoint client(int n)
{
	struct pso_endpoint ep = { .family = PSO_AF_INET };

	ep.addr[0] = 192;
	ep.addr[1] = 168;
	ep.addr[3] = n;
	ep.port = htons(5000 + n);
	return ep;
}

static void test_clients(void **state)
{
	struct fx *f = FX();
	struct pso_endpoint ep = client(1), next, messy;
	struct pso_client_val val = {};

	for (int i = 1; i <= N_CLIENTS; i++) {
		ep = client(i);
		assert_int_equal(pso_tables_client_add(&f->t, &ep), 0);
		assert_int_equal(bpf_map_lookup_elem(f->clients_fd, &ep, &val), 0);
		assert_int_equal(f->t.nclients, i);
	}
	/* Adding one already there changes nothing, its counter included. */
	ep = client(2);
	val.rx_msgs = 17;
	assert_int_equal(bpf_map_update_elem(f->clients_fd, &ep, &val, BPF_EXIST), 0);
	assert_int_equal(pso_tables_client_add(&f->t, &ep), 0);
	memset(&val, 0, sizeof(val));
	assert_int_equal(pso_tables_client_get(&f->t, &ep, &val), 0);
	assert_int_equal(val.rx_msgs, 17);
	assert_int_equal(f->t.nclients, N_CLIENTS);

	/* Full. */
	next = client(9);
	reset_log(f);
	assert_int_equal(pso_tables_client_add(&f->t, &next), -ENOSPC);
	assert_int_equal(f->nlog, 0);
	assert_int_equal(bpf_map_lookup_elem(f->clients_fd, &next, &val), -ENOENT);

	/* Remove one, and there is room again. */
	ep = client(3);
	assert_int_equal(pso_tables_client_remove(&f->t, &ep), 0);
	assert_int_equal(pso_tables_client_remove(&f->t, &ep), -ENOENT);
	assert_int_equal(pso_tables_client_get(&f->t, &ep, &val), -ENOENT);
	assert_int_equal(f->t.nclients, N_CLIENTS - 1);
	/* Keys are normalised as the data plane builds them. */
	messy = next;
	memset(messy.addr + 4, 0xee, 12);
	messy.pad = 1;
	assert_int_equal(pso_tables_client_add(&f->t, &messy), 0);
	assert_int_equal(bpf_map_lookup_elem(f->clients_fd, &next, &val), 0);
	assert_int_equal(f->t.nclients, N_CLIENTS);

	ep.family = 0;
	assert_int_equal(pso_tables_client_add(&f->t, &ep), -EINVAL);
}

/* ---- client slots ------------------------------------------------------------ */

/* A pso_client_slots map for the tables, and a frozen one (writes fail). */
static void use_slots(struct fx *f)
{
	f->cslots_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_cslots", sizeof(uint32_t),
				      sizeof(struct pso_client_slot), PSO_CLIENT_SLOTS, NULL);
	f->frozen_cslots_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_frozen_cslots",
					     sizeof(uint32_t), sizeof(struct pso_client_slot),
					     PSO_CLIENT_SLOTS, NULL);
	assert_true(f->cslots_fd >= 0 && f->frozen_cslots_fd >= 0);
	assert_int_equal(bpf_map_freeze(f->frozen_cslots_fd), 0);
	assert_int_equal(pso_tables_use_client_slots(&f->t, f->cslots_fd), 0);
}

/* The slot index of a client, from its address words and port. */
static uint32_t slot_of(const struct pso_endpoint *ep)
{
	uint32_t w[4];

	memcpy(w, ep->addr, sizeof(w));
	return pso_client_slot_of(w[0], w[1], w[2], w[3], ep->port);
}

/* Another client in the same slot: another port of the same address, or
 * failing that of a neighbouring address. */
static struct pso_endpoint slot_mate(const struct pso_endpoint *ep)
{
	struct pso_endpoint m = *ep;
	uint32_t idx = slot_of(ep);

	for (int a = 0; a < 256; a++) {
		m.addr[2] = ep->addr[2] + a;
		for (uint32_t port = 1; port <= 0xffff; port++) {
			m.port = htons(port);
			if (slot_of(&m) == idx && memcmp(&m, ep, sizeof(m)))
				return m;
		}
	}
	fail_msg("no client shares slot %u", idx);
	return m;
}

/* A slot as the tables write it: ep with this family, counter 0. */
static struct pso_client_slot cslot_v(struct pso_endpoint ep, uint8_t family)
{
	struct pso_client_slot v = { .ep = ep };

	v.ep.family = family;
	return v;
}

static struct pso_client_slot read_cslot(int fd, uint32_t idx)
{
	struct pso_client_slot v;

	assert_int_equal(bpf_map_lookup_elem(fd, &idx, &v), 0);
	return v;
}

static void expect_cslot(int fd, uint32_t idx, const struct pso_client_slot *want)
{
	struct pso_client_slot got = read_cslot(fd, idx);

	assert_memory_equal(&got, want, sizeof(got));
}

static bool in_hash(const struct fx *f, const struct pso_endpoint *ep)
{
	struct pso_client_val val;

	return !bpf_map_lookup_elem(f->clients_fd, ep, &val);
}

static int count_syncs(const struct fx *f)
{
	int n = 0;

	for (int i = 0; i < f->nlog; i++)
		n += f->log[i].kind == EV_SYNC;
	return n;
}

static void test_client_slots_checks(void **state)
{
	struct fx *f = FX();
	int hash, small, wrong_size, good;

	hash = bpf_map_create(BPF_MAP_TYPE_HASH, "t_cslots_hash", sizeof(uint32_t),
			      sizeof(struct pso_client_slot), PSO_CLIENT_SLOTS, NULL);
	wrong_size = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_cslots_size", sizeof(uint32_t),
				    sizeof(struct pso_client_val), PSO_CLIENT_SLOTS, NULL);
	small = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_cslots_small", sizeof(uint32_t),
			       sizeof(struct pso_client_slot), PSO_CLIENT_SLOTS - 1, NULL);
	good = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_cslots", sizeof(uint32_t),
			      sizeof(struct pso_client_slot), PSO_CLIENT_SLOTS, NULL);
	assert_true(hash >= 0 && wrong_size >= 0 && small >= 0 && good >= 0);

	assert_int_equal(pso_tables_use_client_slots(&f->t, hash), -EINVAL);
	assert_int_equal(pso_tables_use_client_slots(&f->t, wrong_size), -EINVAL);
	assert_int_equal(pso_tables_use_client_slots(&f->t, small), -EINVAL);
	assert_int_equal(pso_tables_use_client_slots(&f->t, f->clients_fd), -EINVAL);
	assert_true(pso_tables_use_client_slots(&f->t, -1) < 0);
	/* Refused: the tables go on without slots. */
	assert_int_equal(f->t.client_slots_fd, -1);
	assert_null(f->t.slot_owner);

	assert_int_equal(pso_tables_use_client_slots(&f->t, good), 0);
	assert_int_equal(f->t.client_slots_fd, good);
	assert_non_null(f->t.slot_owner);
	assert_non_null(f->t.slot_reuse_after);
	assert_int_equal(f->t.nclient_slots, 0);
	close(hash);
	close(wrong_size);
	close(small);
	close(good);
}

/* A new client: HASH entry, then its slot's content, then the enable. */
static void test_client_slot_add(void **state)
{
	struct fx *f = FX();
	struct pso_endpoint a = client(1);
	uint32_t ia = slot_of(&a);
	struct pso_client_slot a_off = cslot_v(a, 0), a_on = cslot_v(a, PSO_AF_INET);
	struct pso_client_slot got;

	use_slots(f);
	reset_log(f);
	assert_int_equal(pso_tables_client_add(&f->t, &a), 0);
	expect_log(f, 3, (struct want_ev[]){
		{ EV_CLIENT, 0, &a },
		{ EV_CSLOT, ia, &a_off },
		{ EV_CSLOT, ia, &a_on },
	});
	assert_false(f->log[0].del);

	got = read_cslot(f->cslots_fd, ia);
	assert_memory_equal(&got.ep, &a, sizeof(a));
	assert_int_equal(got.ep.family, PSO_AF_INET);
	assert_int_equal(got.rx_msgs, 0);
	assert_true(in_hash(f, &a));
	assert_int_equal(f->t.nclients, 1);
	assert_int_equal(f->t.nclient_slots, 1);
	assert_memory_equal(&f->t.slot_owner[ia], &a, sizeof(a));

	/* Already there: the HASH refuses it, the slot is not written again. */
	reset_log(f);
	assert_int_equal(pso_tables_client_add(&f->t, &a), 0);
	assert_int_equal(f->nlog, 1);
	assert_int_equal(f->log[0].kind, EV_CLIENT);
	assert_int_equal(f->log[0].err, -EEXIST);
	assert_int_equal(f->t.nclient_slots, 1);
}

/* A client whose slot is taken lives in the HASH only. */
static void test_client_slot_collision(void **state)
{
	struct fx *f = FX();
	struct pso_endpoint a = client(1), b = slot_mate(&a);
	uint32_t ia = slot_of(&a);
	struct pso_client_slot a_on = cslot_v(a, PSO_AF_INET);

	assert_int_equal(slot_of(&b), ia);
	use_slots(f);
	assert_int_equal(pso_tables_client_add(&f->t, &a), 0);
	reset_log(f);
	assert_int_equal(pso_tables_client_add(&f->t, &b), 0);
	expect_log(f, 1, (struct want_ev[]){ { EV_CLIENT, 0, &b } });
	expect_cslot(f->cslots_fd, ia, &a_on);
	assert_true(in_hash(f, &a));
	assert_true(in_hash(f, &b));
	assert_int_equal(f->t.nclients, 2);
	assert_int_equal(f->t.nclient_slots, 1);

	/* Its leaving does not touch the slot it never had. */
	reset_log(f);
	assert_int_equal(pso_tables_client_remove(&f->t, &b), 0);
	expect_log(f, 1, (struct want_ev[]){ { EV_CLIENT, 0, &b } });
	assert_true(f->log[0].del);
	expect_cslot(f->cslots_fd, ia, &a_on);
	assert_true(in_hash(f, &a));
	assert_false(in_hash(f, &b));
	assert_int_equal(f->t.nclient_slots, 1);
}

/*
 * A leaving client: slot disabled, then the HASH entry deleted.  Until a
 * grace period has passed (for any reason) no other client takes that slot
 * and nothing waits; the same client reconnecting gets it back at once.
 */
static void test_client_slot_reuse(void **state)
{
	struct fx *f = FX();
	struct pso_endpoint a = client(1), c = client(2);
	struct pso_endpoint b = slot_mate(&a), d = slot_mate(&c);
	uint32_t ia = slot_of(&a), ic = slot_of(&c);
	struct pso_client_slot a_off = cslot_v(a, 0), a_on = cslot_v(a, PSO_AF_INET);
	struct pso_client_slot c_off = cslot_v(c, 0);
	struct pso_client_slot d_off = cslot_v(d, 0), d_on = cslot_v(d, PSO_AF_INET);
	struct pso_client_slot got;
	uint64_t syncs;

	assert_int_not_equal(ia, ic);
	use_slots(f);
	assert_int_equal(pso_tables_client_add(&f->t, &a), 0);
	assert_int_equal(pso_tables_client_add(&f->t, &c), 0);
	assert_int_equal(f->t.nclient_slots, 2);

	reset_log(f);
	assert_int_equal(pso_tables_client_remove(&f->t, &a), 0);
	expect_log(f, 2, (struct want_ev[]){
		{ EV_CSLOT, ia, &a_off },
		{ EV_CLIENT, 0, &a },
	});
	assert_true(f->log[1].del);
	got = read_cslot(f->cslots_fd, ia);
	assert_int_equal(got.ep.family, 0);
	assert_memory_equal(got.ep.addr, a.addr, sizeof(a.addr));
	assert_int_equal(got.ep.port, a.port);
	assert_false(in_hash(f, &a));
	assert_int_equal(f->t.nclients, 1);
	assert_int_equal(f->t.nclient_slots, 1);

	reset_log(f);
	assert_int_equal(pso_tables_client_remove(&f->t, &c), 0);
	expect_log(f, 2, (struct want_ev[]){
		{ EV_CSLOT, ic, &c_off },
		{ EV_CLIENT, 0, &c },
	});
	assert_int_equal(f->t.nclient_slots, 0);

	/* b would reuse a's slot, disabled since the last wait: no wait, b
	 * stays in the HASH and the slot keeps a's disabled content. */
	syncs = f->t.syncs;
	reset_log(f);
	assert_int_equal(pso_tables_client_add(&f->t, &b), 0);
	expect_log(f, 1, (struct want_ev[]){
		{ EV_CLIENT, 0, &b },
	});
	assert_int_equal(count_syncs(f), 0);
	assert_int_equal(f->t.syncs, syncs);
	expect_cslot(f->cslots_fd, ia, &a_off);
	assert_true(in_hash(f, &b));
	assert_int_equal(f->t.nclient_slots, 0);

	/* a comes back (a reconnect): only its family byte is written back,
	 * an enable, with no wait. */
	reset_log(f);
	assert_int_equal(pso_tables_client_add(&f->t, &a), 0);
	expect_log(f, 2, (struct want_ev[]){
		{ EV_CLIENT, 0, &a },
		{ EV_CSLOT, ia, &a_on },
	});
	assert_int_equal(count_syncs(f), 0);
	assert_int_equal(f->t.nclient_slots, 1);

	/* After a grace period (any subscriber removal brings one), d takes
	 * c's old slot the usual way: content, then enable. */
	f->t.syncs++;
	reset_log(f);
	assert_int_equal(pso_tables_client_add(&f->t, &d), 0);
	expect_log(f, 3, (struct want_ev[]){
		{ EV_CLIENT, 0, &d },
		{ EV_CSLOT, ic, &d_off },
		{ EV_CSLOT, ic, &d_on },
	});
	assert_int_equal(count_syncs(f), 0);

	expect_cslot(f->cslots_fd, ia, &a_on);
	expect_cslot(f->cslots_fd, ic, &d_on);
	assert_int_equal(f->t.nclient_slots, 2);
	assert_int_equal(f->t.nclients, 3);
}

/* A client's counter is its HASH entry's plus its own slot's. */
static void test_client_slot_counters(void **state)
{
	struct fx *f = FX();
	struct pso_endpoint a = client(1), b = slot_mate(&a);
	struct pso_client_val val = { .rx_msgs = 3 };
	uint32_t ia = slot_of(&a);
	struct pso_client_slot cs;

	use_slots(f);
	assert_int_equal(pso_tables_client_add(&f->t, &a), 0);
	assert_int_equal(pso_tables_client_add(&f->t, &b), 0);
	assert_int_equal(bpf_map_update_elem(f->clients_fd, &a, &val, BPF_EXIST), 0);
	cs = read_cslot(f->cslots_fd, ia);
	cs.rx_msgs = 4;
	assert_int_equal(bpf_map_update_elem(f->cslots_fd, &ia, &cs, BPF_EXIST), 0);

	memset(&val, 0, sizeof(val));
	assert_int_equal(pso_tables_client_get(&f->t, &a, &val), 0);
	assert_int_equal(val.rx_msgs, 3 + 4);

	/* b is in the HASH only: a's slot counter is not b's. */
	val.rx_msgs = 10;
	assert_int_equal(bpf_map_update_elem(f->clients_fd, &b, &val, BPF_EXIST), 0);
	memset(&val, 0, sizeof(val));
	assert_int_equal(pso_tables_client_get(&f->t, &b, &val), 0);
	assert_int_equal(val.rx_msgs, 10);
}

/* Without pso_tables_use_client_slots(): the HASH only, as before. */
static void test_client_slots_unused(void **state)
{
	struct fx *f = FX();
	struct pso_endpoint a = client(1);
	struct pso_client_val val = { .rx_msgs = 1 };

	assert_int_equal(f->t.client_slots_fd, -1);
	reset_log(f);
	assert_int_equal(pso_tables_client_add(&f->t, &a), 0);
	expect_log(f, 1, (struct want_ev[]){ { EV_CLIENT, 0, &a } });
	assert_false(f->log[0].del);
	assert_true(in_hash(f, &a));
	assert_int_equal(f->t.nclients, 1);
	assert_int_equal(f->t.nclient_slots, 0);
	assert_int_equal(pso_tables_client_get(&f->t, &a, &val), 0);
	assert_int_equal(val.rx_msgs, 0);

	reset_log(f);
	assert_int_equal(pso_tables_client_remove(&f->t, &a), 0);
	expect_log(f, 1, (struct want_ev[]){ { EV_CLIENT, 0, &a } });
	assert_true(f->log[0].del);
	assert_false(in_hash(f, &a));
	assert_int_equal(f->t.nclients, 0);
	assert_int_equal(f->t.syncs, 0);
}

/* A slot write that fails leaves the client in the HASH only, added. */
static void test_client_slot_write_errors(void **state)
{
	struct fx *f = FX();
	struct pso_endpoint a = client(1);
	uint32_t ia = slot_of(&a);
	struct pso_client_slot zero = { 0 }, a_off = cslot_v(a, 0), a_on = cslot_v(a, PSO_AF_INET);

	use_slots(f);

	/* The content write fails. */
	assert_int_equal(pso_tables_use_client_slots(&f->t, f->frozen_cslots_fd), 0);
	reset_log(f);
	assert_int_equal(pso_tables_client_add(&f->t, &a), 0);
	assert_int_equal(f->nlog, 2);
	assert_int_equal(f->log[0].kind, EV_CLIENT);
	assert_int_equal(f->log[0].err, 0);
	assert_int_equal(f->log[1].kind, EV_CSLOT);
	assert_int_equal(f->log[1].key, ia);
	assert_int_equal(f->log[1].err, -EPERM);
	expect_cslot(f->frozen_cslots_fd, ia, &zero);
	assert_true(in_hash(f, &a));
	assert_int_equal(f->t.nclients, 1);
	assert_int_equal(f->t.nclient_slots, 0);
	assert_int_equal(f->t.slot_owner[ia].family, 0);
	/* Its leaving writes no slot. */
	reset_log(f);
	assert_int_equal(pso_tables_client_remove(&f->t, &a), 0);
	expect_log(f, 1, (struct want_ev[]){ { EV_CLIENT, 0, &a } });

	/* The enable fails (after the HASH entry and the content). */
	assert_int_equal(pso_tables_use_client_slots(&f->t, f->cslots_fd), 0);
	reset_log(f);
	f->fail_after = 2;
	assert_int_equal(pso_tables_client_add(&f->t, &a), 0);
	assert_int_equal(f->fail_after, -1);
	assert_int_equal(f->t.client_slots_fd, f->cslots_fd);
	assert_int_equal(f->nlog, 3);
	assert_int_equal(f->log[1].err, 0);
	assert_int_equal(f->log[2].kind, EV_CSLOT);
	assert_int_equal(f->log[2].err, -EPERM);
	expect_cslot(f->cslots_fd, ia, &a_off);	/* written, never enabled */
	assert_true(in_hash(f, &a));
	assert_int_equal(f->t.nclient_slots, 0);
	reset_log(f);
	assert_int_equal(pso_tables_client_remove(&f->t, &a), 0);
	expect_log(f, 1, (struct want_ev[]){ { EV_CLIENT, 0, &a } });

	/* A slot never enabled is taken without a wait. */
	reset_log(f);
	assert_int_equal(pso_tables_client_add(&f->t, &a), 0);
	expect_log(f, 3, (struct want_ev[]){
		{ EV_CLIENT, 0, &a },
		{ EV_CSLOT, ia, &a_off },
		{ EV_CSLOT, ia, &a_on },
	});
	assert_int_equal(f->t.nclient_slots, 1);
}

/* A NIC copy (hardware offload): clients copied and kept in step; topics
 * only once placed, up to the NIC's capacity; counters add to the host's. */
static void test_mirror(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true);
	struct pso_endpoint c1 = client(1), c2 = client(2), ep;
	struct pso_client_val val = {};
	struct pso_topic_stats st = { 0 }, last = { 0 };
	struct pso_tables_mirror *m;
	struct pso_topic got;
	uint32_t key = 2, key9 = 9, key5 = 5;
	int nic_topics, nic_clients, nic_stats;

	f->t.on_write = NULL;	/* the hook knows only the host maps */
	nic_topics = bpf_map_create(BPF_MAP_TYPE_HASH, "t_nic_topics", sizeof(uint32_t),
				    sizeof(struct pso_topic), 2, NULL);
	nic_stats = bpf_map_create(BPF_MAP_TYPE_HASH, "t_nic_stats", sizeof(uint32_t),
				   sizeof(struct pso_topic_stats), 2, NULL);
	nic_clients = bpf_map_create(BPF_MAP_TYPE_HASH, "t_nic_clients",
				     sizeof(struct pso_endpoint), sizeof(struct pso_client_val),
				     N_CLIENTS, NULL);
	assert_true(nic_topics >= 0 && nic_clients >= 0 && nic_stats >= 0);

	assert_int_equal(pso_tables_sub_add(&f->t, 2, &a), 0);
	assert_int_equal(pso_tables_client_add(&f->t, &c1), 0);
	assert_int_equal(pso_tables_mirror_add(&f->t, nic_topics, nic_clients, nic_stats, 2), 0);
	m = pso_tables_mirror_find(&f->t, nic_topics);
	assert_non_null(m);
	assert_int_equal(bpf_map_lookup_elem(nic_clients, &c1, &val), 0);
	/* Nothing is placed yet: the NIC misses every topic. */
	assert_int_not_equal(bpf_map_lookup_elem(nic_topics, &key, &got), 0);

	assert_int_equal(pso_tables_mirror_place(&f->t, m, 2), 0);
	assert_int_equal(bpf_map_lookup_elem(nic_topics, &key, &got), 0);
	assert_memory_equal(&got, pso_tables_topic(&f->t, 2), sizeof(got));
	assert_int_equal(bpf_map_lookup_elem(nic_stats, &key, &st), 0);
	assert_int_equal(st.msgs, 0);

	/* Later writes reach a placed topic; an unplaced one stays out. */
	assert_int_equal(pso_tables_sub_add(&f->t, 2, &b), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 9, &b), 0);
	assert_int_equal(pso_tables_client_add(&f->t, &c2), 0);
	assert_int_equal(bpf_map_lookup_elem(nic_topics, &key, &got), 0);
	assert_int_equal(got.sub_count, 2);
	assert_memory_equal(&got, pso_tables_topic(&f->t, 2), sizeof(got));
	assert_int_not_equal(bpf_map_lookup_elem(nic_topics, &key9, &got), 0);
	assert_int_equal(bpf_map_lookup_elem(nic_clients, &c2, &val), 0);

	/* Capacity 2: a third topic is refused and nothing changes. */
	assert_int_equal(pso_tables_mirror_place(&f->t, m, 9), 0);
	assert_int_equal(pso_tables_mirror_place(&f->t, m, 5), -ENOSPC);
	assert_int_not_equal(bpf_map_lookup_elem(nic_topics, &key5, &got), 0);
	assert_int_equal(m->nplaced, 2);

	/* Unplace hands back the NIC's counters and frees the room. */
	st = (struct pso_topic_stats){ .msgs = 7, .bytes = 70 };
	assert_int_equal(bpf_map_update_elem(nic_stats, &key9, &st, BPF_EXIST), 0);
	assert_int_equal(pso_tables_mirror_unplace(&f->t, m, 9, &last), 0);
	assert_int_equal(last.msgs, 7);
	assert_int_equal(last.bytes, 70);
	assert_int_not_equal(bpf_map_lookup_elem(nic_topics, &key9, &got), 0);
	assert_int_not_equal(bpf_map_lookup_elem(nic_stats, &key9, &st), 0);
	assert_int_equal(pso_tables_mirror_unplace(&f->t, m, 9, NULL), -ENOENT);
	assert_int_equal(pso_tables_mirror_place(&f->t, m, 5), 0);
	assert_int_equal(f->t.mirror_errors, 0);

	/* Activity the NIC counted shows in the client's counter. */
	val.rx_msgs = 5;
	assert_int_equal(bpf_map_update_elem(nic_clients, &c2, &val, BPF_EXIST), 0);
	memset(&val, 0, sizeof(val));
	assert_int_equal(pso_tables_client_get(&f->t, &c2, &val), 0);
	assert_int_equal(val.rx_msgs, 5);

	assert_int_equal(pso_tables_client_remove(&f->t, &c2), 0);
	assert_int_not_equal(bpf_map_lookup_elem(nic_clients, &c2, &val), 0);
	pso_sub_endpoint(&a, &ep);
	assert_int_equal(pso_tables_sub_remove(&f->t, 2, &ep), 0);
	assert_int_equal(bpf_map_lookup_elem(nic_topics, &key, &got), 0);
	assert_int_equal(got.sub_count, 1);
	assert_memory_equal(&got, pso_tables_topic(&f->t, 2), sizeof(got));

	/* Removed: no more writes to it. */
	pso_tables_mirror_remove(&f->t, nic_topics);
	assert_int_equal(f->t.nmirrors, 0);
	assert_int_equal(pso_tables_client_add(&f->t, &c2), 0);
	assert_int_not_equal(bpf_map_lookup_elem(nic_clients, &c2, &val), 0);
	close(nic_topics);
	close(nic_clients);
	close(nic_stats);
}

/* One subscriber leaving (or moving) in many topics: one grace period in
 * all, and every topic ends as a single removal (or update) would leave it. */
/*
 * The publish-rate limit as the tables write it: every new client with a
 * full bucket (driver build) and a budget of one burst (NIC); no limit is
 * an interval of 0 and a budget without end.  The NIC's budget is topped
 * up by what the rate earned since the last refill, at most a burst left
 * over, counting only from the count the NIC reached; entries whose budget
 * would not change are not written, and a client gone meanwhile is not
 * written back.
 */
static void test_publish_rate(void **state)
{
	struct fx *f = FX();
	struct pso_endpoint c1 = client(1), c2 = client(2), c3 = client(3), c4 = client(4);
	struct pso_client_val val;
	int nic_topics, nic_clients, nic_stats;
	uint64_t refills;

	f->t.on_write = NULL;
	assert_int_equal(pso_tables_set_publish_rate(&f->t, 0, 5), -EINVAL);
	assert_int_equal(pso_tables_client_add(&f->t, &c3), 0);
	assert_int_equal(bpf_map_lookup_elem(f->clients_fd, &c3, &val), 0);
	assert_int_equal(val.rate.interval_ns, 0);
	assert_true(val.budget_end == UINT64_MAX);

	assert_int_equal(pso_tables_set_publish_rate(&f->t, 100, 0), 0);
	assert_int_equal(f->t.rate.burst, 100);	/* one second's worth */
	assert_int_equal(pso_tables_set_publish_rate(&f->t, 100, 20), 0);
	assert_int_equal(pso_tables_client_add(&f->t, &c1), 0);
	assert_int_equal(bpf_map_lookup_elem(f->clients_fd, &c1, &val), 0);
	assert_int_equal(val.rate.interval_ns, 10000000);
	assert_int_equal(val.rate.burst, 20);
	assert_true(val.rate.tat[PSO_RATE_XDP] == 0 && val.rate.tat[PSO_RATE_TC] == 0);
	assert_int_equal(val.budget_end, 20);

	nic_topics = bpf_map_create(BPF_MAP_TYPE_HASH, "t_nic_topics", sizeof(uint32_t),
				    sizeof(struct pso_topic), 2, NULL);
	nic_stats = bpf_map_create(BPF_MAP_TYPE_HASH, "t_nic_stats", sizeof(uint32_t),
				   sizeof(struct pso_topic_stats), 2, NULL);
	nic_clients = bpf_map_create(BPF_MAP_TYPE_HASH, "t_nic_clients",
				     sizeof(struct pso_endpoint), sizeof(struct pso_client_val),
				     N_CLIENTS, NULL);
	assert_true(nic_topics >= 0 && nic_clients >= 0 && nic_stats >= 0);
	assert_int_equal(pso_tables_mirror_add(&f->t, nic_topics, nic_clients, nic_stats, 2), 0);
	/* A client copied to the NIC gets its budget too, not an empty one. */
	assert_int_equal(bpf_map_lookup_elem(nic_clients, &c1, &val), 0);
	assert_int_equal(val.budget_end, 20);
	assert_int_equal(pso_tables_client_add(&f->t, &c2), 0);

	/* c1 spent its burst and 7 more were refused (counted); c2 spent 2
	 * of its burst, c4 none. */
	val = (struct pso_client_val){ .rx_msgs = 27, .budget_end = 20 };
	assert_int_equal(bpf_map_update_elem(nic_clients, &c1, &val, BPF_EXIST), 0);
	assert_int_equal(pso_tables_client_add(&f->t, &c4), 0);
	val = (struct pso_client_val){ .rx_msgs = 2, .budget_end = 20 };
	assert_int_equal(bpf_map_update_elem(nic_clients, &c2, &val, BPF_EXIST), 0);

	pso_tables_rate_refill(&f->t, 1000);	/* the first call only starts the clock */
	assert_int_equal(f->t.rate_refills, 0);
	pso_tables_rate_refill(&f->t, 1055);	/* 5.5 publishes earned: 5 now */
	assert_int_equal(bpf_map_lookup_elem(nic_clients, &c1, &val), 0);
	assert_int_equal(val.budget_end, 27 + 5);	/* nothing left, 5 earned */
	assert_int_equal(bpf_map_lookup_elem(nic_clients, &c2, &val), 0);
	assert_int_equal(val.budget_end, 2 + 20);	/* 18 left + 5, at most 20 */
	assert_int_equal(val.rx_msgs, 2);
	assert_int_equal(bpf_map_lookup_elem(nic_clients, &c4, &val), 0);
	assert_int_equal(val.budget_end, 20);		/* full already */
	/* c3 was added without a limit: its budget has no end to move. */
	assert_int_equal(bpf_map_lookup_elem(nic_clients, &c3, &val), 0);
	assert_true(val.budget_end == UINT64_MAX);
	assert_int_equal(f->t.rate_refills, 2);	/* c4's did not change */

	pso_tables_rate_refill(&f->t, 1060);	/* the half left over, and 0.5 more */
	assert_int_equal(bpf_map_lookup_elem(nic_clients, &c1, &val), 0);
	assert_int_equal(val.budget_end, 27 + 6);
	refills = f->t.rate_refills;
	pso_tables_rate_refill(&f->t, 1060);	/* no time, nothing earned */
	assert_int_equal(f->t.rate_refills, refills);

	/* A client the NIC no longer holds is not written back. */
	assert_int_equal(bpf_map_delete_elem(nic_clients, &c1), 0);
	pso_tables_rate_refill(&f->t, 2000);
	assert_int_not_equal(bpf_map_lookup_elem(nic_clients, &c1, &val), 0);
	assert_int_equal(bpf_map_lookup_elem(nic_clients, &c2, &val), 0);
	assert_int_equal(val.budget_end, 2 + 20);

	pso_tables_mirror_remove(&f->t, nic_topics);
	close(nic_topics);
	close(nic_clients);
	close(nic_stats);
}

static void test_many_topics(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true), a2 = sub4(1, true);
	struct pso_endpoint ep = ep_of(&a);
	const uint16_t ids[] = { 3, 4, 5, 9 };	/* 9: a is not there */
	int syncs = 0;

	for (int k = 0; k < 3; k++) {
		/* a first in 3 and 4 (slot 0 moves), second in 5 */
		if (ids[k] == 5) {
			assert_int_equal(pso_tables_sub_add(&f->t, ids[k], &b), 0);
			assert_int_equal(pso_tables_sub_add(&f->t, ids[k], &a), 0);
		} else {
			assert_int_equal(pso_tables_sub_add(&f->t, ids[k], &a), 0);
			assert_int_equal(pso_tables_sub_add(&f->t, ids[k], &b), 0);
		}
	}
	assert_int_equal(pso_tables_sub_add(&f->t, 9, &b), 0);

	/* A next hop change: a's MAC moves in every topic it is in. */
	a2.dst_mac[5] ^= 0x55;
	reset_log(f);
	assert_int_equal(pso_tables_sub_update_many(&f->t, &a2, ids, 4), 0);
	for (int n = 0; n < f->nlog; n++)
		syncs += f->log[n].kind == EV_SYNC;
	assert_int_equal(syncs, 1);
	expect_layout(f, 3, 2, (struct pso_sub[]){ a2, b });
	expect_layout(f, 5, 2, (struct pso_sub[]){ b, a2 });
	expect_layout(f, 9, 1, (struct pso_sub[]){ b });

	reset_log(f);
	syncs = 0;
	assert_int_equal(pso_tables_sub_remove_many(&f->t, &ep, ids, 4), 0);
	for (int n = 0; n < f->nlog; n++)
		syncs += f->log[n].kind == EV_SYNC;
	assert_int_equal(syncs, 1);
	expect_layout(f, 3, 1, &b);
	expect_layout(f, 4, 1, &b);
	expect_layout(f, 5, 1, &b);
	expect_layout(f, 9, 1, &b);
	assert_int_equal(f->t.nsubs, 4);
	for (int k = 0; k < 4; k++)
		assert_int_equal(pso_tables_sub_find(&f->t, ids[k], &ep), -ENOENT);
}

/* The production wait really is an RCU grace period and returns. */
/* ---- adoption (adopt.c): the maps a daemon before this one wrote ------------ */

static void no_sync(void *ctx)
{
	(void)ctx;
}

/* A second writer over f's maps, as the next daemon has: the shadow from
 * the maps.  Returns pso_tables_adopt()'s result. */
static int adopt_into(struct fx *f, struct pso_tables *t2, struct pso_tables_adoption *res,
		      char *err, size_t errlen)
{
	assert_int_equal(pso_tables_init(t2, f->topics_fd, f->subs_fd, f->runs_fd, f->clients_fd,
					 N_TOPICS, N_POOL, N_CLIENTS), 0);
	assert_int_equal(pso_tables_set_max_run(t2, N_SLOTS), 0);
	t2->sync_readers = no_sync;
	err[0] = '\0';
	return pso_tables_adopt(t2, res, err, errlen);
}

static void put_topic(struct fx *f, uint32_t id, const struct pso_topic *tp)
{
	assert_int_equal(bpf_map_update_elem(f->topics_fd, &id, tp, BPF_ANY), 0);
}

/* Topic id's run: pool slots base..base+cap-1, in half 0. */
static void put_run(struct fx *f, uint32_t id, uint32_t base, uint32_t cap)
{
	struct pso_run r = { .base = { base, 0 }, .cap = { cap, 0 }, .cur = 0 };

	assert_int_equal(bpf_map_update_elem(f->runs_fd, &id, &r, BPF_ANY), 0);
}

static void put_pool(struct fx *f, uint32_t k, const struct pso_sub *s)
{
	assert_int_equal(bpf_map_update_elem(f->subs_fd, &k, s, BPF_ANY), 0);
}

/* A clean slate: every topic, run and pool slot zero, no client. */
static void clean_slate(struct fx *f)
{
	static const struct pso_sub zero;

	for (uint32_t id = 0; id < N_TOPICS; id++) {
		put_topic(f, id, &(struct pso_topic){ 0 });
		put_run(f, id, 0, 0);
	}
	for (uint32_t k = 0; k < N_POOL; k++)
		put_pool(f, k, &zero);
}

/* What one writer left, another reads back whole: topics, runs, slots in
 * their order, clients; the counts; the next writes go on from there. */
static void test_adopt_round_trip(void **state)
{
	struct fx *f = FX();
	struct pso_tables t2;
	struct pso_tables_adoption res;
	struct pso_sub s[3] = { sub4(1, true), sub4(2, false), sub4(3, true) };
	struct pso_endpoint ep1 = ep_of(&s[0]), ep2 = ep_of(&s[1]);
	char err[256];

	assert_int_equal(pso_tables_topic_set(&f->t, 2, 0), 0);
	assert_int_equal(pso_tables_topic_set(&f->t, 5, PSO_TOPIC_F_ALLOW_QOSM1), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pso_tables_sub_add(&f->t, 5, &s[i]), 0);
	assert_int_equal(pso_tables_sub_add(&f->t, 2, &s[2]), 0);
	assert_int_equal(pso_tables_client_add(&f->t, &ep1), 0);
	assert_int_equal(pso_tables_client_add(&f->t, &ep2), 0);

	assert_int_equal(adopt_into(f, &t2, &res, err, sizeof(err)), 0);
	assert_int_equal(res.topics, 2);
	assert_int_equal(res.subs, 4);
	assert_int_equal(res.disabled, 1);	/* s[1]: not resolved */
	assert_int_equal(res.clients, 2);
	assert_int_equal(res.repaired, 0);
	assert_memory_equal(t2.topics, f->t.topics, N_TOPICS * sizeof(*t2.topics));
	assert_memory_equal(t2.runs, f->t.runs, N_TOPICS * sizeof(*t2.runs));
	assert_memory_equal(t2.subs, f->t.subs, N_POOL * sizeof(*t2.subs));
	assert_int_equal(t2.nsubs, 4);
	assert_int_equal(t2.nclients, 2);
	for (int i = 0; i < 3; i++) {
		struct pso_endpoint ep = ep_of(&s[i]);

		assert_int_equal(pso_tables_sub_find(&t2, 5, &ep), pso_tables_sub_find(&f->t, 5, &ep));
		assert_true(pso_tables_sub_find(&t2, 5, &ep) >= 0);
	}
	/* The adopted writer writes on. */
	assert_int_equal(pso_tables_sub_remove(&t2, 5, &ep1), 0);
	assert_int_equal(pso_tables_topic(&t2, 5)->sub_count, 2);
	assert_int_equal(pso_tables_sub_find(&t2, 5, &ep1), -ENOENT);
	check_maps_of(f, &t2);
	pso_tables_free(&t2);
}

/* Maps no state of the write protocol can leave: refused with one line
 * naming the entry, and nothing written. */
static void test_adopt_refuses(void **state)
{
	static const struct {
		const char *what, *words;
	} rows[] = {
		{ "two topics' runs overlap", "overlaps another topic's" },
		{ "a slot of no family, not empty", "has no address family but is not empty" },
		{ "one subscriber twice in a run", "one subscriber in slots" },
		{ "topic 0 holds an entry", "topic 0 (reserved) holds an entry" },
		{ "a client of no family", "an entry of address family" },
		{ "a stray pool slot", "is in no topic's run but not empty" },
	};
	struct fx *f = FX();

	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		struct pso_topic tp = { .flags = PSO_TOPIC_F_VALID };
		struct pso_sub a = sub4(1, true);
		struct pso_endpoint bad = { .family = 9, .port = htons(1) };
		struct pso_client_val cv = {};
		struct pso_tables t2;
		struct pso_tables_adoption res;
		struct dump before, after;
		char err[256];

		clean_slate(f);
		bpf_map_delete_elem(f->clients_fd, &bad);
		switch (r) {
		case 0:
			put_run(f, 3, 0, 4);
			put_run(f, 4, 0, 4);
			break;
		case 1:
			tp.sub_count = 1;
			tp.first = a;
			put_topic(f, 3, &tp);
			put_run(f, 3, 4, 4);
			put_pool(f, 4, &a);
			a.family = 0;
			put_pool(f, 5, &a);
			break;
		case 2:
			tp.sub_count = 2;
			tp.first = a;
			put_topic(f, 3, &tp);
			put_run(f, 3, 4, 4);
			put_pool(f, 4, &a);
			put_pool(f, 5, &a);
			break;
		case 3:
			put_topic(f, 0, &tp);
			break;
		case 4:
			assert_int_equal(bpf_map_update_elem(f->clients_fd, &bad, &cv, BPF_ANY), 0);
			break;
		case 5:
			put_pool(f, 9, &a);
			break;
		}
		dump_maps(f, &before);
		assert_int_equal(adopt_into(f, &t2, &res, err, sizeof(err)), -EUCLEAN);
		if (!strstr(err, rows[r].words))
			fail_msg("%s: \"%s\" does not say \"%s\"", rows[r].what, err, rows[r].words);
		dump_maps(f, &after);
		assert_memory_equal(&before, &after, sizeof(before));
		pso_tables_free(&t2);
	}
}

/* What a crash mid-change leaves: sub_count and `first` not following
 * the run (an add not counted yet, a first not moved); repaired by the
 * protocol's writes, the live slots kept as they are.  A live slot caught
 * disabled stays disabled, counted. */
static void test_adopt_repairs(void **state)
{
	struct fx *f = FX();
	struct pso_sub a = sub4(1, true), b = sub4(2, true), c = sub4(3, false);
	struct pso_topic t4 = { .flags = PSO_TOPIC_F_VALID, .sub_count = 1, .first = a };
	struct pso_topic t6 = { .flags = PSO_TOPIC_F_VALID, .sub_count = 2, .first = b };
	struct pso_topic t7 = { .flags = PSO_TOPIC_F_VALID, .sub_count = 1, .first = c };
	struct pso_tables t2;
	struct pso_tables_adoption res;
	struct pso_endpoint ea = ep_of(&a), eb = ep_of(&b);
	char err[256];

	clean_slate(f);
	put_topic(f, 4, &t4);
	put_run(f, 4, 0, 4);
	put_pool(f, 0, &a);
	put_pool(f, 1, &b);		/* not counted yet */
	put_topic(f, 6, &t6);		/* first is b, the first live slot a */
	put_run(f, 6, 4, 4);
	put_pool(f, 4, &a);
	put_pool(f, 5, &b);
	put_topic(f, 7, &t7);
	put_run(f, 7, 8, 4);
	put_pool(f, 8, &c);
	assert_int_equal(adopt_into(f, &t2, &res, err, sizeof(err)), 0);
	assert_int_equal(res.repaired, 2);
	assert_int_equal(res.topics, 3);
	assert_int_equal(res.disabled, 1);
	/* At rest now, the maps as the new shadow says. */
	check_maps_of(f, &t2);
	assert_int_equal(pso_tables_topic(&t2, 4)->sub_count, 2);
	assert_true(pso_tables_sub_find(&t2, 4, &ea) >= 0);
	assert_true(pso_tables_sub_find(&t2, 4, &eb) >= 0);
	assert_int_equal(pso_tables_topic(&t2, 6)->sub_count, 2);
	assert_memory_equal(&pso_tables_topic(&t2, 6)->first, &a, sizeof(a));
	assert_false(pso_tables_slot(&t2, 7, 0)->flags & PSO_SUB_F_RESOLVED);
	pso_tables_free(&t2);
}

/* Adoption comes before the deferred mode, never after. */
static void test_adopt_after_defer(void **state)
{
	struct fx *f = FX();
	struct pso_tables_adoption res;
	char err[256] = "";

	assert_int_equal(pso_tables_defer_start(&f->t), 0);
	assert_int_equal(pso_tables_adopt(&f->t, &res, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "deferred"));
	pso_tables_defer_stop(&f->t);
}

static void test_sync_rcu(void **state)
{
	(void)state;
	pso_tables_sync_rcu(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_topic_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_subscribers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_congestion, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_grow_shrink, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_holes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_fragmentation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv4_normalized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_slots_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_slot_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_slot_collision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_slot_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_slot_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_slots_unused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_slot_write_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror, setup, teardown),
		cmocka_unit_test_setup_teardown(test_publish_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_topics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_repairs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_adopt_after_defer, setup, teardown),
		cmocka_unit_test(test_sync_rcu),
	};

	return cmocka_run_group_tests_name("tables", tests, NULL, NULL);
}
