// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_conf.c - util/conf: a settings file over an option table.  A good
 * file with every kind of value, each kind of error (one line naming
 * FILE:LINE and the key, the settings untouched), the command line over
 * the file over the defaults, and [interface NAME] sections; the option
 * helpers a reload uses (equal, copy, format).
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
#include "util/conf.h"
#include "util/opts.h"
#include "cmd/capacity_opts.h"

struct settings {
	int mode;
	uint16_t port;
	int8_t level;
	bool flag;
	int verbosity;
	const char *path;
	const char *config;
	int calls;
};

static const struct pso_opt_name modes[] = {
	{ "auto", 0 }, { "drv", 1 }, { "skb", 2 }, { NULL },
};

static const struct pso_opt_name mode_aliases[] = {
	{ "native", 1 }, { NULL },
};

static int count_calls(const struct pso_opt_spec *spec, const struct pso_opt *opt,
		       const char *arg, void *field)
{
	++*(int *)field;
	return 0;
}

#define S(f) PSO_OPT_FIELD(struct settings, f)

static const struct pso_opt opts[] = {
	{ "mode", 'm', PSO_OPT_ENUM, S(mode), .names = modes, .aliases = mode_aliases,
	  .arg = "MODE", .flags = PSO_OPT_F_IFACE, .help = "a mode" },
	{ "port", 'p', PSO_OPT_UINT, S(port), .min = 1, .max = 65535, .arg = "N",
	  .help = "a port" },
	{ "level", 0, PSO_OPT_INT, S(level), .min = -1, .max = 2, .unit = "steps", .arg = "L",
	  .flags = PSO_OPT_F_LIVE | PSO_OPT_F_IFACE, .help = "a level" },
	{ "flag", 'f', PSO_OPT_FLAG, S(flag), .flags = PSO_OPT_F_LIVE, .help = "a flag" },
	{ "verbose", 'v', PSO_OPT_COUNTER, S(verbosity), .help = "more" },
	{ "path", 'P', PSO_OPT_STRING, S(path), .arg = "FILE", .help = "a file" },
	{ "call", 0, PSO_OPT_FUNC, S(calls), .fn = count_calls, .help = "a callback" },
	{ "config", 'c', PSO_OPT_STRING, S(config), .arg = "FILE", .flags = PSO_OPT_F_CLI_ONLY,
	  .help = "the settings file" },
	{ "help", 'h', PSO_OPT_HELP, .flags = PSO_OPT_F_CLI_ONLY, .help = "this text" },
	{ 0 },
};

static const struct pso_opt_spec spec = { .prog = "tool", .opts = opts };

#define DEFAULTS { .mode = 0, .port = 1883, .level = 0, .path = "default.txt" }

/* Each test's file. */
static char path[64];

static int setup(void **state)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/pso-test-conf.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char *line_of(const char *fmt, int line, const char *rest)
{
	static char buf[512];

	snprintf(buf, sizeof(buf), fmt, path, line, rest);
	return buf;
}

/* ---- a good file ------------------------------------------------------------ */

