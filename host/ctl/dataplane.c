// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dataplane.c - load the XDP and TC programs once, attach them per port.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "psoffload_xdp.skel.h"
#include "psoffload_xdp_offload.skel.h"
#include "psoffload_tc.skel.h"
#include "ctl/dataplane.h"
#include "tables/porttab.h"
#include "tables/tables.h"
#include "util/log.h"


static const char *const mode_names[] = {
	[PSO_MODE_AUTO] = "auto",
	[PSO_MODE_HW] = "hw",
	[PSO_MODE_DRV] = "drv",
	[PSO_MODE_SKB] = "skb",
};

const char *pso_mode_name(enum pso_mode mode)
{
	return mode <= PSO_MODE_SKB ? mode_names[mode] : "?";
}

int pso_mode_parse(const char *s, enum pso_mode *mode)
{
	for (unsigned int i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (!strcmp(s, mode_names[i])) {
			*mode = i;
			return 0;
		}
	}
	/* xdp-loader's spellings */
	if (!strcmp(s, "native"))
		*mode = PSO_MODE_DRV;
	else if (!strcmp(s, "generic"))
		*mode = PSO_MODE_SKB;
	else if (!strcmp(s, "offload"))
		*mode = PSO_MODE_HW;
	else
		return -EINVAL;
	return 0;
}

/* Counters are no state: a map of theirs in another layout is made anew. */
static bool counter_map(const char *name)
{
	return !strcmp(name, "pso_counters") || !strcmp(name, "pso_topic_stats");
}

static int pin_maps(struct pso_dataplane *dp, const char *pin_dir, char *err, size_t errlen)
{
	struct bpf_map *map;
	char path[512];

	if (mkdir(pin_dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create pin directory %s: %s (is a bpffs mounted above it?)",
			 pin_dir, strerror(errno));
		return -errno;
	}
	bpf_object__for_each_map(map, dp->xdp->obj) {
		if (bpf_map__is_pinned(map))
			continue;	/* adopted: pinned already */
		snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(map));
		/* A pin of no data plane we adopted is stale: replace it. */
		if (unlink(path) == 0 && !dp->adopted)
			pso_warn("replaced stale pin %s", path);
		if (bpf_map__pin(map, path)) {
			snprintf(err, errlen, "cannot pin map %s at %s", bpf_map__name(map), path);
			return -EIO;
		}
	}
	snprintf(dp->pin_dir, sizeof(dp->pin_dir), "%s", pin_dir);
	return 0;
}

static void unpin_maps(struct pso_dataplane *dp)
{
	struct bpf_map *map;
	char path[512];

	if (!dp->pin_dir[0] || !dp->xdp)
		return;
	bpf_object__for_each_map(map, dp->xdp->obj) {
		snprintf(path, sizeof(path), "%s/%s", dp->pin_dir, bpf_map__name(map));
		bpf_map__unpin(map, path);
	}
	snprintf(path, sizeof(path), "%s/%s", dp->pin_dir, PSO_META_PIN);
	unlink(path);
	rmdir(dp->pin_dir);
	dp->pin_dir[0] = '\0';
}

/*
 * Adoption, before load: every map of this build that is pinned already
 * is reused as it is, so the programs about to load read the tables the
 * running data plane reads.  All are checked before any is taken: a map of
 * state in a layout this build does not have refuses the whole adoption
 * (nothing touched); a counter map in another layout is made anew.
 */
static int adopt_maps(struct pso_dataplane *dp, const char *pin_dir, char *err, size_t errlen)
{
	struct bpf_map *map;
	char path[512];
	int fds[64], n = 0, ret = 0;

	bpf_object__for_each_map(map, dp->xdp->obj) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		const char *name = bpf_map__name(map);
		int fd;

		if (n >= (int)(sizeof(fds) / sizeof(fds[0])))
			return -E2BIG;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
		fd = bpf_obj_get(path);
		fds[n++] = fd;
		if (fd < 0) {
			if (errno == ENOENT)
				continue;	/* new in this build: made and pinned */
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
			ret = -errno;
			goto out;
		}
		if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
			snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			ret = -errno;
			goto out;
		}
		/* The kernel makes every devmap read-only to programs (as
		 * libbpf's own reuse check knows). */
		if (info.type == BPF_MAP_TYPE_DEVMAP || info.type == BPF_MAP_TYPE_DEVMAP_HASH)
			info.map_flags &= ~BPF_F_RDONLY_PROG;
		if (info.type == bpf_map__type(map) && info.key_size == bpf_map__key_size(map) &&
		    info.value_size == bpf_map__value_size(map) &&
		    info.max_entries == bpf_map__max_entries(map) &&
		    info.map_flags == bpf_map__map_flags(map))
			continue;
		if (counter_map(name)) {
			close(fd);
			fds[n - 1] = -1;
			dp->fresh_maps++;
			continue;
		}
		snprintf(err, errlen, "%s: map %s has type %u, key %u, value %u bytes, %u entries, "
			 "flags %#x; this build needs %u, %u, %u, %u, %#x: refusing to adopt it (nothing "
			 "touched; stop its broker with SIGTERM, or remove the directory, to start empty)",
			 pin_dir, name, info.type, info.key_size, info.value_size, info.max_entries,
			 info.map_flags, bpf_map__type(map), bpf_map__key_size(map),
			 bpf_map__value_size(map), bpf_map__max_entries(map), bpf_map__map_flags(map));
		ret = -EPROTO;
		goto out;
	}
	n = 0;
	bpf_object__for_each_map(map, dp->xdp->obj) {
		int fd = fds[n++];

		if (fd < 0)
			continue;
		ret = bpf_map__reuse_fd(map, fd);
		if (!ret) {
			snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(map));
			ret = bpf_map__set_pin_path(map, path);
		}
		if (ret) {
			snprintf(err, errlen, "cannot reuse map %s: %s", bpf_map__name(map), strerror(-ret));
			goto out;
		}
	}
