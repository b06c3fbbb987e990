// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * baseline.c - pso-baseline: the user-space MQTT-SN broker psoffload is
 * measured against.  Same protocol subset as psoffload's fast path and the
 * control messages it needs (CONNECT, REGISTER, SUBSCRIBE/UNSUBSCRIBE,
 * PINGREQ, DISCONNECT; PUBLISH QoS 0 and -1 fanned out), same tables
 * (global topic ids indexing an array directly, BASELINE_MAX_SUBS slots
 * per topic - psoffload's fixed rows before its subscriber pool -, a hash of connected clients for admission), same codec
 * (host/mqttsn.c), and as fast as plain user space gets on Linux:
 *
 *   - one thread per CPU given, pinned, each with its own UDP socket bound
 *     with SO_REUSEPORT to the broker port (the kernel spreads senders over
 *     the sockets), large socket buffers;
 *   - epoll on that socket, then recvmmsg() batches until it runs dry;
 *   - a publish is sent on unchanged (topic ids are global, so the bytes
 *     are the same for every subscriber) with sendmmsg(), the copies of a
 *     whole receive batch in as few calls as possible, every iovec pointing
 *     into the receive buffer: no copy, no allocation on the forwarding path;
 *   - the tables are read under a read lock taken once per batch; control
 *     messages (rare) take the write lock after the batch's publishes.
 *
 * Usage: pso-baseline [-p PORT] [-b ADDR] [-c CPULIST] [-B BATCH] [-r BYTES] [-v]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/mqttsn.h"

/* Subscribers per topic: fixed rows, as psoffload had before its pool. */
#define BASELINE_MAX_SUBS 64

#define MAX_THREADS 64
#define MAX_BATCH 256
#define MAX_OUT 1024		/* sendmmsg's limit (UIO_MAXIOV) */
#define BUF_SIZE 2048		/* a datagram up to the veth/Ethernet MTU */
/* The tables keep the sizes psoffload's maps are built with (PSO_MAP_*),
 * not its run-time maxima: the baseline's figures stay comparable run to
 * run. */
#define BASE_TOPICS PSO_MAP_TOPICS
#define BASE_CLIENTS PSO_MAP_CLIENTS
#define CLIENT_BUCKETS (2 * BASE_CLIENTS)
#define TOPIC_NAME_MAX 128
#define SOCK_BUF (8 << 20)

/* ---- tables ------------------------------------------------------------- */

/* A client or subscriber address: the socket address itself, so sending
 * needs no conversion.  Compared as bytes (the padding is zeroed). */
struct endpoint {
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	};
	socklen_t len;
};

struct client {
	bool used;
	struct endpoint ep;
	char id[MQTTSN_CLIENT_ID_MAX + 1];
};

struct topic {
	char name[TOPIC_NAME_MAX];	/* "" = free id */
	uint16_t sub_count;
	struct endpoint subs[BASELINE_MAX_SUBS];
};

static struct {
	pthread_rwlock_t lock;
	struct client clients[CLIENT_BUCKETS];	/* open addressing */
	int n_clients;
	struct topic topics[BASE_TOPICS];	/* index = topic id; id 0 unused */
} T = { .lock = PTHREAD_RWLOCK_INITIALIZER };

static struct endpoint ep_of(const struct sockaddr_storage *ss, socklen_t len)
{
	struct endpoint e;

	memset(&e, 0, sizeof(e));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;

		e.in.sin_family = AF_INET;
		e.in.sin_port = a->sin_port;
		e.in.sin_addr = a->sin_addr;
		e.len = sizeof(e.in);
	} else {
		const struct sockaddr_in6 *a = (const void *)ss;

		e.in6.sin6_family = AF_INET6;
		e.in6.sin6_port = a->sin6_port;
		e.in6.sin6_addr = a->sin6_addr;
		e.in6.sin6_scope_id = a->sin6_scope_id;
		e.len = sizeof(e.in6);
	}
	return e;
}

static bool ep_eq(const struct endpoint *a, const struct endpoint *b)
{
	return a->len == b->len && !memcmp(&a->in6, &b->in6, a->len);
}

