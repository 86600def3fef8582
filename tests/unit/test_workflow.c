/*
 * Unit tests of engine/workflow/: the workflow DSL (a complete fixture and
 * one inline script per structural error), resolving transitions, the
 * read-only case and event views, bundles and their hashes, and the lint
 * findings of cf_wf_check with their line numbers. Sandbox escapes live in
 * test_sandbox.c. Inline scripts are written to a mkdtemp directory.
 */
/* nftw */
#define _XOPEN_SOURCE 700
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static char tmpdir[256];

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cf-wf-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdir(path, 0700);
    *slash = '/';
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *fixture(const char *rel, char *buf, size_t size)
{
    const char *src = getenv("CASEFLOW_SRCDIR");
    snprintf(buf, size, "%s/tests/data/workflows/%s", src ? src : ".", rel);
    return buf;
}

static int load_path(const char *path, cf_wf **wf, cf_error *err)
{
    json_t *bundle = NULL;
    *wf = NULL;
    int rc = cf_wf_bundle_from_file(path, &bundle, err);
    if (rc == 0)
        rc = cf_wf_load(bundle, wf, err);
    json_decref(bundle);
    return rc;
}

/* Write src as tmpdir/wf.lua and load it. */
static int load_src(const char *src, cf_wf **wf, cf_error *err)
{
    char path[512];
    write_file("wf.lua", src);
    snprintf(path, sizeof path, "%s/wf.lua", tmpdir);
    return load_path(path, wf, err);
}

/* A skeleton with one transition `go` from a whose value is `on`. */
static int load_on(const char *on, cf_wf **wf, cf_error *err)
{
    char src[4096];
    snprintf(src, sizeof src,
             "return workflow {\n"
             "  name = \"t\", version = 1, initial = \"a\",\n"
             "  states = {\n"
             "    a = { on = { go = %s } },\n"
             "    b = { on = { back = \"a\" } },\n"
             "    c = { final = true },\n"
             "  },\n"
             "}\n", on);
    return load_src(src, wf, err);
}

static const cf_wf_transition *go_of(cf_wf *wf)
{
    cf_wf_state *a = cf_wf_find_state(wf, "a");
    assert_non_null(a);
    const cf_wf_transition *t = cf_wf_find_transition(a, "go");
    assert_non_null(t);
    return t;
}

/* Lines of states and transitions are found in the source text (the Lua API
 * has none for a table field): a name met elsewhere first (a comment, a
 * deeper table, part of a dotted or bracketed event, another state's table)
 * must not move them. */
static void test_source_lines(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    const char *src = "-- review = { only a comment }\n"                       /* 1 */
                      "return workflow {\n"                                   /* 2 */
                      "  name = \"t\", version = 1, initial = \"start\",\n"   /* 3 */
                      "  states = {\n"                                        /* 4 */
                      "    start = {\n"                                       /* 5 */
                      "      on = {\n"                                        /* 6 */
                      "        -- go = \"done\" (not this one)\n"             /* 7 */
                      "        [\"case.go\"] = \"done\",\n"                   /* 8 */
                      "        review = { to = \"review\" },\n"               /* 9 */
                      "        go = \"done\",\n"                              /* 10 */
                      "      },\n"                                            /* 11 */
                      "    },\n"                                              /* 12 */
                      "    review = { on = { go = \"done\", back = \"start\" } },\n" /* 13 */
                      "    done = { final = true },\n"                        /* 14 */
                      "  },\n"
                      "}\n";
    int rc = load_src(src, &wf, &err);
    assert_int_equal(rc, 0);
    cf_wf_state *st = cf_wf_find_state(wf, "start"), *rv = cf_wf_find_state(wf, "review");
    assert_int_equal(st->line, 5);
    assert_int_equal(rv->line, 13);
    assert_int_equal(cf_wf_find_state(wf, "done")->line, 14);
    assert_int_equal(cf_wf_find_transition(st, "case.go")->line, 8);
    assert_int_equal(cf_wf_find_transition(st, "review")->line, 9);
    assert_int_equal(cf_wf_find_transition(st, "go")->line, 10);
    assert_int_equal(cf_wf_find_transition(rv, "go")->line, 13);
    assert_int_equal(cf_wf_find_transition(rv, "back")->line, 13);
    cf_wf_free(wf);
}

/* ---- the good fixture ---------------------------------------------------- */

static void test_good_workflow(void **state)
{
    (void)state;
    char path[512];
    cf_wf *wf;
    cf_error err = {0};
    int rc = load_path(fixture("good/polit.lua", path, sizeof path), &wf, &err);
    assert_int_equal(rc, 0);
    assert_string_equal(wf->name, "polit");
    assert_int_equal(wf->declared_version, 3);
    assert_string_equal(wf->initial, "intake");
    assert_int_equal(wf->nstates, 5);
    assert_int_equal(strlen(wf->hash), 64);
    assert_non_null(wf->lua);

    /* Workflow config as JSON. */
    assert_string_equal(json_string_value(json_object_get(wf->config, "region")),
                        "west");
    assert_int_equal(json_array_size(json_object_get(wf->config, "limits")), 3);
    assert_true(json_is_true(cf_json_path_get(wf->config, "nested.deep.ok")));

    /* States are ordered by source line. */
    assert_string_equal(wf->states[0].name, "intake");
    assert_string_equal(wf->states[4].name, "closed");

    cf_wf_state *in = cf_wf_find_state(wf, "intake");
    assert_non_null(in);
    assert_int_equal(in->line, 12);
    assert_string_equal(in->step, "referral");
    assert_int_equal(in->nroles, 2);
    assert_string_equal(in->roles[0], "officer");
    assert_int_equal(in->deadline_secs, 86400 + 7200);
    assert_int_equal(in->timer_secs, 0);
    assert_true(json_is_object(in->config));
    assert_int_equal(json_integer_value(json_object_get(in->config, "max")), 5);
    assert_true(json_is_array(json_object_get(in->config, "sources")));
    assert_true(json_is_object(json_object_get(in->config, "empty")));
    assert_true(json_real_value(json_object_get(in->config, "ratio")) == 0.5);

    const cf_wf_transition *acc = cf_wf_find_transition(in, "accepted");
    assert_non_null(acc);
    assert_int_equal(acc->fnref, -2 /* LUA_NOREF */);
    assert_int_equal(acc->line, 18);
    /* String targets are the state's own name. */
    assert_ptr_equal(acc->target, cf_wf_find_state(wf, "assessment")->name);
    assert_null(cf_wf_find_transition(in, "nope"));

    cf_wf_state *as = cf_wf_find_state(wf, "assessment");
    assert_int_equal(as->line, 22);
    const cf_wf_transition *ap = cf_wf_find_transition(as, "approved");
    assert_null(ap->target);
    assert_true(ap->fnref >= 0);
    assert_int_equal(ap->line, 26);
    const cf_wf_transition *rv =
        cf_wf_find_transition(as, "assessment.review");
    assert_int_equal(rv->ntargets, 2);
    assert_int_equal(rv->nroles, 1);
    assert_string_equal(rv->roles[0], "authoriser");
    assert_string_equal(rv->four_eyes, "approved");
    const cf_wf_transition *hold = cf_wf_find_transition(as, "hold");
    assert_true(hold->system);
    assert_string_equal(hold->target, "monitoring");

    cf_wf_state *mon = cf_wf_find_state(wf, "monitoring");
    assert_int_equal(mon->timer_secs, 365 * 86400);
    assert_string_equal(mon->timer_event, "monitoring.expired");
    assert_true(cf_wf_find_state(wf, "closed")->final);
    assert_null(cf_wf_find_state(wf, "missing"));
    cf_wf_free(wf);
    cf_wf_free(NULL);
}

