/*
 * Test plugin "good": a complete, well-behaved descriptor whose behaviour is
 * steered by its config and its input, so loader, machine and engine tests
 * can make it do whatever a transition needs without a plugin per case.
 *
 *  init    keeps a copy of the state's config as its plugin state, so a
 *          test can see what the engine passed;
 *  enter   config "set" (object): copies its members into the case data;
 *          config "emit" (string): emits that event.
 *  handle  input "fail" (string or true): fails with field "fail";
 *          input "set" (object): copies its members into the case data;
 *          input "key" ({kind, value}): adds a correlation key;
 *          input "task" ({role, kind}): opens a task;
 *          input "notify" (string): queues a notification on that channel;
 *          input "emit" (string): emits that event;
 *          input "timer" ({event, seconds}): sets a timer for that event.
 */
#include <stdio.h>

#include "caseflow/plugin.h"

/* tests/loader.am builds this file a second time with another version
 * string (tests/plugins/rebuilt/good.la): the same module name, another
 * SHA-256, for the pinning tests. */
#ifndef GOOD_VERSION
#define GOOD_VERSION "1.2.3"
#endif

/* A third build (tests/plugins/marker/good.la) has an ELF constructor that
 * creates the file named by $CASEFLOW_TEST_MARKER as soon as it is mapped:
 * the pinning test checks that a build refused by its hash never is. */
#ifdef GOOD_CONSTRUCTOR_MARKER
#include <stdlib.h>

__attribute__((constructor)) static void good_marker(void)
{
    const char *path = getenv("CASEFLOW_TEST_MARKER");
    FILE *f = path && *path ? fopen(path, "w") : NULL;
    if (f) {
        fputs("constructor ran\n", f);
        fclose(f);
    }
}
#endif

/* It emits whatever its config or input names, so it declares no outcomes
 * of its own: an event in emits is one only the plugin may send, which
 * every state using it must take (workflow check: unmapped-outcome). The
 * events tests send, or time raises, in its states it accepts. */
static const char *const good_accepts[] = {
    "submit", "update", "approve", "reject", "decide", "result",
    "done", "next", "approved", "rejected", "failed", "expired", NULL};
static const char *const good_emits[] = {NULL};

static int good_init(const cf_host *host, const json_t *config, void **state,
                     char *err, size_t errlen)
{
    /* A copy, not a reference: the config is borrowed for this call only. */
    *state = json_deep_copy(config);
    if (!*state) {
        snprintf(err, errlen, "good: out of memory copying its config");
        return CF_PLUGIN_FAILED;
    }
    return CF_PLUGIN_OK;
}

/* Copy every member of obj into the case data (top level). */
static int copy_members(const cf_host *host, cf_step *step, const json_t *obj)
{
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)obj, key, value) {
        if (host->set(step, key, json_deep_copy(value)) != 0)
            return host->fail(step, "set", "cannot set \"%s\"", key);
    }
    return CF_PLUGIN_OK;
}

/* The "key", "task" and "notify" members of spec: the case's side rows. */
static int side_rows(const cf_host *host, cf_step *step, const json_t *spec)
{
    const json_t *key = json_object_get(spec, "key");
    const json_t *task = json_object_get(spec, "task");
    const json_t *notify = json_object_get(spec, "notify");

    if (key && host->key(step, json_string_value(json_object_get(key, "kind")),
                         json_string_value(json_object_get(key, "value"))) != 0)
        return host->fail(step, "key", "the key was refused");
    if (task && host->task(step, json_string_value(json_object_get(task, "role")),
                           json_string_value(json_object_get(task, "kind")),
                           json_pack("{s:s}", "note", "test task")) != 0)
        return host->fail(step, "task", "the task was refused");
    if (json_is_string(notify) &&
        host->notify(step, json_string_value(notify), json_pack("{s:s}", "note", "test")) != 0)
        return host->fail(step, "notify", "the notification was refused");
    const json_t *timer = json_object_get(spec, "timer");
    if (timer && host->timer(step, json_string_value(json_object_get(timer, "event")),
                             host->now(step) +
                                 json_integer_value(json_object_get(timer, "seconds"))) != 0)
        return host->fail(step, "timer", "the timer was refused");
    return CF_PLUGIN_OK;
}

/* Apply the "set", side rows and "emit" members of spec (config or input). */
static int apply(const cf_host *host, cf_step *step, const json_t *spec)
{
    const json_t *set = json_object_get(spec, "set");
    const json_t *emit = json_object_get(spec, "emit");

    if (json_is_object(set) && copy_members(host, step, set) != 0)
        return CF_PLUGIN_FAILED;
    if (side_rows(host, step, spec) != 0)
        return CF_PLUGIN_FAILED;
    if (json_is_string(emit))
        host->emit(step, json_string_value(emit));
    return CF_PLUGIN_OK;
}

static int good_enter(const cf_host *host, void *state, cf_step *step)
{
    return state ? apply(host, step, state) : CF_PLUGIN_OK;
}

static int good_handle(const cf_host *host, void *state, cf_step *step,
                       const char *event, const json_t *input)
{
    const json_t *f = json_object_get(input, "fail");

    if (f && !json_is_false(f))
        return host->fail(step, "fail", "%s",
                          json_is_string(f) ? json_string_value(f)
                                            : "failure requested by the input");
    return apply(host, step, input);
}

static void good_fini(void *state)
{
    json_decref(state);
}

CF_PLUGIN_DEFINE(good,
    .version = GOOD_VERSION,
    .summary = "Test plugin: sets data and emits events as its input asks",
    .accepts = good_accepts,
    .emits = good_emits,
    .init = good_init,
    .enter = good_enter,
    .handle = good_handle,
    .fini = good_fini);
