/*
 * libcaseflow-plugin-test itself (include/caseflow/plugin-test.h): the fake
 * host against the real test plugins (tests/plugins/good.c, failinit.c,
 * wrongabi.c, compiled in) and a probe plugin below that calls every host
 * member, so every effect, the rollback of a failed call and the harness's
 * own refusals are seen; then the runner end to end with a small workflow
 * on the "good" module found on CASEFLOW_PLUGIN_PATH.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "caseflow/plugin-test.h"

extern const cf_plugin good_LTX_caseflow_plugin;
extern const cf_plugin failinit_LTX_caseflow_plugin;
extern const cf_plugin wrongabi_LTX_caseflow_plugin;
#define GOOD (&good_LTX_caseflow_plugin)

/* good emits whatever it is told and declares no outcomes (its events are
 * all accepted ones, so the engine's test workflows need not map each); the
 * fake host holds a plugin to its emits, so the tests that emit use a copy
 * of its descriptor that declares the two events they emit. */
static const char *const emitting_events[] = {"next", "done", NULL};
static const cf_plugin *good_emitting(void)
{
    static cf_plugin p;
    p = good_LTX_caseflow_plugin;
    p.emits = emitting_events;
    return &p;
}

/* ---- helpers ------------------------------------------------------------------ */

static cfpt_host *new_host(const cf_plugin *p, const char *config)
{
    char err[256] = "";
    cfpt_host *h = cfpt_host_new(p, NULL, config, err, sizeof err);

    if (!h)
        fail_msg("cfpt_host_new: %s", err);
    return h;
}

static const char *str_at(const json_t *doc, const char *path)
{
    return json_string_value(cfpt_path(doc, path));
}

static json_int_t int_at(const json_t *doc, const char *path)
{
    const json_t *v = cfpt_path(doc, path);

    if (!json_is_integer(v))
        fail_msg("%s: not an integer", path);
    return json_integer_value(v);
}

/* The JSON text of v, sorted and compact, in out. */
static const char *text_of(const json_t *v, char *out, size_t size)
{
    char *t = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

    snprintf(out, size, "%s", t ? t : "(null)");
    free(t);
    return out;
}

#define assert_json(v, want)                                    \
    do {                                                        \
        char buf_[1024];                                        \
        assert_string_equal(text_of((v), buf_, sizeof buf_), (want)); \
    } while (0)

/* ---- a probe plugin: one event per host member ---------------------------------- */

static const char *const probe_accepts[] = {"look", "deadline", "clear", "timers", "soft",
                                            "silent", "asset", "emit2", NULL};
static const char *const probe_emits[] = {"ok", "other", NULL};

static int probe_handle(const cf_host *host, void *state, cf_step *step, const char *event,
                        const json_t *input)
{
    (void)state;
    (void)input;
    if (strcmp(event, "look") == 0) {
        char hex[65], when[32];
        int64_t utc = 0;
        int off = 0;
        const char *actor = host->actor(step);
        host->set(step, "seen.case", json_string(host->case_id(step)));
        host->set(step, "seen.state", json_string(host->state(step)));
        host->set(step, "seen.actor", actor ? json_string(actor) : json_null());
        host->set(step, "seen.now", json_integer(host->now(step)));
        host->sha256_hex("abc", 3, hex);
        host->set(step, "seen.sha", json_string(hex));
        host->time_format(host->now(step), when);
        host->set(step, "seen.when", json_string(when));
        if (host->time_parse("2026-01-01T01:30:00+01:00", &utc, &off) == 0) {
            host->set(step, "seen.utc", json_integer(utc));
            host->set(step, "seen.offset", json_integer(off));
        }
        host->set(step, "seen.zoneless", json_integer(host->time_parse("2026-01-01T01:30:00",
                                                                       &utc, &off)));
        host->set(step, "seen.ip_key", json_integer(host->key(step, "ip", "192.0.2.1")));
        host->log(step, CF_LOG_INFO, "looked at %s", host->case_id(step));
        host->log(step, 9, "odd level");
        host->log(step, CF_LOG_DEBUG, "detail %d", 42);
        host->emit(step, "other");
        host->emit(step, "ok"); /* a second emit replaces the first */
        return CF_PLUGIN_OK;
    }
    if (strcmp(event, "deadline") == 0)
        return host->deadline(step, host->now(step) + 86400);
    if (strcmp(event, "clear") == 0)
        return host->deadline(step, 0);
    if (strcmp(event, "timers") == 0) {
        host->timer(step, "a", 10);
        host->timer(step, "b", 20);
        host->timer(step, "a", 30); /* replaces a@10 */
        return CF_PLUGIN_OK;
    }
    if (strcmp(event, "soft") == 0) {
        host->set(step, "soft", json_true());
        (host->fail)(step, NULL, "refused %s", "softly");
        return CF_PLUGIN_OK; /* the failure stands whatever it returns */
    }
    if (strcmp(event, "silent") == 0) {
        host->set(step, "silent", json_true());
        return -5;
    }
    if (strcmp(event, "asset") == 0) {
        const char *text = NULL;
        size_t len = 0;
        if (host->asset(step, "letters/warning.txt", &text, &len) != 0)
            return (host->fail)(step, "asset", "no letter");
        host->set(step, "letter", json_stringn(text, len));
        host->set(step, "missing", json_integer(host->asset(step, "nope", &text, &len)));
        return CF_PLUGIN_OK;
    }
    return CF_PLUGIN_OK;
}