out:
	for (int i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);	/* reuse_fd took a copy */
	return ret;
}

/* The TC object reads the XDP object's tables: same names, same layout. */
static int share_maps(struct pso_dataplane *dp)
{
	struct bpf_map *map, *xdp_map;
	int ret;

	bpf_object__for_each_map(map, dp->tc->obj) {
		xdp_map = bpf_object__find_map_by_name(dp->xdp->obj, bpf_map__name(map));
		if (!xdp_map)
			return -ENOENT;
		ret = bpf_map__reuse_fd(map, bpf_map__fd(xdp_map));
		if (ret)
			return ret;
	}
	return 0;
}

int pso_dp_sizes_check(const struct pso_dp_sizes *s, char *err, size_t errlen)
{
	const struct {
		const char *name;
		uint32_t value, min, max;
	} rows[] = {
		{ "topics", s->topics, 2, PSO_MAX_TOPICS },
		{ "clients", s->clients, 1, PSO_MAX_CLIENTS },
		{ "subscriptions", s->subscriptions, 1, PSO_MAX_SUBSCRIPTIONS },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (rows[i].value < rows[i].min || rows[i].value > rows[i].max) {
			snprintf(err, errlen, "--max-%s %u: use %u..%u", rows[i].name, rows[i].value,
				 rows[i].min, rows[i].max);
			return -ERANGE;
		}
	/* The pool's runs are powers of two: a setting between two would
	 * be either, so it is neither. */
	if (s->topic_subscribers > PSO_MAX_RUN ||
	    (s->topic_subscribers & (s->topic_subscribers - 1))) {
		snprintf(err, errlen, "--max-topic-subscribers %u: use a power of two, 1..%u",
			 s->topic_subscribers, PSO_MAX_RUN);
		return -ERANGE;
	}
	return 0;
}

uint32_t pso_dp_pool_slots(const struct pso_dp_sizes *s)
{
	uint64_t topics = s->topics < s->subscriptions ? s->topics : s->subscriptions;
	uint64_t n = 2ull * s->subscriptions + PSO_TABLES_MIN_RUN * topics;

	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* A map's memlock line in /proc/self/fdinfo/FD: what the kernel charged
 * for it (bpf_map_memory_usage()). */
static uint64_t map_memlock(int fd)
{
	char path[64], line[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

uint64_t pso_dp_map_memory(const struct pso_dataplane *dp)
{
	const struct bpf_map *map;
	uint64_t sum = 0;

	if (!dp->xdp)
		return 0;
	bpf_object__for_each_map(map, dp->xdp->obj)
		if (bpf_map__fd(map) >= 0)
			sum += map_memlock(bpf_map__fd(map));
	return sum;
}

/* The sizes the adopted maps were made with. */
static int adopt_sizes(const struct pso_meta *m, struct pso_dp_sizes *sizes, const char *pin_dir,
		       char *err, size_t errlen)
{
	char path[512];
	int fd;

	/* A build before the subscriber pool kept fixed rows of slots per
	 * topic in pso_subs, and had no pso_topic_runs: its slots would be
	 * misread as a pool. */
	snprintf(path, sizeof(path), "%s/pso_topic_runs", pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		snprintf(err, errlen, "%s: the data plane of build %s keeps %u subscriber slots per "
			 "topic, this build one pool of them: refusing to adopt it (nothing touched; stop "
			 "its broker with SIGTERM, or remove the directory, to start empty)", pin_dir,
			 m->build, m->subscriptions);
		return -EPROTO;
	}
	close(fd);
	if (m->client_slots != PSO_CLIENT_SLOTS || m->port_slots != PSO_PORT_SLOTS ||
	    m->topics < 2 || m->topics > PSO_MAX_TOPICS || !m->clients ||
	    m->clients > PSO_MAX_CLIENTS || !m->subscriptions || m->subscriptions > PSO_MAX_SUBSCRIPTIONS) {
		snprintf(err, errlen, "%s: the data plane of build %s has %u client and %u port slots, "
			 "%u topics, %u clients, %u subscriptions; this build has %u, %u and at most %u, "
			 "%u, %u: refusing to adopt it (nothing touched)", pin_dir, m->build,
			 m->client_slots, m->port_slots, m->topics, m->clients, m->subscriptions,
			 PSO_CLIENT_SLOTS, PSO_PORT_SLOTS, PSO_MAX_TOPICS, PSO_MAX_CLIENTS,
			 PSO_MAX_SUBSCRIPTIONS);
		return -EPROTO;
	}
	if (sizes->topics != m->topics || sizes->clients != m->clients ||
	    sizes->subscriptions != m->subscriptions)
		pso_info("adopting %u topics, %u clients and %u subscriptions as the tables have them "
			 "(the settings ask for %u, %u and %u: a stop and start applies that)", m->topics,
			 m->clients, m->subscriptions, sizes->topics, sizes->clients,
			 sizes->subscriptions);
	sizes->topics = m->topics;
	sizes->clients = m->clients;
	sizes->subscriptions = m->subscriptions;
	return 0;
}

int pso_dp_load(struct pso_dataplane *dp, const struct pso_dp_sizes *want, const char *pin_dir,
		const struct pso_dp_load_opts *opts, char *err, size_t errlen)
{
	struct pso_dp_sizes s = *want, *sizes = &s;
	struct pso_meta old;
	int ret;

	memset(dp, 0, sizeof(*dp));
	if (pin_dir) {
		ret = pso_meta_read(pin_dir, &old, err, errlen);
		if (ret && ret != -ENOENT)
			return ret;
		dp->adopted = ret == 0;
		if (dp->adopted) {
			ret = adopt_sizes(&old, sizes, pin_dir, err, errlen);
			if (ret)
				return ret;
			snprintf(dp->adopted_build, sizeof(dp->adopted_build), "%s", old.build);
		}
	}
	ret = pso_dp_sizes_check(sizes, err, errlen);
	if (ret)
		return ret;
	dp->xdp = psoffload_xdp__open();
	if (!dp->xdp) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the XDP program: %s", strerror(errno));
		return ret;
	}
	/* Before load: the TC program reuses these maps as they are made. */
	bpf_map__set_max_entries(dp->xdp->maps.pso_topics, sizes->topics);
	bpf_map__set_max_entries(dp->xdp->maps.pso_topic_stats, sizes->topics);
	bpf_map__set_max_entries(dp->xdp->maps.pso_subs, pso_dp_pool_slots(sizes));
	bpf_map__set_max_entries(dp->xdp->maps.pso_topic_runs, sizes->topics);
	bpf_map__set_max_entries(dp->xdp->maps.pso_short_names, sizes->topics);
	bpf_map__set_max_entries(dp->xdp->maps.pso_clients, sizes->clients);
	dp->sizes = *sizes;
	if (dp->adopted) {
		ret = adopt_maps(dp, pin_dir, err, errlen);
		if (ret) {
			/* Nothing was touched: close without unpinning. */
			dp->keep = true;
			goto fail;
		}
	}
	ret = psoffload_xdp__load(dp->xdp);
	if (ret) {
		snprintf(err, errlen, "cannot load the XDP program: %s (run with -v for the verifier log)",
			 strerror(-ret));
		goto fail;
	}
	dp->tc = psoffload_tc__open();
	if (!dp->tc) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the TC program: %s", strerror(errno));
		goto fail;
	}
	ret = share_maps(dp);
	if (ret) {
		snprintf(err, errlen, "cannot share maps between XDP and TC: %s", strerror(-ret));
		goto fail;
	}
	ret = psoffload_tc__load(dp->tc);
	if (ret) {
		snprintf(err, errlen, "cannot load the TC program: %s (run with -v for the verifier log)",
			 strerror(-ret));
		goto fail;
	}
	dp->port_cfg_fd = bpf_map__fd(dp->xdp->maps.pso_port_cfg);
	dp->port_slots_fd = bpf_map__fd(dp->xdp->maps.pso_port_slots);
	dp->client_slots_fd = bpf_map__fd(dp->xdp->maps.pso_client_slots);
	dp->devmap_fd = bpf_map__fd(dp->xdp->maps.pso_devmap);
	dp->topics_fd = bpf_map__fd(dp->xdp->maps.pso_topics);
	dp->subs_fd = bpf_map__fd(dp->xdp->maps.pso_subs);
	dp->runs_fd = bpf_map__fd(dp->xdp->maps.pso_topic_runs);
	dp->short_names_fd = bpf_map__fd(dp->xdp->maps.pso_short_names);
	dp->clients_fd = bpf_map__fd(dp->xdp->maps.pso_clients);
	dp->counters_fd = bpf_map__fd(dp->xdp->maps.pso_counters);
	dp->topic_stats_fd = bpf_map__fd(dp->xdp->maps.pso_topic_stats);
	dp->events_fd = bpf_map__fd(dp->xdp->maps.pso_events);
	dp->event_cfg_fd = bpf_map__fd(dp->xdp->maps.pso_event_cfg);
	if (pin_dir) {
		ret = pin_maps(dp, pin_dir, err, errlen);
		if (ret)
			goto fail;
		pso_meta_init(&dp->meta, opts ? opts->build : NULL, sizes->topics, sizes->clients,
			      sizes->subscriptions);
		if (dp->adopted) {
			dp->meta.created_ms = old.created_ms;
			dp->meta.restarts = old.restarts + (opts && opts->handover);
			dp->meta.adoptions = old.adoptions + !(opts && opts->handover);
			dp->meta.adopted_ms = (uint64_t)time(NULL) * 1000;
			memcpy(dp->meta.ports, old.ports, sizeof(dp->meta.ports));
		}
		ret = pso_meta_write(pin_dir, &dp->meta, err, errlen);
		if (ret)
			goto fail;
	}
	return 0;
fail:
	/* Over an adopted data plane a failure leaves it as it runs. */
	if (dp->adopted)
		dp->keep = true;
	pso_dp_close(dp);
	return ret;
}

void pso_dp_meta_sync(struct pso_dataplane *dp)
{
	char err[256];

	if (!dp->pin_dir[0])
		return;
	if (pso_meta_write(dp->pin_dir, &dp->meta, err, sizeof(err)))
		pso_warn("%s", err);
}

/* The meta's record of a port: the one of its ifindex, else a free one. */
static struct pso_meta_port *meta_port(struct pso_dataplane *dp, int ifindex, bool add)
{
	struct pso_meta_port *free_one = NULL;

	for (int i = 0; i < PSO_MAX_PORTS; i++) {
		struct pso_meta_port *mp = &dp->meta.ports[i];

		if ((int)mp->ifindex == ifindex)
			return mp;
		if (!mp->ifindex && !free_one)
			free_one = mp;
	}
	if (add && free_one) {
		memset(free_one, 0, sizeof(*free_one));
		free_one->ifindex = ifindex;
		return free_one;
	}
	return NULL;
}

int pso_dp_set_event_rate(struct pso_dataplane *dp, uint32_t rate)
{
	/* A second's worth at once: within the 64 x rate the data plane's
	 * refill assumes (struct pso_event_cfg). */
	struct pso_event_cfg cfg = { .rate = rate, .burst = rate };
	__u32 key = 0;

	if (rate > PSO_EVENT_RATE_MAX)
		return -ERANGE;
	return bpf_map_update_elem(dp->event_cfg_fd, &key, &cfg, BPF_ANY) ? -errno : 0;
}

static __u32 xdp_flags_for(enum pso_mode mode)
{
	__u32 flags = XDP_FLAGS_UPDATE_IF_NOEXIST;

	switch (mode) {
	case PSO_MODE_HW:
		return flags | XDP_FLAGS_HW_MODE;
	case PSO_MODE_DRV:
		return flags | XDP_FLAGS_DRV_MODE;
	default:
		return flags | XDP_FLAGS_SKB_MODE;
	}
}

static void hw_unload(struct pso_port *port)
{
	if (port->hw_attached) {
		DECLARE_LIBBPF_OPTS(bpf_xdp_attach_opts, opts,
				    .old_prog_fd = bpf_program__fd(port->hw->progs.psoffload_xdp));

		if (bpf_xdp_detach(port->ifindex, XDP_FLAGS_HW_MODE, &opts))
			pso_warn("%s: could not detach the offloaded XDP program", port->name);
		port->hw_attached = false;
	}
	/* Destroying the object frees the program and the maps on the NIC. */
	psoffload_xdp_offload__destroy(port->hw);
	port->hw = NULL;
}

/* Why a device-bound load failed, in words an operator can act on. */
static const char *hw_refusal(int err)
{
	switch (-err) {
	case EINVAL:
	case EOPNOTSUPP:
	case ENODEV:
		return "the NIC or its driver refused it";
	case E2BIG:
	case ENOSPC:
	case ENOMEM:
		return "the NIC has no room for the program or its maps";
	case EACCES:
	case EPERM:
		return "the NIC's verifier rejected the program";
	default:
		return strerror(-err);
	}
}

void pso_dp_hw_size(struct psoffload_xdp_offload *skel, const struct pso_hw_opts *hw)
{
	struct bpf_map *map;

	if (hw->topics) {
		bpf_map__set_max_entries(skel->maps.pso_topics, hw->topics);
		bpf_map__set_max_entries(skel->maps.pso_topic_stats, hw->topics);
	}
	if (hw->clients)
		bpf_map__set_max_entries(skel->maps.pso_clients, hw->clients);
	/* A NIC with a per-map limit gets every map cut to it; a cut counter
	 * map counts only its first counters in the NIC. */
	bpf_object__for_each_map(map, skel->obj)
		if (hw->per_map && bpf_map__max_entries(map) > hw->per_map)
			bpf_map__set_max_entries(map, hw->per_map);
}

/*
 * hw mode: load the offload build bound to the device, its maps on the
 * NIC sized from the profile, fill the NIC's tables, then attach.
 */
static int hw_load(struct pso_port *port, const struct pso_hw_opts *hw,
		   const struct pso_port_cfg *cfg, char *err, size_t errlen)
{
	struct bpf_map *map;
	int ret;

	port->hw = psoffload_xdp_offload__open();
	if (!port->hw) {
		snprintf(err, errlen, "%s: cannot open the offload build: %s", port->name,
			 strerror(errno));
		return -errno;
	}
	bpf_program__set_ifindex(port->hw->progs.psoffload_xdp, port->ifindex);
	bpf_object__for_each_map(map, port->hw->obj)
		bpf_map__set_ifindex(map, port->ifindex);
	pso_dp_hw_size(port->hw, hw);
	port->hw_topics = bpf_map__max_entries(port->hw->maps.pso_topics);

	pso_log_libbpf_reset();
	ret = psoffload_xdp_offload__load(port->hw);
	if (ret) {
		const char *why = pso_log_libbpf_first();

		snprintf(err, errlen, "%s: the kernel refused the device-bound offload build: %s (%s%s%s)",
			 port->name, hw_refusal(ret), strerror(-ret), why[0] ? "; " : "", why);
		return ret;
	}
	/* The same entry as the host's pso_port_cfg holds (pso_port_table_set). */
	ret = pso_port_table_set_nic(bpf_map__fd(port->hw->maps.pso_port_cfg), cfg);
	if (ret) {
		snprintf(err, errlen, "%s: cannot write the NIC's port config: %s", port->name,
			 strerror(-ret));
		return ret;
	}
	if (hw->fill) {
		ret = hw->fill(hw->ctx, bpf_map__fd(port->hw->maps.pso_topics),
			       bpf_map__fd(port->hw->maps.pso_clients),
			       bpf_map__fd(port->hw->maps.pso_topic_stats), port->hw_topics);
		if (ret) {
			snprintf(err, errlen, "%s: cannot fill the NIC's tables: %s", port->name,
				 strerror(-ret));
			return ret;
		}
	}
	pso_log_libbpf_reset();
	/* The NIC keeps a netlink attachment (no link for an offloaded
	 * program here: see DESIGN, "Restart and recovery").  One left by a
	 * daemon before us that is ours by name is replaced in one step
	 * (XDP_FLAGS_REPLACE with the old program); meanwhile it serves the
	 * tables it had, and the host's path whatever it passes up. */
	{
		DECLARE_LIBBPF_OPTS(bpf_xdp_attach_opts, xopts, .old_prog_fd = -1);
		struct bpf_prog_info info = {};
		__u32 id = 0, len = sizeof(info);
		__u32 flags = XDP_FLAGS_HW_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST;
		int old_fd = -1;

		if (!bpf_xdp_query_id(port->ifindex, XDP_FLAGS_HW_MODE, &id) && id &&
		    (old_fd = bpf_prog_get_fd_by_id(id)) >= 0 &&
		    !bpf_obj_get_info_by_fd(old_fd, &info, &len) && !strcmp(info.name, "psoffload_xdp")) {
			xopts.old_prog_fd = old_fd;
			flags = XDP_FLAGS_HW_MODE | XDP_FLAGS_REPLACE;
		}
		ret = bpf_xdp_attach(port->ifindex, bpf_program__fd(port->hw->progs.psoffload_xdp),
				     flags, xopts.old_prog_fd >= 0 ? &xopts : NULL);
		if (old_fd >= 0)
			close(old_fd);
	}
	if (ret) {
		const char *why = pso_log_libbpf_first();

		snprintf(err, errlen, "%s: cannot attach XDP in hw mode: %s%s%s", port->name,
			 ret == -EBUSY || ret == -EEXIST ? "another program is offloaded already"
							  : strerror(-ret),
			 why[0] ? "; " : "", why);
		return ret;
	}
	port->hw_attached = true;
	bpf_xdp_query_id(port->ifindex, XDP_FLAGS_HW_MODE, &port->hw_prog_id);
	return 0;
}

/* Port tables go through the table writer, with its grace periods
 * (deferred once the daemon started them); before the tables exist, the
 * same protocol waits inline. */
static int port_set(struct pso_dataplane *dp, const struct pso_port_cfg *cfg)
{
	if (dp->tables)
		return pso_port_table_set_deferred(dp->tables, dp->port_cfg_fd, dp->port_slots_fd, cfg);
	return pso_port_table_set(dp->port_cfg_fd, dp->port_slots_fd, cfg, pso_tables_sync_rcu, NULL);
}

static void port_remove(struct pso_dataplane *dp, __u32 ifindex)
{
	if (dp->tables)
		pso_port_table_remove_deferred(dp->tables, dp->port_cfg_fd, dp->port_slots_fd, ifindex);
	else
		pso_port_table_remove(dp->port_cfg_fd, dp->port_slots_fd, ifindex, pso_tables_sync_rcu,
				      NULL);
}

static void link_drop(struct pso_dataplane *dp, int *fd, const char *kind, const char *ifname)
{
	char path[512];

	if (*fd >= 0) {
		bpf_link_detach(*fd);
		close(*fd);
		*fd = -1;
	}
	if (dp->pin_dir[0]) {
		pso_link_pin_path(dp->pin_dir, kind, ifname, path, sizeof(path));
		unlink(path);
	}
}

static void detach_port(struct pso_dataplane *dp, struct pso_port *port)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = port->ifindex,
			    .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, tc_opts, .handle = PSO_TC_HANDLE,
			    .priority = PSO_TC_PRIORITY);
	struct pso_meta_port *mp;
	__u32 key = port->ifindex;
	char name[IF_NAMESIZE];

	/* The interface is gone: the kernel took its programs with it. */
	if (!if_indextoname(port->ifindex, name)) {
		port->xdp_attached = port->tc_attached = port->clsact_created = false;
		if (port->hw)
			port->hw_attached = false;
	}
	if (port->hw)
		hw_unload(port);
	/* A link detaches only our program, never someone else's. */
	link_drop(dp, &port->xdp_link_fd, "xdp", port->name);
	port->xdp_attached = false;
	link_drop(dp, &port->tc_link_fd, "tc", port->name);
	if (port->tc_attached && port->tc_kind == PSO_TC_FILTER) {
		if (bpf_tc_detach(&hook, &tc_opts))
			pso_warn("%s: could not detach TC filter", port->name);
	}
	port->tc_attached = false;
	if (port->clsact_created) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
		port->clsact_created = false;
	}
	mp = meta_port(dp, port->ifindex, false);
	if (mp) {
		memset(mp, 0, sizeof(*mp));
		pso_dp_meta_sync(dp);
	}
	pso_devmap_set(dp->devmap_fd, key, 0);
	port_remove(dp, key);
}

