#!/bin/bash
# The PostgreSQL store's roles and grants (issue 12, item 3 and its bad
# input), against a real server (a throwaway cluster, tests/pg/lib.sh).
# Two roles, as docs/postgres.md "Roles and grants" has a DBA make them: an
# owner that is not a superuser runs init and `caseflow store grant`; the
# login role the commands and caseflowd run as day to day gets exactly the
# grant list. Then: the login role does the day's work (users, a workflow,
# referrals, acts along the polit route, tick, tokens, list, verify,
# caseflowd, whose /readyz names the database and turns 503 when it is
# down); an intruder with the login role's psql cannot rewrite, delete or
# plant anything, and the chain verifies after each try; a role without the
# grants, or with them trying init, is refused (77) with one line and
# nothing changed; an ACL widened behind caseflow's back (the owner's psql)
# stops every command (65) until it is put back. Skips (77) without a
# PostgreSQL server.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$CASEFLOW_SRCDIR/tests/e2e/lib.sh"

. "$CASEFLOW_SRCDIR/tests/pg/lib.sh"
CASEFLOWD=${CASEFLOWD_BIN:-$CASEFLOW_BUILDDIR/caseflowd}
[ -x "$CASEFLOWD" ] || { echo "Bail out! no caseflowd at $CASEFLOWD"; exit 99; }
command -v curl >/dev/null || { echo "1..0 # SKIP curl is needed"; exit 77; }
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY
CFD_PID=
cleanup() {
    if [ -n "$CFD_PID" ]; then
        kill -TERM "$CFD_PID" 2>/dev/null
        wait "$CFD_PID" 2>/dev/null
    fi
    pg_cluster_stop
    rm -rf "$E2E_TMP"
}
trap cleanup EXIT
pg_cluster_start

# uri ROLE DB: the store DB connected as ROLE (the cluster trusts its unix
# socket, so a password in the URI is not checked, but it is carried).
uri() { printf '%s\n' "$PG_URI" | sed "s#//caseflow_admin@/postgres?#//$1@/$2?#"; }
# as ROLE DB SQL: psql as ROLE; its output in OUT, its errors in ERR.
as() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -At -d "$(uri "$1" "$2")" -c "$3" >"$OUT" 2>"$ERR"; }
su_sql() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -At -d "$(uri caseflow_admin "$1")" -c "$2"; }

export CASEFLOW_NOW=$E2E_EPOCH
KEYS="$E2E_TMP/keys"
OWNER=$(uri cf_owner store)
APP=$(uri cf_app:app-s3cret store)
BARE=$(uri cf_bare store)

# ---- what the DBA does (docs/postgres.md) --------------------------------------------
"$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$PG_URI" >/dev/null <<'EOF' || { echo "Bail out! roles"; exit 99; }
CREATE ROLE cf_owner LOGIN;
CREATE ROLE cf_app LOGIN PASSWORD 'app-s3cret';
CREATE ROLE cf_bare LOGIN;
CREATE DATABASE store OWNER cf_owner;
EOF
assert_eq f "$(su_sql store "SELECT rolsuper FROM pg_roles WHERE rolname = 'cf_owner'")" \
    "the owner is not a superuser"

# init as the login role, on a database it may not create schemas in: 77, nothing made
expect_exit 77 cf --actor admin --store "$APP" init --test-clock --key-dir "$KEYS"
assert_contains "$ERR" "role cf_app may not create schema caseflow" "init as the login role is refused, naming the role (77)"
assert_eq 1 "$(wc -l <"$ERR")" "in one line"
assert_eq 0 "$(su_sql store "SELECT count(*) FROM pg_namespace WHERE nspname = 'caseflow'")" \
    "and no schema was made"
[ -e "$KEYS" ] && not_ok "a key directory was left behind" || ok "nor a key"

expect_exit 0 cf --actor admin --store "$OWNER" init --test-clock --key-dir "$KEYS"
assert_eq cf_owner "$(su_sql store "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'caseflow'")" \
    "the owner role owns schema caseflow"
