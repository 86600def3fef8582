/*
 * Webhooks: administrators register a URL, the event types it wants and a
 * secret; caseflowd posts each matching domain event there. Registering,
 * removing and requeuing dead letters are audited changes: each writes a
 * webhook.* record whose payload is the webhook's state after it (the
 * SHA-256 of its secret, never the secret), kept in `records` so verify can
 * find each webhook's newest record, and the row points at it. The
 * delivery queue (`deliveries`) is operational state outside the chain:
 * losing it can only make an event be posted again. Per webhook a cursor
 * follows the domain events (`notifications`); cf_webhook_next queues the
 * matching ones and hands out, per (webhook, case), only the oldest
 * undelivered event, so each receiver sees a case's events in order.
 * A delivery is 'pending' (due at next_at, or parked behind an earlier
 * event of its case), 'sending' (handed out, leased until next_at), or
 * 'dead' (out of attempts: a dead letter, kept for cf_webhook_redeliver); a
 * delivered one is deleted. Who may do what, and the row checks, are as for
 * users (users.c); the delivery calls run as the engine itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "chain.h"
#include "machine.h"
#include "webhook.h"

static const char *const admin[] = {"administrator"};

/* A webhooks row; strings owned (hook_clear). */
typedef struct hook {
    int64_t id, created_at, removed_at, audit_seq, cursor;
    char *url, *events, *secret, *created_by;
    int failing;
} hook;

static void hook_clear(hook *h)
{
    free(h->url);
    free(h->events);
    free(h->secret);
    free(h->created_by);
    memset(h, 0, sizeof *h);
}

static const char *col(cf_stmt *st, int i)
{
    return cf_stmt_text(st, i);
}

static char *col_dup(cf_stmt *st, int i)
{
    const char *t = col(st, i);
    return strdup(t ? t : "");
}

static int nomem(cf_error *err)
{
    return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
}

/* A statement prepared for one use (finalized by the caller): the
 * administrators' calls and verify run rarely, and the store's statement
 * cache is kept for the calls that run all the time. */
static cf_stmt *once(cf_store *s, const char *sql, cf_error *err)
{
    cf_stmt *st = NULL;
    int rc = cf_store_prepare(s, sql, &st);
    if (rc != CF_DB_OK) {
        cf_store_error(s, rc, "prepare", err);
        return NULL;
    }
    return st;
}

/* Step a statement that returns no rows and reset it. */
static int run(cf_store *s, cf_stmt *st, const char *what, cf_error *err)
{
    int rc = cf_stmt_step(st);
    cf_stmt_reset(st);
    return rc == CF_DB_DONE ? 0 : cf_store_error(s, rc, what, err);
}

/* At most n bytes of in, with anything but printable ASCII as '?', for a
 * message or a kept error line. */
static void printable(const char *in, size_t n, char *out, size_t size)
{
    size_t i = 0;
    for (; in && in[i] && i < n && i + 1 < size; i++) {
        unsigned char c = (unsigned char)in[i];
        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[i] = '\0';
}

/* ---- what a webhook may be --------------------------------------------------------- */

static bool url_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-._~:/?#[]@!$&'()*+,;=%", c) != NULL;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* host[:port] of an http(s) URL: a name, an IPv4 address or a bracketed
 * IPv6 address, and a port from 1 to 65535. */
static int check_authority(const char *a, size_t n, cf_error *err)
{
    if (memchr(a, '@', n))
        return cf_err_set(err, CF_EINVALID, "url",
                          "url: user name or password in the URL are not allowed (the "
                          "receiver checks the signature instead)");
    size_t host_end = n;
    if (n && a[0] == '[') {
        const char *close = memchr(a, ']', n);
        if (!close || close == a + 1)
            return cf_err_set(err, CF_EINVALID, "url", "url: bad IPv6 address in brackets");
        for (const char *p = a + 1; p < close; p++)
            if (!is_hex(*p) && *p != ':' && *p != '.')
                return cf_err_set(err, CF_EINVALID, "url", "url: bad IPv6 address in brackets");
        host_end = (size_t)(close - a) + 1;
        if (host_end < n && a[host_end] != ':')
            return cf_err_set(err, CF_EINVALID, "url", "url: bad host");
    } else {
        const char *colon = memchr(a, ':', n);
        host_end = colon ? (size_t)(colon - a) : n;
        for (size_t i = 0; i < host_end; i++) {
            char c = a[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-' || c == '_'))
                return cf_err_set(err, CF_EINVALID, "url",
                                  "url: the host may hold only letters, digits, '.', '-' and "
                                  "'_' (punycode for other names)");
        }
    }
    if (host_end == 0)
        return cf_err_set(err, CF_EINVALID, "url", "url: no host");
    if (host_end == n)
        return 0;
    /* a[host_end] == ':' */
    size_t digits = n - host_end - 1;
    long port = 0;
    for (size_t i = host_end + 1; i < n; i++) {
        if (a[i] < '0' || a[i] > '9')
            return cf_err_set(err, CF_EINVALID, "url", "url: the port must be a number");
        port = port * 10 + (a[i] - '0');
        if (port > 65535)
            break;
    }
    if (digits == 0 || digits > 5 || port < 1 || port > 65535)
        return cf_err_set(err, CF_EINVALID, "url", "url: the port must be from 1 to 65535");
    return 0;
}

static int check_url(const char *url, cf_error *err)
{
    if (!url || !*url)
        return cf_err_set(err, CF_EINVALID, "url", "url: required (http:// or https://)");
    size_t n = strlen(url);
    if (n > CF_WEBHOOK_URL_MAX)
        return cf_err_set(err, CF_EINVALID, "url", "url: longer than %d characters",
                          CF_WEBHOOK_URL_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)url[i];
        if (!url_char(c))
            return cf_err_set(err, CF_EINVALID, "url",
                              c > 0x20 && c < 0x7f
                                  ? "url: the character '%c' at %zu is not allowed in a URL"
                                  : "url: a space, control or non-ASCII byte (%#x) at %zu is "
                                    "not allowed in a URL (percent-encode it)",
                              c, i + 1);
        if (c == '%' && !(is_hex(url[i + 1]) && is_hex(url[i + 2])))
            return cf_err_set(err, CF_EINVALID, "url",
                              "url: '%%' at %zu is not followed by two hex digits", i + 1);
    }
    size_t skip;
    if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else
        return cf_err_set(err, CF_EINVALID, "url", "url: must start with http:// or https://");
    if (strchr(url, '#'))
        return cf_err_set(err, CF_EINVALID, "url",
                          "url: a fragment (#...) is never sent; leave it out");
    const char *a = url + skip;
    return check_authority(a, strcspn(a, "/?"), err);
}

/* A character of an event type: printable ASCII but the list's ',' and the
 * prefix's '*' (plugins and workflows name their own types). */
static bool type_char(char c)
{
    return c > 0x20 && c < 0x7f && c != ',' && c != '*';
}

static int check_events(const char *events, cf_error *err)
{
    static const char rule[] =
        "a comma-separated list of event types (case.escalated), prefixes ending in '*' "
        "(case.*), or *";
    if (!events || !*events)
        return cf_err_set(err, CF_EINVALID, "events", "events: required: %s", rule);
    if (strlen(events) > CF_WEBHOOK_EVENTS_MAX)
        return cf_err_set(err, CF_EINVALID, "events", "events: longer than %d characters",
                          CF_WEBHOOK_EVENTS_MAX);
    size_t item = 1;
    for (const char *p = events;; item++) {
        size_t n = strcspn(p, ",");
        size_t body = n && p[n - 1] == '*' ? n - 1 : n;
        bool ok = n > 0 && n <= CF_WEBHOOK_TYPE_MAX;
        for (size_t i = 0; ok && i < body; i++)
            ok = type_char(p[i]);
        if (!ok)
            return cf_err_set(err, CF_EINVALID, "events",
                              "events: item %zu is %s: %s", item,
                              n == 0 ? "empty" : n > CF_WEBHOOK_TYPE_MAX ? "too long"
                                                                         : "not allowed",
                              rule);
        if (!p[n])
            return 0;
        p += n + 1;
    }
}

static int check_secret(const char *secret, cf_error *err)
{
    size_t n = secret ? strlen(secret) : 0;
    if (n < CF_WEBHOOK_SECRET_MIN || n > CF_WEBHOOK_SECRET_MAX)
        return cf_err_set(err, CF_EINVALID, "secret",
                          "secret: must be %d to %d bytes (it is %zu)", CF_WEBHOOK_SECRET_MIN,
                          CF_WEBHOOK_SECRET_MAX, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)secret[i];
        if (c < 0x20 || c == 0x7f)
            return cf_err_set(err, CF_EINVALID, "secret",
                              "secret: a control character at byte %zu (a secret is text, "
                              "e.g. hex or base64)",
                              i + 1);
    }
    if (!cf_utf8_valid(secret))
        return cf_err_set(err, CF_EINVALID, "secret",
                          "secret: not valid UTF-8 (a secret is text, e.g. hex or base64)");
    return 0;
}

