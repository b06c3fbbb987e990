// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * store_sqlite.c - --store=sqlite:PATH: the records in an SQLite database.
 *
 * The file: WAL journal, synchronous=NORMAL (a commit is durable once the
 * WAL is synced at a checkpoint, which is ours: after a second without a
 * commit or when the WAL is 32 MiB; a crash of the process loses nothing,
 * a power cut the commits since the last checkpoint), locking_mode=EXCLUSIVE (the broker
 * holds the file for as long as it runs: a second broker on the same file
 * is refused at open; the WAL index lives in the heap, no -shm file).
 * PRAGMA application_id marks the file as psoffload's; the table
 * schema_version says which layout it has.  The layout (version 2):
 *
 *   schema_version(version, written_by)
 *   meta(key, value)              'revision': the store's; 'compacted': the
 *                                 change log holds nothing at or below it
 *   topics(id, name, create_rev, mod_rev, lease)
 *   retained(topic_id, flags, payload, create_rev, mod_rev, lease)
 *   sessions(client_id, clean, connected, record, create_rev, mod_rev,
 *            lease)
 *   changes(rev, keys)            the change log that watch reads: one row
 *                                 per revision, its keys in one blob
 *   leases(id, ttl_s, expires_unix_ms)
 *
 * A session is one row: what it holds is one blob (record), laid out
 * below, so that writing one is one statement with five values and no
 * text to format; a commit adds one row to the change log however many
 * keys it changed.  The store's cost is what keeps the control plane's
 * rate (docs/BENCHMARKS.md): one session write used to be five
 * statements over 25 columns.  clean and connected stay columns of their
 * own, for a person reading the file with sqlite3.
 *
 * Blobs, every integer big-endian, lists as a count then the entries:
 *   record   flags u8 (0x1 clean, 0x2 connected, 0x4 asleep, 0x8 will),
 *            endpoint (family u8, address 16, port 2 as on the wire),
 *            local address 16, local ifindex u32, forwarder node length u8,
 *            node, ctrl u8, forwarder endpoint, its local address 16 and
 *            ifindex u32, keepalive_s u16, sleep_s u16, next_msg_id u16,
 *            lost_unix_ms u64, QoS 2 ids pending (u8, u16 each), told
 *            topic ids (u32, u16 each), validation (u16, bytes), the will
 *            when flagged (topic u16 + bytes, flags u8, message u32 +
 *            bytes), subscriptions (u32; each kind u8, qos u8, topic_id
 *            u16, filter length u16 (0xffff: none), filter), messages
 *            (u32; each box u8 (0 outbox, 1 sleep), state u8, sent_before
 *            u8, msg_id u16, flags u8, topic_field u16, length u32,
 *            payload)
 *   keys     per change: kind u8 (enum pso_rec_kind), deleted u8, key
 *            length u8, key (the client id, or the topic id in decimal)
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
#define SQ_SCHEMA 2
/* The change log keeps this many revisions for watch. */
#define SQ_LOG_KEEP 1000
/* The WAL is copied into the database (a checkpoint: two fsyncs) once no
 * commit came for CKPT_IDLE_MS, or at once when it holds CKPT_MAX_FRAMES
 * pages (32 MiB): not every 1000 pages in the middle of a burst, which
 * stalls the event loop for the fsyncs. */
#define CKPT_IDLE_MS 1000
#define CKPT_MAX_FRAMES 8192

enum {
	ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
	ST_SESSION_PUT, ST_SESSION_DEL,
	ST_TOPIC_PUT, ST_TOPIC_DEL, ST_RET_PUT, ST_RET_DEL,
	ST_CHANGE, ST_PRUNE, ST_META_SET,
	ST_TOPICS, ST_RETAINED, ST_SESSIONS,
	ST_TOPIC_ONE, ST_RET_ONE, ST_SESSION_ONE,
	ST_CHANGES_AFTER,
	ST_MODREV_TOPIC, ST_MODREV_RET, ST_MODREV_SESSION,
	ST_LEASE_ADD, ST_LEASE_KEEP, ST_LEASE_DEL, ST_LEASE_EXPIRED, ST_LEASE_RECS,
	ST__N
};

#define SESSION_COLS "client_id, clean, connected, record"
#define TOPIC_COLS "id, name"
#define RET_COLS "topic_id, flags, payload"
#define REV_COLS "create_rev, mod_rev, lease"

