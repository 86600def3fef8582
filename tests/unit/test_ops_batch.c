/*
 * The NDJSON batch of referral.create (engine/ops/op_referral.c) as
 * caseflowd runs it: through the real writer (engine/server/writer.c: one
 * store transaction per group of jobs, committed before the answer), on a
 * real store file, with the test-only "good" plugin and a workflow whose
 * transition function fails for a reference that starts with "BOOM"
 * (tests/data/ops_batch/batch.lua).
 *
 * The rule every test checks (assert_rule): a batch answers either with
 * per-line results that are all true after the commit (each line reported
 * taken in is in the store under its id and reference; each line reported
 * not taken in is not), or with an error, and then nothing of it was saved.
 * Cases: refused lines among good ones; a failure that is not a refusal
 * (CF_ESCRIPT) mid-batch and on the first line; a batch over the line
 * limit; and, as root where a small tmpfs can be mounted (skipped
 * otherwise), a disk that fills up mid-batch, alone and with another job
 * in the same group transaction.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "caseflow/caseflow.h"
#include "ops/ops.h"
#include "server/writer.h"

#define T0 1793000000 /* the engine clock (a test-clock store) */

static char dir[64], mnt[96], path[160];
static bool mounted;
static cfd_writer *w;

static const char *srcdir(void)
{
    const char *s = getenv("CASEFLOW_SRCDIR");
    return s ? s : ".";
}

/* ---- the store and the writer ----------------------------------------------------- */

/* A store at path: initialised (test clock), an analyst, the batch
 * workflow deployed. 0, or -1 with a message. */
static int make_store(void)
{
    cf_error err;
    cf_engine *e;
    char wf[512];
    json_t *out;
    snprintf(wf, sizeof wf, "%s/tests/data/ops_batch/batch.lua", srcdir());
    cf_open_options o = {.create = 1};
    if (cf_engine_open(path, &o, &e, &err)) {
        fprintf(stderr, "open: %s\n", err.message);
        return -1;
    }
    cf_engine_set_clock(e, T0);
    cf_engine_set_actor(e, "admin", NULL);
    static const char *const analyst[] = {"analyst", NULL};
    int rc = cf_store_init_with(e, &(cf_init_options){.test_clock = 1}, &err);
    if (!rc)
        rc = cf_user_add(e, "analyst1", analyst, &err);
    if (!rc && !(rc = cf_workflow_deploy(e, wf, &out, &err)))
        json_decref(out);
    if (rc)
        fprintf(stderr, "store: %s\n", err.message);
    cf_engine_close(e);
    return rc ? -1 : 0;
}

static int open_writer(void)
{
    cf_error err;
    struct cfd_writer_options o = {.store = path, .have_clock = 1, .clock = T0};
    if (cfd_writer_open(&o, &w, &err)) {
        fprintf(stderr, "writer: %s\n", err.message);
        return -1;
    }
    return 0;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/cf-opsbatch-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/s.db", dir);
    if (make_store() == 0 && open_writer() == 0)
        return 0;
    char cmd[160]; /* cmocka runs no teardown after a failed setup */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    return -1;
}

