// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * subs.c - the host's writer of pso_topics and pso_subs (topics and their
 * subscriber slots).
 *
 * The data plane reads these maps while we write them, and an update of an
 * ARRAY map is a plain memcpy into the value the programs point at: a reader
 * on another CPU can see any mix of the old and the new bytes of one entry.
 * Readers:
 *   XDP  reads pso_topics[id]: flags, sub_count, and when sub_count == 1 the
 *        copy of slot 0 in `first` - its flags and family (pso_sub_servable)
 *        and then the header fields it rewrites.  Unservable -> XDP_PASS.
 *   TC   reads sub_count once, then pso_subs[id * max_subs + i] for
 *        i < sub_count, each the same way; an unservable slot is left to
 *        the daemon (the packet goes up), never half-used.
 * A slot (or `first`) is delivered to only if its flags byte has
 * PSO_SUB_F_RESOLVED.  Every write below is one of three kinds:
 *
 *   disable  clear the flags byte, nothing else about the slot changes;
 *   content  change the other fields of a slot whose flags are 0 before
 *            and after;
 *   enable   set the flags byte, nothing else about the slot changes.
 *
 * A torn read of a disable or an enable mixes only the flags byte (one byte
 * cannot tear) over unchanged content: the reader sees the old or the new
 * slot whole, or an unservable one.  A torn read of a content write mixes
 * two versions of the fields, but with flags 0 on both sides the mix is not
 * servable and is never used.  So no reader acting on one write's mix of
 * bytes delivers to a mix of two subscribers.
 *
 * sub_count changes ride on one of these writes, by one at a time: only its
 * low byte changes when max_subs <= 255 (PSO_MAX_SUBS is 64), and a torn
 * sub_count of a larger table reads as a value the reader handles safely
 * (never 1 unless 1 is the old or new value; TC clamps to PSO_MAX_SUBS and
 * finds extra slots cleared).  When it rides on an enable of `first` (the
 * first subscriber), each of the two bytes reads old or new over the same,
 * final content: XDP delivers only on count 1 and the flag set, which is
 * the new state.
 *
 * The write order (reconcile()), for any change of one topic:
 *
 *  1. Disable.  Lower sub_count first if it goes down, so the slots leaving
 *     the count are no longer read by new readers; in the same write clear
 *     first.flags if slot 0's content changes.  Then disable every slot whose
 *     content changes, and every slot that leaves the count (the old last
 *     slot of a removal: a TC run that read the old sub_count may still be
 *     walking the slots, and must not find the moved subscriber twice).
 *  2. Wait for readers (sync_readers) if step 1 disabled anything resolved:
 *     a reader that read a set flags byte before step 1 may still be
 *     reading that slot's fields; after the grace period no such reader
 *     exists and the content can be rewritten.
 *  3. Slots below the new sub_count: content, then enable.  A slot at or
 *     beyond the current sub_count (an added subscriber) is not read by
 *     anyone, so it is written once, whole.
 *  4. The topic entry: first's new content with flags 0, then the final
 *     entry with first's flags and the raised sub_count (the commit point
 *     of an add: the slot it covers was written in step 3).  While
 *     sub_count is 0 XDP never looks at `first`.
 *  5. Zero the slots beyond the new sub_count (already disabled).
 * Writes that would not change the map are skipped.
 *
 * What that gives for the operations:
 *   add        slot[n] = s; topic {n+1} (n > 0: slot 0 is unchanged, one
 *              write), or {0, first=s/flags 0} then {1, first=s} for the
 *              first subscriber.  No wait.
 *   update i   disable slot i (and first if i == 0), wait, new content,
 *              enable; then first the same way.  A slot that was not
 *              resolved (next hop being learned) needs no disable or wait.
 *   remove i   {n-1} (+ first disabled if i == 0), disable slot i and the
 *              last slot, wait, move the last slot's subscriber into slot i
 *              (content, enable), first follows slot 0, zero the old last.
 * QoS 0 is at most once: a subscriber whose slot is being rewritten or moved
 * may miss the publishes that arrive meanwhile (its slot reads as
 * unservable, or is beyond sub_count for a reader that read the new count
 * before the move); it never gets one twice, because its old place is
 * disabled before its new place is enabled and TC walks the slots upwards
 * (the moved subscriber's old place is the last slot, after its new one).
 * A subscriber being removed may still get a publish that was in flight.
 *
 * What the grace period covers: without it (sync_readers NULL) the argument
 * above holds for readers that overlap one map write, not for a reader
 * stalled (interrupt, vCPU preemption) across two or more writes, which
 * could read flags from one state and fields from a later one.  With it, a
 * reader that saw a set flags byte has finished before the fields change.
 * The cost: one grace period (measured 4-30 ms) per removal of a resolved
 * subscriber and per change of a resolved slot's fields (a new next-hop
 * MAC), spent inside the call unless the tables are deferred (below: then
 * no call waits, and a burst of such changes shares at most two periods);
 * adds, first resolutions and flags-only changes never wait.  The
 * argument also takes the reader's loads of one entry to be performed in
 * order, as on x86; on weakly ordered CPUs it relies on reordering windows
 * being far shorter than a map update system call.
 *
 * Deferred mode (pso_tables_defer_start(), grace.c).  Each topic has a
 * target: what the callers have asked for.  At rest the target is what the
 * maps hold; a topic whose target they do not hold yet is pending, with the
 * target in its pending record and `need`, the grace period its disabled
 * slots wait for.  Every operation answers from the target (-EEXIST,
 * -ENOENT, -ENOSPC at once), sets the new target and advances the topic
 * (topic_advance()): step 1 from whatever the maps hold now to the new
 * target, then - if nothing disabled is waiting (need <= syncs) - steps 3
 * to 5 at once; else the topic stays pending, and pso_tables_grace_done()
 * runs step 1 again (a no-op unless something changed) and steps 3 to 5
 * once need has completed.  So step 2 is the only step that moved: it is
 * no longer a wait inside the call but the condition need <= syncs, where
 * need is the period that started after the disable (grace.c), taken
 * after every step 1 that cleared a RESOLVED flag and only ever raised.
 * The invariants hold as before, for any sequence of targets:
 *   - no torn read serves a mix: every write is still a disable, a content
 *     write with flags 0 on both sides, or an enable; content is rewritten
 *     only by steps 3 to 5, which run only after every disable of the
 *     topic (this target's or an earlier one's) has had a period that
 *     started after it;
 *   - no subscriber twice: steps 3 to 5 enable a subscriber's new place
 *     only after step 1 has disabled every place whose content is not the
 *     target's, its old place included (and, for a resolved old place,
 *     after that period);
 *   - the shadow equals the maps: unchanged, the shadow still follows each
 *     write that succeeded; the target is kept apart from it.
 * One more rule in deferred mode: step 3 writes a slot at or beyond the
 * current sub_count in two steps too (content with flags 0, then enable).
 * Synchronously such a slot was always drained by the same operation; now
 * an earlier operation may have lowered the count without any wait (the
 * slot was not resolved), and a reader that read the higher count may
 * still be reading the slot when a later add fills it.
 * While a topic waits, its changes reach the data plane together: an add
 * to a pending topic is not written before the topic's grace period (the
 * daemon delivers to it meanwhile: pso_tables_sub_served() is false).
 * A map write that fails in pso_tables_grace_done() (the caller has had its
 * answer) leaves a state of the protocol, which is safe and in the shadow;
 * the topic stays pending, deferred_errors counts it, and it is retried
 * after the next grace period, which it asks for.  A write that fails in
 * the caller's own steps is the caller's error: the target goes back to
 * what it was and the topic is advanced towards it.
 *
 * Errors.  A failed map write leaves the map as it was, so the shadow is
 * updated only after a successful write and always equals the maps.  The
 * operation is then undone by reconciling back to the topic's previous
 * contents (by the same rules); the caller gets the first error.  If the
 * undo fails too, the topic holds an intermediate state of the protocol:
 * safe for the data plane, and mirrored by the shadow.
 */
