#!/bin/bash
# Intake and reading: one referral (pretty-printed or on one line, from a
# file or standard input), idempotency on (source, reference), JSON-lines
# bulk intake across several batches with a bad line in the middle, and the
# --json shapes of refer, show, list and history that other systems rely on.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

RFC3339_UTC='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$'
setup_store

# ---- one referral, pretty-printed, then again: the same case ----------------
example="$CASEFLOW_SRCDIR/examples/referral.json"
expect_exit 0 cf --actor analyst1 refer --json "$example"
assert_eq 1 "$(wc -l <"$OUT")" "refer --json prints one line per referral"
assert_jq "$OUT" '(.id | type == "string") and .state == "authorisation" and .created == true' \
    "refer --json: id, state, created"
ID=$(jq -r .id "$OUT")
snapshot first
expect_exit 0 cf --actor analyst1 refer --json "$example"
assert_jq "$OUT" ".id == \"$ID\" and .created == false" "the same referral again: same id, created false"
expect_exit_in 0 "$example" cf --actor analyst1 refer --json -
assert_jq "$OUT" ".id == \"$ID\" and .created == false" "again from standard input"
assert_unchanged first "a repeated referral without a reason writes nothing"
expect_exit_in 0 "$example" cf --actor analyst1 refer
# The state is case data: a caller who gave no reason is not told it.
if grep -Eq "^$ID +- +existing\$" "$OUT"; then
    ok "human refer output without a reason: id, no state, existing"
else
    not_ok "human refer output without a reason: $(cat "$OUT")"
fi
expect_exit_in 0 "$example" cf --actor analyst1 --reason "re-sent by the gateway" refer
if grep -Eq "^$ID +authorisation +existing\$" "$OUT"; then
    ok "human refer output with a reason: id, state, existing"
else
    not_ok "human refer output with a reason: $(cat "$OUT")"