static int teardown(void **state)
{
    (void)state;
    cfd_writer_close(w);
    w = NULL;
    if (mounted && umount2(mnt, 0) != 0)
        umount2(mnt, MNT_DETACH);
    mounted = false;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ---- batches ------------------------------------------------------------------------ */

/* An NDJSON body under construction (open_memstream). */
struct body {
    char *text;
    size_t len;
    FILE *f;
};

static void body_open(struct body *b)
{
    memset(b, 0, sizeof *b);
    b->f = open_memstream(&b->text, &b->len);
    assert_non_null(b->f);
}

/* A referral line with reference ref (without its source when bad, which
 * the engine refuses: CF_EINVALID). */
static void body_referral(struct body *b, const char *ref, bool bad)
{
    fprintf(b->f,
            "{%s\"reference\":\"%s\",\"received_at\":\"2026-11-02T09:15:00Z\","
            "\"ip_events\":[{\"ip\":\"192.0.2.1\",\"at\":\"2026-10-30T21:14:05+01:00\"}]}\n",
            bad ? "" : "\"source\":\"TEST\",", ref);
}

static void body_text(struct body *b, const char *line)
{
    fprintf(b->f, "%s\n", line);
}

static void body_close(struct body *b)
{
    assert_int_equal(fclose(b->f), 0);
    b->f = NULL;
}

/* One request's job on the writer, as caseflowd's op_job runs it. */
struct batch {
    const char *text;
    size_t len;
    json_t *out;
    int status;
};

static int batch_job(cf_engine *e, void *arg, cf_error *err)
{
    struct batch *b = arg;
    json_t *args = json_pack("{s:s}", "workflow", "batch");
    cf_op_ctx ctx = {.engine = e, .args = args, .body_text = b->text, .body_len = b->len,
                     .expect_revision = -1};
    const cf_op *op = cf_op_find("referral.create");
    int rc = op->run(&ctx, &b->out, &b->status, err);
    json_decref(args);
    return rc;
}

/* Lines the operation reported taken in before the last commit (which
 * may then have failed). */
static json_int_t answered;

/* Send the batch through the writer: its result (*out new, NULL on an
 * error: as caseflowd, what a failed job handed back is dropped). */
static int send_batch(const struct body *b, json_t **out, int *status, cf_error *err)
{
    struct batch j = {.text = b->text, .len = b->len};
    memset(err, 0, sizeof *err);
    int rc = cfd_writer_run(w, "analyst1", "unit test", batch_job, &j, err);
    answered = json_integer_value(json_object_get(j.out, "accepted"));
    if (rc) {
        json_decref(j.out);
        j.out = NULL;
    }
    *out = j.out;
    *status = j.status;
    return rc;
}

/* ---- what the store holds, through a connection of its own ----------------------------- */

static sqlite3 *reader(void)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* The id of the case of (TEST, ref) (new string), or NULL. */
static char *case_of(sqlite3 *db, const char *ref)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT id FROM cases WHERE source = 'TEST'"
                                        " AND reference = ?",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, ref, -1, SQLITE_STATIC);
    char *id = NULL;
    if (sqlite3_step(st) == SQLITE_ROW)
        id = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return id;
}

/* Cases whose reference starts with prefix. */
static long cases_like(sqlite3 *db, const char *prefix)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM cases"
                                        " WHERE substr(reference, 1, length(?1)) = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/*
 * The rule, for a batch of new referrals: an error saved nothing of it (no
 * case whose reference starts with prefix); a result is true line by line,
 * and of the references that start with prefix, the store holds exactly
 * those reported taken in.
 */
static void assert_rule(int rc, const json_t *out, const char *prefix)
{
    sqlite3 *db = reader();
    if (rc != 0) {
        assert_null(out);
        if (cases_like(db, prefix) != 0)
            fail_msg("the batch answered %s, yet %ld of its referrals were saved",
                     cf_err_name(rc), cases_like(db, prefix));
        sqlite3_close(db);
        return;
    }
    const json_t *results = json_object_get(out, "results"), *r;
    size_t i, taken = 0, mine = 0;
    assert_true(json_is_array(results));
    json_array_foreach(results, i, r) {
        const char *ref = json_string_value(json_object_get(r, "reference"));
        const char *id = json_string_value(json_object_get(r, "id"));
        char *saved = ref ? case_of(db, ref) : NULL;
        if (id) {
            taken++;
            mine += ref && strncmp(ref, prefix, strlen(prefix)) == 0;
            if (!saved || strcmp(saved, id) != 0)
                fail_msg("line %lld (%s) was reported taken in as %s, but the store has %s",
                         (long long)json_integer_value(json_object_get(r, "line")), ref, id,
                         saved ? saved : "no such case");
        } else {
            assert_non_null(json_object_get(r, "error"));
            if (saved)
                fail_msg("line %lld (%s) was reported not taken in, but the store has %s",
                         (long long)json_integer_value(json_object_get(r, "line")), ref,
                         saved);
        }
        free(saved);
    }
    assert_int_equal(json_integer_value(json_object_get(out, "accepted")), taken);
    assert_int_equal(json_integer_value(json_object_get(out, "refused")),
                     json_array_size(results) - taken);
    assert_int_equal(cases_like(db, prefix), mine);
    sqlite3_close(db);
}

