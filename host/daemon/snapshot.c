// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * snapshot.c - one moment of the broker (snapshot.h): taken by the event
 * loop, serialised once as JSON for status, stats and the status file.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "ctl/mode.h"
#include "daemon/adopted.h"
#include "daemon/daemon.h"
#include "daemon/snapshot.h"
#include "daemon/statusfile.h"
#include "proto/mqttsn.h"
#include "proto/topics.h"
#include "util/log.h"

const char *const pso_snap_dp_names[PSO_CNT__MAX] = PSO_COUNTER_NAMES;

#define COUNTER(f, h) { #f, offsetof(struct pso_proto_stats, f), h }
const struct pso_snap_counter pso_snap_daemon_counters[] = {
	COUNTER(rx_msgs, "Datagrams the daemon received."),
	COUNTER(rx_malformed, "Datagrams the daemon could not decode."),
	COUNTER(rx_unsupported, "Messages answered 'not supported' or ignored."),
	COUNTER(host_deliveries, "Publishes the daemon sent itself (host path)."),
	COUNTER(congestion, "Requests refused because a table was full."),
	COUNTER(overflow, "Subscribers of a filter left without a slot: the daemon delivers to them."),
	COUNTER(expired, "Clients expired by keep-alive."),
	COUNTER(qosm1_denied, "QoS -1 publishes the daemon refused (--qos-m1)."),
	COUNTER(unreachable, "Clients lost to an ICMP port or host unreachable for their address."),
	COUNTER(store_refused, "Control requests refused (0x01) while the store could not be written."),
	COUNTER(qos_deliveries, "QoS 1/2 deliveries queued."),
	COUNTER(qos_retransmits, "QoS 1/2 deliveries sent again."),
	COUNTER(qos_given_up, "QoS 1/2 deliveries given up after every retry."),
	COUNTER(qos_queue_full, "QoS 1/2 deliveries refused: the session's outbox was full."),
	COUNTER(wills_published, "Wills published for lost clients."),
	COUNTER(unknown_topic, "QoS 0 publishes to unknown topic ids answered."),
	COUNTER(topics_freed, "Idle topics freed (--topic-idle): their ids come back."),
	COUNTER(topics_reused, "Freed topic ids given to a new topic."),
	COUNTER(late_publishes, "Publishes received before their id named its topic: treated as unknown."),
	COUNTER(sleep_buffered, "QoS 0 publishes buffered for sleeping clients."),
	COUNTER(sleep_dropped, "Buffered publishes dropped from a full sleep buffer."),
	COUNTER(forwarded, "Datagrams that came wrapped by a forwarder."),
	COUNTER(unknown_dropped, "Datagrams from endpoints without a session left unanswered."),
	COUNTER(valid_proved, "Client addresses proven (the broker's REGISTER or QoS 1/2 id echoed)."),
	COUNTER(valid_failures, "Wrong or rate-limited echoes of the broker's value."),
	COUNTER(valid_expired, "Sessions ended because their address was never proven."),
	COUNTER(valid_held, "QoS 0 publishes held for clients whose address is not proven yet."),
	COUNTER(valid_held_dropped, "Held publishes dropped: a full buffer, or the global cap."),
	COUNTER(valid_capped_bytes, "Bytes not sent to unproven endpoints: over 3x what they sent."),
	COUNTER(keepalive_capped, "CONNECTs and sleeps whose keep-alive was capped (--max-keepalive)."),
	COUNTER(quota_subscriptions, "SUBSCRIBEs refused: the client's subscriptions (--max-client-subscriptions)."),
	COUNTER(quota_holds, "Topics not taken: the client holds its share (--max-holds)."),
	COUNTER(quota_registrations, "Topics not created: the session created its share (--max-registrations)."),
	COUNTER(quota_retained, "Retained publishes refused: the client's bytes (--max-retained)."),
	COUNTER(retained_full, "Retained publishes refused: every client's bytes (--max-retained-total)."),
	COUNTER(buffered_full, "Deliveries not buffered: every buffer together (--max-buffered-total)."),
	COUNTER(rate_connect, "CONNECTs dropped unanswered: over their source's rate (--connect-rate)."),
	COUNTER(rate_control, "Control messages dropped unanswered: over their source's rate (--control-rate)."),
	COUNTER(rate_evicted, "Rate-limiter entries taken from a source seen recently (the table was full)."),
};
const size_t pso_snap_ndaemon_counters =
	sizeof(pso_snap_daemon_counters) / sizeof(pso_snap_daemon_counters[0]);

