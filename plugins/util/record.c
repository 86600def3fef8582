/*
 * Case data: reading values at data paths, writing them with the failure
 * reported, and stamping records with who and when (the engine's actor and
 * clock, never the system's).
 */
#include "util-internal.h"

json_t *cfp_now_string(const cf_host *host, cf_step *step)
{
    char buf[32];

    host->time_format(host->now(step), buf);
    return json_string(buf);
}

json_t *cfp_stamp(const cf_host *host, cf_step *step, json_t *obj)
{
    const char *actor = host->actor(step);

    if (!json_is_object(obj) ||
        json_object_set_new(obj, "by", json_string(actor != NULL ? actor : "")) != 0 ||
        json_object_set_new(obj, "at", cfp_now_string(host, step)) != 0) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

int cfp_set(const cf_host *host, cf_step *step, const char *path, json_t *value)
{
    if (value == NULL)
        return host->fail(step, path, "out of memory");
    if (host->set(step, path, value) != 0)
        return host->fail(step, path, "cannot be written (not an object)");
    return 0;
}

const char *cfp_get_string(const cf_host *host, cf_step *step, const char *path)
{
    const json_t *v = host->get(step, path);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

bool cfp_get_true(const cf_host *host, cf_step *step, const char *path)
{
    return json_is_true(host->get(step, path));
}
