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
     * directory. NULL: the CASEFLOW_PLUGIN_PATH environment variable; when
     * that is unset too, the store policy plugin_path (read when a plugin is
     * first needed). */
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

/*
 * Keep what step plugins write to standard output out of the program's own
 * output (a command's --json): from this call on, the stdout stream writes
 * through a duplicate of file descriptor 1, descriptor 1 becomes a copy of
 * standard error, and during each plugin call stdout names the stream on
 * descriptor 1 (so a plugin's printf, puts or write(1, ...) all land on
 * standard error). Call it once, before writing anything; a program that
 * writes file descriptor 1 directly should write fileno(stdout) instead.
 * The stdout variable is assigned (the GNU C library allows it). Idempotent.
 * CF_EIO when a descriptor cannot be duplicated (nothing is changed then).
 */
CF_EXTERN int cf_protect_stdout(cf_error *err);

/* The detail of the last workflow error of a command on engine: the Lua
 * traceback of a transition function that failed (CF_ESCRIPT), whose
 * one-line message says only "file:line: message". Borrowed, valid until
 * the next command on engine; NULL when there is none. For --verbose and
 * a service's log; it names workflow code, never case data. */
CF_EXTERN const char *cf_engine_error_detail(const cf_engine *engine);

/* Who acts and why. Strings are copied. actor NULL clears it. The actor is
 * checked against the store's users at each command. */
CF_EXTERN int cf_engine_set_actor(cf_engine *engine, const char *actor,
                                  const char *reason);
/* For a service that authenticated the actor itself (caseflowd): uid >= 0
 * is the account of the peer it acts for (a local client's SO_PEERCRED),
 * checked against the user's bindings as the process's own account is;
 * CF_PEER_TOKEN: the actor proved itself with a bearer token, so bindings
 * (which name the accounts a process may act from) do not apply; -1: the
 * process's own account again. CF_EUSAGE for another value. */
#define CF_PEER_TOKEN (-2L)
CF_EXTERN int cf_engine_set_peer(cf_engine *engine, long uid);
/*
 * Progress of a long command. fn (NULL: none, the default) is called by the
 * engine's long loops: cf_audit_verify* (what is "audit verify: records",
 * then "audit verify: history" and "audit verify: cases", one loop after
 * the other), cf_workflow_migrate ("workflow migrate": the cases moved),
 * cf_workflow_simulate ("workflow simulate": the cases replayed) and
 * cf_retention_dispose_due ("retention dispose": the cases due). Each call
 * says that `done` of `total` items of that loop are finished (total -1
 * when it is not known); a loop calls it with done 0 before its first item
 * and then every 64 items or so (CF_PROGRESS_STEP), not necessarily at its
 * end: the caller clears whatever it shows when the engine function
 * returns. `what` is a static string (borrowed).
 *
 * fn runs synchronously on the thread that called the engine function,
 * inside it (perhaps inside a store transaction): it must return quickly,
 * must not call any cf_* function on this engine, and cannot stop the work.
 * ctx is borrowed: the caller keeps it valid while it is set. Setting is
 * not thread-safe (like every call on one engine); it lasts until changed
 * or cf_engine_close. Nothing the engine records depends on it.
 */
typedef void (*cf_progress_fn)(void *ctx, const char *what, int64_t done, int64_t total);
CF_EXTERN void cf_engine_set_progress(cf_engine *engine, cf_progress_fn fn, void *ctx);
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
 * "<store file name>.key" (0600) and ".key.pub" (a PostgreSQL store: key_dir
 * is required, and the file is named after the database); or at
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

/*
 * Moving a store: copy the store `engine` is open on (FROM; opened read-only
 * is enough) into a new store at `to` on either backend: a SQLite file that
 * must not exist, or a postgresql:// URI of a database without a caseflow
 * schema. FROM is verified in full first (cf_audit_verify_opts); then every
 * table is copied from one snapshot, each value byte for byte, in one
 * transaction on the target (a SQLite target is written beside `to` and
 * takes its name only when complete, so an interrupted copy leaves nothing
 * at `to`). The copy ends with a store.copy record right after the head it
 * copied (FROM's backend and name, that head's seq and hash, the rows per
 * table, the target's schema digest), signed at once with the store's own
 * key; then the target is verified in full as a store of its own. The actor
 * must be an administrator of FROM and the signing key the store's.
 * opts->key_dir (opts may be NULL): copy the key pair into that directory
 * (made 0700 if missing) and record it there on the target; otherwise the
 * target records the key where FROM does. Progress goes to the engine's
 * progress callback ("audit verify: ..." for both verifies, "store copy:
 * TABLE" per table).
 * *out (new): {from: {backend, store, head_seq, head}, to: {backend, store,
 * head_seq, head}, rows: {table: n}, copy_seq, key_path, verified: true}.
 * Errors, with nothing made at `to`: CF_EUSAGE (no `to`); CF_EDENIED (not an
 * administrator, or not the store's key); CF_EINVALID (FROM does not
 * verify, or `to` exists or already has a caseflow schema); CF_ENOTFOUND (no
 * such database at `to`, or its directory is missing); CF_EMISSING (no
 * server at `to`); CF_ECONFLICT (FROM changed during the copy: retry);
 * CF_EIO.
 */
