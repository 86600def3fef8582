/*
 * Lawful retention (MoPI). A closed case carries a review date set from its
 * outcome's retention class; at review an administrator records a decision:
 * keep (with the next review date), or dispose. Disposal erases the case's
 * personal data, history payloads, task details, notifications and keys,
 * but keeps every digest, so the audit chain and the table checks still
 * verify afterwards. A legal hold blocks disposal. Every decision needs a
 * reason and is itself a history record and an audit record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"

static const char *const admin[] = {"administrator"};

static int need_reason(cf_engine *e, const char *what, cf_error *err)
{
    if (e->reason && *e->reason) /* cf_engine_require refused a blank one */
        return 0;
    return cf_err_set(err, CF_EUSAGE, "reason", "%s needs a reason: give --reason TEXT", what);
}

/* The list names cases, their states and outcomes: a read of case data,
 * with a reason, audited like any other. */
int cf_retention_due(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, admin, 1, "review retention", NULL, err);
    if (rc || (rc = need_reason(e, "retention due", err)) ||
        (rc = cf_store_retention_due(e->store, cf_engine_now(e), out, err)))
        return rc;
    if ((rc = cf_engine_consult(e, NULL, "retention due", err))) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* Years of the retention class of the case's outcome, from its workflow. */
static int64_t class_seconds(cf_engine *e, const cf_case_row *row)
{
    cf_wf *wf;
    cf_error ignore;
    if (cf_engine_workflow_lazy(e, row->workflow, row->version, &wf, &ignore))
        return 0;
    json_t *classes = json_object_get(wf->config, "retention");
    const char *outcome = json_string_value(json_object_get(row->data, "outcome"));
    json_t *cls = json_object_get(classes, outcome ? outcome : "default");
    if (!cls)
        cls = json_object_get(classes, "default");
    json_t *y = json_object_get(cls, "review_years");
    return json_is_number(y) ? (int64_t)(json_number_value(y) * 365.25 * 86400) : 0;
}

typedef struct decision {
    cf_engine *e;
    int64_t until;
    const char *hold;
} decision;

static int closed_only(const cf_case_row *row, cf_error *err)
{
    if (!row->review_at)
        return cf_err_set(err, CF_EINVALID, "state",
                          "case %s is %s: retention applies to closed cases", row->id,
                          row->state);
    if (row->disposed_at)
        return cf_err_set(err, CF_EINVALID, "state", "case %s was disposed of already",
                          row->id);
    return 0;
}

static int do_keep(cf_case_row *row, void *ctx, cf_error *err)
{
    decision *d = ctx;
    int rc = closed_only(row, err);
    if (rc)
        return rc;
    int64_t now = cf_engine_now(d->e);
    int64_t next = d->until ? d->until : now + class_seconds(d->e, row);
    if (next <= now)
        return cf_err_set(err, CF_EINVALID, "until", "the next review must be in the future");
    row->review_at = next;
    return 0;
}

static int do_hold(cf_case_row *row, void *ctx, cf_error *err)
{
    decision *d = ctx;
    if (d->hold && row->legal_hold)
        return cf_err_set(err, CF_EINVALID, "hold", "case %s is already under legal hold",
                          row->id);
    if (!d->hold && !row->legal_hold)
        return cf_err_set(err, CF_EINVALID, "hold", "case %s is not under legal hold",
                          row->id);
    if (row->disposed_at)
        return cf_err_set(err, CF_EINVALID, "state", "case %s was disposed of already",
                          row->id);
    char *h = d->hold ? strdup(d->hold) : NULL;
    if (d->hold && !h)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    free(row->legal_hold);
    row->legal_hold = h;
    return 0;
}