/* The XDP mode a link serves in: the attached program of that mode is
 * the link's. */
static bool link_in_mode(int ifindex, enum pso_mode mode, uint32_t link_prog)
{
	__u32 id = 0;

	return !bpf_xdp_query_id(ifindex, xdp_flags_for(mode) & ~XDP_FLAGS_UPDATE_IF_NOEXIST, &id) &&
	       id == link_prog;
}

/*
 * The host XDP program through a bpf_link, pinned: an adopted link of the
 * port in the same mode gets the new program in one step (bpf_link_update);
 * else a new link.  A link of the port in another mode goes first (the
 * port passes everything to the stack in between: logged).
 */
static int xdp_link_attach(struct pso_dataplane *dp, struct pso_port *port, enum pso_mode mode,
			   char *err, size_t errlen)
{
	DECLARE_LIBBPF_OPTS(bpf_link_create_opts, lopts,
			    .flags = xdp_flags_for(mode) & ~XDP_FLAGS_UPDATE_IF_NOEXIST);
	int prog_fd = bpf_program__fd(dp->xdp->progs.psoffload_xdp);
	char path[512] = "";
	uint32_t prog_id;
	int fd, ret;

	if (dp->pin_dir[0]) {
		pso_link_pin_path(dp->pin_dir, "xdp", port->name, path, sizeof(path));
		fd = pso_link_open(path, false, port->ifindex, &prog_id);
		if (fd >= 0 && link_in_mode(port->ifindex, mode, prog_id)) {
			if (bpf_link_update(fd, prog_fd, NULL)) {
				ret = -errno;
				close(fd);
				snprintf(err, errlen, "%s: cannot replace the adopted XDP program: %s",
					 port->name, strerror(-ret));
				return ret;
			}
			port->xdp_link_fd = fd;
			port->adopted = true;
			return 0;
		}
		if (fd >= 0) {
			pso_warn("%s: the adopted XDP link runs in another mode than %s: replaced "
				 "(the port passes everything to the stack for a moment)",
				 port->name, pso_mode_name(mode));
			bpf_link_detach(fd);
			close(fd);
			unlink(path);
		} else if (fd == -EPROTO) {
			snprintf(err, errlen, "%s: %s is not an XDP link of this interface", port->name,
				 path);
			return -EPROTO;
		}
	}
	fd = bpf_link_create(prog_fd, port->ifindex, BPF_XDP, &lopts);
	if (fd < 0) {
		ret = -errno;
		if (ret == -EBUSY || ret == -EEXIST)
			snprintf(err, errlen, "%s: another XDP program is already attached; remove it first",
				 port->name);
		else if (ret == -EOPNOTSUPP && mode == PSO_MODE_DRV)
			snprintf(err, errlen, "%s: the driver has no native XDP (%s); try --mode=skb",
				 port->name, strerror(-ret));
		else
			snprintf(err, errlen, "%s: cannot attach XDP in %s mode: %s", port->name,
				 pso_mode_name(mode), strerror(-ret));
		return ret;
	}
	port->xdp_link_fd = fd;
	if (path[0] && bpf_obj_pin(fd, path)) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot pin its XDP link at %s: %s", port->name, path,
			 strerror(-ret));
		return ret;
	}
	return 0;
}

