#!/bin/bash
# The polit workflow's lifecycle through the real command (the contract of
# issue 3): a low-risk case down the visit route to monitoring and, a year
# later by the engine clock, closed by its timer; a high-risk case down the
# enforcement route, through a lapsed warrant, to an outcome; the refusals
# (wrong role 77, wrong state 65, four-eyes 77, a billing address 65, a
# stale revision 75) each leaving the store as it was.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

if [ ! -f "$POLIT" ]; then
    echo "# $POLIT does not exist yet"
    exit 77
fi
export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_store
expect_exit 0 cf --actor admin user add dual1 --role officer,authoriser

state_of() { case_field "$1" .state; }

# act_ok ACTOR ID EVENT DATA STATE: the event is taken and the case is in STATE.
act_ok() {
    expect_exit 0 cf --actor "$1" act "$2" "$3" --data "$4" &&
        assert_eq "$5" "$(state_of "$2")" "$3 -> $5"
}

# refused CODE ACTOR ID EVENT DATA: refused with CODE, the store unchanged.
refused() {
    local code=$1
    shift
    snapshot refused
    expect_exit "$code" cf --actor "$1" act "$2" "$3" --data "$4"
    assert_unchanged refused "$3 by $1 refused"
}

applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
granted='{"authority":"OCDA","reference":"OCDA-2026-0001","urgent":false}'
resolved='{"name":"Test Subscriber One","address":{"line1":"1 Example Street","town":"Exampleton","postcode":"ZZ1 1ZZ"},"address_type":"installation","provider_reference":"ISP-REF-0001"}'
billing='{"name":"Test Subscriber One","address":{"line1":"PO Box 1","town":"Exampleton","postcode":"ZZ1 1ZZ"},"address_type":"billing","provider_reference":"ISP-REF-0001"}'
low_checks='{"occupants":[{"name":"Test Occupant One","dob":"1980-01-01"}],"prior_history":false,"registered_sex_offender":false,"children_in_household":false,"access_to_children_at_work":false,"distribution_signs":false,"address_corroborated":true}'
high_checks='{"occupants":[{"name":"Test Occupant Two","dob":"1975-05-05"}],"prior_history":true,"registered_sex_offender":false,"children_in_household":true,"access_to_children_at_work":false,"distribution_signs":true,"address_corroborated":true}'

# ---- the visit route ---------------------------------------------------------------
V=$(new_case E2E-POLIT-VISIT)
assert_eq authorisation "$(state_of "$V")" "a new case waits for authorisation"
refused 77 analyst1 "$V" authorisation.applied "$applied"
refused 65 officer1 "$V" visit.completed '{"advice_given":true}'
act_ok officer1 "$V" authorisation.applied "$applied" authorisation
refused 77 officer1 "$V" authorisation.granted "$granted"
act_ok authoriser1 "$V" authorisation.granted "$granted" subscriber
refused 65 analyst1 "$V" subscriber.resolved "$billing"
R=$(case_field "$V" .revision)
act_ok analyst1 "$V" subscriber.resolved "$resolved" checks
snapshot stale
expect_exit 75 cf --actor analyst1 act "$V" checks.completed --data "$low_checks" --revision "$R"
assert_unchanged stale "a stale --revision"
refused 77 officer1 "$V" checks.completed "$low_checks"
act_ok analyst1 "$V" checks.completed "$low_checks" assessment
assert_jq <(cf --actor supervisor1 --reason e2e show --json "$V") '.data.risk.grade == "low"' \
    "a category C, once, no-history case grades low"
act_ok supervisor1 "$V" assessment.approved '{}' visit
act_ok officer1 "$V" visit.no_answer '{}' visit
act_ok officer1 "$V" visit.completed \
    '{"advice_given":true,"letter_issued":true,"security_advice":true,"signposted":true}' monitoring
expect_exit 0 cf --actor admin tick --json
assert_jq "$OUT" '. == []' "monitoring: nothing due the same day"
# Time in the chain only moves forward: the rest of the test lives after this.
export CASEFLOW_NOW=2027-11-04T10:00:00Z
expect_exit 0 cf --actor admin tick --json
assert_jq "$OUT" "map(select(.id == \"$V\")) | length == 1 and .[0].event == \"monitoring.expired\"" \
    "a year later the monitoring timer fires"
assert_eq closed "$(state_of "$V")" "monitoring expired -> closed"
assert_eq warned_no_further_reports "$(case_field "$V" .data.outcome)" "outcome after a letter"
export CASEFLOW_NOW=2027-11-05T10:00:00Z
expect_exit 0 cf --actor admin tick --json
assert_jq "$OUT" '. == []' "a second tick fires nothing"

# ---- four eyes and refusal -----------------------------------------------------------
F=$(new_case E2E-POLIT-FOUR-EYES polit 198.51.100.23)
act_ok dual1 "$F" authorisation.applied "$applied" authorisation
refused 77 dual1 "$F" authorisation.granted "$granted"
act_ok authoriser1 "$F" authorisation.refused '{"reason":"not proportionate"}' closed
assert_eq authorisation_refused "$(case_field "$F" .data.outcome)" "refused authorisation outcome"
refused 65 officer1 "$F" authorisation.applied "$applied"

# ---- the enforcement route, with a lapsed warrant ----------------------------------------
E=$(new_case E2E-POLIT-ENFORCE polit 192.0.2.10 A)
act_ok officer1 "$E" authorisation.applied "$applied" authorisation
act_ok authoriser1 "$E" authorisation.granted "$granted" subscriber
act_ok officer1 "$E" subscriber.resolved "$resolved" checks
act_ok analyst1 "$E" checks.completed "$high_checks" assessment
act_ok supervisor1 "$E" assessment.approved '{}' enforcement
act_ok officer1 "$E" warrant.issued '{"court":"Exampleton Magistrates","issued_at":"2027-11-05T09:30:00Z"}' warrant
export CASEFLOW_NOW=2028-03-06T10:00:00Z
expect_exit 0 cf --actor admin tick --json
assert_jq "$OUT" "map(select(.id == \"$E\" and .event == \"warrant.expired\")) | length == 1" \
    "an unexecuted warrant lapses after three months"
assert_eq enforcement "$(state_of "$E")" "warrant.expired -> enforcement"
export CASEFLOW_NOW=2028-03-07T10:00:00Z
act_ok officer1 "$E" warrant.issued '{"court":"Exampleton Magistrates","issued_at":"2028-03-07T09:00:00Z"}' warrant
act_ok officer1 "$E" warrant.executed \
    '{"arrested":true,"voluntary_interview":false,"devices":[{"exhibit":"EX-0001","type":"laptop"}]}' forensics
act_ok officer1 "$E" forensics.completed '{"counts":{"A":0,"B":2,"C":14}}' charging
refused 77 officer1 "$E" outcome.recorded '{"outcome":"charged"}'
act_ok supervisor1 "$E" outcome.recorded '{"outcome":"charged"}' closed
assert_eq charged "$(case_field "$E" .data.outcome)" "the recorded outcome"

# ---- every case's history holds the whole story ---------------------------------------------
cf --actor supervisor1 --reason e2e history --json "$E" >"$OUT"
assert_jq "$OUT" '[.[].event] | index("warrant.expired") != null' "the lapse is in the history"
assert_jq "$OUT" 'all(.[]; .at | test("Z$"))' "history times are UTC"
expect_exit 0 cf --actor admin audit verify
finish
