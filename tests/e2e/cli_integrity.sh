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
KEY=$(store_key "$DB")
PUB="$KEY.pub"
applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
granted='{"authority":"OCDA","reference":"OCDA-2026-0001","urgent":false}'

# sql SQL: read or tamper with the store as an intruder with write access
# would (on PostgreSQL a superuser, the store's triggers off: store_tamper).
sql() {
    if is_pg_store "$DB"; then
        store_tamper "$DB" "$@"
    else
        sqlite3 -batch "$DB" "$@"
    fi
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
store_save "$DB" clean
if is_pg_store "$DB"; then
    sql "UPDATE cases SET data = jsonb_set(data::jsonb #- '{referral,files,0,hash}',
         '{referral,files,0,category}', '\"A\"')::text WHERE id = '$A'"
else
    sql "UPDATE cases SET data = json_set(json_remove(data, '\$.referral.files[0].hash'),
         '\$.referral.files[0].category', 'A') WHERE id = '$A'"
fi
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
store_restore "$DB" clean
sql "UPDATE cases SET version = 2 WHERE id = '$A'"
refused_and_alarmed 65 "an act on a case moved to another version" \
    cf --actor officer1 act "$A" authorisation.applied --data "$applied"

# An edited user: roles given, an act tried, roles taken back.
store_restore "$DB" clean
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
store_restore "$DB" clean
expect_exit 0 cf --actor admin audit verify

# ---- 2. signing that an intruder cannot redo ------------------------------------------------
assert_eq 700 "$(stat -c %a "$(dirname "$KEY")")" "the key lives apart from the store, 0700"
if on_sqlite "a key file beside the store's file"; then
    [ ! -e "$DB.key" ] && ok "no secret key beside the store"
fi
# A key swapped in where the store's was: refused before anything is signed.
mkdir -p "$E2E_TMP/evil"
chmod 700 "$E2E_TMP/evil"
if is_pg_store "$DB"; then
    EVIL=$(store_for evil)
else
    EVIL="$E2E_TMP/evil/evil.db"
fi
EVILKEY=$(store_key "$EVIL")
(unset CASEFLOW_NOW && cf --actor eve --store "$EVIL" init >/dev/null)
if is_pg_store "$EVIL"; then
    # kept apart from the key directory, which is moved away below
    cp "$EVILKEY" "$EVILKEY.pub" "$E2E_TMP/evil/"
    EVILKEY="$E2E_TMP/evil/$(basename "$EVILKEY")"
fi
snapshot swapped
expect_exit 77 cf --actor admin --signing-key "$EVILKEY" audit checkpoint
assert_contains "$ERR" "not this store's key" "a foreign key is named as such"
assert_unchanged swapped "a checkpoint with a foreign key"
# A store restored to another directory, its recorded key path gone: the key
# beside it is found, but signs only if it is the store's own. A foreign key
# planted there signs nothing; the store's own key, copied beside it, signs.
# (On PostgreSQL a store has no directory: a copy of its database, its
# recorded key gone, signs with the key its command names, --signing-key;
# a foreign one signs nothing, the store's own copy signs.)
KEYDIR=$(dirname "$KEY")
mv "$KEYDIR" "$KEYDIR.away"
AWAY="$KEYDIR.away/$(basename "$KEY")"
if is_pg_store "$DB"; then
    store_save "$DB" moved
    M=$(store_saved "$DB" moved)
    mkdir -p "$E2E_TMP/moved"
    chmod 700 "$E2E_TMP/moved"
    MKEY="$E2E_TMP/moved/m.key"
    MOPT=(--signing-key "$MKEY")
else
    M="$E2E_TMP/moved/m.db"
    mkdir -p "$E2E_TMP/moved/m.db.keys"
    chmod 700 "$E2E_TMP/moved" "$E2E_TMP/moved/m.db.keys"
    cp "$DB" "$M"
    MKEY="$E2E_TMP/moved/m.db.keys/m.db.key"
    MOPT=()
fi
cp "$EVILKEY" "$MKEY"
before_moved=$(store_sql "$M" "SELECT count(*) FROM audit")
expect_exit 77 cf --actor admin --store "$M" "${MOPT[@]}" audit checkpoint
assert_contains "$ERR" "not this store's key" "a foreign key beside a moved store is refused"
assert_eq "$before_moved" "$(store_sql "$M" "SELECT count(*) FROM audit")" \
    "and nothing was appended"
cp "$AWAY" "$MKEY"
expect_exit 0 cf --actor admin --store "$M" "${MOPT[@]}" audit checkpoint
expect_exit 0 cf --actor admin --store "$M" audit verify \
    --key "$AWAY.pub"
