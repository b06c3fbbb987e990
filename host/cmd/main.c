// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * main.c - the psoffload command: the broker daemon and its subcommands.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon/broker.h"
#include "ctl/profile.h"
#include "cmd/check_cmd.h"
#include "cmd/client.h"
#include "util/log.h"
#include "cmd/stats.h"
#include "cmd/status.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: psoffload [OPTIONS] IFACE...     run the broker on these interfaces\n"
		"       psoffload status [--json]         per interface: mode in force and why, programs, tables\n"
		"       psoffload stats [--json]          data-plane counters of the running broker\n"
		"       psoffload pub [OPTIONS]           publish (see psoffload pub --help)\n"
		"       psoffload sub [OPTIONS]           subscribe (see psoffload sub --help)\n"
		"       psoffload check [OPTIONS] OBJECT  does a BPF object fit a NIC's offload limits\n"
		"\n"
		"Broker options:\n"
		"  -m, --mode=MODE        auto|hw|drv|skb: where XDP runs (default auto: hw where\n"
		"                         the NIC offloads, else drv where the driver has native\n"
		"                         XDP, else skb; each step down is logged with its reason)\n"
		"  -p, --port=N           MQTT-SN UDP port (default %d)\n"
		"  -P, --predefined=FILE  predefined topics, one \"id name\" per line\n"
		"      --qos-m1=POLICY    predefined|all|none: topics QoS -1 may publish to\n"
		"                         (default predefined)\n"
		"      --gw-id=N          gateway id in GWINFO/ADVERTISE (default 1)\n"
		"      --advertise=SEC    send ADVERTISE every SEC seconds (default off)\n"
		"      --placement-interval=MS\n"
		"                         hw mode: how often the busiest topics are re-placed\n"
		"                         in the NIC's small topic table (default 1000)\n"
		"      --pin-dir=DIR      where the maps are pinned (default %s)\n"
		"      --profiles-dir=DIR NIC profiles (default: nic-profiles/ beside the build)\n"
		"  -v, --verbose          more log lines; twice: libbpf debug output\n"
		"  -h, --help             this text\n"
		"\n"
		"Runs until SIGINT or SIGTERM, then detaches everything it attached.\n",
		PSO_DEFAULT_UDP_PORT, PSO_PIN_DIR_DEFAULT);
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	return (errno || !*s || *end || *out > max) ? -EINVAL : 0;
}

static int run_broker(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "port", required_argument, NULL, 'p' },
		{ "predefined", required_argument, NULL, 'P' },
		{ "qos-m1", required_argument, NULL, 'Q' },
		{ "gw-id", required_argument, NULL, 'G' },
		{ "advertise", required_argument, NULL, 'A' },
		{ "placement-interval", required_argument, NULL, 'I' },
		{ "pin-dir", required_argument, NULL, 'D' },
		{ "profiles-dir", required_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct pso_broker_cfg cfg = {
		.udp_port = PSO_DEFAULT_UDP_PORT,
		.mode = PSO_MODE_AUTO,
		.qosm1 = PSO_QOSM1_PREDEFINED,
		.pin_dir = PSO_PIN_DIR_DEFAULT,
		.gw_id = 1,
		.placement_ms = 1000,
	};
	struct pso_broker *b;
	unsigned long v;
	int opt, verbosity = 0, ret;
	char err[512];

	while ((opt = getopt_long(argc, argv, "m:p:P:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'm':
			if (pso_mode_parse(optarg, &cfg.mode)) {
				fprintf(stderr, "psoffload: bad --mode '%s': use auto, hw, drv or skb\n", optarg);
				return 2;
			}
			break;
		case 'p':
			if (parse_uint(optarg, 65535, &v) || !v) {
				fprintf(stderr, "psoffload: bad --port '%s': use 1..65535\n", optarg);
				return 2;
			}
			cfg.udp_port = v;
			break;
		case 'P':
			cfg.predefined_path = optarg;
			break;
		case 'Q':
			if (!strcmp(optarg, "predefined"))
				cfg.qosm1 = PSO_QOSM1_PREDEFINED;
			else if (!strcmp(optarg, "all"))
				cfg.qosm1 = PSO_QOSM1_ALL;
			else if (!strcmp(optarg, "none"))
				cfg.qosm1 = PSO_QOSM1_NONE;
			else {
				fprintf(stderr, "psoffload: bad --qos-m1 '%s': use predefined, all or none\n",
					optarg);
				return 2;
			}
			break;
		case 'G':
			if (parse_uint(optarg, 255, &v)) {
				fprintf(stderr, "psoffload: bad --gw-id '%s': use 0..255\n", optarg);
				return 2;
			}
			cfg.gw_id = v;
			break;
		case 'A':
			if (parse_uint(optarg, 65535, &v)) {
				fprintf(stderr, "psoffload: bad --advertise '%s': use seconds, 0..65535\n",
					optarg);
				return 2;
			}
			cfg.advertise_s = v;
			break;
		case 'I':
			if (parse_uint(optarg, 3600000, &v) || v < 10) {
				fprintf(stderr, "psoffload: bad --placement-interval '%s': use 10..3600000 ms\n",
					optarg);
				return 2;
			}
			cfg.placement_ms = v;
			break;
		case 'D':
			cfg.pin_dir = optarg;
			break;
		case 'R':
			cfg.profiles_dir = optarg;
			break;
		case 'v':
			verbosity++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "psoffload: no interface given\n");
		usage(stderr);
		return 2;
	}
	if (!cfg.profiles_dir) {
		static char dir[512];

		if (pso_profile_dir_default(dir, sizeof(dir))) {
			fprintf(stderr, "psoffload: cannot find nic-profiles/; use --profiles-dir\n");
			return 2;
		}
		cfg.profiles_dir = dir;
	}
	cfg.ifnames = (const char *const *)&argv[optind];
	cfg.nifnames = argc - optind;
	pso_log_set_level(verbosity);

	ret = pso_broker_start(&b, &cfg, err, sizeof(err));
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
	if (argc > 1 && !strcmp(argv[1], "stats"))
		return pso_cmd_stats(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "status"))
		return pso_cmd_status(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "pub"))
		return pso_cmd_pub(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "sub"))
		return pso_cmd_sub(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "check"))
		return pso_cmd_check(argc - 1, argv + 1);
	return run_broker(argc, argv);
}
