/*
 * workflow.deploy: a workflow sent as a body, {"main": "polit.lua",
 * "files": {"polit.lua": "...", "policy.lua": "...", "letters/x.txt":
 * "..."}}. The engine deploys from files (a workflow requires its modules
 * and names its assets relative to its own file), so the files are written
 * into a fresh 0700 directory of our own, deployed from there, and removed
 * whatever happens. A deploy needs a reason (X-Caseflow-Reason); dry_run=true
 * checks without deploying, inactive=true keeps the active version. Names
 * are checked before anything is written: relative,
 * plain characters, no "..", at most MAX_FILES files and MAX_BYTES in all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops_internal.h"

#define MAX_FILES 64
#define MAX_BYTES (4 * 1024 * 1024)
#define MAX_NAME 200

/* A file name of a deployed workflow: "a/b.lua", of letters, digits and
 * ._- only, no empty part, nothing that climbs out ("..") or starts at the
 * root. */
static int name_ok(const char *name, size_t len)
{
    if (len == 0 || len > MAX_NAME || name[0] == '/' ||
        name[len - 1] == '/' || strstr(name, "..") || strstr(name, "//"))
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || strchr("._-/", *p)))
            return 0;
    return strcmp(name, ".") != 0 && strncmp(name, "./", 2) != 0 && !strstr(name, "/./");
}

/* The body checked whole: *main and *files borrowed from it. */
static int check_body(const json_t *body, const char **main_name, const json_t **files,
                      cf_error *err)
{
    const char *name;
    json_t *text;
    size_t total = 0;
    if (!json_is_object(body))
        return cf_op_fail(err, CF_EUSAGE, "body",
                          "body: an object {\"main\": FILE, \"files\": {NAME: TEXT}} is needed");
    int rc = cf_op_arg_need(body, "main", main_name, err);
    if (rc < 0)
        return rc;
    *files = json_object_get(body, "files");
    if (!json_is_object(*files) || json_object_size(*files) == 0)
        return cf_op_fail(err, CF_EINVALID, "files", "files: must be an object of file texts");
    if (json_object_size(*files) > MAX_FILES)
        return cf_op_fail(err, CF_EINVALID, "files", "files: more than %d files", MAX_FILES);
    json_object_foreach((json_t *)*files, name, text) {
        if (!name_ok(name, strlen(name))) /* parsed keys hold no NUL */
            return cf_op_fail(err, CF_EINVALID, "files",
                              "files: a name must be a relative path of letters, digits "
                              "and ._- without \"..\"");
        if (!json_is_string(text) || strlen(json_string_value(text)) != json_string_length(text))
            return cf_op_fail(err, CF_EINVALID, "files",
                              "files: each file must be a string without NUL");
        total += json_string_length(text);
        if (total > MAX_BYTES)
            return cf_op_fail(err, CF_EINVALID, "files", "files: more than 4 MiB in all");
    }
    if (!json_object_get(*files, *main_name))
        return cf_op_fail(err, CF_EINVALID, "main", "main: not one of the files");
    return 0;
}

/* The directory and what we made in it, to remove in reverse. */
struct tree {
    char root[256];
    json_t *made; /* array of {path, dir} */
};

static void tree_remove(struct tree *t)
{
    for (size_t i = json_array_size(t->made); i-- > 0;) {
        const json_t *m = json_array_get(t->made, i);
        const char *path = json_string_value(json_object_get(m, "path"));
        if (json_is_true(json_object_get(m, "dir")))
            rmdir(path);
        else
            unlink(path);
    }
    json_decref(t->made);
    rmdir(t->root);
}

static int io_fail(cf_error *err, const char *what, const char *name)
{
    return cf_op_fail(err, CF_EIO, "files", "files: cannot %s %s: %s", what, name,
                      strerror(errno));
}

/* The directories above name, made 0700 where missing. */
static int make_parents(struct tree *t, const char *name, cf_error *err)
{
    char path[512];
    for (const char *slash = strchr(name, '/'); slash; slash = strchr(slash + 1, '/')) {
        snprintf(path, sizeof path, "%s/%.*s", t->root, (int)(slash - name), name);
        if (mkdir(path, 0700) == 0)
            json_array_append_new(t->made, json_pack("{s:s, s:b}", "path", path, "dir", 1));
        else if (errno != EEXIST)
            return io_fail(err, "make the directory of", name);
    }
    return 0;
}

static int write_file(struct tree *t, const char *name, const json_t *text, cf_error *err)
{
    char path[512];
    int rc = make_parents(t, name, err);
    if (rc < 0)
        return rc;
    snprintf(path, sizeof path, "%s/%s", t->root, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return io_fail(err, "write", name);
    json_array_append_new(t->made, json_pack("{s:s, s:b}", "path", path, "dir", 0));
    const char *p = json_string_value(text);
    size_t left = json_string_length(text);
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return io_fail(err, "write", name);
        }
        p += n;
        left -= (size_t)n;
    }
    if (close(fd) != 0)
        return io_fail(err, "write", name);
    return 0;
}

/* The engine's words without our directory in them: a finding reads
 * "polit.lua:12: ...", as the caller named the file. */
static void strip_root(char *text, const char *root)
{
    char prefix[260];
    size_t n = (size_t)snprintf(prefix, sizeof prefix, "%s/", root);
    char *hit;
    while ((hit = strstr(text, prefix)))
        memmove(hit, hit + n, strlen(hit + n) + 1);
    while ((hit = strstr(text, root)))
        memmove(hit, hit + strlen(root), strlen(hit + strlen(root)) + 1);
}

