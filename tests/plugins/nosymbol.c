/*
 * Test plugin "nosymbol": a valid descriptor exported under another module's
 * name (a copied plugin nobody renamed). The export regex still lets it out,
 * but lt_dlsym looks for nosymbol_LTX_caseflow_plugin and must not find it.
 */
#include "caseflow/plugin.h"

CF_PLUGIN_DEFINE(misnamed,
    .version = "0.1",
    .summary = "Test plugin whose descriptor has the wrong symbol name");
