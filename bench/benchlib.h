/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * benchlib.h - what every bench client shares: the measurement window
 * (wall time, per-CPU time from /proc/stat, broker RSS), CPU placement of
 * the bench's own threads and of NAPI threads, the latency histogram and
 * the CSV rows every experiment writes, whatever system it measures.
 */
#ifndef PSO_BENCHLIB_H
#define PSO_BENCHLIB_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "loadgen.h"

#define BL_MAX_CPUS 64
#define BL_MAX_PIDS 8
#define BL_MAX_LIST 16
#define BL_MAX_SUBS 64

/* Options every client takes (bl_common_opt parses them). */
struct bl_opts {
	const char *system;		/* label in the CSV */
	int broker_cpu, gen_cpu;	/* CPUs of the two sides */
	int pids[BL_MAX_PIDS];		/* broker processes: RSS */
	int n_pids;
	int fanouts[BL_MAX_LIST], n_fanouts;
	int payloads[BL_MAX_LIST], n_payloads;
	int repeats;
	double warmup_s, duration_s;
	int lat_fanouts[BL_MAX_LIST], n_lat_fanouts;
	int lat_levels[BL_MAX_LIST], n_lat_levels;
	int lat_payload;
	double lat_duration_s;
	const char *tput_csv, *lat_csv;
	const char *napi[8];		/* DEV:CPU:NICE, placement of NAPI threads */
	int n_napi;
	bool quiet;
	int max_subs;			/* largest fan-out the client serves,
					 * BL_MAX_SUBS unless it sets more */
};

/* Short options the common parser owns; a client adds its own. */
#define BL_COMMON_LONGOPTS                                              \
	{ "system", required_argument, NULL, 1000 },                    \
	{ "broker-cpu", required_argument, NULL, 1001 },                \
	{ "gen-cpu", required_argument, NULL, 1002 },                   \
	{ "broker-pid", required_argument, NULL, 1003 },                \
	{ "fanouts", required_argument, NULL, 1004 },                   \
	{ "payloads", required_argument, NULL, 1005 },                  \
	{ "repeats", required_argument, NULL, 1006 },                   \
	{ "warmup", required_argument, NULL, 1007 },                    \
	{ "duration", required_argument, NULL, 1008 },                  \
	{ "lat-fanouts", required_argument, NULL, 1009 },               \
	{ "lat-levels", required_argument, NULL, 1010 },                \
	{ "lat-payload", required_argument, NULL, 1011 },               \
	{ "lat-duration", required_argument, NULL, 1012 },              \
	{ "tput-csv", required_argument, NULL, 1013 },                  \
	{ "lat-csv", required_argument, NULL, 1014 },                   \
	{ "napi", required_argument, NULL, 1015 },                      \
	{ "quiet", no_argument, NULL, 1016 }

#define BL_COMMON_USAGE                                                                        \
	"  --system NAME          label of the system in the CSV rows\n"                          \
	"  --broker-cpu N         CPU of the broker side (1); --gen-cpu N: of the clients (0)\n"  \
	"  --broker-pid PID       broker process, for its RSS (repeatable)\n"                     \
	"  --fanouts LIST         e.g. 1,2,4,8,16,32,64 (1,16)\n"                                 \
	"  --payloads LIST        payload bytes, e.g. 64,256,1024,1400 (64)\n"                    \
	"  --repeats N            each throughput point N times (3)\n"                            \
	"  --warmup S, --duration S   per throughput point (0.3, 1.0)\n"                          \
	"  --lat-fanouts LIST     latency experiment fan-outs (none)\n"                           \
	"  --lat-levels LIST      %% of the measured capacity (10,50,90)\n"                        \
	"  --lat-payload N        latency payload (64); --lat-duration S (2.0)\n"                \
	"  --tput-csv FILE, --lat-csv FILE   append rows (header when new)\n"                    \
	"  --napi DEV:CPU:NICE    pin NAPI threads of DEV before every point (repeatable)\n"      \
	"  --quiet                no progress lines on stderr\n"

void bl_opts_init(struct bl_opts *o);
/* 1 if opt was a common option (parsed), 0 if not, -1 on a bad value. */
int bl_common_opt(struct bl_opts *o, int opt, const char *arg);
/* Checks and defaults after parsing; -1 with a message on a bad set. */
int bl_opts_done(struct bl_opts *o);

