// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * clients.c - the host's writer of pso_clients and pso_client_slots.
 *
 * pso_clients is a HASH: an update replaces an element whole.
 * pso_client_slots holds the same clients direct-mapped (the fast path's
 * lookup); a client whose slot is taken lives in the HASH only.  Its slots
 * follow the rule of subs.c with ep.family as the flags byte (0 = empty):
 * a new client's slot gets its content with family 0, then the family
 * (enable); a leaving client's slot gets family 0 (disable).  A slot
 * disabled since the last grace period takes no other client (that one
 * stays in the HASH, so no client operation ever waits); the same client
 * coming back gets its family byte back, an enable.  The HASH entry is
 * written before the slot is enabled and deleted after it is disabled.
 *
 * Every client is written with the publish-rate limit of the tables
 * (pso_tables_set_publish_rate()): a full token bucket for the driver
 * build's programs, a budget of one burst for a NIC's, which the event
 * loop's timer refills (pso_tables_rate_refill()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "tables/tables_int.h"

void tbl_clients_free(struct pso_tables *t)
{
	free(t->slot_owner);
	free(t->slot_reuse_after);
	free(t->slot_waiter);
	free(t->cslot_waiting);
	t->slot_owner = NULL;
	t->slot_reuse_after = NULL;
	t->slot_waiter = NULL;
	t->cslot_waiting = NULL;
	t->ncslot_waiting = 0;
}

int pso_tables_use_client_slots(struct pso_tables *t, int fd)
{
	int err = tbl_check_map(fd, BPF_MAP_TYPE_ARRAY, sizeof(uint32_t),
			    sizeof(struct pso_client_slot), PSO_CLIENT_SLOTS);

	if (err)
		return err;
	tbl_clients_free(t);
	t->slot_owner = calloc(PSO_CLIENT_SLOTS, sizeof(*t->slot_owner));
	t->slot_reuse_after = calloc(PSO_CLIENT_SLOTS, sizeof(*t->slot_reuse_after));
	t->slot_waiter = calloc(PSO_CLIENT_SLOTS, sizeof(*t->slot_waiter));
	t->cslot_waiting = calloc(PSO_CLIENT_SLOTS, sizeof(*t->cslot_waiting));
	if (!t->slot_owner || !t->slot_reuse_after || !t->slot_waiter || !t->cslot_waiting) {
		tbl_clients_free(t);
		return -ENOMEM;
	}
	t->client_slots_fd = fd;
	return 0;
}

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

/* Deferred mode: key (in the HASH) takes slot idx once its grace period has
 * completed, if it is still connected and the slot still free then.  One
 * waiter per slot, the latest. */
static void slot_wait(struct pso_tables *t, uint32_t idx, const struct pso_endpoint *key)
{
	if (!t->slot_waiter[idx].family)
		t->cslot_waiting[t->ncslot_waiting++] = idx;
	t->slot_waiter[idx] = *key;
	tbl_grace_request(t, t->slot_reuse_after[idx]);
}

static void client_slot_take(struct pso_tables *t, const struct pso_endpoint *key);

void tbl_clients_grace_done(struct pso_tables *t)
{
	for (uint32_t i = t->ncslot_waiting; i-- > 0;) {
		uint32_t idx = t->cslot_waiting[i];
		struct pso_endpoint w = t->slot_waiter[idx];
		struct pso_client_val val;

		if (t->slot_reuse_after[idx] > t->syncs)
			continue;
		t->cslot_waiting[i] = t->cslot_waiting[--t->ncslot_waiting];
		t->slot_waiter[idx].family = 0;
		if (!bpf_map_lookup_elem(t->clients_fd, &w, &val))
			client_slot_take(t, &w);
	}
}

void tbl_clients_forget_pending(struct pso_tables *t)
{
	while (t->ncslot_waiting)
		t->slot_waiter[t->cslot_waiting[--t->ncslot_waiting]].family = 0;
}

int pso_tables_set_publish_rate(struct pso_tables *t, uint32_t per_s, uint32_t burst)
{
	if (per_s > 1000000000u || (!per_s && burst))
		return -EINVAL;
	t->rate.per_s = per_s;
	t->rate.burst = per_s ? (burst ? burst : per_s) : 0;
	t->rate.last_ms = 0;
	t->rate.carry_milli = 0;
	return 0;
}

static struct pso_rate rate_new(const struct pso_tables *t)
{
	struct pso_rate r = { 0 };

	if (t->rate.per_s) {
		r.interval_ns = 1000000000u / t->rate.per_s;
		r.burst = t->rate.burst;
	}
	return r;	/* tat 0: a full bucket */
}

