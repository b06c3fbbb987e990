/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * daemon.h - inside the daemon: what the event loop (daemon.c), the
 * protocol layer's environment (proto_env.c), the control socket's
 * requests (ctlreq.c), the snapshots (snapshot.c) and the status file
 * (statusfile.c) share.  The broker owns the parts; each part keeps its
 * own state behind its own interface.
 */
#ifndef PSO_DAEMON_H
#define PSO_DAEMON_H

#include "ctl/controller.h"
#include "ctl/dataplane.h"
#include "daemon/broker.h"
#include "daemon/notify.h"
#include "proto/proto.h"
#include "tables/tables.h"
#include "util/instance.h"

struct pso_nh;
struct pso_events;
struct pso_ctlsock;
struct pso_metrics;
struct pso_adopted;

/* What a daemon exec'd by a restart was handed (restart.c). */
struct pso_handover {
	bool active;
	int sock, ctl, lock;	/* the UDP socket, the control socket, the pin lock */
	uint64_t since_ms;	/* CLOCK_REALTIME when the old one began the exec */
};
struct pso_store;
struct pso_dirty;

/* Every number the status document carries, as last written. */
struct pso_status_snap {
	struct pso_proto_stats stats;
	struct pso_tables_usage usage;
	uint32_t ntopics, nsessions;
};

struct pso_broker {
	struct pso_broker_cfg cfg;
	struct pso_dataplane dp;	/* programs and maps */
	struct pso_tables tables;	/* the only writer of the maps */
	struct pso_ctl ctl;		/* interfaces, modes, placement */
	struct pso_proto *proto;	/* sessions and the control protocol */
	struct pso_cidr trusted[PSO_MAX_TRUSTED];	/* --trusted, parsed */
	int ntrusted;
	struct pso_nh *nh;		/* routes, neighbours, links */
	struct pso_events *events;	/* the data plane's event stream */
	int sock;			/* the MQTT-SN socket */
	int sigfd;
	bool nh_changed;
	bool reload_asked;		/* the control socket's "reload" */
	char name[64];			/* cfg.name, or derived from the pin directory */
	char ctl_path[108];		/* its control socket */
	struct pso_ctlsock *ctlsock;
	struct pso_metrics *metrics;	/* NULL: no --metrics */
	uint64_t started_ms;		/* CLOCK_REALTIME */
	uint64_t now_ms;
	uint64_t next_advertise_ms;
	/* the status file */
	char status_path[512];
	bool status_dirty;
	struct pso_status_snap status_last;
	uint64_t status_written_ms, status_checked_ms;
	uint64_t status_cost_us;	/* the last write took (snapshot and file) */
	struct pso_instance_lock pin_lock;	/* the pin directory is ours */
	struct pso_notify notify;	/* the service manager (systemd) */
	/* restart and recovery (restart.c) */
	struct pso_handover handover;	/* this daemon is a restart's */
	struct pso_adopted *adopted;	/* placeholders; NULL: nothing adopted */
	uint32_t adopted_reserved;	/* topic ids kept as $adopted/ID */
	uint64_t placeholder_pings;	/* PINGREQs answered for placeholders */
	uint64_t adopt_ms;		/* reading the tables back took */
	uint64_t handover_ms;		/* exec to serving, for a restart */
	bool restart_asked;		/* the control socket's "restart" */
	bool started;			/* pso_broker_start() succeeded */
	bool stopping;			/* SIGTERM: the sessions end, the tables are left */
	/* the store (store_env.c) */
	struct pso_store *store;
	struct pso_dirty *dirty;	/* what it must write this round; NULL: --store=none */
	uint32_t max_topics;		/* the protocol layer's topic ids */
	uint64_t subscriptions_full;	/* slots refused: --max-subscriptions reached */
	bool store_failing;
	uint64_t store_error_logged_ms;
	uint64_t store_rev;		/* the store's revision the tables reflect */
	/* the broker group (ha_env.c); NULL: none */
	struct pso_ha *ha;
	bool store_refusing;		/* pso_proto_set_refusing is on */
	bool ha_relist;			/* a standby again: list the store whole */
	uint64_t ha_applied;		/* store changes applied as a standby */
	uint64_t ha_dropped;		/* datagrams a standby left unanswered */
};

/* proto_env.c: the protocol layer's ops over the socket, next hops and tables. */
extern const struct pso_proto_ops pso_broker_proto_ops;
/* Did the data plane judge this datagram (see struct pso_rx)? */
bool pso_broker_judged(struct pso_broker *b, const struct in6_pktinfo *local, bool reassembled);

/* restart.c */
int pso_handover_take(struct pso_handover *h, char *err, size_t errlen);
int pso_broker_adopt(struct pso_broker *b, char *err, size_t errlen);
void pso_broker_adopt_settle(struct pso_broker *b);
bool pso_broker_placeholder_input(struct pso_broker *b, const struct pso_rx *rx,
				  const uint8_t *buf, size_t len);
uint64_t realtime_ms_now(void);
/*
 * store_env.c: the store.  Opened before anything is loaded (a store that
 * cannot be used stops the start: one line in err); loaded into the
 * protocol layer once the tables and interfaces are there, before the
 * broker serves; resumed (what restored sessions are owed is sent) once
 * the socket is open; written at the end of every event-loop round;
 * closed (written one last time) when the broker stops.
 */
int pso_broker_open_store(struct pso_broker *b, char *err, size_t errlen);
int pso_broker_load_store(struct pso_broker *b, char *err, size_t errlen);
void pso_broker_resume_store(struct pso_broker *b);
void pso_broker_flush_store(struct pso_broker *b);
void pso_broker_close_store(struct pso_broker *b);
/* The protocol layer's session_changed, topic_changed, retained_changed. */
void pso_broker_session_changed(void *ctx, const char *client_id);
void pso_broker_topic_changed(void *ctx, uint16_t id);
void pso_broker_retained_changed(void *ctx, uint16_t id);

/*
 * ha_env.c: the broker group (--ha-group).  Opened after the store; a
 * standby applies the store's changes to its tables (watch_fd readable,
 * and every tick), never writes the store, never answers a datagram and
 * runs no session timer; the leader serves as a lone broker does.
 */
struct pso_ha;
int pso_broker_open_ha(struct pso_broker *b, char *err, size_t errlen);
void pso_broker_close_ha(struct pso_broker *b);
/* Serving: no group, or its leader. */
bool pso_broker_serving(const struct pso_broker *b);
void pso_broker_ha_tick(struct pso_broker *b);
/* The store's watch descriptor (-1: none), and its work when readable. */
int pso_broker_ha_fd(const struct pso_broker *b);
void pso_broker_ha_watch(struct pso_broker *b);
/* store_env.c: a group member refuses new control requests (0x01) while
 * the store cannot be written, and accepts them again when it can (every
 * tick). */
void pso_broker_store_health(struct pso_broker *b);
/* store_env.c: forget what this round changed (a standby writes nothing). */
void pso_broker_discard_changes(struct pso_broker *b);

/* notify.c: "b0 drv, b1 skb; 3 clients, 2 topics", for STATUS=. */
void pso_broker_status_line(struct pso_broker *b, char *buf, size_t len);

/* statusfile.c */
#define PSO_STATUS_MIN_INTERVAL_MS 100
/* Rewrite the status file when a value in it moved, at most every 100 ms;
 * the event loop calls it at least every TICK_MS. */
void pso_status_refresh(struct pso_broker *b);
void pso_status_write(struct pso_broker *b);

#endif /* PSO_DAEMON_H */
