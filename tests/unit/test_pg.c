/* Unit tests for store/postgres.c, the statement layer over libpq, against
 * a real server: tests/pg/pg_stmt.sh starts a throwaway cluster
 * (tests/pg/cluster.sh) and sets CASEFLOW_PG_URI; without it the program
 * skips (77). The placeholder translation is also tested alone. Each test
 * makes its own tables (temporary where one connection is enough). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "store/postgres.h"

static const char *uri;

static cf_pg_conn *connect_ok(void)
{
    cf_pg_conn *c = NULL;
    char *msg = NULL;
    int rc = cf_pg_connect(uri, &c, &msg);
    if (rc != CF_DB_OK)
        fail_msg("cf_pg_connect(%s): %d %s", uri, rc, msg ? msg : "(no message)");
    assert_null(msg);
    assert_non_null(c);
    return c;
}

static void exec_ok(cf_pg_conn *c, const char *sql)
{
    int rc = cf_pg_exec(c, sql);
    if (rc != CF_DB_OK)
        fail_msg("%s: %d %s", sql, rc, cf_pg_errmsg(c));
}

static cf_pg_stmt *prepare_ok(cf_pg_conn *c, const char *sql)
{
    cf_pg_stmt *st = NULL;
    int rc = cf_pg_prepare(c, sql, &st);
    if (rc != CF_DB_OK)
        fail_msg("prepare %s: %d %s", sql, rc, cf_pg_errmsg(c));
    assert_non_null(st);
    return st;
}

/* ---- translation alone ---------------------------------------------------- */

static void expect_translation(const char *sql, const char *want, int want_n)
{
    char *out;
    int n;
    char **names;
    const char *err;
    assert_int_equal(cf_pg_translate(sql, &out, &n, &names, &err), CF_DB_OK);
    assert_null(err);
    assert_string_equal(out, want);
    assert_int_equal(n, want_n);
    cf_pg_translate_free(out, n, names);
}

static void translate_placeholders(void **state)
{
    (void)state;
    expect_translation("SELECT ?, ?,?", "SELECT $1, $2,$3", 3);
    expect_translation("SELECT 1", "SELECT 1", 0);
    expect_translation("", "", 0);
    /* Quotes, identifiers, comments (nested), dollar quotes: left alone. */
    expect_translation("SELECT '?:a', 'it''s ?', \"?b\"\"?\", ? -- ? :c\n + ?",
                       "SELECT '?:a', 'it''s ?', \"?b\"\"?\", $1 -- ? :c\n + $2", 2);
    expect_translation("/* ? /* :x */ ? */ ?", "/* ? /* :x */ ? */ $1", 1);
    expect_translation("SELECT E'\\' ?', ?", "SELECT E'\\' ?', $1", 1);
    /* Without the E a backslash is a plain character. */
    expect_translation("SELECT '\\', ?", "SELECT '\\', $1", 1);
    expect_translation("SELECT $$ ? :a $$, $q$ ?$$ $q$, ?", "SELECT $$ ? :a $$, $q$ ?$$ $q$, $1", 1);
    /* Casts are not parameters; a name repeated is one parameter. */
    expect_translation("SELECT :a::int8, x::text, :b, :a, ?", "SELECT $1::int8, x::text, $2, $1, $3", 3);
    /* ?NNN: its number; "?" then goes past the largest. */
    expect_translation("SELECT ?3, ?, ?1, :n", "SELECT $3, $4, $1, $5", 5);
    /* An unterminated quote runs to the end (the server will say). */
    expect_translation("SELECT 'x ?", "SELECT 'x ?", 0);
    /* UTF-8 in names and around. */
    expect_translation("SELECT 'é?', :nämé, :nämé", "SELECT 'é?', $1, $1", 1);
}