typedef struct cf_copy_options {
    const char *key_dir; /* NULL: the key stays where FROM records it */
    void *reserved[4];   /* must be zero */
} cf_copy_options;
CF_EXTERN int cf_store_copy(cf_engine *engine, const char *to, const cf_copy_options *opts,
                            json_t **out, cf_error *err);

/* Add a user with roles (NULL-terminated array of role names from
 * "analyst", "officer", "supervisor", "authoriser", "administrator" and
 * "viewer": reads case data, never acts — a dashboard's service user).
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

/* Flags of cf_workflow_deploy_ex. */
#define CF_DEPLOY_DRY_RUN 1u     /* load, bind and check; write nothing */
#define CF_DEPLOY_INACTIVE 2u    /* the active version stays the one new cases start on */
#define CF_DEPLOY_NEED_REASON 4u /* refuse (CF_EUSAGE, field "reason") without a reason */
/*
 * cf_workflow_deploy with flags. A deploy makes its version the active one
 * (the one new referrals start on, cf_workflow_activate) unless
 * CF_DEPLOY_INACTIVE; a source already deployed under any version is that
 * version again (no copy under a new number), made active the same way.
 * *out (new reference, may be NULL): {name, version, declared_version, hash,
 * created, active, previous_active, dry_run, plugins}; plugins: {PLUGIN:
 * {version, sha256}}, the builds a new version is pinned to (a command
 * that finds another build of one of them for this version refuses the
 * states using it with CF_EMISSING until cf_workflow_repin). CF_EINVALID
 * for CF_DEPLOY_INACTIVE on a workflow's first version.
 */
CF_EXTERN int cf_workflow_deploy_ex(cf_engine *engine, const char *path, unsigned flags,
                                    json_t **out, cf_error *err);
/*
 * Make deployed version `version` of workflow `name` the one new referrals
 * start on, without a new version; recorded as store policy
 * workflow.active:NAME (a policy.set audit record, checked by verify).
 * Administrators only; needs a reason (CF_EUSAGE). Activating the active
 * version changes nothing. *out (new reference, may be NULL): {name,
 * version, previous, changed}. CF_EMISSING when the name or version is
 * not deployed (field "workflow" or "version") or a plugin of the version
 * is missing.
 */
CF_EXTERN int cf_workflow_activate(cf_engine *engine, const char *name, int64_t version,
                                   json_t **out, cf_error *err);
/*
 * Accept the plugin builds found now for deployed version `version` of
 * workflow `name`: each is loaded and initialised as at deploy, and those
 * whose SHA-256 differs from the pinned one (or every one, for a version
 * deployed before pins existed) become the new pins, with a workflow.repin
 * audit record listing the changes and the pins' policy.set record.
 * Administrators only (CF_EDENIED); needs a reason (CF_EUSAGE). Nothing to
 * change: nothing written. *out (new reference, may be NULL): {name,
 * version, changed, changes: [{plugin, old_version, old_sha256,
 * new_version, new_sha256}], plugins: {PLUGIN: {version, sha256}}}.
 * CF_EMISSING when the version is not deployed (field "version") or one of
 * its plugins is missing or refuses its config.
 */
CF_EXTERN int cf_workflow_repin(cf_engine *engine, const char *name, int64_t version,
                                json_t **out, cf_error *err);
/*
 * What changes from version v1 of workflow `name` to version v2, or (file
 * not NULL) to the workflow in file, bundled as deploy bundles it (v1 <= 0
 * then: the active version; name NULL: the file's name). Writes nothing and
 * needs no reason (a read of workflows, not of case data). *out (new
 * reference): {name, from: {version, hash} or null (not deployed), to:
 * {version or file, hash}, identical, changes: [{kind, change, text,
 * state?, event?, key?, from?, to?}], source: unified diff text}. kind is
 * one of name, initial, state, final, roles, plugin, timer, deadline,
 * transition, config (a state's settings), setting (the workflow's); change
 * added, removed or changed. CF_EMISSING for a workflow or version not
 * deployed, CF_ENOTFOUND for a file that does not exist.
 */
