/*
 * The change feed: domain events (CloudEvents) in commit order after a
 * cursor, through the feed.read operation, here or through caseflowd. One
 * page per run; the next cursor is the page's "next".
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* The engine's page when none is asked for. */
#define FEED_PAGE 100

static void print_events(const json_t *events)
{
    const json_t *e;
    size_t i;
    struct table t;
    table_init(&t, 4);
    table_add(&t, (const char *[]){"SEQ", "TIME", "TYPE", "SUBJECT"});
    json_array_foreach(events, i, e) {
        char b1[32], b2[64], b3[128], b4[128];
        table_add(&t, (const char *[]){jtext(e, "seq", b1, sizeof b1),
                                       jtext(e, "time", b2, sizeof b2),
                                       jtext(e, "type", b3, sizeof b3),
                                       jtext(e, "subject", b4, sizeof b4)});
    }
    table_print_free(&t);
}

int cmd_feed(struct cli *c)
{
    int64_t after = 0, limit = 0;
    json_t *out = NULL;
    if ((c->after && !parse_count("after", c->after, &after)) ||
        (c->limit && !parse_count("limit", c->limit, &limit)))
        return EXIT_USAGE;
    int st = ops_open(c);
    if (st)
        return st;
    json_t *args = json_pack("{s:I}", "after", (json_int_t)after);
    if (c->limit)
        json_object_set_new(args, "limit", json_integer(limit));
    struct op_req r = OP_REQ("feed.read");
    r.args = args;
    st = op_run(c, &r, &out);
    json_decref(args);
    if (st)
        return st;
    if (c->json)
        return print_result(c, out, false, print_events);
    const json_t *events = json_object_get(out, "events");
    print_events(events);
    /* A full page: there may be more after it. */
    if (json_array_size(events) > 0 &&
        (int64_t)json_array_size(events) >= (limit ? limit : FEED_PAGE))
        say("next page: --after %" JSON_INTEGER_FORMAT,
            json_integer_value(json_object_get(out, "next")));
    json_decref(out);
    return 0;
}
