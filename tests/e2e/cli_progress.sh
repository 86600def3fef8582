#!/bin/bash
# Progress lines of long commands: on a terminal (script(1) gives the command
# one) bulk refer, audit verify and workflow migrate redraw a line on stderr
# with a count, a rate and an ETA, erased at the end; piped, the same
# commands print not one byte of it. retention dispose --due disposes of
# every case due but those under legal hold.
. "${CASEFLOW_SRCDIR:-.}/tests/e2e/lib.sh"

export CASEFLOW_NOW=2026-11-02T10:00:00Z
# The first progress line at once (it waits 0.2 s by default): what the test
# sees must not depend on how fast this machine runs the command.
export CASEFLOW_PROGRESS_AFTER=0
setup_store
N=2000
referrals PROG "$N" >"$E2E_TMP/bulk.jsonl"

# ---- piped: nothing extra ------------------------------------------------------------------
expect_exit 0 cf --actor analyst1 refer --workflow polit "$E2E_TMP/bulk.jsonl"
assert_eq "$N" "$(grep -c ' created$' "$OUT")" "piped: $N referrals taken in"
assert_eq 0 "$(wc -c <"$ERR")" "piped: refer says nothing on stderr"
expect_exit 0 cf --actor admin audit verify
assert_eq 0 "$(wc -c <"$ERR")" "piped: audit verify says nothing on stderr"
cf --actor admin audit verify --json 2>&1 >/dev/null | cat >"$E2E_TMP/verify.err"
assert_eq 0 "$(wc -c <"$E2E_TMP/verify.err")" "piped: nothing on stderr with --json either"

if ! command -v script >/dev/null 2>&1; then
    echo "# script(1) missing: the terminal's progress line is not tested"
    finish
fi

# on_tty NAME CMD: run CMD on a terminal, everything it prints in $E2E_TMP/NAME.tty.
on_tty() {
    local name=$1
    shift
    script -qec "$*" /dev/null </dev/null >"$E2E_TMP/$name.tty" 2>&1
}

# A progress line: "\rcaseflow: WHAT DONE[/TOTAL]  RATE/s[  ETA T]", then
# erased ("\r" and erase-to-end-of-line) before anything else.
has_progress() {
    LC_ALL=C grep -aq $'\rcaseflow: '"$2"' [0-9,]*\(/[0-9,]*\)\?  [0-9,]*/s' "$E2E_TMP/$1.tty"
}

# ---- refer on a terminal ---------------------------------------------------------------------
referrals TTY "$N" >"$E2E_TMP/tty.jsonl"
on_tty refer "'$CASEFLOW_BIN' --actor analyst1 refer --workflow polit '$E2E_TMP/tty.jsonl'"
assert_eq 0 "$?" "on a terminal: refer exit 0"
if has_progress refer "refer"; then ok "on a terminal: refer shows a progress line with a rate"
else not_ok "on a terminal: refer shows a progress line with a rate"; head -c 600 "$E2E_TMP/refer.tty" | cat -A | sed 's/^/#   /'; fi
assert_eq "$N" "$(grep -ac ' created' "$E2E_TMP/refer.tty")" "on a terminal: every result line printed"
if LC_ALL=C grep -aq $'/[0-9,]*  [0-9,]*/s  ETA' "$E2E_TMP/refer.tty"; then
    ok "on a terminal: a file's lines have a total and an ETA"
else
    not_ok "on a terminal: a file's lines have a total and an ETA"
fi
# No result line is glued to a progress line: each follows an erase.
assert_eq 0 "$(LC_ALL=C grep -ac $'/s[^\r]*CF-' "$E2E_TMP/refer.tty")" \
    "on a terminal: the line is erased before results are printed"
# Through a pipe on a terminal's stdin: the line is still on stderr, count only.
on_tty stdin "sed 's/PROG-/PIPE-/' '$E2E_TMP/bulk.jsonl' | '$CASEFLOW_BIN' --actor analyst1 refer --workflow polit >/dev/null"
assert_eq 0 "$?" "on a terminal, from a pipe: exit 0"
if has_progress stdin "refer"; then ok "on a terminal, from a pipe: a count and a rate"
else not_ok "on a terminal, from a pipe: a count and a rate"; fi

# ---- audit verify on a terminal --------------------------------------------------------------
on_tty verify "'$CASEFLOW_BIN' --actor admin audit verify"
assert_eq 0 "$?" "on a terminal: audit verify exit 0"
if has_progress verify "audit verify: [a-z]*"; then ok "on a terminal: audit verify shows a progress line"
else not_ok "on a terminal: audit verify shows a progress line"; cat -A "$E2E_TMP/verify.tty" | head -5 | sed 's/^/#   /'; fi
assert_contains "$E2E_TMP/verify.tty" "audit chain ok" "on a terminal: the report follows"
on_tty verifyj "'$CASEFLOW_BIN' --actor admin audit verify --json 2>/dev/null"
assert_eq 0 "$(LC_ALL=C grep -ac 'caseflow: audit verify' "$E2E_TMP/verifyj.tty")" \
    "stderr elsewhere: no progress with the JSON on the terminal"

