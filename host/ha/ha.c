// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ha.c - a broker group's role machine: lease, leader key, VIPs
 * (docs/DESIGN.md, "A broker group").
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include "ha/ha.h"
#include "store/store.h"
#include "util/log.h"

/* A leader gives up its VIPs this long before its lease could end in the
 * store: the keep-alive that confirmed it was sent earlier still, and a
 * standby can take the key only once the store has ended the lease. */
#define FENCE_MARGIN_MS 500
/* How often a standby reads the leader key itself, besides the watch. */
#define LEADER_POLL_MS 1000

struct pso_ha {
	struct pso_ha_cfg cfg;
	char group[PSO_HA_NAME_MAX], member[PSO_HA_NAME_MAX];
	struct pso_store *store;
	const struct pso_ha_ops *ops;
	void *ctx;
	enum pso_ha_role role;
	uint64_t since_unix_ms;
	/* the lease */
	uint64_t lease;
	uint64_t lease_ok_ms;		/* when the last confirmed keep-alive was sent */
	uint64_t next_keepalive_ms;
	/* the leader key */
	char leader[PSO_HA_NAME_MAX];	/* as last seen; "" none */
	bool leader_absent;		/* seen absent: campaign */
	uint64_t leader_rev;		/* ours: its mod revision */
	uint64_t leader_seen_rev;	/* the key's, when it has our name under
					 * another lease (leader_read) */
	uint64_t next_poll_ms;
	uint64_t hold_off_until_ms;	/* after a step-down */
	bool engine_down;		/* every member refuses: nobody can lead */
	bool unreachable_logged;
	uint64_t promotions, demotions, fenced;
	int nvips;
	struct pso_vip vips[PSO_VIP_MAX];
	/* The fence: a thread that removes the VIPs at fence_at_ms (0: not
	 * armed) unless a keep-alive moved it on; the event loop may be
	 * waiting on the store meanwhile (a partition: each request waits
	 * for its timeout), the thread never does.  mu guards the fence and
	 * the VIPs. */
	pthread_t fence_thread;
	bool fence_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t fence_at_ms;
	bool holding;			/* leading: the VIPs' lifetimes are renewed */
	bool fence_fired, fence_stop;
};

static uint64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Does no member of the store run at all?  Each member's address is tried
 * (a TCP connect, PROBE_MS at most): true only when every one refuses the
 * connection, i.e. its host answers and no etcd listens there.  Then no
 * member can grant the leader key to anybody, and a leader keeps its VIPs
 * (the data plane forwards on with its tables) until the store is back,
 * when its lease, restored with a full TTL by etcd's new leader, is kept
 * alive again.  A member that does not answer at all (a partition, a host
 * down) may be running for others: the leader then fences.
 */
#define PROBE_MS 300

static int probe_one(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	struct pollfd pfd = { .events = POLLOUT };
	int ret = -ETIMEDOUT, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (getaddrinfo(host, port, &hints, &ai) || !ai)
		return -EINVAL;
	pfd.fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pfd.fd < 0) {
		freeaddrinfo(ai);
		return -errno;
	}
	if (!connect(pfd.fd, ai->ai_addr, ai->ai_addrlen))
		ret = 0;
	else if (errno == ECONNREFUSED)
		ret = -ECONNREFUSED;
	else if (errno == EINPROGRESS && poll(&pfd, 1, PROBE_MS) == 1 &&
		 !getsockopt(pfd.fd, SOL_SOCKET, SO_ERROR, &soerr, &sl))
		ret = soerr ? -soerr : 0;
	close(pfd.fd);
	freeaddrinfo(ai);
	return ret;
}

