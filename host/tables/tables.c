// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tables.c - the host's side of the data-plane tables: setup, the one map
 * write every other file goes through, and what they share.  The write
 * protocol is in subs.c (topics and subscriber slots), clients.c (clients
 * and their slots), mirror.c (NIC copies), recycle.c (topics freed for
 * good) and grace.c (waiting for readers).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "tables/tables_int.h"

int tbl_check_map(int fd, enum bpf_map_type type, uint32_t key_size,
		  uint32_t value_size, uint64_t min_entries)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if (info.type != type || info.key_size != key_size ||
	    info.value_size != value_size || info.max_entries < min_entries)
		return -EINVAL;
	return 0;
}

int pso_tables_init(struct pso_tables *t, int topics_fd, int subs_fd, int runs_fd, int clients_fd,
		    uint32_t max_topics, uint32_t pool_slots, uint32_t max_clients)
{
	uint32_t nbuckets = 1;
	int err;

	memset(t, 0, sizeof(*t));
	if (max_topics < 2 || max_topics > 65536 || pool_slots < 1 || pool_slots >= UINT32_MAX ||
	    max_clients < 1)
		return -EINVAL;
	err = tbl_check_map(topics_fd, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
			sizeof(struct pso_topic), max_topics);
	if (!err)
		err = tbl_check_map(subs_fd, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
				sizeof(struct pso_sub), pool_slots);
	if (!err)
		err = tbl_check_map(runs_fd, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
				sizeof(struct pso_run), max_topics);
	if (!err)
		err = tbl_check_map(clients_fd, BPF_MAP_TYPE_HASH, sizeof(struct pso_endpoint),
				sizeof(struct pso_client_val), 1);
	if (err)
		return err;

	while (nbuckets < pool_slots / 2)
		nbuckets <<= 1;
	/* Per pool slot: calloc'd, so the pages of slots never used are
	 * never touched (RSS follows use). */
	t->topics = calloc(max_topics, sizeof(*t->topics));
	t->subs = calloc(pool_slots, sizeof(*t->subs));
	t->slot_since = calloc(pool_slots, sizeof(*t->slot_since));
	t->runs = calloc(max_topics, sizeof(*t->runs));
	t->half_need = calloc(max_topics, sizeof(*t->half_need));
	t->disable_need = calloc(max_topics, sizeof(*t->disable_need));
	t->proto_host = calloc(max_topics, sizeof(*t->proto_host));
	t->ix_head = malloc(nbuckets * sizeof(*t->ix_head));
	t->ix_next = calloc(pool_slots, sizeof(*t->ix_next));
	t->ix_topic = calloc(pool_slots, sizeof(*t->ix_topic));
	t->pool = calloc(1, sizeof(*t->pool));
	t->first_since = calloc(max_topics, sizeof(*t->first_since));
	t->want = calloc(PSO_MAX_RUN, sizeof(*t->want));
	t->undo = calloc(PSO_MAX_RUN, sizeof(*t->undo));
	t->short_names = calloc(max_topics, sizeof(*t->short_names));
	if (!t->topics || !t->subs || !t->want || !t->undo || !t->slot_since || !t->first_since ||
	    !t->short_names || !t->runs || !t->half_need || !t->disable_need || !t->proto_host || !t->ix_head ||
	    !t->ix_next ||
	    !t->ix_topic || !t->pool) {
		pso_tables_free(t);
		return -ENOMEM;
	}
	err = tbl_pool_init(t->pool, pool_slots, PSO_MAX_RUN);
	if (err) {
		pso_tables_free(t);
		return err;
	}
	memset(t->ix_head, 0xff, nbuckets * sizeof(*t->ix_head));
	t->ix_mask = nbuckets - 1;
	t->topics_fd = topics_fd;
	t->subs_fd = subs_fd;
	t->runs_fd = runs_fd;
	t->clients_fd = clients_fd;
	t->max_topics = max_topics;
	t->pool_slots = pool_slots;
	t->max_run = PSO_MAX_RUN;
	t->max_clients = max_clients;
	t->sync_readers = pso_tables_sync_rcu;
	t->client_slots_fd = -1;
	t->short_names_fd = -1;
	t->topic_stats_fd = -1;
	return 0;
}

int pso_tables_set_max_run(struct pso_tables *t, uint32_t max_run)
{
	if (tbl_pool_order(max_run) < 0 || max_run > PSO_MAX_RUN)
		return -EINVAL;
	t->max_run = max_run;
	return 0;
}

