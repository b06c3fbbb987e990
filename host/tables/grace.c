// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * grace.c - waiting for data-plane readers: the RCU grace period the write
 * protocol of subs.c needs between a disable and the next content write,
 * either inline (synchronous mode) or in a worker thread (deferred mode).
 *
 * Deferred mode.  The worker runs one blocking sync (t->sync_readers, as
 * copied by pso_tables_defer_start()) at a time, whenever `requested` is
 * ahead of `started`, and counts:
 *
 *   started    periods begun: incremented, under the lock, before the sync;
 *   completed  periods ended: set to started after the sync returns, and
 *              the eventfd written so the event loop wakes.
 *
 * Work disabled at time t (its disable write returned) needs a period that
 * STARTED after t: a period already running may have begun before the
 * write, and a reader that saw the old flags may outlive it.  So the need
 * of such work is tbl_grace_need() = started + 1, read after the write, and
 * it may continue once completed >= need.  With one worker the periods run
 * one after another, so any number of disables made while period k runs
 * all need k + 1: a burst costs at most two periods, however long.
 *
 * The event loop never reads `completed` except in pso_tables_grace_done(),
 * which copies it into t->syncs; every other decision (client slot reuse,
 * pending topics) compares needs with t->syncs, so it changes only at that
 * one point.  The worker touches nothing of struct pso_tables but calls
 * the sync hook; the hook must not call into the tables.
 */
#include <errno.h>
#include <signal.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <linux/membarrier.h>
#include "tables/tables_int.h"

struct pso_grace {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int efd;
	bool stop;
	uint64_t requested, started, completed;
	void (*sync)(void *ctx);
	void *ctx;
};

