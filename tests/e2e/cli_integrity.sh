#!/bin/bash
# The record's holes (issue 7), each tried the way an intruder with write
# access to the store's directory, or a careless user of the command, would
# try it first, on real stores with sqlite3 and the real command:
#  - an edited case, user or workflow is refused by the next ordinary act
#    (65, an integrity alarm in the chain) instead of being laundered;
#  - a signing key swapped in or named by CASEFLOW_KEY signs nothing (77);
#    a forged record is never signed; deleted checkpoints and export
#    tampering are found; anchors find a store cut short or rolled back;
#  - CASEFLOW_NOW is refused on a store made without --test-clock, and time
#    never goes backwards; OS-account bindings stop naming another user;
#  - planted triggers, a changed storage type, renumbered history and rows
#    kept out of an index (the table untouched) are found;
#  - a widely shared file hash never blocks intake nor escalates; two ticks
#    at once never fail; init makes an existing file private; refusals do
#    not tell a case's state.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_store
DB=$CASEFLOW_STORE
PUB="$DB.keys/caseflow.db.key.pub"
applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
granted='{"authority":"OCDA","reference":"OCDA-2026-0001","urgent":false}'

sql() {
    sqlite3 -batch "$DB" "$@"
}

alarms() {
    sql "SELECT count(*) FROM audit WHERE action='integrity.alarm'"
}

# refused_and_alarmed CODE WHAT CMD...: exit CODE with one error line, nothing
# changed but one integrity.alarm record more.
refused_and_alarmed() {
    local code=$1 what=$2 before after
    shift 2
    before=$(alarms)
    sql "SELECT * FROM cases; SELECT * FROM events; SELECT * FROM users" >"$E2E_TMP/rows.before"
    expect_exit "$code" "$@"
    assert_contains "$ERR" "altered outside caseflow" "$what: the error says the row was altered"
    after=$(alarms)
    assert_eq $((before + 1)) "$after" "$what: an integrity alarm is in the chain"
    sql "SELECT * FROM cases; SELECT * FROM events; SELECT * FROM users" >"$E2E_TMP/rows.after"
    if cmp -s "$E2E_TMP/rows.before" "$E2E_TMP/rows.after"; then
        ok "$what: nothing was written"
    else
        not_ok "$what: rows changed"
    fi
}

# ---- 1. no laundering --------------------------------------------------------------------
A=$(new_case INT-LAUNDER)
B=$(new_case INT-OTHER)
cp "$DB" "$E2E_TMP/clean.db"
sql "UPDATE cases SET data = json_set(json_remove(data, '\$.referral.files[0].hash'),
     '\$.referral.files[0].category', 'A') WHERE id = '$A'"
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "$A" "verify names the altered case"
refused_and_alarmed 65 "an act on the edited case" \
    cf --actor officer1 act "$A" authorisation.applied --data "$applied"
expect_exit 65 cf --actor admin audit verify
ok "verify still fails after the refused act: the edit was not laundered"
expect_exit 0 cf --actor officer1 act "$B" authorisation.applied --data "$applied"
ok "another case still takes acts"
a=$(sql "SELECT payload FROM records WHERE seq = (SELECT max(seq) FROM audit WHERE action='integrity.alarm')")
assert_jq <(printf '%s' "$a") ".case == \"$A\" and .detail.table == \"case\" and (.detail.found | length) == 64" \
    "the alarm names the case and both digests"

# A case moved to another workflow version by hand.
cp "$E2E_TMP/clean.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
sql "UPDATE cases SET version = 2 WHERE id = '$A'"
refused_and_alarmed 65 "an act on a case moved to another version" \
    cf --actor officer1 act "$A" authorisation.applied --data "$applied"

# An edited user: roles given, an act tried, roles taken back.
cp "$E2E_TMP/clean.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
sql "UPDATE users SET roles = 'officer,authoriser' WHERE name = 'officer1'"
refused_and_alarmed 65 "an act by a user whose roles were edited" \
    cf --actor officer1 act "$A" authorisation.applied --data "$applied"
sql "UPDATE users SET roles = 'officer' WHERE name = 'officer1'"
expect_exit 0 cf --actor admin audit verify
assert_eq 1 "$(alarms)" "put back, the row verifies; the attempt stays in the chain as an alarm"

# An edited workflow version (a guard rewritten, hash recomputed by hand
# cannot match the deploy record).
sql "UPDATE workflows SET deployed_by = 'officer1'"
refused_and_alarmed 65 "an act on a workflow whose row was edited" \
    cf --actor officer1 act "$A" authorisation.applied --data "$applied"
cp "$E2E_TMP/clean.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
expect_exit 0 cf --actor admin audit verify

