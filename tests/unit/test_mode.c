// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * test_mode.c - the mode choice (host/mode.c) as a table: requested mode x
 * what the kernel reports (XDP features, or nothing before Linux 6.3) x the
 * NIC profile (hw_offload, [xdp] native) x whether the offload build fits.
 * Each row is one test, named by its description; a failure prints the
 * row's input, the expected and the actual plan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ctl/mode.h"
#include "ctl/nicinfo.h"

/* Feature sets as drivers report them. */
#define F_NONE	0ull						/* macvlan, bridge, lo */
#define F_B	((uint64_t)PSO_XDP_F_BASIC)
#define F_BRX	((uint64_t)(PSO_XDP_F_BASIC | PSO_XDP_F_REDIRECT | PSO_XDP_F_NDO_XMIT))
#define F_BRXH	(F_BRX | PSO_XDP_F_HW_OFFLOAD)			/* nfp */
#define F_H	((uint64_t)PSO_XDP_F_HW_OFFLOAD)		/* offload only */

#define KNOWN	true
#define UNKNOWN	false
#define YES	true
#define NO	false
#define FITS	0
#define NOFIT	1
#define CHECK_ERR (-2)

#define AUTO	PSO_MODE_AUTO
#define HW	PSO_MODE_HW
#define DRV	PSO_MODE_DRV
#define SKB	PSO_MODE_SKB

#define TOO_MANY "map pso_subs: too many entries"

struct row {
	const char *desc;
	/* input */
	enum pso_mode req;
	bool known;
	uint64_t features;
	bool prof_hw;		/* profile hw_offload */
	bool prof_native;	/* profile [xdp] native */
	int check;		/* offload_check */
	/* expected */
	bool ok;
	int nsteps;
	enum pso_mode steps[PSO_MODE_MAX_STEPS];
	const char *reason_is;	/* the whole reason, when given */
	const char *reason_has[2];
	const char *error_is;	/* the whole error, when given */
	const char *error_has[2];
};

/* The interface and profile names follow the profile: an offload NIC is an
 * NFP, anything else a veth. */
static const char *ifname_of(const struct row *r)
{
	return r->prof_hw ? "nfp0" : "veth0";
}

