/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * status.h - `psoffload status`: the running broker's status document
 * (daemon/snapshot.h), from its control socket, as a table or as JSON.
 */
#ifndef PSO_STATUS_H
#define PSO_STATUS_H

int pso_cmd_status(int argc, char **argv);

#endif /* PSO_STATUS_H */