# ---- 2. signing that an intruder cannot redo ------------------------------------------------
assert_eq 700 "$(stat -c %a "$DB.keys")" "the key lives apart from the store, 0700"
[ ! -e "$DB.key" ] && ok "no secret key beside the store"
# A key swapped in where the store's was: refused before anything is signed.
mkdir -p "$E2E_TMP/evil"
chmod 700 "$E2E_TMP/evil"
(unset CASEFLOW_NOW && cf --actor eve --store "$E2E_TMP/evil/evil.db" init >/dev/null)
snapshot swapped
expect_exit 77 cf --actor admin --signing-key "$E2E_TMP/evil/evil.db.keys/evil.db.key" audit checkpoint
assert_contains "$ERR" "not this store's key" "a foreign key is named as such"
assert_unchanged swapped "a checkpoint with a foreign key"
# A store restored to another directory, its recorded key path gone: the key
# beside it is found, but signs only if it is the store's own. A foreign key
# planted there signs nothing; the store's own key, copied beside it, signs.
mv "$DB.keys" "$DB.keys.away"
mkdir -p "$E2E_TMP/moved/m.db.keys"
chmod 700 "$E2E_TMP/moved" "$E2E_TMP/moved/m.db.keys"
cp "$DB" "$E2E_TMP/moved/m.db"
cp "$E2E_TMP/evil/evil.db.keys/evil.db.key" "$E2E_TMP/moved/m.db.keys/m.db.key"
before_moved=$(sqlite3 "$E2E_TMP/moved/m.db" "SELECT count(*) FROM audit")
expect_exit 77 cf --actor admin --store "$E2E_TMP/moved/m.db" audit checkpoint
assert_contains "$ERR" "not this store's key" "a foreign key beside a moved store is refused"
assert_eq "$before_moved" "$(sqlite3 "$E2E_TMP/moved/m.db" "SELECT count(*) FROM audit")" \
    "and nothing was appended"
cp "$DB.keys.away/$(basename "$DB").key" "$E2E_TMP/moved/m.db.keys/m.db.key"
expect_exit 0 cf --actor admin --store "$E2E_TMP/moved/m.db" audit checkpoint
expect_exit 0 cf --actor admin --store "$E2E_TMP/moved/m.db" audit verify \
    --key "$DB.keys.away/$(basename "$DB").key.pub"
ok "the store's own key beside the moved store signs, and it verifies"
mv "$DB.keys.away" "$DB.keys"
# CASEFLOW_KEY naming a foreign key: an analyst's bulk intake that crosses
# the checkpoint interval stops at that point, and writes no bad checkpoint.
expect_exit 0 cf --actor admin policy set checkpoint_interval 40
referrals INT-BULK 60 >"$E2E_TMP/bulk.jsonl"
CASEFLOW_KEY="$E2E_TMP/evil/evil.db.keys/evil.db.key" cf --actor analyst1 refer "$E2E_TMP/bulk.jsonl" \
    >"$OUT" 2>"$ERR"
assert_eq 77 "$?" "bulk intake with a foreign CASEFLOW_KEY stops at the checkpoint (77)"
assert_contains "$ERR" "not this store's key" "and says why"
expect_exit 0 cf --actor admin audit verify --key "$PUB"
ok "the store still verifies: no checkpoint was written with the foreign key"
expect_exit 0 cf --actor analyst1 refer "$E2E_TMP/bulk.jsonl"
ok "with the store's own key the same intake completes"
expect_exit 0 cf --actor admin --json audit verify --key "$PUB"
assert_jq "$OUT" '.checkpoints >= 1 and .unsigned_tail <= 40' "no more than the interval is unsigned"

# forge ACTOR ROLE ACTION: append a record with a correct hash at the tail,
# as anyone who can write the file can.
forge() {
    local head hseq hhash hat seq digest line hash role
    head=$(sql "SELECT seq || ' ' || hash || ' ' || at FROM audit ORDER BY seq DESC LIMIT 1")
    read -r hseq hhash hat <<<"$head"
    seq=$((hseq + 1))
    digest=$(printf 'forged %s' "$seq" | sha256sum | cut -d' ' -f1)
    line=$(jq -cn --argjson s "$seq" --argjson a "$hat" --arg d "$digest" --arg p "$hhash" \
        --arg actor "$1" --arg role "$2" --arg action "$3" \
        '[$s,$a,$actor,(if $role == "" then null else $role end),$action,null,null,$d,$p]')
    hash=$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)
    role=NULL
    [ -n "$2" ] && role="'$2'"
    sql "INSERT INTO audit VALUES($seq, $hat, '$1', $role, '$3', NULL, NULL, '$digest', '$hhash', '$hash')"
    echo "$seq"
}

# A record forged at the tail, by a user who never existed: never signed.
cp "$DB" "$E2E_TMP/before-forgery.db"
seq=$(forge mallory "" consultation)
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "mallory" "verify names the actor who was never a user"
expect_exit 65 cf --actor admin audit checkpoint
ok "audit checkpoint refuses to sign a chain with a forged record"
assert_eq 0 "$(sql "SELECT count(*) FROM checkpoints WHERE signed_seq >= $seq")" "no checkpoint signs the forgery"
# A new checkpoint interval is signed at once: that signature walks first.
expect_exit 65 cf --actor admin policy set checkpoint_interval 50
assert_contains "$ERR" "mallory" "a new interval is refused over a forged tail, naming it"
assert_eq 0 "$(sql "SELECT count(*) FROM checkpoints WHERE signed_seq >= $seq")" \
    "and its signature does not sign the forgery"
