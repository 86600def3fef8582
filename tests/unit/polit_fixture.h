/*
 * Test fixture for the polit step plugins: every plugin test drives the real
 * plugins through the real engine and workflows/polit.lua on the plugin test
 * harness's runner (cfpt_engine, include/caseflow/plugin-test.h): an
 * in-memory store with a test clock and the runner's users, two more users
 * added here. Helpers move a case along the usual path so that each test
 * starts where its rule applies, and check refusals by code, field and rule.
 */
#ifndef CF_TEST_POLIT_FIXTURE_H
#define CF_TEST_POLIT_FIXTURE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>
#include <jansson.h>

#include "caseflow/caseflow.h"
#include "caseflow/plugin-test.h"

/* 2026-11-03T09:00:00Z, the day after the sample referral arrived. */
#define PF_NOW INT64_C(1793696400)
#define PF_DAY INT64_C(86400)

/* Users: the runner's, one per role, and two more (another officer, and an
 * officer who is also an authoriser). */
#define PF_ADMIN "admin"
#define PF_ANALYST "analyst"
#define PF_OFFICER "officer"
#define PF_OFFICER2 "oscar"
#define PF_SUPERVISOR "supervisor"
#define PF_AUTHORISER "authoriser"
#define PF_DUAL "dana" /* officer and authoriser */

typedef struct pf {
    cfpt_engine *run;
    cf_engine *engine; /* cfpt_engine_handle(run), borrowed */
    char dir[64];      /* for edited workflows; "" until one is written */
    int64_t now;
    unsigned seq; /* makes each resolved address distinct */
} pf;

/* A test with its own fresh store. */
#define PF_TEST(fn) cmocka_unit_test_setup_teardown(fn, pf_setup, pf_teardown)

/* cmocka group/test setup and teardown: *state is a pf. */
int pf_setup(void **state);
int pf_teardown(void **state);

/* Set the engine clock. */
void pf_clock(pf *f, int64_t now);

/* The sample referral (DESIGN.md) with `reference` (new reference); its
 * account and file hash are derived from reference, so separate test cases
 * never meet by correlation unless a test makes them. */
json_t *pf_referral(const char *reference);
/* Refer as the analyst; on success copies the case id into id. */
int pf_refer(pf *f, const json_t *referral, char id[64], cf_error *err);
/* Refer and require success. */
void pf_refer_ok(pf *f, const json_t *referral, char id[64]);

/* Act as actor with data given as JSON text (NULL: none). */
int pf_act(pf *f, const char *id, const char *actor, const char *event,
           const char *json, cf_error *err);
void pf_act_ok(pf *f, const char *id, const char *actor, const char *event,
               const char *json);
/* Require a refusal with code; field and rule (either may be NULL) must
 * appear in the error's field or message. */
void pf_refused(int rc, const cf_error *err, int code, const char *field,
                const char *rule);

/* The case (new reference) and shortcuts into it. */
json_t *pf_case(pf *f, const char *id);
void pf_assert_state(pf *f, const char *id, const char *state);
/* Borrowed from doc: the value at dotted path in case.data. */
json_t *pf_data(json_t *doc, const char *path);
void pf_assert_data_str(pf *f, const char *id, const char *path,
                        const char *want);
/* Does the case have an open task of kind? */
int pf_has_task(pf *f, const char *id, const char *kind);

/* Fire due timers. */
void pf_tick(pf *f);

/* Move a new case along the usual path. */
void pf_to_subscriber(pf *f, const char *id);
void pf_to_checks(pf *f, const char *id);
/* checks_json: the checks.completed data (NULL: a clean, corroborated case). */
void pf_to_assessment(pf *f, const char *id, const char *checks_json);
/* A clean case of category C, once, corroborated: ends in visit. */
void pf_new_visit_case(pf *f, const char *reference, char id[64]);
/* The sample referral graded by checks with `checks_json` and approved
 * with `approval_json`; ends wherever the route decision sends it. */
void pf_new_routed_case(pf *f, const char *reference, const char *checks_json,
                        const char *approval_json, char id[64]);

/* The checks data of a clean case, with address_corroborated as given. */
extern const char *const PF_CLEAN_CHECKS;
extern const char *const PF_UNCORROBORATED_CHECKS;
/* subscriber.resolved data for "<n> Example Road, Exampletown, ZZ1 1AA". */
void pf_resolved_json(unsigned n, char *out, size_t len);

/* Write a copy of workflows/ into a temp dir with polit.lua's text edited
 * (first occurrence of from replaced by to) and deploy it. Returns the
 * deploy result code. */
int pf_deploy_edited(pf *f, const char *from, const char *to, cf_error *err);
/* As pf_deploy_edited (from NULL: polit.lua unchanged) with the letter
 * template replaced by letter (NULL: the shipped one). */
int pf_deploy_custom(pf *f, const char *from, const char *to,
                     const char *letter, cf_error *err);

#endif /* CF_TEST_POLIT_FIXTURE_H */
