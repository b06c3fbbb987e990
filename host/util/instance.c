// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * instance.c - a broker's name (its pin directory's canonical path,
 * escaped) and the lock that makes the pin directory its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include "util/instance.h"

static int copy_out(char *buf, size_t len, const char *a, const char *sep, const char *b)
{
	int n = snprintf(buf, len, "%s%s%s", a, sep, b);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Append component c to the absolute path in buf, ".." taking one off. */
static int push_component(char *buf, size_t len, const char *c, size_t n)
{
	size_t o = strlen(buf);

	if (!n || (n == 1 && c[0] == '.'))
		return 0;
	if (n == 2 && c[0] == '.' && c[1] == '.') {
		char *slash = strrchr(buf, '/');

		if (slash)
			*(slash == buf ? slash + 1 : slash) = '\0';
		return 0;
	}
	if (o + 1 + n >= len)
		return -ENAMETOOLONG;
	if (o > 1)
		buf[o++] = '/';
	memcpy(buf + o, c, n);
	buf[o + n] = '\0';
	return 0;
}

int pso_instance_canonical(const char *dir, char *buf, size_t len)
{
	char abs[PATH_MAX], real[PATH_MAX];
	const char *rest, *c;
	size_t cut;
	int ret;

	if (!dir || !*dir)
		return -EINVAL;
	if (realpath(dir, real))
		return copy_out(buf, len, real, "", "");
	/* Not there (yet), or not visible here (`ip netns exec` hides the
	 * bpffs): the longest prefix that resolves, then the rest as
	 * written, "." and ".." taken lexically. */
	if (dir[0] == '/')
		ret = copy_out(abs, sizeof(abs), dir, "", "");
	else if (!getcwd(real, sizeof(real)))
		return -errno;
	else
		ret = copy_out(abs, sizeof(abs), real, "/", dir);
	if (ret)
		return ret;
	for (cut = strlen(abs); cut > 0; cut--) {
		char save = abs[cut];

		if (save != '/' && save != '\0')
			continue;
		abs[cut] = '\0';
		if (realpath(abs[0] ? abs : "/", real)) {
			abs[cut] = save;
			break;
		}
		abs[cut] = save;
	}
	if (!cut && !realpath("/", real))
		return -errno;
	rest = abs + cut;
	while (*rest) {
		while (*rest == '/')
			rest++;
		for (c = rest; *rest && *rest != '/'; rest++)
			;
		ret = push_component(real, sizeof(real), c, (size_t)(rest - c));
		if (ret)
			return ret;
	}
	return copy_out(buf, len, real, "", "");
}

static bool plain_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == ':' || c == '_' || c == '.';
}

int pso_instance_name(const char *pin_dir, char *buf, size_t len)
{
	char path[PATH_MAX];
	const char *s;
	size_t o = 0;
	int ret = pso_instance_canonical(pin_dir, path, sizeof(path));

	if (ret)
		return ret;
	if (!strcmp(path, "/"))
		return copy_out(buf, len, "-", "", "");
	/* systemd-escape --path: no leading slash, '/' -> '-', the rest of
	 * what is not [A-Za-z0-9:_.] (and a leading '.') -> \xNN. */
	for (s = path + 1; *s; s++) {
		int w;

		if (*s == '/')
			w = snprintf(buf + o, len - o, "-");
		else if (plain_char(*s) && !(o == 0 && *s == '.'))
			w = snprintf(buf + o, len - o, "%c", *s);
		else
			w = snprintf(buf + o, len - o, "\\x%02x", (unsigned char)*s);
		if (w < 0 || (size_t)w >= len - o)
			return -ENAMETOOLONG;
		o += (size_t)w;
	}
	return 0;
}

int pso_instance_file(const char *pin_dir, const char *suffix, char *buf, size_t len)
{
	char name[NAME_MAX + 1], file[NAME_MAX + 16];
	int ret = pso_instance_name(pin_dir, name, sizeof(name));

	if (ret)
		return ret;
	ret = copy_out(file, sizeof(file), name, ".", suffix);
	return ret ? ret : copy_out(buf, len, PSO_RUN_DIR, "/", file);
}

static pid_t read_owner(int fd)
{
	char s[32];
	ssize_t n = pread(fd, s, sizeof(s) - 1, 0);
	long pid;

	if (n <= 0)
		return 0;
	s[n] = '\0';
	pid = strtol(s, NULL, 10);
	return pid > 0 && pid <= INT_MAX ? (pid_t)pid : 0;
}

int pso_instance_lock(const char *pin_dir, struct pso_instance_lock *l, pid_t *owner,
		      char *err, size_t errlen)
{
	char pid[32];
	int ret, fd;

	l->fd = -1;
	*owner = 0;
	ret = pso_instance_file(pin_dir, "lock", l->path, sizeof(l->path));
	if (ret) {
		snprintf(err, errlen, "pin directory %s: %s", pin_dir, strerror(-ret));
		return ret;
	}
	if (mkdir(PSO_RUN_DIR, 0755) && errno != EEXIST) {
		ret = -errno;
		snprintf(err, errlen, "cannot create %s: %s", PSO_RUN_DIR, strerror(errno));
		return ret;
	}
	for (;;) {
		struct stat a, b;

		fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (fd < 0) {
			ret = -errno;
			snprintf(err, errlen, "cannot open %s: %s", l->path, strerror(errno));
			return ret;
		}
		if (flock(fd, LOCK_EX | LOCK_NB)) {
			ret = -errno;
			if (ret == -EWOULDBLOCK) {
				*owner = read_owner(fd);
				ret = -EBUSY;
			}
			close(fd);
			if (ret == -EBUSY && *owner)
				snprintf(err, errlen, "pin directory %s is in use by the broker with pid %d "
					 "(%s); use another --pin-dir", pin_dir, (int)*owner, l->path);
			else if (ret == -EBUSY)
				snprintf(err, errlen, "pin directory %s is in use by a broker that is "
					 "starting (%s); use another --pin-dir", pin_dir, l->path);
			else
				snprintf(err, errlen, "cannot lock %s: %s", l->path, strerror(-ret));
			return ret;
		}
		/* The owner before us removes the file as it stops: locked
		 * after that, ours is a file nobody else can find.  Again. */
		if (!fstat(fd, &a) && !stat(l->path, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			break;
		close(fd);
	}
	snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) || pwrite(fd, pid, strlen(pid), 0) != (ssize_t)strlen(pid)) {
		ret = -errno;
		snprintf(err, errlen, "cannot write %s: %s", l->path, strerror(errno));
		unlink(l->path);
		close(fd);
		return ret;
	}
	l->fd = fd;
	return 0;
}

void pso_instance_unlock(struct pso_instance_lock *l)
{
	if (l->fd < 0)
		return;
	/* Unlinked while still held: see the stat check above. */
	unlink(l->path);
	close(l->fd);
	l->fd = -1;
}
