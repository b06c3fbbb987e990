// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * statusfile.c - the running broker's status document (schema and keys:
 * statusfile.h), rewritten atomically when any value in it moved (a counter
 * as much as the occupancy), at most every PSO_STATUS_MIN_INTERVAL_MS.
 */
#include <errno.h>
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

int pso_status_path(const char *pin_dir, char *buf, size_t len)
{
	return pso_instance_file(pin_dir, "json", buf, len);
}

static struct json_object *usage_obj(uint64_t used, uint64_t cap)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, PSO_ST_USED, json_object_new_uint64(used));
	json_object_object_add(o, PSO_ST_CAPACITY, json_object_new_uint64(cap));
	return o;
}

static void status_snap(struct pso_broker *b, struct pso_status_snap *s)
{
	memset(s, 0, sizeof(*s));	/* padding too: compared with memcmp */
	s->stats = *pso_proto_stats(b->proto);
	pso_tables_usage(&b->tables, &s->usage);
	s->ntopics = pso_proto_ntopics(b->proto);
	s->nsessions = pso_proto_nsessions(b->proto);
}

void pso_status_refresh(struct pso_broker *b)
{
	struct pso_status_snap now;

	if (!b->status_path[0] || b->now_ms - b->status_written_ms < PSO_STATUS_MIN_INTERVAL_MS ||
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

void pso_status_write(struct pso_broker *b)
{
	struct json_object *root, *broker, *ifs, *tables, *daemon;
	const struct pso_status_snap *s = &b->status_last;
	const struct pso_tables_usage *u = &s->usage;
	char tmp[600], feats[128];

	if (!b->status_path[0] || !b->status_dirty)
		return;
	b->status_dirty = false;
	b->status_written_ms = b->now_ms;
	status_snap(b, &b->status_last);
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

	tables = json_object_new_object();
	json_object_object_add(tables, PSO_ST_TOPICS, usage_obj(u->topics, u->max_topics));
	json_object_object_add(tables, PSO_ST_SUBSCRIBERS, usage_obj(u->subs, u->max_subs));
	json_object_object_add(tables, PSO_ST_CLIENTS, usage_obj(u->clients, u->max_clients));
	json_object_object_add(tables, "subscribers_per_topic", json_object_new_int(u->subs_per_topic));
	json_object_object_add(tables, "pending_grace", json_object_new_int(u->pending));
	json_object_object_add(root, PSO_ST_TABLES, tables);

	daemon = json_object_new_object();
	for (size_t i = 0; i < sizeof(daemon_counters) / sizeof(daemon_counters[0]); i++) {
		const uint64_t *v = (const uint64_t *)((const char *)&s->stats + daemon_counters[i].off);

		json_object_object_add(daemon, daemon_counters[i].name, json_object_new_uint64(*v));
	}
	json_object_object_add(daemon, "sessions", json_object_new_uint64(s->nsessions));
	json_object_object_add(daemon, "nic_write_errors", json_object_new_uint64(u->nic_write_errors));
	json_object_object_add(daemon, "nic_table_full", json_object_new_uint64(u->nic_table_full));
	json_object_object_add(root, "daemon", daemon);

	mkdir(PSO_STATUS_DIR, 0755);
	snprintf(tmp, sizeof(tmp), "%s.tmp", b->status_path);
	if (json_object_to_file_ext(tmp, root, JSON_C_TO_STRING_PRETTY) || rename(tmp, b->status_path))
		pso_warn("cannot write status file %s: %s", b->status_path, strerror(errno));
	json_object_put(root);
}

