// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * opts.c - getopt_long over a table of struct pso_opt, and the help text
 * from the same table.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/opts.h"

#define LONG_ONLY 256		/* getopt val of an option without a letter: + index */
#define HELP_COLUMN_MAX 24	/* wider "-x, --name=ARG" get a line of their own */

int pso_parse_num(const char *s, long long min, long long max, long long *out)
{
	const char *digits = s[0] == '-' ? s + 1 : s;
	char *end;
	long long v;

	/* strtoll alone would take " 5", "+5" and "0x5". */
	if (*digits < '0' || *digits > '9')
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int pso_opts_error(const struct pso_opt_spec *spec, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s%s: ", pso_log_sd_prefix(PSO_LOG_ERR), spec->prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (usage: %s --help)\n", spec->prog);
	return 2;
}

int pso_opt_num(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		const char *s, long long *out)
{
	if (!pso_parse_num(s, opt->min, opt->max, out))
		return 0;
	return pso_opts_error(spec, "bad --%s '%s': use %lld..%lld%s%s", opt->name, s,
			      opt->min, opt->max, opt->unit ? " " : "",
			      opt->unit ? opt->unit : "");
}

bool pso_opt_takes_value(const struct pso_opt *opt)
{
	switch (opt->kind) {
	case PSO_OPT_FLAG:
	case PSO_OPT_COUNTER:
	case PSO_OPT_HELP:
	case PSO_OPT_VERSION:
		return false;
	case PSO_OPT_FUNC:
		return opt->arg != NULL;
	default:
		return true;
	}
}

static long long load(const void *field, size_t size, bool is_signed)
{
	int8_t v8;
	int16_t v16;
	int32_t v32;
	int64_t v64;

	switch (size) {
	case 1:
		memcpy(&v8, field, 1);
		return is_signed ? (long long)v8 : (long long)(uint8_t)v8;
	case 2:
		memcpy(&v16, field, 2);
		return is_signed ? (long long)v16 : (long long)(uint16_t)v16;
	case 4:
		memcpy(&v32, field, 4);
		return is_signed ? (long long)v32 : (long long)(uint32_t)v32;
	case 8:
		memcpy(&v64, field, 8);
		return v64;
	}
	return 0;
}

static void store(void *field, size_t size, long long v)
{
	int8_t v8 = v;
	int16_t v16 = v;
	int32_t v32 = v;
	int64_t v64 = v;

	switch (size) {
	case 1:
		memcpy(field, &v8, 1);
		break;
	case 2:
		memcpy(field, &v16, 2);
		break;
	case 4:
		memcpy(field, &v32, 4);
		break;
	case 8:
		memcpy(field, &v64, 8);
		break;
	}
}

/* "auto, hw, drv or skb" */
static void list_names(const struct pso_opt_name *names, char *buf, size_t len)
{
	size_t n = 0, i, off = 0;

	while (names[n].name)
		n++;
	buf[0] = '\0';
	for (i = 0; i < n && off < len; i++)
		off += snprintf(buf + off, len - off, "%s%s",
				i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i].name);
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(v, yes[i]) || !strcmp(v, no[i])) {
			*out = !strcmp(v, yes[i]);
			return true;
		}
	}
	return false;
}

int pso_opt_convert(const struct pso_opt *opt, const char *text, void *field,
		    char *why, size_t whylen)
{
	const struct pso_opt_name *nm;
	long long v;
	bool b;

	switch (opt->kind) {
	case PSO_OPT_FLAG:
		if (!parse_bool(text, &b)) {
			snprintf(why, whylen, "use yes or no");
			return -EINVAL;
		}
		store(field, opt->size, b);
		return 0;
	case PSO_OPT_COUNTER:
		if (pso_parse_num(text, 0, 9, &v)) {
			snprintf(why, whylen, "use 0..9");
			return -EINVAL;
		}
		*(int *)field = (int)v;
		return 0;
	case PSO_OPT_UINT:
	case PSO_OPT_INT:
		if (pso_parse_num(text, opt->min, opt->max, &v)) {
			snprintf(why, whylen, "use %lld..%lld%s%s", opt->min, opt->max,
				 opt->unit ? " " : "", opt->unit ? opt->unit : "");
			return -EINVAL;
		}
		store(field, opt->size, v);
		return 0;
	case PSO_OPT_STRING:
		if (opt->check && opt->check(text, why, whylen))
			return -EINVAL;
		*(const char **)field = text;
		return 0;
	case PSO_OPT_ENUM:
		for (nm = opt->names; nm->name; nm++) {
			if (!strcmp(text, nm->name)) {
				store(field, opt->size, nm->value);
				return 0;
			}
		}
		for (nm = opt->aliases; nm && nm->name; nm++) {
			if (!strcmp(text, nm->name)) {
				store(field, opt->size, nm->value);
				return 0;
			}
		}
		snprintf(why, whylen, "use ");
		list_names(opt->names, why + strlen(why), whylen - strlen(why));
		return -EINVAL;
	default:
		snprintf(why, whylen, "not a setting");
		return -ENOTSUP;
	}
}

