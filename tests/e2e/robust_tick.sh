#!/bin/bash
# tick fires its timers a page at a time (256), each page one store
# transaction and each timer a savepoint in it (issue 11). When the process
# dies in the middle of a page (here a step plugin crashes on the 301st timer,
# in the second page), what was committed is whole timers only: the first
# page, every one of its timers with its event, its new state and its timer
# gone; nothing of the second. The next tick fires the rest exactly once.
# Workflow: tests/data/robust/ticking.lua.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

export CASEFLOW_NOW=$E2E_EPOCH
setup_store
WF="$CASEFLOW_SRCDIR/tests/data/robust/ticking.lua"
if ! cf --actor admin --reason "tick test" workflow deploy --yes "$WF" >/dev/null; then
    echo "Bail out! cannot deploy $WF"
    exit 99
fi
N=300
referrals TICK "$N" >"$E2E_TMP/in.jsonl"
expect_exit 0 cf --actor analyst1 refer --workflow ticking "$E2E_TMP/in.jsonl"
# Later than the others, so its timer is the last due: in the second page.
export CASEFLOW_NOW=2026-10-01T09:00:00Z
DOOMED=$(new_case TICK-DOOMED ticking)
expect_exit 0 cf --actor officer1 act "$DOOMED" doom

q() { store_sql "$1"; }
assert_eq "$N" "$(q "SELECT count(*) FROM cases WHERE workflow = 'ticking' AND state = 'waiting'")" \
    "$N cases wait for their timers"
assert_eq "$((N + 1))" "$(q "SELECT count(*) FROM timers")" "one timer each, and the doomed one"

# ---- the process dies in the second page -------------------------------------------
export CASEFLOW_NOW=2026-10-05T08:00:00Z
timeout 60 "$CASEFLOW_BIN" --actor admin tick >"$OUT" 2>"$ERR" </dev/null
assert_eq 70 "$?" "a step plugin crashing under tick: exit 70"
assert_contains "$ERR" "crashed (SIGSEGV)" "the crash is named"
assert_eq 256 "$(q "SELECT count(*) FROM cases WHERE workflow = 'ticking' AND state = 'done'")" \
    "the first page was committed whole: 256 cases closed"
assert_eq 256 "$(q "SELECT count(*) FROM events WHERE event = 'expired'")" \
    "one timer event for each of them"
assert_eq 0 "$(q "SELECT count(*) FROM cases c JOIN timers t ON t.case_id = c.id
                  WHERE c.state = 'done'")" "none of them keeps its timer"
assert_eq $((N - 256)) "$(q "SELECT count(*) FROM cases c JOIN timers t ON t.case_id = c.id
                          WHERE c.state = 'waiting'")" \
    "the second page left no trace: its cases wait with their timers"
assert_eq 0 "$(q "SELECT count(*) FROM events e JOIN cases c ON c.id = e.case_id
                  WHERE c.state != 'done' AND e.event = 'expired'")" "and no timer event"
assert_eq doomed "$(q "SELECT state FROM cases WHERE id = '$DOOMED'")" "the doomed case did not move"
expect_exit 0 cf --actor admin audit verify

# Still due, the same crash: nothing more is committed, nothing twice.
snapshot crashed
timeout 60 "$CASEFLOW_BIN" --actor admin tick >"$OUT" 2>"$ERR" </dev/null
assert_eq 70 "$?" "the same crash on the next tick"
assert_unchanged crashed "a page that crashes commits nothing, again"

# ---- the doomed case is spared: the next tick fires the rest once ---------------------
expect_exit 0 cf --actor officer1 act "$DOOMED" spare
expect_exit 0 cf --actor admin tick --json
assert_jq "$OUT" "map(select(.error == null)) | length == $((N - 256))" \
    "the next tick fires the $((N - 256)) timers left, and only them"
assert_eq "$N" "$(q "SELECT count(*) FROM cases WHERE workflow = 'ticking' AND state = 'done'
                     AND id != '$DOOMED'")" "every case is closed"
assert_eq "$N" "$(q "SELECT count(DISTINCT case_id) FROM events WHERE event = 'expired'")" \
    "each by its timer"
assert_eq "$N" "$(q "SELECT count(*) FROM events WHERE event = 'expired'")" "exactly once"
assert_eq 0 "$(q "SELECT count(*) FROM timers")" "no timer is left"
expect_exit 0 cf --actor admin tick --json
assert_jq "$OUT" '. == []' "a third tick has nothing to do"
expect_exit 0 cf --actor admin audit verify
finish
