/*
 * Workflows: Lua 5.4 scripts run in a sandbox. A workflow file returns a
 * `workflow { ... }` table; this module runs it in its own lua_State (only
 * base, string, table, math and utf8, with the dangerous base functions
 * removed or replaced, a memory-capped allocator and an instruction budget
 * that pcall cannot swallow), collects the file, the modules it requires and
 * its assets into a JSON bundle, turns the table into the C state table of
 * internal.h, then freezes everything the script can reach so that a
 * transition function sees the same world on every call. Every entry into
 * Lua goes through wf_protected(): nothing here may raise a Lua error
 * outside a protected call, because the default panic handler aborts.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "internal.h"

/* The hook runs every WF_HOOK_STEP instructions: rare enough to cost
 * nothing, often enough that a script that caught a memory error in pcall
 * gets only a few more instructions before it is stopped. */
#define WF_HOOK_STEP 1000
#define WF_JSON_DEPTH 32
#define WF_FREEZE_DEPTH 200
#define WF_NAME_MAX 128
/* No real table in a 32 MiB state has more elements than this; table
 * functions that loop in C over a length a script controls (via __len)
 * refuse larger ones, because hooks do not run inside C loops. */
#define WF_TABLE_MAX (1 << 22)
/* Upper bound on the backtracking work of one pattern match, estimated as
 * (subject length + 1) ^ (quantifiers + unanchored): C pattern matching
 * runs without hooks, so an exponential pattern would hang the engine. */
#define WF_PATTERN_COST_MAX 1e8
/* Longest duration a timer or deadline may declare: 100 years. */
#define WF_DURATION_MAX ((int64_t)100 * 366 * 86400)

/* Registry keys: the addresses are unique, the bytes unused. */
static const char KEY_LOADED = 'l';   /* module name -> value */
static const char KEY_ENV = 'e';      /* environment for load() */
static const char KEY_WORKFLOW = 'w'; /* the table workflow{} marked */
static const char KEY_STATES = 's';   /* state name -> index + 1 */
static const char KEY_VIEW_MT = 'v';  /* metatable of case/event views */
static const char KEY_SNAP = 'u';     /* upvalue snapshot */
static const char KEY_LOADING = 'i';  /* sentinel: module being loaded */
static const char KEY_NIL = 'n';      /* sentinel: nil in the snapshot */

static const char *const ROLES[] = {"analyst", "officer", "supervisor",
                                    "authoriser", "administrator", NULL};

/* Per lua_State context, reached through lua_getextraspace. */
typedef struct wf_ctx {
    lua_State *L;
    size_t mem_used;
    long ticks;
    bool over_budget, over_memory, stopping;
    bool oom;       /* a C allocation failed inside a protected body */
    bool frozen;    /* after load: only cached modules, read-only world */
    bool in_call;   /* a transition function runs: now() works */
    bool broken;    /* the snapshot could not be restored: refuse calls */
    int64_t now;
    unsigned gen;   /* views carry the generation of their call */
    char where[160];/* "file:line" where the hook stopped the script */

    const char *dir;   /* collect mode: directory modules are read from */
    json_t *modules;   /* module name -> source (owned reference) */
    const char *file;  /* main chunk's file name ("polit.lua") */
    const char *src;   /* main source, for finding line numbers */
    size_t srclen;

    cf_wf *wf;         /* being built */
    json_t *problems;  /* structural findings of the build */
    int *snap_up;      /* upvalue index of each snapshot entry */
    size_t nsnap;
} wf_ctx;

static wf_ctx *ctx_of(lua_State *L)
{
    return *(wf_ctx **)lua_getextraspace(L);
}

/* ---- allocator, hook and the protected call --------------------------- */

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
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (p != NULL)
        c->mem_used = c->mem_used - old + nsize;
    return p;
}

/* Once a limit is hit, raise on every instruction: a pcall in the script
 * catches one error, the next instruction after it raises again. */
static void wf_hook(lua_State *L, lua_Debug *ar)
{
    wf_ctx *c = ctx_of(L);

    if (!c->stopping) {
        c->ticks += WF_HOOK_STEP;
        if (c->ticks >= CF_WF_INSTRUCTION_BUDGET)
            c->over_budget = true;
        if (!c->over_budget && !c->over_memory)
            return;
        c->stopping = true;
        if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
            snprintf(c->where, sizeof c->where, "%s:%d: ", ar->short_src,
                     ar->currentline);
        lua_sethook(L, wf_hook, LUA_MASKCOUNT, 1);
    }
    lua_pushstring(L, c->over_budget ? "instruction budget exceeded"
                                     : "memory cap exceeded");
    lua_error(L);
}

/* Message handler: the message (never running a script's __tostring) plus
 * a traceback. */
static int wf_msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL)
        msg = lua_pushfstring(L, "(error object is a %s value)",
                              luaL_typename(L, 1));
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* One line from a Lua message with traceback: "msg [traceback: a; b]". */
static void flatten(const char *in, char *out, size_t size)
{
    size_t o = 0;
    const char *tb = strstr(in, "\nstack traceback:");
    size_t mlen = tb ? (size_t)(tb - in) : strlen(in);

    for (size_t i = 0; i < mlen && o + 1 < size; i++)
        out[o++] = (in[i] == '\n' || in[i] == '\t') ? ' ' : in[i];
    if (tb != NULL) {
        const char *p = tb + strlen("\nstack traceback:");
        const char *pre = " [traceback:";
        for (; *pre && o + 1 < size; pre++)
            out[o++] = *pre;
        for (; *p && o + 1 < size; p++) {
            if (*p == '\n') {
                if (o + 2 < size && o > 0 && out[o - 1] != ':') {
                    out[o++] = ';';
                }
                continue;
            }
            out[o++] = (*p == '\t') ? ' ' : *p;
        }
        if (o + 1 < size)
            out[o++] = ']';
    }
    out[o] = '\0';
}

/*
 * Run body(arg) in protected mode under the budget and the cap. A Lua error
 * becomes errcode with the message; a hit limit becomes CF_ESCRIPT whatever
 * the script did with the error; a failed C allocation CF_ENOMEM. The stack
 * is left as it was.
 */
static int wf_protected(lua_State *L, lua_CFunction body, void *arg,
                        int errcode, cf_error *err)
{
    wf_ctx *c = ctx_of(L);
    int base = lua_gettop(L);
    char msg[sizeof err->message];

    c->ticks = 0;
    c->over_budget = c->over_memory = c->stopping = c->oom = false;
    c->where[0] = '\0';
    lua_pushcfunction(L, wf_msgh);
    lua_pushcfunction(L, body);
    lua_pushlightuserdata(L, arg);
    lua_sethook(L, wf_hook, LUA_MASKCOUNT, WF_HOOK_STEP);
    int st = lua_pcall(L, 1, 0, base + 1);
    lua_sethook(L, NULL, 0, 0);

    bool budget = c->over_budget, memory = c->over_memory, oom = c->oom;
    c->over_budget = c->over_memory = c->stopping = c->oom = false;
    if (st != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        flatten(m ? m : "(no message)", msg, sizeof msg);
    }
    lua_settop(L, base);
    if (memory)
        lua_gc(L, LUA_GCCOLLECT);

    if (budget)
        return cf_err_set(err, CF_ESCRIPT, "budget",
                          "%sinstruction budget exceeded (%ld instructions)",
                          c->where, (long)CF_WF_INSTRUCTION_BUDGET);
    if (memory)
        return cf_err_set(err, CF_ESCRIPT, "memory",
                          "%smemory cap exceeded (%u MiB)", c->where,
                          CF_WF_MEMORY_CAP >> 20);
    if (oom)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    if (st != LUA_OK)
        return cf_err_set(err, errcode, NULL, "%s", msg);
    return 0;
}

/* Raise after a failed C allocation inside a protected body. */
static int wf_oom(lua_State *L)
{
    ctx_of(L)->oom = true;
    return luaL_error(L, "out of memory");
}

/* ---- small helpers ------------------------------------------------------ */

static bool match_ident(const char *s, size_t len, bool lower_only,
                        const char *extra)
{
    if (len == 0 || len > WF_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (i > 0 && ch == '_') ||
                  (i > 0 && isdigit(ch)) ||
                  (!lower_only && ch >= 'A' && ch <= 'Z') ||
                  (i > 0 && extra && ch && strchr(extra, ch));
        if (!ok)
            return false;
    }
    return true;
}

/* t[k] without metamethods: building the state table must not run
 * script code hidden behind __index. Pushes the value, returns its type. */
static int rawfield(lua_State *L, int idx, const char *k)
{
    idx = lua_absindex(L, idx);
    lua_pushstring(L, k);
    return lua_rawget(L, idx);
}

/* Is the table at idx a pure sequence 1..n (n may be 0)? */
static bool is_sequence(lua_State *L, int idx, size_t *n)
{
    size_t count = 0;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        count++;
    }
    *n = lua_rawlen(L, idx);
    return count == *n;
}

/* require names: [A-Za-z0-9_]+ segments joined by single dots. */
static bool valid_module_name(const char *s, size_t len)
{
    if (len == 0 || len > WF_NAME_MAX || s[0] == '.' || s[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '.') {
            if (s[i + 1] == '.')
                return false;
            continue;
        }
        if (!(isalnum(ch) || ch == '_'))
            return false;
    }
    return true;
}

/* Text we store in a bundle: valid UTF-8 (jansson checks) without NUL. */
static json_t *text_json(const char *buf, size_t len)
{
    if (memchr(buf, '\0', len) != NULL)
        return NULL;
    return json_stringn(buf, len);
}

/*
 * Read dir/rel, refusing anything that resolves outside dir (absolute
 * paths, "..", symbolic links out). Pure C: no Lua calls. On failure,
 * why[] says why.
 */
static int read_inside(const char *dir, const char *rel, char **out,
                       size_t *len, char *why, size_t whylen)
{
    *out = NULL;
    if (rel[0] == '\0' || rel[0] == '/' || strchr(rel, '\\') != NULL) {
        snprintf(why, whylen, "'%s' is not a relative path", rel);
        return CF_EINVALID;
    }
    for (const char *p = rel; *p; p = strchr(p, '/') ? strchr(p, '/') + 1 : p + strlen(p)) {
        size_t seg = strcspn(p, "/");
        if (seg == 0 || (seg == 2 && p[0] == '.' && p[1] == '.') ||
            (seg == 1 && p[0] == '.')) {
            snprintf(why, whylen, "'%s' leaves the workflow directory", rel);
            return CF_EINVALID;
        }
    }
    size_t n = strlen(dir) + strlen(rel) + 2;
    char *full = malloc(n);
    if (full == NULL)
        return CF_ENOMEM;
    snprintf(full, n, "%s/%s", dir, rel);
    char *rdir = realpath(dir, NULL);
    char *rfull = realpath(full, NULL);
    int rc = 0;
    if (rdir == NULL || rfull == NULL) {
        snprintf(why, whylen, "'%s' not found in the workflow directory", rel);
        rc = CF_ENOTFOUND;
    } else if (strncmp(rfull, rdir, strlen(rdir)) != 0 ||
               rfull[strlen(rdir)] != '/') {
        snprintf(why, whylen, "'%s' leaves the workflow directory", rel);
        rc = CF_EINVALID;
    } else {
        cf_error e = {0};
        rc = cf_read_file(rfull, out, len, &e);
        if (rc != 0)
            snprintf(why, whylen, "'%.100s': %.200s", rel, e.message);
    }
    free(rdir);
    free(rfull);
    free(full);
    return rc;
}

