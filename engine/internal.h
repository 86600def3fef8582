/*
 * Internal interfaces between the engine's modules. Nothing here is public:
 * the library exports only the cf_ functions of include/caseflow/caseflow.h
 * (see -export-symbols-regex in Makefile.am). Internal functions are prefixed
 * by their module: cf_err_, cf_time_, cf_json_, cf_wf_ (workflow/), cf_loader_
 * (loader.c), cf_store_ (store/: sqlite.c, tables.c), cf_audit_ (audit.c).
 */
#ifndef CF_INTERNAL_H
#define CF_INTERNAL_H

#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <ltdl.h>

#include "caseflow/caseflow.h"
#include "caseflow/plugin.h"

#define CF_UNUSED(x) ((void)(x))

/* ---- error.c ---------------------------------------------------------- */

/* Fill err (may be NULL) and return code. field may be NULL. */
int cf_err_set(cf_error *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int cf_err_setv(cf_error *err, int code, const char *field, const char *fmt,
                va_list ap) __attribute__((format(printf, 4, 0)));
void cf_err_clear(cf_error *err);

/* ---- clock.c ---------------------------------------------------------- */

/* Parse RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)". An offset is
 * required. Fills the UTC instant (seconds; fractions dropped) and the offset
 * in minutes. Returns 0 or -1. */
int cf_time_parse(const char *text, int64_t *utc, int *offset_minutes);
/* Parse a date "YYYY-MM-DD" (UTC midnight) or a full RFC 3339 time. */
int cf_time_parse_date(const char *text, int64_t *utc);
/* "YYYY-MM-DDTHH:MM:SSZ" into out. */
void cf_time_format(int64_t t, char out[32]);
/* System clock, Unix seconds. */
int64_t cf_time_system(void);
/* CLOCK_MONOTONIC in milliseconds: for budgets, never for case times. */
int64_t cf_time_monotonic_ms(void);

/* ---- util.c: JSON paths and hashing ------------------------------------ */

/* Borrowed value at dotted path in doc, or NULL. "" is doc itself. */
json_t *cf_json_path_get(json_t *doc, const char *path);
/* Set value (stolen, NULL deletes) at dotted path, creating objects.
 * Returns 0 or -1 when a non-container is in the way. */
int cf_json_path_set(json_t *doc, const char *path, json_t *value);
/* Canonical text of a JSON value: exactly json_dumps(v, JSON_COMPACT |
 * JSON_SORT_KEYS | JSON_ENCODE_ANY), written faster (canon.c); new malloc'd
 * string, NULL on OOM or where json_dumps gives NULL (invalid UTF-8, a
 * cycle, v NULL). */
char *cf_json_canonical(const json_t *v);
/* Hex SHA-256 of data. */
void cf_sha256_hex(const void *data, size_t len, char out[65]);
/* SHA-256 of a file's bytes; 0 or -1. */
int cf_sha256_file(const char *path, char out[65]);
/* Is s well-formed UTF-8 (no overlongs, no surrogates)? */
bool cf_utf8_valid(const char *s);
/* Does the comma-separated list (may be NULL) hold item? */
bool cf_list_has(const char *list, const char *item);
/* Read a whole file into a new NUL-terminated buffer; 0 or negative CF_E*. */
int cf_read_file(const char *path, char **out, size_t *len, cf_error *err);

/* ---- linediff.c ------------------------------------------------------- */

/* The unified diff (three lines of context) of text a against text b (NULL:
 * empty), headed "--- a_label" and "+++ b_label"; "" when they are the
 * same. New malloc'd string, NULL on OOM. */
char *cf_line_diff(const char *a, const char *b, const char *a_label, const char *b_label);

/* ---- loader.c: step plugins on libltdl -------------------------------- */

typedef struct cf_loader cf_loader;

/* A loaded module. Owned by the loader; valid until cf_loader_free. */
typedef struct cf_module {
    char *name;          /* module name ("referral") */
    char *path;          /* shared object that was read (a .la's target) */
    char sha256[65];     /* SHA-256 of the bytes read and mapped */
    const cf_plugin *desc;
    lt_dlhandle handle;
} cf_module;

/* New loader searching `path` (colon-separated, may be NULL) and then the
 * installed plugin directory (PKGLIBDIR). Calls lt_dlinit. */
int cf_loader_new(const char *path, cf_loader **out, cf_error *err);
void cf_loader_free(cf_loader *l);
/* Find and load module `name` on the search path (cached). Borrowed result.
 * CF_EMISSING: not found, not a caseflow plugin, or an incompatible ABI
 * (the message names both versions). */
int cf_loader_get(cf_loader *l, const char *name, const cf_module **out,
                  cf_error *err);
/* What cf_loader_get_expect found instead of the expected build. */
typedef struct cf_loader_found {
    bool refused;       /* set when the file was refused for its hash */
    char sha256[65];    /* SHA-256 of the file found */
    char version[128];  /* version its descriptor declares, read from the file
                         * without loading it; "(unknown)" when unreadable */
    char path[4096];    /* the shared object (a .la's target), as named */
} cf_loader_found;
/* As cf_loader_get, but when expect_sha256 is not NULL and the module is
 * not loaded yet, a file whose SHA-256 differs is refused BEFORE it is
 * loaded (none of its code runs): CF_EMISSING, found->refused set and
 * filled. A module this loader already holds is returned as it is: the
 * caller compares its sha256. found may be NULL only when expect_sha256 is. */
int cf_loader_get_expect(cf_loader *l, const char *name, const char *expect_sha256,
                         const cf_module **out, cf_loader_found *found, cf_error *err);
/* Load the module in file (a .la or .so path). Borrowed result. */
int cf_loader_open_file(cf_loader *l, const char *file, const cf_module **out,
                        cf_error *err);
/* Every module found on the search path, as an array of descriptors (new
 * reference); modules that fail to load appear with an "error" member. */
int cf_loader_list(cf_loader *l, json_t **out, cf_error *err);
/* Descriptor of a loaded module as JSON (new reference). */
json_t *cf_loader_describe(const cf_module *m);
/* elfpeek.c: the NUL-terminated string that the pointer at byte `field` of
 * the defined dynamic symbol `symbol` points to, read from the bytes of a
 * shared object (len bytes at buf) without loading it, into out (size
 * bytes). false when anything is missing, out of bounds or too long (out is
 * then ""). For messages only: nothing read this way is trusted. */
bool cf_elf_symbol_string(const void *buf, size_t len, const char *symbol, size_t field,
                          char *out, size_t size);
/* Does the module accept / emit event? */
bool cf_plugin_accepts(const cf_plugin *p, const char *event);
bool cf_plugin_emits(const cf_plugin *p, const char *event);

/* ---- workflow/: Lua workflows in a sandbox ------------------------------ */

/* Budgets for each call into Lua. The instruction budget also counts the
 * work library functions do in C (see docs/workflows.md). */
#define CF_WF_MEMORY_CAP (32u * 1024u * 1024u)
#define CF_WF_INSTRUCTION_BUDGET 10000000L

/* Wall-time limits of workflow calls: every call made with the same limits
 * shares one deadline (the engine gives all the calls of one command the
 * same limits, so a command never holds the store's write lock longer than
 * the budget). */
typedef struct cf_wf_limits {
    int64_t deadline_ms; /* CLOCK_MONOTONIC milliseconds by which the calls must end */
    int64_t budget_ms;   /* the budget the deadline came from, for messages */
} cf_wf_limits;
#define CF_WF_DEFAULT_BUDGET_MS 1000

typedef struct cf_wf cf_wf;
typedef struct cf_wf_state cf_wf_state;

/* One declared field of an event's data (a transition's `data` table). */
typedef struct cf_wf_field {
    char *name;
    char *type;          /* string boolean number integer object array time any */
    bool required;
} cf_wf_field;

typedef struct cf_wf_transition {
    char *event;
    char *target;        /* state name, or NULL when resolved by a function */
    int fnref;           /* LUA_NOREF or a registry ref of the function */
    char **targets;      /* declared possible targets of a function (may be 0) */
    size_t ntargets;
    char **roles;        /* roles allowed to send this event; 0 = the state's */
    size_t nroles;
    char **manual;       /* `manual`: roles that may send this plugin outcome by
                          * hand (besides roles); 0 = only the plugin sends it */
    size_t nmanual;
    char *four_eyes;     /* event whose actor must not be this event's actor */
    bool system;         /* only the engine (timers, correlation) may raise it */
    int line;            /* source line, 0 when unknown */
    bool has_data;       /* `data` declared: only these fields, of these types */
    cf_wf_field *fields;
    size_t nfields;
} cf_wf_transition;

struct cf_wf_state {
    char *name;
    char *step;            /* plugin module name, or NULL for none */
    json_t *config;        /* state config as a JSON object (owned, never NULL) */
    char **roles;          /* roles allowed to act in this state */
    size_t nroles;
    bool final;
    int64_t timer_secs;    /* state timer (0: none), set on entering */
    char *timer_event;
    int64_t deadline_secs; /* response deadline set on entering (0: none) */
    cf_wf_transition *on;
    size_t non;
    int line;
    void *plugin_state;    /* engine-owned: plugin instance for this state */
    const cf_module *module; /* engine-owned: the module bound to step */
    char *unbound;         /* engine-owned: why step is not bound (pins.c), or NULL */
};

struct cf_wf {
    char *name;
    int64_t declared_version; /* the `version` field of the script */
    char *initial;
    json_t *config;           /* workflow-level `config` table (owned, object) */
    cf_wf_state *states;
    size_t nstates;
    json_t *bundle;           /* owned: {main, modules{name: source}, assets{name: text}} */
    char hash[65];            /* SHA-256 of the canonical bundle */
    void *lua;                /* lua_State * */
    /* engine-owned bookkeeping */
    int64_t version;          /* stored version number (0 until deployed) */
};

/* Read the workflow in file path, run it in a fresh sandbox with `require`
 * limited to its directory, and collect the bundle: the main source, every
 * module it required and every file named in its `assets` list. *bundle is a
 * new reference. CF_EINVALID (with file:line in the message) for a syntax or
 * runtime error, CF_ESCRIPT for an exceeded budget (loading has
 * CF_WF_DEFAULT_BUDGET_MS), CF_ENOTFOUND when the file does not exist. */
int cf_wf_bundle_from_file(const char *path, json_t **bundle, cf_error *err);

/* Evaluate src (the text of file; dir: where its `require` reads modules,
 * NULL: none) in a fresh sandbox under a workflow's loading limits: it must
 * return one table of plain data, which *out gets as JSON (new reference;
 * an empty table is {}). CF_EINVALID ("file:line: message") for a syntax or
 * runtime error or a result that is not plain data, CF_ESCRIPT for an
 * exceeded budget or memory cap (the message names file:line), CF_ENOMEM. */
int cf_wf_eval_data(const char *file, const char *dir, const char *src, size_t len,
                    json_t **out, cf_error *err);

/* Load a workflow from a bundle (borrowed; the workflow keeps its own
 * reference) into its own sandboxed Lua state and build the state table.
 * *out is new; free with cf_wf_free. CF_EINVALID for structural errors
 * (missing name/initial/states, bad field types, undefined targets),
 * CF_ESCRIPT for an exceeded budget (loading has CF_WF_DEFAULT_BUDGET_MS). */
int cf_wf_load(json_t *bundle, cf_wf **out, cf_error *err);
/* cf_wf_load of a bundle whose SHA-256 (of its canonical form, 64 hex
 * digits) the caller has checked already, e.g. against the hash stored
 * beside it (cf_store_workflow_get_hashed): that hash becomes the
 * workflow's, rather than being computed again. */
int cf_wf_load_hashed(json_t *bundle, const char *hash, cf_wf **out, cf_error *err);
void cf_wf_free(cf_wf *wf);

/* Lookups; NULL when absent. */
cf_wf_state *cf_wf_find_state(const cf_wf *wf, const char *name);
const cf_wf_transition *cf_wf_find_transition(const cf_wf_state *st,
                                              const char *event);

/*
 * Resolve transition t for a case: a string target directly, a function by
 * calling it as fn(case, event) under the instruction budget, the memory
 * cap and the wall-time limits lim (borrowed; NULL: a budget of
 * CF_WF_DEFAULT_BUDGET_MS from now for this call alone), with `case` a
 * read-only view of case_doc ({id, state, data, ...}) and `event` a
 * read-only view of event_doc ({name, data, actor}). *target is a borrowed
 * state name owned by wf, or NULL when the function returned nil (stay).
 * CF_ESCRIPT for a Lua error (message with file:line) or an exceeded budget
 * (field "budget" or "memory"; the message names the workflow, state, case
 * and line), CF_EINVALID when the function returns an undefined state or
 * one outside its declared targets. A call still running well past its
 * deadline (inside the VM, where nothing else can stop it) ends the process
 * with exit status 70 and one line on stderr: nothing the command did is
 * committed.
 */
int cf_wf_resolve_limited(cf_wf *wf, const cf_wf_transition *t,
                          const json_t *case_doc, const json_t *event_doc,
                          int64_t now, const cf_wf_limits *lim,
                          const char **target, cf_error *err);
/* The Lua traceback ("stack traceback:\n\t...") of wf's last failed call,
 * or NULL; borrowed until its next call. Error messages never carry it. */
const char *cf_wf_error_trace(const cf_wf *wf);
/* cf_wf_resolve_limited with lim NULL. */
int cf_wf_resolve(cf_wf *wf, const cf_wf_transition *t, const json_t *case_doc,
                  const json_t *event_doc, int64_t now, const char **target,
                  cf_error *err);

/*
 * Check an event's data (may be NULL: none) against what transition t
 * declares, before any plugin or guard sees it. 0 when t declares nothing
 * or the data fits; CF_EINVALID naming the field ("data.letter: expected
 * boolean", field "data.letter") otherwise.
 */
int cf_wf_event_data_check(const cf_wf_transition *t, const char *event,
                           const json_t *data, cf_error *err);

/*
 * Lint the workflow in path. loader may be NULL (then plugin checks are
 * skipped). Appends findings {file, line, rule, message} to diags (borrowed
 * array). Rules: "syntax", "structure", "undefined-state", "unreachable",
 * "missing-plugin", "unaccepted-event", "no-targets", "timer-event",
 * "guard-target", "no-result", "undeclared-data", "unmapped-outcome",
 * "manual-not-outcome", "engine-event-outcome", and "manual-outcome", which is a warning (the
 * finding has "severity": "warning"; the others none: errors). Returns 0 when it
 * could run (findings or not), negative on I/O errors.
 */
int cf_wf_check(const char *path, cf_loader *loader, json_t *diags,
                cf_error *err);

#endif /* CF_INTERNAL_H */
