/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * stats.h - `psoffload stats`: the running broker's counters, from its
 * control socket.
 */
#ifndef PSO_STATS_H
#define PSO_STATS_H

int pso_cmd_stats(int argc, char **argv);

#endif /* PSO_STATS_H */
