// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * subs.c - the host's writer of pso_topics, pso_topic_runs and pso_subs
 * (topics, the run of the subscriber pool each one owns, and the slots).
 *
 * The data plane reads these maps while we write them, and an update of an
 * ARRAY map is a plain memcpy into the value the programs point at: a reader
 * on another CPU can see any mix of the old and the new bytes of one entry.
 * Readers:
 *   XDP  reads pso_topics[id]: flags, sub_count, and when sub_count == 1 the
 *        copy in `first` of the topic's first live slot - its flags and
 *        family (pso_sub_servable) and then the header fields it rewrites.
 *        Unservable -> XDP_PASS.
 *   TC   reads sub_count (0: drop), then pso_topic_runs[id]: `cur`, then
 *        base[cur] and cap[cur], and walks pso_subs[base .. base+cap-1]:
 *        an empty slot (family 0) is skipped, a servable one gets a copy,
 *        any other is left to the daemon (the packet goes up), never
 *        half-used.
 * sub_count is min(subscribers, PSO_SUB_COUNT_MAX = 255): its high byte is
 * always 0, so a torn read of it sees the old or the new count.
 *
 * Slots.  A slot (or `first`) is delivered to only if its flags byte has
 * PSO_SUB_F_RESOLVED.  Every write to a slot a reader may walk is one of:
 *
 *   disable  clear the flags byte, nothing else about the slot changes;
 *   content  change the other fields of a slot whose flags are 0 before
 *            and after (an empty slot's included: it is walked too);
 *   enable   set the flags byte, nothing else about the slot changes.
 *
 * A torn read of a disable or an enable mixes only the flags byte (one byte
 * cannot tear) over unchanged content: the reader sees the old or the new
 * slot whole, or an unservable one.  A torn read of a content write mixes
 * two versions of the fields, but with flags 0 on both sides the mix is not
 * servable and is never used (a family byte read as non-zero makes it the
 * daemon's, read as 0 makes it empty: both safe).  So no reader acting on
 * one write's mix of bytes delivers to a mix of two subscribers.
 *
 * A removal leaves a hole (the slot is disabled, and zeroed after the grace
 * period); an add fills the first hole.  No subscriber ever moves inside a
 * run, so a reader walking it cannot meet one subscriber twice.
 *
 * The write order within a run (reconcile()), for any change of one topic:
 *
 *  1. Disable.  Lower sub_count first if it goes down; in the same write
 *     clear first.flags if first's content changes.  Then disable every
 *     slot whose content changes (a removed subscriber's included).
 *  2. Wait for readers (sync_readers) if step 1 disabled anything resolved:
 *     a reader that read a set flags byte before step 1 may still be
 *     reading that slot's fields; after the grace period no such reader
 *     exists and the content can be rewritten.
 *  3. Every live slot of the target: content (flags 0), then enable.
 *  4. The topic entry: first's new content with flags 0, then the final
 *     entry with first's flags and the new sub_count (the commit point of
 *     an add for XDP).  While sub_count is 0 XDP never looks at `first`.
 *  5. Zero the slots that are holes in the target (already disabled).
 * Writes that would not change the map are skipped.
 *
 * What that gives for the operations:
 *   add        slot[h] = s (content, enable) in the first hole h, then the
 *              topic's count.  No wait.
 *   update i   disable slot i (and first if it is slot i), wait, new
 *              content, enable; then first the same way.  A slot that was
 *              not resolved (next hop being learned) needs no disable or
 *              wait.
 *   remove i   the count (+ first disabled if it is slot i), disable slot
 *              i, wait, zero slot i; first follows the first live slot.
 * QoS 0 is at most once: a subscriber whose slot is being rewritten may
 * miss the publishes that arrive meanwhile (its slot reads as unservable:
 * the daemon's, which delivers to it only if it judges the slot unserved);
 * it never gets one twice.  A subscriber being removed may still get a
 * publish that was in flight.
 *
 * Runs.  A topic's run is 2^k slots of the pool (pool.c), k at most
 * log2(max_run): cap 0 (no run) for a topic without subscribers, grown x2
 * when an add finds no hole, shrunk when at most a quarter is used (to
 * twice the next power of two of what is, or freed when nothing is).  A
 * move takes the topic from run A to run B:
 *   a. write B's slots whole: the map state of A's (a grow keeps every
 *      index; a shrink keeps the order of the live ones) - no reader has
 *      B's base, so nobody reads them;
 *   b. write the half of the run entry readers do not use (cur ^ 1):
 *      {B's base, cap} - nobody reads it, see c;
 *   c. flip cur (the other half and cur rewritten with their own bytes);
 *   d. after a grace period: A's slots zeroed and A freed, and the half
 *      readers left (A's) may be written again (half_need).
 * A reader reads cur once, then that half, so it walks A whole or B whole:
 * a subscriber moved is met once, and none is skipped by the move.  A
 * second move of the same topic waits for d (deferred mode: the topic is
 * pending meanwhile, and an add beyond the old run is the daemon's).
 * Shrinks happen only at rest (map state = target), and never wait:
 * one that cannot happen now is tried when the topic next comes to rest.
 * A move changes no slot's content and no flag: the topic entry stays.
 * Slots outside every live and retired run are zero in the maps (and the
 * shadow), which adoption checks.
 *
 * What the grace period covers: without it (sync_readers NULL) the argument
 * above holds for readers that overlap one map write, not for a reader
 * stalled (interrupt, vCPU preemption) across two or more writes, which
 * could read flags from one state and fields from a later one.  With it, a
 * reader that saw a set flags byte has finished before the fields change.
 * The cost: one grace period (measured 4-30 ms) per removal of a resolved
 * subscriber, per change of a resolved slot's fields (a new next-hop MAC)
 * and per run move, spent inside the call unless the tables are deferred
 * (below: then no call waits, and a burst of such changes shares at most
 * two periods); adds into a hole, first resolutions and flags-only
 * changes never wait.  The argument also takes the reader's loads of one
 * entry to be performed in order, as on x86; on weakly ordered CPUs it
 * relies on reordering windows being far shorter than a map update system
 * call.
 *
 * Deferred mode (pso_tables_defer_start(), grace.c).  Each topic has a
 * target: what the callers have asked for - a run length (cap) and its
 * slots, with holes.  At rest the target is what the maps hold; a topic
 * whose target they do not hold yet is pending, with the target in its
 * pending record and `need`, the grace period its disabled slots (or its
 * next move) wait for.  Every operation answers from the target (-EEXIST,
 * -ENOENT, -ENOSPC at once: a grow allocates the target's run then), sets
 * the new target and advances the topic (topic_advance()): the move, if
 * the target's cap is not the map's and half_need has completed; step 1
 * from whatever the maps hold now to the new target; then - if nothing
 * disabled is waiting (need <= syncs) - steps 3 to 5 at once; else the
 * topic stays pending, and pso_tables_grace_done() advances it again once
 * need has completed.  So step 2 is the only step that moved: it is no
 * longer a wait inside the call but the condition need <= syncs, where
 * need is the period that started after the disable (grace.c), taken
 * after every step 1 that cleared a RESOLVED flag and only ever raised.
 * The invariants hold as before, for any sequence of targets:
 *   - no torn read serves a mix: every write is still a disable, a content
 *     write with flags 0 on both sides, an enable, or a write nobody reads
 *     (a run before the flip, a half before it is flipped to); content is
 *     rewritten only by steps 3 to 5, which run only after every disable of
 *     the topic (this target's or an earlier one's) has had a period that
 *     started after it;
 *   - no subscriber twice: steps 3 to 5 enable a subscriber's new place
 *     only after step 1 has disabled every place whose content is not the
 *     target's, its old place included (and, for a resolved old place,
 *     after that period); a move copies, and a reader walks one run;
 *   - the shadow equals the maps: the shadow follows each write that
 *     succeeded; the target is kept apart from it.
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
 * contents (by the same rules) in the run it has by then; the caller gets
 * the first error.  If the undo fails too, the topic holds an intermediate
 * state of the protocol: safe for the data plane, and mirrored by the
 * shadow.  A move that fails before its flip zeroes what it wrote of the
 * new run and frees it (if that fails too, the run stays allocated:
 * counted in deferred_errors, never reused).
 */
#include <errno.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include "tables/tables_int.h"

#define NONE UINT32_MAX

/*
 * The shortest run a topic with subscribers gets: its first few adds fill
 * holes without a move (a move from no run costs no grace period, but the
 * next one waits for the half the first left).  At most max_run.
 */
static uint32_t min_run(const struct pso_tables *t)
{
	return t->max_run < PSO_TABLES_MIN_RUN ? t->max_run : PSO_TABLES_MIN_RUN;
}

static const struct pso_sub zero_sub;

static struct pso_sub *slots_of(const struct pso_tables *t, uint16_t id)
{
	return &t->subs[tbl_run_base(t, id)];
}

static bool is_empty(const struct pso_sub *s)
{
	return !s->family;
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

/* ---- the index of map slots by (topic, endpoint) ------------------------- */

/*
 * pso_tables_sub_served_at() is asked for every subscriber of a publish
 * the daemon sees: with thousands on one topic a walk of the run per
 * question would be quadratic.  Every pool slot holding a subscriber (an
 * endpoint) is in one bucket chain, keyed by the topic the slot was
 * written for and the endpoint; a lookup keeps only slots inside the
 * topic's current run (a run being left still holds the same keys).
 */
static uint32_t ix_hash(uint16_t id, const struct pso_sub *s)
{
	uint32_t h = 2166136261u ^ id;
	const uint8_t *a = s->dst_addr;

	for (int i = 0; i < 16; i++)
		h = (h ^ a[i]) * 16777619u;
	h = (h ^ (uint8_t)(s->dst_port >> 8)) * 16777619u;
	h = (h ^ (uint8_t)s->dst_port) * 16777619u;
	return (h ^ s->family) * 16777619u;
}

static void ix_unlink(struct pso_tables *t, uint16_t id, uint32_t key, const struct pso_sub *old)
{
	uint32_t *pp = &t->ix_head[ix_hash(id, old) & t->ix_mask];

	while (*pp != NONE && *pp != key)
		pp = &t->ix_next[*pp];
	if (*pp == key)
		*pp = t->ix_next[key];
}

static void ix_link(struct pso_tables *t, uint16_t id, uint32_t key, const struct pso_sub *s)
{
	uint32_t *head = &t->ix_head[ix_hash(id, s) & t->ix_mask];

	t->ix_next[key] = *head;
	*head = key;
}

static bool same_ep_sub(const struct pso_sub *a, const struct pso_sub *b)
{
	return a->family == b->family && a->dst_port == b->dst_port &&
	       !memcmp(a->dst_addr, b->dst_addr, sizeof(a->dst_addr));
}

/* The topic whose run holds pool slot key, as the slot was written: the
 * index keeps it beside the key (ix_topic). */
void tbl_index_rebuild(struct pso_tables *t)
{
	for (uint32_t b = 0; b <= t->ix_mask; b++)
		t->ix_head[b] = NONE;
	for (uint32_t id = 1; id < t->max_topics; id++) {
		uint32_t base = tbl_run_base(t, (uint16_t)id), cap = tbl_run_cap(t, (uint16_t)id);

		for (uint32_t i = 0; i < cap; i++)
			if (!is_empty(&t->subs[base + i])) {
				t->ix_topic[base + i] = (uint16_t)id;
				ix_link(t, (uint16_t)id, base + i, &t->subs[base + i]);
			}
	}
}

/* The pool slot of ep in topic id's current run (map state), or NONE. */
static uint32_t ix_find(const struct pso_tables *t, uint16_t id, const struct pso_sub *probe)
{
	uint32_t base = tbl_run_base(t, id), cap = tbl_run_cap(t, id);

	for (uint32_t k = t->ix_head[ix_hash(id, probe) & t->ix_mask]; k != NONE; k = t->ix_next[k])
		if (k >= base && k - base < cap && t->ix_topic[k] == id &&
		    same_ep_sub(&t->subs[k], probe))
			return k;
	return NONE;
}

/* ---- map writes --------------------------------------------------------- */

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
		if ((t->topics[id].first.flags & PSO_SUB_F_RESOLVED) &&
		    !(v->first.flags & PSO_SUB_F_RESOLVED))
			t->disable_need[id] = tbl_grace_need(t);
		t->topics[id] = *v;
		if (enabling && t->first_since)
			t->first_since[id] = t0;
	}
	return err;
}

/* Pool slot key, written for topic id (the index's key). */
static int pool_write(struct pso_tables *t, uint16_t id, uint32_t key, const struct pso_sub *v)
{
	struct pso_sub *shadow = &t->subs[key];
	bool enabling = (v->flags & PSO_SUB_F_RESOLVED) && !(shadow->flags & PSO_SUB_F_RESOLVED);
	uint64_t t0 = enabling ? realtime_ns() : 0;
	bool moved;
	int err;

	if (!memcmp(shadow, v, sizeof(*v)))
		return 0;
	err = tbl_map_write(t, t->subs_fd, &key, v, BPF_ANY);
	if (err)
		return err;
	/* Any write that clears RESOLVED is a disable: content rewritten
	 * later waits for the period after it (a flags-only clear in step 3,
	 * a next hop lost, included). */
	if ((shadow->flags & PSO_SUB_F_RESOLVED) && !(v->flags & PSO_SUB_F_RESOLVED))
		t->disable_need[id] = tbl_grace_need(t);
	moved = !same_ep_sub(shadow, v) || t->ix_topic[key] != id;
	if (moved && !is_empty(shadow))
		ix_unlink(t, t->ix_topic[key], key, shadow);
	*shadow = *v;
	if (moved && !is_empty(v)) {
		t->ix_topic[key] = id;
		ix_link(t, id, key, v);
	}
	if (enabling && t->slot_since)
		t->slot_since[key] = t0;
	return 0;
}

/* Slot i of topic id's current run. */
static int slot_write(struct pso_tables *t, uint16_t id, uint32_t i, const struct pso_sub *v)
{
	return pool_write(t, id, tbl_run_base(t, id) + i, v);
}

static int run_write(struct pso_tables *t, uint16_t id, const struct pso_run *v)
{
	uint32_t key = id;
	int err;

	if (!memcmp(&t->runs[id], v, sizeof(*v)))
		return 0;
	err = tbl_fd_write(t, t->runs_fd, &key, v, BPF_ANY);
	if (!err)
		t->runs[id] = *v;
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

static const struct pso_sub *first_live(const struct pso_sub *want, uint32_t cap)
{
	for (uint32_t i = 0; i < cap; i++)
		if (!is_empty(&want[i]))
			return &want[i];
	return &zero_sub;
}

static uint16_t count_of(uint32_t n)
{
	return n < PSO_SUB_COUNT_MAX ? (uint16_t)n : PSO_SUB_COUNT_MAX;
}

/*
 * Bring topic id from what its run holds to want[0..cap-1] (cap: the run's
 * length), n of them live, in the order the comment at the top explains.
 */
/* Step 1 of reconcile(): *drain is set when a RESOLVED flag went off. */
static int reconcile_disable(struct pso_tables *t, uint16_t id, const struct pso_sub *want,
			     uint32_t cap, uint32_t n, bool *drain)
{
	struct pso_sub *slots = slots_of(t, id);
	const struct pso_topic *cur = &t->topics[id];
	const struct pso_sub *first = first_live(want, cap);
	struct pso_topic v;
	struct pso_sub s;
	int err;

	/* 1. disable */
	v = *cur;
	if (count_of(n) < v.sub_count)
		v.sub_count = count_of(n);
	if (v.first.flags && !same_content(&v.first, first)) {
		*drain |= v.first.flags & PSO_SUB_F_RESOLVED;
		v.first.flags = 0;
	}
	err = topic_write(t, id, &v);
	for (uint32_t i = 0; !err && i < cap; i++) {
		if (slots[i].flags && !same_content(&slots[i], &want[i])) {
			*drain |= slots[i].flags & PSO_SUB_F_RESOLVED;
			s = disabled(&slots[i]);
			err = slot_write(t, id, i, &s);
		} else if (!slots[i].flags && !is_empty(&slots[i]) &&
			   !same_content(&slots[i], &want[i]) && t->disable_need[id] > t->syncs) {
			/* Disabled by an earlier flags-only write whose period
			 * has not completed: its content waits too. */
			*drain = true;
		}
	}
	if (!same_content(&cur->first, first) && !is_empty(&cur->first) &&
	    t->disable_need[id] > t->syncs)
		*drain = true;
	return err;
}

/* Steps 3 to 5 of reconcile(), once readers of step 1 are gone. */
static int reconcile_enable(struct pso_tables *t, uint16_t id, const struct pso_sub *want,
			    uint32_t cap, uint32_t n)
{
	struct pso_sub *slots = slots_of(t, id);
	const struct pso_topic *cur = &t->topics[id];
	const struct pso_sub *first = first_live(want, cap);
	struct pso_topic v;
	struct pso_sub s;
	int err = 0;

	/* 3. the live slots: every slot is walked, so always two steps */
	for (uint32_t i = 0; !err && i < cap; i++) {
		if (is_empty(&want[i]))
			continue;
		if (!same_content(&slots[i], &want[i])) {
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
	v.sub_count = count_of(n);
	v.first = *first;
	err = topic_write(t, id, &v);

	/* 5. the holes (disabled in step 1) */
	for (uint32_t i = 0; !err && i < cap; i++)
		if (is_empty(&want[i]))
			err = slot_write(t, id, i, &zero_sub);
	return err;
}

static int64_t free_run_early(struct pso_tables *t, uint16_t id, uint32_t n);

/* Apply want[0..cap-1] to topic id, waiting inline. */
static int reconcile(struct pso_tables *t, uint16_t id, const struct pso_sub *want, uint32_t cap,
		     uint32_t n)
{
	bool drain = false;
	int err = reconcile_disable(t, id, want, cap, n, &drain);
	int64_t freed;

	if (err)
		return err;
	freed = free_run_early(t, id, n);
	if (freed < 0)
		return (int)freed;
	if (freed)
		cap = 0;
	/* 2. wait for readers of what step 1 disabled (and of the run) */
	if (drain || freed)
		tbl_wait_readers(t);
	return reconcile_enable(t, id, want, cap, n);
}

int tbl_topic_reconcile(struct pso_tables *t, uint16_t id, const struct pso_sub *want, uint32_t cap,
			uint32_t n)
{
	return reconcile(t, id, want, cap, n);
}

/* ---- runs: moves, and the runs left behind -------------------------------- */

static int retire(struct pso_tables *t, uint32_t base, uint32_t cap, uint64_t need)
{
	if (t->nretired == t->retired_cap) {
		uint32_t c = t->retired_cap ? 2 * t->retired_cap : 16;
		struct pso_retired *r = realloc(t->retired, c * sizeof(*r));

		if (!r)
			return -ENOMEM;
		t->retired = r;
		t->retired_cap = c;
	}
	t->retired[t->nretired++] = (struct pso_retired){ base, cap, need };
	return 0;
}

/* Zero a run nobody reads any more and give it back; 0 or the write error
 * (what was zeroed stays zeroed). */
static int run_zero_free(struct pso_tables *t, uint32_t base, uint32_t cap)
{
	for (uint32_t i = 0; i < cap; i++) {
		int err = pool_write(t, t->ix_topic[base + i], base + i, &zero_sub);

		if (err)
			return err;
	}
	tbl_pool_release(t->pool, base, cap);
	return 0;
}

/* The retired runs whose period has completed. */
static void retired_settle(struct pso_tables *t)
{
	uint32_t kept = 0;
	bool failed = false;

	for (uint32_t i = 0; i < t->nretired; i++) {
		struct pso_retired r = t->retired[i];

		if (r.need <= t->syncs && !run_zero_free(t, r.base, r.cap))
			continue;
		if (r.need <= t->syncs) {
			t->deferred_errors++;
			failed = true;
		}
		t->retired[kept++] = r;
	}
	t->nretired = kept;
	if (failed)
		tbl_grace_request(t, tbl_grace_need(t));
}

/* Synchronous mode: the runs left by this call, freed before it returns
 * (one wait for all of them, if the call's own wait did not cover them),
 * so every half is writable again. */
static void sync_settle(struct pso_tables *t)
{
	if (t->grace)
		return;
	retired_settle(t);
	if (!t->nretired)
		return;
	tbl_wait_readers(t);
	retired_settle(t);
}

static bool half_free(const struct pso_tables *t, uint16_t id)
{
	return t->half_need[id] <= t->syncs;
}

/*
 * Move topic id to the run at nbase of ncap slots (ncap 0: none), already
 * allocated: its slots written from map[], the map state of the old run in
 * the new run's order (ncap entries), then the half, then the flip.  The
 * old run is retired.  The caller has checked half_free().
 */
static int run_move(struct pso_tables *t, uint16_t id, uint32_t nbase, uint32_t ncap,
		    const struct pso_sub *map, const uint64_t *since)
{
	struct pso_run v = t->runs[id];
	uint32_t obase = tbl_run_base(t, id), ocap = tbl_run_cap(t, id);
	uint8_t next = (uint8_t)((v.cur & 1) ^ 1);
	uint64_t need;
	int err = 0;

	/* a. the new run, whole: nobody reads it */
	for (uint32_t i = 0; !err && i < ncap; i++) {
		err = pool_write(t, id, nbase + i, &map[i]);
		if (!err && since && !is_empty(&map[i]))
			t->slot_since[nbase + i] = since[i];
	}
	/* b. the half nobody reads, c. the flip */
	if (!err) {
		v.base[next] = ncap ? nbase : 0;
		v.cap[next] = ncap;
		err = run_write(t, id, &v);
	}
	if (!err) {
		v.cur = next;
		err = run_write(t, id, &v);
	}
	if (err) {
		/* Not flipped: nobody ever read the new run. */
		if (ncap && run_zero_free(t, nbase, ncap))
			t->deferred_errors++;
		return err;
	}
	t->run_moves++;
	/* d. the old run and half, after a period that starts now.  Only a
	 * run to free asks for that period; the half alone waits until this
	 * topic moves again (which asks for it then). */
	need = tbl_grace_need(t);
	t->half_need[id] = need;
	if (!ocap)
		return 0;
	if (retire(t, obase, ocap, need)) {
		/* No memory to remember it: wait for it here. */
		tbl_wait_readers(t);
		if (run_zero_free(t, obase, ocap))
			t->deferred_errors++;
	}
	tbl_grace_request(t, need);
	return 0;
}

/* A grow keeps every index: the map state of the old run, then holes.
 * On failure the new run is given back. */
static int run_grow(struct pso_tables *t, uint16_t id, uint32_t nbase, uint32_t ncap)
{
	uint32_t ocap = tbl_run_cap(t, id);
	struct pso_sub *map = calloc(ncap, sizeof(*map));
	uint64_t *since = calloc(ncap, sizeof(*since));
	int err;

	if (!map || !since) {
		free(map);
		free(since);
		tbl_pool_release(t->pool, nbase, ncap);
		return -ENOMEM;
	}
	if (ocap) {
		memcpy(map, slots_of(t, id), ocap * sizeof(*map));
		memcpy(since, &t->slot_since[tbl_run_base(t, id)], ocap * sizeof(*since));
	}
	err = run_move(t, id, nbase, ncap, map, since);
	free(map);
	free(since);
	return err;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t c = 1;

	while (c < n)
		c <<= 1;
	return c;
}

/* The run a topic of n subscribers in a run of cap should shrink to, or
 * cap when it should not. */
static uint32_t shrunk_cap(const struct pso_tables *t, uint32_t cap, uint32_t n)
{
	uint32_t c;

	if (!cap || n > cap / 4)
		return cap;
	if (!n)
		return 0;
	c = pow2_at_least(2 * n);
	if (c < min_run(t))
		c = min_run(t);
	return c < cap ? c : cap;
}

/*
 * A topic at rest (the maps hold its target) using at most a quarter of its
 * run: move it to a shorter one, its live slots in their order, or free it
 * when it has none.  Never waits: when the half is not free yet (deferred),
 * the topic is made pending for it and this is tried again when it comes
 * to rest; when no shorter run is free, it stays.  0, or a write error
 * (the topic keeps its run).
 */
static struct pso_pending *pending_get(struct pso_tables *t, uint16_t id);

static int maybe_shrink(struct pso_tables *t, uint16_t id)
{
	uint32_t cap = tbl_run_cap(t, id), n = 0, ncap, nbase = 0, j = 0;
	const struct pso_sub *slots = slots_of(t, id);
	const uint64_t *osince = &t->slot_since[tbl_run_base(t, id)];
	struct pso_sub *map;
	uint64_t *since;
	int err;

	for (uint32_t i = 0; i < cap; i++)
		n += !is_empty(&slots[i]);
	ncap = shrunk_cap(t, cap, n);
	if (ncap == cap)
		return 0;
	if (!half_free(t, id) && !t->grace) {
		/* Synchronous: this call's grow left it; wait for it here. */
		tbl_wait_readers(t);
		retired_settle(t);
	}
	if (!half_free(t, id)) {
		struct pso_pending *p = pending_get(t, id);

		if (!p)
			return -ENOMEM;
		if (t->half_need[id] > p->need)
			p->need = t->half_need[id];
		tbl_grace_request(t, p->need);
		return 0;
	}
	if (ncap && tbl_pool_alloc(t->pool, ncap, &nbase))
		return 0;	/* fragmented: keep the longer run */
	map = calloc(ncap ? ncap : 1, sizeof(*map));
	since = calloc(ncap ? ncap : 1, sizeof(*since));
	if (!map || !since) {
		free(map);
		free(since);
		if (ncap)
			tbl_pool_release(t->pool, nbase, ncap);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < cap; i++)
		if (!is_empty(&slots[i])) {
			since[j] = osince[i];
			map[j++] = slots[i];
		}
	err = run_move(t, id, nbase, ncap, map, since);
	free(map);
	free(since);
	return err;
}

/*
 * The last subscriber leaves: after step 1 has disabled it, the topic's run
 * goes too (the half, the flip), so that the removal's grace period also
 * covers the run's readers, and steps 3 to 5 find no run left.  Only when
 * the half is free; else the run is freed when the topic comes to rest
 * (maybe_shrink()).  Returns the period the retired run waits for (0:
 * nothing done), or a write error.
 */
static int64_t free_run_early(struct pso_tables *t, uint16_t id, uint32_t n)
{
	static const struct pso_sub none;
	int err;

	if (n || !tbl_run_cap(t, id) || !half_free(t, id))
		return 0;
	err = run_move(t, id, 0, 0, &none, NULL);
	return err ? err : (int64_t)t->half_need[id];
}

/* ---- deferred mode: topics waiting for a grace period ---------------------- */

/* The topic's target: what the callers asked for, pending or at rest;
 * *cap slots with holes, *n of them live. */
static const struct pso_sub *target(const struct pso_tables *t, uint16_t id, uint32_t *cap,
				    uint32_t *n)
{
	const struct pso_pending *p = t->pending ? t->pending[id] : NULL;
	const struct pso_sub *slots;

	if (p) {
		*cap = p->cap;
		*n = p->n;
		return p->want;
	}
	*cap = tbl_run_cap(t, id);
	slots = slots_of(t, id);
	*n = 0;
	for (uint32_t i = 0; i < *cap; i++)
		*n += !is_empty(&slots[i]);
	return slots;
}

static struct pso_pending *pending_alloc(uint32_t cap)
{
	return calloc(1, sizeof(struct pso_pending) + (cap ? cap : 1) * sizeof(struct pso_sub));
}

/*
 * While a pending topic's target has a subscriber the maps do not serve as
 * asked yet (an add waiting for a move, a change waiting for its grace
 * period), its entry has PSO_TOPIC_F_HOST, so every publish to it also goes up and the
 * daemon delivers to the subscribers the data plane does not serve
 * (pso_tables_sub_served()).  At rest the flag is the caller's again
 * (pso_tables_topic_set()).  A flags-byte write: safe at any time.
 */
/* Has the pending target a subscriber the maps do not serve as asked (an
 * add or a change waiting)?  A removal waiting needs nothing of the
 * daemon: the others are served, the leaving one is owed nothing. */
static bool target_ahead(const struct pso_tables *t, uint16_t id)
{
	const struct pso_pending *p = t->pending ? t->pending[id] : NULL;
	uint32_t cap = tbl_run_cap(t, id);
	const struct pso_sub *map = &t->subs[tbl_run_base(t, id)];

	if (!p)
		return false;
	for (uint32_t i = 0; i < p->cap; i++)
		if (!is_empty(&p->want[i]) &&
		    (i >= cap || memcmp(&map[i], &p->want[i], sizeof(map[i]))))
			return true;
	return false;
}

static void topic_flags_sync(struct pso_tables *t, uint16_t id)
{
	struct pso_topic v = t->topics[id];
	bool host = t->proto_host[id] || target_ahead(t, id);

	if (!(v.flags & PSO_TOPIC_F_VALID))
		return;
	v.flags = (uint8_t)((v.flags & ~PSO_TOPIC_F_HOST) | (host ? PSO_TOPIC_F_HOST : 0));
	if (topic_write(t, id, &v))
		t->deferred_errors++;	/* the next sync tries again */
}

/* The topic's pending record, made (target: the maps) when it has none. */
static struct pso_pending *pending_get(struct pso_tables *t, uint16_t id)
{
	struct pso_pending *p;
	uint32_t cap, n;
	const struct pso_sub *cur;

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
	cur = target(t, id, &cap, &n);
	p = pending_alloc(cap);
	if (!p)
		return NULL;
	p->n = n;
	p->cap = cap;
	p->next_base = NONE;
	memcpy(p->want, cur, cap * sizeof(p->want[0]));
	p->pos = t->npending;
	t->pending_ids[t->npending++] = id;
	t->pending[id] = p;
	topic_flags_sync(t, id);
	return p;
}

/* Give back a run allocated for a target that never reached the maps
 * (nothing was written to it). */
static void next_run_drop(struct pso_tables *t, struct pso_pending *p)
{
	if (p->next_base != NONE && p->cap)
		tbl_pool_release(t->pool, p->next_base, p->cap);
	p->next_base = NONE;
}

static void pending_drop(struct pso_tables *t, uint16_t id)
{
	struct pso_pending *p = t->pending[id];
	uint16_t last = t->pending_ids[--t->npending];

	t->pending_ids[p->pos] = last;
	t->pending[last]->pos = p->pos;
	t->pending[id] = NULL;
	next_run_drop(t, p);
	free(p);
	topic_flags_sync(t, id);
}

/* Set the pending target to want[0..cap-1] (n live; next_base: its run when
 * cap is not the map's).  -ENOMEM leaves the record as it was. */
static int pending_set(struct pso_tables *t, uint16_t id, const struct pso_sub *want, uint32_t cap,
		       uint32_t n, uint32_t next_base)
{
	struct pso_pending *p = t->pending[id];

	if (cap > p->cap) {
		struct pso_pending *q = realloc(p, sizeof(*p) + cap * sizeof(p->want[0]));

		if (!q)
			return -ENOMEM;
		t->pending[id] = p = q;
	}
	memmove(p->want, want, cap * sizeof(*want));
	p->cap = cap;
	p->n = n;
	p->next_base = next_base;
	return 0;
}

/*
 * Take topic id as far towards its target as it can go without waiting:
 * the move to the target's run once its half is free, step 1 always (from
 * whatever the maps hold now), steps 3 to 5 only when every slot it has
 * disabled has had its grace period (need <= syncs).  A topic that arrives
 * at its target is no longer pending (and may shrink).
 */
static int topic_advance(struct pso_tables *t, uint16_t id)
{
	struct pso_pending *p = t->pending[id];
	bool drain = false;
	int err;

	if (p->cap != tbl_run_cap(t, id)) {
		if (!half_free(t, id)) {
			if (t->half_need[id] > p->need)
				p->need = t->half_need[id];
			tbl_grace_request(t, p->need);
			topic_flags_sync(t, id);
			return 0;
		}
		err = run_grow(t, id, p->next_base, p->cap);
		p->next_base = NONE;	/* the topic's run now, or given back */
		if (err)
			return err;
	}
	err = reconcile_disable(t, id, p->want, p->cap, p->n, &drain);
	if (err)
		return err;
	{
		int64_t freed = free_run_early(t, id, p->n);

		if (freed < 0)
			return (int)freed;
		if (freed) {
			p->cap = 0;
			if ((uint64_t)freed > p->need)
				p->need = (uint64_t)freed;
		}
	}
	if (drain) {
		/* Read after the disable writes returned: a period that had
		 * already started does not count. */
		uint64_t need = tbl_grace_need(t);

		if (need > p->need)
			p->need = need;
	}
	if (p->need > t->syncs) {
		tbl_grace_request(t, p->need);
		topic_flags_sync(t, id);
		return 0;
	}
	err = reconcile_enable(t, id, p->want, p->cap, p->n);
	if (err)
		return err;
	pending_drop(t, id);
	/* Not the caller's error: the topic is at its target. */
	if (maybe_shrink(t, id))
		t->deferred_errors++;
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

/* Deferred apply(): want[0..cap-1] becomes the target; the steps that need
 * no wait are done now.  A write error here is the caller's: the target
 * goes back to what it was (in the run the topic has by then), and the
 * topic back towards it. */
static int defer_apply(struct pso_tables *t, uint16_t id, const struct pso_sub *want, uint32_t cap,
		       uint32_t n, uint32_t next_base)
{
	struct pso_pending *p = pending_get(t, id), *old;
	int err;

	if (!p)
		return -ENOMEM;
	old = pending_alloc(p->cap);
	if (!old)
		return -ENOMEM;
	old->cap = p->cap;
	old->n = p->n;
	old->next_base = p->next_base;
	memcpy(old->want, p->want, p->cap * sizeof(p->want[0]));
	err = pending_set(t, id, want, cap, n, next_base);
	if (err) {
		free(old);
		return err;
	}
	err = topic_advance(t, id);
	p = t->pending[id];
	if (err && p) {
		uint32_t rcap = tbl_run_cap(t, id);
		bool grown = p->cap == rcap && rcap != old->cap;
		uint32_t old_next = old->next_base;
		uint64_t need = tbl_grace_need(t);

		/* What the failed attempt disabled has no need recorded: count
		 * it as disabled now (more than it needs; errors are rare). */
		if (need > p->need)
			p->need = need;
		if (grown) {
			/* The old subscribers, in the longer run it has now. */
			memcpy(p->want, old->want, old->cap * sizeof(p->want[0]));
			memset(p->want + old->cap, 0, (rcap - old->cap) * sizeof(p->want[0]));
			p->n = old->n;
			if (old_next != NONE && old_next != next_base)
				tbl_pool_release(t->pool, old_next, old->cap);
		} else {
			/* A failed move gave its run back (topic_advance). */
			if (p->next_base == NONE && next_base != NONE && old_next == next_base)
				old_next = NONE;
			if (p->next_base != NONE && p->next_base != old_next)
				next_run_drop(t, p);
			if (old->cap != rcap && old_next == NONE &&
			    tbl_pool_alloc(t->pool, old->cap, &old_next)) {
				/* No run for it any more: the maps' state it is. */
				t->deferred_errors++;
				memcpy(old->want, slots_of(t, id), rcap * sizeof(old->want[0]));
				old->cap = rcap;
				old->n = 0;
				for (uint32_t i = 0; i < rcap; i++)
					old->n += !is_empty(&old->want[i]);
			}
			if (old->cap == rcap)
				old_next = NONE;
			/* Not larger than the new target: no allocation. */
			pending_set(t, id, old->want, old->cap, old->n, old_next);
		}
		if (topic_advance(t, id))
			topic_retry(t, id);
	} else if (old->next_base != NONE && old->next_base != next_base) {
		/* A run allocated for the old target, not this one's. */
		tbl_pool_release(t->pool, old->next_base, old->cap);
	}
	free(old);
	return err;
}

void tbl_subs_grace_done(struct pso_tables *t)
{
	retired_settle(t);
	/* Backwards: pending_drop() moves the last entry, already seen, into
	 * the place it frees. */
	for (uint32_t i = t->npending; i-- > 0;) {
		uint16_t id;

		if (i >= t->npending)
			continue;	/* a shrink made others pending meanwhile */
		id = t->pending_ids[i];
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

uint32_t tbl_subs_waiting(const struct pso_tables *t)
{
	return t->npending;
}

/*
 * Topic id is to hold want[0..cap-1] (n live); next_base is the run
 * allocated for it when cap is not the topic's run length (taken over:
 * used, or given back on failure).
 */
static int apply(struct pso_tables *t, uint16_t id, const struct pso_sub *want, uint32_t cap,
		 uint32_t n, uint32_t next_base)
{
	uint32_t old_cap = tbl_run_cap(t, id), old_n = 0;
	int err;

	if (t->grace)
		return defer_apply(t, id, want, cap, n, next_base);
	if (cap != old_cap) {
		/* Every synchronous call settles its moves before it returns
		 * (sync_settle()): the half is free, but for an adoption's. */
		if (!half_free(t, id)) {
			tbl_wait_readers(t);
			retired_settle(t);
		}
		err = run_grow(t, id, next_base, cap);	/* gives it back on failure */
		if (err) {
			sync_settle(t);
			return err;
		}
	}
	memcpy(t->undo, slots_of(t, id), cap * sizeof(*t->undo));
	for (uint32_t i = 0; i < cap; i++)
		old_n += !is_empty(&t->undo[i]);
	err = reconcile(t, id, want, cap, n);
	if (err) {
		/* Best effort; a run the undo leaves longer than it needs (a
		 * grow before the error) is given back as a shrink. */
		if (!reconcile(t, id, t->undo, cap, old_n))
			maybe_shrink(t, id);
	} else if (maybe_shrink(t, id))
		t->deferred_errors++;	/* not the caller's: it has its change */
	sync_settle(t);
	return err;
}

/* ---- topics and subscribers ----------------------------------------------- */

int pso_tables_topic_set(struct pso_tables *t, uint16_t id, uint8_t flags)
{
	struct pso_topic v;

	if (!tbl_id_ok(t, id))
		return -EINVAL;
	t->proto_host[id] = (flags & PSO_TOPIC_F_HOST) != 0;
	v = t->topics[id];
	v.flags = PSO_TOPIC_F_VALID | flags;
	if (target_ahead(t, id))
		v.flags |= PSO_TOPIC_F_HOST;	/* topic_flags_sync() */
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
	return id < t->max_topics && slot < tbl_run_cap(t, id) ? &slots_of(t, id)[slot] : NULL;
}

const struct pso_run *pso_tables_run(const struct pso_tables *t, uint16_t id)
{
	return id < t->max_topics ? &t->runs[id] : NULL;
}

/* The slot of ep in the topic's target (the maps, when it is at rest). */
static int find_slot(const struct pso_tables *t, uint16_t id, const struct pso_endpoint *ep)
{
	struct pso_endpoint have;
	uint32_t cap, n;
	const struct pso_sub *slots = target(t, id, &cap, &n);

	for (uint32_t i = 0; i < cap; i++) {
		if (is_empty(&slots[i]))
			continue;
		pso_sub_endpoint(&slots[i], &have);
		if (!memcmp(&have, ep, sizeof(have)))
			return (int)i;
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

/* The run a target of cap slots has: the pending one's, or the map's. */
static uint32_t target_next_base(const struct pso_tables *t, uint16_t id)
{
	const struct pso_pending *p = t->pending ? t->pending[id] : NULL;

	return p ? p->next_base : NONE;
}

int pso_tables_sub_add(struct pso_tables *t, uint16_t id, const struct pso_sub *sub)
{
	struct pso_sub s = tbl_normalize_sub(sub);
	const struct pso_sub *cur;
	struct pso_endpoint ep;
	uint32_t cap, n, ncap, hole, next = NONE;
	int err;

	if (!tbl_id_ok(t, id) || !tbl_family_ok(s.family))
		return -EINVAL;
	pso_sub_endpoint(&s, &ep);
	if (find_slot(t, id, &ep) >= 0)
		return -EEXIST;
	cur = target(t, id, &cap, &n);
	ncap = cap;
	if (n == cap) {
		/* No hole: a run twice as long (the first: PSO_TABLES_MIN_RUN). */
		ncap = cap ? 2 * cap : min_run(t);
		if (ncap > t->max_run)
			return -ENOSPC;
		err = tbl_pool_alloc(t->pool, ncap, &next);
		if (err)
			return err;
	} else {
		next = target_next_base(t, id);
	}
	memcpy(t->want, cur, cap * sizeof(*t->want));
	memset(t->want + cap, 0, (ncap - cap) * sizeof(*t->want));
	for (hole = 0; hole < ncap && !is_empty(&t->want[hole]); hole++)
		;
	t->want[hole] = slot_as_written(t, id, &s);
	err = apply(t, id, t->want, ncap, n + 1, next);
	if (!err)
		t->nsubs++;
	return err;
}

int pso_tables_sub_update(struct pso_tables *t, uint16_t id, const struct pso_sub *sub)
{
	struct pso_sub s = tbl_normalize_sub(sub);
	const struct pso_sub *cur;
	struct pso_endpoint ep;
	uint32_t cap, n;
	int i;

	if (!tbl_id_ok(t, id) || !tbl_family_ok(s.family))
		return -EINVAL;
	pso_sub_endpoint(&s, &ep);
	i = find_slot(t, id, &ep);
	if (i < 0)
		return i;
	cur = target(t, id, &cap, &n);
	memcpy(t->want, cur, cap * sizeof(*t->want));
	t->want[i] = slot_as_written(t, id, &s);
	return apply(t, id, t->want, cap, n, target_next_base(t, id));
}

int pso_tables_sub_remove(struct pso_tables *t, uint16_t id, const struct pso_endpoint *ep)
{
	const struct pso_sub *cur;
	uint32_t cap, n;
	int i, err;

	i = pso_tables_sub_find(t, id, ep);
	if (i < 0)
		return i;
	cur = target(t, id, &cap, &n);
	memcpy(t->want, cur, cap * sizeof(*t->want));
	t->want[i] = zero_sub;	/* a hole */
	err = apply(t, id, t->want, cap, n - 1, target_next_base(t, id));
	if (!err)
		t->nsubs--;
	return err;
}

/*
 * One subscriber's change in many topics (a client leaving, a next hop
 * moving): every topic's step 1, one wait for readers, then every topic's
 * steps 3 to 5 (and shrinks, with one more wait for all), so the cost is
 * one or two grace periods, not one per topic.  Neither changes a run's
 * length.  The shadow follows every write that succeeded; the first error
 * is returned.
 */
struct many_topic {
	uint16_t id;
	uint32_t cap, n, next;
	struct pso_sub *want;
};

static int apply_many(struct pso_tables *t, struct many_topic *mt, int m)
{
	bool drain = false;
	int err = 0, done = 0;

	for (; done < m && !err; done++)
		err = reconcile_disable(t, mt[done].id, mt[done].want, mt[done].cap, mt[done].n,
					&drain);
	if (drain)
		tbl_wait_readers(t);
	for (int i = 0; i < done; i++) {
		int e = reconcile_enable(t, mt[i].id, mt[i].want, mt[i].cap, mt[i].n);

		if (e && !err)
			err = e;
		if (!e && maybe_shrink(t, mt[i].id))
			t->deferred_errors++;
	}
	sync_settle(t);
	return err;
}

/* remove (s NULL) or update (s given) the slot of ep in each topic of ids. */
static int change_many(struct pso_tables *t, const struct pso_endpoint *ep,
		       const struct pso_sub *s, const uint16_t *ids, int n)
{
	struct many_topic *mt = calloc(n ? n : 1, sizeof(*mt));
	int m = 0, removed = 0, err = 0;

	if (!mt)
		return -ENOMEM;
	for (int k = 0; k < n; k++) {
		const struct pso_sub *cur;
		uint32_t cap, cnt;
		int i;

		if (!tbl_id_ok(t, ids[k]))
			continue;
		i = find_slot(t, ids[k], ep);
		if (i < 0)
			continue;
		cur = target(t, ids[k], &cap, &cnt);
		/* Each topic's own length: nothing n_topics x the longest. */
		mt[m].want = malloc(cap * sizeof(*mt[m].want));
		if (!mt[m].want) {
			err = -ENOMEM;
			break;
		}
		memcpy(mt[m].want, cur, cap * sizeof(*cur));
		if (s) {
			mt[m].want[i] = slot_as_written(t, ids[k], s);
		} else {
			mt[m].want[i] = zero_sub;
			cnt--;
			removed++;
		}
		mt[m].id = ids[k];
		mt[m].cap = cap;
		mt[m].n = cnt;
		mt[m++].next = target_next_base(t, ids[k]);
	}
	if (err)
		goto out;
	if (t->grace) {
		/* Each topic on its own: all disabled now, every one waiting
		 * for the same next grace period. */
		t->grace_hold = true;
		for (int k = 0; k < m; k++) {
			int e = defer_apply(t, mt[k].id, mt[k].want, mt[k].cap, mt[k].n, mt[k].next);

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
	err = apply_many(t, mt, m);
	/* nsubs counts what the maps hold: recount the topics touched. */
	if (!s) {
		if (!err) {
			t->nsubs -= removed;
		} else {
			uint64_t live = 0;

			for (uint32_t k = 0; k < t->pool_slots; k++)
				live += !is_empty(&t->subs[k]);
			t->nsubs = (uint32_t)live;
		}
	}
out:
	for (int k = 0; k < m; k++)
		free(mt[k].want);
	free(mt);
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

const struct pso_sub *pso_tables_target(const struct pso_tables *t, uint16_t id, uint32_t *n)
{
	uint32_t live;

	if (!tbl_id_ok(t, id)) {
		*n = 0;
		return NULL;
	}
	return target(t, id, n, &live);
}

/*
 * The map state, as the data plane reads it: XDP serves a one-subscriber
 * topic from `first`; TC walks the topic's run (a publish XDP passed up
 * with an unservable `first` included).
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
	struct pso_endpoint key = *ep, have;
	struct pso_sub probe = { 0 };
	uint32_t k;

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
	if (!tp->sub_count)
		return false;
	probe.family = key.family;
	probe.dst_port = key.port;
	memcpy(probe.dst_addr, key.addr, sizeof(probe.dst_addr));
	k = ix_find(t, id, &probe);
	if (k == NONE || !pso_sub_servable(&t->subs[k], family))
		return false;
	return !at_ns || !t->slot_since || t->slot_since[k] <= at_ns;
}
