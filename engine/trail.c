/*
 * The audit trail's engine side: the signing key (loaded once, and only if
 * it is the store's), checkpoints (signed when due, before the record that
 * would pass the interval, after walking the records since the last one),
 * anchors (appended after the commit that holds their checkpoint), and the
 * verify, checkpoint and export commands.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "chain.h"
#include "integrity.h"
#include "machine.h"
#include "sign.h"
#include "twin.h"

static const char *const admin[] = {"administrator"};

/* ---- the signing key ------------------------------------------------------------- */

/* Load the signing key once, and only if it is the store's: a key swapped
 * in beside the store (or named by CASEFLOW_KEY) signs nothing. */
int cf_engine_ensure_key(cf_engine *e, cf_error *err)
{
    if (e->sk_state > 0)
        return 0;
    if (e->sk_state < 0) {
        if (err)
            *err = e->sk_err;
        return e->sk_err.code;
    }
    cf_error kerr;
    cf_err_clear(&kerr);
    int rc = cf_sign_load_secret(e->key_path, e->sk, &kerr);
    if (!rc) {
        char pk[65];
        cf_sign_public_of(e->sk, pk);
        if (!e->public_key || strcmp(pk, e->public_key) != 0)
            rc = cf_err_set(&kerr, CF_EDENIED, "key",
                            "the signing key %s is not this store's key (its public half is "
                            "%.16s..., the store's is %.16s...): nothing was signed",
                            e->key_path, pk, e->public_key ? e->public_key : "none");
    }
    if (rc) {
        sodium_memzero(e->sk, sizeof e->sk);
        e->sk_state = -1;
        e->sk_err = kerr;
        if (err)
            *err = kerr;
        return rc;
    }
    e->sk_state = 1;
    return 0;
}

/* ---- signed checkpoints ------------------------------------------------------------ */

/* Queue a signed head for the anchor log(s): written after the commit that
 * holds it, never before (an anchor must name a head the store has). */
static void queue_anchor(cf_engine *e, const char *extra_file, const json_t *cp)
{
    const char *files[] = {e->pol.anchor[0] ? e->pol.anchor : NULL, extra_file};
    for (size_t i = 0; i < 2; i++) {
        if (!files[i] || (i == 1 && files[0] && strcmp(files[0], files[1]) == 0))
            continue;
        if (!e->anchors)
            e->anchors = json_array();
        json_t *line = json_pack("{s:s, s:s, s:s?, s:O, s:O, s:O, s:O}", "format",
                                 "caseflow-anchor", "store_id", e->store_id, "public_key",
                                 e->public_key, "signed_seq",
                                 json_object_get(cp, "signed_seq"), "head",
                                 json_object_get(cp, "head"), "at",
                                 json_object_get(cp, "at"), "signature",
                                 json_object_get(cp, "signature"));
        json_array_append_new(e->anchors, json_pack("{s:s, s:o, s:i}", "file", files[i], "line",
                                                    line, "depth",
                                                    cf_store_depth(e->store)));
    }
}

static void after_commit(void *ctx)
{
    cf_engine *e = ctx;
    size_t i;
    json_t *a;
    json_array_foreach(e->anchors, i, a)
    {
        cf_error aerr;
        if (cf_anchor_append(json_string_value(json_object_get(a, "file")),
                             json_object_get(a, "line"), &aerr) != 0) {
            /* The message names a path: no control byte reaches the terminal. */
            for (char *p = aerr.message; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f)
                    *p = '?';
            fprintf(stderr, "caseflow: warning: %s\n", aerr.message);
        }
    }
    json_decref(e->anchors);
    e->anchors = NULL;
}

static void after_rollback(void *ctx)
{
    cf_engine *e = ctx;
    json_decref(e->anchors);
    e->anchors = NULL;
}

/* A referral of a batch rolled back: so is any checkpoint written inside
 * it, whose anchor must then never be written. */
static void after_rollback_to(void *ctx, int depth)
{
    cf_engine *e = ctx;
    for (size_t i = json_array_size(e->anchors); i-- > 0;)
        if (json_integer_value(json_object_get(json_array_get(e->anchors, i), "depth")) > depth)
            json_array_remove(e->anchors, i);
}

/* Sign the head and queue it for the anchors. Inside a transaction. */
int cf_engine_sign_head(cf_engine *e, int64_t at, const char *actor, const char *role,
                        const char *anchor_file, json_t **out, cf_error *err)
{
    json_t *cp = NULL;
    e->signing = true;
    int rc = cf_audit_checkpoint(e->store, e->sk, e->store_id, at, actor, role, &cp, err);
    e->signing = false;
    if (!rc)
        queue_anchor(e, anchor_file, cp);
    if (out)
        *out = cp;
    else
        json_decref(cp);
    return rc;
}

