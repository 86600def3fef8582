#!/bin/bash
# Three caseflowd instances on one PostgreSQL database (issue 12): loopback
# clients (tests/e2e/loadgen.py, spread over the three) mix referrals, acts
# along the polit visit route (If-Match and Idempotency-Key on each; some
# sent twice, some stale on purpose) and reads for CF_PG_LOAD_SECONDS
# (default 60, as issue 12 asks; CF_LOAD_SECONDS when set: the sanitizer
# and distcheck passes run it shorter), while one instance is killed with SIGKILL half way through
# (its clients send the same requests, with the same keys, to the
# survivors) and, a quarter later, the PostgreSQL server itself is stopped
# as a crash would stop it and started again (the survivors connect again;
# a request caught by it gets 503 and is sent again).
# Then: every acknowledged referral is a case, once, with the id it was
# acknowledged with; every acknowledged act is in its case's history once;
# nothing is there twice; every answer was a 2xx or a documented conflict;
# the survivors kept serving; the audit chain, appended to by three
# processes at once, verifies as one total order. Throughput and latency are
# printed as TAP comments, never asserted (bench/ holds the figures). Bounded:
# the load stops by itself, every process is stopped on the way out.
#
# Environment: CF_PG_LOAD_SECONDS (60), CF_PG_LOAD_CLIENTS (64 in all).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$CASEFLOW_SRCDIR/tests/e2e/lib.sh"

CASEFLOWD=${CASEFLOWD_BIN:-$CASEFLOW_BUILDDIR/caseflowd}
[ -x "$CASEFLOWD" ] || { echo "Bail out! no caseflowd at $CASEFLOWD"; exit 99; }
command -v curl >/dev/null || { echo "1..0 # SKIP curl is needed"; exit 77; }
PY=/usr/bin/python3
LOADGEN="$CASEFLOW_SRCDIR/tests/e2e/loadgen.py"
SECONDS_LOAD=${CF_PG_LOAD_SECONDS:-${CF_LOAD_SECONDS:-60}}
CLIENTS=${CF_PG_LOAD_CLIENTS:-64}
. "$CASEFLOW_SRCDIR/tests/pg/lib.sh"
trap pg_cleanup EXIT

pg_cluster_start
pg_newdb shared || exit 99
CASEFLOW_STORE=$(pg_store_uri shared)
export CASEFLOW_STORE
export CASEFLOW_NOW=2026-11-03T10:00:00Z
KEYS="$E2E_TMP/keys"
cf --actor admin init --test-clock --key-dir "$KEYS" >/dev/null &&
    setup_users >/dev/null &&
    cf --actor admin --reason "test store" workflow deploy --yes "$POLIT" >/dev/null ||
    { echo "Bail out! cannot set up a store on PostgreSQL"; exit 99; }
TOKENS="$E2E_TMP/tokens.json"
route_tokens "$TOKENS" "load test"

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- three instances ----------------------------------------------------------------------
URLS=()
for i in 0 1 2; do
    port=$(free_port)
    (exec "$CASEFLOWD" --store "$CASEFLOW_STORE" --listen 127.0.0.1:"$port" --workers 32 \
        --signing-key "$KEYS/shared.key" --tick-interval 1 --max-wait 2 \
        >/dev/null 2>"$E2E_TMP/cfd$i.log" </dev/null) &
    PIDS+=($!)
    URLS+=("http://127.0.0.1:$port")
done
for i in 0 1 2; do
    for _ in $(seq 100); do
        curl -s --max-time 2 "${URLS[$i]}/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -s --max-time 2 "${URLS[$i]}/readyz" >"$OUT"
    assert_jq "$OUT" '.status == "ready"' "instance $i on the shared database is ready"
done

# ---- the load, and one instance killed half way --------------------------------------------
ACKS="$E2E_TMP/acks.ndjson"
STATS="$E2E_TMP/stats.json"
echo "# $CLIENTS clients over 3 instances for ${SECONDS_LOAD}s; instance 1 killed at $((SECONDS_LOAD / 2))s, the server restarted at $((SECONDS_LOAD * 3 / 4))s"
url_args=()
for u in "${URLS[@]}"; do url_args+=(--url "$u"); done
timeout $((SECONDS_LOAD + 300)) "$PY" "$LOADGEN" run "${url_args[@]}" --tokens "$TOKENS" \
    --acks "$ACKS" --stats "$STATS" --threads "$CLIENTS" --seconds "$SECONDS_LOAD" \
    --prefix MULTI --retry --grace 20 >"$E2E_TMP/loadgen.out" 2>"$E2E_TMP/loadgen.err" &
LOAD=$!
sleep $((SECONDS_LOAD / 2))
kill -KILL "${PIDS[1]}"
wait "${PIDS[1]}" 2>/dev/null
ok "instance 1 killed (SIGKILL) under load"
sleep $((SECONDS_LOAD / 4))
if sh "$PG_HERE/cluster.sh" restart "$PGDIR"; then
    ok "the PostgreSQL server killed (immediate stop, as in a crash) and started again under load"
else
    not_ok "the PostgreSQL server did not restart"
fi
wait "$LOAD"
assert_eq 0 "$?" "the load ran to its end"
jq -r '"# \(.answered) requests answered 2xx in \(.seconds) s: \(.per_sec)/s; acts \(.acts_per_sec)/s; p50 \(.p50_ms) ms, p99 \(.p99_ms) ms",
    "#   statuses \(.statuses | tojson); retries \(.retries); no answer \(.no_answer); conflicts \(.conflicts)"' "$STATS"
assert_jq "$STATS" '.acts > 0 and .referrals > 0 and .reads > 0' "acts, referrals and reads were acknowledged"
assert_jq "$STATS" '.unexpected_count == 0' "no answer but a 2xx or a documented conflict (409, 412)"
jq -r '.unexpected[] | "#   unexpected: \(tojson)"' "$STATS"
for i in 0 2; do
    curl -s --max-time 5 "${URLS[$i]}/readyz" >"$OUT"
    assert_jq "$OUT" '.status == "ready"' "instance $i survived and still serves"
done
for i in 0 2; do kill -TERM "${PIDS[$i]}"; wait "${PIDS[$i]}"; done
PIDS=()

# ---- the database holds what was acknowledged, once; the chain is one ---------------------
expect_exit 0 cf --actor admin audit verify --json
assert_jq "$OUT" '.ok == true' "the chain, appended to by three processes, verifies"
"$PY" "$LOADGEN" check --store "$CASEFLOW_STORE" --acks "$ACKS" >"$OUT" 2>"$ERR"
assert_eq 0 "$?" "the check ran"
jq -r '"# checked \(.referrals) referrals, \(.acts) acts, \(.replays) replays"' "$OUT"
for k in referrals_missing referrals_id_mismatch acts_missing acts_duplicated acked_twice \
    replay_mismatch revision_behind history_duplicates; do
    assert_jq "$OUT" ".${k}_count == 0" "$k: none"
    jq -r ".${k}[] | \"#   $k: \\(tojson)\"" "$OUT"
done
assert_jq "$OUT" '.referrals > 0 and .acts > 0' "the check saw referrals and acts"
gaps=$("$PSQL" -X -At -d "$CASEFLOW_STORE" -c "SELECT count(*) FROM caseflow.events e
    WHERE e.seq > 1 AND NOT EXISTS (SELECT 1 FROM caseflow.events p WHERE p.seq = e.seq - 1)")
assert_eq 0 "$gaps" "the history is numbered without a gap"
finish
