#!/bin/bash
# Nothing a user or the store supplies reaches a terminal raw, and --data
# reads only what it should (issue 7, item 6). Names, ids, states, reasons,
# references, data values and file names carrying ESC (\033[31m), a newline,
# DEL and U+009B are printed by show, list, history, user list and in error
# lines with those characters escaped (\x1b, \n, \x7f, \u009b), and every
# error is still one line; --json keeps them as JSON escapes. --data @FILE
# takes only a regular file of the user's own of at most 1 MiB (a FIFO does
# not hang it), @- reads standard input, and no error quotes the input.
# A reason with nothing but spaces is no reason (exit 64).
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

setup_store

# ESC [31m, a newline, DEL and U+009B (CSI as a C1 control, in UTF-8).
HOSTILE=$'x\033[31mred\nnl\x7fdel\xc2\x9bcsi'
RAW_C0=$(printf '[\001-\011\013-\037\177]') # controls but the newline
RAW_C1=$(printf '\302[\200-\237]')
RAW_ESC=$'\033'

# hcf ARGS...: cf with @H@ in its arguments replaced by the hostile text,
# @E@ by ESC, @NL@ by a newline and @TAB@ by a tab (so that the test's own
# log shows those names, not the raw characters); @H@ in CASEFLOW_NOW too.
# shellcheck disable=SC2317 # called through expect_exit
hcf() {
    local args=() a
    for a in "$@"; do
        a=${a//@H@/$HOSTILE}
        a=${a//@E@/$'\033'}
        a=${a//@NL@/$'\n'}
        args+=("${a//@TAB@/$'\t'}")
    done
    if [ -n "${CASEFLOW_NOW:-}" ]; then
        CASEFLOW_NOW=${CASEFLOW_NOW//@H@/$HOSTILE} cf "${args[@]}"
    else
        cf "${args[@]}"
    fi
}

# assert_clean WHAT: neither stdout nor stderr of the last command holds a
# raw control character (newlines aside), a C1 control or bytes that are not
# UTF-8.
assert_clean() {
    local what=$1 f bad=""
    for f in "$OUT" "$ERR"; do
        if LC_ALL=C grep -q "$RAW_C0" "$f" || LC_ALL=C grep -q "$RAW_C1" "$f" ||
            ! iconv -f UTF-8 -t UTF-8 "$f" >/dev/null 2>&1; then
            bad="$bad $(basename "$f")"
        fi
    done
    if [ -z "$bad" ]; then
        ok "nothing raw: $what"
    else
        not_ok "raw control characters on$bad: $what"
        show_output | cat -v
    fi
}

# assert_escaped FILE WHAT: FILE shows ESC, DEL and U+009B as escapes.
assert_escaped() {
    local file=$1 what=$2 text
    for text in '\x1b[31mred' '\x7fdel' '\u009bcsi'; do
        assert_contains "$file" "$text" "$what shows $text"
    done
}

# ---- error lines: one line, escaped -----------------------------------------
CASE=$(new_case E2E-ESC-0001)
assert_eq authorisation "$(case_field "$CASE" .state)" "a case to act on"
applied='{"necessity":"identify the subscriber behind the upload","proportionality":"least intrusive means"}'

expect_exit 77 hcf --actor @H@ --reason e2e list
assert_clean "an unknown actor"
assert_escaped "$ERR" "the unknown actor"
expect_exit 66 hcf --actor supervisor1 --reason e2e show "CF@H@"
assert_clean "show of an unknown case id"
assert_escaped "$ERR" "the unknown case id"
expect_exit 66 hcf --actor supervisor1 --reason e2e history "CF@H@"
assert_clean "history of an unknown case id"
expect_exit 66 hcf --actor officer1 act "CF@H@" authorisation.applied --data "$applied"
assert_clean "act on an unknown case id"
expect_exit 65 hcf --actor officer1 act "$CASE" "ev@H@" --data "$applied"
assert_clean "an event name"
expect_exit 64 hcf @H@
assert_clean "an unknown command"
assert_escaped "$ERR" "the unknown command"
expect_exit 64 hcf list "--@H@"
assert_clean "an unknown option"
CASEFLOW_NOW=@H@ expect_exit 64 hcf --actor supervisor1 --reason e2e list
assert_clean "CASEFLOW_NOW"
assert_escaped "$ERR" "CASEFLOW_NOW"
expect_exit 64 hcf --actor supervisor1 list --limit @H@
assert_clean "--limit"
expect_exit 65 hcf --actor admin user add @H@ --role analyst
assert_clean "user add of a bad name"
expect_exit 66 hcf --actor analyst1 refer "$E2E_TMP/no@H@.json"
assert_clean "a referral file that does not exist"
assert_escaped "$ERR" "the referral file name"
assert_contains "$ERR" 'red\nnl' "the referral file name shows its newline as \\n"
expect_exit 66 hcf --actor admin --reason "e2e test" workflow deploy --yes "$E2E_TMP/no@H@.lua"
assert_clean "a workflow file that does not exist"
expect_exit 66 hcf --actor officer1 act "$CASE" authorisation.applied --data "@$E2E_TMP/no@H@.json"
assert_clean "a --data file that does not exist"
assert_escaped "$ERR" "the --data file name"

# referrals: an unknown member named with the hostile text, a reference
# carrying it (refused by the engine), alone and as one of JSON lines
esc_json='x\u001b[31mred\nnl\u007fdel\u009bcsi'
good_tail='"received_at":"2026-11-02T09:15:00Z","ip_events":[{"ip":"203.0.113.45","at":"2026-10-30T21:14:05Z"}]'
printf '{"source":"NCA-CEOP","reference":"E2E-ESC-F","%s":1,%s}\n' "$esc_json" "$good_tail" >"$E2E_TMP/field.json"
expect_exit 65 cf --actor analyst1 refer "$E2E_TMP/field.json"
assert_clean "a referral with a hostile member name"
assert_escaped "$ERR" "the member name"
printf '{"source":"NCA-CEOP","reference":"E2E-%s",%s}\n' "$esc_json" "$good_tail" >"$E2E_TMP/ref.json"
expect_exit 65 cf --actor analyst1 refer "$E2E_TMP/ref.json"
assert_clean "a referral with a hostile reference"
{ referral E2E-ESC-LINE-1; cat "$E2E_TMP/field.json"; } >"$E2E_TMP/lines.jsonl"
cf --actor analyst1 refer "$E2E_TMP/lines.jsonl" >"$OUT" 2>"$ERR"
assert_eq 65 "$?" "JSON lines with a hostile member name: exit 65"
assert_eq 1 "$(wc -l <"$ERR")" "JSON lines: one error line"
assert_clean "JSON lines with a hostile member name"

# ---- errors never quote the input ------------------------------------------------
expect_exit 65 hcf --actor officer1 act "$CASE" authorisation.applied --data '@E@[31mSECRET-TOKEN'
assert_clean "--data that is not JSON"
assert_eq 0 "$(grep -c 'SECRET-TOKEN' "$ERR")" "--data: the bad token is not quoted"
expect_exit 65 hcf --actor officer1 act "$CASE" authorisation.applied --data '{"necessity": "@E@[31mSECRET-TOKEN"}'
assert_clean "--data with a raw ESC in a string"
assert_eq 0 "$(grep -c 'SECRET-TOKEN' "$ERR")" "--data: the bad string is not quoted"
printf 'SECRET-LINE-ONE\nSECRET-LINE-TWO\n' >"$E2E_TMP/secret.txt"
expect_exit 65 cf --actor officer1 act "$CASE" authorisation.applied --data "@$E2E_TMP/secret.txt"
assert_eq 0 "$(grep -c 'SECRET' "$ERR")" "--data @FILE: no line of the file is quoted"
assert_contains "$ERR" "(line 1, column" "--data @FILE: the error names line and column"
expect_exit_in 65 "$E2E_TMP/secret.txt" cf --actor analyst1 refer
assert_eq 0 "$(grep -c 'SECRET' "$ERR")" "refer: no line of the input is quoted"
assert_contains "$ERR" "invalid JSON" "refer: the error says invalid JSON"
{ referral E2E-ESC-LINE-2; echo 'SECRET-LINE-THREE'; } >"$E2E_TMP/lines2.jsonl"
cf --actor analyst1 refer "$E2E_TMP/lines2.jsonl" >"$OUT" 2>"$ERR"
assert_eq 0 "$(grep -c 'SECRET' "$ERR")" "refer (JSON lines): no line of the input is quoted"
assert_contains "$ERR" "line 2: invalid JSON" "refer (JSON lines): the error names the line"

# ---- --data @FILE: regular files of your own, at most 1 MiB --------------------
mkfifo "$E2E_TMP/fifo"
expect_exit 65 timeout 10 "$CASEFLOW_BIN" --actor officer1 act "$CASE" authorisation.applied --data "@$E2E_TMP/fifo"
assert_contains "$ERR" "--data:" "a FIFO: the error names --data"
assert_contains "$ERR" "not a regular file" "a FIFO: the error names the rule"
expect_exit 65 cf --actor officer1 act "$CASE" authorisation.applied --data "@$E2E_TMP"
assert_contains "$ERR" "not a regular file" "a directory is refused"
expect_exit 65 cf --actor officer1 act "$CASE" authorisation.applied --data @/dev/zero
assert_contains "$ERR" "not a regular file" "/dev/zero is refused"
{
    printf '{"necessity":"'
    head -c 1048576 /dev/zero | tr '\0' 'n'
    printf '","proportionality":"p"}'
} >"$E2E_TMP/big.json"
expect_exit 65 cf --actor officer1 act "$CASE" authorisation.applied --data "@$E2E_TMP/big.json"
assert_contains "$ERR" "larger than 1 MiB" "a file over 1 MiB is refused"
cf --actor officer1 act "$CASE" authorisation.applied --data @- <"$E2E_TMP/big.json" >"$OUT" 2>"$ERR"
assert_eq 65 "$?" "more than 1 MiB on standard input is refused"
assert_contains "$ERR" "larger than 1 MiB" "standard input over 1 MiB: the rule"

# a file of another user's: as root, one made for uid 65534; else /etc/passwd
if [ "$(id -u)" = 0 ]; then
    echo 'someone:!NOT-A-REAL-HASH:19000:0:99999:7:::' >"$E2E_TMP/theirs"
    chown 65534 "$E2E_TMP/theirs"
    theirs=$E2E_TMP/theirs
else
    theirs=/etc/passwd
fi
expect_exit 65 cf --actor officer1 act "$CASE" authorisation.applied --data "@$theirs"
assert_contains "$ERR" "is not yours; pipe it instead: --data @- < $theirs" "a file of another user's is refused"
if grep -v '^$' "$theirs" | grep -qF -f - "$ERR" "$OUT"; then
    not_ok "a file of another user's: a line of it was printed"
else
    ok "a file of another user's: no line of it printed"
fi
if [ -e /etc/shadow ]; then
    expect_exit 65 cf --actor officer1 act "$CASE" authorisation.applied --data @/etc/shadow
    # root owns it, so root may name it (and gets a JSON error); others may not
    if [ -r /etc/shadow ] && grep -v '^$' /etc/shadow | grep -qF -f - "$ERR" "$OUT"; then
        not_ok "--data @/etc/shadow: a line of it was printed"
    else
        ok "--data @/etc/shadow: no line of it printed"
    fi
    if [ -r /etc/shadow ]; then
        first=$(head -1 /etc/shadow | cut -d: -f1)
        assert_eq 0 "$(grep -cF "'$first" "$ERR")" "--data @/etc/shadow: not even its first word is quoted"
    fi
else
    echo "# no /etc/shadow here: that case skipped"
fi

# @- reads standard input (and the file is yours to pipe)
expect_exit_in 0 <(printf '%s' "$applied") cf --actor officer1 act "$CASE" authorisation.applied --data @-
assert_eq authorisation "$(case_field "$CASE" .state)" "--data @- was taken (the case waits for the authoriser)"
assert_eq "identify the subscriber behind the upload" \
    "$(case_field "$CASE" .data.authorisation.application.necessity)" \
    "--data @-: the payload from standard input was recorded"
echo '{"necessity":' >"$E2E_TMP/half.json"
expect_exit_in 65 "$E2E_TMP/half.json" cf --actor officer1 act "$CASE" authorisation.applied --data @-
assert_contains "$ERR" "--data: invalid JSON in standard input: unexpected end of input" "@-: bad JSON named"

# ---- --reason must say something ------------------------------------------------
expect_exit 64 cf --actor supervisor1 --reason " " list
assert_eq "caseflow: --reason: must say why (it is empty or only spaces)" "$(cat "$ERR")" "--reason ' ': the message"
expect_exit 64 cf --actor supervisor1 --reason "" show "$CASE"
expect_exit 64 hcf --actor supervisor1 --reason ' @TAB@@NL@ ' history "$CASE"
expect_exit 64 env CASEFLOW_REASON="   " "$CASEFLOW_BIN" --actor supervisor1 list
expect_exit 0 cf --actor supervisor1 --reason " weekly review " list

# ---- text stored in the store, printed back -------------------------------------
# Values the engine takes with a newline, a tab or U+009B in them: a
# free-text field of --data and a referral reference.
C1_CASE=$(printf '{"source":"NCA-CEOP","reference":"E2E-ESC-\\u009b[31mC1",%s}\n' "$good_tail" |
    cf --actor analyst1 refer --json | jq -r .id)
assert_eq CF- "${C1_CASE:0:3}" "a reference with U+009B is taken in"
expect_exit 0 cf --actor officer1 act "$C1_CASE" authorisation.applied \
    --data '{"necessity":"two\nlines\tand \u009b[31m a CSI","proportionality":"p"}'
expect_exit 0 hcf --actor supervisor1 --reason @H@ show "$C1_CASE"
assert_clean "show of a case with U+009B, a newline and a tab in its data (and a hostile reason)"
assert_contains "$OUT" 'E2E-ESC-\u009b[31mC1' "show: the reference's U+009B is escaped"
assert_contains "$OUT" 'two\nlines\tand \u009b[31m a CSI' "show: the free text's controls are escaped"
expect_exit 0 cf --actor supervisor1 --reason e2e show --json "$C1_CASE"
assert_jq "$OUT" '.data.authorisation.application.necessity == "two\nlines\tand \u009b[31m a CSI"' \
    "show --json (not a terminal): the same text, as JSON"

# Text written to the store by another program (or an older caseflow): a
# user, a case's state and data, a history record's actor.
# (On PostgreSQL, as a superuser with the store's triggers off: store_tamper.)
if is_pg_store "$CASEFLOW_STORE"; then
    X=$(printf "'x'||chr(27)||'[31mred'||chr(10)||'nl'||chr(127)||'del'||chr(155)||'csi'")
    NOTE="data = jsonb_set(data::jsonb, '{note}', to_jsonb($X))::text"
else
    X=$(printf "'x'||char(27)||'[31mred'||char(10)||'nl'||char(127)||'del'||char(155)||'csi'")
    NOTE="data = json_set(data, '\$.note', $X)"
fi
store_tamper "
    INSERT INTO users(name, roles, disabled, created_at, created_by) VALUES ($X, 'analyst', 0, 0, 'admin');
    UPDATE cases SET state = $X, $NOTE WHERE id = '$CASE';
    UPDATE events SET actor = $X WHERE case_id = '$CASE';" || {
    echo "Bail out! cannot write to the store with sqlite3"
    exit 99
}
users=$(store_sql "SELECT count(*) FROM users")
reads=("user list" "list" "show $CASE" "history $CASE")
for words in "${reads[@]}"; do
    # shellcheck disable=SC2086 # the words are split on purpose
    cf --actor admin --reason e2e $words >"$OUT" 2>"$ERR"
    st=$?
    assert_clean "$words of stored hostile text"
    if [ "$st" = 0 ]; then
        assert_escaped "$OUT" "$words"
    else
        # an engine that refuses the altered rows must say so on one line
        assert_eq 1 "$(wc -l <"$ERR")" "$words: refused on one line"
    fi
done
cf --actor admin user list >"$OUT" 2>"$ERR"
assert_eq $((users + 1)) "$(wc -l <"$OUT")" "user list: one line per user and the header"
cf --actor admin --reason e2e list >"$OUT" 2>"$ERR"
assert_eq "$(($(store_sql "SELECT count(*) FROM cases") + 1))" "$(wc -l <"$OUT")" \
    "list: one line per case and the header"
cf --actor admin --reason e2e list --json >"$OUT" 2>"$ERR"
assert_jq "$OUT" "map(select(.id == \"$CASE\"))[0].state == \"x\\u001b[31mred\\nnl\\u007fdel\\u009bcsi\"" \
    "list --json (not a terminal): the state as it is stored, as JSON"
assert_eq 0 "$(grep -c "$RAW_ESC" "$OUT")" "list --json: ESC only as a JSON escape"

# --json on a terminal: ASCII only (script(1) gives the command a terminal)
if command -v script >/dev/null 2>&1; then
    script -qec "'$CASEFLOW_BIN' --actor admin --reason e2e show --json $CASE" /dev/null >"$E2E_TMP/tty.out" 2>&1
    tr -d '\r' <"$E2E_TMP/tty.out" >"$OUT"
    : >"$ERR"
    assert_clean "show --json on a terminal"
    assert_eq 0 "$(LC_ALL=C grep -c "$(printf '[\200-\377]')" "$OUT")" "show --json on a terminal: ASCII only"
    assert_jq "$OUT" ".state == \"x\\u001b[31mred\\nnl\\u007fdel\\u009bcsi\"" \
        "show --json on a terminal: the same JSON value"
else
    echo "# script(1) not found: --json on a terminal not tested"
fi
finish
