/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ratelimit.h - token buckets per source network, in a table of fixed size
 * that no number of sources can exhaust.
 *
 * A source is its network: an IPv4 address (/32) or an IPv6 /64, the
 * block one host or one site usually holds.  Each source has one bucket
 * per kind of message (PSO_RL_KINDS), refilled at that kind's rate, in
 * bursts of at most one second's worth.  The table is set-associative
 * (PSO_RL_WAYS entries per set), its sets chosen by SipHash-2-4 under a
 * random key, so a spoofer cannot aim many sources at one set.  A source
 * new to a full set takes the place of an entry whose buckets are full
 * again (it carries no state: evicting it forgets nothing), else of the
 * one seen longest ago (counted in evictions).  Memory and time per
 * datagram are fixed; a flood of new sources costs each of them one
 * fresh bucket, never the limiter itself.
 */
#ifndef PSO_RATELIMIT_H
#define PSO_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include "psoffload_abi.h"

#define PSO_RL_KINDS 2
#define PSO_RL_WAYS 8
#define PSO_RL_ENTRIES_DEFAULT 16384

struct pso_rl;

/* entries: rounded up to whole sets; key: SipHash key (16 bytes), NULL:
 * from getrandom().  NULL when out of memory. */
struct pso_rl *pso_rl_new(uint32_t entries, const uint8_t *key);
void pso_rl_free(struct pso_rl *rl);

/* Kind k refills at rate tokens a second, bursts of rate (0: no limit). */
void pso_rl_set_rate(struct pso_rl *rl, int kind, uint32_t rate);

/* One token of kind from ep's source network at now_ms: false when its
 * bucket is empty (the caller drops the datagram). */
bool pso_rl_take(struct pso_rl *rl, const struct pso_endpoint *ep, int kind, uint64_t now_ms);

/* Entries taken from a source seen recently (the table was full). */
uint64_t pso_rl_evictions(const struct pso_rl *rl);
/* Sources in the table now. */
uint32_t pso_rl_sources(const struct pso_rl *rl);

/* SipHash-2-4 (Aumasson, Bernstein) of len bytes under a 16-byte key. */
uint64_t pso_siphash(const uint8_t key[16], const void *data, size_t len);

#endif /* PSO_RATELIMIT_H */
