#!/bin/bash
# What `workflow check` catches before it breaks live cases (issue 9, item
# 5), and what the engine does when such a mistake reaches a case anyway:
# each mistaken workflow found with file:line and its rule, and refused by
# deploy; declared event data refused (exit 65, the field named, the store
# unchanged) before any plugin runs; a guard's Lua error as one line (its
# traceback only with --verbose); a timer its case cannot take kept and
# reported by tick, counted by report and found by check --live.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

if [ ! -f "$POLIT" ]; then
    echo "# $POLIT does not exist yet"
    exit 77
fi
FIX="$CASEFLOW_SRCDIR/tests/data/workflows/check"
W="$E2E_TMP/wf"
mkdir -p "$W"

# finds FILE RULE LINE: check reports RULE at FILE:LINE (and exits 65).
finds() {
    local file=$1 rule=$2 line=$3
    expect_exit 65 cf workflow check "$file"
    assert_contains "$OUT" "$file:$line: $rule: " "$(basename "$file"): $rule on line $line"
}

# ---- check: one mistaken workflow per finding ---------------------------------------
finds "$FIX/timer.lua" timer-event 7
finds "$FIX/guard.lua" guard-target 4
assert_contains "$OUT" "returns 'visti', which is not a state" "a literal that is no state"
finds "$FIX/guard.lua" guard-target 5
assert_contains "$OUT" "returns 'closed', which is not among its targets (visit)" \
    "a literal outside the targets"
finds "$FIX/guard.lua" no-result 18
finds "$FIX/guard.lua" no-targets 20
finds "$FIX/data.lua" undeclared-data 3
assert_contains "$OUT" "event.data.letter_isued" "the misspelt data key is named"
finds "$FIX/data.lua" undeclared-data 18
cf workflow check --json "$FIX/guard.lua" >"$OUT" 2>/dev/null
assert_jq "$OUT" '[.[] | .rule] | sort == ["guard-target", "guard-target", "no-result", "no-targets"]' \
    "--json: the guard findings, nothing else"

# A step plugin's own timer (the warrant's expiry) that the state does not take.
sed -e 's/\["warrant.expired"\] = { to = "enforcement", system = true },//' "$POLIT" >"$W/polit.lua"
cp "$CASEFLOW_SRCDIR/workflows/policy.lua" "$W/"
cp -r "$CASEFLOW_SRCDIR/workflows/letters" "$W/"
line=$(grep -n '^    warrant = {' "$W/polit.lua" | cut -d: -f1)
finds "$W/polit.lua" timer-event "$line"
assert_contains "$OUT" "plugin 'warrant' sets a timer for event 'warrant.expired'" \
    "the plugin's timer event is named"
expect_exit 0 cf workflow check "$POLIT"

# ---- deploy refuses them, the store unchanged ------------------------------------------
setup_store
snapshot deploy
for f in "$FIX/timer.lua" "$FIX/guard.lua" "$FIX/data.lua" "$W/polit.lua"; do
    expect_exit 65 cf --actor admin --reason "check test" workflow deploy --yes "$f"
done
assert_contains "$ERR" "timer-event" "deploy names the rule"
assert_unchanged deploy "no mistaken workflow deployed"

# ---- declared event data: refused before any plugin or guard ----------------------------
C=$(new_case E2E-DATA-1)
applied='{"necessity":"identify the subscriber","proportionality":"no less intrusive means"}'
refused_data() {
    local what=$1 data=$2 text=$3
    snapshot data
    expect_exit 65 cf --actor officer1 act "$C" authorisation.applied --data "$data"
    assert_contains "$ERR" "$text" "$what: $text"
    assert_unchanged data "$what"
}
refused_data "a misspelt field" '{"necesity":"x","proportionality":"y"}' "data.necesity: not a field"
refused_data "a wrong type" '{"necessity":1,"proportionality":"y"}' "data.necessity: expected string"
refused_data "a missing field" '{"proportionality":"y"}' "data.necessity: required"
refused_data "no data at all" '{}' "data.necessity: required"
snapshot data
expect_exit 77 cf --actor analyst1 act "$C" authorisation.applied --data '{"x":1}'
assert_unchanged data "the role is checked first"
expect_exit 0 cf --actor officer1 act "$C" authorisation.applied --data "$applied"

