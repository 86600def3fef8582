/*
 * Sandbox tests of engine/workflow/: hostile workflow scripts. Each one
 * tries to reach what the sandbox removes (io, os, debug, package, files,
 * binary chunks), to outrun the instruction budget, the memory cap or the
 * time budget from inside pcall or inside C library functions (string.rep,
 * pattern matching, table.sort, table.concat, string.format, ...), to leave
 * the workflow directory with require, or to change something a later call
 * would see (globals, library tables, the string metatable, upvalues).
 * Checks inside Lua end in `return "b"`; a failed check raises, and the
 * test prints the script's message. Budget tests assert only that a call
 * ended with the right kind of error, never how fast.
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
#include <sys/wait.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "internal.h"

/* Under valgrind a process ended by the watchdog, in the middle of a call,
 * exits with valgrind's error status (its leak check finds the Lua state
 * half way through). */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CF_UNDER_VALGRIND() RUNNING_ON_VALGRIND
#endif
#endif
#ifndef CF_UNDER_VALGRIND
#define CF_UNDER_VALGRIND() 0
#endif

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
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cf-sb-XXXXXX");
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

/* Load a workflow whose state a has transitions f1..f3 (function sources,
 * NULL for a constant) after the top-level code prelude. */
static int load_fns(const char *prelude, const char *f1, const char *f2,
                    const char *f3, cf_wf **wf, cf_error *err)
{
    size_t size = strlen(prelude) + (f1 ? strlen(f1) : 0) +
                  (f2 ? strlen(f2) : 0) + (f3 ? strlen(f3) : 0) + 1024;
    char *src = malloc(size);
    char path[512];
    json_t *bundle = NULL;
    snprintf(src, size,
             "%s\n"
             "return workflow {\n"
             "  name = \"s\", version = 1, initial = \"a\",\n"
             "  states = {\n"
             "    a = { on = { f1 = %s, f2 = %s, f3 = %s } },\n"
             "    b = { on = { back = \"a\" } },\n"
             "  },\n"
             "}\n", prelude, f1 ? f1 : "\"b\"", f2 ? f2 : "\"b\"",
             f3 ? f3 : "\"b\"");
    write_file("sb.lua", src);
    free(src);
    snprintf(path, sizeof path, "%s/sb.lua", tmpdir);
    *wf = NULL;
    int rc = cf_wf_bundle_from_file(path, &bundle, err);
    if (rc == 0)
        rc = cf_wf_load(bundle, wf, err);
    json_decref(bundle);
    return rc;
}

/* Resolve transition fN of state a on a small synthetic case, under lim
 * (NULL: the default budget). */
static int call_with(cf_wf *wf, const char *event, const cf_wf_limits *lim,
                     const char **to, cf_error *err)
{
    json_t *c = json_pack("{s:s, s:{s:s}}", "id", "C-9", "data", "ip",
                          "198.51.100.7");
    const cf_wf_transition *t =
        cf_wf_find_transition(cf_wf_find_state(wf, "a"), event);
    assert_non_null(t);
    int rc = lim ? cf_wf_resolve_limited(wf, t, c, NULL, 1700000000, lim, to,
                                         err)
                 : cf_wf_resolve(wf, t, c, NULL, 1700000000, to, err);
    json_decref(c);
    return rc;
}

static int call(cf_wf *wf, const char *event, const char **to, cf_error *err)
{
    return call_with(wf, event, NULL, to, err);
}

/* Limits of a budget of ms milliseconds from now. */
static cf_wf_limits budget_of(int64_t ms)
{
    cf_wf_limits lim = {cf_time_monotonic_ms() + ms, ms};
    return lim;
}

/* The call (under a budget of ms, or the default when ms is 0) must be
 * stopped by a limit: CF_ESCRIPT with field ("budget": time or
 * instructions; "memory"), naming the workflow, the state and the case. */
static void expect_limit(cf_wf *wf, const char *event, int64_t ms,
                         const char *field)
{
    const char *to = NULL;
    cf_error err = {0};
    cf_wf_limits lim = budget_of(ms);
    int rc = call_with(wf, event, ms > 0 ? &lim : NULL, &to, &err);
    if (rc != CF_ESCRIPT || strcmp(err.field, field) != 0 ||
        strstr(err.message, "workflow s v1: state 'a', case C-9: ") == NULL ||
        strstr(err.message, "exceeded") == NULL)
        fail_msg("%s: rc %d field '%s': '%s', wanted a '%s' limit", event, rc,
                 err.field, err.message, field);
    assert_null(to);
}

