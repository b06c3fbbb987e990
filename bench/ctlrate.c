// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ctlrate.c - control-plane rate of an MQTT-SN broker: CONNECT+SUBSCRIBE
 * per second.
 *
 *   ctlrate -h ADDR [-p PORT] [-w WINDOW] [-d SECONDS] [-W WARMUP] [-t TOPICS] [-P PID]
 *
 * WINDOW clients, each with a UDP socket of its own, run one cycle after
 * another: CONNECT (a new client id each time, CleanSession 1), wait for
 * CONNACK, SUBSCRIBE to one of TOPICS names at QoS 1, wait for SUBACK,
 * DISCONNECT, wait for its answer.  A cycle is a new session that
 * subscribes and ends: the broker creates, changes and deletes it, which
 * is what a store must write.  What is counted: cycles completed in the
 * measured window after the warm-up, and the time from CONNECT to SUBACK
 * of each (p50, p99).  A step unanswered for 1 s is sent again (counted).
 * -P PID: the broker's process; its CPU time (user + system, which holds
 * the sends and the receives it does in its own context) over the
 * measured window is divided by the cycles, a figure that other work on
 * a shared machine disturbs far less than the rate.
 *
 * Prints one line: "ops_per_s=N connect_subscribe_p50_us=N p99_us=N
 * cycles=N resent=N", and " broker_cpu_us_per_op=X" with -P.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include "proto/mqttsn.h"

#define MAX_WINDOW 512
#define MAX_SAMPLES (1 << 20)
#define RESEND_US 1000000

enum step { S_CONNECT, S_SUBSCRIBE, S_DISCONNECT };

struct client {
	int fd;
	enum step step;
	uint64_t sent_us, started_us;
	uint32_t seq;
	uint16_t msg_id;
	char id[MQTTSN_CLIENT_ID_MAX + 1];
};

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int ntopics = 16;

/* utime + stime of pid in microseconds, 0 when it cannot be read. */
static uint64_t cpu_us(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* fields 14 and 15, counted after the ")" that ends the name */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
			 &st) != 2)
		return 0;
	return (ut + st) * 1000000ull / (unsigned long long)sysconf(_SC_CLK_TCK);
}
static uint64_t resent;

static void send_step(struct client *c, int slot)
{
	uint8_t buf[256];
	char topic[32];
	struct mqttsn_msg m = { 0 };
	ssize_t n;

	switch (c->step) {
	case S_CONNECT:
		m.type = MQTTSN_CONNECT;
		m.protocol_id = 1;
		m.flags = MQTTSN_FLAG_CLEAN_SESSION;
		m.duration = 60;
		m.data = (const uint8_t *)c->id;
		m.data_len = strlen(c->id);
		break;
	case S_SUBSCRIBE:
		snprintf(topic, sizeof(topic), "bench/ctl/%d", slot % ntopics);
		m.type = MQTTSN_SUBSCRIBE;
		m.flags = mqttsn_qos_flags(1) | MQTTSN_TOPIC_NORMAL;
		m.msg_id = c->msg_id;
		m.data = (const uint8_t *)topic;
		m.data_len = strlen(topic);
		break;
	case S_DISCONNECT:
		m.type = MQTTSN_DISCONNECT;
		break;
	}
	n = mqttsn_encode(&m, buf, sizeof(buf));
	if (n > 0 && send(c->fd, buf, (size_t)n, 0) < 0 && errno != ECONNREFUSED)
		perror("ctlrate: send");
	c->sent_us = now_us();
}

