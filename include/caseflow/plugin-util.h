/*
 * caseflow step-plugin helpers (libcaseflow-plugin-util).
 *
 * Input validation, case-data helpers, calendar arithmetic and text folding
 * for step plugins, as the shipped plugins use them. Link with
 * `pkg-config --libs caseflow-plugin`; the library depends on nothing but
 * jansson and libc, and a plugin that does not link it can still use
 * plugin.h alone.
 *
 * Reporting. Every function that validates (cfp_known_fields, cfp_line ...
 * cfp_date, cfp_set) reports a refusal itself through host->fail(step,
 * field, message), with the field path at fault in the form the sender can
 * find in what they sent ("ip_events[0].at") and a short rule ("no time
 * zone"), and returns CF_PLUGIN_FAILED; on success it returns 0. So a plugin
 * writes
 *
 *     if (cfp_line(host, step, in, "", "name", CFP_LINE_MAX, true, &name) < 0)
 *         return CF_PLUGIN_FAILED;
 *
 * and the caller sees "<event> rejected: name: required" (exit 65). The
 * config helpers (cfp_config_*) run in init(), where there is no step: they
 * write the reason into the caller's err buffer instead and return -1.
 *
 * Members. `obj` is the JSON object holding the member `key` (borrowed; it
 * is never changed). A NULL or non-object `obj` has no members. A member
 * whose value is JSON null counts as absent, so a sender can clear an
 * optional field explicitly. `prefix` is the field path of obj itself ("" or
 * NULL for the top level of the input); it is only used in messages.
 *
 * Ownership follows jansson's words and plugin.h: a "borrowed" value must not
 * be decref'd and lives as long as the JSON it was taken from (for input:
 * the current call; for host->get: until the next host->set on the step);
 * "new reference" is the caller's to free or pass on; "steals" takes over the
 * reference, on success and on error alike. The output pointers of the
 * validating, config and calendar functions may be NULL when the caller does
 * not need that output; host, step, key and the buffers of cfp_field,
 * cfp_index and cfp_long_date must not be NULL. Nothing here keeps state, allocates outside the JSON it returns, or
 * touches globals: the functions are safe to call from any plugin callback.
 *
 * Versions: CFP_UTIL_VERSION is the version of this header; cfp_util_version()
 * that of the library loaded at run time. A minor version only adds
 * functions; a major version (and the library's soname, libcaseflow-plugin-
 * util.so.MAJOR) changes when a function changes or goes away.
 */
#ifndef CASEFLOW_PLUGIN_UTIL_H
#define CASEFLOW_PLUGIN_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <caseflow/plugin.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- versions ------------------------------------------------------------ */

#define CFP_UTIL_VERSION_MAJOR 1
#define CFP_UTIL_VERSION_MINOR 0
#define CFP_UTIL_VERSION_PATCH 0
#define CFP_UTIL_VERSION_STRING "1.0.0"
/* major << 16 | minor << 8 | patch, comparable with < and >. */
#define CFP_UTIL_VERSION_MAKE(major, minor, patch)                                  \
    ((((uint32_t)(major)) << 16) | (((uint32_t)(minor) & 0xffu) << 8) |           \
     ((uint32_t)(patch) & 0xffu))
#define CFP_UTIL_VERSION                                                          \
    CFP_UTIL_VERSION_MAKE(CFP_UTIL_VERSION_MAJOR, CFP_UTIL_VERSION_MINOR,         \
                          CFP_UTIL_VERSION_PATCH)

/* The library's CFP_UTIL_VERSION, as built. A plugin that needs a function
 * added in minor N can check `cfp_util_version() >= CFP_UTIL_VERSION_MAKE(1,
 * N, 0)` in init() and refuse with a clear reason. */
uint32_t cfp_util_version(void);
/* The library's CFP_UTIL_VERSION_STRING (static storage, never NULL). */
const char *cfp_util_version_string(void);

/* ---- limits -------------------------------------------------------------- */

/* Suggested longest one-line value (names, references) and longest free
 * text (reasons, notes), in bytes; pass them or your own as maxlen. */
#define CFP_LINE_MAX 256
#define CFP_TEXT_MAX 8000
/* Size of a field-path buffer (cfp_field, cfp_index); longer paths are
 * truncated. */
