// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Global variables: one initialised (.data), one zeroed (.bss). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u32 bad_data_var = 1;
__u32 bad_bss_var;

SEC("xdp")
int bad_global(struct xdp_md *ctx __attribute__((unused)))
{
	bad_data_var++;
	bad_bss_var++;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