/*
 * The TC fan-out program: a tcx link (pinned, replaced with
 * bpf_link_update) where the kernel has tcx, else a clsact cls_bpf filter
 * at PSO_TC_HANDLE / PSO_TC_PRIORITY, replaced in place (BPF_TC_F_REPLACE)
 * when the one found there is ours (its program reads our pso_topics).
 */
static int tc_attach(struct pso_dataplane *dp, struct pso_port *port, char *err, size_t errlen)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = port->ifindex,
			    .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, tc_opts, .handle = PSO_TC_HANDLE,
			    .priority = PSO_TC_PRIORITY);
	int prog_fd = bpf_program__fd(dp->tc->progs.psoffload_tc);
	struct pso_meta_port *mp = meta_port(dp, port->ifindex, true);
	char path[512] = "", name[32];
	uint32_t prog_id;
	int fd, ret;

	if (dp->pin_dir[0]) {
		pso_link_pin_path(dp->pin_dir, "tc", port->name, path, sizeof(path));
		fd = pso_link_open(path, true, port->ifindex, &prog_id);
		if (fd >= 0) {
			if (bpf_link_update(fd, prog_fd, NULL)) {
				ret = -errno;
				close(fd);
				snprintf(err, errlen, "%s: cannot replace the adopted TC program: %s",
					 port->name, strerror(-ret));
				return ret;
			}
			port->tc_link_fd = fd;
			port->tc_kind = PSO_TC_TCX;
			goto done;
		}
	}
	fd = pso_tcx_create(prog_fd, port->ifindex);
	if (fd >= 0) {
		port->tc_link_fd = fd;
		port->tc_kind = PSO_TC_TCX;
		if (path[0] && bpf_obj_pin(fd, path)) {
			ret = -errno;
			snprintf(err, errlen, "%s: cannot pin its TC link at %s: %s", port->name, path,
				 strerror(-ret));
			return ret;
		}
		goto done;
	}
	if (fd != -EINVAL) {
		snprintf(err, errlen, "%s: cannot attach the TC program (tcx): %s", port->name,
			 strerror(-fd));
		return fd;
	}
	/* No tcx (before Linux 6.6): a filter, ours by its handle and maps. */
	ret = bpf_tc_hook_create(&hook);
	if (ret && ret != -EEXIST) {
		snprintf(err, errlen, "%s: cannot create clsact qdisc: %s", port->name, strerror(-ret));
		return ret;
	}
	port->clsact_created = ret == 0 || (mp && mp->clsact_created);
	port->tc_kind = PSO_TC_FILTER;
	if (!bpf_tc_query(&hook, &tc_opts)) {
		if (!pso_prog_uses_map(tc_opts.prog_id, dp->topics_fd, name, sizeof(name))) {
			snprintf(err, errlen, "%s: another TC ingress filter (program %u, %s) holds "
				 "handle %#x priority %u; remove it first", port->name, tc_opts.prog_id,
				 name[0] ? name : "?", PSO_TC_HANDLE, PSO_TC_PRIORITY);
			return -EBUSY;
		}
		port->adopted = true;
		tc_opts.prog_id = 0;
		tc_opts.flags = BPF_TC_F_REPLACE;
	}
	tc_opts.prog_fd = prog_fd;
	ret = bpf_tc_attach(&hook, &tc_opts);
	if (ret) {
		snprintf(err, errlen, "%s: cannot attach TC ingress filter: %s", port->name,
			 strerror(-ret));
		return ret;
	}
