#!/bin/bash
# workflow simulate (issue 9, item 2): the recorded cases of a store with
# cases in every state replayed through candidate workflows. A candidate
# identical to the deployed one changes nothing; one that holds cases with
# children in the household in a new safeguarding_review state before the
# route decision shows the three urgent cases held there (and the warrant
# each then had recorded, now refused); a shorter monitoring period shows
# the timer of the case in monitoring; one that requires a new field of
# authorisation.applied shows every case refused at that step. Nothing is
# written but one consultation record; audit verify passes; the refusals
# (66, 65, 64, 77) leave the store unchanged. deploy --dry-run ends with the
# same summary.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_store

state_of() { case_field "$1" .state; }
act_ok() {
    expect_exit 0 cf --actor "$1" act "$2" "$3" --data "$4" &&
        assert_eq "$5" "$(state_of "$2")" "$3 -> $5"
}
applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
granted='{"authority":"OCDA","reference":"OCDA-2026-0001","urgent":false}'
urgent='{"authority":"OCDA","reference":"OCDA-2026-0002","urgent":true}'
resolved() {
    printf '{"name":"Test Subscriber %s","address":{"line1":"%s Example Street","town":"Exampleton","postcode":"ZZ1 1ZZ"},"address_type":"installation","provider_reference":"ISP-REF-%s"}' "$1" "$1" "$1"
}
# checks N CHILDREN: the checks of occupant N, children in the household or not.
checks() {
    printf '{"occupants":[{"name":"Test Occupant %s","dob":"1980-01-0%s"}],"prior_history":false,"registered_sex_offender":false,"children_in_household":%s,"access_to_children_at_work":false,"distribution_signs":false,"address_corroborated":true}' "$1" "$1" "$2"
}
visited='{"advice_given":true,"letter_issued":false,"security_advice":true,"signposted":true}'
# to_assessment ID N CHILDREN [GRANT]: authorised, resolved, checked.
to_assessment() {
    act_ok officer1 "$1" authorisation.applied "$applied" authorisation
    act_ok authoriser1 "$1" authorisation.granted "${4:-$granted}" subscriber
    act_ok analyst1 "$1" subscriber.resolved "$(resolved "$2")" checks
    act_ok analyst1 "$1" checks.completed "$(checks "$2" "$3")" assessment
}

# ---- a store with cases in every state ------------------------------------------------------
# A case whose monitoring ends a year later (the engine fires its timer).
DONE=$(new_case E2E-SIM-DONE polit 203.0.113.27)
to_assessment "$DONE" 8 false
act_ok supervisor1 "$DONE" assessment.approved '{}' visit
act_ok officer1 "$DONE" visit.completed "$visited" monitoring
VISIT=$(new_case E2E-SIM-VISIT polit 203.0.113.22)
to_assessment "$VISIT" 2 false
act_ok supervisor1 "$VISIT" assessment.approved '{}' visit
ASSESS=$(new_case E2E-SIM-ASSESS polit 203.0.113.23)
to_assessment "$ASSESS" 3 true
CHECKS=$(new_case E2E-SIM-CHECKS polit 203.0.113.24)
act_ok officer1 "$CHECKS" authorisation.applied "$applied" authorisation
act_ok authoriser1 "$CHECKS" authorisation.granted "$granted" subscriber
act_ok analyst1 "$CHECKS" subscriber.resolved "$(resolved 4)" checks
AUTH=$(new_case E2E-SIM-AUTH polit 203.0.113.25)
REFUSED=$(new_case E2E-SIM-REFUSED polit 203.0.113.26)
act_ok officer1 "$REFUSED" authorisation.applied "$applied" authorisation
act_ok authoriser1 "$REFUSED" authorisation.refused '{"reason":"not proportionate"}' closed
# Three urgent cases with children in the household: enforcement, a warrant
# (which expires unexecuted: the engine fires its timer in the tick below).
export CASEFLOW_NOW=2026-11-04T09:00:00Z
KIDS=()
for n in 5 6 7; do
    K=$(new_case "E2E-SIM-KIDS-$n" polit "203.0.113.3$n")
    to_assessment "$K" "$n" true "$urgent"
    act_ok supervisor1 "$K" assessment.approved '{}' enforcement
    act_ok officer1 "$K" warrant.issued '{"court":"Example Magistrates","issued_at":"2026-11-04T08:30:00Z"}' warrant
    KIDS+=("$K")
