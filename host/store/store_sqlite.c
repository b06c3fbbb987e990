// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * store_sqlite.c - --store=sqlite:PATH: the records in an SQLite database.
 *
 * The file: WAL journal, synchronous=NORMAL (a commit is durable once the
 * WAL is synced at a checkpoint; a crash of the process loses nothing, a
 * power cut at most the last commits), locking_mode=EXCLUSIVE (the broker
 * holds the file for as long as it runs: a second broker on the same file
 * is refused at open; the WAL index lives in the heap, no -shm file).
 * PRAGMA application_id marks the file as psoffload's; the table
 * schema_version says which layout it has.  The layout (version 1):
 *
 *   schema_version(version, written_by)
 *   meta(key, value)              'revision': the store's; 'compacted': the
 *                                 change log holds nothing at or below it
 *   topics(id, name, create_rev, mod_rev, lease)
 *   retained(topic_id, flags, payload, create_rev, mod_rev, lease)
 *   sessions(client_id, clean, connected, asleep, endpoint, local_addr,
 *            local_ifindex, forwarder, fwd_node, fwd_ctrl, fwd_local_addr,
 *            fwd_local_ifindex, keepalive_s, sleep_s, next_msg_id,
 *            lost_unix_ms, qos2_pending, will_topic, will_flags, will_msg,
 *            told, validation, create_rev, mod_rev, lease)
 *   subscriptions(client_id, seq, kind, filter, topic_id, qos)
 *   messages(client_id, seq, box, state, sent_before, msg_id, flags,
 *            topic_field, payload)
 *   changes(rev, kind, key, deleted)   the change log that watch reads
 *   leases(id, ttl_s, expires_unix_ms)
 *
 * Endpoints and addresses are text ("10.0.0.1:1883", "[fd00::1]:1883",
 * "::ffff:10.0.0.1"), lists of topic or message ids big-endian 16-bit
 * blobs, so that `sqlite3 state.db` shows a store a person can read.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <sqlite3.h>
#include "store/backend.h"
#include "util/log.h"

#define SQ_APP_ID 0x50534f46u	/* "PSOF" */
#define SQ_SCHEMA 1
/* The change log keeps this many revisions for watch. */
#define SQ_LOG_KEEP 1000

enum {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
	ST_SESSION_PUT, ST_SESSION_DEL, ST_SUBS_DEL, ST_SUB_PUT, ST_MSGS_DEL, ST_MSG_PUT,
	ST_TOPIC_PUT, ST_TOPIC_DEL, ST_RET_PUT, ST_RET_DEL,
	ST_CHANGE, ST_PRUNE, ST_META_SET,
	ST_TOPICS, ST_RETAINED, ST_SESSIONS, ST_SUBS_OF, ST_MSGS_OF,
	ST_TOPIC_ONE, ST_RET_ONE, ST_SESSION_ONE,
	ST_CHANGES_AFTER,
	ST_MODREV_TOPIC, ST_MODREV_RET, ST_MODREV_SESSION,
	ST_LEASE_ADD, ST_LEASE_KEEP, ST_LEASE_DEL, ST_LEASE_EXPIRED, ST_LEASE_RECS,
	ST__N
};

#define SESSION_COLS \
	"client_id, clean, connected, asleep, endpoint, local_addr, local_ifindex, forwarder, " \
	"fwd_node, fwd_ctrl, fwd_local_addr, fwd_local_ifindex, keepalive_s, sleep_s, "        \
	"next_msg_id, lost_unix_ms, qos2_pending, will_topic, will_flags, will_msg, told, "     \
	"validation"
#define TOPIC_COLS "id, name"
#define RET_COLS "topic_id, flags, payload"
#define REV_COLS "create_rev, mod_rev, lease"

