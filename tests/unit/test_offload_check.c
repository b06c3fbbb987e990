// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_offload_check - the offload-constraint checker (offload/pso_check.c).
 *
 * Checks the project's own XDP builds against the NFP defaults, and one small
 * object per rule (tests/bpf/bad_*.bpf.c) that must produce exactly that
 * rule's violation at the right instruction.  Objects are found relative to
 * this binary: BUILD/tests/unit/<me> -> BUILD/bpf, BUILD/tests/bpf.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/bpf.h>
#include <bpf/libbpf.h>

#include "pso_check.h"

#define OFFLOAD_OBJ "bpf/psoffload_xdp_offload.bpf.o"
#define DRIVER_OBJ  "bpf/psoffload_xdp.bpf.o"
#define TC_OBJ      "bpf/psoffload_tc.bpf.o"

static char build_dir[PATH_MAX];

static const char *obj(const char *rel)
{
	static char buf[4][PATH_MAX + 128];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", build_dir, rel);
	return p;
}

static void dump(const char *what, const struct pso_violations *v)
{
	char line[320];
	size_t i;

	print_message("%s: %zu violation(s)\n", what, v->cnt);
	for (i = 0; i < v->cnt; i++) {
		pso_violation_format(&v->v[i], line, sizeof(line));
		print_message("  %s\n", line);
	}
}

/* Run the checker; on an unexpected result show what was found, then fail. */
static void check(const char *rel, const struct pso_offload_limits *lim,
		  struct pso_violations *v, int want_rc)
{
	int rc = pso_check_object(obj(rel), lim, v);

	if (rc != want_rc) {
		print_message("%s: rc %d, want %d %s\n", rel, rc, want_rc, v->error);
		dump(rel, v);
	}
	assert_int_equal(rc, want_rc);
}

static void check_nfp(const char *rel, struct pso_violations *v, int want_rc)
{
	struct pso_offload_limits lim = pso_offload_limits_nfp_default();

	check(rel, &lim, v, want_rc);
}

static const struct pso_violation *find(const struct pso_violations *v, enum pso_rule rule,
					const char *name)
{
	size_t i;

	for (i = 0; i < v->cnt; i++)
		if (v->v[i].rule == rule && (!name || !strcmp(v->v[i].name, name)))
			return &v->v[i];
	return NULL;
}

/* x exists and its reason contains `text`. */
static bool says(const struct pso_violation *x, const char *text)
{
	return x && strstr(x->reason, text);
}

/* The helper violation whose reason contains text; fails when none does. */
static const struct pso_violation *helper_violation(const struct pso_violations *v,
						    const char *text)
{
	for (size_t i = 0; i < v->cnt; i++)
		if (v->v[i].rule == PSO_RULE_HELPER && strstr(v->v[i].reason, text))
			return &v->v[i];
	fail_msg("no helper violation says \"%s\"", text);
	return NULL;
}

static void expect_none(const char *what, const struct pso_violations *v, enum pso_rule rule)
{
	if (pso_violations_count(v, rule)) {
		print_message("%s: unexpected %s violations\n", what, pso_rule_name(rule));
		dump(what, v);
	}
	assert_int_equal(pso_violations_count(v, rule), 0);
}

/* The instruction the checker pointed at, read back independently. */
static struct bpf_insn insn_at(const char *rel, const char *prog_name, int idx)
{
	struct bpf_insn insn = { 0 };
	struct bpf_program *prog;
	struct bpf_object *o;

	o = bpf_object__open_file(obj(rel), NULL);
	assert_non_null(o);
	prog = bpf_object__find_program_by_name(o, prog_name);
	assert_non_null(prog);
	assert_true(idx >= 0 && (size_t)idx < bpf_program__insn_cnt(prog));
	insn = bpf_program__insns(prog)[idx];
	bpf_object__close(o);
	return insn;
}

/* ---- the project's objects ---------------------------------------------- */

