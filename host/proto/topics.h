/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * topics.h - the topic registry: one global id per topic name.
 *
 * Ids are global (every client sees the same id for a name), so the data
 * plane forwards a publish without rewriting its topic id.  Id 0 and 0xffff
 * are reserved by MQTT-SN; usable ids are 1 .. max_topics-1, where
 * max_topics is the data-plane table size (PSO_MAX_TOPICS).  Predefined ids
 * come from a file and never change.  Registered names get the lowest id
 * never used; when every id has been used, the id freed longest ago.  A
 * registered id can be given back (the protocol layer frees idle topics,
 * recycle.c): it is quarantined until the data plane has no trace of the
 * old topic left, and only then free.
 */
#ifndef PSO_TOPICS_H
#define PSO_TOPICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* MQTT-SN has no limit of its own below the message size; keep names sane. */
#define PSO_TOPIC_NAME_MAX 1024

struct pso_registry;

struct pso_registry *pso_registry_new(uint32_t max_topics);
void pso_registry_free(struct pso_registry *reg);

/* Load "id name" lines ('#' starts a comment, blank lines ignored).
 * On error returns -EINVAL (or -errno for I/O) and writes one line such as
 * "predefined.txt:7: topic id 70000 out of range 1..4095" into err. */
int pso_registry_load_predefined(struct pso_registry *reg, const char *path,
				 char *err, size_t errlen);
int pso_registry_add_predefined(struct pso_registry *reg, uint16_t id,
				const char *name);

/* A registered (not predefined) name back at the id it had: a store's
 * record, or an id an adopted data plane uses with no name known (no
 * store), kept from new names as "$adopted/ID".  0, -EINVAL (bad id or
 * name), -EEXIST (id or name taken, or the id in quarantine); a freed id
 * leaves the FIFO. */
int pso_registry_restore(struct pso_registry *reg, uint16_t id, const char *name);

/* What a reload of the predefined file did. */
struct pso_predef_reload {
	uint32_t added;		/* new entries, now in the registry */
	uint32_t unchanged;	/* entries the registry held already */
	uint32_t missing;	/* predefined ids no longer in the file: kept */
};

/*
 * The same file again, into a registry that is in use: an entry the
 * registry holds as predefined already is unchanged, a new one is added
 * (added() is called for each after the whole file was checked), and one
 * whose id or name the registry has otherwise is an error ("a new name
 * needs a restart"), as is anything load_predefined() refuses; then nothing
 * is added.  Ids are never taken back: an entry gone from the file stays.
 */
int pso_registry_reload_predefined(struct pso_registry *reg, const char *path,
				   struct pso_predef_reload *res,
				   int (*added)(uint16_t id, const char *name, void *ctx),
				   void *ctx, char *err, size_t errlen);

/* Find or assign the id of a topic name (no wildcards).  0, -EINVAL for a
 * bad name, -ENOSPC when the table is full.  *created tells whether the
 * name is new (the caller then offers it to wildcard subscriptions). */
int pso_registry_register(struct pso_registry *reg, const char *name,
			  size_t len, uint16_t *id, bool *created);
int pso_registry_lookup(const struct pso_registry *reg, const char *name,
			size_t len, uint16_t *id);
/* The ids pso_registry_register() would give the next new names, in its
 * order (never-used ids upwards, then the freed ones oldest first): up to n
 * into ids; returns how many.  For a claim in a shared store, which may
 * find the first ones taken by another broker. */
int pso_registry_candidates(const struct pso_registry *reg, uint16_t *ids, int n);
/*
 * Give a registered (not predefined) id back: its name is unknown from now
 * on, and the id is quarantined - nothing gets it - until
 * pso_registry_reuse() frees it (then it goes to the back of the FIFO of
 * freed ids).  0, or -EINVAL (not a registered id; not quarantined).
 */
int pso_registry_release(struct pso_registry *reg, uint16_t id);
int pso_registry_reuse(struct pso_registry *reg, uint16_t id);
bool pso_registry_is_quarantined(const struct pso_registry *reg, uint16_t id);
uint32_t pso_registry_nquarantined(const struct pso_registry *reg);
uint32_t pso_registry_nfreed(const struct pso_registry *reg);	/* in the FIFO */

/* NULL when id is unused. */
const char *pso_registry_name(const struct pso_registry *reg, uint16_t id);
bool pso_registry_is_predefined(const struct pso_registry *reg, uint16_t id);
uint32_t pso_registry_count(const struct pso_registry *reg);

/* Call fn for every id in use, in id order; stops early when fn returns
 * non-zero and returns that value. */
int pso_registry_foreach(const struct pso_registry *reg,
			 int (*fn)(uint16_t id, const char *name, void *ctx),
			 void *ctx);

/* Topic names and filters (MQTT rules: '+' one level, '#' last, whole
 * levels only). */
bool pso_topic_name_valid(const char *name, size_t len);
bool pso_topic_filter_valid(const char *filter, size_t len);
bool pso_topic_filter_is_wildcard(const char *filter, size_t len);
bool pso_topic_match(const char *filter, const char *name);

#endif /* PSO_TOPICS_H */