static uint64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void take_iface(struct pso_broker *b, const struct pso_iface *f, struct pso_snap_iface *o)
{
	struct pso_port *port = f->attached ? pso_dp_port_by_ifindex(&b->dp, f->ifindex) : NULL;

	snprintf(o->name, sizeof(o->name), "%s", f->name);
	o->ifindex = f->ifindex;
	snprintf(o->driver, sizeof(o->driver), "%s", f->nic.driver);
	snprintf(o->profile, sizeof(o->profile), "%s", f->profile.name);
	if (f->nic.features_known)
		pso_xdp_features_str(f->nic.xdp_features, o->features, sizeof(o->features));
	else
		snprintf(o->features, sizeof(o->features), "unknown");
	o->state = !f->attached ? (f->ifindex ? "failed" : "gone") : f->up ? "up" : "down";
	o->requested = pso_mode_name(f->requested);
	o->mode = port ? pso_mode_name(port->mode) : "none";
	o->host_mode = port ? pso_mode_name(port->host_mode) : "none";
	snprintf(o->reason, sizeof(o->reason), "%s", f->reason);
	o->xdp_id = port ? port->xdp_prog_id : 0;
	o->hw_id = port ? port->hw_prog_id : 0;
	o->tc_id = port ? port->tc_prog_id : 0;
	o->mtu = f->mtu;
	o->xdp_link = !port || !port->xdp_attached ? "none"
		      : port->xdp_link_fd < 0 ? "netlink" : b->dp.pin_dir[0] ? "pinned link" : "link";
	o->tc_link = !port || !port->tc_attached ? "none"
		     : port->tc_kind == PSO_TC_TCX ? "tcx link" : "cls_bpf filter";
	o->adopted = port && port->adopted;
	if (port && port->hw) {
		const struct pso_tables_mirror *m = pso_ctl_nic_mirror(&b->ctl, port);

		o->hw = true;
		o->nic_topics_cap = port->hw_topics;
		o->nic_topics = m ? calloc(m->nplaced ? m->nplaced : 1, sizeof(*o->nic_topics)) : NULL;
		for (uint32_t id = 0; o->nic_topics && id < b->dp.sizes.topics; id++)
			if (o->n_nic_topics < m->nplaced && pso_tables_mirror_is_placed(m, id))
				o->nic_topics[o->n_nic_topics++] = (uint16_t)id;
	}
}

struct topics_take {
	struct pso_broker *b;
	struct pso_snapshot *s;
	uint32_t cap;
	int err;
};

