// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pso_check.c - static check of a BPF object against NIC offload limits.
 *
 * Everything is read from the ELF object through libbpf's open-only API; no
 * program or map is created in the kernel, so this runs without privileges
 * and without the NIC.  What the NFP accepts is decided in the kernel by the
 * nfp driver (drivers/net/ethernet/netronome/nfp/bpf/{verifier,jit,offload}.c)
 * and by limits its firmware reports at run time.  The rules follow the driver
 * where the offload build's contract (docs/DESIGN.md, "Offload build") asks for no more:
 *  - same as the driver: map types ARRAY/HASH, no map flags
 *    (nfp_bpf_map_alloc()), atomics only BPF_ADD without BPF_FETCH
 *    (nfp_bpf_check_atomic()), no BPF_MOD (no JIT handler), no tail calls,
 *    XDP return codes (see check_return_codes()), map and size limits;
 *  - stricter, by contract: helpers only map lookup/update/delete (firmware
 *    may also offer adjust_head/tail, get_prandom_u32, perf_event_output),
 *    no bpf-to-bpf calls (the driver supports them since Linux 4.20), no
 *    backward jumps at all (the JIT supports them since 4.16, kernel commit
 *    854dc87d1a7b); each backward jump is reported as a loop or not.
 *
 * Limits of the checks (what a clean result does NOT prove):
 *  - Instruction count is in eBPF instructions.  The firmware limit
 *    (NFP_NET_CFG_BPF_MAX_LEN) is in NFP instructions after the JIT, which
 *    emits one or more per eBPF instruction, so passing is necessary, not
 *    sufficient.
 *  - Stack use is estimated from r10-relative loads/stores and from r10+K
 *    pointers built in registers (e.g. map keys), scanning in layout order.
 *  - Return codes are found by a small constant propagation over registers
 *    (sets of up to PSO_RV_MAX constants).  A return value that comes from
 *    memory, a helper or arithmetic on registers is "unknown" and passes.
 *  - Subprogram bodies (.text) are not inspected; the bpf-to-bpf call itself
 *    is reported.
 *  - Not checked: plain stores into map values ("map writes not supported"
 *    in the nfp verifier), context fields other than data/data_end, packet
 *    access beyond the firmware's MTU split, map BTF (libbpf retries map
 *    creation without BTF when the device refuses it).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <bpf/libbpf.h>

#include "pso_check.h"

/*
 * NFP default limits.  The firmware reports the real values to the driver
 * (map capability TLV NFP_BPF_CAP_TYPE_MAPS: max_maps, max_elems, max_key_sz,
 * max_val_sz, max_elem_sz; BAR fields NFP_NET_CFG_BPF_STACK_SZ (64-byte units)
 * and NFP_NET_CFG_BPF_MAX_LEN), see nfp/bpf/main.c, offload.c
 * nfp_bpf_map_alloc() and nfp_net_bpf_load().  They are not exported to user
 * space, so a profile should override these with the card's figures.
 *
 *  key/value 64 B: the map control-message ABI v2 carries at most 16 words of
 *      key and 16 words of value (nfp/bpf/fw.h CMSG_MAP_KEY_LW and
 *      CMSG_MAP_VALUE_LW; kernel commit 0c9864c05f34 "nfp: bpf: allow control
 *      message sizing for map ops": "at most 16 words of key and 16 words of
 *      value (NFP word is 4 bytes)").
 *  element 64 B (key + value, each rounded up to 8 B as nfp_bpf_map_alloc()
 *      does): libkefir documentation, "Notes about hardware offload"
 *      (https://libkefir.readthedocs.io/en/latest/hwoffload.html): "64 bytes
 *      per entry (key + value)"; also CentaurusInfra/mizar
 *      docs/design/features/offload_XDP/design_and_limitations.md.
 *  3,072,000 entries in all maps together and 2800 instructions: mizar,
 *      same document ("Sum of map entries on the NIC should be less than
 *      3,072,000", "the maximum number of instructions on the SmartNIC is
 *      only 2800").
 *  stack 512 B: MAX_BPF_STACK, the kernel's own bound; the firmware's stack
 *      (NFP_NET_CFG_BPF_STACK_SZ * 64) is not publicly documented and may be
 *      smaller.
 *  64 maps: not publicly documented (firmware TLV max_maps); a placeholder
 *      to be replaced by the profile.
 */
