/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * metrics.h - Prometheus metrics: `--metrics=ADDR:PORT` serves /metrics in
 * the text exposition format 0.0.4, with libmicrohttpd in a thread of its
 * own.
 *
 * That thread never reads the broker.  A scrape asks the event loop for a
 * fresh snapshot (snapshot.h) through an eventfd and waits for it (at most
 * PSO_METRICS_WAIT_MS, else 503); the loop takes the snapshot and hands it
 * over under the lock.  What the exposition holds is pso_metrics_render()
 * of that snapshot, so its counters are the ones `stats --json` shows.
 */
#ifndef PSO_METRICS_H
#define PSO_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct pso_snapshot;
struct pso_metrics;

#define PSO_METRICS_WAIT_MS 2000
#define PSO_METRICS_TOPICS_DEFAULT 10

/* "127.0.0.1:9464", "[::1]:9464", ":9464" or "*:9464" (every address):
 * 0, or -EINVAL. */
int pso_metrics_parse_addr(const char *s, struct sockaddr_storage *ss);

/* Listen on addr; per-topic series for the `topics` busiest topics. */
int pso_metrics_start(struct pso_metrics **m, const char *addr, unsigned int topics,
		      char *err, size_t errlen);
void pso_metrics_stop(struct pso_metrics *m);
/* A reload's --metrics-topics: the next scrape has that many topics. */
void pso_metrics_set_topics(struct pso_metrics *m, unsigned int topics);

/* For the event loop: readable when a scrape waits for a snapshot. */
int pso_metrics_fd(const struct pso_metrics *m);
/* After the fd was readable: does a scrape wait (the fd drained)? */
bool pso_metrics_wanted(struct pso_metrics *m);
/* The snapshot taken for it (ownership passes; NULL: none could be). */
void pso_metrics_put(struct pso_metrics *m, struct pso_snapshot *s);

/* The exposition of a snapshot taken with PSO_SNAP_DATAPLANE and
 * PSO_SNAP_TOPICS: malloc'd text, NULL when out of memory. */
char *pso_metrics_render(const struct pso_snapshot *s, unsigned int topics, size_t *len);

#endif /* PSO_METRICS_H */
