/*
 * Webhooks: caseflowd posts the domain events of chosen types to a URL,
 * signed with HMAC-SHA256 under a secret (administrators; audited). The
 * secret comes from a file others cannot read, never from the command
 * line, where any user could see it in the process list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The most a secret file may hold. */
#define SECRET_MAX 4096

static void print_webhook(const json_t *w)
{
    char b1[32], b2[1024], b3[512];
    outf("webhook %s  %s  %s\n", jtext(w, "id", b1, sizeof b1), jtext(w, "url", b2, sizeof b2),
         jtext(w, "events", b3, sizeof b3));
}

/* The secret in --secret-file: its text without a final line break; at
 * least 16 bytes, no NUL. *out is a new string (free it after wiping). */
static int read_secret(const char *path, char **out)
{
    char *text = NULL;
    size_t len = 0;
    int st = read_small_file("secret-file", path, SECRET_MAX, true, &text, &len);
    if (st)
        return st;
    if (len > 0 && text[len - 1] == '\n')
        text[--len] = '\0';
    if (len > 0 && text[len - 1] == '\r')
        text[--len] = '\0';
    if (memchr(text, '\0', len) || len < 16) {
        say("--secret-file: %s: a secret is at least 16 bytes, without NUL", path);
        memset(text, 0, len);
        free(text);
        return EXIT_DATAERR;
    }
    *out = text;
    return 0;
}

int cmd_webhook_add(struct cli *c)
{
    char *secret = NULL;
    json_t *out = NULL;
    if (!c->events || !c->secret_file)
        return usage_error("webhook add needs --events TYPES and --secret-file FILE");
    int st = read_secret(c->secret_file, &secret);
    if (st)
        return st;
    st = open_engine(c, false);
    if (!st) {
        json_t *body = json_object();
        json_object_set_new(body, "url", json_string_nocheck(c->args[0]));
        json_object_set_new(body, "events", json_string_nocheck(c->events));
        json_object_set_new(body, "secret", json_string_nocheck(secret));
        struct op_req r = OP_REQ("webhook.add");
        r.body = body;
        st = op_run(c, &r, &out);
        json_decref(body);
    }
    memset(secret, 0, strlen(secret));
    free(secret);
    return st ? st : print_result(c, out, true, print_webhook);
}

static void print_webhooks(const json_t *list)
{
    const json_t *w;
    size_t i;
    struct table t;
    table_init(&t, 7);
    table_add(&t, (const char *[]){"ID", "URL", "EVENTS", "FAILING", "PENDING", "DEAD",
                                   "LAST ERROR"});
    json_array_foreach(list, i, w) {
        char b[7][256];
        table_add(&t, (const char *[]){jtext(w, "id", b[0], sizeof b[0]),
                                       jtext(w, "url", b[1], sizeof b[1]),
                                       jtext(w, "events", b[2], sizeof b[2]),
                                       jtext(w, "failing", b[3], sizeof b[3]),
                                       jtext(w, "pending", b[4], sizeof b[4]),
                                       jtext(w, "dead", b[5], sizeof b[5]),
                                       jtext(w, "last_error", b[6], sizeof b[6])});
    }
    table_print_free(&t);
}

int cmd_webhook_list(struct cli *c)
{
    json_t *out = NULL;
    int st = open_engine(c, false);
    if (st)
        return st;
    struct op_req r = OP_REQ("webhook.list");
    st = op_run(c, &r, &out);
    return st ? st : print_result(c, out, false, print_webhooks);
}

static void print_removed(const json_t *out)
{
    char b[32];
    outf("removed webhook %s\n", jtext(out, "id", b, sizeof b));
}

static void print_requeued(const json_t *out)
{
    char b1[32], b2[32];
    outf("webhook %s: %s dead letters queued again\n", jtext(out, "id", b1, sizeof b1),
         jtext(out, "requeued", b2, sizeof b2));
}

/* webhook.remove or webhook.redeliver on the webhook in the argument. */
static int webhook_change(struct cli *c, const char *op, void (*print)(const json_t *))
{
    json_t *out = NULL;
    if (!positive_id(c->args[0]))
        return usage_error("webhook ID: not a positive integer: '%s'", c->args[0]);
    int st = open_engine(c, false);
    if (st)
        return st;
    json_t *args = op_args("id", c->args[0], NULL);
    struct op_req r = OP_REQ(op);
    r.args = args;
    st = op_run(c, &r, &out);
    json_decref(args);
    if (st)
        return st;
    if (!json_object_get(out, "id") && json_is_object(out))
        json_object_set_new(out, "id", json_integer(strtoll(c->args[0], NULL, 10)));
    return print_result(c, out, true, print);
}

int cmd_webhook_remove(struct cli *c)
{
    return webhook_change(c, "webhook.remove", print_removed);
}

int cmd_webhook_redeliver(struct cli *c)
{
    return webhook_change(c, "webhook.redeliver", print_requeued);
}
