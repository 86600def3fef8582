/*
 * Tests of webhooks in the engine (engine/webhook.c) on real store files:
 * what an administrator may register and what is refused, the audit
 * records of each change and the table check against them, and the
 * delivery queue's rules (events after the webhook was added, type
 * matching, one event per case at a time in order, leases, backoff with
 * jitter, dead letters, redelivery, the per-webhook cap). Domain events
 * are written as rows of `notifications` directly: the queue reads only
 * their seq, case and type.
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
#include "webhook.h"

#define T0 1793000000
#define SECRET "s3cr3t-s3cr3t-s3cr3t-0123456789"

static char dir[64], path[128];
static cf_engine *e;
static int64_t clock_now;

static void as(const char *actor)
{
    assert_int_equal(cf_engine_set_actor(e, actor, actor ? "unit test" : NULL), 0);
}

static void tick_clock(int64_t by)
{
    clock_now += by;
    assert_int_equal(cf_engine_set_clock(e, clock_now), 0);
}

static int setup(void **state)
{
    (void)state;
    cf_error err;
    snprintf(dir, sizeof dir, "/tmp/cf-webhook-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/w.db", dir);
    cf_open_options o = {.create = 1};
    if (cf_engine_open(path, &o, &e, &err)) {
        fprintf(stderr, "open: %s\n", err.message);
        return -1;
    }
    clock_now = T0;
    cf_engine_set_clock(e, clock_now);
    cf_engine_set_actor(e, "admin", NULL);
    if (cf_store_init_with(e, &(cf_init_options){.test_clock = 1}, &err))
        return -1;
    static const char *const officer[] = {"officer", NULL};
    if (cf_user_add(e, "officer1", officer, &err)) {
        fprintf(stderr, "user add: %s\n", err.message);
        return -1;
    }
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

/* One domain event, straight into the table; its seq. */
static int64_t event(const char *case_id, const char *type)
{
    sqlite3 *db = cf_store_db(e->store);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO notifications(case_id, channel, payload,"
                                        " created_at) VALUES(?,?,'{\"n\":1}',?)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, clock_now);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    return sqlite3_last_insert_rowid(db);
}

/* A number from the store. */
static int64_t scalar(const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(cf_store_db(e->store), sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void exec(const char *sql)
{
    assert_int_equal(sqlite3_exec(cf_store_db(e->store), sql, NULL, NULL, NULL), SQLITE_OK);
}

static int64_t add(const char *url, const char *events)
{
    cf_error err;
    json_t *out;
    as("admin");
    int rc = cf_webhook_add(e, url, events, SECRET, &out, &err);
    if (rc)
        fail_msg("add: %s", err.message);
    int64_t id = json_integer_value(json_object_get(out, "id"));
    json_decref(out);
    return id;
}

/* cf_webhook_next as the engine itself. New reference. */
static json_t *next(size_t max)
{
    cf_error err;
    json_t *out;
    as(NULL);
    int rc = cf_webhook_next(e, cf_engine_now(e), max, &out, &err);
    if (rc)
        fail_msg("next: %s", err.message);
    return out;
}

static void done(int64_t hook, int64_t seq, int ok, const char *error, int max_attempts)
{
    cf_error err;
    as(NULL);
    if (cf_webhook_done(e, hook, seq, ok, error, max_attempts, &err))
        fail_msg("done: %s", err.message);
}

static int64_t seq_at(json_t *a, size_t i)
{
    return json_integer_value(json_object_get(json_array_get(a, i), "seq"));
}

/* Is seq among the deliveries in a? */
static bool has_seq(json_t *a, int64_t seq)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        if (seq_at(a, i) == seq)
            return true;
    return false;
}

static json_t *list(void)
{
    cf_error err;
    json_t *out;
    as("admin");
    if (cf_webhook_list(e, &out, &err))
        fail_msg("list: %s", err.message);
    return out;
}

static void verify_ok(void)
{
    cf_error err;
    json_t *report = json_object();
    int rc = cf_webhook_verify(e->store, report, &err);
    if (rc)
        fail_msg("verify: %s", err.message);
    json_decref(report);
    json_t *out;
    rc = cf_audit_verify_with(e, NULL, CF_VERIFY_CHAIN_ONLY, &out, &err);
    if (rc)
        fail_msg("chain: %s", err.message);
    json_decref(out);
}

static int verify_fails(char *message, size_t size)
{
    cf_error err;
    json_t *report = json_object();
    int rc = cf_webhook_verify(e->store, report, &err);
    json_decref(report);
    snprintf(message, size, "%s", rc ? err.message : "");
    return rc;
}

/* ---- registering ------------------------------------------------------------------ */

static void bad_settings_are_refused_and_change_nothing(void **state)
{
    (void)state;
    struct {
        const char *url, *events, *secret, *field;
    } bad[] = {
        {NULL, "*", SECRET, "url"},
        {"", "*", SECRET, "url"},
        {"ftp://192.0.2.1/x", "*", SECRET, "url"},
        {"file:///etc/passwd", "*", SECRET, "url"},
        {"http://", "*", SECRET, "url"},
        {"http:///path", "*", SECRET, "url"},
        {"http://192.0.2.1/a b", "*", SECRET, "url"},
        {"http://192.0.2.1/a\nb", "*", SECRET, "url"},
        {"http://192.0.2.1/\x7f", "*", SECRET, "url"},
        {"http://192.0.2.1/caf\xc3\xa9", "*", SECRET, "url"},
        {"http://user:pw@192.0.2.1/", "*", SECRET, "url"},
        {"http://192.0.2.1/#frag", "*", SECRET, "url"},
        {"http://192.0.2.1:0/", "*", SECRET, "url"},
        {"http://192.0.2.1:65536/", "*", SECRET, "url"},
        {"http://192.0.2.1:80x/", "*", SECRET, "url"},
        {"http://[2001:db8::1/", "*", SECRET, "url"},
        {"http://192.0.2.1/%zz", "*", SECRET, "url"},
        {"javascript:alert(1)", "*", SECRET, "url"},
        {"http://192.0.2.1/", NULL, SECRET, "events"},
        {"http://192.0.2.1/", "", SECRET, "events"},
        {"http://192.0.2.1/", "case.created,", SECRET, "events"},
        {"http://192.0.2.1/", "case.created,,task.opened", SECRET, "events"},
        {"http://192.0.2.1/", "case created", SECRET, "events"},
        {"http://192.0.2.1/", "case.*x", SECRET, "events"},
        {"http://192.0.2.1/", "**", SECRET, "events"},
        {"http://192.0.2.1/", "case.\n", SECRET, "events"},
        {"http://192.0.2.1/", "*", NULL, "secret"},
        {"http://192.0.2.1/", "*", "short-secret-15", "secret"},
        {"http://192.0.2.1/", "*", "0123456789abcdef\n", "secret"},
        {"http://192.0.2.1/", "*", "0123456789abcdef\xff", "secret"},
    };
    char *longurl = malloc(CF_WEBHOOK_URL_MAX + 32), *longsecret = malloc(1100);
    snprintf(longurl, CF_WEBHOOK_URL_MAX + 32, "http://192.0.2.1/");
    memset(longurl + 17, 'a', CF_WEBHOOK_URL_MAX);
    longurl[CF_WEBHOOK_URL_MAX + 1] = '\0';
    memset(longsecret, 'k', 1025);
    longsecret[1025] = '\0';
    int64_t records = scalar("SELECT count(*) FROM audit");
    as("admin");
    cf_error err;
    json_t *out = (json_t *)1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = cf_webhook_add(e, bad[i].url, bad[i].events, bad[i].secret, &out, &err);
        if (rc != CF_EINVALID || strcmp(err.field, bad[i].field) != 0)
            fail_msg("case %zu: rc %d field %s: %s", i, rc, err.field, err.message);
        assert_null(out);
        assert_null(strchr(err.message, '\n'));
    }
    assert_int_equal(cf_webhook_add(e, longurl, "*", SECRET, &out, &err), CF_EINVALID);
    assert_string_equal(err.field, "url");
    assert_int_equal(cf_webhook_add(e, "http://192.0.2.1/", "*", longsecret, &out, &err),
                     CF_EINVALID);
    assert_string_equal(err.field, "secret");
    free(longurl);
    free(longsecret);
    assert_int_equal(scalar("SELECT count(*) FROM audit"), records);
    assert_int_equal(scalar("SELECT count(*) FROM webhooks"), 0);
    /* What is allowed. */
    add("https://receiver.example:8443/hooks/caseflow?x=1&y=%20", "case.*,task.opened");
    add("http://[2001:db8::1]:8080/", "*");
    add("HTTP://198.51.100.7/", "deadline.missed");
}

static void only_administrators(void **state)
{
    (void)state;
    int64_t id = add("http://192.0.2.1/", "*");
    cf_error err;
    json_t *out = NULL;
    as("officer1");
    assert_int_equal(cf_webhook_add(e, "http://192.0.2.1/", "*", SECRET, &out, &err),
                     CF_EDENIED);
    assert_int_equal(cf_webhook_list(e, &out, &err), CF_EDENIED);
    assert_int_equal(cf_webhook_remove(e, id, &err), CF_EDENIED);
    assert_int_equal(cf_webhook_redeliver(e, id, &out, &err), CF_EDENIED);
    assert_int_equal(cf_webhook_next(e, clock_now, 10, &out, &err), CF_EDENIED);
    assert_int_equal(cf_webhook_done(e, id, 1, 1, NULL, 3, &err), CF_EDENIED);
    assert_null(out);
    as("nobody");
    assert_int_equal(cf_webhook_list(e, &out, &err), CF_EDENIED);
    /* An administrator may run the deliverer's calls too. */
    as("admin");
    assert_int_equal(cf_webhook_next(e, clock_now, 10, &out, &err), 0);
    json_decref(out);
}

static void changes_are_audited_without_the_secret(void **state)
{
    (void)state;
    int64_t id = add("http://192.0.2.1/hook", "case.*");
    json_t *l = list();
    assert_int_equal(json_array_size(l), 1);
    json_t *h = json_array_get(l, 0);
    assert_int_equal(json_integer_value(json_object_get(h, "id")), id);
    assert_string_equal(json_string_value(json_object_get(h, "url")), "http://192.0.2.1/hook");
    assert_string_equal(json_string_value(json_object_get(h, "events")), "case.*");
    assert_string_equal(json_string_value(json_object_get(h, "created_by")), "admin");
    assert_true(json_is_false(json_object_get(h, "failing")));
    assert_int_equal(json_integer_value(json_object_get(h, "pending")), 0);
    assert_int_equal(json_integer_value(json_object_get(h, "dead")), 0);
    assert_true(json_is_null(json_object_get(h, "last_error")));
    assert_null(json_object_get(h, "secret"));
    json_decref(l);
    assert_int_equal(scalar("SELECT count(*) FROM audit a JOIN records r ON r.seq = a.seq"
                            " JOIN webhooks w ON w.audit_seq = a.seq"
                            " WHERE a.action = 'webhook.add' AND a.role = 'administrator'"
                            " AND a.actor = 'admin'"),
                     1);
    verify_ok();
    /* The secret is nowhere but in its row. */
    assert_int_equal(scalar("SELECT count(*) FROM records WHERE instr(payload, 's3cr3t') > 0"),
                     0);
    assert_int_equal(scalar("SELECT count(*) FROM records WHERE instr(payload,"
                            " '\"secret_sha256\":\"') > 0"),
                     1);
    cf_error err;
    as("admin");
    assert_int_equal(cf_webhook_remove(e, id, &err), 0);
    assert_int_equal(cf_webhook_remove(e, id, &err), CF_ENOTFOUND);
    assert_string_equal(err.field, "id");
    assert_int_equal(cf_webhook_remove(e, 999, &err), CF_ENOTFOUND);
    json_t *out = NULL;
    assert_int_equal(cf_webhook_redeliver(e, id, &out, &err), CF_ENOTFOUND);
    assert_null(out);
    l = list();
    assert_int_equal(json_array_size(l), 0);
    json_decref(l);
    /* Removed: its secret is wiped, the record says so. */
    assert_int_equal(scalar("SELECT count(*) FROM webhooks WHERE secret = ''"
                            " AND removed_at > 0"),
                     1);
    assert_int_equal(scalar("SELECT count(*) FROM audit a JOIN webhooks w ON w.audit_seq = a.seq"
                            " WHERE a.action = 'webhook.remove'"),
                     1);
    verify_ok();
    /* A whole verify still passes with webhook records in the chain. */
    json_t *v;
    assert_int_equal(cf_audit_verify(e, &v, &err), 0);
    json_decref(v);
}

/* ---- the queue -------------------------------------------------------------------- */

static void types_match_exactly_by_prefix_or_all(void **state)
{
    (void)state;
    assert_true(cf_webhook_matches("*", "case.created"));
    assert_true(cf_webhook_matches("case.*", "case.created"));
    assert_true(cf_webhook_matches("task.opened,case.*", "case.closed"));
    assert_true(cf_webhook_matches("case.escalated,task.opened", "task.opened"));
    assert_false(cf_webhook_matches("case.escalated,task.opened", "task.closed"));
    assert_false(cf_webhook_matches("case.*", "cases.x"));
    assert_false(cf_webhook_matches("case.created", "case.created.more"));
    assert_false(cf_webhook_matches("case.created", "case.create"));
    assert_true(cf_webhook_matches("ca*", "case.x"));

    event("C-0", "case.created"); /* before the webhooks: never delivered */
    int64_t all = add("http://192.0.2.1/all", "*");
    int64_t cases = add("http://192.0.2.1/cases", "case.*");
    int64_t two = add("http://192.0.2.1/two", "task.opened,deadline.missed");
    int64_t s1 = event("C-1", "case.created"), s2 = event("C-2", "task.opened"),
            s3 = event("C-3", "deadline.missed"), s4 = event("C-4", "mash.referral");
    json_t *a = next(100);
    int want[3][4] = {{1, 1, 1, 1}, {1, 0, 0, 0}, {0, 1, 1, 0}};
    int64_t hooks[3] = {all, cases, two}, seqs[4] = {s1, s2, s3, s4};
    size_t n = 0;
    for (int h = 0; h < 3; h++)
        for (int s = 0; s < 4; s++) {
            bool found = false;
            for (size_t i = 0; i < json_array_size(a); i++) {
                json_t *d = json_array_get(a, i);
                if (json_integer_value(json_object_get(d, "hook")) == hooks[h] &&
                    json_integer_value(json_object_get(d, "seq")) == seqs[s])
                    found = true;
            }
            assert_int_equal(found, want[h][s]);
            n += (size_t)want[h][s];
        }
    assert_int_equal(json_array_size(a), n);
    /* What a delivery carries. */
    json_t *d = json_array_get(a, 0);
    assert_string_equal(json_string_value(json_object_get(d, "secret")), SECRET);
    assert_int_equal(json_integer_value(json_object_get(d, "attempt")), 1);
    assert_non_null(json_string_value(json_object_get(d, "url")));
    assert_non_null(json_string_value(json_object_get(d, "event_id")));
    json_t *body = json_loads(json_string_value(json_object_get(d, "body")), 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "type")),
                        json_string_value(json_object_get(d, "type")));
    json_decref(body);
    json_decref(a);
    /* Cursors moved past everything: nothing is queued twice. */
    assert_int_equal(scalar("SELECT count(*) FROM webhooks WHERE cursor <> "
                            "(SELECT max(seq) FROM notifications)"),
                     0);
    assert_int_equal(scalar("SELECT count(*) FROM deliveries"), (int64_t)n);
}

