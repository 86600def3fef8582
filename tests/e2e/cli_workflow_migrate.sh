#!/bin/bash
# workflow migrate (issue 9, item 1): open cases of the polit workflow moved to
# changed versions. A dry run lists the plan and changes no case; applying it
# recomputes the monitoring timer under the new 180 days from when the case
# entered monitoring (a tick then fires it on time), writes a
# workflow.migrated history event and keeps audit verify passing; a re-run is
# harmless; a renamed state needs --map; a case stuck on a version whose guard
# errors is freed; the refusals (69, 66, 65, 77, 64) leave the store unchanged;
# with migrate_four_eyes a second administrator approves a recorded request.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_store
expect_exit 0 cf --actor admin user add admin2 --role administrator

state_of() { case_field "$1" .state; }
act_ok() {
    expect_exit 0 cf --actor "$1" act "$2" "$3" --data "$4" &&
        assert_eq "$5" "$(state_of "$2")" "$3 -> $5"
}
# The case tables only: a dry run keeps its consultation record in the chain.
cases_dump() { store_dump_tables "$CASEFLOW_STORE" cases timers events tasks keys notifications; }
cases_snapshot() { cases_dump >"$E2E_TMP/$1.cases"; }
cases_unchanged() {
    if cases_dump | cmp -s - "$E2E_TMP/$1.cases"; then ok "cases unchanged: $2"; else not_ok "cases changed: $2"; fi
}
# refused CODE WHAT ARGS...: migrate refused with CODE, the store as it was.
refused() {
    local code=$1 what=$2
    shift 2
    snapshot refused
    expect_exit "$code" cf "$@"
    assert_unchanged refused "$what"
}

applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
granted='{"authority":"OCDA","reference":"OCDA-2026-0001","urgent":false}'
resolved() {
    printf '{"name":"Test Subscriber %s","address":{"line1":"%s Example Street","town":"Exampleton","postcode":"ZZ1 1ZZ"},"address_type":"installation","provider_reference":"ISP-REF-%s"}' "$1" "$1" "$1"
}
# low_checks N: a low-risk check of occupant N (no two cases share a person).
low_checks() {
    printf '{"occupants":[{"name":"Test Occupant %s","dob":"1980-01-0%s"}],"prior_history":false,"registered_sex_offender":false,"children_in_household":false,"access_to_children_at_work":false,"distribution_signs":false,"address_corroborated":true}' "$1" "$1"
}

# to_checks ID N: authorised, resolved (subscriber N): in checks.
to_checks() {
    act_ok officer1 "$1" authorisation.applied "$applied" authorisation
    act_ok authoriser1 "$1" authorisation.granted "$granted" subscriber
    act_ok analyst1 "$1" subscriber.resolved "$(resolved "$2")" checks
}

# ---- open cases on version 1 --------------------------------------------------------------
M=$(new_case E2E-MIG-MON polit 203.0.113.11)
to_checks "$M" 1
act_ok analyst1 "$M" checks.completed "$(low_checks 1)" assessment
act_ok supervisor1 "$M" assessment.approved '{}' visit
act_ok officer1 "$M" visit.completed \
    '{"advice_given":true,"letter_issued":false,"security_advice":true,"signposted":true}' monitoring
C=$(new_case E2E-MIG-CHECKS polit 203.0.113.12)
to_checks "$C" 2
A=$(new_case E2E-MIG-AUTH polit 203.0.113.13)
X=$(new_case E2E-MIG-CLOSED polit 203.0.113.14)
act_ok officer1 "$X" authorisation.applied "$applied" authorisation
act_ok authoriser1 "$X" authorisation.refused '{"reason":"not proportionate"}' closed
assert_jq <(cf --actor supervisor1 --reason e2e show --json "$M") \
    '.timers[0].due_at == "2027-11-03T10:00:00Z"' "v1 monitors for 365 days"

# ---- the changed versions ---------------------------------------------------------------
W="$E2E_TMP/wf"
mkdir -p "$W/v2" "$W/v3" "$W/v4"
for v in v2 v3 v4; do cp -r "$CASEFLOW_SRCDIR/workflows/polit.lua" "$CASEFLOW_SRCDIR/workflows/policy.lua" \
    "$CASEFLOW_SRCDIR/workflows/letters" "$W/$v/"; done
