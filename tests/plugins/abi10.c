/*
 * Test plugin "abi10": built against the oldest supported plugin header,
 * tests/abi/1.0/caseflow/plugin.h (ABI 1.0 as first released, commit
 * 2cfc2f4, before CF_PLUGIN_DEFINE filled in .name), which tests/loader.am
 * puts first on the include path. tests/e2e/abi_compat.sh checks that the
 * current engine loads it, that its descriptor reports ABI 1.0, and that it
 * runs in a workflow. Written only with what that header offers.
 *
 *  enter   records data.abi10.entered_at (engine clock) and the state;
 *  handle  "submit" {note?: string, finish?: true}: records data.abi10.note
 *          and data.abi10.by (the actor); with finish, emits "done".
 */
#include <stdio.h>
#include <string.h>

#include <caseflow/plugin.h>

/* The current header defines this; the 1.0 one does not. */
#ifdef CF_PLUGIN_OVERRIDE_BEGIN_
#error "abi10.c must be built against tests/abi/1.0/caseflow/plugin.h"
#endif

static const char *const abi10_accepts[] = {"submit", NULL};
static const char *const abi10_emits[] = {"done", NULL};

static int abi10_enter(const cf_host *host, void *state, cf_step *step)
{
    char at[32];
    json_t *v;

    (void)state;
    host->time_format(host->now(step), at);
    if ((v = json_string(at)) == NULL || host->set(step, "abi10.entered_at", v) != 0)
        return host->fail(step, "abi10", "cannot record the entry");
    if ((v = json_string(host->state(step))) == NULL || host->set(step, "abi10.state", v) != 0)
        return host->fail(step, "abi10", "cannot record the state");
    return CF_PLUGIN_OK;
}

static int abi10_handle(const cf_host *host, void *state, cf_step *step, const char *event,
                        const json_t *input)
{
    const json_t *note = json_object_get(input, "note");
    const json_t *finish = json_object_get(input, "finish");
    json_t *v;

    (void)state;
    if (strcmp(event, "submit") != 0)
        return host->fail(step, "event", "not handled by abi10");
    if (note != NULL && !json_is_string(note))
        return host->fail(step, "note", "must be a string");
    if (finish != NULL && !json_is_boolean(finish))
        return host->fail(step, "finish", "must be true or false");
    if (note != NULL &&
        ((v = json_string(json_string_value(note))) == NULL ||
         host->set(step, "abi10.note", v) != 0))
        return host->fail(step, "note", "cannot be recorded");
    if ((v = json_string(host->actor(step))) == NULL || host->set(step, "abi10.by", v) != 0)
        return host->fail(step, "abi10", "cannot record the actor");
    host->log(step, CF_LOG_INFO, "abi10: submit on %s", host->case_id(step));
    if (json_is_true(finish))
        return host->emit(step, "done");
    return CF_PLUGIN_OK;
}

/* The 1.0 form: the module name a second time, as .name. */
CF_PLUGIN_DEFINE(abi10,
    .name = "abi10",
    .version = "1.0.0",
    .summary = "Test plugin built against the ABI 1.0 header",
    .accepts = abi10_accepts,
    .emits = abi10_emits,
    .enter = abi10_enter,
    .handle = abi10_handle);
