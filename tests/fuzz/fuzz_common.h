/*
 * Shared set-up of the caseflow fuzz targets (tests/fuzz/fuzz_*.c): an
 * engine on an in-memory store with the team of the polit workflow and
 * workflows/polit.lua deployed, the plugins found on CASEFLOW_PLUGIN_PATH
 * (or the directory the fuzz build was given), a fixed engine clock.
 *
 * Each target defines LLVMFuzzerInitialize and LLVMFuzzerTestOneInput. The
 * same sources build two ways: with clang -fsanitize=fuzzer (make fuzz,
 * tests/fuzz/fuzz.sh) and, with driver.c's main(), as ordinary check
 * programs that feed every file of the seed corpus once (make check).
 *
 * A broken contract that is not a memory error (a failed call that changed
 * the case, an error message that is not one line) aborts, so libFuzzer
 * keeps the input as a crash.
 */
#ifndef CF_FUZZ_COMMON_H
#define CF_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "caseflow/caseflow.h"

#ifndef CF_FUZZ_SRCDIR
#define CF_FUZZ_SRCDIR "."
#endif
#ifdef CF_FUZZ_PLUGINDIR
#include <dirent.h>
#include <dlfcn.h>
#define CF_FUZZ_PIN 1
#else
#define CF_FUZZ_PLUGINDIR NULL
#define CF_FUZZ_PIN 0
#endif

/* 2026-11-03T10:00:00Z */
#define FUZZ_NOW INT64_C(1793700000)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_die(const char *what, int rc, const cf_error *err)
{
    fprintf(stderr, "fuzz set-up: %s: rc=%d %s: %s\n", what, rc,
            err ? err->field : "", err ? err->message : "");
    abort();
}

static inline const char *fuzz_srcdir(void)
{
    const char *s = getenv("CASEFLOW_SRCDIR");
    return s && *s ? s : CF_FUZZ_SRCDIR;
}

static inline const char *fuzz_plugin_path(void)
{
    const char *p = getenv("CASEFLOW_FUZZ_PLUGIN_PATH");
    if (p && *p)
        return p;
    if (CF_FUZZ_PLUGINDIR)
        return CF_FUZZ_PLUGINDIR;
    return NULL; /* CASEFLOW_PLUGIN_PATH */
}

/* Under libFuzzer the plugins are instrumented modules: unloading one (the
 * engine closes them with the store) would leave libFuzzer reading the
 * counters of unmapped memory. Load each once, never to be unloaded. */
static inline void fuzz_pin_plugins(void)
{
#if CF_FUZZ_PIN
    static int pinned;
    const char *dir = fuzz_plugin_path();
    DIR *d;
    struct dirent *e;
    if (pinned || !dir || !(d = opendir(dir)))
        return;
    pinned = 1;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        char path[4096];
        if (n < 4 || strcmp(e->d_name + n - 3, ".so") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE))
            fprintf(stderr, "fuzz: cannot pin %s: %s\n", path, dlerror());
    }
    closedir(d);
#endif
}

/* The error of a failed call must be one line (the command prints it after
 * "caseflow: "), and the code one of the documented ones. */
static inline void fuzz_check_error(int rc, const cf_error *err)
{
    if (rc >= 0)
        return;
    if (rc < CF_EDENIED) {
        fprintf(stderr, "undocumented error code %d\n", rc);
        abort();
    }
    if (err->code != rc) {
        fprintf(stderr, "err->code %d != rc %d\n", err->code, rc);
        abort();
    }
    if (!err->message[0] || strchr(err->message, '\n') ||
        strchr(err->message, '\r')) {
        fprintf(stderr, "error message is not one line: '%s'\n", err->message);
        abort();
    }
    if (memchr(err->message, '\0', sizeof err->message) == NULL) {
        fprintf(stderr, "error message not terminated\n");
        abort();
    }
}

/* A fresh in-memory store with the polit team and workflow. */
static inline cf_engine *fuzz_polit_engine(void)
{
    static const char *const roles_all[] = {"officer", "analyst", "supervisor",
                                            "authoriser", NULL};
    static const struct {
        const char *name;
        const char *roles[2];
    } team[] = {
        {"analyst1", {"analyst", NULL}},     {"officer1", {"officer", NULL}},
        {"officer2", {"officer", NULL}},     {"supervisor1", {"supervisor", NULL}},
        {"authoriser1", {"authoriser", NULL}},
    };
    cf_open_options opts;
    cf_engine *e = NULL;
    cf_error err;
    char wf[1024];
    int rc;

    fuzz_pin_plugins();
    memset(&opts, 0, sizeof opts);
    opts.create = 1;
    opts.plugin_path = fuzz_plugin_path();
    if ((rc = cf_engine_open(":memory:", &opts, &e, &err)) != 0)
        fuzz_die("cf_engine_open", rc, &err);
    cf_engine_set_clock(e, FUZZ_NOW);
    cf_engine_set_actor(e, "admin", "fuzz set-up");
    if ((rc = cf_store_init_with(e, &(cf_init_options){.test_clock = 1}, &err)) != 0)
        fuzz_die("cf_store_init", rc, &err);
    for (size_t i = 0; i < sizeof team / sizeof team[0]; i++)
        if ((rc = cf_user_add(e, team[i].name, team[i].roles, &err)) != 0)
            fuzz_die("cf_user_add", rc, &err);
    if ((rc = cf_user_add(e, "fuzzer", roles_all, &err)) != 0)
        fuzz_die("cf_user_add", rc, &err);
    snprintf(wf, sizeof wf, "%s/workflows/polit.lua", fuzz_srcdir());
    if ((rc = cf_workflow_deploy(e, wf, NULL, &err)) != 0)
        fuzz_die("cf_workflow_deploy polit.lua", rc, &err);
    return e;
}

#endif /* CF_FUZZ_COMMON_H */
