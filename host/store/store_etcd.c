// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * store_etcd.c - --store=etcd:URL[,URL...]: the records in an etcd 3.4
 * cluster, through its v3 JSON gateway (POST /v3/kv/range, /v3/kv/txn,
 * /v3/watch, /v3/lease/...), with libcurl and json-c.  Keys and values are
 * base64 on the wire.
 *
 * The keys, under /psoffload/CLUSTER/ (docs/DESIGN.md, the store):
 *   schema                 "1": the layout; another value is refused
 *   topics/id/ID           a topic's record (JSON, rec_json.h)
 *   topics/name/NAME       its id, in decimal: two brokers claim both keys
 *                          in one transaction (pso_store_claim_topic)
 *   retained/ID            a retained message's record
 *   sessions/CLIENT_ID     a session's record
 *   anything else          raw keys: the HA layer's (members/NAME, leader)
 *
 * The revision is etcd's: a commit is one transaction (or several, when
 * its operations pass etcd's limit of 128 per transaction: each one is
 * atomic, the commit as a whole is not, but a failed one stays queued and
 * is written again whole, and every write is of the whole current record,
 * so a retried commit converges).  Requests go to one member; one that
 * cannot be reached (or has no leader) hands over to the next in the list.
 * Every request carries gRPC metadata hasleader=true, so that a member
 * cut off from its cluster answers "no leader" at once rather than hang.
 *
 * The watch streams in a thread of its own, from the last revision it saw,
 * on whichever member answers; what it receives waits in a queue that
 * pso_store_watch() empties, and an eventfd says when there is some.  A
 * compaction past the revision asked for ends it with -ENODATA: the caller
 * lists again.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include "store/backend.h"
#include "store/rec_json.h"
#include "util/log.h"

#define EC_SCHEMA "1"
#define EC_MAX_URLS 8
#define EC_MAX_OPS 128		/* etcd's --max-txn-ops default */
/* etcd's --max-request-bytes default is 1.5 MiB: a transaction is closed
 * once its values pass this (one larger record still goes alone) */
#define EC_MAX_TXN_BYTES (1024 * 1024)
#define EC_PAGE 500		/* keys per range request when loading */
#define EC_CONNECT_MS 1000
#define EC_REQUEST_MS 3000
#define EC_MAX_LEASES 16
#define EC_RETRY_MS 200		/* a watch that ended: again after this */
/* No member answered (or one timed out): for this long every request
 * fails at once, so that an event loop whose store is cut off (packets
 * dropped: each member a connect timeout; a member that takes the request
 * and never answers: the request timeout) is not held up round after
 * round. */
#define EC_DOWN_MS 500

/* gRPC status codes the gateway hands back */
#define GRPC_NOT_FOUND 5
#define GRPC_OUT_OF_RANGE 11	/* compacted, or a future revision */
#define GRPC_UNAVAILABLE 14	/* no leader, stopping */

struct ec_buf {
	char *data;
	size_t len, cap;
};

/* One change the watch received, undecoded. */
struct wev {
	uint64_t rev, create_rev, lease;
	bool deleted;
	char *key;		/* relative to the prefix */
	uint8_t *val;
	size_t len;
};

struct ec_watch {
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;
	/* under lock */
	bool stop, restart;
	int error;		/* -ENODATA: compacted past what was asked */
	uint64_t next_start;	/* the revision the stream starts from next */
	uint64_t progress;	/* everything up to here was received */
	struct wev *q;
	size_t nq, capq;
	/* the thread's */
	CURLM *multi;		/* curl_multi_wakeup() stops it at once */
	CURL *curl;
	struct ec_buf line;
	size_t url;
};

struct ec_lease {
	uint64_t id;
	unsigned int ttl_s;
	uint64_t next_ms;	/* the next keep-alive */
};

struct ec {
	char *urls[EC_MAX_URLS];
	size_t nurls, cur;
	char prefix[128];	/* "/psoffload/CLUSTER/" */
	size_t prefix_len;
	CURL *curl;
	struct curl_slist *headers;
	struct ec_buf resp;
	struct ec_lease leases[EC_MAX_LEASES];
	size_t nleases;
	uint64_t down_until;	/* CLOCK_MONOTONIC ms: see EC_DOWN_MS */
	/* the last request was sent again after a member answered "unavailable"
	 * (a timed-out proposal there may still have been applied) */
	bool resent;
	char down_why[256];
	int efd;
	struct ec_watch w;
	uint64_t watch_from;	/* what the running watch was asked for */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int buf_add(struct ec_buf *b, const void *data, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

static size_t on_body(char *ptr, size_t size, size_t n, void *arg)
{
	return buf_add(arg, ptr, size * n) ? 0 : size * n;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A request outside a commit that failed: for status. */
static void note_error(struct pso_store *s, const char *err)
{
	size_t n = strlen(err);

	if (n >= sizeof(s->stats.last_error))
		n = sizeof(s->stats.last_error) - 1;
	memcpy(s->stats.last_error, err, n);
	s->stats.last_error[n] = '\0';
}

/* ---- JSON helpers ------------------------------------------------------------------- */

static struct json_object *jget(struct json_object *o, const char *name)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, name, &v) ? v : NULL;
}

/* Element i of an array; NULL if o is none or shorter. */
static struct json_object *jidx(struct json_object *o, size_t i)
{
	if (!o || !json_object_is_type(o, json_type_array) || i >= json_object_array_length(o))
		return NULL;
	return json_object_array_get_idx(o, i);
}

/* The gateway writes 64-bit numbers as strings; absent is 0. */
static uint64_t jnum(struct json_object *o, const char *name)
{
	struct json_object *v = jget(o, name);

	if (!v)
		return 0;
	if (json_object_is_type(v, json_type_string))
		return strtoull(json_object_get_string(v), NULL, 10);
	return (uint64_t)json_object_get_int64(v);
}

static struct json_object *jb64(const void *data, size_t n)
{
	char *b = pso_b64_encode(data, n);
	struct json_object *o = b ? json_object_new_string(b) : NULL;

	free(b);
	return o;
}

static struct json_object *jkey(const char *key)
{
	return jb64(key, strlen(key));
}

static struct json_object *jrev(uint64_t v)
{
	char text[24];

	snprintf(text, sizeof(text), "%" PRIu64, v);
	return json_object_new_string(text);
}

/* The bytes of a base64 field (NUL past the end); NULL if absent or bad. */
static uint8_t *jbytes(struct json_object *o, const char *name, size_t *n)
{
	struct json_object *v = jget(o, name);

	*n = 0;
	if (!v) {
		uint8_t *empty = calloc(1, 1);

		return empty;
	}
	return pso_b64_decode(json_object_get_string(v), (size_t)json_object_get_string_len(v), n);
}

/* The end of the range of every key that starts with prefix. */
static void prefix_end(const char *prefix, char *end, size_t len)
{
	size_t n = strlen(prefix);

	snprintf(end, len, "%s", prefix);
	if (n && n < len)
		end[n - 1]++;
}

/* ---- requests ----------------------------------------------------------------------- */

static CURL *easy_new(struct ec *e)
{
	CURL *c = curl_easy_init();

	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, e->headers);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)EC_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPIDLE, 2L);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPINTVL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	return c;
}

