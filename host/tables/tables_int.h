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

/* pool.c: the free slots of the subscriber pool (a buddy allocator). */
#define PSO_POOL_ORDERS 24	/* runs of up to 2^23 slots */
struct pso_pool {
	uint32_t size;			/* slots */
	unsigned max_order;		/* log2 of the longest run */
	uint32_t head[PSO_POOL_ORDERS];	/* free blocks of each order */
	uint32_t *next, *prev;		/* their lists, by first slot */
	uint8_t *free_order;		/* by first slot: order + 1 if free */
	uint32_t free_slots;
};
int tbl_pool_init(struct pso_pool *p, uint32_t size, uint32_t max_run);
void tbl_pool_free(struct pso_pool *p);
/* log2 of a power of two, -EINVAL for another number. */
int tbl_pool_order(uint32_t cap);
/* A run of cap slots (a power of two): 0 and *base, -ENOSPC, -EINVAL. */
int tbl_pool_alloc(struct pso_pool *p, uint32_t cap, uint32_t *base);
void tbl_pool_release(struct pso_pool *p, uint32_t base, uint32_t cap);
/* Take the given run out of the free lists (adoption): -EBUSY when some of
 * it is not free, -EINVAL when it is no aligned run inside the pool. */
int tbl_pool_reserve(struct pso_pool *p, uint32_t base, uint32_t cap);
/* The longest run that could be allocated now. */
uint32_t tbl_pool_largest(const struct pso_pool *p);

/* subs.c: a topic waiting for a grace period. */
struct pso_pending {
	uint32_t pos;		/* index in t->pending_ids */
	uint32_t n;		/* the target's subscribers */
	uint32_t cap;		/* the target's run length (want[] entries) */
	uint32_t next_base;	/* cap differs from the map's run: the run
				 * allocated for it, not written yet */
	uint64_t need;		/* syncs its disabled slots wait for, 0: none */
	struct pso_sub want[];	/* the target, cap entries (family 0: a hole) */
};
/* A run a topic left, zeroed and freed once its period has completed. */
struct pso_retired {
	uint32_t base, cap;
	uint64_t need;
};
/* The write protocol's whole change of one topic to want[0..cap-1] (cap:
 * its run's length, n of them live), waiting for readers inline
 * (synchronous mode; adopt.c repairs with it). */
int tbl_topic_reconcile(struct pso_tables *t, uint16_t id, const struct pso_sub *want, uint32_t cap,
			uint32_t n);
/* subs.c: the index of map slots by (topic, endpoint); rebuilt after the
 * maps were read back (adopt.c). */
void tbl_index_rebuild(struct pso_tables *t);
/* The run a topic's readers use now. */
static inline uint32_t tbl_run_base(const struct pso_tables *t, uint16_t id)
{
	return t->runs[id].base[t->runs[id].cur & 1];
}
static inline uint32_t tbl_run_cap(const struct pso_tables *t, uint16_t id)
{
	return t->runs[id].cap[t->runs[id].cur & 1];
}
uint32_t tbl_endpoint_slot(const struct pso_endpoint *ep);
/* Run the pending steps whose period completed (t->syncs); drop every
 * pending record (the maps stay as they are). */
void tbl_subs_grace_done(struct pso_tables *t);
void tbl_subs_forget_pending(struct pso_tables *t);
/* Topics waiting for a grace period (the runs they left: t->nretired). */
uint32_t tbl_subs_waiting(const struct pso_tables *t);
/* clients.c: the same for client slots waited for. */
void tbl_clients_grace_done(struct pso_tables *t);
void tbl_clients_forget_pending(struct pso_tables *t);
void tbl_clients_free(struct pso_tables *t);

#endif /* PSO_TABLES_INT_H */