static const char *const sql[ST__N] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SESSION_PUT] =
		"INSERT INTO sessions (" SESSION_COLS ", " REV_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, "
		"?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, "
		"?23, ?23, ?24) ON CONFLICT (client_id) DO UPDATE SET clean = ?2, connected = ?3, "
		"asleep = ?4, endpoint = ?5, local_addr = ?6, local_ifindex = ?7, forwarder = ?8, "
		"fwd_node = ?9, fwd_ctrl = ?10, fwd_local_addr = ?11, fwd_local_ifindex = ?12, "
		"keepalive_s = ?13, sleep_s = ?14, next_msg_id = ?15, lost_unix_ms = ?16, "
		"qos2_pending = ?17, will_topic = ?18, will_flags = ?19, will_msg = ?20, told = ?21, "
		"validation = ?22, mod_rev = ?23, lease = ?24",
	[ST_SESSION_DEL] = "DELETE FROM sessions WHERE client_id = ?1",
	[ST_SUBS_DEL] = "DELETE FROM subscriptions WHERE client_id = ?1",
	[ST_SUB_PUT] = "INSERT INTO subscriptions (client_id, seq, kind, filter, topic_id, qos) "
		       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_MSGS_DEL] = "DELETE FROM messages WHERE client_id = ?1",
	[ST_MSG_PUT] = "INSERT INTO messages (client_id, seq, box, state, sent_before, msg_id, "
		       "flags, topic_field, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[ST_TOPIC_PUT] = "INSERT INTO topics (" TOPIC_COLS ", " REV_COLS ") VALUES (?1, ?2, ?3, "
			 "?3, ?4) ON CONFLICT (id) DO UPDATE SET name = ?2, mod_rev = ?3, lease = ?4",
	[ST_TOPIC_DEL] = "DELETE FROM topics WHERE id = ?1",
	[ST_RET_PUT] = "INSERT INTO retained (" RET_COLS ", " REV_COLS ") VALUES (?1, ?2, ?3, ?4, "
		       "?4, ?5) ON CONFLICT (topic_id) DO UPDATE SET flags = ?2, payload = ?3, "
		       "mod_rev = ?4, lease = ?5",
	[ST_RET_DEL] = "DELETE FROM retained WHERE topic_id = ?1",
	[ST_CHANGE] = "INSERT INTO changes (rev, kind, key, deleted) VALUES (?1, ?2, ?3, ?4)",
	[ST_PRUNE] = "DELETE FROM changes WHERE rev <= ?1",
	[ST_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
			"ON CONFLICT (key) DO UPDATE SET value = ?2",
	[ST_TOPICS] = "SELECT " TOPIC_COLS ", " REV_COLS " FROM topics ORDER BY id",
	[ST_RETAINED] = "SELECT " RET_COLS ", " REV_COLS " FROM retained ORDER BY topic_id",
	[ST_SESSIONS] = "SELECT " SESSION_COLS ", " REV_COLS " FROM sessions ORDER BY client_id",
	[ST_SUBS_OF] = "SELECT kind, filter, topic_id, qos FROM subscriptions "
		       "WHERE client_id = ?1 ORDER BY seq",
	[ST_MSGS_OF] = "SELECT box, state, sent_before, msg_id, flags, topic_field, payload "
		       "FROM messages WHERE client_id = ?1 ORDER BY seq",
	[ST_TOPIC_ONE] = "SELECT " TOPIC_COLS ", " REV_COLS " FROM topics WHERE id = ?1",
	[ST_RET_ONE] = "SELECT " RET_COLS ", " REV_COLS " FROM retained WHERE topic_id = ?1",
	[ST_SESSION_ONE] = "SELECT " SESSION_COLS ", " REV_COLS " FROM sessions "
			   "WHERE client_id = ?1",
	[ST_CHANGES_AFTER] = "SELECT rev, kind, key, deleted FROM changes WHERE rev > ?1 "
			     "ORDER BY rowid",
	[ST_MODREV_TOPIC] = "SELECT mod_rev FROM topics WHERE id = ?1",
	[ST_MODREV_RET] = "SELECT mod_rev FROM retained WHERE topic_id = ?1",
	[ST_MODREV_SESSION] = "SELECT mod_rev FROM sessions WHERE client_id = ?1",
	[ST_LEASE_ADD] = "INSERT INTO leases (ttl_s, expires_unix_ms) VALUES (?1, ?2)",
	[ST_LEASE_KEEP] = "UPDATE leases SET expires_unix_ms = ?2 + 1000 * ttl_s WHERE id = ?1",
	[ST_LEASE_DEL] = "DELETE FROM leases WHERE id = ?1",
	[ST_LEASE_EXPIRED] = "SELECT id FROM leases WHERE expires_unix_ms < ?1 LIMIT ?2",
	[ST_LEASE_RECS] = "SELECT 1, id, NULL FROM topics WHERE lease = ?1 UNION ALL "
			  "SELECT 2, topic_id, NULL FROM retained WHERE lease = ?1 UNION ALL "
			  "SELECT 3, 0, client_id FROM sessions WHERE lease = ?1",
};

static const char schema_sql[] =
	"CREATE TABLE schema_version (version INTEGER NOT NULL, written_by TEXT NOT NULL);"
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE topics (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL, lease INTEGER NOT NULL);"
	"CREATE TABLE retained (topic_id INTEGER PRIMARY KEY, flags INTEGER NOT NULL,"
	" payload BLOB NOT NULL, create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL,"
	" lease INTEGER NOT NULL);"
	"CREATE TABLE sessions (client_id TEXT PRIMARY KEY, clean INTEGER NOT NULL,"
	" connected INTEGER NOT NULL, asleep INTEGER NOT NULL, endpoint TEXT, local_addr TEXT,"
	" local_ifindex INTEGER, forwarder TEXT, fwd_node BLOB, fwd_ctrl INTEGER,"
	" fwd_local_addr TEXT, fwd_local_ifindex INTEGER, keepalive_s INTEGER NOT NULL,"
	" sleep_s INTEGER NOT NULL, next_msg_id INTEGER NOT NULL, lost_unix_ms INTEGER NOT NULL,"
	" qos2_pending BLOB, will_topic TEXT, will_flags INTEGER, will_msg BLOB, told BLOB,"
	" validation BLOB, create_rev INTEGER NOT NULL, mod_rev INTEGER NOT NULL,"
	" lease INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE subscriptions (client_id TEXT NOT NULL, seq INTEGER NOT NULL,"
	" kind TEXT NOT NULL, filter TEXT, topic_id INTEGER NOT NULL, qos INTEGER NOT NULL,"
	" PRIMARY KEY (client_id, seq)) WITHOUT ROWID;"
	"CREATE TABLE messages (client_id TEXT NOT NULL, seq INTEGER NOT NULL, box TEXT NOT NULL,"
	" state INTEGER NOT NULL, sent_before INTEGER NOT NULL, msg_id INTEGER NOT NULL,"
	" flags INTEGER NOT NULL, topic_field INTEGER NOT NULL, payload BLOB NOT NULL,"
	" PRIMARY KEY (client_id, seq)) WITHOUT ROWID;"
	"CREATE TABLE changes (rev INTEGER NOT NULL, kind INTEGER NOT NULL, key TEXT NOT NULL,"
	" deleted INTEGER NOT NULL);"
	"CREATE INDEX changes_rev ON changes (rev);"
	"CREATE TABLE leases (id INTEGER PRIMARY KEY, ttl_s INTEGER NOT NULL,"
	" expires_unix_ms INTEGER NOT NULL);"
	"INSERT INTO meta (key, value) VALUES ('revision', 0), ('compacted', 0);";

static const char *const sub_kinds[] = { "name", "filter", "predefined", "short" };
static const char *const boxes[] = { "outbox", "sleep" };

struct sq {
	sqlite3 *db;
	char path[PATH_MAX];
	sqlite3_stmt *st[ST__N];
	uint64_t compacted;
};

/* ---- opening ------------------------------------------------------------------ */

/* What unusable files get: the caller adds how to start anyway. */
#define UNUSABLE (-EUCLEAN)

static int mkdirs(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(dir, 0750) && errno != EEXIST) {
			snprintf(err, errlen, "store %s: cannot make directory %s: %s", path, dir,
				 strerror(errno));
			return -errno;
		}
		*p = c;
		if (!c)
			break;
	}
	return 0;
}