/* The error member of result i, checked to carry code. */
static const json_t *line_error(const json_t *out, size_t i, const char *code)
{
    const json_t *r = json_array_get(json_object_get(out, "results"), i);
    const json_t *e = json_object_get(r, "error");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "code")), code);
    return e;
}

/* ---- the tests -------------------------------------------------------------------- */

static void refused_lines_spoil_only_themselves(void **state)
{
    (void)state;
    struct body b;
    body_open(&b);
    body_referral(&b, "A-1", false);
    body_text(&b, "{not json");
    body_text(&b, "");
    body_referral(&b, "A-2", true);
    body_referral(&b, "A-3", false);
    body_close(&b);
    json_t *out;
    int status;
    cf_error err;
    int rc = send_batch(&b, &out, &status, &err);
    assert_int_equal(rc, 0);
    assert_rule(rc, out, "A-");
    assert_int_equal(status, 207);
    assert_int_equal(json_integer_value(json_object_get(out, "accepted")), 2);
    assert_int_equal(json_integer_value(json_object_get(out, "refused")), 2);
    line_error(out, 1, "CF_EINVALID");
    line_error(out, 2, "CF_EINVALID");
    assert_int_equal(json_integer_value(json_object_get(
                         json_array_get(json_object_get(out, "results"), 3), "line")),
                     5);
    json_decref(out);
    free(b.text);
}

/* A line that fails for a reason other than its data (here a workflow
 * script error) after lines were taken in: the batch stops, and its answer
 * is true after the commit. */
static void failure_mid_batch_keeps_the_rule(void **state)
{
    (void)state;
    struct body b;
    body_open(&b);
    body_referral(&b, "B-1", false);
    body_text(&b, "[]");
    body_referral(&b, "B-2", false);
    body_referral(&b, "BOOM-B-3", false);
    body_referral(&b, "B-4", false);
    body_text(&b, "{not json");
    body_close(&b);
    json_t *out;
    int status;
    cf_error err;
    int rc = send_batch(&b, &out, &status, &err);
    assert_rule(rc, out, "B-");
    assert_rule(rc, out, "BOOM-B-");
    /* How it keeps it: the lines so far stay taken in, the failing line
     * and those after it are reported not taken in. */
    if (rc)
        fail_msg("the batch answered %s: %s", cf_err_name(rc), err.message);
    assert_int_equal(status, 207);
    assert_int_equal(json_integer_value(json_object_get(out, "accepted")), 2);
    assert_int_equal(json_integer_value(json_object_get(out, "refused")), 4);
    const json_t *e = line_error(out, 3, "CF_ESCRIPT");
    assert_int_equal(json_integer_value(json_object_get(e, "status")), 500);
    e = line_error(out, 4, "CF_ESCRIPT");
    assert_string_equal(json_string_value(json_object_get(e, "field")), "batch");
    assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "line 4"));
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(out, "results"), 4), "reference")),
                        "B-4");
    line_error(out, 5, "CF_ESCRIPT");
    json_decref(out);
    free(b.text);
    /* The engine goes on: the same lines but the failing one, again. */
    body_open(&b);
    body_referral(&b, "B-1", false);
    body_referral(&b, "B-4", false);
    body_close(&b);
    rc = send_batch(&b, &out, &status, &err);
    assert_int_equal(rc, 0);
    assert_int_equal(status, 200);
    assert_true(json_is_false(json_object_get(
        json_array_get(json_object_get(out, "results"), 0), "created")));
    assert_true(json_is_true(json_object_get(
        json_array_get(json_object_get(out, "results"), 1), "created")));
    json_decref(out);
    free(b.text);
}

