// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_profile - NIC profiles (host/profile.c, nic-profiles/).
 *
 * The shipped profiles must all parse and say what nic-profiles/README.md
 * says; nfp.ini must carry the checker's NFP defaults.  Broken files are
 * written to a temporary directory, each with the exact one-line error it
 * must produce.  nic-profiles/ is found by walking up from the current
 * directory (make test runs from the repository root) and from this binary.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "ctl/profile.h"
#include "ctl/controller.h"
#include "ctl/nicinfo.h"
#include "pso_check.h"

static char shipped[PATH_MAX];	/* the repository's nic-profiles/ */
static char tmpdir[64];		/* broken files go here */

/* Walk up from `start` looking for nic-profiles/default.ini. */
static bool find_profiles_from(char *start)
{
	char probe[PATH_MAX + 64];
	char *slash;

	for (;;) {
		snprintf(probe, sizeof(probe), "%s/nic-profiles/default.ini", start);
		if (!access(probe, R_OK)) {
			snprintf(shipped, sizeof(shipped), "%s/nic-profiles", start);
			return true;
		}
		slash = strrchr(start, '/');
		if (!slash || slash == start)
			return false;
		*slash = '\0';
	}
}

static bool find_profiles(void)
{
	char buf[PATH_MAX];
	ssize_t n;

	if (getcwd(buf, sizeof(buf)) && find_profiles_from(buf))
		return true;
	n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return find_profiles_from(buf);
}

