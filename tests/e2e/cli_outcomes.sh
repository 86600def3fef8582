#!/bin/bash
# Outcome events are the plugin's alone (issue 10, item 6): an event the
# state's plugin emits (and does not accept) sent by a person is refused
# (exit 77, one line naming event, plugin and state, the store unchanged),
# unless the transition's `manual` names a role the sender holds; such a
# hand-sent outcome is recorded as the person's, naming no plugin. `workflow
# check` finds an emits event no transition takes (the test plugin "triage"
# emits `triage.urgnet`, a typo), shows every transition a person may send
# by hand (a warning), and refuses `manual` on an event that is no outcome.
# The simulator replays a recorded hand-sent outcome through the same rule.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

if [ ! -f "$POLIT" ]; then
    echo "# $POLIT does not exist yet"
    exit 77
fi
W="$E2E_TMP/wf"
mkdir -p "$W/v2"

# The workflow maps the plugin's outcomes as it spells them; a supervisor may
# also send triage.routine by hand.
cat >"$W/outcomes.lua" <<'EOF'
return workflow {
  name = "outcomes", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "triage" } },
    triage = {
      step = "triage", roles = { "officer", "supervisor" },
      on = {
        ["triage.submit"] = "triage",
        ["triage.urgnet"] = "urgent",
        ["triage.routine"] = { to = "routine", manual = { "supervisor" } },
      },
    },
    urgent = { final = true },
    routine = { final = true },
  },
}
EOF

# ---- check: the hand-sendable outcome is shown, and blocks nothing ---------------------
expect_exit 0 cf workflow check "$W/outcomes.lua"
assert_contains "$OUT" "outcomes.lua:10: manual-outcome: warning: state 'triage': outcome 'triage.routine' of plugin 'triage' may be sent by hand (manual: supervisor), bypassing the plugin" \
    "check shows who may send the outcome by hand"
assert_contains "$OUT" "outcomes.lua: ok (1 warning)" "a warning only: ok"
cf workflow check --json "$W/outcomes.lua" >"$OUT" 2>/dev/null
assert_jq "$OUT" 'length == 1 and .[0].rule == "manual-outcome" and .[0].severity == "warning" and .[0].line == 10' \
    "--json: the warning has its severity"
cf workflow graph "$W/outcomes.lua" >"$OUT" 2>/dev/null
assert_contains "$OUT" 'label="triage.routine\nby hand: supervisor"' "the graph shows who may send it by hand"

# ---- a person sends the plugin's outcome: refused, nothing changed ---------------------
setup_store
expect_exit 0 cf --actor admin --reason "outcome test" workflow deploy --yes "$W/outcomes.lua"
C=$(new_case E2E-OUT-1 outcomes)
assert_eq triage "$(case_field "$C" .state)" "the case waits in triage"

snapshot hand
expect_exit 77 cf --actor officer1 act "$C" triage.urgnet
assert_eq 'caseflow: event "triage.urgnet" is an outcome of plugin "triage" in state "triage": only the plugin sends it' \
    "$(cat "$ERR")" "the refusal names event, plugin and state"
assert_unchanged hand "a refused outcome changes nothing"
expect_exit 77 cf --actor officer1 act "$C" triage.routine
assert_contains "$ERR" 'event "triage.routine" is an outcome of plugin "triage" in state "triage": only the plugin sends it, or by hand a person with role: supervisor' \
    "manual for another role: refused, naming who may"
assert_unchanged hand "refused for another role, nothing changed"
expect_exit 77 cf --actor analyst1 act "$C" triage.routine
assert_contains "$ERR" "needs role: officer, supervisor" "manual does not replace the normal role check"
assert_unchanged hand "refused by the role check, nothing changed"

# ---- the plugin sends it: taken, and the history names the plugin ----------------------
D=$(new_case E2E-OUT-2 outcomes)
expect_exit 0 cf --actor officer1 act "$D" triage.submit --data '{"priority":true}'
assert_eq urgent "$(case_field "$D" .state)" "the plugin's outcome is taken"
cf --actor supervisor1 --reason e2e history --json "$D" >"$OUT"
assert_jq "$OUT" '.[-1] | .event == "triage.submit" and .outcome == "triage.urgnet" and .actor == "officer1" and .plugin.name == "triage"' \
    "the plugin decided: its outcome and its name recorded"

# ---- by hand with manual: the person's, not the plugin's ---------------------------------
expect_exit 0 cf --actor supervisor1 act "$C" triage.routine
assert_eq routine "$(case_field "$C" .state)" "the supervisor's hand-sent outcome is taken"
cf --actor supervisor1 --reason e2e history --json "$C" >"$OUT"
assert_jq "$OUT" '.[-1] | .event == "triage.routine" and .outcome == null and .actor == "supervisor1" and .role == "supervisor" and .plugin == null' \
    "a hand-sent outcome names its sender and no plugin"
expect_exit 0 cf --actor admin audit verify

# ---- the simulator replays it through the same rule ---------------------------------------
expect_exit 0 cf --actor admin --reason "outcome test" workflow simulate "$W/outcomes.lua" --json
assert_jq "$OUT" '.summary.refused == 0 and .summary.replayed == 2' "replayed with manual, the hand-sent outcome is taken again"
sed -e 's/version = 1/version = 2/' -e 's/{ to = "routine", manual = { "supervisor" } }/"routine"/' \
    "$W/outcomes.lua" >"$W/v2/outcomes.lua"
