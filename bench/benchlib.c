// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * benchlib.c - measurement window, placement, histogram and CSV rows shared
 * by the bench clients (see benchlib.h).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"

static volatile sig_atomic_t stop_flag;

int bl_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

void bl_progress(const struct bl_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "  [%s] ", o->system);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
}

static void on_signal(int sig)
{
	stop_flag = 1;
}

void bl_catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

bool bl_stop_requested(void)
{
	return stop_flag;
}

double bl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

uint64_t bl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

void bl_sleep(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) && errno == EINTR && !stop_flag)
		;
}

/* ---- options ------------------------------------------------------------ */

void bl_opts_init(struct bl_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->system = "system";
	o->broker_cpu = 1;
	o->gen_cpu = 0;
	o->fanouts[0] = 1;
	o->fanouts[1] = 16;
	o->n_fanouts = 2;
	o->payloads[0] = 64;
	o->n_payloads = 1;
	o->repeats = 3;
	o->warmup_s = 0.3;
	o->duration_s = 1.0;
	o->lat_levels[0] = 10;
	o->lat_levels[1] = 50;
	o->lat_levels[2] = 90;
	o->n_lat_levels = 3;
	o->lat_payload = 64;
	o->lat_duration_s = 2.0;
}

static int parse_list(const char *arg, int *v, int *n)
{
	char *end;

	*n = 0;
	while (*arg) {
		long x = strtol(arg, &end, 10);

		if (end == arg || x < 0 || x > 1000000 || *n >= BL_MAX_LIST)
			return -1;
		v[(*n)++] = x;
		arg = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	return 0;
}

int bl_common_opt(struct bl_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case 1000: o->system = arg; return 1;
	case 1001: o->broker_cpu = atoi(arg); return 1;
	case 1002: o->gen_cpu = atoi(arg); return 1;
	case 1003:
		if (o->n_pids >= BL_MAX_PIDS)
			return -1;
		o->pids[o->n_pids++] = atoi(arg);
		return 1;
	case 1004: return parse_list(arg, o->fanouts, &o->n_fanouts) ? -1 : 1;
	case 1005: return parse_list(arg, o->payloads, &o->n_payloads) ? -1 : 1;
	case 1006: o->repeats = atoi(arg); return 1;
	case 1007: o->warmup_s = atof(arg); return 1;
	case 1008: o->duration_s = atof(arg); return 1;
	case 1009: return parse_list(arg, o->lat_fanouts, &o->n_lat_fanouts) ? -1 : 1;
	case 1010: return parse_list(arg, o->lat_levels, &o->n_lat_levels) ? -1 : 1;
	case 1011: o->lat_payload = atoi(arg); return 1;
	case 1012: o->lat_duration_s = atof(arg); return 1;
	case 1013: o->tput_csv = arg; return 1;
	case 1014: o->lat_csv = arg; return 1;
	case 1015:
		if (o->n_napi >= 8)
			return -1;
		o->napi[o->n_napi++] = arg;
		return 1;
	case 1016: o->quiet = true; return 1;
	}
	return 0;
}

int bl_opts_done(struct bl_opts *o)
{
	int max_fan = 0;

	for (int i = 0; i < o->n_fanouts; i++)
		if (o->fanouts[i] > max_fan)
			max_fan = o->fanouts[i];
	for (int i = 0; i < o->n_lat_fanouts; i++)
		if (o->lat_fanouts[i] > max_fan)
			max_fan = o->lat_fanouts[i];
	if (max_fan < 1 || max_fan > (o->max_subs ? o->max_subs : BL_MAX_SUBS)) {
		fprintf(stderr, "bench: fan-outs must be 1..%d\n", o->max_subs ? o->max_subs : BL_MAX_SUBS);
		return -1;
	}
	for (int i = 0; i < o->n_payloads; i++)
		if (o->payloads[i] < 64 || o->payloads[i] > 1400) {
			fprintf(stderr, "bench: payloads must be 64..1400 bytes\n");
			return -1;
		}
	if (o->lat_payload < 64 || o->lat_payload > 1400 || o->repeats < 1 || o->repeats > 99 ||
	    o->duration_s <= 0 || o->duration_s > 60 || o->warmup_s < 0 || o->warmup_s > 60 ||
	    o->lat_duration_s <= 0 || o->lat_duration_s > 60) {
		fprintf(stderr, "bench: bad --lat-payload, --repeats or a duration\n");
		return -1;
	}
	if (o->broker_cpu < 0 || o->broker_cpu >= BL_MAX_CPUS || o->gen_cpu < 0 ||
	    o->gen_cpu >= BL_MAX_CPUS) {
		fprintf(stderr, "bench: bad CPU number\n");
		return -1;
	}
	return 0;
}

