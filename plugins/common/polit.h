/*
 * Records of the polit workflow that several of its states write: the route
 * a case took after the supervisor's approval, and an escalation when a
 * repeat referral met a case. These belong to the polit workflow's data
 * model, not to the plugin SDK, so they are not part of
 * libcaseflow-plugin-util: polit.c is compiled into the few modules that
 * use it and built on the public cfp_ API only (the modules export only
 * their descriptor, so these names stay private to each).
 */
#ifndef CF_PLUGIN_POLIT_H
#define CF_PLUGIN_POLIT_H

#include <jansson.h>

#include "caseflow/plugin-util.h"

/* data.route: the route the case took after the supervisor's approval
 * ("visit", "enforcement", "hold"), whether it was a supervisor's override
 * and whether a hold was overridden as exceptional. Written by the state
 * the route decision led to; a later state (enforcement after a visit)
 * leaves an earlier decision alone, except a hold being resolved. Returns 0
 * or CF_PLUGIN_FAILED after host->fail. */
int polit_record_route(const cf_host *host, cf_step *step, const char *decision);

/* data.escalation: a repeat referral met this case in state `from`; input
 * (borrowed) is the repeat_referral event's data ({case, key}). Returns 0 or
 * CF_PLUGIN_FAILED after host->fail. */
int polit_record_escalation(const cf_host *host, cf_step *step, const char *from,
                            const json_t *input);

#endif /* CF_PLUGIN_POLIT_H */
