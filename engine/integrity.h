/*
 * Tying the tables to the audit chain. Each audited row (a history event, a
 * case with its timers, tasks, keys and notifications, a user, a workflow
 * version, a checkpoint) has a canonical text whose SHA-256 is, or is part
 * of, the digest of an audit record. The writer and the verifier build those
 * texts with the same functions, so whatever the verifier recomputes is
 * exactly what was signed into the chain.
 */
#ifndef CF_INTEGRITY_H
#define CF_INTEGRITY_H

#include "hash.h"
#include "store.h"

struct cf_chain;

typedef struct cf_event_fields {
    const char *case_id;
    int64_t at;
    const char *actor, *role, *event, *outcome, *from, *to;
    const char *data_sha256; /* of the event's data text, or NULL */
    const char *plugin, *plugin_version, *plugin_sha256;
    const char *case_sha256; /* the case digest after this event, or NULL */
} cf_event_fields;

/* Canonical payload texts (new malloc'd strings; NULL on OOM). */
char *cf_integrity_event_payload(const cf_event_fields *f);
/* A user's whole state after a change (every user record's payload). */
char *cf_integrity_user_payload(const cf_user_row *u);
char *cf_integrity_policy_payload(const char *key, const char *value);
/* An export's disclosure record: what its header says of it. */
char *cf_integrity_export_payload(const char *store_id, int64_t since, const char *exported_at,
                                  const char *exported_by);
/* The schema (cf_store_schema_digest) at a schema version. */
char *cf_integrity_schema_payload(const char *digest, int64_t version);
char *cf_integrity_workflow_payload(const char *name, int64_t version, int64_t declared,
                                    const char *hash, int64_t at, const char *by);
char *cf_integrity_checkpoint_payload(int64_t signed_seq, const char *head, int64_t at,
                                      const char *signature);
char *cf_integrity_init_payload(const char *store_id, const char *public_key,
                                const char *created_at, bool test_clock,
                                const char *key_path);

/* Is payload (a canonical text, may be NULL: CF_ENOMEM) what audit record
 * seq carries, and is its action `action` (or does it start with it, when
 * prefix)? *ok tells; a missing record is *ok false, not an error. For rows
 * tied to their latest record (tokens, webhooks, idempotency keys). */
int cf_integrity_tied(cf_store *s, int64_t seq, const char *payload, const char *action,
                      bool prefix, bool *ok, cf_error *err);

/* A case's digest in parts: its row, and its timers, tasks, keys and
 * notifications; each the SHA-256 of those rows with their storage types. */
#define CF_CASE_PARTS 5
enum {
    CF_PART_ROW = 1, CF_PART_TIMERS = 2, CF_PART_TASKS = 4, CF_PART_KEYS = 8,
    CF_PART_NOTES = 16, CF_PART_ALL = 31
};
typedef struct cf_case_parts {
    unsigned char part[CF_CASE_PARTS][32];
    /* The notifications part as hashed from the rows read, before its end
     * mark, and the last seq read (notes_open false: not kept). */
    bool notes_open;
    int64_t notes_last;
    cf_sha256 notes;
} cf_case_parts;

/* The parts in `which` (CF_PART_* bits), from the stored rows. */
int cf_integrity_case_parts(cf_store *s, const char *case_id, unsigned which,
                            cf_case_parts *p, cf_error *err);
/* The row part of a case row as the store holds it after a write of r with
 * this revision and data text (0 times and NULL strings stored as NULL). */
void cf_integrity_row_part(const cf_case_row *r, int64_t revision, const char *data,
                           unsigned char out[32]);
/* The notifications part again after this transaction only added rows to
 * them: the rows after p->notes_last read and hashed on from where the
 * parts were read (every row otherwise, when p->notes_open is false). */
int cf_integrity_case_notes_added(cf_store *s, const char *case_id, cf_case_parts *p,
                                  cf_error *err);
/* The case digest of its parts (hex). */
void cf_integrity_case_combine(const cf_case_parts *p, char out[65]);
/* Digest of the case as stored, every part. */
int cf_integrity_case_digest(cf_store *s, const char *case_id, char out[65],
                             cf_error *err);

