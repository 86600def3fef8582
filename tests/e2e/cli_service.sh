#!/bin/bash
# The command's side of the service (issue 8): tokens (printed once, only
# their hash stored, audited), tasks (the MASH task a POLIT case opens when
# children are at risk: listed, claimed, completed), list's filters and
# cursor paging (no case missed or repeated while others write), act with an
# idempotency key (a replay returns the first result, a different request
# with the same key is refused), the change feed and webhooks; bad input for
# each (its exit code, one line, the store unchanged). When caseflowd is
# built, the same commands also run through it with --server, on its Unix
# socket and over TCP with a token, and refusals keep their exit codes.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

if [ ! -f "$POLIT" ]; then
    echo "# $POLIT does not exist yet"
    exit 77
fi

# ---- --help of every new command, without a store ------------------------------
# (on PostgreSQL a database not made: a command that opened it would fail)
CASEFLOW_STORE=$(store_missing nowhere)
export CASEFLOW_STORE
for words in "token create" "token list" "token revoke" "task list" "task claim" \
    "task complete" "feed" "webhook add" "webhook list" "webhook remove" \
    "webhook redeliver" "token" "task" "webhook"; do
    # shellcheck disable=SC2086 # the words are split on purpose
    expect_exit 0 cf $words --help
    assert_contains "$OUT" "usage: caseflow $words" "help of '$words'"
done
expect_exit 0 cf list --help
assert_contains "$OUT" "--open-tasks" "list's help names its new filters"
expect_exit 0 cf act --help
assert_contains "$OUT" "--idempotency-key" "act's help names --idempotency-key"
expect_exit 0 cf list --version
assert_contains "$OUT" "caseflow " "list --version alone is still the version"
assert_eq no "$(store_exists "$CASEFLOW_STORE" && echo yes || echo no)" "help opens no store"

export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_store
R=(--reason e2e)
audit_count() {
    store_sql "SELECT count(*) FROM audit WHERE action='$1'"
}

# ---- tokens ----------------------------------------------------------------------
expect_exit 0 cf --actor admin token create officer1 --note "RMS gateway" --expires 30d
TOKEN=$(tail -1 "$OUT")
if [[ $TOKEN =~ ^[A-Za-z0-9_.~+/=-]{16,}$ ]]; then ok "token create: the token on the last line"; else
    not_ok "token create: the last line is not a token: $TOKEN"; fi
assert_contains "$OUT" "never again" "token create warns that the token is shown once"
assert_eq 1 "$(grep -cF -- "$TOKEN" "$OUT")" "the token is printed once"
assert_eq 0 "$(store_dump | grep -cF -- "$TOKEN")" "the store keeps no token, only its hash"
assert_contains "$OUT" "2026-12-03T10:00:00Z" "--expires 30d: 30 days from the engine clock"
expect_exit 0 cf --actor admin --json token create officer1
assert_jq "$OUT" '(.token | type == "string") and .user == "officer1" and .expires_at == null' \
    "token create --json: the token, no expiry"
TOKEN2=$(jq -r .token "$OUT")
assert_eq 2 "$(audit_count token.create)" "token create: audited"
expect_exit 0 cf --actor admin --json token list
assert_jq "$OUT" 'length == 2 and all(.[]; has("token") | not) and
    (map(.note) | index("RMS gateway") != null)' "token list: both, never the token"
TID=$(jq -r 'map(select(.note == "RMS gateway"))[0].id' "$OUT")
TID2=$(jq -r 'map(select(.note != "RMS gateway"))[0].id' "$OUT")
assert_eq 0 "$(grep -cF -- "$TOKEN2" "$OUT")" "token list never shows a token"
expect_exit 0 cf --actor admin token list
assert_eq 3 "$(wc -l <"$OUT")" "token list: a header and a line per token"
expect_exit 0 cf --actor admin token revoke "$TID"
assert_contains "$OUT" "$TID" "token revoke names the token"
assert_eq 1 "$(audit_count token.revoke)" "token revoke: audited"
cf --actor admin --json token list >"$OUT"
assert_jq "$OUT" "map(select(.id == \"$TID\"))[0].revoked_at | type == \"string\"" \
    "token list shows the revocation"
