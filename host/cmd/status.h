/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * status.h - the running broker's state for `psoffload status`.
 *
 * The daemon writes a JSON document (atomically: temporary file, then
 * rename) to pso_status_path(pin_dir) whenever something changes; the
 * status command reads it.  One --pin-dir names one broker instance.
 */
#ifndef PSO_STATUS_H
#define PSO_STATUS_H

#include <stddef.h>

#define PSO_STATUS_DIR "/run/psoffload"

/* /run/psoffload/<basename of pin_dir>.json */
void pso_status_path(const char *pin_dir, char *buf, size_t len);

/* The pid of the live broker that owns pin_dir, or 0. */
int pso_status_owner(const char *pin_dir);

int pso_cmd_status(int argc, char **argv);

#endif /* PSO_STATUS_H */
