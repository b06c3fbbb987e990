/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * client.h - `psoffload pub` and `psoffload sub`: MQTT-SN command-line
 * clients in the spirit of mosquitto_pub and mosquitto_sub.
 *
 * argv[0] is the subcommand name ("pub" or "sub"); the return value is the
 * process exit code: 0 done, 1 refused by the broker / timeout / network
 * error (one line on stderr), 2 bad command line (one line on stderr,
 * ending "(usage: psoffload pub --help)").  `--help` prints the options on
 * stdout and returns 0.  They are pub.c and sub.c, both built on conn.h.
 *
 * Both may be called more than once in one process (getopt is reset).  sub
 * catches SIGINT/SIGTERM while it runs (disconnects, returns 0) and puts
 * the previous handlers back before returning; do not run two subs at once.
 */
#ifndef PSO_CLIENT_H
#define PSO_CLIENT_H

int pso_cmd_pub(int argc, char **argv);
int pso_cmd_sub(int argc, char **argv);

#endif /* PSO_CLIENT_H */
