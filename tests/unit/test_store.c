/* Unit tests for store.c: creating and recognising stores, refusing files
 * that are not caseflow stores, revision-checked case updates, savepoints,
 * timers and keys. Every test runs on a real SQLite file, but the last: stores
 * in memory (memvfs.c) are private, grow, roll back and shrink. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "store.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/cf-store-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/s.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void creates_private_store_and_reopens(void **state)
{
    (void)state;
    cf_store *s;
    cf_error err;
    assert_int_equal(cf_store_open(path, 0, 0, &s, &err), CF_ENOTFOUND);
    assert_int_equal(cf_store_open(path, 1, 0, &s, &err), 0);
    cf_store_close(s);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(cf_store_open(path, 0, 0, &s, &err), 0);
    int64_t n = -1;
    assert_int_equal(cf_store_user_count(s, &n, &err), 0);
    assert_int_equal(n, 0);
    cf_store_close(s);
}

static void refuses_foreign_files(void **state)
{
    (void)state;
    cf_store *s;
    cf_error err;
    FILE *f = fopen(path, "w");
    fputs("this is not a database, just text that is long enough to matter\n", f);
    fclose(f);
    assert_int_equal(cf_store_open(path, 0, 0, &s, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "not a caseflow store"));
    unlink(path);
    /* An SQLite database of some other application. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(cf_store_open(path, 1, 0, &s, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "not a caseflow store"));
    unlink(path);
    /* A caseflow store from the future. */
    assert_int_equal(cf_store_open(path, 1, 0, &s, &err), 0);
    cf_store_close(s);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL);
    sqlite3_close(db);
    assert_int_equal(cf_store_open(path, 0, 0, &s, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "newer"));
    unlink(path);
    /* A directory. */
    assert_int_equal(cf_store_open(dir, 0, 0, &s, &err), CF_EINVALID);
}

static cf_case_row row(int64_t seq, const char *id)
{
    cf_case_row r = {0};
    r.seq = seq;
    r.id = strdup(id);
    r.source = strdup("TEST");
    r.reference = strdup(id);
    r.workflow = strdup("wf");
    r.version = 1;
    r.state = strdup("a");
    r.data = json_object();
    r.revision = 1;
    r.created_at = r.updated_at = 1000;
    return r;
}

static void revision_checked_updates(void **state)
{
    (void)state;
    cf_store *s;
    cf_error err;
    assert_int_equal(cf_store_open(path, 1, 0, &s, &err), 0);
    cf_case_row r = row(1, "CF-000001");
    assert_int_equal(cf_store_begin(s, &err), 0);
    assert_int_equal(cf_store_case_insert(s, &r, "{}", &err), 0);
    assert_int_equal(cf_store_commit(s, &err), 0);
    /* A writer that read revision 1 wins once; the second is a conflict. */
    assert_int_equal(cf_store_begin(s, &err), 0);
    assert_int_equal(cf_store_case_update(s, &r, "{\"x\":1}", &err), 0);
    assert_int_equal(cf_store_case_update(s, &r, "{\"x\":2}", &err), CF_ECONFLICT);
    assert_int_equal(cf_store_commit(s, &err), 0);
    cf_case_row got;
    assert_int_equal(cf_store_case_get(s, "CF-000001", &got, &err), 0);
    assert_int_equal(got.revision, 2);
    assert_int_equal(json_integer_value(json_object_get(got.data, "x")), 1);
    cf_case_row_clear(&got);
    assert_int_equal(cf_store_case_get(s, "CF-999999", &got, &err), CF_ENOTFOUND);
    char *id, *st;
    assert_int_equal(cf_store_case_by_ref(s, "TEST", "CF-000001", &id, &st, &err), 0);
    assert_string_equal(id, "CF-000001");
    free(id);
    free(st);
    int64_t seq;
    assert_int_equal(cf_store_case_next_seq(s, &seq, &err), 0);
    assert_int_equal(seq, 2);
    cf_case_row_clear(&r);
    cf_store_close(s);
}