CF_EXTERN int cf_workflow_diff(cf_engine *engine, const char *name, int64_t v1, int64_t v2,
                               const char *file, json_t **out, cf_error *err);
/*
 * Lint the workflow in path without deploying it. engine may be NULL (then
 * plugins are looked up on opts' plugin path only). *out (new reference)
 * is an array of findings {file, line, rule, message}, a warning also with
 * "severity": "warning" (it blocks no deploy); returns 0 when there are
 * none but warnings, CF_EINVALID when there are.
 */
CF_EXTERN int cf_workflow_check(cf_engine *engine, const char *path,
                                json_t **out, cf_error *err);
/*
 * Check the workflow in path against the live timers of the store: every
 * timer of an open case of that workflow's name (any version) in the state
 * that set it whose event path's workflow would not take there appends a
 * finding {file, line (its state's, 0 when the state is gone), rule
 * "live-timer", message, timers: {workflow, version, state, event, timers,
 * due, first_due, first_case}} to findings (borrowed array). An audited
 * read: needs a known actor and a reason. CF_EINVALID, CF_ENOTFOUND when
 * the file does not load; the store's errors.
 */
CF_EXTERN int cf_workflow_check_live(cf_engine *engine, const char *path, json_t *findings,
                                     cf_error *err);
/* Graphviz DOT text of deployed workflow `name` at `version` (<= 0: the
 * active version): states with their step, roles, timer and deadline,
 * transitions with their event, roles and timer. The same version always
 * gives the same text. *out is a new malloc'd string (free it).
 * CF_EMISSING when the workflow or version is not deployed. */
CF_EXTERN int cf_workflow_graph(cf_engine *engine, const char *name, int64_t version,
                                char **out, cf_error *err);
/* The same for the workflow in file `path`, not deployed (no store needed).
 * *out is a new malloc'd string (free it). CF_ENOTFOUND when the file does
 * not exist, CF_EINVALID when it does not load. */
CF_EXTERN int cf_workflow_graph_file(const char *path, char **out, cf_error *err);
/* New reference: array of {name, version, declared_version, hash,
 * deployed_at, deployed_by, active, open_cases}: active marks the version
 * new referrals start on; open_cases counts its cases in no final state and
 * not disposed of. */
CF_EXTERN int cf_workflow_list(cf_engine *engine, json_t **out, cf_error *err);

/* What cf_workflow_migrate moves, and how (strings borrowed). */
typedef struct cf_migrate_options {
    const char *name;          /* the workflow (not with approve) */
    int64_t to;                /* the version to move to (not with approve) */
    int64_t from;              /* only cases on this version (0: any other) */
    const char *const *map;    /* nmap "OLD=NEW" state mappings */
    size_t nmap;
    const char *const *cases;  /* ncases case ids; or all (exactly one of them) */
    size_t ncases;
    int all;                   /* every open case of the workflow */
    int dry_run;               /* plan only: writes its consultation record alone */
    int request;               /* four eyes: record a pending request, move nothing */
    int64_t approve;           /* > 0: approve request `approve` (another administrator's)
                                * and run it; the other fields are ignored */
} cf_migrate_options;

/*
 * Move open cases of a workflow to another deployed version (docs/workflows.md,
 * "Migrating open cases"). Requires an administrator and a reason. Each case
 * keeps its state (or the one --map gives); the timers of that state are
 * recomputed under the new version from the time the case entered it, the
 * response deadline moved to the new version's deadline_days for its grade,
 * tasks kept. No guard or step of either version runs. Each case moves in its
 * own transaction with a workflow.migrated history event; a case already on
 * the target is skipped. With the store policy migrate_four_eyes=true a move
 * needs request, then approve by a different administrator.
 * *out (new reference): {workflow, to, from, dry_run, map, cases: [{id,
 * revision, from: {version, state}, to: {version, state, mapped}, entered_at,
 * timers: [{event, was, now}], deadline: {was, now}, tasks, status: planned |
 * migrated | skipped | refused | failed, why?}], counts, request?, approved?}.
 * Errors (the store unchanged): CF_EUSAGE (no reason, no --cases/--all, a
 * malformed --map), CF_EMISSING (no such version: field "to" or "from"),
 * CF_ENOTFOUND (no such case or request),
 * CF_EINVALID (a --map target the version lacks; a named case closed, disposed
 * or on another workflow; a case that cannot move, when applying), CF_EDENIED
 * (not an administrator; four eyes: no request, or approving one's own),
 * CF_ECONFLICT (a request approved already). When some cases fail while
 * moving, each is left as it was, the first failure's code is returned and
 * *out still holds the report (status "failed", why).
 */