bool pso_opt_equal(const struct pso_opt *opt, const void *a, const void *b)
{
	const char *fa = (const char *)a + opt->off, *fb = (const char *)b + opt->off;

	if (opt->kind == PSO_OPT_STRING) {
		const char *sa, *sb;

		memcpy(&sa, fa, sizeof(sa));
		memcpy(&sb, fb, sizeof(sb));
		return sa == sb || (sa && sb && !strcmp(sa, sb));
	}
	return !memcmp(fa, fb, opt->size);
}

void pso_opt_copy(const struct pso_opt *opt, void *dst, const void *src)
{
	memcpy((char *)dst + opt->off, (const char *)src + opt->off, opt->size);
}

void pso_opt_format(const struct pso_opt *opt, const void *settings, char *buf, size_t len)
{
	const char *field = (const char *)settings + opt->off;
	const struct pso_opt_name *nm;
	const char *s;
	long long v;

	switch (opt->kind) {
	case PSO_OPT_STRING:
		memcpy(&s, field, sizeof(s));
		snprintf(buf, len, "%s", s ? s : "(none)");
		return;
	case PSO_OPT_FLAG:
		snprintf(buf, len, "%s", load(field, opt->size, false) ? "yes" : "no");
		return;
	case PSO_OPT_ENUM:
		v = load(field, opt->size, true);
		for (nm = opt->names; nm->name; nm++) {
			if (nm->value == v) {
				snprintf(buf, len, "%s", nm->name);
				return;
			}
		}
		snprintf(buf, len, "%lld", v);
		return;
	case PSO_OPT_INT:
	case PSO_OPT_COUNTER:
		snprintf(buf, len, "%lld", load(field, opt->size, true));
		return;
	default:
		snprintf(buf, len, "%lld", load(field, opt->size, false));
		return;
	}
}

/* One option seen: convert and store its value.  0 or an exit code. */
static int apply(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		 const char *arg, void *settings)
{
	void *field = (char *)settings + opt->off;
	char why[256];

	switch (opt->kind) {
	case PSO_OPT_FLAG:
		store(field, opt->size, 1);
		return 0;
	case PSO_OPT_COUNTER:
		++*(int *)field;
		return 0;
	case PSO_OPT_UINT:
	case PSO_OPT_INT:
	case PSO_OPT_STRING:
	case PSO_OPT_ENUM:
		if (pso_opt_convert(opt, arg, field, why, sizeof(why)))
			return pso_opts_error(spec, "bad --%s '%s': %s", opt->name, arg, why);
		return 0;
	case PSO_OPT_FUNC:
		return opt->fn(spec, opt, arg, field);
	case PSO_OPT_HELP:
		pso_opts_help(spec, stdout);
		return 0;
	case PSO_OPT_VERSION:
		printf("%s %s\n", spec->prog, spec->version ? spec->version : "(unknown version)");
		return 0;
	}
	return 2;
}

static const struct pso_opt *by_val(const struct pso_opt *opts, int val)
{
	const struct pso_opt *opt;

	if (val >= LONG_ONLY)
		return &opts[val - LONG_ONLY];
	for (opt = opts; opt->name; opt++)
		if (val && opt->short_name == val)
			return opt;
	return NULL;
}

/* getopt said '?' or ':' (word: the argument it was on): one line. */
static int bad_option(const struct pso_opt_spec *spec, int ch, const char *word)
{
	const struct pso_opt *opt = optopt ? by_val(spec->opts, optopt) : NULL;

	if (ch == ':') {
		if (!strncmp(word, "--", 2))
			return pso_opts_error(spec, "option '%s' needs a value", word);
		return pso_opts_error(spec, "option '-%c' needs a value", optopt);
	}
	/* Unknown (or ambiguous) long options leave optopt 0. */
	if (!optopt)
		return pso_opts_error(spec, "unknown option '%.*s'",
				      (int)strcspn(word, "="), word);
	/* A known option getopt refuses: a long one given "=value". */
	if (opt)
		return pso_opts_error(spec, "option '--%s' takes no value", opt->name);
	return pso_opts_error(spec, "unknown option '-%c'", optopt);
}

