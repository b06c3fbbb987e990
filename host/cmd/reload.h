/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * reload.h - `psoffload reload`: the running broker re-reads its
 * configuration (SIGHUP to the daemon named by the pin directory's status
 * document).
 */
#ifndef PSO_RELOAD_H
#define PSO_RELOAD_H

int pso_cmd_reload(int argc, char **argv);
/* `psoffload restart` (restart.c): the broker hands over to a new exec. */
int pso_cmd_restart(int argc, char **argv);

#endif /* PSO_RELOAD_H */
