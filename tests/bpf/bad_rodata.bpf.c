// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A constant lookup table in .rodata (volatile keeps it in memory). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static const volatile __u32 bad_table[8] = { 3, 1, 4, 1, 5, 9, 2, 6 };

SEC("xdp")
int bad_rodata(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	return bad_table[len & 7] > 4 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
