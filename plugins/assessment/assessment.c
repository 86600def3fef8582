/*
 * The assessment step: a KIRAT-style risk grade. On entering it scores the
 * facts gathered so far (the checks, the severity categories and frequency
 * from the referral) with weights and thresholds that come only from the
 * state's config in polit.lua, so an administrator changes grading without
 * touching C; it records the grade, the score and every factor that
 * contributed at data.risk, and sets the response deadline for the grade. A
 * supervisor then approves the assessment, optionally overriding the route
 * with a reason; the route itself is decided in Lua (policy.lua).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caseflow/plugin.h"
#include "caseflow/plugin-util.h"

enum { F_PRIOR, F_RSO, F_CHILDREN_HOME, F_CHILDREN_WORK, F_DISTRIBUTION,
       F_CATEGORY_A, F_CATEGORY_B, F_UNGRADED, F_FREQUENT, F_OCCASIONAL,
       F_FREQUENCY_UNKNOWN, F_PRIORITY, F_COUNT };

/* Factor names as polit.lua's weights table spells them. */
static const char *const factor_names[F_COUNT + 1] = {
    "prior_history", "registered_sex_offender", "children_in_household",
    "access_to_children_at_work", "distribution_signs", "category_a",
    "category_b", "ungraded_material", "frequent", "occasional",
    "frequency_unknown", "priority", NULL};

enum { G_LOW, G_MEDIUM, G_HIGH, G_VERY_HIGH, G_COUNT };
static const char *const grade_names[G_COUNT + 1] = {"low", "medium", "high",
                                                     "very_high", NULL};

struct assessment_conf {
    double weight[F_COUNT];
    double threshold[G_COUNT]; /* [G_LOW] unused: low is below medium */
    double deadline_days[G_COUNT];
};

/* ---- init: the weights, thresholds and deadlines from polit.lua -------- */