/* ---- source line numbers ------------------------------------------------ */

static bool is_ident_char(char ch)
{
    return isalnum((unsigned char)ch) || ch == '_';
}

/* Does `key = ` (or ["key"] =) start at p? Sets *after past the '='. */
static bool key_at(const char *line, const char *p, const char *end,
                   const char *key, size_t klen, const char **after)
{
    const char *q = p;
    if (*q == '[') {
        q++;
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        if (q >= end || (*q != '"' && *q != '\''))
            return false;
        char quote = *q++;
        if ((size_t)(end - q) < klen + 1 || memcmp(q, key, klen) != 0 ||
            q[klen] != quote)
            return false;
        q += klen + 1;
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        if (q >= end || *q != ']')
            return false;
        q++;
    } else {
        if (p > line && (is_ident_char(p[-1]) || p[-1] == '.'))
            return false;
        if ((size_t)(end - q) < klen || memcmp(q, key, klen) != 0 ||
            (q + klen < end && is_ident_char(q[klen])))
            return false;
        q += klen;
    }
    while (q < end && (*q == ' ' || *q == '\t'))
        q++;
    if (q >= end || *q != '=' || (q + 1 < end && q[1] == '='))
        return false;
    *after = q + 1;
    return true;
}

/*
 * The Lua API gives no line for a table field, so find `key = ` in the
 * source text, on lines [from, to) (to 0: to the end). With brace, the value
 * must open a table; with shallowest, prefer the least indented match (a
 * state's key sits shallower than an event of the same name).
 */
static int scan_line(const wf_ctx *c, const char *key, int from, int to,
                     bool brace, bool shallowest)
{
    if (c->src == NULL || key == NULL)
        return 0;
    size_t klen = strlen(key);
    const char *s = c->src, *end = c->src + c->srclen;
    int lineno = 1, best = 0;
    size_t best_indent = SIZE_MAX;

    while (s < end) {
        const char *eol = memchr(s, '\n', (size_t)(end - s));
        if (eol == NULL)
            eol = end;
        if (lineno >= from && (to <= 0 || lineno < to)) {
            const char *cmt = NULL;
            for (const char *p = s; p + 1 < eol; p++)
                if (p[0] == '-' && p[1] == '-') {
                    cmt = p;
                    break;
                }
            const char *lim = cmt ? cmt : eol;
            for (const char *p = s; p < lim; p++) {
                const char *after;
                if (!key_at(s, p, lim, key, klen, &after))
                    continue;
                if (brace) {
                    while (after < lim && (*after == ' ' || *after == '\t'))
                        after++;
                    if (after >= lim || *after != '{')
                        continue;
                }
                size_t indent = strspn(s, " \t");
                if (!shallowest)
                    return lineno;
                if (indent < best_indent) {
                    best_indent = indent;
                    best = lineno;
                }
                break;
            }
        }
        s = eol + 1;
        lineno++;
    }
    return best;
}

/* ---- problems (structural findings) ------------------------------------- */

static void problem(lua_State *L, const char *rule, int line,
                    const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Record a finding; the build goes on so `check` can report them all. */
static void problem(lua_State *L, const char *rule, int line,
                    const char *field, const char *fmt, ...)
{
    wf_ctx *c = ctx_of(L);
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *p = json_pack("{s:s, s:i, s:s, s:s, s:s}", "file",
                          c->file ? c->file : "", "line", line, "rule", rule,
                          "message", msg, "field", field ? field : "");
    if (p == NULL || json_array_append_new(c->problems, p) != 0)
        wf_oom(L);
}

/* ---- Lua values to JSON --------------------------------------------------- */

static json_t *to_json(lua_State *L, int idx, int depth, const char *path,
                       int line);

/* Is the table at idx a sequence 1..n (n > 0)? */
static bool is_array(lua_State *L, int idx, size_t *n)
{
    size_t count = 0;
    lua_Integer max = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        count++;
        if (!lua_isinteger(L, -1)) {
            lua_pop(L, 1);
            return false;
        }
        lua_Integer k = lua_tointeger(L, -1);
        if (k < 1) {
            lua_pop(L, 1);
            return false;
        }
        if (k > max)
            max = k;
    }
    *n = count;
    return count > 0 && (lua_Integer)count == max;
}

static json_t *table_to_json(lua_State *L, int idx, int depth,
                             const char *path, int line)
{
    char sub[256];
    size_t n;
    if (depth > WF_JSON_DEPTH) {
        problem(L, "structure", line, path, "%s: nested too deeply", path);
        return NULL;
    }
    luaL_checkstack(L, 4, "config");
    if (is_array(L, idx, &n)) {
        json_t *a = json_array();
        for (size_t i = 1; a && i <= n; i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            lua_rawgeti(L, idx, (lua_Integer)i);
            json_t *v = to_json(L, lua_gettop(L), depth + 1, sub, line);
            lua_pop(L, 1);
            if (v == NULL || json_array_append_new(a, v) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    json_t *o = json_object();
    lua_pushnil(L);
    while (o && lua_next(L, idx) != 0) {
        char key[128];
        if (lua_type(L, -2) == LUA_TSTRING) {
            size_t kl;
            const char *k = lua_tolstring(L, -2, &kl);
            if (kl >= sizeof key || strlen(k) != kl) {
                lua_pop(L, 2);
                problem(L, "structure", line, path, "%s: bad key", path);
                json_decref(o);
                return NULL;
            }
            memcpy(key, k, kl + 1);
        } else if (lua_isinteger(L, -2)) {
            snprintf(key, sizeof key, "%lld", (long long)lua_tointeger(L, -2));
        } else {
            lua_pop(L, 2);
            problem(L, "structure", line, path,
                    "%s: keys must be strings or integers", path);
            json_decref(o);
            return NULL;
        }
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
        json_t *v = to_json(L, lua_gettop(L), depth + 1, sub, line);
        lua_pop(L, 1);
        if (v == NULL || json_object_set_new(o, key, v) != 0) {
            lua_pop(L, 1);
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

/*
 * Plain data only. Returns a new reference or NULL after recording a
 * problem. The JSON under construction is only reachable from C locals, so
 * nothing here may raise: no metamethods, no string conversion of numbers.
 * (luaL_checkstack can raise on OOM; that leaks a partial config, which only
 * happens when the process is out of memory anyway.)
 */
static json_t *to_json(lua_State *L, int idx, int depth, const char *path,
                       int line)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        if (!isfinite(lua_tonumber(L, idx))) {
            problem(L, "structure", line, path, "%s: not a finite number",
                    path);
            return NULL;
        }
        return json_real(lua_tonumber(L, idx));
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_t *v = text_json(s, len);
        if (v == NULL)
            problem(L, "structure", line, path, "%s: not valid UTF-8 text",
                    path);
        return v;
    }
    case LUA_TTABLE:
        return table_to_json(L, idx, depth, path, line);
    default:
        problem(L, "structure", line, path, "%s: a %s is not plain data",
                path, luaL_typename(L, idx));
        return NULL;
    }
}

/* ---- read-only views of case and event documents ----------------------- */

typedef struct wf_view {
    const json_t *j;
    unsigned gen;
    const char *what; /* "case" or "event" */
} wf_view;

static wf_view *view_check(lua_State *L, int idx)
{
    wf_view *v = lua_touserdata(L, idx);
    if (v == NULL || !lua_getmetatable(L, idx))
        luaL_error(L, "not a case or event view");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_VIEW_MT);
    bool ours = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    if (!ours)
        luaL_error(L, "not a case or event view");
    /* A view that escaped its call points into a document that may be
     * gone: refuse it, like a closed file in liolib. */
    if (v->gen != ctx_of(L)->gen)
        luaL_error(L, "%s view used outside its call", v->what);
    return v;
}

static void view_push(lua_State *L, const json_t *j, const char *what)
{
    wf_view *v = lua_newuserdatauv(L, sizeof *v, 0);
    v->j = j;
    v->gen = ctx_of(L)->gen;
    v->what = what;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_VIEW_MT);
    lua_setmetatable(L, -2);
}

static void json_push(lua_State *L, const json_t *j, const char *what)
{
    switch (json_typeof(j)) {
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        lua_pushinteger(L, (lua_Integer)json_integer_value(j));
        break;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(j));
        break;
    case JSON_TRUE:
        lua_pushboolean(L, 1);
        break;
    case JSON_FALSE:
        lua_pushboolean(L, 0);
        break;
    case JSON_OBJECT:
    case JSON_ARRAY:
        view_push(L, j, what);
        break;
    default:
        lua_pushnil(L);
    }
}

/* Array index from a Lua key: 1-based integer (or integral float). */
static bool view_index(lua_State *L, int idx, size_t n, size_t *out)
{
    int isint;
    lua_Integer k = lua_tointegerx(L, idx, &isint);
    if (!isint || k < 1 || (lua_Unsigned)k > n)
        return false;
    *out = (size_t)(k - 1);
    return true;
}

static int view_get(lua_State *L)
{
    wf_view *v = view_check(L, 1);
    const json_t *r = NULL;
    if (json_is_object(v->j) && lua_type(L, 2) == LUA_TSTRING) {
        size_t len;
        const char *k = lua_tolstring(L, 2, &len);
        if (strlen(k) == len)
            r = json_object_get(v->j, k);
    } else if (json_is_array(v->j)) {
        size_t i;
        if (view_index(L, 2, json_array_size(v->j), &i))
            r = json_array_get(v->j, i);
    }
    if (r == NULL)
        lua_pushnil(L);
    else
        json_push(L, r, v->what);
    return 1;
}

static int view_set(lua_State *L)
{
    wf_view *v = view_check(L, 1);
    return luaL_error(L, "%s is read-only", v->what);
}

static int view_len(lua_State *L)
{
    wf_view *v = view_check(L, 1);
    lua_pushinteger(L, json_is_array(v->j)
                           ? (lua_Integer)json_array_size(v->j) : 0);
    return 1;
}

