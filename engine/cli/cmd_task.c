/*
 * Tasks cases open for a role (the MASH referral when children may be at
 * risk, a supervisor's review): list them, claim one, complete it with a
 * result. Through the task.list, task.claim and task.complete operations,
 * here or through caseflowd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void print_tasks(const json_t *list)
{
    const json_t *t;
    size_t i;
    struct table tb;
    table_init(&tb, 7);
    table_add(&tb, (const char *[]){"ID", "CASE", "KIND", "ROLE", "STATUS", "ASSIGNEE",
                                    "CREATED"});
    json_array_foreach(list, i, t) {
        char b1[32], b2[64], b3[64], b4[64], b5[32], b6[64], b7[64];
        table_add(&tb, (const char *[]){jtext(t, "id", b1, sizeof b1),
                                        jtext(t, "case", b2, sizeof b2),
                                        jtext(t, "kind", b3, sizeof b3),
                                        jtext(t, "role", b4, sizeof b4),
                                        jtext(t, "status", b5, sizeof b5),
                                        jtext(t, "assignee", b6, sizeof b6),
                                        jtext(t, "created_at", b7, sizeof b7)});
    }
    table_print_free(&tb);
}

/* "task 3  mash_referral  CF-000001  claimed by officer1" */
static void print_task(const json_t *t)
{
    char b1[32], b2[64], b3[64], b4[32], b5[64];
    outf("task %s  %s  %s  %s%s%s\n", jtext(t, "id", b1, sizeof b1),
         jtext(t, "kind", b2, sizeof b2), jtext(t, "case", b3, sizeof b3),
         jtext(t, "status", b4, sizeof b4),
         json_is_string(json_object_get(t, "assignee")) ? " by " : "",
         json_is_string(json_object_get(t, "assignee")) ? jtext(t, "assignee", b5, sizeof b5)
                                                         : "");
}

/* A task id argument: a positive integer, else a usage error (false). */
static bool task_id(const char *text)
{
    if (!positive_id(text)) {
        usage_error("task ID: not a positive integer: '%s'", text);
        return false;
    }
    return true;
}

/* Every task the filters select, up to limit (0: all), page by page into
 * one array (*out, new); or, with --after, the one page. */
static int task_pages(struct cli *c, json_t *args, int64_t limit, json_t **out)
{
    json_t *items = json_array(), *page = NULL;
    struct op_req r = OP_REQ("task.list");
    r.args = args;
    for (;;) {
        int64_t want = limit ? limit - (int64_t)json_array_size(items) : 1000;
        json_object_set_new(args, "limit", json_integer(want < 1000 ? want : 1000));
        int st = op_run(c, &r, &page);
        if (st) {
            json_decref(items);
            return st;
        }
        const json_t *got = json_object_get(page, "items"), *next = json_object_get(page, "next");
        json_array_extend(items, (json_t *)got);
        bool done = json_is_null(next) || !next || json_array_size(got) == 0 ||
                    (limit && (int64_t)json_array_size(items) >= limit);
        if (!done)
            json_object_set(args, "after", (json_t *)next);
        json_decref(page);
        if (done)
            break;
    }
    *out = items;
    return 0;
}

int cmd_task_list(struct cli *c)
{
    int64_t limit = 0, after = 0;
    json_t *out = NULL;
    if ((c->limit && !parse_count("limit", c->limit, &limit)) ||
        (c->after && !parse_count("after", c->after, &after)))
        return EXIT_USAGE;
    int st = ops_open(c);
    if (st)
        return st;
    json_t *args = op_args("status", c->task_status, "kind", c->kind, "case", c->case_id,
                           "assignee", c->assignee, NULL);
    if (!c->after) {
        st = task_pages(c, args, limit, &out);
        json_decref(args);
        return st ? st : print_result(c, out, false, print_tasks);
    }
    struct op_req r = OP_REQ("task.list");
    json_object_set_new(args, "after", json_integer(after));
    if (limit)
        json_object_set_new(args, "limit", json_integer(limit));
    r.args = args;
    st = op_run(c, &r, &out);
    json_decref(args);
    if (st)
        return st;
    if (c->json)
        return print_result(c, out, false, print_tasks);
    print_tasks(json_object_get(out, "items"));
    const json_t *next = json_object_get(out, "next");
    if (json_is_integer(next))
        say("next page: --after %" JSON_INTEGER_FORMAT, json_integer_value(next));
    json_decref(out);
    return 0;
}

/* task.claim or task.complete on the task in the first argument. */
static int task_change(struct cli *c, const char *op, const json_t *body)
{
    json_t *out = NULL;
    if (!task_id(c->args[0]))
        return EXIT_USAGE;
    int st = ops_open(c);
    if (st)
        return st;
    json_t *args = op_args("id", c->args[0], NULL);
    struct op_req r = OP_REQ(op);
    r.args = args;
    r.body = body;
    st = op_run(c, &r, &out);
    json_decref(args);
    return st ? st : print_result(c, out, true, print_task);
}

int cmd_task_claim(struct cli *c)
{
    return task_change(c, "task.claim", NULL);
}

int cmd_task_complete(struct cli *c)
{
    json_t *result = NULL;
    if (c->result && c->result_file)
        return usage_error("--result and --result-file: give one of them");
    if (c->result || c->result_file) {
        char at[4096];
        const char *text = c->result;
        if (c->result_file) {
            if (snprintf(at, sizeof at, "@%s", c->result_file) >= (int)sizeof at)
                return usage_error("--result-file: the path is too long");
            text = at;
        }
        int st = load_json_option(c->result ? "result" : "result-file", text, &result);
        if (st)
            return st;
    }
    json_t *body = result ? json_pack("{s:o}", "result", result) : NULL;
    int st = task_change(c, "task.complete", body);
    json_decref(body);
    return st;
}
