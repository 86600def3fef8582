/*
 * store copy FROM TO: move a store between backends (SQLite and
 * PostgreSQL) with its audit chain, verified on both sides (cf_store_copy).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "progress.h"

static void print_copy(const json_t *out)
{
    const json_t *from = json_object_get(out, "from"), *to = json_object_get(out, "to");
    const json_t *rows = json_object_get(out, "rows");
    char b1[32], b2[80], b3[32], b4[80], b5[32];
    const char *k;
    const json_t *v;
    int64_t total = 0;
    json_object_foreach((json_t *)rows, k, v)
    {
        outf("  %-14s %lld rows\n", k, (long long)json_integer_value(v));
        total += json_integer_value(v);
    }
    outf("copied %lld rows from %s (%s) to %s (%s)\n", (long long)total,
         json_string_value(json_object_get(from, "store")),
         json_string_value(json_object_get(from, "backend")),
         json_string_value(json_object_get(to, "store")),
         json_string_value(json_object_get(to, "backend")));
    outf("source head: record %s, %s\n", jtext(from, "head_seq", b1, sizeof b1),
         jtext(from, "head", b2, sizeof b2));
    outf("copy head:   record %s, %s (store.copy at record %s, signed)\n",
         jtext(to, "head_seq", b3, sizeof b3), jtext(to, "head", b4, sizeof b4),
         jtext(out, "copy_seq", b5, sizeof b5));
    const char *kp = json_string_value(json_object_get(out, "key_path"));
    if (kp)
        outf("signing key: %s\n", kp);
    outf("verified: the source before the copy, the copy after it\n");
}

int cmd_store_copy(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    /* FROM is the store this command opens; read-only: the copy writes
     * nothing to it. */
    c->store = c->args[0];
    int rc = open_engine_mode(c, false, true);
    if (rc)
        return rc;
    cf_copy_options o;
    memset(&o, 0, sizeof o);
    o.key_dir = c->key_dir;
    cf_engine_set_progress(c->engine, progress_engine, NULL);
    rc = cf_store_copy(c->engine, c->args[1], &o, &out, &err);
    progress_end();
    if (rc < 0)
        return fail(rc, &err);
    return print_result(c, out, false, print_copy);
}