/* Stateless iterator: the next key after arg 2 (jansson keeps insertion
 * order, so the order is the document's). */
static int view_next(lua_State *L)
{
    wf_view *v = view_check(L, 1);
    if (json_is_array(v->j)) {
        size_t n = json_array_size(v->j), i = 0;
        if (!lua_isnil(L, 2)) {
            if (!view_index(L, 2, n, &i))
                return luaL_error(L, "invalid key to 'next'");
            i++;
        }
        if (i >= n)
            return 0;
        lua_pushinteger(L, (lua_Integer)i + 1);
        json_push(L, json_array_get(v->j, i), v->what);
        return 2;
    }
    if (!json_is_object(v->j))
        return 0;
    json_t *o = (json_t *)v->j;
    void *it;
    if (lua_isnil(L, 2)) {
        it = json_object_iter(o);
    } else {
        const char *k = lua_tostring(L, 2);
        it = k ? json_object_iter_at(o, k) : NULL;
        if (it == NULL)
            return luaL_error(L, "invalid key to 'next'");
        it = json_object_iter_next(o, it);
    }
    if (it == NULL)
        return 0;
    lua_pushstring(L, json_object_iter_key(it));
    json_push(L, json_object_iter_value(it), v->what);
    return 2;
}

static int view_pairs(lua_State *L)
{
    view_check(L, 1);
    lua_pushcfunction(L, view_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int view_eq(lua_State *L)
{
    wf_view *a = lua_touserdata(L, 1), *b = lua_touserdata(L, 2);
    lua_pushboolean(L, a && b && view_check(L, 1) && view_check(L, 2) &&
                           a->j == b->j);
    return 1;
}

static int view_tostring(lua_State *L)
{
    wf_view *v = view_check(L, 1);
    lua_pushfstring(L, "%s view", v->what);
    return 1;
}

static void view_metatable(lua_State *L)
{
    static const luaL_Reg mt[] = {
        {"__index", view_get},     {"__newindex", view_set},
        {"__len", view_len},       {"__pairs", view_pairs},
        {"__eq", view_eq},         {"__tostring", view_tostring},
        {NULL, NULL}};
    lua_createtable(L, 0, 7);
    luaL_setfuncs(L, mt, 0);
    lua_pushliteral(L, "read-only view");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_VIEW_MT);
}

/* ---- the sandbox: replaced and wrapped library functions --------------- */

/* Call the original function in upvalue 1 with all arguments. */
static int call_original(lua_State *L)
{
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* load: text chunks only, in the sandbox environment (or the env given). */
static int sb_load(lua_State *L)
{
    size_t len;
    if (lua_type(L, 1) != LUA_TSTRING)
        return luaL_error(L, "load: only a string chunk may be loaded");
    const char *s = lua_tolstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    bool has_env = lua_gettop(L) >= 4;
    if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env)
        lua_pushvalue(L, 4);
    else
        lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_ENV);
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
        rawfield(L, 2, "__gc");
        rawfield(L, 2, "__mode");
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
    wf_ctx *c = ctx_of(L);
    if (!c->in_call)
        return luaL_error(L, "now(): there is no time while the workflow "
                             "loads; call now() inside a transition function");
    lua_pushinteger(L, (lua_Integer)c->now);
    return 1;
}

static int sb_workflow(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (ctx_of(L)->frozen)
        return luaL_error(L, "workflow{} may only be called while loading");
    lua_settop(L, 1);
    lua_pushvalue(L, 1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_WORKFLOW);
    return 1;
}

/* string.rep of an empty string loops n times in C: answer it directly. */
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
    return call_original(L);
}

/* Quantifiers of a Lua pattern outside sets, plus %b (also backtracks). */
static int pattern_quantifiers(const char *p, size_t len)
{
    int q = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] == '%') {
            if (i + 1 < len && p[i + 1] == 'b')
                q++;
            i++;
        } else if (p[i] == '[') {
            i++;
            if (i < len && p[i] == '^')
                i++;
            if (i < len && p[i] == ']')
                i++;
            while (i < len && p[i] != ']') {
                if (p[i] == '%')
                    i++;
                i++;
            }
        } else if (p[i] == '*' || p[i] == '+' || p[i] == '-' || p[i] == '?') {
            q++;
        }
    }
    return q;
}

/* find/match/gmatch/gsub: refuse matches whose backtracking could run for
 * longer than any call should (hooks do not run inside C). Upvalue 2 is
 * true for find, whose 4th argument asks for a plain search. */
static int sb_pattern(lua_State *L)
{
    size_t ls, lp;
    luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    if (lua_toboolean(L, lua_upvalueindex(2)) && lua_toboolean(L, 4))
        return call_original(L);
    int exp = pattern_quantifiers(p, lp) + (lp > 0 && p[0] == '^' ? 0 : 1);
    if (pow((double)ls + 1.0, exp) > WF_PATTERN_COST_MAX)
        return luaL_error(L, "pattern too complex for a subject of %d bytes",
                          (int)ls);
    return call_original(L);
}

/* table.insert/remove/sort loop in C up to #t, which __len controls. */
static int sb_table_len(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_Integer n = luaL_len(L, 1);
    if (n < 0 || n > WF_TABLE_MAX)
        return luaL_error(L, "table too long (%d elements)", (int)(n < 0 ? -1 : n));
    return call_original(L);
}

static int sb_table_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
    if (e >= f && (lua_Unsigned)e - (lua_Unsigned)f >= WF_TABLE_MAX)
        return luaL_error(L, "table.move: too many elements");
    return call_original(L);
}

static void wrap(lua_State *L, int lib, const char *name, lua_CFunction fn,
                 int extra)
{
    lua_getfield(L, lib, name);
    if (extra)
        lua_pushboolean(L, extra > 1);
    lua_pushcclosure(L, fn, extra ? 2 : 1);
    lua_setfield(L, lib, name);
}

static void remove_fields(lua_State *L, int idx, const char *const *names)
{
    for (; *names; names++) {
        lua_pushnil(L);
        lua_setfield(L, idx, *names);
    }
}

/* Frozen tables: an empty proxy whose metatable reads through to the
 * original and refuses writes, hides the original and iterates it without
 * handing it out. */
static int ro_newindex(lua_State *L)
{
    return luaL_error(L, "attempt to modify a read-only table (key '%s')",
                      lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2)
                                                    : luaL_typename(L, 2));
}

/* The original behind proxy idx, or 0 when idx is not one of ours. */
static int ro_original(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TTABLE || !lua_getmetatable(L, idx))
        return 0;
    lua_getfield(L, -1, "__newindex");
    bool ours = lua_tocfunction(L, -1) == ro_newindex;
    lua_pop(L, 1);
    if (!ours) {
        lua_pop(L, 1);
        return 0;
    }
    lua_getfield(L, -1, "__index");
    lua_remove(L, -2);
    return lua_gettop(L);
}

static int ro_len(lua_State *L)
{
    int o = ro_original(L, 1);
    if (o == 0)
        return luaL_error(L, "not a read-only table");
    lua_pushinteger(L, luaL_len(L, o));
    return 1;
}

static int ro_next(lua_State *L)
{
    int o = ro_original(L, 1);
    if (o == 0)
        return luaL_error(L, "not a read-only table");
    lua_pushvalue(L, 2);
    if (lua_next(L, o) == 0)
        return 0;
    return 2;
}

static int ro_pairs(lua_State *L)
{
    lua_pushcfunction(L, ro_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* ---- require -------------------------------------------------------------- */

/* Source of module name: from the directory (collect mode, recorded into
 * c->modules) or from the bundle. Pushes it; raises when not found. */
static void module_source(lua_State *L, wf_ctx *c, const char *name)
{
    json_t *s = json_object_get(c->modules, name);
    if (c->dir != NULL && s == NULL) {
        char rel[WF_NAME_MAX + 8], why[300];
        char *buf;
        size_t len;
        snprintf(rel, sizeof rel, "%s.lua", name);
        for (char *p = rel; *p; p++)
            if (*p == '.' && strcmp(p, ".lua") != 0)
                *p = '/';
        int rc = read_inside(c->dir, rel, &buf, &len, why, sizeof why);
        if (rc == CF_ENOMEM)
            wf_oom(L);
        if (rc != 0)
            luaL_error(L, "require('%s'): %s", name, why);
        s = text_json(buf, len);
        free(buf);
        if (s == NULL)
            luaL_error(L, "require('%s'): %s is not UTF-8 text", name, rel);
        if (json_object_set_new(c->modules, name, s) != 0)
            wf_oom(L);
    }
    if (!json_is_string(s))
        luaL_error(L, "require('%s'): no such module in the workflow", name);
    lua_pushlstring(L, json_string_value(s), json_string_length(s));
}

static int sb_require(lua_State *L)
{
    wf_ctx *c = ctx_of(L);
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    if (!valid_module_name(name, len))
        return luaL_error(L, "require: invalid module name '%s' (letters, "
                             "digits and _ in segments joined by single dots)",
                          len > WF_NAME_MAX ? "(too long)" : name);
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_LOADED); /* 2 */
    lua_pushvalue(L, 1);
    lua_rawget(L, 2); /* 3 */
    if (lua_touserdata(L, 3) == (void *)&KEY_LOADING)
        return luaL_error(L, "require('%s'): circular require", name);
    if (!lua_isnil(L, 3))
        return 1;
    if (c->frozen)
        return luaL_error(L, "require('%s'): modules must be required when "
                             "the workflow loads, not inside a transition",
                          name);
    lua_pop(L, 1);

    char chunk[WF_NAME_MAX + 8];
    snprintf(chunk, sizeof chunk, "=%s.lua", name);
    for (char *p = chunk + 1; *p; p++)
        if (*p == '.' && strcmp(p, ".lua") != 0)
            *p = '/';
    module_source(L, c, name); /* 3 */
    size_t slen;
    const char *src = lua_tolstring(L, 3, &slen);
    if (luaL_loadbufferx(L, src, slen, chunk, "t") != LUA_OK)
        return lua_error(L);
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, (void *)&KEY_LOADING);
    lua_rawset(L, 2);
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
    }
    lua_pushvalue(L, 1);
    lua_pushvalue(L, -2);
    lua_rawset(L, 2);
    return 1;
}

/* ---- state creation ------------------------------------------------------- */

