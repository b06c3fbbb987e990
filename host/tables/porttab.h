/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * porttab.h - the host's writer of pso_port_cfg and pso_port_slots.
 */
#ifndef PSOFFLOAD_PORTTAB_H
#define PSOFFLOAD_PORTTAB_H

#include "psoffload_abi.h"

/* Wait for data-plane readers (an RCU grace period), as pso_tables_sync_rcu. */
typedef void (*pso_sync_fn)(void *ctx);

/*
 * Publish cfg (cfg->ifindex) to the data plane: the HASH always, the port's
 * direct-mapped slot when it is free or already this port's.  0 or a
 * negative errno: of the HASH write, or of disabling the port's slot to
 * change it (the slot then still holds the old config).  A failed fill
 * leaves the port served from the HASH.  slots_fd < 0: no slot table.
 */
int pso_port_table_set(int hash_fd, int slots_fd, const struct pso_port_cfg *cfg,
		       pso_sync_fn sync, void *sync_ctx);

/* Withdraw the port: its slot (if it holds one) and its HASH entry.  When
 * the slot cannot be disabled, the error, and the HASH entry stays. */
int pso_port_table_remove(int hash_fd, int slots_fd, __u32 ifindex,
			  pso_sync_fn sync, void *sync_ctx);

/*
 * The same, waiting for readers with the tables' grace mechanism: in
 * deferred mode (pso_tables_defer_start()) neither call waits; a slot
 * being changed or freed is disabled now and finished from
 * pso_tables_grace_done() (see porttab.c).  Synchronous tables wait with
 * their sync_readers, as the calls above.
 */
struct pso_tables;
int pso_port_table_set_deferred(struct pso_tables *t, int hash_fd, int slots_fd,
				const struct pso_port_cfg *cfg);
int pso_port_table_remove_deferred(struct pso_tables *t, int hash_fd, int slots_fd,
				   __u32 ifindex);

/* hw mode: the NIC's one port entry (ARRAY key 0), written invalid first,
 * so the NIC passes everything to the host while it changes, then whole. */
int pso_port_table_set_nic(int nic_cfg_fd, const struct pso_port_cfg *cfg);

/* pso_devmap: may a native-mode XDP_REDIRECT reach ifindex?  A HASH-free
 * DEVMAP entry is one pointer: no order to keep. */
int pso_devmap_set(int devmap_fd, __u32 ifindex, int target);

/* Does ifindex hold its slot now?  For tests and `status`. */
int pso_port_table_in_slot(int slots_fd, __u32 ifindex);

#endif /* PSOFFLOAD_PORTTAB_H */