done
# A case in monitoring since June 2027.
export CASEFLOW_NOW=2027-06-01T10:00:00Z
MON=$(new_case E2E-SIM-MON polit 203.0.113.21)
to_assessment "$MON" 1 false
act_ok supervisor1 "$MON" assessment.approved '{}' visit
act_ok officer1 "$MON" visit.completed "$visited" monitoring
export CASEFLOW_NOW=2027-11-05T09:00:00Z
expect_exit 0 cf --actor admin tick --json
assert_eq closed "$(state_of "$DONE")" "the first monitoring period ended"
assert_eq monitoring "$(state_of "$MON")" "the second goes on"
assert_eq enforcement "$(state_of "${KIDS[0]}")" "the warrants expired"
: "$AUTH" "$CHECKS" "$VISIT" "$REFUSED"
TOTAL=$(store_sql "SELECT count(*) FROM cases")

# ---- the candidates ---------------------------------------------------------------------------
W="$E2E_TMP/wf"
for v in same review short refuse; do
    mkdir -p "$W/$v"
    cp -r "$CASEFLOW_SRCDIR/workflows/polit.lua" "$CASEFLOW_SRCDIR/workflows/policy.lua" \
        "$CASEFLOW_SRCDIR/workflows/letters" "$W/$v/"
done
# review: children in the household -> safeguarding_review before any route.
cat >>"$W/review/policy.lua.new" <<'EOF'
local base = policy.route
function policy.route(case, event)
  local checks = case.data.checks or {}
  if checks.children_in_household == true and case.data.safeguarding_cleared == nil then
    return "safeguarding_review"
  end
  return base(case, event)
end
policy.route_targets = { "visit", "enforcement", "hold", "safeguarding_review" }
return policy
EOF
sed -i '$d' "$W/review/policy.lua" # its final "return policy"
cat "$W/review/policy.lua.new" >>"$W/review/policy.lua"
rm "$W/review/policy.lua.new"
python3 - "$W/review/polit.lua" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace('''    -- An uncorroborated address waits here.''', '''    -- Children in the household: a safeguarding review before any route.
    safeguarding_review = {
      roles = { "supervisor" },
      on = {
        ["safeguarding.cleared"] = { to = policy.route, targets = policy.route_targets },
      },
    },

    -- An uncorroborated address waits here.''')
open(p, "w").write(s)
EOF
sed -i 's/^local monitoring_days = 365/local monitoring_days = 180/' "$W/short/polit.lua"
sed -i 's/            legal_basis = optional_text,/            legal_basis = "string",/' "$W/refuse/polit.lua"
grep -q 'legal_basis = "string"' "$W/refuse/polit.lua" || not_ok "the refusing candidate is made"
grep -q 'safeguarding_review = {' "$W/review/polit.lua" || not_ok "the review candidate is made"

# ---- identical: nothing diverges --------------------------------------------------------------
# The tables a simulation must leave as they are (its consultation records
# go into audit).
tables() { store_dump_tables "$CASEFLOW_STORE" cases timers events tasks keys notifications users workflows policies records; }
tables >"$E2E_TMP/tables.before"
expect_exit 0 cf --actor admin --reason "review guidance 2026/8" workflow simulate "$W/same/polit.lua" --json
assert_jq "$OUT" ".summary.replayed == $TOTAL and .summary.unchanged == $TOTAL and (.cases | length) == 0" \
    "an identical candidate: every case replayed, none diverges"
assert_jq "$OUT" '.by_state.closed.replayed == 2 and .by_state.enforcement.unchanged == 3' "counted by state"
expect_exit 0 cf --actor admin --reason "review guidance 2026/8" workflow simulate "$W/same/polit.lua"
assert_contains "$OUT" "$TOTAL cases replayed, $TOTAL unchanged, 0 change route, 0 now refused" "the summary line"
assert_contains "$OUT" "STATE" "the table by state"