static int open_body(lua_State *L)
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

    for (const luaL_Reg *lib = libs; lib->name; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    lua_pushglobaltable(L);
    int g = lua_gettop(L);
    remove_fields(L, g, base_out);
    lua_pushcfunction(L, sb_load);
    lua_setfield(L, g, "load");
    lua_pushcfunction(L, sb_require);
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
    wrap(L, s, "rep", sb_rep, 0);
    wrap(L, s, "find", sb_pattern, 2);
    wrap(L, s, "match", sb_pattern, 1);
    wrap(L, s, "gmatch", sb_pattern, 1);
    wrap(L, s, "gsub", sb_pattern, 1);
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

    lua_getfield(L, g, LUA_TABLIBNAME);
    int t = lua_gettop(L);
    wrap(L, t, "insert", sb_table_len, 0);
    wrap(L, t, "remove", sb_table_len, 0);
    wrap(L, t, "sort", sb_table_len, 0);
    wrap(L, t, "move", sb_table_move, 0);
    lua_pop(L, 1);

    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_LOADED);
    lua_pushvalue(L, g);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_ENV);
    view_metatable(L);
    return 0;
}

static void ctx_free(wf_ctx *c)
{
    if (c == NULL)
        return;
    json_decref(c->modules);
    json_decref(c->problems);
    free(c->snap_up);
    free(c);
}

static void sandbox_close(lua_State *L)
{
    if (L == NULL)
        return;
    wf_ctx *c = ctx_of(L);
    lua_close(L);
    ctx_free(c);
}

/* A fresh sandbox. modules: new reference stolen (collect mode: filled). */
static int sandbox_new(const char *dir, json_t *modules, lua_State **out,
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
    int rc = wf_protected(L, open_body, NULL, CF_EINTERNAL, err);
    if (rc != 0) {
        sandbox_close(L);
        return rc;
    }
    *out = L;
    return 0;
}

/* ---- running the main chunk ------------------------------------------- */

typedef struct main_args {
    const char *name; /* module name of the main file */
    const char *file; /* its file name */
} main_args;

static int main_body(lua_State *L)
{
    main_args *a = lua_touserdata(L, 1);
    wf_ctx *c = ctx_of(L);
    char chunk[WF_NAME_MAX + 8];
    snprintf(chunk, sizeof chunk, "=%s", a->file);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_LOADED); /* 2 */
    lua_pushstring(L, a->name);
    lua_pushlightuserdata(L, (void *)&KEY_LOADING);
    lua_rawset(L, 2);
    if (luaL_loadbufferx(L, c->src, c->srclen, chunk, "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 1);
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_WORKFLOW);
    } else if (!lua_isnil(L, -1) ||
               lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_WORKFLOW) != LUA_TTABLE) {
        return luaL_error(L, "%s: the file must return workflow { ... }",
                          a->file);
    }
    lua_pushstring(L, a->name);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_WORKFLOW);
    lua_rawset(L, 2);
    return 0;
}

/* Run main (source src, file name file) in L. */
static int run_main(lua_State *L, const char *name, const char *file,
                    const char *src, size_t len, cf_error *err)
{
    wf_ctx *c = ctx_of(L);
    main_args a = {name, file};
    c->file = file;
    c->src = src;
    c->srclen = len;
    return wf_protected(L, main_body, &a, CF_EINVALID, err);
}

/* ---- building the state table ------------------------------------------ */

static char *dup_or_oom(lua_State *L, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        wf_oom(L);
    return d;
}

/* Unknown keys of the table at idx (only string keys in allowed). */
static void check_keys(lua_State *L, int idx, const char *const *allowed,
                       const char *what, const char *field, int line)
{
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                       : NULL;
        bool ok = false;
        for (const char *const *a = allowed; k && *a && !ok; a++)
            ok = strcmp(k, *a) == 0;
        if (!ok)
            problem(L, "structure", line, field, "%s: unknown key '%s'", what,
                    k ? k : luaL_typename(L, -1));
    }
}

/* An array of strings at idx into a new char** (roles or targets). */
static char **string_array(lua_State *L, int idx, size_t *n, bool roles,
                           const char *what, const char *field, int line)
{
    size_t count;
    *n = 0;
    if (lua_type(L, idx) != LUA_TTABLE || !is_sequence(L, idx, &count)) {
        problem(L, "structure", line, field, "%s: must be a list of strings",
                what);
        return NULL;
    }
    if (count == 0)
        return NULL;
    char **out = calloc(count, sizeof *out);
    if (out == NULL)
        wf_oom(L);
    /* *n grows as entries are filled, so a raise frees what was copied. */
    for (size_t i = 0; i < count; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                       : NULL;
        lua_pop(L, 1);
        bool ok = s != NULL && *s;
        if (ok && roles) {
            ok = false;
            for (const char *const *r = ROLES; *r && !ok; r++)
                ok = strcmp(s, *r) == 0;
        }
        if (!ok) {
            if (roles && s)
                problem(L, "structure", line, field,
                        "%s: unknown role '%s' (analyst, officer, supervisor, "
                        "authoriser, administrator)", what, s);
            else
                problem(L, "structure", line, field,
                        "%s: must be a list of strings", what);
            continue;
        }
        out[*n] = strdup(s);
        if (out[*n] == NULL) {
            for (size_t j = 0; j < *n; j++)
                free(out[j]);
            free(out);
            *n = 0;
            wf_oom(L);
        }
        (*n)++;
    }
    if (*n == 0) {
        free(out);
        return NULL;
    }
    return out;
}

