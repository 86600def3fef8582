/*
 * The checks step: the intelligence and background checks an analyst does
 * before a risk assessment (electoral roll, PNC, PND, local intelligence,
 * children's services). Every fact the grading and the route decision rely on
 * is a required boolean, so an unanswered question is refused rather than
 * silently read as "no". Each occupant becomes a correlation key (folded name
 * + date of birth), because a further report about any occupant must escalate
 * a monitored case. Children at risk open a safeguarding (MASH) task that
 * runs alongside whichever route the case takes.
 */
#include <stdio.h>
#include <string.h>

#include "caseflow/plugin.h"
#include "caseflow/plugin-util.h"

/* The facts, in KIRAT's order: previous behaviour, access to children,
 * current facilitators, other factors. */
static const char *const facts[] = {
    "prior_history", "registered_sex_offender", "children_in_household",
    "access_to_children_at_work", "distribution_signs", "address_corroborated",
    NULL};

static int occupant(const cf_host *host, cf_step *step, const json_t *item,
                    size_t i, json_t *list)
{
    static const char *const fields[] = {"name", "dob", NULL};
    char prefix[CFP_FIELD_MAX], field[CFP_FIELD_MAX], folded[CFP_LINE_MAX];
    char key[CFP_LINE_MAX + 16];
    const char *name, *dob;
    int64_t days;

    cfp_index(prefix, "occupants", i);
    if (!json_is_object(item))
        return host->fail(step, prefix, "must be an object");
    if (cfp_known_fields(host, step, item, prefix, fields) < 0 ||
        cfp_line(host, step, item, prefix, "name", 128, true, &name) < 0 ||
        cfp_date(host, step, item, prefix, "dob", true, &dob, &days) < 0)
        return CF_PLUGIN_FAILED;
    cfp_field(field, prefix, "dob");
    if (days * 86400 > host->now(step))
        return host->fail(step, field, "in the future");
    cfp_field(field, prefix, "name");
    if (cfp_fold(name, false, folded, sizeof folded) == 0)
        return host->fail(step, field, "has no letters");
    snprintf(key, sizeof key, "%s|%s", folded, dob);
    if (host->key(step, "occupant", key) != 0)
        return host->fail(step, prefix, "correlation key refused");
    json_array_append_new(list, json_pack("{s:s, s:s}", "name", name, "dob", dob));
    return 0;
}

static int occupants(const cf_host *host, cf_step *step, const json_t *in,
                     json_t *record)
{
    const json_t *arr;
    json_t *item, *list;
    size_t i;

    if (cfp_array(host, step, in, "", "occupants", true, &arr) < 0)
        return CF_PLUGIN_FAILED;
    if (json_array_size(arr) > 64)
        return host->fail(step, "occupants", "more than 64 entries");
    list = json_array();
    json_object_set_new(record, "occupants", list);
    json_array_foreach(arr, i, item)
        if (occupant(host, step, item, i, list) < 0)
            return CF_PLUGIN_FAILED;
    return 0;
}

/* The MASH referral: opened whenever a child may be at risk, whatever the
 * route, so safeguarding never waits for the investigation. */
static int safeguarding(const cf_host *host, cf_step *step, bool household,
                        bool work)
{
    json_t *reasons = json_array(), *rec;

    if (household)
        json_array_append_new(reasons, json_string("children_in_household"));
    if (work)
        json_array_append_new(reasons, json_string("access_to_children_at_work"));
    rec = json_pack("{s:s, s:O}", "task", "mash_referral", "reasons", reasons);
    if (host->task(step, "officer", "mash_referral",
                   json_pack("{s:O}", "reasons", reasons)) != 0) {
        json_decref(reasons);
        json_decref(rec);
        return host->fail(step, "safeguarding", "task refused");
    }
    json_decref(reasons);
    return cfp_set(host, step, "safeguarding", cfp_stamp(host, step, rec));
}

static int completed(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const fields[] = {
        "occupants", "prior_history", "registered_sex_offender",
        "children_in_household", "access_to_children_at_work",
        "distribution_signs", "address_corroborated", "notes", NULL};
    json_t *record = json_object();
    const char *notes;
    int value[8];

    if (cfp_known_fields(host, step, in, "", fields) < 0 ||
        occupants(host, step, in, record) < 0)
        goto fail;
    for (size_t i = 0; facts[i] != NULL; i++) {
        if (cfp_bool(host, step, in, "", facts[i], true, &value[i]) < 0)
            goto fail;
        json_object_set_new(record, facts[i], json_boolean(value[i]));
    }
    if (cfp_text(host, step, in, "", "notes", CFP_TEXT_MAX, false, &notes) < 0)
        goto fail;
    if (notes != NULL)
        json_object_set_new(record, "notes", json_string(notes));
    if (cfp_set(host, step, "checks", cfp_stamp(host, step, record)) < 0)
        return CF_PLUGIN_FAILED;
    if (value[2] || value[3])
        return safeguarding(host, step, value[2], value[3]);
    return 0;
fail:
    json_decref(record);
    return CF_PLUGIN_FAILED;
}

static int checks_handle(const cf_host *host, void *state, cf_step *step,
                         const char *event, const json_t *input)
{
    if (strcmp(event, "checks.completed") == 0)
        return completed(host, step, input);
    return host->fail(step, event, "not handled by the checks step");
}

static int checks_init(const cf_host *host, const json_t *config, void **state,
                       char *err, size_t errlen)
{
    static const char *const settings[] = {NULL};

    return cfp_config_keys(config, settings, err, errlen);
}

static const char *const checks_accepts[] = {"checks.completed", NULL};
static const char *const checks_emits[] = {NULL};

CF_PLUGIN_DEFINE(checks, .version = "1.0.0",
                 .summary = "record background checks, add occupant keys, open "
                            "a MASH task when children may be at risk",
                 .accepts = checks_accepts, .emits = checks_emits,
                 .init = checks_init, .handle = checks_handle);