static void start_cycle(struct client *c, int slot)
{
	c->seq++;
	c->msg_id++;
	if (!c->msg_id)
		c->msg_id = 1;
	snprintf(c->id, sizeof(c->id), "ctl%d-%u", slot, c->seq);
	c->step = S_CONNECT;
	c->started_us = now_us();
	send_step(c, slot);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const char *host = NULL;
	int port = 1883, window = 64, pid = 0, opt;
	double duration = 3.0, warmup = 0.5;
	static struct client clients[MAX_WINDOW];
	static struct pollfd pfd[MAX_WINDOW];
	uint32_t *samples = calloc(MAX_SAMPLES, sizeof(*samples));
	uint64_t t0, measure_from, measure_to, cycles = 0, cpu_from = 0, cpu_to = 0;
	bool measuring = false;
	size_t nsamples = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET };

	while ((opt = getopt(argc, argv, "h:p:w:d:W:t:P:")) != -1) {
		switch (opt) {
		case 'h': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'w': window = atoi(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'W': warmup = atof(optarg); break;
		case 't': ntopics = atoi(optarg); break;
		case 'P': pid = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: ctlrate -h ADDR [-p PORT] [-w WINDOW] [-d S] [-W S] [-t N] "
				"[-P PID]\n");
			return 2;
		}
	}
	if (!host || inet_pton(AF_INET, host, &sa.sin_addr) != 1 || window < 1 ||
	    window > MAX_WINDOW || ntopics < 1 || !samples) {
		fprintf(stderr, "ctlrate: -h IPV4 needed; -w 1..%d, -t >= 1\n", MAX_WINDOW);
		return 2;
	}
	sa.sin_port = htons((uint16_t)port);
	for (int i = 0; i < window; i++) {
		clients[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (clients[i].fd < 0 ||
		    connect(clients[i].fd, (struct sockaddr *)&sa, sizeof(sa))) {
			perror("ctlrate: socket");
			return 1;
		}
		pfd[i] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
	}
	t0 = now_us();
	measure_from = t0 + (uint64_t)(warmup * 1e6);
	measure_to = measure_from + (uint64_t)(duration * 1e6);
	for (int i = 0; i < window; i++)
		start_cycle(&clients[i], i);

	while (now_us() < measure_to) {
		int n = poll(pfd, (nfds_t)window, 100);
		uint64_t now = now_us();

		if (n < 0 && errno != EINTR) {
			perror("ctlrate: poll");
			return 1;
		}
		if (!measuring && now >= measure_from) {
			measuring = true;
			cpu_from = pid ? cpu_us(pid) : 0;
		}
		for (int i = 0; i < window; i++) {
			struct client *c = &clients[i];
			uint8_t buf[512];
			struct mqttsn_msg m;
			ssize_t len;

			while ((len = recv(c->fd, buf, sizeof(buf), 0)) > 0) {
				if (mqttsn_decode(buf, (size_t)len, &m))
					continue;
				if (c->step == S_CONNECT && m.type == MQTTSN_CONNACK) {
					c->step = S_SUBSCRIBE;
					send_step(c, i);
				} else if (c->step == S_SUBSCRIBE && m.type == MQTTSN_SUBACK &&
					   m.msg_id == c->msg_id) {
					uint64_t done = now_us();

					if (done >= measure_from && nsamples < MAX_SAMPLES)
						samples[nsamples++] = (uint32_t)(done - c->started_us);
					c->step = S_DISCONNECT;
					send_step(c, i);
				} else if (c->step == S_DISCONNECT && m.type == MQTTSN_DISCONNECT) {
					if (now_us() >= measure_from)
						cycles++;
					start_cycle(c, i);
				}
			}
			if (now > c->sent_us && now - c->sent_us > RESEND_US) {
				resent++;
				send_step(c, i);
			}
		}
	}
	cpu_to = pid ? cpu_us(pid) : 0;
	qsort(samples, nsamples, sizeof(*samples), cmp_u32);
	printf("ops_per_s=%.0f connect_subscribe_p50_us=%u p99_us=%u cycles=%llu resent=%llu",
	       cycles / duration, nsamples ? samples[nsamples / 2] : 0,
	       nsamples ? samples[(size_t)(nsamples * 0.99)] : 0, (unsigned long long)cycles,
	       (unsigned long long)resent);
	if (pid && cpu_from && cpu_to >= cpu_from && cycles)
		printf(" broker_cpu_us_per_op=%.2f", (double)(cpu_to - cpu_from) / (double)cycles);
	else if (pid)
		printf(" broker_cpu_us_per_op=nan");
	printf("\n");
	for (int i = 0; i < window; i++) {
		/* end what is open, so the broker is left empty */
		clients[i].step = S_DISCONNECT;
		send_step(&clients[i], i);
		close(clients[i].fd);
	}
	free(samples);
	return cycles ? 0 : 1;
}
