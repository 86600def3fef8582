/*
 * The store and who may use it: init creates the store and makes the actor
 * its first administrator; user add, list and disable manage the team and
 * their roles; policy show and set read and change the store's policies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A postgresql:// store named without its password: init says where the
 * store is, and a password never belongs in what a command prints. */
static char *shown_store(const char *path)
{
    const char *scheme = strstr(path, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    const char *colon = at && (!slash || at < slash)
                            ? memchr(scheme + 3, ':', (size_t)(at - (scheme + 3)))
                            : NULL;
    if (!colon)
        return strdup(path);
    size_t head = (size_t)(colon - path);
    char *r = malloc(head + strlen(at) + 1);
    if (r) {
        memcpy(r, path, head);
        strcpy(r + head, at);
    }
    return r;
}

int cmd_init(struct cli *c)
{
    cf_error err;
    if (!c->actor)
        return usage_error("init needs --actor NAME (or CASEFLOW_ACTOR): "
                           "the store's first administrator");
    if (c->nos_users > 1)
        return usage_error("init binds the administrator to one --os-user (add more "
                           "with caseflow user bind)");
    /* A PostgreSQL store without a place for its key: init again of one
     * that exists is fine (it has its key); a new one is refused before it
     * is made, or it would be left without a key. */
    const char *kp = c->signing_key ? c->signing_key : getenv("CASEFLOW_KEY");
    bool pg_nokey = c->store &&
                    (strncmp(c->store, "postgresql://", 13) == 0 ||
                     strncmp(c->store, "postgres://", 11) == 0) &&
                    !c->key_dir && !c->key_dir_env && !(kp && *kp);
    if (pg_nokey) {
        cf_open_options o = {.plugin_path = c->plugins};
        cf_engine *probe = NULL;
        int prc = cf_engine_open(c->store, &o, &probe, &err);
        cf_engine_close(probe);
        if (prc == CF_EINVALID && strstr(err.message, "no caseflow schema"))
            return usage_error("init: a PostgreSQL store keeps its signing key on this "
                               "machine, not in the database: give --key-dir DIR (or "
                               "CASEFLOW_KEY_DIR, or --signing-key PATH)");
        if (prc < 0)
            return fail(prc, &err);
    }
    int rc = open_engine(c, true);
    if (rc)
        return rc;
    cf_init_options opts = {.key_dir = c->key_dir, .test_clock = c->test_clock,
                            .os_user = c->nos_users ? c->os_users[0] : NULL};
    /* CASEFLOW_KEY_DIR is for a new store only: on one that exists, init
     * is the idempotent no-op it is without it (refused only for what the
     * command line asked). */
    if (!opts.key_dir && c->key_dir_env) {
        opts.key_dir = c->key_dir_env;
        rc = cf_store_init_with(c->engine, &opts, &err);
        if (rc == CF_EUSAGE && err.field[0] && strcmp(err.field, "init") == 0) {
            opts.key_dir = NULL;
            rc = cf_store_init_with(c->engine, &opts, &err);
        }
    } else {
        rc = cf_store_init_with(c->engine, &opts, &err);
    }
    if (rc < 0)
        return fail(rc, &err);
    char *path = shown_store(c->store ? c->store : "./caseflow.db");
    if (!path)
        return fail(CF_ENOMEM, NULL);
    if (c->json) {
        json_t *o = json_pack("{s:s, s:s}", "store", path, "administrator",
                              c->actor);
        print_json(o, false);
        json_decref(o);
    } else {
        outf("store %s ready; administrator %s\n", path, c->actor);
    }
    free(path);
    return 0;
}

/* Split the --role values at commas into a NULL-terminated array of new
 * strings; NULL when there is none (or out of memory). */
static char **collect_roles(const struct cli *c)
{
    size_t n = 0, cap = 8;
    char **roles = calloc(cap, sizeof *roles);
    for (size_t i = 0; roles && i < c->nroles; i++) {
        char *copy = strdup(c->roles[i]), *save = NULL;
        for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok;
             tok = strtok_r(NULL, ",", &save)) {
            while (*tok == ' ')
                tok++;
            size_t len = strlen(tok);
            while (len && tok[len - 1] == ' ')
                tok[--len] = '\0';
            if (!len)
                continue;
            if (n + 1 >= cap) {
                char **more = realloc(roles, 2 * cap * sizeof *roles);
                if (!more)
                    break;
                roles = more;
                cap *= 2;
            }
            roles[n++] = strdup(tok);
            roles[n] = NULL;
        }
        free(copy);
    }
    if (roles && n == 0) {
        free(roles);
        roles = NULL;
    }
    return roles;
}

static void free_roles(char **roles)
{
    for (size_t i = 0; roles && roles[i]; i++)
        free(roles[i]);
    free(roles);
}

