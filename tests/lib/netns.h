/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * netns.h - network-namespace labs for end-to-end tests.
 *
 * A test builds its own namespaces and veth pairs, works inside them by
 * entering them with setns() (sockets and netlink handles keep the namespace
 * they were created in), and removes them again.  Every namespace made with
 * netns_add() is remembered and removed by netns_cleanup_all(), which is also
 * registered with atexit(), so a failing or aborted test leaves nothing
 * behind; only namespaces this process created are ever removed.
 *
 * Functions return 0 or a negative errno; the text of the last failure
 * (a command's stderr, or what failed) is in netns_error().
 */
#ifndef PSO_TESTS_NETNS_H
#define PSO_TESTS_NETNS_H

#include <stdbool.h>
#include <stdint.h>

#define NETNS_NAME_MAX 64

/* What went wrong last, for the caller's one line of context. */
const char *netns_error(void);

/* Run argv (argv[0] looked up in PATH) inside namespace ns (NULL: the
 * current one); stdout is discarded, stderr kept for netns_error().
 * Returns 0 when it exits with status 0. */
int netns_exec(const char *ns, const char *const argv[]);

/* Create / remove a named namespace (/run/netns/NAME, as `ip netns`). */
int netns_add(const char *ns);
int netns_del(const char *ns);
/* Remove every namespace netns_add() created and that still exists. */
void netns_cleanup_all(void);

/* A veth pair: if_a in ns_a, its peer if_b in ns_b; both set up with
 * tx and rx checksum offload off, so that a receiving kernel verifies
 * checksums instead of trusting the sender (veth otherwise passes
 * CHECKSUM_PARTIAL / marks CHECKSUM_UNNECESSARY), and brought up. */
int netns_veth_add(const char *ns_a, const char *if_a, const char *ns_b, const char *if_b);

/* Add an address in CIDR form; IPv6 addresses are added with nodad so they
 * are usable at once. */
int netns_addr_add(const char *ns, const char *ifname, const char *cidr);

/* Enter namespace ns; *saved receives a handle on the namespace left, for
 * netns_leave().  Only the calling thread moves. */
int netns_enter(const char *ns, int *saved);
int netns_leave(int saved);

/* socket(2) created inside ns. Returns the fd or a negative errno. */
int netns_socket(const char *ns, int domain, int type, int protocol);

/* Interface index and MAC of ifname inside ns (mac may be NULL). */
int netns_ifinfo(const char *ns, const char *ifname, int *ifindex, uint8_t mac[6]);

/* A counter of /proc/net/snmp ("Udp", "InCsumErrors") or, when group is
 * NULL, of /proc/net/snmp6 ("Udp6InCsumErrors"), as seen inside ns. */
int netns_snmp(const char *ns, const char *group, const char *field, uint64_t *val);

/* Milliseconds on CLOCK_MONOTONIC. */
uint64_t netns_now_ms(void);

/* Wait until cond(arg) holds, checking about every millisecond, for at most
 * timeout_ms. Returns 0 once it holds, -ETIMEDOUT otherwise. */
int netns_wait(bool (*cond)(void *arg), void *arg, int timeout_ms);

/* Receive one datagram on fd before the deadline (poll); returns its length,
 * -ETIMEDOUT, or a negative errno.  from/fromlen as for recvfrom(2). */
int netns_recv_deadline(int fd, void *buf, int len, void *from, unsigned int *fromlen,
			uint64_t deadline_ms);

#endif /* PSO_TESTS_NETNS_H */
