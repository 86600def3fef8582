/*
 * The polit plugin tests' fixture (see polit_fixture.h): a fresh runner per
 * test (libcaseflow-plugin-test: in-memory store, test clock, the runner's
 * users) with the shipped workflows/polit.lua deployed from CASEFLOW_SRCDIR
 * and the plugins found on CASEFLOW_PLUGIN_PATH, exactly as `make check`
 * sets them, so every assertion is about the plugins as the engine runs
 * them. What is here beyond the runner is polit's: its users, its referral,
 * its path, and edited copies of its workflow.
 */
/* nftw() is an XSI interface. */
#define _XOPEN_SOURCE 700

#include "polit_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const PF_CLEAN_CHECKS =
    "{\"occupants\": [], \"prior_history\": false,"
    " \"registered_sex_offender\": false, \"children_in_household\": false,"
    " \"access_to_children_at_work\": false, \"distribution_signs\": false,"
    " \"address_corroborated\": true}";
const char *const PF_UNCORROBORATED_CHECKS =
    "{\"occupants\": [], \"prior_history\": false,"
    " \"registered_sex_offender\": false, \"children_in_household\": false,"
    " \"access_to_children_at_work\": false, \"distribution_signs\": false,"
    " \"address_corroborated\": false}";

static const char *srcdir(void)
{
    const char *s = getenv("CASEFLOW_SRCDIR");

    return s != NULL ? s : ".";
}

static void fail_with(const char *what, int rc, const cf_error *err)
{
    print_error("%s: rc=%d field='%s' message='%s'\n", what, rc, err->field,
                err->message);
    fail();
}

int pf_setup(void **state)
{
    static const char *const officer[] = {"officer", NULL};
    static const char *const dual[] = {"officer", "authoriser", NULL};
    cfpt_engine_options opts;
    cf_error err;
    char wf[512];
    pf *f = calloc(1, sizeof *f);
    int rc;

    assert_non_null(f);
    snprintf(wf, sizeof wf, "%s/workflows/polit.lua", srcdir());
    memset(&opts, 0, sizeof opts);
    opts.workflow_file = wf;
    opts.now = PF_NOW;
    f->run = cfpt_engine_new(&opts, &err);
    if (f->run == NULL)
        fail_with("cfpt_engine_new", err.code, &err);
    f->engine = cfpt_engine_handle(f->run);
    f->now = PF_NOW;
    if ((rc = cfpt_engine_user(f->run, PF_OFFICER2, officer, &err)) != 0 ||
        (rc = cfpt_engine_user(f->run, PF_DUAL, dual, &err)) != 0)
        fail_with("cfpt_engine_user", rc, &err);
    f->seq = 1;
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int type,
                        struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Only ever the mkdtemp directory this fixture made. */
static void remove_tree(const char *dir)
{
    if (nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
        print_error("could not remove %s\n", dir);
}

int pf_teardown(void **state)
{
    pf *f = *state;

    if (f == NULL)
        return 0;
    cfpt_engine_free(f->run);
    if (f->dir[0] != '\0')
        remove_tree(f->dir);
    free(f);
    *state = NULL;
    return 0;
}

void pf_clock(pf *f, int64_t now)
{
    f->now = now;
    cfpt_engine_clock(f->run, now);
}

/* 32 hex digits derived from text (FNV-1a, twice), for a per-case md5. */
static void fake_md5(const char *text, char out[33])
{
    uint64_t h1 = 1469598103934665603ULL, h2 = 1099511628211ULL;

    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        h1 = (h1 ^ *p) * 1099511628211ULL;
        h2 = (h2 ^ *p) * 1469598103934665603ULL + 7;
    }
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h1,
             (unsigned long long)h2);
}

json_t *pf_referral(const char *reference)
{
    char md5[33], account[96];
    json_error_t jerr;
    json_t *r;

    fake_md5(reference, md5);
    snprintf(account, sizeof account, "user-%s", reference);
    r = json_pack_ex(
        &jerr, 0,
        "{s:s, s:s, s:s, s:b, s:[{s:s, s:i, s:s, s:s, s:b}],"
        " s:[{s:s, s:s}], s:[{s:s, s:s, s:s}], s:s}",
        "source", "NCA-CEOP", "reference", reference, "received_at",
        "2026-11-02T09:15:00Z", "priority", 0, "ip_events", "ip",
        "203.0.113.45", "port", 51812, "type", "upload", "at",
        "2026-10-30T21:14:05+01:00", "proxy", 0, "accounts", "provider",
        "example-provider", "id", account, "files", "hash_type", "md5", "hash",
        md5, "category", "C", "frequency", "once");
    if (r == NULL)
        print_error("pf_referral: %s\n", jerr.text);
    assert_non_null(r);
    return r;
}

