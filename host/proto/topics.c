// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * topics.c - the topic registry and MQTT topic filter rules.
 *
 * The registry maps names to ids through an open-addressing hash table of
 * ids (linear probing, at most half full; a deletion shifts the entries
 * after it back, so no tombstones are needed) and ids to names through an
 * array indexed by id.
 *
 * An id given back (pso_registry_release) is quarantined first: it names
 * nothing, and nothing new gets it, until pso_registry_reuse() says every
 * trace of the old topic is gone.  Then it joins a FIFO of freed ids.  New
 * names take the lowest id never used (a cursor, amortised O(1)), and only
 * when there is none the oldest freed id: reuse comes as late as it can,
 * which gives a publish meant for the old topic the longest time to drain.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "proto/topics.h"

/* MQTT-SN reserves topic id 0x0000 and 0xFFFF. */
#define PSO_TOPIC_ID_RESERVED_HI 0xffff

struct pso_registry {
	uint32_t max_topics;	/* data-plane table size */
	uint16_t hi;		/* highest usable id */
	uint16_t next_free;	/* no id below this is free */
	uint32_t count;
	char **names;		/* by id; NULL = unused */
	uint16_t *lens;		/* by id */
	bool *predefined;	/* by id */
	uint8_t *state;		/* by id: enum id_state */
	uint16_t *hash;		/* ids, 0 = empty slot */
	uint32_t hash_mask;
	/* Freed ids, oldest first: a ring of max_topics entries. */
	uint16_t *fifo;
	uint32_t fifo_head, fifo_len;
	uint32_t quarantined;
};

/* What an id without a name is (an id with a name is ID_FRESH). */
enum id_state {
	ID_FRESH,		/* never given back */
	ID_QUARANTINED,		/* given back, its old topic not gone yet */
	ID_FREED,		/* in the FIFO */
};

static uint32_t name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)name[i];
		h *= 16777619u;
	}
	return h;
}

struct pso_registry *pso_registry_new(uint32_t max_topics)
{
	struct pso_registry *reg;
	uint32_t cap = 1;

	if (max_topics < 2 || max_topics > 65536) {
		errno = EINVAL;
		return NULL;
	}
	reg = calloc(1, sizeof(*reg));
	if (!reg)
		return NULL;
	reg->max_topics = max_topics;
	reg->hi = max_topics - 1 < PSO_TOPIC_ID_RESERVED_HI ? max_topics - 1
							    : PSO_TOPIC_ID_RESERVED_HI - 1;
	reg->next_free = 1;
	/* At most half full keeps probe sequences short. */
	while (cap < 2u * max_topics)
		cap <<= 1;
	reg->hash_mask = cap - 1;
	reg->names = calloc(max_topics, sizeof(*reg->names));
	reg->lens = calloc(max_topics, sizeof(*reg->lens));
	reg->predefined = calloc(max_topics, sizeof(*reg->predefined));
	reg->state = calloc(max_topics, sizeof(*reg->state));
	reg->fifo = calloc(max_topics, sizeof(*reg->fifo));
	reg->hash = calloc(cap, sizeof(*reg->hash));
	if (!reg->names || !reg->lens || !reg->predefined || !reg->state || !reg->fifo ||
	    !reg->hash) {
		pso_registry_free(reg);
		errno = ENOMEM;
		return NULL;
	}
	return reg;
}

void pso_registry_free(struct pso_registry *reg)
{
	if (!reg)
		return;
	if (reg->names)
		for (uint32_t id = 0; id < reg->max_topics; id++)
			free(reg->names[id]);
	free(reg->names);
	free(reg->lens);
	free(reg->predefined);
	free(reg->state);
	free(reg->fifo);
	free(reg->hash);
	free(reg);
}

/* The hash slot holding name, or the empty slot where it would go. */
static uint32_t hash_slot(const struct pso_registry *reg, const char *name, size_t len)
{
	uint32_t i = name_hash(name, len) & reg->hash_mask;

	for (;;) {
		uint16_t id = reg->hash[i];

		if (!id || (reg->lens[id] == len && !memcmp(reg->names[id], name, len)))
			return i;
		i = (i + 1) & reg->hash_mask;
	}
}

