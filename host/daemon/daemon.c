// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * daemon.c - the broker daemon: start (control socket, bpffs, data plane,
 * tables, interfaces, socket, metrics), the event loop (datagrams,
 * netlink, grace periods, timers, signals, control connections, metrics
 * scrapes) and stop.
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
#include <netinet/icmp6.h>
#include <netinet/ip_icmp.h>
#include <linux/errqueue.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include "daemon/adopted.h"
#include "daemon/ctlsock.h"
#include "daemon/metrics.h"
#include "daemon/snapshot.h"
#include "daemon/statusfile.h"
#include "ctl/nexthop.h"
#include "daemon/daemon.h"
#include "daemon/events.h"
#include "proto/mqttsn.h"
#include "proto/topics.h"
#include "store/store.h"
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
	if (pso_broker_placeholder_input(b, &rx, buf, (size_t)n))
		return 0;
	/* A group's standby answers nothing: its clients are the leader's. */
	if (!pso_broker_serving(b)) {
		b->ha_dropped++;
		return 0;
	}
	pso_proto_input(b->proto, &rx, buf, (size_t)n, b->now_ms);
	return 0;
}

/*
 * What an ICMP error on the broker socket's error queue says, when it says
 * that nothing receives at its datagram's destination any more: port
 * unreachable (no socket there) or host unreachable (no such host on the
 * path), in ICMP or ICMPv6 (where "address unreachable" is the host's).
 * NULL for every other error: a network unreachable or a too-big says
 * nothing about the endpoint, and SO_EE_ORIGIN_LOCAL errors are this
 * host's own.
 */
static const char *unreachable_kind(const struct sock_extended_err *ee)
{
	if (ee->ee_origin == SO_EE_ORIGIN_ICMP && ee->ee_type == ICMP_DEST_UNREACH) {
		if (ee->ee_code == ICMP_PORT_UNREACH)
			return "ICMP port unreachable";
		if (ee->ee_code == ICMP_HOST_UNREACH)
			return "ICMP host unreachable";
	}
	if (ee->ee_origin == SO_EE_ORIGIN_ICMP6 && ee->ee_type == ICMP6_DST_UNREACH) {
		if (ee->ee_code == ICMP6_DST_UNREACH_NOPORT)
			return "ICMPv6 port unreachable";
		if (ee->ee_code == ICMP6_DST_UNREACH_ADDR)
			return "ICMPv6 address unreachable";
	}
	return NULL;
}

/*
 * One error from the socket's error queue (IP_RECVERR / IPV6_RECVERR).
 * The kernel matches an ICMP error to the socket by the datagram it
 * quotes, whose source is the broker's address and port: the copies the
 * data plane sends leave from there too, without the socket, and their
 * errors arrive here all the same.  msg_name is the quoted datagram's
 * destination: the endpoint that did not receive it.
 */
static int receive_error(struct pso_broker *b)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6)) * 2];
		struct cmsghdr align;
	} ctl;
	uint8_t quoted[64];
	struct sockaddr_in6 sa;
	struct iovec iov = { .iov_base = quoted, .iov_len = sizeof(quoted) };
	struct msghdr msg = {
		.msg_name = &sa, .msg_namelen = sizeof(sa),
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n = recvmsg(b->sock, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);

	if (n < 0)
		return -errno;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		struct sock_extended_err ee;
		struct pso_endpoint ep;
		const char *what;
		char s[64];

		if (!((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_RECVERR) ||
		      (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_RECVERR)))
			continue;
		memcpy(&ee, CMSG_DATA(cm), sizeof(ee));
		what = unreachable_kind(&ee);
		if (!what || msg.msg_namelen < sizeof(sa) || sa.sin6_family != AF_INET6)
			continue;
		pso_endpoint_from_sa(&sa, &ep);
		if (!pso_proto_unreachable(b->proto, &ep, what, b->now_ms))
			pso_debug("%s for %s: no client there", what,
				  pso_endpoint_str(&ep, s, sizeof(s)));
	}
	return 0;
}

static void nh_changed(void *ctx)
{
	struct pso_broker *b = ctx;

	b->nh_changed = true;
}

/* An event's topic name, from the registry (pso_events_open). */
static const char *event_topic_name(void *ctx, uint16_t id)
{
	struct pso_broker *b = ctx;

	return pso_registry_name(pso_proto_registry(b->proto), id);
}

