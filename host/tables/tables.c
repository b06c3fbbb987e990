// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tables.c - the host's writer of pso_topics, pso_subs and pso_clients.
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
 * MAC); adds, first resolutions and flags-only changes never wait.  The
 * argument also takes the reader's loads of one entry to be performed in
 * order, as on x86; on weakly ordered CPUs it relies on reordering windows
 * being far shorter than a map update system call.
 *
 * Clients.  pso_clients is a HASH: an update replaces an element whole.
 * pso_client_slots holds the same clients direct-mapped (the fast path's
 * lookup); a client whose slot is taken lives in the HASH only.  Its slots
 * follow the rule above with ep.family as the flags byte (0 = empty):
 * a new client's slot gets its content with family 0, then the family
 * (enable); a leaving client's slot gets family 0 (disable).  A slot
 * disabled since the last grace period takes no other client (that one
 * stays in the HASH, so no client operation ever waits); the same client
 * coming back gets its family byte back, an enable.  The HASH entry is
 * written before the slot is enabled and deleted after it is disabled.
 *
 * Errors.  A failed map write leaves the map as it was, so the shadow is
 * updated only after a successful write and always equals the maps.  The
 * operation is then undone by reconciling back to the topic's previous
 * contents (by the same rules); the caller gets the first error.  If the
 * undo fails too, the topic holds an intermediate state of the protocol:
 * safe for the data plane, and mirrored by the shadow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/membarrier.h>
#include <bpf/bpf.h>
#include "tables/tables.h"

static const struct pso_sub zero_sub;