static void test_good_resolve(void **state)
{
    (void)state;
    char path[512];
    cf_wf *wf;
    cf_error err = {0};
    const char *to = NULL;
    assert_int_equal(load_path(fixture("good/polit.lua", path, sizeof path),
                               &wf, &err), 0);
    cf_wf_state *as = cf_wf_find_state(wf, "assessment");
    json_t *high = json_pack("{s:s, s:{s:{s:s}}}", "id", "c1", "data", "risk",
                             "grade", "high");
    json_t *low = json_pack("{s:s, s:{s:b}}", "id", "c2", "data", "priority",
                            1);
    json_t *ev = json_pack("{s:s}", "name", "approved");
    const cf_wf_transition *ap = cf_wf_find_transition(as, "approved");
    assert_int_equal(cf_wf_resolve(wf, ap, high, ev, 0, &to, &err), 0);
    assert_ptr_equal(to, cf_wf_find_state(wf, "visit")->name);
    assert_int_equal(cf_wf_resolve(wf, ap, low, ev, 0, &to, &err), 0);
    assert_string_equal(to, "closed");
    const cf_wf_transition *rv = cf_wf_find_transition(as, "assessment.review");
    assert_int_equal(cf_wf_resolve(wf, rv, low, ev, 0, &to, &err), 0);
    assert_string_equal(to, "visit");
    /* A string target returns without Lua. */
    const cf_wf_transition *hold = cf_wf_find_transition(as, "hold");
    assert_int_equal(cf_wf_resolve(wf, hold, NULL, NULL, 0, &to, &err), 0);
    assert_ptr_equal(to, cf_wf_find_state(wf, "monitoring")->name);
    json_decref(high);
    json_decref(low);
    json_decref(ev);
    cf_wf_free(wf);
}

/* ---- structural errors ------------------------------------------------- */

struct bad_case {
    const char *src;
    const char *expect; /* substring of the message */
};

#define WF(body) "return workflow {\n" body "}\n"
#define OK_HEAD "  name = \"t\", version = 1, initial = \"a\",\n"

