/*
 * Moving a store (issue 12): `caseflow store copy FROM TO` copies a store
 * onto another backend (SQLite to PostgreSQL and back) with its audit chain
 * intact.
 *
 * The rows are copied through the statement layer (store/db.h), table by
 * table in a fixed order, each value with its storage class and its bytes,
 * so every row hashes on the target as it hashed on the source and every
 * case digest, history record and signature the chain holds still holds.
 * What differs is the schema: a PostgreSQL store's digest is computed from
 * its catalog, not from SQLite's. The copy therefore ends with a record of
 * its own, store.copy, right after the head it copied (chain.c accepts it
 * only there), carrying the new schema digest, and signs it at once with
 * the store's own key.
 *
 * All of it is one transaction on the target: the schema, the rows, the
 * record and its signature commit together or not at all. A SQLite target
 * is written to a file beside TO and moved to TO's name only once it is
 * complete; a PostgreSQL target is a database without a caseflow schema,
 * and the schema is made inside the copy's transaction.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../audit.h"
#include "../integrity.h"
#include "../machine.h"
#include "../sign.h"
#include "store_int.h"

/* The tables copied, in this order; each with its columns as both backends
 * name them and the order its rows are read in (timers: the order they were
 * set in, which the due-timer cursor's tie-breaker keeps). The store's own
 * identity (schema_version; PostgreSQL's store_identity) belongs to the
 * schema the target is made with, not to the copy. */
static const struct copy_table {
    const char *name, *what, *cols, *order_lite, *order_pg;
    int ncols;
} tables[] = {
    {"meta", "store copy: meta", "key, value", "key", NULL, 2},
    {"users", "store copy: users",
     "name, roles, disabled, created_at, created_by, audit_seq, os_users", "name", NULL, 7},
    {"workflows", "store copy: workflows",
     "name, version, declared_version, hash, bundle, deployed_at, deployed_by, audit_seq",
     "name, version", NULL, 8},
    {"policies", "store copy: policies", "key, value, audit_seq", "key", NULL, 3},
    {"cases", "store copy: cases",
     "seq, id, source, reference, workflow, version, state, data, revision, created_at,"
     " updated_at, deadline_at, review_at, legal_hold, disposed_at",
     "seq", NULL, 15},
    {"events", "store copy: events",
     "seq, case_id, at, actor, role, event, outcome, from_state, to_state, data, data_sha256,"
     " plugin, plugin_version, plugin_sha256, case_sha256, audit_seq",
     "seq", NULL, 16},
    {"timers", "store copy: timers", "case_id, event, state, due_at", "rowid", "rid", 4},
    {"tasks", "store copy: tasks",
     "seq, case_id, role, kind, detail, status, created_at, assignee, closed_at, result", "seq",
     NULL, 10},
    {"keys", "store copy: keys", "kind, value, case_id", "kind, value, case_id", NULL, 3},
    {"notifications", "store copy: notifications", "seq, case_id, channel, payload, created_at",
     "seq", NULL, 5},
    {"tokens", "store copy: tokens",
     "id, \"user\", hash, note, created_at, created_by, expires_at, revoked_at, last_used_at,"
     " audit_seq",
     "id", NULL, 10},
    {"idempotency", "store copy: idempotency",
     "actor, key, case_id, request, result, at, audit_seq", "actor, key", NULL, 7},
    {"webhooks", "store copy: webhooks",
     "id, url, events, secret, created_at, created_by, removed_at, audit_seq, cursor, failing",
     "id", NULL, 10},
    {"deliveries", "store copy: deliveries",
     "hook, seq, case_id, attempts, next_at, state, last_error", "hook, seq", NULL, 7},
    {"audit", "store copy: audit",
     "seq, at, actor, role, action, case_id, justification, digest, prev, hash", "seq", NULL,
     10},
    {"checkpoints", "store copy: checkpoints", "seq, signed_seq, head, at, signature", "seq",
     NULL, 5},
    {"records", "store copy: records", "seq, subject, payload", "seq", NULL, 3},
};
#define NTABLES (sizeof tables / sizeof tables[0])

