/*
 * Tests of the engine through its public API (caseflow.h), on real store
 * files, with real plugin modules (the test-only "good" plugin) and a real
 * Lua workflow (tests/data/engine/flow.lua). The atomicity tests compare a
 * digest of every row of every table before and after a refused command.
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
#include "internal.h"
#include "audit.h"
#include "sign.h"
#include "integrity.h"
#include "machine.h"
#include <sys/stat.h>

#define T0 1793000000 /* 2026-10-28T... : the engine clock at intake */

static char dir[64], path[128], flow[512];
static cf_engine *e;

static const char *srcdir(void)
{
    const char *s = getenv("CASEFLOW_SRCDIR");
    return s ? s : ".";
}

static void as(const char *actor)
{
    assert_int_equal(cf_engine_set_actor(e, actor, "unit test"), 0);
}

static int setup(void **state)
{
    (void)state;
    cf_error err;
    snprintf(dir, sizeof dir, "/tmp/cf-engine-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/e.db", dir);
    snprintf(flow, sizeof flow, "%s/tests/data/engine/flow.lua", srcdir());
    cf_open_options o = {.create = 1};
    if (cf_engine_open(path, &o, &e, &err)) {
        fprintf(stderr, "open: %s\n", err.message);
        return -1;
    }
    cf_engine_set_clock(e, T0);
    cf_engine_set_actor(e, "admin", NULL);
    if (cf_store_init_with(e, &(cf_init_options){.test_clock = 1}, &err))
        return -1;
    static const char *const officer[] = {"officer", NULL};
    static const char *const analyst[] = {"analyst", NULL};
    static const char *const sup[] = {"supervisor", NULL};
    static const char *const both[] = {"officer", "supervisor", NULL};
    if (cf_user_add(e, "officer1", officer, &err) || cf_user_add(e, "officer2", officer, &err) ||
        cf_user_add(e, "analyst1", analyst, &err) || cf_user_add(e, "sup1", sup, &err) ||
        cf_user_add(e, "both1", both, &err)) {
        fprintf(stderr, "user add: %s\n", err.message);
        return -1;
    }
    json_t *out;
    if (cf_workflow_deploy(e, flow, &out, &err)) {
        fprintf(stderr, "deploy: %s\n", err.message);
        return -1;
    }
    json_decref(out);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cf_engine_close(e);
    e = NULL;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* SHA-256 over every row of every table, read through a separate
 * connection: "the store is exactly as it was". */
static void snapshot(char out[65])
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *tables;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name FROM sqlite_schema WHERE type='table'"
                                        " ORDER BY name",
                                        -1, &tables, NULL),
                     SQLITE_OK);
    char *all = strdup("");
    size_t len = 0;
    while (sqlite3_step(tables) == SQLITE_ROW) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT * FROM \"%s\" ORDER BY 1",
                 (const char *)sqlite3_column_text(tables, 0));
        sqlite3_stmt *rows;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &rows, NULL), SQLITE_OK);
        while (sqlite3_step(rows) == SQLITE_ROW) {
            for (int i = 0; i < sqlite3_column_count(rows); i++) {
                const char *v = (const char *)sqlite3_column_text(rows, i);
                size_t n = v ? strlen(v) : 4;
                all = realloc(all, len + n + 2);
                memcpy(all + len, v ? v : "NULL", n);
                len += n;
                all[len++] = '|';
                all[len] = '\0';
            }
        }
        sqlite3_finalize(rows);
    }
    sqlite3_finalize(tables);
    sqlite3_close(db);
    cf_sha256_hex(all, len, out);
    free(all);
}

static json_t *referral(const char *ref)
{
    return json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "source", "TEST", "reference", ref,
                     "received_at", "2026-11-02T09:15:00Z", "ip_events", "ip", "192.0.2.1",
                     "at", "2026-10-30T21:14:05+01:00");
}

static char *refer(const char *ref)
{
    cf_error err;
    json_t *r = referral(ref), *out;
    as("analyst1");
    int rc = cf_refer(e, "flow", r, &out, &err);
    json_decref(r);
    if (rc)
        fail_msg("refer: %s", err.message);
    char *id = strdup(json_string_value(json_object_get(out, "id")));
    json_decref(out);
    return id;
}

static json_t *get(const char *id)
{
    json_t *c;
    cf_error err;
    if (cf_case_get(e, id, &c, &err))
        fail_msg("get: %s", err.message);
    return c;
}

static const char *state_of(json_t *c)
{
    return json_string_value(json_object_get(c, "state"));
}

static int act(const char *actor, const char *id, const char *event, const char *data,
               cf_error *err)
{
    as(actor);
    json_t *d = data ? json_loads(data, 0, NULL) : NULL;
    json_t *out = NULL;
    int rc = cf_act(e, id, event, d, -1, &out, err);
    json_decref(d);
    json_decref(out);
    return rc;
}

static void referral_runs_to_a_waiting_state_once(void **state)
{
    (void)state;
    char *id = refer("R-1");
    json_t *c = get(id);
    assert_string_equal(state_of(c), "waiting");
    assert_true(json_is_true(json_object_get(json_object_get(c, "data"), "intake")));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(c, "data"), "referral"),
                            "reference")),
                        "R-1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "workflow"),
                                                          "name")),
                        "flow");
    json_decref(c);
    /* The same (source, reference) again: the same case. */
    json_t *r = referral("R-1"), *out;
    cf_error err;
    assert_int_equal(cf_refer(e, "flow", r, &out, &err), 0);
    assert_string_equal(json_string_value(json_object_get(out, "id")), id);
    assert_true(json_is_false(json_object_get(out, "created")));
    json_decref(out);
    json_decref(r);
    json_t *list;
    assert_int_equal(cf_case_list(e, NULL, 0, &list, &err), 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    free(id);
}

static void history_names_plugin_and_module_hash(void **state)
{
    (void)state;
    char *id = refer("R-2");
    cf_error err;
    assert_int_equal(act("officer1", id, "submit", "{\"set\":{\"note\":\"x\"}}", &err), 0);
    json_t *h;
    assert_int_equal(cf_case_history(e, id, &h, &err), 0);
    assert_int_equal(json_array_size(h), 3); /* received, next (automatic), submit */
    assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "event")),
                        "referral.received");
    json_t *last = json_array_get(h, 2);
    assert_string_equal(json_string_value(json_object_get(last, "event")), "submit");
    assert_string_equal(json_string_value(json_object_get(last, "actor")), "officer1");
    assert_string_equal(json_string_value(json_object_get(last, "role")), "officer");
    json_t *plugin = json_object_get(last, "plugin");
    assert_string_equal(json_string_value(json_object_get(plugin, "name")), "good");
    assert_string_equal(json_string_value(json_object_get(plugin, "version")), "1.2.3");
    assert_int_equal(strlen(json_string_value(json_object_get(plugin, "sha256"))), 64);
    json_decref(h);
    json_t *c = get(id);
    assert_int_equal(json_integer_value(json_object_get(c, "revision")), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "data"), "note")),
                        "x");
    json_decref(c);
    free(id);
}