#define BPFFS_ROOT "/sys/fs/bpf"

/*
 * `ip netns exec` runs its command in a mount namespace of its own with a
 * fresh /sys, where nothing is mounted at /sys/fs/bpf.  A pin directory
 * under it then gets a bpffs of its own, as iproute2 does for its pins
 * (one private to that mount namespace, gone with it).
 */
static int ensure_bpffs(const char *pin_dir, char *err, size_t errlen)
{
	size_t n = strlen(BPFFS_ROOT);
	struct statfs st;

	if (strncmp(pin_dir, BPFFS_ROOT "/", n + 1))
		return 0;
	if (statfs(BPFFS_ROOT, &st)) {
		snprintf(err, errlen, "cannot read %s: %s", BPFFS_ROOT, strerror(errno));
		return -errno;
	}
	if (st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", BPFFS_ROOT, "bpf", 0, "mode=0700")) {
		snprintf(err, errlen, "no bpffs at %s and none could be mounted there: %s",
			 BPFFS_ROOT, strerror(errno));
		return -errno;
	}
	pso_info("no bpffs at %s (as under `ip netns exec`): mounted one", BPFFS_ROOT);
	return 0;
}

static uint64_t realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t realtime_ms_now(void)
{
	return realtime_ms();
}

/* The broker's name and its control socket, before anything is loaded: a
 * second broker of the same name stops here. */
static int open_control(struct pso_broker *b, char *err, size_t errlen)
{
	bool replaced;
	int ret;

	if (b->cfg.name)
		snprintf(b->name, sizeof(b->name), "%s", b->cfg.name);
	else
		pso_ctl_name_from_pin_dir(b->cfg.pin_dir ? b->cfg.pin_dir : PSO_PIN_DIR_DEFAULT,
					  b->name, sizeof(b->name));
	if (!pso_ctl_name_valid(b->name)) {
		snprintf(err, errlen, "bad broker name '%s': use letters, digits, '.', '_' and '-' "
			 "(at most %d); see --name", b->name, PSO_CTL_NAME_MAX);
		return -EINVAL;
	}
	pso_ctl_path(b->name, b->ctl_path, sizeof(b->ctl_path));
	if (b->handover.active && b->handover.ctl >= 0)
		return pso_ctlsock_adopt(&b->ctlsock, b->handover.ctl, b->ctl_path, pso_ctl_requests, b);
	ret = pso_ctlsock_open(&b->ctlsock, b->ctl_path, pso_ctl_requests, b, &replaced, err, errlen);
	if (ret == -EADDRINUSE)
		snprintf(err, errlen, "a broker named %s is running already (its control socket %s "
			 "answers); give this one another --name or --pin-dir", b->name, b->ctl_path);
	if (ret)
		return ret;
	if (replaced)
		pso_info("replaced the stale control socket %s", b->ctl_path);
	return 0;
}