static void savepoints_undo_one_unit(void **state)
{
    (void)state;
    cf_store *s;
    cf_error err;
    assert_int_equal(cf_store_open(path, 1, 0, &s, &err), 0);
    cf_case_row a = row(1, "CF-000001"), b = row(2, "CF-000002");
    assert_int_equal(cf_store_begin(s, &err), 0);
    assert_int_equal(cf_store_savepoint(s, &err), 0);
    assert_int_equal(cf_store_case_insert(s, &a, "{}", &err), 0);
    assert_int_equal(cf_store_release(s, &err), 0);
    assert_int_equal(cf_store_savepoint(s, &err), 0);
    assert_int_equal(cf_store_case_insert(s, &b, "{}", &err), 0);
    cf_store_rollback_to(s);
    assert_true(cf_store_in_tx(s));
    assert_int_equal(cf_store_commit(s, &err), 0);
    json_t *list;
    assert_int_equal(cf_store_case_list(s, NULL, 0, &list, &err), 0);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    cf_case_row_clear(&a);
    cf_case_row_clear(&b);
    cf_store_close(s);
}

static void timers_and_keys(void **state)
{
    (void)state;
    cf_store *s;
    cf_error err;
    assert_int_equal(cf_store_open(path, 1, 0, &s, &err), 0);
    assert_int_equal(cf_store_begin(s, &err), 0);
    assert_int_equal(cf_store_timer_set(s, "CF-1", "x.expired", "x", 100, &err), 0);
    assert_int_equal(cf_store_timer_set(s, "CF-1", "x.expired", "x", 200, &err), 0);
    assert_int_equal(cf_store_timer_set(s, "CF-2", "y.expired", "y", 150, &err), 0);
    assert_int_equal(cf_store_key_add(s, "account", "p:u1", "CF-1", &err), 0);
    assert_int_equal(cf_store_key_add(s, "account", "p:u1", "CF-1", &err), 0);
    assert_int_equal(cf_store_key_add(s, "account", "p:u1", "CF-2", &err), 0);
    assert_int_equal(cf_store_commit(s, &err), 0);
    json_t *due;
    assert_int_equal(cf_store_timer_due(s, 160, 0, 10, &due, &err), 0);
    assert_int_equal(json_array_size(due), 1); /* the replaced timer is not due */
    assert_string_equal(json_string_value(json_object_get(json_array_get(due, 0), "case")),
                        "CF-2");
    json_decref(due);
    assert_int_equal(cf_store_begin(s, &err), 0);
    assert_int_equal(cf_store_timer_clear_state(s, "CF-1", "x", &err), 0);
    assert_int_equal(cf_store_commit(s, &err), 0);
    assert_int_equal(cf_store_timer_due(s, 1000, 0, 10, &due, &err), 0);
    assert_int_equal(json_array_size(due), 1);
    json_decref(due);
    json_t *ids;
    assert_int_equal(cf_store_key_find(s, "account", "p:u1", "CF-1", &ids, &err), 0);
    assert_int_equal(json_array_size(ids), 1);
    assert_string_equal(json_string_value(json_array_get(ids, 0)), "CF-2");
    json_decref(ids);
    cf_store_close(s);
}

static void read_only_store_refuses_writes(void **state)
{
    (void)state;
    cf_store *s;
    cf_error err;
    assert_int_equal(cf_store_open(path, 1, 0, &s, &err), 0);
    cf_store_close(s);
    assert_int_equal(cf_store_open(path, 0, 1, &s, &err), 0);
    int rc = cf_store_begin(s, &err);
    cf_user_row u = {.name = "x", .roles = "analyst", .created_by = "x", .os_users = ""};
    if (rc == 0)
        rc = cf_store_user_put(s, &u, true, &err);
    assert_int_equal(rc, CF_EIO);
    assert_non_null(strstr(err.message, "read-only"));
    cf_store_rollback(s);
    cf_store_close(s);
}

/* The text of case n's data: big enough that a few hundred cases fill many
 * of the memory VFS's chunks and more than its page cache. */
static char *big_data(int n)
{
    char *d = malloc(4200);
    int k = snprintf(d, 4200, "{\"n\":%d,\"pad\":\"", n);
    for (int i = 0; i < 4000; i++)
        d[k++] = (char)('a' + (n + i) % 26);
    snprintf(d + k, 4200 - (size_t)k, "\"}");
    return d;
}

static int insert_cases(cf_store *s, int from, int to)
{
    cf_error err;
    int rc = 0;
    for (int i = from; i < to && !rc; i++) {
        char id[32];
        snprintf(id, sizeof id, "CF-%06d", i);
        cf_case_row r = row(i, id);
        char *d = big_data(i);
        rc = cf_store_case_insert(s, &r, d, &err);
        free(d);
        cf_case_row_clear(&r);
    }
    return rc;
}