assert_eq 0 "$(su_sql store "SELECT count(*) FROM pg_class WHERE relnamespace = 'caseflow'::regnamespace AND pg_get_userbyid(relowner) <> 'cf_owner'")" \
    "and every object in it"

# ---- before the grants: the login role is refused, naming what to run ---------------------
head0=$(su_sql store "SELECT hash FROM caseflow.audit ORDER BY seq DESC LIMIT 1")
expect_exit 77 cf --actor admin --store "$APP" user list
assert_contains "$ERR" "role cf_app lacks USAGE on schema caseflow" "a login role without the grants: which role, which grant (77)"
assert_contains "$ERR" "caseflow store grant cf_app" "and what the owner runs"
assert_eq 1 "$(wc -l <"$ERR")" "in one line"
assert_eq 0 "$(grep -c s3cret "$ERR")" "without the password"
expect_exit 77 cf --actor admin --store "$APP" store grant cf_app
expect_exit 0 cf --actor admin --store "$E2E_TMP/lite.db" init --test-clock
expect_exit 64 cf --actor admin --store "$E2E_TMP/lite.db" store grant cf_app
assert_contains "$ERR" "SQLite store" "store grant on a SQLite store: one line (64)"

# ---- the grants --------------------------------------------------------------------------
records=$(su_sql store "SELECT count(*) FROM caseflow.audit")
expect_exit 0 cf --actor admin --store "$OWNER" store grant cf_app
assert_contains "$OUT" "recorded in the audit chain" "store grant as the owner"
assert_contains "$OUT" "no temporary tables" "and TEMPORARY is taken from PUBLIC (the owner owns the database)"
assert_eq "store.schema admin administrator" \
    "$(su_sql store "SELECT action, actor, role FROM caseflow.audit ORDER BY seq DESC LIMIT 1" | tr '|' ' ')" \
    "the new schema digest is recorded in the chain, by the administrator"
assert_eq "$(su_sql store "SELECT max(seq) FROM caseflow.audit")" \
    "$(su_sql store "SELECT value FROM caseflow.meta WHERE key = 'schema_seq'")" "and is the schema record in force"
assert_eq f "$(su_sql store "SELECT has_table_privilege('cf_app', 'caseflow.audit', 'UPDATE') OR has_table_privilege('cf_app', 'caseflow.audit', 'DELETE') OR has_table_privilege('cf_app', 'caseflow.audit', 'TRUNCATE')")" \
    "the login role may not UPDATE, DELETE or TRUNCATE audit"
assert_eq t "$(su_sql store "SELECT has_table_privilege('cf_app', 'caseflow.audit', 'INSERT') AND has_column_privilege('cf_app', 'caseflow.cases', 'state', 'UPDATE') AND NOT has_column_privilege('cf_app', 'caseflow.cases', 'id', 'UPDATE')")" \
    "it may INSERT audit and UPDATE cases.state, not cases.id"
records=$(su_sql store "SELECT count(*) FROM caseflow.audit")
expect_exit 0 cf --actor admin --store "$OWNER" --json store grant cf_app
assert_jq "$OUT" '.changed == false and .role == "cf_app"' "store grant again: nothing changed (idempotent)"
assert_eq "$records" "$(su_sql store "SELECT count(*) FROM caseflow.audit")" "and nothing recorded"
expect_exit 65 cf --actor admin --store "$OWNER" store grant cf_owner
assert_contains "$ERR" "no grant can hold it back" "a grant to the owner is refused (65)"
expect_exit 65 cf --actor admin --store "$OWNER" store grant caseflow_admin
assert_contains "$ERR" "superuser" "a grant to a superuser is refused (65)"
expect_exit 66 cf --actor admin --store "$OWNER" store grant cf_nobody
expect_exit 65 cf --actor admin --store "$OWNER" store grant 'x;DROP'
assert_contains "$ERR" "is not a role name" "a name that is not a role name (65)"

