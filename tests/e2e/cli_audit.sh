#!/bin/bash
# End-to-end: the records a court and a commissioner rely on. Signed
# checkpoints, an export verified on "another machine" (no store) by caseflow
# and by ordinary tools (jq, sha256sum, openssl), tampering found, reads
# without a justification refused, retention decisions through the command,
# the report and the workflow graph.
. "$(dirname "$0")/lib.sh"

export CASEFLOW_NOW=2026-11-02T10:00:00Z
setup_store
KEY=$(store_key "$CASEFLOW_STORE")
KEYS=$(dirname "$KEY")
PUB="$KEY.pub"

# init made a private signing key and a public key apart from the store, in
# a directory only its owner may enter.
assert_eq 700 "$(stat -c %a "$KEYS")" "the key directory is 0700"
assert_eq 600 "$(stat -c %a "$KEY")" "secret key is 0600"
if on_sqlite "the mode of the store's file"; then
    assert_eq 600 "$(stat -c %a "$CASEFLOW_STORE")" "store is 0600"
fi
assert_eq 64 "$(tr -d '\n' <"$PUB" | wc -c)" "public key is 64 hex characters"
expect_exit 0 cf --actor admin init                          # idempotent
# A new store never overwrites an existing key file.
SECOND=$(store_for second)
expect_exit 65 cf --actor admin --store "$SECOND" --signing-key "$PUB" init --test-clock
assert_eq 64 "$(tr -d '\n' <"$PUB" | wc -c)" "the existing public key is untouched"
if is_pg_store "$SECOND"; then
    # the database exists (store_for made it): no schema, or no administrator
    n=$(store_sql "$SECOND" "SELECT CASE WHEN to_regclass('caseflow.users') IS NULL THEN 0 ELSE 1 END")
    [ "$n" = 1 ] && n=$(store_sql "$SECOND" "SELECT count(*) FROM users")
    assert_eq 0 "$n" "the failed init left no administrator"
elif [ -e "$SECOND" ]; then
    expect_exit 0 sqlite3 "$SECOND" "SELECT count(*) FROM users"
    assert_eq 0 "$(cat "$OUT")" "the failed init left no administrator"
fi

id=$(new_case AUD-1)
expect_exit 0 cf --actor officer1 act "$id" authorisation.applied \
    --data '{"necessity":"to identify the subscriber","proportionality":"least intrusive"}'

# Reads need a justification.
expect_exit 64 cf --actor officer1 show "$id"
assert_contains "$ERR" "--reason" "the refusal says how to give a reason"
expect_exit 64 cf --actor officer1 list
expect_exit 64 cf --actor officer1 history "$id"
expect_exit 64 cf --actor officer1 report
expect_exit 0 cf --actor officer1 --reason "case review" show "$id"
reason=$(store_sql "SELECT justification FROM audit WHERE action='consultation' ORDER BY seq DESC LIMIT 1")
assert_eq "case review" "$reason" "the read's justification is in the audit trail"

# Checkpoints: only administrators write them on demand.
expect_exit 77 cf --actor officer1 audit checkpoint
expect_exit 0 cf --actor admin --json audit checkpoint
signed=$(jq .signed_seq "$OUT")
expect_exit 0 cf --actor admin --json audit verify --key "$PUB"
assert_jq "$OUT" ".ok == true and .checkpoints == 1 and .last_signed_seq == $signed" "verify counts the checkpoint"
assert_jq "$OUT" ".tables.cases == 1 and .tables.users == 6" "verify checks the tables"

# Another key pins nothing of ours.
OTHER=$(store_for other)
cf --actor admin init --test-clock --store "$OTHER" >/dev/null
expect_exit 65 cf --actor admin audit verify --key "$(store_key "$OTHER").pub"

# Export: administrators only, private, never over a file, itself audited.
expect_exit 77 cf --actor officer1 audit export --output "$E2E_TMP/x.jsonl"
expect_exit 0 cf --actor admin audit export --output "$E2E_TMP/export.jsonl"
assert_eq 600 "$(stat -c %a "$E2E_TMP/export.jsonl")" "export is 0600"
expect_exit 65 cf --actor admin audit export --output "$E2E_TMP/export.jsonl"
assert_eq disclosure "$(store_sql "SELECT action FROM audit ORDER BY seq DESC LIMIT 1 OFFSET 1")" \
    "the export is recorded as a disclosure"
assert_eq checkpoint "$(store_sql "SELECT action FROM audit ORDER BY seq DESC LIMIT 1")" \
    "and then signed, so the export is covered to its end"

# Verified elsewhere: no store, only the file and the public key.
cp "$PUB" "$E2E_TMP/inspector.pub"
expect_exit 0 env -u CASEFLOW_STORE "$CASEFLOW_BIN" --store /nonexistent.db --json \
    audit verify --file "$E2E_TMP/export.jsonl" --key "$E2E_TMP/inspector.pub"
assert_jq "$OUT" '.ok == true and .checkpoints == 2 and .unsigned_tail == 0' \
    "the export verifies offline, signed to its end"
expect_exit 65 cf audit verify --file "$E2E_TMP/export.jsonl"   # no key: checkpoint unchecked