CF_EXTERN int cf_workflow_migrate(cf_engine *engine, const cf_migrate_options *opts,
                                  json_t **out, cf_error *err);

/* What cf_workflow_simulate replays (strings borrowed). */
typedef struct cf_simulate_options {
    const char *path;          /* the candidate workflow file (as deploy reads it) */
    const char *const *cases;  /* ncases case ids (0: every case of the workflow) */
    size_t ncases;
    int64_t since;             /* only cases referred at or after (Unix seconds; 0: all) */
} cf_simulate_options;

/*
 * Replay recorded cases through the candidate workflow in opts->path before
 * it goes live (docs/workflows.md, "Simulating a change"): every case of
 * the workflow of the same name (any version; not disposed of), or the
 * cases named, each input of its history (the referral, every act, every
 * timer fired, every repeat referral) run at its recorded time as its
 * recorded actor through the engine's own step code and the real plugins,
 * in memory. Requires an administrator and a reason (an audited read: its
 * one consultation record names the cases reported); writes nothing else.
 * Progress: "workflow simulate" (cf_engine_set_progress).
 * *out (new reference): {workflow, file, hash, since, summary: {replayed,
 * unchanged, route, refused, other, not_replayed} (a case whose route
 * changes and that is then refused counts in both), by_state: {STATE:
 * {replayed, unchanged, route, refused, other}} (by each case's recorded
 * state now), cases: [{id, version, state, verdict: route | refused | other,
 * divergences: [{step, event, at, actor, kind: state | route | refused |
 * outcome | grade | deadline | timer, recorded, candidate, message?, now?
 * (true: compared with the case as it is now, after the last step)}]}]}:
 * only the cases that diverge. Errors (the store unchanged): CF_EUSAGE (no
 * reason), CF_ENOTFOUND (no such file, field "file"; no such case, field
 * "cases"), CF_EINVALID (the file is not a valid workflow: file:line in the
 * message; a named case on another workflow or disposed of), CF_EMISSING (a
 * plugin the candidate names is not installed), CF_EDENIED (not an
 * administrator).
 */
CF_EXTERN int cf_workflow_simulate(cf_engine *engine, const cf_simulate_options *opts,
                                   json_t **out, cf_error *err);

/*
 * Take in one referral (borrowed JSON object, contract version 1). The case
 * starts on the active version of workflow `name` (NULL: "polit"): the
 * latest deployed unless cf_workflow_activate chose another.
 * *out (new reference): {id, state, created}; created is false when
 * (source, reference) was already known, and the existing case is returned.
 * Inside a batch (cf_batch_begin), the referral is written under a savepoint
 * and becomes durable at cf_batch_commit.
 */
CF_EXTERN int cf_refer(cf_engine *engine, const char *workflow,
                       const json_t *referral, json_t **out, cf_error *err);

/* Group many commands in one store transaction (bulk intake; a service's
 * group commit). Inside a batch every command (cf_refer, cf_act, cf_tick,
 * the reads, tokens, tasks...) runs under a savepoint of its own: one that
 * fails leaves no trace and the others are untouched; all that succeeded
 * become durable together at cf_batch_commit, and none of them if it fails
 * or at cf_batch_rollback. The actor may change between commands
 * (cf_engine_set_actor); each is checked at its own command. */
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

/* Options of cf_act_with. Zero-initialise, then set what you need. */
typedef struct cf_act_options {
    /* >= 0: CF_ECONFLICT (field "revision") unless the case is at it.
     * Zero-initialised options mean revision 0, which no case has: set -1
     * for none. */
    int64_t expect_revision;
    /* A caller's key (1-128 printable ASCII characters) that makes a retry
     * safe: the first call with a key records its result (kept at least 24
     * hours, covered by the audit chain); a later call with the same key,
     * actor, case, event and data returns that result again with
     * "replayed": true and changes nothing; the same key with anything else
     * different is CF_EINVALID (field "idempotency_key"). NULL: none. */
    const char *idempotency_key;
    void *reserved[4]; /* must be zero */
} cf_act_options;
/* cf_act with options (opts NULL: cf_act with no revision check). */
CF_EXTERN int cf_act_with(cf_engine *engine, const char *case_id, const char *event,
                          const json_t *data, const cf_act_options *opts, json_t **out,
                          cf_error *err);

/* Counts for a service's metrics, without case data (so no reason and no
 * audit): *out (new) {cases: {state: n}, open_tasks, feed_head,
 * audit_records, workflows, webhooks: {pending, dead}}. */
CF_EXTERN int cf_stats(cf_engine *engine, json_t **out, cf_error *err);