static const struct bad_case bad_cases[] = {
    {WF("  version = 1, initial = \"a\", states = { a = { final = true } },\n"),
     "name must match"},
    {WF("  name = \"Polit\", version = 1, initial = \"a\",\n"
        "  states = { a = { final = true } },\n"), "name must match"},
    {WF("  name = \"t\", version = 0, initial = \"a\",\n"
        "  states = { a = { final = true } },\n"), "version must be an integer"},
    {WF("  name = \"t\", version = \"1\", initial = \"a\",\n"
        "  states = { a = { final = true } },\n"), "version must be an integer"},
    {WF("  name = \"t\", version = 1.5, initial = \"a\",\n"
        "  states = { a = { final = true } },\n"), "version must be an integer"},
    {WF("  name = \"t\", version = 1,\n  states = { a = { final = true } },\n"),
     "initial must name a state"},
    {WF("  name = \"t\", version = 1, initial = \"zz\",\n"
        "  states = { a = { final = true } },\n"),
     "wf.lua:2: workflow: initial state 'zz' is not defined"},
    {WF(OK_HEAD), "states must be a table"},
    {WF(OK_HEAD "  states = {},\n"), "states must not be empty"},
    {WF(OK_HEAD "  states = { a = 5 },\n"), "state 'a': must be a table"},
    {WF(OK_HEAD "  states = {\n    a = { stepp = \"x\" },\n  },\n"),
     "wf.lua:4: state 'a': unknown key 'stepp'"},
    {WF(OK_HEAD "  colour = 1, states = { a = { final = true } },\n"),
     "unknown key 'colour'"},
    {WF(OK_HEAD "  states = { a = { step = 42 } },\n"),
     "step must be a plugin module name"},
    {WF(OK_HEAD "  states = { a = { step = \"../evil\" } },\n"),
     "step must be a plugin module name"},
    {WF(OK_HEAD "  states = { a = { config = { x = { f = print or function() end } } } },\n"),
     "states.a.config.x.f: a function is not plain data"},
    {WF(OK_HEAD "  states = { a = { config = { 1, 2 } } },\n"),
     "config must have named keys"},
    {WF(OK_HEAD "  states = { a = { config = 7 } },\n"), "config must be a table"},
    {WF(OK_HEAD "  states = { a = { config = { x = 0/0 } } },\n"),
     "not a finite number"},
    {WF(OK_HEAD "  states = { a = { config = { [true] = 1 } } },\n"),
     "keys must be strings or integers"},
    {"local t = {}\nlocal c = t\nfor i = 1, 40 do c.x = {}; c = c.x end\n"
     WF(OK_HEAD "  states = { a = { config = t } },\n"), "nested too deeply"},
    {WF(OK_HEAD "  states = { a = { roles = { \"janitor\" } } },\n"),
     "unknown role 'janitor'"},
    {WF(OK_HEAD "  states = { a = { roles = \"officer\" } },\n"),
     "must be a list of strings"},
    {WF(OK_HEAD "  states = { a = { roles = { x = \"officer\" } } },\n"),
     "must be a list of strings"},
    {WF(OK_HEAD "  states = { a = { final = 1 } },\n"), "final must be a boolean"},
    {WF(OK_HEAD "  states = { a = { timer = { days = 1 } } },\n"),
     "needs an event name"},
    {WF(OK_HEAD "  states = { a = { timer = { days = -1, event = \"x\" } } },\n"),
     "days must be a non-negative integer"},
    {WF(OK_HEAD "  states = { a = { timer = { weeks = 1, event = \"x\" } } },\n"),
     "unknown key 'weeks'"},
    {WF(OK_HEAD "  states = { a = { timer = 5 } },\n"), "must be a table"},
    {WF(OK_HEAD "  states = { a = { deadline = { days = 0 } } },\n"),
     "duration must be positive"},
    {WF(OK_HEAD "  states = { a = { deadline = { days = 1, event = \"x\" } } },\n"),
     "a deadline has no event"},
    {WF(OK_HEAD "  states = { a = { on = 5 } },\n"), "'on' must be a table"},
    {WF(OK_HEAD "  states = {\n    a = {\n      on = {\n        go = \"nowhere\",\n"
        "      },\n    },\n  },\n"),
     "wf.lua:6: state 'a': transition 'go' goes to undefined state 'nowhere'"},
    {WF(OK_HEAD "  states = { a = { on = { go = 5 } } },\n"),
     "must be a state name, a function or a table"},
    {WF(OK_HEAD "  states = { a = { on = { go = { targets = { \"a\" } } } } },\n"),
     "'to' must be a state name or a function"},
    {WF(OK_HEAD "  states = { a = { on = { go = { to = \"a\", colour = 1 } } } },\n"),
     "unknown key 'colour'"},
    {WF(OK_HEAD "  states = { a = { on = { go = { to = function() end, targets = { \"a\", \"zz\" } } } } },\n"),
     "declares undefined target 'zz'"},
    {WF(OK_HEAD "  states = { a = { on = { go = { to = \"a\", targets = { \"b\" } } } }, b = { final = true } },\n"),
     "not among its targets"},
    {WF(OK_HEAD "  states = { a = { on = { go = { to = \"a\", system = \"yes\" } } } },\n"),
     "system must be a boolean"},
    {WF(OK_HEAD "  states = { a = { on = { go = { to = \"a\", four_eyes = 1 } } } },\n"),
     "four_eyes must be an event name"},
    {WF(OK_HEAD "  states = { a = { final = true, on = { go = \"a\" } } },\n"),
     "a final state has no transitions"},
    {WF(OK_HEAD "  assets = { \"missing.txt\" }, states = { a = { final = true } },\n"),
     "missing.txt"},
    {WF(OK_HEAD "  assets = { \"../escape.txt\" }, states = { a = { final = true } },\n"),
     "leaves the workflow directory"},
    {WF(OK_HEAD "  assets = { \"/etc/hostname\" }, states = { a = { final = true } },\n"),
     "not a relative path"},
    {"return 42\n", "must return workflow"},
    {"local x = 1\n", "must return workflow"},
    {"return workflow {\n  name = \"t\",\n  version = = 1,\n}\n",
     "wf.lua:3:"},
    {"local x = nil\n\nlocal y = x.field\n", "wf.lua:3: attempt to index"},
    {"local t = now()\n", "now(): there is no time"},
};

static void test_structure_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        cf_wf *wf = (cf_wf *)0x1;
        cf_error err = {0};
        int rc = load_src(bad_cases[i].src, &wf, &err);
        if (rc != CF_EINVALID || strstr(err.message, bad_cases[i].expect) == NULL)
            fail_msg("case %zu: rc %d, message '%s', wanted '%s'", i, rc,
                     err.message, bad_cases[i].expect);
        assert_null(wf);
    }
}

static void test_workflow_marker(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    /* workflow{} marks its table even when the file does not return it. */
    assert_int_equal(load_src("workflow { name = \"m\", version = 2, initial = \"a\","
                              " states = { a = { final = true } } }\n",
                              &wf, &err), 0);
    assert_string_equal(wf->name, "m");
    assert_int_equal(wf->declared_version, 2);
    cf_wf_free(wf);
}

/* ---- resolve -------------------------------------------------------------- */

