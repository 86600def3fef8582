#!/bin/bash
# The API of caseflowd end to end: a real server on 127.0.0.1, real sockets,
# a real SQLite store, curl. Intake (one referral: 201, again: 200; an NDJSON
# batch with refused lines: 207, each refusal naming its line and field, the
# good lines in); 10,000 cases paged through with a cursor while a
# background client keeps referring and acting, no case missed or repeated;
# every filter of GET /v1/cases; a case, its history and its POLE view;
# events with If-Match (412 stale, 200 right) and Idempotency-Key (replayed,
# 422 for another body, and a retry after the client dropped the connection
# gets the original result with the case moved once); the MASH task listed,
# claimed and completed by an officer and refused to an analyst; the feed
# with its cursor and long poll (woken by a commit, or timing out empty);
# the report (also as a web page), the workflows, a deployment, retention
# dispose --due (after a second service two years on). Every answer validates against
# docs/openapi.yaml; afterwards the audit chain verifies and holds exactly
# one consultation per read request, naming the cases it returned.
# shellcheck disable=SC2119 # cfd_start takes optional options, not our arguments
# shellcheck disable=SC2016 # jq programs are in single quotes
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"

if [ ! -f "$POLIT" ]; then
    echo "1..0 # SKIP $POLIT does not exist yet"
    exit 77
fi

applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
granted='{"authority":"OCDA","reference":"OCDA-2026-0001","urgent":false}'
resolved='{"name":"Test Subscriber One","address":{"line1":"1 Example Street","town":"Exampleton","postcode":"ZZ1 1ZZ"},"address_type":"installation","provider_reference":"ISP-REF-0001"}'
low_checks='{"occupants":[{"name":"Test Occupant One","dob":"1980-01-01"}],"prior_history":false,"registered_sex_offender":false,"children_in_household":false,"access_to_children_at_work":false,"distribution_signs":false,"address_corroborated":true}'
high_checks='{"occupants":[{"name":"Test Occupant Two","dob":"1975-05-05"}],"prior_history":true,"registered_sex_offender":false,"children_in_household":true,"access_to_children_at_work":false,"distribution_signs":true,"address_corroborated":true}'

# ---- before the service: two graded cases made with the command ------------------------------
# G is graded very high on 1 October (deadline the next day: overdue by the
# time the service runs, on 5 October), L low (deadline 31 October).
export CASEFLOW_NOW=$E2E_EPOCH
http_setup_store
cli_to_assessment() {
    local id=$1 checks=$2
    cf --actor officer1 act "$id" authorisation.applied --data "$applied" >/dev/null &&
        cf --actor authoriser1 act "$id" authorisation.granted --data "$granted" >/dev/null &&
        cf --actor analyst1 act "$id" subscriber.resolved --data "$resolved" >/dev/null &&
        cf --actor analyst1 act "$id" checks.completed --data "$checks" >/dev/null
}
G=$(new_case E2E-HTTP-OVERDUE polit 192.0.2.10 A)
L=$(new_case E2E-HTTP-LOW polit 198.51.100.23)
if ! cli_to_assessment "$G" "$high_checks" || ! cli_to_assessment "$L" "$low_checks"; then
    echo "Bail out! cannot prepare the graded cases"
    exit 99
fi
export CASEFLOW_NOW=2026-10-05T10:00:00Z
cfd_start

READS="$E2E_TMP/reads.list"
: >"$READS"
# read_req KIND CASE WHAT WHO PATH [CURL ARGS...]: a read that must answer
# 200, with a reason of its own, noted for the audit check at the end (KIND
# list, case, history, pole, tasks, feed or report; CASE the case read, or -).
read_req() {
    local kind=$1 case_id=$2 what=$3 who=$4 path=$5 reason
    shift 5
    reason="e2e-read-$((HTTP_N + 1))"
    expect 200 "$what" GET "$path" "$who" -H "X-Caseflow-Reason: $reason" "$@" || return 1
    printf '%s %s %s %s\n' "$reason" "$kind" "$BODY" "$case_id" >>"$READS"
}

# ids_of FILTER: IDS, the ids a filtered query of cases returns (one page
# of up to 1000, sorted, on one line). Not in a subshell: requests count.
ids_of() {
    read_req list - "cases?$1" supervisor1 "/v1/cases?limit=1000&$1"
    IDS=$(jq -r '[.items[].id] | sort | join(" ")' "$BODY")
}
# filter_is EXPECTED FILTER: the filter returns exactly the cases EXPECTED.
filter_is() {
    ids_of "$2"
    assert_eq "$1" "$IDS" "${3:-$2}"
}

# ---- intake: one referral, again, a batch with refusals --------------------------------------
REF=$(referral E2E-HTTP-ONE 203.0.113.45)
expect 201 "a referral" POST /v1/referrals analyst1 "${JSON[@]}" --data-binary "$REF"
ONE=$(jq -r .id "$BODY")
assert_jq "$BODY" '.created == true and .state == "authorisation"' \
    "a new case, waiting for authorisation"
expect 200 "the same referral again" POST /v1/referrals analyst1 "${JSON[@]}" --data-binary "$REF"
assert_jq "$BODY" ".id == \"$ONE\" and .created == false" "the same case, not a second one"
# count_cases WHERE: how many cases of the store match the SQL condition.
count_cases() {
    store_sql "SELECT count(*) FROM cases WHERE $1"
}
assert_eq 1 "$(count_cases "reference = 'E2E-HTTP-ONE'")" "one case for the referral sent twice"