sed -i 's/^local monitoring_days = 365/local monitoring_days = 180/' "$W/v2/polit.lua" "$W/v3/polit.lua"
sed -i 's/\["subscriber.resolved"\] = "checks"/["subscriber.resolved"] = "background_checks"/; s/^    checks = {/    background_checks = {/' "$W/v3/polit.lua"
grep -q 'background_checks = {' "$W/v3/polit.lua" || not_ok "v3 renames checks"
expect_exit 0 cf --actor admin --reason "migration test" workflow deploy --yes "$W/v2/polit.lua"
expect_exit 0 cf --actor admin --reason "migration test" workflow deploy --yes "$W/v3/polit.lua"

# ---- dry run ------------------------------------------------------------------------------
cases_snapshot dry
expect_exit 0 cf --actor admin --reason "guidance 2026/7" workflow migrate polit --to 2 --all --dry-run --json
assert_jq "$OUT" '.dry_run == true and ([.cases[] | select(.status == "planned")] | length) == 3' \
    "the dry run plans the three open cases"
assert_jq "$OUT" ".cases[] | select(.id == \"$X\") | .status == \"skipped\" and .why == \"closed\"" \
    "a closed case is listed as skipped"
assert_jq "$OUT" ".cases[] | select(.id == \"$M\") | .status == \"planned\" and .from.state == \"monitoring\" and .to.version == 2" \
    "monitoring v1 -> monitoring v2"
assert_jq "$OUT" ".cases[] | select(.id == \"$M\") | .timers[0].event == \"monitoring.expired\" and .timers[0].was == \"2027-11-03T10:00:00Z\" and .timers[0].now == \"2027-05-02T10:00:00Z\"" \
    "the monitoring timer: 365 -> 180 days from entering monitoring"
assert_jq "$OUT" ".cases[] | select(.id == \"$M\") | .entered_at == \"2026-11-03T10:00:00Z\"" "when it entered its state"
cases_unchanged dry "the dry run moves nothing"
expect_exit 0 cf --actor admin --reason "guidance 2026/7" workflow migrate polit --to 2 --all --dry-run
assert_contains "$OUT" "$M  monitoring v1 -> monitoring v2  to migrate" "the human plan names from and to"
assert_contains "$OUT" "timer monitoring.expired 2027-11-03T10:00:00Z -> 2027-05-02T10:00:00Z" "and the timer"

# ---- refusals ------------------------------------------------------------------------------
refused 69 "an unknown version" --actor admin --reason r workflow migrate polit --to 9 --all
refused 65 "a mapping to a state the target lacks" --actor admin --reason r workflow migrate polit --to 3 --all --map checks=nowhere
refused 65 "a closed case" --actor admin --reason r workflow migrate polit --to 2 --cases "$X"
refused 77 "not an administrator" --actor supervisor1 --reason r workflow migrate polit --to 2 --all
refused 64 "no reason" --actor admin workflow migrate polit --to 2 --all
refused 64 "neither --cases nor --all" --actor admin --reason r workflow migrate polit --to 2
refused 66 "an unknown case" --actor admin --reason r workflow migrate polit --to 2 --cases CF-999999
# To version 3 the case in checks cannot move without a mapping: nothing moves.
refused 65 "a state the target lacks, unmapped" --actor admin --reason r workflow migrate polit --to 3 --all
assert_contains "$ERR" "checks" "the refusal names the state"

# ---- apply --------------------------------------------------------------------------------
expect_exit 0 cf --actor admin --reason "guidance 2026/7" workflow migrate polit --to 2 --cases "$M" "$A" --json
assert_jq "$OUT" '.counts.migrated == 2' "two cases migrated"
assert_jq <(cf --actor supervisor1 --reason e2e show --json "$M") \
    '.workflow.version == 2 and .state == "monitoring" and .timers[0].due_at == "2027-05-02T10:00:00Z"' \
    "the case is on version 2 with the recomputed timer"
