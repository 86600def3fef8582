#!/bin/bash
# Webhooks through a real caseflowd, real libcurl and real receivers on
# 127.0.0.1: every matching event delivered, signed (the receiver checks the
# HMAC with the webhook's own secret), in order per case, only the types
# asked for; a receiver that answers 500 and then recovers gets everything
# after `caseflow webhook redeliver`; receivers that hang, close the
# connection or are not there at all never slow intake, lose nothing (each
# event pending or a dead letter) and are marked failing; metrics count it
# all; SIGTERM stops caseflowd at once even with POSTs hanging; the audit
# chain and the webhooks table verify afterwards.
# shellcheck disable=SC2317 # the small predicates run through check and wait_for
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

CFD=${CASEFLOWD_BIN:-$CASEFLOW_BUILDDIR/caseflowd}
PY=/usr/bin/python3
if [ ! -x "$CFD" ] || [ ! -x "$PY" ] || ! command -v curl >/dev/null 2>&1; then
    echo "1..0 # SKIP needs caseflowd, /usr/bin/python3 and curl"
    exit 77
fi
if ! "$CFD" --help 2>/dev/null | grep -q -- '--webhook-attempts'; then
    echo "1..0 # SKIP this caseflowd has no --webhook-attempts"
    exit 77
fi
# Receivers are on loopback: no proxy in between.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

CFD_PID=
RX_PID=
cleanup() {
    [ -n "$CFD_PID" ] && kill -KILL "$CFD_PID" 2>/dev/null
    [ -n "$RX_PID" ] && kill -KILL "$RX_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$E2E_TMP"
}
trap cleanup EXIT

# wait_for SECONDS CMD...: until CMD succeeds, at most SECONDS.
wait_for() {
    local until=$((SECONDS + $1))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -ge "$until" ] && return 1
        sleep 0.2
    done
}

