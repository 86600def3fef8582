/*
 * Test plugin "typoname": passes a .name that differs from the module (the
 * typo the old two-name form allowed). The later .name wins over the one
 * CF_PLUGIN_DEFINE fills in, so the loader still sees the typo and refuses.
 */
#include "caseflow/plugin.h"

CF_PLUGIN_DEFINE(typoname,
    .name = "typonmae",
    .version = "0.1",
    .summary = "Test plugin whose .name differs from its module");