cf --actor supervisor1 --reason e2e history --json "$M" >"$OUT"
assert_jq "$OUT" '.[-1].event == "workflow.migrated" and .[-1].actor == "admin" and .[-1].from == "monitoring" and .[-1].to == "monitoring"' \
    "history shows workflow.migrated by the administrator"
assert_jq "$OUT" '.[-1].data.from_version == 1 and .[-1].data.to_version == 2 and .[-1].data.reason == "guidance 2026/7"' \
    "with from/to version and reason"
expect_exit 0 cf --actor admin audit verify
# (the payloads read with jq: PostgreSQL has no json_extract)
assert_eq 1 "$(store_sql "SELECT payload FROM notifications WHERE case_id = '$M'
    AND channel = 'case.migrated'" | jq -s '[.[] | select(.to_version == 2 and .from_version == 1)] | length')" \
    "the feed carries case.migrated"
# re-running is harmless
snapshot rerun
expect_exit 0 cf --actor admin --reason "guidance 2026/7" workflow migrate polit --to 2 --cases "$M" "$A"
assert_contains "$OUT" "already on version 2" "a re-run says the case is there already"
assert_unchanged rerun "a re-run changes nothing"

# ---- a renamed state: --map -----------------------------------------------------------------
expect_exit 0 cf --actor admin --reason "rename" workflow migrate polit --to 3 --cases "$C" --dry-run
assert_contains "$OUT" "cannot move: state checks: version 3 has no such state" "dry run: no mapping"
expect_exit 0 cf --actor admin --reason "rename" workflow migrate polit --to 3 --cases "$C" --map checks=background_checks
assert_eq background_checks "$(state_of "$C")" "mapped to the renamed state"
act_ok analyst1 "$C" checks.completed "$(low_checks 2)" assessment
expect_exit 0 cf --actor admin audit verify

# ---- a broken guard freed --------------------------------------------------------------------
sed -i 's/^          to = policy.route,$/          to = function() error("broken guard") end,/' "$W/v4/polit.lua"
expect_exit 0 cf --actor admin --reason "migration test" workflow deploy --yes "$W/v4/polit.lua"
B=$(new_case E2E-MIG-BROKEN polit 203.0.113.15)
assert_eq 4 "$(case_field "$B" .workflow.version)" "a new case starts on the broken version"
to_checks "$B" 5
act_ok analyst1 "$B" checks.completed "$(low_checks 5)" assessment
expect_exit 70 cf --actor supervisor1 act "$B" assessment.approved --data '{}'
expect_exit 0 cf --actor admin --reason "free the broken case" workflow migrate polit --to 2 --cases "$B"
act_ok supervisor1 "$B" assessment.approved '{}' visit

# ---- a shorter low-grade deadline: the graded deadline moves ------------------------------------
mkdir -p "$W/v5"
cp -r "$W/v2/polit.lua" "$W/v2/policy.lua" "$W/v2/letters" "$W/v5/"
sed -i 's/^local deadline_days = { very_high = 1, high = 7, medium = 14, low = 30 }/local deadline_days = { very_high = 1, high = 7, medium = 14, low = 21 }/' "$W/v5/polit.lua"
grep -q 'low = 21' "$W/v5/polit.lua" || not_ok "v5 shortens the low-grade deadline"
expect_exit 0 cf --actor admin --reason "migration test" workflow deploy --yes "$W/v5/polit.lua"
assert_eq "assessment 2026-12-03T10:00:00Z" "$(case_field "$C" '.state + " " + .deadline_at')" \
    "graded low on v3: 30 days"
expect_exit 0 cf --actor admin --reason "21-day low grade" workflow migrate polit --to 5 --cases "$C" --json
assert_jq "$OUT" '.cases[0].deadline.was == "2026-12-03T10:00:00Z" and .cases[0].deadline.now == "2026-11-24T10:00:00Z"' \
    "the plan moves the deadline to 21 days from grading"
assert_eq "2026-11-24T10:00:00Z" "$(case_field "$C" .deadline_at)" "the case's deadline moved"
expect_exit 0 cf --actor admin audit verify

