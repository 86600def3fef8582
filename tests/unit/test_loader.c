/*
 * Unit tests of engine/loader.c against the fake plugins of tests/plugins/,
 * which `make check` builds as uninstalled libtool modules before running
 * this. Each fake is wrong in exactly one way; the loader must refuse it with
 * a message a person can act on, and accept the good one with the SHA-256
 * of the very file that was mapped (checked here with libsodium, not with the
 * engine's own hashing). The good plugin's behaviour is also exercised
 * through a fake host, since machine and engine tests rely on it.
 */
#include <config.h>

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "internal.h"

/* ---- fixtures ------------------------------------------------------------ */

static char g_plugdir[1024]; /* built fakes: $CASEFLOW_BUILDDIR/tests/plugins */
static char g_srcplug[1024]; /* sources: $CASEFLOW_SRCDIR/tests/plugins */

static int setup_paths(void **state)
{
    const char *b = getenv("CASEFLOW_BUILDDIR");
    const char *s = getenv("CASEFLOW_SRCDIR");

    (void)state;
    if (!b || !*b)
        b = ".";
    if (!s || !*s)
        s = b;
    snprintf(g_plugdir, sizeof g_plugdir, "%s/tests/plugins", b);
    snprintf(g_srcplug, sizeof g_srcplug, "%s/tests/plugins", s);
    return sodium_init() < 0 ? -1 : 0;
}

