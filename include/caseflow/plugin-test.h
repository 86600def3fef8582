/*
 * caseflow step-plugin test harness (libcaseflow-plugin-test).
 *
 * Two ways to test a step plugin, neither touching a disk:
 *
 *  - The fake host (cfpt_host) calls the plugin's init, enter and handle
 *    directly, as the engine does, against an in-memory case document, a
 *    clock, an actor and assets the test sets, and captures every effect the
 *    call asked for: the emitted event, the data it set, tasks, timers, the
 *    deadline, correlation keys, notifications, log lines and the failure
 *    message. It is for unit tests of one callback.
 *
 *  - The runner (cfpt_engine) loads the plugin module from the plugin path
 *    into a real engine on an in-memory store (test clock, one user per
 *    role) with a small workflow, and drives cases end to end: refer, act,
 *    tick, read the case back. It is for the plugin in its workflow.
 *
 * Neither depends on a test framework: functions return values and the test
 * asserts with its own (the cmocka test `caseflow plugin new` writes shows
 * how). Link with `pkg-config --cflags --libs caseflow-plugin-test`.
 *
 * The fake host follows the engine's rules, so a test cannot pass on the
 * harness and fail in the engine:
 *  - handle() is only called with an event in the descriptor's `accepts`
 *    (otherwise CFPT_NOT_ACCEPTED, nothing called);
 *  - an emit() of an event in neither `emits` nor `accepts` fails the call
 *    (CFPT_CONTRACT, and cfpt_failure says which event; the engine refuses
 *    it with exit 70);
 *  - a call that fails (negative return, or a host->fail whatever the
 *    plugin then returns) leaves the case data as it was before the call
 *    and discards its tasks, timers, deadline, keys, notifications and
 *    emitted event, as the engine rolls a transition back; the failure and
 *    the log lines stay readable;
 *  - input and config must be JSON objects.
 *
 * Ownership follows jansson's words and plugin.h: "borrowed" values must not
 * be decref'd and are valid until the next call or set on the same handle;
 * "new reference" is the caller's. Strings passed in are copied. No function
 * keeps global state: separate handles may be used from separate threads.
 *
 * Versions: CFPT_VERSION_MAJOR/MINOR of this header; cfpt_version() of the
 * library loaded at run time. A minor version only adds functions; the
 * library's soname (libcaseflow-plugin-test.so.MAJOR) changes with the major.
 */
#ifndef CASEFLOW_PLUGIN_TEST_H
#define CASEFLOW_PLUGIN_TEST_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <caseflow/caseflow.h>
#include <caseflow/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CFPT_VERSION_MAJOR 1
#define CFPT_VERSION_MINOR 0
#define CFPT_VERSION_STRING "1.0"

/* "MAJOR.MINOR" of the library loaded at run time. Static string. */
const char *cfpt_version(void);

/* 2026-01-01T00:00:00Z: the clock of a new fake host or runner. */
#define CFPT_EPOCH INT64_C(1767225600)

/* Returned by cfpt_enter/cfpt_handle besides the plugin's own result. */
#define CFPT_NOT_ACCEPTED (-100) /* event not in accepts: handle() not called */
#define CFPT_BAD_INPUT (-101)    /* input is not a JSON object */
#define CFPT_CONTRACT (-102)     /* the plugin broke the ABI (an undeclared emit) */

/* ---- the fake host ------------------------------------------------------- */

typedef struct cfpt_host cfpt_host;

/*
 * A fake host for `plugin` (borrowed: it must outlive the host) in the state
 * named `state` (NULL: "test"). The plugin's init() runs with `config`, the
 * state's config as JSON object text (NULL: "{}"). The case starts with id
 * "CF-TEST-1", data {}, actor "officer" and the clock at CFPT_EPOCH.
 *
 * Returns a new host, freed with cfpt_host_free; or NULL when the descriptor
 * is unusable (wrong ABI major, NULL name), config is not a JSON object, init
 * fails, or memory runs out: the reason (the plugin's own for init) is
 * written into err[errlen] when err is not NULL.
 */
