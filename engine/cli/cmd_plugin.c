/*
 * Step plugins, inspected without needing a store: the plugins found on the
 * search path (--plugins, else CASEFLOW_PLUGIN_PATH, else the store policy
 * plugin_path when there is a store to read it from; then the installed
 * directory) and the descriptor of one plugin module.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void print_plugins(const json_t *list)
{
    const json_t *p;
    size_t i;
    struct table t;
    table_init(&t, 5);
    table_add(&t, (const char *[]){"NAME", "VERSION", "ABI", "PATH", "SUMMARY"});
    json_array_foreach(list, i, p) {
        char b1[64], b2[32], b3[32], b4[512], b5[512];
        const char *summary = json_object_get(p, "error")
                                  ? jtext(p, "error", b5, sizeof b5)
                                  : jtext(p, "summary", b5, sizeof b5);
        table_add(&t, (const char *[]){jtext(p, "name", b1, sizeof b1),
                                       jtext(p, "version", b2, sizeof b2),
                                       jtext(p, "abi", b3, sizeof b3),
                                       jtext(p, "path", b4, sizeof b4), summary});
    }
    table_print_free(&t);
}

/* Neither --plugins nor CASEFLOW_PLUGIN_PATH: the store (opened read-only)
 * whose plugin_path policy the engine searches, as every command does; NULL
 * when there is none to open (then the installed directory only). */
static cf_engine *policy_engine(const struct cli *c)
{
    if (c->plugins || getenv("CASEFLOW_PLUGIN_PATH"))
        return NULL;
    cf_open_options o;
    memset(&o, 0, sizeof o);
    o.readonly = 1;
    o.key_path = c->signing_key;
    cf_engine *e = NULL;
    cf_error err;
    return cf_engine_open(c->store, &o, &e, &err) == 0 ? e : NULL;
}

int cmd_plugin_list(struct cli *c)
{
    cf_error err;
    json_t *list = NULL;
    if (c->plugins && setenv("CASEFLOW_PLUGIN_PATH", c->plugins, 1) != 0)
        return fail(CF_ENOMEM, NULL);
    cf_engine *e = policy_engine(c);
    int rc = cf_plugin_list(e, &list, &err);
    cf_engine_close(e);
    if (rc < 0)
        return fail(rc, &err);
    return print_result(c, list, false, print_plugins);
}

static void print_descriptor(const json_t *d)
{
    char b[1024];
    outf("name      %s\n", jtext(d, "name", b, sizeof b));
    outf("version   %s\n", jtext(d, "version", b, sizeof b));
    outf("summary   %s\n", jtext(d, "summary", b, sizeof b));
    outf("abi       %s\n", jtext(d, "abi", b, sizeof b));
    outf("accepts   %s\n", join_strings(d, "accepts", b, sizeof b));
    outf("emits     %s\n", join_strings(d, "emits", b, sizeof b));
    outf("path      %s\n", jtext(d, "path", b, sizeof b));
    outf("sha256    %s\n", jtext(d, "sha256", b, sizeof b));
}

int cmd_plugin_info(struct cli *c)
{
    cf_error err;
    json_t *d = NULL;
    if (c->plugins && setenv("CASEFLOW_PLUGIN_PATH", c->plugins, 1) != 0)
        return fail(CF_ENOMEM, NULL);
    cf_engine *e = policy_engine(c);
    int rc = cf_plugin_info(e, c->args[0], &d, &err);
    cf_engine_close(e);
    if (rc < 0)
        return fail(rc, &err);
    return print_result(c, d, false, print_descriptor);
}
