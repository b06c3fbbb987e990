// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * restart.c - restart and recovery, the daemon's side (docs/DESIGN.md,
 * "Restart and recovery"):
 *   - the handover: on SIGUSR2 or `psoffload restart` the daemon execs the
 *     binary now at its path, the same PID, passing its UDP socket, its
 *     control socket and its pin-directory lock (PSOFFLOAD_HANDOVER); it
 *     detaches nothing and says nothing to the clients;
 *   - the adoption: a daemon that found its pin directory's data plane
 *     running (a handover, or a crash before it) reads the tables back,
 *     loads the store's sessions (pso_broker_load_store) and reconciles:
 *     what no session claims becomes a placeholder (adopted.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include "daemon/adopted.h"
#include "daemon/ctlsock.h"
#include "store/store.h"
#include "daemon/daemon.h"
#include "daemon/metrics.h"
#include "proto/mqttsn.h"
#include "proto/topics.h"
#include "util/log.h"

#define HANDOVER_ENV "PSOFFLOAD_HANDOVER"

static int set_cloexec(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFD);

	if (fl < 0)
		return -errno;
	fl = on ? fl | FD_CLOEXEC : fl & ~FD_CLOEXEC;
	return fcntl(fd, F_SETFD, fl) ? -errno : 0;
}

int pso_handover_take(struct pso_handover *h, char *err, size_t errlen)
{
	const char *v = getenv(HANDOVER_ENV);
	int n;

	memset(h, 0, sizeof(*h));
	h->sock = h->ctl = h->lock = -1;
	if (!v)
		return 0;
	n = sscanf(v, "1 sock=%d ctl=%d lock=%d since=%llu", &h->sock, &h->ctl, &h->lock,
		   (unsigned long long *)&h->since_ms);
	unsetenv(HANDOVER_ENV);
	if (n != 4 || h->sock < 0 || fcntl(h->sock, F_GETFD) < 0 ||
	    (h->ctl >= 0 && fcntl(h->ctl, F_GETFD) < 0) || (h->lock >= 0 && fcntl(h->lock, F_GETFD) < 0)) {
		snprintf(err, errlen, "restart: bad %s '%s' (not from a psoffload handing over?)",
			 HANDOVER_ENV, v);
		return -EINVAL;
	}
	/* Ours now, and no further exec's but through a handover. */
	set_cloexec(h->sock, true);
	if (h->ctl >= 0)
		set_cloexec(h->ctl, true);
	if (h->lock >= 0)
		set_cloexec(h->lock, true);
	h->active = true;
	return 0;
}

/* The binary at the path we were started from, now (a new one included). */
static int self_path(char *buf, size_t len)
{
	static const char deleted[] = " (deleted)";
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	size_t dl = sizeof(deleted) - 1;

	if (n < 0)
		return -errno;
	buf[n] = '\0';
	/* Replaced on disk: the path names the new file. */
	if ((size_t)n > dl && !strcmp(buf + n - dl, deleted))
		buf[n - dl] = '\0';
	return 0;
}

int pso_broker_exec(struct pso_broker *b, char *const argv[], char *err, size_t errlen)
{
	char path[PATH_MAX], env[128];
	int ctl = pso_ctlsock_listen_fd(b->ctlsock), ret;

	if (!b->cfg.pin_dir) {
		snprintf(err, errlen, "restart: no pin directory (the data plane cannot outlive the "
			 "process); stop and start instead");
		return -EINVAL;
	}
	ret = self_path(path, sizeof(path));
	if (ret || access(path, X_OK)) {
		snprintf(err, errlen, "restart: cannot find the binary to run (%s): %s", path,
			 strerror(ret ? -ret : errno));
		return ret ? ret : -errno;
	}
	pso_notify_reloading(&b->notify);
	pso_info("restart: handing over to %s (pid %d; the data plane keeps running)", path,
		 (int)getpid());
	/* The maps at rest, so the next daemon reads a state at rest: every
	 * pending change finishes (a grace period or two). */
	pso_tables_defer_stop(&b->tables);
	/* What this round changed, in the store the next daemon loads (its
	 * file closes with the exec: SQLite opens it close-on-exec). */
	pso_broker_flush_store(b);
	/* The scrape port is bound anew by the next daemon. */
	pso_metrics_stop(b->metrics);
	b->metrics = NULL;
	snprintf(env, sizeof(env), "1 sock=%d ctl=%d lock=%d since=%llu", b->sock, ctl,
		 b->pin_lock.fd, (unsigned long long)realtime_ms_now());
	if (set_cloexec(b->sock, false) || (ctl >= 0 && set_cloexec(ctl, false)) ||
	    (b->pin_lock.fd >= 0 && set_cloexec(b->pin_lock.fd, false)) ||
	    setenv(HANDOVER_ENV, env, 1)) {
		ret = -errno;
		goto undo;
	}
	fflush(NULL);
	execv(path, argv);
	ret = -errno;
undo:
	unsetenv(HANDOVER_ENV);
	set_cloexec(b->sock, true);
	if (ctl >= 0)
		set_cloexec(ctl, true);
	if (b->pin_lock.fd >= 0)
		set_cloexec(b->pin_lock.fd, true);
	pso_tables_defer_start(&b->tables);
	snprintf(err, errlen, "restart: cannot exec %s: %s; still running as before (without "
		 "metrics)", path, strerror(-ret));
	return ret;
}

