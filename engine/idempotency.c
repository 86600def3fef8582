/*
 * Idempotent acts. A caller that lost the reply to an act retries it with
 * the same key: the first call's result is kept with the key (per actor),
 * tied to an audit record of its own, and returned again instead of acting
 * twice; a key used for a different request is refused. The act and its
 * key are written in one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "integrity.h"
#include "machine.h"

static bool valid_key(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x21 || k[i] > 0x7e)
            return false;
    return true;
}

/* The canonical payload of an idempotency record (new malloc'd). */
static char *key_payload(const char *actor, const char *key, const char *case_id,
                         const char *request, const char *result, int64_t at)
{
    char rsha[65];
    cf_sha256_hex(result, strlen(result), rsha);
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "actor", actor, "key", key, "case",
                          case_id, "request", request, "result", rsha, "at", (json_int_t)at);
    char *text = p ? cf_json_canonical(p) : NULL;
    json_decref(p);
    return text;
}

/* The request's digest: what must be the same for a retry to be one. */
static int request_digest(const char *case_id, const char *event, const json_t *data,
                          char out[65])
{
    json_t *r = json_pack("{s:s, s:s, s:O?}", "case", case_id, "event", event, "data", data);
    char *text = r ? cf_json_canonical(r) : NULL;
    json_decref(r);
    if (!text)
        return CF_ENOMEM;
    cf_sha256_hex(text, strlen(text), out);
    free(text);
    return 0;
}

/* The kept result for (actor, key): 0 and *found; the row's case and request
 * digest are compared by the caller. */
