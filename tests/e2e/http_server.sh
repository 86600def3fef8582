#!/bin/bash
# caseflowd itself, through real sockets on 127.0.0.1 and a Unix socket:
# startup refusals (a non-loopback address without TLS, CASEFLOW_NOW on a
# store on the system clock, bad configuration), --check-config, /healthz,
# /readyz and /metrics, the problem+json of 400/401/404/405/413/415/429, a
# referral and a read with a bearer token, the feed's long poll, a client
# known by its peer credentials on the Unix socket, a slow client cut off,
# the request log (route templates, never ids), SIGTERM (exit 0, socket
# removed), NOTIFY_SOCKET, and TLS with a self-signed certificate. Every
# server and request is bounded in time.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

CASEFLOWD=${CASEFLOWD_BIN:-$CASEFLOW_BUILDDIR/caseflowd}
[ -x "$CASEFLOWD" ] || { echo "Bail out! no caseflowd at $CASEFLOWD"; exit 99; }
command -v curl >/dev/null || { echo "1..0 # SKIP curl is needed"; exit 77; }
PY=/usr/bin/python3
SERVERS=()

# On the way out, whatever happened: the servers still running get SIGTERM
# (timeout passes it on), then SIGKILL, and the temporary directory goes.
# shellcheck disable=SC2317 # called by the trap
cleanup() {
    local p
    for p in "${SERVERS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for _ in $(seq 20); do
        kill -0 "${SERVERS[@]}" 2>/dev/null || break
        sleep 0.1
    done
    for p in "${SERVERS[@]}"; do
        pkill -KILL -P "$p" 2>/dev/null
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$E2E_TMP"
}
trap cleanup EXIT

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# expect_d CODE ARGS...: caseflowd exits CODE; a failure says one line,
# "caseflowd: ...", on stderr.
expect_d() {
    local want=$1 got lines
    shift
    timeout 20 "$CASEFLOWD" "$@" >"$OUT" 2>"$ERR" </dev/null
    got=$?
    lines=$(wc -l <"$ERR")
    if [ "$got" != "$want" ]; then
        not_ok "caseflowd exits $want (got $got): $*"
        show_output
    elif [ "$want" != 0 ] && { [ "$lines" != 1 ] || ! grep -q '^caseflowd: ' "$ERR"; }; then
        not_ok "one error line 'caseflowd: ...' ($lines lines): $*"
        show_output
    else
        ok "caseflowd exits $want: $*"
    fi
}

# start_server LOG ARGS...: run caseflowd in the background (bounded by
# timeout), wait until it answers (its port is in ARGS); sets SERVER_PID.
start_server() {
    local log=$1 url=$2
    shift 2
    timeout 300 "$CASEFLOWD" "$@" >/dev/null 2>"$log" </dev/null &
    SERVER_PID=$!
    SERVERS+=("$SERVER_PID")
    for _ in $(seq 100); do
        if curl -sk --max-time 2 "$url/healthz" >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "Bail out! caseflowd did not start: $(head -c 500 "$log")"
    exit 99
}

# stop_server PID: SIGTERM, and the exit status.
stop_server() {
    kill -TERM "$1"
    wait "$1"
}

BODY="$E2E_TMP/body"
HDRS="$E2E_TMP/headers"

# req METHOD URL [CURL ARGS...]: the status on stdout; body and headers in
# $BODY and $HDRS.
req() {
    local method=$1 url=$2
    shift 2
    curl -s --max-time 20 -X "$method" -o "$BODY" -D "$HDRS" -w '%{http_code}' "$@" "$url"
}

# expect_status WANT WHAT METHOD URL [CURL ARGS...]
expect_status() {
    local want=$1 what=$2 got
    shift 2
    got=$(req "$@")
    if [ "$got" = "$want" ]; then
        ok "$what: $want"
    else
        not_ok "$what: expected $want, got $got: $(head -c 300 "$BODY")"
    fi
}

