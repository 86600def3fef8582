/* Unit tests for util.c and error.c: JSON paths, canonical text, hashing,
 * file reads, and the error-code table. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <cmocka.h>

#include "hash.h"
#include "internal.h"
#include "store.h"

static void path_get_and_set(void **state)
{
    (void)state;
    json_t *d = json_loads("{\"a\":{\"b\":[1,{\"c\":\"x\"}]}}", 0, NULL);
    assert_non_null(d);
    assert_string_equal(json_string_value(cf_json_path_get(d, "a.b.1.c")), "x");
    assert_ptr_equal(cf_json_path_get(d, ""), d);
    assert_null(cf_json_path_get(d, "a.b.7"));
    assert_null(cf_json_path_get(d, "a.x.y"));
    assert_int_equal(cf_json_path_set(d, "risk.grade", json_string("low")), 0);
    assert_string_equal(json_string_value(cf_json_path_get(d, "risk.grade")), "low");
    assert_int_equal(cf_json_path_set(d, "a.b.2", json_integer(3)), 0); /* append */
    assert_int_equal(json_array_size(cf_json_path_get(d, "a.b")), 3);
    assert_int_equal(cf_json_path_set(d, "a.b.9", json_integer(3)), -1);
    assert_int_equal(cf_json_path_set(d, "risk.grade.x", json_true()), -1);
    assert_int_equal(cf_json_path_set(d, "risk.grade", NULL), 0); /* delete */
    assert_null(cf_json_path_get(d, "risk.grade"));
    assert_int_equal(cf_json_path_set(d, "", json_true()), -1);
    json_decref(d);
}

static void canonical_and_sha(void **state)
{
    (void)state;
    json_t *a = json_loads("{\"b\":1,\"a\":[true,null]}", 0, NULL);
    char *t = cf_json_canonical(a);
    assert_string_equal(t, "{\"a\":[true,null],\"b\":1}");
    free(t);
    json_decref(a);
    char h[65];
    cf_sha256_hex("abc", 3, h);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char path[] = "/tmp/cf-util-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("abc", f);
    fclose(f);
    assert_int_equal(cf_sha256_file(path, h), 0);
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char *buf;
    size_t len;
    assert_int_equal(cf_read_file(path, &buf, &len, NULL), 0);
    assert_int_equal(len, 3);
    assert_string_equal(buf, "abc");
    free(buf);
    unlink(path);
    cf_error err;
    assert_int_equal(cf_read_file(path, &buf, &len, &err), CF_ENOTFOUND);
    assert_null(buf);
    assert_int_equal(cf_sha256_file(path, h), -1);
}

static void error_table(void **state)
{
    (void)state;
    assert_int_equal(cf_exit_code(0), 0);
    assert_int_equal(cf_exit_code(CF_EUSAGE), 64);
    assert_int_equal(cf_exit_code(CF_EINVALID), 65);
    assert_int_equal(cf_exit_code(CF_ENOTFOUND), 66);
    assert_int_equal(cf_exit_code(CF_EMISSING), 69);
    assert_int_equal(cf_exit_code(CF_EINTERNAL), 70);
    assert_int_equal(cf_exit_code(CF_EIO), 74);
    assert_int_equal(cf_exit_code(CF_ECONFLICT), 75);
    assert_int_equal(cf_exit_code(CF_EDENIED), 77);
    assert_int_equal(cf_exit_code(-999), 70);
    assert_string_equal(cf_err_name(CF_EINVALID), "CF_EINVALID");
    assert_string_equal(cf_strerror(CF_ECONFLICT), "conflict with a concurrent change; retry");
    assert_string_equal(cf_strerror(-999), "unknown error");
    cf_error err;
    assert_int_equal(cf_err_set(&err, CF_EINVALID, "ip_events[0].at", "a\nb %d", 7),
                     CF_EINVALID);
    assert_string_equal(err.message, "a b 7");
    assert_string_equal(err.field, "ip_events[0].at");
    assert_int_equal(cf_err_set(NULL, CF_EIO, NULL, "x"), CF_EIO);
    cf_err_clear(&err);
    assert_int_equal(err.code, 0);
    assert_non_null(cf_version());
}

/* The engine's SHA-256 (the processor's SHA extensions where it has them)
 * against libsodium's, on every length to 1100 bytes, every split of a
 * buffer across updates, byte-at-a-time updates and a large buffer, and
 * against the standard's own examples. */
