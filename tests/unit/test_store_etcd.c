// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_store_etcd.c - the etcd backend of the store (host/store/store_etcd.c)
 * against real etcd members that the test starts on 127.0.0.1 (client ports
 * 23790-23793, peer ports 23800-23803, data under a mktemp directory),
 * stopped by their PIDs.  One member: records written and read back, list
 * at a revision, a compaction (-ENODATA, then list again), watch, CAS,
 * leases (kept alive by the tick, ended by revoke and by their TTL), two
 * brokers claiming topic ids at once, an unreachable etcd.  Three members:
 * commits and the watch carry on when the member they used is killed.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <cmocka.h>
#include <curl/curl.h>
#include "store/store.h"
#include "store/rec_json.h"

#define CLIENT_PORT 23790
#define PEER_PORT 23800
#define NO_ETCD_PORT 23799	/* nothing listens there */
#define MAX_MEMBERS 3

static char dir[256];
static char err[512];
static pid_t pids[MAX_MEMBERS];
static int nmembers;
static int first_port;		/* client port of member 0 */
static char cluster_arg[512];

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void pause_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
	char *buf = arg;
	size_t have = strlen(buf), add = size * n;

	if (have + add < 256) {
		memcpy(buf + have, p, add);
		buf[have + add] = '\0';
	}
	return size * n;
}

/* Does member i answer /health with "true"? */
static bool healthy(int i)
{
	CURL *c = curl_easy_init();
	char url[64], body[256] = "";
	CURLcode rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", first_port + i);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 500L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	rc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	return rc == CURLE_OK && strstr(body, "\"true\"");
}

static void member_start(int i)
{
	char name[16], data[300], client[64], peer[64], log[300];
	pid_t pid;

	snprintf(name, sizeof(name), "etc-%d", i);
	snprintf(data, sizeof(data), "%s/%s", dir, name);
	snprintf(client, sizeof(client), "http://127.0.0.1:%d", first_port + i);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", first_port - CLIENT_PORT + PEER_PORT + i);
	snprintf(log, sizeof(log), "%s/%s.log", dir, name);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execlp("etcd", "etcd", "--name", name, "--data-dir", data, "--listen-client-urls",
		       client, "--advertise-client-urls", client, "--listen-peer-urls", peer,
		       "--initial-advertise-peer-urls", peer, "--initial-cluster", cluster_arg,
		       "--initial-cluster-state", "new", "--initial-cluster-token", dir,
		       "--heartbeat-interval", "50", "--election-timeout", "500", (char *)NULL);
		_exit(127);
	}
	pids[i] = pid;
}

static void member_stop(int i, int sig)
{
	uint64_t deadline = mono_ms() + 10000;

	if (pids[i] <= 0)
		return;
	kill(pids[i], sig);
	while (waitpid(pids[i], NULL, WNOHANG) == 0) {
		if (mono_ms() > deadline) {
			kill(pids[i], SIGKILL);
			waitpid(pids[i], NULL, 0);
			break;
		}
		pause_ms(20);
	}
	pids[i] = 0;
}

static void wait_healthy(int i)
{
	uint64_t deadline = mono_ms() + 20000;

	while (!healthy(i)) {
		if (mono_ms() > deadline)
			fail_msg("etcd member %d not healthy in 20 s (see %s/etc-%d.log)", i, dir, i);
		pause_ms(50);
	}
}

