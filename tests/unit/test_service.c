/*
 * The engine support for caseflowd, through the public API on a real store
 * with the test workflow (tests/data/engine/flow.lua) and the "good" test
 * plugin: batches of mixed commands under savepoints, domain events and the
 * feed, case queries with paging, tasks, idempotent acts, missed deadlines,
 * and audit verify over all of it (and against an edited key row).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "caseflow/caseflow.h"
#include "machine.h"

#define T0 1793000000
#define DAY 86400

static char dir[64], path[128], flow[512];
static cf_engine *e;

static void as(const char *actor)
{
    assert_int_equal(cf_engine_set_actor(e, actor, "unit test"), 0);
}

static int setup(void **state)
{
    (void)state;
    cf_error err;
    const char *src = getenv("CASEFLOW_SRCDIR");
    snprintf(dir, sizeof dir, "/tmp/cf-service-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/s.db", dir);
    snprintf(flow, sizeof flow, "%s/tests/data/engine/flow.lua", src ? src : ".");
    cf_open_options o = {.create = 1};
    if (cf_engine_open(path, &o, &e, &err))
        return -1;
    cf_engine_set_clock(e, T0);
    cf_engine_set_actor(e, "admin", NULL);
    static const char *const officer[] = {"officer", NULL};
    static const char *const analyst[] = {"analyst", NULL};
    static const char *const sup[] = {"supervisor", NULL};
    json_t *out;
    if (cf_store_init_with(e, &(cf_init_options){.test_clock = 1}, &err) ||
        cf_user_add(e, "officer1", officer, &err) || cf_user_add(e, "officer2", officer, &err) ||
        cf_user_add(e, "analyst1", analyst, &err) || cf_user_add(e, "sup1", sup, &err) ||
        cf_workflow_deploy(e, flow, &out, &err)) {
        fprintf(stderr, "setup: %s\n", err.message);
        return -1;
    }
    json_decref(out);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cf_engine_close(e);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *refer(const char *ref)
{
    cf_error err;
    json_t *r = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "source", "TEST", "reference", ref,
                          "received_at", "2026-11-02T09:15:00Z", "ip_events", "ip",
                          "192.0.2.1", "at", "2026-10-30T21:14:05+01:00"),
           *out;
    as("analyst1");
    int rc = cf_refer(e, "flow", r, &out, &err);
    json_decref(r);
    if (rc)
        fail_msg("refer: %s", err.message);
    char *id = strdup(json_string_value(json_object_get(out, "id")));
    json_decref(out);
    return id;
}

/* The types of the feed's events after seq `after`, joined by spaces. */
static void feed_types(int64_t after, char *buf, size_t n)
{
    cf_error err;
    json_t *out;
    as("sup1");
    if (cf_feed_read(e, after, 0, &out, &err))
        fail_msg("feed: %s", err.message);
    buf[0] = '\0';
    size_t i, used = 0;
    json_t *ev;
    json_array_foreach(json_object_get(out, "events"), i, ev)
    {
        assert_string_equal(json_string_value(json_object_get(ev, "specversion")), "1.0");
        used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? " " : "",
                                 json_string_value(json_object_get(ev, "type")));
    }
    json_decref(out);
}

static void verify_ok(void)
{
    cf_error err;
    json_t *out;
    if (cf_audit_verify(e, &out, &err))
        fail_msg("verify: %s", err.message);
    json_decref(out);
}

/* A batch holds any command; a refused one leaves no trace, the others
 * commit together. */