/* What the engine's store is, without touching it: *out (new) {backend:
 * "sqlite" or "postgresql", store: its name as messages show it (a URI
 * without its password)}. CF_ENOMEM. */
CF_EXTERN int cf_store_describe(const cf_engine *engine, json_t **out, cf_error *err);

/*
 * A PostgreSQL store's login role (docs/postgres.md, "Roles and grants"):
 * give the database role `role` exactly the privileges caseflow's commands
 * need on the store's schema, revoking anything else it held there, and take
 * TEMPORARY on the database from PUBLIC when the store's owner owns the
 * database. Idempotent. Run by an administrator, connected as the role that
 * owns schema caseflow. Grants are part of the schema's digest, so the new
 * digest is recorded in the audit chain (a store.schema record by the
 * administrator) when it changed: verify accepts it, while a grant made
 * behind caseflow's back is refused as an altered schema. *out (may be NULL;
 * new) {role, changed: whether the schema's digest moved, temp_revoked:
 * whether the role can no longer make temporary tables, schema: the digest}.
 * Errors, the store unchanged: CF_EUSAGE a SQLite store (its protection is
 * the file's permissions) or a caseflow built without PostgreSQL;
 * CF_EINVALID a name that is not a plain role name (a-z, 0-9, _), a
 * superuser or the owner; CF_ENOTFOUND no such role; CF_EDENIED not an
 * administrator, or not connected as the schema's owner.
 */
CF_EXTERN int cf_store_grant(cf_engine *engine, const char *role, json_t **out,
                             cf_error *err);

/* Fire every timer due by the engine clock when the call starts, each under
 * a savepoint of its own, up to 256 per store transaction (inside the
 * caller's batch, in that one): a timer that fails leaves no trace and
 * costs the others nothing; if the process dies, what was committed is
 * whole timers, and the next tick fires the rest once.
 * *out (new reference): array of {id, event, state}, and {id, event, error}
 * for a timer whose step refused it: that timer stays for the next tick and
 * the call returns the first such error (with *out still set). A timer whose
 * case no longer takes its event is dropped. */
CF_EXTERN int cf_tick(cf_engine *engine, json_t **out, cf_error *err);
/* With no actor set, cf_tick runs as the engine itself (a service's clock):
 * it also raises deadline.missed, once per deadline, for every case whose
 * response deadline has passed without a response (workflow
 * config.report.response), as a domain event and an alarm-free history
 * record. */

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
/*
 * Query cases for a dashboard or another system. Zero-initialise, then set
 * the filters wanted (NULL / 0: not filtered). Cases come in a stable order
 * (their intake order); `after` is the `next` cursor of the previous page, so
 * paging while others write never skips or repeats a case. One audit
 * record (a consultation with the actor's reason) names the cases returned.
 */
typedef struct cf_case_query {
    const char *state, *workflow;
    int64_t version;         /* > 0: on this workflow version */
    const char *grade;       /* the workflow's report.grade data path */
    int overdue;             /* 1: response deadline passed, no response yet */
    int64_t deadline_before; /* > 0: deadline_at before this (Unix seconds) */
    int64_t updated_since;   /* > 0: updated_at at or after this */
    int task_open;           /* 1: with at least one open task */
    const char *after;       /* cursor: NULL for the first page */
    size_t limit;            /* 1-1000; 0: 100 */
    void *reserved[4];       /* must be zero */
} cf_case_query;
/* *out (new reference): {items: [{id, state, workflow{name, version},
 * grade, deadline_at, overdue, open_tasks, revision, created_at,
 * updated_at}], next (a cursor, or null after the last page)}. CF_EINVALID
 * names a bad filter or cursor. */
CF_EXTERN int cf_case_query_run(cf_engine *engine, const cf_case_query *q, json_t **out,
                                cf_error *err);

/*
 * Record in the audit chain that a request of the engine's actor was
 * refused (action "refused", no role): operation names what was asked
 * ("case.act"), why is the refusal (its code, field and message; the
 * message is kept up to 300 bytes). case_id (may be NULL) is the case the
 * request named: the record belongs to that case's history when it exists,
 * else the id is kept in the payload. In a transaction of its own (a
 * savepoint inside a batch), with the actor's reason when it has a valid
 * one. For a front end that refused a known user (caseflowd: every 4xx of
 * an authenticated caller). 0; CF_EUSAGE without operation or error; the
 * actor's own refusal (no actor, unknown or disabled user: CF_EUSAGE,
 * CF_EDENIED); CF_EIO.
 */
CF_EXTERN int cf_engine_record_refusal(cf_engine *engine, const char *operation,
                                       const char *case_id, const cf_error *why,
                                       cf_error *err);