# Before the plugin: the test plugin fails on "fail", but the declaration
# refuses the field first.
cat >"$W/declared.lua" <<'EOF'
return workflow {
  name = "declared", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = "waiting", data = { note = { type = "string", required = false },
                                            timer = { type = "object", required = false } } },
        decide = { to = function(case, event)
          local x = nil
          if case.data.never then return "done" end
          return x.route
        end, targets = { "done" } },
        ["wake.up"] = { to = "done", system = true },
      },
    },
    done = { final = true },
  },
}
EOF
expect_exit 0 cf --actor admin --reason "check test" workflow deploy --yes "$W/declared.lua"
D=$(new_case E2E-DATA-2 declared)
snapshot data
expect_exit 65 cf --actor officer1 act "$D" submit --data '{"fail":"the plugin ran"}'
assert_contains "$ERR" "data.fail: not a field of this event" "the declaration refuses first"
assert_unchanged data "the plugin never ran"
expect_exit 0 cf --actor officer1 act "$D" submit --data '{"note":"fine"}'

# ---- a guard's error: one line, file:line, exit 70 ------------------------------------
snapshot guard
expect_exit 70 cf --actor officer1 act "$D" decide
assert_contains "$ERR" "caseflow: declared.lua:13: attempt to index a nil value" \
    "the guard error says file:line: message"
assert_unchanged guard "a guard error changes nothing"
cf --actor officer1 --verbose act "$D" decide >"$OUT" 2>"$ERR"
assert_eq 70 "$?" "--verbose: still exit 70"
assert_contains "$ERR" "caseflow: stack traceback:" "--verbose: the traceback follows"
assert_contains "$ERR" "declared.lua:13: in function" "--verbose: the traceback names the line"

# ---- a timer its case cannot take: kept and reported ----------------------------------
expect_exit 0 cf --actor officer1 act "$D" submit --data '{"timer":{"event":"wake.upp","seconds":60}}'
export CASEFLOW_NOW=2026-10-01T09:00:00Z
expect_exit 65 cf tick
assert_contains "$OUT" "$D  wake.upp  kept: workflow declared v" "tick says the timer is kept"
assert_contains "$ERR" "state waiting has no transition for wake.upp" "tick's error names the rule"
expect_exit 65 cf tick --json
assert_jq "$OUT" "[.[] | select(.id == \"$D\" and .event == \"wake.upp\" and .kept == true)] | length == 1" \
    "tick --json: kept, again"
cf --actor supervisor1 --reason e2e show --json "$D" >"$OUT"
assert_jq "$OUT" '[.timers[] | select(.event == "wake.upp")] | length == 1' "the timer is still there"
assert_jq "$OUT" '.state == "waiting"' "the case waits where it was"
cf --actor supervisor1 --reason e2e report --workflow declared --json >"$OUT"
assert_jq "$OUT" '.timers_kept.timers == 1 and .timers_kept.due == 1' "report counts it"
assert_jq "$OUT" '.timers_kept.by[0].event == "wake.upp"' "report names its event"
expect_exit 65 cf --actor supervisor1 --reason e2e workflow check --live "$W/declared.lua"
assert_contains "$OUT" "$W/declared.lua:5: live-timer: 1 timer of open cases on v1 in state 'waiting'" \
    "check --live finds the live timer the file does not take"
expect_exit 64 cf --actor supervisor1 workflow check --live "$W/declared.lua"
sed -e 's/\["wake.up"\]/["wake.upp"]/' "$W/declared.lua" >"$W/fixed.lua"
expect_exit 0 cf --actor supervisor1 --reason e2e workflow check --live "$W/fixed.lua"
expect_exit 0 cf --actor admin --reason e2e audit verify
finish
