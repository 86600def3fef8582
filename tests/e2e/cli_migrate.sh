#!/bin/bash
# A store made by caseflow 0.1.0 (schema 1, tests/data/stores/store-v1.db.gz:
# four referrals, a disabled user, a policy, an act, a read, checkpoints) is
# migrated to the current schema by the first command that may write it, in
# one transaction recorded in the chain; afterwards it verifies with the key
# it always had, its history is intact, and it takes new work under the new
# rules. Opened read-only first, it is left alone.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
sqlite_only "the store is a SQLite fixture of an old schema (a PostgreSQL store begins at schema 4: nothing to migrate)"

# The old store runs on the system clock (it was never a test-clock store).
unset CASEFLOW_NOW
FIX="$CASEFLOW_SRCDIR/tests/data/stores"
export CASEFLOW_STORE="$E2E_TMP/store-v1.db"
gzip -dc "$FIX/store-v1.db.gz" >"$CASEFLOW_STORE"
cp "$FIX/store-v1.db.key" "$FIX/store-v1.db.key.pub" "$E2E_TMP/"
chmod 600 "$CASEFLOW_STORE" "$CASEFLOW_STORE.key"
PUB="$CASEFLOW_STORE.key.pub"
sql() {
    sqlite3 -batch "$CASEFLOW_STORE" "$@"
}
assert_eq 1 "$(sql "PRAGMA user_version")" "the fixture is a schema-1 store"
before=$(sql "SELECT count(*) FROM audit")
events=$(sql "SELECT group_concat(seq || ':' || event || ':' || to_state) FROM events")

# Read-only: not migrated, and it says why.
expect_exit 74 cf audit verify
assert_contains "$ERR" "migration" "a read-only open of an old store says it needs a migration"
assert_eq 1 "$(sql "PRAGMA user_version")" "a read-only open migrates nothing"

# The first command that writes migrates, and is then served.
expect_exit 0 cf --actor admin --json user list
assert_eq 4 "$(sql "PRAGMA user_version")" "migrated to schema 4 (through 2 and 3)"
assert_jq "$OUT" 'map(select(.name == "temp1"))[0].disabled == true and length == 6' \
    "users and their state survive the migration"
assert_eq 3 "$(sql "SELECT count(*) FROM audit WHERE action='store.migrate'")" "one store.migrate record per step (1 to 2, 2 to 3, 3 to 4)"
assert_eq 6 "$(sql "SELECT count(*) FROM audit WHERE action='user.migrate'")" \
    "every user's state recorded for the new rules"
assert_eq "$events" "$(sql "SELECT group_concat(seq || ':' || event || ':' || to_state) FROM events")" \
    "the history is untouched"
assert_eq 20 "$(sql "SELECT value FROM policies WHERE key='checkpoint_interval'")" \
    "the policy moved to its own table"
assert_eq 0 "$(sql "SELECT count(*) FROM meta WHERE key LIKE 'policy.%'")" "no policy left in meta"
[ "$(sql "SELECT count(*) FROM audit")" -gt "$before" ] && ok "the chain grew, it was not rewritten"
expect_exit 0 cf --actor admin --json audit verify --key "$PUB"
assert_jq "$OUT" '.ok == true and .tables.cases == 4 and .tables.users == 6' \
    "the migrated store verifies with the key it always had"
sql "SELECT sql FROM sqlite_schema WHERE name='cases'" >"$OUT"
assert_contains "$OUT" "STRICT" "tables are STRICT after the migration"

# New work under the new rules.
expect_exit 0 cf --actor authoriser1 act CF-000001 authorisation.granted \
    --data '{"authority":"OCDA","reference":"OCDA-2026-0001","urgent":false}'
expect_exit 77 cf --actor temp1 --reason r show CF-000001
expect_exit 0 cf --actor admin user bind officer1 "$(id -un)"
expect_exit 0 cf --actor admin audit checkpoint
expect_exit 0 cf --actor admin audit export --output "$E2E_TMP/export.jsonl"
expect_exit 0 cf audit verify --file "$E2E_TMP/export.jsonl" --key "$PUB"
expect_exit 0 cf --actor admin audit verify --key "$PUB"
# Opening it again changes nothing more.
n=$(sql "SELECT count(*) FROM audit")
expect_exit 0 cf --actor admin user list
assert_eq "$n" "$(sql "SELECT count(*) FROM audit")" "a migrated store is migrated once"

# A schema-1 store tampered with before the upgrade: the migration would
# record the tampered state as the start of the new rules, so it refuses.
for edit in "UPDATE users SET roles='officer,authoriser' WHERE name='officer1'" \
    "UPDATE users SET disabled=0 WHERE name='temp1'" \
    "INSERT INTO users VALUES('mallory', 'administrator', 0, 1, 'mallory', 0)" \
    "UPDATE meta SET value='1000000' WHERE key='policy.checkpoint_interval'" \
    "CREATE TRIGGER quiet BEFORE INSERT ON audit BEGIN SELECT RAISE(IGNORE); END" \
    "CREATE VIEW v AS SELECT 1"; do
    T="$E2E_TMP/tampered.db"
    gzip -dc "$FIX/store-v1.db.gz" >"$T"
    chmod 600 "$T"
    cp "$FIX/store-v1.db.key" "$T.key"
    chmod 600 "$T.key"
    sqlite3 "$T" "$edit"
    md5=$(md5sum <"$T")
    expect_exit 65 cf --store "$T" --actor admin user list
    assert_contains "$ERR" "does not verify" "not migrated: $edit"
    assert_eq "$md5" "$(md5sum <"$T")" "left as it was: $edit"
    rm -f "$T" "$T-wal" "$T-shm" "$T.key"
done

# A schema-1 store whose rows break the new schema's types is left as it
# was, with the reason.
OLD="$E2E_TMP/typed.db"
gzip -dc "$FIX/store-v1.db.gz" >"$OLD"
chmod 600 "$OLD"
sqlite3 "$OLD" "UPDATE keys SET value = CAST(value AS BLOB) WHERE rowid IN (SELECT rowid FROM keys LIMIT 1)" 2>/dev/null ||
    sqlite3 "$OLD" "UPDATE cases SET revision = 'two' WHERE id = 'CF-000002'"
md5=$(md5sum <"$OLD")
expect_exit 65 cf --store "$OLD" --actor admin user list
assert_contains "$ERR" "cannot migrate" "a migration the data refuses says so"
assert_eq "$md5" "$(md5sum <"$OLD")" "and leaves the store as it was"
finish
