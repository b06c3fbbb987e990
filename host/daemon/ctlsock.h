/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ctlsock.h - the broker's control socket: both sides of its protocol.
 *
 * Each broker serves a Unix stream socket /run/psoffload/NAME.sock (mode
 * 0600), NAME being its --name.  A filesystem socket is reached from any
 * network namespace, and /run is not remounted by `ip netns exec`, so the
 * commands (status, stats, clients, ...) find the broker wherever they run.
 *
 * The protocol: the client sends one request, a JSON object on one line,
 *     {"request": "clients", "state": "asleep"}\n
 * and reads one reply, a JSON object on one line:
 *     {"ok": true, ...the request's fields...}\n
 *     {"ok": false, "error": "one line"}\n
 * More requests may follow on the same connection.  A request is at most
 * PSO_CTL_REQUEST_MAX bytes; a longer one is answered with an error and
 * the connection closed.
 *
 * The server runs in the daemon's event loop and never blocks it: every
 * socket is non-blocking, a connection's input is bounded, the next
 * request is not read before the reply to the last one is written, and a
 * connection that makes no progress for PSO_CTL_IDLE_MS is closed.  At
 * most PSO_CTL_MAX_CONNS connections are served at once; one more is
 * answered "busy" and closed.
 *
 * The requests are rows of a table (struct pso_ctl_request): the broker's
 * are pso_ctl_requests[] in ctlreq.c; adding one is adding a row there.
 */
#ifndef PSO_CTLSOCK_H
#define PSO_CTLSOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;
struct pollfd;

#define PSO_CTL_DIR		"/run/psoffload"
#define PSO_CTL_NAME_MAX	48
#define PSO_CTL_REQUEST_MAX	4096
#define PSO_CTL_MAX_CONNS	16
#define PSO_CTL_IDLE_MS		5000
/* A reply larger than this is refused with an error instead. */
#define PSO_CTL_REPLY_MAX	(64u << 20)

/* Reply keys. */
#define PSO_CTL_REQUEST	"request"
#define PSO_CTL_OK	"ok"
#define PSO_CTL_ERROR	"error"

/*
 * One request: fn reads its arguments from req (the request object) and
 * adds its fields to reply, or returns a negative errno with one line in
 * err.  ctx is the server's (the broker).
 */
struct pso_ctl_request {
	const char *name;		/* NULL ends a table */
	int (*fn)(void *ctx, struct json_object *req, struct json_object *reply,
		  char *err, size_t errlen);
	const char *help;		/* its arguments, for the error that lists them */
};

/* The broker's requests (ctlreq.c); ctx is its struct pso_broker. */
extern const struct pso_ctl_request pso_ctl_requests[];

/* A broker name: letters, digits, '.', '_', '-', not starting with '.',
 * at most PSO_CTL_NAME_MAX bytes. */
bool pso_ctl_name_valid(const char *name);
/* The name a pin directory gives: the last component of its canonical
 * path ("psoffload"; "/sys/fs/bpf/psoffload/." too). */
void pso_ctl_name_from_pin_dir(const char *pin_dir, char *buf, size_t len);
/* /run/psoffload/NAME.sock */
void pso_ctl_path(const char *name, char *buf, size_t len);

/* ---- server ---------------------------------------------------------- */

struct pso_ctlsock;

/*
 * Listen on path (its directory is created).  A socket there that answers
 * is another broker's: -EADDRINUSE and err says so.  A socket file nobody
 * listens on is stale: it is replaced (*replaced set when given).
 */
int pso_ctlsock_open(struct pso_ctlsock **cs, const char *path, const struct pso_ctl_request *table,
		     void *ctx, bool *replaced, char *err, size_t errlen);
/* Closes every connection and removes the socket file. */
void pso_ctlsock_close(struct pso_ctlsock *cs);
/* The listening socket and every connection, for poll(): fills at most
 * max entries (1 + PSO_CTL_MAX_CONNS is always enough), returns how many. */
int pso_ctlsock_pollfds(const struct pso_ctlsock *cs, struct pollfd *pfd, int max);
/* After poll(): the entries pso_ctlsock_pollfds() filled; accepts, reads,
 * answers, writes; closes connections idle past PSO_CTL_IDLE_MS. */
void pso_ctlsock_process(struct pso_ctlsock *cs, const struct pollfd *pfd, int n, uint64_t now_ms);
/* Connections open now. */
int pso_ctlsock_nconns(const struct pso_ctlsock *cs);

/*
 * One request line (without its newline) to its reply line (with it):
 * malloc'd, never NULL unless out of memory.  What the server does with
 * each request; for tests.
 */
char *pso_ctl_dispatch(const struct pso_ctl_request *table, void *ctx, const char *line, size_t len,
		       size_t *reply_len);

/* ---- client ---------------------------------------------------------- */

/*
 * Send req to the broker listening on path and wait for its reply (at most
 * timeout_ms).  0 and *reply (the caller puts it) when the broker answered
 * ok; otherwise a negative errno and one line in err: no broker there
 * (-ENOENT, -ECONNREFUSED), the broker's error (-EINVAL), a timeout.
 */
int pso_ctl_call(const char *path, struct json_object *req, struct json_object **reply,
		 int timeout_ms, char *err, size_t errlen);

#endif /* PSO_CTLSOCK_H */
