// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ctlreq.c - the broker's control-socket requests (protocol: ctlsock.h).
 *
 * One row of pso_ctl_requests[] per request.  A handler reads its
 * arguments from the request object, the broker through a snapshot
 * (snapshot.h) or the protocol layer's read-only views (proto.h), and
 * adds its fields to the reply.  Lists are sorted by name.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "daemon/ctlsock.h"
#include "daemon/daemon.h"
#include "daemon/events.h"
#include "daemon/snapshot.h"
#include "daemon/statusfile.h"
#include "ha/ha.h"
#include "proto/topics.h"
#include "util/endpoint.h"

/* An optional string argument: 0 (*v NULL when absent), or -EINVAL. */
static int arg_str(struct json_object *req, const char *key, const char **v, char *err, size_t errlen)
{
	struct json_object *o;

	*v = NULL;
	if (!json_object_object_get_ex(req, key, &o) || json_object_is_type(o, json_type_null))
		return 0;
	if (!json_object_is_type(o, json_type_string)) {
		snprintf(err, errlen, "\"%s\" must be a string", key);
		return -EINVAL;
	}
	*v = json_object_get_string(o);
	return 0;
}

/* Every field of from, moved into to. */
static void merge(struct json_object *to, struct json_object *from)
{
	json_object_object_foreach(from, k, v)
		json_object_object_add(to, k, json_object_get(v));
	json_object_put(from);
}

static int by_key(const void *a, const void *b, const char *key)
{
	struct json_object *x = *(struct json_object *const *)a, *y = *(struct json_object *const *)b;
	struct json_object *vx, *vy;

	json_object_object_get_ex(x, key, &vx);
	json_object_object_get_ex(y, key, &vy);
	return strcmp(vx ? json_object_get_string(vx) : "", vy ? json_object_get_string(vy) : "");
}

static int by_client(const void *a, const void *b)
{
	int c = by_key(a, b, "client_id");

	return c ? c : by_key(a, b, "topic");
}

static int by_name(const void *a, const void *b)
{
	return by_key(a, b, "name");
}

/* ---- status, stats ---------------------------------------------------------- */

static int req_status(void *ctx, struct json_object *req, struct json_object *reply,
		      char *err, size_t errlen)
{
	struct pso_snapshot *s = pso_snapshot_take(ctx, 0);

	if (!s)
		return -ENOMEM;
	merge(reply, pso_snap_status_json(s));
	pso_snapshot_free(s);
	return 0;
}

static int req_stats(void *ctx, struct json_object *req, struct json_object *reply,
		     char *err, size_t errlen)
{
	struct pso_snapshot *s = pso_snapshot_take(ctx, PSO_SNAP_DATAPLANE | PSO_SNAP_TOPICS);
	struct json_object *topics;

	if (!s)
		return -ENOMEM;
	topics = json_object_new_array();
	for (uint32_t i = 0; i < s->ntopics; i++)
		if (s->topics[i].msgs)
			json_object_array_add(topics, pso_snap_topic_json(&s->topics[i]));
	json_object_object_add(reply, "taken_ms", json_object_new_uint64(s->taken_ms));
	json_object_object_add(reply, "counters", pso_snap_counters_json(s));
	json_object_object_add(reply, "daemon", pso_snap_daemon_json(s));
	json_object_object_add(reply, "topics", topics);
	pso_snapshot_free(s);
	return 0;
}

/* ---- clients, sessions ---------------------------------------------------------- */

struct client_walk {
	struct json_object *list;
	bool connected_only;
	bool by_state;
	enum pso_session_state state;
};

static struct json_object *client_json(const struct pso_client_info *ci)
{
	struct json_object *o = json_object_new_object();
	char ep[64];

	json_object_object_add(o, "client_id", json_object_new_string(ci->id));
	json_object_object_add(o, "state", json_object_new_string(pso_session_state_name(ci->state)));
	json_object_object_add(o, "address", ci->connected ?
			       json_object_new_string(pso_endpoint_str(&ci->ep, ep, sizeof(ep))) : NULL);
	json_object_object_add(o, "forwarded", json_object_new_boolean(ci->forwarded));
	json_object_object_add(o, "clean", json_object_new_boolean(ci->clean));
	json_object_object_add(o, "data_plane", json_object_new_boolean(ci->connected && ci->resolved));
	json_object_object_add(o, "keepalive_s", json_object_new_int(ci->keepalive_s));
	json_object_object_add(o, "sleep_s", json_object_new_int(ci->sleep_s));
	json_object_object_add(o, "idle_ms", json_object_new_uint64(ci->idle_ms));
	json_object_object_add(o, "expires_in_ms",
			       ci->connected ? NULL : json_object_new_uint64(ci->expires_in_ms));
	json_object_object_add(o, "subscriptions", json_object_new_int((int)ci->subscriptions));
	json_object_object_add(o, "topics", json_object_new_int((int)ci->topics));
	json_object_object_add(o, "outbox", json_object_new_int((int)ci->outbox));
	json_object_object_add(o, "buffered", json_object_new_int((int)ci->buffered));
	json_object_object_add(o, "will_topic", ci->will_topic ? json_object_new_string(ci->will_topic) : NULL);
	return o;
}

