/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * profile.h - NIC profiles (nic-profiles/DRIVER.ini): what a driver can do
 * with XDP, the table sizes to use with it, and for hardware offload the
 * NIC's limits.  Parsed with inih; see nic-profiles/README.md for the keys.
 */
#ifndef PSO_PROFILE_H
#define PSO_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "pso_check.h"

struct pso_nic_profile {
	char name[32];			/* file name without .ini */
	char path[256];
	/* [xdp] */
	bool xdp_native;		/* native (driver) XDP */
	bool xdp_redirect;		/* can be an XDP_REDIRECT target */
	bool hw_offload;		/* XDP can run in the NIC */
	/* [driver]: table sizes in drv/skb mode (0 = build default) */
	uint32_t max_topics;
	uint32_t max_clients;
	uint32_t max_subscriptions;	/* subscriber pool slots, all topics */
	/* [offload]: the NIC's limits, and the sizes of its tables */
	struct pso_offload_limits offload;
	uint32_t offload_topics;	/* entries of the NIC's topic table */
	uint32_t offload_clients;	/* entries of the NIC's client table */
};

/* Parse one profile file.  Keys not in the file are 0 / no, but a file
 * that sets none, or is no regular file, is refused, and so is a value
 * out of its key's range.  0, or -EINVAL (bad contents) / -errno (cannot
 * open) with one line in err:
 * "nic-profiles/nfp.ini:12: unknown key 'foo' in [offload]". */
int pso_profile_load(const char *path, struct pso_nic_profile *p, char *err, size_t errlen);

/* The profile for a driver: DIR/DRIVER.ini, else DIR/default.ini.  A driver
 * name that is not a plain file name (empty, '/', leading '.') gets the
 * default.  p->name says which one was used. */
int pso_profile_for_driver(const char *dir, const char *driver, struct pso_nic_profile *p,
			   char *err, size_t errlen);

/* A profile by name (for `psoffload check --profile=NAME`): DIR/NAME.ini, or
 * NAME itself when it contains a '/'.  -ENOENT: "unknown profile 'x': no DIR/x.ini". */
int pso_profile_by_name(const char *dir, const char *name, struct pso_nic_profile *p,
			char *err, size_t errlen);

/* Where the shipped profiles are, the first of these that is a directory,
 * relative to the directory of /proc/self/exe (EXEDIR) and resolved:
 *   EXEDIR/../nic-profiles            the build tree: build/psoffload finds
 *                                     nic-profiles/ of its source tree
 *   EXEDIR/PSO_DATADIR_REL/nic-profiles  installed (SBINDIR -> DATADIR,
 *                                     computed by the Makefile), also from a
 *                                     DESTDIR that was not moved yet
 * else PSO_DATADIR/nic-profiles (the configured DATADIR), existing or not.
 * 0 or -errno. */
int pso_profile_dir_default(char *buf, size_t len);

#endif /* PSO_PROFILE_H */