int cmd_user_add(struct cli *c)
{
    cf_error err;
    char **roles = collect_roles(c);
    if (!roles)
        return usage_error("user add needs at least one --role ROLE");
    int rc = open_engine(c, false);
    if (rc) {
        free_roles(roles);
        return rc;
    }
    rc = cf_user_add_with(c->engine, c->args[0], (const char *const *)roles,
                          c->nos_users ? c->os_users : NULL, &err);
    if (rc < 0) {
        free_roles(roles);
        return fail(rc, &err);
    }
    json_t *list = json_array();
    for (size_t i = 0; roles[i]; i++)
        json_array_append_new(list, json_string(roles[i]));
    json_t *accounts = json_array();
    for (size_t i = 0; i < c->nos_users; i++)
        json_array_append_new(accounts, json_string(c->os_users[i]));
    if (c->json) {
        json_t *o = json_pack("{s:s, s:o, s:o}", "name", c->args[0], "roles", list,
                              "os_users", accounts);
        print_json(o, false);
        json_decref(o);
    } else {
        json_t *o = json_pack("{s:o, s:o}", "roles", list, "os_users", accounts);
        char buf[512], buf2[512];
        outf("added user %s (%s)%s%s\n", c->args[0], join_strings(o, "roles", buf, sizeof buf),
             c->nos_users ? ", bound to " : "",
             c->nos_users ? join_strings(o, "os_users", buf2, sizeof buf2) : "");
        json_decref(o);
    }
    free_roles(roles);
    return 0;
}

static void print_users(const json_t *users)
{
    const json_t *u;
    size_t i;
    struct table t;
    table_init(&t, 5);
    table_add(&t, (const char *[]){"NAME", "ROLES", "STATUS", "CREATED", "OS ACCOUNTS"});
    json_array_foreach(users, i, u) {
        char b1[64], b2[512], b3[64], b4[512];
        const char *disabled = json_is_true(json_object_get(u, "disabled"))
                                   ? "disabled"
                                   : "active";
        table_add(&t, (const char *[]){jtext(u, "name", b1, sizeof b1),
                                       join_strings(u, "roles", b2, sizeof b2),
                                       disabled,
                                       jtext(u, "created_at", b3, sizeof b3),
                                       join_strings(u, "os_users", b4, sizeof b4)});
    }
    table_print_free(&t);
}

int cmd_user_list(struct cli *c)
{
    cf_error err;
    json_t *users = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_user_list(c->engine, &users, &err);
    if (rc < 0)
        return fail(rc, &err);
    return print_result(c, users, false, print_users);
}

int cmd_user_disable(struct cli *c)
{
    cf_error err;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_user_disable(c->engine, c->args[0], &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        json_t *o = json_pack("{s:s, s:b}", "name", c->args[0], "disabled", 1);
        print_json(o, false);
        json_decref(o);
    } else {
        outf("disabled user %s\n", c->args[0]);
    }
    return 0;
}

/* bind or unbind NAME LOGIN */
static int bind_or_unbind(struct cli *c, bool bind)
{
    cf_error err;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = bind ? cf_user_bind(c->engine, c->args[0], c->args[1], &err)
              : cf_user_unbind(c->engine, c->args[0], c->args[1], &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        json_t *o = json_pack("{s:s, s:s, s:b}", "name", c->args[0], "os_user", c->args[1],
                              "bound", bind);
        print_json(o, false);
        json_decref(o);
    } else {
        outf("%s user %s %s %s\n", bind ? "bound" : "unbound", c->args[0],
             bind ? "to" : "from", c->args[1]);
    }
    return 0;
}

int cmd_user_bind(struct cli *c)
{
    return bind_or_unbind(c, true);
}

int cmd_user_unbind(struct cli *c)
{
    return bind_or_unbind(c, false);
}

int cmd_policy_show(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_policy_get(c->engine, &out, &err);
    if (rc < 0)
        return fail(rc, &err);
    return print_result(c, out, false, print_pairs);
}

int cmd_policy_set(struct cli *c)
{
    cf_error err;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_policy_set(c->engine, c->args[0], c->args[1], &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        json_t *o = json_pack("{s:s, s:s}", "key", c->args[0], "value", c->args[1]);
        print_json(o, false);
        json_decref(o);
    } else {
        outf("policy %s = %s\n", c->args[0], c->args[1]);
    }
    return 0;
}


/* store grant ROLE: as the owner of a PostgreSQL store, give the login role
 * the commands run as exactly what they need (docs/postgres.md). */
int cmd_store_grant(struct cli *c)
{
    cf_error err;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    json_t *o = NULL;
    rc = cf_store_grant(c->engine, c->args[0], &o, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->json) {
        print_json(o, false);
    } else {
        bool temp = json_is_true(json_object_get(o, "temp_revoked"));
        outf("role %s granted what caseflow needs%s; %s\n", c->args[0],
             json_is_true(json_object_get(o, "changed")) ? " (recorded in the audit chain)"
                                                          : " (unchanged)",
             temp ? "no temporary tables"
                  : "it may still make temporary tables (the database's owner can run "
                    "REVOKE TEMPORARY ON DATABASE ... FROM PUBLIC)");
    }
    json_decref(o);
    return 0;
}