static void test_batch_mixed(void **state)
{
    (void)state;
    cf_error err;
    char *id = refer("B-1");
    json_t *out;
    as("officer1");
    assert_int_equal(cf_batch_begin(e, &err), 0);
    assert_int_equal(cf_act(e, id, "submit", NULL, -1, &out, &err), 0);
    json_decref(out);
    assert_int_equal(cf_act(e, id, "nonsense", NULL, -1, &out, &err), CF_EINVALID);
    as("analyst1");
    json_t *r = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "source", "TEST", "reference",
                          "B-2", "received_at", "2026-11-02T09:15:00Z", "ip_events", "ip",
                          "198.51.100.7", "at", "2026-10-30T21:14:05Z");
    assert_int_equal(cf_refer(e, "flow", r, &out, &err), 0);
    json_decref(out);
    json_decref(r);
    assert_int_equal(cf_batch_commit(e, &err), 0);
    as("sup1");
    assert_int_equal(cf_case_get(e, id, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "revision")), 2);
    json_decref(out);
    verify_ok();
    /* Rolled back: nothing of it stays. */
    as("officer1");
    assert_int_equal(cf_batch_begin(e, &err), 0);
    assert_int_equal(cf_act(e, id, "submit", NULL, -1, &out, &err), 0);
    json_decref(out);
    cf_batch_rollback(e);
    as("sup1");
    assert_int_equal(cf_case_get(e, id, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "revision")), 2);
    json_decref(out);
    verify_ok();
    free(id);
}

static void test_feed_events(void **state)
{
    (void)state;
    cf_error err;
    int64_t head0, head1;
    assert_int_equal(cf_feed_head(e, &head0, &err), 0);
    char *id = refer("F-1");
    char types[512];
    feed_types(head0, types, sizeof types);
    /* start emits next: created, then the move to waiting sets a deadline. */
    assert_non_null(strstr(types, "case.created"));
    assert_non_null(strstr(types, "case.state_changed"));
    assert_non_null(strstr(types, "case.deadline_set"));
    assert_int_equal(cf_feed_head(e, &head1, &err), 0);
    json_t *d = json_pack("{s:{s:s}, s:{s:s, s:s}}", "set", "grade", "high", "task", "role",
                          "supervisor", "kind", "mash"),
           *out;
    as("officer1");
    assert_int_equal(cf_act(e, id, "submit", d, -1, &out, &err), 0);
    json_decref(out);
    json_decref(d);
    feed_types(head1, types, sizeof types);
    assert_string_equal(types, "task.opened case.graded");
    /* Events carry the case as subject, in commit order, with a cursor. */
    as("sup1");
    assert_int_equal(cf_feed_read(e, head0, 2, &out, &err), 0);
    json_t *evs = json_object_get(out, "events");
    assert_int_equal(json_array_size(evs), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(evs, 0), "subject")),
                        id);
    assert_int_equal(json_integer_value(json_object_get(out, "next")),
                     json_integer_value(json_object_get(json_array_get(evs, 1), "seq")));
    json_decref(out);
    /* A read of case data: a reason is needed. */
    cf_engine_set_actor(e, "sup1", NULL);
    assert_int_equal(cf_feed_read(e, 0, 0, &out, &err), CF_EUSAGE);
    assert_int_equal(cf_feed_read(e, -1, 0, &out, &err), CF_EINVALID);
    verify_ok();
    free(id);
}

