// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * netns.c - network-namespace labs for end-to-end tests (see netns.h).
 *
 * Namespaces, links and addresses are made with iproute2 and ethtool, run
 * as child processes that setns() into the target namespace first: the
 * same commands an operator would type, and no interface is ever created in
 * the caller's namespace, where its name could clash with a real one.
 */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NETNS_RUN_DIR "/run/netns"
#define NETNS_MAX_OWNED 16

static char err_buf[512];
static char owned[NETNS_MAX_OWNED][NETNS_NAME_MAX];
static int n_owned;
static bool atexit_done;

static int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err_buf, sizeof(err_buf), fmt, ap);
	va_end(ap);
	return err;
}

const char *netns_error(void)
{
	return err_buf;
}

static int netns_open(const char *ns)
{
	char path[sizeof(NETNS_RUN_DIR) + NETNS_NAME_MAX + 1];
	int fd;

	snprintf(path, sizeof(path), NETNS_RUN_DIR "/%s", ns);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(-errno, "open %s: %s", path, strerror(errno));
	return fd;
}

int netns_exec(const char *ns, const char *const argv[])
{
	int pipefd[2], status, nsfd = -1, len = 0;
	pid_t pid;
	ssize_t r;
	char cmd[160] = "";

	for (int i = 0; argv[i] && len < (int)sizeof(cmd) - 1; i++)
		len += snprintf(cmd + len, sizeof(cmd) - len, "%s%s", i ? " " : "", argv[i]);
	if (ns) {
		nsfd = netns_open(ns);
		if (nsfd < 0)
			return nsfd;
	}
	if (pipe2(pipefd, O_CLOEXEC)) {
		if (nsfd >= 0)
			close(nsfd);
		return fail(-errno, "pipe: %s", strerror(errno));
	}
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);

		if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET))
			_exit(126);
		dup2(devnull, STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	if (nsfd >= 0)
		close(nsfd);
	if (pid < 0) {
		close(pipefd[0]);
		return fail(-errno, "fork: %s", strerror(errno));
	}
	len = snprintf(err_buf, sizeof(err_buf), "%s%s%s: ", ns ? "[" : "", ns ? ns : "",
		       ns ? "] " : "");
	len += snprintf(err_buf + len, sizeof(err_buf) - len, "%s: ", cmd);
	if (len >= (int)sizeof(err_buf))
		len = sizeof(err_buf) - 1;
	while ((r = read(pipefd[0], err_buf + len, sizeof(err_buf) - 1 - len)) > 0)
		len += r;
	err_buf[len] = '\0';
	while (len > 0 && err_buf[len - 1] == '\n')
		err_buf[--len] = '\0';
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return fail(-errno, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			snprintf(err_buf + len, sizeof(err_buf) - len, "cannot run %s", argv[0]);
		return -ECHILD;
	}
	return 0;
}

static void netns_atexit(void)
{
	netns_cleanup_all();
}

int netns_add(const char *ns)
{
	const char *argv[] = { "ip", "netns", "add", ns, NULL };
	int err;

	int slot = -1;

	if (strlen(ns) >= NETNS_NAME_MAX)
		return fail(-ENAMETOOLONG, "namespace name too long: %s", ns);
	/* A slot netns_del() cleared is used again. */
	for (int i = 0; i < n_owned && slot < 0; i++)
		if (!owned[i][0])
			slot = i;
	if (slot < 0 && n_owned == NETNS_MAX_OWNED)
		return fail(-ENOSPC, "more than %d namespaces at once", NETNS_MAX_OWNED);
	if (slot < 0)
		slot = n_owned++;
	if (!atexit_done) {
		atexit(netns_atexit);
		atexit_done = true;
	}
	/* Remembered before it exists: a half-made namespace is removed too. */
	snprintf(owned[slot], NETNS_NAME_MAX, "%s", ns);
	err = netns_exec(NULL, argv);
	if (err)
		return err;
	/* Loopback up: some stack paths expect it. */
	{
		const char *lo[] = { "ip", "link", "set", "lo", "up", NULL };

		return netns_exec(ns, lo);
	}
}

int netns_del(const char *ns)
{
	const char *argv[] = { "ip", "netns", "del", ns, NULL };
	char path[sizeof(NETNS_RUN_DIR) + NETNS_NAME_MAX + 1];
	int err = 0;

	snprintf(path, sizeof(path), NETNS_RUN_DIR "/%s", ns);
	if (access(path, F_OK) == 0)
		err = netns_exec(NULL, argv);
	for (int i = 0; i < n_owned; i++) {
		if (strcmp(owned[i], ns) == 0) {
			owned[i][0] = '\0';
			break;
		}
	}
	return err;
}

void netns_cleanup_all(void)
{
	for (int i = n_owned - 1; i >= 0; i--) {
		if (owned[i][0]) {
			char name[NETNS_NAME_MAX];

			snprintf(name, sizeof(name), "%s", owned[i]);
			netns_del(name);
		}
	}
	n_owned = 0;
}

static int link_prepare(const char *ns, const char *ifname)
{
	const char *offload[] = { "ethtool", "-K", ifname, "tx", "off", "rx", "off", NULL };
	const char *up[] = { "ip", "link", "set", ifname, "up", NULL };
	int err;

	err = netns_exec(ns, offload);
	if (err)
		return err;
	return netns_exec(ns, up);
}

