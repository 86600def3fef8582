/*
 * Deferred consultations: reads on an engine of their own. A service that
 * answers reads on read-only engines of its own (caseflowd's readers, one
 * per concurrent read) cannot write their consultation records there; the
 * read engine keeps each record it would have written instead, and the
 * service writes them, in order, on its writer as the same user, before it
 * answers: nothing is disclosed without its record committed first.
 */
#include "config.h"

#include "internal.h"
#include "machine.h"

int cf_engine_defer_consultations(cf_engine *e, int on)
{
    json_decref(e->deferred);
    e->deferred = on ? json_array() : NULL;
    return on && !e->deferred ? CF_ENOMEM : 0;
}

json_t *cf_engine_take_consultations(cf_engine *e)
{
    if (!e->deferred)
        return NULL;
    json_t *taken = e->deferred;
    e->deferred = json_array();
    if (!e->deferred) { /* out of memory: stop deferring rather than lose one */
        json_decref(taken);
        return NULL;
    }
    return taken;
}

int cf_engine_defer_consultation(cf_engine *e, const char *case_id, json_t *payload,
                                 cf_error *err)
{
    json_t *item = payload ? json_pack("{s:s?, s:O}", "case", case_id, "payload", payload)
                           : NULL;
    if (!item || json_array_append_new(e->deferred, item) != 0)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    return 0;
}

int cf_engine_record_consultations(cf_engine *e, const json_t *list, cf_error *err)
{
    cf_err_clear(err);
    if (!json_is_array(list))
        return cf_err_set(err, CF_EUSAGE, "consultations", "consultations: an array");
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        json_t *c = json_object_get(item, "case");
        if (!json_is_object(json_object_get(item, "payload")) ||
            (c && !json_is_null(c) && !json_is_string(c)))
            return cf_err_set(err, CF_EUSAGE, "consultations",
                              "consultation %zu: {case, payload} expected", i);
    }
    if (json_array_size(list) == 0)
        return 0;
    int rc = cf_engine_require(e, NULL, 0, NULL, NULL, err);
    if (rc || (rc = cf_engine_require_reason(e, err)) || (rc = cf_engine_begin_checked(e, err)))
        return rc;
    json_array_foreach(list, i, item)
    {
        rc = cf_engine_audit(e, NULL, "consultation",
                             json_string_value(json_object_get(item, "case")),
                             json_object_get(item, "payload"), err);
        if (rc)
            break;
    }
    return cf_engine_finish(e, rc, err);
}