static cf_loader *new_loader(const char *path)
{
    cf_loader *l = NULL;
    cf_error err = {0};
    int rc = cf_loader_new(path, &l, &err);
    if (rc != 0)
        fail_msg("cf_loader_new: %s", err.message);
    assert_non_null(l);
    return l;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* Expect cf_loader_get to fail with code; returns the one-line message. */
static void expect_get_fails(const char *path, const char *name, int code,
                             cf_error *err)
{
    cf_loader *l = new_loader(path);
    const cf_module *m = (const cf_module *)1;
    int rc = cf_loader_get(l, name, &m, err);

    assert_int_equal(rc, code);
    assert_int_equal(err->code, code);
    assert_null(m);
    assert_null(strchr(err->message, '\n'));
    cf_loader_free(l);
}

/* Hex SHA-256 of a file with libsodium: independent of engine/util.c. */
static void sodium_file_hex(const char *path, char hex[65])
{
    unsigned char buf[8192], digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_state st;
    FILE *f = fopen(path, "rb");
    size_t n;

    assert_non_null(f);
    crypto_hash_sha256_init(&st);
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        crypto_hash_sha256_update(&st, buf, n);
    assert_int_equal(ferror(f), 0);
    fclose(f);
    crypto_hash_sha256_final(&st, digest);
    sodium_bin2hex(hex, 65, digest, sizeof digest);
}

static void copy_file(const char *from, const char *to)
{
    char buf[8192];
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    size_t n;

    assert_non_null(in);
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static void make_tmpdir(char dir[64])
{
    snprintf(dir, 64, "/tmp/cf-test-loader-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void same_file(const char *a, const char *b)
{
    char ra[PATH_MAX], rb[PATH_MAX];
    assert_non_null(realpath(a, ra));
    assert_non_null(realpath(b, rb));
    assert_string_equal(ra, rb);
}

/* ---- the loader ----------------------------------------------------------- */

static void test_new_free(void **state)
{
    (void)state;
    cf_loader_free(new_loader(NULL));
    cf_loader_free(new_loader(""));
    cf_loader_free(new_loader("::/nonexistent::"));
    cf_loader_free(NULL);
    assert_int_equal(cf_loader_new(NULL, NULL, NULL), CF_EINVALID);
}

static void test_load_good(void **state)
{
    cf_loader *l = new_loader(g_plugdir);
    const cf_module *m = NULL;
    cf_error err = {0};
    char so[PATH_MAX], want[65];

    (void)state;
    if (cf_loader_get(l, "good", &m, &err) != 0)
        fail_msg("%s", err.message);
    assert_non_null(m);
    assert_string_equal(m->name, "good");
    assert_non_null(m->handle);
    assert_int_equal(m->desc->abi, CF_PLUGIN_ABI);
    assert_int_equal(m->desc->size, sizeof(cf_plugin));
    assert_string_equal(m->desc->name, "good");
    assert_string_equal(m->desc->version, "1.2.3");
    assert_non_null(m->desc->init);
    assert_non_null(m->desc->handle);
    assert_true(cf_plugin_accepts(m->desc, "submit"));
    assert_false(cf_plugin_accepts(m->desc, "triage.routine"));
    assert_false(cf_plugin_emits(m->desc, "done")); /* it declares no outcomes */
    assert_false(cf_plugin_emits(m->desc, "submit"));
    /* A plugin with outcomes of its own (tests/plugins/triage.c). */
    const cf_module *t = NULL;
    if (cf_loader_get(l, "triage", &t, &err) != 0)
        fail_msg("%s", err.message);
    assert_true(cf_plugin_emits(t->desc, "triage.routine"));
    assert_false(cf_plugin_emits(t->desc, "triage.submit"));

    /* The .la names the shared object; that is what ran, so that is what
     * the path and the hash must describe. */
    snprintf(so, sizeof so, "%s/.libs/good.so", g_plugdir);
    same_file(m->path, so);
    sodium_file_hex(so, want);
    assert_string_equal(m->sha256, want);
    cf_loader_free(l);
}

static void test_cache(void **state)
{
    cf_loader *l = new_loader(g_plugdir);
    const cf_module *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    char file[PATH_MAX];

    (void)state;
    assert_int_equal(cf_loader_get(l, "good", &a, NULL), 0);
    assert_int_equal(cf_loader_get(l, "good", &b, NULL), 0);
    assert_ptr_equal(a, b);
    /* The same module reached through its files is the same module. */
    snprintf(file, sizeof file, "%s/good.la", g_plugdir);
    assert_int_equal(cf_loader_open_file(l, file, &c, NULL), 0);
    assert_ptr_equal(a, c);
    snprintf(file, sizeof file, "%s/.libs/good.so", g_plugdir);
    assert_int_equal(cf_loader_open_file(l, file, &d, NULL), 0);
    assert_ptr_equal(a, d);
    cf_loader_free(l);
}

/* Is there an entry named caseflow-plugin-* in dir? */
static bool has_private_dir(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls -a '%s' | grep -q '^caseflow-plugin-'", dir);
    return system(cmd) == 0;
}

/* With the expected hash, another build is refused before it is mapped and
 * described from its bytes; the right one loads from a private copy that
 * is gone once loaded. */
static void test_expect(void **state)
{
    cf_loader *l;
    const cf_module *m = NULL;
    cf_loader_found found;
    cf_error err = {0};
    char so[PATH_MAX], want[65], tmp[] = "/tmp/test_loader_XXXXXX", *old;
    const char *zeros = "0000000000000000000000000000000000000000000000000000000000000000";

    (void)state;
    assert_non_null(mkdtemp(tmp));
    old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
    setenv("TMPDIR", tmp, 1);
    snprintf(so, sizeof so, "%s/.libs/good.so", g_plugdir);
    sodium_file_hex(so, want);

    l = new_loader(g_plugdir);
    assert_int_equal(cf_loader_get_expect(l, "good", zeros, &m, &found, &err), CF_EMISSING);
    assert_null(m);
    assert_true(found.refused);
    assert_string_equal(found.sha256, want);
    assert_string_equal(found.version, "1.2.3"); /* read from the file, not loaded */
    same_file(found.path, so);
    assert_contains(err.message, "is not the expected build");
    assert_false(has_private_dir(tmp));
    /* Not cached: the right hash then loads it. */
    assert_int_equal(cf_loader_get_expect(l, "good", want, &m, &found, &err), 0);
    assert_false(found.refused);
    assert_string_equal(m->sha256, want);
    assert_string_equal(m->desc->version, "1.2.3");
    same_file(m->path, so); /* the file read, not the private copy */
    assert_false(has_private_dir(tmp));
    /* Cached by name: returned as it is, the caller compares. */
    assert_int_equal(cf_loader_get_expect(l, "good", zeros, &m, &found, &err), 0);
    assert_false(found.refused);
    cf_loader_free(l);

    /* A module that cannot be mapped leaves nothing behind either. */
    l = new_loader(g_srcplug);
    assert_int_not_equal(cf_loader_get(l, "notaplugin", &m, &err), 0);
    assert_false(has_private_dir(tmp));
    assert_true(strstr(err.message, tmp) == NULL); /* names the file, not the copy */
    cf_loader_free(l);

    if (old) {
        setenv("TMPDIR", old, 1);
        free(old);
    } else {
        unsetenv("TMPDIR");
    }
    assert_int_equal(rmdir(tmp), 0);
}

/* libltdl is process-wide and counts lt_dlinit and opens; one loader's
 * cleanup must not pull a module from under another. */
static void test_two_loaders(void **state)
{
    cf_loader *a = new_loader(g_plugdir), *b = new_loader(g_plugdir);
    const cf_module *ma = NULL, *mb = NULL;

    (void)state;
    assert_int_equal(cf_loader_get(a, "good", &ma, NULL), 0);
    assert_int_equal(cf_loader_get(b, "good", &mb, NULL), 0);
    /* Each loader maps its own private copy of the same bytes. */
    assert_ptr_not_equal(ma->desc, mb->desc);
    assert_string_equal(ma->sha256, mb->sha256);
    cf_loader_free(a);
    assert_string_equal(mb->desc->version, "1.2.3");
    assert_true(cf_plugin_accepts(mb->desc, "submit"));
    cf_loader_free(b);
}

static void test_wrong_abi_major(void **state)
{
    cf_error err = {0};
    (void)state;
    expect_get_fails(g_plugdir, "wrongabi", CF_EMISSING, &err);
    assert_contains(err.message, "plugin \"wrongabi\" (");
    assert_contains(err.message, "wrongabi.so) was built for ABI 2.0");
    assert_contains(err.message, "this engine supports 1.0");
}

static void test_newer_minor(void **state)
{
    cf_error err = {0};
    (void)state;
    expect_get_fails(g_plugdir, "newerminor", CF_EMISSING, &err);
    assert_contains(err.message, "newerminor");
    assert_contains(err.message, "ABI 1.99");
    assert_contains(err.message, "supports 1.0");
}

static void test_missing_symbol(void **state)
{
    cf_error err = {0};
    (void)state;
    expect_get_fails(g_plugdir, "nosymbol", CF_EMISSING, &err);
    assert_contains(err.message, "nosymbol.so: not a caseflow plugin");
    assert_contains(err.message, "nosymbol_LTX_caseflow_plugin");
}

static void test_small_size(void **state)
{
    cf_error err = {0};
    (void)state;
    expect_get_fails(g_plugdir, "smallsize", CF_EMISSING, &err);
    assert_contains(err.message, "smallsize");
    assert_contains(err.message, "descriptor size");
}

/* CF_PLUGIN_DEFINE names the descriptor after the module; a plugin that
 * still passes .name keeps working, and a .name that differs is refused. */
static void test_define_names(void **state)
{
    cf_loader *l = new_loader(g_plugdir);
    const cf_module *m = NULL;
    cf_error err = {0};

    (void)state;
    assert_int_equal(cf_loader_get(l, "good", &m, &err), 0);
    assert_string_equal(m->desc->name, "good");
    assert_int_equal(cf_loader_get(l, "oldname", &m, &err), 0);
    assert_string_equal(m->desc->name, "oldname");
    assert_string_equal(m->desc->version, "0.1");
    cf_loader_free(l);

    expect_get_fails(g_plugdir, "typoname", CF_EMISSING, &err);
    assert_contains(err.message, "names itself \"typonmae\", not the module name");
}

/* abi10 was built against tests/abi/1.0/caseflow/plugin.h, the oldest
 * supported header: the current loader takes it, and its descriptor says
 * ABI 1.0 with the 1.0 descriptor's size. tests/e2e/abi_compat.sh runs it
 * in a workflow. */
static void test_oldest_header(void **state)
{
    cf_loader *l = new_loader(g_plugdir);
    const cf_module *m = NULL;
    cf_error err = {0};
    json_t *d;

    (void)state;
    if (cf_loader_get(l, "abi10", &m, &err) != 0)
        fail_msg("%s", err.message);
    assert_int_equal(m->desc->abi, CF_PLUGIN_ABI_MAKE(1, 0));
    assert_int_equal(m->desc->size, offsetof(cf_plugin, reserved) + 8 * sizeof(void *));
    assert_string_equal(m->desc->name, "abi10");
    assert_true(cf_plugin_accepts(m->desc, "submit"));
    assert_true(cf_plugin_emits(m->desc, "done"));
    d = cf_loader_describe(m);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "abi")), "1.0");
    json_decref(d);
    cf_loader_free(l);
}

static void test_failinit_loads(void **state)
{
    cf_loader *l = new_loader(g_plugdir);
    const cf_module *m = NULL;
    cf_host host = {.abi = CF_PLUGIN_ABI, .size = sizeof(cf_host)};
    json_t *config = json_object();
    void *pstate = (void *)1;
    char msg[128] = "";

    (void)state;
    assert_int_equal(cf_loader_get(l, "failinit", &m, NULL), 0);
    assert_true(m->desc->init(&host, config, &pstate, msg, sizeof msg) < 0);
    assert_null(pstate);
    assert_string_equal(msg, "failinit: this plugin always refuses its config");
    json_decref(config);
    cf_loader_free(l);
}

static void test_garbage_so(void **state)
{
    cf_loader *l = new_loader(NULL);
    const cf_module *m = NULL;
    cf_error err = {0};
    char file[PATH_MAX];

    (void)state;
    snprintf(file, sizeof file, "%s/notaplugin.so", g_srcplug);
    assert_int_equal(cf_loader_open_file(l, file, &m, &err), CF_EMISSING);
    assert_null(m);
    assert_contains(err.message, file);
    assert_contains(err.message, "not a loadable module");
    /* libltdl alone would say "file not found" of a file that is there. */
    assert_null(strstr(err.message, "file not found"));
    assert_null(strchr(err.message, '\n'));
    cf_loader_free(l);

    /* Found by name, it is refused the same way. */
    expect_get_fails(g_srcplug, "notaplugin", CF_EMISSING, &err);
    assert_contains(err.message, "not a loadable module");
}

static void test_garbage_la(void **state)
{
    char dir[64], file[128];
    cf_error err = {0};

    (void)state;
    make_tmpdir(dir);
    snprintf(file, sizeof file, "%s/junk.la", dir);
    write_text(file, "# not a libtool archive\nhello\n");
    expect_get_fails(dir, "junk", CF_EMISSING, &err);
    assert_contains(err.message, file);
    assert_contains(err.message, "not a libtool library file");
    unlink(file);
    rmdir(dir);
}

static void test_unknown_name(void **state)
{
    cf_error err = {0};
    (void)state;
    expect_get_fails(g_plugdir, "nosuchplugin", CF_EMISSING, &err);
    assert_contains(err.message, "plugin \"nosuchplugin\" not found in ");
    assert_contains(err.message, g_plugdir);
}

static void test_bad_names(void **state)
{
    static const char *const bad[] = {
        "", "Good", "../good", "good/good", "good.la", "a-b", " good",
        "g\xc3\xa9", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        NULL};
    cf_error err = {0};

    (void)state;
    for (size_t i = 0; bad[i]; i++)
        expect_get_fails(g_plugdir, bad[i], CF_EINVALID, &err);
    expect_get_fails(g_plugdir, NULL, CF_EINVALID, &err);
}

static void test_open_file_missing(void **state)
{
    cf_loader *l = new_loader(NULL);
    const cf_module *m = NULL;
    cf_error err = {0};

    (void)state;
    assert_int_equal(cf_loader_open_file(l, "/nonexistent/x.la", &m, &err),
                     CF_ENOTFOUND);
    assert_contains(err.message, "/nonexistent/x.la");
    assert_int_equal(cf_loader_open_file(l, "/nonexistent/x", &m, &err),
                     CF_ENOTFOUND);
    assert_null(m);
    cf_loader_free(l);
}

static void test_open_file_without_extension(void **state)
{
    cf_loader *l = new_loader(NULL);
    const cf_module *m = NULL;
    char base[PATH_MAX];

    (void)state;
    snprintf(base, sizeof base, "%s/good", g_plugdir);
    assert_int_equal(cf_loader_open_file(l, base, &m, NULL), 0);
    assert_string_equal(m->name, "good");
    cf_loader_free(l);
}

/* The entry of arr named name; fails when there is not exactly one. */
static json_t *entry_named(json_t *arr, const char *name)
{
    json_t *found = NULL, *v;
    size_t i;

    json_array_foreach(arr, i, v) {
        if (strcmp(json_string_value(json_object_get(v, "name")), name) != 0)
            continue;
        if (found)
            fail_msg("\"%s\" is listed twice", name);
        found = v;
    }
    if (!found)
        fail_msg("\"%s\" is not listed", name);
    return found;
}

static void assert_listed_error(json_t *arr, const char *name,
                                const char *reason)
{
    json_t *e = entry_named(arr, name);
    const char *msg = json_string_value(json_object_get(e, "error"));

    if (!msg)
        fail_msg("\"%s\" is listed without an error", name);
    assert_contains(msg, reason);
    assert_non_null(json_string_value(json_object_get(e, "path")));
}

static void test_list(void **state)
{
    char path[2 * PATH_MAX + 2], want[65], so[PATH_MAX];
    cf_loader *l;
    json_t *arr = NULL, *good;
    cf_error err = {0};

    (void)state;
    /* Source dir second: it holds notaplugin.so (and, in an in-tree build,
     * the same modules again, which must be listed once). */
    snprintf(path, sizeof path, "%s:%s", g_plugdir, g_srcplug);
    l = new_loader(path);
    if (cf_loader_list(l, &arr, &err) != 0)
        fail_msg("%s", err.message);
    assert_true(json_is_array(arr));

    good = entry_named(arr, "good");
    assert_null(json_object_get(good, "error"));
    assert_string_equal(json_string_value(json_object_get(good, "version")), "1.2.3");
    assert_string_equal(json_string_value(json_object_get(good, "abi")), "1.0");
    assert_true(json_array_size(json_object_get(good, "accepts")) > 0);
    assert_true(json_is_array(json_object_get(good, "emits")));
    assert_true(json_array_size(json_object_get(entry_named(arr, "triage"), "emits")) > 0);
    snprintf(so, sizeof so, "%s/.libs/good.so", g_plugdir);
    sodium_file_hex(so, want);
    assert_string_equal(json_string_value(json_object_get(good, "sha256")), want);

    assert_null(json_object_get(entry_named(arr, "failinit"), "error"));
    assert_listed_error(arr, "wrongabi", "ABI 2.0");
    assert_listed_error(arr, "newerminor", "ABI 1.99");
    assert_listed_error(arr, "nosymbol", "not a caseflow plugin");
    assert_listed_error(arr, "smallsize", "descriptor size");
    assert_listed_error(arr, "notaplugin", "not a loadable module");
    json_decref(arr);
    cf_loader_free(l);
}

static void test_list_empty_and_null(void **state)
{
    cf_loader *l = new_loader("/nonexistent");
    json_t *arr = NULL;

    (void)state;
    /* Only the installed directory remains, which may hold anything. */
    assert_int_equal(cf_loader_list(l, &arr, NULL), 0);
    assert_true(json_is_array(arr));
    json_decref(arr);
    assert_int_equal(cf_loader_list(l, NULL, NULL), CF_EINVALID);
    assert_int_equal(cf_loader_list(NULL, &arr, NULL), CF_EINVALID);
    assert_null(arr);
    cf_loader_free(l);
}

static void test_search_order(void **state)
{
    char dir[64], sub[128], copy[192], so[PATH_MAX], path[PATH_MAX + 80];
    const cf_module *m = NULL;
    cf_loader *l;
    cf_error err = {0};
    json_t *arr = NULL;

    (void)state;
    snprintf(so, sizeof so, "%s/.libs/good.so", g_plugdir);
    make_tmpdir(dir);
    snprintf(copy, sizeof copy, "%s/good.so", dir);
    copy_file(so, copy);

    /* First directory wins, in both orders. */
    snprintf(path, sizeof path, "%s:%s", dir, g_plugdir);
    l = new_loader(path);
    assert_int_equal(cf_loader_get(l, "good", &m, NULL), 0);
    same_file(m->path, copy);
    cf_loader_free(l);
    snprintf(path, sizeof path, "%s:%s", g_plugdir, dir);
    l = new_loader(path);
    assert_int_equal(cf_loader_get(l, "good", &m, NULL), 0);
    same_file(m->path, so);
    cf_loader_free(l);

    /* A broken module in the first directory is an error, not a reason to
     * run another copy from further down the path. */
    unlink(copy);
    write_text(copy, "garbage\n");
    snprintf(path, sizeof path, "%s:%s", dir, g_plugdir);
    expect_get_fails(path, "good", CF_EMISSING, &err);
    assert_contains(err.message, copy);
    unlink(copy);

    /* <dir>/<name>/<name>.so, as plugins are laid out in the build tree. */
    snprintf(sub, sizeof sub, "%s/good", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(copy, sizeof copy, "%s/good/good.so", dir);
    copy_file(so, copy);
    l = new_loader(dir);
    assert_int_equal(cf_loader_get(l, "good", &m, NULL), 0);
    same_file(m->path, copy);
    cf_loader_free(l);
    /* ... and listed from there, without a fresh load finding it twice. */
    l = new_loader(dir);
    assert_int_equal(cf_loader_list(l, &arr, NULL), 0);
    same_file(json_string_value(json_object_get(entry_named(arr, "good"), "path")),
              copy);
    json_decref(arr);
    cf_loader_free(l);
    unlink(copy);
    rmdir(sub);
    rmdir(dir);
}

static void test_describe(void **state)
{
    cf_loader *l = new_loader(g_plugdir);
    const cf_module *m = NULL;
    json_t *d;

    (void)state;
    assert_null(cf_loader_describe(NULL));
    assert_int_equal(cf_loader_get(l, "good", &m, NULL), 0);
    d = cf_loader_describe(m);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "name")), "good");
    assert_string_equal(json_string_value(json_object_get(d, "summary")),
                        m->desc->summary);
    assert_string_equal(json_string_value(json_object_get(d, "path")), m->path);
    assert_string_equal(json_string_value(json_object_get(d, "sha256")), m->sha256);
    assert_string_equal(json_string_value(json_array_get(json_object_get(d, "accepts"), 0)),
                        "submit");
    assert_string_equal(json_string_value(json_object_get(d, "abi")), "1.0");
    json_decref(d);
    cf_loader_free(l);
}