bool cf_webhook_matches(const char *events, const char *type)
{
    if (!events || !type)
        return false;
    size_t tn = strlen(type);
    for (const char *p = events;;) {
        size_t n = strcspn(p, ",");
        if (n && p[n - 1] == '*') {
            if (tn >= n - 1 && strncmp(type, p, n - 1) == 0)
                return true;
        } else if (n == tn && strncmp(type, p, n) == 0) {
            return true;
        }
        if (!p[n])
            return false;
        p += n + 1;
    }
}

int64_t cf_webhook_backoff(int64_t attempts)
{
    int64_t base = CF_WEBHOOK_BACKOFF_MAX;
    if (attempts < 12 && ((int64_t)1 << (attempts < 0 ? 0 : attempts)) < base)
        base = (int64_t)1 << (attempts < 0 ? 0 : attempts);
    /* times a factor in [0.5, 1.0], in thousandths */
    int64_t d = base * (500 + (int64_t)randombytes_uniform(501)) / 1000;
    return d < 1 ? 1 : d;
}

/* ---- the audited row -------------------------------------------------------------- */

/* The payload of a webhook.* record: the webhook's state after the change.
 * A removed webhook's secret is wiped, and its digest is null. New string,
 * NULL on OOM. */
static char *hook_payload(const hook *h)
{
    char digest[65];
    cf_sha256_hex(h->secret, strlen(h->secret), digest);
    json_t *p = json_pack("{s:I, s:s, s:s, s:s?, s:I, s:s, s:I}", "id", (json_int_t)h->id,
                          "url", h->url, "events", h->events, "secret_sha256",
                          h->removed_at ? NULL : digest, "created_at",
                          (json_int_t)h->created_at, "created_by", h->created_by,
                          "removed_at", (json_int_t)h->removed_at);
    char *text = p ? cf_json_canonical(p) : NULL;
    json_decref(p);
    return text;
}

/* Is the row the state its audit record signed? (A rolled-back row with
 * its pointer is found by cf_webhook_verify.) */
static int hook_tied(cf_store *s, const hook *h, bool *ok, cf_error *err)
{
    char digest[65], action[96], mine[65];
    *ok = false;
    int rc = h->audit_seq > 0 ? cf_audit_record(s, h->audit_seq, digest, action, err)
                              : CF_ENOTFOUND;
    if (rc == CF_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    char *payload = hook_payload(h);
    if (!payload)
        return nomem(err);
    cf_sha256_hex(payload, strlen(payload), mine);
    free(payload);
    *ok = strncmp(action, "webhook.", 8) == 0 && strcmp(mine, digest) == 0;
    return 0;
}

static const char hook_columns[] = "id, url, events, secret, created_at, created_by,"
                                   " removed_at, audit_seq, cursor, failing";

static int hook_of(cf_stmt *st, hook *h, cf_error *err)
{
    h->id = cf_stmt_int64(st, 0);
    h->url = col_dup(st, 1);
    h->events = col_dup(st, 2);
    h->secret = col_dup(st, 3);
    h->created_at = cf_stmt_int64(st, 4);
    h->created_by = col_dup(st, 5);
    h->removed_at = cf_stmt_int64(st, 6);
    h->audit_seq = cf_stmt_int64(st, 7);
    h->cursor = cf_stmt_int64(st, 8);
    h->failing = (int)cf_stmt_int64(st, 9);
    if (!h->url || !h->events || !h->secret || !h->created_by) {
        hook_clear(h);
        return nomem(err);
    }
    return 0;
}

/* The active webhook id, checked against its record: CF_ENOTFOUND for none
 * (or removed), CF_EINVALID (with an alarm due) when it was altered. */
static int load_hook(cf_engine *e, int64_t id, hook *h, cf_error *err)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT %s FROM webhooks WHERE id=? AND removed_at=0",
             hook_columns);
    memset(h, 0, sizeof *h);
    cf_stmt *st = once(e->store, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, id);
    int step = cf_stmt_step(st), rc = 0;
    if (step == CF_DB_ROW)
        rc = hook_of(st, h, err);
    else if (step == CF_DB_DONE)
        rc = cf_err_set(err, CF_ENOTFOUND, "id", "no such webhook %lld", (long long)id);
    else
        rc = cf_store_error(e->store, step, "read webhook", err);
    cf_stmt_finalize(st);
    bool ok = false;
    if (!rc && !(rc = hook_tied(e->store, h, &ok, err)) && !ok) {
        char name[32];
        snprintf(name, sizeof name, "%lld", (long long)id);
        cf_engine_note_altered(e, "webhook", name, NULL, NULL);
        rc = cf_err_set(err, CF_EINVALID, "id",
                        "webhook %lld was altered outside caseflow: it does not match the "
                        "audit chain; nothing was done (run caseflow audit verify)",
                        (long long)id);
    }
    if (rc)
        hook_clear(h);
    return rc;
}