bool pso_ha_store_down(const char *spec)
{
	char buf[512], *save = NULL, *url;
	int n = 0;

	if (strncmp(spec, "etcd:", 5))
		return false;
	snprintf(buf, sizeof(buf), "%s", spec + 5);
	for (url = strtok_r(buf, ",", &save); url; url = strtok_r(NULL, ",", &save)) {
		char *host = strstr(url, "://"), *port, *end;

		host = host ? host + 3 : url;
		end = strchr(host, '/');
		if (end)
			*end = '\0';
		if (*host == '[') {
			host++;
			end = strchr(host, ']');
			if (!end)
				return false;
			*end = '\0';
			port = end[1] == ':' ? end + 2 : "2379";
		} else {
			port = strrchr(host, ':');
			if (port)
				*port++ = '\0';
			else
				port = "2379";
		}
		if (probe_one(host, port) != -ECONNREFUSED)
			return false;
		n++;
	}
	return n > 0;
}

const char *pso_ha_role_name(enum pso_ha_role role)
{
	return role == PSO_HA_LEADER ? "leader" : "standby";
}

/* ---- the VIPs ------------------------------------------------------------------ */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The VIPs' lifetime in the kernel: a second less than the lease, so that
 * a leader killed with no time to remove them holds them no longer than
 * its lease lasts (refreshed with every tick that may keep them). */
static unsigned int vip_lifetime(const struct pso_ha *ha)
{
	return ha->cfg.ttl_s > 2 ? ha->cfg.ttl_s - 1 : 1;
}

static void vips_remove_locked(struct pso_ha *ha)
{
	char err[256];

	for (int i = 0; i < ha->nvips; i++)
		if (pso_vip_remove(&ha->vips[i], err, sizeof(err)))
			pso_err("ha: %s", err);
}

static void vips_remove(struct pso_ha *ha)
{
	pthread_mutex_lock(&ha->mu);
	vips_remove_locked(ha);
	pthread_mutex_unlock(&ha->mu);
}

static int vips_add(struct pso_ha *ha, char *err, size_t errlen)
{
	int ret = 0;

	pthread_mutex_lock(&ha->mu);
	for (int i = 0; !ret && i < ha->nvips; i++)
		ret = pso_vip_add(&ha->vips[i], vip_lifetime(ha), err, errlen);
	pthread_mutex_unlock(&ha->mu);
	return ret;
}

/* ---- the fence ------------------------------------------------------------------- */

/* at_ms 0: disarmed (a standby, or no member of the store runs). */
static void fence_arm(struct pso_ha *ha, uint64_t at_ms)
{
	pthread_mutex_lock(&ha->mu);
	ha->fence_at_ms = at_ms;
	pthread_cond_signal(&ha->cv);
	pthread_mutex_unlock(&ha->mu);
}

#define REFRESH_MS 500

/* The fence thread: while this broker leads (ha->holding), the VIPs'
 * lifetimes are renewed every REFRESH_MS; at fence_at_ms they go. */
static void *fence_main(void *arg)
{
	struct pso_ha *ha = arg;

	pthread_mutex_lock(&ha->mu);
	while (!ha->fence_stop) {
		uint64_t now = mono_ms(), wake = now + REFRESH_MS;
		struct timespec ts;
		char err[256];

		if (ha->fence_at_ms && now >= ha->fence_at_ms) {
			vips_remove_locked(ha);
			ha->fence_at_ms = 0;
			ha->holding = false;
			ha->fence_fired = true;
			continue;
		}
		if (ha->holding)
			for (int i = 0; i < ha->nvips; i++)
				if (ha->vips[i].held &&
				    pso_vip_refresh(&ha->vips[i], vip_lifetime(ha), err, sizeof(err)))
					pso_err("ha: %s", err);
		if (!ha->holding && !ha->fence_at_ms) {
			pthread_cond_wait(&ha->cv, &ha->mu);
			continue;
		}
		if (ha->fence_at_ms && ha->fence_at_ms < wake)
			wake = ha->fence_at_ms;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)((wake - now) / 1000);
		ts.tv_nsec += (long)((wake - now) % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&ha->cv, &ha->mu, &ts);
	}
	pthread_mutex_unlock(&ha->mu);
	return NULL;
}

