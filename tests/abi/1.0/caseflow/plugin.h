/*
 * caseflow step-plugin ABI.
 *
 * A step plugin is a libtool module that exports exactly one symbol: a
 * `cf_plugin` descriptor named `<module>_LTX_caseflow_plugin` (write it with
 * CF_PLUGIN_DEFINE). The engine finds it with lt_dlsym(handle,
 * "caseflow_plugin"), which tries the libtool-prefixed name first, so the
 * same plugin can be dlopened or preloaded statically.
 *
 * A plugin never touches the store, Lua or process globals. It reads and
 * changes the case only through the `cf_host` function table and the opaque
 * `cf_step` context the engine passes to every call. Every effect a plugin
 * asks for (data changes, an outcome event, tasks, timers, correlation keys,
 * notifications) is collected by the engine and committed atomically with the
 * transition, or discarded with it when anything fails.
 *
 * Compatibility: the descriptor starts with `abi` (major << 16 | minor) and
 * its own `size`. The engine refuses a plugin whose major differs from its own
 * or whose minor is newer, and never reads a descriptor past `size`. The host
 * table likewise only grows at the end; a plugin built against minor N may
 * call any member that existed in minor N (check `host->size` before calling
 * a member added later than the minor you require).
 *
 * Ownership follows jansson's words: "borrowed" references must not be
 * decref'd and are valid only during the current call; "steals" means the
 * callee owns the reference afterwards, on success and on error alike.
 */
#ifndef CASEFLOW_PLUGIN_H
#define CASEFLOW_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CF_PLUGIN_ABI_MAJOR 1
#define CF_PLUGIN_ABI_MINOR 0
#define CF_PLUGIN_ABI_MAKE(major, minor) \
    ((((uint32_t)(major)) << 16) | ((uint32_t)(minor) & 0xffffu))
#define CF_PLUGIN_ABI CF_PLUGIN_ABI_MAKE(CF_PLUGIN_ABI_MAJOR, CF_PLUGIN_ABI_MINOR)
#define CF_PLUGIN_ABI_MAJOR_OF(abi) (((uint32_t)(abi)) >> 16)
#define CF_PLUGIN_ABI_MINOR_OF(abi) (((uint32_t)(abi)) & 0xffffu)

/* Returned by plugin callbacks. Any negative value is a failure; use
 * host->fail() to say why (its return value is CF_PLUGIN_FAILED). */
#define CF_PLUGIN_OK 0
#define CF_PLUGIN_FAILED (-1)

/* Opaque: one step of one transition of one case. Valid during a call only. */
typedef struct cf_step cf_step;

enum cf_log_level { CF_LOG_DEBUG = 0, CF_LOG_INFO = 1, CF_LOG_WARN = 2 };

/*
 * The host function table. Paths are dotted paths into the case's JSON data
 * document ("risk.grade", "subscriber.address.postcode"); array elements are
 * addressed by index ("ip_events.0.ip"). The empty path "" is the whole
 * document.
 */
