#!/bin/bash
# The command examples of docs/workflows.md run as written: every ```sh
# block of the page, in order, with the hidden steps of its
# "<!-- docs-test: ... -->" comments (the cases an example needs), on a
# fresh test-clock store. Each command must exit 0, unless its line ends
# with "# exit N" (then it must exit N). /tmp/ in the page is this test's
# temporary directory; `workflows` is the shipped workflows directory.
. "${CASEFLOW_SRCDIR:-.}/tests/e2e/lib.sh"

DOC="$CASEFLOW_SRCDIR/docs/workflows.md"
export CASEFLOW_NOW=2026-11-03T09:00:00Z
setup_store

# What the hidden steps use: two synthetic referrals and the actions' data.
export DOCS_DATA="$E2E_TMP/data"
mkdir -p "$DOCS_DATA"
referral DOCS-EX-1 203.0.113.21 >"$DOCS_DATA/referral-1.json"
referral DOCS-EX-2 203.0.113.22 >"$DOCS_DATA/referral-2.json"
export APPLIED='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
export GRANTED='{"authority":"OCDA","reference":"OCDA-2026-0001","urgent":false}'
resolved() {
    printf '{"name":"Test Subscriber %s","address":{"line1":"%s Example Street","town":"Exampleton","postcode":"ZZ1 1ZZ"},"address_type":"installation","provider_reference":"ISP-REF-%s"}' "$1" "$1" "$1"
}
checks() {
    printf '{"occupants":[{"name":"Test Occupant %s","dob":"1980-01-0%s"}],"prior_history":false,"registered_sex_offender":false,"children_in_household":false,"access_to_children_at_work":false,"distribution_signs":false,"address_corroborated":true}' "$1" "$1"
}
RESOLVED=$(resolved 1) RESOLVED2=$(resolved 2) CHECKS=$(checks 1) CHECKS2=$(checks 2)
export RESOLVED RESOLVED2 CHECKS CHECKS2
export VISITED='{"advice_given":true,"letter_issued":true,"security_advice":true,"signposted":true}'

# The page's commands, one logical line each (continuations joined), in order.
awk '
    /^<!-- docs-test/ { hidden = 1; next }
    hidden && /^-->/ { hidden = 0; next }
    /^```sh$/ { code = 1; next }
    code && /^```/ { code = 0; next }
    hidden || code {
        line = line $0
        if (line ~ /\\$/) { sub(/\\$/, "", line); next }
        if (line !~ /^[ \t]*(#|$)/) print line
        line = ""
    }' "$DOC" >"$E2E_TMP/commands"
count=$(wc -l <"$E2E_TMP/commands")
if [ "$count" -lt 10 ]; then
    not_ok "docs/workflows.md: only $count example commands found"
    finish
fi
ok "docs/workflows.md: $count example commands"

mkdir -p "$E2E_TMP/work"
cp -r "$CASEFLOW_SRCDIR/workflows" "$E2E_TMP/work/workflows"   # a copy: the page edits one
mkdir -p "$E2E_TMP/bin"
ln -s "$CASEFLOW_BIN" "$E2E_TMP/bin/caseflow"
while IFS= read -r cmd; do
    want=0
    if [[ $cmd =~ \#\ exit\ ([0-9]+)[[:space:]]*$ ]]; then
        want=${BASH_REMATCH[1]}
    fi
    run=${cmd//\/tmp\//$E2E_TMP/}
    (cd "$E2E_TMP/work" && PATH="$E2E_TMP/bin:$PATH" bash -o pipefail -c "$run") \
        >"$OUT" 2>"$ERR" </dev/null
    got=$?
    if [ "$got" = "$want" ]; then
        ok "exit $want: $cmd"
    else
        not_ok "exit $got (not $want): $cmd"
        show_output
    fi
done <"$E2E_TMP/commands"

# What the page says came of it.
assert_eq "monitoring 2" "$(case_field CF-000001 '"\(.state) \(.workflow.version)"')" \
    "CF-000001 migrated to version 2, still in monitoring"
assert_eq "2027-05-02T09:00:00Z" "$(case_field CF-000001 '.timers[0].due_at')" \
    "CF-000001's timer: 180 days from entering monitoring"
expect_exit 0 cf --actor admin audit verify
finish
