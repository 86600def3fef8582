/*
 * Test plugin "smallsize": its size says the descriptor ends before the
 * function pointers, so the loader must not read them and must refuse it.
 */
#include <stddef.h>

#include "caseflow/plugin.h"

CF_PLUGIN_EXPORT extern const cf_plugin smallsize_LTX_caseflow_plugin;
const cf_plugin smallsize_LTX_caseflow_plugin = {
    .abi = CF_PLUGIN_ABI,
    .size = (uint32_t)offsetof(cf_plugin, init),
    .name = "smallsize",
    .version = "0.1",
    .summary = "Test plugin with a truncated descriptor",
};