#include <errno.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include "tables/tables_int.h"

static const struct pso_sub zero_sub;

static struct pso_sub *slots_of(const struct pso_tables *t, uint16_t id)
{
	return &t->subs[(size_t)id * t->max_subs];
}

/*
 * When a slot (or a topic's `first`) became servable: the wall clock read
 * just before the write that set its RESOLVED flag, so that the daemon can
 * tell, for a datagram the kernel stamped at T, whether the data plane
 * could have served that slot then (pso_tables_sub_served_at()).
 */
static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int topic_write(struct pso_tables *t, uint16_t id, const struct pso_topic *v)
{
	uint32_t key = id;
	bool enabling = (v->first.flags & PSO_SUB_F_RESOLVED) &&
			!(t->topics[id].first.flags & PSO_SUB_F_RESOLVED);
	uint64_t t0 = enabling ? realtime_ns() : 0;
	int err;

	if (!memcmp(&t->topics[id], v, sizeof(*v)))
		return 0;
	err = tbl_map_write(t, t->topics_fd, &key, v, BPF_ANY);
	if (!err) {
		t->topics[id] = *v;
		if (enabling && t->first_since)
			t->first_since[id] = t0;
	}
	return err;
}

static int slot_write(struct pso_tables *t, uint16_t id, uint32_t slot, const struct pso_sub *v)
{
	struct pso_sub *shadow = &slots_of(t, id)[slot];
	uint32_t key = (uint32_t)id * t->max_subs + slot;
	bool enabling = (v->flags & PSO_SUB_F_RESOLVED) && !(shadow->flags & PSO_SUB_F_RESOLVED);
	uint64_t t0 = enabling ? realtime_ns() : 0;
	int err;

	if (!memcmp(shadow, v, sizeof(*v)))
		return 0;
	err = tbl_map_write(t, t->subs_fd, &key, v, BPF_ANY);
	if (!err) {
		*shadow = *v;
		if (enabling && t->slot_since)
			t->slot_since[key] = t0;
	}
	return err;
}

