/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * endpoint.h - a client's UDP endpoint (struct pso_endpoint, the key of the
 * data plane's client table) to and from socket addresses, and for logs.
 * The broker socket is IPv6 with IPv4-mapped addresses for IPv4 clients.
 */
#ifndef PSO_ENDPOINT_H
#define PSO_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include "psoffload_abi.h"

void pso_endpoint_from_sa(const struct sockaddr_in6 *sa, struct pso_endpoint *ep);
void pso_endpoint_to_sa(const struct pso_endpoint *ep, struct sockaddr_in6 *sa);
/* "10.0.0.1:1883" or "[fd00::1]:1883"; returns buf. */
const char *pso_endpoint_str(const struct pso_endpoint *ep, char *buf, size_t len);
/* IPv6 link-local (fe80::/10): meaningful only with its interface. */
int pso_endpoint_is_linklocal(const struct pso_endpoint *ep);

/* A network: family PSO_AF_INET or PSO_AF_INET6, its first plen bits. */
struct pso_cidr {
	uint8_t family;
	uint8_t plen;
	uint8_t addr[16];	/* IPv4 in the first 4 bytes, as in an endpoint */
};

/* "10.0.0.0/8", "fd00::/8", or an address alone (a /32 or /128); the bits
 * past the prefix must be zero.  0, or -EINVAL. */
int pso_cidr_parse(const char *s, struct pso_cidr *out);
/* "CIDR,CIDR,...": at most max networks into out, *n of them; -EINVAL. */
int pso_cidr_parse_list(const char *list, struct pso_cidr *out, int max, int *n);
/* ep's address is inside one of the n networks. */
bool pso_cidr_contains(const struct pso_cidr *nets, int n, const struct pso_endpoint *ep);
/* Loopback: 127.0.0.0/8 and ::1. */
bool pso_endpoint_is_loopback(const struct pso_endpoint *ep);

#endif /* PSO_ENDPOINT_H */
