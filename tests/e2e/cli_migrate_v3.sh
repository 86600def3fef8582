#!/bin/bash
# A store of schema 3 (tests/data/stores/store-v3.db.gz, made by caseflow at
# commit 3681784: the POLIT workflow, a case in assessment with children at
# risk, so an open MASH task and a response deadline, a second case, a token,
# a signed checkpoint) moves to schema 4 at the first command that may write
# it. Schema 4 only replaces indexes: one store.migrate record and the new
# schema's, signed; no row and no case digest changes; it verifies with its
# key; the list filters and the engine clock's deadline scan that the new
# indexes serve give the same answers. A schema-3 store with a planted index
# is refused and left at schema 3.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
sqlite_only "the store is a SQLite fixture of an old schema (a PostgreSQL store begins at schema 4: nothing to migrate)"

FIX="$CASEFLOW_SRCDIR/tests/data/stores"
# The migration is recorded at the system time: the test clock runs after it
# (the fixture's case's response deadline is 2026-10-02T08:00:00Z).
export CASEFLOW_NOW=2030-01-01T10:00:00Z
fixture() {
    export CASEFLOW_STORE="$E2E_TMP/$1/store-v3.db"
    mkdir -p "$E2E_TMP/$1/store-v3.db.keys"
    chmod 700 "$E2E_TMP/$1/store-v3.db.keys"
    gzip -dc "$FIX/store-v3.db.gz" >"$CASEFLOW_STORE"
    cp "$FIX/store-v3.db.key" "$FIX/store-v3.db.key.pub" "$E2E_TMP/$1/store-v3.db.keys/"
    chmod 600 "$CASEFLOW_STORE" "$E2E_TMP/$1/store-v3.db.keys/store-v3.db.key"
}
sql() {
    sqlite3 -batch "$CASEFLOW_STORE" "$@"
}
R=(--reason "migration test")

fixture good
PUB="$CASEFLOW_STORE.keys/store-v3.db.key.pub"
assert_eq 3 "$(sql "PRAGMA user_version")" "the fixture is a schema-3 store"
rows() {
    local t
    for t in cases timers tasks keys notifications events users policies workflows tokens; do
        sql "SELECT * FROM $t ORDER BY 1"
    done | sha256sum
}
before=$(rows)
expect_exit 0 cf --actor admin --json user list
assert_eq 4 "$(sql "PRAGMA user_version")" "migrated to schema 4"
assert_eq 1 "$(sql "SELECT count(*) FROM audit WHERE action='store.migrate'")" \
    "one store.migrate record"
assert_eq "store.migrate store.schema checkpoint" \
    "$(sql "SELECT action FROM audit ORDER BY seq DESC LIMIT 3" | tac | paste -sd' ')" \
    "the migration and the new schema are recorded and signed"
assert_eq "$before" "$(rows)" "no row of any table changed"
assert_eq "cases_deadline events_case_at tasks_open" \
    "$(sql "SELECT name FROM sqlite_schema WHERE name IN ('tasks_open', 'cases_deadline', 'events_case_at') ORDER BY name" | paste -sd' ')" \
    "schema 4's indexes"
assert_eq "CREATE INDEX tasks_open ON tasks(case_id, status) WHERE status <> 'done'" \
    "$(sql "SELECT sql FROM sqlite_schema WHERE name = 'tasks_open'")" "tasks_open holds open tasks only"
expect_exit 0 cf --actor admin --json audit verify --key "$PUB"
assert_jq "$OUT" '.ok == true and .tables.cases == 2' "the migrated store verifies"

# What the indexes serve answers as before: the overdue case, its open task,
# the deadline filter; the clock raises the missed deadline once.
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --overdue
assert_jq "$OUT" 'map(.id) == ["CF-000001"]' "list --overdue: the case past its deadline"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --open-tasks
assert_jq "$OUT" 'map(.id) == ["CF-000001"] and .[0].open_tasks == 1' "list --open-tasks: the MASH case"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --deadline-before 2026-10-02T09:00:00Z
assert_jq "$OUT" 'map(.id) == ["CF-000001"]' "list --deadline-before"
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --deadline-before 2026-10-02T07:00:00Z
assert_jq "$OUT" 'length == 0' "list --deadline-before, earlier: none"
expect_exit 0 cf --actor admin --json tick
expect_exit 0 cf --actor admin --json tick
assert_eq 1 "$(sql "SELECT count(*) FROM notifications WHERE channel = 'deadline.missed' AND case_id = 'CF-000001'")" \
    "the missed deadline is raised once, by two ticks"
expect_exit 0 cf --actor officer1 "${R[@]}" --json task list --open
T=$(jq -r '.[0].id' "$OUT")
expect_exit 0 cf --actor officer1 task claim "$T"
expect_exit 0 cf --actor officer1 task complete "$T" --result '{"mash":"referred","reference":"MASH-TEST-3"}'
expect_exit 0 cf --actor supervisor1 "${R[@]}" --json list --open-tasks
assert_jq "$OUT" 'length == 0' "a closed task leaves the open-task filter"
expect_exit 0 cf --actor admin --json audit verify --key "$PUB"
assert_jq "$OUT" '.ok == true' "still verifies after the new work"

# A planted index: the migration refuses, the store stays at schema 3.
fixture planted
sql "CREATE INDEX planted ON cases(state)"
before=$(sql "SELECT count(*) FROM audit")
expect_exit 65 cf --actor admin --json user list
assert_eq 3 "$(sql "PRAGMA user_version")" "a planted index: not migrated"
assert_eq "$before" "$(sql "SELECT count(*) FROM audit")" "nothing recorded"
finish
