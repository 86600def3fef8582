/*
 * The benchmarks' synthetic referrals: the same bytes on every run, so the
 * bench and the floor programs (bench/floor/) drive the engine with the same
 * data. Documentation IP ranges only; no real names or references.
 */
#ifndef CASEFLOW_BENCH_SYNTH_H
#define CASEFLOW_BENCH_SYNTH_H

#include <stddef.h>
#include <stdint.h>

/*
 * Writes referral number i (its reference "PREFIX-%010u") as one JSON object
 * text into buf (cap bytes, NUL-terminated). Each case has its own account
 * and file hash, so no two cases correlate; referrals with an even i are
 * Category C, "once": visit-eligible (the lifecycle's). Returns 0, or -1 when
 * it does not fit in cap (buf's contents then unspecified).
 */
int bench_make_referral(char *buf, size_t cap, const char *prefix, uint64_t i);

#endif
