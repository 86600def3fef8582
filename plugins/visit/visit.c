/*
 * The visit step: the lowest-risk route, where officers call on the
 * subscriber, give advice and sometimes a warning letter. Entering records the
 * route (and any supervisor override that led here). Officers record the
 * visit's result (the letter itself is produced by the warning step the
 * workflow passes through when letter_issued is true), each attempt nobody
 * answered, or a concern that sends the case to enforcement. A repeat
 * referral that meets the case here is recorded before the workflow
 * escalates it.
 */
#include <string.h>

#include "caseflow/plugin.h"
#include "caseflow/plugin-util.h"
#include "../common/polit.h"

static int visit_enter(const cf_host *host, void *state, cf_step *step)
{
    if (polit_record_route(host, step, "visit") < 0)
        return CF_PLUGIN_FAILED;
    if (host->get(step, "visit") != NULL)
        return 0;
    return cfp_set(host, step, "visit",
                   json_pack("{s:i, s:o}", "attempts", 0, "since",
                             cfp_now_string(host, step)));
}

static int completed(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const flags[] = {"advice_given", "letter_issued",
                                        "security_advice", "signposted", NULL};
    static const char *const fields[] = {"advice_given", "letter_issued",
                                         "security_advice", "signposted",
                                         "notes", NULL};
    json_t *rec = json_object();
    const char *notes;
    int v;

    if (cfp_known_fields(host, step, in, "", fields) < 0)
        goto fail;
    for (size_t i = 0; flags[i] != NULL; i++) {
        if (cfp_bool(host, step, in, "", flags[i], true, &v) < 0)
            goto fail;
        json_object_set_new(rec, flags[i], json_boolean(v));
    }
    if (cfp_text(host, step, in, "", "notes", CFP_TEXT_MAX, false, &notes) < 0)
        goto fail;
    if (notes != NULL)
        json_object_set_new(rec, "notes", json_string(notes));
    return cfp_set(host, step, "visit.result", cfp_stamp(host, step, rec));
fail:
    json_decref(rec);
    return CF_PLUGIN_FAILED;
}

static int no_answer(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const fields[] = {"notes", NULL};
    const json_t *n = host->get(step, "visit.attempts");
    json_int_t attempts = json_is_integer(n) ? json_integer_value(n) : 0;
    const char *notes;

    if (cfp_known_fields(host, step, in, "", fields) < 0 ||
        cfp_text(host, step, in, "", "notes", CFP_TEXT_MAX, false, &notes) < 0)
        return CF_PLUGIN_FAILED;
    if (cfp_set(host, step, "visit.attempts", json_integer(attempts + 1)) < 0)
        return CF_PLUGIN_FAILED;
    return cfp_set(host, step, "visit.last_attempt",
                   cfp_stamp(host, step, json_object()));
}

static int concern(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const fields[] = {"reason", NULL};
    const char *reason;

    if (cfp_known_fields(host, step, in, "", fields) < 0 ||
        cfp_text(host, step, in, "", "reason", CFP_TEXT_MAX, true, &reason) < 0)
        return CF_PLUGIN_FAILED;
    return cfp_set(host, step, "visit.concern",
                   cfp_stamp(host, step, json_pack("{s:s}", "reason", reason)));
}

static int visit_handle(const cf_host *host, void *state, cf_step *step,
                        const char *event, const json_t *input)
{
    if (strcmp(event, "visit.completed") == 0)
        return completed(host, step, input);
    if (strcmp(event, "visit.no_answer") == 0)
        return no_answer(host, step, input);
    if (strcmp(event, "visit.concern") == 0)
        return concern(host, step, input);
    if (strcmp(event, "repeat_referral") == 0)
        return polit_record_escalation(host, step, "visit", input);
    return host->fail(step, event, "not handled by the visit step");
}

static int visit_init(const cf_host *host, const json_t *config, void **state,
                      char *err, size_t errlen)
{
    static const char *const settings[] = {NULL};

    return cfp_config_keys(config, settings, err, errlen);
}

static const char *const visit_accepts[] = {"visit.completed", "visit.no_answer",
                                            "visit.concern", "repeat_referral",
                                            NULL};
static const char *const visit_emits[] = {NULL};

CF_PLUGIN_DEFINE(visit, .version = "1.0.0",
                 .summary = "record the advice visit, unanswered attempts and "
                            "concerns",
                 .accepts = visit_accepts, .emits = visit_emits,
                 .init = visit_init, .enter = visit_enter,
                 .handle = visit_handle);