static uint32_t ep_hash(const struct endpoint *e)
{
	const uint8_t *p = (const uint8_t *)&e->in6;
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (socklen_t i = 0; i < e->len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* The client's bucket, or the free bucket where it would go (NULL: full). */
static struct client *client_slot(const struct endpoint *e)
{
	uint32_t h = ep_hash(e);

	for (uint32_t i = 0; i < CLIENT_BUCKETS; i++) {
		struct client *c = &T.clients[(h + i) % CLIENT_BUCKETS];

		if (!c->used || ep_eq(&c->ep, e))
			return c;
	}
	return NULL;
}

static bool client_connected(const struct endpoint *e)
{
	struct client *c = client_slot(e);

	return c && c->used;
}

/* Remove, keeping the linear-probing chains intact (backward shift). */
static void client_remove(struct client *c)
{
	uint32_t i = c - T.clients, j = i;

	c->used = false;
	T.n_clients--;
	for (;;) {
		uint32_t k;

		j = (j + 1) % CLIENT_BUCKETS;
		if (!T.clients[j].used)
			return;
		k = ep_hash(&T.clients[j].ep) % CLIENT_BUCKETS;
		/* Move j back to i unless its home k lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		T.clients[i] = T.clients[j];
		T.clients[j].used = false;
		i = j;
	}
}

static void unsubscribe_all(const struct endpoint *e)
{
	for (int t = 1; t < BASE_TOPICS; t++) {
		struct topic *tp = &T.topics[t];

		for (int s = 0; s < tp->sub_count; s++) {
			if (ep_eq(&tp->subs[s], e)) {
				tp->subs[s] = tp->subs[--tp->sub_count];
				break;
			}
		}
	}
}

/* Topic id of name, made if new; 0 when the table is full. */
static uint16_t topic_id(const uint8_t *name, size_t len)
{
	int free_id = 0;

	if (len == 0 || len >= TOPIC_NAME_MAX)
		return 0;
	for (int t = 1; t < BASE_TOPICS; t++) {
		if (!T.topics[t].name[0]) {
			if (!free_id)
				free_id = t;
		} else if (strlen(T.topics[t].name) == len && !memcmp(T.topics[t].name, name, len)) {
			return t;
		}
	}
	if (free_id)
		memcpy(T.topics[free_id].name, name, len);
	return free_id;
}

/* ---- one thread --------------------------------------------------------- */

struct worker {
	int cpu, fd, ep, stop_fd;
	pthread_t thread;
	/* receive batch */
	struct mmsghdr rx[MAX_BATCH];
	struct iovec rx_iov[MAX_BATCH];
	struct sockaddr_storage rx_addr[MAX_BATCH];
	uint8_t rx_buf[MAX_BATCH][BUF_SIZE];
	/* copies to send */
	struct mmsghdr out[MAX_OUT];
	struct iovec out_iov[MAX_OUT];
	int n_out;
	/* control messages of the batch, for after the publishes */
	int ctl[MAX_BATCH], n_ctl;
	/* counters */
	uint64_t received, published, delivered, send_failed, dropped, control;
};

static struct worker *workers[MAX_THREADS];
static int n_workers, batch = 64, verbose, sock_buf = SOCK_BUF;
static volatile sig_atomic_t stopping;

static void flush_out(struct worker *w)
{
	int done = 0;

	while (done < w->n_out) {
		int n = sendmmsg(w->fd, w->out + done, w->n_out - done, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* This copy cannot go (e.g. no route): skip it. */
			w->send_failed++;
			done++;
			continue;
		}
		w->delivered += n;
		done += n;
	}
	w->n_out = 0;
}

static void queue_copy(struct worker *w, const struct endpoint *to, void *buf, size_t len)
{
	struct mmsghdr *m;

	if (w->n_out == MAX_OUT)
		flush_out(w);
	m = &w->out[w->n_out];
	w->out_iov[w->n_out] = (struct iovec){ buf, len };
	m->msg_hdr = (struct msghdr){ .msg_name = (void *)&to->sa, .msg_namelen = to->len,
				      .msg_iov = &w->out_iov[w->n_out], .msg_iovlen = 1 };
	w->n_out++;
}

static void reply(struct worker *w, const struct endpoint *to, const struct mqttsn_msg *m)
{
	uint8_t buf[64];
	ssize_t n = mqttsn_encode(m, buf, sizeof(buf));

	if (n > 0)
		sendto(w->fd, buf, n, 0, &to->sa, to->len);
}

/* The fast path: the message's bytes to every subscriber of its topic. */
static void publish(struct worker *w, const struct endpoint *from, const struct mqttsn_msg *m,
		    void *buf, size_t len)
{
	int qos = mqttsn_flags_qos(m->flags);
	struct topic *t;

	if ((m->flags & MQTTSN_FLAG_TOPIC_MASK) == MQTTSN_TOPIC_SHORT ||
	    (qos == 0 && !client_connected(from)) || qos > 0 || m->topic_id >= BASE_TOPICS) {
		w->dropped++;
		return;
	}
	t = &T.topics[m->topic_id];
	if (!t->sub_count) {
		w->dropped++;
		return;
	}
	w->published++;
	for (int s = 0; s < t->sub_count; s++)
		queue_copy(w, &t->subs[s], buf, len);
}

/* Control messages, under the write lock. */
static void control(struct worker *w, const struct endpoint *from, const struct mqttsn_msg *m)
{
	struct mqttsn_msg r = { .msg_id = m->msg_id };
	struct client *c;

	w->control++;
	switch (m->type) {
	case MQTTSN_CONNECT:
		c = client_slot(from);
		r.type = MQTTSN_CONNACK;
		if (m->flags & MQTTSN_FLAG_WILL || m->data_len > MQTTSN_CLIENT_ID_MAX) {
			r.return_code = MQTTSN_RC_NOT_SUPPORTED;
		} else if (!c || (!c->used && T.n_clients >= BASE_CLIENTS)) {
			r.return_code = MQTTSN_RC_CONGESTION;
		} else {
			if (c->used && (m->flags & MQTTSN_FLAG_CLEAN_SESSION))
				unsubscribe_all(from);
			if (!c->used)
				T.n_clients++;
			c->used = true;
			c->ep = *from;
			memcpy(c->id, m->data, m->data_len);
			c->id[m->data_len] = '\0';
		}
		break;
	case MQTTSN_REGISTER:
		r.type = MQTTSN_REGACK;
		if (!client_connected(from)) {
			r.return_code = MQTTSN_RC_NOT_SUPPORTED;
			break;
		}
		r.topic_id = topic_id(m->data, m->data_len);
		r.return_code = r.topic_id ? MQTTSN_RC_ACCEPTED : MQTTSN_RC_CONGESTION;
		break;
	case MQTTSN_SUBSCRIBE:
	case MQTTSN_UNSUBSCRIBE: {
		int type = m->flags & MQTTSN_FLAG_TOPIC_MASK;
		uint16_t id = type == MQTTSN_TOPIC_NORMAL ? topic_id(m->data, m->data_len) :
			      type == MQTTSN_TOPIC_PREDEFINED ? m->topic_id : 0;
		struct topic *t = id && id < BASE_TOPICS ? &T.topics[id] : NULL;
		int s;

		r.type = m->type == MQTTSN_SUBSCRIBE ? MQTTSN_SUBACK : MQTTSN_UNSUBACK;
		r.flags = MQTTSN_FLAG_QOS_0;	/* every delivery is QoS 0, as psoffload's */
		r.topic_id = id;
		if (!client_connected(from) || !t ||
		    (type == MQTTSN_TOPIC_NORMAL && memchr(m->data, '+', m->data_len)) ||
		    (type == MQTTSN_TOPIC_NORMAL && memchr(m->data, '#', m->data_len))) {
			r.return_code = MQTTSN_RC_NOT_SUPPORTED;	/* no wildcards here */
			break;
		}
		for (s = 0; s < t->sub_count && !ep_eq(&t->subs[s], from); s++)
			;
		if (m->type == MQTTSN_UNSUBSCRIBE) {
			if (s < t->sub_count)
				t->subs[s] = t->subs[--t->sub_count];
		} else if (s == t->sub_count) {
			if (t->sub_count == BASELINE_MAX_SUBS)
				r.return_code = MQTTSN_RC_CONGESTION;
			else
				t->subs[t->sub_count++] = *from;
		}
		break;
	}
	case MQTTSN_PINGREQ:
		r.type = MQTTSN_PINGRESP;
		break;
	case MQTTSN_DISCONNECT:
		r.type = MQTTSN_DISCONNECT;
		c = client_slot(from);
		if (c && c->used) {
			unsubscribe_all(from);
			client_remove(c);
		}
		break;
	default:
		return;		/* not part of this subset */
	}
	reply(w, from, &r);
}

static void handle_batch(struct worker *w, int n)
{
	struct mqttsn_msg m;

	w->received += n;
	w->n_ctl = 0;
	pthread_rwlock_rdlock(&T.lock);
	for (int i = 0; i < n; i++) {
		struct endpoint from = ep_of(&w->rx_addr[i], w->rx[i].msg_hdr.msg_namelen);

		if (mqttsn_decode(w->rx_buf[i], w->rx[i].msg_len, &m)) {
			w->dropped++;
			continue;
		}
		if (m.type == MQTTSN_PUBLISH)
			publish(w, &from, &m, w->rx_buf[i], w->rx[i].msg_len);
		else
			w->ctl[w->n_ctl++] = i;
	}
	flush_out(w);
	pthread_rwlock_unlock(&T.lock);
	if (!w->n_ctl)
		return;
	pthread_rwlock_wrlock(&T.lock);
	for (int k = 0; k < w->n_ctl; k++) {
		int i = w->ctl[k];
		struct endpoint from = ep_of(&w->rx_addr[i], w->rx[i].msg_hdr.msg_namelen);

		if (mqttsn_decode(w->rx_buf[i], w->rx[i].msg_len, &m) == 0)
			control(w, &from, &m);
	}
	pthread_rwlock_unlock(&T.lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	for (int i = 0; i < batch; i++) {
		w->rx_iov[i] = (struct iovec){ w->rx_buf[i], BUF_SIZE };
		w->rx[i].msg_hdr = (struct msghdr){ .msg_name = &w->rx_addr[i],
						    .msg_iov = &w->rx_iov[i], .msg_iovlen = 1 };
	}
	while (!stopping) {
		struct epoll_event ev[2];
		int ne = epoll_wait(w->ep, ev, 2, 1000);

		for (int e = 0; e < ne; e++) {
			if (ev[e].data.fd == w->stop_fd)
				return NULL;
		}
		/* Drain the socket in batches; bounded, so the stop event is seen. */
		for (int round = 0; round < 64 && ne > 0; round++) {
			int n;

			for (int i = 0; i < batch; i++)
				w->rx[i].msg_hdr.msg_namelen = sizeof(w->rx_addr[i]);
			n = recvmmsg(w->fd, w->rx, batch, MSG_DONTWAIT, NULL);
			if (n <= 0)
				break;
			handle_batch(w, n);
			if (n < batch)
				break;
		}
	}
	return NULL;
}

static int open_socket(const char *bind_addr, int port)
{
	struct sockaddr_storage ss = {};
	socklen_t len;
	int one = 1, zero = 0, buf = sock_buf, fd;

	if (strchr(bind_addr, ':')) {
		struct sockaddr_in6 *a = (void *)&ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		if (inet_pton(AF_INET6, bind_addr, &a->sin6_addr) != 1)
			return -EINVAL;
		len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (void *)&ss;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		if (inet_pton(AF_INET, bind_addr, &a->sin_addr) != 1)
			return -EINVAL;
		len = sizeof(*a);
	}
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	/* Root may exceed rmem_max/wmem_max; anyone else gets what the caps allow. */
	if (buf && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (buf && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)))
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (bind(fd, (struct sockaddr *)&ss, len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int parse_cpus(const char *s, int *cpus)
{
	int n = 0;

	while (*s && n < MAX_THREADS) {
		char *end;
		long a = strtol(s, &end, 10), b = a;

		if (end == s)
			return -1;
		if (*end == '-')
			b = strtol(end + 1, &end, 10);
		for (long c = a; c <= b && n < MAX_THREADS; c++)
			cpus[n++] = c;
		if (*end == ',')
			end++;
		else if (*end)
			return -1;
		s = end;
	}
	return n;
}

static void on_signal(int sig)
{
	uint64_t one = 1;

	stopping = 1;
	for (int i = 0; i < n_workers; i++) {
		ssize_t r = write(workers[i]->stop_fd, &one, sizeof(one));

		(void)r;	/* the flag alone stops it within a second */
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: pso-baseline [-p PORT] [-b ADDR] [-c CPULIST] [-B BATCH] [-r BYTES] [-v]\n"
		   "  -p PORT     UDP port (%d)\n"
		   "  -b ADDR     address to bind, IPv4 or IPv6 (:: = both, the default)\n"
		   "  -c CPULIST  one thread per CPU, pinned, e.g. 1 or 0-3 (every CPU)\n"
		   "  -B BATCH    recvmmsg batch (64, at most %d)\n"
		   "  -r BYTES    socket receive and send buffers (8 MiB; 0: the system's)\n"
		   "  -v          counters on exit\n",
		PSO_DEFAULT_UDP_PORT, MAX_BATCH);
}

int main(int argc, char **argv)
{
	const char *bind_addr = "::";
	int port = PSO_DEFAULT_UDP_PORT, cpus[MAX_THREADS], opt;
	struct sigaction sa = { .sa_handler = on_signal };
	uint64_t tot[6] = {};

	n_workers = 0;
	while ((opt = getopt(argc, argv, "p:b:c:B:r:vh")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'b': bind_addr = optarg; break;
		case 'c':
			n_workers = parse_cpus(optarg, cpus);
			if (n_workers <= 0) {
				fprintf(stderr, "pso-baseline: bad CPU list %s\n", optarg);
				return 2;
			}
			break;
		case 'B': batch = atoi(optarg); break;
		case 'v': verbose++; break;
		case 'r': sock_buf = atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (batch < 1 || batch > MAX_BATCH || port < 1 || port > 65535) {
		usage(stderr);
		return 2;
	}
	if (!n_workers) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		for (n_workers = 0; n_workers < n && n_workers < MAX_THREADS; n_workers++)
			cpus[n_workers] = n_workers;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (int i = 0; i < n_workers; i++) {
		struct worker *w = calloc(1, sizeof(*w));
		struct epoll_event ev = { .events = EPOLLIN };

		if (!w) {
			fprintf(stderr, "pso-baseline: out of memory\n");
			return 1;
		}
		w->cpu = cpus[i];
		w->fd = open_socket(bind_addr, port);
		if (w->fd < 0) {
			fprintf(stderr, "pso-baseline: socket on %s port %d: %s\n", bind_addr, port,
				strerror(-w->fd));
			return 1;
		}
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ev.data.fd = w->fd;
		epoll_ctl(w->ep, EPOLL_CTL_ADD, w->fd, &ev);
		ev.data.fd = w->stop_fd;
		epoll_ctl(w->ep, EPOLL_CTL_ADD, w->stop_fd, &ev);
		workers[i] = w;
	}
	for (int i = 0; i < n_workers; i++) {
		if (pthread_create(&workers[i]->thread, NULL, worker_main, workers[i])) {
			fprintf(stderr, "pso-baseline: cannot start thread %d\n", i);
			return 1;
		}
	}
	printf("pso-baseline: serving MQTT-SN on %s port %d, %d thread%s (CPU", bind_addr, port,
	       n_workers, n_workers > 1 ? "s" : "");
	for (int i = 0; i < n_workers; i++)
		printf(" %d", cpus[i]);
	printf("), batch %d\n", batch);
	fflush(stdout);
	for (int i = 0; i < n_workers; i++) {
		struct worker *w = workers[i];

		pthread_join(w->thread, NULL);
		tot[0] += w->received;
		tot[1] += w->published;
		tot[2] += w->delivered;
		tot[3] += w->send_failed;
		tot[4] += w->dropped;
		tot[5] += w->control;
	}
	if (verbose)
		printf("pso-baseline: received %llu, published %llu, copies sent %llu, send failed "
		       "%llu, dropped %llu, control %llu\n",
		       (unsigned long long)tot[0], (unsigned long long)tot[1],
		       (unsigned long long)tot[2], (unsigned long long)tot[3],
		       (unsigned long long)tot[4], (unsigned long long)tot[5]);
	return 0;
}