static int count_rows(cf_store *s, const char *table, int64_t *n, cf_error *err)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    cf_stmt *st;
    int rc = cf_store_prepare(s, sql, &st);
    if (rc != CF_DB_OK)
        return cf_store_error(s, rc, "count rows", err);
    rc = cf_stmt_step(st);
    *n = rc == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    cf_stmt_finalize(st);
    return rc == CF_DB_ROW ? 0 : cf_store_error(s, rc, "count rows", err);
}

/* Every row of table t from `from` into `to`, each value as it is stored. */
static int copy_table(cf_store *from, cf_store *to, const struct copy_table *t, int64_t total,
                      int64_t *copied, cf_error *err)
{
    char sel[512], ins[640], marks[64] = "";
    const char *order = cf_store_is_pg(from) && t->order_pg ? t->order_pg : t->order_lite;
    snprintf(sel, sizeof sel, "SELECT %s FROM %s ORDER BY %s", t->cols, t->name, order);
    for (int i = 0; i < t->ncols; i++)
        strcat(marks, i ? ",?" : "?");
    snprintf(ins, sizeof ins, "INSERT INTO %s(%s) VALUES(%s)", t->name, t->cols, marks);
    cf_stmt *src = NULL, *dst = NULL;
    int rc = cf_store_prepare(from, sel, &src);
    if (rc != CF_DB_OK)
        return cf_store_error(from, rc, "read the source", err);
    if ((rc = cf_store_prepare(to, ins, &dst)) != CF_DB_OK) {
        cf_stmt_finalize(src);
        return cf_store_error(to, rc, "write the copy", err);
    }
    int64_t n = 0;
    cf_store_progress(from, t->what, 0, total);
    while ((rc = cf_stmt_step(src)) == CF_DB_ROW) {
        for (int c = 0; c < t->ncols; c++) {
            switch (cf_stmt_type(src, c)) {
            case CF_DB_INTEGER:
                cf_stmt_bind_int64(dst, c + 1, cf_stmt_int64(src, c));
                break;
            case CF_DB_FLOAT:
                cf_stmt_bind_double(dst, c + 1, cf_stmt_double(src, c));
                break;
            case CF_DB_TEXT: {
                const char *v = cf_stmt_text(src, c);
                cf_stmt_bind_textn(dst, c + 1, v, cf_stmt_bytes(src, c));
                break;
            }
            case CF_DB_BLOB: {
                const void *v = cf_stmt_blob(src, c);
                cf_stmt_bind_blob(dst, c + 1, v, cf_stmt_bytes(src, c));
                break;
            }
            default:
                cf_stmt_bind_null(dst, c + 1);
            }
        }
        int w = cf_stmt_step(dst);
        cf_stmt_reset(dst);
        cf_stmt_clear(dst);
        if (w != CF_DB_DONE) {
            rc = cf_store_error(to, w, "write the copy", err);
            break;
        }
        n++;
        cf_store_progress(from, t->what, n, total < n ? n : total);
    }
    if (rc == CF_DB_DONE)
        rc = 0;
    else if (rc > 0) /* the read failed (a write failure is a CF_E code already) */
        rc = cf_store_error(from, rc, "read the source", err);
    cf_stmt_finalize(src);
    cf_stmt_finalize(dst);
    cf_store_progress(from, t->what, n, n);
    *copied = n;
    return rc;
}

/* A SQLite file and what SQLite may keep beside it, removed. */
static void unlink_sqlite(const char *path)
{
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < 4; i++) {
        char p[PATH_MAX + 16];
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        unlink(p);
    }
}

/* The directory of path, synced (best effort): a rename is durable once
 * the directory is. */
