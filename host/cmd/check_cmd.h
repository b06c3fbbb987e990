/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * check_cmd.h - `psoffload check`: does a BPF object fit a NIC's offload
 * limits (its profile in nic-profiles/)?
 */
#ifndef PSO_CHECK_CMD_H
#define PSO_CHECK_CMD_H

/* argv[0] is "check".  Exit code: 0 fits, 1 does not (or the NIC has no
 * hardware offload), 2 bad input. */
int pso_cmd_check(int argc, char **argv);

#endif /* PSO_CHECK_CMD_H */
