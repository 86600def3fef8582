/*
 * Cases: show, list and history read cases (audited reads); act records a
 * person's action or a system's result; tick fires the timers that are due.
 * All but tick run the operations of the shared table (case.get,
 * case.list, case.history, case.act), here or through caseflowd. list pages
 * through the case query: every case by default, or one page from a cursor.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cli.h"

static void print_case(const json_t *cs)
{
    char b[512];
    const json_t *v;
    size_t i;
    outf("id          %s\n", jtext(cs, "id", b, sizeof b));
    outf("workflow    %s\n", workflow_text(cs, b, sizeof b));
    outf("state       %s\n", jtext(cs, "state", b, sizeof b));
    outf("revision    %s\n", jtext(cs, "revision", b, sizeof b));
    outf("created     %s\n", jtext(cs, "created_at", b, sizeof b));
    outf("updated     %s\n", jtext(cs, "updated_at", b, sizeof b));
    if (json_object_get(cs, "deadline_at"))
        outf("deadline    %s\n", jtext(cs, "deadline_at", b, sizeof b));
    json_array_foreach(json_object_get(cs, "tasks"), i, v) {
        char *s = json_dumps(v, JSON_COMPACT);
        outf("task        %s\n", s ? s : "?");
        free(s);
    }
    json_array_foreach(json_object_get(cs, "timers"), i, v) {
        char *s = json_dumps(v, JSON_COMPACT);
        outf("timer       %s\n", s ? s : "?");
        free(s);
    }
    /* Indented JSON: its strings' C0 controls are escaped by jansson, the
     * rest (DEL, C1) by out_block. */
    char *data = json_dumps(json_object_get(cs, "data"), JSON_INDENT(2) | JSON_ENCODE_ANY);
    outf("data        ");
    out_block(data);
    outf("\n");
    free(data);
}

/* A read of one case by id (case.get, case.history), printed by print. */
static int read_case(struct cli *c, const char *op, void (*print)(const json_t *))
{
    json_t *out = NULL;
    int st = ops_open(c);
    if (st)
        return st;
    json_t *args = op_args("id", c->args[0], NULL);
    struct op_req r = OP_REQ(op);
    r.args = args;
    st = op_run(c, &r, &out);
    json_decref(args);
    return st ? st : print_result(c, out, false, print);
}

int cmd_show(struct cli *c)
{
    return read_case(c, "case.get", print_case);
}

static void case_row(struct table *t, const json_t *cs)
{
    char b1[64], b2[64], b3[96], b4[64];
    table_add(t, (const char *[]){jtext(cs, "id", b1, sizeof b1), jtext(cs, "state", b2, sizeof b2),
                                  workflow_text(cs, b3, sizeof b3),
                                  jtext(cs, "updated_at", b4, sizeof b4)});
}

static void case_header(struct table *t)
{
    table_add(t, (const char *[]){"ID", "STATE", "WORKFLOW", "UPDATED"});
}

static void print_cases(const json_t *list)
{
    const json_t *cs;
    size_t i;
    struct table t;
    table_init(&t, 4);
    case_header(&t);
    json_array_foreach(list, i, cs) case_row(&t, cs);
    table_print_free(&t);
}

/* A time option of list: RFC 3339, a date (UTC midnight) or Unix seconds,
 * as the text the operation takes. false after a usage message. */
static bool time_option(const char *opt, const char *text, char *buf, size_t size)
{
    int64_t t;
    bool digits = text[0] != '\0' && strspn(text, "0123456789") == strlen(text);
    if (digits && strlen(text) < 19) {
        snprintf(buf, size, "%s", text);
        return true;
    }
    if (strlen(text) == 10)
        snprintf(buf, size, "%sT00:00:00Z", text);
    else
        snprintf(buf, size, "%s", text);
    if (strlen(text) >= size || !parse_rfc3339(buf, &t)) {
        usage_error("--%s: not an RFC 3339 time, a date (YYYY-MM-DD) or Unix seconds: '%s'",
                    opt, text);
        return false;
    }
    return true;
}

/* The parameters of case.list from list's options; NULL after a usage
 * message. */
static json_t *list_args(const struct cli *c)
{
    char before[64], since[64];
    if ((c->deadline_before &&
         !time_option("deadline-before", c->deadline_before, before, sizeof before)) ||
        (c->updated_since &&
         !time_option("updated-since", c->updated_since, since, sizeof since)))
        return NULL;
    json_t *args = op_args("state", c->state, "workflow", c->workflow, "version", c->wf_version,
                           "grade", c->grade, "deadline_before",
                           c->deadline_before ? before : NULL, "updated_since",
                           c->updated_since ? since : NULL, "task",
                           c->open_tasks ? "open" : NULL, NULL);
    if (c->overdue)
        json_object_set_new(args, "overdue", json_true());
    return args;
}

/* Every case the filters select, up to limit (0: all), read a page at a
 * time and printed as it is read (--json one array, else the table, its
 * widths those of the rows so far): nothing is kept of a page once printed,
 * so a list of every case of a large store takes no more memory than a page
 * does. 0, or an exit status after a message; what was printed before a
 * failure stays printed (the --json array then left open, not valid). */
