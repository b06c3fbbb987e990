// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_notify.c - daemon/notify (sd_notify through libsystemd) against a
 * NOTIFY_SOCKET of the test's own: every message's text, STATUS= sent only
 * when it changes, the watchdog's interval and its environment, a socket
 * that is not there; and util/log's sd-daemon priority prefixes when
 * stderr is the stream JOURNAL_STREAM names, none otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <cmocka.h>
#include "daemon/notify.h"
#include "util/log.h"

struct sock {
	char dir[64];
	char path[96];
	int fd;
};

static int sock_setup(void **state)
{
	struct sock *s = calloc(1, sizeof(*s));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	assert_non_null(s);
	snprintf(s->dir, sizeof(s->dir), "/tmp/pso-test-notify.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/notify", s->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
	s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setenv("NOTIFY_SOCKET", s->path, 1);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	*state = s;
	return 0;
}

static int sock_teardown(void **state)
{
	struct sock *s = *state;

	close(s->fd);
	unlink(s->path);
	rmdir(s->dir);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	free(s);
	return 0;
}

/* The next datagram, "" when there is none. */
static const char *next_msg(struct sock *s)
{
	static char buf[1024];
	ssize_t n = recv(s->fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (n < 0) {
		assert_int_equal(errno, EAGAIN);
		n = 0;
	}
	buf[n] = '\0';
	return buf;
}

static void test_messages(void **state)
{
	struct sock *s = *state;
	static const char reloading[] = "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=";
	const size_t k = sizeof(reloading) - 1;
	struct pso_notify n;
	const char *m;

	pso_notify_init(&n, 1000);
	pso_notify_ready(&n, "b0 drv; 0 clients, 0 topics");
	assert_string_equal(next_msg(s), "READY=1\nSTATUS=b0 drv; 0 clients, 0 topics");
	/* The same line again is not sent; a new one is. */
	pso_notify_status(&n, "b0 drv; 0 clients, 0 topics");
	assert_string_equal(next_msg(s), "");
	pso_notify_status(&n, "b0 drv; 1 client, 0 topics");
	assert_string_equal(next_msg(s), "STATUS=b0 drv; 1 client, 0 topics");
	pso_notify_reloading(&n);
	m = next_msg(s);
	assert_memory_equal(m, reloading, k);
	assert_true(strlen(m) > k && strspn(m + k, "0123456789") == strlen(m + k));
	pso_notify_stopping(&n, "stopping: detaching");
	assert_string_equal(next_msg(s), "STOPPING=1\nSTATUS=stopping: detaching");
	/* No watchdog asked for: none sent, no wait imposed. */
	assert_int_equal(pso_notify_watchdog(&n, 1000), -1);
	assert_string_equal(next_msg(s), "");
	assert_false(n.failed);
}

static void test_watchdog(void **state)
{
	struct sock *s = *state;
	struct pso_notify n;

	setenv("WATCHDOG_USEC", "1000000", 1);
	pso_notify_init(&n, 5000);
	assert_int_equal(n.watchdog_ms, 500);
	/* The first ping at once, then every half WATCHDOG_USEC. */
	assert_int_equal(pso_notify_watchdog(&n, 5000), 500);
	assert_string_equal(next_msg(s), "WATCHDOG=1");
	assert_int_equal(pso_notify_watchdog(&n, 5200), 300);
	assert_string_equal(next_msg(s), "");
	assert_int_equal(pso_notify_watchdog(&n, 5500), 500);
	assert_string_equal(next_msg(s), "WATCHDOG=1");
	/* Late (a long batch): sent at once, the next a whole interval on. */
	assert_int_equal(pso_notify_watchdog(&n, 6700), 500);
	assert_string_equal(next_msg(s), "WATCHDOG=1");

	/* The watchdog is another process's (WATCHDOG_PID): not ours to feed. */
	setenv("WATCHDOG_PID", "1", 1);
	pso_notify_init(&n, 5000);
	assert_int_equal(n.watchdog_ms, 0);
	assert_int_equal(pso_notify_watchdog(&n, 5000), -1);
	assert_string_equal(next_msg(s), "");
	/* Ours by pid. */
	{
		char pid[16];

		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("WATCHDOG_PID", pid, 1);
		pso_notify_init(&n, 0);
		assert_int_equal(n.watchdog_ms, 500);
	}
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "soon", 1);
	pso_notify_init(&n, 5000);
	assert_int_equal(n.watchdog_ms, 0);
	setenv("WATCHDOG_USEC", "1", 1);	/* 1 us: as often as the loop can */
	pso_notify_init(&n, 5000);
	assert_int_equal(n.watchdog_ms, 1);
}

static void test_no_socket(void **state)
{
	struct pso_notify n;

	/* Not started by systemd: every call does nothing. */
	unsetenv("NOTIFY_SOCKET");
	pso_notify_init(&n, 0);
	pso_notify_ready(&n, "x");
	pso_notify_stopping(&n, "y");
	assert_false(n.failed);
	/* A socket that is not there: one warning, then quiet. */
	setenv("NOTIFY_SOCKET", "/nonexistent/pso-notify", 1);
	pso_notify_ready(&n, "x");
	assert_true(n.failed);
	pso_notify_status(&n, "z");
	assert_true(n.failed);
}

/* Run fn with stderr in a file; its text in out. */
static void capture_stderr(void (*fn)(void), const char *journal, char *out, size_t len)
{
	char path[] = "/tmp/pso-test-log.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	struct stat st;
	char env[64];
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	if (!strcmp(journal, "this file"))
		snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
	else
		snprintf(env, sizeof(env), "%s", journal);
	setenv("JOURNAL_STREAM", env, 1);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	pso_log_set_level(0);
	fn();
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, out, len - 1, 0);
	assert_true(n >= 0);
	out[n] = '\0';
	close(fd);
	unlink(path);
	unsetenv("JOURNAL_STREAM");
	pso_log_set_level(0);
}

static void log_lines(void)
{
	pso_info("serving on %d", 1883);
	pso_debug("not at level 0");
	pso_warn("b1: gone");
	pso_err("poll: %s", "bad");
	fputs(pso_log_sd_prefix(PSO_LOG_DEBUG), stderr);
	fputs("x\n", stderr);
}

static void test_journal_prefix(void **state)
{
	char out[1024];

	capture_stderr(log_lines, "this file", out, sizeof(out));
	assert_string_equal(out, "<6>info: serving on 1883\n<4>warning: b1: gone\n"
				 "<3>error: poll: bad\n<7>x\n");
}

static void test_not_journal(void **state)
{
	static const char *const envs[] = { "1:2", "", "12", "1:2:3", "x:y" };
	char out[1024];

	/* JOURNAL_STREAM inherited with another stderr, or malformed. */
	for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
		capture_stderr(log_lines, envs[i], out, sizeof(out));
		assert_null(strstr(out, "<"));
		assert_non_null(strstr(out, " psoffload info: serving on 1883\n"));
		assert_non_null(strstr(out, " psoffload error: poll: bad\nx\n"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_messages, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(test_watchdog, sock_setup, sock_teardown),
		cmocka_unit_test_setup_teardown(test_no_socket, sock_setup, sock_teardown),
		cmocka_unit_test(test_journal_prefix),
		cmocka_unit_test(test_not_journal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
