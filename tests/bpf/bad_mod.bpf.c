// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * BPF_MOD (alu64, reg).  clang 14 never emits it (it lowers % to div, mul
 * and sub) and its assembler does not parse "%=", so the instruction
 * r1 %= r2 (opcode 0x9f, regs 0x21) is written as raw bytes.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int bad_mod(struct xdp_md *ctx)
{
	__u64 len = ctx->data_end - ctx->data;

	asm volatile("r1 = %[len]\n\t"
		     "r2 = 7\n\t"
		     ".quad 0x219f\n\t"		/* r1 %= r2 */
		     "%[len] = r1"
		     : [len] "+r"(len) : : "r1", "r2");
	return len ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
