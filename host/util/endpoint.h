/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * endpoint.h - a client's UDP endpoint (struct pso_endpoint, the key of the
 * data plane's client table) to and from socket addresses, and for logs.
 * The broker socket is IPv6 with IPv4-mapped addresses for IPv4 clients.
 */
#ifndef PSO_ENDPOINT_H
#define PSO_ENDPOINT_H

#include <stddef.h>
#include <netinet/in.h>
#include "psoffload_abi.h"

void pso_endpoint_from_sa(const struct sockaddr_in6 *sa, struct pso_endpoint *ep);
void pso_endpoint_to_sa(const struct pso_endpoint *ep, struct sockaddr_in6 *sa);
/* "10.0.0.1:1883" or "[fd00::1]:1883"; returns buf. */
const char *pso_endpoint_str(const struct pso_endpoint *ep, char *buf, size_t len);
/* IPv6 link-local (fe80::/10): meaningful only with its interface. */
int pso_endpoint_is_linklocal(const struct pso_endpoint *ep);

#endif /* PSO_ENDPOINT_H */