static int probe_init(const cf_host *host, const json_t *config, void **state, char *err,
                      size_t errlen)
{
    (void)host;
    if (json_object_get(config, "refuse")) {
        snprintf(err, errlen, "probe: setting 'refuse' refused");
        return CF_PLUGIN_FAILED;
    }
    *state = NULL;
    return CF_PLUGIN_OK;
}

static const cf_plugin probe = {
    .abi = CF_PLUGIN_ABI,
    .size = sizeof(cf_plugin),
    .name = "probe",
    .version = "1",
    .accepts = probe_accepts,
    .emits = probe_emits,
    .init = probe_init,
    .handle = probe_handle,
};

/* ---- the fake host ---------------------------------------------------------------- */

static void test_version(void **state)
{
    (void)state;
    assert_string_equal(cfpt_version(), CFPT_VERSION_STRING);
}

static void test_new_and_init_failure(void **state)
{
    char err[256];
    cf_plugin noname = probe, old = probe;
    cfpt_host *h;

    (void)state;
    /* The plugin's own reason for a failed init. */
    assert_null(cfpt_host_new(&failinit_LTX_caseflow_plugin, NULL, NULL, err, sizeof err));
    assert_string_equal(err, "failinit: this plugin always refuses its config");
    assert_null(cfpt_host_new(&probe, "s", "{\"refuse\": 1}", err, sizeof err));
    assert_string_equal(err, "probe: setting 'refuse' refused");
    /* Unusable descriptors and configs. */
    err[0] = '\0';
    assert_null(cfpt_host_new(&wrongabi_LTX_caseflow_plugin, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "ABI 2.0"));
    noname.name = NULL;
    assert_null(cfpt_host_new(&noname, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "no name"));
    old.size = 16;
    assert_null(cfpt_host_new(&old, NULL, NULL, err, sizeof err));
    assert_null(cfpt_host_new(NULL, NULL, NULL, err, sizeof err));
    assert_null(cfpt_host_new(GOOD, NULL, "[1]", err, sizeof err));
    assert_non_null(strstr(err, "config is not a JSON object"));
    assert_null(cfpt_host_new(GOOD, NULL, "{", NULL, 0)); /* no err buffer: fine */
    cfpt_host_free(NULL);

    /* The config reaches init: good keeps it and applies it on enter. */
    h = new_host(good_emitting(), "{\"set\": {\"from_config\": 7}, \"emit\": \"next\"}");
    assert_int_equal(cfpt_enter(h), CF_PLUGIN_OK);
    assert_int_equal(int_at(cfpt_data(h), "from_config"), 7);
    assert_string_equal(cfpt_emitted(h), "next");
    assert_null(cfpt_failure(h));
    cfpt_host_free(h);

    /* A plugin without enter: OK, nothing happens. */
    h = new_host(&probe, NULL);
    assert_int_equal(cfpt_enter(h), CF_PLUGIN_OK);
    assert_null(cfpt_emitted(h));
    assert_json(cfpt_data(h), "{}");
    cfpt_host_free(h);
    /* Nor without handle (the engine takes the event); accepts still rule. */
    noname = probe;
    noname.handle = NULL;
    h = new_host(&noname, NULL);
    assert_int_equal(cfpt_handle(h, "look", NULL), CF_PLUGIN_OK);
    assert_json(cfpt_data(h), "{}");
    assert_null(cfpt_failure(h));
    assert_int_equal(cfpt_handle(h, "nope", NULL), CFPT_NOT_ACCEPTED);
    assert_int_equal(cfpt_handle(h, "look", "[]"), CFPT_BAD_INPUT);
    cfpt_host_free(h);
}