snapshot tokens
expect_exit 65 cf --actor admin token revoke "$TID"
expect_exit 66 cf --actor admin token revoke 000000000000
expect_exit 65 cf --actor admin token revoke nope
expect_exit 77 cf --actor officer1 token create officer1
expect_exit 77 cf --actor officer1 token list
expect_exit 77 cf --actor officer1 token revoke "$TID2"
expect_exit 66 cf --actor admin token create nobody
expect_exit 64 cf --actor admin token create officer1 --expires tomorrow
expect_exit 64 cf --actor admin token create officer1 --expires 0d
expect_exit 65 cf --actor admin token create officer1 --expires 2020-01-01T00:00:00Z
expect_exit 64 cf --actor admin token create
expect_exit 64 cf --actor admin token create officer1 --events x
expect_exit 64 cf --actor admin token list --server /nowhere
assert_unchanged tokens "refused token commands"

# ---- tasks: the MASH task of a case with children at risk ------------------------
applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
granted='{"authority":"OCDA","reference":"OCDA-2026-0001","urgent":false}'
resolved='{"name":"Test Subscriber One","address":{"line1":"1 Example Street","town":"Exampleton","postcode":"ZZ1 1ZZ"},"address_type":"installation","provider_reference":"ISP-REF-0001"}'
at_risk='{"occupants":[{"name":"Test Occupant Two","dob":"1975-05-05"}],"prior_history":true,"registered_sex_offender":false,"children_in_household":true,"access_to_children_at_work":false,"distribution_signs":true,"address_corroborated":true}'
M=$(new_case E2E-MASH)
if ! cf --actor officer1 act "$M" authorisation.applied --data "$applied" >/dev/null ||
    ! cf --actor authoriser1 act "$M" authorisation.granted --data "$granted" >/dev/null ||
    ! cf --actor officer1 act "$M" subscriber.resolved --data "$resolved" >/dev/null ||
    ! cf --actor analyst1 act "$M" checks.completed --data "$at_risk" >/dev/null; then
    not_ok "the POLIT case reaches assessment"
fi
expect_exit 0 cf --actor officer1 "${R[@]}" --json task list --open
assert_jq "$OUT" "length == 1 and .[0].kind == \"mash_referral\" and .[0].case == \"$M\" and
    .[0].status == \"open\" and .[0].role == \"officer\"" "children at risk: one open MASH task"
T=$(jq -r '.[0].id' "$OUT")
expect_exit 0 cf --actor officer1 "${R[@]}" task list
assert_eq 2 "$(wc -l <"$OUT")" "task list: a header and the task"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --open-tasks
assert_jq "$OUT" "map(.id) == [\"$M\"] and .[0].open_tasks == 1" "list --open-tasks: the case"
snapshot task
expect_exit 77 cf --actor analyst1 task claim "$T"
expect_exit 64 cf --actor officer1 task claim x
expect_exit 64 cf --actor officer1 task claim 0
expect_exit 66 cf --actor officer1 task claim 999
expect_exit 64 cf --actor officer1 task claim
expect_exit 64 cf --actor officer1 task list
assert_contains "$ERR" "--reason" "task list without a reason names --reason"
expect_exit 64 cf --actor officer1 "${R[@]}" task list --after x
expect_exit 65 cf --actor officer1 "${R[@]}" task list --after 0 --limit 5000
assert_unchanged task "refused task commands"
expect_exit 0 cf --actor officer1 --json task claim "$T"
assert_jq "$OUT" '.status == "claimed" and .assignee == "officer1"' "task claim: claimed by the actor"
expect_exit 0 cf --actor officer1 task claim "$T"
assert_contains "$OUT" "officer1" "claiming one's own claim again"
snapshot claimed
expect_exit 75 cf --actor officer2 task claim "$T"
assert_contains "$ERR" "officer1" "a task claimed by another says by whom"
expect_exit 64 cf --actor officer1 task complete "$T" --result '{}' --result-file "$E2E_TMP/x"
expect_exit 65 cf --actor officer1 task complete "$T" --result '[1]'
expect_exit 65 cf --actor officer1 task complete "$T" --result '{"a":'
expect_exit 66 cf --actor officer1 task complete "$T" --result-file "$E2E_TMP/none.json"
assert_unchanged claimed "refused completions"
printf '{"outcome": "referred to the MASH", "reference": "MASH-2026-001"}\n' >"$E2E_TMP/result.json"
expect_exit 0 cf --actor officer1 --json task complete "$T" --result-file "$E2E_TMP/result.json"
assert_jq "$OUT" '.status == "done" and .result.reference == "MASH-2026-001" and
    (.closed_at | type == "string")' "task complete: done, with its result"