/* ---- placement ---------------------------------------------------------- */

int bl_pin_tid(int tid, int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(tid, sizeof(set), &set) ? -errno : 0;
}

int bl_pin_self(int cpu)
{
	return bl_pin_tid(0, cpu);
}

int bl_place_napi(const struct bl_opts *o)
{
	int placed = 0;

	for (int i = 0; i < o->n_napi; i++) {
		char dev[32], prefix[48];
		int cpu, nice_v;
		DIR *d;
		struct dirent *e;

		if (sscanf(o->napi[i], "%31[^:]:%d:%d", dev, &cpu, &nice_v) != 3)
			bl_die("--napi wants DEV:CPU:NICE, not %s", o->napi[i]);
		snprintf(prefix, sizeof(prefix), "napi/%s-", dev);
		d = opendir("/proc");
		while (d && (e = readdir(d))) {
			char path[300], comm[64] = "";
			FILE *f;

			if (!isdigit((unsigned char)e->d_name[0]))
				continue;
			snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
			f = fopen(path, "r");
			if (!f)
				continue;
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = '\0';
			fclose(f);
			if (strncmp(comm, prefix, strlen(prefix)))
				continue;
			if (bl_pin_tid(atoi(e->d_name), cpu) == 0 &&
			    setpriority(PRIO_PROCESS, atoi(e->d_name), nice_v) == 0)
				placed++;
		}
		if (d)
			closedir(d);
	}
	return placed;
}

/* ---- measurement window ------------------------------------------------- */

static void read_cpus(struct bl_cpu *c)
{
	char line[512];
	FILE *f = fopen("/proc/stat", "r");

	memset(c, 0, sizeof(*c) * BL_MAX_CPUS);
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long long v[8];
		int cpu;

		if (strncmp(line, "cpu", 3) || !isdigit((unsigned char)line[3]))
			continue;
		if (sscanf(line + 3, "%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0],
			   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 9 ||
		    cpu < 0 || cpu >= BL_MAX_CPUS)
			continue;
		c[cpu] = (struct bl_cpu){ v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] };
	}
	if (f)
		fclose(f);
}

void bl_window_start(struct bl_window *w)
{
	read_cpus(w->c0);
	w->t0 = bl_now();
}

void bl_window_stop(struct bl_window *w)
{
	w->t1 = bl_now();
	read_cpus(w->c1);
}

struct bl_cpu_use bl_window_cpu(const struct bl_window *w, int cpu)
{
	const struct bl_cpu *a = &w->c0[cpu], *b = &w->c1[cpu];
	double hz = sysconf(_SC_CLK_TCK);
	double user = (b->user + b->nice) - (a->user + a->nice);
	double sys = (double)b->system - a->system;
	double soft = (double)(b->softirq + b->irq) - (a->softirq + a->irq);
	double steal = (double)b->steal - a->steal;
	double idle = (double)(b->idle + b->iowait) - (a->idle + a->iowait);
	double total = user + sys + soft + steal + idle;
	struct bl_cpu_use u = {};

	if (total <= 0)
		return u;
	u.user_pct = 100 * user / total;
	u.sys_pct = 100 * sys / total;
	u.softirq_pct = 100 * soft / total;
	u.steal_pct = 100 * steal / total;
	u.busy_pct = u.user_pct + u.sys_pct + u.softirq_pct;
	u.busy_s = (user + sys + soft) / hz;
	return u;
}

