/*
 * Shared by the files of libcaseflow-plugin-test; nothing here is exported
 * (the library's export list is '^cfpt_'). The small pieces of the engine's
 * host table the fake host needs (dotted paths, RFC 3339 times, SHA-256) are
 * reimplemented here with the engine's rules (engine/util.c, engine/clock.c),
 * since libcaseflow exports only its public API.
 */
#ifndef CFPT_INTERNAL_H
#define CFPT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "caseflow/plugin-test.h"

#if defined(__GNUC__)
#define CFPT_HIDDEN __attribute__((visibility("hidden")))
#else
#define CFPT_HIDDEN
#endif

/* The value at dotted path in doc ("" is doc), borrowed; NULL when absent or
 * path is NULL. Objects by key, arrays by index (engine: cf_json_path_get). */
CFPT_HIDDEN json_t *cfpt_i_path_get(json_t *doc, const char *path);
/* Set (value NULL: delete) at dotted path, creating intermediate objects;
 * steals value. 0, or -1 when the path is empty or crosses a non-object
 * (engine: cf_json_path_set). */
CFPT_HIDDEN int cfpt_i_path_set(json_t *doc, const char *path, json_t *value);
/* RFC 3339 with an explicit offset or Z (engine: cf_time_parse). 0 or -1. */
CFPT_HIDDEN int cfpt_i_time_parse(const char *text, int64_t *utc, int *offset_minutes);
/* "YYYY-MM-DDTHH:MM:SSZ" (engine: cf_time_format). */
CFPT_HIDDEN void cfpt_i_time_format(int64_t t, char out[32]);
/* Hex SHA-256 (libsodium). Always 0. */
CFPT_HIDDEN int cfpt_i_sha256_hex(const void *data, size_t len, char out[65]);
/* Parse JSON text that must be an object; NULL text gives {}. New reference
 * or NULL. */
CFPT_HIDDEN json_t *cfpt_i_object(const char *text);

#endif /* CFPT_INTERNAL_H */
