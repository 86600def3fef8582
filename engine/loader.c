/*
 * Step plugins on libltdl. The loader finds a module by name on a search
 * path (the caller's colon-separated directories, then the installed plugin
 * directory), opens it with lt_dlopenadvise (".la" then ".so", local
 * symbols), and looks up its one descriptor with lt_dlsym(handle,
 * "caseflow_plugin"), which libltdl resolves as
 * "<module>_LTX_caseflow_plugin". Nothing in a descriptor is trusted until it
 * has been checked: the ABI major must equal ours and its minor must not be
 * newer, the declared size must cover every ABI 1.0 field the engine reads
 * (and nothing past `size` is ever read), and it must name itself after its
 * module. Each accepted module is recorded with the SHA-256 of the shared
 * object actually mapped, so audit records can name the exact code that ran.
 * Modules stay loaded, cached by name, until the loader is freed: plugin
 * states and the descriptor's strings live inside them.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#ifdef HAVE_DLFCN_H
#include <dlfcn.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "internal.h"

#ifndef CF_PKGLIBDIR
/* Makefile.am defines it; this keeps stray builds (fuzzers, IDEs) compiling. */
#define CF_PKGLIBDIR "/usr/local/lib/caseflow"
#endif

/* Module names become file names and C identifiers; keep them boring. */
#define NAME_MAX_LEN 64
/* Bounds on what we walk in a descriptor, against a missing terminator. */
#define EVENTS_MAX 256
#define TEXT_MAX 4096

/* Every ABI 1.0 field the engine reads: abi through fini. */
#define DESC_MIN_SIZE offsetof(cf_plugin, reserved)

typedef struct entry {
    cf_module m;   /* first, so a cf_module * is its entry's address */
    bool searched; /* found by name on the search path (cf_loader_get) */
} entry;

struct cf_loader {
    char **dirs; /* search directories, in order; the last is CF_PKGLIBDIR */
    size_t ndirs;
    entry **mods;
    size_t nmods, capmods;
    lt_dladvise advise;
    bool ltdl_up;
};

/* ---- errors ------------------------------------------------------------- */

/* cf_err_setv without a field (the message names plugin and file). Tabs go
 * too: dlerror() text and file names come from outside and must not break
 * the caller's one-line, tab-free output. */
