// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pool.c - which slots of the subscriber pool (pso_subs) are free: a buddy
 * allocator over the pool, host side only.
 *
 * A topic's run is a block of 2^k slots aligned to its size, k at most
 * max_order (log2 of the longest run).  The pool need not be a power of
 * two: it starts as the largest aligned blocks that fit, left to right
 * (a pool of 1,000,000 slots with runs of at most 4,096: 244 blocks of
 * 4,096 and the binary digits of the rest), and two free buddies merge
 * only into a block that is itself aligned and inside the pool.
 *
 * Free blocks of each order are a doubly linked list threaded through two
 * arrays indexed by a block's first slot, so allocation, release and
 * reservation (adoption: a given block) are O(max_order).  The arrays are
 * calloc'd: pages of the pool never used are never touched, so the memory
 * the host spends follows what is used (RSS), not the pool's size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tables/tables_int.h"

#define NONE UINT32_MAX

static void push(struct pso_pool *p, uint32_t b, unsigned k)
{
	p->next[b] = p->head[k];
	p->prev[b] = NONE;
	if (p->head[k] != NONE)
		p->prev[p->head[k]] = b;
	p->head[k] = b;
	p->free_order[b] = (uint8_t)(k + 1);
	p->free_slots += 1u << k;
}

static void unlink_block(struct pso_pool *p, uint32_t b, unsigned k)
{
	if (p->prev[b] != NONE)
		p->next[p->prev[b]] = p->next[b];
	else
		p->head[k] = p->next[b];
	if (p->next[b] != NONE)
		p->prev[p->next[b]] = p->prev[b];
	p->free_order[b] = 0;
	p->free_slots -= 1u << k;
}

int tbl_pool_order(uint32_t cap)
{
	int k = 0;

	if (!cap || (cap & (cap - 1)))
		return -EINVAL;
	while ((1u << k) < cap)
		k++;
	return k;
}

int tbl_pool_init(struct pso_pool *p, uint32_t size, uint32_t max_run)
{
	int max_order = tbl_pool_order(max_run);

	memset(p, 0, sizeof(*p));
	if (max_order < 0 || max_order >= PSO_POOL_ORDERS || !size)
		return -EINVAL;
	p->next = calloc(size, sizeof(*p->next));
	p->prev = calloc(size, sizeof(*p->prev));
	p->free_order = calloc(size, sizeof(*p->free_order));
	if (!p->next || !p->prev || !p->free_order) {
		tbl_pool_free(p);
		return -ENOMEM;
	}
	p->size = size;
	p->max_order = (unsigned)max_order;
	for (unsigned k = 0; k < PSO_POOL_ORDERS; k++)
		p->head[k] = NONE;
	/* Largest aligned blocks first; pushed in reverse so that allocation
	 * takes the lowest slots first (the list is LIFO). */
	{
		uint32_t o = 0, nblocks = 0, *starts = NULL;
		uint8_t *orders = NULL;

		starts = calloc(64 + size / (1u << p->max_order), sizeof(*starts));
		orders = calloc(64 + size / (1u << p->max_order), sizeof(*orders));
		if (!starts || !orders) {
			free(starts);
			free(orders);
			tbl_pool_free(p);
			return -ENOMEM;
		}
		while (o < size) {
			unsigned k = p->max_order;

			while (k && ((o & ((1u << k) - 1)) || (uint64_t)o + (1u << k) > size))
				k--;
			starts[nblocks] = o;
			orders[nblocks++] = (uint8_t)k;
			o += 1u << k;
		}
		while (nblocks--)
			push(p, starts[nblocks], orders[nblocks]);
		free(starts);
		free(orders);
	}
	return 0;
}

void tbl_pool_free(struct pso_pool *p)
{
	free(p->next);
	free(p->prev);
	free(p->free_order);
	memset(p, 0, sizeof(*p));
}

int tbl_pool_alloc(struct pso_pool *p, uint32_t cap, uint32_t *base)
{
	int k = tbl_pool_order(cap);
	unsigned j;
	uint32_t b;

	if (k < 0 || (unsigned)k > p->max_order)
		return -EINVAL;
	for (j = (unsigned)k; j <= p->max_order && p->head[j] == NONE; j++)
		;
	if (j > p->max_order)
		return -ENOSPC;
	b = p->head[j];
	unlink_block(p, b, j);
	/* Split: the upper halves go back, the lower one is split on. */
	while (j > (unsigned)k) {
		j--;
		push(p, b + (1u << j), j);
	}
	*base = b;
	return 0;
}

void tbl_pool_release(struct pso_pool *p, uint32_t base, uint32_t cap)
{
	unsigned k = (unsigned)tbl_pool_order(cap);

	while (k < p->max_order) {
		uint32_t buddy = base ^ (1u << k);

		if ((uint64_t)buddy + (1u << k) > p->size || p->free_order[buddy] != k + 1)
			break;
		unlink_block(p, buddy, k);
		base &= ~(1u << k);
		k++;
	}
	push(p, base, k);
}

int tbl_pool_reserve(struct pso_pool *p, uint32_t base, uint32_t cap)
{
	int k = tbl_pool_order(cap);
	unsigned j;
	uint32_t b = 0;

	if (k < 0 || (unsigned)k > p->max_order || (base & (cap - 1)) ||
	    (uint64_t)base + cap > p->size)
		return -EINVAL;
	/* The free block that holds it, then split down to it. */
	for (j = (unsigned)k; j <= p->max_order; j++) {
		b = base & ~((1u << j) - 1);
		if (p->free_order[b] == j + 1)
			break;
	}
	if (j > p->max_order)
		return -EBUSY;
	unlink_block(p, b, j);
	while (j > (unsigned)k) {
		j--;
		if (base & (1u << j)) {
			push(p, b, j);
			b += 1u << j;
		} else {
			push(p, b + (1u << j), j);
		}
	}
	return 0;
}

uint32_t tbl_pool_largest(const struct pso_pool *p)
{
	for (unsigned k = p->max_order + 1; k-- > 0;)
		if (p->head[k] != NONE)
			return 1u << k;
	return 0;
}