assert_eq 40 "$(sql "SELECT value FROM policies WHERE key='checkpoint_interval'")" "nor is the interval changed"
cp "$E2E_TMP/before-forgery.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
# ... and by a real user in a role they never held.
forge officer1 authoriser consultation >/dev/null
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "did not hold the role authoriser" "verify checks the role each record claims"
cp "$E2E_TMP/before-forgery.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
# ... and by a user after they were disabled.
expect_exit 0 cf --actor admin user add leaver1 --role officer
expect_exit 0 cf --actor admin user disable leaver1
forge leaver1 officer consultation >/dev/null
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "was disabled" "verify checks that each record's actor was enabled then"
cp "$E2E_TMP/before-forgery.db" "$DB"
rm -f "$DB-wal" "$DB-shm"

# ---- rows put back to an earlier genuine state, with their pointers ---------------------
cp "$DB" "$E2E_TMP/before-rollback.db"
expect_exit 0 cf --actor admin user add leaver2 --role supervisor
add_seq=$(sql "SELECT audit_seq FROM users WHERE name='leaver2'")
expect_exit 0 cf --actor admin user disable leaver2
sql "UPDATE users SET disabled=0, audit_seq=$add_seq WHERE name='leaver2'"
refused_and_alarmed 65 "a disabled user put back to enabled" cf --actor leaver2 --reason r show "$A"
expect_exit 0 cf --actor admin policy set require_reason false
expect_exit 0 cf --actor admin policy set require_reason true
first=$(sql "SELECT min(seq) FROM audit WHERE action='policy.set:require_reason'")
sql "UPDATE policies SET value='false', audit_seq=$first WHERE key='require_reason'"
expect_exit 65 cf --actor supervisor1 show "$A"
assert_contains "$ERR" "altered outside caseflow" "a policy put back to an earlier value is refused"
sql "DELETE FROM policies WHERE key='require_reason'"
expect_exit 65 cf --actor supervisor1 show "$A"
assert_contains "$ERR" "altered outside caseflow" "a deleted policy row does not fall back to the default"
cp "$E2E_TMP/before-rollback.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
# A case put back to an earlier state, its newest history row deleted.
cp "$DB" "$E2E_TMP/case-before.db"
expect_exit 0 cf --actor officer1 act "$A" authorisation.applied --data "$applied"
old=$(sqlite3 "$E2E_TMP/case-before.db" "SELECT quote(state) || ', data = ' || quote(data) || ', revision = ' ||
    revision || ', updated_at = ' || updated_at FROM cases WHERE id='$A'")
sql "UPDATE cases SET state = $old WHERE id = '$A';
     DELETE FROM events WHERE seq = (SELECT max(seq) FROM events WHERE case_id = '$A')"
refused_and_alarmed 65 "a case put back to an earlier state" \
    cf --actor officer1 act "$A" authorisation.applied --data "$applied"
cp "$E2E_TMP/case-before.db" "$DB"
rm -f "$DB-wal" "$DB-shm"

# A user made by a forged engine record (the engine records users only in a
# migration).
cp "$DB" "$E2E_TMP/before-engine.db"
head=$(sql "SELECT seq || ' ' || hash || ' ' || at FROM audit ORDER BY seq DESC LIMIT 1")
read -r hseq hhash hat <<<"$head"
seq=$((hseq + 1))
payload='{"created_at":0,"created_by":"engine","disabled":0,"os_users":"","roles":"administrator","user":"mallory"}'
digest=$(printf '%s' "$payload" | sha256sum | cut -d' ' -f1)
line=$(jq -cn --argjson s "$seq" --argjson a "$hat" --arg d "$digest" --arg p "$hhash" \
    '[$s,$a,"engine","system","user.migrate",null,null,$d,$p]')
hash=$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)
sql "INSERT INTO audit VALUES($seq, $hat, 'engine', 'system', 'user.migrate', NULL, NULL, '$digest', '$hhash', '$hash');
     INSERT INTO records VALUES($seq, 'user:mallory', '$payload');
     INSERT INTO users VALUES('mallory', 'administrator', 0, 0, 'engine', $seq, '')"
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "outside a migration" "a user made by a forged engine record is found"
expect_exit 65 cf --actor admin audit checkpoint
ok "and never signed"
cp "$E2E_TMP/before-engine.db" "$DB"
rm -f "$DB-wal" "$DB-shm"

# A checkpoint row planted after a forged record, so that the walk before
# signing would start past it.
cp "$DB" "$E2E_TMP/before-plant.db"
seq=$(forge mallory "" consultation)
sql "INSERT INTO checkpoints VALUES($seq, $((seq - 1)), 'x', 0, 'x')"
expect_exit 65 cf --actor admin audit checkpoint
ok "a planted checkpoint row does not let a forgery be signed"
cp "$E2E_TMP/before-plant.db" "$DB"
rm -f "$DB-wal" "$DB-shm"

