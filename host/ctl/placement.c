// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * placement.c - choose the NIC's topics from their message rates.
 */
#include <stdlib.h>
#include "ctl/placement.h"

/* Busiest first; equal rates: lower id first, so the order is stable. */
static int busier_first(const void *a, const void *b)
{
	const struct pso_place_topic *x = *(const struct pso_place_topic *const *)a;
	const struct pso_place_topic *y = *(const struct pso_place_topic *const *)b;

	if (x->rate != y->rate)
		return x->rate > y->rate ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

void pso_placement_plan(const struct pso_place_topic *topics, int n, uint32_t capacity,
			unsigned int hysteresis_pct, uint64_t min_margin,
			struct pso_place_plan *plan)
{
	const struct pso_place_topic **in = calloc(n ? n : 1, sizeof(*in));
	const struct pso_place_topic **out = calloc(n ? n : 1, sizeof(*out));
	int nin = 0, nout = 0, i = 0, j;
	uint32_t used = 0;

	plan->nplace = plan->nunplace = 0;
	if (!in || !out)
		goto done;
	/* Placed topics the NIC can no longer finish leave first. */
	for (int k = 0; k < n; k++) {
		const struct pso_place_topic *t = &topics[k];

		if (t->placed && !t->candidate)
			plan->unplace[plan->nunplace++] = t->id;
		else if (t->placed)
			in[nin++] = t;
		else if (t->candidate)
			out[nout++] = t;
	}
	qsort(in, nin, sizeof(*in), busier_first);
	qsort(out, nout, sizeof(*out), busier_first);
	used = nin;

	/* Free room: the busiest waiting candidates. */
	for (; i < nout && used < capacity; i++, used++)
		plan->place[plan->nplace++] = out[i]->id;
	/* Full: swap the quietest placed topic for a clearly busier one. */
	for (j = nin - 1; i < nout && j >= 0; i++, j--) {
		uint64_t margin = in[j]->rate * hysteresis_pct / 100;
		uint64_t bar = in[j]->rate + (margin > min_margin ? margin : min_margin);

		if (out[i]->rate <= bar)
			break;
		plan->unplace[plan->nunplace++] = in[j]->id;
		plan->place[plan->nplace++] = out[i]->id;
	}
done:
	free(in);
	free(out);
}
