// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A HASH map with a map flag. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u32);
} bad_flags SEC(".maps");

SEC("xdp")
int bad_noprealloc(struct xdp_md *ctx __attribute__((unused)))
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&bad_flags, &key) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
