/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * log.h - one place for the daemon's messages.  Default level: one line per
 * significant event; -v adds debug lines and libbpf's own messages.
 */
#ifndef PSO_LOG_H
#define PSO_LOG_H

enum pso_log_level { PSO_LOG_ERR, PSO_LOG_WARN, PSO_LOG_INFO, PSO_LOG_DEBUG };

void pso_log_set_level(int verbosity);	/* 0 = info, 1+ = debug + libbpf */
void pso_log(enum pso_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "<3>" ... "<7>" (sd-daemon(3)) when stderr is the journal
 * (JOURNAL_STREAM names it), so that journalctl knows each line's
 * priority; "" otherwise.  For the lines printed without pso_log(). */
const char *pso_log_sd_prefix(enum pso_log_level lvl);

/* libbpf's first warning since the reset ("" if none), for error lines. */
void pso_log_libbpf_reset(void);
const char *pso_log_libbpf_first(void);

#define pso_err(...)   pso_log(PSO_LOG_ERR, __VA_ARGS__)
#define pso_warn(...)  pso_log(PSO_LOG_WARN, __VA_ARGS__)
#define pso_info(...)  pso_log(PSO_LOG_INFO, __VA_ARGS__)
#define pso_debug(...) pso_log(PSO_LOG_DEBUG, __VA_ARGS__)

#endif /* PSO_LOG_H */
