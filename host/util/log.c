// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <bpf/libbpf.h>
#include "util/log.h"

static int log_verbosity;
/* libbpf's first warning since pso_log_libbpf_reset(): a failed load or
 * attach quotes it in its one error line, whatever the verbosity. */
static char libbpf_first[200];

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN && !libbpf_first[0]) {
		va_list aq;

		va_copy(aq, ap);
		vsnprintf(libbpf_first, sizeof(libbpf_first), fmt, aq);
		va_end(aq);
		/* Offloaded maps refuse BTF and libbpf retries without: expected. */
		if (strstr(libbpf_first, "Retrying without BTF"))
			libbpf_first[0] = '\0';
		libbpf_first[strcspn(libbpf_first, "\n")] = '\0';
	}
	if (log_verbosity < (level == LIBBPF_DEBUG ? 2 : 1))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void pso_log_set_level(int verbosity)
{
	log_verbosity = verbosity;
	libbpf_set_print(libbpf_print);
}

void pso_log(enum pso_log_level lvl, const char *fmt, ...)
{
	static const char *const tag[] = { "error", "warning", "info", "debug" };
	struct timespec ts;
	struct tm tm;
	char stamp[16];
	va_list ap;

	if (lvl == PSO_LOG_DEBUG && log_verbosity < 1)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ld psoffload %s: ", stamp, ts.tv_nsec / 1000000, tag[lvl]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void pso_log_libbpf_reset(void)
{
	libbpf_first[0] = '\0';
}

const char *pso_log_libbpf_first(void)
{
	return libbpf_first;
}
