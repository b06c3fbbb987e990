/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dataplane.h - loading, attaching and detaching the eBPF data plane.
 *
 * One driver-build XDP object and one TC object serve every port; the TC
 * object reuses the XDP object's maps, so both read the same tables.  The
 * maps are pinned (default /sys/fs/bpf/psoffload) so that `psoffload status`
 * and `psoffload stats` can read them from another process.
 */
#ifndef PSO_DATAPLANE_H
#define PSO_DATAPLANE_H

#include <stdbool.h>
#include <stdint.h>
#include <net/if.h>
#include "psoffload_abi.h"
#include "ctl/pins.h"

#define PSO_PIN_DIR_DEFAULT "/sys/fs/bpf/psoffload"

/* How the XDP program runs on a port (mode choice: see the controller). */
enum pso_mode {
	PSO_MODE_AUTO,
	PSO_MODE_HW,	/* offload build in the NIC */
	PSO_MODE_DRV,	/* native XDP in the driver */
	PSO_MODE_SKB,	/* generic XDP */
};

const char *pso_mode_name(enum pso_mode mode);
int pso_mode_parse(const char *s, enum pso_mode *mode);

struct psoffload_xdp;
struct psoffload_xdp_offload;
struct psoffload_tc;

struct pso_port {
	char name[IF_NAMESIZE];
	int ifindex;
	enum pso_mode mode;	/* in force */
	/* In hw mode the NIC passes up what it cannot finish; the host's
	 * own XDP program (this mode: drv or skb) and TC take it from there. */
	enum pso_mode host_mode;
	struct pso_port_cfg cfg;
	bool xdp_attached;	/* host XDP program (driver build) */
	bool tc_attached;
	bool clsact_created;	/* we made the clsact qdisc: remove it too */
	int xdp_link_fd;	/* the XDP bpf_link (pinned with a pin dir) */
	int tc_link_fd;		/* the tcx link, -1 with a cls_bpf filter */
	enum pso_tc_kind tc_kind;
	bool adopted;		/* its programs were replaced in place */
	unsigned int xdp_prog_id;
	unsigned int tc_prog_id;
	/* hw mode: the offload build, bound to this device with its maps */
	struct psoffload_xdp_offload *hw;
	bool hw_attached;
	unsigned int hw_prog_id;
	uint32_t hw_topics;	/* entries of the NIC's topic table */
};

/* What hw mode needs from the caller. */
struct pso_hw_opts {
	uint32_t topics;	/* NIC topic table entries (0: build default) */
	uint32_t clients;	/* NIC client table entries (0: build default) */
	uint32_t per_map;	/* entries any one NIC map may have (0: no limit) */
	/* Fill the NIC's tables before its program is attached. */
	int (*fill)(void *ctx, int topics_fd, int clients_fd, int stats_fd, uint32_t topics);
	void *ctx;
};

/* Size the offload build's maps for a NIC, from its profile and never from
 * the build's constants; done before the offload check and the load. */
void pso_dp_hw_size(struct psoffload_xdp_offload *skel, const struct pso_hw_opts *hw);

/* Host table sizes (drv/skb mode), at most the build's PSO_MAX_TOPICS,
 * PSO_MAX_CLIENTS and PSO_MAX_SUBSCRIPTIONS: topic ids index the topic tables,
 * and every topic's subscriber slots are a run of the one pool. */
struct pso_dp_sizes {
	uint32_t topics;	/* pso_topics, pso_topic_stats, pso_topic_runs */
	uint32_t clients;	/* pso_clients */
	uint32_t subscriptions;	/* subscriber slots in use, all topics together
				 * (pso_subs holds pso_dp_pool_slots() of them) */
	uint32_t topic_subscribers;	/* the longest run: slots one topic may
					 * hold, a power of two up to PSO_MAX_RUN;
					 * not a map's size (0: PSO_MAX_RUN) */
};

/* 0, or -ERANGE with one line in err naming the first size out of range
 * and the range: "--max-topics 1: use 2..65536"; "--max-topic-subscribers
 * 12: use a power of two, 1..4096". */
int pso_dp_sizes_check(const struct pso_dp_sizes *s, char *err, size_t errlen);

/*
 * The slots of the pool (pso_subs) that hold s->subscriptions in use
 * however they are spread: runs are powers of two, at least
 * PSO_TABLES_MIN_RUN long, and a run is grown when full and shrunk at a
 * quarter, so a topic of n subscribers has fewer than 2n + 4 slots; the
 * pool is 2 x subscriptions + 4 x the topics that can have any.
 */