/* Could the request not reach the member (or the member not serve it)?
 * Then the next one is tried. */
static bool unreachable(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	       rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING;
}

/*
 * POST req to path on a member: *resp the answer (the caller puts it).
 * 0; -ENODATA (the revision is compacted), -ENOENT (no such lease),
 * -EHOSTUNREACH (no member answered), -ETIMEDOUT, -EIO, with a line in err.
 */
static int ec_call(struct pso_store *s, const char *path, struct json_object *req,
		   struct json_object **resp, char *err, size_t errlen)
{
	struct ec *e = s->priv;
	const char *body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	char url[512], last[256] = "";
	int ret = -EHOSTUNREACH;
	uint64_t t = mono_ms();

	*resp = NULL;
	e->resent = false;
	if (t < e->down_until) {
		snprintf(err, errlen, "store etcd: no member reachable: %s", e->down_why);
		return -EHOSTUNREACH;
	}
	for (size_t tries = 0; tries < e->nurls; tries++) {
		struct json_object *r, *error;
		CURLcode rc;
		long code = 0;

		snprintf(url, sizeof(url), "%s%s", e->urls[e->cur], path);
		e->resp.len = 0;
		curl_easy_setopt(e->curl, CURLOPT_URL, url);
		curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, (long)EC_REQUEST_MS);
		curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &e->resp);
		rc = curl_easy_perform(e->curl);
		if (rc != CURLE_OK) {
			snprintf(last, sizeof(last), "%s: %s", e->urls[e->cur], curl_easy_strerror(rc));
			e->cur = (e->cur + 1) % e->nurls;
			if (unreachable(rc))
				continue;
			/* It may have been done: not sent again. */
			ret = rc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
			goto fail;
		}
		curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &code);
		r = e->resp.len ? json_tokener_parse(e->resp.data) : NULL;
		if (!r || !json_object_is_type(r, json_type_object)) {
			snprintf(last, sizeof(last), "%s: HTTP %ld, not JSON", e->urls[e->cur], code);
			json_object_put(r);
			ret = -EIO;
			goto fail;
		}
		error = jget(r, "error");
		if (error) {
			int gcode = (int)jnum(r, "code");

			snprintf(last, sizeof(last), "%s: %s", e->urls[e->cur],
				 json_object_get_string(error));
			json_object_put(r);
			if (gcode == GRPC_UNAVAILABLE) {
				e->cur = (e->cur + 1) % e->nurls;
				ret = -EHOSTUNREACH;
				e->resent = true;
				continue;
			}
			s->stats.reachable = true;
			ret = gcode == GRPC_OUT_OF_RANGE ? -ENODATA :
			      gcode == GRPC_NOT_FOUND ? -ENOENT : -EIO;
			snprintf(err, errlen, "store %s", last);
			return ret;
		}
		s->stats.reachable = true;
		*resp = r;
		return 0;
	}
fail:
	s->stats.reachable = false;
	if (ret == -EHOSTUNREACH || ret == -ETIMEDOUT) {
		e->down_until = mono_ms() + EC_DOWN_MS;
		snprintf(e->down_why, sizeof(e->down_why), "%s", last);
	}
	snprintf(err, errlen, "store etcd: %s%s", ret == -EHOSTUNREACH ? "no member reachable: " : "",
		 last);
	return ret;
}

static uint64_t header_rev(struct json_object *resp)
{
	return jnum(jget(resp, "header"), "revision");
}

/* ---- keys --------------------------------------------------------------------------- */

static void rec_key(const struct ec *e, const struct pso_store_key *k, char *buf, size_t len)
{
	switch (k->kind) {
	case PSO_REC_TOPIC:
		snprintf(buf, len, "%stopics/id/%u", e->prefix, k->id);
		break;
	case PSO_REC_RETAINED:
		snprintf(buf, len, "%sretained/%u", e->prefix, k->id);
		break;
	case PSO_REC_SESSION:
		snprintf(buf, len, "%ssessions/%s", e->prefix, k->client_id);
		break;
	default:
		snprintf(buf, len, "%s?", e->prefix);
	}
}

static const char *kind_prefix(enum pso_rec_kind kind)
{
	return kind == PSO_REC_TOPIC ? "topics/id/" : kind == PSO_REC_RETAINED ? "retained/" :
	       "sessions/";
}

static int name_key(const struct ec *e, const char *name, char *buf, size_t len)
{
	return snprintf(buf, len, "%stopics/name/%s", e->prefix, name) >= (int)len ? -ENAMETOOLONG
										     : 0;
}

/* What a key (relative to the prefix) is: a record's kind with its key
 * filled in, 0 for a raw key, -1 for one to skip (topics/name/, schema). */
static int key_kind(const char *rel, struct pso_store_key *k, char *idbuf, size_t idlen)
{
	static const struct {
		const char *prefix;
		enum pso_rec_kind kind;
	} kinds[] = {
		{ "topics/id/", PSO_REC_TOPIC },
		{ "retained/", PSO_REC_RETAINED },
		{ "sessions/", PSO_REC_SESSION },
	};

	if (!strncmp(rel, "topics/", 7) && strncmp(rel, "topics/id/", 10))
		return -1;
	if (!strcmp(rel, "schema"))
		return -1;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t n = strlen(kinds[i].prefix);

		if (strncmp(rel, kinds[i].prefix, n))
			continue;
		memset(k, 0, sizeof(*k));
		k->kind = kinds[i].kind;
		if (k->kind == PSO_REC_SESSION) {
			snprintf(idbuf, idlen, "%s", rel + n);
			k->client_id = idbuf;
		} else {
			char *end;
			unsigned long id = strtoul(rel + n, &end, 10);

			if (*end || !id || id > 0xffff)
				return -1;
			k->id = (uint16_t)id;
		}
		return k->kind;
	}
	return 0;
}

/* ---- opening ------------------------------------------------------------------------ */

static void watch_stop(struct ec *e);

static void ec_free(struct ec *e)
{
	if (!e)
		return;
	watch_stop(e);
	for (size_t i = 0; i < e->nurls; i++)
		free(e->urls[i]);
	if (e->curl)
		curl_easy_cleanup(e->curl);
	curl_slist_free_all(e->headers);
	free(e->resp.data);
	if (e->efd >= 0)
		close(e->efd);
	pthread_mutex_destroy(&e->w.lock);
	free(e);
}