static int take_topic(const struct pso_topic_info *ti, void *arg)
{
	struct topics_take *w = arg;
	struct pso_snapshot *s = w->s;
	struct pso_snap_topic *t;
	struct pso_topic_stats st;

	if (s->ntopics == w->cap) {
		uint32_t cap = w->cap ? w->cap * 2 : 64;
		struct pso_snap_topic *n = realloc(s->topics, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->topics = n;
		w->cap = cap;
	}
	t = &s->topics[s->ntopics];
	*t = (struct pso_snap_topic){
		.id = ti->id, .predefined = ti->predefined, .qosm1 = ti->qosm1,
		.subscribers = ti->subscribers, .retained = ti->retained,
		.retained_bytes = ti->retained_bytes,
	};
	t->name = strdup(ti->name);
	if (!t->name)
		return -ENOMEM;
	s->ntopics++;
	if (!pso_dp_read_topic_stats(w->b->dp.topic_stats_fd, ti->id, &st)) {
		t->msgs = st.msgs;
		t->bytes = st.bytes;
	} else if (!w->err) {
		w->err = -errno;
	}
	return 0;
}

struct pso_snapshot *pso_snapshot_take(struct pso_broker *b, unsigned int what)
{
	struct pso_snapshot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->what = what;
	s->taken_ms = realtime_ms();
	s->started_ms = b->started_ms;
	snprintf(s->name, sizeof(s->name), "%s", b->name);
	s->pid = getpid();
	s->udp_port = b->cfg.udp_port;
	snprintf(s->pin_dir, sizeof(s->pin_dir), "%s", b->cfg.pin_dir ? b->cfg.pin_dir : "");
	s->requested_mode = pso_mode_name(b->cfg.mode);
	snprintf(s->control_socket, sizeof(s->control_socket), "%s", b->ctl_path);
	snprintf(s->metrics, sizeof(s->metrics), "%s", b->cfg.metrics_addr ? b->cfg.metrics_addr : "");

	s->proto = *pso_proto_stats(b->proto);
	s->topics_quarantined = pso_registry_nquarantined(pso_proto_registry(b->proto));
	pso_tables_usage(&b->tables, &s->tables);
	s->subscriptions_cap = b->dp.sizes.subscriptions;
	s->subscriptions_full = b->subscriptions_full;
	s->map_memory = pso_dp_map_memory(&b->dp);
	pso_proto_session_counts(b->proto, s->sessions);
	s->nsessions = pso_proto_nsessions(b->proto);
	pso_proto_retained_usage(b->proto, &s->retained_msgs, &s->retained_bytes);
	pso_proto_valid_state(b->proto, &s->valid);
	s->buffered = pso_proto_buffered(b->proto);
	for (int i = 0; i < b->ctl.nifaces && i < PSO_MAX_PORTS; i++)
		take_iface(b, &b->ctl.ifaces[i], &s->ifaces[s->nifaces++]);
	s->restarts = b->dp.meta.restarts;
	s->adoptions = b->dp.meta.adoptions;
	s->came = !b->dp.adopted ? "fresh" : b->handover.active ? "handover" : "crash";
	snprintf(s->adopted_build, sizeof(s->adopted_build), "%s", b->dp.adopted_build);
	snprintf(s->build, sizeof(s->build), "%s", b->cfg.build ? b->cfg.build : "");
	s->created_ms = b->dp.meta.created_ms;
	s->handover_ms = b->handover_ms;
	s->adopt_ms = b->adopt_ms;
	s->pings = b->placeholder_pings;
	s->reserved_ids = b->adopted_reserved;
	{
		struct pso_adopted_usage au;

		pso_adopted_usage(b->adopted, &au);
		s->ph_endpoints = au.endpoints;
		s->ph_clients = au.clients;
		s->ph_slots = au.slots;
		s->ph_claimed = au.claimed;
		s->ph_expired = au.expired;
		s->ph_next_ms = au.next_expiry_ms > b->now_ms ? au.next_expiry_ms - b->now_ms : 0;
	}
	if (b->store) {
		snprintf(s->store, sizeof(s->store), "%s", pso_store_spec(b->store));
		s->store_persistent = pso_store_persistent(b->store);
		s->store_stats = *pso_store_stats(b->store);
	}
	if (b->ha) {
		s->has_ha = true;
		pso_ha_status(b->ha, b->now_ms, &s->ha);
		s->ha_store_rev = b->store_rev;
		s->ha_applied = b->ha_applied;
		s->ha_dropped = b->ha_dropped;
	}

	if (what & PSO_SNAP_DATAPLANE) {
		int ret = pso_dp_read_counters(b->dp.counters_fd, s->dp);

		if (ret)
			pso_debug("snapshot: cannot read the data-plane counters: %s", strerror(-ret));
	}
	if (what & PSO_SNAP_TOPICS) {
		struct topics_take w = { .b = b, .s = s };

		if (pso_proto_foreach_topic(b->proto, take_topic, &w)) {
			pso_snapshot_free(s);
			return NULL;
		}
		if (w.err)
			pso_debug("snapshot: cannot read the per-topic counters: %s", strerror(-w.err));
	}
	return s;
}

void pso_snapshot_free(struct pso_snapshot *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->ntopics; i++)
		free(s->topics[i].name);
	for (int i = 0; i < s->nifaces; i++)
		free(s->ifaces[i].nic_topics);
	free(s->topics);
	free(s);
}

