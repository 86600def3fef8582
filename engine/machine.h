/*
 * The state machine: the engine handle, loaded workflow versions with their
 * plugin instances, and the transaction "unit" that runs one command's
 * transitions in memory and then writes all of their effects at once.
 */
#ifndef CF_MACHINE_H
#define CF_MACHINE_H

#include "audit.h"
#include "store.h"

/* The store policies, read and checked against the chain together, again
 * whenever another connection has committed (PRAGMA data_version). */
typedef struct cf_policies {
    int64_t data_version; /* -1: not loaded */
    bool require_reason;
    int64_t checkpoint_interval;
    char anchor[1024];    /* "" : none */
    bool require_os_user;
    int64_t workflow_budget_ms;
    int64_t common_key_limit;
    bool migrate_four_eyes; /* a migration needs a second administrator's approval */
    char plugin_path[1024]; /* directories searched for plugins ("" : none) */
    int64_t plugin_call_ms; /* wall time one plugin call may take (guard.h) */
} cf_policies;

#define CF_USER_OK_SLOTS 8

struct cf_engine {
    cf_store *store;
    cf_loader *loader;      /* made on first need: use cf_engine_loader */
    char *plugin_path;      /* --plugins or CASEFLOW_PLUGIN_PATH, or NULL */
    bool plugin_path_given; /* either was given: the store's policy is not used */
    char *store_path;
    char *key_path;    /* audit signing key (secret) */
    bool key_explicit; /* given by the caller (not found by default) */
    unsigned char sk[64];
    int sk_state;      /* 0: not tried, 1: loaded, -1: unavailable */
    cf_error sk_err;   /* why it is unavailable */
    char *store_id;    /* from meta, NULL before init */
    char *public_key;  /* hex, from meta */
    bool test_clock;   /* the store honours a set clock */
    cf_error broken;   /* code != 0: the store failed its checks at open */
    char *actor;
    char *reason;
    char *roles;       /* the actor's roles, comma-separated, for this command */
    char os_login[64]; /* the calling process's account, and its uid */
    char os_uid[24];
    bool peer_token;   /* a service authenticated the actor by a token (cf_engine_set_peer) */
    bool served;       /* a service set the peer: its clients send requests, not options */
    int64_t clock;     /* < 0: system clock */
    cf_policies pol;
    struct cf_user_ok { /* actors' rows, checked against the chain when the */
        char name[80]; /* store was at this data_version (-1: none); a few, */
        int64_t data_version; /* as a service or batch alternates between users */
    } user_ok[CF_USER_OK_SLOTS];
    unsigned user_ok_next; /* the slot a new name takes */
    json_t *anchors;   /* signed heads waiting for the commit, to append */
    struct {           /* a row a command found altered: its alarm is due */
        char kind[16], id[160], found[65], recorded[65];
    } altered;
    bool signing;      /* a checkpoint is being written */
    bool migrating;    /* the schema is being migrated: rows not yet tied */
    cf_wf **wfs;       /* loaded workflow versions, plugins bound */
    size_t nwfs, capwfs;
    bool batch;
    json_t *deferred;  /* consultations kept for another engine to write, or NULL */
    char *trace;       /* the Lua traceback of the last failed guard, or NULL */
    cf_progress_fn progress; /* cf_engine_set_progress, or NULL */
    void *progress_ctx;
};

/* The policies in force (checked against the chain); NULL on error. */
const cf_policies *cf_engine_policies(cf_engine *e, cf_error *err);

/* Record an integrity alarm in the chain, in a transaction of its own
 * (after the command that found it has rolled back): what was found
 * altered, by whom it was noticed. Best effort: returns the seq written or
 * 0. */
int64_t cf_engine_alarm(cf_engine *e, const char *case_id, const char *what,
                        json_t *detail);

/* The actor must exist, match the chain, be enabled and (when bound) be
 * bound to the calling OS account; when `any` is given the actor must hold
 * one of those roles, and *role names the one used. Fails first with any
 * problem the store showed at open (e->broken) or a clock this store does
 * not honour. */
int cf_engine_require(cf_engine *e, const char *const *any, size_t nany,
                      const char *what, const char **role, cf_error *err);

/* Keep a consultation record (payload borrowed) for
 * cf_engine_take_consultations instead of writing it: only while
 * e->deferred. 0 or CF_ENOMEM. */
int cf_engine_defer_consultation(cf_engine *e, const char *case_id, json_t *payload,
                                 cf_error *err);

