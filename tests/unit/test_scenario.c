/* Unit tests for scenario_parse.c: the two syntaxes read into one
 * normalised document (times as Unix seconds, +offsets from start, the
 * default team and case names, Lua's empty tables as lists), and a bad
 * field named by its path in err->field and the one-line message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "internal.h"

/* 2026-11-03T10:00:00Z */
#define START INT64_C(1793700000)

static json_t *parse_ok(const char *file, const char *text)
{
    json_t *sc = NULL;
    cf_error err = {0};
    int rc = cf_scenario_parse(file, text, strlen(text), &sc, &err);
    if (rc != 0)
        fail_msg("%s: %d %s", file, rc, err.message);
    return sc;
}

static void parse_bad(const char *file, const char *text, const char *field, const char *msg)
{
    json_t *sc = NULL;
    cf_error err = {0};
    assert_int_equal(cf_scenario_parse(file, text, strlen(text), &sc, &err), CF_EINVALID);
    assert_null(sc);
    assert_int_equal(err.code, CF_EINVALID);
    if (field)
        assert_string_equal(err.field, field);
    if (strstr(err.message, msg) == NULL)
        fail_msg("'%s' does not say '%s'", err.message, msg);
    assert_null(strchr(err.message, '\n'));
}

static const char lua_text[] =
    "return {\n"
    "  start = '2026-11-03T10:00:00Z',\n"
    "  referral = { source = 'NCA-CEOP', reference = 'U-1' },\n"
    "  steps = {\n"
    "    { at = '+1d2h', as = 'officer', act = 'a.b', data = { list = {} } },\n"
    "    { tick = true, expect = { fired = {}, case = 'main', deadline = false } },\n"
    "    { at = '2026-11-05T10:00:00+01:00', as = 'analyst', refer = { reference = 'U-2' },\n"
    "      case = 'second', expect = { timers = { { event = 'x.y', due = '+30d' } } } },\n"
    "    { case = 'second', expect = { state = 's', data = { ['a.b'] = 1 } } },\n"
    "  },\n"
    "}\n";

static void lua_and_json_read_the_same(void **state)
{
    (void)state;
    json_t *lua = parse_ok("s.lua", lua_text);
    assert_int_equal(json_integer_value(json_object_get(lua, "start")), START);
    assert_string_equal(json_string_value(json_object_get(lua, "name")), "s");
    assert_string_equal(json_string_value(json_object_get(lua, "referred_by")), "analyst");
    assert_int_equal(json_object_size(json_object_get(lua, "users")), 4);
    json_t *steps = json_object_get(lua, "steps");
    json_t *s1 = json_array_get(steps, 0), *s2 = json_array_get(steps, 1);
    json_t *s3 = json_array_get(steps, 2), *s4 = json_array_get(steps, 3);
    assert_int_equal(json_integer_value(json_object_get(s1, "at")), START + 86400 + 7200);
    assert_string_equal(json_string_value(json_object_get(s1, "kind")), "act");
    assert_string_equal(json_string_value(json_object_get(s1, "case")), "main");
    assert_true(json_is_array(json_object_get(json_object_get(s1, "data"), "list")));
    /* a step without `at` happens when the one before it did */
    assert_int_equal(json_integer_value(json_object_get(s2, "at")), START + 86400 + 7200);
    assert_true(json_is_array(json_object_get(json_object_get(s2, "expect"), "fired")));
    assert_int_equal(json_integer_value(json_object_get(s3, "at")), START + 2 * 86400 - 3600);
    json_t *timer = json_array_get(json_object_get(json_object_get(s3, "expect"), "timers"), 0);
    assert_int_equal(json_integer_value(json_object_get(timer, "due")), START + 30 * 86400);
    assert_int_equal(json_integer_value(json_object_get(s4, "n")), 4);
    assert_string_equal(json_string_value(json_object_get(s4, "kind")), "check");

    /* the same scenario in the JSON syntax reads the same */
    const char json_text[] =
        "{\"start\": \"2026-11-03T10:00:00Z\","
        " \"referral\": {\"source\": \"NCA-CEOP\", \"reference\": \"U-1\"},"
        " \"steps\": ["
        "  {\"at\": \"+1d2h\", \"as\": \"officer\", \"act\": \"a.b\", \"data\": {\"list\": []}},"
        "  {\"tick\": true, \"expect\": {\"fired\": [], \"case\": \"main\", \"deadline\": false}},"
        "  {\"at\": \"2026-11-05T10:00:00+01:00\", \"as\": \"analyst\","
        "   \"refer\": {\"reference\": \"U-2\"}, \"case\": \"second\","
        "   \"expect\": {\"timers\": [{\"event\": \"x.y\", \"due\": \"+30d\"}]}},"
        "  {\"case\": \"second\", \"expect\": {\"state\": \"s\", \"data\": {\"a.b\": 1}}}]}";
    json_t *js = parse_ok("s.json", json_text);
    assert_true(json_equal(lua, js));
    json_decref(js);
    json_decref(lua);
}

