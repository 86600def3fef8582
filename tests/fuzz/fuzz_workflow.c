/*
 * Fuzz target: workflow loading. The input is written as a workflow file
 * (beside a small module "helper.lua" it may require) and goes through
 * what deploy and `workflow check` do: lint (cf_wf_check, with the plugins
 * on the plugin path), collect the bundle, load it into a sandbox; then each
 * transition function runs twice on the same case. Oracles besides the
 * sanitizers: errors are one line with a documented code; a transition
 * function gives the same answer on every call (the sandbox's frozen
 * world: no call can leave anything behind for the next).
 */
#include <stdbool.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "internal.h"

static char dir[256], file[300], helper[300];
static cf_loader *loader;
static json_t *case_doc, *event_doc;

static void cleanup(void)
{
    unlink(file);
    unlink(helper);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    cf_error err;
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "%s/caseflow-fuzz-wf.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    atexit(cleanup);
    snprintf(file, sizeof file, "%s/fuzz.lua", dir);
    snprintf(helper, sizeof helper, "%s/helper.lua", dir);
    FILE *f = fopen(helper, "w");
    if (!f) {
        perror(helper);
        abort();
    }
    fputs("local m = { limit = 5 }\nfunction m.pick(case) return case.data.n "
          "and case.data.n > m.limit and \"b\" or nil end\nreturn m\n", f);
    fclose(f);
    fuzz_pin_plugins();
    const char *path = fuzz_plugin_path();
    if (!path)
        path = getenv("CASEFLOW_PLUGIN_PATH");
    int rc = cf_loader_new(path ? path : "", &loader, &err);
    if (rc != 0)
        fuzz_die("cf_loader_new", rc, &err);
    case_doc = json_pack("{s:s, s:s, s:i, s:s, s:{s:i, s:s, s:[i, i], s:{s:b}}}", "id",
                         "CF-000001", "state", "a", "revision", 3, "created_at",
                         "2026-11-02T09:15:00Z", "data", "n", 7, "s", "text", "list",
                         1, 2, "nested", "flag", 1);
    event_doc = json_pack("{s:s, s:{s:s}, s:s, s:s}", "name", "go", "data", "k", "v",
                          "actor", "officer1", "role", "officer");
    if (!case_doc || !event_doc)
        abort();
    return 0;
}

static void run_functions(cf_wf *wf)
{
    for (size_t i = 0; i < wf->nstates; i++) {
        cf_wf_state *st = &wf->states[i];
        for (size_t k = 0; k < st->non; k++) {
            const cf_wf_transition *t = &st->on[k];
            const char *t1 = NULL, *t2 = NULL;
            cf_error e1, e2;
            if (t->target)
                continue;
            int r1 = cf_wf_resolve(wf, t, case_doc, event_doc, FUZZ_NOW, &t1, &e1);
            fuzz_check_error(r1, &e1);
            int r2 = cf_wf_resolve(wf, t, case_doc, event_doc, FUZZ_NOW, &t2, &e2);
            fuzz_check_error(r2, &e2);
            bool memory = (r1 && strcmp(e1.field, "memory") == 0) ||
                          (r2 && strcmp(e2.field, "memory") == 0);
            if (memory)
                continue;
            if (r1 != r2 || (r1 == 0 && (t1 == NULL) != (t2 == NULL)) ||
                (r1 == 0 && t1 && strcmp(t1, t2) != 0)) {
                fprintf(stderr, "transition %s of state %s answered differently: "
                                "%d %s '%s' then %d %s '%s'\n", t->event, st->name,
                        r1, t1 ? t1 : "(nil)", r1 ? e1.message : "",
                        r2, t2 ? t2 : "(nil)", r2 ? e2.message : "");
                abort();
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cf_error err;
    json_t *bundle = NULL;
    cf_wf *wf = NULL;

    FILE *f = fopen(file, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror(file);
        abort();
    }
    json_t *diags = json_array();
    int rc = cf_wf_check(file, loader, diags, &err);
    fuzz_check_error(rc, &err);
    json_decref(diags);
    rc = cf_wf_bundle_from_file(file, &bundle, &err);
    fuzz_check_error(rc, &err);
    if (rc == 0) {
        rc = cf_wf_load(bundle, &wf, &err);
        fuzz_check_error(rc, &err);
        if (rc == 0)
            run_functions(wf);
        cf_wf_free(wf);
    }
    json_decref(bundle);
    return 0;
}