/* Check every audited table against the chain, which the caller has walked
 * with w (chain.h: the users and policies it implies). Adds counts to
 * report; CF_EINVALID names the first problem. */
int cf_integrity_verify(cf_store *s, const struct cf_chain *w, json_t *report,
                        cf_error *err);

/* The case tables (cases, timers, tasks, keys, notifications and the
 * digests history carries) read and checked on a thread of their own, so
 * that a full verify uses a second core. s2 is a second connection to the
 * store, already in a read transaction on the very snapshot the one given
 * to cf_integrity_verify_bg is on (cf_store_open_twin); it is used by the
 * thread alone until cf_integrity_bg_free, and stays the caller's. *out is
 * NULL on failure (-1: no memory or no thread): then verify without it. */
typedef struct cf_integrity_bg cf_integrity_bg;
int cf_integrity_bg_start(cf_store *s2, cf_integrity_bg **out);
/* Stop the thread if still running, wait for it, free bg (NULL is a no-op). */
void cf_integrity_bg_free(cf_integrity_bg *bg);
/* cf_integrity_verify, with the case tables read by bg (NULL: here). Its
 * result is reported where and as the serial one would be: the same first
 * problem, whatever the thread found. */
int cf_integrity_verify_bg(cf_store *s, const struct cf_chain *w, cf_integrity_bg *bg,
                           json_t *report, cf_error *err);

/*
 * The rows one command relies on, each checked against the audit record it
 * is tied to before the command uses it: CF_EINVALID ("... was altered
 * outside caseflow") when they differ. These catch a row edited behind the
 * engine's back; rolling a row back to an earlier state together with its
 * pointer is found by a full verify.
 */
int cf_integrity_check_user(cf_store *s, const cf_user_row *u, cf_error *err);
int cf_integrity_check_policy(cf_store *s, const char *key, const char *value,
                              int64_t audit_seq, cf_error *err);
/* CF_EMISSING when the version is not deployed. */
int cf_integrity_check_workflow(cf_store *s, const char *name, int64_t version,
                                cf_error *err);
/* The store's identity in meta against record 1; *test_clock (may be NULL)
 * tells whether the store honours a set clock. A store not initialised yet
 * (no identity, no records) passes. */
int cf_integrity_check_identity(cf_store *s, bool *test_clock, cf_error *err);
/* The key path record 1 (store.init) holds: meta's key_path, or, when a
 * copy moved the key (store/copy.c), the one the latest store.copy record
 * carries over (*key_path new, NULL when none). CF_EINVALID when that
 * record's kept payload is not its own. */
int cf_integrity_init_key_path(cf_store *s, char **key_path, cf_error *err);
/* The schema against its latest store.schema record; digest receives the
 * schema's digest (cf_store_expect_schema). */
int cf_integrity_check_schema(cf_store *s, char digest[65], cf_error *err);
/* The case's rows against the digest its last history record carries (that
 * record checked against its audit record). found/recorded receive both
 * digests for an alarm. */
int cf_integrity_check_case(cf_store *s, const char *case_id, char found[65],
                            char recorded[65], cf_error *err);
/* The same, filling parts (with its row part already computed when
 * have_row), for a command that will write the case. */
int cf_integrity_check_case_parts(cf_store *s, const char *case_id, cf_case_parts *parts,
                                  bool have_row, char found[65], char recorded[65],
                                  cf_error *err);
/* Before a checkpoint signs: the history records after audit record
 * `after`, the cases they touched (cases_too: a checkpoint between
 * commands; inside a command a case being written is not whole yet), and
 * every user, policy and workflow row, the identity and the schema, each
 * against the chain. history: the number of records after `after` that
 * write a history row (cf_chain_verify_tail): there must be exactly as many
 * history rows, in the order of their records. */
int cf_integrity_verify_tail(cf_store *s, int64_t after, int64_t history, bool cases_too,
                             cf_error *err);
/* A store of schema 1, as caseflow 0.1 verified it (its schema objects, the
 * chain's links, checkpoints under pk_hex, and every table), before it is
 * migrated: a migration records the state it finds, so it must not record
 * tampering as if it were genuine. */
int cf_integrity_verify_v1(cf_store *s, const char *pk_hex, const char *store_id,
                           cf_error *err);

#endif
