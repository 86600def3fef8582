#!/bin/bash
# Nothing lost to crashes (issue 4): many rounds of a bulk `caseflow refer`
# of 1500 JSON lines, and of a loop of `act` commands, each killed
# with SIGKILL at a random moment. After every round:
#  - every referral whose result line was printed (refer prints a batch's
#    lines only after the commit that made them durable) is present, under
#    the id printed, exactly once;
#  - every act whose result line was printed is in the case's revision;
#  - no case is half-changed: its state is one it may rest in, its history
#    holds revision + 1 events (referral.received, then one per command)
#    ending in that state (SQL over every case, and show/history --json on
#    a sample);
#  - `audit verify` passes.
# At the end each bulk file is run again to completion: the referrals taken
# before are found (created=false), the rest created, one case per reference.
# No timing assertion: the random kill moments only change what is checked.
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROBUST_CRASH_ROUNDS:-10}
FILES=$(((ROUNDS + 1) / 2)) # each bulk file is killed twice, then run again
LINES=1500
DB=$CASEFLOW_STORE
setup_store "$DB"
RANDOM=$$ # a different schedule each run; print it for a rerun
echo "# random seed $$ (set RANDOM=$$ in the script to replay)"

for k in $(seq 1 $FILES); do
    referrals "E2E-CRASH-$k" $LINES >"$E2E_TMP/bulk$k.jsonl"
done

# A random pause of 0.000 to 0.599 s (refer of 1500 lines takes about as
# long on an idle machine, so the kill lands before, inside or after it).
pause() {
    sleep "0.$((RANDOM % 6))$((RANDOM % 10))$((RANDOM % 10))"
}

