#!/bin/bash
# Versions everywhere: the overdue flag and filter and tick's deadline.missed
# judge each case by the response states of the version it runs on;
# `workflow graph` draws the active version, any version or a file, with
# roles, timers and deadlines, as DOT (the same text every time), SVG or PNG
# through Graphviz's dot (exit 69 without it); the refusals.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_store
R=(--reason e2e)
applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
granted='{"authority":"OCDA","reference":"OCDA-2026-0001","urgent":false}'
resolved='{"name":"Test Subscriber One","address":{"line1":"1 Example Street","town":"Exampleton","postcode":"ZZ1 1ZZ"},"address_type":"installation","provider_reference":"ISP-REF-0001"}'
at_risk='{"occupants":[{"name":"Test Occupant Two","dob":"1975-05-05"}],"prior_history":true,"registered_sex_offender":false,"children_in_household":true,"access_to_children_at_work":false,"distribution_signs":true,"address_corroborated":true}'

# to_assessment ID: the case graded, its response deadline set.
to_assessment() {
    cf --actor officer1 act "$1" authorisation.applied --data "$applied" >/dev/null &&
        cf --actor authoriser1 act "$1" authorisation.granted --data "$granted" >/dev/null &&
        cf --actor officer1 act "$1" subscriber.resolved --data "$resolved" >/dev/null &&
        cf --actor analyst1 act "$1" checks.completed --data "$at_risk" >/dev/null ||
        not_ok "case $1 reaches assessment"
}

# Version 2 of polit: entering assessment counts as the response, and as a route.
WF2="$E2E_TMP/wf2"
cp -r "$CASEFLOW_SRCDIR/workflows" "$WF2"
chmod -R u+w "$WF2"
sed -i 's/response = { "warning", /response = { "assessment", "warning", /' "$WF2/polit.lua"
sed -i 's/routes = { "visit", /routes = { "assessment", "visit", /' "$WF2/polit.lua"
grep -q 'response = { "assessment",' "$WF2/polit.lua" &&
    grep -q 'routes = { "assessment",' "$WF2/polit.lua" || echo "Bail out! cannot make version 2"

V1=$(new_case VER-1)
to_assessment "$V1"
expect_exit 0 cf --actor admin --reason "e2e: assessment responds" workflow deploy --yes \
    "$WF2/polit.lua"
V2=$(new_case VER-2)
to_assessment "$V2"
assert_eq "1 2" "$(case_field "$V1" .workflow.version) $(case_field "$V2" .workflow.version)" \
    "one case on each version"
assert_eq "assessment assessment" "$(case_field "$V1" .state) $(case_field "$V2" .state)" \
    "both in assessment"

# ---- overdue by each case's own version ------------------------------------------
export CASEFLOW_NOW=2026-12-20T10:00:00Z
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --overdue
assert_jq "$OUT" "map(.id) == [\"$V1\"]" \
    "list --overdue: the v1 case (v2's response state is not v1's)"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list
