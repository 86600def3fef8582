/*
 * The monitoring step: after a visit the address is watched for a period
 * (the state timer in polit.lua). When the period ends without a further
 * report the case closes with an outcome that says whether a warning letter
 * was issued; a repeat referral that meets one of the case's keys (address,
 * occupant, account, hash) is recorded before the workflow escalates it.
 */
#include <string.h>

#include "caseflow/plugin.h"
#include "caseflow/plugin-util.h"
#include "../common/polit.h"

static int monitoring_enter(const cf_host *host, void *state, cf_step *step)
{
    if (host->get(step, "monitoring") != NULL)
        return 0;
    return cfp_set(host, step, "monitoring",
                   json_pack("{s:o, s:b}", "since", cfp_now_string(host, step),
                             "letter", host->get(step, "letter") != NULL));
}

static int expired(const cf_host *host, cf_step *step)
{
    bool letter = host->get(step, "letter") != NULL;

    if (cfp_set(host, step, "monitoring.ended_at", cfp_now_string(host, step)) < 0)
        return CF_PLUGIN_FAILED;
    return cfp_set(host, step, "outcome",
                   json_string(letter ? "warned_no_further_reports"
                                      : "advised_no_further_reports"));
}

static int monitoring_handle(const cf_host *host, void *state, cf_step *step,
                             const char *event, const json_t *input)
{
    if (strcmp(event, "monitoring.expired") == 0)
        return expired(host, step);
    if (strcmp(event, "repeat_referral") == 0)
        return polit_record_escalation(host, step, "monitoring", input);
    return host->fail(step, event, "not handled by the monitoring step");
}

static int monitoring_init(const cf_host *host, const json_t *config,
                           void **state, char *err, size_t errlen)
{
    static const char *const settings[] = {NULL};

    return cfp_config_keys(config, settings, err, errlen);
}

static const char *const monitoring_accepts[] = {"monitoring.expired",
                                                 "repeat_referral", NULL};
static const char *const monitoring_emits[] = {NULL};

CF_PLUGIN_DEFINE(monitoring, .version = "1.0.0",
                 .summary = "watch an address after a visit; close when the "
                            "period ends, record a repeat referral",
                 .accepts = monitoring_accepts, .emits = monitoring_emits,
                 .init = monitoring_init, .enter = monitoring_enter,
                 .handle = monitoring_handle);