static void test_resolve_results(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    const char *to = (const char *)0x1;
    json_t *c = json_pack("{s:s, s:{s:s}}", "id", "c1", "data", "want", "b");

    assert_int_equal(load_on("function(case) return case.data.want end", &wf,
                             &err), 0);
    assert_int_equal(cf_wf_resolve(wf, go_of(wf), c, NULL, 0, &to, &err), 0);
    assert_ptr_equal(to, cf_wf_find_state(wf, "b")->name);
    json_object_set_new(json_object_get(c, "data"), "want", json_string("zz"));
    assert_int_equal(cf_wf_resolve(wf, go_of(wf), c, NULL, 0, &to, &err),
                     CF_EINVALID);
    assert_null(to);
    assert_non_null(strstr(err.message, "wf.lua:4: state 'a': transition 'go' "
                                        "returned undefined state 'zz'"));
    json_object_del(json_object_get(c, "data"), "want");
    assert_int_equal(cf_wf_resolve(wf, go_of(wf), c, NULL, 0, &to, &err), 0);
    assert_null(to); /* nil: stay */
    json_object_set_new(json_object_get(c, "data"), "want", json_integer(3));
    assert_int_equal(cf_wf_resolve(wf, go_of(wf), c, NULL, 0, &to, &err),
                     CF_EINVALID);
    assert_non_null(strstr(err.message, "returned a number"));
    cf_wf_free(wf);

    /* Outside the declared targets. */
    assert_int_equal(load_on("{ to = function(case) return case.data.want end,"
                             " targets = { \"b\" } }", &wf, &err), 0);
    json_object_set_new(json_object_get(c, "data"), "want", json_string("c"));
    assert_int_equal(cf_wf_resolve(wf, go_of(wf), c, NULL, 0, &to, &err),
                     CF_EINVALID);
    assert_non_null(strstr(err.message, "not among its targets"));
    json_object_set_new(json_object_get(c, "data"), "want", json_string("b"));
    assert_int_equal(cf_wf_resolve(wf, go_of(wf), c, NULL, 0, &to, &err), 0);
    assert_string_equal(to, "b");
    cf_wf_free(wf);

    /* A runtime error names file and line. */
    assert_int_equal(load_on("function(case)\n  local x = nil\n  return x.y\nend",
                             &wf, &err), 0);
    assert_int_equal(cf_wf_resolve(wf, go_of(wf), c, NULL, 0, &to, &err),
                     CF_ESCRIPT);
    assert_non_null(strstr(err.message, "wf.lua:6: attempt to index"));
    /* One line: the traceback is kept apart, for --verbose and the log. */
    assert_null(strstr(err.message, "traceback"));
    assert_null(strchr(err.message, '\n'));
    assert_non_null(cf_wf_error_trace(wf));
    assert_non_null(strstr(cf_wf_error_trace(wf), "stack traceback:"));
    assert_non_null(strstr(cf_wf_error_trace(wf), "wf.lua:6:"));
    cf_wf_free(wf);

    /* An error without a position gets the line that raised it. */
    assert_int_equal(load_on("function(case)\n  if case.data.no then return \"b\" end\n"
                             "  error({}, 0)\nend", &wf, &err), 0);
    assert_int_equal(cf_wf_resolve(wf, go_of(wf), c, NULL, 0, &to, &err),
                     CF_ESCRIPT);
    assert_non_null(strstr(err.message, "wf.lua:6: (error object is a table value)"));
    cf_wf_free(wf);

    /* now() is the engine clock. */
    assert_int_equal(load_on("function() if now() == 1700000000 then return"
                             " \"b\" end return \"c\" end", &wf, &err), 0);
    assert_int_equal(cf_wf_resolve(wf, go_of(wf), c, NULL, 1700000000, &to,
                                   &err), 0);
    assert_string_equal(to, "b");
    assert_int_equal(cf_wf_resolve(wf, go_of(wf), c, NULL, 5, &to, &err), 0);
    assert_string_equal(to, "c");
    cf_wf_free(wf);
    json_decref(c);
}

/* ---- the case view --------------------------------------------------------- */

static const char view_fn[] =
    "function(case, event)\n"
    "  local d = case.data\n"
    "  assert(case.id == \"C-1\", \"id\")\n"
    "  assert(d.person.address.postcode == \"ZZ1 1ZZ\", \"nested\")\n"
    "  assert(#d.ip_events == 2, \"len\")\n"
    "  assert(d.ip_events[1].ip == \"203.0.113.45\", \"1-based\")\n"
    "  assert(d.ip_events[2].port == 51812, \"integer\")\n"
    "  assert(math.type(d.ip_events[2].port) == \"integer\", \"int type\")\n"
    "  assert(d.ip_events[3] == nil and d.ip_events[0] == nil, \"bounds\")\n"
    "  assert(d.score == 0.25 and d.flag == true and d.off == false, \"scalars\")\n"
    "  assert(d.nothing == nil and d.missing == nil, \"null\")\n"
    "  local n = 0\n"
    "  for i, e in ipairs(d.ip_events) do n = n + i end\n"
    "  assert(n == 3, \"ipairs\")\n"
    "  local keys = {}\n"
    "  for k, v in pairs(d.person) do keys[#keys + 1] = k end\n"
    "  assert(table.concat(keys, \",\") == \"name,address,dob\", \"pairs \" .. table.concat(keys, \",\"))\n"
    "  local idx = 0\n"
    "  for k in pairs(d.ip_events) do idx = idx + k end\n"
    "  assert(idx == 3, \"array pairs\")\n"
    "  assert(#d.person == 0, \"object len\")\n"
    "  assert(d.person == d.person, \"eq\")\n"
    "  assert(tostring(case) == \"case view\", \"tostring\")\n"
    "  assert(getmetatable(case) == \"read-only view\", \"metatable\")\n"
    "  local ok, e = pcall(function() case.data.x = 1 end)\n"
    "  assert(not ok and e:find(\"case is read%-only\"), \"write\")\n"
    "  ok, e = pcall(function() d.person.name = \"x\" end)\n"
    "  assert(not ok and e:find(\"read%-only\"), \"nested write\")\n"
    "  ok, e = pcall(function() event.data.y = 1 end)\n"
    "  assert(not ok and e:find(\"event is read%-only\"), \"event write\")\n"
    "  ok = pcall(setmetatable, case, {})\n"
    "  assert(not ok, \"setmetatable on a view\")\n"
    "  assert(event.name == \"assess\" and event.data.grade == \"high\", \"event\")\n"
    "  assert(event.actor == \"officer-1\", \"actor\")\n"
    "  return \"b\"\n"
    "end";

static void test_case_view(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    const char *to = NULL;
    json_error_t jerr;
    json_t *c = json_loads(
        "{\"id\":\"C-1\",\"state\":\"a\",\"revision\":4,\"data\":{"
        "\"person\":{\"name\":\"Synthetic Person\",\"address\":{\"postcode\":"
        "\"ZZ1 1ZZ\"},\"dob\":\"1990-01-01\"},"
        "\"ip_events\":[{\"ip\":\"203.0.113.45\"},{\"port\":51812}],"
        "\"score\":0.25,\"flag\":true,\"off\":false,\"nothing\":null}}",
        0, &jerr);
    json_t *ev = json_pack("{s:s, s:s, s:{s:s}}", "name", "assess", "actor",
                           "officer-1", "data", "grade", "high");
    assert_non_null(c);
    assert_int_equal(load_on(view_fn, &wf, &err), 0);
    int rc = cf_wf_resolve(wf, go_of(wf), c, ev, 0, &to, &err);
    if (rc != 0)
        fail_msg("%s", err.message);
    assert_string_equal(to, "b");
    /* The documents are unchanged and their references balanced. */
    assert_int_equal(c->refcount, 1);
    assert_int_equal(ev->refcount, 1);
    assert_null(json_object_get(json_object_get(c, "data"), "x"));
    json_decref(c);
    json_decref(ev);
    cf_wf_free(wf);
}