static void translate_names(void **state)
{
    (void)state;
    char *out;
    int n;
    char **names;
    const char *err;
    assert_int_equal(cf_pg_translate("SELECT ?2, :a, ?, :a, :b", &out, &n, &names, &err), CF_DB_OK);
    assert_string_equal(out, "SELECT $2, $3, $4, $3, $5");
    assert_int_equal(n, 5);
    assert_null(names[0]);
    assert_string_equal(names[1], "?2");
    assert_string_equal(names[2], ":a");
    assert_null(names[3]);
    assert_string_equal(names[4], ":b");
    cf_pg_translate_free(out, n, names);

    assert_int_equal(cf_pg_translate("SELECT ?0", &out, &n, &names, &err), CF_DB_ERROR);
    assert_non_null(strstr(err, "between ?1 and ?32766"));
    assert_null(out);
    assert_null(names);
    assert_int_equal(cf_pg_translate("SELECT ?32767", &out, &n, &names, &err), CF_DB_ERROR);
    assert_int_equal(cf_pg_translate("SELECT ?32766", &out, &n, &names, &err), CF_DB_OK);
    assert_int_equal(n, 32766);
    cf_pg_translate_free(out, n, names);
}

/* ---- against the server ----------------------------------------------------- */

static void placeholders_on_server(void **state)
{
    (void)state;
    cf_pg_conn *c = connect_ok();
    cf_pg_stmt *st = prepare_ok(c,
        "SELECT 'a ? :b' AS \"c?:d\", /* ? :y */ :x::int8 * 2 AS twice, ?::text AS t, "
        ":x::int8 + 1 AS next -- ? :z");
    assert_int_equal(cf_pg_stmt_param_count(st), 2);
    assert_int_equal(cf_pg_stmt_param_index(st, ":x"), 1);
    assert_int_equal(cf_pg_stmt_param_index(st, ":y"), 0);
    assert_int_equal(cf_pg_stmt_param_index(st, ":z"), 0);
    assert_int_equal(cf_pg_stmt_param_index(st, "x"), 0);
    assert_string_equal(cf_pg_stmt_param_name(st, 1), ":x");
    assert_null(cf_pg_stmt_param_name(st, 2));
    assert_null(cf_pg_stmt_param_name(st, 3));
    assert_int_equal(cf_pg_stmt_columns(st), 4);

    cf_pg_stmt_bind_int64(st, 1, 21);
    cf_pg_stmt_bind_text(st, 2, "hi", -1, 0);
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_ROW);
    assert_string_equal(cf_pg_stmt_text(st, 0), "a ? :b");
    assert_int_equal(cf_pg_stmt_int64(st, 1), 42);
    assert_string_equal(cf_pg_stmt_text(st, 2), "hi");
    assert_int_equal(cf_pg_stmt_int64(st, 3), 22);
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_DONE);
    cf_pg_stmt_finalize(st);

    /* A number skipped by ?NNN still prepares. */
    st = prepare_ok(c, "SELECT ?3::int8 + 1");
    assert_int_equal(cf_pg_stmt_param_count(st), 3);
    assert_string_equal(cf_pg_stmt_param_name(st, 3), "?3");
    assert_int_equal(cf_pg_stmt_param_index(st, "?3"), 3);
    cf_pg_stmt_bind_int64(st, 3, 6);
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_ROW);
    assert_int_equal(cf_pg_stmt_int64(st, 0), 7);
    cf_pg_stmt_finalize(st);

    /* Through the wrappers of db.h. */
    cf_stmt s = {.lite = NULL, .pg = prepare_ok(c, "SELECT :v::text || '!'")};
    cf_stmt_bind_text_copy(&s, cf_stmt_param_index(&s, ":v"), "wrapped");
    assert_int_equal(cf_stmt_step(&s), CF_DB_ROW);
    assert_string_equal(cf_stmt_text(&s, 0), "wrapped!");
    assert_int_equal(cf_stmt_type(&s, 0), CF_DB_TEXT);
    assert_int_equal(cf_stmt_step(&s), CF_DB_DONE);
    cf_pg_stmt_finalize(s.pg);

    /* Only comments: a statement that is done at once. */
    st = prepare_ok(c, "-- nothing to do");
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_DONE);
    cf_pg_stmt_finalize(st);
    cf_pg_close(c);
}

