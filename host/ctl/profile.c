// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * profile.c - NIC profiles (nic-profiles/DRIVER.ini), parsed with inih.
 *
 * Debian's libinih is built without INI_HANDLER_LINENO, so the handler gets
 * no line number.  The file is fed through ini_parse_stream() with our own
 * reader instead: inih asks the reader for exactly one line per iteration
 * and counts them the same way, so the reader's count is the line the
 * handler is being called for.  Every error names FILE:LINE and the key.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "ctl/profile.h"
#include "util/inilines.h"
#include "psoffload_abi.h"

enum key_type { KEY_BOOL, KEY_U32, KEY_U64 };

struct key_desc {
	const char *section;
	const char *key;
	enum key_type type;
	size_t off;		/* into struct pso_nic_profile */
	/* numbers: 0 ("not given"), or min .. max; max 0: the type's */
	unsigned long long min, max;
};

#define PKEY(sec, name, type, field) { sec, name, type, offsetof(struct pso_nic_profile, field), 0, 0 }
#define PKEY_RANGE(sec, name, type, field, lo, hi) \
	{ sec, name, type, offsetof(struct pso_nic_profile, field), lo, hi }

/* The kernel's bounds: MAX_BPF_STACK, BPF_COMPLEXITY_LIMIT_INSNS. */
#define PSO_BPF_STACK_MAX 512
#define PSO_BPF_INSNS_MAX 1000000

/* Every key a profile may set; nic-profiles/README.md documents them. */
static const struct key_desc keys[] = {
	PKEY("xdp",	"native",		KEY_BOOL, xdp_native),
	PKEY("xdp",	"redirect",		KEY_BOOL, xdp_redirect),
	PKEY("xdp",	"hw_offload",		KEY_BOOL, hw_offload),
	/* ids 1 .. N-1: a table of one entry holds no topic */
	PKEY_RANGE("driver", "max_topics",	KEY_U32,  max_topics, 2, PSO_MAX_TOPICS),
	PKEY_RANGE("driver", "max_clients",	KEY_U32,  max_clients, 1, PSO_MAX_CLIENTS),
	PKEY_RANGE("driver", "max_subscriptions", KEY_U32, max_subscriptions, 1, PSO_MAX_SUBSCRIPTIONS),
	PKEY("offload",	"max_maps",		KEY_U32,  offload.max_maps),
	PKEY("offload",	"max_map_entries",	KEY_U64,  offload.max_map_entries_total),
	PKEY("offload",	"max_entries_per_map",	KEY_U32,  offload.max_entries_per_map),
	PKEY("offload",	"max_key_size",		KEY_U32,  offload.max_key_size),
	PKEY("offload",	"max_value_size",	KEY_U32,  offload.max_value_size),
	PKEY("offload",	"max_elem_size",	KEY_U32,  offload.max_elem_size),
	PKEY_RANGE("offload", "max_insns",	KEY_U32,  offload.max_insns, 1, PSO_BPF_INSNS_MAX),
	PKEY_RANGE("offload", "max_stack",	KEY_U32,  offload.max_stack, 1, PSO_BPF_STACK_MAX),
	PKEY_RANGE("offload", "topics",		KEY_U32,  offload_topics, 1, PSO_MAX_TOPICS),
	PKEY_RANGE("offload", "clients",	KEY_U32,  offload_clients, 1, PSO_MAX_CLIENTS),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = { "xdp", "driver", "offload" };

struct parse_ctx {
	const char *path;
	FILE *f;
	struct pso_nic_profile *p;
	int lineno;		/* line the reader handed to inih last */
	bool indented;		/* that line starts with a blank */
	int seen[NKEYS];	/* line a key was set on, 0 = not yet */
	int err_line;		/* first error found by us, 0 = none */
	char err[256];
};

__attribute__((format(printf, 3, 4)))
static int fail(struct parse_ctx *c, int line, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	/* Only the first error is reported: later ones often follow from it. */
	if (c->err_line && c->err_line <= line)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(c->err, sizeof(c->err), "%s:%d: %s", c->path, line, msg);
	c->err_line = line;
	return 0;
}

static bool known_section(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (!strcmp(name, sections[i]))
			return true;
	return false;
}

static char *reader(char *str, int num, void *stream)
{
	struct parse_ctx *c = stream;
	char name[64];
	bool is_section;
	int r = pso_ini_read_line(c->f, str, num, &c->lineno, &c->indented, name, sizeof(name),
				  &is_section);

	if (r < 0)
		return NULL;
	if (r > 0)
		fail(c, c->lineno, "line longer than %d characters", num - 2);
	/* A misspelt section with no keys would go unnoticed by inih. */
	if (is_section && !known_section(name))
		fail(c, c->lineno, "unknown section [%s] (use [xdp], [driver] or [offload])", name);
	return str;
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(v, yes[i])) {
			*out = true;
			return true;
		}
		if (!strcasecmp(v, no[i])) {
			*out = false;
			return true;
		}
	}
	return false;
}

enum num_err { NUM_OK, NUM_NEGATIVE, NUM_EMPTY, NUM_NOT_DECIMAL, NUM_TOO_LARGE };

