/*
 * The shared validation and record-keeping code of the polit step plugins
 * (see common.h). Each refusal names the input field at fault in the form an
 * officer can find in what they sent ("occupants[1].dob") and a short rule
 * ("not a date"), because the message is all the caller sees of a refused
 * action. Nothing here keeps state: every function works on its arguments and
 * the step the engine passed.
 */
#include "common.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void cfp_field(char out[CFP_FIELD_MAX], const char *prefix, const char *key)
{
    if (prefix == NULL || prefix[0] == '\0')
        snprintf(out, CFP_FIELD_MAX, "%s", key);
    else
        snprintf(out, CFP_FIELD_MAX, "%s.%s", prefix, key);
}

void cfp_index(char out[CFP_FIELD_MAX], const char *prefix, size_t index)
{
    snprintf(out, CFP_FIELD_MAX, "%s[%zu]", prefix, index);
}

static bool in_list(const char *name, const char *const *list)
{
    for (; *list != NULL; list++)
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

    json_object_foreach((json_t *)obj, name, value) {
        (void)value;
        if (!in_list(name, allowed)) {
            cfp_field(field, prefix, name);
            return host->fail(step, field, "unknown field");
        }
    }
    return 0;
}

/* Look up key; report "required" when it must be there. *out NULL when
 * absent or null (JSON null counts as absent so optional fields can be
 * cleared explicitly by a sender). */
static int member(const cf_host *host, cf_step *step, const json_t *obj,
                  const char *prefix, const char *key, bool required,
                  json_t **out, char field[CFP_FIELD_MAX])
{
    json_t *v = json_object_get(obj, key);

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

    *out = -1;
    if (member(host, step, obj, prefix, key, required, &v, field) < 0)
        return CF_PLUGIN_FAILED;
    if (v == NULL)
        return 0;
    if (!json_is_boolean(v))
        return host->fail(step, field, "must be true or false");
    *out = json_is_true(v) ? 1 : 0;
    return 0;
}

int cfp_int(const cf_host *host, cf_step *step, const json_t *obj,
            const char *prefix, const char *key, json_int_t min, json_int_t max,
            bool required, json_int_t *out, bool *present)
{
    char field[CFP_FIELD_MAX];
    json_t *v;

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
    *out = json_integer_value(v);
    *present = true;
    return 0;
}

int cfp_object(const cf_host *host, cf_step *step, const json_t *obj,
               const char *prefix, const char *key, bool required,
               const json_t **out)
{
    char field[CFP_FIELD_MAX];
    json_t *v;

    *out = NULL;
    if (member(host, step, obj, prefix, key, required, &v, field) < 0)
        return CF_PLUGIN_FAILED;
    if (v != NULL && !json_is_object(v))
        return host->fail(step, field, "must be an object");
    *out = v;
    return 0;
}

int cfp_array(const cf_host *host, cf_step *step, const json_t *obj,
              const char *prefix, const char *key, bool required,
              const json_t **out)
{
    char field[CFP_FIELD_MAX];
    json_t *v;

    *out = NULL;
    if (member(host, step, obj, prefix, key, required, &v, field) < 0)
        return CF_PLUGIN_FAILED;
    if (v != NULL && !json_is_array(v))
        return host->fail(step, field, "must be an array");
    *out = v;
    return 0;
}

/* "a, b or c" for a refusal message. */
static void choices_text(const char *const *choices, char *out, size_t n)
{
    size_t used = 0;

    out[0] = '\0';
    for (size_t i = 0; choices[i] != NULL && used < n; i++) {
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

    *out = NULL;
    if (cfp_line(host, step, obj, prefix, key, CFP_LINE_MAX, required, &s) < 0)
        return CF_PLUGIN_FAILED;
    if (s == NULL)
        return 0;
    if (!in_list(s, choices)) {
        cfp_field(field, prefix, key);
        choices_text(choices, list, sizeof list);
        return host->fail(step, field, "must be %s", list);
    }
    *out = s;
    return 0;
}

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

bool cfp_time_lacks_zone(const char *t)
{
    size_t n = strlen(t);

    /* YYYY-MM-DDTHH:MM, optionally :SS and a fraction, and nothing more. */
    if (n < 16 || !digits(t, 4) || t[4] != '-' || !digits(t + 5, 2) ||
        t[7] != '-' || !digits(t + 8, 2) ||
        (t[10] != 'T' && t[10] != 't' && t[10] != ' ') || !digits(t + 11, 2) ||
        t[13] != ':' || !digits(t + 14, 2))
        return false;
    if (n == 16)
        return true;
    if (t[16] != ':' || n < 19 || !digits(t + 17, 2))
        return false;
    if (n == 19)
        return true;
    return t[19] == '.' && n > 20 && digits(t + 20, n - 20);
}

int cfp_time(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, bool required,
             const char **text, int64_t *utc, int *offset_minutes)
{
    char field[CFP_FIELD_MAX];
    const char *s;
    size_t n;

    *text = NULL;
    if (cfp_line(host, step, obj, prefix, key, 64, required, &s) < 0)
        return CF_PLUGIN_FAILED;
    if (s == NULL)
        return 0;
    cfp_field(field, prefix, key);
    if (cfp_time_lacks_zone(s))
        return host->fail(step, field, "no time zone");
    n = strlen(s);
    /* RFC 3339 section 4.3: -00:00 says the local offset is unknown, which
     * is exactly the ambiguity that has sent officers to the wrong door. */
    if (n >= 6 && strcmp(s + n - 6, "-00:00") == 0)
        return host->fail(step, field, "no time zone (-00:00 means unknown)");
    if (host->time_parse(s, utc, offset_minutes) != 0)
        return host->fail(step, field, "not an RFC 3339 time");
    *text = s;
    return 0;
}

static unsigned month_days(int64_t y, unsigned m)
{
    static const unsigned len[12] = {31, 28, 31, 30, 31, 30,
                                     31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : len[m - 1];
}

int cfp_date(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, bool required,
             const char **text, int64_t *days)
{
    char field[CFP_FIELD_MAX];
    const char *s;
    int64_t y;
    unsigned m, d;

    *text = NULL;
    if (cfp_line(host, step, obj, prefix, key, 16, required, &s) < 0)
        return CF_PLUGIN_FAILED;
    if (s == NULL)
        return 0;
    cfp_field(field, prefix, key);
    if (strlen(s) != 10 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) ||
        s[7] != '-' || !digits(s + 8, 2))
        return host->fail(step, field, "not a date (YYYY-MM-DD)");
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
        (s[3] - '0');
    m = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
    d = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));
    if (m < 1 || m > 12 || d < 1 || d > month_days(y, m))
        return host->fail(step, field, "not a calendar date");
    *text = s;
    *days = cfp_days_from_civil(y, m, d);
    return 0;
}

