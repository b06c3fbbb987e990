// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A helper the NFP lacks: bpf_ktime_get_ns (id 5). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int bad_helper(struct xdp_md *ctx __attribute__((unused)))
{
	return bpf_ktime_get_ns() & 1 ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
