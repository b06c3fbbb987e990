// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * controller.c - one interface's mode, attach and detach; link and address
 * events; redirect targets; hw-mode topic placement (see controller.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "ctl/controller.h"
#include "ctl/mode.h"
#include "ctl/nexthop.h"
#include "ctl/placement.h"
#include "psoffload_xdp_offload.skel.h"
#include "tables/porttab.h"
#include "tables/tables.h"
#include "util/log.h"


static int port_config(struct pso_ctl *ctl, const char *ifname, struct pso_port_cfg *cfg,
		       char *err, size_t errlen);

/* The NIC's table sizes, from its profile. */
static struct pso_hw_opts hw_opts_for(struct pso_ctl *ctl, const struct pso_nic_profile *p);
static void port_addresses_check(struct pso_ctl *ctl, struct pso_iface *f);

/*
 * Does the offload build fit this profile?  Checked as it would be loaded:
 * the embedded object, its maps sized for the NIC.  0 fits, 1 does not (why
 * gets the first violation), negative when the check could not run.
 */
static int offload_check(struct pso_ctl *ctl, const struct pso_nic_profile *p,
			 char *why, size_t len)
{
	struct psoffload_xdp_offload *skel = psoffload_xdp_offload__open();
	struct pso_hw_opts hw = hw_opts_for(ctl, p);
	struct pso_violations v = { 0 };
	int ret;

	if (!skel) {
		snprintf(why, len, "cannot open the offload build: %s", strerror(errno));
		return -EIO;
	}
	pso_dp_hw_size(skel, &hw);
	ret = pso_check_bpf_object(skel->obj, &p->offload, &v);
	if (ret == 1 && v.cnt)
		pso_violation_format(&v.v[0], why, len);
	else if (ret < 0)
		snprintf(why, len, "%s", v.error);
	pso_violations_free(&v);
	psoffload_xdp_offload__destroy(skel);
	return ret;
}

/* hw mode: the NIC's tables are filled, and then kept, by the table writer. */
static int nic_fill(void *ctx, int topics_fd, int clients_fd, int stats_fd, uint32_t topics)
{
	struct pso_ctl *ctl = ctx;
	int ret = pso_tables_mirror_add(ctl->tables, topics_fd, clients_fd, stats_fd, topics);

	if (!ret)
		ctl->filled_nic_fd = topics_fd;
	return ret;
}

static struct pso_hw_opts hw_opts_for(struct pso_ctl *ctl, const struct pso_nic_profile *p)
{
	return (struct pso_hw_opts){
		.topics = p->offload_topics,
		.clients = p->offload_clients,
		.per_map = p->offload.max_entries_per_map,
		.fill = nic_fill,
		.ctx = ctl,
	};
}

static bool nic_native(const struct pso_iface *f)
{
	return f->nic.features_known ? (f->nic.xdp_features & PSO_XDP_F_BASIC) != 0
				     : f->profile.xdp_native;
}

static void iface_detach(struct pso_ctl *ctl, struct pso_iface *f)
{
	struct pso_port *port = pso_dp_port_by_ifindex(ctl->dp, f->ifindex);

	if (port && port->hw)
		pso_tables_mirror_remove(ctl->tables, bpf_map__fd(port->hw->maps.pso_topics));
	pso_dp_detach(ctl->dp, f->ifindex);
	f->attached = false;
	ctl->changed = true;
}

/*
 * Discover the NIC, pick its mode (mode.c) and attach, stepping down the
 * plan when the kernel refuses a mode at run time (auto only).  On failure
 * nothing stays attached to the interface and err has one line.
 */
static int iface_attach(struct pso_ctl *ctl, struct pso_iface *f, char *err, size_t errlen)
{
	struct pso_mode_input in = { .requested = f->requested, .offload_check = -1 };
	struct pso_hw_opts hw;
	struct pso_mode_plan plan;
	struct pso_port_cfg pc;
	char why[256] = "", feats[128];
	int ret = -EINVAL;

	ret = pso_nic_query(f->name, &f->nic, err, errlen);
	if (ret)
		return ret;
	f->ifindex = f->nic.ifindex;
	ret = pso_profile_for_driver(ctl->cfg.profiles_dir, f->nic.driver, &f->profile, err, errlen);
	if (ret)
		return ret;
	in.features_known = f->nic.features_known;
	in.xdp_features = f->nic.xdp_features;
	in.profile = &f->profile;
	if (f->profile.hw_offload ||
	    (f->nic.features_known && (f->nic.xdp_features & PSO_XDP_F_HW_OFFLOAD)))
		in.offload_check = offload_check(ctl, &f->profile, why, sizeof(why));
	in.offload_check_why = why;
	pso_mode_choose(f->name, &in, &plan);
	if (!plan.ok) {
		snprintf(err, errlen, "%s", plan.error);
		return -EOPNOTSUPP;
	}
	ret = port_config(ctl, f->name, &pc, err, errlen);
	if (ret)
		return ret;

	snprintf(f->reason, sizeof(f->reason), "%s", plan.reason);
	hw = hw_opts_for(ctl, &f->profile);
	for (int i = 0; i < plan.nsteps; i++) {
		enum pso_mode mode = plan.steps[i];
		enum pso_mode host = nic_native(f) ? PSO_MODE_DRV : PSO_MODE_SKB;
		size_t n = strlen(f->reason);

		ctl->filled_nic_fd = -1;
		ret = pso_dp_attach(ctl->dp, f->name, mode, host, &hw, &pc, err, errlen);
		if (!ret) {
			f->mode = mode;
			break;
		}
		/* The NIC's maps were filled before the attach failed, and are
		 * gone with the failed load: stop writing to them. */
		if (ctl->filled_nic_fd >= 0)
			pso_tables_mirror_remove(ctl->tables, ctl->filled_nic_fd);
		if (i + 1 == plan.nsteps)
			break;
		pso_warn("%s; falling back to %s mode", err, pso_mode_name(plan.steps[i + 1]));
		snprintf(f->reason + n, sizeof(f->reason) - n, "; %s failed (%s), so %s",
			 pso_mode_name(mode), err, pso_mode_name(plan.steps[i + 1]));
	}
	if (ret) {
		if (f->requested != PSO_MODE_AUTO && f->requested != PSO_MODE_SKB) {
			size_t n = strlen(err);

			snprintf(err + n, errlen - n, "; try --mode=%s",
				 f->requested == PSO_MODE_HW && nic_native(f) ? "drv" : "skb");
		}
		return ret;
	}
	f->attached = true;
	ctl->changed = true;
	{
		struct pso_link_info li;

		if (!pso_nh_link(ctl->nh, f->ifindex, &li)) {
			f->up = li.up;
			f->mtu = li.mtu;
		}
	}
	pso_info("%s: driver %s, XDP features %s, profile %s: %s mode (%s)", f->name,
		 f->nic.driver[0] ? f->nic.driver : "?",
		 f->nic.features_known ? pso_xdp_features_str(f->nic.xdp_features, feats, sizeof(feats))
				       : "unknown",
		 f->profile.name, pso_mode_name(f->mode), f->reason);
	return 0;
}

/*
 * A native-mode XDP_REDIRECT reaches a port only if its driver can transmit
 * XDP frames (ndo-xmit; a veth only while its peer runs XDP).  Ports that
 * cannot stay out of the devmap: one-subscriber publishes to them take the
 * TC path instead of being lost.  Generic-mode redirects go through the
 * stack and reach any device.
 */
void pso_ctl_redirect_targets(struct pso_ctl *ctl)
{
	bool any_native = false;

	for (int i = 0; i < ctl->nifaces; i++)
		if (ctl->ifaces[i].attached && ctl->ifaces[i].mode != PSO_MODE_SKB)
			any_native = true;
	for (int i = 0; i < ctl->nifaces; i++) {
		struct pso_iface *f = &ctl->ifaces[i];
		__u32 key = f->ifindex;
		bool ok;

		if (!f->attached)
			continue;
		pso_nic_query(f->name, &f->nic, NULL, 0);
		ok = !any_native || (f->nic.features_known ? (f->nic.xdp_features & PSO_XDP_F_NDO_XMIT)
							   : f->profile.xdp_redirect);
		pso_devmap_set(ctl->dp->devmap_fd, key, ok);
	}
}

/* Interfaces that went away, came back, went down or changed MTU. */
void pso_ctl_links_changed(struct pso_ctl *ctl)
{
	char err[400];
	bool changed = false;

	for (int i = 0; i < ctl->nifaces; i++) {
		struct pso_iface *f = &ctl->ifaces[i];
		int ifindex = if_nametoindex(f->name);
		struct pso_link_info li;

		if (f->attached && ifindex != f->ifindex) {
			pso_warn("%s: interface gone; serving the other interfaces", f->name);
			iface_detach(ctl, f);
			snprintf(f->reason, sizeof(f->reason), "interface gone");
			f->ifindex = 0;
			changed = true;
		}
		if (!f->attached && ifindex && ifindex != f->tried_ifindex) {
			/* Not before the link is in the caches and has an
			 * address: a re-created link gets its addresses after
			 * it appears, and its notifications may still be
			 * queued.  Their arrival calls us again. */
			if (pso_nh_link(ctl->nh, ifindex, &li) || (!li.has_ip4 && !li.has_ip6))
				continue;
			f->tried_ifindex = ifindex;	/* once per incarnation */
			if (iface_attach(ctl, f, err, sizeof(err))) {
				pso_warn("%s: back, but cannot attach: %s", f->name, err);
				snprintf(f->reason, sizeof(f->reason), "cannot attach: %s", err);
				continue;
			}
			pso_info("%s: interface back: serving it again", f->name);
			changed = true;
		}
		if (!f->attached || pso_nh_link(ctl->nh, f->ifindex, &li))
			continue;
		if (li.up != f->up)
			pso_info("%s: link %s", f->name, li.up ? "up" : "down");
		if (f->mtu && li.mtu != f->mtu)
			pso_info("%s: MTU %u -> %u", f->name, f->mtu, li.mtu);
		if (li.up != f->up || li.mtu != f->mtu)
			ctl->changed = true;
		f->up = li.up;
		f->mtu = li.mtu;
		port_addresses_check(ctl, f);
	}
	if (changed)
		pso_ctl_redirect_targets(ctl);
}

/* ---- hw mode: the busiest topics in the NIC -------------------------------- */

#define PLACEMENT_HYSTERESIS_PCT 25
#define PLACEMENT_MIN_MARGIN 4		/* messages per interval */

static uint64_t host_topic_msgs(struct pso_ctl *ctl, uint32_t id)
{
	int ncpu = libbpf_num_possible_cpus();
	struct pso_topic_stats vals[ncpu > 0 ? ncpu : 1];
	uint64_t sum = 0;

	if (ncpu < 1 || bpf_map_lookup_elem(ctl->dp->topic_stats_fd, &id, vals))
		return 0;
	for (int c = 0; c < ncpu; c++)
		sum += vals[c].msgs;
	return sum;
}

static uint64_t nic_topic_msgs(const struct pso_tables *t, uint32_t id)
{
	uint64_t sum = 0;

	for (int i = 0; i < t->nmirrors; i++) {
		struct pso_topic_stats st;

		if (pso_tables_mirror_is_placed(&t->mirrors[i], id) &&
		    !bpf_map_lookup_elem(t->mirrors[i].stats_fd, &id, &st))
			sum += st.msgs;
	}
	return sum;
}

static void log_placement(struct pso_port *port, const struct pso_place_plan *plan)
{
	char buf[256];
	size_t off = 0;

	for (int i = 0; i < plan->nplace && off < sizeof(buf); i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s+%u", off ? " " : "", plan->place[i]);
	for (int i = 0; i < plan->nunplace && off < sizeof(buf); i++)
		off += snprintf(buf + off, sizeof(buf) - off, "%s-%u", off ? " " : "", plan->unplace[i]);
	pso_info("%s: NIC topic table: %s", port->name, buf);
}

/*
 * Every interval: message rates of all topics (host counters plus the
 * NICs'), then per hw port the plan of placement.c, applied.  Placing
 * writes the NIC's entry whole and taking out deletes it, so each publish
 * is served by exactly one of the NIC and the host: none lost, none twice.
 */
static void placement_round(struct pso_ctl *ctl)
{
	struct pso_place_topic *topics;
	uint16_t *place, *unplace;
	int n = 0;
	bool any = false;

	for (int i = 0; i < ctl->dp->nports; i++)
		any |= ctl->dp->ports[i].hw_attached;
	if (!any)
		return;
	topics = calloc(ctl->max_topics, sizeof(*topics));
	place = calloc(ctl->max_topics, sizeof(*place));
	unplace = calloc(ctl->max_topics, sizeof(*unplace));
	if (!topics || !place || !unplace)
		goto out;
	for (uint32_t id = 1; id < ctl->max_topics; id++) {
		uint64_t total;

		if (!(pso_tables_topic(ctl->tables, id)->flags & PSO_TOPIC_F_VALID)) {
			/* A freed topic's id starts from zero (tables/recycle.c). */
			ctl->topic_last[id] = ctl->topic_retired[id] = 0;
			continue;
		}
		total = host_topic_msgs(ctl, id) + nic_topic_msgs(ctl->tables, id) + ctl->topic_retired[id];
		topics[n].id = id;
		/* Lower than last time: the id was freed and reused since. */
		topics[n].rate = total >= ctl->topic_last[id] ? total - ctl->topic_last[id] : total;
		ctl->topic_last[id] = total;
		n++;
	}
	for (int p = 0; p < ctl->dp->nports; p++) {
		struct pso_port *port = &ctl->dp->ports[p];
		struct pso_place_plan plan = { .place = place, .unplace = unplace };
		struct pso_tables_mirror *m;

		if (!port->hw_attached)
			continue;
		m = pso_ctl_nic_mirror(ctl, port);
		if (!m)
			continue;
		for (int i = 0; i < n; i++) {
			const struct pso_topic *t = pso_tables_topic(ctl->tables, topics[i].id);

			/* The NIC finishes only one subscriber behind its own port. */
			topics[i].candidate = t->sub_count == 1 && t->first.ifindex == (__u32)port->ifindex &&
					      (t->first.flags & PSO_SUB_F_RESOLVED);
			topics[i].placed = pso_tables_mirror_is_placed(m, topics[i].id);
		}
		pso_placement_plan(topics, n, m->capacity, PLACEMENT_HYSTERESIS_PCT,
				   PLACEMENT_MIN_MARGIN, &plan);
		for (int i = 0; i < plan.nunplace; i++) {
			struct pso_topic_stats last = { 0 };

			if (!pso_tables_mirror_unplace(ctl->tables, m, plan.unplace[i], &last))
				ctl->topic_retired[plan.unplace[i]] += last.msgs;
		}
		for (int i = 0; i < plan.nplace; i++)
			if (pso_tables_mirror_place(ctl->tables, m, plan.place[i]))
				pso_warn("%s: cannot place topic %u in the NIC", port->name, plan.place[i]);
		if (plan.nplace || plan.nunplace) {
			log_placement(port, &plan);
			ctl->changed = true;
		}
	}
out:
	free(topics);
	free(place);
	free(unplace);
}


/* The port's addresses and MAC from the kernel's caches; cfg is filled
 * also when the link has no address to serve on (-EADDRNOTAVAIL). */
static int port_config(struct pso_ctl *ctl, const char *ifname, struct pso_port_cfg *cfg,
		       char *err, size_t errlen)
{
	struct pso_link_info li;
	int ifindex = if_nametoindex(ifname);

	if (!ifindex) {
		snprintf(err, errlen, "%s: no such interface", ifname);
		return -ENODEV;
	}
	if (pso_nh_link(ctl->nh, ifindex, &li)) {
		snprintf(err, errlen, "%s: cannot read the link's addresses", ifname);
		return -ENODEV;
	}
	memset(cfg, 0, sizeof(*cfg));
	cfg->ifindex = ifindex;
	cfg->udp_port = htons(ctl->cfg.udp_port);
	memcpy(cfg->mac, li.mac, sizeof(cfg->mac));
	if (li.has_ip4)
		memcpy(&cfg->ip4, li.ip4, 4);
	if (li.has_ip6)
		memcpy(cfg->ip6, li.ip6, 16);
	if (!li.has_ip4 && !li.has_ip6) {
		snprintf(err, errlen, "%s: no IPv4 or global IPv6 address to serve on", ifname);
		return -EADDRNOTAVAIL;
	}
	return 0;
}

static const char *addr_str(int family, const void *a, char *buf, size_t len)
{
	static const uint8_t zero[16];

	if (!memcmp(a, zero, family == AF_INET ? 4 : 16))
		return "none";
	return inet_ntop(family, a, buf, len) ? buf : "?";
}

/*
 * An attached port's addresses (or MAC) changed: the data plane must judge
 * publishes by the new ones.  A port left with no address keeps its
 * programs, and passes everything to the stack until one comes back.
 */
static void port_addresses_check(struct pso_ctl *ctl, struct pso_iface *f)
{
	struct pso_port *port = pso_dp_port_by_ifindex(ctl->dp, f->ifindex);
	struct pso_port_cfg pc;
	char err[256], a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	char c[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	int ret;

	if (!port)
		return;
	ret = port_config(ctl, f->name, &pc, err, sizeof(err));
	if (ret && ret != -EADDRNOTAVAIL)
		return;
	pc.flags = port->cfg.flags;
	if (!memcmp(&pc, &port->cfg, sizeof(pc)))
		return;
	pso_info("%s: addresses changed: IPv4 %s -> %s, IPv6 %s -> %s%s", f->name,
		 addr_str(AF_INET, &port->cfg.ip4, a, sizeof(a)), addr_str(AF_INET, &pc.ip4, b, sizeof(b)),
		 addr_str(AF_INET6, port->cfg.ip6, c, sizeof(c)), addr_str(AF_INET6, pc.ip6, d, sizeof(d)),
		 ret ? " (no address left: everything goes to the stack)" : "");
	ret = pso_dp_port_update(ctl->dp, f->ifindex, &pc);
	if (ret)
		pso_warn("%s: cannot write the new addresses to the data plane: %s", f->name,
			 strerror(-ret));
	ctl->changed = true;
}

int pso_ctl_init(struct pso_ctl *ctl, const struct pso_ctl_cfg *cfg, struct pso_dataplane *dp,
		 struct pso_tables *tables, struct pso_nh *nh, uint32_t max_topics)
{
	memset(ctl, 0, sizeof(*ctl));
	ctl->cfg = *cfg;
	ctl->dp = dp;
	ctl->tables = tables;
	ctl->nh = nh;
	ctl->max_topics = max_topics;
	ctl->filled_nic_fd = -1;
	ctl->topic_last = calloc(max_topics, sizeof(*ctl->topic_last));
	ctl->topic_retired = calloc(max_topics, sizeof(*ctl->topic_retired));
	if (!ctl->topic_last || !ctl->topic_retired) {
		pso_ctl_free(ctl);
		return -ENOMEM;
	}
	return 0;
}

void pso_ctl_free(struct pso_ctl *ctl)
{
	free(ctl->topic_last);
	free(ctl->topic_retired);
	ctl->topic_last = ctl->topic_retired = NULL;
}

int pso_ctl_add(struct pso_ctl *ctl, const char *ifname, enum pso_mode mode, char *err,
		size_t errlen)
{
	struct pso_iface *f;

	if (ctl->nifaces >= PSO_MAX_PORTS) {
		snprintf(err, errlen, "too many interfaces (at most %d)", PSO_MAX_PORTS);
		return -E2BIG;
	}
	f = &ctl->ifaces[ctl->nifaces++];
	snprintf(f->name, sizeof(f->name), "%s", ifname);
	f->requested = mode;
	return iface_attach(ctl, f, err, errlen);
}

void pso_ctl_tick(struct pso_ctl *ctl, uint64_t now_ms)
{
	if (now_ms < ctl->next_placement_ms)
		return;
	/* A veth becomes a redirect target only when its peer gets XDP, and
	 * no link event says so. */
	pso_ctl_redirect_targets(ctl);
	placement_round(ctl);
	ctl->next_placement_ms = now_ms + ctl->cfg.placement_ms;
}

struct pso_tables_mirror *pso_ctl_nic_mirror(struct pso_ctl *ctl, const struct pso_port *port)
{
	if (!port->hw)
		return NULL;
	return pso_tables_mirror_find(ctl->tables, bpf_map__fd(port->hw->maps.pso_topics));
}

/* The kernel's dev_valid_name(), and IFNAMSIZ. */
_Static_assert(IF_NAMESIZE == 16, "the message below says 15");
static const char *ifname_problem(const char *name)
{
	if (!*name)
		return "an empty interface name";
	if (strlen(name) >= IF_NAMESIZE)
		return "longer than 15 characters (IFNAMSIZ - 1), the kernel's limit";
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return "not an interface name";
	for (const char *s = name; *s; s++)
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s))
			return "an interface name has no '/', ':' or blanks";
	return NULL;
}

int pso_ctl_check_ifnames(const char *const *ifnames, int n, char *err, size_t errlen)
{
	unsigned int ifindex[PSO_MAX_PORTS];

	if (n > PSO_MAX_PORTS) {
		snprintf(err, errlen, "too many interfaces (at most %d)", PSO_MAX_PORTS);
		return -E2BIG;
	}
	for (int i = 0; i < n; i++) {
		const char *why = ifname_problem(ifnames[i]);

		if (why) {
			snprintf(err, errlen, "interface '%s': %s", ifnames[i], why);
			return -EINVAL;
		}
		ifindex[i] = if_nametoindex(ifnames[i]);
		for (int j = 0; j < i; j++) {
			if (!strcmp(ifnames[i], ifnames[j])) {
				snprintf(err, errlen, "interface %s named twice", ifnames[i]);
				return -EINVAL;
			}
			if (ifindex[i] && ifindex[i] == ifindex[j]) {
				snprintf(err, errlen, "%s and %s are one interface (ifindex %u): name it once",
					 ifnames[j], ifnames[i], ifindex[i]);
				return -EINVAL;
			}
		}
	}
	return 0;
}

int pso_ctl_table_sizes(const struct pso_ctl_cfg *cfg, const char *const *ifnames, int n,
			struct pso_dp_sizes *sizes, char *err, size_t errlen)
{
	uint32_t topics = 0, clients = 0, subscriptions = 0;

	for (int i = 0; i < n; i++) {
		struct pso_nic_profile prof;
		struct pso_nic_info nic;
		char why[256];

		int ret;

		if (pso_nic_query(ifnames[i], &nic, why, sizeof(why)))
			continue;	/* attaching it says why */
		/* A broken profile stops the start before anything is loaded;
		 * the parser checked every value's range (profile.c). */
		ret = pso_profile_for_driver(cfg->profiles_dir, nic.driver, &prof, err, errlen);
		if (ret)
			return ret;
		if (prof.max_topics > topics)
			topics = prof.max_topics;
		if (prof.max_clients > clients)
			clients = prof.max_clients;
		if (prof.max_subscriptions > subscriptions)
			subscriptions = prof.max_subscriptions;
	}
	sizes->topics = cfg->sizes.topics ? cfg->sizes.topics : topics ? topics : PSO_DEFAULT_TOPICS;
	sizes->clients = cfg->sizes.clients ? cfg->sizes.clients :
			 clients ? clients : PSO_DEFAULT_CLIENTS;
	sizes->subscriptions = cfg->sizes.subscriptions ? cfg->sizes.subscriptions :
			       subscriptions ? subscriptions : PSO_DEFAULT_SUBSCRIPTIONS;
	sizes->topic_subscribers = cfg->sizes.topic_subscribers ? cfg->sizes.topic_subscribers :
				   PSO_MAX_RUN;
	return pso_dp_sizes_check(sizes, err, errlen);
}