# ... and with ordinary tools, as docs/audit.md shows.
bad=0
tail -n +2 "$E2E_TMP/export.jsonl" | jq -c 'select(.seq)' >"$E2E_TMP/records"
while read -r r; do
    line=$(printf '%s' "$r" | jq -c '[.seq,.at,.actor,.role,.action,.case,.justification,.digest,.prev]')
    [ "$(printf '%s' "$line" | sha256sum | cut -d' ' -f1)" = "$(printf '%s' "$r" | jq -r .hash)" ] || bad=$((bad + 1))
done <"$E2E_TMP/records"
assert_eq 0 "$bad" "sha256sum over each canonical line gives its hash"
if command -v openssl >/dev/null && command -v xxd >/dev/null; then
    printf '302a300506032b6570032100%s' "$(cat "$PUB")" | xxd -r -p |
        openssl pkey -pubin -inform DER -out "$E2E_TMP/pub.pem"
    c=$(grep '"checkpoint"' "$E2E_TMP/export.jsonl" | tail -1)
    printf 'caseflow-checkpoint-v1\n%s\n%s\n%s\n%s\n' "$(head -1 "$E2E_TMP/export.jsonl" | jq -r .store_id)" \
        "$(printf '%s' "$c" | jq .checkpoint.signed_seq)" "$(printf '%s' "$c" | jq -r .checkpoint.head)" \
        "$(printf '%s' "$c" | jq .checkpoint.at)" >"$E2E_TMP/msg"
    printf '%s' "$c" | jq -r .checkpoint.signature | xxd -r -p >"$E2E_TMP/sig"
    if openssl pkeyutl -verify -pubin -inkey "$E2E_TMP/pub.pem" -rawin -in "$E2E_TMP/msg" \
        -sigfile "$E2E_TMP/sig" >/dev/null 2>&1; then
        ok "openssl verifies the checkpoint signature"
    else
        not_ok "openssl verifies the checkpoint signature"
    fi
else
    echo "# openssl or xxd missing: signature checked by caseflow only"
fi

# One byte changed in the export is found.
sed 's/"actor":"officer1"/"actor":"officer2"/' "$E2E_TMP/export.jsonl" >"$E2E_TMP/tampered.jsonl"
expect_exit 65 cf audit verify --file "$E2E_TMP/tampered.jsonl" --key "$PUB"
assert_contains "$ERR" "altered" "the tampered record is named"

# A case row edited behind the engine's back is found.
store_save "$CASEFLOW_STORE" pristine
store_tamper "UPDATE cases SET state='closed' WHERE id='$id'"
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "cases" "verify names the table"
store_restore "$CASEFLOW_STORE" pristine

# Policy: administrators may let reads go without a reason; it is audited.
expect_exit 77 cf --actor officer1 policy set require_reason false
expect_exit 65 cf --actor admin policy set require_reason perhaps
expect_exit 0 cf --actor admin policy set require_reason false
expect_exit 0 cf --actor officer1 show "$id"
expect_exit 0 cf --actor admin policy set require_reason true
expect_exit 0 cf --actor admin --json policy show
assert_jq "$OUT" '.require_reason == "true"' "policy show"

# Retention: an authorisation refused closes the case with a review date.
expect_exit 0 cf --actor authoriser1 act "$id" authorisation.refused --data '{"reason":"not necessary"}'
expect_exit 64 cf --actor admin --json retention due                    # a read: no reason
expect_exit 0 cf --actor admin --reason "MoPI review" --json retention due
assert_jq "$OUT" 'length == 0' "not due yet"
export CASEFLOW_NOW=2030-01-01T00:00:00Z
expect_exit 0 cf --actor admin --reason "MoPI review" --json retention due
assert_jq "$OUT" "length == 1 and .[0].id == \"$id\"" "due after its class's period"
expect_exit 64 cf --actor admin retention keep "$id"                      # no reason
expect_exit 0 cf --actor admin --reason "linked intelligence" retention keep "$id" --until 2031-01-01
expect_exit 65 cf --actor admin --reason "tidy" retention dispose "$id"   # not due
export CASEFLOW_NOW=2031-06-01T00:00:00Z
expect_exit 0 cf --actor admin --reason "civil claim" retention hold "$id"
expect_exit 77 cf --actor admin --reason "review" retention dispose "$id"
expect_exit 0 cf --actor admin --reason "claim settled" retention release "$id"
expect_exit 0 cf --actor admin --reason "MoPI review: no policing purpose" retention dispose "$id"
expect_exit 0 cf --actor admin --reason "check" --json show "$id"
assert_jq "$OUT" '.data.disposed == true and (.data | has("referral") | not)' "personal data erased"
expect_exit 0 cf --actor admin --json audit verify --key "$PUB"
assert_jq "$OUT" '.ok == true' "the chain and tables verify after lawful deletion"

# The report and the graph.
expect_exit 0 cf --actor supervisor1 --reason "monthly return" --json report --since 2026-11-01
assert_jq "$OUT" '.by_outcome.authorisation_refused == 1 and (.routes | has("visit"))' "report"
expect_exit 0 cf --actor supervisor1 workflow graph polit
assert_contains "$OUT" 'digraph "polit_v1"' "graph is DOT"
expect_exit 69 cf --actor supervisor1 workflow graph nosuch

finish