# ---- the day's work, as the login role ---------------------------------------------------
export CASEFLOW_STORE=$APP
expect_exit 0 setup_users
expect_exit 0 cf --actor admin --reason "test store" workflow deploy --yes "$POLIT"
expect_exit 77 cf --actor admin init --test-clock --key-dir "$KEYS"
assert_contains "$ERR" "does not own the store" "init again as the login role with its grants is refused (77)"
id=$(new_case GRANT-1)
[ -n "$id" ] && ok "refer as the login role: $id" || not_ok "refer as the login role"
expect_exit 0 cf --actor officer1 act "$id" authorisation.applied \
    --data '{"necessity":"to identify the subscriber","proportionality":"least intrusive"}'
expect_exit 0 cf --actor authoriser1 act "$id" authorisation.refused --data '{"reason":"not necessary"}'
expect_exit 0 cf --actor supervisor1 --reason e2e list --json
assert_jq "$OUT" 'length == 1' "list as the login role"
export CASEFLOW_NOW=2027-06-01T08:00:00Z
expect_exit 0 cf --actor admin tick
expect_exit 0 cf --actor admin token create analyst1 --note grants
TOK=$(tail -n 1 "$OUT")
expect_exit 0 cf --actor admin audit checkpoint
expect_exit 0 cf --actor admin audit verify
assert_contains "$OUT" "tables match the chain" "the chain verifies, the grant's schema record in it"

# ---- caseflowd as the login role; /readyz names the database -----------------------------
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
U="http://127.0.0.1:$PORT"
timeout 300 "$CASEFLOWD" --store "$APP" --listen "127.0.0.1:$PORT" --tick-interval 0 \
    --signing-key "$KEYS/store.key" >/dev/null 2>"$E2E_TMP/cfd.log" </dev/null &
CFD_PID=$!
for _ in $(seq 100); do
    [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$U/readyz")" = 200 ] && break
    sleep 0.1
done
code=$(curl -s --max-time 5 -o "$OUT" -w '%{http_code}' "$U/readyz")
assert_eq 200 "$code" "caseflowd as the login role is ready"
assert_jq "$OUT" '.database.backend == "postgresql" and .database.connected == true' "/readyz: the backend, connected"
assert_jq "$OUT" '(.database.store | test("cf_app@/store")) and (.database.store | test("s3cret") | not)' \
    "/readyz: the store named, without its password"
code=$(curl -s --max-time 5 -o "$OUT" -w '%{http_code}' -H "Authorization: Bearer $TOK" -H "X-Caseflow-Reason: e2e" "$U/v1/cases/$id")
assert_eq 200 "$code" "a case read through caseflowd as the login role"
# A grant the owner records while caseflowd runs: the running instance
# follows the recorded schema as a new process would, without a restart.
su_sql postgres "CREATE ROLE cf_reader LOGIN" >/dev/null
expect_exit 0 cf --actor admin --store "$OWNER" --json store grant cf_reader
assert_jq "$OUT" '.changed == true' "store grant to a second role while caseflowd runs: recorded"
code=$(referral GRANT-2 | curl -s --max-time 15 -o "$OUT" -w '%{http_code}' -H "Authorization: Bearer $TOK" \
    -H "Content-Type: application/json" --data-binary @- "$U/v1/referrals")
assert_eq 201 "$code" "the running caseflowd takes a referral after the recorded grant (no restart)"
# ... but not a grant typed into psql: that is still an altered schema.
su_sql store "GRANT TRUNCATE ON caseflow.keys TO cf_reader" >/dev/null
code=$(referral GRANT-3 | curl -s --max-time 15 -o "$OUT" -w '%{http_code}' -H "Authorization: Bearer $TOK" \
    -H "Content-Type: application/json" --data-binary @- "$U/v1/referrals")
[ "$code" != 201 ] && ok "the running caseflowd refuses a referral after a psql grant ($code)" ||
    not_ok "the running caseflowd took a referral after a grant made behind caseflow's back"
