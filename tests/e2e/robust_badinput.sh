#!/bin/bash
# Nothing lost to bad input (issue 4): every malformed referral of
# tests/data/badinput/referrals/ and every malformed act payload of
# tests/data/badinput/acts/ (named EVENT--what.json), plus huge strings, deep
# nesting and bad options generated here, is rejected with exactly one line
# "caseflow: ..." on stderr, the documented exit status (65 invalid input,
# 64 usage), nothing on stdout, and no change to the store (sqlite3 .dump
# taken right around the bad command: reads append audit records).
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

BAD="$CASEFLOW_SRCDIR/tests/data/badinput"
export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_store

# The store is compared with sqlite3 .dump: a full dump (snapshot) before
# each group of bad commands, and after each command a check that neither
# the store file nor its WAL was written since (a bash builtin, as there are
# hundreds of commands); when one was, the full dump shows what changed.
DB=$CASEFLOW_STORE
# (On PostgreSQL the files are the server's: the test reads instead a mark
# of every table of the store, its row count and the newest transaction
# that wrote a row still in it, which any insert, update or delete moves.)
pg_mark() {
    local q
    q=$(store_sql "SELECT string_agg(format('(SELECT count(*) || '':'' || coalesce(max(xmin::text::bigint), 0) FROM %I)', tablename), ' || '','' || ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'caseflow'")
    store_sql "SELECT $q"
}
group() {
    snapshot group
    touch "$E2E_TMP/group.dump" # after sqlite3's own close
    is_pg_store "$DB" && pg_mark >"$E2E_TMP/group.mark"
}
unchanged_since_group() {
    local what=$1 f
    if is_pg_store "$DB" && ! pg_mark | cmp -s - "$E2E_TMP/group.mark"; then
        touch "$E2E_TMP/group.written"
    fi
    for f in "$DB" "$DB-wal" "$E2E_TMP/group.written"; do
        if [ -e "$f" ] && [ "$f" -nt "$E2E_TMP/group.dump" ]; then
            if store_dump | cmp -s - "$E2E_TMP/group.dump"; then
                group # written, but to the same content
                break
            fi
            not_ok "store changed: $what"
            store_dump | diff "$E2E_TMP/group.dump" - | head -6 | cut -c1-300 | sed 's/^/#   /'
            group
            return 1
        fi
    done
    ok "store unchanged: $what"
}

# rejected CODE WHAT CMD...: one error line "caseflow: ...", CODE, nothing on
# stdout, the store as it was.
rejected() {
    local code=$1 what=$2
    shift 2
    "$@" >"$OUT" 2>"$ERR" </dev/null
    check_rejected $? "$code" "$what"
}

# As rejected, with standard input from a file.
rejected_in() {
    local code=$1 what=$2 input=$3
    shift 3
    "$@" >"$OUT" 2>"$ERR" <"$input"
    check_rejected $? "$code" "$what"
}

check_rejected() {
    local got=$1 code=$2 what=$3 lines
    lines=$(wc -l <"$ERR")
    if [ "$got" != "$code" ]; then
        not_ok "$what: exit $code (got $got)"
        show_output
    elif [ "$lines" != 1 ] || ! grep -q '^caseflow: ' "$ERR"; then
        not_ok "$what: one line 'caseflow: ...' on stderr (got $lines lines)"
        show_output
    elif [ -s "$OUT" ]; then
        not_ok "$what: nothing on stdout"
        show_output
    else
        ok "$what: exit $code, one error line"
    fi
    unchanged_since_group "$what"
}

