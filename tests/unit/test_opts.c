// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_opts.c - util/opts: the number parser, every option kind, the one
 * line a bad command line gets, --help from the table, and a second parse
 * in the same process.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "util/opts.h"
#include "cmd/capacity_opts.h"

static void test_parse_num(void **state)
{
	long long v = 42;

	assert_int_equal(pso_parse_num("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(pso_parse_num("65535", 1, 65535, &v), 0);
	assert_int_equal(v, 65535);
	assert_int_equal(pso_parse_num("-1", -1, 2, &v), 0);
	assert_int_equal(v, -1);
	v = 42;
	assert_int_equal(pso_parse_num("65536", 1, 65535, &v), -EINVAL);
	assert_int_equal(pso_parse_num("0", 1, 65535, &v), -EINVAL);
	assert_int_equal(pso_parse_num("-1", 0, 10, &v), -EINVAL);
	assert_int_equal(pso_parse_num("", 0, 10, &v), -EINVAL);
	assert_int_equal(pso_parse_num("-", 0, 10, &v), -EINVAL);
	assert_int_equal(pso_parse_num("5x", 0, 10, &v), -EINVAL);
	assert_int_equal(pso_parse_num(" 5", 0, 10, &v), -EINVAL);
	assert_int_equal(pso_parse_num("+5", 0, 10, &v), -EINVAL);
	assert_int_equal(pso_parse_num("0x5", 0, 10, &v), -EINVAL);
	assert_int_equal(pso_parse_num("99999999999999999999", 0, 10, &v), -EINVAL);
	assert_int_equal(v, 42);	/* untouched on error */
}

/* ---- A command with one option of each kind ------------------------------ */

struct settings {
	bool flag;
	int verbosity;
	uint16_t port;
	int8_t level;
	const char *name;
	int color;
	int calls;
	const char *last;
};

static int count_calls(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		       const char *arg, void *field)
{
	struct settings *s = field;

	if (arg && !strcmp(arg, "no"))
		return pso_opts_error(spec, "--call says no");
	s->calls++;
	s->last = arg;
	return 0;
}

static const struct pso_opt_name colors[] = {
	{ "red", 1 }, { "green", 2 }, { "blue", 3 }, { NULL },
};

#define S(f) PSO_OPT_FIELD(struct settings, f)

static const struct pso_opt opts[] = {
	{ "flag", 'f', PSO_OPT_FLAG, S(flag), .help = "a flag" },
	{ "verbose", 'v', PSO_OPT_COUNTER, S(verbosity), .help = "more\ntwice: even more" },
	{ "port", 'p', PSO_OPT_UINT, S(port), .min = 1, .max = 65535, .arg = "N",
	  .help = "a port" },
	{ "level", 0, PSO_OPT_INT, S(level), .min = -1, .max = 2, .unit = "steps",
	  .arg = "L", .help = "a level" },
	{ "name", 'n', PSO_OPT_STRING, S(name), .arg = "NAME", .help = "a name" },
	{ "color", 0, PSO_OPT_ENUM, S(color), .names = colors, .arg = "C", .help = "a color" },
	{ "call", 'c', PSO_OPT_FUNC, .off = 0, .fn = count_calls, .arg = "X",
	  .help = "a callback" },
	{ "a-very-long-option-name", 0, PSO_OPT_FLAG, S(flag), .help = "on its own line" },
	{ "help", 'h', PSO_OPT_HELP, .help = "this text" },
	{ 0 },
};

static const struct pso_opt_spec spec = {
	.prog = "tool",
	.opts = opts,
	.head = "usage: tool [OPTIONS] ARG...\n",
	.tail = "the end\n",
};

struct run {
	int rc, first;
	struct settings s;
	char out[4096], err[4096];
};

static void read_back(FILE *f, char *buf, size_t len)
{
	size_t n;

	fflush(f);
	rewind(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* pso_opts_parse(argv) over sp into settings, stdout and stderr captured
 * into r (r->s unused when settings is elsewhere). */
static void run_spec(struct run *r, const struct pso_opt_spec *sp, void *settings,
		     bool operands, char **argv)
{
	FILE *out = tmpfile(), *err = tmpfile();
	int argc = 0, saved_out = dup(1), saved_err = dup(2);

	assert_non_null(out);
	assert_non_null(err);
	while (argv[argc])
		argc++;
	memset(r, 0, sizeof(*r));
	r->first = -1;
	fflush(stdout);
	fflush(stderr);
	dup2(fileno(out), 1);
	dup2(fileno(err), 2);
	r->rc = pso_opts_parse(sp, argc, argv, settings ? settings : &r->s,
			       operands ? &r->first : NULL);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	read_back(out, r->out, sizeof(r->out));
	read_back(err, r->err, sizeof(r->err));
}

static void run(struct run *r, bool operands, char **argv)
{
	run_spec(r, &spec, NULL, operands, argv);
}

#define ARGV(...) ((char *[]){ "tool", __VA_ARGS__, NULL })

static void test_kinds(void **state)
{
	struct run r;

	run(&r, true, ARGV("-f", "-vv", "--verbose", "-p", "1883", "--level=-1", "-n", "x",
			   "--color", "green", "-c", "a", "--call=b", "op1", "op2"));
	assert_int_equal(r.rc, PSO_OPTS_RUN);
	assert_string_equal(r.err, "");
	assert_true(r.s.flag);
	assert_int_equal(r.s.verbosity, 3);
	assert_int_equal(r.s.port, 1883);
	assert_int_equal(r.s.level, -1);
	assert_string_equal(r.s.name, "x");
	assert_int_equal(r.s.color, 2);
	assert_int_equal(r.s.calls, 2);
	assert_string_equal(r.s.last, "b");
	assert_int_equal(r.first, 14);
}

/* Every bad command line: exit code 2, nothing on stdout, this one line. */
static void test_errors(void **state)
{
	const struct { char **argv; bool operands; const char *err; } cases[] = {
		{ ARGV("--port=0"), false,
		  "tool: bad --port '0': use 1..65535 (usage: tool --help)\n" },
		{ ARGV("-p", "x"), false,
		  "tool: bad --port 'x': use 1..65535 (usage: tool --help)\n" },
		{ ARGV("--level", "3"), false,
		  "tool: bad --level '3': use -1..2 steps (usage: tool --help)\n" },
		{ ARGV("--color=pink"), false,
		  "tool: bad --color 'pink': use red, green or blue (usage: tool --help)\n" },
		{ ARGV("--bogus=1"), false, "tool: unknown option '--bogus' (usage: tool --help)\n" },
		{ ARGV("-fZ"), false, "tool: unknown option '-Z' (usage: tool --help)\n" },
		{ ARGV("--port"), false,
		  "tool: option '--port' needs a value (usage: tool --help)\n" },
		{ ARGV("-fp"), false, "tool: option '-p' needs a value (usage: tool --help)\n" },
		{ ARGV("--flag=yes"), false,
		  "tool: option '--flag' takes no value (usage: tool --help)\n" },
		{ ARGV("--help=1"), false,
		  "tool: option '--help' takes no value (usage: tool --help)\n" },
		{ ARGV("-c", "no"), false, "tool: --call says no (usage: tool --help)\n" },
		{ ARGV("-f", "extra"), false,
		  "tool: unexpected argument 'extra' (usage: tool --help)\n" },
	};
	struct run r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run(&r, cases[i].operands, cases[i].argv);
		if (r.rc != 2 || r.out[0] || strcmp(r.err, cases[i].err))
			fail_msg("case %zu: rc %d, stdout \"%s\", stderr \"%s\"", i, r.rc, r.out,
				 r.err);
	}
}

static void test_help(void **state)
{
	struct run r;

	run(&r, false, ARGV("-f", "--help", "--bogus"));
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.err, "");
	assert_string_equal(r.out,
		"usage: tool [OPTIONS] ARG...\n"
		"  -f, --flag       a flag\n"
		"  -v, --verbose    more\n"
		"                   twice: even more\n"
		"  -p, --port=N     a port\n"
		"      --level=L    a level\n"
		"  -n, --name=NAME  a name\n"
		"      --color=C    a color\n"
		"  -c, --call=X     a callback\n"
		"      --a-very-long-option-name\n"
		"                   on its own line\n"
		"  -h, --help       this text\n"
		"the end\n");
}

/* getopt's state from one parse must not leak into the next. */
static void test_twice(void **state)
{
	struct run r;

	run(&r, true, ARGV("-vp", "5"));
	assert_int_equal(r.rc, PSO_OPTS_RUN);
	assert_int_equal(r.s.port, 5);
	run(&r, true, ARGV("-v", "-v", "a"));
	assert_int_equal(r.rc, PSO_OPTS_RUN);
	assert_int_equal(r.s.verbosity, 2);
	assert_int_equal(r.s.port, 0);
	assert_int_equal(r.first, 3);
	run(&r, true, ARGV("-fv"));
	assert_int_equal(r.rc, PSO_OPTS_RUN);
	assert_true(r.s.flag);
	assert_int_equal(r.s.verbosity, 1);
	assert_int_equal(r.first, 2);
}

/* ---- The broker's capacity rows (cmd/capacity_opts.h) -------------------- */

struct caps {
	uint32_t topics, clients, subscriptions, topic_subscribers;
};

#define CAP(f) PSO_OPT_FIELD(struct caps, f)

static const struct pso_opt cap_opts[] = {
	PSO_CAPACITY_OPTS(CAP),
	{ "help", 'h', PSO_OPT_HELP, .help = "this text" },
	{ 0 },
};

static const struct pso_opt_spec cap_spec = {
	.prog = "psoffload",
	.opts = cap_opts,
	.head = "usage: psoffload [OPTIONS]\n",
};

static void test_capacities(void **state)
{
	struct caps c = { 0 };
	struct run r;

	/* Not given: 0, the profile's or the build's default applies. */
	run_spec(&r, &cap_spec, &c, false, (char *[]){ "psoffload", NULL });
	assert_int_equal(r.rc, PSO_OPTS_RUN);
	assert_int_equal(c.topics, 0);
	assert_int_equal(c.clients, 0);
	assert_int_equal(c.subscriptions, 0);
	assert_int_equal(c.topic_subscribers, 0);
	/* Each maximum, and the least each may be. */
	run_spec(&r, &cap_spec, &c, false,
		 ARGV("--max-topics=65536", "--max-clients", "1048576",
		      "--max-subscriptions=4194304", "--max-topic-subscribers=4096"));
	assert_int_equal(r.rc, PSO_OPTS_RUN);
	assert_string_equal(r.err, "");
	assert_int_equal(c.topic_subscribers, PSO_MAX_RUN);
	assert_int_equal(c.topics, PSO_MAX_TOPICS);
	assert_int_equal(c.clients, PSO_MAX_CLIENTS);
	assert_int_equal(c.subscriptions, PSO_MAX_SUBSCRIPTIONS);
	run_spec(&r, &cap_spec, &c, false,
		 ARGV("--max-topics=2", "--max-clients=1", "--max-subscriptions=1",
		      "--max-topic-subscribers=1"));
	assert_int_equal(r.rc, PSO_OPTS_RUN);
	assert_int_equal(c.topic_subscribers, 1);
	assert_int_equal(c.topics, 2);
	assert_int_equal(c.clients, 1);
	assert_int_equal(c.subscriptions, 1);
	/* The defaults the issue asks for fit the maxima. */
	assert_true(PSO_DEFAULT_TOPICS == 65536 && PSO_DEFAULT_TOPICS <= PSO_MAX_TOPICS);
	assert_true(PSO_DEFAULT_CLIENTS >= 100000 && PSO_DEFAULT_CLIENTS <= PSO_MAX_CLIENTS);
	assert_true(PSO_DEFAULT_SUBSCRIPTIONS >= 1000000 &&
		    PSO_DEFAULT_SUBSCRIPTIONS <= PSO_MAX_SUBSCRIPTIONS);
}

static void test_capacity_errors(void **state)
{
	const struct { char **argv; const char *err; } cases[] = {
		{ ARGV("--max-topics=1"),
		  "psoffload: bad --max-topics '1': use 2..65536 (usage: psoffload --help)\n" },
		{ ARGV("--max-topics=65537"),
		  "psoffload: bad --max-topics '65537': use 2..65536 (usage: psoffload --help)\n" },
		{ ARGV("--max-topics=4k"),
		  "psoffload: bad --max-topics '4k': use 2..65536 (usage: psoffload --help)\n" },
		{ ARGV("--max-clients=0"),
		  "psoffload: bad --max-clients '0': use 1..1048576 (usage: psoffload --help)\n" },
		{ ARGV("--max-clients=1048577"),
		  "psoffload: bad --max-clients '1048577': use 1..1048576 (usage: psoffload --help)\n" },
		{ ARGV("--max-clients=-1"),
		  "psoffload: bad --max-clients '-1': use 1..1048576 (usage: psoffload --help)\n" },
		{ ARGV("--max-subscriptions=0"),
		  "psoffload: bad --max-subscriptions '0': use 1..4194304 (usage: psoffload --help)\n" },
		{ ARGV("--max-subscriptions=4194305"),
		  "psoffload: bad --max-subscriptions '4194305': use 1..4194304 (usage: psoffload "
		  "--help)\n" },
		{ ARGV("--max-topic-subscribers=0"),
		  "psoffload: bad --max-topic-subscribers '0': use 1..4096 (usage: psoffload --help)\n" },
		{ ARGV("--max-topic-subscribers=4097"),
		  "psoffload: bad --max-topic-subscribers '4097': use 1..4096 (usage: psoffload "
		  "--help)\n" },
		{ ARGV("--max-subscriptions"),
		  "psoffload: option '--max-subscriptions' needs a value (usage: psoffload --help)\n" },
	};
	struct caps c;
	struct run r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&c, 0, sizeof(c));
		run_spec(&r, &cap_spec, &c, false, cases[i].argv);
		if (r.rc != 2 || r.out[0] || strcmp(r.err, cases[i].err))
			fail_msg("case %zu: rc %d, stdout \"%s\", stderr \"%s\"", i, r.rc, r.out,
				 r.err);
	}
}

static void test_capacity_help(void **state)
{
	struct caps c = { 0 };
	struct run r;

	run_spec(&r, &cap_spec, &c, false, ARGV("--help"));
	assert_int_equal(r.rc, 0);
	assert_non_null(strstr(r.out, "--max-topics=N"));
	assert_non_null(strstr(r.out, "--max-clients=N"));
	assert_non_null(strstr(r.out, "--max-subscriptions=N"));
	assert_non_null(strstr(r.out, "--max-topic-subscribers=N"));
	assert_non_null(strstr(r.out, "(default and at most 4096)"));
	assert_non_null(strstr(r.out, "space, 65536)"));
	assert_non_null(strstr(r.out, "else 131072"));
	assert_non_null(strstr(r.out, "(default 1048576)"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_num),
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_twice),
		cmocka_unit_test(test_capacities),
		cmocka_unit_test(test_capacity_errors),
		cmocka_unit_test(test_capacity_help),
	};

	return cmocka_run_group_tests_name("opts", tests, NULL, NULL);
}
