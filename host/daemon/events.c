// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * events.c - the data plane's events on the host: the daemon's ring buffer
 * consumer, its history and followers, and the forms an event takes on the
 * control socket and on a terminal.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>
#include "daemon/events.h"

static const char *const reason_names[PSO_CNT__MAX] = PSO_COUNTER_NAMES;

struct follower {
	pso_events_follow_fn fn;
	void *ctx;
};

struct pso_events {
	struct ring_buffer *rb;
	struct pso_event_rec *hist;	/* a ring of cap records */
	size_t cap, n, head;		/* head: where the next one goes */
	uint64_t seq;
	pso_events_topic_fn topic_name;
	void *topic_ctx;
	struct follower followers[PSO_EVENTS_FOLLOWERS];
	/* this read's clocks, for the events' wall time */
	uint64_t mono_ns, real_ns;
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void pso_events_push(struct pso_events *e, const struct pso_event *ev, uint64_t mono_now_ns,
		     uint64_t real_now_ns)
{
	struct pso_event_rec *rec = &e->hist[e->head];
	uint64_t age = mono_now_ns > ev->ts_ns ? mono_now_ns - ev->ts_ns : 0;
	const char *name = NULL;

	memset(rec, 0, sizeof(*rec));
	rec->seq = ++e->seq;
	rec->time_ns = real_now_ns > age ? real_now_ns - age : 0;
	rec->ev = *ev;
	if ((ev->flags & PSO_EVENT_F_TOPIC) && e->topic_name)
		name = e->topic_name(e->topic_ctx, ev->topic_id);
	if (name)
		snprintf(rec->topic, sizeof(rec->topic), "%s", name);
	e->head = (e->head + 1) % e->cap;
	if (e->n < e->cap)
		e->n++;
	for (int i = 0; i < PSO_EVENTS_FOLLOWERS; i++)
		if (e->followers[i].fn)
			e->followers[i].fn(e->followers[i].ctx, rec);
}

static int on_ring(void *ctx, void *data, size_t len)
{
	struct pso_events *e = ctx;
	struct pso_event ev;

	if (len < sizeof(ev))	/* not this ABI's: ignore */
		return 0;
	memcpy(&ev, data, sizeof(ev));
	pso_events_push(e, &ev, e->mono_ns, e->real_ns);
	return 0;
}

int pso_events_open(struct pso_events **out, int ringbuf_fd, size_t history,
		    pso_events_topic_fn topic_name, void *topic_ctx)
{
	struct pso_events *e = calloc(1, sizeof(*e));
	int ret;

	*out = NULL;
	if (!e)
		return -ENOMEM;
	e->cap = history ? history : PSO_EVENTS_HISTORY;
	e->hist = calloc(e->cap, sizeof(*e->hist));
	e->topic_name = topic_name;
	e->topic_ctx = topic_ctx;
	if (!e->hist) {
		free(e);
		return -ENOMEM;
	}
	if (ringbuf_fd >= 0) {
		e->rb = ring_buffer__new(ringbuf_fd, on_ring, e, NULL);
		if (!e->rb) {
			ret = -errno;
			pso_events_close(e);
			return ret;
		}
	}
	*out = e;
	return 0;
}

void pso_events_close(struct pso_events *e)
{
	if (!e)
		return;
	ring_buffer__free(e->rb);
	free(e->hist);
	free(e);
}

int pso_events_fd(const struct pso_events *e)
{
	return e->rb ? ring_buffer__epoll_fd(e->rb) : -1;
}

int pso_events_consume(struct pso_events *e)
{
	uint64_t before = e->seq;
	int ret;

	if (!e->rb)
		return 0;
	e->mono_ns = clock_ns(CLOCK_MONOTONIC);
	e->real_ns = clock_ns(CLOCK_REALTIME);
	ret = ring_buffer__consume(e->rb);
	return ret < 0 ? ret : (int)(e->seq - before);
}

uint64_t pso_events_total(const struct pso_events *e)
{
	return e->seq;
}

uint64_t pso_events_oldest(const struct pso_events *e)
{
	return e->n ? e->seq - e->n + 1 : 0;
}

void pso_events_foreach(const struct pso_events *e, uint64_t after,
			pso_events_follow_fn fn, void *ctx)
{
	size_t first = (e->head + e->cap - e->n) % e->cap;

	for (size_t i = 0; i < e->n; i++) {
		const struct pso_event_rec *rec = &e->hist[(first + i) % e->cap];

		if (rec->seq > after)
			fn(ctx, rec);
	}
}

int pso_events_follow(struct pso_events *e, pso_events_follow_fn fn, void *ctx)
{
	for (int i = 0; i < PSO_EVENTS_FOLLOWERS; i++) {
		if (!e->followers[i].fn) {
			e->followers[i] = (struct follower){ fn, ctx };
			return i + 1;
		}
	}
	return -ENOSPC;
}

void pso_events_unfollow(struct pso_events *e, int id)
{
	if (id >= 1 && id <= PSO_EVENTS_FOLLOWERS)
		e->followers[id - 1] = (struct follower){ 0 };
}

/* ---- the shared forms -------------------------------------------------- */

const char *pso_event_reason_name(unsigned int reason)
{
	return reason < PSO_CNT__MAX && reason_names[reason] ? reason_names[reason] : "?";
}

int pso_event_reason_parse(const char *name, unsigned int *reason)
{
	for (unsigned int i = 0; i < PSO_CNT__MAX; i++) {
		if (reason_names[i] && !strcmp(name, reason_names[i])) {
			*reason = i;
			return 0;
		}
	}
	return -EINVAL;
}

bool pso_event_matches(const struct pso_event_rec *rec, unsigned int reason)
{
	return rec->ev.reason == reason || rec->ev.cause == reason;
}

static void source_text(const struct pso_event *ev, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (!(ev->flags & PSO_EVENT_F_SOURCE)) {
		snprintf(buf, len, "-");
		return;
	}
	inet_ntop(ev->family == PSO_AF_INET6 ? AF_INET6 : AF_INET, ev->src_addr, a, sizeof(a));
	snprintf(buf, len, ev->family == PSO_AF_INET6 ? "[%s]:%u" : "%s:%u", a, ntohs(ev->src_port));
}

static void time_text(uint64_t ns, char *buf, size_t len)
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char base[32];

