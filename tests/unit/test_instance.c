// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_instance - one broker per pin directory (host/util/instance.c): the
 * directory's canonical path, its escaped name (systemd-escape --path),
 * and the lock its owner holds for life under /run/psoffload.
 *
 * The pin directories here are plain directories under /tmp: the lock
 * never looks inside them.  flock() locks belong to an open file
 * description, so a second lock taken in this same process conflicts with
 * the first exactly as a second broker's would.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "util/instance.h"

static char base[64];		/* a fresh directory under /tmp */

static int group_setup(void **state)
{
	snprintf(base, sizeof(base), "/tmp/pso_instance_XXXXXX");
	return mkdtemp(base) ? 0 : -1;
}

static int group_teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) ? -1 : 0;
}

static const char *at(const char *fmt, const char *tail)
{
	static char buf[4][PATH_MAX];
	static int k;
	char *b = buf[k++ % 4];

	snprintf(b, PATH_MAX, fmt, base, tail);
	return b;
}

static void mkdirs(const char *sub)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "mkdir -p '%s/%s'", base, sub);
	assert_int_equal(system(cmd), 0);
}

/* Every spelling of one directory is one path, whether it exists or not. */
static void test_canonical_spellings(void **state)
{
	char want[PATH_MAX], got[PATH_MAX], link[PATH_MAX];
	const char *exists[] = { "%s/a/x", "%s/a/x/", "%s//a///x//", "%s/a/./x", "%s/b/../a/x",
				 "%s/a/x/." };
	const char *missing[] = { "%s/a/new", "%s/a/new/", "%s/a//new", "%s/b/../a/new" };

	mkdirs("a/x");
	mkdirs("b");
	snprintf(want, sizeof(want), "%s/a/x", base);
	for (size_t i = 0; i < sizeof(exists) / sizeof(exists[0]); i++) {
		assert_int_equal(pso_instance_canonical(at(exists[i], ""), got, sizeof(got)), 0);
		assert_string_equal(got, want);
	}
	/* Through a symlink, too. */
	snprintf(link, sizeof(link), "%s/l", base);
	assert_int_equal(symlink(want, link), 0);
	assert_int_equal(pso_instance_canonical(link, got, sizeof(got)), 0);
	assert_string_equal(got, want);

	snprintf(want, sizeof(want), "%s/a/new", base);
	for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
		assert_int_equal(pso_instance_canonical(at(missing[i], ""), got, sizeof(got)), 0);
		assert_string_equal(got, want);
	}
	/* Neither it nor its parent (or hidden, as `ip netns exec` hides the
	 * bpffs): the part that is there resolved, the rest as written.  l
	 * is a/x, so l/.. is a, as the kernel walks it. */
	snprintf(want, sizeof(want), "%s/a/none/new", base);
	assert_int_equal(pso_instance_canonical(at("%s/l/../none//new/.", ""), got, sizeof(got)), 0);
	assert_string_equal(got, want);
	assert_int_equal(pso_instance_canonical("/nonexistent-pso/x/../y/", got, sizeof(got)), 0);
	assert_string_equal(got, "/nonexistent-pso/y");
	assert_int_equal(pso_instance_canonical("", got, sizeof(got)), -EINVAL);
	assert_int_equal(pso_instance_canonical("/", got, sizeof(got)), 0);
	assert_string_equal(got, "/");
}

/* The names systemd-escape --path gives (checked with systemd 252). */
static void test_escaped_names(void **state)
{
	static const struct {
		const char *path, *name;
	} rows[] = {
		{ "/sys/fs/bpf/psoffload", "sys-fs-bpf-psoffload" },
		{ "/sys/fs/bpf/pso-lab/x", "sys-fs-bpf-pso\\x2dlab-x" },
		{ "/sys//fs/bpf/psoffload/", "sys-fs-bpf-psoffload" },
		{ "/tmp/.hidden", "tmp-.hidden" },
		{ "/tmp/a b+c:d_e.f", "tmp-a\\x20b\\x2bc:d_e.f" },
		{ "/", "-" },
	};
	char got[PATH_MAX];

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(pso_instance_name(rows[i].path, got, sizeof(got)), 0);
		if (strcmp(got, rows[i].name))
			fail_msg("%s: want %s, got %s", rows[i].path, rows[i].name, got);
	}
	/* A leading '.' is escaped, as systemd does: "/.x" -> "\x2ex". */
	assert_int_equal(pso_instance_name("/.x", got, sizeof(got)), 0);
	assert_string_equal(got, "\\x2ex");
	assert_int_equal(pso_instance_file("/sys/fs/bpf/psoffload", "lock", got, sizeof(got)), 0);
	assert_string_equal(got, PSO_RUN_DIR "/sys-fs-bpf-psoffload.lock");
}