/* The call must succeed and go to b. */
static void expect_b(cf_wf *wf, const char *event)
{
    const char *to = NULL;
    cf_error err = {0};
    if (call(wf, event, &to, &err) != 0)
        fail_msg("%s: %s", event, err.message);
    assert_non_null(to);
    assert_string_equal(to, "b");
}

static void expect_script_error(cf_wf *wf, const char *event, const char *msg)
{
    const char *to = NULL;
    cf_error err = {0};
    int rc = call(wf, event, &to, &err);
    if (rc != CF_ESCRIPT || strstr(err.message, msg) == NULL)
        fail_msg("%s: rc %d '%s', wanted '%s'", event, rc, err.message, msg);
    assert_null(to);
}

static const char absent[] =
    "assert(io == nil and os == nil and debug == nil and package == nil,"
    " 'libraries')\n"
    "assert(dofile == nil and loadfile == nil and collectgarbage == nil,"
    " 'base')\n"
    "assert(print == nil and rawset == nil and coroutine == nil, 'more')\n"
    "assert(string.dump == nil and math.random == nil and"
    " math.randomseed == nil, 'dump/random')\n"
    "assert(type(require) == 'function' and type(load) == 'function', 'kept')\n";

static void test_libraries_absent(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    char fn[1024];
    snprintf(fn, sizeof fn, "function()\n%s return 'b' end", absent);
    /* At load time and inside a call. */
    if (load_fns(absent, fn, NULL, NULL, &wf, &err) != 0)
        fail_msg("%s", err.message);
    expect_b(wf, "f1");
    cf_wf_free(wf);
}

/* Bytecode built outside the sandbox, as a Lua string literal. */
struct dump {
    char *p;
    size_t n;
};

static int dump_writer(lua_State *L, const void *p, size_t sz, void *ud)
{
    struct dump *d = ud;
    (void)L;
    char *q = realloc(d->p, d->n + sz);
    if (q == NULL)
        return 1;
    memcpy(q + d->n, p, sz);
    d->p = q;
    d->n += sz;
    return 0;
}

static char *binary_chunk_literal(void)
{
    lua_State *L = luaL_newstate();
    struct dump d = {NULL, 0};
    assert_int_equal(luaL_loadstring(L, "return 'escaped'"), LUA_OK);
    assert_int_equal(lua_dump(L, dump_writer, &d, 0), 0);
    lua_close(L);
    assert_true(d.n > 4 && d.p[0] == '\x1b');
    char *lit = malloc(d.n * 4 + 3), *o = lit;
    *o++ = '"';
    for (size_t i = 0; i < d.n; i++)
        o += sprintf(o, "\\%u", (unsigned char)d.p[i]);
    *o++ = '"';
    *o = '\0';
    free(d.p);
    return lit;
}

static void test_binary_chunk_refused(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    char *lit = binary_chunk_literal();
    size_t n = strlen(lit) + 512;
    char *prelude = malloc(n);
    snprintf(prelude, n,
             "local BIN = %s\n"
             "local f, e = load(BIN)\n"
             "assert(f == nil and e:find('binary'), tostring(e))\n"
             "f, e = load(BIN, 'x', 'b')\n"
             "assert(f == nil and e:find('binary'), tostring(e))\n"
             "local ok = pcall(load, function() return BIN end)\n"
             "assert(not ok, 'reader functions')\n", lit);
    if (load_fns(prelude,
                 "function() local f, e = load(BIN, 'x', 'bt')\n"
                 " if f == nil and e:find('binary') then return 'b' end\n"
                 " return f() end", NULL, NULL, &wf, &err) != 0)
        fail_msg("%s", err.message);
    expect_b(wf, "f1");
    cf_wf_free(wf);
    free(prelude);
    free(lit);
}

