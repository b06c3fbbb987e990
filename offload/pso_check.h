/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * pso_check.h - does a BPF object fit a NIC's XDP offload constraints?
 *
 * pso_check_object() opens a BPF ELF object with libbpf (nothing is loaded
 * into the kernel), walks every program's instructions and every map, and
 * lists each rule the object breaks.  The limits are a plain struct so a NIC
 * profile can supply them; pso_offload_limits_nfp_default() gives the
 * Netronome/Corigine NFP values (sources in pso_check.c).
 *
 * Return: 0 the object fits, 1 violations were found (listed in `out`),
 * negative errno on bad input (missing file, not a BPF object); `out->error`
 * then holds one line saying why.  `psoffload check` maps these to exit
 * codes 0, 1 and 2.
 */
#ifndef PSO_CHECK_H
#define PSO_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A limit of 0 means "not checked". */
struct pso_offload_limits {
	uint32_t max_maps;		/* maps in the object (global data excluded) */
	uint64_t max_map_entries_total;	/* sum of max_entries over those maps */
	uint32_t max_entries_per_map;	/* max_entries of any one map */
	uint32_t max_key_size;		/* bytes */
	uint32_t max_value_size;	/* bytes */
	uint32_t max_elem_size;		/* round_up(key, 8) + round_up(value, 8) */
	uint32_t max_insns;		/* eBPF instructions per program */
	uint32_t max_stack;		/* bytes of stack per program */
};

struct pso_offload_limits pso_offload_limits_nfp_default(void);

enum pso_rule {
	PSO_RULE_PROG_TYPE,	/* program is not XDP */
	PSO_RULE_INSN_COUNT,	/* too many instructions */
	PSO_RULE_STACK,		/* too much stack */
	PSO_RULE_HELPER,	/* helper other than map lookup/update/delete */
	PSO_RULE_TAIL_CALL,	/* bpf_tail_call */
	PSO_RULE_BPF_CALL,	/* bpf-to-bpf call (subprogram) */
	PSO_RULE_BACKWARD_JUMP,	/* jump with a negative offset */
	PSO_RULE_MOD,		/* BPF_MOD */
	PSO_RULE_ATOMIC,	/* atomic other than non-fetch add */
	PSO_RULE_RETURN_CODE,	/* returns something other than ABORTED/DROP/PASS/TX */
	PSO_RULE_MAP_TYPE,	/* map neither ARRAY nor HASH */
	PSO_RULE_MAP_FLAGS,	/* any map flag */
	PSO_RULE_KEY_SIZE,
	PSO_RULE_VALUE_SIZE,
	PSO_RULE_ELEM_SIZE,	/* key + value together */
	PSO_RULE_GLOBAL_DATA,	/* .data, .bss, .rodata*, .kconfig */
	PSO_RULE_MAP_COUNT,
	PSO_RULE_MAP_ENTRIES,	/* total entries over all maps */
	PSO_RULE_MAP_ENTRIES_PER_MAP,	/* entries of one map */
	PSO_RULE__MAX
};

enum pso_where {
	PSO_WHERE_PROG,		/* `name` is a program; `insn` may be set */
	PSO_WHERE_MAP,		/* `name` is a map */
	PSO_WHERE_OBJECT,	/* the object as a whole */
};

struct pso_violation {
	enum pso_rule rule;
	enum pso_where where;
	char name[64];
	int insn;		/* instruction index, -1 when not about one */
	char reason[160];
};

struct pso_violations {
	struct pso_violation *v;
	size_t cnt;
	size_t cap;
	char error[256];	/* why the input was bad (negative return) */
};

int pso_check_object(const char *path, const struct pso_offload_limits *lim,
		     struct pso_violations *out);

/* The same over an object the caller opened (not loaded) and may have
 * resized, e.g. a skeleton whose NIC tables were sized from a profile. */
struct bpf_object;
int pso_check_bpf_object(struct bpf_object *obj, const struct pso_offload_limits *lim,
			 struct pso_violations *out);

/* Free the list; `out` may be reused afterwards. */
void pso_violations_free(struct pso_violations *out);

/* How many violations of `rule` were found. */
size_t pso_violations_count(const struct pso_violations *out, enum pso_rule rule);

/* Short stable name of a rule, e.g. "backward-jump". */
const char *pso_rule_name(enum pso_rule rule);

/* Format one violation into buf, in the form pso_violations_print() uses. */
int pso_violation_format(const struct pso_violation *v, char *buf, size_t len);

/*
 * One line per violation, in the order found:
 *   PROG[INSN]: reason     an instruction
 *   PROG: reason           a whole program
 *   map NAME: reason       a map
 *   object: reason         the object (map count, total entries)
 */
void pso_violations_print(FILE *f, const struct pso_violations *out);

#endif /* PSO_CHECK_H */
