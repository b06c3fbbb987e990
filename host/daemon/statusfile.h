/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * statusfile.h - the keys of the running broker's status document, which
 * the daemon serves on its control socket (`status`) and also keeps in
 * /run/psoffload/NAME.json, rewritten atomically (temporary file, then
 * rename) whenever something changes.  The schema is in snapshot.h.
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
#define PSO_ST_SUBSCRIPTIONS	"subscriptions"
#define PSO_ST_REFUSED		"refused"
#define PSO_ST_MAP_MEMORY	"map_memory_bytes"
#define PSO_ST_USED		"used"
#define PSO_ST_CAPACITY		"capacity"
#define PSO_ST_FREED		"freed"		/* topics: idle ones freed so far */
#define PSO_ST_QUARANTINED	"quarantined"	/* topics: their ids not free yet */
#define PSO_ST_STORE		"store"
#define PSO_ST_REVISION		"revision"
#define PSO_ST_LAST_WRITE	"last_write_ms"

/* /run/psoffload/NAME.json, NAME the broker's (--name) */
void pso_status_path(const char *name, char *buf, size_t len);

#endif /* PSO_STATUSFILE_H */