snapshot completed
expect_exit 65 cf --actor officer1 task complete "$T"
expect_exit 65 cf --actor officer1 task claim "$T"
assert_unchanged completed "a task done is closed for good"
cf --actor supervisor1 "${R[@]}" --json history "$M" >"$OUT"
assert_jq "$OUT" 'map(.event) | index("task.claimed") != null and index("task.completed") != null' \
    "claim and completion are in the case's history"
for f in "--done:1" "--open:0" "--kind mash_referral:1" "--kind none:0" "--case $M:1" \
    "--case CF-999999:0" "--assignee officer1:1" "--assignee officer2:0"; do
    # shellcheck disable=SC2086
    expect_exit 0 cf --actor officer1 "${R[@]}" --json task list ${f%:*}
    assert_jq "$OUT" "length == ${f##*:}" "task list ${f%:*}: ${f##*:}"
done
expect_exit 0 cf --actor officer1 "${R[@]}" --json task list --after 0 --limit 1
assert_jq "$OUT" '(.items | length) == 1 and .next == null' "task list --after: one page"

# ---- act --idempotency-key ---------------------------------------------------------
C=$(new_case E2E-IDEM)
expect_exit 0 cf --actor officer1 --json act "$C" authorisation.applied --data "$applied" \
    --idempotency-key K-0001
first=$(jq -cS 'del(.replayed)' "$OUT")
rev=$(case_field "$C" .revision)
hist=$(cf --actor supervisor1 "${R[@]}" --json history "$C" | jq length)
expect_exit 0 cf --actor officer1 --json act "$C" authorisation.applied --data "$applied" \
    --idempotency-key K-0001
assert_jq "$OUT" '.replayed == true' "the same key again: replayed"
assert_eq "$first" "$(jq -cS 'del(.replayed)' "$OUT")" "the same key again: the first result"
expect_exit 0 cf --actor officer1 act "$C" authorisation.applied --data "$applied" \
    --idempotency-key K-0001
assert_contains "$OUT" "replayed" "a replay says so in human output"
assert_eq "$rev" "$(case_field "$C" .revision)" "a replay changes no revision"
assert_eq "$hist" "$(cf --actor supervisor1 "${R[@]}" --json history "$C" | jq length)" \
    "a replay adds nothing to the history"
snapshot idem
other='{"necessity":"another reason altogether","proportionality":"no less intrusive means"}'
expect_exit 65 cf --actor officer1 act "$C" authorisation.applied --data "$other" \
    --idempotency-key K-0001
assert_contains "$ERR" "K-0001" "a reused key is named"
expect_exit 65 cf --actor officer1 act "$C" authorisation.refused --data '{"reason":"x"}' \
    --idempotency-key K-0001
expect_exit 65 cf --actor officer1 act "$C" authorisation.applied --data "$applied" \
    --idempotency-key "$(printf 'k%.0s' $(seq 129))"
expect_exit 65 cf --actor officer1 act "$C" authorisation.applied --data "$applied" \
    --idempotency-key ""
expect_exit 75 cf --actor officer1 act "$C" authorisation.applied --data "$applied" \
    --idempotency-key K-0002 --revision 1
