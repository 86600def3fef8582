/*
 * caseflow embedding API.
 *
 * An engine is opened on one store (an SQLite file). Every command that
 * changes or reads case data runs as one store transaction together with its
 * audit records: it happens completely or not at all. Commands identify their
 * actor (a user in the store) and, for reads and changes, the justification
 * that the audit trail records with them.
 *
 * Conventions (jansson's words):
 *  - "new reference": the caller owns the returned json_t and must
 *    json_decref it;
 *  - "borrowed": the callee keeps ownership; do not decref;
 *  - every function that can fail returns 0 or a negative CF_E* code and, when
 *    `err` is not NULL, fills it with the code, the field or rule at fault and
 *    a one-line message. Out-parameters are left NULL on failure.
 *  - cf_*_free(NULL) and cf_engine_close(NULL) do nothing.
 *
 * An engine handle is not thread-safe; open one per thread. Many processes
 * may share one store.
 */
#ifndef CASEFLOW_H
#define CASEFLOW_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CF_EXTERN __attribute__((visibility("default")))
#else
#define CF_EXTERN
#endif

/*
 * Error codes: X(NAME, code, exit status, description). The exit statuses are
 * those of sysexits.h, which the caseflow command returns.
 */
#define CF_ERRNO_MAP(X)                                                        \
    X(USAGE, -1, 64, "usage error")                                            \
    X(INVALID, -2, 65, "invalid input")                                        \
    X(NOTFOUND, -3, 66, "no such case or file")                                \
    X(MISSING, -4, 69, "plugin or workflow missing")                           \
    X(INTERNAL, -5, 70, "internal error")                                      \
    X(NOMEM, -6, 70, "out of memory")                                          \
    X(SCRIPT, -7, 70, "workflow script error")                                 \
    X(IO, -8, 74, "store I/O error")                                           \
    X(CONFLICT, -9, 75, "conflict with a concurrent change; retry")            \
    X(DENIED, -10, 77, "not permitted")

typedef enum cf_errno {
    CF_OK = 0,
#define CF__ERRNO_ENUM(name, code, exit, text) CF_E##name = (code),
    CF_ERRNO_MAP(CF__ERRNO_ENUM)
#undef CF__ERRNO_ENUM
} cf_errno;

/* Caller-allocated error detail; no heap strings. */
typedef struct cf_error {
    int code;          /* CF_E*, 0 when no error */
    char field[96];    /* the input field or rule at fault, may be empty */
    char message[416]; /* one line, without the "caseflow: " prefix */
} cf_error;

/* Static description of code ("invalid input"); never NULL. */
CF_EXTERN const char *cf_strerror(int code);
/* Static name of code ("CF_EINVALID"); never NULL. */
CF_EXTERN const char *cf_err_name(int code);
/* sysexits.h status for code: 0 for 0, 70 for unknown codes. */
CF_EXTERN int cf_exit_code(int code);
/* Static version string of the library, e.g. "0.1.0". */
CF_EXTERN const char *cf_version(void);

typedef struct cf_engine cf_engine;

/* Options for cf_engine_open. Zero-initialise, then set what you need. */
typedef struct cf_open_options {
    /* Colon-separated plugin directories searched before the installed plugin
     * directory. NULL: the CASEFLOW_PLUGIN_PATH environment variable. */
    const char *plugin_path;
    /* Create the store file when it does not exist (for `init`). */
    int create;
    /* Open read-only: commands that write fail with CF_EIO. */
    int readonly;
    /* The audit signing key (Ed25519 secret key file). NULL: the CASEFLOW_KEY
     * environment variable, else the file `init` created (its path is
     * recorded in the store), else "<store path>.key" (stores of caseflow
     * 0.1). The key must be the store's: a secret key whose public half is
     * not the one the store recorded at init is refused (CF_EDENIED). */
    const char *key_path;
    /* Reserved for later options; must be zero. */
    void *reserved[5];
} cf_open_options;