static void test_budget(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    assert_int_equal(load_fns("",
        "function() while true do end end",
        "function() while true do pcall(function() while true do end end) end end",
        "function() local function f() return f() end\n"
        "  for i = 1, 1e9 do pcall(f); xpcall(f, function() while true do end end) end\n"
        "  return 'b' end",
        &wf, &err), 0);
    /* Instructions or time, whichever comes first (under valgrind, time). */
    expect_limit(wf, "f1", 0, "budget");
    expect_limit(wf, "f2", 0, "budget");
    expect_script_error(wf, "f2", "exceeded");
    expect_script_error(wf, "f2", " at sb.lua:5");
    expect_limit(wf, "f3", 0, "budget");
    /* The state still works, and a string target never touches Lua. */
    const char *to = NULL;
    const cf_wf_transition *back =
        cf_wf_find_transition(cf_wf_find_state(wf, "b"), "back");
    assert_int_equal(cf_wf_resolve(wf, back, NULL, NULL, 0, &to, &err), 0);
    assert_string_equal(to, "a");
    cf_wf_free(wf);

    /* A budget-breaking script at load time. */
    assert_int_equal(load_fns("local n = 0 while true do pcall(function() n = n + 1 end) end",
                              NULL, NULL, NULL, &wf, &err), CF_ESCRIPT);
    assert_string_equal(err.field, "budget");
    assert_non_null(strstr(err.message, "sb.lua:1: "));
    assert_null(wf);
}

static void test_memory_cap(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    /* The strings are built from a kilobyte: copying one byte at a time
     * would run out of instructions first. */
    assert_int_equal(load_fns("local K = string.rep('x', 1024)",
        "function() local t = {}\n"
        "  while true do pcall(function() t[#t + 1] = string.rep(K, 1024) .. #t end) end end",
        /* Caught and ignored: the call still fails. */
        "function() pcall(string.rep, 'x', 1 << 30) return 'b' end",
        "function() return 'b' end",
        &wf, &err), 0);
    /* Under a budget of 30 s: only the cap stops these, however slow the
     * machine (valgrind, a loaded CI runner); the default budget too. */
    expect_limit(wf, "f1", 30000, "memory");
    expect_limit(wf, "f2", 30000, "memory");
    /* The memory is back and the state still works. */
    expect_b(wf, "f3");
    expect_limit(wf, "f1", 30000, "memory");
    expect_b(wf, "f3");
    cf_wf_free(wf);

    /* At load time. */
    assert_int_equal(load_fns("local s = 'x' while true do s = s .. s end",
                              NULL, NULL, NULL, &wf, &err), CF_ESCRIPT);
    assert_non_null(strstr(err.message, "memory cap exceeded"));
}

static void test_require_confined(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    char out[512], link[512];
    write_file("outside.lua", "return { secret = true }\n");
    write_file("req/helper.lua", "return { n = 1, list = { 1, 2 } }\n");
    write_file("req/sub/deep.lua", "return { deep = true }\n");
    snprintf(out, sizeof out, "%s/outside.lua", tmpdir);
    snprintf(link, sizeof link, "%s/req/evil.lua", tmpdir);
    assert_int_equal(symlink(out, link), 0);
    write_file("req/sb.lua", "");
    /* load_fns writes sb.lua in tmpdir: put the workflow in req/ instead. */
    const char *src =
        "local bad = { '../x', '/etc/passwd', 'a.b..c', '.x', 'x.', 'a/b', '',"
        " 'a-b', 'a..b', 'a\\0b' }\n"
        "for _, n in ipairs(bad) do\n"
        "  local ok, e = pcall(require, n)\n"
        "  assert(not ok and e:find('invalid module name'), n .. ': ' .. tostring(e))\n"
        "end\n"
        /* Bundling reads the directory; loading serves the bundle. */
        "local ok, e = pcall(require, 'evil')\n"
        "assert(not ok and (e:find('leaves the workflow directory') or\n"
        "  e:find('no such module in the workflow')), tostring(e))\n"
        "ok, e = pcall(require, 'outside')\n"
        "assert(not ok and (e:find('not found') or\n"
        "  e:find('no such module in the workflow')), tostring(e))\n"
        "local helper = require('helper')\n"
        "assert(require('helper') == helper, 'cached')\n"
        "assert(require('sub.deep').deep, 'dots map to directories')\n"
        "return workflow {\n"
        "  name = \"r\", version = 1, initial = \"a\",\n"
        "  states = {\n"
        "    a = { on = {\n"
        "      f1 = function() local h = require('helper')\n"
        "        if h.n == 1 and h == helper then return 'b' end end,\n"
        "      f2 = function() return require('unloaded') end,\n"
        "      f3 = function() helper.n = 2 end,\n"
        "    } },\n"
        "    b = { final = true },\n"
        "  },\n"
        "}\n";
    char path[512];
    json_t *bundle = NULL;
    write_file("req/main.lua", src);
    snprintf(path, sizeof path, "%s/req/main.lua", tmpdir);
    if (cf_wf_bundle_from_file(path, &bundle, &err) != 0)
        fail_msg("%s", err.message);
    /* Only what was required is in the bundle. */
    json_t *mods = json_object_get(bundle, "modules");
    assert_int_equal(json_object_size(mods), 3);
    assert_non_null(json_object_get(mods, "sub.deep"));
    assert_null(json_object_get(mods, "evil"));
    if (cf_wf_load(bundle, &wf, &err) != 0)
        fail_msg("%s", err.message);
    json_decref(bundle);
    expect_b(wf, "f1");
    expect_script_error(wf, "f2", "must be required when the workflow loads");
    expect_script_error(wf, "f3", "read-only");
    expect_b(wf, "f1");
    cf_wf_free(wf);
}

