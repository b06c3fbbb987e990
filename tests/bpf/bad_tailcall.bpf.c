// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A tail call.  The table is an ARRAY, not a PROG_ARRAY, so that only the
 * tail-call rule fires (the object is never loaded; the check is static).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bad_jmp SEC(".maps");

SEC("xdp")
int bad_tailcall(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &bad_jmp, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