int pf_refer(pf *f, const json_t *referral, char id[64], cf_error *err)
{
    char *text = json_dumps(referral, JSON_COMPACT);
    char got[64] = "";
    int rc;

    assert_non_null(text);
    rc = cfpt_engine_refer(f->run, PF_ANALYST, text, got, err);
    if (rc == 0 && id != NULL)
        snprintf(id, 64, "%s", got);
    free(text);
    return rc;
}

void pf_refer_ok(pf *f, const json_t *referral, char id[64])
{
    cf_error err;
    int rc = pf_refer(f, referral, id, &err);

    if (rc != 0)
        fail_with("cf_refer", rc, &err);
}

int pf_act(pf *f, const char *id, const char *actor, const char *event,
           const char *json, cf_error *err)
{
    return cfpt_engine_act(f->run, actor, id, event, json, err);
}

void pf_act_ok(pf *f, const char *id, const char *actor, const char *event,
               const char *json)
{
    cf_error err;
    int rc = pf_act(f, id, actor, event, json, &err);

    if (rc != 0) {
        print_error("%s by %s\n", event, actor);
        fail_with("cf_act", rc, &err);
    }
}

void pf_refused(int rc, const cf_error *err, int code, const char *field,
                const char *rule)
{
    char both[sizeof err->field + sizeof err->message + 2];

    snprintf(both, sizeof both, "%s %s", err->field, err->message);
    if (rc != code || (field != NULL && strstr(both, field) == NULL) ||
        (rule != NULL && strstr(both, rule) == NULL)) {
        print_error("want rc=%d field~'%s' rule~'%s'; got rc=%d '%s'\n", code,
                    field ? field : "", rule ? rule : "", rc, both);
        fail();
    }
}

json_t *pf_case(pf *f, const char *id)
{
    json_t *c = cfpt_engine_case(f->run, id);

    if (c == NULL)
        fail_msg("cannot read case %s", id);
    return c;
}

void pf_assert_state(pf *f, const char *id, const char *state)
{
    json_t *c = pf_case(f, id);
    const char *got = json_string_value(json_object_get(c, "state"));

    if (got == NULL || strcmp(got, state) != 0) {
        print_error("case %s: want state %s, got %s\n", id, state,
                    got ? got : "(none)");
        json_decref(c);
        fail();
    }
    json_decref(c);
}

json_t *pf_data(json_t *doc, const char *path)
{
    json_t *data = json_object_get(doc, "data");

    return data != NULL ? (json_t *)cfpt_path(data, path) : NULL;
}

void pf_assert_data_str(pf *f, const char *id, const char *path,
                        const char *want)
{
    json_t *c = pf_case(f, id);
    const char *got = json_string_value(pf_data(c, path));

    if (got == NULL || strcmp(got, want) != 0) {
        print_error("case %s: data.%s: want '%s', got '%s'\n", id, path, want,
                    got ? got : "(none)");
        json_decref(c);
        fail();
    }
    json_decref(c);
}

int pf_has_task(pf *f, const char *id, const char *kind)
{
    json_t *c = pf_case(f, id), *t;
    size_t i;
    int found = 0;

    json_array_foreach(json_object_get(c, "tasks"), i, t) {
        const char *k = json_string_value(json_object_get(t, "kind"));
        if (k != NULL && strcmp(k, kind) == 0)
            found = 1;
    }
    json_decref(c);
    return found;
}

void pf_tick(pf *f)
{
    cf_error err;
    int rc = cfpt_engine_tick(f->run, NULL, &err);

    if (rc != 0)
        fail_with("cfpt_engine_tick", rc, &err);
}

void pf_resolved_json(unsigned n, char *out, size_t len)
{
    snprintf(out, len,
             "{\"name\": \"Alex Example\", \"address\": {\"line1\": \"%u "
             "Example Road\", \"town\": \"Exampletown\", \"postcode\": \"ZZ1 "
             "1AA\"}, \"address_type\": \"installation\", "
             "\"provider_reference\": \"EXP-%u\"}",
             n, n);
}

