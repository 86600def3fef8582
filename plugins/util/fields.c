/*
 * Validating event input: field paths, known members and typed members.
 * Each refusal names the input field at fault in the form a sender can find
 * in what they sent ("occupants[1].dob") and a short rule ("not a date"),
 * because the message is all the caller sees of a refused action.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "util-internal.h"

void cfp_field(char out[CFP_FIELD_MAX], const char *prefix, const char *key)
{
    if (prefix == NULL || prefix[0] == '\0')
        snprintf(out, CFP_FIELD_MAX, "%s", key);
    else
        snprintf(out, CFP_FIELD_MAX, "%s.%s", prefix, key);
}

void cfp_index(char out[CFP_FIELD_MAX], const char *prefix, size_t index)
{
    snprintf(out, CFP_FIELD_MAX, "%s[%zu]", prefix != NULL ? prefix : "", index);
}

bool cfpu_in_list(const char *name, const char *const *list)
{
    for (; list != NULL && *list != NULL; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

int cfp_known_fields(const cf_host *host, cf_step *step, const json_t *obj,
                     const char *prefix, const char *const *allowed)
{
    const char *name;
    json_t *value;
    char field[CFP_FIELD_MAX];

    if (!json_is_object(obj))
        return host->fail(step, prefix != NULL && prefix[0] != '\0' ? prefix : NULL,
                          "must be an object");
    json_object_foreach((json_t *)obj, name, value) {
        (void)value;
        if (!cfpu_in_list(name, allowed)) {
            cfp_field(field, prefix, name);
            return host->fail(step, field, "unknown field");
        }
    }
    return 0;
}

/* Look key up in obj and report "required" when it must be there. *out is
 * NULL when absent or JSON null. */
static int member(const cf_host *host, cf_step *step, const json_t *obj,
                  const char *prefix, const char *key, bool required,
                  json_t **out, char field[CFP_FIELD_MAX])
{
    json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    cfp_field(field, prefix, key);
    if (v != NULL && json_is_null(v))
        v = NULL;
    *out = v;
    if (v == NULL && required)
        return host->fail(step, field, "required");
    return 0;
}

static bool blank(const char *s)
{
    for (; *s != '\0'; s++)
        if (!isspace((unsigned char)*s))
            return false;
    return true;
}

static bool has_control(const char *s, bool text)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (text && (c == '\n' || c == '\r' || c == '\t'))
            continue;
        if (c < 0x20 || c == 0x7f)
            return true;
    }
    return false;
}

static int string_member(const cf_host *host, cf_step *step, const json_t *obj,
                         const char *prefix, const char *key, size_t maxlen,
                         bool required, bool text, const char **out)
{
    char field[CFP_FIELD_MAX];
    json_t *v;
    const char *s;

    if (out != NULL)
        *out = NULL;
    if (member(host, step, obj, prefix, key, required, &v, field) < 0)
        return CF_PLUGIN_FAILED;
    if (v == NULL)
        return 0;
    if (!json_is_string(v))
        return host->fail(step, field, "must be a string");
    s = json_string_value(v);
    if (json_string_length(v) != strlen(s))
        return host->fail(step, field, "contains a NUL character");
    if (blank(s))
        return host->fail(step, field, "must not be empty");
    if (strlen(s) > maxlen)
        return host->fail(step, field, "longer than %zu bytes", maxlen);
    if (has_control(s, text))
        return host->fail(step, field, "contains control characters");
    if (out != NULL)
        *out = s;
    return 0;
}

int cfp_line(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, size_t maxlen, bool required,
             const char **out)
{
    return string_member(host, step, obj, prefix, key, maxlen, required, false,
                         out);
}

int cfp_text(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, size_t maxlen, bool required,
             const char **out)
{
    return string_member(host, step, obj, prefix, key, maxlen, required, true,
                         out);
}

int cfp_bool(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, bool required, int *out)
{
    char field[CFP_FIELD_MAX];
    json_t *v;

    if (out != NULL)
        *out = -1;
    if (member(host, step, obj, prefix, key, required, &v, field) < 0)
        return CF_PLUGIN_FAILED;
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return host->fail(step, field, "must be true or false");
    if (out != NULL)
        *out = json_is_true(v) ? 1 : 0;
    return 0;
}

int cfp_int(const cf_host *host, cf_step *step, const json_t *obj,
            const char *prefix, const char *key, json_int_t min, json_int_t max,
            bool required, json_int_t *out, bool *present)
{
    char field[CFP_FIELD_MAX];
    json_t *v;

    if (out != NULL)
        *out = 0;
    if (present != NULL)
        *present = false;
    if (member(host, step, obj, prefix, key, required, &v, field) < 0)
        return CF_PLUGIN_FAILED;
    if (v == NULL)
        return 0;
    if (!json_is_integer(v))
        return host->fail(step, field, "must be an integer");
    if (json_integer_value(v) < min || json_integer_value(v) > max)
        return host->fail(step, field,
                          "must be between %" JSON_INTEGER_FORMAT
                          " and %" JSON_INTEGER_FORMAT, min, max);
    if (out != NULL)
        *out = json_integer_value(v);
    if (present != NULL)
        *present = true;
    return 0;
}

static int typed_member(const cf_host *host, cf_step *step, const json_t *obj,
                        const char *prefix, const char *key, bool required,
                        json_type type, const char *rule, const json_t **out)
{
    char field[CFP_FIELD_MAX];
    json_t *v;

    if (out != NULL)
        *out = NULL;
    if (member(host, step, obj, prefix, key, required, &v, field) < 0)
        return CF_PLUGIN_FAILED;
    if (v != NULL && json_typeof(v) != type)
        return host->fail(step, field, "%s", rule);
    if (out != NULL)
        *out = v;
    return 0;
}

int cfp_object(const cf_host *host, cf_step *step, const json_t *obj,
               const char *prefix, const char *key, bool required,
               const json_t **out)
{
    return typed_member(host, step, obj, prefix, key, required, JSON_OBJECT,
                        "must be an object", out);
}

int cfp_array(const cf_host *host, cf_step *step, const json_t *obj,
              const char *prefix, const char *key, bool required,
              const json_t **out)
{
    return typed_member(host, step, obj, prefix, key, required, JSON_ARRAY,
                        "must be an array", out);
}

/* "a, b or c" for a refusal message, truncated to n bytes. */
static void choices_text(const char *const *choices, char *out, size_t n)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; choices != NULL && choices[i] != NULL && used < n; i++) {
        const char *sep = i == 0 ? "" : choices[i + 1] == NULL ? " or " : ", ";
        int w = snprintf(out + used, n - used, "%s%s", sep, choices[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

int cfp_choice(const cf_host *host, cf_step *step, const json_t *obj,
               const char *prefix, const char *key,
               const char *const *choices, bool required, const char **out)
{
    char field[CFP_FIELD_MAX];
    char list[160];
    const char *s;

    if (out != NULL)
        *out = NULL;
    if (cfp_line(host, step, obj, prefix, key, CFP_LINE_MAX, required, &s) < 0)
        return CF_PLUGIN_FAILED;
    if (s == NULL)
        return 0;
    if (!cfpu_in_list(s, choices)) {
        cfp_field(field, prefix, key);
        choices_text(choices, list, sizeof list);
        return host->fail(step, field, "must be %s", list);
    }
    if (out != NULL)
        *out = s;
    return 0;
}