/* Same base name, different directories: two names. */
static void test_base_name_is_not_the_key(void **state)
{
	char a[PATH_MAX], b[PATH_MAX];

	assert_int_equal(pso_instance_name("/sys/fs/bpf/a/x", a, sizeof(a)), 0);
	assert_int_equal(pso_instance_name("/sys/fs/bpf/b/x", b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
}

static void test_lock_held_and_released(void **state)
{
	struct pso_instance_lock first, second, other;
	char err[1200], want[1200], pid[32];
	pid_t owner = -1;
	FILE *f;

	mkdirs("p/x");
	mkdirs("q/x");
	assert_int_equal(pso_instance_lock(at("%s/p/x", ""), &first, &owner, err, sizeof(err)), 0);
	assert_true(first.fd >= 0);
	/* Its pid is in the lock file. */
	f = fopen(first.path, "r");
	assert_non_null(f);
	assert_non_null(fgets(pid, sizeof(pid), f));
	fclose(f);
	assert_int_equal(atoi(pid), getpid());

	/* The same directory spelt another way: refused, naming the owner. */
	assert_int_equal(pso_instance_lock(at("%s/q/../p/x/", ""), &second, &owner, err, sizeof(err)),
			 -EBUSY);
	assert_int_equal(owner, getpid());
	assert_int_equal(second.fd, -1);
	snprintf(want, sizeof(want), "pin directory %s/q/../p/x/ is in use by the broker with pid %d "
		 "(%s); use another --pin-dir", base, (int)getpid(), first.path);
	assert_string_equal(err, want);
	/* The refusal left the owner's lock file alone. */
	assert_int_equal(access(first.path, F_OK), 0);

	/* Another directory of the same base name: a broker of its own. */
	assert_int_equal(pso_instance_lock(at("%s/q/x", ""), &other, &owner, err, sizeof(err)), 0);
	pso_instance_unlock(&other);

	/* Released: the next one gets it, and the file went with the lock. */
	pso_instance_unlock(&first);
	assert_int_equal(first.fd, -1);
	assert_int_equal(access(first.path, F_OK), -1);
	assert_int_equal(pso_instance_lock(at("%s/p/x", ""), &second, &owner, err, sizeof(err)), 0);
	pso_instance_unlock(&second);
	pso_instance_unlock(&second);	/* twice: harmless */
}

/* A broker that died (no unlock, its lock file left with its pid) blocks
 * nobody: the kernel dropped its lock with it. */
static void test_dead_owner_does_not_block(void **state)
{
	struct pso_instance_lock l;
	char err[512], path[PATH_MAX];
	pid_t owner, child;
	int status;

	mkdirs("dead");
	assert_int_equal(pso_instance_file(at("%s/dead", ""), "lock", path, sizeof(path)), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct pso_instance_lock c;

		_exit(pso_instance_lock(at("%s/dead", ""), &c, &owner, err, sizeof(err)) ? 1 : 0);
	}
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(access(path, F_OK), 0);	/* left behind */
	assert_int_equal(pso_instance_lock(at("%s/dead", ""), &l, &owner, err, sizeof(err)), 0);
	pso_instance_unlock(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_spellings),
		cmocka_unit_test(test_escaped_names),
		cmocka_unit_test(test_base_name_is_not_the_key),
		cmocka_unit_test(test_lock_held_and_released),
		cmocka_unit_test(test_dead_owner_does_not_block),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