/* Take id out of the FIFO of freed ids (it is given out of turn). */
static void fifo_take(struct pso_registry *reg, uint16_t id)
{
	uint32_t n = reg->fifo_len, out = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint16_t v = reg->fifo[(reg->fifo_head + i) % reg->max_topics];

		if (v != id)
			reg->fifo[(reg->fifo_head + out++) % reg->max_topics] = v;
	}
	reg->fifo_len = out;
}

static int registry_insert(struct pso_registry *reg, uint16_t id, const char *name,
			   size_t len, bool predefined)
{
	uint32_t slot = hash_slot(reg, name, len);
	char *copy = strndup(name, len);

	if (!copy)
		return -ENOMEM;
	if (reg->state[id] == ID_FREED && reg->fifo[reg->fifo_head] == id) {
		reg->fifo_head = (reg->fifo_head + 1) % reg->max_topics;
		reg->fifo_len--;
	} else if (reg->state[id] == ID_FREED) {
		fifo_take(reg, id);
	}
	else if (reg->state[id] == ID_QUARANTINED)
		reg->quarantined--;
	reg->state[id] = ID_FRESH;
	reg->names[id] = copy;
	reg->lens[id] = len;
	reg->predefined[id] = predefined;
	reg->hash[slot] = id;
	reg->count++;
	while (reg->next_free <= reg->hi &&
	       (reg->names[reg->next_free] || reg->state[reg->next_free] != ID_FRESH))
		reg->next_free++;
	return 0;
}

int pso_registry_add_predefined(struct pso_registry *reg, uint16_t id, const char *name)
{
	size_t len = strlen(name);

	if (id < 1 || id > reg->hi || !pso_topic_name_valid(name, len))
		return -EINVAL;
	if (reg->names[id] || reg->hash[hash_slot(reg, name, len)])
		return -EEXIST;
	return registry_insert(reg, id, name, len, true);
}

int pso_registry_restore(struct pso_registry *reg, uint16_t id, const char *name)
{
	size_t len = strlen(name);

	if (id < 1 || id > reg->hi || !pso_topic_name_valid(name, len))
		return -EINVAL;
	if (reg->names[id] || reg->state[id] == ID_QUARANTINED ||
	    reg->hash[hash_slot(reg, name, len)])
		return -EEXIST;
	return registry_insert(reg, id, name, len, false);
}

int pso_registry_register(struct pso_registry *reg, const char *name, size_t len,
			  uint16_t *id, bool *created)
{
	uint16_t found;
	int err;

	if (!pso_topic_name_valid(name, len))
		return -EINVAL;
	found = reg->hash[hash_slot(reg, name, len)];
	if (found) {
		*id = found;
		if (created)
			*created = false;
		return 0;
	}
	if (reg->next_free <= reg->hi)
		found = reg->next_free;
	else if (reg->fifo_len)
		found = reg->fifo[reg->fifo_head];
	else
		return -ENOSPC;
	err = registry_insert(reg, found, name, len, false);
	if (err)
		return err;
	*id = found;
	if (created)
		*created = true;
	return 0;
}

int pso_registry_candidates(const struct pso_registry *reg, uint16_t *ids, int n)
{
	int k = 0;

	for (uint32_t id = reg->next_free; k < n && id <= reg->hi; id++)
		if (!reg->names[id] && reg->state[id] == ID_FRESH)
			ids[k++] = (uint16_t)id;
	for (uint32_t i = 0; k < n && i < reg->fifo_len; i++)
		ids[k++] = reg->fifo[(reg->fifo_head + i) % reg->max_topics];
	return k;
}

/*
 * Delete id's hash entry: the entries of its probe run after it move back
 * into the hole when their home slot does not lie (cyclically) between the
 * hole and where they are, so every lookup still finds them.
 */
static void hash_delete(struct pso_registry *reg, uint16_t id)
{
	uint32_t hole = hash_slot(reg, reg->names[id], reg->lens[id]);
	uint32_t i = hole;

	for (;;) {
		uint16_t other;
		uint32_t home;

		i = (i + 1) & reg->hash_mask;
		other = reg->hash[i];
		if (!other)
			break;
		home = name_hash(reg->names[other], reg->lens[other]) & reg->hash_mask;
		/* other stays when home is in (hole, i] */
		if (((i - home) & reg->hash_mask) < ((i - hole) & reg->hash_mask))
			continue;
		reg->hash[hole] = other;
		hole = i;
	}
	reg->hash[hole] = 0;
}