static void sha256_matches_libsodium(void **state)
{
    (void)state;
    enum { N = 1100 };
    static unsigned char data[1 << 20];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof data; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    unsigned char a[32], b[32];
    print_message("# SHA extensions in use: %s\n", cf_sha256_accelerated() ? "yes" : "no");
    for (int pass = 0; pass < 2; pass++) {
        cf_sha256_force_portable(pass == 1);
        for (size_t len = 0; len <= N; len++) {
            cf_sha256_bytes(data + len % 7, len, a);
            crypto_hash_sha256(b, data + len % 7, len);
            assert_memory_equal(a, b, 32);
        }
        crypto_hash_sha256(b, data, 300);
        for (size_t cut = 0; cut <= 300; cut++) {
            cf_sha256 h;
            cf_sha256_init(&h);
            cf_sha256_update(&h, data, cut);
            cf_sha256_update(&h, data + cut, 300 - cut);
            cf_sha256_final(&h, a);
            assert_memory_equal(a, b, 32);
        }
        cf_sha256 h;
        cf_sha256_init(&h);
        for (size_t i = 0; i < 300; i++)
            cf_sha256_update(&h, data + i, 1);
        cf_sha256_final(&h, a);
        assert_memory_equal(a, b, 32);
        cf_sha256_bytes(data, sizeof data, a);
        crypto_hash_sha256(b, data, sizeof data);
        assert_memory_equal(a, b, 32);
        char hex[65];
        cf_sha256_hex("abc", 3, hex);
        assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        cf_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, hex);
        assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
        cf_sha256_hex("", 0, hex);
        assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
    cf_sha256_force_portable(false);
}

/* Apply a unified diff of cf_line_diff to a (lines ending in '\n'): the
 * text it should give, new malloc'd, or NULL when a context or removed line
 * does not match a. */
static char *apply_diff(const char *a, const char *diff)
{
    size_t alen = strlen(a), out_cap = alen + strlen(diff) + 1, o = 0;
    char *out = malloc(out_cap);
    const char *ap = a, *d = diff;
    size_t aline = 1;
    /* skip the two header lines */
    for (int i = 0; i < 2 && *d; i++)
        d = strchr(d, '\n') + 1;
    while (*d) {
        unsigned long as, al, bs, bl;
        if (sscanf(d, "@@ -%lu,%lu +%lu,%lu @@", &as, &al, &bs, &bl) != 4)
            goto bad;
        d = strchr(d, '\n') + 1;
        unsigned long first = al ? as : as + 1; /* an insertion comes after line as */
        while (aline < first) {
            const char *nl = strchr(ap, '\n');
            memcpy(out + o, ap, (size_t)(nl - ap) + 1);
            o += (size_t)(nl - ap) + 1;
            ap = nl + 1;
            aline++;
        }
        while (*d && *d != '@') {
            const char *nl = strchr(d, '\n');
            size_t len = (size_t)(nl - d); /* with the mark */
            if (*d == ' ' || *d == '-') {
                const char *anl = strchr(ap, '\n');
                if (!anl || (size_t)(anl - ap) != len - 1 || memcmp(ap, d + 1, len - 1) != 0)
                    goto bad;
                if (*d == ' ') {
                    memcpy(out + o, ap, len);
                    o += len;
                }
                ap = anl + 1;
                aline++;
            } else {
                memcpy(out + o, d + 1, len);
                o += len;
            }
            d = nl + 1;
        }
    }
    memcpy(out + o, ap, strlen(ap) + 1);
    return out;
bad:
    free(out);
    return NULL;
}