/*
 * Open the store at path (NULL: "./caseflow.db"). Fails with CF_ENOTFOUND when
 * it does not exist and !create, CF_EINVALID when the file is not a caseflow
 * store, CF_EIO when it cannot be opened or migrated. *out is a new handle
 * released with cf_engine_close.
 */
CF_EXTERN int cf_engine_open(const char *path, const cf_open_options *opts,
                             cf_engine **out, cf_error *err);
CF_EXTERN void cf_engine_close(cf_engine *engine);

/* Who acts and why. Strings are copied. actor NULL clears it. The actor is
 * checked against the store's users at each command. */
CF_EXTERN int cf_engine_set_actor(cf_engine *engine, const char *actor,
                                  const char *reason);
/* Parse an RFC 3339 time that carries an explicit offset or Z (as referrals
 * and CASEFLOW_NOW must) into Unix seconds. 0, or CF_EINVALID. */
CF_EXTERN int cf_time_from_rfc3339(const char *text, int64_t *utc);
/* The engine clock: now < 0 uses the system clock. Unix seconds. A set
 * clock is honoured only on a store created with a test clock
 * (cf_init_options.test_clock: tests, demos, simulations); on any other
 * store it is CF_EUSAGE, here or (before init) at the first command. Time
 * in the audit chain never goes backwards: a command whose clock is before
 * the chain's last record is refused (CF_EINVALID, field "clock"). */
CF_EXTERN int cf_engine_set_clock(cf_engine *engine, int64_t now);
/* The engine clock's current time, Unix seconds. */
CF_EXTERN int64_t cf_engine_now(const cf_engine *engine);

/*
 * Make the store ready for use and make the current actor its first
 * administrator (idempotent: a second call changes nothing and returns 0).
 * The Ed25519 key pair that signs audit checkpoints is created apart from
 * the store: in key_dir (NULL: "<store path>.keys", made 0700), as
 * "<store file name>.key" (0600) and ".key.pub"; or at
 * cf_open_options.key_path when that is given. The store records the
 * public key in its first audit record.
 */
typedef struct cf_init_options {
    /* Directory for the signing key pair; it must belong to the caller or
     * root and not be writable by others. NULL: "<store path>.keys". */
    const char *key_dir;
    /* Honour cf_engine_set_clock on this store (tests, demos, simulations);
     * recorded in the chain and shown by audit verify. */
    int test_clock;
    /* Bind the first administrator to this operating-system account (a
     * login name or a numeric uid); NULL: none. */
    const char *os_user;
    /* Reserved for later options; must be zero. */
    void *reserved[4];
} cf_init_options;
CF_EXTERN int cf_store_init(cf_engine *engine, cf_error *err);
/* cf_store_init with options (opts may be NULL). */
CF_EXTERN int cf_store_init_with(cf_engine *engine, const cf_init_options *opts,
                                 cf_error *err);

/* Add a user with roles (NULL-terminated array of role names from
 * "analyst", "officer", "supervisor", "authoriser", "administrator").
 * Requires an administrator. CF_EINVALID for an unknown role or an existing
 * user. */
CF_EXTERN int cf_user_add(cf_engine *engine, const char *name,
                          const char *const *roles, cf_error *err);
/* cf_user_add that also binds the user to operating-system accounts
 * (NULL-terminated array of login names or numeric uids; may be NULL). */
CF_EXTERN int cf_user_add_with(cf_engine *engine, const char *name,
                               const char *const *roles, const char *const *os_users,
                               cf_error *err);
/* New reference: array of {name, roles[], disabled, created_at, created_by,
 * os_users[]}. */
CF_EXTERN int cf_user_list(cf_engine *engine, json_t **out, cf_error *err);
/* Disable a user; requires an administrator. */
CF_EXTERN int cf_user_disable(cf_engine *engine, const char *name, cf_error *err);
/*
 * Bind a user to an operating-system account, or unbind it (administrator;
 * audited). A user with bindings can be acted as only by a process running
 * as one of its accounts (its real uid's login name, or the uid itself);
 * when the store policy require_os_user is "true", every user needs one.
 * Without an actor set, a process bound to exactly one user acts as that
 * user. CF_EINVALID for a malformed account or a binding that exists (bind)
 * or does not (unbind); CF_ENOTFOUND for no such user.
 */