#define CFP_FIELD_MAX 128

/* ---- field paths --------------------------------------------------------- */

/* out = prefix + "." + key, or key alone when prefix is NULL or empty.
 * Always NUL-terminated, truncated to CFP_FIELD_MAX - 1 bytes. */
void cfp_field(char out[CFP_FIELD_MAX], const char *prefix, const char *key);
/* out = prefix + "[index]" ("ip_events[0]"); prefix NULL counts as "". */
void cfp_index(char out[CFP_FIELD_MAX], const char *prefix, size_t index);

/* ---- validating input ---------------------------------------------------- */

/* Refuse any member of obj not named in allowed (NULL-terminated): field
 * "prefix.member", "unknown field". A NULL or non-object obj is refused with
 * "must be an object" (field: prefix, or NULL at the top level). */
int cfp_known_fields(const cf_host *host, cf_step *step, const json_t *obj,
                     const char *prefix, const char *const *allowed);

/* A one-line string: a JSON string without NUL bytes or control characters
 * (below 0x20, and 0x7f), not blank, at most maxlen bytes (UTF-8 is not
 * decoded: maxlen counts bytes; jansson has already checked the encoding).
 * Refusals: "required", "must be a string", "contains a NUL character",
 * "must not be empty", "longer than N bytes", "contains control characters".
 * *out: borrowed from obj, NULL when absent (and !required). */
int cfp_line(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, size_t maxlen, bool required,
             const char **out);
/* Free text: as cfp_line, but newline, carriage return and tab are allowed. */
int cfp_text(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, size_t maxlen, bool required,
             const char **out);
/* A JSON boolean ("must be true or false"): *out is 1 or 0, or -1 when
 * absent (and !required). */
int cfp_bool(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, bool required, int *out);
/* A JSON integer in [min, max] ("must be an integer", "must be between min
 * and max"; a number with a fraction or exponent such as 1.0 is not an
 * integer). *out is the value, 0 when absent; *present says whether it was
 * there. */
int cfp_int(const cf_host *host, cf_step *step, const json_t *obj,
            const char *prefix, const char *key, json_int_t min, json_int_t max,
            bool required, json_int_t *out, bool *present);
/* An object ("must be an object") / an array ("must be an array") member.
 * *out: borrowed from obj, NULL when absent (and !required). */
int cfp_object(const cf_host *host, cf_step *step, const json_t *obj,
               const char *prefix, const char *key, bool required,
               const json_t **out);
int cfp_array(const cf_host *host, cf_step *step, const json_t *obj,
              const char *prefix, const char *key, bool required,
              const json_t **out);
/* A one-line string (at most CFP_LINE_MAX bytes) equal to one of choices
 * (NULL-terminated, compared byte for byte): "must be a, b or c".
 * *out: borrowed from obj, NULL when absent (and !required). */
int cfp_choice(const cf_host *host, cf_step *step, const json_t *obj,
               const char *prefix, const char *key,
               const char *const *choices, bool required, const char **out);
/* An RFC 3339 date-time with an explicit offset or Z: a one-line string
 * (cfp_line with CFP_LINE_MAX, and its refusals), then "no time zone" (a
 * date-time without one: the ambiguity that sends officers to the wrong
 * door), "no time zone (-00:00 means unknown)" (RFC 3339 section 4.3),
 * "not an RFC 3339 time". *text: borrowed from obj, NULL when absent; *utc:
 * the instant, Unix seconds (fractions dropped); *offset_minutes: the offset
 * it was written with. */
int cfp_time(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, bool required,
             const char **text, int64_t *utc, int *offset_minutes);
/* A calendar date "YYYY-MM-DD" (years 0000-9999 of the proleptic Gregorian
 * calendar): a one-line string (cfp_line with CFP_LINE_MAX, and its
 * refusals), then "not a date (YYYY-MM-DD)" (also for a date-time) or "not
 * a calendar date" (2026-02-29). *text: borrowed from obj, NULL when
 * absent; *days: days since 1970-01-01 (negative before). */
int cfp_date(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, bool required,
             const char **text, int64_t *days);

