// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * redis.c - bench-redis: Redis 7 pub/sub (PUBLISH / SUBSCRIBE over TCP,
 * RESP2) through hiredis.  Connections are set up with hiredis' blocking
 * calls, then turned non-blocking and driven from one ppoll: the publisher
 * pipelines PUBLISH commands (redisAppendCommand, redisBufferWrite) and
 * reads their integer replies; each subscriber reads its pushed
 * ["message", channel, payload] replies with redisBufferRead and
 * redisGetReplyFromReader, as hiredis' own event-loop adapters do.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "tcpbench.h"

/* Pipelined bytes the publisher may have unwritten before it waits. */
#define OBUF_MAX (1 << 20)

struct rd {
	redisContext *pub, *subs[BL_MAX_SUBS];
	char topics[TB_MAX_LEVELS][32];
	struct pollfd pfd[BL_MAX_SUBS + 1];
	uint64_t acked;
};

static struct rd RD;

static const char *rd_topic(struct tb *t, int level)
{
	snprintf(RD.topics[level], sizeof(RD.topics[level]), "bench/f%d", t->levels[level]);
	return RD.topics[level];
}

static redisContext *open_ctx(struct tb *t)
{
	redisContext *c = redisConnect(t->host, t->port);

	if (!c || c->err) {
		fprintf(stderr, "bench-redis: connect to %s:%d: %s\n", t->host, t->port,
			c ? c->errstr : "out of memory");
		return NULL;
	}
	return c;
}

/* From here on hiredis reads and writes without blocking. */
static void nonblocking(redisContext *c)
{
	fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
	c->flags &= ~REDIS_BLOCK;
}

static int rd_setup(struct tb *t)
{
	RD.pub = open_ctx(t);
	if (!RD.pub)
		return -1;
	for (int i = 0; i < t->n_subs; i++) {
		redisContext *c = open_ctx(t);
		int want = 0;

		if (!c)
			return -1;
		for (int l = 0; l < t->n_levels; l++) {
			if (i < t->levels[l]) {
				redisAppendCommand(c, "SUBSCRIBE %s", rd_topic(t, l));
				want++;
			}
		}
		for (int k = 0; k < want; k++) {
			redisReply *r = NULL;

			if (redisGetReply(c, (void **)&r) != REDIS_OK || !r ||
			    r->type != REDIS_REPLY_ARRAY) {
				fprintf(stderr, "bench-redis: SUBSCRIBE failed for subscriber %d\n", i);
				return -1;
			}
			freeReplyObject(r);
		}
		nonblocking(c);
		RD.subs[i] = c;
	}
	nonblocking(RD.pub);
	for (int l = 0; l < t->n_levels; l++)
		rd_topic(t, l);
	return 0;
}

static int rd_publish(struct tb *t, int level, const uint8_t *payload, int len)
{
	if (sdslen(RD.pub->obuf) > OBUF_MAX)
		return -1;
	return redisAppendCommand(RD.pub, "PUBLISH %s %b", RD.topics[level], payload,
				  (size_t)len) == REDIS_OK ? 0 : -1;
}

static void read_sub(struct tb *t, int i)
{
	redisContext *c = RD.subs[i];
	void *reply;

	if (redisBufferRead(c) != REDIS_OK)
		return;
	while (redisGetReplyFromReader(c, &reply) == REDIS_OK && reply) {
		redisReply *r = reply;

		if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
		    r->element[2]->type == REDIS_REPLY_STRING)
			tb_deliver(t, i, r->element[2]->str, r->element[2]->len);
		freeReplyObject(r);
	}
}

static void read_pub(void)
{
	void *reply;

	if (redisBufferRead(RD.pub) != REDIS_OK)
		return;
	while (redisGetReplyFromReader(RD.pub, &reply) == REDIS_OK && reply) {
		RD.acked++;
		freeReplyObject(reply);
	}
}

static void rd_pump(struct tb *t, int timeout_us)
{
	struct timespec ts = { 0, timeout_us * 1000L };
	int n = 0, done;

	/* Write what is pipelined before waiting: the usual case needs no poll. */
	if (sdslen(RD.pub->obuf))
		redisBufferWrite(RD.pub, &done);
	RD.pfd[n++] = (struct pollfd){ .fd = RD.pub->fd,
				       .events = POLLIN | (sdslen(RD.pub->obuf) ? POLLOUT : 0) };
	for (int i = 0; i < t->n_subs; i++)
		RD.pfd[n++] = (struct pollfd){ .fd = RD.subs[i]->fd, .events = POLLIN };
	if (ppoll(RD.pfd, n, &ts, NULL) <= 0)
		return;
	if (RD.pfd[0].revents & POLLIN)
		read_pub();
	if (RD.pfd[0].revents & POLLOUT)
		redisBufferWrite(RD.pub, &done);
	for (int i = 0; i < t->n_subs; i++)
		if (RD.pfd[i + 1].revents & (POLLIN | POLLERR | POLLHUP))
			read_sub(t, i);
}

static void rd_teardown(struct tb *t)
{
	redisFree(RD.pub);
	for (int i = 0; i < t->n_subs; i++)
		redisFree(RD.subs[i]);
}

static const struct tb_backend redis_backend = {
	.name = "redis",
	.default_port = 6379,
	.topic = rd_topic,
	.setup = rd_setup,
	.publish = rd_publish,
	.pump = rd_pump,
	.teardown = rd_teardown,
};

int main(int argc, char **argv)
{
	return tb_main(&redis_backend, argc, argv);
}