static int fail(cf_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(cf_error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cf_err_setv(err, code, NULL, fmt, ap);
    va_end(ap);
    if (err)
        for (char *p = err->message; *p; p++)
            if (*p == '\n' || *p == '\r' || *p == '\t')
                *p = ' ';
    return code;
}

static const char *ltdl_reason(void)
{
    const char *e = lt_dlerror();
    return e ? e : "unknown libltdl error";
}

/* ---- small string and file helpers -------------------------------------- */

static char *join(const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *s = malloc(la + ls + lb + 1);
    if (!s)
        return NULL;
    memcpy(s, a, la);
    memcpy(s + la, sep, ls);
    memcpy(s + la + ls, b, lb + 1);
    return s;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool valid_name(const char *name)
{
    size_t n = 0;
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++, n++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return n <= NAME_MAX_LEN;
}

/* Well-formed UTF-8 of at most max bytes. */
static bool utf8_ok(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    while (*p) {
        int more = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1
                 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
        if (more < 0 || (more == 1 && *p < 0xc2))
            return false;
        for (int i = 1; i <= more; i++)
            if ((p[i] & 0xc0) != 0x80)
                return false;
        p += more + 1;
        n += (size_t)more + 1;
        if (n > max)
            return false;
    }
    return true;
}

/* Descriptor strings end up in JSON output and audit records, which must be
 * valid UTF-8; the bound also stops a scan through garbage early. */
static bool valid_text(const char *s)
{
    return utf8_ok(s, TEXT_MAX);
}

/* ---- the search path ------------------------------------------------------ */

static int add_dir(cf_loader *l, const char *dir, size_t len)
{
    char **dirs = realloc(l->dirs, (l->ndirs + 1) * sizeof *dirs);
    if (!dirs)
        return CF_ENOMEM;
    l->dirs = dirs;
    dirs[l->ndirs] = strndup(dir, len);
    if (!dirs[l->ndirs])
        return CF_ENOMEM;
    l->ndirs++;
    return 0;
}

/* Empty components are skipped rather than read as ".": a stray colon in
 * CASEFLOW_PLUGIN_PATH must not make the working directory a plugin source. */
static int parse_path(cf_loader *l, const char *path)
{
    const char *p = path ? path : "";
    while (*p) {
        size_t len = strcspn(p, ":");
        if (len > 0 && add_dir(l, p, len) != 0)
            return CF_ENOMEM;
        p += len;
        if (*p == ':')
            p++;
    }
    return add_dir(l, CF_PKGLIBDIR, strlen(CF_PKGLIBDIR));
}

int cf_loader_new(const char *path, cf_loader **out, cf_error *err)
{
    cf_loader *l;

    if (!out)
        return fail(err, CF_EINVALID, "cf_loader_new: out is NULL");
    *out = NULL;
    l = calloc(1, sizeof *l);
    if (!l)
        return fail(err, CF_ENOMEM, "out of memory creating the plugin loader");
    if (lt_dlinit() != 0) {
        free(l);
        return fail(err, CF_EINTERNAL, "cannot initialise libltdl: %s",
                    ltdl_reason());
    }
    l->ltdl_up = true;
    /* ext: "name" finds name.la, then name.so. local: two plugins may define
     * the same helper symbols without one silently binding to the other. */
    if (lt_dladvise_init(&l->advise) != 0 || lt_dladvise_ext(&l->advise) != 0 ||
        lt_dladvise_local(&l->advise) != 0) {
        cf_loader_free(l);
        return fail(err, CF_EINTERNAL, "cannot set up libltdl: %s",
                    ltdl_reason());
    }
    if (parse_path(l, path) != 0) {
        cf_loader_free(l);
        return fail(err, CF_ENOMEM, "out of memory creating the plugin loader");
    }
    *out = l;
    return 0;
}

static void module_free(entry *e)
{
    if (!e)
        return;
    if (e->m.handle)
        lt_dlclose(e->m.handle);
    free(e->m.name);
    free(e->m.path);
    free(e);
}

void cf_loader_free(cf_loader *l)
{
    if (!l)
        return;
    /* Newest first: a later module may have been handed pointers into an
     * earlier one's data by its caller, never the other way round. */
    while (l->nmods > 0)
        module_free(l->mods[--l->nmods]);
    free(l->mods);
    for (size_t i = 0; i < l->ndirs; i++)
        free(l->dirs[i]);
    free(l->dirs);
    if (l->advise)
        lt_dladvise_destroy(&l->advise);
    if (l->ltdl_up)
        lt_dlexit();
    free(l);
}

/* ---- checking a descriptor ---------------------------------------------- */

static int check_abi(const cf_plugin *d, const char *name, const char *file,
                     cf_error *err)
{
    uint32_t major = CF_PLUGIN_ABI_MAJOR_OF(d->abi);
    uint32_t minor = CF_PLUGIN_ABI_MINOR_OF(d->abi);

    if (major == CF_PLUGIN_ABI_MAJOR && minor <= CF_PLUGIN_ABI_MINOR)
        return 0;
    return fail(err, CF_EMISSING,
                "plugin \"%s\" (%s) was built for ABI %u.%u; this engine "
                "supports %u.%u",
                name, file, (unsigned)major, (unsigned)minor,
                (unsigned)CF_PLUGIN_ABI_MAJOR, (unsigned)CF_PLUGIN_ABI_MINOR);
}

static int check_events(const char *const *ev, const char *what,
                        const char *name, const char *file, cf_error *err)
{
    size_t i;
    for (i = 0; ev && ev[i]; i++)
        if (i >= EVENTS_MAX || !*ev[i] || !valid_text(ev[i]))
            return fail(err, CF_EMISSING,
                        "plugin \"%s\" (%s): %s[%zu] is empty, too long, not "
                        "UTF-8 or the list is not NULL-terminated",
                        name, file, what, i);
    return 0;
}

/* Called only after lt_dlsym found the symbol; reads nothing past d->size. */
static int check_desc(const cf_plugin *d, const char *name, const char *file,
                      cf_error *err)
{
    int rc = check_abi(d, name, file, err);
    if (rc != 0)
        return rc;
    if (d->size < DESC_MIN_SIZE)
        return fail(err, CF_EMISSING,
                    "plugin \"%s\" (%s): descriptor size %u is smaller than "
                    "the %zu bytes of ABI %u.%u",
                    name, file, (unsigned)d->size, (size_t)DESC_MIN_SIZE,
                    (unsigned)CF_PLUGIN_ABI_MAJOR, (unsigned)CF_PLUGIN_ABI_MINOR);
    if (!d->name || strcmp(d->name, name) != 0)
        return fail(err, CF_EMISSING,
                    "plugin \"%s\" (%s): descriptor names itself \"%.64s\", "
                    "not the module name",
                    name, file, d->name && valid_text(d->name) ? d->name : "");
    if (!d->version || !*d->version || !valid_text(d->version))
        return fail(err, CF_EMISSING,
                    "plugin \"%s\" (%s): descriptor has no valid version",
                    name, file);
    if (d->summary && !valid_text(d->summary))
        return fail(err, CF_EMISSING,
                    "plugin \"%s\" (%s): summary is too long or not UTF-8",
                    name, file);
    rc = check_events(d->accepts, "accepts", name, file, err);
    return rc ? rc : check_events(d->emits, "emits", name, file, err);
}

/* ---- loading ------------------------------------------------------------ */

static entry *find_by_name(const cf_loader *l, const char *name)
{
    for (size_t i = 0; i < l->nmods; i++)
        if (l->mods[i]->searched && strcmp(l->mods[i]->m.name, name) == 0)
            return l->mods[i];
    return NULL;
}

/* The same object reached by another path (a .la and its .so, a symlink, a
 * hard link): the dynamic linker maps it once, so its descriptor address is
 * the identity that no path spelling can hide. */
static entry *find_by_desc(const cf_loader *l, const cf_plugin *desc)
{
    for (size_t i = 0; i < l->nmods; i++)
        if (l->mods[i]->m.desc == desc)
            return l->mods[i];
    return NULL;
}

static int append(cf_loader *l, entry *e)
{
    if (l->nmods == l->capmods) {
        size_t cap = l->capmods ? 2 * l->capmods : 8;
        entry **mods = realloc(l->mods, cap * sizeof *mods);
        if (!mods)
            return CF_ENOMEM;
        l->mods = mods;
        l->capmods = cap;
    }
    l->mods[l->nmods++] = e;
    return 0;
}

/* Record an accepted module; takes over h (closed on failure). so is the
 * shared object libltdl actually mapped: what we hash and report. */
static int remember(cf_loader *l, lt_dlhandle h, const cf_plugin *desc,
                    const char *name, const char *so, bool searched,
                    const cf_module **out, cf_error *err)
{
    entry *e = calloc(1, sizeof *e);
    if (!e) {
        lt_dlclose(h);
        return fail(err, CF_ENOMEM, "out of memory loading plugin \"%s\"", name);
    }
    e->m.handle = h;
    e->m.desc = desc;
    e->searched = searched;
    e->m.name = strdup(name);
    e->m.path = strdup(so);
    if (!e->m.name || !e->m.path || append(l, e) != 0) {
        module_free(e);
        return fail(err, CF_ENOMEM, "out of memory loading plugin \"%s\"", name);
    }
    errno = 0;
    if (cf_sha256_file(e->m.path, e->m.sha256) != 0) {
        /* An unhashable module could not be named in the audit chain. so
         * belongs to the handle: report before closing it. */
        int rc = fail(err, CF_EMISSING, "plugin \"%s\" (%s): cannot read it "
                      "to compute its SHA-256: %s", name, so,
                      errno ? strerror(errno) : "read error");
        module_free(l->mods[--l->nmods]);
        return rc;
    }
    *out = &e->m;
    return 0;
}

/* The value of `key='value'` (or key=value) on a line of a .la; new. */
static char *la_value(const char *line, const char *key)
{
    size_t k = strlen(key), len;

    if (strncmp(line, key, k) != 0 || line[k] != '=')
        return NULL;
    line += k + 1;
    if (*line == '\'')
        line++;
    len = strcspn(line, "'\n");
    return strndup(line, len);
}

/* The dlname, libdir and installed lines of a .la (each may stay unset). */
static void read_la(const char *la, char **dlname, char **libdir,
                    bool *installed)
{
    char line[1024], *v;
    FILE *f = fopen(la, "r");

    while (f && fgets(line, sizeof line, f)) {
        if ((v = la_value(line, "dlname")) != NULL) {
            free(*dlname);
            *dlname = v;
        } else if ((v = la_value(line, "libdir")) != NULL) {
            free(*libdir);
            *libdir = v;
        } else if ((v = la_value(line, "installed")) != NULL) {
            *installed = strcmp(v, "no") != 0;
            free(v);
        }
    }
    if (f)
        fclose(f);
}

/* dir[/sub]/dlname when that file exists; new. */
static char *so_in(const char *dir, const char *sub, const char *dlname)
{
    char *d = sub ? join(dir, "/", sub) : strdup(dir);
    char *f = d ? join(d, "/", dlname) : NULL;

    free(d);
    if (f && !is_file(f)) {
        free(f);
        f = NULL;
    }
    return f;
}

/* The shared object a .la names, looked for where libltdl looks
 * (uninstalled: <dir>/.libs; installed: libdir; moved: beside the .la).
 * *named says whether the .la names one at all. New, or NULL. */
static char *la_target(const char *la, bool *named)
{
    const char *slash = strrchr(la, '/');
    char *dir = slash ? strndup(la, (size_t)(slash - la)) : strdup(".");
    char *dlname = NULL, *libdir = NULL, *found = NULL;
    bool installed = true;

    read_la(la, &dlname, &libdir, &installed);
    *named = dlname && *dlname;
    if (dir && *named) {
        if (!installed)
            found = so_in(dir, ".libs", dlname);
        if (!found && installed && libdir)
            found = so_in(libdir, NULL, dlname);
        if (!found)
            found = so_in(dir, NULL, dlname);
    }
    free(dir);
    free(dlname);
    free(libdir);
    return found;
}

/*
 * Why libltdl could not open file, in better words than it keeps: it reports
 * only its last loader's complaint ("file not found" for a file right there),
 * hiding the dynamic linker's reason (not ELF, wrong architecture, a missing
 * dependency). We ask dlopen again to hear that reason; this runs no code
 * that libltdl's own attempt would not have run.
 */
static void diagnose(const char *file, char *why, size_t size)
{
    char *so = NULL;
    const char *reason = ltdl_reason();

    snprintf(why, size, "%s", reason);
    if (ends_with(file, ".la")) {
        bool named;
        so = la_target(file, &named);
        if (!named) {
            snprintf(why, size, "not a libtool library file (it names no "
                     "shared object)");
            return;
        }
        if (!so) {
            snprintf(why, size, "the shared object it names is missing");
            return;
        }
        file = so;
    }
#ifdef HAVE_DLFCN_H
    {
        void *h = dlopen(file, RTLD_LAZY | RTLD_LOCAL);
        const char *e = h ? NULL : dlerror();
        if (h)
            dlclose(h);
        else if (e)
            snprintf(why, size, "%s", e);
    }
#endif
    free(so);
}

/*
 * Open target (a file, or a base name that libltdl completes with .la/.so),
 * find and check its descriptor, and cache it. shown is the file named in
 * messages when libltdl cannot open anything.
 */
static int load(cf_loader *l, const char *target, const char *shown,
                const char *name, bool searched, const cf_module **out,
                cf_error *err)
{
    lt_dlhandle h;
    const lt_dlinfo *info;
    const cf_plugin *desc;
    const char *so;
    entry *known;
    int rc;

    h = lt_dlopenadvise(target, l->advise);
    if (!h) {
        char why[256];
        diagnose(shown, why, sizeof why);
        return fail(err, CF_EMISSING, "%s: not a loadable module: %s", shown,
                    why);
    }
    info = lt_dlgetinfo(h);
    /* For a .la, libltdl reports the .so it read from dlname. */
    so = info && info->filename ? info->filename : shown;
    desc = lt_dlsym(h, "caseflow_plugin");
    if (!desc) {
        rc = fail(err, CF_EMISSING,
                  "%s: not a caseflow plugin: it exports no "
                  "%s_LTX_caseflow_plugin descriptor", so, name);
        lt_dlclose(h);
        return rc;
    }
    rc = check_desc(desc, name, so, err);
    if (rc != 0) {
        lt_dlclose(h);
        return rc;
    }
    known = find_by_desc(l, desc);
    if (known) {
        lt_dlclose(h); /* the cached entry holds its own reference */
        known->searched = known->searched || searched;
        *out = &known->m;
        return 0;
    }
    return remember(l, h, desc, name, so, searched, out, err);
}

/* The file that base names: base.la, else base.so (libltdl's order). */
static char *existing_file(const char *base)
{
    char *f = join(base, "", ".la");
    if (f && is_file(f))
        return f;
    free(f);
    f = join(base, "", ".so");
    if (f && is_file(f))
        return f;
    free(f);
    return NULL;
}

/* Look for name in dir as dir/name and dir/name/name; 1 when found (base
 * and file set, both malloc'd), 0 when absent, CF_ENOMEM. */
static int find_in_dir(const char *dir, const char *name, char **base,
                       char **file)
{
    char *cand[2];
    int found = 0;

    cand[0] = join(dir, "/", name);
    cand[1] = cand[0] ? join(cand[0], "/", name) : NULL;
    if (!cand[1]) {
        free(cand[0]);
        return CF_ENOMEM;
    }
    for (int i = 0; i < 2 && !found; i++) {
        *file = existing_file(cand[i]);
        if (*file) {
            *base = cand[i];
            cand[i] = NULL;
            found = 1;
        }
    }
    free(cand[0]);
    free(cand[1]);
    return found;
}

/* The search path as text for a "not found" message (truncated). */
static void path_text(const cf_loader *l, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < l->ndirs && used + 1 < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? ":" : "",
                         l->dirs[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

int cf_loader_get(cf_loader *l, const char *name, const cf_module **out,
                  cf_error *err)
{
    entry *e;
    char where[256];

    if (out)
        *out = NULL;
    if (!l || !out)
        return fail(err, CF_EINVALID, "cf_loader_get: NULL argument");
    if (!valid_name(name))
        return fail(err, CF_EINVALID,
                    "plugin name \"%.64s\" is not 1 to %d characters of "
                    "[a-z0-9_]", name ? name : "", NAME_MAX_LEN);
    e = find_by_name(l, name);
    if (e) {
        *out = &e->m;
        return 0;
    }
    /* First directory that has the module wins, even when it fails to load:
     * silently falling back to another copy would run code nobody chose. */
    for (size_t i = 0; i < l->ndirs; i++) {
        char *base = NULL, *file = NULL;
        int found = find_in_dir(l->dirs[i], name, &base, &file);
        if (found < 0)
            return fail(err, CF_ENOMEM, "out of memory looking for \"%s\"", name);
        if (found) {
            int rc = load(l, base, file, name, true, out, err);
            free(base);
            free(file);
            return rc;
        }
    }
    path_text(l, where, sizeof where);
    return fail(err, CF_EMISSING, "plugin \"%s\" not found in %s", name, where);
}

/* Module name of a file: its base name without .la/.so. New string. */
static char *name_of(const char *file)
{
    const char *base = strrchr(file, '/');
    size_t len;

    base = base ? base + 1 : file;
    len = strlen(base);
    if (ends_with(base, ".la") || ends_with(base, ".so"))
        len -= 3;
    return strndup(base, len);
}

int cf_loader_open_file(cf_loader *l, const char *file, const cf_module **out,
                        cf_error *err)
{
    char *name, *shown, *target;
    int rc;

    if (out)
        *out = NULL;
    if (!l || !file || !*file || !out)
        return fail(err, CF_EINVALID, "cf_loader_open_file: NULL argument");
    if (ends_with(file, ".la") || ends_with(file, ".so"))
        shown = is_file(file) ? strdup(file) : NULL;
    else
        shown = existing_file(file);
    if (!shown)
        return fail(err, CF_ENOTFOUND, "%s: no such plugin file", file);
    /* Without a slash libltdl would search LD_LIBRARY_PATH and friends, not
     * the working directory where we just found the file. */
    target = strchr(file, '/') ? strdup(file) : join(".", "/", file);
    name = name_of(shown);
    if (!name || !target)
        rc = fail(err, CF_ENOMEM, "out of memory opening %s", file);
    else if (!valid_name(name))
        rc = fail(err, CF_EMISSING, "%s: not a caseflow plugin: module name "
                  "\"%.64s\" is not [a-z0-9_]+", shown, name);
    else
        rc = load(l, target, shown, name, false, out, err);
    free(target);
    free(name);
    free(shown);
    return rc;
}

/* ---- describing and listing ----------------------------------------------- */

static json_t *events_json(const char *const *ev)
{
    json_t *a = json_array();
    for (size_t i = 0; a && ev && ev[i]; i++)
        if (json_array_append_new(a, json_string(ev[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* json_object_set_new steals v even when it fails, so one check at the end
 * of a run of sets is enough. */
static int set(json_t *o, const char *key, json_t *v)
{
    return json_object_set_new(o, key, v);
}

json_t *cf_loader_describe(const cf_module *m)
{
    const cf_plugin *d;
    char abi[24];
    json_t *o;
    int bad = 0;

    if (!m || !m->desc)
        return NULL;
    d = m->desc;
    snprintf(abi, sizeof abi, "%u.%u", (unsigned)CF_PLUGIN_ABI_MAJOR_OF(d->abi),
             (unsigned)CF_PLUGIN_ABI_MINOR_OF(d->abi));
    o = json_object();
    if (!o)
        return NULL;
    bad |= set(o, "name", json_string(m->name));
    bad |= set(o, "version", json_string(d->version));
    bad |= set(o, "summary", json_string(d->summary ? d->summary : ""));
    bad |= set(o, "abi", json_string(abi));
    bad |= set(o, "accepts", events_json(d->accepts));
    bad |= set(o, "emits", events_json(d->emits));
    bad |= set(o, "path", json_string(m->path));
    bad |= set(o, "sha256", json_string(m->sha256));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* A JSON string of text from outside (a file name, a truncated message):
 * bytes that would make it invalid UTF-8 become '?'. */
static json_t *outside_string(const char *s)
{
    json_t *v;
    char *copy;

    if (utf8_ok(s, (size_t)-1))
        return json_string(s);
    copy = strdup(s);
    if (!copy)
        return NULL;
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

static json_t *failure_json(const char *name, const char *file,
                            const char *message)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (set(o, "name", outside_string(name)) |
        set(o, "path", outside_string(file)) |
        set(o, "error", outside_string(message))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* Names already listed: the first directory that has a module shadows the
 * others, exactly as cf_loader_get resolves it. */
static bool listed(const json_t *arr, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        const char *n = json_string_value(json_object_get(v, "name"));
        if (n && strcmp(n, name) == 0)
            return true;
    }
    return false;
}

/* Describe the module in file, or why it cannot be loaded, into arr. */
static int list_file(cf_loader *l, const char *file, json_t *arr)
{
    const cf_module *m = NULL;
    cf_error e = {0};
    char *name = name_of(file);
    json_t *item;
    int rc;

    if (!name)
        return CF_ENOMEM;
    if (listed(arr, name)) {
        free(name);
        return 0;
    }
    rc = cf_loader_open_file(l, file, &m, &e);
    if (rc == CF_ENOMEM) {
        free(name);
        return rc;
    }
    item = rc == 0 ? cf_loader_describe(m) : failure_json(name, file, e.message);
    free(name);
    if (!item || json_array_append_new(arr, item) != 0)
        return CF_ENOMEM;
    return 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Sorted entry names of dir, without hidden ones (.libs, .deps). A missing
 * or unreadable directory has no entries: the installed plugin directory
 * need not exist. */
static int read_names(const char *dir, char ***out, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t cap = 0;

    *out = NULL;
    *n = 0;
    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (*n == cap) {
            size_t want = cap ? 2 * cap : 16;
            char **grown = realloc(names, want * sizeof *names);
            if (!grown)
                goto oom;
            names = grown;
            cap = want;
        }
        if (!(names[*n] = strdup(de->d_name)))
            goto oom;
        (*n)++;
    }
    closedir(d);
    if (*n > 1)
        if (*n > 1)
            qsort(names, *n, sizeof *names, compare_names);
    *out = names;
    return 0;
oom:
    closedir(d);
    free_names(names, *n);
    *n = 0;
    return CF_ENOMEM;
}

/* A .la names a module; a .so only when no .la beside it describes it. */
static bool is_candidate(const char *path)
{
    char *la;
    bool yes;

    if (ends_with(path, ".la"))
        return true;
    if (!ends_with(path, ".so"))
        return false;
    la = strdup(path);
    if (!la)
        return true; /* list it; opening it will report the memory problem */
    memcpy(la + strlen(la) - 3, ".la", 3);
    yes = !is_file(la);
    free(la);
    return yes;
}

/* Modules in dir, then (depth 1) those in its immediate subdirectories:
 * files first, so dir/x.la shadows dir/x/x.la as it does in cf_loader_get. */
static int list_dir(cf_loader *l, const char *dir, int depth, json_t *arr)
{
    char **names;
    size_t n;
    int rc = read_names(dir, &names, &n);

    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        for (size_t i = 0; rc == 0 && i < n; i++) {
            char *path = join(dir, "/", names[i]);
            if (!path)
                rc = CF_ENOMEM;
            else if (pass == 0 && is_file(path) && is_candidate(path))
                rc = list_file(l, path, arr);
            else if (pass == 1 && depth > 0 && is_dir(path))
                rc = list_dir(l, path, depth - 1, arr);
            free(path);
        }
    }
    free_names(names, n);
    return rc;
}

int cf_loader_list(cf_loader *l, json_t **out, cf_error *err)
{
    json_t *arr;

    if (out)
        *out = NULL;
    if (!l || !out)
        return fail(err, CF_EINVALID, "cf_loader_list: NULL argument");
    arr = json_array();
    if (!arr)
        return fail(err, CF_ENOMEM, "out of memory listing plugins");
    for (size_t i = 0; i < l->ndirs; i++)
        if (list_dir(l, l->dirs[i], 1, arr) != 0) {
            json_decref(arr);
            return fail(err, CF_ENOMEM, "out of memory listing plugins");
        }
    *out = arr;
    return 0;
}

/* ---- event lists ----------------------------------------------------------- */

static bool in_list(const char *const *ev, const char *event)
{
    if (!ev || !event)
        return false;
    for (size_t i = 0; i < EVENTS_MAX && ev[i]; i++)
        if (strcmp(ev[i], event) == 0)
            return true;
    return false;
}

bool cf_plugin_accepts(const cf_plugin *p, const char *event)
{
    return p && in_list(p->accepts, event);
}

bool cf_plugin_emits(const cf_plugin *p, const char *event)
{
    return p && in_list(p->emits, event);
}