static void one_event_per_case_at_a_time_in_order(void **state)
{
    (void)state;
    int64_t h = add("http://192.0.2.1/", "*");
    int64_t a1 = event("A", "case.created"), b1 = event("B", "case.created"),
            a2 = event("A", "case.graded"), a3 = event("A", "case.closed"),
            b2 = event("B", "case.graded");
    json_t *d = next(100);
    assert_int_equal(json_array_size(d), 2);
    assert_int_equal(seq_at(d, 0), a1);
    assert_int_equal(seq_at(d, 1), b1);
    json_decref(d);
    /* Handed out: leased, not handed out again. */
    d = next(100);
    assert_int_equal(json_array_size(d), 0);
    json_decref(d);
    done(h, a1, 1, NULL, 5);
    d = next(100);
    assert_int_equal(json_array_size(d), 1);
    assert_int_equal(seq_at(d, 0), a2);
    json_decref(d);
    /* B's first fails: B waits for its retry, A goes on. */
    done(h, b1, 0, "HTTP 500", 5);
    done(h, a2, 1, NULL, 5);
    d = next(100);
    assert_int_equal(json_array_size(d), 1);
    assert_int_equal(seq_at(d, 0), a3);
    json_decref(d);
    done(h, a3, 1, NULL, 5);
    tick_clock(3); /* past b1's first backoff (at most 2 s) */
    d = next(100);
    assert_int_equal(json_array_size(d), 1);
    assert_int_equal(seq_at(d, 0), b1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(d, 0), "attempt")), 2);
    json_decref(d);
    done(h, b1, 1, NULL, 5);
    d = next(100);
    assert_int_equal(json_array_size(d), 1);
    assert_int_equal(seq_at(d, 0), b2);
    json_decref(d);
    done(h, b2, 1, NULL, 5);
    assert_int_equal(scalar("SELECT count(*) FROM deliveries"), 0);
    /* Recorded twice: the second is not found. */
    cf_error err;
    as(NULL);
    assert_int_equal(cf_webhook_done(e, h, b2, 1, NULL, 5, &err), CF_ENOTFOUND);
}

