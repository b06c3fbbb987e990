// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * stats.c - `psoffload stats [--json] [--watch=SECONDS] [--pin-dir=DIR]`.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include "ctl/dataplane.h"
#include "cmd/stats.h"
#include "util/opts.h"

static const char *const counter_names[PSO_CNT__MAX] = PSO_COUNTER_NAMES;

struct topic_row {
	__u32 id;
	struct pso_topic_stats st;
};

/* Per-topic counters with traffic, summed over CPUs. */
static int read_topic_stats(int fd, struct topic_row **rows, int *nrows)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int ncpu = 1, n = 0;
	struct pso_topic_stats *vals;

	*rows = NULL;
	*nrows = 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.type == BPF_MAP_TYPE_PERCPU_ARRAY)
		ncpu = libbpf_num_possible_cpus();
	vals = calloc(ncpu, sizeof(*vals));
	*rows = calloc(info.max_entries, sizeof(**rows));
	if (!vals || !*rows) {
		free(vals);
		return -ENOMEM;
	}
	for (__u32 id = 0; id < info.max_entries; id++) {
		struct pso_topic_stats sum = { 0 };

		if (bpf_map_lookup_elem(fd, &id, vals))
			continue;
		for (int c = 0; c < ncpu; c++) {
			sum.msgs += vals[c].msgs;
			sum.bytes += vals[c].bytes;
		}
		if (sum.msgs)
			(*rows)[n++] = (struct topic_row){ .id = id, .st = sum };
	}
	free(vals);
	*nrows = n;
	return 0;
}

/* The live rate view: counters that moved, per second, every interval. */
static int watch(int cfd, unsigned int seconds)
{
	__u64 prev[PSO_CNT__MAX], cur[PSO_CNT__MAX];
	int ret = pso_dp_read_counters(cfd, prev);

	while (!ret) {
		struct timespec ts = { .tv_sec = seconds };
		time_t now;
		char stamp[16];

		if (nanosleep(&ts, NULL))
			break;
		ret = pso_dp_read_counters(cfd, cur);
		if (ret)
			break;
		now = time(NULL);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", localtime(&now));
		printf("%s", stamp);
		for (int i = 0; i < PSO_CNT__MAX; i++)
			if (cur[i] != prev[i])
				printf("  %s=%.0f/s", counter_names[i], (double)(cur[i] - prev[i]) / seconds);
		printf("\n");
		fflush(stdout);
		memcpy(prev, cur, sizeof(prev));
	}
	return ret ? 1 : 0;
}

struct stats_args {
	bool json;
	unsigned int watch_s;	/* 0: print once */
	const char *pin_dir;
};

#define STATS(f) PSO_OPT_FIELD(struct stats_args, f)

static const struct pso_opt stats_opts[] = {
	{ "json", 'j', PSO_OPT_FLAG, STATS(json), .help = "print counters and topics as JSON" },
	{ "watch", 'w', PSO_OPT_UINT, STATS(watch_s), .min = 1, .max = 3600, .unit = "seconds",
	  .arg = "SECONDS", .help = "the rate of each moving counter every SECONDS" },
	{ "pin-dir", 0, PSO_OPT_STRING, STATS(pin_dir), .arg = "DIR",
	  .help = "the broker that pinned its maps there\n(default " PSO_PIN_DIR_DEFAULT ")" },
	{ "help", 'h', PSO_OPT_HELP, .help = "this text" },
	{ 0 },
};

static const struct pso_opt_spec stats_spec = {
	.prog = "psoffload stats",
	.opts = stats_opts,
	.head = "usage: psoffload stats [--json] [--watch=SECONDS] [--pin-dir=DIR]\n"
		"  every data-plane counter (per path, per drop reason) and per-topic\n"
		"  messages and bytes; --watch prints the rate of each moving counter\n"
		"  every SECONDS until interrupted\n"
		"\n"
		"Options:\n",
};

int pso_cmd_stats(int argc, char **argv)
{
	struct stats_args a = { .pin_dir = PSO_PIN_DIR_DEFAULT };
	const char *pin_dir;
	__u64 counters[PSO_CNT__MAX];
	struct topic_row *rows = NULL;
	int cfd, tfd, nrows = 0, ret;
	char path[512];

	ret = pso_opts_parse(&stats_spec, argc, argv, &a, NULL);
	if (ret != PSO_OPTS_RUN)
		return ret;
	pin_dir = a.pin_dir;
	snprintf(path, sizeof(path), "%s/pso_counters", pin_dir);
	cfd = bpf_obj_get(path);
	if (cfd >= 0) {
		snprintf(path, sizeof(path), "%s/pso_topic_stats", pin_dir);
		tfd = bpf_obj_get(path);
	} else {
		tfd = -1;
	}
	if (cfd < 0 || tfd < 0) {
		fprintf(stderr, "psoffload stats: no running broker: cannot open %s (%s)\n",
			path, strerror(errno));
		return 1;
	}
	if (a.watch_s) {
		ret = watch(cfd, a.watch_s);
		close(cfd);
		close(tfd);
		return ret;
	}
	ret = pso_dp_read_counters(cfd, counters);
	if (!ret)
		ret = read_topic_stats(tfd, &rows, &nrows);
	if (ret) {
		fprintf(stderr, "psoffload stats: cannot read counters: %s\n", strerror(-ret));
		return 1;
	}

	if (a.json) {
		struct json_object *root = json_object_new_object();
		struct json_object *cnt = json_object_new_object();
		struct json_object *topics = json_object_new_array();

		for (int i = 0; i < PSO_CNT__MAX; i++)
			json_object_object_add(cnt, counter_names[i], json_object_new_uint64(counters[i]));
		for (int i = 0; i < nrows; i++) {
			struct json_object *t = json_object_new_object();

			json_object_object_add(t, "topic_id", json_object_new_int(rows[i].id));
			json_object_object_add(t, "msgs", json_object_new_uint64(rows[i].st.msgs));
			json_object_object_add(t, "bytes", json_object_new_uint64(rows[i].st.bytes));
			json_object_array_add(topics, t);
		}
		json_object_object_add(root, "counters", cnt);
		json_object_object_add(root, "topics", topics);
		printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
		json_object_put(root);
	} else {
		printf("%-26s %14s\n", "Counter", "Value");
		for (int i = 0; i < PSO_CNT__MAX; i++)
			printf("%-26s %14llu\n", counter_names[i], (unsigned long long)counters[i]);
		printf("\n%-10s %14s %16s\n", "Topic", "Messages", "Bytes");
		for (int i = 0; i < nrows; i++)
			printf("%-10u %14llu %16llu\n", rows[i].id,
			       (unsigned long long)rows[i].st.msgs, (unsigned long long)rows[i].st.bytes);
	}
	free(rows);
	close(cfd);
	close(tfd);
	return 0;
}
