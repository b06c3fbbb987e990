/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * mode.h - the mode choice: from what a NIC offers and what was asked, which
 * XDP mode to use on it and why.  A pure function, so every combination
 * can be tested in a table.
 */
#ifndef PSO_MODE_H
#define PSO_MODE_H

#include <stdbool.h>
#include <stdint.h>
#include "ctl/dataplane.h"
#include "ctl/profile.h"

struct pso_mode_input {
	enum pso_mode requested;
	bool features_known;		/* XDP features came from the kernel */
	uint64_t xdp_features;		/* PSO_XDP_F_* */
	const struct pso_nic_profile *profile;	/* NULL: none (no hw, no native) */
	int offload_check;		/* pso_check_object(): 0 fits, 1 does not,
					 * < 0 could not check (no hw either) */
	const char *offload_check_why;	/* first violation (or the check's error);
					 * may be NULL */
};

#define PSO_MODE_MAX_STEPS 3

/*
 * The plan: modes to try in order (a later one only if loading or
 * attaching the earlier one fails at run time), and the reason for the
 * first; `ok` false when an explicit mode cannot be had, with `error`
 * "IFACE: reason; try --mode=X" (X: what auto would take) and no steps.
 * auto always ends with skb, an explicit mode is one step.  Both texts
 * are one line, e.g. reason "hw: the NIC does not advertise hw-offload;
 * drv: native XDP (basic)", error "veth0: no hardware offload (the NIC
 * does not advertise hw-offload); try --mode=drv".
 */
struct pso_mode_plan {
	bool ok;
	int nsteps;
	enum pso_mode steps[PSO_MODE_MAX_STEPS];
	char reason[256];	/* why steps[0], including every step down */
	char error[256];
};

void pso_mode_choose(const char *ifname, const struct pso_mode_input *in,
		     struct pso_mode_plan *plan);

#endif /* PSO_MODE_H */
