/*
 * Bundles: a workflow file, the modules it requires and the assets it lists,
 * collected into one JSON document that deploy stores and load runs. The
 * sandbox's require reads modules from the workflow's directory while
 * collecting (never outside it) and only from the bundle afterwards.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wf.h"

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
        s = wf_text_json(buf, len);
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

int wf_require(lua_State *L)
{
    wf_ctx *c = wf_ctx_of(L);
    size_t len;
    const char *name = luaL_checklstring(L, 1, &len);
    if (!valid_module_name(name, len))
        return luaL_error(L, "require: invalid module name '%s' (letters, "
                             "digits and _ in segments joined by single dots)",
                          len > WF_NAME_MAX ? "(too long)" : name);
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &wf_key_loaded); /* 2 */
    lua_pushvalue(L, 1);
    lua_rawget(L, 2); /* 3 */
    if (lua_touserdata(L, 3) == (void *)&wf_key_loading)
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
    wf_charge(L, wf_mul(slen, WF_COMPILE_UNITS));
    if (luaL_loadbufferx(L, src, slen, chunk, "t") != LUA_OK)
        return lua_error(L);
    lua_pushvalue(L, 1);
    lua_pushlightuserdata(L, (void *)&wf_key_loading);
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

/* ---- running the main chunk ------------------------------------------- */

typedef struct main_args {
    const char *name; /* module name of the main file */
    const char *file; /* its file name */
} main_args;

static int main_body(lua_State *L)
{
    main_args *a = lua_touserdata(L, 1);
    wf_ctx *c = wf_ctx_of(L);
    char chunk[WF_NAME_MAX + 8];
    snprintf(chunk, sizeof chunk, "=%s", a->file);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &wf_key_loaded); /* 2 */
    lua_pushstring(L, a->name);
    lua_pushlightuserdata(L, (void *)&wf_key_loading);
    lua_rawset(L, 2);
    wf_charge(L, wf_mul(c->srclen, WF_COMPILE_UNITS));
    if (luaL_loadbufferx(L, c->src, c->srclen, chunk, "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 1);
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &wf_key_workflow);
    } else if (!lua_isnil(L, -1) ||
               lua_rawgetp(L, LUA_REGISTRYINDEX, &wf_key_workflow) != LUA_TTABLE) {
        return luaL_error(L, "%s: the file must return workflow { ... }",
                          a->file);
    }
    lua_pushstring(L, a->name);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &wf_key_workflow);
    lua_rawset(L, 2);
    return 0;
}

/* Run main (source src, file name file) in L. */
static int run_main(lua_State *L, const char *name, const char *file,
                    const char *src, size_t len, cf_error *err)
{
    wf_ctx *c = wf_ctx_of(L);
    main_args a = {name, file};
    c->file = file;
    c->src = src;
    c->srclen = len;
    c->label = (wf_label){.workflow = file};
    return wf_protected(L, main_body, &a, CF_EINVALID, err);
}

/* ---- collecting a bundle ------------------------------------------------ */

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