cfpt_host *cfpt_host_new(const cf_plugin *plugin, const char *state, const char *config,
                         char *err, size_t errlen);
/* Calls the plugin's fini() on its state, then frees h. NULL is a no-op. */
void cfpt_host_free(cfpt_host *h);

/* Replace the whole case document with `json` (object text). Returns 0, or
 * -1 when json is not a JSON object (nothing changes). */
int cfpt_set_data(cfpt_host *h, const char *json);
/* Set the value at dotted `path` ("subscriber.address.postcode") to `json`
 * (any JSON text; NULL deletes the member). Returns 0 or -1 (bad JSON, or a
 * path through a non-object). */
int cfpt_set(cfpt_host *h, const char *path, const char *json);
/* The clock host->now() returns, Unix seconds. */
void cfpt_set_now(cfpt_host *h, int64_t now);
/* Who acts (host->actor); NULL: nobody (a timer or the engine). 0 or -1. */
int cfpt_set_actor(cfpt_host *h, const char *actor);
/* The case id host->case_id() returns. 0 or -1. */
int cfpt_set_case_id(cfpt_host *h, const char *id);
/* A text asset of the workflow version (host->asset). 0 or -1. */
int cfpt_add_asset(cfpt_host *h, const char *name, const char *text);

/* Call enter() / handle() (CF_PLUGIN_OK when the plugin has none) with
 * `event` and `input` (JSON object text; NULL: {}). Each call first clears
 * the effects of the previous one. Returns the plugin's result
 * (CF_PLUGIN_FAILED when it called host->fail but returned >= 0), or
 * CFPT_NOT_ACCEPTED, CFPT_BAD_INPUT or CFPT_CONTRACT. */
int cfpt_enter(cfpt_host *h);
int cfpt_handle(cfpt_host *h, const char *event, const char *input);
/* Clear the effects (failure, emitted event, tasks, timers, deadline, keys,
 * notifications, logs) as a call does first; the case data stays. For
 * callbacks or cfp_ helpers called by hand. Since 1.0. */
void cfpt_clear(cfpt_host *h);
/* How many times host->fail was called since the effects were last cleared
 * (a helper that should refuse once, not twice). Since 1.0. */
size_t cfpt_failures(const cfpt_host *h);

/* The host table and step the harness passes to the plugin, for calling a
 * callback or a cfp_ helper by hand. Borrowed, valid for h's life. Effects
 * of such calls are captured like those of cfpt_enter/cfpt_handle but are
 * not rolled back. */
const cf_host *cfpt_host_table(const cfpt_host *h);
cf_step *cfpt_step(cfpt_host *h);

/* The case and the effects of the last call. Borrowed. */
const json_t *cfpt_data(const cfpt_host *h);                  /* whole document */
const json_t *cfpt_get(const cfpt_host *h, const char *path); /* NULL: absent */
const char *cfpt_emitted(const cfpt_host *h);                 /* NULL: none */
/* The message given to host->fail (the last one; or the harness's, for
 * CFPT_* and for a negative result without a reason), and its field; NULL
 * when the call did not fail / named no field. Truncated as the engine
 * truncates them (field 95 bytes, message 319). */
const char *cfpt_failure(const cfpt_host *h);
const char *cfpt_failure_field(const cfpt_host *h);
/* Arrays in call order, [] when none:
 *   tasks          {"role", "kind", "detail"}   (detail null when none)
 *   timers         {"event", "due"}             (a later one of the same event replaces)
 *   keys           {"kind", "value"}
 *   notifications  {"channel", "message"}
 *   logs           {"level", "message"}         (level "debug", "info", "warn") */