# expect_problem STATUS CODE WHAT METHOD URL [CURL ARGS...]: an RFC 9457
# problem of that status, with the engine's code name.
expect_problem() {
    local status=$1 code=$2 what=$3
    shift 3
    expect_status "$status" "$what" "$@"
    assert_contains "$HDRS" "Content-Type: application/problem+json" "$what: problem+json"
    assert_jq "$BODY" ".status == $status and .code == \"$code\" and (.type | type) == \"string\"
        and (.title | type) == \"string\" and (.detail | type) == \"string\"
        and has(\"field\")" "$what: problem members"
}

# ---- refusals before anything starts ------------------------------------------
setup_store
STORE=$CASEFLOW_STORE
PORT=$(free_port)
expect_d 64 --store "$STORE" --listen 192.0.2.10:"$PORT"
assert_contains "$ERR" "--listen" "a non-loopback address without TLS names --listen"
expect_d 64 --store "$STORE" --listen "[2001:db8::1]:$PORT"
expect_d 64 --store "$STORE"
expect_d 64 --listen 127.0.0.1:"$PORT"
expect_d 64 --store "$STORE" --listen 127.0.0.1:99999
expect_d 64 --store "$STORE" --listen 127.0.0.1:"$PORT" --workers 0
expect_d 64 --store "$STORE" --listen 127.0.0.1:"$PORT" --tls-cert "$E2E_TMP/none.pem"
expect_d 64 --store "$STORE" --listen 127.0.0.1:"$PORT" --signing-key "$E2E_TMP/none.key"
assert_contains "$ERR" "--signing-key" "a signing key that is not there is refused at the start, naming it"
expect_d 64 --store "$STORE" --listen 127.0.0.1:"$PORT" --bogus
printf 'store = %s\nlisten = 127.0.0.1:%s\nfrobnicate = yes\n' "$STORE" "$PORT" >"$E2E_TMP/bad.conf"
expect_d 64 --config "$E2E_TMP/bad.conf"
assert_contains "$ERR" "bad.conf:3" "a bad key names the file and line"
expect_d 64 --config "$E2E_TMP/missing.conf"
printf '# caseflowd\nstore = %s\nlisten = 192.0.2.10:%s\nworkers = 8\n' "$STORE" "$PORT" \
    >"$E2E_TMP/good.conf"
expect_d 0 --config "$E2E_TMP/good.conf" --listen 127.0.0.1:"$PORT" --check-config
assert_contains "$OUT" "listen = 127.0.0.1:$PORT" "an option overrides the file"
assert_contains "$OUT" "workers = 8" "the file's keys are kept"
expect_d 0 --help
assert_contains "$OUT" "usage: caseflowd" "--help"
expect_d 0 --version
# No store there (on PostgreSQL: no database): refused, and none is made.
NOWHERE=$(store_missing nowhere)
expect_d 66 --store "$NOWHERE" --listen 127.0.0.1:"$PORT"
assert_eq no "$(store_exists "$NOWHERE" && echo yes || echo no)" "no store is created"

# CASEFLOW_NOW: honoured on a test-clock store, refused on one on the system clock.
SYSTEM_STORE=$(store_for system)
(unset CASEFLOW_NOW; cf --store "$SYSTEM_STORE" --actor admin init >/dev/null) ||
    { echo "Bail out! cannot make a store on the system clock"; exit 99; }
expect_d 64 --store "$SYSTEM_STORE" --listen 127.0.0.1:"$PORT"
assert_contains "$ERR" "CASEFLOW_NOW" "the refusal names CASEFLOW_NOW"
CASEFLOW_NOW=yesterday expect_d 64 --store "$STORE" --listen 127.0.0.1:"$PORT"

# ---- a running service ----------------------------------------------------------
TOKEN=$(cf --actor admin token create analyst1 | tail -1)
SOCK="$E2E_TMP/cfd.sock"
LOG="$E2E_TMP/caseflowd.log"
U="http://127.0.0.1:$PORT"
start_server "$LOG" "$U" --store "$STORE" --listen 127.0.0.1:"$PORT" --socket "$SOCK" \
    --max-body 64K --tick-interval 1 --max-wait 5 --connection-timeout 3
MAIN_PID=$SERVER_PID
AUTH=(-H "Authorization: Bearer $TOKEN")
JSON=(-H "Content-Type: application/json")

expect_status 200 "healthz" GET "$U/healthz"
assert_jq "$BODY" '.status == "ok"' "healthz says ok"
expect_status 200 "readyz" GET "$U/readyz"
expect_status 200 "metrics" GET "$U/metrics"
for m in caseflowd_requests_total caseflowd_request_seconds_bucket caseflowd_commits_total \
    caseflowd_batch_size caseflowd_feed_head caseflowd_timers_fired_total caseflowd_cases \
    caseflowd_webhook_deliveries_total; do
    assert_contains "$BODY" "$m" "metrics expose $m"
done
# The build tree serves the source tree's docs/openapi.yaml.
expect_status 200 "the API document" GET "$U/v1/openapi.yaml"
assert_contains "$BODY" "openapi:" "the API document is OpenAPI"
assert_contains "$HDRS" "Content-Type: application/yaml" "served as YAML"

# ---- refusals, as problems ------------------------------------------------------
expect_problem 401 CF_EDENIED "no token" GET "$U/v1/cases?reason=e2e"
assert_contains "$HDRS" "WWW-Authenticate: Bearer" "401 says how to authenticate"
expect_problem 401 CF_EDENIED "an unknown token" GET "$U/v1/cases?reason=e2e" \
    -H "Authorization: Bearer cft_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
expect_problem 401 CF_EDENIED "not a bearer token" GET "$U/v1/cases" -H "Authorization: Basic eDp5"
expect_problem 404 CF_ENOTFOUND "an unknown route" GET "$U/v2/nothing"
expect_problem 404 CF_ENOTFOUND "a segment that decodes to '/'" GET "$U/v1/cases/CF%2F1" \
    "${AUTH[@]}"
expect_problem 405 CF_EUSAGE "a method the route does not take" DELETE "$U/v1/cases"
assert_contains "$HDRS" "Allow: GET" "405 says what is allowed"
expect_problem 405 CF_EUSAGE "POST /healthz" POST "$U/healthz"
REF=$(referral NCA-HTTP-1)
expect_problem 415 CF_EINVALID "no content type" POST "$U/v1/referrals" "${AUTH[@]}" \
    -H "Content-Type:" --data-binary "$REF"
expect_problem 415 CF_EINVALID "text/plain" POST "$U/v1/referrals" "${AUTH[@]}" \
    -H "Content-Type: text/plain" --data-binary "$REF"
expect_problem 400 CF_EINVALID "malformed JSON" POST "$U/v1/referrals" "${AUTH[@]}" "${JSON[@]}" \
    --data-binary '{"source": "NCA-CEOP",'
assert_jq "$BODY" '.field == "body" and (.detail | test("line 1, column"))' \
    "malformed JSON names the position"
head -c 70000 /dev/zero | tr '\0' ' ' >"$E2E_TMP/big.json"
expect_problem 413 CF_EINVALID "a body over --max-body" POST "$U/v1/referrals" "${AUTH[@]}" \
    "${JSON[@]}" --data-binary @"$E2E_TMP/big.json"
expect_problem 413 CF_EINVALID "a chunked body over --max-body" POST "$U/v1/referrals" \
    "${AUTH[@]}" "${JSON[@]}" -H "Transfer-Encoding: chunked" --data-binary @"$E2E_TMP/big.json"
expect_problem 400 CF_EUSAGE "a repeated parameter" GET "$U/v1/cases?state=a&state=b&reason=e2e" \
    "${AUTH[@]}"
expect_problem 400 CF_EUSAGE "a reading without a reason" GET "$U/v1/cases" "${AUTH[@]}"

# ---- work through HTTP ----------------------------------------------------------
snapshot before_referral
expect_status 201 "a referral" POST "$U/v1/referrals" "${AUTH[@]}" "${JSON[@]}" --data-binary "$REF"
ID=$(jq -r .id "$BODY")
expect_status 200 "the same referral again" POST "$U/v1/referrals" "${AUTH[@]}" "${JSON[@]}" \
    --data-binary "$REF"
assert_jq "$BODY" ".id == \"$ID\" and .created == false" "idempotent on (source, reference)"
expect_status 200 "read the case" GET "$U/v1/cases/$ID" "${AUTH[@]}" -H "X-Caseflow-Reason: e2e"
assert_jq "$BODY" ".id == \"$ID\"" "the case read"
expect_problem 400 CF_EUSAGE "a malformed If-Match" POST "$U/v1/cases/$ID/events/approved" \
    "${AUTH[@]}" "${JSON[@]}" -H 'If-Match: 1' --data-binary '{}'
expect_problem 412 CF_ECONFLICT "a stale If-Match" POST "$U/v1/cases/$ID/events/approved" \
    "${AUTH[@]}" "${JSON[@]}" -H 'If-Match: "99"' --data-binary '{}'

# The feed's long poll: nothing after the head → it waits; a referral → it wakes.
expect_status 200 "the feed" GET "$U/v1/feed?after=0&reason=e2e" "${AUTH[@]}"
HEAD=$(jq .next "$BODY")
t0=$(date +%s%N)
expect_status 200 "a long poll with nothing new" GET "$U/v1/feed?after=$HEAD&wait=1&reason=e2e" \
    "${AUTH[@]}"
t1=$(date +%s%N)
assert_jq "$BODY" '.events == []' "nothing new after the head"
assert_eq yes "$([ $(((t1 - t0) / 1000000)) -ge 900 ] && echo yes || echo no)" "the poll waited"
(sleep 0.5; referral NCA-HTTP-2 | curl -s --max-time 10 -o /dev/null "${AUTH[@]}" "${JSON[@]}" \
    --data-binary @- "$U/v1/referrals") &
WRITER=$!
t0=$(date +%s%N)
expect_status 200 "a long poll woken by a change" GET "$U/v1/feed?after=$HEAD&wait=5&reason=e2e" \
    "${AUTH[@]}"
t1=$(date +%s%N)
wait "$WRITER"
assert_jq "$BODY" '[.events[].type] | index("case.created") != null' \
    "the poll returns the new events"
assert_eq yes "$([ $(((t1 - t0) / 1000000)) -lt 4000 ] && echo yes || echo no)" \
    "woken before its time"

# ---- the Unix socket: the peer's uid names the user ------------------------------
assert_eq 660 "$(stat -c %a "$SOCK")" "the socket is 0660"
expect_problem 401 CF_EDENIED "a peer bound to no user" GET "http://caseflow/v1/cases?reason=e2e" \
    --unix-socket "$SOCK"
cf --actor admin user bind supervisor1 "$(id -un)" >/dev/null
expect_status 200 "a peer bound to supervisor1" GET "http://caseflow/v1/cases?reason=e2e" \
    --unix-socket "$SOCK"
assert_jq "$BODY" ".items | map(.id) | index(\"$ID\") != null" "the peer reads the cases"
expect_status 200 "health on the socket" GET "http://caseflow/healthz" --unix-socket "$SOCK"

# ---- a slow client is cut off; a long poll is not --------------------------------------
slow=$(timeout 20 "$PY" - "$PORT" <<'PYEOF'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=15)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: caseflow\r\n")  # and never the end
t = time.time()
print("closed" if s.recv(100) == b"" else "answered", round(time.time() - t))
PYEOF
)
case "$slow" in
"closed "[2-8]) ok "a client that never finishes its request is cut off ($slow s)" ;;
*) not_ok "a slow client is cut off after --connection-timeout: got '$slow'" ;;
esac
expect_status 200 "a long poll longer than the connection timeout" \
    GET "$U/v1/feed?after=999999&wait=4&reason=e2e" "${AUTH[@]}"

