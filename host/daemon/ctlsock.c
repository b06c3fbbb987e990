// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ctlsock.c - the control socket (protocol: ctlsock.h): the server the
 * event loop runs, the dispatch of one request line through a table, and
 * the client the commands use.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <json-c/json.h>
#include "daemon/ctlsock.h"
#include "util/instance.h"
#include "util/log.h"

bool pso_ctl_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > PSO_CTL_NAME_MAX || name[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

void pso_ctl_name_from_pin_dir(const char *pin_dir, char *buf, size_t len)
{
	char canon[PATH_MAX];
	const char *end, *start;

	/* "x/." and "a/../x" are x too (util/instance.h). */
	if (!pso_instance_canonical(pin_dir, canon, sizeof(canon)))
		pin_dir = canon;
	end = pin_dir + strlen(pin_dir);

	while (end > pin_dir && end[-1] == '/')
		end--;
	start = end;
	while (start > pin_dir && start[-1] != '/')
		start--;
	snprintf(buf, len, "%.*s", (int)(end - start), start);
}

void pso_ctl_path(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.sock", PSO_CTL_DIR, name);
}

static int sun_of(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memcpy(sun->sun_path, path, strlen(path));
	return 0;
}

/* ---- dispatch -------------------------------------------------------------- */

static char *line_of(struct json_object *o, size_t *len)
{
	size_t n;
	const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &n);
	char *line = malloc(n + 2);

	if (!line)
		return NULL;
	memcpy(line, s, n);
	line[n] = '\n';
	line[n + 1] = '\0';
	*len = n + 1;
	return line;
}

static char *error_line(const char *msg, size_t *len)
{
	struct json_object *o = json_object_new_object();
	char *line;

	json_object_object_add(o, PSO_CTL_OK, json_object_new_boolean(0));
	json_object_object_add(o, PSO_CTL_ERROR, json_object_new_string(msg));
	line = line_of(o, len);
	json_object_put(o);
	return line;
}

static void list_requests(const struct pso_ctl_request *table, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (const struct pso_ctl_request *r = table; r->name && off < len; r++)
		off += snprintf(buf + off, len - off, "%s%s", r == table ? "" : ", ", r->name);
}

char *pso_ctl_dispatch(const struct pso_ctl_request *table, void *ctx, const char *line, size_t len,
		       size_t *reply_len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *req = NULL, *name, *reply;
	const struct pso_ctl_request *r;
	char err[512], known[256];
	char *out;
	int ret;

	if (!tok)
		return NULL;
	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	req = len ? json_tokener_parse_ex(tok, line, (int)len) : NULL;
	if (!req || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(req, json_type_object)) {
		json_tokener_free(tok);
		json_object_put(req);
		return error_line("a request is one JSON object per line: {\"request\": NAME, ...}",
				  reply_len);
	}
	json_tokener_free(tok);
	if (!json_object_object_get_ex(req, PSO_CTL_REQUEST, &name) ||
	    !json_object_is_type(name, json_type_string)) {
		json_object_put(req);
		return error_line("the request has no \"request\" name", reply_len);
	}
	for (r = table; r->name; r++)
		if (!strcmp(r->name, json_object_get_string(name)))
			break;
	if (!r->name) {
		list_requests(table, known, sizeof(known));
		snprintf(err, sizeof(err), "unknown request '%.64s' (known: %s)",
			 json_object_get_string(name), known);
		json_object_put(req);
		return error_line(err, reply_len);
	}
	reply = json_object_new_object();
	json_object_object_add(reply, PSO_CTL_OK, json_object_new_boolean(1));
	err[0] = '\0';
	ret = r->fn(ctx, req, reply, err, sizeof(err));
	json_object_put(req);
	if (ret) {
		json_object_put(reply);
		if (!err[0])
			snprintf(err, sizeof(err), "%s: %s", r->name, strerror(-ret));
		return error_line(err, reply_len);
	}
	out = line_of(reply, reply_len);
	json_object_put(reply);
	if (out && *reply_len > PSO_CTL_REPLY_MAX) {
		free(out);
		snprintf(err, sizeof(err), "%s: the reply is larger than %u bytes", r->name,
			 PSO_CTL_REPLY_MAX);
		return error_line(err, reply_len);
	}
	return out;
}

