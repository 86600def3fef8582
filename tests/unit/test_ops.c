/* Unit tests for the operations table (engine/ops): every route is found
 * by its method and path and by its name, path parameters are bound and
 * percent-decoded (and a segment that decodes to '/' or NUL never
 * matches), a known path with another method is told apart (405), the
 * parameter helpers take JSON values and their text alike and name what is
 * wrong, and engine errors map to HTTP statuses by the one table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "ops/ops.h"

/* The op for method and path, its name or NULL; *params (new) what it
 * bound. */
static const char *match(const char *method, const char *path, json_t **params, int *known)
{
    json_t *p = json_object();
    const cf_op *op = cf_op_match(method, path, p, known);
    if (params)
        *params = p;
    else
        json_decref(p);
    return op ? op->name : NULL;
}

static void table_is_consistent(void **state)
{
    (void)state;
    size_t n = 0;
    const cf_op *ops = cf_ops(&n);
    assert_non_null(ops);
    assert_true(n >= 20);
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(cf_op_find(ops[i].name), &ops[i]);
        assert_non_null(ops[i].run);
        assert_non_null(ops[i].summary);
        assert_true(strncmp(ops[i].route, "/v1/", 4) == 0);
        /* no two operations share a method and a route */
        for (size_t j = i + 1; j < n; j++)
            assert_false(strcmp(ops[i].method, ops[j].method) == 0 &&
                         strcmp(ops[i].route, ops[j].route) == 0);
        /* the route matches itself, with its parameters as words */
        char path[256], *w = path;
        for (const char *r = ops[i].route; *r; r++) {
            if (*r == '{') {
                w += sprintf(w, "x1");
                r = strchr(r, '}');
            } else {
                *w++ = *r;
            }
        }
        *w = '\0';
        assert_string_equal(match(ops[i].method, path, NULL, NULL), ops[i].name);
    }
    assert_null(cf_op_find("case.nothing"));
    assert_null(cf_op_find(NULL));
}

static void routes_and_parameters(void **state)
{
    (void)state;
    json_t *p;
    int known = -1;
    assert_string_equal(match("GET", "/v1/cases", &p, &known), "case.list");
    assert_int_equal(known, 0);
    assert_int_equal(json_object_size(p), 0);
    json_decref(p);
    assert_string_equal(match("GET", "/v1/cases/CF-000001", &p, NULL), "case.get");
    assert_string_equal(json_string_value(json_object_get(p, "id")), "CF-000001");
    json_decref(p);
    assert_string_equal(match("POST", "/v1/cases/CF-000001/events/authorisation.applied", &p,
                              NULL),
                        "case.act");
    assert_string_equal(json_string_value(json_object_get(p, "id")), "CF-000001");
    assert_string_equal(json_string_value(json_object_get(p, "event")),
                        "authorisation.applied");
    json_decref(p);
    assert_string_equal(match("POST", "/v1/tasks/12/complete", &p, NULL), "task.complete");
    assert_string_equal(json_string_value(json_object_get(p, "id")), "12");
    json_decref(p);
    assert_string_equal(match("DELETE", "/v1/tokens/tok-1", NULL, NULL), "token.revoke");
    assert_string_equal(match("POST", "/v1/webhooks/3/redeliver", NULL, NULL),
                        "webhook.redeliver");
    assert_string_equal(match("GET", "/v1/cases/CF-1/pole", NULL, NULL), "case.pole");
    /* percent-decoding */
    assert_string_equal(match("GET", "/v1/cases/CF%2D1%20x/history", &p, NULL),
                        "case.history");
    assert_string_equal(json_string_value(json_object_get(p, "id")), "CF-1 x");
    json_decref(p);
    assert_string_equal(match("GET", "/v1/cases/%C3%A9", &p, NULL), "case.get");
    assert_string_equal(json_string_value(json_object_get(p, "id")), "\xc3\xa9");
    json_decref(p);
}