static void test_string_metatable(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    if (load_fns("assert(getmetatable('') == false, 'hidden at load')",
        "function()\n"
        "  pcall(function() getmetatable('').__index.upper = function() return 'x' end end)\n"
        "  pcall(function() string.upper = function() return 'x' end end)\n"
        "  pcall(function() local mt = getmetatable('') mt.__index = {} end)\n"
        "  pcall(setmetatable, string, {})\n"
        "  return 'b' end",
        "function()\n"
        "  assert(getmetatable('') == false, 'metatable hidden')\n"
        "  assert(('a'):upper() == 'A' and string.upper('a') == 'A', 'upper')\n"
        "  assert(('%d'):format(5) == '5', 'methods')\n"
        "  return 'b' end",
        NULL, &wf, &err) != 0)
        fail_msg("%s", err.message);
    expect_b(wf, "f1");
    expect_b(wf, "f2");
    cf_wf_free(wf);
}

static void test_frozen_world(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    const char *prelude =
        "local count = 0\n"
        "local T = { v = 1, list = { 10, 20, 30 }, nested = { deep = { x = 1 } } }\n"
        "local helper = function() return T.v end\n"
        "G_SETTING = 'load time is fine'\n"
        "local mt = { __index = function(t, k) return k .. '!' end }\n"
        "local O = setmetatable({}, mt)\n";
    if (load_fns(prelude,
        /* f1 tries every way to leave a trace. */
        "function()\n"
        "  count = count + 1\n"
        "  T = { v = 2 }\n"
        "  helper = function() return 99 end\n"
        "  mt = nil\n"
        "  pcall(function() y = 1 end)\n"
        "  pcall(function() _G.z = 1 end)\n"
        "  pcall(function() string.x = 1 end)\n"
        "  pcall(function() table.insert = nil end)\n"
        "  pcall(function() G_SETTING = 'changed' end)\n"
        "  pcall(function() load('w = 1')() end)\n"
        "  return 'b' end",
        /* f2 sees none of it. */
        "function()\n"
        "  assert(count == 0, 'scalar upvalue restored')\n"
        "  assert(T.v == 1 and helper() == 1, 'upvalues restored')\n"
        "  assert(y == nil and z == nil and w == nil and string.x == nil, 'globals')\n"
        "  assert(type(table.insert) == 'function', 'library')\n"
        "  assert(G_SETTING == 'load time is fine', 'global kept')\n"
        "  assert(O.abc == 'abc!', 'metatables of frozen tables still work')\n"
        "  return 'b' end",
        /* f3: frozen tables refuse writes but read like tables. */
        "function()\n"
        "  local function refused(f, ...) local ok, e = pcall(f, ...)\n"
        "    assert(not ok and tostring(e):find('read%-only'), tostring(e)) end\n"
        "  refused(function() T.v = 5 end)\n"
        "  refused(function() T.nested.deep.x = 2 end)\n"
        "  refused(function() T.list[4] = 40 end)\n"
        "  refused(table.insert, T.list, 40)\n"
        "  refused(function() x_global = 1 end)\n"
        "  assert(not pcall(setmetatable, T, {}), 'setmetatable')\n"
        "  assert(getmetatable(T) == false, 'getmetatable')\n"
        "  assert(#T.list == 3 and T.list[2] == 20, 'len/index')\n"
        "  local sum = 0 for _, v in ipairs(T.list) do sum = sum + v end\n"
        "  assert(sum == 60, 'ipairs')\n"
        "  local n = 0 for k, v in pairs(T) do n = n + 1 end\n"
        "  assert(n == 3, 'pairs')\n"
        "  local iter, s = pairs(T)\n"
        "  assert(s == T, 'pairs hands out the proxy, not the original')\n"
        "  assert(table.concat(T.list, ',') == '10,20,30', 'concat')\n"
        "  assert(rawget(T, 'v') == nil, 'raw access sees an empty proxy')\n"
        "  local f = load('return G_SETTING')\n"
        "  assert(f() == 'load time is fine', 'load uses the frozen env')\n"
        "  assert(load('return x', 'c', 't', { x = 5 })() == 5, 'own env')\n"
        "  return 'b' end",
        &wf, &err) != 0)
        fail_msg("%s", err.message);
    expect_b(wf, "f2");
    expect_b(wf, "f1");
    expect_b(wf, "f2");
    expect_b(wf, "f3");
    expect_b(wf, "f1");
    expect_b(wf, "f2");
    cf_wf_free(wf);

    /* A plain global write is an error of the call. */
    assert_int_equal(load_fns("", "function() x = 1 return 'b' end", NULL, NULL,
                              &wf, &err), 0);
    expect_script_error(wf, "f1", "read-only table");
    cf_wf_free(wf);
}

