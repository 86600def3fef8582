/*
 * The polit workflow's shared records (see polit.h), written with the public
 * helper API like any out-of-tree plugin would.
 */
#include "polit.h"

#include <string.h>

int polit_record_route(const cf_host *host, cf_step *step, const char *decision)
{
    const char *prev = cfp_get_string(host, step, "route.decision");
    const char *override = cfp_get_string(host, step, "route_decision.override");
    const json_t *hold_override = host->get(step, "hold_override");
    json_t *route;

    if (prev != NULL && strcmp(prev, "hold") != 0)
        return 0; /* the route was decided earlier; this is a later step */
    route = json_pack("{s:s, s:o, s:b}", "decision", decision, "at",
                      cfp_now_string(host, step), "held",
                      prev != NULL || cfp_get_true(host, step, "route.held"));
    if (route == NULL)
        return host->fail(step, "route", "out of memory");
    if (override != NULL && strcmp(override, decision) == 0) {
        json_object_set_new(route, "override", json_string(override));
        json_object_set_new(route, "override_reason",
                            json_deep_copy(host->get(step, "route_decision.reason")));
    }
    if (hold_override != NULL && strcmp(decision, "hold") != 0) {
        json_object_set_new(route, "exceptional", json_true());
        json_object_set_new(route, "exceptional_reason",
                            json_deep_copy(json_object_get(hold_override, "reason")));
    }
    return cfp_set(host, step, "route", route);
}

int polit_record_escalation(const cf_host *host, cf_step *step, const char *from,
                            const json_t *input)
{
    json_t *esc = json_pack("{s:s}", "from", from);
    json_t *linked = json_object_get(input, "case");
    json_t *key = json_object_get(input, "key");

    if (esc == NULL)
        return host->fail(step, "escalation", "out of memory");
    if (json_is_string(linked))
        json_object_set_new(esc, "case", json_deep_copy(linked));
    if (json_is_object(key))
        json_object_set_new(esc, "key", json_deep_copy(key));
    return cfp_set(host, step, "escalation", cfp_stamp(host, step, esc));
}
