/*
 * Cases: referrals taken in (one at a time or in a batch), events acted on
 * them, timers fired by tick, and the reads of case data, each audited as a
 * consultation with the actor's reason.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"

static const char *const intake[] = {"analyst", "officer"};

/* ---- referrals ----------------------------------------------------------------------- */

int cf_batch_begin(cf_engine *e, cf_error *err)
{
    cf_err_clear(err);
    if (e->batch)
        return cf_err_set(err, CF_EUSAGE, "batch", "a batch is already open");
    int rc = cf_engine_begin_checked(e, err);
    if (!rc) {
        e->batch = true;
        cf_store_set_group(e->store, true);
    }
    return rc;
}

int cf_batch_commit(cf_engine *e, cf_error *err)
{
    cf_err_clear(err);
    if (!e->batch)
        return cf_err_set(err, CF_EUSAGE, "batch", "no batch is open");
    e->batch = false;
    cf_store_set_group(e->store, false);
    int depth = cf_store_depth(e->store);
    if (depth != 1) {
        cf_store_rollback(e->store);
        if (depth == 0) /* SQLite rolled the transaction back (a full disk) */
            return cf_err_set(err, CF_EIO, "store",
                              "the store rolled the batch back; nothing of it was saved");
        /* a command left a savepoint open */
        return cf_err_set(err, CF_EINTERNAL, "batch", "a command of the batch did not finish");
    }
    return cf_store_commit(e->store, err);
}

void cf_batch_rollback(cf_engine *e)
{
    if (!e || !e->batch)
        return;
    e->batch = false;
    cf_store_set_group(e->store, false);
    cf_store_rollback(e->store);
}