/* Decimal digits only: no sign, no blanks, no 0x; at most `max`. */
static enum num_err parse_number(const char *v, unsigned long long max, unsigned long long *out)
{
	unsigned long long n = 0, d;
	const char *s;

	if (*v == '-')
		return NUM_NEGATIVE;
	if (!*v)
		return NUM_EMPTY;
	for (s = v; *s; s++) {
		if (*s < '0' || *s > '9')
			return NUM_NOT_DECIMAL;
		d = (unsigned long long)(*s - '0');
		if (n > (max - d) / 10)
			return NUM_TOO_LARGE;
		n = n * 10 + d;
	}
	*out = n;
	return NUM_OK;
}

static int bad_number(struct parse_ctx *c, const char *value, const struct key_desc *k,
		      enum num_err why, unsigned long long max)
{
	char detail[64];

	switch (why) {
	case NUM_NEGATIVE:
		snprintf(detail, sizeof(detail), "must not be negative");
		break;
	case NUM_EMPTY:
		snprintf(detail, sizeof(detail), "empty; use 0 for no limit");
		break;
	case NUM_TOO_LARGE:
		snprintf(detail, sizeof(detail), "larger than %llu", max);
		break;
	default:
		snprintf(detail, sizeof(detail), "not a decimal number");
		break;
	}
	return fail(c, c->lineno, "bad number '%s' for %s in [%s]: %s",
		    value, k->key, k->section, detail);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_ctx *c = user;
	const struct key_desc *k = NULL;
	unsigned long long n, max;
	enum num_err why;
	char *field;
	size_t i;

	if (!name || !value)	/* only with INI_ALLOW_NO_VALUE / ..._ON_NEW_SECTION */
		return 1;
	if (!section[0])
		return fail(c, c->lineno, "key '%s' outside any section", name);
	if (!known_section(section))
		return fail(c, c->lineno, "unknown section [%s] (use [xdp], [driver] or [offload])",
			    section);

	for (i = 0; i < NKEYS; i++) {
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].key, name)) {
			k = &keys[i];
			break;
		}
	}
	if (!k)
		return fail(c, c->lineno, "unknown key '%s' in [%s]", name, section);
	/* inih reads an indented line as more of the previous key's value. */
	if (c->indented && c->seen[i])
		return fail(c, c->lineno, "indented line continues the value of '%s' (line %d); "
			    "do not indent keys", name, c->seen[i]);
	if (c->seen[i])
		return fail(c, c->lineno, "duplicate key '%s' in [%s] (first set on line %d)",
			    name, section, c->seen[i]);
	c->seen[i] = c->lineno;

	field = (char *)c->p + k->off;
	switch (k->type) {
	case KEY_BOOL:
		if (!parse_bool(value, (bool *)field))
			return fail(c, c->lineno, "bad boolean '%s' for %s in [%s]: use yes or no",
				    value, name, section);
		break;
	case KEY_U32:
	case KEY_U64:
		max = k->type == KEY_U32 ? UINT32_MAX : UINT64_MAX;
		why = parse_number(value, max, &n);
		if (why != NUM_OK)
			return bad_number(c, value, k, why, max);
		if (n && k->max && (n < k->min || n > k->max)) {
			if (k->min > 1)
				return fail(c, c->lineno, "%s = %llu in [%s] is out of range: use 0 or %llu..%llu",
					    name, n, section, k->min, k->max);
			return fail(c, c->lineno, "%s = %llu in [%s] is out of range: use 0..%llu",
				    name, n, section, k->max);
		}
		if (k->type == KEY_U32)
			*(uint32_t *)field = (uint32_t)n;
		else
			*(uint64_t *)field = (uint64_t)n;
		break;
	}
	return 1;
}

static int key_index(const char *section, const char *key)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].key, key))
			return (int)i;
	return -1;
}

/* What no single line shows: a profile that sets nothing, and keys that
 * must agree with each other. */
static void check_whole(struct parse_ctx *c)
{
	int topics = key_index("offload", "topics"), per_map = key_index("offload", "max_entries_per_map");
	size_t i;

	for (i = 0; i < NKEYS && !c->seen[i]; i++)
		;
	if (i == NKEYS) {
		fail(c, 1, "empty profile: no key set (a profile says at least [xdp] native, "
		     "redirect and hw_offload)");
		return;
	}
	if (c->p->offload_topics && c->p->offload.max_entries_per_map &&
	    c->p->offload_topics > c->p->offload.max_entries_per_map)
		fail(c, c->seen[topics], "topics = %u in [offload] is out of range: "
		     "more than max_entries_per_map = %u (line %d)", c->p->offload_topics,
		     c->p->offload.max_entries_per_map, c->seen[per_map]);
}

/* "dir/nfp.ini" -> "nfp" */
static void name_from_path(const char *path, char *name, size_t len)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n > 4 && !strcmp(base + n - 4, ".ini"))
		n -= 4;
	if (n >= len)
		n = len - 1;
	memcpy(name, base, n);
	name[n] = '\0';
}

