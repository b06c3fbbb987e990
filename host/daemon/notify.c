// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * notify.c - the broker's state for the service manager (sd_notify), and
 * the one status line it shows (`systemctl status`): each interface with
 * its mode, then clients and topics.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-daemon.h>
#include "daemon/daemon.h"
#include "daemon/notify.h"
#include "util/log.h"

/* sd_notify() returns 0 when NOTIFY_SOCKET is unset: nothing to tell. */
static void send_state(struct pso_notify *n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int ret;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ret = sd_notify(0, msg);
	if (ret < 0 && !n->failed) {
		n->failed = true;
		pso_warn("cannot notify the service manager (NOTIFY_SOCKET): %s", strerror(-ret));
	}
}

void pso_notify_init(struct pso_notify *n, uint64_t now_ms)
{
	uint64_t usec = 0;

	memset(n, 0, sizeof(*n));
	if (sd_watchdog_enabled(0, &usec) > 0 && usec) {
		n->watchdog_ms = usec / 2000;
		if (!n->watchdog_ms)
			n->watchdog_ms = 1;
		n->next_watchdog_ms = now_ms;
		pso_debug("watchdog: WATCHDOG=1 every %llu ms (WATCHDOG_USEC=%llu)",
			  (unsigned long long)n->watchdog_ms, (unsigned long long)usec);
	}
}

void pso_notify_ready(struct pso_notify *n, const char *status)
{
	snprintf(n->status, sizeof(n->status), "%s", status);
	send_state(n, "READY=1\nSTATUS=%s", status);
}

void pso_notify_status(struct pso_notify *n, const char *status)
{
	if (!strcmp(n->status, status))
		return;
	snprintf(n->status, sizeof(n->status), "%s", status);
	send_state(n, "STATUS=%s", status);
}

void pso_notify_reloading(struct pso_notify *n)
{
	struct timespec ts;

	/* MONOTONIC_USEC: what systemd 253's Type=notify-reload asks for;
	 * older versions ignore it. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	send_state(n, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu",
		   (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
}

void pso_notify_stopping(struct pso_notify *n, const char *status)
{
	snprintf(n->status, sizeof(n->status), "%s", status);
	send_state(n, "STOPPING=1\nSTATUS=%s", status);
}

int pso_notify_watchdog(struct pso_notify *n, uint64_t now_ms)
{
	if (!n->watchdog_ms)
		return -1;
	if (now_ms >= n->next_watchdog_ms) {
		send_state(n, "WATCHDOG=1");
		n->next_watchdog_ms = now_ms + n->watchdog_ms;
	}
	return (int)(n->next_watchdog_ms - now_ms);
}

void pso_broker_status_line(struct pso_broker *b, char *buf, size_t len)
{
	size_t off = 0;
	uint32_t nclients = pso_proto_nclients(b->proto);

	buf[0] = '\0';
	for (int i = 0; i < b->ctl.nifaces && off < len; i++) {
		const struct pso_iface *f = &b->ctl.ifaces[i];
		const char *state = !f->ifindex ? "gone" : !f->attached ? "detached" :
				    pso_mode_name(f->mode);

		off += (size_t)snprintf(buf + off, len - off, "%s%s %s%s", i ? ", " : "", f->name, state,
					f->ifindex && f->attached && !f->up ? " (down)" : "");
	}
	if (off < len)
		snprintf(buf + off, len - off, "; %u client%s, %u topic%s", nclients,
			 nclients == 1 ? "" : "s", pso_proto_ntopics(b->proto),
			 pso_proto_ntopics(b->proto) == 1 ? "" : "s");
}