assert_contains "$OUT" "altered outside caseflow" "and says the schema was altered"
su_sql store "REVOKE TRUNCATE ON caseflow.keys FROM cf_reader" >/dev/null
code=$(referral GRANT-3 | curl -s --max-time 15 -o "$OUT" -w '%{http_code}' -H "Authorization: Bearer $TOK" \
    -H "Content-Type: application/json" --data-binary @- "$U/v1/referrals")
assert_eq 201 "$code" "once the grant is taken back, the referral is taken"
# the database goes away: no new connections, the open ones cut
su_sql postgres "ALTER DATABASE store ALLOW_CONNECTIONS false" >/dev/null
su_sql postgres "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'store'" >/dev/null
code=$(curl -s --max-time 15 -o "$OUT" -w '%{http_code}' "$U/readyz")
[ "$code" = 503 ] || code=$(curl -s --max-time 15 -o "$OUT" -w '%{http_code}' "$U/readyz")
assert_eq 503 "$code" "/readyz with the database down: 503"
assert_jq "$OUT" '.detail | test("postgresql database .*cf_app@/store.* is not connected")' "with the reason, naming the database"
assert_eq 0 "$(grep -c s3cret "$OUT")" "and no password"
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$U/healthz")
assert_eq 200 "$code" "/healthz stays 200 (the process is up)"
su_sql postgres "ALTER DATABASE store ALLOW_CONNECTIONS true" >/dev/null
code=$(curl -s --max-time 15 -o "$OUT" -w '%{http_code}' "$U/readyz")
assert_eq 200 "$code" "/readyz is 200 again once the database is back"
kill -TERM "$CFD_PID"
wait "$CFD_PID"
CFD_PID=

# ---- an intruder with the login role's psql ----------------------------------------------
n=$(su_sql store "SELECT max(seq) FROM caseflow.audit")
try() { # try WHAT EXPECTED-ERROR SQL
    local what=$1 want=$2 sql=$3 before
    before=$(su_sql store "SELECT count(*), max(hash) FROM caseflow.audit")
    if as cf_app store "$sql"; then
        not_ok "$what: the login role was allowed"
    else
        assert_contains "$ERR" "$want" "$what: refused"
    fi
    assert_eq "$before" "$(su_sql store "SELECT count(*), max(hash) FROM caseflow.audit")" "$what: the chain is as it was"
    expect_exit 0 cf --actor admin audit verify
}
try "UPDATE audit" "permission denied" "UPDATE caseflow.audit SET actor = 'eve' WHERE seq = $n"
try "DELETE audit" "permission denied" "DELETE FROM caseflow.audit WHERE seq = $n"
try "TRUNCATE audit" "permission denied" "TRUNCATE caseflow.audit"
try "ALTER TABLE audit DISABLE TRIGGER" "must be owner" "ALTER TABLE caseflow.audit DISABLE TRIGGER audit_append_only"
try "DROP TRIGGER" "must be owner" "DROP TRIGGER audit_append_only ON caseflow.audit"
try "CREATE TABLE in caseflow" "permission denied for schema caseflow" "CREATE TABLE caseflow.planted(x int)"
try "CREATE TEMP TABLE" "permission denied to create temporary tables" "CREATE TEMP TABLE audit(x int)"
try "SET session_replication_role" "permission denied" "SET session_replication_role = replica"
try "UPDATE cases SET id" "permission denied" "UPDATE caseflow.cases SET id = 'CF-EVE'"
try "DELETE events" "permission denied" "DELETE FROM caseflow.events"
try "UPDATE meta" "permission denied" "UPDATE caseflow.meta SET value = '1' WHERE key = 'schema_seq'"
try "INSERT schema_version" "permission denied" "INSERT INTO caseflow.schema_version VALUES (5, 0)"
try "CREATE FUNCTION in caseflow" "permission denied for schema caseflow" "CREATE FUNCTION caseflow.f() RETURNS int LANGUAGE sql AS 'SELECT 1'"
# the same psql, where the grant allows it, does get through: the checks above can fail
if as cf_app store "SELECT count(*) FROM caseflow.audit" && [ "$(cat "$OUT")" -gt 0 ]; then
    ok "the intruder's psql does connect and read (the refusals above are the grants')"