static void test_query_paging(void **state)
{
    (void)state;
    cf_error err;
    char *ids[7];
    for (int i = 0; i < 7; i++) {
        char ref[16];
        snprintf(ref, sizeof ref, "Q-%d", i);
        ids[i] = refer(ref);
    }
    json_t *g = json_pack("{s:{s:s}}", "set", "grade", "high"), *res;
    as("officer1");
    assert_int_equal(cf_act(e, ids[0], "submit", g, -1, &res, &err), 0);
    json_decref(res);
    json_decref(g);
    /* Pages of 3 while new cases arrive: each case once, in intake order. */
    cf_case_query q = {.state = "waiting", .limit = 3};
    json_t *seen = json_object();
    char cursor[32] = "";
    int pages = 0;
    for (;;) {
        json_t *out;
        as("sup1");
        q.after = cursor[0] ? cursor : NULL;
        assert_int_equal(cf_case_query_run(e, &q, &out, &err), 0);
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(out, "items"), i, it)
        {
            const char *id = json_string_value(json_object_get(it, "id"));
            assert_null(json_object_get(seen, id));
            json_object_set_new(seen, id, json_true());
            assert_true(json_is_boolean(json_object_get(it, "overdue")));
        }
        const char *next = json_string_value(json_object_get(out, "next"));
        if (pages++ == 0) {
            free(refer("Q-late"));
        }
        if (!next) {
            json_decref(out);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", next);
        json_decref(out);
    }
    for (int i = 0; i < 7; i++) {
        assert_non_null(json_object_get(seen, ids[i]));
        free(ids[i]);
    }
    json_decref(seen);
    /* Filters: grade, overdue (the 1-day deadline passes), bad cursor. */
    json_t *out;
    as("sup1");
    q = (cf_case_query){.grade = "high"};
    assert_int_equal(cf_case_query_run(e, &q, &out, &err), 0);
    size_t graded = json_array_size(json_object_get(out, "items"));
    assert_true(graded >= 1);
    json_decref(out);
    q = (cf_case_query){.overdue = 1};
    assert_int_equal(cf_case_query_run(e, &q, &out, &err), 0);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 0);
    json_decref(out);
    q = (cf_case_query){.after = "x1"};
    assert_int_equal(cf_case_query_run(e, &q, &out, &err), CF_EINVALID);
    assert_string_equal(err.field, "after");
    q = (cf_case_query){.limit = 5000};
    assert_int_equal(cf_case_query_run(e, &q, &out, &err), CF_EINVALID);
    assert_string_equal(err.field, "limit");
}

static void test_tasks(void **state)
{
    (void)state;
    cf_error err;
    char *id = refer("T-1");
    json_t *d = json_pack("{s:{s:s, s:s}}", "task", "role", "officer", "kind", "mash"), *out;
    as("officer1");
    assert_int_equal(cf_act(e, id, "submit", d, -1, &out, &err), 0);
    json_decref(out);
    json_decref(d);
    cf_task_query tq = {.case_id = id, .status = "open"};
    as("sup1");
    assert_int_equal(cf_task_list(e, &tq, &out, &err), 0);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
    json_int_t tid = json_integer_value(json_object_get(json_array_get(json_object_get(out, "items"), 0), "id"));
    json_decref(out);
    /* An analyst holds neither the task's role nor supervisor. */
    as("analyst1");
    assert_int_equal(cf_task_claim(e, tid, &out, &err), CF_EDENIED);
    as("officer1");
    assert_int_equal(cf_task_claim(e, tid, &out, &err), 0);
    assert_string_equal(json_string_value(json_object_get(out, "status")), "claimed");
    json_decref(out);
    as("officer2");
    assert_int_equal(cf_task_complete(e, tid, NULL, &out, &err), CF_ECONFLICT);
    as("officer1");
    json_t *res = json_pack("{s:s}", "outcome", "referred to MASH");
    assert_int_equal(cf_task_complete(e, tid, res, &out, &err), 0);
    assert_string_equal(json_string_value(json_object_get(out, "status")), "done");
    json_decref(out);
    assert_int_equal(cf_task_complete(e, tid, res, &out, &err), CF_EINVALID);
    json_decref(res);
    assert_int_equal(cf_task_claim(e, 999999, &out, &err), CF_ENOTFOUND);
    char types[512];
    feed_types(0, types, sizeof types);
    assert_non_null(strstr(types, "task.claimed"));
    assert_non_null(strstr(types, "task.closed"));
    verify_ok();
    free(id);
}

