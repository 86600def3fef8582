/*
 * Test plugin "wrongabi": otherwise valid, but claims ABI 2.0. The loader
 * must refuse it and name both versions. Written out by hand because
 * CF_PLUGIN_DEFINE always stamps the current ABI.
 */
#include "caseflow/plugin.h"

static int wrongabi_init(const cf_host *host, const json_t *config,
                         void **state, char *err, size_t errlen)
{
    *state = NULL;
    return CF_PLUGIN_OK;
}

CF_PLUGIN_EXPORT extern const cf_plugin wrongabi_LTX_caseflow_plugin;
const cf_plugin wrongabi_LTX_caseflow_plugin = {
    .abi = CF_PLUGIN_ABI_MAKE(2, 0),
    .size = sizeof(cf_plugin),
    .name = "wrongabi",
    .version = "0.1",
    .summary = "Test plugin built for a future ABI major",
    .init = wrongabi_init,
};