# ---- failed attempts are limited per address -----------------------------------------
BAD_TOKEN=cft_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB
for _ in $(seq 12); do
    req GET "$U/v1/cases?reason=e2e" -H "Authorization: Bearer $BAD_TOKEN" >/dev/null
done
expect_problem 429 CF_EDENIED "too many failed attempts" GET "$U/v1/cases?reason=e2e" "${AUTH[@]}"
assert_contains "$HDRS" "Retry-After:" "429 says when to retry"

# ---- the request log: one line each, templates not paths --------------------------
assert_contains "$LOG" "GET /v1/cases/{id} 200" "the log names the route template"
assert_contains "$LOG" "user=analyst1" "the log names the user"
assert_contains "$LOG" "user=supervisor1" "the log names the Unix peer's user"
assert_eq 0 "$(grep -c "$ID\|NCA-HTTP" "$LOG")" "the log holds no ids and no case data"

# ---- SIGTERM --------------------------------------------------------------------------
stop_server "$MAIN_PID"
assert_eq 0 "$?" "SIGTERM: exit 0"
assert_eq no "$(test -e "$SOCK" && echo yes || echo no)" "the socket is removed"
assert_contains "$LOG" "stopped" "the log says it stopped"
cf --actor admin audit verify >"$OUT" 2>"$ERR"
assert_eq 0 "$?" "the audit chain verifies after the service"

