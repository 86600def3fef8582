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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(path_get_and_set),
        cmocka_unit_test(canonical_and_sha),
        cmocka_unit_test(error_table),
    };
    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