static int open_socket(struct pso_broker *b, char *err, size_t errlen)
{
	struct sockaddr_in6 sa = {
		.sin6_family = AF_INET6, .sin6_port = htons(b->cfg.udp_port), .sin6_addr = in6addr_any,
	};
	int off = 0, on = 1, rcvbuf = 4 << 20;

	/* A restart: the socket bound all along, what came meanwhile queued. */
	if (b->handover.active) {
		b->sock = b->handover.sock;
		return 0;
	}
	b->sock = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (b->sock < 0 ||
	    setsockopt(b->sock, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) ||
	    setsockopt(b->sock, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof(on)) ||
	    setsockopt(b->sock, IPPROTO_IPV6, IPV6_RECVFRAGSIZE, &on, sizeof(on)) ||
	    setsockopt(b->sock, IPPROTO_IP, IP_RECVFRAGSIZE, &on, sizeof(on)) ||
	    setsockopt(b->sock, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on)) ||
	    setsockopt(b->sock, SOL_SOCKET, SO_BROADCAST, &on, sizeof(on)) ||
	    /* ICMP errors for what the broker and its data plane send: a
	     * subscriber that is gone (receive_error()). */
	    setsockopt(b->sock, IPPROTO_IP, IP_RECVERR, &on, sizeof(on)) ||
	    setsockopt(b->sock, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on)) ||
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
		.session_expiry_s = cfg->session_expiry_s, .topic_idle_s = cfg->topic_idle_s,
		.retry_s = cfg->retry_s, .retries = cfg->retries, .lim = cfg->lim,
		.unvalidated_s = cfg->unvalidated_s,
	};
	struct pso_ctl_cfg ccfg = {
		.mode = cfg->mode, .profiles_dir = cfg->profiles_dir, .udp_port = cfg->udp_port,
		.placement_ms = cfg->placement_ms, .sizes = cfg->sizes,
	};
	struct pso_dp_sizes sizes;
	sigset_t mask;
	int ret;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->cfg = *cfg;
	b->sock = b->sigfd = -1;
	/* Parsed here; a reload parses them again (pso_broker_reconfigure). */
	if (cfg->trusted_list &&
	    pso_cidr_parse_list(cfg->trusted_list, b->trusted, PSO_MAX_TRUSTED, &b->ntrusted)) {
		snprintf(err, errlen, "bad --trusted '%s'", cfg->trusted_list);
		ret = -EINVAL;
		goto fail;
	}
	pcfg.trusted = b->trusted;	/* b outlives the protocol layer */
	pcfg.ntrusted = b->ntrusted;
	b->now_ms = now_ms();
	b->started_ms = realtime_ms();
	b->pin_lock.fd = -1;
	ret = pso_handover_take(&b->handover, err, errlen);
	if (ret)
		goto fail;
	ret = pso_ctl_check_ifnames(cfg->ifnames, cfg->nifnames, err, errlen);
	if (ret)
		goto fail;
	/* The pin directory is ours for our whole life, or another live
	 * broker's: then hands off its pins, whatever either is named. */
	if (cfg->pin_dir && b->handover.active && b->handover.lock >= 0) {
		/* The lock held across the exec: it never was free. */
		b->pin_lock.fd = b->handover.lock;
		pso_instance_file(cfg->pin_dir, "lock", b->pin_lock.path, sizeof(b->pin_lock.path));
	} else if (cfg->pin_dir) {
		pid_t owner;

		ret = pso_instance_lock(cfg->pin_dir, &b->pin_lock, &owner, err, errlen);
		if (ret)
			goto fail;
	}
	ret = open_control(b, err, errlen);
	if (ret)
		goto fail;
	/* A store that cannot be used stops the start before anything loads. */
	ret = pso_broker_open_store(b, err, errlen);
	if (ret)
		goto fail;
	ret = pso_ctl_table_sizes(&ccfg, cfg->ifnames, cfg->nifnames, &sizes, err, errlen);
	if (ret)
		goto fail;
	pcfg.max_topics = sizes.topics;
	pcfg.max_clients = sizes.clients;
	b->max_topics = sizes.topics;
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
	pso_proto_share_topic_ids(b->proto, !strncmp(pso_store_spec(b->store), "etcd:", 5));
	ret = pso_nh_open(&b->nh, nh_changed, b);
	if (ret) {
		snprintf(err, errlen, "cannot read routes and neighbours (netlink): %s", strerror(-ret));
		goto fail;
	}
	if (cfg->pin_dir) {
		ret = ensure_bpffs(cfg->pin_dir, err, errlen);
		if (ret)
			goto fail;
	}
	{
		struct pso_dp_load_opts lo = { .build = cfg->build, .handover = b->handover.active };

		ret = pso_dp_load(&b->dp, &sizes, cfg->pin_dir, &lo, err, errlen);
	}
	if (ret)
		goto fail;
	/* Adopted maps keep their sizes, which the protocol must index. */
	if (b->dp.adopted && (b->dp.sizes.topics != sizes.topics || b->dp.sizes.clients != sizes.clients)) {
		pso_proto_free(b->proto);
		pcfg.max_topics = b->dp.sizes.topics;
		pcfg.max_clients = b->dp.sizes.clients;
		b->proto = pso_proto_new(&pcfg, &pso_broker_proto_ops, b);
		if (!b->proto) {
			snprintf(err, errlen, "out of memory");
			ret = -ENOMEM;
			goto fail;
		}
		if (cfg->predefined_path) {
			ret = pso_registry_load_predefined(pso_proto_registry(b->proto),
							   cfg->predefined_path, err, errlen);
			if (ret)
				goto fail;
		}
		pso_proto_share_topic_ids(b->proto,
					  !strncmp(pso_store_spec(b->store), "etcd:", 5));
	}
	sizes = b->dp.sizes;
	ret = pso_tables_init(&b->tables, b->dp.topics_fd, b->dp.subs_fd, b->dp.runs_fd,
			      b->dp.clients_fd, sizes.topics, pso_dp_pool_slots(&sizes), sizes.clients);
	/* --max-topic-subscribers: the longest run a topic grows to. */
	if (!ret && sizes.topic_subscribers)
		ret = pso_tables_set_max_run(&b->tables, sizes.topic_subscribers);
	if (!ret)
		ret = pso_tables_use_client_slots(&b->tables, b->dp.client_slots_fd);
	if (!ret)
		ret = pso_tables_use_short_names(&b->tables, b->dp.short_names_fd);
	if (!ret)
		ret = pso_tables_use_topic_stats(&b->tables, b->dp.topic_stats_fd);
	if (!ret)
		ret = pso_tables_set_publish_rate(&b->tables, cfg->max_publish_rate,
						  cfg->publish_burst);
	if (ret) {
		snprintf(err, errlen, "cannot set up the tables: %s", strerror(-ret));
		goto fail;
	}
	/* The running data plane's tables, read back; then its sessions. */
	if (b->dp.adopted) {
		ret = pso_broker_adopt(b, err, errlen);
		if (ret)
			goto fail;
	}
	/* From here on no table write waits for readers in the event loop. */
	if (!ret)
		ret = pso_tables_defer_start(&b->tables);
	if (ret) {
		snprintf(err, errlen, "cannot set up the tables: %s", strerror(-ret));
		goto fail;
	}
	b->dp.tables = &b->tables;
	ret = pso_events_open(&b->events, b->dp.events_fd, 0, event_topic_name, b);
	if (!ret)
		ret = pso_dp_set_event_rate(&b->dp, cfg->event_rate);
	if (ret) {
		snprintf(err, errlen, "cannot read the data plane's events: %s", strerror(-ret));
		goto fail;
	}
	pso_proto_topics_publish(b->proto);
	ret = pso_ctl_init(&b->ctl, &ccfg, &b->dp, &b->tables, b->nh, sizes.topics);
	if (ret) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (int i = 0; i < cfg->nifnames; i++) {
		ret = pso_ctl_add(&b->ctl, cfg->ifnames[i], cfg->ifmodes ? cfg->ifmodes[i] : cfg->mode,
				  err, errlen);
		if (ret)
			goto fail;
	}
	pso_ctl_redirect_targets(&b->ctl);
	/* Sessions, registrations and retained messages from the store,
	 * with the tables and interfaces there and before the first datagram. */
	ret = pso_broker_load_store(b, err, errlen);
	if (ret)
		goto fail;
	/* A group member starts as a standby, a copy of the store. */
	ret = pso_broker_open_ha(b, err, errlen);
	if (ret)
		goto fail;
	pso_broker_adopt_settle(b);
	ret = open_socket(b, err, errlen);
	if (ret)
		goto fail;
	pso_broker_resume_store(b);

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);	/* a reload */
	sigaddset(&mask, SIGUSR2);	/* a restart: hand over to a new exec */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	b->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (b->sigfd < 0) {
		snprintf(err, errlen, "signalfd: %s", strerror(errno));
		ret = -errno;
		goto fail;
	}
	if (cfg->metrics_addr) {
		ret = pso_metrics_start(&b->metrics, cfg->metrics_addr, cfg->metrics_topics, err, errlen);
		if (ret)
			goto fail;
		pso_info("serving metrics on http://%s/metrics", cfg->metrics_addr);
	}
	if (cfg->pin_dir) {
		pso_status_path(b->name, b->status_path, sizeof(b->status_path));
		b->status_dirty = true;
		pso_status_write(b);
	}
	if (cfg->advertise_s)
		b->next_advertise_ms = b->now_ms;
	if (b->handover.active) {
		b->handover_ms = realtime_ms() - b->handover.since_ms;
		pso_info("restart: the new daemon serves %llu ms after the exec (restart %u of this "
			 "data plane)", (unsigned long long)b->handover_ms, b->dp.meta.restarts);
	}
	pso_info("serving MQTT-SN on UDP port %u", b->cfg.udp_port);
	pso_info("control socket %s", b->ctl_path);
	/* Every interface is attached and the socket bound: READY=1. */
	pso_notify_init(&b->notify, b->now_ms);
	pso_broker_reloaded(b);
	b->started = true;
	*out = b;
	return 0;