int cf_engine_walk_tail(cf_engine *e, bool cases_too, cf_error *err)
{
    int64_t after = 0, history = 0;
    int rc = cf_chain_verify_tail(e->store, e->public_key, e->store_id, &after, &history, err);
    if (!rc && !e->migrating)
        rc = cf_integrity_verify_tail(e->store, after, history, cases_too, err);
    return rc;
}

/* Before each audit record: when checkpoint_interval records follow the
 * last checkpoint, this record is preceded by a new one, signed by the
 * engine after walking those records with every rule of the chain. So no
 * more than the interval is ever unsigned, and verify can insist on it. A
 * process that cannot use the key cannot go on: the records would stay
 * unsigned. Integrity alarms never wait for a signature. */
static int before_append(void *ctx, int64_t seq, int64_t at, const char *action,
                         cf_error *err)
{
    static const char last_sql[] = "SELECT coalesce(max(seq), 0) FROM checkpoints";
    cf_engine *e = ctx;
    if (e->signing || !e->store_id || !e->public_key || strcmp(action, "checkpoint") == 0 ||
        strcmp(action, "integrity.alarm") == 0 || strcmp(action, "store.init") == 0)
        return 0;
    const cf_policies *p = cf_engine_policies(e, err);
    if (!p)
        return err ? err->code : CF_EINVALID;
    if (p->checkpoint_interval <= 0)
        return 0;
    cf_stmt *st = cf_store_stmt(e->store, last_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int64_t last = cf_stmt_step(st) == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    cf_stmt_reset(st);
    if (seq - 1 - last < p->checkpoint_interval)
        return 0;
    int rc = cf_engine_ensure_key(e, NULL);
    if (rc)
        return cf_err_set(err, CF_EDENIED, "key",
                          "a signed audit checkpoint is due (policy checkpoint_interval %lld) "
                          "and this process cannot sign it: %s; run as the key's owner or "
                          "through caseflowd, or let them run caseflow audit checkpoint",
                          (long long)p->checkpoint_interval, e->sk_err.message);
    if ((rc = cf_engine_walk_tail(e, false, err)))
        return rc;
    return cf_engine_sign_head(e, at, "engine", "system", NULL, NULL, err);
}

/* ---- audit and plugins ------------------------------------------------------------------ */

int cf_audit_verify(cf_engine *e, json_t **out, cf_error *err)
{
    return cf_audit_verify_with(e, NULL, 0, out, err);
}

int cf_audit_verify_with(cf_engine *e, const char *public_key_file, int flags, json_t **out,
                         cf_error *err)
{
    cf_verify_options o = {.public_key_file = public_key_file, .flags = flags};
    return cf_audit_verify_opts(e, &o, out, err);
}

static int store_hash_at(void *ctx, int64_t seq, char out[65])
{
    cf_error ignore;
    return cf_audit_hash_at(ctx, seq, out, &ignore);
}

int cf_audit_verify_opts(cf_engine *e, const cf_verify_options *o, json_t **out,
                         cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    cf_verify_options none = {0};
    if (!o)
        o = &none;
    char pinned[65];
    const char *pk = e->public_key;
    int rc = 0;
    if (o->public_key_file) {
        if ((rc = cf_sign_load_public(o->public_key_file, pinned, err)))
            return rc;
        if (e->public_key && strcmp(pinned, e->public_key) != 0) {
            *out = json_pack("{s:b, s:s}", "ok", 0, "reason", "public key differs");
            return cf_err_set(err, CF_EINVALID, "key",
                              "audit verify: the store's public key is not %s",
                              o->public_key_file);
        }
        pk = pinned;
    }
    /* One read transaction: the chain and the tables are checked as of one
     * moment, even while other processes write, and without a write lock
     * (a store on read-only media verifies too). Its schema is checked
     * here, not at the begin. */
    cf_store_expect_schema(e->store, NULL, -1);
    /* Every table is read once, in order, so a small page cache serves as
     * well as the usual one; it keeps the memory a verify touches (and the
     * page faults of filling it) small. Put back afterwards. This
     * connection's reads (the chain, the history, look-ups of records by
     * seq) walk forward: 256 KiB serves them as well as 2 MiB did, with
     * the same pages read (16,098 preads at 10^4 either way), and filling
     * 2 MiB cost ~9 ms of CPU at 10^4 (malloc and page faults). */
    int64_t cache = cf_store_cache_size(e->store, -256);
    /* A full verify reads the case tables on a second connection, on its
     * own thread and on the same snapshot (twin.h), while this one walks
     * the chain and the history; without a twin, all is read here. */
    cf_store *twin = NULL;
    cf_integrity_bg *bg = NULL;
    rc = o->flags & CF_VERIFY_CHAIN_ONLY
             ? cf_store_begin_read(e->store, err)
             : cf_store_begin_read_twin(e->store, e->store_path, &twin, err);
    if (rc) {
        cf_store_cache_size(e->store, cache);
        return rc;
    }
    if (twin && cf_integrity_bg_start(twin, &bg) != 0) {
        cf_store_twin_close(twin);
        twin = NULL;
    }
    cf_chain *w = NULL;
    /* A store without a key (in memory) signs nothing, so it owes no
     * checkpoints. */
    rc = cf_chain_verify_store(e->store,
                               CF_CHAIN_RULES | CF_CHAIN_PAYLOADS |
                                   (e->public_key ? CF_CHAIN_CHECKPOINTS : 0),
                               out, &w, err);
    if (!rc)
        rc = cf_audit_verify_checkpoints_n(e->store, pk, e->store_id, cf_chain_checkpoints(w),
                                           *out, err);
    if (!rc && !(o->flags & CF_VERIFY_CHAIN_ONLY))
        rc = cf_integrity_verify_bg(e->store, w, bg, *out, err);
    cf_integrity_bg_free(bg);
    cf_store_twin_close(twin);
    if (!rc && o->anchors_file)
        rc = cf_anchor_verify(o->anchors_file, e->store_id ? e->store_id : "", pk ? pk : "",
                              store_hash_at, e->store, *out, err);
    cf_store_rollback(e->store);
    cf_store_cache_size(e->store, cache);
    cf_chain_free(w);
    if (!e->broken.code)
        cf_engine_check_store(e);
    if (*out) {
        /* The records after the last checkpoint's own record: what no
         * signature covers yet. */
        int64_t records = json_integer_value(json_object_get(*out, "records"));
        int64_t last = json_integer_value(json_object_get(*out, "last_signed_seq"));
        int64_t cps = json_integer_value(json_object_get(*out, "checkpoints"));
        json_object_set_new(*out, "unsigned_tail",
                            json_integer(records - (cps ? last + 1 : 0)));
        json_object_set_new(*out, "clock", json_string(e->test_clock ? "test" : "system"));
        /* A chain-only verify must not read as a full one: say the
         * tables were not tied to the chain (a full one reports their
         * counts under "tables"). */
        if (o->flags & CF_VERIFY_CHAIN_ONLY)
            json_object_set_new(*out, "tables", json_string("not checked"));
        if (pk)
            json_object_set_new(*out, "public_key", json_string(pk));
        if (rc) {
            json_object_set_new(*out, "ok", json_false());
            if (!json_object_get(*out, "reason"))
                json_object_set_new(*out, "reason", json_string(err ? err->message : ""));
        }
    }
    return rc;
}

/* Sign the head now, in its own transaction, after checking what it
 * signs. The write-ahead log is folded into the store afterwards, so a copy
 * of the file alone (an archive) holds everything signed. */
static int checkpoint(cf_engine *e, const char *role, const char *anchor_file,
                      const char *export_text, json_t **out, cf_error *err)
{
    int rc = cf_engine_begin_checked(e, err);
    if (rc)
        return rc;
    /* An export's disclosure goes in with the checkpoint that signs it, so
     * the export ends with both, whatever others write meanwhile. */
    if (export_text && (rc = cf_engine_audit_text(e, role, "disclosure", NULL, strdup(export_text), NULL,
                                        err))) {
        cf_store_rollback(e->store);
        return rc;
    }
    if ((rc = cf_engine_walk_tail(e, true, err))) {
        cf_store_rollback(e->store);
        json_t *d = json_pack("{s:s}", "refused", err ? err->message : "");
        cf_engine_alarm(e, NULL, "checkpoint refused: the chain since the last one does not verify",
                        d);
        json_decref(d);
        return rc;
    }
    rc = cf_engine_sign_head(e, cf_engine_now(e), e->actor, role, anchor_file, out, err);
    if (!rc)
        rc = cf_store_commit(e->store, err);
    else
        cf_store_rollback(e->store);
    if (rc && out) {
        json_decref(*out);
        *out = NULL;
    }
    if (!rc)
        cf_store_checkpoint(e->store);
    return rc;
}

int cf_audit_export(cf_engine *e, int64_t since, const char *path, json_t **out,
                    cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    const char *role;
    int rc = cf_engine_require(e, admin, 1, "export the audit trail", &role, err);
    if (rc)
        return rc;
    if (!e->store_id)
        return cf_err_set(err, CF_EUSAGE, "store", "the store is not initialised");
    /* An export is signed to its end: without the key there is none. */
    if ((rc = cf_engine_ensure_key(e, err)))
        return rc;
    if (since < 1)
        since = 1;
    bool to_stdout = !path || strcmp(path, "-") == 0;
    FILE *f = stdout;
    if (!to_stdout) {
        /* Exports hold who read what about whom: private, and never over
         * an existing file. */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || !(f = fdopen(fd, "w"))) {
            if (fd >= 0)
                close(fd);
            return cf_err_set(err, errno == EEXIST ? CF_EINVALID : CF_EIO, "file",
                              "cannot create %s: %s", path, strerror(errno));
        }
    }
    char at[32], head[65], created[32] = "";
    cf_time_format(cf_engine_now(e), at);
    char *created_at = NULL;
    cf_error ignore;
    cf_store_meta_get(e->store, "created_at", &created_at, &ignore);
    snprintf(created, sizeof created, "%s", created_at ? created_at : "");
    free(created_at);
    char *key_path = NULL; /* as record 1 holds it (a copy may have moved the key) */
    cf_integrity_init_key_path(e->store, &key_path, &ignore);
    json_t *header = json_pack("{s:s, s:i, s:s?, s:s?, s:s, s:b, s:s?, s:s, s:s, s:I}",
                               "format", "caseflow-audit-export", "version", 2, "store_id",
                               e->store_id, "public_key", e->public_key, "created_at", created,
                               "test_clock", e->test_clock, "key_path", key_path,
                               "exported_at", at, "exported_by", e->actor, "since",
                               (json_int_t)since);
    free(key_path);
    int64_t count = 0;
    /* The disclosure is recorded before anything is disclosed, then signed,
     * and the export, taken from a read snapshot afterwards, ends with that
     * checkpoint: every record in it is covered by a signature. */
    json_t *cp = NULL;
    char *disclosure = cf_integrity_export_payload(e->store_id, since, at, e->actor);
    rc = disclosure ? checkpoint(e, role, NULL, disclosure, &cp, err)
                    : cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    free(disclosure);
    int64_t until = json_integer_value(json_object_get(cp, "seq"));
    json_decref(cp);
    if (!rc && !(rc = cf_store_begin_read(e->store, err))) {
        rc = cf_audit_export_to(e->store, f, since, until, header, &count, head, err);
        if (!rc && fflush(f) != 0)
            rc = cf_err_set(err, CF_EIO, "file", "cannot write the export: %s", strerror(errno));
        cf_store_rollback(e->store);
    }
    json_decref(header);
    if (!to_stdout && fclose(f) != 0 && !rc)
        rc = cf_err_set(err, CF_EIO, "file", "cannot write %s: %s", path, strerror(errno));
    if (rc && !to_stdout)
        unlink(path);
    if (!rc)
        *out = json_pack("{s:I, s:I, s:s}", "since", (json_int_t)since, "records",
                         (json_int_t)count, "head", head);
    return rc;
}

