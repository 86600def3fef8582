/*
 * What the files of engine/workflow/ share, and nothing else: the per-state
 * context, the registry keys, and the functions one file offers another.
 * The interface the rest of the engine sees is in engine/internal.h; every
 * function here is internal to the workflow module and prefixed wf_.
 */
#ifndef CF_WORKFLOW_WF_H
#define CF_WORKFLOW_WF_H

#include "internal.h"

#include <lauxlib.h>
#include <lua.h>

#define WF_NAME_MAX 128

/*
 * What C work costs, in units of the instruction budget (one unit is about
 * one Lua instruction, a few nanoseconds). Work done in C runs without the
 * hook, so every library function whose work grows with its arguments
 * charges it before doing it; these rates make a loop of such calls end at
 * about the same wall time as a loop of plain instructions.
 */
#define WF_SCAN_BYTES 4     /* bytes read, converted or compared per unit */
#define WF_ALLOC_BYTES 16   /* bytes allocated (so copied or filled) per unit */
#define WF_ELEMENT_UNITS 4  /* per table element or stack value moved */
#define WF_STEP_UNITS 4     /* per step of the pattern matcher */
#define WF_COMPARE_UNITS 4  /* per comparison made by table.sort */
#define WF_COMPILE_UNITS 8  /* per byte of source the parser compiles */
#define WF_FORMAT_UNITS 32  /* per snprintf string.format makes */
#define WF_CCALL_UNITS 64   /* per call of a C function from C (a sort's
                             * comparator), whose work no hook sees */
/* Most values one library call may push: the VM copies them again with
 * every call or vararg expansion, one instruction each, hook or not. */
#define WF_RESULTS_MAX 8192

/* Registry keys: the addresses are unique, the bytes unused. */
extern const char wf_key_loaded;   /* module name -> value */
extern const char wf_key_env;      /* environment for load() */
extern const char wf_key_workflow; /* the table workflow{} marked */
extern const char wf_key_states;   /* state name -> index + 1 */
extern const char wf_key_loading;  /* sentinel: module being loaded */

/* What runs, for budget messages and the watchdog; formatted only when one
 * is needed. The strings must live as long as the call. */
typedef struct wf_label {
    const char *workflow; /* its name; while loading, its file (or NULL) */
    long long version;    /* 0 while loading */
    const char *state;    /* the state whose transition runs */
    const char *case_id;  /* NULL: no case */
} wf_label;

