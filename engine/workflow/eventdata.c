/*
 * Declared event data: a transition's `data` table names the fields the
 * event carries, each with a type and whether it is required,
 *
 *   ["visit.completed"] = { to = ..., data = {
 *       letter_issued = "boolean",                          -- required
 *       notes = { type = "string", required = false } } },
 *
 * and the engine refuses, before any plugin or guard runs, data with a
 * field not declared, a required field missing or a field of another type.
 * A transition without `data` takes any data, as before.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wf.h"

static const char *const TYPES[] = {"string", "boolean", "number", "integer", "object",
                                    "array",  "time",    "any",    NULL};

static bool known_type(const char *s)
{
    for (const char *const *t = TYPES; *t; t++)
        if (strcmp(s, *t) == 0)
            return true;
    return false;
}

static bool field_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
                  (i > 0 && ch >= '0' && ch <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static int cmp_field(const void *a, const void *b)
{
    return strcmp(((const cf_wf_field *)a)->name, ((const cf_wf_field *)b)->name);
}

void wf_parse_data(lua_State *L, int idx, cf_wf_transition *t, const char *what,
                   const char *field, int line)
{
    static const char *const keys[] = {"type", "required", NULL};
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE) {
        wf_problem(L, "structure", line, field,
                   "%s: data must be a table of field = type", what);
        return;
    }
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        n++;
    }
    t->has_data = true;
    if (n == 0)
        return;
    t->fields = calloc(n, sizeof *t->fields);
    if (t->fields == NULL)
        wf_oom(L);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        int v = lua_gettop(L);
        const char *name = lua_type(L, v - 1) == LUA_TSTRING ? lua_tostring(L, v - 1) : NULL;
        if (name == NULL || !field_name_ok(name, lua_rawlen(L, v - 1))) {
            wf_problem(L, "structure", line, field,
                       "%s: data field names are identifiers of at most 64 characters",
                       what);
            lua_pop(L, 1);
            continue;
        }
        const char *type = NULL;
        bool required = true, ok = true;
        if (lua_type(L, v) == LUA_TSTRING) {
            type = lua_tostring(L, v);
        } else if (lua_type(L, v) == LUA_TTABLE) {
            char sub[300];
            snprintf(sub, sizeof sub, "%s: data.%s", what, name);
            lua_pushnil(L);
            while (lua_next(L, v) != 0) {
                lua_pop(L, 1);
                const char *k =
                    lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
                bool known = false;
                for (const char *const *a = keys; k && *a && !known; a++)
                    known = strcmp(k, *a) == 0;
                if (!known) {
                    wf_problem(L, "structure", line, field, "%s: unknown key '%s'", sub,
                               k ? k : luaL_typename(L, -1));
                    ok = false;
                }
            }
            if (wf_rawfield(L, v, "type") == LUA_TSTRING)
                type = lua_tostring(L, -1);
            lua_pop(L, 1);
            int rt = wf_rawfield(L, v, "required");
            if (rt == LUA_TBOOLEAN) {
                required = lua_toboolean(L, -1);
            } else if (rt != LUA_TNIL) {
                wf_problem(L, "structure", line, field, "%s: required must be a boolean",
                           sub);
                ok = false;
            }
            lua_pop(L, 1);
        }
        if (type == NULL || !known_type(type)) {
            wf_problem(L, "structure", line, field,
                       "%s: data.%s: the type must be one of string, boolean, number, "
                       "integer, object, array, time, any",
                       what, name);
            ok = false;
        }
        if (ok) {
            cf_wf_field *f = &t->fields[t->nfields];
            f->name = strdup(name);
            f->type = strdup(type);
            f->required = required;
            if (f->name == NULL || f->type == NULL) {
                free(f->name);
                free(f->type);
                wf_oom(L);
            }
            t->nfields++;
        }
        lua_settop(L, v - 1);
    }
    if (t->nfields > 1)
        qsort(t->fields, t->nfields, sizeof *t->fields, cmp_field);
}

void wf_free_fields(cf_wf_transition *t)
{
    for (size_t i = 0; i < t->nfields; i++) {
        free(t->fields[i].name);
        free(t->fields[i].type);
    }
    free(t->fields);
    t->fields = NULL;
    t->nfields = 0;
}

const cf_wf_field *wf_find_field(const cf_wf_transition *t, const char *name)
{
    for (size_t i = 0; i < t->nfields; i++)
        if (strcmp(t->fields[i].name, name) == 0)
            return &t->fields[i];
    return NULL;
}

static bool has_type(const json_t *v, const char *type)
{
    if (strcmp(type, "any") == 0)
        return true;
    if (strcmp(type, "string") == 0)
        return json_is_string(v);
    if (strcmp(type, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(type, "number") == 0)
        return json_is_number(v);
    if (strcmp(type, "integer") == 0)
        return json_is_integer(v);
    if (strcmp(type, "object") == 0)
        return json_is_object(v);
    if (strcmp(type, "array") == 0)
        return json_is_array(v);
    if (strcmp(type, "time") == 0) {
        int64_t utc;
        int off;
        return json_is_string(v) && cf_time_parse(json_string_value(v), &utc, &off) == 0;
    }
    return false;
}

int cf_wf_event_data_check(const cf_wf_transition *t, const char *event,
                           const json_t *data, cf_error *err)
{
    if (t == NULL || !t->has_data)
        return 0;
    const char *key;
    const json_t *v;
    char field[96];
    json_object_foreach((json_t *)data, key, v) {
        const cf_wf_field *f = wf_find_field(t, key);
        snprintf(field, sizeof field, "data.%s", key);
        if (f == NULL) {
            char list[256] = "";
            size_t used = 0;
            for (size_t i = 0; i < t->nfields && used < sizeof list; i++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s%s",
                                         i ? ", " : "", t->fields[i].name);
            return cf_err_set(err, CF_EINVALID, field,
                              "%s rejected: data.%.64s: not a field of this event (%s%s)",
                              event, key, t->nfields ? "it takes " : "it takes no data",
                              list);
        }
        if (json_is_null(v) && !f->required)
            continue;
        if (!has_type(v, f->type))
            return cf_err_set(err, CF_EINVALID, field, "%s rejected: data.%s: expected %s%s%s",
                              event, key, strcmp(f->type, "time") == 0 ? "an RFC 3339 " : "",
                              f->type,
                              strcmp(f->type, "boolean") == 0 ? " (true or false)" : "");
    }
    for (size_t i = 0; i < t->nfields; i++) {
        const cf_wf_field *f = &t->fields[i];
        if (!f->required || json_object_get(data, f->name) != NULL)
            continue;
        snprintf(field, sizeof field, "data.%s", f->name);
        return cf_err_set(err, CF_EINVALID, field, "%s rejected: data.%s: required (%s)",
                          event, f->name, f->type);
    }
    return 0;
}