/* next_at of a delivery. */
static int64_t next_at(int64_t seq)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT next_at FROM deliveries WHERE seq = %lld", (long long)seq);
    return scalar(sql);
}

static void events_behind_a_case_s_head_are_parked(void **state)
{
    (void)state;
    int64_t h = add("http://192.0.2.1/", "*");
    int64_t a1 = event("A", "case.created"), a2 = event("A", "case.graded"),
            a3 = event("A", "case.closed"), n1 = event(NULL, "retention.disposed"),
            n2 = event(NULL, "retention.disposed");
    json_t *d = next(10);
    /* One per lane: A's first and the first of the events of no case. */
    assert_int_equal(json_array_size(d), 2);
    assert_true(has_seq(d, a1) && has_seq(d, n1));
    json_decref(d);
    assert_int_equal(next_at(a2), CF_WEBHOOK_PARKED);
    assert_int_equal(next_at(a3), CF_WEBHOOK_PARKED);
    assert_int_equal(next_at(n2), CF_WEBHOOK_PARKED);
    done(h, a1, 1, NULL, 3);
    assert_int_equal(next_at(a2), clock_now);
    assert_int_equal(next_at(a3), CF_WEBHOOK_PARKED);
    done(h, n1, 1, NULL, 3);
    d = next(10);
    assert_int_equal(json_array_size(d), 2);
    assert_true(has_seq(d, a2) && has_seq(d, n2));
    json_decref(d);
    /* An event whose row is gone cannot be delivered: dropped, the next armed. */
    done(h, a2, 1, NULL, 3);
    char sql[96];
    snprintf(sql, sizeof sql, "DELETE FROM notifications WHERE seq = %lld", (long long)a3);
    exec(sql);
    int64_t a4 = event("A", "case.reopened");
    d = next(10);
    assert_int_equal(json_array_size(d), 0); /* a3 dropped; a4 armed by it */
    json_decref(d);
    d = next(10);
    assert_int_equal(json_array_size(d), 1);
    assert_int_equal(seq_at(d, 0), a4);
    json_decref(d);
}