# ---- systemd's readiness protocol, without systemd -----------------------------------
notify=$(timeout 60 "$PY" - "$CASEFLOWD" "$STORE" "$(free_port)" "$E2E_TMP/notify.sock" <<'PYEOF'
import os, signal, socket, subprocess, sys
cfd, store, port, path = sys.argv[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(20)
p = subprocess.Popen([cfd, "--store", store, "--listen", "127.0.0.1:" + port,
                      "--tick-interval", "0"], env=dict(os.environ, NOTIFY_SOCKET=path),
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    got = [s.recv(64).decode()]
    p.send_signal(signal.SIGTERM)
    got.append(s.recv(64).decode())
    print(" ".join(got), p.wait(timeout=20))
finally:
    if p.poll() is None:
        p.kill()
PYEOF
)
assert_eq "READY=1 STOPPING=1 0" "$notify" "NOTIFY_SOCKET gets READY=1, then STOPPING=1; exit 0"

# ---- reads on the readers, or (readers = 0) on the writer: audited alike -------------------
# consultations WHY: the consultation records with reason WHY.
consultations() {
    store_sql "$STORE" "SELECT count(*) FROM audit WHERE action = 'consultation'
        AND justification = '$1'"
}
for n in 0 3; do
    RPORT=$(free_port)
    R="http://127.0.0.1:$RPORT"
    start_server "$E2E_TMP/readers-$n.log" "$R" --store "$STORE" --listen 127.0.0.1:"$RPORT" \
        --tick-interval 0 --readers "$n"
    pids=()
    for i in 1 2 3 4 5; do
        curl -s --max-time 20 -o /dev/null "${AUTH[@]}" \
            "$R/v1/cases/$ID?reason=e2e-readers-$n" &
        pids+=($!)
        curl -s --max-time 20 -o /dev/null "${AUTH[@]}" \
            "$R/v1/cases?reason=e2e-readers-$n&limit=5" &
        pids+=($!)
    done
    wait "${pids[@]}"
    assert_eq 10 "$(consultations "e2e-readers-$n")" \
        "readers = $n: ten reads at once, ten consultations, each written before its answer"
    expect_status 404 "readers = $n: a read of no case" GET "$R/v1/cases/CF-999999?reason=e2e" \
        "${AUTH[@]}"
    stop_server "$SERVER_PID"
    assert_eq 0 "$?" "readers = $n: SIGTERM, exit 0"
done
expect_d 64 --store "$STORE" --listen 127.0.0.1:1 --readers 257 --check-config

# ---- TLS with a self-signed certificate ---------------------------------------------
if command -v openssl >/dev/null; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=localhost" \
        -addext "subjectAltName=IP:127.0.0.1" -keyout "$E2E_TMP/key.pem" \
        -out "$E2E_TMP/cert.pem" >/dev/null 2>&1
    TPORT=$(free_port)
    T="https://127.0.0.1:$TPORT"
    start_server "$E2E_TMP/tls.log" "$T" --store "$STORE" --listen 127.0.0.1:"$TPORT" \
        --tls-cert "$E2E_TMP/cert.pem" --tls-key "$E2E_TMP/key.pem" --tick-interval 0 \
        --openapi "$E2E_TMP/none.yaml"
    expect_problem 404 CF_ENOTFOUND "no API document" GET "$T/v1/openapi.yaml" \
        --cacert "$E2E_TMP/cert.pem"
    expect_status 200 "healthz over TLS" GET "$T/healthz" --cacert "$E2E_TMP/cert.pem"
    expect_status 200 "a read over TLS" GET "$T/v1/cases/$ID?reason=e2e" \
        --cacert "$E2E_TMP/cert.pem" "${AUTH[@]}"
    got=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$TPORT/healthz")
    assert_eq 000 "$got" "no plain HTTP on the TLS port"
    stop_server "$SERVER_PID"
    assert_eq 0 "$?" "SIGTERM over TLS: exit 0"
else
    ok "# SKIP TLS: openssl is not installed"
fi

finish