CF_EXTERN int cf_user_bind(cf_engine *engine, const char *name, const char *os_user,
                           cf_error *err);
CF_EXTERN int cf_user_unbind(cf_engine *engine, const char *name, const char *os_user,
                             cf_error *err);

/*
 * Deploy the workflow in file path (and the modules it requires and the
 * assets it names, all from its directory) as a new version. Deploying the
 * same source again returns the existing version. Requires an administrator.
 * *out (new reference, may be NULL): {name, version, hash, created}.
 * CF_EINVALID when the workflow does not check; CF_EMISSING when a step's
 * plugin is missing or fails to initialise.
 */
CF_EXTERN int cf_workflow_deploy(cf_engine *engine, const char *path,
                                 json_t **out, cf_error *err);
/*
 * Lint the workflow in path without deploying it. engine may be NULL (then
 * plugins are looked up on opts' plugin path only). *out (new reference)
 * is an array of findings {file, line, rule, message}; returns 0 when there
 * are none, CF_EINVALID when there are.
 */
CF_EXTERN int cf_workflow_check(cf_engine *engine, const char *path,
                                json_t **out, cf_error *err);
/* Graphviz DOT text of deployed workflow `name` at `version` (<= 0: the
 * latest). *out is a new malloc'd string (free it). */
CF_EXTERN int cf_workflow_graph(cf_engine *engine, const char *name, int64_t version,
                                char **out, cf_error *err);
/* New reference: array of {name, version, hash, deployed_at, deployed_by}. */
CF_EXTERN int cf_workflow_list(cf_engine *engine, json_t **out, cf_error *err);

/*
 * Take in one referral (borrowed JSON object, contract version 1). The case
 * starts on the latest version of workflow `name` (NULL: "polit").
 * *out (new reference): {id, state, created}; created is false when
 * (source, reference) was already known, and the existing case is returned.
 * Inside a batch (cf_batch_begin), the referral is written under a savepoint
 * and becomes durable at cf_batch_commit.
 */
CF_EXTERN int cf_refer(cf_engine *engine, const char *workflow,
                       const json_t *referral, json_t **out, cf_error *err);

/* Group many cf_refer calls in one store transaction (bulk intake). Each
 * cf_refer that fails leaves no trace; the others commit together. */
CF_EXTERN int cf_batch_begin(cf_engine *engine, cf_error *err);
CF_EXTERN int cf_batch_commit(cf_engine *engine, cf_error *err);
CF_EXTERN void cf_batch_rollback(cf_engine *engine);

/*
 * Record an event on a case: a person's action or another system's result.
 * data is borrowed (an object, or NULL for none). expect_revision >= 0 makes
 * the call fail with CF_ECONFLICT unless the case is at that revision.
 * *out (new reference, may be NULL): {id, state, revision, previous_state}.
 * CF_ENOTFOUND: no such case; CF_EINVALID: the state does not accept the
 * event, or a plugin or guard refused; CF_EDENIED: the actor's role may not
 * send it, or a four-eyes rule; CF_ECONFLICT: a concurrent writer won.
 */
CF_EXTERN int cf_act(cf_engine *engine, const char *case_id, const char *event,
                     const json_t *data, int64_t expect_revision, json_t **out,
                     cf_error *err);

/* Fire every timer due by the engine clock, each in its own transaction.
 * *out (new reference): array of {id, event, state}, and {id, event, error}
 * for a timer whose step refused it: that timer stays for the next tick and
 * the call returns the first such error (with *out still set). A timer whose
 * case no longer takes its event is dropped. */
CF_EXTERN int cf_tick(cf_engine *engine, json_t **out, cf_error *err);

/* Reads of case data (cf_case_get, cf_case_list, cf_case_history, cf_report)
 * need the actor's reason (cf_engine_set_actor) unless the store's policy
 * require_reason is "false": CF_EUSAGE otherwise.
 * Read one case (audited as a consultation with the actor's reason).
 * *out (new reference): {id, workflow{name,version}, state, revision, data,
 * created_at, updated_at, deadline_at?, tasks[], timers[]}. */
