/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ha_cmd.h - `psoffload ha step-down`: a group's leader hands over.
 */
#ifndef PSO_HA_CMD_H
#define PSO_HA_CMD_H

int pso_cmd_ha(int argc, char **argv);

#endif /* PSO_HA_CMD_H */