# check WHAT CMD...: ok WHAT when CMD succeeds, else not ok.
check() {
    local what=$1
    shift
    if "$@" >/dev/null 2>&1; then ok "$what"; else not_ok "$what"; fi
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---- the receivers ------------------------------------------------------------
# One threaded server, a behaviour per path: /ok and /cases verify and record
# (each with its own secret), /flaky answers 500 until the file "recover"
# exists, /hang never answers, /close drops the connection. It stops by
# itself after 10 minutes.
cat >"$E2E_TMP/receiver.py" <<'EOF'
import hashlib, hmac, json, os, socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

portfile, log, ctl = sys.argv[1:4]
secrets = {"ok": open(sys.argv[4], "rb").read().rstrip(b"\r\n"),
           "cases": open(sys.argv[5], "rb").read().rstrip(b"\r\n"),
           "flaky": open(sys.argv[4], "rb").read().rstrip(b"\r\n")}
lock = threading.Lock()


def record(entry):
    with lock, open(log, "a") as f:
        f.write(json.dumps(entry) + "\n")


def verify(secret, header, body, tolerance=300):
    fields = dict(p.strip().split("=", 1) for p in header.split(",") if "=" in p)
    t, sig = fields.get("t", ""), fields.get("v1", "")
    if not t.isdigit() or abs(time.time() - int(t)) > tolerance:
        return False
    mac = hmac.new(secret, t.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, sig)


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        mode = self.path.strip("/").split("/")[0]
        if mode == "hang":
            record({"mode": mode})
            time.sleep(120)
            return
        if mode == "close":
            record({"mode": mode})
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode == "flaky" and not os.path.exists(os.path.join(ctl, "recover")):
            record({"mode": mode, "status": 500})
            self.answer(500)
            return
        try:
            event = json.loads(body)
        except ValueError:
            event = {}
        header = self.headers.get("X-Caseflow-Signature", "")
        other = secrets["cases" if mode != "cases" else "ok"]
        record({"mode": mode, "status": 204, "sig_ok": verify(secrets[mode], header, body),
                "sig_other": verify(other, header, body), "header_id":
                self.headers.get("X-Caseflow-Event-Id"), "id": event.get("id"),
                "seq": event.get("seq"), "type": event.get("type"),
                "subject": event.get("subject"), "attempt":
                self.headers.get("X-Caseflow-Delivery-Attempt"), "webhook":
                self.headers.get("X-Caseflow-Webhook"), "content_type":
                self.headers.get("Content-Type")})
        if not os.path.exists(os.path.join(ctl, "body.json")):
            with open(os.path.join(ctl, "body.json"), "wb") as f:
                f.write(body)
        self.answer(204)


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
server.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
threading.Timer(600, server.shutdown).start()
server.serve_forever()
EOF

# ---- a store on the system clock (retries fall due as time passes) -------------
unset CASEFLOW_NOW
CASEFLOW_STORE=$(store_for hooks)
export CASEFLOW_STORE
if ! cf --actor admin init >/dev/null || ! setup_users >/dev/null ||
    ! cf --actor admin --reason "e2e test" workflow deploy --yes "$POLIT" >/dev/null; then
    echo "Bail out! cannot set up a store"
    exit 99
fi
umask 077
head -c 32 /dev/urandom | base64 >"$E2E_TMP/one.secret"
head -c 32 /dev/urandom | base64 >"$E2E_TMP/two.secret"

RX_LOG="$E2E_TMP/received.jsonl"
: >"$RX_LOG"
"$PY" "$E2E_TMP/receiver.py" "$E2E_TMP/rx.port" "$RX_LOG" "$E2E_TMP" \
    "$E2E_TMP/one.secret" "$E2E_TMP/two.secret" &
RX_PID=$!
wait_for 10 test -s "$E2E_TMP/rx.port" || { echo "Bail out! the receiver did not start"; exit 99; }
RX="http://127.0.0.1:$(cat "$E2E_TMP/rx.port")"
DOWN="http://127.0.0.1:$(free_port)/nobody-listens"

# ---- registering (the command, on the store) --------------------------------
head0=$(store_sql 'SELECT coalesce(max(seq), 0) FROM notifications')
hook_id() { jq -r .id "$OUT"; }
expect_exit 0 cf --actor admin --json webhook add "$RX/ok" --events '*' --secret-file "$E2E_TMP/one.secret"
OK_ID=$(hook_id)
expect_exit 0 cf --actor admin --json webhook add "$RX/cases" --events 'case.*' --secret-file "$E2E_TMP/two.secret"
CASES_ID=$(hook_id)
expect_exit 0 cf --actor admin --json webhook add "$RX/flaky" --events '*' --secret-file "$E2E_TMP/one.secret"
FLAKY_ID=$(hook_id)
expect_exit 0 cf --actor admin --json webhook add "$RX/hang" --events '*' --secret-file "$E2E_TMP/one.secret"
HANG_ID=$(hook_id)
expect_exit 0 cf --actor admin --json webhook add "$RX/close" --events '*' --secret-file "$E2E_TMP/one.secret"
CLOSE_ID=$(hook_id)
expect_exit 0 cf --actor admin --json webhook add "$DOWN" --events '*' --secret-file "$E2E_TMP/one.secret"
DOWN_ID=$(hook_id)
expect_exit 65 cf --actor admin webhook add "ftp://127.0.0.1/" --events '*' --secret-file "$E2E_TMP/one.secret"
expect_exit 65 cf --actor admin webhook add "$RX/ok" --events 'case.*x' --secret-file "$E2E_TMP/one.secret"
expect_exit 77 cf --actor officer1 webhook add "$RX/ok" --events '*' --secret-file "$E2E_TMP/one.secret"
assert_eq 6 "$(store_sql 'SELECT count(*) FROM webhooks')" "six webhooks, the refused ones not"
if grep -qF "$(cat "$E2E_TMP/one.secret")" <(store_sql 'SELECT payload FROM records'); then
    not_ok "the secret is in an audit payload"
else
    ok "no secret in the audit payloads"
fi

# ---- caseflowd ------------------------------------------------------------------
PORT=$(free_port)
CF="http://127.0.0.1:$PORT"
"$CFD" --store "$CASEFLOW_STORE" --listen "127.0.0.1:$PORT" --tick-interval 0 \
    --webhook-attempts 2 --webhook-timeout 4000 --webhook-poll 100 \
    2>"$E2E_TMP/caseflowd.log" &
CFD_PID=$!
healthy() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$CF/healthz")" = 200 ]; }
if ! wait_for 15 healthy; then
    echo "Bail out! caseflowd did not start"
    sed 's/^/#   /' "$E2E_TMP/caseflowd.log" | head -20
    exit 99
