/*
 * Test plugin "triage": a step whose outcomes are its own decision, with a
 * typo in its emits list on purpose (issue 10: `triage.urgnet`, where the
 * workflow maps `triage.urgent`), for the outcome rules of the machine and
 * of `workflow check`.
 *
 *  accepts  triage.submit: input "priority" true emits triage.urgnet (the
 *           typo, as it would reach a case), anything else triage.routine.
 *  emits    triage.urgnet, triage.routine: outcomes only it may send, unless
 *           a transition's `manual` lets a role send one by hand.
 */
#include "caseflow/plugin.h"

static const char *const triage_accepts[] = {"triage.submit", NULL};
/* The typo is the point of this plugin: do not correct it. */
static const char *const triage_emits[] = {"triage.urgnet", "triage.routine", NULL};

static int triage_handle(const cf_host *host, void *state, cf_step *step,
                         const char *event, const json_t *input)
{
    (void)state;
    (void)event;
    return host->emit(step, json_is_true(json_object_get(input, "priority"))
                                ? "triage.urgnet"
                                : "triage.routine");
}

CF_PLUGIN_DEFINE(triage,
    .version = "0.1.0",
    .summary = "Test plugin: decides urgent or routine; its emits list has a typo",
    .accepts = triage_accepts,
    .emits = triage_emits,
    .handle = triage_handle);