static int parse_urls(struct ec *e, const char *arg, char *err, size_t errlen)
{
	const char *p = arg;

	while (*p) {
		size_t n = strcspn(p, ",");

		if (e->nurls == EC_MAX_URLS) {
			snprintf(err, errlen, "store etcd: at most %d members", EC_MAX_URLS);
			return -EINVAL;
		}
		if (!(n > 7 && !strncmp(p, "http://", 7)) && !(n > 8 && !strncmp(p, "https://", 8))) {
			snprintf(err, errlen, "store etcd: '%.*s' is not http://HOST:PORT", (int)n, p);
			return -EINVAL;
		}
		e->urls[e->nurls] = strndup(p, n);
		if (!e->urls[e->nurls])
			return -ENOMEM;
		/* no trailing slash: paths are appended */
		while (e->urls[e->nurls][strlen(e->urls[e->nurls]) - 1] == '/')
			e->urls[e->nurls][strlen(e->urls[e->nurls]) - 1] = '\0';
		e->nurls++;
		p += n;
		if (*p == ',')
			p++;
	}
	if (!e->nurls) {
		snprintf(err, errlen, "store etcd: no member given");
		return -EINVAL;
	}
	return 0;
}

static int check_schema(struct pso_store *s, char *err, size_t errlen)
{
	struct ec *e = s->priv;
	struct json_object *req = json_object_new_object(), *cmp = json_object_new_object();
	struct json_object *put = json_object_new_object(), *op = json_object_new_object();
	struct json_object *rng = json_object_new_object(), *fop = json_object_new_object();
	struct json_object *a, *resp, *kv;
	char key[256];
	int ret;

	snprintf(key, sizeof(key), "%sschema", e->prefix);
	/* Create it if it is not there; read it back if it is. */
	json_object_object_add(cmp, "key", jkey(key));
	json_object_object_add(cmp, "target", json_object_new_string("CREATE"));
	json_object_object_add(cmp, "create_revision", jrev(0));
	a = json_object_new_array();
	json_object_array_add(a, cmp);
	json_object_object_add(req, "compare", a);
	json_object_object_add(put, "key", jkey(key));
	json_object_object_add(put, "value", jb64(EC_SCHEMA, strlen(EC_SCHEMA)));
	json_object_object_add(op, "request_put", put);
	a = json_object_new_array();
	json_object_array_add(a, op);
	json_object_object_add(req, "success", a);
	json_object_object_add(rng, "key", jkey(key));
	json_object_object_add(fop, "request_range", rng);
	a = json_object_new_array();
	json_object_array_add(a, fop);
	json_object_object_add(req, "failure", a);
	ret = ec_call(s, "/v3/kv/txn", req, &resp, err, errlen);
	json_object_put(req);
	if (ret)
		return ret;
	s->rev = header_rev(resp);
	if (!json_object_get_boolean(jget(resp, "succeeded"))) {
		struct json_object *r = jidx(jget(resp, "responses"), 0);
		size_t n;
		uint8_t *v;

		kv = jidx(jget(jget(r, "response_range"), "kvs"), 0);
		v = jbytes(kv, "value", &n);
		if (!v || strcmp((char *)v, EC_SCHEMA)) {
			snprintf(err, errlen, "store %s: %s holds schema '%s', this psoffload reads "
				 "'%s'", s->spec, key, v ? (char *)v : "?", EC_SCHEMA);
			ret = -EUCLEAN;
		}
		free(v);
	}
	json_object_put(resp);
	return ret;
}

static int ec_open(struct pso_store *s, const char *arg, unsigned int flags, char *err,
		   size_t errlen)
{
	struct ec *e = calloc(1, sizeof(*e));
	int ret;

	if (!e) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	e->efd = -1;
	pthread_mutex_init(&e->w.lock, NULL);
	s->priv = e;
	if (flags & PSO_STORE_RESET) {
		snprintf(err, errlen, "store %s: --store-reset is not for a store the cluster "
			 "shares (remove /psoffload/%s/ with etcdctl if that is meant)", s->spec,
			 s->cluster);
		ret = -EINVAL;
		goto fail;
	}
	pthread_once(&curl_once, curl_init);
	ret = parse_urls(e, arg, err, errlen);
	if (ret)
		goto fail;
	snprintf(e->prefix, sizeof(e->prefix), "/psoffload/%s/", s->cluster);
	e->prefix_len = strlen(e->prefix);
	e->headers = curl_slist_append(NULL, "Content-Type: application/json");
	if (e->headers)
		e->headers = curl_slist_append(e->headers, "Grpc-Metadata-hasleader: true");
	/* no "Expect: 100-continue" round trip before a larger body */
	if (e->headers)
		e->headers = curl_slist_append(e->headers, "Expect:");
	e->curl = e->headers ? easy_new(e) : NULL;
	e->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!e->curl || e->efd < 0) {
		snprintf(err, errlen, "store %s: cannot set up: %s", s->spec,
			 e->efd < 0 ? strerror(errno) : "libcurl");
		ret = -ENOMEM;
		goto fail;
	}
	ret = check_schema(s, err, errlen);
	if (ret)
		goto fail;
	return 0;
fail:
	ec_free(e);
	s->priv = NULL;
	return ret;
}

static void ec_close(struct pso_store *s)
{
	struct ec *e = s->priv;
	char err[256];

	/* The leases granted here go now rather than at their TTL. */
	for (size_t i = 0; e && i < e->nleases; i++) {
		struct json_object *req = json_object_new_object(), *resp;

		json_object_object_add(req, "ID", jrev(e->leases[i].id));
		if (!ec_call(s, "/v3/lease/revoke", req, &resp, err, sizeof(err)))
			json_object_put(resp);
		json_object_put(req);
	}
	ec_free(e);
	s->priv = NULL;
}

/* ---- reading ------------------------------------------------------------------------ */

/* One kv of a range or watch as an item for fn.  Keys it does not know
 * (raw ones, when records are listed) are skipped. */
static int hand_kv(struct pso_store *s, struct json_object *kv, bool raw_wanted, pso_store_fn fn,
		   void *ctx, int *skipped)
{
	struct ec *e = s->priv;
	struct pso_store_item it = {
		.create_rev = jnum(kv, "create_revision"),
		.mod_rev = jnum(kv, "mod_revision"),
		.lease = jnum(kv, "lease"),
	};
	struct pso_store_key k;
	struct pso_store_raw raw;
	struct pso_rec rec;
	char idbuf[MQTTSN_CLIENT_ID_MAX + 2];
	size_t klen, vlen;
	uint8_t *key = jbytes(kv, "key", &klen), *val = NULL;
	int kind, ret = 0;

	if (!key || klen < e->prefix_len || memcmp(key, e->prefix, e->prefix_len)) {
		free(key);
		return 0;
	}
	kind = key_kind((char *)key + e->prefix_len, &k, idbuf, sizeof(idbuf));
	if (kind < 0 || (kind == 0) != raw_wanted) {
		free(key);
		return 0;
	}
	val = jbytes(kv, "value", &vlen);
	if (!val) {
		ret = -EIO;
	} else if (kind == 0) {
		raw = (struct pso_store_raw){ .key = (char *)key + e->prefix_len, .val = val,
					      .len = vlen };
		it.raw = &raw;
		ret = fn(&it, ctx);
	} else if (pso_rec_from_json(kind, (char *)val, vlen, &rec)) {
		pso_warn("store %s: %s: not a record of psoffload's: skipped", s->spec, key);
		if (skipped)
			(*skipped)++;
	} else {
		it.rec = &rec;
		ret = fn(&it, ctx);
		pso_rec_free(&rec);
	}
	free(key);
	free(val);
	return ret;
}

