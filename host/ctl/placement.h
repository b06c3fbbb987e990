/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * placement.h - which topics live in a NIC's small topic table (hw mode).
 *
 * The NIC finishes a publish only for a topic with one subscriber behind
 * its own port; those are the candidates.  The busiest candidates by
 * message rate fill the table; a placed topic gives way only to a candidate
 * busier by more than the hysteresis margin, so placement does not flap.
 * A pure function, so every case can be tested in a table.
 */
#ifndef PSO_PLACEMENT_H
#define PSO_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

struct pso_place_topic {
	uint16_t id;
	uint64_t rate;		/* messages in the last interval */
	bool candidate;		/* the NIC could finish its publishes */
	bool placed;		/* in the NIC now */
};

struct pso_place_plan {
	int nplace, nunplace;
	uint16_t *place;	/* caller-provided, room for n ids each */
	uint16_t *unplace;
};

/* A swap needs rate(new) > rate(old) + max(rate(old) * pct / 100, min_margin):
 * the percentage keeps busy topics from flapping, the absolute margin keeps
 * quiet ones (a few messages an interval, all alike) from flapping. */
void pso_placement_plan(const struct pso_place_topic *topics, int n, uint32_t capacity,
			unsigned int hysteresis_pct, uint64_t min_margin,
			struct pso_place_plan *plan);

#endif /* PSO_PLACEMENT_H */