static void redelivery_keeps_each_case_in_order(void **state)
{
    (void)state;
    int64_t h = add("http://192.0.2.1/", "*");
    int64_t a1 = event("A", "case.created"), a2 = event("A", "case.graded"),
            a3 = event("A", "case.closed");
    json_t *d;
    /* a1 and a2 die (one attempt each); a3 fails once and waits to retry. */
    for (int64_t s = a1; s <= a2; s++) {
        d = next(10);
        assert_int_equal(seq_at(d, 0), s);
        json_decref(d);
        done(h, s, 0, "HTTP 502", 1);
    }
    d = next(10);
    assert_int_equal(seq_at(d, 0), a3);
    json_decref(d);
    done(h, a3, 0, "HTTP 502", 3);
    cf_error err;
    json_t *out;
    as("admin");
    assert_int_equal(cf_webhook_redeliver(e, h, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "requeued")), 2);
    json_decref(out);
    /* a1 first, then a2, then a3 (its retry count kept), whatever the clock. */
    tick_clock(10);
    for (int64_t s = a1; s <= a3; s++) {
        d = next(10);
        assert_int_equal(json_array_size(d), 1);
        assert_int_equal(seq_at(d, 0), s);
        assert_int_equal(json_integer_value(json_object_get(json_array_get(d, 0), "attempt")),
                         s == a3 ? 2 : 1);
        json_decref(d);
        done(h, s, 1, NULL, 3);
    }
    assert_int_equal(scalar("SELECT count(*) FROM deliveries"), 0);
}