/* Every key from key up to end at revision *rev (0: now; then *rev is the
 * revision read), a page at a time. */
static int range_all(struct pso_store *s, const char *start, const char *end, uint64_t *rev,
		     bool raw_wanted, pso_store_fn fn, void *ctx, char *err, size_t errlen)
{
	char *from = strdup(start);
	int ret = 0;

	while (from && !ret) {
		struct json_object *req = json_object_new_object(), *resp, *kvs;
		size_t n;
		bool more;

		json_object_object_add(req, "key", jkey(from));
		json_object_object_add(req, "range_end", jkey(end));
		json_object_object_add(req, "limit", jrev(EC_PAGE));
		if (*rev)
			json_object_object_add(req, "revision", jrev(*rev));
		ret = ec_call(s, "/v3/kv/range", req, &resp, err, errlen);
		json_object_put(req);
		if (ret)
			break;
		if (!*rev)
			*rev = header_rev(resp);
		kvs = jget(resp, "kvs");
		n = kvs && json_object_is_type(kvs, json_type_array) ? json_object_array_length(kvs)
								   : 0;
		for (size_t i = 0; !ret && i < n; i++)
			ret = hand_kv(s, jidx(kvs, i), raw_wanted, fn, ctx, NULL);
		more = json_object_get_boolean(jget(resp, "more")) && n;
		free(from);
		from = NULL;
		if (more) {
			size_t klen;
			uint8_t *last = jbytes(jidx(kvs, n - 1), "key", &klen);

			/* the next page starts just past the last key */
			from = last ? realloc(last, klen + 2) : NULL;
			if (from) {
				from[klen] = '\x01';
				from[klen + 1] = '\0';
				/* keys hold no NUL: "last\x01" is the least key past last
				 * that a psoffload key can be */
			} else {
				free(last);
				ret = -ENOMEM;
			}
		}
		json_object_put(resp);
	}
	free(from);
	return ret;
}

static int list_kinds(struct pso_store *s, uint64_t rev, enum pso_rec_kind kind, pso_store_fn fn,
		      void *ctx, uint64_t *at_rev, char *err, size_t errlen)
{
	struct ec *e = s->priv;
	int ret = 0;

	for (int k = PSO_REC_TOPIC; !ret && k < PSO_REC__KINDS; k++) {
		char start[256], end[256];

		if (kind && (int)kind != k)
			continue;
		snprintf(start, sizeof(start), "%s%s", e->prefix, kind_prefix(k));
		prefix_end(start, end, sizeof(end));
		ret = range_all(s, start, end, &rev, false, fn, ctx, err, errlen);
	}
	if (!ret && at_rev)
		*at_rev = rev;
	return ret;
}

static int ec_list(struct pso_store *s, enum pso_rec_kind kind, pso_store_fn fn, void *ctx,
		   char *err, size_t errlen)
{
	uint64_t rev = 0;
	int ret = list_kinds(s, 0, kind, fn, ctx, &rev, err, errlen);

	if (!ret && rev > s->rev)
		s->rev = rev;
	return ret;
}

static int ec_list_at(struct pso_store *s, uint64_t rev, enum pso_rec_kind kind, pso_store_fn fn,
		      void *ctx, uint64_t *at_rev)
{
	char err[256];

	return list_kinds(s, rev, kind, fn, ctx, at_rev, err, sizeof(err));
}

/* ---- writing ------------------------------------------------------------------------ */

static int add_op(struct json_object *ops, const char *type, struct json_object *body)
{
	struct json_object *op = json_object_new_object();

	if (!op || !body) {
		json_object_put(op);
		json_object_put(body);
		return -ENOMEM;
	}
	json_object_object_add(op, type, body);
	return json_object_array_add(ops, op) ? -ENOMEM : 0;
}

static int op_put(struct json_object *ops, const char *key, const void *val, size_t len,
		  uint64_t lease)
{
	struct json_object *p = json_object_new_object();

	json_object_object_add(p, "key", jkey(key));
	json_object_object_add(p, "value", jb64(val, len));
	if (lease)
		json_object_object_add(p, "lease", jrev(lease));
	return add_op(ops, "request_put", p);
}

static int op_delete(struct json_object *ops, const char *key)
{
	struct json_object *d = json_object_new_object();

	json_object_object_add(d, "key", jkey(key));
	return add_op(ops, "request_delete_range", d);
}

static int op_range(struct json_object *ops, const char *key)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "key", jkey(key));
	return add_op(ops, "request_range", r);
}

static int add_compare(struct json_object *cmps, const char *key, const char *target,
		       uint64_t rev)
{
	struct json_object *c = json_object_new_object();

	json_object_object_add(c, "key", jkey(key));
	json_object_object_add(c, "target", json_object_new_string(target));
	json_object_object_add(c, !strcmp(target, "CREATE") ? "create_revision" : "mod_revision",
			       jrev(rev));
	return json_object_array_add(cmps, c) ? -ENOMEM : 0;
}

/* The name of topic id as the store has it now (NULL: none). */
static char *topic_name_now(struct pso_store *s, uint16_t id)
{
	struct ec *e = s->priv;
	struct pso_store_key k = { .kind = PSO_REC_TOPIC, .id = id };
	struct json_object *req = json_object_new_object(), *resp, *kv;
	struct pso_rec rec;
	char key[256], err[256], *name = NULL;
	size_t n;
	uint8_t *v;

	rec_key(e, &k, key, sizeof(key));
	json_object_object_add(req, "key", jkey(key));
	if (ec_call(s, "/v3/kv/range", req, &resp, err, sizeof(err))) {
		json_object_put(req);
		return NULL;
	}
	json_object_put(req);
	kv = jidx(jget(resp, "kvs"), 0);
	v = kv ? jbytes(kv, "value", &n) : NULL;
	if (v && !pso_rec_from_json(PSO_REC_TOPIC, (char *)v, n, &rec)) {
		name = rec.t.name;
		rec.t.name = NULL;
		pso_rec_free(&rec);
	}
	free(v);
	json_object_put(resp);
	return name;
}

