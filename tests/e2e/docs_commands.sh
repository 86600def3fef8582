#!/bin/bash
# The docs agree with the program (issue 9, item 8): every command and
# option of `caseflow --help` and `caseflowd --help` is documented in
# README.md or docs/, and every caseflow command line the pages write is a
# command the program has, with options it takes (tests/e2e/docs_commands.py).
# Then the checker is shown to fail on pages that disagree.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

CHECK="$CASEFLOW_SRCDIR/tests/e2e/docs_commands.py"
CASEFLOWD=${CASEFLOWD_BIN:-$CASEFLOW_BUILDDIR/caseflowd}
if [ ! -x "$CASEFLOWD" ]; then
    not_ok "no caseflowd at $CASEFLOWD"
    finish
fi

if python3 "$CHECK" "$CASEFLOW_BIN" "$CASEFLOWD" "$CASEFLOW_SRCDIR" >"$OUT" 2>"$ERR"; then
    ok "README.md and docs/ agree with the program: $(tail -1 "$OUT")"
else
    not_ok "README.md and docs/ disagree with the program"
    grep -v '^ok' "$OUT" "$ERR" | sed 's/^/#   /'
fi

# Pages that disagree: an invented command, an invented option, and a
# command whose only mention is gone.
mkdir -p "$E2E_TMP/src/docs"
cp "$CASEFLOW_SRCDIR/README.md" "$E2E_TMP/src/"
cp "$CASEFLOW_SRCDIR"/docs/*.md "$E2E_TMP/src/docs/"
printf '\n```sh\ncaseflow workflow frobnicate polit\ncaseflow --actor admin list --bogus-filter x\n```\n' \
    >>"$E2E_TMP/src/docs/workflows.md"
sed -i 's/retention release/retention (lifted)/g; s/`release ID`/`(lifted)`/g' \
    "$E2E_TMP/src/README.md" "$E2E_TMP/src"/docs/*.md
python3 "$CHECK" "$CASEFLOW_BIN" "$CASEFLOWD" "$E2E_TMP/src" >"$OUT" 2>"$ERR"
rc=$?
assert_eq 1 "$rc" "the checker fails on pages that disagree"
for want in '`caseflow workflow frobnicate` is not a command' \
    '`caseflow list` has no option --bogus-filter' \
    '`caseflow retention release` is not documented'; do
    if grep -qF -- "$want" "$OUT"; then
        ok "the checker says: $want"
    else
        not_ok "the checker does not say: $want"
        sed 's/^/#   /' "$OUT" | grep 'not ok' | head
    fi
done
finish