static const char *const sql[ST__N] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_SESSION_PUT] =
		"INSERT INTO sessions (" SESSION_COLS ", " REV_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, "
		"?5, ?6) ON CONFLICT (client_id) DO UPDATE SET clean = ?2, connected = ?3, "
		"record = ?4, mod_rev = ?5, lease = ?6",
	[ST_SESSION_DEL] = "DELETE FROM sessions WHERE client_id = ?1",
	[ST_TOPIC_PUT] = "INSERT INTO topics (" TOPIC_COLS ", " REV_COLS ") VALUES (?1, ?2, ?3, "
			 "?3, ?4) ON CONFLICT (id) DO UPDATE SET name = ?2, mod_rev = ?3, lease = ?4",
	[ST_TOPIC_DEL] = "DELETE FROM topics WHERE id = ?1",
	[ST_RET_PUT] = "INSERT INTO retained (" RET_COLS ", " REV_COLS ") VALUES (?1, ?2, ?3, ?4, "
		       "?4, ?5) ON CONFLICT (topic_id) DO UPDATE SET flags = ?2, payload = ?3, "
		       "mod_rev = ?4, lease = ?5",
	[ST_RET_DEL] = "DELETE FROM retained WHERE topic_id = ?1",
	[ST_CHANGE] = "INSERT INTO changes (rev, keys) VALUES (?1, ?2)",
	[ST_PRUNE] = "DELETE FROM changes WHERE rev <= ?1",
	[ST_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
			"ON CONFLICT (key) DO UPDATE SET value = ?2",
	[ST_TOPICS] = "SELECT " TOPIC_COLS ", " REV_COLS " FROM topics ORDER BY id",
	[ST_RETAINED] = "SELECT " RET_COLS ", " REV_COLS " FROM retained ORDER BY topic_id",
	[ST_SESSIONS] = "SELECT " SESSION_COLS ", " REV_COLS " FROM sessions ORDER BY client_id",
	[ST_TOPIC_ONE] = "SELECT " TOPIC_COLS ", " REV_COLS " FROM topics WHERE id = ?1",
	[ST_RET_ONE] = "SELECT " RET_COLS ", " REV_COLS " FROM retained WHERE topic_id = ?1",
	[ST_SESSION_ONE] = "SELECT " SESSION_COLS ", " REV_COLS " FROM sessions "
			   "WHERE client_id = ?1",
	[ST_CHANGES_AFTER] = "SELECT rev, keys FROM changes WHERE rev > ?1 ORDER BY rev",
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
	" connected INTEGER NOT NULL, record BLOB NOT NULL, create_rev INTEGER NOT NULL,"
	" mod_rev INTEGER NOT NULL, lease INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE changes (rev INTEGER PRIMARY KEY, keys BLOB NOT NULL);"
	"CREATE TABLE leases (id INTEGER PRIMARY KEY, ttl_s INTEGER NOT NULL,"
	" expires_unix_ms INTEGER NOT NULL);"
	"INSERT INTO meta (key, value) VALUES ('revision', 0), ('compacted', 0);";

/* A growing byte buffer for the blobs, kept from one commit to the next. */
struct sq_buf {
	uint8_t *b;
	size_t len, cap;
	bool failed;	/* out of memory on the way */
};

struct sq {
	sqlite3 *db;
	char path[PATH_MAX];
	sqlite3_stmt *st[ST__N];
	uint64_t compacted;
	struct sq_buf rec, keys;
	int wal_frames;			/* in the WAL since the last checkpoint */
	uint64_t last_commit_unix_ms;
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
	free(q->rec.b);
	free(q->keys.b);
	free(q);
}

static void checkpoint(struct sq *q)
{
	int rc = sqlite3_wal_checkpoint_v2(q->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);

	if (rc == SQLITE_OK)
		q->wal_frames = 0;
	else
		pso_warn("store %s: checkpoint: %s", q->path, sqlite3_errmsg(q->db));
}

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct sq *q = arg;

	(void)db;
	(void)name;
	q->wal_frames = frames;
	if (frames >= CKPT_MAX_FRAMES)
		checkpoint(q);
	return SQLITE_OK;
}

static void sq_tick(struct pso_store *s, uint64_t now_unix_ms)
{
	struct sq *q = s->priv;

	if (q->wal_frames && now_unix_ms >= q->last_commit_unix_ms + CKPT_IDLE_MS)
		checkpoint(q);
}