/*
 * Reads on engines of their own. A service may answer reads on read-only
 * engines (cf_open_options.readonly), one per concurrent read, while one
 * engine writes. Such an engine cannot write the consultation record a read
 * makes; with deferral on, it keeps each record instead (the read succeeds
 * as if written), and the service writes them on its writing engine, as
 * the same actor with the same reason, before it sends the answer.
 *
 * cf_engine_defer_consultations: on (1) starts keeping records (dropping
 * any kept), off (0) stops and drops them. 0, or CF_ENOMEM.
 * cf_engine_take_consultations: a new array of the records kept since
 * deferral began or the last take ([] when none), or NULL when deferral is
 * off; the engine keeps deferring.
 * cf_engine_record_consultations: write list (borrowed, as taken) as the
 * engine's actor with its reason, in one transaction (a savepoint in a
 * batch); an empty list writes nothing. 0; CF_EUSAGE for a list not as
 * taken; the actor's and the reason's refusals (as any read); CF_EIO.
 */
CF_EXTERN int cf_engine_defer_consultations(cf_engine *engine, int on);
CF_EXTERN json_t *cf_engine_take_consultations(cf_engine *engine);
CF_EXTERN int cf_engine_record_consultations(cf_engine *engine, const json_t *list,
                                             cf_error *err);

/* cf_case_get with the case's history (as cf_case_history) in member
 * "history", read and audited as one consultation ("dossier"): for a
 * records system that takes the whole case at once. */