CF_EXTERN int cf_case_get(cf_engine *engine, const char *case_id, json_t **out,
                          cf_error *err);
/* List cases, optionally in one state (NULL: all); limit 0: no limit.
 * *out (new reference): array of {id, state, workflow, updated_at}. */
CF_EXTERN int cf_case_list(cf_engine *engine, const char *state, size_t limit,
                           json_t **out, cf_error *err);
/* The case's full history. *out (new reference): array of
 * {seq, at, actor, role, event, from, to, data, plugin{name,version,sha256}}. */
CF_EXTERN int cf_case_history(cf_engine *engine, const char *case_id,
                              json_t **out, cf_error *err);

/*
 * The management report for workflow `name` (NULL: "polit") over cases
 * referred, and events recorded, at or after `since` (Unix seconds; 0: all).
 * *out (new reference): {workflow, since, by_state{}, by_outcome{},
 * routes{state: {cases, came_back}}, escalations{from_state: n}, flags{},
 * days_from_referral{state: {cases, median_days}}, deadlines{grade: {cases,
 * met, missed}}}. What counts as a route, milestone, response and flag comes
 * from the workflow's config.report. Audited as a consultation.
 */
CF_EXTERN int cf_report(cf_engine *engine, const char *name, int64_t since,
                        json_t **out, cf_error *err);

/*
 * Store policy (administrator; audited). Keys:
 *  - "require_reason" ("true" by default: reading case data without a
 *    justification fails with CF_EUSAGE);
 *  - "checkpoint_interval" (at most this many audit records between signed
 *    checkpoints, default "1000"; "0" turns them off): the record after
 *    them is preceded by a checkpoint the engine signs, which needs the
 *    signing key (CF_EDENIED without it), and verify reports a missing one;
 *  - "anchor" (a file every checkpoint's signed head is also appended to,
 *    kept elsewhere; "" for none);
 *  - "require_os_user" ("false" by default): every user must be bound to
 *    operating-system accounts (cf_user_bind);
 *  - "workflow_budget_ms" (wall time all the workflow calls of one command
 *    may take, default "1000");
 *  - "common_key_limit" (a correlation key held by more cases than this is
 *    recorded as common and links nothing, default "25").
 * CF_EINVALID for an unknown key or a bad value.
 */
CF_EXTERN int cf_policy_set(cf_engine *engine, const char *key, const char *value,
                            cf_error *err);
/* New reference: {key: value} for every policy, defaults included. */
CF_EXTERN int cf_policy_get(cf_engine *engine, json_t **out, cf_error *err);

/*
 * Lawful retention (administrator; each needs the actor's reason and is
 * recorded in the case's history and the audit chain). A case gets a review
 * date when it closes, from its outcome's retention class (workflow config
 * retention[outcome].review_years).
 *  - due: cases whose review date has come (a read: needs the actor's reason
 *    and is audited); *out array of {id, state,
 *    outcome, review_at, legal_hold}.
 *  - keep: keep the case; the next review is `until` (Unix seconds) or, when
 *    0, now plus its class's period.
 *  - hold: place (hold=true) or lift a legal hold; a held case cannot be
 *    disposed of (CF_EDENIED).
 *  - dispose: erase the case's data, history payloads, task details,
 *    notifications and keys, keeping their digests so `audit verify` still
 *    passes; only for a closed case whose review is due (CF_EINVALID).
 */
CF_EXTERN int cf_retention_due(cf_engine *engine, json_t **out, cf_error *err);
CF_EXTERN int cf_retention_keep(cf_engine *engine, const char *case_id, int64_t until,
                                json_t **out, cf_error *err);
CF_EXTERN int cf_retention_hold(cf_engine *engine, const char *case_id, int hold,
                                json_t **out, cf_error *err);
CF_EXTERN int cf_retention_dispose(cf_engine *engine, const char *case_id, json_t **out,
                                   cf_error *err);

/* Verify the whole audit chain. *out (new reference): {ok, records, head,
 * first_bad?, reason?}. Returns CF_EINVALID when the chain is broken. */