/* ---- JSON ---------------------------------------------------------------- */

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

static struct json_object *usage_obj(uint64_t used, uint64_t cap)
{
	struct json_object *o = json_object_new_object();

	add_u64(o, PSO_ST_USED, used);
	add_u64(o, PSO_ST_CAPACITY, cap);
	return o;
}

static struct json_object *iface_json(const struct pso_snap_iface *f)
{
	struct json_object *o = json_object_new_object(), *progs = json_object_new_object();

	add_str(o, PSO_ST_NAME, f->name);
	json_object_object_add(o, "ifindex", json_object_new_int(f->ifindex));
	add_str(o, PSO_ST_DRIVER, f->driver);
	add_str(o, "profile", f->profile);
	add_str(o, "xdp_features", f->features);
	add_str(o, PSO_ST_STATE, f->state);
	add_str(o, "requested_mode", f->requested);
	add_str(o, PSO_ST_MODE, f->mode);
	add_str(o, "host_mode", f->host_mode);
	add_str(o, PSO_ST_REASON, f->reason);
	add_u64(progs, PSO_ST_PROG_XDP, f->xdp_id);
	add_u64(progs, PSO_ST_PROG_XDP_HW, f->hw_id);
	add_u64(progs, PSO_ST_PROG_TC, f->tc_id);
	json_object_object_add(o, PSO_ST_PROGRAMS, progs);
	{
		struct json_object *links = json_object_new_object();

		add_str(links, "xdp", f->xdp_link);
		add_str(links, "tc", f->tc_link);
		json_object_object_add(links, "adopted", json_object_new_boolean(f->adopted));
		json_object_object_add(o, "links", links);
	}
	add_u64(o, "mtu", f->mtu);
	if (f->hw) {
		struct json_object *placed = json_object_new_array();

		for (uint32_t i = 0; i < f->n_nic_topics; i++)
			json_object_array_add(placed, json_object_new_int(f->nic_topics[i]));
		add_u64(o, PSO_ST_NIC_TOPICS_CAP, f->nic_topics_cap);
		json_object_object_add(o, PSO_ST_NIC_TOPICS, placed);
	}
	return o;
}

struct json_object *pso_snap_daemon_json(const struct pso_snapshot *s)
{
	struct json_object *d = json_object_new_object(), *by = json_object_new_object(),
			   *types = json_object_new_object();

	for (size_t i = 0; i < pso_snap_ndaemon_counters; i++)
		add_u64(d, pso_snap_daemon_counters[i].name, pso_snap_counter(s, i));
	add_u64(d, "sessions", s->nsessions);
	for (int i = 0; i < PSO_SESSION__STATES; i++)
		add_u64(by, pso_session_state_name(i), s->sessions[i]);
	json_object_object_add(d, "sessions_by_state", by);
	add_u64(d, "retained_messages", s->retained_msgs);
	add_u64(d, "retained_bytes", s->retained_bytes);
	add_u64(d, "buffered", s->buffered);
	for (int t = 0; t < PSO_PROTO_RX_TYPES; t++)
		if (s->proto.rx_type[t])
			add_u64(types, mqttsn_type_name((uint8_t)t), s->proto.rx_type[t]);
	json_object_object_add(d, "rx_by_type", types);
	add_u64(d, "nic_write_errors", s->tables.nic_write_errors);
	add_u64(d, "nic_table_full", s->tables.nic_table_full);
	/* Address validation now (the counters are the valid_* above). */
	json_object_object_add(d, "validation", by = json_object_new_object());
	add_u64(by, "validated", s->valid.validated);
	add_u64(by, "unvalidated", s->valid.unvalidated);
	add_u64(by, "held_bytes", s->valid.held_bytes);
	return d;
}

