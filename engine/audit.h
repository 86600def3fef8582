/*
 * The audit chain: an append-only, SHA-256-linked record of every
 * collection, change, consultation, disclosure and erasure of case data,
 * written in the same store transaction as the act it records.
 */
#ifndef CF_AUDIT_H
#define CF_AUDIT_H

#include <stdio.h>

#include "store.h"

#define CF_AUDIT_GENESIS \
    "0000000000000000000000000000000000000000000000000000000000000000"

/* Append one record. payload (may be NULL) is the canonical text whose
 * SHA-256 becomes the record's digest; it is not stored in the chain. Must be
 * called inside a store transaction. */
int cf_audit_append(cf_store *s, int64_t at, const char *actor, const char *role,
                    const char *action, const char *case_id,
                    const char *justification, const char *payload, int64_t *seq,
                    cf_error *err);

/* Sign the chain's head now: a checkpoint row plus an audit record that
 * holds it. Inside a transaction. *out (new, may be NULL): {seq, signed_seq,
 * head, at}. */
int cf_audit_checkpoint(cf_store *s, const unsigned char *sk, const char *store_id,
                        int64_t at, const char *actor, const char *role, json_t **out,
                        cf_error *err);
/* Check every checkpoint: its audit record, the head it names and its
 * signature under pk_hex. Adds {checkpoints, last_signed_seq} to report. */
int cf_audit_verify_checkpoints(cf_store *s, const char *pk_hex, const char *store_id,
                                json_t *report, cf_error *err);
/* Hash of audit record seq (the chain head when seq is the last). */
int cf_audit_hash_at(cf_store *s, int64_t seq, char out[65], cf_error *err);
/* The newest record's seq and hash (genesis and 0 when empty). */
int cf_audit_head(cf_store *s, int64_t *seq, char hash[65], cf_error *err);

/* Write the records from seq `since` and the checkpoints among them to f as
 * JSON lines after a header line (docs/audit.md). *count: records written. */
int cf_audit_export_to(cf_store *s, FILE *f, int64_t since, const json_t *header,
                       int64_t *count, char head[65], cf_error *err);
/* Verify an export file without a store; pk_hex pins the signing key. */
int cf_audit_verify_export(const char *path, const char *pk_hex, json_t **out, cf_error *err);

/* Walk the whole chain. *out (new): {ok, records, head, first_bad?, reason?}.
 * Returns 0 when intact, CF_EINVALID at the first bad record. */
int cf_audit_verify_store(cf_store *s, json_t **out, cf_error *err);

#endif