ok "the store's own key beside the moved store signs, and it verifies"
mv "$KEYDIR.away" "$KEYDIR"
# CASEFLOW_KEY naming a foreign key: an analyst's bulk intake that crosses
# the checkpoint interval stops at that point, and writes no bad checkpoint.
expect_exit 0 cf --actor admin policy set checkpoint_interval 40
referrals INT-BULK 60 >"$E2E_TMP/bulk.jsonl"
CASEFLOW_KEY="$EVILKEY" cf --actor analyst1 refer "$E2E_TMP/bulk.jsonl" \
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
store_save "$DB" before-forgery
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
store_restore "$DB" before-forgery
# ... and by a real user in a role they never held.
forge officer1 authoriser consultation >/dev/null
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "did not hold the role authoriser" "verify checks the role each record claims"
store_restore "$DB" before-forgery
# ... and by a user after they were disabled.
expect_exit 0 cf --actor admin user add leaver1 --role officer
expect_exit 0 cf --actor admin user disable leaver1
forge leaver1 officer consultation >/dev/null
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "was disabled" "verify checks that each record's actor was enabled then"
store_restore "$DB" before-forgery

# ---- rows put back to an earlier genuine state, with their pointers ---------------------
store_save "$DB" before-rollback
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
store_restore "$DB" before-rollback
# A case put back to an earlier state, its newest history row deleted.
store_save "$DB" case-before
expect_exit 0 cf --actor officer1 act "$A" authorisation.applied --data "$applied"
if is_pg_store "$DB"; then
    old=$(store_sql "$(store_saved "$DB" case-before)" "SELECT quote_literal(state) || ', data = ' ||
        quote_literal(data) || ', revision = ' || revision || ', updated_at = ' || updated_at
        FROM cases WHERE id='$A'")
else
    old=$(sqlite3 "$E2E_TMP/case-before.db" "SELECT quote(state) || ', data = ' || quote(data) || ', revision = ' ||
        revision || ', updated_at = ' || updated_at FROM cases WHERE id='$A'")
fi
sql "UPDATE cases SET state = $old WHERE id = '$A';
     DELETE FROM events WHERE seq = (SELECT max(seq) FROM events WHERE case_id = '$A')"
refused_and_alarmed 65 "a case put back to an earlier state" \
    cf --actor officer1 act "$A" authorisation.applied --data "$applied"
store_restore "$DB" case-before

# A user made by a forged engine record (the engine records users only in a
# migration).
store_save "$DB" before-engine
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
store_restore "$DB" before-engine

# A checkpoint row planted after a forged record, so that the walk before
# signing would start past it.
store_save "$DB" before-plant
seq=$(forge mallory "" consultation)
sql "INSERT INTO checkpoints VALUES($seq, $((seq - 1)), 'x', 0, 'x')"
expect_exit 65 cf --actor admin audit checkpoint
ok "a planted checkpoint row does not let a forgery be signed"
store_restore "$DB" before-plant

# Checkpoints deleted, and with the records after them: found. (A chain
# rewritten without its checkpoints is found by the interval rule:
# test_engine's checkpoints_are_required; a store cut back to before its
# first checkpoint, by the anchors below.)
store_save "$DB" before-cut
sql "DELETE FROM checkpoints"
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "checkpoint" "deleted checkpoint rows are a break"
store_restore "$DB" before-cut
first=$(sql "SELECT min(seq) FROM checkpoints")
sql "DELETE FROM checkpoints; DELETE FROM audit WHERE seq >= $first"
expect_exit 65 cf --actor admin audit verify
ok "checkpoints deleted with the records after them: a break"
store_restore "$DB" before-cut

# An export stripped of its checkpoint lines and its header's key.
expect_exit 0 cf --actor admin audit export --output "$E2E_TMP/export.jsonl"
expect_exit 0 cf audit verify --file "$E2E_TMP/export.jsonl" --key "$PUB"
grep -v '"checkpoint":{' "$E2E_TMP/export.jsonl" >"$E2E_TMP/nocp.jsonl"
expect_exit 65 cf audit verify --file "$E2E_TMP/nocp.jsonl" --key "$PUB"
{ head -1 "$E2E_TMP/export.jsonl" | jq -c 'del(.public_key)'; tail -n +2 "$E2E_TMP/export.jsonl"; } \
    >"$E2E_TMP/nokey.jsonl"
expect_exit 65 cf audit verify --file "$E2E_TMP/nokey.jsonl" --key "$PUB"
{ head -1 "$E2E_TMP/export.jsonl" | jq -c ".public_key = \"$(cat "$EVILKEY.pub")\""
    tail -n +2 "$E2E_TMP/export.jsonl"; } >"$E2E_TMP/otherkey.jsonl"
expect_exit 65 cf audit verify --file "$E2E_TMP/otherkey.jsonl" --key "$EVILKEY.pub"
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
store_save "$DB" older
expect_exit 0 cf --actor officer1 act "$B" authorisation.applied --data "$applied"
expect_exit 0 cf --actor authoriser1 act "$B" authorisation.granted --data "$granted"
expect_exit 0 cf --actor admin policy set anchor "$ANCHORS"
expect_exit 0 cf --actor admin audit checkpoint
assert_eq 2 "$(wc -l <"$ANCHORS")" "both checkpoints are anchored"
expect_exit 0 cf --actor admin --json audit verify --anchors "$ANCHORS" --key "$PUB"
assert_jq "$OUT" '.anchors.checked == 2' "verify checks every anchor"
store_save "$DB" newest
store_restore "$DB" older
expect_exit 0 cf --actor admin audit verify --key "$PUB"
ok "an older copy verifies on its own..."
expect_exit 65 cf --actor admin audit verify --anchors "$ANCHORS" --key "$PUB"
assert_contains "$ERR" "older copy" "...but not against the anchors"
store_restore "$DB" newest
last=$(sql "SELECT max(signed_seq) FROM checkpoints")
sql "DELETE FROM checkpoints WHERE signed_seq >= $last - 0; DELETE FROM audit WHERE seq >= $last"
expect_exit 65 cf --actor admin audit verify --anchors "$ANCHORS" --key "$PUB"
ok "a store cut short is found by the anchors"
store_restore "$DB" newest
expect_exit 0 cf --actor admin audit verify --anchors "$ANCHORS" --key "$PUB"

# ---- 3. a clock and an actor that mean something ---------------------------------------------
N=$(store_for normal)
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
ENG=$(store_for engine)
expect_exit 65 env -u CASEFLOW_NOW "$CASEFLOW_BIN" --store "$ENG" --actor engine init
# (its key directory on SQLite; on PostgreSQL its key in the shared one)
engkey=$(store_key "$ENG")
is_pg_store "$ENG" || engkey=$(dirname "$engkey")
[ ! -e "$engkey" ] && ok "a store is not made with the engine as its administrator"
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
store_tamper "$N" "INSERT INTO meta VALUES('test_clock', 'true')"
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
    if is_pg_store "$DB"; then
        # the server's socket must be reachable by the other accounts
        BDB=$(store_for bound)
        sockdir=$(printf '%s\n' "$BDB" | sed -n 's#.*[?&]host=\([^&]*\).*#\1#p')
        sockmode=$(stat -c %a "$sockdir")
        chmod o+x "$sockdir"
    fi
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
    is_pg_store "$BDB" || chmod 666 "$BDB" "$BDB-wal" "$BDB-shm" 2>/dev/null
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
    is_pg_store "$BDB" && chmod "$sockmode" "$sockdir"
else
    echo "# SKIP: OS-account bindings need root and setpriv"
fi

# ---- 4. verify sees everything ----------------------------------------------------------------
store_save "$DB" clean
# A trigger that rewrites an outcome during a legitimate act.
if is_pg_store "$DB"; then
    sql "CREATE FUNCTION nfa() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
         UPDATE cases SET data = replace(data, 'charged', 'nfa') WHERE id = NEW.id AND data LIKE '%charged%';
         RETURN NULL; END \$\$;
         CREATE TRIGGER nfa AFTER UPDATE ON cases FOR EACH ROW EXECUTE FUNCTION nfa()"
else
    sql "CREATE TRIGGER nfa AFTER UPDATE ON cases BEGIN
         UPDATE cases SET data = replace(data, 'charged', 'nfa') WHERE id = new.id; END"
fi
snapshot trigger
expect_exit 65 cf --actor officer1 act "$A" authorisation.applied --data "$applied"
assert_contains "$ERR" "schema was altered" "a planted trigger stops every command"
assert_unchanged trigger "nothing ran under the planted trigger"
expect_exit 65 cf --actor admin audit verify
store_restore "$DB" clean
# A trigger that drops one officer's reads.
if is_pg_store "$DB"; then
    sql "CREATE FUNCTION quiet() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN
         DELETE FROM audit WHERE seq = NEW.seq; RETURN NULL; END \$\$;
         CREATE TRIGGER quiet AFTER INSERT ON audit FOR EACH ROW
         WHEN (NEW.actor = 'officer1' AND NEW.action = 'consultation') EXECUTE FUNCTION quiet()"
else
    sql "CREATE TRIGGER quiet AFTER INSERT ON audit WHEN new.actor = 'officer1' AND new.action = 'consultation'
         BEGIN DELETE FROM audit WHERE seq = new.seq; END"
fi
expect_exit 65 cf --actor officer1 --reason r show "$A"
expect_exit 65 cf --actor admin audit verify
store_restore "$DB" clean
if is_pg_store "$DB"; then
    # The append-only triggers switched off for everyone (not just for the
    # intruder's session), a column's storage type changed, and an aggregate
    # or operator planted in the schema, where it shadows pg_catalog's for
    # caseflow's own SQL (max(seq) that gives the least; = on text by a
    # function kept outside the schema): all changes to the schema, refused
    # by every command.
    for ddl in "ALTER TABLE audit DISABLE TRIGGER audit_append_only" \
        "ALTER TABLE audit ENABLE REPLICA TRIGGER audit_append_only" \
        "ALTER TABLE keys ALTER COLUMN value TYPE varchar" \
        "CREATE AGGREGATE max(bigint) (SFUNC = pg_catalog.int8smaller, STYPE = bigint)" \
        "CREATE FUNCTION public.same(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE
         AS 'SELECT \$1 OPERATOR(pg_catalog.=) \$2';
         CREATE OPERATOR caseflow.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.same)"; do
        sql "$ddl"
        expect_exit 65 cf --actor supervisor1 --reason r show "$A"
        assert_contains "$ERR" "schema was altered" "$ddl: refused"
        expect_exit 65 cf --actor admin audit verify
        store_restore "$DB" clean
    done
fi
# The same bytes as another storage type: SQLite refuses it (STRICT).
if on_sqlite "SQLite's STRICT tables (a PostgreSQL column has one type; a changed type is a schema change, above)"; then
    if sql "UPDATE keys SET value = CAST(value AS BLOB)" 2>"$E2E_TMP/sqlerr"; then
        not_ok "a BLOB was stored where TEXT belongs"
    else
        ok "a BLOB where TEXT belongs is refused by the store: $(head -c 80 "$E2E_TMP/sqlerr")"
    fi
fi
# Renumbered history.
sql "UPDATE events SET seq = seq + 1000 WHERE seq = (SELECT max(seq) FROM events)"
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "renumbered" "renumbered history is found"
store_restore "$DB" clean
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
# (PostgreSQL: no index can be made to leave out a row of its table
# without changing the schema; the planted row is found all the same.)
hidden() {
    expect_exit 65 cf --actor admin audit verify
    if is_pg_store "$DB"; then
        assert_contains "$ERR" "$1" "$2 is found"
    else
        assert_contains "$ERR" "audit verify: $1: 1 row(s) not reachable through its index" \
            "$2 kept out of its index is found"
    fi
    store_restore "$DB" idx
}
if is_pg_store "$DB"; then
    hide() { :; }
    NEXT_TASK="(SELECT coalesce(max(seq), 0) + 1 FROM tasks), "
    NEXT_NOTE="(SELECT coalesce(max(seq), 0) + 1 FROM notifications), "
    SEQ="seq, "
else
    NEXT_TASK= NEXT_NOTE= SEQ=
fi
C=$(new_case INT-INDEX)
store_save "$DB" idx
sql "INSERT INTO tasks(${SEQ}case_id, role, kind, detail, created_at) VALUES(${NEXT_TASK}'$C', 'officer', 'review', 'planted', 0)"
hide tasks_case "seq <> $(sql "SELECT max(seq) FROM tasks")"
hidden tasks "a planted task"
sql "INSERT INTO notifications(${SEQ}case_id, channel, payload, created_at) VALUES(${NEXT_NOTE}'$C', 'email', '{}', 0)"
hide notifications_case "seq <> $(sql "SELECT max(seq) FROM notifications")"
hidden notifications "a planted notification"
sql "INSERT INTO keys(kind, value, case_id) VALUES('ip', '198.51.100.7', '$C')"
hide keys_case "value <> ''198.51.100.7''"
hidden keys "a planted key"
# The timers' primary-key index has no SQL to change: point it at the pages
# of a partial index built for the purpose instead.
sql "INSERT INTO timers(case_id, event, state, due_at) VALUES('$C', 'deadline.passed', 'x', 0)"
if on_sqlite "an index pointed at another's pages (SQLite's file)"; then
    sql "CREATE INDEX hide ON timers(case_id, event) WHERE rowid <> $(sql "SELECT max(rowid) FROM timers")"
    sql "PRAGMA writable_schema=ON; UPDATE sqlite_schema SET rootpage =
         (SELECT rootpage FROM sqlite_schema WHERE name='hide') WHERE name='sqlite_autoindex_timers_1';
         DELETE FROM sqlite_schema WHERE name='hide'"
fi
hidden timers "a planted timer"
# A case put back to an older revision, its newest history kept out of the
# indexes the newest digest is read through.
old=$(sql "SELECT max(seq) FROM events")
expect_exit 0 cf --actor officer1 act "$C" authorisation.applied --data "$applied"
if is_pg_store "$DB"; then
    # the case's rows copied back from the saved database
    for t in cases:id tasks:case_id notifications:case_id keys:case_id timers:case_id; do
        e2e_psql -d "$(store_saved "$DB" idx)" -c "COPY (SELECT * FROM ${t%%:*} WHERE ${t#*:} = '$C') TO STDOUT" \
            >"$E2E_TMP/rows.copy"
        sql "DELETE FROM ${t%%:*} WHERE ${t#*:} = '$C'"
        e2e_psql -d "$DB" -c "SET session_replication_role = replica" -c "COPY ${t%%:*} FROM STDIN" \
            <"$E2E_TMP/rows.copy"
    done
else
sql "ATTACH '$E2E_TMP/idx.db' AS o; BEGIN;
     DELETE FROM cases WHERE id='$C'; INSERT INTO cases SELECT * FROM o.cases WHERE id='$C';
     DELETE FROM tasks WHERE case_id='$C'; INSERT INTO tasks SELECT * FROM o.tasks WHERE case_id='$C';
     DELETE FROM notifications WHERE case_id='$C';
     INSERT INTO notifications SELECT * FROM o.notifications WHERE case_id='$C';
     DELETE FROM keys WHERE case_id='$C'; INSERT INTO keys SELECT * FROM o.keys WHERE case_id='$C';
     DELETE FROM timers WHERE case_id='$C'; INSERT INTO timers SELECT * FROM o.timers WHERE case_id='$C';
     COMMIT"
fi
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "$C" "a case put back to an older revision is found"
if on_sqlite "the newest history kept out of its indexes (SQLite's schema table)"; then
    hide events_case_at "seq <= $old"
    hide events_case "seq <= $old"
    hidden events "a rolled-back case's newest history"
else
    store_restore "$DB" idx
fi
# A planted notification kept out of its index, and a forged sqlite_stat1
# that steers a rowid read (the second review's attack): an act that adds a
# notification reads the case's notifications once to check the case and
# again to hash on; if the second read saw a row the first did not, the
# planted row would be chained into the case's digest and verify would pass
# once the index is rebuilt and the statistics dropped.
expect_exit 0 cf --actor officer1 act "$C" authorisation.applied --data "$applied"
sql "INSERT INTO notifications(${SEQ}case_id, channel, payload, created_at) VALUES(${NEXT_NOTE}'$C', 'email', '{\"planted\":true}', 0)"
planted=$(sql "SELECT max(seq) FROM notifications")
hide notifications_case "seq <> $planted"
if on_sqlite "sqlite_stat1 steers SQLite's planner"; then
    sql "ANALYZE; DELETE FROM sqlite_stat1 WHERE tbl='notifications';
         INSERT INTO sqlite_stat1 VALUES('notifications', 'notifications_case', '1000000 1000000'),
                                        ('notifications', NULL, '1000000')"
fi
cf --actor authoriser1 act "$C" authorisation.granted --data "$granted" || true
if on_sqlite "the index rebuilt and SQLite's statistics dropped"; then
    sql "REINDEX notifications_case; DELETE FROM sqlite_stat1"
fi
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "$C" "a planted notification is not laundered into the case's digest by the next act"
store_restore "$DB" idx
# --chain-only says the tables were not checked.
expect_exit 0 cf --actor admin --json audit verify --chain-only
assert_jq "$OUT" '.ok == true and .tables == "not checked"' "a chain-only verify says the tables were not checked"
expect_exit 0 cf --actor admin --json audit verify
assert_jq "$OUT" '.ok == true and (.tables.cases | type) == "number"' "a full verify reports the tables it checked"
store_restore "$DB" clean

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
T=$(store_for tick)
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
if on_sqlite "the mode of the store's file"; then
    W="$E2E_TMP/open.db"
    : >"$W"
    chmod 666 "$W"
    expect_exit 0 cf --actor admin --store "$W" init --test-clock
    assert_eq 600 "$(stat -c %a "$W")" "init makes an existing file 0600"
fi

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