fail:
	pso_broker_stop(b);
	return ret ? ret : -EIO;
}

/* The service manager's status line, when it changed. */
static void notify_status(struct pso_broker *b)
{
	char line[256];

	pso_broker_status_line(b, line, sizeof(line));
	pso_notify_status(&b->notify, line);
}

void pso_broker_reloading(struct pso_broker *b)
{
	pso_notify_reloading(&b->notify);
}

void pso_broker_reloaded(struct pso_broker *b)
{
	char line[256];

	pso_broker_status_line(b, line, sizeof(line));
	pso_notify_ready(&b->notify, line);
}

/* Periodic work, every TICK_MS. */
static void tick(struct pso_broker *b)
{
	/* A standby's sessions are the leader's: no timer of its own ends
	 * one (the takeover gives each a full keep-alive period). */
	if (pso_broker_serving(b))
		pso_proto_tick(b->proto, b->now_ms);
	if (b->adopted) {
		uint32_t n = pso_adopted_expire(b->adopted, b->now_ms, false);

		if (n) {
			pso_info("adopt: %u placeholder%s expired (no session came for %u s)", n,
				 n == 1 ? "" : "s", b->cfg.adopt_grace_s);
			b->status_dirty = true;
		}
	}
	if (b->store)
		pso_store_tick(b->store, realtime_ms());	/* leases */
	pso_ctl_tick(&b->ctl, b->now_ms);
	/* hw mode: the NICs have no clock, so their publish budgets are
	 * topped up here. */
	pso_tables_rate_refill(&b->tables, b->now_ms);
	if (b->ctl.changed) {
		b->ctl.changed = false;
		b->status_dirty = true;
	}
	pso_broker_ha_tick(b);
	pso_broker_store_health(b);
	if (b->cfg.advertise_s && b->now_ms >= b->next_advertise_ms && pso_broker_serving(b)) {
		pso_proto_advertise(b->proto);
		b->next_advertise_ms = b->now_ms + b->cfg.advertise_s * 1000ull;
	}
	notify_status(b);
}

