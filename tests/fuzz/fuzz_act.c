/*
 * Fuzz target: act payloads. At start-up, one polit case is driven into
 * each state where it waits for a person (and one into monitoring, which
 * waits for a timer). The input picks the state (byte 0) and the event
 * (byte 1, among that state's events and one it does not know); the rest is
 * the --data payload, parsed as JSON as the act command does (plus NUL
 * bytes in strings, which the API accepts). Oracles besides the
 * sanitizers: a failure says one line with a documented code and leaves the
 * case exactly as it was (state, revision, data, tasks, timers); a success
 * moves the case on, and a fresh case is driven to that state for the next
 * input.
 */
#include <stdbool.h>

#include "fuzz_common.h"

static const char APPLIED[] =
    "{\"necessity\":\"identify the subscriber behind the upload\","
    "\"proportionality\":\"no less intrusive means\"}";
static const char GRANTED[] =
    "{\"authority\":\"OCDA\",\"reference\":\"OCDA-2026-0001\",\"urgent\":false}";
static const char RESOLVED_FMT[] =
    "{\"name\":\"Test Subscriber %lu\",\"address\":{\"line1\":\"%lu Example "
    "Street\",\"town\":\"Exampleton\",\"postcode\":\"ZZ1 1ZZ\"},"
    "\"address_type\":\"installation\",\"provider_reference\":\"ISP-REF-%lu\"}";
static const char CHECKS_FMT[] =
    "{\"occupants\":[{\"name\":\"Test Occupant %lu\",\"dob\":\"1980-01-01\"}],"
    "\"prior_history\":%s,\"registered_sex_offender\":false,"
    "\"children_in_household\":%s,\"access_to_children_at_work\":false,"
    "\"distribution_signs\":%s,\"address_corroborated\":%s}";
static const char VISITED[] =
    "{\"advice_given\":true,\"letter_issued\":true,\"security_advice\":true,"
    "\"signposted\":true}";
static const char WARRANT[] =
    "{\"court\":\"Exampleton Magistrates\",\"issued_at\":\"2026-11-03T09:30:00Z\"}";
static const char EXECUTED[] =
    "{\"arrested\":true,\"voluntary_interview\":false,"
    "\"devices\":[{\"exhibit\":\"EX-0001\",\"type\":\"laptop\"}]}";
static const char FORENSICS[] = "{\"counts\":{\"A\":0,\"B\":2,\"C\":14}}";

enum {
    S_AUTH, S_APPLIED, S_SUBSCRIBER, S_CHECKS, S_ASSESS, S_HOLD, S_VISIT,
    S_MONITOR, S_ENFORCE, S_WARRANT, S_FORENSICS, S_CHARGING, NSTATES
};

static const struct {
    const char *state;
    const char *events[6];
} targets[NSTATES] = {
    [S_AUTH] = {"authorisation", {"authorisation.applied", "authorisation.granted",
                                  "authorisation.refused", NULL}},
    [S_APPLIED] = {"authorisation", {"authorisation.applied", "authorisation.granted",
                                     "authorisation.refused", NULL}},
    [S_SUBSCRIBER] = {"subscriber", {"subscriber.resolved", "subscriber.no_trace", NULL}},
    [S_CHECKS] = {"checks", {"checks.completed", NULL}},
    [S_ASSESS] = {"assessment", {"assessment.approved", NULL}},
    [S_HOLD] = {"hold", {"corroboration.confirmed", "hold.override", NULL}},
    [S_VISIT] = {"visit", {"visit.completed", "visit.no_answer", "visit.concern",
                           "repeat_referral", NULL}},
    [S_MONITOR] = {"monitoring", {"monitoring.expired", "repeat_referral", NULL}},
    [S_ENFORCE] = {"enforcement", {"warrant.issued", NULL}},
    [S_WARRANT] = {"warrant", {"warrant.executed", "warrant.expired", NULL}},
    [S_FORENSICS] = {"forensics", {"forensics.completed", NULL}},
    [S_CHARGING] = {"charging", {"outcome.recorded", NULL}},
};

static cf_engine *engine;
static char ids[NSTATES][64];
static unsigned long serial, runs;

static void act_or_die(const char *id, const char *actor, const char *event,
                       const char *text)
{
    json_error_t jerr;
    cf_error err;
    json_t *d = json_loads(text, 0, &jerr);
    if (!d) {
        fprintf(stderr, "fuzz set-up JSON: %s: %s\n", jerr.text, text);
        abort();
    }
    cf_engine_set_actor(engine, actor, "fuzz set-up");
    int rc = cf_act(engine, id, event, d, -1, NULL, &err);
    json_decref(d);
    if (rc != 0)
        fuzz_die(event, rc, &err);
}

