/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * tables_int.h - what the files of host/tables/ share (not an API).
 */
#ifndef PSO_TABLES_INT_H
#define PSO_TABLES_INT_H

#include <bpf/bpf.h>
#include "tables/tables.h"

/* tables.c: one write to a map (on_write sees it); tbl_map_write() also
 * copies it to every NIC mirror of that map.  0 or -errno. */
int tbl_fd_write(struct pso_tables *t, int fd, const void *key, const void *val,
		 uint64_t flags);
int tbl_map_write(struct pso_tables *t, int fd, const void *key, const void *val,
		  uint64_t flags);
/* The map is of this type and sizes, with at least min_entries. */
int tbl_check_map(int fd, enum bpf_map_type type, uint32_t key_size,
		  uint32_t value_size, uint64_t min_entries);
bool tbl_id_ok(const struct pso_tables *t, uint16_t id);
bool tbl_family_ok(uint8_t family);
void tbl_normalize_endpoint(struct pso_endpoint *ep);
struct pso_sub tbl_normalize_sub(const struct pso_sub *in);

/* grace.c: wait for readers now (synchronous mode, or finishing). */
void tbl_wait_readers(struct pso_tables *t);
/* The period that covers what was disabled before this call (deferred:
 * the next one to start; synchronous: syncs + 1), and asking the worker to
 * run periods until that one has completed (no-op when synchronous). */
uint64_t tbl_grace_need(struct pso_tables *t);
void tbl_grace_request(struct pso_tables *t, uint64_t need);

/* subs.c: a topic waiting for a grace period. */
struct pso_pending {
	uint32_t pos;		/* index in t->pending_ids */
	uint32_t n;		/* the target's sub_count */
	uint64_t need;		/* syncs its disabled slots wait for, 0: none */
	struct pso_sub want[];	/* the target, max_subs entries */
};
/* The write protocol's whole change of one topic to want[0..n-1], waiting
 * for readers inline (synchronous mode; adopt.c repairs with it). */
int tbl_topic_reconcile(struct pso_tables *t, uint16_t id, const struct pso_sub *want, uint32_t n);
uint32_t tbl_endpoint_slot(const struct pso_endpoint *ep);
/* Run the pending steps whose period completed (t->syncs); drop every
 * pending record (the maps stay as they are). */
void tbl_subs_grace_done(struct pso_tables *t);
void tbl_subs_forget_pending(struct pso_tables *t);
/* clients.c: the same for client slots waited for. */
void tbl_clients_grace_done(struct pso_tables *t);
void tbl_clients_forget_pending(struct pso_tables *t);
void tbl_clients_free(struct pso_tables *t);

#endif /* PSO_TABLES_INT_H */
