/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * statusfile.h - the running broker's status document, written by the
 * daemon (statusfile.c) and read by `psoffload status` (cmd/status.c) and
 * the daemon's own start (is a pin directory another live broker's?).
 *
 * The daemon writes it atomically (temporary file, then rename) to
 * pso_status_path(pin_dir) whenever something changes; one --pin-dir names
 * one broker instance.  The schema, with the key names both sides use:
 *
 *   { "broker": { "pid", "udp_port", "pin_dir", "requested_mode" },
 *     "interfaces": [ { "name", "ifindex", "driver", "profile", "xdp_features",
 *                       "state" (up|down|gone|failed), "mode", "host_mode",
 *                       "reason", "programs": { "xdp", "xdp_hw", "tc" }, "mtu",
 *                       hw mode: "nic_topics_capacity", "nic_topics": [ids] } ],
 *     "tables": { "topics"|"subscribers"|"clients": { "used", "capacity" },
 *                 "subscribers_per_topic", "pending_grace" },
 *     "daemon": { every counter of struct pso_proto_stats by its field name
 *                 (statusfile.c: daemon_counters), "sessions",
 *                 "nic_write_errors", "nic_table_full",
 *                 "validation": { "validated", "unvalidated" (connected
 *                   sessions), "held_bytes" (held for the unvalidated),
 *                   "proved", "failures", "expired", "held", "held_dropped",
 *                   "capped_bytes" (counters) } } }
 */
#ifndef PSO_STATUSFILE_H
#define PSO_STATUSFILE_H

#include <stddef.h>

#define PSO_STATUS_DIR "/run/psoffload"

/* Keys that both the writer and a reader name. */
#define PSO_ST_BROKER		"broker"
#define PSO_ST_PID		"pid"
#define PSO_ST_UDP_PORT		"udp_port"
#define PSO_ST_INTERFACES	"interfaces"
#define PSO_ST_NAME		"name"
#define PSO_ST_DRIVER		"driver"
#define PSO_ST_MODE		"mode"
#define PSO_ST_STATE		"state"
#define PSO_ST_REASON		"reason"
#define PSO_ST_PROGRAMS		"programs"
#define PSO_ST_PROG_XDP		"xdp"
#define PSO_ST_PROG_XDP_HW	"xdp_hw"
#define PSO_ST_PROG_TC		"tc"
#define PSO_ST_NIC_TOPICS	"nic_topics"
#define PSO_ST_NIC_TOPICS_CAP	"nic_topics_capacity"
#define PSO_ST_TABLES		"tables"
#define PSO_ST_TOPICS		"topics"
#define PSO_ST_SUBSCRIBERS	"subscribers"
#define PSO_ST_CLIENTS		"clients"
#define PSO_ST_USED		"used"
#define PSO_ST_CAPACITY		"capacity"

/* /run/psoffload/<basename of pin_dir>.json */
void pso_status_path(const char *pin_dir, char *buf, size_t len);

/* The pid of the live broker that owns pin_dir, or 0. */
int pso_status_owner(const char *pin_dir);

#endif /* PSO_STATUSFILE_H */
