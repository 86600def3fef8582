/*
 * The benchmarks' synthetic referrals: the same bytes on every run, so the
 * bench and the floor programs (bench/floor/) drive the engine with the same
 * data. Documentation IP ranges only; no real names or references.
 */
#ifndef CASEFLOW_BENCH_SYNTH_H
#define CASEFLOW_BENCH_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include <caseflow/caseflow.h>
#include <jansson.h>

/*
 * Writes referral number i (its reference "PREFIX-%010u") as one JSON object
 * text into buf (cap bytes, NUL-terminated). Each case has its own account
 * and file hash, so no two cases correlate; referrals with an even i are
 * Category C, "once": visit-eligible (the lifecycle's). Returns 0, or -1 when
 * it does not fit in cap (buf's contents then unspecified).
 */
int bench_make_referral(char *buf, size_t cap, const char *prefix, uint64_t i);

/*
 * How a lifecycle act is made: as actor, deliver event with data (owned by
 * the callee, which releases it) to case id. Returns 0 or a CF_E* code with
 * err set, as cf_act.
 */
typedef int (*bench_act_fn)(cf_engine *e, const char *actor, const char *id, const char *event,
                            json_t *data, cf_error *err);

/*
 * Case id's life on the visit route, for synthetic person i: the six acts
 * (authorisation applied and granted, subscriber resolved, checks
 * completed, assessment approved, visit completed), each made through
 * act_as with the role user who may make it. Returns 0, or the first
 * failing act's code (err set by it); the acts before it stand.
 */
int bench_lifecycle(cf_engine *e, const char *id, uint64_t i, bench_act_fn act_as,
                    cf_error *err);

#endif
