#!/bin/bash
# ABI compatibility (issue 10): a plugin built against the oldest supported
# plugin header, tests/abi/1.0/caseflow/plugin.h, kept in the tree as it was
# first released, still loads in the current engine, its descriptor reports
# ABI 1.0, and it runs in a workflow: enter and handle record data, its
# outcome moves the case, the history names it, and the audit chain verifies.
# The module is tests/plugins/abi10.la (tests/loader.am builds it with that
# header's directory first on the include path).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

PLUGDIR="$CASEFLOW_BUILDDIR/tests/plugins"
WF="$CASEFLOW_SRCDIR/tests/data/abi/abi10.lua"
OLD="$CASEFLOW_SRCDIR/tests/abi/1.0/caseflow/plugin.h"

# The kept header is the 1.0 one: it says so and predates the name-once macro.
if grep -q '^#define CF_PLUGIN_ABI_MAJOR 1$' "$OLD" && grep -q '^#define CF_PLUGIN_ABI_MINOR 0$' "$OLD" &&
    ! grep -q 'CF_PLUGIN_OVERRIDE_BEGIN_' "$OLD"; then
    ok "tests/abi/1.0/caseflow/plugin.h is the ABI 1.0 header"
else
    not_ok "tests/abi/1.0/caseflow/plugin.h is not the first ABI 1.0 header"
fi

# ---- the descriptor ------------------------------------------------------------
export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_bare_store
expect_exit 0 cf --plugins "$PLUGDIR" plugin info --json "$PLUGDIR/abi10.la"
assert_jq "$OUT" '.name == "abi10" and .abi == "1.0" and .version == "1.0.0" and
    .accepts == ["submit"] and .emits == ["done"] and (.sha256 | test("^[0-9a-f]{64}$"))' \
    "plugin info: the 1.0 module's descriptor reports abi 1.0"
expect_exit 0 cf --plugins "$PLUGDIR" plugin info "$PLUGDIR/abi10.la"
assert_contains "$OUT" "abi       1.0" "plugin info (text) says abi 1.0"

# ---- in a workflow ---------------------------------------------------------------
expect_exit 0 cf --plugins "$PLUGDIR" workflow check "$WF"
expect_exit 0 cf --plugins "$PLUGDIR" --actor admin --reason "e2e: ABI 1.0 plugin" \
    workflow deploy --yes "$WF"
C=$(referral ABI-10-1 | cf --plugins "$PLUGDIR" --actor analyst1 refer --json --workflow abi10 |
    jq -r .id)
assert_eq waiting "$(case_field "$C" .state)" "the case entered the 1.0 plugin's state"
assert_eq "2026-11-03T10:00:00Z waiting" "$(case_field "$C" '"\(.data.abi10.entered_at) \(.data.abi10.state)"')" \
    "enter() ran through the host table: clock, state, set"

expect_exit 0 cf --plugins "$PLUGDIR" --actor officer1 act "$C" submit --data '{"note":"first look"}'
assert_eq "waiting first look officer1" \
    "$(case_field "$C" '"\(.state) \(.data.abi10.note) \(.data.abi10.by)"')" \
    "handle() recorded the note and the actor; no outcome, the case waits"

snapshot refused
expect_exit 65 cf --plugins "$PLUGDIR" --actor officer1 act "$C" submit --data '{"note":7}'
assert_contains "$ERR" "note: must be a string" "the 1.0 plugin's refusal reaches the caller"
assert_unchanged refused "a refusal by the 1.0 plugin"

expect_exit 0 cf --plugins "$PLUGDIR" --actor officer1 act "$C" submit --data '{"finish":true}'
assert_eq done "$(case_field "$C" .state)" "the 1.0 plugin's outcome moved the case"
expect_exit 0 cf --plugins "$PLUGDIR" --actor supervisor1 --reason "e2e test" history --json "$C"
assert_jq "$OUT" '[.[] | select(.plugin != null) | .plugin] | length > 0 and
    all(.name == "abi10" and .version == "1.0.0")' "the history names the 1.0 plugin and its version"
expect_exit 0 cf --actor admin audit verify
finish