/* The operations of one change (a topic: its id key and its name key). */
/* Does topics/name/NAME say id (so it is id's to delete)? */
static bool name_is(struct pso_store *s, const char *name, uint16_t id)
{
	struct ec *e = s->priv;
	struct json_object *req = json_object_new_object(), *resp, *kv;
	char nkey[512], err[256];
	uint8_t *v;
	size_t n;
	bool is;

	if (name_key(e, name, nkey, sizeof(nkey))) {
		json_object_put(req);
		return false;
	}
	json_object_object_add(req, "key", jkey(nkey));
	if (ec_call(s, "/v3/kv/range", req, &resp, err, sizeof(err))) {
		json_object_put(req);
		return false;
	}
	json_object_put(req);
	kv = jidx(jget(resp, "kvs"), 0);
	v = kv ? jbytes(kv, "value", &n) : NULL;
	is = v && strtoul((char *)v, NULL, 10) == id;
	free(v);
	json_object_put(resp);
	return is;
}

/* The operations of one change: a topic is its id key and its name key,
 * and the name key of the name the id had before, if that still says id
 * (an id given up and given to another name in one round is one put). */
static int change_ops(struct pso_store *s, struct json_object *ops,
		      const struct pso_store_change *ch, size_t *bytes)
{
	struct ec *e = s->priv;
	struct pso_store_key k = pso_store_key_of(&ch->rec);
	char key[256], nkey[512];
	char *json, *old = NULL;
	size_t len;
	int ret;

	rec_key(e, &k, key, sizeof(key));
	if (k.kind == PSO_REC_TOPIC) {
		old = topic_name_now(s, k.id);
		if (old && !ch->deleted && ch->rec.t.name && !strcmp(old, ch->rec.t.name)) {
			free(old);
			old = NULL;	/* the same name: its key is put again below */
		}
	}
	ret = 0;
	if (old && name_is(s, old, k.id) && !name_key(e, old, nkey, sizeof(nkey)))
		ret = op_delete(ops, nkey);
	free(old);
	if (ret || ch->deleted)
		return ret ? ret : op_delete(ops, key);
	ret = pso_rec_to_json(&ch->rec, &json, &len);
	if (ret)
		return ret;
	if (bytes)
		*bytes += len * 4 / 3 + 2 * sizeof(key);
	ret = op_put(ops, key, json, len, ch->lease);
	free(json);
	if (!ret && k.kind == PSO_REC_TOPIC && ch->rec.t.name) {
		char id[8];

		snprintf(id, sizeof(id), "%u", k.id);
		ret = name_key(e, ch->rec.t.name, nkey, sizeof(nkey));
		if (!ret)
			ret = op_put(ops, nkey, id, strlen(id), ch->lease);
	}
	return ret;
}

/* One transaction: compare (may be NULL) then ops or failure.  *ok: did
 * the compare hold; *resp (may be NULL): the answer, for the caller. */
static int txn(struct pso_store *s, struct json_object *cmps, struct json_object *ops,
	       struct json_object *failure, bool *ok, struct json_object **resp, char *err,
	       size_t errlen)
{
	struct json_object *req = json_object_new_object(), *r;
	int ret;

	if (cmps)
		json_object_object_add(req, "compare", cmps);
	json_object_object_add(req, "success", ops);
	if (failure)
		json_object_object_add(req, "failure", failure);
	ret = ec_call(s, "/v3/kv/txn", req, &r, err, errlen);
	json_object_put(req);
	if (ret)
		return ret;
	if (header_rev(r) > s->rev)
		s->rev = header_rev(r);
	if (ok)
		*ok = json_object_get_boolean(jget(r, "succeeded"));
	if (resp)
		*resp = r;
	else
		json_object_put(r);
	return 0;
}

static int ec_commit(struct pso_store *s, const struct pso_store_change *ch, size_t n,
		     uint64_t rev, char *err, size_t errlen)
{
	size_t i = 0;
	int ret = 0;

	/* As many changes in one transaction as etcd's limits take: of
	 * operations (a topic is up to three) and of bytes. */
	while (!ret && i < n) {
		struct json_object *ops = json_object_new_array();
		size_t bytes = 0;

		while (!ret && i < n && json_object_array_length(ops) + 3 <= EC_MAX_OPS &&
		       bytes < EC_MAX_TXN_BYTES)
			ret = change_ops(s, ops, &ch[i++], &bytes);
		if (ret) {
			json_object_put(ops);
			snprintf(err, errlen, "store %s: %s", s->spec, strerror(-ret));
			break;
		}
		ret = txn(s, NULL, ops, NULL, NULL, NULL, err, errlen);
	}
	return ret;
}

static int ec_cas(struct pso_store *s, const struct pso_store_change *ch, uint64_t expect_rev,
		  uint64_t *rev)
{
	struct ec *e = s->priv;
	struct pso_store_key k = pso_store_key_of(&ch->rec);
	struct json_object *cmps = json_object_new_array(), *ops = json_object_new_array();
	char key[256], err[256];
	bool ok = false;
	int ret;

	rec_key(e, &k, key, sizeof(key));
	/* A missing key compares as mod revision 0. */
	ret = add_compare(cmps, key, "MOD", expect_rev);
	if (!ret)
		ret = change_ops(s, ops, ch, NULL);
	if (ret) {
		json_object_put(cmps);
		json_object_put(ops);
		return ret;
	}
	ret = txn(s, cmps, ops, NULL, &ok, NULL, err, sizeof(err));
	if (ret) {
		s->stats.errors++;
		note_error(s, err);
		return ret;
	}
	if (!ok)
		return -ECANCELED;
	s->stats.commits++;
	s->stats.revision = s->rev;
	if (rev)
		*rev = s->rev;
	return 0;
}

/* ---- topic ids ---------------------------------------------------------------------- */

static int ec_claim_topic(struct pso_store *s, const char *name, uint16_t want_id, uint16_t *id)
{
	struct ec *e = s->priv;
	struct pso_store_change ch = { .rec = { .kind = PSO_REC_TOPIC } };
	struct pso_store_key k = { .kind = PSO_REC_TOPIC, .id = want_id };
	struct json_object *cmps = json_object_new_array(), *ops = json_object_new_array();
	struct json_object *failure = json_object_new_array(), *resp = NULL, *kv;
	char key[256], nkey[512], err[256];
	bool ok = false;
	int ret;

	rec_key(e, &k, key, sizeof(key));
	ret = name_key(e, name, nkey, sizeof(nkey));
	/* Both keys new, or nothing: two brokers never give one id two names. */
	if (!ret)
		ret = add_compare(cmps, nkey, "CREATE", 0);
	if (!ret)
		ret = add_compare(cmps, key, "CREATE", 0);
	ch.rec.t.id = want_id;
	ch.rec.t.name = (char *)name;
	if (!ret)
		ret = change_ops(s, ops, &ch, NULL);
	if (!ret)
		ret = op_range(failure, nkey);
	if (ret) {
		json_object_put(cmps);
		json_object_put(ops);
		json_object_put(failure);
		return ret;
	}
	ret = txn(s, cmps, ops, failure, &ok, &resp, err, sizeof(err));
	if (ret) {
		note_error(s, err);
		return ret;
	}
	if (ok) {
		*id = want_id;
		s->stats.revision = s->rev;
	} else {
		struct json_object *r = jidx(jget(resp, "responses"), 0);
		size_t n;
		uint8_t *v;

		kv = jidx(jget(jget(r, "response_range"), "kvs"), 0);
		v = kv ? jbytes(kv, "value", &n) : NULL;
		if (v && strtoul((char *)v, NULL, 10) > 0 && strtoul((char *)v, NULL, 10) <= 0xffff)
			*id = (uint16_t)strtoul((char *)v, NULL, 10);
		else
			ret = -EEXIST;	/* the name is free, the id is not */
		free(v);
	}
	json_object_put(resp);
	return ret;
}