/* Audit a read of case data (case_id may be NULL for lists and reports) as a
 * consultation with the actor's reason, in its own transaction. */
int cf_engine_consult(cf_engine *e, const char *case_id, const char *what,
                      cf_error *err);

/* Audit one read that returned several cases: one consultation record
 * naming each case of items (an array of objects) once, by its string
 * member `member`. In its own transaction (a savepoint in a batch). */
int cf_engine_consult_many(cf_engine *e, const char *what, const json_t *items,
                           const char *member, cf_error *err);

/* The response states (config.report.response) of every deployed workflow
 * version as a JSON object text keyed "name@version" (*states, new
 * malloc'd) and, when gpaths is not NULL, each version's grade data path as
 * an SQLite JSON path ({"name@version": "$.risk.grade"} text, new malloc'd):
 * each case is judged by the version it runs on. SQL finds a case's entry
 * with the JSON path CF_VERSION_KEY("c") (c the case table's alias). */
#define CF_VERSION_KEY(c) "('$.\"' || " c ".workflow || '@' || " c ".version || '\"')"
/* PostgreSQL's twin: the key "name@version" itself, for jsonb's -> and ->>. */
#define CF_VERSION_KEY_PG(c) "(" c ".workflow || '@' || " c ".version)"
int cf_engine_response_states(cf_engine *e, char **states, char **gpaths, cf_error *err);

/* Tests only: with on false, every case-list page (cf_case_query_run) reads
 * in intake order, no index driving it, so that a test can hold the two
 * plans to the same answers. Process-wide; true by default. */
void cf_case_query_use_drivers(bool on);

/* Every kept idempotency key against its audit record (verify): CF_EINVALID
 * names the first that differs; report (may be NULL) gains its count. */
int cf_idempotency_verify(cf_store *s, json_t *report, cf_error *err);

/* A domain event of the change feed as a CloudEvent (new reference, NULL on
 * OOM) or as its compact JSON text (new malloc'd string): seq, case, type,
 * data text (a JSON value) and time of its notifications row (feed.c). */
json_t *cf_feed_event(cf_engine *e, int64_t seq, const char *case_id, const char *type,
                      const char *data, int64_t at);
char *cf_feed_event_text(cf_engine *e, int64_t seq, const char *case_id, const char *type,
                         const char *data, int64_t at);

/* A loaded workflow version (cached; plugins bound). Borrowed. */
int cf_engine_workflow(cf_engine *e, const char *name, int64_t version, cf_wf **out,
                       cf_error *err);
/* The same version, checked against its deploy record and cached the same
 * way, with no plugin loaded for it here: the machine binds each state when
 * a command enters it or delivers an event there (cf_engine_bind_state), and
 * readers of the graph or config need none. Borrowed. */
int cf_engine_workflow_lazy(cf_engine *e, const char *name, int64_t version, cf_wf **out,
                            cf_error *err);
/* The version of workflow name new referrals start on: the one the store
 * policy workflow.active:NAME names (cf_workflow_activate), else the latest
 * deployed. CF_EMISSING when name is not deployed. */
int cf_engine_workflow_active(cf_engine *e, const char *name, int64_t *version,
                              cf_error *err);
/* Set store policy key to value with its policy.set:KEY audit record, as
 * cf_policy_set does (inside the caller's transaction; role the actor's). */
int cf_engine_policy_record(cf_engine *e, const char *role, const char *key,
                            const char *value, cf_error *err);
/* The engine's plugin loader in *out, made on first use (borrowed; 0, or
 * the error of reading the policy or making the loader): its path is the open options' plugin_path or
 * CASEFLOW_PLUGIN_PATH when either was given, else the store policy
 * plugin_path; the installed plugin directory last. */
int cf_engine_loader(cf_engine *e, cf_loader **out, cf_error *err);
/* Bind a freshly loaded workflow's states to their plugins (init each). */
int cf_engine_bind(cf_engine *e, cf_wf *wf, cf_error *err);
/* The same with an explicit loader (workflow check without a store). */
int cf_wf_bind_plugins(cf_loader *loader, cf_wf *wf, cf_error *err);
/* ---- pins.c: pinned plugins ------------------------------------------------ */

/* The pins recorded for name@version (*pins new: {PLUGIN: {version,
 * sha256}}; NULL when the version has none, deployed before pins existed),
 * checked against the chain: CF_EINVALID (alarm raised) when altered. */
