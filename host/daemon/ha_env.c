// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ha_env.c - the daemon in a broker group (ha/ha.h): the role machine's
 * promote and demote, and a standby's copy of the store.
 *
 * A standby is built as a restart is: pso_broker_load_store() imports
 * every record at start (connected sessions get their client entries and
 * slots, not servable).  From there it follows the store's watch:
 * pso_proto_apply() replaces a record it had with the leader's newer one,
 * or forgets a deleted one, through the same import path; a watch that
 * cannot go on from its revision (compacted, or a standby again after
 * leading) lists the store whole again.  What the layer reports as
 * changed while it applies is discarded: a standby never writes.
 *
 * Promotion is what a restart does once its socket is open:
 * pso_broker_resume_store() (REGISTERs not yet told, slots servable,
 * outboxes resent with DUP, every connected session a full keep-alive
 * period of grace from now).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "ctl/nexthop.h"
#include "daemon/daemon.h"
#include "ha/ha.h"
#include "proto/persist.h"
#include "store/store.h"
#include "util/log.h"

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool pso_broker_serving(const struct pso_broker *b)
{
	return !b->ha || pso_ha_leader(b->ha);
}

/* ---- a standby's copy ------------------------------------------------------------ */

static int apply_one(const struct pso_store_item *it, void *arg)
{
	struct pso_broker *b = arg;
	char why[256];

	if (it->raw) {
		if (!strcmp(it->raw->key, PSO_STORE_KEY_LEADER))
			pso_ha_leader_seen(b->ha, it->deleted, it->raw->val, it->raw->len,
					   it->mod_rev, mono_ms());
		return 0;
	}
	if (!it->rec)
		return 0;
	/* The leader's own writes come back to it: it has them already. */
	if (pso_ha_leader(b->ha))
		return 0;
	if (pso_proto_apply(b->proto, it->rec, it->deleted, mono_ms(), realtime_ms_now(), why,
			    sizeof(why)))
		pso_warn("ha: store change not applied: %s", why);
	b->ha_applied++;
	return 0;
}

/* The whole store again: every session forgotten, every record applied. */
static int relist(struct pso_broker *b)
{
	uint64_t rev = 0, t0 = mono_ms();
	uint32_t forgot;
	int ret;

	forgot = pso_proto_forget_sessions(b->proto);
	ret = pso_store_list(b->store, 0, 0, apply_one, b, &rev);
	pso_broker_discard_changes(b);
	if (ret)
		return ret;
	b->store_rev = rev;
	b->ha_relist = false;
	pso_info("ha: the store listed again at revision %llu (%u session%s forgotten first) in "
		 "%llu ms", (unsigned long long)rev, forgot, forgot == 1 ? "" : "s",
		 (unsigned long long)(mono_ms() - t0));
	b->status_dirty = true;
	return 0;
}

/* Apply what the watch has; 0, or a negative errno (the store unreachable). */
static int catch_up(struct pso_broker *b)
{
	uint64_t next = b->store_rev;
	int ret;

	if (b->ha_relist)
		return relist(b);
	ret = pso_store_watch(b->store, b->store_rev, apply_one, b, &next);
	pso_broker_discard_changes(b);
	if (ret == -ENODATA) {
		pso_info("ha: the store no longer has the changes after revision %llu: listing it "
			 "again", (unsigned long long)b->store_rev);
		return relist(b);
	}
	if (ret)
		return ret;
	if (next > b->store_rev)
		b->status_dirty = true;
	b->store_rev = next;
	return 0;
}

void pso_broker_ha_watch(struct pso_broker *b)
{
	if (!b->ha)
		return;
	catch_up(b);
	/* A leader key the watch saw go is campaigned for now, not at the
	 * next tick. */
	pso_ha_tick(b->ha, mono_ms());
}

int pso_broker_ha_fd(const struct pso_broker *b)
{
	int fd;

	if (!b->ha)
		return -1;
	fd = pso_store_watch_fd(b->store);
	return fd >= 0 ? fd : -1;
}

void pso_broker_ha_tick(struct pso_broker *b)
{
	if (!b->ha)
		return;
	if (!pso_ha_leader(b->ha))
		catch_up(b);
	pso_ha_tick(b->ha, mono_ms());
}

/* ---- the roles ----------------------------------------------------------------- */

static int ha_promote(void *ctx)
{
	struct pso_broker *b = ctx;
	uint64_t t0 = mono_ms();
	int ret;

	/* Up to the store's revision first: what the old leader wrote last
	 * is what its clients were acknowledged. */
	ret = catch_up(b);
	if (ret)
		return ret;
	/* The VIPs are on the interfaces now (ha.c adds them first): the
	 * ports take them as their data-plane address before any slot is
	 * servable, so that no copy leaves from the node's own address
	 * (a client whose socket is connected to the VIP would answer it
	 * with an ICMP port unreachable, and lose its session here). */
	pso_nh_process(b->nh);
	if (b->nh_changed) {
		b->nh_changed = false;
		pso_ctl_links_changed(&b->ctl);
		pso_proto_resolve_all(b->proto);
	}
	pso_broker_resume_store(b);
	b->now_ms = mono_ms();
	if (b->cfg.advertise_s)
		b->next_advertise_ms = b->now_ms;
	b->status_dirty = true;
	pso_info("ha: serving at store revision %llu, %llu ms after taking the leader key",
		 (unsigned long long)b->store_rev, (unsigned long long)(b->now_ms - t0));
	return 0;
}

static void ha_demote(void *ctx, const char *why)
{
	struct pso_broker *b = ctx;

	/* What it had not written is the new leader's to decide now. */
	pso_broker_discard_changes(b);
	pso_store_drop_queued(b->store);
	b->ha_relist = true;
	b->status_dirty = true;
}

static const struct pso_ha_ops ha_ops = {
	.promote = ha_promote,
	.demote = ha_demote,
};

int pso_broker_open_ha(struct pso_broker *b, char *err, size_t errlen)
{
	struct pso_ha_cfg cfg = {
		.group = b->cfg.ha_group, .member = b->name, .vips = b->cfg.vips,
		.ttl_s = b->cfg.ha_ttl_s,
	};

	if (!b->cfg.ha_group) {
		if (b->cfg.vips) {
			snprintf(err, errlen, "--vip needs --ha-group: a virtual address belongs to "
				 "a group's leader");
			return -EINVAL;
		}
		return 0;
	}
	struct pso_ha_status st;
	int ret;

	ret = pso_ha_open(&b->ha, &cfg, b->store, &ha_ops, b, err, errlen);
	if (ret)
		return ret;
	/* While this broker holds a VIP, the data plane serves on it and
	 * sends from it (pso_nh_link). */
	pso_ha_status(b->ha, mono_ms(), &st);
	for (int i = 0; i < st.nvips; i++)
		if (pso_nh_prefer(b->nh, st.vips[i].family, st.vips[i].addr)) {
			snprintf(err, errlen, "too many virtual addresses");
			return -E2BIG;
		}
	pso_info("ha %s: member %s, a standby (lease TTL %u s, %d virtual address%s)",
		 st.group, st.member, st.ttl_s, st.nvips, st.nvips == 1 ? "" : "es");
	return 0;
}

void pso_broker_close_ha(struct pso_broker *b)
{
	pso_ha_close(b->ha);
	b->ha = NULL;
}