int pso_opts_parse(const struct pso_opt_spec *spec, int argc, char **argv,
		   void *settings, int *first_arg)
{
	return pso_opts_parse_given(spec, argc, argv, settings, first_arg, NULL);
}

int pso_opts_parse_given(const struct pso_opt_spec *spec, int argc, char **argv,
			 void *settings, int *first_arg, uint64_t *given)
{
	size_t n = 0, i, s = 0;
	int ch, ret = PSO_OPTS_RUN;

	while (spec->opts[n].name)
		n++;
	if (given)
		*given = 0;

	struct option longopts[n + 1];
	char shortopts[2 * n + 2];

	/* Leading ':': a missing value is ':', not '?', and says nothing. */
	shortopts[s++] = ':';
	for (i = 0; i < n; i++) {
		const struct pso_opt *opt = &spec->opts[i];
		bool value = pso_opt_takes_value(opt);

		longopts[i] = (struct option){
			.name = opt->name,
			.has_arg = value ? required_argument : no_argument,
			.val = opt->short_name ? opt->short_name : LONG_ONLY + (int)i,
		};
		if (opt->short_name) {
			shortopts[s++] = opt->short_name;
			if (value)
				shortopts[s++] = ':';
		}
	}
	longopts[n] = (struct option){ 0 };
	shortopts[s] = '\0';

	optind = 0;	/* GNU: start afresh, so a command can run twice */
	opterr = 0;	/* our own one line instead of getopt's */
	while (ret == PSO_OPTS_RUN &&
	       (ch = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct pso_opt *opt;
		int r;

		opt = ch == '?' || ch == ':' ? NULL : by_val(spec->opts, ch);
		if (!opt) {
			ret = bad_option(spec, ch, argv[optind - 1]);
			break;
		}
		r = apply(spec, opt, optarg, settings);
		if (given && opt - spec->opts < PSO_OPTS_MAX)
			*given |= 1ull << (opt - spec->opts);
		if (r || opt->kind == PSO_OPT_HELP || opt->kind == PSO_OPT_VERSION)
			ret = r;
	}
	if (ret != PSO_OPTS_RUN)
		return ret;
	if (first_arg)
		*first_arg = optind;
	else if (optind < argc)
		return pso_opts_error(spec, "unexpected argument '%s'", argv[optind]);
	return PSO_OPTS_RUN;
}

/* "-p, --port=N" or "    --gw-id=N" */
static int option_words(const struct pso_opt *opt, char *buf, size_t len)
{
	return snprintf(buf, len, "%c%c%c --%s%s%s", opt->short_name ? '-' : ' ',
			opt->short_name ? opt->short_name : ' ', opt->short_name ? ',' : ' ',
			opt->name, pso_opt_takes_value(opt) ? "=" : "",
			pso_opt_takes_value(opt) ? (opt->arg ? opt->arg : "VALUE") : "");
}

void pso_opts_help(const struct pso_opt_spec *spec, FILE *f)
{
	const struct pso_opt *opt;
	char words[128];
	int col = 0, w;

	if (spec->print_head)
		spec->print_head(f);
	else if (spec->head)
		fputs(spec->head, f);
	for (opt = spec->opts; opt->name; opt++) {
		w = option_words(opt, words, sizeof(words));
		if (w <= HELP_COLUMN_MAX && w > col)
			col = w;
	}
	for (opt = spec->opts; opt->name; opt++) {
		const char *line = opt->help ? opt->help : "", *nl;

		w = option_words(opt, words, sizeof(words));
		if (w > col)
			fprintf(f, "  %s\n%*s", words, col + 4, "");
		else
			fprintf(f, "  %-*s  ", col, words);
		/* Continuation lines start under the first. */
		while ((nl = strchr(line, '\n'))) {
			fprintf(f, "%.*s\n%*s", (int)(nl - line), line, col + 4, "");
			line = nl + 1;
		}
		fprintf(f, "%s\n", line);
	}
	if (spec->tail)
		fputs(spec->tail, f);
}