/* Record the change (action) with the row's new state, keep the payload,
 * and point h->audit_seq at the record. */
static int audit_hook(cf_engine *e, const char *role, const char *action, hook *h,
                      cf_error *err)
{
    char *payload = hook_payload(h), *kept = payload ? strdup(payload) : NULL;
    if (!kept) {
        free(payload);
        return nomem(err);
    }
    int64_t seq = 0;
    int rc = cf_engine_audit_text(e, role, action, NULL, payload, &seq, err);
    if (!rc && !cf_chain_keeps_payload(action))
        rc = cf_store_record_put(e->store, seq, NULL, kept, err);
    free(kept);
    if (!rc)
        h->audit_seq = seq;
    return rc;
}

static json_t *time_json(int64_t t)
{
    char buf[32];
    cf_time_format(t, buf);
    return json_string(buf);
}

/* ---- administrators' calls --------------------------------------------------------- */

static int insert_hook(cf_engine *e, const char *role, hook *h, cf_error *err)
{
    static const char next_id[] = "SELECT coalesce(max(id), 0) + 1,"
                                  " (SELECT coalesce(max(seq), 0) FROM notifications)"
                                  " FROM webhooks";
    static const char ins[] =
        "INSERT INTO webhooks(id, url, events, secret, created_at, created_by, removed_at,"
        " audit_seq, cursor, failing) VALUES(?,?,?,?,?,?,0,?,?,0)";
    cf_stmt *st = once(e->store, next_id, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int step = cf_stmt_step(st);
    if (step == CF_DB_ROW) {
        h->id = cf_stmt_int64(st, 0);
        h->cursor = cf_stmt_int64(st, 1);
    }
    cf_stmt_finalize(st);
    if (step != CF_DB_ROW)
        return cf_store_error(e->store, step, "read webhooks", err);
    /* The record first: a checkpoint it may bring sees the table as it was. */
    int rc = audit_hook(e, role, "webhook.add", h, err);
    if (rc || !(st = once(e->store, ins, err)))
        return rc ? rc : (err ? err->code : CF_EIO);
    cf_stmt_bind_int64(st, 1, h->id);
    cf_stmt_bind_text(st, 2, h->url);
    cf_stmt_bind_text(st, 3, h->events);
    cf_stmt_bind_text(st, 4, h->secret);
    cf_stmt_bind_int64(st, 5, h->created_at);
    cf_stmt_bind_text(st, 6, h->created_by);
    cf_stmt_bind_int64(st, 7, h->audit_seq);
    cf_stmt_bind_int64(st, 8, h->cursor);
    rc = run(e->store, st, "add webhook", err);
    cf_stmt_finalize(st);
    return rc;
}

int cf_webhook_add(cf_engine *e, const char *url, const char *events, const char *secret,
                   json_t **out, cf_error *err)
{
    cf_err_clear(err);
    if (out)
        *out = NULL;
    const char *role;
    int rc = check_url(url, err);
    if (rc || (rc = check_events(events, err)) || (rc = check_secret(secret, err)) ||
        (rc = cf_engine_require(e, admin, 1, "add webhooks", &role, err)) ||
        (rc = cf_engine_begin(e, err)))
        return rc;
    hook h = {.url = (char *)url, .events = (char *)events, .secret = (char *)secret,
              .created_by = e->actor, .created_at = cf_engine_now(e)};
    rc = cf_engine_finish(e, insert_hook(e, role, &h, err), err);
    if (!rc && out) {
        *out = json_pack("{s:I, s:s, s:s, s:o}", "id", (json_int_t)h.id, "url", url,
                         "events", events, "created_at", time_json(h.created_at));
        if (!*out)
            rc = nomem(err);
    }
    return rc;
}

int cf_webhook_list(cf_engine *e, json_t **out, cf_error *err)
{
    static const char sql[] =
        "SELECT w.id, w.url, w.events, w.created_at, w.created_by, w.failing,"
        " (SELECT count(*) FROM deliveries d WHERE d.hook = w.id AND d.state <> 'dead'),"
        " (SELECT count(*) FROM deliveries d WHERE d.hook = w.id AND d.state = 'dead'),"
        " (SELECT d.last_error FROM deliveries d WHERE d.hook = w.id"
        "   AND d.last_error IS NOT NULL ORDER BY d.seq DESC LIMIT 1)"
        " FROM webhooks w WHERE w.removed_at = 0 ORDER BY w.id";
    cf_err_clear(err);
    *out = NULL;
    int rc = cf_engine_require(e, admin, 1, "list webhooks", NULL, err);
    if (rc)
        return rc;
    cf_stmt *st = once(e->store, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    json_t *a = json_array();
    int step = CF_DB_DONE;
    while (a && (step = cf_stmt_step(st)) == CF_DB_ROW) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:o, s:s, s:b, s:I, s:I, s:s?}", "id",
                              (json_int_t)cf_stmt_int64(st, 0), "url", col(st, 1),
                              "events", col(st, 2), "created_at",
                              time_json(cf_stmt_int64(st, 3)), "created_by",
                              col(st, 4), "failing", (int)cf_stmt_int64(st, 5),
                              "pending", (json_int_t)cf_stmt_int64(st, 6), "dead",
                              (json_int_t)cf_stmt_int64(st, 7), "last_error",
                              col(st, 8));
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            a = NULL;
        }
    }
    cf_stmt_finalize(st);
    if (!a)
        return nomem(err);
    if (step != CF_DB_DONE) {
        json_decref(a);
        return cf_store_error(e->store, step, "list webhooks", err);
    }
    *out = a;
    return 0;
}

/* Point the row at its newest record (and, removed, wipe its secret). */
static int update_hook(cf_engine *e, const hook *h, cf_error *err)
{
    static const char sql[] =
        "UPDATE webhooks SET removed_at=?, secret=?, audit_seq=? WHERE id=?";
    cf_stmt *st = once(e->store, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, h->removed_at);
    cf_stmt_bind_text(st, 2, h->secret);
    cf_stmt_bind_int64(st, 3, h->audit_seq);
    cf_stmt_bind_int64(st, 4, h->id);
    int rc = run(e->store, st, "change webhook", err);
    cf_stmt_finalize(st);
    return rc;
}

/* A removed webhook's queue goes with it. */
static int drop_queue(cf_engine *e, int64_t id, cf_error *err)
{
    cf_stmt *st = once(e->store, "DELETE FROM deliveries WHERE hook=?", err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, id);
    int rc = run(e->store, st, "drop webhook deliveries", err);
    cf_stmt_finalize(st);
    return rc;
}

static int lock_hook(cf_engine *e, int64_t id, bool skip, bool *mine, int64_t *cursor,
                     cf_error *err);

/* Begin an administrator's change of an active webhook: *h loaded and
 * checked, inside the transaction. */
