// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tablebench.c - the host's table writer at scale: the time one subscriber
 * takes to join or leave a topic that already has N others (default 4,095,
 * so the topic holds 4,096 with it), against real BPF maps, in deferred
 * mode as the daemon runs it (the call returns; its grace periods, RCU
 * ones, run in the worker and are finished by pso_tables_grace_done()).
 *
 *   tablebench [N] [ROUNDS]
 *
 * Prints one line per operation: median and 90th percentile of the call
 * in microseconds, and the same for a topic of 1 other subscriber, side by
 * side (the ratio is what the pool costs at scale).  Needs root (maps).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "tables/tables.h"

#define TOPICS 16

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct pso_sub sub_of(uint32_t n)
{
	struct pso_sub s = { 0 };

	s.dst_mac[0] = 0x02;
	s.dst_mac[4] = (uint8_t)(n >> 8);
	s.dst_mac[5] = (uint8_t)n;
	s.ifindex = 1;
	s.dst_port = htons((uint16_t)(1000 + n % 50000));
	s.family = PSO_AF_INET;
	s.flags = PSO_SUB_F_RESOLVED;
	s.src_addr[0] = 10;
	s.dst_addr[0] = 10;
	s.dst_addr[1] = (uint8_t)(n >> 16);
	s.dst_addr[2] = (uint8_t)(n >> 8);
	s.dst_addr[3] = (uint8_t)n;
	return s;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Let the worker's grace periods finish what the calls left. */
static void settle(struct pso_tables *t)
{
	for (int i = 0; i < 200 && pso_tables_pending(t); i++) {
		struct pollfd pf = { .fd = pso_tables_grace_fd(t), .events = POLLIN };

		poll(&pf, 1, 100);
		pso_tables_grace_done(t);
	}
}

/* Median and 90th percentile (us) of join and leave with `others` there. */
static int measure(uint32_t others, int rounds, double out[4])
{
	int topics_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tb_topics", 4, sizeof(struct pso_topic),
				       TOPICS, NULL);
	int subs_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tb_subs", 4, sizeof(struct pso_sub),
				     4 * PSO_MAX_RUN, NULL);
	int runs_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "tb_runs", 4, sizeof(struct pso_run),
				     TOPICS, NULL);
	int clients_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "tb_clients", sizeof(struct pso_endpoint),
					sizeof(struct pso_client_val), 16, NULL);
	uint64_t *join = calloc(rounds, sizeof(*join)), *leave = calloc(rounds, sizeof(*leave));
	struct pso_tables t;
	int err;

	if (topics_fd < 0 || subs_fd < 0 || runs_fd < 0 || clients_fd < 0 || !join || !leave) {
		fprintf(stderr, "tablebench: cannot create the maps: %s (run as root)\n",
			strerror(errno));
		return -1;
	}
	err = pso_tables_init(&t, topics_fd, subs_fd, runs_fd, clients_fd, TOPICS, 4 * PSO_MAX_RUN,
			      16);
	if (!err)
		err = pso_tables_topic_set(&t, 1, 0);
	for (uint32_t i = 0; !err && i < others; i++) {
		struct pso_sub s = sub_of(i);

		err = pso_tables_sub_add(&t, 1, &s);
	}
	if (!err)
		err = pso_tables_defer_start(&t);
	if (err) {
		fprintf(stderr, "tablebench: cannot fill the topic: %s\n", strerror(-err));
		return -1;
	}
	settle(&t);
	for (int r = 0; r < rounds; r++) {
		struct pso_sub s = sub_of(others + 1);
		struct pso_endpoint ep;
		uint64_t t0;

		pso_sub_endpoint(&s, &ep);
		t0 = now_ns();
		err = pso_tables_sub_add(&t, 1, &s);
		join[r] = now_ns() - t0;
		settle(&t);
		t0 = now_ns();
		err |= pso_tables_sub_remove(&t, 1, &ep);
		leave[r] = now_ns() - t0;
		settle(&t);
		if (err) {
			fprintf(stderr, "tablebench: round %d: %s\n", r, strerror(-err));
			return -1;
		}
	}
	qsort(join, rounds, sizeof(*join), cmp_u64);
	qsort(leave, rounds, sizeof(*leave), cmp_u64);
	out[0] = join[rounds / 2] / 1e3;
	out[1] = join[rounds * 9 / 10] / 1e3;
	out[2] = leave[rounds / 2] / 1e3;
	out[3] = leave[rounds * 9 / 10] / 1e3;
	pso_tables_free(&t);
	close(topics_fd);
	close(subs_fd);
	close(runs_fd);
	close(clients_fd);
	free(join);
	free(leave);
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t n = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : PSO_MAX_RUN - 1;
	int rounds = argc > 2 ? atoi(argv[2]) : 200;
	double big[4], small[4];

	if (n < 1 || n >= PSO_MAX_RUN || rounds < 10) {
		fprintf(stderr, "usage: tablebench [OTHERS 1..%d] [ROUNDS >= 10]\n", PSO_MAX_RUN - 1);
		return 2;
	}
	if (measure(1, rounds, small) || measure(n, rounds, big))
		return 1;
	printf("join  (topic of %u): median %.1f us, p90 %.1f us; (topic of 1): median %.1f us, "
	       "p90 %.1f us; ratio %.1f\n", n + 1, big[0], big[1], small[0], small[1],
	       big[0] / small[0]);
	printf("leave (topic of %u): median %.1f us, p90 %.1f us; (topic of 1): median %.1f us, "
	       "p90 %.1f us; ratio %.1f\n", n + 1, big[2], big[3], small[2], small[3],
	       big[2] / small[2]);
	return 0;
}