static void paths_that_never_match(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "/v1/cases/a%2Fb",      /* a decoded '/' */
        "/v1/cases/a%2fb",      /* in either case */
        "/v1/cases/a%00b",      /* a decoded NUL */
        "/v1/cases/a%2",        /* a cut escape */
        "/v1/cases/a%zz",       /* not hex */
        "/v1/cases/%ff",        /* not UTF-8 */
        "/v1/cases/",           /* an empty segment */
        "/v1/cases//history",   /* an empty parameter */
        "/v1/cases/CF-1/",      /* a trailing slash */
        "/v1/cases/CF-1/x",     /* no such route */
        "/v1/case",             /* a prefix */
        "/v1/casesx",           /* longer */
        "v1/cases",             /* not from the root */
        "/v1/ca%73es",          /* literals are not decoded */
        "/",
        "",
        "/v1/cases/../tokens",  /* no route of that shape */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int known = -1;
        json_t *p = json_object();
        const cf_op *op = cf_op_match("GET", bad[i], p, &known);
        if (op)
            fail_msg("%s matched %s", bad[i], op->name);
        assert_int_equal(known, 0);
        assert_int_equal(json_object_size(p), 0);
        json_decref(p);
    }
    assert_null(cf_op_match(NULL, "/v1/cases", NULL, NULL));
    assert_null(cf_op_match("GET", NULL, NULL, NULL));
}

static void another_method_is_405(void **state)
{
    (void)state;
    int known = -1;
    json_t *p;
    assert_null(match("DELETE", "/v1/cases", &p, &known));
    assert_int_equal(known, 1);
    assert_int_equal(json_object_size(p), 0);
    json_decref(p);
    assert_null(match("GET", "/v1/cases/CF-1/events/x", NULL, &known));
    assert_int_equal(known, 1);
    assert_null(match("PUT", "/v1/workflows", NULL, &known));
    assert_int_equal(known, 1);
    assert_null(match("get", "/v1/cases", NULL, &known)); /* methods are case-sensitive */
    assert_int_equal(known, 1);
    assert_null(match("GET", "/v1/nothing", NULL, &known));
    assert_int_equal(known, 0);
    /* path_known may be NULL, params may be NULL */
    assert_non_null(cf_op_match("GET", "/v1/cases/CF-1", NULL, NULL));
    /* POST /v1/workflows and GET /v1/workflows are two operations */
    assert_string_equal(match("POST", "/v1/workflows", NULL, NULL), "workflow.deploy");
    assert_string_equal(match("GET", "/v1/workflows", NULL, NULL), "workflow.list");
}

static void string_and_int_arguments(void **state)
{
    (void)state;
    cf_error err;
    const char *s;
    int64_t v;
    json_t *a = json_pack("{s:s, s:i, s:s, s:s, s:n, s:b, s:s, s:s, s:s}", "state", "visit",
                          "n", 42, "text", "-17", "bad", "12x", "none", "flag", 1, "space",
                          " 1", "plus", "+1", "huge", "99999999999999999999");
    assert_int_equal(cf_op_arg_str(a, "state", NULL, &s, &err), 0);
    assert_string_equal(s, "visit");
    assert_int_equal(cf_op_arg_str(a, "missing", "dflt", &s, &err), 0);
    assert_string_equal(s, "dflt");
    assert_int_equal(cf_op_arg_str(a, "none", "dflt", &s, &err), 0); /* null: missing */
    assert_string_equal(s, "dflt");
    assert_int_equal(cf_op_arg_str(a, "n", NULL, &s, &err), CF_EINVALID);
    assert_string_equal(err.field, "n");
    assert_int_equal(err.code, CF_EINVALID);

    assert_int_equal(cf_op_arg_int(a, "n", 0, &v, &err), 0);
    assert_int_equal(v, 42);
    assert_int_equal(cf_op_arg_int(a, "text", 0, &v, &err), 0);
    assert_int_equal(v, -17);
    assert_int_equal(cf_op_arg_int(a, "missing", 7, &v, &err), 0);
    assert_int_equal(v, 7);
    static const char *const bad[] = {"bad", "flag", "space", "plus", "huge", "state"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(cf_op_arg_int(a, bad[i], 5, &v, &err), CF_EINVALID);
        assert_string_equal(err.field, bad[i]);
        assert_non_null(strstr(err.message, bad[i]));
        assert_int_equal(v, 5);
    }
    /* a NUL inside a string is not the string */
    json_t *nul = json_object();
    json_object_set_new(nul, "id", json_stringn("a\0b", 3));
    assert_int_equal(cf_op_arg_str(nul, "id", NULL, &s, &err), CF_EINVALID);
    assert_int_equal(cf_op_arg_int(nul, "id", 0, &v, &err), CF_EINVALID);
    json_decref(nul);
    /* args need not be an object */
    assert_int_equal(cf_op_arg_str(NULL, "x", "d", &s, &err), 0);
    assert_string_equal(s, "d");
    json_decref(a);
}