static const char utf8[] = "Zoë's \"quoted\" ✓ 'x' -- ? :n";
static const unsigned char blob[] = {0, 1, 0, 0xff, 0, '\\', 'x', 0};

static void round_trips(void **state)
{
    (void)state;
    cf_pg_conn *c = connect_ok();
    exec_ok(c, "CREATE TEMP TABLE r(k int4 PRIMARY KEY, i int8, f float8, s text, b bytea, "
               "flag bool, num numeric, small int2, real4 float4, vc varchar(40), j jsonb)");
    cf_pg_stmt *ins = prepare_ok(c, "INSERT INTO r(k, i, f, s, b) VALUES (:k, :i, :f, :s, :b)");
    assert_int_equal(cf_pg_stmt_param_count(ins), 5);
    const struct {
        int64_t i;
        double f;
    } rows[] = {
        {INT64_MIN, 0.1}, {INT64_MAX, -1e300}, {0, 1.0 / 3}, {-1, DBL_MIN / 4}, {42, DBL_MAX},
    };
    for (int k = 0; k < 5; k++) {
        cf_pg_stmt_bind_int64(ins, 1, k);
        cf_pg_stmt_bind_int64(ins, 2, rows[k].i);
        cf_pg_stmt_bind_double(ins, 3, rows[k].f);
        /* A copy freed at once, and a borrowed prefix. */
        char *tmp = strdup(utf8);
        if (k % 2)
            cf_pg_stmt_bind_text(ins, 4, tmp, -1, 1);
        else
            cf_pg_stmt_bind_text(ins, 4, utf8, (int)strlen(utf8) - k, 0);
        memset(tmp, 'X', strlen(tmp));
        free(tmp);
        cf_pg_stmt_bind_blob(ins, 5, blob, (int)sizeof blob - (k == 4 ? 0 : k));
        assert_int_equal(cf_pg_stmt_step(ins), CF_DB_DONE);
        assert_int_equal(cf_pg_stmt_changes(ins), 1);
        cf_pg_stmt_reset(ins);
    }
    /* NULLs everywhere; an empty blob; NaN binds NULL, as in SQLite. */
    cf_pg_stmt_clear(ins);
    cf_pg_stmt_bind_int64(ins, 1, 10);
    cf_pg_stmt_bind_double(ins, 3, NAN);
    cf_pg_stmt_bind_text(ins, 4, NULL, -1, 0);
    assert_int_equal(cf_pg_stmt_step(ins), CF_DB_DONE);
    cf_pg_stmt_bind_int64(ins, 1, 11);
    cf_pg_stmt_bind_blob(ins, 5, blob, 0);
    cf_pg_stmt_bind_text(ins, 4, "", -1, 0);
    cf_pg_stmt_bind_double(ins, 3, -INFINITY);
    assert_int_equal(cf_pg_stmt_step(ins), CF_DB_DONE);
    cf_pg_stmt_finalize(ins);

    cf_pg_stmt *sel = prepare_ok(c, "SELECT k, i, f, s, b FROM r ORDER BY k");
    assert_int_equal(cf_pg_stmt_columns(sel), 5);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(cf_pg_stmt_step(sel), CF_DB_ROW);
        assert_int_equal(cf_pg_stmt_int64(sel, 0), k);
        assert_int_equal(cf_pg_stmt_type(sel, 1), CF_DB_INTEGER);
        assert_true(cf_pg_stmt_int64(sel, 1) == rows[k].i);
        char dec[32];
        snprintf(dec, sizeof dec, "%lld", (long long)rows[k].i);
        assert_string_equal(cf_pg_stmt_text(sel, 1), dec);
        assert_int_equal(cf_pg_stmt_bytes(sel, 1), (int)strlen(dec));
        assert_int_equal(cf_pg_stmt_type(sel, 2), CF_DB_FLOAT);
        assert_true(cf_pg_stmt_double(sel, 2) == rows[k].f); /* exact */
        assert_int_equal(cf_pg_stmt_type(sel, 3), CF_DB_TEXT);
        size_t want = k % 2 ? strlen(utf8) : strlen(utf8) - (size_t)k;
        assert_int_equal(cf_pg_stmt_bytes(sel, 3), (int)want);
        assert_memory_equal(cf_pg_stmt_text(sel, 3), utf8, want);
        assert_int_equal(cf_pg_stmt_text(sel, 3)[want], '\0');
        assert_int_equal(cf_pg_stmt_type(sel, 4), CF_DB_BLOB);
        int blen = (int)sizeof blob - (k == 4 ? 0 : k);
        const void *b = cf_pg_stmt_blob(sel, 4);
        assert_int_equal(cf_pg_stmt_bytes(sel, 4), blen);
        assert_memory_equal(b, blob, (size_t)blen);
        assert_ptr_equal(cf_pg_stmt_blob(sel, 4), b); /* decoded once */
    }
    assert_int_equal(cf_pg_stmt_step(sel), CF_DB_ROW);
    assert_int_equal(cf_pg_stmt_int64(sel, 0), 10);
    for (int col = 1; col < 5; col++) {
        assert_int_equal(cf_pg_stmt_type(sel, col), CF_DB_NULL);
        assert_null(cf_pg_stmt_text(sel, col));
        assert_null(cf_pg_stmt_blob(sel, col));
        assert_int_equal(cf_pg_stmt_bytes(sel, col), 0);
        assert_int_equal(cf_pg_stmt_int64(sel, col), 0);
        assert_true(cf_pg_stmt_double(sel, col) == 0.0);
    }
    assert_int_equal(cf_pg_stmt_step(sel), CF_DB_ROW);
    assert_int_equal(cf_pg_stmt_int64(sel, 0), 11);
    assert_true(isinf(cf_pg_stmt_double(sel, 2)) && cf_pg_stmt_double(sel, 2) < 0);
    assert_int_equal(cf_pg_stmt_type(sel, 3), CF_DB_TEXT);
    assert_string_equal(cf_pg_stmt_text(sel, 3), "");
    assert_int_equal(cf_pg_stmt_type(sel, 4), CF_DB_BLOB);
    assert_int_equal(cf_pg_stmt_bytes(sel, 4), 0);
    assert_null(cf_pg_stmt_blob(sel, 4)); /* SQLite's answer for an empty blob */
    assert_int_equal(cf_pg_stmt_step(sel), CF_DB_DONE);
    /* No row: nothing to read. */
    assert_int_equal(cf_pg_stmt_type(sel, 0), CF_DB_NULL);
    assert_null(cf_pg_stmt_text(sel, 0));
    cf_pg_stmt_finalize(sel);
    cf_pg_close(c);
}

