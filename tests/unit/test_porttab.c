// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_porttab.c - host/porttab.c, the writer of pso_port_cfg (HASH) and
 * pso_port_slots (direct-mapped ARRAY), against real BPF maps.
 *
 * A port goes into its slot when the slot is free or already its own, else
 * it is served from the HASH only; an unchanged config writes nothing; a
 * changed or removed slot is disabled (flags 0, old content) before the
 * grace period, which the counting sync callback checks by snapshotting the
 * slot at that moment; a freed slot is all zero; a failed HASH write leaves
 * the slot alone.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include "tables/porttab.h"

#define N_PORTS 64
#define MAX_SNAPS 8

struct fx {
	int hash_fd, slots_fd;
	int nsync;
	__u32 watch;		/* the slot the sync callback snapshots */
	struct pso_port_cfg snap[MAX_SNAPS];
};

/* ---- fixture ------------------------------------------------------------- */

static int make_hash(int max_entries)
{
	return bpf_map_create(BPF_MAP_TYPE_HASH, "t_port_cfg", sizeof(__u32),
			      sizeof(struct pso_port_cfg), max_entries, NULL);
}

static void on_sync(void *ctx)
{
	struct fx *f = ctx;

	assert_non_null(f);
	assert_true(f->nsync < MAX_SNAPS);
	assert_int_equal(bpf_map_lookup_elem(f->slots_fd, &f->watch, &f->snap[f->nsync]), 0);
	f->nsync++;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->hash_fd = make_hash(N_PORTS);
	f->slots_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "t_port_slots", sizeof(__u32),
				     sizeof(struct pso_port_cfg), PSO_PORT_SLOTS, NULL);
	if (f->hash_fd < 0 || f->slots_fd < 0) {
		print_message("skip: cannot create BPF maps (%s); run as root\n", strerror(errno));
		if (f->hash_fd >= 0)
			close(f->hash_fd);
		if (f->slots_fd >= 0)
			close(f->slots_fd);
		free(f);
		*state = NULL;
		return 0;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	if (!f)
		return 0;
	close(f->hash_fd);
	close(f->slots_fd);
	free(f);
	return 0;
}

#define FX() ({ struct fx *_f = *state; if (!_f) skip(); _f; })

/* ---- ports and expectations ---------------------------------------------- */

/* Port n on ifindex: 10.0.0.n, fd00::n, MAC 02::n, UDP 1883. */
static struct pso_port_cfg port(__u32 ifindex, int n)
{
	struct pso_port_cfg c = {};

	c.ifindex = ifindex;
	c.udp_port = htons(PSO_DEFAULT_UDP_PORT);
	c.mac[0] = 0x02;
	c.mac[5] = n;
	c.ip4 = htonl(0x0a000000 | n);
	c.ip6[0] = 0xfd;
	c.ip6[15] = n;
	return c;
}

/* cfg as the maps hold it: flags as given, pad zero. */
static struct pso_port_cfg stored(const struct pso_port_cfg *cfg, __u8 flags)
{
	struct pso_port_cfg v = *cfg;

	v.flags = flags;
	memset(v.pad, 0, sizeof(v.pad));
	return v;
}

static int set(struct fx *f, int slots_fd, const struct pso_port_cfg *cfg)
{
	return pso_port_table_set(f->hash_fd, slots_fd, cfg, on_sync, f);
}

static int rm(struct fx *f, int slots_fd, __u32 ifindex)
{
	return pso_port_table_remove(f->hash_fd, slots_fd, ifindex, on_sync, f);
}

static void expect_hash(int hash_fd, const struct pso_port_cfg *cfg)
{
	struct pso_port_cfg want = stored(cfg, PSO_PORT_F_VALID), got;
	__u32 key = cfg->ifindex;

	assert_int_equal(bpf_map_lookup_elem(hash_fd, &key, &got), 0);
	assert_memory_equal(&got, &want, sizeof(want));
}

static void expect_no_hash(int hash_fd, __u32 ifindex)
{
	struct pso_port_cfg got;

	assert_int_not_equal(bpf_map_lookup_elem(hash_fd, &ifindex, &got), 0);
	assert_int_equal(errno, ENOENT);
}

static struct pso_port_cfg read_slot(struct fx *f, __u32 slot)
{
	struct pso_port_cfg got;

	assert_int_equal(bpf_map_lookup_elem(f->slots_fd, &slot, &got), 0);
	return got;
}

/* The slot of cfg->ifindex holds cfg, valid. */
static void expect_slot(struct fx *f, const struct pso_port_cfg *cfg)
{
	struct pso_port_cfg want = stored(cfg, PSO_PORT_F_VALID);
	struct pso_port_cfg got = read_slot(f, pso_port_slot_of(cfg->ifindex));

	assert_memory_equal(&got, &want, sizeof(want));
}

