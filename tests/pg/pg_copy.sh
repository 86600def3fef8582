#!/bin/bash
# Moving a store (issue 12, item 5): `caseflow store copy FROM TO` against a
# real server (a throwaway cluster, tests/pg/cluster.sh). A SQLite store with
# cases down the polit routes, a token, a webhook, timers fired and a case
# erased is copied into PostgreSQL; both verify, and every case reads the
# same on both (show, history, list); the copy goes on working (acts, a tick,
# a checkpoint with the key the copy moved), and is copied back into a new
# SQLite file, which verifies and reads the same too. The signed heads
# anchored and the export taken from the source before the move verify
# against both copies. Then the bad input: a tampered FROM (65, nothing
# made), a TO that is already a store (65, left as it was), a server that
# cannot be reached (69), no FROM (66), not an administrator (77), and a
# copy killed (SIGKILL) in the middle, which leaves no store behind and can
# simply be run again. Skips (77) without a PostgreSQL server.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$CASEFLOW_SRCDIR/tests/e2e/lib.sh"

. "$CASEFLOW_SRCDIR/tests/pg/lib.sh"
COPY_PID=
trap '[ -n "$COPY_PID" ] && kill -9 "$COPY_PID" 2>/dev/null; pg_cluster_stop; rm -rf "$E2E_TMP"' EXIT
pg_cluster_start

store_uri() { pg_store_uri "$1"; }
psql_su() { "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$(store_uri "$1")" -At -c "$2"; }
has_schema() { psql_su "$1" "SELECT count(*) FROM pg_namespace WHERE nspname = 'caseflow'"; }

state_of() { case_field "$1" .state; }
act() { cf --actor "$1" act "$2" "$3" --data "$4" >/dev/null; }

# reads STORE FILE: what every case of STORE reads as (list, then each
# case's show and history), as the other backend must read it too.
reads() {
    local store=$1 id
    CASEFLOW_STORE=$store cf --actor supervisor1 --reason "compare the copies" list --json |
        jq -S . >"$2" || return 1
    for id in $(jq -r '.[].id' "$2"); do
        CASEFLOW_STORE=$store cf --actor supervisor1 --reason "compare the copies" show --json "$id" |
            jq -S . || return 1
        CASEFLOW_STORE=$store cf --actor supervisor1 --reason "compare the copies" history --json "$id" |
            jq -S . || return 1
    done >>"$2"
}

# same_reads A B WHAT: stores A and B read alike, case for case.
same_reads() {
    reads "$1" "$E2E_TMP/reads.a" && reads "$2" "$E2E_TMP/reads.b"
    if [ -s "$E2E_TMP/reads.a" ] && cmp -s "$E2E_TMP/reads.a" "$E2E_TMP/reads.b"; then
        ok "$3 ($(jq -s 'length' "$E2E_TMP/reads.a") documents)"
    else
        not_ok "$3"
        diff "$E2E_TMP/reads.a" "$E2E_TMP/reads.b" | head -10 | sed 's/^/#   /'
    fi
}

verifies() { # STORE WHAT
    CASEFLOW_STORE=$1 cf --actor admin --json audit verify >"$OUT" 2>"$ERR"
    assert_jq "$OUT" '.ok == true' "$2"
}

applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
granted='{"authority":"OCDA","reference":"OCDA-2026-0001","urgent":false}'
resolved='{"name":"Test Subscriber One","address":{"line1":"1 Example Street","town":"Exampleton","postcode":"ZZ1 1ZZ"},"address_type":"installation","provider_reference":"ISP-REF-0001"}'
low_checks='{"occupants":[{"name":"Test Occupant One","dob":"1980-01-01"}],"prior_history":false,"registered_sex_offender":false,"children_in_household":false,"access_to_children_at_work":false,"distribution_signs":false,"address_corroborated":true}'