static void expect_cases(cf_store *s, int from, int to)
{
    cf_error err;
    for (int i = from; i < to; i++) {
        char id[32];
        snprintf(id, sizeof id, "CF-%06d", i);
        cf_case_row got;
        assert_int_equal(cf_store_case_get(s, id, &got, &err), 0);
        char *d = big_data(i), *t = json_dumps(got.data, JSON_COMPACT | JSON_SORT_KEYS);
        assert_string_equal(t, d);
        free(d);
        free(t);
        cf_case_row_clear(&got);
    }
}

static void memory_stores_are_private(void **state)
{
    (void)state;
    cf_store *a, *b;
    cf_error err;
    char cwd_file[200];
    assert_int_equal(cf_store_open(":memory:", 1, 0, &a, &err), 0);
    assert_int_equal(cf_store_open(":memory:", 1, 0, &b, &err), 0);
    /* in the memory VFS (whose commits do not slow down as the store
     * grows), not SQLite's ":memory:" */
    sqlite3_vfs *vfs = NULL;
    assert_int_equal(sqlite3_file_control(cf_store_db(a), "main", SQLITE_FCNTL_VFS_POINTER, &vfs),
                     SQLITE_OK);
    assert_non_null(vfs);
    assert_string_equal(vfs->zName, "caseflow-memory");
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(cf_store_db(a), "PRAGMA journal_mode", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "memory");
    sqlite3_finalize(st);
    /* 3000 cases of 4 KB: about 200 chunks, more than the page cache holds */
    assert_int_equal(cf_store_begin(a, &err), 0);
    assert_int_equal(insert_cases(a, 1, 3001), 0);
    assert_int_equal(cf_store_commit(a, &err), 0);
    cf_case_row got;
    assert_int_equal(cf_store_case_get(b, "CF-000001", &got, &err), CF_ENOTFOUND);
    /* a transaction that grew the store, rolled back, then another */
    assert_int_equal(cf_store_begin(a, &err), 0);
    assert_int_equal(insert_cases(a, 3001, 4001), 0);
    cf_store_rollback(a);
    assert_int_equal(cf_store_case_get(a, "CF-003001", &got, &err), CF_ENOTFOUND);
    assert_int_equal(cf_store_begin(a, &err), 0);
    assert_int_equal(insert_cases(a, 5001, 5501), 0);
    assert_int_equal(cf_store_commit(a, &err), 0);
    expect_cases(a, 1, 3001);
    expect_cases(a, 5001, 5501);
    /* shrinking the file (VACUUM truncates it) keeps what remains */
    assert_int_equal(sqlite3_exec(cf_store_db(a), "DELETE FROM cases WHERE seq > 1000; VACUUM",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    expect_cases(a, 1, 1001);
    assert_int_equal(cf_store_case_get(a, "CF-001001", &got, &err), CF_ENOTFOUND);
    assert_int_equal(cf_store_begin(a, &err), 0);
    assert_int_equal(insert_cases(a, 1001, 2001), 0);
    assert_int_equal(cf_store_commit(a, &err), 0);
    expect_cases(a, 1, 2001);
    assert_int_equal(sqlite3_prepare_v2(cf_store_db(a), "PRAGMA integrity_check", -1, &st,
                                        NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    assert_int_equal(cf_store_case_get(b, "CF-000001", &got, &err), CF_ENOTFOUND);
    cf_store_close(a);
    cf_store_close(b);
    /* nothing reached a file */
    snprintf(cwd_file, sizeof cwd_file, "caseflow-memory-store");
    assert_int_not_equal(access(cwd_file, F_OK), 0);
    assert_int_not_equal(access(":memory:", F_OK), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(creates_private_store_and_reopens, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_foreign_files, setup, teardown),
        cmocka_unit_test_setup_teardown(revision_checked_updates, setup, teardown),
        cmocka_unit_test_setup_teardown(savepoints_undo_one_unit, setup, teardown),
        cmocka_unit_test_setup_teardown(timers_and_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(read_only_store_refuses_writes, setup, teardown),
        cmocka_unit_test(memory_stores_are_private),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
