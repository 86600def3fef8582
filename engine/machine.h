/*
 * The state machine: the engine handle, loaded workflow versions with their
 * plugin instances, and the transaction "unit" that runs one command's
 * transitions in memory and then writes all of their effects at once.
 */
#ifndef CF_MACHINE_H
#define CF_MACHINE_H

#include "audit.h"
#include "store.h"

struct cf_engine {
    cf_store *store;
    cf_loader *loader;
    char *key_path;    /* audit signing key (secret) */
    unsigned char sk[64];
    int sk_state;      /* 0: not tried, 1: loaded, -1: unavailable */
    char *store_id;    /* from meta, NULL before init */
    char *public_key;  /* hex, from meta */
    char *actor;
    char *reason;
    char *roles;       /* the actor's roles, comma-separated, for this command */
    int64_t clock;     /* < 0: system clock */
    cf_wf **wfs;       /* loaded workflow versions, plugins bound */
    size_t nwfs, capwfs;
    bool batch;
};

/* The actor must exist and be enabled; when `any` is given the actor must
 * hold one of those roles, and *role names the one used. */
int cf_engine_require(cf_engine *e, const char *const *any, size_t nany,
                      const char *what, const char **role, cf_error *err);

/* Audit a read of case data (case_id may be NULL for lists and reports) as a
 * consultation with the actor's reason, in its own transaction. */
int cf_engine_consult(cf_engine *e, const char *case_id, const char *what,
                      cf_error *err);

/* A loaded workflow version (cached; plugins bound). Borrowed. */
int cf_engine_workflow(cf_engine *e, const char *name, int64_t version, cf_wf **out,
                       cf_error *err);
/* Bind a freshly loaded workflow's states to their plugins (init each). */
int cf_engine_bind(cf_engine *e, cf_wf *wf, cf_error *err);
/* The same with an explicit loader (workflow check without a store). */
int cf_wf_bind_plugins(cf_loader *loader, cf_wf *wf, cf_error *err);
/* Undo cf_engine_bind (fini each instance) and free the workflow. */
void cf_engine_unbind_free(cf_wf *wf);

/* Intake one referral on workflow wf: idempotent on (source, reference).
 * Must run inside a store transaction (or savepoint). */
int cf_machine_refer(cf_engine *e, cf_wf *wf, const json_t *referral,
                     const char *role, json_t **out, cf_error *err);
/* Deliver an event to a case. system: raised by the engine (timers), with no
 * role checks. Opens and commits its own transaction. */
int cf_machine_act(cf_engine *e, const char *case_id, const char *event,
                   const json_t *data, int64_t expect_revision, bool system,
                   const char *timer_event, json_t **out, cf_error *err);

/* Record an administrative event on a case (retention decisions): fn may
 * change the row; erase wipes its personal data first. Audited as `action`. */
typedef int (*cf_case_mutator)(cf_case_row *row, void *ctx, cf_error *err);
int cf_machine_record(cf_engine *e, const char *case_id, const char *event,
                      const json_t *data, const char *action, const char *role, bool erase,
                      cf_case_mutator fn, void *ctx, json_t **out, cf_error *err);

/* Reading case data needs a justification unless the store's policy says
 * otherwise. */
int cf_engine_require_reason(cf_engine *e, cf_error *err);

#endif