int cf_engine_pins_get(cf_engine *e, const char *name, int64_t version, json_t **pins,
                       cf_error *err);
/* The pins of a bound workflow: its modules' versions and SHA-256 (new
 * reference, NULL on OOM). */
json_t *cf_pins_of(const cf_wf *wf);
/* Record pins (borrowed) for name@version as an audited store policy, inside
 * the caller's transaction (role: the actor's). */
int cf_engine_pins_record(cf_engine *e, const char *role, const char *name, int64_t version,
                          const json_t *pins, cf_error *err);
/* Bind a stored version's unbound states to their plugins, each checked
 * against its pin: a state whose plugin is missing, fails init or is not the
 * pinned build stays unbound with the reason kept (cf_engine_state_ready);
 * only reading the pins or making the loader fails the call. Reads nothing
 * when every state is bound (cheap on each use of a cached version). */
int cf_engine_bind_pinned(cf_engine *e, cf_wf *wf, cf_error *err);
/* Bind one state of a stored version (wf from cf_engine_workflow_lazy or
 * cf_engine_workflow) to its plugin now, if it has one and it is not bound
 * yet, exactly as cf_engine_bind_pinned binds each state: the plugin found,
 * its bytes hashed and compared with the pin before they are loaded, its
 * init run; a failure is kept for cf_engine_state_ready. Fails only on
 * reading the pins (CF_EINVALID, alarm raised, when altered), making the
 * loader, or out of memory. Not for a simulation's threads. */
int cf_engine_bind_state(cf_engine *e, cf_wf *wf, cf_wf_state *st, cf_error *err);
/* 0 when st can run (no plugin, or its plugin bound), else CF_EMISSING with
 * the kept reason (plugin, workflow, version; for a build that is not the
 * pinned one: both versions and hashes and the repin command). */
int cf_engine_state_ready(const cf_wf_state *st, cf_error *err);
/* The first state of wf that cannot run, as cf_engine_state_ready. */
int cf_engine_workflow_ready(const cf_wf *wf, cf_error *err);
/* Drop name@version from the engine's cache of loaded versions (after its
 * pins changed: bound again on next use). */
void cf_engine_forget_workflow(cf_engine *e, const char *name, int64_t version);
/* A state's plugin init (with the state's config) and fini, each inside the
 * guard (guard.h): a crash, exit() or hang names the plugin and ends the
 * process with 70. init returns the plugin's result, its reason in msg. */
int cf_machine_plugin_init(const cf_module *m, const cf_wf_state *st, void **ps, char *msg,
                           size_t cap);
void cf_machine_plugin_fini(const cf_module *m, const cf_wf_state *st, void *ps);

/* Undo cf_engine_bind (fini each instance) and free the workflow. */
void cf_engine_unbind_free(cf_wf *wf);

/* Intake one referral on workflow wf: idempotent on (source, reference).
 * Must run inside a store transaction (or savepoint). */
int cf_machine_refer(cf_engine *e, cf_wf *wf, const json_t *referral,
                     const char *role, json_t **out, cf_error *err);
/* Deliver an event to a case. system: raised by the engine (timers), with no
 * role checks. Opens and commits its own transaction. With timer_event, the
 * timer must still be set and due (else CF_ENOTFOUND with field "timer": a
 * concurrent tick fired it). */
int cf_machine_act(cf_engine *e, const char *case_id, const char *event,
                   const json_t *data, int64_t expect_revision, bool system,
                   const char *timer_event, json_t **out, cf_error *err);

/* Drop a timer whose case no longer takes its event, as a change in the
 * case's history (timers are part of the case's digest). */
int cf_machine_drop_timer(cf_engine *e, const char *case_id, const char *event,
                          cf_error *err);
/* Note that a command found a row of `kind` ("case", "user", "workflow",
 * "policy") altered outside caseflow; found/recorded may be NULL. */
void cf_engine_note_altered(cf_engine *e, const char *kind, const char *id,
                            const char *found, const char *recorded);
/* Write the integrity alarm a failed command left due (e->altered), in its
 * own transaction, or inside the open batch. */
void cf_engine_flush_alarm(cf_engine *e);

/* Claim (status "claimed") or complete ("done", with result: borrowed, may
 * be NULL) task task_id of case case_id as the actor in role: a history
 * event task.claimed / task.completed that leaves the state as it is.
 * Checked under the write lock: CF_EINVALID when it is closed, CF_ECONFLICT
 * when another user holds it; claiming one's own claim again changes
 * nothing. *out (new, may be NULL): the case result {id, state, revision}. */
