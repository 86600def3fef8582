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
 *
 * The bytes hashed are the bytes mapped: the shared object (a .la's target)
 * is opened once, read and hashed from that descriptor into a private copy
 * (same module name, so libltdl's "<module>_LTX_" prefix still applies, in
 * a fresh 0700 directory), and the copy is what libltdl opens; it and its
 * directory are removed right after, the mapping lives on. Replacing the
 * file meanwhile changes nothing that runs. A caller that knows the pinned
 * hash (cf_loader_get_expect) has a different build refused before it is
 * mapped, so none of its code (ELF constructors included) runs here.
 * Modules stay loaded, cached by name, until the loader is freed: plugin
 * states and the descriptor's strings live inside them.
 */
#include <config.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#ifdef HAVE_DLFCN_H
#include <dlfcn.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
/* Larger shared objects are refused rather than read into memory. */
#define MODULE_MAX ((size_t)256 << 20)

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

/* The same module reached by another path (a .la and its .so, a symlink,
 * a hard link, a copy): the same name and the same bytes, whatever the path
 * spelling. Looked up before mapping, so it is mapped once per loader. */
static entry *find_by_content(const cf_loader *l, const char *name, const char *sha256)
{
    for (size_t i = 0; i < l->nmods; i++)
        if (strcmp(l->mods[i]->m.name, name) == 0 && strcmp(l->mods[i]->m.sha256, sha256) == 0)
            return l->mods[i];
    return NULL;
}

/* An object the dynamic linker had mapped already (it matches by file name
 * and inode): never expected for a fresh private copy. */
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
 * shared object that was read (reported), sha256 the hash of the bytes
 * mapped. */
static int remember(cf_loader *l, lt_dlhandle h, const cf_plugin *desc,
                    const char *name, const char *so, const char *sha256,
                    bool searched, const cf_module **out, cf_error *err)
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
    memcpy(e->m.sha256, sha256, sizeof e->m.sha256);
    if (!e->m.name || !e->m.path || append(l, e) != 0) {
        module_free(e);
        return fail(err, CF_ENOMEM, "out of memory loading plugin \"%s\"", name);
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

/* ---- reading, hashing and mapping one shared object ------------------------ */

/* The shared object file names: a .la's target, or file itself. New. */
static int resolve_so(const char *file, char **so, cf_error *err)
{
    bool named;

    *so = NULL;
    if (!ends_with(file, ".la")) {
        *so = strdup(file);
        return *so ? 0 : fail(err, CF_ENOMEM, "out of memory opening %s", file);
    }
    errno = 0;
    *so = la_target(file, &named);
    if (*so)
        return 0;
    if (errno == ENOMEM)
        return fail(err, CF_ENOMEM, "out of memory opening %s", file);
    return fail(err, CF_EMISSING, "%s: not a loadable module: %s", file,
                named ? "the shared object it names is missing"
                      : "not a libtool library file (it names no shared object)");
}

/* Read all of fd into a new buffer (at most MODULE_MAX bytes). */
static int read_all(int fd, size_t hint, unsigned char **out, size_t *len)
{
    size_t cap = hint + 1, n = 0;
    unsigned char *buf = malloc(cap);

    *out = NULL;
    *len = 0;
    if (!buf)
        return ENOMEM;
    for (;;) {
        if (n == cap) {
            unsigned char *grown = cap > MODULE_MAX ? NULL : realloc(buf, 2 * cap);
            if (!grown) {
                free(buf);
                return cap > MODULE_MAX ? EFBIG : ENOMEM;
            }
            buf = grown;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            return e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > MODULE_MAX) {
        free(buf);
        return EFBIG;
    }
    *out = buf;
    *len = n;
    return 0;
}

/* The bytes of shared object so, read once through one descriptor (the real
 * file, no symlink in its last component at open time, a regular file). */
static int read_module(const char *so, const char *name, unsigned char **buf,
                       size_t *len, cf_error *err)
{
    struct stat st;
    char *real = realpath(so, NULL);
    int fd = real ? open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    int e = errno;

    free(real);
    if (fd < 0)
        return fail(err, e == ENOMEM ? CF_ENOMEM : CF_EMISSING,
                    "plugin \"%s\" (%s): cannot open it: %s", name, so, strerror(e));
    if (fstat(fd, &st) != 0) {
        e = errno;
        close(fd);
        return fail(err, CF_EMISSING, "plugin \"%s\" (%s): %s", name, so, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, CF_EMISSING, "plugin \"%s\" (%s): not a regular file", name, so);
    }
    e = (uint64_t)st.st_size > MODULE_MAX ? EFBIG : read_all(fd, (size_t)st.st_size, buf, len);
    close(fd);
    if (e)
        return fail(err, e == ENOMEM ? CF_ENOMEM : CF_EMISSING,
                    "plugin \"%s\" (%s): cannot read it to compute its SHA-256: %s",
                    name, so, strerror(e));
    return 0;
}

/* Replace every copy in why by so: dlerror() names the file it opened. */
static void rename_in(char *why, size_t size, const char *copy, const char *so)
{
    char out[512], *hit;
    const char *p = why;
    size_t used = 0, lc = strlen(copy);

    out[0] = '\0';
    while ((hit = strstr(p, copy)) != NULL && used < sizeof out) {
        int n = snprintf(out + used, sizeof out - used, "%.*s%s", (int)(hit - p), p, so);
        used += n > 0 ? (size_t)n : 0;
        p = hit + lc;
    }
    if (used < sizeof out)
        snprintf(out + used, sizeof out - used, "%s", p);
    snprintf(why, size, "%s", out);
}

/* Why libltdl could not open the copy, naming so instead (see diagnose). */
static void diagnose_copy(const char *copy, const char *so, char *why, size_t size)
{
    diagnose(copy, why, size);
    rename_in(why, size, copy, so);
}

/*
 * Write the len bytes of buf to a private copy named <name>.so (libltdl
 * derives the symbol prefix from the file name) in a new 0700 directory
 * under $TMPDIR (or /tmp), open that with libltdl, and remove copy and
 * directory whatever happened. *h is the handle, or NULL with err set.
 */
static int map_copy_in(cf_loader *l, const char *tmp, const unsigned char *buf, size_t len,
                       const char *name, const char *so, lt_dlhandle *h, cf_error *err)
{
    char *dir, *leaf, *copy = NULL;
    int fd = -1, rc = 0;

    *h = NULL;
    dir = join(tmp, "/", "caseflow-plugin-XXXXXX");
    leaf = join(name, "", ".so");
    if (!dir || !leaf) {
        free(dir);
        free(leaf);
        return fail(err, CF_ENOMEM, "out of memory loading plugin \"%s\"", name);
    }
    if (!mkdtemp(dir)) {
        rc = fail(err, CF_EIO, "plugin \"%s\": cannot create a private directory in %s: %s",
                  name, tmp, strerror(errno));
        free(dir);
        free(leaf);
        return rc;
    }
    copy = join(dir, "/", leaf);
    if (!copy)
        rc = fail(err, CF_ENOMEM, "out of memory loading plugin \"%s\"", name);
    else if ((fd = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
        rc = fail(err, CF_EIO, "plugin \"%s\": cannot write its private copy %s: %s", name,
                  copy, strerror(errno));
    for (size_t done = 0; !rc && done < len;) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = fail(err, CF_EIO, "plugin \"%s\": cannot write its private copy %s: %s",
                      name, copy, w < 0 ? strerror(errno) : "short write");
        else
            done += (size_t)w;
    }
    if (fd >= 0 && close(fd) != 0 && !rc)
        rc = fail(err, CF_EIO, "plugin \"%s\": cannot write its private copy %s: %s", name,
                  copy, strerror(errno));
    if (!rc) {
        *h = lt_dlopenadvise(copy, l->advise);
        if (!*h) {
            char why[256];
            diagnose_copy(copy, so, why, sizeof why);
            rc = fail(err, CF_EMISSING, "%s: not a loadable module: %s", so, why);
        }
    }
    if (copy)
        unlink(copy);
    rmdir(dir);
    free(copy);
    free(dir);
    free(leaf);
    return rc;
}

/* The copy goes under $TMPDIR when it is set; otherwise into /dev/shm when
 * there is one (memory: a copy costs a few microseconds there, where /tmp
 * on a disk file system costs about 2 ms a plugin), falling back to /tmp
 * when /dev/shm cannot be written or is mounted noexec. */
static int map_copy(cf_loader *l, const unsigned char *buf, size_t len, const char *name,
                    const char *so, lt_dlhandle *h, cf_error *err)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp && *tmp)
        return map_copy_in(l, tmp, buf, len, name, so, h, err);
    if (access("/dev/shm", W_OK | X_OK) == 0) {
        cf_error ignored;
        if (map_copy_in(l, "/dev/shm", buf, len, name, so, h, &ignored) == 0)
            return 0;
    }
    return map_copy_in(l, "/tmp", buf, len, name, so, h, err);
}

/* The version a refused build declares, read without loading it. */
static void found_version(const unsigned char *buf, size_t len, const char *name,
                          char *out, size_t size)
{
    char sym[NAME_MAX_LEN + 32];

    snprintf(sym, sizeof sym, "%s_LTX_caseflow_plugin", name);
    if ((cf_elf_symbol_string(buf, len, sym, offsetof(cf_plugin, version), out, size) ||
         cf_elf_symbol_string(buf, len, "caseflow_plugin", offsetof(cf_plugin, version), out,
                              size)) &&
        *out && valid_text(out))
        return;
    snprintf(out, size, "(unknown)");
}

/*
 * Load module name from file (a .la or .so that exists): read and hash its
 * shared object once, refuse it unhashed-for (expect set and differing,
 * found filled) before mapping, reuse a module with the same name and
 * bytes, else map a private copy of exactly those bytes, find and check its
 * descriptor, and cache it.
 */
static int load(cf_loader *l, const char *file, const char *name, bool searched,
                const char *expect, cf_loader_found *found, const cf_module **out,
                cf_error *err)
{
    lt_dlhandle h;
    const cf_plugin *desc;
    unsigned char *buf = NULL;
    size_t len = 0;
    char *so, sha[65];
    entry *known;
    int rc;

    if ((rc = resolve_so(file, &so, err)) != 0)
        return rc;
    if ((rc = read_module(so, name, &buf, &len, err)) != 0) {
        free(so);
        return rc;
    }
    cf_sha256_hex(buf, len, sha);
    if (expect && strcmp(sha, expect) != 0) {
        found->refused = true;
        memcpy(found->sha256, sha, sizeof found->sha256);
        snprintf(found->path, sizeof found->path, "%s", so);
        found_version(buf, len, name, found->version, sizeof found->version);
        rc = fail(err, CF_EMISSING, "plugin \"%s\" (%s) is not the expected build: sha256 "
                  "%s, expected %s; it was not loaded", name, so, sha, expect);
        free(buf);
        free(so);
        return rc;
    }
    known = find_by_content(l, name, sha);
    if (known) {
        free(buf);
        free(so);
        known->searched = known->searched || searched;
        *out = &known->m;
        return 0;
    }
    rc = map_copy(l, buf, len, name, so, &h, err);
    free(buf);
    if (rc != 0) {
        free(so);
        return rc;
    }
    desc = lt_dlsym(h, "caseflow_plugin");
    if (!desc)
        rc = fail(err, CF_EMISSING, "%s: not a caseflow plugin: it exports no "
                  "%s_LTX_caseflow_plugin descriptor", so, name);
    else if ((rc = check_desc(desc, name, so, err)) == 0 && find_by_desc(l, desc))
        rc = fail(err, CF_EINTERNAL, "plugin \"%s\" (%s): the dynamic linker returned "
                  "a module already loaded instead of the file read", name, so);
    if (rc != 0) {
        lt_dlclose(h);
        free(so);
        return rc;
    }
    rc = remember(l, h, desc, name, so, sha, searched, out, err);
    free(so);
    return rc;
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
    return cf_loader_get_expect(l, name, NULL, out, NULL, err);
}

int cf_loader_get_expect(cf_loader *l, const char *name, const char *expect_sha256,
                         const cf_module **out, cf_loader_found *found, cf_error *err)
{
    entry *e;
    char where[256];

    if (out)
        *out = NULL;
    if (found)
        memset(found, 0, sizeof *found);
    if (!l || !out || (expect_sha256 && !found))
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
        int there = find_in_dir(l->dirs[i], name, &base, &file);
        if (there < 0)
            return fail(err, CF_ENOMEM, "out of memory looking for \"%s\"", name);
        if (there) {
            int rc = load(l, file, name, true, expect_sha256, found, out, err);
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
    char *name, *shown;
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
    name = name_of(shown);
    if (!name)
        rc = fail(err, CF_ENOMEM, "out of memory opening %s", file);
    else if (!valid_name(name))
        rc = fail(err, CF_EMISSING, "%s: not a caseflow plugin: module name "
                  "\"%.64s\" is not [a-z0-9_]+", shown, name);
    else
        rc = load(l, shown, name, false, NULL, NULL, out, err);
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