double bl_loadavg(void)
{
	double l = 0;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f && fscanf(f, "%lf", &l) != 1)
		l = 0;
	if (f)
		fclose(f);
	return l;
}

long bl_rss_kb(const struct bl_opts *o)
{
	long sum = 0;

	for (int i = 0; i < o->n_pids; i++) {
		char path[64], line[256];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%d/status", o->pids[i]);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f)) {
			long kb;

			if (sscanf(line, "VmRSS: %ld", &kb) == 1)
				sum += kb;
		}
		if (f)
			fclose(f);
	}
	return sum;
}

/* ---- histogram ---------------------------------------------------------- */

double bl_hist_value(uint32_t b)
{
	int msb;
	double lo, width;

	if (b < LG_SUB)
		return b;
	msb = b / LG_SUB + LG_SUB_BITS - 1;
	width = ldexp(1.0, msb - LG_SUB_BITS);
	lo = ldexp(1.0, msb) + (b % LG_SUB) * width;
	return lo + width / 2;
}

double bl_hist_quantile(const uint64_t *hist, double q, uint64_t *samples)
{
	uint64_t n = 0, acc = 0, want;

	for (int i = 0; i < LG_HIST_BUCKETS; i++)
		n += hist[i];
	if (samples)
		*samples = n;
	if (!n)
		return NAN;
	want = (uint64_t)ceil(q * n);
	if (want < 1)
		want = 1;
	for (int i = 0; i < LG_HIST_BUCKETS; i++) {
		acc += hist[i];
		if (acc >= want)
			return bl_hist_value(i);
	}
	return bl_hist_value(LG_HIST_BUCKETS - 1);
}

double bl_hist_max(const uint64_t *hist)
{
	for (int i = LG_HIST_BUCKETS - 1; i >= 0; i--)
		if (hist[i])
			return bl_hist_value(i);
	return NAN;
}

/* ---- payload stamps (TCP clients) --------------------------------------- */

void bl_fill_payload(uint8_t *p, int len)
{
	uint64_t magic = LG_MAGIC;

	for (int i = 0; i < len; i++)
		p[i] = 'a' + i % 26;
	memset(p, 0, 8);
	memcpy(p + 8, &magic, 8);
}

void bl_stamp_payload(uint8_t *p)
{
	uint64_t now = bl_now_ns();

	memcpy(p, &now, 8);
}

int64_t bl_payload_age(const uint8_t *p, int len)
{
	uint64_t magic, sent, now;

	if (len < 16)
		return -1;
	memcpy(&magic, p + 8, 8);
	if (magic != LG_MAGIC)
		return -1;
	memcpy(&sent, p, 8);
	now = bl_now_ns();
	return now > sent ? (int64_t)(now - sent) : 0;
}

/* ---- CSV ---------------------------------------------------------------- */

#define MAX_ROWS 4096
static struct { int fanout, payload; double pubs; } done_rows[MAX_ROWS];
static int n_done;

static FILE *open_csv(const char *path, const char *header)
{
	struct stat st;
	bool fresh = stat(path, &st) != 0 || st.st_size == 0;
	FILE *f = fopen(path, "a");

	if (!f)
		bl_die("cannot write %s: %s", path, strerror(errno));
	if (fresh)
		fprintf(f, "%s\n", header);
	return f;
}

