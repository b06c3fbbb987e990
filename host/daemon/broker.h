/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * broker.h - the broker daemon: the data plane loaded, the interfaces
 * attached (ctl/), the protocol layer (proto/) fed from the broker socket,
 * the tables written (tables/), timers, signals and the status file.
 */
#ifndef PSO_BROKER_H
#define PSO_BROKER_H

#include <stdbool.h>
#include <stdint.h>
#include "ctl/dataplane.h"
#include "proto/proto.h"

#define PSO_MAX_TRUSTED 64	/* --trusted networks */

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
	unsigned int session_expiry_s;	/* kept sessions (CleanSession 0) */
	unsigned int retry_s, retries;	/* QoS 1/2 deliveries: T_RETRY, N_RETRY */
	/* Address validation: networks whose clients start proven (loopback
	 * always does), and how long an unproven session lasts. */
	struct pso_cidr trusted[PSO_MAX_TRUSTED];
	int ntrusted;
	unsigned int unvalidated_s;
	const char *const *ifnames;
	int nifnames;
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

#endif /* PSO_BROKER_H */
