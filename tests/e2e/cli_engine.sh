#!/bin/bash
# The engine's guarantees seen from the command line, on small workflows of
# the test's own (so they hold whatever polit.lua does): --revision conflicts
# (75, nothing changed); two processes acting on one case at once (exactly
# one wins, the other exits 75, the case moves once), many rounds; timers
# fired by tick against CASEFLOW_NOW, once; the audit chain verified, then
# broken by editing a row behind the engine's back (65).
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

ROUNDS=${CASEFLOW_E2E_ROUNDS:-25}
setup_bare_store

wf="$E2E_TMP/workflows"
mkdir -p "$wf"
cat >"$wf/e2e_flip.lua" <<'EOF'
-- Two states and one event between them: every act moves the case.
return workflow {
  name = "e2e_flip", version = 1, initial = "left",
  states = {
    left = { roles = { "officer" }, on = { flip = "right", stop = "done" } },
    right = { roles = { "officer" }, on = { flip = "left" } },
    done = { final = true },
  },
}
EOF
cat >"$wf/e2e_timer.lua" <<'EOF'
-- A case waits two days for a person, then the timer closes it.
return workflow {
  name = "e2e_timer", version = 1, initial = "waiting",
  states = {
    waiting = { roles = { "officer" }, timer = { days = 2, event = "expired" },
      on = { expired = { to = "lapsed", system = true }, answered = "done" } },
    lapsed = { final = true },
    done = { final = true },
  },
}
EOF
for w in e2e_flip e2e_timer; do
    expect_exit 0 cf workflow check "$wf/$w.lua"
    expect_exit 0 cf --actor admin --reason "e2e test" workflow deploy --yes "$wf/$w.lua"
done
expect_exit 0 cf --actor admin --reason "e2e test" workflow deploy --yes --json "$wf/e2e_flip.lua"
assert_jq "$OUT" '.created == false' "deploying the same source again: the existing version"
expect_exit 0 cf --actor admin workflow list --json
assert_jq "$OUT" 'map(select(.name == "e2e_flip")) | length == 1' "one version of e2e_flip"

revision() {
    cf --actor officer1 --reason "e2e" show --json "$1" | jq -r .revision
}

# ---- act and --revision -----------------------------------------------------------
C=$(new_case E2E-FLIP-1 e2e_flip)
assert_eq left "$(case_field "$C" .state)" "a flip case starts left"
R=$(revision "$C")
expect_exit 0 cf --actor officer1 act --json "$C" flip --revision "$R"
assert_jq "$OUT" ".id == \"$C\" and .state == \"right\" and .previous_state == \"left\" and .revision > $R" \
    "act --json: id, state, previous_state, revision"
snapshot flipped
expect_exit 75 cf --actor officer1 act "$C" flip --revision "$R"
assert_contains "$ERR" "caseflow: " "a stale revision says so"
assert_unchanged flipped "a stale --revision"
expect_exit 65 cf --actor officer1 act "$C" stop
expect_exit 77 cf --actor analyst1 act "$C" flip
assert_unchanged flipped "an event the state does not take, the wrong role"
expect_exit 0 cf --actor officer1 act "$C" flip
assert_eq left "$(case_field "$C" .state)" "act without --revision"

# ---- two processes on one case at once ---------------------------------------------
C=$(new_case E2E-FLIP-RACE e2e_flip)
wins=0 losses=0 odd=0
for round in $(seq 1 "$ROUNDS"); do
    R=$(revision "$C")
    before=$(case_field "$C" .state)
    cf --actor officer1 act "$C" flip --revision "$R" >/dev/null 2>"$E2E_TMP/a.err" &
    pa=$!
    cf --actor officer2 act "$C" flip --revision "$R" >/dev/null 2>"$E2E_TMP/b.err" &
    pb=$!
    wait $pa
    ra=$?
    wait $pb
    rb=$?
    after=$(case_field "$C" .state)
    R2=$(revision "$C")
    if { [ "$ra" = 0 ] && [ "$rb" = 75 ]; } || { [ "$ra" = 75 ] && [ "$rb" = 0 ]; }; then
        wins=$((wins + 1))
    else
        odd=$((odd + 1))
        echo "# round $round: exits $ra and $rb: $(cat "$E2E_TMP/a.err" "$E2E_TMP/b.err")"
    fi
    if [ "$before" = "$after" ] || [ "$R2" -le "$R" ]; then
        losses=$((losses + 1))
        echo "# round $round: $before@$R -> $after@$R2"
    fi
    # the case moved exactly once: one history record more per round
