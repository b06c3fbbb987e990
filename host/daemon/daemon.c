// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * daemon.c - the broker daemon: start (data plane, tables, interfaces,
 * socket), the event loop (datagrams, netlink, grace periods, timers,
 * signals) and stop.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include "daemon/statusfile.h"
#include "ctl/nexthop.h"
#include "daemon/daemon.h"
#include "proto/mqttsn.h"
#include "proto/topics.h"
#include "util/endpoint.h"
#include "util/log.h"

#define TICK_MS 500

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The address to answer a datagram from.  Its destination is ours when it
 * was sent to us alone; a broadcast or multicast destination is no source
 * the kernel accepts (GWINFO for a SEARCHGW to 10.77.1.255, 255.255.255.255
 * or ff02::1).  IPv4: the kernel's answer, IP_PKTINFO's ipi_spec_dst (the
 * address of the ingress interface that routes back to the sender).
 * IPv6 multicast: unspecified, so env_send() leaves the source to the
 * kernel on the ingress interface.
 */
static void reply_address(struct in6_pktinfo *local, const struct in_pktinfo *pi4)
{
	struct in6_addr *a = &local->ipi6_addr;

	if (IN6_IS_ADDR_V4MAPPED(a)) {
		if (pi4 && pi4->ipi_spec_dst.s_addr)
			memcpy(&a->s6_addr[12], &pi4->ipi_spec_dst, 4);
	} else if (IN6_IS_ADDR_MULTICAST(a)) {
		*a = in6addr_any;
	}
}

static int receive_one(struct pso_broker *b, uint8_t *buf, size_t cap)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(struct in_pktinfo)) +
			 CMSG_SPACE(sizeof(struct timespec)) + 2 * CMSG_SPACE(sizeof(int)) + 64];
		struct cmsghdr align;
	} ctl;
	struct in_pktinfo pi4;
	bool has_pi4 = false;
	struct sockaddr_in6 sa;
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr msg = {
		.msg_name = &sa, .msg_namelen = sizeof(sa),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct pso_rx rx = { 0 };
	bool reassembled = false;
	ssize_t n = recvmsg(b->sock, &msg, MSG_DONTWAIT);

	if (n < 0)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO)
			memcpy(&rx.local, CMSG_DATA(cm), sizeof(rx.local));
		if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
			memcpy(&pi4, CMSG_DATA(cm), sizeof(pi4));
			has_pi4 = true;
		}
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;

			memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
			rx.rx_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		}
		/* The kernel adds the fragment size only to a reassembled datagram. */
		if ((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVFRAGSIZE) ||
		    (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVFRAGSIZE))
			reassembled = true;
	}
	pso_endpoint_from_sa(&sa, &rx.ep);
	rx.judged = pso_broker_judged(b, &rx.local, reassembled);
	reply_address(&rx.local, has_pi4 ? &pi4 : NULL);
	pso_proto_input(b->proto, &rx, buf, (size_t)n, b->now_ms);
	return 0;
}

static void nh_changed(void *ctx)
{
	struct pso_broker *b = ctx;

	b->nh_changed = true;
}

static int open_socket(struct pso_broker *b, char *err, size_t errlen)
{
	struct sockaddr_in6 sa = {
		.sin6_family = AF_INET6, .sin6_port = htons(b->cfg.udp_port), .sin6_addr = in6addr_any,
	};
	int off = 0, on = 1, rcvbuf = 4 << 20;

	b->sock = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (b->sock < 0 ||
	    setsockopt(b->sock, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) ||
	    setsockopt(b->sock, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on)) ||
	    setsockopt(b->sock, IPPROTO_IPV6, IPV6_RECVFRAGSIZE, &on, sizeof(on)) ||
	    setsockopt(b->sock, IPPROTO_IP, IP_RECVFRAGSIZE, &on, sizeof(on)) ||
	    setsockopt(b->sock, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)) ||
	    setsockopt(b->sock, SOL_SOCKET, SO_BROADCAST, &on, sizeof(on)) ||
	    /* When the kernel received each datagram: whether the data
	     * plane could serve a slot that was enabled meanwhile. */
	    setsockopt(b->sock, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on))) {
		snprintf(err, errlen, "cannot open the broker socket: %s", strerror(errno));
		return -errno;
	}
	setsockopt(b->sock, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(b->sock, (struct sockaddr *)&sa, sizeof(sa))) {
		snprintf(err, errlen, "cannot bind UDP port %u: %s", b->cfg.udp_port, strerror(errno));
		return -errno;
	}
	return 0;
}

