// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * dataplane.c - load the XDP and TC programs once, attach them per port.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

#define PSO_TC_HANDLE   0x50f0
#define PSO_TC_PRIORITY 1

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
		snprintf(path, sizeof(path), "%s/%s", pin_dir, bpf_map__name(map));
		/* A pin left by a daemon that died is stale: replace it. */
		if (unlink(path) == 0)
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
	rmdir(dp->pin_dir);
	dp->pin_dir[0] = '\0';
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

int pso_dp_load(struct pso_dataplane *dp, const struct pso_dp_sizes *sizes, const char *pin_dir,
		char *err, size_t errlen)
{
	int ret;

	memset(dp, 0, sizeof(*dp));
	if (sizes->topics < 2 || sizes->topics > PSO_MAX_TOPICS || !sizes->clients ||
	    sizes->clients > PSO_MAX_CLIENTS) {
		snprintf(err, errlen, "table sizes %u topics, %u clients: out of this build's range",
			 sizes->topics, sizes->clients);
		return -ERANGE;
	}
	dp->xdp = psoffload_xdp__open();
	if (!dp->xdp) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the XDP program: %s", strerror(errno));
		return ret;
	}
	/* Before load: the TC program reuses these maps as they are made. */
	bpf_map__set_max_entries(dp->xdp->maps.pso_topics, sizes->topics);
	bpf_map__set_max_entries(dp->xdp->maps.pso_topic_stats, sizes->topics);
	bpf_map__set_max_entries(dp->xdp->maps.pso_subs, sizes->topics * PSO_MAX_SUBS);
	bpf_map__set_max_entries(dp->xdp->maps.pso_short_names, sizes->topics);
	bpf_map__set_max_entries(dp->xdp->maps.pso_clients, sizes->clients);
	dp->sizes = *sizes;
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
	}
	return 0;
fail:
	pso_dp_close(dp);
	return ret;
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
	ret = bpf_xdp_attach(port->ifindex, bpf_program__fd(port->hw->progs.psoffload_xdp),
			     XDP_FLAGS_HW_MODE | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
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

static void detach_port(struct pso_dataplane *dp, struct pso_port *port)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = port->ifindex,
			    .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, tc_opts, .handle = PSO_TC_HANDLE,
			    .priority = PSO_TC_PRIORITY);
	DECLARE_LIBBPF_OPTS(bpf_xdp_attach_opts, xdp_opts,
			    .old_prog_fd = bpf_program__fd(dp->xdp->progs.psoffload_xdp));
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
	if (port->xdp_attached) {
		/* old_prog_fd: remove only our program, never someone else's. */
		if (bpf_xdp_detach(port->ifindex, xdp_flags_for(port->host_mode) & ~XDP_FLAGS_UPDATE_IF_NOEXIST,
				   &xdp_opts))
			pso_warn("%s: could not detach XDP program", port->name);
		port->xdp_attached = false;
	}
	if (port->tc_attached) {
		if (bpf_tc_detach(&hook, &tc_opts))
			pso_warn("%s: could not detach TC filter", port->name);
		port->tc_attached = false;
	}
	if (port->clsact_created) {
		hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS;
		bpf_tc_hook_destroy(&hook);
		port->clsact_created = false;
	}
	pso_devmap_set(dp->devmap_fd, key, 0);
	port_remove(dp, key);
}

int pso_dp_attach(struct pso_dataplane *dp, const char *ifname, enum pso_mode mode,
		  enum pso_mode host_mode, const struct pso_hw_opts *hw,
		  const struct pso_port_cfg *cfg, char *err, size_t errlen)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .attach_point = BPF_TC_INGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, tc_opts, .handle = PSO_TC_HANDLE,
			    .priority = PSO_TC_PRIORITY);
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

	ret = bpf_xdp_attach(port->ifindex, bpf_program__fd(dp->xdp->progs.psoffload_xdp),
			     xdp_flags_for(host_mode), NULL);
	if (ret) {
		if (ret == -EBUSY || ret == -EEXIST)
			snprintf(err, errlen, "%s: another XDP program is already attached; remove it first",
				 ifname);
		else if (ret == -EOPNOTSUPP && host_mode == PSO_MODE_DRV)
			snprintf(err, errlen, "%s: the driver has no native XDP (%s); try --mode=skb",
				 ifname, strerror(-ret));
		else
			snprintf(err, errlen, "%s: cannot attach XDP in %s mode: %s", ifname,
				 pso_mode_name(host_mode), strerror(-ret));
		goto fail;
	}
	port->xdp_attached = true;
	bpf_xdp_query_id(port->ifindex, xdp_flags_for(host_mode) & ~XDP_FLAGS_UPDATE_IF_NOEXIST,
			 &port->xdp_prog_id);

	hook.ifindex = port->ifindex;
	ret = bpf_tc_hook_create(&hook);
	if (ret && ret != -EEXIST) {
		snprintf(err, errlen, "%s: cannot create clsact qdisc: %s", ifname, strerror(-ret));
		goto fail;
	}
	port->clsact_created = ret == 0;
	tc_opts.prog_fd = bpf_program__fd(dp->tc->progs.psoffload_tc);
	ret = bpf_tc_attach(&hook, &tc_opts);
	if (ret) {
		snprintf(err, errlen, "%s: cannot attach TC ingress filter: %s", ifname, strerror(-ret));
		goto fail;
	}
	port->tc_attached = true;
	port->tc_prog_id = tc_opts.prog_id;
	dp->nports++;
	return 0;
fail:
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
