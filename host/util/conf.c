// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * conf.c - configuration files over an option table (util/conf.h).
 *
 * As for the NIC profiles (ctl/profile.c): Debian's libinih gives the
 * handler no line number, so the file is fed through ini_parse_stream()
 * with our own reader, which counts the lines inih asks for one at a time.
 * The reader also sees each section header as it goes by: inih reports a
 * section only through its keys, and an [interface NAME] section without
 * keys still names an interface.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "util/inilines.h"
#include "util/conf.h"

#define BROKER_SECTION "broker"
#define IFACE_PREFIX "interface"

/*
 * String values live as long as the process: a running daemon keeps the
 * settings it started with and takes some from each reload, so no load can
 * free what an earlier one handed out.  Equal strings are kept once, so a
 * reload of an unchanged file adds nothing.
 */
struct pooled {
	struct pooled *next;
	char s[];
};
static struct pooled *pool;

static const char *intern(const char *s)
{
	struct pooled *p;
	size_t n = strlen(s) + 1;

	for (p = pool; p; p = p->next)
		if (!strcmp(p->s, s))
			return p->s;
	p = malloc(sizeof(*p) + n);
	if (!p)
		return NULL;
	memcpy(p->s, s, n);
	p->next = pool;
	pool = p;
	return p->s;
}

struct load {
	const char *path;
	FILE *f;
	const struct pso_opt *opts;
	size_t nopts, size;
	void *settings;		/* the copy being filled */
	struct pso_conf *conf;
	int lineno;		/* line the reader handed to inih last */
	bool indented;		/* that line starts with a blank */
	/* The section the lines are in: [broker] (iface -1), an interface
	 * (its index) or none yet (-2), and the line each key was set on. */
	int iface;
	int broker_line;
	int seen[PSO_OPTS_MAX];
	int err_line;		/* first error, 0 = none */
	bool nomem;
	char err[400];
};

#define NO_SECTION (-2)
#define BROKER (-1)

__attribute__((format(printf, 3, 4)))
static int fail(struct load *ld, int line, const char *fmt, ...)
{
	char msg[300];
	va_list ap;

	if (ld->err_line && ld->err_line <= line)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(ld->err, sizeof(ld->err), "%s:%d: %s", ld->path, line, msg);
	ld->err_line = line;
	return 0;
}

static bool valid_ifname(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= PSO_CONF_IFNAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	return !strpbrk(s, "/: \t");
}

/* A section header starts: [broker] or [interface NAME]. */
static void open_section(struct load *ld, const char *name)
{
	struct pso_conf *c = ld->conf;
	struct pso_conf_iface *f;
	size_t plen = strlen(IFACE_PREFIX);
	const char *ifname;

	memset(ld->seen, 0, sizeof(ld->seen));
	ld->iface = NO_SECTION;
	if (!strcmp(name, BROKER_SECTION)) {
		if (ld->broker_line) {
			fail(ld, ld->lineno, "duplicate section [%s] (first on line %d)", name,
			     ld->broker_line);
			return;
		}
		ld->broker_line = ld->lineno;
		ld->iface = BROKER;
		return;
	}
	if (strncmp(name, IFACE_PREFIX, plen) || (name[plen] && name[plen] != ' ' && name[plen] != '\t')) {
		fail(ld, ld->lineno, "unknown section [%s] (use [broker] or [interface NAME])", name);
		return;
	}
	ifname = name + plen;
	while (*ifname == ' ' || *ifname == '\t')
		ifname++;
	if (!*ifname) {
		fail(ld, ld->lineno, "[%s]: no interface name (use [interface NAME])", name);
		return;
	}
	if (!valid_ifname(ifname)) {
		fail(ld, ld->lineno, "[%s]: bad interface name '%s'", name, ifname);
		return;
	}
	for (int i = 0; i < c->nifaces; i++) {
		if (!strcmp(c->ifaces[i].name, ifname)) {
			fail(ld, ld->lineno, "duplicate section [%s] (first on line %d)", name,
			     c->ifaces[i].line);
			return;
		}
	}
	f = realloc(c->ifaces, (c->nifaces + 1) * sizeof(*f));
	if (!f) {
		ld->nomem = true;
		return;
	}
	c->ifaces = f;
	f = &c->ifaces[c->nifaces];
	memset(f, 0, sizeof(*f));
	f->values = calloc(1, ld->size);
	if (!f->values) {
		ld->nomem = true;
		return;
	}
	snprintf(f->name, sizeof(f->name), "%s", ifname);
	f->line = ld->lineno;
	ld->iface = c->nifaces++;
}

static char *reader(char *str, int num, void *stream)
{
	struct load *ld = stream;
	char name[128];
	bool is_section;
	int r = pso_ini_read_line(ld->f, str, num, &ld->lineno, &ld->indented, name, sizeof(name),
				  &is_section);

	if (r < 0)
		return NULL;
	if (r > 0)
		fail(ld, ld->lineno, "line longer than %d characters", num - 2);
	if (is_section)
		open_section(ld, name);
	return str;
}

