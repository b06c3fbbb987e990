/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * capacity_opts.h - the rows of the broker's option table (main.c) that
 * size the data plane: --max-topics, --max-clients, --max-subscriptions,
 * --max-topic-subscribers (the longest run of the pool, not a map's size),
 * and the same keys in the settings file.  One macro, so the unit tests
 * parse with the very rows the broker has.
 *
 * FIELD(x) names where struct pso_dp_sizes member x goes, e.g.
 * #define F(x) PSO_OPT_FIELD(struct broker_args, cfg.sizes.x).  A field left
 * 0 (not given) means the NIC profiles' value, else the build's default.
 */
#ifndef PSO_CAPACITY_OPTS_H
#define PSO_CAPACITY_OPTS_H

#include "psoffload_abi.h"
#include "util/opts.h"

#define PSO_CAP_STR(x) PSO_CAP_STR_(x)
#define PSO_CAP_STR_(x) #x

#define PSO_CAPACITY_OPTS(FIELD)						\
	{ "max-topics", 0, PSO_OPT_UINT, FIELD(topics), .min = 2, .max = PSO_MAX_TOPICS,	\
	  .arg = "N",								\
	  .help = "topic ids 1..N-1 in the data plane's tables (default:\n"	\
		  "the NIC profile's max_topics, else the whole 16-bit\n"	\
		  "space, " PSO_CAP_STR(PSO_DEFAULT_TOPICS) ")" },		\
	{ "max-clients", 0, PSO_OPT_UINT, FIELD(clients), .min = 1, .max = PSO_MAX_CLIENTS,	\
	  .arg = "N",								\
	  .help = "connected clients the data plane admits (default: the\n"	\
		  "profile's max_clients, else " PSO_CAP_STR(PSO_DEFAULT_CLIENTS) "; at most\n"	\
		  PSO_CAP_STR(PSO_MAX_CLIENTS) ")" },				\
	{ "max-subscriptions", 0, PSO_OPT_UINT, FIELD(subscriptions), .min = 1,	\
	  .max = PSO_MAX_SUBSCRIPTIONS, .arg = "N",				\
	  .help = "subscriber slots of all topics together, a wildcard\n"	\
		  "filter taking one in each topic it matches; past it a\n"	\
		  "SUBSCRIBE gets 0x01 (default " PSO_CAP_STR(PSO_DEFAULT_SUBSCRIPTIONS) ")" },	\
	{ "max-topic-subscribers", 0, PSO_OPT_UINT, FIELD(topic_subscribers), .min = 1,	\
	  .max = PSO_MAX_RUN, .arg = "N",					\
	  .help = "subscriber slots one topic may hold, a power of two\n"	\
		  "(default and at most " PSO_CAP_STR(PSO_MAX_RUN) "); past it an exact\n"	\
		  "SUBSCRIBE gets 0x01, a wildcard's deliveries to that\n"	\
		  "topic go by the daemon" }

#endif /* PSO_CAPACITY_OPTS_H */
