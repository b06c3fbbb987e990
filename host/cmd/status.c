// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * status.c - `psoffload status [--json] [--pin-dir=DIR]`.
 */
#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "ctl/dataplane.h"
#include "cmd/status.h"
#include "daemon/statusfile.h"
#include "util/opts.h"

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

static int64_t num(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static void print_usage_row(struct json_object *tables, const char *name)
{
	struct json_object *t;

	if (!json_object_object_get_ex(tables, name, &t))
		return;
	printf("  %-12s %8lld / %-8lld\n", name, (long long)num(t, PSO_ST_USED),
	       (long long)num(t, PSO_ST_CAPACITY));
}

/* hw mode: which topics the NIC's small table holds. */
static void print_placement(struct json_object *port)
{
	struct json_object *nt;

	if (!json_object_object_get_ex(port, PSO_ST_NIC_TOPICS, &nt))
		return;
	printf("%-12s NIC topic table %zu/%lld:", "", json_object_array_length(nt),
	       (long long)num(port, PSO_ST_NIC_TOPICS_CAP));
	for (size_t k = 0; k < json_object_array_length(nt); k++)
		printf(" %d", json_object_get_int(json_object_array_get_idx(nt, k)));
	printf("\n");
}

static void print_table(struct json_object *root)
{
	struct json_object *ifs, *tables, *broker;
	char ids[64];

	json_object_object_get_ex(root, PSO_ST_BROKER, &broker);
	printf("psoffload broker pid %lld, MQTT-SN on UDP port %lld\n\n",
	       (long long)num(broker, PSO_ST_PID), (long long)num(broker, PSO_ST_UDP_PORT));
	printf("%-12s %-10s %-5s %-6s %-18s %s\n", "Interface", "Driver", "Mode", "State",
	       "Prog IDs (xdp/hw/tc)", "Why");
	if (json_object_object_get_ex(root, PSO_ST_INTERFACES, &ifs)) {
		for (size_t i = 0; i < json_object_array_length(ifs); i++) {
			struct json_object *p = json_object_array_get_idx(ifs, i), *progs = NULL;

			json_object_object_get_ex(p, PSO_ST_PROGRAMS, &progs);
			snprintf(ids, sizeof(ids), "%lld/%lld/%lld", (long long)num(progs, PSO_ST_PROG_XDP),
				 (long long)num(progs, PSO_ST_PROG_XDP_HW), (long long)num(progs, PSO_ST_PROG_TC));
			printf("%-12s %-10s %-5s %-6s %-18s %s\n", str(p, PSO_ST_NAME), str(p, PSO_ST_DRIVER),
			       str(p, PSO_ST_MODE), str(p, PSO_ST_STATE), ids, str(p, PSO_ST_REASON));
			print_placement(p);
		}
	}
	if (json_object_object_get_ex(root, PSO_ST_TABLES, &tables)) {
		printf("\nTables (used / capacity):\n");
		print_usage_row(tables, PSO_ST_TOPICS);
		print_usage_row(tables, PSO_ST_SUBSCRIBERS);
		print_usage_row(tables, PSO_ST_CLIENTS);
	}
}

struct status_args {
	bool json;
	const char *pin_dir;
};

static const struct pso_opt status_opts[] = {
	{ "json", 'j', PSO_OPT_FLAG, PSO_OPT_FIELD(struct status_args, json),
	  .help = "print the status document as JSON" },
	{ "pin-dir", 0, PSO_OPT_STRING, PSO_OPT_FIELD(struct status_args, pin_dir), .arg = "DIR",
	  .help = "the broker that pinned its maps there\n(default " PSO_PIN_DIR_DEFAULT ")" },
	{ "help", 'h', PSO_OPT_HELP, .help = "this text" },
	{ 0 },
};

static const struct pso_opt_spec status_spec = {
	.prog = "psoffload status",
	.opts = status_opts,
	.head = "usage: psoffload status [--json] [--pin-dir=DIR]\n"
		"  per interface: driver, XDP features, mode in force and why, program ids;\n"
		"  table occupancy against capacity\n"
		"\n"
		"Options:\n",
};

int pso_cmd_status(int argc, char **argv)
{
	struct status_args a = { .pin_dir = PSO_PIN_DIR_DEFAULT };
	const char *pin_dir;
	struct json_object *root;
	char path[512];
	int ret;

	ret = pso_opts_parse(&status_spec, argc, argv, &a, NULL);
	if (ret != PSO_OPTS_RUN)
		return ret;
	pin_dir = a.pin_dir;
	ret = pso_status_path(pin_dir, path, sizeof(path));
	if (ret) {
		fprintf(stderr, "psoffload status: pin directory %s: %s\n", pin_dir, strerror(-ret));
		return 1;
	}
	root = json_object_from_file(path);
	if (!root) {
		fprintf(stderr, "psoffload status: no running broker for %s (%s: %s)\n", pin_dir, path,
			strerror(errno));
		return 1;
	}
	/* A file left by a broker that died is no status. */
	if (kill((pid_t)num(json_object_object_get(root, PSO_ST_BROKER), PSO_ST_PID), 0) && errno == ESRCH) {
		fprintf(stderr, "psoffload status: the broker that wrote %s is gone\n", path);
		json_object_put(root);
		return 1;
	}
	if (a.json)
		printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
	else
		print_table(root);
	json_object_put(root);
	return 0;
}
