/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * tcpbench.h - the bench client for the brokers users pick instead
 * (Mosquitto, Redis, NATS), each through its own C client library: one
 * publisher and N subscriber connections in one process on the generator
 * CPU.  The experiment loop, delivery counting and latency are here; a
 * backend (mosquitto.c, redis.c, nats.c) only connects, subscribes, publishes
 * and moves bytes with its library.
 *
 * Throughput points are closed-loop: the publisher sends as fast as the
 * library takes messages while the slowest subscriber of the topic is at
 * most a window of messages behind (TB_WINDOW_*), so a broker is driven at its capacity
 * without being pushed into its slow-consumer defences (Redis disconnects
 * subscribers whose output buffer passes 32 MB, NATS slow consumers).
 * Latency points are open-loop at a fixed rate, like the packet generator's.
 */
#ifndef PSO_BENCH_TCPBENCH_H
#define PSO_BENCH_TCPBENCH_H

#include <stdatomic.h>
#include "benchlib.h"

/* Messages the slowest subscriber may lag: 4 MiB of payload in flight to
 * all the fan-out's subscribers together, within 64..16384 messages each
 * (below Redis' 8 MB soft limit for pub/sub clients, and a backlog the
 * server works off in well under a second). */
#define TB_WINDOW_BYTES (4 << 20)
#define TB_WINDOW_MIN 64
#define TB_WINDOW_MAX 16384
#define TB_MAX_LEVELS (2 * BL_MAX_LIST)

struct tb;

struct tb_backend {
	const char *name;	/* label and broker name */
	int default_port;
	/* Topic of fan-out level l (a string the backend keeps). */
	const char *(*topic)(struct tb *t, int level);
	/* Connect the publisher and t->n_subs subscribers; subscriber i
	 * subscribes to the topic of every level F with i < F.  0 or -1 (a
	 * line on stderr said why). */
	int (*setup)(struct tb *t);
	/* Hand one publish to the library: 0, or -1 if it cannot take one now. */
	int (*publish)(struct tb *t, int level, const uint8_t *payload, int len);
	/* Move bytes both ways for at most timeout_us (0: whatever is ready). */
	void (*pump)(struct tb *t, int timeout_us);
	void (*teardown)(struct tb *t);
};

struct tb {
	struct bl_opts o;
	const struct tb_backend *be;
	const char *host;
	int port;
	int n_subs;
	int levels[TB_MAX_LEVELS], n_levels;
	_Atomic uint64_t recv[BL_MAX_SUBS];
	_Atomic uint64_t hist[LG_HIST_BUCKETS];
	void *priv;		/* the backend's */
};

/* A subscriber received a message: count it, sample its latency. */
static inline void tb_deliver(struct tb *t, int sub, const void *payload, int len)
{
	int64_t age = bl_payload_age(payload, len);

	atomic_fetch_add_explicit(&t->recv[sub], 1, memory_order_relaxed);
	if (age >= 0)
		atomic_fetch_add_explicit(&t->hist[bl_hist_bucket(age)], 1, memory_order_relaxed);
}

/* main() of a backend's program. */
int tb_main(const struct tb_backend *be, int argc, char **argv);

#endif /* PSO_BENCH_TCPBENCH_H */
