// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pso_unsub.c - an MQTT-SN client that unsubscribes, for the end-to-end
 * tests (`psoffload sub` has no UNSUBSCRIBE).
 *
 *   pso_unsub -h HOST [-p PORT] -I ID -t TOPIC -c FENCE -n N [-W SECONDS]
 *
 * CONNECT; SUBSCRIBE TOPIC and FENCE (by name); receive N publishes on
 * TOPIC; UNSUBSCRIBE TOPIC and wait for UNSUBACK; then receive until one
 * publish arrives on FENCE; DISCONNECT.  stdout, one line per event:
 *
 *   subscribed TOPIC ID          (after each SUBACK)
 *   msg PAYLOAD                  (a publish on TOPIC, before or after UNSUBACK)
 *   unsubscribed TOPIC           (after UNSUBACK)
 *   fence PAYLOAD                (the publish on FENCE; the tool then ends)
 *
 * A publish on TOPIC after "unsubscribed" is printed like any other, so the
 * caller sees it.  The fence topic only marks the end of the wait: once its
 * publish arrives, everything sent before it has arrived too.
 * Exit: 0 done, 1 refused / timed out / disconnected, 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include "proto/mqttsn.h"

static int sock = -1;
static int64_t deadline_ms;
static uint16_t topic_id, fence_id;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_msg(const struct mqttsn_msg *m)
{
	uint8_t buf[1024];
	ssize_t n = mqttsn_encode(m, buf, sizeof(buf));

	if (n < 0 || send(sock, buf, n, 0) != n) {
		fprintf(stderr, "pso_unsub: cannot send %s: %s\n", mqttsn_type_name(m->type),
			strerror(n < 0 ? (int)-n : errno));
		return -1;
	}
	return 0;
}

static void print_publish(const struct mqttsn_msg *m)
{
	if (m->topic_id == fence_id && fence_id)
		printf("fence ");
	else if (m->topic_id == topic_id)
		printf("msg ");
	else
		printf("other(%u) ", m->topic_id);
	fwrite(m->data, 1, m->data_len, stdout);
	putchar('\n');
	fflush(stdout);
}

/* Answer what a client must answer while waiting for something else;
 * a publish arriving then is printed all the same. */
static void handle_other(const struct mqttsn_msg *m)
{
	struct mqttsn_msg a = { .msg_id = m->msg_id, .topic_id = m->topic_id };

	switch (m->type) {
	case MQTTSN_PUBLISH:
		print_publish(m);
		break;
	case MQTTSN_REGISTER:
		a.type = MQTTSN_REGACK;
		send_msg(&a);
		break;
	case MQTTSN_PINGREQ:
		a.type = MQTTSN_PINGRESP;
		send_msg(&a);
		break;
	}
}

/* Next message of type `want` (any type if 0), handling the rest.  1: got
 * it; 0: timed out; -1: broker said DISCONNECT or error. */
static int wait_for(uint8_t want, struct mqttsn_msg *m, uint8_t *buf, size_t cap)
{
	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		int64_t left = deadline_ms - now_ms();
		ssize_t n;

		if (left <= 0)
			return 0;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		n = recv(sock, buf, cap, 0);
		if (n < 0 || mqttsn_decode(buf, n, m))
			continue;
		if (m->type == want)
			return 1;
		if (m->type == MQTTSN_DISCONNECT) {
			fprintf(stderr, "pso_unsub: disconnected by the broker\n");
			return -1;
		}
		handle_other(m);
	}
}

static int request(struct mqttsn_msg *req, uint8_t want, struct mqttsn_msg *resp,
		   uint8_t *buf, size_t cap)
{
	int r;

	if (send_msg(req))
		return -1;
	r = wait_for(want, resp, buf, cap);
	if (r == 0)
		fprintf(stderr, "pso_unsub: timeout waiting for %s\n", mqttsn_type_name(want));
	return r == 1 ? 0 : -1;
}

