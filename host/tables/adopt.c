// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * adopt.c - the table writer taking over maps a daemon before it wrote
 * (a restart, or a crash): the shadow is read back from the maps and
 * checked against the write protocol of subs.c and clients.c.
 *
 * The daemon before us may have stopped anywhere in the protocol, so the
 * maps hold one of its states, not necessarily a state at rest.  What can
 * be found, and what is done with it:
 *   - what no protocol state has (a sub_count above the slots, a live
 *     slot of no family, one subscriber servable twice in a topic, a client
 *     slot enabled without its HASH entry or in another's slot): the maps
 *     are not the protocol's, and the adoption is refused before anything
 *     is written (-EUCLEAN, one line naming the entry);
 *   - states a crash can leave (an add written but not counted: a slot
 *     beyond sub_count; `first` not yet following slot 0; a slot disabled
 *     for a change that never came): repaired with the protocol's own
 *     writes (tbl_topic_reconcile) towards the slots that are live and
 *     whole - a disabled live slot stays as it is, disabled, until its
 *     owner's session says what it is to be (or it expires);
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

/* The protocol's rules over one topic; 0 or -EUCLEAN with the reason. */
static int check_topic(const struct pso_tables *t, uint16_t id, char *err, size_t errlen)
{
	const struct pso_topic *tp = &t->topics[id];
	const struct pso_sub *slots = &t->subs[(size_t)id * t->max_subs];

	if (tp->sub_count > t->max_subs) {
		snprintf(err, errlen, "topic %u: sub_count %u above its %u slots", id, tp->sub_count,
			 t->max_subs);
		return -EUCLEAN;
	}
	for (uint32_t i = 0; i < tp->sub_count; i++) {
		if (!tbl_family_ok(slots[i].family)) {
			snprintf(err, errlen, "topic %u: live slot %u has no address family (%u)", id, i,
				 slots[i].family);
			return -EUCLEAN;
		}
		if (!(slots[i].flags & PSO_SUB_F_RESOLVED))
			continue;
		for (uint32_t j = i + 1; j < tp->sub_count; j++)
			if ((slots[j].flags & PSO_SUB_F_RESOLVED) && same_ep(&slots[i], &slots[j])) {
				snprintf(err, errlen, "topic %u: one subscriber servable in slots %u and %u",
					 id, i, j);
				return -EUCLEAN;
			}
	}
	return 0;
}

/* A crash's leftovers in one topic (see the top): does it need a repair? */
static bool topic_needs_repair(const struct pso_tables *t, uint16_t id)
{
	const struct pso_topic *tp = &t->topics[id];
	const struct pso_sub *slots = &t->subs[(size_t)id * t->max_subs];

	for (uint32_t i = tp->sub_count; i < t->max_subs; i++)
		if (!sub_zero(&slots[i]))
			return true;
	if (tp->sub_count && memcmp(&tp->first, &slots[0], sizeof(tp->first)))
		return true;
	if (!tp->sub_count && !sub_zero(&tp->first))
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
	size_t nslots = (size_t)t->max_topics * t->max_subs;
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
		ret = read_array(t->subs_fd, t->subs, (uint32_t)nslots, sizeof(*t->subs));
	if (!ret && t->short_names_fd >= 0)
		ret = read_array(t->short_names_fd, t->short_names, t->max_topics,
				 sizeof(*t->short_names));
	if (ret) {
		snprintf(err, errlen, "cannot read the tables back: %s", strerror(-ret));
		return ret;
	}
	/* Check everything before anything is written. */
	for (uint32_t id = 0; id < t->max_topics; id++) {
		ret = check_topic(t, (uint16_t)id, err, errlen);
		if (ret)
			return ret;
	}
	ret = read_clients(t, err, errlen);
	if (!ret)
		ret = read_client_slots(t, err, errlen);
	if (ret)
		return ret;
	/* Id 0 is no topic: nothing may be there. */
	if (t->topics[0].sub_count || t->topics[0].flags) {
		snprintf(err, errlen, "topic 0 (reserved) holds an entry");
		return -EUCLEAN;
	}
	for (uint32_t id = 1; id < t->max_topics; id++) {
		const struct pso_topic *tp = &t->topics[id];

		if (topic_needs_repair(t, (uint16_t)id)) {
			/* The live slots stay as they are; the rest goes. */
			struct pso_sub *want = t->want;

			memcpy(want, &t->subs[(size_t)id * t->max_subs], tp->sub_count * sizeof(*want));
			ret = tbl_topic_reconcile(t, (uint16_t)id, want, tp->sub_count);
			if (ret) {
				snprintf(err, errlen, "topic %u: cannot repair it: %s", id, strerror(-ret));
				return ret;
			}
			res->repaired++;
		}
		if (tp->flags & PSO_TOPIC_F_VALID)
			res->topics++;
		t->nsubs += tp->sub_count;
		for (uint32_t i = 0; i < tp->sub_count; i++)
			if (!(t->subs[(size_t)id * t->max_subs + i].flags & PSO_SUB_F_RESOLVED))
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