int pso_broker_start(struct pso_broker **out, const struct pso_broker_cfg *cfg,
		     char *err, size_t errlen)
{
	struct pso_broker *b = calloc(1, sizeof(*b));
	struct pso_proto_cfg pcfg = {
		.qosm1 = cfg->qosm1, .gw_id = cfg->gw_id, .advertise_s = cfg->advertise_s,
		.session_expiry_s = cfg->session_expiry_s,
		.retry_s = cfg->retry_s, .retries = cfg->retries,
		.ntrusted = cfg->ntrusted, .unvalidated_s = cfg->unvalidated_s,
	};
	struct pso_ctl_cfg ccfg = {
		.mode = cfg->mode, .profiles_dir = cfg->profiles_dir, .udp_port = cfg->udp_port,
		.placement_ms = cfg->placement_ms,
	};
	struct pso_dp_sizes sizes;
	sigset_t mask;
	int ret;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->cfg = *cfg;
	pcfg.trusted = b->cfg.trusted;	/* b outlives the protocol layer */
	b->sock = b->sigfd = -1;
	b->now_ms = now_ms();
	if (cfg->nifnames > PSO_MAX_PORTS) {
		snprintf(err, errlen, "too many interfaces (at most %d)", PSO_MAX_PORTS);
		ret = -E2BIG;
		goto fail;
	}
	ret = pso_ctl_table_sizes(&ccfg, cfg->ifnames, cfg->nifnames, &sizes, err, errlen);
	if (ret)
		goto fail;
	pcfg.max_topics = sizes.topics;
	pcfg.max_clients = sizes.clients;
	b->proto = pso_proto_new(&pcfg, &pso_broker_proto_ops, b);
	if (!b->proto) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto fail;
	}
	if (cfg->predefined_path) {
		ret = pso_registry_load_predefined(pso_proto_registry(b->proto), cfg->predefined_path,
						   err, errlen);
		if (ret)
			goto fail;
	}
	ret = pso_nh_open(&b->nh, nh_changed, b);
	if (ret) {
		snprintf(err, errlen, "cannot read routes and neighbours (netlink): %s", strerror(-ret));
		goto fail;
	}
	/* Its pins and status file are another live broker's: hands off. */
	if (cfg->pin_dir && pso_status_owner(cfg->pin_dir)) {
		snprintf(err, errlen, "pin directory %s is in use by the broker with pid %d; use --pin-dir",
			 cfg->pin_dir, pso_status_owner(cfg->pin_dir));
		ret = -EBUSY;
		goto fail;
	}
	ret = pso_dp_load(&b->dp, &sizes, cfg->pin_dir, err, errlen);
	if (ret)
		goto fail;
	ret = pso_tables_init(&b->tables, b->dp.topics_fd, b->dp.subs_fd, b->dp.clients_fd,
			      sizes.topics, PSO_MAX_SUBS, sizes.clients);
	if (!ret)
		ret = pso_tables_use_client_slots(&b->tables, b->dp.client_slots_fd);
	if (!ret)
		ret = pso_tables_use_short_names(&b->tables, b->dp.short_names_fd);
	/* From here on no table write waits for readers in the event loop. */
	if (!ret)
		ret = pso_tables_defer_start(&b->tables);
	if (ret) {
		snprintf(err, errlen, "cannot set up the tables: %s", strerror(-ret));
		goto fail;
	}
	b->dp.tables = &b->tables;
	pso_proto_topics_publish(b->proto);
	ret = pso_ctl_init(&b->ctl, &ccfg, &b->dp, &b->tables, b->nh, sizes.topics);
	if (ret) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (int i = 0; i < cfg->nifnames; i++) {
		ret = pso_ctl_add(&b->ctl, cfg->ifnames[i], err, errlen);
		if (ret)
			goto fail;
	}
	pso_ctl_redirect_targets(&b->ctl);
	ret = open_socket(b, err, errlen);
	if (ret)
		goto fail;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	b->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (b->sigfd < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		ret = -errno;
		goto fail;
	}
	if (cfg->pin_dir) {
		pso_status_path(cfg->pin_dir, b->status_path, sizeof(b->status_path));
		b->status_dirty = true;
		pso_status_write(b);
	}
	*out = b;
	return 0;
