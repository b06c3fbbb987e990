/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * rec_json.h - a record (proto/persist.h) as one JSON object and back, the
 * value the etcd backend keeps under the record's key; and base64, which
 * the etcd gateway wants for every key and value.
 *
 * The object names every field (docs/DESIGN.md, the store): `etcdctl get`
 * shows a record a person can read.  Byte strings (payloads, a will's
 * message, a forwarder's node id, the validation state) are base64; lists
 * of topic ids are arrays of numbers.
 */
#ifndef PSO_REC_JSON_H
#define PSO_REC_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "proto/persist.h"

/* rec as JSON text, malloc'd and NUL-terminated in *out (*len without the
 * NUL).  0 or -ENOMEM. */
int pso_rec_to_json(const struct pso_rec *rec, char **out, size_t *len);
/* text (len bytes) back into a record of kind (fields owned by rec; free
 * with pso_rec_free()).  0, or -EINVAL when it is not such a record. */
int pso_rec_from_json(enum pso_rec_kind kind, const char *text, size_t len, struct pso_rec *rec);

/* base64 (RFC 4648, padded) of n bytes, malloc'd and NUL-terminated; NULL
 * when out of memory. */
char *pso_b64_encode(const void *data, size_t n);
/* The bytes of text (tlen characters), malloc'd (one NUL past the end, not
 * counted in *n).  NULL when it is not base64 or out of memory. */
uint8_t *pso_b64_decode(const char *text, size_t tlen, size_t *n);

#endif /* PSO_REC_JSON_H */
