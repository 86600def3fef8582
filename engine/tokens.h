/*
 * Service identities: the bearer tokens caseflowd authenticates systems
 * with (cf_token_* in caseflow.h). The store keeps a token's SHA-256, never
 * the token. Each tokens row is tied to the audit record of its latest
 * change (token.create, then token.revoke), whose payload is the token's
 * whole state after it (cf_tokens_payload); last_used_at is operational
 * and covered by nothing. Before authentication trusts a row it checks it
 * against that record (cf_tokens_check), and audit verify checks every row
 * (cf_tokens_verify).
 */
#ifndef CF_TOKENS_H
#define CF_TOKENS_H

#include "store.h"

/* "cft_" and 43 characters of unpadded URL-safe base64 of 32 random bytes. */
#define CF_TOKEN_PREFIX "cft_"
#define CF_TOKEN_LEN 47
/* A token's id: 12 lower-case hex digits. */
#define CF_TOKEN_ID_LEN 12

/* A tokens row. Strings are owned by the struct (cf_token_row_clear); a
 * row read from the store may hold anything an editor put there. */
typedef struct cf_token_row {
    char *id, *user, *hash, *note, *created_by;
    int64_t created_at, expires_at, revoked_at, last_used_at, audit_seq;
} cf_token_row;

/* Free the strings and zero the struct; a zeroed struct is a no-op. */
void cf_token_row_clear(cf_token_row *t);

/* The canonical payload of the token's state in t: the JSON object {id,
 * user, hash, note, created_at, created_by, expires_at, revoked_at}
 * (sorted keys, compact). New malloc'd string; NULL on OOM or when a string
 * of t is not UTF-8 (no record can hold such a row). */
char *cf_tokens_payload(const cf_token_row *t);

/* Is t what its audit record says: the record at t->audit_seq is a
 * token.create (t not revoked) or token.revoke (t revoked) whose digest is
 * that of cf_tokens_payload(t), and, when the chain keeps token payloads
 * (cf_chain_keeps_payload), the newest record about the token? 0, or
 * CF_EINVALID (field "token": "... altered outside caseflow"); other codes
 * for a store that cannot be read. */
int cf_tokens_check(cf_store *s, const cf_token_row *t, cf_error *err);

/* audit verify's check of the tokens table: every row as cf_tokens_check
 * has it, one row per token.create record (none added or deleted) and one
 * revoked row per token.revoke record (none put back). Run inside the
 * verify's read transaction. Adds "tokens" (the row count) to the
 * report's "tables" object (made when absent; report may be NULL).
 * CF_EINVALID (field "tokens") names the first problem. */
int cf_tokens_verify(cf_store *s, json_t *report, cf_error *err);

#endif