static void bool_and_time_arguments(void **state)
{
    (void)state;
    cf_error err;
    int b;
    int64_t t;
    json_t *a = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:i, s:s}", "t",
                          1, "ts", "true", "fs", "false", "one", "1", "yes", "yes", "rfc",
                          "2026-11-03T10:00:00Z", "secs", 1790000000, "secs_text", "1790000000",
                          "offset", "2026-11-03T11:00:00+01:00", "nozone", "2026-11-03T10:00:00",
                          "negative", -5, "date", "2026-11-03");
    assert_int_equal(cf_op_arg_bool(a, "t", 0, &b, &err), 0);
    assert_int_equal(b, 1);
    assert_int_equal(cf_op_arg_bool(a, "ts", 0, &b, &err), 0);
    assert_int_equal(b, 1);
    assert_int_equal(cf_op_arg_bool(a, "fs", 1, &b, &err), 0);
    assert_int_equal(b, 0);
    assert_int_equal(cf_op_arg_bool(a, "one", 0, &b, &err), 0);
    assert_int_equal(b, 1);
    assert_int_equal(cf_op_arg_bool(a, "missing", 1, &b, &err), 0);
    assert_int_equal(b, 1);
    assert_int_equal(cf_op_arg_bool(a, "yes", 0, &b, &err), CF_EINVALID);
    assert_string_equal(err.field, "yes");
    assert_int_equal(cf_op_arg_bool(a, "secs", 0, &b, &err), CF_EINVALID);

    int64_t want;
    assert_int_equal(cf_time_from_rfc3339("2026-11-03T10:00:00Z", &want), 0);
    assert_int_equal(cf_op_arg_time(a, "rfc", 0, &t, &err), 0);
    assert_int_equal(t, want);
    assert_int_equal(cf_op_arg_time(a, "offset", 0, &t, &err), 0);
    assert_int_equal(t, want);
    assert_int_equal(cf_op_arg_time(a, "secs", 0, &t, &err), 0);
    assert_int_equal(t, 1790000000);
    assert_int_equal(cf_op_arg_time(a, "secs_text", 0, &t, &err), 0);
    assert_int_equal(t, 1790000000);
    assert_int_equal(cf_op_arg_time(a, "missing", 9, &t, &err), 0);
    assert_int_equal(t, 9);
    static const char *const bad[] = {"nozone", "negative", "date", "yes", "t"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(cf_op_arg_time(a, bad[i], 3, &t, &err), CF_EINVALID);
        assert_string_equal(err.field, bad[i]);
        assert_int_equal(t, 3);
    }
    json_decref(a);
}

static cf_error error_of(int code, const char *field)
{
    cf_error e;
    memset(&e, 0, sizeof e);
    e.code = code;
    snprintf(e.field, sizeof e.field, "%s", field);
    return e;
}

static void http_statuses(void **state)
{
    (void)state;
    static const struct {
        int code;
        const char *field;
        int status;
    } table[] = {
        {CF_EUSAGE, "", 400},        {CF_EDENIED, "", 403},      {CF_EDENIED, "token", 401},
        {CF_ENOTFOUND, "", 404},     {CF_ECONFLICT, "", 409},    {CF_ECONFLICT, "revision", 412},
        {CF_EINVALID, "", 422},      {CF_EINVALID, "idempotency_key", 422},
        {CF_EMISSING, "", 503},      {CF_EMISSING, "step", 503}, {CF_EMISSING, "workflow", 404},
        {CF_EMISSING, "version", 404}, {CF_EMISSING, "to", 404}, {CF_EMISSING, "from", 404},
        {CF_EIO, "", 503},           {CF_EINTERNAL, "", 500},
        {CF_ENOMEM, "", 500},        {CF_ESCRIPT, "", 500},      {-99, "", 500},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        cf_error e = error_of(table[i].code, table[i].field);
        assert_int_equal(cf_op_http_status(&e), table[i].status);
    }
    assert_int_equal(cf_op_http_status(NULL), 500);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_is_consistent),
        cmocka_unit_test(routes_and_parameters),
        cmocka_unit_test(paths_that_never_match),
        cmocka_unit_test(another_method_is_405),
        cmocka_unit_test(string_and_int_arguments),
        cmocka_unit_test(bool_and_time_arguments),
        cmocka_unit_test(http_statuses),
    };
    return cmocka_run_group_tests_name("ops", tests, NULL, NULL);
}