int pso_registry_release(struct pso_registry *reg, uint16_t id)
{
	if (id < 1 || id > reg->hi || !reg->names[id] || reg->predefined[id])
		return -EINVAL;
	hash_delete(reg, id);
	free(reg->names[id]);
	reg->names[id] = NULL;
	reg->lens[id] = 0;
	reg->state[id] = ID_QUARANTINED;
	reg->quarantined++;
	reg->count--;
	return 0;
}

int pso_registry_reuse(struct pso_registry *reg, uint16_t id)
{
	if (id < 1 || id > reg->hi || reg->state[id] != ID_QUARANTINED)
		return -EINVAL;
	reg->state[id] = ID_FREED;
	reg->quarantined--;
	reg->fifo[(reg->fifo_head + reg->fifo_len++) % reg->max_topics] = id;
	return 0;
}

bool pso_registry_is_quarantined(const struct pso_registry *reg, uint16_t id)
{
	return id < reg->max_topics && reg->state[id] == ID_QUARANTINED;
}

uint32_t pso_registry_nquarantined(const struct pso_registry *reg)
{
	return reg->quarantined;
}

uint32_t pso_registry_nfreed(const struct pso_registry *reg)
{
	return reg->fifo_len;
}

int pso_registry_lookup(const struct pso_registry *reg, const char *name, size_t len,
			uint16_t *id)
{
	uint16_t found;

	if (len == 0 || len > PSO_TOPIC_NAME_MAX)
		return -ENOENT;
	found = reg->hash[hash_slot(reg, name, len)];
	if (!found)
		return -ENOENT;
	*id = found;
	return 0;
}

const char *pso_registry_name(const struct pso_registry *reg, uint16_t id)
{
	return id < reg->max_topics ? reg->names[id] : NULL;
}

bool pso_registry_is_predefined(const struct pso_registry *reg, uint16_t id)
{
	return id < reg->max_topics && reg->names[id] && reg->predefined[id];
}

uint32_t pso_registry_count(const struct pso_registry *reg)
{
	return reg->count;
}

