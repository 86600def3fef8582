/*
 * Parameters of operations. They arrive as one JSON object of named values:
 * from the command as JSON strings, integers and booleans; from caseflowd
 * as the strings of a query or a path. So a number or a flag may be either
 * the JSON value or its text, and every helper accepts both. A missing (or
 * null) parameter takes the default; a present one of the wrong form is
 * CF_EINVALID naming it, and nothing of the input is quoted back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_internal.h"

int cf_op_fail(cf_error *err, int code, const char *field, const char *fmt, ...)
{
    if (!err)
        return code;
    memset(err, 0, sizeof *err);
    err->code = code;
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

/* The parameter, or NULL when it is missing or null. */
static const json_t *arg(const json_t *args, const char *name)
{
    const json_t *v = json_is_object(args) ? json_object_get(args, name) : NULL;
    return json_is_null(v) ? NULL : v;
}

int cf_op_arg_str(const json_t *args, const char *name, const char *def, const char **out,
                  cf_error *err)
{
    const json_t *v = arg(args, name);
    *out = def;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return cf_op_fail(err, CF_EINVALID, name, "%s: must be a string", name);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return cf_op_fail(err, CF_EINVALID, name, "%s: must not hold a NUL", name);
    *out = json_string_value(v);
    return 0;
}

/* Decimal text of an int64 ("-12", "0", "12"): no sign but '-', no
 * spaces, no leading '+'; false when it is anything else. */
static int parse_int64(const char *s, int64_t *out)
{
    char *end;
    if (!s[0] || !(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
        return 0;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s)
        return 0;
    *out = v;
    return 1;
}

int cf_op_arg_int(const json_t *args, const char *name, int64_t def, int64_t *out,
                  cf_error *err)
{
    const json_t *v = arg(args, name);
    *out = def;
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
        parse_int64(json_string_value(v), out))
        return 0;
    *out = def;
    return cf_op_fail(err, CF_EINVALID, name, "%s: must be an integer", name);
}

int cf_op_arg_bool(const json_t *args, const char *name, int def, int *out, cf_error *err)
{
    const json_t *v = arg(args, name);
    *out = def;
    if (!v)
        return 0;
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (s && (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)) {
        *out = 1;
        return 0;
    }
    if (s && (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)) {
        *out = 0;
        return 0;
    }
    return cf_op_fail(err, CF_EINVALID, name, "%s: must be true or false", name);
}

int cf_op_arg_time(const json_t *args, const char *name, int64_t def, int64_t *out,
                   cf_error *err)
{
    const json_t *v = arg(args, name);
    int64_t t;
    *out = def;
    if (!v)
        return 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (s && strlen(s) == json_string_length(v) &&
        ((parse_int64(s, &t) && t >= 0) || cf_time_from_rfc3339(s, &t) == 0)) {
        *out = t;
        return 0;
    }
    return cf_op_fail(err, CF_EINVALID, name,
                      "%s: must be an RFC 3339 time with a zone, or Unix seconds", name);
}

int cf_op_arg_need(const json_t *args, const char *name, const char **out, cf_error *err)
{
    int rc = cf_op_arg_str(args, name, NULL, out, err);
    if (rc < 0)
        return rc;
    if (!*out)
        return cf_op_fail(err, CF_EUSAGE, name, "%s: required", name);
    return 0;
}

int cf_op_arg_id(const json_t *args, const char *name, int64_t *out, cf_error *err)
{
    int rc = cf_op_arg_int(args, name, 0, out, err);
    if (rc < 0)
        return cf_op_fail(err, CF_EINVALID, name, "%s: must be a positive integer", name);
    if (!arg(args, name))
        return cf_op_fail(err, CF_EUSAGE, name, "%s: required", name);
    if (*out <= 0)
        return cf_op_fail(err, CF_EINVALID, name, "%s: must be a positive integer", name);
    return 0;
}

int cf_op_arg_limit(const json_t *args, int64_t *out, cf_error *err)
{
    int rc = cf_op_arg_int(args, "limit", 0, out, err);
    if (rc < 0)
        return rc;
    if (arg(args, "limit") && (*out < 1 || *out > 1000))
        return cf_op_fail(err, CF_EINVALID, "limit", "limit: must be 1 to 1000");
    return 0;
}

const char *cf_op_json_problem(const json_error_t *jerr)
{
    switch (json_error_code(jerr)) {
    case json_error_out_of_memory: return "out of memory";
    case json_error_stack_overflow: return "nested too deeply";
    case json_error_invalid_utf8: return "not valid UTF-8";
    case json_error_premature_end_of_input: return "unexpected end of input";
    case json_error_end_of_input_expected: return "more after the end of the value";
    case json_error_null_character: return "a \\u0000 in a string";
    case json_error_null_byte_in_key: return "a \\u0000 in an object key";
    case json_error_duplicate_key: return "duplicate object key";
    case json_error_numeric_overflow: return "a number out of range";
    case json_error_invalid_syntax: return "invalid syntax";
    default: return "not JSON";
    }
}
