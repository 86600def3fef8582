/*
 * Fuzz target: referral intake. The input is parsed as JSON (as the refer
 * command does, plus NUL bytes in strings, which the API accepts) and, when
 * it is an object, taken in with cf_refer on an in-memory store with
 * polit.lua deployed. Oracles besides the sanitizers: a failure says one
 * line with a documented code; a referral taken in once is, sent again, the
 * same case with created = false (idempotency on source + reference).
 */
#include "fuzz_common.h"

static cf_engine *engine;
static unsigned long runs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    engine = fuzz_polit_engine();
    cf_engine_set_actor(engine, "analyst1", "fuzz intake");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *ref, *out = NULL, *again = NULL;
    cf_error err;

    /* Keep the store small: a fresh one now and then. */
    if (++runs % 20000 == 0) {
        cf_engine_close(engine);
        LLVMFuzzerInitialize(NULL, NULL);
    }
    ref = json_loadb((const char *)data, size,
                     JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
    if (!ref)
        return 0;
    int rc = cf_refer(engine, "polit", ref, &out, &err);
    fuzz_check_error(rc, &err);
    if (rc == 0) {
        const char *id = json_string_value(json_object_get(out, "id"));
        if (!id || !json_object_get(out, "state")) {
            fprintf(stderr, "cf_refer: result without id or state\n");
            abort();
        }
        int rc2 = cf_refer(engine, "polit", ref, &again, &err);
        fuzz_check_error(rc2, &err);
        if (rc2 != 0 || !json_is_false(json_object_get(again, "created")) ||
            !json_equal(json_object_get(again, "id"), json_object_get(out, "id"))) {
            fprintf(stderr, "the same referral again: rc=%d (%s), not the same case "
                            "with created=false\n", rc2, err.message);
            abort();
        }
    } else if (out) {
        fprintf(stderr, "cf_refer failed but left *out set\n");
        abort();
    }
    json_decref(again);
    json_decref(out);
    json_decref(ref);
    return 0;
}
