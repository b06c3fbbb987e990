// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * events_cmd.c - `psoffload events [--follow] [--json] [--reason=R]`.
 *
 * The daemon is the ring buffer's one reader; this asks it, over the
 * control socket, for the events it keeps ("events" request).  --follow
 * asks again for those after the last one seen, every FOLLOW_MS, and says
 * so when more arrived between two asks than the daemon keeps.
 */
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <json-c/json.h>
#include "cmd/ctl.h"
#include "cmd/events_cmd.h"
#include "daemon/events.h"
#include "util/opts.h"

#define FOLLOW_MS 200

struct events_args {
	struct pso_ctl_target target;
	bool follow;
	bool json;
	const char *reason;
};

#define EVENTS(f) PSO_OPT_FIELD(struct events_args, f)

static const struct pso_opt events_opts[] = {
	{ "follow", 'f', PSO_OPT_FLAG, EVENTS(follow),
	  .help = "keep printing new events until interrupted" },
	{ "json", 'j', PSO_OPT_FLAG, EVENTS(json), .help = "one JSON object per event and line" },
	{ "reason", 'r', PSO_OPT_STRING, EVENTS(reason), .arg = "R",
	  .help = "only events of reason R, a counter name as in\n"
		  "stats (xdp_drop_malformed, tc_drop, ...): its own\n"
		  "or its cause (tc_drop's)" },
	PSO_CTL_TARGET_OPTS(struct events_args),
	{ "help", 'h', PSO_OPT_HELP, .help = "this text" },
	{ 0 },
};

static const struct pso_opt_spec events_spec = {
	.prog = "psoffload events",
	.opts = events_opts,
	.head = "usage: psoffload events [--follow] [--json] [--reason=R] [--name=NAME]\n"
		"  the data plane's recent drops, admission refusals and fan-out copies\n"
		"  not made (driver build; the NIC's are counted only, see stats): time,\n"
		"  reason, sender, topic, length.  Each CPU reports at most the broker's\n"
		"  --event-rate a second; the rest are counted as event_suppressed.\n"
		"\n"
		"Options:\n",
};

/* Print the events of one reply; returns the last seq it had. */
static uint64_t print_events(struct json_object *reply, bool json, uint64_t seen, bool *head)
{
	struct json_object *list = pso_js_get(reply, "events");
	uint64_t oldest = (uint64_t)pso_js_int(reply, "oldest");
	size_t n = list ? json_object_array_length(list) : 0;

	if (seen && oldest > seen + 1)
		fprintf(stderr, "psoffload events: %llu event(s) missed (more arrived than the broker keeps)\n",
			(unsigned long long)(oldest - seen - 1));
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(list, i);
		struct pso_event_rec rec;
		char line[512];

		if (json) {
			printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
			continue;
		}
		if (pso_event_from_json(o, &rec))
			continue;
		if (*head) {
			printf("%s\n", pso_event_format_head());
			*head = false;
		}
		pso_event_format(&rec, line, sizeof(line));
		printf("%s\n", line);
	}
	fflush(stdout);
	return (uint64_t)pso_js_int(reply, "last");
}

int pso_cmd_events(int argc, char **argv)
{
	struct events_args a = { 0 };
	struct json_object *req, *reply = NULL;
	uint64_t last = 0;
	bool head = true;
	int ret;

	ret = pso_opts_parse(&events_spec, argc, argv, &a, NULL);
	if (ret != PSO_OPTS_RUN)
		return ret;
	for (;;) {
		req = json_object_new_object();
		json_object_object_add(req, "request", json_object_new_string("events"));
		json_object_object_add(req, "after", json_object_new_uint64(last));
		if (a.reason)
			json_object_object_add(req, "reason", json_object_new_string(a.reason));
		ret = pso_ctl_ask("psoffload events", &a.target, req, &reply);
		json_object_put(req);
		if (ret)
			return ret;
		last = print_events(reply, a.json, last, &head);
		json_object_put(reply);
		if (!a.follow)
			return 0;
		{
			struct timespec ts = { .tv_nsec = FOLLOW_MS * 1000000L };

			if (nanosleep(&ts, NULL))
				return 0;	/* interrupted */
		}
	}
}
