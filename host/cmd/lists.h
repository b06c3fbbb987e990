/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * lists.h - `psoffload clients | sessions | topics | subscriptions`: what a
 * running broker holds, by name, from its control socket.
 */
#ifndef PSO_LISTS_H
#define PSO_LISTS_H

int pso_cmd_clients(int argc, char **argv);
int pso_cmd_sessions(int argc, char **argv);
int pso_cmd_topics(int argc, char **argv);
int pso_cmd_subscriptions(int argc, char **argv);

#endif /* PSO_LISTS_H */
