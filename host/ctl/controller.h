/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * controller.h - the broker's interfaces: discovery, mode choice, attach
 * and detach, link and address events, redirect targets, and in hw mode the
 * placement of the busiest topics in the NIC.
 *
 * The controller decides where the data plane runs; it never touches a
 * session.  It reads the table writer's topic entries only to choose which
 * topics the NIC can finish (placement).  See docs/DESIGN.md, "Mode choice".
 */
#ifndef PSO_CONTROLLER_H
#define PSO_CONTROLLER_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>
#include "ctl/dataplane.h"
#include "ctl/nicinfo.h"
#include "ctl/profile.h"

struct pso_tables;
struct pso_nh;

/* What the controller knows and decided about one interface named on the
 * command line; it outlives the interface (link events). */
struct pso_iface {
	char name[IF_NAMESIZE];
	int ifindex;			/* 0 while the interface is gone */
	struct pso_nic_info nic;
	struct pso_nic_profile profile;
	enum pso_mode requested;	/* --mode, or its [interface NAME] mode */
	enum pso_mode mode;		/* in force, when attached */
	bool attached;
	int tried_ifindex;		/* last incarnation we tried to attach */
	bool up;
	unsigned int mtu;
	char reason[512];		/* why this mode, every step down */
};

struct pso_ctl_cfg {
	enum pso_mode mode;		/* requested, broker-wide */
	const char *profiles_dir;
	uint16_t udp_port;		/* host order */
	unsigned int placement_ms;	/* hw mode: NIC topic placement interval */
	/* --max-topics, --max-clients, --max-subscriptions; a 0 field: the
	 * profiles' value, else the build's PSO_DEFAULT_* */
	struct pso_dp_sizes sizes;
};

struct pso_ctl {
	struct pso_ctl_cfg cfg;
	struct pso_iface ifaces[PSO_MAX_PORTS];
	int nifaces;
	struct pso_dataplane *dp;
	struct pso_tables *tables;
	struct pso_nh *nh;
	uint32_t max_topics;
	bool changed;			/* something `status` shows moved */
	int filled_nic_fd;		/* NIC topic map the last hw attempt filled */
	/* hw mode: per-topic message totals, for the NIC's topic placement */
	uint64_t *topic_last;		/* total at the last placement round */
	uint64_t *topic_retired;	/* NIC counts of topics taken out of it */
	uint64_t next_placement_ms;
};

/*
 * The interfaces named on the command line, before anything is loaded:
 * each a valid kernel name (1 .. IFNAMSIZ-1 characters, no '/', ':' or
 * blank, not "." or ".."), at most PSO_MAX_PORTS of them, and no interface
 * named twice, by the same name or by two (an altname: the kernel resolves
 * both to one ifindex).  0, or -EINVAL / -E2BIG with one line in err.
 */
int pso_ctl_check_ifnames(const char *const *ifnames, int n, char *err, size_t errlen);

/*
 * The host tables' sizes before the data plane is loaded: each that
 * cfg->sizes sets, else from the [driver] keys of the named interfaces'
 * profiles (the tables serve every port, so the largest value any of them
 * asks for applies), else (0, or an interface not there yet) the build's
 * PSO_DEFAULT_*.  A profile that
 * does not parse (empty, a directory, a value out of range: profile.h)
 * fails it, with the parser's line in err.
 */
int pso_ctl_table_sizes(const struct pso_ctl_cfg *cfg, const char *const *ifnames, int n,
			struct pso_dp_sizes *sizes, char *err, size_t errlen);

int pso_ctl_init(struct pso_ctl *ctl, const struct pso_ctl_cfg *cfg, struct pso_dataplane *dp,
		 struct pso_tables *tables, struct pso_nh *nh, uint32_t max_topics);
void pso_ctl_free(struct pso_ctl *ctl);

/* Discover the NIC, choose its mode (mode: the one requested for it) and
 * attach (stepping down the plan when the kernel refuses a mode, auto only).  On failure nothing stays
 * attached to it and err has one line naming it, the reason and the mode
 * to try.  Call pso_ctl_redirect_targets() after the last one. */
int pso_ctl_add(struct pso_ctl *ctl, const char *ifname, enum pso_mode mode, char *err,
		size_t errlen);

/* Links or addresses changed (netlink): interfaces gone, back, down/up,
 * new MTU, new addresses (the port tables follow them).  The daemon then
 * re-resolves every subscriber: its slots carry the port's addresses. */
void pso_ctl_links_changed(struct pso_ctl *ctl);

/* Periodic work: redirect targets and, in hw mode, NIC topic placement. */
void pso_ctl_tick(struct pso_ctl *ctl, uint64_t now_ms);

/* hw mode: the table writer's copy of the NIC's tables of this port
 * (which topics it holds), NULL when the port has none. */
struct pso_tables_mirror *pso_ctl_nic_mirror(struct pso_ctl *ctl, const struct pso_port *port);

/* Which ports a native-mode XDP_REDIRECT can reach (the devmap). */
void pso_ctl_redirect_targets(struct pso_ctl *ctl);

#endif /* PSO_CONTROLLER_H */
