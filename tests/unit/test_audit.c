/* Unit tests for audit.c: the chain verifies, and editing, deleting or
 * reordering any record behind the engine's back is found and named. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "audit.h"
#include "integrity.h"

static char dir[64];
static char path[128];
static cf_store *s;

static int setup(void **state)
{
    (void)state;
    cf_error err;
    snprintf(dir, sizeof dir, "/tmp/cf-audit-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/a.db", dir);
    if (cf_store_open(path, 1, 0, &s, &err))
        return -1;
    if (cf_store_begin(s, &err))
        return -1;
    for (int i = 0; i < 10; i++) {
        char c[16], p[64];
        snprintf(c, sizeof c, "CF-%06d", i % 3 + 1);
        snprintf(p, sizeof p, "{\"n\":%d}", i);
        if (cf_audit_append(s, 1000 + i, "officer.one", i % 2 ? "officer" : NULL,
                            i % 4 ? "change" : "consultation", c,
                            i == 5 ? "line one\n\"quoted\" \\ \x01" : "checks", p, NULL, &err))
            return -1;
    }
    return cf_store_commit(s, &err) ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    cf_store_close(s);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void verify(int expect_rc, int64_t expect_bad)
{
    json_t *out;
    cf_error err;
    int rc = cf_audit_verify_store(s, &out, &err);
    assert_int_equal(rc, expect_rc);
    if (expect_bad)
        assert_int_equal(json_integer_value(json_object_get(out, "first_bad")), expect_bad);
    else
        assert_int_equal(json_integer_value(json_object_get(out, "records")), 10);
    json_decref(out);
}

static void exec(const char *sql)
{
    assert_int_equal(sqlite3_exec(cf_store_db(s), sql, NULL, NULL, NULL), SQLITE_OK);
}

static void intact_chain_verifies(void **state)
{
    (void)state;
    verify(0, 0);
}

static void append_needs_a_transaction(void **state)
{
    (void)state;
    cf_error err;
    assert_int_equal(cf_audit_append(s, 1, "a", NULL, "change", NULL, NULL, NULL, NULL, &err),
                     CF_EINTERNAL);
}

/* Every column of the audit table, changed in one record, breaks the chain
 * at that record (or, for prev/hash, at it or the next). */
static void every_column_edit_is_found(void **state)
{
    (void)state;
    static const char *const edits[] = {
        "UPDATE audit SET at=at+1 WHERE seq=4",
        "UPDATE audit SET actor='someone.else' WHERE seq=4",
        "UPDATE audit SET role='supervisor' WHERE seq=4",
        "UPDATE audit SET action='erasure' WHERE seq=4",
        "UPDATE audit SET case_id='CF-000009' WHERE seq=4",
        "UPDATE audit SET justification='other' WHERE seq=4",
        "UPDATE audit SET digest='00' || substr(digest,3) WHERE seq=4",
        "UPDATE audit SET prev='00' || substr(prev,3) WHERE seq=4",
        "UPDATE audit SET hash='00' || substr(hash,3) WHERE seq=4",
        "UPDATE audit SET seq=99 WHERE seq=4",
        "DELETE FROM audit WHERE seq=4",
        "DELETE FROM audit WHERE seq=1",
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        exec("SAVEPOINT t");
        exec(edits[i]);
        json_t *out;
        cf_error err;
        int rc = cf_audit_verify_store(s, &out, &err);
        if (rc != CF_EINVALID)
            fail_msg("not detected: %s", edits[i]);
        int64_t bad = json_integer_value(json_object_get(out, "first_bad"));
        assert_true(bad >= 1 && bad <= 5);
        assert_non_null(strstr(err.message, "audit chain broken at record"));
        json_decref(out);
        exec("ROLLBACK TO t; RELEASE t");
        verify(0, 0);
    }
}

static void swapping_records_is_found(void **state)
{
    (void)state;
    exec("UPDATE audit SET seq=-1 WHERE seq=3; UPDATE audit SET seq=3 WHERE seq=4;"
         "UPDATE audit SET seq=4 WHERE seq=-1");
    verify(CF_EINVALID, 3);
}

