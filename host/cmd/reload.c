// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * reload.c - `psoffload reload [--pin-dir=DIR]`: SIGHUP to the broker that
 * owns the pin directory.  What the reload changed, and what needs a
 * restart, the daemon logs (one line each); this command only asks.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include "cmd/reload.h"
#include "ctl/dataplane.h"
#include "daemon/statusfile.h"
#include "util/opts.h"

struct reload_args {
	const char *pin_dir;
};

#define RELOAD(f) PSO_OPT_FIELD(struct reload_args, f)

static const struct pso_opt reload_opts[] = {
	{ "pin-dir", 0, PSO_OPT_STRING, RELOAD(pin_dir), .arg = "DIR",
	  .help = "the broker that pinned its maps there\n(default " PSO_PIN_DIR_DEFAULT ")" },
	{ "help", 'h', PSO_OPT_HELP, .help = "this text" },
	{ 0 },
};

static const struct pso_opt_spec reload_spec = {
	.prog = "psoffload reload",
	.opts = reload_opts,
	.head = "usage: psoffload reload [--pin-dir=DIR]\n"
		"  the running broker re-reads its configuration file (SIGHUP): what can\n"
		"  change live changes, the rest is logged as needing a restart\n"
		"\n"
		"Options:\n",
	.tail = "\nExit status: 0 asked, 1 no running broker, 2 bad usage.\n",
};

int pso_cmd_reload(int argc, char **argv)
{
	struct reload_args a = { .pin_dir = PSO_PIN_DIR_DEFAULT };
	char path[512];
	int ret, pid;

	ret = pso_opts_parse(&reload_spec, argc, argv, &a, NULL);
	if (ret != PSO_OPTS_RUN)
		return ret;
	pid = pso_status_owner(a.pin_dir);
	if (!pid) {
		pso_status_path(a.pin_dir, path, sizeof(path));
		fprintf(stderr, "psoffload reload: no running broker for %s (no live pid in %s)\n",
			a.pin_dir, path);
		return PSO_EXIT_FAILURE;
	}
	if (kill(pid, SIGHUP)) {
		fprintf(stderr, "psoffload reload: cannot signal the broker (pid %d): %s\n", pid,
			strerror(errno));
		return PSO_EXIT_FAILURE;
	}
	printf("asked the broker (pid %d) to reload; its log says what changed\n", pid);
	return PSO_EXIT_OK;
}