static const struct row rows[] = {
	/* --- auto, features known ------------------------------------------ */
	{ "auto: no XDP at all -> skb",
	  AUTO, KNOWN, F_NONE, NO, NO, FITS, true, 1, { SKB },
	  .reason_is = "hw: the NIC does not advertise hw-offload; "
		       "drv: the driver does not advertise basic XDP; skb: generic XDP" },
	{ "auto: no XDP features, profile claims hw and native -> skb (kernel wins)",
	  AUTO, KNOWN, F_NONE, YES, YES, FITS, true, 1, { SKB },
	  .reason_has = { "hw: the NIC does not advertise hw-offload",
			  "drv: the driver does not advertise basic XDP" } },
	{ "auto: basic -> drv, skb",
	  AUTO, KNOWN, F_B, NO, NO, FITS, true, 2, { DRV, SKB },
	  .reason_is = "hw: the NIC does not advertise hw-offload; drv: native XDP (basic)" },
	{ "auto: basic+redirect+ndo-xmit (veth) -> drv, skb",
	  AUTO, KNOWN, F_BRX, NO, YES, FITS, true, 2, { DRV, SKB },
	  .reason_is = "hw: the NIC does not advertise hw-offload; drv: native XDP (basic)" },
	{ "auto: basic+redirect+ndo-xmit, profile allows hw, not advertised -> drv, skb",
	  AUTO, KNOWN, F_BRX, YES, YES, FITS, true, 2, { DRV, SKB },
	  .reason_has = { "hw: the NIC does not advertise hw-offload" } },
	{ "auto: nfp, fits -> hw, drv, skb",
	  AUTO, KNOWN, F_BRXH, YES, YES, FITS, true, 3, { HW, DRV, SKB },
	  .reason_is = "hw: the NIC advertises hw-offload and the offload build fits the nfp profile" },
	{ "auto: nfp, does not fit -> drv, skb",
	  AUTO, KNOWN, F_BRXH, YES, YES, NOFIT, true, 2, { DRV, SKB },
	  .reason_is = "hw: the offload build does not fit the nfp profile (" TOO_MANY "); "
		       "drv: native XDP (basic)" },
	{ "auto: nfp, check failed to run -> drv, skb",
	  AUTO, KNOWN, F_BRXH, YES, YES, CHECK_ERR, true, 2, { DRV, SKB },
	  .reason_has = { "hw: the offload build could not be checked against the nfp profile",
			  "drv: native XDP (basic)" } },
	{ "auto: advertised, profile forbids hw -> drv, skb",
	  AUTO, KNOWN, F_BRXH, NO, YES, FITS, true, 2, { DRV, SKB },
	  .reason_is = "hw: the veth profile does not allow hw offload; drv: native XDP (basic)" },
	{ "auto: advertised, profile forbids hw, build does not fit -> drv, skb (profile named)",
	  AUTO, KNOWN, F_BRXH, NO, NO, NOFIT, true, 2, { DRV, SKB },
	  .reason_has = { "hw: the veth profile does not allow hw offload", "drv: native XDP" } },
	{ "auto: hw-offload without basic, fits -> hw, skb",
	  AUTO, KNOWN, F_H, YES, NO, FITS, true, 2, { HW, SKB },
	  .reason_has = { "hw: the NIC advertises hw-offload" } },
	{ "auto: hw-offload without basic, does not fit -> skb",
	  AUTO, KNOWN, F_H, YES, NO, NOFIT, true, 1, { SKB },
	  .reason_is = "hw: the offload build does not fit the nfp profile (" TOO_MANY "); "
		       "drv: the driver does not advertise basic XDP; skb: generic XDP" },

	/* --- auto, features unknown (kernel < 6.3): the profile decides ----- */
	{ "auto: unknown, profile hw+native, fits -> hw, drv, skb",
	  AUTO, UNKNOWN, 0, YES, YES, FITS, true, 3, { HW, DRV, SKB },
	  .reason_has = { "hw: the nfp profile has hw offload", "kernel does not report XDP features" } },
	{ "auto: unknown, profile hw+native, does not fit -> drv, skb",
	  AUTO, UNKNOWN, 0, YES, YES, NOFIT, true, 2, { DRV, SKB },
	  .reason_has = { "hw: the offload build does not fit the nfp profile (" TOO_MANY ")",
			  "drv: native XDP (the nfp profile" } },
	{ "auto: unknown, profile native only -> drv, skb",
	  AUTO, UNKNOWN, 0, NO, YES, FITS, true, 2, { DRV, SKB },
	  .reason_is = "hw: the kernel does not report XDP features and the veth profile has no hw offload; "
		       "drv: native XDP (the veth profile; the kernel does not report XDP features)" },
	{ "auto: unknown, profile neither -> skb",
	  AUTO, UNKNOWN, 0, NO, NO, FITS, true, 1, { SKB },
	  .reason_has = { "drv: the kernel does not report XDP features and the veth profile has no native XDP",
			  "; skb: generic XDP" } },
	{ "auto: unknown, profile hw only, fits -> hw, skb",
	  AUTO, UNKNOWN, 0, YES, NO, FITS, true, 2, { HW, SKB },
	  .reason_has = { "hw: the nfp profile has hw offload" } },
	{ "auto: unknown, stale feature bits are ignored -> skb",
	  AUTO, UNKNOWN, F_BRXH, NO, NO, FITS, true, 1, { SKB },
	  .reason_has = { "the veth profile has no hw offload", "the veth profile has no native XDP" } },

	/* --- explicit hw ----------------------------------------------------- */
	{ "hw: no XDP at all -> refused, try skb",
	  HW, KNOWN, F_NONE, NO, NO, FITS, false, 0, { 0 },
	  .error_is = "veth0: no hardware offload (the NIC does not advertise hw-offload); try --mode=skb" },
	{ "hw: basic -> refused, try drv",
	  HW, KNOWN, F_B, NO, YES, FITS, false, 0, { 0 },
	  .error_is = "veth0: no hardware offload (the NIC does not advertise hw-offload); try --mode=drv" },
	{ "hw: veth features, profile allows hw -> refused, try drv",
	  HW, KNOWN, F_BRX, YES, YES, FITS, false, 0, { 0 },
	  .error_is = "nfp0: no hardware offload (the NIC does not advertise hw-offload); try --mode=drv" },
	{ "hw: nfp, fits -> hw",
	  HW, KNOWN, F_BRXH, YES, YES, FITS, true, 1, { HW },
	  .reason_is = "hw: requested; the NIC advertises hw-offload and the offload build fits the nfp profile" },
	{ "hw: nfp, does not fit -> refused, try drv",
	  HW, KNOWN, F_BRXH, YES, YES, NOFIT, false, 0, { 0 },
	  .error_has = { "nfp0: no hardware offload (the offload build does not fit the nfp profile (" TOO_MANY "))",
			 "; try --mode=drv" } },
	{ "hw: nfp, check failed to run -> refused, try drv",
	  HW, KNOWN, F_BRXH, YES, YES, CHECK_ERR, false, 0, { 0 },
	  .error_has = { "nfp0: no hardware offload (the offload build could not be checked",
			 "try --mode=drv" } },
	{ "hw: advertised, profile forbids -> refused, try drv",
	  HW, KNOWN, F_BRXH, NO, YES, FITS, false, 0, { 0 },
	  .error_is = "veth0: no hardware offload (the veth profile does not allow hw offload); try --mode=drv" },
	{ "hw: hw-offload without basic, does not fit -> refused, try skb",
	  HW, KNOWN, F_H, YES, NO, NOFIT, false, 0, { 0 },
	  .error_has = { "nfp0: no hardware offload", "try --mode=skb" } },
	{ "hw: unknown, profile hw, fits -> hw",
	  HW, UNKNOWN, 0, YES, YES, FITS, true, 1, { HW },
	  .reason_has = { "hw: requested; the nfp profile has hw offload" } },
	{ "hw: unknown, profile hw, does not fit -> refused, try drv",
	  HW, UNKNOWN, 0, YES, YES, NOFIT, false, 0, { 0 },
	  .error_has = { "nfp0: no hardware offload (the offload build does not fit", "try --mode=drv" } },
	{ "hw: unknown, profile native only -> refused, try drv",
	  HW, UNKNOWN, 0, NO, YES, FITS, false, 0, { 0 },
	  .error_is = "veth0: no hardware offload (the kernel does not report XDP features and the veth "
		      "profile has no hw offload); try --mode=drv" },
	{ "hw: unknown, profile neither -> refused, try skb",
	  HW, UNKNOWN, 0, NO, NO, FITS, false, 0, { 0 },
	  .error_has = { "veth0: no hardware offload", "; try --mode=skb" } },

	/* --- explicit drv ---------------------------------------------------- */
	{ "drv: no XDP at all (macvlan) -> refused, try skb",
	  DRV, KNOWN, F_NONE, NO, NO, FITS, false, 0, { 0 },
	  .error_is = "veth0: no native XDP (the driver does not advertise basic XDP); try --mode=skb" },
	{ "drv: no XDP features, profile claims native -> refused (kernel wins)",
	  DRV, KNOWN, F_NONE, NO, YES, FITS, false, 0, { 0 },
	  .error_has = { "veth0: no native XDP", "try --mode=skb" } },
	{ "drv: basic -> drv",
	  DRV, KNOWN, F_B, NO, NO, FITS, true, 1, { DRV },
	  .reason_is = "drv: requested; native XDP (basic)" },
	{ "drv: basic+redirect+ndo-xmit -> drv",
	  DRV, KNOWN, F_BRX, NO, YES, FITS, true, 1, { DRV },
	  .reason_has = { "drv: requested" } },
	{ "drv: nfp where hw would fit -> drv (as asked)",
	  DRV, KNOWN, F_BRXH, YES, YES, FITS, true, 1, { DRV },
	  .reason_is = "drv: requested; native XDP (basic)" },
	{ "drv: hw-offload without basic, fits -> refused, try hw",
	  DRV, KNOWN, F_H, YES, YES, FITS, false, 0, { 0 },
	  .error_is = "nfp0: no native XDP (the driver does not advertise basic XDP); try --mode=hw" },
	{ "drv: unknown, profile native -> drv",
	  DRV, UNKNOWN, 0, NO, YES, FITS, true, 1, { DRV },
	  .reason_has = { "drv: requested; native XDP (the veth profile" } },
	{ "drv: unknown, profile no native -> refused, try skb",
	  DRV, UNKNOWN, 0, NO, NO, FITS, false, 0, { 0 },
	  .error_is = "veth0: no native XDP (the kernel does not report XDP features and the veth "
		      "profile has no native XDP); try --mode=skb" },
	{ "drv: unknown, profile hw only, fits -> refused, try hw",
	  DRV, UNKNOWN, 0, YES, NO, FITS, false, 0, { 0 },
	  .error_has = { "nfp0: no native XDP", "try --mode=hw" } },
	{ "drv: unknown, profile hw only, does not fit -> refused, try skb",
	  DRV, UNKNOWN, 0, YES, NO, NOFIT, false, 0, { 0 },
	  .error_has = { "nfp0: no native XDP", "try --mode=skb" } },

	/* --- explicit skb: always possible ----------------------------------- */
	{ "skb: no XDP at all -> skb",
	  SKB, KNOWN, F_NONE, NO, NO, FITS, true, 1, { SKB },
	  .reason_is = "skb: requested; generic XDP" },
	{ "skb: basic -> skb",
	  SKB, KNOWN, F_B, NO, YES, FITS, true, 1, { SKB },
	  .reason_is = "skb: requested; generic XDP" },
	{ "skb: nfp where hw would fit -> skb (as asked)",
	  SKB, KNOWN, F_BRXH, YES, YES, FITS, true, 1, { SKB },
	  .reason_is = "skb: requested; generic XDP" },
	{ "skb: unknown, profile neither -> skb",
	  SKB, UNKNOWN, 0, NO, NO, NOFIT, true, 1, { SKB },
	  .reason_is = "skb: requested; generic XDP" },
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

static void make_profile(const struct row *r, struct pso_nic_profile *p)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", r->prof_hw ? "nfp" : "veth");
	p->xdp_native = r->prof_native;
	p->xdp_redirect = r->prof_native;
	p->hw_offload = r->prof_hw;
}