static void bad_fields_are_named(void **state)
{
    (void)state;
    parse_bad("x.json", "{\"start\": 1, \"steps\": []}", "start", "x.json: start: must be");
    parse_bad("x.json", "{\"start\": \"2026-11-03T10:00:00Z\", \"steps\": []}", "steps",
              "is required");
    parse_bad("x.json", "{\"start\": \"2026-11-03T10:00:00Z\", \"stepz\": []}", "stepz",
              "unknown key");
    parse_bad("x.json",
              "{\"start\": \"2026-11-03T10:00:00Z\", \"steps\": [{\"tick\": true,"
              " \"expect\": {\"timers\": [{\"event\": \"e\", \"due\": \"soon\"}]}}]}",
              "steps[1].expect.timers[1].due", "must be a time");
    parse_bad("x.json",
              "{\"start\": \"2026-11-03T10:00:00Z\", \"steps\": [{\"tick\": true},"
              " {\"tick\": true, \"as\": \"officer\"}]}",
              "steps[2].as", "only an act or a refer has an actor");
    parse_bad("x.json",
              "{\"start\": \"2026-11-03T10:00:00Z\", \"steps\": [{\"tick\": true,"
              " \"expect\": {\"fired\": [\"a\", 3]}}]}",
              "steps[1].expect.fired[2]", "must be a string");
    parse_bad("x.json", "{\"start\": \"2026-11-03T10:00:00Z\", \"start\": \"x\"}", "file",
              "x.json:1:");
    parse_bad("x.lua", "return {", "file", "x.lua:1:");
    /* The instruction budget, or under valgrind's slowness the time budget
     * first: either is the file's fault, named at its line. */
    parse_bad("x.lua", "while true do end", "file", "x.lua:1: ");
    {
        json_t *sc = NULL;
        cf_error err = {0};
        const char *loop = "while true do end";
        assert_int_equal(cf_scenario_parse("x.lua", loop, strlen(loop), &sc, &err), CF_EINVALID);
        assert_non_null(strstr(err.message, "budget"));
        assert_non_null(strstr(err.message, "exceeded"));
    }
    /* the memory cap, hit inside the allocator: the file is still named (a
     * string doubling, so the cap comes in 26 steps, long before the time
     * budget, even under valgrind) */
    parse_bad("x.lua", "local s = 'x' for i = 1, 60 do s = s .. s end", "file", "x.lua: ");
    parse_bad("x.lua", "return require('anything')", NULL, "no such module");
    parse_bad("x.yaml", "start: now", "file", "a scenario file is .lua or .json");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lua_and_json_read_the_same),
        cmocka_unit_test(bad_fields_are_named),
    };
    return cmocka_run_group_tests_name("scenario", tests, NULL, NULL);
}
