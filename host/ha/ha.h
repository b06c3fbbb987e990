/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ha.h - a broker group (--ha-group=NAME): brokers that share one etcd
 * store, one of them the leader.  The leader holds the store's "leader"
 * key under its lease and the group's virtual addresses (--vip); the
 * others are hot standbys, their data planes attached, their tables kept
 * in step with the store (the daemon applies the store's watch to them,
 * daemon/ha_env.c).
 *
 * The role machine, driven by pso_ha_tick() (every event-loop tick) and
 * pso_ha_watched() (the watch saw the leader key change):
 *   - a lease of --ha-lease-ttl seconds is granted, and kept alive every
 *     third of it; a member record (members/NAME) lives under it;
 *   - a standby that sees no leader key creates it (a compare-and-swap:
 *     only if absent) under its lease: then it is the leader;
 *     ops->promote() brings its tables up to the store's revision and
 *     serves; then the VIPs are added and announced;
 *   - a leader whose lease is not confirmed alive for the TTL (less a
 *     margin), or gone, removes the VIPs at once and is a standby again
 *     (ops->demote()): it never answers on a VIP it may no longer hold;
 *   - a step-down (psoffload ha step-down) deletes the leader key and
 *     holds off campaigning for one TTL, so another member takes it.
 * A member that comes back is a standby: nothing is taken back by itself.
 */
#ifndef PSO_HA_H
#define PSO_HA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ha/vip.h"

struct pso_store;

#define PSO_HA_TTL_DEFAULT 3		/* seconds */
#define PSO_HA_NAME_MAX 64

enum pso_ha_role {
	PSO_HA_STANDBY,
	PSO_HA_LEADER,
};

struct pso_ha_cfg {
	const char *group;		/* --ha-group */
	const char *member;		/* this broker's name in the group */
	const char *vips;		/* --vip list (may be NULL: no address) */
	unsigned int ttl_s;		/* --ha-lease-ttl */
};

struct pso_ha_ops {
	/* The leader key is ours: catch up with the store and serve.  A
	 * failure gives the key up again (0 or negative errno). */
	int (*promote)(void *ctx);
	/* No longer the leader (the VIPs are gone already): stop serving,
	 * become a copy of the store again. */
	void (*demote)(void *ctx, const char *why);
};

struct pso_ha_status {
	enum pso_ha_role role;
	char group[PSO_HA_NAME_MAX], member[PSO_HA_NAME_MAX];
	char leader[PSO_HA_NAME_MAX];	/* "" when none is known */
	uint64_t lease;			/* 0: none */
	unsigned int ttl_s;
	uint64_t lease_age_ms;		/* since the last keep-alive confirmed */
	uint64_t since_unix_ms;		/* in this role since */
	uint64_t promotions, demotions, fenced;
	bool store_reachable;
	int nvips;
	struct pso_vip vips[PSO_VIP_MAX];
};

struct pso_ha;

/* cfg's strings are copied.  0, or a negative errno with one line in err
 * (a bad --vip, a store without raw keys). */
int pso_ha_open(struct pso_ha **ha, const struct pso_ha_cfg *cfg, struct pso_store *store,
		const struct pso_ha_ops *ops, void *ctx, char *err, size_t errlen);
/* A leader gives everything up: VIPs removed, leader key deleted, lease
 * revoked. */
void pso_ha_close(struct pso_ha *ha);

/* The periodic work; now_ms: CLOCK_MONOTONIC. */
void pso_ha_tick(struct pso_ha *ha, uint64_t now_ms);
/* A watch saw the leader key at revision rev: deleted, or put with value
 * (the leader's name).  Never campaigns itself (it is called from inside
 * the store's watch): the next pso_ha_tick() does. */
void pso_ha_leader_seen(struct pso_ha *ha, bool deleted, const void *val, size_t len,
			uint64_t rev, uint64_t now_ms);
/* Give the leadership up for another member (-EALREADY: not the leader). */
int pso_ha_step_down(struct pso_ha *ha, uint64_t now_ms, char *err, size_t errlen);

/* Does every member of spec ("etcd:URL,...") refuse a connection, so that
 * none can run?  (false for any other spec, or when one answers or is
 * silent.) */
bool pso_ha_store_down(const char *spec);

bool pso_ha_leader(const struct pso_ha *ha);
void pso_ha_status(const struct pso_ha *ha, uint64_t now_ms, struct pso_ha_status *st);
const char *pso_ha_role_name(enum pso_ha_role role);

#endif /* PSO_HA_H */