static void truncated_tail_still_verifies_prefix(void **state)
{
    (void)state;
    /* Deleting the newest records is not visible to the chain alone; signed
     * checkpoints (a later issue) close that gap. Here: the prefix is sound. */
    exec("DELETE FROM audit WHERE seq=10");
    json_t *out;
    cf_error err;
    assert_int_equal(cf_audit_verify_store(s, &out, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(out, "records")), 9);
    json_decref(out);
}

/* The history payload writer gives the bytes jansson's canonical text
 * gives, for ordinary and awkward strings alike (the chain of every store
 * made before it depends on that). */
static void event_payload_is_canonical_json(void **state)
{
    (void)state;
    static const char *const values[] = {
        NULL, "", "officer.one", "with \"quotes\" and \\backslash\\", "tab\tnl\nret\r",
        "\x01\x02\x1f controls \b\f", "slash / del \x7f", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    };
    const size_t nv = sizeof values / sizeof values[0];
    for (size_t i = 0; i < nv * nv; i++) {
        const char *a = values[i % nv], *b = values[i / nv];
        cf_event_fields f = {.case_id = b ? b : "CF-000001", .at = (int64_t)i * 7919 - 40000,
                             .actor = a ? a : "admin", .role = a, .event = b ? b : "submit",
                             .outcome = b, .from = a, .to = a ? a : "waiting",
                             .data_sha256 = b, .plugin = a, .plugin_version = b,
                             .plugin_sha256 = a, .case_sha256 = b};
        char *mine = cf_integrity_event_payload(&f);
        json_t *o = json_pack(
            "{s:s, s:I, s:s, s:s?, s:s, s:s?, s:s?, s:s, s:s?, s:s?, s:s?, s:s?, s:s?}", "case",
            f.case_id, "at", (json_int_t)f.at, "actor", f.actor, "role", f.role, "event",
            f.event, "outcome", f.outcome, "from", f.from, "to", f.to, "data_sha256",
            f.data_sha256, "plugin", f.plugin, "plugin_version", f.plugin_version,
            "plugin_sha256", f.plugin_sha256, "case_sha256", f.case_sha256);
        assert_non_null(o);
        char *theirs = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        json_decref(o);
        assert_non_null(mine);
        assert_string_equal(mine, theirs);
        free(mine);
        free(theirs);
    }
    /* Not UTF-8: refused, as jansson refuses it. */
    cf_event_fields bad = {.case_id = "CF-1", .actor = "a\xff", .event = "e", .to = "t"};
    assert_null(cf_integrity_event_payload(&bad));
}

/* The tasks part of a case digest hashes SQLite's json_array(status,
 * assignee, closed_at, result) as text. On PostgreSQL integrity.c builds
 * those bytes by concatenation (TASK_STATUS_PG); each expected string here
 * is what that PostgreSQL 15 text returned for the row (checked by hand on
 * 15.18, byte for byte), so a SQLite whose json_array escapes differently
 * fails here before a store moved between backends fails verify. */