static void test_nfp_defaults(void **state)
{
	struct pso_offload_limits lim = pso_offload_limits_nfp_default();

	assert_int_equal(lim.max_key_size, 64);
	assert_int_equal(lim.max_value_size, 64);
	assert_int_equal(lim.max_elem_size, 64);
	assert_int_equal(lim.max_map_entries_total, 3072000);
	assert_int_equal(lim.max_insns, 2800);
	assert_int_equal(lim.max_stack, 512);
	assert_int_equal(lim.max_maps, 64);
}

static void test_offload_build_fits_nfp(void **state)
{
	struct pso_violations v;

	check_nfp(OFFLOAD_OBJ, &v, 0);
	pso_violations_free(&v);
}

static void test_xdp_builds_have_no_backward_jumps(void **state)
{
	const char *objs[] = { OFFLOAD_OBJ, DRIVER_OBJ };
	size_t bad = 0, i;

	for (i = 0; i < 2; i++) {
		struct pso_offload_limits lim = pso_offload_limits_nfp_default();
		struct pso_violations v;
		size_t j;

		assert_true(pso_check_object(obj(objs[i]), &lim, &v) >= 0);
		for (j = 0; j < v.cnt; j++) {
			char line[320];

			if (v.v[j].rule != PSO_RULE_BACKWARD_JUMP)
				continue;
			pso_violation_format(&v.v[j], line, sizeof(line));
			print_message("%s: %s\n", objs[i], line);
			bad++;
		}
		pso_violations_free(&v);
	}
	assert_int_equal(bad, 0);
}