static void column_types(void **state)
{
    (void)state;
    cf_pg_conn *c = connect_ok();
    cf_pg_stmt *st = prepare_ok(c,
        "SELECT true, false, 7::int2, 8::int4, 9::oid, 1.5::float4, 2.25::numeric, "
        "'  42abc'::text, 'x'::varchar, '{\"a\": 1}'::jsonb, 'pg_class'::name, "
        "'\\x3132'::bytea, 12345678901234567890::numeric, -2.75::float8, 'abc'::text, "
        "'1e3'::text");
    assert_int_equal(cf_pg_stmt_columns(st), 16);
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_ROW);
    static const int types[] = {
        CF_DB_INTEGER, CF_DB_INTEGER, CF_DB_INTEGER, CF_DB_INTEGER, CF_DB_INTEGER,
        CF_DB_FLOAT, CF_DB_FLOAT, CF_DB_TEXT, CF_DB_TEXT, CF_DB_TEXT, CF_DB_TEXT,
        CF_DB_BLOB, CF_DB_FLOAT, CF_DB_FLOAT, CF_DB_TEXT, CF_DB_TEXT,
    };
    for (int k = 0; k < 16; k++)
        assert_int_equal(cf_pg_stmt_type(st, k), types[k]);
    assert_int_equal(cf_pg_stmt_int64(st, 0), 1);
    assert_string_equal(cf_pg_stmt_text(st, 0), "1");
    assert_int_equal(cf_pg_stmt_bytes(st, 0), 1);
    assert_int_equal(cf_pg_stmt_int64(st, 1), 0);
    assert_string_equal(cf_pg_stmt_text(st, 1), "0");
    assert_int_equal(cf_pg_stmt_int64(st, 2), 7);
    assert_int_equal(cf_pg_stmt_int64(st, 3), 8);
    assert_true(cf_pg_stmt_double(st, 3) == 8.0);
    assert_int_equal(cf_pg_stmt_int64(st, 4), 9);
    assert_true(cf_pg_stmt_double(st, 5) == 1.5);
    assert_int_equal(cf_pg_stmt_int64(st, 5), 1);
    assert_true(cf_pg_stmt_double(st, 6) == 2.25);
    assert_int_equal(cf_pg_stmt_int64(st, 7), 42); /* SQLite's leading integer */
    assert_true(cf_pg_stmt_double(st, 7) == 42.0);
    assert_string_equal(cf_pg_stmt_text(st, 9), "{\"a\": 1}");
    assert_string_equal(cf_pg_stmt_text(st, 10), "pg_class");
    assert_string_equal(cf_pg_stmt_text(st, 11), "12");
    assert_int_equal(cf_pg_stmt_int64(st, 11), 12);
    assert_true(cf_pg_stmt_int64(st, 12) == INT64_MAX); /* clamped */
    assert_int_equal(cf_pg_stmt_int64(st, 13), -2);
    assert_int_equal(cf_pg_stmt_int64(st, 14), 0);
    assert_true(cf_pg_stmt_double(st, 14) == 0.0);
    assert_int_equal(cf_pg_stmt_int64(st, 15), 1);
    assert_true(cf_pg_stmt_double(st, 15) == 1000.0);
    /* Out of range reads nothing. */
    assert_int_equal(cf_pg_stmt_type(st, 16), CF_DB_NULL);
    assert_int_equal(cf_pg_stmt_type(st, -1), CF_DB_NULL);
    assert_null(cf_pg_stmt_text(st, 99));
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_DONE);
    cf_pg_stmt_finalize(st);
    cf_pg_close(c);
}

