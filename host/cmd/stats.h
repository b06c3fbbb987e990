/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * stats.h - `psoffload stats`: the data plane's counters, read from the maps
 * a running daemon pinned.
 */
#ifndef PSO_STATS_H
#define PSO_STATS_H

int pso_cmd_stats(int argc, char **argv);

#endif /* PSO_STATS_H */