void pso_tables_sync_rcu(void *ctx __attribute__((unused)))
{
	/*
	 * MEMBARRIER_CMD_GLOBAL is synchronize_rcu(): it returns after every
	 * CPU has passed a quiescent state, and XDP and TC programs run inside
	 * RCU read-side sections (BH disabled), so every program run that
	 * began before the call has ended.  It is refused on nohz_full
	 * kernels; sleeping then covers any reader stalled for less.
	 */
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0) {
		struct timespec ts = { .tv_nsec = 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
}

static int check_map(int fd, enum bpf_map_type type, uint32_t key_size,
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

int pso_tables_init(struct pso_tables *t, int topics_fd, int subs_fd, int clients_fd,
		    uint32_t max_topics, uint32_t max_subs, uint32_t max_clients)
{
	uint64_t nslots = (uint64_t)max_topics * max_subs;
	int err;

	memset(t, 0, sizeof(*t));
	if (max_topics < 2 || max_topics > 65536 || max_subs < 1 || max_subs > 65535 ||
	    max_clients < 1 || nslots > UINT32_MAX)
		return -EINVAL;
	err = check_map(topics_fd, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
			sizeof(struct pso_topic), max_topics);
	if (!err)
		err = check_map(subs_fd, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
				sizeof(struct pso_sub), nslots);
	if (!err)
		err = check_map(clients_fd, BPF_MAP_TYPE_HASH, sizeof(struct pso_endpoint),
				sizeof(struct pso_client_val), 1);
	if (err)
		return err;

	t->topics = calloc(max_topics, sizeof(*t->topics));
	t->subs = calloc(nslots, sizeof(*t->subs));
	t->want = calloc(max_subs, sizeof(*t->want));
	t->undo = calloc(max_subs, sizeof(*t->undo));
	if (!t->topics || !t->subs || !t->want || !t->undo) {
		pso_tables_free(t);
		return -ENOMEM;
	}
	t->topics_fd = topics_fd;
	t->subs_fd = subs_fd;
	t->clients_fd = clients_fd;
	t->max_topics = max_topics;
	t->max_subs = max_subs;
	t->max_clients = max_clients;
	t->sync_readers = pso_tables_sync_rcu;
	t->client_slots_fd = -1;
	return 0;
}

int pso_tables_use_client_slots(struct pso_tables *t, int fd)
{
	int err = check_map(fd, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
			    sizeof(struct pso_client_slot), PSO_CLIENT_SLOTS);

	if (err)
		return err;
	free(t->slot_owner);
	free(t->slot_reuse_after);
	t->slot_owner = calloc(PSO_CLIENT_SLOTS, sizeof(*t->slot_owner));
	t->slot_reuse_after = calloc(PSO_CLIENT_SLOTS, sizeof(*t->slot_reuse_after));
	if (!t->slot_owner || !t->slot_reuse_after) {
		free(t->slot_owner);
		free(t->slot_reuse_after);
		t->slot_owner = NULL;
		t->slot_reuse_after = NULL;
		return -ENOMEM;
	}
	t->client_slots_fd = fd;
	return 0;
}

/* The grace period of tables.c; counted, so freed client slots know when
 * they may be reused. */
static void wait_readers(struct pso_tables *t)
{
	if (t->sync_readers)
		t->sync_readers(t->hook_ctx);
	t->syncs++;
}

void pso_tables_free(struct pso_tables *t)
{
	for (int i = 0; i < t->nmirrors; i++)
		free(t->mirrors[i].placed);
	free(t->topics);
	free(t->subs);
	free(t->want);
	free(t->undo);
	free(t->slot_owner);
	free(t->slot_reuse_after);
	memset(t, 0, sizeof(*t));
}

/* ---- map writes ----------------------------------------------------------- */

static int fd_write(struct pso_tables *t, int fd, const void *key, const void *val,
		    uint64_t flags)
{
	int err = val ? bpf_map_update_elem(fd, key, val, flags) : bpf_map_delete_elem(fd, key);

	if (err)
		err = errno ? -errno : -EIO;
	if (t->on_write)
		t->on_write(t->hook_ctx, fd, key, val, err);
	return err;
}

static bool id_ok(const struct pso_tables *t, uint16_t id);

bool pso_tables_mirror_is_placed(const struct pso_tables_mirror *m, uint16_t id)
{
	return m->placed && (m->placed[id / 8] >> (id % 8)) & 1;
}

/*
 * One write to a host map, then the same write to every NIC copy of it.
 * The host map decides success: a NIC that refuses a write (full, gone)
 * is counted, and its program passes what it cannot serve to the host.
 */
static int map_write(struct pso_tables *t, int fd, const void *key, const void *val,
		     uint64_t flags)
{
	int err = fd_write(t, fd, key, val, flags);

	if (err)
		return err;
	for (int i = 0; i < t->nmirrors; i++) {
		const struct pso_tables_mirror *m = &t->mirrors[i];
		int merr = 0;

		if (fd == t->topics_fd && pso_tables_mirror_is_placed(m, *(const uint32_t *)key))
			merr = fd_write(t, m->topics_fd, key, val, BPF_ANY);
		else if (fd == t->clients_fd)
			merr = fd_write(t, m->clients_fd, key, val, flags);
		/* A full NIC table is no error: what misses there passes up. */
		if (merr == -E2BIG || merr == -ENOSPC)
			t->mirror_full++;
		else if (merr && merr != -EEXIST && !(merr == -ENOENT && !val))
			t->mirror_errors++;
	}
	return 0;
}

int pso_tables_mirror_add(struct pso_tables *t, int topics_fd, int clients_fd,
			  int stats_fd, uint32_t capacity)
{
	struct pso_tables_mirror *m;
	struct pso_endpoint key, next;
	struct pso_client_val val = {};
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
		err = fd_write(t, clients_fd, &key, &val, BPF_NOEXIST);
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

	if (!id_ok(t, id))
		return -EINVAL;
	if (pso_tables_mirror_is_placed(m, id))
		return 0;
	if (m->nplaced >= m->capacity)
		return -ENOSPC;
	/* Counters first, so the NIC counts from its first publish. */
	err = fd_write(t, m->stats_fd, &key, &zero, BPF_ANY);
	if (!err)
		err = fd_write(t, m->topics_fd, &key, &t->topics[id], BPF_ANY);
	if (err) {
		fd_write(t, m->stats_fd, &key, NULL, 0);
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
	err = fd_write(t, m->topics_fd, &key, NULL, 0);
	if (err && err != -ENOENT)
		return err;
	if (last && !bpf_map_lookup_elem(m->stats_fd, &key, &st)) {
		last->msgs += st.msgs;
		last->bytes += st.bytes;
	}
	fd_write(t, m->stats_fd, &key, NULL, 0);
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

static struct pso_sub *slots_of(const struct pso_tables *t, uint16_t id)
{
	return &t->subs[(size_t)id * t->max_subs];
}

static int topic_write(struct pso_tables *t, uint16_t id, const struct pso_topic *v)
{
	uint32_t key = id;
	int err;

	if (!memcmp(&t->topics[id], v, sizeof(*v)))
		return 0;
	err = map_write(t, t->topics_fd, &key, v, BPF_ANY);
	if (!err)
		t->topics[id] = *v;
	return err;
}

static int slot_write(struct pso_tables *t, uint16_t id, uint32_t slot, const struct pso_sub *v)
{
	struct pso_sub *shadow = &slots_of(t, id)[slot];
	uint32_t key = (uint32_t)id * t->max_subs + slot;
	int err;

	if (!memcmp(shadow, v, sizeof(*v)))
		return 0;
	err = map_write(t, t->subs_fd, &key, v, BPF_ANY);
	if (!err)
		*shadow = *v;
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
		if (i < cur->sub_count && !same_content(&slots[i], &want[i])) {
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
		wait_readers(t);
	return reconcile_enable(t, id, want, n);
}

static int apply(struct pso_tables *t, uint16_t id, uint32_t n)
{
	uint32_t old_n = t->topics[id].sub_count;
	int err;

	memcpy(t->undo, slots_of(t, id), old_n * sizeof(*t->undo));
	err = reconcile(t, id, t->want, n);
	if (err)
		reconcile(t, id, t->undo, old_n);	/* best effort */
	return err;
}

/* ---- topics and subscribers ----------------------------------------------- */

static bool id_ok(const struct pso_tables *t, uint16_t id)
{
	return id >= 1 && id < t->max_topics;
}

int pso_tables_topic_set(struct pso_tables *t, uint16_t id, uint8_t flags)
{
	struct pso_topic v;

	if (!id_ok(t, id))
		return -EINVAL;
	v = t->topics[id];
	v.flags = PSO_TOPIC_F_VALID | flags;
	return topic_write(t, id, &v);	/* the flags byte only */
}

const struct pso_topic *pso_tables_topic(const struct pso_tables *t, uint16_t id)
{
	return id < t->max_topics ? &t->topics[id] : NULL;
}

const struct pso_sub *pso_tables_slot(const struct pso_tables *t, uint16_t id, uint32_t slot)
{
	return id < t->max_topics && slot < t->max_subs ? &slots_of(t, id)[slot] : NULL;
}

static bool family_ok(uint8_t family)
{
	return family == PSO_AF_INET || family == PSO_AF_INET6;
}

static void normalize_endpoint(struct pso_endpoint *ep)
{
	/* The data plane builds its keys from zeroed structs. */
	if (ep->family == PSO_AF_INET)
		memset(ep->addr + 4, 0, sizeof(ep->addr) - 4);
	ep->pad = 0;
}

/* Unused bytes zeroed, so slots compare with memcmp. */
static struct pso_sub normalize_sub(const struct pso_sub *in)
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
	normalize_endpoint(ep);
}

static int find_slot(const struct pso_tables *t, uint16_t id, const struct pso_endpoint *ep)
{
	const struct pso_sub *slots = slots_of(t, id);
	struct pso_endpoint have;

	for (uint32_t i = 0; i < t->topics[id].sub_count; i++) {
		pso_sub_endpoint(&slots[i], &have);
		if (!memcmp(&have, ep, sizeof(have)))
			return i;
	}
	return -ENOENT;
}

int pso_tables_sub_find(const struct pso_tables *t, uint16_t id, const struct pso_endpoint *ep)
{
	struct pso_endpoint key = *ep;

	if (!id_ok(t, id) || !family_ok(ep->family))
		return -EINVAL;
	normalize_endpoint(&key);
	return find_slot(t, id, &key);
}

int pso_tables_sub_add(struct pso_tables *t, uint16_t id, const struct pso_sub *sub)
{
	struct pso_sub s = normalize_sub(sub);
	struct pso_endpoint ep;
	uint32_t n;
	int err;

	if (!id_ok(t, id) || !family_ok(s.family))
		return -EINVAL;
	pso_sub_endpoint(&s, &ep);
	if (find_slot(t, id, &ep) >= 0)
		return -EEXIST;
	n = t->topics[id].sub_count;
	if (n >= t->max_subs)
		return -ENOSPC;
	memcpy(t->want, slots_of(t, id), n * sizeof(*t->want));
	t->want[n] = s;
	err = apply(t, id, n + 1);
	if (!err)
		t->nsubs++;
	return err;
}

int pso_tables_sub_update(struct pso_tables *t, uint16_t id, const struct pso_sub *sub)
{
	struct pso_sub s = normalize_sub(sub);
	struct pso_endpoint ep;
	uint32_t n;
	int i;

	if (!id_ok(t, id) || !family_ok(s.family))
		return -EINVAL;
	pso_sub_endpoint(&s, &ep);
	i = find_slot(t, id, &ep);
	if (i < 0)
		return i;
	n = t->topics[id].sub_count;
	memcpy(t->want, slots_of(t, id), n * sizeof(*t->want));
	t->want[i] = s;
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
		wait_readers(t);
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

		if (!id_ok(t, ids[k]))
			continue;
		i = find_slot(t, ids[k], ep);
		if (i < 0)
			continue;
		cnt = t->topics[ids[k]].sub_count;
		memcpy(want, slots_of(t, ids[k]), cnt * sizeof(*want));
		if (s) {
			want[i] = *s;
		} else {
			want[i] = want[cnt - 1];	/* the last slot fills the hole */
			cnt--;
			removed++;
		}
		todo[m] = ids[k];
		counts[m++] = cnt;
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

	if (!family_ok(key.family))
		return -EINVAL;
	/* Normalise the endpoint as the slots hold it. */
	probe.family = key.family;
	probe.dst_port = key.port;
	memcpy(probe.dst_addr, key.addr, sizeof(probe.dst_addr));
	probe = normalize_sub(&probe);
	pso_sub_endpoint(&probe, &key);
	return change_many(t, &key, NULL, ids, n);
}

int pso_tables_sub_update_many(struct pso_tables *t, const struct pso_sub *sub,
			       const uint16_t *ids, int n)
{
	struct pso_sub s = normalize_sub(sub);
	struct pso_endpoint ep;

	if (!family_ok(s.family))
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
	n = t->topics[id].sub_count;
	memcpy(t->want, slots_of(t, id), n * sizeof(*t->want));
	t->want[i] = t->want[n - 1];	/* the last slot fills the hole */
	err = apply(t, id, n - 1);
	if (!err)
		t->nsubs--;
	return err;
}

/* ---- clients -------------------------------------------------------------- */

static uint32_t endpoint_slot(const struct pso_endpoint *ep)
{
	uint32_t w[4];

	memcpy(w, ep->addr, sizeof(w));
	return pso_client_slot_of(w[0], w[1], w[2], w[3], ep->port);
}

static bool same_endpoint(const struct pso_endpoint *a, const struct pso_endpoint *b)
{
	return a->family == b->family && a->port == b->port && !memcmp(a->addr, b->addr, 16);
}

/* Put a new client (normalized, in the HASH) in its slot if that is free:
 * content with family 0, then enable.  A failure leaves it HASH-only. */
static void client_slot_take(struct pso_tables *t, const struct pso_endpoint *key)
{
	struct pso_client_slot v = { .ep = *key };
	uint32_t idx;

	if (t->client_slots_fd < 0)
		return;
	idx = endpoint_slot(key);
	if (t->slot_owner[idx].family)
		return;
	if (t->syncs < t->slot_reuse_after[idx]) {
		/* Disabled since the last wait: readers may still hold its
		 * fields.  The same client coming back (a reconnect) changes
		 * only the family byte, so it is enabled at once; another
		 * stays in the HASH.  The event loop never waits here. */
		if (t->slot_owner[idx].port != key->port ||
		    memcmp(t->slot_owner[idx].addr, key->addr, sizeof(key->addr)))
			return;
		v.ep.family = key->family;
		if (fd_write(t, t->client_slots_fd, &idx, &v, BPF_ANY))
			return;
		goto taken;
	}
	v.ep.family = 0;
	if (fd_write(t, t->client_slots_fd, &idx, &v, BPF_ANY))
		return;
	v.ep.family = key->family;
	if (fd_write(t, t->client_slots_fd, &idx, &v, BPF_ANY))
		return;
taken:
	t->slot_owner[idx] = *key;
	t->slot_reuse_after[idx] = 0;
	t->nclient_slots++;
}

/* Disable the slot of a leaving client; 0 also when it has none. */
static int client_slot_leave(struct pso_tables *t, const struct pso_endpoint *key)
{
	struct pso_client_slot v = { .ep = *key };
	uint32_t idx;
	int err;

	if (t->client_slots_fd < 0)
		return 0;
	idx = endpoint_slot(key);
	if (!same_endpoint(&t->slot_owner[idx], key))
		return 0;
	v.ep.family = 0;
	err = fd_write(t, t->client_slots_fd, &idx, &v, BPF_ANY);
	if (err)
		return err;
	t->slot_owner[idx].family = 0;
	t->slot_reuse_after[idx] = t->syncs + 1;
	t->nclient_slots--;
	return 0;
}

int pso_tables_client_add(struct pso_tables *t, const struct pso_endpoint *ep)
{
	struct pso_endpoint key = *ep;
	struct pso_client_val val = {};
	int err;

	if (!family_ok(key.family))
		return -EINVAL;
	normalize_endpoint(&key);
	if (t->nclients >= t->max_clients)
		return bpf_map_lookup_elem(t->clients_fd, &key, &val) ? -ENOSPC : 0;
	/* A HASH update replaces the element whole: no order to keep.
	 * NOEXIST keeps the counter of a client that is already there. */
	err = map_write(t, t->clients_fd, &key, &val, BPF_NOEXIST);
	if (err == -EEXIST)
		return 0;
	if (err == -E2BIG)	/* the map is smaller than max_clients */
		return -ENOSPC;
	if (err)
		return err;
	t->nclients++;
	client_slot_take(t, &key);
	return 0;
}

int pso_tables_client_get(const struct pso_tables *t, const struct pso_endpoint *ep,
			  struct pso_client_val *val)
{
	struct pso_endpoint key = *ep;

	if (!family_ok(key.family))
		return -EINVAL;
	normalize_endpoint(&key);
	if (bpf_map_lookup_elem(t->clients_fd, &key, val))
		return errno ? -errno : -EIO;
	if (t->client_slots_fd >= 0) {
		uint32_t idx = endpoint_slot(&key);
		struct pso_client_slot cs;

		if (same_endpoint(&t->slot_owner[idx], &key) &&
		    !bpf_map_lookup_elem(t->client_slots_fd, &idx, &cs))
			val->rx_msgs += cs.rx_msgs;
	}
	/* Publishes the NIC forwarded never reached the host's counter. */
	for (int i = 0; i < t->nmirrors; i++) {
		struct pso_client_val nic;

		if (!bpf_map_lookup_elem(t->mirrors[i].clients_fd, &key, &nic))
			val->rx_msgs += nic.rx_msgs;
	}
	return 0;
}

int pso_tables_client_remove(struct pso_tables *t, const struct pso_endpoint *ep)
{
	struct pso_endpoint key = *ep;
	int err;

	if (!family_ok(key.family))
		return -EINVAL;
	normalize_endpoint(&key);
	err = client_slot_leave(t, &key);
	if (err)
		return err;
	err = map_write(t, t->clients_fd, &key, NULL, 0);
	if (!err)
		t->nclients--;
	return err;
}
