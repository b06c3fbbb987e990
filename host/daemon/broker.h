/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * broker.h - the MQTT-SN control plane: clients, subscriptions, retained
 * messages, keep-alive, and the slow/host delivery path.
 *
 * The daemon owns the tables; the data plane forwards.  A publish reaches
 * the daemon only when the data plane passes it up: control messages, QoS
 * 1/2, short topic names, RETAIN, and publishes with a subscriber slot the
 * data plane may not serve (see pso_sub_servable()).
 */
#ifndef PSO_BROKER_H
#define PSO_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include "ctl/dataplane.h"

enum pso_qosm1_policy {
	PSO_QOSM1_PREDEFINED,	/* QoS -1 admitted to predefined topics (default) */
	PSO_QOSM1_ALL,
	PSO_QOSM1_NONE,
};

struct pso_broker_cfg {
	uint16_t udp_port;
	enum pso_mode mode;
	enum pso_qosm1_policy qosm1;
	const char *predefined_path;
	const char *pin_dir;		/* NULL: do not pin */
	const char *profiles_dir;	/* nic-profiles/ */
	uint8_t gw_id;
	unsigned int advertise_s;	/* 0: no periodic ADVERTISE */
	unsigned int placement_ms;	/* hw mode: NIC topic placement interval */
	const char *const *ifnames;
	int nifnames;
};

/* Daemon-side counters (the data plane has its own). */
struct pso_broker_stats {
	uint64_t rx_msgs;		/* datagrams on the broker socket */
	uint64_t rx_malformed;
	uint64_t rx_unsupported;	/* answered "not supported" or undecodable */
	uint64_t host_deliveries;	/* publishes sent by the daemon */
	uint64_t congestion;		/* requests refused: tables full */
	uint64_t expired;		/* clients expired by keep-alive */
};

struct pso_broker;

/* Load and attach the data plane on every interface, open the socket.
 * err gets one line naming the interface and the reason on failure. */
int pso_broker_start(struct pso_broker **b, const struct pso_broker_cfg *cfg,
		     char *err, size_t errlen);
/* Serve until SIGINT/SIGTERM; returns 0 on a clean stop. */
int pso_broker_run(struct pso_broker *b);
/* Detach everything, free. */
void pso_broker_stop(struct pso_broker *b);

const struct pso_broker_stats *pso_broker_stats(const struct pso_broker *b);

#endif /* PSO_BROKER_H */