/* ---- server ------------------------------------------------------------------ */

struct conn {
	int fd;				/* -1: free */
	char in[PSO_CTL_REQUEST_MAX + 1];
	size_t inlen;
	char *out;			/* the reply being written */
	size_t outlen, outoff;
	bool close_after;
	uint64_t last_ms;		/* last progress */
};

struct pso_ctlsock {
	int lfd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const struct pso_ctl_request *table;
	void *ctx;
	struct conn conns[PSO_CTL_MAX_CONNS];
};

/* Does a broker answer on path?  1 yes, 0 no socket file, -ECONNREFUSED
 * a stale one, another negative errno otherwise. */
static int probe(const char *path)
{
	struct sockaddr_un sun;
	int fd, ret;

	if (sun_of(path, &sun))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) ? -errno : 1;
	close(fd);
	return ret == -ENOENT ? 0 : ret;
}

int pso_ctlsock_open(struct pso_ctlsock **out, const char *path, const struct pso_ctl_request *table,
		     void *ctx, bool *replaced, char *err, size_t errlen)
{
	struct pso_ctlsock *cs;
	struct sockaddr_un sun;
	char dir[sizeof(cs->path)];
	char *slash;
	mode_t old;
	int ret;

	if (replaced)
		*replaced = false;
	if (sun_of(path, &sun)) {
		snprintf(err, errlen, "control socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST) {
			ret = -errno;
			snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
			return ret;
		}
	}
	ret = probe(path);
	if (ret == 1) {
		snprintf(err, errlen, "another broker answers on %s; give this one another --name", path);
		return -EADDRINUSE;
	}
	if (ret == -ECONNREFUSED) {
		/* A socket file left by a broker that died. */
		if (unlink(path) && errno != ENOENT) {
			ret = -errno;
			snprintf(err, errlen, "cannot remove the stale socket %s: %s", path, strerror(errno));
			return ret;
		}
		if (replaced)
			*replaced = true;
	} else if (ret < 0 && ret != -ENOTSOCK) {
		snprintf(err, errlen, "cannot probe %s: %s", path, strerror(-ret));
		return ret;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < PSO_CTL_MAX_CONNS; i++)
		cs->conns[i].fd = -1;
	snprintf(cs->path, sizeof(cs->path), "%s", path);
	cs->table = table;
	cs->ctx = ctx;
	cs->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cs->lfd < 0) {
		ret = -errno;
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		free(cs);
		return ret;
	}
	/* Root's alone from the start: the mode is the umask's at bind(). */
	old = umask(0177);
	ret = bind(cs->lfd, (struct sockaddr *)&sun, sizeof(sun)) ? -errno : 0;
	umask(old);
	if (!ret && listen(cs->lfd, PSO_CTL_MAX_CONNS))
		ret = -errno;
	if (ret) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(-ret));
		close(cs->lfd);
		free(cs);
		return ret;
	}
	*out = cs;
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->inlen = c->outlen = c->outoff = 0;
	c->close_after = false;
}

void pso_ctlsock_close(struct pso_ctlsock *cs)
{
	if (!cs)
		return;
	for (int i = 0; i < PSO_CTL_MAX_CONNS; i++)
		conn_close(&cs->conns[i]);
	close(cs->lfd);
	unlink(cs->path);
	free(cs);
}

int pso_ctlsock_nconns(const struct pso_ctlsock *cs)
{
	int n = 0;

	for (int i = 0; i < PSO_CTL_MAX_CONNS; i++)
		n += cs->conns[i].fd >= 0;
	return n;
}