# Checkpoints deleted, and with the records after them: found. (A chain
# rewritten without its checkpoints is found by the interval rule:
# test_engine's checkpoints_are_required; a store cut back to before its
# first checkpoint, by the anchors below.)
cp "$DB" "$E2E_TMP/before-cut.db"
sql "DELETE FROM checkpoints"
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "checkpoint" "deleted checkpoint rows are a break"
cp "$E2E_TMP/before-cut.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
first=$(sql "SELECT min(seq) FROM checkpoints")
sql "DELETE FROM checkpoints; DELETE FROM audit WHERE seq >= $first"
expect_exit 65 cf --actor admin audit verify
ok "checkpoints deleted with the records after them: a break"
cp "$E2E_TMP/before-cut.db" "$DB"
rm -f "$DB-wal" "$DB-shm"

# An export stripped of its checkpoint lines and its header's key.
expect_exit 0 cf --actor admin audit export --output "$E2E_TMP/export.jsonl"
expect_exit 0 cf audit verify --file "$E2E_TMP/export.jsonl" --key "$PUB"
grep -v '"checkpoint":{' "$E2E_TMP/export.jsonl" >"$E2E_TMP/nocp.jsonl"
expect_exit 65 cf audit verify --file "$E2E_TMP/nocp.jsonl" --key "$PUB"
{ head -1 "$E2E_TMP/export.jsonl" | jq -c 'del(.public_key)'; tail -n +2 "$E2E_TMP/export.jsonl"; } \
    >"$E2E_TMP/nokey.jsonl"
expect_exit 65 cf audit verify --file "$E2E_TMP/nokey.jsonl" --key "$PUB"
{ head -1 "$E2E_TMP/export.jsonl" | jq -c ".public_key = \"$(cat "$E2E_TMP/evil/evil.db.keys/evil.db.key.pub")\""
    tail -n +2 "$E2E_TMP/export.jsonl"; } >"$E2E_TMP/otherkey.jsonl"
expect_exit 65 cf audit verify --file "$E2E_TMP/otherkey.jsonl" --key "$E2E_TMP/evil/evil.db.keys/evil.db.key.pub"
ok "an export that claims another key does not verify with that key"
head -n -3 "$E2E_TMP/export.jsonl" >"$E2E_TMP/short.jsonl"
expect_exit 65 cf audit verify --file "$E2E_TMP/short.jsonl" --key "$PUB"
ok "an export cut short is not covered by its signatures"
# Cut back to an earlier checkpoint, records and checkpoint lines both.
cp1=$(jq -s 'map(select(.checkpoint)) | .[0].checkpoint.seq' "$E2E_TMP/export.jsonl")
jq -c "select(.format or (.seq and .seq <= $cp1) or (.checkpoint and .checkpoint.seq <= $cp1))" \
    "$E2E_TMP/export.jsonl" >"$E2E_TMP/cut.jsonl"
expect_exit 65 cf audit verify --file "$E2E_TMP/cut.jsonl" --key "$PUB"
assert_contains "$ERR" "does not end with the disclosure" "an export cut back to an earlier checkpoint"

# Anchors: a store cut short, or put back to an older copy, is found.
ANCHORS="$E2E_TMP/elsewhere/caseflow.anchors"
mkdir -p "$E2E_TMP/elsewhere"
expect_exit 0 cf --actor admin audit checkpoint --anchor "$ANCHORS"
cp "$DB" "$E2E_TMP/older.db"
expect_exit 0 cf --actor officer1 act "$B" authorisation.applied --data "$applied"
expect_exit 0 cf --actor authoriser1 act "$B" authorisation.granted --data "$granted"
expect_exit 0 cf --actor admin policy set anchor "$ANCHORS"
expect_exit 0 cf --actor admin audit checkpoint
assert_eq 2 "$(wc -l <"$ANCHORS")" "both checkpoints are anchored"
expect_exit 0 cf --actor admin --json audit verify --anchors "$ANCHORS" --key "$PUB"
assert_jq "$OUT" '.anchors.checked == 2' "verify checks every anchor"
cp "$DB" "$E2E_TMP/newest.db"
cp "$E2E_TMP/older.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
expect_exit 0 cf --actor admin audit verify --key "$PUB"
ok "an older copy verifies on its own..."
expect_exit 65 cf --actor admin audit verify --anchors "$ANCHORS" --key "$PUB"
assert_contains "$ERR" "older copy" "...but not against the anchors"
cp "$E2E_TMP/newest.db" "$DB"
last=$(sql "SELECT max(signed_seq) FROM checkpoints")
sql "DELETE FROM checkpoints WHERE signed_seq >= $last - 0; DELETE FROM audit WHERE seq >= $last"
expect_exit 65 cf --actor admin audit verify --anchors "$ANCHORS" --key "$PUB"
ok "a store cut short is found by the anchors"
cp "$E2E_TMP/newest.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
expect_exit 0 cf --actor admin audit verify --anchors "$ANCHORS" --key "$PUB"