struct pso_offload_limits pso_offload_limits_nfp_default(void)
{
	return (struct pso_offload_limits){
		.max_maps		= 64,
		.max_map_entries_total	= 3072000,
		.max_key_size		= 64,
		.max_value_size		= 64,
		.max_elem_size		= 64,
		.max_insns		= 2800,
		.max_stack		= 512,
	};
}

static const char *const rule_names[PSO_RULE__MAX] = {
	[PSO_RULE_PROG_TYPE]	 = "prog-type",
	[PSO_RULE_INSN_COUNT]	 = "insn-count",
	[PSO_RULE_STACK]	 = "stack",
	[PSO_RULE_HELPER]	 = "helper",
	[PSO_RULE_TAIL_CALL]	 = "tail-call",
	[PSO_RULE_BPF_CALL]	 = "bpf-call",
	[PSO_RULE_BACKWARD_JUMP] = "backward-jump",
	[PSO_RULE_MOD]		 = "mod",
	[PSO_RULE_ATOMIC]	 = "atomic",
	[PSO_RULE_RETURN_CODE]	 = "return-code",
	[PSO_RULE_MAP_TYPE]	 = "map-type",
	[PSO_RULE_MAP_FLAGS]	 = "map-flags",
	[PSO_RULE_KEY_SIZE]	 = "key-size",
	[PSO_RULE_VALUE_SIZE]	 = "value-size",
	[PSO_RULE_ELEM_SIZE]	 = "elem-size",
	[PSO_RULE_GLOBAL_DATA]	 = "global-data",
	[PSO_RULE_MAP_COUNT]	 = "map-count",
	[PSO_RULE_MAP_ENTRIES]	 = "map-entries",
	[PSO_RULE_MAP_ENTRIES_PER_MAP] = "map-entries-per-map",
};

const char *pso_rule_name(enum pso_rule rule)
{
	if ((unsigned int)rule >= PSO_RULE__MAX)
		return "unknown";
	return rule_names[rule];
}

/* Helper names from the uapi header's list (it supplies the commas). */
#define PSO_HELPER_NAME(x) [BPF_FUNC_##x] = #x
static const char *const helper_names[] = {
	__BPF_FUNC_MAPPER(PSO_HELPER_NAME)
};
#undef PSO_HELPER_NAME

static const char *helper_name(int id)
{
	if (id < 0 || (size_t)id >= sizeof(helper_names) / sizeof(helper_names[0]) ||
	    !helper_names[id])
		return "unknown";
	return helper_names[id];
}

/* ---- violation list ----------------------------------------------------- */

__attribute__((format(printf, 6, 7)))
static int add(struct pso_violations *out, enum pso_rule rule, enum pso_where where,
	       const char *name, int insn, const char *fmt, ...)
{
	struct pso_violation *v;
	va_list ap;

	if (out->cnt == out->cap) {
		size_t cap = out->cap ? out->cap * 2 : 16;
		void *p = realloc(out->v, cap * sizeof(*out->v));

		if (!p)
			return -ENOMEM;
		out->v = p;
		out->cap = cap;
	}
	v = &out->v[out->cnt++];
	memset(v, 0, sizeof(*v));
	v->rule = rule;
	v->where = where;
	v->insn = insn;
	snprintf(v->name, sizeof(v->name), "%s", name ? name : "");
	va_start(ap, fmt);
	vsnprintf(v->reason, sizeof(v->reason), fmt, ap);
	va_end(ap);
	return 0;
}

void pso_violations_free(struct pso_violations *out)
{
	free(out->v);
	memset(out, 0, sizeof(*out));
}

size_t pso_violations_count(const struct pso_violations *out, enum pso_rule rule)
{
	size_t i, n = 0;

	for (i = 0; i < out->cnt; i++)
		n += out->v[i].rule == rule;
	return n;
}