static void section_name(struct load *ld, char *buf, size_t len)
{
	if (ld->iface == BROKER)
		snprintf(buf, len, BROKER_SECTION);
	else
		snprintf(buf, len, IFACE_PREFIX " %s", ld->conf->ifaces[ld->iface].name);
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct load *ld = user;
	const struct pso_opt *opt = NULL;
	char why[256], sec[64];
	const char *text = value;
	void *dst;
	size_t i;

	if (!name || !value)
		return 1;
	if (ld->err_line || ld->nomem)
		return 1;	/* the section this key is in was refused */
	if (!section[0])
		return fail(ld, ld->lineno, "key '%s' outside any section (put it under [broker])",
			    name);
	for (i = 0; i < ld->nopts; i++) {
		if (!strcmp(ld->opts[i].name, name)) {
			opt = &ld->opts[i];
			break;
		}
	}
	section_name(ld, sec, sizeof(sec));
	if (!opt)
		return fail(ld, ld->lineno, "unknown key '%s' in [%s]", name, sec);
	if (opt->flags & PSO_OPT_F_CLI_ONLY || opt->kind == PSO_OPT_FUNC)
		return fail(ld, ld->lineno, "%s: not a key, command line only (--%s)", name, name);
	if (ld->iface >= 0 && !(opt->flags & PSO_OPT_F_IFACE))
		return fail(ld, ld->lineno, "%s: not a key of [%s]; it is broker-wide (put it under [broker])",
			    name, sec);
	/* inih reads an indented line as more of the previous key's value. */
	if (ld->indented && ld->seen[i])
		return fail(ld, ld->lineno, "indented line continues the value of '%s' (line %d); "
			    "do not indent keys", name, ld->seen[i]);
	if (ld->seen[i])
		return fail(ld, ld->lineno, "duplicate key '%s' in [%s] (first set on line %d)",
			    name, sec, ld->seen[i]);
	ld->seen[i] = ld->lineno;
	if (opt->kind == PSO_OPT_STRING) {
		text = intern(value);
		if (!text) {
			ld->nomem = true;
			return 1;
		}
	}
	dst = ld->iface == BROKER ? ld->settings : ld->conf->ifaces[ld->iface].values;
	if (pso_opt_convert(opt, text, (char *)dst + opt->off, why, sizeof(why)))
		return fail(ld, ld->lineno, "bad %s '%s': %s", name, value, why);
	if (ld->iface == BROKER)
		ld->conf->set |= 1ull << i;
	else
		ld->conf->ifaces[ld->iface].set |= 1ull << i;
	return 1;
}

void pso_conf_free(struct pso_conf *conf)
{
	for (int i = 0; i < conf->nifaces; i++)
		free(conf->ifaces[i].values);
	free(conf->ifaces);
	memset(conf, 0, sizeof(*conf));
}

int pso_conf_load(const char *path, const struct pso_opt *opts, void *settings, size_t size,
		  struct pso_conf *conf, char *err, size_t errlen)
{
	struct load ld = {
		.path = path, .opts = opts, .size = size, .conf = conf, .iface = NO_SECTION,
	};
	int ret;

	memset(conf, 0, sizeof(*conf));
	while (opts[ld.nopts].name)
		ld.nopts++;
	if (ld.nopts > PSO_OPTS_MAX) {
		snprintf(err, errlen, "%s: more than %d options", path, PSO_OPTS_MAX);
		return -E2BIG;
	}
	ld.f = fopen(path, "re");
	if (!ld.f) {
		ret = -errno;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return ret;
	}
	ld.settings = malloc(size);
	if (!ld.settings) {
		fclose(ld.f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	memcpy(ld.settings, settings, size);
	ret = ini_parse_stream(reader, &ld, handler, &ld);
	if (!ret && ferror(ld.f)) {
		snprintf(ld.err, sizeof(ld.err), "cannot read %s: %s", path, strerror(errno));
		ret = -1;
	}
	fclose(ld.f);

	/* inih returns the first line it rejected; ours may be earlier. */
	if (ret > 0 && (!ld.err_line || ret < ld.err_line))
		snprintf(ld.err, sizeof(ld.err), "%s:%d: syntax error: expected [section] or key = value",
			 path, ret);
	if (ld.nomem || ret == -2) {
		snprintf(err, errlen, "%s: out of memory", path);
		ret = -ENOMEM;
	} else if (ret || ld.err_line) {
		snprintf(err, errlen, "%s", ld.err);
		ret = -EINVAL;
	} else {
		memcpy(settings, ld.settings, size);
	}
	free(ld.settings);
	if (ret)
		pso_conf_free(conf);
	return ret;
}

int pso_conf_merge(const char *path, bool required, const struct pso_opt *opts, void *settings,
		   size_t size, const void *cli, uint64_t given, struct pso_conf *conf, bool *found,
		   char *err, size_t errlen)
{
	int ret = pso_conf_load(path, opts, settings, size, conf, err, errlen);

	*found = !ret;
	if (ret == -ENOENT && !required)
		ret = 0;
	if (ret)
		return ret;
	for (size_t i = 0; opts[i].name && i < PSO_OPTS_MAX; i++)
		if (given & (1ull << i))
			pso_opt_copy(&opts[i], settings, cli);
	return 0;
}

const struct pso_conf_iface *pso_conf_iface(const struct pso_conf *conf, const char *name)
{
	for (int i = 0; i < conf->nifaces; i++)
		if (!strcmp(conf->ifaces[i].name, name))
			return &conf->ifaces[i];
	return NULL;
}

void pso_conf_iface_apply(const struct pso_conf_iface *f, const struct pso_opt *opts,
			  void *settings, uint64_t keep)
{
	for (size_t i = 0; opts[i].name && i < PSO_OPTS_MAX; i++)
		if ((f->set & ~keep) & (1ull << i))
			pso_opt_copy(&opts[i], settings, f->values);
}
