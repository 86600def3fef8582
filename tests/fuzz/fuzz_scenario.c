/*
 * Fuzz target: workflow test scenarios (`caseflow workflow test`). The
 * input is written as a scenario file beside a copy of the shipped helper
 * module workflows/tests/_polit.lua (so require works as in the shipped
 * scenarios): as "fuzz.json" when its first non-blank byte is '{', else
 * as "fuzz.lua", evaluated in the workflow sandbox. It goes through
 * cf_scenario_load, and cf_scenario_parse on the same bytes; a scenario
 * that loads is run on workflows/polit.lua. Oracles besides the
 * sanitizers: errors are one line with a documented code; a file that is
 * not a valid scenario is CF_EINVALID (never an internal error, whatever
 * the Lua does: the sandbox's limits stop it); a run's failure is one line
 * that starts with "step N: " or "referral: ".
 */
#include <ctype.h>
#include <stdbool.h>
#include <unistd.h>

#include "fuzz_common.h"

static char dir[256], lua_file[300], json_file[300], helper[300], workflow[1024];

static void cleanup(void)
{
    unlink(lua_file);
    unlink(json_file);
    unlink(helper);
    rmdir(dir);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[8192];
    size_t n;
    if (!in || !out) {
        perror(in ? to : from);
        abort();
    }
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n)
            abort();
    fclose(in);
    if (fclose(out) != 0)
        abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char src[1024];
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "%s/caseflow-fuzz-sc.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        abort();
    }
    atexit(cleanup);
    snprintf(lua_file, sizeof lua_file, "%s/fuzz.lua", dir);
    snprintf(json_file, sizeof json_file, "%s/fuzz.json", dir);
    snprintf(helper, sizeof helper, "%s/_polit.lua", dir);
    snprintf(src, sizeof src, "%s/workflows/tests/_polit.lua", fuzz_srcdir());
    copy_file(src, helper);
    snprintf(workflow, sizeof workflow, "%s/workflows/polit.lua", fuzz_srcdir());
    fuzz_pin_plugins();
    return 0;
}

static void check_invalid(int rc, const cf_error *err, const char *what)
{
    fuzz_check_error(rc, err);
    if (rc != 0 && rc != CF_EINVALID && rc != CF_ENOMEM) {
        fprintf(stderr, "%s: a bad scenario gave %d (%s), not CF_EINVALID\n", what, rc,
                err->message);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t i = 0;
    while (i < size && isspace(data[i]))
        i++;
    bool json = i < size && data[i] == '{';
    const char *file = json ? json_file : lua_file;
    FILE *f = fopen(file, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror(file);
        abort();
    }

    cf_error err;
    json_t *sc = NULL, *again = NULL;
    int rc = cf_scenario_parse(json ? "fuzz.json" : "fuzz.lua", (const char *)data, size, &again,
                               &err);
    check_invalid(rc, &err, "cf_scenario_parse");
    json_decref(again);
    rc = cf_scenario_load(file, &sc, &err);
    check_invalid(rc, &err, "cf_scenario_load");
    if (rc == 0) {
        cf_scenario_options o;
        memset(&o, 0, sizeof o);
        o.workflow = workflow;
        o.plugin_path = fuzz_plugin_path();
        json_t *res = NULL;
        rc = cf_scenario_run(sc, &o, &res, &err);
        fuzz_check_error(rc, &err);
        const char *msg = json_string_value(json_object_get(json_object_get(res, "failure"),
                                                            "message"));
        if (msg && (strchr(msg, '\n') || (strncmp(msg, "step ", 5) != 0 &&
                                          strncmp(msg, "referral: ", 10) != 0))) {
            fprintf(stderr, "a failure that is not one 'step N:' line: '%s'\n", msg);
            abort();
        }
        if (rc == 0 && !json_is_boolean(json_object_get(res, "ok")))
            abort();
        json_decref(res);
    }
    json_decref(sc);
    return 0;
}
