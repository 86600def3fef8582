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
expect_exit 0 cf --actor admin policy set checkpoint_interval 6
for i in 1 2 3; do
    new_case "WALK-$i" >/dev/null
done
cp=$(sqlite3 -batch "$DB" "SELECT max(seq) FROM checkpoints")
first=$(sqlite3 -batch "$DB" "SELECT min(seq) FROM events WHERE audit_seq > $cp")
aseq=$(sqlite3 -batch "$DB" "SELECT audit_seq FROM events WHERE seq = $first")
[ -n "$first" ] && [ "$aseq" -lt 128 ] && ok "a history row after checkpoint $cp (row $first)" ||
    not_ok "no history row after the last checkpoint, or its record is past 127"

# The intruder: forge the row, then make its index entry say an older record.
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

before=$(sqlite3 -batch "$DB" "SELECT count(*) FROM checkpoints")
referral WALK-4 >"$E2E_TMP/walk4.json"
expect_exit 65 cf --actor analyst1 refer --json "$E2E_TMP/walk4.json"
grep -q "history row(s) after checkpoint" "$ERR" &&
    ok "the walk counts the rows: $(head -1 "$ERR")" ||
    not_ok "refused for another reason: $(cat "$ERR")"
assert_eq "$before" "$(sqlite3 -batch "$DB" "SELECT count(*) FROM checkpoints")" \
    "no checkpoint signed over the forged row"
expect_exit 65 cf --actor admin audit verify
finish
