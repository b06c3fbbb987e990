// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Fits NFP offload: one ARRAY map, lookup, non-fetch atomic add, DROP/PASS. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} ok_counts SEC(".maps");

SEC("xdp")
int ok_minimal(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 key = data + 14 > data_end;
	__u64 *cnt = bpf_map_lookup_elem(&ok_counts, &key);

	if (cnt)
		__sync_fetch_and_add(cnt, 1);	/* result unused: plain XADD */
	return key ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