static void free_strings(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* days/hours/minutes/seconds (+ event for timers) into seconds. */
static int64_t duration(lua_State *L, int idx, bool timer, char **event,
                        const char *what, const char *field, int line)
{
    static const char *const units[] = {"days", "hours", "minutes", "seconds"};
    static const int64_t secs[] = {86400, 3600, 60, 1};
    static const char *const tkeys[] = {"days", "hours", "minutes", "seconds",
                                        "event", NULL};
    if (lua_type(L, idx) != LUA_TTABLE) {
        problem(L, "structure", line, field, "%s: must be a table", what);
        return 0;
    }
    check_keys(L, idx, tkeys, what, field, line);
    if (!timer) {
        rawfield(L, idx, "event");
        bool has = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (has)
            problem(L, "structure", line, field, "%s: a deadline has no event",
                    what);
    }
    int64_t total = 0;
    for (int i = 0; i < 4; i++) {
        lua_pushstring(L, units[i]);
        lua_rawget(L, idx);
        if (!lua_isnil(L, -1)) {
            int isint;
            lua_Integer v = lua_tointegerx(L, -1, &isint);
            if (lua_type(L, -1) != LUA_TNUMBER || !isint || v < 0 ||
                v > WF_DURATION_MAX)
                problem(L, "structure", line, field,
                        "%s: %s must be a non-negative integer", what,
                        units[i]);
            else
                total += v * secs[i];
        }
        lua_pop(L, 1);
    }
    if (total <= 0 || total > WF_DURATION_MAX)
        problem(L, "structure", line, field,
                "%s: the duration must be positive and at most 100 years",
                what);
    if (timer) {
        lua_pushliteral(L, "event");
        lua_rawget(L, idx);
        if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0)
            problem(L, "structure", line, field, "%s: needs an event name",
                    what);
        else
            *event = dup_or_oom(L, lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return total;
}

/* A function value at idx into the registry; its first line. */
static void transition_function(lua_State *L, int idx, cf_wf_transition *t)
{
    lua_Debug ar;
    lua_pushvalue(L, idx);
    lua_pushvalue(L, idx);
    t->fnref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (lua_getinfo(L, ">S", &ar))
        t->line = ar.linedefined;
}

/* The full form { to, targets, roles, four_eyes, system }. */
static void transition_table(lua_State *L, int v, cf_wf_transition *t,
                             const char *what, const char *field, int line)
{
    static const char *const keys[] = {"to", "targets", "roles", "four_eyes",
                                       "system", NULL};
    check_keys(L, v, keys, what, field, line);
    rawfield(L, v, "to");
    if (lua_type(L, -1) == LUA_TSTRING)
        t->target = dup_or_oom(L, lua_tostring(L, -1));
    else if (lua_type(L, -1) == LUA_TFUNCTION)
        transition_function(L, lua_gettop(L), t);
    else
        problem(L, "structure", line, field,
                "%s: 'to' must be a state name or a function", what);
    lua_pop(L, 1);
    rawfield(L, v, "targets");
    if (!lua_isnil(L, -1))
        t->targets = string_array(L, lua_gettop(L), &t->ntargets, false, what,
                                  field, line);
    lua_pop(L, 1);
    rawfield(L, v, "roles");
    if (!lua_isnil(L, -1))
        t->roles = string_array(L, lua_gettop(L), &t->nroles, true, what,
                                field, line);
    lua_pop(L, 1);
    rawfield(L, v, "four_eyes");
    if (lua_type(L, -1) == LUA_TSTRING && lua_rawlen(L, -1) > 0)
        t->four_eyes = dup_or_oom(L, lua_tostring(L, -1));
    else if (!lua_isnil(L, -1))
        problem(L, "structure", line, field,
                "%s: four_eyes must be an event name", what);
    lua_pop(L, 1);
    rawfield(L, v, "system");
    if (lua_type(L, -1) == LUA_TBOOLEAN)
        t->system = lua_toboolean(L, -1);
    else if (!lua_isnil(L, -1))
        problem(L, "structure", line, field, "%s: system must be a boolean",
                what);
    lua_pop(L, 1);
}

/* Transitions of state st from the `on` table at idx. */
static void parse_on(lua_State *L, int idx, cf_wf_state *st)
{
    char what[300], field[300];
    size_t n = 0;
    if (lua_type(L, idx) != LUA_TTABLE) {
        problem(L, "structure", st->line, st->name,
                "state '%s': 'on' must be a table", st->name);
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        n++;
    }
    if (n == 0)
        return;
    st->on = calloc(n, sizeof *st->on);
    if (st->on == NULL)
        wf_oom(L);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int v = lua_gettop(L);
        if (lua_type(L, -2) != LUA_TSTRING || lua_rawlen(L, -2) == 0 ||
            lua_rawlen(L, -2) > WF_NAME_MAX) {
            problem(L, "structure", st->line, st->name,
                    "state '%s': event names must be strings", st->name);
            lua_pop(L, 1);
            continue;
        }
        const char *ev = lua_tostring(L, -2);
        cf_wf_transition *t = &st->on[st->non++];
        t->fnref = LUA_NOREF;
        t->event = dup_or_oom(L, ev);
        snprintf(what, sizeof what, "state '%s': transition '%s'", st->name,
                 ev);
        snprintf(field, sizeof field, "states.%s.on.%s", st->name, ev);
        switch (lua_type(L, v)) {
        case LUA_TSTRING:
            t->target = dup_or_oom(L, lua_tostring(L, v));
            break;
        case LUA_TFUNCTION:
            transition_function(L, v, t);
            break;
        case LUA_TTABLE:
            transition_table(L, v, t, what, field, st->line);
            break;
        default:
            problem(L, "structure", st->line, field,
                    "%s: must be a state name, a function or a table", what);
        }
        lua_settop(L, v - 1);
    }
}

static void parse_state(lua_State *L, int idx, cf_wf_state *st, int from)
{
    static const char *const keys[] = {"step", "config", "roles", "final",
                                       "timer", "deadline", "on", NULL};
    char what[200], field[200];
    wf_ctx *c = ctx_of(L);
    st->line = scan_line(c, st->name, from, 0, true, true);
    snprintf(what, sizeof what, "state '%s'", st->name);
    snprintf(field, sizeof field, "states.%s", st->name);
    if (lua_type(L, idx) != LUA_TTABLE) {
        problem(L, "structure", st->line, field, "%s: must be a table", what);
        return;
    }
    check_keys(L, idx, keys, what, field, st->line);

    rawfield(L, idx, "step");
    if (lua_type(L, -1) == LUA_TSTRING &&
        match_ident(lua_tostring(L, -1), lua_rawlen(L, -1), true, NULL))
        st->step = dup_or_oom(L, lua_tostring(L, -1));
    else if (!lua_isnil(L, -1))
        problem(L, "structure", st->line, field,
                "%s: step must be a plugin module name ([a-z][a-z0-9_]*)", what);
    lua_pop(L, 1);

    rawfield(L, idx, "config");
    if (lua_type(L, -1) == LUA_TTABLE) {
        char path[220];
        snprintf(path, sizeof path, "states.%s.config", st->name);
        json_t *cfg = to_json(L, lua_gettop(L), 0, path, st->line);
        if (json_is_object(cfg)) {
            json_decref(st->config);
            st->config = cfg;
        } else if (cfg != NULL) {
            json_decref(cfg);
            problem(L, "structure", st->line, path,
                    "%s: config must have named keys", what);
        }
    } else if (!lua_isnil(L, -1)) {
        problem(L, "structure", st->line, field, "%s: config must be a table",
                what);
    }
    lua_pop(L, 1);

    rawfield(L, idx, "roles");
    if (!lua_isnil(L, -1))
        st->roles = string_array(L, lua_gettop(L), &st->nroles, true, what,
                                 field, st->line);
    lua_pop(L, 1);

    rawfield(L, idx, "final");
    if (lua_type(L, -1) == LUA_TBOOLEAN)
        st->final = lua_toboolean(L, -1);
    else if (!lua_isnil(L, -1))
        problem(L, "structure", st->line, field, "%s: final must be a boolean",
                what);
    lua_pop(L, 1);

    rawfield(L, idx, "timer");
    if (!lua_isnil(L, -1))
        st->timer_secs = duration(L, lua_gettop(L), true, &st->timer_event,
                                  what, field, st->line);
    lua_pop(L, 1);
    rawfield(L, idx, "deadline");
    if (!lua_isnil(L, -1))
        st->deadline_secs = duration(L, lua_gettop(L), false, NULL, what,
                                     field, st->line);
    lua_pop(L, 1);

    rawfield(L, idx, "on");
    if (!lua_isnil(L, -1))
        parse_on(L, lua_gettop(L), st);
    lua_pop(L, 1);
    if (st->final && st->non > 0)
        problem(L, "structure", st->line, field,
                "%s: a final state has no transitions", what);
}

static int cmp_state(const void *a, const void *b)
{
    const cf_wf_state *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int cmp_transition(const void *a, const void *b)
{
    const cf_wf_transition *x = a, *y = b;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return strcmp(x->event, y->event);
}

/* Point name at the state's own copy of it: resolve then hands out names
 * owned by the states, and cf_wf_free knows which strings are aliases. */
static bool alias_state(cf_wf *wf, char **name)
{
    cf_wf_state *st = cf_wf_find_state(wf, *name);
    if (st == NULL)
        return false;
    if (st->name != *name) {
        free(*name);
        *name = st->name;
    }
    return true;
}

/* Resolve every named target, after all states are known. */
static void link_targets(lua_State *L, cf_wf *wf)
{
    wf_ctx *c = ctx_of(L);
    for (size_t i = 0; i < wf->nstates; i++) {
        cf_wf_state *st = &wf->states[i];
        int next = i + 1 < wf->nstates ? wf->states[i + 1].line : 0;
        for (size_t j = 0; j < st->non; j++) {
            cf_wf_transition *t = &st->on[j];
            if (t->fnref == LUA_NOREF && st->line > 0)
                t->line = scan_line(c, t->event, st->line,
                                    next > st->line ? next : 0, false, false);
            if (t->line == 0)
                t->line = st->line;
        }
        if (st->non > 1) /* qsort must not see the NULL of an empty array */
            qsort(st->on, st->non, sizeof *st->on, cmp_transition);
        for (size_t j = 0; j < st->non; j++) {
            cf_wf_transition *t = &st->on[j];
            char field[300];
            snprintf(field, sizeof field, "states.%s.on.%s", st->name,
                     t->event);
            if (t->target && !alias_state(wf, &t->target))
                problem(L, "undefined-state", t->line, field,
                        "state '%s': transition '%s' goes to undefined state "
                        "'%s'", st->name, t->event, t->target);
            for (size_t k = 0; k < t->ntargets; k++)
                if (!alias_state(wf, &t->targets[k]))
                    problem(L, "undefined-state", t->line, field,
                            "state '%s': transition '%s' declares undefined "
                            "target '%s'", st->name, t->event, t->targets[k]);
            if (t->target && t->ntargets > 0) {
                bool in = false;
                for (size_t k = 0; k < t->ntargets && !in; k++)
                    in = strcmp(t->targets[k], t->target) == 0;
                if (!in)
                    problem(L, "undefined-state", t->line, field,
                            "state '%s': transition '%s' goes to '%s', which "
                            "is not among its targets", st->name, t->event,
                            t->target);
            }
        }
    }
}

static void parse_states(lua_State *L, int idx, cf_wf *wf, int top_line)
{
    wf_ctx *c = ctx_of(L);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        n++;
    }
    if (n == 0) {
        problem(L, "structure", top_line, "states",
                "workflow: states must not be empty");
        return;
    }
    wf->states = calloc(n, sizeof *wf->states);
    if (wf->states == NULL)
        wf_oom(L);
    int from = scan_line(c, "states", 1, 0, true, true);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int v = lua_gettop(L);
        if (lua_type(L, -2) != LUA_TSTRING ||
            !match_ident(lua_tostring(L, -2), lua_rawlen(L, -2), false,
                         ".-")) {
            problem(L, "structure", top_line, "states",
                    "workflow: state names must be identifiers");
            lua_pop(L, 1);
            continue;
        }
        cf_wf_state *st = &wf->states[wf->nstates++];
        st->name = dup_or_oom(L, lua_tostring(L, -2));
        st->config = json_object();
        if (st->config == NULL)
            wf_oom(L);
        parse_state(L, v, st, from);
        lua_settop(L, v - 1);
    }
    qsort(wf->states, wf->nstates, sizeof *wf->states, cmp_state);
}

static void parse_top(lua_State *L, int t, cf_wf *wf, int top_line)
{
    static const char *const keys[] = {"name", "version", "initial", "config",
                                       "assets", "states", NULL};
    wf_ctx *c = ctx_of(L);
    check_keys(L, t, keys, "workflow", "", top_line);

    rawfield(L, t, "name");
    if (lua_type(L, -1) == LUA_TSTRING &&
        match_ident(lua_tostring(L, -1), lua_rawlen(L, -1), true, NULL))
        wf->name = dup_or_oom(L, lua_tostring(L, -1));
    else
        problem(L, "structure", scan_line(c, "name", 1, 0, false, true),
                "name", "workflow: name must match [a-z][a-z0-9_]*");
    lua_pop(L, 1);

    rawfield(L, t, "version");
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (lua_type(L, -1) == LUA_TNUMBER && isint && v >= 1)
        wf->declared_version = v;
    else
        problem(L, "structure", scan_line(c, "version", 1, 0, false, true),
                "version", "workflow: version must be an integer >= 1");
    lua_pop(L, 1);

    rawfield(L, t, "config");
    if (lua_type(L, -1) == LUA_TTABLE) {
        json_t *cfg = to_json(L, lua_gettop(L), 0, "config", top_line);
        if (json_is_object(cfg)) {
            json_decref(wf->config);
            wf->config = cfg;
        } else if (cfg != NULL) {
            json_decref(cfg);
            problem(L, "structure", top_line, "config",
                    "workflow: config must have named keys");
        }
    } else if (!lua_isnil(L, -1)) {
        problem(L, "structure", top_line, "config",
                "workflow: config must be a table");
    }
    lua_pop(L, 1);

    rawfield(L, t, "assets");
    if (!lua_isnil(L, -1)) {
        size_t n;
        char **a = string_array(L, lua_gettop(L), &n, false,
                                "workflow: assets", "assets", top_line);
        /* Loading from a bundle: every asset named must be in it. */
        json_t *have = json_object_get(wf->bundle, "assets");
        for (size_t i = 0; c->dir == NULL && i < n; i++)
            if (json_object_get(have, a[i]) == NULL)
                problem(L, "structure", top_line, "assets",
                        "workflow: asset '%s' is not in the bundle", a[i]);
        free_strings(a, n);
    }
    lua_pop(L, 1);

    rawfield(L, t, "states");
    if (lua_type(L, -1) == LUA_TTABLE)
        parse_states(L, lua_gettop(L), wf, top_line);
    else
        problem(L, "structure", top_line, "states",
                "workflow: states must be a table of states");
    lua_pop(L, 1);
    link_targets(L, wf);

    rawfield(L, t, "initial");
    if (lua_type(L, -1) != LUA_TSTRING) {
        problem(L, "structure", top_line, "initial",
                "workflow: initial must name a state");
    } else {
        const char *ini = lua_tostring(L, -1);
        wf->initial = dup_or_oom(L, ini);
        if (wf->nstates > 0 && cf_wf_find_state(wf, ini) == NULL)
            problem(L, "undefined-state",
                    scan_line(c, "initial", 1, 0, false, true), "initial",
                    "workflow: initial state '%s' is not defined", ini);
    }
    lua_pop(L, 1);
}

/* name -> index + 1, for resolving function results without strcmp. */
static void index_states(lua_State *L, cf_wf *wf)
{
    lua_createtable(L, 0, (int)wf->nstates);
    for (size_t i = 0; i < wf->nstates; i++) {
        lua_pushinteger(L, (lua_Integer)i + 1);
        lua_setfield(L, -2, wf->states[i].name);
    }
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_STATES);
}