/* The file (and its WAL) moved aside, never deleted. */
static int set_aside(const char *path, char *err, size_t errlen)
{
	static const char *const tails[] = { "", "-wal", "-shm" };
	char stamp[32], to[PATH_MAX + 64], from[PATH_MAX + 8];
	time_t now = time(NULL);
	struct stat st;

	if (stat(path, &st))
		return 0;	/* nothing there: start empty anyway */
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", localtime(&now));
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		snprintf(from, sizeof(from), "%s%s", path, tails[i]);
		snprintf(to, sizeof(to), "%s.set-aside-%s%s", path, stamp, tails[i]);
		if (rename(from, to) && errno != ENOENT) {
			snprintf(err, errlen, "store %s: cannot set it aside as %s: %s", path, to,
				 strerror(errno));
			return -errno;
		}
	}
	pso_warn("store %s: set aside as %s.set-aside-%s (--store-reset): starting empty", path,
		 path, stamp);
	return 0;
}

/* A file that is there must begin like an SQLite database. */
static int check_header(const char *path, char *err, size_t errlen)
{
	static const char magic[16] = "SQLite format 3";
	char head[16];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		snprintf(err, errlen, "store %s: %s", path, strerror(errno));
		return -errno;
	}
	n = read(fd, head, sizeof(head));
	close(fd);
	if (n == 0)
		return 0;	/* empty: SQLite makes it a database */
	if (n != sizeof(head) || memcmp(head, magic, sizeof(magic))) {
		snprintf(err, errlen, "store %s: not an SQLite database", path);
		return UNUSABLE;
	}
	return 0;
}

/* An SQLite error as one line, and as an errno. */
static int sq_fail(struct sq *q, int rc, const char *what, char *err, size_t errlen)
{
	int code = rc & 0xff;

	if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
		snprintf(err, errlen, "store %s: in use by another process (%s)", q->path,
			 sqlite3_errstr(rc));
		return -EBUSY;
	}
	if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
		snprintf(err, errlen, "store %s: corrupt (%s)", q->path,
			 q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
		return UNUSABLE;
	}
	snprintf(err, errlen, "store %s: %s: %s", q->path, what,
		 q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
	if (code == SQLITE_FULL)
		return -ENOSPC;
	if (code == SQLITE_READONLY || code == SQLITE_PERM || code == SQLITE_CANTOPEN)
		return -EACCES;
	return -EIO;
}

static int exec(struct sq *q, const char *stmt, char *err, size_t errlen)
{
	int rc = sqlite3_exec(q->db, stmt, NULL, NULL, NULL);

	return rc == SQLITE_OK ? 0 : sq_fail(q, rc, stmt, err, errlen);
}

/* One integer from a query; *found false when it has no row. */
static int query_int(struct sq *q, const char *stmt, int64_t *v, bool *found, char *err,
		     size_t errlen)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(q->db, stmt, -1, &st, NULL);

	if (rc != SQLITE_OK)
		return sq_fail(q, rc, stmt, err, errlen);
	rc = sqlite3_step(st);
	*found = rc == SQLITE_ROW;
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : sq_fail(q, rc, stmt, err, errlen);
}

static int quick_check(struct sq *q, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int rc = sqlite3_prepare_v2(q->db, "PRAGMA quick_check", -1, &st, NULL), ret = 0;

	if (rc != SQLITE_OK)
		return sq_fail(q, rc, "quick_check", err, errlen);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), "ok")) {
		snprintf(err, errlen, "store %s: corrupt (%s)", q->path, sqlite3_column_text(st, 0));
		ret = UNUSABLE;
	} else if (rc != SQLITE_ROW) {
		ret = sq_fail(q, rc, "quick_check", err, errlen);
	}
	sqlite3_finalize(st);
	return ret;
}

/* A new file gets the layout; one there must be psoffload's, of this
 * version. */
static int check_schema(struct sq *q, char *err, size_t errlen)
{
	int64_t tables = 0, app = 0, version = 0;
	char stmt[256];
	bool found;
	int ret = query_int(q, "SELECT count(*) FROM sqlite_master", &tables, &found, err, errlen);

	if (!ret)
		ret = query_int(q, "PRAGMA application_id", &app, &found, err, errlen);
	if (ret)
		return ret;
	if (!tables && !app) {
		snprintf(stmt, sizeof(stmt),
			 "PRAGMA application_id = %d; INSERT INTO schema_version VALUES (%d, "
			 "'psoffload')", (int32_t)SQ_APP_ID, SQ_SCHEMA);
		ret = exec(q, schema_sql, err, errlen);
		return ret ? ret : exec(q, stmt, err, errlen);
	}
	if ((uint32_t)app != SQ_APP_ID) {
		snprintf(err, errlen, "store %s: an SQLite database of another program "
			 "(application id 0x%08x, psoffload's is 0x%08x)", q->path, (uint32_t)app,
			 SQ_APP_ID);
		return UNUSABLE;
	}
	ret = query_int(q, "SELECT max(version) FROM schema_version", &version, &found, err,
			errlen);
	if (ret == -EIO) {
		snprintf(err, errlen, "store %s: psoffload's, but without its schema_version table",
			 q->path);
		return UNUSABLE;
	}
	if (ret)
		return ret;
	if (version > SQ_SCHEMA) {
		snprintf(err, errlen, "store %s: written by a newer psoffload (schema version %lld; "
			 "this one reads %d)", q->path, (long long)version, SQ_SCHEMA);
		return UNUSABLE;
	}
	if (version < SQ_SCHEMA) {
		snprintf(err, errlen, "store %s: schema version %lld, which this psoffload cannot "
			 "upgrade (it reads %d)", q->path, (long long)version, SQ_SCHEMA);
		return UNUSABLE;
	}
	return 0;
}

static void sq_free(struct sq *q)
{
	for (int i = 0; i < ST__N; i++)
		sqlite3_finalize(q->st[i]);
	sqlite3_close(q->db);
	free(q);
}