int pso_violation_format(const struct pso_violation *v, char *buf, size_t len)
{
	switch (v->where) {
	case PSO_WHERE_PROG:
		if (v->insn >= 0)
			return snprintf(buf, len, "%s[%d]: %s", v->name, v->insn, v->reason);
		return snprintf(buf, len, "%s: %s", v->name, v->reason);
	case PSO_WHERE_MAP:
		return snprintf(buf, len, "map %s: %s", v->name, v->reason);
	case PSO_WHERE_OBJECT:
	default:
		return snprintf(buf, len, "object: %s", v->reason);
	}
}

void pso_violations_print(FILE *f, const struct pso_violations *out)
{
	char line[320];
	size_t i;

	for (i = 0; i < out->cnt; i++) {
		pso_violation_format(&out->v[i], line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
}

/* ---- instruction helpers ------------------------------------------------ */

#define INSN_IS_LD_IMM64(in) ((in)->code == (BPF_LD | BPF_IMM | BPF_DW))

static bool is_jmp_class(__u8 code)
{
	return BPF_CLASS(code) == BPF_JMP || BPF_CLASS(code) == BPF_JMP32;
}

/* Offset of a jump; JMP32|JA ("gotol", cpu v4) keeps it in imm. */
static long jump_off(const struct bpf_insn *in)
{
	if (BPF_CLASS(in->code) == BPF_JMP32 && BPF_OP(in->code) == BPF_JA)
		return in->imm;
	return in->off;
}

/* Control-flow successors of insn i; returns how many (0..2). */
static int successors(const struct bpf_insn *insns, size_t n, size_t i, size_t succ[2])
{
	const struct bpf_insn *in = &insns[i];
	int cnt = 0;
	long t;

	if (INSN_IS_LD_IMM64(in)) {
		if (i + 2 < n)
			succ[cnt++] = i + 2;
		return cnt;
	}
	if (!is_jmp_class(in->code) || BPF_OP(in->code) == BPF_CALL) {
		if (i + 1 < n)
			succ[cnt++] = i + 1;
		return cnt;
	}
	if (BPF_OP(in->code) == BPF_EXIT)
		return 0;
	if (BPF_OP(in->code) != BPF_JA && i + 1 < n)
		succ[cnt++] = i + 1;
	t = (long)i + 1 + jump_off(in);
	if (t >= 0 && (size_t)t < n)
		succ[cnt++] = (size_t)t;
	return cnt;
}

/* Can control flow get from insn `from` to insn `to`? */
static bool reaches(const struct bpf_insn *insns, size_t n, size_t from, size_t to,
		    unsigned char *seen, size_t *stack)
{
	size_t top = 0, i, s[2];
	int k, cnt;

	memset(seen, 0, n);
	stack[top++] = from;
	seen[from] = 1;
	while (top) {
		i = stack[--top];
		if (i == to)
			return true;
		cnt = successors(insns, n, i, s);
		for (k = 0; k < cnt; k++) {
			if (!seen[s[k]]) {
				seen[s[k]] = 1;
				stack[top++] = s[k];
			}
		}
	}
	return false;
}

/* ---- constant propagation for return codes ------------------------------ */

#define PSO_RV_MAX 8
#define PSO_NREGS  11

struct vset {
	int n;			/* -1: unknown; 0: no value yet */
	__u64 v[PSO_RV_MAX];
};

struct rstate {
	bool reached;
	struct vset r[PSO_NREGS];
};

static void vset_top(struct vset *s)
{
	s->n = -1;
}

static void vset_one(struct vset *s, __u64 v)
{
	s->n = 1;
	s->v[0] = v;
}

static bool vset_add(struct vset *s, __u64 v)
{
	int i;

	if (s->n < 0)
		return false;
	for (i = 0; i < s->n; i++)
		if (s->v[i] == v)
			return false;
	if (s->n == PSO_RV_MAX) {
		s->n = -1;
		return true;
	}
	s->v[s->n++] = v;
	return true;
}

static bool vset_join(struct vset *dst, const struct vset *src)
{
	bool changed = false;
	int i;

	if (dst->n < 0)
		return false;
	if (src->n < 0) {
		dst->n = -1;
		return true;
	}
	for (i = 0; i < src->n; i++)
		changed |= vset_add(dst, src->v[i]);
	return changed;
}

static bool alu_k(__u8 op, __u64 *v, __u64 k)
{
	switch (op) {
	case BPF_ADD: *v += k; return true;
	case BPF_SUB: *v -= k; return true;
	case BPF_MUL: *v *= k; return true;
	case BPF_AND: *v &= k; return true;
	case BPF_OR:  *v |= k; return true;
	case BPF_XOR: *v ^= k; return true;
	case BPF_LSH: if (k >= 64) return false; *v <<= k; return true;
	case BPF_RSH: if (k >= 64) return false; *v >>= k; return true;
	default: return false;
	}
}

/* Apply insn `in` to the register state s. */
static void transfer(const struct bpf_insn *in, struct rstate *s)
{
	__u8 cls = BPF_CLASS(in->code);
	struct vset *dst = &s->r[in->dst_reg % PSO_NREGS];
	int i;

	switch (cls) {
	case BPF_ALU:
	case BPF_ALU64: {
		bool is64 = cls == BPF_ALU64;
		__u8 op = BPF_OP(in->code);

		if (op == BPF_MOV && BPF_SRC(in->code) == BPF_K) {
			vset_one(dst, is64 ? (__u64)(__s64)in->imm : (__u32)in->imm);
		} else if (op == BPF_MOV && in->off == 0) {
			*dst = s->r[in->src_reg % PSO_NREGS];
			if (!is64 && dst->n > 0)
				for (i = 0; i < dst->n; i++)
					dst->v[i] = (__u32)dst->v[i];
		} else if (BPF_SRC(in->code) == BPF_K && op != BPF_MOV && dst->n > 0) {
			__u64 k = is64 ? (__u64)(__s64)in->imm : (__u32)in->imm;

			for (i = 0; i < dst->n; i++) {
				if (!alu_k(op, &dst->v[i], k)) {
					vset_top(dst);
					break;
				}
				if (!is64)
					dst->v[i] = (__u32)dst->v[i];
			}
		} else {
			vset_top(dst);
		}
		break;
	}
	case BPF_LD:
		if (INSN_IS_LD_IMM64(in) && in->src_reg == 0)
			vset_one(dst, (__u32)in->imm | ((__u64)(__u32)in[1].imm << 32));
		else
			vset_top(dst);
		break;
	case BPF_LDX:
		vset_top(dst);
		break;
	case BPF_STX:
		if (BPF_MODE(in->code) == BPF_ATOMIC && (in->imm & BPF_FETCH)) {
			if (in->imm == BPF_CMPXCHG)
				vset_top(&s->r[BPF_REG_0]);
			else
				vset_top(&s->r[in->src_reg % PSO_NREGS]);
		}
		break;
	case BPF_JMP:
		if (BPF_OP(in->code) == BPF_CALL)
			for (i = BPF_REG_0; i <= BPF_REG_5; i++)
				vset_top(&s->r[i]);
		break;
	default:
		break;
	}
}

static bool state_join(struct rstate *dst, const struct rstate *src)
{
	bool changed = false;
	int i;

	if (!dst->reached) {
		*dst = *src;
		return true;
	}
	for (i = 0; i < PSO_NREGS; i++)
		changed |= vset_join(&dst->r[i], &src->r[i]);
	return changed;
}

static const char *xdp_action_name(__u64 v)
{
	switch (v) {
	case XDP_ABORTED:  return "XDP_ABORTED";
	case XDP_DROP:	   return "XDP_DROP";
	case XDP_PASS:	   return "XDP_PASS";
	case XDP_TX:	   return "XDP_TX";
	case XDP_REDIRECT: return "XDP_REDIRECT";
	default:	   return "unknown action";
	}
}

/*
 * The NFP JIT's XDP epilogue (nfp/bpf/jit.c nfp_outro_xdp()) maps 0..3 to
 * ABORTED/DROP/PASS/TX and anything larger to an abort (drop), so
 * XDP_REDIRECT silently becomes a drop in hardware.  ABORTED is accepted: it
 * is a drop with its own counter.
 */
static int check_return_codes(const char *name, const struct bpf_insn *insns, size_t n,
			      struct pso_violations *out)
{
	struct rstate *st, cur;
	size_t i, s[2];
	bool changed;
	int k, cnt, j, err = 0;

	st = calloc(n, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st[0].reached = true;
	for (j = 0; j < PSO_NREGS; j++)
		vset_top(&st[0].r[j]);

	do {
		changed = false;
		for (i = 0; i < n; i++) {
			if (!st[i].reached)
				continue;
			cur = st[i];
			transfer(&insns[i], &cur);
			cnt = successors(insns, n, i, s);
			for (k = 0; k < cnt; k++)
				changed |= state_join(&st[s[k]], &cur);
		}
	} while (changed);

	for (i = 0; i < n && !err; i++) {
		const struct vset *r0 = &st[i].r[BPF_REG_0];

		if (!st[i].reached || insns[i].code != (BPF_JMP | BPF_EXIT) || r0->n <= 0)
			continue;
		for (j = 0; j < r0->n && !err; j++) {
			if (r0->v[j] <= XDP_TX)
				continue;
			err = add(out, PSO_RULE_RETURN_CODE, PSO_WHERE_PROG, name, (int)i,
				  "returns %llu (%s); offload supports XDP_DROP/XDP_PASS/XDP_TX (and XDP_ABORTED) only",
				  (unsigned long long)r0->v[j], xdp_action_name(r0->v[j]));
		}
	}
	free(st);
	return err;
}

/* ---- per-instruction rules ---------------------------------------------- */

static const char *atomic_op_name(__s32 imm)
{
	switch (imm) {
	case BPF_ADD | BPF_FETCH: return "fetch_add";
	case BPF_AND:		  return "and";
	case BPF_AND | BPF_FETCH: return "fetch_and";
	case BPF_OR:		  return "or";
	case BPF_OR | BPF_FETCH:  return "fetch_or";
	case BPF_XOR:		  return "xor";
	case BPF_XOR | BPF_FETCH: return "fetch_xor";
	case BPF_XCHG:		  return "xchg";
	case BPF_CMPXCHG:	  return "cmpxchg";
	default:		  return "unknown";
	}
}

static int check_call(const char *name, size_t i, const struct bpf_insn *in,
		      struct pso_violations *out)
{
	if (in->src_reg == BPF_PSEUDO_CALL)
		return add(out, PSO_RULE_BPF_CALL, PSO_WHERE_PROG, name, (int)i,
			   "bpf-to-bpf call not supported; inline the subprogram");
	if (in->src_reg == BPF_PSEUDO_KFUNC_CALL)
		return add(out, PSO_RULE_HELPER, PSO_WHERE_PROG, name, (int)i,
			   "kfunc call (btf id %d) not supported", in->imm);
	switch (in->imm) {
	case BPF_FUNC_map_lookup_elem:
	case BPF_FUNC_map_update_elem:
	case BPF_FUNC_map_delete_elem:
		return 0;
	case BPF_FUNC_tail_call:
		return add(out, PSO_RULE_TAIL_CALL, PSO_WHERE_PROG, name, (int)i,
			   "tail call (helper 12, bpf_tail_call) not supported");
	default:
		return add(out, PSO_RULE_HELPER, PSO_WHERE_PROG, name, (int)i,
			   "helper %d (bpf_%s) not supported; only map_lookup_elem(1), map_update_elem(2), map_delete_elem(3)",
			   in->imm, helper_name(in->imm));
	}
}

static int check_program(struct bpf_program *prog, const struct pso_offload_limits *lim,
			 struct pso_violations *out)
{
	const char *name = bpf_program__name(prog);
	const struct bpf_insn *insns = bpf_program__insns(prog);
	size_t n = bpf_program__insn_cnt(prog), i, *stack = NULL;
	enum bpf_prog_type type = bpf_program__type(prog);
	unsigned char *seen = NULL;
	long fp_off[PSO_NREGS];	/* register = r10 + fp_off, when fp_ok */
	bool fp_ok[PSO_NREGS] = { [BPF_REG_10] = true };
	long min_off = 0;
	int err = 0, r;

	memset(fp_off, 0, sizeof(fp_off));

	if (type != BPF_PROG_TYPE_XDP) {
		const char *tn = libbpf_bpf_prog_type_str(type);

		err = add(out, PSO_RULE_PROG_TYPE, PSO_WHERE_PROG, name, -1,
			  "program type %s (section %s) not offloadable here; only xdp",
			  tn ? tn : "unknown", bpf_program__section_name(prog));
		if (err)
			return err;
	}
	if (lim->max_insns && n > lim->max_insns) {
		err = add(out, PSO_RULE_INSN_COUNT, PSO_WHERE_PROG, name, -1,
			  "%zu instructions > limit %u", n, lim->max_insns);
		if (err)
			return err;
	}

	seen = malloc(n ? n : 1);
	stack = malloc((n ? n : 1) * sizeof(*stack));
	if (!seen || !stack) {
		err = -ENOMEM;
		goto out;
	}

	for (i = 0; i < n && !err; i++) {
		const struct bpf_insn *in = &insns[i];
		__u8 cls = BPF_CLASS(in->code), op = BPF_OP(in->code);
		int dst = in->dst_reg % PSO_NREGS, src = in->src_reg % PSO_NREGS;

		/* stack: r10-relative accesses and r10+K pointers */
		if (cls == BPF_LDX && src == BPF_REG_10 && in->off < min_off)
			min_off = in->off;
		if ((cls == BPF_STX || cls == BPF_ST) && dst == BPF_REG_10 && in->off < min_off)
			min_off = in->off;
		if (cls == BPF_ALU64 && op == BPF_MOV && BPF_SRC(in->code) == BPF_X &&
		    in->off == 0) {
			fp_ok[dst] = fp_ok[src];
			fp_off[dst] = fp_off[src];
		} else if (cls == BPF_ALU64 && (op == BPF_ADD || op == BPF_SUB) &&
			   BPF_SRC(in->code) == BPF_K && fp_ok[dst] && dst != BPF_REG_10) {
			fp_off[dst] += op == BPF_ADD ? in->imm : -(long)in->imm;
			if (fp_off[dst] < min_off)
				min_off = fp_off[dst];
		} else if (cls == BPF_ALU || cls == BPF_ALU64 || cls == BPF_LDX ||
			   INSN_IS_LD_IMM64(in)) {
			if (dst != BPF_REG_10)
				fp_ok[dst] = false;
		} else if (cls == BPF_JMP && op == BPF_CALL) {
			for (r = BPF_REG_0; r <= BPF_REG_5; r++)
				fp_ok[r] = false;
		}

		if (INSN_IS_LD_IMM64(in)) {
			i++;	/* second half of the 16-byte instruction */
			continue;
		}

		if ((cls == BPF_ALU || cls == BPF_ALU64) && op == BPF_MOD) {
			err = add(out, PSO_RULE_MOD, PSO_WHERE_PROG, name, (int)i,
				  "BPF_MOD (%s %s) not supported",
				  cls == BPF_ALU64 ? "alu64" : "alu32",
				  BPF_SRC(in->code) == BPF_X ? "reg" : "imm");
		} else if (cls == BPF_STX && BPF_MODE(in->code) == BPF_ATOMIC) {
			if (in->imm != BPF_ADD)
				err = add(out, PSO_RULE_ATOMIC, PSO_WHERE_PROG, name, (int)i,
					  "atomic %s (imm 0x%x) not supported; only non-fetch atomic add",
					  atomic_op_name(in->imm), (unsigned int)in->imm);
		} else if (cls == BPF_JMP && op == BPF_CALL) {
			err = check_call(name, i, in, out);
		} else if (is_jmp_class(in->code) && op != BPF_EXIT && op != BPF_CALL &&
			   jump_off(in) < 0) {
			long t = (long)i + 1 + jump_off(in);
			bool loop = t >= 0 && (size_t)t < n &&
				    reaches(insns, n, (size_t)t, i, seen, stack);

			err = add(out, PSO_RULE_BACKWARD_JUMP, PSO_WHERE_PROG, name, (int)i,
				  "backward jump to insn %ld (%s)", t,
				  loop ? "a loop" : "not a loop: jumps back to shared code");
		}
	}
	if (err)
		goto out;

	if (lim->max_stack && -min_off > (long)lim->max_stack) {
		err = add(out, PSO_RULE_STACK, PSO_WHERE_PROG, name, -1,
			  "stack use about %ld bytes > limit %u", -min_off, lim->max_stack);
		if (err)
			goto out;
	}
	if (type == BPF_PROG_TYPE_XDP)
		err = check_return_codes(name, insns, n, out);
out:
	free(seen);
	free(stack);
	return err;
}

/* ---- map rules ---------------------------------------------------------- */

static void flag_names(__u32 flags, char *buf, size_t len)
{
	static const struct { __u32 bit; const char *name; } names[] = {
		{ BPF_F_NO_PREALLOC,	"BPF_F_NO_PREALLOC" },
		{ BPF_F_NO_COMMON_LRU,	"BPF_F_NO_COMMON_LRU" },
		{ BPF_F_NUMA_NODE,	"BPF_F_NUMA_NODE" },
		{ BPF_F_RDONLY,		"BPF_F_RDONLY" },
		{ BPF_F_WRONLY,		"BPF_F_WRONLY" },
		{ BPF_F_ZERO_SEED,	"BPF_F_ZERO_SEED" },
		{ BPF_F_RDONLY_PROG,	"BPF_F_RDONLY_PROG" },
		{ BPF_F_WRONLY_PROG,	"BPF_F_WRONLY_PROG" },
		{ BPF_F_MMAPABLE,	"BPF_F_MMAPABLE" },
		{ BPF_F_INNER_MAP,	"BPF_F_INNER_MAP" },
	};
	size_t i, off = 0;

	buf[0] = 0;
	for (i = 0; i < sizeof(names) / sizeof(names[0]) && off < len; i++) {
		if (!(flags & names[i].bit))
			continue;
		off += snprintf(buf + off, len - off, "%s%s", off ? "|" : "", names[i].name);
		flags &= ~names[i].bit;
	}
	if (flags && off < len)
		snprintf(buf + off, len - off, "%s0x%x", off ? "|" : "", flags);
}

static __u32 round8(__u32 v)
{
	return (v + 7) & ~7u;
}

static int check_maps(struct bpf_object *obj, const struct pso_offload_limits *lim,
		      struct pso_violations *out)
{
	unsigned long long total = 0;
	unsigned int count = 0;
	struct bpf_map *map;
	int err = 0;

	bpf_object__for_each_map(map, obj) {
		const char *name = bpf_map__name(map);
		enum bpf_map_type type = bpf_map__type(map);
		__u32 flags = bpf_map__map_flags(map);
		__u32 ks = bpf_map__key_size(map), vs = bpf_map__value_size(map);

		/* libbpf turns .data, .bss, .rodata(.*) and .kconfig into ARRAY
		 * maps named "<obj prefix><section>".  Their type, flags and size
		 * follow from being global data, so only that rule is reported. */
		if (bpf_map__is_internal(map)) {
			const char *sec = strchr(name, '.');

			err = add(out, PSO_RULE_GLOBAL_DATA, PSO_WHERE_MAP, name, -1,
				  "global data section %s (%u bytes) not supported; use a map",
				  sec ? sec : name, vs);
			if (err)
				return err;
			continue;
		}
		count++;
		total += bpf_map__max_entries(map);
		if (lim->max_entries_per_map && bpf_map__max_entries(map) > lim->max_entries_per_map) {
			err = add(out, PSO_RULE_MAP_ENTRIES_PER_MAP, PSO_WHERE_MAP, name, -1,
				  "%u entries > limit %u per map", bpf_map__max_entries(map),
				  lim->max_entries_per_map);
			if (err)
				return err;
		}

		if (type != BPF_MAP_TYPE_ARRAY && type != BPF_MAP_TYPE_HASH) {
			const char *tn = libbpf_bpf_map_type_str(type);

			err = add(out, PSO_RULE_MAP_TYPE, PSO_WHERE_MAP, name, -1,
				  "map type %s not supported; only array and hash",
				  tn ? tn : "unknown");
			if (err)
				return err;
		}
		if (flags) {
			char fl[128];

			flag_names(flags, fl, sizeof(fl));
			err = add(out, PSO_RULE_MAP_FLAGS, PSO_WHERE_MAP, name, -1,
				  "map flags %s (0x%x) not supported", fl, flags);
			if (err)
				return err;
		}
		if (lim->max_key_size && ks > lim->max_key_size)
			err = add(out, PSO_RULE_KEY_SIZE, PSO_WHERE_MAP, name, -1,
				  "key size %u > limit %u", ks, lim->max_key_size);
		if (!err && lim->max_value_size && vs > lim->max_value_size)
			err = add(out, PSO_RULE_VALUE_SIZE, PSO_WHERE_MAP, name, -1,
				  "value size %u > limit %u", vs, lim->max_value_size);
		/* The combined limit only adds news when both halves fit. */
		if (!err && lim->max_elem_size &&
		    (!lim->max_key_size || ks <= lim->max_key_size) &&
		    (!lim->max_value_size || vs <= lim->max_value_size) &&
		    round8(ks) + round8(vs) > lim->max_elem_size)
			err = add(out, PSO_RULE_ELEM_SIZE, PSO_WHERE_MAP, name, -1,
				  "element size %u (key %u + value %u, each rounded up to 8) > limit %u",
				  round8(ks) + round8(vs), ks, vs, lim->max_elem_size);
		if (err)
			return err;
	}

	if (lim->max_maps && count > lim->max_maps)
		err = add(out, PSO_RULE_MAP_COUNT, PSO_WHERE_OBJECT, NULL, -1,
			  "%u maps > limit %u", count, lim->max_maps);
	if (!err && lim->max_map_entries_total && total > lim->max_map_entries_total)
		err = add(out, PSO_RULE_MAP_ENTRIES, PSO_WHERE_OBJECT, NULL, -1,
			  "%llu map entries in all > limit %llu", total,
			  (unsigned long long)lim->max_map_entries_total);
	return err;
}

/* ---- entry point -------------------------------------------------------- */

/* The rules over an object opened (not loaded) with libbpf.  Map sizes are
 * read as they stand: a caller that resizes maps before loading (NIC tables
 * sized from a profile) checks what it will really load. */
static int check_opened(struct bpf_object *obj, const char *path,
			const struct pso_offload_limits *lim, struct pso_violations *out)
{
	struct bpf_program *prog;
	int err = 0, nprogs = 0;

	bpf_object__for_each_program(prog, obj) {
		nprogs++;
		err = check_program(prog, lim, out);
		if (err)
			return err;
	}
	if (!nprogs) {
		snprintf(out->error, sizeof(out->error), "%s: no BPF programs in object", path);
		return -EINVAL;
	}
	return check_maps(obj, lim, out);
}

static int bad_input(struct pso_violations *out, const char *path, int err)
{
	/* A bad-input result carries no list, only the message. */
	free(out->v);
	out->v = NULL;
	out->cnt = out->cap = 0;
	if (!out->error[0])
		snprintf(out->error, sizeof(out->error), "%s: %s", path, strerror(-err));
	return err;
}

int pso_check_bpf_object(struct bpf_object *obj, const struct pso_offload_limits *lim,
			 struct pso_violations *out)
{
	const char *name = obj ? bpf_object__name(obj) : "?";
	int err;

	memset(out, 0, sizeof(*out));
	if (!obj || !lim) {
		snprintf(out->error, sizeof(out->error), "no object or limits given");
		return -EINVAL;
	}
	err = check_opened(obj, name, lim, out);
	if (err)
		return bad_input(out, name, err);
	return out->cnt ? 1 : 0;
}

int pso_check_object(const char *path, const struct pso_offload_limits *lim,
		     struct pso_violations *out)
{
	struct bpf_object *obj;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!path || !lim) {
		snprintf(out->error, sizeof(out->error), "no object or limits given");
		return -EINVAL;
	}
	if (access(path, R_OK)) {
		err = -errno;
		snprintf(out->error, sizeof(out->error), "%s: %s", path, strerror(errno));
		return err;
	}

	obj = bpf_object__open_file(path, NULL);
	if (!obj) {
		char msg[128];

		err = -errno;
		libbpf_strerror(err, msg, sizeof(msg));
		snprintf(out->error, sizeof(out->error), "%s: not a BPF object (%s)", path, msg);
		return err == -ENOMEM ? err : -EINVAL;
	}

	err = check_opened(obj, path, lim, out);
	bpf_object__close(obj);
	if (err)
		return bad_input(out, path, err);
	return out->cnt ? 1 : 0;
}
