#!/bin/bash
# The stored workflow a command runs (issue 11, item 3): a command checks
# the stored bundle against the hash beside it, by the hash of the stored
# text when that matches (the canonical text deploy wrote) and else by its
# canonical form, and the row against its deploy record in the chain. What
# an intruder with write access to the store would try first:
#  - the source edited, hash left: refused, nothing changed;
#  - the source edited and the hash recomputed over the new text: the deploy
#    record no longer matches, refused (65) and an alarm raised;
#  - the same bundle in another layout (as an older caseflow may have
#    written it), hash left: the canonical form matches, the act runs.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_store
DB="$CASEFLOW_STORE"
A=$(new_case E2E-STORED-A)
[ -n "$A" ] && [ "$A" != null ] || { echo "Bail out! cannot refer"; exit 99; }
applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
# (the intruder's writes, around the store's refusals: store_tamper)
sql() { store_tamper "$DB" "$1"; }
CLEAN=$(store_for clean)
restore() {
    store_copy "$CLEAN" "$DB"
}
expect_exit 0 cf --actor admin audit verify
store_copy "$DB" "$CLEAN"

# ---- the source edited, the hash left ------------------------------------------------------
sql "UPDATE workflows SET bundle = replace(bundle, 'officer', 'analyst')"
snapshot edited
expect_exit 74 cf --actor officer1 act "$A" authorisation.applied --data "$applied"
assert_contains "$ERR" "stored source does not match its hash" "an edited source is refused"
assert_unchanged edited "the refused act on an edited source"
restore

# ---- the source edited and its hash recomputed over the new text ----------------------------
if is_pg_store "$DB"; then
    sql "UPDATE workflows SET bundle = replace(bundle, 'officer', 'analyst'),
        hash = encode(sha256(convert_to(replace(bundle, 'officer', 'analyst'), 'UTF8')), 'hex')" ||
        { echo "Bail out! cannot edit the store"; exit 99; }
else
    python3 - "$DB" <<'EOF' || { echo "Bail out! python3 cannot edit the store"; exit 99; }
import hashlib, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
(text,) = db.execute("SELECT bundle FROM workflows").fetchone()
text = text.replace("officer", "analyst")
db.execute("UPDATE workflows SET bundle = ?, hash = ?",
           (text, hashlib.sha256(text.encode()).hexdigest()))
db.commit()
EOF
fi
expect_exit 65 cf --actor officer1 act "$A" authorisation.applied --data "$applied"
assert_eq 1 "$(sql "SELECT count(*) FROM audit WHERE action = 'integrity.alarm'")" \
    "a source and hash rewritten together raise the alarm"
expect_exit 65 cf --actor admin audit verify
restore

# ---- the same bundle in another layout, the hash left ---------------------------------------
sql "UPDATE workflows SET bundle = '{ ' || substr(bundle, 2)"
assert_eq 0 "$(sql "SELECT count(*) FROM workflows WHERE substr(bundle, 1, 2) <> '{ '")" \
    "the stored text is no longer the canonical text"
expect_exit 0 cf --actor officer1 act "$A" authorisation.applied --data "$applied"
ok "a bundle in another layout with the same content runs"
finish