static void a_lost_lease_comes_back(void **state)
{
    (void)state;
    add("http://192.0.2.1/", "*");
    int64_t s = event("A", "case.created");
    json_t *d = next(10);
    assert_int_equal(json_array_size(d), 1);
    json_decref(d);
    tick_clock(CF_WEBHOOK_LEASE - 1);
    d = next(10);
    assert_int_equal(json_array_size(d), 0);
    json_decref(d);
    tick_clock(2);
    d = next(10);
    assert_int_equal(json_array_size(d), 1);
    assert_int_equal(seq_at(d, 0), s);
    json_decref(d);
}

static void backoff_grows_with_jitter_and_a_cap(void **state)
{
    (void)state;
    for (int i = 0; i < 200; i++) {
        int64_t d1 = cf_webhook_backoff(1), d5 = cf_webhook_backoff(5),
                d20 = cf_webhook_backoff(20);
        assert_true(d1 >= 1 && d1 <= 2);
        assert_true(d5 >= 16 && d5 <= 32);
        assert_true(d20 >= CF_WEBHOOK_BACKOFF_MAX / 2 && d20 <= CF_WEBHOOK_BACKOFF_MAX);
    }
    /* The jitter spreads retries. */
    int64_t lo = 1 << 30, hi = 0;
    for (int i = 0; i < 200; i++) {
        int64_t v = cf_webhook_backoff(10);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    assert_true(hi - lo > 100);
    /* Through the queue: each failure moves next_at by the backoff. */
    int64_t h = add("http://192.0.2.1/", "*");
    int64_t s = event("A", "case.created");
    for (int attempt = 1; attempt <= 4; attempt++) {
        json_t *d = next(10);
        assert_int_equal(json_array_size(d), 1);
        json_decref(d);
        done(h, s, 0, "connection refused", 10);
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT next_at - %lld FROM deliveries WHERE seq = %lld",
                 (long long)clock_now, (long long)s);
        int64_t wait = scalar(sql);
        assert_true(wait >= (1 << attempt) / 2 && wait <= (1 << attempt));
        assert_int_equal(scalar("SELECT attempts FROM deliveries"), attempt);
        d = next(10);
        assert_int_equal(json_array_size(d), 0); /* not before its time */
        json_decref(d);
        tick_clock(wait);
    }
}

