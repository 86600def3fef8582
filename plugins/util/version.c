/*
 * The library's version at run time (see CFP_UTIL_VERSION in plugin-util.h),
 * so a plugin built against a later minor can refuse an older library in
 * init() instead of failing to resolve a symbol.
 */
#include "util-internal.h"

uint32_t cfp_util_version(void)
{
    return CFP_UTIL_VERSION;
}

const char *cfp_util_version_string(void)
{
    return CFP_UTIL_VERSION_STRING;
}
