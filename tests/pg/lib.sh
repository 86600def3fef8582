# Shared by the end-to-end tests of the PostgreSQL store (sourced after
# tests/e2e/lib.sh): a throwaway cluster of their own (cluster.sh) and the
# psql to look at it with.
#
# pg_cluster_start: start a cluster in a new directory; sets PGDIR, PG_URI
#   (its postgres database) and PSQL (exported: loadgen.py reads it), and
#   exits the test with cluster.sh's status (77: no server installed) when
#   it cannot. The caller's EXIT trap must call pg_cluster_stop.
# pg_cluster_stop: stop it and remove its directory (nothing if not started).
# pg_store_uri NAME: the URI of database NAME on the cluster.
# pg_newdb NAME: create database NAME on it.

PG_HERE="$CASEFLOW_SRCDIR/tests/pg"
PGDIR=

pg_cluster_start() {
    local rc=0 out
    PGDIR=$(mktemp -d /tmp/cf-pg.XXXXXX) || exit 99
    out=$(sh "$PG_HERE/cluster.sh" start "$PGDIR") || rc=$?
    [ "$rc" -eq 0 ] || exit "$rc"
    PG_URI=${out#CASEFLOW_PG_URI=}
    PSQL=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)/psql
    [ -x "$PSQL" ] || PSQL=psql
    export PSQL
}

pg_cluster_stop() {
    [ -n "$PGDIR" ] && sh "$PG_HERE/cluster.sh" stop "$PGDIR" >/dev/null 2>&1
    PGDIR=
}

pg_store_uri() { printf '%s\n' "$PG_URI" | sed "s#/postgres?#/$1?#"; }

pg_newdb() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$PG_URI" -c "CREATE DATABASE $1" >/dev/null; }

# PIDS: the processes a test started (caseflowd, loadgen, ticks), for
# pg_stop_pids to stop: TERM, then KILL whatever still runs 5 s later.
# pg_cleanup: a test's EXIT trap: its processes, its cluster, its files.
PIDS=()
pg_stop_pids() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    PIDS=()
}

pg_cleanup() {
    pg_stop_pids
    pg_cluster_stop
    rm -rf "$E2E_TMP"
}
