#!/bin/bash
# A step plugin that crashes, exits or hangs names itself (issue 10, item 7).
# The test plugin "misbehave" (tests/plugins/misbehave.c) under the workflow
# tests/data/robust/misbehave.lua does, on the case's `act`, whatever its
# input says: a segfault, abort(), a division by zero, a stack overflow,
# exit(), sleeping or spinning forever (with store policy plugin_call_ms
# at 300), and the same on entering a state or on initialising. Each time:
#  - exit status 70 and exactly one line on stderr naming the plugin, its
#    version, the state, the event, the case and "nothing was committed";
#  - nothing on stdout, the store exactly as it was (sqlite3 .dump);
#  - another process acts on another case right after (no exit 75: the
#    write lock went with the process);
#  - a hang ends within a few seconds of the 300 ms budget.
# A plugin that prints to stdout (printf and write(1)) leaves `act --json`
# and `show --json` parseable; its log lines name it. The policy refuses
# values out of range. caseflowd: a request whose plugin crashes ends the
# service with exit 70 and the line in its log; the client gets a closed
# connection or a 500; the restarted service serves, with every
# acknowledged change there. `audit verify` passes at the end.
#
# The crashes are caught by the engine's own signal handler, which runs
# before a sanitizer's for faults inside plugin calls only: the test runs
# the same under ASan (no exit status of a sanitizer's is expected).
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_store
WF="$CASEFLOW_SRCDIR/tests/data/robust/misbehave.lua"
if ! cf --actor admin --reason "containment test" workflow deploy --yes "$WF" >/dev/null; then
    echo "Bail out! cannot deploy $WF"
    exit 99
fi
VICTIM=$(new_case ROBUST-PLUGIN-1 misbehave)
OTHER=$(new_case ROBUST-PLUGIN-2 misbehave)
BYSTANDER=$(new_case ROBUST-PLUGIN-3)
if [ -z "$VICTIM" ] || [ -z "$OTHER" ] || [ -z "$BYSTANDER" ]; then
    echo "Bail out! cannot make the cases"
    exit 99
fi
assert_eq triage "$(case_field "$VICTIM" .state)" "the victim case waits in triage"

officer() {
    cf --actor officer1 "$@"
}

# contained WHAT LINE CMD...: CMD exits 70 with exactly LINE on stderr and
# nothing on stdout, within 20 s; the store is unchanged; another process
# then acts on another case at once.
contained() {
    local what=$1 want=$2 got t0 t1 cmd
    shift 2
    cmd=("$@") # timeout runs programs, not functions
    case $1 in
    cf) cmd=("$CASEFLOW_BIN" "${cmd[@]:1}") ;;
    officer) cmd=("$CASEFLOW_BIN" --actor officer1 "${cmd[@]:1}") ;;
    esac
    snapshot before
    t0=$(date +%s%N)
    timeout 20 "${cmd[@]}" >"$OUT" 2>"$ERR" </dev/null
    got=$?
    t1=$(date +%s%N)
    ELAPSED_MS=$(((t1 - t0) / 1000000))
    assert_eq 70 "$got" "$what: exit 70"
    assert_eq "$want" "$(cat "$ERR")" "$what: the one line names the culprit"
    assert_eq 0 "$(wc -c <"$OUT")" "$what: nothing on stdout"
    assert_unchanged before "$what"
    expect_exit 0 officer act "$OTHER" poke
}

line() { # line WHAT WHERE: the expected message
    printf 'caseflow: plugin "misbehave" 6.6.6 %s %s; nothing was committed' "$1" "$2"
}
HANDLING="in state \"triage\" handling \"poke\" on case $VICTIM"

# ---- faults in handle ----------------------------------------------------------------
contained "segfault in handle" "$(line "crashed (SIGSEGV)" "$HANDLING")" \
    officer act "$VICTIM" poke --data '{"do": "segv"}'
contained "abort in handle" "$(line "crashed (SIGABRT)" "$HANDLING")" \
    officer act "$VICTIM" poke --data '{"do": "abort"}'
contained "division by zero in handle" "$(line "crashed (SIGFPE)" "$HANDLING")" \
    officer act "$VICTIM" poke --data '{"do": "fpe"}'
contained "stack overflow in handle" "$(line "crashed (SIGSEGV)" "$HANDLING")" \
    officer act "$VICTIM" poke --data '{"do": "stack"}'
contained "exit(0) in handle" "$(line "called exit(0)" "$HANDLING")" \
    officer act "$VICTIM" poke --data '{"do": "exit"}'
