/*
 * Step plugins, without needing a store: the plugins found on the search
 * path (--plugins, else CASEFLOW_PLUGIN_PATH, else the store policy
 * plugin_path when there is a store to read it from; then the installed
 * directory), the descriptor of one plugin module, and `plugin new`, which
 * writes the skeleton of a new plugin (skeleton/, skeleton.h) into a
 * directory.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cli/skeleton/skeleton.h"

static void print_plugins(const json_t *list)
{
    const json_t *p;
    size_t i;
    struct table t;
    table_init(&t, 5);
    table_add(&t, (const char *[]){"NAME", "VERSION", "ABI", "PATH", "SUMMARY"});
    json_array_foreach(list, i, p) {
        char b1[64], b2[32], b3[32], b4[512], b5[512];
        const char *summary = json_object_get(p, "error")
                                  ? jtext(p, "error", b5, sizeof b5)
                                  : jtext(p, "summary", b5, sizeof b5);
        table_add(&t, (const char *[]){jtext(p, "name", b1, sizeof b1),
                                       jtext(p, "version", b2, sizeof b2),
                                       jtext(p, "abi", b3, sizeof b3),
                                       jtext(p, "path", b4, sizeof b4), summary});
    }
    table_print_free(&t);
}

/* Neither --plugins nor CASEFLOW_PLUGIN_PATH: the store (opened read-only)
 * whose plugin_path policy the engine searches, as every command does; NULL
 * when there is none to open (then the installed directory only). */
static cf_engine *policy_engine(const struct cli *c)
{
    if (c->plugins || getenv("CASEFLOW_PLUGIN_PATH"))
        return NULL;
    cf_open_options o;
    memset(&o, 0, sizeof o);
    o.readonly = 1;
    o.key_path = c->signing_key;
    cf_engine *e = NULL;
    cf_error err;
    return cf_engine_open(c->store, &o, &e, &err) == 0 ? e : NULL;
}

int cmd_plugin_list(struct cli *c)
{
    cf_error err;
    json_t *list = NULL;
    if (c->plugins && setenv("CASEFLOW_PLUGIN_PATH", c->plugins, 1) != 0)
        return fail(CF_ENOMEM, NULL);
    cf_engine *e = policy_engine(c);
    int rc = cf_plugin_list(e, &list, &err);
    cf_engine_close(e);
    if (rc < 0)
        return fail(rc, &err);
    return print_result(c, list, false, print_plugins);
}

static void print_descriptor(const json_t *d)
{
    char b[1024];
    outf("name      %s\n", jtext(d, "name", b, sizeof b));
    outf("version   %s\n", jtext(d, "version", b, sizeof b));
    outf("summary   %s\n", jtext(d, "summary", b, sizeof b));
    outf("abi       %s\n", jtext(d, "abi", b, sizeof b));
    outf("accepts   %s\n", join_strings(d, "accepts", b, sizeof b));
    outf("emits     %s\n", join_strings(d, "emits", b, sizeof b));
    outf("path      %s\n", jtext(d, "path", b, sizeof b));
    outf("sha256    %s\n", jtext(d, "sha256", b, sizeof b));
}

int cmd_plugin_info(struct cli *c)
{
    cf_error err;
    json_t *d = NULL;
    if (c->plugins && setenv("CASEFLOW_PLUGIN_PATH", c->plugins, 1) != 0)
        return fail(CF_ENOMEM, NULL);
    cf_engine *e = policy_engine(c);
    int rc = cf_plugin_info(e, c->args[0], &d, &err);
    cf_engine_close(e);
    if (rc < 0)
        return fail(rc, &err);
    return print_result(c, d, false, print_descriptor);
}

/* ---- plugin new ------------------------------------------------------------ */

/* The longest NAME: the loader takes 64 characters, and "NAME.done" must be
 * an event `caseflow act` can send (at most 64 characters). */
#define SKELETON_NAME_MAX 59

/* A module name the skeleton can use: the loader's rule (a-z, 0-9, _),
 * starting with a letter so that NAME_init is a C identifier, and short
 * enough for NAME.done. */
static bool skeleton_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > SKELETON_NAME_MAX || name[0] < 'a' || name[0] > 'z')
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* The skeleton's files with @NAME@ replaced: a name and a text each. */
struct rendered {
    char *name, *text;
    size_t len;
};

/* text with every @NAME@ replaced by name, appended to *buf (of *len bytes,
 * kept NUL-terminated). false when out of memory (*buf is freed). */
static bool append_expanded(char **buf, size_t *len, const char *text, const char *name)
{
    static const char mark[] = "@NAME@";
    size_t nlen = strlen(name), need = *len + 1;
    for (const char *p = text; (p = strstr(p, mark)) != NULL; p += sizeof mark - 1)
        need += nlen;
    need += strlen(text);
    char *b = realloc(*buf, need);
    if (!b) {
        free(*buf);
        *buf = NULL;
        return false;
    }
    for (const char *p = text, *m; *p; p = m + sizeof mark - 1) {
        m = strstr(p, mark);
        size_t k = m ? (size_t)(m - p) : strlen(p);
        memcpy(b + *len, p, k);
        *len += k;
        if (!m)
            break;
        memcpy(b + *len, name, nlen);
        *len += nlen;
    }
    b[*len] = '\0';
    *buf = b;
    return true;
}

static void free_rendered(struct rendered *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(files[i].name);
        free(files[i].text);
    }
    free(files);
}