static void line_diff(void **state)
{
    (void)state;
    char *d = cf_line_diff("a\nb\nc\n", "a\nb\nc\n", "x", "y");
    assert_string_equal(d, "");
    free(d);
    d = cf_line_diff("a\nb\nc\n", "a\nB\nc\n", "x", "y");
    assert_string_equal(d, "--- x\n+++ y\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
    free(d);
    d = cf_line_diff(NULL, "new\n", "/dev/null", "b/f");
    assert_string_equal(d, "--- /dev/null\n+++ b/f\n@@ -0,0 +1,1 @@\n+new\n");
    free(d);
    /* far apart changes make two hunks with three lines of context */
    d = cf_line_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n",
                     "x", "y");
    assert_string_equal(d, "--- x\n+++ y\n@@ -1,3 +1,4 @@\n+0\n 1\n 2\n 3\n"
                           "@@ -9,4 +10,3 @@\n 9\n 10\n 11\n-12\n");
    free(d);
    /* a rewrite past the edit limit: removed whole, added whole, still right */
    char *big_a = malloc(6001), *big_b = malloc(6001);
    for (int i = 0; i < 3000; i++) {
        memcpy(big_a + 2 * i, i % 2 ? "x\n" : "y\n", 2);
        memcpy(big_b + 2 * i, i % 3 ? "z\n" : "y\n", 2);
    }
    big_a[6000] = big_b[6000] = '\0';
    d = cf_line_diff(big_a, big_b, "a", "b");
    assert_non_null(d);
    char *big = apply_diff(big_a, d);
    assert_non_null(big);
    assert_string_equal(big, big_b);
    free(big);
    free(d);
    free(big_a);
    free(big_b);
    /* random texts: the diff applied to a gives b */
    srand(9);
    for (int round = 0; round < 2000; round++) {
        char a[200], b[200];
        size_t na = (size_t)(rand() % 25), nb = (size_t)(rand() % 25), k = 0;
        for (size_t i = 0; i < na; i++, k += 2)
            a[k] = (char)('a' + rand() % 3), a[k + 1] = '\n';
        a[k] = '\0';
        k = 0;
        for (size_t i = 0; i < nb; i++, k += 2)
            b[k] = (char)('a' + rand() % 3), b[k + 1] = '\n';
        b[k] = '\0';
        d = cf_line_diff(a, b, "a", "b");
        assert_non_null(d);
        char *got = d[0] ? apply_diff(a, d) : strdup(a);
        assert_non_null(got);
        assert_string_equal(got, b);
        free(got);
        free(d);
    }
}

/* ---- canonical text: byte for byte jansson's ---------------------------------- */

static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;
static unsigned rnd(unsigned n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (unsigned)(rnd_state % n);
}

/* A random string: ASCII, controls, quotes, backslashes, NUL, multi-byte
 * UTF-8 and (when bad) bytes that are not UTF-8. */
static json_t *rnd_string(bool bad)
{
    static const char *const pieces[] = {"a", "Z", "0", " ", "\"", "\\", "/", "\x01", "\x1f",
                                         "\x7f", "\n", "\t", "\b", "\f", "\r", "\xc3\xa9",
                                         "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xef\xbf\xbf"};
    static const char *const broken[] = {"\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff",
                                         "\xc3", "\x80", "\xe2\x82"};
    char buf[256];
    size_t n = 0, parts = rnd(8);
    for (size_t i = 0; i < parts; i++) {
        const char *p = pieces[rnd(sizeof pieces / sizeof *pieces)];
        size_t k = strlen(p);
        if (rnd(20) == 0) { /* an embedded NUL */
            buf[n++] = '\0';
            continue;
        }
        memcpy(buf + n, p, k);
        n += k;
    }
    if (bad) {
        const char *p = broken[rnd(sizeof broken / sizeof *broken)];
        memcpy(buf + n, p, strlen(p));
        n += strlen(p);
    }
    return json_stringn_nocheck(buf, n);
}

static json_t *rnd_value(int depth, bool bad)
{
    unsigned t = rnd(depth > 4 ? 6 : 9);
    switch (t) {
    case 0: return json_null();
    case 1: return json_true();
    case 2: return json_false();
    case 3: {
        static const json_int_t ints[] = {0, 1, -1, 9, 10, 42, -1000, INT64_MAX, INT64_MIN,
                                          1234567890123LL};
        return json_integer(rnd(3) ? ints[rnd(10)] : (json_int_t)rnd(1000000) - 500000);
    }
    case 4: {
        static const double reals[] = {0.0, -0.0, 1.5, 1e300, 1e-300, 3.0, 0.1, -2.5e-7,
                                       123456789.125, 1e21};
        return json_real(reals[rnd(10)]);
    }
    case 5: return rnd_string(bad && rnd(3) == 0);
    case 6:
    case 7: {
        json_t *o = json_object();
        unsigned n = rnd(t == 6 ? 5 : 40);
        for (unsigned i = 0; i < n; i++) {
            json_t *k = rnd_string(false);
            json_object_setn_new_nocheck(o, json_string_value(k), json_string_length(k),
                                         rnd_value(depth + 1, bad));
            json_decref(k);
        }
        return o;
    }
    default: {
        json_t *a = json_array();
        unsigned n = rnd(6);
        for (unsigned i = 0; i < n; i++)
            json_array_append_new(a, rnd_value(depth + 1, bad));
        return a;
    }
    }
}