int pso_profile_load(const char *path, struct pso_nic_profile *p, char *err, size_t errlen)
{
	struct parse_ctx c = { .path = path, .p = p };
	struct stat st = { 0 };
	int ret;

	memset(p, 0, sizeof(*p));
	if (strlen(path) >= sizeof(p->path)) {
		snprintf(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	c.f = fopen(path, "r");
	if (!c.f) {
		ret = -errno;
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	/* fopen() opens a directory too, and reading it finds no key. */
	if (fstat(fileno(c.f), &st) || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s, not a profile", path,
			 S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
		fclose(c.f);
		return -EINVAL;
	}
	ret = ini_parse_stream(reader, &c, handler, &c);
	fclose(c.f);
	if (!ret && !c.err_line)
		check_whole(&c);

	/* inih returns the first line it rejected (a syntax error or a key
	 * the handler refused); ours may name an earlier line (a section). */
	if (ret > 0 && (!c.err_line || ret < c.err_line))
		snprintf(c.err, sizeof(c.err), "%s:%d: syntax error: expected [section] or key = value",
			 path, ret);
	else if (ret < 0 && !c.err_line)
		snprintf(c.err, sizeof(c.err), "%s: %s", path,
			 ret == -2 ? "out of memory" : "cannot read");
	if (ret || c.err_line) {
		snprintf(err, errlen, "%s", c.err);
		memset(p, 0, sizeof(*p));
		return ret == -2 ? -ENOMEM : -EINVAL;
	}
	snprintf(p->path, sizeof(p->path), "%s", path);
	name_from_path(path, p->name, sizeof(p->name));
	return 0;
}

/* A name that can only be a file in DIR: no '/', no leading '.', so no "..". */
static bool safe_name(const char *name)
{
	const char *s;

	if (!name || !*name || *name == '.' ||
	    strlen(name) >= sizeof(((struct pso_nic_profile *)0)->name))
		return false;
	for (s = name; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' || *s == '.'))
			return false;
	return true;
}

static int profile_path(char *buf, size_t len, const char *dir, const char *name)
{
	int n = snprintf(buf, len, "%s/%s.ini", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int pso_profile_for_driver(const char *dir, const char *driver, struct pso_nic_profile *p,
			   char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (safe_name(driver) && strcmp(driver, "default") &&
	    !profile_path(path, sizeof(path), dir, driver) && !access(path, F_OK))
		return pso_profile_load(path, p, err, errlen);

	if (profile_path(path, sizeof(path), dir, "default")) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	if (access(path, F_OK)) {
		int ret = -errno;

		snprintf(err, errlen, "no profile for driver '%s' and no fallback %s",
			 driver ? driver : "", path);
		memset(p, 0, sizeof(*p));
		return ret;
	}
	return pso_profile_load(path, p, err, errlen);
}

int pso_profile_by_name(const char *dir, const char *name, struct pso_nic_profile *p,
			char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (name && strchr(name, '/'))
		return pso_profile_load(name, p, err, errlen);
	if (!safe_name(name)) {
		snprintf(err, errlen, "bad profile name '%s': use a driver name such as nfp",
			 name ? name : "");
		memset(p, 0, sizeof(*p));
		return -EINVAL;
	}
	if (profile_path(path, sizeof(path), dir, name)) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	if (access(path, F_OK)) {
		int ret = -errno;

		snprintf(err, errlen, "unknown profile '%s': no %s", name, path);
		memset(p, 0, sizeof(*p));
		return ret;
	}
	return pso_profile_load(path, p, err, errlen);
}

/*
 * The installed layout (Makefile: DATADIR, and the path from SBINDIR to it).
 * Defaults for a build without the Makefile's -D.
 */
#ifndef PSO_DATADIR
#define PSO_DATADIR "/usr/local/share/psoffload"
#endif
#ifndef PSO_DATADIR_REL
#define PSO_DATADIR_REL "../share/psoffload"
#endif

/* DIR/SUB resolved into buf if it is a directory: 0, else -errno. */
static int dir_if_exists(char *buf, size_t len, const char *dir, const char *sub)
{
	char path[PATH_MAX * 2], real[PATH_MAX];
	int w = snprintf(path, sizeof(path), "%s/%s", dir, sub);
	struct stat st;

	if (w < 0 || (size_t)w >= sizeof(path))
		return -ENAMETOOLONG;
	if (!realpath(path, real))
		return -errno;
	if (stat(real, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	w = snprintf(buf, len, "%s", real);
	return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}

int pso_profile_dir_default(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	int w;

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			/* The build tree: build/psoffload and nic-profiles/ of its source. */
			if (!dir_if_exists(buf, len, exe, "../nic-profiles"))
				return 0;
			/* Installed, wherever the tree was put (DESTDIR included). */
			if (!dir_if_exists(buf, len, exe, PSO_DATADIR_REL "/nic-profiles"))
				return 0;
		}
	}
	/* Installed where it was configured for; also what errors then name. */
	w = snprintf(buf, len, "%s", PSO_DATADIR "/nic-profiles");
	return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}