static void test_idempotent_act(void **state)
{
    (void)state;
    cf_error err;
    char *id = refer("I-1");
    json_t *d = json_pack("{s:{s:i}}", "set", "n", 1), *out, *again;
    cf_act_options o = {.expect_revision = -1, .idempotency_key = "retry-1"};
    as("officer1");
    assert_int_equal(cf_act_with(e, id, "submit", d, &o, &out, &err), 0);
    assert_int_equal(cf_act_with(e, id, "submit", d, &o, &again, &err), 0);
    assert_true(json_is_true(json_object_get(again, "replayed")));
    assert_int_equal(json_integer_value(json_object_get(again, "revision")),
                     json_integer_value(json_object_get(out, "revision")));
    json_decref(out);
    json_decref(again);
    /* Same key, different body: refused, nothing written. */
    json_t *d2 = json_pack("{s:{s:i}}", "set", "n", 2);
    assert_int_equal(cf_act_with(e, id, "submit", d2, &o, &out, &err), CF_EINVALID);
    assert_string_equal(err.field, "idempotency_key");
    json_decref(d2);
    /* The key is per actor: another officer's same key is its own. */
    as("officer2");
    assert_int_equal(cf_act_with(e, id, "submit", d, &o, &out, &err), 0);
    assert_null(json_object_get(out, "replayed"));
    json_decref(out);
    o.idempotency_key = "bad key";
    assert_int_equal(cf_act_with(e, id, "submit", d, &o, &out, &err), CF_EINVALID);
    json_decref(d);
    verify_ok();
    /* An edited key row (a forged result) is found by verify. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE idempotency SET result='{\"id\":\"x\"}'", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(cf_audit_verify(e, &out, &err), CF_EINVALID);
    json_decref(out);
    free(id);
}

/* A viewer reads and never acts. */
static void test_viewer(void **state)
{
    (void)state;
    cf_error err;
    char *id = refer("V-1");
    static const char *const viewer[] = {"viewer", NULL};
    json_t *out;
    as("admin");
    assert_int_equal(cf_user_add(e, "dash", viewer, &err), 0);
    as("dash");
    assert_int_equal(cf_case_get(e, id, &out, &err), 0);
    json_decref(out);
    assert_int_equal(cf_act(e, id, "submit", NULL, -1, &out, &err), CF_EDENIED);
    assert_string_equal(err.field, "role");
    verify_ok();
    free(id);
}

static int64_t audit_count(const char *where)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM audit WHERE %s", where);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* A read on a read-only engine with deferral on writes nothing there and
 * keeps its consultation; the writing engine records it as the same user,
 * and the chain verifies. A list not as taken is refused. */
static void test_deferred_consultations(void **state)
{
    (void)state;
    cf_error err;
    char *id = refer("D-1");
    cf_engine *r;
    cf_open_options o = {.readonly = 1};
    assert_int_equal(cf_engine_open(path, &o, &r, &err), 0);
    cf_engine_set_clock(r, T0);
    assert_null(cf_engine_take_consultations(r)); /* deferral off */
    assert_int_equal(cf_engine_defer_consultations(r, 1), 0);
    assert_int_equal(cf_engine_set_actor(r, "sup1", "deferred read"), 0);
    int64_t before = audit_count("action = 'consultation'");
    json_t *out;
    assert_int_equal(cf_case_get(r, id, &out, &err), 0);
    json_decref(out);
    cf_case_query q;
    memset(&q, 0, sizeof q);
    assert_int_equal(cf_case_query_run(r, &q, &out, &err), 0);
    json_decref(out);
    assert_int_equal(audit_count("action = 'consultation'"), before);
    json_t *reads = cf_engine_take_consultations(r);
    assert_non_null(reads);
    assert_int_equal(json_array_size(reads), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(reads, 0), "case")), id);
    json_t *again = cf_engine_take_consultations(r);
    assert_int_equal(json_array_size(again), 0);
    json_decref(again);
    cf_engine_close(r);
    assert_int_equal(cf_engine_set_actor(e, "sup1", "deferred read"), 0);
    assert_int_equal(cf_engine_record_consultations(e, reads, &err), 0);
    json_decref(reads);
    assert_int_equal(audit_count("action = 'consultation'"), before + 2);
    assert_int_equal(audit_count("action = 'consultation' AND actor = 'sup1' AND "
                                 "justification = 'deferred read' AND case_id IS NOT NULL"),
                     1);
    json_t *bad = json_pack("[{s:s}]", "case", id);
    assert_int_equal(cf_engine_record_consultations(e, bad, &err), CF_EUSAGE);
    json_decref(bad);
    verify_ok();
    free(id);
}