static void done_reset_and_bindings(void **state)
{
    (void)state;
    cf_pg_conn *c = connect_ok();
    cf_pg_stmt *st = prepare_ok(c, "SELECT g, :tag::text FROM generate_series(1, :n::int) g");
    cf_pg_stmt_bind_int64(st, cf_pg_stmt_param_index(st, ":n"), 3);
    cf_pg_stmt_bind_text(st, cf_pg_stmt_param_index(st, ":tag"), "t", -1, 0);
    for (int pass = 0; pass < 3; pass++) {
        /* Pass 1: reset in the middle; pass 2: straight after DONE, which
         * runs it again as sqlite3_step does. Bindings are kept. */
        for (int k = 1; k <= 3; k++) {
            assert_int_equal(cf_pg_stmt_step(st), CF_DB_ROW);
            assert_int_equal(cf_pg_stmt_int64(st, 0), k);
            assert_string_equal(cf_pg_stmt_text(st, 1), "t");
            if (pass == 0 && k == 2)
                break;
        }
        if (pass == 0) {
            cf_pg_stmt_reset(st);
            continue;
        }
        assert_int_equal(cf_pg_stmt_step(st), CF_DB_DONE);
    }
    /* The server sees the new value at the next run. */
    cf_pg_stmt_reset(st);
    cf_pg_stmt_bind_int64(st, 2, 1);
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_ROW);
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_DONE);
    /* Cleared: every parameter NULL, so no rows at all. */
    cf_pg_stmt_clear(st);
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_DONE);
    assert_int_equal(cf_pg_stmt_columns(st), 2);
    cf_pg_stmt_finalize(st);
    cf_pg_close(c);
}

