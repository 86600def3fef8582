#!/bin/bash
# Workflow administration: diff between two versions and between a version
# and a file; deploy needs --reason and --yes off a terminal, --dry-run
# writes nothing, a source deployed before is that version again (no copy);
# activate an earlier version (a rollback), referrals then start on it,
# workflow list marks it and counts open cases per version, audit verify
# passes and finds an edit of the activation; list --workflow NAME@VERSION;
# the refusals leave the store as it was.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_store
applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'

# Version 2 of polit: monitoring 365 -> 180 days, a refused authorisation
# goes to a new final state "archived" and is a supervisor's decision.
WF2="$E2E_TMP/wf2"
cp -r "$CASEFLOW_SRCDIR/workflows" "$WF2"
chmod -R u+w "$WF2"
sed -i 's/^local monitoring_days = 365/local monitoring_days = 180/
s/^    closed = { final = true },/    closed = { final = true },\n    archived = { final = true },/' \
    "$WF2/polit.lua"
perl -0pi -e 's/(\["authorisation\.refused"\] = \{\s*)to = "closed",(\s*)roles = \{ "authoriser" \}/${1}to = "archived",${2}roles = { "supervisor" }/' \
    "$WF2/polit.lua"
grep -q 'to = "archived",' "$WF2/polit.lua" || echo "Bail out! cannot make version 2 of polit"
# Version 3: the letter's deadline table changes only.
WF3="$E2E_TMP/wf3"
cp -r "$WF2" "$WF3"
sed -i 's/medium = 14, low = 30/medium = 14, low = 21/' "$WF3/polit.lua"

# Cases on version 1: two open, one closed.
A=$(new_case ADM-A)
B=$(new_case ADM-B)
E=$(new_case ADM-E)
expect_exit 0 cf --actor officer1 act "$B" authorisation.applied --data "$applied"
expect_exit 0 cf --actor authoriser1 act "$B" authorisation.refused \
    --data '{"reason":"not proportionate"}'
assert_eq closed "$(case_field "$B" .state)" "case B is closed"

# ---- diff: a version against a file ---------------------------------------------
expect_exit 0 cf --actor admin workflow diff --json polit 1 "$WF2/polit.lua"
cp "$OUT" "$E2E_TMP/diff-file.json"
assert_jq "$OUT" '.from.version == 1 and (.to.file | endswith("polit.lua")) and
    (.identical | not) and (.changes | length) == 4' "four changes from v1 to the file"
assert_jq "$OUT" '.changes | any(.kind == "state" and .change == "added" and .state == "archived")' \
    "state archived added"
assert_jq "$OUT" '.changes | any(.kind == "timer" and .change == "changed" and
    .state == "monitoring" and .from.seconds == 31536000 and .to.seconds == 15552000)' \
    "the monitoring timer 365 -> 180 days"
assert_jq "$OUT" '.changes | any(.kind == "transition" and .change == "changed" and
    .state == "authorisation" and .event == "authorisation.refused" and
    .from.target == "closed" and .to.target == "archived" and .to.roles == ["supervisor"])' \
    "the refused transition: target and roles changed"
assert_jq "$OUT" '.changes | any(.kind == "setting" and .key == "monitoring_days" and
    .from == 365 and .to == 180)' "the setting monitoring_days changed"
assert_jq "$OUT" '.source | contains("-local monitoring_days = 365\n+local monitoring_days = 180\n")' \
    "the source diff has the changed line"
assert_jq "$OUT" '.source | contains("+    archived = { final = true },\n")' \
    "the source diff has the added line"
assert_jq "$OUT" '.source | test("@@ -[0-9]+,[0-9]+ \\+[0-9]+,[0-9]+ @@")' "hunk headers"

# ---- deploy: --reason, --yes, --dry-run --------------------------------------------
snapshot before_deploy
expect_exit 64 cf --actor admin workflow deploy --yes "$WF2/polit.lua"
assert_contains "$ERR" "--reason" "deploy without --reason names --reason"
expect_exit 64 cf --actor admin --reason "e2e" workflow deploy "$WF2/polit.lua"
assert_contains "$ERR" "--yes" "deploy off a terminal without --yes names --yes"
expect_exit 64 cf --actor admin --reason "e2e" workflow deploy --dry-run
expect_exit 77 cf --actor supervisor1 --reason "e2e" workflow deploy --yes "$WF2/polit.lua"
assert_unchanged before_deploy "refused deploys"
# --inactive on a workflow's first version: nothing else could be active
cp -r "$CASEFLOW_SRCDIR/tests/data/engine" "$E2E_TMP/other"
sed -i 's/name = "flow"/name = "other"/; s/step = "good", //' "$E2E_TMP/other/flow.lua"
expect_exit 65 cf --actor admin --reason "e2e" workflow deploy --yes --inactive \
    "$E2E_TMP/other/flow.lua"