/* Whether the fence thread renews the VIPs. */
static void set_holding(struct pso_ha *ha, bool on)
{
	pthread_mutex_lock(&ha->mu);
	ha->holding = on;
	pthread_cond_signal(&ha->cv);
	pthread_mutex_unlock(&ha->mu);
}

static bool fence_fired(struct pso_ha *ha)
{
	bool fired;

	pthread_mutex_lock(&ha->mu);
	fired = ha->fence_fired;
	ha->fence_fired = false;
	pthread_mutex_unlock(&ha->mu);
	return fired;
}

/* A leader's fence from its last confirmed keep-alive, or none. */
static void fence_update(struct pso_ha *ha)
{
	if (ha->role != PSO_HA_LEADER || ha->engine_down)
		fence_arm(ha, 0);
	else
		fence_arm(ha, ha->lease_ok_ms + ha->cfg.ttl_s * 1000ull - FENCE_MARGIN_MS);
}

/* ---- records ------------------------------------------------------------------- */

/* members/NAME: {"name", "role", "since"} under the lease, for operators
 * and for `psoffload status` on any member. */
static void member_write(struct pso_ha *ha)
{
	char key[16 + PSO_HA_NAME_MAX], val[256];
	int n;

	if (!ha->lease)
		return;
	snprintf(key, sizeof(key), PSO_STORE_KEY_MEMBERS "%s", ha->member);
	n = snprintf(val, sizeof(val), "{\"name\":\"%s\",\"role\":\"%s\",\"since_unix_ms\":%llu}",
		     ha->member, pso_ha_role_name(ha->role), (unsigned long long)ha->since_unix_ms);
	if (pso_store_raw_put(ha->store, key, val, (size_t)n, ha->lease, NULL))
		pso_debug("ha: cannot write %s", key);
}

static void set_role(struct pso_ha *ha, enum pso_ha_role role)
{
	ha->role = role;
	ha->since_unix_ms = unix_ms();
	member_write(ha);
}

/* ---- the roles ----------------------------------------------------------------- */

/* No longer the leader: the VIPs go first, before anything that may wait. */
static void demote(struct pso_ha *ha, const char *why)
{
	if (ha->role != PSO_HA_LEADER)
		return;
	fence_arm(ha, 0);
	set_holding(ha, false);
	vips_remove(ha);
	ha->demotions++;
	ha->leader_rev = 0;
	ha->leader[0] = '\0';
	pso_warn("ha %s: %s: not the leader any more (virtual addresses removed)", ha->group, why);
	ha->role = PSO_HA_STANDBY;
	ha->since_unix_ms = unix_ms();
	ha->ops->demote(ha->ctx, why);
	member_write(ha);
}

static void lease_lost(struct pso_ha *ha, const char *why)
{
	ha->lease = 0;
	if (ha->role == PSO_HA_LEADER) {
		ha->fenced++;
		demote(ha, why);
	}
}

static int lease_get(struct pso_ha *ha, uint64_t now_ms)
{
	int ret;

	if (ha->lease)
		return 0;
	ret = pso_store_lease_grant(ha->store, ha->cfg.ttl_s, &ha->lease);
	if (ret) {
		ha->lease = 0;
		return ret;
	}
	ha->lease_ok_ms = now_ms;
	ha->next_keepalive_ms = now_ms + ha->cfg.ttl_s * 1000ull / 3;
	member_write(ha);
	return 0;
}

static void leader_read(struct pso_ha *ha)
{
	char val[PSO_HA_NAME_MAX];
	size_t len = 0;
	uint64_t rev = 0, lease = 0;
	int ret = pso_store_raw_get(ha->store, PSO_STORE_KEY_LEADER, val, sizeof(val) - 1, &len,
				    &rev, &lease);

	if (ret == -ENOENT) {
		ha->leader[0] = '\0';
		ha->leader_absent = true;
	} else if (!ret) {
		val[len] = '\0';
		snprintf(ha->leader, sizeof(ha->leader), "%s", val);
		ha->leader_absent = false;
		/* This member's name under a lease that is not this lease:
		 * this broker's earlier life (a restart's exec, a crash) led.
		 * Nobody else can hold it: it is taken over (campaign). */
		ha->leader_seen_rev = lease != ha->lease ? rev : 0;
	}
}