static void tasks_status_json_matches_postgresql(void **state)
{
    (void)state;
    static const struct {
        const char *status, *assignee;
        bool has_closed;
        int64_t closed;
        const char *result, *expect;
    } rows[] = {
        {"done", NULL, false, 0, NULL,
         "[\"done\",null,null,null]"},
        {"", "/slash", true, -13, "nl\012x",
         "[\"\",\"/slash\",-13,\"nl\\nx\"]"},
        {"a\"b", "tab\011here", true, -6, "cr\015x",
         "[\"a\\\"b\",\"tab\\there\",-6,\"cr\\rx\"]"},
        {"back\\slash", "nl\012x", false, 0, "\010\014",
         "[\"back\\\\slash\",\"nl\\nx\",null,\"\\b\\f\"]"},
        {"/slash", NULL, true, 8, "\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020\021\022\023\024\025\026\027\030\031\032\033\034\035\036\037",
         "[\"/slash\",null,8,\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\"]"},
        {"tab\011here", "\010\014", true, 15, NULL,
         "[\"tab\\there\",\"\\b\\f\",15,null]"},
        {"nl\012x", "\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020\021\022\023\024\025\026\027\030\031\032\033\034\035\036\037", false, 0, "\303\251 \303\274 \303\237",
         "[\"nl\\nx\",\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\",null,\"\303\251 \303\274 \303\237\"]"},
        {"cr\015x", "del\177", true, 29, "\342\200\250\342\200\251",
         "[\"cr\\rx\",\"del\177\",29,\"\342\200\250\342\200\251\"]"},
        {"\010\014", NULL, true, 36, "\357\277\277",
         "[\"\\b\\f\",null,36,\"\357\277\277\"]"},
        {"\001\002\003\004\005\006\007\010\011\012\013\014\015\016\017\020\021\022\023\024\025\026\027\030\031\032\033\034\035\036\037", "\342\200\250\342\200\251", false, 0, "\360\237\230\200 emoji",
         "[\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\",\"\342\200\250\342\200\251\",null,\"\360\237\230\200 emoji\"]"},
        {"del\177", "\357\277\277", true, 50, NULL,
         "[\"del\177\",\"\357\277\277\",50,null]"},
        {"\303\251 \303\274 \303\237", "\360\237\230\200 emoji", true, 57, "'single'",
         "[\"\303\251 \303\274 \303\237\",\"\360\237\230\200 emoji\",57,\"'single'\"]"},
        {"\342\200\250\342\200\251", NULL, false, 0, "null",
         "[\"\342\200\250\342\200\251\",null,null,\"null\"]"},
        {"\357\277\277", "'single'", true, 71, "[1,2]",
         "[\"\357\277\277\",\"'single'\",71,\"[1,2]\"]"},
        {"\360\237\230\200 emoji", "null", true, 78, "\355\237\277",
         "[\"\360\237\230\200 emoji\",\"null\",78,\"\355\237\277\"]"},
        {"mix \"q\" \\ \001 \037 \303\251", "[1,2]", false, 0, NULL,
         "[\"mix \\\"q\\\" \\\\ \\u0001 \\u001f \303\251\",\"[1,2]\",null,null]"},
        {"'single'", NULL, true, 92, "",
         "[\"'single'\",null,92,\"\"]"},
        {"null", "done", true, 99, "a\"b",
         "[\"null\",\"done\",99,\"a\\\"b\"]"},
        {"[1,2]", "", false, 0, "back\\slash",
         "[\"[1,2]\",\"\",null,\"back\\\\slash\"]"},
        {"\355\237\277", "a\"b", true, 113, "/slash",
         "[\"\355\237\277\",\"a\\\"b\",113,\"/slash\"]"},
        {"done", "x", true, INT64_MIN, NULL, "[\"done\",\"x\",-9223372036854775808,null]"},
    };
    cf_error err;
    cf_stmt *st = cf_store_stmt(s, "SELECT json_array(?1, ?2, ?3, ?4)", &err);
    assert_non_null(st);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        cf_stmt_bind_text(st, 1, rows[i].status);
        if (rows[i].assignee)
            cf_stmt_bind_text(st, 2, rows[i].assignee);
        else
            cf_stmt_bind_null(st, 2);
        if (rows[i].has_closed)
            cf_stmt_bind_int64(st, 3, rows[i].closed);
        else
            cf_stmt_bind_null(st, 3);
        if (rows[i].result)
            cf_stmt_bind_text(st, 4, rows[i].result);
        else
            cf_stmt_bind_null(st, 4);
        assert_int_equal(cf_stmt_step(st), CF_DB_ROW);
        assert_int_equal(cf_stmt_type(st, 0), CF_DB_TEXT);
        assert_int_equal(cf_stmt_bytes(st, 0), (int)strlen(rows[i].expect));
        assert_memory_equal(cf_stmt_text(st, 0), rows[i].expect, strlen(rows[i].expect));
        cf_stmt_reset(st);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(event_payload_is_canonical_json),
        cmocka_unit_test_setup_teardown(intact_chain_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(append_needs_a_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(every_column_edit_is_found, setup, teardown),
        cmocka_unit_test_setup_teardown(swapping_records_is_found, setup, teardown),
        cmocka_unit_test_setup_teardown(truncated_tail_still_verifies_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(tasks_status_json_matches_postgresql, setup, teardown),
    };
    return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
