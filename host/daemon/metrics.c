// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * metrics.c - /metrics in the Prometheus text exposition format 0.0.4
 * (metrics.h): the HTTP server (libmicrohttpd), the hand-over of snapshots
 * from the event loop, and the rendering of one snapshot.
 *
 * Names follow Prometheus' conventions: the psoffload_ prefix, base units
 * (bytes, seconds), counters ending in _total, one # HELP and # TYPE per
 * family, what varies in labels (path, outcome, reason, state, type).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <microhttpd.h>
#include "daemon/metrics.h"
#include "daemon/snapshot.h"
#include "proto/mqttsn.h"
#include "util/log.h"
#include "util/opts.h"

/* ---- the data plane's counters as labelled series ---------------------------- */

enum dp_family { DP_PACKETS, DP_COPIES, DP_EVENTS };

/* Each data-plane counter (PSO_CNT_*) is one series: of which family, and
 * its labels.  Packets: path (xdp, tc), outcome (tx, redirect, pass, drop,
 * fanout), reason.  Copies (TC, one per subscriber): result.  Events not
 * sent (the event stream's own counters): result. */
static const struct dp_series {
	enum dp_family family;
	const char *path, *outcome, *reason;
} dp_series[PSO_CNT__MAX] = {
	[PSO_CNT_XDP_TX]		= { DP_PACKETS, "xdp", "tx", "same_port" },
	[PSO_CNT_XDP_REDIRECT]		= { DP_PACKETS, "xdp", "redirect", "other_port" },
	[PSO_CNT_XDP_PASS_NOT_BROKER]	= { DP_PACKETS, "xdp", "pass", "not_broker" },
	[PSO_CNT_XDP_PASS_FRAGMENT]	= { DP_PACKETS, "xdp", "pass", "fragment" },
	[PSO_CNT_XDP_PASS_CONTROL]	= { DP_PACKETS, "xdp", "pass", "control" },
	[PSO_CNT_XDP_PASS_SLOW_QOS]	= { DP_PACKETS, "xdp", "pass", "slow_qos" },
	[PSO_CNT_XDP_PASS_RETAIN]	= { DP_PACKETS, "xdp", "pass", "retain" },
	[PSO_CNT_XDP_PASS_FANOUT]	= { DP_PACKETS, "xdp", "pass", "fanout" },
	[PSO_CNT_XDP_PASS_HOST]		= { DP_PACKETS, "xdp", "pass", "host" },
	[PSO_CNT_XDP_PASS_UNKNOWN_TOPIC] = { DP_PACKETS, "xdp", "pass", "unknown_topic" },
	[PSO_CNT_XDP_PASS_OVERFLOW]	= { DP_PACKETS, "xdp", "pass", "overflow" },
	[PSO_CNT_XDP_DROP_TRUNCATED]	= { DP_PACKETS, "xdp", "drop", "truncated" },
	[PSO_CNT_XDP_DROP_LENGTH]	= { DP_PACKETS, "xdp", "drop", "length" },
	[PSO_CNT_XDP_DROP_MALFORMED]	= { DP_PACKETS, "xdp", "drop", "malformed" },
	[PSO_CNT_XDP_DROP_NOT_CONNECTED] = { DP_PACKETS, "xdp", "drop", "not_connected" },
	[PSO_CNT_XDP_DROP_QOSM1_DENIED]	= { DP_PACKETS, "xdp", "drop", "qosm1_denied" },
	[PSO_CNT_XDP_DROP_UNKNOWN_TOPIC] = { DP_PACKETS, "xdp", "drop", "unknown_topic" },
	[PSO_CNT_XDP_DROP_NO_SUBSCRIBER] = { DP_PACKETS, "xdp", "drop", "no_subscriber" },
	[PSO_CNT_XDP_DROP_TTL]		= { DP_PACKETS, "xdp", "drop", "ttl" },
	[PSO_CNT_XDP_DROP_RATE]		= { DP_PACKETS, "xdp", "drop", "rate" },
	[PSO_CNT_TC_FANOUT]		= { DP_PACKETS, "tc", "fanout", "consumed" },
	[PSO_CNT_TC_FANOUT_UP]		= { DP_PACKETS, "tc", "fanout", "up" },
	[PSO_CNT_TC_PASS]		= { DP_PACKETS, "tc", "pass", "not_fast_path" },
	[PSO_CNT_TC_DROP]		= { DP_PACKETS, "tc", "drop", "not_admitted" },
	[PSO_CNT_TC_DROP_RATE]		= { DP_PACKETS, "tc", "drop", "rate" },
	[PSO_CNT_TC_COPIES]		= { DP_COPIES, NULL, NULL, "sent" },
	[PSO_CNT_TC_COPY_FAILED]	= { DP_COPIES, NULL, NULL, "failed" },
	[PSO_CNT_TC_COPY_HOST]		= { DP_COPIES, NULL, NULL, "host" },
	[PSO_CNT_TC_COPY_SHED]		= { DP_COPIES, NULL, NULL, "shed" },
	[PSO_CNT_EVENT_SUPPRESSED]	= { DP_EVENTS, NULL, NULL, "suppressed" },
	[PSO_CNT_EVENT_LOST]		= { DP_EVENTS, NULL, NULL, "lost" },
};

