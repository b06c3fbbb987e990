// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * restart.c - `psoffload restart [--name=NAME | --pin-dir=DIR]`: the
 * broker hands over to a fresh exec of the binary at its path (a new one
 * included), as on SIGUSR2, asked through its control socket
 * (daemon/ctlreq.c, "restart"); the data plane keeps running.  This
 * command waits until the new daemon answers, and says how long it took.
 */
#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <json-c/json.h>
#include "cmd/ctl.h"
#include "ctl/dataplane.h"
#include "daemon/ctlsock.h"
#include "cmd/reload.h"
#include "util/opts.h"

struct restart_args {
	struct pso_ctl_target target;
	unsigned int timeout_s;
};

static const struct pso_opt restart_opts[] = {
	PSO_CTL_TARGET_OPTS(struct restart_args),
	{ "timeout", 't', PSO_OPT_UINT, PSO_OPT_FIELD(struct restart_args, timeout_s), .min = 1,
	  .max = 3600, .unit = "seconds", .arg = "SEC",
	  .help = "wait at most SEC for the new daemon (default 30)" },
	{ "help", 'h', PSO_OPT_HELP, .help = "this text" },
	{ 0 },
};

static const struct pso_opt_spec restart_spec = {
	.prog = "psoffload restart",
	.opts = restart_opts,
	.head = "usage: psoffload restart [--name=NAME | --pin-dir=DIR] [--timeout=SEC]\n"
		"  the running broker execs its binary again (a new one at the same path\n"
		"  included), which adopts the running data plane: nothing is detached,\n"
		"  no client is told, no datagram to the broker is refused (as SIGUSR2)\n"
		"\n"
		"Options:\n",
	.tail = "\nExit status: 0 restarted, 1 no running broker, refused or timed out,\n"
		"2 bad usage.\n",
};

/* One "status" to the broker, silently: while the new daemon starts, the
 * request waits in the socket's queue. */
static int ask_quiet(const struct pso_ctl_target *t, struct json_object **reply)
{
	struct json_object *req = json_object_new_object();
	char name[64], path[128], err[256];
	int ret;

	if (t->name)
		snprintf(name, sizeof(name), "%s", t->name);
	else
		pso_ctl_name_from_pin_dir(t->pin_dir ? t->pin_dir : PSO_PIN_DIR_DEFAULT, name,
					  sizeof(name));
	pso_ctl_path(name, path, sizeof(path));
	json_object_object_add(req, PSO_CTL_REQUEST, json_object_new_string("status"));
	ret = pso_ctl_call(path, req, reply, 5000, err, sizeof(err));
	json_object_put(req);
	return ret;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pso_cmd_restart(int argc, char **argv)
{
	struct restart_args a = { .timeout_s = 30 };
	struct json_object *reply, *st;
	const struct timespec pause = { .tv_nsec = 10 * 1000000 };
	long long pid, before;
	uint64_t t0;
	int ret;

	ret = pso_opts_parse(&restart_spec, argc, argv, &a, NULL);
	if (ret != PSO_OPTS_RUN)
		return ret;
	t0 = mono_ms();
	ret = pso_ctl_ask_simple(restart_spec.prog, &a.target, "restart", NULL, NULL, &reply);
	if (ret)
		return ret;
	pid = pso_js_int(reply, "pid");
	before = pso_js_int(reply, "restarts");
	json_object_put(reply);
	/* The new daemon answers on the same socket once it serves, with
	 * one restart more. */
	for (;;) {
		if (!ask_quiet(&a.target, &st)) {
			struct json_object *r = NULL;
			long long now = -1;

			if (json_object_object_get_ex(st, "restart", &r))
				now = pso_js_int(r, "restarts");
			json_object_put(st);
			if (now > before) {
				printf("restarted the broker (pid %lld) in %llu ms; the data plane kept "
				       "running\n", pid, (unsigned long long)(mono_ms() - t0));
				return PSO_EXIT_OK;
			}
		}
		if (mono_ms() - t0 > a.timeout_s * 1000ull) {
			fprintf(stderr, "%s: the broker (pid %lld) did not come back within %u s; "
				"see its log\n", restart_spec.prog, pid, a.timeout_s);
			return PSO_EXIT_FAILURE;
		}
		nanosleep(&pause, NULL);
	}
}
