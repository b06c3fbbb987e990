// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * nats.c - bench-nats: NATS 2.9 core pub/sub (no JetStream) through
 * libnats (the NATS C client).  The library does its own I/O in threads
 * (a reader and a flusher per connection); deliveries reach one global
 * delivery thread (natsOptions_UseGlobalMessageDelivery, rather than a
 * thread per subscription), with the client-side pending limits lifted so
 * the library never drops as a "slow consumer".  Everything else default.
 */
#include <stdlib.h>
#include <string.h>
#include <nats/nats.h>

#include "tcpbench.h"

struct sub_ctx {
	struct tb *t;
	int idx;
};

struct nt {
	natsConnection *pub, *subs[BL_MAX_SUBS];
	natsSubscription *s[BL_MAX_SUBS][TB_MAX_LEVELS];
	struct sub_ctx ctx[BL_MAX_SUBS];
	char topics[TB_MAX_LEVELS][32];
};

static struct nt NT;

static const char *nt_topic(struct tb *t, int level)
{
	snprintf(NT.topics[level], sizeof(NT.topics[level]), "bench.f%d", t->levels[level]);
	return NT.topics[level];
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
	struct sub_ctx *c = closure;

	tb_deliver(c->t, c->idx, natsMsg_GetData(msg), natsMsg_GetDataLength(msg));
	natsMsg_Destroy(msg);
}

static natsConnection *open_conn(struct tb *t, const char *name)
{
	natsOptions *opts = NULL;
	natsConnection *nc = NULL;
	char url[128];
	natsStatus s;

	snprintf(url, sizeof(url), "nats://%s:%d", t->host, t->port);
	s = natsOptions_Create(&opts);
	if (s == NATS_OK)
		s = natsOptions_SetURL(opts, url);
	if (s == NATS_OK)
		s = natsOptions_SetName(opts, name);
	if (s == NATS_OK)
		s = natsOptions_UseGlobalMessageDelivery(opts, true);
	if (s == NATS_OK)
		s = natsConnection_Connect(&nc, opts);
	natsOptions_Destroy(opts);
	if (s != NATS_OK) {
		fprintf(stderr, "bench-nats: connect to %s: %s\n", url, natsStatus_GetText(s));
		return NULL;
	}
	return nc;
}

static int nt_setup(struct tb *t)
{
	char name[32];

	NT.pub = open_conn(t, "bench-pub");
	if (!NT.pub)
		return -1;
	for (int l = 0; l < t->n_levels; l++)
		nt_topic(t, l);
	for (int i = 0; i < t->n_subs; i++) {
		snprintf(name, sizeof(name), "bench-sub-%d", i);
		NT.subs[i] = open_conn(t, name);
		if (!NT.subs[i])
			return -1;
		NT.ctx[i] = (struct sub_ctx){ t, i };
		for (int l = 0; l < t->n_levels; l++) {
			natsStatus s;

			if (i >= t->levels[l])
				continue;
			s = natsConnection_Subscribe(&NT.s[i][l], NT.subs[i], NT.topics[l], on_msg,
						     &NT.ctx[i]);
			if (s == NATS_OK)
				s = natsSubscription_SetPendingLimits(NT.s[i][l], -1, -1);
			if (s != NATS_OK) {
				fprintf(stderr, "bench-nats: subscribe %s: %s\n", NT.topics[l],
					natsStatus_GetText(s));
				return -1;
			}
		}
		/* The server has the subscriptions once it answered the PING. */
		if (natsConnection_FlushTimeout(NT.subs[i], 5000) != NATS_OK)
			return -1;
	}
	return 0;
}

static int nt_publish(struct tb *t, int level, const uint8_t *payload, int len)
{
	return natsConnection_Publish(NT.pub, NT.topics[level], payload, len) == NATS_OK ? 0 : -1;
}

/* The library's threads move the bytes; just give them the CPU. */
static void nt_pump(struct tb *t, int timeout_us)
{
	if (timeout_us > 0)
		bl_sleep(timeout_us * 1e-6);
}

static void nt_teardown(struct tb *t)
{
	for (int i = 0; i < t->n_subs; i++) {
		for (int l = 0; l < t->n_levels; l++)
			natsSubscription_Destroy(NT.s[i][l]);
		natsConnection_Destroy(NT.subs[i]);
	}
	natsConnection_Destroy(NT.pub);
	nats_Close();
}

static const struct tb_backend nats_backend = {
	.name = "nats",
	.default_port = 4222,
	.topic = nt_topic,
	.setup = nt_setup,
	.publish = nt_publish,
	.pump = nt_pump,
	.teardown = nt_teardown,
};

int main(int argc, char **argv)
{
	return tb_main(&nats_backend, argc, argv);
}