uint32_t pso_dp_pool_slots(const struct pso_dp_sizes *s);

struct pso_dataplane;
/* The kernel memory of every map of the data plane (what bpftool and
 * /proc/PID/fdinfo call memlock), in bytes; 0 when it cannot be read. */
uint64_t pso_dp_map_memory(const struct pso_dataplane *dp);

struct pso_dataplane {
	struct psoffload_xdp *xdp;
	struct psoffload_tc *tc;
	struct pso_port ports[PSO_MAX_PORTS];
	int nports;
	char pin_dir[256];	/* empty: not pinned */
	/* The table writer for port tables, once the daemon made it. */
	struct pso_tables *tables;
	struct pso_dp_sizes sizes;
	/* map fds, owned by the XDP skeleton */
	int port_cfg_fd, port_slots_fd, devmap_fd, topics_fd, subs_fd, runs_fd, clients_fd;
	int client_slots_fd;
	int short_names_fd;
	int counters_fd, topic_stats_fd;
	/* Restart and recovery (pins.h): the maps were found pinned and
	 * reused, with what the directory said about them. */
	bool adopted;
	struct pso_meta meta;	/* as this daemon wrote it */
	char adopted_build[64];	/* the build that made the adopted maps */
	uint32_t fresh_maps;	/* maps made anew (counters of another layout) */
	/* Leave everything attached and pinned when closing: a handover to
	 * an exec'd daemon, or a failed start over an adopted data plane. */
	bool keep;
	int events_fd, event_cfg_fd;	/* the event ring buffer, its rate limit */
};

/* How pso_dp_load() goes about a pin directory. */
struct pso_dp_load_opts {
	const char *build;	/* this build's version, into pso_meta */
	bool handover;		/* an exec'd daemon taking over (counts a restart) */
};

/*
 * Open and load both programs with shared maps sized as given; pin the
 * maps under pin_dir (NULL: no pinning).  A pin directory with a pso_meta
 * is adopted: its maps are reused as they are (their sizes, not `sizes`;
 * dp->sizes says which), provided they are psoffload's and of a layout
 * this build reads - else -EPROTO and one line, with nothing touched.
 * Returns 0 or -errno; err gets one line.
 */
int pso_dp_load(struct pso_dataplane *dp, const struct pso_dp_sizes *sizes, const char *pin_dir,
		const struct pso_dp_load_opts *opts, char *err, size_t errlen);
/* Write dp->meta (ports, counts) to the pin directory again. */
void pso_dp_meta_sync(struct pso_dataplane *dp);

/* Attach XDP and the TC fan-out program to a port and register its config.
 * mode DRV or SKB: the driver build in that mode.  mode HW: the offload
 * build bound to the device (hw must be given), plus the driver build on
 * the host in host_mode (DRV or SKB) for what the NIC passes up.  On
 * failure nothing stays attached to that port and err says why. */
int pso_dp_attach(struct pso_dataplane *dp, const char *ifname, enum pso_mode mode,
		  enum pso_mode host_mode, const struct pso_hw_opts *hw,
		  const struct pso_port_cfg *cfg, char *err, size_t errlen);

/* Detach one port (e.g. it went away); its slot is reused. */
void pso_dp_detach(struct pso_dataplane *dp, int ifindex);

/* Rewrite a port's config (its addresses or MAC changed), in the host's
 * tables and, in hw mode, the NIC's.  -ENODEV when ifindex is no port. */
int pso_dp_port_update(struct pso_dataplane *dp, int ifindex, const struct pso_port_cfg *cfg);
struct pso_port *pso_dp_port_by_ifindex(struct pso_dataplane *dp, int ifindex);

/* Detach from every port (their table entries go through dp->tables). */
void pso_dp_detach_all(struct pso_dataplane *dp);

/* Detach from every port, unpin, free (dp->keep: only free). */
void pso_dp_close(struct pso_dataplane *dp);

/* The data plane's event rate limit: rate events per second per CPU, a
 * second's worth at once; 0: no events.  0 or -errno (-ERANGE beyond
 * PSO_EVENT_RATE_MAX). */
int pso_dp_set_event_rate(struct pso_dataplane *dp, uint32_t rate);

/* Sum a counter map (per-CPU or not) into out[PSO_CNT__MAX]. */
int pso_dp_read_counters(int counters_fd, __u64 *out);
/* One topic's messages and bytes (per-CPU or not), summed. */
int pso_dp_read_topic_stats(int topic_stats_fd, uint16_t id, struct pso_topic_stats *out);

#endif /* PSO_DATAPLANE_H */