/* A refusal of a known user is recorded in the chain, by them, in the
 * case's history when the case exists; a long message is cut on a
 * character boundary; an unknown actor's refusal is not recorded. */
static void test_refusal_record(void **state)
{
    (void)state;
    cf_error err, why;
    char *id = refer("R-1");
    memset(&why, 0, sizeof why);
    why.code = CF_EDENIED;
    snprintf(why.field, sizeof why.field, "role");
    memset(why.message, 'x', 299);
    snprintf(why.message + 299, sizeof why.message - 299, "\xc3\xa9 and more");
    as("analyst1");
    int64_t before = audit_count("action = 'refused'");
    assert_int_equal(cf_engine_record_refusal(e, "case.act", id, &why, &err), 0);
    assert_int_equal(cf_engine_record_refusal(e, "case.get", "CF-NOPE", &why, &err), 0);
    assert_int_equal(audit_count("action = 'refused'"), before + 2);
    assert_int_equal(audit_count("action = 'refused' AND actor = 'analyst1' AND role IS NULL"),
                     before + 2);
    char where[128];
    snprintf(where, sizeof where, "action = 'refused' AND case_id = '%s'", id);
    assert_int_equal(audit_count(where), 1);
    assert_int_equal(cf_engine_record_refusal(e, NULL, id, &why, &err), CF_EUSAGE);
    assert_int_equal(cf_engine_set_actor(e, "nobody", NULL), 0);
    assert_int_not_equal(cf_engine_record_refusal(e, "case.get", id, &why, &err), 0);
    assert_int_equal(audit_count("action = 'refused'"), before + 2);
    verify_ok();
    free(id);
}

static void test_deadline_missed(void **state)
{
    (void)state;
    cf_error err;
    char *id = refer("D-1");
    json_t *out;
    /* Two days later the deadline (1 day) has passed, and the 2-day timer
     * is due: both fire, the deadline once. */
    cf_engine_set_clock(e, T0 + DAY + 60);
    cf_engine_set_actor(e, NULL, NULL);
    assert_int_equal(cf_tick(e, &out, &err), 0);
    size_t n = json_array_size(out);
    assert_true(n >= 1);
    json_decref(out);
    as("sup1");
    cf_case_query q = {.overdue = 1};
    assert_int_equal(cf_case_query_run(e, &q, &out, &err), 0);
    assert_int_equal(json_array_size(json_object_get(out, "items")), 1);
    json_decref(out);
    cf_engine_set_actor(e, NULL, NULL);
    assert_int_equal(cf_tick(e, &out, &err), 0);
    assert_int_equal(json_array_size(out), 0); /* once */
    json_decref(out);
    char types[2048];
    feed_types(0, types, sizeof types);
    assert_non_null(strstr(types, "deadline.missed"));
    verify_ok();
    free(id);
}

/* Every page of q (limit 2) through the cursors: the ids, space-joined. */
static void query_ids(const cf_case_query *base, char *buf, size_t n)
{
    cf_error err;
    cf_case_query q = *base;
    q.limit = 2;
    char cursor[32] = "";
    size_t used = 0;
    buf[0] = '\0';
    as("sup1");
    for (int pages = 0; pages < 50; pages++) {
        json_t *out, *it;
        size_t i;
        q.after = cursor[0] ? cursor : NULL;
        if (cf_case_query_run(e, &q, &out, &err))
            fail_msg("query: %s", err.message);
        json_array_foreach(json_object_get(out, "items"), i, it)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", used ? " " : "",
                                     json_string_value(json_object_get(it, "id")));
        const char *next = json_string_value(json_object_get(out, "next"));
        snprintf(cursor, sizeof cursor, "%s", next ? next : "");
        json_decref(out);
        if (!next)
            return;
    }
    fail_msg("more than 50 pages");
}