/* ---- stopping: every client hears DISCONNECT before the data plane goes
 * (unless the store keeps their sessions for the next start) ---- */

#define BYE_BATCH	128	/* DISCONNECTs in one go ... */
#define BYE_PACE_US	1000	/* ... then a pause, so receivers keep up */
#define BYE_BOUND_MS	1000	/* all of them, at most */

static void say_goodbye(struct pso_broker *b)
{
	uint64_t start = now_ms();
	const struct timespec pace = { .tv_nsec = BYE_PACE_US * 1000 };
	unsigned int sent = 0;
	bool done = false;

	for (;;) {
		sent += pso_proto_shutdown(b->proto, BYE_BATCH, &done);
		if (done || now_ms() - start >= BYE_BOUND_MS)
			break;
		nanosleep(&pace, NULL);
	}
	if (!done)
		pso_warn("DISCONNECT sent to %u clients in %d ms, the bound; the others get none",
			 sent, BYE_BOUND_MS);
	else
		pso_info("DISCONNECT sent to %u client%s in %llu ms", sent, sent == 1 ? "" : "s",
			 (unsigned long long)(now_ms() - start));
}

/* ---- the event loop ---- */

int pso_broker_run(struct pso_broker *b)
{
	static uint8_t rxbuf[MQTTSN_MAX_MSG];
	uint64_t next_tick = now_ms() + TICK_MS;

	for (;;) {
		enum { FD_SOCK, FD_NH, FD_SIG, FD_GRACE, FD_EVENTS, FD_METRICS, FD_HA, FD_CTL,
		       NFDS = FD_CTL };
		struct pollfd pfd[NFDS + 1 + PSO_CTL_MAX_CONNS] = {
			[FD_SOCK] = { .fd = b->sock, .events = POLLIN },
			[FD_NH] = { .fd = pso_nh_fd(b->nh), .events = POLLIN },
			[FD_SIG] = { .fd = b->sigfd, .events = POLLIN },
			[FD_GRACE] = { .fd = pso_tables_grace_fd(&b->tables), .events = POLLIN },
			[FD_EVENTS] = { .fd = pso_events_fd(b->events), .events = POLLIN },
			[FD_METRICS] = { .fd = b->metrics ? pso_metrics_fd(b->metrics) : -1,
					 .events = POLLIN },
			[FD_HA] = { .fd = pso_broker_ha_fd(b), .events = POLLIN },
		};
		int timeout, wd, nctl;

		b->now_ms = now_ms();
		pso_status_refresh(b);
		timeout = next_tick > b->now_ms ? (int)(next_tick - b->now_ms) : 0;
		/* The watchdog is fed from here: a stuck loop stops feeding it. */
		wd = pso_notify_watchdog(&b->notify, b->now_ms);
		if (wd >= 0 && wd < timeout)
			timeout = wd;
		/* A change the rate limit held back is written soon. */
		if (b->status_dirty && timeout > PSO_STATUS_MIN_INTERVAL_MS)
			timeout = PSO_STATUS_MIN_INTERVAL_MS;
		nctl = pso_ctlsock_pollfds(b->ctlsock, &pfd[FD_CTL], 1 + PSO_CTL_MAX_CONNS);
		if (poll(pfd, (nfds_t)(FD_CTL + nctl), timeout) < 0 && errno != EINTR) {
			pso_err("poll: %s", strerror(errno));
			return -errno;
		}
		b->now_ms = now_ms();
		if (pfd[FD_SIG].revents & POLLIN) {
			struct signalfd_siginfo si = { 0 };

			if (read(b->sigfd, &si, sizeof(si)) != sizeof(si))
				continue;
			if (si.ssi_signo == SIGHUP)
				return PSO_BROKER_RELOAD;
			if (si.ssi_signo == SIGUSR2)
				return PSO_BROKER_RESTART;
			pso_notify_stopping(&b->notify, "stopping: detaching");
			pso_info("signal %u: stopping", si.ssi_signo);
			/* In a group the sessions are the group's: nobody is
			 * told, nothing ends, another member takes over. */
			if (b->ha) {
				b->stopping = true;
				return 0;
			}
			/* Every client is told; what the store keeps is what a
			 * DISCONNECT leaves (persistent sessions, offline), written
			 * when it closes.  A restart that keeps the clients is
			 * SIGUSR2 (psoffload restart). */
			say_goodbye(b);
			/* The sessions as their DISCONNECT leaves them, for the
			 * store; the tables, going with the data plane, are not
			 * written (proto_env.c). */
			b->stopping = true;
			pso_proto_shutdown_end(b->proto);
			return 0;
		}
		/* Table changes whose grace period has passed, before new ones. */
		if (pfd[FD_GRACE].revents & POLLIN)
			pso_tables_grace_done(&b->tables);
		if (pfd[FD_NH].revents & POLLIN)
			pso_nh_process(b->nh);
		/* Errors first: a subscriber that is gone is not served the
		 * publishes read next. */
		if (pfd[FD_SOCK].revents & POLLERR) {
			for (int i = 0; i < 256; i++)
				if (receive_error(b) == -EAGAIN)
					break;
		}
		if (pfd[FD_EVENTS].revents & POLLIN)
			pso_events_consume(b->events);
		if (pfd[FD_HA].revents & POLLIN)
			pso_broker_ha_watch(b);
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
		/* Operators' requests and scrapes read the state the work
		 * above left. */
		pso_ctlsock_process(b->ctlsock, &pfd[FD_CTL], nctl, b->now_ms);
		if (b->reload_asked) {
			b->reload_asked = false;
			return PSO_BROKER_RELOAD;
		}
		if (b->restart_asked) {
			b->restart_asked = false;
			return PSO_BROKER_RESTART;
		}
		if ((pfd[FD_METRICS].revents & POLLIN) && pso_metrics_wanted(b->metrics))
			pso_metrics_put(b->metrics,
					pso_snapshot_take(b, PSO_SNAP_DATAPLANE | PSO_SNAP_TOPICS));
		if (b->ctl.changed) {
			b->ctl.changed = false;
			b->status_dirty = true;
		}
		if (b->now_ms >= next_tick) {
			next_tick = b->now_ms + TICK_MS;
			tick(b);
		}
		/* What this round changed, in one transaction. */
		pso_broker_flush_store(b);
	}
}