/* ---- bundles ----------------------------------------------------------------- */

static void test_bundle(void **state)
{
    (void)state;
    char path[512];
    json_t *b = NULL;
    cf_error err = {0};
    assert_int_equal(cf_wf_bundle_from_file(fixture("good/polit.lua", path,
                                                    sizeof path), &b, &err), 0);
    assert_string_equal(json_string_value(json_object_get(b, "main")), "polit");
    assert_string_equal(json_string_value(json_object_get(b, "file")),
                        "polit.lua");
    json_t *mods = json_object_get(b, "modules");
    assert_int_equal(json_object_size(mods), 3);
    assert_non_null(json_object_get(mods, "polit"));
    assert_non_null(strstr(json_string_value(json_object_get(mods, "policy")),
                           "visit_eligible"));
    assert_non_null(json_object_get(mods, "lib.util"));
    json_t *assets = json_object_get(b, "assets");
    assert_int_equal(json_object_size(assets), 1);
    assert_string_equal(json_string_value(json_object_get(
                            assets, "letters/warning.txt")),
                        "Synthetic warning letter for {{name}}.\n");

    /* The same bundle hashes the same; loading needs no file system. */
    cf_wf *w1, *w2;
    assert_int_equal(cf_wf_load(b, &w1, &err), 0);
    assert_int_equal(cf_wf_load(b, &w2, &err), 0);
    assert_string_equal(w1->hash, w2->hash);
    assert_ptr_equal(w1->bundle, b);
    cf_wf_free(w2);

    /* A changed module changes the hash. */
    json_t *b2 = json_deep_copy(b);
    json_object_set_new(json_object_get(b2, "modules"), "policy",
                        json_string("local M = {}\n"
                                    "function M.visit_eligible() return true end\n"
                                    "return M\n"));
    assert_int_equal(cf_wf_load(b2, &w2, &err), 0);
    assert_string_not_equal(w1->hash, w2->hash);
    cf_wf_free(w1);
    cf_wf_free(w2);

    /* A bundle without the module a script requires does not load. */
    json_object_del(json_object_get(b2, "modules"), "lib.util");
    assert_int_equal(cf_wf_load(b2, &w2, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "lib.util"));
    /* Nor one without its assets. */
    json_decref(b2);
    b2 = json_deep_copy(b);
    json_object_clear(json_object_get(b2, "assets"));
    assert_int_equal(cf_wf_load(b2, &w2, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "letters/warning.txt"));
    json_decref(b2);
    json_t *empty = json_object();
    assert_int_equal(cf_wf_load(empty, &w2, &err), CF_EINVALID);
    json_decref(empty);
    json_decref(b);

    assert_int_equal(cf_wf_bundle_from_file("/nonexistent/x.lua", &b, &err),
                     CF_ENOTFOUND);
    assert_null(b);
}

static void test_bundle_hash_follows_module_file(void **state)
{
    (void)state;
    char path[512];
    json_t *b1 = NULL, *b2 = NULL;
    cf_wf *w1, *w2;
    cf_error err = {0};
    write_file("hash/main.lua",
               "local p = require(\"dep\")\n"
               "return workflow { name = \"h\", version = 1, initial = \"a\","
               " states = { a = { final = p.final } } }\n");
    write_file("hash/dep.lua", "return { final = true }\n");
    snprintf(path, sizeof path, "%s/hash/main.lua", tmpdir);
    assert_int_equal(cf_wf_bundle_from_file(path, &b1, &err), 0);
    write_file("hash/dep.lua", "return { final = true } -- changed\n");
    assert_int_equal(cf_wf_bundle_from_file(path, &b2, &err), 0);
    assert_int_equal(cf_wf_load(b1, &w1, &err), 0);
    assert_int_equal(cf_wf_load(b2, &w2, &err), 0);
    assert_string_not_equal(w1->hash, w2->hash);
    assert_string_equal(json_string_value(json_object_get(b1, "main")), "main");
    cf_wf_free(w1);
    cf_wf_free(w2);
    json_decref(b1);
    json_decref(b2);

    /* Assets must be text. */
    write_file("hash/bin.txt", "x");
    snprintf(path, sizeof path, "%s/hash/bin.txt", tmpdir);
    FILE *f = fopen(path, "wb");
    fwrite("\xff\xfe\x00", 1, 3, f);
    fclose(f);
    write_file("hash/assets.lua",
               "return workflow { name = \"h\", version = 1, initial = \"a\","
               " assets = { \"bin.txt\" }, states = { a = { final = true } } }\n");
    snprintf(path, sizeof path, "%s/hash/assets.lua", tmpdir);
    assert_int_equal(cf_wf_bundle_from_file(path, &b1, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "not UTF-8 text"));
}

/* ---- check --------------------------------------------------------------- */

static json_t *findings(json_t *diags, const char *rule)
{
    json_t *out = json_array();
    size_t i;
    json_t *f;
    json_array_foreach(diags, i, f)
        if (strcmp(json_string_value(json_object_get(f, "rule")), rule) == 0)
            json_array_append(out, f);
    return out;
}

static int line_of(json_t *f)
{
    return (int)json_integer_value(json_object_get(f, "line"));
}