contained "quick_exit(0) in handle" "$(line "called quick_exit()" "$HANDLING")" \
    officer act "$VICTIM" poke --data '{"do": "quick_exit"}'
contained "exit(5) in handle, with --json" "$(line "called exit(5)" "$HANDLING")" \
    officer act --json "$VICTIM" poke --data '{"do": "exit", "code": 5}'

# ---- in enter and init --------------------------------------------------------------
contained "segfault on entering a state" \
    "$(line "crashed (SIGSEGV)" "entering state \"crashing\" after \"crash\" on case $VICTIM")" \
    officer act "$VICTIM" crash
contained "exit(3) on entering a state" \
    "$(line "called exit(3)" "entering state \"exiting\" after \"exit\" on case $VICTIM")" \
    officer act "$VICTIM" exit
# init runs again whenever a command binds the deployed version (every act,
# refer, tick, show): the same containment there, not only at deploy.
INITS="initialising for state \"triage\""
contained "exit(0) in init, when an act binds the version" "$(line "called exit(0)" "$INITS")" \
    env MISBEHAVE_INIT=exit "$CASEFLOW_BIN" --actor officer1 act "$VICTIM" poke
contained "segfault in init, when an act binds the version" "$(line "crashed (SIGSEGV)" "$INITS")" \
    env MISBEHAVE_INIT=segv "$CASEFLOW_BIN" --actor officer1 act "$VICTIM" poke
MISBEHAVE_INIT=print "$CASEFLOW_BIN" --actor officer1 --json act "$OTHER" poke >"$OUT" 2>"$ERR"
assert_eq 0 $? "printing in init at act time: the act succeeds"
assert_jq "$OUT" '.state == "triage"' "printing in init at act time: --json output still parses"
assert_contains "$ERR" "misbehave was here (printf)" "printing in init at act time: the noise went to stderr"
sed -e 's/version = 1/version = 2/' -e 's/config = { enter = "print" }/config = { init = "abort" }/' \
    "$WF" >"$E2E_TMP/misbehave2.lua"
contained "abort in init, at deploy" "$(line "crashed (SIGABRT)" "initialising for state \"noisy\"")" \
    cf --actor admin --reason "containment test" workflow deploy --yes "$E2E_TMP/misbehave2.lua"

# ---- hangs ---------------------------------------------------------------------------
snapshot policy
expect_exit 65 cf --actor admin --reason "containment test" policy set plugin_call_ms 5
expect_exit 65 cf --actor admin --reason "containment test" policy set plugin_call_ms 600001
expect_exit 65 cf --actor admin --reason "containment test" policy set plugin_call_ms 3s
assert_unchanged policy "plugin_call_ms out of range refused"
cf --actor admin policy show --json >"$OUT" 2>"$ERR"
assert_jq "$OUT" '.plugin_call_ms == "5000" or .plugin_call_ms == 5000' "plugin_call_ms is 5000 by default"
expect_exit 0 cf --actor admin --reason "containment test" policy set plugin_call_ms 300
contained "a plugin sleeping forever" "$(line "did not return within 300 ms" "$HANDLING")" \
    officer act "$VICTIM" poke --data '{"do": "hang"}'
if [ "$ELAPSED_MS" -lt 5000 ]; then
    ok "the sleeping plugin was stopped within 5 s ($ELAPSED_MS ms)"
else
    not_ok "the sleeping plugin took $ELAPSED_MS ms to stop (budget 300 ms)"
fi
contained "a plugin spinning forever" "$(line "did not return within 300 ms" "$HANDLING")" \
    officer act "$VICTIM" poke --data '{"do": "spin"}'
if [ "$ELAPSED_MS" -lt 5000 ]; then
    ok "the spinning plugin was stopped within 5 s ($ELAPSED_MS ms)"
else
    not_ok "the spinning plugin took $ELAPSED_MS ms to stop (budget 300 ms)"
fi
# While a plugin hangs, it holds the write lock; when it is stopped the
# next writer (started meanwhile, waiting for the lock) gets through.
timeout 20 "$CASEFLOW_BIN" --actor officer1 act "$VICTIM" poke --data '{"do": "hang"}' \
    >/dev/null 2>&1 &
HUNG=$!
sleep 0.1
expect_exit 0 officer act "$OTHER" poke
wait "$HUNG"
assert_eq 70 $? "the hung command ended with 70 while another wrote"
expect_exit 0 cf --actor admin --reason "containment test" policy set plugin_call_ms 5000