static int sq_setup(struct pso_store *s, struct sq *q, char *err, size_t errlen)
{
	int64_t v;
	bool found;
	int rc, ret;

	/* No allocation statistics: they take a mutex on every malloc.  Only
	 * possible before SQLite initialises (the first open); later calls
	 * fail harmlessly. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
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
	/* What the WAL may keep on disk once checkpointed. */
	if (!ret)
		ret = exec(q, "PRAGMA journal_size_limit = 4194304", err, errlen);
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
	/* Replaces SQLite's checkpoint every 1000 pages (sq_tick). */
	sqlite3_wal_hook(q->db, wal_hook, q);
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

static void bind_blob(sqlite3_stmt *st, int i, const void *data, size_t len)
{
	/* An empty blob, not NULL (NOT NULL columns). */
	sqlite3_bind_blob64(st, i, len ? data : "", len, SQLITE_TRANSIENT);
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

/* ---- blobs ------------------------------------------------------------------- */

static void *buf_room(struct sq_buf *b, size_t n)
{
	if (b->failed)
		return NULL;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *grown;

		while (cap < b->len + n)
			cap *= 2;
		grown = realloc(b->b, cap);
		if (!grown) {
			b->failed = true;
			return NULL;
		}
		b->b = grown;
		b->cap = cap;
	}
	b->len += n;
	return b->b + b->len - n;
}

static void buf_u8(struct sq_buf *b, uint8_t v)
{
	uint8_t *p = buf_room(b, 1);

	if (p)
		*p = v;
}

static void buf_be(struct sq_buf *b, uint32_t v, int bytes)
{
	uint8_t *p = buf_room(b, (size_t)bytes);

	for (int i = 0; p && i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static void buf_bytes(struct sq_buf *b, const void *data, size_t n)
{
	uint8_t *p = buf_room(b, n);

	if (p && n)
		memcpy(p, data, n);
}

static void buf_reset(struct sq_buf *b)
{
	b->len = 0;
	b->failed = false;
}

#define FILTER_NONE 0xffff
#define REC_CLEAN 0x1
#define REC_CONNECTED 0x2
#define REC_ASLEEP 0x4
#define REC_WILL 0x8

static void buf_ep(struct sq_buf *b, const struct pso_endpoint *ep)
{
	buf_u8(b, ep->family);
	buf_bytes(b, ep->addr, sizeof(ep->addr));
	buf_bytes(b, &ep->port, sizeof(ep->port));
}

static void buf_local(struct sq_buf *b, const struct in6_pktinfo *pi)
{
	buf_bytes(b, &pi->ipi6_addr, sizeof(pi->ipi6_addr));
	buf_be(b, (uint32_t)pi->ipi6_ifindex, 4);
}

static void encode_session(struct sq_buf *b, const struct pso_rec_session *r)
{
	size_t n;

	buf_reset(b);
	buf_u8(b, (uint8_t)((r->clean ? REC_CLEAN : 0) | (r->connected ? REC_CONNECTED : 0) |
			    (r->asleep ? REC_ASLEEP : 0) | (r->will_topic ? REC_WILL : 0)));
	buf_ep(b, &r->ep);
	buf_local(b, &r->local);
	n = r->fwd.node_len <= MQTTSN_NODE_ID_MAX ? r->fwd.node_len : 0;
	buf_u8(b, (uint8_t)n);
	buf_bytes(b, r->fwd.node, n);
	buf_u8(b, r->fwd.ctrl);
	buf_ep(b, &r->fwd_ep);
	buf_local(b, &r->fwd_local);
	buf_be(b, r->keepalive_s, 2);
	buf_be(b, r->sleep_s, 2);
	buf_be(b, r->next_msg_id, 2);
	buf_be(b, (uint32_t)(r->lost_unix_ms >> 32), 4);
	buf_be(b, (uint32_t)r->lost_unix_ms, 4);
	n = r->nqos2 > 0 && (size_t)r->nqos2 <= sizeof(r->qos2) / sizeof(r->qos2[0]) ?
	    (size_t)r->nqos2 : 0;
	buf_u8(b, (uint8_t)n);
	for (size_t i = 0; i < n; i++)
		buf_be(b, r->qos2[i], 2);
	buf_be(b, r->ntold > 0 ? (uint32_t)r->ntold : 0, 4);
	for (int i = 0; i < r->ntold; i++)
		buf_be(b, r->told[i], 2);
	n = r->validation_len <= 0xffff ? r->validation_len : 0;
	buf_be(b, (uint32_t)n, 2);
	buf_bytes(b, r->validation, n);
	if (r->will_topic) {
		n = strlen(r->will_topic);
		n = n < 0xffff ? n : 0xffff;
		buf_be(b, (uint32_t)n, 2);
		buf_bytes(b, r->will_topic, n);
		buf_u8(b, r->will_flags);
		buf_be(b, (uint32_t)r->will_len, 4);
		buf_bytes(b, r->will_msg, r->will_len);
	}
	buf_be(b, r->nsubs > 0 ? (uint32_t)r->nsubs : 0, 4);
	for (int i = 0; i < r->nsubs; i++) {
		const struct pso_rec_sub *sub = &r->subs[i];

		n = sub->filter ? strlen(sub->filter) : 0;
		n = n < FILTER_NONE ? n : FILTER_NONE - 1;
		buf_u8(b, sub->kind);
		buf_u8(b, sub->qos);
		buf_be(b, sub->topic_id, 2);
		buf_be(b, sub->filter ? (uint32_t)n : FILTER_NONE, 2);
		buf_bytes(b, sub->filter, n);
	}
	buf_be(b, r->nmsgs > 0 ? (uint32_t)r->nmsgs : 0, 4);
	for (int i = 0; i < r->nmsgs; i++) {
		const struct pso_rec_msg *m = &r->msgs[i];

		buf_u8(b, m->box == PSO_BOX_SLEEP);
		buf_u8(b, m->state);
		buf_u8(b, m->sent_before);
		buf_be(b, m->msg_id, 2);
		buf_u8(b, m->flags);
		buf_be(b, m->topic_field, 2);
		buf_be(b, (uint32_t)m->len, 4);
		buf_bytes(b, m->data, m->len);
	}
}

/* A reader over a blob: each take fails (NULL, false) past its end. */
struct rd {
	const uint8_t *p;
	size_t left;
};

static const uint8_t *take(struct rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (n > r->left)
		return NULL;
	r->p += n;
	r->left -= n;
	return p;
}

static bool take_be(struct rd *r, int bytes, uint32_t *v)
{
	const uint8_t *p = take(r, (size_t)bytes);

	*v = 0;
	for (int i = 0; p && i < bytes; i++)
		*v = *v << 8 | p[i];
	return p != NULL;
}

static bool take_copy(struct rd *r, void *to, size_t n)
{
	const uint8_t *p = take(r, n);

	if (p)
		memcpy(to, p, n);
	return p != NULL;
}

/* n bytes, copied to the heap (n may be 0); NULL past the end or out of
 * memory (*nomem says which). */
static uint8_t *take_dup(struct rd *r, size_t n, bool *nomem)
{
	const uint8_t *p = take(r, n);
	uint8_t *copy;

	if (!p)
		return NULL;
	copy = malloc(n + 1);
	if (!copy) {
		*nomem = true;
		return NULL;
	}
	memcpy(copy, p, n);
	copy[n] = '\0';
	return copy;
}

static bool take_ep(struct rd *r, struct pso_endpoint *ep)
{
	uint32_t family;

	return take_be(r, 1, &family) && (ep->family = (uint8_t)family, true) &&
	       take_copy(r, ep->addr, sizeof(ep->addr)) && take_copy(r, &ep->port, sizeof(ep->port));
}

static bool take_local(struct rd *r, struct in6_pktinfo *pi)
{
	uint32_t ifindex;

	if (!take_copy(r, &pi->ipi6_addr, sizeof(pi->ipi6_addr)) || !take_be(r, 4, &ifindex))
		return false;
	pi->ipi6_ifindex = (int)ifindex;
	return true;
}

/* A session record back from its blob: 0, -ENOMEM, or -EUCLEAN (it does
 * not parse).  What was taken is r's, freed with the record either way. */
static int decode_session(struct rd *in, struct pso_rec_session *r)
{
	uint32_t flags, n, v, hi, lo;
	bool nomem = false;

	if (!take_be(in, 1, &flags) || !take_ep(in, &r->ep) || !take_local(in, &r->local) ||
	    !take_be(in, 1, &n) || n > MQTTSN_NODE_ID_MAX || !take_copy(in, r->fwd.node, n))
		return -EUCLEAN;
	r->fwd.node_len = (uint8_t)n;
	if (!take_be(in, 1, &v) || !take_ep(in, &r->fwd_ep) || !take_local(in, &r->fwd_local))
		return -EUCLEAN;
	r->fwd.ctrl = (uint8_t)v;
	r->clean = flags & REC_CLEAN;
	r->connected = flags & REC_CONNECTED;
	r->asleep = flags & REC_ASLEEP;
	if (!take_be(in, 2, &v))
		return -EUCLEAN;
	r->keepalive_s = (uint16_t)v;
	if (!take_be(in, 2, &v))
		return -EUCLEAN;
	r->sleep_s = (uint16_t)v;
	if (!take_be(in, 2, &v) || !take_be(in, 4, &hi) || !take_be(in, 4, &lo))
		return -EUCLEAN;
	r->next_msg_id = (uint16_t)v;
	r->lost_unix_ms = (uint64_t)hi << 32 | lo;
	if (!take_be(in, 1, &n) || n > sizeof(r->qos2) / sizeof(r->qos2[0]))
		return -EUCLEAN;
	for (uint32_t i = 0; i < n; i++) {
		if (!take_be(in, 2, &v))
			return -EUCLEAN;
		r->qos2[i] = (uint16_t)v;
	}
	r->nqos2 = (int)n;
	if (!take_be(in, 4, &n) || n > in->left / 2)
		return -EUCLEAN;
	r->told = calloc(n ? n : 1, sizeof(*r->told));
	if (!r->told)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		take_be(in, 2, &v);
		r->told[i] = (uint16_t)v;
	}
	r->ntold = (int)n;
	if (!take_be(in, 2, &n))
		return -EUCLEAN;
	if (n && !(r->validation = take_dup(in, n, &nomem)))
		return nomem ? -ENOMEM : -EUCLEAN;
	r->validation_len = n;
	if (flags & REC_WILL) {
		if (!take_be(in, 2, &n) || !(r->will_topic = (char *)take_dup(in, n, &nomem)) ||
		    !take_be(in, 1, &v) || !take_be(in, 4, &n) ||
		    !(r->will_msg = take_dup(in, n, &nomem)))
			return nomem ? -ENOMEM : -EUCLEAN;
		r->will_flags = (uint8_t)v;
		r->will_len = n;
	}
	if (!take_be(in, 4, &n) || n > in->left / 6)
		return -EUCLEAN;
	r->subs = calloc(n ? n : 1, sizeof(*r->subs));
	if (!r->subs)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct pso_rec_sub *sub = &r->subs[i];
		uint32_t kind, qos, topic, len;

		if (!take_be(in, 1, &kind) || !take_be(in, 1, &qos) || !take_be(in, 2, &topic) ||
		    !take_be(in, 2, &len))
			return -EUCLEAN;
		r->nsubs = (int)i + 1;
		*sub = (struct pso_rec_sub){ .kind = (uint8_t)kind, .qos = (uint8_t)qos,
					     .topic_id = (uint16_t)topic };
		if (len != FILTER_NONE && !(sub->filter = (char *)take_dup(in, len, &nomem)))
			return nomem ? -ENOMEM : -EUCLEAN;
	}
	if (!take_be(in, 4, &n) || n > in->left / 12)
		return -EUCLEAN;
	r->msgs = calloc(n ? n : 1, sizeof(*r->msgs));
	if (!r->msgs)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		struct pso_rec_msg *m = &r->msgs[i];
		uint32_t box, state, before, msg_id, mflags, field, len;

		if (!take_be(in, 1, &box) || !take_be(in, 1, &state) || !take_be(in, 1, &before) ||
		    !take_be(in, 2, &msg_id) || !take_be(in, 1, &mflags) ||
		    !take_be(in, 2, &field) || !take_be(in, 4, &len))
			return -EUCLEAN;
		r->nmsgs = (int)i + 1;
		*m = (struct pso_rec_msg){
			.box = box ? PSO_BOX_SLEEP : PSO_BOX_OUTBOX,
			.state = (uint8_t)state,
			.sent_before = before != 0,
			.msg_id = (uint16_t)msg_id,
			.flags = (uint8_t)mflags,
			.topic_field = (uint16_t)field,
			.len = len,
		};
		if (!(m->data = take_dup(in, len, &nomem)))
			return nomem ? -ENOMEM : -EUCLEAN;
	}
	return in->left ? -EUCLEAN : 0;
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

	encode_session(&q->rec, r);
	if (q->rec.failed) {
		snprintf(err, errlen, "store %s: out of memory", q->path);
		return -ENOMEM;
	}
	/* Static: the id and the buffer outlive the step, and every value is
	 * bound again before the next. */
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, r->clean);
	sqlite3_bind_int(st, 3, r->connected);
	sqlite3_bind_blob64(st, 4, q->rec.b, q->rec.len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (int64_t)rev);
	sqlite3_bind_int64(st, 6, (int64_t)lease);
	return step(q, st, "write a session", err, errlen);
}

