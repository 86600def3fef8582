#!/bin/bash
# caseflowd under load (issue 8, "Tests: load"): 32 concurrent keep-alive
# clients (tests/e2e/loadgen.py) for CF_LOAD_SECONDS (default 60) on
# 127.0.0.1, mixing referrals (single and NDJSON batches), acts along the
# polit visit route (If-Match and Idempotency-Key on each; some sent twice,
# some with a stale revision on purpose) and reads (a case, pages of the
# list, the feed), while one more client follows the feed with long polls.
# Then SIGTERM (exit 0, in bounded time), `audit verify`, and the store held
# to what was acknowledged: every acknowledged referral is a case, once;
# every acknowledged act is in its case's history exactly once; nothing is
# there twice; every answer was a 2xx or a documented conflict (409, 412);
# the feed follower saw every event, in order. Throughput and latency are
# printed as TAP comments (figures, never asserted: see bench/http.md).
#
# Environment: CF_LOAD_SECONDS (60), CF_LOAD_CLIENTS (32).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

CASEFLOWD=${CASEFLOWD_BIN:-$CASEFLOW_BUILDDIR/caseflowd}
[ -x "$CASEFLOWD" ] || { echo "Bail out! no caseflowd at $CASEFLOWD"; exit 99; }
command -v curl >/dev/null || { echo "1..0 # SKIP curl is needed"; exit 77; }
PY=/usr/bin/python3
LOADGEN="$CASEFLOW_SRCDIR/tests/e2e/loadgen.py"
SECONDS_LOAD=${CF_LOAD_SECONDS:-60}
CLIENTS=${CF_LOAD_CLIENTS:-32}
SERVER_PID=

cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null
    fi
    rm -rf "$E2E_TMP"
}
trap cleanup EXIT

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- the store, its users' tokens, the service ----------------------------------------
export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_store
STORE=$CASEFLOW_STORE
TOKENS="$E2E_TMP/tokens.json"
route_tokens "$TOKENS" "load test"

PORT=$(free_port)
U="http://127.0.0.1:$PORT"
LOG="$E2E_TMP/caseflowd.log"
# exec: $! is caseflowd itself, so the signals below reach it.
(exec "$CASEFLOWD" --store "$STORE" --listen 127.0.0.1:"$PORT" --workers 128 \
    --tick-interval 1 --max-wait 5 >/dev/null 2>"$LOG" </dev/null) &
SERVER_PID=$!
for _ in $(seq 100); do
    curl -s --max-time 2 "$U/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
curl -s --max-time 2 "$U/readyz" >/dev/null ||
    { echo "Bail out! caseflowd did not start: $(head -c 500 "$LOG")"; exit 99; }
ok "caseflowd listens on $U"

# ---- the load --------------------------------------------------------------------------
ACKS="$E2E_TMP/acks.ndjson"
STATS="$E2E_TMP/stats.json"
echo "# $CLIENTS clients for ${SECONDS_LOAD}s"
timeout $((SECONDS_LOAD + 300)) "$PY" "$LOADGEN" run --url "$U" --tokens "$TOKENS" \
    --acks "$ACKS" --stats "$STATS" --threads "$CLIENTS" --seconds "$SECONDS_LOAD" \
    --prefix LOAD --follow >"$OUT" 2>"$ERR"
assert_eq 0 "$?" "the load ran to its end"
show_figures() {
    jq -r '"# \(.answered) requests answered 2xx in \(.seconds) s: \(.per_sec)/s; acts \(.acts_per_sec)/s; all requests p50 \(.p50_ms) ms, p99 \(.p99_ms) ms",
        (.kinds | to_entries[] | "#   \(.key): \(.value.count), p50 \(.value.p50_ms) ms, p99 \(.value.p99_ms) ms, max \(.value.max_ms) ms"),
        "#   statuses \(.statuses | tojson); conflicts \(.conflicts), stale probes (412) \(.stale_probes)"' "$1"
}
show_figures "$STATS"
assert_jq "$STATS" '.acts > 0 and .referrals > 0 and .reads > 0' "acts, referrals and reads were acknowledged"
assert_jq "$STATS" '.unexpected_count == 0' "no answer but a 2xx or a documented conflict (409, 412)"
jq -r '.unexpected[] | "#   unexpected: \(tojson)"' "$STATS"
assert_jq "$STATS" '.no_answer == 0' "every request was answered"
assert_jq "$STATS" '.stale_probes > 0' "a stale If-Match under load is 412"

# ---- SIGTERM: exit 0 within a bound ------------------------------------------------------
kill -TERM "$SERVER_PID"
for _ in $(seq 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$SERVER_PID" 2>/dev/null; then
    not_ok "SIGTERM: caseflowd still runs after 30 s"
    kill -KILL "$SERVER_PID"
fi
wait "$SERVER_PID"
assert_eq 0 "$?" "SIGTERM after the load: exit 0"
SERVER_PID=
assert_contains "$LOG" "stopped" "the log says it stopped"

# ---- the store holds what was acknowledged, once ------------------------------------------
expect_exit 0 cf --actor admin audit verify
"$PY" "$LOADGEN" check --store "$STORE" --acks "$ACKS" --feed-stats "$STATS" >"$OUT" 2>"$ERR"
assert_eq 0 "$?" "the check ran"
jq -r '"# checked \(.referrals) referrals, \(.acts) acts, \(.replays) replays; feed \(.feed | tojson)"' "$OUT"
for k in referrals_missing referrals_id_mismatch acts_missing acts_duplicated acked_twice \
    replay_mismatch revision_behind history_duplicates; do
    assert_jq "$OUT" ".${k}_count == 0" "$k: none"
    jq -r ".${k}[] | \"#   $k: \\(tojson)\"" "$OUT"
done
assert_jq "$OUT" '.referrals > 0 and .acts > 0' "the check saw referrals and acts"
assert_jq "$OUT" '.feed.seen == .feed.stored and .feed.disorder == 0 and .feed.last > 0' \
    "the feed follower saw every event once, in order"
n=$(store_sql "$STORE" "SELECT count(*) FROM cases WHERE reference LIKE 'LOAD-%'")
assert_jq "$OUT" ".referrals <= $n" "no more acknowledged referrals than cases ($n)"
finish