# ---- four eyes -------------------------------------------------------------------------------
expect_exit 0 cf --actor admin policy set migrate_four_eyes true
refused 77 "four eyes: no request" --actor admin --reason r workflow migrate polit --to 3 --cases "$A"
cases_snapshot req
expect_exit 0 cf --actor admin --reason "to v3" workflow migrate polit --to 3 --cases "$A" --request --json
REQ=$(jq -r .request "$OUT")
assert_jq "$OUT" '.request > 0' "a request is recorded"
cases_unchanged req "a request moves nothing"
refused 77 "approving one's own request" --actor admin --reason ok workflow migrate --approve "$REQ"
refused 66 "no such request" --actor admin2 --reason ok workflow migrate --approve 1
expect_exit 0 cf --actor admin2 --reason "checked" workflow migrate --approve "$REQ" --json
assert_jq "$OUT" ".approved == $REQ and .counts.migrated == 1" "a second administrator approves it"
assert_eq 3 "$(case_field "$A" .workflow.version)" "the case moved"
cf --actor supervisor1 --reason e2e history --json "$A" >"$OUT"
assert_jq "$OUT" ".[-1].actor == \"admin2\" and .[-1].data.requested_by == \"admin\" and .[-1].data.request == $REQ" \
    "the history names the requester and the approver"
refused 75 "a request approved twice" --actor admin2 --reason again workflow migrate --approve "$REQ"
expect_exit 0 cf --actor admin audit verify

# ---- the recomputed timer fires on time -------------------------------------------------------
export CASEFLOW_NOW=2027-05-01T10:00:00Z
expect_exit 0 cf --actor admin tick --json
assert_jq "$OUT" "map(select(.id == \"$M\")) | length == 0" "a day before 180 days: nothing"
export CASEFLOW_NOW=2027-05-02T10:00:00Z
expect_exit 0 cf --actor admin tick --json
assert_jq "$OUT" "map(select(.id == \"$M\" and .event == \"monitoring.expired\")) | length == 1" \
    "180 days after entering monitoring the timer fires"
assert_eq closed "$(state_of "$M")" "monitoring expired -> closed"
expect_exit 0 cf --actor admin audit verify

# ---- an intruder's edits are found ---------------------------------------------------------------
sql() { store_tamper "$1"; }
# forge ACTOR ROLE ACTION: a record with a correct hash at the tail (as
# cli_integrity.sh does), as anyone who can write the file can.
forge() {
    local head hseq hhash hat seq digest line hash
    head=$(sql "SELECT seq || ' ' || hash || ' ' || at FROM audit ORDER BY seq DESC LIMIT 1")
    read -r hseq hhash hat <<<"$head"
    seq=$((hseq + 1))
    digest=$(printf 'forged %s' "$seq" | sha256sum | cut -d' ' -f1)
    line=$(jq -cn --argjson s "$seq" --argjson a "$hat" --arg d "$digest" --arg p "$hhash" \
        --arg actor "$1" --arg role "$2" --arg action "$3" '[$s,$a,$actor,$role,$action,null,null,$d,$p]')
    hash=$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)
    sql "INSERT INTO audit VALUES($seq, $hat, '$1', '$2', '$3', NULL, NULL, '$digest', '$hhash', '$hash')"
}
CLEAN=$(store_for clean)
store_copy "$CASEFLOW_STORE" "$CLEAN"
forge supervisor1 supervisor workflow.migrate
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "only administrators record it" "a migration record by a supervisor is found"
store_copy "$CLEAN" "$CASEFLOW_STORE"
sql "UPDATE cases SET version = 1 WHERE id = '$C'"
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "case $C" "a case's version edited by hand is found"
expect_exit 65 cf --actor admin --reason r workflow migrate polit --to 2 --cases "$C" --dry-run
assert_contains "$ERR" "altered" "a migration plans nothing on an edited case"
assert_eq 1 "$(sql "SELECT count(*) FROM audit WHERE action = 'integrity.alarm'")" "and raises the alarm"
store_copy "$CLEAN" "$CASEFLOW_STORE"
expect_exit 0 cf --actor admin audit verify
finish