int pso_ctlsock_pollfds(const struct pso_ctlsock *cs, struct pollfd *pfd, int max)
{
	int n = 0;

	if (max < 1)
		return 0;
	pfd[n++] = (struct pollfd){ .fd = cs->lfd, .events = POLLIN };
	for (int i = 0; i < PSO_CTL_MAX_CONNS && n < max; i++) {
		const struct conn *c = &cs->conns[i];

		if (c->fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = c->out ? POLLOUT : POLLIN };
	}
	return n;
}

/* A whole request waiting in c->in: answer it. */
static void conn_answer(struct pso_ctlsock *cs, struct conn *c)
{
	char *nl;
	size_t line;

	if (c->out)
		return;
	nl = memchr(c->in, '\n', c->inlen);
	if (!nl) {
		if (c->inlen > PSO_CTL_REQUEST_MAX) {
			char msg[96];

			snprintf(msg, sizeof(msg), "a request is at most %d bytes", PSO_CTL_REQUEST_MAX);
			c->out = error_line(msg, &c->outlen);
			c->close_after = true;
			c->inlen = 0;
		}
		return;
	}
	line = (size_t)(nl - c->in);
	c->out = pso_ctl_dispatch(cs->table, cs->ctx, c->in, line, &c->outlen);
	c->outoff = 0;
	if (!c->out)
		c->close_after = true;
	/* What the client sent after the request waits for the reply. */
	memmove(c->in, nl + 1, c->inlen - line - 1);
	c->inlen -= line + 1;
}

/* 0 to keep the connection, -1 to close it. */
static int conn_read(struct pso_ctlsock *cs, struct conn *c)
{
	while (!c->out && c->inlen < sizeof(c->in)) {
		ssize_t n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, MSG_DONTWAIT);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		if (n == 0)
			return -1;
		c->inlen += (size_t)n;
		conn_answer(cs, c);
	}
	return 0;
}

static int conn_write(struct pso_ctlsock *cs, struct conn *c)
{
	while (c->out) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		c->outoff += (size_t)n;
		if (c->outoff < c->outlen)
			continue;
		free(c->out);
		c->out = NULL;
		if (c->close_after)
			return -1;
		/* A request sent behind the last one. */
		conn_answer(cs, c);
	}
	return 0;
}

