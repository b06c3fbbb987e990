// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * grace.c - waiting for data-plane readers: the RCU grace period the write
 * protocol of subs.c needs between a disable and the next content write.
 */
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/membarrier.h>
#include "tables/tables_int.h"

void pso_tables_sync_rcu(void *ctx __attribute__((unused)))
{
	/*
	 * MEMBARRIER_CMD_GLOBAL is synchronize_rcu(): it returns after every
	 * CPU has passed a quiescent state, and XDP and TC programs run inside
	 * RCU read-side sections (BH disabled), so every program run that
	 * began before the call has ended.  It is refused on nohz_full
	 * kernels; sleeping then covers any reader stalled for less.
	 */
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) != 0) {
		struct timespec ts = { .tv_nsec = 20 * 1000 * 1000 };

		nanosleep(&ts, NULL);
	}
}

/* The grace period of subs.c; counted, so freed client slots know when
 * they may be reused. */
void tbl_wait_readers(struct pso_tables *t)
{
	if (t->sync_readers)
		t->sync_readers(t->hook_ctx);
	t->syncs++;
}