{
    referral E2E-HTTP-BATCH-1 198.51.100.31
    referral E2E-HTTP-BATCH-2 198.51.100.32
    referral E2E-HTTP-BATCH-BAD 198.51.100.33 |
        sed 's/"received_at":"2026-11-02T09:15:00Z"/"received_at":"2026-11-02T09:15:00"/'
    echo
    echo '{"source": "NCA-CEOP", "reference": '
    referral E2E-HTTP-BATCH-3 198.51.100.34 | sed 's/"ip_events":\[[^]]*\],/"ip_events":[],/'
    referral E2E-HTTP-BATCH-4 198.51.100.35
} >"$E2E_TMP/batch.ndjson"
before=$(store_state)
expect 207 "a batch with refused lines" POST /v1/referrals analyst1 "${NDJSON[@]}" \
    --data-binary @"$E2E_TMP/batch.ndjson"
assert_jq "$BODY" '.accepted == 3 and .refused == 3 and (.results | length) == 6' \
    "3 lines accepted, 3 refused, the blank line skipped"
assert_jq "$BODY" '[.results[] | select(.error == null) | .line] == [1, 2, 7]' \
    "the accepted lines are named by number"
assert_jq "$BODY" '.results[] | select(.line == 3) | .reference == "E2E-HTTP-BATCH-BAD"
    and .error.field == "received_at" and .error.status == 422 and .error.code == "CF_EINVALID"' \
    "line 3: its reference and the field at fault"
assert_jq "$BODY" '.results[] | select(.line == 5) | .error.code == "CF_EINVALID"
    and .reference == null' "line 5: not JSON"
assert_jq "$BODY" '.results[] | select(.line == 6) | .reference == "E2E-HTTP-BATCH-3"
    and (.error.field | test("ip_events"))' "line 6: no ip_events, named"
assert_eq "3 0" "$(store_sql "SELECT count(*) FILTER (WHERE reference IN
    ('E2E-HTTP-BATCH-1', 'E2E-HTTP-BATCH-2', 'E2E-HTTP-BATCH-4')), count(*) FILTER (WHERE
    reference IN ('E2E-HTTP-BATCH-BAD', 'E2E-HTTP-BATCH-3')) FROM cases" | tr '|' ' ')" \
    "the good lines are in the store, the refused ones are not"

# ---- 10,000 cases in four NDJSON batches -----------------------------------------------------
referrals E2E-HTTP-BULK 10000 >"$E2E_TMP/bulk.ndjson"
split -l 2500 -d "$E2E_TMP/bulk.ndjson" "$E2E_TMP/bulk."
accepted=0
for part in "$E2E_TMP"/bulk.0?; do
    # Seconds on a quiet machine; far more under ASan on a busy one, and
    # on PostgreSQL (a round trip to the server per statement).
    HTTP_MAX_TIME=$((CFD_BOUND > 300 ? 900 : 300)) expect 200 "a batch of 2,500 referrals" POST /v1/referrals analyst1 "${NDJSON[@]}" \
        --data-binary @"$part"
    accepted=$((accepted + $(jq '.accepted' "$BODY")))
    jq -r '.results[].id' "$BODY" >>"$E2E_TMP/bulk.ids"
done
assert_eq 10000 "$accepted" "10,000 referrals accepted"

# ---- paging through everything while others write --------------------------------------------
# A background client (one process, one connection) refers new cases and
# records events on bulk cases until told to stop (at most 1,000 rounds);
# each answer's status is logged.
BG_STOP="$E2E_TMP/bg.stop"
BG_LOG="$E2E_TMP/bg.log"
: >"$BG_LOG"
cat >"$E2E_TMP/writer.py" <<'EOF'
import http.client, json, os, sys
port, analyst, officer, ids_file, stop, log, applied = sys.argv[1:8]
ids = open(ids_file).read().split()
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
out = open(log, "a", buffering=1)
for i in range(1, 1001):
    if os.path.exists(stop):
        break
    ref = {"source": "NCA-CEOP", "reference": "E2E-HTTP-BG-%d" % i,
           "received_at": "2026-11-02T09:15:00Z",
           "ip_events": [{"ip": "203.0.113.%d" % (i % 200 + 1), "at": "2026-10-30T21:14:05Z"}],
           "files": [{"hash_type": "md5", "hash": "%032x" % (0xe2e0000 + i), "category": "C"}]}
    case = ids[(i * 7) % len(ids)]
    for path, token, body in (("/v1/referrals", analyst, json.dumps(ref)),
                              ("/v1/cases/%s/events/authorisation.applied" % case, officer,
                               applied)):
        conn.request("POST", path, body=body, headers={
            "Authorization": "Bearer " + token, "Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        out.write("%s %d\n" % (path.split("/")[2], r.status))
EOF
store_sql "SELECT id FROM cases ORDER BY seq" >"$E2E_TMP/before.ids"
timeout 60 "$PY" "$E2E_TMP/writer.py" "$PORT" "${TOKEN[analyst1]}" "${TOKEN[officer1]}" \
    "$E2E_TMP/bulk.ids" "$BG_STOP" "$BG_LOG" "$applied" &
BG_PID=$!
HTTP_BG+=("$BG_PID")
: >"$E2E_TMP/paged.ids"
after=
pages=0
bg_first=
while [ "$pages" -lt 40 ]; do
    pages=$((pages + 1))
    read_req list - "page $pages of cases" supervisor1 "/v1/cases?limit=1000&after=$after" || break
    [ -z "$bg_first" ] && bg_first=$(wc -l <"$BG_LOG")
    jq -r '.next // "", .items[].id' "$BODY" >"$E2E_TMP/page"
    IFS= read -r after <"$E2E_TMP/page"
    tail -n +2 "$E2E_TMP/page" >>"$E2E_TMP/paged.ids"
    [ -z "$after" ] && break
done
bg_last=$(wc -l <"$BG_LOG")
touch "$BG_STOP"
wait "$BG_PID"
ok "paged through $(wc -l <"$E2E_TMP/paged.ids") cases in $pages pages"
if [ "$bg_last" -gt "$bg_first" ]; then
    ok "the background client wrote while the pages were read ($((bg_last - bg_first)) answers)"
else
    not_ok "the background client wrote while the pages were read ($bg_first, $bg_last)"
fi
assert_eq 0 "$(grep -cv ' 20[01]$' "$BG_LOG")" "every background write succeeded"
acknowledged=$(grep -c '^referrals 201$' "$BG_LOG")
assert_eq "$acknowledged" "$(count_cases "reference LIKE 'E2E-HTTP-BG-%'")" \
    "every referral it was answered 201 for is in the store"
assert_eq "" "$(sort "$E2E_TMP/paged.ids" | uniq -d | head -n 3 | tr '\n' ' ')" "no case repeated"
assert_eq "" "$(sort "$E2E_TMP/paged.ids" >"$E2E_TMP/paged.sorted"
    sort "$E2E_TMP/before.ids" | comm -23 - "$E2E_TMP/paged.sorted" | head -n 3 | tr '\n' ' ')" \
    "no case that existed before the paging is missed"
assert_eq "" "$(sort -c "$E2E_TMP/paged.ids" 2>&1 | head -n 1)" "the pages come in intake order"
assert_jq "$BODY" '.items | length > 0 and all(.[]; has("state") and has("grade") and
    has("deadline_at") and has("overdue") and has("open_tasks") and has("revision"))' \
    "list items carry what a dashboard shows"