static void accept_all(struct pso_ctlsock *cs, uint64_t now_ms)
{
	for (;;) {
		int fd = accept4(cs->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), i;

		if (fd < 0)
			return;
		for (i = 0; i < PSO_CTL_MAX_CONNS && cs->conns[i].fd >= 0; i++)
			;
		if (i == PSO_CTL_MAX_CONNS) {
			static const char busy[] = "{\"ok\":false,\"error\":\"busy: too many control connections\"}\n";

			if (send(fd, busy, sizeof(busy) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				pso_debug("control socket: busy, and the refusal not sent");
			close(fd);
			continue;
		}
		cs->conns[i].fd = fd;
		cs->conns[i].last_ms = now_ms;
	}
}

void pso_ctlsock_process(struct pso_ctlsock *cs, const struct pollfd *pfd, int n, uint64_t now_ms)
{
	for (int k = 1; k < n; k++) {
		struct conn *c = NULL;
		size_t before_in, before_out;
		int ret = 0;

		if (!pfd[k].revents)
			continue;
		for (int i = 0; i < PSO_CTL_MAX_CONNS; i++)
			if (cs->conns[i].fd == pfd[k].fd)
				c = &cs->conns[i];
		if (!c)
			continue;
		before_in = c->inlen;
		before_out = c->outoff;
		if (pfd[k].revents & POLLNVAL)
			ret = -1;
		if (!ret && c->out && (pfd[k].revents & (POLLOUT | POLLERR | POLLHUP)))
			ret = conn_write(cs, c);
		else if (!ret && !c->out && (pfd[k].revents & (POLLIN | POLLERR | POLLHUP)))
			ret = conn_read(cs, c);
		/* A reply that fits the socket buffer goes out at once. */
		if (!ret && c->out)
			ret = conn_write(cs, c);
		if (ret) {
			conn_close(c);
			continue;
		}
		if (c->inlen != before_in || c->outoff != before_out)
			c->last_ms = now_ms;
	}
	if (n > 0 && (pfd[0].revents & POLLIN))
		accept_all(cs, now_ms);
	/* Nobody holds a connection (and its buffers) by doing nothing. */
	for (int i = 0; i < PSO_CTL_MAX_CONNS; i++) {
		struct conn *c = &cs->conns[i];

		if (c->fd >= 0 && now_ms - c->last_ms > PSO_CTL_IDLE_MS) {
			pso_debug("control socket: a connection idle for %d ms closed", PSO_CTL_IDLE_MS);
			conn_close(c);
		}
	}
}

/* ---- client ------------------------------------------------------------------ */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait for fd until the deadline: 0, or -ETIMEDOUT. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		uint64_t now = mono_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int r;

		if (now >= deadline)
			return -ETIMEDOUT;
		r = poll(&p, 1, (int)(deadline - now));
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int pso_ctl_call(const char *path, struct json_object *req, struct json_object **reply,
		 int timeout_ms, char *err, size_t errlen)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	struct sockaddr_un sun;
	struct json_object *r = NULL, *ok, *msg;
	size_t len, off = 0, cap = 0, got = 0;
	char *line = NULL, *buf = NULL;
	int fd = -1, ret;

	*reply = NULL;
	if (sun_of(path, &sun)) {
		snprintf(err, errlen, "control socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun))) {
		ret = -errno;
		if (ret == -ENOENT || ret == -ECONNREFUSED)
			snprintf(err, errlen, "no broker is listening on %s", path);
		else
			snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(-ret));
		goto out;
	}
	line = line_of(req, &len);
	if (!line) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while (off < len) {
		ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);

		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		ret = errno == EAGAIN ? wait_fd(fd, POLLOUT, deadline) : -errno;
		if (ret)
			goto io_error;
	}
	for (;;) {
		ssize_t n;

		if (got == cap) {
			char *nb;

			cap = cap ? cap * 2 : 16384;
			nb = cap <= PSO_CTL_REPLY_MAX + 1 ? realloc(buf, cap + 1) : NULL;
			if (!nb) {
				ret = -EMSGSIZE;
				goto io_error;
			}
			buf = nb;
		}
		n = recv(fd, buf + got, cap - got, 0);
		if (n > 0) {
			got += (size_t)n;
			if (memchr(buf + got - n, '\n', (size_t)n))
				break;
			continue;
		}
		if (n == 0) {
			ret = -ECONNRESET;
			goto io_error;
		}
		ret = errno == EAGAIN ? wait_fd(fd, POLLIN, deadline) : -errno;
		if (ret)
			goto io_error;
	}
	buf[got] = '\0';
	r = json_tokener_parse(buf);
	if (!r || !json_object_object_get_ex(r, PSO_CTL_OK, &ok)) {
		ret = -EPROTO;
		snprintf(err, errlen, "the broker on %s sent no reply this client understands", path);
		goto out;
	}
	if (!json_object_get_boolean(ok)) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s", json_object_object_get_ex(r, PSO_CTL_ERROR, &msg) ?
			 json_object_get_string(msg) : "the broker refused the request");
		goto out;
	}
	json_object_object_del(r, PSO_CTL_OK);
	*reply = r;
	r = NULL;
	ret = 0;
	goto out;
io_error:
	snprintf(err, errlen, "the broker on %s did not answer: %s", path,
		 ret == -ETIMEDOUT ? "timed out" : strerror(-ret));
out:
	json_object_put(r);
	free(line);
	free(buf);
	if (fd >= 0)
		close(fd);
	return ret;
}
