/*
 * The enforcement step: the route for everything that is not the lowest
 * risk, and where escalations, visit concerns and lapsed warrants lead.
 * Entering records the route when the route decision led here. An officer
 * records the warrant the court issued; its expiry (PACE s.16(3): entry
 * within three months of issue, config validity_months) is computed here
 * and kept with the warrant, and the warrant state sets the timer from it.
 * A warrant already past its expiry is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caseflow/plugin.h"
#include "caseflow/plugin-util.h"
#include "../common/polit.h"

struct enforcement_conf {
    int validity_months;
};

static int enforcement_enter(const cf_host *host, void *state, cf_step *step)
{
    if (polit_record_route(host, step, "enforcement") < 0)
        return CF_PLUGIN_FAILED;
    if (host->get(step, "enforcement") != NULL)
        return 0;
    return cfp_set(host, step, "enforcement",
                   json_pack("{s:o}", "since", cfp_now_string(host, step)));
}

static int issued(const cf_host *host, cf_step *step,
                  const struct enforcement_conf *conf, const json_t *in)
{
    static const char *const fields[] = {"court", "issued_at", "reference",
                                         NULL};
    const char *court, *at, *reference;
    int64_t utc, expires;
    int offset;
    char utc_text[32], expires_text[32];
    json_t *w;

    if (cfp_known_fields(host, step, in, "", fields) < 0 ||
        cfp_line(host, step, in, "", "court", 128, true, &court) < 0 ||
        cfp_time(host, step, in, "", "issued_at", true, &at, &utc, &offset) < 0 ||
        cfp_line(host, step, in, "", "reference", 128, false, &reference) < 0)
        return CF_PLUGIN_FAILED;
    if (utc > host->now(step))
        return host->fail(step, "issued_at", "in the future");
    expires = cfp_add_months(utc, conf->validity_months);
    if (expires <= host->now(step))
        return host->fail(step, "issued_at",
                          "the warrant has expired (entry within %d months of "
                          "issue)", conf->validity_months);
    host->time_format(utc, utc_text);
    host->time_format(expires, expires_text);
    w = json_pack("{s:s, s:s, s:s, s:s}", "court", court, "issued_at", at,
                  "issued_at_utc", utc_text, "expires_at", expires_text);
    if (w != NULL && reference != NULL)
        json_object_set_new(w, "reference", json_string(reference));
    return cfp_set(host, step, "warrant", cfp_stamp(host, step, w));
}

static int enforcement_handle(const cf_host *host, void *state, cf_step *step,
                              const char *event, const json_t *input)
{
    if (strcmp(event, "warrant.issued") == 0)
        return issued(host, step, state, input);
    return host->fail(step, event, "not handled by the enforcement step");
}

static int enforcement_init(const cf_host *host, const json_t *config,
                            void **state, char *err, size_t errlen)
{
    static const char *const settings[] = {"validity_months", NULL};
    struct enforcement_conf *c;
    double months = 3;

    if (cfp_config_keys(config, settings, err, errlen) < 0 ||
        cfp_config_number(config, "validity_months", 1, 12, &months, err,
                          errlen) < 0)
        return -1;
    if (months != (int)months) {
        snprintf(err, errlen, "setting 'validity_months' must be whole months");
        return -1;
    }
    c = malloc(sizeof *c);
    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->validity_months = (int)months;
    *state = c;
    return 0;
}

static void enforcement_fini(void *state)
{
    free(state);
}

static const char *const enforcement_accepts[] = {"warrant.issued", NULL};
static const char *const enforcement_emits[] = {NULL};

CF_PLUGIN_DEFINE(enforcement, .version = "1.0.0",
                 .summary = "enforcement route: record the route and the "
                            "issued warrant with its PACE expiry",
                 .accepts = enforcement_accepts, .emits = enforcement_emits,
                 .init = enforcement_init, .enter = enforcement_enter,
                 .handle = enforcement_handle, .fini = enforcement_fini);