fi
ok "caseflowd is up"
ANALYST=$(cf --actor admin token create analyst1 | tail -1)
ADMIN=$(cf --actor admin token create admin | tail -1)

# refer_http REF: one referral through HTTP; prints "STATUS SECONDS".
refer_http() {
    referral "$1" | curl -s -o "$E2E_TMP/refer.out" -w '%{http_code} %{time_total}\n' \
        -H "Authorization: Bearer $ANALYST" -H 'Content-Type: application/json' \
        -H 'X-Caseflow-Reason: e2e webhooks' --max-time 20 --data-binary @- "$CF/v1/referrals"
}

# ---- intake goes on while receivers hang, fail and drop connections -------------
read -r status secs < <(refer_http HOOK-1)
assert_eq 201 "$status" "first referral taken in"
hanging() { grep -q '"mode": "hang"' "$RX_LOG"; }
check "a POST to the hanging receiver is under way" wait_for 15 hanging
slow=0
for i in 2 3 4 5 6 7 8; do
    read -r status secs < <(refer_http "HOOK-$i")
    [ "$status" = 201 ] || not_ok "referral HOOK-$i: status $status"
    awk -v s="$secs" 'BEGIN { exit !(s > 2.5) }' && slow=$((slow + 1))
done
assert_eq 0 "$slow" "no referral waited for a receiver (each under 2.5 s; a hanging POST takes 4 s)"

expect_file() { store_sql "SELECT seq FROM notifications WHERE seq > $head0 $1 ORDER BY seq" >"$2"; }
expect_file "" "$E2E_TMP/want.all"
expect_file "AND channel LIKE 'case.%'" "$E2E_TMP/want.cases"
n_all=$(wc -l <"$E2E_TMP/want.all")
n_cases=$(wc -l <"$E2E_TMP/want.cases")
check "8 referrals made $n_all events (at least 16)" test "$n_all" -ge 16

# received MODE: the distinct seqs the receiver recorded for MODE, sorted.
received() { jq -r --arg m "$1" 'select(.mode == $m and .status == 204) | .seq' "$RX_LOG" | sort -n -u; }
got_all() { [ "$(received "$1" | wc -l)" -ge "$2" ]; }
check "the /ok receiver got all $n_all events" wait_for 30 got_all ok "$n_all"
wait_for 30 got_all cases "$n_cases" || true
check "every event, and nothing else, at /ok" cmp -s <(received ok) "$E2E_TMP/want.all"
check "only case.* events at /cases" cmp -s <(received cases) "$E2E_TMP/want.cases"
check "every signature verifies under its webhook's secret, none under another" \
    jq -s -e '[.[] | select(.status == 204)] | length > 0 and
        all(.sig_ok == true and .sig_other == false)' "$RX_LOG"
check "X-Caseflow-Event-Id is the CloudEvent id; the content type is CloudEvents'" \
    jq -s -e '[.[] | select(.status == 204)] |
        all(.header_id == .id and .content_type == "application/cloudevents+json")' "$RX_LOG"
# shellcheck disable=SC2016 # $ok and $cases are jq's variables
check "X-Caseflow-Webhook and X-Caseflow-Delivery-Attempt" \
    jq -s -e --arg ok "$OK_ID" --arg cases "$CASES_ID" '[.[] | select(.status == 204)] |
        all((.mode == "ok" and .webhook == $ok and .attempt == "1") or
            (.mode == "cases" and .webhook == $cases and .attempt == "1") or .mode == "flaky")' \
    "$RX_LOG"