/* ---- raw keys ----------------------------------------------------------------------- */

static int ec_raw_get(struct pso_store *s, const char *rkey, void *buf, size_t cap, size_t *len,
		      uint64_t *mod_rev, uint64_t *lease)
{
	struct ec *e = s->priv;
	struct json_object *req = json_object_new_object(), *resp, *kv;
	char key[512], err[256];
	uint8_t *v;
	size_t n;
	int ret;

	snprintf(key, sizeof(key), "%s%s", e->prefix, rkey);
	json_object_object_add(req, "key", jkey(key));
	ret = ec_call(s, "/v3/kv/range", req, &resp, err, sizeof(err));
	json_object_put(req);
	if (ret)
		return ret;
	kv = jidx(jget(resp, "kvs"), 0);
	if (!kv) {
		json_object_put(resp);
		return -ENOENT;
	}
	v = jbytes(kv, "value", &n);
	if (mod_rev)
		*mod_rev = jnum(kv, "mod_revision");
	if (lease)
		*lease = jnum(kv, "lease");
	json_object_put(resp);
	if (!v)
		return -EIO;
	if (len)
		*len = n;
	if (n > cap)
		ret = -ENOSPC;
	else if (n)
		memcpy(buf, v, n);
	free(v);
	return ret;
}

static int ec_raw_cas(struct pso_store *s, const char *rkey, uint64_t expect_rev, const void *val,
		      size_t len, uint64_t lease, uint64_t *rev)
{
	struct ec *e = s->priv;
	struct json_object *cmps = NULL, *ops = json_object_new_array(), *failure = NULL;
	struct json_object *resp = NULL;
	char key[512], err[256];
	bool ok = true;
	uint64_t at;
	int ret = 0;

	snprintf(key, sizeof(key), "%s%s", e->prefix, rkey);
	if (expect_rev != PSO_STORE_ANY_REV) {
		cmps = json_object_new_array();
		failure = json_object_new_array();
		ret = add_compare(cmps, key, "MOD", expect_rev);
		if (!ret)
			ret = op_range(failure, key);
	}
	if (!ret)
		ret = val ? op_put(ops, key, val, len, lease) : op_delete(ops, key);
	if (ret) {
		json_object_put(cmps);
		json_object_put(ops);
		json_object_put(failure);
		return ret;
	}
	ret = txn(s, cmps, ops, failure, cmps ? &ok : NULL, &resp, err, sizeof(err));
	if (ret) {
		note_error(s, err);
		return ret;
	}
	at = s->rev;
	if (!ok && e->resent && val && lease) {
		/* Sent twice: the compare may have failed on our own first write.
		 * The key holding our value under our lease is that write (a lease
		 * is one broker's). */
		struct json_object *r = jidx(jget(resp, "responses"), 0);
		struct json_object *kv = jidx(jget(jget(r, "response_range"), "kvs"), 0);
		size_t n;
		uint8_t *v = kv ? jbytes(kv, "value", &n) : NULL;

		if (v && n == len && !memcmp(v, val, len) && jnum(kv, "lease") == lease) {
			ok = true;
			at = jnum(kv, "mod_revision");
		}
		free(v);
	}
	json_object_put(resp);
	if (!ok)
		return -ECANCELED;
	s->stats.revision = s->rev;
	if (rev)
		*rev = at;
	return 0;
}

static int ec_raw_list(struct pso_store *s, const char *rprefix, pso_store_fn fn, void *ctx,
		       uint64_t *at_rev)
{
	struct ec *e = s->priv;
	char start[512], end[512], err[256];
	uint64_t rev = 0;
	int ret;

	snprintf(start, sizeof(start), "%s%s", e->prefix, rprefix);
	prefix_end(start, end, sizeof(end));
	ret = range_all(s, start, end, &rev, true, fn, ctx, err, sizeof(err));
	if (!ret && at_rev)
		*at_rev = rev;
	return ret;
}

/* ---- leases ------------------------------------------------------------------------- */

static int ec_lease_grant(struct pso_store *s, unsigned int ttl_s, uint64_t now, uint64_t *lease)
{
	struct ec *e = s->priv;
	struct json_object *req = json_object_new_object(), *resp;
	char err[256];
	int ret;

	if (e->nleases == EC_MAX_LEASES) {
		json_object_put(req);
		return -ENOSPC;
	}
	json_object_object_add(req, "TTL", jrev(ttl_s));
	ret = ec_call(s, "/v3/lease/grant", req, &resp, err, sizeof(err));
	json_object_put(req);
	if (ret)
		return ret;
	*lease = jnum(resp, "ID");
	json_object_put(resp);
	if (!*lease)
		return -EIO;
	e->leases[e->nleases++] = (struct ec_lease){ .id = *lease, .ttl_s = ttl_s,
						     .next_ms = now + ttl_s * 1000ull / 3 };
	return 0;
}

static void lease_forget(struct ec *e, uint64_t lease)
{
	for (size_t i = 0; i < e->nleases; i++)
		if (e->leases[i].id == lease) {
			e->leases[i] = e->leases[--e->nleases];
			return;
		}
}

/* One keep-alive: -ENOENT when the lease is gone (its TTL ran out). */
static int keepalive(struct pso_store *s, uint64_t lease, uint64_t now)
{
	struct ec *e = s->priv;
	struct json_object *req = json_object_new_object(), *resp;
	char err[256];
	uint64_t ttl;
	int ret;

	json_object_object_add(req, "ID", jrev(lease));
	ret = ec_call(s, "/v3/lease/keepalive", req, &resp, err, sizeof(err));
	json_object_put(req);
	if (ret)
		return ret;
	ttl = jnum(jget(resp, "result"), "TTL");
	json_object_put(resp);
	if (!ttl) {
		lease_forget(e, lease);
		return -ENOENT;
	}
	for (size_t i = 0; i < e->nleases; i++)
		if (e->leases[i].id == lease)
			e->leases[i].next_ms = now + e->leases[i].ttl_s * 1000ull / 3;
	return 0;
}

static int ec_lease_keepalive(struct pso_store *s, uint64_t lease, uint64_t now)
{
	return keepalive(s, lease, now);
}

