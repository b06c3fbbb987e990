// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * evcatch.c - catching the data plane's events in tests (see evcatch.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "evcatch.h"

static int on_event(void *ctx, void *data, size_t len)
{
	struct evcatch *c = ctx;

	if (len < sizeof(struct pso_event))
		return 0;
	if (c->n < EVCATCH_MAX)
		memcpy(&c->ev[c->n++], data, sizeof(struct pso_event));
	else
		c->overflow++;
	return 0;
}

int evcatch_open(struct evcatch *c, int events_fd, int cfg_fd, int buckets_fd)
{
	memset(c, 0, sizeof(*c));
	c->cfg_fd = cfg_fd;
	c->buckets_fd = buckets_fd;
	c->ncpus = libbpf_num_possible_cpus();
	if (c->ncpus <= 0)
		return -EINVAL;
	c->rb = ring_buffer__new(events_fd, on_event, c, NULL);
	return c->rb ? 0 : -errno;
}

void evcatch_close(struct evcatch *c)
{
	ring_buffer__free(c->rb);
	c->rb = NULL;
}

static void buckets_write(struct evcatch *c, const struct pso_event_bucket *b)
{
	__u32 key = 0;

	bpf_map_update_elem(c->buckets_fd, &key, b, BPF_ANY);
}

void evcatch_set_rate(struct evcatch *c, uint32_t rate, uint32_t burst)
{
	struct pso_event_bucket *b = calloc(c->ncpus, sizeof(*b));
	struct pso_event_cfg cfg = { .rate = rate, .burst = burst };
	__u32 key = 0;

	if (!b)
		abort();
	buckets_write(c, b);
	free(b);
	bpf_map_update_elem(c->cfg_fd, &key, &cfg, BPF_ANY);
}

void evcatch_set_credit(struct evcatch *c, uint32_t events)
{
	struct pso_event_bucket *b = calloc(c->ncpus, sizeof(*b));
	struct timespec ts;
	__u32 key = 0;

	if (!b)
		abort();
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);	/* the bucket's clock */
	bpf_map_lookup_elem(c->buckets_fd, &key, b);
	for (int i = 0; i < c->ncpus; i++) {
		b[i].credit = (uint64_t)events * 1000000000ull;
		b[i].stamp_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
	buckets_write(c, b);
	free(b);
}

size_t evcatch_drain(struct evcatch *c)
{
	c->n = 0;
	c->overflow = 0;
	ring_buffer__consume(c->rb);
	return c->n;
}

static int __attribute__((format(printf, 3, 4)))
differs(char *why, size_t len, const char *fmt, ...)
{
	size_t used = strlen(why);
	va_list ap;

	va_start(ap, fmt);
	if (used < len)
		vsnprintf(why + used, len - used, fmt, ap);
	va_end(ap);
	return 1;
}

int evcatch_check(const struct pso_event *ev, const struct pkt_desc *d,
		  const struct pkt_info *info, uint32_t reason, uint32_t cause,
		  uint32_t count, int want_topic, char *why, size_t why_len)
{
	static const char *const names[] = PSO_COUNTER_NAMES;
	int family = d->l3 == PKT_L3_IP6 ? PSO_AF_INET6 : PSO_AF_INET;
	int udp_payload = (int)info->msg_len + d->udp_len_adjust;
	uint8_t addr[16] = { 0 };
	int bad = 0;

	memcpy(addr, d->ip_src, family == PSO_AF_INET6 ? 16 : 4);
	if (ev->reason != reason || ev->cause != cause)
		bad += differs(why, why_len, "  event reason %s cause %s, expected %s cause %s\n",
			       ev->reason < PSO_CNT__MAX ? names[ev->reason] : "?",
			       ev->cause < PSO_CNT__MAX ? names[ev->cause] : "?",
			       names[reason], names[cause]);
	if (!(ev->flags & PSO_EVENT_F_SOURCE) || ev->family != family ||
	    memcmp(ev->src_addr, addr, 16) || ev->src_port != htons(d->sport))
		bad += differs(why, why_len, "  event source wrong (flags %#x family %u port %u)\n",
			       ev->flags, ev->family, ntohs(ev->src_port));
	if (ev->len != (udp_payload > 0 ? udp_payload : 0))
		bad += differs(why, why_len, "  event length %u, expected %d\n", ev->len,
			       udp_payload);
	if (ev->count != count)
		bad += differs(why, why_len, "  event count %u, expected %u\n", ev->count, count);
	if (ev->flags & PSO_EVENT_F_TOPIC) {
		if (d->msg_type != MQTTSN_PUBLISH || ev->topic_id != d->topic_id)
			bad += differs(why, why_len, "  event topic %u, frame's %u\n", ev->topic_id,
				       d->topic_id);
	} else if (want_topic) {
		bad += differs(why, why_len, "  event has no topic id\n");
	}
	if (!ev->ts_ns)
		bad += differs(why, why_len, "  event has no time\n");
	return bad;
}