void bl_write_tput(const struct bl_opts *o, const struct bl_window *w, const struct bl_tput_row *r)
{
	struct bl_cpu_use b = bl_window_cpu(w, o->broker_cpu), g = bl_window_cpu(w, o->gen_cpu);
	double secs = w->t1 - w->t0;
	double deliv_total = r->delivered * secs;
	double loss = r->offered > 0 ? 100.0 * (1 - r->delivered / (r->offered * r->fanout)) : 0;
	FILE *f;

	if (n_done < MAX_ROWS)
		done_rows[n_done++] = (typeof(done_rows[0])){ r->fanout, r->payload,
							       r->delivered / r->fanout };
	bl_progress(o, "fan-out %2d payload %4d rep %d: offered %9.0f pub/s, delivered %9.0f msg/s "
		    "(loss %5.1f %%), broker CPU %3.0f %%, gen CPU %3.0f %%", r->fanout, r->payload,
		    r->rep, r->offered, r->delivered, loss, b.busy_pct, g.busy_pct);
	if (r->flood_offered > 0)
		bl_progress(o, "                                   flood: offered %9.0f pub/s, "
			    "delivered %9.0f msg/s", r->flood_offered, r->flood_delivered);
	if (!o->tput_csv)
		return;
	f = open_csv(o->tput_csv,
		     "system,fanout,payload,rep,duration_s,offered_msgs_s,delivered_msgs_s,loss_pct,"
		     "sub_min_msgs_s,sub_avg_msgs_s,sub_max_msgs_s,broker_cpu_pct,broker_user_pct,"
		     "broker_sys_pct,broker_softirq_pct,broker_steal_pct,gen_cpu_pct,"
		     "broker_cpu_ns_per_msg,rss_kb,flood_offered_msgs_s,flood_delivered_msgs_s,loadavg");
	fprintf(f, "%s,%d,%d,%d,%.3f,%.0f,%.0f,%.2f,%.0f,%.0f,%.0f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,"
		   "%.1f,%ld,%.0f,%.0f,%.2f\n",
		o->system, r->fanout, r->payload, r->rep, secs, r->offered, r->delivered,
		loss < 0 ? 0 : loss, r->sub_min, r->sub_avg, r->sub_max, b.busy_pct, b.user_pct,
		b.sys_pct, b.softirq_pct, b.steal_pct, g.busy_pct,
		deliv_total > 0 ? b.busy_s * 1e9 / deliv_total : 0, bl_rss_kb(o), r->flood_offered,
		r->flood_delivered, bl_loadavg());
	fclose(f);
}

void bl_write_lat(const struct bl_opts *o, const struct bl_window *w, const struct bl_lat_row *r)
{
	struct bl_cpu_use b = bl_window_cpu(w, o->broker_cpu), g = bl_window_cpu(w, o->gen_cpu);
	uint64_t n;
	double p50 = bl_hist_quantile(r->hist, 0.5, &n), p99 = bl_hist_quantile(r->hist, 0.99, NULL);
	double p999 = bl_hist_quantile(r->hist, 0.999, NULL), max = bl_hist_max(r->hist);
	double loss = r->offered > 0 ? 100.0 * (1 - r->delivered / (r->offered * r->fanout)) : 0;
	FILE *f;

	bl_progress(o, "latency fan-out %2d at %3d %% (%9.0f pub/s): p50 %8.1f us, p99 %8.1f us, "
		    "p99.9 %8.1f us, loss %5.1f %%", r->fanout, r->level, r->offered, p50 / 1e3,
		    p99 / 1e3, p999 / 1e3, loss);
	if (!o->lat_csv)
		return;
	f = open_csv(o->lat_csv,
		     "system,fanout,payload,level_pct,target_msgs_s,offered_msgs_s,delivered_msgs_s,"
		     "loss_pct,samples,p50_us,p99_us,p999_us,max_us,broker_cpu_pct,gen_cpu_pct,loadavg");
	fprintf(f, "%s,%d,%d,%d,%.0f,%.0f,%.0f,%.2f,%llu,%.2f,%.2f,%.2f,%.2f,%.1f,%.1f,%.2f\n", o->system,
		r->fanout, r->payload, r->level, r->target, r->offered, r->delivered,
		loss < 0 ? 0 : loss, (unsigned long long)n, p50 / 1e3, p99 / 1e3, p999 / 1e3,
		max / 1e3, b.busy_pct, g.busy_pct, bl_loadavg());
	fclose(f);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double bl_capacity(int fanout, int payload)
{
	double v[MAX_ROWS];
	int n = 0;

	for (int i = 0; i < n_done; i++)
		if (done_rows[i].fanout == fanout && done_rows[i].payload == payload)
			v[n++] = done_rows[i].pubs;
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
