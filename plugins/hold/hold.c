/*
 * The hold step: a resolved subscriber whose address has not been
 * corroborated must not be the sole basis for a visit or a warrant (wrong
 * conversions have sent officers to innocent people). On entering, the case
 * records why it waits and opens a task to corroborate the address. An officer
 * confirms corroboration with the method used, or a supervisor overrides the
 * hold with a reason; either way the route is decided again in Lua, and an
 * override is carried into data.route as exceptional.
 */
#include <string.h>

#include "caseflow/plugin.h"
#include "caseflow/plugin-util.h"
#include "../common/polit.h"

static int hold_enter(const cf_host *host, void *state, cf_step *step)
{
    json_t *hold;

    if (polit_record_route(host, step, "hold") < 0)
        return CF_PLUGIN_FAILED;
    if (host->get(step, "hold") != NULL)
        return 0; /* re-entered: the original hold record stands */
    hold = json_pack("{s:s, s:o}", "reason", "address not corroborated",
                     "since", cfp_now_string(host, step));
    if (cfp_set(host, step, "hold", hold) < 0)
        return CF_PLUGIN_FAILED;
    if (host->task(step, "officer", "corroborate_address", NULL) != 0)
        return host->fail(step, "hold", "task refused");
    return 0;
}

static int confirmed(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const fields[] = {"method", "notes", NULL};
    const char *method, *notes;
    json_t *rec;

    if (cfp_known_fields(host, step, in, "", fields) < 0 ||
        cfp_line(host, step, in, "", "method", CFP_LINE_MAX, true, &method) < 0 ||
        cfp_text(host, step, in, "", "notes", CFP_TEXT_MAX, false, &notes) < 0)
        return CF_PLUGIN_FAILED;
    rec = json_pack("{s:s}", "method", method);
    if (rec != NULL && notes != NULL)
        json_object_set_new(rec, "notes", json_string(notes));
    return cfp_set(host, step, "corroboration", cfp_stamp(host, step, rec));
}

static int overridden(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const fields[] = {"reason", NULL};
    const char *reason;

    if (cfp_known_fields(host, step, in, "", fields) < 0 ||
        cfp_text(host, step, in, "", "reason", CFP_TEXT_MAX, true, &reason) < 0)
        return CF_PLUGIN_FAILED;
    return cfp_set(host, step, "hold_override",
                   cfp_stamp(host, step, json_pack("{s:s}", "reason", reason)));
}

static int hold_handle(const cf_host *host, void *state, cf_step *step,
                       const char *event, const json_t *input)
{
    if (strcmp(event, "corroboration.confirmed") == 0)
        return confirmed(host, step, input);
    if (strcmp(event, "hold.override") == 0)
        return overridden(host, step, input);
    return host->fail(step, event, "not handled by the hold step");
}

static int hold_init(const cf_host *host, const json_t *config, void **state,
                     char *err, size_t errlen)
{
    static const char *const settings[] = {NULL};

    return cfp_config_keys(config, settings, err, errlen);
}

static const char *const hold_accepts[] = {"corroboration.confirmed",
                                           "hold.override", NULL};
static const char *const hold_emits[] = {NULL};

CF_PLUGIN_DEFINE(hold, .version = "1.0.0",
                 .summary = "hold an uncorroborated address until it is "
                            "corroborated or a supervisor overrides",
                 .accepts = hold_accepts, .emits = hold_emits,
                 .init = hold_init, .enter = hold_enter, .handle = hold_handle);
