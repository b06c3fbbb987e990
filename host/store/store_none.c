// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * store_none.c - --store=none: nothing outlives the process.  Commits
 * count revisions and write nothing; a load finds nothing.  Watch,
 * compare-and-set and leases need a store that keeps something: they
 * answer -EOPNOTSUPP.
 */
#include <errno.h>
#include "store/backend.h"

static int none_open(struct pso_store *s, const char *arg, unsigned int flags, char *err,
		     size_t errlen)
{
	s->rev = 0;
	return 0;
}

static void none_close(struct pso_store *s)
{
}

static int none_list(struct pso_store *s, enum pso_rec_kind kind, pso_store_fn fn, void *ctx,
		     char *err, size_t errlen)
{
	return 0;
}

static int none_commit(struct pso_store *s, const struct pso_store_change *ch, size_t n,
		       uint64_t rev, char *err, size_t errlen)
{
	return 0;
}

const struct pso_store_backend pso_store_none = {
	.scheme = "none",
	.persistent = false,
	.open = none_open,
	.close = none_close,
	.list = none_list,
	.commit = none_commit,
};
