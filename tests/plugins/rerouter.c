/*
 * Test plugin "rerouter": declares repeat_referral among its outcomes, the
 * event the engine raises itself when a new referral meets a case, so
 * `workflow check` can be seen refusing it (engine-event-outcome): as an
 * outcome, any referral with a matching key would take the plugin's route.
 */
#include "caseflow/plugin.h"

static const char *const rerouter_accepts[] = {"reroute.submit", NULL};
static const char *const rerouter_emits[] = {"repeat_referral", NULL};

CF_PLUGIN_DEFINE(rerouter,
    .version = "0.1.0",
    .summary = "Test plugin: emits repeat_referral, which only the engine may raise",
    .accepts = rerouter_accepts,
    .emits = rerouter_emits);
