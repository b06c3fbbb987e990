/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * events.h - the data plane's event stream on the host side.
 *
 * The daemon is the one reader of the pso_events ring buffer (a ring buffer
 * has one consumer position): it reads it from its event loop, keeps a
 * bounded history of recent events and hands each new one to its
 * followers (the control socket's `events --follow` streams).  The rest is
 * what both ends of that socket share: an event as JSON and back, as one
 * line of text, and the reason filter.
 */
#ifndef PSO_EVENTS_H
#define PSO_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "psoffload_abi.h"

struct json_object;

/* Recent events the daemon keeps. */
#define PSO_EVENTS_HISTORY 1024
/* Followers at once. */
#define PSO_EVENTS_FOLLOWERS 16
/* A topic name as an event shows it, truncated beyond this. */
#define PSO_EVENT_TOPIC_SHOWN 128

/* One event as the daemon read it. */
struct pso_event_rec {
	uint64_t seq;			/* 1, 2, ... in the order read */
	uint64_t time_ns;		/* CLOCK_REALTIME, from the event's monotonic time */
	struct pso_event ev;
	char topic[PSO_EVENT_TOPIC_SHOWN];	/* its name, "" when unknown */
};

/* The name of a topic id, or NULL (the daemon's registry). */
typedef const char *(*pso_events_topic_fn)(void *ctx, uint16_t id);
/* A new event for a follower. */
typedef void (*pso_events_follow_fn)(void *ctx, const struct pso_event_rec *rec);

struct pso_events;

/* Read the ring buffer ringbuf_fd (the data plane's pso_events), keeping
 * `history` events (0: PSO_EVENTS_HISTORY).  0 or -errno. */
int pso_events_open(struct pso_events **out, int ringbuf_fd, size_t history,
		    pso_events_topic_fn topic_name, void *topic_ctx);
void pso_events_close(struct pso_events *e);
/* Readable when the ring buffer has events (for poll). */
int pso_events_fd(const struct pso_events *e);
/* Read every event waiting: history, then followers.  Returns how many, or
 * -errno. */
int pso_events_consume(struct pso_events *e);
/* Events read since the start (the last one's seq). */
uint64_t pso_events_total(const struct pso_events *e);
/* The seq of the oldest event kept (0: none kept yet). */
uint64_t pso_events_oldest(const struct pso_events *e);

/* Call fn for each event kept with seq > after, oldest first. */
void pso_events_foreach(const struct pso_events *e, uint64_t after,
			pso_events_follow_fn fn, void *ctx);
/* Hand every new event to fn from now on: a follower id (> 0), or -ENOSPC. */
int pso_events_follow(struct pso_events *e, pso_events_follow_fn fn, void *ctx);
void pso_events_unfollow(struct pso_events *e, int id);

/* Feed one raw event as if read from the ring buffer (tests, and the
 * consumer itself). */
void pso_events_push(struct pso_events *e, const struct pso_event *ev, uint64_t mono_now_ns,
		     uint64_t real_now_ns);

/* ---- shared by the daemon and `psoffload events` ----------------------- */

/* A counter's name (PSO_COUNTER_NAMES), "?" beyond the table. */
const char *pso_event_reason_name(unsigned int reason);
/* A reason by its counter name: 0, or -EINVAL. */
int pso_event_reason_parse(const char *name, unsigned int *reason);
/* Whether rec has this reason, as its counter or its cause. */
bool pso_event_matches(const struct pso_event_rec *rec, unsigned int reason);

/* rec as a JSON object (the control socket's form): a new reference. */
struct json_object *pso_event_to_json(const struct pso_event_rec *rec);
/* And back: 0, or -EINVAL when a field is missing or wrong. */
int pso_event_from_json(struct json_object *obj, struct pso_event_rec *rec);

/* One line of text (no newline): time, reason, source, topic, length. */
void pso_event_format(const struct pso_event_rec *rec, char *buf, size_t len);
/* The column heads above those lines. */
const char *pso_event_format_head(void);

#endif /* PSO_EVENTS_H */