expect_exit 64 cf --actor officer1 act "$C" authorisation.applied --idempotency-key
assert_unchanged idem "refused acts with keys"

# ---- list: filters and cursor paging -----------------------------------------------
referrals E2E-PAGE 230 >"$E2E_TMP/page.jsonl"
cf --actor analyst1 refer "$E2E_TMP/page.jsonl" >/dev/null || not_ok "bulk intake for paging"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list
assert_jq "$OUT" 'type == "array" and length == 232' "list --json: every case, an array"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --limit 3
assert_jq "$OUT" 'type == "array" and length == 3' "list --limit 3: still an array"
# page through 17 at a time while another writer adds a case after each page
after=""
: >"$E2E_TMP/ids"
pages=0
while [ $pages -lt 100 ]; do
    cf --actor supervisor1 "${R[@]}" --json list --after "$after" --limit 17 >"$OUT" 2>"$ERR" || {
        not_ok "list --after page $pages"
        show_output
        break
    }
    jq -r '.items[].id' "$OUT" >>"$E2E_TMP/ids"
    pages=$((pages + 1))
    referral "E2E-WRITER-$pages" | cf --actor analyst1 refer >/dev/null
    after=$(jq -r '.next // empty' "$OUT")
    [ -n "$after" ] || break
done
total=$(store_sql "SELECT count(*) FROM cases")
assert_eq "$(wc -l <"$E2E_TMP/ids")" "$(sort -u "$E2E_TMP/ids" | wc -l)" "paging: no case repeated"
# every case but those written after the last page was read
assert_eq "$((total - 1))" "$(wc -l <"$E2E_TMP/ids")" "paging while writing: no case missed"
assert_eq "$(store_sql "SELECT id FROM cases ORDER BY seq" | head -n -1)" \
    "$(cat "$E2E_TMP/ids")" "paging: intake order"
cf --actor supervisor1 "${R[@]}" list --after "" --limit 2 >"$OUT" 2>"$ERR"
assert_eq 3 "$(wc -l <"$OUT")" "list --after, human: a header and a page"
assert_contains "$ERR" "--after" "list --after, human: the next cursor on standard error"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --state assessment
assert_jq "$OUT" "map(.id) == [\"$M\"]" "list --state"
grade=$(cf --actor supervisor1 "${R[@]}" --json list --state assessment | jq -r '.[0].grade')
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --grade "$grade"
assert_jq "$OUT" "map(.id) == [\"$M\"] and .[0].grade == \"$grade\"" "list --grade: the graded case"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --grade no-such-grade
assert_jq "$OUT" 'length == 0' "list --grade of no case"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --workflow polit --version 1 --limit 5
assert_jq "$OUT" 'length == 5 and all(.[]; .workflow.version == 1)' "list --workflow --version"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --workflow polit --version 2
assert_jq "$OUT" 'length == 0' "list --version 2: none"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --updated-since 2026-11-04
assert_jq "$OUT" 'length == 0' "list --updated-since tomorrow: none"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --updated-since "$(date -d 2026-11-03T00:00:00Z +%s)"
assert_jq "$OUT" "length == $total" "list --updated-since in Unix seconds"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --deadline-before 2030-01-01T00:00:00Z
assert_jq "$OUT" "length >= 1 and all(.[]; .deadline_at != null and .deadline_at < \"2030\")" \
    "list --deadline-before: cases with a deadline before it"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --overdue
assert_jq "$OUT" 'length == 0' "list --overdue: none yet"
export CASEFLOW_NOW=2026-12-20T10:00:00Z
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --overdue
assert_jq "$OUT" "length >= 1 and all(.[]; .overdue == true)" \
    "list --overdue: the deadline passed without a response"
