/*
 * The sandbox's Lua state and its limits. Each workflow version gets its own
 * lua_State with three limits on every call into it: a memory cap (the
 * allocator), an instruction budget (a count hook, plus the work library
 * functions charge for what they do in C, where no hook runs) and a
 * wall-time deadline (read by the hook, by every charge and by the
 * allocator for big allocations), with a watchdog that ends the process if
 * a call runs on far past its deadline all the same. Every entry into Lua
 * goes through wf_protected(), which turns a hit limit into CF_ESCRIPT
 * whatever the script did with the error (pcall cannot swallow it).
 * Nothing in the workflow module may raise a Lua error outside a protected
 * call, because the default panic handler aborts.
 */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wf.h"

/* The hook runs every WF_HOOK_STEP instructions: rare enough to cost
 * nothing, often enough that a script that caught a memory error in pcall
 * gets only a few more instructions before it is stopped, and that the
 * clock is read every few microseconds of plain Lua. */
#define WF_HOOK_STEP 1000
/* Allocations at least this big are charged and make the allocator read
 * the clock: filling or copying them is work in C that no hook sees
 * (string.rep, concatenation of long strings, table.concat, the parser). */
#define WF_ALLOC_WATCH (64u * 1024u)
/* How long past its deadline a call may run before the watchdog ends the
 * process: long enough that the hook or a charge always gets there first
 * unless a single VM instruction runs that long. */
#define WF_GRACE_MIN_MS 100

const char wf_key_loaded = 'l';
const char wf_key_env = 'e';
const char wf_key_workflow = 'w';
const char wf_key_states = 's';
const char wf_key_loading = 'i';

/* ---- limits ------------------------------------------------------------- */

static int64_t grace_ms(int64_t budget_ms)
{
    return budget_ms / 4 > WF_GRACE_MIN_MS ? budget_ms / 4 : WF_GRACE_MIN_MS;
}

void wf_set_limits(lua_State *L, const cf_wf_limits *lim)
{
    wf_ctx *c = wf_ctx_of(L);
    if (lim != NULL) {
        c->deadline_ms = lim->deadline_ms > 0 ? lim->deadline_ms : 1;
        c->budget_ms = lim->budget_ms;
        return;
    }
    c->budget_ms = CF_WF_DEFAULT_BUDGET_MS;
    c->deadline_ms = cf_time_monotonic_ms() + CF_WF_DEFAULT_BUDGET_MS;
}

void wf_clear_limits(lua_State *L)
{
    wf_ctx *c = wf_ctx_of(L);
    c->deadline_ms = 0;
    c->budget_ms = 0;
}

void wf_label_format(const wf_label *l, char *out, size_t size)
{
    if (l->version == 0) {
        snprintf(out, size, "loading workflow%s%s", l->workflow ? " " : "",
                 l->workflow ? l->workflow : "");
        return;
    }
    snprintf(out, size, "workflow %s v%lld: state '%s', case %s",
             l->workflow ? l->workflow : "?", l->version,
             l->state ? l->state : "?", l->case_id ? l->case_id : "(none)");
}

/* Check the budget and the clock; true when a limit is hit. */
static bool limit_hit(wf_ctx *c)
{
    if (c->ticks >= CF_WF_INSTRUCTION_BUDGET)
        c->over_budget = true;
    if (!c->over_time && c->deadline_ms > 0 &&
        cf_time_monotonic_ms() >= c->deadline_ms)
        c->over_time = true;
    return c->over_budget || c->over_memory || c->over_time;
}

static void add_ticks(wf_ctx *c, size_t units)
{
    if (units >= (size_t)(LONG_MAX - c->ticks))
        c->ticks = LONG_MAX;
    else
        c->ticks += (long)units;
}

/* "file:line" of the innermost Lua function on the stack: a charge runs in
 * a C function, whose caller is what the script author wrote. */
static void record_where(lua_State *L, wf_ctx *c)
{
    lua_Debug ar;
    for (int level = 0; lua_getstack(L, level, &ar); level++)
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            snprintf(c->where, sizeof c->where, "%s:%d", ar.short_src,
                     ar.currentline);
            return;
        }
}

static const char *limit_name(const wf_ctx *c)
{
    if (c->over_time)
        return "time budget exceeded";
    return c->over_budget ? "instruction budget exceeded"
                          : "memory cap exceeded";
}

static void wf_hook(lua_State *L, lua_Debug *ar);

/* From now on every instruction raises: a pcall in the script catches one
 * error, the next instruction after it raises again. */
static void stop(lua_State *L, wf_ctx *c)
{
    c->stopping = true;
    lua_sethook(L, wf_hook, LUA_MASKCOUNT, 1);
}

void wf_charge(lua_State *L, size_t units)
{
    wf_ctx *c = wf_ctx_of(L);
    add_ticks(c, units);
    if (!c->stopping) {
        if (!limit_hit(c))
            return;
        record_where(L, c);
        stop(L, c);
    }
    luaL_error(L, "%s", limit_name(c));
}