done
assert_eq "$ROUNDS" "$wins" "concurrent acts: one exits 0 and the other 75, every round"
assert_eq 0 "$losses" "concurrent acts: the case moves every round"
n=$(cf --actor officer1 --reason e2e history --json "$C" | jq '[.[] | select(.event == "flip")] | length')
assert_eq "$ROUNDS" "$n" "concurrent acts: one flip recorded per round"

# ---- timers and tick ------------------------------------------------------------------
T0=2026-11-02T09:00:00Z
export CASEFLOW_NOW=$T0
T=$(new_case E2E-TIMER-1 e2e_timer)
U=$(new_case E2E-TIMER-2 e2e_timer)
assert_eq waiting "$(case_field "$T" .state)" "a timer case waits"
expect_exit 0 cf --actor officer1 act "$U" answered
expect_exit 0 cf --actor admin tick --json
assert_jq "$OUT" '. == []' "tick before the timer is due fires nothing"
snapshot early
CASEFLOW_NOW=2026-11-04T08:59:59Z expect_exit 0 cf --actor admin tick --json
assert_jq "$OUT" '. == []' "one second early: nothing"
export CASEFLOW_NOW=2026-11-20T12:00:00+01:00
expect_exit 0 cf --actor admin tick --json
assert_jq "$OUT" "length == 1 and .[0].id == \"$T\" and .[0].event == \"expired\" and .[0].state == \"lapsed\"" \
    "a due timer fires once, for its case only"
assert_eq lapsed "$(case_field "$T" .state)" "the timer moved the case"
assert_eq "done" "$(case_field "$U" .state)" "a timer left with its state never fires"
cf --actor officer1 --reason e2e history --json "$T" >"$OUT"
assert_jq "$OUT" '.[-1].event == "expired" and .[-1].actor == "engine"' "the timer acted as the engine"
assert_jq "$OUT" '.[-1].at == "2026-11-20T11:00:00Z"' "the timer fired at the engine clock's time"
snapshot fired
expect_exit 0 cf --actor admin tick --json
assert_jq "$OUT" '. == []' "a second tick fires nothing"
expect_exit 0 cf --actor admin tick
assert_contains "$OUT" "0 timers fired" "human tick output"
assert_unchanged fired "ticks with nothing due"
unset CASEFLOW_NOW

# ---- the audit chain --------------------------------------------------------------------
expect_exit 0 cf --actor admin audit verify --json
assert_jq "$OUT" '.ok == true and .records > 0 and (.head | test("^[0-9a-f]{64}$"))' \
    "audit verify --json: ok, records, head"
expect_exit 0 cf --actor admin audit verify
assert_contains "$OUT" "ok" "human audit verify"
PRISTINE=$(store_for pristine)
store_copy "$CASEFLOW_STORE" "$PRISTINE"
store_tamper "UPDATE audit SET justification = 'edited behind the engine' WHERE seq = (SELECT min(seq) + 2 FROM audit);"
expect_exit 65 cf --actor admin audit verify
cf --actor admin audit verify --json >"$OUT" 2>/dev/null
assert_jq "$OUT" '.ok == false and (.first_bad | type == "number")' "audit verify --json names the first bad record"
store_copy "$PRISTINE" "$CASEFLOW_STORE"
expect_exit 0 cf --actor admin audit verify
store_tamper "DELETE FROM audit WHERE seq = (SELECT max(seq) - 1 FROM audit);"
expect_exit 65 cf --actor admin audit verify
finish
