/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * psoffload_csum.h - incremental Internet checksum updates (RFC 1624).
 *
 * Pure arithmetic, no helpers: usable in the offload build (the NFP has no
 * csum helpers), in the TC program and in host code alike.
 *
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), summed in one's complement over
 * every 16-bit word m that changes to m'.  One's-complement sums do not
 * depend on byte order (RFC 1071 sec. 2(B)), so words are read and written
 * in host order straight from memory, as long as both sides do the same.
 */
#ifndef PSOFFLOAD_CSUM_H
#define PSOFFLOAD_CSUM_H

#include <linux/types.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

/*
 * Add the ~m + m' terms of n changed words to acc.  n is a compile-time
 * constant at every call site, so the loop is fully unrolled.  Up to 2^15
 * word pairs fit in the 32-bit accumulator before folding.
 */
static __always_inline __u32 pso_csum_words(__u32 acc, const __u16 *old_w,
					    const __u16 *new_w, const int n)
{
#pragma clang loop unroll(full)
	for (int i = 0; i < n; i++)
		acc += (__u16)~old_w[i] + (__u32)new_w[i];
	return acc;
}

static __always_inline __u32 pso_csum_word(__u32 acc, __u16 old_w, __u16 new_w)
{
	return acc + (__u16)~old_w + (__u32)new_w;
}

/* Fold the accumulated terms into checksum `check`: HC' = ~(~HC + acc). */
static __always_inline __u16 pso_csum_apply(__u16 check, __u32 acc)
{
	acc += (__u16)~check;
	/* Two folds: the first leaves at most 0x1fffe, the second at most 0xffff. */
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (__u16)~acc;
}

/*
 * Same for a UDP checksum: a computed 0 goes on the wire as 0xffff, since 0
 * means "no checksum" (RFC 768).  Both are -0 in one's complement.
 */
static __always_inline __u16 pso_csum_apply_udp(__u16 check, __u32 acc)
{
	__u16 res = pso_csum_apply(check, acc);

	return res ? res : 0xffff;
}

#endif /* PSOFFLOAD_CSUM_H */