void wf_check_memory(lua_State *L, size_t size, const char *what)
{
    wf_ctx *c = wf_ctx_of(L);
    if (size <= CF_WF_MEMORY_CAP - c->mem_used && !c->stopping)
        return;
    c->over_memory = true;
    if (!c->stopping) {
        record_where(L, c);
        stop(L, c);
    }
    luaL_error(L, "%s: memory cap exceeded", what);
}

/* ---- allocator, hook and the protected call --------------------------- */

/* Big allocations stand for copying or filling that many bytes in C: charge
 * them and read the clock. Once a limit is hit, big allocations fail, which
 * stops C code that is building a long result (Lua raises "not enough
 * memory"; the flags say what really happened), and the next instruction
 * raises. False: refuse the allocation. */
static bool watch_big(wf_ctx *c, size_t grow)
{
    if (!c->protecting)
        return true;
    if (c->stopping)
        return false;
    add_ticks(c, grow / WF_ALLOC_BYTES);
    if (!limit_hit(c))
        return true;
    stop(c->L, c);
    return false;
}

/* Refuses growth past the cap (Lua then raises "not enough memory" and
 * retries after an emergency collection) and never fails a free. */
static void *wf_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    wf_ctx *c = ud;
    size_t old = ptr ? osize : 0;

    if (nsize == 0) {
        free(ptr);
        c->mem_used -= old;
        return NULL;
    }
    if (nsize > old && c->mem_used - old + nsize > CF_WF_MEMORY_CAP) {
        c->over_memory = true;
        if (c->protecting && !c->stopping)
            stop(c->L, c);
        return NULL;
    }
    if (nsize > old && nsize - old >= WF_ALLOC_WATCH &&
        !watch_big(c, nsize - old))
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p != NULL)
        c->mem_used = c->mem_used - old + nsize;
    return p;
}

static void wf_hook(lua_State *L, lua_Debug *ar)
{
    wf_ctx *c = wf_ctx_of(L);

    if (!c->stopping) {
        c->ticks += WF_HOOK_STEP;
        if (!limit_hit(c))
            return;
        stop(L, c);
    }
    /* The first hook after a limit was hit (here, or in the allocator,
     * which cannot see the stack) says where the script was. */
    if (c->where[0] == '\0' && lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
        snprintf(c->where, sizeof c->where, "%s:%d", ar->short_src,
                 ar->currentline);
    lua_pushstring(L, limit_name(c));
    lua_error(L);
}

/* Does msg start with "file:line:" (Lua's position of an error)? */
static bool has_position(const char *msg)
{
    for (const char *q = strchr(msg, ':'); q; q = strchr(q + 1, ':')) {
        const char *d = q + 1;
        if (memchr(msg, ' ', (size_t)(q - msg)) != NULL)
            return false;
        while (isdigit((unsigned char)*d))
            d++;
        if (d > q + 1 && *d == ':')
            return true;
    }
    return false;
}

/* Message handler: the message (never running a script's __tostring) plus
 * a traceback. Inside a transition call, a message without a position
 * (error("...", 0), an error object that is not a string) gets the
 * position of the Lua line that raised it, so the user always reads
 * "file:line: message". */
static int wf_msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL)
        msg = lua_pushfstring(L, "(error object is a %s value)",
                              luaL_typename(L, 1));
    if (wf_ctx_of(L)->in_call && !has_position(msg)) {
        lua_Debug ar;
        for (int level = 1; lua_getstack(L, level, &ar); level++)
            if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
                msg = lua_pushfstring(L, "%s:%d: %s", ar.short_src,
                                      ar.currentline, msg);
                break;
            }
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* One line from a Lua message with traceback: the message, its newlines
 * and tabs made spaces; the traceback is kept apart (wf_ctx.trace). */
static void flatten(const char *in, char *out, size_t size)
{
    size_t o = 0;
    const char *tb = strstr(in, "\nstack traceback:");
    size_t mlen = tb ? (size_t)(tb - in) : strlen(in);

    for (size_t i = 0; i < mlen && o + 1 < size; i++)
        out[o++] = (in[i] == '\n' || in[i] == '\t') ? ' ' : in[i];
    out[o] = '\0';
}

/* The error of a hit limit: inside a transition call it names the
 * workflow, state and case; while loading it reads like a Lua error
 * ("file:line: ..."), which `workflow check` turns into a finding. */
static int limit_error(const wf_ctx *c, cf_error *err)
{
    char what[100];
    const char *field = "budget";
    if (c->over_time) {
        snprintf(what, sizeof what, "time budget of %lld ms exceeded",
                 (long long)c->budget_ms);
    } else if (c->over_budget) {
        snprintf(what, sizeof what,
                 "instruction budget exceeded (%ld instructions)",
                 (long)CF_WF_INSTRUCTION_BUDGET);
    } else {
        field = "memory";
        snprintf(what, sizeof what, "memory cap exceeded (%u MiB)",
                 CF_WF_MEMORY_CAP >> 20);
    }
    const char *where = c->where;
    if (c->in_call) {
        char label[300];
        wf_label_format(&c->label, label, sizeof label);
        return cf_err_set(err, CF_ESCRIPT, field, "%s: %s%s%s", label, what,
                          *where ? " at " : "", where);
    }
    return cf_err_set(err, CF_ESCRIPT, field, "%s%s%s", where,
                      *where ? ": " : "", what);
}