/* "ha": the group, this member's role, the leader, the lease. */
static struct json_object *ha_json(const struct pso_snapshot *s)
{
	struct json_object *o = json_object_new_object(), *vips = json_object_new_array();
	char buf[96], lease[24];

	add_str(o, "group", s->ha.group);
	add_str(o, "member", s->ha.member);
	add_str(o, "role", pso_ha_role_name(s->ha.role));
	add_str(o, "leader", s->ha.leader);
	snprintf(lease, sizeof(lease), "%llx", (unsigned long long)s->ha.lease);
	add_str(o, "lease", s->ha.lease ? lease : "");
	add_u64(o, "lease_ttl_s", s->ha.ttl_s);
	add_u64(o, "lease_age_ms", s->ha.lease_age_ms);
	add_u64(o, "since_unix_ms", s->ha.since_unix_ms);
	add_u64(o, "store_revision", s->ha_store_rev);
	json_object_object_add(o, "store_reachable", json_object_new_boolean(s->ha.store_reachable));
	add_u64(o, "promotions", s->ha.promotions);
	add_u64(o, "demotions", s->ha.demotions);
	add_u64(o, "fenced", s->ha.fenced);
	add_u64(o, "changes_applied", s->ha_applied);
	add_u64(o, "datagrams_dropped_as_standby", s->ha_dropped);
	for (int i = 0; i < s->ha.nvips; i++) {
		struct json_object *v = json_object_new_object();

		add_str(v, "address", pso_vip_str(&s->ha.vips[i], buf, sizeof(buf)));
		json_object_object_add(v, "held", json_object_new_boolean(s->ha.vips[i].held));
		json_object_array_add(vips, v);
	}
	json_object_object_add(o, "vips", vips);
	return o;
}

static struct json_object *store_json(const struct pso_snapshot *s)
{
	const struct pso_store_stats *st = &s->store_stats;
	struct json_object *o = json_object_new_object(), *loaded = json_object_new_object();

	add_str(o, "spec", s->store);
	json_object_object_add(o, "persistent", json_object_new_boolean(s->store_persistent));
	add_u64(o, PSO_ST_REVISION, st->revision);
	add_u64(o, "commits", st->commits);
	add_u64(o, "puts", st->puts);
	add_u64(o, "deletes", st->deletes);
	add_u64(o, "errors", st->errors);
	add_u64(o, "pending", st->pending);
	add_u64(o, PSO_ST_LAST_WRITE, st->last_write_unix_ms);
	add_u64(o, "last_write_age_ms", st->last_write_unix_ms && s->taken_ms > st->last_write_unix_ms
					       ? s->taken_ms - st->last_write_unix_ms : 0);
	add_str(o, "last_error", st->last_error);
	json_object_object_add(o, "reachable", json_object_new_boolean(st->reachable));
	add_u64(loaded, "sessions", st->loaded[PSO_REC_SESSION]);
	add_u64(loaded, "topics", st->loaded[PSO_REC_TOPIC]);
	add_u64(loaded, "retained", st->loaded[PSO_REC_RETAINED]);
	json_object_object_add(o, "loaded", loaded);
	return o;
}

struct json_object *pso_snap_status_json(const struct pso_snapshot *s)
{
	struct json_object *root = json_object_new_object(), *broker = json_object_new_object(),
			   *ifs = json_object_new_array(), *tables = json_object_new_object();
	const struct pso_tables_usage *u = &s->tables;

	add_str(broker, PSO_ST_NAME, s->name);
	json_object_object_add(broker, PSO_ST_PID, json_object_new_int(s->pid));
	json_object_object_add(broker, PSO_ST_UDP_PORT, json_object_new_int(s->udp_port));
	add_str(broker, "pin_dir", s->pin_dir);
	add_str(broker, "requested_mode", s->requested_mode);
	add_str(broker, "control_socket", s->control_socket);
	add_str(broker, "metrics", s->metrics);
	add_u64(broker, "uptime_s", s->taken_ms > s->started_ms ? (s->taken_ms - s->started_ms) / 1000 : 0);
	json_object_object_add(root, PSO_ST_BROKER, broker);