int cf_machine_task(cf_engine *e, const char *case_id, int64_t task_id, const char *status,
                    const json_t *result, const char *role, json_t **out, cf_error *err);

/* Record that case_id's response deadline passed without a response: a
 * history event and a domain event deadline.missed, as the engine. *out
 * (new, may be NULL): {id, state, revision}. */
int cf_machine_deadline_missed(cf_engine *e, const char *case_id, json_t **out,
                               cf_error *err);

/* Record an administrative event on a case (retention decisions): fn may
 * change the row; erase wipes its personal data first. Audited as `action`. */
typedef int (*cf_case_mutator)(cf_case_row *row, void *ctx, cf_error *err);
int cf_machine_record(cf_engine *e, const char *case_id, const char *event,
                      const json_t *data, const char *action, const char *role, bool erase,
                      cf_case_mutator fn, void *ctx, json_t **out, cf_error *err);

/* Move case_id to another version of its workflow (workflow migrate), as
 * the actor in m->role: every timer of the case replaced by m->timers
 * (array of {event, due_at}, borrowed), its state, version and deadline set,
 * and a workflow.migrated history event carrying m->data (borrowed, may be
 * NULL), audited as "workflow.migrate". Nothing of either version runs. In
 * its own transaction: CF_ECONFLICT (field "revision") when the case is no
 * longer at m->revision. *out (new, may be NULL): {id, state, revision,
 * previous_state}. */
typedef struct cf_migration {
    int64_t revision;
    cf_wf *to;          /* borrowed from the engine's cache */
    const char *state;  /* a state of `to` */
    int64_t deadline_at;
    const json_t *timers;
    const json_t *data;
    const char *role;
} cf_migration;
int cf_machine_migrate(cf_engine *e, const char *case_id, const cf_migration *m, json_t **out,
                       cf_error *err);

/* Reading case data needs a justification unless the store's policy says
 * otherwise. */
int cf_engine_require_reason(cf_engine *e, cf_error *err);

/* kept.c: timers of open cases (of workflow, or all when NULL) in the state
 * that set them whose event the state does not take: in candidate when
 * given, else in the case's own version. *out: a new array of groups
 * {workflow, version, state, event, timers, due, first_due, first_case}. */
int cf_engine_kept_timers(cf_engine *e, const char *workflow, const cf_wf *candidate,
                          json_t **out, cf_error *err);

/* ---- simulation (workflow simulate, machine.c) ---------------------------- */

/*
 * A case replayed in memory through a candidate workflow by the engine's own
 * step code (see the comment in machine.c): nothing of the store is read or
 * written. cf_machine_sim_refer takes in the recorded referral (borrowed) as
 * case `id` at time `at` by actor in role, running wf's initial state;
 * *out is new (cf_machine_sim_free). cf_machine_sim_act delivers one event
 * as cf_machine_act would: roles are the actor's (comma-separated) for the
 * role and four-eyes rules; system: raised by the engine (actor "engine");
 * timer_event: the timer must be set and due by `at` (else CF_ENOTFOUND,
 * field "timer"). Both fail with the live command's error and message; a
 * case whose step failed is left half-done: free it, act no further. budget_ms:
 * the wall-time budget of each step's workflow calls (the store's policy).
 * Nothing of e is used but its address (not its store, not its trace), so
 * simulated cases on different workflow objects (each its own Lua state and
 * plugin instances) may run on different threads at once.
 */
typedef struct cf_sim_case cf_sim_case;
int cf_machine_sim_refer(cf_engine *e, cf_wf *wf, int64_t budget_ms, const char *id,
                         const json_t *referral, int64_t at, const char *actor,
                         const char *role, cf_sim_case **out, cf_error *err);
int cf_machine_sim_act(cf_sim_case *sc, const char *event, const json_t *data, int64_t at,
                       const char *actor, const char *role, const char *roles, bool system,
                       const char *timer_event, cf_error *err);
void cf_machine_sim_free(cf_sim_case *sc);
/* The simulated case now (borrowed, valid until its next step): its state,
 * the states its last step entered ("a>b", "" for none), data, response
 * deadline (0: none), grade ("" for none) and timer i (false past the last). */