void pf_to_subscriber(pf *f, const char *id)
{
    pf_act_ok(f, id, PF_OFFICER, "authorisation.applied",
              "{\"necessity\": \"To identify the subscriber of the reported "
              "address.\", \"proportionality\": \"Least intrusive means.\"}");
    pf_act_ok(f, id, PF_AUTHORISER, "authorisation.granted",
              "{\"authority\": \"OCDA\", \"reference\": \"OCDA-0001\","
              " \"urgent\": false}");
    pf_assert_state(f, id, "subscriber");
}

void pf_to_checks(pf *f, const char *id)
{
    char resolved[512];

    pf_to_subscriber(f, id);
    pf_resolved_json(f->seq++, resolved, sizeof resolved);
    pf_act_ok(f, id, PF_OFFICER, "subscriber.resolved", resolved);
    pf_assert_state(f, id, "checks");
}

void pf_to_assessment(pf *f, const char *id, const char *checks_json)
{
    pf_to_checks(f, id);
    pf_act_ok(f, id, PF_ANALYST, "checks.completed",
              checks_json != NULL ? checks_json : PF_CLEAN_CHECKS);
    pf_assert_state(f, id, "assessment");
}

void pf_new_routed_case(pf *f, const char *reference, const char *checks_json,
                        const char *approval_json, char id[64])
{
    json_t *r = pf_referral(reference);

    pf_refer_ok(f, r, id);
    json_decref(r);
    pf_to_assessment(f, id, checks_json);
    pf_act_ok(f, id, PF_SUPERVISOR, "assessment.approved",
              approval_json != NULL ? approval_json : "{}");
}

void pf_new_visit_case(pf *f, const char *reference, char id[64])
{
    pf_new_routed_case(f, reference, NULL, NULL, id);
    pf_assert_state(f, id, "visit");
}

/* ---- deploying an edited copy of the workflow --------------------------- */

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long n;

    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void spill(const char *path, const char *text, size_t n)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static void copy_file(const char *from, const char *to)
{
    char *text = slurp(from);

    spill(to, text, strlen(text));
    free(text);
}

int pf_deploy_custom(pf *f, const char *from, const char *to,
                     const char *letter, cf_error *err)
{
    char src[512], dst[512], wf[256];
    char *text, *at;
    FILE *fp;

    if (f->dir[0] == '\0') {
        snprintf(f->dir, sizeof f->dir, "/tmp/cf-polit-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
    }
    snprintf(wf, sizeof wf, "%s/wf", f->dir);
    mkdir(wf, 0700);
    snprintf(dst, sizeof dst, "%s/letters", wf);
    mkdir(dst, 0700);
    snprintf(src, sizeof src, "%s/workflows/policy.lua", srcdir());
    snprintf(dst, sizeof dst, "%s/policy.lua", wf);
    copy_file(src, dst);
    snprintf(dst, sizeof dst, "%s/letters/warning.txt", wf);
    if (letter != NULL) {
        spill(dst, letter, strlen(letter));
    } else {
        snprintf(src, sizeof src, "%s/workflows/letters/warning.txt", srcdir());
        copy_file(src, dst);
    }
    snprintf(src, sizeof src, "%s/workflows/polit.lua", srcdir());
    text = slurp(src);
    at = from != NULL ? strstr(text, from) : text;
    assert_non_null(at);
    snprintf(dst, sizeof dst, "%s/polit.lua", wf);
    fp = fopen(dst, "wb");
    assert_non_null(fp);
    fwrite(text, 1, (size_t)(at - text), fp);
    if (from != NULL) {
        fputs(to, fp);
        at += strlen(from);
    }
    fputs(at, fp);
    assert_int_equal(fclose(fp), 0);
    free(text);
    cf_engine_set_actor(f->engine, PF_ADMIN, "deploy edited workflow");
    memset(err, 0, sizeof *err);
    return cf_workflow_deploy(f->engine, dst, NULL, err);
}

int pf_deploy_edited(pf *f, const char *from, const char *to, cf_error *err)
{
    return pf_deploy_custom(f, from, to, NULL, err);
}
