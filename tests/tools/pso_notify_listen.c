// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pso_notify_listen.c - the service manager's end of the sd_notify
 * protocol, for the end-to-end tests: what systemd would read from
 * NOTIFY_SOCKET, printed one line per assignment.
 *
 *   pso_notify_listen [-c COMMAND] PATH
 *
 * Binds a Unix datagram socket at PATH (the daemon's NOTIFY_SOCKET) and
 * prints, for every assignment of every datagram,
 *
 *   MS PID KEY=VALUE
 *
 * MS: when the kernel queued the datagram (SO_TIMESTAMPNS, CLOCK_REALTIME
 * milliseconds), so that a datagram read late still shows when it was
 * sent; PID: its sender (SO_PASSCRED).  With -c, a datagram carrying READY=1 freezes its
 * sender (SIGSTOP) before it is printed, runs COMMAND through sh, prints
 *
 *   MS PID check=STATUS
 *
 * (COMMAND's exit status) and lets the sender go on (SIGCONT): COMMAND
 * sees the sender's state as it was a moment after READY=1, whatever the
 * sender does next.  "ready" is printed on stderr once PATH is bound.
 * Runs until killed.  Exit: 1 on a socket error, 2 on bad usage.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static unsigned long long ts_ms(const struct timespec *ts)
{
	return (unsigned long long)ts->tv_sec * 1000 + (unsigned long long)ts->tv_nsec / 1000000;
}

/* Does the datagram carry the assignment LINE (a whole line)? */
static int has_line(const char *msg, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = msg; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, line, n) && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

/* Wait (up to a second) until PID is stopped: SIGSTOP takes effect when
 * the process next enters the kernel's signal path, not at kill(). */
static void wait_stopped(pid_t pid)
{
	char path[64], stat[512];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	for (int i = 0; i < 1000; i++) {
		FILE *f = fopen(path, "r");
		char *p = NULL;

		if (f) {
			p = fgets(stat, sizeof(stat), f) ? strrchr(stat, ')') : NULL;
			fclose(f);
		}
		if (!p || (p[1] == ' ' && (p[2] == 'T' || p[2] == 't')))
			return;
		usleep(1000);
	}
}

static int run_check(const char *command)
{
	int st = system(command);

	if (st < 0)
		return 127;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(int argc, char **argv)
{
	const char *command = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int opt, fd, on = 1;

	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c') {
			fprintf(stderr, "usage: pso_notify_listen [-c COMMAND] PATH\n");
			return 2;
		}
		command = optarg;
	}
	if (optind != argc - 1 || strlen(argv[optind]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: pso_notify_listen [-c COMMAND] PATH (PATH under %zu bytes)\n",
			sizeof(sa.sun_path));
		return 2;
	}
	memcpy(sa.sun_path, argv[optind], strlen(argv[optind]) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) ||
	    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		fprintf(stderr, "pso_notify_listen: %s: %s\n", sa.sun_path, strerror(errno));
		return 1;
	}
	fprintf(stderr, "ready\n");
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		char buf[4096];
		union {
			char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(struct timespec))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) - 1 };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		struct ucred cred = { 0 };
		struct timespec ts;
		unsigned long long t;
		ssize_t n = recvmsg(fd, &msg, 0);
		char *line, *save;
		int check = -1;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "pso_notify_listen: recvmsg: %s\n", strerror(errno));
			return 1;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		buf[n] = '\0';
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS)
				memcpy(&cred, CMSG_DATA(cm), sizeof(cred));
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS)
				memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
		}
		t = ts_ms(&ts);
		if (command && cred.pid > 0 && has_line(buf, "READY=1")) {
			kill(cred.pid, SIGSTOP);
			wait_stopped(cred.pid);
			check = run_check(command);
			kill(cred.pid, SIGCONT);
		}
		for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			printf("%llu %d %s\n", t, (int)cred.pid, line);
		if (check >= 0)
			printf("%llu %d check=%d\n", t, (int)cred.pid, check);
	}
}