CF_EXTERN int cf_case_dossier(cf_engine *engine, const char *case_id, json_t **out,
                              cf_error *err);

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
 * met, missed}}, version (null), by_version{"N": {cases, by_state{}}},
 * by_month{"YYYY-MM": {cases, by_version{"N": n}}} (intake by UTC month of
 * referral), as_of (the engine clock's time), timers_kept}. What counts as a route, milestone, response and flag comes
 * from each case's own version's config.report (so a state of an older
 * version a case is still in keeps its line). Audited as a consultation.
 */
CF_EXTERN int cf_report(cf_engine *engine, const char *name, int64_t since,
                        json_t **out, cf_error *err);
/* The same over the cases of one version (`version` > 0; 0: every
 * version, as cf_report): *out's "version" names it. CF_EMISSING when
 * that version is not deployed, CF_EINVALID when version < 0. */
CF_EXTERN int cf_report_version(cf_engine *engine, const char *name, int64_t version,
                                int64_t since, json_t **out, cf_error *err);
/*
 * A report (as cf_report or cf_report_version gives it; borrowed) as one
 * self-contained HTML page for a supervisor: its tables and SVG bar charts
 * of cases by state (split by version), routes entered, response deadlines
 * met and missed by grade, and monthly intake (split by version). Inline
 * CSS and SVG only: no script, nothing fetched. Every text from the report
 * is HTML-escaped. Made from the report alone, so the same report gives the
 * same bytes. *out: new malloc'd NUL-terminated text (the caller frees it).
 * CF_EINVALID when report is not an object, CF_ENOMEM.
 */
CF_EXTERN int cf_report_html(const json_t *report, char **out, cf_error *err);

/*
 * Tasks: what a case asks of a role (a MASH referral, a supervisor's
 * review). Listing is a read (reason, audited); claiming and completing are
 * audited changes to the case (a history event "task.claimed" or
 * "task.completed" that leaves its state as it is) by a user holding the
 * task's role, or a supervisor. Completing a task closes it for good.
 */
typedef struct cf_task_query {
    const char *status;   /* "open" (open or claimed), "done", NULL: all */
    const char *kind;     /* NULL: any */
    const char *case_id;  /* NULL: any */
    const char *assignee; /* NULL: any */
    int64_t after;        /* task id cursor: tasks after it; 0 from the start */
    size_t limit;         /* 1-1000; 0: 100 */
    void *reserved[4];    /* must be zero */
} cf_task_query;
/* *out (new reference): {items: [{id, case, kind, role, status, assignee,
 * detail, result, created_at, closed_at}], next}. */
CF_EXTERN int cf_task_list(cf_engine *engine, const cf_task_query *q, json_t **out,
                           cf_error *err);
/* Claim an open task for the actor (CF_ECONFLICT when another user holds
 * it; claiming again one's own claim changes nothing). *out (new): the task. */
CF_EXTERN int cf_task_claim(cf_engine *engine, int64_t task_id, json_t **out, cf_error *err);
/* Complete a task with a result (borrowed object, may be NULL); CF_EINVALID
 * when it is already done. *out (new): the task. */
CF_EXTERN int cf_task_complete(cf_engine *engine, int64_t task_id, const json_t *result,
                               json_t **out, cf_error *err);

/*
 * The change feed: the domain events of committed changes, in commit order,
 * as CloudEvents 1.0 ({specversion, id, source, type, time, subject (the
 * case id), datacontenttype, data, seq}). Every change to a case appends its
 * events in the same transaction (covered by the case's digest in the
 * chain): case.created, case.state_changed, case.graded,
 * case.deadline_set, case.escalated, case.closed, task.opened,
 * task.claimed, task.closed, timer.fired, deadline.missed,
 * retention.disposed, and the workflow's own notifications (type: their
 * channel). Events of a disposed case keep their type and time only.
 * A read: needs the reason; one audit record names the cases returned.
 * *out (new reference): {events: [...], next (the last seq returned, or
 * `after` when none)}. limit 0: 100 (at most 1000).
 */
CF_EXTERN int cf_feed_read(cf_engine *engine, int64_t after, size_t limit, json_t **out,
                           cf_error *err);
/* The seq of the newest domain event (0: none); no audit, no reason: for a
 * service that waits for the feed to move. */
CF_EXTERN int cf_feed_head(cf_engine *engine, int64_t *seq, cf_error *err);

/*
 * Service identities: bearer tokens for caseflowd. A token acts as its user
 * with that user's roles. The store keeps only the token's SHA-256.
 * create (administrator; audited): *out (new) {id, user, token, note,
 * created_at, expires_at}; `token` is shown this once. expires_at 0: never.
 * list (administrator): array of {id, user, note, created_at, created_by,
 * expires_at, revoked_at, last_used_at?} (never the token).
 * revoke (administrator; audited): CF_ENOTFOUND for no such id.
 */
CF_EXTERN int cf_token_create(cf_engine *engine, const char *user, int64_t expires_at,
                              const char *note, json_t **out, cf_error *err);
CF_EXTERN int cf_token_list(cf_engine *engine, json_t **out, cf_error *err);
CF_EXTERN int cf_token_revoke(cf_engine *engine, const char *token_id, cf_error *err);
/* Who a bearer token acts as. 0 and the user's name in user (a buffer of
 * 64 bytes); CF_EDENIED (field "token") for an unknown, malformed, revoked
 * or expired token or a disabled user. A refusal for a known token is
 * recorded in the audit chain (action "auth.refused"). The comparison runs
 * in constant time. Inside a batch, the refusal rides on a savepoint. */
CF_EXTERN int cf_token_authenticate(cf_engine *engine, const char *token, char user[64],
                                    cf_error *err);
/* The user bound to operating-system account uid (a local client's peer
 * credentials): 0 and the name in user (64 bytes); CF_EDENIED when no user,
 * or more than one, is bound to it, or it is disabled. */
CF_EXTERN int cf_user_for_uid(cf_engine *engine, long uid, char user[64], cf_error *err);

/*
 * Webhooks: caseflowd posts each matching domain event (cf_feed_read's
 * CloudEvents) to a URL, signed with HMAC-SHA256 under the webhook's
 * secret, at least once and in order per case. add, remove and redeliver
 * are administrators' audited changes; list is administrators'.
 *  - add: url http:// or https://; events a comma-separated list of types
 *    ("case.escalated,task.opened"), a prefix ending in '*' ("case.*"), or
 *    "*"; secret at least 16 bytes. *out (new): {id, url, events,
 *    created_at}. Delivery starts with events committed after it.
 *  - list: array of {id, url, events, created_at, created_by, failing,
 *    pending, dead, last_error}.
 *  - remove: CF_ENOTFOUND for no such webhook.
 *  - redeliver: the webhook's dead letters are queued again. *out (new):
 *    {id, requeued}.
 */
CF_EXTERN int cf_webhook_add(cf_engine *engine, const char *url, const char *events,
                             const char *secret, json_t **out, cf_error *err);
CF_EXTERN int cf_webhook_list(cf_engine *engine, json_t **out, cf_error *err);
CF_EXTERN int cf_webhook_remove(cf_engine *engine, int64_t id, cf_error *err);
CF_EXTERN int cf_webhook_redeliver(cf_engine *engine, int64_t id, json_t **out,
                                   cf_error *err);
/*
 * For the deliverer (caseflowd). These run as the engine itself: with no
 * actor set (cf_engine_set_actor(e, NULL, NULL)), or as an administrator.
 * next: queue the matching events committed since each webhook's cursor and
 * return up to max deliveries due at `now`, at most one per (webhook, case)
 * (the oldest: order per case) and never one whose earlier event of the
 * same case is still pending. *out (new): array of {hook, seq, url,
 * secret, attempt, body} where body is the CloudEvent JSON text to post.
 * done: record the outcome of one delivery: ok removes it; otherwise it is
 * retried at next_at (exponential backoff with jitter, computed by the
 * engine) until `max_attempts`, then kept as a dead letter and the webhook
 * marked failing (a later success clears the mark).
 */
CF_EXTERN int cf_webhook_next(cf_engine *engine, int64_t now, size_t max, json_t **out,
                              cf_error *err);
CF_EXTERN int cf_webhook_done(cf_engine *engine, int64_t hook, int64_t seq, int ok,
                              const char *error, int max_attempts, cf_error *err);

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
 *    recorded as common and links nothing, default "25");
 *  - "plugin_call_ms" (wall time one step plugin call may take, 10 to
 *    600000, default "5000"): a call still running then ends the process
 *    with exit status 70 and one line naming the plugin, before anything
 *    is committed (applies to the calls a process begins after it read the
 *    policy; one budget per process).
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
/* Dispose of every case `due` lists (that read is audited as there), each
 * in a transaction of its own, passing over those under legal hold; a case
 * that fails is left as it was and the others go on. *out (new reference,
 * set whenever the list was read) {disposed, held, failed, cases: [{id,
 * status: "disposed"|"held"|"failed", state?, why?}]}. 0, the first
 * failure's code (err is its message), or the list's own error (*out NULL).
 * Reports progress (cf_engine_set_progress). */
