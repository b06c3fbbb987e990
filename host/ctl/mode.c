// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * mode.c - which XDP mode to use on a NIC, and why (docs/DESIGN.md, "Mode choice").
 *
 * Each mode gets a verdict - possible or not, with the reason in words - from
 * what the kernel reports (the XDP feature flags, when it reports them) and
 * the NIC's profile.  auto takes every possible mode from hw down, so that a
 * failure to load or attach one at run time falls to the next; an explicit
 * mode is one step, or a refusal naming the mode auto would have taken.
 * No I/O here: the caller gathers the facts and does the attaching.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl/mode.h"
#include "ctl/nicinfo.h"

struct verdict {
	bool possible;
	char why[200];
};

static void say(struct verdict *v, bool possible, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct verdict *v, bool possible, const char *fmt, ...)
{
	va_list ap;

	v->possible = possible;
	va_start(ap, fmt);
	vsnprintf(v->why, sizeof(v->why), fmt, ap);
	va_end(ap);
}

static void append(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t len, const char *fmt, ...)
{
	size_t off = strnlen(buf, len);
	va_list ap;

	if (off + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + off, len - off, fmt, ap);
	va_end(ap);
}

static const char *profile_name(const struct pso_nic_profile *p)
{
	return p && p->name[0] ? p->name : "default";
}

/* hw: advertised (or, features unknown, in the profile), allowed by the
 * profile, and the offload build passes the check against it. */
static void hw_verdict(const struct pso_mode_input *in, struct verdict *v)
{
	const struct pso_nic_profile *p = in->profile;
	const char *name = profile_name(p);
	bool allowed = p && p->hw_offload;

	const char *check_why = in->offload_check_why;

	if (in->features_known && !(in->xdp_features & PSO_XDP_F_HW_OFFLOAD))
		say(v, false, "the NIC does not advertise hw-offload");
	else if (!in->features_known && !allowed)
		say(v, false, "the kernel does not report XDP features and the %s profile has no hw offload",
		    name);
	else if (!allowed)
		say(v, false, "the %s profile does not allow hw offload", name);
	else if (in->offload_check)
		say(v, false, "the offload build %s the %s profile%s%s%s",
		    in->offload_check < 0 ? "could not be checked against" : "does not fit", name,
		    check_why ? " (" : "", check_why ? check_why : "", check_why ? ")" : "");
	else if (in->features_known)
		say(v, true, "the NIC advertises hw-offload and the offload build fits the %s profile",
		    name);
	else
		say(v, true, "the %s profile has hw offload (the kernel does not report XDP features) "
			     "and the offload build fits it", name);
}

/* drv: the driver's basic XDP feature, or the profile's word for it. */
static void drv_verdict(const struct pso_mode_input *in, struct verdict *v)
{
	const struct pso_nic_profile *p = in->profile;

	if (in->features_known && (in->xdp_features & PSO_XDP_F_BASIC))
		say(v, true, "native XDP (basic)");
	else if (in->features_known)
		say(v, false, "the driver does not advertise basic XDP");
	else if (p && p->xdp_native)
		say(v, true, "native XDP (the %s profile; the kernel does not report XDP features)",
		    profile_name(p));
	else
		say(v, false, "the kernel does not report XDP features and the %s profile has no native XDP",
		    profile_name(p));
}

static void verdict_for(enum pso_mode mode, const struct pso_mode_input *in, struct verdict *v)
{
	switch (mode) {
	case PSO_MODE_HW:
		hw_verdict(in, v);
		break;
	case PSO_MODE_DRV:
		drv_verdict(in, v);
		break;
	default:
		say(v, true, "generic XDP");
		break;
	}
}

/* auto: every possible mode from hw down; the reason walks down to the
 * first of them. */
static void choose_auto(const struct pso_mode_input *in, struct pso_mode_plan *plan)
{
	static const enum pso_mode order[] = { PSO_MODE_HW, PSO_MODE_DRV, PSO_MODE_SKB };

	plan->ok = true;
	for (unsigned int i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		struct verdict v;

		verdict_for(order[i], in, &v);
		if (!v.possible)
			continue;
		if (plan->nsteps == 0) {
			/* Every mode above this one, and why not, then this. */
			for (unsigned int j = 0; j < i; j++) {
				struct verdict no;

				verdict_for(order[j], in, &no);
				append(plan->reason, sizeof(plan->reason), "%s: %s; ",
				       pso_mode_name(order[j]), no.why);
			}
			append(plan->reason, sizeof(plan->reason), "%s: %s",
			       pso_mode_name(order[i]), v.why);
		}
		plan->steps[plan->nsteps++] = order[i];
	}
}

void pso_mode_choose(const char *ifname, const struct pso_mode_input *in,
		     struct pso_mode_plan *plan)
{
	struct pso_mode_plan best;
	struct verdict v;

	memset(plan, 0, sizeof(*plan));
	if (!ifname)
		ifname = "?";
	if (in->requested == PSO_MODE_AUTO) {
		choose_auto(in, plan);
		return;
	}
	if (in->requested != PSO_MODE_HW && in->requested != PSO_MODE_DRV &&
	    in->requested != PSO_MODE_SKB) {
		snprintf(plan->error, sizeof(plan->error), "%s: unknown mode %d", ifname,
			 (int)in->requested);
		return;
	}

	verdict_for(in->requested, in, &v);
	if (v.possible) {
		plan->ok = true;
		plan->nsteps = 1;
		plan->steps[0] = in->requested;
		snprintf(plan->reason, sizeof(plan->reason), "%s: requested; %s",
			 pso_mode_name(in->requested), v.why);
		return;
	}

	/* Refused: say why, and what auto would have taken (skb at worst, so
	 * there is always one). */
	memset(&best, 0, sizeof(best));
	choose_auto(in, &best);
	snprintf(plan->reason, sizeof(plan->reason), "%s: %s", pso_mode_name(in->requested), v.why);
	snprintf(plan->error, sizeof(plan->error), "%s: %s (%s); try --mode=%s", ifname,
		 in->requested == PSO_MODE_HW ? "no hardware offload" : "no native XDP", v.why,
		 pso_mode_name(best.steps[0]));
}
