#!/bin/bash
# Nothing lost on a full disk or a read-only store (issue 4). As root, on a
# small tmpfs mounted here (skipped, 77, where mount is not permitted):
#  - a bulk import that fills the filesystem fails with exit 74 and one line
#    "caseflow: ..."; afterwards (space freed) the store opens, `audit
#    verify` passes, every referral reported as saved is there, and the same
#    bulk again completes the import idempotently;
#  - on the filesystem remounted read-only, every write fails with 74 and one
#    line, reads that write nothing still work, and nothing changes.
# The mount is undone in the EXIT trap.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
# (It ran on a SQLite file on the small filesystem even under make check-pg.)
sqlite_only "a full or read-only filesystem under a PostgreSQL store is the server's, not the command's: the store's file on a small tmpfs is SQLite's case"

if [ "$(id -u)" != 0 ]; then
    echo "# SKIP: needs root to mount a small tmpfs"
    exit 77
fi
MNT="$E2E_TMP/mnt"
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=48m,mode=0700 caseflow-e2e "$MNT" 2>"$E2E_TMP/mount.err"; then
    echo "# SKIP: cannot mount a tmpfs here: $(head -n 1 "$E2E_TMP/mount.err")"
    exit 77
fi
cleanup() {
    mountpoint -q "$MNT" && umount "$MNT"
    mountpoint -q "$MNT" && umount -l "$MNT"
    rm -rf "$E2E_TMP"
}
trap cleanup EXIT

DB="$MNT/caseflow.db"
export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_store "$DB"
BASE=$(new_case E2E-DISK-BASE)
assert_eq authorisation "$(case_field "$BASE" .state)" "a case on the small filesystem"

sql() {
    sqlite3 -batch "$DB" "$@"
}

# ---- full disk -------------------------------------------------------------------------
# Fill all but about 4 MiB with a file the test can free again: room for
# a batch or two of the import (1000 referrals each), not for all of it.
dd if=/dev/zero of="$MNT/filler" bs=64k 2>/dev/null
truncate -s -4M "$MNT/filler"
echo "# free before the import: $(df -k --output=avail "$MNT" | tail -n 1) KiB"
referrals E2E-DISK 6000 >"$E2E_TMP/bulk.jsonl"
cf --actor analyst1 refer --json "$E2E_TMP/bulk.jsonl" >"$E2E_TMP/import.out" 2>"$ERR"
st=$?
assert_eq 74 "$st" "an import that fills the filesystem: exit 74"
assert_eq 1 "$(wc -l <"$ERR")" "an import that fills the filesystem: one error line"
assert_contains "$ERR" "caseflow: " "the error line starts with caseflow:"
echo "# $(cat "$ERR")"
jq -R -c 'fromjson? | select(.id != null)' "$E2E_TMP/import.out" >"$E2E_TMP/printed.json"
saved=$(wc -l <"$E2E_TMP/printed.json")
echo "# $saved referrals reported saved before the disk was full"

