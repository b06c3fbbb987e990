// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A bpf-to-bpf call into a subprogram kept out of line. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __noinline int bad_sub(__u32 len)
{
	return len > 64;
}

SEC("xdp")
int bad_call(struct xdp_md *ctx)
{
	return bad_sub(ctx->data_end - ctx->data) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
