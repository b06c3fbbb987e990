// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * status.c - `psoffload status [--json] [--name=NAME | --pin-dir=DIR]`:
 * the status document (daemon/snapshot.h) from the control socket.
 */
#include <stdbool.h>
#include <stdio.h>
#include <json-c/json.h>
#include "cmd/ctl.h"
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
	printf("  %-13s %8lld / %-8lld", name, (long long)num(t, PSO_ST_USED),
	       (long long)num(t, PSO_ST_CAPACITY));
	/* Topics: once any were freed, how many and how many ids wait. */
	if (num(t, PSO_ST_FREED))
		printf(" (%lld idle freed, %lld ids in quarantine)", (long long)num(t, PSO_ST_FREED),
		       (long long)num(t, PSO_ST_QUARANTINED));
	printf("\n");
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

/* "Store: sqlite:/var/lib/psoffload/state.db, revision 42, last write 0.3 s ago
 * (12 commits, 0 errors)" */
static void print_store(struct json_object *root)
{
	struct json_object *st, *v;
	char age[32];

	if (!json_object_object_get_ex(root, PSO_ST_STORE, &st))
		return;
	if (!json_object_object_get_ex(st, "persistent", &v) || !json_object_get_boolean(v)) {
		printf("\nStore: %s (nothing outlives the broker)\n", str(st, "spec"));
		return;
	}
	if (num(st, PSO_ST_LAST_WRITE))
		snprintf(age, sizeof(age), "%.1f s ago", num(st, "last_write_age_ms") / 1000.0);
	else
		snprintf(age, sizeof(age), "none yet");
	printf("\nStore: %s%s, revision %lld, last write %s (%lld commits, %lld errors%s%s)\n",
	       str(st, "spec"),
	       json_object_object_get_ex(st, "reachable", &v) && !json_object_get_boolean(v) ?
	       " (unreachable)" : "", (long long)num(st, PSO_ST_REVISION), age,
	       (long long)num(st, "commits"), (long long)num(st, "errors"),
	       str(st, "last_error")[0] ? ": " : "", str(st, "last_error"));
}

/* "Group: g1, member b1, leader (leader b1), lease 694d7a1c2b3e4f01 (ttl 3 s,
 * confirmed 0.4 s ago), store revision 42, VIPs 10.77.1.100/24@br0 (held)" */
static void print_ha(struct json_object *root)
{
	struct json_object *ha, *vips;
	bool any = false;

	if (!json_object_object_get_ex(root, "ha", &ha))
		return;
	printf("\nGroup: %s, member %s, %s (leader %s), lease %s (ttl %lld s, confirmed %.1f s "
	       "ago), store revision %lld%s\n", str(ha, "group"), str(ha, "member"),
	       str(ha, "role"), str(ha, "leader")[0] ? str(ha, "leader") : "none",
	       str(ha, "lease")[0] ? str(ha, "lease") : "none", (long long)num(ha, "lease_ttl_s"),
	       num(ha, "lease_age_ms") / 1000.0, (long long)num(ha, "store_revision"),
	       json_object_object_get_ex(ha, "store_reachable", &vips) &&
	       !json_object_get_boolean(vips) ? " (store unreachable)" : "");
	if (!json_object_object_get_ex(ha, "vips", &vips))
		return;
	for (size_t i = 0; i < json_object_array_length(vips); i++) {
		struct json_object *v = json_object_array_get_idx(vips, i), *held;

		printf("%s%s%s", any ? ", " : "VIPs: ", str(v, "address"),
		       json_object_object_get_ex(v, "held", &held) && json_object_get_boolean(held)
			       ? " (held)" : "");
		any = true;
	}
	if (any)
		printf("\n");
}

static void print_table(struct json_object *root)
{
	struct json_object *ifs, *tables, *broker;
	char ids[64];

	struct json_object *daemon, *by;
	char up[32];

	json_object_object_get_ex(root, PSO_ST_BROKER, &broker);
	printf("psoffload broker %s: pid %lld, MQTT-SN on UDP port %lld, up %s\n",
	       str(broker, PSO_ST_NAME), (long long)num(broker, PSO_ST_PID),
	       (long long)num(broker, PSO_ST_UDP_PORT),
	       pso_fmt_duration(num(broker, "uptime_s") * 1000, up, sizeof(up)));
	printf("control socket %s, metrics %s\n\n", str(broker, "control_socket"),
	       str(broker, "metrics")[0] ? str(broker, "metrics") : "off");
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
		print_usage_row(tables, PSO_ST_SUBSCRIPTIONS);
		printf("  %-13s %8.1f MiB pinned\n", "map memory",
		       num(tables, PSO_ST_MAP_MEMORY) / (1024.0 * 1024.0));
	}
	if (json_object_object_get_ex(root, "daemon", &daemon) &&
	    json_object_object_get_ex(daemon, "sessions_by_state", &by)) {
		printf("\nSessions: %lld (", (long long)num(daemon, "sessions"));
		bool first = true;

		json_object_object_foreach(by, k, v) {
			printf("%s%s %lld", first ? "" : ", ", k, (long long)json_object_get_int64(v));
			first = false;
		}
		printf("); retained messages %lld (%lld bytes)\n", (long long)num(daemon, "retained_messages"),
		       (long long)num(daemon, "retained_bytes"));
	}
	print_store(root);
	print_ha(root);
}

struct status_args {
	bool json;
	struct pso_ctl_target target;
};

static const struct pso_opt status_opts[] = {
	{ "json", 'j', PSO_OPT_FLAG, PSO_OPT_FIELD(struct status_args, json),
	  .help = "print the status document as JSON" },
	PSO_CTL_TARGET_OPTS(struct status_args),
	{ "help", 'h', PSO_OPT_HELP, .help = "this text" },
	{ 0 },
};

static const struct pso_opt_spec status_spec = {
	.prog = "psoffload status",
	.opts = status_opts,
	.head = "usage: psoffload status [--json] [--name=NAME | --pin-dir=DIR]\n"
		"  per interface: driver, mode in force and why, program ids; table\n"
		"  occupancy against capacity; sessions.  Asks the broker's control\n"
		"  socket, so it works from any network or mount namespace.\n"
		"\n"
		"Options:\n",
};

int pso_cmd_status(int argc, char **argv)
{
	struct status_args a = { 0 };
	struct json_object *root;
	int ret;

	ret = pso_opts_parse(&status_spec, argc, argv, &a, NULL);
	if (ret != PSO_OPTS_RUN)
		return ret;
	ret = pso_ctl_ask_simple(status_spec.prog, &a.target, "status", NULL, NULL, &root);
	if (ret)
		return ret;
	if (a.json)
		pso_ctl_print_json(root);
	else
		print_table(root);
	json_object_put(root);
	return 0;
}