# ---- a SQLite store with a history ------------------------------------------------------
export CASEFLOW_NOW=2026-11-03T10:00:00Z
SRC="$E2E_TMP/src.db"
setup_store "$SRC"
V=$(new_case COPY-VISIT)
act officer1 "$V" authorisation.applied "$applied" &&
    act authoriser1 "$V" authorisation.granted "$granted" &&
    act analyst1 "$V" subscriber.resolved "$resolved" &&
    act analyst1 "$V" checks.completed "$low_checks" &&
    act supervisor1 "$V" assessment.approved '{}' &&
    act officer1 "$V" visit.completed \
        '{"advice_given":true,"letter_issued":true,"security_advice":true,"signposted":true}'
assert_eq monitoring "$(state_of "$V")" "the source: a case down the visit route to monitoring"
X=$(new_case COPY-REFUSED polit 198.51.100.23)
act officer1 "$X" authorisation.applied "$applied" &&
    act authoriser1 "$X" authorisation.refused '{"reason":"not necessary"}'
assert_eq closed "$(state_of "$X")" "a case closed by a refused authorisation"
for i in 1 2 3; do new_case "COPY-OPEN-$i" polit "203.0.113.$((10 + i))" >/dev/null; done
expect_exit 0 cf --actor admin token create analyst1 --note "copy test"
umask 077
printf 'copy-test-webhook-secret-0123456789\n' >"$E2E_TMP/secret"
expect_exit 0 cf --actor admin webhook add http://127.0.0.1:9/hook --events 'case.*' \
    --secret-file "$E2E_TMP/secret"
