/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * notify.h - what the service manager learns of the broker, through
 * libsystemd's sd_notify (sd_notify(3)): READY=1 once every interface is
 * attached and the socket bound, STATUS= when the modes or the number of
 * clients change, WATCHDOG=1 from the event loop when the unit sets
 * WatchdogSec=, RELOADING=1 around a reload and STOPPING=1 on the way out.
 * Without NOTIFY_SOCKET (not started by systemd) every call does nothing.
 */
#ifndef PSO_NOTIFY_H
#define PSO_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

struct pso_notify {
	uint64_t watchdog_ms;		/* ping interval; 0: no watchdog */
	uint64_t next_watchdog_ms;
	bool failed;			/* a send failed (logged once) */
	char status[256];		/* the STATUS= last sent */
};

/* The watchdog's interval (half of WATCHDOG_USEC, as sd_watchdog_enabled(3)
 * advises) and the first ping's time. */
void pso_notify_init(struct pso_notify *n, uint64_t now_ms);

/* READY=1 with this status line (after start, and after a reload). */
void pso_notify_ready(struct pso_notify *n, const char *status);
/* STATUS=, when the text differs from the last sent. */
void pso_notify_status(struct pso_notify *n, const char *status);
void pso_notify_reloading(struct pso_notify *n);
void pso_notify_stopping(struct pso_notify *n, const char *status);

/* WATCHDOG=1 when a ping is due; returns the milliseconds to the next one
 * (the event loop's longest wait), or -1 without a watchdog. */
int pso_notify_watchdog(struct pso_notify *n, uint64_t now_ms);

#endif /* PSO_NOTIFY_H */
