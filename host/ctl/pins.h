/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pins.h - what a pin directory carries so that the data plane outlives
 * its daemon, and the next daemon can prove it is psoffload's, of which
 * build, and take it over (docs/DESIGN.md, "Restart and recovery").
 *
 * A pin directory holds:
 *   pso_meta          ARRAY of one struct pso_meta (written by the host
 *                     only; no program reads it)
 *   pso_*             the maps of the XDP object (the TC object shares them)
 *   link_xdp:IFNAME   the XDP bpf_link of a port (drv or skb mode; a '.'
 *                     of IFNAME is a ':' here: bpffs refuses dots)
 *   link_tc:IFNAME    its tcx bpf_link (kernels with tcx, 6.6 and later);
 *                     without tcx the TC program is a clsact cls_bpf filter
 *                     at PSO_TC_HANDLE / PSO_TC_PRIORITY, which is ours when
 *                     its program reads our pinned pso_topics
 * A link holds its program attached with no process holding it, and a new
 * program replaces the old one in a single kernel operation
 * (bpf_link_update; for a filter, BPF_TC_F_REPLACE), so a packet meets
 * either the old program or the new one, never none.
 */
#ifndef PSO_PINS_H
#define PSO_PINS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "psoffload_abi.h"

#define PSO_TC_HANDLE   0x50f0
#define PSO_TC_PRIORITY 1

#define PSO_META_MAGIC   "psoffld"	/* 8 bytes with its NUL */
#define PSO_META_VERSION 1		/* of struct pso_meta itself */
#define PSO_META_PIN     "pso_meta"

/* How a port's TC program is attached. */
enum pso_tc_kind {
	PSO_TC_NONE,
	PSO_TC_TCX,		/* a pinned tcx link */
	PSO_TC_FILTER,		/* a clsact cls_bpf filter (no tcx) */
};

struct pso_meta_port {
	__u32 ifindex;		/* 0: unused */
	__u8 clsact_created;	/* the qdisc is ours: SIGTERM removes it */
	__u8 tc_kind;		/* enum pso_tc_kind */
	__u8 pad[2];
};

/* The one value of pso_meta. */
struct pso_meta {
	char magic[8];		/* PSO_META_MAGIC */
	__u32 meta_version;	/* PSO_META_VERSION */
	__u32 abi_hash;		/* PSO_ABI_HASH of the build that wrote it */
	char build[64];		/* that build's version (psoffload --version) */
	/* the layout the maps were made with */
	__u32 topics, clients;	/* host table sizes (pso_dp_sizes) */
	__u32 subscriptions;	/* pso_subs pool slots (a build before the
				 * pool wrote its slots per topic here, and
				 * pinned no pso_topic_runs) */
	__u32 client_slots, port_slots;
	/* history of this data plane */
	__u32 restarts;		/* handovers to an exec'd daemon */
	__u32 adoptions;	/* daemons that took it over after a crash */
	__u32 pid;		/* the daemon that wrote this */
	__u64 created_ms;	/* CLOCK_REALTIME: first loaded */
	__u64 adopted_ms;	/* last taken over, 0: never */
	struct pso_meta_port ports[PSO_MAX_PORTS];
};

/* This build's ABI hash (the Makefile hashes bpf/psoffload_abi.h and
 * bpf/psoffload_maps.h into PSO_ABI_HASH). */
uint32_t pso_abi_hash(void);

/*
 * Read pin_dir/pso_meta.  0 with *m filled; -ENOENT when the directory has
 * none (a fresh start, or a build before pso_meta); -EPROTO when it is not
 * psoffload's (magic, or meta version) with one line in err; another
 * -errno when it cannot be read.
 */
int pso_meta_read(const char *pin_dir, struct pso_meta *m, char *err, size_t errlen);
/* Create (if missing) and pin pin_dir/pso_meta, and write m. */
int pso_meta_write(const char *pin_dir, const struct pso_meta *m, char *err, size_t errlen);
/* A fresh meta for this build. */
void pso_meta_init(struct pso_meta *m, const char *build, uint32_t topics, uint32_t clients,
		   uint32_t subscriptions);

/* pin_dir/link_KIND:IFNAME */
void pso_link_pin_path(const char *pin_dir, const char *kind, const char *ifname, char *buf,
		       size_t len);

/*
 * The link pinned at path, if it is a live link of the expected type on
 * ifindex: its fd (>= 0) and the id of its program.  -ENOENT when nothing
 * is pinned there; -ESTALE when the pin is a link that no longer serves
 * ifindex (its interface went away: the pin is removed); -EPROTO when it
 * is something else.
 */
int pso_link_open(const char *path, bool tcx, int ifindex, uint32_t *prog_id);

/* Does program prog_id use the map map_fd (proof that a program found
 * attached reads our tables)?  And its name, into name. */
bool pso_prog_uses_map(uint32_t prog_id, int map_fd, char *name, size_t namelen);

/* tcx links (Linux 6.6; attach types the build's headers may not have). */
#define PSO_BPF_TCX_INGRESS    46
#define PSO_BPF_LINK_TYPE_TCX  11
/* Make the TC program's tcx link on ifindex: fd, or -errno (-EINVAL on a
 * kernel without tcx).  PSOFFLOAD_NO_TCX=1 in the environment says no
 * tcx, so a test can take the path of older kernels. */
int pso_tcx_create(int prog_fd, int ifindex);
bool pso_tcx_disabled(void);

#endif /* PSO_PINS_H */