static void test_c_level_loops_refused(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    if (load_fns("",
        "function()\n"
        "  local ok, e = pcall(string.find, string.rep('a', 300), string.rep('a?', 300))\n"
        "  assert(not ok and e:find('pattern too complex'), 'depth ' .. tostring(e))\n"
        "  assert(string.find(string.rep('a', 5000), 'a*b', 1, true) == nil, 'plain find')\n"
        "  assert(('2026-11-02'):match('^(%d+)-(%d+)-(%d+)$') == '2026', 'normal match')\n"
        "  assert(string.rep('', 1e15) == '' and string.rep('x', 3) == 'xxx', 'rep')\n"
        "  local big = setmetatable({}, { __len = function() return math.maxinteger end })\n"
        "  assert(not pcall(table.insert, big, 1, 'x'), 'insert')\n"
        "  assert(not pcall(table.remove, big, 1), 'remove')\n"
        "  assert(not pcall(table.sort, big), 'sort')\n"
        "  assert(not pcall(table.move, {}, 1, math.maxinteger, 2), 'move')\n"
        "  local t = { 3, 1, 2 } table.sort(t) table.insert(t, 4)\n"
        "  assert(table.concat(t) == '1234', 'table functions still work')\n"
        "  assert(not pcall(setmetatable, {}, { __gc = function() end }), '__gc')\n"
        "  assert(not pcall(setmetatable, {}, { __mode = 'k' }), '__mode')\n"
        "  return 'b' end",
        /* Backtracking that would run for minutes in C: pcall cannot
         * catch the end of the budget. */
        "function() pcall(string.find, string.rep('a', 5000), string.rep('a*', 10) .. 'b')\n"
        "  return 'b' end",
        "function() pcall(string.gsub, string.rep('a', 3000), '.-.-.-x', '')\n"
        "  return 'b' end",
        &wf, &err) != 0)
        fail_msg("%s", err.message);
    expect_b(wf, "f1");
    expect_limit(wf, "f2", 200, "budget");
    expect_limit(wf, "f3", 200, "budget");
    cf_wf_free(wf);
}

/* A string of kib kilobytes of c, built without a million one-byte
 * copies. */
static const char big_prelude[] =
    "local function big(c, kib) return string.rep(string.rep(c, 1024), kib) end\n";

/* string.rep refuses what the memory cap cannot hold before allocating
 * it, and a loop of allowed ones runs out of budget; an empty result costs
 * nothing whatever the count. */