static void sync_dir_of(const char *path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

#if CF_WITH_POSTGRES
/* A connection to the PostgreSQL database of uri, which must hold no
 * caseflow schema. */
static int open_pg_target(const char *uri, cf_store **out, cf_error *err)
{
    *out = NULL;
    cf_store *s = calloc(1, sizeof *s);
    if (!s || !(s->path = cf_pg_store_redact(uri))) {
        free(s);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    int64_t uv = 0;
    int rc = cf_pg_store_open(s, uri, 1, 0, &uv, err);
    if (rc == CF_EINVALID || (!rc && uv))
        rc = cf_err_set(err, CF_EINVALID, "to",
                        "%s already has a caseflow schema; copy into a database without one "
                        "(nothing was changed)",
                        s->path);
    if (rc) {
        cf_store_close(s);
        return rc;
    }
    *out = s;
    return 0;
}
#endif

int cf_store_copy_tables(cf_store *from, const char *to, const cf_store_copy_hooks *h,
                         json_t **rows, cf_error *err)
{
    *rows = NULL;
    bool pg = cf_store_is_pg_uri(to);
    cf_store *t = NULL;
    char tmp[PATH_MAX];
    int rc = 0;
    /* TO first: refused before anything is read or made. */
    if (pg) {
#if CF_WITH_POSTGRES
        rc = open_pg_target(to, &t, err);
#else
        rc = cf_store_open(to, 1, 0, &t, err); /* says caseflow was built without it */
#endif
        if (rc)
            return rc;
    } else {
        struct stat sb;
        if (strcmp(to, ":memory:") == 0)
            return cf_err_set(err, CF_EUSAGE, "to", "a copy goes to a file or a postgresql:// "
                                                    "URI, not :memory:");
        if (lstat(to, &sb) == 0)
            return cf_err_set(err, CF_EINVALID, "to",
                              "%s already exists; a copy makes a new store (nothing was changed)",
                              to);
        if (errno != ENOENT)
            return cf_err_set(err, CF_EIO, "to", "%s: %s", to, strerror(errno));
        if ((size_t)snprintf(tmp, sizeof tmp, "%s.copy-%ld", to, (long)getpid()) >= sizeof tmp)
            return cf_err_set(err, CF_EUSAGE, "to", "%s: path too long", to);
    }
    if (h->ready && (rc = h->ready(h->ctx, err))) {
        cf_store_close(t);
        return rc;
    }
    if (!pg) {
        unlink_sqlite(tmp);
        if ((rc = cf_store_open(tmp, 1, 0, &t, err)))
            return rc;
    }
    json_t *counts = json_object();
    int64_t totals[NTABLES];
    if (!counts)
        rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    /* One snapshot of the source for the whole copy. */
    if (!rc)
        rc = cf_store_begin_read(from, err);
    bool reading = !rc;
    for (size_t i = 0; i < NTABLES && !rc; i++)
        rc = count_rows(from, tables[i].name, &totals[i], err);
    if (!rc)
        rc = cf_store_begin(t, err);
#if CF_WITH_POSTGRES
    if (!rc && pg) {
        if (!(rc = cf_pg_store_create(t, err)))
            t->version = CF_SCHEMA_VERSION;
    }
#endif
    for (size_t i = 0; i < NTABLES && !rc; i++) {
        int64_t n = 0;
        rc = copy_table(from, t, &tables[i], totals[i], &n, err);
        if (!rc && json_object_set_new(counts, tables[i].name, json_integer(n)))
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    if (!rc && h->finish)
        rc = h->finish(h->ctx, t, counts, err);
    if (reading)
        cf_store_rollback(from);
    if (!rc)
        rc = cf_store_commit(t, err);
    else if (t && cf_store_in_tx(t))
        cf_store_rollback(t);
    if (!rc && !pg) {
        /* One file, complete, under TO's name, and never over a file that
         * appeared there meanwhile. */
        char *msg = NULL;
        if (sqlite3_exec(cf_store_db(t), "PRAGMA journal_mode=DELETE", NULL, NULL, &msg) !=
            SQLITE_OK)
            rc = cf_err_set(err, CF_EIO, "to", "%s: %s", tmp, msg ? msg : "journal mode");
        sqlite3_free(msg);
        cf_store_close(t);
        t = NULL;
        if (!rc && link(tmp, to) != 0)
            rc = cf_err_set(err, errno == EEXIST ? CF_EINVALID : CF_EIO, "to",
                            "cannot make %s: %s", to, strerror(errno));
        if (!rc)
            sync_dir_of(to);
    }
    cf_store_close(t);
    if (!pg)
        unlink_sqlite(tmp);
    if (rc)
        json_decref(counts);
    else
        *rows = counts;
    return rc;
}

/* ---- the engine's part: verify, record, sign ------------------------------------ */

struct copy_ctx {
    cf_engine *e;
    const char *to, *key_dir;
    bool to_pg;
    int64_t head_seq; /* the source's head, as its verify found it */
    char head[65];
    json_t *from_report;
    char *init_kp, *kp; /* the key path record 1 holds; the one the copy records */
    char key_written[PATH_MAX], pub_written[PATH_MAX + 8];
    int64_t copy_seq, at;
};

static int verify_source(void *ctx, cf_error *err)
{
    struct copy_ctx *x = ctx;
    cf_verify_options o;
    memset(&o, 0, sizeof o);
    json_t *report = NULL;
    int rc = cf_audit_verify_opts(x->e, &o, &report, err);
    if (rc) {
        char why[sizeof err->message];
        snprintf(why, sizeof why, "%s", err ? err->message : "");
        json_decref(report);
        return cf_err_set(err, rc, "from", "%s does not verify, so it is not copied: %s",
                          x->e->store_path, why);
    }
    x->from_report = report;
    const char *h = json_string_value(json_object_get(report, "head"));
    snprintf(x->head, sizeof x->head, "%s", h ? h : "");
    x->head_seq = json_integer_value(json_object_get(report, "records"));
    return 0;
}

/* The whole of file src into a new file dst (mode), never over one. */
static int copy_file(const char *src, const char *dst, mode_t mode, cf_error *err)
{
    char buf[4096];
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return cf_err_set(err, errno == ENOENT ? CF_ENOTFOUND : CF_EIO, "key", "%s: %s", src,
                          strerror(errno));
    ssize_t n = read(in, buf, sizeof buf);
    close(in);
    if (n < 0 || n == (ssize_t)sizeof buf)
        return cf_err_set(err, CF_EIO, "key", "%s: cannot read the key", src);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0)
        return cf_err_set(err, errno == EEXIST ? CF_EINVALID : CF_EIO, "key_dir",
                          "cannot write %s: %s", dst, strerror(errno));
    bool ok = write(out, buf, (size_t)n) == n && fsync(out) == 0;
    sodium_memzero(buf, sizeof buf);
    if (close(out) != 0 || !ok) {
        unlink(dst);
        return cf_err_set(err, CF_EIO, "key_dir", "cannot write %s", dst);
    }
    return 0;
}

/* --key-dir: the store's key pair into DIR, where the copy records it (a
 * pair already there must be the store's own). */
static int place_key(struct copy_ctx *x, cf_error *err)
{
    cf_engine *e = x->e;
    int rc = cf_sign_keydir(x->key_dir, err);
    if (rc)
        return rc;
    char *abs = realpath(x->key_dir, NULL);
    if (!abs)
        return cf_err_set(err, CF_EIO, "key_dir", "%s: %s", x->key_dir, strerror(errno));
    const char *base = "caseflow";
    if (!x->to_pg) {
        base = strrchr(x->to, '/');
        base = base ? base + 1 : x->to;
    }
    char path[PATH_MAX], pub[PATH_MAX + 8], src_pub[PATH_MAX + 8];
    int len = snprintf(path, sizeof path, "%s/%s.key", abs, base);
    free(abs);
    if (len < 0 || (size_t)len >= sizeof path)
        return cf_err_set(err, CF_EUSAGE, "key_dir", "%s: path too long", x->key_dir);
    snprintf(pub, sizeof pub, "%s.pub", path);
    snprintf(src_pub, sizeof src_pub, "%s.pub", e->key_path);
    if (access(path, F_OK) == 0) {
        unsigned char sk[CF_SIGN_SK_BYTES];
        char pk[65];
        if ((rc = cf_sign_load_secret(path, sk, err)))
            return rc;
        cf_sign_public_of(sk, pk);
        sodium_memzero(sk, sizeof sk);
        if (!e->public_key || strcmp(pk, e->public_key) != 0)
            return cf_err_set(err, CF_EINVALID, "key_dir",
                              "%s holds another key than the store's; choose another --key-dir",
                              path);
    } else {
        if ((rc = copy_file(e->key_path, path, 0600, err)))
            return rc;
        snprintf(x->key_written, sizeof x->key_written, "%s", path);
        unlink(pub); /* a stale public key must never stand beside the secret */
        if (copy_file(src_pub, pub, 0644, NULL) == 0)
            snprintf(x->pub_written, sizeof x->pub_written, "%s", pub);
    }
    free(x->kp);
    if (!(x->kp = strdup(path)))
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    return 0;
}

static int record_copy(void *ctx, cf_store *t, const json_t *rows, cf_error *err)
{
    struct copy_ctx *x = ctx;
    cf_engine *e = x->e;
    int64_t seq = 0, at = 0, tseq = 0;
    char hash[65], thash[65], digest[65];
    /* The snapshot copied is the one verified: a writer in between would
     * have copied records no verify has seen. */
    int rc = cf_audit_head_at(e->store, &seq, hash, &at, err);
    if (!rc)
        rc = cf_audit_head(t, &tseq, thash, err);
    if (!rc && (seq != x->head_seq || strcmp(hash, x->head) != 0))
        rc = cf_err_set(err, CF_ECONFLICT, "from",
                        "%s changed while it was copied (record %lld was the head verified, "
                        "%lld the head copied); copy it again when no one writes to it",
                        e->store_path, (long long)x->head_seq, (long long)seq);
    if (!rc && (tseq != seq || strcmp(thash, hash) != 0))
        rc = cf_err_set(err, CF_EINTERNAL, "to", "the copied chain's head is not the source's");
    if (!rc && x->key_dir)
        rc = place_key(x, err);
    if (!rc)
        rc = cf_store_schema_digest(t, digest, err);
    if (rc)
        return rc;
    int64_t now = cf_engine_now(e);
    x->at = now > at ? now : at;
    json_t *p = json_pack("{s:{s:s, s:s, s:I, s:s}, s:{s:s}, s:O, s:s, s:I}", "from",
                          "backend", cf_store_is_pg(e->store) ? "postgresql" : "sqlite", "store",
                          e->store_path, "head_seq", (json_int_t)seq, "head", hash, "to",
                          "backend", x->to_pg ? "postgresql" : "sqlite", "rows", rows, "schema",
                          digest, "version", (json_int_t)cf_store_version(t));
    if (p && x->kp)
        json_object_set_new(p, "key_path", json_string(x->kp));
    if (p && x->init_kp)
        json_object_set_new(p, "init_key_path", json_string(x->init_kp));
    char *text = p ? cf_json_canonical(p) : NULL;
    json_decref(p);
    if (!text)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    rc = cf_audit_append(t, x->at, e->actor, "administrator", "store.copy", NULL, e->reason,
                         text, &x->copy_seq, err);
    free(text);
    char num[32];
    snprintf(num, sizeof num, "%lld", (long long)x->copy_seq);
    if (!rc)
        rc = cf_store_meta_set(t, "schema_seq", num, err);
    if (!rc && x->kp)
        rc = cf_store_meta_set(t, "key_path", x->kp, err);
    /* Signed at once, with the store's own key: the copy's record is
     * covered by a signature before anyone else can write to the copy. */
    if (!rc && e->public_key)
        rc = cf_audit_checkpoint(t, e->sk, e->store_id, x->at, e->actor, "administrator", NULL,
                                 err);
    return rc;
}

int cf_store_copy(cf_engine *e, const char *to, const cf_copy_options *opts, json_t **out,
                  cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    static const char *const admin[] = {"administrator"};
    if (!to || !*to)
        return cf_err_set(err, CF_EUSAGE, "to", "store copy needs TO: a file or a URI");
    int rc = cf_engine_require(e, admin, 1, "copy the store", NULL, err);
    if (rc)
        return rc;
    if (!e->store_id)
        return cf_err_set(err, CF_EINVALID, "from", "%s is not initialised (run caseflow init)",
                          e->store_path);
    /* The copy is signed with the store's own key, which stays on this
     * machine: only its owner copies the store. */
    if (e->public_key && (rc = cf_engine_ensure_key(e, NULL)) != 0)
        return cf_err_set(err, e->sk_err.code ? e->sk_err.code : CF_EDENIED, "key",
                          "a copy is signed with the store's key: %s", e->sk_err.message);
    struct copy_ctx x;
    memset(&x, 0, sizeof x);
    x.e = e;
    x.to = to;
    x.to_pg = cf_store_is_pg_uri(to);
    x.key_dir = opts && opts->key_dir && *opts->key_dir ? opts->key_dir : NULL;
    if ((rc = cf_integrity_init_key_path(e->store, &x.init_kp, err)) ||
        (rc = cf_store_meta_get(e->store, "key_path", &x.kp, err))) {
        free(x.init_kp);
        return rc;
    }
    cf_store_copy_hooks h = {.ready = verify_source, .finish = record_copy, .ctx = &x};
    json_t *rows = NULL;
    rc = cf_store_copy_tables(e->store, to, &h, &rows, err);
    if (rc) {
        /* a key placed for a copy that did not happen goes again */
        if (x.key_written[0])
            unlink(x.key_written);
        if (x.pub_written[0])
            unlink(x.pub_written);
    }
    /* The copy, verified as a store of its own. */
    cf_engine *te = NULL;
    json_t *to_report = NULL;
    if (!rc) {
        cf_open_options o;
        memset(&o, 0, sizeof o);
        o.readonly = true;
        o.key_path = x.kp;
        if (!(rc = cf_engine_open(to, &o, &te, err))) {
            cf_engine_set_progress(te, e->progress, e->progress_ctx);
            cf_verify_options vo;
            memset(&vo, 0, sizeof vo);
            if ((rc = cf_audit_verify_opts(te, &vo, &to_report, err))) {
                char why[sizeof err->message];
                snprintf(why, sizeof why, "%s", err ? err->message : "");
                rc = cf_err_set(err, rc, "to", "the copy was made but does not verify: %s", why);
            }
        }
    }
    if (!rc) {
        char *shown = x.to_pg ? cf_pg_store_redact(to) : strdup(to);
        *out = json_pack("{s:{s:s, s:s, s:I, s:s}, s:{s:s, s:s?, s:O, s:O}, s:O, s:I, s:s?, "
                         "s:b}",
                         "from", "backend", cf_store_is_pg(e->store) ? "postgresql" : "sqlite",
                         "store", e->store_path, "head_seq", (json_int_t)x.head_seq, "head",
                         x.head, "to", "backend", x.to_pg ? "postgresql" : "sqlite", "store",
                         shown, "head_seq", json_object_get(to_report, "records"), "head",
                         json_object_get(to_report, "head"), "rows", rows, "copy_seq",
                         (json_int_t)x.copy_seq, "key_path", x.kp, "verified", 1);
        free(shown);
        if (!*out)
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    cf_engine_close(te);
    json_decref(to_report);
    json_decref(x.from_report);
    json_decref(rows);
    free(x.init_kp);
    free(x.kp);
    return rc;
}