static void test_accepts_emits_null(void **state)
{
    cf_plugin p = {.abi = CF_PLUGIN_ABI, .size = sizeof p};
    (void)state;
    assert_false(cf_plugin_accepts(NULL, "x"));
    assert_false(cf_plugin_emits(NULL, "x"));
    assert_false(cf_plugin_accepts(&p, "x"));
    assert_false(cf_plugin_emits(&p, NULL));
}

/* ---- the good plugin through a fake host --------------------------------- */

struct cf_step {
    json_t *data;
    char emitted[64];
    char field[64];
    char message[256];
};

static const json_t *fake_get(cf_step *s, const char *path)
{
    return json_object_get(s->data, path);
}

static int fake_set(cf_step *s, const char *path, json_t *value)
{
    return json_object_set_new(s->data, path, value) == 0 ? 0 : CF_PLUGIN_FAILED;
}

static int fake_emit(cf_step *s, const char *event)
{
    snprintf(s->emitted, sizeof s->emitted, "%s", event);
    return 0;
}

static int fake_fail(cf_step *s, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fake_fail(cf_step *s, const char *field, const char *fmt, ...)
{
    va_list ap;
    snprintf(s->field, sizeof s->field, "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(s->message, sizeof s->message, fmt, ap);
    va_end(ap);
    return CF_PLUGIN_FAILED;
}

static void test_good_behaviour(void **state)
{
    cf_loader *l = new_loader(g_plugdir);
    const cf_module *m = NULL;
    cf_host host = {.abi = CF_PLUGIN_ABI, .size = sizeof(cf_host),
                    .get = fake_get, .set = fake_set, .emit = fake_emit,
                    .fail = fake_fail};
    cf_step step = {.data = json_object()};
    json_t *config = json_pack("{s:s, s:{s:i}}", "emit", "next", "set", "a", 1);
    json_t *in;
    void *pstate = NULL;
    char msg[128] = "";
    const cf_plugin *p;

    (void)state;
    assert_int_equal(cf_loader_get(l, "good", &m, NULL), 0);
    p = m->desc;
    assert_int_equal(p->init(&host, config, &pstate, msg, sizeof msg), 0);
    json_decref(config); /* the plugin keeps its own copy */

    assert_int_equal(p->enter(&host, pstate, &step), 0);
    assert_string_equal(step.emitted, "next");
    assert_int_equal(json_integer_value(json_object_get(step.data, "a")), 1);

    in = json_pack("{s:{s:s}, s:s}", "set", "b", "x", "emit", "done");
    assert_int_equal(p->handle(&host, pstate, &step, "submit", in), 0);
    json_decref(in);
    assert_string_equal(step.emitted, "done");
    assert_string_equal(json_string_value(json_object_get(step.data, "b")), "x");

    in = json_pack("{s:s}", "fail", "no grounds recorded");
    assert_int_equal(p->handle(&host, pstate, &step, "submit", in),
                     CF_PLUGIN_FAILED);
    json_decref(in);
    assert_string_equal(step.field, "fail");
    assert_string_equal(step.message, "no grounds recorded");

    p->fini(pstate);
    p->fini(NULL);
    json_decref(step.data);
    cf_loader_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_free),
        cmocka_unit_test(test_load_good),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_two_loaders),
        cmocka_unit_test(test_wrong_abi_major),
        cmocka_unit_test(test_newer_minor),
        cmocka_unit_test(test_missing_symbol),
        cmocka_unit_test(test_small_size),
        cmocka_unit_test(test_define_names),
        cmocka_unit_test(test_oldest_header),
        cmocka_unit_test(test_failinit_loads),
        cmocka_unit_test(test_garbage_so),
        cmocka_unit_test(test_garbage_la),
        cmocka_unit_test(test_unknown_name),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_open_file_missing),
        cmocka_unit_test(test_open_file_without_extension),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_list_empty_and_null),
        cmocka_unit_test(test_search_order),
        cmocka_unit_test(test_describe),
        cmocka_unit_test(test_accepts_emits_null),
        cmocka_unit_test(test_good_behaviour),
        cmocka_unit_test(test_expect),
    };
    return cmocka_run_group_tests(tests, setup_paths, NULL);
}
