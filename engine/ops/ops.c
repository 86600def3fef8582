/*
 * The operations table: every operation the command and caseflowd share,
 * with its HTTP method and route, and the two ways to find one (by name, or
 * by method and path, binding the route's {name} segments); and the one
 * mapping of engine errors to HTTP statuses. What each operation does lives
 * in op_<group>.c; this file knows only their names.
 */
#include <string.h>

#include "ops_internal.h"

enum { R = CF_OP_READ, W = CF_OP_WRITE, A = CF_OP_ADMIN, B = CF_OP_BODY, N = CF_OP_NDJSON,
       H = CF_OP_HTML };

static const cf_op table[] = {
    {"referral.create", "POST", "/v1/referrals", W | B | N,
     "Take in one referral (201 created, 200 already known), or a batch of JSON lines "
     "(207 when some lines are refused)",
     cf_op_referral_create},
    {"case.list", "GET", "/v1/cases", R,
     "List cases with filters (state, workflow, version, grade, overdue, deadline_before, "
     "updated_since, task=open), a page at a time (limit, after)",
     cf_op_case_list},
    {"case.get", "GET", "/v1/cases/{id}", R, "Read one case", cf_op_case_get},
    {"case.history", "GET", "/v1/cases/{id}/history", R, "A case's full history",
     cf_op_case_history},
    {"case.act", "POST", "/v1/cases/{id}/events/{event}", W | B,
     "Record an event on a case (If-Match: its revision; Idempotency-Key: a safe retry)",
     cf_op_case_act},
    {"case.pole", "GET", "/v1/cases/{id}/pole", R,
     "A case as POLE data: people, objects, locations, events", cf_op_case_pole},
    {"task.list", "GET", "/v1/tasks", R,
     "List tasks (status open|done, kind, case, assignee), a page at a time", cf_op_task_list},
    {"task.claim", "POST", "/v1/tasks/{id}/claim", W, "Claim an open task",
     cf_op_task_claim},
    {"task.complete", "POST", "/v1/tasks/{id}/complete", W | B,
     "Complete a task with a result (body {\"result\": {...}} or the result itself)",
     cf_op_task_complete},
    {"feed.read", "GET", "/v1/feed", R,
     "Domain events in commit order after a cursor (after, limit)", cf_op_feed_read},
    {"report.get", "GET", "/v1/report", R | H,
     "The management report (workflow, or workflow=NAME@VERSION, version, since; "
     "format=html: a web page of its tables and charts)",
     cf_op_report_get},
    {"workflow.list", "GET", "/v1/workflows", 0, "Deployed workflow versions",
     cf_op_workflow_list},
    {"workflow.deploy", "POST", "/v1/workflows", W | A | B,
     "Deploy a workflow: {\"main\": FILE, \"files\": {NAME: TEXT}} with a reason "
     "(X-Caseflow-Reason); it becomes the active version unless inactive=true; dry_run=true "
     "deploys nothing",
     cf_op_workflow_deploy},
    {"workflow.activate", "POST", "/v1/workflows/{name}/versions/{version}/activate", W | A,
     "Make a deployed version the one new referrals start on, with a reason (a rollback is "
     "activating the earlier version)",
     cf_op_workflow_activate},
    {"workflow.repin", "POST", "/v1/workflows/{name}/versions/{version}/repin", W | A,
     "Accept the plugin builds found now for a deployed version as its pins, with a reason "
     "(a build other than the pinned one is refused until then)",
     cf_op_workflow_repin},
    {"workflow.migrate", "POST", "/v1/workflows/{name}/migrate", W | A | B,
     "Move open cases to another version: {\"to\": N, \"cases\": [ID...] | \"all\": true, "
     "\"map\"?: [\"OLD=NEW\"...], \"from\"?, \"dry_run\"?, \"request\"?, \"approve\"?}",
     cf_op_workflow_migrate},
    {"workflow.simulate", "POST", "/v1/workflows/simulate", R | A | B,
     "Replay recorded cases through a candidate workflow sent as deploy's body (plus "
     "\"cases\"?: [ID...], \"since\"?: Unix seconds): per case where it diverges, and a "
     "summary; writes nothing but the audited read",
     cf_op_workflow_simulate},
    {"token.create", "POST", "/v1/tokens", W | A | B,
     "Create a bearer token for a user ({user, expires_at?, note?}); shown once",
     cf_op_token_create},
    {"token.list", "GET", "/v1/tokens", A, "List tokens (never the tokens themselves)",
     cf_op_token_list},
    {"token.revoke", "DELETE", "/v1/tokens/{id}", W | A, "Revoke a token",
     cf_op_token_revoke},
    {"webhook.add", "POST", "/v1/webhooks", W | A | B,
     "Add a webhook ({url, events, secret})", cf_op_webhook_add},
    {"webhook.list", "GET", "/v1/webhooks", A, "List webhooks and their delivery state",
     cf_op_webhook_list},
    {"webhook.remove", "DELETE", "/v1/webhooks/{id}", W | A, "Remove a webhook",
     cf_op_webhook_remove},
    {"webhook.redeliver", "POST", "/v1/webhooks/{id}/redeliver", W | A,
     "Queue a webhook's dead letters again", cf_op_webhook_redeliver},
    /* retention (i9-html) */
    {"retention.dispose_due", "POST", "/v1/retention/dispose-due", W | A,
     "Dispose of every closed case whose retention review is due, passing over those under "
     "legal hold, with a reason (207 when some cases failed and were left as they were)",
     cf_op_retention_dispose_due},
};

