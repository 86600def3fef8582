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

#include "store.h"

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
char *cf_integrity_user_payload(const char *name, const char *roles, int64_t created_at,
                                const char *created_by);
char *cf_integrity_disable_payload(const char *name);
char *cf_integrity_workflow_payload(const char *name, int64_t version, int64_t declared,
                                    const char *hash, int64_t at, const char *by);
char *cf_integrity_checkpoint_payload(int64_t signed_seq, const char *head, int64_t at,
                                      const char *signature);
char *cf_integrity_init_payload(const char *store_id, const char *public_key,
                                const char *created_at);

/* Digest of the case row as stored, with its timers, tasks, keys and
 * notifications. */
int cf_integrity_case_digest(cf_store *s, const char *case_id, char out[65],
                             cf_error *err);

/* Check every audited table against the chain (which the caller has
 * verified). Adds counts to report; CF_EINVALID names the first problem. */
int cf_integrity_verify(cf_store *s, json_t *report, cf_error *err);

#endif
