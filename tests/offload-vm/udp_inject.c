// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * udp_inject - send UDP datagrams from an address that is not this host's.
 *
 *   udp_inject FROM_ADDR FROM_PORT TO_ADDR TO_PORT HEX...
 *
 * Each HEX argument (e.g. "0804..." or "08 04 ...") is one datagram, sent
 * in order from FROM_ADDR:FROM_PORT.  IPv4 or IPv6.
 *
 * Why: netdevsim passes no packets, so inside the offload VM a client
 * "behind" the netdevsim port can only be simulated.  The socket is
 * IP_TRANSPARENT, so it may bind and send from an address routed out of
 * that port; a datagram to the broker's own address still loops back to the
 * broker's socket, which then sees a client whose route and neighbour are
 * on the netdevsim port.  Its answers leave through netdevsim and are lost,
 * which is why this tool only sends.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif

static int parse_addr(const char *addr, const char *port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char *end;
	long p = strtol(port, &end, 10);

	if (*end || p < 1 || p > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(p);
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(p);
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "0a 1b2c" -> bytes; -1 on an odd digit count or a stray character. */
static int parse_hex(const char *s, unsigned char *buf, size_t cap)
{
	size_t n = 0;
	int hi = -1;

	for (; *s; s++) {
		int v = hexval(*s);

		if (*s == ' ' || *s == ':')
			continue;
		if (v < 0 || n >= cap)
			return -1;
		if (hi < 0) {
			hi = v;
		} else {
			buf[n++] = hi << 4 | v;
			hi = -1;
		}
	}
	return hi < 0 ? (int)n : -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage from, to;
	socklen_t from_len, to_len;
	unsigned char buf[1500];
	int fd, on = 1;

	if (argc < 6) {
		fprintf(stderr, "usage: udp_inject FROM_ADDR FROM_PORT TO_ADDR TO_PORT HEX...\n");
		return 2;
	}
	if (parse_addr(argv[1], argv[2], &from, &from_len) ||
	    parse_addr(argv[3], argv[4], &to, &to_len) || from.ss_family != to.ss_family) {
		fprintf(stderr, "udp_inject: bad addresses (both IPv4 or both IPv6, ports 1..65535)\n");
		return 2;
	}
	fd = socket(from.ss_family, SOCK_DGRAM, 0);
	if (fd < 0 ||
	    (from.ss_family == AF_INET ? setsockopt(fd, SOL_IP, IP_TRANSPARENT, &on, sizeof(on))
				       : setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &on, sizeof(on))) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) ||
	    bind(fd, (struct sockaddr *)&from, from_len)) {
		fprintf(stderr, "udp_inject: cannot bind %s:%s: %s\n", argv[1], argv[2], strerror(errno));
		return 1;
	}
	for (int i = 5; i < argc; i++) {
		struct timespec gap = { 0, 20 * 1000 * 1000 };
		int n = parse_hex(argv[i], buf, sizeof(buf));

		if (n <= 0) {
			fprintf(stderr, "udp_inject: bad hex datagram '%s'\n", argv[i]);
			return 2;
		}
		if (sendto(fd, buf, n, 0, (struct sockaddr *)&to, to_len) != n) {
			fprintf(stderr, "udp_inject: sendto %s:%s: %s\n", argv[3], argv[4], strerror(errno));
			return 1;
		}
		/* In order, and each one handled before the next arrives. */
		nanosleep(&gap, NULL);
	}
	close(fd);
	return 0;
}