/* Equal apart from the flags byte. */
static bool same_content(const struct pso_sub *a, const struct pso_sub *b)
{
	struct pso_sub x = *a, y = *b;

	x.flags = 0;
	y.flags = 0;
	return !memcmp(&x, &y, sizeof(x));
}

static struct pso_sub disabled(const struct pso_sub *s)
{
	struct pso_sub d = *s;

	d.flags = 0;
	return d;
}

/*
 * Bring topic id from what the maps hold to want[0..n-1], in the order the
 * comment at the top explains.
 */
/* Step 1 of reconcile(): *drain is set when a RESOLVED flag went off. */
static int reconcile_disable(struct pso_tables *t, uint16_t id, const struct pso_sub *want,
			     uint32_t n, bool *drain)
{
	struct pso_sub *slots = slots_of(t, id);
	const struct pso_topic *cur = &t->topics[id];
	const struct pso_sub *first = n ? &want[0] : &zero_sub;
	struct pso_topic v;
	struct pso_sub s;
	int err;

	/* 1. disable */
	v = *cur;
	if (n < v.sub_count)
		v.sub_count = n;
	if (v.first.flags && !same_content(&v.first, first)) {
		*drain |= v.first.flags & PSO_SUB_F_RESOLVED;
		v.first.flags = 0;
	}
	err = topic_write(t, id, &v);
	for (uint32_t i = 0; !err && i < t->max_subs; i++) {
		if (slots[i].flags && !same_content(&slots[i], i < n ? &want[i] : &zero_sub)) {
			*drain |= slots[i].flags & PSO_SUB_F_RESOLVED;
			s = disabled(&slots[i]);
			err = slot_write(t, id, i, &s);
		}
	}
	return err;
}