done:
	if (mp) {
		mp->clsact_created = port->clsact_created;
		mp->tc_kind = port->tc_kind;
	}
	return 0;
}

int pso_dp_attach(struct pso_dataplane *dp, const char *ifname, enum pso_mode mode,
		  enum pso_mode host_mode, const struct pso_hw_opts *hw,
		  const struct pso_port_cfg *cfg, char *err, size_t errlen)
{
	struct pso_port *port;
	__u32 key;
	int ret;

	if (dp->nports >= PSO_MAX_PORTS) {
		snprintf(err, errlen, "%s: too many interfaces (at most %d)", ifname, PSO_MAX_PORTS);
		return -ENOSPC;
	}
	if (mode != PSO_MODE_HW)
		host_mode = mode;
	if ((host_mode != PSO_MODE_DRV && host_mode != PSO_MODE_SKB) || (mode == PSO_MODE_HW && !hw)) {
		snprintf(err, errlen, "%s: mode %s cannot be attached", ifname, pso_mode_name(mode));
		return -EINVAL;
	}
	port = &dp->ports[dp->nports];
	memset(port, 0, sizeof(*port));
	snprintf(port->name, sizeof(port->name), "%s", ifname);
	port->ifindex = cfg->ifindex;
	port->mode = mode;
	port->host_mode = host_mode;
	port->cfg = *cfg;
	port->xdp_link_fd = port->tc_link_fd = -1;

	if (mode == PSO_MODE_HW) {
		ret = hw_load(port, hw, cfg, err, errlen);
		if (ret)
			goto fail;
	}
	key = port->ifindex;

	/* Tables first, so the first packet the program sees finds its port. */
	ret = port_set(dp, cfg);
	if (!ret)
		ret = pso_devmap_set(dp->devmap_fd, key, 1);
	if (ret) {
		snprintf(err, errlen, "%s: cannot write port tables: %s", ifname, strerror(-ret));
		goto fail;
	}

	ret = xdp_link_attach(dp, port, host_mode, err, errlen);
	if (ret)
		goto fail;
	port->xdp_attached = true;
	bpf_xdp_query_id(port->ifindex, xdp_flags_for(host_mode) & ~XDP_FLAGS_UPDATE_IF_NOEXIST,
			 &port->xdp_prog_id);
	ret = tc_attach(dp, port, err, errlen);
	if (ret)
		goto fail;
	port->tc_attached = true;
	{
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		if (!bpf_obj_get_info_by_fd(bpf_program__fd(dp->tc->progs.psoffload_tc), &info, &len))
			port->tc_prog_id = info.id;
	}
	pso_dp_meta_sync(dp);
	dp->nports++;
	return 0;
fail:
	/* A failure over an adopted port leaves it as it runs. */
	if (!port->adopted)
		detach_port(dp, port);
	return ret ? ret : -EIO;
}