static void test_rep_bounded(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    if (load_fns("",
        "function() pcall(string.rep, 'x', 20 << 20) return 'b' end",
        "function() for i = 1, 1e9 do local s = string.rep('x', 15 << 20) end end",
        "function() assert(string.rep('', 1e15) == '' and string.rep('ab', 2, ',') == 'ab,ab')\n"
        "  return 'b' end",
        &wf, &err) != 0)
        fail_msg("%s", err.message);
    expect_limit(wf, "f1", 200, "memory");
    expect_limit(wf, "f2", 200, "budget");
    expect_b(wf, "f3");
    cf_wf_free(wf);
}

/* Pattern matching counts its steps: a loop of allowed backtracking
 * matches, a plain search that is quadratic, and a gsub over a long
 * subject all end; patterns that were refused by a cost estimate (a trim
 * of a long string) now just run. */
static void test_patterns_bounded(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    char prelude[512];
    snprintf(prelude, sizeof prelude, "%s"
             "local S, P = big('a', 4096), big('a', 1024) .. 'b'\n"
             "local SHORT = string.rep('a', 400)\n", big_prelude);
    if (load_fns(prelude,
        "function() for i = 1, 1e9 do SHORT:find('.-.-b') end end",
        "function() for i = 1, 1e9 do S:find(P, 1, true) end end",
        "function()\n"
        "  local s = string.rep(' x ', 4000)\n"
        "  assert(#s:match('^%s*(.-)%s*$') == 3 * 4000 - 2, 'trim')\n"
        "  assert(('k=v; a=b'):gsub('(%w+)=(%w+)', '%2=%1') == 'v=k; b=a', 'gsub')\n"
        "  local n = 0 for w in ('a b c'):gmatch('%a') do n = n + 1 end\n"
        "  assert(n == 3, 'gmatch')\n"
        "  assert(select(2, ('x'):rep(10):gsub('x', {x = 'y'})) == 10, 'table repl')\n"
        "  assert(('hello'):find('l+') == 3 and ('(a)'):match('%b()') == '(a)', 'find')\n"
        "  return 'b' end",
        &wf, &err) != 0)
        fail_msg("%s", err.message);
    expect_limit(wf, "f1", 200, "budget");
    expect_limit(wf, "f2", 200, "budget");
    expect_b(wf, "f3");
    cf_wf_free(wf);
}

/* gsub and gmatch over many matches count every match, whatever the
 * replacement. */
static void test_gsub_gmatch_bounded(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    char prelude[512];
    snprintf(prelude, sizeof prelude, "%s"
             "local S = big('a', 4096)\n"
             "local R = { a = 'b' }\n", big_prelude);
    if (load_fns(prelude,
        "function() for i = 1, 1e9 do S:gsub('a', 'b') end end",
        "function() for i = 1, 1e9 do S:gsub('.', R) end end",
        "function() for i = 1, 1e9 do for w in S:gmatch('a') do end end end",
        &wf, &err) != 0)
        fail_msg("%s", err.message);
    expect_limit(wf, "f1", 200, "budget");
    expect_limit(wf, "f2", 200, "budget");
    expect_limit(wf, "f3", 200, "budget");
    cf_wf_free(wf);
}

/* table.sort: a C comparator runs no hook, but its calls are counted; a
 * sort too long for the budget does not start; an inconsistent comparator
 * is refused with a clean error. */
static void test_sort_bounded(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    if (load_fns("local T = {} for i = 1, 30000 do T[i] = (i * 7919) % 30011 end",
        "function() local t = table.move(T, 1, #T, 1, {})\n"
        "  for i = 1, 1e9 do table.sort(t, rawequal) end end",
        "function() local t = {} for i = 1, 1e6 do t[i] = i end\n"
        "  pcall(table.sort, t, function(a, b) return a > b end) return 'b' end",
        "function() local t = table.move(T, 1, 1000, 1, {})\n"
        "  local ok, e = pcall(table.sort, t, function(a, b) return true end)\n"
        "  assert(not ok and e:find('invalid order function'), tostring(e))\n"
        "  ok, e = pcall(table.sort, t, function(a, b) error('no') end)\n"
        "  assert(not ok and e:find('no'), tostring(e))\n"
        "  t = { 3, 1, 2 } table.sort(t, function(a, b) return a > b end)\n"
        "  assert(table.concat(t) == '321', 'sorted')\n"
        "  return 'b' end",
        &wf, &err) != 0)
        fail_msg("%s", err.message);
    expect_limit(wf, "f1", 200, "budget");
    expect_limit(wf, "f2", 200, "budget");
    expect_b(wf, "f3");
    cf_wf_free(wf);
}

