// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_store.c - the store (host/store/): SQLite in a temporary directory
 * and none.  Every record kind written, the file closed and opened again,
 * read back field by field; batching and coalescing; files it must refuse
 * (corrupt, not SQLite, another program's, a newer schema, in use) and
 * --store-reset over them; revisions, watch, compare-and-set, leases.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <sqlite3.h>
#include "store/store.h"

static char dir[256];
static char path[512];
static char spec[600];
static char err[512];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/pso-test-store.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sub/dir/state.db", dir);
	snprintf(spec, sizeof(spec), "sqlite:%s", path);
	err[0] = '\0';
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static struct pso_store *open_ok(const char *s, unsigned int flags)
{
	struct pso_store *st = NULL;
	int ret = pso_store_open(&st, s, flags, err, sizeof(err));

	if (ret)
		fail_msg("open %s: %d %s", s, ret, err);
	return st;
}

/* ---- records ---------------------------------------------------------------- */

static struct pso_rec topic_rec(uint16_t id, const char *name)
{
	struct pso_rec r = { .kind = PSO_REC_TOPIC, .t = { .id = id, .name = strdup(name) } };

	return r;
}

static struct pso_rec retained_rec(uint16_t id, const char *payload)
{
	struct pso_rec r = { .kind = PSO_REC_RETAINED,
			     .r = { .topic_id = id, .flags = 0x30, .len = strlen(payload),
				    .data = (uint8_t *)strdup(payload) } };

	return r;
}

/* A session with one of everything. */
static struct pso_rec full_session(const char *id, bool v6, bool forwarded)
{
	struct pso_rec r = { .kind = PSO_REC_SESSION };
	struct pso_rec_session *s = &r.s;

	snprintf(s->id, sizeof(s->id), "%s", id);
	s->clean = false;
	s->connected = true;
	s->asleep = true;
	if (forwarded) {
		s->fwd.ctrl = 1;
		s->fwd.node_len = 3;
		memcpy(s->fwd.node, "\x01\x02\x03", 3);
		s->fwd_ep.family = PSO_AF_INET;
		inet_pton(AF_INET, "10.1.2.3", s->fwd_ep.addr);
		s->fwd_ep.port = htons(4444);
		inet_pton(AF_INET6, "::ffff:10.1.2.1", &s->fwd_local.ipi6_addr);
		s->fwd_local.ipi6_ifindex = 9;
	} else if (v6) {
		s->ep.family = PSO_AF_INET6;
		inet_pton(AF_INET6, "fd77:1::11", s->ep.addr);
		s->ep.port = htons(50001);
		inet_pton(AF_INET6, "fd77:1::1", &s->local.ipi6_addr);
	} else {
		s->ep.family = PSO_AF_INET;
		inet_pton(AF_INET, "10.77.1.11", s->ep.addr);
		s->ep.port = htons(50000);
		inet_pton(AF_INET6, "::ffff:10.77.1.1", &s->local.ipi6_addr);
	}
	s->local.ipi6_ifindex = 7;
	s->keepalive_s = 60;
	s->sleep_s = 30;
	s->next_msg_id = 65535;
	s->lost_unix_ms = 1234567890123ull;
	s->nqos2 = 2;
	s->qos2[0] = 7;
	s->qos2[1] = 0xfffe;
	s->will_topic = strdup("will/t");
	s->will_flags = 0x30;
	s->will_msg = malloc(4);
	memcpy(s->will_msg, "\0gone", 4);
	s->will_len = 4;
	s->nsubs = 4;
	s->subs = calloc(4, sizeof(*s->subs));
	s->subs[0] = (struct pso_rec_sub){ .kind = 0, .qos = 1, .topic_id = 5, .filter = strdup("a/b") };
	s->subs[1] = (struct pso_rec_sub){ .kind = 1, .qos = 2, .topic_id = 0, .filter = strdup("x/#") };
	s->subs[2] = (struct pso_rec_sub){ .kind = 2, .qos = 0, .topic_id = 300 };
	s->subs[3] = (struct pso_rec_sub){ .kind = 3, .qos = 1, .topic_id = 9, .filter = strdup("zz") };
	s->ntold = 2;
	s->told = calloc(2, sizeof(*s->told));
	s->told[0] = 5;
	s->told[1] = 0x1234;
	s->nmsgs = 3;
	s->msgs = calloc(3, sizeof(*s->msgs));
	s->msgs[0] = (struct pso_rec_msg){ .box = PSO_BOX_OUTBOX, .state = 1, .sent_before = true,
					   .msg_id = 42, .flags = 0x20, .topic_field = 5, .len = 3,
					   .data = (uint8_t *)strdup("one") };
	s->msgs[1] = (struct pso_rec_msg){ .box = PSO_BOX_OUTBOX, .state = 0, .msg_id = 0,
					   .flags = 0x40, .topic_field = 6, .len = 0,
					   .data = malloc(1) };
	s->msgs[2] = (struct pso_rec_msg){ .box = PSO_BOX_SLEEP, .flags = 0x02,
					   .topic_field = 0x7a7a, .len = 2,
					   .data = (uint8_t *)strdup("zz") };
	s->validation_len = 3;
	s->validation = malloc(3);
	memcpy(s->validation, "\x09\x08\x07", 3);
	return r;
}

static void assert_session_equal(const struct pso_rec_session *a, const struct pso_rec_session *b)
{
	assert_string_equal(a->id, b->id);
	assert_int_equal(a->clean, b->clean);
	assert_int_equal(a->connected, b->connected);
	assert_int_equal(a->asleep, b->asleep);
	assert_memory_equal(&a->ep, &b->ep, sizeof(a->ep));
	assert_memory_equal(&a->local.ipi6_addr, &b->local.ipi6_addr, 16);
	assert_int_equal(a->local.ipi6_ifindex, b->local.ipi6_ifindex);
	assert_int_equal(a->fwd.node_len, b->fwd.node_len);
	assert_memory_equal(a->fwd.node, b->fwd.node, a->fwd.node_len);
	if (a->fwd.node_len) {
		assert_int_equal(a->fwd.ctrl, b->fwd.ctrl);
		assert_memory_equal(&a->fwd_ep, &b->fwd_ep, sizeof(a->fwd_ep));
		assert_memory_equal(&a->fwd_local.ipi6_addr, &b->fwd_local.ipi6_addr, 16);
		assert_int_equal(a->fwd_local.ipi6_ifindex, b->fwd_local.ipi6_ifindex);
	}
	assert_int_equal(a->keepalive_s, b->keepalive_s);
	assert_int_equal(a->sleep_s, b->sleep_s);
	assert_int_equal(a->next_msg_id, b->next_msg_id);
	assert_int_equal(a->lost_unix_ms, b->lost_unix_ms);
	assert_int_equal(a->nqos2, b->nqos2);
	assert_memory_equal(a->qos2, b->qos2, a->nqos2 * sizeof(a->qos2[0]));
	assert_string_equal(a->will_topic, b->will_topic);
	assert_int_equal(a->will_flags, b->will_flags);
	assert_int_equal(a->will_len, b->will_len);
	assert_memory_equal(a->will_msg, b->will_msg, a->will_len);
	assert_int_equal(a->nsubs, b->nsubs);
	for (int i = 0; i < a->nsubs; i++) {
		assert_int_equal(a->subs[i].kind, b->subs[i].kind);
		assert_int_equal(a->subs[i].qos, b->subs[i].qos);
		assert_int_equal(a->subs[i].topic_id, b->subs[i].topic_id);
		if (a->subs[i].filter)
			assert_string_equal(a->subs[i].filter, b->subs[i].filter);
		else
			assert_null(b->subs[i].filter);
	}
	assert_int_equal(a->ntold, b->ntold);
	assert_memory_equal(a->told, b->told, a->ntold * sizeof(a->told[0]));
	assert_int_equal(a->nmsgs, b->nmsgs);
	for (int i = 0; i < a->nmsgs; i++) {
		const struct pso_rec_msg *x = &a->msgs[i], *y = &b->msgs[i];

		assert_int_equal(x->box, y->box);
		assert_int_equal(x->state, y->state);
		assert_int_equal(x->sent_before, y->sent_before);
		assert_int_equal(x->msg_id, y->msg_id);
		assert_int_equal(x->flags, y->flags);
		assert_int_equal(x->topic_field, y->topic_field);
		assert_int_equal(x->len, y->len);
		assert_memory_equal(x->data, y->data, x->len);
	}
	assert_int_equal(a->validation_len, b->validation_len);
	assert_memory_equal(a->validation, b->validation, a->validation_len);
}

/* What a load or a watch handed out, copied. */
#define MAX_SEEN 2048
struct seen {
	int n;
	struct {
		bool deleted;
		enum pso_rec_kind kind;
		char key[64];
		uint64_t create_rev, mod_rev, lease;
	} it[MAX_SEEN];
	struct pso_rec sessions[8];
	int nsessions;
	char topic_names[8][32];
	char retained[8][32];
};

static int collect(const struct pso_store_item *it, void *ctx)
{
	struct seen *s = ctx;
	struct pso_store_key k = pso_store_key_of(it->rec);

	assert_true(s->n < MAX_SEEN);
	s->it[s->n].deleted = it->deleted;
	s->it[s->n].kind = it->rec->kind;
	if (k.kind == PSO_REC_SESSION)
		snprintf(s->it[s->n].key, sizeof(s->it[0].key), "%s", k.client_id);
	else
		snprintf(s->it[s->n].key, sizeof(s->it[0].key), "%u", k.id);
	s->it[s->n].create_rev = it->create_rev;
	s->it[s->n].mod_rev = it->mod_rev;
	s->it[s->n].lease = it->lease;
	if (!it->deleted && it->rec->kind == PSO_REC_SESSION && s->nsessions < 8) {
		/* Deep copy through the store's own record: move it out. */
		struct pso_rec *r = &s->sessions[s->nsessions++];

		*r = *it->rec;
		memset((struct pso_rec *)it->rec, 0, sizeof(*r));
		r->kind = PSO_REC_SESSION;
	}
	if (!it->deleted && it->rec->kind == PSO_REC_TOPIC && it->rec->t.id < 8)
		snprintf(s->topic_names[it->rec->t.id], 32, "%s", it->rec->t.name);
	if (!it->deleted && it->rec->kind == PSO_REC_RETAINED && it->rec->r.topic_id < 8)
		snprintf(s->retained[it->rec->r.topic_id], 32, "%.*s", (int)it->rec->r.len,
			 it->rec->r.data);
	s->n++;
	return 0;
}

static void seen_free(struct seen *s)
{
	for (int i = 0; i < s->nsessions; i++)
		pso_rec_free(&s->sessions[i]);
	free(s);
}

static struct seen *load(struct pso_store *st, uint64_t *rev)
{
	struct seen *s = calloc(1, sizeof(*s));

	assert_int_equal(pso_store_load(st, collect, s, rev, err, sizeof(err)), 0);
	return s;
}

/* ---- tests -------------------------------------------------------------------- */

/* Each kind, written, the file closed and opened again: the same records,
 * topics first, then retained messages, then sessions. */
static void t_round_trip(void **state)
{
	struct pso_store *st = open_ok(spec, 0);
	struct pso_rec t1 = topic_rec(1, "a/b"), t2 = topic_rec(2, "x/y"), r1 = retained_rec(2, "kept");
	struct pso_rec s4 = full_session("c-v4", false, false), s6 = full_session("c-v6", true, false);
	struct pso_rec sf = full_session("c-fwd", false, true);
	struct pso_rec w4 = full_session("c-v4", false, false), w6 = full_session("c-v6", true, false);
	struct pso_rec wf = full_session("c-fwd", false, true);
	struct pso_rec offline = { .kind = PSO_REC_SESSION };
	struct seen *seen;
	uint64_t rev;

	snprintf(offline.s.id, sizeof(offline.s.id), "%s", "c-offline");
	offline.s.lost_unix_ms = 99;
	assert_true(pso_store_persistent(st));
	assert_int_equal(pso_store_put(st, &t1), 0);
	assert_int_equal(pso_store_put(st, &t2), 0);
	assert_int_equal(pso_store_put(st, &r1), 0);
	assert_int_equal(pso_store_put(st, &s4), 0);
	assert_int_equal(pso_store_put(st, &s6), 0);
	assert_int_equal(pso_store_put(st, &sf), 0);
	assert_int_equal(pso_store_put(st, &offline), 0);
	assert_int_equal(pso_store_commit(st, &rev, err, sizeof(err)), 0);
	assert_int_equal(rev, 1);
	pso_store_close(st);

	st = open_ok(spec, 0);
	seen = load(st, &rev);
	assert_int_equal(rev, 1);
	assert_int_equal(seen->n, 7);
	assert_int_equal(seen->it[0].kind, PSO_REC_TOPIC);
	assert_int_equal(seen->it[1].kind, PSO_REC_TOPIC);
	assert_int_equal(seen->it[2].kind, PSO_REC_RETAINED);
	for (int i = 3; i < 7; i++)
		assert_int_equal(seen->it[i].kind, PSO_REC_SESSION);
	assert_string_equal(seen->topic_names[1], "a/b");
	assert_string_equal(seen->topic_names[2], "x/y");
	assert_string_equal(seen->retained[2], "kept");
	assert_int_equal(seen->it[0].create_rev, 1);
	assert_int_equal(seen->it[0].mod_rev, 1);
	/* sessions come in client id order */
	assert_int_equal(seen->nsessions, 4);
	assert_session_equal(&wf.s, &seen->sessions[0].s);
	assert_string_equal(seen->sessions[1].s.id, "c-offline");
	assert_false(seen->sessions[1].s.connected);
	assert_null(seen->sessions[1].s.will_topic);
	assert_int_equal(seen->sessions[1].s.lost_unix_ms, 99);
	assert_session_equal(&w4.s, &seen->sessions[2].s);
	assert_session_equal(&w6.s, &seen->sessions[3].s);
	assert_int_equal(pso_store_stats(st)->loaded[PSO_REC_SESSION], 4);
	assert_int_equal(pso_store_stats(st)->loaded[PSO_REC_TOPIC], 2);
	assert_int_equal(pso_store_stats(st)->loaded[PSO_REC_RETAINED], 1);
	seen_free(seen);
	pso_rec_free(&w4);
	pso_rec_free(&w6);
	pso_rec_free(&wf);
	pso_store_close(st);
}

/* Many changes, one transaction, one revision; a key changed twice in a
 * batch is written once, as it was last; a delete removes it. */
static void t_batching(void **state)
{
	struct pso_store *st = open_ok(spec, 0);
	struct pso_store_key k = { .kind = PSO_REC_SESSION, .client_id = "c-17" };
	struct seen *seen;
	uint64_t rev;

	for (int i = 0; i < 500; i++) {
		struct pso_rec r = { .kind = PSO_REC_SESSION };

		snprintf(r.s.id, sizeof(r.s.id), "c-%d", i % 250);
		r.s.keepalive_s = (uint16_t)i;
		assert_int_equal(pso_store_put(st, &r), 0);
	}
	assert_int_equal(pso_store_stats(st)->pending, 250);
	assert_int_equal(pso_store_commit(st, &rev, err, sizeof(err)), 0);
	assert_int_equal(rev, 1);
	assert_int_equal(pso_store_stats(st)->commits, 1);
	assert_int_equal(pso_store_stats(st)->puts, 250);
	assert_int_equal(pso_store_stats(st)->pending, 0);
	assert_true(pso_store_stats(st)->last_write_unix_ms > 0);
	/* nothing queued: nothing written, no new revision */
	assert_int_equal(pso_store_commit(st, &rev, err, sizeof(err)), 0);
	assert_int_equal(rev, 1);
	assert_int_equal(pso_store_delete(st, &k), 0);
	assert_int_equal(pso_store_commit(st, &rev, err, sizeof(err)), 0);
	assert_int_equal(rev, 2);
	pso_store_close(st);

	st = open_ok(spec, 0);
	seen = load(st, &rev);
	assert_int_equal(rev, 2);
	assert_int_equal(seen->n, 249);
	for (int i = 0; i < seen->nsessions; i++) {
		int n = atoi(seen->sessions[i].s.id + 2);

		assert_int_equal(seen->sessions[i].s.keepalive_s, 250 + n);	/* the later */
	}
	for (int i = 0; i < seen->n; i++)
		assert_string_not_equal(seen->it[i].key, "c-17");
	seen_free(seen);
	pso_store_close(st);
}

static void write_file(const char *p, const void *data, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void make_store(int sessions)
{
	struct pso_store *st = open_ok(spec, 0);

	for (int i = 0; i < sessions; i++) {
		struct pso_rec r = full_session("x", false, false);

		snprintf(r.s.id, sizeof(r.s.id), "client-%04d", i);
		assert_int_equal(pso_store_put(st, &r), 0);
	}
	assert_int_equal(pso_store_commit(st, NULL, err, sizeof(err)), 0);
	pso_store_close(st);
}

static void open_refused(int want, const char *words)
{
	struct pso_store *st = NULL;
	int ret = pso_store_open(&st, spec, 0, err, sizeof(err));

	if (ret != want || !strstr(err, words))
		fail_msg("want %d '%s', got %d '%s'", want, words, ret, err);
	assert_null(st);
	assert_non_null(strstr(err, path));	/* names the file */
	assert_null(strchr(err, '\n'));		/* one line */
}

/* Not SQLite at all: refused, left as it was. */
static void t_foreign_text(void **state)
{
	struct stat a, b;

	make_store(0);
	write_file(path, "hello, this is my diary\n", 24);
	stat(path, &a);
	open_refused(-EUCLEAN, "not an SQLite database");
	stat(path, &b);
	assert_int_equal(a.st_size, b.st_size);
}

/* An SQLite database of some other program. */
static void t_foreign_sqlite(void **state)
{
	sqlite3 *db;

	make_store(0);
	unlink(path);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE photos (id INTEGER); "
				      "INSERT INTO photos VALUES (1)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	open_refused(-EUCLEAN, "another program");
	/* still that program's */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "SELECT * FROM photos", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void set_version(int v)
{
	sqlite3 *db;
	char q[128];

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(q, sizeof(q), "UPDATE schema_version SET version = %d", v);
	assert_int_equal(sqlite3_exec(db, q, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Written by a newer psoffload, or an older layout: refused, untouched. */
static void t_schema_version(void **state)
{
	make_store(1);
	set_version(3);
	open_refused(-EUCLEAN, "newer psoffload (schema version 3; this one reads 2)");
	set_version(1);	/* version 1 kept lists in tables of their own */
	open_refused(-EUCLEAN, "cannot upgrade");
	set_version(0);
	open_refused(-EUCLEAN, "cannot upgrade");
	set_version(2);
	pso_store_close(open_ok(spec, 0));
}

/* Pages overwritten: corrupt, refused. */
static void t_corrupt(void **state)
{
	char junk[4096];
	int fd;

	make_store(300);
	memset(junk, 0xa5, sizeof(junk));
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	/* everything after the first page (the header stays) */
	for (int i = 1; i < 16; i++)
		assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)i * 4096), (ssize_t)sizeof(junk));
	close(fd);
	open_refused(-EUCLEAN, "corrupt");
}

static int count_set_aside(void)
{
	char d[512];
	struct dirent *e;
	DIR *dh;
	int n = 0;

	snprintf(d, sizeof(d), "%s/sub/dir", dir);
	dh = opendir(d);
	assert_non_null(dh);
	while ((e = readdir(dh)))
		if (strstr(e->d_name, "state.db.set-aside-") && !strstr(e->d_name, "-wal"))
			n++;
	closedir(dh);
	return n;
}

/* --store-reset: the bad file is set aside (kept), the store starts empty. */
static void t_reset(void **state)
{
	struct pso_store *st;
	struct seen *seen;
	uint64_t rev;

	make_store(0);
	write_file(path, "not a database at all, really not", 33);
	open_refused(-EUCLEAN, "not an SQLite database");
	assert_int_equal(count_set_aside(), 0);
	st = open_ok(spec, PSO_STORE_RESET);
	seen = load(st, &rev);
	assert_int_equal(seen->n, 0);
	assert_int_equal(rev, 0);
	seen_free(seen);
	pso_store_close(st);
	assert_int_equal(count_set_aside(), 1);
}

/* One broker per file: a second open is refused while the first holds it. */
static void t_in_use(void **state)
{
	struct pso_store *a = open_ok(spec, 0), *b = NULL;

	assert_int_equal(pso_store_open(&b, spec, 0, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "in use"));
	pso_store_close(a);
	pso_store_close(open_ok(spec, 0));
}

/* The directory is made when missing; a bad spec is refused. */
static void t_spec(void **state)
{
	char why[128], buf[256];
	struct pso_store *st = NULL;
	struct stat sb;

	assert_int_equal(stat(path, &sb), -1);
	pso_store_close(open_ok(spec, 0));
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(pso_store_spec_check("none", why, sizeof(why)), 0);
	assert_int_equal(pso_store_spec_check("sqlite:/x/y.db", why, sizeof(why)), 0);
	assert_int_equal(pso_store_spec_check("sqlite:", why, sizeof(why)), -EINVAL);
	assert_int_equal(pso_store_spec_check("sqlite", why, sizeof(why)), -EINVAL);
	assert_int_equal(pso_store_spec_check("none:x", why, sizeof(why)), -EINVAL);
	assert_int_equal(pso_store_spec_check("etcd-ish", why, sizeof(why)), -EINVAL);
	assert_int_equal(pso_store_open(&st, "mysql:foo", 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad store 'mysql:foo'"));
	pso_store_default_spec("psoffload", buf, sizeof(buf));
	assert_string_equal(buf, "sqlite:/var/lib/psoffload/state.db");
	pso_store_default_spec("edge-7", buf, sizeof(buf));
	assert_string_equal(buf, "sqlite:/var/lib/psoffload/edge-7.db");
}

/* none: nothing kept; what needs a store that keeps answers -EOPNOTSUPP. */
static void t_none(void **state)
{
	struct pso_store *st = open_ok("none", 0);
	struct pso_rec t = topic_rec(1, "a");
	struct seen *seen;
	uint64_t rev, lease;

	assert_false(pso_store_persistent(st));
	assert_int_equal(pso_store_put(st, &t), 0);
	assert_int_equal(pso_store_commit(st, &rev, err, sizeof(err)), 0);
	assert_int_equal(rev, 1);
	seen = load(st, &rev);
	assert_int_equal(seen->n, 0);
	seen_free(seen);
	assert_int_equal(pso_store_watch(st, 0, collect, NULL, &rev), -EOPNOTSUPP);
	assert_int_equal(pso_store_lease_grant(st, 5, &lease), -EOPNOTSUPP);
	pso_store_close(st);
}

/* Watch: every change after a revision, in order; after the log was
 * trimmed, -ENODATA (list again), never a silent gap.  List at an old
 * revision: -ENODATA too. */
static void t_watch(void **state)
{
	struct pso_store *st = open_ok(spec, 0);
	struct pso_store_key k1 = { .kind = PSO_REC_TOPIC, .id = 1 };
	struct seen *seen = calloc(1, sizeof(*seen));
	uint64_t rev, next;
	struct pso_rec r;

	r = topic_rec(1, "a");
	pso_store_put(st, &r);
	r = topic_rec(2, "b");
	pso_store_put(st, &r);
	assert_int_equal(pso_store_commit(st, &rev, err, sizeof(err)), 0);	/* 1 */
	r = retained_rec(2, "v");
	pso_store_put(st, &r);
	pso_store_delete(st, &k1);
	assert_int_equal(pso_store_commit(st, &rev, err, sizeof(err)), 0);	/* 2 */
	assert_int_equal(pso_store_watch(st, 1, collect, seen, &next), 0);
	assert_int_equal(next, 2);
	assert_int_equal(seen->n, 2);
	assert_int_equal(seen->it[0].kind, PSO_REC_RETAINED);
	assert_false(seen->it[0].deleted);
	assert_int_equal(seen->it[0].mod_rev, 2);
	assert_int_equal(seen->it[1].kind, PSO_REC_TOPIC);
	assert_true(seen->it[1].deleted);
	assert_string_equal(seen->it[1].key, "1");
	seen->n = 0;
	assert_int_equal(pso_store_watch(st, 2, collect, seen, &next), 0);
	assert_int_equal(seen->n, 0);
	assert_int_equal(pso_store_list(st, 1, 0, collect, seen, &next), -ENODATA);
	assert_int_equal(pso_store_list(st, 0, PSO_REC_TOPIC, collect, seen, &next), 0);
	assert_int_equal(seen->n, 1);
	assert_int_equal(next, 2);
	/* many revisions later, revision 1's successors are gone from the log */
	for (int i = 0; i < 1100; i++) {
		r = retained_rec(2, "again");
		pso_store_put(st, &r);
		assert_int_equal(pso_store_commit(st, NULL, err, sizeof(err)), 0);
	}
	assert_int_equal(pso_store_watch(st, 1, collect, seen, &next), -ENODATA);
	seen->n = 0;
	assert_int_equal(pso_store_watch(st, 1090, collect, seen, &next), 0);
	assert_int_equal(seen->n, 12);
	seen_free(seen);
	pso_store_close(st);
}

/* Compare-and-set by mod revision; 0: only if the key is not there. */
static void t_cas(void **state)
{
	struct pso_store *st = open_ok(spec, 0);
	struct pso_store_key k = { .kind = PSO_REC_TOPIC, .id = 7 };
	struct pso_rec r = topic_rec(7, "first");
	uint64_t rev, rev2;

	assert_int_equal(pso_store_cas(st, &k, 0, &r, &rev), 0);
	assert_int_equal(rev, 1);
	r = topic_rec(7, "second");
	assert_int_equal(pso_store_cas(st, &k, 0, &r, &rev2), -ECANCELED);
	pso_rec_free(&r);
	r = topic_rec(7, "second");
	assert_int_equal(pso_store_cas(st, &k, 5, &r, &rev2), -ECANCELED);
	pso_rec_free(&r);
	r = topic_rec(7, "second");
	assert_int_equal(pso_store_cas(st, &k, rev, &r, &rev2), 0);
	assert_int_equal(rev2, 2);
	assert_int_equal(pso_store_cas(st, &k, rev, NULL, &rev2), -ECANCELED);
	assert_int_equal(pso_store_cas(st, &k, 2, NULL, &rev2), 0);
	assert_int_equal(pso_store_cas(st, &k, 0, NULL, &rev2), 0);	/* absent, as expected */
	pso_store_close(st);
}

/* A lease not kept alive ends with its records; the others stay. */
static void t_leases(void **state)
{
	struct pso_store *st = open_ok(spec, 0);
	struct pso_rec r;
	struct seen *seen;
	uint64_t lease, other, rev;

	assert_int_equal(pso_store_lease_grant(st, 1, &lease), 0);
	assert_int_equal(pso_store_lease_grant(st, 3600, &other), 0);
	assert_true(lease != other);
	r = topic_rec(1, "leased");
	assert_int_equal(pso_store_put_leased(st, &r, lease), 0);
	r = topic_rec(2, "kept");
	assert_int_equal(pso_store_put_leased(st, &r, other), 0);
	r = topic_rec(3, "plain");
	assert_int_equal(pso_store_put(st, &r), 0);
	assert_int_equal(pso_store_commit(st, NULL, err, sizeof(err)), 0);
	assert_int_equal(pso_store_lease_keepalive(st, lease), 0);
	assert_int_equal(pso_store_lease_keepalive(st, 9999), -ENOENT);
	pso_store_tick(st, (uint64_t)time(NULL) * 1000);	/* not yet */
	seen = load(st, &rev);
	assert_int_equal(seen->n, 3);
	assert_int_equal(seen->it[0].lease, lease);
	seen_free(seen);
	pso_store_tick(st, (uint64_t)time(NULL) * 1000 + 5000);
	seen = load(st, &rev);
	assert_int_equal(seen->n, 2);
	assert_string_equal(seen->topic_names[2], "kept");
	assert_string_equal(seen->topic_names[3], "plain");
	assert_int_equal(pso_store_lease_keepalive(st, lease), -ENOENT);
	seen_free(seen);
	assert_int_equal(pso_store_lease_revoke(st, other), 0);
	seen = load(st, &rev);
	assert_int_equal(seen->n, 1);
	seen_free(seen);
	pso_store_close(st);
}

/* A commit that fails keeps its changes queued for the next. */
static void t_commit_fails(void **state)
{
	struct pso_store *st = open_ok(spec, 0);
	struct pso_rec r = topic_rec(1, "a"), dup = topic_rec(2, "a");
	struct seen *seen;
	uint64_t rev;

	/* two ids with one name: the UNIQUE constraint refuses the batch */
	pso_store_put(st, &r);
	pso_store_put(st, &dup);
	assert_int_not_equal(pso_store_commit(st, &rev, err, sizeof(err)), 0);
	assert_non_null(strstr(err, path));
	assert_int_equal(pso_store_stats(st)->errors, 1);
	assert_int_equal(pso_store_stats(st)->pending, 2);
	assert_int_equal(pso_store_stats(st)->revision, 0);
	/* the newer change of id 2 replaces the queued one: it goes through */
	dup = topic_rec(2, "b");
	pso_store_put(st, &dup);
	assert_int_equal(pso_store_commit(st, &rev, err, sizeof(err)), 0);
	assert_int_equal(rev, 1);
	seen = load(st, &rev);
	assert_string_equal(seen->topic_names[1], "a");
	assert_string_equal(seen->topic_names[2], "b");
	seen_free(seen);
	pso_store_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(t_batching, setup, teardown),
		cmocka_unit_test_setup_teardown(t_foreign_text, setup, teardown),
		cmocka_unit_test_setup_teardown(t_foreign_sqlite, setup, teardown),
		cmocka_unit_test_setup_teardown(t_schema_version, setup, teardown),
		cmocka_unit_test_setup_teardown(t_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(t_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(t_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(t_spec, setup, teardown),
		cmocka_unit_test_setup_teardown(t_none, setup, teardown),
		cmocka_unit_test_setup_teardown(t_watch, setup, teardown),
		cmocka_unit_test_setup_teardown(t_cas, setup, teardown),
		cmocka_unit_test_setup_teardown(t_leases, setup, teardown),
		cmocka_unit_test_setup_teardown(t_commit_fails, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
