/*
 * The charging step: the file has gone to the Crown Prosecution Service and a
 * supervisor records the outcome (charged, cautioned, Outcome 21 or 22, or no
 * further action). The outcome is written to data.outcome, which every
 * closed case carries, and the decision with who made it and when to
 * data.charging.
 */
#include <string.h>

#include "caseflow/plugin.h"
#include "caseflow/plugin-util.h"

static const char *const outcomes[] = {"charged", "cautioned", "outcome_21",
                                       "outcome_22", "nfa", NULL};

static int recorded(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const fields[] = {"outcome", "notes", NULL};
    const char *outcome, *notes;
    json_t *rec;

    if (cfp_known_fields(host, step, in, "", fields) < 0 ||
        cfp_choice(host, step, in, "", "outcome", outcomes, true, &outcome) < 0 ||
        cfp_text(host, step, in, "", "notes", CFP_TEXT_MAX, false, &notes) < 0)
        return CF_PLUGIN_FAILED;
    rec = json_pack("{s:s}", "outcome", outcome);
    if (rec != NULL && notes != NULL)
        json_object_set_new(rec, "notes", json_string(notes));
    if (cfp_set(host, step, "charging", cfp_stamp(host, step, rec)) < 0)
        return CF_PLUGIN_FAILED;
    return cfp_set(host, step, "outcome", json_string(outcome));
}

static int charging_handle(const cf_host *host, void *state, cf_step *step,
                           const char *event, const json_t *input)
{
    if (strcmp(event, "outcome.recorded") == 0)
        return recorded(host, step, input);
    return host->fail(step, event, "not handled by the charging step");
}

static int charging_init(const cf_host *host, const json_t *config,
                         void **state, char *err, size_t errlen)
{
    static const char *const settings[] = {NULL};

    return cfp_config_keys(config, settings, err, errlen);
}

static const char *const charging_accepts[] = {"outcome.recorded", NULL};
static const char *const charging_emits[] = {NULL};

CF_PLUGIN_DEFINE(charging, .version = "1.0.0",
                 .summary = "record the charging outcome",
                 .accepts = charging_accepts, .emits = charging_emits,
                 .init = charging_init, .handle = charging_handle);