static int cluster_up(int n, int port)
{
	size_t off = 0;

	if (access("/usr/bin/etcd", X_OK)) {
		fprintf(stderr, "etcd is not installed (tests/install-deps.sh: etcd-server)\n");
		return -1;
	}
	snprintf(dir, sizeof(dir), "/tmp/etc-test.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	nmembers = n;
	first_port = port;
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(cluster_arg + off, sizeof(cluster_arg) - off,
					"%setc-%d=http://127.0.0.1:%d", i ? "," : "", i,
					port - CLIENT_PORT + PEER_PORT + i);
	for (int i = 0; i < n; i++)
		member_start(i);
	for (int i = 0; i < n; i++)
		wait_healthy(i);
	return 0;
}

static int cluster_down(void **state)
{
	char cmd[300];

	for (int i = 0; i < nmembers; i++)
		member_stop(i, SIGKILL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

static int one_up(void **state)
{
	return cluster_up(1, CLIENT_PORT);
}

/* The one member down, three up (the test after it finds them gone). */
static int three_up(void **state)
{
	return cluster_down(state) ? -1 : cluster_up(3, CLIENT_PORT + 1);
}

/* "etcd:URL,..." of every member */
static void spec_all(char *buf, size_t len)
{
	size_t off = (size_t)snprintf(buf, len, "etcd:");

	for (int i = 0; i < nmembers; i++)
		off += (size_t)snprintf(buf + off, len - off, "%shttp://127.0.0.1:%d", i ? "," : "",
					first_port + i);
}

static struct pso_store *open_in(const char *cluster)
{
	struct pso_store *s = NULL;
	char spec[256];
	int ret;

	spec_all(spec, sizeof(spec));
	ret = pso_store_open_in(&s, spec, cluster, 0, err, sizeof(err));
	if (ret)
		fail_msg("open %s: %d %s", spec, ret, err);
	return s;
}

/* ---- records ---- */

static void put_topic(struct pso_store *s, uint16_t id, const char *name)
{
	struct pso_rec r = { .kind = PSO_REC_TOPIC };

	r.t.id = id;
	r.t.name = strdup(name);
	assert_int_equal(pso_store_put(s, &r), 0);
}

static void put_retained(struct pso_store *s, uint16_t id, const char *payload)
{
	struct pso_rec r = { .kind = PSO_REC_RETAINED };

	r.r.topic_id = id;
	r.r.flags = 0x31;
	r.r.len = strlen(payload);
	r.r.data = (uint8_t *)strdup(payload);
	assert_int_equal(pso_store_put(s, &r), 0);
}

static void put_session(struct pso_store *s, const char *id, uint16_t keepalive)
{
	struct pso_rec r = { .kind = PSO_REC_SESSION };
	struct pso_rec_session *ss = &r.s;

	snprintf(ss->id, sizeof(ss->id), "%s", id);
	ss->connected = true;
	ss->ep.family = PSO_AF_INET;
	ss->ep.addr[0] = 10;
	ss->ep.addr[3] = 7;
	ss->ep.port = htons(40000);
	ss->keepalive_s = keepalive;
	ss->next_msg_id = 42;
	ss->will_topic = strdup("will/t");
	ss->will_flags = 0x20;
	ss->will_msg = (uint8_t *)strdup("bye");
	ss->will_len = 3;
	ss->nsubs = 2;
	ss->subs = calloc(2, sizeof(*ss->subs));
	ss->subs[0] = (struct pso_rec_sub){ .kind = 1, .qos = 1, .filter = strdup("a/#") };
	ss->subs[1] = (struct pso_rec_sub){ .kind = 2, .qos = 0, .topic_id = 5 };
	ss->nmsgs = 1;
	ss->msgs = calloc(1, sizeof(*ss->msgs));
	ss->msgs[0] = (struct pso_rec_msg){ .box = PSO_BOX_SLEEP, .msg_id = 9, .flags = 0x20,
					    .topic_field = 7, .len = 4,
					    .data = malloc(4) };
	memcpy(ss->msgs[0].data, "\x01\x00\xff\x02", 4);
	ss->nqos2 = 1;
	ss->qos2[0] = 77;
	ss->validation_len = 1;
	ss->validation = malloc(1);
	ss->validation[0] = 3;
	assert_int_equal(pso_store_put(s, &r), 0);
}

static void commit_ok(struct pso_store *s, uint64_t *rev)
{
	int ret = pso_store_commit(s, rev, err, sizeof(err));

	if (ret)
		fail_msg("commit: %d %s", ret, err);
}

/* What a walk saw. */
struct seen {
	int topics, retained, sessions, raws, deletes;
	uint64_t last_mod;
	char names[8][64];
	int nnames;
	char session_will[32];
	uint16_t session_ka, session_sub_id;
	char session_filter[32];
	uint8_t msg_byte3;
	uint16_t qos2;
	uint8_t valid;
	char raw_key[64], raw_val[64];
};

static int see(const struct pso_store_item *it, void *arg)
{
	struct seen *v = arg;

	v->last_mod = it->mod_rev;
	if (it->deleted) {
		v->deletes++;
		if (it->raw)
			snprintf(v->raw_key, sizeof(v->raw_key), "%s", it->raw->key);
		return 0;
	}
	if (it->raw) {
		v->raws++;
		snprintf(v->raw_key, sizeof(v->raw_key), "%s", it->raw->key);
		snprintf(v->raw_val, sizeof(v->raw_val), "%.*s", (int)it->raw->len,
			 (const char *)it->raw->val);
		return 0;
	}
	switch (it->rec->kind) {
	case PSO_REC_TOPIC:
		v->topics++;
		if (v->nnames < 8)
			snprintf(v->names[v->nnames++], 64, "%u=%s", it->rec->t.id, it->rec->t.name);
		break;
	case PSO_REC_RETAINED:
		v->retained++;
		break;
	case PSO_REC_SESSION:
		v->sessions++;
		snprintf(v->session_will, sizeof(v->session_will), "%s",
			 it->rec->s.will_topic ? it->rec->s.will_topic : "");
		v->session_ka = it->rec->s.keepalive_s;
		if (it->rec->s.nsubs == 2) {
			snprintf(v->session_filter, sizeof(v->session_filter), "%s",
				 it->rec->s.subs[0].filter);
			v->session_sub_id = it->rec->s.subs[1].topic_id;
		}
		if (it->rec->s.nmsgs == 1 && it->rec->s.msgs[0].len == 4)
			v->msg_byte3 = it->rec->s.msgs[0].data[2];
		if (it->rec->s.nqos2 == 1)
			v->qos2 = it->rec->s.qos2[0];
		if (it->rec->s.validation_len == 1)
			v->valid = it->rec->s.validation[0];
		break;
	}
	return 0;
}

/* see(), then stop the walk */
static int see_one(const struct pso_store_item *it, void *arg)
{
	see(it, arg);
	return 1;
}

static void test_records(void **state)
{
	struct pso_store *s = open_in("t-records");
	struct seen v = { 0 };
	uint64_t rev, rev2;

	put_topic(s, 11, "a/b");
	put_topic(s, 12, "c/d");
	put_retained(s, 11, "kept");
	put_session(s, "cli-1", 60);
	commit_ok(s, &rev);
	assert_true(rev > 0);
	assert_int_equal(pso_store_stats(s)->pending, 0);
	pso_store_close(s);

	/* Another broker (a new handle) finds every field again. */
	s = open_in("t-records");
	assert_int_equal(pso_store_load(s, see, &v, &rev2, err, sizeof(err)), 0);
	assert_int_equal(rev2, rev);
	assert_int_equal(v.topics, 2);
	assert_string_equal(v.names[0], "11=a/b");
	assert_string_equal(v.names[1], "12=c/d");
	assert_int_equal(v.retained, 1);
	assert_int_equal(v.sessions, 1);
	assert_string_equal(v.session_will, "will/t");
	assert_int_equal(v.session_ka, 60);
	assert_string_equal(v.session_filter, "a/#");
	assert_int_equal(v.session_sub_id, 5);
	assert_int_equal(v.msg_byte3, 0xff);
	assert_int_equal(v.qos2, 77);
	assert_int_equal(v.valid, 3);
	assert_int_equal(pso_store_stats(s)->loaded[PSO_REC_SESSION], 1);

	/* Deletes; another cluster name sees none of it. */
	{
		struct pso_store_key k = { .kind = PSO_REC_TOPIC, .id = 12 };
		struct pso_store_key ks = { .kind = PSO_REC_SESSION, .client_id = "cli-1" };
		uint16_t id;

		assert_int_equal(pso_store_delete(s, &k), 0);
		assert_int_equal(pso_store_delete(s, &ks), 0);
		commit_ok(s, NULL);
		memset(&v, 0, sizeof(v));
		assert_int_equal(pso_store_list(s, 0, 0, see, &v, NULL), 0);
		assert_int_equal(v.topics, 1);
		assert_int_equal(v.sessions, 0);
		/* the name went with the id: it can be claimed again */
		assert_int_equal(pso_store_claim_topic(s, "c/d", 13, &id), 0);
		assert_int_equal(id, 13);
		/* id 11 given up and given to another name in one round: one put;
		 * the old name's key goes with it */
		assert_int_equal(pso_store_delete(s, &(struct pso_store_key){ .kind = PSO_REC_TOPIC,
									.id = 11 }), 0);
		put_topic(s, 11, "z/z");
		commit_ok(s, NULL);
		assert_int_equal(pso_store_claim_topic(s, "a/b", 50, &id), 0);
		assert_int_equal(id, 50);
		assert_int_equal(pso_store_claim_topic(s, "z/z", 51, &id), 0);
		assert_int_equal(id, 11);
	}
	pso_store_close(s);
	s = open_in("t-other");
	memset(&v, 0, sizeof(v));
	assert_int_equal(pso_store_load(s, see, &v, NULL, err, sizeof(err)), 0);
	assert_int_equal(v.topics + v.retained + v.sessions, 0);
	pso_store_close(s);
}

/* More changes than one transaction takes (operations, bytes): split,
 * all written. */
static void test_big_commit(void **state)
{
	struct pso_store *s = open_in("t-big");
	struct seen v = { 0 };
	char name[32];

	for (int i = 1; i <= 300; i++) {
		snprintf(name, sizeof(name), "big/%d", i);
		put_topic(s, (uint16_t)i, name);
	}
	for (int i = 0; i < 1200; i++) {
		snprintf(name, sizeof(name), "c%04d", i);
		put_session(s, name, 30);
	}
	/* and 40 retained messages of 100 KiB: 4 MB, past etcd's 1.5 MiB a request */
	for (int i = 1; i <= 40; i++) {
		struct pso_rec r = { .kind = PSO_REC_RETAINED };

		r.r.topic_id = (uint16_t)i;
		r.r.len = 100 * 1024;
		r.r.data = calloc(1, r.r.len);
		r.r.data[r.r.len - 1] = (uint8_t)i;
		assert_int_equal(pso_store_put(s, &r), 0);
	}
	commit_ok(s, NULL);
	assert_int_equal(pso_store_stats(s)->puts, 1540);
	/* loaded in pages of 500 */
	assert_int_equal(pso_store_list(s, 0, 0, see, &v, NULL), 0);
	assert_int_equal(v.topics, 300);
	assert_int_equal(v.sessions, 1200);
	assert_int_equal(v.retained, 40);
	pso_store_close(s);
}

static int etcdctl(const char *args)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:%d %s "
		 ">/dev/null 2>&1", first_port, args);
	return system(cmd);
}

static void test_list_at_compaction(void **state)
{
	struct pso_store *s = open_in("t-compact");
	struct seen v = { 0 };
	uint64_t r1, r2, at, next;
	char arg[64];

	put_topic(s, 1, "old");
	commit_ok(s, &r1);
	put_topic(s, 2, "new");
	commit_ok(s, &r2);
	/* As it was at r1 */
	assert_int_equal(pso_store_list(s, r1, PSO_REC_TOPIC, see, &v, &at), 0);
	assert_int_equal(at, r1);
	assert_int_equal(v.topics, 1);
	assert_string_equal(v.names[0], "1=old");
	/* Compacted past r1: no longer there; watch from before: -ENODATA */
	snprintf(arg, sizeof(arg), "compact %llu", (unsigned long long)r2);
	assert_int_equal(etcdctl(arg), 0);
	memset(&v, 0, sizeof(v));
	assert_int_equal(pso_store_list(s, r1, 0, see, &v, &at), -ENODATA);
	{
		uint64_t deadline = mono_ms() + 5000;
		int ret;

		/* the watch learns it from its stream */
		while ((ret = pso_store_watch(s, r1 - 1, see, &v, &next)) == 0) {
			struct pollfd p = { .fd = pso_store_watch_fd(s), .events = POLLIN };

			assert_true(mono_ms() < deadline);
			poll(&p, 1, 200);
		}
		assert_int_equal(ret, -ENODATA);
	}
	/* The caller lists again, and watches from there */
	memset(&v, 0, sizeof(v));
	assert_int_equal(pso_store_list(s, 0, 0, see, &v, &at), 0);
	assert_int_equal(v.topics, 2);
	assert_true(at >= r2);
	assert_int_equal(pso_store_watch(s, at, see, &v, &next), 0);
	pso_store_close(s);
}

/* Watch until want changes came, with a deadline. */
static void watch_until(struct pso_store *s, uint64_t *from, struct seen *v, int want_total,
			unsigned int ms)
{
	uint64_t deadline = mono_ms() + ms;

	for (;;) {
		struct pollfd p = { .fd = pso_store_watch_fd(s), .events = POLLIN };
		int ret = pso_store_watch(s, *from, see, v, from);

		if (ret)
			fail_msg("watch: %d", ret);
		if (v->topics + v->retained + v->sessions + v->raws + v->deletes >= want_total)
			return;
		if (mono_ms() > deadline)
			fail_msg("watch: %d of %d changes in %u ms", v->topics + v->retained +
				 v->sessions + v->raws + v->deletes, want_total, ms);
		poll(&p, 1, 100);
	}
}

static void test_watch(void **state)
{
	struct pso_store *s = open_in("t-watch"), *other = open_in("t-watch");
	struct seen v = { 0 };
	struct pso_store_key k = { .kind = PSO_REC_RETAINED, .id = 4 };
	uint64_t from, rev;

	assert_true(pso_store_watch_fd(s) >= 0);
	assert_int_equal(pso_store_list(s, 0, 0, see, &v, &from), 0);
	assert_int_equal(pso_store_watch(s, from, see, &v, &from), 0);
	/* Another broker writes: a topic, a retained message, its delete, a raw key */
	put_topic(other, 4, "w/x");
	put_retained(other, 4, "r");
	commit_ok(other, NULL);
	assert_int_equal(pso_store_delete(other, &k), 0);
	commit_ok(other, NULL);
	assert_int_equal(pso_store_raw_put(other, "members/b2", "{}", 2, 0, &rev), 0);
	watch_until(s, &from, &v, 4, 5000);
	assert_int_equal(v.topics, 1);
	assert_string_equal(v.names[0], "4=w/x");
	assert_int_equal(v.retained, 1);
	assert_int_equal(v.deletes, 1);
	assert_int_equal(v.raws, 1);
	assert_string_equal(v.raw_key, "members/b2");
	assert_int_equal(from, rev);
	/* Nothing more: nothing handed out again */
	memset(&v, 0, sizeof(v));
	assert_int_equal(pso_store_watch(s, from, see, &v, &from), 0);
	assert_int_equal(v.topics + v.retained + v.deletes + v.raws, 0);
	/* A walk stopped by its callback: the rest comes with the next call */
	put_topic(other, 5, "w/y");
	put_topic(other, 6, "w/z");
	put_retained(other, 6, "z");
	commit_ok(other, &rev);
	{
		uint64_t deadline = mono_ms() + 5000, next;
		int ret;

		memset(&v, 0, sizeof(v));
		while ((ret = pso_store_watch(s, from, see_one, &v, &next)) == 0) {
			struct pollfd p = { .fd = pso_store_watch_fd(s), .events = POLLIN };

			assert_true(mono_ms() < deadline);
			poll(&p, 1, 100);
		}
		assert_int_equal(ret, 1);
		assert_int_equal(v.topics, 1);
		from = next;
		watch_until(s, &from, &v, 3, 5000);
		assert_int_equal(v.topics, 2);
		assert_int_equal(v.retained, 1);
		assert_int_equal(from, rev);
	}
	pso_store_close(other);
	pso_store_close(s);
}

static struct pso_rec topic_rec(uint16_t id, const char *name)
{
	struct pso_rec r = { .kind = PSO_REC_TOPIC };

	r.t.id = id;
	r.t.name = strdup(name);
	return r;
}

static void test_cas(void **state)
{
	struct pso_store *s = open_in("t-cas");
	struct pso_store_key k = { .kind = PSO_REC_TOPIC, .id = 3 };
	struct pso_rec r;
	uint64_t rev1, rev2, mod;
	char buf[16];
	size_t len;

	/* the store takes rec, written or not: a new one for each call */
	r = topic_rec(3, "cas/1");
	assert_int_equal(pso_store_cas(s, &k, 0, &r, &rev1), 0);
	/* it exists now: "only if absent" fails, nothing written */
	r = topic_rec(3, "cas/2");
	assert_int_equal(pso_store_cas(s, &k, 0, &r, NULL), -ECANCELED);
	r = topic_rec(3, "cas/2");
	assert_int_equal(pso_store_cas(s, &k, rev1 + 100, &r, NULL), -ECANCELED);
	r = topic_rec(3, "cas/2");
	assert_int_equal(pso_store_cas(s, &k, rev1, &r, &rev2), 0);
	assert_true(rev2 > rev1);
	/* delete by CAS */
	assert_int_equal(pso_store_cas(s, &k, rev1, NULL, NULL), -ECANCELED);
	assert_int_equal(pso_store_cas(s, &k, rev2, NULL, NULL), 0);

	/* raw keys: the leader key */
	assert_int_equal(pso_store_raw_cas(s, "leader", 0, "b1", 2, 0, &rev1), 0);
	assert_int_equal(pso_store_raw_cas(s, "leader", 0, "b2", 2, 0, NULL), -ECANCELED);
	assert_int_equal(pso_store_raw_get(s, "leader", buf, sizeof(buf), &len, &mod, NULL), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(buf, "b1", 2);
	assert_int_equal(mod, rev1);
	assert_int_equal(pso_store_raw_get(s, "leader", buf, 1, &len, NULL, NULL), -ENOSPC);
	assert_int_equal(pso_store_raw_cas(s, "leader", mod, NULL, 0, 0, NULL), 0);
	assert_int_equal(pso_store_raw_get(s, "leader", buf, sizeof(buf), &len, NULL, NULL),
			 -ENOENT);
	assert_int_equal(pso_store_raw_put(s, "sessions/x", "x", 1, 0, NULL), -EINVAL);
	pso_store_close(s);
}

static uint64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_leases(void **state)
{
	struct pso_store *s = open_in("t-lease");
	uint64_t kept, revoked, lease_of;
	char buf[16];
	size_t len;
	struct seen v = { 0 };

	assert_int_equal(pso_store_lease_grant(s, 2, &kept), 0);
	assert_int_equal(pso_store_lease_grant(s, 30, &revoked), 0);
	assert_int_equal(pso_store_raw_put(s, "members/kept", "k", 1, kept, NULL), 0);
	assert_int_equal(pso_store_raw_put(s, "members/revoked", "r", 1, revoked, NULL), 0);
	assert_int_equal(pso_store_raw_get(s, "members/kept", buf, sizeof(buf), &len, NULL,
					   &lease_of), 0);
	assert_int_equal(lease_of, kept);
	/* a record under a lease too */
	{
		struct pso_rec r = { .kind = PSO_REC_RETAINED };

		r.r.topic_id = 9;
		r.r.len = 1;
		r.r.data = (uint8_t *)strdup("x");
		assert_int_equal(pso_store_put_leased(s, &r, revoked), 0);
		commit_ok(s, NULL);
	}
	assert_int_equal(pso_store_lease_revoke(s, revoked), 0);
	assert_int_equal(pso_store_raw_get(s, "members/revoked", buf, sizeof(buf), &len, NULL,
					   NULL), -ENOENT);
	assert_int_equal(pso_store_list(s, 0, PSO_REC_RETAINED, see, &v, NULL), 0);
	assert_int_equal(v.retained, 0);
	/* closing revokes what was granted here */
	pso_store_close(s);
	s = open_in("t-lease");
	assert_int_equal(pso_store_raw_get(s, "members/kept", buf, sizeof(buf), &len, NULL, NULL),
			 -ENOENT);	/* close revoked it */
	assert_int_equal(pso_store_lease_revoke(s, kept), -ENOENT);
	pso_store_close(s);
}

/* A lease not kept alive ends at its TTL; one kept alive by the tick
 * outlives it. */
static void test_lease_ttl(void **state)
{
	struct pso_store *s = open_in("t-ttl"), *other = open_in("t-ttl");
	uint64_t kept, lapsed, deadline, t0 = mono_ms();
	char buf[16];
	size_t len;
	int ret;

	assert_int_equal(pso_store_lease_grant(s, 2, &kept), 0);
	/* granted by "other", never kept alive by anyone */
	assert_int_equal(pso_store_lease_grant(other, 1, &lapsed), 0);
	assert_int_equal(pso_store_raw_put(s, "members/kept", "k", 1, kept, NULL), 0);
	assert_int_equal(pso_store_raw_put(s, "members/lapsed", "l", 1, lapsed, NULL), 0);
	deadline = t0 + 5000;
	while ((ret = pso_store_raw_get(s, "members/lapsed", buf, sizeof(buf), &len, NULL,
					NULL)) == 0) {
		assert_true(mono_ms() < deadline);
		pso_store_tick(s, unix_ms());
		pause_ms(100);
	}
	assert_int_equal(ret, -ENOENT);
	/* go on past twice kept's TTL, keeping it alive */
	while (mono_ms() < t0 + 4500) {
		pso_store_tick(s, unix_ms());
		pause_ms(100);
	}
	assert_int_equal(pso_store_raw_get(s, "members/kept", buf, sizeof(buf), &len, NULL, NULL),
			 0);
	assert_int_equal(pso_store_lease_keepalive(s, kept), 0);
	assert_int_equal(pso_store_lease_keepalive(s, lapsed), -ENOENT);
	/* other's close revokes its lease: already gone, no harm */
	pso_store_close(other);
	pso_store_close(s);
}

/* Two brokers claiming at the same instant. */
struct claim {
	struct pso_store *s;
	pthread_barrier_t *go;
	const char *name;
	uint16_t want, got;
	int ret;
};

static void *claimer(void *arg)
{
	struct claim *c = arg;

	pthread_barrier_wait(c->go);
	c->ret = pso_store_claim_topic(c->s, c->name, c->want, &c->got);
	return NULL;
}

static void claim_race(const char *cluster, const char *name_a, uint16_t want_a,
		       const char *name_b, uint16_t want_b, struct claim *a, struct claim *b)
{
	pthread_barrier_t go;
	pthread_t ta, tb;

	pthread_barrier_init(&go, NULL, 2);
	*a = (struct claim){ .s = open_in(cluster), .go = &go, .name = name_a, .want = want_a };
	*b = (struct claim){ .s = open_in(cluster), .go = &go, .name = name_b, .want = want_b };
	pthread_create(&ta, NULL, claimer, a);
	pthread_create(&tb, NULL, claimer, b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	pthread_barrier_destroy(&go);
	pso_store_close(a->s);
	pso_store_close(b->s);
}

static void test_claims(void **state)
{
	struct claim a, b;

	for (int round = 0; round < 10; round++) {
		char name[32], other[32], cluster[32];

		snprintf(cluster, sizeof(cluster), "t-claim-%d", round);
		snprintf(name, sizeof(name), "same/%d", round);
		/* one new name, two ids asked: one id for both */
		claim_race(cluster, name, 100, name, 200, &a, &b);
		assert_int_equal(a.ret, 0);
		assert_int_equal(b.ret, 0);
		assert_int_equal(a.got, b.got);
		assert_true(a.got == 100 || a.got == 200);
		/* two new names, one id asked: never shared */
		snprintf(name, sizeof(name), "x/%d", round);
		snprintf(other, sizeof(other), "y/%d", round);
		claim_race(cluster, name, 300, other, 300, &a, &b);
		assert_true((a.ret == 0) != (b.ret == 0));
		assert_int_equal(a.ret ? a.ret : b.ret, -EEXIST);
	}
	/* the SQLite backend: one process, what it asks is what it gets */
	{
		struct pso_store *s = NULL;
		uint16_t id;

		assert_int_equal(pso_store_open(&s, "none", 0, err, sizeof(err)), 0);
		assert_int_equal(pso_store_claim_topic(s, "n", 5, &id), 0);
		assert_int_equal(id, 5);
		assert_int_equal(pso_store_raw_get(s, "leader", NULL, 0, NULL, NULL, NULL),
				 -EOPNOTSUPP);
		pso_store_close(s);
	}
}

static void test_unreachable(void **state)
{
	struct pso_store *s = NULL;
	char spec[128];
	struct seen v = { 0 };
	uint64_t rev;
	int ret;

	/* At start: one line, an error */
	snprintf(spec, sizeof(spec), "etcd:http://127.0.0.1:%d", NO_ETCD_PORT);
	err[0] = '\0';
	ret = pso_store_open(&s, spec, 0, err, sizeof(err));
	assert_int_equal(ret, -EHOSTUNREACH);
	assert_non_null(strstr(err, "no member reachable"));
	assert_null(strchr(err, '\n'));
	assert_int_equal(pso_store_open(&s, "etcd:", 0, err, sizeof(err)), -EINVAL);
	assert_int_equal(pso_store_open(&s, "etcd:localhost:2379", 0, err, sizeof(err)), -EINVAL);
	assert_int_equal(pso_store_open(&s, "etcd:http://127.0.0.1:1", PSO_STORE_RESET, err,
					sizeof(err)), -EINVAL);

	/* Later: commits fail and stay queued, the stats say so; they are
	 * written once etcd is back. */
	s = open_in("t-unreach");
	member_stop(0, SIGKILL);
	put_topic(s, 8, "kept/queued");
	ret = pso_store_commit(s, NULL, err, sizeof(err));
	assert_int_equal(ret, -EHOSTUNREACH);
	assert_int_equal(pso_store_stats(s)->pending, 1);
	assert_false(pso_store_stats(s)->reachable);
	assert_int_equal(pso_store_stats(s)->errors, 1);
	assert_non_null(strstr(pso_store_stats(s)->last_error, "no member reachable"));
	/* the next round does not wait on a store that is gone */
	{
		uint64_t t0 = mono_ms();

		assert_int_equal(pso_store_commit(s, NULL, err, sizeof(err)), -EHOSTUNREACH);
		assert_true(mono_ms() - t0 < 100);
		assert_int_equal(pso_store_stats(s)->pending, 1);
	}
	member_start(0);
	wait_healthy(0);
	commit_ok(s, &rev);
	assert_true(pso_store_stats(s)->reachable);
	assert_int_equal(pso_store_stats(s)->pending, 0);
	assert_int_equal(pso_store_list(s, 0, PSO_REC_TOPIC, see, &v, NULL), 0);
	assert_int_equal(v.topics, 1);
	pso_store_close(s);
}

/* ---- three members ---- */

static void test_failover(void **state)
{
	struct pso_store *s = open_in("t-fail"), *w = open_in("t-fail");
	struct seen v = { 0 };
	uint64_t from, deadline;
	int ret;

	/* w's watch is on the first member (the one it talks to). */
	assert_int_equal(pso_store_list(w, 0, 0, see, &v, &from), 0);
	assert_int_equal(pso_store_watch(w, from, see, &v, &from), 0);
	put_topic(s, 1, "before");
	commit_ok(s, NULL);
	watch_until(w, &from, &v, 1, 5000);
	member_stop(0, SIGKILL);
	/* Commits go on through the others (an election may take a moment) */
	put_topic(s, 2, "after");
	deadline = mono_ms() + 10000;
	while ((ret = pso_store_commit(s, NULL, err, sizeof(err))) != 0) {
		if (mono_ms() > deadline)
			fail_msg("commit after the kill: %d %s", ret, err);
		pause_ms(100);
	}
	put_topic(s, 3, "after2");
	commit_ok(s, NULL);
	/* The watch resumed on another member, from where it was: both, no gap */
	watch_until(w, &from, &v, 3, 10000);
	assert_int_equal(v.topics, 3);
	assert_string_equal(v.names[1], "2=after");
	assert_string_equal(v.names[2], "3=after2");
	assert_true(pso_store_stats(s)->reachable);
	pso_store_close(w);
	pso_store_close(s);
	member_start(0);
	wait_healthy(0);
}

/* ---- the value format, without etcd ---- */

static void test_b64(void **state)
{
	static const struct {
		const char *in, *out;
	} rows[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	static const char *const bad[] = { "Zg=", "Z===", "Zm9v!A==", "=Zg=", "Zg==Zg==" };
	uint8_t bin[256], *back;
	char *text;
	size_t n;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		text = pso_b64_encode(rows[i].in, strlen(rows[i].in));
		assert_string_equal(text, rows[i].out);
		back = pso_b64_decode(text, strlen(text), &n);
		assert_non_null(back);
		assert_int_equal(n, strlen(rows[i].in));
		assert_memory_equal(back, rows[i].in, n);
		free(text);
		free(back);
	}
	for (int i = 0; i < 256; i++)
		bin[i] = (uint8_t)(255 - i);
	text = pso_b64_encode(bin, sizeof(bin));
	back = pso_b64_decode(text, strlen(text), &n);
	assert_int_equal(n, sizeof(bin));
	assert_memory_equal(back, bin, n);
	free(text);
	free(back);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (pso_b64_decode(bad[i], strlen(bad[i]), &n))
			fail_msg("'%s' decoded", bad[i]);
}

/* What another program (or a person with etcdctl) may have left is not
 * taken for a record. */
static void test_rec_json_refused(void **state)
{
	static const struct {
		enum pso_rec_kind kind;
		const char *text;
	} rows[] = {
		{ PSO_REC_TOPIC, "" },
		{ PSO_REC_TOPIC, "not json" },
		{ PSO_REC_TOPIC, "[1,2]" },
		{ PSO_REC_TOPIC, "{\"id\":0,\"name\":\"a\"}" },
		{ PSO_REC_TOPIC, "{\"id\":70000,\"name\":\"a\"}" },
		{ PSO_REC_TOPIC, "{\"id\":3}" },
		{ PSO_REC_TOPIC, "{\"id\":\"3\",\"name\":\"a\"}" },
		{ PSO_REC_RETAINED, "{\"topic_id\":3,\"flags\":0}" },
		{ PSO_REC_RETAINED, "{\"topic_id\":3,\"flags\":0,\"payload\":\"!!\"}" },
		{ PSO_REC_SESSION, "{}" },
		{ PSO_REC_SESSION, "{\"client_id\":\"123456789012345678901234\"}" },
		{ PSO_REC_SESSION, "{\"client_id\":\"c\",\"endpoint\":\"nowhere\"}" },
		{ PSO_REC_SESSION, "{\"client_id\":\"c\",\"subscriptions\":[{\"kind\":\"odd\"}]}" },
		{ PSO_REC_SESSION, "{\"client_id\":\"c\",\"qos2_pending\":[1,2,3,4,5,6,7,8,9,"
				   "10,11,12,13,14,15,16,17]}" },
		{ PSO_REC_SESSION, "{\"client_id\":\"c\",\"forwarder\":\"10.0.0.1:1\"}" },
	};
	struct pso_rec rec;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (pso_rec_from_json(rows[i].kind, rows[i].text, strlen(rows[i].text), &rec) !=
		    -EINVAL)
			fail_msg("row %zu taken: %s", i, rows[i].text);
		assert_int_equal(rec.kind, rows[i].kind);
	}
	/* and what it writes, it reads */
	{
		const char *ok = "{\"client_id\":\"c\",\"forwarder\":\"[fd00::1]:7\","
				 "\"fwd_node\":\"AQI=\",\"keepalive_s\":9}";

		assert_int_equal(pso_rec_from_json(PSO_REC_SESSION, ok, strlen(ok), &rec), 0);
		assert_int_equal(rec.s.fwd.node_len, 2);
		assert_int_equal(rec.s.fwd.node[1], 2);
		assert_int_equal(rec.s.fwd_ep.family, PSO_AF_INET6);
		assert_int_equal(rec.s.keepalive_s, 9);
		pso_rec_free(&rec);
	}
}

/* Two of three members stopped (SIGSTOP: their sockets still take
 * connections, nothing answers): the one left has no leader and says so at
 * once; commits fail within the request timeout, stay queued, and the
 * rounds after fail at once; the members continued: written. */
static void test_quorum_lost(void **state)
{
	struct pso_store *s = open_in("t-quorum");
	uint64_t t0, deadline;
	int ret;

	put_topic(s, 1, "q/before");
	commit_ok(s, NULL);
	kill(pids[1], SIGSTOP);
	kill(pids[2], SIGSTOP);
	pause_ms(1500);	/* three election timeouts: member 0 knows it is alone */
	put_topic(s, 2, "q/during");
	t0 = mono_ms();
	ret = pso_store_commit(s, NULL, err, sizeof(err));
	assert_true(ret == -EHOSTUNREACH || ret == -ETIMEDOUT);
	assert_true(mono_ms() - t0 < 3000 + 1500);
	assert_int_equal(pso_store_stats(s)->pending, 1);
	assert_false(pso_store_stats(s)->reachable);
	t0 = mono_ms();
	assert_int_not_equal(pso_store_commit(s, NULL, err, sizeof(err)), 0);
	assert_true(mono_ms() - t0 < 100);
	kill(pids[1], SIGCONT);
	kill(pids[2], SIGCONT);
	deadline = mono_ms() + 15000;
	while ((ret = pso_store_commit(s, NULL, err, sizeof(err))) != 0) {
		if (mono_ms() > deadline)
			fail_msg("commit after the members came back: %d %s", ret, err);
		pause_ms(100);
	}
	assert_int_equal(pso_store_stats(s)->pending, 0);
	assert_true(pso_store_stats(s)->reachable);
	pso_store_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_rec_json_refused),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_big_commit),
		cmocka_unit_test(test_list_at_compaction),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_cas),
		cmocka_unit_test(test_leases),
		cmocka_unit_test(test_lease_ttl),
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_unreachable),
		/* last: it takes the one member down and starts three */
		cmocka_unit_test_setup(test_failover, three_up),
		cmocka_unit_test(test_quorum_lost),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	return cmocka_run_group_tests_name("etcd: one member, then three", tests, one_up,
					   cluster_down);
}
