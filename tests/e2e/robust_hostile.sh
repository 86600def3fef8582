#!/bin/bash
# Hostile workflow scripts (issue 4): each file of tests/data/hostile/ is a
# small workflow (intake with the real referral plugin, then a state whose
# transitions run Lua functions under the test plugin "good") that tries a
# known Lua sandbox escape, at load time or inside a transition function.
# Its "-- expect:" line says what must happen:
#   deploy=N      exit status of `workflow deploy` (65/70: refused)
#   check=N       exit status of `workflow check` when deploy is refused
#   submit=N      exit status of `act ID submit` (70: a clear script error;
#                 65: a bad answer; any: whatever, as long as nothing leaks)
#   decide=N      then `act ID decide`: the second call must not see what
#                 the first one did
#   state=S       the case's state at the end
# Every refusal is one line "caseflow: ...", leaves the store exactly as it
# was (sqlite3 .dump, other cases included), no file appears outside, and
# `audit verify` passes at the end. Scripts that burn time in C library
# functions or in the VM end within the workflow time budget (or are ended
# by the watchdog), and a writer that comes right after one of them gets the
# store's write lock.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

HOSTILE="$CASEFLOW_SRCDIR/tests/data/hostile"
PWNED=/tmp/caseflow-hostile-pwned
export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_store
if [ -e "$PWNED" ]; then
    echo "Bail out! $PWNED exists before the test: remove it"
    exit 99
fi

# A bystander case on polit: every hostile act must leave it alone.
BYSTANDER=$(new_case HOSTILE-BYSTANDER)

# The scripts are deployed from a copy, beside a module that is a symlink to
# a file outside the workflow directory.
W="$E2E_TMP/hostile"
mkdir -p "$W" "$E2E_TMP/outside"
cp "$HOSTILE"/*.lua "$W/"
printf 'io.open("%s", "w")\nreturn { escaped = true }\n' "$PWNED" >"$E2E_TMP/outside/outside.lua"
ln -s "$E2E_TMP/outside/outside.lua" "$W/outside.lua"

# refused CODE WHAT CMD...: exit CODE, one line "caseflow: ...", the store as
# it was.
refused() {
    local code=$1 what=$2 got lines
    shift 2
    snapshot before
    "$@" >"$OUT" 2>"$ERR" </dev/null
    got=$?
    lines=$(wc -l <"$ERR")
    if [ "$got" = "$code" ] && [ "$lines" = 1 ] && grep -q '^caseflow: ' "$ERR"; then
        ok "$what: exit $code: $(cut -c1-110 "$ERR")"
    else
        not_ok "$what: exit $code with one error line (got $got, $lines lines)"
        show_output
    fi
    assert_unchanged before "$what"
}

serial=0
n=0
for f in "$W"/*.lua; do
    base=$(basename "$f" .lua)
    [ "$base" = outside ] && continue
    expect=$(sed -n 's/^-- expect: //p' "$f")
    if [ -z "$expect" ]; then
        not_ok "$base: no '-- expect:' line"
        continue
    fi
    n=$((n + 1))
    deploy= check= submit= decide= state=
    for kv in $expect; do
        case $kv in
        deploy=*) deploy=${kv#*=} ;;
        check=*) check=${kv#*=} ;;
        submit=*) submit=${kv#*=} ;;
        decide=*) decide=${kv#*=} ;;
        state=*) state=${kv#*=} ;;
        esac
    done
    name=hostile_${base//-/_}
    if [ "$deploy" != 0 ]; then
        refused "$deploy" "$base: deploy" cf --actor admin --reason "e2e test" workflow deploy --yes "$f"
        "$CASEFLOW_BIN" workflow check "$f" >"$OUT" 2>"$ERR"
        assert_eq "${check:-65}" "$?" "$base: workflow check exits ${check:-65}"
        assert_eq 1 "$(wc -l <"$ERR")" "$base: workflow check says one line on stderr"
        continue
    fi
    expect_exit 0 cf --actor admin --reason "e2e test" workflow deploy --yes "$f" || continue
    serial=$((serial + 1))
    id=$(new_case "HOSTILE-$serial" "$name")
    if [ -z "$id" ] || [ "$id" = null ]; then
        not_ok "$base: a case starts on the workflow"
        continue
    fi
    assert_eq waiting "$(case_field "$id" .state)" "$base: the case waits"
    rev=$(case_field "$id" .revision)
    if [ "$submit" = any ]; then
        cf --actor officer1 act "$id" submit --data '{}' >"$OUT" 2>"$ERR"
        st=$?
        if [ "$st" = 0 ] || { [ "$(wc -l <"$ERR")" = 1 ] && grep -q '^caseflow: ' "$ERR"; }; then
            ok "$base: submit: exit $st"
        else
            not_ok "$base: submit: exit $st without one error line"
            show_output
        fi
    else
        refused "$submit" "$base: act submit" cf --actor officer1 act "$id" submit --data '{}'
        assert_eq "$rev" "$(case_field "$id" .revision)" "$base: the revision is unchanged"
    fi
    if [ -n "$decide" ]; then
        expect_exit "$decide" cf --actor officer1 act "$id" decide --data '{}'
    fi
    assert_eq "$state" "$(case_field "$id" .state)" "$base: the case is in $state"
    cf --actor supervisor1 --reason e2e history --json "$id" >"$OUT"
    assert_jq "$OUT" 'all(.[]; .to != "done")' "$base: the history never reached done"
done
assert_eq yes "$([ "$n" -ge 40 ] && echo yes || echo no)" "$n hostile scripts tried"

# While a hostile act runs it holds the store's write lock; it must give it
# up within its time budget (the watchdog's grace included), long before the
# busy timeout (10 s) of a writer that comes right after it. string-equal is
# stopped by the time budget, string-compare only by the watchdog.
for base in string-equal string-compare; do
    id=$(new_case "HOSTILE-LOCK-$base" "hostile_${base//-/_}")
    if [ -z "$id" ] || [ "$id" = null ]; then
        not_ok "$base: a case for the lock check"
        continue
    fi
    timeout 60 "$CASEFLOW_BIN" --actor officer1 act "$id" submit --data '{}' \
        >"$E2E_TMP/bg.out" 2>"$E2E_TMP/bg.err" </dev/null &
    bg=$!
    sleep 0.2
    expect_exit 0 cf --actor admin user add "lock.${base//-/.}" --role analyst
    wait "$bg"
    assert_eq 70 "$?" "$base: the hostile act ends with exit 70 ($(cut -c1-100 "$E2E_TMP/bg.err"))"
    assert_eq waiting "$(case_field "$id" .state)" "$base: its case is where it was"
done

assert_eq no "$([ -e "$PWNED" ] && echo yes || echo no)" "no script wrote $PWNED"
assert_eq authorisation "$(case_field "$BYSTANDER" .state)" "the bystander case is where it was"
expect_exit 0 cf --actor admin audit verify
finish
