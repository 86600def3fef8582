# Shared helpers of the end-to-end tests: each test script sources this file,
# runs the real caseflow command ($CASEFLOW_BIN, set by `make check`) on real
# store files in a fresh temporary directory, and ends with `finish`, which
# prints "N passed, N failed" and sets the exit status automake reads
# (0 pass, 1 fail, 77 skip, 99 hard error). Needs bash, jq and sqlite3.

set -u

: "${CASEFLOW_BIN:?CASEFLOW_BIN is not set (run the tests with make check)}"
: "${CASEFLOW_SRCDIR:?CASEFLOW_SRCDIR is not set (run the tests with make check)}"
: "${CASEFLOW_BUILDDIR:=.}"

for tool in jq sqlite3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "Bail out! $tool is needed by the end-to-end tests (apt-get install $tool)"
        exit 99
    fi
done

E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/caseflow-e2e.XXXXXX") || exit 99
trap 'rm -rf "$E2E_TMP"' EXIT

# The backend the stores of a test are on. SQLite files by default; the
# whole suite runs a second time on PostgreSQL (make check-pg) with
# CASEFLOW_TEST_PG_URI naming the postgres database of a throwaway cluster
# that make started (tests/pg/cluster.sh). There each store is a database of
# its own, named after the test, and `init` makes its key in
# $E2E_TMP/keys/NAME (CASEFLOW_KEY_DIR, as the key stays on the machine).
#
# store_for NAME: the name (path or URI) of the test's store NAME, a new
#   empty one on PostgreSQL.
# store_sql [STORE] SQL: run SQL on a store (default $CASEFLOW_STORE), as
#   sqlite3 or psql print it: values separated by |, one row a line. The
#   same text must mean the same on both (caseflow's tables are in schema
#   caseflow, on the search path). store_tamper: the same, going around
#   the store's refusals (below).
# on_sqlite WHY: true on SQLite; on PostgreSQL false, after saying which
#   checks it leaves out and why (they test SQLite's file, not caseflow's
#   rules: tests/pg/ checks PostgreSQL's own).
# sqlite_only WHY: the whole test is about SQLite's file; on PostgreSQL it
#   is skipped (exit 77) with WHY.
E2E_BACKEND=sqlite
if [ -n "${CASEFLOW_TEST_PG_URI:-}" ]; then
    E2E_BACKEND=postgresql
    E2E_PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    E2E_PSQL=$E2E_PGBIN/psql
    [ -x "$E2E_PSQL" ] || { echo "Bail out! no psql beside the PostgreSQL server"; exit 99; }
    # Database names: the test's, a short random tag, the store's.
    E2E_DBTAG=$(basename "$0" .sh | tr -c 'a-z0-9\n' '_' | cut -c1-30)_$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
fi

e2e_psql() {
    PGOPTIONS="-c search_path=caseflow,pg_catalog -c client_min_messages=warning" "$E2E_PSQL" -X -q -tA -v ON_ERROR_STOP=1 "$@"
}

# The database (on the cluster) of a PostgreSQL store's URI.
e2e_dbname() { printf '%s\n' "$1" | sed 's#^[a-z]*://[^/]*/\([^?]*\).*#\1#'; }

store_for() {
    local name
    if [ "$E2E_BACKEND" = sqlite ]; then
        printf '%s\n' "$E2E_TMP/$1.db"
        return
    fi
    name=${E2E_DBTAG}_$(printf '%s' "$1" | tr -c 'a-z0-9' '_' | cut -c1-20)
    e2e_psql -d "$CASEFLOW_TEST_PG_URI" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" \
        -c "CREATE DATABASE $name" >/dev/null || {
        echo "Bail out! cannot make database $name"
        exit 99
    }
    printf '%s\n' "$CASEFLOW_TEST_PG_URI" | sed "s#/postgres?#/$name?#"
}

