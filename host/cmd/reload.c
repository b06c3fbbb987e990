// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * reload.c - `psoffload reload [--name=NAME | --pin-dir=DIR]`: the broker
 * re-reads its settings file, as on SIGHUP, asked through its control
 * socket (daemon/ctlreq.c, "reload").  What the reload changed, and what
 * needs a restart, the daemon logs (one line each); this command only asks.
 */
#include <stdio.h>
#include <json-c/json.h>
#include "cmd/ctl.h"
#include "cmd/reload.h"
#include "util/opts.h"

struct reload_args {
	struct pso_ctl_target target;
};

static const struct pso_opt reload_opts[] = {
	PSO_CTL_TARGET_OPTS(struct reload_args),
	{ "help", 'h', PSO_OPT_HELP, .help = "this text" },
	{ 0 },
};

static const struct pso_opt_spec reload_spec = {
	.prog = "psoffload reload",
	.opts = reload_opts,
	.head = "usage: psoffload reload [--name=NAME | --pin-dir=DIR]\n"
		"  the running broker re-reads its settings file (as on SIGHUP): what can\n"
		"  change live changes, the rest is logged as needing a restart\n"
		"\n"
		"Options:\n",
	.tail = "\nExit status: 0 asked, 1 no running broker, 2 bad usage.\n",
};

int pso_cmd_reload(int argc, char **argv)
{
	struct reload_args a = { 0 };
	struct json_object *reply;
	int ret;

	ret = pso_opts_parse(&reload_spec, argc, argv, &a, NULL);
	if (ret != PSO_OPTS_RUN)
		return ret;
	ret = pso_ctl_ask_simple(reload_spec.prog, &a.target, "reload", NULL, NULL, &reply);
	if (ret)
		return ret;
	printf("asked the broker (pid %lld) to reload; its log says what changed\n",
	       (long long)pso_js_int(reply, "pid"));
	json_object_put(reply);
	return PSO_EXIT_OK;
}
