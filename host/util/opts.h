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
 */
#ifndef PSO_OPTS_H
#define PSO_OPTS_H

#include <stddef.h>
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
	pso_opt_fn fn;			/* PSO_OPT_FUNC */
};

/* Where an option's value goes: field f of the settings struct T. */
#define PSO_OPT_FIELD(T, f) .off = offsetof(T, f), .size = sizeof(((T *)0)->f)

struct pso_opt_spec {
	const char *prog;		/* "psoffload pub": errors and help */
	const struct pso_opt *opts;
	const char *head;		/* help before the options ("usage: ...") */
	void (*print_head)(FILE *f);	/* instead of head, when set */
	const char *tail;		/* help after the options */
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

#endif /* PSO_OPTS_H */