export CASEFLOW_NOW=2027-11-04T10:00:00Z
expect_exit 0 cf --actor admin tick --json
assert_jq "$OUT" "map(select(.id == \"$V\")) | length == 1" "a timer fired a year later"
export CASEFLOW_NOW=2030-01-01T00:00:00Z
expect_exit 0 cf --actor admin --reason "MoPI review: no policing purpose" retention dispose "$X"
assert_eq true "$(case_field "$X" .data.disposed)" "a case erased (its digests stay in the chain)"
expect_exit 0 cf --actor admin audit checkpoint --anchor "$E2E_TMP/anchors"
expect_exit 0 cf --actor admin audit export --output "$E2E_TMP/src-export.jsonl"
PUB=$(ls "$SRC.keys"/*.pub)
expect_exit 0 cf audit verify --file "$E2E_TMP/src-export.jsonl" --key "$PUB"
src_head=$(sqlite3 "$SRC" "SELECT max(seq) FROM audit")
src_cases=$(sqlite3 "$SRC" "SELECT count(*) FROM cases")
src_webhooks=$(sqlite3 "$SRC" "SELECT count(*) FROM webhooks")
src_tokens=$(sqlite3 "$SRC" "SELECT count(*) FROM tokens")

# ---- SQLite into PostgreSQL -------------------------------------------------------------
pg_newdb moved
PGS=$(store_uri moved)
expect_exit 0 cf --actor admin --reason "move to the force's PostgreSQL" --json store copy "$SRC" "$PGS" \
    --key-dir "$E2E_TMP/pgkeys"
cp "$OUT" "$E2E_TMP/copy1.json"
assert_jq "$OUT" ".verified == true and .from.backend == \"sqlite\" and .to.backend == \"postgresql\"" \
    "the copy says it verified both sides"
assert_jq "$OUT" ".from.head_seq == $src_head and .copy_seq == $src_head + 1 and .to.head_seq == $src_head + 2" \
    "the copy's chain: the source's head, then store.copy and its signature"
assert_jq "$OUT" ".rows.cases == $src_cases and .rows.webhooks == $src_webhooks and .rows.tokens == $src_tokens and .rows.audit == $src_head" \
    "rows per table: every case, webhook, token and audit record"
assert_eq "store.copy|administrator|admin" \
    "$(psql_su moved "SELECT action || '|' || role || '|' || actor FROM caseflow.audit WHERE seq = $src_head + 1")" \
    "the copy's record follows the copied head, by the administrator"
assert_eq checkpoint "$(psql_su moved "SELECT action FROM caseflow.audit WHERE seq = $src_head + 2")" \
    "and is signed at once"
for t in cases events timers tasks keys notifications tokens webhooks deliveries users policies; do
    assert_eq "$(sqlite3 "$SRC" "SELECT count(*) FROM $t")" "$(psql_su moved "SELECT count(*) FROM caseflow.$t")" \
        "table $t: as many rows on PostgreSQL"
done
# the copy's own: its record's kept payload and its signature
for t in checkpoints records; do
    assert_eq "$(($(sqlite3 "$SRC" "SELECT count(*) FROM $t") + 1))" \
        "$(psql_su moved "SELECT count(*) FROM caseflow.$t")" "table $t: the source's rows and the copy's"
done
assert_eq "$(sqlite3 "$SRC" "SELECT group_concat(hash, ',') FROM (SELECT hash FROM audit ORDER BY seq)")" \
    "$(psql_su moved "SELECT string_agg(hash, ',' ORDER BY seq) FROM caseflow.audit WHERE seq <= $src_head")" \
    "every audit record's hash is the source's"
assert_eq 600 "$(stat -c %a "$E2E_TMP/pgkeys/caseflow.key")" "--key-dir: the key pair copied there, 0600"
assert_eq "$E2E_TMP/pgkeys/caseflow.key" "$(psql_su moved "SELECT value FROM caseflow.meta WHERE key = 'key_path'")" \
    "and the copy records it there"
verifies "$SRC" "audit verify: the source still verifies"
verifies "$PGS" "audit verify: the PostgreSQL copy verifies"
same_reads "$SRC" "$PGS" "list, show and history read the same on both"
expect_exit 0 env CASEFLOW_STORE="$PGS" "$CASEFLOW_BIN" --actor admin audit verify --anchors "$E2E_TMP/anchors"
assert_contains "$OUT" "anchors hold" "the heads anchored on the source hold on the PostgreSQL copy"
exp_head=$(jq -r 'select(.checkpoint != null or .signed_seq != null) | (.signed_seq // .checkpoint.signed_seq | tostring) + " " + (.head // .checkpoint.head)' \
    "$E2E_TMP/src-export.jsonl" | tail -1)
if [ -n "$exp_head" ]; then
    assert_eq "${exp_head#* }" "$(psql_su moved "SELECT hash FROM caseflow.audit WHERE seq = ${exp_head%% *}")" \
        "the export's last signed head (record ${exp_head%% *}) is the PostgreSQL copy's record"
else
    not_ok "no signed head found in the source's export"
fi

# ---- the copy goes on -----------------------------------------------------------------
export CASEFLOW_NOW=2030-01-02T09:00:00Z
N=$(CASEFLOW_STORE=$PGS new_case COPY-ON-PG polit 203.0.113.77)
assert_eq authorisation "$(CASEFLOW_STORE=$PGS state_of "$N")" "a referral taken in on the copy"
CASEFLOW_STORE=$PGS act officer1 "$N" authorisation.applied "$applied"
assert_eq authorisation "$(CASEFLOW_STORE=$PGS state_of "$N")" "an act on the copy"
expect_exit 0 env CASEFLOW_STORE="$PGS" "$CASEFLOW_BIN" --actor admin tick
expect_exit 0 env CASEFLOW_STORE="$PGS" "$CASEFLOW_BIN" --actor admin audit checkpoint --anchor "$E2E_TMP/anchors"
verifies "$PGS" "the copy verifies after acting on it and signing with the moved key"

# ---- PostgreSQL back into SQLite --------------------------------------------------------
BACK="$E2E_TMP/back.db"
expect_exit 0 cf --actor admin --json store copy "$PGS" "$BACK"
assert_jq "$OUT" ".verified == true and .from.backend == \"postgresql\" and .to.backend == \"sqlite\"" \
    "copied back into a new SQLite file"
assert_eq 600 "$(stat -c %a "$BACK")" "the new file is private (0600)"
assert_eq 0 "$(ls "$BACK".copy-* 2>/dev/null | wc -l)" "nothing left beside it"
verifies "$BACK" "the SQLite copy of the copy verifies"
verifies "$PGS" "and the PostgreSQL store still does"
same_reads "$PGS" "$BACK" "list, show and history read the same on PostgreSQL and back on SQLite"
expect_exit 0 env CASEFLOW_STORE="$BACK" "$CASEFLOW_BIN" --actor admin audit verify --anchors "$E2E_TMP/anchors"
assert_contains "$OUT" "anchors hold" "every head anchored on either side holds on the SQLite copy"
CASEFLOW_STORE=$BACK act officer1 "$N" authorisation.applied "$applied"
verifies "$BACK" "an act on the SQLite copy, signed with the key where the copy records it"
expect_exit 0 env CASEFLOW_STORE="$BACK" "$CASEFLOW_BIN" --actor admin audit export --output "$E2E_TMP/back-export.jsonl"
expect_exit 0 cf --json audit verify --file "$E2E_TMP/back-export.jsonl" --key "$PUB"
assert_jq "$OUT" '.ok == true' \
    "an export of the copy of the copy verifies offline under the source's public key, store.copy records and all"

# What the copy recorded is held to the chain like everything else: its key
# path, its kept payload and the schema digest it recorded.
tampered_copy() { # NAME SQL WHAT: a backup of BACK edited with SQL does not verify (65)
    sqlite3 "$BACK" ".backup '$E2E_TMP/$1.db'"
    sqlite3 "$E2E_TMP/$1.db" "$2"
    expect_exit 65 env CASEFLOW_STORE="$E2E_TMP/$1.db" "$CASEFLOW_BIN" --actor admin audit verify
    assert_contains "$ERR" "$4" "$3"
}
tampered_copy keypath "UPDATE meta SET value = '$E2E_TMP/elsewhere.key' WHERE key = 'key_path'" \
    "a key path the copy did not record is found (65)" "altered"
tampered_copy copypayload \
    "UPDATE records SET payload = replace(payload, '\"version\":4', '\"version\":5') WHERE subject = 'store:copy'" \
    "a store.copy payload edited is found (65)" "payload"
tampered_copy schema "CREATE INDEX planted ON cases(state, id)" \
    "the schema digest the copy recorded is enforced (65)" "schema"

# ---- bad input --------------------------------------------------------------------------
# not an administrator
pg_newdb spare
SPARE=$(store_uri spare)
expect_exit 77 cf --actor analyst1 store copy "$SRC" "$SPARE"
assert_eq 0 "$(has_schema spare)" "not an administrator (77): nothing made"
# FROM tampered: one audit row edited with sqlite3
TAM="$E2E_TMP/tampered.db"
sqlite3 "$SRC" ".backup '$TAM'"
sqlite3 "$TAM" "UPDATE audit SET justification = 'nothing to see' WHERE seq = 5"
expect_exit 65 cf --actor admin store copy "$TAM" "$SPARE"
assert_contains "$ERR" "does not verify" "a tampered FROM is not copied (65)"
assert_eq 0 "$(has_schema spare)" "and nothing was made on the PostgreSQL TO"
expect_exit 65 cf --actor admin store copy "$TAM" "$E2E_TMP/tam-out.db"
assert_eq 0 "$(ls "$E2E_TMP"/tam-out.db* 2>/dev/null | wc -l)" "nor any SQLite TO"
# TO already a store
before=$(psql_su moved "SELECT count(*) || ' ' || max(hash) FROM caseflow.audit")
expect_exit 65 cf --actor admin store copy "$SRC" "$PGS"
assert_contains "$ERR" "already has a caseflow schema" "a PostgreSQL TO that is a store is refused (65)"
assert_eq "$before" "$(psql_su moved "SELECT count(*) || ' ' || max(hash) FROM caseflow.audit")" \
    "and left as it was"
sum=$(sha256sum <"$BACK")
expect_exit 65 cf --actor admin store copy "$PGS" "$BACK"
assert_contains "$ERR" "already exists" "a SQLite TO that exists is refused (65)"
assert_eq "$sum" "$(sha256sum <"$BACK")" "and left as it was"
# TO unreachable, FROM missing
expect_exit 69 cf --actor admin store copy "$SRC" "postgresql://caseflow_admin@/x?host=$E2E_TMP&port=1"
assert_contains "$ERR" "cannot connect" "no server at TO (69)"
expect_exit 66 cf --actor admin store copy "$E2E_TMP/nosuch.db" "$E2E_TMP/nosuch-out.db"
assert_eq 0 "$(ls "$E2E_TMP"/nosuch* 2>/dev/null | wc -l)" "no FROM (66): nothing made"
expect_exit 64 cf --actor admin store copy "$SRC"

# ---- SIGKILL in the middle of a copy ------------------------------------------------------
export CASEFLOW_NOW=2026-11-03T10:00:00Z
BIG="$E2E_TMP/big.db"
setup_store "$BIG"
referrals COPY-BULK 6000 >"$E2E_TMP/bulk.jsonl"
cf --actor analyst1 refer "$E2E_TMP/bulk.jsonl" >/dev/null 2>&1
assert_eq 6000 "$(sqlite3 "$BIG" "SELECT count(*) FROM cases")" "a store of 6000 cases to copy"
pg_newdb killed
KILLED=$(store_uri killed)
# wait_for CMD...: poll CMD every 20 ms for up to 60 s.
wait_for() {
    local i
    for ((i = 0; i < 3000; i++)); do
        "$@" && return 0
        sleep 0.02
    done
    return 1
}
copy_open() { # the copy's transaction holds the store's write lock on the target
    [ "$(psql_su killed "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" != 0 ]
}
# the program itself in the background (not the cf function: a subshell
# would take the SIGKILL and leave the copy running)
"$CASEFLOW_BIN" --actor admin store copy "$BIG" "$KILLED" >/dev/null 2>&1 &
COPY_PID=$!
if wait_for copy_open && sleep 0.2 && kill -9 "$COPY_PID" 2>/dev/null; then
    ok "SIGKILL while the copy's transaction is open"
else
    not_ok "the copy was not caught in the middle"
fi
wait "$COPY_PID" 2>/dev/null
COPY_PID=
# Until its server session has ended, what it wrote is only uncommitted.
ended() { ! copy_open; }
wait_for ended || not_ok "the killed copy's session never ended"
if [ "$(has_schema killed)" = 0 ]; then
    ok "a killed copy leaves no caseflow schema in the TO database"
else
    not_ok "a killed copy left a schema: $(psql_su killed "SELECT count(*) FROM pg_tables WHERE schemaname = 'caseflow'") tables"
fi
expect_exit 0 cf --actor admin --json store copy "$BIG" "$KILLED"
assert_jq "$OUT" '.verified == true and .rows.cases == 6000' "the copy run again succeeds, every case in it"
# the same on a SQLite TO: the file beside it, never TO
BIGC="$E2E_TMP/bigcopy.db"
"$CASEFLOW_BIN" --actor admin store copy "$BIG" "$BIGC" >/dev/null 2>&1 &
COPY_PID=$!
tmp_there() { ls "$BIGC".copy-* >/dev/null 2>&1; }
if wait_for tmp_there && kill -9 "$COPY_PID" 2>/dev/null; then
    ok "SIGKILL while a SQLite copy is written beside TO"
else
    not_ok "the SQLite copy was not caught in the middle"
fi
wait "$COPY_PID" 2>/dev/null
COPY_PID=
if [ -e "$BIGC" ]; then
    not_ok "a killed copy left $BIGC"
else
    ok "a killed copy leaves no store at TO"
fi
rm -f "$BIGC".copy-*
expect_exit 0 cf --actor admin --json store copy "$BIG" "$BIGC"
assert_jq "$OUT" '.verified == true and .rows.cases == 6000' "and run again, it succeeds"
finish
