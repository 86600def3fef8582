/*
 * Tests of the warning step: a visit with a letter passes through letter
 * production (a transient state the case never rests in) to monitoring, and
 * the letter kept with the case is the shipped template with every
 * placeholder filled, with the SHA-256 of the text and of the template.
 */
#include "polit_fixture.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const WITH_LETTER =
    "{\"advice_given\": true, \"letter_issued\": true,"
    " \"security_advice\": true, \"signposted\": true}";

static void sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char d[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(d, data, len);
    sodium_bin2hex(out, 65, d, sizeof d);
}

static void file_sha256(const char *path, char out[65])
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    rewind(fp);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    sha256_hex(buf, (size_t)n, out);
    free(buf);
}

static void test_letter_produced(void **state)
{
    pf *f = *state;
    char id[64], digest[65], path[512];
    const char *srcdir = getenv("CASEFLOW_SRCDIR");
    json_t *c;
    const char *text;

    pf_new_visit_case(f, "WARN-1", id);
    pf_act_ok(f, id, PF_OFFICER, "visit.completed", WITH_LETTER);
    pf_assert_state(f, id, "monitoring");
    c = pf_case(f, id);
    text = json_string_value(pf_data(c, "letter.text"));
    assert_non_null(text);
    assert_null(strstr(text, "{{"));
    assert_non_null(strstr(text, "Our reference: "));
    assert_non_null(strstr(text, id));
    assert_non_null(strstr(text, "Alex Example"));
    assert_non_null(strstr(text, "Example Road, Exampletown, ZZ1 1AA"));
    assert_non_null(strstr(text, "Date: 3 November 2026"));
    assert_non_null(strstr(text, "Stop It Now"));
    assert_non_null(strstr(text, "Issued by: " PF_OFFICER));
    sha256_hex(text, strlen(text), digest);
    assert_string_equal(json_string_value(pf_data(c, "letter.sha256")), digest);
    snprintf(path, sizeof path, "%s/workflows/letters/warning.txt",
             srcdir != NULL ? srcdir : ".");
    file_sha256(path, digest);
    assert_string_equal(json_string_value(pf_data(c, "letter.template_sha256")),
                        digest);
    assert_string_equal(json_string_value(pf_data(c, "letter.template")),
                        "letters/warning.txt");
    assert_string_equal(json_string_value(pf_data(c, "letter.issued_at")),
                        "2026-11-03T09:00:00Z");
    assert_true(json_is_true(pf_data(c, "monitoring.letter")));
    json_decref(c);
}

static void test_missing_template_refuses(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;

    /* Templates are read when used: a state config naming one the bundle
     * lacks deploys, but refuses the visit rather than skip the letter. */
    assert_int_equal(pf_deploy_edited(f, "force = \"Example Constabulary\",",
                                      "force = \"Example Constabulary\","
                                      " template = \"letters/missing.txt\",",
                                      &err),
                     0);
    pf_new_visit_case(f, "WARN-2", id);
    pf_refused(pf_act(f, id, PF_OFFICER, "visit.completed", WITH_LETTER, &err),
               &err, CF_EINVALID, "letters/missing.txt", NULL);
    pf_assert_state(f, id, "visit");
}

static void test_unknown_placeholder_refuses(void **state)
{
    pf *f = *state;
    char id[64];
    cf_error err;

    assert_int_equal(pf_deploy_custom(f, NULL, NULL,
                                      "Dear {{name}}, {{shoe_size}}\n", &err),
                     0);
    pf_new_visit_case(f, "WARN-3", id);
    pf_refused(pf_act(f, id, PF_OFFICER, "visit.completed", WITH_LETTER, &err),
               &err, CF_EINVALID, "letters/warning.txt",
               "unknown placeholder {{shoe_size}}");
    pf_assert_state(f, id, "visit");
    assert_int_equal(pf_deploy_custom(f, NULL, NULL, "Dear {{name\n", &err), 0);
    pf_new_visit_case(f, "WARN-4", id);
    pf_refused(pf_act(f, id, PF_OFFICER, "visit.completed", WITH_LETTER, &err),
               &err, CF_EINVALID, "letters/warning.txt", "unterminated");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        PF_TEST(test_letter_produced),
        PF_TEST(test_missing_template_refuses),
        PF_TEST(test_unknown_placeholder_refuses),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("plugin_warning", tests, NULL, NULL);
}