static void changes_counted(void **state)
{
    (void)state;
    cf_pg_conn *c = connect_ok();
    exec_ok(c, "CREATE TEMP TABLE ch(x int)");
    exec_ok(c, "INSERT INTO ch SELECT generate_series(1, 5)");
    assert_int_equal(cf_pg_changes(c), 5);
    cf_pg_stmt *up = prepare_ok(c, "UPDATE ch SET x = x + 10 WHERE x <= ?");
    cf_pg_stmt_bind_int64(up, 1, 3);
    assert_int_equal(cf_pg_stmt_step(up), CF_DB_DONE);
    assert_int_equal(cf_pg_changes(c), 3);
    assert_int_equal(cf_pg_stmt_changes(up), 3);
    /* A SELECT leaves the count alone. */
    cf_pg_stmt *sel = prepare_ok(c, "SELECT count(*) FROM ch");
    assert_int_equal(cf_pg_stmt_step(sel), CF_DB_ROW);
    assert_int_equal(cf_pg_stmt_int64(sel, 0), 5);
    assert_int_equal(cf_pg_changes(c), 3);
    assert_int_equal(cf_pg_stmt_changes(sel), 0);
    cf_pg_stmt *del = prepare_ok(c, "DELETE FROM ch WHERE x > 10 RETURNING x");
    int n = 0;
    while (cf_pg_stmt_step(del) == CF_DB_ROW)
        n++;
    assert_int_equal(n, 3);
    assert_int_equal(cf_pg_changes(c), 3);
    cf_pg_stmt_bind_int64(up, 1, 0);
    assert_int_equal(cf_pg_stmt_step(up), CF_DB_DONE);
    assert_int_equal(cf_pg_changes(c), 0);
    cf_pg_stmt_finalize(up);
    cf_pg_stmt_finalize(sel);
    cf_pg_stmt_finalize(del);
    cf_pg_close(c);
}

static void unique_violation(void **state)
{
    (void)state;
    cf_pg_conn *c = connect_ok();
    exec_ok(c, "CREATE TEMP TABLE u(k text PRIMARY KEY)");
    cf_pg_stmt *st = prepare_ok(c, "INSERT INTO u VALUES (?)");
    cf_pg_stmt_bind_text(st, 1, "REF-0001", -1, 0);
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_DONE);
    assert_string_equal(cf_pg_errmsg(c), "not an error");
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_CONSTRAINT);
    const char *msg = cf_pg_errmsg(c);
    assert_non_null(strstr(msg, "duplicate key value violates unique constraint"));
    assert_null(strchr(msg, '\n'));
    /* The next step runs it again. */
    cf_pg_stmt_bind_text(st, 1, "REF-0002", -1, 0);
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_DONE);
    /* NOT NULL is a constraint too. */
    cf_pg_stmt_bind_null(st, 1);
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_CONSTRAINT);
    cf_pg_stmt_finalize(st);
    cf_pg_close(c);
}

static void row_lock_is_busy(void **state)
{
    (void)state;
    cf_pg_conn *a = connect_ok(), *b = connect_ok();
    char sql[160];
    snprintf(sql, sizeof sql, "DROP TABLE IF EXISTS lk_%d; CREATE TABLE lk_%d(id int PRIMARY KEY); "
             "INSERT INTO lk_%d VALUES (1)", (int)getpid(), (int)getpid(), (int)getpid());
    exec_ok(a, sql);
    exec_ok(a, "BEGIN");
    snprintf(sql, sizeof sql, "SELECT id FROM lk_%d WHERE id = 1 FOR UPDATE", (int)getpid());
    exec_ok(a, sql);
    snprintf(sql, sizeof sql, "SELECT id FROM lk_%d WHERE id = ? FOR UPDATE NOWAIT", (int)getpid());
    cf_pg_stmt *st = prepare_ok(b, sql);
    cf_pg_stmt_bind_int64(st, 1, 1);
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_BUSY);
    assert_non_null(strstr(cf_pg_errmsg(b), "could not obtain lock"));
    exec_ok(a, "ROLLBACK");
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_ROW);
    assert_int_equal(cf_pg_stmt_int64(st, 0), 1);
    cf_pg_stmt_finalize(st);
    snprintf(sql, sizeof sql, "DROP TABLE lk_%d", (int)getpid());
    exec_ok(a, sql);
    cf_pg_close(b);
    cf_pg_close(a);
}