# ---- the referral corpus, as FILE and on standard input ----------------------
group
n=0
for f in "$BAD"/referrals/*.json; do
    name=$(basename "$f")
    rejected 65 "refer $name" cf --actor analyst1 refer --json "$f"
    # standard input takes the same path; try it with the byte-level ones
    case $name in
    raw-* | bom* | utf* | invalid-utf8* | latin1* | empty* | only-* | trunc* | trailing*)
        rejected_in 65 "refer < $name" "$f" cf --actor analyst1 refer --json
        ;;
    esac
    n=$((n + 1))
done
assert_unchanged group "the whole referral corpus"
assert_eq yes "$([ "$n" -ge 150 ] && echo yes || echo no)" "the referral corpus holds $n files"

# ---- generated: huge strings, deep nesting, many members ---------------------
G="$E2E_TMP/gen"
mkdir -p "$G"
good_tail='"received_at":"2026-11-02T09:15:00Z","ip_events":[{"ip":"203.0.113.45","at":"2026-10-30T21:14:05Z"}]}'
# a 10 MB reference, source, and unknown field
big=$(head -c 10485760 /dev/zero | tr '\0' 'x')
printf '{"source":"NCA-CEOP","reference":"%s",%s\n' "$big" "$good_tail" >"$G/huge-reference.json"
printf '{"source":"%s","reference":"BAD-HUGE-SOURCE",%s\n' "$big" "$good_tail" >"$G/huge-source.json"
printf '{"source":"NCA-CEOP","reference":"BAD-HUGE-IP","received_at":"2026-11-02T09:15:00Z","ip_events":[{"ip":"%s","at":"2026-10-30T21:14:05Z"}]}\n' "$big" >"$G/huge-ip.json"
printf '{"source":"NCA-CEOP","reference":"BAD-HUGE-FIELD","%s":1,%s\n' "$big" "$good_tail" >"$G/huge-field-name.json"
unset big
# 100 000 levels of nesting: in an unknown field, in ip_events, and bare
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "["; for (i = 0; i < 100000; i++) printf "]"; print "" }' >"$G/deep.txt"
printf '{"source":"NCA-CEOP","reference":"BAD-DEEP","nested":%s,%s\n' "$(cat "$G/deep.txt")" "$good_tail" >"$G/deep-field.json"
printf '{"source":"NCA-CEOP","reference":"BAD-DEEP-IP","received_at":"2026-11-02T09:15:00Z","ip_events":%s}\n' "$(cat "$G/deep.txt")" >"$G/deep-ip-events.json"
awk 'BEGIN { for (i = 0; i < 100000; i++) printf "{\"a\":"; printf "1"; for (i = 0; i < 100000; i++) printf "}"; print "" }' >"$G/deep-objects.json"
# ip_events with 100 001 entries
awk 'BEGIN { printf "{\"source\":\"NCA-CEOP\",\"reference\":\"BAD-MANY\",\"received_at\":\"2026-11-02T09:15:00Z\",\"ip_events\":["; for (i = 0; i <= 100000; i++) printf "%s{\"ip\":\"203.0.113.%d\",\"at\":\"2026-10-30T21:14:05Z\"}", (i ? "," : ""), i % 256; print "]}" }' >"$G/many-ip-events.json"
group
for f in "$G"/*.json; do
    rejected 65 "refer $(basename "$f") (generated)" cf --actor analyst1 refer "$f"
done
rejected_in 65 "refer < deep-objects.json (generated)" "$G/deep-objects.json" cf --actor analyst1 refer

# ---- act payloads ---------------------------------------------------------------
applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
granted='{"authority":"OCDA","reference":"OCDA-2026-0001","urgent":false}'
serial=0
# fresh_case EVENT: a new case in the state that takes EVENT; its id in $ID,
# the actor who may send EVENT in $ACTOR.
fresh_case() {
    serial=$((serial + 1))
    ID=$(new_case "BAD-ACT-$serial" polit "198.51.100.$((serial % 250 + 1))")
    ACTOR=officer1
    case $1 in
    authorisation.applied) return ;;
    esac
    cf --actor officer1 act "$ID" authorisation.applied --data "$applied" >/dev/null &&
        cf --actor authoriser1 act "$ID" authorisation.granted --data "$granted" >/dev/null
    ACTOR=analyst1
    [ "$1" = subscriber.resolved ] && return
    cf --actor analyst1 act "$ID" subscriber.resolved --data "{\"name\":\"Test Subscriber $serial\",\"address\":{\"line1\":\"$serial Example Street\",\"town\":\"Exampleton\",\"postcode\":\"ZZ1 1ZZ\"},\"address_type\":\"installation\",\"provider_reference\":\"ISP-REF-$serial\"}" >/dev/null
}
declare -A CASES ACTORS
for event in authorisation.applied subscriber.resolved checks.completed; do
    fresh_case "$event"
    CASES[$event]=$ID
    ACTORS[$event]=$ACTOR
done
assert_eq authorisation "$(case_field "${CASES[authorisation.applied]}" .state)" "a case waits for authorisation.applied"
assert_eq subscriber "$(case_field "${CASES[subscriber.resolved]}" .state)" "a case waits for subscriber.resolved"
assert_eq checks "$(case_field "${CASES[checks.completed]}" .state)" "a case waits for checks.completed"
group
n=0
for f in "$BAD"/acts/*.json; do
    name=$(basename "$f")
    event=${name%%--*}
    id=${CASES[$event]}
    rejected 65 "act $event --data @$name" cf --actor "${ACTORS[$event]}" act "$id" "$event" --data "@$f"
    # the same payload inline (as an argument: those without a NUL byte)
    case $name in
    *duplicate-key* | *trailing-garbage* | *not-object* | *nul-escape* | *lone-surrogate* | *number-* | *-missing-* | *type-*-array.json)
        rejected 65 "act $event --data '<$name>'" cf --actor "${ACTORS[$event]}" act "$id" "$event" --data "$(cat "$f")"
        ;;
    esac
    n=$((n + 1))
done
assert_eq yes "$([ "$n" -ge 150 ] && echo yes || echo no)" "the act corpus holds $n files"
for event in "${!CASES[@]}"; do
    id=${CASES[$event]}
    cf --actor supervisor1 --reason "e2e" history --json "$id" >"$OUT"
    assert_jq "$OUT" "map(select(.event == \"$event\")) | length == 0" "no $event was ever recorded on $id"
done

# generated act payloads: huge, deep
group
id=${CASES[authorisation.applied]}
printf '{"necessity":"%s","proportionality":"x"}' "$(head -c 10485760 /dev/zero | tr '\0' 'n')" >"$G/act-huge.json"
rejected 65 "act with a 10 MB necessity" cf --actor officer1 act "$id" authorisation.applied --data "@$G/act-huge.json"
printf '{"necessity":"x","proportionality":"y","extra":%s}' "$(cat "$G/deep.txt")" >"$G/act-deep.json"
rejected 65 "act with 100 000 levels of nesting" cf --actor officer1 act "$id" authorisation.applied --data "@$G/act-deep.json"
cp "$G/deep-objects.json" "$G/act-deep-objects.json"
rejected 65 "act --data of 100 000 nested objects" cf --actor officer1 act "$id" authorisation.applied --data "@$G/act-deep-objects.json"

assert_unchanged group "generated act payloads"

# ---- usage: 64 ---------------------------------------------------------------------
group
rejected 64 "act without an event" cf --actor officer1 act "$id"
rejected 64 "act with a stray option" cf --actor officer1 act "$id" authorisation.applied --state x
rejected 64 "act --revision -1" cf --actor officer1 act "$id" authorisation.applied --data "$applied" --revision -1
rejected 64 "act --revision 1e3" cf --actor officer1 act "$id" authorisation.applied --data "$applied" --revision 1e3
rejected 64 "act --revision 99999999999999999999" cf --actor officer1 act "$id" authorisation.applied --data "$applied" --revision 99999999999999999999
rejected 64 "list --limit -5" cf --actor supervisor1 list --limit -5
rejected 64 "an unknown option" cf --actor analyst1 refer --colour blue
rejected 64 "an unknown command" cf --actor analyst1 frobnicate
rejected 64 "--data without a value" cf --actor officer1 act "$id" authorisation.applied --data
rejected 64 "CASEFLOW_NOW without a zone" env CASEFLOW_NOW=2026-11-03T10:00:00 "$CASEFLOW_BIN" --actor officer1 act "$id" authorisation.applied --data "$applied"
# an event name that is no event: 65
rejected 65 "an event name with a NUL-free control character" cf --actor officer1 act "$id" $'authorisation\tapplied' --data "$applied"
rejected 65 "an event name of 10 000 characters" cf --actor officer1 act "$id" "$(head -c 10000 /dev/zero | tr '\0' 'a')" --data "$applied"
rejected 66 "a case id of 10 000 characters" cf --actor officer1 act "$(head -c 10000 /dev/zero | tr '\0' '9')" authorisation.applied --data "$applied"

assert_unchanged group "usage errors"
expect_exit 0 cf --actor admin audit verify
finish
