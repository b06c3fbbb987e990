// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A loop kept as a loop: the empty asm stops closed-form evaluation. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int bad_loop(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;
	__u32 sum = 0;

#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < (len & 15); i++) {
		sum += i;
		asm volatile("" : "+r"(sum));
	}
	return sum > 20 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