static void test_offload_build_helpers_and_data(void **state)
{
	const enum pso_rule none[] = {
		PSO_RULE_HELPER, PSO_RULE_TAIL_CALL, PSO_RULE_BPF_CALL, PSO_RULE_GLOBAL_DATA,
		PSO_RULE_MAP_TYPE, PSO_RULE_MAP_FLAGS, PSO_RULE_MOD, PSO_RULE_ATOMIC,
		PSO_RULE_RETURN_CODE, PSO_RULE_PROG_TYPE,
	};
	struct bpf_program *prog;
	struct pso_violations v;
	struct bpf_object *o;
	struct bpf_map *map;
	size_t i, n, calls = 0;

	assert_true(pso_check_object(obj(OFFLOAD_OBJ), &(struct pso_offload_limits){ 0 }, &v) >= 0);
	for (i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		expect_none(OFFLOAD_OBJ, &v, none[i]);
	pso_violations_free(&v);

	/* Independently of the checker: every call is helper 1, 2 or 3 and
	 * libbpf sees no global-data map. */
	o = bpf_object__open_file(obj(OFFLOAD_OBJ), NULL);
	assert_non_null(o);
	bpf_object__for_each_program(prog, o) {
		const struct bpf_insn *in = bpf_program__insns(prog);

		n = bpf_program__insn_cnt(prog);
		for (i = 0; i < n; i++) {
			if (in[i].code != (BPF_JMP | BPF_CALL))
				continue;
			calls++;
			assert_int_equal(in[i].src_reg, 0);
			assert_in_range(in[i].imm, BPF_FUNC_map_lookup_elem, BPF_FUNC_map_delete_elem);
		}
	}
	assert_true(calls > 0);
	bpf_object__for_each_map(map, o)
		assert_false(bpf_map__is_internal(map));
	bpf_object__close(o);
}

static void test_driver_build_rejected(void **state)
{
	const struct pso_violation *h, *r, *m;
	struct pso_violations v;

	check_nfp(DRIVER_OBJ, &v, 1);

	/* Per-CPU counters, the devmap and the event stream's ring buffer
	 * and per-CPU token buckets are driver-only map types. */
	m = find(&v, PSO_RULE_MAP_TYPE, "pso_devmap");
	assert_true(says(m, "devmap_hash"));
	m = find(&v, PSO_RULE_MAP_TYPE, "pso_counters");
	assert_true(says(m, "percpu_array"));
	m = find(&v, PSO_RULE_MAP_TYPE, "pso_topic_stats");
	assert_true(says(m, "percpu_array"));
	m = find(&v, PSO_RULE_MAP_TYPE, "pso_events");
	assert_true(says(m, "ringbuf"));
	m = find(&v, PSO_RULE_MAP_TYPE, "pso_event_buckets");
	assert_true(says(m, "percpu_array"));
	/* The TC fan-out's per-CPU counts, defined for both driver objects. */
	m = find(&v, PSO_RULE_MAP_TYPE, "pso_fanout_tally");
	assert_true(says(m, "percpu_array"));
	assert_int_equal(pso_violations_count(&v, PSO_RULE_MAP_TYPE), 6);

	/* The exits that report an event call one subprogram (its helpers,
	 * the clock and the ring buffer, are in it). */
	assert_true(pso_violations_count(&v, PSO_RULE_BPF_CALL) > 0);

	/* bpf_redirect_map and the clock of the publish-rate limit (one call
	 * per inlined copy of the client lookup) are the forwarding path's
	 * helpers outside 1-3; the others are the event reports' copy of an
	 * IPv6 source address. */
	h = helper_violation(&v, "helper 51 (bpf_redirect_map)");
	assert_int_equal(insn_at(DRIVER_OBJ, h->name, h->insn).imm, BPF_FUNC_redirect_map);
	h = helper_violation(&v, "helper 160 (bpf_ktime_get_coarse_ns)");
	assert_int_equal(insn_at(DRIVER_OBJ, h->name, h->insn).imm, BPF_FUNC_ktime_get_coarse_ns);
	{
		size_t others = 0;

		for (size_t i = 0; i < v.cnt; i++)
			if (v.v[i].rule == PSO_RULE_HELPER &&
			    !strstr(v.v[i].reason, "helper 51 (bpf_redirect_map)") &&
			    !strstr(v.v[i].reason, "helper 160 (bpf_ktime_get_coarse_ns)") &&
			    !strstr(v.v[i].reason, "helper 113 (bpf_probe_read_kernel)"))
				others++;
		assert_int_equal(others, 0);
	}

	/* ... and XDP_REDIRECT is returned as a constant. */
	r = find(&v, PSO_RULE_RETURN_CODE, NULL);
	assert_true(says(r, "returns 4 (XDP_REDIRECT)"));
	assert_int_equal(insn_at(DRIVER_OBJ, r->name, r->insn).code, BPF_JMP | BPF_EXIT);

	expect_none(DRIVER_OBJ, &v, PSO_RULE_TAIL_CALL);
	expect_none(DRIVER_OBJ, &v, PSO_RULE_MOD);
	expect_none(DRIVER_OBJ, &v, PSO_RULE_ATOMIC);
	expect_none(DRIVER_OBJ, &v, PSO_RULE_GLOBAL_DATA);
	/* The client table allocates as clients come: a flag the NIC has not. */
	m = find(&v, PSO_RULE_MAP_FLAGS, "pso_clients");
	assert_true(says(m, "BPF_F_NO_PREALLOC"));
	assert_int_equal(pso_violations_count(&v, PSO_RULE_MAP_FLAGS), 1);
	expect_none(DRIVER_OBJ, &v, PSO_RULE_PROG_TYPE);
	pso_violations_free(&v);
}

static void test_tc_object_is_not_xdp(void **state)
{
	const struct pso_violation *t;
	struct pso_violations v;

	check_nfp(TC_OBJ, &v, 1);
	assert_int_equal(pso_violations_count(&v, PSO_RULE_PROG_TYPE), 1);
	t = find(&v, PSO_RULE_PROG_TYPE, NULL);
	assert_true(says(t, "sched_cls"));
	pso_violations_free(&v);
}

/* ---- bad input ---------------------------------------------------------- */

static void test_missing_file(void **state)
{
	struct pso_offload_limits lim = pso_offload_limits_nfp_default();
	struct pso_violations v;

	assert_int_equal(pso_check_object("/nonexistent/x.bpf.o", &lim, &v), -ENOENT);
	assert_int_equal(v.cnt, 0);
	assert_non_null(strstr(v.error, "/nonexistent/x.bpf.o"));
	pso_violations_free(&v);
}

static void test_not_a_bpf_object(void **state)
{
	struct pso_offload_limits lim = pso_offload_limits_nfp_default();
	char text[] = "/tmp/pso_check_textXXXXXX";
	struct pso_violations v;
	int fd;

	/* A text file ... */
	fd = mkstemp(text);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not an ELF\n", 11), 11);
	close(fd);
	assert_int_equal(pso_check_object(text, &lim, &v), -EINVAL);
	assert_int_equal(v.cnt, 0);
	assert_non_null(strstr(v.error, "not a BPF object"));
	pso_violations_free(&v);
	unlink(text);

	/* ... and an ELF file for another machine (this test binary). */
	assert_int_equal(pso_check_object("/proc/self/exe", &lim, &v), -EINVAL);
	assert_non_null(strstr(v.error, "not a BPF object"));
	pso_violations_free(&v);
}

/* ---- one object per rule ------------------------------------------------ */

struct bad_case {
	const char *file;		/* under BUILD/tests/bpf */
	enum pso_rule rule;
	size_t count;			/* violations expected, all of `rule` */
	const char *reason;		/* substring of every reason ... */
	const char *reason2;		/* ... or, for a second violation, this */
	int insn_code;			/* opcode at the reported insn; -1: no insn,
					 * -2: any jump backwards */
};

static const struct bad_case bad_cases[] = {
	{ "bad_loop",	      PSO_RULE_BACKWARD_JUMP, 1, "(a loop)", NULL, -2 },
	{ "bad_mod",	      PSO_RULE_MOD,	      1, "BPF_MOD (alu64 reg)", NULL,
	  BPF_ALU64 | BPF_MOD | BPF_X },
	{ "bad_atomic",	      PSO_RULE_ATOMIC,	      1, "atomic fetch_add", NULL,
	  BPF_STX | BPF_ATOMIC | BPF_DW },
	{ "bad_tailcall",     PSO_RULE_TAIL_CALL,     1, "bpf_tail_call", NULL, BPF_JMP | BPF_CALL },
	{ "bad_global",	      PSO_RULE_GLOBAL_DATA,   2, "section .data ", "section .bss ", -1 },
	{ "bad_rodata",	      PSO_RULE_GLOBAL_DATA,   1, "section .rodata ", NULL, -1 },
	{ "bad_percpu",	      PSO_RULE_MAP_TYPE,      1, "percpu_array", NULL, -1 },
	{ "bad_noprealloc",   PSO_RULE_MAP_FLAGS,     1, "BPF_F_NO_PREALLOC (0x1)", NULL, -1 },
	{ "bad_bigvalue",     PSO_RULE_VALUE_SIZE,    1, "value size 128 > limit 64", NULL, -1 },
	{ "bad_bigelem",      PSO_RULE_ELEM_SIZE,     1, "element size 72", NULL, -1 },
	{ "bad_helper",	      PSO_RULE_HELPER,	      1, "helper 5 (bpf_ktime_get_ns)", NULL,
	  BPF_JMP | BPF_CALL },
	{ "bad_call",	      PSO_RULE_BPF_CALL,      1, "bpf-to-bpf call", NULL, BPF_JMP | BPF_CALL },
	{ "bad_redirect_ret", PSO_RULE_RETURN_CODE,   1, "returns 4 (XDP_REDIRECT)", NULL,
	  BPF_JMP | BPF_EXIT },
};

/* The reported instruction really is the construct the rule is about. */
static void check_insn(const struct bad_case *c, const char *rel, const struct pso_violation *x)
{
	struct bpf_insn in;

	if (c->insn_code == -1) {
		assert_int_equal(x->insn, -1);
		return;
	}
	in = insn_at(rel, x->name, x->insn);
	if (c->insn_code == -2) {
		assert_true(BPF_CLASS(in.code) == BPF_JMP || BPF_CLASS(in.code) == BPF_JMP32);
		assert_true(in.off < 0);
	} else {
		assert_int_equal(in.code, c->insn_code);
	}
	if (c->rule == PSO_RULE_ATOMIC)
		assert_int_equal(in.imm, BPF_ADD | BPF_FETCH);
	if (c->rule == PSO_RULE_TAIL_CALL)
		assert_int_equal(in.imm, BPF_FUNC_tail_call);
	if (c->rule == PSO_RULE_HELPER)
		assert_int_equal(in.imm, BPF_FUNC_ktime_get_ns);
	if (c->rule == PSO_RULE_BPF_CALL)
		assert_int_equal(in.src_reg, BPF_PSEUDO_CALL);
}

static void test_bad_object(void **state)
{
	const struct bad_case *c = *state;
	char rel[128];
	struct pso_violations v;
	size_t i, n1 = 0, n2 = 0;

	snprintf(rel, sizeof(rel), "tests/bpf/%s.bpf.o", c->file);
	check_nfp(rel, &v, 1);
	if (v.cnt != c->count || pso_violations_count(&v, c->rule) != c->count)
		dump(rel, &v);
	assert_int_equal(v.cnt, c->count);
	assert_int_equal(pso_violations_count(&v, c->rule), c->count);

	for (i = 0; i < v.cnt; i++) {
		const struct pso_violation *x = &v.v[i];

		if (strstr(x->reason, c->reason))
			n1++;
		else if (c->reason2 && strstr(x->reason, c->reason2))
			n2++;
		else
			fail_msg("%s: unexpected reason \"%s\"", rel, x->reason);

		check_insn(c, rel, x);
	}
	/* Two expected reasons: one violation each. */
	assert_int_equal(n1, c->reason2 ? 1 : c->count);
	assert_int_equal(n2, c->reason2 ? 1 : 0);
	pso_violations_free(&v);
}

static void test_ok_object_fits(void **state)
{
	struct pso_violations v;

	check_nfp("tests/bpf/ok_minimal.bpf.o", &v, 0);
	assert_int_equal(v.cnt, 0);
	pso_violations_free(&v);
}

/* ---- limits from the struct -------------------------------------------- */

static void test_limits_insns_and_stack(void **state)
{
	struct pso_offload_limits lim = pso_offload_limits_nfp_default();
	struct pso_violations v;

	lim.max_insns = 3;
	check("tests/bpf/ok_minimal.bpf.o", &lim, &v, 1);
	assert_int_equal(v.cnt, 1);
	assert_int_equal(v.v[0].rule, PSO_RULE_INSN_COUNT);
	assert_int_equal(v.v[0].insn, -1);
	pso_violations_free(&v);

	/* The map key sits at r10 - 4. */
	lim = pso_offload_limits_nfp_default();
	lim.max_stack = 2;
	check("tests/bpf/ok_minimal.bpf.o", &lim, &v, 1);
	assert_int_equal(v.cnt, 1);
	assert_int_equal(v.v[0].rule, PSO_RULE_STACK);
	assert_non_null(strstr(v.v[0].reason, "about 4 bytes > limit 2"));
	pso_violations_free(&v);

	lim.max_stack = 4;
	check("tests/bpf/ok_minimal.bpf.o", &lim, &v, 0);
	pso_violations_free(&v);
}

static void test_limits_maps(void **state)
{
	struct pso_offload_limits lim = { .max_maps = 2, .max_map_entries_total = 100 };
	const struct pso_violation *c, *e;
	struct pso_violations v;

	check(OFFLOAD_OBJ, &lim, &v, 1);
	assert_int_equal(pso_violations_count(&v, PSO_RULE_MAP_COUNT), 1);
	assert_int_equal(pso_violations_count(&v, PSO_RULE_MAP_ENTRIES), 1);
	c = find(&v, PSO_RULE_MAP_COUNT, NULL);
	e = find(&v, PSO_RULE_MAP_ENTRIES, NULL);
	assert_true(says(c, "> limit 2"));
	assert_true(says(e, "> limit 100"));
	pso_violations_free(&v);
}

static void test_zero_limits_are_unchecked(void **state)
{
	struct pso_offload_limits lim = { 0 };
	struct pso_violations v;

	check("tests/bpf/bad_bigvalue.bpf.o", &lim, &v, 0);
	pso_violations_free(&v);
}

/* ---- output format ------------------------------------------------------ */

static void test_print_format(void **state)
{
	struct pso_violation pv = {
		.rule = PSO_RULE_HELPER, .where = PSO_WHERE_PROG, .name = "prog", .insn = 7,
		.reason = "r",
	};
	struct pso_violations v;
	char line[320], *buf = NULL;
	size_t len = 0, lines = 0, i;
	FILE *f;

	pso_violation_format(&pv, line, sizeof(line));
	assert_string_equal(line, "prog[7]: r");
	pv.insn = -1;
	pso_violation_format(&pv, line, sizeof(line));
	assert_string_equal(line, "prog: r");
	pv.where = PSO_WHERE_MAP;
	pso_violation_format(&pv, line, sizeof(line));
	assert_string_equal(line, "map prog: r");
	pv.where = PSO_WHERE_OBJECT;
	pso_violation_format(&pv, line, sizeof(line));
	assert_string_equal(line, "object: r");

	check_nfp("tests/bpf/bad_helper.bpf.o", &v, 1);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	pso_violations_print(f, &v);
	fclose(f);
	for (i = 0; i < len; i++)
		lines += buf[i] == '\n';
	assert_int_equal(lines, v.cnt);
	snprintf(line, sizeof(line), "bad_helper[%d]: helper 5 (bpf_ktime_get_ns) not supported",
		 v.v[0].insn);
	assert_memory_equal(buf, line, strlen(line));
	free(buf);
	pso_violations_free(&v);

	assert_string_equal(pso_rule_name(PSO_RULE_BACKWARD_JUMP), "backward-jump");
}

/* ---- runner ------------------------------------------------------------- */

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

static int find_build_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	int up;

	if (n <= 0)
		return -1;
	exe[n] = 0;
	/* BUILD/tests/unit/test_offload_check: three levels up */
	for (up = 0; up < 3; up++) {
		char *slash = strrchr(exe, '/');

		if (!slash)
			return -1;
		*slash = 0;
	}
	snprintf(build_dir, sizeof(build_dir), "%s", exe);
	return 0;
}