static int client_one(const struct pso_client_info *ci, void *arg)
{
	struct client_walk *w = arg;

	if (w->connected_only && !ci->connected)
		return 0;
	if (w->by_state && ci->state != w->state)
		return 0;
	json_object_array_add(w->list, client_json(ci));
	return 0;
}

static int list_clients(struct pso_broker *b, struct json_object *req, struct json_object *reply,
			const char *key, bool connected_only, char *err, size_t errlen)
{
	struct client_walk w = { .connected_only = connected_only };
	const char *state;
	int ret = arg_str(req, "state", &state, err, errlen);

	if (ret)
		return ret;
	if (state) {
		if (pso_session_state_parse(state, &w.state)) {
			snprintf(err, errlen, "bad state '%.32s': use active, connecting, asleep, awake or offline",
				 state);
			return -EINVAL;
		}
		w.by_state = true;
	}
	w.list = json_object_new_array();
	pso_proto_foreach_client(b->proto, client_one, &w);
	json_object_array_sort(w.list, by_client);
	json_object_object_add(reply, key, w.list);
	return 0;
}

static int req_clients(void *ctx, struct json_object *req, struct json_object *reply,
		       char *err, size_t errlen)
{
	return list_clients(ctx, req, reply, "clients", true, err, errlen);
}

static int req_sessions(void *ctx, struct json_object *req, struct json_object *reply,
			char *err, size_t errlen)
{
	return list_clients(ctx, req, reply, "sessions", false, err, errlen);
}

/* ---- topics, subscriptions ----------------------------------------------------- */

static int req_topics(void *ctx, struct json_object *req, struct json_object *reply,
		      char *err, size_t errlen)
{
	struct pso_snapshot *s;
	struct json_object *list;
	const char *match;
	int ret = arg_str(req, "match", &match, err, errlen);

	if (ret)
		return ret;
	if (match && !pso_topic_filter_valid(match, strlen(match))) {
		snprintf(err, errlen, "bad topic filter '%.64s'", match);
		return -EINVAL;
	}
	s = pso_snapshot_take(ctx, PSO_SNAP_TOPICS);
	if (!s)
		return -ENOMEM;
	list = json_object_new_array();
	for (uint32_t i = 0; i < s->ntopics; i++)
		if (!match || pso_topic_match(match, s->topics[i].name))
			json_object_array_add(list, pso_snap_topic_json(&s->topics[i]));
	json_object_array_sort(list, by_name);
	json_object_object_add(reply, "taken_ms", json_object_new_uint64(s->taken_ms));
	json_object_object_add(reply, "topics", list);
	pso_snapshot_free(s);
	return 0;
}

struct sub_walk {
	struct json_object *list;
	bool one_topic;
	uint16_t id;
};

static int sub_one(const struct pso_subscription_info *si, void *arg)
{
	struct sub_walk *w = arg;
	struct json_object *o;
	bool wants = !w->one_topic;

	for (uint32_t i = 0; !wants && i < si->nids; i++)
		wants = si->ids[i] == w->id;
	if (!wants)
		return 0;
	o = json_object_new_object();
	json_object_object_add(o, "client_id", json_object_new_string(si->client_id));
	json_object_object_add(o, "kind", json_object_new_string(si->kind));
	json_object_object_add(o, "topic", si->topic ? json_object_new_string(si->topic) : NULL);
	json_object_object_add(o, "topic_id", si->topic_id ? json_object_new_int(si->topic_id) : NULL);
	json_object_object_add(o, "qos", json_object_new_int(si->qos));
	json_object_object_add(o, "topics", json_object_new_int((int)si->nids));
	json_object_array_add(w->list, o);
	return 0;
}

static int req_subscriptions(void *ctx, struct json_object *req, struct json_object *reply,
			     char *err, size_t errlen)
{
	struct pso_broker *b = ctx;
	struct sub_walk w = { 0 };
	const char *topic;
	int ret = arg_str(req, "topic", &topic, err, errlen);

	if (ret)
		return ret;
	if (topic) {
		if (pso_proto_topic_id(b->proto, topic, &w.id)) {
			snprintf(err, errlen, "no topic named '%.64s'", topic);
			return -ENOENT;
		}
		w.one_topic = true;
	}
	w.list = json_object_new_array();
	pso_proto_foreach_subscription(b->proto, sub_one, &w);
	json_object_array_sort(w.list, by_client);
	json_object_object_add(reply, "subscriptions", w.list);
	return 0;
}

