/*
 * Lawful retention: the closed cases whose review is due, and the decisions
 * an administrator records on one: keep it until a date, place or lift a
 * legal hold, or dispose of its personal data (keeping the digests).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"

/* A decision on one case: "CF-000001  held  (closed)". Takes out. */
static int print_decision(struct cli *c, json_t *out, const char *what)
{
    if (c->json) {
        print_json(out, false);
    } else {
        char b1[64], b2[64];
        outf("%s  %s  (%s)\n", jtext(out, "id", b1, sizeof b1), what,
             jtext(out, "state", b2, sizeof b2));
    }
    json_decref(out);
    return 0;
}

static void print_due(const json_t *list)
{
    const json_t *r;
    size_t i;
    struct table t;
    table_init(&t, 5);
    table_add(&t, (const char *[]){"ID", "STATE", "OUTCOME", "REVIEW", "LEGAL HOLD"});
    json_array_foreach(list, i, r) {
        char b1[64], b2[64], b3[64], b4[64], b5[256];
        table_add(&t, (const char *[]){jtext(r, "id", b1, sizeof b1),
                                       jtext(r, "state", b2, sizeof b2),
                                       jtext(r, "outcome", b3, sizeof b3),
                                       jtext(r, "review_at", b4, sizeof b4),
                                       jtext(r, "legal_hold", b5, sizeof b5)});
    }
    table_print_free(&t);
}

int cmd_retention_due(struct cli *c)
{
    cf_error err;
    json_t *list = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_retention_due(c->engine, &list, &err);
    if (rc < 0)
        return fail(rc, &err);
    return print_result(c, list, false, print_due);
}

int cmd_retention_keep(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    int64_t until = 0;
    if (c->until && !parse_since(c->until, &until))
        return EXIT_USAGE;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_retention_keep(c->engine, c->args[0], until, &out, &err);
    return rc < 0 ? fail(rc, &err) : print_decision(c, out, "kept");
}

static int hold_or_release(struct cli *c, int hold)
{
    cf_error err;
    json_t *out = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_retention_hold(c->engine, c->args[0], hold, &out, &err);
    return rc < 0 ? fail(rc, &err) : print_decision(c, out, hold ? "held" : "released");
}

int cmd_retention_hold(struct cli *c)
{
    return hold_or_release(c, 1);
}

int cmd_retention_release(struct cli *c)
{
    return hold_or_release(c, 0);
}

/* "CF-000001  disposed of  (closed)" per case, then the counts. */
static void print_disposals(const json_t *out)
{
    const json_t *r;
    size_t i;
    json_array_foreach(json_object_get(out, "cases"), i, r) {
        char b1[64], b2[64], b3[300];
        const char *status = json_string_value(json_object_get(r, "status"));
        if (status && strcmp(status, "disposed") == 0)
            outf("%s  disposed of  (%s)\n", jtext(r, "id", b1, sizeof b1),
                 jtext(r, "state", b2, sizeof b2));
        else if (status && strcmp(status, "held") == 0)
            outf("%s  under legal hold: kept\n", jtext(r, "id", b1, sizeof b1));
        else
            outf("%s  failed: %s\n", jtext(r, "id", b1, sizeof b1),
                 jtext(r, "why", b3, sizeof b3));
    }
    char d[32], h[32], f[32];
    outf("%s disposed of, %s under legal hold, %s failed\n", jtext(out, "disposed", d, sizeof d),
         jtext(out, "held", h, sizeof h), jtext(out, "failed", f, sizeof f));
}

/* retention dispose --due: each case due in turn, with progress. */
static int dispose_due(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    cf_engine_set_progress(c->engine, progress_engine, NULL);
    rc = cf_retention_dispose_due(c->engine, &out, &err);
    progress_end();
    if (out) {
        if (c->json)
            print_json(out, false);
        else
            print_disposals(out);
        json_decref(out);
    }
    return rc < 0 ? fail(rc, &err) : check_stdout();
}

int cmd_retention_dispose(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    if (c->due && c->nargs)
        return usage_error("retention dispose: give a case ID or --due, not both");
    if (c->due)
        return dispose_due(c);
    if (!c->nargs)
        return usage_error("retention dispose needs a case ID (or --due)");
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_retention_dispose(c->engine, c->args[0], &out, &err);
    return rc < 0 ? fail(rc, &err) : print_decision(c, out, "disposed of");
}

