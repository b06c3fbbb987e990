// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Key 4 and value 64 bytes each fit, but key + value (8 + 64) does not. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bad_val { __u8 b[64]; };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bad_val);
} bad_elem SEC(".maps");

SEC("xdp")
int bad_bigelem(struct xdp_md *ctx __attribute__((unused)))
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&bad_elem, &key) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