# ---- acting: If-Match and Idempotency-Key ----------------------------------------------------
M=$(sed -n 2p "$E2E_TMP/bulk.ids")
read_req case "$M" "read a case" officer1 "/v1/cases/$M"
REV=$(jq .revision "$BODY")
assert_jq "$BODY" ".id == \"$M\" and .state == \"authorisation\"
    and (.revision | type) == \"number\"" "the case with its revision"
before=$(store_state)
KEY=(-H "Idempotency-Key: e2e-$M-applied")
expect_problem 412 CF_ECONFLICT revision "a stale If-Match" \
    POST "/v1/cases/$M/events/authorisation.applied" officer1 "${JSON[@]}" \
    -H "If-Match: \"$((REV - 1))\"" --data-binary "$applied"
assert_eq "$before" "$(store_state)" "a stale If-Match changes nothing"
expect 200 "the right If-Match" POST "/v1/cases/$M/events/authorisation.applied" officer1 \
    "${JSON[@]}" -H "If-Match: \"$REV\"" "${KEY[@]}" --data-binary "$applied"
cp "$BODY" "$E2E_TMP/applied.json"
assert_jq "$BODY" ".id == \"$M\" and .revision == $((REV + 1)) and (has(\"replayed\") | not)" \
    "the event is recorded: revision + 1"
before=$(store_state)
expect 200 "the same key and body again" POST "/v1/cases/$M/events/authorisation.applied" officer1 \
    "${JSON[@]}" -H "If-Match: \"$REV\"" "${KEY[@]}" --data-binary "$applied"
assert_jq "$BODY" ".replayed == true and .revision == $((REV + 1))
    and .state == \"authorisation\"" "the original result, replayed (not a stale revision)"
if jq -e --slurpfile a "$E2E_TMP/applied.json" 'del(.replayed) == $a[0]' "$BODY" >/dev/null; then
    ok "the replay is the original answer"
else
    not_ok "the replay is the original answer: $(cat "$E2E_TMP/applied.json") vs $(cat "$BODY")"
fi
assert_eq "$before" "$(store_state)" "a replay changes nothing"
expect_problem 422 CF_EINVALID idempotency_key "the same key with another body" \
    POST "/v1/cases/$M/events/authorisation.applied" officer1 "${JSON[@]}" "${KEY[@]}" \
    --data-binary '{"necessity":"another","proportionality":"other"}'
assert_eq "$before" "$(store_state)" "a key reused for another body changes nothing"

# A reply lost: the client sends the event and goes without reading the
# answer (after the commit, at once, or at once with a reset); the retry
# with the same key gets the original result and the case has moved once.
cat >"$E2E_TMP/drop.py" <<'EOF'
import os, socket, sqlite3, struct, subprocess, sys, time
port, path, token, key, body, db, case, rev, mode = sys.argv[1:10]
def revision():
    """The case's revision in the store: read-only on SQLite's file, by
    psql (E2E_PSQL) on a PostgreSQL store's URI."""
    if db.startswith(("postgres://", "postgresql://")):
        return int(subprocess.run(
            [os.environ["E2E_PSQL"], "-X", "-q", "-tA", "-d", db, "-c",
             "SELECT revision FROM caseflow.cases WHERE id = '%s'" % case.replace("'", "''")],
            check=True, capture_output=True, text=True).stdout)
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
    now = con.execute("SELECT revision FROM cases WHERE id = ?", (case,)).fetchone()[0]
    con.close()
    return now
req = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
       "Content-Type: application/json\r\nIdempotency-Key: %s\r\nContent-Length: %d\r\n\r\n%s"
       % (path, token, key, len(body.encode()), body)).encode()
s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
if mode == "reset":          # go with a TCP reset, not a FIN
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.sendall(req)
if mode == "after-commit":   # wait until the store has it, then go unread
    until = time.time() + 10
    while time.time() < until:
        if revision() > int(rev):
            break
        time.sleep(0.02)
s.close()
EOF
drop_and_retry() {
    local mode=$1 id=$2 event=$3 data=$4 who=$5 rev n
    rev=$(store_sql "SELECT revision FROM cases WHERE id = '$id'")
    E2E_PSQL=${E2E_PSQL:-} timeout 20 "$PY" "$E2E_TMP/drop.py" "$PORT" "/v1/cases/$id/events/$event" "${TOKEN[$who]}" \
        "e2e-drop-$id" "$data" "$CASEFLOW_STORE" "$id" "$rev" "$mode"
    sleep 0.3
    expect 200 "retry after a dropped connection ($mode)" POST "/v1/cases/$id/events/$event" \
        "$who" "${JSON[@]}" -H "Idempotency-Key: e2e-drop-$id" --data-binary "$data"
    assert_jq "$BODY" ".id == \"$id\" and .revision == $((rev + 1))" \
        "the retry answers the one change ($mode)"
    if [ "$mode" = after-commit ]; then
        assert_jq "$BODY" '.replayed == true' "the retry is the original result, replayed"
    fi
    n=$(store_sql "SELECT count(*) FROM events WHERE case_id = '$id'
        AND event = '$event'")
    assert_eq 1 "$n" "the case moved once ($mode)"
    n=$(store_sql "SELECT revision FROM cases WHERE id = '$id'")
    assert_eq "$((rev + 1))" "$n" "one revision more ($mode)"
}
expect 200 "authorisation granted" POST "/v1/cases/$M/events/authorisation.granted" authoriser1 \
    "${JSON[@]}" --data-binary "$granted"
drop_and_retry after-commit "$M" subscriber.resolved "$resolved" officer1
drop_and_retry at-once "$M" checks.completed "$high_checks" analyst1
drop_and_retry reset "$(sed -n 4p "$E2E_TMP/bulk.ids")" authorisation.applied "$applied" officer1
read_req case "$M" "the case after the checks" officer1 "/v1/cases/$M"
assert_jq "$BODY" '.state == "assessment" and .data.risk.grade == "very_high"
    and .deadline_at != null' "children in the household: graded very high, with a deadline"

# ---- every filter of GET /v1/cases -----------------------------------------------------------
sorted() { printf '%s\n' "$@" | sort | tr '\n' ' ' | sed 's/ $//'; }
filter_is "$(sorted "$G" "$L" "$M")" state=assessment "state=assessment"
filter_is "$(sorted "$G" "$M")" grade=very_high "grade=very_high"
filter_is "$L" grade=low "grade=low"
filter_is "$G" overdue=true "overdue=true: the deadline passed without a response"
filter_is "$G" deadline_before=2026-10-03T00:00:00Z "deadline_before (RFC 3339)"
filter_is "$(sorted "$G" "$M")" "deadline_before=$(date -u -d 2026-10-10T00:00:00Z +%s)" \
    "deadline_before (Unix seconds)"
filter_is "$(sorted "$G" "$L" "$M")" deadline_before=2026-11-15T00:00:00%2B01:00 \
    "deadline_before (an offset)"
filter_is "$M" 'state=assessment&updated_since=2026-10-05T00:00:00Z' "updated_since with state"
filter_is "$(sorted "$G" "$M")" task=open "task=open"
filter_is "$(sorted "$G" "$L" "$M")" 'workflow=polit&version=1&state=assessment' \
    "workflow and version"
filter_is "" workflow=no_such_workflow "an unknown workflow: nothing"
ids_of 'workflow=polit&version=1'
assert_jq "$BODY" '(.items | length) == 1000 and (.next | type) == "string"' \
    "workflow=polit: a full page and a cursor"
ids_of "updated_since=$(date -u -d 2026-10-05T00:00:00Z +%s)"
assert_jq "$BODY" "(.items | length) == 1000 and ([.items[].id] | index(\"$G\") == null)" \
    "updated_since (Unix seconds) leaves out what did not change"
BAD_FILTERS=(overdue=perhaps task=closed limit=5000 limit=0 version=-1 deadline_before=tomorrow
    after=x)
for bad in "${BAD_FILTERS[@]}"; do
    expect_problem 422 CF_EINVALID "${bad%%=*}" "a bad filter: $bad" GET "/v1/cases?$bad" \
        supervisor1 -H "X-Caseflow-Reason: e2e-bad-filter"
done

# ---- the MASH task ---------------------------------------------------------------------------
read_req tasks - "open MASH tasks" officer1 "/v1/tasks?status=open&kind=mash_referral"
TASK=$(jq -r ".items[] | select(.case == \"$M\") | .id" "$BODY")
assert_jq "$BODY" ".items[] | select(.case == \"$M\") | .role == \"officer\" and .status == \"open\"
    and (.detail.reasons | index(\"children_in_household\") != null)" \
    "the MASH task is open, for officers"
read_req tasks - "tasks of the case" officer1 "/v1/tasks?case=$M"
assert_jq "$BODY" "[.items[].id] == [$TASK]" "tasks filtered by case"
before=$(store_state)
expect_problem 403 CF_EDENIED role "an analyst claims the MASH task" \
    POST "/v1/tasks/$TASK/claim" analyst1
assert_eq "$before" "$(store_state)" "a refused claim changes nothing"
expect 200 "an officer claims it" POST "/v1/tasks/$TASK/claim" officer1
assert_jq "$BODY" '.status == "claimed" and .assignee == "officer1"' "claimed by officer1"
read_req tasks - "tasks claimed by officer1" officer1 "/v1/tasks?assignee=officer1&status=open"
assert_jq "$BODY" "[.items[].id] | index($TASK) != null" "tasks filtered by assignee"
MASH_RESULT='{"result":{"mash_reference":"MASH-2026-0042","accepted":true}}'
before=$(store_state)
expect_problem 403 CF_EDENIED role "an analyst completes it" \
    POST "/v1/tasks/$TASK/complete" analyst1 "${JSON[@]}" --data-binary "$MASH_RESULT"
assert_eq "$before" "$(store_state)" "a refused completion changes nothing"
expect 200 "officer1 completes it" POST "/v1/tasks/$TASK/complete" officer1 "${JSON[@]}" \
    --data-binary "$MASH_RESULT"
assert_jq "$BODY" '.status == "done" and .result.mash_reference == "MASH-2026-0042"
    and .closed_at != null' "the task is done, with its result"
expect_problem 422 CF_EINVALID - "completing it twice" POST "/v1/tasks/$TASK/complete" officer1 \
    "${JSON[@]}" --data-binary "$MASH_RESULT"
read_req tasks - "done tasks" officer1 "/v1/tasks?status=done"
assert_jq "$BODY" "[.items[].id] | index($TASK) != null" "the task is listed as done"
filter_is "$G" task=open "task=open no longer lists the case"
assert_eq assessment "$(store_sql "SELECT state FROM cases WHERE id = '$M'")" \
    "closing the task does not move the case"

# ---- history, POLE, report, workflows --------------------------------------------------------
read_req history "$M" "the history" supervisor1 "/v1/cases/$M/history"
assert_jq "$BODY" '[.[].event] as $e | ($e | index("authorisation.applied")) != null
    and ($e | index("checks.completed")) != null and ($e | index("task.claimed")) != null
    and ($e | index("task.completed")) != null' "the history holds the events and the task"
assert_jq "$BODY" '[.[].seq] == ([.[].seq] | sort)' "oldest first"
HLEN=$(jq length "$BODY")
read_req pole "$M" "the POLE view" officer1 "/v1/cases/$M/pole"
assert_jq "$BODY" ".case.id == \"$M\" and .case.grade == \"very_high\"" "POLE: the case"
assert_jq "$BODY" '[.people[] | .role + ":" + .name] | sort ==
    ["occupant:Test Occupant Two", "subscriber:Test Subscriber One"]' \
    "POLE: subscriber and occupant"
assert_jq "$BODY" '.locations | length == 1 and .[0].role == "installation"
    and .[0].postcode == "ZZ1 1ZZ"' "POLE: the installation address"
assert_jq "$BODY" '[.objects[].type] | index("ip_event") != null and index("file_hash") != null' \
    "POLE: the IP event and the file hash"
assert_jq "$BODY" "(.events | length) == $HLEN" "POLE: every event of the history"
assert_jq "$BODY" '.links | type == "array"' "POLE: links"
read_req report - "the report" supervisor1 "/v1/report"
assert_jq "$BODY" '.workflow == "polit" and .by_state.assessment == 3
    and .by_state.authorisation > 10000' "the report counts cases by state"
assert_jq "$BODY" '.version == null and .by_version["1"].by_state == .by_state' \
    "the report counts cases by version and state"
read_req report - "the report of version 1" supervisor1 "/v1/report?workflow=polit@1"
assert_jq "$BODY" '.version == 1 and (.by_version | keys) == ["1"]' "report?workflow=NAME@VERSION"
read_req report - "the report by version=1" supervisor1 "/v1/report?version=1"
assert_jq "$BODY" '.version == 1' "report?version=N"
# format=html: the report as a web page (not in READS: its body is no JSON)
expect 200 "the report as a web page" GET "/v1/report?format=html" supervisor1 \
    -H "X-Caseflow-Reason: e2e-report-html"
assert_eq "text/html; charset=utf-8" "$CTYPE" "format=html: text/html"
if header_has "Content-Security-Policy: default-src 'none'"; then
    ok "format=html: a policy that loads and runs nothing"
else
    not_ok "format=html: no Content-Security-Policy"
fi
assert_contains "$BODY" "<h1>Case report: workflow polit</h1>" "format=html: the page"
assert_eq 4 "$(grep -c '<svg ' "$BODY")" "format=html: four charts"
expect_problem 400 CF_EUSAGE format "format=pdf" GET "/v1/report?format=pdf" supervisor1 \
    -H "X-Caseflow-Reason: e2e-report-pdf"
expect 200 "the workflows" GET /v1/workflows officer1
assert_jq "$BODY" '[.[] | select(.name == "polit") | .version] == [1]' "polit version 1"

# A deployment by the administrator: a new version; the same again is not.
"$PY" - "$CASEFLOW_SRCDIR/workflows" >"$E2E_TMP/bundle.json" <<'EOF'
import json, pathlib, sys
d = pathlib.Path(sys.argv[1])
files = {p.relative_to(d).as_posix(): p.read_text()
         for p in [d / "polit.lua", d / "policy.lua", d / "letters" / "warning.txt"]}
files["polit.lua"] += "\n-- e2e: the same workflow, deployed again as a new version\n"
print(json.dumps({"main": "polit.lua", "files": files}))
EOF
expect_problem 400 CF_EUSAGE reason "a deploy without a reason" POST /v1/workflows admin \
    "${JSON[@]}" --data-binary @"$E2E_TMP/bundle.json"
assert_jq "$BODY" '.detail | test("X-Caseflow-Reason")' "the refusal names the header"
expect 200 "a dry run" POST "/v1/workflows?dry_run=true" admin "${JSON[@]}" \
    -H "X-Caseflow-Reason: e2e dry run" --data-binary @"$E2E_TMP/bundle.json"
assert_jq "$BODY" '.dry_run == true and .version == 2 and .created == true' \
    "the dry run says what a deploy would make"
expect 200 "still one version after the dry run" GET /v1/workflows officer1
assert_jq "$BODY" '[.[] | select(.name == "polit") | .version] == [1]' "polit version 1 only"
# A replay of the recorded cases through the candidate (workflow.simulate): the
# same workflow diverges nowhere; a supervisor may not; one consultation record.
expect_problem 403 CF_EDENIED - "a simulation by a supervisor" POST /v1/workflows/simulate \
    supervisor1 "${JSON[@]}" -H "X-Caseflow-Reason: e2e replay" --data-binary @"$E2E_TMP/bundle.json"
SIM_HEAD=$(audit_head)
expect 200 "a simulation of the candidate" POST /v1/workflows/simulate admin "${JSON[@]}" \
    -H "X-Caseflow-Reason: e2e replay" --data-binary @"$E2E_TMP/bundle.json"
assert_jq "$BODY" '.summary.replayed > 0 and .summary.unchanged == .summary.replayed and (.cases | length) == 0' \
    "every recorded case replays unchanged through the same workflow"
assert_eq $((SIM_HEAD + 1)) "$(audit_head)" "the simulation wrote one audit record"
expect 201 "deploy a new version" POST /v1/workflows admin "${JSON[@]}" \
    -H "X-Caseflow-Reason: e2e deploy" --data-binary @"$E2E_TMP/bundle.json"
assert_jq "$BODY" '.created == true and .version == 2 and .active == true' \
    "version 2 created, active"
expect 200 "deploy the same again" POST /v1/workflows admin "${JSON[@]}" \
    -H "X-Caseflow-Reason: e2e deploy" --data-binary @"$E2E_TMP/bundle.json"
assert_jq "$BODY" '.created == false and .version == 2' "the existing version"
expect 201 "a referral on version 2" POST /v1/referrals analyst1 "${JSON[@]}" \
    --data-binary "$(referral E2E-HTTP-V2 192.0.2.77)"
V2=$(jq -r .id "$BODY")
filter_is "$V2" version=2 "version=2: the new case only"
filter_is "$V2" workflow=polit@2 "workflow=polit@2: the new case only"
expect_problem 400 CF_EUSAGE workflow "workflow=polit@x" GET "/v1/cases?workflow=polit@x" \
    supervisor1 -H "X-Caseflow-Reason: e2e-bad-version-filter"

# A rollback: version 1 active again, new referrals start on it; then forward.
ACT=/v1/workflows/polit/versions
expect_problem 400 CF_EUSAGE reason "an activation without a reason" POST "$ACT/1/activate" admin
expect_problem 404 CF_EMISSING version "an activation of a version not deployed" \
    POST "$ACT/9/activate" admin -H "X-Caseflow-Reason: e2e rollback"
expect 200 "activate version 1" POST "$ACT/1/activate" admin -H "X-Caseflow-Reason: e2e rollback"
assert_jq "$BODY" '.version == 1 and .previous == 2 and .changed == true' "version 1 active"
expect 201 "a referral after the rollback" POST /v1/referrals analyst1 "${JSON[@]}" \
    --data-binary "$(referral E2E-HTTP-V1-AGAIN 192.0.2.78)"
V1B=$(jq -r .id "$BODY")
read_req case "$V1B" "the case referred after the rollback" supervisor1 "/v1/cases/$V1B"
assert_jq "$BODY" '.workflow.version == 1' "the referral after the rollback is on version 1"
expect 200 "the workflows after the rollback" GET /v1/workflows officer1
assert_jq "$BODY" '[.[] | select(.name == "polit") | select(.active) | .version] == [1]' \
    "the list marks version 1 active"
expect 200 "activate version 2 again" POST "$ACT/2/activate" admin -H "X-Caseflow-Reason: e2e forward"
# Repin (workflow.repin): the plugins are the pinned builds, so nothing changes.
expect_problem 400 CF_EUSAGE reason "a repin without a reason" POST "$ACT/2/repin" admin
expect_problem 403 CF_EDENIED - "a repin by a supervisor" POST "$ACT/2/repin" supervisor1 \
    -H "X-Caseflow-Reason: e2e repin"
REPIN_HEAD=$(audit_head)
expect 200 "repin version 2" POST "$ACT/2/repin" admin -H "X-Caseflow-Reason: e2e repin"
assert_jq "$BODY" '.version == 2 and .changed == false and .changes == [] and
    (.plugins | length) > 0' "nothing to repin: the pins as they are"
assert_eq "$REPIN_HEAD" "$(audit_head)" "a repin with nothing to change writes nothing"

# Migration (workflow.migrate): a dry run, the move back to version 1, refusals.
MIG=(-H "X-Caseflow-Reason: e2e migration")
expect 200 "a migration's dry run" POST /v1/workflows/polit/migrate admin "${JSON[@]}" "${MIG[@]}" \
    --data-binary "{\"to\":1,\"cases\":[\"$V2\"],\"dry_run\":true}"
assert_jq "$BODY" '.dry_run == true and .cases[0].status == "planned" and .cases[0].to.version == 1' \
    "the plan: version 2 -> 1"
expect_problem 403 CF_EDENIED - "a migration by a supervisor" POST /v1/workflows/polit/migrate \
    supervisor1 "${JSON[@]}" "${MIG[@]}" --data-binary "{\"to\":1,\"cases\":[\"$V2\"]}"
expect_problem 404 CF_EMISSING to "a migration to no such version" POST /v1/workflows/polit/migrate \
    admin "${JSON[@]}" "${MIG[@]}" --data-binary "{\"to\":9,\"cases\":[\"$V2\"]}"
expect 200 "a migration" POST /v1/workflows/polit/migrate admin "${JSON[@]}" "${MIG[@]}" \
    --data-binary "{\"to\":1,\"cases\":[\"$V2\"]}"
assert_jq "$BODY" '.counts.migrated == 1 and .cases[0].status == "migrated"' "the case moved"
expect 200 "the migrated case" GET "/v1/cases/$V2" supervisor1 "${MIG[@]}"
assert_jq "$BODY" '.workflow.version == 1' "the case is on version 1"

# ---- the feed: cursor and long poll ----------------------------------------------------------
read_req feed - "the feed from the start" supervisor1 "/v1/feed?after=0&limit=100"
assert_jq "$BODY" '(.events | length) == 100 and .next == .events[-1].seq' "a page of 100 events"
# feed_seqs AFTER: the seqs of the 100 domain events after AFTER, from the store.
feed_seqs() {
    store_sql "SELECT seq FROM notifications WHERE seq > $1 ORDER BY seq LIMIT 100" |
        paste -s -d ' ' -
}
assert_eq "$(feed_seqs 0)" "$(jq -r '[.events[].seq] | join(" ")' "$BODY")" \
    "the first 100 events in commit order"
assert_jq "$BODY" 'all(.events[]; .specversion == "1.0" and (.id | type) == "string" and
    (.type | type) == "string" and (.time | test("Z$")))' "CloudEvents 1.0"
NEXT=$(jq .next "$BODY")
read_req feed - "the next page" supervisor1 "/v1/feed?after=$NEXT&limit=100"
assert_eq "$(feed_seqs "$NEXT")" "$(jq -r '[.events[].seq] | join(" ")' "$BODY")" \
    "the cursor continues where the page ended"
HEAD=$(store_sql "SELECT max(seq) FROM notifications")
read_req feed - "the feed at its head" supervisor1 "/v1/feed?after=$HEAD"
assert_jq "$BODY" ".events == [] and .next == $HEAD" "nothing after the head; the cursor stays"
# A long poll woken by an act committed half a second later (one that
# moves the case: authorisation granted).
W=$(sed -n 3p "$E2E_TMP/bulk.ids")
expect 200 "an application on another case" POST "/v1/cases/$W/events/authorisation.applied" \
    officer1 "${JSON[@]}" --data-binary "$applied"
HEAD=$(store_sql "SELECT max(seq) FROM notifications")
(
    sleep 0.5
    curl -s --max-time 10 -o /dev/null -H "Authorization: Bearer ${TOKEN[authoriser1]}" \
        "${JSON[@]}" --data-binary "$granted" "$U/v1/cases/$W/events/authorisation.granted"
) &
t0=$(date +%s%N)
read_req feed - "a long poll" supervisor1 "/v1/feed?after=$HEAD&wait=5"
t1=$(date +%s%N)
wait $!
ms=$(((t1 - t0) / 1000000))
assert_jq "$BODY" "[.events[] | select(.subject == \"$W\") | .type]
    | index(\"case.state_changed\") != null" "the long poll returns the act's events"
assert_eq yes "$([ "$ms" -ge 300 ] && [ "$ms" -lt 4000 ] && echo yes || echo no)" \
    "the long poll waited for the commit and no longer (${ms} ms)"
HEAD=$(jq .next "$BODY")
t0=$(date +%s%N)
read_req feed - "a long poll with nothing new" supervisor1 "/v1/feed?after=$HEAD&wait=1"
t1=$(date +%s%N)
ms=$(((t1 - t0) / 1000000))
assert_jq "$BODY" ".events == [] and .next == $HEAD" "it times out empty, the cursor unchanged"
assert_eq yes "$([ "$ms" -ge 900 ] && [ "$ms" -lt 3000 ] && echo yes || echo no)" \
    "it waited its second (${ms} ms)"
read_req feed - "the feed after the first page" supervisor1 "/v1/feed?after=$NEXT&limit=1000"

# ---- afterwards: the contract, the chain, the consultations ----------------------------------
check_openapi
cfd_stop
assert_eq 0 "$?" "SIGTERM: caseflowd exits 0"
expect_exit 0 cf --actor admin audit verify

# One consultation per read request: the record with the request's reason,
# naming the cases it returned (its digest is that of the payload the
# engine writes: {"read": KIND, "cases": [...]} or {"read": KIND, "case": ID}).
# The audit records with the reason of a read (read_req: e2e-read-N), read
# once through store_sql (either backend): reason|action|case|digest, one a
# line (no case: empty).
store_sql "SELECT justification, action, coalesce(case_id, ''), digest FROM audit
    WHERE justification LIKE 'e2e-read-%' ORDER BY seq" >"$E2E_TMP/justified.audit"
if "$PY" - "$E2E_TMP/justified.audit" "$READS" >"$OUT" 2>&1 <<'EOF'
import hashlib, json, sys
audit, reads = sys.argv[1:3]
by_reason = {}
for line in open(audit, encoding="utf-8"):
    reason, action, cid, dig = line.rstrip("\n").rsplit("|", 3)
    by_reason.setdefault(reason, []).append((action, cid or None, dig))
def uniq(ids):
    seen, out = set(), []
    for i in ids:
        if i is not None and i not in seen:
            seen.add(i)
            out.append(i)
    return out
def digest(payload):
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
bad, n = [], 0
for line in open(reads):
    reason, kind, body, case = line.split()
    doc = json.load(open(body))
    rows = by_reason.get(reason, [])
    want, case_id, payload = 1, None, None
    if kind == "list":
        payload = {"read": "list", "cases": uniq(i["id"] for i in doc["items"])}
    elif kind == "tasks":
        payload = {"read": "tasks", "cases": uniq(i["case"] for i in doc["items"])}
    elif kind == "feed":
        payload = {"read": "feed", "cases": uniq(e.get("subject") for e in doc["events"])}
        want = 1 if doc["events"] else 0
    elif kind in ("case", "history"):
        payload, case_id = {"read": kind, "case": case}, case
    elif kind == "report":
        payload = {"read": "report", "case": None}
    elif kind == "pole":
        case_id = case  # one record about the case; its payload is the service's
    n += 1
    if len(rows) != want:
        bad.append("%s (%s %s): %d consultation records, expected %d"
                   % (reason, kind, case, len(rows), want))
        continue
    for action, cid, dig in rows:
        if action != "consultation" or cid != case_id:
            bad.append("%s (%s): %s of %s, expected a consultation of %s"
                       % (reason, kind, action, cid, case_id))
        elif payload is not None and dig != digest(payload):
            bad.append("%s (%s): the record does not name the cases returned" % (reason, kind))
print("%d read requests checked" % n)
for b in bad[:20]:
    print(b)
sys.exit(1 if bad else 0)
EOF
then
    ok "one consultation per read request, naming its cases: $(head -n 1 "$OUT")"
else
    not_ok "one consultation per read request, naming its cases"
    sed 's/^/#   /' "$OUT"
fi
assert_eq 0 "$(store_sql "SELECT count(*) FROM audit
    WHERE justification = 'e2e-bad-filter' AND action <> 'refused'")" \
    "a refused read is no consultation"
assert_eq "${#BAD_FILTERS[@]}" "$(store_sql "SELECT count(*) FROM audit
    WHERE justification = 'e2e-bad-filter' AND action = 'refused'")" \
    "but each is recorded as refused, with its reason"

# ---- retention dispose --due over HTTP (retention.dispose_due) ------------------------------
# Two cases closed by a refused authorisation (reviewed after 2 years), one
# of them then held; two years on, a service disposes of the other one.
export CASEFLOW_NOW=2026-10-06T10:00:00Z
RD=$(new_case E2E-HTTP-RETAIN-1 polit 192.0.2.91)
RH=$(new_case E2E-HTTP-RETAIN-2 polit 192.0.2.92)
for id in "$RD" "$RH"; do
    cf --actor officer1 act "$id" authorisation.applied --data "$applied" >/dev/null &&
        cf --actor authoriser1 act "$id" authorisation.refused --data '{"reason":"not necessary"}' \
            >/dev/null || not_ok "case $id closed by a refused authorisation"
done
export CASEFLOW_NOW=2028-10-07T10:00:00Z
cf --actor admin --reason "e2e: civil claim" retention hold "$RH" >/dev/null ||
    not_ok "case $RH held"
cfd_start
RET=(-H "X-Caseflow-Reason: e2e MoPI review")
before=$(store_state)
expect_problem 403 CF_EDENIED - "dispose --due by a supervisor" POST /v1/retention/dispose-due \
    supervisor1 "${RET[@]}"
expect_problem 400 CF_EUSAGE reason "dispose --due without a reason" \
    POST /v1/retention/dispose-due admin
assert_eq "$before" "$(store_state)" "refused disposals change nothing"
expect 200 "dispose --due" POST /v1/retention/dispose-due admin "${RET[@]}"
assert_jq "$BODY" "(.cases[] | select(.id == \"$RD\") | .status) == \"disposed\" and
    (.cases[] | select(.id == \"$RH\") | .status) == \"held\" and .failed == 0 and
    .disposed == ([.cases[] | select(.status == \"disposed\")] | length)" \
    "the due case disposed of, the held one passed over"
expect 200 "dispose --due again" POST /v1/retention/dispose-due admin "${RET[@]}"
assert_jq "$BODY" ".disposed == 0 and [.cases[].id] == [\"$RH\"]" \
    "again: only the held case is due, and kept"
check_openapi
cfd_stop
assert_eq 0 "$?" "SIGTERM: the second caseflowd exits 0"
expect_exit 0 cf --actor admin --reason "e2e: check" --json show "$RD"
assert_jq "$OUT" '.data.disposed == true and (.data | has("referral") | not)' \
    "the disposed case's personal data is erased"
expect_exit 0 cf --actor admin audit verify
finish
