#!/bin/bash
# caseflowd killed under load (issue 8, "Tests: SIGKILL, SIGTERM"): the load
# of http_load.sh (tests/e2e/loadgen.py, 32 clients; a request that gets no
# answer is sent again, the same request with the same idempotency key, as
# docs/service.md tells a caller to) while caseflowd is killed with SIGKILL
# three times, each after a random while under load, and stopped with SIGTERM
# a fourth time, and restarted each time on the same store and port. After
# each stop, before the restart: the store opens and passes integrity_check
# (SQLite's; on PostgreSQL the server recovers its own files), the chain verifies, and every write acknowledged so far is in the store,
# once. SIGTERM under load exits 0 within a bound. At the end the same again
# over everything, and the feed follower saw every event once, in order,
# across the restarts. caseflowd is up under load for 5/8 to 9/8 of
# CF_KILL_SECONDS in all, plus a few seconds of checks per stop.
#
# Environment: CF_KILL_SECONDS (30, at most CF_LOAD_SECONDS, at least 8),
# CF_LOAD_CLIENTS (32), CF_KILL_SEED (the whiles are random; the seed is
# printed so that a failing run can be replayed).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

CASEFLOWD=${CASEFLOWD_BIN:-$CASEFLOW_BUILDDIR/caseflowd}
[ -x "$CASEFLOWD" ] || { echo "Bail out! no caseflowd at $CASEFLOWD"; exit 99; }
command -v curl >/dev/null || { echo "1..0 # SKIP curl is needed"; exit 77; }
PY=/usr/bin/python3
LOADGEN="$CASEFLOW_SRCDIR/tests/e2e/loadgen.py"
T=${CF_KILL_SECONDS:-30}
[ "$T" -gt "${CF_LOAD_SECONDS:-60}" ] && T=${CF_LOAD_SECONDS:-60}
[ "$T" -lt 8 ] && T=8
CLIENTS=${CF_LOAD_CLIENTS:-32}
SEED=${CF_KILL_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$SEED
SERVER_PID=
LOAD_PID=

cleanup() {
    local p
    for p in "$LOAD_PID" "$SERVER_PID"; do
        [ -n "$p" ] && kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
    done
    for _ in $(seq 50); do
        { [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; } ||
            { [ -n "$LOAD_PID" ] && kill -0 "$LOAD_PID" 2>/dev/null; } || break
        sleep 0.1
    done
    for p in "$LOAD_PID" "$SERVER_PID"; do
        [ -n "$p" ] && kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$E2E_TMP"
}
trap cleanup EXIT

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_store
STORE=$CASEFLOW_STORE
TOKENS="$E2E_TMP/tokens.json"
route_tokens "$TOKENS" "kill test"

PORT=$(free_port)
U="http://127.0.0.1:$PORT"
LOG="$E2E_TMP/caseflowd.log"
STARTS=0

# start_server: caseflowd on the store and port (exec: $! is caseflowd
# itself), up when /readyz answers 200. The port may linger a moment after a
# kill: a start that fails is tried again, for at most 20 s.
start_server() {
    local try
    STARTS=$((STARTS + 1))
    for try in $(seq 20); do
        (exec "$CASEFLOWD" --store "$STORE" --listen 127.0.0.1:"$PORT" --workers 128 \
            --tick-interval 1 --max-wait 5 >/dev/null 2>>"$LOG" </dev/null) &
        SERVER_PID=$!
        for _ in $(seq 100); do
            [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$U/readyz")" = 200 ] &&
                return 0
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        echo "# start $STARTS, try $try failed: $(tail -n 1 "$LOG")"
        sleep 1
    done
    echo "Bail out! caseflowd did not start again: $(tail -n 5 "$LOG")"
    exit 99
}

ACKS="$E2E_TMP/acks.ndjson"
STATS="$E2E_TMP/stats.json"

# check_store WHEN: with caseflowd stopped, the store opens and verifies and
# holds every request acknowledged so far, once.
check_store() {
    local when=$1 k
    sleep 0.3 # an answer received just before the stop is written to the acks
    expect_exit 0 cf --actor admin audit verify
    # On PostgreSQL the server's own recovery keeps its files whole; what is
    # caseflow's is checked on both: the chain verifies (above), the store
    # opens (below) and holds every acknowledged write, once.
    if on_sqlite "$when: PRAGMA integrity_check (SQLite's file after the kill)"; then
        assert_eq ok "$(sqlite3 "$STORE" 'PRAGMA integrity_check')" "$when: integrity_check"
    fi
    expect_exit 0 cf --actor supervisor1 --reason "kill test" list --limit 1
    "$PY" "$LOADGEN" check --store "$STORE" --acks "$ACKS" >"$OUT" 2>"$ERR"
    assert_eq 0 "$?" "$when: the check ran"
    jq -r "\"# $when: \\(.referrals) referrals, \\(.acts) acts, \\(.replays) replays acknowledged\"" "$OUT"
    for k in referrals_missing referrals_id_mismatch acts_missing acts_duplicated acked_twice \
        replay_mismatch revision_behind history_duplicates; do
        assert_jq "$OUT" ".${k}_count == 0" "$when: $k: none"
        jq -r ".${k}[] | \"#   $k: \\(tojson)\"" "$OUT"
    done
}

# The moments: caseflowd runs under load for a random while (T/8 to T/4)
# before each of three SIGKILLs and the SIGTERM, and T/8 after the last
# restart; then the load stops. Down time does not count.
uptimes=()
for _ in 1 2 3 4; do
    uptimes+=($((T * 1000 * (125 + RANDOM % 126) / 1000)))
done
uptimes+=($((T * 1000 / 8)))
echo "# CF_KILL_SEED=$SEED: $CLIENTS clients; caseflowd up ${uptimes[*]} ms between the stops"

# sleep_ms MS
sleep_ms() {
    sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

start_server
ok "caseflowd listens on $U"
STOP="$E2E_TMP/stop-load"
timeout $((T * 4 + 600)) "$PY" "$LOADGEN" run --url "$U" --tokens "$TOKENS" --acks "$ACKS" \
    --stats "$STATS" --threads "$CLIENTS" --seconds $((T * 4 + 300)) --stop-file "$STOP" \
    --prefix KILL --seed "$SEED" --retry --grace 60 --follow \
    >"$E2E_TMP/loadgen.out" 2>"$E2E_TMP/loadgen.err" &
LOAD_PID=$!

for i in 0 1 2 3; do
    sleep_ms "${uptimes[$i]}"
    acked=$(wc -l <"$ACKS")
    if [ "$i" -lt 3 ]; then
        kill -KILL "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null
        ok "SIGKILL $((i + 1)) after ${uptimes[$i]} ms up ($acked writes acknowledged so far)"
        check_store "after SIGKILL $((i + 1))"
    else
        kill -TERM "$SERVER_PID"
        for _ in $(seq 450); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            not_ok "SIGTERM under load: caseflowd still runs after 45 s"
            kill -KILL "$SERVER_PID"
        fi
        wait "$SERVER_PID"
        assert_eq 0 "$?" "SIGTERM under load after ${uptimes[$i]} ms up: exit 0"
        check_store "after SIGTERM under load"
    fi
    start_server
done
sleep_ms "${uptimes[4]}"
touch "$STOP"

wait "$LOAD_PID"
assert_eq 0 "$?" "the load ran to its end"
LOAD_PID=
jq -r '"# \(.answered) requests answered 2xx in \(.seconds) s; \(.acts) acts; \(.no_answer) without an answer, \(.retries) retries (\(.retry_replays) acts replayed by their key after a lost answer); statuses \(.statuses | tojson)"' "$STATS"
assert_jq "$STATS" '.acts > 0 and .referrals > 0' "acts and referrals were acknowledged"
assert_jq "$STATS" '.unexpected_count == 0' "no answer but a 2xx, a documented conflict or the stop's 503"
jq -r '.unexpected[] | "#   unexpected: \(tojson)"' "$STATS"

kill -TERM "$SERVER_PID"
for _ in $(seq 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID"
wait "$SERVER_PID"
assert_eq 0 "$?" "SIGTERM at the end: exit 0"
SERVER_PID=
check_store "at the end"
"$PY" "$LOADGEN" check --store "$STORE" --acks "$ACKS" --feed-stats "$STATS" >"$OUT" 2>"$ERR"
jq -r '"# feed \(.feed | tojson)"' "$OUT"
assert_jq "$OUT" '.feed.seen == .feed.stored and .feed.disorder == 0 and .feed.last > 0' \
    "the feed follower saw every event once, in order, across the restarts"
finish