static void dead_letters_mark_the_webhook_and_come_back(void **state)
{
    (void)state;
    int64_t h = add("http://192.0.2.1/", "*");
    int64_t a1 = event("A", "case.created"), a2 = event("A", "case.graded");
    json_t *d = next(10);
    json_decref(d);
    char longer[400];
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    longer[10] = '\n';
    longer[11] = '\r';
    done(h, a1, 0, longer, 2);
    tick_clock(3);
    d = next(10);
    assert_int_equal(json_array_size(d), 1);
    assert_int_equal(seq_at(d, 0), a1);
    json_decref(d);
    done(h, a1, 0, "HTTP 503", 2);
    /* Dead: kept, the webhook is failing, the case's next event goes on. */
    json_t *l = list();
    json_t *w = json_array_get(l, 0);
    assert_true(json_is_true(json_object_get(w, "failing")));
    assert_int_equal(json_integer_value(json_object_get(w, "dead")), 1);
    assert_int_equal(json_integer_value(json_object_get(w, "pending")), 1);
    assert_string_equal(json_string_value(json_object_get(w, "last_error")), "HTTP 503");
    json_decref(l);
    d = next(10);
    assert_int_equal(json_array_size(d), 1);
    assert_int_equal(seq_at(d, 0), a2);
    json_decref(d);
    done(h, a2, 1, NULL, 2);
    /* The first error line was kept to one line of at most 200 bytes. */
    assert_int_equal(scalar("SELECT count(*) FROM deliveries WHERE length(last_error) > 200"
                            " OR instr(last_error, char(10)) > 0"),
                     0);
    /* Redeliver: queued again (audited), then delivered; the mark clears. */
    cf_error err;
    json_t *out;
    int64_t records = scalar("SELECT count(*) FROM audit");
    as("admin");
    assert_int_equal(cf_webhook_redeliver(e, h, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "requeued")), 1);
    json_decref(out);
    assert_int_equal(scalar("SELECT count(*) FROM audit"), records + 1);
    assert_int_equal(scalar("SELECT count(*) FROM audit a JOIN webhooks w ON w.audit_seq = a.seq"
                            " WHERE a.action = 'webhook.redeliver'"),
                     1);
    verify_ok();
    /* Nothing more to requeue: no change, no record. */
    assert_int_equal(cf_webhook_redeliver(e, h, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "requeued")), 0);
    json_decref(out);
    assert_int_equal(scalar("SELECT count(*) FROM audit"), records + 1);
    d = next(10);
    assert_int_equal(json_array_size(d), 1);
    assert_int_equal(seq_at(d, 0), a1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(d, 0), "attempt")), 1);
    json_decref(d);
    done(h, a1, 1, NULL, 2);
    l = list();
    assert_true(json_is_false(json_object_get(json_array_get(l, 0), "failing")));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "dead")), 0);
    json_decref(l);
}

