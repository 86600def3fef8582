#!/bin/bash
# caseflow workflow test (issue 9, item 3): scenario files, in Lua or JSON,
# run against a store in memory with the real plugins. Passing scenarios
# exit 0 with "N passed, 0 failed"; a wrong expectation is one precise FAIL
# line and exit 1; a file that is not a valid scenario (bad JSON, an unknown
# key, a wrong type, Lua that errors, loops for ever, eats memory or reaches
# for I/O) is one line naming the file and the field or line, exit 65, and
# nothing runs; a missing file 66; usage 64. No store is ever opened.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

S="$E2E_TMP/scenarios"
mkdir -p "$S/ok" "$S/bad"
# CASEFLOW_STORE points at a file that must never appear.
export CASEFLOW_STORE="$E2E_TMP/never.db"

# A referral and the first events, shared by the scenarios below.
cat >"$S/ok/_common.lua" <<'LUA'
local M = {}
M.referral = {
  source = "NCA-CEOP", reference = "E2E-WFTEST-1", received_at = "2026-11-02T09:15:00Z",
  priority = false, frequency = "once",
  ip_events = { { ip = "203.0.113.45", port = 51812, type = "upload",
                  at = "2026-10-30T21:14:05+01:00", proxy = false } },
  files = { { hash_type = "md5", hash = "00112233445566778899aabbccddeeff", category = "C" } },
}
M.applied = { necessity = "identify the subscriber", proportionality = "no other means" }
return M
LUA
cat >"$S/ok/pass.lua" <<LUA
local c = require("_common")
return {
  name = "applies and waits",
  workflow = "$POLIT",
  start = "2026-11-03T10:00:00Z",
  referral = c.referral,
  steps = {
    { expect = { state = "authorisation", deadline = false, timers = {}, tasks = {} } },
    { at = "+1h", as = "analyst", act = "authorisation.applied", data = c.applied,
      refused = { exit = 77, message = "needs role" } },
    { as = "officer", act = "authorisation.applied", data = c.applied,
      expect = { state = "authorisation", data = { ["authorisation.application.applicant"] = "officer" } } },
    { at = "+2h", tick = true, expect = { fired = {} } },
  },
}
LUA
# The same scenario in JSON, with no workflow of its own (--workflow gives it).
cat >"$S/ok/pass.json" <<'JSON'
{
  "name": "json: applies",
  "start": "2026-11-03T10:00:00Z",
  "users": {"officer1": "officer", "analyst1": ["analyst"]},
  "referral": {"source": "NCA-CEOP", "reference": "E2E-WFTEST-2",
               "received_at": "2026-11-02T09:15:00Z",
               "ip_events": [{"ip": "198.51.100.7", "at": "2026-10-30T21:14:05Z"}],
               "files": [{"hash_type": "md5", "hash": "ffeeddccbbaa99887766554433221100", "category": "C"}]},
  "steps": [
    {"at": "+1d", "as": "officer1", "act": "authorisation.applied",
     "data": {"necessity": "n", "proportionality": "p"},
     "expect": {"state": "authorisation"}}
  ]
}
JSON

# ---- passing -----------------------------------------------------------------------
expect_exit 0 cf workflow test "$S/ok/pass.lua"
assert_eq "ok applies and waits
1 passed, 0 failed" "$(cat "$OUT")" "one line per scenario, then the summary"
expect_exit 0 cf workflow test --workflow "$POLIT" "$S/ok"
assert_eq "2 passed, 0 failed" "$(tail -n 1 "$OUT")" "a directory: its scenarios, not _helpers"
assert_contains "$OUT" "ok json: applies" "the JSON syntax"
expect_exit 0 cf workflow test --json --workflow "$POLIT" "$S/ok"
assert_jq "$OUT" '.passed == 2 and .failed == 0 and (.scenarios | length) == 2 and
    all(.scenarios[]; .ok and .steps == .of)' "--json: every scenario and the counts"
expect_exit 0 cf workflow test --verbose "$S/ok/pass.lua"
assert_contains "$OUT" "4 of 4 steps run" "--verbose: the file and the steps run"
assert_eq no "$([ -e "$CASEFLOW_STORE" ] && echo yes || echo no)" "no store is created or opened"

# ---- failing: one precise line per scenario ----------------------------------------------
sed -e 's/name = "applies and waits"/name = "wrong state"/' \
    -e 's/expect = { state = "authorisation", data/expect = { state = "subscriber", data/' \
    "$S/ok/pass.lua" >"$S/ok/wrong.lua"
