// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * statusfile.c - the running broker's status document (schema and keys:
 * statusfile.h), rewritten atomically when something moved, at most every
 * PSO_STATUS_MIN_INTERVAL_MS.
 */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include "ctl/mode.h"
#include "daemon/daemon.h"
#include "daemon/statusfile.h"
#include "util/log.h"

void pso_status_path(const char *pin_dir, char *buf, size_t len)
{
	char tmp[256];

	snprintf(tmp, sizeof(tmp), "%s", pin_dir);
	snprintf(buf, len, "%s/%s.json", PSO_STATUS_DIR, basename(tmp));
}

int pso_status_owner(const char *pin_dir)
{
	struct json_object *root, *broker;
	char path[512];
	int pid = 0;

	pso_status_path(pin_dir, path, sizeof(path));
	root = json_object_from_file(path);
	if (!root)
		return 0;
	if (json_object_object_get_ex(root, PSO_ST_BROKER, &broker))
		pid = (int)json_object_get_int64(json_object_object_get(broker, PSO_ST_PID));
	json_object_put(root);
	if (pid <= 0 || (kill(pid, 0) && errno == ESRCH))
		return 0;
	return pid;
}

static struct json_object *usage_obj(uint64_t used, uint64_t cap)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, PSO_ST_USED, json_object_new_uint64(used));
	json_object_object_add(o, PSO_ST_CAPACITY, json_object_new_uint64(cap));
	return o;
}

void pso_status_refresh(struct pso_broker *b)
{
	uint32_t ntopics = pso_proto_ntopics(b->proto);
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
	if (u.subs != b->status_nsubs || u.clients != b->status_nclients ||
	    ntopics != b->status_ntopics) {
		b->status_nsubs = u.subs;
		b->status_nclients = u.clients;
		b->status_ntopics = ntopics;
		b->status_dirty = true;
	}
	pso_status_write(b);
}

/* The protocol layer's counters, as the status document names them. */
#define COUNTER(f) { #f, offsetof(struct pso_proto_stats, f) }
static const struct {
	const char *name;
	size_t off;
} daemon_counters[] = {
	COUNTER(rx_msgs), COUNTER(rx_malformed), COUNTER(rx_unsupported),
	COUNTER(host_deliveries), COUNTER(congestion), COUNTER(expired), COUNTER(qosm1_denied),
	COUNTER(qos_deliveries), COUNTER(qos_retransmits), COUNTER(qos_given_up),
	COUNTER(qos_queue_full), COUNTER(wills_published), COUNTER(unknown_topic),
	COUNTER(sleep_buffered), COUNTER(sleep_dropped), COUNTER(forwarded),
	COUNTER(unknown_dropped),
};

/* Address validation: sessions proven or not now, bytes held for the
 * latter, and what happened to the echoes (docs/SECURITY.md). */
static struct json_object *validation_obj(const struct pso_proto *proto)
{
	const struct pso_proto_stats *st = pso_proto_stats(proto);
	struct json_object *o = json_object_new_object();
	struct pso_valid_state vs;

	pso_proto_valid_state(proto, &vs);
	json_object_object_add(o, "validated", json_object_new_uint64(vs.validated));
	json_object_object_add(o, "unvalidated", json_object_new_uint64(vs.unvalidated));
	json_object_object_add(o, "held_bytes", json_object_new_uint64(vs.held_bytes));
	json_object_object_add(o, "proved", json_object_new_uint64(st->valid_proved));
	json_object_object_add(o, "failures", json_object_new_uint64(st->valid_failures));
	json_object_object_add(o, "expired", json_object_new_uint64(st->valid_expired));
	json_object_object_add(o, "held", json_object_new_uint64(st->valid_held));
	json_object_object_add(o, "held_dropped", json_object_new_uint64(st->valid_held_dropped));
	json_object_object_add(o, "capped_bytes", json_object_new_uint64(st->valid_capped_bytes));
	return o;
}