/* Steps 3 to 5 of reconcile(), once readers of step 1 are gone. */
static int reconcile_enable(struct pso_tables *t, uint16_t id, const struct pso_sub *want,
			    uint32_t n)
{
	struct pso_sub *slots = slots_of(t, id);
	const struct pso_topic *cur = &t->topics[id];
	const struct pso_sub *first = n ? &want[0] : &zero_sub;
	struct pso_topic v;
	struct pso_sub s;
	int err = 0;

	/* 3. slots below the new count */
	for (uint32_t i = 0; !err && i < n; i++) {
		/* Deferred mode writes every slot in two steps, also one beyond
		 * the count: a reader that read a higher count before an earlier
		 * operation lowered it may still be reading (see above). */
		if ((i < cur->sub_count || t->grace) && !same_content(&slots[i], &want[i])) {
			s = disabled(&want[i]);
			err = slot_write(t, id, i, &s);
		}
		if (!err)
			err = slot_write(t, id, i, &want[i]);
	}
	if (err)
		return err;

	/* 4. the topic entry: first's content, then its flags and the count */
	if (!same_content(&cur->first, first)) {
		v = *cur;
		v.first = disabled(first);
		err = topic_write(t, id, &v);
		if (err)
			return err;
	}
	v = *cur;
	v.sub_count = n;
	v.first = *first;
	err = topic_write(t, id, &v);

	/* 5. the slots that left the count */
	for (uint32_t i = n; !err && i < t->max_subs; i++)
		err = slot_write(t, id, i, &zero_sub);
	return err;
}

/* Apply t->want[0..n-1] to topic id; on failure put the topic back. */
static int reconcile(struct pso_tables *t, uint16_t id, const struct pso_sub *want, uint32_t n)
{
	bool drain = false;
	int err = reconcile_disable(t, id, want, n, &drain);

	if (err)
		return err;
	/* 2. wait for readers of what step 1 disabled */
	if (drain)
		tbl_wait_readers(t);
	return reconcile_enable(t, id, want, n);
}

/* ---- deferred mode: topics waiting for a grace period ---------------------- */

/* The topic's target: what the callers asked for, pending or at rest. */
static const struct pso_sub *target(const struct pso_tables *t, uint16_t id, uint32_t *n)
{
	const struct pso_pending *p = t->pending ? t->pending[id] : NULL;

	if (p) {
		*n = p->n;
		return p->want;
	}
	*n = t->topics[id].sub_count;
	return slots_of(t, id);
}

/* The topic's pending record, made (target: the maps) when it has none. */
static struct pso_pending *pending_get(struct pso_tables *t, uint16_t id)
{
	struct pso_pending *p;

	if (!t->pending) {
		t->pending = calloc(t->max_topics, sizeof(*t->pending));
		t->pending_ids = calloc(t->max_topics, sizeof(*t->pending_ids));
		if (!t->pending || !t->pending_ids) {
			free(t->pending);
			free(t->pending_ids);
			t->pending = NULL;
			t->pending_ids = NULL;
			return NULL;
		}
	}
	if (t->pending[id])
		return t->pending[id];
	p = calloc(1, sizeof(*p) + t->max_subs * sizeof(p->want[0]));
	if (!p)
		return NULL;
	p->n = t->topics[id].sub_count;
	memcpy(p->want, slots_of(t, id), p->n * sizeof(p->want[0]));
	p->pos = t->npending;
	t->pending_ids[t->npending++] = id;
	t->pending[id] = p;
	return p;
}

static void pending_drop(struct pso_tables *t, uint16_t id)
{
	struct pso_pending *p = t->pending[id];
	uint16_t last = t->pending_ids[--t->npending];

	t->pending_ids[p->pos] = last;
	t->pending[last]->pos = p->pos;
	t->pending[id] = NULL;
	free(p);
}