# ---- output and logs -----------------------------------------------------------------
officer act --json "$OTHER" poke --data '{"do": "print"}' >"$OUT" 2>"$ERR"
assert_jq "$OUT" ".id == \"$OTHER\" and .state == \"triage\"" "act --json parses when the plugin prints in handle"
assert_contains "$ERR" "misbehave was here (printf)" "the plugin's printf went to stderr"
assert_contains "$ERR" "misbehave was here (write)" "the plugin's write(1) went to stderr"
officer act --json "$OTHER" noisy >"$OUT" 2>"$ERR"
assert_jq "$OUT" ".id == \"$OTHER\" and .state == \"noisy\"" "act --json parses when the plugin prints in enter"
officer act "$OTHER" poke --data '{"do": "print"}' >"$OUT" 2>"$ERR"
assert_eq "$OTHER  noisy -> noisy  (revision $(case_field "$OTHER" .revision))" "$(cat "$OUT")" \
    "the text output is only the command's"
cf --actor supervisor1 --reason "containment test" show --json "$OTHER" >"$OUT" 2>"$ERR"
assert_jq "$OUT" ".state == \"noisy\"" "show --json parses"
CASEFLOW_LOG=warn officer act "$OTHER" poke --data '{"do": "log"}' >"$OUT" 2>"$ERR"
assert_contains "$ERR" "caseflow: warn: plugin \"misbehave\" on case $OTHER in state \"noisy\": misbehave logs a warning" \
    "a plugin's log line names the plugin, the case and the state"

expect_exit 0 cf --actor admin audit verify
assert_eq triage "$(case_field "$VICTIM" .state)" "the victim case is where it was"

# ---- caseflowd -----------------------------------------------------------------------
CASEFLOWD=${CASEFLOWD_BIN:-$CASEFLOW_BUILDDIR/caseflowd}
PY=/usr/bin/python3
if [ ! -x "$CASEFLOWD" ] || ! command -v curl >/dev/null 2>&1 || [ ! -x "$PY" ]; then
    echo "# caseflowd part skipped: needs caseflowd, curl and python3"
    finish
fi
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
LOG="$E2E_TMP/caseflowd.log"
TOKEN=$(cf --actor admin token create officer1 --note "containment test" | tail -n 1)
SERVER_PID=
trap '[ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null; rm -rf "$E2E_TMP"' EXIT

# start_server: caseflowd on a free port of 127.0.0.1, up when /readyz answers.
start_server() {
    local try
    for try in 1 2 3; do
        PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        U="http://127.0.0.1:$PORT"
        timeout 120 "$CASEFLOWD" --store "$CASEFLOW_STORE" --listen "127.0.0.1:$PORT" \
            --tick-interval 0 --plugins "$CASEFLOW_PLUGIN_PATH" >/dev/null 2>>"$LOG" </dev/null &
        SERVER_PID=$!
        for _ in $(seq 200); do
            [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$U/readyz")" = 200 ] && return 0
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        echo "# start try $try failed: $(tail -n 1 "$LOG")"
    done
    echo "Bail out! caseflowd did not start: $(tail -n 5 "$LOG")"
    exit 99
}

# post CASE EVENT BODY: the answer's status (000: no answer).
post() {
    curl -s --max-time 20 -o "$E2E_TMP/body" -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --data "$3" "$U/v1/cases/$1/events/$2"
}

start_server
ACKED=
for _ in 1 2 3; do
    st=$(post "$OTHER" poke '{}')
    [ "$st" = 200 ] && ACKED=$(jq -r .revision "$E2E_TMP/body")
done
assert_eq "$(case_field "$OTHER" .revision)" "$ACKED" "caseflowd acknowledged three acts"
st=$(post "$VICTIM" poke '{"do": "segv"}')
case "$st" in
000 | 500) ok "the crashing request got no acknowledgement (status $st)" ;;
*) not_ok "the crashing request got status $st" ;;
esac
wait "$SERVER_PID"
assert_eq 70 $? "caseflowd exited 70"
SERVER_PID=
assert_contains "$LOG" "$(line "crashed (SIGSEGV)" "$HANDLING")" "caseflowd's log names the culprit"
expect_exit 0 cf --actor admin audit verify
assert_eq "$ACKED" "$(case_field "$OTHER" .revision)" "every acknowledged act is in the store"
start_server
st=$(post "$OTHER" poke '{}')
assert_eq 200 "$st" "the restarted caseflowd serves"
assert_eq "$((ACKED + 1))" "$(jq -r .revision "$E2E_TMP/body")" "and counts on from the acknowledged revision"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
assert_eq 0 $? "caseflowd stops on SIGTERM"
SERVER_PID=
expect_exit 0 cf --actor admin audit verify

finish
