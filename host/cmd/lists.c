// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * lists.c - `psoffload clients`, `sessions`, `topics`, `subscriptions`:
 * one request each to the broker's control socket (daemon/ctlreq.c), a
 * table with fixed columns by default, --json for machines.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "cmd/ctl.h"
#include "cmd/lists.h"
#include "proto/proto.h"
#include "proto/topics.h"

struct list_args {
	bool json;
	const char *state;		/* clients, sessions */
	const char *match;		/* topics */
	unsigned int watch_s, count;	/* topics */
	struct pso_ctl_target target;
};

#define LIST(f) PSO_OPT_FIELD(struct list_args, f)

static int set_state(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		     const char *arg, void *field)
{
	enum pso_session_state s;

	if (pso_session_state_parse(arg, &s))
		return pso_opts_error(spec, "bad --state '%s': use active, connecting, asleep, awake "
				      "or offline", arg);
	*(const char **)field = arg;
	return 0;
}

static int set_match(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		     const char *arg, void *field)
{
	if (!pso_topic_filter_valid(arg, strlen(arg)))
		return pso_opts_error(spec, "bad --match '%s': a topic filter ('+' one level, "
				      "'#' the rest)", arg);
	*(const char **)field = arg;
	return 0;
}

#define JSON_OPT { "json", 'j', PSO_OPT_FLAG, LIST(json), .help = "print the list as JSON" }
#define STATE_OPT { "state", 's', PSO_OPT_FUNC, LIST(state), .fn = set_state, .arg = "STATE",	\
		    .help = "only those in STATE: active, connecting, asleep,\n"		\
			    "awake or offline" }
#define HELP_OPT { "help", 'h', PSO_OPT_HELP, .help = "this text" }

/* A list reply's array, printed as JSON or by row(). */
static int list(const struct pso_opt_spec *spec, const struct list_args *a, const char *request,
		const char *key, const char *value, const char *array, void (*header)(void),
		void (*row)(struct json_object *o))
{
	struct json_object *reply, *items;
	int ret = pso_ctl_ask_simple(spec->prog, &a->target, request, key, value, &reply);

	if (ret)
		return ret;
	items = pso_js_get(reply, array);
	if (a->json) {
		pso_ctl_print_json(reply);
	} else {
		header();
		for (size_t i = 0; items && i < json_object_array_length(items); i++)
			row(json_object_array_get_idx(items, i));
	}
	json_object_put(reply);
	return 0;
}

/* ---- clients ------------------------------------------------------------ */

static void clients_header(void)
{
	printf("%-23s %-30s %-10s %-10s %-7s %4s %6s %-5s\n", "Client id", "Address", "State",
	       "Keep-alive", "Idle", "Subs", "Topics", "Path");
}

static void clients_row(struct json_object *c)
{
	char ka[16], idle[16];

	snprintf(ka, sizeof(ka), "%lld s", (long long)pso_js_int(c, "keepalive_s"));
	printf("%-23s %-30s %-10s %-10s %-7s %4lld %6lld %-5s\n", pso_js_str(c, "client_id"),
	       pso_js_str(c, "address"), pso_js_str(c, "state"), ka,
	       pso_fmt_duration(pso_js_int(c, "idle_ms"), idle, sizeof(idle)),
	       (long long)pso_js_int(c, "subscriptions"), (long long)pso_js_int(c, "topics"),
	       pso_js_bool(c, "data_plane") ? "xdp" : "host");
}

static const struct pso_opt clients_opts[] = {
	JSON_OPT, STATE_OPT, PSO_CTL_TARGET_OPTS(struct list_args), HELP_OPT, { 0 },
};

static const struct pso_opt_spec clients_spec = {
	.prog = "psoffload clients",
	.opts = clients_opts,
	.head = "usage: psoffload clients [--json] [--state=STATE] [--name=NAME | --pin-dir=DIR]\n"
		"  the connected clients by client id: address, state, keep-alive, time\n"
		"  since their last message, subscriptions and topics held, and whether\n"
		"  the data plane delivers to them (xdp) or the daemon (host)\n"
		"\n"
		"Options:\n",
};

int pso_cmd_clients(int argc, char **argv)
{
	struct list_args a = { 0 };
	int ret = pso_opts_parse(&clients_spec, argc, argv, &a, NULL);

	if (ret != PSO_OPTS_RUN)
		return ret;
	return list(&clients_spec, &a, "clients", "state", a.state, "clients", clients_header,
		    clients_row);
}

/* ---- sessions ------------------------------------------------------------ */

static void sessions_header(void)
{
	printf("%-23s %-10s %-5s %4s %6s %6s %8s %-10s %-20s\n", "Client id", "State", "Clean",
	       "Subs", "Topics", "Outbox", "Buffered", "Expires in", "Will topic");
}

