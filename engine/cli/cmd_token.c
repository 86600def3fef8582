/*
 * Service identities: bearer tokens for caseflowd that act as a user of
 * the store with its roles (administrators; audited). The token is printed
 * once, on the last line of create's output; the store keeps only its
 * hash, so neither list nor anything else can show it again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* --expires: an RFC 3339 time, or DAYSd (days from the engine clock's now,
 * 1 to 36500). false after a usage message. */
static bool parse_expires(struct cli *c, int64_t *out)
{
    const char *s = c->expires;
    size_t n = strlen(s);
    if (n >= 2 && s[n - 1] == 'd' && strspn(s, "0123456789") == n - 1) {
        char *end;
        errno = 0;
        long days = strtol(s, &end, 10);
        if (!errno && days >= 1 && days <= 36500) {
            *out = cf_engine_now(c->engine) + (int64_t)days * 86400;
            return true;
        }
    } else if (parse_rfc3339(s, out)) {
        return true;
    }
    usage_error("--expires: not an RFC 3339 time or a number of days (90d, 1-36500): '%s'", s);
    return false;
}

static void print_created(const json_t *t)
{
    char b1[128], b2[128], b3[64], b4[512], b5[512];
    outf("token    %s\n", jtext(t, "id", b1, sizeof b1));
    outf("user     %s\n", jtext(t, "user", b2, sizeof b2));
    const json_t *exp = json_object_get(t, "expires_at");
    outf("expires  %s\n", json_is_string(exp) ? jtext(t, "expires_at", b3, sizeof b3) : "never");
    const char *note = json_string_value(json_object_get(t, "note"));
    if (note && note[0])
        outf("note     %s\n", jtext(t, "note", b4, sizeof b4));
    outf("The token is shown this once and never again; keep it secret. It is:\n");
    outf("%s\n", jtext(t, "token", b5, sizeof b5));
}

int cmd_token_create(struct cli *c)
{
    int64_t expires = 0;
    json_t *out = NULL;
    int st = open_engine(c, false);
    if (st)
        return st;
    if (c->expires && !parse_expires(c, &expires))
        return EXIT_USAGE;
    json_t *body = json_pack("{s:s}", "user", c->args[0]);
    if (!body) { /* not UTF-8: the engine's words for an unknown user */
        body = json_object();
        json_object_set_new(body, "user", json_string_nocheck(c->args[0]));
    }
    if (expires)
        json_object_set_new(body, "expires_at", json_integer(expires));
    if (c->note)
        json_object_set_new(body, "note", json_string_nocheck(c->note));
    struct op_req r = OP_REQ("token.create");
    r.body = body;
    st = op_run(c, &r, &out);
    json_decref(body);
    return st ? st : print_result(c, out, false, print_created);
}

static void print_tokens(const json_t *list)
{
    const json_t *t;
    size_t i;
    struct table tb;
    table_init(&tb, 8);
    table_add(&tb, (const char *[]){"ID", "USER", "CREATED", "BY", "EXPIRES", "REVOKED",
                                    "LAST USED", "NOTE"});
    json_array_foreach(list, i, t) {
        char b[8][128];
        table_add(&tb, (const char *[]){jtext(t, "id", b[0], sizeof b[0]),
                                        jtext(t, "user", b[1], sizeof b[1]),
                                        jtext(t, "created_at", b[2], sizeof b[2]),
                                        jtext(t, "created_by", b[3], sizeof b[3]),
                                        jtext(t, "expires_at", b[4], sizeof b[4]),
                                        jtext(t, "revoked_at", b[5], sizeof b[5]),
                                        jtext(t, "last_used_at", b[6], sizeof b[6]),
                                        jtext(t, "note", b[7], sizeof b[7])});
    }
    table_print_free(&tb);
}

int cmd_token_list(struct cli *c)
{
    json_t *out = NULL;
    int st = open_engine(c, false);
    if (st)
        return st;
    struct op_req r = OP_REQ("token.list");
    st = op_run(c, &r, &out);
    return st ? st : print_result(c, out, false, print_tokens);
}

static void print_revoked(const json_t *out)
{
    char b[128];
    outf("revoked token %s\n", jtext(out, "id", b, sizeof b));
}

int cmd_token_revoke(struct cli *c)
{
    json_t *out = NULL;
    int st = open_engine(c, false);
    if (st)
        return st;
    json_t *args = op_args("id", c->args[0], NULL);
    struct op_req r = OP_REQ("token.revoke");
    r.args = args;
    st = op_run(c, &r, &out);
    json_decref(args);
    return st ? st : print_result(c, out, true, print_revoked);
}
