/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * tblcheck.h - the data plane's view of a log of table writes, replayed
 * against the rules readers depend on (host/tables/subs.c), for the table
 * tests: a reader of a topic reads `cur`, then that half of the run entry,
 * and walks the run's slots; it may be stalled across any number of writes
 * until a grace period that started after it has ended.
 *
 * Checked at every write:
 *   - a slot some reader may walk (in a topic's run, or in a run a topic
 *     left since the last grace period that covers the move) changes its
 *     flags over unchanged content, or its content with flags 0 on both
 *     sides; the same for each topic's `first`;
 *   - content disabled while servable is rewritten only after a grace
 *     period that started after the disable;
 *   - a run entry write changes either only `cur` (the flip) or only the
 *     half readers do not use, and that half only when no reader can be
 *     using it any more (a grace period since it was left);
 *   - at a flip, the run flipped to serves the same subscribers (each
 *     servable slot, whole) as the one left: none skipped, none twice;
 *     the new run overlaps no other topic's run;
 *   - no subscriber is servable twice in one readable run.
 */
#ifndef PSO_TBLCHECK_H
#define PSO_TBLCHECK_H

#include <stdbool.h>
#include <stdint.h>
#include "psoffload_abi.h"

#define TBLCHECK_MAX_LEFT 8	/* runs one topic left, still readable */

struct tblcheck_left {
	uint32_t base, cap;
	int since;		/* write index of the flip that left it */
};

struct tblcheck {
	uint32_t ntopics, npool;
	struct pso_topic *topics;
	struct pso_run *runs;
	struct pso_sub *subs;
	int *dis;		/* per pool slot, then per topic's first: the
				 * write that disabled it while servable, -1 */
	int *half_left;		/* per topic: the flip that left the inactive
				 * half, -1: nobody reads it */
	struct tblcheck_left *left;	/* per topic, TBLCHECK_MAX_LEFT */
	uint8_t *nleft;
	char err[256];		/* the first violation, "" while none */
};

/* From this state of the maps (copied). 0 or -1 (no memory). */
int tblcheck_init(struct tblcheck *c, uint32_t ntopics, uint32_t npool,
		  const struct pso_topic *topics, const struct pso_run *runs,
		  const struct pso_sub *subs);
void tblcheck_free(struct tblcheck *c);
/* One successful write, the n-th of the log. */
void tblcheck_topic(struct tblcheck *c, int n, uint32_t id, const struct pso_topic *v);
void tblcheck_run(struct tblcheck *c, int n, uint32_t id, const struct pso_run *v);
void tblcheck_slot(struct tblcheck *c, int n, uint32_t key, const struct pso_sub *v);
/* A grace period ended whose start came after write start_n (every write
 * before it is covered). */
void tblcheck_sync(struct tblcheck *c, int start_n);
/* Whether it ended where the tables are: 0, or -1 with err set. */
int tblcheck_equal(struct tblcheck *c, const struct pso_topic *topics,
		   const struct pso_run *runs, const struct pso_sub *subs);

#endif /* PSO_TBLCHECK_H */
