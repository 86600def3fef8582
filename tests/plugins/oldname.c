/*
 * Test plugin "oldname": written the way plugins were before
 * CF_PLUGIN_DEFINE filled in .name, passing the name a second time. It must
 * still compile without a warning (the build uses -Wall -Wextra, -Werror in
 * CI) and load.
 */
#include "caseflow/plugin.h"

CF_PLUGIN_DEFINE(oldname,
    .name = "oldname",
    .version = "0.1",
    .summary = "Test plugin that still passes .name to CF_PLUGIN_DEFINE");
