/*
 * workflow test: run workflow test scenarios (docs/workflows.md, "Workflow
 * tests") through cf_scenario_load and cf_scenario_run. Every file is read
 * and checked before any runs, so a file that is not a valid scenario ends
 * the command with one line and exit 65 before anything is reported; then
 * one line per scenario ("ok NAME" or "FAIL NAME: step N: ...") and
 * "N passed, N failed"; exit 0 when all pass, 1 when any fails (with one
 * line on stderr, "caseflow: N of M scenarios failed"). No store
 * is opened: each scenario runs in its own store in memory.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

/* A scenario file of a directory: *.lua or *.json, not a helper module
 * ("_common.lua") nor hidden. */
static bool scenario_name(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '_' || name[0] == '.')
        return false;
    return (n > 4 && strcmp(name + n - 4, ".lua") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".json") == 0);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append the scenario files of arg (a file, or a directory's files in name
 * order) to *files. 0, or an exit status after a message. */
static int collect(const char *arg, char ***files, size_t *n, size_t *cap)
{
    struct stat sb;
    if (stat(arg, &sb) != 0) {
        say("%s: %s", arg, strerror(errno));
        return errno == ENOENT || errno == ENOTDIR ? EXIT_NOINPUT : EXIT_IOERR;
    }
    size_t first = *n;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(arg);
        if (d == NULL) {
            say("%s: %s", arg, strerror(errno));
            return EXIT_IOERR;
        }
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!scenario_name(de->d_name))
                continue;
            if (*n == *cap) {
                size_t nc = *cap ? *cap * 2 : 16;
                char **nf = realloc(*files, nc * sizeof *nf);
                if (nf == NULL)
                    break;
                *files = nf;
                *cap = nc;
            }
            size_t len = strlen(arg) + strlen(de->d_name) + 2;
            char *p = malloc(len);
            if (p == NULL)
                break;
            snprintf(p, len, "%s%s%s", arg, arg[strlen(arg) - 1] == '/' ? "" : "/", de->d_name);
            (*files)[(*n)++] = p;
        }
        closedir(d);
        if (*n == first) {
            say("%s: no scenario files (*.lua, *.json) in this directory", arg);
            return EXIT_NOINPUT;
        }
        qsort(*files + first, *n - first, sizeof **files, by_name);
        return 0;
    }
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        char **nf = realloc(*files, nc * sizeof *nf);
        if (nf == NULL) {
            say("out of memory");
            return 70;
        }
        *files = nf;
        *cap = nc;
    }
    (*files)[*n] = strdup(arg);
    if ((*files)[*n] == NULL) {
        say("out of memory");
        return 70;
    }
    (*n)++;
    return 0;
}

static void print_scenario(const json_t *res, bool verbose)
{
    char b1[32], b2[32], b3[32];
    const char *name = jtext(res, "name", b1, sizeof b1);
    const json_t *f = json_object_get(res, "failure");
    if (f) {
        outf("FAIL %s: %s\n", name, jtext(f, "message", b2, sizeof b2));
    } else {
        outf("ok %s\n", name);
    }
    if (verbose)
        outf("#   %s: %lld of %lld steps run\n", jtext(res, "file", b3, sizeof b3),
             (long long)json_integer_value(json_object_get(res, "steps")),
             (long long)json_integer_value(json_object_get(res, "of")));
}

int cmd_workflow_test(struct cli *c)
{
    char **files = NULL;
    size_t n = 0, cap = 0;
    int st = 0;
    json_t *loaded = json_array(), *results = json_array();
    if (loaded == NULL || results == NULL) {
        say("out of memory");
        st = 70;
    }
    for (size_t i = 0; !st && i < c->nargs; i++)
        st = collect(c->args[i], &files, &n, &cap);
    /* Every file is checked before any runs. */
    for (size_t i = 0; !st && i < n; i++) {
        json_t *sc = NULL;
        cf_error err;
        memset(&err, 0, sizeof err);
        int rc = cf_scenario_load(files[i], &sc, &err);
        if (rc)
            st = fail(rc, &err);
        else
            json_array_append_new(loaded, sc);
    }
    cf_scenario_options o;
    memset(&o, 0, sizeof o);
    o.workflow = c->workflow;
    o.plugin_path = c->plugins;
    size_t passed = 0, failed = 0;
    for (size_t i = 0; !st && i < json_array_size(loaded); i++) {
        json_t *res = NULL;
        cf_error err;
        memset(&err, 0, sizeof err);
        int rc = cf_scenario_run(json_array_get(loaded, i), &o, &res, &err);
        if (rc) {
            st = fail(rc, &err);
            break;
        }
        if (json_object_get(res, "failure"))
            failed++;
        else
            passed++;
        if (!c->json)
            print_scenario(res, c->verbose);
        json_array_append_new(results, res);
    }
    if (!st) {
        if (c->json) {
            json_t *out = json_pack("{s:O, s:I, s:I}", "scenarios", results, "passed",
                                    (json_int_t)passed, "failed", (json_int_t)failed);
            print_json(out, false);
            json_decref(out);
        } else {
            outf("%zu passed, %zu failed\n", passed, failed);
        }
        if (failed)
            say("%zu of %zu scenarios failed", failed, passed + failed);
        st = failed ? 1 : 0;
    }
    for (size_t i = 0; i < n; i++)
        free(files[i]);
    free(files);
    json_decref(loaded);
    json_decref(results);
    return st;
}
