// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdp_pass.bpf.c - a test fixture: attached to a veth that receives
 * XDP_TX/XDP_REDIRECT frames in native mode, which veth delivers only to a
 * peer with an XDP program of its own.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx __attribute__((unused)))
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
