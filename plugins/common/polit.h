/*
 * Helpers shared by the polit step plugins: reading and validating event
 * input (with field paths such as "ip_events[0].at" in every refusal), stamping
 * records with who and when, normalising text for correlation keys, calendar
 * arithmetic, and the two records several states write (the route taken and an
 * escalation). common.c is compiled into each plugin module, so no library is
 * shared between plugins; the modules export only their descriptor, which
 * keeps these cfp_ names private to each of them.
 *
 * Convention: every cfp_ function that validates returns 0, or
 * CF_PLUGIN_FAILED after it has called host->fail() with the field and rule,
 * so a plugin can write `if (cfp_line(...) < 0) return CF_PLUGIN_FAILED;`.
 */
#ifndef CF_PLUGIN_COMMON_H
#define CF_PLUGIN_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "caseflow/plugin.h"

/* Longest one-line value (names, references) and longest free text
 * (necessity, reasons), in bytes. */
#define CFP_LINE_MAX 256
#define CFP_TEXT_MAX 8000
#define CFP_FIELD_MAX 128

/* field = prefix + "." + key (or key alone when prefix is empty). */
void cfp_field(char out[CFP_FIELD_MAX], const char *prefix, const char *key);
/* field = prefix + "[index]". */
void cfp_index(char out[CFP_FIELD_MAX], const char *prefix, size_t index);

/* Refuse members of obj not named in allowed (NULL-terminated). */
int cfp_known_fields(const cf_host *host, cf_step *step, const json_t *obj,
                     const char *prefix, const char *const *allowed);

/* A one-line string (no control characters), non-empty after trimming,
 * at most maxlen bytes. *out is borrowed from obj, NULL when absent and
 * !required. */
int cfp_line(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, size_t maxlen, bool required,
             const char **out);
/* Free text: as cfp_line but newlines and tabs are allowed. */
int cfp_text(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, size_t maxlen, bool required,
             const char **out);
/* A boolean: *out is 1 or 0, or -1 when absent and !required. */
int cfp_bool(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, bool required, int *out);
/* A JSON integer in [min, max]; *present says whether it was there. */
int cfp_int(const cf_host *host, cf_step *step, const json_t *obj,
            const char *prefix, const char *key, json_int_t min, json_int_t max,
            bool required, json_int_t *out, bool *present);
/* An object / array member (borrowed), NULL when absent and !required. */
int cfp_object(const cf_host *host, cf_step *step, const json_t *obj,
               const char *prefix, const char *key, bool required,
               const json_t **out);
int cfp_array(const cf_host *host, cf_step *step, const json_t *obj,
              const char *prefix, const char *key, bool required,
              const json_t **out);
/* A string that must be one of choices (NULL-terminated). */
int cfp_choice(const cf_host *host, cf_step *step, const json_t *obj,
               const char *prefix, const char *key,
               const char *const *choices, bool required, const char **out);
/* An RFC 3339 time with an explicit offset or Z. A time without one fails
 * with "no time zone"; "-00:00" (RFC 3339's "offset unknown") too. */
int cfp_time(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, bool required,
             const char **text, int64_t *utc, int *offset_minutes);
/* A calendar date "YYYY-MM-DD"; *days is days since 1970-01-01. */
int cfp_date(const cf_host *host, cf_step *step, const json_t *obj,
             const char *prefix, const char *key, bool required,
             const char **text, int64_t *days);

/* Does text look like an RFC 3339 date-time that simply lacks its zone? */
bool cfp_time_lacks_zone(const char *text);

/* Calendar arithmetic on the proleptic Gregorian calendar (UTC). */
int64_t cfp_days_from_civil(int64_t y, unsigned m, unsigned d);
void cfp_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);
/* t plus n calendar months; the day is clamped to the target month's
 * length (30 November + 3 months = 28/29 February). */
int64_t cfp_add_months(int64_t t, int months);
/* "2 November 2026" for a letter. */
void cfp_long_date(int64_t t, char out[32]);

/* Copy text into out (size n): trimmed, runs of whitespace and punctuation
 * folded into one space, ASCII letters upper-cased (upper) or lower-cased.
 * Returns the length written. Used for correlation keys, so two spellings
 * of one address meet. */
size_t cfp_fold(const char *text, bool upper, char *out, size_t n);
/* ASCII lower-case copy. */
void cfp_lower(const char *text, char *out, size_t n);

/* The engine clock as an RFC 3339 string. */
json_t *cfp_now_string(const cf_host *host, cf_step *step);
/* Add "by" (the actor) and "at" (now) to obj; returns obj. */
json_t *cfp_stamp(const cf_host *host, cf_step *step, json_t *obj);
/* host->set that reports a failure with the path. Steals value; a NULL
 * value is taken as a failed allocation (delete with host->set directly). */
int cfp_set(const cf_host *host, cf_step *step, const char *path, json_t *value);

/* Borrowed string / boolean at a data path, or a default. */
const char *cfp_get_string(const cf_host *host, cf_step *step, const char *path);
bool cfp_get_true(const cf_host *host, cf_step *step, const char *path);

/* data.route: the route the case took after the supervisor's approval
 * ("visit", "enforcement", "hold"), whether it was a supervisor's override
 * and whether a hold was overridden as exceptional. Written by the state
 * the route decision led to; a later state (enforcement after a visit)
 * leaves an earlier decision alone, except a hold being resolved. */
int cfp_record_route(const cf_host *host, cf_step *step, const char *decision);

/* data.escalation: a repeat referral met this case in state `from`. */
int cfp_record_escalation(const cf_host *host, cf_step *step, const char *from,
                          const json_t *input);

/* Check a state's config: an object whose members are all named in allowed.
 * Writes "unknown setting 'x'" into err. */
int cfp_config_keys(const json_t *config, const char *const *allowed,
                    char *err, size_t errlen);
/* A non-negative number setting; *out unchanged when absent. */
int cfp_config_number(const json_t *config, const char *key, double min,
                      double max, double *out, char *err, size_t errlen);
/* A string setting; *out borrowed, unchanged when absent. */
int cfp_config_string(const json_t *config, const char *key, const char **out,
                      char *err, size_t errlen);

#endif /* CF_PLUGIN_COMMON_H */
