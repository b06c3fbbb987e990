/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * instance.h - one broker instance per pin directory.
 *
 * A broker is named by the canonical full path of its pin directory (two
 * spellings of one directory are one broker; /sys/fs/bpf/a/x and
 * /sys/fs/bpf/b/x are two).  Its files under PSO_RUN_DIR carry that path
 * escaped the way `systemd-escape --path` escapes it:
 *   /sys/fs/bpf/psoffload      -> sys-fs-bpf-psoffload
 *   /sys/fs/bpf/pso-lab/x      -> sys-fs-bpf-pso\x2dlab-x
 * PSO_RUN_DIR is on /run, which `ip netns exec` leaves alone (it remounts
 * /sys), so brokers in every network namespace see one another's files.
 *
 * The owner of a pin directory holds an exclusive flock on
 * PSO_RUN_DIR/NAME.lock for its whole life, with its pid written in the
 * file.  The kernel drops the lock when the process dies, however it dies,
 * so a lock left by a dead broker blocks nobody.
 */
#ifndef PSO_INSTANCE_H
#define PSO_INSTANCE_H

#include <stddef.h>
#include <sys/types.h>

#define PSO_RUN_DIR "/run/psoffload"

/* The canonical absolute path of dir: symlinks, ".", ".." and repeated or
 * trailing slashes resolved.  dir need not exist (yet): then its longest
 * prefix that does is resolved and the rest taken as written.  0 or
 * -errno. */
int pso_instance_canonical(const char *dir, char *buf, size_t len);

/* The escaped canonical path of pin_dir (see above).  0 or -errno. */
int pso_instance_name(const char *pin_dir, char *buf, size_t len);

/* PSO_RUN_DIR/NAME.SUFFIX for pin_dir.  0 or -errno. */
int pso_instance_file(const char *pin_dir, const char *suffix, char *buf, size_t len);

struct pso_instance_lock {
	int fd;			/* -1: not held */
	char path[512];
};

/*
 * Take pin_dir's lock for this process's life.  0; -EBUSY when another
 * live broker holds it (*owner its pid, 0 when it has not written it
 * yet); another -errno when the lock file cannot be made.  err gets one
 * line either way.
 */
int pso_instance_lock(const char *pin_dir, struct pso_instance_lock *l, pid_t *owner,
		      char *err, size_t errlen);
/* Remove the lock file and drop the lock; harmless when not held. */
void pso_instance_unlock(struct pso_instance_lock *l);

#endif /* PSO_INSTANCE_H */
