/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * floor_tc.h - what the fan-out floor (floor_tc.bpf.c) and the benchmarks
 * that fill its tables (microbench.c, loadgen.c) share.
 *
 *   floor_cfg   ARRAY, key 0: struct floor_cfg, how many subscribers
 *   floor_subs  ARRAY, key 0 .. FLOOR_MAX_SUBS - 1: struct pso_sub, the
 *               subscriber set (the same slots psoffload's pso_subs holds)
 */
#ifndef PSO_BENCH_FLOOR_TC_H
#define PSO_BENCH_FLOOR_TC_H

#include <linux/types.h>

#ifndef FLOOR_MAX_SUBS
#define FLOOR_MAX_SUBS 4096
#endif

struct floor_cfg {
	__u32 n;	/* subscribers in floor_subs, from key 0 */
};

#endif /* PSO_BENCH_FLOOR_TC_H */