static void errors_mapped(void **state)
{
    (void)state;
    cf_pg_conn *c = connect_ok();
    cf_pg_stmt *st = NULL;
    assert_int_equal(cf_pg_prepare(c, "SELECT * FROM no_such_table", &st), CF_DB_ERROR);
    assert_null(st);
    assert_non_null(strstr(cf_pg_errmsg(c), "does not exist"));
    assert_int_equal(cf_pg_prepare(c, "SELECT ?0", &st), CF_DB_ERROR);
    assert_non_null(strstr(cf_pg_errmsg(c), "?1"));
    assert_int_equal(cf_pg_exec(c, "SELEC 1"), CF_DB_ERROR);
    assert_non_null(strstr(cf_pg_errmsg(c), "syntax error"));

    /* In a failed transaction everything fails until ROLLBACK; a statement
     * finalized meanwhile is deallocated after it. */
    cf_pg_stmt *one = prepare_ok(c, "SELECT 1");
    exec_ok(c, "BEGIN");
    assert_int_equal(cf_pg_exec(c, "SELECT 1/0"), CF_DB_ERROR);
    assert_non_null(strstr(cf_pg_errmsg(c), "division by zero"));
    assert_int_equal(cf_pg_stmt_step(one), CF_DB_ERROR);
    assert_non_null(strstr(cf_pg_errmsg(c), "current transaction is aborted"));
    cf_pg_stmt_finalize(one);
    exec_ok(c, "ROLLBACK");
    st = prepare_ok(c, "SELECT count(*) FROM pg_prepared_statements");
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_ROW);
    assert_int_equal(cf_pg_stmt_int64(st, 0), 1); /* this one alone */
    cf_pg_stmt_finalize(st);

    /* Privileges: a role without any. */
    exec_ok(c, "DROP TABLE IF EXISTS priv_t; CREATE TABLE priv_t(x int); "
               "DROP ROLE IF EXISTS cf_nobody; CREATE ROLE cf_nobody");
    exec_ok(c, "SET ROLE cf_nobody");
    assert_int_equal(cf_pg_exec(c, "SELECT * FROM priv_t"), SQLITE_PERM);
    assert_non_null(strstr(cf_pg_errmsg(c), "permission denied"));
    exec_ok(c, "RESET ROLE; DROP TABLE priv_t; DROP ROLE cf_nobody");
    cf_pg_close(c);
}

static int64_t prepared_count(cf_pg_conn *c)
{
    cf_pg_stmt *st = prepare_ok(c, "SELECT count(*) FROM pg_prepared_statements");
    assert_int_equal(cf_pg_stmt_step(st), CF_DB_ROW);
    int64_t n = cf_pg_stmt_int64(st, 0);
    cf_pg_stmt_finalize(st);
    return n - 1; /* not that one */
}

static void deallocated_outside_transactions(void **state)
{
    (void)state;
    cf_pg_conn *c = connect_ok();
    cf_pg_stmt *a = prepare_ok(c, "SELECT 1"), *b = prepare_ok(c, "SELECT 2");
    assert_int_equal(prepared_count(c), 2);
    cf_pg_stmt_finalize(a);
    assert_int_equal(prepared_count(c), 1);
    /* In a transaction the server keeps it until the transaction ends. */
    exec_ok(c, "BEGIN");
    cf_pg_stmt_finalize(b);
    assert_int_equal(prepared_count(c), 1);
    exec_ok(c, "COMMIT");
    assert_int_equal(prepared_count(c), 0);
    cf_pg_close(c);
}