/* Does text look like an RFC 3339 date-time that only lacks its zone
 * ("2026-11-03T09:00", "...T09:00:00", "...T09:00:00.5"; 'T', 't' or ' '
 * between date and time)? false for NULL and anything else. */
bool cfp_time_lacks_zone(const char *text);

/* ---- calendar (proleptic Gregorian, UTC) --------------------------------- */

/* Days since 1970-01-01 of y-m-d; m in 1..12 and d in 1..31 (not checked:
 * 2026-02-31 is 2026-03-03). */
int64_t cfp_days_from_civil(int64_t y, unsigned m, unsigned d);
/* The inverse: the date of a day number. */
void cfp_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/* t (Unix seconds) plus months calendar months (negative: back), keeping
 * the time of day; the day is clamped to the target month's length (30
 * November + 3 months = 28 or 29 February). */
int64_t cfp_add_months(int64_t t, int months);
/* The UTC date of t in words for a letter: "2 November 2026" (English
 * month names), NUL-terminated in out. */
void cfp_long_date(int64_t t, char out[32]);

/* ---- text ---------------------------------------------------------------- */

/* Fold text for a correlation key, so two spellings of one value meet: runs
 * of anything but ASCII letters and digits (spaces, punctuation, control
 * characters) become one space, leading and trailing ones are dropped, ASCII
 * letters are upper-cased (upper) or lower-cased; bytes >= 0x80 (UTF-8) are
 * kept as they are. Writes at most n - 1 bytes and a NUL into out (n 0:
 * nothing); text NULL counts as "". Returns the length written. */
size_t cfp_fold(const char *text, bool upper, char *out, size_t n);
/* ASCII lower-case copy of text into out, truncated to n - 1 bytes and
 * NUL-terminated (n 0: nothing); text NULL counts as "". Returns the length
 * written. */
size_t cfp_lower(const char *text, char *out, size_t n);

/* ---- case data ----------------------------------------------------------- */

/* The engine clock (host->now) as "YYYY-MM-DDTHH:MM:SSZ". New reference;
 * NULL when out of memory. */
json_t *cfp_now_string(const cf_host *host, cf_step *step);
/* Stamp a record: sets obj's "by" to the acting user (host->actor) and
 * "at" to cfp_now_string. Steals obj and returns it; on failure (obj NULL or
 * not an object, out of memory) frees obj and returns NULL, so
 * `cfp_set(host, step, path, cfp_stamp(host, step, record))` reports either
 * failure. */
json_t *cfp_stamp(const cf_host *host, cf_step *step, json_t *obj);
/* host->set that reports its failure: steals value; a NULL value is taken
 * for a failed allocation ("out of memory", field: path) rather than a
 * deletion (delete with host->set(step, path, NULL)); a path that crosses a
 * non-object is "cannot be written (not an object)". */
int cfp_set(const cf_host *host, cf_step *step, const char *path, json_t *value);
/* The string at a data path, borrowed as host->get's result; NULL when
 * absent or not a string. */
const char *cfp_get_string(const cf_host *host, cf_step *step, const char *path);
/* Is the value at a data path JSON true? (absent, false or anything else:
 * false.) */
bool cfp_get_true(const cf_host *host, cf_step *step, const char *path);

/* ---- state config (init) ------------------------------------------------- */

/* config must be an object whose members are all named in allowed
 * (NULL-terminated). Returns 0, or -1 with "config must be a table" or
 * "unknown setting 'x'" in err (errlen bytes, truncated, NUL-terminated). */
int cfp_config_keys(const json_t *config, const char *const *allowed,
                    char *err, size_t errlen);
/* A number setting (integer or real) in [min, max]: *out unchanged when
 * absent. -1 with "setting 'key' must be a number from min to max" in err. */
int cfp_config_number(const json_t *config, const char *key, double min,
                      double max, double *out, char *err, size_t errlen);
/* A non-empty string setting: *out borrowed from config (copy it in init:
 * config lives only during init), unchanged when absent. -1 with "setting
 * 'key' must be a non-empty string" in err. */
int cfp_config_string(const json_t *config, const char *key, const char **out,
                      char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* CASEFLOW_PLUGIN_UTIL_H */
