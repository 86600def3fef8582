/*
 * A state's config, checked in init(): known settings, numbers and strings.
 * init() has no step to fail on, so the reason goes into the caller's err
 * buffer, which the engine reports as the state's plugin-init refusal.
 */
#include <stdio.h>

#include "util-internal.h"

int cfp_config_keys(const json_t *config, const char *const *allowed,
                    char *err, size_t errlen)
{
    const char *name;
    json_t *value;

    if (!json_is_object(config)) {
        snprintf(err, errlen, "config must be a table");
        return -1;
    }
    json_object_foreach((json_t *)config, name, value) {
        (void)value;
        if (!cfpu_in_list(name, allowed)) {
            snprintf(err, errlen, "unknown setting '%s'", name);
            return -1;
        }
    }
    return 0;
}

int cfp_config_number(const json_t *config, const char *key, double min,
                      double max, double *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(config, key);

    if (v == NULL)
        return 0;
    if (!json_is_number(v) || json_number_value(v) < min ||
        json_number_value(v) > max) {
        snprintf(err, errlen, "setting '%s' must be a number from %g to %g",
                 key, min, max);
        return -1;
    }
    if (out != NULL)
        *out = json_number_value(v);
    return 0;
}

int cfp_config_string(const json_t *config, const char *key, const char **out,
                      char *err, size_t errlen)
{
    json_t *v = json_object_get(config, key);

    if (v == NULL)
        return 0;
    if (!json_is_string(v) || json_string_length(v) == 0) {
        snprintf(err, errlen, "setting '%s' must be a non-empty string", key);
        return -1;
    }
    if (out != NULL)
        *out = json_string_value(v);
    return 0;
}