else
    not_ok "the intruder's psql cannot even read: $(cat "$ERR")"
fi
as caseflow_admin store "CREATE TEMP TABLE t(x int)" && ok "a superuser may still make a temporary table (TEMPORARY is a grant)" ||
    not_ok "a superuser could not make a temporary table: $(cat "$ERR")"

# ---- a role without the grants -----------------------------------------------------------
before=$(su_sql store "SELECT count(*), max(hash) FROM caseflow.audit")
expect_exit 77 cf --actor admin --store "$BARE" --reason e2e list
assert_contains "$ERR" "role cf_bare lacks USAGE on schema caseflow" "a role without the grants: which role, which grant (77)"
assert_contains "$ERR" "the owner (role cf_owner) runs caseflow store grant cf_bare" "and what to run"
referral GRANT-BARE >"$E2E_TMP/bare.json"
expect_exit_in 77 "$E2E_TMP/bare.json" cf --actor analyst1 --store "$BARE" refer --workflow polit
assert_eq "$before" "$(su_sql store "SELECT count(*), max(hash) FROM caseflow.audit")" "the store is unchanged"
assert_eq 3 "$(su_sql store "SELECT count(*) FROM caseflow.cases")" "no case was made (the three taken before)"
expect_exit 77 cf --actor officer1 --store "$OWNER" store grant cf_bare
assert_contains "$ERR" "may not" "store grant by an actor who is not an administrator (77)"

# ---- an ACL widened behind caseflow's back ------------------------------------------------
as cf_owner store "GRANT DELETE ON caseflow.audit TO cf_app" || not_ok "the owner's psql GRANT failed: $(cat "$ERR")"
expect_exit 65 cf --actor supervisor1 --reason e2e list
assert_contains "$ERR" "altered outside caseflow" "a grant made through psql: the next command refuses (65)"
expect_exit 65 cf --actor admin --store "$OWNER" store grant cf_app
assert_contains "$ERR" "altered outside caseflow" "even store grant (it would record the widened schema as caseflow's)"
expect_exit 65 cf --actor admin audit verify
as cf_owner store "REVOKE DELETE ON caseflow.audit FROM cf_app" || not_ok "the owner's psql REVOKE failed"
expect_exit 0 cf --actor supervisor1 --reason e2e list
ok "put back as it was, the store works again"
expect_exit 0 cf --actor admin audit verify

# ---- the grant the message asks for, and the role works --------------------------------
expect_exit 0 cf --actor admin --store "$OWNER" store grant cf_bare
expect_exit 0 cf --actor supervisor1 --store "$BARE" --reason e2e list --json
assert_jq "$OUT" 'length == 3' "after store grant cf_bare, the role that was refused works"
expect_exit 0 cf --actor admin audit verify

# ---- a migration is the owner's ------------------------------------------------------------
# A store that would need migrating (its identity says an older schema, set
# by the superuser's psql; no PostgreSQL store of an older schema exists).
su_sql store "UPDATE caseflow.store_identity SET user_version = 3" >/dev/null
before=$(su_sql store "SELECT count(*), max(hash) FROM caseflow.audit")
expect_exit 77 cf --actor supervisor1 --reason e2e list
assert_contains "$ERR" "role cf_app may not migrate the store" "a migration as the login role is refused (77)"
assert_contains "$ERR" "runs as the owner, role cf_owner" "naming the owner"
expect_exit 65 cf --actor supervisor1 --store "$OWNER" --reason e2e list
assert_contains "$ERR" "which no caseflow made on PostgreSQL" "the owner gets to the migration itself (none exists on PostgreSQL: 65)"
assert_eq "$before" "$(su_sql store "SELECT count(*), max(hash) FROM caseflow.audit")" "and nothing was written"
su_sql store "UPDATE caseflow.store_identity SET user_version = 4" >/dev/null
expect_exit 0 cf --actor admin audit verify
finish
