/*
 * The standard library as workflows see it: only base, string, table, math
 * and utf8, with the dangerous base functions removed or replaced (load
 * takes text chunks only, setmetatable refuses __gc and __mode), and every
 * C function whose work grows with its arguments wrapped: hooks do not run
 * inside C, so before the work starts a wrapper charges what it will cost
 * to the call's budget (which also reads the clock), or refuses what could
 * not fit (results the memory cap cannot hold, more values than the VM
 * should copy around, tables longer than any real one). The pattern
 * functions count their own steps instead (pattern.c).
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <lualib.h>

#include "wf.h"

/* No real table in a 32 MiB state has more elements than this; table
 * functions that loop in C over a length a script controls (via __len)
 * refuse larger ones. */
#define WF_TABLE_MAX (1 << 22)
/* Continuation bytes that may follow a lead byte (lax UTF-8 has up to
 * 6-byte sequences). */
#define WF_UTF8_CONT_MAX 5

/* Call the original function in upvalue 1 with all arguments. */
static int call_original(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static size_t add_sat(size_t a, size_t b)
{
    return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

size_t wf_mul(size_t a, size_t b)
{
    return b != 0 && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

/* ---- what a call costs -------------------------------------------------- */

/* What a wrapped function costs before it runs, from its arguments; may
 * raise to refuse the call. */
typedef size_t (*sb_cost)(lua_State *L);

/* Every argument is a value taken in; every string from argument `from` on
 * is read (or converted: a number given as a string of digits is read
 * whole by every function that takes a number). */
static size_t args_cost(lua_State *L, int from)
{
    int n = lua_gettop(L);
    size_t units = 1 + (size_t)n;
    for (int i = from; i <= n; i++)
        if (lua_type(L, i) == LUA_TSTRING)
            units = add_sat(units, lua_rawlen(L, i) / WF_SCAN_BYTES);
    return units;
}

static size_t cost_args(lua_State *L)
{
    return args_cost(L, 1);
}

/* string.sub copies only the slice (the allocator charges long ones). */
static size_t cost_slice(lua_State *L)
{
    return args_cost(L, 2);
}

/* The pattern functions count their steps over subject and pattern. */
static size_t cost_pattern(lua_State *L)
{
    return args_cost(L, 3);
}

/* string.format: each directive is an snprintf, and %q quotes byte by
 * byte, with an snprintf for every control character. */
static size_t cost_format(lua_State *L)
{
    size_t lf;
    const char *f = luaL_checklstring(L, 1, &lf);
    size_t units = args_cost(L, 1);
    int arg = 1;
    for (size_t i = 0; i + 1 < lf; i++) {
        if (f[i] != '%' || f[++i] == '%')
            continue;
        arg++;
        while (i < lf && f[i] != '\0' && strchr("-+ #0123456789.", f[i]))
            i++;
        units = add_sat(units, WF_FORMAT_UNITS);
        if (i >= lf || f[i] != 'q' || lua_type(L, arg) != LUA_TSTRING)
            continue;
        size_t len;
        const char *s = lua_tolstring(L, arg, &len);
        for (size_t k = 0; k < len; k++)
            if (iscntrl((unsigned char)s[k]))
                units = add_sat(units, WF_FORMAT_UNITS);
    }
    return units;
}

/* Positions i..j of a string of len bytes, as string.byte and
 * utf8.codepoint normalise them. */
static size_t span(lua_State *L, size_t len, int iarg)
{
    lua_Integer i = luaL_optinteger(L, iarg, 1);
    lua_Integer j = luaL_optinteger(L, iarg + 1, i);
    lua_Integer n = (lua_Integer)len;
    if (i < 0)
        i = i < -n ? 1 : n + i + 1;
    if (i == 0)
        i = 1;
    if (j < 0)
        j = j < -n ? 0 : n + j + 1;
    if (j > n)
        j = n;
    return j >= i ? (size_t)(j - i) + 1 : 0;
}

/* Results pushed one by one: the VM copies them again on every call and
 * vararg expansion, where no hook runs. */
static size_t results_cost(lua_State *L, size_t n, const char *msg)
{
    if (n > WF_RESULTS_MAX)
        luaL_error(L, "%s", msg);
    return wf_mul(n, WF_ELEMENT_UNITS);
}

/* string.byte and utf8.codepoint: a value for each position i..j. */
static size_t cost_span(lua_State *L)
{
    size_t len;
    luaL_checklstring(L, 1, &len);
    size_t n = span(L, len, 2);
    return add_sat(args_cost(L, 2), results_cost(L, n, "string slice too long"));
}

/* Each option of the format pushes at most one value. */
static size_t cost_unpack(lua_State *L)
{
    size_t lf;
    luaL_checklstring(L, 1, &lf);
    results_cost(L, lf, "too many results");
    return args_cost(L, 1);
}

/* #t, refusing lengths no real table has (__len can say anything). */
static lua_Integer table_len(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_Integer n = luaL_len(L, 1);
    if (n < 0 || n > WF_TABLE_MAX)
        luaL_error(L, "table too long (%d elements)", (int)(n < 0 ? -1 : n));
    return n;
}

/* Elements i..j, refusing more than a real table has. */
static size_t elements(lua_State *L, lua_Integer i, lua_Integer j,
                       const char *what)
{
    if (j < i)
        return 0;
    if ((lua_Unsigned)j - (lua_Unsigned)i >= WF_TABLE_MAX)
        luaL_error(L, "%s: too many elements", what);
    return (size_t)(j - i) + 1;
}

static size_t cost_concat(lua_State *L)
{
    size_t lsep = 0;
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_optlstring(L, 2, "", &lsep);
    lua_Integer i = luaL_optinteger(L, 3, 1);
    lua_Integer j = lua_isnoneornil(L, 4) ? luaL_len(L, 1)
                                          : luaL_checkinteger(L, 4);
    size_t n = elements(L, i, j, "table.concat");
    size_t per = WF_ELEMENT_UNITS + lsep / WF_SCAN_BYTES;
    return add_sat(args_cost(L, 2), wf_mul(n, per));
}

/* table.insert(t, pos, v) and table.remove(t, pos) shift #t - pos
 * elements. */
static size_t shift_cost(lua_State *L, lua_Integer n, int posarg, bool insert)
{
    if (lua_gettop(L) < posarg + (insert ? 1 : 0) || !lua_isinteger(L, posarg))
        return 1;
    lua_Integer pos = lua_tointeger(L, posarg);
    lua_Integer last = insert ? n + 1 : n;
    if (pos < 1 || pos > last)
        return 1; /* the original refuses it */
    return 1 + wf_mul((size_t)(last - pos), WF_ELEMENT_UNITS);
}

static size_t cost_insert(lua_State *L)
{
    return shift_cost(L, table_len(L), 2, true);
}

static size_t cost_remove(lua_State *L)
{
    return shift_cost(L, table_len(L), 2, false);
}

static size_t cost_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
    return 1 + wf_mul(elements(L, f, e, "table.move"), WF_ELEMENT_UNITS);
}

static size_t cost_table_unpack(lua_State *L)
{
    lua_Integer i = luaL_optinteger(L, 2, 1);
    lua_Integer j = lua_isnoneornil(L, 3) ? luaL_len(L, 1)
                                          : luaL_checkinteger(L, 3);
    if (j >= i && (lua_Unsigned)j - (lua_Unsigned)i >= WF_RESULTS_MAX)
        luaL_error(L, "too many results to unpack");
    return 1 + (j >= i ? wf_mul((size_t)(j - i) + 1, WF_ELEMENT_UNITS) : 0);
}

/* ---- wrappers ------------------------------------------------------------ */

typedef struct sb_wrapped {
    const char *lib;  /* library table, NULL for a base function */
    const char *name; /* NULL: every C function of lib */
    sb_cost cost;
} sb_wrapped;

static const sb_wrapped WRAPPED[] = {
    {NULL, "tonumber", cost_args},
    {NULL, "select", cost_args},
    {NULL, "rawequal", cost_args},
    {LUA_STRLIBNAME, "byte", cost_span},
    {LUA_STRLIBNAME, "char", cost_args},
    {LUA_STRLIBNAME, "format", cost_format},
    {LUA_STRLIBNAME, "lower", cost_args},
    {LUA_STRLIBNAME, "upper", cost_args},
    {LUA_STRLIBNAME, "reverse", cost_args},
    {LUA_STRLIBNAME, "sub", cost_slice},
    {LUA_STRLIBNAME, "pack", cost_args},
    {LUA_STRLIBNAME, "packsize", cost_args},
    {LUA_STRLIBNAME, "unpack", cost_unpack},
    {LUA_STRLIBNAME, "find", cost_pattern},
    {LUA_STRLIBNAME, "match", cost_pattern},
    {LUA_STRLIBNAME, "gmatch", cost_pattern},
    {LUA_STRLIBNAME, "gsub", cost_pattern},
    {LUA_TABLIBNAME, "concat", cost_concat},
    {LUA_TABLIBNAME, "insert", cost_insert},
    {LUA_TABLIBNAME, "remove", cost_remove},
    {LUA_TABLIBNAME, "move", cost_move},
    {LUA_TABLIBNAME, "unpack", cost_table_unpack},
    {LUA_TABLIBNAME, "pack", cost_args},
    {LUA_UTF8LIBNAME, "char", cost_args},
    {LUA_UTF8LIBNAME, "len", cost_args},
    {LUA_UTF8LIBNAME, "offset", cost_args},
    {LUA_UTF8LIBNAME, "codepoint", cost_span},
    {LUA_MATHLIBNAME, NULL, cost_args},
};

/* Upvalue 1: the original; upvalue 2: its sb_wrapped entry. */
static int sb_charged(lua_State *L)
{
    const sb_wrapped *w = lua_touserdata(L, lua_upvalueindex(2));
    wf_charge(L, w->cost(L));
    return call_original(L);
}

/* string.rep: an empty result without the original's n iterations; a
 * result the memory cap cannot hold (the buffer and the string are both
 * that long) refused before anything is allocated; one unit per copy. */
static int sb_rep(lua_State *L)
{
    size_t l, lsep;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    size_t copies = (size_t)n;
    size_t total = add_sat(wf_mul(l, copies), wf_mul(lsep, copies - 1));
    wf_check_memory(L, total > LUAL_BUFFERSIZE ? wf_mul(total, 2) : total,
                    "string.rep");
    wf_charge(L, add_sat(args_cost(L, 1), copies));
    return call_original(L);
}

/* Comparator calls charged at once: reading the clock for each would
 * cost more than most comparators. */
#define WF_COMPARE_BATCH 256

/* The comparator of table.sort (upvalue 1), counted: every call costs the
 * call itself, and a C comparator its work, which no hook sees (a Lua
 * comparator's instructions are counted as it runs). Upvalue 2 holds the
 * calls not yet charged. */
static int sb_sort_compare(lua_State *L)
{
    lua_Integer pending = lua_tointeger(L, lua_upvalueindex(2)) + 1;
    if (pending >= WF_COMPARE_BATCH) {
        size_t per = lua_iscfunction(L, lua_upvalueindex(1))
                         ? WF_CCALL_UNITS : WF_COMPARE_UNITS;
        wf_charge(L, wf_mul((size_t)pending, per));
        pending = 0;
    }
    lua_pushinteger(L, pending);
    lua_replace(L, lua_upvalueindex(2));
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* About n log2 n: what a sort of n elements compares. */
static size_t sort_comparisons(lua_Integer n)
{
    size_t c = (size_t)n;
    for (lua_Integer m = n; m > 1; m >>= 1)
        c = add_sat(c, (size_t)n);
    return c;
}

/* table.sort: refuse impossible lengths, charge n log n comparisons
 * before sorting (a sort that cannot fit the budget does not start), and
 * count the comparator's calls as they come (an inconsistent comparator
 * makes the sort compare more, or fail with "invalid order function"). */
static int sb_sort(lua_State *L)
{
    size_t cmps = sort_comparisons(table_len(L));
    wf_charge(L, wf_mul(cmps, WF_COMPARE_UNITS));
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TFUNCTION);
        lua_settop(L, 2);
        lua_pushinteger(L, 0);
        lua_pushcclosure(L, sb_sort_compare, 2);
    }
    return call_original(L);
}

/* The iterator of utf8.codes skips a run of continuation bytes in C, from
 * any position the caller gives it: refuse runs no UTF-8 has. */
static int sb_codes_step(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer n = lua_tointeger(L, 2);
    size_t run = 0;
    for (size_t i = n > 0 ? (size_t)n : 0; i < len && run <= WF_UTF8_CONT_MAX &&
                                           ((unsigned char)s[i] & 0xC0) == 0x80;
         i++)
        run++;
    if (run > WF_UTF8_CONT_MAX) {
        wf_charge(L, WF_FORMAT_UNITS); /* raising costs a message */
        return luaL_error(L, "invalid UTF-8 code");
    }
    return call_original(L);
}

static int sb_codes(lua_State *L)
{
    wf_charge(L, args_cost(L, 1));
    int n = call_original(L);
    if (n >= 1 && lua_iscfunction(L, 1)) {
        lua_pushvalue(L, 1);
        lua_pushcclosure(L, sb_codes_step, 1);
        lua_replace(L, 1);
    }
    return n;
}

typedef struct sb_special {
    const char *lib, *name;
    lua_CFunction fn;
} sb_special;

static const sb_special SPECIAL[] = {
    {LUA_STRLIBNAME, "rep", sb_rep},
    {LUA_TABLIBNAME, "sort", sb_sort},
    {LUA_UTF8LIBNAME, "codes", sb_codes},
};

static bool same_lib(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Replace lib[name] (lib at index lib; libname NULL for the base library)
 * by fn with the original as upvalue 1 and w, if any, as upvalue 2. The
 * original is called from C, so Lua's argument errors name it by looking
 * it up in the registry's _LOADED table: keep it there as "string.upper"
 * (or "tonumber"), out of the scripts' reach. */
static void wrap_field(lua_State *L, int lib, const char *libname,
                       const char *name, lua_CFunction fn, const sb_wrapped *w)
{
    lua_getfield(L, lib, name);
    if (!lua_iscfunction(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (libname != NULL)
        lua_pushfstring(L, "%s.%s", libname, name);
    else
        lua_pushstring(L, name);
    lua_pushvalue(L, -3);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    if (w != NULL)
        lua_pushlightuserdata(L, (void *)w);
    lua_pushcclosure(L, fn, w != NULL ? 2 : 1);
    lua_setfield(L, lib, name);
}

/* Every C function of lib, wrapped with w. */
static void wrap_all(lua_State *L, int lib, const char *libname,
                     const sb_wrapped *w)
{
    lua_newtable(L); /* the names first: wrapping changes the table */
    int names = lua_gettop(L);
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, lib) != 0) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_iscfunction(L, -1)) {
            lua_pushvalue(L, -2);
            lua_rawseti(L, names, ++n);
        }
        lua_pop(L, 1);
    }
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, names, i);
        wrap_field(L, lib, libname, lua_tostring(L, -1), sb_charged, w);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Wrap the functions of library name (NULL: the base library, in g). */