snapshot list
expect_exit 65 cf --actor supervisor1 "${R[@]}" list --after not-a-cursor
expect_exit 65 cf --actor supervisor1 "${R[@]}" list --after "" --limit 5000
expect_exit 64 cf --actor supervisor1 "${R[@]}" list --updated-since yesterday
expect_exit 64 cf --actor supervisor1 "${R[@]}" list --deadline-before 2026-13-01
expect_exit 64 cf --actor supervisor1 "${R[@]}" list --limit x
expect_exit 64 cf --actor supervisor1 "${R[@]}" list --overdue=yes
expect_exit 64 cf --actor supervisor1 "${R[@]}" list --after
expect_exit 64 cf --actor supervisor1 "${R[@]}" show "$M" --grade high
expect_exit 64 cf --actor supervisor1 "${R[@]}" show "$M" --after x
expect_exit 64 cf --actor supervisor1 list --overdue
assert_unchanged list "refused lists"

# ---- the change feed ---------------------------------------------------------------
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json feed
assert_jq "$OUT" '(.events | length) == 100 and (.next | type == "number") and
    (.events[0].type == "case.created") and (.events[0].seq | type == "number")' \
    "feed --json: the first page of CloudEvents"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json feed --after 0 --limit 1000
last=$(jq .next "$OUT")
assert_jq "$OUT" "[.events[].type] | index(\"task.opened\") != null and
    index(\"task.closed\") != null" "the feed has the MASH task opened and closed"
assert_jq "$OUT" "[.events[].seq] == ([.events[].seq] | sort) and (.events | length) > 100" \
    "the feed is in commit order"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json feed --after "$last"
assert_jq "$OUT" ".events == [] and .next == $last" "the feed after its head: nothing, same cursor"
cf --actor supervisor1 "${R[@]}" feed --limit 2 >"$OUT" 2>"$ERR"
assert_eq 3 "$(wc -l <"$OUT")" "feed, human: a header and two events"
assert_contains "$ERR" "--after 2" "feed, human: a full page tells the next cursor"
expect_exit 64 cf --actor supervisor1 feed
expect_exit 64 cf --actor supervisor1 "${R[@]}" feed --after -1
expect_exit 65 cf --actor supervisor1 "${R[@]}" feed --limit 0
expect_exit 64 cf --actor supervisor1 "${R[@]}" feed extra

# ---- webhooks ----------------------------------------------------------------------
umask 077
printf 'e2e-webhook-secret-0123456789\n' >"$E2E_TMP/secret"
expect_exit 0 cf --actor admin --json webhook add http://127.0.0.1:9/hook \
    --events 'case.*,task.opened' --secret-file "$E2E_TMP/secret"
assert_jq "$OUT" '(.id | type == "number") and .events == "case.*,task.opened"' "webhook add"
W=$(jq -r .id "$OUT")
assert_eq 1 "$(audit_count webhook.add)" "webhook add: audited"
expect_exit 0 cf --actor admin webhook list
assert_contains "$OUT" "http://127.0.0.1:9/hook" "webhook list"
assert_eq 0 "$(grep -c e2e-webhook-secret "$OUT")" "webhook list never shows the secret"
expect_exit 0 cf --actor admin --json webhook redeliver "$W"
assert_jq "$OUT" ".requeued == 0" "webhook redeliver: nothing dead yet"
snapshot hooks
printf 'short\n' >"$E2E_TMP/short"
printf 'e2e-webhook-secret-0123456789\n' >"$E2E_TMP/open"
chmod 644 "$E2E_TMP/open"
expect_exit 65 cf --actor admin webhook add http://127.0.0.1:9/h --events '*' --secret-file "$E2E_TMP/short"
expect_exit 65 cf --actor admin webhook add http://127.0.0.1:9/h --events '*' --secret-file "$E2E_TMP/open"
assert_contains "$ERR" "other users" "a secret file others can read is refused"
expect_exit 66 cf --actor admin webhook add http://127.0.0.1:9/h --events '*' --secret-file "$E2E_TMP/none"
expect_exit 65 cf --actor admin webhook add ftp://127.0.0.1:9/h --events '*' --secret-file "$E2E_TMP/secret"
expect_exit 64 cf --actor admin webhook add http://127.0.0.1:9/h --secret-file "$E2E_TMP/secret"
expect_exit 64 cf --actor admin webhook add http://127.0.0.1:9/h --events '*'
expect_exit 77 cf --actor officer1 webhook add http://127.0.0.1:9/h --events '*' --secret-file "$E2E_TMP/secret"
expect_exit 77 cf --actor officer1 webhook list
expect_exit 77 cf --actor officer1 webhook remove "$W"
expect_exit 66 cf --actor admin webhook remove 999
expect_exit 64 cf --actor admin webhook remove x
expect_exit 64 cf --actor admin webhook redeliver
assert_unchanged hooks "refused webhook commands"
expect_exit 0 cf --actor admin webhook remove "$W"
assert_eq 1 "$(audit_count webhook.remove)" "webhook remove: audited"
expect_exit 66 cf --actor admin webhook remove "$W"

expect_exit 0 cf --actor admin audit verify

# ---- through caseflowd (--server) ---------------------------------------------------
CASEFLOWD=${CASEFLOWD_BIN:-$CASEFLOW_BUILDDIR/caseflowd}
if [ ! -x "$CASEFLOWD" ] || ! command -v curl >/dev/null; then
    echo "# caseflowd is not built (or no curl): the --server part is skipped"
    finish
fi
PIDS=()
# shellcheck disable=SC2317 # run by the trap
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null; done
    rm -rf "$E2E_TMP"
}
trap stop_all EXIT
expect_exit 0 cf --actor admin user add desk1 --role officer,supervisor,analyst --os-user "$(id -u)"
PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SOCK="$E2E_TMP/cfd.sock"
timeout 300 "$CASEFLOWD" --store "$CASEFLOW_STORE" --listen "127.0.0.1:$PORT" --socket "$SOCK" \
    --tick-interval 0 2>"$E2E_TMP/cfd.log" &
