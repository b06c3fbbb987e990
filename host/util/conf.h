/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * conf.h - a configuration file whose keys are a command's option table
 * (util/opts.h), so that no setting is declared twice.  INI, read with inih:
 *
 *   [broker]              every row without PSO_OPT_F_CLI_ONLY
 *   retries = 5
 *   [interface eth0]      rows with PSO_OPT_F_IFACE, for that interface;
 *   mode = drv            an empty section names the interface alone
 *
 * A key is the option's long name and takes what the option takes on the
 * command line (pso_opt_convert: a flag is yes or no, a counter a number).
 * '#' or ';' starts a comment line.  Every error is one line naming
 * FILE:LINE and the key or section: "psoffload.conf:7: bad retries '500':
 * use 0..100".  Only the first error is reported.
 */
#ifndef PSO_CONF_H
#define PSO_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "util/opts.h"

#define PSO_CONF_IFNAME_MAX 16		/* IF_NAMESIZE */

/* One [interface NAME] section. */
struct pso_conf_iface {
	char name[PSO_CONF_IFNAME_MAX];
	int line;			/* of its header */
	uint64_t set;			/* bit i: opts[i] set in the section */
	void *values;			/* a settings struct holding those values */
};

struct pso_conf {
	uint64_t set;			/* rows set in [broker] */
	struct pso_conf_iface *ifaces;	/* in file order */
	int nifaces;
};

/*
 * Read path: the [broker] keys into settings (a struct of size bytes that
 * opts describes; rows the file does not name keep their values) and the
 * interface sections into conf.  0; or, with settings untouched, conf empty
 * and one line in err: -ENOENT and the others of fopen() when the file
 * cannot be opened ("cannot read PATH: ..."), -EINVAL for bad contents,
 * -ENOMEM.  String values stay valid for the life of the process.
 */
int pso_conf_load(const char *path, const struct pso_opt *opts, void *settings, size_t size,
		  struct pso_conf *conf, char *err, size_t errlen);
void pso_conf_free(struct pso_conf *conf);

/*
 * A command's settings from three places, each over the one before:
 * settings as given (the defaults), then the file at path (when it is not
 * there: an error only if required), then the rows in given from cli (a
 * settings struct pso_opts_parse_given() filled).  *found: the file was
 * there.  0, or pso_conf_load()'s error with settings untouched.
 */
int pso_conf_merge(const char *path, bool required, const struct pso_opt *opts, void *settings,
		   size_t size, const void *cli, uint64_t given, struct pso_conf *conf, bool *found,
		   char *err, size_t errlen);

/* The section of interface name, or NULL. */
const struct pso_conf_iface *pso_conf_iface(const struct pso_conf *conf, const char *name);

/* Into settings (already the broker-wide values), the rows f set, except
 * those in keep (given on the command line, which wins). */
void pso_conf_iface_apply(const struct pso_conf_iface *f, const struct pso_opt *opts,
			  void *settings, uint64_t keep);

#endif /* PSO_CONF_H */