expect_exit 1 cf workflow test "$S/ok/pass.lua" "$S/ok/wrong.lua"
assert_eq "ok applies and waits
FAIL wrong state: step 3: expected state 'subscriber', got 'authorisation'
1 passed, 1 failed" "$(cat "$OUT")" "a wrong expectation: step and field named"
assert_contains "$ERR" "caseflow: 1 of 2 scenarios failed" "the failure on stderr too"
expect_exit 1 cf workflow test --json "$S/ok/wrong.lua"
assert_jq "$OUT" '.failed == 1 and .scenarios[0].failure.step == 3 and
    .scenarios[0].failure.field == "state" and .scenarios[0].steps == 3 and .scenarios[0].of == 4' \
    "--json: the failure's step and field; the steps after it do not run"

# A refusal that does not happen, and one with the wrong exit status.
sed -e 's/name = "applies and waits"/name = "not refused"/' -e 's/as = "analyst", act/as = "officer", act/' \
    "$S/ok/pass.lua" >"$S/ok/notrefused.lua"
expect_exit 1 cf workflow test "$S/ok/notrefused.lua"
assert_contains "$OUT" "FAIL not refused: step 2: expected authorisation.applied by officer to be refused with exit 77, but it was taken (state 'authorisation')" \
    "an act that must be refused and is not"
sed -e 's/name = "applies and waits"/name = "wrong exit"/' -e 's/exit = 77/exit = 65/' \
    "$S/ok/pass.lua" >"$S/ok/wrongexit.lua"
expect_exit 1 cf workflow test "$S/ok/wrongexit.lua"
assert_contains "$OUT" "FAIL wrong exit: step 2: expected authorisation.applied by analyst refused with exit 65, got exit 77" \
    "a refusal with another exit status"
sed -e 's/name = "applies and waits"/name = "wrong timer"/' -e 's/fired = {}/fired = { "monitoring.expired" }/' \
    "$S/ok/pass.lua" >"$S/ok/wrongtick.lua"
expect_exit 1 cf workflow test "$S/ok/wrongtick.lua"
assert_contains "$OUT" "FAIL wrong timer: step 4: expected the tick to fire [\"monitoring.expired\"], got []" \
    "a tick that fires other timers"
rm -f "$S/ok/wrong.lua" "$S/ok/notrefused.lua" "$S/ok/wrongexit.lua" "$S/ok/wrongtick.lua"

# ---- not a valid scenario: 65, one line, nothing runs ------------------------------------------
# bad NAME LINE-PATTERN CONTENT: the file S/bad/NAME exits 65 with one line matching.
bad() {
    local name=$1 want=$2
    printf '%s\n' "$3" >"$S/bad/$name"
    expect_exit 65 cf workflow test "$S/ok/pass.lua" "$S/bad/$name" &&
        assert_eq "" "$(cat "$OUT")" "$name: nothing runs" &&
        if grep -qE -- "$want" "$ERR"; then ok "$name: $want"; else
            not_ok "$name: expected /$want/, got: $(cat "$ERR")"
        fi
    rm -f "$S/bad/$name"
}
bad syntax.json "^caseflow: .*/syntax.json:2:[0-9]+: " \
    '{"start": "2026-11-03T10:00:00Z",
      "steps": [ {"tick": true,, } ]}'
bad unknown.json "^caseflow: .*/unknown.json: steps\[1\]\.expect\.stat: unknown key" \
    '{"start": "2026-11-03T10:00:00Z", "steps": [{"tick": true, "expect": {"stat": "x"}}]}'
bad type.json "^caseflow: .*/type.json: steps\[1\]\.at: must be a time" \
    '{"start": "2026-11-03T10:00:00Z", "steps": [{"tick": true, "at": 5}]}'
bad refusedtype.json "steps\[1\]\.refused\.exit: must be an exit status" \
    '{"start": "2026-11-03T10:00:00Z", "steps": [{"as": "officer", "act": "x", "refused": {"exit": "77"}}]}'
bad back.json "steps\[2\]\.at: goes back in time" \
    '{"start": "2026-11-03T10:00:00Z", "steps": [{"at": "+2d", "tick": true}, {"at": "+1d", "tick": true}]}'
bad nouser.json "steps\[1\]\.as: 'nobody' is not one of the users" \
    '{"start": "2026-11-03T10:00:00Z", "steps": [{"as": "nobody", "act": "x"}]}'
