#!/bin/bash
# What a checkpoint signs cannot be steered by a doctored index. Before a
# checkpoint, the engine walks the history rows written since the last one;
# where that walk starts is found through the events.audit_seq index (so a
# checkpoint costs what it signs, not the store). An intruder who edits a
# history row and then one byte of that index, so the walk starts past the
# row, must still be refused: the walk reads exactly as many rows as the
# chain has history records after the checkpoint, in their order.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

setup_store
DB=$CASEFLOW_STORE
export CASEFLOW_REASON="e2e test"
q() {
    if is_pg_store "$DB"; then store_sql "$DB" "$1"; else sqlite3 -batch "$DB" "$1"; fi
}
expect_exit 0 cf --actor admin policy set checkpoint_interval 6
for i in 1 2 3; do
    new_case "WALK-$i" >/dev/null
done
cp=$(q "SELECT max(seq) FROM checkpoints")
first=$(q "SELECT min(seq) FROM events WHERE audit_seq > $cp")
aseq=$(q "SELECT audit_seq FROM events WHERE seq = $first")
[ -n "$first" ] && [ "$aseq" -lt 128 ] && ok "a history row after checkpoint $cp (row $first)" ||
    not_ok "no history row after the last checkpoint, or its record is past 127"

# The intruder: forge the row, then make its index entry say an older record.
# (On PostgreSQL the row is forged, as a superuser with the store's
# triggers off, and the walk must find it; an index of PostgreSQL cannot be
# edited byte by byte while the server runs, so its entry stays true.)
if ! on_sqlite "the index entry edited in SQLite's file"; then
    store_tamper "$DB" "UPDATE events SET outcome = 'forged' WHERE seq = $first" >/dev/null
else
sqlite3 -batch "$DB" "UPDATE events SET outcome = 'forged' WHERE seq = $first;
                      PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
python3 - "$DB" "$first" "$aseq" <<'PY'
import sqlite3, sys
path, rowid, aseq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = sqlite3.connect(path)
root, = db.execute("SELECT rootpage FROM sqlite_master"
                   " WHERE name = 'sqlite_autoindex_events_1'").fetchone()
size, = db.execute("PRAGMA page_size").fetchone()
db.close()
with open(path, "r+b") as f:
    f.seek((root - 1) * size)
    page = bytearray(f.read(size))
    # the index record (audit_seq, rowid): header 3, an int8, the rowid
    rid = bytes([9]) if rowid == 1 else bytes([1])
    cell = bytes([3, 1]) + rid + bytes([aseq]) + (b"" if rowid == 1 else bytes([rowid]))
    at = page.find(cell)
    if at < 0:
        sys.exit("index cell not found")
    page[at + 3] = 1  # audit_seq 1: before the checkpoint
    f.seek((root - 1) * size)
    f.write(bytes(page))
PY
assert_eq 0 "$?" "the index entry of the forged row now says record 1"
fi

before=$(q "SELECT count(*) FROM checkpoints")
referral WALK-4 >"$E2E_TMP/walk4.json"
expect_exit 65 cf --actor analyst1 refer --json "$E2E_TMP/walk4.json"
# (on PostgreSQL the walk reaches the forged row itself, the index true)
walk_msg="history row(s) after checkpoint"
is_pg_store "$DB" && walk_msg="does not match its audit record"
grep -q "$walk_msg" "$ERR" &&
    ok "the walk counts the rows: $(head -1 "$ERR")" ||
    not_ok "refused for another reason: $(cat "$ERR")"
assert_eq "$before" "$(q "SELECT count(*) FROM checkpoints")" \
    "no checkpoint signed over the forged row"
expect_exit 65 cf --actor admin audit verify
finish