/* The same failure before any line was taken in: the batch fails as a
 * whole and saved nothing. */
static void failure_before_any_line_fails_the_batch(void **state)
{
    (void)state;
    struct body b;
    body_open(&b);
    body_text(&b, "{not json");
    body_referral(&b, "BOOM-C-1", false);
    body_referral(&b, "C-2", false);
    body_close(&b);
    json_t *out;
    int status;
    cf_error err;
    int rc = send_batch(&b, &out, &status, &err);
    assert_rule(rc, out, "C-");
    assert_rule(rc, out, "BOOM-C-");
    assert_int_equal(rc, CF_ESCRIPT);
    free(b.text);
}

/* Over the line limit: refused as a whole before any line runs, even when
 * the first lines are good. */
static void too_many_lines_refused_before_any_runs(void **state)
{
    (void)state;
    struct body b;
    body_open(&b);
    body_referral(&b, "D-1", false);
    for (int i = 0; i < 100000; i++)
        body_text(&b, "1");
    body_close(&b);
    json_t *out;
    int status;
    cf_error err;
    int rc = send_batch(&b, &out, &status, &err);
    assert_rule(rc, out, "D-");
    assert_int_equal(rc, CF_EINVALID);
    assert_string_equal(err.field, "body");
    free(b.text);
}

/* ---- a full disk (root, tmpfs) ---------------------------------------------------------- */

/* The store on a fresh tmpfs of size MiB, the writer open on it; skips the
 * test where a tmpfs cannot be mounted. */
static void store_on_tmpfs(int size)
{
    cfd_writer_close(w);
    w = NULL;
    snprintf(mnt, sizeof mnt, "%s/mnt", dir);
    assert_int_equal(mkdir(mnt, 0700), 0);
    char opts[64];
    snprintf(opts, sizeof opts, "size=%dm,mode=0700", size);
    if (geteuid() != 0 || mount("caseflow-test", mnt, "tmpfs", 0, opts) != 0) {
        fprintf(stderr, "# skipped: cannot mount a tmpfs here (%s)\n",
                geteuid() ? "not root" : strerror(errno));
        skip();
    }
    mounted = true;
    snprintf(path, sizeof path, "%s/s.db", mnt);
    assert_int_equal(make_store(), 0);
}

/* Fill the tmpfs but for about keep KiB, with a file fill_free removes. */
static void fill(long keep)
{
    char filler[160], block[65536];
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    int fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    memset(block, 0, sizeof block);
    off_t size = 0;
    ssize_t n;
    while ((n = write(fd, block, sizeof block)) > 0)
        size += n;
    assert_int_equal(ftruncate(fd, size > keep * 1024 ? size - keep * 1024 : 0), 0);
    close(fd);
}

static void fill_free(void)
{
    char filler[160];
    snprintf(filler, sizeof filler, "%s/filler", mnt);
    assert_int_equal(unlink(filler), 0);
}

/* A batch of n referrals prefix1..prefixn, each with a note of PAD
 * bytes: together far more than the store's page cache (16 MB), so their
 * pages go to the WAL mid-batch, where the disk is full. */
#define BIG 3000
#define PAD 12000

static void big_body(struct body *b, const char *prefix, int n)
{
    static char note[PAD + 1];
    memset(note, 'x', PAD);
    body_open(b);
    for (int i = 1; i <= n; i++)
        fprintf(b->f,
                "{\"source\":\"TEST\",\"reference\":\"%s%d\","
                "\"received_at\":\"2026-11-02T09:15:00Z\",\"note\":\"%s\","
                "\"ip_events\":[{\"ip\":\"192.0.2.1\",\"at\":\"2026-10-30T21:14:05+01:00\"}]}\n",
                prefix, i, note);
    body_close(b);
}