int pso_dp_port_update(struct pso_dataplane *dp, int ifindex, const struct pso_port_cfg *cfg)
{
	struct pso_port *port = pso_dp_port_by_ifindex(dp, ifindex);
	int ret;

	if (!port)
		return -ENODEV;
	ret = port_set(dp, cfg);
	if (!ret && port->hw)
		ret = pso_port_table_set_nic(bpf_map__fd(port->hw->maps.pso_port_cfg), cfg);
	if (ret)
		return ret;
	port->cfg = *cfg;
	return 0;
}

void pso_dp_detach(struct pso_dataplane *dp, int ifindex)
{
	for (int i = 0; i < dp->nports; i++) {
		if (dp->ports[i].ifindex != ifindex)
			continue;
		detach_port(dp, &dp->ports[i]);
		dp->ports[i] = dp->ports[--dp->nports];
		/* A port that shared the freed slot moves into it. */
		for (int j = 0; j < dp->nports; j++)
			if (pso_port_slot_of(dp->ports[j].ifindex) == pso_port_slot_of(ifindex))
				port_set(dp, &dp->ports[j].cfg);
		return;
	}
}

struct pso_port *pso_dp_port_by_ifindex(struct pso_dataplane *dp, int ifindex)
{
	for (int i = 0; i < dp->nports; i++)
		if (dp->ports[i].ifindex == ifindex)
			return &dp->ports[i];
	return NULL;
}