static int do_dispose(cf_case_row *row, void *ctx, cf_error *err)
{
    decision *d = ctx;
    int rc = closed_only(row, err);
    if (rc)
        return rc;
    if (row->legal_hold)
        return cf_err_set(err, CF_EDENIED, "hold",
                          "case %s is under legal hold (%s): it cannot be disposed of",
                          row->id, row->legal_hold);
    int64_t now = cf_engine_now(d->e);
    if (row->review_at > now) {
        char when[32];
        cf_time_format(row->review_at, when);
        return cf_err_set(err, CF_EINVALID, "review_at",
                          "case %s is not due for review until %s", row->id, when);
    }
    /* What remains: that a case existed, how it ended, and when it went. */
    json_t *kept = json_pack("{s:b, s:O?}", "disposed", 1, "outcome",
                             json_object_get(row->data, "outcome"));
    if (!kept)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    json_decref(row->data);
    row->data = kept;
    row->disposed_at = now;
    row->deadline_at = 0;
    return 0;
}

static int decide(cf_engine *e, const char *id, const char *event, const char *action,
                  bool erase, cf_case_mutator fn, decision *d, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    if (out)
        *out = NULL;
    const char *role;
    int rc = cf_engine_require(e, admin, 1, "take retention decisions", &role, err);
    if (rc || (rc = need_reason(e, event, err)))
        return rc;
    json_t *data = json_pack("{s:s}", "reason", e->reason);
    if (d->until) {
        char t[32];
        cf_time_format(d->until, t);
        json_object_set_new(data, "until", json_string(t));
    }
    rc = cf_machine_record(e, id, event, data, action, role, erase, fn, d, out, err);
    json_decref(data);
    return rc;
}

int cf_retention_keep(cf_engine *e, const char *id, int64_t until, json_t **out,
                      cf_error *err)
{
    decision d = {.e = e, .until = until};
    return decide(e, id, "retention.kept", "retention", false, do_keep, &d, out, err);
}

int cf_retention_hold(cf_engine *e, const char *id, int hold, json_t **out, cf_error *err)
{
    decision d = {.e = e, .hold = hold ? e->reason : NULL};
    return decide(e, id, hold ? "retention.hold" : "retention.released", "retention", false,
                  do_hold, &d, out, err);
}

int cf_retention_dispose(cf_engine *e, const char *id, json_t **out, cf_error *err)
{
    decision d = {.e = e};
    return decide(e, id, "retention.disposed", "erasure", true, do_dispose, &d, out, err);
}

/* Every case due, one by one, each in a transaction of its own: the list
 * is cf_retention_due's (an audited read), a held case is passed over. */
int cf_retention_dispose_due(cf_engine *e, json_t **out, cf_error *err)
{
    json_t *due = NULL;
    *out = NULL;
    int rc = cf_retention_due(e, &due, err);
    if (rc)
        return rc;
    json_t *cases = json_array();
    int64_t total = (int64_t)json_array_size(due), done = 0, disposed = 0, held = 0, failed = 0;
    int first = 0;
    size_t i;
    json_t *r;
    cf_engine_progress(e, "retention dispose", 0, total);
    json_array_foreach(due, i, r)
    {
        const char *id = json_string_value(json_object_get(r, "id"));
        json_t *one = json_pack("{s:s?}", "id", id);
        if (json_is_string(json_object_get(r, "legal_hold"))) {
            json_object_set_new(one, "status", json_string("held"));
            held++;
        } else {
            json_t *got = NULL;
            cf_error cerr;
            cf_err_clear(&cerr);
            int drc = cf_retention_dispose(e, id, &got, &cerr);
            if (drc) {
                json_object_set_new(one, "status", json_string("failed"));
                json_object_set_new(one, "why", json_string(cerr.message));
                failed++;
                if (!first) {
                    first = drc;
                    if (err)
                        *err = cerr;
                }
            } else {
                json_object_set_new(one, "status", json_string("disposed"));
                json_object_set(one, "state", json_object_get(got, "state"));
                disposed++;
            }
            json_decref(got);
        }
        json_array_append_new(cases, one);
        cf_engine_progress(e, "retention dispose", ++done, total);
    }
    json_decref(due);
    *out = json_pack("{s:I, s:I, s:I, s:o}", "disposed", (json_int_t)disposed, "held",
                     (json_int_t)held, "failed", (json_int_t)failed, "cases", cases);
    if (!*out)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    return first;
}