int pso_registry_foreach(const struct pso_registry *reg,
			 int (*fn)(uint16_t id, const char *name, void *ctx), void *ctx)
{
	for (uint32_t id = 1; id <= reg->hi; id++) {
		int ret;

		if (!reg->names[id])
			continue;
		ret = fn(id, reg->names[id], ctx);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- predefined-id file -------------------------------------------------- */

struct predef_load {
	struct pso_registry *reg;	/* the registry being loaded */
	struct pso_registry *file;	/* this file's entries, merged at the end */
	uint32_t *line_of;		/* by id: line of the file defining it */
	bool reload;			/* entries reg holds already are fine */
	uint32_t unchanged;		/* such entries */
	const char *path;
	char *err;
	size_t errlen;
};

static int load_error(struct predef_load *ld, unsigned long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int load_error(struct predef_load *ld, unsigned long line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (ld->err && ld->errlen) {
		n = snprintf(ld->err, ld->errlen, "%s:%lu: ", ld->path, line);
		if (n >= 0 && (size_t)n < ld->errlen) {
			va_start(ap, fmt);
			vsnprintf(ld->err + n, ld->errlen - n, fmt, ap);
			va_end(ap);
		}
	}
	return -EINVAL;
}

/*
 * One line: optional blanks, a decimal id, blanks, the name up to the end of
 * the line or a '#' after a blank (a comment; '#' cannot be part of a topic
 * name, so nothing is lost), trailing blanks dropped.  A '#' that does not
 * follow a blank stays in the name, so "7 a/#" is reported as a wildcard
 * rather than silently loaded as "a/".
 */
static int load_line(struct predef_load *ld, unsigned long line, char *s)
{
	char *tok, *name, *end;
	unsigned long id;
	size_t len;
	uint16_t other;

	while (*s == ' ' || *s == '\t')
		s++;
	for (char *c = s; *c; c++)
		if (*c == '#' && (c == s || c[-1] == ' ' || c[-1] == '\t')) {
			*c = '\0';
			break;
		}
	len = strlen(s);
	while (len && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	if (len == 0)
		return 0;	/* blank or comment */

	tok = s;
	name = s + strcspn(s, " \t");
	if (*name) {
		*name++ = '\0';
		while (*name == ' ' || *name == '\t')
			name++;
	}
	if (strspn(tok, "0123456789") != strlen(tok))
		return load_error(ld, line, "bad topic id '%s': not a decimal number", tok);
	errno = 0;
	id = strtoul(tok, &end, 10);
	if (errno || id < 1 || id > ld->reg->hi)
		return load_error(ld, line, "topic id %s out of range 1..%u", tok, ld->reg->hi);

	len = strlen(name);
	if (len == 0)
		return load_error(ld, line, "topic id %lu has no topic name", id);
	if (len > PSO_TOPIC_NAME_MAX)
		return load_error(ld, line, "invalid topic name: %zu bytes, at most %d",
				  len, PSO_TOPIC_NAME_MAX);
	if (strpbrk(name, "+#"))
		return load_error(ld, line, "invalid topic name '%s': wildcards are not "
				  "allowed in a topic name", name);
	if (!pso_topic_name_valid(name, len))
		return load_error(ld, line, "invalid topic name '%s'", name);

	if (ld->line_of[id])
		return load_error(ld, line, "duplicate topic id %lu (first on line %u)",
				  id, ld->line_of[id]);
	if (ld->reload && pso_registry_is_predefined(ld->reg, id) &&
	    !strcmp(pso_registry_name(ld->reg, id), name)) {
		ld->line_of[id] = line;
		ld->unchanged++;
		return 0;
	}
	if (ld->reload && pso_registry_name(ld->reg, id))
		return load_error(ld, line, "topic id %lu is '%s' in the running broker: "
				  "a new name needs a restart", id, pso_registry_name(ld->reg, id));
	if (ld->reload && !pso_registry_lookup(ld->reg, name, len, &other))
		return load_error(ld, line, "topic '%s' is id %u in the running broker: "
				  "a new id needs a restart", name, other);
	if (pso_registry_name(ld->reg, id))
		return load_error(ld, line, "duplicate topic id %lu (already '%s')",
				  id, pso_registry_name(ld->reg, id));
	if (!pso_registry_lookup(ld->file, name, len, &other))
		return load_error(ld, line, "duplicate topic name '%s' (first on line %u)",
				  name, ld->line_of[other]);
	if (!pso_registry_lookup(ld->reg, name, len, &other))
		return load_error(ld, line, "duplicate topic name '%s' (already id %u)",
				  name, other);

	if (registry_insert(ld->file, id, name, len, true))
		return -ENOMEM;
	ld->line_of[id] = line;
	return 0;
}

static int merge_one(uint16_t id, const char *name, void *ctx)
{
	struct pso_registry *reg = ctx;

	return registry_insert(reg, id, name, strlen(name), true);
}

struct added_cb {
	int (*fn)(uint16_t id, const char *name, void *ctx);
	void *ctx;
};

static int call_added(uint16_t id, const char *name, void *ctx)
{
	struct added_cb *cb = ctx;

	cb->fn(id, name, cb->ctx);
	return 0;
}

static int load_predefined(struct pso_registry *reg, const char *path, bool reload,
			   struct pso_predef_reload *res,
			   int (*added)(uint16_t id, const char *name, void *ctx), void *ctx,
			   char *err, size_t errlen)
{
	struct predef_load ld = {
		.reg = reg, .path = path, .reload = reload, .err = err, .errlen = errlen,
	};
	unsigned long line = 0;
	char *buf = NULL;
	size_t cap = 0;
	FILE *f;
	int ret = 0;

	if (err && errlen)
		err[0] = '\0';
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	ld.file = pso_registry_new(reg->max_topics);
	ld.line_of = calloc(reg->max_topics, sizeof(*ld.line_of));
	if (!ld.file || !ld.line_of) {
		ret = -ENOMEM;
		goto out;
	}

	/* The whole file is checked before anything enters the registry. */
	for (;;) {
		ssize_t n;

		errno = 0;
		n = getline(&buf, &cap, f);
		if (n < 0) {
			if (errno) {
				ret = -errno;
				if (err && errlen)
					snprintf(err, errlen, "%s: %s", path, strerror(errno));
			}
			break;
		}
		line++;
		if ((size_t)n != strlen(buf)) {
			ret = load_error(&ld, line, "NUL byte in line");
			break;
		}
		ret = load_line(&ld, line, buf);
		if (ret)
			break;
	}
	if (!ret)
		ret = pso_registry_foreach(ld.file, merge_one, reg);
	if (!ret && res) {
		res->added = pso_registry_count(ld.file);
		res->unchanged = ld.unchanged;
		res->missing = 0;
		for (uint32_t id = 1; id <= reg->hi; id++)
			if (reg->predefined[id] && !ld.line_of[id])
				res->missing++;
	}
	if (!ret && added) {
		struct added_cb cb = { added, ctx };

		pso_registry_foreach(ld.file, call_added, &cb);
	}
	if (ret == -ENOMEM && err && errlen && !err[0])
		snprintf(err, errlen, "%s: %s", path, strerror(ENOMEM));
out:
	free(buf);
	free(ld.line_of);
	pso_registry_free(ld.file);
	fclose(f);
	return ret;
}

int pso_registry_load_predefined(struct pso_registry *reg, const char *path,
				 char *err, size_t errlen)
{
	return load_predefined(reg, path, false, NULL, NULL, NULL, err, errlen);
}

int pso_registry_reload_predefined(struct pso_registry *reg, const char *path,
				   struct pso_predef_reload *res,
				   int (*added)(uint16_t id, const char *name, void *ctx),
				   void *ctx, char *err, size_t errlen)
{
	return load_predefined(reg, path, true, res, added, ctx, err, errlen);
}

/* ---- names and filters ---------------------------------------------------- */

/*
 * Well-formed UTF-8 without control characters, as MQTT requires of topic
 * names and filters (MQTT 3.1.1 section 1.5.3: no U+0000, no surrogates or
 * overlong forms; control characters refused here too, since names are
 * logged).  NUL is caught as a control character.
 */
static bool utf8_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		unsigned int c = p[i], need, cp;

		if (c < 0x20 || c == 0x7f)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, cp = c & 0x07;
		else
			return false;
		for (unsigned int k = 1; k <= need; k++) {
			if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		/* overlong, surrogates, beyond U+10FFFF, C1 controls */
		if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
			return false;
		i += need + 1;
	}
	return true;
}

bool pso_topic_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > PSO_TOPIC_NAME_MAX || !utf8_text(name, len))
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '\0' || name[i] == '+' || name[i] == '#')
			return false;
	return true;
}