int cf_refer(cf_engine *e, const char *workflow, const json_t *referral, json_t **out,
             cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    const char *role;
    int rc = cf_engine_require(e, intake, 2, "take in referrals", &role, err);
    if (rc)
        return rc;
    const char *name = workflow ? workflow : "polit";
    int64_t version;
    cf_wf *wf;
    if ((rc = cf_engine_workflow_active(e, name, &version, err)) ||
        (rc = cf_engine_workflow_lazy(e, name, version, &wf, err))) {
        cf_engine_flush_alarm(e);
        return rc;
    }
    /* Inside a batch this is a savepoint (cf_store_set_group). */
    if ((rc = cf_engine_begin_checked(e, err)))
        return rc;
    rc = cf_machine_refer(e, wf, referral, role, out, err);
    rc = cf_engine_finish(e, rc, err);
    if (rc)
        cf_engine_flush_alarm(e);
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- acting ------------------------------------------------------------------------- */

static bool valid_event(const char *ev)
{
    size_t n = 0;
    for (; ev[n]; n++) {
        char c = ev[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return false;
    }
    return n > 0 && n <= 64;
}

int cf_act(cf_engine *e, const char *case_id, const char *event, const json_t *data,
           int64_t expect_revision, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    if (out)
        *out = NULL;
    if (!event || !valid_event(event))
        return cf_err_set(err, CF_EINVALID, "event",
                          "event names are 1-64 characters of a-z 0-9 _ .");
    if (data && !json_is_object(data))
        return cf_err_set(err, CF_EINVALID, "data", "%s rejected: data must be a JSON object",
                          event);
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc)
        return rc;
    /* A viewer reads and never acts, whatever a transition's roles say. */
    static const char *const actors[] = {"analyst", "officer", "supervisor", "authoriser",
                                         "administrator"};
    if ((rc = cf_engine_require(e, actors, 5, "act on cases", NULL, err)))
        return rc;
    return cf_machine_act(e, case_id, event, data, expect_revision, false, NULL, out, err);
}

/* What tick does with a due timer. */
enum timer_fate { TIMER_FIRE, TIMER_DROP, TIMER_KEEP };

/* A timer is stale, and dropped, when its case is gone or has left the
 * state that set it (in a way that did not clear it). A timer of the state
 * the case is in that the state cannot take (no transition, a final state:
 * a misspelt timer event) is kept, never dropped: tick reports it each
 * time, `workflow check --live` and `report` count it, and a fixed version
 * (or a migration) can take it. why: the reason, for a kept one. */
static int timer_fate(cf_engine *e, const char *id, const char *ev, const char *set_in,
                      enum timer_fate *fate, char *why, size_t whylen, cf_error *err)
{
    char *state = NULL, *wfname = NULL;
    int64_t version = 0;
    cf_error lerr;
    *fate = TIMER_FIRE;
    int rc = cf_store_case_state(e->store, id, &state, &wfname, &version, &lerr);
    if (rc == CF_ENOTFOUND) {
        *fate = TIMER_DROP;
        return 0;
    }
    cf_wf *wf;
    if (!rc)
        rc = cf_engine_workflow_lazy(e, wfname, version, &wf, &lerr);
    if (!rc) {
        cf_wf_state *st = cf_wf_find_state(wf, state);
        bool takes = st && !st->final && cf_wf_find_transition(st, ev);
        if (!takes && set_in && *set_in && strcmp(set_in, state) != 0)
            *fate = TIMER_DROP;
        else if (!takes) {
            *fate = TIMER_KEEP;
            snprintf(why, whylen, "kept: workflow %s v%lld: state %s has no transition for %s",
                     wf->name, (long long)version, state, ev);
        }
    } else {
        cf_err_set(err, rc, lerr.field, "tick: %s %s: %s", id, ev, lerr.message);
    }
    free(state);
    free(wfname);
    return rc;
}

/* Timers (or deadlines) handled per store transaction when the caller has
 * no batch of its own open (also the LIMIT of deadlines_missed's query). */
#define TICK_PAGE 256

/* Open one page of tick's work as one store transaction: a batch
 * (cf_batch_begin), so each timer, drop and deadline in it runs under a
 * savepoint of its own; one that fails leaves no trace and costs the others
 * nothing. Inside the caller's batch (caseflowd's writer) it is already one.
 * *own: this page opened the batch. err is set only on failure (it may hold
 * an earlier timer's refusal). */
static int tick_page_begin(cf_engine *e, bool *own, cf_error *err)
{
    *own = !e->batch;
    if (!*own)
        return 0;
    cf_error berr;
    int rc = cf_batch_begin(e, &berr);
    if (rc && err)
        *err = berr;
    return rc;
}

/* Close the page: what succeeded in it is committed (whole timers only: each
 * ran under its own savepoint), even after a hard error rc, as it was when
 * each timer had a transaction of its own. Returns rc, else the commit's
 * error (then nothing of the page was saved). */
static int tick_page_end(cf_engine *e, bool own, int rc, cf_error *err)
{
    if (!own)
        return rc;
    cf_error berr;
    int crc = cf_batch_commit(e, &berr);
    if (crc && !rc) {
        if (err)
            *err = berr;
        rc = crc;
    }
    return rc;
}

/* One page of deadlines_missed's query (st) after the case (*at, *after):
 * *ids (new) the case ids; *at and *after move to the last one. */
static int missed_page(cf_engine *e, cf_stmt *st, const char *resp, int64_t *at,
                       json_t **after, json_t **ids, cf_error *err)
{
    cf_stmt_bind_int64(st, 1, cf_engine_now(e));
    cf_stmt_bind_text(st, 2, resp);
    cf_stmt_bind_int64(st, 3, *at);
    cf_stmt_bind_text_copy(st, 4, json_string_value(*after));
    json_t *a = json_array();
    int prc = CF_DB_DONE;
    while (a && (prc = cf_stmt_step(st)) == CF_DB_ROW) {
        if (json_array_append_new(a, json_string(cf_stmt_text(st, 0)))) {
            json_decref(a);
            a = NULL;
            break;
        }
        *at = cf_stmt_int64(st, 1);
    }
    cf_stmt_reset(st);
    if (!a)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    if (prc != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(e->store, prc, "find missed deadlines", err);
    }
    size_t n = json_array_size(a);
    if (n) {
        json_decref(*after);
        *after = json_incref(json_array_get(a, n - 1));
    }
    *ids = a;
    return 0;
}

/* Raise deadline.missed, once per deadline, on every case whose response
 * deadline passed with no response since it was set (query.c's overdue).
 * Cases come in (deadline, id) order, each page after the last case of the
 * one before, so none is looked at twice; every test reads the covering
 * indexes cases_deadline (with the version whose response states apply),
 * notifications_channel and events_case_at, never a case row. A page with
 * cases in it is read again under the write lock, in one store transaction
 * (tick_page_begin) with each case a savepoint in it: two ticks at once
 * never raise one deadline twice; a tick with nothing to raise takes no
 * lock. Most past deadlines were met: the response is looked for first. */
static int deadlines_missed(cf_engine *e, json_t *fired, cf_error *err)
{
    char *resp = NULL;
    int rc = cf_engine_response_states(e, &resp, NULL, err);
    if (rc)
        return rc;
    cf_stmt *st;
    /* PostgreSQL: the version's response states are the array under the key
     * "name@version" itself (a missing key gives no rows, as in SQLite). */
    int prc = cf_store_prepare(
        e->store,
        cf_store_is_pg(e->store)
            ? "SELECT c.id, c.deadline_at FROM cases c WHERE c.deadline_at <= ?1"
              " AND (c.deadline_at, c.id) > (?3, ?4) AND c.disposed_at IS NULL"
              " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.case_id = c.id"
              "  AND e.at >= (SELECT coalesce(max(n.created_at), 0) FROM notifications n"
              "   WHERE n.channel = 'case.deadline_set' AND n.case_id = c.id)"
              "  AND e.to_state IN (SELECT jsonb_array_elements_text(CAST(?2 AS jsonb) -> "
              CF_VERSION_KEY_PG("c") ")))"
              " AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.channel = 'deadline.missed'"
              "  AND n.case_id = c.id AND n.created_at >= c.deadline_at)"
              " ORDER BY c.deadline_at, c.id LIMIT 256" /* TICK_PAGE */
            : "SELECT c.id, c.deadline_at FROM cases c WHERE c.deadline_at <= ?1"
              " AND (c.deadline_at, c.id) > (?3, ?4) AND c.disposed_at IS NULL"
              " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.case_id = c.id"
              "  AND e.at >= (SELECT coalesce(max(n.created_at), 0) FROM notifications n"
              "   WHERE n.channel = 'case.deadline_set' AND n.case_id = c.id)"
              "  AND e.to_state IN (SELECT value FROM json_each(?2, " CF_VERSION_KEY("c") ")))"
              " AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.channel = 'deadline.missed'"
              "  AND n.case_id = c.id AND n.created_at >= c.deadline_at)"
              " ORDER BY c.deadline_at, c.id LIMIT 256", /* TICK_PAGE */
        &st);
    if (prc != CF_DB_OK) {
        free(resp);
        return cf_store_error(e->store, prc, "find missed deadlines", err);
    }
    int64_t last_at = INT64_MIN; /* the last case seen: (deadline, id) */
    json_t *last_id = json_string("");
    if (!last_id)
        rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    while (!rc) {
        json_t *ids = NULL;
        bool own = false;
        int64_t at0 = last_at;
        json_t *after0 = json_incref(last_id);
        rc = missed_page(e, st, resp, &last_at, &last_id, &ids, err);
        if (!rc && json_array_size(ids) && !(rc = tick_page_begin(e, &own, err)) && own) {
            /* Under the lock now: what another tick raised meanwhile is out. */
            json_decref(ids);
            ids = NULL;
            last_at = at0;
            json_decref(last_id);
            last_id = json_incref(after0);
            rc = missed_page(e, st, resp, &last_at, &last_id, &ids, err);
        }
        json_decref(after0);
        size_t i, n = json_array_size(ids), raised = 0;
        for (i = 0; !rc && i < n; i++) {
            cf_error derr;
            json_t *res = NULL;
            const char *id = json_string_value(json_array_get(ids, i));
            if (cf_machine_deadline_missed(e, id, &res, &derr) == 0) {
                raised++;
                json_array_append_new(fired, json_pack("{s:s, s:s, s:O?}", "id", id, "event",
                                                       "deadline.missed", "state",
                                                       json_object_get(res, "state")));
            }
            json_decref(res);
        }
        if (own)
            rc = tick_page_end(e, own, rc, err);
        json_decref(ids);
        if (n < TICK_PAGE || raised == 0)
            break;
    }
    json_decref(last_id);
    cf_stmt_finalize(st);
    free(resp);
    return rc;
}

/* Fire (or drop, or keep) one due timer t, inside tick's page. Its outcome
 * goes to fired; the first refusal to *failed and err. Returns 0, or a hard
 * error (the case's workflow could not be read) that ends the tick. */
static int tick_timer(cf_engine *e, const json_t *t, json_t *fired, int *failed, cf_error *err)
{
    const char *id = json_string_value(json_object_get(t, "case"));
    const char *ev = json_string_value(json_object_get(t, "event"));
    enum timer_fate fate;
    char why[300] = "";
    int rc = timer_fate(e, id, ev, json_string_value(json_object_get(t, "state")), &fate, why,
                        sizeof why, err);
    if (rc)
        return rc;
    if (fate == TIMER_KEEP) {
        /* Said every time, never fired, never dropped. */
        json_array_append_new(fired, json_pack("{s:s, s:s, s:O, s:b, s:s}", "id", id, "event",
                                               ev, "due_at", json_object_get(t, "due_at"),
                                               "kept", 1, "error", why));
        if (!*failed)
            *failed = cf_err_set(err, CF_EINVALID, "timer", "tick: %s %s: %s", id, ev, why);
        return 0;
    }
    bool stale = fate == TIMER_DROP;
    json_t *res = NULL;
    cf_error terr;
    cf_err_clear(&terr);
    int trc = stale ? cf_machine_drop_timer(e, id, ev, &terr)
                    : cf_machine_act(e, id, ev, NULL, -1, true, ev, &res, &terr);
    if (trc == CF_ENOTFOUND && strcmp(terr.field, "timer") == 0)
        return 0; /* another tick fired it meanwhile */
    if (stale && !trc)
        return 0;
    if (trc) {
        /* Refused by a step, or a concurrent change: the timer stays for the
         * next tick (its savepoint was rolled back), and a refusal is said,
         * never lost. */
        if (trc != CF_ECONFLICT) {
            json_array_append_new(fired, json_pack("{s:s, s:s, s:s}", "id", id, "event", ev,
                                                   "error", terr.message));
            if (!*failed)
                *failed = cf_err_set(err, trc, terr.field, "tick: %s %s: %s", id, ev,
                                     terr.message);
        }
        return 0;
    }
    json_array_append_new(fired, json_pack("{s:s, s:s, s:O?}", "id", id, "event", ev, "state",
                                           json_object_get(res, "state")));
    json_decref(res);
    return 0;
}

/* Timers come a page at a time in the order of the due-time index, each
 * page after the last timer of the one before (so a kept or refused timer
 * is not read again in this tick, and no page costs more than another);
 * each page is one store transaction, each timer a savepoint in it. The
 * timers due when the tick starts are the ones it fires. */
int cf_tick(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    /* No actor and no binding: the engine's own clock (a service, cron). */
    if (rc == CF_EUSAGE && !e->actor && err && strcmp(err->field, "actor") == 0) {
        cf_err_clear(err);
        rc = 0;
    }
    if (rc)
        return rc;
    json_t *fired = json_array();
    if (!fired)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    int failed = 0;
    const int64_t now = cf_engine_now(e);
    cf_timer_cursor at = {INT64_MIN, INT64_MIN};
    for (size_t n = TICK_PAGE; !rc && n == TICK_PAGE;) {
        bool own;
        json_t *due = NULL;
        /* Read before the write lock is taken (and not taken when nothing
         * is due): each timer is read again under it (cf_machine_act). */
        if ((rc = cf_store_timer_due_after(e->store, now, &at, TICK_PAGE, &due, err)))
            break;
        n = json_array_size(due);
        /* A page that another tick holds whole (PostgreSQL) takes no lock:
         * this tick reads on, and claims the next page meanwhile. */
        size_t mine = 0;
        for (size_t i = 0; i < n; i++)
            mine += !json_is_true(json_object_get(json_array_get(due, i), "claimed_elsewhere"));
        if (mine && !(rc = tick_page_begin(e, &own, err))) {
            for (size_t i = 0; !rc && i < n; i++) {
                const json_t *t = json_array_get(due, i);
                /* Another tick (PostgreSQL) holds it: that one fires it. */
                if (!json_is_true(json_object_get(t, "claimed_elsewhere")))
                    rc = tick_timer(e, t, fired, &failed, err);
            }
            rc = tick_page_end(e, own, rc, err);
        }
        cf_store_timer_unclaim(e->store);
        json_decref(due);
    }
    if (!rc)
        rc = deadlines_missed(e, fired, err);
    if (rc) {
        json_decref(fired);
        return rc;
    }
    *out = fired;
    return failed;
}

/* ---- reads ---------------------------------------------------------------------------- */

/* A read of case data: audited as a consultation in its own transaction. */
int cf_engine_consult(cf_engine *e, const char *case_id, const char *what, cf_error *err)
{
    if (e->deferred) {
        json_t *p = json_pack("{s:s, s:s?}", "read", what, "case", case_id);
        int rc = cf_engine_defer_consultation(e, case_id, p, err);
        json_decref(p);
        return rc;
    }
    int rc = cf_engine_begin_checked(e, err);
    if (rc)
        return rc;
    json_t *p = json_pack("{s:s, s:s?}", "read", what, "case", case_id);
    rc = cf_engine_audit(e, NULL, "consultation", case_id, p, err);
    json_decref(p);
    if (rc) {
        cf_store_rollback(e->store);
        return rc;
    }
    return cf_store_commit(e->store, err);
}

static json_t *time_or_null(int64_t t)
{
    char buf[32];
    if (!t)
        return json_null();
    cf_time_format(t, buf);
    return json_string(buf);
}

/* The case, and with_history its history too, read as one consultation. */
static int case_read(cf_engine *e, const char *case_id, bool with_history, json_t **out,
                     cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc || (rc = cf_engine_require_reason(e, err)))
        return rc;
    cf_case_row r;
    if ((rc = cf_store_case_get(e->store, case_id, &r, err)))
        return rc;
    json_t *tasks = NULL, *timers = NULL, *history = NULL;
    if (!(rc = cf_store_task_list(e->store, case_id, &tasks, err)) &&
        !(rc = cf_store_timer_list(e->store, case_id, &timers, err)) &&
        !(with_history && (rc = cf_store_event_list(e->store, case_id, &history, err))))
        rc = cf_engine_consult(e, case_id, with_history ? "dossier" : "case", err);
    if (!rc) {
        *out = json_pack("{s:s, s:{s:s, s:I}, s:s, s:I, s:s, s:s, s:O, s:o, s:o, s:o, "
                         "s:o, s:o}",
                         "id", r.id, "workflow", "name", r.workflow, "version",
                         (json_int_t)r.version, "state", r.state, "revision",
                         (json_int_t)r.revision, "source", r.source, "reference",
                         r.reference, "data", r.data, "created_at",
                         time_or_null(r.created_at), "updated_at",
                         time_or_null(r.updated_at), "deadline_at",
                         time_or_null(r.deadline_at), "tasks", tasks, "timers", timers);
        tasks = timers = NULL;
        if (!*out)
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        else if (history) {
            json_object_set_new(*out, "history", history);
            history = NULL;
        }
    }
    json_decref(tasks);
    json_decref(timers);
    json_decref(history);
    cf_case_row_clear(&r);
    return rc;
}

int cf_case_get(cf_engine *e, const char *case_id, json_t **out, cf_error *err)
{
    return case_read(e, case_id, false, out, err);
}

int cf_case_dossier(cf_engine *e, const char *case_id, json_t **out, cf_error *err)
{
    return case_read(e, case_id, true, out, err);
}

int cf_case_list(cf_engine *e, const char *state, size_t limit, json_t **out,
                 cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc || (rc = cf_engine_require_reason(e, err)) ||
        (rc = cf_store_case_list(e->store, state, limit, out, err)))
        return rc;
    if ((rc = cf_engine_consult(e, NULL, state ? state : "list", err))) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

int cf_case_history(cf_engine *e, const char *case_id, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc || (rc = cf_engine_require_reason(e, err)))
        return rc;
    cf_case_row r;
    if ((rc = cf_store_case_get(e->store, case_id, &r, err)))
        return rc;
    cf_case_row_clear(&r);
    if ((rc = cf_store_event_list(e->store, case_id, out, err)))
        return rc;
    if ((rc = cf_engine_consult(e, case_id, "history", err))) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}
