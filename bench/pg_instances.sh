#!/bin/bash
# The PostgreSQL figures of issue 12, side by side with SQLite on the same
# machine: acts/s, p50 and p99 latency with 1, 2 and 3 caseflowd instances
# on one local PostgreSQL (a throwaway cluster, tests/pg/cluster.sh) and with
# one caseflowd on a SQLite store, each under the same mixed load of
# tests/e2e/loadgen.py (referrals, acts along the polit visit route, reads)
# from CLIENTS loopback clients spread over the instances for SECONDS; then
# intake/s (one bulk `caseflow refer` of INTAKE referrals) and verify
# records/s (`caseflow audit verify` over the whole chain). One JSON line per
# figure on stdout; nothing is asserted. Not part of make check.
#
#   make -C build all && CASEFLOW_SRCDIR=$PWD CASEFLOW_BIN=$PWD/build/caseflow \
#     CASEFLOW_BUILDDIR=$PWD/build bash bench/pg_instances.sh
#
# Environment: BENCH_PG_SECONDS (30), BENCH_PG_CLIENTS (64), BENCH_PG_INTAKE
# (2000), BENCH_PG_CONFIGS ("sqlite:1 pg:1 pg:2 pg:3").
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$CASEFLOW_SRCDIR/tests/e2e/lib.sh"
. "$CASEFLOW_SRCDIR/tests/pg/lib.sh"
set +u
CASEFLOWD=${CASEFLOWD_BIN:-$CASEFLOW_BUILDDIR/caseflowd}
PY=/usr/bin/python3
LOADGEN="$CASEFLOW_SRCDIR/tests/e2e/loadgen.py"
SECS=${BENCH_PG_SECONDS:-30}
CLIENTS=${BENCH_PG_CLIENTS:-64}
INTAKE=${BENCH_PG_INTAKE:-2000}
CONFIGS=${BENCH_PG_CONFIGS:-"sqlite:1 pg:1 pg:2 pg:3"}
export CASEFLOW_PLUGIN_PATH=${CASEFLOW_PLUGIN_PATH:-$CASEFLOW_BUILDDIR/plugins}
trap pg_cleanup EXIT
pg_cluster_start
free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
now_ms() { date +%s%3N; }
n=0
for cfg in $CONFIGS; do
    backend=${cfg%%:*} k=${cfg#*:} n=$((n + 1))
    if [ "$backend" = pg ]; then
        pg_newdb "bench$n" || exit 99
        CASEFLOW_STORE=$(pg_store_uri "bench$n")
    else
        CASEFLOW_STORE="$E2E_TMP/bench$n.db"
    fi
    export CASEFLOW_STORE
    unset CASEFLOW_NOW
    KEYS="$E2E_TMP/keys$n"
    keyargs=() signargs=()
    if [ "$backend" = pg ]; then # SQLite keeps its key where it always does
        keyargs=(--key-dir "$KEYS") signargs=(--signing-key "$KEYS/bench$n.key")
    fi
    cf --actor admin init "${keyargs[@]}" >/dev/null && setup_users >/dev/null &&
        cf --actor admin --reason bench workflow deploy --yes "$POLIT" >/dev/null ||
        { echo "cannot set up a $backend store" >&2; exit 1; }
    TOKENS="$E2E_TMP/tokens$n.json"
    route_tokens "$TOKENS" bench
    urls=()
    for i in $(seq "$k"); do
        port=$(free_port)
        (exec "$CASEFLOWD" --store "$CASEFLOW_STORE" --listen 127.0.0.1:"$port" --workers 32 \
            "${signargs[@]}" --tick-interval 5 \
            >/dev/null 2>"$E2E_TMP/cfd$n-$i.log" </dev/null) &
        PIDS+=($!)
        urls+=(--url "http://127.0.0.1:$port")
        for _ in $(seq 100); do curl -s --max-time 1 "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    done
    "$PY" "$LOADGEN" run "${urls[@]}" --tokens "$TOKENS" --acks "$E2E_TMP/acks$n" \
        --stats "$E2E_TMP/stats$n.json" --threads "$CLIENTS" --seconds "$SECS" \
        --prefix "B$n" --retry >/dev/null 2>"$E2E_TMP/loadgen$n.err"
    pg_stop_pids
    jq -c --arg b "$backend" --argjson k "$k" --argjson c "$CLIENTS" \
        '{figure: "mixed load", backend: $b, instances: $k, clients: $c, seconds, answered,
          per_sec, acts_per_sec, referrals_per_sec: ((.referrals / .seconds * 10 | round) / 10),
          p50_ms, p99_ms, statuses, unexpected: .unexpected_count,
          first_unexpected: (.unexpected[0] // null)}' "$E2E_TMP/stats$n.json"
    referrals "I$n" "$INTAKE" >"$E2E_TMP/intake$n.jsonl"
    t0=$(now_ms)
    cf --actor analyst1 refer "$E2E_TMP/intake$n.jsonl" >/dev/null 2>&1
    t1=$(now_ms)
    jq -nc --arg b "$backend" --argjson n "$INTAKE" --argjson ms $((t1 - t0)) \
        '{figure: "intake (one bulk refer)", backend: $b, referrals: $n, ms: $ms,
          per_sec: (($n / $ms * 10000 | round) / 10)}'
    t0=$(now_ms)
    cf --actor admin audit verify --json >"$E2E_TMP/verify$n.json" 2>/dev/null
    t1=$(now_ms)
    jq -c --arg b "$backend" --argjson ms $((t1 - t0)) \
        '{figure: "audit verify", backend: $b, ok, ms: $ms, records,
          records_per_sec: ((.records / $ms * 1000) | round)}' "$E2E_TMP/verify$n.json"
done