static void test_defaults_and_setters(void **state)
{
    cfpt_host *h = new_host(&probe, NULL);
    const json_t *d;
    char *err_text = NULL;

    (void)state;
    assert_int_equal(cfpt_handle(h, "look", NULL), CF_PLUGIN_OK);
    d = cfpt_data(h);
    assert_string_equal(str_at(d, "seen.case"), "CF-TEST-1");
    assert_string_equal(str_at(d, "seen.state"), "test");
    assert_string_equal(str_at(d, "seen.actor"), "officer");
    assert_int_equal(int_at(d, "seen.now"), CFPT_EPOCH);
    assert_string_equal(str_at(d, "seen.sha"),
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(str_at(d, "seen.when"), "2026-01-01T00:00:00Z");
    assert_int_equal(int_at(d, "seen.utc"), CFPT_EPOCH + 30 * 60);
    assert_int_equal(int_at(d, "seen.offset"), 60);
    assert_int_equal(int_at(d, "seen.zoneless"), CF_PLUGIN_FAILED);
    assert_int_equal(int_at(d, "seen.ip_key"), CF_PLUGIN_FAILED); /* a bare IP is no key */
    assert_json(cfpt_keys(h), "[]");
    assert_string_equal(cfpt_emitted(h), "ok");
    assert_json(cfpt_logs(h), "[{\"level\":\"info\",\"message\":\"looked at CF-TEST-1\"},"
                              "{\"level\":\"warn\",\"message\":\"odd level\"},"
                              "{\"level\":\"debug\",\"message\":\"detail 42\"}]");
    assert_int_equal(cfpt_deadline(h), -1);

    /* What the test sets is what the plugin sees. */
    assert_int_equal(cfpt_set_case_id(h, "CF-2026-000042"), 0);
    assert_int_equal(cfpt_set_actor(h, NULL), 0);
    cfpt_set_now(h, CFPT_EPOCH + 3600);
    assert_int_equal(cfpt_set_case_id(h, NULL), -1);
    assert_int_equal(cfpt_handle(h, "look", "{}"), CF_PLUGIN_OK);
    d = cfpt_data(h);
    assert_string_equal(str_at(d, "seen.case"), "CF-2026-000042");
    assert_true(json_is_null(cfpt_path(d, "seen.actor")));
    assert_string_equal(str_at(d, "seen.when"), "2026-01-01T01:00:00Z");
    cfpt_host_free(h);

    h = cfpt_host_new(&probe, "intake", NULL, NULL, 0);
    assert_non_null(h);
    assert_int_equal(cfpt_set_actor(h, "ana"), 0);
    assert_int_equal(cfpt_handle(h, "look", NULL), CF_PLUGIN_OK);
    assert_string_equal(str_at(cfpt_data(h), "seen.state"), "intake");
    assert_string_equal(str_at(cfpt_data(h), "seen.actor"), "ana");

    /* The case document: dotted paths, array indices, the engine's rules. */
    assert_int_equal(cfpt_set_data(h, "{\"a\": {\"b\": 1}, \"list\": [{\"ip\": \"x\"}]}"), 0);
    assert_int_equal(int_at(cfpt_data(h), "a.b"), 1);
    assert_string_equal(json_string_value(cfpt_get(h, "list.0.ip")), "x");
    assert_null(cfpt_get(h, "list.1.ip"));
    assert_null(cfpt_get(h, "a.b.c"));
    assert_ptr_equal(cfpt_get(h, ""), cfpt_data(h));
    assert_int_equal(cfpt_set(h, "n.m.o", "\"deep\""), 0);
    assert_string_equal(json_string_value(cfpt_get(h, "n.m.o")), "deep");
    assert_int_equal(cfpt_set(h, "list.1", "{\"ip\": \"y\"}"), 0); /* append */
    assert_string_equal(json_string_value(cfpt_get(h, "list.1.ip")), "y");
    assert_int_equal(cfpt_set(h, "list.5", "1"), -1);
    assert_int_equal(cfpt_set(h, "a.b.c", "1"), -1);  /* through a number */
    assert_int_equal(cfpt_set(h, "a.b", "not json"), -1);
    assert_int_equal(cfpt_set(h, "", "{}"), -1);
    assert_int_equal(cfpt_set(h, "a.b", NULL), 0); /* delete */
    assert_json(cfpt_get(h, "a"), "{}");
    assert_int_equal(cfpt_set_data(h, "[1]"), -1);
    assert_int_equal(cfpt_set_data(h, "{"), -1);
    assert_int_equal(cfpt_set_data(h, NULL), -1);
    assert_non_null(cfpt_get(h, "n.m.o")); /* unchanged */

    /* Assets. */
    assert_int_equal(cfpt_handle(h, "asset", NULL), CF_PLUGIN_FAILED);
    assert_string_equal(cfpt_failure(h), "no letter");
    assert_int_equal(cfpt_add_asset(h, "letters/warning.txt", "Dear occupier"), 0);
    assert_int_equal(cfpt_add_asset(h, NULL, "x"), -1);
    assert_int_equal(cfpt_handle(h, "asset", NULL), CF_PLUGIN_OK);
    assert_string_equal(json_string_value(cfpt_get(h, "letter")), "Dear occupier");
    assert_int_equal(int_at(cfpt_data(h), "missing"), CF_PLUGIN_FAILED);
    (void)err_text;
    cfpt_host_free(h);
}

static void test_every_effect_captured(void **state)
{
    cfpt_host *h = new_host(good_emitting(), NULL);
    const char *input =
        "{\"set\": {\"grade\": \"high\", \"nested\": {\"x\": [1, 2]}},"
        " \"key\": {\"kind\": \"account\", \"value\": \"user-1\"},"
        " \"task\": {\"role\": \"supervisor\", \"kind\": \"review\"},"
        " \"notify\": \"cad\", \"timer\": {\"event\": \"expired\", \"seconds\": 3600},"
        " \"emit\": \"done\"}";
    json_t *e;

    (void)state;
    assert_int_equal(cfpt_handle(h, "submit", input), CF_PLUGIN_OK);
    assert_null(cfpt_failure(h));
    assert_null(cfpt_failure_field(h));
    assert_string_equal(cfpt_emitted(h), "done");
    assert_string_equal(json_string_value(cfpt_get(h, "grade")), "high");
    assert_int_equal(json_integer_value(cfpt_get(h, "nested.x.1")), 2);
    assert_json(cfpt_keys(h), "[{\"kind\":\"account\",\"value\":\"user-1\"}]");
    assert_json(cfpt_tasks(h),
                "[{\"detail\":{\"note\":\"test task\"},\"kind\":\"review\","
                "\"role\":\"supervisor\"}]");
    assert_json(cfpt_notifications(h), "[{\"channel\":\"cad\",\"message\":{\"note\":\"test\"}}]");
    assert_json(cfpt_timers(h), "[{\"due\":1767229200,\"event\":\"expired\"}]");
    assert_json(cfpt_logs(h), "[]");
    assert_int_equal(cfpt_deadline(h), -1);

    e = cfpt_effects(h);
    assert_non_null(e);
    assert_int_equal(int_at(e, "result"), 0);
    assert_string_equal(str_at(e, "emitted"), "done");
    assert_true(json_is_null(cfpt_path(e, "failure")));
    assert_string_equal(str_at(e, "data.grade"), "high");
    assert_string_equal(str_at(e, "tasks.0.kind"), "review");
    assert_string_equal(str_at(e, "timers.0.event"), "expired");
    assert_string_equal(str_at(e, "keys.0.kind"), "account");
    assert_string_equal(str_at(e, "notifications.0.channel"), "cad");
    assert_int_equal(int_at(e, "deadline"), -1);
    assert_true(json_is_array(cfpt_path(e, "logs")));
    json_decref(e);

    /* The next call starts with no effects; the data stays. */
    assert_int_equal(cfpt_handle(h, "update", "{}"), CF_PLUGIN_OK);
    assert_null(cfpt_emitted(h));
    assert_json(cfpt_tasks(h), "[]");
    assert_json(cfpt_timers(h), "[]");
    assert_json(cfpt_keys(h), "[]");
    assert_json(cfpt_notifications(h), "[]");
    assert_string_equal(json_string_value(cfpt_get(h, "grade")), "high");
    e = cfpt_effects(h);
    assert_true(json_is_null(cfpt_path(e, "emitted")));
    json_decref(e);
    cfpt_host_free(h);

    /* A task without detail; the deadline set and cleared; timers by event. */
    h = new_host(&probe, NULL);
    assert_int_equal(cfpt_handle(h, "deadline", NULL), CF_PLUGIN_OK);
    assert_int_equal(cfpt_deadline(h), CFPT_EPOCH + 86400);
    assert_int_equal(cfpt_handle(h, "clear", NULL), CF_PLUGIN_OK);
    assert_int_equal(cfpt_deadline(h), 0);
    assert_int_equal(cfpt_handle(h, "timers", NULL), CF_PLUGIN_OK);
    assert_json(cfpt_timers(h), "[{\"due\":20,\"event\":\"b\"},{\"due\":30,\"event\":\"a\"}]");
    assert_int_equal(cfpt_deadline(h), -1);
    cfpt_host_free(h);
}

static void test_rollback_on_failure(void **state)
{
    cfpt_host *h = new_host(GOOD, NULL);
    /* Everything good does before its timer is refused (no event). */
    const char *input = "{\"set\": {\"x\": 1, \"keep\": false},"
                        " \"key\": {\"kind\": \"account\", \"value\": \"u\"},"
                        " \"task\": {\"role\": \"officer\", \"kind\": \"visit\"},"
                        " \"notify\": \"cad\", \"timer\": {\"seconds\": 5}, \"emit\": \"done\"}";
    json_t *e;

    (void)state;
    assert_int_equal(cfpt_set_data(h, "{\"keep\": true}"), 0);
    assert_int_equal(cfpt_handle(h, "submit", input), CF_PLUGIN_FAILED);
    assert_string_equal(cfpt_failure(h), "the timer was refused");
    assert_string_equal(cfpt_failure_field(h), "timer");
    assert_json(cfpt_data(h), "{\"keep\":true}");
    assert_null(cfpt_emitted(h));
    assert_json(cfpt_tasks(h), "[]");
    assert_json(cfpt_keys(h), "[]");
    assert_json(cfpt_notifications(h), "[]");
    assert_json(cfpt_timers(h), "[]");
    e = cfpt_effects(h);
    assert_int_equal(int_at(e, "result"), CF_PLUGIN_FAILED);
    assert_string_equal(str_at(e, "failure.field"), "timer");
    assert_string_equal(str_at(e, "failure.message"), "the timer was refused");
    json_decref(e);

    /* The plugin's own refusal, before it touches anything. */
    assert_int_equal(cfpt_handle(h, "submit", "{\"fail\": \"bad reference\"}"),
                     CF_PLUGIN_FAILED);
    assert_string_equal(cfpt_failure(h), "bad reference");
    assert_string_equal(cfpt_failure_field(h), "fail");
    /* A later good call clears the failure. */
    assert_int_equal(cfpt_handle(h, "submit", "{}"), CF_PLUGIN_OK);
    assert_null(cfpt_failure(h));
    assert_null(cfpt_failure_field(h));
    cfpt_host_free(h);

    /* host->fail fails the call even when the plugin returns 0; no field. */
    h = new_host(&probe, NULL);
    assert_int_equal(cfpt_handle(h, "soft", NULL), CF_PLUGIN_FAILED);
    assert_string_equal(cfpt_failure(h), "refused softly");
    assert_null(cfpt_failure_field(h));
    assert_null(cfpt_get(h, "soft"));
    e = cfpt_effects(h);
    assert_true(json_is_null(cfpt_path(e, "failure.field")));
    json_decref(e);
    /* A negative result without a reason: the engine's internal error. */
    assert_int_equal(cfpt_handle(h, "silent", NULL), -5);
    assert_non_null(strstr(cfpt_failure(h), "without a reason"));
    assert_null(cfpt_get(h, "silent"));
    cfpt_host_free(h);
}

static void test_harness_refusals(void **state)
{
    cfpt_host *h = new_host(GOOD, NULL);
    const char *sets = "{\"set\": {\"touched\": true}}";

    (void)state;
    /* Not in accepts: handle() is not called at all. */
    assert_int_equal(cfpt_handle(h, "bogus", sets), CFPT_NOT_ACCEPTED);
    assert_null(cfpt_get(h, "touched"));
    assert_non_null(strstr(cfpt_failure(h), "bogus"));
    assert_null(cfpt_failure_field(h));
    assert_int_equal(cfpt_handle(h, NULL, sets), CFPT_NOT_ACCEPTED);
    /* Input must be an object. */
    assert_int_equal(cfpt_handle(h, "submit", "[1]"), CFPT_BAD_INPUT);
    assert_int_equal(cfpt_handle(h, "submit", "{\"set\":"), CFPT_BAD_INPUT);
    assert_non_null(cfpt_failure(h));
    assert_null(cfpt_get(h, "touched"));
    /* An emit outside emits breaks the ABI: the call fails and rolls back. */
    assert_int_equal(cfpt_handle(h, "submit",
                                 "{\"set\": {\"touched\": true}, \"emit\": \"undeclared\"}"),
                     CFPT_CONTRACT);
    assert_non_null(strstr(cfpt_failure(h), "\"undeclared\""));
    assert_null(cfpt_get(h, "touched"));
    assert_null(cfpt_emitted(h));
    /* The same from enter. */
    cfpt_host_free(h);
    h = new_host(GOOD, "{\"emit\": \"nowhere\", \"set\": {\"touched\": true}}");
    assert_int_equal(cfpt_enter(h), CFPT_CONTRACT);
    assert_non_null(strstr(cfpt_failure(h), "nowhere"));
    assert_null(cfpt_get(h, "touched"));
    assert_int_equal(cfpt_handle(h, "submit", sets), CF_PLUGIN_OK);
    assert_true(json_is_true(cfpt_get(h, "touched")));
    cfpt_host_free(h);
}

static void test_calls_by_hand(void **state)
{
    cfpt_host *h = new_host(GOOD, NULL);
    const cf_host *host = cfpt_host_table(h);
    cf_step *step = cfpt_step(h);

    (void)state;
    assert_non_null(host);
    assert_int_equal(host->abi, CF_PLUGIN_ABI);
    assert_int_equal(host->size, sizeof(cf_host));
    assert_int_equal(host->task(step, "officer", "visit", NULL), 0);
    assert_int_equal(host->task(step, NULL, "visit", json_object()), CF_PLUGIN_FAILED);
    assert_int_equal(host->notify(step, "cad", NULL), 0);
    assert_int_equal(host->key(step, "", "x"), CF_PLUGIN_FAILED);
    assert_int_equal(host->set(step, "", json_true()), CF_PLUGIN_FAILED);
    assert_int_equal(host->set(step, "a", json_true()), 0);
    assert_json(cfpt_tasks(h), "[{\"detail\":null,\"kind\":\"visit\",\"role\":\"officer\"}]");
    assert_json(cfpt_notifications(h), "[{\"channel\":\"cad\",\"message\":{}}]");
    assert_int_equal(cfpt_failures(h), 0);
    /* Not rolled back, and counted. */
    assert_int_equal((host->fail)(step, "f", "one"), CF_PLUGIN_FAILED);
    assert_int_equal((host->fail)(step, "g", "two"), CF_PLUGIN_FAILED);
    assert_int_equal(cfpt_failures(h), 2);
    assert_string_equal(cfpt_failure(h), "two");
    assert_string_equal(cfpt_failure_field(h), "g");
    assert_true(json_is_true(cfpt_get(h, "a")));
    assert_int_equal(json_array_size(cfpt_tasks(h)), 1);
    cfpt_clear(h);
    assert_int_equal(cfpt_failures(h), 0);
    assert_null(cfpt_failure(h));
    assert_json(cfpt_tasks(h), "[]");
    assert_true(json_is_true(cfpt_get(h, "a")));
    cfpt_host_free(h);
}

/* ---- the runner --------------------------------------------------------------------- */

static const char *const flow =
    "return workflow {\n"
    "  name = \"ptest\", version = 1, initial = \"start\",\n"
    "  states = {\n"
    "    start = {\n"
    "      step = \"good\", config = { emit = \"next\", set = { intake = true } },\n"
    "      on = { next = \"waiting\" },\n"
    "    },\n"
    "    waiting = {\n"
    "      step = \"good\", roles = { \"officer\" },\n"
    "      timer = { days = 2, event = \"expired\" },\n"
    "      on = {\n"
    "        submit = \"waiting\",\n"
    "        approve = { to = \"done\", roles = { \"supervisor\" } },\n"
    "        expired = { to = \"done\", system = true },\n"
    "      },\n"
    "    },\n"
    "    done = { final = true },\n"
    "  },\n"
    "}\n";

#define REFERRAL(ref)                                                              \
    "{\"source\": \"TEST\", \"reference\": \"" ref "\","                            \
    " \"received_at\": \"2025-12-31T09:15:00Z\", \"ip_events\": [{\"ip\":"          \
    " \"192.0.2.1\", \"at\": \"2025-12-30T21:14:05+01:00\"}]}"

static cfpt_engine *runner(const char *text)
{
    cfpt_engine_options o;
    cf_error err;
    cfpt_engine *r;

    memset(&o, 0, sizeof o);
    o.workflow_text = text;
    r = cfpt_engine_new(&o, &err);
    if (!r)
        fail_msg("cfpt_engine_new: %d %s: %s", err.code, err.field, err.message);
    return r;
}

static void test_runner_end_to_end(void **state)
{
    static const char *const officer[] = {"officer", NULL};
    cfpt_engine *r = runner(flow);
    char id[64] = "", st[64];
    cf_error err;
    json_t *c;
    size_t fired = 99;

    (void)state;
    assert_non_null(cfpt_engine_handle(r));
    assert_int_equal(cf_engine_now(cfpt_engine_handle(r)), CFPT_EPOCH);
    assert_int_equal(cfpt_engine_refer(r, NULL, REFERRAL("R-1"), id, &err), 0);
    assert_true(strlen(id) > 0);
    assert_string_equal(cfpt_engine_state(r, id, st, sizeof st), "waiting");
    c = cfpt_engine_case(r, id);
    assert_non_null(c);
    assert_true(json_is_true(cfpt_path(c, "data.intake")));
    assert_string_equal(str_at(c, "timers.0.event"), "expired");
    json_decref(c);

    /* The plugin's handle runs in the engine. */
    assert_int_equal(cfpt_engine_act(r, "officer", id, "submit", "{\"set\": {\"note\": \"n\"}}",
                                     &err), 0);
    c = cfpt_engine_case(r, id);
    assert_string_equal(str_at(c, "data.note"), "n");
    json_decref(c);
    /* Its refusal, as `caseflow act` reports it; the case unchanged. */
    assert_int_equal(cfpt_engine_act(r, "officer", id, "submit",
                                     "{\"fail\": \"no such thing\", \"set\": {\"x\": 1}}", &err),
                     CF_EINVALID);
    assert_string_equal(err.field, "fail");
    assert_non_null(strstr(err.message, "no such thing"));
    c = cfpt_engine_case(r, id);
    assert_null(cfpt_path(c, "data.x"));
    json_decref(c);
    /* Roles: the workflow's rules. */
    assert_int_equal(cfpt_engine_act(r, "officer", id, "approve", NULL, &err), CF_EDENIED);
    assert_int_equal(cfpt_engine_act(r, "olive", id, "submit", NULL, &err), CF_EDENIED);
    assert_int_equal(cfpt_engine_user(r, "olive", officer, &err), 0);
    assert_int_equal(cfpt_engine_user(r, "olive", officer, &err), CF_EINVALID);
    assert_int_equal(cfpt_engine_act(r, "olive", id, "submit", NULL, &err), 0);
    assert_int_equal(cfpt_engine_act(r, "officer", id, "submit", "[]", &err), CF_EINVALID);
    assert_int_equal(cfpt_engine_act(r, "officer", "CF-NONE", "submit", NULL, &err),
                     CF_ENOTFOUND);

    /* Timers fire when the clock passes them. */
    assert_int_equal(cfpt_engine_tick(r, &fired, &err), 0);
    assert_int_equal(fired, 0);
    cfpt_engine_clock(r, CFPT_EPOCH + 3 * 86400);
    assert_int_equal(cfpt_engine_tick(r, &fired, &err), 0);
    assert_int_equal(fired, 1);
    assert_string_equal(cfpt_engine_state(r, id, st, sizeof st), "done");

    /* A second case, approved by hand; unknown cases. */
    assert_int_equal(cfpt_engine_refer(r, "analyst", REFERRAL("R-2"), id, &err), 0);
    assert_int_equal(cfpt_engine_act(r, "supervisor", id, "approve", NULL, &err), 0);
    assert_string_equal(cfpt_engine_state(r, id, st, sizeof st), "done");
    assert_null(cfpt_engine_case(r, "CF-NONE"));
    assert_string_equal(cfpt_engine_state(r, "CF-NONE", st, sizeof st), "");
    assert_int_equal(cfpt_engine_refer(r, NULL, "[]", id, &err), CF_EINVALID);
    assert_int_equal(cfpt_engine_refer(r, "nobody", REFERRAL("R-3"), id, &err) != 0, 1);
    cfpt_engine_free(r);
    cfpt_engine_free(NULL);
}

static void test_runner_refusals(void **state)
{
    cfpt_engine_options o;
    cf_error err;
    char broken[2048];

    (void)state;
    memset(&o, 0, sizeof o);
    assert_null(cfpt_engine_new(&o, &err));
    assert_int_equal(err.code, CF_EUSAGE);
    assert_null(cfpt_engine_new(NULL, &err));
    o.workflow_text = flow;
    o.workflow_file = "/nonexistent/flow.lua";
    assert_null(cfpt_engine_new(&o, &err));
    assert_int_equal(err.code, CF_EUSAGE);
    o.workflow_file = NULL;
    o.reserved[0] = &o;
    assert_null(cfpt_engine_new(&o, &err));
    o.reserved[0] = NULL;
    /* A missing plugin: the deploy's own message. */
    snprintf(broken, sizeof broken, "%s", flow);
    memcpy(strstr(broken, "\"good\""), "\"gone\"", 6);
    o.workflow_text = broken;
    assert_null(cfpt_engine_new(&o, &err));
    assert_int_equal(err.code, CF_EMISSING);
    assert_non_null(strstr(err.message, "gone"));
    /* A plugin path without the module. */
    o.workflow_text = flow;
    o.plugin_path = "/nonexistent";
    assert_null(cfpt_engine_new(&o, &err));
    assert_int_equal(err.code, CF_EMISSING);
    /* A file that does not exist. */
    o.plugin_path = NULL;
    o.workflow_text = NULL;
    o.workflow_file = "/nonexistent/flow.lua";
    assert_null(cfpt_engine_new(&o, &err));
    assert_true(err.code != 0);
    /* A clock of the test's choosing. */
    o.workflow_file = NULL;
    o.workflow_text = flow;
    o.now = CFPT_EPOCH + 100;
    cfpt_engine *r = cfpt_engine_new(&o, &err);
    assert_non_null(r);
    assert_int_equal(cf_engine_now(cfpt_engine_handle(r)), CFPT_EPOCH + 100);
    cfpt_engine_free(r);
}

static void test_path(void **state)
{
    json_t *doc = json_loads("{\"data\": {\"risk\": {\"grade\": \"high\"}},"
                             " \"tasks\": [{\"kind\": \"visit\"}]}", 0, NULL);

    (void)state;
    assert_string_equal(str_at(doc, "data.risk.grade"), "high");
    assert_string_equal(str_at(doc, "tasks.0.kind"), "visit");
    assert_null(cfpt_path(doc, "tasks.1.kind"));
    assert_null(cfpt_path(doc, "tasks.x"));
    assert_null(cfpt_path(doc, "data.risk.grade.x"));
    assert_null(cfpt_path(NULL, "a"));
    assert_ptr_equal(cfpt_path(doc, ""), doc);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_new_and_init_failure),
        cmocka_unit_test(test_defaults_and_setters),
        cmocka_unit_test(test_every_effect_captured),
        cmocka_unit_test(test_rollback_on_failure),
        cmocka_unit_test(test_harness_refusals),
        cmocka_unit_test(test_calls_by_hand),
        cmocka_unit_test(test_runner_end_to_end),
        cmocka_unit_test(test_runner_refusals),
        cmocka_unit_test(test_path),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
