/*
 * The warrant step: a warrant is issued and waits to be executed. Entering
 * sets the warrant.expired timer at the expiry the enforcement step computed
 * (a timer set in this state is cancelled when the case leaves it, so an
 * executed warrant cannot lapse afterwards). Execution records arrest or
 * voluntary interview and the devices seized, by exhibit number; a lapse
 * moves the warrant to data.warrant_lapses and the case back to enforcement.
 */
#include <stdio.h>
#include <string.h>

#include "caseflow/plugin.h"
#include "caseflow/plugin-util.h"

static int warrant_enter(const cf_host *host, void *state, cf_step *step)
{
    const char *expires = cfp_get_string(host, step, "warrant.expires_at");
    int64_t due;
    int offset;

    if (expires == NULL || host->time_parse(expires, &due, &offset) != 0)
        return host->fail(step, "warrant.expires_at", "missing; no warrant issued");
    if (host->timer(step, "warrant.expired", due) != 0)
        return host->fail(step, "warrant.expires_at", "timer refused");
    return 0;
}

static int device(const cf_host *host, cf_step *step, const json_t *item,
                  size_t i, json_t *list)
{
    static const char *const fields[] = {"exhibit", "type", "description",
                                         NULL};
    char prefix[CFP_FIELD_MAX];
    const char *exhibit, *type, *desc;
    json_t *d;

    cfp_index(prefix, "devices", i);
    if (!json_is_object(item))
        return host->fail(step, prefix, "must be an object");
    if (cfp_known_fields(host, step, item, prefix, fields) < 0 ||
        cfp_line(host, step, item, prefix, "exhibit", 64, true, &exhibit) < 0 ||
        cfp_line(host, step, item, prefix, "type", 64, true, &type) < 0 ||
        cfp_line(host, step, item, prefix, "description", CFP_LINE_MAX, false,
                 &desc) < 0)
        return CF_PLUGIN_FAILED;
    /* Exhibit numbers identify evidence: two devices cannot share one. */
    for (size_t j = 0; j < json_array_size(list); j++) {
        json_t *other = json_object_get(json_array_get(list, j), "exhibit");
        if (strcmp(json_string_value(other), exhibit) == 0) {
            char field[CFP_FIELD_MAX];
            cfp_field(field, prefix, "exhibit");
            return host->fail(step, field, "duplicate exhibit number");
        }
    }
    d = json_pack("{s:s, s:s}", "exhibit", exhibit, "type", type);
    if (d != NULL && desc != NULL)
        json_object_set_new(d, "description", json_string(desc));
    json_array_append_new(list, d);
    return 0;
}

static int executed(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const fields[] = {"arrested", "voluntary_interview",
                                         "devices", "notes", NULL};
    const json_t *devices;
    json_t *item, *list = json_array(), *rec;
    const char *notes;
    int arrested, interview;
    size_t i;

    if (cfp_known_fields(host, step, in, "", fields) < 0 ||
        cfp_bool(host, step, in, "", "arrested", true, &arrested) < 0 ||
        cfp_bool(host, step, in, "", "voluntary_interview", true, &interview) < 0 ||
        cfp_array(host, step, in, "", "devices", true, &devices) < 0 ||
        cfp_text(host, step, in, "", "notes", CFP_TEXT_MAX, false, &notes) < 0)
        goto fail;
    if (arrested && interview) {
        host->fail(step, "voluntary_interview",
                   "a person under arrest is not interviewed voluntarily");
        goto fail;
    }
    json_array_foreach(devices, i, item)
        if (device(host, step, item, i, list) < 0)
            goto fail;
    rec = json_pack("{s:b, s:b, s:o}", "arrested", arrested,
                    "voluntary_interview", interview, "devices", list);
    if (rec != NULL && notes != NULL)
        json_object_set_new(rec, "notes", json_string(notes));
    return cfp_set(host, step, "execution", cfp_stamp(host, step, rec));
fail:
    json_decref(list);
    return CF_PLUGIN_FAILED;
}

static int lapsed(const cf_host *host, cf_step *step)
{
    const json_t *warrant = host->get(step, "warrant");
    const json_t *lapses = host->get(step, "warrant_lapses");
    json_t *list = json_is_array(lapses) ? json_deep_copy(lapses) : json_array();
    json_t *rec = json_deep_copy(warrant);

    if (rec == NULL)
        rec = json_object();
    json_object_set_new(rec, "lapsed_at", cfp_now_string(host, step));
    json_array_append_new(list, rec);
    if (cfp_set(host, step, "warrant_lapses", list) < 0)
        return CF_PLUGIN_FAILED;
    if (host->set(step, "warrant", NULL) != 0)
        return host->fail(step, "warrant", "cannot be removed");
    return 0;
}

static int warrant_handle(const cf_host *host, void *state, cf_step *step,
                          const char *event, const json_t *input)
{
    if (strcmp(event, "warrant.executed") == 0)
        return executed(host, step, input);
    if (strcmp(event, "warrant.expired") == 0)
        return lapsed(host, step);
    return host->fail(step, event, "not handled by the warrant step");
}

static int warrant_init(const cf_host *host, const json_t *config, void **state,
                        char *err, size_t errlen)
{
    static const char *const settings[] = {NULL};

    return cfp_config_keys(config, settings, err, errlen);
}

static const char *const warrant_accepts[] = {"warrant.executed",
                                              "warrant.expired", NULL};
/* warrant.expired is not emitted as an outcome but set as a timer. */
static const char *const warrant_emits[] = {"warrant.expired", NULL};

CF_PLUGIN_DEFINE(warrant, .version = "1.0.0",
                 .summary = "an issued warrant: expiry timer, execution with "
                            "seized devices, lapse",
                 .accepts = warrant_accepts, .emits = warrant_emits,
                 .init = warrant_init, .enter = warrant_enter,
                 .handle = warrant_handle);