assert_contains "$ERR" "--inactive" "the refusal names --inactive"
assert_unchanged before_deploy "--inactive on a first version"
expect_exit 0 cf --actor admin --reason "e2e: rehearse" workflow deploy --dry-run "$WF2/polit.lua"
assert_contains "$OUT" "4 changes" "the dry run prints the changes"
assert_contains "$OUT" "~ timer monitoring: 365d monitoring.expired -> 180d monitoring.expired" \
    "the dry run shows the timer change"
assert_contains "$OUT" "would deploy polit as version 2, active; nothing deployed" \
    "the dry run says what a deploy would do"
assert_contains "$OUT" "workflow simulate" "the dry run points at simulate"
expect_exit 0 cf --actor admin --reason "e2e: rehearse" workflow deploy --dry-run --json \
    "$WF2/polit.lua"
assert_jq "$OUT" '.dry_run == true and .version == 2 and .created == true and
    (.findings | length) == 0 and (.diff.changes | length) == 4' "the dry run as JSON"
# The dry run's replay of the recorded cases (workflow simulate) is a read
# of case data: its consultation record is all it writes. (A dump without
# the consultation records, and their number: sqlite3 dumps a row as an
# INSERT, pg_dump as a tab-separated line in the COPY of table audit, whose
# fifth column is the action.)
if is_pg_store "$CASEFLOW_STORE"; then
    no_consultations() { awk -F'\t' '/^COPY caseflow\.audit /{a=1} /^\\\.$/{a=0} !(a && $5 == "consultation")'; }
    consultations() { awk -F'\t' '/^COPY caseflow\.audit /{a=1} /^\\\.$/{a=0} a && $5 == "consultation"{n++} END{print n+0}'; }
else
    no_consultations() { grep -v '^INSERT INTO audit VALUES(.*,.consultation.,'; }
    consultations() { grep -c "'consultation'"; }
fi
store_dump | no_consultations >"$E2E_TMP/dry.dump"
if no_consultations <"$E2E_TMP/before_deploy.dump" |
    cmp -s - "$E2E_TMP/dry.dump"; then
    ok "deploy --dry-run deploys nothing"
else
    not_ok "deploy --dry-run changed the store"
fi
assert_eq 2 "$(($(store_dump | consultations) - $(consultations <"$E2E_TMP/before_deploy.dump")))" \
    "each dry run writes one consultation record (its simulation's)"
snapshot before_deploy
printf 'return workflow { name = "polit" }\n' >"$E2E_TMP/bad.lua"
expect_exit 65 cf --actor admin --reason "e2e" workflow deploy --dry-run "$E2E_TMP/bad.lua"
assert_unchanged before_deploy "a dry run of a broken workflow"

expect_exit 0 cf --actor admin --reason "e2e: monitoring 180 days" workflow deploy --yes --json \
    "$WF2/polit.lua"
assert_jq "$OUT" '.version == 2 and .created == true and .active == true and
    .previous_active == 1 and (.diff.changes | length) == 4' "version 2 deployed, active"
C=$(new_case ADM-C)
assert_eq 2 "$(case_field "$C" .workflow.version)" "a new referral starts on version 2"

# ---- diff: two versions, text and reversed ----------------------------------------
expect_exit 0 cf --actor admin workflow diff polit 1 2
assert_contains "$OUT" "from polit v1 to v2: 4 changes" "the text diff's head line"
assert_contains "$OUT" "+ state archived final" "text: the state added"
assert_contains "$OUT" "~ setting monitoring_days: 365 -> 180" "text: the setting"
assert_contains "$OUT" "~ transition authorisation on authorisation.refused -> closed roles authoriser  =>  -> archived roles supervisor" \
    "text: the transition"
assert_contains "$OUT" "+local monitoring_days = 180" "text: the source diff"
expect_exit 0 cf --actor admin workflow diff --json polit 2 1
assert_jq "$OUT" '.changes | any(.kind == "state" and .change == "removed" and .state == "archived")' \
    "reversed: state archived removed"
