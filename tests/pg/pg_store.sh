#!/bin/bash
# The caseflow command on a PostgreSQL store, against a real server: a
# throwaway cluster (tests/pg/cluster.sh), one database per store. What a
# force's other systems and its staff would do first: init, users, a
# workflow, referrals, acts with stale-write refusal, history, timers, the
# audit chain verified; then what an intruder with a superuser's psql would
# try (a column edited, a row deleted, an object planted), each caught; and
# the bad input the issue names (no server, no database, not a caseflow
# store, a newer schema, no key directory), each one line with its exit
# status and nothing changed. Skips (77) without a PostgreSQL server.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$CASEFLOW_SRCDIR/tests/e2e/lib.sh"

. "$CASEFLOW_SRCDIR/tests/pg/lib.sh"
trap 'pg_cluster_stop; rm -rf "$E2E_TMP"' EXIT
pg_cluster_start

store_uri() { pg_store_uri "$1"; }
# psql_su NAME SQL: what an intruder with the superuser's login does.
psql_su() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$(store_uri "$1")" -At -c "$2"; }
newdb() { pg_newdb "$1"; }

export CASEFLOW_NOW=$E2E_EPOCH
KEYS="$E2E_TMP/keys"

# ---- bad input: one line, the documented exit status, nothing made -------------------
expect_exit 69 cf --actor admin --store "postgresql://caseflow_admin@/postgres?host=$E2E_TMP&port=1" list
assert_contains "$ERR" "cannot connect to the PostgreSQL store" "no server: named as such (69)"
expect_exit 66 cf --actor admin --store "$(store_uri nosuchdb)" list
assert_contains "$ERR" "does not exist" "no such database (66)"
newdb plain
psql_su plain "CREATE TABLE notours(x int)" >/dev/null
expect_exit 65 cf --actor admin --store "$(store_uri plain)" list
assert_contains "$ERR" "not a caseflow store" "a database without a caseflow schema is not a store (65)"
psql_su plain "CREATE SCHEMA caseflow; CREATE TABLE caseflow.cases(x int)" >/dev/null
expect_exit 65 cf --actor admin --store "$(store_uri plain)" init --key-dir "$KEYS"
assert_contains "$ERR" "not a caseflow store" "a foreign caseflow schema is not a store, even for init"
assert_eq "cases" "$(psql_su plain "SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'caseflow'")" \
    "and init changed nothing in it"
newdb newer
CASEFLOW_STORE=$(store_uri newer) cf --actor admin init --test-clock --key-dir "$E2E_TMP/keys-newer" >/dev/null 2>&1
psql_su newer "UPDATE caseflow.store_identity SET user_version = 99" >/dev/null
snap=$(psql_su newer "SELECT count(*) FROM caseflow.audit")
expect_exit 65 cf --actor admin --store "$(store_uri newer)" list
assert_contains "$ERR" "newer than this caseflow" "a store of a newer schema: upgrade caseflow (65)"
assert_eq "$snap" "$(psql_su newer "SELECT count(*) FROM caseflow.audit")" "and nothing was written to it"
newdb nokeys
expect_exit 64 cf --actor admin --store "$(store_uri nokeys)" init --test-clock
assert_contains "$ERR" "--key-dir" "init on PostgreSQL without a key directory says where the key must go (64)"
assert_eq 0 "$(psql_su nokeys "SELECT count(*) FROM pg_namespace WHERE nspname = 'caseflow'")" \
    "and left no schema behind"
assert_eq 0 "$(cf --actor admin --store "postgresql://u:s3cret@/x?host=$E2E_TMP&port=1" list 2>&1 |
    grep -c s3cret)" "a password in the URI never appears in a message"

# ---- a store --------------------------------------------------------------------------
newdb team
export CASEFLOW_STORE
CASEFLOW_STORE=$(store_uri team)
expect_exit 0 cf --actor admin init --test-clock --key-dir "$KEYS"
assert_eq 600 "$(stat -c %a "$KEYS/team.key")" "the signing key is on this machine, 0600"
expect_exit 64 cf --actor admin init --test-clock --key-dir "$KEYS"
assert_contains "$ERR" "already initialised" "a second init with a key directory is refused (64)"
expect_exit 0 cf --actor admin init
expect_exit 0 setup_users
expect_exit 0 cf --actor admin user list --json
assert_jq "$OUT" 'length == 6' "six users"