	gmtime_r(&s, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03uZ", base, (unsigned int)(ns / 1000000ull % 1000));
}

struct json_object *pso_event_to_json(const struct pso_event_rec *rec)
{
	const struct pso_event *ev = &rec->ev;
	struct json_object *o = json_object_new_object();
	char t[40], a[INET6_ADDRSTRLEN];

	time_text(rec->time_ns, t, sizeof(t));
	json_object_object_add(o, "seq", json_object_new_uint64(rec->seq));
	json_object_object_add(o, "time", json_object_new_string(t));
	json_object_object_add(o, "time_ns", json_object_new_uint64(rec->time_ns));
	json_object_object_add(o, "reason", json_object_new_string(pso_event_reason_name(ev->reason)));
	json_object_object_add(o, "cause", json_object_new_string(pso_event_reason_name(ev->cause)));
	if (ev->flags & PSO_EVENT_F_SOURCE) {
		inet_ntop(ev->family == PSO_AF_INET6 ? AF_INET6 : AF_INET, ev->src_addr, a, sizeof(a));
		json_object_object_add(o, "source", json_object_new_string(a));
		json_object_object_add(o, "source_port", json_object_new_int(ntohs(ev->src_port)));
	} else {
		json_object_object_add(o, "source", NULL);
		json_object_object_add(o, "source_port", NULL);
	}
	if (ev->flags & PSO_EVENT_F_TOPIC) {
		json_object_object_add(o, "topic_id", json_object_new_int(ev->topic_id));
		json_object_object_add(o, "topic", rec->topic[0] ? json_object_new_string(rec->topic) : NULL);
	} else {
		json_object_object_add(o, "topic_id", NULL);
		json_object_object_add(o, "topic", NULL);
	}
	json_object_object_add(o, "length", json_object_new_int(ev->len));
	json_object_object_add(o, "count", json_object_new_int(ev->count));
	json_object_object_add(o, "suppressed_before", json_object_new_uint64(ev->suppressed));
	return o;
}

static struct json_object *field(struct json_object *obj, const char *key, enum json_type type)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

int pso_event_from_json(struct json_object *obj, struct pso_event_rec *rec)
{
	struct json_object *seq = field(obj, "seq", json_type_int);
	struct json_object *t = field(obj, "time_ns", json_type_int);
	struct json_object *r = field(obj, "reason", json_type_string);
	struct json_object *c = field(obj, "cause", json_type_string);
	struct json_object *src = field(obj, "source", json_type_string);
	struct json_object *port = field(obj, "source_port", json_type_int);
	struct json_object *tid = field(obj, "topic_id", json_type_int);
	struct json_object *tname = field(obj, "topic", json_type_string);
	struct json_object *len = field(obj, "length", json_type_int);
	struct json_object *count = field(obj, "count", json_type_int);
	struct json_object *supp = field(obj, "suppressed_before", json_type_int);
	struct pso_event *ev = &rec->ev;
	unsigned int reason, cause;

	memset(rec, 0, sizeof(*rec));
	if (!seq || !t || !r || !c || !len || !count || !supp ||
	    pso_event_reason_parse(json_object_get_string(r), &reason) ||
	    pso_event_reason_parse(json_object_get_string(c), &cause))
		return -EINVAL;
	rec->seq = json_object_get_uint64(seq);
	rec->time_ns = json_object_get_uint64(t);
	ev->reason = (uint16_t)reason;
	ev->cause = (uint16_t)cause;
	ev->len = (uint16_t)json_object_get_int(len);
	ev->count = (uint16_t)json_object_get_int(count);
	ev->suppressed = (uint32_t)json_object_get_uint64(supp);
	if (src && port) {
		const char *a = json_object_get_string(src);

		if (inet_pton(AF_INET, a, ev->src_addr) == 1)
			ev->family = PSO_AF_INET;
		else if (inet_pton(AF_INET6, a, ev->src_addr) == 1)
			ev->family = PSO_AF_INET6;
		else
			return -EINVAL;
		ev->flags |= PSO_EVENT_F_SOURCE;
		ev->src_port = htons((uint16_t)json_object_get_int(port));
	}
	if (tid) {
		ev->flags |= PSO_EVENT_F_TOPIC;
		ev->topic_id = (uint16_t)json_object_get_int(tid);
		if (tname)
			snprintf(rec->topic, sizeof(rec->topic), "%s", json_object_get_string(tname));
	}
	return 0;
}

const char *pso_event_format_head(void)
{
	return "Time (UTC)                Reason                          Source                "
	       "  Topic                Length";
}

void pso_event_format(const struct pso_event_rec *rec, char *buf, size_t len)
{
	const struct pso_event *ev = &rec->ev;
	char t[40], src[INET6_ADDRSTRLEN + 10], reason[80], topic[PSO_EVENT_TOPIC_SHOWN + 16];
	char extra[64] = "";
	int n = 0;

	time_text(rec->time_ns, t, sizeof(t));
	source_text(ev, src, sizeof(src));
	if (ev->cause != ev->reason)
		snprintf(reason, sizeof(reason), "%s(%s)", pso_event_reason_name(ev->reason),
			 pso_event_reason_name(ev->cause));
	else
		snprintf(reason, sizeof(reason), "%s", pso_event_reason_name(ev->reason));
	if (!(ev->flags & PSO_EVENT_F_TOPIC))
		snprintf(topic, sizeof(topic), "-");
	else if (rec->topic[0])
		snprintf(topic, sizeof(topic), "%u %s", ev->topic_id, rec->topic);
	else
		snprintf(topic, sizeof(topic), "%u", ev->topic_id);
	if (ev->count > 1)
		n = snprintf(extra, sizeof(extra), "  %u copies", ev->count);
	if (ev->suppressed && n >= 0 && (size_t)n < sizeof(extra))
		snprintf(extra + n, sizeof(extra) - n, "  (%u suppressed before)", ev->suppressed);
	snprintf(buf, len, "%-25s %-31s %-23s %-20s %6u%s", t, reason, src, topic, ev->len, extra);
}
