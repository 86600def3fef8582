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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(path_get_and_set),
        cmocka_unit_test(canonical_and_sha),
        cmocka_unit_test(sha256_matches_libsodium),
        cmocka_unit_test(error_table),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