# kill_tree PID: SIGKILL a background job and the caseflow it runs now
# (looked up by parent pid, never by name). The job is stopped first, so it
# cannot start another caseflow between the look-up and the kill (one left
# running would hold the store while the checks below read it).
kill_tree() {
    local pid=$1 kids
    kill -STOP "$pid" 2>/dev/null
    kids=$(ps -o pid= --ppid "$pid" 2>/dev/null)
    # shellcheck disable=SC2086 # a list of pids
    [ -n "$kids" ] && kill -9 $kids 2>/dev/null
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

sql() {
    if is_pg_store "$DB"; then
        store_sql "$DB" "$@"
    else
        sqlite3 -batch -cmd ".timeout 10000" "$DB" "$@"
    fi
}

# The invariants every round must keep.
check_store() {
    local what=$1 bad ids
    bad=$(sql "SELECT count(*) FROM (SELECT source, reference FROM cases GROUP BY 1, 2 HAVING count(*) > 1) d")
    assert_eq 0 "$bad" "$what: no referral is stored twice"
    bad=$(sql "SELECT id || ' ' || state || ' rev ' || revision FROM cases c
        WHERE c.state NOT IN ('authorisation')
           OR (SELECT count(*) FROM events e WHERE e.case_id = c.id) != c.revision + 1
           OR (SELECT to_state FROM events e WHERE e.case_id = c.id ORDER BY seq DESC LIMIT 1) != c.state
        LIMIT 5")
    assert_eq "" "$bad" "$what: every case at rest, its history revision + 1 events ending in its state"
    ids=$(sql "SELECT id FROM cases ORDER BY random() LIMIT 3")
    for id in $ids; do
        cf --actor supervisor1 --reason "e2e crash check" show --json "$id" >"$E2E_TMP/show.json" &&
            cf --actor supervisor1 --reason "e2e crash check" history --json "$id" >"$E2E_TMP/hist.json"
        if jq -e --slurpfile h "$E2E_TMP/hist.json" \
            '.state == "authorisation" and ($h[0] | length) == .revision + 1 and $h[0][-1].to == .state' \
            "$E2E_TMP/show.json" >/dev/null; then
            ok "$what: $id: show and history agree"
        else
            not_ok "$what: $id: show and history disagree"
        fi
    done
    expect_exit 0 cf --actor admin audit verify
}

# check_printed OUT FILE: each complete result line of OUT names the case
# of the referral on the same line of FILE.
check_printed() {
    local out=$1 file=$2 what=$3 n pairs missing
    jq -R -c 'fromjson? | select(type == "object" and .id != null)' "$out" >"$E2E_TMP/printed.json"
    n=$(wc -l <"$E2E_TMP/printed.json")
    if [ "$n" = 0 ]; then
        ok "$what: nothing printed, nothing to find"
        return
    fi
    pairs=$(paste -d' ' <(jq -r .id "$E2E_TMP/printed.json") <(head -n "$n" "$file" | jq -r .reference) |
        awk '{ printf "%s(\x27%s\x27, \x27%s\x27)", (NR > 1 ? "," : ""), $1, $2 }')
    missing=$(sql "WITH v(id, ref) AS (VALUES $pairs)
        SELECT count(*) FROM v LEFT JOIN cases c ON c.id = v.id AND c.reference = v.ref
        WHERE c.id IS NULL")
    assert_eq 0 "$missing" "$what: all $n printed referrals are stored under the printed ids"
}

# ---- bulk refer, killed --------------------------------------------------------------
for r in $(seq 1 "$ROUNDS"); do
    k=$(((r + 1) / 2))
    out="$E2E_TMP/refer$r.out"
    cf --actor analyst1 refer --json "$E2E_TMP/bulk$k.jsonl" >"$out" 2>"$E2E_TMP/refer$r.err" &
    pid=$!
    pause
    kill_tree "$pid"
    echo "# round $r: bulk$k, $(wc -l <"$out") lines printed before the kill"
    check_printed "$out" "$E2E_TMP/bulk$k.jsonl" "refer round $r"
    check_store "refer round $r"
done

# ---- acts, killed ---------------------------------------------------------------------
applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
# A slow build (sanitizers) may have been killed before any batch committed:
# make sure there are cases to act on, from bulk1's own referrals (so the
# final re-run still counts every reference once).
if [ "$(sql "SELECT count(*) FROM cases")" -lt 12 ]; then
    head -n 12 "$E2E_TMP/bulk1.jsonl" | cf --actor analyst1 refer >/dev/null
fi
mapfile -t CASES < <(sql "SELECT id FROM cases ORDER BY seq LIMIT 12")
assert_eq 12 "${#CASES[@]}" "cases to act on"
for r in $(seq 1 "$ROUNDS"); do
    out="$E2E_TMP/act$r.out"
    (
        for rep in 1 2 3 4; do
            for id in "${CASES[@]}"; do
                "$CASEFLOW_BIN" --actor officer1 act "$id" authorisation.applied --data "$applied" || exit 1
            done
        done
    ) >"$out" 2>"$E2E_TMP/act$r.err" &
    pid=$!
    pause
    kill_tree "$pid"
    echo "# act round $r: $(grep -c . "$out") acts printed before the kill"
    # every printed act is in its case; at most the one killed in flight
    # committed without a line
    bad=0
    for id in "${CASES[@]}"; do
        printed=$(awk -v id="$id" '$1 == id && /\(revision [0-9]+\)$/ { gsub(/[^0-9]/, "", $NF); r = $NF } END { print r + 0 }' "$out")
        stored=$(sql "SELECT revision FROM cases WHERE id = '$id'")
        if [ "$printed" -gt 0 ] && { [ "$stored" -lt "$printed" ] || [ "$stored" -gt $((printed + 1)) ]; }; then
            not_ok "act round $r: $id printed revision $printed, stored $stored"
            bad=1
        fi
    done
    [ "$bad" = 0 ] && ok "act round $r: every printed act is stored"
    check_store "act round $r"
done

# ---- each bulk file again, to the end -----------------------------------------------------
for k in $(seq 1 $FILES); do
    before=$(sql "SELECT count(*) FROM cases WHERE reference LIKE 'E2E-CRASH-$k-%'")
    expect_exit 0 cf --actor analyst1 refer --json "$E2E_TMP/bulk$k.jsonl"
    assert_eq $LINES "$(wc -l <"$OUT")" "bulk$k again: a line per referral"
    assert_eq "$before" "$(jq -s 'map(select(.created == false)) | length' "$OUT")" \
        "bulk$k again: the $before referrals taken before are found (created=false)"
    assert_eq $((LINES - before)) "$(jq -s 'map(select(.created == true)) | length' "$OUT")" \
        "bulk$k again: the rest are created"
    check_printed "$OUT" "$E2E_TMP/bulk$k.jsonl" "bulk$k again"
    assert_eq $LINES "$(sql "SELECT count(DISTINCT reference) FROM cases WHERE reference LIKE 'E2E-CRASH-$k-%'")" \
        "bulk$k again: one case per distinct reference"
done
assert_eq $((FILES * LINES)) "$(cf --actor supervisor1 --reason "e2e crash check" list --json | jq length)" \
    "every referral is a case, once"
check_store "at the end"
finish