static void a_webhook_holds_a_bounded_number_of_deliveries(void **state)
{
    (void)state;
    int64_t slow = add("http://192.0.2.1/slow", "*");
    int64_t fast = add("http://192.0.2.1/fast", "*");
    char id[16];
    for (int i = 0; i < 3 * CF_WEBHOOK_INFLIGHT; i++) {
        snprintf(id, sizeof id, "C-%d", i);
        event(id, "case.created");
    }
    json_t *d = next(CF_WEBHOOK_BATCH_MAX);
    size_t per[2] = {0, 0};
    for (size_t i = 0; i < json_array_size(d); i++)
        per[json_integer_value(json_object_get(json_array_get(d, i), "hook")) == fast]++;
    assert_int_equal(per[0], CF_WEBHOOK_INFLIGHT);
    assert_int_equal(per[1], CF_WEBHOOK_INFLIGHT);
    /* The fast one finishes its eight and gets eight more; the slow one
     * (still sending) gets none. */
    for (size_t i = 0; i < json_array_size(d); i++) {
        json_t *x = json_array_get(d, i);
        if (json_integer_value(json_object_get(x, "hook")) == fast)
            done(fast, json_integer_value(json_object_get(x, "seq")), 1, NULL, 5);
    }
    json_decref(d);
    d = next(CF_WEBHOOK_BATCH_MAX);
    assert_int_equal(json_array_size(d), CF_WEBHOOK_INFLIGHT);
    for (size_t i = 0; i < json_array_size(d); i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(d, i), "hook")), fast);
    json_decref(d);
    (void)slow;
    /* max bounds a call. */
    int64_t other = add("http://192.0.2.1/other", "*");
    (void)other;
    event("Z", "case.created");
    d = next(1);
    assert_int_equal(json_array_size(d), 1);
    json_decref(d);
}

