/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * opts.h - command lines from one table per command.
 *
 * Each command declares its options once, in a static table of struct
 * pso_opt: long name, short letter, what the value is, where it goes (an
 * offset into the command's own settings struct, so the table can be
 * const) and its help text.  pso_opts_parse() runs getopt_long over that
 * table, converts and range-checks every value, and pso_opts_help() prints
 * the help from the same table, so the two cannot drift apart.
 *
 * Errors are one line on stderr, "PROG: what is wrong (usage: PROG
 * --help)", and exit code 2; --help prints on stdout and exits 0.
 *
 * The same table can be a configuration file's keys (util/conf.h): each
 * row's long name is its key, its flags say where it may appear and
 * whether a running daemon takes a new value on reload.
 */
#ifndef PSO_OPTS_H
#define PSO_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum pso_opt_kind {
	PSO_OPT_FLAG,		/* no value; sets the field to 1 */
	PSO_OPT_COUNTER,	/* no value; int field, +1 each time given */
	PSO_OPT_UINT,		/* decimal in min..max, unsigned field */
	PSO_OPT_INT,		/* decimal in min..max, signed field */
	PSO_OPT_STRING,		/* const char * field: the argument itself */
	PSO_OPT_ENUM,		/* one of .names; the field gets its value */
	PSO_OPT_FUNC,		/* .fn does it (a value when .arg is set) */
	PSO_OPT_HELP,		/* prints the help, exit 0 */
	PSO_OPT_VERSION,	/* prints "PROG VERSION" (spec->version), exit 0 */
};

/* A row's flags (struct pso_opt .flags). */
#define PSO_OPT_F_LIVE		(1u << 0)	/* a reload applies a new value */
#define PSO_OPT_F_IFACE		(1u << 1)	/* also per interface in a file */
#define PSO_OPT_F_CLI_ONLY	(1u << 2)	/* no key in a file (--help, --config) */

/* The exit codes of every psoffload command. */
enum {
	PSO_EXIT_OK = 0,
	PSO_EXIT_FAILURE = 1,	/* could not do it: refused, timed out, no broker */
	PSO_EXIT_USAGE = 2,	/* bad command line, configuration or input file */
};

struct pso_opt_name {
	const char *name;
	int value;
};

struct pso_opt;
struct pso_opt_spec;

/* A PSO_OPT_FUNC option's handler: field is the option's field (its
 * offset in the settings), arg the value or NULL.  0, or the exit code 2
 * after one line through pso_opts_error(). */
/* A PSO_OPT_STRING value's check, on the command line and in a file: 0, or
 * -EINVAL with why ("use ADDR:PORT"). */
typedef int (*pso_opt_check)(const char *value, char *why, size_t whylen);

typedef int (*pso_opt_fn)(const struct pso_opt_spec *spec, const struct pso_opt *opt,
			  const char *arg, void *field);

struct pso_opt {
	const char *name;		/* long name without "--"; NULL ends a table */
	char short_name;		/* letter, or 0 for none */
	enum pso_opt_kind kind;
	size_t off, size;		/* the field: PSO_OPT_FIELD() */
	const char *arg;		/* the value's name in the help ("N", "FILE") */
	const char *help;		/* '\n' continues on an indented line */
	long long min, max;		/* PSO_OPT_UINT, PSO_OPT_INT */
	const char *unit;		/* after the range in errors: "seconds" */
	const struct pso_opt_name *names;	/* PSO_OPT_ENUM; { NULL } ends it */
	const struct pso_opt_name *aliases;	/* accepted too, never listed */
	pso_opt_fn fn;			/* PSO_OPT_FUNC */
	pso_opt_check check;		/* PSO_OPT_STRING: NULL, any text */
	unsigned int flags;		/* PSO_OPT_F_* */
};

/* Rows in a table, at most this many (bitmaps of rows: uint64_t). */
#define PSO_OPTS_MAX 64

/* Where an option's value goes: field f of the settings struct T. */
#define PSO_OPT_FIELD(T, f) .off = offsetof(T, f), .size = sizeof(((T *)0)->f)

struct pso_opt_spec {
	const char *prog;		/* "psoffload pub": errors and help */
	const struct pso_opt *opts;
	const char *head;		/* help before the options ("usage: ...") */
	void (*print_head)(FILE *f);	/* instead of head, when set */
	const char *tail;		/* help after the options */
	const char *version;		/* PSO_OPT_VERSION */
};

/* pso_opts_parse(): go on, the command line is good. */
#define PSO_OPTS_RUN (-1)

/*
 * Parse argv[1..] (argv[0] is the command's name) into settings.  Can be
 * called any number of times in one process: getopt's state is reset.
 * first_arg gets the index of the first operand; NULL: the command takes
 * none, and any is an error.  Returns PSO_OPTS_RUN, or the exit code the
 * command should return now: 0 after --help, 2 after a bad command line.
 */
int pso_opts_parse(const struct pso_opt_spec *spec, int argc, char **argv,
		   void *settings, int *first_arg);
/* The same; *given gets bit i for each opts[i] on the command line. */
int pso_opts_parse_given(const struct pso_opt_spec *spec, int argc, char **argv,
			 void *settings, int *first_arg, uint64_t *given);

/* "PROG: <message> (usage: PROG --help)" on stderr; returns 2. */
int pso_opts_error(const struct pso_opt_spec *spec, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void pso_opts_help(const struct pso_opt_spec *spec, FILE *f);

/* A decimal number in min..max: 0, or -EINVAL (nothing is stored). */
int pso_parse_num(const char *s, long long min, long long max, long long *out);

/* s as the value of opt, with its range: 0, or 2 after "bad --NAME 's':
 * use MIN..MAX UNIT". For PSO_OPT_FUNC handlers that take numbers. */
int pso_opt_num(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		const char *s, long long *out);

/* ---- One option's value, for configuration files and reloads ---------- */

/* Does the row take a value ("--name=VALUE")? */
bool pso_opt_takes_value(const struct pso_opt *opt);

/*
 * text as the value of opt into field (settings + opt->off).  FLAG: yes,
 * no, true, false, on, off, 1 or 0; COUNTER: a number 0..9; UINT, INT,
 * ENUM as on the command line; STRING: text itself (the caller keeps it
 * alive), if the row's check takes it.  0, or -EINVAL with why ("use 1..65535 seconds") and nothing
 * stored.  FUNC, HELP and VERSION rows: -ENOTSUP.
 */
int pso_opt_convert(const struct pso_opt *opt, const char *text, void *field,
		    char *why, size_t whylen);

/* Equal values of opt in two settings structs (strings by contents). */
bool pso_opt_equal(const struct pso_opt *opt, const void *a, const void *b);
/* Copy opt's value from settings src to dst. */
void pso_opt_copy(const struct pso_opt *opt, void *dst, const void *src);
/* opt's value in settings as text ("3", "drv", "yes", "(none)"). */
void pso_opt_format(const struct pso_opt *opt, const void *settings, char *buf, size_t len);

#endif /* PSO_OPTS_H */