expect_exit 0 cf --actor admin --reason "outcome test" workflow simulate "$W/v2/outcomes.lua" --json
assert_jq "$OUT" ".summary.refused == 1 and ([.cases[] | select(.id == \"$C\") | .divergences[] | select(.kind == \"refused\") | .message | test(\"outcome of plugin .triage.\")] | length == 1)" \
    "the recorded hand-sent outcome: now refused without manual"
assert_jq "$OUT" "[.cases[] | select(.id == \"$D\") | .divergences[]] | length == 0" \
    "the plugin's own outcome replays unchanged"

# ---- check: the emits typo, found before a case meets it -----------------------------------
sed -e 's/\["triage.urgnet"\] = "urgent"/["triage.urgent"] = "urgent"/' "$W/outcomes.lua" >"$W/typo.lua"
expect_exit 65 cf workflow check "$W/typo.lua"
assert_contains "$OUT" "typo.lua:5: unmapped-outcome: state 'triage': plugin 'triage' emits 'triage.urgnet', which no transition of the state takes" \
    "the emits typo: state, plugin and event named"
assert_contains "$OUT" "unaccepted-event: state 'triage': plugin 'triage' neither accepts nor emits event 'triage.urgent'" \
    "and the transition no one sends"
snapshot typo
expect_exit 65 cf --actor admin --reason "outcome test" workflow deploy --yes "$W/typo.lua"
assert_unchanged typo "deploy refuses the typo"

# ---- check: manual where it means nothing ---------------------------------------------------
cat >"$W/misuse.lua" <<'EOF'
return workflow {
  name = "misuse", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "triage" } },
    triage = {
      step = "triage", roles = { "officer" },
      on = {
        ["triage.submit"] = { to = "triage", manual = { "officer" } },
        ["triage.urgnet"] = "waiting",
        ["triage.routine"] = { to = "waiting", manual = { "detective" } },
      },
    },
    waiting = {
      roles = { "officer" },
      on = {
        close = { to = "closed", manual = { "supervisor" } },
        ["wake.up"] = { to = "closed", system = true, manual = { "officer" } },
      },
    },
    closed = { final = true },
  },
}
EOF
expect_exit 65 cf workflow check "$W/misuse.lua"
assert_contains "$OUT" "misuse.lua:8: manual-not-outcome: state 'triage': transition 'triage.submit' has manual, but 'triage.submit' is not an outcome of plugin 'triage'" \
    "manual on an event the plugin accepts"
assert_contains "$OUT" "misuse.lua:16: manual-not-outcome: state 'waiting': transition 'close' has manual, but the state has no step plugin" \
    "manual in a state without a plugin"
assert_contains "$OUT" "structure: state 'triage': transition 'triage.routine': unknown role 'detective'" \
    "manual names known roles"
assert_contains "$OUT" "manual (people may send it) and system (only the engine) exclude each other" \
    "manual with system"

# ---- through caseflowd (the HTTP act's path): the same refusal ----------------------------
CASEFLOWD=${CASEFLOWD_BIN:-$CASEFLOW_BUILDDIR/caseflowd}
if [ ! -x "$CASEFLOWD" ] || [ ! -x /usr/bin/python3 ]; then
    echo "# caseflowd is not built: the --server part is skipped"
    finish
fi
PIDS=()
# shellcheck disable=SC2317 # run by the trap
stop_all() {
    local pid
    # (caseflowd first: killed, `timeout` would leave it running, orphaned)
    for pid in "${PIDS[@]}"; do
        pkill -KILL -P "$pid" 2>/dev/null
        kill -KILL "$pid" 2>/dev/null
    done
    rm -rf "$E2E_TMP"
}
trap stop_all EXIT
E=$(new_case E2E-OUT-3 outcomes)
expect_exit 0 cf --actor admin user add desk1 --role officer --os-user "$(id -u)"
SOCK="$E2E_TMP/cfd.sock"
timeout 300 "$CASEFLOWD" --store "$CASEFLOW_STORE" --socket "$SOCK" --tick-interval 0 \
    2>"$E2E_TMP/cfd.log" &
PIDS+=($!)
for _ in $(seq 100); do
    [ -S "$SOCK" ] && break
    sleep 0.1
done
[ -S "$SOCK" ] || { echo "Bail out! caseflowd did not start: $(head -c 300 "$E2E_TMP/cfd.log")"; exit 99; }
# The service records a refused request (audit action "refused"); the case
# itself must not change.
case_rows() {
    store_sql "SELECT revision, state FROM cases WHERE id='$E';
        SELECT count(*) FROM events WHERE case_id='$E'; SELECT count(*) FROM timers WHERE case_id='$E'"
}
before=$(case_rows)
assert_eq "1|triage" "$(head -1 <<<"$before")" "the case as read: revision 1, in triage"
expect_exit 77 cf --server "$SOCK" act "$E" triage.urgnet
assert_contains "$ERR" 'event "triage.urgnet" is an outcome of plugin "triage" in state "triage": only the plugin sends it' \
    "through caseflowd: the same refusal"
assert_eq "$before" "$(case_rows)" "through caseflowd: the case unchanged"
assert_eq refused "$(store_sql "SELECT action FROM audit ORDER BY seq DESC LIMIT 1")" \
    "through caseflowd: the refusal is audited as one"
expect_exit 0 cf --server "$SOCK" act "$E" triage.submit
assert_eq routine "$(case_field "$E" .state)" "through caseflowd: the plugin's outcome is taken"

finish
