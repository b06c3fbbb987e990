/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * events_cmd.h - `psoffload events`: the data plane's recent drops and
 * refusals, from the running broker's control socket.
 */
#ifndef PSO_EVENTS_CMD_H
#define PSO_EVENTS_CMD_H

int pso_cmd_events(int argc, char **argv);

#endif /* PSO_EVENTS_CMD_H */