/*
 * Take topic id as far towards its target as it can go without waiting:
 * step 1 always (from whatever the maps hold now), steps 3 to 5 only when
 * every slot it has disabled has had its grace period (need <= syncs).  A
 * topic that arrives at its target is no longer pending.
 */
int tbl_topic_reconcile(struct pso_tables *t, uint16_t id, const struct pso_sub *want, uint32_t n)
{
	return reconcile(t, id, want, n);
}

static int topic_advance(struct pso_tables *t, uint16_t id)
{
	struct pso_pending *p = t->pending[id];
	bool drain = false;
	int err = reconcile_disable(t, id, p->want, p->n, &drain);

	if (err)
		return err;
	if (drain) {
		/* Read after the disable writes returned: a period that had
		 * already started does not count. */
		uint64_t need = tbl_grace_need(t);

		if (need > p->need)
			p->need = need;
	}
	if (p->need > t->syncs) {
		tbl_grace_request(t, p->need);
		return 0;
	}
	err = reconcile_enable(t, id, p->want, p->n);
	if (err)
		return err;
	pending_drop(t, id);
	return 0;
}

/* A step failed after the caller had its answer: the maps hold a state of
 * the protocol (safe, and equal to the shadow); try again after the next
 * grace period. */
static void topic_retry(struct pso_tables *t, uint16_t id)
{
	struct pso_pending *p = t->pending[id];

	t->deferred_errors++;
	p->need = tbl_grace_need(t);
	tbl_grace_request(t, p->need);
}

/* Deferred apply(): want[0..n-1] becomes the target; the steps that need no
 * wait are done now.  A write error here is the caller's: the target goes
 * back to what it was, and the topic back towards it. */
static int defer_apply(struct pso_tables *t, uint16_t id, const struct pso_sub *want, uint32_t n)
{
	struct pso_pending *p = pending_get(t, id);
	uint32_t old_n;
	int err;

	if (!p)
		return -ENOMEM;
	old_n = p->n;
	memcpy(t->undo, p->want, old_n * sizeof(*t->undo));
	memcpy(p->want, want, n * sizeof(*want));
	p->n = n;
	err = topic_advance(t, id);
	if (err) {
		/* What the failed attempt disabled has no need recorded: count
		 * it as disabled now (more than it needs; errors are rare). */
		uint64_t need = tbl_grace_need(t);

		if (need > p->need)
			p->need = need;
		memcpy(p->want, t->undo, old_n * sizeof(*t->undo));
		p->n = old_n;
		if (topic_advance(t, id))
			topic_retry(t, id);
	}
	return err;
}

void tbl_subs_grace_done(struct pso_tables *t)
{
	/* Backwards: pending_drop() moves the last entry, already seen, into
	 * the place it frees. */
	for (uint32_t i = t->npending; i-- > 0;) {
		uint16_t id = t->pending_ids[i];

		if (t->pending[id]->need <= t->syncs && topic_advance(t, id))
			topic_retry(t, id);
	}
}

void tbl_subs_forget_pending(struct pso_tables *t)
{
	while (t->npending)
		pending_drop(t, t->pending_ids[t->npending - 1]);
	free(t->pending);
	free(t->pending_ids);
	t->pending = NULL;
	t->pending_ids = NULL;
}

static int apply(struct pso_tables *t, uint16_t id, uint32_t n)
{
	uint32_t old_n = t->topics[id].sub_count;
	int err;

	if (t->grace)
		return defer_apply(t, id, t->want, n);
	memcpy(t->undo, slots_of(t, id), old_n * sizeof(*t->undo));
	err = reconcile(t, id, t->want, n);
	if (err)
		reconcile(t, id, t->undo, old_n);	/* best effort */
	return err;
}

