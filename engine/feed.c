/*
 * The change feed and the service's counts. Domain events are the rows of
 * `notifications` that each change appends in its own transaction
 * (machine.c): their seq is the feed's cursor, in commit order because a
 * store has one writer at a time. A page of the feed is a read of case data
 * (the actor's reason, one audit record naming the cases it returned).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"

#define FEED_PAGE 100
#define FEED_MAX 1000

char *cf_feed_event_text(cf_engine *e, int64_t seq, const char *case_id, const char *type,
                         const char *data, int64_t at)
{
    json_t *ev = cf_feed_event(e, seq, case_id, type, data, at);
    char *text = ev ? json_dumps(ev, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(ev);
    return text;
}

json_t *cf_feed_event(cf_engine *e, int64_t seq, const char *case_id, const char *type,
                      const char *data, int64_t at)
{
    char id[96], source[96], when[32];
    snprintf(id, sizeof id, "%s-%lld", e->store_id ? e->store_id : "store", (long long)seq);
    snprintf(source, sizeof source, "urn:caseflow:%s", e->store_id ? e->store_id : "store");
    cf_time_format(at, when);
    json_t *d = data ? json_loads(data, JSON_DECODE_ANY, NULL) : NULL;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s, s:o, s:I}", "specversion", "1.0",
                     "id", id, "source", source, "type", type, "time", when, "subject",
                     case_id, "datacontenttype", "application/json", "data",
                     d ? d : json_null(), "seq", (json_int_t)seq);
}

int cf_feed_head(cf_engine *e, int64_t *seq, cf_error *err)
{
    cf_err_clear(err);
    *seq = 0;
    cf_stmt *st = cf_store_stmt(e->store, "SELECT coalesce(max(seq), 0) FROM notifications",
                                     err);
    if (!st)
        return err ? err->code : CF_EIO;
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW)
        *seq = cf_stmt_int64(st, 0);
    cf_stmt_reset(st);
    return rc == CF_DB_ROW ? 0 : cf_store_error(e->store, rc, "read the feed head", err);
}

/* The case ids of events (each once), for the audit record of the read. */
static json_t *cases_of(const json_t *events, const char *member)
{
    json_t *ids = json_array(), *seen = json_object();
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        const char *id = json_string_value(json_object_get(ev, member));
        if (id && !json_object_get(seen, id)) {
            json_object_set_new(seen, id, json_true());
            json_array_append_new(ids, json_string(id));
        }
    }
    json_decref(seen);
    return ids;
}

int cf_engine_consult_many(cf_engine *e, const char *what, const json_t *items,
                           const char *member, cf_error *err)
{
    if (e->deferred) {
        json_t *p = json_pack("{s:s, s:o}", "read", what, "cases", cases_of(items, member));
        int rc = cf_engine_defer_consultation(e, NULL, p, err);
        json_decref(p);
        return rc;
    }
    int rc = cf_engine_begin_checked(e, err);
    if (rc)
        return rc;
    json_t *p = json_pack("{s:s, s:o}", "read", what, "cases", cases_of(items, member));
    rc = p ? cf_engine_audit(e, NULL, "consultation", NULL, p, err)
           : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    json_decref(p);
    return cf_engine_finish(e, rc, err);
}

int cf_feed_read(cf_engine *e, int64_t after, size_t limit, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    if (after < 0)
        return cf_err_set(err, CF_EINVALID, "after", "after must be a seq of 0 or more");
    if (limit > FEED_MAX)
        return cf_err_set(err, CF_EINVALID, "limit", "limit must be 1-%d", FEED_MAX);
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc || (rc = cf_engine_require_reason(e, err)))
        return rc;
    cf_stmt *st = cf_store_stmt(
        e->store,
        "SELECT seq, case_id, channel, payload, created_at FROM notifications"
        " WHERE seq > ? ORDER BY seq LIMIT ?",
        err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, after);
    cf_stmt_bind_int64(st, 2, (int64_t)(limit ? limit : FEED_PAGE));
    json_t *events = json_array();
    int64_t next = after;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW) {
        next = cf_stmt_int64(st, 0);
        json_t *ev = cf_feed_event(e, next, cf_stmt_text(st, 1),
                                   cf_stmt_text(st, 2),
                                   cf_stmt_text(st, 3),
                                   cf_stmt_int64(st, 4));
        if (!ev || json_array_append_new(events, ev)) {
            rc = CF_DB_NOMEM;
            break;
        }
    }
    cf_stmt_reset(st);
    if (rc != CF_DB_DONE) {
        json_decref(events);
        return cf_store_error(e->store, rc, "read the feed", err);
    }
    if (json_array_size(events) &&
        (rc = cf_engine_consult_many(e, "feed", events, "subject", err))) {
        json_decref(events);
        return rc;
    }
    *out = json_pack("{s:o, s:I}", "events", events, "next", (json_int_t)next);
    return *out ? 0 : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
}

static int count_into(cf_store *s, const char *sql, json_t *obj, const char *key,
                      cf_error *err)
{
    cf_stmt *st = cf_store_stmt(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW)
        json_object_set_new(obj, key, json_integer(cf_stmt_int64(st, 0)));
    cf_stmt_reset(st);
    return rc == CF_DB_ROW ? 0 : cf_store_error(s, rc, "count", err);
}

int cf_stats(cf_engine *e, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    cf_store *s = e->store;
    /* SQLite's GROUP BY hands the states out in order (so the object's
     * keys are); PostgreSQL may hash them: it is told (issue 12). */
    cf_stmt *st = cf_store_stmt_for(
        s, "SELECT state, count(*) FROM cases WHERE disposed_at IS NULL GROUP BY state",
        "SELECT state, count(*) FROM cases WHERE disposed_at IS NULL GROUP BY state"
        " ORDER BY state",
        err);
    if (!st)
        return err ? err->code : CF_EIO;
    json_t *by = json_object(), *r = json_object(), *wh = json_object();
    int rc;
    while ((rc = cf_stmt_step(st)) == CF_DB_ROW)
        json_object_set_new(by, cf_stmt_text(st, 0),
                            json_integer(cf_stmt_int64(st, 1)));
    cf_stmt_reset(st);
    json_object_set_new(r, "cases", by);
    json_object_set_new(r, "webhooks", wh);
    rc = rc == CF_DB_DONE ? 0 : cf_store_error(s, rc, "count cases", err);
    if (!rc)
        rc = count_into(s, "SELECT count(*) FROM tasks WHERE status <> 'done'", r, "open_tasks",
                        err);
    if (!rc)
        rc = count_into(s, "SELECT coalesce(max(seq), 0) FROM notifications", r, "feed_head",
                        err);
    if (!rc)
        rc = count_into(s, "SELECT coalesce(max(seq), 0) FROM audit", r, "audit_records", err);
    if (!rc)
        rc = count_into(s, "SELECT count(DISTINCT name) FROM workflows", r, "workflows", err);
    if (!rc)
        rc = count_into(s, "SELECT count(*) FROM deliveries WHERE state <> 'dead'", wh,
                        "pending", err);
    if (!rc)
        rc = count_into(s, "SELECT count(*) FROM deliveries WHERE state = 'dead'", wh, "dead",
                        err);
    if (rc) {
        json_decref(r);
        return rc;
    }
    *out = r;
    return 0;
}