# ---- 3. a clock and an actor that mean something ---------------------------------------------
N="$E2E_TMP/normal.db"
# cfn: the command on the normal store, without CASEFLOW_NOW.
cfn() {
    env -u CASEFLOW_NOW "$CASEFLOW_BIN" --store "$N" "$@"
}
expect_exit 0 cfn --actor admin init
expect_exit 0 cfn --actor admin user add officer9 --role officer
CASEFLOW_NOW=2020-01-01T00:00:00Z expect_exit 64 "$CASEFLOW_BIN" --store "$N" --actor admin user add x --role officer
assert_contains "$ERR" "--test-clock" "CASEFLOW_NOW on a normal store is refused and says why"
CASEFLOW_NOW=2027-01-01T00:00:00Z expect_exit 64 "$CASEFLOW_BIN" --store "$N" --actor admin --reason r user list
CASEFLOW_NOW=2020-01-01T00:00:00Z expect_exit 64 "$CASEFLOW_BIN" --store "$N" --actor admin init --test-clock
# init again changes nothing, and changes nothing it was given.
snapshot reinit "$N"
expect_exit 0 cfn --actor admin init
expect_exit 77 cfn --actor stranger init
assert_contains "$ERR" "not one of its users" "init on an existing store by a stranger is refused"
expect_exit 64 cfn --actor admin init --os-user nobody
assert_contains "$ERR" "already initialised" "init cannot bind an account on an existing store"
expect_exit 64 cfn --actor admin init --key-dir "$E2E_TMP/otherkeys"
[ ! -e "$E2E_TMP/otherkeys" ] && ok "nor make a key elsewhere"
assert_unchanged reinit "init on an initialised store" "$N"
# The engine's name is its own.
expect_exit 65 cfn --actor admin user add engine --role officer
assert_contains "$ERR" "reserved" "no user can be called engine"
expect_exit 65 env -u CASEFLOW_NOW "$CASEFLOW_BIN" --store "$E2E_TMP/engine.db" --actor engine init
[ ! -e "$E2E_TMP/engine.db.keys" ] && ok "a store is not made with the engine as its administrator"
# An administrator cannot lock themselves (and so the store) out.
expect_exit 65 cfn --actor admin user disable admin
assert_contains "$ERR" "could no longer act" "disabling oneself is refused"
expect_exit 65 cfn --actor admin user bind admin 4999
assert_contains "$ERR" "could no longer act" "binding oneself to another account is refused"
expect_exit 65 cfn --actor admin policy set require_os_user true
assert_contains "$ERR" "would lock out" "requiring bindings while unbound is refused"
assert_unchanged reinit "refused changes to users and policies" "$N"
expect_exit 0 cfn --actor admin --json audit verify
assert_jq "$OUT" '.clock == "system"' "verify shows the store's clock"
# A store cannot be switched to a test clock behind caseflow's back.
sqlite3 "$N" "INSERT INTO meta VALUES('test_clock', 'true')"
CASEFLOW_NOW=2027-01-01T00:00:00Z expect_exit 65 "$CASEFLOW_BIN" --store "$N" --actor admin user add y --role officer
assert_contains "$ERR" "altered outside caseflow" "a test clock switched on by hand is refused"
expect_exit 0 cf --actor admin --json audit verify
assert_jq "$OUT" '.clock == "test"' "a test-clock store says so"
# Backwards: refused on any store, and nothing written.
snapshot clock
CASEFLOW_NOW=2026-11-01T00:00:00Z expect_exit 65 cf --actor officer1 act "$A" authorisation.applied --data "$applied"
assert_contains "$ERR" "never goes backwards" "a clock before the head is refused"
CASEFLOW_NOW=2026-11-01T00:00:00Z expect_exit 65 cf --actor supervisor1 --reason r show "$A"
assert_unchanged clock "a backwards clock writes nothing"