static void clear_flags(wf_ctx *c)
{
    c->ticks = 0;
    c->over_budget = c->over_memory = c->over_time = false;
    c->stopping = c->oom = false;
}

/* lua_pcall of body(arg) under the hook, watched by the watchdog when the
 * call has a deadline. */
static int run_watched(lua_State *L, wf_ctx *c, lua_CFunction body, void *arg,
                       int msgh)
{
    int64_t grace = grace_ms(c->budget_ms);
    bool watched = false;
    lua_pushcfunction(L, body);
    lua_pushlightuserdata(L, arg);
    if (c->deadline_ms > 0)
        watched = wf_watchdog_arm(c->deadline_ms + grace, grace, &c->label);
    lua_sethook(L, wf_hook, LUA_MASKCOUNT, WF_HOOK_STEP);
    c->protecting = true;
    int st = lua_pcall(L, 1, 0, msgh);
    c->protecting = false;
    lua_sethook(L, NULL, 0, 0);
    if (watched)
        wf_watchdog_disarm();
    return st;
}

/*
 * Run body(arg) in protected mode under the budget, the cap and the
 * deadline. A Lua error becomes errcode with the message; a hit limit
 * becomes CF_ESCRIPT whatever the script did with the error; a failed C
 * allocation CF_ENOMEM. The stack is left as it was.
 */
int wf_protected(lua_State *L, lua_CFunction body, void *arg,
                 int errcode, cf_error *err)
{
    wf_ctx *c = wf_ctx_of(L);
    int base = lua_gettop(L);
    char msg[sizeof err->message];

    clear_flags(c);
    c->where[0] = '\0';
    /* Calls sharing one deadline: once it has passed, the rest do not
     * start. */
    if (c->deadline_ms > 0 && cf_time_monotonic_ms() >= c->deadline_ms) {
        c->over_time = true;
        int rc = limit_error(c, err);
        clear_flags(c);
        return rc;
    }
    lua_pushcfunction(L, wf_msgh);
    int st = run_watched(L, c, body, arg, base + 1);

    bool limit = c->over_budget || c->over_memory || c->over_time;
    bool memory = c->over_memory, oom = c->oom;
    if (st != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        const char *tb = m ? strstr(m, "stack traceback:") : NULL;
        flatten(m ? m : "(no message)", msg, sizeof msg);
        free(c->trace);
        c->trace = tb ? strdup(tb) : NULL; /* no trace on a failed strdup */
    }
    lua_settop(L, base);
    if (memory)
        lua_gc(L, LUA_GCCOLLECT);

    int rc = 0;
    if (limit)
        rc = limit_error(c, err);
    else if (oom)
        rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    else if (st != LUA_OK)
        rc = cf_err_set(err, errcode, NULL, "%s", msg);
    clear_flags(c);
    return rc;
}

/* Raise after a failed C allocation inside a protected body. */
int wf_oom(lua_State *L)
{
    wf_ctx_of(L)->oom = true;
    return luaL_error(L, "out of memory");
}

static void ctx_free(wf_ctx *c)
{
    if (c == NULL)
        return;
    json_decref(c->modules);
    json_decref(c->problems);
    free(c->snap_up);
    free(c->trace);
    free(c);
}

void wf_sandbox_close(lua_State *L)
{
    if (L == NULL)
        return;
    wf_ctx *c = wf_ctx_of(L);
    lua_close(L);
    ctx_free(c);
}

/* A fresh sandbox. modules: new reference stolen (collect mode: filled). */
int wf_sandbox_new(const char *dir, json_t *modules, lua_State **out,
                   cf_error *err)
{
    *out = NULL;
    wf_ctx *c = calloc(1, sizeof *c);
    json_t *problems = json_array();
    if (c == NULL || problems == NULL || modules == NULL) {
        free(c);
        json_decref(problems);
        json_decref(modules);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    c->dir = dir;
    c->modules = modules;
    c->problems = problems;
    lua_State *L = lua_newstate(wf_alloc, c);
    if (L == NULL) {
        ctx_free(c);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    c->L = L;
    *(wf_ctx **)lua_getextraspace(L) = c;
    /* Loading (opening the libraries, running the main chunk, building and
     * freezing) shares one budget from here. */
    wf_set_limits(L, NULL);
    int rc = wf_protected(L, wf_open_libs, NULL, CF_EINTERNAL, err);
    if (rc != 0) {
        wf_sandbox_close(L);
        return rc;
    }
    *out = L;
    return 0;
}

