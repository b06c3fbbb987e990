// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * porttab.c - the host's writer of pso_port_cfg and pso_port_slots.
 *
 * pso_port_cfg (HASH, key ifindex) holds every port; a HASH update replaces
 * an element whole, so a reader sees the old or the new config.
 * pso_port_slots (ARRAY, index pso_port_slot_of(ifindex)) holds a copy of
 * each port whose slot no other port had first, so that the fast path finds
 * its port with an inlined array lookup.  An ARRAY update is a memcpy that a
 * reader on another CPU can see half done, so slot writes follow the rule of
 * host/tables/subs.c, with the flags byte (PSO_PORT_F_VALID) as the switch:
 *
 *   disable  clear flags, nothing else changes;
 *   content  other fields, flags 0 before and after;
 *   enable   set flags, nothing else changes.
 *
 * A reader uses a slot only when it is valid and names its own ifindex; else
 * it asks the HASH.  So while a slot is disabled its port is still served.
 * Before a disabled slot's content changes, a grace period passes (sync), so
 * no reader that saw it valid is still reading its fields.  A slot freed by
 * a removal is zeroed after that wait: a free slot is always all zero.
 *
 * The _deferred variants wait with the tables' grace mechanism instead
 * (host/tables/grace.c): the call disables the slot and returns; after a
 * period that started after the disable, port_finish() (run from
 * pso_tables_grace_done()) gives the slot, if it is still this port's and
 * disabled, the port's config as the HASH holds it then - the latest set -
 * or zeroes it when the port is gone.  Meanwhile the port is served from
 * the HASH, as during the synchronous wait; a free slot is all zero, and a
 * disabled one is still this port's, so no other port takes it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "tables/porttab.h"
#include "tables/tables.h"

static int slot_read(int fd, __u32 slot, struct pso_port_cfg *out)
{
	return bpf_map_lookup_elem(fd, &slot, out) ? -errno : 0;
}

static int slot_write(int fd, __u32 slot, const struct pso_port_cfg *v)
{
	return bpf_map_update_elem(fd, &slot, v, BPF_ANY) ? -errno : 0;
}

static void wait_readers(pso_sync_fn sync, void *ctx)
{
	if (sync)
		sync(ctx);
}

/* Content with flags 0, then enable.  The slot is free or disabled and
 * waited for. */
static int slot_fill(int fd, __u32 slot, const struct pso_port_cfg *cfg)
{
	struct pso_port_cfg v = *cfg;
	int err;

	v.flags = 0;
	memset(v.pad, 0, sizeof(v.pad));
	err = slot_write(fd, slot, &v);
	if (err)
		return err;
	v.flags = PSO_PORT_F_VALID;
	return slot_write(fd, slot, &v);
}

/* Disable, wait, zero: the slot is free again. */
static int slot_free(int fd, __u32 slot, const struct pso_port_cfg *cur,
		     pso_sync_fn sync, void *ctx)
{
	static const struct pso_port_cfg zero;
	struct pso_port_cfg v = *cur;
	int err;

	v.flags = 0;
	err = slot_write(fd, slot, &v);
	if (err)
		return err;
	wait_readers(sync, ctx);
	return slot_write(fd, slot, &zero);
}

static int same_cfg(const struct pso_port_cfg *a, const struct pso_port_cfg *b)
{
	return a->ifindex == b->ifindex && a->udp_port == b->udp_port &&
	       !memcmp(a->mac, b->mac, sizeof(a->mac)) && a->ip4 == b->ip4 &&
	       !memcmp(a->ip6, b->ip6, sizeof(a->ip6));
}

/*
 * The first part of setting a port, either way: its HASH entry, then a look
 * at its slot.  1: the slot needs work (cur holds what it holds now); 0:
 * done (no slot table, another port's slot, or already this config); or a
 * negative errno of the HASH write.
 */
static int port_set_begin(int hash_fd, int slots_fd, const struct pso_port_cfg *cfg,
			  struct pso_port_cfg *cur)
{
	struct pso_port_cfg v = *cfg;
	__u32 key = cfg->ifindex;

	v.flags = PSO_PORT_F_VALID;
	memset(v.pad, 0, sizeof(v.pad));
	if (bpf_map_update_elem(hash_fd, &key, &v, BPF_ANY))
		return -errno;
	if (slots_fd < 0 || slot_read(slots_fd, pso_port_slot_of(cfg->ifindex), cur))
		return 0;
	if (cur->ifindex && cur->ifindex != cfg->ifindex)
		return 0;	/* another port's: this one is served from the HASH */
	if (cur->ifindex == cfg->ifindex && (cur->flags & PSO_PORT_F_VALID) && same_cfg(cur, cfg))
		return 0;
	return 1;
}

int pso_port_table_set(int hash_fd, int slots_fd, const struct pso_port_cfg *cfg,
		       pso_sync_fn sync, void *sync_ctx)
{
	struct pso_port_cfg cur;
	__u32 slot = pso_port_slot_of(cfg->ifindex);
	int ret = port_set_begin(hash_fd, slots_fd, cfg, &cur);

	if (ret <= 0)
		return ret;
	if (cur.ifindex) {	/* this port's, changing: readers fall back meanwhile */
		int err = slot_free(slots_fd, slot, &cur, sync, sync_ctx);

		/* Not even disabled: readers would keep the old config. */
		if (err)
			return err;
	}
	slot_fill(slots_fd, slot, cfg);
	return 0;
}