static void test_check_lint(void **state)
{
    (void)state;
    char path[512], plugins[512];
    cf_error err = {0};
    json_t *diags = json_array();
    fixture("check/lint.lua", path, sizeof path);
    assert_int_equal(cf_wf_check(path, NULL, diags, &err), 0);

    json_t *u = findings(diags, "undefined-state");
    assert_int_equal(json_array_size(u), 1);
    assert_int_equal(line_of(json_array_get(u, 0)), 11);
    assert_string_equal(json_string_value(json_object_get(json_array_get(u, 0),
                                                          "file")), path);
    assert_non_null(strstr(json_string_value(json_object_get(
                               json_array_get(u, 0), "message")), "nowhere"));
    json_decref(u);
    json_t *nt = findings(diags, "no-targets");
    assert_int_equal(json_array_size(nt), 1);
    assert_int_equal(line_of(json_array_get(nt, 0)), 12);
    json_decref(nt);
    /* pick may reach any state, so nothing is unreachable. */
    json_t *un = findings(diags, "unreachable");
    assert_int_equal(json_array_size(un), 0);
    json_decref(un);
    assert_int_equal(json_array_size(diags), 2);

    /* With a loader: the step plugin is missing. */
    cf_loader *loader = NULL;
    snprintf(plugins, sizeof plugins, "%s/no-plugins-here", tmpdir);
    if (cf_loader_new(plugins, &loader, &err) == 0) {
        json_array_clear(diags);
        assert_int_equal(cf_wf_check(path, loader, diags, &err), 0);
        json_t *mp = findings(diags, "missing-plugin");
        assert_int_equal(json_array_size(mp), 1);
        assert_int_equal(line_of(json_array_get(mp, 0)), 7);
        json_decref(mp);
        cf_loader_free(loader);
    }
    json_decref(diags);
}

static void test_check_unreachable(void **state)
{
    (void)state;
    char path[512];
    cf_error err = {0};
    json_t *diags = json_array();
    assert_int_equal(cf_wf_check(fixture("check/unreachable.lua", path,
                                         sizeof path), NULL, diags, &err), 0);
    assert_int_equal(json_array_size(diags), 1);
    json_t *f = json_array_get(diags, 0);
    assert_string_equal(json_string_value(json_object_get(f, "rule")),
                        "unreachable");
    assert_int_equal(line_of(f), 8);
    assert_non_null(strstr(json_string_value(json_object_get(f, "message")),
                           "'c'"));
    json_decref(diags);
}

static void test_check_syntax(void **state)
{
    (void)state;
    char path[512], mod[512];
    cf_error err = {0};
    json_t *diags = json_array();
    assert_int_equal(cf_wf_check(fixture("check/syntax.lua", path, sizeof path),
                                 NULL, diags, &err), 0);
    assert_int_equal(json_array_size(diags), 1);
    json_t *f = json_array_get(diags, 0);
    assert_string_equal(json_string_value(json_object_get(f, "rule")), "syntax");
    assert_int_equal(line_of(f), 5);
    assert_string_equal(json_string_value(json_object_get(f, "file")), path);

    /* A runtime error in a required module points into the module. */
    json_array_clear(diags);
    assert_int_equal(cf_wf_check(fixture("check/modfail.lua", path, sizeof path),
                                 NULL, diags, &err), 0);
    assert_int_equal(json_array_size(diags), 1);
    f = json_array_get(diags, 0);
    assert_string_equal(json_string_value(json_object_get(f, "rule")), "syntax");
    assert_int_equal(line_of(f), 3);
    assert_string_equal(json_string_value(json_object_get(f, "file")),
                        fixture("check/broken.lua", mod, sizeof mod));
    assert_non_null(strstr(json_string_value(json_object_get(f, "message")),
                           "broken on purpose"));

    /* The good workflow has one finding: `approved` declares no targets. */
    json_array_clear(diags);
    assert_int_equal(cf_wf_check(fixture("good/polit.lua", path, sizeof path),
                                 NULL, diags, &err), 0);
    if (json_array_size(diags) != 1) {
        char *s = json_dumps(diags, 0);
        fail_msg("unexpected findings %s", s);
    }
    f = json_array_get(diags, 0);
    assert_string_equal(json_string_value(json_object_get(f, "rule")),
                        "no-targets");
    assert_int_equal(line_of(f), 26);
    assert_int_equal(cf_wf_check("/nonexistent/wf.lua", NULL, diags, &err),
                     CF_ENOTFOUND);
    json_decref(diags);
}

static void test_check_structure(void **state)
{
    (void)state;
    char path[512];
    cf_error err = {0};
    json_t *diags = json_array();
    write_file("lint2.lua",
               "return workflow {\n"
               "  name = \"x\", version = 1, initial = \"a\",\n"
               "  states = {\n"
               "    a = { stepp = \"x\", on = { go = \"b\" } },\n"
               "    b = { roles = { \"janitor\" }, on = { go = \"zz\" } },\n"
               "  },\n"
               "}\n");
    snprintf(path, sizeof path, "%s/lint2.lua", tmpdir);
    assert_int_equal(cf_wf_check(path, NULL, diags, &err), 0);
    json_t *s = findings(diags, "structure");
    assert_int_equal(json_array_size(s), 2);
    assert_int_equal(line_of(json_array_get(s, 0)) +
                         line_of(json_array_get(s, 1)), 4 + 5);
    json_decref(s);
    s = findings(diags, "undefined-state");
    assert_int_equal(json_array_size(s), 1);
    assert_int_equal(line_of(json_array_get(s, 0)), 5);
    json_decref(s);
    json_decref(diags);
}

/* The unaccepted-event rule needs a real plugin: the loader tests' "good"
 * module, when it has been built. */
static void test_check_unaccepted(void **state)
{
    (void)state;
    const char *build = getenv("CASEFLOW_BUILDDIR");
    char plugins[512], path[512], src[2048];
    cf_loader *loader = NULL;
    const cf_module *m = NULL;
    cf_error err = {0};
    snprintf(plugins, sizeof plugins, "%s/tests/plugins",
             build ? build : ".");
    if (cf_loader_new(plugins, &loader, &err) != 0)
        skip();
    if (cf_loader_get(loader, "good", &m, &err) != 0 || m->desc->accepts == NULL
        || m->desc->accepts[0] == NULL) {
        cf_loader_free(loader);
        skip();
    }
    snprintf(src, sizeof src,
             "return workflow {\n"
             "  name = \"u\", version = 1, initial = \"a\",\n"
             "  states = {\n"
             "    a = { step = \"good\", timer = { days = 1, event = \"tick\" },\n"
             "      on = {\n"
             "        [\"%s\"] = \"b\",\n"
             "        zz_not_an_event = \"b\",\n"
             "        tick = \"b\",\n"
             "        repeat_referral = \"b\",\n"
             "        sys = { to = \"b\", system = true },\n"
             "      } },\n"
             "    b = { final = true },\n"
             "  },\n"
             "}\n", m->desc->accepts[0]);
    write_file("unacc.lua", src);
    snprintf(path, sizeof path, "%s/unacc.lua", tmpdir);
    json_t *diags = json_array();
    assert_int_equal(cf_wf_check(path, loader, diags, &err), 0);
    json_t *u = findings(diags, "unaccepted-event");
    assert_int_equal(json_array_size(u), 1);
    assert_int_equal(line_of(json_array_get(u, 0)), 7);
    json_decref(u);
    json_decref(diags);
    cf_loader_free(loader);
}