void pso_tables_sync_rcu(void *ctx __attribute__((unused)))
{
	/*
	 * MEMBARRIER_CMD_GLOBAL is synchronize_rcu(): it returns after every
	 * CPU has passed a quiescent state, and XDP and TC programs run inside
	 * RCU read-side sections (BH disabled), so every program run that
	 * began before the call has ended.  It is refused on nohz_full
	 * kernels; sleeping then covers any reader stalled for less.
	 */
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0) {
		struct timespec ts = { .tv_nsec = 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
}

/* The grace period of subs.c, now (synchronous mode, or finishing the
 * deferred work); counted, so freed client slots know when they may be
 * reused. */
void tbl_wait_readers(struct pso_tables *t)
{
	if (t->sync_readers)
		t->sync_readers(t->hook_ctx);
	t->syncs++;
}

static void *grace_worker(void *arg)
{
	struct pso_grace *g = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		if (g->started >= g->requested) {
			pthread_cond_wait(&g->cond, &g->lock);
			continue;
		}
		g->started++;
		pthread_mutex_unlock(&g->lock);
		if (g->sync)
			g->sync(g->ctx);
		pthread_mutex_lock(&g->lock);
		g->completed = g->started;
		pthread_mutex_unlock(&g->lock);
		/* Cannot fail but on counter overflow (2^64 - 1 unread). */
		if (write(g->efd, &one, sizeof(one)) < 0) {
			/* nothing to do: the event loop reads `completed` */
		}
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

uint64_t tbl_grace_need(struct pso_tables *t)
{
	struct pso_grace *g = t->grace;
	uint64_t need;

	if (!g)
		return t->syncs + 1;
	pthread_mutex_lock(&g->lock);
	need = g->started + 1;
	pthread_mutex_unlock(&g->lock);
	return need;
}

void tbl_grace_request(struct pso_tables *t, uint64_t need)
{
	struct pso_grace *g = t->grace;

	if (!g || need <= t->syncs)
		return;
	if (t->grace_hold) {
		if (need > t->grace_held)
			t->grace_held = need;
		return;
	}
	pthread_mutex_lock(&g->lock);
	if (g->requested < need) {
		g->requested = need;
		pthread_cond_signal(&g->cond);
	}
	pthread_mutex_unlock(&g->lock);
}

int pso_tables_defer_start(struct pso_tables *t)
{
	sigset_t all, old;
	struct pso_grace *g;
	int err;

	if (t->grace)
		return 0;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (g->efd < 0) {
		err = -errno;
		free(g);
		return err;
	}
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	/* The counters go on from the synchronous ones, so needs already
	 * recorded (client slots) keep their meaning. */
	g->requested = g->started = g->completed = t->syncs;
	g->sync = t->sync_readers;
	g->ctx = t->hook_ctx;
	/* The worker takes no signal: the daemon reads its signals from a
	 * signalfd, which only works while every thread blocks them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&g->thread, NULL, grace_worker, g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_mutex_destroy(&g->lock);
		pthread_cond_destroy(&g->cond);
		close(g->efd);
		free(g);
		return err;
	}
	t->grace = g;
	return 0;
}

int pso_tables_grace_fd(const struct pso_tables *t)
{
	return t->grace ? t->grace->efd : -1;
}

int pso_tables_defer_call(struct pso_tables *t,
			  void (*fn)(struct pso_tables *t, void *arg), void *arg)
{
	if (!t->grace) {
		tbl_wait_readers(t);
		fn(t, arg);
		return 0;
	}
	if (t->ncalls == t->calls_cap) {
		uint32_t cap = t->calls_cap ? 2 * t->calls_cap : 16;
		struct pso_tables_call *c = realloc(t->calls, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		t->calls = c;
		t->calls_cap = cap;
	}
	t->calls[t->ncalls] = (struct pso_tables_call){ .fn = fn, .arg = arg,
							.need = tbl_grace_need(t) };
	tbl_grace_request(t, t->calls[t->ncalls++].need);
	return 0;
}

/* The calls whose period has completed, in the order they were made. */
static void run_calls(struct pso_tables *t)
{
	uint32_t kept = 0, n = t->ncalls;

	for (uint32_t i = 0; i < n; i++) {
		struct pso_tables_call c = t->calls[i];

		if (c.need <= t->syncs)
			c.fn(t, c.arg);	/* may add calls, after n */
		else
			t->calls[kept++] = c;
	}
	/* Calls added while running (after n) close the gap; with none
	 * waiting there may be no array at all. */
	if (t->ncalls > n)
		memmove(&t->calls[kept], &t->calls[n], (t->ncalls - n) * sizeof(t->calls[0]));
	t->ncalls -= n - kept;
}

/* Everything waiting whose period has completed (t->syncs). */
static void run_pending(struct pso_tables *t)
{
	tbl_subs_grace_done(t);
	tbl_clients_grace_done(t);
	run_calls(t);
}

void pso_tables_grace_done(struct pso_tables *t)
{
	struct pso_grace *g = t->grace;
	uint64_t n;

	if (!g)
		return;
	if (read(g->efd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing completed since the last call */
	}
	pthread_mutex_lock(&g->lock);
	t->syncs = g->completed;
	pthread_mutex_unlock(&g->lock);
	run_pending(t);
}

void pso_tables_defer_stop(struct pso_tables *t)
{
	struct pso_grace *g = t->grace;

	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	t->syncs = g->completed;	/* the worker has stopped: no lock needed */
	t->grace = NULL;
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
	close(g->efd);
	free(g);
	/*
	 * Finish synchronously: what completed is done first; then every need
	 * left is at most the last period started + 1, so one more wait covers
	 * it.  A step whose map write keeps failing is retried a few times and
	 * then left as it is (a safe intermediate state, see subs.c).
	 */
	run_pending(t);
	for (int round = 0; round < 4 && (pso_tables_pending(t) || t->nretired); round++) {
		tbl_wait_readers(t);
		run_pending(t);
	}
	tbl_subs_forget_pending(t);
	tbl_clients_forget_pending(t);
	free(t->calls);		/* run by now: no call fails but with -ENOMEM */
	t->calls = NULL;
	t->ncalls = t->calls_cap = 0;
}

uint32_t pso_tables_pending(const struct pso_tables *t)
{
	return tbl_subs_waiting(t) + t->ncslot_waiting + t->ncalls;
}