/* ---- topics and subscribers ----------------------------------------------- */

int pso_tables_topic_set(struct pso_tables *t, uint16_t id, uint8_t flags)
{
	struct pso_topic v;

	if (!tbl_id_ok(t, id))
		return -EINVAL;
	v = t->topics[id];
	v.flags = PSO_TOPIC_F_VALID | flags;
	return topic_write(t, id, &v);	/* the flags byte only */
}

int pso_tables_use_short_names(struct pso_tables *t, int fd)
{
	int err = tbl_check_map(fd, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
				sizeof(struct pso_short_name), t->max_topics);

	if (!err)
		t->short_names_fd = fd;
	return err;
}

/*
 * The name is written once, before the topic's first short-form slot is
 * servable, and stays while the id is in use, so the data plane never
 * reads it half written.  A later call with the same name writes nothing.
 */
int pso_tables_short_name_set(struct pso_tables *t, uint16_t id, const uint8_t name[2])
{
	struct pso_short_name v = { .name = { name[0], name[1] }, .valid = 1 };
	__u32 key = id;
	int err;

	if (!tbl_id_ok(t, id))
		return -EINVAL;
	if (t->short_names_fd < 0 || !memcmp(&t->short_names[id], &v, sizeof(v)))
		return 0;
	err = tbl_fd_write(t, t->short_names_fd, &key, &v, BPF_ANY);
	if (!err)
		t->short_names[id] = v;
	return err;
}

/* The slot as the maps may hold it: a short-form slot of a topic whose
 * short name the data plane does not have is the daemon's. */
static struct pso_sub slot_as_written(const struct pso_tables *t, uint16_t id,
				      const struct pso_sub *s)
{
	struct pso_sub out = *s;

	if ((out.flags & PSO_SUB_F_SHORT) && !t->short_names[id].valid)
		out.flags &= ~PSO_SUB_F_RESOLVED;
	return out;
}

const struct pso_topic *pso_tables_topic(const struct pso_tables *t, uint16_t id)
{
	return id < t->max_topics ? &t->topics[id] : NULL;
}

const struct pso_sub *pso_tables_slot(const struct pso_tables *t, uint16_t id, uint32_t slot)
{
	return id < t->max_topics && slot < t->max_subs ? &slots_of(t, id)[slot] : NULL;
}

/* The slot of ep in the topic's target (the maps, when it is at rest). */
static int find_slot(const struct pso_tables *t, uint16_t id, const struct pso_endpoint *ep)
{
	struct pso_endpoint have;
	uint32_t n;
	const struct pso_sub *slots = target(t, id, &n);

	for (uint32_t i = 0; i < n; i++) {
		pso_sub_endpoint(&slots[i], &have);
		if (!memcmp(&have, ep, sizeof(have)))
			return i;
	}
	return -ENOENT;
}

int pso_tables_sub_find(const struct pso_tables *t, uint16_t id, const struct pso_endpoint *ep)
{
	struct pso_endpoint key = *ep;

	if (!tbl_id_ok(t, id) || !tbl_family_ok(ep->family))
		return -EINVAL;
	tbl_normalize_endpoint(&key);
	return find_slot(t, id, &key);
}

int pso_tables_sub_add(struct pso_tables *t, uint16_t id, const struct pso_sub *sub)
{
	struct pso_sub s = tbl_normalize_sub(sub);
	const struct pso_sub *cur;
	struct pso_endpoint ep;
	uint32_t n;
	int err;

	if (!tbl_id_ok(t, id) || !tbl_family_ok(s.family))
		return -EINVAL;
	pso_sub_endpoint(&s, &ep);
	if (find_slot(t, id, &ep) >= 0)
		return -EEXIST;
	cur = target(t, id, &n);
	if (n >= t->max_subs)
		return -ENOSPC;
	memcpy(t->want, cur, n * sizeof(*t->want));
	t->want[n] = slot_as_written(t, id, &s);
	err = apply(t, id, n + 1);
	if (!err)
		t->nsubs++;
	return err;
}