#define NOPS (sizeof table / sizeof table[0])

const cf_op *cf_ops(size_t *n)
{
    if (n)
        *n = NOPS;
    return table;
}

const cf_op *cf_op_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < NOPS; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

/* ---- matching a path ------------------------------------------------------ */

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * A path segment (len bytes at s) percent-decoded, as a new JSON string;
 * NULL when it is empty, holds a malformed escape, decodes to a '/' or a
 * NUL (which would make it another path, or cut it short), or is not UTF-8.
 */
static json_t *decode_segment(const char *s, size_t len)
{
    char buf[1024];
    size_t n = 0;
    if (len == 0 || len >= sizeof buf)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (len - i < 3)
                return NULL;
            int hi = hex_digit(s[i + 1]), lo = hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return NULL;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '/' || c == '\0')
            return NULL;
        buf[n++] = c;
    }
    return json_stringn(buf, n); /* NULL when not UTF-8 */
}

/*
 * Whether path fits route; its {name} segments are set in bound (when not
 * NULL) as decoded strings. The literal segments compare as they are.
 */
static int route_fits(const char *route, const char *path, json_t *bound)
{
    const char *r = route, *p = path;
    if (*r != '/' || *p != '/')
        return 0;
    while (*r && *p) {
        r++;
        p++;
        size_t rlen = strcspn(r, "/"), plen = strcspn(p, "/");
        if (rlen > 2 && r[0] == '{' && r[rlen - 1] == '}') {
            json_t *v = decode_segment(p, plen);
            if (!v)
                return 0;
            char name[64];
            size_t nlen = rlen - 2 < sizeof name - 1 ? rlen - 2 : sizeof name - 1;
            memcpy(name, r + 1, nlen);
            name[nlen] = '\0';
            if (bound)
                json_object_set_new(bound, name, v);
            else
                json_decref(v);
        } else if (rlen != plen || strncmp(r, p, rlen) != 0) {
            return 0;
        }
        r += rlen;
        p += plen;
    }
    return *r == '\0' && *p == '\0';
}

const cf_op *cf_op_match(const char *method, const char *path, json_t *params,
                         int *path_known)
{
    if (path_known)
        *path_known = 0;
    if (!method || !path)
        return NULL;
    for (size_t i = 0; i < NOPS; i++) {
        if (!route_fits(table[i].route, path, NULL))
            continue;
        if (strcmp(table[i].method, method) != 0) {
            if (path_known)
                *path_known = 1;
            continue;
        }
        if (params && json_is_object(params))
            route_fits(table[i].route, path, params);
        return &table[i];
    }
    return NULL;
}

/* ---- the one mapping of engine errors to HTTP statuses ------------------- */

int cf_op_http_status(const cf_error *err)
{
    if (!err)
        return 500;
    switch (err->code) {
    case 0: return 200;
    case CF_EUSAGE: return 400;
    case CF_EDENIED: return strcmp(err->field, "token") == 0 ? 401 : 403;
    case CF_ENOTFOUND: return 404;
    case CF_ECONFLICT: return strcmp(err->field, "revision") == 0 ? 412 : 409;
    case CF_EINVALID: return 422;
    /* A workflow or version not deployed is the caller's 404; a plugin the
     * server lacks is its own failure. */
    case CF_EMISSING:
        return strcmp(err->field, "workflow") == 0 || strcmp(err->field, "version") == 0 ||
                       strcmp(err->field, "to") == 0 || strcmp(err->field, "from") == 0
                   ? 404
                   : 503;
    case CF_EIO: return 503;
    default: return 500;
    }
}