assert_jq "$OUT" "map(select(.id == \"$V1\"))[0].overdue == true and
    map(select(.id == \"$V2\"))[0].overdue == false" "list: the overdue flag per version"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --overdue --state assessment
assert_jq "$OUT" "map(.id) == [\"$V1\"]" "list --overdue --state: the same"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --overdue --workflow polit@2
assert_jq "$OUT" 'length == 0' "list --overdue --workflow polit@2: none"
expect_exit 0 cf --actor admin tick --json
assert_jq "$OUT" "[.. | objects | select(.event? == \"deadline.missed\") | .id] == [\"$V1\"]" \
    "tick: deadline.missed on the v1 case only"
expect_exit 0 cf --actor admin audit verify

# ---- workflow graph ----------------------------------------------------------------
expect_exit 0 cf --actor admin workflow graph polit
assert_contains "$OUT" 'digraph "polit_v2" {' "graph: the active version by default"
assert_contains "$OUT" 'roles: supervisor' "graph: a state's roles"
assert_contains "$OUT" 'timer: 365d -> monitoring.expired' "graph: the monitoring timer"
assert_contains "$OUT" 'deadlines: very_high 1d, high 7d, medium 14d, low 30d' \
    "graph: the response deadlines by grade"
assert_contains "$OUT" '"monitoring" -> "closed" [label="monitoring.expired\nafter 365d' \
    "graph: the timer's edge"
assert_contains "$OUT" '[authoriser]' "graph: a transition's roles"
cp "$OUT" "$E2E_TMP/v2.dot"
expect_exit 0 cf --actor admin workflow graph polit
assert_eq "" "$(cmp "$OUT" "$E2E_TMP/v2.dot")" "graph: the same DOT every time"
expect_exit 0 cf --actor admin workflow graph polit --version 1
assert_contains "$OUT" 'digraph "polit_v1" {' "graph --version 1"
expect_exit 0 cf --actor admin workflow activate polit 1 --reason "e2e: rollback"
expect_exit 0 cf --actor admin workflow graph polit
assert_contains "$OUT" 'digraph "polit_v1" {' "graph: the active version after a rollback"
# a file before it is deployed: no store needed
expect_exit 0 env CASEFLOW_STORE=/nonexistent/x.db "$CASEFLOW_BIN" workflow graph "$WF2/polit.lua"
assert_contains "$OUT" 'digraph "polit" {' "graph FILE"
expect_exit 0 cf workflow graph "$WF2/polit.lua" --output "$E2E_TMP/file.dot"
assert_eq "" "$(cmp "$E2E_TMP/file.dot" "$OUT" 2>&1 | grep -v EOF)" "graph --output: nothing on stdout"
assert_contains "$E2E_TMP/file.dot" '"intake" [shape=box' "graph --output FILE: the DOT"
expect_exit 0 cf --json workflow graph "$WF2/polit.lua"
assert_jq "$OUT" '.dot | startswith("digraph")' "graph --json"

if command -v dot >/dev/null 2>&1; then
    expect_exit 0 cf --actor admin workflow graph polit --version 2 --format svg
    assert_contains "$OUT" '<svg' "graph --format svg: an SVG document"
    for s in intake authorisation assessment monitoring warrant closed; do
        assert_contains "$OUT" ">$s</text>" "graph --format svg: state $s as text"
    done
    expect_exit 0 cf workflow graph "$WF2/polit.lua" --format png --output "$E2E_TMP/g.png"
    assert_eq 89504e470d0a1a0a "$(head -c 8 "$E2E_TMP/g.png" | od -An -tx1 | tr -d ' \n')" \
        "graph --format png: the PNG signature"
else
    ok "# SKIP graph --format svg/png: Graphviz's dot is not installed"
fi
mkdir -p "$E2E_TMP/nodot"
expect_exit 69 env PATH="$E2E_TMP/nodot" "$CASEFLOW_BIN" workflow graph "$WF2/polit.lua" \
    --format svg
assert_contains "$ERR" "graphviz" "no dot: the error says to install graphviz"
snapshot graph
expect_exit 64 cf --actor admin workflow graph polit --format pdf
assert_contains "$ERR" "--format" "a bad format names --format"
expect_exit 64 cf --actor admin workflow graph "$WF2/polit.lua" --version 2
expect_exit 64 cf --actor admin --json workflow graph polit --format svg
expect_exit 69 cf --actor admin workflow graph polit --version 9
expect_exit 69 cf --actor admin workflow graph nosuch
expect_exit 66 cf workflow graph "$E2E_TMP/nosuch.lua"
expect_exit 64 cf --actor admin workflow graph polit --grade high
assert_unchanged graph "graph and its refusals write nothing"

# ---- report: each case by its own version, counts and a filter by version --------
# (after the rollback above: version 1 is active, version 2 the latest)
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json report
assert_jq "$OUT" '.version == null and .routes.assessment.cases == 1' \
    "report: assessment entered counts only the v2 case (v1 does not count it a route)"
assert_jq "$OUT" '.routes | has("visit") and has("warrant")' "report: the routes of both versions"
assert_jq "$OUT" '.by_version == {"1": {"cases": 1, "by_state": {"assessment": 1}},
    "2": {"cases": 1, "by_state": {"assessment": 1}}}' "report: cases by version and state"
assert_jq "$OUT" '.deadlines.very_high.missed == 1 and .deadlines.very_high.met == 1' \
    "report: deadlines by each case's own response states"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json report --workflow polit@1
assert_jq "$OUT" '.version == 1 and (.routes | has("assessment") | not) and
    (.by_version | keys) == ["1"] and .by_state == {"assessment": 1}' "report --workflow polit@1"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json report --version 2
assert_jq "$OUT" '.version == 2 and .routes.assessment.cases == 1 and
    (.by_version | keys) == ["2"] and .deadlines.very_high.met == 1' "report --version 2"
expect_exit 0 cf --actor supervisor1 "${R[@]}" report --version 2
assert_contains "$OUT" "workflow polit, version 2," "report text: the version in the title"
assert_contains "$OUT" "Cases by version (and state)" "report text: cases by version"
assert_contains "$OUT" "  v2 " "report text: version 2's line"
snapshot report
expect_exit 69 cf --actor supervisor1 "${R[@]}" report --version 9
expect_exit 64 cf --actor supervisor1 "${R[@]}" report --workflow polit@x
expect_exit 64 cf --actor supervisor1 "${R[@]}" report --workflow polit@1 --version 2
assert_unchanged report "refused reports"
expect_exit 0 cf --actor admin audit verify

finish