int pso_tables_sub_update(struct pso_tables *t, uint16_t id, const struct pso_sub *sub)
{
	struct pso_sub s = tbl_normalize_sub(sub);
	struct pso_endpoint ep;
	uint32_t n;
	int i;

	if (!tbl_id_ok(t, id) || !tbl_family_ok(s.family))
		return -EINVAL;
	pso_sub_endpoint(&s, &ep);
	i = find_slot(t, id, &ep);
	if (i < 0)
		return i;
	memcpy(t->want, target(t, id, &n), sizeof(*t->want) * t->max_subs);
	t->want[i] = slot_as_written(t, id, &s);
	return apply(t, id, n);
}

/*
 * One subscriber's change in many topics (a client leaving, a next hop
 * moving): every topic's step 1, one wait for readers, then every topic's
 * steps 3 to 5, so the cost is one grace period, not one per topic.  The
 * shadow follows every write that succeeded; the first error is returned.
 */
static int apply_many(struct pso_tables *t, const uint16_t *ids, int n,
		      struct pso_sub *wants, const uint32_t *counts)
{
	bool drain = false;
	int err = 0, done = 0;

	for (; done < n && !err; done++)
		err = reconcile_disable(t, ids[done], wants + (size_t)done * t->max_subs,
					counts[done], &drain);
	if (drain)
		tbl_wait_readers(t);
	for (int i = 0; i < done; i++) {
		int e = reconcile_enable(t, ids[i], wants + (size_t)i * t->max_subs, counts[i]);

		if (e && !err)
			err = e;
	}
	return err;
}

/* remove (s NULL) or update (s given) the slot of ep in each topic of ids. */
static int change_many(struct pso_tables *t, const struct pso_endpoint *ep,
		       const struct pso_sub *s, const uint16_t *ids, int n)
{
	struct pso_sub *wants = calloc((size_t)(n ? n : 1) * t->max_subs, sizeof(*wants));
	uint16_t *todo = calloc(n ? n : 1, sizeof(*todo));
	uint32_t *counts = calloc(n ? n : 1, sizeof(*counts));
	int m = 0, removed = 0, err;

	if (!wants || !todo || !counts) {
		err = -ENOMEM;
		goto out;
	}
	for (int k = 0; k < n; k++) {
		struct pso_sub *want = wants + (size_t)m * t->max_subs;
		uint32_t cnt;
		int i;

		if (!tbl_id_ok(t, ids[k]))
			continue;
		i = find_slot(t, ids[k], ep);
		if (i < 0)
			continue;
		memcpy(want, target(t, ids[k], &cnt), t->max_subs * sizeof(*want));
		if (s) {
			want[i] = slot_as_written(t, ids[k], s);
		} else {
			want[i] = want[cnt - 1];	/* the last slot fills the hole */
			cnt--;
			removed++;
		}
		todo[m] = ids[k];
		counts[m++] = cnt;
	}
	if (t->grace) {
		/* Each topic on its own: all disabled now, every one waiting
		 * for the same next grace period. */
		err = 0;
		t->grace_hold = true;
		for (int k = 0; k < m; k++) {
			int e = defer_apply(t, todo[k], wants + (size_t)k * t->max_subs, counts[k]);

			if (e && !err)
				err = e;
			if (!e && !s)
				t->nsubs--;
		}
		/* One request, after every disable: the worker starts no
		 * period in the middle that the later topics would miss. */
		t->grace_hold = false;
		tbl_grace_request(t, t->grace_held);
		t->grace_held = 0;
		goto out;
	}
	err = apply_many(t, todo, m, wants, counts);
	/* nsubs counts what the maps hold: recount the topics touched. */
	if (!s) {
		if (!err) {
			t->nsubs -= removed;
		} else {
			uint32_t live = 0;

			for (uint32_t id = 0; id < t->max_topics; id++)
				live += t->topics[id].sub_count;
			t->nsubs = live;
		}
	}
out:
	free(wants);
	free(todo);
	free(counts);
	return err;
}