static void expect_slot_free(struct fx *f, __u32 slot)
{
	static const struct pso_port_cfg zero;
	struct pso_port_cfg got = read_slot(f, slot);

	assert_memory_equal(&got, &zero, sizeof(zero));
}

/* At the grace period the slot was disabled and still held old. */
static void expect_snap_disabled(struct fx *f, int n, const struct pso_port_cfg *old)
{
	struct pso_port_cfg want = stored(old, 0);

	assert_true(n < f->nsync);
	assert_int_equal(f->snap[n].flags, 0);
	assert_memory_equal(&f->snap[n], &want, sizeof(want));
}

/* ---- tests ----------------------------------------------------------------- */

/* A free slot takes the port, without a grace period. */
static void test_set_free_slot(void **state)
{
	struct fx *f = FX();
	struct pso_port_cfg a = port(3, 1);

	a.flags = 0x80;		/* the caller's flags and pad are ignored */
	a.pad[1] = 0x55;
	assert_int_equal(set(f, f->slots_fd, &a), 0);
	expect_hash(f->hash_fd, &a);
	expect_slot(f, &a);
	assert_true(pso_port_table_in_slot(f->slots_fd, 3));
	assert_false(pso_port_table_in_slot(f->slots_fd, 4));
	expect_slot_free(f, pso_port_slot_of(4));
	assert_int_equal(f->nsync, 0);
}

/* A second port on the same slot stays in the HASH only, also when its
 * config changes. */
static void test_collision(void **state)
{
	struct fx *f = FX();
	struct pso_port_cfg a = port(3, 1), b = port(3 + PSO_PORT_SLOTS, 2);

	assert_int_equal(pso_port_slot_of(a.ifindex), pso_port_slot_of(b.ifindex));
	assert_int_equal(set(f, f->slots_fd, &a), 0);
	assert_int_equal(set(f, f->slots_fd, &b), 0);
	expect_hash(f->hash_fd, &a);
	expect_hash(f->hash_fd, &b);
	expect_slot(f, &a);
	assert_true(pso_port_table_in_slot(f->slots_fd, a.ifindex));
	assert_false(pso_port_table_in_slot(f->slots_fd, b.ifindex));

	b.ip4 = htonl(0x0a000063);
	assert_int_equal(set(f, f->slots_fd, &b), 0);
	expect_hash(f->hash_fd, &b);
	expect_slot(f, &a);
	assert_false(pso_port_table_in_slot(f->slots_fd, b.ifindex));
	assert_int_equal(f->nsync, 0);
}

/* The same config again leaves the slot alone. */
static void test_set_unchanged(void **state)
{
	struct fx *f = FX();
	struct pso_port_cfg a = port(3, 1), before, after;

	assert_int_equal(set(f, f->slots_fd, &a), 0);
	before = read_slot(f, pso_port_slot_of(3));
	a.flags = 0;		/* not part of the config */
	assert_int_equal(set(f, f->slots_fd, &a), 0);
	after = read_slot(f, pso_port_slot_of(3));
	assert_memory_equal(&before, &after, sizeof(before));
	expect_slot(f, &a);
	expect_hash(f->hash_fd, &a);
	assert_int_equal(f->nsync, 0);
}

/* A changed config: disable (old content), one grace period, new content,
 * enable. */
static void test_set_changed(void **state)
{
	struct fx *f = FX();
	struct pso_port_cfg a = port(3, 1), a2;

	assert_int_equal(set(f, f->slots_fd, &a), 0);
	a2 = a;
	a2.ip4 = htonl(0x0a000063);
	f->watch = pso_port_slot_of(3);
	assert_int_equal(set(f, f->slots_fd, &a2), 0);
	assert_int_equal(f->nsync, 1);
	expect_snap_disabled(f, 0, &a);
	expect_slot(f, &a2);
	expect_hash(f->hash_fd, &a2);
	assert_true(pso_port_table_in_slot(f->slots_fd, 3));

	/* Every field counts as a change. */
	a2.mac[5] ^= 0x40;
	assert_int_equal(set(f, f->slots_fd, &a2), 0);
	a2.udp_port = htons(1884);
	assert_int_equal(set(f, f->slots_fd, &a2), 0);
	a2.ip6[7] = 0x11;
	assert_int_equal(set(f, f->slots_fd, &a2), 0);
	assert_int_equal(f->nsync, 4);
	expect_slot(f, &a2);
	expect_hash(f->hash_fd, &a2);
}

/* Removal: a slot owner's slot is disabled, waited for and zeroed; a
 * HASH-only port leaves the slot alone; an unknown port is not an error. */
