#!/bin/bash
# The workflow tests shipped with polit.lua (workflows/tests/, coverage in
# its README.md) pass with the real plugins: `caseflow workflow test`.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

TESTS_DIR="$CASEFLOW_SRCDIR/workflows/tests"
expect_exit 0 cf workflow test "$TESTS_DIR"
n=$(find "$TESTS_DIR" -maxdepth 1 \( -name '[!_]*.lua' -o -name '[!_]*.json' \) | wc -l)
assert_eq "$n passed, 0 failed" "$(tail -n 1 "$OUT")" "every shipped scenario passes"
if grep -q '^FAIL' "$OUT"; then
    not_ok "a shipped scenario fails"
    show_output
fi
finish
