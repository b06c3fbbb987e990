// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * recycle.c - a topic taken out of the data plane for good, so that its id
 * can be given to another topic.
 *
 * The protocol layer frees a topic nobody uses (proto/recycle.c).  Before
 * its id names anything else, every trace of the old topic must be gone,
 * or a publish meant for it could reach the new topic's subscribers, and
 * the new topic would start with the old one's counters:
 *
 *  1. pso_tables_topic_free(): the topic must have no subscriber in the
 *     target nor in the maps, and nothing pending (-EBUSY otherwise: a
 *     removal still waiting for its grace period).  Its NIC copies go
 *     first (entry, then counters: mirror.c), then its pso_topics entry is
 *     written all zero - not VALID, so XDP passes every publish to the id
 *     up as unknown and the daemon answers it "invalid topic id" - and its
 *     short name is cleared.  Each is one write through tbl_map_write().
 *  2. A grace period (pso_tables_defer_call()): no data-plane run that read
 *     the old entry is still running, so nothing counts into the topic's
 *     stats any more.
 *  3. Its pso_topic_stats entry is zeroed (every CPU's), and the id is
 *     reusable: pso_tables_topic_reusable() says so.
 * A write that fails in step 3 is retried by the next
 * pso_tables_topic_reusable(), which says "not yet" until it succeeds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "tables/tables_int.h"

enum {
	RECYCLE_NONE,		/* never freed, or in use again */
	RECYCLE_WAITING,	/* cleared, its grace period not over */
	RECYCLE_STATS,		/* grace over, its counters not zeroed yet */
	RECYCLE_DONE,		/* no trace left: the id may be reused */
};

int pso_tables_use_topic_stats(struct pso_tables *t, int fd)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return -errno;
	if ((info.type != BPF_MAP_TYPE_PERCPU_ARRAY && info.type != BPF_MAP_TYPE_ARRAY &&
	     info.type != BPF_MAP_TYPE_HASH) || info.key_size != sizeof(uint32_t) ||
	    info.value_size != sizeof(struct pso_topic_stats))
		return -EINVAL;
	t->topic_stats_fd = fd;
	t->topic_stats_type = info.type;
	return 0;
}

/* Step 3: the counters back to zero (a HASH, the offload build's: none). */
static int stats_zero(struct pso_tables *t, uint16_t id)
{
	uint32_t key = id;
	int ncpu = 1, err;
	void *zeros;

	if (t->topic_stats_fd < 0)
		return 0;
	if (t->topic_stats_type == BPF_MAP_TYPE_HASH) {
		err = tbl_map_write(t, t->topic_stats_fd, &key, NULL, 0);
		return err == -ENOENT ? 0 : err;
	}
	if (t->topic_stats_type == BPF_MAP_TYPE_PERCPU_ARRAY) {
		ncpu = libbpf_num_possible_cpus();
		if (ncpu < 1)
			return ncpu ? ncpu : -EINVAL;
	}
	/* A per-CPU value is one 8-byte aligned copy per possible CPU. */
	zeros = calloc(ncpu, (sizeof(struct pso_topic_stats) + 7) & ~(size_t)7);
	if (!zeros)
		return -ENOMEM;
	err = tbl_map_write(t, t->topic_stats_fd, &key, zeros, BPF_ANY);
	free(zeros);
	return err;
}

static void grace_over(struct pso_tables *t, void *arg)
{
	uint16_t id = (uint16_t)(uintptr_t)arg;

	if (t->recycle[id] != RECYCLE_WAITING)
		return;		/* in use again meanwhile */
	t->recycle[id] = RECYCLE_STATS;
	if (stats_zero(t, id))
		t->deferred_errors++;
	else
		t->recycle[id] = RECYCLE_DONE;
}

int pso_tables_topic_free(struct pso_tables *t, uint16_t id)
{
	static const struct pso_topic zero_topic;
	static const struct pso_short_name zero_name;
	uint32_t key = id, n;
	int err;

	if (!tbl_id_ok(t, id))
		return -EINVAL;
	if (!t->recycle) {
		t->recycle = calloc(t->max_topics, sizeof(*t->recycle));
		if (!t->recycle)
			return -ENOMEM;
	}
	pso_tables_target(t, id, &n);
	if (n || t->topics[id].sub_count || (t->pending && t->pending[id]))
		return -EBUSY;
	for (int i = 0; i < t->nmirrors; i++) {
		err = pso_tables_mirror_unplace(t, &t->mirrors[i], id, NULL);
		if (err && err != -ENOENT)
			return err;
	}
	if (memcmp(&t->topics[id], &zero_topic, sizeof(zero_topic))) {
		err = tbl_map_write(t, t->topics_fd, &key, &zero_topic, BPF_ANY);
		if (err)
			return err;
		t->topics[id] = zero_topic;
		t->first_since[id] = 0;
	}
	if (t->short_names_fd >= 0 &&
	    memcmp(&t->short_names[id], &zero_name, sizeof(zero_name))) {
		err = tbl_map_write(t, t->short_names_fd, &key, &zero_name, BPF_ANY);
		if (err)
			return err;
		t->short_names[id] = zero_name;
	}
	t->recycle[id] = RECYCLE_WAITING;
	err = pso_tables_defer_call(t, grace_over, (void *)(uintptr_t)id);
	if (err)
		t->recycle[id] = RECYCLE_NONE;	/* the caller tries again */
	return err;
}

bool pso_tables_topic_reusable(struct pso_tables *t, uint16_t id)
{
	if (!tbl_id_ok(t, id) || !t->recycle)
		return false;
	if (t->recycle[id] == RECYCLE_STATS && !stats_zero(t, id))
		t->recycle[id] = RECYCLE_DONE;
	return t->recycle[id] == RECYCLE_DONE;
}

void pso_tables_topic_reused(struct pso_tables *t, uint16_t id)
{
	if (tbl_id_ok(t, id) && t->recycle)
		t->recycle[id] = RECYCLE_NONE;
}