/* ---- after an adoption ------------------------------------------------------ */

/* An id an unclaimed slot is in, whose name no one told us: kept from new
 * names (a new topic must not land on subscribers of an old one). */
static int reserve_id(uint16_t id, void *ctx)
{
	struct pso_broker *b = ctx;
	struct pso_registry *reg = pso_proto_registry(b->proto);
	char name[32];

	if (pso_registry_name(reg, id))
		return 0;
	snprintf(name, sizeof(name), "$adopted/%u", id);
	if (!pso_registry_restore(reg, id, name))
		b->adopted_reserved++;
	return 0;
}

int pso_broker_adopt(struct pso_broker *b, char *err, size_t errlen)
{
	struct pso_tables_adoption res;
	uint64_t t0 = realtime_ms_now();
	int ret;

	ret = pso_tables_adopt(&b->tables, &res, err, errlen);
	if (ret)
		return ret;
	b->adopted = pso_adopted_new(&b->tables, b->now_ms, b->cfg.adopt_grace_s * 1000ull);
	if (!b->adopted) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	pso_info("adopted the data plane of %s in %s (build %s): %u topics, %llu subscriber slots "
		 "(%u disabled mid-change), %u clients; %u topic%s repaired; %u ids kept as "
		 "$adopted/ID; unclaimed entries expire after %u s of silence",
		 b->cfg.pin_dir, b->handover.active ? "a handover" : "a crash", b->dp.adopted_build,
		 res.topics, (unsigned long long)res.subs, res.disabled, res.clients, res.repaired,
		 res.repaired == 1 ? "" : "s", b->adopted_reserved, b->cfg.adopt_grace_s);
	b->adopt_ms = realtime_ms_now() - t0;
	return 0;
}

/*
 * After the store's sessions are loaded (pso_broker_load_store, store_env.c):
 * they took their adopted entries over through proto_env.c (client_add and
 * slot_add find them adopted).  A store that keeps sessions said which
 * exist, so the entries nobody claimed are stale; without one they wait
 * as placeholders.  Topic ids in use with no name known are kept as
 * $adopted/ID, after the store gave back the names it has.
 */
void pso_broker_adopt_settle(struct pso_broker *b)
{
	if (!b->adopted)
		return;
	if (pso_store_persistent(b->store)) {
		uint32_t n = pso_adopted_expire(b->adopted, b->now_ms, true);

		pso_info("adopt: %u endpoint%s of no stored session removed", n, n == 1 ? "" : "s");
	}
	pso_adopted_foreach_topic(b->adopted, reserve_id, b);
	if (b->adopted_reserved)
		pso_info("adopt: %u topic id%s in use with no name known kept as $adopted/ID",
			 b->adopted_reserved, b->adopted_reserved == 1 ? "" : "s");
}

/*
 * A datagram from a placeholder (an adopted endpoint no session claimed):
 * a PINGREQ is answered as its lost session would have been, so that a
 * client that only pings and subscribes keeps what the data plane serves
 * it.  Everything else goes to the protocol layer (a CONNECT claims).
 * true: handled here.
 */
bool pso_broker_placeholder_input(struct pso_broker *b, const struct pso_rx *rx,
				  const uint8_t *buf, size_t len)
{
	static const uint8_t pingresp[] = { 2, MQTTSN_PINGRESP };
	size_t hdr = len >= 1 && buf[0] == MQTTSN_LEN_3BYTE_MARK ? 3 : 1;

	if (!b->adopted || len <= hdr || buf[hdr] != MQTTSN_PINGREQ ||
	    !pso_adopted_has(b->adopted, &rx->ep))
		return false;
	pso_adopted_touch(b->adopted, &rx->ep, b->now_ms);
	pso_broker_proto_ops.send(b, &rx->ep, &rx->local, pingresp, sizeof(pingresp));
	b->placeholder_pings++;
	return true;
}