static void refusals_change_nothing(void **state)
{
    (void)state;
    char *id = refer("R-3");
    char before[65], after[65];
    cf_error err;
    struct {
        const char *actor, *event, *data;
        int rc;
        const char *needle;
    } cases[] = {
        {"officer1", "nosuch", NULL, CF_EINVALID, "does not take event"},
        {"analyst1", "submit", NULL, CF_EDENIED, "needs role"},
        {"officer1", "update", NULL, CF_EDENIED, "needs role"},
        {"officer1", "expired", NULL, CF_EDENIED, "only the engine"},
        {"sup1", "approve", NULL, CF_EDENIED, "must follow submit"},
        {"officer1", "submit", "{\"fail\":\"not today\",\"set\":{\"x\":1}}", CF_EINVALID,
         "submit rejected: fail: not today"},
        {"officer1", "submit", "{\"set\":{\"x\":1},\"emit\":\"done\"}", CF_ESCRIPT,
         "no transition"},
        {"officer1", "reject", "{\"set\":{\"explode\":true}}", CF_ESCRIPT, "boom"},
        {"officer1", "decide", "{\"set\":{\"loop\":true}}", CF_ESCRIPT, "budget"},
        {"officer1", "Bad Event", NULL, CF_EINVALID, "event names"},
        {"nobody", "submit", NULL, CF_EDENIED, "unknown user"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snapshot(before);
        int rc = act(cases[i].actor, id, cases[i].event, cases[i].data, &err);
        if (rc != cases[i].rc || !strstr(err.message, cases[i].needle))
            fail_msg("%s %s: got %s \"%s\"", cases[i].actor, cases[i].event, cf_err_name(rc),
                     err.message);
        snapshot(after);
        if (strcmp(before, after) != 0)
            fail_msg("%s %s changed the store", cases[i].actor, cases[i].event);
    }
    snapshot(before);
    assert_int_equal(act("officer1", "CF-999999", "submit", NULL, &err), CF_ENOTFOUND);
    snapshot(after);
    assert_string_equal(before, after);
    free(id);
}

/* Outcome events are the plugin's alone (issue 10, item 6): the test
 * plugin "triage" emits triage.urgnet and triage.routine. A person sending
 * one is refused with nothing changed, unless the transition's manual names
 * a role of theirs (and the role check passes); then the history names the
 * sender and no plugin. The plugin's own outcome still names the plugin. */
static void outcomes_are_the_plugins_alone(void **state)
{
    (void)state;
    char file[160];
    snprintf(file, sizeof file, "%s/outcomes.lua", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("return workflow {\n"
          "  name = \"outcomes\", version = 1, initial = \"start\",\n"
          "  states = {\n"
          "    start = { step = \"good\", config = { emit = \"next\" }, on = { next = \"triage\" } },\n"
          "    triage = { step = \"triage\", roles = { \"officer\", \"supervisor\" },\n"
          "      on = {\n"
          "        [\"triage.submit\"] = \"triage\",\n"
          "        [\"triage.urgnet\"] = \"urgent\",\n"
          "        [\"triage.routine\"] = { to = \"routine\", manual = { \"supervisor\" } },\n"
          "      } },\n"
          "    urgent = { final = true },\n"
          "    routine = { final = true },\n"
          "  },\n"
          "}\n", f);
    fclose(f);
    cf_error err;
    json_t *out;
    as("admin");
    if (cf_workflow_deploy(e, file, &out, &err))
        fail_msg("deploy: %s", err.message);
    json_decref(out);
    json_t *r = referral("R-OUT-1");
    as("analyst1");
    assert_int_equal(cf_refer(e, "outcomes", r, &out, &err), 0);
    json_decref(r);
    char *id = strdup(json_string_value(json_object_get(out, "id")));
    json_decref(out);

    char before[65], after[65];
    struct {
        const char *actor, *event, *needle;
    } refused[] = {
        {"officer1", "triage.urgnet",
         "event \"triage.urgnet\" is an outcome of plugin \"triage\" in state \"triage\": "
         "only the plugin sends it"},
        {"officer1", "triage.routine", "or by hand a person with role: supervisor"},
        {"analyst1", "triage.routine", "needs role"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        snapshot(before);
        int rc = act(refused[i].actor, id, refused[i].event, NULL, &err);
        if (rc != CF_EDENIED || !strstr(err.message, refused[i].needle))
            fail_msg("%s %s: got %s \"%s\"", refused[i].actor, refused[i].event,
                     cf_err_name(rc), err.message);
        snapshot(after);
        if (strcmp(before, after) != 0)
            fail_msg("%s %s changed the store", refused[i].actor, refused[i].event);
    }

    /* By hand, with manual: the person's act, not the plugin's. */
    assert_int_equal(act("both1", id, "triage.routine", NULL, &err), 0);
    json_t *c = get(id);
    assert_string_equal(state_of(c), "routine");
    json_decref(c);
    json_t *h;
    assert_int_equal(cf_case_history(e, id, &h, &err), 0);
    json_t *last = json_array_get(h, json_array_size(h) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "event")), "triage.routine");
    assert_string_equal(json_string_value(json_object_get(last, "actor")), "both1");
    /* both1 is officer and supervisor: the record names the role that
     * allows it by hand. */
    assert_string_equal(json_string_value(json_object_get(last, "role")), "supervisor");
    assert_true(json_is_null(json_object_get(last, "outcome")));
    assert_true(json_is_null(json_object_get(last, "plugin")));
    json_decref(h);
    free(id);

    /* The plugin decides: its outcome, its name. */
    r = referral("R-OUT-2");
    as("analyst1");
    assert_int_equal(cf_refer(e, "outcomes", r, &out, &err), 0);
    json_decref(r);
    id = strdup(json_string_value(json_object_get(out, "id")));
    json_decref(out);
    assert_int_equal(act("officer1", id, "triage.submit", "{\"priority\":true}", &err), 0);
    c = get(id);
    assert_string_equal(state_of(c), "urgent");
    json_decref(c);
    assert_int_equal(cf_case_history(e, id, &h, &err), 0);
    last = json_array_get(h, json_array_size(h) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "outcome")), "triage.urgnet");
    assert_string_equal(json_string_value(json_object_get(json_object_get(last, "plugin"),
                                                          "name")),
                        "triage");
    json_decref(h);
    free(id);
}

static void four_eyes_and_final_states(void **state)
{
    (void)state;
    char *id = refer("R-4");
    cf_error err;
    assert_int_equal(act("both1", id, "submit", NULL, &err), 0);
    assert_int_equal(act("both1", id, "approve", NULL, &err), CF_EDENIED);
    assert_non_null(strstr(err.message, "four-eyes"));
    assert_int_equal(act("sup1", id, "approve", NULL, &err), 0);
    json_t *c = get(id);
    assert_string_equal(state_of(c), "done");
    json_decref(c);
    assert_int_equal(act("officer1", id, "submit", NULL, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "does not take event"));
    free(id);
}

static void functions_decide_or_stay(void **state)
{
    (void)state;
    char *id = refer("R-5");
    cf_error err;
    assert_int_equal(act("officer1", id, "decide", "{\"set\":{\"score\":3}}", &err), 0);
    json_t *c = get(id);
    assert_string_equal(state_of(c), "waiting");
    json_decref(c);
    assert_int_equal(act("officer1", id, "decide", "{\"set\":{\"score\":9}}", &err), 0);
    c = get(id);
    assert_string_equal(state_of(c), "review");
    json_decref(c);
    free(id);
}

static void revisions_refuse_stale_writers(void **state)
{
    (void)state;
    char *id = refer("R-6");
    cf_error err;
    cf_engine *other;
    cf_open_options o = {0};
    assert_int_equal(cf_engine_open(path, &o, &other, &err), 0);
    cf_engine_set_clock(other, T0);
    cf_engine_set_actor(other, "officer2", "second desk");
    json_t *out;
    as("officer1");
    assert_int_equal(cf_act(e, id, "submit", NULL, 1, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "revision")), 2);
    json_decref(out);
    char before[65], after[65];
    snapshot(before);
    assert_int_equal(cf_act(other, id, "submit", NULL, 1, &out, &err), CF_ECONFLICT);
    assert_null(out);
    snapshot(after);
    assert_string_equal(before, after);
    assert_int_equal(cf_act(other, id, "submit", NULL, 2, &out, &err), 0);
    json_decref(out);
    cf_engine_close(other);
    free(id);
}

static void timers_fire_once_when_due(void **state)
{
    (void)state;
    char *id = refer("R-7");
    cf_error err;
    json_t *fired;
    cf_engine_set_clock(e, T0 + 86400);
    assert_int_equal(cf_tick(e, &fired, &err), 0);
    /* Not the 2-day timer yet; the 1-day response deadline has passed. */
    assert_int_equal(json_array_size(fired), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(fired, 0), "event")),
                        "deadline.missed");
    json_decref(fired);
    cf_engine_set_clock(e, T0 + 30 * 86400); /* long after: fires once */
    assert_int_equal(cf_tick(e, &fired, &err), 0);
    assert_int_equal(json_array_size(fired), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(fired, 0), "state")),
                        "done");
    json_decref(fired);
    assert_int_equal(cf_tick(e, &fired, &err), 0);
    assert_int_equal(json_array_size(fired), 0);
    json_decref(fired);
    json_t *c = get(id);
    assert_string_equal(state_of(c), "done");
    assert_int_equal(json_array_size(json_object_get(c, "timers")), 0);
    json_decref(c);
    /* Leaving a state cancels its timer. */
    char *id2 = refer("R-8");
    assert_int_equal(act("analyst1", id2, "update", NULL, &err), 0);
    cf_engine_set_clock(e, T0 + 60 * 86400);
    assert_int_equal(cf_tick(e, &fired, &err), 0);
    assert_int_equal(json_array_size(fired), 0);
    json_decref(fired);
    free(id);
    free(id2);
}