static int sq_setup(struct pso_store *s, struct sq *q, char *err, size_t errlen)
{
	int64_t v;
	bool found;
	int rc, ret;

	rc = sqlite3_open_v2(q->path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK)
		return sq_fail(q, rc, "cannot open", err, errlen);
	sqlite3_extended_result_codes(q->db, 1);
	/* Exclusive before WAL: the WAL index then lives in the heap. */
	ret = exec(q, "PRAGMA locking_mode = EXCLUSIVE", err, errlen);
	if (!ret)
		ret = exec(q, "PRAGMA journal_mode = WAL", err, errlen);
	if (!ret)
		ret = exec(q, "PRAGMA synchronous = NORMAL", err, errlen);
	/* Takes the lock, held from here on. */
	if (!ret)
		ret = exec(q, "BEGIN IMMEDIATE", err, errlen);
	if (ret)
		return ret;
	ret = check_schema(q, err, errlen);
	if (!ret)
		ret = quick_check(q, err, errlen);
	if (!ret)
		ret = exec(q, "COMMIT", err, errlen);
	if (ret) {
		sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
		return ret;
	}
	for (int i = 0; i < ST__N; i++) {
		rc = sqlite3_prepare_v3(q->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &q->st[i], NULL);
		if (rc != SQLITE_OK)
			return sq_fail(q, rc, sql[i], err, errlen);
	}
	ret = query_int(q, "SELECT value FROM meta WHERE key = 'revision'", &v, &found, err, errlen);
	if (ret)
		return ret;
	s->rev = found ? (uint64_t)v : 0;
	ret = query_int(q, "SELECT value FROM meta WHERE key = 'compacted'", &v, &found, err, errlen);
	q->compacted = !ret && found ? (uint64_t)v : 0;
	return ret;
}

static int sq_open(struct pso_store *s, const char *path, unsigned int flags, char *err,
		   size_t errlen)
{
	struct sq *q = calloc(1, sizeof(*q));
	int ret;

	if (!q) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(q->path, sizeof(q->path), "%s", path);
	ret = flags & PSO_STORE_RESET ? set_aside(path, err, errlen) : 0;
	if (!ret)
		ret = mkdirs(path, err, errlen);
	if (!ret)
		ret = check_header(path, err, errlen);
	if (!ret)
		ret = sq_setup(s, q, err, errlen);
	if (ret) {
		sq_free(q);
		return ret;
	}
	s->priv = q;
	return 0;
}

static void sq_close(struct pso_store *s)
{
	sq_free(s->priv);
	s->priv = NULL;
}