static void full_disk_mid_batch_keeps_the_rule(void **state)
{
    (void)state;
    store_on_tmpfs(256);
    assert_int_equal(open_writer(), 0);
    fill(512);
    struct body b;
    big_body(&b, "E-", BIG);
    json_t *out;
    int status;
    cf_error err;
    int rc = send_batch(&b, &out, &status, &err);
    fprintf(stderr, "# a full disk: the operation answered %lld lines taken in; the request: %s\n",
            (long long)answered, rc ? err.message : "answered");
    assert_rule(rc, out, "E-");
    assert_true(rc == 0 || rc == CF_EIO);
    json_decref(out);
    free(b.text);
    /* Room again: the store goes on, and its first lines are new. */
    fill_free();
    big_body(&b, "E-", 50);
    rc = send_batch(&b, &out, &status, &err);
    if (rc)
        fail_msg("after the disk was freed: %s", err.message);
    assert_rule(rc, out, "E-");
    assert_int_equal(json_integer_value(json_object_get(out, "accepted")), 50);
    assert_int_equal(status, 200);
    json_decref(out);
    free(b.text);
}

/* The same, with another command after the batch in the same group
 * transaction, as the writer runs a group (cf_batch_begin, each job,
 * cf_batch_commit; when the commit fails, every job of the group fails):
 * whatever the full disk cost, the batch's answer and the other job's are
 * true after the group's commit. */
static void full_disk_then_another_job_in_the_group(void **state)
{
    (void)state;
    store_on_tmpfs(256);
    fill(512);
    cf_engine *e;
    cf_error err;
    cf_open_options o = {0};
    assert_int_equal(cf_engine_open(path, &o, &e, &err), 0);
    cf_engine_set_clock(e, T0);
    assert_int_equal(cf_engine_set_actor(e, "analyst1", "unit test"), 0);
    struct body b;
    big_body(&b, "F-", BIG);
    struct batch j = {.text = b.text, .len = b.len};
    assert_int_equal(cf_batch_begin(e, &err), 0);
    int rc = batch_job(e, &j, &err);
    json_t *other = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "source", "TEST", "reference",
                              "G-1", "received_at", "2026-11-02T09:15:00Z", "ip_events", "ip",
                              "192.0.2.1", "at", "2026-10-30T21:14:05+01:00");
    json_t *other_out = NULL;
    cf_error other_err;
    int other_rc = cf_refer(e, "batch", other, &other_out, &other_err);
    int commit = cf_batch_commit(e, &err);
    fprintf(stderr, "# the batch: %s, %lld taken in; the other job: %s; the commit: %s\n",
            rc ? cf_err_name(rc) : "answered",
            (long long)json_integer_value(json_object_get(j.out, "accepted")),
            other_rc ? cf_err_name(other_rc) : "taken in", commit ? err.message : "done");
    if (commit && !rc) /* as the writer: the group failed, not saved */
        rc = CF_EIO;
    if (commit && !other_rc)
        other_rc = CF_EIO;
    if (rc) {
        json_decref(j.out);
        j.out = NULL;
    }
    assert_rule(rc, j.out, "F-");
    /* And the other job's answer is as true: saved if and only if taken in. */
    sqlite3 *db = reader();
    char *id = case_of(db, "G-1");
    sqlite3_close(db);
    if ((other_rc == 0) != (id != NULL))
        fail_msg("the other job answered %s, but the store %s it", cf_err_name(other_rc),
                 id ? "holds" : "does not hold");
    free(id);
    json_decref(other);
    json_decref(other_out);
    json_decref(j.out);
    cf_engine_close(e);
    free(b.text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(refused_lines_spoil_only_themselves, setup, teardown),
        cmocka_unit_test_setup_teardown(failure_mid_batch_keeps_the_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(failure_before_any_line_fails_the_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(too_many_lines_refused_before_any_runs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(full_disk_mid_batch_keeps_the_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(full_disk_then_another_job_in_the_group, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