static int name_index(const char *const *names, const char *name)
{
    for (int i = 0; names[i] != NULL; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

/* Read table `key` into out[] indexed by names; every name in names[first..]
 * must be present and nothing else. */
static int read_table(const json_t *config, const char *key,
                      const char *const *names, int first, double *out,
                      char *err, size_t errlen)
{
    json_t *table = json_object_get(config, key), *v;
    const char *name;

    if (!json_is_object(table)) {
        snprintf(err, errlen, "setting '%s' must be a table", key);
        return -1;
    }
    json_object_foreach(table, name, v) {
        int i = name_index(names, name);
        if (i < first) {
            snprintf(err, errlen, "%s: unknown entry '%s'", key, name);
            return -1;
        }
        if (!json_is_number(v) || json_number_value(v) < 0 ||
            !isfinite(json_number_value(v))) {
            snprintf(err, errlen, "%s.%s must be a number >= 0", key, name);
            return -1;
        }
        out[i] = json_number_value(v);
    }
    for (int i = first; names[i] != NULL; i++) {
        if (json_object_get(table, names[i]) == NULL) {
            snprintf(err, errlen, "%s: missing entry '%s'", key, names[i]);
            return -1;
        }
    }
    return 0;
}

static int assessment_init(const cf_host *host, const json_t *config,
                           void **state, char *err, size_t errlen)
{
    static const char *const settings[] = {"weights", "thresholds",
                                           "deadline_days", NULL};
    struct assessment_conf c;

    memset(&c, 0, sizeof c);
    if (cfp_config_keys(config, settings, err, errlen) < 0 ||
        read_table(config, "weights", factor_names, 0, c.weight, err, errlen) < 0 ||
        read_table(config, "thresholds", grade_names, G_MEDIUM, c.threshold,
                   err, errlen) < 0 ||
        read_table(config, "deadline_days", grade_names, 0, c.deadline_days, err,
                   errlen) < 0)
        return -1;
    if (!(c.threshold[G_MEDIUM] < c.threshold[G_HIGH] &&
          c.threshold[G_HIGH] < c.threshold[G_VERY_HIGH])) {
        snprintf(err, errlen,
                 "thresholds must rise: medium < high < very_high");
        return -1;
    }
    for (int g = 0; g < G_COUNT; g++) {
        if (c.deadline_days[g] > 3650) {
            snprintf(err, errlen, "deadline_days.%s: more than 3650 days",
                     grade_names[g]);
            return -1;
        }
    }
    *state = malloc(sizeof c);
    if (*state == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(*state, &c, sizeof c);
    return 0;
}

static void assessment_fini(void *state)
{
    free(state);
}

/* ---- enter: grade the case ------------------------------------------------ */

/* A required boolean fact from data.checks. */
static int fact(const cf_host *host, cf_step *step, const char *name, bool *out)
{
    char path[CFP_FIELD_MAX];
    const json_t *v;

    cfp_field(path, "checks", name);
    v = host->get(step, path);
    if (!json_is_boolean(v))
        return host->fail(step, path, "missing; cannot grade without the checks");
    *out = json_is_true(v);
    return 0;
}

static json_int_t count_of(const cf_host *host, cf_step *step, const char *path)
{
    const json_t *v = host->get(step, path);

    return json_is_integer(v) ? json_integer_value(v) : 0;
}

/* Which factors hold for this case. */
static int present_factors(const cf_host *host, cf_step *step, bool present[F_COUNT])
{
    const char *highest = cfp_get_string(host, step, "intake.highest_category");
    const char *freq = cfp_get_string(host, step, "intake.frequency");

    for (int f = F_PRIOR; f <= F_DISTRIBUTION; f++)
        if (fact(host, step, factor_names[f], &present[f]) < 0)
            return CF_PLUGIN_FAILED;
    present[F_CATEGORY_A] = highest != NULL && strcmp(highest, "A") == 0;
    present[F_CATEGORY_B] = highest != NULL && strcmp(highest, "B") == 0;
    present[F_UNGRADED] = count_of(host, step, "intake.categories.ungraded") > 0;
    present[F_FREQUENT] = freq != NULL && strcmp(freq, "frequent") == 0;
    present[F_OCCASIONAL] = freq != NULL && strcmp(freq, "occasional") == 0;
    present[F_FREQUENCY_UNKNOWN] = freq == NULL;
    present[F_PRIORITY] = cfp_get_true(host, step, "intake.priority");
    return 0;
}

static int grade_of(const struct assessment_conf *c, double score)
{
    for (int g = G_VERY_HIGH; g > G_LOW; g--)
        if (score >= c->threshold[g])
            return g;
    return G_LOW;
}

static int assessment_enter(const cf_host *host, void *state, cf_step *step)
{
    const struct assessment_conf *c = state;
    bool present[F_COUNT];
    double score = 0;
    json_t *factors = json_array(), *risk;
    char due_text[32];
    int64_t due;
    int grade;

    if (present_factors(host, step, present) < 0) {
        json_decref(factors);
        return CF_PLUGIN_FAILED;
    }
    for (int f = 0; f < F_COUNT; f++) {
        if (!present[f] || c->weight[f] == 0)
            continue;
        score += c->weight[f];
        json_array_append_new(factors, json_pack("{s:s, s:f}", "factor",
                                                 factor_names[f], "weight",
                                                 c->weight[f]));
    }
    grade = grade_of(c, score);
    due = host->now(step) + (int64_t)(c->deadline_days[grade] * 86400.0 + 0.5);
    host->time_format(due, due_text);
    risk = json_pack("{s:s, s:f, s:o, s:s, s:o}", "grade", grade_names[grade],
                     "score", score, "factors", factors, "deadline_at", due_text,
                     "assessed_at", cfp_now_string(host, step));
    if (cfp_set(host, step, "risk", risk) < 0)
        return CF_PLUGIN_FAILED;
    if (host->deadline(step, due) != 0)
        return host->fail(step, "risk.deadline_at", "deadline refused");
    return 0;
}

/* ---- handle: the supervisor's approval ------------------------------------ */

static int approved(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const fields[] = {"override", "reason", NULL};
    static const char *const routes[] = {"visit", "enforcement", NULL};
    const char *override, *reason, *grade = cfp_get_string(host, step, "risk.grade");
    json_t *rec;

    if (grade == NULL)
        return host->fail(step, "risk.grade", "the case has not been graded");
    if (cfp_known_fields(host, step, in, "", fields) < 0 ||
        cfp_choice(host, step, in, "", "override", routes, false, &override) < 0 ||
        cfp_text(host, step, in, "", "reason", CFP_TEXT_MAX, override != NULL,
                 &reason) < 0)
        return CF_PLUGIN_FAILED;
    rec = json_pack("{s:s, s:s, s:o}", "approved_by", host->actor(step), "grade",
                    grade, "approved_at", cfp_now_string(host, step));
    if (rec != NULL && override != NULL)
        json_object_set_new(rec, "override", json_string(override));
    if (rec != NULL && reason != NULL)
        json_object_set_new(rec, "reason", json_string(reason));
    return cfp_set(host, step, "route_decision", rec);
}

static int assessment_handle(const cf_host *host, void *state, cf_step *step,
                             const char *event, const json_t *input)
{
    if (strcmp(event, "assessment.approved") == 0)
        return approved(host, step, input);
    return host->fail(step, event, "not handled by the assessment step");
}

static const char *const assessment_accepts[] = {"assessment.approved", NULL};
static const char *const assessment_emits[] = {NULL};

CF_PLUGIN_DEFINE(assessment, .version = "1.0.0",
                 .summary = "KIRAT-style risk grade from configured weights; "
                            "deadline by grade; supervisor approval",
                 .accepts = assessment_accepts, .emits = assessment_emits,
                 .init = assessment_init, .enter = assessment_enter,
                 .handle = assessment_handle, .fini = assessment_fini);
