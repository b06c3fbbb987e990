// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * endpoint.c - endpoints to and from socket addresses (see endpoint.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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

int pso_cidr_parse(const char *s, struct pso_cidr *out)
{
	char a[INET6_ADDRSTRLEN + 8], *slash, *end;
	int max;
	long plen;

	if (strlen(s) >= sizeof(a))
		return -EINVAL;
	snprintf(a, sizeof(a), "%s", s);
	slash = strchr(a, '/');
	if (slash)
		*slash++ = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, a, out->addr) == 1) {
		out->family = PSO_AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, a, out->addr) == 1) {
		out->family = PSO_AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	plen = max;
	if (slash) {
		errno = 0;
		plen = strtol(slash, &end, 10);
		if (!*slash || *end || errno || plen < 0 || plen > max)
			return -EINVAL;
	}
	out->plen = (uint8_t)plen;
	/* "10.1.2.3/8" is a typo more often than a network: refuse it. */
	for (int bit = (int)plen; bit < max; bit++)
		if (out->addr[bit / 8] & (0x80 >> (bit % 8)))
			return -EINVAL;
	return 0;
}

int pso_cidr_parse_list(const char *list, struct pso_cidr *out, int max, int *n)
{
	char buf[2048], *save = NULL;

	*n = 0;
	if (strlen(list) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", list);
	for (char *net = strtok_r(buf, ",", &save); net; net = strtok_r(NULL, ",", &save)) {
		if (*n == max || pso_cidr_parse(net, &out[*n]))
			return -EINVAL;
		(*n)++;
	}
	return *n ? 0 : -EINVAL;
}

static bool cidr_has(const struct pso_cidr *c, const struct pso_endpoint *ep)
{
	int full = c->plen / 8, rest = c->plen % 8;

	if (c->family != ep->family || memcmp(c->addr, ep->addr, full))
		return false;
	return !rest || !((c->addr[full] ^ ep->addr[full]) & (uint8_t)(0xff00 >> rest));
}

bool pso_cidr_contains(const struct pso_cidr *nets, int n, const struct pso_endpoint *ep)
{
	for (int i = 0; i < n; i++)
		if (cidr_has(&nets[i], ep))
			return true;
	return false;
}

bool pso_endpoint_is_loopback(const struct pso_endpoint *ep)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };

	if (ep->family == PSO_AF_INET)
		return ep->addr[0] == 127;
	return !memcmp(ep->addr, v6_loopback, 16);
}