static void test_remove(void **state)
{
	struct fx *f = FX();
	struct pso_port_cfg a = port(3, 1), b = port(3 + PSO_PORT_SLOTS, 2);
	struct pso_port_cfg c = port(5, 3);

	assert_int_equal(set(f, f->slots_fd, &a), 0);
	assert_int_equal(set(f, f->slots_fd, &b), 0);
	assert_int_equal(set(f, f->slots_fd, &c), 0);

	/* b is HASH-only: a's slot stays as it is. */
	assert_int_equal(rm(f, f->slots_fd, b.ifindex), 0);
	expect_no_hash(f->hash_fd, b.ifindex);
	expect_hash(f->hash_fd, &a);
	expect_slot(f, &a);
	assert_int_equal(f->nsync, 0);

	f->watch = pso_port_slot_of(5);
	assert_int_equal(rm(f, f->slots_fd, 5), 0);
	assert_int_equal(f->nsync, 1);
	expect_snap_disabled(f, 0, &c);
	expect_slot_free(f, pso_port_slot_of(5));
	expect_no_hash(f->hash_fd, 5);
	assert_false(pso_port_table_in_slot(f->slots_fd, 5));
	expect_slot(f, &a);

	/* Unknown, and removed twice. */
	assert_int_equal(rm(f, f->slots_fd, 77), 0);
	assert_int_equal(rm(f, f->slots_fd, 5), 0);
	assert_int_equal(f->nsync, 1);
	expect_slot(f, &a);
	expect_hash(f->hash_fd, &a);
}

/* The slot owner leaves; setting the remaining port again (pso_dp_detach)
 * moves it into the slot. */
static void test_takeover(void **state)
{
	struct fx *f = FX();
	struct pso_port_cfg a = port(3, 1), b = port(3 + PSO_PORT_SLOTS, 2);

	assert_int_equal(set(f, f->slots_fd, &a), 0);
	assert_int_equal(set(f, f->slots_fd, &b), 0);
	f->watch = pso_port_slot_of(3);
	assert_int_equal(rm(f, f->slots_fd, a.ifindex), 0);
	assert_int_equal(f->nsync, 1);
	expect_snap_disabled(f, 0, &a);
	expect_slot_free(f, pso_port_slot_of(3));
	assert_false(pso_port_table_in_slot(f->slots_fd, b.ifindex));

	assert_int_equal(set(f, f->slots_fd, &b), 0);
	assert_int_equal(f->nsync, 1);	/* a free slot needs no wait */
	expect_slot(f, &b);
	expect_hash(f->hash_fd, &b);
	expect_no_hash(f->hash_fd, a.ifindex);
	assert_true(pso_port_table_in_slot(f->slots_fd, b.ifindex));
	assert_false(pso_port_table_in_slot(f->slots_fd, a.ifindex));
}

/* No slot table: the HASH alone. */
static void test_no_slots(void **state)
{
	struct fx *f = FX();
	struct pso_port_cfg a = port(3, 1);

	assert_int_equal(set(f, -1, &a), 0);
	expect_hash(f->hash_fd, &a);
	a.ip4 = htonl(0x0a000063);
	assert_int_equal(set(f, -1, &a), 0);
	expect_hash(f->hash_fd, &a);
	assert_false(pso_port_table_in_slot(-1, 3));
	expect_slot_free(f, pso_port_slot_of(3));

	assert_int_equal(rm(f, -1, 3), 0);
	expect_no_hash(f->hash_fd, 3);
	assert_int_equal(rm(f, -1, 3), 0);
	expect_slot_free(f, pso_port_slot_of(3));
	assert_int_equal(f->nsync, 0);
}

/* A failed HASH write is returned and leaves the slot alone. */
static void test_hash_full(void **state)
{
	struct fx *f = FX();
	struct pso_port_cfg a = port(3, 1), b = port(4, 2), a2;
	int small = make_hash(1), ret;

	assert_true(small >= 0);
	assert_int_equal(pso_port_table_set(small, f->slots_fd, &a, on_sync, f), 0);
	expect_slot(f, &a);

	ret = pso_port_table_set(small, f->slots_fd, &b, on_sync, f);
	assert_int_equal(ret, -E2BIG);
	expect_no_hash(small, b.ifindex);
	expect_slot_free(f, pso_port_slot_of(b.ifindex));
	assert_false(pso_port_table_in_slot(f->slots_fd, b.ifindex));

	/* Also when the failing port collides with an existing slot owner. */
	a2 = port(3 + PSO_PORT_SLOTS, 3);
	ret = pso_port_table_set(small, f->slots_fd, &a2, on_sync, f);
	assert_int_equal(ret, -E2BIG);
	expect_slot(f, &a);
	expect_hash(small, &a);
	assert_int_equal(f->nsync, 0);
	close(small);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_set_free_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_collision, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_unchanged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_takeover, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hash_full, setup, teardown),
	};

	return cmocka_run_group_tests_name("porttab", tests, NULL, NULL);
}