/* A count read through a separate connection (what was committed). */
static long long count_of(const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* tick fires a page of timers per store transaction, each under its own
 * savepoint (issue 11): a timer whose transition refuses, in the first and
 * in the second page of 300 (256 a page), stays with no trace and costs
 * none of the others its commit; the call returns the first refusal with *out set;
 * the next tick (here inside the caller's own batch, as caseflowd's
 * writer runs it) fires nothing twice. */
static void a_refused_timer_costs_the_others_nothing(void **state)
{
    (void)state;
    enum { N = 300, R1 = 10, R2 = 280 };
    char wf[512];
    cf_error err;
    json_t *out;
    snprintf(wf, sizeof wf, "%s/tests/data/engine/tickflow.lua", srcdir());
    as("admin");
    assert_int_equal(cf_workflow_deploy(e, wf, &out, &err), 0);
    json_decref(out);
    static char *ids[N];
    as("analyst1");
    assert_int_equal(cf_batch_begin(e, &err), 0);
    for (int i = 0; i < N; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "TICK-%d", i);
        json_t *r = referral(ref);
        if (cf_refer(e, "tickflow", r, &out, &err))
            fail_msg("refer %d: %s", i, err.message);
        ids[i] = strdup(json_string_value(json_object_get(out, "id")));
        json_decref(out);
        json_decref(r);
    }
    assert_int_equal(cf_batch_commit(e, &err), 0);
    assert_int_equal(act("officer1", ids[R1], "submit", "{\"set\":{\"refuse\":true}}", &err), 0);
    assert_int_equal(act("officer1", ids[R2], "submit", "{\"set\":{\"refuse\":true}}", &err), 0);
    assert_int_equal(count_of("SELECT count(*) FROM timers"), N);
    long long events0 = count_of("SELECT count(*) FROM events");
    char before[65], after[65];

    cf_engine_set_clock(e, T0 + 30 * 86400);
    assert_int_equal(cf_engine_set_actor(e, NULL, NULL), 0); /* the engine's own clock */
    int rc = cf_tick(e, &out, &err);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err.message, ids[R1])); /* the first refusal */
    assert_non_null(strstr(err.message, "not this one"));
    assert_non_null(out);
    assert_int_equal(json_array_size(out), N);
    size_t i, done = 0, refused = 0;
    json_t *f;
    json_array_foreach(out, i, f)
    {
        const char *id = json_string_value(json_object_get(f, "id"));
        if (json_object_get(f, "error")) {
            refused++;
            assert_true(strcmp(id, ids[R1]) == 0 || strcmp(id, ids[R2]) == 0);
        } else {
            done++;
            assert_string_equal(json_string_value(json_object_get(f, "state")), "done");
        }
    }
    json_decref(out);
    assert_int_equal(done, N - 2);
    assert_int_equal(refused, 2);
    assert_int_equal(count_of("SELECT count(*) FROM cases WHERE workflow = 'tickflow'"
                              " AND state = 'done'"),
                     N - 2);
    assert_int_equal(count_of("SELECT count(DISTINCT case_id) FROM events"
                              " WHERE event = 'expired'"),
                     N - 2);
    assert_int_equal(count_of("SELECT count(*) FROM timers"), 2); /* the refused stay */
    /* The refused ones left no trace: only the fired timers' events were added. */
    long long events1 = count_of("SELECT count(*) FROM events");
    assert_int_equal(count_of("SELECT count(*) FROM events e JOIN cases c ON c.id = e.case_id"
                              " WHERE c.state = 'waiting' AND e.event = 'expired'"),
                     0);

    /* Again, inside the caller's batch: the two are refused again, nothing
     * else fires, nothing of them is written. */
    snapshot(before);
    assert_int_equal(cf_batch_begin(e, &err), 0);
    rc = cf_tick(e, &out, &err);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err.message, ids[R1]));
    assert_int_equal(json_array_size(out), 2);
    json_decref(out);
    assert_int_equal(cf_batch_commit(e, &err), 0);
    snapshot(after);
    assert_string_equal(before, after);
    assert_int_equal(count_of("SELECT count(*) FROM events"), events1);
    assert_true(events1 - events0 >= N - 2);
    for (int k = 0; k < N; k++)
        free(ids[k]);
}

static void deploys_are_versioned_and_pinned(void **state)
{
    (void)state;
    char *id = refer("R-9");
    cf_error err;
    json_t *out;
    as("admin");
    assert_int_equal(cf_workflow_deploy(e, flow, &out, &err), 0);
    assert_true(json_is_false(json_object_get(out, "created")));
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 1);
    json_decref(out);
    /* A changed copy becomes version 2; the old case stays on version 1. */
    char copy[160], cmd[1200];
    snprintf(copy, sizeof copy, "%s/flow.lua", dir);
    snprintf(cmd, sizeof cmd, "sed 's/days = 2/days = 3/' '%s' > '%s'", flow, copy);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(cf_workflow_deploy(e, copy, &out, &err), 0);
    assert_true(json_is_true(json_object_get(out, "created")));
    assert_int_equal(json_integer_value(json_object_get(out, "version")), 2);
    json_decref(out);
    json_t *c = get(id);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "workflow"),
                                                        "version")),
                     1);
    json_decref(c);
    char *id2 = refer("R-10");
    c = get(id2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c, "workflow"),
                                                        "version")),
                     2);
    json_decref(c);
    assert_int_equal(cf_workflow_list(e, &out, &err), 0);
    assert_int_equal(json_array_size(out), 2);
    json_decref(out);
    free(id);
    free(id2);
}

static void deploy_refusals(void **state)
{
    (void)state;
    cf_error err;
    json_t *out;
    char p[512];
    as("officer1");
    assert_int_equal(cf_workflow_deploy(e, flow, &out, &err), CF_EDENIED);
    as("admin");
    snprintf(p, sizeof p, "%s/tests/data/engine/missing.lua", srcdir());
    assert_int_equal(cf_workflow_deploy(e, p, &out, &err), CF_EMISSING);
    assert_non_null(strstr(err.message, "nosuchplugin"));
    snprintf(p, sizeof p, "%s/tests/data/engine/failinit.lua", srcdir());
    assert_int_equal(cf_workflow_deploy(e, p, &out, &err), CF_EMISSING);
    if (!strstr(err.message, "failed to initialise"))
        fail_msg("%s", err.message);
    snprintf(p, sizeof p, "%s/tests/data/engine/nonexistent.lua", srcdir());
    assert_int_equal(cf_workflow_deploy(e, p, &out, &err), CF_ENOTFOUND);
    assert_int_equal(cf_workflow_list(e, &out, &err), 0);
    assert_int_equal(json_array_size(out), 1);
    json_decref(out);
}

static void users_and_roles(void **state)
{
    (void)state;
    cf_error err;
    static const char *const bad[] = {"wizard", NULL};
    static const char *const officer[] = {"officer", NULL};
    as("admin");
    assert_int_equal(cf_user_add(e, "x1", bad, &err), CF_EINVALID);
    assert_int_equal(cf_user_add(e, "officer1", officer, &err), CF_EINVALID);
    assert_int_equal(cf_user_add(e, "bad name", officer, &err), CF_EINVALID);
    as("officer1");
    assert_int_equal(cf_user_add(e, "x2", officer, &err), CF_EDENIED);
    as("admin");
    assert_int_equal(cf_user_disable(e, "officer2", &err), 0);
    assert_int_equal(cf_user_disable(e, "ghost", &err), CF_ENOTFOUND);
    char *id = refer("R-11");
    assert_int_equal(act("officer2", id, "submit", NULL, &err), CF_EDENIED);
    assert_non_null(strstr(err.message, "disabled"));
    /* Administrators manage; they do not change case facts. */
    assert_int_equal(act("admin", id, "submit", NULL, &err), CF_EDENIED);
    json_t *users;
    as("admin");
    assert_int_equal(cf_user_list(e, &users, &err), 0);
    assert_int_equal(json_array_size(users), 6);
    json_decref(users);
    free(id);
}