# OS-account bindings: an officer cannot name an authoriser.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    BDIR="$E2E_TMP/bound"
    mkdir -p "$BDIR"
    chmod 711 "$E2E_TMP"
    chmod 777 "$BDIR"
    BDB="$BDIR/bound.db"
    as_uid() {
        local uid=$1
        shift
        setpriv --reuid "$uid" --regid "$uid" --clear-groups "$@"
    }
    expect_exit 0 cf --actor admin --store "$BDB" init --test-clock --os-user root
    cf --actor admin --store "$BDB" --reason "e2e test" workflow deploy --yes "$POLIT" >/dev/null
    expect_exit 0 cf --actor admin --store "$BDB" user add off1 --role officer --os-user 4001
    expect_exit 0 cf --actor admin --store "$BDB" user add auth1 --role authoriser --os-user 4002
    expect_exit 0 cf --actor admin --store "$BDB" user add ana1 --role analyst --os-user 4001
    expect_exit 0 cf --actor admin --store "$BDB" policy set require_os_user true
    chmod 666 "$BDB" "$BDB-wal" "$BDB-shm" 2>/dev/null
    C=$(referral INT-BOUND | as_uid 4001 "$CASEFLOW_BIN" --store "$BDB" --actor ana1 refer --json | jq -r .id)
    assert_eq CF-000001 "$C" "a bound analyst takes a referral in"
    expect_exit 0 as_uid 4001 "$CASEFLOW_BIN" --store "$BDB" --actor off1 act "$C" authorisation.applied --data "$applied"
    expect_exit 77 as_uid 4001 "$CASEFLOW_BIN" --store "$BDB" --actor auth1 act "$C" authorisation.granted --data "$granted"
    assert_contains "$ERR" "bound to other operating-system accounts" "naming another user's account is refused"
    expect_exit 77 as_uid 4003 "$CASEFLOW_BIN" --store "$BDB" --actor off1 --reason r show "$C"
    expect_exit 64 as_uid 4001 "$CASEFLOW_BIN" --store "$BDB" --reason r show "$C"
    assert_contains "$ERR" "several users" "two users on one account: the actor must be named"
    expect_exit 0 as_uid 4002 "$CASEFLOW_BIN" --store "$BDB" act "$C" authorisation.granted --data "$granted"
    ok "the one user bound to an account acts without --actor"
    expect_exit 0 cf --actor admin --store "$BDB" user add nobody1 --role officer
    expect_exit 77 cf --actor nobody1 --store "$BDB" --reason r show "$C"
    assert_contains "$ERR" "require_os_user" "an unbound user on a store that requires bindings"
    expect_exit 0 cf --actor admin --store "$BDB" user bind nobody1 4004
    expect_exit 0 as_uid 4004 "$CASEFLOW_BIN" --store "$BDB" --actor nobody1 --reason r show "$C"
    expect_exit 0 cf --actor admin --store "$BDB" user unbind nobody1 4004
    expect_exit 65 cf --actor admin --store "$BDB" user unbind admin root
    assert_contains "$ERR" "could no longer act" "unbinding oneself under require_os_user is refused"
    expect_exit 77 as_uid 4004 "$CASEFLOW_BIN" --store "$BDB" --actor nobody1 --reason r show "$C"
    # The key directory is the owner's: another account cannot sign.
    expect_exit 77 as_uid 4001 "$CASEFLOW_BIN" --store "$BDB" --actor admin audit checkpoint
    expect_exit 0 cf --store "$BDB" --actor admin --json user list
    assert_jq "$OUT" 'map(select(.name == "off1"))[0].os_users == ["4001"]' "user list shows the bindings"
    expect_exit 0 cf --store "$BDB" --actor admin audit verify
else
    echo "# SKIP: OS-account bindings need root and setpriv"
fi

# ---- 4. verify sees everything ----------------------------------------------------------------
cp "$DB" "$E2E_TMP/clean.db"
# A trigger that rewrites an outcome during a legitimate act.
sql "CREATE TRIGGER nfa AFTER UPDATE ON cases BEGIN
     UPDATE cases SET data = replace(data, 'charged', 'nfa') WHERE id = new.id; END"
snapshot trigger
expect_exit 65 cf --actor officer1 act "$A" authorisation.applied --data "$applied"
assert_contains "$ERR" "schema was altered" "a planted trigger stops every command"
assert_unchanged trigger "nothing ran under the planted trigger"
expect_exit 65 cf --actor admin audit verify
cp "$E2E_TMP/clean.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
# A trigger that drops one officer's reads.
sql "CREATE TRIGGER quiet AFTER INSERT ON audit WHEN new.actor = 'officer1' AND new.action = 'consultation'
     BEGIN DELETE FROM audit WHERE seq = new.seq; END"
expect_exit 65 cf --actor officer1 --reason r show "$A"
expect_exit 65 cf --actor admin audit verify
cp "$E2E_TMP/clean.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
# The same bytes as another storage type: SQLite refuses it (STRICT).
if sql "UPDATE keys SET value = CAST(value AS BLOB)" 2>"$E2E_TMP/sqlerr"; then
    not_ok "a BLOB was stored where TEXT belongs"
else
    ok "a BLOB where TEXT belongs is refused by the store: $(head -c 80 "$E2E_TMP/sqlerr")"
