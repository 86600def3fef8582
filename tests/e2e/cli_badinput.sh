#!/bin/bash
# Bad input gets a clear error and nothing is lost (issue 2): every referral
# of the corpus in tests/data/referrals/bad.tsv, bad --data, an unknown event,
# an unknown case, the wrong role, a store that is not a caseflow store, a
# read-only store, a plugin file that is not a plugin. Each must exit with
# its documented status, say exactly one line naming the problem, and leave
# the store exactly as it was (compared with sqlite3 .dump).
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

setup_store
CASE=$(new_case E2E-BASE-0001)
assert_eq authorisation "$(case_field "$CASE" .state)" "a good referral is taken in"
snapshot base

# ---- the referral corpus, on standard input and as a file -----------------
while IFS=$'\t' read -r file code text; do
    case $file in '#'* | '') continue ;; esac
    expect_exit_in "$code" "$DATA/$file" cf --actor analyst1 refer
    assert_eq 1 "$(wc -l <"$ERR")" "$file: one error line"
    assert_contains "$ERR" "caseflow: " "$file: error starts with caseflow:"
    assert_contains "$ERR" "$text" "$file: the error names '$text'"
    assert_eq 0 "$(wc -c <"$OUT")" "$file: nothing on stdout"
    assert_unchanged base "$file on stdin"
    expect_exit "$code" cf --actor analyst1 refer --json "$DATA/$file"
    assert_contains "$ERR" "$text" "$file as FILE: the error names '$text'"
    assert_unchanged base "$file as FILE"
done <"$DATA/bad.tsv"

for file in "$DATA"/good-*.json; do
    expect_exit 0 cf --actor analyst1 refer --json "$file"
    assert_jq "$OUT" '.created == true and .state == "authorisation"' "$(basename "$file") is taken in"
done
snapshot base

# ---- a referral file that does not exist; a workflow that does not ----------
expect_exit 66 cf --actor analyst1 refer "$E2E_TMP/no-such-file.json"
expect_exit 69 cf --actor analyst1 refer --workflow nosuch "$DATA/good-oneline.json"
assert_unchanged base "refer to a workflow never deployed"

# ---- act: unknown case, unknown event, wrong role, bad data ----------------
applied='{"necessity":"identify the subscriber behind the upload","proportionality":"least intrusive means"}'
expect_exit 66 cf --actor officer1 act CF-999999 authorisation.applied --data "$applied"
expect_exit 66 cf --actor officer1 --reason "e2e" show CF-999999
expect_exit 66 cf --actor officer1 --reason "e2e" history CF-999999
expect_exit 66 cf --actor officer1 --reason e2e show ../../etc/passwd
assert_unchanged base "unknown case ids"
expect_exit 65 cf --actor officer1 act "$CASE" no.such.event
expect_exit 65 cf --actor supervisor1 act "$CASE" outcome.recorded --data '{"outcome":"nfa"}'
assert_unchanged base "events the state does not accept"
expect_exit 77 cf --actor analyst1 act "$CASE" authorisation.granted \
    --data '{"authority":"OCDA","reference":"OCDA-1","urgent":false}'
expect_exit 77 cf --actor stranger act "$CASE" authorisation.applied --data "$applied"
assert_unchanged base "the wrong role, an unknown actor"
expect_exit 65 cf --actor officer1 act "$CASE" authorisation.applied --data '{"necessity":'
expect_exit 65 cf --actor officer1 act "$CASE" authorisation.applied --data '["a"]'
expect_exit 65 cf --actor officer1 act "$CASE" authorisation.applied --data '{"a":1,"a":2}'
expect_exit 66 cf --actor officer1 act "$CASE" authorisation.applied --data "@$E2E_TMP/none.json"
echo '{"necessity": "x",' >"$E2E_TMP/half.json"
expect_exit 65 cf --actor officer1 act "$CASE" authorisation.applied --data "@$E2E_TMP/half.json"
assert_unchanged base "bad --data"
expect_exit 0 cf --actor admin user disable officer2
snapshot base
expect_exit 77 cf --actor officer2 act "$CASE" authorisation.applied --data "$applied"
assert_unchanged base "a disabled user"

# ---- workflows: missing, broken -------------------------------------------------
expect_exit 66 cf --actor admin --reason "e2e test" workflow deploy --yes "$E2E_TMP/none.lua"
printf 'return workflow {\n  name = "broken",\n' >"$E2E_TMP/broken.lua"
expect_exit 65 cf --actor admin --reason "e2e test" workflow deploy --yes "$E2E_TMP/broken.lua"
expect_exit 77 cf --actor officer1 --reason "e2e test" workflow deploy --yes "$POLIT"
assert_unchanged base "refused deployments"

# ---- plugin info on files that are not plugins -------------------------------
echo "not a plugin" >"$E2E_TMP/text.so"
expect_exit 69 cf --actor admin plugin info "$E2E_TMP/text.so"
# a real shared object that is not a plugin
lib=$(ldd "$CASEFLOW_BIN" 2>/dev/null | awk '/libjansson/ { print $3; exit }')
if [ -n "$lib" ] && [ -f "$lib" ]; then
    cp "$lib" "$E2E_TMP/notaplugin.so"
    expect_exit 69 cf --actor admin plugin info "$E2E_TMP/notaplugin.so"
