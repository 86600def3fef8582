#!/bin/bash
# Bulk intake past its first batch (1000 referrals; later batches are
# larger): a bad line, a repeated (source, reference) and keys shared with
# a case of an earlier batch or of the same one, all in the second batch.
# The bad line gets its one error line, naming the line and the field, and
# leaves no trace; every other line is taken in and durable; the repeat is
# the same case; shared keys link the cases as one at a time would.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

setup_store
sql() {
    store_sql "$@"
}

N=2600
bulk="$E2E_TMP/bulk.jsonl"
referrals E2E-BIG "$N" >"$E2E_TMP/plain.jsonl"
# line 5 and line 1200 share a file hash (batch 1 and batch 2); lines 1300
# and 2500 an account (both in batch 2); line 1800 has a time without a
# zone; line 2200 repeats line 1500's reference.
hash5=$(sed -n 5p "$E2E_TMP/plain.jsonl" | jq -r '.files[0].hash')
awk -v h="$hash5" '
    NR == 1200 { sub(/"hash":"[0-9a-f]*"/, "\"hash\":\"" h "\"") }
    NR == 1300 || NR == 2500 { sub(/,"frequency"/, ",\"accounts\":[{\"provider\":\"e2e\",\"id\":\"u-shared\"}],\"frequency\"") }
    NR == 1800 { sub(/T21:14:05Z/, "T21:14:05") }
    NR == 2200 { sub(/"reference":"E2E-BIG-2200"/, "\"reference\":\"E2E-BIG-1500\"") }
    { print }' "$E2E_TMP/plain.jsonl" >"$bulk"
assert_eq 2 "$(grep -c '"reference":"E2E-BIG-1500"' "$bulk")" "the test file repeats line 1500"

before=$(sql "SELECT count(*) FROM audit")
cf --actor analyst1 refer --json "$bulk" >"$OUT" 2>"$ERR"
assert_eq 65 "$?" "a bad line in the second batch: exit 65"
assert_eq 1 "$(wc -l <"$ERR")" "the bad line is reported once"
assert_contains "$ERR" "caseflow: line 1800: " "the bad line is named by its line number"
assert_contains "$ERR" "ip_events[0].at" "the bad line's error names the field"
assert_eq $((N - 1)) "$(wc -l <"$OUT")" "every other line has its result"
assert_eq $((N - 2)) "$(jq -s 'map(select(.created)) | length' "$OUT")" "all created but the repeat"
assert_eq $((N - 2)) "$(sql "SELECT count(*) FROM cases")" "every case taken in is stored"
assert_eq 0 "$(sql "SELECT count(*) FROM cases WHERE reference = 'E2E-BIG-1800'")" \
    "the bad line left no case"
assert_eq 0 "$(sql "SELECT count(*) FROM keys k WHERE NOT EXISTS (SELECT 1 FROM cases c WHERE c.id = k.case_id)")" \
    "the bad line left no key"
# two audit records per case taken in (received, accepted), one more for the
# repeat (the consultation the reason allows) at most, and the checkpoints
added=$(($(sql "SELECT count(*) FROM audit WHERE action <> 'checkpoint'") - before))
assert_eq yes "$([ "$added" -ge $((2 * (N - 2))) ] && [ "$added" -le $((2 * (N - 2) + 1)) ] && echo yes || echo no)" \
    "the audit chain holds the cases taken in and nothing of the bad line ($added records)"

# the repeat is the same case, reported as existing
id1500=$(sed -n 1500p "$OUT" | jq -r .id)
dup=$(jq -c 'select(.created == false)' "$OUT")
assert_eq "$id1500" "$(jq -r .id <<<"$dup")" "the repeated reference is the case of line 1500"

# keys shared with a case of the batch before, and within the batch (the
# results are in input order, less the bad line's)
id5=$(sed -n 5p "$OUT" | jq -r .id)
id1200=$(sed -n 1200p "$OUT" | jq -r .id)
id1300=$(sed -n 1300p "$OUT" | jq -r .id)
id2500=$(sed -n 2499p "$OUT" | jq -r .id)
ref2500=$(cf --actor supervisor1 --reason e2e show --json "$id2500" | jq -r .data.referral.reference)
assert_eq E2E-BIG-2500 "$ref2500" "line 2500's case is found"
assert_jq <(cf --actor supervisor1 --reason e2e show --json "$id1200") \
    "(.data.links // []) | index(\"$id5\") != null" \
    "a file hash shared with a case of the batch before links it"
assert_jq <(cf --actor supervisor1 --reason e2e show --json "$id2500") \
    "(.data.links // []) | index(\"$id1300\") != null" \
    "an account shared with a case of the same batch links it"

# the same file again: nothing new, the bad line refused again
before=$(sql "SELECT count(*) FROM cases")
cf --actor analyst1 refer --json "$bulk" >"$OUT" 2>"$ERR"
assert_eq 65 "$?" "the same file again: exit 65 for the bad line"
assert_eq 0 "$(jq -s 'map(select(.created)) | length' "$OUT")" "the same file again: nothing created"
assert_eq "$before" "$(sql "SELECT count(*) FROM cases")" "the same file again: no new case"
expect_exit 0 cf --actor admin audit verify
finish