/* ---- values ------------------------------------------------------------------ */

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *text)
{
	if (text)
		sqlite3_bind_text(st, i, text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(st, i);
}

static void bind_blob(sqlite3_stmt *st, int i, const void *data, size_t len)
{
	/* An empty blob, not NULL (NOT NULL columns). */
	sqlite3_bind_blob64(st, i, len ? data : "", len, SQLITE_TRANSIENT);
}

static void bind_ids(sqlite3_stmt *st, int i, const uint16_t *ids, int n)
{
	static uint8_t buf[2 * 64 * 1024];

	for (int k = 0; k < n && k < 64 * 1024; k++) {
		buf[2 * k] = ids[k] >> 8;
		buf[2 * k + 1] = ids[k] & 0xff;
	}
	bind_blob(st, i, buf, 2 * (size_t)n);
}

static int column_ids(sqlite3_stmt *st, int i, uint16_t **ids, int *n, int cap)
{
	const uint8_t *b = sqlite3_column_blob(st, i);
	int len = sqlite3_column_bytes(st, i) / 2;

	if (cap && len > cap)
		len = cap;
	*n = 0;
	if (!*ids) {
		*ids = calloc(len ? len : 1, sizeof(**ids));
		if (!*ids)
			return -ENOMEM;
	}
	for (int k = 0; k < len; k++)
		(*ids)[k] = (uint16_t)(b[2 * k] << 8 | b[2 * k + 1]);
	*n = len;
	return 0;
}

static uint8_t *column_bytes(sqlite3_stmt *st, int i, size_t *len)
{
	const void *b = sqlite3_column_blob(st, i);
	size_t n = (size_t)sqlite3_column_bytes(st, i);
	uint8_t *copy = malloc(n ? n : 1);

	if (copy && n)
		memcpy(copy, b, n);
	*len = n;
	return copy;
}

static const char *addr_text(const struct in6_addr *a, char *buf, size_t len)
{
	return inet_ntop(AF_INET6, a, buf, (socklen_t)len);
}

static void addr_parse(const unsigned char *text, struct in6_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (text)
		inet_pton(AF_INET6, (const char *)text, a);
}

/* "10.0.0.1:1883" or "[fd00::1]:1883" (pso_endpoint_str's), back. */
static int ep_parse(const unsigned char *text, struct pso_endpoint *ep)
{
	char buf[80], *colon;
	const char *t = (const char *)text;

	memset(ep, 0, sizeof(*ep));
	if (!t || strlen(t) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", t);
	colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	ep->port = htons((uint16_t)atoi(colon + 1));
	if (buf[0] == '[') {
		size_t n = strlen(buf);

		if (n < 3 || buf[n - 1] != ']')
			return -EINVAL;
		buf[n - 1] = '\0';
		ep->family = PSO_AF_INET6;
		return inet_pton(AF_INET6, buf + 1, ep->addr) == 1 ? 0 : -EINVAL;
	}
	ep->family = PSO_AF_INET;
	return inet_pton(AF_INET, buf, ep->addr) == 1 ? 0 : -EINVAL;
}

/* ---- writing ------------------------------------------------------------------ */

static int step(struct sq *q, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : sq_fail(q, rc, what, err, errlen);
}

static int put_session(struct sq *q, const struct pso_rec_session *r, uint64_t rev,
		       uint64_t lease, char *err, size_t errlen)
{
	sqlite3_stmt *st = q->st[ST_SESSION_PUT];
	char ep[64], local[INET6_ADDRSTRLEN], fwd[64], fwd_local[INET6_ADDRSTRLEN];
	bool forwarded = r->fwd.node_len > 0;
	int ret;

	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, r->clean);
	sqlite3_bind_int(st, 3, r->connected);
	sqlite3_bind_int(st, 4, r->asleep);
	bind_text_or_null(st, 5, r->connected && !forwarded ?
				 pso_endpoint_str(&r->ep, ep, sizeof(ep)) : NULL);
	bind_text_or_null(st, 6, r->connected ? addr_text(&r->local.ipi6_addr, local,
							  sizeof(local)) : NULL);
	sqlite3_bind_int(st, 7, r->connected ? r->local.ipi6_ifindex : 0);
	bind_text_or_null(st, 8, forwarded ? pso_endpoint_str(&r->fwd_ep, fwd, sizeof(fwd)) : NULL);
	if (forwarded)
		bind_blob(st, 9, r->fwd.node, r->fwd.node_len);
	else
		sqlite3_bind_null(st, 9);
	sqlite3_bind_int(st, 10, r->fwd.ctrl);
	bind_text_or_null(st, 11, forwarded ? addr_text(&r->fwd_local.ipi6_addr, fwd_local,
							sizeof(fwd_local)) : NULL);
	sqlite3_bind_int(st, 12, forwarded ? r->fwd_local.ipi6_ifindex : 0);
	sqlite3_bind_int(st, 13, r->keepalive_s);
	sqlite3_bind_int(st, 14, r->sleep_s);
	sqlite3_bind_int(st, 15, r->next_msg_id);
	sqlite3_bind_int64(st, 16, (int64_t)r->lost_unix_ms);
	bind_ids(st, 17, r->qos2, r->nqos2);
	bind_text_or_null(st, 18, r->will_topic);
	sqlite3_bind_int(st, 19, r->will_flags);
	if (r->will_topic)
		bind_blob(st, 20, r->will_msg, r->will_len);
	else
		sqlite3_bind_null(st, 20);
	bind_ids(st, 21, r->told, r->ntold);
	if (r->validation_len)
		bind_blob(st, 22, r->validation, r->validation_len);
	else
		sqlite3_bind_null(st, 22);
	sqlite3_bind_int64(st, 23, (int64_t)rev);
	sqlite3_bind_int64(st, 24, (int64_t)lease);
	ret = step(q, st, "write a session", err, errlen);

	/* Its lists, whole: the old rows go, the new ones in order. */
	st = q->st[ST_SUBS_DEL];
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	if (!ret)
		ret = step(q, st, "write a session", err, errlen);
	for (int i = 0; !ret && i < r->nsubs; i++) {
		const struct pso_rec_sub *sub = &r->subs[i];

		st = q->st[ST_SUB_PUT];
		sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, i);
		sqlite3_bind_text(st, 3, sub->kind < 4 ? sub_kinds[sub->kind] : "?", -1, SQLITE_STATIC);
		bind_text_or_null(st, 4, sub->filter);
		sqlite3_bind_int(st, 5, sub->topic_id);
		sqlite3_bind_int(st, 6, sub->qos);
		ret = step(q, st, "write a subscription", err, errlen);
	}
	st = q->st[ST_MSGS_DEL];
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	if (!ret)
		ret = step(q, st, "write a session", err, errlen);
	for (int i = 0; !ret && i < r->nmsgs; i++) {
		const struct pso_rec_msg *m = &r->msgs[i];

		st = q->st[ST_MSG_PUT];
		sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 2, i);
		sqlite3_bind_text(st, 3, boxes[m->box == PSO_BOX_SLEEP], -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, m->state);
		sqlite3_bind_int(st, 5, m->sent_before);
		sqlite3_bind_int(st, 6, m->msg_id);
		sqlite3_bind_int(st, 7, m->flags);
		sqlite3_bind_int(st, 8, m->topic_field);
		bind_blob(st, 9, m->data, m->len);
		ret = step(q, st, "write a message", err, errlen);
	}
	return ret;
}

static int delete_session(struct sq *q, const char *id, char *err, size_t errlen)
{
	static const int sts[] = { ST_SESSION_DEL, ST_SUBS_DEL, ST_MSGS_DEL };
	int ret = 0;

	for (size_t i = 0; !ret && i < sizeof(sts) / sizeof(sts[0]); i++) {
		sqlite3_bind_text(q->st[sts[i]], 1, id, -1, SQLITE_STATIC);
		ret = step(q, q->st[sts[i]], "delete a session", err, errlen);
	}
	return ret;
}

static int write_change(struct sq *q, const struct pso_store_change *ch, uint64_t rev, char *err,
			size_t errlen)
{
	const struct pso_rec *r = &ch->rec;
	sqlite3_stmt *st;

	switch (r->kind) {
	case PSO_REC_SESSION:
		return ch->deleted ? delete_session(q, r->s.id, err, errlen)
				   : put_session(q, &r->s, rev, ch->lease, err, errlen);
	case PSO_REC_TOPIC:
		st = q->st[ch->deleted ? ST_TOPIC_DEL : ST_TOPIC_PUT];
		sqlite3_bind_int(st, 1, r->t.id);
		if (!ch->deleted) {
			sqlite3_bind_text(st, 2, r->t.name ? r->t.name : "", -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, (int64_t)rev);
			sqlite3_bind_int64(st, 4, (int64_t)ch->lease);
		}
		return step(q, st, "write a topic", err, errlen);
	case PSO_REC_RETAINED:
		st = q->st[ch->deleted ? ST_RET_DEL : ST_RET_PUT];
		sqlite3_bind_int(st, 1, r->r.topic_id);
		if (!ch->deleted) {
			sqlite3_bind_int(st, 2, r->r.flags);
			bind_blob(st, 3, r->r.data, r->r.len);
			sqlite3_bind_int64(st, 4, (int64_t)rev);
			sqlite3_bind_int64(st, 5, (int64_t)ch->lease);
		}
		return step(q, st, "write a retained message", err, errlen);
	}
	snprintf(err, errlen, "store %s: a record of unknown kind %d", q->path, r->kind);
	return -EINVAL;
}