int pso_port_table_remove(int hash_fd, int slots_fd, __u32 ifindex,
			  pso_sync_fn sync, void *sync_ctx)
{
	struct pso_port_cfg cur;
	__u32 slot = pso_port_slot_of(ifindex);

	if (slots_fd >= 0 && !slot_read(slots_fd, slot, &cur) && cur.ifindex == ifindex) {
		int err = slot_free(slots_fd, slot, &cur, sync, sync_ctx);

		if (err)	/* still served from the slot: keep the HASH too */
			return err;
	}
	if (bpf_map_delete_elem(hash_fd, &ifindex) && errno != ENOENT)
		return -errno;
	return 0;
}

int pso_port_table_in_slot(int slots_fd, __u32 ifindex)
{
	struct pso_port_cfg cur;

	return slots_fd >= 0 && !slot_read(slots_fd, pso_port_slot_of(ifindex), &cur) &&
	       cur.ifindex == ifindex && (cur.flags & PSO_PORT_F_VALID);
}

/* ---- deferred ------------------------------------------------------------ */

struct port_finish {
	int hash_fd, slots_fd;
	__u32 ifindex;
};

static void port_finish(struct pso_tables *t, void *arg)
{
	static const struct pso_port_cfg zero;
	struct port_finish *pf = arg;
	__u32 key = pf->ifindex, slot = pso_port_slot_of(pf->ifindex);
	struct pso_port_cfg cur, cfg;

	if (!slot_read(pf->slots_fd, slot, &cur) && cur.ifindex == key &&
	    !(cur.flags & PSO_PORT_F_VALID)) {
		if (!bpf_map_lookup_elem(pf->hash_fd, &key, &cfg))
			slot_fill(pf->slots_fd, slot, &cfg);	/* a failure: HASH only */
		else
			slot_write(pf->slots_fd, slot, &zero);
	}
	free(pf);
}

/* Disable this port's slot (cur) now, finish after a grace period. */
static int slot_release(struct pso_tables *t, int hash_fd, int slots_fd, __u32 slot,
			const struct pso_port_cfg *cur)
{
	struct port_finish *pf = malloc(sizeof(*pf));
	struct pso_port_cfg v = *cur;
	int err;

	if (!pf)
		return -ENOMEM;
	*pf = (struct port_finish){ .hash_fd = hash_fd, .slots_fd = slots_fd,
				    .ifindex = cur->ifindex };
	if (v.flags) {
		v.flags = 0;
		err = slot_write(slots_fd, slot, &v);
		if (err) {
			free(pf);
			return err;
		}
	}
	/* Out of memory here leaves the slot disabled for good: safe (the
	 * port is served from the HASH), only the slot is lost. */
	if (pso_tables_defer_call(t, port_finish, pf))
		free(pf);
	return 0;
}

int pso_port_table_set_deferred(struct pso_tables *t, int hash_fd, int slots_fd,
				const struct pso_port_cfg *cfg)
{
	struct pso_port_cfg cur;
	__u32 slot = pso_port_slot_of(cfg->ifindex);
	int ret = port_set_begin(hash_fd, slots_fd, cfg, &cur);

	if (ret <= 0)
		return ret;
	if (cur.ifindex)	/* this port's: the HASH's config after the wait */
		return slot_release(t, hash_fd, slots_fd, slot, &cur);
	slot_fill(slots_fd, slot, cfg);
	return 0;
}

int pso_port_table_remove_deferred(struct pso_tables *t, int hash_fd, int slots_fd,
				   __u32 ifindex)
{
	struct pso_port_cfg cur;
	__u32 slot = pso_port_slot_of(ifindex);

	if (slots_fd >= 0 && !slot_read(slots_fd, slot, &cur) && cur.ifindex == ifindex) {
		int err = slot_release(t, hash_fd, slots_fd, slot, &cur);

		if (err)	/* still served from the slot: keep the HASH too */
			return err;
	}
	if (bpf_map_delete_elem(hash_fd, &ifindex) && errno != ENOENT)
		return -errno;
	return 0;
}

int pso_port_table_set_nic(int nic_cfg_fd, const struct pso_port_cfg *cfg)
{
	struct pso_port_cfg v = { 0 };
	__u32 key = 0;

	if (bpf_map_update_elem(nic_cfg_fd, &key, &v, BPF_ANY))
		return -errno;
	v = *cfg;
	v.flags = PSO_PORT_F_VALID;
	if (bpf_map_update_elem(nic_cfg_fd, &key, &v, BPF_ANY))
		return -errno;
	return 0;
}

int pso_devmap_set(int devmap_fd, __u32 ifindex, int target)
{
	if (target)
		return bpf_map_update_elem(devmap_fd, &ifindex, &ifindex, BPF_ANY) ? -errno : 0;
	if (bpf_map_delete_elem(devmap_fd, &ifindex) && errno != ENOENT)
		return -errno;
	return 0;
}