CF_EXTERN int cf_retention_dispose_due(cf_engine *engine, json_t **out, cf_error *err);
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

/*
 * Workflow tests (docs/workflows.md, "Workflow tests"): scenario files that
 * run a workflow with the real plugins against a store in memory and say
 * whether every expectation holds. A scenario is a Lua data file
 * (".lua", evaluated in the workflow sandbox: no I/O, no os, the
 * workflow's instruction, memory and time limits; `require` reads modules
 * from its own directory only) or a JSON file (".json") of the same shape.
 *
 * cf_scenario_load reads and checks the file at path; cf_scenario_parse
 * checks text already read (file only names it and picks the syntax by its
 * ending; nothing is read from disk, so Lua's require finds no module).
 * *out (new reference) is the scenario, normalised: {name, file?,
 * workflow? (the path, resolved against the file's directory), start (Unix
 * seconds), users {name: [roles]}, referral?, steps: [{n, at, kind (act |
 * tick | refer | check), case, as?, act?, data?, refer?, refused?,
 * expect?}]}. Errors: CF_ENOTFOUND for a file that does not exist;
 * CF_EINVALID for a file that is not a valid scenario, err->message one
 * line "FILE:LINE[:COL]: problem" (JSON syntax, Lua errors, a Lua limit
 * hit) or "FILE: PATH: problem" with err->field the path of the bad field
 * ("steps[3].expect.state"; steps counted from 1); CF_EIO, CF_ENOMEM.
 *
 * cf_scenario_run runs a loaded scenario (borrowed) in a fresh in-memory
 * store with a test clock (nothing on disk is read but the workflow and
 * the plugins, nothing is written). *out (new reference): {name, file,
 * ok, steps (run), of (in the scenario), failure?: {step, field, message}}
 * where message is one line "step N: expected state 'visit', got 'hold'"
 * naming the first expectation that did not hold (0 is returned: a
 * failing scenario is a result, not an error). Errors (*out NULL): the
 * workflow cannot be used (CF_ENOTFOUND no such file, CF_EINVALID it does
 * not check or none is named, CF_EMISSING a plugin is missing), a user the
 * store refuses (CF_EINVALID), CF_ENOMEM, CF_EUSAGE for a scenario not
 * loaded by cf_scenario_load/parse.
 */
typedef struct cf_scenario_options {
    /* The workflow file every scenario runs (a candidate version against
     * the shipped tests); NULL: each scenario's own "workflow". */
    const char *workflow;
    /* Colon-separated plugin directories searched first; NULL: the
     * CASEFLOW_PLUGIN_PATH environment variable. */
    const char *plugin_path;
    void *reserved[4]; /* must be zero */
} cf_scenario_options;
CF_EXTERN int cf_scenario_load(const char *path, json_t **out, cf_error *err);
CF_EXTERN int cf_scenario_parse(const char *file, const char *text, size_t len, json_t **out,
                                cf_error *err);
CF_EXTERN int cf_scenario_run(const json_t *scenario, const cf_scenario_options *opts,
                              json_t **out, cf_error *err);

/* engine may be NULL for the two plugin calls: the plugin path is then
 * CASEFLOW_PLUGIN_PATH plus the installed plugin directory; with an engine,
 * the engine's (its open options, CASEFLOW_PLUGIN_PATH, or the store policy
 * plugin_path).
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
