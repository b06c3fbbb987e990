// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A per-CPU map. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bad_pcpu SEC(".maps");

SEC("xdp")
int bad_percpu(struct xdp_md *ctx __attribute__((unused)))
{
	__u32 key = 0;
	__u64 *cnt = bpf_map_lookup_elem(&bad_pcpu, &key);

	return cnt ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