# in_order MODE: for each case, the first arrival of each of its events at
# MODE came in the order of their seqs.
in_order() {
    "$PY" - "$RX_LOG" "$1" <<'EOF'
import json, sys
seen, order = set(), {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("mode") != sys.argv[2] or e.get("status") != 204 or e["seq"] in seen:
        continue
    seen.add(e["seq"])
    order.setdefault(e["subject"], []).append(e["seq"])
sys.exit(0 if order and all(v == sorted(v) for v in order.values()) else 1)
EOF
}
check "each case's events arrived in order" in_order ok
if [ -s "$E2E_TMP/body.json" ] && "$PY" -c 'import yaml, jsonschema' 2>/dev/null; then
    if "$PY" "$CASEFLOW_SRCDIR/tests/e2e/http_openapi.py" "$CASEFLOW_SRCDIR/docs/openapi.yaml" \
        POST webhook:domainEvent 200 "$E2E_TMP/body.json" >"$OUT" 2>&1; then
        ok "a delivered body is what docs/openapi.yaml says"
    else
        not_ok "webhook body against the OpenAPI document: $(head -c 300 "$OUT")"
    fi
fi

# ---- failing receivers: nothing lost, marked failing --------------------------------
# state ID: "failing pending dead" of webhook ID in `webhook list --json`.
state() {
    cf --actor admin --json webhook list |
        jq -r --argjson id "$1" '.[] | select(.id == $id) | "\(.failing) \(.pending) \(.dead)"'
}
all_dead() { [ "$(state "$1")" = "true 0 $n_all" ]; }
failing_with_dead() { read -r f p d < <(state "$1") && [ "$f" = true ] && [ "$d" -ge 1 ]; }
check "500s: every event a dead letter after 2 attempts, the webhook failing" \
    wait_for 60 all_dead "$FLAKY_ID"
for id in "$CLOSE_ID" "$DOWN_ID" "$HANG_ID"; do
    check "webhook $id failing with dead letters" wait_for 60 failing_with_dead "$id"
    read -r f p d < <(state "$id")
    assert_eq "$n_all" "$((p + d))" "webhook $id: every event pending or dead, none lost"
done
cf --actor admin --json webhook list >"$OUT"
assert_jq "$OUT" 'type == "array"' "list is JSON"
assert_jq "$OUT" "[.[] | select(.id == $HANG_ID) | .last_error | test(\"[Tt]imeout|timed out\")] == [true]" "the hang's last error says timeout"
assert_jq "$OUT" "[.[] | select(.id == $FLAKY_ID) | .last_error] == [\"HTTP 500\"]" "the 500's last error"
assert_jq "$OUT" "[.[] | select(.id == $DOWN_ID) | .last_error | test(\"connect\")] == [true]" "the refused connection's last error"
assert_jq "$OUT" "[.[] | select(.id == $CLOSE_ID) | .last_error | length > 0] == [true]" "the dropped connection's last error"
assert_jq "$OUT" "[.[] | select(.id == $OK_ID) | .failing == false and .pending == 0 and .dead == 0] == [true]" "/ok: nothing pending, not failing"
assert_jq "$OUT" 'all(has("secret") | not)' "no secret in the list"

# ---- recovery and redelivery ----------------------------------------------------
touch "$E2E_TMP/recover"
expect_exit 0 cf --actor admin --json webhook redeliver "$FLAKY_ID"
assert_jq "$OUT" ".requeued == $n_all and .id == $FLAKY_ID" "redeliver queued every dead letter again"
check "after recovering, /flaky got every event" wait_for 30 got_all flaky "$n_all"
check "the redelivered events are the right ones" cmp -s <(received flaky) "$E2E_TMP/want.all"
check "redelivered in order per case" in_order flaky
clean() { [ "$(state "$FLAKY_ID")" = "false 0 0" ]; }
check "the flaky webhook is no longer failing" wait_for 10 clean
assert_eq 1 "$(store_sql "SELECT count(*) FROM audit WHERE action = 'webhook.redeliver'")" "the redelivery is audited"

# ---- the service's view: HTTP routes and metrics ----------------------------------
curl -s -H "Authorization: Bearer $ADMIN" -o "$OUT" "$CF/v1/webhooks"
assert_jq "$OUT" "length == 6 and all(has(\"secret\") | not)" "GET /v1/webhooks (administrator)"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ANALYST" "$CF/v1/webhooks")
assert_eq 403 "$code" "GET /v1/webhooks refused to an analyst"
code=$(curl -s -o "$OUT" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" -X POST \
    -H 'Content-Type: application/json' --data '{"url":"gopher://127.0.0.1/","events":"*","secret":"0123456789abcdef0"}' \
    "$CF/v1/webhooks")
assert_eq 422 "$code" "POST /v1/webhooks with a bad URL: 422"
assert_jq "$OUT" '.title != null or .detail != null' "a problem document"
# post_hook BODY: POST /v1/webhooks as the administrator; prints the status.
post_hook() {
    curl -s -o "$OUT" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" -X POST \
        -H 'Content-Type: application/json' --data "$1" "$CF/v1/webhooks"
}
assert_eq 201 "$(post_hook '{"url":"'"$RX"'/ok","events":["task.opened","case.closed"],"secret":"0123456789abcdef0"}')" \
    "POST /v1/webhooks with the events as an array: 201"
assert_jq "$OUT" '.events == "task.opened,case.closed" and (has("secret") | not)' "the array is a list"
curl -s -o /dev/null -H "Authorization: Bearer $ADMIN" -X DELETE "$CF/v1/webhooks/$(jq -r .id "$OUT")"
assert_eq 422 "$(post_hook '{"url":"'"$RX"'/ok","events":"*","secret":"0123456789abcdef0","extra":1}')" \
    "an unknown field: 422"
assert_eq 400 "$(post_hook '{"url":"'"$RX"'/ok","events":"*"}')" "no secret: 400"
assert_eq 422 "$(post_hook '{"url":"'"$RX"'/ok","events":"*","secret":"short"}')" "a short secret: 422"
assert_jq "$OUT" '.detail | test("secret")' "the problem names the secret"
curl -s -H "Authorization: Bearer $ADMIN" -o "$OUT" "$CF/metrics"
delivered=$(sed -n 's/^caseflowd_webhook_deliveries_total{result="delivered"} \([0-9.e+]*\)$/\1/p' "$OUT")
dead=$(sed -n 's/^caseflowd_webhook_deliveries_total{result="dead"} \([0-9.e+]*\)$/\1/p' "$OUT")
check "metrics: ${delivered:-no} deliveries (at least $((2 * n_all)))" \
    awk -v d="${delivered:-0}" -v n="$n_all" 'BEGIN { exit !(d >= 2 * n) }'
check "metrics: ${dead:-no} dead letters (at least $n_all)" \
    awk -v d="${dead:-0}" -v n="$n_all" 'BEGIN { exit !(d >= n) }'

# ---- removing stops deliveries ---------------------------------------------------------
expect_exit 0 cf --actor admin webhook remove "$DOWN_ID"
assert_eq 0 "$(store_sql "SELECT count(*) FROM deliveries WHERE hook = $DOWN_ID")" "a removed webhook's queue is gone"
expect_exit 66 cf --actor admin webhook remove "$DOWN_ID"
expect_exit 66 cf --actor admin webhook redeliver "$DOWN_ID"

# ---- SIGTERM with POSTs hanging: a prompt, clean exit -------------------------------------
start=$SECONDS
kill -TERM "$CFD_PID"
wait "$CFD_PID"
rc=$?
CFD_PID=
assert_eq 0 "$rc" "caseflowd exits 0 on SIGTERM"
check "and within 5 s, with POSTs hanging ($((SECONDS - start)) s)" test $((SECONDS - start)) -le 5
check "no case data or secret in caseflowd's log" \
    test -z "$(grep -F -e 'CF-0000' -e "$(cat "$E2E_TMP/one.secret")" "$E2E_TMP/caseflowd.log")"

expect_exit 0 cf --actor admin audit verify
assert_contains "$OUT" "audit chain ok" "the chain verifies with the webhook records"
store_tamper "UPDATE webhooks SET url = 'http://203.0.113.9/x' WHERE id = $OK_ID"
cf --actor admin audit verify >"$OUT" 2>"$ERR"
rc=$?
assert_eq 65 "$rc" "a webhook redirected behind caseflow's back fails verify"
assert_contains "$ERR" "webhook" "verify names the webhook"

finish