static void wrap_library(lua_State *L, int g, const char *name)
{
    int top = lua_gettop(L);
    int lib = g;
    if (name != NULL) {
        lua_getfield(L, g, name);
        lib = lua_gettop(L);
    }
    for (size_t i = 0; i < sizeof WRAPPED / sizeof WRAPPED[0]; i++) {
        const sb_wrapped *w = &WRAPPED[i];
        if (!same_lib(w->lib, name))
            continue;
        if (w->name == NULL)
            wrap_all(L, lib, name, w);
        else
            wrap_field(L, lib, name, w->name, sb_charged, w);
    }
    for (size_t i = 0; i < sizeof SPECIAL / sizeof SPECIAL[0]; i++)
        if (same_lib(SPECIAL[i].lib, name))
            wrap_field(L, lib, name, SPECIAL[i].name, SPECIAL[i].fn, NULL);
    lua_settop(L, top);
}

/* ---- replaced functions -------------------------------------------------- */

/* load: text chunks only, in the sandbox environment (or the env given). */
static int sb_load(lua_State *L)
{
    size_t len;
    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "load: only a string chunk may be loaded");
    const char *s = lua_tolstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    /* The parser runs in C: charge it by the size of the source. */
    wf_charge(L, wf_mul(len, WF_COMPILE_UNITS));
    bool has_env = lua_gettop(L) >= 4;
    if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env)
        lua_pushvalue(L, 4);
    else
        lua_rawgetp(L, LUA_REGISTRYINDEX, &wf_key_env);
    if (lua_setupvalue(L, -2, 1) == NULL)
        lua_pop(L, 1);
    return 1;
}