const json_t *cfpt_tasks(const cfpt_host *h);
const json_t *cfpt_timers(const cfpt_host *h);
const json_t *cfpt_keys(const cfpt_host *h);
const json_t *cfpt_notifications(const cfpt_host *h);
const json_t *cfpt_logs(const cfpt_host *h);
/* The deadline the last call set: -1 when it set none, 0 when it cleared it. */
int64_t cfpt_deadline(const cfpt_host *h);
/* All of the above in one object, for printing when an assertion fails:
 * {"result", "emitted", "failure": {"field", "message"} | null, "data",
 *  "tasks", "timers", "deadline", "keys", "notifications", "logs"}.
 * New reference, NULL on out of memory. */
json_t *cfpt_effects(const cfpt_host *h);

/* ---- the runner ------------------------------------------------------------ */

typedef struct cfpt_engine cfpt_engine;

/* Options of cfpt_engine_new. Zero-initialise, then set what you need. */
typedef struct cfpt_engine_options {
    /* Colon-separated directories holding the plugin module(s) under test
     * (the build directory's .libs or the .la's directory). NULL: the
     * CASEFLOW_PLUGIN_PATH environment variable. */
    const char *plugin_path;
    /* The workflow to deploy: a file (its `require`d modules and assets
     * beside it), or its Lua source text (written to a private temporary
     * directory that is removed again). Exactly one must be set. */
    const char *workflow_file;
    const char *workflow_text;
    /* The engine clock at start; 0: CFPT_EPOCH. */
    int64_t now;
    void *reserved[4]; /* must be zero */
} cfpt_engine_options;

/*
 * A real engine on an in-memory store, initialised with a test clock, with
 * one user per role named after it ("administrator" is "admin"; "analyst",
 * "officer", "supervisor", "authoriser") and the workflow deployed and
 * active. Returns a new runner, freed with cfpt_engine_free; or NULL with
 * err set (the deploy's own message when the workflow or plugin is refused).
 */
cfpt_engine *cfpt_engine_new(const cfpt_engine_options *opts, cf_error *err);
/* NULL is a no-op. */
void cfpt_engine_free(cfpt_engine *r);
/* The engine, for anything else in caseflow.h. Borrowed. */
cf_engine *cfpt_engine_handle(cfpt_engine *r);

/* Another user with roles (NULL-terminated). 0 or a CF_E* code with err. */
int cfpt_engine_user(cfpt_engine *r, const char *name, const char *const *roles,
                     cf_error *err);
/* Set the engine clock. */
void cfpt_engine_clock(cfpt_engine *r, int64_t now);
/* Refer `referral` (JSON object text) to the active workflow as `actor`
 * (NULL: "analyst"); on success the case id is copied into id. 0 or CF_E*. */
int cfpt_engine_refer(cfpt_engine *r, const char *actor, const char *referral,
                      char id[64], cf_error *err);
/* Send `event` with `data` (JSON object text; NULL: none) to case id as
 * actor (not NULL). 0 or CF_E* with err (as `caseflow act` would report
 * it). */
int cfpt_engine_act(cfpt_engine *r, const char *actor, const char *id, const char *event,
                    const char *data, cf_error *err);
/* Fire the due timers as the engine itself (no actor: as a service's
 * clock does). *fired (may be NULL) gets how many fired. 0 or CF_E*. */
int cfpt_engine_tick(cfpt_engine *r, size_t *fired, cf_error *err);
/* The case document as `caseflow show --json` gives it (new reference), or
 * NULL when there is no such case. Read as the runner's "supervisor" (an
 * audited consultation, like any read of case data). */
json_t *cfpt_engine_case(cfpt_engine *r, const char *id);
/* The case's state (copied into out[size]); "" when there is no such case. */
const char *cfpt_engine_state(cfpt_engine *r, const char *id, char *out, size_t size);

/* The value at dotted path in doc (borrowed from doc), NULL when absent.
 * "data.risk.grade", "tasks.0.kind": objects by key, arrays by index. */
const json_t *cfpt_path(const json_t *doc, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* CASEFLOW_PLUGIN_TEST_H */