static void lost_connection_is_ioerr(void **state)
{
    (void)state;
    cf_pg_conn *a = connect_ok(), *b = connect_ok();
    cf_pg_stmt *pid = prepare_ok(b, "SELECT pg_backend_pid()");
    assert_int_equal(cf_pg_stmt_step(pid), CF_DB_ROW);
    int64_t bpid = cf_pg_stmt_int64(pid, 0);
    cf_pg_stmt_reset(pid);
    cf_pg_stmt *kill = prepare_ok(a, "SELECT pg_terminate_backend(?::int)");
    cf_pg_stmt_bind_int64(kill, 1, bpid);
    assert_int_equal(cf_pg_stmt_step(kill), CF_DB_ROW);
    assert_int_equal(cf_pg_stmt_int64(kill, 0), 1);
    cf_pg_stmt_finalize(kill);
    /* The backend may take a moment to go. */
    int rc = CF_DB_ROW;
    for (int k = 0; k < 50 && rc == CF_DB_ROW; k++) {
        rc = cf_pg_stmt_step(pid);
        cf_pg_stmt_reset(pid);
        if (rc == CF_DB_ROW)
            usleep(20000);
    }
    assert_int_equal(rc, SQLITE_IOERR);
    assert_null(strchr(cf_pg_errmsg(b), '\n'));
    /* Closed with a statement open: that one may still be finalized. */
    cf_pg_close(b);
    cf_pg_stmt_finalize(pid);
    cf_pg_close(a);
}

static void unreachable_cantopen(void **state)
{
    (void)state;
    cf_pg_conn *c = (cf_pg_conn *)&c;
    char *msg = NULL;
    assert_int_equal(cf_pg_connect("postgresql://caseflow_admin@/postgres?host=/nonexistent-cf-dir"
                                   "&port=1",
                                   &c, &msg),
                     SQLITE_CANTOPEN);
    assert_null(c);
    assert_non_null(msg);
    assert_true(strlen(msg) > 0);
    assert_null(strchr(msg, '\n'));
    free(msg);
    /* A server that is there, a database that is not. */
    char bad[512];
    const char *q = strchr(uri, '?');
    snprintf(bad, sizeof bad, "postgresql://caseflow_admin@/no_such_db%s", q ? q : "");
    assert_int_equal(cf_pg_connect(bad, &c, &msg), SQLITE_CANTOPEN);
    assert_non_null(strstr(msg, "no_such_db"));
    assert_null(strchr(msg, '\n'));
    free(msg);
    assert_int_equal(cf_pg_connect("not a uri=", &c, NULL), SQLITE_CANTOPEN);
    cf_pg_close(NULL);
    cf_pg_stmt_finalize(NULL);
}

int main(void)
{
    const struct CMUnitTest offline[] = {
        cmocka_unit_test(translate_placeholders),
        cmocka_unit_test(translate_names),
    };
    const struct CMUnitTest online[] = {
        cmocka_unit_test(placeholders_on_server),
        cmocka_unit_test(round_trips),
        cmocka_unit_test(column_types),
        cmocka_unit_test(done_reset_and_bindings),
        cmocka_unit_test(changes_counted),
        cmocka_unit_test(unique_violation),
        cmocka_unit_test(row_lock_is_busy),
        cmocka_unit_test(errors_mapped),
        cmocka_unit_test(deallocated_outside_transactions),
        cmocka_unit_test(lost_connection_is_ioerr),
        cmocka_unit_test(unreachable_cantopen),
    };
    int failed = cmocka_run_group_tests_name("translate", offline, NULL, NULL);
    uri = getenv("CASEFLOW_PG_URI");
    if (!uri || !*uri) {
        fprintf(stderr, "test_pg: CASEFLOW_PG_URI is not set (run tests/pg/pg_stmt.sh); skipping\n");
        return failed ? 1 : 77;
    }
    failed += cmocka_run_group_tests_name("postgres", online, NULL, NULL);
    return failed ? 1 : 0;
}