int pso_broker_reconfigure(struct pso_broker *b, const struct pso_broker_cfg *cfg, char *err,
			   size_t errlen)
{
	struct pso_proto_cfg pcfg = {
		.qosm1 = cfg->qosm1, .gw_id = cfg->gw_id, .advertise_s = cfg->advertise_s,
		.session_expiry_s = cfg->session_expiry_s, .topic_idle_s = cfg->topic_idle_s,
		.retry_s = cfg->retry_s, .retries = cfg->retries, .lim = cfg->lim,
	};
	struct pso_cidr trusted[PSO_MAX_TRUSTED];
	struct pso_predef_reload res;
	int ntrusted = 0, ret;

	/* What can fail goes first, and changes nothing when it does (the
	 * whole file is checked before anything is added). */
	if (cfg->trusted_list &&
	    pso_cidr_parse_list(cfg->trusted_list, trusted, PSO_MAX_TRUSTED, &ntrusted)) {
		snprintf(err, errlen, "bad trusted '%s'", cfg->trusted_list);
		return -EINVAL;
	}
	if (cfg->predefined_path) {
		ret = pso_proto_reload_predefined(b->proto, cfg->predefined_path, &res, err, errlen);
		if (ret)
			return ret;
		if (res.added)
			pso_info("reload: %u new predefined topic%s from %s", res.added,
				 res.added == 1 ? "" : "s", cfg->predefined_path);
		if (res.missing)
			pso_info("reload: %u predefined topic%s no longer in %s stay%s until a restart",
				 res.missing, res.missing == 1 ? "" : "s", cfg->predefined_path,
				 res.missing == 1 ? "s" : "");
	} else if (b->cfg.predefined_path) {
		pso_info("reload: no predefined topics file any more; its topics stay until a restart");
	}
	/* Trusted networks: for the endpoints that connect from now on; a
	 * session unproven so far still proves itself or expires. */
	memcpy(b->trusted, trusted, sizeof(trusted));
	b->ntrusted = ntrusted;
	pcfg.trusted = b->trusted;
	pcfg.ntrusted = b->ntrusted;
	pso_proto_set_cfg(b->proto, &pcfg);
	pso_metrics_set_topics(b->metrics, cfg->metrics_topics);
	if (cfg->event_rate != b->cfg.event_rate) {
		ret = pso_dp_set_event_rate(&b->dp, cfg->event_rate);
		if (ret)
			pso_warn("reload: cannot set the event rate: %s", strerror(-ret));
	}
	b->ctl.cfg.placement_ms = cfg->placement_ms;
	if (cfg->advertise_s != b->cfg.advertise_s)
		b->next_advertise_ms = b->now_ms;	/* the new interval from now */
	b->cfg = *cfg;
	b->status_dirty = true;
	return 0;
}