static int delete_session(struct sq *q, const char *id, char *err, size_t errlen)
{
	sqlite3_bind_text(q->st[ST_SESSION_DEL], 1, id, -1, SQLITE_STATIC);
	return step(q, q->st[ST_SESSION_DEL], "delete a session", err, errlen);
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

/* The change's key, for the revision's row in the change log. */
static void log_key(struct sq *q, const struct pso_store_change *ch)
{
	struct pso_store_key key = pso_store_key_of(&ch->rec);
	char text[MQTTSN_CLIENT_ID_MAX + 8];
	size_t n;

	pso_store_key_text(&key, text, sizeof(text));
	n = strlen(text);
	buf_u8(&q->keys, (uint8_t)key.kind);
	buf_u8(&q->keys, ch->deleted);
	buf_u8(&q->keys, (uint8_t)n);
	buf_bytes(&q->keys, text, n);
}

static int log_changes(struct sq *q, uint64_t rev, char *err, size_t errlen)
{
	sqlite3_stmt *st = q->st[ST_CHANGE];

	if (q->keys.failed) {
		snprintf(err, errlen, "store %s: out of memory", q->path);
		return -ENOMEM;
	}
	sqlite3_bind_int64(st, 1, (int64_t)rev);
	bind_blob(st, 2, q->keys.b, q->keys.len);
	return step(q, st, "log the changes", err, errlen);
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
	buf_reset(&q->keys);
	for (size_t i = 0; !ret && i < n; i++) {
		ret = write_change(q, &ch[i], rev, err, errlen);
		log_key(q, &ch[i]);
	}
	if (!ret)
		ret = log_changes(q, rev, err, errlen);
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
	q->last_commit_unix_ms = (uint64_t)time(NULL) * 1000;
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

static int row_session(struct sq *q, sqlite3_stmt *st, struct pso_rec *rec,
		       struct pso_store_item *it, char *err, size_t errlen)
{
	struct pso_rec_session *r = &rec->s;
	struct rd in = { sqlite3_column_blob(st, 3), (size_t)sqlite3_column_bytes(st, 3) };
	int ret;

	rec->kind = PSO_REC_SESSION;
	snprintf(r->id, sizeof(r->id), "%s", sqlite3_column_text(st, 0));
	row_revs(st, 4, it);
	ret = decode_session(&in, r);
	if (ret == -EUCLEAN)
		snprintf(err, errlen, "store %s: corrupt (session %s: its record does not parse)",
			 q->path, r->id);
	return ret;
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
	while (!ret && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct rd in = { sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1) };
		uint64_t rev = (uint64_t)sqlite3_column_int64(st, 0);

		while (in.left) {
			uint32_t kind, deleted, len;
			const uint8_t *key;

			if (!take_be(&in, 1, &kind) || !take_be(&in, 1, &deleted) ||
			    !take_be(&in, 1, &len) || !(key = take(&in, len)) ||
			    len >= sizeof(ch->key)) {
				ret = -EUCLEAN;
				break;
			}
			if (n == cap) {
				void *grown = realloc(ch, (cap = cap ? 2 * cap : 64) * sizeof(*ch));

				if (!grown) {
					ret = -ENOMEM;
					break;
				}
				ch = grown;
			}
			ch[n].rev = rev;
			ch[n].kind = (int)kind;
			memcpy(ch[n].key, key, len);
			ch[n].key[len] = '\0';
			ch[n].deleted = deleted != 0;
			n++;
		}
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
	.tick = sq_tick,
};
