/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * broker.h - the broker daemon: the data plane loaded, the interfaces
 * attached (ctl/), the protocol layer (proto/) fed from the broker socket,
 * the tables written (tables/), timers, signals, the control socket, the
 * metrics and the status file.
 */
#ifndef PSO_BROKER_H
#define PSO_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include "ctl/dataplane.h"
#include "proto/proto.h"

#define PSO_MAX_TRUSTED 64	/* --trusted networks */

/*
 * The broker's settings.  A reload (pso_broker_reconfigure) hands in a new
 * copy whose fields that cannot change live hold their old values: the
 * command's option table says which can (PSO_OPT_F_LIVE).  Code that reads
 * a live field from b->cfg where it uses it follows a reload with nothing
 * more; parts that keep their own copy get it in pso_broker_reconfigure().
 */
struct pso_broker_cfg {
	uint16_t udp_port;
	enum pso_mode mode;		/* for interfaces without one of their own */
	enum pso_qosm1_policy qosm1;
	const char *predefined_path;
	const char *pin_dir;		/* NULL: do not pin */
	const char *name;		/* its control socket /run/psoffload/NAME.sock;
					 * NULL: the pin directory's last component */
	const char *metrics_addr;	/* ADDR:PORT serving /metrics; NULL: none */
	unsigned int metrics_topics;	/* per-topic series for the N busiest */
	const char *profiles_dir;	/* nic-profiles/ */
	uint8_t gw_id;
	unsigned int advertise_s;	/* 0: no periodic ADVERTISE */
	unsigned int placement_ms;	/* hw mode: NIC topic placement interval */
	unsigned int session_expiry_s;	/* kept sessions (CleanSession 0) */
	unsigned int topic_idle_s;	/* idle topics freed after (0: never) */
	unsigned int retry_s, retries;	/* QoS 1/2 deliveries: T_RETRY, N_RETRY */
	const char *store;		/* "sqlite:PATH" or "none"; NULL: the default
					 * for the name (pso_store_default_spec) */
	bool store_reset;		/* set the store aside, start empty */
	/* A broker group (ha/): its name (NULL: none), its virtual
	 * addresses ("ADDR/PREFIX@IFACE,..."), the leader's lease TTL. */
	const char *ha_group;
	const char *vips;
	unsigned int ha_ttl_s;
	/* Address validation: networks whose clients start proven (loopback
	 * always does), and how long an unproven session lasts. */
	const char *trusted_list;	/* "CIDR,..." (--trusted) */
	unsigned int unvalidated_s;
	unsigned int adopt_grace_s;	/* adopted entries no session claims expire
					 * after this long silent (no store) */
	const char *build;		/* this build's version, into pso_meta */
	unsigned int event_rate;	/* data-plane events per second per CPU, 0: none */
	struct pso_limits lim;		/* quotas, caps, per-source rates */
	/* The capacities (--max-topics, --max-clients, --max-subscriptions);
	 * a 0 field: the NIC profiles', else the build's default. */
	struct pso_dp_sizes sizes;
	/* Each connected client's QoS 0 publishes a second the data plane
	 * forwards (0: no limit), and how many at once (0: one second's). */
	unsigned int max_publish_rate, publish_burst;
	const char *const *ifnames;
	const enum pso_mode *ifmodes;	/* per interface; NULL: mode for every one */
	int nifnames;
};

/* The default publish-rate limit: far above what an ordinary MQTT-SN
 * client sends, far below what one CPU of the data plane forwards. */
#define PSO_DEFAULT_MAX_PUBLISH_RATE 10000

struct pso_broker;

/* Load and attach the data plane on every interface, open the socket;
 * then tell the service manager READY=1 (daemon/notify.h).
 * err gets one line naming the interface and the reason on failure. */
int pso_broker_start(struct pso_broker **b, const struct pso_broker_cfg *cfg,
		     char *err, size_t errlen);
/* pso_broker_run(): SIGHUP asked for a reload; call it again after. */
#define PSO_BROKER_RELOAD 1
/* pso_broker_run(): SIGUSR2 or `psoffload restart` asked for a handover:
 * call pso_broker_exec() (it returns only when the exec failed; then run
 * again). */
#define PSO_BROKER_RESTART 2
/* Serve until SIGINT/SIGTERM (0, a clean stop, after STOPPING=1), SIGHUP
 * (PSO_BROKER_RELOAD) or an error (negative errno). */
int pso_broker_run(struct pso_broker *b);
/* Around a reload, for the service manager: RELOADING=1, then READY=1
 * with the status line. */
void pso_broker_reloading(struct pso_broker *b);
void pso_broker_reloaded(struct pso_broker *b);
/*
 * Take cfg's live settings without disturbing the data plane: the
 * predefined topics file is read again (new entries are added; an entry
 * gone or changed stays until a restart, and says so), the protocol
 * limits, the QoS -1 policy, gw id, ADVERTISE interval and placement
 * interval.  A bad predefined file changes nothing: -EINVAL and one line
 * in err.
 */
int pso_broker_reconfigure(struct pso_broker *b, const struct pso_broker_cfg *cfg, char *err,
			   size_t errlen);
/*
 * Hand over to the binary now at this process's path, exec'd with argv in
 * this process: the data plane, the UDP and control sockets and the pin
 * lock carry over, nothing is detached, no client hears anything.  Returns
 * only on failure (-errno, one line in err), still running.
 */
int pso_broker_exec(struct pso_broker *b, char *const argv[], char *err, size_t errlen);
/* Detach everything, free. */
void pso_broker_stop(struct pso_broker *b);

#endif /* PSO_BROKER_H */