/* The key is this member's, from its earlier life. */
static bool leader_was_mine(const struct pso_ha *ha)
{
	return !ha->leader_absent && ha->leader_seen_rev && !strcmp(ha->leader, ha->member);
}

static void campaign(struct pso_ha *ha, uint64_t now_ms)
{
	char err[256];
	uint64_t rev = 0, expect = leader_was_mine(ha) ? ha->leader_seen_rev : 0;
	int ret;

	ret = pso_store_raw_cas(ha->store, PSO_STORE_KEY_LEADER, expect, ha->member,
				strlen(ha->member), ha->lease, &rev);
	ha->leader_seen_rev = 0;
	if (ret == -ECANCELED) {
		leader_read(ha);
		return;
	}
	if (ret)
		return;
	ha->leader_rev = rev;
	snprintf(ha->leader, sizeof(ha->leader), "%s", ha->member);
	ha->leader_absent = false;
	ha->role = PSO_HA_LEADER;
	ha->promotions++;
	fence_update(ha);
	/* The addresses first: what the new leader sends after its catch-up
	 * (REGISTERs, resent QoS 1/2 messages) leaves from them. */
	ret = vips_add(ha, err, sizeof(err));
	set_holding(ha, true);
	if (ret) {
		pso_err("ha %s: %s: giving the leadership up", ha->group, err);
		goto give_up;
	}
	ret = ha->ops->promote(ha->ctx);
	if (ret) {
		pso_err("ha %s: cannot take over: %s: giving the leadership up", ha->group,
			strerror(-ret));
		goto give_up;
	}
	set_role(ha, PSO_HA_LEADER);
	pso_info("ha %s: %s is the leader (store revision %llu, lease %llx)", ha->group, ha->member,
		 (unsigned long long)rev, (unsigned long long)ha->lease);
	return;
give_up:
	ha->role = PSO_HA_STANDBY;
	fence_arm(ha, 0);
	set_holding(ha, false);
	vips_remove(ha);
	pso_store_raw_cas(ha->store, PSO_STORE_KEY_LEADER, rev, NULL, 0, 0, NULL);
	ha->leader_rev = 0;
	ha->hold_off_until_ms = now_ms + ha->cfg.ttl_s * 1000ull;
}

void pso_ha_tick(struct pso_ha *ha, uint64_t now_ms)
{
	uint64_t ttl_ms = ha->cfg.ttl_s * 1000ull;
	int ret;

	/* The fence fired (its thread removed the VIPs): a leader whose
	 * lease may have ended in the store answers on no VIP.  Unless no
	 * member of the store runs at all (each refuses the connection):
	 * then nobody can take the key, and the data plane goes on with
	 * its tables (the control requests are refused meanwhile). */
	if (fence_fired(ha) && ha->role == PSO_HA_LEADER)
		lease_lost(ha, "the lease could not be kept alive");
	ret = lease_get(ha, now_ms);
	if (ret) {
		ha->engine_down = pso_ha_store_down(pso_store_spec(ha->store));
		fence_update(ha);
		if (!ha->unreachable_logged) {
			pso_warn("ha %s: the store cannot grant a lease: %s", ha->group,
				 strerror(-ret));
			ha->unreachable_logged = true;
		}
		return;
	}
	if (now_ms >= ha->next_keepalive_ms) {
		uint64_t sent = now_ms;

		ret = pso_store_lease_keepalive(ha->store, ha->lease);
		ha->next_keepalive_ms = now_ms + ttl_ms / 3;
		if (!ret) {
			ha->lease_ok_ms = sent;
			ha->engine_down = false;
			fence_update(ha);
			if (ha->unreachable_logged) {
				pso_info("ha %s: the store answers again", ha->group);
				ha->unreachable_logged = false;
			}
		} else if (ret == -ENOENT) {
			lease_lost(ha, "the store ended the lease");
			ha->engine_down = false;
			return;
		} else {
			ha->engine_down = pso_ha_store_down(pso_store_spec(ha->store));
			fence_update(ha);
			if (!ha->unreachable_logged) {
				pso_warn("ha %s: lease keep-alive failed: %s%s", ha->group,
					 strerror(-ret), ha->engine_down ?
					 " (no member of the store runs: nobody can take over; "
					 "forwarding goes on)" : "");
				ha->unreachable_logged = true;
			}
			return;
		}
	}
	if (ha->role == PSO_HA_LEADER)
		return;
	if (now_ms >= ha->next_poll_ms) {
		leader_read(ha);
		ha->next_poll_ms = now_ms + LEADER_POLL_MS;
	}
	if ((ha->leader_absent && now_ms >= ha->hold_off_until_ms) || leader_was_mine(ha))
		campaign(ha, now_ms);
}