static int log_change(struct sq *q, const struct pso_store_change *ch, uint64_t rev, char *err,
		      size_t errlen)
{
	struct pso_store_key key = pso_store_key_of(&ch->rec);
	sqlite3_stmt *st = q->st[ST_CHANGE];
	char text[MQTTSN_CLIENT_ID_MAX + 8];

	pso_store_key_text(&key, text, sizeof(text));
	sqlite3_bind_int64(st, 1, (int64_t)rev);
	sqlite3_bind_int(st, 2, key.kind);
	sqlite3_bind_text(st, 3, text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 4, ch->deleted);
	return step(q, st, "log a change", err, errlen);
}

static int meta_set(struct sq *q, const char *key, uint64_t value, char *err, size_t errlen)
{
	sqlite3_stmt *st = q->st[ST_META_SET];

	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (int64_t)value);
	return step(q, st, "write the revision", err, errlen);
}

static int sq_commit(struct pso_store *s, const struct pso_store_change *ch, size_t n,
		     uint64_t rev, char *err, size_t errlen)
{
	struct sq *q = s->priv;
	uint64_t compact = rev > SQ_LOG_KEEP ? rev - SQ_LOG_KEEP : 0;
	int ret = step(q, q->st[ST_BEGIN], "begin", err, errlen);

	if (ret)
		return ret;
	for (size_t i = 0; !ret && i < n; i++) {
		ret = write_change(q, &ch[i], rev, err, errlen);
		if (!ret)
			ret = log_change(q, &ch[i], rev, err, errlen);
	}
	if (!ret)
		ret = meta_set(q, "revision", rev, err, errlen);
	/* The log is trimmed now and then, not every commit. */
	if (!ret && compact >= q->compacted + 64) {
		sqlite3_bind_int64(q->st[ST_PRUNE], 1, (int64_t)compact);
		ret = step(q, q->st[ST_PRUNE], "trim the change log", err, errlen);
		if (!ret)
			ret = meta_set(q, "compacted", compact, err, errlen);
	}
	if (!ret)
		ret = step(q, q->st[ST_COMMIT], "commit", err, errlen);
	if (ret) {
		step(q, q->st[ST_ROLLBACK], "rollback", NULL, 0);
		return ret;
	}
	if (compact >= q->compacted + 64)
		q->compacted = compact;
	return 0;
}

/* ---- reading ------------------------------------------------------------------ */

static void row_revs(sqlite3_stmt *st, int first, struct pso_store_item *it)
{
	it->create_rev = (uint64_t)sqlite3_column_int64(st, first);
	it->mod_rev = (uint64_t)sqlite3_column_int64(st, first + 1);
	it->lease = (uint64_t)sqlite3_column_int64(st, first + 2);
}

static int row_topic(sqlite3_stmt *st, struct pso_rec *rec, struct pso_store_item *it)
{
	rec->kind = PSO_REC_TOPIC;
	rec->t.id = (uint16_t)sqlite3_column_int(st, 0);
	rec->t.name = strdup((const char *)sqlite3_column_text(st, 1));
	row_revs(st, 2, it);
	return rec->t.name ? 0 : -ENOMEM;
}

static int row_retained(sqlite3_stmt *st, struct pso_rec *rec, struct pso_store_item *it)
{
	rec->kind = PSO_REC_RETAINED;
	rec->r.topic_id = (uint16_t)sqlite3_column_int(st, 0);
	rec->r.flags = (uint8_t)sqlite3_column_int(st, 1);
	rec->r.data = column_bytes(st, 2, &rec->r.len);
	row_revs(st, 3, it);
	return rec->r.data ? 0 : -ENOMEM;
}

static int sub_kind(const unsigned char *text)
{
	for (int i = 0; i < 4; i++)
		if (text && !strcmp((const char *)text, sub_kinds[i]))
			return i;
	return -1;
}

/* The subscriptions and messages of session r. */
static int session_lists(struct sq *q, struct pso_rec_session *r, char *err, size_t errlen)
{
	sqlite3_stmt *st = q->st[ST_SUBS_OF];
	int rc, cap = 0, ret = 0;

	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct pso_rec_sub *sub;
		int kind = sub_kind(sqlite3_column_text(st, 0));

		if (kind < 0)
			continue;	/* not one this version knows */
		if (r->nsubs == cap) {
			struct pso_rec_sub *grown = realloc(r->subs, (cap = cap ? 2 * cap : 4) *
							    sizeof(*grown));

			if (!grown) {
				ret = -ENOMEM;
				break;
			}
			r->subs = grown;
		}
		sub = &r->subs[r->nsubs++];
		*sub = (struct pso_rec_sub){
			.kind = (uint8_t)kind,
			.topic_id = (uint16_t)sqlite3_column_int(st, 2),
			.qos = (uint8_t)sqlite3_column_int(st, 3),
		};
		if (sqlite3_column_type(st, 1) != SQLITE_NULL &&
		    !(sub->filter = strdup((const char *)sqlite3_column_text(st, 1))))
			ret = -ENOMEM;
	}
	sqlite3_reset(st);
	if (!ret && rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sq_fail(q, rc, "read subscriptions", err, errlen);
	if (ret)
		return ret;

	st = q->st[ST_MSGS_OF];
	cap = 0;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct pso_rec_msg *m;

		if (r->nmsgs == cap) {
			struct pso_rec_msg *grown = realloc(r->msgs, (cap = cap ? 2 * cap : 4) *
							    sizeof(*grown));

			if (!grown) {
				ret = -ENOMEM;
				break;
			}
			r->msgs = grown;
		}
		m = &r->msgs[r->nmsgs++];
		*m = (struct pso_rec_msg){
			.box = !strcmp((const char *)sqlite3_column_text(st, 0), "sleep")
				       ? PSO_BOX_SLEEP : PSO_BOX_OUTBOX,
			.state = (uint8_t)sqlite3_column_int(st, 1),
			.sent_before = sqlite3_column_int(st, 2),
			.msg_id = (uint16_t)sqlite3_column_int(st, 3),
			.flags = (uint8_t)sqlite3_column_int(st, 4),
			.topic_field = (uint16_t)sqlite3_column_int(st, 5),
		};
		m->data = column_bytes(st, 6, &m->len);
		if (!m->data)
			ret = -ENOMEM;
	}
	sqlite3_reset(st);
	if (!ret && rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sq_fail(q, rc, "read messages", err, errlen);
	return ret;
}