/* Every skeleton file for name, in memory. NULL when out of memory. */
static struct rendered *render(const char *name, size_t *count)
{
    size_t n = 0;
    while (skeleton_files[n].name)
        n++;
    struct rendered *files = calloc(n, sizeof *files);
    if (!files)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t nl = 0;
        if (!append_expanded(&files[i].name, &nl, skeleton_files[i].name, name)) {
            free_rendered(files, n);
            return NULL;
        }
        for (const char *const *l = skeleton_files[i].lines; *l; l++)
            if (!append_expanded(&files[i].text, &files[i].len, *l, name)) {
                free_rendered(files, n);
                return NULL;
            }
    }
    *count = n;
    return files;
}

/* Is the directory dir empty? 1 yes, 0 no, -1 with errno. */
static int dir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int empty = 1;
    const struct dirent *e;
    errno = 0;
    while (empty && (e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = 0;
    int saved = errno;
    closedir(d);
    errno = saved;
    return empty == 1 && saved ? -1 : empty;
}

/* dir/name (no second slash when dir ends with one); NULL when out of memory. */
static char *join_path(const char *dir, const char *name)
{
    size_t len = strlen(dir), n = len + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", dir, len && dir[len - 1] == '/' ? "" : "/", name);
    return p;
}

/* Write a new file (never an existing one) with text. 0, or -1 with errno
 * (the file removed again). */
static int write_new(const char *path, const char *text, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
    if (fd < 0)
        return -1;
    for (size_t done = 0; done < len;) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int saved = w < 0 ? errno : EIO;
            close(fd);
            unlink(path);
            errno = saved;
            return -1;
        }
        done += (size_t)w;
    }
    if (close(fd) != 0) {
        int saved = errno;
        unlink(path);
        errno = saved;
        return -1;
    }
    return 0;
}

/* Write the files into dir (created when created is true): all of them, or
 * none (what was written is removed again, and dir when it was made here).
 * 0, or an exit status after a message. */
static int write_skeleton(const char *dir, bool created, const struct rendered *files,
                          size_t n)
{
    size_t written = 0;
    int st = 0;
    for (; written < n; written++) {
        char *path = join_path(dir, files[written].name);
        if (!path) {
            say("out of memory");
            st = 70;
            break;
        }
        if (write_new(path, files[written].text, files[written].len) != 0) {
            say("cannot write %s: %s", path, strerror(errno));
            st = EXIT_IOERR;
        }
        free(path);
        if (st)
            break;
    }
    if (!st)
        return 0;
    for (size_t i = 0; i < written; i++) {
        char *path = join_path(dir, files[i].name);
        if (path)
            unlink(path);
        free(path);
    }
    if (created)
        rmdir(dir);
    return st;
}

/* Make sure dir can take the skeleton: absent (then made: *created) or an
 * empty directory. 0, or an exit status after a message. */
static int prepare_dir(const char *dir, bool *created)
{
    struct stat st;
    *created = false;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT) {
            say("cannot use %s: %s", dir, strerror(errno));
            return EXIT_IOERR;
        }
        if (mkdir(dir, 0777) != 0) {
            say("cannot create directory %s: %s", dir, strerror(errno));
            return EXIT_IOERR;
        }
        *created = true;
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        say("%s exists and is not a directory (plugin new writes into a new or empty "
            "directory; choose another with --dir)", dir);
        return EXIT_DATAERR;
    }
    /* Another user's directory, or one others may write into: they could
     * swap the Makefile between now and a `make install` run as root. */
    if (st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
        say("%s is %s (plugin new writes into a new directory, or an empty one only "
            "you may write into; choose another with --dir)", dir,
            st.st_uid != geteuid() ? "another user's directory" : "writable by others");
        return EXIT_DATAERR;
    }
    int empty = dir_empty(dir);
    if (empty < 0) {
        say("cannot read directory %s: %s", dir, strerror(errno));
        return EXIT_IOERR;
    }
    if (!empty) {
        say("%s exists and is not empty (plugin new writes into a new or empty "
            "directory; choose another with --dir)", dir);
        return EXIT_DATAERR;
    }
    return 0;
}

static void print_skeleton(const json_t *o)
{
    char b[512];
    const char *dir = jtext(o, "dir", b, sizeof b);
    const json_t *f;
    size_t i;
    size_t len = strlen(dir);
    const char *slash = len && dir[len - 1] == '/' ? "" : "/";
    json_array_foreach(json_object_get(o, "files"), i, f)
        outf("wrote %s%s%s\n", dir, slash, json_string_value(f));
    outf("next: cd %s && make && make check; %s%sREADME.md says how to install and deploy\n",
         dir, dir, slash);
}

int cmd_plugin_new(struct cli *c)
{
    const char *name = c->args[0];
    if (!skeleton_name_ok(name)) {
        say("NAME '%s': a plugin name is 1 to %d characters of a-z, 0-9 and _, starting "
            "with a letter", name, SKELETON_NAME_MAX);
        return EXIT_USAGE;
    }
    const char *dir = c->dir ? c->dir : name;
    if (!dir[0])
        return usage_error("--dir: must name a directory");
    size_t n = 0;
    struct rendered *files = render(name, &n);
    json_t *names = json_array();
    if (!files || !names) {
        free_rendered(files, n);
        json_decref(names);
        say("out of memory");
        return 70;
    }
    for (size_t i = 0; i < n; i++)
        json_array_append_new(names, json_string(files[i].name));
    bool created;
    int st = prepare_dir(dir, &created);
    if (!st)
        st = write_skeleton(dir, created, files, n);
    free_rendered(files, n);
    if (st) {
        json_decref(names);
        return st;
    }
    json_t *out = json_pack("{s:s, s:s, s:o}", "name", name, "dir", dir, "files", names);
    if (!out) {
        say("out of memory");
        return 70;
    }
    return print_result(c, out, false, print_skeleton);
}
