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

/* A growing byte buffer (reused across records). */
typedef struct cf_buf {
    char *p;
    size_t n, cap;
} cf_buf;

/* Make room for more bytes; append n bytes. 0 or -1 on OOM. */
int cf_buf_grow(cf_buf *b, size_t more);
int cf_buf_put(cf_buf *b, const char *s, size_t n);
/* s as a JSON string, only '"', '\\' and control characters escaped (\b \f
 * \n \r \t, else \u00XX, hex digits in upper case if upper); NULL as null.
 * The bytes are not checked for UTF-8. 0, or -1 on OOM. */
int cf_buf_put_json_str(cf_buf *b, const char *s, bool upper);
/* Write the ASCII byte c at o as a JSON string writes it ('"' and '\\'
 * escaped, control characters as \b \f \n \r \t or \u00XX with the
 * digits of hex, the rest as is); at most 6 bytes. Returns the end. The one
 * escape of cf_buf_put_json_str and of canonical JSON (canon.c). */
static inline char *cf_json_escape_ascii(char *o, unsigned char c, const char *hex)
{
    if (c == '"' || c == '\\') {
        *o++ = '\\';
        *o++ = (char)c;
    } else if (c < 0x20) {
        *o++ = '\\';
        switch (c) {
        case '\b': *o++ = 'b'; break;
        case '\f': *o++ = 'f'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    } else {
        *o++ = (char)c;
    }
    return o;
}

/* The hash of a record: SHA-256 of its canonical line (see audit.c). b is
 * scratch space the caller frees (b->p). 0 or -1 on OOM. */
int cf_audit_record_hash(cf_buf *b, int64_t seq, int64_t at, const char *actor,
                         const char *role, const char *action, const char *case_id,
                         const char *just, const char *digest, const char *prev,
                         char out[65]);

/* Append one record. payload (may be NULL) is the canonical text whose
 * SHA-256 becomes the record's digest; the store keeps it only for the
 * actions whose history verify replays (chain.h). Must be called inside a
 * store transaction. The store's before_append hook runs first (a due
 * checkpoint comes before the record). CF_EINVALID (field "clock") when
 * `at` is before the head's time: time in the chain never goes backwards. */
int cf_audit_append(cf_store *s, int64_t at, const char *actor, const char *role,
                    const char *action, const char *case_id,
                    const char *justification, const char *payload, int64_t *seq,
                    cf_error *err);

/* Sign the chain's head now: a checkpoint row plus an audit record that
 * holds it. Inside a transaction. *out (new, may be NULL): {seq, signed_seq,
 * head, at, signature}. */
int cf_audit_checkpoint(cf_store *s, const unsigned char *sk, const char *store_id,
                        int64_t at, const char *actor, const char *role, json_t **out,
                        cf_error *err);
/* Check every checkpoint: its audit record, the head it names and its
 * signature under pk_hex. Adds {checkpoints, last_signed_seq} to report. */
int cf_audit_verify_checkpoints(cf_store *s, const char *pk_hex, const char *store_id,
                                json_t *report, cf_error *err);
/* The same, given the number of checkpoint records in the chain (a walk of
 * the whole chain on this transaction counted them: cf_chain_checkpoints),
 * instead of counting them here (a read of the whole audit table); -1:
 * count them here. */
int cf_audit_verify_checkpoints_n(cf_store *s, const char *pk_hex, const char *store_id,
                                  int64_t records, json_t *report, cf_error *err);
/* Is the checkpoint row at seq genuine: tied to its record, signing the
 * record before it with the head the chain has, under pk_hex? CF_EINVALID
 * says why not. */
int cf_audit_checkpoint_valid(cf_store *s, int64_t seq, const char *pk_hex,
                              const char *store_id, cf_error *err);
/* Hash of audit record seq (the chain head when seq is the last). */
int cf_audit_hash_at(cf_store *s, int64_t seq, char out[65], cf_error *err);
/* The newest record's seq and hash (genesis and 0 when empty). */
int cf_audit_head(cf_store *s, int64_t *seq, char hash[65], cf_error *err);
/* The same with its time (0 when empty); at may be NULL. */
int cf_audit_head_at(cf_store *s, int64_t *seq, char hash[65], int64_t *at, cf_error *err);
/* Digest and action of record seq; CF_ENOTFOUND (err untouched) when there
 * is none. */
int cf_audit_record(cf_store *s, int64_t seq, char digest[65], char action[96], cf_error *err);

/* Write the records from seq `since` through `until` (<= 0: the head) and
 * the checkpoints among them to f as JSON lines after a header line
 * (docs/audit.md). *count: records written. */
int cf_audit_export_to(cf_store *s, FILE *f, int64_t since, int64_t until,
                       const json_t *header, int64_t *count, char head[65], cf_error *err);
/* Verify an export file without a store; pk_hex pins the signing key. */
int cf_audit_verify_export(const char *path, const char *pk_hex, json_t **out, cf_error *err);

/* Walk the whole chain: links, hashes and kept payloads only (chain.h has
 * the walk with every rule). *out (new): {ok, records, head, first_bad?,
 * reason?}. Returns 0 when intact, CF_EINVALID at the first bad record. */
int cf_audit_verify_store(cf_store *s, json_t **out, cf_error *err);

/* ---- anchor.c ---------------------------------------------------------------- */

/* Append one anchor line (a signed head) to the log at path, created 0644,
 * in one write, synced. */
int cf_anchor_append(const char *path, const json_t *line, cf_error *err);
/* The hash of record seq in what is being verified; non-zero when there is
 * no such record. */
typedef int (*cf_anchor_lookup)(void *ctx, int64_t seq, char out[65]);
/* Check every anchor of store_id in the log at path: signed with pk_hex,
 * and its head present in what lookup reads. Adds {anchors: {checked,
 * latest_seq, other_stores}} to report. CF_EINVALID names the first
 * anchor the store fails (cut off, rolled back or rewritten), and a log with
 * no anchor of this store. */
int cf_anchor_verify(const char *path, const char *store_id, const char *pk_hex,
                     cf_anchor_lookup lookup, void *ctx, json_t *report, cf_error *err);

#endif