static int build_body(lua_State *L)
{
    wf_ctx *c = ctx_of(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_WORKFLOW);
    if (lua_type(L, -1) != LUA_TTABLE)
        return luaL_error(L, "%s: the file must return workflow { ... }",
                          c->file);
    parse_top(L, lua_gettop(L), c->wf, 0);
    index_states(L, c->wf);
    return 0;
}

/* ---- freezing ------------------------------------------------------------- */

static void freeze(lua_State *L, int memo, int funcs, int depth);

/* Freeze the contents of table idx in place (values and keys). */
static void freeze_contents(lua_State *L, int idx, int memo, int funcs,
                            int depth)
{
    luaL_checkstack(L, 8, "freeze");
    lua_newtable(L); /* table keys to re-insert as proxies */
    int keys = lua_gettop(L);
    lua_Integer nkeys = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int vt = lua_type(L, -1);
        if (vt == LUA_TTABLE || vt == LUA_TFUNCTION) {
            lua_pushvalue(L, -1);
            freeze(L, memo, funcs, depth + 1);
            if (!lua_rawequal(L, -1, -2)) {
                lua_pushvalue(L, -3);
                lua_insert(L, -2);
                lua_rawset(L, idx); /* an existing key: next stays valid */
            } else {
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TTABLE || lua_type(L, -1) == LUA_TFUNCTION) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, keys, ++nkeys);
        }
    }
    for (lua_Integer i = 1; i <= nkeys; i++) {
        lua_rawgeti(L, keys, i);
        lua_pushvalue(L, -1);
        freeze(L, memo, funcs, depth + 1);
        if (!lua_rawequal(L, -1, -2)) {
            lua_pushvalue(L, -2);
            lua_rawget(L, idx);  /* k pk v */
            lua_pushvalue(L, -3);
            lua_pushnil(L);
            lua_rawset(L, idx);
            lua_rawset(L, idx);  /* t[pk] = v */
        } else {
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/*
 * Replace the value on top by its frozen form: a table by a read-only proxy
 * (its contents frozen in place first), a Lua function stays itself with
 * its upvalues frozen. memo maps originals to proxies (and proxies to
 * themselves), so shared and cyclic structures freeze once.
 */
static void freeze(lua_State *L, int memo, int funcs, int depth)
{
    int v = lua_gettop(L);
    int type = lua_type(L, v);
    if (type != LUA_TTABLE && type != LUA_TFUNCTION)
        return;
    if (depth > WF_FREEZE_DEPTH)
        luaL_error(L, "workflow data nested too deeply");
    luaL_checkstack(L, 8, "freeze");
    lua_pushvalue(L, v);
    if (lua_rawget(L, memo) != LUA_TNIL) {
        lua_replace(L, v);
        return;
    }
    lua_pop(L, 1);
    if (type == LUA_TFUNCTION) {
        lua_pushvalue(L, v);
        lua_pushvalue(L, v);
        lua_rawset(L, memo);
        if (lua_iscfunction(L, v))
            return;
        lua_pushvalue(L, v);
        lua_rawseti(L, funcs, (lua_Integer)lua_rawlen(L, funcs) + 1);
        for (int i = 1; lua_getupvalue(L, v, i) != NULL; i++) {
            lua_pushvalue(L, -1);
            freeze(L, memo, funcs, depth + 1);
            if (!lua_rawequal(L, -1, -2))
                lua_setupvalue(L, v, i);
            else
                lua_pop(L, 1);
            lua_pop(L, 1);
        }
        return;
    }
    lua_newtable(L); /* the proxy */
    int p = lua_gettop(L);
    lua_createtable(L, 0, 5);
    lua_pushvalue(L, v);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, ro_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushcfunction(L, ro_len);
    lua_setfield(L, -2, "__len");
    lua_pushcfunction(L, ro_pairs);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, p);
    lua_pushvalue(L, v);
    lua_pushvalue(L, p);
    lua_rawset(L, memo);
    lua_pushvalue(L, p);
    lua_pushvalue(L, p);
    lua_rawset(L, memo);
    freeze_contents(L, v, memo, funcs, depth);
    /* Metatables stay real tables (metamethods are read raw) but their
     * contents freeze too. */
    if (lua_getmetatable(L, v)) {
        int mt = lua_gettop(L);
        lua_pushvalue(L, mt);
        if (lua_rawget(L, memo) == LUA_TNIL) {
            lua_pushvalue(L, mt);
            lua_pushvalue(L, mt);
            lua_rawset(L, memo);
            freeze_contents(L, mt, memo, funcs, depth + 1);
        }
        lua_settop(L, p);
    }
    lua_replace(L, v);
}

/* Record every upvalue of every reachable Lua function (once per shared
 * cell): scalars cannot be frozen, so they are put back after each call. */
static void snapshot(lua_State *L, int funcs)
{
    wf_ctx *c = ctx_of(L);
    lua_newtable(L);
    int seen = lua_gettop(L);
    lua_newtable(L);
    int snap = lua_gettop(L);
    size_t nf = lua_rawlen(L, funcs), cap = 0;
    lua_Integer slot = 0;
    for (size_t f = 1; f <= nf; f++) {
        lua_rawgeti(L, funcs, (lua_Integer)f);
        int fi = lua_gettop(L);
        for (int i = 1; lua_getupvalue(L, fi, i) != NULL; i++) {
            lua_pushlightuserdata(L, lua_upvalueid(L, fi, i));
            if (lua_rawget(L, seen) != LUA_TNIL) {
                lua_pop(L, 2);
                continue;
            }
            lua_pop(L, 1);
            lua_pushlightuserdata(L, lua_upvalueid(L, fi, i));
            lua_pushboolean(L, 1);
            lua_rawset(L, seen);
            if (c->nsnap == cap) {
                cap = cap ? cap * 2 : 16;
                int *up = realloc(c->snap_up, cap * sizeof *up);
                if (up == NULL)
                    wf_oom(L);
                c->snap_up = up;
            }
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                lua_pushlightuserdata(L, (void *)&KEY_NIL);
            }
            lua_pushvalue(L, fi);
            lua_rawseti(L, snap, ++slot);
            lua_rawseti(L, snap, ++slot);
            c->snap_up[c->nsnap++] = i;
        }
        lua_settop(L, fi - 1);
    }
    lua_pushvalue(L, snap);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_SNAP);
    lua_settop(L, seen - 1);
}

static int restore_body(lua_State *L)
{
    wf_ctx *c = ctx_of(L);
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_SNAP) != LUA_TTABLE)
        return 0;
    int snap = lua_gettop(L);
    for (size_t j = 0; j < c->nsnap; j++) {
        lua_rawgeti(L, snap, (lua_Integer)(2 * j + 1));
        int f = lua_gettop(L);
        if (lua_getupvalue(L, f, c->snap_up[j]) == NULL) {
            lua_settop(L, f - 1);
            continue;
        }
        lua_rawgeti(L, snap, (lua_Integer)(2 * j + 2));
        if (lua_touserdata(L, -1) == (void *)&KEY_NIL) {
            lua_pop(L, 1);
            lua_pushnil(L);
        }
        if (!lua_rawequal(L, -1, -2))
            lua_setupvalue(L, f, c->snap_up[j]);
        lua_settop(L, f - 1);
    }
    return 0;
}

static int freeze_body(lua_State *L)
{
    wf_ctx *c = ctx_of(L);
    lua_newtable(L);
    int memo = lua_gettop(L);
    lua_newtable(L);
    int funcs = lua_gettop(L);
    lua_pushglobaltable(L);
    freeze(L, memo, funcs, 0);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &KEY_ENV);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_LOADED);
    freeze_contents(L, lua_gettop(L), memo, funcs, 0);
    lua_pop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_WORKFLOW);
    freeze(L, memo, funcs, 0);
    lua_pop(L, 1);
    /* The transition functions are reachable from the workflow table, but
     * a script could have swapped that table's contents behind metatables:
     * freeze what the registry refs hold too. */
    for (size_t i = 0; i < c->wf->nstates; i++)
        for (size_t j = 0; j < c->wf->states[i].non; j++) {
            int ref = c->wf->states[i].on[j].fnref;
            if (ref == LUA_NOREF)
                continue;
            lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
            freeze(L, memo, funcs, 0);
            lua_pop(L, 1);
        }
    snapshot(L, funcs);
    c->frozen = true;
    return 0;
}

/* ---- bundle ----------------------------------------------------------------- */

/* Module name and file name of a main file path ("a/polit.lua" -> "polit",
 * "polit.lua"); dir gets the directory. New strings. */
static int split_path(const char *path, char **dir, char **file, char **name)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    *dir = slash ? strndup(path, (size_t)(slash - path) + (slash == path))
                 : strdup(".");
    *file = strdup(base);
    size_t n = strlen(base);
    if (n > 4 && strcmp(base + n - 4, ".lua") == 0)
        n -= 4;
    *name = strndup(base, n);
    if (!*dir || !*file || !*name) {
        free(*dir);
        free(*file);
        free(*name);
        return CF_ENOMEM;
    }
    return 0;
}

typedef struct assets_args {
    json_t *assets; /* object to fill */
    char why[320];
    int rc;
} assets_args;

/* Read every file the workflow's `assets` list names. */
static int assets_body(lua_State *L)
{
    assets_args *a = lua_touserdata(L, 1);
    wf_ctx *c = ctx_of(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_WORKFLOW);
    if (lua_type(L, -1) != LUA_TTABLE)
        return 0;
    rawfield(L, -1, "assets");
    if (lua_isnil(L, -1))
        return 0;
    if (lua_type(L, -1) != LUA_TTABLE) {
        a->rc = CF_EINVALID;
        snprintf(a->why, sizeof a->why, "assets must be a list of file names");
        return 0;
    }
    int t = lua_gettop(L);
    size_t n = lua_rawlen(L, t);
    for (size_t i = 1; i <= n && a->rc == 0; i++) {
        lua_rawgeti(L, t, (lua_Integer)i);
        char rel[256];
        if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) >= sizeof rel) {
            a->rc = CF_EINVALID;
            snprintf(a->why, sizeof a->why, "assets[%zu] must be a file name", i);
            break;
        }
        snprintf(rel, sizeof rel, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        char *buf;
        size_t len;
        int rc = read_inside(c->dir, rel, &buf, &len, a->why, sizeof a->why);
        if (rc == CF_ENOMEM)
            return wf_oom(L);
        if (rc != 0) {
            a->rc = rc == CF_ENOTFOUND ? CF_EINVALID : rc;
            break;
        }
        json_t *s = text_json(buf, len);
        free(buf);
        if (s == NULL) {
            a->rc = CF_EINVALID;
            snprintf(a->why, sizeof a->why, "asset '%s' is not UTF-8 text", rel);
            break;
        }
        if (json_object_set_new(a->assets, rel, s) != 0)
            return wf_oom(L);
    }
    return 0;
}

