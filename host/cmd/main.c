// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * main.c - the psoffload command: the broker daemon and its subcommands.
 *
 * `psoffload NAME ...` runs the subcommand NAME from the table below;
 * anything else is the broker's own command line.
 */
#include <stdio.h>
#include <string.h>
#include "daemon/broker.h"
#include "ctl/profile.h"
#include "cmd/check_cmd.h"
#include "cmd/client.h"
#include "util/log.h"
#include "util/opts.h"
#include "cmd/stats.h"
#include "cmd/status.h"

#define STR(x) STR_(x)
#define STR_(x) #x

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);	/* argv[0] is the name */
	const char *args;			/* in the usage line */
	const char *summary;
} commands[] = {
	{ "status", pso_cmd_status, "[--json]",
	  "per interface: mode in force and why, programs, tables" },
	{ "stats", pso_cmd_stats, "[--json]", "data-plane counters of the running broker" },
	{ "pub", pso_cmd_pub, "[OPTIONS]", "publish (see psoffload pub --help)" },
	{ "sub", pso_cmd_sub, "[OPTIONS]", "subscribe (see psoffload sub --help)" },
	{ "check", pso_cmd_check, "[OPTIONS] OBJECT",
	  "does a BPF object fit a NIC's offload limits" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void broker_head(FILE *f)
{
	char line[64];
	size_t i;

	fprintf(f, "usage: psoffload %-23s %s\n", "[OPTIONS] IFACE...",
		"run the broker on these interfaces");
	for (i = 0; i < N_COMMANDS; i++) {
		snprintf(line, sizeof(line), "%s %s", commands[i].name, commands[i].args);
		fprintf(f, "       psoffload %-23s %s\n", line, commands[i].summary);
	}
	fprintf(f, "\nBroker options:\n");
}

struct broker_args {
	struct pso_broker_cfg cfg;
	int verbosity;
};

static int set_mode(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		    const char *arg, void *field)
{
	if (pso_mode_parse(arg, field))
		return pso_opts_error(spec, "bad --mode '%s': use auto, hw, drv or skb", arg);
	return 0;
}

/* --trusted=CIDR,...: repeatable, networks added to the list. */
static int add_trusted(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		       const char *arg, void *field)
{
	struct pso_broker_cfg *cfg = field;
	char list[1024], *save = NULL;

	if (strlen(arg) >= sizeof(list))
		return pso_opts_error(spec, "--trusted list too long");
	snprintf(list, sizeof(list), "%s", arg);
	for (char *net = strtok_r(list, ",", &save); net; net = strtok_r(NULL, ",", &save)) {
		if (cfg->ntrusted == PSO_MAX_TRUSTED)
			return pso_opts_error(spec, "--trusted: at most %d networks", PSO_MAX_TRUSTED);
		if (pso_cidr_parse(net, &cfg->trusted[cfg->ntrusted]))
			return pso_opts_error(spec, "bad --trusted network '%s': use ADDRESS/PREFIX, "
					      "e.g. 10.0.0.0/8 or fd00::/8, host bits zero", net);
		cfg->ntrusted++;
	}
	return 0;
}

static const struct pso_opt_name qosm1_names[] = {
	{ "predefined", PSO_QOSM1_PREDEFINED },
	{ "all", PSO_QOSM1_ALL },
	{ "none", PSO_QOSM1_NONE },
	{ 0 },
};

#define BROKER(f) PSO_OPT_FIELD(struct broker_args, f)

static const struct pso_opt broker_opts[] = {
	{ "mode", 'm', PSO_OPT_FUNC, BROKER(cfg.mode), .fn = set_mode, .arg = "MODE",
	  .help = "auto|hw|drv|skb: where XDP runs (default auto: hw where\n"
		  "the NIC offloads, else drv where the driver has native\n"
		  "XDP, else skb; each step down is logged with its reason)" },
	{ "port", 'p', PSO_OPT_UINT, BROKER(cfg.udp_port), .min = 1, .max = 65535, .arg = "N",
	  .help = "MQTT-SN UDP port (default " STR(PSO_DEFAULT_UDP_PORT) ")" },
	{ "predefined", 'P', PSO_OPT_STRING, BROKER(cfg.predefined_path), .arg = "FILE",
	  .help = "predefined topics, one \"id name\" per line" },
	{ "qos-m1", 0, PSO_OPT_ENUM, BROKER(cfg.qosm1), .names = qosm1_names, .arg = "POLICY",
	  .help = "predefined|all|none: topics QoS -1 may publish to:\n"
		  "predefined ids and short names, any, or none\n(default predefined)" },
	{ "gw-id", 0, PSO_OPT_UINT, BROKER(cfg.gw_id), .min = 0, .max = 255, .arg = "N",
	  .help = "gateway id in GWINFO/ADVERTISE (default 1)" },
	{ "advertise", 0, PSO_OPT_UINT, BROKER(cfg.advertise_s), .min = 0, .max = 65535,
	  .unit = "seconds", .arg = "SEC",
	  .help = "send ADVERTISE every SEC seconds on every interface,\n"
		  "IPv4 broadcast and IPv6 ff02::1 (default off)" },
	{ "session-expiry", 0, PSO_OPT_UINT, BROKER(cfg.session_expiry_s), .min = 0,
	  .max = 4294967, .unit = "seconds", .arg = "SEC",
	  .help = "how long a session kept by a CONNECT without\nCleanSession outlives its connection (default 3600)" },
	{ "retry-interval", 0, PSO_OPT_UINT, BROKER(cfg.retry_s), .min = 1, .max = 3600,
	  .unit = "seconds", .arg = "SEC",
	  .help = "QoS 1/2 deliveries: resend an unacknowledged one\nevery SEC seconds (T_RETRY, default 10)" },
	{ "retries", 0, PSO_OPT_UINT, BROKER(cfg.retries), .min = 0, .max = 100, .arg = "N",
	  .help = "QoS 1/2 deliveries: give up after N resends\n(N_RETRY, default 3)" },
	{ "trusted", 0, PSO_OPT_FUNC, BROKER(cfg), .fn = add_trusted, .arg = "CIDR,...",
	  .help = "networks whose clients need not prove their address\n"
		  "(repeatable; loopback always is; see docs/SECURITY.md)" },
	{ "unvalidated-expiry", 0, PSO_OPT_UINT, BROKER(cfg.unvalidated_s), .min = 1,
	  .max = 3600, .unit = "seconds", .arg = "SEC",
	  .help = "end a session whose address is not proven within\nSEC seconds (default 30)" },
	{ "placement-interval", 0, PSO_OPT_UINT, BROKER(cfg.placement_ms), .min = 10,
	  .max = 3600000, .unit = "ms", .arg = "MS",
	  .help = "hw mode: how often the busiest topics are re-placed\n"
		  "in the NIC's small topic table (default 1000)" },
	{ "pin-dir", 0, PSO_OPT_STRING, BROKER(cfg.pin_dir), .arg = "DIR",
	  .help = "where the maps are pinned (default " PSO_PIN_DIR_DEFAULT ")" },
	{ "profiles-dir", 0, PSO_OPT_STRING, BROKER(cfg.profiles_dir), .arg = "DIR",
	  .help = "NIC profiles (default: nic-profiles/ beside the build)" },
	{ "verbose", 'v', PSO_OPT_COUNTER, BROKER(verbosity),
	  .help = "more log lines; twice: libbpf debug output" },
	{ "help", 'h', PSO_OPT_HELP, .help = "this text" },
	{ 0 },
};

static const struct pso_opt_spec broker_spec = {
	.prog = "psoffload",
	.opts = broker_opts,
	.print_head = broker_head,
	.tail = "\nRuns until SIGINT or SIGTERM, then detaches everything it attached.\n",
};

static int run_broker(int argc, char **argv)
{
	struct broker_args a = {
		.cfg = {
			.udp_port = PSO_DEFAULT_UDP_PORT,
			.mode = PSO_MODE_AUTO,
			.qosm1 = PSO_QOSM1_PREDEFINED,
			.pin_dir = PSO_PIN_DIR_DEFAULT,
			.gw_id = 1,
			.placement_ms = 1000, .session_expiry_s = 3600,
			.retry_s = 10, .retries = 3, .unvalidated_s = 30,
		},
	};
	struct pso_broker_cfg *cfg = &a.cfg;
	struct pso_broker *b;
	int first, ret;
	char err[512];

	ret = pso_opts_parse(&broker_spec, argc, argv, &a, &first);
	if (ret != PSO_OPTS_RUN)
		return ret;
	if (first >= argc)
		return pso_opts_error(&broker_spec, "no interface given");
	if (!cfg->profiles_dir) {
		static char dir[512];

		if (pso_profile_dir_default(dir, sizeof(dir))) {
			fprintf(stderr, "psoffload: cannot find nic-profiles/; use --profiles-dir\n");
			return 2;
		}
		cfg->profiles_dir = dir;
	}
	cfg->ifnames = (const char *const *)&argv[first];
	cfg->nifnames = argc - first;
	pso_log_set_level(a.verbosity);

	ret = pso_broker_start(&b, cfg, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "psoffload: %s\n", err);
		return 1;
	}
	ret = pso_broker_run(b);
	pso_broker_stop(b);
	pso_info("stopped; everything detached");
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	size_t i;

	for (i = 0; argc > 1 && i < N_COMMANDS; i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	return run_broker(argc, argv);
}