static int begin_change(cf_engine *e, int64_t id, const char *what, const char **role, hook *h,
                        cf_error *err)
{
    memset(h, 0, sizeof *h);
    int rc = cf_engine_require(e, admin, 1, what, role, err);
    if (rc || (rc = cf_engine_begin(e, err)))
        return rc;
    bool mine;
    if ((rc = lock_hook(e, id, false, &mine, NULL, err)) || (rc = load_hook(e, id, h, err))) {
        cf_engine_finish(e, rc, err);
        cf_engine_flush_alarm(e);
    }
    return rc;
}

int cf_webhook_remove(cf_engine *e, int64_t id, cf_error *err)
{
    cf_err_clear(err);
    const char *role;
    hook h;
    int rc = begin_change(e, id, "remove webhooks", &role, &h, err);
    if (rc)
        return rc;
    h.removed_at = cf_engine_now(e);
    if (h.removed_at < 1)
        h.removed_at = 1;
    h.secret[0] = '\0';
    rc = audit_hook(e, role, "webhook.remove", &h, err);
    if (!rc)
        rc = update_hook(e, &h, err);
    if (!rc)
        rc = drop_queue(e, h.id, err);
    hook_clear(&h);
    return cf_engine_finish(e, rc, err);
}

static int arm(cf_engine *e, int64_t hook_id, const char *case_id, int64_t now, cf_error *err);

/* The lanes (case ids, null for none) holding dead letters of hook id. */
static int dead_lanes(cf_engine *e, int64_t id, json_t **out, cf_error *err)
{
    static const char sql[] =
        "SELECT DISTINCT case_id FROM deliveries WHERE hook=? AND state='dead'";
    cf_stmt *st = once(e->store, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, id);
    json_t *a = json_array();
    int step = CF_DB_DONE, rc = a ? 0 : nomem(err);
    while (!rc && (step = cf_stmt_step(st)) == CF_DB_ROW)
        if (json_array_append_new(a, col(st, 0) ? json_string(col(st, 0)) : json_null()))
            rc = nomem(err);
    cf_stmt_finalize(st);
    if (!rc && step != CF_DB_DONE)
        rc = cf_store_error(e->store, step, "read dead letters", err);
    if (rc)
        json_decref(a);
    else
        *out = a;
    return rc;
}

/* Queue hook id's dead letters again, each lane in its order: a lane that
 * had any has every pending delivery parked, then its oldest armed. */
static int requeue(cf_engine *e, int64_t id, int64_t now, int *requeued, cf_error *err)
{
    static const char revive[] = "UPDATE deliveries SET state='pending', attempts=0,"
                                 " next_at=? WHERE hook=? AND state='dead'";
    static const char park[] = "UPDATE deliveries SET next_at=? WHERE hook=? AND case_id IS ?"
                               " AND state='pending'";
    /* PostgreSQL has no `IS` between values; IS NOT DISTINCT FROM would not
     * use deliveries_case, this does (issue 12, inventory C1). */
    static const char park_pg[] =
        "UPDATE deliveries SET next_at=?1 WHERE hook=?2"
        " AND (case_id = ?3 OR (case_id IS NULL AND CAST(?3 AS text) IS NULL))"
        " AND state='pending'";
    json_t *lanes = NULL;
    int rc = dead_lanes(e, id, &lanes, err);
    cf_stmt *st = rc ? NULL : once(e->store, revive, err);
    if (!rc && !st)
        rc = err ? err->code : CF_EIO;
    if (!rc) {
        cf_stmt_bind_int64(st, 1, CF_WEBHOOK_PARKED);
        cf_stmt_bind_int64(st, 2, id);
        if (!(rc = run(e->store, st, "requeue dead letters", err)))
            *requeued = cf_store_changes(e->store);
        cf_stmt_finalize(st);
        st = NULL;
    }
    if (!rc && !(st = once(e->store, cf_store_is_pg(e->store) ? park_pg : park, err)))
        rc = err ? err->code : CF_EIO;
    size_t i;
    json_t *c;
    json_array_foreach(lanes, i, c)
    {
        if (rc)
            break;
        cf_stmt_reset(st);
        cf_stmt_clear(st);
        cf_stmt_bind_int64(st, 1, CF_WEBHOOK_PARKED);
        cf_stmt_bind_int64(st, 2, id);
        if (json_is_string(c))
            cf_stmt_bind_text(st, 3, json_string_value(c));
        if (!(rc = run(e->store, st, "park webhook deliveries", err)))
            rc = arm(e, id, json_string_value(c), now, err);
    }
    if (st)
        cf_stmt_finalize(st);
    json_decref(lanes);
    return rc;
}

int cf_webhook_redeliver(cf_engine *e, int64_t id, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    const char *role;
    hook h;
    int rc = begin_change(e, id, "redeliver webhook events", &role, &h, err);
    if (rc)
        return rc;
    int requeued = 0;
    rc = requeue(e, h.id, cf_engine_now(e), &requeued, err);
    /* Nothing requeued is no change: no record. */
    if (!rc && requeued > 0 && !(rc = audit_hook(e, role, "webhook.redeliver", &h, err)))
        rc = update_hook(e, &h, err);
    hook_clear(&h);
    if ((rc = cf_engine_finish(e, rc, err)))
        return rc;
    *out = json_pack("{s:I, s:i}", "id", (json_int_t)id, "requeued", requeued);
    return *out ? 0 : nomem(err);
}

/* ---- the deliverer's calls --------------------------------------------------------- */

/*
 * Each (webhook, case) is a lane: only its oldest undelivered delivery (its
 * head) is ever due; the ones behind it wait "parked" (next_at =
 * CF_WEBHOOK_PARKED) until the head is delivered or dies, and then the next
 * is armed (next_at = now). So a call looks only at what is due, never at
 * the backlog behind a failing receiver.
 */

/* next and done run as the engine itself (no actor), or as an
 * administrator. */
static int deliverer(cf_engine *e, cf_error *err)
{
    if (e->actor && *e->actor)
        return cf_engine_require(e, admin, 1, "deliver webhook events", NULL, err);
    if (e->broken.code) {
        if (err)
            *err = e->broken;
        return e->broken.code;
    }
    if (e->clock >= 0 && !e->test_clock)
        return cf_engine_clock_refused(err);
    if (!e->store_id)
        return cf_err_set(err, CF_EUSAGE, "store", "the store is not initialised (caseflow init)");
    return 0;
}

/*
 * Claims on PostgreSQL. The deliverer's calls append nothing to the chain
 * and hand out no number (deliveries and the webhooks' cursor and failing
 * flag are operational state), so they run in a transaction of their own
 * without the store's write lock (cf_store_begin_unlocked): acts never
 * wait for them, nor they for acts. What the write lock did for them, the
 * webhook's row does: next claims each webhook's row with FOR NO KEY
 * UPDATE SKIP LOCKED before queueing or leasing its deliveries (a webhook
 * another instance is serving is left to it, without waiting), done and
 * the administrators' changes lock it (waiting) before touching its
 * deliveries, and every lock is taken in that order, the webhook's row,
 * then its deliveries (claimed FOR UPDATE SKIP LOCKED). So the queueing,
 * leasing and arming of one webhook's lanes stay serial, as they were
 * under the write lock: a lane is never left parked behind a delivery
 * that was done meanwhile, and a delivery is leased by one instance at a
 * time. On SQLite, and inside a batch, all this is the write lock.
 */