fi
expect_exit 66 cf --actor admin plugin info "$E2E_TMP/none.so"
assert_unchanged base "plugin info on non-plugins"

# ---- stores that are not caseflow stores -------------------------------------
echo "this is a text file, not a store" >"$E2E_TMP/text.db"
sum=$(md5sum <"$E2E_TMP/text.db")
expect_exit 65 cf --store "$E2E_TMP/text.db" --actor officer1 --reason e2e list
expect_exit 65 cf --store "$E2E_TMP/text.db" --actor admin init
assert_eq "$sum" "$(md5sum <"$E2E_TMP/text.db")" "a text file is left as it was"
assert_eq no "$(test -e "$E2E_TMP/text.db-wal" && echo yes || echo no)" "no WAL beside the text file"

sqlite3 "$E2E_TMP/other.db" "CREATE TABLE invoices(id INTEGER PRIMARY KEY, amount INTEGER);
    INSERT INTO invoices(amount) VALUES (12), (34);"
snapshot other "$E2E_TMP/other.db"
expect_exit 65 cf --store "$E2E_TMP/other.db" --actor officer1 --reason e2e list
expect_exit 65 cf --store "$E2E_TMP/other.db" --actor admin init
expect_exit 65 cf --store "$E2E_TMP/other.db" --actor analyst1 refer "$DATA/good-oneline.json"
assert_unchanged other "an SQLite database of another program" "$E2E_TMP/other.db"
# On PostgreSQL, the same for a database whose schema caseflow is another
# program's (init makes that schema in a database; it must not take one over)
if is_pg_store "$CASEFLOW_STORE"; then
    OTHER=$(store_for other)
    store_sql "$OTHER" "CREATE SCHEMA caseflow; CREATE TABLE caseflow.invoices(id integer PRIMARY KEY, amount integer);
        INSERT INTO caseflow.invoices VALUES (1, 12), (2, 34);"
    snapshot otherpg "$OTHER"
    expect_exit 65 cf --store "$OTHER" --actor officer1 --reason e2e list
    expect_exit 65 cf --store "$OTHER" --actor admin init
    expect_exit 65 cf --store "$OTHER" --actor analyst1 refer "$DATA/good-oneline.json"
    assert_unchanged otherpg "a caseflow schema of another program" "$OTHER"
fi

# ---- read-only stores: 74, nothing changed -----------------------------------
# (file modes of the SQLite file and its directory; a PostgreSQL store has
# no file)
if on_sqlite "read-only stores: file modes of the SQLite file and its directory"; then
    # root writes through file modes, so the store is used as another user.
    ro_run() {
        if [ "$(id -u)" = 0 ]; then
            setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
        else
            "$@"
        fi
    }
    ro_dir="$E2E_TMP/ro"
    mkdir -p "$ro_dir"
    cp "$CASEFLOW_STORE" "$ro_dir/caseflow.db"
    for f in "$CASEFLOW_STORE-wal" "$CASEFLOW_STORE-shm"; do
        [ -e "$f" ] && cp "$f" "$ro_dir/"
    done
    # the copy of a WAL store: checkpoint it so the file alone holds everything
    sqlite3 "$ro_dir/caseflow.db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
    rm -f "$ro_dir/caseflow.db-wal" "$ro_dir/caseflow.db-shm"
    chmod 644 "$ro_dir/caseflow.db"
    chmod 755 "$E2E_TMP"
    if ro_run "$CASEFLOW_BIN" --version >/dev/null 2>&1 &&
        ro_run test -r "$ro_dir/caseflow.db"; then
        snapshot ro "$ro_dir/caseflow.db"
        # a read-only file in a read-only directory
        chmod 444 "$ro_dir/caseflow.db"
        chmod 555 "$ro_dir"
        expect_exit 74 ro_run "$CASEFLOW_BIN" --store "$ro_dir/caseflow.db" --actor officer1 \
            act "$CASE" authorisation.applied --data "$applied"
        expect_exit 74 ro_run "$CASEFLOW_BIN" --store "$ro_dir/caseflow.db" --actor analyst1 \
            refer "$DATA/good-oneline.json"
        # a writable file in a read-only directory (no room for its journal)
        chmod 755 "$ro_dir"
        chmod 666 "$ro_dir/caseflow.db"
        chmod 555 "$ro_dir"
        expect_exit 74 ro_run "$CASEFLOW_BIN" --store "$ro_dir/caseflow.db" --actor officer1 \
            act "$CASE" authorisation.applied --data "$applied"
        chmod 755 "$ro_dir"
        assert_unchanged ro "read-only stores" "$ro_dir/caseflow.db"
    else
        echo "# cannot run caseflow as another user: read-only store tests skipped"
    fi
    chmod 700 "$E2E_TMP"
fi

# ---- after all of it ------------------------------------------------------------
assert_unchanged base "the store after every refusal"
expect_exit 0 cf --actor admin audit verify
finish
