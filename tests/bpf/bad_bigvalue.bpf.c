// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A map value of 128 bytes, over the NFP's 64. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bad_big { __u8 b[128]; };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bad_big);
} bad_bigv SEC(".maps");

SEC("xdp")
int bad_bigvalue(struct xdp_md *ctx __attribute__((unused)))
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&bad_bigv, &key) ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