# The recorded version's intake plugin replaced by another build (the same
# code, one byte longer: another SHA-256, so pinning leaves the recorded
# version's intake state unbound): the rows it emitted are still told from
# people's acts by the candidate's plugin of the same name, so an identical
# candidate still changes nothing (it used to report every case refused).
PB="$E2E_TMP/plugins-rebuilt"
mkdir -p "$PB"
for d in "${CASEFLOW_PLUGIN_PATH%%:*}"/*/.libs; do cp "$d"/*.so "$PB/"; done
printf '\0' >>"$PB/referral.so"
expect_exit 0 env CASEFLOW_PLUGIN_PATH="$PB" "$CASEFLOW_BIN" --actor admin \
    --reason "review guidance 2026/8" workflow simulate "$W/same/polit.lua" --json
assert_jq "$OUT" ".summary.replayed == $TOTAL and .summary.unchanged == $TOTAL" \
    "a replaced build of the recorded version's plugin: still every case unchanged"
rm -rf "$PB"

# ---- the safeguarding review ------------------------------------------------------------------
expect_exit 0 cf --actor admin --reason "review guidance 2026/8" workflow simulate "$W/review/polit.lua" --json
assert_jq "$OUT" '.summary.route == 3 and .summary.refused == 3' "three cases change route, and are refused after"
for K in "${KIDS[@]}"; do
    assert_jq "$OUT" ".cases[] | select(.id == \"$K\") | .divergences[0].kind == \"state\" and .divergences[0].event == \"assessment.approved\" and .divergences[0].recorded == \"enforcement\" and .divergences[0].candidate == \"safeguarding_review\"" \
        "$K would be held in safeguarding_review"
    assert_jq "$OUT" ".cases[] | select(.id == \"$K\") | .divergences[1].kind == \"refused\" and .divergences[1].event == \"warrant.issued\" and (.divergences[1].message | test(\"does not take event warrant.issued\"))" \
        "$K: the warrant recorded then is refused, with the refusal's message"
done
assert_jq "$OUT" "[.cases[].id] | index(\"$ASSESS\") == null" "a children case not yet approved is unchanged"
# The same report whether the replays run on worker threads or on one.
jq -S 'del(.file)' "$OUT" >"$E2E_TMP/threads.json"
CASEFLOW_SIMULATE_THREADS=0 expect_exit 0 cf --actor admin --reason "review guidance 2026/8" workflow simulate "$W/review/polit.lua" --json
assert_eq "$(cat "$E2E_TMP/threads.json")" "$(jq -S 'del(.file)' "$OUT")" "threads or none: the same report"
CASEFLOW_SIMULATE_THREADS=3 expect_exit 0 cf --actor admin --reason "review guidance 2026/8" workflow simulate "$W/review/polit.lua" --json
assert_eq "$(cat "$E2E_TMP/threads.json")" "$(jq -S 'del(.file)' "$OUT")" "three threads: the same report"
expect_exit 0 cf --actor admin --reason "review guidance 2026/8" workflow simulate "$W/review/polit.lua"
assert_contains "$OUT" "${KIDS[0]}  now enforcement (v1): now refused" "the human report names the case"
assert_contains "$OUT" "state safeguarding_review, was enforcement" "and where it diverges"
assert_contains "$OUT" "3 change route, 3 now refused" "the summary"
# --cases: only those
expect_exit 0 cf --actor admin --reason r workflow simulate "$W/review/polit.lua" --cases "${KIDS[0]}" "$MON" --json
assert_jq "$OUT" '.summary.replayed == 2 and .summary.refused == 1' "--cases replays the cases named"
# --since: cases referred from the 4th (the three, and the case closed by its timer)
expect_exit 0 cf --actor admin --reason r workflow simulate "$W/review/polit.lua" --since 2026-11-04 --json
assert_jq "$OUT" '.summary.replayed == 4 and .summary.refused == 3' "--since replays the cases referred since"

# ---- a shorter monitoring period ----------------------------------------------------------------
expect_exit 0 cf --actor admin --reason r workflow simulate "$W/short/polit.lua" --json
assert_jq "$OUT" "[.cases[] | select(.id == \"$MON\") | .divergences[] | select(.kind == \"timer\")][0] | .recorded == \"2028-05-31T10:00:00Z\" and .candidate == \"2027-11-28T10:00:00Z\" and .message == \"timer monitoring.expired\"" \
    "the case in monitoring: its timer 365 -> 180 days"
assert_jq "$OUT" "[.cases[] | select(.id == \"$DONE\") | .divergences[]][0] | .kind == \"timer\" and .event == \"monitoring.expired\" and .recorded == \"2027-11-03T10:00:00Z\" and .candidate == \"2027-05-02T10:00:00Z\"" \
    "the case whose monitoring ended: its timer was due 185 days earlier"
assert_jq "$OUT" '.summary.route == 0 and .summary.refused == 0 and .summary.other == 2' "no route changes"

# ---- a candidate that refuses an event ----------------------------------------------------------
expect_exit 0 cf --actor admin --reason r workflow simulate "$W/refuse/polit.lua" --json
N_APPLIED=$(store_sql "SELECT count(DISTINCT case_id) FROM events WHERE event = 'authorisation.applied'")
assert_jq "$OUT" ".summary.refused == $N_APPLIED" "every case that applied is refused ($N_APPLIED)"
assert_jq "$OUT" "[.cases[] | .divergences[-1] | select(.kind == \"refused\" and .event == \"authorisation.applied\" and (.message | test(\"legal_basis\")))] | length == $N_APPLIED" \
    "at authorisation.applied, naming the field"

# ---- nothing written but the consultation records -----------------------------------------------
if tables | cmp -s - "$E2E_TMP/tables.before"; then
    ok "the case, workflow, user and policy tables are unchanged"
else
    not_ok "simulate changed a table"
fi
expect_exit 0 cf --actor admin audit verify
# (audit rows counted by SQL: pg_dump writes COPY, not INSERT)
n_audit=$(store_sql "SELECT count(*) FROM audit")
expect_exit 0 cf --actor admin --reason r workflow simulate "$W/review/polit.lua"
assert_eq 1 "$(( $(store_sql "SELECT count(*) FROM audit") - n_audit ))" \
    "one simulate adds one audit record"
assert_eq "consultation|admin|r" \
    "$(store_sql "SELECT action, actor, justification FROM audit ORDER BY seq DESC LIMIT 1")" \
    "a consultation by the administrator with the reason"
expect_exit 0 cf --actor admin audit verify

# ---- refusals -------------------------------------------------------------------------------------
refused() {
    local code=$1 what=$2
    shift 2
    snapshot refused
    expect_exit "$code" cf "$@"
    assert_unchanged refused "$what"
}
refused 66 "no such file" --actor admin --reason r workflow simulate "$W/nowhere.lua"
printf 'return workflow { name = "polit", initial = "nowhere", states = { } \n' >"$W/bad.lua"
refused 65 "not a valid workflow" --actor admin --reason r workflow simulate "$W/bad.lua"
assert_contains "$ERR" "bad.lua" "the one line names the file"
refused 66 "an unknown case" --actor admin --reason r workflow simulate "$W/same/polit.lua" --cases CF-999999
assert_contains "$ERR" "CF-999999" "naming the case"
refused 64 "a bad --since" --actor admin --reason r workflow simulate "$W/same/polit.lua" --since 2026-13-45
assert_contains "$ERR" "--since" "naming --since"
refused 77 "a user who may not" --actor supervisor1 --reason r workflow simulate "$W/same/polit.lua"
expect_exit 0 cf --actor admin user disable analyst1
refused 77 "a disabled user" --actor analyst1 --reason r workflow simulate "$W/same/polit.lua"
refused 64 "no reason" --actor admin workflow simulate "$W/same/polit.lua"
refused 64 "migrate's options" --actor admin --reason r workflow simulate "$W/same/polit.lua" --to 2

# ---- progress: a line on a terminal, nothing piped (expect_exit: no stderr) ------------------------
if command -v script >/dev/null 2>&1; then
    CASEFLOW_PROGRESS_AFTER=0 script -qec "'$CASEFLOW_BIN' --actor admin --reason r workflow simulate '$W/same/polit.lua'" \
        /dev/null </dev/null >"$E2E_TMP/sim.tty" 2>&1
    if LC_ALL=C grep -aq $'\rcaseflow: workflow simulate [0-9,]*/[0-9,]*  [0-9,]*/s' "$E2E_TMP/sim.tty"; then
        ok "on a terminal: a progress line with the count of the total and a rate"
    else
        not_ok "on a terminal: no progress line"
        head -c 400 "$E2E_TMP/sim.tty" | cat -A | sed 's/^/#   /'
    fi
    assert_contains "$E2E_TMP/sim.tty" "$TOTAL unchanged" "and the report after it"
fi

# ---- deploy --dry-run ends with the summary ---------------------------------------------------------
snapshot dry
expect_exit 0 cf --actor admin --reason "guidance 2026/8" workflow deploy --dry-run "$W/review/polit.lua"
assert_contains "$OUT" "3 change route, 3 now refused" "deploy --dry-run prints the simulation summary"
expect_exit 0 cf --actor admin --reason "guidance 2026/8" workflow deploy --dry-run --json "$W/review/polit.lua"
assert_jq "$OUT" '.simulation.summary.route == 3 and .dry_run == true' "and --json carries it"
expect_exit 0 cf --actor admin audit verify
assert_eq 1 "$(store_sql "SELECT count(*) FROM workflows")" "nothing deployed"

finish