static void sessions_row(struct json_object *c)
{
	char exp[16];
	struct json_object *e = pso_js_get(c, "expires_in_ms");

	printf("%-23s %-10s %-5s %4lld %6lld %6lld %8lld %-10s %-20s\n", pso_js_str(c, "client_id"),
	       pso_js_str(c, "state"), pso_js_bool(c, "clean") ? "yes" : "no",
	       (long long)pso_js_int(c, "subscriptions"), (long long)pso_js_int(c, "topics"),
	       (long long)pso_js_int(c, "outbox"), (long long)pso_js_int(c, "buffered"),
	       pso_fmt_duration(e ? json_object_get_int64(e) : -1, exp, sizeof(exp)),
	       pso_js_get(c, "will_topic") ? pso_js_str(c, "will_topic") : "-");
}

static const struct pso_opt sessions_opts[] = {
	JSON_OPT, STATE_OPT, PSO_CTL_TARGET_OPTS(struct list_args), HELP_OPT, { 0 },
};

static const struct pso_opt_spec sessions_spec = {
	.prog = "psoffload sessions",
	.opts = sessions_opts,
	.head = "usage: psoffload sessions [--json] [--state=STATE] [--name=NAME | --pin-dir=DIR]\n"
		"  every session, connected or kept (CleanSession 0): state, what it\n"
		"  holds, the QoS 1/2 deliveries and sleep buffer it is owed, its will,\n"
		"  and for an offline one when it expires\n"
		"\n"
		"Options:\n",
};

int pso_cmd_sessions(int argc, char **argv)
{
	struct list_args a = { 0 };
	int ret = pso_opts_parse(&sessions_spec, argc, argv, &a, NULL);

	if (ret != PSO_OPTS_RUN)
		return ret;
	return list(&sessions_spec, &a, "sessions", "state", a.state, "sessions", sessions_header,
		    sessions_row);
}

/* ---- subscriptions ------------------------------------------------------- */

static void subs_header(void)
{
	printf("%-23s %-10s %-32s %3s %6s\n", "Client id", "Kind", "Topic", "QoS", "Topics");
}

static void subs_row(struct json_object *s)
{
	char topic[64];

	if (pso_js_get(s, "topic"))
		snprintf(topic, sizeof(topic), "%s", pso_js_str(s, "topic"));
	else
		snprintf(topic, sizeof(topic), "(id %lld)", (long long)pso_js_int(s, "topic_id"));
	printf("%-23s %-10s %-32s %3lld %6lld\n", pso_js_str(s, "client_id"), pso_js_str(s, "kind"),
	       topic, (long long)pso_js_int(s, "qos"), (long long)pso_js_int(s, "topics"));
}

static const struct pso_opt subs_opts[] = {
	JSON_OPT, PSO_CTL_TARGET_OPTS(struct list_args), HELP_OPT, { 0 },
};

static const struct pso_opt_spec subs_spec = {
	.prog = "psoffload subscriptions",
	.opts = subs_opts,
	.head = "usage: psoffload subscriptions [--json] [--name=NAME | --pin-dir=DIR] [TOPIC]\n"
		"  every subscription by client id: its kind (name, filter, predefined,\n"
		"  short), what it asked for, the QoS granted and how many topics it\n"
		"  takes; with TOPIC, only the subscriptions that want that topic\n"
		"\n"
		"Options:\n",
};

int pso_cmd_subscriptions(int argc, char **argv)
{
	struct list_args a = { 0 };
	int first, ret = pso_opts_parse(&subs_spec, argc, argv, &a, &first);

	if (ret != PSO_OPTS_RUN)
		return ret;
	if (argc - first > 1)
		return pso_opts_error(&subs_spec, "one TOPIC at most");
	return list(&subs_spec, &a, "subscriptions", "topic", first < argc ? argv[first] : NULL,
		    "subscriptions", subs_header, subs_row);
}

/* ---- topics ------------------------------------------------------------- */

static void topics_header(void)
{
	printf("%-6s %-32s %4s %14s %16s %8s %s\n", "Id", "Topic", "Subs", "Messages", "Bytes",
	       "Retained", "Flags");
}