static int list_all(struct cli *c, json_t *args, int64_t limit)
{
    json_t *page = NULL;
    struct op_req r = OP_REQ("case.list");
    struct json_seq seq = {0};
    struct table t;
    int64_t printed = 0;
    table_init(&t, 4);
    r.args = args;
    for (;;) {
        int64_t want = limit ? limit - printed : 1000;
        json_object_set_new(args, "limit", json_integer(want < 1000 ? want : 1000));
        int st = op_run(c, &r, &page);
        if (st) {
            table_print_free(&t);
            return st;
        }
        const json_t *items = json_object_get(page, "items"), *cs;
        size_t i;
        if (!c->json && printed == 0 && t.nrows == 0)
            case_header(&t); /* with the first page: nothing at all on a failure */
        json_array_foreach(items, i, cs) {
            if (c->json)
                json_seq_item(&seq, cs);
            else
                case_row(&t, cs);
        }
        table_flush(&t);
        printed += (int64_t)json_array_size(items);
        const json_t *next = json_object_get(page, "next");
        bool done = !json_is_string(next) || (limit && printed >= limit) ||
                    json_array_size(items) == 0;
        if (!done)
            json_object_set(args, "after", (json_t *)next);
        json_decref(page);
        if (done)
            break;
    }
    if (c->json)
        json_seq_end(&seq);
    table_print_free(&t);
    return 0;
}

/* One page after the cursor: --json prints it whole ({items, next}); the
 * table otherwise, and the next cursor on standard error. */
static int list_page(struct cli *c, json_t *args, int64_t limit)
{
    json_t *page = NULL;
    struct op_req r = OP_REQ("case.list");
    if (limit)
        json_object_set_new(args, "limit", json_integer(limit));
    json_object_set_new(args, "after", json_string_nocheck(c->after));
    r.args = args;
    int st = op_run(c, &r, &page);
    if (st)
        return st;
    if (c->json)
        return print_result(c, page, false, print_cases);
    print_cases(json_object_get(page, "items"));
    const char *next = json_string_value(json_object_get(page, "next"));
    if (next)
        say("next page: --after %s", next);
    json_decref(page);
    return 0;
}

int cmd_list(struct cli *c)
{
    int64_t limit = 0;
    if (c->limit && !parse_count("limit", c->limit, &limit))
        return EXIT_USAGE;
    json_t *args = list_args(c);
    if (!args)
        return EXIT_USAGE;
    int st = ops_open(c);
    if (!st && c->after)
        st = list_page(c, args, limit);
    else if (!st)
        st = list_all(c, args, limit);
    json_decref(args);
    return st;
}

static void print_history(const json_t *hist)
{
    const json_t *e;
    size_t i;
    struct table t;
    table_init(&t, 6);
    table_add(&t, (const char *[]){"SEQ", "AT", "ACTOR", "EVENT", "FROM", "TO"});
    json_array_foreach(hist, i, e) {
        char b1[32], b2[64], b3[64], b4[64], b5[160], b6[64], b7[64];
        snprintf(b5, sizeof b5, "%s (%s)", jtext(e, "actor", b3, sizeof b3),
                 jtext(e, "role", b4, sizeof b4));
        table_add(&t, (const char *[]){jtext(e, "seq", b1, sizeof b1),
                                       jtext(e, "at", b2, sizeof b2), b5,
                                       jtext(e, "event", b3, sizeof b3),
                                       jtext(e, "from", b6, sizeof b6),
                                       jtext(e, "to", b7, sizeof b7)});
    }
    table_print_free(&t);
}

int cmd_history(struct cli *c)
{
    return read_case(c, "case.history", print_history);
}

static void print_acted(const json_t *out)
{
    char b1[64], b2[64], b3[64], b4[32];
    outf("%s  %s -> %s  (revision %s%s)\n", jtext(out, "id", b1, sizeof b1),
         jtext(out, "previous_state", b2, sizeof b2), jtext(out, "state", b3, sizeof b3),
         jtext(out, "revision", b4, sizeof b4),
         json_is_true(json_object_get(out, "replayed")) ? ", replayed" : "");
}

int cmd_act(struct cli *c)
{
    json_t *data = NULL, *out = NULL;
    int64_t revision = -1;
    if (c->revision && !parse_count("revision", c->revision, &revision))
        return EXIT_USAGE;
    if (c->data) {
        int st = load_data(c->data, &data);
        if (st)
            return st;
    }
    int st = ops_open(c);
    if (st) {
        json_decref(data);
        return st;
    }
    json_t *args = op_args("id", c->args[0], "event", c->args[1], NULL);
    struct op_req r = OP_REQ("case.act");
    r.args = args;
    r.body = data;
    r.idempotency_key = c->idempotency_key;
    r.expect_revision = revision;
    st = op_run(c, &r, &out);
    json_decref(args);
    json_decref(data);
    if (st)
        return st;
    return print_result(c, out, true, print_acted);
}

/* Each timer fired ("CF-000001  expired  closed", or "refused: " and why,
 * or "kept: " and why for a timer its case's state cannot take), then how
 * many fired. */
static void print_fired(const json_t *fired)
{
    const json_t *f;
    size_t i, n = 0;
    json_array_foreach(fired, i, f) {
        char b1[64], b2[64], b3[512];
        bool failed = json_object_get(f, "error") != NULL;
        bool kept = json_is_true(json_object_get(f, "kept"));
        n += !failed;
        outf("%s  %s  %s%s\n", jtext(f, "id", b1, sizeof b1), jtext(f, "event", b2, sizeof b2),
             failed && !kept ? "refused: " : "",
             failed ? jtext(f, "error", b3, sizeof b3) : jtext(f, "state", b3, sizeof b3));
    }
    outf("%zu timer%s fired\n", n, n == 1 ? "" : "s");
}

int cmd_tick(struct cli *c)
{
    cf_error err;
    json_t *fired = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_tick(c->engine, &fired, &err);
    /* A refused timer still leaves the others' results to print. */
    if (!fired) {
        if (rc < 0)
            return fail(rc, &err);
        fired = json_array();
    }
    print_result(c, fired, false, print_fired);
    return rc < 0 ? fail(rc, &err) : 0;
}