int cf_audit_verify_file(const char *path, const char *public_key_file, json_t **out,
                         cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    char pk[65];
    int rc = public_key_file ? cf_sign_load_public(public_key_file, pk, err) : 0;
    if (rc)
        return rc;
    return cf_audit_verify_export(path, public_key_file ? pk : NULL, out, err);
}

int cf_audit_checkpoint_now(cf_engine *e, json_t **out, cf_error *err)
{
    return cf_audit_checkpoint_with(e, NULL, out, err);
}

int cf_audit_checkpoint_with(cf_engine *e, const char *anchor_file, json_t **out,
                             cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    const char *role;
    int rc = cf_engine_require(e, admin, 1, "write audit checkpoints", &role, err);
    if (rc)
        return rc;
    if (!e->store_id)
        return cf_err_set(err, CF_EUSAGE, "store", "the store is not initialised");
    if (anchor_file && (!*anchor_file || !cf_utf8_valid(anchor_file)))
        return cf_err_set(err, CF_EINVALID, "anchor", "--anchor: not a file name");
    if ((rc = cf_engine_ensure_key(e, err)))
        return rc;
    if (!cf_engine_policies(e, err))
        return err ? err->code : CF_EINVALID;
    return checkpoint(e, role, anchor_file, NULL, out, err);
}

static void store_progress(void *ctx, const char *what, int64_t done, int64_t total)
{
    cf_engine_progress(ctx, what, done, total);
}

void cf_engine_trail_hooks(cf_engine *e)
{
    cf_store_hooks hooks = {.before_append = before_append, .after_commit = after_commit,
                            .after_rollback = after_rollback,
                            .after_rollback_to = after_rollback_to,
                            .progress = store_progress, .ctx = e};
    cf_store_set_hooks(e->store, &hooks);
}
