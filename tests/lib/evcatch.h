/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * evcatch.h - the data plane's events as a test sees them: a ring buffer
 * consumer on a loaded object's pso_events map, the rate limit opened wide
 * (or set as a test needs), and a check of one event against the frame
 * that caused it.
 */
#ifndef PSO_TESTS_EVCATCH_H
#define PSO_TESTS_EVCATCH_H

#include <stddef.h>
#include <stdint.h>
#include "psoffload_abi.h"
#include "pkt.h"

#define EVCATCH_MAX 64

struct evcatch {
	struct ring_buffer *rb;
	int cfg_fd, buckets_fd, ncpus;
	struct pso_event ev[EVCATCH_MAX];
	size_t n;		/* caught since the last evcatch_drain() */
	size_t overflow;	/* caught beyond EVCATCH_MAX */
};

/* Consume from the object's pso_events; events_fd, cfg_fd and buckets_fd
 * are its pso_events, pso_event_cfg and pso_event_buckets.  Returns 0 or
 * -errno. */
int evcatch_open(struct evcatch *c, int events_fd, int cfg_fd, int buckets_fd);
void evcatch_close(struct evcatch *c);

/* The data plane's rate limit: rate events/s per CPU, burst at once
 * (0, 0: no events).  Empties every CPU's bucket state first, so the
 * bucket starts full. */
void evcatch_set_rate(struct evcatch *c, uint32_t rate, uint32_t burst);

/* Give every CPU's bucket this much credit (events), keeping the rest of
 * its state, and stamp it now: the next refill adds almost nothing. */
void evcatch_set_credit(struct evcatch *c, uint32_t events);

/* Read whatever the ring buffer holds into c->ev; returns c->n. */
size_t evcatch_drain(struct evcatch *c);

/*
 * Compare ev with what the frame d (as built by pkt_build(), info) must
 * give: reason, cause, source address and port, length as its UDP header
 * says, count (copies it stands for); the topic id when the event has one
 * (then d must be a PUBLISH naming it), and it must have one when
 * want_topic.  Appends one line per
 * difference to why; returns how many.
 */
int evcatch_check(const struct pso_event *ev, const struct pkt_desc *d,
		  const struct pkt_info *info, uint32_t reason, uint32_t cause,
		  uint32_t count, int want_topic, char *why, size_t why_len);

#endif /* PSO_TESTS_EVCATCH_H */