CF_EXTERN int cf_audit_verify(cf_engine *engine, json_t **out, cf_error *err);

/*
 * Verify with options: public_key_file (NULL: the key recorded in the store)
 * pins the Ed25519 key that checkpoints must be signed with; flags
 * CF_VERIFY_CHAIN_ONLY skips the table checks. Besides the chain, every
 * checkpoint signature and every audited table (cases with their timers,
 * tasks, keys and notifications; events; users; workflows; the store's
 * identity) are checked against the chain. *out adds {checkpoints,
 * last_signed_seq, unsigned_tail, tables{}, public_key}.
 */
#define CF_VERIFY_CHAIN_ONLY 1
CF_EXTERN int cf_audit_verify_with(cf_engine *engine, const char *public_key_file,
                                   int flags, json_t **out, cf_error *err);
/* Verify with every option. anchors_file: an anchor log (cf_audit_checkpoint_with):
 * every signed head in it must be in the store's chain, which finds a
 * store cut short or rolled back to an older copy. */
typedef struct cf_verify_options {
    const char *public_key_file; /* NULL: the key recorded in the store */
    const char *anchors_file;    /* NULL: none */
    int flags;                   /* CF_VERIFY_* */
    void *reserved[4];           /* must be zero */
} cf_verify_options;
CF_EXTERN int cf_audit_verify_opts(cf_engine *engine, const cf_verify_options *opts,
                                   json_t **out, cf_error *err);
/* Sign the chain's head now (administrator), after verifying the records
 * since the last checkpoint and the rows they touched: a broken chain is
 * never signed (CF_EINVALID). *out (new): {seq, signed_seq, head, at}.
 * CF_ENOTFOUND/CF_EDENIED when the signing key is missing, readable by
 * others or not the store's. */
CF_EXTERN int cf_audit_checkpoint_now(cf_engine *engine, json_t **out, cf_error *err);
/* The same, and append the signed head to the anchor log anchor_file (a
 * file kept elsewhere, appended to and synced; NULL: only the store's
 * "anchor" policy, if any). */
CF_EXTERN int cf_audit_checkpoint_with(cf_engine *engine, const char *anchor_file,
                                       json_t **out, cf_error *err);

/*
 * Export audit records from seq `since` (<= 1: all) as JSON lines (a header
 * with the store id and public key, one line per record with its kept
 * payload, one per checkpoint; docs/audit.md) to path (NULL or "-": stdout;
 * a file is created 0600 and never overwritten). Administrator; the export
 * is itself audited as a disclosure and ends with a checkpoint signed for
 * it (so it needs the signing key). *out (new): {since, records, head}.
 */
CF_EXTERN int cf_audit_export(cf_engine *engine, int64_t since, const char *path,
                              json_t **out, cf_error *err);
/* Verify an export file without any store, pinning the public key in
 * public_key_file (NULL: the export cannot be trusted and fails). An export
 * must name that key, be signed to its last record, and (when it starts at
 * record 1) keep every rule of the chain and its store's identity.
 * *out (new): {ok, records, first_seq, last_seq, head, checkpoints,
 * last_signed_seq, unsigned_tail, reason?}. CF_EINVALID when it does not
 * verify. */
CF_EXTERN int cf_audit_verify_file(const char *path, const char *public_key_file,
                                   json_t **out, cf_error *err);

/* engine may be NULL for the two plugin calls: the plugin path is then
 * CASEFLOW_PLUGIN_PATH plus the installed plugin directory.
 * Plugins found on the search path: array of descriptors
 * {name, version, summary, abi, accepts[], emits[], path, sha256}. */
CF_EXTERN int cf_plugin_list(cf_engine *engine, json_t **out, cf_error *err);
/* Descriptor of the plugin module in file (new reference). CF_EMISSING when
 * the file is not a caseflow plugin or its ABI is incompatible. */
CF_EXTERN int cf_plugin_info(cf_engine *engine, const char *file, json_t **out,
                             cf_error *err);

#ifdef __cplusplus
}
#endif
#endif /* CASEFLOW_H */