/* `psoffload reload`: the event loop returns PSO_BROKER_RELOAD once this
 * request's reply is out, as for SIGHUP.  What changed goes to the log. */
static int req_reload(void *ctx, struct json_object *req, struct json_object *reply,
		      char *err, size_t errlen)
{
	struct pso_broker *b = ctx;

	b->reload_asked = true;
	json_object_object_add(reply, PSO_ST_PID, json_object_new_int(getpid()));
	return 0;
}

/* `psoffload restart`: the event loop returns PSO_BROKER_RESTART once this
 * request's reply is out, as for SIGUSR2, and the daemon execs its
 * successor.  A broker without a pin directory cannot hand over. */
static int req_restart(void *ctx, struct json_object *req, struct json_object *reply,
		       char *err, size_t errlen)
{
	struct pso_broker *b = ctx;

	if (!b->cfg.pin_dir) {
		snprintf(err, errlen, "this broker pins nothing (--pin-dir): its data plane cannot "
			 "outlive it; stop and start it instead");
		return -EINVAL;
	}
	b->restart_asked = true;
	json_object_object_add(reply, PSO_ST_PID, json_object_new_int(getpid()));
	json_object_object_add(reply, "restarts", json_object_new_int64(b->dp.meta.restarts));
	return 0;
}

/* `psoffload ha step-down`: a group's leader hands over (ha/ha.h). */
static int req_ha_step_down(void *ctx, struct json_object *req, struct json_object *reply,
			    char *err, size_t errlen)
{
	struct pso_broker *b = ctx;
	struct pso_ha_status st;
	int ret;

	if (!b->ha) {
		snprintf(err, errlen, "this broker is in no group (--ha-group)");
		return -EINVAL;
	}
	ret = pso_ha_step_down(b->ha, b->now_ms, err, errlen);
	if (ret)
		return ret;
	pso_ha_status(b->ha, b->now_ms, &st);
	json_object_object_add(reply, "group", json_object_new_string(st.group));
	json_object_object_add(reply, "member", json_object_new_string(st.member));
	return 0;
}

/* ---- events ---------------------------------------------------------------------- */

struct event_walk {
	struct json_object *list;
	bool by_reason;
	unsigned int reason;
};

static void event_add(void *ctx, const struct pso_event_rec *rec)
{
	struct event_walk *w = ctx;

	if (!w->by_reason || pso_event_matches(rec, w->reason))
		json_object_array_add(w->list, pso_event_to_json(rec));
}

/*
 * The data plane's recent events with seq > "after" (default 0: all kept),
 * oldest first, those of "reason" only when given.  "last" is the newest
 * seq read, from which a follower asks again; "oldest" the oldest kept, so
 * it can tell how many it missed.
 */
static int req_events(void *ctx, struct json_object *req, struct json_object *reply,
		      char *err, size_t errlen)
{
	struct pso_broker *b = ctx;
	struct event_walk w = { 0 };
	struct json_object *o;
	const char *reason;
	uint64_t after = 0;
	int ret = arg_str(req, "reason", &reason, err, errlen);

	if (ret)
		return ret;
	if (reason) {
		if (pso_event_reason_parse(reason, &w.reason)) {
			snprintf(err, errlen, "unknown reason '%s' (a counter name, as in stats)", reason);
			return -EINVAL;
		}
		w.by_reason = true;
	}
	if (json_object_object_get_ex(req, "after", &o) && !json_object_is_type(o, json_type_null)) {
		if (!json_object_is_type(o, json_type_int) || json_object_get_int64(o) < 0) {
			snprintf(err, errlen, "\"after\" must be a sequence number");
			return -EINVAL;
		}
		after = json_object_get_uint64(o);
	}
	/* What the ring buffer holds now, so a follower sees it at once. */
	pso_events_consume(b->events);
	w.list = json_object_new_array();
	pso_events_foreach(b->events, after, event_add, &w);
	json_object_object_add(reply, "last", json_object_new_uint64(pso_events_total(b->events)));
	json_object_object_add(reply, "oldest", json_object_new_uint64(pso_events_oldest(b->events)));
	json_object_object_add(reply, "events", w.list);
	return 0;
}

/* ---- the table: one row per request -------------------------------------------- */

const struct pso_ctl_request pso_ctl_requests[] = {
	{ "status", req_status, "" },
	{ "stats", req_stats, "" },
	{ "clients", req_clients, "[\"state\": STATE]" },
	{ "sessions", req_sessions, "[\"state\": STATE]" },
	{ "topics", req_topics, "[\"match\": FILTER]" },
	{ "subscriptions", req_subscriptions, "[\"topic\": NAME]" },
	{ "events", req_events, "[\"after\": SEQ] [\"reason\": NAME]" },
	{ "reload", req_reload, "" },
	{ "restart", req_restart, "" },
	{ "ha-step-down", req_ha_step_down, "" },
	{ 0 },
};