jq -S 'del(.to, .source)' "$E2E_TMP/diff-file.json" >"$E2E_TMP/a.json"
cf --actor admin workflow diff --json polit 1 2 | jq -S 'del(.to, .source)' >"$E2E_TMP/b.json"
assert_eq "" "$(cmp "$E2E_TMP/a.json" "$E2E_TMP/b.json" 2>&1)" \
    "the file, deployed, diffs as it did before"
expect_exit 0 cf --actor admin workflow diff --json polit 2 2
assert_jq "$OUT" '.identical and (.changes | length) == 0 and .source == ""' "a version against itself"

# ---- refusals: the store unchanged -------------------------------------------------
snapshot before_refusals
expect_exit 64 cf --actor admin workflow activate polit 1
assert_contains "$ERR" "--reason" "activate without --reason names --reason"
expect_exit 69 cf --actor admin --reason "e2e" workflow activate polit 9
expect_exit 69 cf --actor admin --reason "e2e" workflow activate nosuch 1
expect_exit 77 cf --actor supervisor1 --reason "e2e" workflow activate polit 1
expect_exit 64 cf --actor admin --reason "e2e" workflow activate polit one
expect_exit 64 cf --actor admin --reason "e2e" workflow activate polit 0
expect_exit 69 cf --actor admin workflow diff nosuch 1 2
expect_exit 69 cf --actor admin workflow diff polit 1 9
expect_exit 64 cf --actor admin workflow diff polit x 2
expect_exit 66 cf --actor admin workflow diff polit 1 "$E2E_TMP/none.lua"
for bad in polit@x polit@ @1 polit@0 polit@1x; do
    expect_exit 64 cf --actor supervisor1 --reason "e2e" list --workflow "$bad"
done
expect_exit 64 cf --actor supervisor1 --reason "e2e" list --workflow polit@1 --version 2
assert_unchanged before_refusals "refused activations, diffs and filters"

# ---- activate version 1: a rollback --------------------------------------------------
expect_exit 0 cf --actor admin --reason "e2e: roll back the monitoring change" \
    workflow activate polit 1
assert_contains "$OUT" "activated polit version 1 (was version 2)" "activate says what it did"
D=$(new_case ADM-D)
assert_eq 1 "$(case_field "$D" .workflow.version)" "after the rollback a new case starts on v1"
snapshot after_activate
expect_exit 0 cf --actor admin --reason "e2e: again" workflow activate polit 1
assert_contains "$OUT" "already the active version" "activating the active version"
assert_unchanged after_activate "activating the active version writes nothing"
expect_exit 0 cf --actor officer1 workflow list --json
assert_jq "$OUT" '[.[] | select(.name == "polit") | {version, active, open_cases}] ==
    [{"version": 1, "active": true, "open_cases": 3}, {"version": 2, "active": false,
    "open_cases": 1}]' "list: v1 active with 3 open cases (A, D, E; B closed), v2 one"
expect_exit 0 cf --actor officer1 workflow list
assert_eq "polit 1 * 3" "$(awk '$1 == "polit" && $2 == 1 {print $1, $2, $3, $4}' "$OUT")" \
    "list (text) marks version 1 active, 3 open"
assert_eq "polit 2 1" "$(awk '$1 == "polit" && $2 == 2 {print $1, $2, $3}' "$OUT")" \
    "list (text): version 2 not marked, 1 open"
assert_eq "policy.set:workflow.active:polit|administrator|e2e: roll back the monitoring change" \
    "$(store_sql "SELECT action, role, justification FROM audit
        WHERE action LIKE 'policy.set:workflow.active:%'")" \
    "the activation is in the chain, by an administrator, with its reason"
expect_exit 0 cf --actor admin audit verify

# ---- list --workflow NAME@VERSION ----------------------------------------------------
expect_exit 0 cf --actor supervisor1 --reason "e2e" list --json --workflow polit@1
assert_eq "$(printf '%s\n' "$A" "$B" "$D" "$E" | sort | tr '\n' ' ')" \
    "$(jq -r '.[].id' "$OUT" | sort | tr '\n' ' ')" "list --workflow polit@1"
