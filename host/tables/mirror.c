// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * mirror.c - the NIC copies of the tables (hardware offload): which topics
 * a NIC holds, and the copy of every write tbl_map_write() sends there.
 */
#include <errno.h>
#include <stdlib.h>
#include <bpf/bpf.h>
#include "tables/tables_int.h"

bool pso_tables_mirror_is_placed(const struct pso_tables_mirror *m, uint16_t id)
{
	return m->placed && (m->placed[id / 8] >> (id % 8)) & 1;
}

int pso_tables_mirror_add(struct pso_tables *t, int topics_fd, int clients_fd,
			  int stats_fd, uint32_t capacity)
{
	struct pso_tables_mirror *m;
	struct pso_endpoint key, next;
	struct pso_client_val val;
	void *prev = NULL;
	int err;

	if (t->nmirrors >= PSO_TABLES_MAX_MIRRORS)
		return -ENOSPC;
	m = &t->mirrors[t->nmirrors];
	*m = (struct pso_tables_mirror){ .topics_fd = topics_fd, .clients_fd = clients_fd,
					 .stats_fd = stats_fd, .capacity = capacity };
	m->placed = calloc((t->max_topics + 7) / 8, 1);
	if (!m->placed)
		return -ENOMEM;
	/* Whole entries only: the NIC runs nothing from these maps until its
	 * program is attached, after this copy. */
	while (!bpf_map_get_next_key(t->clients_fd, prev, &next)) {
		key = next;
		prev = &key;
		/* The client's own limit, with nothing counted or spent: a
		 * full budget (the host's copy is never refilled). */
		if (bpf_map_lookup_elem(t->clients_fd, &key, &val))
			continue;
		val.rx_msgs = 0;
		val.rate.tat[PSO_RATE_XDP] = val.rate.tat[PSO_RATE_TC] = 0;
		err = tbl_fd_write(t, clients_fd, &key, &val, BPF_NOEXIST);
		if (err && err != -EEXIST) {
			free(m->placed);
			return err;
		}
	}
	t->nmirrors++;
	return 0;
}

struct pso_tables_mirror *pso_tables_mirror_find(struct pso_tables *t, int topics_fd)
{
	for (int i = 0; i < t->nmirrors; i++)
		if (t->mirrors[i].topics_fd == topics_fd)
			return &t->mirrors[i];
	return NULL;
}

int pso_tables_mirror_place(struct pso_tables *t, struct pso_tables_mirror *m, uint16_t id)
{
	struct pso_topic_stats zero = { 0 };
	uint32_t key = id;
	int err;

	if (!tbl_id_ok(t, id))
		return -EINVAL;
	if (pso_tables_mirror_is_placed(m, id))
		return 0;
	if (m->nplaced >= m->capacity)
		return -ENOSPC;
	/* Counters first, so the NIC counts from its first publish. */
	err = tbl_fd_write(t, m->stats_fd, &key, &zero, BPF_ANY);
	if (!err)
		err = tbl_fd_write(t, m->topics_fd, &key, &t->topics[id], BPF_ANY);
	if (err) {
		tbl_fd_write(t, m->stats_fd, &key, NULL, 0);
		return err == -E2BIG ? -ENOSPC : err;
	}
	m->placed[id / 8] |= 1u << (id % 8);
	m->nplaced++;
	return 0;
}

int pso_tables_mirror_unplace(struct pso_tables *t, struct pso_tables_mirror *m, uint16_t id,
			      struct pso_topic_stats *last)
{
	struct pso_topic_stats st;
	uint32_t key = id;
	int err;

	if (!pso_tables_mirror_is_placed(m, id))
		return -ENOENT;
	/* Entry first: from now on the NIC passes the topic up, and each
	 * publish is served by exactly one of the NIC and the host. */
	err = tbl_fd_write(t, m->topics_fd, &key, NULL, 0);
	if (err && err != -ENOENT)
		return err;
	if (last && !bpf_map_lookup_elem(m->stats_fd, &key, &st)) {
		last->msgs += st.msgs;
		last->bytes += st.bytes;
	}
	tbl_fd_write(t, m->stats_fd, &key, NULL, 0);
	m->placed[id / 8] &= ~(1u << (id % 8));
	m->nplaced--;
	return 0;
}

void pso_tables_mirror_remove(struct pso_tables *t, int topics_fd)
{
	for (int i = 0; i < t->nmirrors; i++) {
		if (t->mirrors[i].topics_fd == topics_fd) {
			free(t->mirrors[i].placed);
			t->mirrors[i] = t->mirrors[--t->nmirrors];
			return;
		}
	}
}