void pso_broker_stop(struct pso_broker *b)
{
	if (!b)
		return;
	/* Scrapes first: the metrics thread reads only what it was given. */
	pso_metrics_stop(b->metrics);
	/* The last changes, while the protocol layer is still there; then
	 * the group's leadership and addresses are free. */
	if (b->ha) {
		if (pso_broker_serving(b))
			pso_broker_flush_store(b);
		pso_broker_close_ha(b);
		/* Not the leader now: what could not be written is not ours
		 * to write. */
		pso_broker_discard_changes(b);
		if (b->store)
			pso_store_drop_queued(b->store);
	}
	pso_broker_close_store(b);
	if (b->status_path[0])
		unlink(b->status_path);
	pso_ctlsock_close(b->ctlsock);
	if (b->sock >= 0)
		close(b->sock);
	/* A start that failed over an adopted data plane leaves it running. */
	if (b->dp.adopted && !b->started)
		b->dp.keep = true;
	if (b->sigfd >= 0)
		close(b->sigfd);
	/* Ports leave the tables, pending table changes finish while the
	 * maps are still there, then the programs and maps go. */
	if (!b->dp.keep)
		pso_dp_detach_all(&b->dp);
	b->dp.tables = NULL;
	pso_events_close(b->events);
	pso_tables_free(&b->tables);
	pso_adopted_free(b->adopted);
	pso_dp_close(&b->dp);
	pso_ctl_free(&b->ctl);
	if (b->nh)
		pso_nh_close(b->nh);
	pso_proto_free(b->proto);
	/* Last: the pins are gone, another broker may have the directory. */
	pso_instance_unlock(&b->pin_lock);
	free(b);
}