/* ---- rendering -------------------------------------------------------------- */

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: backslash, double quote and newline escaped. */
static void label_value(FILE *f, const char *v)
{
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fprintf(f, "\\%c", *v);
		else if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static void sample(FILE *f, const char *name, const char *labels, uint64_t v)
{
	fprintf(f, "%s%s %llu\n", name, labels, (unsigned long long)v);
}

static void render_dataplane(FILE *f, const struct pso_snapshot *s)
{
	family(f, "psoffload_dataplane_packets_total", "counter",
	       "Packets the data plane judged, by program (path), outcome and reason.");
	for (int i = 0; i < PSO_CNT__MAX; i++) {
		const struct dp_series *d = &dp_series[i];

		if (d->family != DP_PACKETS)
			continue;
		fprintf(f, "psoffload_dataplane_packets_total{path=\"%s\",outcome=\"%s\",reason=\"%s\"} %llu\n",
			d->path, d->outcome, d->reason, (unsigned long long)s->dp[i]);
	}
	family(f, "psoffload_dataplane_copies_total", "counter",
	       "Fan-out copies (TC, one per subscriber) by result; shed: not tried, the port's queue was full.");
	for (int i = 0; i < PSO_CNT__MAX; i++)
		if (dp_series[i].family == DP_COPIES)
			fprintf(f, "psoffload_dataplane_copies_total{result=\"%s\"} %llu\n",
				dp_series[i].reason, (unsigned long long)s->dp[i]);
	family(f, "psoffload_dataplane_events_unsent_total", "counter",
	       "Data-plane events not sent: suppressed by the per-CPU rate limit, or lost to a full ring buffer.");
	for (int i = 0; i < PSO_CNT__MAX; i++)
		if (dp_series[i].family == DP_EVENTS)
			fprintf(f, "psoffload_dataplane_events_unsent_total{result=\"%s\"} %llu\n",
				dp_series[i].reason, (unsigned long long)s->dp[i]);
}

static void render_interfaces(FILE *f, const struct pso_snapshot *s)
{
	family(f, "psoffload_interface_info", "gauge",
	       "One series per interface: its driver, profile, the mode in force and the host mode.");
	for (int i = 0; i < s->nifaces; i++) {
		const struct pso_snap_iface *x = &s->ifaces[i];

		fputs("psoffload_interface_info{interface=", f);
		label_value(f, x->name);
		fputs(",driver=", f);
		label_value(f, x->driver);
		fputs(",profile=", f);
		label_value(f, x->profile);
		fprintf(f, ",mode=\"%s\",host_mode=\"%s\",state=\"%s\"} 1\n", x->mode, x->host_mode,
			x->state);
	}
	family(f, "psoffload_interface_up", "gauge", "1 when the interface is attached and up.");
	for (int i = 0; i < s->nifaces; i++) {
		fputs("psoffload_interface_up{interface=", f);
		label_value(f, s->ifaces[i].name);
		fprintf(f, "} %d\n", !strcmp(s->ifaces[i].state, "up"));
	}
}

static void render_tables(FILE *f, const struct pso_snapshot *s)
{
	const struct pso_tables_usage *u = &s->tables;
	/* subscriptions: the subscribers' slots against --max-subscriptions */
	static const char *const names[] = { "topics", "subscribers", "clients", "subscriptions" };
	uint64_t used[] = { u->topics, u->subs, u->clients, u->subs };
	uint64_t cap[] = { u->max_topics, u->max_subs, u->max_clients, s->subscriptions_cap };
	const int n = sizeof(names) / sizeof(names[0]);

	family(f, "psoffload_table_entries", "gauge", "Entries in use in the data-plane tables.");
	for (int i = 0; i < n; i++)
		fprintf(f, "psoffload_table_entries{table=\"%s\"} %llu\n", names[i],
			(unsigned long long)used[i]);
	family(f, "psoffload_table_capacity_entries", "gauge", "Entries the data-plane tables hold.");
	for (int i = 0; i < n; i++)
		fprintf(f, "psoffload_table_capacity_entries{table=\"%s\"} %llu\n", names[i],
			(unsigned long long)cap[i]);
	family(f, "psoffload_subscriptions_refused_total", "counter",
	       "Subscriber slots refused: --max-subscriptions reached.");
	sample(f, "psoffload_subscriptions_refused_total", "", s->subscriptions_full);
	family(f, "psoffload_map_memory_bytes", "gauge",
	       "Kernel memory of the data plane's maps (memlock).");
	sample(f, "psoffload_map_memory_bytes", "", s->map_memory);
	family(f, "psoffload_table_pending_grace", "gauge",
	       "Table changes waiting for a grace period.");
	sample(f, "psoffload_table_pending_grace", "", u->pending);
	family(f, "psoffload_nic_write_errors_total", "counter", "Writes a NIC's tables refused.");
	sample(f, "psoffload_nic_write_errors_total", "", u->nic_write_errors);
	family(f, "psoffload_nic_table_full_total", "counter",
	       "Writes refused because a NIC's table was full.");
	sample(f, "psoffload_nic_table_full_total", "", u->nic_table_full);
}

static void render_daemon(FILE *f, const struct pso_snapshot *s)
{
	char name[96];

	family(f, "psoffload_sessions", "gauge", "Sessions by state.");
	for (int i = 0; i < PSO_SESSION__STATES; i++)
		fprintf(f, "psoffload_sessions{state=\"%s\"} %u\n", pso_session_state_name(i),
			s->sessions[i]);
	family(f, "psoffload_control_messages_received_total", "counter",
	       "MQTT-SN messages the daemon decoded, by type.");
	for (int t = 0; t < PSO_PROTO_RX_TYPES; t++) {
		const char *tn = mqttsn_type_name((uint8_t)t);

		if (strncmp(tn, "0x", 2))
			fprintf(f, "psoffload_control_messages_received_total{type=\"%s\"} %llu\n", tn,
				(unsigned long long)s->proto.rx_type[t]);
	}
	family(f, "psoffload_retained_messages", "gauge", "Retained messages kept.");
	sample(f, "psoffload_retained_messages", "", s->retained_msgs);
	family(f, "psoffload_retained_bytes", "gauge", "Payload bytes of the retained messages kept.");
	sample(f, "psoffload_retained_bytes", "", s->retained_bytes);
	for (size_t i = 0; i < pso_snap_ndaemon_counters; i++) {
		snprintf(name, sizeof(name), "psoffload_daemon_%s_total", pso_snap_daemon_counters[i].name);
		family(f, name, "counter", pso_snap_daemon_counters[i].help);
		sample(f, name, "", pso_snap_counter(s, i));
	}
}

static int busier(const void *a, const void *b)
{
	const struct pso_snap_topic *x = *(const struct pso_snap_topic *const *)a;
	const struct pso_snap_topic *y = *(const struct pso_snap_topic *const *)b;

	if (x->msgs != y->msgs)
		return x->msgs < y->msgs ? 1 : -1;
	return x->id - y->id;
}

/* Per-topic series for the n busiest topics only: bounded cardinality. */
static void render_topics(FILE *f, const struct pso_snapshot *s, unsigned int n)
{
	static const struct {
		const char *name, *type, *help;
	} fam[] = {
		{ "psoffload_topic_messages_total", "counter", "Publishes the data plane forwarded on the topic." },
		{ "psoffload_topic_bytes_total", "counter", "Bytes of those publishes." },
		{ "psoffload_topic_subscribers", "gauge", "Clients subscribed to the topic." },
	};
	const struct pso_snap_topic **top;
	unsigned int k = 0;

	family(f, "psoffload_topics_exported", "gauge",
	       "Topics with per-topic series below (the busiest, at most --metrics-topics).");
	top = calloc(s->ntopics ? s->ntopics : 1, sizeof(*top));
	if (top) {
		for (uint32_t i = 0; i < s->ntopics; i++)
			if (s->topics[i].msgs)
				top[k++] = &s->topics[i];
		qsort(top, k, sizeof(*top), busier);
		if (k > n)
			k = n;
	}
	sample(f, "psoffload_topics_exported", "", k);
	for (size_t j = 0; j < sizeof(fam) / sizeof(fam[0]); j++) {
		family(f, fam[j].name, fam[j].type, fam[j].help);
		for (unsigned int i = 0; i < k; i++) {
			uint64_t v = j == 0 ? top[i]->msgs : j == 1 ? top[i]->bytes : top[i]->subscribers;

			fprintf(f, "%s{topic=", fam[j].name);
			label_value(f, top[i]->name);
			fprintf(f, ",topic_id=\"%u\"} %llu\n", top[i]->id, (unsigned long long)v);
		}
	}
	free(top);
}

/*
 * The store (sessions, registrations and retained messages that outlive
 * the daemon): what it is, its revision, what it wrote, and how long its
 * operations take: psoffload_store_operation_duration_seconds, a histogram
 * by operation (load: the whole store at start; commit: one event-loop
 * round's changes in one transaction).
 */
static void lat_histogram(FILE *f, const char *op, const struct pso_store_lat *l)
{
	const char *name = "psoffload_store_operation_duration_seconds";

	for (int i = 0; i < PSO_STORE_LAT_BUCKETS; i++)
		fprintf(f, "%s_bucket{operation=\"%s\",le=\"%g\"} %llu\n", name, op,
			pso_store_lat_bounds_us[i] / 1e6, (unsigned long long)l->le[i]);
	fprintf(f, "%s_bucket{operation=\"%s\",le=\"+Inf\"} %llu\n", name, op,
		(unsigned long long)l->count);
	fprintf(f, "%s_sum{operation=\"%s\"} %.6f\n", name, op, l->sum_us / 1e6);
	fprintf(f, "%s_count{operation=\"%s\"} %llu\n", name, op, (unsigned long long)l->count);
}

static void render_store(FILE *f, const struct pso_snapshot *s)
{
	const struct pso_store_stats *st = &s->store_stats;

	if (!s->store[0])
		return;		/* no store (yet) */
	family(f, "psoffload_store_info", "gauge",
	       "The store in use (--store): sqlite:PATH, or none.");
	fputs("psoffload_store_info{store=", f);
	label_value(f, s->store);
	fprintf(f, ",persistent=\"%s\"} 1\n", s->store_persistent ? "yes" : "no");
	family(f, "psoffload_store_revision", "gauge", "The store's revision: one per commit.");
	sample(f, "psoffload_store_revision", "", st->revision);
	family(f, "psoffload_store_commits_total", "counter", "Transactions the store wrote.");
	sample(f, "psoffload_store_commits_total", "", st->commits);
	family(f, "psoffload_store_records_total", "counter", "Records the store wrote, by change.");
	fprintf(f, "psoffload_store_records_total{change=\"put\"} %llu\n",
		(unsigned long long)st->puts);
	fprintf(f, "psoffload_store_records_total{change=\"delete\"} %llu\n",
		(unsigned long long)st->deletes);
	family(f, "psoffload_store_errors_total", "counter",
	       "Commits that failed (their changes are tried again the next round).");
	sample(f, "psoffload_store_errors_total", "", st->errors);
	family(f, "psoffload_store_reachable", "gauge",
	       "1 when the store's last request was answered (0: etcd unreachable).");
	sample(f, "psoffload_store_reachable", "", st->reachable ? 1 : 0);
	family(f, "psoffload_store_pending_changes", "gauge", "Changes waiting to be written.");
	sample(f, "psoffload_store_pending_changes", "", st->pending);
	family(f, "psoffload_store_last_write_timestamp_seconds", "gauge",
	       "When the store last wrote (0: not yet).");
	fprintf(f, "psoffload_store_last_write_timestamp_seconds %.3f\n",
		st->last_write_unix_ms / 1e3);
	family(f, "psoffload_store_operation_duration_seconds", "histogram",
	       "How long store operations took: load (at start), commit (one round).");
	lat_histogram(f, "load", &st->load);
	lat_histogram(f, "commit", &st->commit);
}

char *pso_metrics_render(const struct pso_snapshot *s, unsigned int topics, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (!f)
		return NULL;
	family(f, "psoffload_broker_info", "gauge", "The broker: its name (--name) and requested mode.");
	fputs("psoffload_broker_info{name=", f);
	label_value(f, s->name);
	fprintf(f, ",requested_mode=\"%s\"} 1\n", s->requested_mode);
	family(f, "psoffload_start_time_seconds", "gauge", "When the broker started, in seconds since the epoch.");
	fprintf(f, "psoffload_start_time_seconds %llu.%03llu\n", (unsigned long long)(s->started_ms / 1000),
		(unsigned long long)(s->started_ms % 1000));
	render_dataplane(f, s);
	render_interfaces(f, s);
	render_tables(f, s);
	render_daemon(f, s);
	render_topics(f, s, topics);
	render_store(f, s);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- the server ------------------------------------------------------------- */

struct pso_metrics {
	struct MHD_Daemon *mhd;
	int efd;
	unsigned int topics;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t asked, taking, served;	/* scrape generations */
	bool stopping;
	struct pso_snapshot *snap;	/* the last one handed over */
};

int pso_metrics_parse_addr(const char *s, struct sockaddr_storage *ss)
{
	const char *colon = strrchr(s, ':');
	char host[64];
	long long port;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	if (!colon || pso_parse_num(colon + 1, 1, 65535, &port))
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (hl && host[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		if (host[hl - 1] != ']')
			return -EINVAL;
		host[hl - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	if (!hl || !strcmp(host, "*")) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		a->sin6_addr = in6addr_any;
		return 0;
	}
	{
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -EINVAL;
	}
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int code, char *body, size_t len,
			     const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned int code, const char *text)
{
	char *body = strdup(text);

	return body ? reply(conn, code, body, strlen(body), "text/plain; charset=utf-8") : MHD_NO;
}

/* A snapshot from the event loop, rendered; NULL when none came in time. */
static char *scrape(struct pso_metrics *m, size_t *len)
{
	struct timespec until;
	uint64_t want, one = 1;
	char *body = NULL;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += PSO_METRICS_WAIT_MS / 1000;
	until.tv_nsec += (PSO_METRICS_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&m->lock);
	want = ++m->asked;
	if (write(m->efd, &one, sizeof(one)) != sizeof(one))
		pso_debug("metrics: eventfd write failed: %s", strerror(errno));
	while (m->served < want && !m->stopping)
		if (pthread_cond_timedwait(&m->cond, &m->lock, &until) == ETIMEDOUT)
			break;
	if (m->served >= want && m->snap)
		body = pso_metrics_render(m->snap, m->topics, len);
	pthread_mutex_unlock(&m->lock);
	return body;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct pso_metrics *m = cls;
	size_t len = 0;
	char *body;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "GET /metrics\n");
	if (!strcmp(url, "/"))
		return reply_text(conn, MHD_HTTP_OK, "psoffload: the metrics are at /metrics\n");
	if (strcmp(url, "/metrics"))
		return reply_text(conn, MHD_HTTP_NOT_FOUND, "not found: the metrics are at /metrics\n");
	body = scrape(m, &len);
	if (!body)
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "the broker's event loop did not answer in time\n");
	return reply(conn, MHD_HTTP_OK, body, len, "text/plain; version=0.0.4; charset=utf-8");
}

int pso_metrics_start(struct pso_metrics **out, const char *addr, unsigned int topics,
		      char *err, size_t errlen)
{
	struct pso_metrics *m;
	struct sockaddr_storage ss;
	pthread_condattr_t ca;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD;
	uint16_t port;

	if (pso_metrics_parse_addr(addr, &ss)) {
		snprintf(err, errlen, "bad --metrics '%s': use ADDR:PORT, [ADDR6]:PORT or :PORT", addr);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->topics = topics;
	m->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

		flags |= IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
		port = ntohs(a->sin6_port);
	} else {
		port = ntohs(((const struct sockaddr_in *)&ss)->sin_port);
	}
	if (m->efd >= 0)
		m->mhd = MHD_start_daemon(flags, port, NULL, NULL, handle, m,
					  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
					  MHD_OPTION_CONNECTION_LIMIT, 16u,
					  MHD_OPTION_CONNECTION_TIMEOUT, 10u,
					  MHD_OPTION_END);
	if (!m->mhd) {
		int e = errno ? errno : EADDRINUSE;

		snprintf(err, errlen, "cannot serve metrics on %s: %s", addr, strerror(e));
		pso_metrics_stop(m);
		return -e;
	}
	*out = m;
	return 0;
}

void pso_metrics_set_topics(struct pso_metrics *m, unsigned int topics)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);	/* the scrape renders under it */
	m->topics = topics;
	pthread_mutex_unlock(&m->lock);
}

void pso_metrics_stop(struct pso_metrics *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (m->mhd)
		MHD_stop_daemon(m->mhd);
	if (m->efd >= 0)
		close(m->efd);
	pso_snapshot_free(m->snap);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int pso_metrics_fd(const struct pso_metrics *m)
{
	return m->efd;
}

bool pso_metrics_wanted(struct pso_metrics *m)
{
	uint64_t n;
	bool wanted;

	if (read(m->efd, &n, sizeof(n)) != sizeof(n))
		return false;
	pthread_mutex_lock(&m->lock);
	m->taking = m->asked;
	wanted = m->taking > m->served;
	pthread_mutex_unlock(&m->lock);
	return wanted;
}

void pso_metrics_put(struct pso_metrics *m, struct pso_snapshot *s)
{
	pthread_mutex_lock(&m->lock);
	if (s) {
		pso_snapshot_free(m->snap);
		m->snap = s;
		m->served = m->taking;
	}
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}