static int ec_lease_revoke(struct pso_store *s, uint64_t lease)
{
	struct ec *e = s->priv;
	struct json_object *req = json_object_new_object(), *resp;
	char err[256];
	int ret;

	json_object_object_add(req, "ID", jrev(lease));
	ret = ec_call(s, "/v3/lease/revoke", req, &resp, err, sizeof(err));
	json_object_put(req);
	if (ret && ret != -ENOENT)
		return ret;
	lease_forget(e, lease);
	if (!ret) {
		if (header_rev(resp) > s->rev)
			s->rev = header_rev(resp);
		json_object_put(resp);
	}
	return ret;
}

static void ec_tick(struct pso_store *s, uint64_t now)
{
	struct ec *e = s->priv;

	for (size_t i = 0; i < e->nleases; i++) {
		uint64_t id = e->leases[i].id;
		int ret;

		if (now < e->leases[i].next_ms)
			continue;
		ret = keepalive(s, id, now);
		if (ret == -ENOENT) {
			pso_warn("store %s: lease %" PRIu64 " ended (not kept alive in time): its "
				 "keys are gone", s->spec, id);
			i--;	/* forgotten: another one is in its place */
		} else if (ret) {
			e->leases[i].next_ms = now + EC_RETRY_MS;
		}
	}
}

/* ---- watch -------------------------------------------------------------------------- */

