/*
 * The audit chain: an append-only, SHA-256-linked record of every
 * collection, change, consultation, disclosure and erasure of case data,
 * written in the same store transaction as the act it records.
 */
#ifndef CF_AUDIT_H
#define CF_AUDIT_H

#include "store.h"

#define CF_AUDIT_GENESIS \
    "0000000000000000000000000000000000000000000000000000000000000000"

/* Append one record. payload (may be NULL) is the canonical text whose
 * SHA-256 becomes the record's digest; it is not stored in the chain. Must be
 * called inside a store transaction. */
int cf_audit_append(cf_store *s, int64_t at, const char *actor, const char *role,
                    const char *action, const char *case_id,
                    const char *justification, const char *payload, cf_error *err);

/* Walk the whole chain. *out (new): {ok, records, head, first_bad?, reason?}.
 * Returns 0 when intact, CF_EINVALID at the first bad record. */
int cf_audit_verify_store(cf_store *s, json_t **out, cf_error *err);

#endif
