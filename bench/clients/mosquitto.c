// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * mosquitto.c - bench-mosquitto: Mosquitto 2 (MQTT 3.1.1 over TCP) through
 * libmosquitto.  Publisher and subscribers are libmosquitto clients in one
 * thread, without the library's own threads (mosquitto_loop_start): one
 * ppoll over every client socket, then the library's loop_read/loop_write,
 * which is what mosquitto_loop() does per client, minus a syscall per
 * client per round.  QoS 0 everywhere, clean sessions, library defaults
 * otherwise (Nagle on, as mosquitto_pub/sub have it).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <mosquitto.h>

#include "tcpbench.h"

struct client {
	struct tb *t;
	struct mosquitto *m;
	int idx;		/* subscriber index, -1 for the publisher */
	bool connected;
	int subacks;
};

struct mq {
	struct client pub, subs[BL_MAX_SUBS];
	char topics[TB_MAX_LEVELS][32];
	struct pollfd pfd[BL_MAX_SUBS + 1];
	struct client *pclient[BL_MAX_SUBS + 1];
	double last_misc;
};

static struct mq MQ;

static const char *mq_topic(struct tb *t, int level)
{
	snprintf(MQ.topics[level], sizeof(MQ.topics[level]), "bench/f%d", t->levels[level]);
	return MQ.topics[level];
}

static void on_connect(struct mosquitto *m, void *obj, int rc)
{
	struct client *c = obj;

	c->connected = rc == 0;
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
	((struct client *)obj)->subacks++;
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	struct client *c = obj;

	if (c->idx >= 0)
		tb_deliver(c->t, c->idx, msg->payload, msg->payloadlen);
}

/* Read everything the socket has: loop_read handles one packet per call
 * for QoS 0 and leaves errno at EAGAIN once the socket is dry. */
static void read_all(struct client *c)
{
	for (int k = 0; k < 4096; k++) {
		int rc;

		errno = 0;
		rc = mosquitto_loop_read(c->m, 1);
		if (rc != MOSQ_ERR_SUCCESS || errno == EAGAIN || errno == EWOULDBLOCK)
			break;
	}
}

static void mq_pump(struct tb *t, int timeout_us)
{
	int n = 0;
	struct timespec ts = { 0, timeout_us * 1000L };

	MQ.pclient[n] = &MQ.pub;
	MQ.pfd[n++] = (struct pollfd){ .fd = mosquitto_socket(MQ.pub.m),
				       .events = POLLIN | (mosquitto_want_write(MQ.pub.m) ? POLLOUT : 0) };
	for (int i = 0; i < t->n_subs; i++) {
		MQ.pclient[n] = &MQ.subs[i];
		MQ.pfd[n++] = (struct pollfd){ .fd = mosquitto_socket(MQ.subs[i].m),
					       .events = POLLIN | (mosquitto_want_write(MQ.subs[i].m) ? POLLOUT : 0) };
	}
	if (ppoll(MQ.pfd, n, &ts, NULL) > 0) {
		for (int i = 0; i < n; i++) {
			if (MQ.pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
				read_all(MQ.pclient[i]);
			if (MQ.pfd[i].revents & POLLOUT)
				mosquitto_loop_write(MQ.pclient[i]->m, 1);
		}
	}
	if (bl_now() - MQ.last_misc > 1) {	/* keep-alive pings */
		MQ.last_misc = bl_now();
		mosquitto_loop_misc(MQ.pub.m);
		for (int i = 0; i < t->n_subs; i++)
			mosquitto_loop_misc(MQ.subs[i].m);
	}
}

static int client_open(struct tb *t, struct client *c, int idx)
{
	char id[32];
	double end;
	int rc;

	c->t = t;
	c->idx = idx;
	snprintf(id, sizeof(id), idx < 0 ? "bench-pub" : "bench-sub-%d", idx);
	c->m = mosquitto_new(id, true, c);
	if (!c->m)
		return -1;
	mosquitto_connect_callback_set(c->m, on_connect);
	mosquitto_subscribe_callback_set(c->m, on_subscribe);
	mosquitto_message_callback_set(c->m, on_message);
	rc = mosquitto_connect(c->m, t->host, t->port, 60);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "bench-mosquitto: connect to %s:%d: %s\n", t->host, t->port,
			mosquitto_strerror(rc));
		return -1;
	}
	end = bl_now() + 5;
	while (!c->connected && bl_now() < end) {
		mosquitto_loop_write(c->m, 1);
		mosquitto_loop_read(c->m, 1);
	}
	if (!c->connected) {
		fprintf(stderr, "bench-mosquitto: no CONNACK for %s\n", id);
		return -1;
	}
	return 0;
}

static int mq_setup(struct tb *t)
{
	mosquitto_lib_init();
	if (client_open(t, &MQ.pub, -1))
		return -1;
	for (int i = 0; i < t->n_subs; i++) {
		struct client *c = &MQ.subs[i];
		int want = 0;
		double end;

		if (client_open(t, c, i))
			return -1;
		for (int l = 0; l < t->n_levels; l++) {
			if (i >= t->levels[l])
				continue;
			if (mosquitto_subscribe(c->m, NULL, mq_topic(t, l), 0) != MOSQ_ERR_SUCCESS)
				return -1;
			want++;
		}
		end = bl_now() + 5;
		while (c->subacks < want && bl_now() < end) {
			mosquitto_loop_write(c->m, 1);
			mosquitto_loop_read(c->m, 1);
		}
		if (c->subacks < want) {
			fprintf(stderr, "bench-mosquitto: SUBACK missing for subscriber %d\n", i);
			return -1;
		}
	}
	for (int l = 0; l < t->n_levels; l++)
		mq_topic(t, l);
	return 0;
}

static int mq_publish(struct tb *t, int level, const uint8_t *payload, int len)
{
	return mosquitto_publish(MQ.pub.m, NULL, MQ.topics[level], len, payload, 0, false) ==
	       MOSQ_ERR_SUCCESS ? 0 : -1;
}

static void mq_teardown(struct tb *t)
{
	mosquitto_disconnect(MQ.pub.m);
	mosquitto_destroy(MQ.pub.m);
	for (int i = 0; i < t->n_subs; i++) {
		mosquitto_disconnect(MQ.subs[i].m);
		mosquitto_destroy(MQ.subs[i].m);
	}
	mosquitto_lib_cleanup();
}

static const struct tb_backend mosquitto_backend = {
	.name = "mosquitto",
	.default_port = 1883,
	.topic = mq_topic,
	.setup = mq_setup,
	.publish = mq_publish,
	.pump = mq_pump,
	.teardown = mq_teardown,
};

int main(int argc, char **argv)
{
	return tb_main(&mosquitto_backend, argc, argv);
}