const char *cf_machine_sim_state(const cf_sim_case *sc);
const char *cf_machine_sim_route(const cf_sim_case *sc);
const json_t *cf_machine_sim_data(const cf_sim_case *sc);
int64_t cf_machine_sim_deadline(const cf_sim_case *sc);
const char *cf_machine_sim_grade(const cf_sim_case *sc);
bool cf_machine_sim_timer(const cf_sim_case *sc, size_t i, const char **event, int64_t *due);

/* The engine's own name in the chain (checkpoints, alarms, timers,
 * migrations): never a user's. */
#define CF_ENGINE_ACTOR "engine"

/* ---- what the engine's command files share (engine.c) ---------------------- */

/* Begin a command's write transaction (CF_EUSAGE inside a batch), with the
 * actor rechecked in it (cf_engine_recheck). */
int cf_engine_begin(cf_engine *e, cf_error *err);
/* Is the process's account (its login or uid) among the comma-separated
 * bindings os_users? */
bool cf_engine_bound_to_me(const cf_engine *e, const char *os_users);
/* The login name (or the number, when the account has no name) and the
 * number of operating-system account uid, as bindings name them. */
void cf_engine_os_account(unsigned long uid, char login[64], char num[24]);
/* The users bound to the account login/num: *n of them, the first's name in
 * found. */
int cf_engine_bound_users(cf_engine *e, const char *login, const char *num, char found[80],
                          int *n, cf_error *err);
/* cf_store_begin, then cf_engine_recheck; rolled back if the recheck fails. */
int cf_engine_begin_checked(cf_engine *e, cf_error *err);
/* Inside a write transaction: the actor cf_engine_require admitted is still
 * admitted, if anything was committed since (another process disabling
 * them, binding them elsewhere, altering their row or changing their roles:
 * CF_EDENIED, CF_EINVALID, CF_ECONFLICT). 0 for the engine acting alone. */
int cf_engine_recheck(cf_engine *e, cf_error *err);
/* Forget every actor check (cf_engine_require): the next command by anyone
 * checks its user's row against the chain again. For a change to users. */
void cf_engine_forget_users(cf_engine *e);
/* Roll back on rc, else commit. Returns rc or the commit's error. */
int cf_engine_finish(cf_engine *e, int rc, cf_error *err);
/* Append an audit record by the actor with its reason; text (stolen, may
 * be NULL: CF_ENOMEM) is the payload. *seq (may be NULL) receives its seq. */
int cf_engine_audit_text(cf_engine *e, const char *role, const char *action,
                         const char *case_id, char *text, int64_t *seq, cf_error *err);
/* The same with the payload's canonical JSON (borrowed). */
int cf_engine_audit(cf_engine *e, const char *role, const char *action, const char *case_id,
                    const json_t *payload, cf_error *err);
/* The CF_EUSAGE of a clock set on a store without a test clock. */
int cf_engine_clock_refused(cf_error *err);
/* Check the store's identity and schema against the chain (at open, and
 * after a verify): sets e->broken, or the schema every transaction expects. */
void cf_engine_check_store(cf_engine *e);

/* ---- trail.c ------------------------------------------------------------- */

/* Load the signing key if it is the store's (once; CF_ENOTFOUND,
 * CF_EDENIED otherwise, e->sk_err). */
int cf_engine_ensure_key(cf_engine *e, cf_error *err);
/* Sign the chain's head as actor/role, inside a transaction; the signed
 * head is anchored after the commit (the anchor policy, and anchor_file).
 * *out (new, may be NULL): the checkpoint. */
int cf_engine_sign_head(cf_engine *e, int64_t at, const char *actor, const char *role,
                        const char *anchor_file, json_t **out, cf_error *err);
/* Walk the records since the last checkpoint with every rule of the chain
 * and check the tables they own (the cases too if cases_too) before
 * anything signs them. Inside a transaction. 0, or CF_EINVALID naming the
 * first fault. */
int cf_engine_walk_tail(cf_engine *e, bool cases_too, cf_error *err);
/* Hang the engine's checkpoint and anchor hooks on its store. */
void cf_engine_trail_hooks(cf_engine *e);
/* Tell the caller's progress callback (if any) that `done` of `total`
 * items (-1: not known) of `what` are done. Calls for done 0 and
 * done == total always reach it; the others every CF_PROGRESS_STEP items
 * (see cf_engine_set_progress). */
#define CF_PROGRESS_STEP 64
void cf_engine_progress(cf_engine *e, const char *what, int64_t done, int64_t total);

#endif