int cf_op_workflow_deploy(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    const char *main_name, *name;
    const json_t *files;
    json_t *text;
    struct tree t;
    *out = NULL;
    int dry = 0, inactive = 0;
    int rc = check_body(ctx->body, &main_name, &files, err);
    if (rc < 0 || (rc = cf_op_arg_bool(ctx->args, "dry_run", 0, &dry, err)) < 0 ||
        (rc = cf_op_arg_bool(ctx->args, "inactive", 0, &inactive, err)) < 0)
        return rc;
    unsigned flags = CF_DEPLOY_NEED_REASON | (dry ? CF_DEPLOY_DRY_RUN : 0) |
                     (inactive ? CF_DEPLOY_INACTIVE : 0);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || tmp[0] != '/' || strlen(tmp) > 150)
        tmp = "/tmp";
    snprintf(t.root, sizeof t.root, "%s/caseflow-deploy.XXXXXX", tmp);
    if (!mkdtemp(t.root))
        return cf_op_fail(err, CF_EIO, "files", "files: cannot make a directory in %s: %s",
                          tmp, strerror(errno));
    t.made = json_array();
    json_object_foreach((json_t *)files, name, text)
        if ((rc = write_file(&t, name, text, err)) < 0)
            break;
    if (rc == 0) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", t.root, main_name);
        rc = cf_workflow_deploy_ex(ctx->engine, path, flags, out, err);
        if (rc < 0 && err) {
            strip_root(err->message, t.root);
            strip_root(err->field, t.root);
        }
    }
    tree_remove(&t);
    if (rc < 0)
        return rc;
    if (!*out)
        *out = json_object();
    if (status)
        *status = json_is_false(json_object_get(*out, "created")) || dry ? 200 : 201;
    return 0;
}

/* workflow.activate: POST /v1/workflows/{name}/versions/{version}/activate,
 * with a reason; no body. */
int cf_op_workflow_activate(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    const char *name;
    int64_t version;
    (void)status;
    *out = NULL;
    int rc = cf_op_arg_need(ctx->args, "name", &name, err);
    if (rc < 0 || (rc = cf_op_arg_id(ctx->args, "version", &version, err)) < 0)
        return rc;
    return cf_workflow_activate(ctx->engine, name, version, out, err);
}

/* workflow.repin: POST /v1/workflows/{name}/versions/{version}/repin, with
 * a reason; no body. */
int cf_op_workflow_repin(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    const char *name;
    int64_t version;
    (void)status;
    *out = NULL;
    int rc = cf_op_arg_need(ctx->args, "name", &name, err);
    if (rc < 0 || (rc = cf_op_arg_id(ctx->args, "version", &version, err)) < 0)
        return rc;
    return cf_workflow_repin(ctx->engine, name, version, out, err);
}

/* ---- workflow.simulate ------------------------------------------------------------------ */

/* workflow.simulate: POST /v1/workflows/simulate, the candidate sent as a
 * deploy's body ({"main", "files"}) with "cases"?: [ID...] and "since"?:
 * Unix seconds; written to a fresh directory as a deploy's is, replayed
 * (cf_workflow_simulate), removed. A read: its reason is the request's. */
int cf_op_workflow_simulate(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    const char *main_name, *name;
    const json_t *files;
    json_t *text;
    struct tree t;
    (void)status;
    *out = NULL;
    int rc = check_body(ctx->body, &main_name, &files, err);
    if (rc < 0)
        return rc;
    cf_simulate_options o;
    memset(&o, 0, sizeof o);
    const json_t *cases = json_object_get(ctx->body, "cases");
    const json_t *since = json_object_get(ctx->body, "since");
    if (since && !json_is_null(since) && (!json_is_integer(since) || json_integer_value(since) < 0))
        return cf_op_fail(err, CF_EUSAGE, "since", "since: Unix seconds, 0 or more");
    o.since = json_integer_value(since);
    if (cases && !json_is_null(cases) && (!json_is_array(cases) || json_array_size(cases) > 100000))
        return cf_op_fail(err, CF_EINVALID, "cases", "cases: must be an array of case ids");
    const char **ids = calloc(json_array_size(cases) + 1, sizeof *ids);
    if (!ids)
        return cf_op_fail(err, CF_ENOMEM, NULL, "out of memory");
    size_t i;
    const json_t *v;
    json_array_foreach(cases, i, v) {
        if (!json_is_string(v)) {
            free(ids);
            return cf_op_fail(err, CF_EINVALID, "cases", "cases: must be an array of case ids");
        }
        ids[o.ncases++] = json_string_value(v);
    }
    o.cases = ids;
    const char *tmp = getenv("TMPDIR");
    if (!tmp || tmp[0] != '/' || strlen(tmp) > 150)
        tmp = "/tmp";
    snprintf(t.root, sizeof t.root, "%s/caseflow-simulate.XXXXXX", tmp);
    if (!mkdtemp(t.root)) {
        free(ids);
        return cf_op_fail(err, CF_EIO, "files", "files: cannot make a directory in %s: %s",
                          tmp, strerror(errno));
    }
    t.made = json_array();
    json_object_foreach((json_t *)files, name, text)
        if ((rc = write_file(&t, name, text, err)) < 0)
            break;
    if (rc == 0) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", t.root, main_name);
        o.path = path;
        rc = cf_workflow_simulate(ctx->engine, &o, out, err);
        if (rc < 0 && err) {
            strip_root(err->message, t.root);
            strip_root(err->field, t.root);
        }
        if (rc == 0)
            json_object_set_new(*out, "file", json_string(main_name));
    }
    tree_remove(&t);
    free(ids);
    return rc < 0 ? rc : 0;
}