void pso_dp_detach_all(struct pso_dataplane *dp)
{
	if (dp->xdp)
		for (int i = 0; i < dp->nports; i++)
			detach_port(dp, &dp->ports[i]);
	dp->nports = 0;
}

void pso_dp_close(struct pso_dataplane *dp)
{
	if (dp->keep) {
		/* The links and pins hold the data plane without us. */
		for (int i = 0; i < dp->nports; i++) {
			struct pso_port *port = &dp->ports[i];

			if (port->xdp_link_fd >= 0)
				close(port->xdp_link_fd);
			if (port->tc_link_fd >= 0)
				close(port->tc_link_fd);
			if (port->hw)
				psoffload_xdp_offload__destroy(port->hw);
		}
		dp->nports = 0;
		dp->pin_dir[0] = '\0';
	}
	pso_dp_detach_all(dp);
	dp->tables = NULL;
	unpin_maps(dp);
	psoffload_tc__destroy(dp->tc);
	psoffload_xdp__destroy(dp->xdp);
	dp->tc = NULL;
	dp->xdp = NULL;
}

int pso_dp_read_counters(int counters_fd, __u64 *out)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int ncpu = 1;
	__u64 *vals;

	if (bpf_obj_get_info_by_fd(counters_fd, &info, &len))
		return -errno;
	if (info.type == BPF_MAP_TYPE_PERCPU_ARRAY) {
		ncpu = libbpf_num_possible_cpus();
		if (ncpu < 1)
			return ncpu;
	}
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (__u32 i = 0; i < PSO_CNT__MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(counters_fd, &i, vals))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[i] += vals[c];
	}
	free(vals);
	return 0;
}

int pso_dp_read_topic_stats(int topic_stats_fd, uint16_t id, struct pso_topic_stats *out)
{
	static int ncpu;
	struct bpf_map_info info = {};
	__u32 len = sizeof(info), key = id;
	int n = 1;

	if (bpf_obj_get_info_by_fd(topic_stats_fd, &info, &len))
		return -errno;
	if (info.type == BPF_MAP_TYPE_PERCPU_ARRAY) {
		if (!ncpu)
			ncpu = libbpf_num_possible_cpus();
		if (ncpu < 1)
			return ncpu ? ncpu : -EINVAL;
		n = ncpu;
	}
	{
		struct pso_topic_stats vals[n];

		memset(out, 0, sizeof(*out));
		if (bpf_map_lookup_elem(topic_stats_fd, &key, vals))
			return -errno;
		for (int c = 0; c < n; c++) {
			out->msgs += vals[c].msgs;
			out->bytes += vals[c].bytes;
		}
	}
	return 0;
}