static void test_good_file(void **state)
{
	struct settings s = DEFAULTS;
	struct pso_conf c;
	char err[512] = "";

	write_file("# a comment\n"
		   "; another\n"
		   "\n"
		   "[broker]\n"
		   "mode = native\n"
		   "port=2000\n"
		   "level = -1\n"
		   "flag = yes\n"
		   "verbose = 2\n"
		   "path = /etc/topics with blanks.txt\n"
		   "\n"
		   "[interface eth0]\n"
		   "mode = skb\n"
		   "level = 2\n"
		   "[interface veth-b.1]\n");
	assert_int_equal(pso_conf_load(path, opts, &s, sizeof(s), &c, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(s.mode, 1);
	assert_int_equal(s.port, 2000);
	assert_int_equal(s.level, -1);
	assert_true(s.flag);
	assert_int_equal(s.verbosity, 2);
	assert_string_equal(s.path, "/etc/topics with blanks.txt");
	assert_null(s.config);
	assert_int_equal(c.set, 0x3f);	/* mode .. path */

	assert_int_equal(c.nifaces, 2);
	assert_string_equal(c.ifaces[0].name, "eth0");
	assert_int_equal(c.ifaces[0].line, 12);
	assert_int_equal(c.ifaces[0].set, 0x5);	/* mode, level */
	assert_int_equal(((struct settings *)c.ifaces[0].values)->mode, 2);
	assert_int_equal(((struct settings *)c.ifaces[0].values)->level, 2);
	/* A section without keys names an interface all the same. */
	assert_string_equal(c.ifaces[1].name, "veth-b.1");
	assert_int_equal(c.ifaces[1].set, 0);
	assert_ptr_equal(pso_conf_iface(&c, "veth-b.1"), &c.ifaces[1]);
	assert_null(pso_conf_iface(&c, "eth2"));
	pso_conf_free(&c);
	assert_int_equal(c.nifaces, 0);
}

/* The shipped file is all comments: it changes nothing. */
static void test_shipped_file(void **state)
{
	struct settings s = DEFAULTS, d = DEFAULTS;
	struct pso_conf c;
	char err[512] = "";
	FILE *f = fopen("etc/psoffload.conf", "r");

	if (!f)
		skip();		/* run from elsewhere than the source tree */
	fclose(f);
	assert_int_equal(pso_conf_load("etc/psoffload.conf", opts, &s, sizeof(s), &c, err,
				       sizeof(err)), 0);
	assert_memory_equal(&s, &d, sizeof(s));
	assert_int_equal(c.nifaces, 0);
	pso_conf_free(&c);
}

/* ---- each kind of error --------------------------------------------------------- */

static const struct bad_file {
	const char *what, *text;
	int line;
	const char *msg;	/* after "FILE:LINE: " */
} bad_files[] = {
	{ "unknown section", "[broker]\nport = 1\n[brokr]\n", 3,
	  "unknown section [brokr] (use [broker] or [interface NAME])" },
	{ "section without keys", "[brokr]\n", 1,
	  "unknown section [brokr] (use [broker] or [interface NAME])" },
	{ "interface without a name", "[interface]\n", 1,
	  "[interface]: no interface name (use [interface NAME])" },
	{ "interface name too long", "[interface abcdefghijklmnopq]\n", 1,
	  "[interface abcdefghijklmnopq]: bad interface name 'abcdefghijklmnopq'" },
	{ "interface name with a slash", "[interface a/b]\n", 1,
	  "[interface a/b]: bad interface name 'a/b'" },
	{ "duplicate interface", "[interface eth0]\n[broker]\n[interface eth0]\n", 3,
	  "duplicate section [interface eth0] (first on line 1)" },
	{ "duplicate broker", "[broker]\nport = 1\n[broker]\n", 3,
	  "duplicate section [broker] (first on line 1)" },
	{ "key outside a section", "port = 1\n", 1,
	  "key 'port' outside any section (put it under [broker])" },
	{ "unknown key", "[broker]\nprot = 1\n", 2, "unknown key 'prot' in [broker]" },
	{ "unknown key in an interface", "[interface eth0]\nmdoe = drv\n", 2,
	  "unknown key 'mdoe' in [interface eth0]" },
	{ "command-line only", "[broker]\nconfig = x\n", 2,
	  "config: not a key, command line only (--config)" },
	{ "help", "[broker]\nhelp = yes\n", 2, "help: not a key, command line only (--help)" },
	{ "a callback option", "[broker]\ncall = 1\n", 2,
	  "call: not a key, command line only (--call)" },
	{ "broker-wide key per interface", "[interface eth0]\nport = 1\n", 2,
	  "port: not a key of [interface eth0]; it is broker-wide (put it under [broker])" },
	{ "not a number", "[broker]\nport = 12x\n", 2, "bad port '12x': use 1..65535" },
	{ "out of range", "[broker]\nport = 65536\n", 2, "bad port '65536': use 1..65535" },
	{ "negative", "[broker]\nport = -1\n", 2, "bad port '-1': use 1..65535" },
	{ "empty number", "[broker]\nport =\n", 2, "bad port '': use 1..65535" },
	{ "range with a unit", "[interface eth0]\nlevel = 3\n", 2, "bad level '3': use -1..2 steps" },
	{ "not a name", "[broker]\nmode = fast\n", 2, "bad mode 'fast': use auto, drv or skb" },
	{ "not a boolean", "[broker]\nflag = maybe\n", 2, "bad flag 'maybe': use yes or no" },
	{ "not a count", "[broker]\nverbose = 10\n", 2, "bad verbose '10': use 0..9" },
	{ "duplicate key", "[broker]\nport = 1\n\nport = 2\n", 4,
	  "duplicate key 'port' in [broker] (first set on line 2)" },
	{ "indented key", "[broker]\nport = 1\n  port = 2\n", 3,
	  "indented line continues the value of 'port' (line 2); do not indent keys" },
	{ "no '='", "[broker]\nport 1\n", 2, "syntax error: expected [section] or key = value" },
	{ "unclosed section", "[broker\n", 1, "syntax error: expected [section] or key = value" },
	{ "first error only", "[broker]\nport = x\nprot = 1\n", 2, "bad port 'x': use 1..65535" },
};

static void test_bad_files(void **state)
{
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		const struct bad_file *b = &bad_files[i];
		struct settings s = DEFAULTS, d = DEFAULTS;
		struct pso_conf c;
		char err[512] = "", want[512];

		write_file(b->text);
		snprintf(want, sizeof(want), "%s:%d: %s", path, b->line, b->msg);
		if (pso_conf_load(path, opts, &s, sizeof(s), &c, err, sizeof(err)) != -EINVAL ||
		    strcmp(err, want))
			fail_msg("%s: expected -EINVAL and\n  %s\ngot\n  %s", b->what, want, err);
		/* Nothing of a bad file is taken. */
		assert_memory_equal(&s, &d, sizeof(s));
		assert_int_equal(c.nifaces, 0);
		assert_null(c.ifaces);
	}
}

/* The broker's capacity keys (cmd/capacity_opts.h): broker-wide, in range. */
struct caps {
	uint32_t topics, clients, subscriptions, topic_subscribers;
};

#define CAP(f) PSO_OPT_FIELD(struct caps, f)

static const struct pso_opt cap_opts[] = {
	PSO_CAPACITY_OPTS(CAP),
	{ 0 },
};

static void test_capacity_keys(void **state)
{
	static const struct { const char *text; int line; const char *msg; } bad[] = {
		{ "[broker]\nmax-topics = 1\n", 2, "bad max-topics '1': use 2..65536" },
		{ "[broker]\nmax-topics = 70000\n", 2, "bad max-topics '70000': use 2..65536" },
		{ "[broker]\nmax-clients = 0\n", 2, "bad max-clients '0': use 1..1048576" },
		{ "[broker]\nmax-clients = 2000000\n", 2,
		  "bad max-clients '2000000': use 1..1048576" },
		{ "[broker]\nmax-subscriptions = 4194305\n", 2,
		  "bad max-subscriptions '4194305': use 1..4194304" },
		{ "[broker]\nmax-subscriptions = lots\n", 2,
		  "bad max-subscriptions 'lots': use 1..4194304" },
		{ "[broker]\nmax-topic-subscribers = 8192\n", 2,
		  "bad max-topic-subscribers '8192': use 1..4096" },
		{ "[interface eth0]\nmax-clients = 5\n", 2,
		  "max-clients: not a key of [interface eth0]; it is broker-wide (put it under "
		  "[broker])" },
	};
	struct caps s = { 0 }, zero = { 0 };
	struct pso_conf c;
	char err[512] = "", want[512];

	write_file("[broker]\nmax-topics = 65536\nmax-clients = 100000\n"
		   "max-subscriptions = 1000000\nmax-topic-subscribers = 512\n");
	assert_int_equal(pso_conf_load(path, cap_opts, &s, sizeof(s), &c, err, sizeof(err)), 0);
	assert_int_equal(s.topics, 65536);
	assert_int_equal(s.clients, 100000);
	assert_int_equal(s.subscriptions, 1000000);
	assert_int_equal(s.topic_subscribers, 512);
	pso_conf_free(&c);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&s, 0, sizeof(s));
		write_file(bad[i].text);
		snprintf(want, sizeof(want), "%s:%d: %s", path, bad[i].line, bad[i].msg);
		if (pso_conf_load(path, cap_opts, &s, sizeof(s), &c, err, sizeof(err)) != -EINVAL ||
		    strcmp(err, want))
			fail_msg("case %zu: expected -EINVAL and\n  %s\ngot\n  %s", i, want, err);
		assert_memory_equal(&s, &zero, sizeof(s));
	}
}

