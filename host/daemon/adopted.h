/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * adopted.h - what an adopted data plane's tables hold that no session of
 * this daemon claims (yet): the placeholders of docs/DESIGN.md, "Restart
 * and recovery".
 *
 * After an adoption every endpoint with a client-table entry or a
 * subscriber slot is a placeholder.  A session that comes - reloaded from
 * the store, or a client connecting and subscribing again - claims its
 * entries (proto_env.c: the table says "already there", the placeholder
 * has it: the session takes it over as it is, so the data plane never
 * stops serving it).  What stays unclaimed:
 *   - with a store, after its sessions are reloaded: removed at once
 *     (their sessions are gone);
 *   - without one: kept, and expired like a session after one full grace
 *     period (--adopt-grace) of silence - no fast-path publish counted by
 *     the data plane, no PINGREQ (answered PINGRESP) - then its slots and
 *     client entry are removed through the table writer.
 */
#ifndef PSO_ADOPTED_H
#define PSO_ADOPTED_H

#include <stdbool.h>
#include <stdint.h>
#include "psoffload_abi.h"

struct pso_tables;
struct pso_adopted;

/* The placeholders of every entry t holds (after pso_tables_adopt());
 * each silent for grace_ms expires.  NULL when out of memory. */
struct pso_adopted *pso_adopted_new(struct pso_tables *t, uint64_t now_ms, uint64_t grace_ms);
void pso_adopted_free(struct pso_adopted *a);

/* A session takes ep's slot in topic id / its client entry: true when a
 * placeholder had it (it is the session's now). */
bool pso_adopted_claim_slot(struct pso_adopted *a, uint16_t id, const struct pso_endpoint *ep);
bool pso_adopted_claim_client(struct pso_adopted *a, const struct pso_endpoint *ep);
/* ep's client entry is a placeholder's: no session of ours is at ep. */
bool pso_adopted_has(const struct pso_adopted *a, const struct pso_endpoint *ep);
/* ep showed it is alive (a PINGREQ): its grace starts again. */
void pso_adopted_touch(struct pso_adopted *a, const struct pso_endpoint *ep, uint64_t now_ms);
/* Expire placeholders silent for their grace (fast-path publishes count
 * as activity); all of them with all = true.  Returns how many went. */
uint32_t pso_adopted_expire(struct pso_adopted *a, uint64_t now_ms, bool all);

struct pso_adopted_usage {
	uint32_t endpoints;	/* placeholders left */
	uint64_t slots;		/* their unclaimed slots */
	uint32_t clients;	/* their unclaimed client entries */
	uint64_t claimed;	/* entries sessions took over */
	uint64_t expired;	/* placeholders expired */
	uint64_t next_expiry_ms;	/* 0: none */
};
void pso_adopted_usage(const struct pso_adopted *a, struct pso_adopted_usage *u);

/* Every topic id an unclaimed slot is in, until fn returns non-zero. */
int pso_adopted_foreach_topic(const struct pso_adopted *a, int (*fn)(uint16_t id, void *ctx),
			      void *ctx);

#endif /* PSO_ADOPTED_H */