/* A plugin's outcomes (issue 10, item 6), with the test plugin "triage",
 * whose emits has a typo (triage.urgnet): the typo found as an outcome no
 * transition takes, a manual transition shown as a warning, manual where
 * it means nothing an error; and manual parsed as a list of roles. */
/* A plugin may not claim repeat_referral, which the engine raises itself. */
static void test_check_engine_event_outcome(void **state)
{
    (void)state;
    const char *build = getenv("CASEFLOW_BUILDDIR");
    char plugins[512], path[512];
    cf_loader *loader = NULL;
    const cf_module *m = NULL;
    cf_error err = {0};
    snprintf(plugins, sizeof plugins, "%s/tests/plugins", build ? build : ".");
    if (cf_loader_new(plugins, &loader, &err) != 0)
        skip();
    if (cf_loader_get(loader, "rerouter", &m, &err) != 0) {
        cf_loader_free(loader);
        skip();
    }
    static const char src[] =
        "return workflow {\n"
        "  name = \"r\", version = 1, initial = \"a\",\n"
        "  states = {\n"
        "    a = { step = \"rerouter\", roles = { \"officer\" },\n"
        "      on = { [\"reroute.submit\"] = \"a\", repeat_referral = \"b\" } },\n"
        "    b = { final = true },\n"
        "  },\n"
        "}\n";
    write_file("rerouter.lua", src);
    snprintf(path, sizeof path, "%s/rerouter.lua", tmpdir);
    json_t *diags = json_array();
    assert_int_equal(cf_wf_check(path, loader, diags, &err), 0);
    json_t *u = findings(diags, "engine-event-outcome");
    assert_int_equal(json_array_size(u), 1);
    assert_int_equal(line_of(json_array_get(u, 0)), 4);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(u, 0), "message")),
                           "plugin 'rerouter' emits 'repeat_referral'"));
    json_decref(u);
    json_decref(diags);
    cf_loader_free(loader);
}

static void test_check_outcomes(void **state)
{
    (void)state;
    const char *build = getenv("CASEFLOW_BUILDDIR");
    char plugins[512], path[512];
    cf_loader *loader = NULL;
    const cf_module *m = NULL;
    cf_error err = {0};
    snprintf(plugins, sizeof plugins, "%s/tests/plugins", build ? build : ".");
    if (cf_loader_new(plugins, &loader, &err) != 0)
        skip();
    if (cf_loader_get(loader, "triage", &m, &err) != 0) {
        cf_loader_free(loader);
        skip();
    }
    static const char src[] =
        "return workflow {\n"
        "  name = \"o\", version = 1, initial = \"a\",\n"
        "  states = {\n"
        "    a = { step = \"triage\", roles = { \"officer\" },\n"
        "      on = {\n"
        "        [\"triage.submit\"] = { to = \"a\", manual = { \"officer\" } },\n"
        "        [\"triage.urgent\"] = \"b\",\n"
        "        [\"triage.routine\"] = { to = \"b\", manual = { \"supervisor\", \"officer\" } },\n"
        "      } },\n"
        "    b = { roles = { \"officer\" }, on = { close = { to = \"c\", manual = { \"officer\" } } } },\n"
        "    c = { final = true },\n"
        "  },\n"
        "}\n";
    write_file("outcomes.lua", src);
    snprintf(path, sizeof path, "%s/outcomes.lua", tmpdir);
    json_t *diags = json_array();
    assert_int_equal(cf_wf_check(path, loader, diags, &err), 0);
    json_t *u = findings(diags, "unmapped-outcome");
    assert_int_equal(json_array_size(u), 1);
    assert_int_equal(line_of(json_array_get(u, 0)), 4);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(u, 0), "message")),
                           "plugin 'triage' emits 'triage.urgnet', which no transition"));
    assert_null(json_object_get(json_array_get(u, 0), "severity"));
    json_decref(u);
    u = findings(diags, "manual-outcome");
    assert_int_equal(json_array_size(u), 1);
    assert_int_equal(line_of(json_array_get(u, 0)), 8);
    assert_string_equal(json_string_value(json_object_get(json_array_get(u, 0), "severity")),
                        "warning");
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(u, 0), "message")),
                           "(manual: supervisor, officer)"));
    json_decref(u);
    u = findings(diags, "manual-not-outcome");
    assert_int_equal(json_array_size(u), 2);
    assert_int_equal(line_of(json_array_get(u, 0)) + line_of(json_array_get(u, 1)), 6 + 10);
    json_decref(u);
    u = findings(diags, "unaccepted-event");
    assert_int_equal(json_array_size(u), 1); /* triage.urgent: what the typo leaves */
    json_decref(u);
    json_decref(diags);
    cf_loader_free(loader);

    cf_wf *wf = NULL;
    assert_int_equal(load_src(src, &wf, &err), 0);
    const cf_wf_transition *t = cf_wf_find_transition(cf_wf_find_state(wf, "a"),
                                                      "triage.routine");
    assert_non_null(t);
    assert_int_equal(t->nmanual, 2);
    assert_string_equal(t->manual[0], "supervisor");
    assert_string_equal(t->manual[1], "officer");
    assert_int_equal(cf_wf_find_transition(cf_wf_find_state(wf, "a"), "triage.urgent")->nmanual,
                     0);
    cf_wf_free(wf);
}

