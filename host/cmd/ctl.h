/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ctl.h - what the commands that ask a running broker share: which broker
 * (--name, or --pin-dir whose last component is its name), one request
 * over its control socket (daemon/ctlsock.h), JSON and table output.
 */
#ifndef PSO_CMD_CTL_H
#define PSO_CMD_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include "util/opts.h"

struct json_object;

struct pso_ctl_target {
	const char *name;
	const char *pin_dir;
};

/* The options that name the broker, for a command whose settings struct T
 * has a struct pso_ctl_target `target`. */
#define PSO_CTL_TARGET_OPTS(T)								\
	{ "name", 'n', PSO_OPT_STRING, PSO_OPT_FIELD(T, target.name), .arg = "NAME",	\
	  .help = "the broker named NAME (its --name; default: the\n"			\
		  "pin directory's last component, psoffload)" },			\
	{ "pin-dir", 0, PSO_OPT_STRING, PSO_OPT_FIELD(T, target.pin_dir), .arg = "DIR",	\
	  .help = "the broker that pins its maps in DIR (names it\n"			\
		  "by DIR's last component)" }

/*
 * Send req (its "request" set by the caller) to the broker and return its
 * reply in *reply (the caller puts it).  0; else one line on stderr,
 * "PROG: ...", and the exit code 1.
 */
int pso_ctl_ask(const char *prog, const struct pso_ctl_target *t, struct json_object *req,
		struct json_object **reply);
/* pso_ctl_ask() for {"request": name} plus one optional string argument. */
int pso_ctl_ask_simple(const char *prog, const struct pso_ctl_target *t, const char *name,
		       const char *key, const char *value, struct json_object **reply);

void pso_ctl_print_json(struct json_object *o);

/* Reading a reply: a member's value, "" / 0 when absent. */
const char *pso_js_str(struct json_object *o, const char *key);
int64_t pso_js_int(struct json_object *o, const char *key);
bool pso_js_bool(struct json_object *o, const char *key);
struct json_object *pso_js_get(struct json_object *o, const char *key);

/* "12 s", "3 min", "2 h", "-" for negative: a duration of ms for a table. */
const char *pso_fmt_duration(int64_t ms, char *buf, size_t len);

/* Sleep until the next --watch sample (interrupted: false). */
bool pso_watch_sleep(unsigned int seconds);

#endif /* PSO_CMD_CTL_H */
