// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ratelimit.c - token buckets per source network (see ratelimit.h).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "util/ratelimit.h"

/* Buckets hold milli-tokens: a rate of r a second refills r a millisecond. */
#define MILLI 1000u

struct rl_entry {
	uint8_t key[9];			/* family, then the /32 or /64 */
	bool used;
	uint64_t seen_ms;		/* last refill */
	uint32_t tokens[PSO_RL_KINDS];	/* milli-tokens */
};

struct pso_rl {
	uint8_t sipkey[16];
	uint32_t nsets;
	uint32_t rate[PSO_RL_KINDS];
	uint32_t nused;
	uint64_t evictions;
	struct rl_entry e[];
};

static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#define SIPROUND                                                                  \
	do {                                                                      \
		v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);         \
		v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                            \
		v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                            \
		v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);         \
	} while (0)

uint64_t pso_siphash(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(in + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	/* The last 0..7 bytes, little-endian, under the length's low byte. */
	for (size_t k = 0; i + k < len; k++)
		b |= (uint64_t)in[i + k] << (8 * k);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

struct pso_rl *pso_rl_new(uint32_t entries, const uint8_t *key)
{
	uint32_t nsets = (entries + PSO_RL_WAYS - 1) / PSO_RL_WAYS;
	struct pso_rl *rl;

	if (!nsets)
		nsets = 1;
	rl = calloc(1, sizeof(*rl) + (size_t)nsets * PSO_RL_WAYS * sizeof(rl->e[0]));
	if (!rl)
		return NULL;
	rl->nsets = nsets;
	if (key) {
		memcpy(rl->sipkey, key, sizeof(rl->sipkey));
	} else if (getrandom(rl->sipkey, sizeof(rl->sipkey), GRND_NONBLOCK) !=
		   (ssize_t)sizeof(rl->sipkey)) {
		/* No entropy yet (early boot): a key from the clock and the
		 * table's address is still unknown to a remote sender. */
		uint64_t a = (uint64_t)(uintptr_t)rl, t = (uint64_t)(uintptr_t)&nsets;

		memcpy(rl->sipkey, &a, 8);
		memcpy(rl->sipkey + 8, &t, 8);
	}
	return rl;
}

void pso_rl_free(struct pso_rl *rl)
{
	free(rl);
}

void pso_rl_set_rate(struct pso_rl *rl, int kind, uint32_t rate)
{
	/* A burst of one second's worth must fit the milli-token counter. */
	if (rate > UINT32_MAX / MILLI)
		rate = UINT32_MAX / MILLI;
	rl->rate[kind] = rate;
}

static void source_key(const struct pso_endpoint *ep, uint8_t key[9])
{
	memset(key, 0, 9);
	key[0] = ep->family;
	/* IPv4: the address; IPv6: its /64, what one site is given. */
	memcpy(key + 1, ep->addr, ep->family == PSO_AF_INET ? 4 : 8);
}

/* Bring e's buckets up to now; true when every one is full (no state). */
static bool refill(const struct pso_rl *rl, struct rl_entry *e, uint64_t now_ms)
{
	uint64_t dt = now_ms > e->seen_ms ? now_ms - e->seen_ms : 0;
	bool full = true;

	e->seen_ms = now_ms > e->seen_ms ? now_ms : e->seen_ms;
	for (int k = 0; k < PSO_RL_KINDS; k++) {
		uint64_t cap = (uint64_t)rl->rate[k] * MILLI;
		uint64_t t = e->tokens[k] + dt * rl->rate[k];

		e->tokens[k] = (uint32_t)(t < cap ? t : cap);
		full &= e->tokens[k] == cap;
	}
	return full;
}

bool pso_rl_take(struct pso_rl *rl, const struct pso_endpoint *ep, int kind, uint64_t now_ms)
{
	uint8_t key[9];
	struct rl_entry *set, *victim = NULL, *e = NULL;

	if (!rl->rate[kind])
		return true;
	source_key(ep, key);
	set = &rl->e[(pso_siphash(rl->sipkey, key, sizeof(key)) % rl->nsets) * PSO_RL_WAYS];
	for (int w = 0; w < PSO_RL_WAYS && !e; w++)
		if (set[w].used && !memcmp(set[w].key, key, sizeof(key)))
			e = &set[w];
	if (e) {
		refill(rl, e, now_ms);
	} else {
		/* A free way, else one whose buckets are full again, else the
		 * one seen longest ago. */
		for (int w = 0; w < PSO_RL_WAYS; w++) {
			struct rl_entry *x = &set[w];

			if (!x->used || refill(rl, x, now_ms)) {
				victim = x;
				break;
			}
			if (!victim || x->seen_ms < victim->seen_ms)
				victim = x;
		}
		if (!victim->used)
			rl->nused++;
		else if (!refill(rl, victim, now_ms))
			rl->evictions++;
		e = victim;
		memset(e, 0, sizeof(*e));
		memcpy(e->key, key, sizeof(key));
		e->used = true;
		e->seen_ms = now_ms;
		for (int k = 0; k < PSO_RL_KINDS; k++)
			e->tokens[k] = rl->rate[k] * MILLI;
	}
	if (e->tokens[kind] < MILLI)
		return false;
	e->tokens[kind] -= MILLI;
	return true;
}

uint64_t pso_rl_evictions(const struct pso_rl *rl)
{
	return rl->evictions;
}

uint32_t pso_rl_sources(const struct pso_rl *rl)
{
	return rl->nused;
}