static void expect_as_jansson(const json_t *v)
{
    char *want = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char *got = cf_json_canonical(v);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(want);
    free(got);
}

static void canonical_is_jansson_text(void **state)
{
    (void)state;
    for (int i = 0; i < 20000; i++) {
        json_t *v = rnd_value(0, i % 4 == 3);
        expect_as_jansson(v);
        json_decref(v);
    }
    /* objects past the small-object array, nesting past the depth limit */
    json_t *big = json_object();
    for (int i = 0; i < 300; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", (i * 7919) % 300);
        json_object_set_new(big, k, json_integer(i));
    }
    expect_as_jansson(big);
    json_t *deep = json_array(), *cur = deep;
    for (int i = 0; i < 2000; i++) {
        json_t *n = json_object();
        json_array_append_new(cur, n);
        cur = json_array();
        json_object_set_new(n, "x", cur);
    }
    expect_as_jansson(deep);
    json_decref(big);
    json_decref(deep);
    /* keys that are prefixes of one another; a key with a NUL */
    json_t *o = json_pack("{s:i, s:i, s:i, s:i}", "ab", 1, "a", 2, "abc", 3, "b", 4);
    json_object_setn_new_nocheck(o, "a\0z", 3, json_true());
    expect_as_jansson(o);
    json_decref(o);
    assert_null(cf_json_canonical(NULL));
}

/* ---- the parsed-data cache: what it hands out is json_loadb of its bytes --------- */

/* v's text in its own key order (not sorted): equal texts, equal order. */
static char *in_order(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

static void data_cache_gives_a_fresh_parse(void **state)
{
    (void)state;
    cf_data_cache *c = cf_data_cache_new();
    assert_non_null(c);
    int kept = 0;
    for (int i = 0; i < 20000; i++) {
        json_t *v = json_object(), *inner = rnd_value(0, i % 8 == 7);
        json_object_set_new(v, i % 2 ? "zz" : "a", inner);
        json_object_set_new(v, "m", rnd_value(1, false));
        char *text = cf_json_canonical(v);
        if (!text) {
            json_decref(v);
            continue;
        }
        json_t *parsed = json_loads(text, 0, NULL);
        size_t len = strlen(text);
        char *copy = strdup(text);
        cf_data_cache_put(c, text, v); /* both taken */
        json_t *got = cf_data_cache_take(c, copy, len);
        if (got) {
            kept++;
            assert_non_null(parsed); /* never kept where the parser refuses */
            assert_true(json_equal(got, parsed));
            char *a = in_order(got), *b = in_order(parsed);
            assert_string_equal(a, b);
            free(a);
            free(b);
            /* taken, not copied: a second read parses */
            assert_null(cf_data_cache_take(c, copy, len));
            json_decref(got);
        }
        free(copy);
        json_decref(parsed);
    }
    assert_true(kept > 5000);
    /* another byte, another length: not served */
    json_t *v = json_pack("{s:i, s:s}", "b", 1, "a", "x");
    char *text = cf_json_canonical(v);
    char *other = strdup(text);
    other[strlen(other) - 3] = 'y';
    cf_data_cache_put(c, text, v);
    assert_null(cf_data_cache_take(c, other, strlen(other)));
    assert_null(cf_data_cache_take(c, other, strlen(other) - 1));
    free(other);
    /* a value someone else still holds is not kept: they could change it */
    json_t *shared = json_string("s");
    v = json_pack("{s:O}", "k", shared);
    text = cf_json_canonical(v);
    other = strdup(text);
    cf_data_cache_put(c, text, v);
    assert_null(cf_data_cache_take(c, other, strlen(other)));
    json_string_set(shared, "changed");
    json_decref(shared);
    free(other);
    cf_data_cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(path_get_and_set),
        cmocka_unit_test(canonical_and_sha),
        cmocka_unit_test(canonical_is_jansson_text),
        cmocka_unit_test(data_cache_gives_a_fresh_parse),
        cmocka_unit_test(sha256_matches_libsodium),
        cmocka_unit_test(error_table),
        cmocka_unit_test(line_diff),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