PIDS+=($!)
for _ in $(seq 100); do
    curl -s --max-time 2 "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && [ -S "$SOCK" ] && break
    sleep 0.1
done
[ -S "$SOCK" ] || { echo "Bail out! caseflowd did not start: $(head -c 300 "$E2E_TMP/cfd.log")"; exit 99; }
S=(--server "$SOCK")
# the same answers as here
for words in "show $M" "history $M" "list --limit 5" "report" "task list --done" "feed --limit 5"; do
    # shellcheck disable=SC2086
    cf --actor supervisor1 "${R[@]}" --json $words >"$E2E_TMP/local" 2>/dev/null
    # shellcheck disable=SC2086
    expect_exit 0 cf "${S[@]}" "${R[@]}" --json $words
    if [ "$words" = "report" ] || [ "${words%% *}" = "show" ]; then
        same=$(jq -n --slurpfile a "$E2E_TMP/local" --slurpfile b "$OUT" \
            '($a[0] | del(.updated_at)) == ($b[0] | del(.updated_at))')
    else
        same=$(cmp -s "$E2E_TMP/local" "$OUT" && echo true || echo false)
    fi
    assert_eq true "$same" "--server $words: the same answer as the store's"
done
# report --format html through caseflowd: the page made here from its answer
cf --actor supervisor1 "${R[@]}" report --format html >"$E2E_TMP/local.html" 2>/dev/null
expect_exit 0 cf "${S[@]}" "${R[@]}" report --format html
assert_eq "" "$(cmp "$E2E_TMP/local.html" "$OUT" 2>&1)" "--server report --format html: the same page"
expect_exit 0 cf "${S[@]}" "${R[@]}" list --limit 2
assert_eq 3 "$(wc -l <"$OUT")" "--server list: the same table"
CASEFLOW_SERVER="$SOCK" expect_exit 0 cf "${R[@]}" --json list --after "" --limit 4
assert_jq "$OUT" '(.items | length) == 4 and (.next | type == "string")' "CASEFLOW_SERVER: list pages"
# acts and their refusals keep their exit codes
C2=$(referral E2E-REMOTE-1 | cf "${S[@]}" --json refer | jq -r .id)
assert_eq authorisation "$(case_field "$C2" .state)" "--server refer: a new case"
expect_exit 0 cf "${S[@]}" --json refer "$E2E_TMP/page.jsonl"
assert_eq 230 "$(jq -s 'map(select(.created == false)) | length' "$OUT")" \
    "--server bulk refer: every line answered, all known"
{ referral E2E-REMOTE-2; echo '{"bad": '; referral E2E-REMOTE-3 | sed 's/+01:00//'; referral E2E-REMOTE-4; } \
    >"$E2E_TMP/mixed.jsonl"
