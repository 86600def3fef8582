#!/bin/bash
# A store of schema 2 (tests/data/stores/store-v2.db.gz: the POLIT workflow,
# a high-risk case with an open MASH task, a checkpoint) moves to schema 4 at
# the first command that may write it: a store.migrate record per step and
# the new schema's, signed; it verifies with its key, and its old task can now be
# claimed and closed, with domain events in the feed. A schema-2 store with a
# planted trigger is refused and left at schema 2.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
sqlite_only "the store is a SQLite fixture of an old schema (a PostgreSQL store begins at schema 4: nothing to migrate)"

FIX="$CASEFLOW_SRCDIR/tests/data/stores"
# The migration is recorded at the system time: the test clock runs after it.
export CASEFLOW_NOW=2030-01-01T10:00:00Z
fixture() {
    export CASEFLOW_STORE="$E2E_TMP/$1/store-v2.db"
    mkdir -p "$E2E_TMP/$1/store-v2.db.keys"
    chmod 700 "$E2E_TMP/$1/store-v2.db.keys"
    gzip -dc "$FIX/store-v2.db.gz" >"$CASEFLOW_STORE"
    cp "$FIX/store-v2.db.key" "$FIX/store-v2.db.key.pub" "$E2E_TMP/$1/store-v2.db.keys/"
    chmod 600 "$CASEFLOW_STORE" "$E2E_TMP/$1/store-v2.db.keys/store-v2.db.key"
}
sql() {
    sqlite3 -batch "$CASEFLOW_STORE" "$@"
}

fixture good
PUB="$CASEFLOW_STORE.keys/store-v2.db.key.pub"
assert_eq 2 "$(sql "PRAGMA user_version")" "the fixture is a schema-2 store"
expect_exit 0 cf --actor admin --json user list
assert_eq 4 "$(sql "PRAGMA user_version")" "migrated to schema 4"
assert_eq 2 "$(sql "SELECT count(*) FROM audit WHERE action='store.migrate'")" \
    "one store.migrate record per step (2 to 3, 3 to 4)"
assert_eq "store.migrate store.schema checkpoint" \
    "$(sql "SELECT action FROM audit ORDER BY seq DESC LIMIT 3" | tac | paste -sd' ')" \
    "the migration and the new schema are recorded and signed"
expect_exit 0 cf --actor admin --json audit verify --key "$PUB"
assert_jq "$OUT" '.ok == true and .tables.cases == 1' "the migrated store verifies"

# The task opened under schema 2 is claimed and closed under schema 4.
expect_exit 0 cf --actor officer1 --reason e2e --json task list --open
assert_jq "$OUT" 'length == 1 and .[0].kind == "mash_referral" and .[0].status == "open"' \
    "the schema-2 task is listed open"
T=$(jq -r '.[0].id' "$OUT")
expect_exit 77 cf --actor analyst1 task claim "$T"
expect_exit 0 cf --actor officer1 task claim "$T"
expect_exit 0 cf --actor officer1 task complete "$T" --result '{"mash":"referred","reference":"MASH-TEST-1"}'
expect_exit 0 cf --actor supervisor1 --reason e2e --json feed
assert_jq "$OUT" '[.events[].type] == ["task.claimed", "task.closed"]' \
    "the feed starts with schema 3's domain events: the claim and the closure"
expect_exit 0 cf --actor admin --json audit verify --key "$PUB"
assert_jq "$OUT" '.ok == true' "still verifies after the new work"

# A planted trigger: the migration refuses, the store stays at schema 2.
fixture planted
sql "CREATE TRIGGER t AFTER UPDATE ON cases BEGIN SELECT 1; END"
before=$(sql "SELECT count(*) FROM audit")
expect_exit 65 cf --actor admin --json user list
assert_eq 2 "$(sql "PRAGMA user_version")" "a planted trigger: not migrated"
assert_eq "$before" "$(sql "SELECT count(*) FROM audit")" "nothing recorded"
finish
