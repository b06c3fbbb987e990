// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * statusfile.c - the running broker's status document (schema:
 * snapshot.h) in a file, rewritten atomically when something moved, at
 * most every PSO_STATUS_MIN_INTERVAL_MS.  `psoffload status` asks the
 * control socket; the file is for scripts that read it directly.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
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

void pso_status_refresh(struct pso_broker *b)
{
	uint32_t ntopics = pso_proto_ntopics(b->proto), nsessions = pso_proto_nsessions(b->proto);
	const struct pso_proto_stats *st = pso_proto_stats(b->proto);
	struct pso_tables_usage u;

	if (b->now_ms - b->status_written_ms < PSO_STATUS_MIN_INTERVAL_MS)
		return;
	/* The daemon's counters are live too, not only the occupancy. */
	if (memcmp(st, &b->status_stats, sizeof(*st))) {
		b->status_stats = *st;
		b->status_dirty = true;
	}
	pso_tables_usage(&b->tables, &u);
	/* A kept session that expires offline moves nothing else. */
	if (u.subs != b->status_nsubs || u.clients != b->status_nclients ||
	    ntopics != b->status_ntopics || nsessions != b->status_nsessions) {
		b->status_nsubs = u.subs;
		b->status_nclients = u.clients;
		b->status_ntopics = ntopics;
		b->status_nsessions = nsessions;
		b->status_dirty = true;
	}
	pso_status_write(b);
}

void pso_status_write(struct pso_broker *b)
{
	struct pso_snapshot *snap;
	struct json_object *root;
	char tmp[600];

	if (!b->status_path[0] || !b->status_dirty)
		return;
	snap = pso_snapshot_take(b, 0);
	if (!snap)
		return;
	b->status_dirty = false;
	b->status_written_ms = b->now_ms;
	root = pso_snap_status_json(snap);
	pso_snapshot_free(snap);
	mkdir(PSO_STATUS_DIR, 0755);
	snprintf(tmp, sizeof(tmp), "%s.tmp", b->status_path);
	if (json_object_to_file_ext(tmp, root, JSON_C_TO_STRING_PRETTY) || rename(tmp, b->status_path))
		pso_warn("cannot write status file %s: %s", b->status_path, strerror(errno));
	json_object_put(root);
}