/* Pin the calling thread (or tid) to one CPU. */
int bl_pin_self(int cpu);
int bl_pin_tid(int tid, int cpu);
/* Apply every --napi placement: threads named napi/DEV-* of this host.
 * Returns how many threads were placed. */
int bl_place_napi(const struct bl_opts *o);

double bl_now(void);			/* CLOCK_MONOTONIC, seconds */
uint64_t bl_now_ns(void);		/* CLOCK_MONOTONIC, ns: as bpf_ktime_get_ns */
void bl_sleep(double s);
bool bl_stop_requested(void);		/* SIGINT / SIGTERM seen */
void bl_catch_signals(void);

/* ---- measurement window ------------------------------------------------ */

struct bl_cpu {
	uint64_t user, nice, system, idle, iowait, irq, softirq, steal;	/* jiffies */
};

struct bl_window {
	double t0, t1;
	struct bl_cpu c0[BL_MAX_CPUS], c1[BL_MAX_CPUS];
};

struct bl_cpu_use {
	double busy_pct, user_pct, sys_pct, softirq_pct, steal_pct;
	double busy_s;		/* CPU seconds spent busy */
};

void bl_window_start(struct bl_window *w);
void bl_window_stop(struct bl_window *w);
struct bl_cpu_use bl_window_cpu(const struct bl_window *w, int cpu);
/* 1-minute load average: how busy the machine was besides the bench. */
double bl_loadavg(void);
/* Sum of the RSS of the broker processes, kB (0 when none given). */
long bl_rss_kb(const struct bl_opts *o);

/* ---- latency histogram (same buckets as the sink's, loadgen.h) ---------- */

static inline uint32_t bl_hist_bucket(uint64_t v)
{
	int msb = 63 - __builtin_clzll(v | 1);

	if (v < LG_SUB)
		return v;
	if (msb > LG_MAX_MSB)
		return LG_HIST_BUCKETS - 1;
	return (msb - LG_SUB_BITS + 1) * LG_SUB + ((v >> (msb - LG_SUB_BITS)) & (LG_SUB - 1));
}
/* Middle of a bucket, ns. */
double bl_hist_value(uint32_t bucket);
/* Value at quantile q (0..1) of hist[LG_HIST_BUCKETS]; samples out. */
double bl_hist_quantile(const uint64_t *hist, double q, uint64_t *samples);
double bl_hist_max(const uint64_t *hist);

/* ---- results ------------------------------------------------------------ */

struct bl_tput_row {
	int fanout, payload, rep;
	double duration_s;
	double offered;		/* publishes/s offered */
	double delivered;	/* deliveries/s, all subscribers */
	double sub_min, sub_avg, sub_max;	/* deliveries/s per subscriber */
	double rate_pct;	/* offered rate of the window, % of the generator's flat out */
	double flood_offered;	/* packet generator flat out: publishes/s offered */
	double flood_delivered;	/* and deliveries/s under that flood (0: not measured) */
};

struct bl_lat_row {
	int fanout, payload, level;
	double target, offered, delivered;	/* publishes/s, publishes/s, deliveries/s */
	const uint64_t *hist;
};

void bl_write_tput(const struct bl_opts *o, const struct bl_window *w, const struct bl_tput_row *r);
void bl_write_lat(const struct bl_opts *o, const struct bl_window *w, const struct bl_lat_row *r);

/* Median of the delivered rate of the (fanout, payload) throughput rows
 * this run wrote, in publishes/s (deliveries / fanout): the capacity the
 * latency levels are taken from.  0 if none. */
double bl_capacity(int fanout, int payload);

/* Payload for TCP clients: the sender's CLOCK_MONOTONIC ns and the magic in
 * its first 16 bytes, then a pattern. */
void bl_fill_payload(uint8_t *p, int len);
void bl_stamp_payload(uint8_t *p);
/* ns since the stamp, or -1 when the payload carries none. */
int64_t bl_payload_age(const uint8_t *p, int len);

void bl_progress(const struct bl_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int bl_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif /* PSO_BENCHLIB_H */