/* Read every file the workflow's `assets` list names. */
int wf_assets_body(lua_State *L)
{
    wf_assets_args *a = lua_touserdata(L, 1);
    wf_ctx *c = wf_ctx_of(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &wf_key_workflow);
    if (lua_type(L, -1) != LUA_TTABLE)
        return 0;
    wf_rawfield(L, -1, "assets");
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
        json_t *s = wf_text_json(buf, len);
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

void wf_collected_free(wf_collected *k)
{
    wf_sandbox_close(k->L);
    free(k->dir);
    free(k->file);
    free(k->name);
    free(k->src);
    memset(k, 0, sizeof *k);
}

/* Collect mode: read path, run it with require on its directory. */
int wf_collect(const char *path, wf_collected *k, cf_error *err)
{
    memset(k, 0, sizeof *k);
    if (path == NULL)
        return cf_err_set(err, CF_EINVALID, "path", "no workflow file given");
    if (split_path(path, &k->dir, &k->file, &k->name) != 0)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    int rc = cf_read_file(path, &k->src, &k->len, err);
    if (rc != 0) {
        wf_collected_free(k);
        return rc;
    }
    json_t *mods = json_object();
    json_t *main = wf_text_json(k->src, k->len);
    if (main == NULL) {
        json_decref(mods);
        wf_collected_free(k);
        return cf_err_set(err, CF_EINVALID, "file", "%s: not UTF-8 text",
                          path);
    }
    if (mods == NULL || json_object_set_new(mods, k->name, main) != 0) {
        json_decref(mods);
        wf_collected_free(k);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    rc = wf_sandbox_new(k->dir, mods, &k->L, err);
    if (rc == 0)
        rc = run_main(k->L, k->name, k->file, k->src, k->len, err);
    return rc;
}

int cf_wf_bundle_from_file(const char *path, json_t **bundle, cf_error *err)
{
    wf_collected k;
    wf_assets_args a = {0};
    if (bundle == NULL)
        return cf_err_set(err, CF_EINVALID, NULL, "no bundle out-parameter");
    *bundle = NULL;
    int rc = wf_collect(path, &k, err);
    if (rc != 0) {
        wf_collected_free(&k);
        return rc;
    }
    a.assets = json_object();
    if (a.assets == NULL) {
        wf_collected_free(&k);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    rc = wf_protected(k.L, wf_assets_body, &a, CF_EINVALID, err);
    if (rc == 0 && a.rc != 0)
        rc = cf_err_set(err, a.rc, "assets", "%s: %s", k.file, a.why);
    if (rc == 0) {
        wf_ctx *c = wf_ctx_of(k.L);
        *bundle = json_pack("{s:s, s:s, s:O, s:o}", "main", k.name, "file",
                            k.file, "modules", c->modules, "assets", a.assets);
        a.assets = NULL;
        if (*bundle == NULL)
            rc = cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    json_decref(a.assets);
    wf_collected_free(&k);
    return rc;
}

/* ---- loading a bundle ---------------------------------------------------- */

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

/* cf_wf_load; hash, when given, is the SHA-256 of the canonical bundle,
 * already checked by the caller, and is not computed again. */
static int load(json_t *bundle, const char *hash, cf_wf **out, cf_error *err)
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
    rc = wf_sandbox_new(NULL, json_incref(json_object_get(bundle, "modules")),
                     &L, err);
    wf->lua = L;
    if (rc == 0)
        rc = run_main(L, name, file, src, len, err);
    wf_ctx *c = L ? wf_ctx_of(L) : NULL;
    if (rc == 0) {
        c->wf = wf;
        rc = wf_protected(L, wf_build_body, NULL, CF_EINVALID, err);
    }
    if (rc == 0 && json_array_size(c->problems) > 0)
        rc = first_problem(c->problems, CF_EINVALID, err);
    if (rc == 0)
        rc = wf_protected(L, wf_freeze_body, NULL, CF_EINVALID, err);
    if (rc == 0 && hash != NULL) {
        snprintf(wf->hash, sizeof wf->hash, "%s", hash);
    } else if (rc == 0) {
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
        c->label = (wf_label){0}; /* its file name may be on our stack */
    }
    if (rc != 0) {
        cf_wf_free(wf);
        return rc;
    }
    *out = wf;
    return 0;
}

int cf_wf_load(json_t *bundle, cf_wf **out, cf_error *err)
{
    return load(bundle, NULL, out, err);
}

int cf_wf_load_hashed(json_t *bundle, const char *hash, cf_wf **out, cf_error *err)
{
    if (hash == NULL || strlen(hash) != 64)
        return cf_err_set(err, CF_EINTERNAL, "hash", "cf_wf_load_hashed: no SHA-256");
    return load(bundle, hash, out, err);
}