static int subscribe(const char *name, uint16_t msg_id, uint16_t *id, uint8_t *buf, size_t cap)
{
	struct mqttsn_msg req = {
		.type = MQTTSN_SUBSCRIBE, .msg_id = msg_id,
		.data = (const uint8_t *)name, .data_len = strlen(name),
	}, resp;

	if (request(&req, MQTTSN_SUBACK, &resp, buf, cap))
		return -1;
	if (resp.return_code != MQTTSN_RC_ACCEPTED) {
		fprintf(stderr, "pso_unsub: subscribe %s refused: %s\n", name,
			mqttsn_rc_name(resp.return_code));
		return -1;
	}
	*id = resp.topic_id;
	printf("subscribed %s %u\n", name, resp.topic_id);
	fflush(stdout);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: pso_unsub -h HOST [-p PORT] -I ID -t TOPIC -c FENCE -n N "
		"[-W SECONDS]\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *host = NULL, *port = "1883", *id = "pso-unsub", *topic = NULL, *fence = NULL;
	static uint8_t buf[MQTTSN_MAX_MSG];
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *ai;
	struct mqttsn_msg req, resp;
	long n = -1, timeout_s = 20, got = 0;
	int opt, r;

	while ((opt = getopt(argc, argv, "h:p:I:t:c:n:W:")) != -1) {
		switch (opt) {
		case 'h': host = optarg; break;
		case 'p': port = optarg; break;
		case 'I': id = optarg; break;
		case 't': topic = optarg; break;
		case 'c': fence = optarg; break;
		case 'n': n = atol(optarg); break;
		case 'W': timeout_s = atol(optarg); break;
		default: return usage();
		}
	}
	if (!host || !topic || !fence || n < 0 || timeout_s <= 0 || strlen(id) > MQTTSN_CLIENT_ID_MAX)
		return usage();
	r = getaddrinfo(host, port, &hints, &ai);
	if (r) {
		fprintf(stderr, "pso_unsub: %s: %s\n", host, gai_strerror(r));
		return 1;
	}
	sock = socket(ai->ai_family, SOCK_DGRAM, 0);
	if (sock < 0 || connect(sock, ai->ai_addr, ai->ai_addrlen)) {
		fprintf(stderr, "pso_unsub: cannot reach %s: %s\n", host, strerror(errno));
		return 1;
	}
	freeaddrinfo(ai);
	deadline_ms = now_ms() + timeout_s * 1000;

	req = (struct mqttsn_msg){
		.type = MQTTSN_CONNECT, .flags = MQTTSN_FLAG_CLEAN_SESSION,
		.protocol_id = MQTTSN_PROTOCOL_ID, .duration = 60,
		.data = (const uint8_t *)id, .data_len = strlen(id),
	};
	if (request(&req, MQTTSN_CONNACK, &resp, buf, sizeof(buf)))
		return 1;
	if (resp.return_code != MQTTSN_RC_ACCEPTED) {
		fprintf(stderr, "pso_unsub: connect refused: %s\n", mqttsn_rc_name(resp.return_code));
		return 1;
	}
	if (subscribe(topic, 1, &topic_id, buf, sizeof(buf)) ||
	    subscribe(fence, 2, &fence_id, buf, sizeof(buf)))
		return 1;

	while (got < n) {
		r = wait_for(MQTTSN_PUBLISH, &resp, buf, sizeof(buf));
		if (r <= 0) {
			if (!r)
				fprintf(stderr, "pso_unsub: timeout: %ld of %ld messages\n", got, n);
			return 1;
		}
		print_publish(&resp);
		if (resp.topic_id == topic_id)
			got++;
	}

	req = (struct mqttsn_msg){
		.type = MQTTSN_UNSUBSCRIBE, .msg_id = 3,
		.data = (const uint8_t *)topic, .data_len = strlen(topic),
	};
	if (request(&req, MQTTSN_UNSUBACK, &resp, buf, sizeof(buf)))
		return 1;
	if (resp.msg_id != 3) {
		fprintf(stderr, "pso_unsub: UNSUBACK for msg id %u, not 3\n", resp.msg_id);
		return 1;
	}
	printf("unsubscribed %s\n", topic);
	fflush(stdout);

	do {
		r = wait_for(MQTTSN_PUBLISH, &resp, buf, sizeof(buf));
		if (r <= 0) {
			if (!r)
				fprintf(stderr, "pso_unsub: timeout waiting for the fence publish\n");
			return 1;
		}
		print_publish(&resp);
	} while (resp.topic_id != fence_id);
	req = (struct mqttsn_msg){ .type = MQTTSN_DISCONNECT };
	send_msg(&req);
	return 0;
}