# the store as it is, on the full filesystem: it still opens and verifies
expect_exit 0 cf --actor admin audit verify
# free the space
rm -f "$MNT/filler"
expect_exit 0 cf --actor admin audit verify
if [ "$saved" -gt 0 ]; then
    pairs=$(paste -d' ' <(jq -r .id "$E2E_TMP/printed.json") <(head -n "$saved" "$E2E_TMP/bulk.jsonl" | jq -r .reference) |
        awk '{ printf "%s(\x27%s\x27, \x27%s\x27)", (NR > 1 ? "," : ""), $1, $2 }')
    missing=$(sql "WITH v(id, ref) AS (VALUES $pairs)
        SELECT count(*) FROM v LEFT JOIN cases c ON c.id = v.id AND c.reference = v.ref WHERE c.id IS NULL")
    assert_eq 0 "$missing" "every one of the $saved referrals reported saved is stored"
fi
assert_eq authorisation "$(case_field "$BASE" .state)" "the earlier case is intact"
bad=$(sql "SELECT count(*) FROM cases c WHERE (SELECT count(*) FROM events e WHERE e.case_id = c.id) != c.revision + 1")
assert_eq 0 "$bad" "no case is half-written"
# the rest of the import, now that there is room
before=$(sql "SELECT count(*) FROM cases WHERE reference GLOB 'E2E-DISK-[0-9]*'")
expect_exit 0 cf --actor analyst1 refer --json "$E2E_TMP/bulk.jsonl"
assert_eq "$before" "$(jq -s 'map(select(.created == false)) | length' "$OUT")" \
    "the import again: the $before referrals saved before are found"
assert_eq 6000 "$(sql "SELECT count(DISTINCT reference) FROM cases WHERE reference GLOB 'E2E-DISK-[0-9]*'")" \
    "the import again: every referral once"
expect_exit 0 cf --actor admin audit verify

# ---- read-only ---------------------------------------------------------------------------
applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
# An archive copied while a commit was still in the write-ahead log: the
# store file and its -wal, taken while another connection held the store
# open (so the log was not folded in).
ARCH="$MNT/archive"
mkdir -p "$ARCH"
cat >"$E2E_TMP/archive.sh" <<EOF
"$CASEFLOW_BIN" --store "$DB" --actor officer1 act "$BASE" authorisation.applied --data '$applied' >/dev/null &&
    cp "$DB" "$ARCH/archived.db" && cp "$DB-wal" "$ARCH/archived.db-wal"
EOF
sqlite3 "$DB" "PRAGMA wal_autocheckpoint=0" "SELECT count(*) FROM meta" \
    ".shell sh $E2E_TMP/archive.sh" >/dev/null
if [ -s "$ARCH/archived.db-wal" ]; then
    ok "an archive with a non-empty write-ahead log"
else
    not_ok "could not make an archive with a write-ahead log"
fi
# the file alone holds everything before the filesystem turns read-only
sqlite3 "$DB" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
ro_dump() {
    sqlite3 "file:$DB?immutable=1" .dump 2>&1 | md5sum
}
sum=$(ro_dump)
listing() {
    find "$MNT" -maxdepth 1 -type f -printf '%f %s %T@ %m\n' | sort | md5sum
}
files=$(listing)
if ! mount -o remount,ro "$MNT" 2>"$E2E_TMP/mount.err"; then
    echo "# cannot remount read-only: $(head -n 1 "$E2E_TMP/mount.err"): read-only tests skipped"
    finish
fi
ro_refused() {
    local what=$1
    shift
    "$@" >"$OUT" 2>"$ERR" </dev/null
    local got=$?
    if [ "$got" = 74 ] && [ "$(wc -l <"$ERR")" = 1 ] && grep -q '^caseflow: ' "$ERR"; then
        ok "read-only: $what: exit 74: $(cut -c1-100 "$ERR")"
    else
        not_ok "read-only: $what: exit 74 with one error line (got $got)"
        show_output
    fi
}
ro_refused "refer" cf --actor analyst1 refer "$DATA/good-oneline.json"
ro_refused "bulk refer" cf --actor analyst1 refer "$E2E_TMP/bulk.jsonl"
ro_refused "act" cf --actor officer1 act "$BASE" authorisation.applied --data "$applied"
ro_refused "user add" cf --actor admin user add officer9 --role officer
cp "$CASEFLOW_SRCDIR/tests/data/engine/flow.lua" "$E2E_TMP/flow.lua"
ro_refused "workflow deploy" cf --actor admin --reason "e2e test" workflow deploy --yes "$E2E_TMP/flow.lua"
ro_refused "user disable" cf --actor admin user disable officer2
# commands with nothing to write (init of an initialised store, deploying
# what is deployed, a tick with no timer due) may succeed or say 74
for cmd in init "workflow deploy --reason e2e --yes $POLIT" tick; do
    # shellcheck disable=SC2086 # the command's words
    "$CASEFLOW_BIN" --actor admin $cmd >"$OUT" 2>"$ERR"
    st=$?
    if [ "$st" = 0 ] || { [ "$st" = 74 ] && [ "$(wc -l <"$ERR")" = 1 ]; }; then
        ok "read-only: $cmd: exit $st"
    else
        not_ok "read-only: $cmd: exit 0 or 74 with one line (got $st)"
        show_output
    fi
done
# reads that write nothing work: an inspector verifies an archived store on
# read-only media (cf_open_options.readonly exists for this)
expect_exit 0 cf --actor admin audit verify
# ... but an archive whose write-ahead log cannot be applied there is not
# verified without it (it used to be ignored silently, and a tampered log
# with it)
ro_refused "verify of an archive with a write-ahead log" \
    cf --store "$ARCH/archived.db" audit verify
assert_contains "$ERR" "write-ahead log" "the refusal names the write-ahead log"
"$CASEFLOW_BIN" --actor supervisor1 --reason "e2e read-only" show --json "$BASE" >"$OUT" 2>"$ERR"
st=$?
if [ "$st" = 0 ]; then
    assert_jq "$OUT" ".id == \"$BASE\"" "read-only: show works"
elif [ "$st" = 74 ] && [ "$(wc -l <"$ERR")" = 1 ]; then
    ok "read-only: show, an audited read, is refused with 74: $(cat "$ERR")"
else
    not_ok "read-only: show: exit 0 or 74 with one line (got $st)"
    show_output
fi
assert_eq "$sum" "$(ro_dump)" "read-only: the store is unchanged (sqlite3 .dump)"
mount -o remount,rw "$MNT"
assert_eq "$files" "$(listing)" "read-only: no file beside the store changed"
expect_exit 0 cf --actor admin audit verify
finish