typedef struct cf_host {
    uint32_t abi;  /* CF_PLUGIN_ABI of the engine */
    uint32_t size; /* sizeof(cf_host) of the engine */

    /* Borrowed reference to the value at path, or NULL when absent. Valid
     * until the next set() on this step or the end of the call. */
    const json_t *(*get)(cf_step *step, const char *path);

    /* Set the value at path, creating intermediate objects. Steals value
     * (also on error). value NULL deletes the member. Returns 0, or
     * CF_PLUGIN_FAILED when the path crosses a non-object. */
    int (*set)(cf_step *step, const char *path, json_t *value);

    /* The outcome of this call: the workflow maps it to the next state. At
     * most one per call; a second emit replaces the first. Returns 0. */
    int (*emit)(cf_step *step, const char *event);

    /* Open a task for a role (e.g. "officer", "supervisor"). kind is a short
     * name ("mash_referral"); detail is stolen and may be NULL. */
    int (*task)(cf_step *step, const char *role, const char *kind, json_t *detail);

    /* Fire `event` on this case at `due` (engine clock, Unix seconds). A timer
     * with the same event replaces the earlier one. Timers set by a state are
     * cancelled when the case leaves that state. */
    int (*timer)(cf_step *step, const char *event, int64_t due);

    /* Set the case's response deadline (Unix seconds; 0 clears it). */
    int (*deadline)(cf_step *step, int64_t due);

    /* Add a correlation key (kind: "account", "hash", "address",
     * "occupant", ...); value is normalised by the caller. */
    int (*key)(cf_step *step, const char *kind, const char *value);

    /* Queue a notification for other systems; message is stolen. */
    int (*notify)(cf_step *step, const char *channel, json_t *message);

    /* Write to the engine's log (not to the audit chain). */
    void (*log)(cf_step *step, int level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* Record why this call fails: field names the input field or rule at
     * fault (may be NULL). The whole transition is rolled back and the
     * caller sees "<field>: <message>" with exit 65. Returns
     * CF_PLUGIN_FAILED, so `return host->fail(...)` reads naturally. */
    int (*fail)(cf_step *step, const char *field, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* The engine clock, Unix seconds (CASEFLOW_NOW in tests and demos). */
    int64_t (*now)(cf_step *step);

    /* Borrowed strings, valid during the call. */
    const char *(*case_id)(cf_step *step);
    const char *(*state)(cf_step *step);
    const char *(*actor)(cf_step *step);

    /* A text asset bundled with the workflow version (e.g. a letter
     * template "letters/warning.txt"). *text is borrowed and NUL-terminated.
     * Returns 0, or CF_PLUGIN_FAILED when the workflow has no such asset. */
    int (*asset)(cf_step *step, const char *name, const char **text, size_t *len);

    /* Hex SHA-256 of data into out (65 bytes with the NUL). Returns 0. */
    int (*sha256_hex)(const void *data, size_t len, char out[65]);

    /* RFC 3339 helpers. parse requires an explicit offset or Z; fills the
     * UTC instant and the offset in minutes. Returns 0 or CF_PLUGIN_FAILED. */
    int (*time_parse)(const char *text, int64_t *utc, int *offset_minutes);
    /* Formats t as "YYYY-MM-DDTHH:MM:SSZ" into out (at least 21 bytes). */
    void (*time_format)(int64_t t, char out[32]);
} cf_host;

/*
 * The descriptor. Fields after `size` may be added at the end in a later
 * minor; the engine never reads past `size`.
 */
typedef struct cf_plugin {
    uint32_t abi;  /* CF_PLUGIN_ABI the plugin was built against */
    uint32_t size; /* sizeof(cf_plugin) the plugin was built against */
    const char *name;
    const char *version;
    const char *summary;
    /* Events a person or system may send to handle(), NULL-terminated. */
    const char *const *accepts;
    /* Outcome events the plugin may emit(), NULL-terminated. */
    const char *const *emits;

    /* Build per-state plugin state from the state's config (borrowed JSON
     * object, never NULL). On failure write a one-line reason into
     * err[errlen] and return negative: the workflow that needs this state
     * then refuses to deploy. *state may stay NULL. */
    int (*init)(const cf_host *host, const json_t *config, void **state,
                char *err, size_t errlen);
    /* The case has entered the state. May be NULL. */
    int (*enter)(const cf_host *host, void *state, cf_step *step);
    /* An accepted event arrived; input is borrowed (object, never NULL). */
    int (*handle)(const cf_host *host, void *state, cf_step *step,
                  const char *event, const json_t *input);
    /* Free per-state plugin state. May be NULL; called with NULL state too. */
    void (*fini)(void *state);

    void *reserved[8];
} cf_plugin;

#if defined(__GNUC__)
#define CF_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define CF_PLUGIN_EXPORT
#endif

/* Define the module's descriptor: CF_PLUGIN_DEFINE(referral, .name = ...).
 * The first argument is the libtool module name (the .la without "lib"). */
#define CF_PLUGIN_DEFINE(module, ...)                                   \
    CF_PLUGIN_EXPORT extern const cf_plugin module##_LTX_caseflow_plugin; \
    const cf_plugin module##_LTX_caseflow_plugin = {                    \
        .abi = CF_PLUGIN_ABI, .size = sizeof(cf_plugin), __VA_ARGS__}

#ifdef __cplusplus
}
#endif
#endif /* CASEFLOW_PLUGIN_H */