static void bulk_intake_keeps_good_and_drops_bad(void **state)
{
    (void)state;
    cf_error err;
    as("analyst1");
    assert_int_equal(cf_batch_begin(e, &err), 0);
    for (int i = 0; i < 50; i++) {
        char ref[16];
        snprintf(ref, sizeof ref, "B-%d", i);
        json_t *r = referral(ref), *out = NULL;
        if (i % 10 == 5)
            json_object_del(r, "source");
        int rc = cf_refer(e, "flow", r, &out, &err);
        assert_int_equal(rc, i % 10 == 5 ? CF_EINVALID : 0);
        json_decref(out);
        json_decref(r);
    }
    assert_int_equal(cf_batch_commit(e, &err), 0);
    json_t *list;
    assert_int_equal(cf_case_list(e, "waiting", 0, &list, &err), 0);
    assert_int_equal(json_array_size(list), 45);
    json_decref(list);
    /* A rolled-back batch leaves nothing. */
    assert_int_equal(cf_batch_begin(e, &err), 0);
    json_t *r = referral("B-rolled"), *out;
    assert_int_equal(cf_refer(e, "flow", r, &out, &err), 0);
    json_decref(out);
    json_decref(r);
    cf_batch_rollback(e);
    assert_int_equal(cf_case_list(e, NULL, 0, &list, &err), 0);
    assert_int_equal(json_array_size(list), 45);
    json_decref(list);
}

/* What a progress callback saw: calls per loop, the last done and total. */
struct seen {
    int calls, loops;
    const char *what;
    int64_t first_done, done, total;
};

static void note_progress(void *ctx, const char *what, int64_t done, int64_t total)
{
    struct seen *p = ctx;
    if (!p->what || strcmp(p->what, what) != 0) {
        p->loops++;
        p->first_done = done;
    }
    p->what = what;
    p->calls++;
    p->done = done;
    p->total = total;
}

static void progress_reaches_the_callback(void **state)
{
    (void)state;
    free(refer("P-1"));
    free(refer("P-2"));
    cf_error err;
    json_t *v;
    struct seen p = {0};
    cf_engine_set_progress(e, note_progress, &p);
    assert_int_equal(cf_audit_verify(e, &v, &err), 0);
    int64_t records = json_integer_value(json_object_get(v, "records"));
    json_decref(v);
    assert_int_equal(p.loops, 3); /* records, history, cases */
    assert_string_equal(p.what, "audit verify: cases");
    assert_int_equal(p.first_done, 0);
    assert_int_equal(p.total, 2);
    assert_true(p.calls >= 6);
    /* The records' loop ends with done == total == the records. */
    struct seen q = {0};
    cf_engine_set_progress(e, note_progress, &q);
    assert_int_equal(cf_audit_verify_opts(e, &(cf_verify_options){.flags = CF_VERIFY_CHAIN_ONLY},
                                          &v, &err),
                     0);
    json_decref(v);
    assert_string_equal(q.what, "audit verify: records");
    assert_true(q.done == q.total && q.total >= records);
    /* Cleared: nothing more. */
    cf_engine_set_progress(e, NULL, &p);
    int calls = p.calls;
    assert_int_equal(cf_audit_verify(e, &v, &err), 0);
    json_decref(v);
    assert_int_equal(p.calls, calls);
}

static void audit_covers_everything_and_verifies(void **state)
{
    (void)state;
    char *id = refer("R-12");
    cf_error err;
    assert_int_equal(act("officer1", id, "submit", NULL, &err), 0);
    json_t *c = get(id), *v;
    json_decref(c);
    assert_int_equal(cf_audit_verify(e, &v, &err), 0);
    assert_true(json_is_true(json_object_get(v, "ok")));
    /* init + its administrator + the schema, 5 users, deploy and its plugin pins,
     * received + next, submit, the read */
    assert_int_equal(json_integer_value(json_object_get(v, "records")), 14);
    json_t *tables = json_object_get(v, "tables");
    assert_int_equal(json_integer_value(json_object_get(tables, "events")), 3);
    assert_int_equal(json_integer_value(json_object_get(tables, "cases")), 1);
    assert_int_equal(json_integer_value(json_object_get(tables, "users")), 6);
    assert_int_equal(json_integer_value(json_object_get(tables, "workflows")), 1);
    json_decref(v);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE audit SET actor='mallory' WHERE seq=9", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(cf_audit_verify(e, &v, &err), CF_EINVALID);
    assert_int_equal(json_integer_value(json_object_get(v, "first_bad")), 9);
    json_decref(v);
    free(id);
}

static void report_and_graph(void **state)
{
    (void)state;
    char *a = refer("R-20"), *b = refer("R-21"), *c = refer("R-22");
    cf_error err;
    assert_int_equal(act("officer1", a, "decide", "{\"set\":{\"score\":9}}", &err), 0);
    cf_engine_set_clock(e, T0 + 5 * 86400);
    assert_int_equal(act("officer1", b, "decide", "{\"set\":{\"score\":7}}", &err), 0);
    json_t *r;
    assert_int_equal(cf_report(e, "flow", 0, &r, &err), 0);
    json_t *routes = json_object_get(r, "routes");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(routes, "review"),
                                                        "cases")),
                     2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "flags"), "scored")),
                     2);
    json_t *dl = json_object_get(json_object_get(r, "deadlines"), "ungraded");
    assert_int_equal(json_integer_value(json_object_get(dl, "cases")), 3);
    assert_int_equal(json_integer_value(json_object_get(dl, "met")), 1);
    assert_int_equal(json_integer_value(json_object_get(dl, "missed")), 2);
    json_t *ms = json_object_get(json_object_get(r, "days_from_referral"), "review");
    assert_int_equal(json_integer_value(json_object_get(ms, "cases")), 2);
    assert_true(json_real_value(json_object_get(ms, "median_days")) == 2.5);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "by_state"), "review")),
                     2);
    json_decref(r);
    /* Since a later date: only what happened since. */
    assert_int_equal(cf_report(e, "flow", T0 + 86400, &r, &err), 0);
    routes = json_object_get(r, "routes");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(routes, "review"),
                                                        "cases")),
                     1);
    json_decref(r);
    char *dot;
    assert_int_equal(cf_workflow_graph(e, "flow", 0, &dot, &err), 0);
    assert_non_null(strstr(dot, "digraph"));
    assert_non_null(strstr(dot, "\"waiting\" -> \"review\" [label=\"decide\", style=dashed]"));
    assert_non_null(strstr(dot, "\"done\" [shape=doublecircle"));
    free(dot);
    assert_int_equal(cf_workflow_graph(e, "nosuch", 0, &dot, &err), CF_EMISSING);
    assert_int_equal(cf_workflow_graph(e, "flow", 99, &dot, &err), CF_EMISSING);
    assert_int_equal(cf_report_version(e, "flow", 99, 0, &r, &err), CF_EMISSING);
    free(a);
    free(b);
    free(c);
}

/* A fresh copy of the store at path (online backup) at scratch. */
static void copy_store(const char *scratch)
{
    sqlite3 *src, *db;
    unlink(scratch);
    assert_int_equal(sqlite3_open(path, &src), SQLITE_OK);
    assert_int_equal(sqlite3_open(scratch, &db), SQLITE_OK);
    sqlite3_backup *b = sqlite3_backup_init(db, "main", src, "main");
    assert_non_null(b);
    assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
    sqlite3_backup_finish(b);
    sqlite3_close(src);
    sqlite3_close(db);
}

/* Apply sql to a fresh copy; NULL when it applied and changed something,
 * else SQLite's message. */
static char *edit_copy(const char *scratch, const char *sql)
{
    copy_store(scratch);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(scratch, &db), SQLITE_OK);
    char *msg = NULL;
    int total = sqlite3_total_changes(db);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK && sqlite3_total_changes(db) == total &&
        !strstr(sql, "CREATE") && !strstr(sql, "DROP") && !strstr(sql, "writable_schema"))
        msg = sqlite3_mprintf("changed nothing");
    sqlite3_close(db);
    return msg;
}

/* verify on the copy: CF_EINVALID expected. */
static void assert_found(const char *scratch, const char *what)
{
    cf_engine *other;
    cf_open_options o = {0};
    cf_error err;
    json_t *v = NULL;
    int rc = cf_engine_open(scratch, &o, &other, &err);
    if (rc == 0) {
        rc = cf_audit_verify(other, &v, &err);
        cf_engine_close(other);
        json_decref(v);
    }
    if (rc != CF_EINVALID)
        fail_msg("not detected (%s): %s", cf_err_name(rc), what);
}

