// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * endpoint.c - endpoints to and from socket addresses (see endpoint.h).
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include "util/endpoint.h"

void pso_endpoint_from_sa(const struct sockaddr_in6 *sa, struct pso_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (IN6_IS_ADDR_V4MAPPED(&sa->sin6_addr)) {
		ep->family = PSO_AF_INET;
		memcpy(ep->addr, &sa->sin6_addr.s6_addr[12], 4);
	} else {
		ep->family = PSO_AF_INET6;
		memcpy(ep->addr, &sa->sin6_addr, 16);
	}
	ep->port = sa->sin6_port;
}

void pso_endpoint_to_sa(const struct pso_endpoint *ep, struct sockaddr_in6 *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin6_family = AF_INET6;
	sa->sin6_port = ep->port;
	if (ep->family == PSO_AF_INET) {
		sa->sin6_addr.s6_addr[10] = 0xff;
		sa->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&sa->sin6_addr.s6_addr[12], ep->addr, 4);
	} else {
		memcpy(&sa->sin6_addr, ep->addr, 16);
	}
}

const char *pso_endpoint_str(const struct pso_endpoint *ep, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (ep->family == PSO_AF_INET) {
		inet_ntop(AF_INET, ep->addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(ep->port));
	} else {
		inet_ntop(AF_INET6, ep->addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(ep->port));
	}
	return buf;
}

int pso_endpoint_is_linklocal(const struct pso_endpoint *ep)
{
	return ep->family == PSO_AF_INET6 && ep->addr[0] == 0xfe && (ep->addr[1] & 0xc0) == 0x80;
}