	for (int i = 0; i < s->nifaces; i++)
		json_object_array_add(ifs, iface_json(&s->ifaces[i]));
	json_object_object_add(root, PSO_ST_INTERFACES, ifs);

	{
		struct json_object *t = usage_obj(u->topics, u->max_topics);

		add_u64(t, PSO_ST_FREED, s->proto.topics_freed);
		add_u64(t, PSO_ST_QUARANTINED, s->topics_quarantined);
		json_object_object_add(tables, PSO_ST_TOPICS, t);
	}
	json_object_object_add(tables, PSO_ST_SUBSCRIBERS, usage_obj(u->subs, u->max_subs));
	json_object_object_add(tables, PSO_ST_CLIENTS, usage_obj(u->clients, u->max_clients));
	{
		/* The slots of all topics against --max-subscriptions. */
		struct json_object *sub = usage_obj(u->subs, s->subscriptions_cap);

		add_u64(sub, PSO_ST_REFUSED, s->subscriptions_full);
		json_object_object_add(tables, PSO_ST_SUBSCRIPTIONS, sub);
	}
	add_u64(tables, PSO_ST_MAP_MEMORY, s->map_memory);
	add_u64(tables, "subscribers_per_topic", u->subs_per_topic);
	add_u64(tables, "pending_grace", u->pending);
	json_object_object_add(root, PSO_ST_TABLES, tables);

	{
		struct json_object *r = json_object_new_object(), *ph = json_object_new_object();

		add_u64(r, "restarts", s->restarts);
		add_u64(r, "adoptions", s->adoptions);
		add_str(r, "adopted", s->came);
		add_str(r, "adopted_build", s->adopted_build);
		add_str(r, "build", s->build);
		add_u64(r, "created_ms", s->created_ms);
		add_u64(r, "handover_ms", s->handover_ms);
		add_u64(r, "adopt_read_ms", s->adopt_ms);
		add_u64(ph, "endpoints", s->ph_endpoints);
		add_u64(ph, "slots", s->ph_slots);
		add_u64(ph, "clients", s->ph_clients);
		add_u64(ph, "claimed", s->ph_claimed);
		add_u64(ph, "expired", s->ph_expired);
		add_u64(ph, "next_expiry_s", (s->ph_next_ms + 999) / 1000);
		add_u64(ph, "pings_answered", s->pings);
		json_object_object_add(r, "placeholders", ph);
		add_u64(r, "reserved_topic_ids", s->reserved_ids);
		json_object_object_add(root, "restart", r);
	}
	json_object_object_add(root, "daemon", pso_snap_daemon_json(s));
	json_object_object_add(root, PSO_ST_STORE, store_json(s));
	if (s->has_ha)
		json_object_object_add(root, "ha", ha_json(s));
	return root;
}

struct json_object *pso_snap_counters_json(const struct pso_snapshot *s)
{
	struct json_object *o = json_object_new_object();

	for (int i = 0; i < PSO_CNT__MAX; i++)
		add_u64(o, pso_snap_dp_names[i], s->dp[i]);
	return o;
}

struct json_object *pso_snap_topic_json(const struct pso_snap_topic *t)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "topic_id", json_object_new_int(t->id));
	add_str(o, "name", t->name);
	json_object_object_add(o, "predefined", json_object_new_boolean(t->predefined));
	json_object_object_add(o, "qosm1", json_object_new_boolean(t->qosm1));
	add_u64(o, "subscribers", t->subscribers);
	add_u64(o, "msgs", t->msgs);
	add_u64(o, "bytes", t->bytes);
	json_object_object_add(o, "retained_bytes",
			       t->retained ? json_object_new_uint64(t->retained_bytes) : NULL);
	return o;
}
