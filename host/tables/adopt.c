// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * adopt.c - the table writer taking over maps a daemon before it wrote
 * (a restart, or a crash): the shadow is read back from the maps and
 * checked against the write protocol of subs.c and clients.c.
 *
 * The daemon before us may have stopped anywhere in the protocol, so the
 * maps hold one of its states, not necessarily a state at rest.  What can
 * be found, and what is done with it:
 *   - what no protocol state has (a run that is no aligned power of two
 *     inside the pool, or longer than PSO_MAX_RUN, two runs sharing slots,
 *     one subscriber twice in a run, a pool slot outside every run that is
 *     not zero, a client slot enabled without its HASH entry or in
 *     another's slot): the maps are not the protocol's, and the adoption
 *     is refused before anything is written (-EUCLEAN, one line naming
 *     the entry);
 *   - states a crash can leave (an add written but not counted; `first`
 *     not yet following the first live slot; a slot disabled for a change
 *     that never came, or for a removal whose zeroing never came; the
 *     half of a run entry readers do not use, written for a move that
 *     never flipped - its run holds copies, and is not the topic's):
 *     repaired with the protocol's own writes (tbl_topic_reconcile)
 *     towards the slots that are live and whole - a disabled live slot
 *     stays as it is, disabled, until its owner's session says what it is
 *     to be (or it expires); the unused half's run is zeroed;
 *   - no reader of the dead daemon's writes is still running: one grace
 *     period is waited for first.
 * Client slots in a grace period of the dead daemon are free by then.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "tables/tables_int.h"

/* Read an ARRAY whole: batches where the kernel has them, else one by one. */
static int read_array(int fd, void *vals, uint32_t n, size_t vsize)
{
	uint32_t *keys = calloc(n ? n : 1, sizeof(*keys));
	uint32_t done = 0, out_batch = 0;
	bool first = true;
	int err = 0;

	if (!keys)
		return -ENOMEM;
	while (done < n) {
		__u32 count = n - done;

		err = bpf_map_lookup_batch(fd, first ? NULL : &out_batch, &out_batch, keys + done,
					   (char *)vals + (size_t)done * vsize, &count, NULL);
		first = false;
		done += count;
		if (err) {
			err = -errno;
			break;
		}
	}
	if (err == -ENOENT)	/* the end of the map */
		err = 0;
	if (err) {
		/* No batch operations: one by one. */
		err = 0;
		for (uint32_t i = 0; i < n; i++)
			if (bpf_map_lookup_elem(fd, &i, (char *)vals + (size_t)i * vsize)) {
				err = -errno;
				break;
			}
	}
	free(keys);
	return err;
}

static bool sub_zero(const struct pso_sub *s)
{
	static const struct pso_sub zero;

	return !memcmp(s, &zero, sizeof(*s));
}

static bool same_ep(const struct pso_sub *a, const struct pso_sub *b)
{
	return a->family == b->family && a->dst_port == b->dst_port &&
	       !memcmp(a->dst_addr, b->dst_addr, sizeof(a->dst_addr));
}

/* The protocol's rules over one topic's run; 0 or -EUCLEAN with the
 * reason.  The run is reserved in the pool (so two runs cannot share). */
static int check_topic(struct pso_tables *t, uint16_t id, char *err, size_t errlen)
{
	const struct pso_run *r = &t->runs[id];
	uint32_t base = tbl_run_base(t, id), cap = tbl_run_cap(t, id);
	const struct pso_sub *slots = &t->subs[base];
	int ret;

	if (r->cur > 1) {
		snprintf(err, errlen, "topic %u: run entry has half %u", id, r->cur);
		return -EUCLEAN;
	}
	if (!cap)
		return 0;
	if (cap > PSO_MAX_RUN) {
		snprintf(err, errlen, "topic %u: run of %u slots, longer than %u", id, cap, PSO_MAX_RUN);
		return -EUCLEAN;
	}
	ret = tbl_pool_reserve(t->pool, base, cap);
	if (ret) {
		snprintf(err, errlen, "topic %u: run %u+%u %s", id, base, cap,
			 ret == -EBUSY ? "overlaps another topic's" : "is no aligned run of the pool");
		return -EUCLEAN;
	}
	for (uint32_t i = 0; i < cap; i++) {
		if (!slots[i].family) {
			if (!sub_zero(&slots[i])) {
				snprintf(err, errlen, "topic %u: slot %u has no address family but is not "
					 "empty", id, i);
				return -EUCLEAN;
			}
			continue;
		}
		if (!tbl_family_ok(slots[i].family)) {
			snprintf(err, errlen, "topic %u: slot %u has address family %u", id, i,
				 slots[i].family);
			return -EUCLEAN;
		}
	}
	return 0;
}

/* One subscriber twice in a run (any flags: no protocol state has it; a
 * remove leaves a hole, a subscriber never moves inside a run).  With the
 * index built: O(run). */
static int check_twice(struct pso_tables *t, uint16_t id, char *err, size_t errlen)
{
	uint32_t base = tbl_run_base(t, id), cap = tbl_run_cap(t, id);

	for (uint32_t i = 0; i < cap; i++) {
		uint32_t k = base + i;

		if (!t->subs[k].family)
			continue;
		for (uint32_t j = t->ix_next[k]; j != UINT32_MAX; j = t->ix_next[j])
			if (j >= base && j - base < cap && same_ep(&t->subs[j], &t->subs[k])) {
				snprintf(err, errlen, "topic %u: one subscriber in slots %u and %u", id,
					 i, j - base);
				return -EUCLEAN;
			}
	}
	return 0;
}

static uint32_t live_of(const struct pso_tables *t, uint16_t id)
{
	uint32_t base = tbl_run_base(t, id), cap = tbl_run_cap(t, id), n = 0;

	for (uint32_t i = 0; i < cap; i++)
		n += t->subs[base + i].family != 0;
	return n;
}

/* A crash's leftovers in one topic (see the top): does it need a repair? */
static bool topic_needs_repair(const struct pso_tables *t, uint16_t id)
{
	const struct pso_topic *tp = &t->topics[id];
	uint32_t base = tbl_run_base(t, id), cap = tbl_run_cap(t, id), n = live_of(t, id);
	const struct pso_sub *first = NULL;

	for (uint32_t i = 0; i < cap; i++) {
		const struct pso_sub *s = &t->subs[base + i];

		if (s->family && !first)
			first = s;
	}
	if (tp->sub_count != (n < PSO_SUB_COUNT_MAX ? n : PSO_SUB_COUNT_MAX))
		return true;
	if (first && memcmp(&tp->first, first, sizeof(tp->first)))
		return true;
	if (!first && !sub_zero(&tp->first))
		return true;
	return false;
}

static int read_clients(struct pso_tables *t, char *err, size_t errlen)
{
	struct pso_endpoint key, next, *prev = NULL;
	struct pso_client_val val;

	t->nclients = 0;
	while (!bpf_map_get_next_key(t->clients_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(t->clients_fd, &key, &val))
			continue;	/* gone meanwhile (no writer: never) */
		if (!tbl_family_ok(key.family)) {
			snprintf(err, errlen, "client table: an entry of address family %u", key.family);
			return -EUCLEAN;
		}
		t->nclients++;
	}
	return 0;
}

static int read_client_slots(struct pso_tables *t, char *err, size_t errlen)
{
	struct pso_client_slot *cs;
	struct pso_client_val val;
	int ret;

	if (t->client_slots_fd < 0)
		return 0;
	cs = calloc(PSO_CLIENT_SLOTS, sizeof(*cs));
	if (!cs)
		return -ENOMEM;
	ret = read_array(t->client_slots_fd, cs, PSO_CLIENT_SLOTS, sizeof(*cs));
	for (uint32_t i = 0; !ret && i < PSO_CLIENT_SLOTS; i++) {
		struct pso_endpoint ep = cs[i].ep;

		if (!ep.family)
			continue;
		if (tbl_endpoint_slot(&ep) != i || bpf_map_lookup_elem(t->clients_fd, &ep, &val)) {
			snprintf(err, errlen, "client slot %u: enabled for a client %s", i,
				 tbl_endpoint_slot(&ep) != i ? "of another slot" : "not in the client table");
			ret = -EUCLEAN;
			break;
		}
		t->slot_owner[i] = ep;
		t->nclient_slots++;
	}
	free(cs);
	return ret;
}

int pso_tables_adopt(struct pso_tables *t, struct pso_tables_adoption *res, char *err,
		     size_t errlen)
{
	uint8_t *owned = NULL;
	int ret;

	memset(res, 0, sizeof(*res));
	if (t->grace) {
		snprintf(err, errlen, "tables adopted after their deferred mode started");
		return -EINVAL;
	}
	/* Whatever the daemon before us was doing, its readers are done. */
	tbl_wait_readers(t);
	ret = read_array(t->topics_fd, t->topics, t->max_topics, sizeof(*t->topics));
	if (!ret)
		ret = read_array(t->runs_fd, t->runs, t->max_topics, sizeof(*t->runs));
	if (!ret)
		ret = read_array(t->subs_fd, t->subs, t->pool_slots, sizeof(*t->subs));
	if (!ret && t->short_names_fd >= 0)
		ret = read_array(t->short_names_fd, t->short_names, t->max_topics,
				 sizeof(*t->short_names));
	if (ret) {
		snprintf(err, errlen, "cannot read the tables back: %s", strerror(-ret));
		return ret;
	}
	/* Check everything before anything is written. */
	if (t->topics[0].sub_count || t->topics[0].flags || tbl_run_cap(t, 0)) {
		snprintf(err, errlen, "topic 0 (reserved) holds an entry");
		return -EUCLEAN;
	}
	for (uint32_t id = 1; id < t->max_topics; id++) {
		ret = check_topic(t, (uint16_t)id, err, errlen);
		if (ret)
			return ret;
	}
	tbl_index_rebuild(t);
	for (uint32_t id = 1; id < t->max_topics; id++) {
		ret = check_twice(t, (uint16_t)id, err, errlen);
		if (ret)
			return ret;
	}
	/* Outside every run: zero, or a crash's half-made run (below). */
	owned = calloc(t->pool_slots, 1);
	if (!owned)
		return -ENOMEM;
	for (uint32_t id = 1; id < t->max_topics; id++)
		memset(owned + tbl_run_base(t, (uint16_t)id), 1, tbl_run_cap(t, (uint16_t)id));
	for (uint32_t id = 1; id < t->max_topics; id++) {
		/* The half readers do not use: a move that never flipped, or
		 * the run left by one that did (freed after its grace). */
		const struct pso_run *r = &t->runs[id];
		uint32_t ob = r->base[(r->cur & 1) ^ 1], oc = r->cap[(r->cur & 1) ^ 1];

		if (oc && oc <= PSO_MAX_RUN && (uint64_t)ob + oc <= t->pool_slots && !owned[ob])
			memset(owned + ob, 2, oc);
	}
	for (uint32_t k = 0; k < t->pool_slots; k++)
		if (!owned[k] && !sub_zero(&t->subs[k])) {
			snprintf(err, errlen, "pool slot %u is in no topic's run but not empty", k);
			free(owned);
			return -EUCLEAN;
		}
	ret = read_clients(t, err, errlen);
	if (!ret)
		ret = read_client_slots(t, err, errlen);
	if (ret) {
		free(owned);
		return ret;
	}
	/* Repairs.  A left-over run: zeroed (nobody reads it). */
	for (uint32_t k = 0; k < t->pool_slots; k++)
		if (owned[k] == 2 && !sub_zero(&t->subs[k])) {
			static const struct pso_sub zero;

			ret = tbl_map_write(t, t->subs_fd, &k, &zero, BPF_ANY);
			if (ret) {
				snprintf(err, errlen, "pool slot %u: cannot zero it: %s", k, strerror(-ret));
				free(owned);
				return ret;
			}
			t->subs[k] = zero;
			res->repaired++;
		}
	free(owned);
	tbl_index_rebuild(t);
	for (uint32_t id = 1; id < t->max_topics; id++) {
		const struct pso_topic *tp = &t->topics[id];
		uint32_t cap = tbl_run_cap(t, (uint16_t)id), n = live_of(t, (uint16_t)id);
		const struct pso_sub *slots = &t->subs[tbl_run_base(t, (uint16_t)id)];

		if (topic_needs_repair(t, (uint16_t)id)) {
			/* The live slots stay as they are; the rest goes. */
			memcpy(t->want, slots, cap * sizeof(*t->want));
			ret = tbl_topic_reconcile(t, (uint16_t)id, t->want, cap, n);
			if (ret) {
				snprintf(err, errlen, "topic %u: cannot repair it: %s", id, strerror(-ret));
				return ret;
			}
			res->repaired++;
		}
		if (tp->flags & PSO_TOPIC_F_VALID)
			res->topics++;
		t->nsubs += n;
		for (uint32_t i = 0; i < cap; i++)
			if (slots[i].family && !(slots[i].flags & PSO_SUB_F_RESOLVED))
				res->disabled++;
	}
	res->subs = t->nsubs;
	res->clients = t->nclients;
	res->client_slots = t->nclient_slots;
	return 0;
}

int pso_tables_foreach_client(const struct pso_tables *t,
			      int (*fn)(const struct pso_endpoint *ep, void *ctx), void *ctx)
{
	struct pso_endpoint key, next, *prev = NULL;
	int ret;

	while (!bpf_map_get_next_key(t->clients_fd, prev, &next)) {
		key = next;
		prev = &key;
		ret = fn(&key, ctx);
		if (ret)
			return ret;
	}
	return 0;
}