/* '+' and '#' only as a whole level, '#' only as the last one. */
bool pso_topic_filter_valid(const char *filter, size_t len)
{
	size_t level = 0;	/* start of the current level */

	if (len == 0 || len > PSO_TOPIC_NAME_MAX || !utf8_text(filter, len))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = filter[i];

		if (c == '\0')
			return false;
		if (c == '/') {
			level = i + 1;
			continue;
		}
		if (c != '+' && c != '#')
			continue;
		if (i != level || (i + 1 < len && filter[i + 1] != '/'))
			return false;	/* shares its level with other characters */
		if (c == '#' && i + 1 != len)
			return false;	/* not the last level */
	}
	return true;
}

bool pso_topic_filter_is_wildcard(const char *filter, size_t len)
{
	return memchr(filter, '+', len) || memchr(filter, '#', len);
}

bool pso_topic_match(const char *filter, const char *name)
{
	const char *f = filter, *n = name;

	if (!pso_topic_filter_valid(filter, strlen(filter)) ||
	    !pso_topic_name_valid(name, strlen(name)))
		return false;
	/* MQTT: $-topics (broker internals) are not matched by a leading
	 * wildcard, only by a filter naming them. */
	if (name[0] == '$' && (filter[0] == '+' || filter[0] == '#'))
		return false;

	for (;;) {
		/* f and n each stand at the start of a level. */
		if (*f == '#')
			return true;	/* this level and everything below */
		if (*f == '+') {
			f++;
			n += strcspn(n, "/");
		} else {
			while (*f && *f != '/' && *f == *n) {
				f++;
				n++;
			}
			if ((*f && *f != '/') || (*n && *n != '/'))
				return false;
		}
		if (!*f && !*n)
			return true;
		if (*f == '/' && *n == '/') {
			f++;
			n++;
			continue;
		}
		/* "a/#" also matches the parent "a". */
		return *f == '/' && !*n && !strcmp(f, "/#");
	}
}
