// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ha_cmd.c - `psoffload ha step-down [--name=NAME | --pin-dir=DIR]`: the
 * running broker, a group's leader, gives its leadership up for another
 * member (a planned switch-over), asked through its control socket
 * (daemon/ctlreq.c, "ha-step-down").  It removes its virtual addresses
 * first, then deletes the leader key; it does not campaign again for one
 * lease TTL.
 */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "cmd/ctl.h"
#include "cmd/ha_cmd.h"
#include "util/opts.h"

struct ha_args {
	struct pso_ctl_target target;
};

static const struct pso_opt ha_opts[] = {
	PSO_CTL_TARGET_OPTS(struct ha_args),
	{ "help", 'h', PSO_OPT_HELP, .help = "this text" },
	{ 0 },
};

static const struct pso_opt_spec ha_spec = {
	.prog = "psoffload ha",
	.opts = ha_opts,
	.head = "usage: psoffload ha step-down [--name=NAME | --pin-dir=DIR]\n"
		"  the running broker, its group's leader, hands the leadership to another\n"
		"  member: its virtual addresses go first, then the leader key; it stays a\n"
		"  standby (psoffload status shows the group, the role and the leader)\n"
		"\n"
		"Options:\n",
	.tail = "\nExit status: 0 stepped down, 1 not the leader or no running broker,\n"
		"2 bad usage.\n",
};

int pso_cmd_ha(int argc, char **argv)
{
	struct ha_args a = { 0 };
	struct json_object *reply;
	int first, ret;

	ret = pso_opts_parse(&ha_spec, argc, argv, &a, &first);
	if (ret != PSO_OPTS_RUN)
		return ret;
	if (first >= argc || strcmp(argv[first], "step-down") || first + 1 != argc) {
		return pso_opts_error(&ha_spec, "say what: step-down");
	}
	ret = pso_ctl_ask_simple(ha_spec.prog, &a.target, "ha-step-down", NULL, NULL, &reply);
	if (ret)
		return ret;
	printf("%s stepped down in group %s; the leader key is free for another member\n",
	       pso_js_str(reply, "member"), pso_js_str(reply, "group"));
	json_object_put(reply);
	return PSO_EXIT_OK;
}
