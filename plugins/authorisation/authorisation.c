/*
 * The authorisation step: the communications-data authorisation that must
 * exist before a subscriber is looked up (Investigatory Powers Act 2016). An
 * officer records the application with its necessity and proportionality;
 * an authoriser who is not the applicant grants it (the workflow's four_eyes
 * rule, checked again here) or refuses it, which closes the case. Everything
 * is kept at data.authorisation for the Investigatory Powers Commissioner.
 */
#include <stdio.h>
#include <string.h>

#include "caseflow/plugin.h"
#include "caseflow/plugin-util.h"

static const char *const authorities[] = {"OCDA", "designated_senior_officer",
                                          NULL};

static int applied(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const fields[] = {"necessity", "proportionality",
                                         "legal_basis", NULL};
    const char *necessity, *proportionality, *basis;
    json_t *app;

    if (cfp_known_fields(host, step, in, "", fields) < 0 ||
        cfp_text(host, step, in, "", "necessity", CFP_TEXT_MAX, true,
                 &necessity) < 0 ||
        cfp_text(host, step, in, "", "proportionality", CFP_TEXT_MAX, true,
                 &proportionality) < 0 ||
        cfp_line(host, step, in, "", "legal_basis", CFP_LINE_MAX, false,
                 &basis) < 0)
        return CF_PLUGIN_FAILED;
    app = json_pack("{s:s, s:s, s:s, s:o}", "applicant", host->actor(step),
                    "necessity", necessity, "proportionality", proportionality,
                    "at", cfp_now_string(host, step));
    if (app != NULL && basis != NULL)
        json_object_set_new(app, "legal_basis", json_string(basis));
    /* A fresh application replaces an earlier one (the history keeps
     * both): a grant or refusal answers the application now on record. */
    return cfp_set(host, step, "authorisation.application", app);
}

/* The applicant on record, after checking there is one. */
static int application_on_record(const cf_host *host, cf_step *step,
                                 const char **applicant)
{
    *applicant = cfp_get_string(host, step, "authorisation.application.applicant");
    if (*applicant == NULL)
        return host->fail(step, "authorisation", "no application recorded");
    return 0;
}

static int granted(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const fields[] = {"authority", "reference", "urgent",
                                         NULL};
    const char *applicant, *authority, *reference, *actor = host->actor(step);
    int urgent;
    json_t *grant;

    if (application_on_record(host, step, &applicant) < 0)
        return CF_PLUGIN_FAILED;
    /* The engine enforces four-eyes from the history; this keeps the rule
     * true even if a workflow forgets to declare it. */
    if (actor != NULL && strcmp(actor, applicant) == 0)
        return host->fail(step, "authorisation.granted",
                          "the applicant may not authorise their own application");
    if (cfp_known_fields(host, step, in, "", fields) < 0 ||
        cfp_choice(host, step, in, "", "authority", authorities, true,
                   &authority) < 0 ||
        cfp_line(host, step, in, "", "reference", 128, true, &reference) < 0 ||
        cfp_bool(host, step, in, "", "urgent", true, &urgent) < 0)
        return CF_PLUGIN_FAILED;
    if (strcmp(authority, "designated_senior_officer") == 0 && !urgent)
        return host->fail(step, "authority",
                          "a designated senior officer authorises urgent "
                          "applications only; others go to OCDA");
    grant = json_pack("{s:s, s:s, s:s, s:b, s:o}", "authoriser", actor,
                      "authority", authority, "reference", reference, "urgent",
                      urgent, "at", cfp_now_string(host, step));
    return cfp_set(host, step, "authorisation.grant", grant);
}

static int refused(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const fields[] = {"reason", NULL};
    const char *applicant, *reason;
    json_t *refusal;

    if (application_on_record(host, step, &applicant) < 0 ||
        cfp_known_fields(host, step, in, "", fields) < 0 ||
        cfp_text(host, step, in, "", "reason", CFP_TEXT_MAX, true, &reason) < 0)
        return CF_PLUGIN_FAILED;
    refusal = json_pack("{s:s, s:s, s:o}", "authoriser", host->actor(step),
                        "reason", reason, "at", cfp_now_string(host, step));
    if (cfp_set(host, step, "authorisation.refusal", refusal) < 0)
        return CF_PLUGIN_FAILED;
    return cfp_set(host, step, "outcome", json_string("authorisation_refused"));
}

static int authorisation_handle(const cf_host *host, void *state, cf_step *step,
                                const char *event, const json_t *input)
{
    if (strcmp(event, "authorisation.applied") == 0)
        return applied(host, step, input);
    if (strcmp(event, "authorisation.granted") == 0)
        return granted(host, step, input);
    if (strcmp(event, "authorisation.refused") == 0)
        return refused(host, step, input);
    return host->fail(step, event, "not handled by the authorisation step");
}

static int authorisation_init(const cf_host *host, const json_t *config,
                              void **state, char *err, size_t errlen)
{
    static const char *const settings[] = {NULL};

    return cfp_config_keys(config, settings, err, errlen);
}

static const char *const authorisation_accepts[] = {
    "authorisation.applied", "authorisation.granted", "authorisation.refused",
    NULL};
static const char *const authorisation_emits[] = {NULL};

CF_PLUGIN_DEFINE(authorisation, .version = "1.0.0",
                 .summary = "communications-data authorisation: application, "
                            "independent grant or refusal",
                 .accepts = authorisation_accepts, .emits = authorisation_emits,
                 .init = authorisation_init, .handle = authorisation_handle);