expect_exit 0 cf --actor supervisor1 --reason "e2e" list --json --workflow polit@2
assert_eq "$C" "$(jq -r '.[].id' "$OUT")" "list --workflow polit@2"
expect_exit 0 cf --actor supervisor1 --reason "e2e" list --json --workflow polit --version 2
assert_eq "$C" "$(jq -r '.[].id' "$OUT")" "list --workflow polit --version 2 still works"
expect_exit 0 cf --actor supervisor1 --reason "e2e" list --json --workflow polit@2 --version 2
assert_eq "$C" "$(jq -r '.[].id' "$OUT")" "NAME@VERSION and an agreeing --version"

# ---- roll forward: the same source is the same version, no copy -----------------------
expect_exit 0 cf --actor admin --reason "e2e: forward again" workflow deploy --yes --json \
    "$WF2/polit.lua"
assert_jq "$OUT" '.version == 2 and .created == false and .active == true' \
    "redeploying version 2's source activates version 2"
expect_exit 0 cf --actor admin --reason "e2e: back" workflow deploy --yes --json \
    "$CASEFLOW_SRCDIR/workflows/polit.lua"
assert_jq "$OUT" '.version == 1 and .created == false and .active == true' \
    "redeploying version 1's source is version 1 again, active"
assert_eq 2 "$(store_sql "SELECT count(*) FROM workflows")" \
    "two versions only: no copies"

# ---- deploy --inactive ---------------------------------------------------------------
expect_exit 0 cf --actor admin --reason "e2e: prepare v3" workflow deploy --yes --inactive \
    --json "$WF3/polit.lua"
assert_jq "$OUT" '.version == 3 and .created == true and .active == false' \
    "--inactive deploys version 3 without activating it"
assert_jq "$OUT" '.diff.from.version == 1' "deploy diffs against the active version"
F=$(new_case ADM-F)
assert_eq 1 "$(case_field "$F" .workflow.version)" "new cases still start on version 1"
expect_exit 0 cf --actor admin workflow diff --json polit 2 3
assert_jq "$OUT" '[.changes[] | [.kind, .state, .key, .from, .to]] ==
    [["config", "assessment", "deadline_days.low", 30, 21],
     ["setting", null, "deadline_days.low", 30, 21]]' \
    "v2 -> v3: the deadline table, deep in the settings and the state's"
expect_exit 0 cf --actor admin audit verify

# ---- on a terminal: the question ----------------------------------------------------------
if command -v script >/dev/null 2>&1; then
    WF4="$E2E_TMP/wf4"
    cp -r "$WF3" "$WF4"
    sed -i 's/very_high = 1, high = 7/very_high = 1, high = 5/' "$WF4/polit.lua"
    snapshot before_tty
    printf 'n\n' | script -qec "'$CASEFLOW_BIN' --actor admin --reason 'e2e: on a terminal' \
        workflow deploy '$WF4/polit.lua'" /dev/null >"$OUT" 2>&1
    assert_eq 1 "$?" "answering n on a terminal: exit 1"
    assert_contains "$OUT" "and make it active? [y/N]" "the question is asked on a terminal"
    assert_contains "$OUT" "~ setting deadline_days.high: 7 -> 5" "the changes come before it"
    assert_unchanged before_tty "answering n deploys nothing"
    printf 'y\n' | script -qec "'$CASEFLOW_BIN' --actor admin --reason 'e2e: on a terminal' \
        workflow deploy '$WF4/polit.lua'" /dev/null >"$OUT" 2>&1
    assert_eq 0 "$?" "answering y on a terminal: exit 0"
    assert_contains "$OUT" "deployed polit version 4" "answering y deploys version 4"
    expect_exit 0 cf --actor admin audit verify
else
    echo "# script(1) missing: the terminal's question is not tested"
fi

# ---- an edit of the activation is found ------------------------------------------------
EDITED=$(store_for edited)
store_copy "$CASEFLOW_STORE" "$EDITED"
cp -r "$CASEFLOW_STORE.keys" "$EDITED.keys" 2>/dev/null
store_tamper "$EDITED" "UPDATE policies SET value = '2' WHERE key = 'workflow.active:polit'"
expect_exit 65 cf --actor admin --store "$EDITED" audit verify
assert_contains "$ERR" "workflow.active:polit" "verify names the edited activation"
expect_exit 65 cf --actor analyst1 --store "$EDITED" refer "$DATA/good-oneline.json"
DELETED=$(store_for deleted)
store_copy "$CASEFLOW_STORE" "$DELETED"
store_tamper "$DELETED" "DELETE FROM policies WHERE key = 'workflow.active:polit'"
expect_exit 65 cf --actor admin --store "$DELETED" audit verify

finish
