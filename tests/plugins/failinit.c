/*
 * Test plugin "failinit": loads fine, but init always refuses with a
 * message. Whether that stops a deployment is the engine's business.
 */
#include <stdio.h>

#include "caseflow/plugin.h"

static int failinit_init(const cf_host *host, const json_t *config,
                         void **state, char *err, size_t errlen)
{
    *state = NULL;
    snprintf(err, errlen, "failinit: this plugin always refuses its config");
    return CF_PLUGIN_FAILED;
}

static const char *const failinit_accepts[] = {"submit", NULL};

CF_PLUGIN_DEFINE(failinit,
    .version = "0.1",
    .summary = "Test plugin whose init always fails",
    .accepts = failinit_accepts,
    .init = failinit_init);