fi
n=$(store_sql "SELECT count(*) FROM audit WHERE action='consultation'
    AND case_id='$ID' AND justification='re-sent by the gateway'")
assert_eq 1 "$n" "telling the state of a repeated referral is an audited read"
cf --actor supervisor1 --reason e2e list --json >"$OUT"
assert_jq "$OUT" 'length == 1' "a repeated referral makes no second case"

# ---- show --json -------------------------------------------------------------
expect_exit 0 cf --actor supervisor1 --reason "e2e shape check" show --json "$ID"
assert_jq "$OUT" "type == \"object\" and .id == \"$ID\"" "show --json: one object with the id"
assert_jq "$OUT" '.workflow.name == "polit" and (.workflow.version | type == "number")' \
    "show --json: workflow {name, version}"
assert_jq "$OUT" '.state == "authorisation" and (.data | type == "object")' "show --json: state and data"
assert_jq "$OUT" '.data.referral.reference == "NCA-2026-004211"' "show --json: data.referral as received"
assert_jq "$OUT" ".created_at | test(\"$RFC3339_UTC\")" "show --json: created_at in RFC 3339 UTC"
assert_jq "$OUT" ".updated_at | test(\"$RFC3339_UTC\")" "show --json: updated_at in RFC 3339 UTC"
assert_jq "$OUT" '.revision | type == "number"' "show --json: revision"
expect_exit 0 cf --actor supervisor1 --reason "e2e shape check" show "$ID"
assert_contains "$OUT" "$ID" "human show names the case"
n=$(store_sql "SELECT count(*) FROM audit WHERE justification = 'e2e shape check'")
assert_eq yes "$([ "${n:-0}" -ge 2 ] && echo yes || echo no)" "show logs its --reason in the audit trail"
CASEFLOW_REASON="e2e reason from env" expect_exit 0 cf --actor supervisor1 history "$ID"
n=$(store_sql "SELECT count(*) FROM audit WHERE justification = 'e2e reason from env'")
assert_eq yes "$([ "${n:-0}" -ge 1 ] && echo yes || echo no)" "history logs CASEFLOW_REASON"

# ---- history --json -------------------------------------------------------------
expect_exit 0 cf --actor supervisor1 --reason "e2e" history --json "$ID"
assert_jq "$OUT" 'type == "array" and length >= 1' "history --json: an array of events"
assert_jq "$OUT" "all(.[]; (.seq | type == \"number\") and (.at | test(\"$RFC3339_UTC\")) and (.event | type == \"string\") and (.to | type == \"string\"))" \
    "history --json: seq, at (UTC), event, to"
assert_jq "$OUT" '.[-1].to == "authorisation"' "history ends in the current state"
assert_jq "$OUT" 'map(select(.plugin != null))[0].plugin | (.name | type == "string") and (.sha256 | test("^[0-9a-f]{64}$"))' \
    "history names the plugin and its SHA-256"

# ---- JSON lines: a bad line in the middle --------------------------------------
lines="$E2E_TMP/lines.jsonl"
{
    referral E2E-LINES-1
    referral E2E-LINES-2
    echo
    referral E2E-LINES-3 | sed 's/+01:00//'
    referral E2E-LINES-4 2001:db8::7
    referral E2E-LINES-5
} >"$lines"
cf --actor analyst1 refer --json "$lines" >"$OUT" 2>"$ERR"
assert_eq 65 "$?" "JSON lines with a bad line: exit 65"
assert_eq 4 "$(wc -l <"$OUT")" "the four good lines are reported"
assert_eq 1 "$(wc -l <"$ERR")" "the bad line is reported once"
assert_contains "$ERR" "caseflow: line 4: " "the bad line is reported with its line number"
assert_contains "$ERR" "ip_events[0].at" "the bad line's error names the field"
assert_jq "$OUT" '.created == true and .state == "authorisation"' "each good line: created"
cf --actor supervisor1 --reason e2e list --json >"$OUT"
assert_jq "$OUT" 'length == 5' "the four good lines are saved"
# the same file again: nothing new, every good line existing
cf --actor analyst1 refer --json <"$lines" >"$OUT" 2>"$ERR"
assert_eq 65 "$?" "the same lines again: exit 65 for the bad one"
assert_eq 4 "$(jq -s 'map(select(.created == false)) | length' "$OUT")" "the same lines again: all existing"

# ---- bulk intake across batches ----------------------------------------------------
bulk="$E2E_TMP/bulk.jsonl"
referrals E2E-BULK 2345 >"$bulk"
expect_exit 0 cf --actor analyst1 refer --json "$bulk"
assert_eq 2345 "$(wc -l <"$OUT")" "bulk: one result line per referral"
assert_eq 2345 "$(jq -r .id "$OUT" | sort -u | wc -l)" "bulk: distinct ids"
assert_eq 2345 "$(jq -s 'map(select(.created == true)) | length' "$OUT")" "bulk: all created"
expect_exit 0 cf --actor supervisor1 --reason e2e list --json --state authorisation
assert_jq "$OUT" 'length == 2350' "bulk: every case is stored"
expect_exit_in 0 "$bulk" cf --actor analyst1 refer --json
assert_eq 0 "$(jq -s 'map(select(.created == true)) | length' "$OUT")" "bulk again: nothing created"
# bulk output that cannot be written: 74, but what was committed stays
if [ -w /dev/full ]; then
    referrals E2E-FULL 1500 >"$E2E_TMP/full.jsonl"
    cf --actor analyst1 refer "$E2E_TMP/full.jsonl" >/dev/full 2>"$ERR"
    assert_eq 74 "$?" "bulk refer to /dev/full: exit 74"
    assert_eq 1 "$(wc -l <"$ERR")" "bulk refer to /dev/full: one error line"
    n=$(cf --actor supervisor1 --reason e2e list --json | jq '[.[] | select(.state == "authorisation")] | length')
    assert_eq 3350 "$n" "bulk refer to /dev/full: the first batch stays committed, then it stops"
fi

# ---- list --json -------------------------------------------------------------------
# reading case data needs a justification, which the audit trail records
expect_exit 64 cf --actor supervisor1 list
assert_contains "$ERR" "--reason" "a read without a reason names --reason"
expect_exit 64 cf --actor supervisor1 show "$ID"
expect_exit 0 cf --actor supervisor1 --reason e2e list --json
assert_jq "$OUT" 'type == "array" and all(.[]; (.id | type == "string") and (.state | type == "string"))' \
    "list --json: an array of {id, state}"
expect_exit 0 cf --actor supervisor1 --reason e2e list --json --limit 3
assert_jq "$OUT" 'length == 3' "list --limit 3"
expect_exit 0 cf --actor supervisor1 --reason e2e list --state closed --json
assert_jq "$OUT" '. == []' "list --state closed: none"
expect_exit 0 cf --actor supervisor1 --reason e2e list --limit 2
assert_eq 3 "$(wc -l <"$OUT")" "human list: a header and two rows"
expect_exit 0 cf --actor supervisor1 --reason e2e list --state authorisation --limit 1 --json
assert_jq "$OUT" 'length == 1 and .[0].state == "authorisation"' "list --state authorisation --limit 1"

# ---- list of every case: printed a page (1000 cases) at a time ----------------------
# The store holds some 3,350 cases: list reads them in four pages and prints
# each as it comes, one JSON array (or one table) for all, the same as the
# pages read one by one with --after.
expect_exit 0 cf --actor supervisor1 --reason e2e list --json
cp "$OUT" "$E2E_TMP/all.json"
total=$(jq length "$E2E_TMP/all.json")
if [ "$total" -gt 2000 ]; then ok "list --json: $total cases, more than two pages"
else not_ok "list --json: $total cases, expected more than two pages"; fi
: >"$E2E_TMP/pages.json"
after=0
while :; do
    expect_exit 0 cf --actor supervisor1 --reason e2e list --json --limit 1000 --after "$after"
    jq -c '.items[]' "$OUT" >>"$E2E_TMP/pages.json"
    after=$(jq -r '.next // empty' "$OUT")
    [ -n "$after" ] || break
done
assert_eq "$(jq -c '.[]' "$E2E_TMP/all.json")" "$(cat "$E2E_TMP/pages.json")" \
    "list --json: every case once, in intake order, as the pages read with --after"
assert_eq "$total" "$(jq -r '.[].id' "$E2E_TMP/all.json" | sort -u | wc -l)" "list --json: distinct ids"
if jq --indent 2 . "$E2E_TMP/all.json" | cmp -s - "$E2E_TMP/all.json"; then
    ok "list --json: indented by two spaces throughout, as one array printed whole"
else not_ok "list --json: not laid out as one array printed whole"; fi
expect_exit 0 cf --actor supervisor1 --reason e2e list --json --limit 2500
assert_eq "$(jq -c '.[:2500][]' "$E2E_TMP/all.json")" "$(jq -c '.[]' "$OUT")" \
    "list --limit 2500 across pages: the first 2500"
expect_exit 0 cf --actor supervisor1 --reason e2e list
assert_eq "$((total + 1))" "$(wc -l <"$OUT")" "human list of every case: a header and a row each"
assert_eq 1 "$(grep -c '^ID  ' "$OUT")" "human list of every case: one header"
assert_eq "$(jq -r '.[].id' "$E2E_TMP/all.json")" "$(tail -n +2 "$OUT" | cut -d' ' -f1)" \
    "human list of every case: the same cases in the same order"

expect_exit 0 cf --actor admin audit verify
finish