fi
# Renumbered history.
sql "UPDATE events SET seq = seq + 1000 WHERE seq = (SELECT max(seq) FROM events)"
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "renumbered" "renumbered history is found"
cp "$E2E_TMP/clean.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
# Rows kept out of an index, the table untouched (the reviewer's attack):
# verify reads each case's rows through an index, so a planted row the
# index does not hold would go unread, and commands would still use it.
# hide INDEX COND: rebuild INDEX as if partial (WHERE COND), then put its
# SQL back, so the schema reads as before.
hide() {
    local idx=$1 cond=$2 orig
    orig=$(sql "SELECT sql FROM sqlite_schema WHERE name='$idx'")
    sql "PRAGMA writable_schema=ON; UPDATE sqlite_schema SET sql = sql || ' WHERE $cond' WHERE name='$idx'"
    sql "REINDEX $idx"
    sql "PRAGMA writable_schema=ON; UPDATE sqlite_schema SET sql = '$orig' WHERE name='$idx'"
}
# hidden TABLE WHAT: verify fails, naming the table and its index.
hidden() {
    expect_exit 65 cf --actor admin audit verify
    assert_contains "$ERR" "audit verify: $1: 1 row(s) not reachable through its index" \
        "$2 kept out of its index is found"
    cp "$E2E_TMP/idx.db" "$DB"
    rm -f "$DB-wal" "$DB-shm"
}
C=$(new_case INT-INDEX)
cp "$DB" "$E2E_TMP/idx.db"
sql "INSERT INTO tasks(case_id, role, kind, detail, created_at) VALUES('$C', 'officer', 'review', 'planted', 0)"
hide tasks_case "seq <> $(sql "SELECT max(seq) FROM tasks")"
hidden tasks "a planted task"
sql "INSERT INTO notifications(case_id, channel, payload, created_at) VALUES('$C', 'email', '{}', 0)"
hide notifications_case "seq <> $(sql "SELECT max(seq) FROM notifications")"
hidden notifications "a planted notification"
sql "INSERT INTO keys(kind, value, case_id) VALUES('ip', '198.51.100.7', '$C')"
hide keys_case "value <> ''198.51.100.7''"
hidden keys "a planted key"
# The timers' primary-key index has no SQL to change: point it at the pages
# of a partial index built for the purpose instead.
sql "INSERT INTO timers(case_id, event, state, due_at) VALUES('$C', 'deadline.passed', 'x', 0)"
sql "CREATE INDEX hide ON timers(case_id, event) WHERE rowid <> $(sql "SELECT max(rowid) FROM timers")"
sql "PRAGMA writable_schema=ON; UPDATE sqlite_schema SET rootpage =
     (SELECT rootpage FROM sqlite_schema WHERE name='hide') WHERE name='sqlite_autoindex_timers_1';
     DELETE FROM sqlite_schema WHERE name='hide'"
hidden timers "a planted timer"
# A case put back to an older revision, its newest history kept out of the
# indexes the newest digest is read through.
old=$(sql "SELECT max(seq) FROM events")
expect_exit 0 cf --actor officer1 act "$C" authorisation.applied --data "$applied"
sql "ATTACH '$E2E_TMP/idx.db' AS o; BEGIN;
     DELETE FROM cases WHERE id='$C'; INSERT INTO cases SELECT * FROM o.cases WHERE id='$C';
     DELETE FROM tasks WHERE case_id='$C'; INSERT INTO tasks SELECT * FROM o.tasks WHERE case_id='$C';
     DELETE FROM notifications WHERE case_id='$C';
     INSERT INTO notifications SELECT * FROM o.notifications WHERE case_id='$C';
     DELETE FROM keys WHERE case_id='$C'; INSERT INTO keys SELECT * FROM o.keys WHERE case_id='$C';
     DELETE FROM timers WHERE case_id='$C'; INSERT INTO timers SELECT * FROM o.timers WHERE case_id='$C';
     COMMIT"
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "$C" "a case put back to an older revision is found"
hide events_case_at "seq <= $old"
hide events_case "seq <= $old"
hidden events "a rolled-back case's newest history"
# A planted notification kept out of its index, and a forged sqlite_stat1
# that steers a rowid read (the second review's attack): an act that adds a
# notification reads the case's notifications once to check the case and
# again to hash on; if the second read saw a row the first did not, the
# planted row would be chained into the case's digest and verify would pass
# once the index is rebuilt and the statistics dropped.
expect_exit 0 cf --actor officer1 act "$C" authorisation.applied --data "$applied"
sql "INSERT INTO notifications(case_id, channel, payload, created_at) VALUES('$C', 'email', '{\"planted\":true}', 0)"
planted=$(sql "SELECT max(seq) FROM notifications")
hide notifications_case "seq <> $planted"
sql "ANALYZE; DELETE FROM sqlite_stat1 WHERE tbl='notifications';
     INSERT INTO sqlite_stat1 VALUES('notifications', 'notifications_case', '1000000 1000000'),
                                    ('notifications', NULL, '1000000')"
cf --actor authoriser1 act "$C" authorisation.granted --data "$granted" || true
sql "REINDEX notifications_case; DELETE FROM sqlite_stat1"
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "$C" "a planted notification is not laundered into the case's digest by the next act"
cp "$E2E_TMP/idx.db" "$DB"
rm -f "$DB-wal" "$DB-shm"
# --chain-only says the tables were not checked.
expect_exit 0 cf --actor admin --json audit verify --chain-only
assert_jq "$OUT" '.ok == true and .tables == "not checked"' "a chain-only verify says the tables were not checked"
expect_exit 0 cf --actor admin --json audit verify
assert_jq "$OUT" '.ok == true and (.tables.cases | type) == "number"' "a full verify reports the tables it checked"
cp "$E2E_TMP/clean.db" "$DB"
rm -f "$DB-wal" "$DB-shm"

