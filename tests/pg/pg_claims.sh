#!/bin/bash
# Claims on a PostgreSQL store, against a real server (tests/pg/lib.sh starts
# a throwaway cluster): 300 timers fall due and three `caseflow tick`
# processes start at once on the one store; each timer fires exactly once
# (one history record and one audit record per case), the ticks share the
# work without firing one twice, nothing is left due, and the chain
# verifies. Then the store's change signal (caseflow.changes, the
# PostgreSQL data_version): a change to users moves it, its row refuses
# writes from anyone but its triggers, and switching a trigger off is
# refused by the schema check at the next command. Last, webhooks: two
# caseflowd instances deliver one store's events to two webhooks of a
# receiver on 127.0.0.1, their bookkeeping in transactions without the
# store's write lock, each claiming a webhook's row with SKIP LOCKED: every
# event reaches each webhook once, each case's in order, and nothing is
# left queued. Skips (77) without a PostgreSQL server.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$CASEFLOW_SRCDIR/tests/e2e/lib.sh"

. "$CASEFLOW_SRCDIR/tests/pg/lib.sh"
CASEFLOWD=${CASEFLOWD_BIN:-$CASEFLOW_BUILDDIR/caseflowd}
[ -x "$CASEFLOWD" ] || { echo "Bail out! no caseflowd at $CASEFLOWD"; exit 99; }
PY=/usr/bin/python3
trap pg_cleanup EXIT
pg_cluster_start

psql_su() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$(pg_store_uri "$1")" -At -c "$2"; }
N=300

pg_newdb claims || exit 99
export CASEFLOW_STORE
CASEFLOW_STORE=$(pg_store_uri claims)
export CASEFLOW_NOW=2026-10-01T08:00:00Z
expect_exit 0 cf --actor admin init --test-clock --key-dir "$E2E_TMP/keys"
expect_exit 0 setup_users
cat >"$E2E_TMP/claims.lua" <<'WF'
-- One timer per case: a minute after the referral, wake fires.
return workflow {
  name = "claims", version = 1, initial = "waiting",
  states = {
    waiting = { roles = { "officer" }, timer = { seconds = 60, event = "wake" },
                on = { wake = "woken" } },
    woken = { roles = { "officer" }, on = { close = "done" } },
    done = { final = true },
  },
}
WF
expect_exit 0 cf --actor admin --reason "claims test" workflow deploy --yes "$E2E_TMP/claims.lua"
referrals CLAIM "$N" >"$E2E_TMP/refs.jsonl"
expect_exit 0 cf --actor analyst1 refer --workflow claims "$E2E_TMP/refs.jsonl"
assert_eq "$N" "$(psql_su claims "SELECT count(*) FROM caseflow.timers")" "$N timers set"

# ---- three ticks at once -------------------------------------------------------------------
export CASEFLOW_NOW=2026-10-01T09:00:00Z
pids=()
for i in 1 2 3; do
    timeout 120 "$CASEFLOW_BIN" tick --json >"$E2E_TMP/tick$i.json" 2>"$E2E_TMP/tick$i.err" &
    pids+=($!)
done
for i in 1 2 3; do
    wait "${pids[$((i - 1))]}"
    assert_eq 0 "$?" "tick $i ended well"
done
total=0
for i in 1 2 3; do
    n=$(jq '[.[] | select(.error == null and .kept == null)] | length' "$E2E_TMP/tick$i.json")
    echo "# tick $i fired $n"
    total=$((total + n))
done
assert_eq "$N" "$total" "the three ticks fired $N timers between them, none twice"
assert_eq 0 "$(psql_su claims "SELECT count(*) FROM caseflow.timers")" "no timer is left"
assert_eq "$N|$N" "$(psql_su claims "SELECT count(*), count(DISTINCT case_id) FROM caseflow.events WHERE event = 'wake'")" \
    "one wake in the history of each case"
assert_eq "$N|$N" "$(psql_su claims "SELECT count(*), count(DISTINCT case_id) FROM caseflow.audit a WHERE case_id IS NOT NULL AND seq IN (SELECT audit_seq FROM caseflow.events WHERE event = 'wake')")" \
    "one audit record for each fire"
assert_eq 0 "$(psql_su claims "SELECT count(*) FROM caseflow.cases WHERE state <> 'woken'")" "every case woke"
expect_exit 0 cf tick --json
assert_jq "$OUT" 'length == 0' "a fourth tick finds nothing due"
expect_exit 0 cf --actor admin audit verify --json
assert_jq "$OUT" '.ok == true' "the chain verifies"

# ---- the change signal ---------------------------------------------------------------------
before=$(psql_su claims "SELECT xact FROM caseflow.changes")
psql_su claims "UPDATE caseflow.users SET disabled = disabled WHERE name = 'analyst1'" >/dev/null
after=$(psql_su claims "SELECT xact FROM caseflow.changes")
[ "$before" != "$after" ] && ok "a write to users moves the change signal ($before -> $after)" ||
    not_ok "a write to users left the change signal at $before"
psql_su claims "SET session_replication_role = replica; UPDATE caseflow.policies SET value = value" >/dev/null
[ "$after" != "$(psql_su claims "SELECT xact FROM caseflow.changes")" ] &&
    ok "and so does one with triggers off for the session (replica role)" ||
    not_ok "a write in the replica role left the change signal where it was"
if psql_su claims "UPDATE caseflow.changes SET xact = $before" >/dev/null 2>&1; then
    not_ok "the change signal was set back by hand"
else
    ok "the change signal refuses to be set by hand, even by a superuser"