static void print_row(const struct row *r, const struct pso_mode_plan *plan)
{
	char feat[128];

	print_error("row:      %s\n", r->desc);
	print_error("input:    --mode=%s, features %s, profile hw_offload=%s native=%s, offload check %d\n",
		    pso_mode_name(r->req),
		    r->known ? pso_xdp_features_str(r->features, feat, sizeof(feat)) : "unknown",
		    r->prof_hw ? "yes" : "no", r->prof_native ? "yes" : "no", r->check);
	print_error("expected: ok=%d steps", r->ok);
	for (int i = 0; i < r->nsteps; i++)
		print_error(" %s", pso_mode_name(r->steps[i]));
	print_error("\nactual:   ok=%d steps", plan->ok);
	for (int i = 0; i < plan->nsteps && i < PSO_MODE_MAX_STEPS; i++)
		print_error(" %s", pso_mode_name(plan->steps[i]));
	print_error("\n          reason \"%s\"\n          error \"%s\"\n", plan->reason, plan->error);
}

static bool has_newline(const char *s)
{
	return strchr(s, '\n') != NULL;
}

static bool matches(const struct row *r, const struct pso_mode_plan *plan)
{
	const char *ifname = ifname_of(r);

	if (plan->ok != r->ok || plan->nsteps != r->nsteps)
		return false;
	for (int i = 0; i < r->nsteps; i++)
		if (plan->steps[i] != r->steps[i])
			return false;
	/* auto always ends on skb, which cannot be refused */
	if (r->req == AUTO && plan->steps[plan->nsteps - 1] != SKB)
		return false;
	if (has_newline(plan->reason) || has_newline(plan->error) || !plan->reason[0])
		return false;
	if (r->reason_is && strcmp(plan->reason, r->reason_is))
		return false;
	for (int i = 0; i < 2; i++)
		if (r->reason_has[i] && !strstr(plan->reason, r->reason_has[i]))
			return false;
	if (r->ok) {
		if (plan->error[0])
			return false;
	} else {
		/* "IFACE: ...; try --mode=X", X the mode auto takes */
		if (strncmp(plan->error, ifname, strlen(ifname)) ||
		    strncmp(plan->error + strlen(ifname), ": ", 2) || !strstr(plan->error, "; try --mode="))
			return false;
	}
	if (r->error_is && strcmp(plan->error, r->error_is))
		return false;
	for (int i = 0; i < 2; i++)
		if (r->error_has[i] && !strstr(plan->error, r->error_has[i]))
			return false;
	return true;
}