void pso_status_write(struct pso_broker *b)
{
	struct json_object *root, *broker, *ifs, *tables, *daemon;
	const struct pso_proto_stats *st;
	struct pso_tables_usage u;
	char tmp[600], feats[128];

	if (!b->status_path[0] || !b->status_dirty)
		return;
	b->status_dirty = false;
	b->status_written_ms = b->now_ms;
	root = json_object_new_object();
	broker = json_object_new_object();
	json_object_object_add(broker, PSO_ST_PID, json_object_new_int(getpid()));
	json_object_object_add(broker, PSO_ST_UDP_PORT, json_object_new_int(b->cfg.udp_port));
	json_object_object_add(broker, "pin_dir", json_object_new_string(b->cfg.pin_dir));
	json_object_object_add(broker, "requested_mode",
			       json_object_new_string(pso_mode_name(b->cfg.mode)));
	json_object_object_add(root, PSO_ST_BROKER, broker);

	ifs = json_object_new_array();
	for (int i = 0; i < b->ctl.nifaces; i++) {
		struct pso_iface *f = &b->ctl.ifaces[i];
		struct pso_port *port = f->attached ? pso_dp_port_by_ifindex(&b->dp, f->ifindex) : NULL;
		struct json_object *o = json_object_new_object(), *progs = json_object_new_object();

		json_object_object_add(o, PSO_ST_NAME, json_object_new_string(f->name));
		json_object_object_add(o, "ifindex", json_object_new_int(f->ifindex));
		json_object_object_add(o, PSO_ST_DRIVER, json_object_new_string(f->nic.driver));
		json_object_object_add(o, "profile", json_object_new_string(f->profile.name));
		json_object_object_add(o, "xdp_features", json_object_new_string(
			f->nic.features_known ? pso_xdp_features_str(f->nic.xdp_features, feats,
								     sizeof(feats)) : "unknown"));
		json_object_object_add(o, PSO_ST_STATE, json_object_new_string(
			!f->attached ? (f->ifindex ? "failed" : "gone") : f->up ? "up" : "down"));
		json_object_object_add(o, PSO_ST_MODE, json_object_new_string(
			port ? pso_mode_name(port->mode) : "none"));
		json_object_object_add(o, "host_mode", json_object_new_string(
			port ? pso_mode_name(port->host_mode) : "none"));
		json_object_object_add(o, PSO_ST_REASON, json_object_new_string(f->reason));
		json_object_object_add(progs, PSO_ST_PROG_XDP, json_object_new_int(port ? port->xdp_prog_id : 0));
		json_object_object_add(progs, PSO_ST_PROG_XDP_HW, json_object_new_int(port ? port->hw_prog_id : 0));
		json_object_object_add(progs, PSO_ST_PROG_TC, json_object_new_int(port ? port->tc_prog_id : 0));
		json_object_object_add(o, PSO_ST_PROGRAMS, progs);
		json_object_object_add(o, "mtu", json_object_new_int(f->mtu));
		if (port && port->hw) {
			const struct pso_tables_mirror *m = pso_ctl_nic_mirror(&b->ctl, port);
			struct json_object *placed = json_object_new_array();

			for (uint32_t id = 0; m && id < b->dp.sizes.topics; id++)
				if (pso_tables_mirror_is_placed(m, id))
					json_object_array_add(placed, json_object_new_int(id));
			json_object_object_add(o, PSO_ST_NIC_TOPICS_CAP, json_object_new_int(port->hw_topics));
			json_object_object_add(o, PSO_ST_NIC_TOPICS, placed);
		}
		json_object_array_add(ifs, o);
	}
	json_object_object_add(root, PSO_ST_INTERFACES, ifs);

	pso_tables_usage(&b->tables, &u);
	tables = json_object_new_object();
	json_object_object_add(tables, PSO_ST_TOPICS, usage_obj(u.topics, u.max_topics));
	json_object_object_add(tables, PSO_ST_SUBSCRIBERS, usage_obj(u.subs, u.max_subs));
	json_object_object_add(tables, PSO_ST_CLIENTS, usage_obj(u.clients, u.max_clients));
	json_object_object_add(tables, "subscribers_per_topic", json_object_new_int(u.subs_per_topic));
	json_object_object_add(tables, "pending_grace", json_object_new_int(u.pending));
	json_object_object_add(root, PSO_ST_TABLES, tables);

	st = pso_proto_stats(b->proto);
	daemon = json_object_new_object();
	for (size_t i = 0; i < sizeof(daemon_counters) / sizeof(daemon_counters[0]); i++) {
		const uint64_t *v = (const uint64_t *)((const char *)st + daemon_counters[i].off);

		json_object_object_add(daemon, daemon_counters[i].name, json_object_new_uint64(*v));
	}
	json_object_object_add(daemon, "sessions", json_object_new_uint64(pso_proto_nsessions(b->proto)));
	json_object_object_add(daemon, "nic_write_errors", json_object_new_uint64(u.nic_write_errors));
	json_object_object_add(daemon, "nic_table_full", json_object_new_uint64(u.nic_table_full));
	json_object_object_add(daemon, "validation", validation_obj(b->proto));
	json_object_object_add(root, "daemon", daemon);

	mkdir(PSO_STATUS_DIR, 0755);
	snprintf(tmp, sizeof(tmp), "%s.tmp", b->status_path);
	if (json_object_to_file_ext(tmp, root, JSON_C_TO_STRING_PRETTY) || rename(tmp, b->status_path))
		pso_warn("cannot write status file %s: %s", b->status_path, strerror(errno));
	json_object_put(root);
}