static int row_session(struct sq *q, sqlite3_stmt *st, struct pso_rec *rec,
		       struct pso_store_item *it, char *err, size_t errlen)
{
	struct pso_rec_session *r = &rec->s;
	uint16_t *qos2 = r->qos2;
	int n;

	rec->kind = PSO_REC_SESSION;
	snprintf(r->id, sizeof(r->id), "%s", sqlite3_column_text(st, 0));
	r->clean = sqlite3_column_int(st, 1);
	r->connected = sqlite3_column_int(st, 2);
	r->asleep = sqlite3_column_int(st, 3);
	if (sqlite3_column_type(st, 4) != SQLITE_NULL && ep_parse(sqlite3_column_text(st, 4), &r->ep))
		r->connected = false;	/* no endpoint it can be reached at */
	addr_parse(sqlite3_column_text(st, 5), &r->local.ipi6_addr);
	r->local.ipi6_ifindex = sqlite3_column_int(st, 6);
	if (sqlite3_column_type(st, 7) != SQLITE_NULL &&
	    !ep_parse(sqlite3_column_text(st, 7), &r->fwd_ep)) {
		int len = sqlite3_column_bytes(st, 8);

		if (len > 0 && len <= MQTTSN_NODE_ID_MAX) {
			memcpy(r->fwd.node, sqlite3_column_blob(st, 8), (size_t)len);
			r->fwd.node_len = (uint8_t)len;
			r->fwd.ctrl = (uint8_t)sqlite3_column_int(st, 9);
		}
		addr_parse(sqlite3_column_text(st, 10), &r->fwd_local.ipi6_addr);
		r->fwd_local.ipi6_ifindex = sqlite3_column_int(st, 11);
	}
	r->keepalive_s = (uint16_t)sqlite3_column_int(st, 12);
	r->sleep_s = (uint16_t)sqlite3_column_int(st, 13);
	r->next_msg_id = (uint16_t)sqlite3_column_int(st, 14);
	r->lost_unix_ms = (uint64_t)sqlite3_column_int64(st, 15);
	column_ids(st, 16, &qos2, &n, (int)(sizeof(r->qos2) / sizeof(r->qos2[0])));
	r->nqos2 = n;
	if (sqlite3_column_type(st, 17) != SQLITE_NULL) {
		r->will_topic = strdup((const char *)sqlite3_column_text(st, 17));
		r->will_flags = (uint8_t)sqlite3_column_int(st, 18);
		r->will_msg = column_bytes(st, 19, &r->will_len);
		if (!r->will_topic || !r->will_msg)
			return -ENOMEM;
	}
	if (column_ids(st, 20, &r->told, &r->ntold, 0))
		return -ENOMEM;
	if (sqlite3_column_type(st, 21) != SQLITE_NULL &&
	    !(r->validation = column_bytes(st, 21, &r->validation_len)))
		return -ENOMEM;
	row_revs(st, 22, it);
	return session_lists(q, r, err, errlen);
}

/* Each row of st (a topics, retained or sessions query) to fn. */
static int walk(struct sq *q, sqlite3_stmt *st, enum pso_rec_kind kind, pso_store_fn fn,
		void *ctx, char *err, size_t errlen)
{
	int rc = SQLITE_DONE, ret = 0;

	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct pso_rec rec = { 0 };
		struct pso_store_item it = { .rec = &rec };

		ret = kind == PSO_REC_TOPIC ? row_topic(st, &rec, &it)
		      : kind == PSO_REC_RETAINED ? row_retained(st, &rec, &it)
		      : row_session(q, st, &rec, &it, err, errlen);
		if (ret == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		if (!ret)
			ret = fn(&it, ctx);
		pso_rec_free(&rec);
	}
	sqlite3_reset(st);
	if (!ret && rc != SQLITE_DONE)
		return sq_fail(q, rc, "read", err, errlen);
	return ret;
}

static int sq_list(struct pso_store *s, enum pso_rec_kind kind, pso_store_fn fn, void *ctx,
		   char *err, size_t errlen)
{
	static const struct {
		enum pso_rec_kind kind;
		int st;
	} order[] = {
		{ PSO_REC_TOPIC, ST_TOPICS },
		{ PSO_REC_RETAINED, ST_RETAINED },
		{ PSO_REC_SESSION, ST_SESSIONS },
	};
	struct sq *q = s->priv;
	int ret = 0;

	for (size_t i = 0; !ret && i < sizeof(order) / sizeof(order[0]); i++)
		if (!kind || kind == order[i].kind)
			ret = walk(q, q->st[order[i].st], order[i].kind, fn, ctx, err, errlen);
	return ret;
}

/* One record by key, to fn; a key no longer there is skipped (a later
 * change deletes it). */