is_pg_store() { case $1 in postgres://* | postgresql://*) return 0 ;; esac; return 1; }

store_sql() {
    local store=$CASEFLOW_STORE
    [ $# -gt 1 ] && { store=$1; shift; }
    if is_pg_store "$store"; then
        e2e_psql -d "$store" -c "$1"
    else
        sqlite3 "$store" "$1"
    fi
}

# store_tamper [STORE] SQL: as store_sql, but as an intruder who goes
# around the store's own refusals: on PostgreSQL a superuser with the
# store's triggers switched off for the session (session_replication_role);
# on SQLite the file's owner (sqlite3, nothing in the way).
store_tamper() {
    local store=$CASEFLOW_STORE
    [ $# -gt 1 ] && { store=$1; shift; }
    if is_pg_store "$store"; then
        e2e_psql -d "$store" -c "SET session_replication_role = replica" -c "$1"
    else
        sqlite3 "$store" "$1"
    fi
}

on_sqlite() {
    [ "$E2E_BACKEND" = sqlite ] && return 0
    echo "# not on postgresql: $*"
    return 1
}

sqlite_only() {
    [ "$E2E_BACKEND" = sqlite ] && return 0
    echo "SKIP: on SQLite only: $*"
    exit 77
}

if [ "$E2E_BACKEND" = postgresql ]; then
    export CASEFLOW_KEY_DIR="$E2E_TMP/keys"
fi
CASEFLOW_STORE=$(store_for caseflow)
export CASEFLOW_STORE
unset CASEFLOW_ACTOR CASEFLOW_REASON CASEFLOW_NOW
export DATA="$CASEFLOW_SRCDIR/tests/data/referrals"
POLIT="$CASEFLOW_SRCDIR/workflows/polit.lua"
OUT="$E2E_TMP/stdout"
ERR="$E2E_TMP/stderr"

E2E_PASSED=0
E2E_FAILED=0

ok() {
    E2E_PASSED=$((E2E_PASSED + 1))
    echo "ok - $*"
}

not_ok() {
    E2E_FAILED=$((E2E_FAILED + 1))
    echo "not ok - $*"
}

# Show what the last command printed, for a failure's diagnosis.
show_output() {
    sed 's/^/#   stdout: /' "$OUT" | head -20
    sed 's/^/#   stderr: /' "$ERR" | head -20
}

cf() {
    "$CASEFLOW_BIN" "$@"
}

# expect_exit CODE CMD...: run CMD (stdout to $OUT, stderr to $ERR) and check
# its exit status. A failure (CODE != 0) must say exactly one line on stderr,
# "caseflow: ..."; a success must say nothing there.
expect_exit() {
    local want=$1 got lines
    shift
    "$@" >"$OUT" 2>"$ERR" </dev/null
    got=$?
    if [ "$got" != "$want" ]; then
        not_ok "exit $want (got $got): $*"
        show_output
        return 1
    fi
    lines=$(wc -l <"$ERR")
    if [ "$want" != 0 ]; then
        if [ "$lines" != 1 ] || ! grep -q '^caseflow: ' "$ERR"; then
            not_ok "one error line 'caseflow: ...' ($lines lines): $*"
            show_output
            return 1
        fi
    elif [ "$lines" != 0 ]; then
        not_ok "nothing on stderr on success: $*"
        show_output
        return 1
    fi
    ok "exit $want: $*"
}

# expect_exit_in CODE STDIN-FILE CMD...: as expect_exit, reading STDIN-FILE.
expect_exit_in() {
    local want=$1 input=$2 got
    shift 2
    "$@" >"$OUT" 2>"$ERR" <"$input"
    got=$?
    if [ "$got" != "$want" ]; then
        not_ok "exit $want (got $got): $* < $input"
        show_output
        return 1
    fi
    ok "exit $want: $* < $(basename "$input")"
}

assert_eq() {
    local want=$1 got=$2 what=$3
    if [ "$want" = "$got" ]; then
        ok "$what"
    else
        not_ok "$what: expected '$want', got '$got'"
    fi
}

# assert_contains FILE TEXT WHAT: FILE holds TEXT (fixed string).
assert_contains() {
    local file=$1 text=$2 what=$3
    if grep -qF -- "$text" "$file"; then
        ok "$what"
    else
        not_ok "$what: '$text' not in: $(head -c 300 "$file")"
    fi
}

# assert_jq FILE FILTER WHAT: the jq filter is true of FILE's JSON.
assert_jq() {
    local file=$1 filter=$2 what=$3
    if jq -e "$filter" "$file" >/dev/null 2>&1; then
        ok "$what"
    else
        not_ok "$what: jq '$filter' is false of: $(head -c 300 "$file")"
    fi
}

# A textual picture of a store: every table's rows. Two snapshots compare
# equal when nothing changed, whatever the WAL holds.
store_dump() {
    local store=${1:-$CASEFLOW_STORE}
    if is_pg_store "$store"; then
        # (without pg_dump's per-run random \restrict key)
        "$E2E_PGBIN/pg_dump" --schema=caseflow --no-owner -d "$store" 2>&1 |
            grep -v '^\\\(un\)\{0,1\}restrict '
    else
        sqlite3 "$store" .dump 2>&1
    fi
}

snapshot() {
    store_dump "${2:-$CASEFLOW_STORE}" >"$E2E_TMP/$1.dump"
}

# assert_unchanged NAME WHAT: the store equals snapshot NAME.
assert_unchanged() {
    local name=$1 what=$2
    if store_dump "${3:-$CASEFLOW_STORE}" | cmp -s - "$E2E_TMP/$name.dump"; then
        ok "store unchanged: $what"
    else
        not_ok "store changed: $what"
        store_dump "${3:-$CASEFLOW_STORE}" | diff "$E2E_TMP/$name.dump" - | head -10 | sed 's/^/#   /'
    fi
}

# The team of the polit workflow.
setup_users() {
    cf --actor admin user add analyst1 --role analyst &&
        cf --actor admin user add officer1 --role officer &&
        cf --actor admin user add officer2 --role officer &&
        cf --actor admin user add supervisor1 --role supervisor &&
        cf --actor admin user add authoriser1 --role authoriser
}

# The stores of the tests run on a test clock (init --test-clock): time is
# whatever CASEFLOW_NOW says, from 1 October 2026 unless the test set it
# earlier, and a test moves it forward only (time in the chain never goes
# backwards). A test that needs a store on the system clock makes its own
# with CASEFLOW_NOW unset.
E2E_EPOCH=2026-10-01T08:00:00Z

# remove_store STORE: the store, its log files and its keys (on
# PostgreSQL: an empty database again, and no keys).
remove_store() {
    if is_pg_store "$1"; then
        e2e_psql -d "$CASEFLOW_TEST_PG_URI" -c "DROP DATABASE IF EXISTS $(e2e_dbname "$1") WITH (FORCE)" \
            -c "CREATE DATABASE $(e2e_dbname "$1")" >/dev/null || exit 99
        rm -rf "$CASEFLOW_KEY_DIR"
        return
    fi
    rm -rf "$1" "$1-wal" "$1-shm" "$1.key" "$1.key.pub" "$1.keys"
}

# A fresh store: init by the administrator "admin", the team, and the polit
# workflow deployed. Leaves CASEFLOW_STORE pointing at it.
setup_store() {
    export CASEFLOW_STORE="${1:-$CASEFLOW_STORE}"
    export CASEFLOW_NOW="${CASEFLOW_NOW:-$E2E_EPOCH}"
    remove_store "$CASEFLOW_STORE"
    if ! cf --actor admin init --test-clock >/dev/null ||
        ! setup_users >/dev/null ||
        ! cf --actor admin --reason "test store" workflow deploy --yes "$POLIT" >/dev/null; then
        echo "Bail out! cannot set up a store at $CASEFLOW_STORE"
        exit 99
    fi
}

# A store with the team but no workflow yet.
setup_bare_store() {
    export CASEFLOW_STORE="${1:-$CASEFLOW_STORE}"
    export CASEFLOW_NOW="${CASEFLOW_NOW:-$E2E_EPOCH}"
    remove_store "$CASEFLOW_STORE"
    if ! cf --actor admin init --test-clock >/dev/null || ! setup_users >/dev/null; then
        echo "Bail out! cannot set up a store at $CASEFLOW_STORE"
        exit 99
    fi
}

# referral REFERENCE [IP] [CATEGORY]: a valid referral on one line, with a
# file of CATEGORY (default C) whose hash is the md5 of the reference, so
# that no two test cases share a correlation key.
referral() {
    local ref=$1 ip=${2:-203.0.113.45} cat=${3:-C} hash
    hash=$(printf '%s' "$ref" | md5sum | cut -c1-32)
    printf '{"source":"NCA-CEOP","reference":"%s","received_at":"2026-11-02T09:15:00Z","priority":false,"ip_events":[{"ip":"%s","port":51812,"type":"upload","at":"2026-10-30T21:14:05+01:00","proxy":false}],"files":[{"hash_type":"md5","hash":"%s","category":"%s"}],"frequency":"once"}\n' \
        "$ref" "$ip" "$hash" "$cat"
}

# referrals PREFIX N: N valid referrals as JSON lines, references PREFIX-1 to
# PREFIX-N (written by one awk, as bulk files are large).
referrals() {
    local tag
    tag=$(printf '%s' "$1" | md5sum | cut -c1-8)
    awk -v prefix="$1" -v tag="$tag" -v n="$2" 'BEGIN {
        for (i = 1; i <= n; i++)
            printf "{\"source\":\"NCA-CEOP\",\"reference\":\"%s-%d\",\"received_at\":\"2026-11-02T09:15:00Z\",\"priority\":false,\"ip_events\":[{\"ip\":\"198.51.100.%d\",\"port\":%d,\"type\":\"upload\",\"at\":\"2026-10-30T21:14:05Z\",\"proxy\":false}],\"files\":[{\"hash_type\":\"md5\",\"hash\":\"%s%024d\",\"category\":\"C\"}],\"frequency\":\"once\"}\n", prefix, i, i % 256, 1024 + i % 60000, tag, i
    }'
}

# new_case REFERENCE [WORKFLOW] [IP] [CATEGORY]: refer one referral and print
# its case id.
new_case() {
    referral "$1" "${3:-203.0.113.45}" "${4:-C}" |
        cf --actor analyst1 refer --json --workflow "${2:-polit}" | jq -r .id
}

# case_field ID JQ-FILTER: a field of `show --json`.
case_field() {
    cf --actor supervisor1 --reason "e2e test" show --json "$1" | jq -r "$2"
}

# route_tokens FILE NOTE: a caseflowd token for each user of the polit
# visit route that tests/e2e/loadgen.py drives, as the JSON object it reads.
route_tokens() {
    local file=$1 note=$2 sep= u t
    {
        printf '{'
        for u in analyst1 officer1 authoriser1 supervisor1; do
            t=$(cf --actor admin token create "$u" --note "$note" | tail -n 1)
            [ -n "$t" ] || { echo "Bail out! cannot make a token for $u"; exit 99; }
            printf '%s"%s":"%s"' "$sep" "$u" "$t"
            sep=,
        done
        printf '}\n'
    } >"$file"
}

finish() {
    echo "$E2E_PASSED passed, $E2E_FAILED failed"
    [ "$E2E_FAILED" = 0 ]
    exit $?
}

# store_copy FROM TO: make store TO (a name from store_for) an exact copy
# of store FROM, as it is now (no caseflow command may be running on it).
# On SQLite the file, its WAL checkpointed into it first; on PostgreSQL a
# database made with FROM's database as its template. The keys are not
# copied: a PostgreSQL copy names FROM's key (init recorded its path), a
# SQLite test copies FROM.keys itself where it needs them.
store_copy() {
    local from=$1 to=$2
    if is_pg_store "$from"; then
        e2e_psql -d "$CASEFLOW_TEST_PG_URI" -c "DROP DATABASE IF EXISTS $(e2e_dbname "$to") WITH (FORCE)" \
            -c "CREATE DATABASE $(e2e_dbname "$to") TEMPLATE $(e2e_dbname "$from")" >/dev/null || {
            echo "Bail out! cannot copy store $from to $to"
            exit 99
        }
        return
    fi
    sqlite3 "$from" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
    rm -f "$to-wal" "$to-shm"
    cp "$from" "$to"
}

# store_dump_tables STORE TABLE...: a textual picture of some of the
# store's tables only (as store_dump is of all of them): sqlite3's .dump of
# those tables, or pg_dump's of those tables of schema caseflow.
store_dump_tables() {
    local store=$1 t args=()
    shift
    if is_pg_store "$store"; then
        for t in "$@"; do args+=(-t "caseflow.$t"); done
        "$E2E_PGBIN/pg_dump" --no-owner "${args[@]}" -d "$store" 2>&1 |
            grep -v '^\\\(un\)\{0,1\}restrict '
    else
        sqlite3 "$store" ".dump $*" 2>&1
    fi
}

# store_key STORE: where init put STORE's secret signing key (its public key
# is the same path with .pub): <store>.keys/<name>.key beside a SQLite file,
# $CASEFLOW_KEY_DIR/<database>.key for a PostgreSQL store.
store_key() {
    if is_pg_store "$1"; then
        printf '%s/%s.key\n' "$CASEFLOW_KEY_DIR" "$(e2e_dbname "$1")"
    else
        printf '%s.keys/%s.key\n' "$1" "$(basename "$1")"
    fi
}

# store_save STORE NAME: a copy of the whole store as it is now, to read
# (store_saved NAME names it) or to put back (store_restore STORE NAME): on
# SQLite the file copied to $E2E_TMP/NAME.db, as the tests always did; on
# PostgreSQL a database made from the store's (CREATE DATABASE ... TEMPLATE).
# The store's key stays where it is (named after the store, not the copy).
store_saved() {
    local store=$CASEFLOW_STORE
    [ $# -gt 1 ] && { store=$1; shift; }
    if is_pg_store "$store"; then
        printf '%s\n' "$store" | sed "s#/[^/?]*?#/${E2E_DBTAG}_s_$(printf '%s' "$1" | tr -c 'a-z0-9' '_' | cut -c1-20)?#"
    else
        printf '%s\n' "$E2E_TMP/$1.db"
    fi
}

store_save() {
    local copy
    copy=$(store_saved "$1" "$2")
    if is_pg_store "$1"; then
        e2e_psql -d "$CASEFLOW_TEST_PG_URI" -c "DROP DATABASE IF EXISTS $(e2e_dbname "$copy") WITH (FORCE)" \
            -c "CREATE DATABASE $(e2e_dbname "$copy") TEMPLATE $(e2e_dbname "$1")" >/dev/null || exit 99
    else
        cp "$1" "$copy"
    fi
}

store_restore() {
    local copy
    copy=$(store_saved "$1" "$2")
    if is_pg_store "$1"; then
        e2e_psql -d "$CASEFLOW_TEST_PG_URI" -c "DROP DATABASE IF EXISTS $(e2e_dbname "$1") WITH (FORCE)" \
            -c "CREATE DATABASE $(e2e_dbname "$1") TEMPLATE $(e2e_dbname "$copy")" >/dev/null || exit 99
    else
        cp "$copy" "$1"
        rm -f "$1-wal" "$1-shm"
    fi
}

# store_missing NAME: the name (path or URI) of a store NAME that is not
# there: on SQLite a file not made, on PostgreSQL a database not made (a
# store there fails to open, 66, as a missing file does).
# store_exists STORE: the file, or the database, is there (even if empty).
store_missing() {
    if [ "$E2E_BACKEND" = sqlite ]; then
        printf '%s\n' "$E2E_TMP/$1.db"
        return
    fi
    printf '%s\n' "$CASEFLOW_TEST_PG_URI" |
        sed "s#/postgres?#/${E2E_DBTAG}_$(printf '%s' "$1" | tr -c 'a-z0-9' '_' | cut -c1-20)?#"
}
store_exists() {
    if is_pg_store "$1"; then
        [ "$(e2e_psql -d "$CASEFLOW_TEST_PG_URI" -c "SELECT count(*) FROM pg_database
            WHERE datname = '$(e2e_dbname "$1")'")" != 0 ]
        return
    fi
    test -e "$1"
}