/* The filters an index can drive (deadline, overdue, open tasks, updates)
 * give the same cases, in the same order and pages, whether an index
 * drives the page or it reads in intake order. */
static void test_query_plans(void **state)
{
    (void)state;
    cf_error err;
    char *ids[10];
    json_t *out;
    for (int i = 0; i < 10; i++) {
        char ref[16];
        snprintf(ref, sizeof ref, "P-%d", i);
        cf_engine_set_clock(e, T0 + i * 3600);
        ids[i] = refer(ref);
    }
    /* Open tasks on 1, 4 and 7 (7's closed again); 2 and 5 respond
     * (review); 8 is updated later. */
    for (int i = 1; i < 8; i += 3) {
        json_t *d = json_pack("{s:{s:s, s:s}}", "task", "role", "officer", "kind", "k");
        as("officer1");
        assert_int_equal(cf_act(e, ids[i], "submit", d, -1, &out, &err), 0);
        json_decref(out);
        json_decref(d);
    }
    cf_task_query tq = {.case_id = ids[7], .status = "open"};
    as("sup1");
    assert_int_equal(cf_task_list(e, &tq, &out, &err), 0);
    json_int_t tid =
        json_integer_value(json_object_get(json_array_get(json_object_get(out, "items"), 0), "id"));
    json_decref(out);
    as("officer1");
    assert_int_equal(cf_task_claim(e, tid, &out, &err), 0);
    json_decref(out);
    assert_int_equal(cf_task_complete(e, tid, NULL, &out, &err), 0);
    json_decref(out);
    as("analyst1");
    for (int i = 2; i < 6; i += 3) {
        assert_int_equal(cf_act(e, ids[i], "update", NULL, -1, &out, &err), 0);
        json_decref(out);
    }
    cf_engine_set_clock(e, T0 + DAY + 5 * 3600 + 60);
    as("officer1");
    assert_int_equal(cf_act(e, ids[8], "submit", NULL, -1, &out, &err), 0);
    json_decref(out);
    const cf_case_query qs[] = {
        {.overdue = 1},
        {.task_open = 1},
        {.deadline_before = T0 + DAY + 3 * 3600},
        {.updated_since = T0 + DAY},
        {.overdue = 1, .task_open = 1},
        {.overdue = 1, .state = "waiting"},
        {.overdue = 1, .deadline_before = T0 + DAY + 2 * 3600},
        {.task_open = 1, .updated_since = T0 + 3600},
        {.deadline_before = T0 + 2 * DAY, .state = "review"},
        {.overdue = 1, .task_open = 1, .updated_since = T0, .state = "waiting"},
    };
    char with[512], without[512];
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        cf_case_query_use_drivers(true);
        query_ids(&qs[i], with, sizeof with);
        cf_case_query_use_drivers(false);
        query_ids(&qs[i], without, sizeof without);
        cf_case_query_use_drivers(true);
        if (strcmp(with, without) != 0)
            fail_msg("query %zu: driven [%s], in intake order [%s]", i, with, without);
    }
    /* And the answers are the right ones, not merely the same. */
    char want[512];
    query_ids(&qs[0], with, sizeof with); /* overdue: 0-5 past, 2 and 5 responded, 8 reset */
    snprintf(want, sizeof want, "%s %s %s %s", ids[0], ids[1], ids[3], ids[4]);
    assert_string_equal(with, want);
    query_ids(&qs[1], with, sizeof with);
    snprintf(want, sizeof want, "%s %s", ids[1], ids[4]);
    assert_string_equal(with, want);
    query_ids(&qs[2], with, sizeof with);
    snprintf(want, sizeof want, "%s %s %s", ids[0], ids[1], ids[2]);
    assert_string_equal(with, want);
    query_ids(&qs[3], with, sizeof with);
    snprintf(want, sizeof want, "%s", ids[8]);
    assert_string_equal(with, want);
    for (int i = 0; i < 10; i++)
        free(ids[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_mixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feed_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_plans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tasks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idempotent_act, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deadline_missed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_viewer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_consultations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_record, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
