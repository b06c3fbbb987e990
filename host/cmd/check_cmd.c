// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * check_cmd.c - `psoffload check [--profile=NAME] [--profiles-dir=DIR] OBJECT`
 *
 * Reads a NIC profile, checks the object against its [offload] limits with
 * pso_check_object() and prints every violation, then one summary line.
 * Exit codes scripts can rely on: 0 fits, 1 does not fit (or the NIC has no
 * hardware offload at all), 2 bad input, with one line on stderr.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cmd/check_cmd.h"
#include "util/log.h"
#include "ctl/profile.h"
#include "pso_check.h"

#define CHECK_DEFAULT_PROFILE "nfp"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: psoffload check [OPTIONS] OBJECT\n"
		"\n"
		"Check whether the BPF object OBJECT fits a NIC's hardware-offload limits and\n"
		"list every violation, one per line.  Nothing is loaded into the kernel.\n"
		"\n"
		"Options:\n"
		"  -p, --profile=NAME       NIC profile: nic-profiles/NAME.ini, or a path to a\n"
		"                           profile file (default %s)\n"
		"  -d, --profiles-dir=DIR   where the profiles are (default: nic-profiles/ in\n"
		"                           the binary's parent directory)\n"
		"  -v, --verbose            libbpf's own messages too (twice: its debug output)\n"
		"  -h, --help               this text\n"
		"\n"
		"Exit status: 0 the object fits; 1 it does not, or the NIC has no hardware\n"
		"offload; 2 bad input (no such object, not a BPF object, unknown profile).\n",
		CHECK_DEFAULT_PROFILE);
}

int pso_cmd_check(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "profile", required_argument, NULL, 'p' },
		{ "profiles-dir", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *profile = CHECK_DEFAULT_PROFILE, *dir = NULL, *object;
	struct pso_violations v = { 0 };
	struct pso_nic_profile prof;
	char dirbuf[PATH_MAX], err[512];
	int opt, rc, verbosity = 0;

	optind = 1;
	opterr = 0;	/* one line of our own instead of getopt's */
	while ((opt = getopt_long(argc, argv, ":p:d:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			profile = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'v':
			verbosity++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "psoffload check: option '%s' needs a value; see --help\n",
				argv[optind - 1]);
			return 2;
		default:
			if (optopt)
				fprintf(stderr, "psoffload check: unknown option '-%c'; see --help\n",
					optopt);
			else
				fprintf(stderr, "psoffload check: unknown option '%s'; see --help\n",
					argv[optind - 1]);
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "psoffload check: %s; see --help\n",
			optind >= argc ? "no OBJECT given" : "give exactly one OBJECT");
		return 2;
	}
	object = argv[optind];
	/* libbpf explains a bad object in lines of its own; ours is enough. */
	pso_log_set_level(verbosity);

	if (!dir) {
		if (pso_profile_dir_default(dirbuf, sizeof(dirbuf))) {
			fprintf(stderr, "psoffload check: cannot find nic-profiles/; use --profiles-dir\n");
			return 2;
		}
		dir = dirbuf;
	}
	if (pso_profile_by_name(dir, profile, &prof, err, sizeof(err))) {
		fprintf(stderr, "psoffload check: %s\n", err);
		return 2;
	}

	rc = pso_check_object(object, &prof.offload, &v);
	if (rc < 0) {
		fprintf(stderr, "psoffload check: %s\n", v.error);
		pso_violations_free(&v);
		return 2;
	}

	/* Say it first: no list of violations makes such a NIC fit. */
	if (!prof.hw_offload)
		printf("%s: the NIC has no hardware offload (hw_offload = no in %s)\n",
		       prof.name, prof.path);
	pso_violations_print(stdout, &v);
	if (rc == 0)
		printf("%s: fits the %s offload limits%s\n", object, prof.name,
		       prof.hw_offload ? "" : ", but the NIC cannot offload it");
	else
		printf("%s: %zu violation%s of the %s offload limits\n", object, v.cnt,
		       v.cnt == 1 ? "" : "s", prof.name);
	pso_violations_free(&v);
	return rc == 0 && prof.hw_offload ? 0 : 1;
}