void pso_ha_leader_seen(struct pso_ha *ha, bool deleted, const void *val, size_t len,
			uint64_t rev, uint64_t now_ms)
{
	/* What happened before this member took the key is history. */
	if (ha->role == PSO_HA_LEADER && rev <= ha->leader_rev)
		return;
	if (deleted) {
		ha->leader[0] = '\0';
		ha->leader_absent = true;
		ha->leader_seen_rev = 0;
		if (ha->role == PSO_HA_LEADER)
			lease_lost(ha, "the leader key was deleted");
		/* A standby campaigns from pso_ha_tick(), which the daemon
		 * calls next: not from inside the store's watch. */
		return;
	}
	if (len >= sizeof(ha->leader))
		len = sizeof(ha->leader) - 1;
	memcpy(ha->leader, val, len);
	ha->leader[len] = '\0';
	ha->leader_absent = false;
	if (ha->role == PSO_HA_LEADER && strcmp(ha->leader, ha->member))
		lease_lost(ha, "another member holds the leader key");
}

int pso_ha_step_down(struct pso_ha *ha, uint64_t now_ms, char *err, size_t errlen)
{
	uint64_t rev = ha->leader_rev;
	int ret;

	if (ha->role != PSO_HA_LEADER) {
		snprintf(err, errlen, "not the leader (%s is)", ha->leader[0] ? ha->leader : "none");
		return -EALREADY;
	}
	/* The addresses go before the key: at no time do two answer. */
	ha->hold_off_until_ms = now_ms + ha->cfg.ttl_s * 1000ull;
	demote(ha, "step-down asked");
	ret = pso_store_raw_cas(ha->store, PSO_STORE_KEY_LEADER, rev, NULL, 0, 0, NULL);
	if (ret) {
		snprintf(err, errlen, "the leader key could not be deleted (%s): another member "
			 "takes it when this lease ends", strerror(-ret));
		/* The lease holds the key: end it. */
		pso_store_lease_revoke(ha->store, ha->lease);
		ha->lease = 0;
		return 0;
	}
	return 0;
}

/* ---- open, close, status ------------------------------------------------------- */