static void test_row(void **state)
{
	const struct row *r = *state;
	struct pso_nic_profile prof;
	struct pso_mode_input in;
	struct pso_mode_plan plan;

	make_profile(r, &prof);
	in = (struct pso_mode_input){
		.requested = r->req,
		.features_known = r->known,
		.xdp_features = r->features,
		.profile = &prof,
		.offload_check = r->check,
		.offload_check_why = r->check > 0 ? TOO_MANY : r->check < 0 ? "no such file" : NULL,
	};
	/* Garbage in, to see that every field is set. */
	memset(&plan, 0xa5, sizeof(plan));
	pso_mode_choose(ifname_of(r), &in, &plan);
	if (!matches(r, &plan)) {
		print_row(r, &plan);
		fail();
	}
}

/* A refused explicit mode names what auto would take: for every row
 * that refuses, auto on the same input starts with that mode. */
static void test_try_is_auto_choice(void **state)
{
	for (unsigned int i = 0; i < NROWS; i++) {
		const struct row *r = &rows[i];
		struct pso_nic_profile prof;
		struct pso_mode_input in;
		struct pso_mode_plan plan, autoplan;
		char want[32];

		if (r->ok)
			continue;
		make_profile(r, &prof);
		in = (struct pso_mode_input){
			.requested = r->req, .features_known = r->known, .xdp_features = r->features,
			.profile = &prof, .offload_check = r->check,
		};
		pso_mode_choose(ifname_of(r), &in, &plan);
		in.requested = AUTO;
		pso_mode_choose(ifname_of(r), &in, &autoplan);
		snprintf(want, sizeof(want), "; try --mode=%s", pso_mode_name(autoplan.steps[0]));
		if (!strstr(plan.error, want)) {
			print_error("%s: error \"%s\" lacks \"%s\"\n", r->desc, plan.error, want);
			fail();
		}
	}
}