/* Per lua_State context, reached through lua_getextraspace. */
typedef struct wf_ctx {
    lua_State *L;
    size_t mem_used;
    long ticks;        /* instructions and charged work of this call */
    bool over_budget, over_memory, over_time, stopping;
    bool protecting;   /* inside wf_protected: the allocator may stop it */
    int64_t deadline_ms; /* CLOCK_MONOTONIC; 0: no time limit */
    int64_t budget_ms;   /* what the deadline came from, for messages */
    wf_label label;    /* what runs */
    bool oom;       /* a C allocation failed inside a protected body */
    bool frozen;    /* after load: only cached modules, read-only world */
    bool in_call;   /* a transition function runs: now() works */
    bool broken;    /* the snapshot could not be restored: refuse calls */
    int64_t now;
    unsigned gen;   /* views carry the generation of their call */
    char where[160];/* "file:line" where a limit stopped the script */
    char *trace;    /* the Lua traceback of the last failed call, or NULL */

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

static inline wf_ctx *wf_ctx_of(lua_State *L)
{
    return *(wf_ctx **)lua_getextraspace(L);
}

/* t[k] without metamethods: building the state table must not run
 * script code hidden behind __index. Pushes the value, returns its type. */
static inline int wf_rawfield(lua_State *L, int idx, const char *k)
{
    idx = lua_absindex(L, idx);
    lua_pushstring(L, k);
    return lua_rawget(L, idx);
}

/* ---- sandbox.c: the state, its limits and the protected call ----------- */

/*
 * Run body(arg) in protected mode under the budget and the cap. A Lua error
 * becomes errcode with the message; a hit limit becomes CF_ESCRIPT whatever
 * the script did with the error; a failed C allocation CF_ENOMEM. The stack
 * is left as it was.
 */
int wf_protected(lua_State *L, lua_CFunction body, void *arg, int errcode,
                 cf_error *err);
/* Raise after a failed C allocation inside a protected body. */
int wf_oom(lua_State *L);
/* The wall-time limit of the next protected calls: lim, or when lim is
 * NULL the default budget from now. */
void wf_set_limits(lua_State *L, const cf_wf_limits *lim);
/* No time limit (internal bodies that run no script code). */
void wf_clear_limits(lua_State *L);
/* "workflow polit v3: state 'assessment', case CF-000012", or "loading
 * workflow polit.lua". */
void wf_label_format(const wf_label *l, char *out, size_t size);
/* Charge units of work done in C to the running call before doing it;
 * raises (in a way pcall cannot swallow) when the budget or the deadline
 * is exceeded. Reads the clock. */
void wf_charge(lua_State *L, size_t units);
/* Refuse an allocation of size bytes that cannot fit under the memory cap,
 * before making it; raises like a hit memory cap. */
void wf_check_memory(lua_State *L, size_t size, const char *what);
/* A fresh sandbox. modules: new reference stolen (collect mode: filled). */
int wf_sandbox_new(const char *dir, json_t *modules, lua_State **out,
                   cf_error *err);
void wf_sandbox_close(lua_State *L);

/* ---- library.c: the standard library as workflows see it --------------- */

/* Protected body: open the safe libraries, replace and wrap functions. */
int wf_open_libs(lua_State *L);
/* a * b, saturating at SIZE_MAX (costs of absurd arguments). */
size_t wf_mul(size_t a, size_t b);

/* ---- pattern.c: string.find, match, gmatch, gsub ------------------------ */

/* Install the budgeted pattern functions into the string table at strlib. */
void wf_open_patterns(lua_State *L, int strlib);

/* ---- watchdog.c: the last resort ---------------------------------------- */

/* End the process with exit status 70, after writing "caseflow: <label>:
 * still running <late_ms> ms past its time budget; ...", if it is still
 * armed at fire_at_ms (CLOCK_MONOTONIC) and the calling thread has used as
 * much CPU time since arming as the wall clock allowed it (a call starved
 * of CPU is not ended for being late). label (borrowed) must stay valid
 * until disarmed. False when it could not be armed (no thread, or another
 * thread's call holds it). */
bool wf_watchdog_arm(int64_t fire_at_ms, int64_t late_ms,
                     const wf_label *label);
void wf_watchdog_disarm(void);

/* ---- views.c: JSON and Lua ---------------------------------------------- */

/* Text we store in a bundle: valid UTF-8 (jansson checks) without NUL. New
 * reference, NULL when the text is not. */
json_t *wf_text_json(const char *buf, size_t len);
/* Plain Lua data at idx into new JSON, or NULL after recording a problem. */
json_t *wf_to_json(lua_State *L, int idx, int depth, const char *path,
                   int line);
/* Push a read-only view of j (borrowed: valid for the current call). */
void wf_view_push(lua_State *L, const json_t *j, const char *what);
/* Create the views' metatable in the registry. */
void wf_view_metatable(lua_State *L);

/* ---- bundle.c: require, bundles ----------------------------------------- */

/* The sandbox's require. */
int wf_require(lua_State *L);

typedef struct wf_assets_args {
    json_t *assets; /* object to fill */
    char why[320];
    int rc;
} wf_assets_args;

/* Protected body, arg a wf_assets_args: read every listed asset. */
int wf_assets_body(lua_State *L);

/* A workflow file run in collect mode; on success L holds the state (its
 * modules recorded in the context). */
typedef struct wf_collected {
    lua_State *L;
    char *dir, *file, *name, *src;
    size_t len;
} wf_collected;

int wf_collect(const char *path, wf_collected *k, cf_error *err);
void wf_collected_free(wf_collected *k);

/* ---- dsl.c: the workflow table into cf_wf ------------------------------- */

/* Record a structural finding; the build goes on. */
void wf_problem(lua_State *L, const char *rule, int line, const char *field,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Protected body: build the context's cf_wf from the workflow table. */
int wf_build_body(lua_State *L);

/* ---- eventdata.c: declared event data ----------------------------------- */

/* The `data` table at idx into t's fields (findings recorded). */
void wf_parse_data(lua_State *L, int idx, cf_wf_transition *t, const char *what,
                   const char *field, int line);
void wf_free_fields(cf_wf_transition *t);
/* The declared field name of t, or NULL. */
const cf_wf_field *wf_find_field(const cf_wf_transition *t, const char *name);

/* ---- guards.c: what a transition function's source says ----------------- */

/*
 * Scan the source of transition function t (its own lines, found through
 * the debug info and the workflow's modules): every `return` of its own
 * body, with the string it returns when that is a literal, and every
 * `event.data.NAME` it reads (event being its second parameter). New
 * object {file, line, returns: [{line, value: string|null, literal}],
 * reads: [{line, field}], falls_off: bool}, or NULL when the source cannot
 * be found.
 */
json_t *wf_guard_scan(lua_State *L, const cf_wf_transition *t);

/* ---- call.c: freezing and calls ----------------------------------------- */

/* Protected body: freeze everything the script can reach. */
int wf_freeze_body(lua_State *L);
/* "file:line" of the function of t, for messages ("" when unknown). */
void wf_function_where(lua_State *L, const cf_wf_transition *t, char *out,
                       size_t size);

#endif /* CF_WORKFLOW_WF_H */