static int begin_claims(cf_engine *e, cf_error *err)
{
    int rc = cf_store_begin_unlocked(e->store, err);
    if (!rc && (rc = cf_engine_recheck(e, err)))
        cf_store_rollback(e->store);
    return rc;
}

/* PostgreSQL: lock webhook id's row (wait: done, the administrators'
 * changes) or claim it (skip: next; *mine false when another transaction
 * holds it, or it is removed); *cursor (may be NULL) its cursor now. On
 * SQLite *mine is true and nothing is read. */
static int lock_hook(cf_engine *e, int64_t id, bool skip, bool *mine, int64_t *cursor,
                     cf_error *err)
{
    static const char wait_sql[] = "SELECT cursor FROM webhooks WHERE id = ?"
                                   " FOR NO KEY UPDATE";
    static const char skip_sql[] = "SELECT cursor FROM webhooks WHERE id = ? AND removed_at = 0"
                                   " FOR NO KEY UPDATE SKIP LOCKED";
    *mine = true;
    if (!cf_store_is_pg(e->store))
        return 0;
    cf_stmt *st = cf_store_stmt(e->store, skip ? skip_sql : wait_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, id);
    int step = cf_stmt_step(st);
    *mine = step == CF_DB_ROW;
    if (*mine && cursor)
        *cursor = cf_stmt_int64(st, 0);
    cf_stmt_reset(st);
    return step == CF_DB_ROW || step == CF_DB_DONE ? 0
                                                    : cf_store_error(e->store, step,
                                                                     "claim webhook", err);
}

/* Arm the head of lane (hook, case) when it is parked. */
static int arm(cf_engine *e, int64_t hook_id, const char *case_id, int64_t now, cf_error *err)
{
    static const char sql[] =
        "UPDATE deliveries SET next_at = ?3 WHERE hook = ?1 AND state = 'pending'"
        " AND next_at = ?4 AND seq = (SELECT min(seq) FROM deliveries"
        "  WHERE hook = ?1 AND case_id IS ?2 AND state <> 'dead')";
    /* PostgreSQL: the lane by = or both NULL (issue 12, inventory C2). */
    static const char pg_sql[] =
        "UPDATE deliveries SET next_at = ?3 WHERE hook = ?1 AND state = 'pending'"
        " AND next_at = ?4 AND seq = (SELECT min(seq) FROM deliveries"
        "  WHERE hook = ?1 AND (case_id = ?2 OR (case_id IS NULL AND CAST(?2 AS text) IS NULL))"
        "  AND state <> 'dead')";
    cf_stmt *st = cf_store_stmt_for(e->store, sql, pg_sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, hook_id);
    if (case_id)
        cf_stmt_bind_text_copy(st, 2, case_id);
    cf_stmt_bind_int64(st, 3, now);
    cf_stmt_bind_int64(st, 4, CF_WEBHOOK_PARKED);
    return run(e->store, st, "arm webhook delivery", err);
}

/* Queue the events after hook h's cursor that it wants (at most
 * CF_WEBHOOK_SCAN of them), each due now or parked behind its lane's
 * head, and move its cursor past them. */
static int queue_hook(cf_engine *e, const hook *h, int64_t now, cf_error *err)
{
    static const char scan[] = "SELECT seq, case_id, channel FROM notifications"
                               " WHERE seq > ? ORDER BY seq LIMIT ?";
    static const char ins[] =
        "INSERT OR IGNORE INTO deliveries(hook, seq, case_id, attempts, next_at, state)"
        " VALUES(?1, ?2, ?3, 0, CASE WHEN EXISTS(SELECT 1 FROM deliveries"
        "  WHERE hook = ?1 AND case_id IS ?3 AND state <> 'dead') THEN ?5 ELSE ?4 END,"
        " 'pending')";
    /* PostgreSQL: ON CONFLICT DO NOTHING (only the key can conflict here),
     * the lane by = or both NULL, and the CASE typed: PostgreSQL would type
     * it text from the untyped parameters (issue 12, inventory A5, G4, C2). */
    static const char ins_pg[] =
        "INSERT INTO deliveries(hook, seq, case_id, attempts, next_at, state)"
        " VALUES(?1, ?2, CAST(?3 AS text), 0, CASE WHEN EXISTS(SELECT 1 FROM deliveries"
        "  WHERE hook = ?1 AND (case_id = ?3 OR (case_id IS NULL AND CAST(?3 AS text) IS NULL))"
        "  AND state <> 'dead') THEN CAST(?5 AS bigint) ELSE CAST(?4 AS bigint) END,"
        " 'pending') ON CONFLICT (hook, seq) DO NOTHING";
    static const char move[] = "UPDATE webhooks SET cursor=? WHERE id=?";
    cf_stmt *st = cf_store_stmt(e->store, scan, err), *add;
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, h->cursor);
    cf_stmt_bind_int64(st, 2, CF_WEBHOOK_SCAN);
    int64_t last = h->cursor;
    int step = CF_DB_DONE, rc = 0;
    while (!rc && (step = cf_stmt_step(st)) == CF_DB_ROW) {
        last = cf_stmt_int64(st, 0);
        if (!cf_webhook_matches(h->events, col(st, 2)))
            continue;
        if (!(add = cf_store_stmt_for(e->store, ins, ins_pg, err))) {
            rc = err ? err->code : CF_EIO;
            break;
        }
        cf_stmt_bind_int64(add, 1, h->id);
        cf_stmt_bind_int64(add, 2, last);
        if (col(st, 1))
            cf_stmt_bind_text_copy(add, 3, col(st, 1));
        cf_stmt_bind_int64(add, 4, now);
        cf_stmt_bind_int64(add, 5, CF_WEBHOOK_PARKED);
        rc = run(e->store, add, "queue webhook delivery", err);
    }
    cf_stmt_reset(st);
    if (rc)
        return rc;
    if (step != CF_DB_DONE)
        return cf_store_error(e->store, step, "read domain events", err);
    if (last == h->cursor)
        return 0;
    if (!(st = cf_store_stmt(e->store, move, err)))
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, last);
    cf_stmt_bind_int64(st, 2, h->id);
    return run(e->store, st, "move webhook cursor", err);
}

/* The active webhooks whose rows are what their records say (an altered
 * one gets nothing: verify reports it), new events queued for each. *out
 * and *n: an array the caller frees with hooks_free. */
