// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * check_cmd.c - `psoffload check [--profile=NAME] [--profiles-dir=DIR] OBJECT`
 *
 * Reads a NIC profile, checks the object against its [offload] limits with
 * pso_check_object() and prints every violation, then one summary line.
 * Exit codes scripts can rely on: 0 fits, 1 does not fit (or the NIC has no
 * hardware offload at all), 2 bad input, with one line on stderr.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cmd/check_cmd.h"
#include "util/log.h"
#include "util/opts.h"
#include "ctl/profile.h"
#include "pso_check.h"

#define CHECK_DEFAULT_PROFILE "nfp"

struct check_args {
	const char *profile, *profiles_dir;
	int verbosity;
};

#define CHECK(f) PSO_OPT_FIELD(struct check_args, f)

static const struct pso_opt check_opts[] = {
	{ "profile", 'p', PSO_OPT_STRING, CHECK(profile), .arg = "NAME",
	  .help = "NIC profile: nic-profiles/NAME.ini, or a path to a\n"
		  "profile file (default " CHECK_DEFAULT_PROFILE ")" },
	{ "profiles-dir", 'd', PSO_OPT_STRING, CHECK(profiles_dir), .arg = "DIR",
	  .help = "where the profiles are (default: nic-profiles/ in\n"
		  "the binary's parent directory)" },
	{ "verbose", 'v', PSO_OPT_COUNTER, CHECK(verbosity),
	  .help = "libbpf's own messages too (twice: its debug output)" },
	{ "help", 'h', PSO_OPT_HELP, .help = "this text" },
	{ 0 },
};

static const struct pso_opt_spec check_spec = {
	.prog = "psoffload check",
	.opts = check_opts,
	.head = "usage: psoffload check [OPTIONS] OBJECT\n"
		"\n"
		"Check whether the BPF object OBJECT fits a NIC's hardware-offload limits and\n"
		"list every violation, one per line.  Nothing is loaded into the kernel.\n"
		"\n"
		"Options:\n",
	.tail = "\n"
		"Exit status: 0 the object fits; 1 it does not, or the NIC has no hardware\n"
		"offload; 2 bad input (no such object, not a BPF object, unknown profile).\n",
};

int pso_cmd_check(int argc, char **argv)
{
	struct check_args a = { .profile = CHECK_DEFAULT_PROFILE };
	const char *profile, *dir, *object;
	struct pso_violations v = { 0 };
	struct pso_nic_profile prof;
	char dirbuf[PATH_MAX], err[512];
	int first, rc;

	rc = pso_opts_parse(&check_spec, argc, argv, &a, &first);
	if (rc != PSO_OPTS_RUN)
		return rc;
	if (argc - first != 1)
		return pso_opts_error(&check_spec, "%s", first >= argc ? "no OBJECT given"
								: "give exactly one OBJECT");
	profile = a.profile;
	dir = a.profiles_dir;
	object = argv[first];
	/* libbpf explains a bad object in lines of its own; ours is enough. */
	pso_log_set_level(a.verbosity);

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
