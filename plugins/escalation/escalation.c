/*
 * The escalation step: a transient state between a case that a repeat
 * referral has met (in monitoring after a warning, or awaiting a visit) and
 * the enforcement route. The state the case was in has already recorded the
 * link at data.escalation; this step makes the escalation happen: an officer
 * task to plan arrest, search and seizure, a notification for other systems,
 * and a short response deadline (config response_days). It then emits
 * "escalated". It runs inside the transaction that takes in the new
 * referral, so it only ever fails for want of the escalation record.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caseflow/plugin.h"
#include "caseflow/plugin-util.h"

struct escalation_conf {
    double response_days;
};

static int escalation_enter(const cf_host *host, void *state, cf_step *step)
{
    const struct escalation_conf *conf = state;
    const json_t *esc = host->get(step, "escalation");
    json_t *detail;
    int64_t due;

    if (!json_is_object(esc))
        return host->fail(step, "escalation", "no repeat referral recorded");
    detail = json_deep_copy(esc);
    if (host->task(step, "officer", "escalation", json_deep_copy(esc)) != 0) {
        json_decref(detail);
        return host->fail(step, "escalation", "task refused");
    }
    json_object_set_new(detail, "case_id", json_string(host->case_id(step)));
    if (host->notify(step, "escalation", detail) != 0)
        return host->fail(step, "escalation", "notification refused");
    due = host->now(step) + (int64_t)(conf->response_days * 86400.0 + 0.5);
    if (host->deadline(step, due) != 0)
        return host->fail(step, "escalation", "deadline refused");
    return host->emit(step, "escalated");
}

static int escalation_init(const cf_host *host, const json_t *config,
                           void **state, char *err, size_t errlen)
{
    static const char *const settings[] = {"response_days", NULL};
    struct escalation_conf *c;
    double days = 1;

    if (cfp_config_keys(config, settings, err, errlen) < 0 ||
        cfp_config_number(config, "response_days", 0, 365, &days, err,
                          errlen) < 0)
        return -1;
    c = malloc(sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->response_days = days;
    *state = c;
    return 0;
}

static void escalation_fini(void *state)
{
    free(state);
}

static const char *const escalation_accepts[] = {NULL};
static const char *const escalation_emits[] = {"escalated", NULL};

CF_PLUGIN_DEFINE(escalation, .version = "1.0.0",
                 .summary = "escalate a case a repeat referral met: officer "
                            "task, notification, short deadline",
                 .accepts = escalation_accepts, .emits = escalation_emits,
                 .init = escalation_init, .enter = escalation_enter,
                 .fini = escalation_fini);