bad nocase.json "steps\[1\]\.case: no case named 'main'" \
    '{"start": "2026-11-03T10:00:00Z", "steps": [{"as": "officer", "act": "x"}]}'
bad nostart.json "^caseflow: .*/nostart.json: start: is required" '{"steps": [{"tick": true}]}'
bad badrole.lua "users\.x: unknown role 'chief'" \
    'return { start = "2026-11-03T10:00:00Z", users = { x = "chief" }, steps = { { tick = true } } }'
bad noactor.lua "steps\[1\]\.as: is required" \
    'return { start = "2026-11-03T10:00:00Z", steps = { { act = "visit.completed" } } }'
bad error.lua "^caseflow: .*/error.lua:2: attempt to index a nil value" \
    'local x = nil
return { start = "2026-11-03T10:00:00Z", steps = { { tick = x.y } } }'
bad loop.lua "^caseflow: .*/loop.lua:1: .*budget.* exceeded" 'while true do end'
bad memory.lua "^caseflow: .*/memory.lua(:[0-9]+)?: .*(budget|memory cap)" \
    'local t = {} while true do t[#t + 1] = 1 end'
bad strings.lua "^caseflow: .*/strings.lua(:[0-9]+)?: .*(budget|memory cap)" \
    'local t = {} for i = 1, 1e9 do t[i] = string.rep("x", 4096) .. i end'
bad io.lua "^caseflow: .*/io.lua:1: attempt to index a nil value \(global 'io'\)" \
    'return io.open("/etc/passwd"):read("a")'
bad function.lua "not plain data" \
    'return { start = "2026-11-03T10:00:00Z", steps = { { tick = function() end } } }'
bad notable.lua "must return a table" 'return 42'
bad other.txt "a scenario file is .lua or .json" '{}'

# A scenario whose workflow is missing, or that names none.
printf 'return { start = "2026-11-03T10:00:00Z", steps = { { tick = true } } }\n' >"$S/bad/nowf.lua"
expect_exit 65 cf workflow test "$S/bad/nowf.lua"
assert_contains "$ERR" "workflow: none named" "no workflow: the field named"
expect_exit 66 cf workflow test --workflow "$S/no-such.lua" "$S/bad/nowf.lua"
assert_contains "$ERR" "no-such.lua" "a workflow file that does not exist: 66"
rm -f "$S/bad/nowf.lua"

# A check-only step names its case in expect.case: no 'main' case is needed.
mkdir -p "$S/named"
cp "$S/ok/_common.lua" "$S/named/"
cat >"$S/named/checkonly.lua" <<LUA
local c = require("_common")
return {
  workflow = "$POLIT", start = "2026-11-03T10:00:00Z",
  steps = {
    { as = "analyst", refer = c.referral, case = "a" },
    { expect = { case = "a", state = "authorisation" } },
  },
}
LUA
expect_exit 0 cf workflow test "$S/named/checkonly.lua"
assert_contains "$OUT" "1 passed" "a check-only step checks the case its expect names"
# A long file name of two-byte characters: the scenario's name is cut on a
# character, not inside one (it used to end in 'out of memory', 70).
long="a$(printf 'é%.0s' $(seq 1 64))"
cp "$S/named/checkonly.lua" "$S/named/$long.lua"
expect_exit 0 cf workflow test "$S/named/$long.lua"
assert_contains "$OUT" "1 passed" "a long non-ASCII file name runs"
rm -f "$S/named/$long.lua"
# A file name that is not UTF-8: one line, 65, not 'out of memory'.
cp "$S/named/checkonly.lua" "$S/named/caf$(printf '\xe9').lua"
expect_exit 65 cf workflow test "$S/named/caf$(printf '\xe9').lua"
assert_contains "$ERR" "file name must be UTF-8" "a non-UTF-8 file name: 65, named"
rm -rf "$S/named"

# ---- no such file, usage ----------------------------------------------------------------
expect_exit 66 cf workflow test "$S/missing.lua"
assert_contains "$ERR" "missing.lua: No such file or directory" "a missing file: 66"
expect_exit 66 cf workflow test "$S/bad"
assert_contains "$ERR" "no scenario files" "a directory without scenarios: 66"
expect_exit 64 cf workflow test
expect_exit 64 cf workflow test --state x "$S/ok/pass.lua"
expect_exit 0 cf workflow test --help
assert_contains "$OUT" "--workflow FILE" "--help documents the options"
finish