int pso_tables_sub_remove_many(struct pso_tables *t, const struct pso_endpoint *ep,
			       const uint16_t *ids, int n)
{
	struct pso_sub probe = { 0 };
	struct pso_endpoint key = *ep;

	if (!tbl_family_ok(key.family))
		return -EINVAL;
	/* Normalise the endpoint as the slots hold it. */
	probe.family = key.family;
	probe.dst_port = key.port;
	memcpy(probe.dst_addr, key.addr, sizeof(probe.dst_addr));
	probe = tbl_normalize_sub(&probe);
	pso_sub_endpoint(&probe, &key);
	return change_many(t, &key, NULL, ids, n);
}

int pso_tables_sub_update_many(struct pso_tables *t, const struct pso_sub *sub,
			       const uint16_t *ids, int n)
{
	struct pso_sub s = tbl_normalize_sub(sub);
	struct pso_endpoint ep;

	if (!tbl_family_ok(s.family))
		return -EINVAL;
	pso_sub_endpoint(&s, &ep);
	return change_many(t, &ep, &s, ids, n);
}

int pso_tables_sub_remove(struct pso_tables *t, uint16_t id, const struct pso_endpoint *ep)
{
	uint32_t n;
	int i, err;

	i = pso_tables_sub_find(t, id, ep);
	if (i < 0)
		return i;
	memcpy(t->want, target(t, id, &n), sizeof(*t->want) * t->max_subs);
	t->want[i] = t->want[n - 1];	/* the last slot fills the hole */
	err = apply(t, id, n - 1);
	if (!err)
		t->nsubs--;
	return err;
}

const struct pso_sub *pso_tables_target(const struct pso_tables *t, uint16_t id, uint32_t *n)
{
	if (!tbl_id_ok(t, id)) {
		*n = 0;
		return NULL;
	}
	return target(t, id, n);
}

/*
 * The map state, as the data plane reads it: XDP serves a one-subscriber
 * topic from `first`; TC walks the slots below sub_count (a publish XDP
 * passed up with an unservable `first` included).
 */
bool pso_tables_sub_served(const struct pso_tables *t, uint16_t id,
			   const struct pso_endpoint *ep, uint8_t family)
{
	return pso_tables_sub_served_at(t, id, ep, family, 0);
}

bool pso_tables_sub_served_at(const struct pso_tables *t, uint16_t id,
			      const struct pso_endpoint *ep, uint8_t family, uint64_t at_ns)
{
	const struct pso_topic *tp;
	const struct pso_sub *slots;
	struct pso_endpoint key = *ep, have;

	if (!tbl_id_ok(t, id) || !tbl_family_ok(ep->family))
		return false;
	tbl_normalize_endpoint(&key);
	tp = &t->topics[id];
	if (!(tp->flags & PSO_TOPIC_F_VALID))
		return false;
	if (tp->sub_count == 1 && pso_sub_servable(&tp->first, family)) {
		pso_sub_endpoint(&tp->first, &have);
		/* Servable since after the datagram came in: it was not then. */
		return !memcmp(&have, &key, sizeof(key)) &&
		       (!at_ns || !t->first_since || t->first_since[id] <= at_ns);
	}
	slots = slots_of(t, id);
	for (uint32_t i = 0; i < tp->sub_count && i < t->max_subs; i++) {
		pso_sub_endpoint(&slots[i], &have);
		if (!memcmp(&have, &key, sizeof(key)) && pso_sub_servable(&slots[i], family))
			return !at_ns || !t->slot_since ||
			       t->slot_since[(size_t)id * t->max_subs + i] <= at_ns;
	}
	return false;
}