# ---- workflow migrate on a terminal ----------------------------------------------------------
WF2="$E2E_TMP/wf2"
cp -r "$(dirname "$POLIT")" "$WF2"
sed -i 's/very_high = 1, high = 7/very_high = 1, high = 5/' "$WF2/polit.lua"
expect_exit 0 cf --actor admin --reason "e2e: a shorter deadline" workflow deploy --yes "$WF2/polit.lua"
MOVE=$(seq -f 'CF-%06g' 1 80 | tr '\n' ' ')
on_tty migrate "'$CASEFLOW_BIN' --actor admin --reason 'e2e: move to v2' workflow migrate polit --to 2 --cases $MOVE"
assert_eq 0 "$?" "on a terminal: workflow migrate exit 0"
if has_progress migrate "workflow migrate"; then ok "on a terminal: workflow migrate shows a progress line"
else not_ok "on a terminal: workflow migrate shows a progress line"; head -c 600 "$E2E_TMP/migrate.tty" | cat -A | sed 's/^/#   /'; fi
expect_exit 0 cf --actor supervisor1 --reason e2e list --json --workflow polit@2 --limit 100000
assert_jq "$OUT" "length == 80" "the 80 cases now on version 2"
# list --json on a terminal, printed a page at a time: the same array as piped
expect_exit 0 cf --actor supervisor1 --reason e2e list --json
cp "$OUT" "$E2E_TMP/list.piped"
on_tty listj "'$CASEFLOW_BIN' --actor supervisor1 --reason e2e list --json 2>/dev/null"
tr -d '\r' <"$E2E_TMP/listj.tty" >"$E2E_TMP/list.tty"
assert_eq "$(jq -c . "$E2E_TMP/list.piped")" "$(jq -c . "$E2E_TMP/list.tty")" \
    "list --json on a terminal: the same cases as piped"
assert_eq "$(jq length "$E2E_TMP/list.piped")" "$(LC_ALL=C grep -c '^    "id": ' "$E2E_TMP/list.tty")" \
    "list --json on a terminal: indented as piped"
expect_exit 0 cf --actor admin audit verify

# ---- retention dispose --due -----------------------------------------------------------------
close_one() {
    local id
    id=$(new_case "$1")
    cf --actor officer1 --reason e2e act "$id" authorisation.applied \
        --data '{"necessity":"to identify the subscriber","proportionality":"least intrusive"}' >/dev/null
    cf --actor authoriser1 --reason e2e act "$id" authorisation.refused --data '{"reason":"not necessary"}' >/dev/null
    echo "$id"
}
A=$(close_one RET-1)
B=$(close_one RET-2)
C=$(close_one RET-3)
expect_exit 64 cf --actor admin --reason "MoPI review" retention dispose --due "$A"
expect_exit 64 cf --actor admin --reason "MoPI review" retention dispose
expect_exit 64 cf --actor admin retention dispose --due                   # no reason
expect_exit 77 cf --actor officer1 --reason "MoPI review" retention dispose --due
export CASEFLOW_NOW=2031-06-01T00:00:00Z
expect_exit 0 cf --actor admin --reason "civil claim" retention hold "$B"
snapshot before_dispose
expect_exit 0 cf --actor admin --reason "MoPI review" --json retention dispose --due
assert_jq "$OUT" '.disposed == 2 and .held == 1 and .failed == 0' "two disposed of, one held"
assert_jq "$OUT" "[.cases[] | select(.status == \"held\") | .id] == [\"$B\"]" "the held case is named"
expect_exit 0 cf --actor admin --reason "check" --json show "$A"
assert_jq "$OUT" '.data.disposed == true' "a due case's data erased"
expect_exit 0 cf --actor admin --reason "check" --json show "$B"
assert_jq "$OUT" '.data.disposed != true' "the held case kept"
on_tty dispose "'$CASEFLOW_BIN' --actor admin --reason 'MoPI review' retention dispose --due"
assert_eq 0 "$?" "again on a terminal: exit 0"
assert_contains "$E2E_TMP/dispose.tty" "0 disposed of, 1 under legal hold, 0 failed" \
    "again: nothing more to dispose of, the held case kept"
expect_exit 0 cf --actor admin --json audit verify
assert_jq "$OUT" '.ok == true' "the chain and tables verify after disposal"

finish