/* table.concat and string.format charge what they read; %q charges every
 * control character it quotes with an snprintf. */
static void test_concat_format_bounded(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    char prelude[512];
    snprintf(prelude, sizeof prelude, "%s"
             "local T = {} for i = 1, 100000 do T[i] = 'ab' end\n"
             "local S, Q = big('x', 1024), big('\\1', 256)\n", big_prelude);
    if (load_fns(prelude,
        "function() for i = 1, 1e9 do local s = table.concat(T, ',') end end",
        "function() for i = 1, 1e9 do local s = string.format('%s', S) end end",
        "function() for i = 1, 1e9 do local s = string.format('%q', Q) end end",
        &wf, &err) != 0)
        fail_msg("%s", err.message);
    expect_limit(wf, "f1", 200, "budget");
    expect_limit(wf, "f2", 200, "budget");
    expect_limit(wf, "f3", 200, "budget");
    cf_wf_free(wf);
}

/* Functions that read a whole string: case conversion, reverse, byte
 * ranges, utf8, numbers given as long strings of digits, load. Results
 * beyond what the VM should copy are refused. */
static void test_string_functions_bounded(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    char prelude[512];
    snprintf(prelude, sizeof prelude, "%s"
             "local S, D = big('x', 1024), big('1', 1024)\n"
             "local SRC = string.rep('a = {1, 2, 3} ', 20000)\n", big_prelude);
    if (load_fns(prelude,
        "function() for i = 1, 1e9 do local r = S:upper() .. S:lower() .. S:reverse() end end",
        "function() for i = 1, 1e9 do local r = utf8.len(S) + utf8.offset(S, -1)\n"
        "    + select('#', utf8.codepoint(S, 1, 8000)) + select('#', S:byte(1, 8000)) end end",
        "function() for i = 1, 1e9 do local r = tonumber(D) + math.floor(D) end\n"
        "  for i = 1, 1e9 do load(SRC) end end",
        &wf, &err) != 0)
        fail_msg("%s", err.message);
    expect_limit(wf, "f1", 200, "budget");
    expect_limit(wf, "f2", 200, "budget");
    expect_limit(wf, "f3", 200, "budget");
    cf_wf_free(wf);

    if (load_fns(big_prelude,
        "function() local S = string.rep('x', 100000)\n"
        "  assert(not pcall(string.byte, S, 1, -1), 'byte')\n"
        "  assert(not pcall(utf8.codepoint, S, 1, -1), 'codepoint')\n"
        "  assert(not pcall(table.unpack, {}, 1, 1e6), 'unpack')\n"
        "  assert(not pcall(string.unpack, string.rep('b', 10000), S), 'string.unpack')\n"
        "  local it = utf8.codes('')\n"
        "  assert(not pcall(it, big('\\x80', 64), 0), 'codes over continuation bytes')\n"
        "  local n = 0 for p, c in utf8.codes('h\\u{e9}llo') do n = n + 1 end\n"
        "  assert(n == 5 and utf8.len('h\\u{e9}llo') == 5, 'utf8 still works')\n"
        "  assert(select('#', ('abc'):byte(1, -1)) == 3 and ('%5.1f'):format(2) == '  2.0', 'string')\n"
        "  assert(math.max(3, 7, 5) == 7 and tonumber('0x10') == 16, 'math')\n"
        /* Argument errors still name the function. */
        "  local ok, e = pcall(string.upper)\n"
        "  assert(not ok and e:find(\"bad argument #1 to 'string.upper'\"), tostring(e))\n"
        "  ok, e = pcall(function() return ('x'):rep() end)\n"
        "  assert(not ok and e:find(\"bad argument #1 to 'rep'\"), tostring(e))\n"
        "  return 'b' end",
        NULL, NULL, &wf, &err) != 0)
        fail_msg("%s", err.message);
    expect_b(wf, "f1");
    cf_wf_free(wf);
}