# ---- 6. availability and smaller defects ----------------------------------------------------
# 66 open cases share one file hash: every intake succeeds; the hash is
# common and links nothing once more cases hold it than the policy allows.
hash=0123456789abcdef0123456789abcdef
for i in $(seq 1 66); do
    referral "INT-HASH-$i" | jq -c ".files[0].hash = \"$hash\""
done >"$E2E_TMP/hash.jsonl"
expect_exit 0 cf --actor analyst1 refer --json "$E2E_TMP/hash.jsonl"
assert_eq 66 "$(jq -s 'map(select(.created)) | length' "$OUT")" "66 referrals sharing a hash: all taken in"
last=$(jq -r -s '.[-1].id' "$OUT")
assert_jq <(cf --actor supervisor1 --reason r show --json "$last") \
    '.data.common_keys[0].kind == "hash" and .data.common_keys[0].cases == 65 and (.data.links // [] | length) == 0' \
    "a common hash is recorded with its count and links nothing"
expect_exit 0 cf --actor admin audit verify

# Two ticks at once, again and again: neither ever fails, and each timer
# fires once.
T="$E2E_TMP/tick.db"
wf="$E2E_TMP/wf"
mkdir -p "$wf"
cat >"$wf/int_timer.lua" <<'EOF'
return workflow {
  name = "int_timer", version = 1, initial = "waiting",
  states = {
    waiting = { roles = { "officer" }, timer = { days = 2, event = "expired" },
      on = { expired = { to = "lapsed", system = true } } },
    lapsed = { final = true },
  },
}
EOF
TNOW=2026-11-03T10:00:00Z
CASEFLOW_STORE=$T CASEFLOW_NOW=$TNOW cf --actor admin init --test-clock >/dev/null
CASEFLOW_STORE=$T CASEFLOW_NOW=$TNOW setup_users >/dev/null
CASEFLOW_STORE=$T CASEFLOW_NOW=$TNOW cf --actor admin --reason "e2e test" workflow deploy --yes "$wf/int_timer.lua" >/dev/null
fails=0
for round in $(seq 1 8); do
    TNOW=$(date -u -d "2026-11-03 10:00 UTC $((round * 3)) days" +%Y-%m-%dT%H:%M:%SZ)
    referrals "INT-TICK-$round" 25 |
        CASEFLOW_STORE=$T CASEFLOW_NOW=$TNOW cf --actor analyst1 refer --workflow int_timer >/dev/null
    due=$(date -u -d "2026-11-03 11:00 UTC $((round * 3 + 2)) days" +%Y-%m-%dT%H:%M:%SZ)
    CASEFLOW_STORE=$T CASEFLOW_NOW=$due cf --actor admin --json tick >"$E2E_TMP/t1" 2>&1 &
    p1=$!
    CASEFLOW_STORE=$T CASEFLOW_NOW=$due cf --actor admin --json tick >"$E2E_TMP/t2" 2>&1 &
    p2=$!
    wait $p1 || { fails=$((fails + 1)); sed 's/^/# tick 1: /' "$E2E_TMP/t1"; }
    wait $p2 || { fails=$((fails + 1)); sed 's/^/# tick 2: /' "$E2E_TMP/t2"; }
    fired=$(jq -s 'map(length) | add' "$E2E_TMP/t1" "$E2E_TMP/t2" 2>/dev/null)
    [ "$fired" = 25 ] || { fails=$((fails + 1)); echo "# round $round: $fired timers fired, not 25"; }
done
assert_eq 0 "$fails" "two ticks at once never fail, and each timer fires once (8 rounds)"
CASEFLOW_STORE=$T CASEFLOW_NOW=$due expect_exit 0 cf --actor admin audit verify

# init on an existing world-writable file makes it private.
W="$E2E_TMP/open.db"
: >"$W"
chmod 666 "$W"
expect_exit 0 cf --actor admin --store "$W" init --test-clock
assert_eq 600 "$(stat -c %a "$W")" "init makes an existing file 0600"

# A refusal names the rule, not the case's state (state is case data).
expect_exit 65 cf --actor officer1 act "$A" visit.completed --data '{}'
if grep -q "authorisation" "$ERR"; then
    not_ok "a refusal told the case's state: $(cat "$ERR")"
else
    ok "a refusal does not tell the case's state"
fi
expect_exit 77 cf --actor analyst1 act "$A" authorisation.granted --data "$granted"
if grep -q "state" "$ERR"; then
    not_ok "a role refusal told the case's state: $(cat "$ERR")"
else
    ok "a role refusal does not tell the case's state"
fi

expect_exit 0 cf --actor admin audit verify --key "$PUB"
finish
