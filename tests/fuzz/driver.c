/*
 * Regression driver for the fuzz targets in `make check`: a plain main()
 * (no libFuzzer) that initialises the target once and feeds it every file
 * of its seed corpus, tests/fuzz/corpus/<target>/ under CASEFLOW_SRCDIR, or
 * the files and directories given as arguments. Crashes libFuzzer found are
 * added to the corpus, so they stay fixed. Prints one TAP-like line per
 * file; exits 0 when every input ran (a crash or an abort ends the run).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_common.h"

#ifndef CF_FUZZ_TARGET
#error "CF_FUZZ_TARGET (referral, act, workflow or http) must be defined"
#endif

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_file(const char *path, unsigned *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("not ok - cannot open %s\n", path);
        return 1;
    }
    size_t cap = 1 << 16, len = 0, got;
    unsigned char *buf = malloc(cap);
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            unsigned char *more = realloc(buf, cap * 2);
            if (!more)
                break;
            buf = more;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        printf("not ok - out of memory reading %s\n", path);
        return 1;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    printf("ok %u - %s (%zu bytes)\n", ++*n, path, len);
    fflush(stdout);
    return 0;
}

static int run_path(const char *path, unsigned *n)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("not ok - no such file or directory: %s\n", path);
        return 1;
    }
    if (!S_ISDIR(st.st_mode))
        return run_file(path, n);
    DIR *d = opendir(path);
    if (!d) {
        printf("not ok - cannot read %s\n", path);
        return 1;
    }
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (count == cap) {
            cap = cap ? cap * 2 : 64;
            char **more = realloc(names, cap * sizeof *names);
            if (!more)
                abort();
            names = more;
        }
        names[count++] = strdup(e->d_name);
    }
    closedir(d);
    if (count)
        qsort(names, count, sizeof *names, cmp);
    int bad = 0;
    for (size_t i = 0; i < count; i++) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        bad |= run_file(full, n);
        free(names[i]);
    }
    free(names);
    return bad;
}

int main(int argc, char **argv)
{
    unsigned n = 0;
    int bad = 0;
    LLVMFuzzerInitialize(&argc, &argv);
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            bad |= run_path(argv[i], &n);
    } else {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/%s", fuzz_srcdir(),
                 CF_FUZZ_TARGET);
        bad |= run_path(dir, &n);
    }
    printf("1..%u\n", n);
    if (n == 0) {
        printf("not ok - an empty corpus\n");
        return 1;
    }
    return bad;
}