/* Edits behind the engine's back: every column of every table, one at a
 * time, changed in value (each is found by verify), changed in storage
 * type only (refused by SQLite: every table is STRICT), and the schema
 * changed to allow it (found); rows added and deleted; objects planted in
 * the schema. The untouched store verifies after all of them. */
static void table_edits_are_found(void **state)
{
    (void)state;
    char *id = refer("R-30");
    cf_error err;
    assert_int_equal(act("officer1", id, "submit",
                         "{\"set\":{\"note\":\"n\"}, \"key\":{\"kind\":\"account\","
                         " \"value\":\"p:1\"}, \"task\":{\"role\":\"officer\","
                         " \"kind\":\"mash\"}, \"notify\":\"mash\"}",
                         &err),
                     0);
    json_t *out;
    as("admin");
    assert_int_equal(cf_policy_set(e, "common_key_limit", "30", &err), 0);
    static const char *const bind[] = {"4242", NULL}, *const off[] = {"officer", NULL};
    assert_int_equal(cf_user_add_with(e, "bound1", off, bind, &err), 0);
    assert_int_equal(cf_audit_checkpoint_now(e, &out, &err), 0);
    json_decref(out);
    json_t *v;
    assert_int_equal(cf_audit_verify(e, &v, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(v, "checkpoints")), 1);
    json_decref(v);
    char scratch[160];
    snprintf(scratch, sizeof scratch, "%s/scratch.db", dir);

    /* Every column of every table with rows, in value. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *cols;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT m.name, p.name, p.type FROM sqlite_schema m,"
                                        " pragma_table_info(m.name) p WHERE m.type='table'"
                                        " ORDER BY m.name, p.cid",
                                        -1, &cols, NULL),
                     SQLITE_OK);
    json_t *covered = json_object();
    int edits = 0;
    while (sqlite3_step(cols) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(cols, 0);
        const char *c = (const char *)sqlite3_column_text(cols, 1);
        const char *type = (const char *)sqlite3_column_text(cols, 2);
        bool integer = strcmp(type, "INTEGER") == 0;
        /* Integers move by one, text gains a character, NULL becomes a value. */
        char change[256], full[640];
        if (integer)
            snprintf(change, sizeof change, "CASE WHEN \"%s\" IS NULL THEN 7 ELSE \"%s\" + 1 END",
                     c, c);
        else
            snprintf(change, sizeof change,
                     "CASE WHEN \"%s\" IS NULL THEN 'x' ELSE \"%s\" || 'x' END", c, c);
        snprintf(full, sizeof full, "UPDATE \"%s\" SET \"%s\" = %s", t, c, change);
        char *msg = edit_copy(scratch, full);
        if (msg && strstr(msg, "changed nothing")) {
            sqlite3_free(msg);
            continue; /* an empty table */
        }
        if (msg && strstr(msg, "UNIQUE")) {
            /* keys shifted onto each other: change one row instead */
            sqlite3_free(msg);
            snprintf(full, sizeof full,
                     "UPDATE \"%s\" SET \"%s\" = %s WHERE rowid = (SELECT max(rowid) FROM \"%s\")",
                     t, c, change, t);
            msg = edit_copy(scratch, full);
        }
        if (msg)
            fail_msg("%s.%s: %s", t, c, msg);
        char what[160];
        snprintf(what, sizeof what, "%s.%s changed", t, c);
        assert_found(scratch, what);
        json_object_set_new(covered, t, json_true());
        edits++;
        /* The same bytes as another storage type: SQLite refuses it. */
        snprintf(full, sizeof full, "UPDATE \"%s\" SET \"%s\" = CAST(\"%s\" AS BLOB)"
                                    " WHERE \"%s\" IS NOT NULL", t, c, c, c);
        msg = edit_copy(scratch, full);
        if (!msg || (!strstr(msg, "cannot store") && !strstr(msg, "changed nothing") &&
                     !strstr(msg, "datatype")))
            fail_msg("%s.%s as a BLOB: %s", t, c, msg ? msg : "accepted");
        sqlite3_free(msg);
    }
    sqlite3_finalize(cols);
    sqlite3_close(db);
    static const char *const must[] = {"audit", "cases", "checkpoints", "events", "keys",
                                       "meta", "notifications", "policies", "records",
                                       "schema_version", "tasks", "timers", "users",
                                       "workflows"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        if (!json_object_get(covered, must[i]))
            fail_msg("no row of table %s was edited", must[i]);
    json_decref(covered);
    assert_true(edits > 80);

    static const char *const structural[] = {
        "DELETE FROM cases",
        "DELETE FROM timers",
        "INSERT INTO keys VALUES('account', 'x:y', 'CF-000001')",
        "INSERT INTO tasks(case_id, role, kind, created_at) VALUES('CF-000001', 'officer', 'x', 1)",
        /* Rows of no case, read in case order by verify: before the first
         * case, between two, at a prefix of one, after the last, NULL. */
        "INSERT INTO timers VALUES('A', 'x', 's', 1)",
        "INSERT INTO timers VALUES('CF-000001 ', 'x', 's', 1)",
        "INSERT INTO keys VALUES('account', 'x:y', 'CF-00000')",
        "INSERT INTO tasks(case_id, role, kind, created_at) VALUES('~', 'officer', 'x', 1)",
        "INSERT INTO notifications(case_id, channel, payload, created_at)"
        " VALUES(NULL, 'c', 'p', 1)",
        "INSERT INTO notifications(case_id, channel, payload, created_at)"
        " VALUES('CF-000001', 'c', 'p', 1)",
        "DELETE FROM events WHERE event='submit'",
        "UPDATE events SET seq = seq + 100 WHERE seq = (SELECT max(seq) FROM events)",
        "DELETE FROM users WHERE name='officer1'",
        "INSERT INTO users(name, roles, created_at, created_by, audit_seq)"
        " VALUES('eve', 'administrator', 1, 'eve', 2)",
        "UPDATE users SET os_users='' WHERE name='bound1'",
        "UPDATE users SET roles='officer,supervisor', audit_seq=2 WHERE name='officer1'",
        "DELETE FROM workflows",
        "DELETE FROM policies",
        "INSERT INTO policies VALUES('require_reason', 'false', 0)",
        "DELETE FROM records",
        "INSERT INTO records VALUES(1, NULL, '{}')",
        "DELETE FROM meta WHERE key='test_clock'",
        "INSERT INTO meta VALUES('policy.require_reason', 'false')",
        "DELETE FROM checkpoints",
        "DELETE FROM schema_version WHERE version=2",
        "DELETE FROM audit WHERE seq=(SELECT max(seq) FROM audit)",
        /* Objects caseflow did not create. */
        "CREATE TRIGGER t AFTER UPDATE ON cases BEGIN SELECT 1; END",
        "CREATE TRIGGER t2 AFTER INSERT ON audit WHEN new.actor='officer1' BEGIN"
        " DELETE FROM audit WHERE seq=new.seq; END",
        "CREATE INDEX i ON keys(value)",
        /* Names SQLite's own statistics tables use, or look like them. */
        "CREATE TRIGGER sqliteXstatDrop BEFORE INSERT ON audit WHEN new.actor='sup1' BEGIN"
        " SELECT RAISE(IGNORE); END",
        "PRAGMA writable_schema=ON; INSERT INTO sqlite_schema VALUES('trigger',"
        " 'sqlite_stat9', 'cases', 0, 'CREATE TRIGGER sqlite_stat9 AFTER UPDATE ON cases"
        " BEGIN SELECT 1; END')",
        "CREATE VIEW w AS SELECT 1",
        "CREATE TABLE x(a)",
        "DROP INDEX timers_due",
        /* A table made non-STRICT to hold a BLOB where text was. */
        "PRAGMA writable_schema=ON; UPDATE sqlite_schema SET sql=replace(sql, ') STRICT',"
        " ')') WHERE name='keys'",
    };
    for (size_t i = 0; i < sizeof structural / sizeof structural[0]; i++) {
        char *msg = edit_copy(scratch, structural[i]);
        if (msg)
            fail_msg("%s: %s", structural[i], msg);
        assert_found(scratch, structural[i]);
    }
    /* The untouched original still verifies: every failure above was the edit's. */
    assert_int_equal(cf_audit_verify(e, &v, &err), 0);
    json_decref(v);
    free(id);
}