/* A profile-less call (no profile file found) still chooses from the
 * kernel's features, and says "default" for the profile. */
static void test_no_profile(void **state)
{
	struct pso_mode_input in = {
		.requested = AUTO, .features_known = true, .xdp_features = F_BRXH,
		.profile = NULL, .offload_check = 0,
	};
	struct pso_mode_plan plan;

	pso_mode_choose("eth0", &in, &plan);
	assert_true(plan.ok);
	assert_int_equal(plan.nsteps, 2);
	assert_int_equal(plan.steps[0], DRV);
	assert_string_equal(plan.reason,
			    "hw: the default profile does not allow hw offload; drv: native XDP (basic)");

	in.features_known = false;
	pso_mode_choose("eth0", &in, &plan);
	assert_true(plan.ok);
	assert_int_equal(plan.nsteps, 1);
	assert_int_equal(plan.steps[0], SKB);
}

/* A long violation text is cut, never overflows, and stays one line. */
static void test_long_reason(void **state)
{
	struct pso_nic_profile prof;
	struct pso_mode_input in;
	struct pso_mode_plan plan;
	char why[1024];

	memset(why, 'x', sizeof(why) - 1);
	why[sizeof(why) - 1] = '\0';
	memset(&prof, 0, sizeof(prof));
	snprintf(prof.name, sizeof(prof.name), "nfp");
	prof.hw_offload = true;
	in = (struct pso_mode_input){
		.requested = HW, .features_known = true, .xdp_features = F_BRXH,
		.profile = &prof, .offload_check = 1, .offload_check_why = why,
	};
	pso_mode_choose("nfp0", &in, &plan);
	assert_false(plan.ok);
	assert_true(strlen(plan.error) < sizeof(plan.error));
	assert_true(strlen(plan.reason) < sizeof(plan.reason));
	assert_non_null(strstr(plan.error, "nfp0: no hardware offload"));
	in.requested = AUTO;
	pso_mode_choose("nfp0", &in, &plan);
	assert_true(plan.ok);
	assert_int_equal(plan.steps[0], DRV);
	assert_true(strlen(plan.reason) < sizeof(plan.reason));
}

static void test_unknown_mode(void **state)
{
	struct pso_mode_input in = { .requested = (enum pso_mode)42, .features_known = true };
	struct pso_mode_plan plan;

	pso_mode_choose("eth0", &in, &plan);
	assert_false(plan.ok);
	assert_int_equal(plan.nsteps, 0);
	assert_string_equal(plan.error, "eth0: unknown mode 42");
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_try_is_auto_choice),
		cmocka_unit_test(test_no_profile),
		cmocka_unit_test(test_long_reason),
		cmocka_unit_test(test_unknown_mode),
	};
#define NFIXED (sizeof(fixed) / sizeof(fixed[0]))
	struct CMUnitTest tests[NROWS + NFIXED];

	for (unsigned int i = 0; i < NROWS; i++)
		tests[i] = (struct CMUnitTest){
			.name = rows[i].desc,
			.test_func = test_row,
			.initial_state = (void *)&rows[i],
		};
	for (unsigned int i = 0; i < NFIXED; i++)
		tests[NROWS + i] = fixed[i];
	return _cmocka_run_group_tests("mode", tests, NROWS + NFIXED, NULL, NULL);
}