wf="$E2E_TMP/workflows"
mkdir -p "$wf"
cat >"$wf/e2e_flip.lua" <<'EOF'
-- Two states and one event between them: every act moves the case.
return workflow {
  name = "e2e_flip", version = 1, initial = "left",
  states = {
    left = { roles = { "officer" }, on = { flip = "right", stop = "done" } },
    right = { roles = { "officer" }, on = { flip = "left" } },
    done = { final = true },
  },
}
EOF
expect_exit 0 cf --actor admin --reason "e2e test" workflow deploy --yes "$wf/e2e_flip.lua"
expect_exit 0 cf --actor admin workflow list --json
assert_jq "$OUT" 'map(select(.name == "e2e_flip")) | length == 1' "the workflow is deployed"

C=$(new_case PG-FLIP-1 e2e_flip)
assert_eq left "$(case_field "$C" .state)" "a referral makes a case"
R=$(cf --actor officer1 --reason e2e show --json "$C" | jq -r .revision)
expect_exit 0 cf --actor officer1 act --json "$C" flip --revision "$R"
assert_jq "$OUT" '.state == "right"' "an act moves it"
expect_exit 75 cf --actor officer1 act "$C" flip --revision "$R"
assert_eq right "$(case_field "$C" .state)" "a stale revision is refused (75) and changes nothing"
expect_exit 77 cf --actor analyst1 act "$C" flip
expect_exit 0 cf --actor officer1 --reason e2e history --json "$C"
assert_jq "$OUT" 'map(.event) | index("flip") != null' "history has the act"
for i in 2 3 4; do new_case "PG-FLIP-$i" e2e_flip >/dev/null; done
expect_exit 0 cf --actor supervisor1 --reason e2e list --json
assert_jq "$OUT" 'length == 4' "four cases listed"
expect_exit 0 cf --actor admin audit verify --json
assert_jq "$OUT" '.ok == true' "the chain verifies on PostgreSQL"

# ---- an intruder with the superuser's psql ----------------------------------------------
expect_exit 0 cf --actor admin audit checkpoint
# The record of a store with cases in it, as a superuser's psql finds it.
n=$(psql_su team "SELECT count(*) FROM caseflow.audit")
for sql in "DELETE FROM caseflow.audit WHERE seq = $n" "UPDATE caseflow.audit SET actor = 'eve'" \
    "TRUNCATE caseflow.audit CASCADE" "UPDATE caseflow.workflows SET bundle = '{}'" \
    "DELETE FROM caseflow.records" "UPDATE caseflow.events SET actor = 'eve'" \
    "DELETE FROM caseflow.events" "UPDATE caseflow.notifications SET channel = 'x'" \
    "DELETE FROM caseflow.checkpoints"; do
    table=$(printf '%s\n' "$sql" | sed 's/.*caseflow\.\([a-z_]*\).*/\1/')
    rows=$(psql_su team "SELECT count(*) FROM caseflow.$table")
    if [ "$rows" = 0 ]; then
        not_ok "caseflow.$table is empty: the refusal of '$sql' would prove nothing"
    elif psql_su team "$sql" >/dev/null 2>&1; then
        not_ok "the append-only record took: $sql"
    else
        ok "refused by the store itself, even to a superuser: $sql ($rows rows)"
    fi
done
assert_eq "$n" "$(psql_su team "SELECT count(*) FROM caseflow.audit")" "no audit record lost"
expect_exit 0 cf --actor admin audit verify
ok "the refused attempts changed nothing: the chain still verifies"

psql_su team "UPDATE caseflow.cases SET state = 'done' WHERE id = '$C'" >/dev/null
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "$C" "a column edited through psql: verify names the case (65)"
expect_exit 65 cf --actor officer1 act "$C" flip
ok "and the next act on it is refused"
psql_su team "UPDATE caseflow.cases SET state = 'right' WHERE id = '$C'" >/dev/null

newdb cut
CASEFLOW_STORE=$(store_uri cut)
expect_exit 0 cf --actor admin init --test-clock --key-dir "$E2E_TMP/keys-cut"
expect_exit 0 setup_users
expect_exit 0 cf --actor admin audit verify
n=$(psql_su cut "SELECT count(*) FROM caseflow.audit")
# A superuser can still switch the triggers off for a session, as the
# owner of a SQLite file can edit it: the chain is what catches that.
psql_su cut "SET session_replication_role = replica; DELETE FROM caseflow.audit WHERE seq = $n" >/dev/null
expect_exit 65 cf --actor admin audit verify
ok "the chain's last record deleted with the triggers off: verify fails (65)"

finish