static int queue_all(cf_engine *e, int64_t now, hook **out, size_t *n, cf_error *err)
{
    static const char sql[] = "SELECT id, url, events, secret, created_at, created_by,"
                              " removed_at, audit_seq, cursor, failing FROM webhooks"
                              " WHERE removed_at = 0 ORDER BY id";
    *out = NULL;
    *n = 0;
    cf_stmt *st = cf_store_stmt(e->store, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    /* Read them all first: queueing reuses statements. */
    hook *hs = NULL;
    size_t cap = 0, got = 0;
    int step = CF_DB_DONE, rc = 0;
    while (!rc && (step = cf_stmt_step(st)) == CF_DB_ROW) {
        if (got == cap) {
            hook *m = realloc(hs, (cap = cap ? cap * 2 : 8) * sizeof *hs);
            if (!m) {
                rc = nomem(err);
                break;
            }
            hs = m;
        }
        memset(&hs[got], 0, sizeof hs[got]);
        if (!(rc = hook_of(st, &hs[got], err)))
            got++;
    }
    cf_stmt_reset(st);
    if (!rc && step != CF_DB_DONE)
        rc = cf_store_error(e->store, step, "read webhooks", err);
    size_t kept = 0;
    for (size_t i = 0; i < got; i++) {
        bool tied = false, mine = false;
        if (!rc && !(rc = hook_tied(e->store, &hs[i], &tied, err)) && tied &&
            !(rc = lock_hook(e, hs[i].id, true, &mine, &hs[i].cursor, err)) && mine &&
            !(rc = queue_hook(e, &hs[i], now, err))) {
            hs[kept++] = hs[i];
            continue;
        }
        hook_clear(&hs[i]);
    }
    if (rc) {
        for (size_t i = 0; i < kept; i++)
            hook_clear(&hs[i]);
        free(hs);
        return rc;
    }
    *out = hs;
    *n = kept;
    return 0;
}

static void hooks_free(hook *hs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hook_clear(&hs[i]);
    free(hs);
}

/* The CloudEvent id in body, or the seq. */
static json_t *event_id(const char *body, int64_t seq)
{
    json_t *ev = json_loads(body, 0, NULL);
    const char *id = json_string_value(json_object_get(ev, "id"));
    json_t *out = NULL;
    if (id)
        out = json_string(id);
    json_decref(ev);
    if (!out) {
        char num[32];
        snprintf(num, sizeof num, "%lld", (long long)seq);
        out = json_string(num);
    }
    return out;
}

/* One delivery handed out: leased until now + CF_WEBHOOK_LEASE. A
 * delivery whose event row is gone can never be made: dropped, and its
 * lane's next armed. */
static int lease(cf_engine *e, int64_t hook_id, int64_t seq, const char *case_id, bool gone,
                 int64_t now, cf_error *err)
{
    static const char take[] = "UPDATE deliveries SET state='sending', next_at=?"
                               " WHERE hook=? AND seq=?";
    static const char drop[] = "DELETE FROM deliveries WHERE hook=? AND seq=?";
    cf_stmt *st = cf_store_stmt(e->store, gone ? drop : take, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int i = 1;
    if (!gone)
        cf_stmt_bind_int64(st, i++, now + CF_WEBHOOK_LEASE);
    cf_stmt_bind_int64(st, i++, hook_id);
    cf_stmt_bind_int64(st, i, seq);
    int rc = run(e->store, st, "lease webhook delivery", err);
    return rc || !gone ? rc : arm(e, hook_id, case_id, now, err);
}

/* Deliveries of hook h due at now, at most max, and no more than its cap
 * leased at once, appended to out; *taken counts them. */
static int due_hook(cf_engine *e, const hook *h, int64_t now, size_t max, json_t *out,
                    size_t *taken, cf_error *err)
{
    static const char busy[] = "SELECT count(*) FROM deliveries WHERE state = 'sending'"
                               " AND +hook = ? AND next_at > ?";
    static const char sql[] =
        "SELECT d.seq, d.attempts, d.case_id, n.seq, n.channel, n.payload, n.created_at"
        " FROM deliveries d LEFT JOIN notifications n ON n.seq = d.seq"
        " WHERE d.hook = ?1 AND d.state <> 'dead' AND d.next_at <= ?2"
        " AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.hook = ?1"
        "  AND p.case_id IS d.case_id AND p.seq < d.seq AND p.state <> 'dead')"
        " ORDER BY d.next_at, d.seq LIMIT ?3";
    /* PostgreSQL: a delivery is due only when no older live one of its lane
     * (= or both NULL) is left: each case's deliveries go out in order
     * (issue 12, inventory C3). */
    static const char pg_sql[] =
        "SELECT d.seq, d.attempts, d.case_id, n.seq, n.channel, n.payload, n.created_at"
        " FROM deliveries d LEFT JOIN notifications n ON n.seq = d.seq"
        " WHERE d.hook = ?1 AND d.state <> 'dead' AND d.next_at <= ?2"
        " AND NOT EXISTS (SELECT 1 FROM deliveries p WHERE p.hook = ?1"
        "  AND (p.case_id = d.case_id OR (p.case_id IS NULL AND d.case_id IS NULL))"
        "  AND p.seq < d.seq AND p.state <> 'dead')"
        " ORDER BY d.next_at, d.seq LIMIT ?3 FOR UPDATE OF d SKIP LOCKED";
    *taken = 0;
    cf_stmt *st = cf_store_stmt(e->store, busy, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, h->id);
    cf_stmt_bind_int64(st, 2, now);
    int step = cf_stmt_step(st);
    int64_t leased = step == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    cf_stmt_reset(st);
    if (step != CF_DB_ROW)
        return cf_store_error(e->store, step, "count webhook deliveries", err);
    if (leased >= CF_WEBHOOK_INFLIGHT)
        return 0;
    if ((size_t)(CF_WEBHOOK_INFLIGHT - leased) < max)
        max = (size_t)(CF_WEBHOOK_INFLIGHT - leased);
    if (!(st = cf_store_stmt_for(e->store, sql, pg_sql, err)))
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, h->id);
    cf_stmt_bind_int64(st, 2, now);
    cf_stmt_bind_int64(st, 3, (int64_t)max);
    /* Collected first, leased after: the leases write the rows read. */
    json_t *got = json_array();
    int rc = got ? 0 : nomem(err);
    step = CF_DB_DONE;
    while (!rc && (step = cf_stmt_step(st)) == CF_DB_ROW) {
        int64_t seq = cf_stmt_int64(st, 0);
        json_t *d = json_pack("{s:I, s:I, s:s?, s:b}", "seq", (json_int_t)seq, "attempt",
                              (json_int_t)cf_stmt_int64(st, 1) + 1, "case_id",
                              col(st, 2), "gone", cf_stmt_type(st, 3) == CF_DB_NULL);
        if (d && cf_stmt_type(st, 3) != CF_DB_NULL) {
            char *body = cf_feed_event_text(e, seq, col(st, 2), col(st, 4), col(st, 5),
                                            cf_stmt_int64(st, 6));
            if (!body || json_object_set_new(d, "body", json_string(body)) ||
                json_object_set_new(d, "event_id", event_id(body, seq)) ||
                json_object_set_new(d, "type", json_string(col(st, 4) ? col(st, 4) : "")))
                rc = nomem(err);
            free(body);
        }
        if (!d || json_array_append_new(got, d))
            rc = nomem(err);
    }
    cf_stmt_reset(st);
    if (!rc && step != CF_DB_DONE)
        rc = cf_store_error(e->store, step, "read webhook deliveries", err);
    size_t i;
    json_t *d;
    json_array_foreach(got, i, d)
    {
        bool gone = json_is_true(json_object_get(d, "gone"));
        if (rc || (rc = lease(e, h->id, json_integer_value(json_object_get(d, "seq")),
                              json_string_value(json_object_get(d, "case_id")), gone, now,
                              err)))
            break;
        if (gone)
            continue;
        json_object_del(d, "gone");
        json_object_del(d, "case_id");
        if (json_object_set_new(d, "hook", json_integer(h->id)) ||
            json_object_set_new(d, "url", json_string(h->url)) ||
            json_object_set_new(d, "secret", json_string(h->secret)) ||
            json_array_append(out, d))
            rc = nomem(err);
        else
            (*taken)++;
    }
    json_decref(got);
    return rc;
}

/* Up to max due deliveries over all webhooks, starting at a random one so
 * no webhook always goes first when max is small. */
static int due(cf_engine *e, const hook *hs, size_t n, int64_t now, size_t max, json_t *out,
               cf_error *err)
{
    size_t first = n ? randombytes_uniform((uint32_t)n) : 0;
    for (size_t k = 0; k < n && max > 0; k++) {
        size_t taken = 0;
        int rc = due_hook(e, &hs[(first + k) % n], now, max, out, &taken, err);
        if (rc)
            return rc;
        max -= taken;
    }
    return 0;
}

int cf_webhook_next(cf_engine *e, int64_t now, size_t max, json_t **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    if (max == 0)
        max = CF_WEBHOOK_BATCH;
    if (max > CF_WEBHOOK_BATCH_MAX)
        max = CF_WEBHOOK_BATCH_MAX;
    int rc = deliverer(e, err);
    if (rc || (rc = begin_claims(e, err)))
        return rc;
    hook *hs = NULL;
    size_t n = 0;
    json_t *a = json_array();
    rc = a ? queue_all(e, now, &hs, &n, err) : nomem(err);
    if (!rc)
        rc = due(e, hs, n, now, max, a, err);
    hooks_free(hs, n);
    if ((rc = cf_engine_finish(e, rc, err))) {
        json_decref(a);
        return rc;
    }
    *out = a;
    return 0;
}

static int done_tx(cf_engine *e, int64_t hook_id, int64_t seq, int ok, const char *error,
                   int max_attempts, cf_error *err)
{
    static const char get[] = "SELECT attempts, case_id FROM deliveries WHERE hook=? AND seq=?"
                              " AND state <> 'dead'";
    static const char del[] = "DELETE FROM deliveries WHERE hook=? AND seq=?";
    static const char clear[] = "UPDATE webhooks SET failing=0 WHERE id=? AND failing<>0";
    static const char retry[] = "UPDATE deliveries SET attempts=?, next_at=?, last_error=?,"
                                " state=? WHERE hook=? AND seq=?";
    static const char mark[] = "UPDATE webhooks SET failing=1 WHERE id=? AND failing=0";
    bool mine;
    int lrc = lock_hook(e, hook_id, false, &mine, NULL, err);
    if (lrc)
        return lrc;
    cf_stmt *st = cf_store_stmt(e->store, get, err);
    if (!st)
        return err ? err->code : CF_EIO;
    cf_stmt_bind_int64(st, 1, hook_id);
    cf_stmt_bind_int64(st, 2, seq);
    int step = cf_stmt_step(st);
    int64_t attempts = step == CF_DB_ROW ? cf_stmt_int64(st, 0) : 0;
    char *case_id = step == CF_DB_ROW && col(st, 1) ? strdup(col(st, 1)) : NULL;
    bool no_case = step == CF_DB_ROW && !col(st, 1);
    cf_stmt_reset(st);
    if (step == CF_DB_DONE)
        return cf_err_set(err, CF_ENOTFOUND, "delivery",
                          "no undelivered event %lld for webhook %lld (removed, or recorded "
                          "already)",
                          (long long)seq, (long long)hook_id);
    if (step != CF_DB_ROW)
        return cf_store_error(e->store, step, "read webhook delivery", err);
    if (!case_id && !no_case)
        return nomem(err);
    int64_t now = cf_engine_now(e);
    bool dead = false;
    int rc;
    if (ok) {
        if ((st = cf_store_stmt(e->store, del, err))) {
            cf_stmt_bind_int64(st, 1, hook_id);
            cf_stmt_bind_int64(st, 2, seq);
        }
    } else {
        char line[CF_WEBHOOK_ERROR_MAX + 1];
        printable(error && *error ? error : "failed", CF_WEBHOOK_ERROR_MAX, line, sizeof line);
        attempts++;
        dead = attempts >= (max_attempts < 1 ? CF_WEBHOOK_ATTEMPTS : max_attempts);
        if ((st = cf_store_stmt(e->store, retry, err))) {
            cf_stmt_bind_int64(st, 1, attempts);
            cf_stmt_bind_int64(st, 2, dead ? now : now + cf_webhook_backoff(attempts));
            cf_stmt_bind_text_copy(st, 3, line);
            cf_stmt_bind_text(st, 4, dead ? "dead" : "pending");
            cf_stmt_bind_int64(st, 5, hook_id);
            cf_stmt_bind_int64(st, 6, seq);
        }
    }
    rc = st ? run(e->store, st, "record webhook delivery", err) : (err ? err->code : CF_EIO);
    /* Delivered or dead: the lane's next event is due. */
    if (!rc && (ok || dead) && !(rc = arm(e, hook_id, case_id, now, err))) {
        if (!(st = cf_store_stmt(e->store, ok ? clear : mark, err))) {
            rc = err ? err->code : CF_EIO;
        } else {
            cf_stmt_bind_int64(st, 1, hook_id);
            rc = run(e->store, st, "mark webhook", err);
        }
    }
    free(case_id);
    return rc;
}

int cf_webhook_done(cf_engine *e, int64_t hook_id, int64_t seq, int ok, const char *error,
                    int max_attempts, cf_error *err)
{
    cf_err_clear(err);
    int rc = deliverer(e, err);
    if (rc || (rc = begin_claims(e, err)))
        return rc;
    return cf_engine_finish(e, done_tx(e, hook_id, seq, ok, error, max_attempts, err), err);
}

/* ---- verify ------------------------------------------------------------------------- */

static int broken(cf_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int broken(cf_error *err, const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return cf_err_set(err, CF_EINVALID, "webhooks", "audit verify: webhooks: %s", msg);
}

static bool same_str(const json_t *p, const char *key, const char *v)
{
    const char *s = json_string_value(json_object_get(p, key));
    return s && v && strcmp(s, v) == 0;
}

static bool same_int(const json_t *p, const char *key, int64_t v)
{
    const json_t *j = json_object_get(p, key);
    return json_is_integer(j) && json_integer_value(j) == v;
}

/* A kept payload in the form hook_payload writes. */
static bool well_formed(const json_t *p)
{
    const json_t *d = json_object_get(p, "secret_sha256");
    return json_is_object(p) && json_object_size(p) == 7 &&
           json_integer_value(json_object_get(p, "id")) > 0 &&
           json_is_string(json_object_get(p, "url")) &&
           json_is_string(json_object_get(p, "events")) &&
           (json_is_null(d) || (json_is_string(d) && strlen(json_string_value(d)) == 64)) &&
           json_is_integer(json_object_get(p, "created_at")) &&
           json_is_string(json_object_get(p, "created_by")) &&
           json_is_integer(json_object_get(p, "removed_at"));
}

/* Does record `action` with payload p follow the state prev (NULL: none)? */
static const char *follows(const char *action, const json_t *p, const json_t *prev)
{
    bool removed = json_integer_value(json_object_get(p, "removed_at")) != 0;
    bool secret = json_is_string(json_object_get(p, "secret_sha256"));
    if (strcmp(action, "webhook.add") == 0)
        return prev ? "adds a webhook id that exists" : removed || !secret ? "is malformed" : NULL;
    if (!prev)
        return "is about a webhook never added";
    if (json_integer_value(json_object_get(prev, "removed_at")) != 0)
        return "is about a removed webhook";
    const char *keep[] = {"url", "events", "created_by"};
    for (size_t i = 0; i < 3; i++)
        if (!json_equal(json_object_get(p, keep[i]), json_object_get(prev, keep[i])))
            return "changes what only add sets";
    if (!json_equal(json_object_get(p, "created_at"), json_object_get(prev, "created_at")))
        return "changes what only add sets";
    if (strcmp(action, "webhook.remove") == 0)
        return removed && !secret ? NULL : "is malformed";
    if (strcmp(action, "webhook.redeliver") == 0)
        return !removed && json_equal(json_object_get(p, "secret_sha256"),
                                      json_object_get(prev, "secret_sha256"))
                   ? NULL
                   : "is malformed";
    return "has an unknown action";
}

/* Each webhook's newest record and state, from the chain's webhook.*
 * records: state (borrowed object) id -> [seq, payload]. */
static int replay(cf_store *s, json_t *state, cf_error *err)
{
    static const char sql[] = "SELECT a.seq, a.action, a.role, a.digest, r.payload FROM audit a"
                              " LEFT JOIN records r ON r.seq = a.seq"
                              " WHERE a.action >= 'webhook.' AND a.action < 'webhook/'"
                              " ORDER BY a.seq";
    cf_stmt *st = once(s, sql, err);
    if (!st)
        return err ? err->code : CF_EIO;
    int step = CF_DB_DONE, rc = 0;
    while (!rc && (step = cf_stmt_step(st)) == CF_DB_ROW) {
        long long seq = cf_stmt_int64(st, 0);
        const char *action = col(st, 1), *role = col(st, 2), *digest = col(st, 3),
                   *payload = col(st, 4);
        char h[65] = "";
        if (payload)
            cf_sha256_hex(payload, strlen(payload), h);
        if (!payload) {
            rc = broken(err, "record %lld (%s): its payload is not kept", seq, action);
            break;
        }
        if (!digest || strcmp(h, digest) != 0) {
            rc = broken(err, "record %lld (%s): its kept payload is not the one it records",
                        seq, action);
            break;
        }
        if (!role || strcmp(role, "administrator") != 0) {
            rc = broken(err, "record %lld (%s): not an administrator's", seq, action);
            break;
        }
        json_t *p = json_loads(payload, 0, NULL);
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(json_object_get(p, "id")));
        const json_t *prev = json_array_get(json_object_get(state, key), 1);
        const char *why = well_formed(p) ? follows(action, p, prev) : "is malformed";
        if (why)
            rc = broken(err, "record %lld (%s) %s", seq, action, why);
        else
            json_object_set_new(state, key, json_pack("[I, o]", (json_int_t)seq, p));
        if (why)
            json_decref(p);
    }
    cf_stmt_finalize(st);
    if (!rc && step != CF_DB_DONE)
        rc = cf_store_error(s, step, "verify webhooks", err);
    return rc;
}

/* Row r (id, url, events, secret, created_at, created_by, removed_at,
 * audit_seq) against its webhook's newest record. */
static int check_row(cf_stmt *r, const json_t *state, cf_error *err)
{
    long long id = cf_stmt_int64(r, 0);
    char key[32];
    snprintf(key, sizeof key, "%lld", id);
    const json_t *last = json_object_get(state, key);
    if (!last)
        return broken(err, "webhook %lld: no webhook record in the chain (row added?)", id);
    const json_t *p = json_array_get(last, 1);
    if (cf_stmt_int64(r, 7) != json_integer_value(json_array_get(last, 0)))
        return broken(err, "webhook %lld: does not point at its newest record (put back?)",
                      id);
    const char *secret = col(r, 3);
    const json_t *want = json_object_get(p, "secret_sha256");
    char h[65] = "";
    if (secret)
        cf_sha256_hex(secret, strlen(secret), h);
    bool secret_ok = json_is_null(want) ? secret && !*secret
                                        : same_str(p, "secret_sha256", secret ? h : NULL);
    if (!same_str(p, "url", col(r, 1)) || !same_str(p, "events", col(r, 2)) ||
        !same_int(p, "created_at", cf_stmt_int64(r, 4)) ||
        !same_str(p, "created_by", col(r, 5)) ||
        !same_int(p, "removed_at", cf_stmt_int64(r, 6)) || !secret_ok ||
        cf_stmt_type(r, 1) != CF_DB_TEXT || cf_stmt_type(r, 3) != CF_DB_TEXT)
        return broken(err, "webhook %lld: not what its newest record says", id);
    return 0;
}

int cf_webhook_verify(cf_store *s, json_t *report, cf_error *err)
{
    static const char sql[] = "SELECT id, url, events, secret, created_at, created_by,"
                              " removed_at, audit_seq FROM webhooks ORDER BY id";
    json_t *state = json_object();
    if (!state)
        return nomem(err);
    int rc = replay(s, state, err);
    cf_stmt *st = rc ? NULL : once(s, sql, err);
    if (!rc && !st)
        rc = err ? err->code : CF_EIO;
    int64_t n = 0;
    int step = CF_DB_DONE;
    while (!rc && (step = cf_stmt_step(st)) == CF_DB_ROW) {
        rc = check_row(st, state, err);
        n++;
    }
    if (st)
        cf_stmt_finalize(st);
    if (!rc && step != CF_DB_DONE)
        rc = cf_store_error(s, step, "verify webhooks", err);
    if (!rc && (size_t)n != json_object_size(state))
        rc = broken(err, "%s", "webhook rows deleted");
    json_decref(state);
    json_t *tables = json_object_get(report, "tables");
    if (!tables && report) {
        tables = json_object();
        json_object_set_new(report, "tables", tables);
    }
    if (tables)
        json_object_set_new(tables, "webhooks", json_integer(n));
    return rc;
}