int main(void)
{
	enum { NBAD = sizeof(bad_cases) / sizeof(bad_cases[0]) };
	const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_nfp_defaults),
		cmocka_unit_test(test_offload_build_fits_nfp),
		cmocka_unit_test(test_xdp_builds_have_no_backward_jumps),
		cmocka_unit_test(test_offload_build_helpers_and_data),
		cmocka_unit_test(test_driver_build_rejected),
		cmocka_unit_test(test_tc_object_is_not_xdp),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_not_a_bpf_object),
		cmocka_unit_test(test_ok_object_fits),
		cmocka_unit_test(test_limits_insns_and_stack),
		cmocka_unit_test(test_limits_maps),
		cmocka_unit_test(test_zero_limits_are_unchecked),
		cmocka_unit_test(test_print_format),
	};
	enum { NFIXED = sizeof(fixed) / sizeof(fixed[0]) };
	struct CMUnitTest tests[NFIXED + NBAD];
	size_t i;

	if (find_build_dir()) {
		fprintf(stderr, "test_offload_check: cannot locate the build directory\n");
		return 1;
	}
	libbpf_set_print(quiet);

	memcpy(tests, fixed, sizeof(fixed));
	for (i = 0; i < NBAD; i++)
		tests[NFIXED + i] = (struct CMUnitTest){
			.name = bad_cases[i].file,
			.test_func = test_bad_object,
			.initial_state = (void *)&bad_cases[i],
		};
	return _cmocka_run_group_tests("offload_check", tests, NFIXED + NBAD, NULL, NULL);
}