/* Collect mode: read path, run it with require on its directory. On
 * success *L holds the state (bundle fields filled). */
typedef struct collected {
    lua_State *L;
    char *dir, *file, *name, *src;
    size_t len;
} collected;

static void collected_free(collected *k)
{
    sandbox_close(k->L);
    free(k->dir);
    free(k->file);
    free(k->name);
    free(k->src);
    memset(k, 0, sizeof *k);
}

static int collect(const char *path, collected *k, cf_error *err)
{
    memset(k, 0, sizeof *k);
    if (path == NULL)
        return cf_err_set(err, CF_EINVALID, "path", "no workflow file given");
    if (split_path(path, &k->dir, &k->file, &k->name) != 0)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    int rc = cf_read_file(path, &k->src, &k->len, err);
    if (rc != 0) {
        collected_free(k);
        return rc;
    }
    json_t *mods = json_object();
    json_t *main = text_json(k->src, k->len);
    if (main == NULL) {
        json_decref(mods);
        collected_free(k);
        return cf_err_set(err, CF_EINVALID, "file", "%s: not UTF-8 text",
                          path);
    }
    if (mods == NULL || json_object_set_new(mods, k->name, main) != 0) {
        json_decref(mods);
        collected_free(k);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    rc = sandbox_new(k->dir, mods, &k->L, err);
    if (rc == 0)
        rc = run_main(k->L, k->name, k->file, k->src, k->len, err);
    return rc;
}

int cf_wf_bundle_from_file(const char *path, json_t **bundle, cf_error *err)
{
    collected k;
    assets_args a = {0};
    if (bundle == NULL)
        return cf_err_set(err, CF_EINVALID, NULL, "no bundle out-parameter");
    *bundle = NULL;
    int rc = collect(path, &k, err);
    if (rc != 0) {
        collected_free(&k);
        return rc;
    }
    a.assets = json_object();
    if (a.assets == NULL) {
        collected_free(&k);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    rc = wf_protected(k.L, assets_body, &a, CF_EINVALID, err);
    if (rc == 0 && a.rc != 0)
        rc = cf_err_set(err, a.rc, "assets", "%s: %s", k.file, a.why);
    if (rc == 0) {
        wf_ctx *c = ctx_of(k.L);
        *bundle = json_pack("{s:s, s:s, s:O, s:o}", "main", k.name, "file",
                            k.file, "modules", c->modules, "assets", a.assets);
        a.assets = NULL;
        if (*bundle == NULL)
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    json_decref(a.assets);
    collected_free(&k);
    return rc;
}

/* ---- load, free, lookups -------------------------------------------------- */

static int first_problem(json_t *problems, int code, cf_error *err)
{
    json_t *p = json_array_get(problems, 0);
    const char *file = json_string_value(json_object_get(p, "file"));
    int line = (int)json_integer_value(json_object_get(p, "line"));
    const char *msg = json_string_value(json_object_get(p, "message"));
    const char *field = json_string_value(json_object_get(p, "field"));
    if (line > 0)
        return cf_err_set(err, code, field, "%s:%d: %s", file, line, msg);
    return cf_err_set(err, code, field, "%s: %s", file, msg);
}

/* The bundle's main source and file name. */
static int bundle_main(json_t *bundle, const char **name, const char **file,
                       const char **src, size_t *len, cf_error *err)
{
    json_t *mods = json_object_get(bundle, "modules");
    *name = json_string_value(json_object_get(bundle, "main"));
    *file = json_string_value(json_object_get(bundle, "file"));
    json_t *s = *name ? json_object_get(mods, *name) : NULL;
    if (!json_is_object(bundle) || *name == NULL || !json_is_string(s) ||
        !json_is_object(mods))
        return cf_err_set(err, CF_EINVALID, "bundle",
                          "workflow bundle has no main module");
    *src = json_string_value(s);
    *len = json_string_length(s);
    return 0;
}

int cf_wf_load(json_t *bundle, cf_wf **out, cf_error *err)
{
    const char *name = NULL, *file = NULL, *src = NULL;
    char filebuf[WF_NAME_MAX + 8];
    size_t len = 0;
    if (out == NULL)
        return cf_err_set(err, CF_EINVALID, NULL, "no out-parameter");
    *out = NULL;
    int rc = bundle_main(bundle, &name, &file, &src, &len, err);
    if (rc != 0)
        return rc;
    if (file == NULL) {
        snprintf(filebuf, sizeof filebuf, "%s.lua", name);
        file = filebuf;
    }
    cf_wf *wf = calloc(1, sizeof *wf);
    if (wf == NULL)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    wf->bundle = json_incref(bundle);
    wf->config = json_object();
    lua_State *L = NULL;
    rc = sandbox_new(NULL, json_incref(json_object_get(bundle, "modules")),
                     &L, err);
    wf->lua = L;
    if (rc == 0)
        rc = run_main(L, name, file, src, len, err);
    wf_ctx *c = L ? ctx_of(L) : NULL;
    if (rc == 0) {
        c->wf = wf;
        rc = wf_protected(L, build_body, NULL, CF_EINVALID, err);
    }
    if (rc == 0 && json_array_size(c->problems) > 0)
        rc = first_problem(c->problems, CF_EINVALID, err);
    if (rc == 0)
        rc = wf_protected(L, freeze_body, NULL, CF_EINVALID, err);
    if (rc == 0) {
        char *canon = cf_json_canonical(bundle);
        if (canon == NULL)
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
        else
            cf_sha256_hex(canon, strlen(canon), wf->hash);
        free(canon);
    }
    if (c != NULL) {
        c->wf = NULL;
        c->src = NULL; /* borrowed from the bundle, which wf keeps anyway */
    }
    if (rc != 0) {
        cf_wf_free(wf);
        return rc;
    }
    *out = wf;
    return 0;
}

/* Free a name unless it is an alias of a state's own name. */
static void free_target(const cf_wf *wf, char *name)
{
    if (name == NULL)
        return;
    const cf_wf_state *st = cf_wf_find_state(wf, name);
    if (st == NULL || st->name != name)
        free(name);
}

static void free_transition(const cf_wf *wf, cf_wf_transition *t)
{
    free(t->event);
    free_target(wf, t->target);
    for (size_t k = 0; k < t->ntargets; k++)
        free_target(wf, t->targets[k]);
    free(t->targets);
    free_strings(t->roles, t->nroles);
    free(t->four_eyes);
}

void cf_wf_free(cf_wf *wf)
{
    if (wf == NULL)
        return;
    for (size_t i = 0; i < wf->nstates; i++) {
        cf_wf_state *st = &wf->states[i];
        for (size_t j = 0; j < st->non; j++)
            free_transition(wf, &st->on[j]);
        free(st->on);
    }
    /* Names last: free_target compares pointers with them. */
    for (size_t i = 0; i < wf->nstates; i++) {
        cf_wf_state *st = &wf->states[i];
        free(st->name);
        free(st->step);
        json_decref(st->config);
        free_strings(st->roles, st->nroles);
        free(st->timer_event);
    }
    free(wf->states);
    sandbox_close(wf->lua);
    free(wf->name);
    free(wf->initial);
    json_decref(wf->config);
    json_decref(wf->bundle);
    free(wf);
}

cf_wf_state *cf_wf_find_state(const cf_wf *wf, const char *name)
{
    if (wf == NULL || name == NULL)
        return NULL;
    for (size_t i = 0; i < wf->nstates; i++)
        if (wf->states[i].name && strcmp(wf->states[i].name, name) == 0)
            return &wf->states[i];
    return NULL;
}

const cf_wf_transition *cf_wf_find_transition(const cf_wf_state *st,
                                              const char *event)
{
    if (st == NULL || event == NULL)
        return NULL;
    for (size_t i = 0; i < st->non; i++)
        if (strcmp(st->on[i].event, event) == 0)
            return &st->on[i];
    return NULL;
}

/* ---- resolve ---------------------------------------------------------------- */

enum { RES_NIL, RES_STATE, RES_UNDEFINED, RES_BADTYPE };

typedef struct resolve_args {
    const cf_wf_transition *t;
    const json_t *case_doc, *event_doc;
    int kind;
    size_t state;       /* RES_STATE: index */
    char got[64];       /* RES_UNDEFINED: the name; RES_BADTYPE: the type */
} resolve_args;

static int resolve_body(lua_State *L)
{
    resolve_args *a = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, a->t->fnref);
    if (a->case_doc)
        view_push(L, a->case_doc, "case");
    else
        lua_pushnil(L);
    if (a->event_doc)
        view_push(L, a->event_doc, "event");
    else
        lua_pushnil(L);
    lua_call(L, 2, 1);
    int type = lua_type(L, -1);
    if (type == LUA_TNIL) {
        a->kind = RES_NIL;
    } else if (type == LUA_TSTRING) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &KEY_STATES);
        lua_pushvalue(L, -2);
        lua_Integer i = lua_tointeger(L, (lua_rawget(L, -2), -1));
        if (i > 0) {
            a->kind = RES_STATE;
            a->state = (size_t)i - 1;
        } else {
            a->kind = RES_UNDEFINED;
            snprintf(a->got, sizeof a->got, "%s", lua_tostring(L, -3));
        }
    } else {
        a->kind = RES_BADTYPE;
        snprintf(a->got, sizeof a->got, "%s", lua_typename(L, type));
    }
    return 0;
}

/* The state that owns transition t (for messages). */
static const char *owner_of(const cf_wf *wf, const cf_wf_transition *t)
{
    for (size_t i = 0; i < wf->nstates; i++)
        if (t >= wf->states[i].on && t < wf->states[i].on + wf->states[i].non)
            return wf->states[i].name;
    return "?";
}

/* "file:line" of the function of t, for messages. */
static void function_where(lua_State *L, const cf_wf_transition *t,
                           char *out, size_t size)
{
    lua_Debug ar;
    out[0] = '\0';
    if (!lua_checkstack(L, 1))
        return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->fnref);
    if (lua_type(L, -1) == LUA_TFUNCTION && lua_getinfo(L, ">S", &ar))
        snprintf(out, size, "%s:%d", ar.short_src, ar.linedefined);
    else
        lua_pop(L, 1);
}