fail:
	pso_broker_stop(b);
	return ret ? ret : -EIO;
}

/* Periodic work, every TICK_MS. */
static void tick(struct pso_broker *b)
{
	pso_proto_tick(b->proto, b->now_ms);
	pso_ctl_tick(&b->ctl, b->now_ms);
	if (b->ctl.changed) {
		b->ctl.changed = false;
		b->status_dirty = true;
	}
	if (b->cfg.advertise_s && b->now_ms >= b->next_advertise_ms) {
		pso_proto_advertise(b->proto);
		b->next_advertise_ms = b->now_ms + b->cfg.advertise_s * 1000ull;
	}
}

int pso_broker_run(struct pso_broker *b)
{
	static uint8_t rxbuf[MQTTSN_MAX_MSG];
	uint64_t next_tick = now_ms() + TICK_MS;

	pso_info("serving MQTT-SN on UDP port %u", b->cfg.udp_port);
	if (b->cfg.advertise_s)
		b->next_advertise_ms = now_ms();
	for (;;) {
		enum { FD_SOCK, FD_NH, FD_SIG, FD_GRACE, NFDS };
		struct pollfd pfd[NFDS] = {
			[FD_SOCK] = { .fd = b->sock, .events = POLLIN },
			[FD_NH] = { .fd = pso_nh_fd(b->nh), .events = POLLIN },
			[FD_SIG] = { .fd = b->sigfd, .events = POLLIN },
			[FD_GRACE] = { .fd = pso_tables_grace_fd(&b->tables), .events = POLLIN },
		};
		int timeout;

		b->now_ms = now_ms();
		pso_status_refresh(b);
		timeout = next_tick > b->now_ms ? (int)(next_tick - b->now_ms) : 0;
		/* A change the rate limit held back is written soon. */
		if (b->status_dirty && timeout > PSO_STATUS_MIN_INTERVAL_MS)
			timeout = PSO_STATUS_MIN_INTERVAL_MS;
		if (poll(pfd, NFDS, timeout) < 0 && errno != EINTR) {
			pso_err("poll: %s", strerror(errno));
			return -errno;
		}
		b->now_ms = now_ms();
		if (pfd[FD_SIG].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(b->sigfd, &si, sizeof(si)) == sizeof(si))
				pso_info("signal %u: stopping", si.ssi_signo);
			return 0;
		}
		/* Table changes whose grace period has passed, before new ones. */
		if (pfd[FD_GRACE].revents & POLLIN)
			pso_tables_grace_done(&b->tables);
		if (pfd[FD_NH].revents & POLLIN)
			pso_nh_process(b->nh);
		if (pfd[FD_SOCK].revents & POLLIN) {
			/* Bounded batch, so timers and signals keep their turn. */
			for (int i = 0; i < 256; i++)
				if (receive_one(b, rxbuf, sizeof(rxbuf)) == -EAGAIN)
					break;
		}
		if (b->nh_changed) {
			b->nh_changed = false;
			pso_ctl_links_changed(&b->ctl);
			pso_proto_resolve_all(b->proto);
		}
		if (b->ctl.changed) {
			b->ctl.changed = false;
			b->status_dirty = true;
		}
		if (b->now_ms >= next_tick) {
			next_tick = b->now_ms + TICK_MS;
			tick(b);
		}
	}
}

void pso_broker_stop(struct pso_broker *b)
{
	if (!b)
		return;
	if (b->status_path[0])
		unlink(b->status_path);
	if (b->sock >= 0)
		close(b->sock);
	if (b->sigfd >= 0)
		close(b->sigfd);
	/* Ports leave the tables, pending table changes finish while the
	 * maps are still there, then the programs and maps go. */
	pso_dp_detach_all(&b->dp);
	b->dp.tables = NULL;
	pso_tables_free(&b->tables);
	pso_dp_close(&b->dp);
	pso_ctl_free(&b->ctl);
	if (b->nh)
		pso_nh_close(b->nh);
	pso_proto_free(b->proto);
	free(b);
}