struct pso_client_val pso_tables_client_val_new(const struct pso_tables *t)
{
	return (struct pso_client_val){
		.rate = rate_new(t),
		.budget_end = t->rate.per_s ? t->rate.burst : UINT64_MAX,
	};
}

/* One NIC entry's budget end after `earned` more publishes: what is left
 * (none when its count ran past the end) plus earned, at most a burst. */
static uint64_t budget_end_after(uint64_t rx, uint64_t end, uint64_t earned, uint64_t burst)
{
	uint64_t left = end > rx ? end - rx : 0;

	left = left + earned < burst ? left + earned : burst;
	return rx + left;
}

void pso_tables_rate_refill(struct pso_tables *t, uint64_t now_ms)
{
	uint64_t earned;

	if (!t->rate.per_s || !t->nmirrors)
		return;
	if (!t->rate.last_ms || now_ms <= t->rate.last_ms) {
		t->rate.last_ms = now_ms;
		return;
	}
	/* In thousandths, so a rate below one publish per period still
	 * earns its share. */
	t->rate.carry_milli += (now_ms - t->rate.last_ms) * t->rate.per_s;
	t->rate.last_ms = now_ms;
	earned = t->rate.carry_milli / 1000;
	t->rate.carry_milli %= 1000;
	if (!earned)
		return;
	for (int i = 0; i < t->nmirrors; i++) {
		int fd = t->mirrors[i].clients_fd;
		struct pso_endpoint key, next;
		void *prev = NULL;

		while (!bpf_map_get_next_key(fd, prev, &next)) {
			struct pso_client_val v;
			uint64_t end;

			key = next;
			prev = &key;
			/* Gone meanwhile, or added without a limit. */
			if (bpf_map_lookup_elem(fd, &key, &v) || v.budget_end == UINT64_MAX)
				continue;
			end = budget_end_after(v.rx_msgs, v.budget_end, earned, t->rate.burst);
			if (end == v.budget_end)
				continue;
			v.budget_end = end;
			/* EXIST: a client removed meanwhile stays removed. */
			if (!tbl_fd_write(t, fd, &key, &v, BPF_EXIST))
				t->rate_refills++;
		}
	}
}

/* Put a new client (normalized, in the HASH) in its slot if that is free:
 * content with family 0, then enable.  A failure leaves it HASH-only. */
static void client_slot_take(struct pso_tables *t, const struct pso_endpoint *key)
{
	struct pso_client_slot v = { .ep = *key, .rate = rate_new(t) };
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
		    memcmp(t->slot_owner[idx].addr, key->addr, sizeof(key->addr))) {
			if (t->grace)
				slot_wait(t, idx, key);
			return;
		}
		v.ep.family = key->family;
		if (tbl_fd_write(t, t->client_slots_fd, &idx, &v, BPF_ANY))
			return;
		goto taken;
	}
	v.ep.family = 0;
	if (tbl_fd_write(t, t->client_slots_fd, &idx, &v, BPF_ANY))
		return;
	v.ep.family = key->family;
	if (tbl_fd_write(t, t->client_slots_fd, &idx, &v, BPF_ANY))
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
	err = tbl_fd_write(t, t->client_slots_fd, &idx, &v, BPF_ANY);
	if (err)
		return err;
	t->slot_owner[idx].family = 0;
	t->slot_reuse_after[idx] = tbl_grace_need(t);
	t->nclient_slots--;
	return 0;
}

int pso_tables_client_add(struct pso_tables *t, const struct pso_endpoint *ep)
{
	struct pso_endpoint key = *ep;
	struct pso_client_val val = pso_tables_client_val_new(t);
	int err;

	if (!tbl_family_ok(key.family))
		return -EINVAL;
	tbl_normalize_endpoint(&key);
	if (t->nclients >= t->max_clients)
		return bpf_map_lookup_elem(t->clients_fd, &key, &val) ? -ENOSPC : 0;
	/* A HASH update replaces the element whole: no order to keep.
	 * NOEXIST keeps the counter of a client that is already there. */
	err = tbl_map_write(t, t->clients_fd, &key, &val, BPF_NOEXIST);
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

	if (!tbl_family_ok(key.family))
		return -EINVAL;
	tbl_normalize_endpoint(&key);
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

	if (!tbl_family_ok(key.family))
		return -EINVAL;
	tbl_normalize_endpoint(&key);
	err = client_slot_leave(t, &key);
	if (err)
		return err;
	err = tbl_map_write(t, t->clients_fd, &key, NULL, 0);
	if (!err)
		t->nclients--;
	return err;
}
