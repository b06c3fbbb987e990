// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>
#include "util/log.h"

static int log_verbosity;
/* Is stderr the journal?  -1: not looked yet. */
static int log_journal = -1;
/* libbpf's first warning since pso_log_libbpf_reset(): a failed load or
 * attach quotes it in its one error line, whatever the verbosity. */
static char libbpf_first[200];

/*
 * systemd connects a service's stderr to the journal and says so in
 * JOURNAL_STREAM ("DEVICE:INODE" of that stream, systemd.exec(5)); the
 * variable alone proves nothing (children inherit it with another stderr),
 * so the stream itself is compared.
 */
static bool stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	if (!env || sscanf(env, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return false;
	if (fstat(STDERR_FILENO, &st))
		return false;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

const char *pso_log_sd_prefix(enum pso_log_level lvl)
{
	/* sd-daemon(3) levels: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
	static const char *const prefix[] = { "<3>", "<4>", "<6>", "<7>" };

	if (log_journal < 0)
		log_journal = stderr_is_journal();
	return log_journal ? prefix[lvl] : "";
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	static const enum pso_log_level lvl[] = {
		[LIBBPF_WARN] = PSO_LOG_WARN, [LIBBPF_INFO] = PSO_LOG_INFO,
		[LIBBPF_DEBUG] = PSO_LOG_DEBUG,
	};
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
	fputs(pso_log_sd_prefix(lvl[level]), stderr);
	return vfprintf(stderr, fmt, ap);
}

void pso_log_set_level(int verbosity)
{
	log_verbosity = verbosity;
	log_journal = stderr_is_journal();
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
	if (*pso_log_sd_prefix(lvl)) {
		/* The journal has the time, the name and the pid already. */
		fprintf(stderr, "%s%s: ", pso_log_sd_prefix(lvl), tag[lvl]);
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld psoffload %s: ", stamp, ts.tv_nsec / 1000000, tag[lvl]);
	}
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