static void test_long_line(void **state)
{
	struct settings s = DEFAULTS;
	struct pso_conf c;
	char text[400], err[512];

	memset(text, 'a', sizeof(text));
	memcpy(text, "[broker]\npath = ", 16);
	text[sizeof(text) - 2] = '\n';
	text[sizeof(text) - 1] = '\0';
	write_file(text);
	assert_int_equal(pso_conf_load(path, opts, &s, sizeof(s), &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, line_of("%s:%d: %s", 2, "line longer than 198 characters"));
}

static void test_missing_file(void **state)
{
	struct settings s = DEFAULTS, d = DEFAULTS;
	struct pso_conf c;
	char err[512];
	bool found = true;

	unlink(path);
	assert_int_equal(pso_conf_load(path, opts, &s, sizeof(s), &c, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, line_of("cannot read %s%.0d: %s", 0, "No such file or directory"));
	/* The default file may be missing; one named with --config may not. */
	assert_int_equal(pso_conf_merge(path, false, opts, &s, sizeof(s), &d, 0, &c, &found, err,
					sizeof(err)), 0);
	assert_false(found);
	assert_memory_equal(&s, &d, sizeof(s));
	assert_int_equal(pso_conf_merge(path, true, opts, &s, sizeof(s), &d, 0, &c, &found, err,
					sizeof(err)), -ENOENT);
	/* A directory opens but cannot be read. */
	assert_int_equal(pso_conf_load("/", opts, &s, sizeof(s), &c, err, sizeof(err)), -EINVAL);
	assert_memory_equal(&s, &d, sizeof(s));
}

/* ---- the command line over the file over the defaults --------------------------- */

/* argv over DEFAULTS, then merged with the file. */
static void settle(struct settings *s, struct pso_conf *c, char **argv)
{
	struct settings cli = DEFAULTS;
	uint64_t given = 0;
	char err[512];
	bool found;
	int argc = 0, first;

	while (argv[argc])
		argc++;
	assert_int_equal(pso_opts_parse_given(&spec, argc, argv, &cli, &first, &given),
			 PSO_OPTS_RUN);
	*s = (struct settings)DEFAULTS;
	assert_int_equal(pso_conf_merge(path, true, opts, s, sizeof(*s), &cli, given, c, &found, err,
					sizeof(err)), 0);
	assert_true(found);
	for (int i = 0; i < c->nifaces; i++) {
		struct settings mine = *s;

		pso_conf_iface_apply(&c->ifaces[i], opts, &mine, given);
		/* The caller's per-interface view: kept in the section's values. */
		memcpy(c->ifaces[i].values, &mine, sizeof(mine));
	}
}

#define ARGV(...) ((char *[]){ "tool", __VA_ARGS__, NULL })

static void test_precedence(void **state)
{
	struct settings s;
	struct pso_conf c;

	write_file("[broker]\nport = 2000\nmode = drv\nverbose = 2\nflag = yes\n");
	/* Nothing on the command line: the file over the defaults. */
	settle(&s, &c, ARGV("x"));
	assert_int_equal(s.port, 2000);
	assert_int_equal(s.mode, 1);
	assert_int_equal(s.verbosity, 2);
	assert_true(s.flag);
	assert_string_equal(s.path, "default.txt");	/* not in the file */
	pso_conf_free(&c);

	/* The command line wins; a counter counts the command line's alone. */
	settle(&s, &c, ARGV("--port=3000", "-v", "-P", "cli.txt", "--config", "other", "x"));
	assert_int_equal(s.port, 3000);
	assert_int_equal(s.mode, 1);
	assert_int_equal(s.verbosity, 1);
	assert_string_equal(s.path, "cli.txt");
	assert_string_equal(s.config, "other");
	pso_conf_free(&c);

	/* Given on the command line with the default's value: still given. */
	settle(&s, &c, ARGV("--port=1883", "-m", "auto"));
	assert_int_equal(s.port, 1883);
	assert_int_equal(s.mode, 0);
	pso_conf_free(&c);
}

static void test_interface_sections(void **state)
{
	struct settings s;
	struct pso_conf c;

	write_file("[broker]\nmode = skb\nlevel = 1\n"
		   "[interface eth0]\nmode = drv\n"
		   "[interface eth1]\nlevel = -1\n"
		   "[interface eth2]\n");
	settle(&s, &c, ARGV("x"));
	assert_int_equal(c.nifaces, 3);
	/* Its own section's value, else [broker]'s. */
	assert_int_equal(((struct settings *)c.ifaces[0].values)->mode, 1);
	assert_int_equal(((struct settings *)c.ifaces[0].values)->level, 1);
	assert_int_equal(((struct settings *)c.ifaces[1].values)->mode, 2);
	assert_int_equal(((struct settings *)c.ifaces[1].values)->level, -1);
	assert_int_equal(((struct settings *)c.ifaces[2].values)->mode, 2);
	assert_int_equal(s.mode, 2);
	pso_conf_free(&c);

	/* --mode on the command line is every interface's. */
	settle(&s, &c, ARGV("--mode=auto", "x"));
	for (int i = 0; i < 3; i++)
		assert_int_equal(((struct settings *)c.ifaces[i].values)->mode, 0);
	assert_int_equal(((struct settings *)c.ifaces[1].values)->level, -1);
	pso_conf_free(&c);
}

/* String values outlive the load that read them. */
static void test_strings_stay(void **state)
{
	struct settings a = DEFAULTS, b = DEFAULTS;
	struct pso_conf c;
	char err[512];

	write_file("[broker]\npath = one.txt\n");
	assert_int_equal(pso_conf_load(path, opts, &a, sizeof(a), &c, err, sizeof(err)), 0);
	pso_conf_free(&c);
	write_file("[broker]\npath = two.txt\n");
	assert_int_equal(pso_conf_load(path, opts, &b, sizeof(b), &c, err, sizeof(err)), 0);
	pso_conf_free(&c);
	assert_string_equal(a.path, "one.txt");
	assert_string_equal(b.path, "two.txt");
	/* An unchanged value is kept once. */
	write_file("[broker]\npath = one.txt\n");
	assert_int_equal(pso_conf_load(path, opts, &b, sizeof(b), &c, err, sizeof(err)), 0);
	pso_conf_free(&c);
	assert_ptr_equal(a.path, b.path);
}

/* ---- what a reload compares and logs ---------------------------------------------- */

static void test_value_helpers(void **state)
{
	struct settings a = DEFAULTS, b = DEFAULTS;
	char buf[64];
	char other[] = "default.txt";

	b.path = other;		/* another pointer, the same text */
	for (int i = 0; opts[i].name; i++)
		assert_true(pso_opt_equal(&opts[i], &a, &b));
	b.port = 2;
	b.path = NULL;
	assert_false(pso_opt_equal(&opts[1], &a, &b));
	assert_false(pso_opt_equal(&opts[5], &a, &b));
	pso_opt_format(&opts[5], &b, buf, sizeof(buf));
	assert_string_equal(buf, "(none)");
	pso_opt_copy(&opts[1], &a, &b);
	assert_int_equal(a.port, 2);
	pso_opt_format(&opts[1], &a, buf, sizeof(buf));
	assert_string_equal(buf, "2");
	a.mode = 2;
	pso_opt_format(&opts[0], &a, buf, sizeof(buf));
	assert_string_equal(buf, "skb");
	a.level = -1;
	pso_opt_format(&opts[2], &a, buf, sizeof(buf));
	assert_string_equal(buf, "-1");
	a.flag = true;
	pso_opt_format(&opts[3], &a, buf, sizeof(buf));
	assert_string_equal(buf, "yes");
	a.path = "x y";
	pso_opt_format(&opts[5], &a, buf, sizeof(buf));
	assert_string_equal(buf, "x y");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_file, setup, teardown),
		cmocka_unit_test(test_shipped_file),
		cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capacity_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interface_sections, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strings_stay, setup, teardown),
		cmocka_unit_test(test_value_helpers),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