static void checkpoints_are_signed_and_pinned(void **state)
{
    (void)state;
    cf_error err;
    json_t *out, *v;
    as("officer1");
    assert_int_equal(cf_audit_checkpoint_now(e, &out, &err), CF_EDENIED);
    as("admin");
    assert_int_equal(cf_audit_checkpoint_now(e, &out, &err), 0);
    int64_t signed_seq = json_integer_value(json_object_get(out, "signed_seq"));
    assert_true(signed_seq > 0);
    json_decref(out);
    char pub[200], other_pub[240];
    snprintf(pub, sizeof pub, "%s.keys/e.db.key.pub", path);
    assert_int_equal(cf_audit_verify_with(e, pub, 0, &v, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(v, "last_signed_seq")), signed_seq);
    json_decref(v);
    /* Another key pair: the store's checkpoints are not signed with it. */
    char other[200];
    snprintf(other, sizeof other, "%s/other.key", dir);
    char pk[65];
    assert_int_equal(cf_sign_keygen(other, pk, &err), 0);
    snprintf(other_pub, sizeof other_pub, "%s.pub", other);
    assert_int_equal(cf_audit_verify_with(e, other_pub, 0, &v, &err), CF_EINVALID);
    json_decref(v);
    /* Keys are never overwritten, and a secret key others can read is refused. */
    assert_int_equal(cf_sign_keygen(other, pk, &err), CF_EINVALID);
    unsigned char sk[CF_SIGN_SK_BYTES];
    assert_int_equal(chmod(other, 0644), 0);
    assert_int_equal(cf_sign_load_secret(other, sk, &err), CF_EDENIED);
    struct stat sb;
    char key[200];
    snprintf(key, sizeof key, "%s.keys/e.db.key", path);
    assert_int_equal(stat(key, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

static void export_verifies_offline(void **state)
{
    (void)state;
    char *id = refer("R-40");
    cf_error err;
    json_t *out, *v;
    as("admin");
    assert_int_equal(cf_audit_checkpoint_now(e, &out, &err), 0);
    json_decref(out);
    char file[160], pub[200], other[200], otherpub[240];
    snprintf(file, sizeof file, "%s/export.jsonl", dir);
    snprintf(pub, sizeof pub, "%s.keys/e.db.key.pub", path);
    as("officer1");
    assert_int_equal(cf_audit_export(e, 0, file, &out, &err), CF_EDENIED);
    as("admin");
    assert_int_equal(cf_audit_export(e, 0, file, &out, &err), 0);
    int64_t records = json_integer_value(json_object_get(out, "records"));
    assert_true(records > 5);
    json_decref(out);
    struct stat sb;
    assert_int_equal(stat(file, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(cf_audit_export(e, 0, file, &out, &err), CF_EINVALID); /* never overwrite */
    assert_int_equal(cf_audit_verify_file(file, pub, &v, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(v, "records")), records);
    /* the one above and the one that signs the export's end */
    assert_int_equal(json_integer_value(json_object_get(v, "checkpoints")), 2);
    assert_int_equal(json_integer_value(json_object_get(v, "unsigned_tail")), 0);
    json_decref(v);
    /* Without a key the checkpoint cannot be trusted; with another key it fails. */
    assert_int_equal(cf_audit_verify_file(file, NULL, &v, &err), CF_EINVALID);
    json_decref(v);
    snprintf(other, sizeof other, "%s/o.key", dir);
    char pk[65];
    assert_int_equal(cf_sign_keygen(other, pk, &err), 0);
    snprintf(otherpub, sizeof otherpub, "%s.pub", other);
    assert_int_equal(cf_audit_verify_file(file, otherpub, &v, &err), CF_EINVALID);
    json_decref(v);
    /* One character changed in the export is found. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sed -i 's/\"actor\":\"analyst1\"/\"actor\":\"officer2\"/' '%s'",
             file);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(cf_audit_verify_file(file, pub, &v, &err), CF_EINVALID);
    json_decref(v);
    /* The export itself is a disclosure in the chain. */
    assert_int_equal(cf_audit_verify(e, &v, &err), 0);
    json_decref(v);
    free(id);
}

static void reads_need_a_reason_unless_policy_says(void **state)
{
    (void)state;
    char *id = refer("R-41");
    cf_error err;
    json_t *c;
    cf_engine_set_actor(e, "officer1", NULL);
    assert_int_equal(cf_case_get(e, id, &c, &err), CF_EUSAGE);
    assert_non_null(strstr(err.message, "--reason"));
    assert_int_equal(cf_case_list(e, NULL, 0, &c, &err), CF_EUSAGE);
    assert_int_equal(cf_case_history(e, id, &c, &err), CF_EUSAGE);
    cf_engine_set_actor(e, "officer1", "");
    assert_int_equal(cf_case_get(e, id, &c, &err), CF_EUSAGE);
    as("officer1");
    assert_int_equal(cf_policy_set(e, "require_reason", "false", &err), CF_EDENIED);
    as("admin");
    assert_int_equal(cf_policy_set(e, "require_reason", "maybe", &err), CF_EINVALID);
    assert_int_equal(cf_policy_set(e, "nosuch", "1", &err), CF_EINVALID);
    assert_int_equal(cf_policy_set(e, "require_reason", "false", &err), 0);
    cf_engine_set_actor(e, "officer1", NULL);
    assert_int_equal(cf_case_get(e, id, &c, &err), 0);
    json_decref(c);
    assert_int_equal(cf_policy_get(e, &c, &err), 0);
    assert_string_equal(json_string_value(json_object_get(c, "require_reason")), "false");
    assert_string_equal(json_string_value(json_object_get(c, "checkpoint_interval")), "1000");
    json_decref(c);
    free(id);
}

static void automatic_checkpoints(void **state)
{
    (void)state;
    cf_error err;
    as("admin");
    assert_int_equal(cf_policy_set(e, "checkpoint_interval", "5", &err), 0);
    for (int i = 0; i < 6; i++) {
        char ref[16];
        snprintf(ref, sizeof ref, "R-5%d", i);
        free(refer(ref));
    }
    json_t *v;
    assert_int_equal(cf_audit_verify(e, &v, &err), 0);
    assert_true(json_integer_value(json_object_get(v, "checkpoints")) >= 2);
    /* never more than the interval unsigned */
    assert_true(json_integer_value(json_object_get(v, "unsigned_tail")) <= 5);
    json_decref(v);
}

/* What a writer without the key would do to hide its checkpoints: delete
 * them (all but the one that signed the interval), renumber the records and
 * recompute every hash, so that the chain links again. The interval rule
 * finds the unsigned stretch. (Deleting that one too leaves the interval
 * unsigned, so the default of 1000 applies: tested by
 * a_forged_interval_does_not_count.) */
static void checkpoints_are_required(void **state)
{
    (void)state;
    cf_error err;
    as("admin");
    assert_int_equal(cf_policy_set(e, "checkpoint_interval", "5", &err), 0);
    for (int i = 0; i < 6; i++) {
        char ref[16];
        snprintf(ref, sizeof ref, "R-7%d", i);
        free(refer(ref));
    }
    json_t *v;
    assert_int_equal(cf_audit_verify(e, &v, &err), 0);
    json_decref(v);
    cf_engine_close(e);
    e = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  /* the first checkpoint signs the interval: the
                                   * later ones go */
                                  "DELETE FROM checkpoints WHERE seq > (SELECT min(seq) FROM"
                                  " checkpoints); DELETE FROM audit WHERE action='checkpoint'"
                                  " AND seq > (SELECT min(seq) FROM checkpoints);"
                                  " CREATE TEMP TABLE m AS SELECT seq AS"
                                  " old, row_number() OVER (ORDER BY seq) AS new FROM audit;"
                                  " UPDATE audit SET seq = -(SELECT new FROM m WHERE"
                                  " old = audit.seq); UPDATE audit SET seq = -seq;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_stmt *st, *up;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT seq, at, actor, role, action, case_id,"
                                        " justification, digest FROM audit ORDER BY seq",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "UPDATE audit SET prev=?, hash=? WHERE seq=?", -1,
                                        &up, NULL),
                     SQLITE_OK);
    char prev[65] = CF_AUDIT_GENESIS, hash[65];
    cf_buf b = {0};
    assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
#define T(i) ((const char *)sqlite3_column_text(st, i))
        assert_int_equal(cf_audit_record_hash(&b, sqlite3_column_int64(st, 0),
                                              sqlite3_column_int64(st, 1), T(2), T(3), T(4),
                                              T(5), T(6), T(7), prev, hash),
                         0);
#undef T
        sqlite3_bind_text(up, 1, prev, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(up, 2, hash, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(up, 3, sqlite3_column_int64(st, 0));
        assert_int_equal(sqlite3_step(up), SQLITE_DONE);
        sqlite3_reset(up);
        memcpy(prev, hash, 65);
    }
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    free(b.p);
    sqlite3_finalize(st);
    sqlite3_finalize(up);
    sqlite3_close(db);
    cf_open_options o = {0};
    assert_int_equal(cf_engine_open(path, &o, &e, &err), 0);
    v = NULL;
    assert_int_equal(cf_audit_verify_with(e, NULL, CF_VERIFY_CHAIN_ONLY, &v, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "checkpoint missing"));
    json_decref(v);
}

/* A writer without the key appends well-formed records, among them a
 * policy record raising the checkpoint interval: unsigned, it never counts,
 * and the records after it are a stretch without a checkpoint. */
static void a_forged_interval_does_not_count(void **state)
{
    (void)state;
    cf_error err;
    as("admin");
    assert_int_equal(cf_policy_set(e, "checkpoint_interval", "5", &err), 0);
    free(refer("R-80"));
    json_t *v;
    assert_int_equal(cf_audit_verify(e, &v, &err), 0);
    json_decref(v);
    cf_engine_close(e);
    e = NULL;
    cf_store *s;
    assert_int_equal(cf_store_open(path, 0, 0, &s, &err), 0);
    assert_int_equal(cf_store_begin(s, &err), 0);
    int64_t head, at;
    char hash[65];
    assert_int_equal(cf_audit_head_at(s, &head, hash, &at, &err), 0);
    assert_int_equal(cf_audit_append(s, at, "admin", "administrator",
                                     "policy.set:checkpoint_interval", NULL, NULL,
                                     "{\"key\":\"checkpoint_interval\",\"value\":\"1000000\"}",
                                     NULL, &err),
                     0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(cf_audit_append(s, at, "sup1", NULL, "consultation", NULL, "x",
                                         "{\"read\":\"list\"}", NULL, &err),
                         0);
    assert_int_equal(cf_store_commit(s, &err), 0);
    cf_store_close(s);
    cf_open_options o = {0};
    assert_int_equal(cf_engine_open(path, &o, &e, &err), 0);
    v = NULL;
    assert_int_equal(cf_audit_verify_with(e, NULL, CF_VERIFY_CHAIN_ONLY, &v, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "checkpoint missing"));
    json_decref(v);
}

/* A history row whose role differs from its audit record's, both forged to
 * agree on the digest: the chain's rules judged the record's role (one its
 * actor held), so the history must not name another. Verify and a
 * checkpoint both refuse it; moved (its seq made the lowest of the table,
 * before every row the last checkpoint signed), the checkpoint's walk of
 * the records after that checkpoint still finds it. */
static void forged_history_role(const char *ref, bool moved)
{
    cf_error err;
    char *id = refer(ref);
    free(id);
    cf_engine_close(e);
    e = NULL;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT e.case_id, e.at, e.actor, e.event, e.outcome, e.from_state,"
                           " e.to_state, e.data_sha256, e.plugin, e.plugin_version,"
                           " e.plugin_sha256, e.case_sha256, a.seq, a.at, a.actor, a.role,"
                           " a.action, a.case_id, a.justification, a.prev, e.seq"
                           " FROM events e JOIN audit a ON a.seq = e.audit_seq"
                           " ORDER BY e.seq DESC LIMIT 1",
                           -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
#define T(i) ((const char *)sqlite3_column_text(st, i))
    /* the record is the newest: nothing after it links to its hash */
    sqlite3_stmt *tail;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT max(seq) FROM audit", -1, &tail, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(tail), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(tail, 0), sqlite3_column_int64(st, 12));
    sqlite3_finalize(tail);
    assert_string_equal(T(15), "analyst");
    cf_event_fields f = {.case_id = T(0), .at = sqlite3_column_int64(st, 1), .actor = T(2),
                         .role = "supervisor", .event = T(3), .outcome = T(4), .from = T(5),
                         .to = T(6), .data_sha256 = T(7), .plugin = T(8),
                         .plugin_version = T(9), .plugin_sha256 = T(10),
                         .case_sha256 = T(11)};
    char *payload = cf_integrity_event_payload(&f);
    assert_non_null(payload);
    char digest[65], hash[65];
    cf_sha256_hex(payload, strlen(payload), digest);
    free(payload);
    cf_buf b = {0};
    assert_int_equal(cf_audit_record_hash(&b, sqlite3_column_int64(st, 12),
                                          sqlite3_column_int64(st, 13), T(14), T(15), T(16),
                                          T(17), T(18), digest, T(19), hash),
                     0);
    free(b.p);
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE events SET role='supervisor'%s WHERE seq=%lld;"
             " UPDATE audit SET digest='%s', hash='%s' WHERE seq=%lld",
             moved ? ", seq = (SELECT min(seq) - 1 FROM events)" : "",
             (long long)sqlite3_column_int64(st, 20), digest, hash,
             (long long)sqlite3_column_int64(st, 12));
#undef T
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    cf_open_options o = {0};
    assert_int_equal(cf_engine_open(path, &o, &e, &err), 0);
    json_t *v = NULL;
    assert_int_equal(cf_audit_verify(e, &v, &err), CF_EINVALID);
    if (!moved) /* moved, verify stops at the renumbering first */
        assert_non_null(strstr(err.message, "does not match its audit record"));
    json_decref(v);
    as("admin");
    v = NULL;
    assert_int_equal(cf_audit_checkpoint_now(e, &v, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "does not match its audit record"));
    json_decref(v);
}

static void a_history_role_is_its_records(void **state)
{
    (void)state;
    forged_history_role("R-90", false);
}

static void a_moved_forged_history_row_is_not_signed(void **state)
{
    (void)state;
    forged_history_role("R-92", true);
}

/* An actor disabled (or bound elsewhere) by another process after this
 * one admitted them is refused inside the write transaction: the check and
 * the write see the same users. */
static void the_actor_is_rechecked_under_the_lock(void **state)
{
    (void)state;
    cf_error err;
    char *id = refer("R-91");
    cf_engine *other;
    cf_open_options o = {0};
    assert_int_equal(cf_engine_open(path, &o, &other, &err), 0);
    cf_engine_set_clock(other, T0);
    cf_engine_set_actor(other, "admin", "leaver");
    as("officer1");
    const char *role;
    assert_int_equal(cf_engine_require(e, NULL, 0, NULL, &role, &err), 0);
    /* nothing changed: the recheck holds */
    assert_int_equal(cf_engine_begin(e, &err), 0);
    cf_store_rollback(e->store);
    assert_int_equal(cf_user_disable(other, "officer1", &err), 0);
    assert_int_equal(cf_engine_begin(e, &err), CF_EDENIED);
    assert_non_null(strstr(err.message, "disabled"));
    assert_false(cf_store_in_tx(e->store));
    /* bound to another account meanwhile */
    as("officer2");
    assert_int_equal(cf_engine_require(e, NULL, 0, NULL, &role, &err), 0);
    assert_int_equal(cf_user_bind(other, "officer2", "4000000001", &err), 0);
    assert_int_equal(cf_engine_begin(e, &err), CF_EDENIED);
    assert_non_null(strstr(err.message, "bound to other"));
    /* and through the public door: refused, nothing written */
    as("officer1");
    json_t *out;
    assert_int_equal(cf_act(e, id, "submit", NULL, -1, &out, &err), CF_EDENIED);
    cf_engine_close(other);
    free(id);
}

/* A long-lived engine (a service, a batch) acting for several users in turn
 * remembers each user's check only while nothing else has committed: a row
 * edited behind its back is found for that user, whichever acted last. */
static void alternating_actors_are_each_rechecked(void **state)
{
    (void)state;
    cf_error err;
    const char *role;
    static const char *const users[] = {"officer1", "officer2", "analyst1", "sup1"};
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < 4; i++) {
            as(users[i]);
            assert_int_equal(cf_engine_require(e, NULL, 0, NULL, &role, &err), 0);
        }
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE users SET roles='officer,supervisor'"
                                      " WHERE name='officer2'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    as("officer1");
    assert_int_equal(cf_engine_require(e, NULL, 0, NULL, &role, &err), 0);
    as("officer2");
    assert_int_equal(cf_engine_require(e, NULL, 0, NULL, &role, &err), CF_EINVALID);
    as("sup1");
    assert_int_equal(cf_engine_require(e, NULL, 0, NULL, &role, &err), 0);
    as("officer2");
    assert_int_equal(cf_engine_require(e, NULL, 0, NULL, &role, &err), CF_EINVALID);
}

/* The bytes of case id's data column, read through a second connection
 * (malloc'd), and its revision. */
static char *stored_data(const char *id, int64_t *revision)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT data, revision FROM cases WHERE id=?", -1,
                                        &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *data = strdup((const char *)sqlite3_column_text(st, 0));
    if (revision)
        *revision = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return data;
}

static void edit(const char *sql, const char *id)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Is the parse of exactly these bytes held by e's data cache? (Put back.) */
static bool cached(const char *bytes)
{
    cf_data_cache *c = cf_store_data_cache(e->store);
    json_t *d = cf_data_cache_take(c, bytes, strlen(bytes));
    if (!d)
        return false;
    cf_data_cache_put(c, strdup(bytes), d);
    return true;
}

/* A long-lived engine keeps the parse of the case data it wrote for its next
 * act (datacache.c). An intruder who edits the row between two acts of the
 * same process is refused as without the cache: an edit of another column
 * (the data bytes, and so the cache entry, unchanged) and an edit of the
 * data (the bytes no longer those kept). Neither is laundered into a new
 * digest: the row keeps the edit, the revision stays, verify finds it. */
static void a_cached_case_edited_between_acts_is_refused(void **state)
{
    (void)state;
    cf_error err;
    char *id = refer("R-C1"), *id2 = refer("R-C2");
    assert_int_equal(act("officer1", id, "submit", NULL, &err), 0);
    assert_int_equal(act("officer1", id, "submit", "{\"note\": \"second\"}", &err), 0);
    int64_t rev0, rev1;
    char *before = stored_data(id, &rev0);
    assert_true(cached(before)); /* the next act would take it, not parse */
    /* 1. the state edited, the data bytes left as the cache holds them */
    edit("UPDATE cases SET state='review' WHERE id=?", id);
    assert_int_equal(act("officer1", id, "submit", NULL, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "altered outside caseflow"));
    char *after = stored_data(id, &rev1);
    assert_string_equal(before, after);
    assert_int_equal(rev0, rev1);
    free(after);
    /* the intruder puts the state back: the row is what the chain holds
     * again, and the case acts (its data parsed afresh) */
    edit("UPDATE cases SET state='waiting' WHERE id=?", id);
    assert_int_equal(act("officer1", id, "submit", NULL, &err), 0);
    free(before);

    /* 2. the data edited (same length, one value changed) */
    assert_int_equal(act("officer1", id2, "submit", NULL, &err), 0);
    assert_int_equal(act("officer1", id2, "submit", "{\"note\": \"second\"}", &err), 0);
    before = stored_data(id2, &rev0);
    assert_true(cached(before));
    assert_non_null(strstr(before, "\"intake\":true"));
    edit("UPDATE cases SET data=replace(data, '\"intake\":true', '\"intake\":null') WHERE id=?",
         id2);
    char *edited = stored_data(id2, NULL);
    assert_string_not_equal(before, edited);
    assert_int_equal(act("officer1", id2, "submit", NULL, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "altered outside caseflow"));
    after = stored_data(id2, &rev1);
    assert_string_equal(after, edited); /* not rewritten */
    assert_int_equal(rev0, rev1);
    json_t *v = NULL;
    assert_int_not_equal(cf_audit_verify(e, &v, &err), 0);
    json_decref(v);
    free(before);
    free(edited);
    free(after);
    free(id);
    free(id2);
}

static void retention_keep_hold_dispose(void **state)
{
    (void)state;
    char *id = refer("R-60"), *open_id = refer("R-61");
    cf_error err;
    json_t *out, *v;
    assert_int_equal(act("officer1", id, "reject", NULL, &err), 0); /* -> done */
    as("admin");
    assert_int_equal(cf_retention_due(e, &out, &err), 0);
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);
    assert_int_equal(cf_retention_dispose(e, id, &out, &err), CF_EINVALID); /* not due */
    assert_non_null(strstr(err.message, "not due"));
    assert_int_equal(cf_retention_dispose(e, open_id, &out, &err), CF_EINVALID); /* open */
    cf_engine_set_clock(e, T0 + 400 * 86400);
    assert_int_equal(cf_retention_due(e, &out, &err), 0);
    assert_int_equal(json_array_size(out), 1);
    json_decref(out);
    cf_engine_set_actor(e, "admin", NULL);
    assert_int_equal(cf_retention_keep(e, id, 0, &out, &err), CF_EUSAGE); /* no reason */
    as("officer1");
    assert_int_equal(cf_retention_keep(e, id, 0, &out, &err), CF_EDENIED);
    as("admin");
    assert_int_equal(cf_retention_keep(e, id, 0, &out, &err), 0);
    json_decref(out);
    assert_int_equal(cf_retention_due(e, &out, &err), 0);
    assert_int_equal(json_array_size(out), 0);
    json_decref(out);
    cf_engine_set_clock(e, T0 + 800 * 86400);
    assert_int_equal(cf_retention_hold(e, id, 1, &out, &err), 0);
    json_decref(out);
    assert_int_equal(cf_retention_dispose(e, id, &out, &err), CF_EDENIED);
    assert_int_equal(cf_retention_hold(e, id, 0, &out, &err), 0);
    json_decref(out);
    assert_int_equal(cf_retention_dispose(e, id, &out, &err), 0);
    json_decref(out);
    assert_int_equal(cf_retention_dispose(e, id, &out, &err), CF_EINVALID);
    json_t *c = get(id);
    json_t *data = json_object_get(c, "data");
    assert_true(json_is_true(json_object_get(data, "disposed")));
    assert_null(json_object_get(data, "referral"));
    json_decref(c);
    json_t *h;
    assert_int_equal(cf_case_history(e, id, &h, &err), 0);
    size_t i;
    json_t *ev;
    json_array_foreach(h, i, ev)
    {
        const char *name = json_string_value(json_object_get(ev, "event"));
        if (strcmp(name, "retention.disposed") != 0)
            assert_true(json_is_null(json_object_get(ev, "data")));
    }
    json_decref(h);
    /* The chain and every table still verify after lawful deletion. */
    assert_int_equal(cf_audit_verify(e, &v, &err), 0);
    json_decref(v);
    free(id);
    free(open_id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(referral_runs_to_a_waiting_state_once, setup, teardown),
        cmocka_unit_test_setup_teardown(history_names_plugin_and_module_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(outcomes_are_the_plugins_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(four_eyes_and_final_states, setup, teardown),
        cmocka_unit_test_setup_teardown(functions_decide_or_stay, setup, teardown),
        cmocka_unit_test_setup_teardown(revisions_refuse_stale_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(timers_fire_once_when_due, setup, teardown),
        cmocka_unit_test_setup_teardown(a_refused_timer_costs_the_others_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(deploys_are_versioned_and_pinned, setup, teardown),
        cmocka_unit_test_setup_teardown(deploy_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(users_and_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(bulk_intake_keeps_good_and_drops_bad, setup, teardown),
        cmocka_unit_test_setup_teardown(audit_covers_everything_and_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(progress_reaches_the_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(report_and_graph, setup, teardown),
        cmocka_unit_test_setup_teardown(table_edits_are_found, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoints_are_signed_and_pinned, setup, teardown),
        cmocka_unit_test_setup_teardown(export_verifies_offline, setup, teardown),
        cmocka_unit_test_setup_teardown(reads_need_a_reason_unless_policy_says, setup, teardown),
        cmocka_unit_test_setup_teardown(automatic_checkpoints, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpoints_are_required, setup, teardown),
        cmocka_unit_test_setup_teardown(a_forged_interval_does_not_count, setup, teardown),
        cmocka_unit_test_setup_teardown(a_history_role_is_its_records, setup, teardown),
        cmocka_unit_test_setup_teardown(a_moved_forged_history_row_is_not_signed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_actor_is_rechecked_under_the_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(alternating_actors_are_each_rechecked, setup, teardown),
        cmocka_unit_test_setup_teardown(retention_keep_hold_dispose, setup, teardown),
        cmocka_unit_test_setup_teardown(a_cached_case_edited_between_acts_is_refused, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("engine", tests, NULL, NULL);
}