cf "${S[@]}" refer "$E2E_TMP/mixed.jsonl" >"$OUT" 2>"$ERR"
assert_eq 65 "$?" "--server bulk refer with bad lines: exit 65"
assert_contains "$ERR" "caseflow: line 2: invalid JSON" "--server bulk: the bad JSON line by number"
assert_contains "$ERR" "caseflow: line 3: " "--server bulk: the refused line by number"
assert_eq 2 "$(wc -l <"$OUT")" "--server bulk: the good lines taken in"
expect_exit 0 cf "${S[@]}" --json act "$C2" authorisation.applied --data "$applied" --idempotency-key R-1
expect_exit 0 cf "${S[@]}" --json act "$C2" authorisation.applied --data "$applied" --idempotency-key R-1
assert_jq "$OUT" '.replayed == true' "--server act: a replay"
expect_exit 65 cf "${S[@]}" act "$C2" authorisation.applied --data "$other" --idempotency-key R-1
expect_exit 75 cf "${S[@]}" act "$C2" authorisation.applied --data "$applied" --revision 1
expect_exit 65 cf "${S[@]}" act "$C2" no.such.event
expect_exit 66 cf "${S[@]}" act CF-999999 authorisation.applied --data "$applied"
expect_exit 66 cf "${S[@]}" "${R[@]}" show CF-999999
expect_exit 64 cf "${S[@]}" show "$C2"
expect_exit 65 cf "${S[@]}" "${R[@]}" list --after not-a-cursor
expect_exit 64 cf "${S[@]}" --actor admin token list
expect_exit 64 cf "${S[@]}" tick
# tasks through the service
expect_exit 0 cf "${S[@]}" "${R[@]}" --json task list --kind mash_referral
assert_jq "$OUT" "length == 1 and .[0].status == \"done\"" "--server task list"
expect_exit 65 cf "${S[@]}" task complete "$T"
expect_exit 66 cf "${S[@]}" task claim 999
# over TCP: a token, or nothing
URL="http://127.0.0.1:$PORT"
expect_exit 77 cf --server "$URL" "${R[@]}" show "$M"
assert_contains "$ERR" "token" "--server URL without a token: refused, naming the token"
expect_exit 0 cf --actor admin --json token create supervisor1
printf '%s\n' "$(jq -r .token "$OUT")" >"$E2E_TMP/token"
chmod 600 "$E2E_TMP/token"
expect_exit 0 cf --server "$URL" --token-file "$E2E_TMP/token" "${R[@]}" --json show "$M"
assert_jq "$OUT" ".id == \"$M\"" "--server URL --token-file: a read as the token's user"
CASEFLOW_TOKEN=$(cat "$E2E_TMP/token") expect_exit 0 cf --server "$URL" "${R[@]}" --json list --limit 1
chmod 644 "$E2E_TMP/token"
expect_exit 65 cf --server "$URL" --token-file "$E2E_TMP/token" "${R[@]}" show "$M"
CASEFLOW_TOKEN=not-a-token expect_exit 77 cf --server "$URL" "${R[@]}" show "$M"
expect_exit 74 cf --server "http://127.0.0.1:1" "${R[@]}" show "$M"
expect_exit 74 cf --server "$E2E_TMP/no.sock" "${R[@]}" show "$M"
kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}"
assert_eq 0 "$?" "caseflowd: SIGTERM, exit 0"
expect_exit 0 cf --actor admin audit verify
finish