static int one(struct sq *q, const struct pso_store_key *key, pso_store_fn fn, void *ctx)
{
	char err[256];
	int sti = key->kind == PSO_REC_TOPIC ? ST_TOPIC_ONE
		  : key->kind == PSO_REC_RETAINED ? ST_RET_ONE : ST_SESSION_ONE;
	sqlite3_stmt *st = q->st[sti];

	if (key->kind == PSO_REC_SESSION)
		sqlite3_bind_text(st, 1, key->client_id, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int(st, 1, key->id);
	return walk(q, st, key->kind, fn, ctx, err, sizeof(err));
}

static int sq_watch(struct pso_store *s, uint64_t from_rev, pso_store_fn fn, void *ctx)
{
	struct sq *q = s->priv;
	sqlite3_stmt *st = q->st[ST_CHANGES_AFTER];
	struct {
		int kind;
		bool deleted;
		char key[MQTTSN_CLIENT_ID_MAX + 8];
		uint64_t rev;
	} *ch = NULL;
	size_t n = 0, cap = 0;
	int rc, ret = 0;

	if (from_rev < q->compacted)
		return -ENODATA;
	/* The log first, whole: reading a record while its statement runs
	 * would reset it. */
	sqlite3_bind_int64(st, 1, (int64_t)from_rev);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n == cap) {
			void *grown = realloc(ch, (cap = cap ? 2 * cap : 64) * sizeof(*ch));

			if (!grown) {
				ret = -ENOMEM;
				break;
			}
			ch = grown;
		}
		ch[n].rev = (uint64_t)sqlite3_column_int64(st, 0);
		ch[n].kind = sqlite3_column_int(st, 1);
		snprintf(ch[n].key, sizeof(ch[n].key), "%s", sqlite3_column_text(st, 2));
		ch[n].deleted = sqlite3_column_int(st, 3);
		n++;
	}
	sqlite3_reset(st);
	if (!ret && rc != SQLITE_DONE)
		ret = -EIO;
	for (size_t i = 0; !ret && i < n; i++) {
		struct pso_store_key key = { .kind = ch[i].kind };

		if (key.kind == PSO_REC_SESSION)
			key.client_id = ch[i].key;
		else
			key.id = (uint16_t)atoi(ch[i].key);
		if (ch[i].deleted) {
			struct pso_rec rec;
			struct pso_store_item it = { .deleted = true, .rec = &rec,
						     .mod_rev = ch[i].rev };

			pso_store_key_rec(&key, &rec);
			ret = fn(&it, ctx);
		} else {
			ret = one(q, &key, fn, ctx);
		}
	}
	free(ch);
	return ret;
}

static int sq_mod_rev(struct pso_store *s, const struct pso_store_key *key, uint64_t *rev)
{
	struct sq *q = s->priv;
	int sti = key->kind == PSO_REC_TOPIC ? ST_MODREV_TOPIC
		  : key->kind == PSO_REC_RETAINED ? ST_MODREV_RET : ST_MODREV_SESSION;
	sqlite3_stmt *st = q->st[sti];
	int rc;

	if (key->kind == PSO_REC_SESSION)
		sqlite3_bind_text(st, 1, key->client_id, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int(st, 1, key->id);
	rc = sqlite3_step(st);
	*rev = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

/* ---- leases ------------------------------------------------------------------ */

static int sq_lease_grant(struct pso_store *s, unsigned int ttl_s, uint64_t now, uint64_t *lease)
{
	struct sq *q = s->priv;
	sqlite3_stmt *st = q->st[ST_LEASE_ADD];
	int ret;

	sqlite3_bind_int(st, 1, (int)ttl_s);
	sqlite3_bind_int64(st, 2, (int64_t)(now + 1000ull * ttl_s));
	ret = step(q, st, "grant a lease", NULL, 0);
	if (!ret)
		*lease = (uint64_t)sqlite3_last_insert_rowid(q->db);
	return ret;
}

static int sq_lease_keepalive(struct pso_store *s, uint64_t lease, uint64_t now)
{
	struct sq *q = s->priv;
	sqlite3_stmt *st = q->st[ST_LEASE_KEEP];
	int ret;

	sqlite3_bind_int64(st, 1, (int64_t)lease);
	sqlite3_bind_int64(st, 2, (int64_t)now);
	ret = step(q, st, "keep a lease", NULL, 0);
	if (!ret && !sqlite3_changes(q->db))
		return -ENOENT;
	return ret;
}

static int sq_lease_records(struct pso_store *s, uint64_t lease, struct pso_store_change **out,
			    size_t *n)
{
	struct sq *q = s->priv;
	sqlite3_stmt *st = q->st[ST_LEASE_RECS];
	struct pso_store_change *ch = NULL;
	size_t cap = 0;
	int rc;

	*n = 0;
	sqlite3_bind_int64(st, 1, (int64_t)lease);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct pso_store_key key = { .kind = sqlite3_column_int(st, 0),
					     .id = (uint16_t)sqlite3_column_int(st, 1),
					     .client_id = (const char *)sqlite3_column_text(st, 2) };

		if (*n == cap) {
			void *grown = realloc(ch, (cap = cap ? 2 * cap : 16) * sizeof(*ch));

			if (!grown) {
				sqlite3_reset(st);
				free(ch);
				return -ENOMEM;
			}
			ch = grown;
		}
		ch[*n] = (struct pso_store_change){ .deleted = true };
		pso_store_key_rec(&key, &ch[*n].rec);
		(*n)++;
	}
	sqlite3_reset(st);
	*out = ch;
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static int sq_lease_drop(struct pso_store *s, uint64_t lease)
{
	struct sq *q = s->priv;

	sqlite3_bind_int64(q->st[ST_LEASE_DEL], 1, (int64_t)lease);
	return step(q, q->st[ST_LEASE_DEL], "revoke a lease", NULL, 0);
}

static int sq_leases_expired(struct pso_store *s, uint64_t now, uint64_t *leases, size_t cap,
			     size_t *n)
{
	struct sq *q = s->priv;
	sqlite3_stmt *st = q->st[ST_LEASE_EXPIRED];
	int rc;

	*n = 0;
	sqlite3_bind_int64(st, 1, (int64_t)now);
	sqlite3_bind_int64(st, 2, (int64_t)cap);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < cap)
		leases[(*n)++] = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

const struct pso_store_backend pso_store_sqlite = {
	.scheme = "sqlite",
	.persistent = true,
	.open = sq_open,
	.close = sq_close,
	.list = sq_list,
	.commit = sq_commit,
	.watch = sq_watch,
	.mod_rev = sq_mod_rev,
	.lease_grant = sq_lease_grant,
	.lease_keepalive = sq_lease_keepalive,
	.lease_records = sq_lease_records,
	.lease_drop = sq_lease_drop,
	.leases_expired = sq_leases_expired,
};