fi
psql_su claims "ALTER TABLE caseflow.users DISABLE TRIGGER users_changed" >/dev/null
referral CLAIM-LATE >"$E2E_TMP/late.json"
expect_exit 65 cf --actor analyst1 refer --workflow claims "$E2E_TMP/late.json"
assert_contains "$ERR" "schema was altered" "a change trigger switched off: the next write is refused (65)"

# ---- webhooks from two instances -------------------------------------------------------------
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
cat >"$E2E_TMP/receiver.py" <<'PYEOF'
import json, os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

portfile, log = sys.argv[1:3]
lock = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            event = json.loads(body)
        except ValueError:
            event = {}
        with lock, open(log, "a") as f:
            f.write(json.dumps({"path": self.path, "seq": event.get("seq"),
                                "subject": event.get("subject"),
                                "id": self.headers.get("X-Caseflow-Event-Id")}) + "\n")
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
server.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
threading.Timer(300, server.shutdown).start()
server.serve_forever()
PYEOF
RX_LOG="$E2E_TMP/received.jsonl"
: >"$RX_LOG"
"$PY" "$E2E_TMP/receiver.py" "$E2E_TMP/rx.port" "$RX_LOG" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$E2E_TMP/rx.port" ] && break; sleep 0.1; done
[ -s "$E2E_TMP/rx.port" ] || { echo "Bail out! the receiver did not start"; exit 99; }
RX="http://127.0.0.1:$(cat "$E2E_TMP/rx.port")"

pg_newdb hooks || exit 99
CASEFLOW_STORE=$(pg_store_uri hooks)
unset CASEFLOW_NOW # leases and signatures on the system clock
expect_exit 0 cf --actor admin init --key-dir "$E2E_TMP/keys-hooks"
expect_exit 0 setup_users
cat >"$E2E_TMP/flip.lua" <<'WF'
-- Two states and one event between them: every act moves the case.
return workflow {
  name = "flip", version = 1, initial = "left",
  states = {
    left = { roles = { "officer" }, on = { flip = "right" } },
    right = { roles = { "officer" }, on = { flip = "left" } },
  },
}
WF
expect_exit 0 cf --actor admin --reason "claims test" workflow deploy --yes "$E2E_TMP/flip.lua"
umask 077
head -c 32 /dev/urandom | base64 >"$E2E_TMP/hook.secret"
expect_exit 0 cf --actor admin webhook add "$RX/a" --events '*' --secret-file "$E2E_TMP/hook.secret"
expect_exit 0 cf --actor admin webhook add "$RX/b" --events '*' --secret-file "$E2E_TMP/hook.secret"
URLS=()
for i in 0 1; do
    port=$(free_port)
    (exec "$CASEFLOWD" --store "$CASEFLOW_STORE" --listen 127.0.0.1:"$port" --workers 4 \
        --signing-key "$E2E_TMP/keys-hooks/hooks.key" --tick-interval 3600 \
        >/dev/null 2>"$E2E_TMP/cfd$i.log" </dev/null) &
    PIDS+=($!)
    URLS+=("http://127.0.0.1:$port")
done
for i in 0 1; do
    for _ in $(seq 100); do curl -s --max-time 2 "${URLS[$i]}/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
done
# Events while both deliver: 30 cases, each referred and flipped twice.
CASES=30
referrals HOOK "$CASES" >"$E2E_TMP/hook-refs.jsonl"
expect_exit 0 cf --actor analyst1 refer --workflow flip --json "$E2E_TMP/hook-refs.jsonl"
for c in $(cf --actor supervisor1 --reason e2e list --json | jq -r '.[].id'); do
    cf --actor officer1 act "$c" flip >/dev/null && cf --actor officer1 act "$c" flip >/dev/null ||
        not_ok "act on $c"
done
events=$(psql_su hooks "SELECT count(*) FROM caseflow.notifications")
want=$((events * 2))
for _ in $(seq 120); do
    [ "$(wc -l <"$RX_LOG")" -ge "$want" ] && [ "$(psql_su hooks "SELECT count(*) FROM caseflow.deliveries")" = 0 ] && break
    sleep 0.5
done
sleep 1
echo "# $events events, $(wc -l <"$RX_LOG") posts received"
assert_eq "$want" "$(wc -l <"$RX_LOG")" "every event posted to each of the two webhooks"
assert_eq 0 "$(jq -s 'group_by([.path, .seq]) | map(select(length > 1)) | length' "$RX_LOG")" \
    "none posted twice to one webhook"
assert_eq "$events" "$(jq -s '[.[] | select(.path == "/a")] | unique_by(.seq) | length' "$RX_LOG")" \
    "webhook a got every event"
assert_eq "$events" "$(jq -s '[.[] | select(.path == "/b")] | unique_by(.seq) | length' "$RX_LOG")" \
    "webhook b got every event"
assert_eq 0 "$(jq -s '[group_by([.path, .subject])[] | map(.seq) | select(. != sort)] | length' "$RX_LOG")" \
    "each case's events reached each webhook in order"
assert_eq 0 "$(psql_su hooks "SELECT count(*) FROM caseflow.deliveries")" "nothing left queued"
for i in 0 1; do
    n=$(curl -s --max-time 5 "${URLS[$i]}/metrics" | awk '/^caseflowd_webhook_deliveries_total/ {s += $2} END {print s + 0}')
    echo "# instance $i posted $n"
done
expect_exit 0 cf --actor admin audit verify --json
assert_jq "$OUT" '.ok == true' "the chain verifies"
finish