/* Howard Hinnant's days_from_civil / civil_from_days. */
int64_t cfp_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + (int64_t)doe - 719468;
}

void cfp_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;

    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

int64_t cfp_add_months(int64_t t, int months)
{
    int64_t days = floor_div(t, 86400), secs = t - days * 86400;
    int64_t y, total;
    unsigned m, d, dim;

    cfp_civil_from_days(days, &y, &m, &d);
    total = y * 12 + (m - 1) + months;
    y = floor_div(total, 12);
    m = (unsigned)(total - y * 12) + 1;
    dim = month_days(y, m);
    if (d > dim)
        d = dim;
    return cfp_days_from_civil(y, m, d) * 86400 + secs;
}

void cfp_long_date(int64_t t, char out[32])
{
    static const char *const names[12] = {
        "January", "February", "March", "April", "May", "June", "July",
        "August", "September", "October", "November", "December"};
    int64_t y;
    unsigned m, d;

    cfp_civil_from_days(floor_div(t, 86400), &y, &m, &d);
    snprintf(out, 32, "%u %s %lld", d, names[m - 1], (long long)y);
}

size_t cfp_fold(const char *text, bool upper, char *out, size_t n)
{
    size_t len = 0;
    bool gap = false;

    if (n == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        /* Bytes >= 0x80 (UTF-8 letters) are kept as they are. */
        bool word = isalnum(*p) || *p >= 0x80;
        if (!word) {
            gap = len > 0;
            continue;
        }
        if (gap && len + 1 < n)
            out[len++] = ' ';
        gap = false;
        if (len + 1 < n)
            out[len++] = (char)(*p >= 0x80 ? *p
                                : upper ? toupper(*p) : tolower(*p));
    }
    out[len] = '\0';
    return len;
}

void cfp_lower(const char *text, char *out, size_t n)
{
    size_t i = 0;

    if (n == 0)
        return;
    for (; text[i] != '\0' && i + 1 < n; i++)
        out[i] = (char)tolower((unsigned char)text[i]);
    out[i] = '\0';
}

json_t *cfp_now_string(const cf_host *host, cf_step *step)
{
    char buf[32];

    host->time_format(host->now(step), buf);
    return json_string(buf);
}

json_t *cfp_stamp(const cf_host *host, cf_step *step, json_t *obj)
{
    const char *actor = host->actor(step);

    if (obj == NULL)
        return NULL;
    json_object_set_new(obj, "by", json_string(actor != NULL ? actor : ""));
    json_object_set_new(obj, "at", cfp_now_string(host, step));
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

int cfp_record_route(const cf_host *host, cf_step *step, const char *decision)
{
    const char *prev = cfp_get_string(host, step, "route.decision");
    const char *override = cfp_get_string(host, step, "route_decision.override");
    const json_t *hold_override = host->get(step, "hold_override");
    json_t *route;

    if (prev != NULL && strcmp(prev, "hold") != 0)
        return 0; /* the route was decided earlier; this is a later step */
    route = json_pack("{s:s, s:o, s:b}", "decision", decision, "at",
                      cfp_now_string(host, step), "held",
                      prev != NULL || cfp_get_true(host, step, "route.held"));
    if (route == NULL)
        return host->fail(step, "route", "out of memory");
    if (override != NULL && strcmp(override, decision) == 0) {
        json_object_set_new(route, "override", json_string(override));
        json_object_set_new(route, "override_reason",
                            json_deep_copy(host->get(step, "route_decision.reason")));
    }
    if (hold_override != NULL && strcmp(decision, "hold") != 0) {
        json_object_set_new(route, "exceptional", json_true());
        json_object_set_new(route, "exceptional_reason",
                            json_deep_copy(json_object_get(hold_override, "reason")));
    }
    return cfp_set(host, step, "route", route);
}

int cfp_record_escalation(const cf_host *host, cf_step *step, const char *from,
                          const json_t *input)
{
    json_t *esc = json_pack("{s:s}", "from", from);
    json_t *linked = json_object_get(input, "case");
    json_t *key = json_object_get(input, "key");

    if (esc == NULL)
        return host->fail(step, "escalation", "out of memory");
    if (json_is_string(linked))
        json_object_set_new(esc, "case", json_deep_copy(linked));
    if (json_is_object(key))
        json_object_set_new(esc, "key", json_deep_copy(key));
    return cfp_set(host, step, "escalation", cfp_stamp(host, step, esc));
}

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
        if (!in_list(name, allowed)) {
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
    *out = json_string_value(v);
    return 0;
}