int cf_wf_resolve(cf_wf *wf, const cf_wf_transition *t, const json_t *case_doc,
                  const json_t *event_doc, int64_t now, const char **target,
                  cf_error *err)
{
    if (target == NULL || wf == NULL || t == NULL)
        return cf_err_set(err, CF_EINVALID, NULL, "resolve: missing argument");
    *target = NULL;
    if (t->fnref == LUA_NOREF) {
        *target = t->target;
        return 0;
    }
    lua_State *L = wf->lua;
    wf_ctx *c = ctx_of(L);
    if (c->broken)
        return cf_err_set(err, CF_ESCRIPT, NULL,
                          "workflow %s: its Lua state is unusable after an "
                          "earlier failure", wf->name);
    resolve_args a = {.t = t, .case_doc = case_doc, .event_doc = event_doc};
    json_incref((json_t *)case_doc);
    json_incref((json_t *)event_doc);
    c->in_call = true;
    c->now = now;
    int rc = wf_protected(L, resolve_body, &a, CF_ESCRIPT, err);
    c->in_call = false;
    c->gen++;
    json_decref((json_t *)case_doc);
    json_decref((json_t *)event_doc);
    if (wf_protected(L, restore_body, NULL, CF_EINTERNAL, NULL) != 0)
        c->broken = true;
    if (rc != 0)
        return rc;

    char where[200];
    switch (a.kind) {
    case RES_NIL:
        return 0;
    case RES_STATE:
        break;
    case RES_UNDEFINED:
        function_where(L, t, where, sizeof where);
        return cf_err_set(err, CF_EINVALID, t->event,
                          "%s: state '%s': transition '%s' returned undefined "
                          "state '%s'", where, owner_of(wf, t), t->event, a.got);
    default:
        function_where(L, t, where, sizeof where);
        return cf_err_set(err, CF_EINVALID, t->event,
                          "%s: state '%s': transition '%s' returned a %s, not "
                          "a state name or nil", where, owner_of(wf, t),
                          t->event, a.got);
    }
    const char *name = wf->states[a.state].name;
    if (t->ntargets > 0) {
        bool in = false;
        for (size_t k = 0; k < t->ntargets && !in; k++)
            in = t->targets[k] == name || strcmp(t->targets[k], name) == 0;
        if (!in) {
            function_where(L, t, where, sizeof where);
            return cf_err_set(err, CF_EINVALID, t->event,
                              "%s: state '%s': transition '%s' returned '%s', "
                              "which is not among its targets", where,
                              owner_of(wf, t), t->event, name);
        }
    }
    *target = name;
    return 0;
}

/* ---- check ------------------------------------------------------------------- */

/* Path of a file named in a message, relative to the main file's dir. */
static void finding_path(const collected *k, const char *path,
                         const char *file, char *out, size_t size)
{
    if (file == NULL || strcmp(file, k->file) == 0)
        snprintf(out, size, "%s", path);
    else if (strchr(path, '/') == NULL)
        snprintf(out, size, "%s", file);
    else
        snprintf(out, size, "%s/%s", k->dir, file);
}

static int add_finding(json_t *diags, const char *file, int line,
                       const char *rule, const char *msg)
{
    json_t *f = json_pack("{s:s, s:i, s:s, s:s}", "file", file, "line", line,
                          "rule", rule, "message", msg);
    if (f == NULL || json_array_append_new(diags, f) != 0)
        return CF_ENOMEM;
    return 0;
}

/* A Lua error "file:line: message" into a finding. */
static int syntax_finding(const collected *k, const char *path,
                          const char *msg, json_t *diags)
{
    char file[256] = "", where[300];
    int line = 0;
    const char *p = msg;
    /* The first ":<digits>:" splits file from line. */
    for (const char *q = strchr(p, ':'); q; q = strchr(q + 1, ':')) {
        const char *d = q + 1;
        while (isdigit((unsigned char)*d))
            d++;
        if (d > q + 1 && *d == ':' && (size_t)(q - p) < sizeof file) {
            memcpy(file, p, (size_t)(q - p));
            file[q - p] = '\0';
            line = atoi(q + 1);
            msg = d + 1;
            while (*msg == ' ')
                msg++;
            break;
        }
    }
    finding_path(k, path, file[0] ? file : NULL, where, sizeof where);
    /* A file that runs but returns no workflow is a structural problem. */
    return add_finding(diags, where, line,
                       strstr(msg, "must return workflow") ? "structure"
                                                           : "syntax", msg);
}

/* Every state reachable from initial through named targets; a function
 * without declared targets may reach any state. */
static int reachability(const cf_wf *wf, const char *path, json_t *diags,
                        lua_State *L, const collected *k)
{
    size_t n = wf->nstates, head = 0, tail = 0;
    int rc = 0;
    bool *seen = calloc(n ? n : 1, sizeof *seen);
    size_t *queue = calloc(n ? n : 1, sizeof *queue);
    const cf_wf_state *ini = cf_wf_find_state(wf, wf->initial);
    if (seen == NULL || queue == NULL) {
        rc = CF_ENOMEM;
        goto out;
    }
    if (ini != NULL) {
        seen[ini - wf->states] = true;
        queue[tail++] = (size_t)(ini - wf->states);
    }
    while (head < tail) {
        const cf_wf_state *st = &wf->states[queue[head++]];
        for (size_t j = 0; j < st->non; j++) {
            const cf_wf_transition *t = &st->on[j];
            bool any = t->fnref != LUA_NOREF && t->ntargets == 0;
            for (size_t s = 0; s < n; s++) {
                bool hit = any || (t->target && strcmp(t->target,
                                                       wf->states[s].name) == 0);
                for (size_t x = 0; x < t->ntargets && !hit; x++)
                    hit = strcmp(t->targets[x], wf->states[s].name) == 0;
                if (hit && !seen[s]) {
                    seen[s] = true;
                    queue[tail++] = s;
                }
            }
        }
    }
    for (size_t s = 0; s < n && rc == 0 && ini != NULL; s++) {
        char msg[300];
        if (seen[s])
            continue;
        snprintf(msg, sizeof msg, "state '%s' cannot be reached from '%s'",
                 wf->states[s].name, wf->initial);
        rc = add_finding(diags, path, wf->states[s].line, "unreachable", msg);
    }
    /* Functions without declared targets, wherever they are. */
    for (size_t s = 0; s < n && rc == 0; s++)
        for (size_t j = 0; j < wf->states[s].non && rc == 0; j++) {
            const cf_wf_transition *t = &wf->states[s].on[j];
            char msg[300], where[200], file[300];
            if (t->fnref == LUA_NOREF || t->ntargets > 0)
                continue;
            function_where(L, t, where, sizeof where);
            char *colon = strrchr(where, ':');
            if (colon)
                *colon = '\0';
            finding_path(k, path, where[0] ? where : NULL, file, sizeof file);
            snprintf(msg, sizeof msg, "state '%s': transition '%s' is a "
                     "function without declared targets (add targets = {...})",
                     wf->states[s].name, t->event);
            rc = add_finding(diags, file, t->line, "no-targets", msg);
        }
out:
    free(seen);
    free(queue);
    return rc;
}

static int plugin_findings(const cf_wf *wf, cf_loader *loader,
                           const char *path, json_t *diags)
{
    int rc = 0;
    for (size_t i = 0; i < wf->nstates && rc == 0; i++) {
        const cf_wf_state *st = &wf->states[i];
        const cf_module *m = NULL;
        cf_error e = {0};
        char msg[600];
        if (st->step == NULL)
            continue;
        if (cf_loader_get(loader, st->step, &m, &e) != 0 || m == NULL) {
            snprintf(msg, sizeof msg, "state '%s': step plugin '%s': %s",
                     st->name, st->step, e.message[0] ? e.message : "missing");
            rc = add_finding(diags, path, st->line, "missing-plugin", msg);
            continue;
        }
        for (size_t j = 0; j < st->non && rc == 0; j++) {
            const cf_wf_transition *t = &st->on[j];
            if (cf_plugin_accepts(m->desc, t->event) ||
                cf_plugin_emits(m->desc, t->event) || t->system ||
                strcmp(t->event, "repeat_referral") == 0 ||
                (st->timer_event && strcmp(st->timer_event, t->event) == 0))
                continue;
            snprintf(msg, sizeof msg, "state '%s': plugin '%s' neither "
                     "accepts nor emits event '%s'", st->name, st->step,
                     t->event);
            rc = add_finding(diags, path, t->line, "unaccepted-event", msg);
        }
    }
    return rc;
}

int cf_wf_check(const char *path, cf_loader *loader, json_t *diags,
                cf_error *err)
{
    collected k;
    if (!json_is_array(diags))
        return cf_err_set(err, CF_EINVALID, NULL, "check: no findings array");
    cf_error e = {0};
    int rc = collect(path, &k, &e);
    if (rc != 0 && k.L == NULL) {
        collected_free(&k);
        if (err)
            *err = e;
        return rc;
    }
    if (rc != 0) {
        rc = syntax_finding(&k, path, e.message, diags);
        collected_free(&k);
        return rc ? cf_err_set(err, rc, NULL, "out of memory") : 0;
    }
    wf_ctx *c = ctx_of(k.L);
    assets_args a = {0};
    cf_wf *wf = calloc(1, sizeof *wf);
    a.assets = json_object();
    if (wf == NULL || a.assets == NULL || (wf->config = json_object()) == NULL)
        rc = CF_ENOMEM;
    if (rc == 0) {
        c->wf = wf;
        rc = wf_protected(k.L, build_body, NULL, CF_EINVALID, &e);
        c->wf = NULL;
        if (rc == CF_ENOMEM)
            goto out;
        if (rc != 0)
            rc = syntax_finding(&k, path, e.message, diags);
    }
    for (size_t i = 0; rc == 0 && i < json_array_size(c->problems); i++) {
        json_t *p = json_array_get(c->problems, i);
        char file[300];
        finding_path(&k, path, json_string_value(json_object_get(p, "file")),
                     file, sizeof file);
        rc = add_finding(diags, file,
                         (int)json_integer_value(json_object_get(p, "line")),
                         json_string_value(json_object_get(p, "rule")),
                         json_string_value(json_object_get(p, "message")));
    }
    if (rc == 0) {
        rc = wf_protected(k.L, assets_body, &a, CF_EINVALID, &e);
        if (rc == 0 && a.rc != 0)
            rc = add_finding(diags, path, 0, "structure", a.why);
        else if (rc != 0 && rc != CF_ENOMEM)
            rc = add_finding(diags, path, 0, "structure", e.message);
    }
    if (rc == 0 && wf->nstates > 0)
        rc = reachability(wf, path, diags, k.L, &k);
    if (rc == 0 && loader != NULL)
        rc = plugin_findings(wf, loader, path, diags);
out:
    json_decref(a.assets);
    if (wf != NULL)
        wf->lua = NULL; /* the state belongs to k */
    cf_wf_free(wf);
    collected_free(&k);
    if (rc != 0)
        return cf_err_set(err, rc, NULL, "out of memory");
    return 0;
}
