// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * statusfile.c - the running broker's status document (schema:
 * snapshot.h) in a file, rewritten atomically when any number in it moved
 * (a counter as much as the occupancy), at most every
 * PSO_STATUS_MIN_INTERVAL_MS.  `psoffload status` asks the control socket;
 * the file is for scripts that read it directly.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <time.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include "daemon/daemon.h"
#include "daemon/snapshot.h"
#include "daemon/statusfile.h"
#include "util/log.h"

void pso_status_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.json", PSO_STATUS_DIR, name);
}

static void status_snap(struct pso_broker *b, struct pso_status_snap *s)
{
	memset(s, 0, sizeof(*s));	/* padding too: compared with memcmp */
	s->stats = *pso_proto_stats(b->proto);
	pso_tables_usage(&b->tables, &s->usage);
	s->ntopics = pso_proto_ntopics(b->proto);
	s->nsessions = pso_proto_nsessions(b->proto);
}

/* A snapshot walks every session: with 100,000 of them a write costs
 * milliseconds, and the loop spends at most 1/PSO_STATUS_COST_SHARE of its
 * time on the file. */
#define PSO_STATUS_COST_SHARE 50

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void pso_status_refresh(struct pso_broker *b)
{
	struct pso_status_snap now;
	uint64_t gap_ms = b->status_cost_us * PSO_STATUS_COST_SHARE / 1000;

	if (gap_ms < PSO_STATUS_MIN_INTERVAL_MS)
		gap_ms = PSO_STATUS_MIN_INTERVAL_MS;
	if (!b->status_path[0] || b->now_ms - b->status_written_ms < gap_ms ||
	    b->now_ms - b->status_checked_ms < PSO_STATUS_MIN_INTERVAL_MS)
		return;
	/* Every counter is live, not only the occupancy; looked at no more
	 * often than it may be written, however busy the loop. */
	b->status_checked_ms = b->now_ms;
	status_snap(b, &now);
	if (memcmp(&now, &b->status_last, sizeof(now)))
		b->status_dirty = true;
	pso_status_write(b);
}

void pso_status_write(struct pso_broker *b)
{
	struct pso_snapshot *snap;
	struct json_object *root;
	char tmp[600];
	uint64_t t0 = mono_us();

	if (!b->status_path[0] || !b->status_dirty)
		return;
	snap = pso_snapshot_take(b, 0);
	if (!snap)
		return;
	b->status_dirty = false;
	b->status_written_ms = b->now_ms;
	status_snap(b, &b->status_last);
	root = pso_snap_status_json(snap);
	pso_snapshot_free(snap);
	mkdir(PSO_STATUS_DIR, 0755);
	snprintf(tmp, sizeof(tmp), "%s.tmp", b->status_path);
	if (json_object_to_file_ext(tmp, root, JSON_C_TO_STRING_PRETTY) || rename(tmp, b->status_path))
		pso_warn("cannot write status file %s: %s", b->status_path, strerror(errno));
	json_object_put(root);
	b->status_cost_us = mono_us() - t0;
}