/* Work no hook or charge sees (comparing long strings is one VM
 * instruction each) is still bounded by the wall clock: the time budget
 * stops the call with a message naming the workflow, state, case and line,
 * and calls sharing the limits find the deadline gone. The strings are
 * long enough that the instructions would last for seconds, short enough
 * that the hook comes round well within the watchdog's grace, even under
 * valgrind. */
static void test_time_budget(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    const char *to = NULL;
    char prelude[512];
    snprintf(prelude, sizeof prelude, "%s"
             "local Z, Z2 = big('x', 16), big('x', 16)\n", big_prelude);
    if (load_fns(prelude,
        "function() local n = 0\n"
        "  for i = 1, 1e9 do if Z == Z2 then n = n + 1 end end end",
        "function() return 'b' end",
        NULL, &wf, &err) != 0)
        fail_msg("%s", err.message);
    cf_wf_limits lim = budget_of(150);
    assert_int_equal(call_with(wf, "f1", &lim, &to, &err), CF_ESCRIPT);
    assert_string_equal(err.field, "budget");
    if (strstr(err.message, "workflow s v1: state 'a', case C-9: time budget "
                            "of 150 ms exceeded at sb.lua:") == NULL)
        fail_msg("%s", err.message);
    /* The same limits: the deadline has passed, the next call does not
     * start; new limits, it runs. */
    assert_int_equal(call_with(wf, "f2", &lim, &to, &err), CF_ESCRIPT);
    assert_string_equal(err.field, "budget");
    assert_null(to);
    lim = budget_of(1000);
    assert_int_equal(call_with(wf, "f2", &lim, &to, &err), 0);
    assert_string_equal(to, "b");
    cf_wf_free(wf);
}

/* The last resort: a call still running well past its deadline inside one
 * VM instruction (comparing strings of NULs costs a strcoll per byte) is
 * ended with the process, exit status 70 and one line on stderr naming the
 * workflow, state and case. In a child, so the test goes on. */
static void test_watchdog(void **state)
{
    (void)state;
    cf_wf *wf;
    cf_error err = {0};
    char prelude[512];
    snprintf(prelude, sizeof prelude, "%s"
             "local Z, Z2 = big('\\0', 4096), big('\\0', 4096)\n", big_prelude);
    if (load_fns(prelude,
        "function() local n = 0\n"
        "  for i = 1, 200 do if Z < Z2 then n = n + 1 end end return 'b' end",
        NULL, NULL, &wf, &err) != 0)
        fail_msg("%s", err.message);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        const char *to = NULL;
        /* 50 ms, not less: the child's first armed call starts the
         * watchdog's thread, which under ASan takes milliseconds of the
         * budget before the script runs; a budget spent before the first
         * compare is a time-budget stop, not a watchdog one. */
        cf_wf_limits lim = budget_of(50);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        int rc = call_with(wf, "f1", &lim, &to, &err);
        fprintf(stderr, "not stopped: rc %d: %s\n", rc, err.message);
        _exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    char out[1024];
    size_t n = 0;
    ssize_t r;
    while (n + 1 < sizeof out && (r = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    bool exited = WIFEXITED(status) && (WEXITSTATUS(status) == 70 ||
                                        CF_UNDER_VALGRIND());
    if (!exited)
        fail_msg("child status %d, stderr: %s", status, out);
    assert_string_equal(out, "caseflow: workflow s v1: state 'a', case C-9: "
                             "still running 100 ms past its time budget; "
                             "stopped (nothing was written)\n");
    cf_wf_free(wf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libraries_absent),
        cmocka_unit_test(test_binary_chunk_refused),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_memory_cap),
        cmocka_unit_test(test_require_confined),
        cmocka_unit_test(test_string_metatable),
        cmocka_unit_test(test_frozen_world),
        cmocka_unit_test(test_c_level_loops_refused),
        cmocka_unit_test(test_rep_bounded),
        cmocka_unit_test(test_patterns_bounded),
        cmocka_unit_test(test_gsub_gmatch_bounded),
        cmocka_unit_test(test_sort_bounded),
        cmocka_unit_test(test_concat_format_bounded),
        cmocka_unit_test(test_string_functions_bounded),
        cmocka_unit_test(test_time_budget),
        cmocka_unit_test(test_watchdog),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
