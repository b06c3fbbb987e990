// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* An atomic add whose old value is used: BPF_ATOMIC with BPF_FETCH (-mcpu=v3). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bad_counts SEC(".maps");

SEC("xdp")
int bad_atomic(struct xdp_md *ctx __attribute__((unused)))
{
	__u32 key = 0;
	__u64 *cnt = bpf_map_lookup_elem(&bad_counts, &key);

	if (!cnt)
		return XDP_PASS;
	return __sync_fetch_and_add(cnt, 1) > 10 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
