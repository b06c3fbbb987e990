// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * stats.c - `psoffload stats [--json] [--watch=SECONDS [--count=N]]
 * [--name=NAME | --pin-dir=DIR]`: the broker's counters from its control
 * socket (the `stats` request, daemon/snapshot.h).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "cmd/ctl.h"
#include "cmd/stats.h"

struct stats_args {
	bool json;
	unsigned int watch_s;	/* 0: print once */
	unsigned int count;	/* --watch samples; 0: until interrupted */
	struct pso_ctl_target target;
};

#define STATS(f) PSO_OPT_FIELD(struct stats_args, f)

static const struct pso_opt stats_opts[] = {
	{ "json", 'j', PSO_OPT_FLAG, STATS(json), .help = "print counters and topics as JSON" },
	{ "watch", 'w', PSO_OPT_UINT, STATS(watch_s), .min = 1, .max = 3600, .unit = "seconds",
	  .arg = "SECONDS", .help = "every SECONDS, the per-second rate of each\ncounter that moved" },
	{ "count", 'c', PSO_OPT_UINT, STATS(count), .min = 1, .max = 1000000, .arg = "N",
	  .help = "with --watch: stop after N lines" },
	PSO_CTL_TARGET_OPTS(struct stats_args),
	{ "help", 'h', PSO_OPT_HELP, .help = "this text" },
	{ 0 },
};

static const struct pso_opt_spec stats_spec = {
	.prog = "psoffload stats",
	.opts = stats_opts,
	.head = "usage: psoffload stats [--json] [--watch=SECONDS [--count=N]]\n"
		"                       [--name=NAME | --pin-dir=DIR]\n"
		"  every data-plane counter (per path, per drop reason), the daemon's\n"
		"  counters, and per-topic messages and bytes by topic name\n"
		"\n"
		"Options:\n",
};

static void print_object(const char *title, struct json_object *o)
{
	printf("%-28s %14s\n", title, "Value");
	json_object_object_foreach(o, k, v)
		if (json_object_is_type(v, json_type_int))
			printf("%-28s %14lld\n", k, (long long)json_object_get_int64(v));
}

static void print_table(struct json_object *root)
{
	struct json_object *topics = pso_js_get(root, "topics");

	print_object("Counter", pso_js_get(root, "counters"));
	printf("\n");
	print_object("Daemon", pso_js_get(root, "daemon"));
	printf("\n%-6s %-32s %14s %16s\n", "Id", "Topic", "Messages", "Bytes");
	for (size_t i = 0; topics && i < json_object_array_length(topics); i++) {
		struct json_object *t = json_object_array_get_idx(topics, i);

		printf("%-6lld %-32s %14lld %16lld\n", (long long)pso_js_int(t, "topic_id"),
		       pso_js_str(t, "name"), (long long)pso_js_int(t, "msgs"),
		       (long long)pso_js_int(t, "bytes"));
	}
}

/* The daemon object's gauges: no rate. */
static bool is_gauge(const char *key)
{
	return !strcmp(key, "sessions") || !strncmp(key, "retained_", 9);
}

/* The per-second rate of every counter in cur that moved since prev. */
static void print_rates(struct json_object *prev, struct json_object *cur, double secs)
{
	json_object_object_foreach(cur, k, v) {
		struct json_object *p = pso_js_get(prev, k);

		if (!p || !json_object_is_type(v, json_type_int) || is_gauge(k))
			continue;
		if (json_object_get_int64(v) != json_object_get_int64(p))
			printf("  %s=%.0f/s", k,
			       (double)(json_object_get_int64(v) - json_object_get_int64(p)) / secs);
	}
}

static int watch(const struct stats_args *a)
{
	struct json_object *prev = NULL, *cur = NULL;
	unsigned int lines = 0;
	int ret = pso_ctl_ask_simple(stats_spec.prog, &a->target, "stats", NULL, NULL, &prev);

	while (!ret && pso_watch_sleep(a->watch_s)) {
		double secs;
		time_t now;
		char stamp[16];

		ret = pso_ctl_ask_simple(stats_spec.prog, &a->target, "stats", NULL, NULL, &cur);
		if (ret)
			break;
		secs = (double)(pso_js_int(cur, "taken_ms") - pso_js_int(prev, "taken_ms")) / 1000.0;
		if (secs <= 0)
			secs = a->watch_s;
		now = time(NULL);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", localtime(&now));
		printf("%s", stamp);
		print_rates(pso_js_get(prev, "counters"), pso_js_get(cur, "counters"), secs);
		print_rates(pso_js_get(prev, "daemon"), pso_js_get(cur, "daemon"), secs);
		printf("\n");
		fflush(stdout);
		json_object_put(prev);
		prev = cur;
		cur = NULL;
		if (a->count && ++lines >= a->count)
			break;
	}
	json_object_put(prev);
	return ret;
}

int pso_cmd_stats(int argc, char **argv)
{
	struct stats_args a = { 0 };
	struct json_object *root;
	int ret;

	ret = pso_opts_parse(&stats_spec, argc, argv, &a, NULL);
	if (ret != PSO_OPTS_RUN)
		return ret;
	if (a.count && !a.watch_s)
		return pso_opts_error(&stats_spec, "--count goes with --watch");
	if (a.watch_s)
		return watch(&a);
	ret = pso_ctl_ask_simple(stats_spec.prog, &a.target, "stats", NULL, NULL, &root);
	if (ret)
		return ret;
	if (a.json)
		pso_ctl_print_json(root);
	else
		print_table(root);
	json_object_put(root);
	return 0;
}