/* A new case driven into the state of target t; its id into ids[t]. */
static void drive(int t)
{
    char ref[64], hash[33], buf[1024];
    unsigned long n = ++serial;
    json_t *out = NULL;
    cf_error err;
    bool high = t >= S_ENFORCE;

    snprintf(ref, sizeof ref, "FUZZ-ACT-%lu", n);
    snprintf(hash, sizeof hash, "%032lx", n);
    json_t *r = json_pack(
        "{s:s, s:s, s:s, s:b, s:[{s:s, s:i, s:s, s:s, s:b}], s:[{s:s, s:s, s:s}], s:s}",
        "source", "NCA-CEOP", "reference", ref, "received_at", "2026-11-02T09:15:00Z",
        "priority", 0, "ip_events", "ip", "203.0.113.45", "port", 51812, "type",
        "upload", "at", "2026-10-30T21:14:05+01:00", "proxy", 0, "files", "hash_type",
        "md5", "hash", hash, "category", high ? "A" : "C", "frequency", "once");
    cf_engine_set_actor(engine, "analyst1", "fuzz set-up");
    int rc = cf_refer(engine, "polit", r, &out, &err);
    json_decref(r);
    if (rc != 0)
        fuzz_die("cf_refer", rc, &err);
    snprintf(ids[t], sizeof ids[t], "%s", json_string_value(json_object_get(out, "id")));
    json_decref(out);
    const char *id = ids[t];
    if (t == S_AUTH)
        return;
    act_or_die(id, "officer1", "authorisation.applied", APPLIED);
    if (t == S_APPLIED)
        return;
    act_or_die(id, "authoriser1", "authorisation.granted", GRANTED);
    if (t == S_SUBSCRIBER)
        return;
    snprintf(buf, sizeof buf, RESOLVED_FMT, n, n, n);
    act_or_die(id, "analyst1", "subscriber.resolved", buf);
    if (t == S_CHECKS)
        return;
    snprintf(buf, sizeof buf, CHECKS_FMT, n, high ? "true" : "false",
             high ? "true" : "false", high ? "true" : "false",
             t == S_HOLD ? "false" : "true");
    act_or_die(id, "analyst1", "checks.completed", buf);
    if (t == S_ASSESS)
        return;
    act_or_die(id, "supervisor1", "assessment.approved", "{}");
    if (t == S_HOLD || t == S_VISIT || t == S_ENFORCE)
        return;
    if (t == S_MONITOR) {
        act_or_die(id, "officer1", "visit.completed", VISITED);
        return;
    }
    act_or_die(id, "officer1", "warrant.issued", WARRANT);
    if (t == S_WARRANT)
        return;
    act_or_die(id, "officer1", "warrant.executed", EXECUTED);
    if (t == S_FORENSICS)
        return;
    act_or_die(id, "officer1", "forensics.completed", FORENSICS);
}

/* What a failed act must leave as it was. */
static json_t *picture(const char *id)
{
    json_t *cs = NULL;
    cf_error err;
    cf_engine_set_actor(engine, "supervisor1", "fuzz oracle");
    int rc = cf_case_get(engine, id, &cs, &err);
    if (rc != 0)
        fuzz_die("cf_case_get", rc, &err);
    return cs;
}

static void check_state(int t)
{
    json_t *cs = picture(ids[t]);
    if (strcmp(json_string_value(json_object_get(cs, "state")), targets[t].state) != 0) {
        fprintf(stderr, "fuzz set-up: %s is in %s, not %s\n", ids[t],
                json_string_value(json_object_get(cs, "state")), targets[t].state);
        abort();
    }
    json_decref(cs);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    engine = fuzz_polit_engine();
    for (int t = 0; t < NSTATES; t++) {
        drive(t);
        check_state(t);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    cf_error err;
    json_t *out = NULL;

    if (size < 2)
        return 0;
    if (++runs % 5000 == 0) { /* keep the in-memory store small */
        cf_engine_close(engine);
        LLVMFuzzerInitialize(NULL, NULL);
    }
    int t = data[0] % NSTATES;
    size_t nev = 0;
    while (targets[t].events[nev])
        nev++;
    size_t pick = data[1] % (nev + 1);
    const char *event = pick < nev ? targets[t].events[pick] : "no.such.event";
    json_t *payload = json_loadb((const char *)data + 2, size - 2,
                                 JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL |
                                     JSON_DECODE_ANY,
                                 &jerr);
    if (!payload && size > 2)
        return 0;
    json_t *before = picture(ids[t]);
    cf_engine_set_actor(engine, "fuzzer", "fuzz");
    int rc = cf_act(engine, ids[t], event, payload, -1, &out, &err);
    fuzz_check_error(rc, &err);
    if (rc != 0) {
        json_t *after = picture(ids[t]);
        if (!json_equal(before, after)) {
            char *b = json_dumps(before, JSON_COMPACT), *a = json_dumps(after, JSON_COMPACT);
            fprintf(stderr, "a failed %s (rc %d: %s) changed the case:\nbefore %s\nafter  %s\n",
                    event, rc, err.message, b, a);
            abort();
        }
        json_decref(after);
        if (out) {
            fprintf(stderr, "cf_act failed but left *out set\n");
            abort();
        }
    } else {
        drive(t); /* the case moved on: a fresh one waits in that state */
    }
    json_decref(out);
    json_decref(before);
    json_decref(payload);
    return 0;
}
