/*
 * Test plugin "newerminor": ABI 1.99, a minor newer than any engine knows.
 * It may rely on host members this engine does not have, so it is refused.
 */
#include "caseflow/plugin.h"

static int newerminor_init(const cf_host *host, const json_t *config,
                           void **state, char *err, size_t errlen)
{
    *state = NULL;
    return CF_PLUGIN_OK;
}

CF_PLUGIN_EXPORT extern const cf_plugin newerminor_LTX_caseflow_plugin;
const cf_plugin newerminor_LTX_caseflow_plugin = {
    .abi = CF_PLUGIN_ABI_MAKE(CF_PLUGIN_ABI_MAJOR, 99),
    .size = sizeof(cf_plugin),
    .name = "newerminor",
    .version = "0.1",
    .summary = "Test plugin built for a newer ABI minor",
    .init = newerminor_init,
};