static int group_setup(void **state)
{
	if (!find_profiles()) {
		fprintf(stderr, "test_profile: nic-profiles/ not found above %s or this binary\n",
			getcwd(tmpdir, sizeof(tmpdir)) ? tmpdir : ".");
		return -1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pso_profile_XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(tmpdir);

	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(tmpdir);
	return 0;
}

/* Write `text` to TMPDIR/name and return the path. */
static const char *write_file(const char *name, const char *text)
{
	static char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/* ---- the shipped profiles ------------------------------------------------ */

/* What nic-profiles/README.md promises for each file. */
static const struct {
	const char *name;
	bool native, redirect, hw_offload;
} expect[] = {
	{ "nfp",	true,  false, true  },
	{ "netdevsim",	false, false, true  },
	{ "mlx5_core",	true,  true,  false },
	{ "mlx4_en",	true,  false, false },
	{ "i40e",	true,  true,  false },
	{ "ice",	true,  true,  false },
	{ "ixgbe",	true,  true,  false },
	{ "igb",	true,  true,  false },
	{ "igc",	true,  true,  false },
	{ "bnxt_en",	true,  true,  false },
	{ "ena",	true,  true,  false },
	{ "virtio_net",	true,  true,  false },
	{ "veth",	true,  true,  false },
	{ "tun",	true,  true,  false },
	{ "default",	false, false, false },
};
#define NEXPECT (sizeof(expect) / sizeof(expect[0]))

static void test_every_shipped_profile_parses(void **state)
{
	struct pso_nic_profile p;
	char path[PATH_MAX + 300], err[512];
	struct dirent *de;
	size_t len, n = 0, i;
	bool listed;
	DIR *d = opendir(shipped);

	assert_non_null(d);
	while ((de = readdir(d))) {
		len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".ini"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", shipped, de->d_name);
		err[0] = '\0';
		if (pso_profile_load(path, &p, err, sizeof(err)))
			fail_msg("%s", err);
		assert_int_equal(strncmp(p.name, de->d_name, len - 4), 0);
		/* Every file is one the tests (and the README) know about. */
		for (listed = false, i = 0; i < NEXPECT; i++)
			listed |= !strcmp(expect[i].name, p.name);
		if (!listed)
			fail_msg("%s is not in the README table / this test", path);
		n++;
	}
	closedir(d);
	assert_int_equal(n, NEXPECT);
}

static void test_shipped_xdp_flags(void **state)
{
	struct pso_nic_profile p;
	char err[512];
	size_t i;

	for (i = 0; i < NEXPECT; i++) {
		if (pso_profile_by_name(shipped, expect[i].name, &p, err, sizeof(err)))
			fail_msg("%s", err);
		print_message("%-10s native=%d redirect=%d hw_offload=%d\n", p.name,
			      p.xdp_native, p.xdp_redirect, p.hw_offload);
		assert_string_equal(p.name, expect[i].name);
		assert_int_equal(p.xdp_native, expect[i].native);
		assert_int_equal(p.xdp_redirect, expect[i].redirect);
		assert_int_equal(p.hw_offload, expect[i].hw_offload);
	}
}

static void test_nfp_offload_limits_are_the_checker_defaults(void **state)
{
	struct pso_offload_limits nfp = pso_offload_limits_nfp_default();
	struct pso_nic_profile p;
	char err[512];

	if (pso_profile_by_name(shipped, "nfp", &p, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(p.offload.max_maps, nfp.max_maps);
	assert_int_equal(p.offload.max_map_entries_total, nfp.max_map_entries_total);
	assert_int_equal(p.offload.max_key_size, nfp.max_key_size);
	assert_int_equal(p.offload.max_value_size, nfp.max_value_size);
	assert_int_equal(p.offload.max_elem_size, nfp.max_elem_size);
	assert_int_equal(p.offload.max_insns, nfp.max_insns);
	assert_int_equal(p.offload.max_stack, nfp.max_stack);
}

/* A new limit in pso_check.h needs a profile key (host/profile.c, README). */
_Static_assert(sizeof(struct pso_offload_limits) == 40,
	       "struct pso_offload_limits changed: add its key to host/profile.c");

static void test_netdevsim_two_entries(void **state)
{
	struct pso_nic_profile p;
	char err[512];

	if (pso_profile_by_name(shipped, "netdevsim", &p, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(p.offload.max_entries_per_map, 2);
	assert_int_equal(p.offload_topics, 2);
	assert_int_equal(p.offload_clients, 2);
}

/* ---- finding a profile --------------------------------------------------- */

static void expect_driver(const char *driver, const char *want)
{
	struct pso_nic_profile p;
	char err[512] = "";
	int rc = pso_profile_for_driver(shipped, driver, &p, err, sizeof(err));

	if (rc)
		fail_msg("driver '%s': %s", driver ? driver : "(null)", err);
	assert_string_equal(p.name, want);
}

static void test_lookup_by_driver(void **state)
{
	expect_driver("nfp", "nfp");
	expect_driver("mlx5_core", "mlx5_core");
	expect_driver("veth", "veth");
	expect_driver("e1000e", "default");	/* no file of its own */
	expect_driver("default", "default");
	expect_driver("", "default");
	expect_driver(NULL, "default");
	/* Names that are not plain file names never leave the directory. */
	expect_driver("../nic-profiles/nfp", "default");
	expect_driver("..", "default");
	expect_driver("nfp/", "default");
	expect_driver(".nfp", "default");
}

static void test_lookup_without_default(void **state)
{
	struct pso_nic_profile p;
	char err[512], want[512];

	write_file("onlyone.ini", "[xdp]\nnative = yes\n");
	expect_driver("nfp", "nfp");
	assert_int_equal(pso_profile_for_driver(tmpdir, "onlyone", &p, err, sizeof(err)), 0);
	assert_string_equal(p.name, "onlyone");
	assert_true(p.xdp_native);

	assert_int_equal(pso_profile_for_driver(tmpdir, "e1000e", &p, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "no profile for driver 'e1000e' and no fallback %s/default.ini",
		 tmpdir);
	assert_string_equal(err, want);
}

static void test_lookup_by_name(void **state)
{
	struct pso_nic_profile p;
	char err[512], want[PATH_MAX + 100];
	const char *path;

	assert_int_equal(pso_profile_by_name(shipped, "ice", &p, err, sizeof(err)), 0);
	assert_string_equal(p.name, "ice");
	snprintf(want, sizeof(want), "%s/ice.ini", shipped);
	assert_string_equal(p.path, want);

	assert_int_equal(pso_profile_by_name(shipped, "nosuch", &p, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "unknown profile 'nosuch': no %s/nosuch.ini", shipped);
	assert_string_equal(err, want);

	assert_int_equal(pso_profile_by_name(shipped, ".hidden", &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "bad profile name '.hidden': use a driver name such as nfp");

	/* With a '/', the name is a path. */
	path = write_file("mycard.ini", "[xdp]\nhw_offload = yes\n[offload]\nmax_insns = 100\n");
	assert_int_equal(pso_profile_by_name(shipped, path, &p, err, sizeof(err)), 0);
	assert_string_equal(p.name, "mycard");
	assert_true(p.hw_offload);
	assert_int_equal(p.offload.max_insns, 100);
}

static void test_missing_file(void **state)
{
	struct pso_nic_profile p;
	char err[512], want[512], path[256];

	snprintf(path, sizeof(path), "%s/none.ini", tmpdir);
	assert_int_equal(pso_profile_load(path, &p, err, sizeof(err)), -ENOENT);
	snprintf(want, sizeof(want), "cannot open %s: No such file or directory", path);
	assert_string_equal(err, want);
}

/* ---- parsing -------------------------------------------------------------- */

static void test_absent_keys_are_zero(void **state)
{
	struct pso_nic_profile p, zero;
	char err[512];

	memset(&zero, 0, sizeof(zero));
	assert_int_equal(pso_profile_load(write_file("one.ini", "[xdp]\nnative = no\n"), &p, err,
					  sizeof(err)), 0);
	assert_string_equal(p.name, "one");
	memset(p.name, 0, sizeof(p.name));
	memset(p.path, 0, sizeof(p.path));
	assert_memory_equal(&p, &zero, sizeof(p));

	assert_int_equal(pso_profile_load(write_file("sections.ini",
						     "[xdp]\nnative = yes\n[driver]\n[offload]\n"),
					  &p, err, sizeof(err)), 0);
	assert_false(p.xdp_redirect || p.hw_offload);
	assert_int_equal(p.max_topics, 0);
	assert_int_equal(p.offload.max_insns, 0);
}

/* Every key lands in its own field. */
static void test_every_key(void **state)
{
	static const char text[] =
		"; comment\n"
		"# comment\n"
		"\n"
		"[xdp]\n"
		"native = yes\n"
		"redirect = TRUE ; inline comment\n"
		"hw_offload=on\n"
		"[driver]\n"
		"max_topics = 2\n"
		"max_clients = 1048576\n"
		"[offload]\n"
		"max_maps = 3\n"
		"max_map_entries = 18446744073709551615\n"
		"max_key_size = 5\n"
		"max_value_size = 6\n"
		"max_elem_size = 7\n"
		"max_insns = 1000000\n"
		"max_stack = 512\n"
		"topics = 10\n"
		"clients = 011\n";
	struct pso_nic_profile p;
	char err[512];

	if (pso_profile_load(write_file("all.ini", text), &p, err, sizeof(err)))
		fail_msg("%s", err);
	assert_true(p.xdp_native);
	assert_true(p.xdp_redirect);
	assert_true(p.hw_offload);
	assert_int_equal(p.max_topics, 2);
	assert_int_equal(p.max_clients, 1048576);
	assert_int_equal(p.offload.max_maps, 3);
	assert_true(p.offload.max_map_entries_total == UINT64_MAX);
	assert_int_equal(p.offload.max_key_size, 5);
	assert_int_equal(p.offload.max_value_size, 6);
	assert_int_equal(p.offload.max_elem_size, 7);
	assert_int_equal(p.offload.max_insns, 1000000);
	assert_int_equal(p.offload.max_stack, 512);
	assert_int_equal(p.offload_topics, 10);
	assert_int_equal(p.offload_clients, 11);
}

/* A broken file and the exact line it must produce after "PATH:". */
static const struct {
	const char *what, *text, *msg;
} bad[] = {
	{ "unknown section", "[xdp]\nnative = yes\n[bogus]\nfoo = 1\n",
	  "3: unknown section [bogus] (use [xdp], [driver] or [offload])" },
	{ "unknown empty section", "[xdp]\n\n[Offload]\n",
	  "3: unknown section [Offload] (use [xdp], [driver] or [offload])" },
	{ "unknown key", "[xdp]\nnative = yes\nnativ = yes\n",
	  "3: unknown key 'nativ' in [xdp]" },
	{ "key of another section", "[driver]\nnative = yes\n",
	  "2: unknown key 'native' in [driver]" },
	{ "key outside sections", "; top\nnative = yes\n",
	  "2: key 'native' outside any section" },
	{ "bad boolean", "[xdp]\nnative = maybe\n",
	  "2: bad boolean 'maybe' for native in [xdp]: use yes or no" },
	{ "empty boolean", "[xdp]\nredirect =\n",
	  "2: bad boolean '' for redirect in [xdp]: use yes or no" },
	{ "non-numeric", "[offload]\nmax_insns = lots\n",
	  "2: bad number 'lots' for max_insns in [offload]: not a decimal number" },
	{ "number with unit", "[offload]\nmax_stack = 512B\n",
	  "2: bad number '512B' for max_stack in [offload]: not a decimal number" },
	{ "hex", "[offload]\nmax_stack = 0x200\n",
	  "2: bad number '0x200' for max_stack in [offload]: not a decimal number" },
	{ "plus sign", "[driver]\nmax_clients = +5\n",
	  "2: bad number '+5' for max_clients in [driver]: not a decimal number" },
	{ "negative", "[offload]\nmax_insns = -1\n",
	  "2: bad number '-1' for max_insns in [offload]: must not be negative" },
	{ "empty number", "[driver]\nmax_topics =\n",
	  "2: bad number '' for max_topics in [driver]: empty; use 0 for no limit" },
	{ "32-bit overflow", "[offload]\nmax_insns = 4294967296\n",
	  "2: bad number '4294967296' for max_insns in [offload]: larger than 4294967295" },
	{ "64-bit overflow", "[offload]\nmax_map_entries = 18446744073709551616\n",
	  "2: bad number '18446744073709551616' for max_map_entries in [offload]: "
	  "larger than 18446744073709551615" },
	{ "duplicate key", "[xdp]\nnative = yes\nredirect = no\nnative = no\n",
	  "4: duplicate key 'native' in [xdp] (first set on line 2)" },
	{ "duplicate across repeated section",
	  "[xdp]\nnative = yes\n[offload]\nmax_stack = 1\n[xdp]\nnative = no\n",
	  "6: duplicate key 'native' in [xdp] (first set on line 2)" },
	{ "indented key", "[xdp]\nnative = yes\n  redirect = no\n",
	  "3: indented line continues the value of 'native' (line 2); do not indent keys" },
	{ "not key = value", "[xdp]\nnative yes\n",
	  "2: syntax error: expected [section] or key = value" },
	{ "unclosed section", "; x\n[xdp\nnative = yes\n",
	  "2: syntax error: expected [section] or key = value" },
	{ "first error wins (handler)", "[xdp]\nnative = maybe\nfoo = 1\n",
	  "2: bad boolean 'maybe' for native in [xdp]: use yes or no" },
	{ "first error wins (syntax)", "[xdp]\ngarbage\nnative = maybe\n",
	  "2: syntax error: expected [section] or key = value" },
	{ "first error wins (section)", "[foo]\ngarbage\n",
	  "1: unknown section [foo] (use [xdp], [driver] or [offload])" },
	/* Nothing in it: not "every key no/0" by accident. */
	{ "empty", "",
	  "1: empty profile: no key set (a profile says at least [xdp] native, redirect and hw_offload)" },
	{ "comments and sections only", "; nothing\n[xdp]\n\n[driver]\n",
	  "1: empty profile: no key set (a profile says at least [xdp] native, redirect and hw_offload)" },
	/* Values the build cannot size a table with, or the kernel never allows. */
	{ "max_topics 1", "[driver]\nmax_topics = 1\n",
	  "2: max_topics = 1 in [driver] is out of range: use 0 or 2..65536" },
	{ "max_topics too large", "[xdp]\nnative = yes\n[driver]\nmax_topics = 65537\n",
	  "4: max_topics = 65537 in [driver] is out of range: use 0 or 2..65536" },
	{ "max_clients too large", "[driver]\nmax_clients = 1048577\n",
	  "2: max_clients = 1048577 in [driver] is out of range: use 0..1048576" },
	{ "offload topics too large", "[offload]\ntopics = 70000\n",
	  "2: topics = 70000 in [offload] is out of range: use 0..65536" },
	{ "offload clients too large", "[offload]\nclients = 2000000\n",
	  "2: clients = 2000000 in [offload] is out of range: use 0..1048576" },
	{ "stack beyond MAX_BPF_STACK", "[offload]\nmax_stack = 513\n",
	  "2: max_stack = 513 in [offload] is out of range: use 0..512" },
	{ "insns beyond the verifier's limit", "[offload]\nmax_insns = 1000001\n",
	  "2: max_insns = 1000001 in [offload] is out of range: use 0..1000000" },
	{ "topics beyond the per-map limit",
	  "[offload]\nmax_entries_per_map = 2\n; the tables\ntopics = 3\n",
	  "4: topics = 3 in [offload] is out of range: more than max_entries_per_map = 2 (line 2)" },
};

static void test_bad_files(void **state)
{
	struct pso_nic_profile p, zero;
	char err[512], want[1024], name[32];
	const char *path;
	size_t i;

	memset(&zero, 0, sizeof(zero));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "bad%zu.ini", i);
		path = write_file(name, bad[i].text);
		snprintf(want, sizeof(want), "%s:%s", path, bad[i].msg);
		err[0] = '\0';
		if (pso_profile_load(path, &p, err, sizeof(err)) != -EINVAL || strcmp(err, want))
			fail_msg("%s:\n  want: %s\n  got:  %s", bad[i].what, want, err);
		/* Nothing half-parsed is left behind. */
		assert_memory_equal(&p, &zero, sizeof(p));
	}
}

/* A directory, or anything but a regular file, is no profile, by path or
 * when DIR/DRIVER.ini is one.  (Once: fopen() opened the directory, no
 * line was read, and it passed as a profile of all no/0.) */
static void test_not_a_file(void **state)
{
	struct pso_nic_profile p;
	char err[PATH_MAX + 64], want[PATH_MAX + 64], dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/dir.ini", tmpdir);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(pso_profile_load(dir, &p, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s: a directory, not a profile", dir);
	assert_string_equal(err, want);
	assert_int_equal(pso_profile_by_name(tmpdir, dir, &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
	assert_int_equal(pso_profile_for_driver(tmpdir, "dir", &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, want);
	rmdir(dir);

	assert_int_equal(pso_profile_load("/dev/null", &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "/dev/null: not a regular file, not a profile");
}

static void test_long_line(void **state)
{
	char text[400], err[512], want[512];
	struct pso_nic_profile p;
	const char *path;

	/* inih reads lines of at most 199 bytes plus the newline. */
	snprintf(text, sizeof(text), "[xdp]\n; %0250d\nnative = yes\n", 0);
	path = write_file("long.ini", text);
	assert_int_equal(pso_profile_load(path, &p, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: line longer than 198 characters", path);
	assert_string_equal(err, want);
}

/* ---- the table sizes: setting over profile over build default ----------- */

static void test_table_sizes(void **state)
{
	struct pso_ctl_cfg cfg = { .profiles_dir = tmpdir };
	const char *const lo[] = { "lo" };
	struct pso_dp_sizes s;
	struct pso_nic_info nic;
	char err[512] = "", why[256];

	/* No interface, no setting: the build's defaults. */
	assert_int_equal(pso_ctl_table_sizes(&cfg, NULL, 0, &s, err, sizeof(err)), 0);
	assert_int_equal(s.topics, PSO_DEFAULT_TOPICS);
	assert_int_equal(s.clients, PSO_DEFAULT_CLIENTS);
	assert_int_equal(s.subscriptions, PSO_DEFAULT_SUBSCRIPTIONS);
	assert_int_equal(s.topic_subscribers, PSO_MAX_RUN);
	/* The settings win. */
	cfg.sizes = (struct pso_dp_sizes){ .topics = 1000, .clients = 100000,
					   .subscriptions = 2000000, .topic_subscribers = 8 };
	assert_int_equal(pso_ctl_table_sizes(&cfg, NULL, 0, &s, err, sizeof(err)), 0);
	assert_int_equal(s.topic_subscribers, 8);
	assert_int_equal(s.topics, 1000);
	assert_int_equal(s.clients, 100000);
	assert_int_equal(s.subscriptions, 2000000);
	/* One line for a size no table can have (the option parser already
	 * refuses these; the check stands for every caller). */
	cfg.sizes = (struct pso_dp_sizes){ .topics = 1 };
	assert_int_equal(pso_ctl_table_sizes(&cfg, NULL, 0, &s, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "--max-topics 1: use 2..65536");
	s = (struct pso_dp_sizes){ .topics = 2, .clients = PSO_MAX_CLIENTS + 1, .subscriptions = 1 };
	assert_int_equal(pso_dp_sizes_check(&s, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "--max-clients 1048577: use 1..1048576");
	s = (struct pso_dp_sizes){ .topics = 2, .clients = 1, .subscriptions = 0 };
	assert_int_equal(pso_dp_sizes_check(&s, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "--max-subscriptions 0: use 1..4194304");
	/* A run is a power of two: 12 is neither 8 nor 16. */
	s = (struct pso_dp_sizes){ .topics = 2, .clients = 1, .subscriptions = 1,
				   .topic_subscribers = 12 };
	assert_int_equal(pso_dp_sizes_check(&s, err, sizeof(err)), -ERANGE);
	assert_string_equal(err, "--max-topic-subscribers 12: use a power of two, 1..4096");

	/* An interface's profile (lo has no driver: default.ini) over the
	 * build's default, under the setting. */
	if (pso_nic_query("lo", &nic, why, sizeof(why)))
		skip();
	write_file("default.ini", "[driver]\nmax_topics = 300\nmax_clients = 7000\n");
	cfg.sizes = (struct pso_dp_sizes){ 0 };
	assert_int_equal(pso_ctl_table_sizes(&cfg, lo, 1, &s, err, sizeof(err)), 0);
	assert_int_equal(s.topics, 300);
	assert_int_equal(s.clients, 7000);
	assert_int_equal(s.subscriptions, PSO_DEFAULT_SUBSCRIPTIONS);
	cfg.sizes.clients = 200000;
	assert_int_equal(pso_ctl_table_sizes(&cfg, lo, 1, &s, err, sizeof(err)), 0);
	assert_int_equal(s.topics, 300);
	assert_int_equal(s.clients, 200000);
	snprintf(why, sizeof(why), "%s/default.ini", tmpdir);
	unlink(why);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_shipped_profile_parses),
		cmocka_unit_test(test_shipped_xdp_flags),
		cmocka_unit_test(test_nfp_offload_limits_are_the_checker_defaults),
		cmocka_unit_test(test_netdevsim_two_entries),
		cmocka_unit_test(test_lookup_by_driver),
		cmocka_unit_test(test_lookup_without_default),
		cmocka_unit_test(test_lookup_by_name),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_absent_keys_are_zero),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_not_a_file),
		cmocka_unit_test(test_table_sizes),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