static void topics_row(struct json_object *t)
{
	struct json_object *r = pso_js_get(t, "retained_bytes");
	char ret[16], flags[32];

	snprintf(ret, sizeof(ret), r ? "%lld B" : "-", r ? (long long)json_object_get_int64(r) : 0LL);
	snprintf(flags, sizeof(flags), "%s%s%s", pso_js_bool(t, "predefined") ? "predefined" : "",
		 pso_js_bool(t, "predefined") && pso_js_bool(t, "qosm1") ? "," : "",
		 pso_js_bool(t, "qosm1") ? "qos-1" : "");
	printf("%-6lld %-32s %4lld %14lld %16lld %8s %s\n", (long long)pso_js_int(t, "topic_id"),
	       pso_js_str(t, "name"), (long long)pso_js_int(t, "subscribers"),
	       (long long)pso_js_int(t, "msgs"), (long long)pso_js_int(t, "bytes"), ret, flags);
}

/* The topic of prev with this id (the previous sample), or NULL. */
static struct json_object *topic_by_id(struct json_object *topics, int64_t id)
{
	for (size_t i = 0; topics && i < json_object_array_length(topics); i++) {
		struct json_object *t = json_object_array_get_idx(topics, i);

		if (pso_js_int(t, "topic_id") == id)
			return t;
	}
	return NULL;
}

/* Every SECONDS: each topic's messages and bytes per second since the
 * last sample. */
static int topics_watch(const struct list_args *a, const struct pso_opt_spec *spec)
{
	struct json_object *prev = NULL, *cur = NULL;
	unsigned int samples = 0;
	int ret = pso_ctl_ask_simple(spec->prog, &a->target, "topics", "match", a->match, &prev);

	while (!ret && pso_watch_sleep(a->watch_s)) {
		struct json_object *topics;
		double secs;
		time_t now;
		char stamp[16];

		ret = pso_ctl_ask_simple(spec->prog, &a->target, "topics", "match", a->match, &cur);
		if (ret)
			break;
		secs = (double)(pso_js_int(cur, "taken_ms") - pso_js_int(prev, "taken_ms")) / 1000.0;
		if (secs <= 0)
			secs = a->watch_s;
		now = time(NULL);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", localtime(&now));
		topics = pso_js_get(cur, "topics");
		printf("%s\n%-6s %-32s %4s %12s %14s\n", stamp, "Id", "Topic", "Subs", "Messages/s",
		       "Bytes/s");
		for (size_t i = 0; topics && i < json_object_array_length(topics); i++) {
			struct json_object *t = json_object_array_get_idx(topics, i);
			struct json_object *p = topic_by_id(pso_js_get(prev, "topics"), pso_js_int(t, "topic_id"));

			printf("%-6lld %-32s %4lld %12.0f %14.0f\n", (long long)pso_js_int(t, "topic_id"),
			       pso_js_str(t, "name"), (long long)pso_js_int(t, "subscribers"),
			       (double)(pso_js_int(t, "msgs") - pso_js_int(p, "msgs")) / secs,
			       (double)(pso_js_int(t, "bytes") - pso_js_int(p, "bytes")) / secs);
		}
		fflush(stdout);
		json_object_put(prev);
		prev = cur;
		cur = NULL;
		if (a->count && ++samples >= a->count)
			break;
	}
	json_object_put(prev);
	return ret;
}

static const struct pso_opt topics_opts[] = {
	JSON_OPT,
	{ "match", 'm', PSO_OPT_FUNC, LIST(match), .fn = set_match, .arg = "FILTER",
	  .help = "only the topics FILTER matches ('+', '#')" },
	{ "watch", 'w', PSO_OPT_UINT, LIST(watch_s), .min = 1, .max = 3600, .unit = "seconds",
	  .arg = "SECONDS", .help = "every SECONDS, each topic's messages and bytes\nper second" },
	{ "count", 'c', PSO_OPT_UINT, LIST(count), .min = 1, .max = 1000000, .arg = "N",
	  .help = "with --watch: stop after N samples" },
	PSO_CTL_TARGET_OPTS(struct list_args), HELP_OPT, { 0 },
};

static const struct pso_opt_spec topics_spec = {
	.prog = "psoffload topics",
	.opts = topics_opts,
	.head = "usage: psoffload topics [--json] [--match=FILTER] [--watch=SECONDS [--count=N]]\n"
		"                        [--name=NAME | --pin-dir=DIR]\n"
		"  every topic by name: its id, subscribers, the messages and bytes the\n"
		"  data plane forwarded, its retained message, predefined and QoS -1\n"
		"\n"
		"Options:\n",
};

int pso_cmd_topics(int argc, char **argv)
{
	struct list_args a = { 0 };
	int ret = pso_opts_parse(&topics_spec, argc, argv, &a, NULL);

	if (ret != PSO_OPTS_RUN)
		return ret;
	if (a.count && !a.watch_s)
		return pso_opts_error(&topics_spec, "--count goes with --watch");
	if (a.watch_s)
		return topics_watch(&a, &topics_spec);
	return list(&topics_spec, &a, "topics", "match", a.match, "topics", topics_header, topics_row);
}