static void wake(struct ec *e)
{
	uint64_t one = 1;

	if (write(e->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pso_warn("store: eventfd: %s", strerror(errno));
}

static void wev_free(struct wev *v)
{
	free(v->key);
	free(v->val);
}

static bool queue_grow(struct ec_watch *w)
{
	size_t cap = w->capq ? 2 * w->capq : 64;
	struct wev *q = realloc(w->q, cap * sizeof(*q));

	if (!q)
		return false;
	w->q = q;
	w->capq = cap;
	return true;
}

/* Put n events back in front of what arrived meanwhile (lock held); on no
 * memory they are dropped and the watch ends with -ENODATA. */
static void requeue(struct ec_watch *w, struct wev *v, size_t n)
{
	while (w->nq + n > w->capq)
		if (!queue_grow(w)) {
			for (size_t i = 0; i < n; i++)
				wev_free(&v[i]);
			w->error = -ENODATA;
			w->stop = true;
			return;
		}
	memmove(w->q + n, w->q, w->nq * sizeof(*w->q));
	memcpy(w->q, v, n * sizeof(*v));
	w->nq += n;
}

/* One line of the stream: a watch response. */
static void watch_response(struct ec *e, struct json_object *resp)
{
	struct ec_watch *w = &e->w;
	struct json_object *r = jget(resp, "result"), *events;
	size_t n;

	if (!r) {
		pso_warn("store etcd: watch: %s", json_object_get_string(resp));
		return;
	}
	if (json_object_get_boolean(jget(r, "canceled"))) {
		pthread_mutex_lock(&w->lock);
		if (jnum(r, "compact_revision")) {
			/* compacted past where it starts: the caller lists again */
			w->error = -ENODATA;
			w->stop = true;
		} else {
			w->restart = true;	/* ended by the member: anew */
		}
		pthread_mutex_unlock(&w->lock);
		wake(e);
		return;
	}
	events = jget(r, "events");
	n = events && json_object_is_type(events, json_type_array) ?
	    json_object_array_length(events) : 0;
	pthread_mutex_lock(&w->lock);
	for (size_t i = 0; i < n; i++) {
		struct json_object *ev = jidx(events, i), *kv = jget(ev, "kv");
		const char *type = json_object_get_string(jget(ev, "type"));
		struct wev v = {
			.rev = jnum(kv, "mod_revision"),
			.create_rev = jnum(kv, "create_revision"),
			.lease = jnum(kv, "lease"),
			.deleted = type && !strcmp(type, "DELETE"),
		};
		size_t klen;
		uint8_t *key = jbytes(kv, "key", &klen);

		if (!key || klen < e->prefix_len) {
			free(key);
			continue;	/* not under the prefix: not asked for */
		}
		v.key = strdup((char *)key + e->prefix_len);
		free(key);
		v.val = v.deleted ? NULL : jbytes(kv, "value", &v.len);
		if (w->nq == w->capq && !queue_grow(w)) {
			free(v.key);
			v.key = NULL;	/* fails below */
		}
		if (!v.key || (!v.deleted && !v.val)) {
			/* a change that cannot be kept: rather a list again than
			 * a silent gap */
			wev_free(&v);
			w->error = -ENODATA;
			w->stop = true;
			break;
		}
		w->q[w->nq++] = v;
		if (v.rev >= w->next_start)
			w->next_start = v.rev + 1;
	}
	if (!n && !json_object_get_boolean(jget(r, "created"))) {
		/* a progress notice: nothing before its revision is missing */
		uint64_t rev = header_rev(r);

		if (rev > w->progress)
			w->progress = rev;
		if (rev >= w->next_start)
			w->next_start = rev + 1;
	}
	pthread_mutex_unlock(&w->lock);
	if (n)
		wake(e);
}

static size_t on_stream(char *ptr, size_t size, size_t n, void *arg)
{
	struct ec *e = arg;
	struct ec_watch *w = &e->w;
	char *nl;

	if (buf_add(&w->line, ptr, size * n))
		return 0;
	while ((nl = memchr(w->line.data, '\n', w->line.len))) {
		struct json_object *resp;
		size_t used = (size_t)(nl - w->line.data) + 1;

		*nl = '\0';
		resp = json_tokener_parse(w->line.data);
		if (resp)
			watch_response(e, resp);
		json_object_put(resp);
		memmove(w->line.data, w->line.data + used, w->line.len - used);
		w->line.len -= used;
	}
	pthread_mutex_lock(&w->lock);
	nl = w->stop || w->restart ? NULL : ptr;
	w->restart = false;
	pthread_mutex_unlock(&w->lock);
	return nl ? size * n : 0;	/* 0 ends the transfer */
}

static bool stopping(struct ec_watch *w)
{
	bool stop;

	pthread_mutex_lock(&w->lock);
	stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	return stop;
}

/* One stream, until it ends or watch_stop() wakes the poll. */
static void stream(struct ec_watch *w)
{
	int running = 1;

	if (curl_multi_add_handle(w->multi, w->curl) != CURLM_OK)
		return;
	while (running && !stopping(w)) {
		if (curl_multi_perform(w->multi, &running) != CURLM_OK)
			break;
		if (running && curl_multi_poll(w->multi, NULL, 0, 1000, NULL) != CURLM_OK)
			break;
	}
	curl_multi_remove_handle(w->multi, w->curl);
}

static void *watch_main(void *arg)
{
	struct ec *e = arg;
	struct ec_watch *w = &e->w;
	char start[256], end[256], url[512];

	snprintf(start, sizeof(start), "%s", e->prefix);
	prefix_end(start, end, sizeof(end));
	curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, on_stream);
	curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, e);
	for (;;) {
		struct json_object *req = json_object_new_object(), *cr = json_object_new_object();
		uint64_t from;
		bool stop;

		pthread_mutex_lock(&w->lock);
		stop = w->stop;
		from = w->next_start;
		pthread_mutex_unlock(&w->lock);
		if (stop) {
			json_object_put(req);
			json_object_put(cr);
			break;
		}
		json_object_object_add(cr, "key", jkey(start));
		json_object_object_add(cr, "range_end", jkey(end));
		json_object_object_add(cr, "start_revision", jrev(from));
		json_object_object_add(cr, "progress_notify", json_object_new_boolean(1));
		json_object_object_add(req, "create_request", cr);
		snprintf(url, sizeof(url), "%s/v3/watch", e->urls[w->url]);
		curl_easy_setopt(w->curl, CURLOPT_URL, url);
		curl_easy_setopt(w->curl, CURLOPT_COPYPOSTFIELDS,
				 json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
		json_object_put(req);
		w->line.len = 0;
		stream(w);
		/* The stream ended: the member went, or stopped.  From where it
		 * was, on the next member, after a pause. */
		pthread_mutex_lock(&w->lock);
		stop = w->stop;
		pthread_mutex_unlock(&w->lock);
		if (stop)
			break;
		w->url = (w->url + 1) % e->nurls;
		curl_multi_poll(w->multi, NULL, 0, EC_RETRY_MS, NULL);
	}
	return NULL;
}

static void watch_stop(struct ec *e)
{
	struct ec_watch *w = &e->w;

	if (!w->running)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_mutex_unlock(&w->lock);
	curl_multi_wakeup(w->multi);
	pthread_join(w->thread, NULL);
	w->running = false;
	curl_easy_cleanup(w->curl);
	curl_multi_cleanup(w->multi);
	w->curl = NULL;
	w->multi = NULL;
	for (size_t i = 0; i < w->nq; i++)
		wev_free(&w->q[i]);
	free(w->q);
	w->q = NULL;
	w->nq = w->capq = 0;
	free(w->line.data);
	w->line = (struct ec_buf){ 0 };
}

static int watch_start(struct ec *e, uint64_t from_rev)
{
	struct ec_watch *w = &e->w;

	w->curl = easy_new(e);
	w->multi = curl_multi_init();
	if (!w->curl || !w->multi) {
		curl_easy_cleanup(w->curl);
		curl_multi_cleanup(w->multi);
		w->curl = NULL;
		w->multi = NULL;
		return -ENOMEM;
	}
	w->stop = false;
	w->error = 0;
	w->next_start = from_rev + 1;
	w->progress = from_rev;
	w->url = e->cur;
	if (pthread_create(&w->thread, NULL, watch_main, e)) {
		curl_easy_cleanup(w->curl);
		curl_multi_cleanup(w->multi);
		w->curl = NULL;
		w->multi = NULL;
		return -EAGAIN;
	}
	w->running = true;
	e->watch_from = from_rev;
	return 0;
}

/* One received change handed to fn. */
static int hand_event(struct pso_store *s, const struct wev *v, pso_store_fn fn, void *ctx)
{
	struct pso_store_item it = {
		.deleted = v->deleted,
		.create_rev = v->create_rev,
		.mod_rev = v->rev,
		.lease = v->lease,
	};
	struct pso_store_key k;
	struct pso_store_raw raw;
	struct pso_rec rec;
	char idbuf[MQTTSN_CLIENT_ID_MAX + 2];
	int kind = key_kind(v->key, &k, idbuf, sizeof(idbuf)), ret;

	if (kind < 0)
		return 0;
	if (kind == 0) {
		raw = (struct pso_store_raw){ .key = v->key, .val = v->val, .len = v->len };
		it.raw = &raw;
		return fn(&it, ctx);
	}
	if (v->deleted) {
		pso_store_key_rec(&k, &rec);
	} else if (pso_rec_from_json(kind, (char *)v->val, v->len, &rec)) {
		pso_warn("store %s: %s: not a record of psoffload's: skipped", s->spec, v->key);
		return 0;
	}
	it.rec = &rec;
	ret = fn(&it, ctx);
	pso_rec_free(&rec);
	return ret;
}

static int ec_watch_from(struct pso_store *s, uint64_t from_rev, pso_store_fn fn, void *ctx,
			 uint64_t *next_rev)
{
	struct ec *e = s->priv;
	struct ec_watch *w = &e->w;
	struct wev *q;
	size_t nq, i;
	uint64_t next = from_rev, progress;
	uint64_t drain;
	int ret = 0, error;

	if (read(e->efd, &drain, sizeof(drain)) < 0 && errno != EAGAIN)
		return -errno;
	/* A watch from elsewhere than where the running one is: anew. */
	if (w->running) {
		pthread_mutex_lock(&w->lock);
		error = w->error;
		pthread_mutex_unlock(&w->lock);
		if (error || (from_rev != e->watch_from)) {
			watch_stop(e);
			if (error)
				return error;
		}
	}
	if (!w->running) {
		ret = watch_start(e, from_rev);
		if (ret)
			return ret;
	}
	pthread_mutex_lock(&w->lock);
	q = w->q;
	nq = w->nq;
	w->q = NULL;
	w->nq = w->capq = 0;
	progress = w->progress;
	pthread_mutex_unlock(&w->lock);
	/* Everything queued is after watch_from (the stream started there). */
	for (i = 0; i < nq && !ret; i++) {
		ret = hand_event(s, &q[i], fn, ctx);
		if (q[i].rev > next)
			next = q[i].rev;
		wev_free(&q[i]);
	}
	if (i < nq) {
		/* fn stopped the walk: what it did not see waits for the next
		 * call, which goes on from here on the same stream */
		pthread_mutex_lock(&w->lock);
		requeue(w, q + i, nq - i);
		pthread_mutex_unlock(&w->lock);
		wake(e);
	} else if (progress > next) {
		next = progress;
	}
	free(q);
	if (next > s->rev)
		s->rev = next;
	/* The next call goes on from here with the same stream. */
	e->watch_from = next;
	if (next_rev)
		*next_rev = next;
	return ret;
}

static int ec_watch_fd(struct pso_store *s)
{
	return ((struct ec *)s->priv)->efd;
}

const struct pso_store_backend pso_store_etcd = {
	.scheme = "etcd",
	.persistent = true,
	.own_revision = true,
	.open = ec_open,
	.close = ec_close,
	.list = ec_list,
	.commit = ec_commit,
	.lease_grant = ec_lease_grant,
	.lease_keepalive = ec_lease_keepalive,
	.list_at = ec_list_at,
	.watch_from = ec_watch_from,
	.watch_fd = ec_watch_fd,
	.cas = ec_cas,
	.lease_revoke = ec_lease_revoke,
	.tick = ec_tick,
	.claim_topic = ec_claim_topic,
	.raw_get = ec_raw_get,
	.raw_cas = ec_raw_cas,
	.raw_list = ec_raw_list,
};