int pso_ha_open(struct pso_ha **out, const struct pso_ha_cfg *cfg, struct pso_store *store,
		const struct pso_ha_ops *ops, void *ctx, char *err, size_t errlen)
{
	struct pso_ha *ha = calloc(1, sizeof(*ha));
	char why[160];
	int ret;

	if (!ha) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ha->cfg = *cfg;
	snprintf(ha->group, sizeof(ha->group), "%s", cfg->group);
	snprintf(ha->member, sizeof(ha->member), "%s", cfg->member);
	ha->cfg.group = ha->group;
	ha->cfg.member = ha->member;
	ha->cfg.vips = NULL;
	if (!ha->cfg.ttl_s)
		ha->cfg.ttl_s = PSO_HA_TTL_DEFAULT;
	ha->store = store;
	ha->ops = ops;
	ha->ctx = ctx;
	ha->role = PSO_HA_STANDBY;
	ha->since_unix_ms = unix_ms();
	if (cfg->vips) {
		ret = pso_vip_parse_list(cfg->vips, ha->vips, PSO_VIP_MAX, &ha->nvips, why,
					 sizeof(why));
		if (ret) {
			snprintf(err, errlen, "bad --vip '%s': %s", cfg->vips, why);
			free(ha);
			return ret;
		}
	}
	ret = pso_store_raw_get(store, PSO_STORE_KEY_LEADER, why, sizeof(why), &(size_t){ 0 }, NULL,
				NULL);
	if (ret == -EOPNOTSUPP) {
		snprintf(err, errlen, "--ha-group needs a store the group shares: --store=etcd:URL,...");
		free(ha);
		return ret;
	}
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&ha->cv, &ca);
		pthread_condattr_destroy(&ca);
		pthread_mutex_init(&ha->mu, NULL);
	}
	ret = pthread_create(&ha->fence_thread, NULL, fence_main, ha);
	if (ret) {
		snprintf(err, errlen, "cannot start the fence thread: %s", strerror(ret));
		free(ha);
		return -ret;
	}
	ha->fence_started = true;
	/* A VIP left on an interface by this broker's earlier life: not
	 * ours until we lead again, unless that life leads still (a
	 * restart's exec): then the first tick takes the key over, and the
	 * VIP is added again (it is there: nothing moves). */
	leader_read(ha);
	if (!leader_was_mine(ha))
		vips_remove(ha);
	*out = ha;
	return 0;
}

void pso_ha_close(struct pso_ha *ha)
{
	if (!ha)
		return;
	if (ha->role == PSO_HA_LEADER) {
		set_holding(ha, false);
		vips_remove(ha);
		pso_store_raw_cas(ha->store, PSO_STORE_KEY_LEADER, ha->leader_rev, NULL, 0, 0, NULL);
		pso_info("ha %s: stopping: the leadership is free", ha->group);
	}
	if (ha->lease)
		pso_store_lease_revoke(ha->store, ha->lease);
	if (ha->fence_started) {
		pthread_mutex_lock(&ha->mu);
		ha->fence_stop = true;
		pthread_cond_signal(&ha->cv);
		pthread_mutex_unlock(&ha->mu);
		pthread_join(ha->fence_thread, NULL);
	}
	pthread_mutex_destroy(&ha->mu);
	pthread_cond_destroy(&ha->cv);
	free(ha);
}

bool pso_ha_leader(const struct pso_ha *ha)
{
	return ha && ha->role == PSO_HA_LEADER;
}

void pso_ha_status(const struct pso_ha *ha, uint64_t now_ms, struct pso_ha_status *st)
{
	memset(st, 0, sizeof(*st));
	st->role = ha->role;
	snprintf(st->group, sizeof(st->group), "%s", ha->group);
	snprintf(st->member, sizeof(st->member), "%s", ha->member);
	snprintf(st->leader, sizeof(st->leader), "%s", ha->leader);
	st->lease = ha->lease;
	st->ttl_s = ha->cfg.ttl_s;
	st->lease_age_ms = ha->lease && now_ms > ha->lease_ok_ms ? now_ms - ha->lease_ok_ms : 0;
	st->since_unix_ms = ha->since_unix_ms;
	st->promotions = ha->promotions;
	st->demotions = ha->demotions;
	st->fenced = ha->fenced;
	st->store_reachable = pso_store_stats(ha->store)->reachable;
	st->nvips = ha->nvips;
	pthread_mutex_lock((pthread_mutex_t *)&ha->mu);
	memcpy(st->vips, ha->vips, sizeof(st->vips));
	pthread_mutex_unlock((pthread_mutex_t *)&ha->mu);
}