int netns_veth_add(const char *ns_a, const char *if_a, const char *ns_b, const char *if_b)
{
	const char *add[] = { "ip", "link", "add", if_a, "type", "veth",
			      "peer", "name", if_b, "netns", ns_b, NULL };
	int err;

	err = netns_exec(ns_a, add);
	if (err)
		return err;
	err = link_prepare(ns_a, if_a);
	if (err)
		return err;
	return link_prepare(ns_b, if_b);
}

int netns_addr_add(const char *ns, const char *ifname, const char *cidr)
{
	const char *v4[] = { "ip", "addr", "add", cidr, "dev", ifname, NULL };
	const char *v6[] = { "ip", "-6", "addr", "add", cidr, "dev", ifname, "nodad", NULL };

	return netns_exec(ns, strchr(cidr, ':') ? v6 : v4);
}

int netns_enter(const char *ns, int *saved)
{
	int fd, cur;

	cur = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (cur < 0)
		return fail(-errno, "open own netns: %s", strerror(errno));
	fd = netns_open(ns);
	if (fd < 0) {
		close(cur);
		return fd;
	}
	if (setns(fd, CLONE_NEWNET)) {
		int err = -errno;

		close(fd);
		close(cur);
		return fail(err, "setns %s: %s", ns, strerror(-err));
	}
	close(fd);
	*saved = cur;
	return 0;
}

int netns_leave(int saved)
{
	int err = 0;

	if (setns(saved, CLONE_NEWNET))
		err = fail(-errno, "setns back: %s", strerror(errno));
	close(saved);
	return err;
}

int netns_socket(const char *ns, int domain, int type, int protocol)
{
	int saved, fd, err;

	err = netns_enter(ns, &saved);
	if (err)
		return err;
	fd = socket(domain, type | SOCK_CLOEXEC, protocol);
	if (fd < 0)
		fd = fail(-errno, "[%s] socket: %s", ns, strerror(errno));
	err = netns_leave(saved);
	if (err && fd >= 0) {
		close(fd);
		return err;
	}
	return fd;
}

int netns_ifinfo(const char *ns, const char *ifname, int *ifindex, uint8_t mac[6])
{
	struct ifreq ifr = {};
	int fd, err = 0;

	fd = netns_socket(ns, AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return fd;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFINDEX, &ifr)) {
		err = fail(-errno, "[%s] %s: no such interface", ns, ifname);
		goto out;
	}
	*ifindex = ifr.ifr_ifindex;
	if (mac) {
		if (ioctl(fd, SIOCGIFHWADDR, &ifr)) {
			err = fail(-errno, "[%s] %s: no MAC: %s", ns, ifname, strerror(errno));
			goto out;
		}
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	}
out:
	close(fd);
	return err;
}

/*
 * /proc/net/snmp pairs a header line "Udp: InDatagrams NoPorts ..." with a
 * value line "Udp: 12 0 ..."; /proc/net/snmp6 has "Udp6InCsumErrors 0".
 * /proc/thread-self/net shows the namespace of the thread opening it.
 */
static int snmp_parse(FILE *f, const char *group, const char *field, uint64_t *val)
{
	char head[4096], line[4096];
	size_t glen = group ? strlen(group) : 0;

	while (fgets(head, sizeof(head), f)) {
		char *hs, *ls, *h, *v;

		if (!group) {
			char name[128];
			unsigned long long x;

			if (sscanf(head, "%127s %llu", name, &x) == 2 && strcmp(name, field) == 0) {
				*val = x;
				return 0;
			}
			continue;
		}
		if (strncmp(head, group, glen) || head[glen] != ':')
			continue;
		if (!fgets(line, sizeof(line), f))
			break;
		h = strtok_r(head + glen + 1, " \n", &hs);
		v = strtok_r(line + glen + 1, " \n", &ls);
		for (; h && v; h = strtok_r(NULL, " \n", &hs), v = strtok_r(NULL, " \n", &ls)) {
			if (strcmp(h, field) == 0) {
				*val = strtoull(v, NULL, 10);
				return 0;
			}
		}
	}
	return fail(-ENOENT, "no %s%s%s in /proc/net/snmp%s", group ? group : "",
		    group ? "." : "", field, group ? "" : "6");
}

int netns_snmp(const char *ns, const char *group, const char *field, uint64_t *val)
{
	int saved, err;
	FILE *f;

	err = netns_enter(ns, &saved);
	if (err)
		return err;
	f = fopen(group ? "/proc/thread-self/net/snmp" : "/proc/thread-self/net/snmp6", "re");
	err = netns_leave(saved);
	if (!f)
		return fail(-errno, "[%s] open snmp: %s", ns, strerror(errno));
	if (!err)
		err = snmp_parse(f, group, field, val);
	fclose(f);
	return err;
}

uint64_t netns_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int netns_wait(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
	uint64_t deadline = netns_now_ms() + timeout_ms;
	const struct timespec tick = { .tv_nsec = 1000000 };

	for (;;) {
		if (cond(arg))
			return 0;
		if (netns_now_ms() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&tick, NULL);
	}
}

int netns_recv_deadline(int fd, void *buf, int len, void *from, unsigned int *fromlen,
			uint64_t deadline_ms)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = netns_now_ms();
		int r;

		if (now >= deadline_ms)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)(deadline_ms - now));
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		r = recvfrom(fd, buf, len, MSG_DONTWAIT, from, (socklen_t *)fromlen);
		if (r >= 0)
			return r;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}