/* Exactly these (rule, line) findings, in any order, for fixture rel. */
static void expect_findings(const char *rel, const char *const *rules, const int *lines,
                            size_t n)
{
    char path[512];
    cf_error err = {0};
    json_t *diags = json_array();
    assert_int_equal(cf_wf_check(fixture(rel, path, sizeof path), NULL, diags, &err), 0);
    if (json_array_size(diags) != n) {
        char *s = json_dumps(diags, 0);
        fail_msg("%s: unexpected findings %s", rel, s);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *f = findings(diags, rules[i]);
        bool seen = false;
        for (size_t j = 0; j < json_array_size(f) && !seen; j++)
            seen = line_of(json_array_get(f, j)) == lines[i];
        if (!seen)
            fail_msg("%s: no %s finding on line %d", rel, rules[i], lines[i]);
        json_decref(f);
    }
    json_decref(diags);
}

/* The mistakes that break live cases (issue 9): one fixture per kind. */
static void test_check_live_mistakes(void **state)
{
    (void)state;
    expect_findings("check/timer.lua", (const char *[]){"timer-event"}, (int[]){7}, 1);
    expect_findings("check/guard.lua",
                    (const char *[]){"guard-target", "guard-target", "no-result",
                                     "no-targets"},
                    (int[]){4, 5, 18, 20}, 4);
    expect_findings("check/data.lua", (const char *[]){"undeclared-data", "undeclared-data"},
                    (int[]){3, 18}, 2);
    /* The shipped workflow is clean. */
    const char *src = getenv("CASEFLOW_SRCDIR");
    char path[512];
    cf_error err = {0};
    json_t *diags = json_array();
    snprintf(path, sizeof path, "%s/workflows/polit.lua", src ? src : ".");
    assert_int_equal(cf_wf_check(path, NULL, diags, &err), 0);
    if (json_array_size(diags) != 0) {
        char *s = json_dumps(diags, 0);
        fail_msg("polit.lua: unexpected findings %s", s);
    }
    json_decref(diags);
}

/* Declared event data: the declarations, and what the engine refuses. */
static void test_event_data(void **state)
{
    (void)state;
    cf_wf *wf = NULL;
    cf_error err = {0};
    assert_int_equal(load_on("{ to = \"b\", data = { letter = \"boolean\","
                             " notes = { type = \"string\", required = false },"
                             " at = \"time\" } }", &wf, &err), 0);
    const cf_wf_transition *t = go_of(wf);
    assert_true(t->has_data);
    assert_int_equal(t->nfields, 3);
    json_t *d = json_pack("{s:b, s:s}", "letter", 1, "at", "2026-11-03T10:00:00Z");
    assert_int_equal(cf_wf_event_data_check(t, "go", d, &err), 0);
    json_object_set_new(d, "notes", json_string("fine"));
    assert_int_equal(cf_wf_event_data_check(t, "go", d, &err), 0);
    json_object_set_new(d, "letter", json_string("yes"));
    assert_int_equal(cf_wf_event_data_check(t, "go", d, &err), CF_EINVALID);
    assert_string_equal(err.field, "data.letter");
    assert_non_null(strstr(err.message, "data.letter: expected boolean"));
    json_object_set_new(d, "letter", json_false());
    json_object_set_new(d, "lettre", json_true());
    assert_int_equal(cf_wf_event_data_check(t, "go", d, &err), CF_EINVALID);
    assert_string_equal(err.field, "data.lettre");
    json_object_del(d, "lettre");
    json_object_set_new(d, "at", json_string("2026-11-03T10:00:00"));
    assert_int_equal(cf_wf_event_data_check(t, "go", d, &err), CF_EINVALID);
    assert_string_equal(err.field, "data.at");
    json_object_del(d, "at");
    assert_int_equal(cf_wf_event_data_check(t, "go", d, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "data.at: required"));
    assert_int_equal(cf_wf_event_data_check(t, "go", NULL, &err), CF_EINVALID);
    json_decref(d);
    cf_wf_free(wf);

    /* Nothing declared: any data, as before. */
    assert_int_equal(load_on("\"b\"", &wf, &err), 0);
    d = json_pack("{s:i}", "anything", 1);
    assert_int_equal(cf_wf_event_data_check(go_of(wf), "go", d, &err), 0);
    cf_wf_free(wf);
    /* data = {}: no data at all. */
    assert_int_equal(load_on("{ to = \"b\", data = {} }", &wf, &err), 0);
    assert_int_equal(cf_wf_event_data_check(go_of(wf), "go", NULL, &err), 0);
    assert_int_equal(cf_wf_event_data_check(go_of(wf), "go", d, &err), CF_EINVALID);
    json_decref(d);
    cf_wf_free(wf);

    /* Bad declarations are structure errors. */
    assert_int_equal(load_on("{ to = \"b\", data = { x = \"bool\" } }", &wf, &err),
                     CF_EINVALID);
    assert_non_null(strstr(err.message, "the type must be one of"));
    assert_int_equal(load_on("{ to = \"b\", data = { x = { type = \"string\","
                             " optional = true } } }", &wf, &err), CF_EINVALID);
    assert_non_null(strstr(err.message, "unknown key 'optional'"));
    assert_int_equal(load_on("{ to = \"b\", data = \"x\" }", &wf, &err), CF_EINVALID);
    assert_int_equal(load_on("{ to = \"b\", data = { [1] = \"string\" } }", &wf, &err),
                     CF_EINVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_workflow),
        cmocka_unit_test(test_source_lines),
        cmocka_unit_test(test_good_resolve),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_workflow_marker),
        cmocka_unit_test(test_resolve_results),
        cmocka_unit_test(test_case_view),
        cmocka_unit_test(test_bundle),
        cmocka_unit_test(test_bundle_hash_follows_module_file),
        cmocka_unit_test(test_check_lint),
        cmocka_unit_test(test_check_unreachable),
        cmocka_unit_test(test_check_syntax),
        cmocka_unit_test(test_check_structure),
        cmocka_unit_test(test_check_unaccepted),
        cmocka_unit_test(test_check_outcomes),
        cmocka_unit_test(test_check_engine_event_outcome),
        cmocka_unit_test(test_check_live_mistakes),
        cmocka_unit_test(test_event_data),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