void pso_tables_free(struct pso_tables *t)
{
	pso_tables_defer_stop(t);
	for (int i = 0; i < t->nmirrors; i++)
		free(t->mirrors[i].placed);
	free(t->topics);
	free(t->subs);
	free(t->slot_since);
	free(t->runs);
	free(t->half_need);
	free(t->disable_need);
	free(t->proto_host);
	free(t->ix_head);
	free(t->ix_next);
	free(t->ix_topic);
	free(t->retired);
	if (t->pool)
		tbl_pool_free(t->pool);
	free(t->pool);
	free(t->first_since);
	free(t->want);
	free(t->undo);
	free(t->short_names);
	free(t->recycle);
	tbl_clients_free(t);
	memset(t, 0, sizeof(*t));
}

/* ---- map writes ----------------------------------------------------------- */

int tbl_fd_write(struct pso_tables *t, int fd, const void *key, const void *val,
		    uint64_t flags)
{
	int err = val ? bpf_map_update_elem(fd, key, val, flags) : bpf_map_delete_elem(fd, key);

	if (err)
		err = errno ? -errno : -EIO;
	if (t->on_write)
		t->on_write(t->hook_ctx, fd, key, val, err);
	return err;
}

/*
 * One write to a host map, then the same write to every NIC copy of it.
 * The host map decides success: a NIC that refuses a write (full, gone)
 * is counted, and its program passes what it cannot serve to the host.
 */
int tbl_map_write(struct pso_tables *t, int fd, const void *key, const void *val,
		     uint64_t flags)
{
	int err = tbl_fd_write(t, fd, key, val, flags);

	if (err)
		return err;
	for (int i = 0; i < t->nmirrors; i++) {
		const struct pso_tables_mirror *m = &t->mirrors[i];
		int merr = 0;

		if (fd == t->topics_fd && pso_tables_mirror_is_placed(m, *(const uint32_t *)key))
			merr = tbl_fd_write(t, m->topics_fd, key, val, BPF_ANY);
		else if (fd == t->clients_fd)
			merr = tbl_fd_write(t, m->clients_fd, key, val, flags);
		/* A full NIC table is no error: what misses there passes up. */
		if (merr == -E2BIG || merr == -ENOSPC)
			t->mirror_full++;
		else if (merr && merr != -EEXIST && !(merr == -ENOENT && !val))
			t->mirror_errors++;
	}
	return 0;
}

bool tbl_id_ok(const struct pso_tables *t, uint16_t id)
{
	return id >= 1 && id < t->max_topics;
}

bool tbl_family_ok(uint8_t family)
{
	return family == PSO_AF_INET || family == PSO_AF_INET6;
}

void tbl_normalize_endpoint(struct pso_endpoint *ep)
{
	/* The data plane builds its keys from zeroed structs. */
	if (ep->family == PSO_AF_INET)
		memset(ep->addr + 4, 0, sizeof(ep->addr) - 4);
	ep->pad = 0;
}

/* Unused bytes zeroed, so slots compare with memcmp. */
struct pso_sub tbl_normalize_sub(const struct pso_sub *in)
{
	struct pso_sub s = *in;

	if (s.family == PSO_AF_INET) {
		memset(s.src_addr + 4, 0, sizeof(s.src_addr) - 4);
		memset(s.dst_addr + 4, 0, sizeof(s.dst_addr) - 4);
	}
	return s;
}

void pso_sub_endpoint(const struct pso_sub *s, struct pso_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	memcpy(ep->addr, s->dst_addr, sizeof(ep->addr));
	ep->port = s->dst_port;
	ep->family = s->family;
	tbl_normalize_endpoint(ep);
}

void pso_tables_usage(const struct pso_tables *t, struct pso_tables_usage *u)
{
	memset(u, 0, sizeof(*u));
	for (uint32_t id = 0; id < t->max_topics; id++)
		if (t->topics[id].flags & PSO_TOPIC_F_VALID)
			u->topics++;
	u->max_topics = t->max_topics;
	u->subs = t->nsubs;
	u->max_subs = t->pool_slots;
	u->subs_per_topic = t->max_run;
	u->pool_free = t->pool ? t->pool->free_slots : 0;
	u->pool_largest = t->pool ? tbl_pool_largest(t->pool) : 0;
	u->run_moves = t->run_moves;
	u->clients = t->nclients;
	u->max_clients = t->max_clients;
	u->nic_write_errors = t->mirror_errors;
	u->nic_table_full = t->mirror_full;
	u->pending = pso_tables_pending(t);
}
