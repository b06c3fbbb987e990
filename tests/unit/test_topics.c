// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_topics.c - topic names and filters (MQTT matching rules) and the
 * topic registry: id assignment, full table, predefined-id files.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "proto/topics.h"

/* ---- filter matching ------------------------------------------------------ */

static const struct match_case {
	const char *filter;
	const char *name;
	bool match;
} match_cases[] = {
	/* exact */
	{ "a",			"a",			true },
	{ "a/b/c",		"a/b/c",		true },
	{ "a/b/c",		"a/b",			false },
	{ "a/b",		"a/b/c",		false },
	{ "a/b",		"a/bc",			false },
	{ "ab",			"a",			false },
	{ "A",			"a",			false },	/* case matters */
	{ "/a",			"/a",			true },
	{ "/a",			"a",			false },
	{ "a//b",		"a//b",			true },
	/* '+': exactly one level, an empty one included */
	{ "+",			"a",			true },
	{ "+",			"a/b",			false },
	{ "+",			"/a",			false },
	{ "+/+",		"/a",			true },
	{ "/+",			"/a",			true },
	{ "a/+",		"a/b",			true },
	{ "a/+",		"a",			false },
	{ "a/+",		"a/",			true },
	{ "a/+",		"a/b/c",		false },
	{ "a/+/c",		"a/b/c",		true },
	{ "a/+/c",		"a//c",			true },
	{ "a/+/c",		"a/b/d",		false },
	{ "+/+/+",		"a/b/c",		true },
	{ "+/b/+",		"x/b/y",		true },
	/* '#': the level and everything below, the parent included */
	{ "#",			"a",			true },
	{ "#",			"a/b/c",		true },
	{ "#",			"/",			true },
	{ "a/#",		"a",			true },
	{ "a/#",		"a/",			true },
	{ "a/#",		"a/b",			true },
	{ "a/#",		"a/b/c",		true },
	{ "a/#",		"ab",			false },
	{ "a/#",		"b/a",			false },
	{ "a/b/#",		"a",			false },
	{ "+/#",		"a",			true },
	{ "+/#",		"a/b/c",		true },
	{ "a/+/#",		"a/b",			true },
	{ "a/+/#",		"a",			false },
	/* $-topics: never matched by a leading wildcard */
	{ "#",			"$SYS/load",		false },
	{ "+/load",		"$SYS/load",		false },
	{ "$SYS/#",		"$SYS/load",		true },
	{ "$SYS/#",		"$SYS",			true },
	{ "$SYS/+",		"$SYS/load",		true },
	{ "a/$x",		"a/$x",			true },
	{ "a/+",		"a/$x",			true },	/* only the first level counts */
	/* invalid filters and names never match */
	{ "a+",			"a+",			false },
	{ "a/b#",		"a/b#",			false },
	{ "#/a",		"x/a",			false },
	{ "a/#/b",		"a/x/b",		false },
	{ "a/+b",		"a/xb",			false },
	{ "a",			"a/+",			false },	/* a name has no wildcard */
	{ "",			"",			false },
};

