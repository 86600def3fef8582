/*
 * Lua data files: a file that returns one table of plain data (a workflow
 * test scenario), evaluated in the workflow sandbox with every limit of a
 * workflow's loading (no I/O, no os, the instruction budget, the memory cap
 * and the wall-time budget), and turned into JSON. `require` reads modules
 * from the file's directory only, as a workflow's does.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wf.h"

typedef struct data_args {
    const char *file; /* chunk name for messages */
    json_t *out;      /* the result, or NULL after a problem */
    char why[400];    /* what is wrong with the result */
} data_args;

static int data_body(lua_State *L)
{
    data_args *a = lua_touserdata(L, 1);
    wf_ctx *c = wf_ctx_of(L);
    char chunk[512];
    snprintf(chunk, sizeof chunk, "=%s", a->file);
    wf_charge(L, wf_mul(c->srclen, WF_COMPILE_UNITS));
    if (luaL_loadbufferx(L, c->src, c->srclen, chunk, "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 1);
    if (lua_type(L, -1) != LUA_TTABLE) {
        snprintf(a->why, sizeof a->why, "%s: the file must return a table { ... }, not %s",
                 a->file, luaL_typename(L, -1));
        return 0;
    }
    a->out = wf_to_json(L, lua_gettop(L), 0, "", 0);
    if (a->out == NULL) {
        json_t *p = json_array_get(c->problems, 0);
        const char *m = json_string_value(json_object_get(p, "message"));
        snprintf(a->why, sizeof a->why, "%s: %s", a->file, m ? m : "not plain data");
    }
    return 0;
}

int cf_wf_eval_data(const char *file, const char *dir, const char *src, size_t len,
                    json_t **out, cf_error *err)
{
    *out = NULL;
    if (memchr(src, '\0', len) != NULL)
        return cf_err_set(err, CF_EINVALID, "file", "%s: not text (a NUL byte)", file);
    const char *base = file; /* as the user named it, in every message */
    if (strlen(base) > 400)
        return cf_err_set(err, CF_EINVALID, "file", "%.100s...: path too long", base);
    lua_State *L;
    json_t *mods = json_object();
    int rc = wf_sandbox_new(dir, mods, &L, err);
    if (rc != 0)
        return rc;
    wf_ctx *c = wf_ctx_of(L);
    c->file = base;
    c->src = src;
    c->srclen = len;
    c->label = (wf_label){.workflow = base};
    data_args a = {.file = base};
    rc = wf_protected(L, data_body, &a, CF_EINVALID, err);
    if (rc == 0 && a.out == NULL)
        rc = cf_err_set(err, CF_EINVALID, "file", "%s", a.why);
    if (rc == 0)
        *out = a.out;
    else
        json_decref(a.out);
    wf_sandbox_close(L);
    return rc;
}
