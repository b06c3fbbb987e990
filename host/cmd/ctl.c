// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ctl.c - asking a running broker over its control socket (ctl.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "cmd/ctl.h"
#include "ctl/dataplane.h"
#include "daemon/ctlsock.h"

#define CALL_TIMEOUT_MS 5000

int pso_ctl_ask(const char *prog, const struct pso_ctl_target *t, struct json_object *req,
		struct json_object **reply)
{
	char name[64], path[128], err[512];
	int ret;

	if (t->name)
		snprintf(name, sizeof(name), "%s", t->name);
	else
		pso_ctl_name_from_pin_dir(t->pin_dir ? t->pin_dir : PSO_PIN_DIR_DEFAULT, name, sizeof(name));
	if (!pso_ctl_name_valid(name)) {
		fprintf(stderr, "%s: bad broker name '%s'\n", prog, name);
		return 1;
	}
	pso_ctl_path(name, path, sizeof(path));
	ret = pso_ctl_call(path, req, reply, CALL_TIMEOUT_MS, err, sizeof(err));
	if (ret == -ENOENT || ret == -ECONNREFUSED) {
		fprintf(stderr, "%s: no broker named %s is running (nothing answers on %s)\n", prog, name,
			path);
		return 1;
	}
	if (ret) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 1;
	}
	return 0;
}

int pso_ctl_ask_simple(const char *prog, const struct pso_ctl_target *t, const char *name,
		       const char *key, const char *value, struct json_object **reply)
{
	struct json_object *req = json_object_new_object();
	int ret;

	json_object_object_add(req, PSO_CTL_REQUEST, json_object_new_string(name));
	if (key && value)
		json_object_object_add(req, key, json_object_new_string(value));
	ret = pso_ctl_ask(prog, t, req, reply);
	json_object_put(req);
	return ret;
}

void pso_ctl_print_json(struct json_object *o)
{
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
}

struct json_object *pso_js_get(struct json_object *o, const char *key)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

const char *pso_js_str(struct json_object *o, const char *key)
{
	struct json_object *v = pso_js_get(o, key);

	return v ? json_object_get_string(v) : "";
}

int64_t pso_js_int(struct json_object *o, const char *key)
{
	struct json_object *v = pso_js_get(o, key);

	return v ? json_object_get_int64(v) : 0;
}

bool pso_js_bool(struct json_object *o, const char *key)
{
	struct json_object *v = pso_js_get(o, key);

	return v && json_object_get_boolean(v);
}

const char *pso_fmt_duration(int64_t ms, char *buf, size_t len)
{
	if (ms < 0)
		snprintf(buf, len, "-");
	else if (ms < 120000)
		snprintf(buf, len, "%lld s", (long long)(ms / 1000));
	else if (ms < 7200000)
		snprintf(buf, len, "%lld min", (long long)(ms / 60000));
	else
		snprintf(buf, len, "%lld h", (long long)(ms / 3600000));
	return buf;
}

bool pso_watch_sleep(unsigned int seconds)
{
	struct timespec ts = { .tv_sec = seconds };

	return nanosleep(&ts, NULL) == 0;
}