static void test_match_table(void **state)
{
	int failed = 0;

	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *c = &match_cases[i];
		bool got = pso_topic_match(c->filter, c->name);

		if (got != c->match) {
			print_error("case %zu: filter '%s' name '%s': expected %s, got %s\n",
				    i, c->filter, c->name, c->match ? "match" : "no match",
				    got ? "match" : "no match");
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static bool filter_valid(const char *f)
{
	return pso_topic_filter_valid(f, strlen(f));
}

static bool name_valid(const char *n)
{
	return pso_topic_name_valid(n, strlen(n));
}

static void test_filter_valid(void **state)
{
	static const char *good[] = { "a", "a/b", "+", "#", "+/+", "a/+/c", "a/#", "/",
				      "/#", "+/#", "a//b", "$SYS/#", " a b " };
	static const char *bad[] = { "", "a+", "+a", "a/b+", "a/+b/c", "#a", "a#", "a/#/b",
				     "#/", "##", "++", "a/b/c#" };
	char longf[PSO_TOPIC_NAME_MAX + 2];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(filter_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (filter_valid(bad[i]))
			fail_msg("filter '%s' accepted", bad[i]);
	}
	/* embedded NUL */
	assert_false(pso_topic_filter_valid("a\0b", 3));
	/* length limit */
	memset(longf, 'x', sizeof(longf));
	assert_true(pso_topic_filter_valid(longf, PSO_TOPIC_NAME_MAX));
	assert_false(pso_topic_filter_valid(longf, PSO_TOPIC_NAME_MAX + 1));

	assert_true(pso_topic_filter_is_wildcard("a/+", 3));
	assert_true(pso_topic_filter_is_wildcard("#", 1));
	assert_false(pso_topic_filter_is_wildcard("a/b", 3));
}

static void test_name_valid(void **state)
{
	char longn[PSO_TOPIC_NAME_MAX + 1];

	assert_true(name_valid("a"));
	assert_true(name_valid("a/b/c"));
	assert_true(name_valid("/"));
	assert_true(name_valid("$SYS/x"));
	assert_false(name_valid(""));
	assert_false(name_valid("a/+"));
	assert_false(name_valid("a/#"));
	assert_false(name_valid("a+b"));
	assert_false(pso_topic_name_valid("a\0b", 3));
	memset(longn, 'n', sizeof(longn));
	assert_true(pso_topic_name_valid(longn, PSO_TOPIC_NAME_MAX));
	assert_false(pso_topic_name_valid(longn, PSO_TOPIC_NAME_MAX + 1));
}

/* ---- registry ------------------------------------------------------------- */

static int reg_register(struct pso_registry *reg, const char *name, uint16_t *id, bool *created)
{
	return pso_registry_register(reg, name, strlen(name), id, created);
}

/* Names are UTF-8 text without control characters: they reach logs. */
static void test_name_utf8(void **state)
{
	static const struct { const char *s; size_t len; bool ok; } rows[] = {
		{ "caf\xc3\xa9/temp", 10, true },		/* U+00E9 */
		{ "\xe2\x82\xac", 3, true },			/* U+20AC */
		{ "\xf0\x9f\x98\x80/x", 6, true },		/* U+1F600 */
		{ "a\nb", 3, false },				/* control */
		{ "a\x7f", 2, false },				/* DEL */
		{ "a\xff\xfe", 3, false },			/* not UTF-8 */
		{ "\xc0\xaf", 2, false },			/* overlong '/' */
		{ "\xe0\x80\xaf", 3, false },			/* overlong */
		{ "\xed\xa0\x80", 3, false },			/* surrogate */
		{ "\xc2\x85", 2, false },			/* C1 control */
		{ "\xe2\x82", 2, false },			/* truncated */
		{ "\xf4\x90\x80\x80", 4, false },		/* > U+10FFFF */
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (pso_topic_name_valid(rows[i].s, rows[i].len) != rows[i].ok ||
		    pso_topic_filter_valid(rows[i].s, rows[i].len) != rows[i].ok)
			fail_msg("row %zu: want %s", i, rows[i].ok ? "valid" : "invalid");
	}
}

static void test_register_lowest_free(void **state)
{
	struct pso_registry *reg = pso_registry_new(16);
	uint16_t id;
	bool created;

	assert_non_null(reg);
	assert_int_equal(pso_registry_add_predefined(reg, 2, "pre/two"), 0);
	assert_int_equal(pso_registry_add_predefined(reg, 4, "pre/four"), 0);

	assert_int_equal(reg_register(reg, "x", &id, &created), 0);
	assert_int_equal(id, 1);
	assert_true(created);
	assert_int_equal(reg_register(reg, "y", &id, &created), 0);
	assert_int_equal(id, 3);	/* 2 is predefined */
	assert_int_equal(reg_register(reg, "z", &id, &created), 0);
	assert_int_equal(id, 5);

	/* Same name, same id, not new; ids are stable. */
	assert_int_equal(reg_register(reg, "y", &id, &created), 0);
	assert_int_equal(id, 3);
	assert_false(created);
	/* A predefined name registered by name gets its predefined id. */
	assert_int_equal(reg_register(reg, "pre/four", &id, &created), 0);
	assert_int_equal(id, 4);
	assert_false(created);

	/* Names are taken by length, not up to a NUL. */
	assert_int_equal(pso_registry_register(reg, "x/long", 1, &id, &created), 0);
	assert_int_equal(id, 1);
	assert_false(created);

	assert_int_equal(pso_registry_lookup(reg, "z", 1, &id), 0);
	assert_int_equal(id, 5);
	assert_int_equal(pso_registry_lookup(reg, "nope", 4, &id), -ENOENT);
	assert_string_equal(pso_registry_name(reg, 3), "y");
	assert_null(pso_registry_name(reg, 6));
	assert_null(pso_registry_name(reg, 0));
	assert_null(pso_registry_name(reg, 60000));
	assert_true(pso_registry_is_predefined(reg, 2));
	assert_false(pso_registry_is_predefined(reg, 3));
	assert_false(pso_registry_is_predefined(reg, 6));
	assert_int_equal(pso_registry_count(reg), 5);

	/* Bad names. */
	assert_int_equal(reg_register(reg, "a/+", &id, &created), -EINVAL);
	assert_int_equal(reg_register(reg, "#", &id, &created), -EINVAL);
	assert_int_equal(reg_register(reg, "", &id, &created), -EINVAL);
	assert_int_equal(pso_registry_register(reg, "a\0b", 3, &id, &created), -EINVAL);
	pso_registry_free(reg);
}

static void test_register_full(void **state)
{
	struct pso_registry *reg = pso_registry_new(8);	/* ids 1..7 */
	char name[16];
	uint16_t id;
	bool created;

	assert_non_null(reg);
	for (int i = 1; i <= 7; i++) {
		snprintf(name, sizeof(name), "t/%d", i);
		assert_int_equal(reg_register(reg, name, &id, &created), 0);
		assert_int_equal(id, i);
	}
	assert_int_equal(reg_register(reg, "one/more", &id, &created), -ENOSPC);
	/* Known names still resolve when full. */
	assert_int_equal(reg_register(reg, "t/3", &id, &created), 0);
	assert_int_equal(id, 3);
	assert_false(created);
	assert_int_equal(pso_registry_count(reg), 7);
	assert_int_equal(pso_registry_add_predefined(reg, 8, "p"), -EINVAL);
	pso_registry_free(reg);
}

static void test_register_full_id_space(void **state)
{
	/* 65536 entries: ids 1..0xfffe; 0xffff is reserved by MQTT-SN. */
	struct pso_registry *reg = pso_registry_new(65536);
	char name[16];
	uint16_t id = 0;

	assert_non_null(reg);
	assert_int_equal(pso_registry_add_predefined(reg, 0xffff, "reserved"), -EINVAL);
	assert_int_equal(pso_registry_add_predefined(reg, 0, "zero"), -EINVAL);
	for (uint32_t i = 1; i <= 0xfffe; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		if (reg_register(reg, name, &id, NULL) || id != i)
			fail_msg("register %s: id %u", name, id);
	}
	assert_int_equal(reg_register(reg, "overflow", &id, NULL), -ENOSPC);
	assert_int_equal(pso_registry_lookup(reg, "n65534", 6, &id), 0);
	assert_int_equal(id, 65534);
	pso_registry_free(reg);

	assert_null(pso_registry_new(65537));
	assert_null(pso_registry_new(1));
}

static void test_predefined_api(void **state)
{
	struct pso_registry *reg = pso_registry_new(16);
	uint16_t id;

	assert_non_null(reg);
	assert_int_equal(pso_registry_add_predefined(reg, 5, "a"), 0);
	assert_int_equal(pso_registry_add_predefined(reg, 5, "b"), -EEXIST);
	assert_int_equal(pso_registry_add_predefined(reg, 6, "a"), -EEXIST);
	assert_int_equal(pso_registry_add_predefined(reg, 16, "c"), -EINVAL);
	assert_int_equal(pso_registry_add_predefined(reg, 7, "c/+"), -EINVAL);
	assert_int_equal(reg_register(reg, "dyn", &id, NULL), 0);
	assert_int_equal(id, 1);
	assert_int_equal(pso_registry_add_predefined(reg, 1, "other"), -EEXIST);
	pso_registry_free(reg);
}

struct collect {
	uint16_t ids[16];
	const char *names[16];
	int n;
	int stop_at;
};

static int collect_fn(uint16_t id, const char *name, void *ctx)
{
	struct collect *c = ctx;

	c->ids[c->n] = id;
	c->names[c->n] = name;
	c->n++;
	return c->n == c->stop_at ? 42 : 0;
}

static void test_foreach(void **state)
{
	struct pso_registry *reg = pso_registry_new(16);
	struct collect c = { .stop_at = -1 };
	uint16_t id;

	assert_non_null(reg);
	assert_int_equal(pso_registry_add_predefined(reg, 9, "nine"), 0);
	assert_int_equal(reg_register(reg, "one", &id, NULL), 0);
	assert_int_equal(pso_registry_add_predefined(reg, 3, "three"), 0);
	assert_int_equal(pso_registry_foreach(reg, collect_fn, &c), 0);
	assert_int_equal(c.n, 3);
	assert_int_equal(c.ids[0], 1);
	assert_string_equal(c.names[0], "one");
	assert_int_equal(c.ids[1], 3);
	assert_int_equal(c.ids[2], 9);

	c = (struct collect){ .stop_at = 2 };
	assert_int_equal(pso_registry_foreach(reg, collect_fn, &c), 42);
	assert_int_equal(c.n, 2);
	pso_registry_free(reg);
}

/* ---- predefined-id files -------------------------------------------------- */

static char *write_temp(const char *text)
{
	char *path = strdup("/tmp/pso_predef_XXXXXX");
	int fd;

	assert_non_null(path);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void test_predefined_file_good(void **state)
{
	const char *text =
		"# predefined topic ids\n"
		"\n"
		"1 sensors/temp\n"
		"   7\tsensors/humidity   # trailing comment\n"
		"\t\n"
		"  # indented comment\n"
		"15 a b c\n"		/* names may hold blanks */
		"3 $SYS/uptime\r\n"	/* CRLF line ends */
		"4 last/line/without/newline";
	char *path = write_temp(text);
	struct pso_registry *reg = pso_registry_new(16);
	char err[256] = "untouched";
	uint16_t id;
	bool created;

	assert_non_null(reg);
	assert_int_equal(pso_registry_load_predefined(reg, path, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_int_equal(pso_registry_count(reg), 5);
	assert_string_equal(pso_registry_name(reg, 1), "sensors/temp");
	assert_string_equal(pso_registry_name(reg, 7), "sensors/humidity");
	assert_string_equal(pso_registry_name(reg, 15), "a b c");
	assert_string_equal(pso_registry_name(reg, 3), "$SYS/uptime");
	assert_string_equal(pso_registry_name(reg, 4), "last/line/without/newline");
	assert_true(pso_registry_is_predefined(reg, 7));

	/* Dynamic names fill the gaps from the bottom. */
	assert_int_equal(reg_register(reg, "dyn/1", &id, &created), 0);
	assert_int_equal(id, 2);
	assert_int_equal(reg_register(reg, "dyn/2", &id, &created), 0);
	assert_int_equal(id, 5);
	assert_int_equal(reg_register(reg, "sensors/humidity", &id, &created), 0);
	assert_int_equal(id, 7);
	assert_false(created);
	pso_registry_free(reg);
	unlink(path);
	free(path);
}

static const struct bad_file {
	const char *text;
	const char *error;	/* expected message after "PATH:" */
} bad_files[] = {
	{ "1 a\nx1 b\n",		"2: bad topic id 'x1': not a decimal number" },
	{ "1 a\n-3 b\n",		"2: bad topic id '-3': not a decimal number" },
	{ "\n\n12abc name\n",		"3: bad topic id '12abc': not a decimal number" },
	{ "0 zero\n",			"1: topic id 0 out of range 1..15" },
	{ "# c\n16 big\n",		"2: topic id 16 out of range 1..15" },
	{ "70000 big\n",		"1: topic id 70000 out of range 1..15" },
	{ "99999999999999999999999 x\n", "1: topic id 99999999999999999999999 out of range 1..15" },
	{ "1 a\n2 b\n1 c\n",		"3: duplicate topic id 1 (first on line 1)" },
	{ "1 a\n\n# x\n2 a\n",		"4: duplicate topic name 'a' (first on line 1)" },
	{ "1 a/+\n",			"1: invalid topic name 'a/+': wildcards are not allowed in a topic name" },
	{ "1 ok\n2 a/#\n",		"2: invalid topic name 'a/#': wildcards are not allowed in a topic name" },
	{ "5\n",			"1: topic id 5 has no topic name" },
	{ "5   # comment only\n",	"1: topic id 5 has no topic name" },
};

static void test_predefined_file_bad(void **state)
{
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		char *path = write_temp(bad_files[i].text);
		struct pso_registry *reg = pso_registry_new(16);
		char err[512], want[512];
		int ret;

		assert_non_null(reg);
		ret = pso_registry_load_predefined(reg, path, err, sizeof(err));
		snprintf(want, sizeof(want), "%s:%s", path, bad_files[i].error);
		if (ret != -EINVAL || strcmp(err, want))
			fail_msg("case %zu: ret %d, error\n  got  '%s'\n  want '%s'", i, ret, err, want);
		/* All or nothing: a bad file leaves the registry untouched. */
		assert_int_equal(pso_registry_count(reg), 0);
		pso_registry_free(reg);
		unlink(path);
		free(path);
	}
}

static void test_predefined_file_long_name(void **state)
{
	char *text = malloc(PSO_TOPIC_NAME_MAX + 64);
	struct pso_registry *reg = pso_registry_new(16);
	char err[256], want[256];
	char *path;
	int n;

	assert_non_null(text);
	if (!text)	/* not reached: for GCC, which warns (-Warray-bounds) under ASan */
		return;
	n = sprintf(text, "1 ok\n2 ");
	memset(text + n, 'x', PSO_TOPIC_NAME_MAX + 1);
	strcpy(text + n + PSO_TOPIC_NAME_MAX + 1, "\n");
	path = write_temp(text);
	assert_int_equal(pso_registry_load_predefined(reg, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: invalid topic name: %d bytes, at most %d",
		 path, PSO_TOPIC_NAME_MAX + 1, PSO_TOPIC_NAME_MAX);
	assert_string_equal(err, want);
	unlink(path);
	free(path);
	free(text);
	pso_registry_free(reg);
}

static void test_predefined_file_conflicts_with_registry(void **state)
{
	char *path = write_temp("1 a\n2 taken/name\n");
	struct pso_registry *reg = pso_registry_new(16);
	char err[256], want[256];
	uint16_t id;

	assert_int_equal(reg_register(reg, "x", &id, NULL), 0);	/* takes id 1 */
	assert_int_equal(pso_registry_load_predefined(reg, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:1: duplicate topic id 1 (already 'x')", path);
	assert_string_equal(err, want);
	pso_registry_free(reg);

	reg = pso_registry_new(16);
	assert_int_equal(pso_registry_add_predefined(reg, 9, "taken/name"), 0);
	assert_int_equal(pso_registry_load_predefined(reg, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: duplicate topic name 'taken/name' (already id 9)", path);
	assert_string_equal(err, want);
	assert_int_equal(pso_registry_count(reg), 1);
	pso_registry_free(reg);
	unlink(path);
	free(path);
}

static void test_predefined_file_missing(void **state)
{
	struct pso_registry *reg = pso_registry_new(16);
	char err[256];

	assert_int_equal(pso_registry_load_predefined(reg, "/nonexistent/predef.txt",
						      err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "/nonexistent/predef.txt: No such file or directory");
	/* A tiny error buffer is truncated, never overrun. */
	assert_int_equal(pso_registry_load_predefined(reg, "/nonexistent/predef.txt",
						      err, 5), -ENOENT);
	assert_string_equal(err, "/non");
	pso_registry_free(reg);
}

/* A running broker reads its predefined file again. */
static int note_added(uint16_t id, const char *name, void *ctx)
{
	char *log = ctx;
	size_t n = strlen(log);

	snprintf(log + n, 256 - n, "%u=%s;", id, name);
	return 0;
}

static void test_predefined_reload(void **state)
{
	char *path = write_temp("1 a\n2 b\n3 c\n");
	struct pso_registry *reg = pso_registry_new(16);
	struct pso_predef_reload res;
	char err[256], want[256], log[256] = "";
	uint16_t id;

	assert_int_equal(pso_registry_load_predefined(reg, path, err, sizeof(err)), 0);
	assert_int_equal(reg_register(reg, "dyn", &id, NULL), 0);	/* takes id 4 */
	assert_int_equal(id, 4);
	/* The same file: nothing new. */
	assert_int_equal(pso_registry_reload_predefined(reg, path, &res, note_added, log, err,
							sizeof(err)), 0);
	assert_int_equal(res.added, 0);
	assert_int_equal(res.unchanged, 3);
	assert_int_equal(res.missing, 0);
	assert_string_equal(log, "");
	unlink(path);
	free(path);

	/* 2 gone, 7 and 9 new: added (in id order), 2 stays. */
	path = write_temp("9 i\n1 a\n7 g\n3 c\n");
	assert_int_equal(pso_registry_reload_predefined(reg, path, &res, note_added, log, err,
							sizeof(err)), 0);
	assert_int_equal(res.added, 2);
	assert_int_equal(res.unchanged, 2);
	assert_int_equal(res.missing, 1);
	assert_string_equal(log, "7=g;9=i;");
	assert_true(pso_registry_is_predefined(reg, 7));
	assert_true(pso_registry_is_predefined(reg, 2));
	assert_string_equal(pso_registry_name(reg, 2), "b");
	assert_int_equal(pso_registry_count(reg), 6);
	unlink(path);
	free(path);

	/* A new name for an id in use, a new id for a name in use, a
	 * predefined id a client registered meanwhile: refused, and nothing
	 * of the file is taken. */
	static const struct { const char *text, *error; } bad[] = {
		{ "1 a\n10 new\n2 bee\n", "3: topic id 2 is 'b' in the running broker: a new name needs a restart" },
		{ "10 new\n11 a\n", "2: topic 'a' is id 1 in the running broker: a new id needs a restart" },
		{ "10 new\n4 dyn\n", "2: topic id 4 is 'dyn' in the running broker: a new name needs a restart" },
		{ "10 new\n12 x/+\n", "2: invalid topic name 'x/+': wildcards are not allowed in a topic name" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		path = write_temp(bad[i].text);
		log[0] = '\0';
		assert_int_equal(pso_registry_reload_predefined(reg, path, &res, note_added, log, err,
								sizeof(err)), -EINVAL);
		snprintf(want, sizeof(want), "%s:%s", path, bad[i].error);
		assert_string_equal(err, want);
		assert_string_equal(log, "");
		assert_null(pso_registry_name(reg, 10));
		assert_int_equal(pso_registry_count(reg), 6);
		unlink(path);
		free(path);
	}
	pso_registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_filter_valid),
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_name_utf8),
		cmocka_unit_test(test_register_lowest_free),
		cmocka_unit_test(test_register_full),
		cmocka_unit_test(test_register_full_id_space),
		cmocka_unit_test(test_predefined_api),
		cmocka_unit_test(test_foreach),
		cmocka_unit_test(test_predefined_file_good),
		cmocka_unit_test(test_predefined_file_bad),
		cmocka_unit_test(test_predefined_file_long_name),
		cmocka_unit_test(test_predefined_file_conflicts_with_registry),
		cmocka_unit_test(test_predefined_reload),
		cmocka_unit_test(test_predefined_file_missing),
	};

	return cmocka_run_group_tests_name("topics", tests, NULL, NULL);
}
