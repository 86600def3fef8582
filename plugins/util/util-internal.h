/*
 * Shared by the files of libcaseflow-plugin-util; nothing here is exported
 * (the library's export list is '^cfp_').
 */
#ifndef CFP_UTIL_INTERNAL_H
#define CFP_UTIL_INTERNAL_H

#include <stdbool.h>

#include "caseflow/plugin-util.h"

#if defined(__GNUC__)
#define CFP_HIDDEN __attribute__((visibility("hidden")))
#else
#define CFP_HIDDEN
#endif

/* Is name one of list (NULL-terminated)? */
CFP_HIDDEN bool cfpu_in_list(const char *name, const char *const *list);

#endif /* CFP_UTIL_INTERNAL_H */
