/*
 * The forensics step: seized devices wait for triage and examination, often
 * for months. The examination's result is the number of indecent images
 * found per severity category (A, B, C), which the charging decision and
 * sentencing rely on; all three counts are required so that "none found"
 * is a recorded answer, not a missing one.
 */
#include <string.h>

#include "caseflow/plugin.h"
#include "caseflow/plugin-util.h"

static const char *const categories[] = {"A", "B", "C", NULL};

static int completed(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const fields[] = {"counts", "notes", NULL};
    const json_t *counts;
    const char *notes;
    json_t *out = json_object(), *rec;
    json_int_t n;
    bool present;

    if (cfp_known_fields(host, step, in, "", fields) < 0 ||
        cfp_object(host, step, in, "", "counts", true, &counts) < 0 ||
        cfp_known_fields(host, step, counts, "counts", categories) < 0 ||
        cfp_text(host, step, in, "", "notes", CFP_TEXT_MAX, false, &notes) < 0)
        goto fail;
    for (size_t i = 0; categories[i] != NULL; i++) {
        if (cfp_int(host, step, counts, "counts", categories[i], 0, 100000000,
                    true, &n, &present) < 0)
            goto fail;
        json_object_set_new(out, categories[i], json_integer(n));
    }
    rec = json_pack("{s:o}", "counts", out);
    if (rec != NULL && notes != NULL)
        json_object_set_new(rec, "notes", json_string(notes));
    return cfp_set(host, step, "forensics", cfp_stamp(host, step, rec));
fail:
    json_decref(out);
    return CF_PLUGIN_FAILED;
}

static int forensics_handle(const cf_host *host, void *state, cf_step *step,
                            const char *event, const json_t *input)
{
    if (strcmp(event, "forensics.completed") == 0)
        return completed(host, step, input);
    return host->fail(step, event, "not handled by the forensics step");
}

static int forensics_init(const cf_host *host, const json_t *config,
                          void **state, char *err, size_t errlen)
{
    static const char *const settings[] = {NULL};

    return cfp_config_keys(config, settings, err, errlen);
}

static const char *const forensics_accepts[] = {"forensics.completed", NULL};
static const char *const forensics_emits[] = {NULL};

CF_PLUGIN_DEFINE(forensics, .version = "1.0.0",
                 .summary = "record the forensic examination's counts per "
                            "category",
                 .accepts = forensics_accepts, .emits = forensics_emits,
                 .init = forensics_init, .handle = forensics_handle);