static int lookup(cf_store *s, const char *actor, const char *key, bool *found,
                  char **case_id, char **request, char **result, cf_error *err)
{
    *found = false;
    *case_id = *request = *result = NULL;
    cf_stmt *st = cf_store_stmt(
        s, "SELECT case_id, request, result FROM idempotency WHERE actor=? AND key=?", err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_text(st, 1, actor);
    cf_stmt_bind_text(st, 2, key);
    int rc = cf_stmt_step(st);
    if (rc == CF_DB_ROW) {
        *found = true;
        *case_id = strdup(cf_stmt_text(st, 0));
        *request = strdup(cf_stmt_text(st, 1));
        *result = strdup(cf_stmt_text(st, 2));
    }
    cf_stmt_reset(st);
    if (rc != CF_DB_ROW && rc != CF_DB_DONE)
        return cf_store_error(s, rc, "read idempotency key", err);
    if (*found && (!*case_id || !*request || !*result))
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    return 0;
}

static int keep(cf_engine *e, const char *key, const char *case_id, const char *request,
                const json_t *result, cf_error *err)
{
    char *text = cf_json_canonical(result);
    if (!text)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    int64_t at = cf_engine_now(e), seq = 0;
    /* The record names a role the actor holds: the first of theirs. */
    char role[64] = "";
    if (e->roles)
        snprintf(role, sizeof role, "%.*s", (int)strcspn(e->roles, ","), e->roles);
    int rc = cf_engine_audit_text(e, role[0] ? role : NULL, "idempotency", case_id,
                                  key_payload(e->actor, key, case_id, request, text, at), &seq,
                                  err);
    cf_stmt *st = rc ? NULL
                          : cf_store_stmt(e->store,
                                          "INSERT INTO idempotency(actor, key, case_id, request,"
                                          " result, at, audit_seq) VALUES(?,?,?,?,?,?,?)",
                                          err);
    if (!rc && !st)
        rc = err ? err->code : CF_EIO;
    if (!rc) {
        cf_stmt_bind_text(st, 1, e->actor);
        cf_stmt_bind_text(st, 2, key);
        cf_stmt_bind_text(st, 3, case_id);
        cf_stmt_bind_text(st, 4, request);
        cf_stmt_bind_text(st, 5, text);
        cf_stmt_bind_int64(st, 6, at);
        cf_stmt_bind_int64(st, 7, seq);
        int src = cf_stmt_step(st);
        cf_stmt_reset(st);
        if (src != CF_DB_DONE)
            rc = cf_store_error(e->store, src, "keep idempotency key", err);
    }
    free(text);
    return rc;
}

int cf_act_with(cf_engine *e, const char *case_id, const char *event, const json_t *data,
                const cf_act_options *opts, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    if (out)
        *out = NULL;
    if (!opts)
        return cf_act(e, case_id, event, data, -1, out, err);
    if (opts->reserved[0] || opts->reserved[1] || opts->reserved[2] || opts->reserved[3])
        return cf_err_set(err, CF_EUSAGE, "reserved", "reserved option fields must be zero");
    const char *key = opts->idempotency_key;
    if (!key)
        return cf_act(e, case_id, event, data, opts->expect_revision, out, err);
    if (!valid_key(key))
        return cf_err_set(err, CF_EINVALID, "idempotency_key",
                          "an idempotency key is 1-128 printable ASCII characters");
    if (!case_id || !event)
        return cf_act(e, case_id, event, data, opts->expect_revision, out, err);
    char request[65];
    if (request_digest(case_id, event, data, request))
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc)
        return rc;
    /* The act runs under a savepoint of this transaction, which also holds
     * the key: both or neither. */
    const bool group = e->batch;
    cf_store_set_group(e->store, true);
    if ((rc = cf_engine_begin_checked(e, err))) {
        cf_store_set_group(e->store, group);
        return rc;
    }
    bool found;
    char *kcase = NULL, *kreq = NULL, *kres = NULL;
    json_t *res = NULL;
    rc = lookup(e->store, e->actor, key, &found, &kcase, &kreq, &kres, err);
    if (!rc && found) {
        if (strcmp(kcase, case_id) || strcmp(kreq, request))
            rc = cf_err_set(err, CF_EINVALID, "idempotency_key",
                            "idempotency key \"%s\" was used for a different request", key);
        else if (!(res = json_loads(kres, 0, NULL)) ||
                 json_object_set_new(res, "replayed", json_true()))
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    } else if (!rc) {
        rc = cf_act(e, case_id, event, data, opts->expect_revision, &res, err);
        if (!rc)
            rc = keep(e, key, case_id, request, res, err);
        else if (cf_store_depth(e->store) > 0) {
            /* The act left nothing but, perhaps, an integrity alarm: keep that. */
            int arc = rc;
            cf_error cerr;
            cf_store_set_group(e->store, group);
            rc = cf_store_commit(e->store, &cerr);
            free(kcase);
            free(kreq);
            free(kres);
            return rc ? rc : arc;
        }
    }
    free(kcase);
    free(kreq);
    free(kres);
    cf_store_set_group(e->store, group);
    rc = cf_engine_finish(e, rc, err);
    if (rc) {
        json_decref(res);
        return rc;
    }
    if (out)
        *out = res;
    else
        json_decref(res);
    return 0;
}

int cf_idempotency_verify(cf_store *s, json_t *report, cf_error *err)
{
    cf_stmt *st;
    int prc = cf_store_prepare(s, "SELECT actor, key, case_id, request, result, at, audit_seq"
                                 " FROM idempotency ORDER BY audit_seq", &st);
    if (prc != CF_DB_OK)
        return cf_store_error(s, prc, "read idempotency keys", err);
    int rc = 0;
    int64_t n = 0;
    while (!rc && (prc = cf_stmt_step(st)) == CF_DB_ROW) {
        const char *actor = cf_stmt_text(st, 0),
                   *key = cf_stmt_text(st, 1),
                   *case_id = cf_stmt_text(st, 2);
        char *payload = key_payload(actor, key, case_id, cf_stmt_text(st, 3),
                                    cf_stmt_text(st, 4),
                                    cf_stmt_int64(st, 5));
        bool ok;
        rc = cf_integrity_tied(s, cf_stmt_int64(st, 6), payload, "idempotency", false,
                               &ok, err);
        free(payload);
        if (!rc && !ok)
            rc = cf_err_set(err, CF_EINVALID, "idempotency",
                            "idempotency key %s of %s (case %s) does not match its audit record",
                            key, actor, case_id);
        n++;
    }
    cf_stmt_finalize(st);
    if (!rc && prc != CF_DB_DONE)
        rc = cf_store_error(s, prc, "read idempotency keys", err);
    if (!rc && report)
        json_object_set_new(report, "idempotency", json_integer(n));
    return rc;
}