/* setmetatable without __gc (finalizers run at times no call controls)
 * and without __mode (weak tables let a script observe the collector). */
static int sb_setmetatable(lua_State *L)
{
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (t == LUA_TTABLE) {
        wf_rawfield(L, 2, "__gc");
        wf_rawfield(L, 2, "__mode");
        if (!lua_isnil(L, -1) || !lua_isnil(L, -2))
            return luaL_error(L, "setmetatable: __gc and __mode are not "
                                 "allowed in workflows");
        lua_pop(L, 2);
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

static int sb_now(lua_State *L)
{
    wf_ctx *c = wf_ctx_of(L);
    if (!c->in_call)
        return luaL_error(L, "now(): there is no time while the workflow "
                             "loads; call now() inside a transition function");
    lua_pushinteger(L, (lua_Integer)c->now);
    return 1;
}

static int sb_workflow(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (wf_ctx_of(L)->frozen)
        return luaL_error(L, "workflow{} may only be called while loading");
    lua_settop(L, 1);
    lua_pushvalue(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &wf_key_workflow);
    return 1;
}

static void remove_fields(lua_State *L, int idx, const char *const *names)
{
    for (; *names; names++) {
        lua_pushnil(L);
        lua_setfield(L, idx, *names);
    }
}

int wf_open_libs(lua_State *L)
{
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base},
                                    {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_TABLIBNAME, luaopen_table},
                                    {LUA_MATHLIBNAME, luaopen_math},
                                    {LUA_UTF8LIBNAME, luaopen_utf8},
                                    {NULL, NULL}};
    static const char *const base_out[] = {
        "dofile", "loadfile", "collectgarbage", "print", "rawset", "warn",
        NULL};
    static const char *const math_out[] = {"random", "randomseed", NULL};
    static const char *const string_out[] = {"dump", NULL};
    static const char *const wrapped_libs[] = {
        LUA_STRLIBNAME, LUA_TABLIBNAME, LUA_MATHLIBNAME, LUA_UTF8LIBNAME};

    for (const luaL_Reg *lib = libs; lib->name; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    remove_fields(L, g, base_out);
    lua_pushcfunction(L, sb_load);
    lua_setfield(L, g, "load");
    lua_pushcfunction(L, wf_require);
    lua_setfield(L, g, "require");
    lua_pushcfunction(L, sb_setmetatable);
    lua_setfield(L, g, "setmetatable");
    lua_pushcfunction(L, sb_workflow);
    lua_setfield(L, g, "workflow");
    lua_pushcfunction(L, sb_now);
    lua_setfield(L, g, "now");

    lua_getfield(L, g, LUA_MATHLIBNAME);
    remove_fields(L, lua_gettop(L), math_out);
    lua_pop(L, 1);

    lua_getfield(L, g, LUA_STRLIBNAME);
    int s = lua_gettop(L);
    remove_fields(L, s, string_out);
    wf_open_patterns(L, s);
    wrap_library(L, g, NULL);
    for (size_t i = 0; i < sizeof wrapped_libs / sizeof wrapped_libs[0]; i++)
        wrap_library(L, g, wrapped_libs[i]);
    /* Strings index the real string table, which no script can reach:
     * getmetatable("") answers false. */
    lua_createtable(L, 0, 2);
    lua_pushvalue(L, s);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pushliteral(L, "");
    lua_insert(L, -2);
    lua_setmetatable(L, -2);
    lua_pop(L, 2);

    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &wf_key_loaded);
    lua_pushvalue(L, g);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &wf_key_env);
    wf_view_metatable(L);
    return 0;
}

