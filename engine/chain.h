/*
 * Walking the audit chain record by record. Besides the links and hashes
 * of audit.c, a store of schema 2 keeps rules that only a walk in order can
 * check: time never goes backwards; every record's actor existed, held the
 * recorded role and was enabled at that point (derived from the user
 * records in the chain, whose payloads the store keeps); a signed
 * checkpoint follows at most `checkpoint_interval` records after the last
 * one (the policy in force, replayed from its records); and every record
 * whose payload is kept matches it. The same walker checks a whole store, a
 * store since its last checkpoint (before signing the next one) and an
 * export file.
 */
#ifndef CF_CHAIN_H
#define CF_CHAIN_H

#include "store.h"

/* One audit record as read from a store or an export. payload is the kept
 * payload text, or NULL. All strings borrowed for the call. */
typedef struct cf_chain_rec {
    int64_t seq, at;
    const char *actor, *role, *action, *case_id, *justification, *digest, *prev, *hash;
    const char *payload;
    bool has_subject;    /* a store's walk: subject is the kept payload's subject */
    const char *subject;
} cf_chain_rec;

typedef struct cf_chain cf_chain;

/* Flags of a walk. */
#define CF_CHAIN_RULES 1u    /* time, actors, checkpoints (from the first store.schema) */
#define CF_CHAIN_PAYLOADS 2u /* records that keep a payload must have it (a store) */
#define CF_CHAIN_CHECKPOINTS 4u /* a checkpoint at the policy's interval (a signing store) */
#define CF_CHAIN_LEGACY 8u   /* a schema-1 store: no kept payloads to read */

/* The default checkpoint interval when no policy was ever set. */
#define CF_CHECKPOINT_EVERY 1000

/* New walker starting at the genesis (NULL on OOM). */
cf_chain *cf_chain_new(unsigned flags);
void cf_chain_free(cf_chain *w);

/* Start after record `seq` (hash prev, time at) instead of the genesis:
 * the records before it are trusted (a signed checkpoint covers them).
 * rules_on: the schema-2 rules were already in force there. */
void cf_chain_start(cf_chain *w, int64_t seq, const char *prev, int64_t at, bool rules_on);
/* Replay the kept payload of an earlier record (users and policies), to
 * start mid-chain with the state of that point. 0 or -1 (bad payload). */
int cf_chain_replay(cf_chain *w, int64_t seq, const char *action, const char *payload);

/* Check the next record. NULL when it keeps every rule, else why not (a
 * string owned by the walker, valid until the next call). */
const char *cf_chain_step(cf_chain *w, const cf_chain_rec *r);

/* After (or during) a walk. Borrowed unless said otherwise. */
const char *cf_chain_head(const cf_chain *w);      /* hash of the last record */
int64_t cf_chain_last_seq(const cf_chain *w);      /* 0 before the first */
int64_t cf_chain_payloads(const cf_chain *w);      /* records seen with a payload */
/* Does a record of this action write a history row (events)? */
bool cf_chain_writes_history(const char *action);
/* records seen that write history (collection, change, retention, erasure,
 * workflow.migrate): as many as there are history rows */
int64_t cf_chain_history(const cf_chain *w);
/* checkpoint records seen: as many as there are checkpoint rows */
int64_t cf_chain_checkpoints(const cf_chain *w);
int64_t cf_chain_rules_from(const cf_chain *w);    /* seq of the first store.schema, 0 */
/* name -> {roles, disabled, os_users, created_at, created_by, seq} as the
 * user records left them. */
const json_t *cf_chain_users(const cf_chain *w);
/* key -> {value, seq} as the policy records left them. */
const json_t *cf_chain_policies(const cf_chain *w);
int64_t cf_chain_schema_seq(const cf_chain *w);    /* the last store.schema record */

/* Does a record with this action keep its payload in the store? */
bool cf_chain_keeps_payload(const char *action);
/* What a kept payload is about: "user:NAME", "policy:KEY", or NULL. buf
 * receives it. */
const char *cf_chain_subject(const char *action, const char *payload, char *buf, size_t n);

/*
 * Walk the store's whole chain (inside the caller's read transaction).
 * *out (new): {ok, records, head, first_bad?, reason?}; *walker (new, may
 * be NULL to discard) holds the state the walk ended in, for the table
 * checks. CF_EINVALID at the first record that breaks a rule.
 */
int cf_chain_verify_store(cf_store *s, unsigned flags, json_t **out, cf_chain **walker,
                          cf_error *err);

/* Walk the records after the store's last checkpoint record up to the
 * head with every rule, starting from the state replayed from the kept
 * payloads before it (each checked against its record), after checking
 * that last checkpoint is genuine under pk_hex: what a checkpoint is about
 * to sign. *after (may be NULL) receives the last checkpoint's seq, and
 * *history (may be NULL) the number of records after it that write a
 * history row. CF_EINVALID names the first bad record. */
int cf_chain_verify_tail(cf_store *s, const char *pk_hex, const char *store_id,
                         int64_t *after, int64_t *history, cf_error *err);

#endif