static void delivery_needs_an_initialised_store_and_no_other_actor(void **state)
{
    (void)state;
    add("http://192.0.2.1/", "*");
    int64_t s = event("A", "case.created");
    /* As the engine (no actor): fine. */
    json_t *d = next(10);
    assert_true(has_seq(d, s));
    json_decref(d);
    cf_error err;
    as(NULL);
    assert_int_equal(cf_webhook_done(e, 1, s, 1, NULL, 0, &err), 0);
}

/* ---- the table against the chain --------------------------------------------------- */

static void altered_rows_are_found_and_not_used(void **state)
{
    (void)state;
    char msg[512];
    int64_t h = add("http://192.0.2.1/", "*");
    verify_ok();
    /* Redirected behind caseflow's back. */
    exec("UPDATE webhooks SET url = 'http://203.0.113.9/steal'");
    assert_int_equal(verify_fails(msg, sizeof msg), CF_EINVALID);
    assert_non_null(strstr(msg, "not what its newest record says"));
    event("A", "case.created");
    json_t *d = next(10);
    assert_int_equal(json_array_size(d), 0); /* never to the altered URL */
    json_decref(d);
    cf_error err;
    as("admin");
    assert_int_equal(cf_webhook_remove(e, h, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "altered outside caseflow"));
    assert_int_equal(scalar("SELECT count(*) FROM audit WHERE action = 'integrity.alarm'"), 1);
    exec("UPDATE webhooks SET url = 'http://192.0.2.1/'");
    verify_ok();
    /* Another secret. */
    exec("UPDATE webhooks SET secret = 'another-secret-0123456789'");
    assert_int_equal(verify_fails(msg, sizeof msg), CF_EINVALID);
    exec("UPDATE webhooks SET secret = '" SECRET "'");
    verify_ok();
    /* Removed, then put back as it was before (with its old pointer). */
    int64_t added_at = scalar("SELECT audit_seq FROM webhooks");
    as("admin");
    assert_int_equal(cf_webhook_remove(e, h, &err), 0);
    char sql[200];
    snprintf(sql, sizeof sql,
             "UPDATE webhooks SET removed_at = 0, secret = '" SECRET "', audit_seq = %lld",
             (long long)added_at);
    exec(sql);
    assert_int_equal(verify_fails(msg, sizeof msg), CF_EINVALID);
    assert_non_null(strstr(msg, "newest record"));
    /* A row deleted, a row added. */
    exec("DELETE FROM webhooks");
    assert_int_equal(verify_fails(msg, sizeof msg), CF_EINVALID);
    assert_non_null(strstr(msg, "deleted"));
    exec("INSERT INTO webhooks(id, url, events, secret, created_at, created_by, audit_seq)"
         " VALUES(7, 'http://203.0.113.9/', '*', '" SECRET "', 0, 'admin', 1)");
    assert_int_equal(verify_fails(msg, sizeof msg), CF_EINVALID);
    assert_non_null(strstr(msg, "row added"));
    /* A kept payload removed. */
    exec("DELETE FROM webhooks WHERE id = 7");
    exec("DELETE FROM records WHERE seq IN (SELECT seq FROM audit WHERE action LIKE 'webhook.%')");
    assert_int_equal(verify_fails(msg, sizeof msg), CF_EINVALID);
    assert_non_null(strstr(msg, "not kept"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(bad_settings_are_refused_and_change_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(only_administrators, setup, teardown),
        cmocka_unit_test_setup_teardown(changes_are_audited_without_the_secret, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(types_match_exactly_by_prefix_or_all, setup, teardown),
        cmocka_unit_test_setup_teardown(one_event_per_case_at_a_time_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(events_behind_a_case_s_head_are_parked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(redelivery_keeps_each_case_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(a_lost_lease_comes_back, setup, teardown),
        cmocka_unit_test_setup_teardown(backoff_grows_with_jitter_and_a_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(dead_letters_mark_the_webhook_and_come_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_webhook_holds_a_bounded_number_of_deliveries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(delivery_needs_an_initialised_store_and_no_other_actor,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(altered_rows_are_found_and_not_used, setup, teardown),
    };
    return cmocka_run_group_tests_name("webhook", tests, NULL, NULL);
}
