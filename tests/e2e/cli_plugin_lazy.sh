#!/bin/bash
# Lazy plugin loading (issue 11, item 3): a command on a case loads only the
# plugins of the states it enters or delivers an event in, each found,
# hashed against its pin and refused before it is mapped exactly as when
# every plugin was bound at start. The marker build of test plugin "good"
# (tests/plugins/marker/good.la) creates $CASEFLOW_TEST_MARKER from an ELF
# constructor as soon as it is mapped, so each check below can fail:
#  - an act in a state that does not use "good", show and list never map it;
#  - an act that enters the state using it does (the check can see a load);
#  - another build swapped in is refused on entering that state (exit 69,
#    both hashes), before it is mapped, the store unchanged; put back, the
#    act runs and its history names the pinned build.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

export CASEFLOW_NOW=2026-11-03T10:00:00Z
B="$CASEFLOW_BUILDDIR/tests/plugins"
BUILD1="$B/.libs/good.so"
MARKED="$B/marker/.libs/good.so"
for f in "$BUILD1" "$MARKED" "$B/.libs/oldname.so"; do
    [ -f "$f" ] || { echo "Bail out! no $f (make check builds it)"; exit 99; }
done
SHA1=$(sha256sum "$BUILD1" | cut -c1-64)
SHAM=$(sha256sum "$MARKED" | cut -c1-64)
MARK="$E2E_TMP/marker"
export CASEFLOW_TEST_MARKER="$MARK"

# intake runs no plugin; review, entered by update, runs "good"; "oldname",
# on the search path too, is no state's.
WF="$E2E_TMP/lazyflow.lua"
cat >"$WF" <<'EOF'
return workflow {
  name = "lazyflow", version = 1, initial = "intake",
  states = {
    intake = { roles = { "officer" }, on = { note = "intake", update = "review" } },
    review = {
      step = "good", roles = { "officer" },
      on = { submit = "review", done = "closed" },
    },
    closed = { final = true },
  },
}
EOF
ref() { referral "$1" | cf --actor officer1 refer --workflow lazyflow --json | jq -r .id; }
marked() { if [ -e "$MARK" ]; then echo yes; else echo no; fi; }

# ---- the marker build pinned: mapped only by a command that needs it ---------------------
P="$E2E_TMP/plugins"
mkdir -p "$P"
cp "$MARKED" "$P/good.so"
cp "$B/.libs/oldname.so" "$P/oldname.so"
export CASEFLOW_PLUGIN_PATH="$P"
setup_bare_store
expect_exit 0 cf --actor admin --reason "e2e: lazy" workflow deploy --yes "$WF"
rm -f "$MARK"
A=$(ref LAZY-A)
[ -n "$A" ] && [ "$A" != null ] || { echo "Bail out! cannot refer on lazyflow"; exit 99; }
assert_eq no "$(marked)" "a referral into intake does not map review's plugin"
rm -f "$MARK"
expect_exit 0 cf --actor officer1 act "$A" note
assert_eq no "$(marked)" "an act in intake does not map review's plugin"
rm -f "$MARK"
expect_exit 0 cf --actor supervisor1 --reason "e2e" show "$A"
expect_exit 0 cf --actor supervisor1 --reason "e2e" list
assert_eq no "$(marked)" "show and list map no plugin"
expect_exit 0 cf --actor officer1 act "$A" update
assert_eq review "$(case_field "$A" .state)" "update enters review"
assert_eq yes "$(marked)" "entering review maps its plugin (the check can see a load)"
expect_exit 0 cf --actor officer1 act "$A" submit
assert_eq "$SHAM" "$(store_sql "SELECT plugin_sha256 FROM events WHERE case_id='$A' AND event='submit'")" \
    "an event in review names the build that ran"

# ---- another build in a state entered later: refused before it is mapped -----------------
P2="$E2E_TMP/plugins2"
mkdir -p "$P2"
cp "$BUILD1" "$P2/good.so"
cp "$B/.libs/oldname.so" "$P2/oldname.so"
export CASEFLOW_PLUGIN_PATH="$P2"
setup_bare_store "$(store_for second)"
expect_exit 0 cf --actor admin --reason "e2e: lazy" workflow deploy --yes "$WF"
C=$(ref LAZY-C)
[ -n "$C" ] && [ "$C" != null ] || { echo "Bail out! cannot refer on lazyflow"; exit 99; }
cp "$MARKED" "$P2/good.so"
rm -f "$MARK"
expect_exit 0 cf --actor officer1 act "$C" note
ok "an act in intake works while review's plugin is another build"
snapshot before_swap
expect_exit 69 cf --actor officer1 act "$C" update
assert_contains "$ERR" "plugin \"good\" is not the build pinned for workflow lazyflow v1" \
    "entering review refuses the swapped build"
assert_contains "$ERR" "expected version 1.2.3 sha256 $SHA1, found version 1.2.5-marker sha256 $SHAM" \
    "the refusal gives both builds"
assert_eq no "$(marked)" "the swapped build was never mapped"
assert_unchanged before_swap "the refused act"
cp "$BUILD1" "$P2/good.so"
expect_exit 0 cf --actor officer1 act "$C" update
expect_exit 0 cf --actor officer1 act "$C" submit
assert_eq "$SHA1" "$(store_sql "SELECT plugin_sha256 FROM events WHERE case_id='$C' AND event='submit'")" \
    "put back, the act runs the pinned build and its history says so"
expect_exit 0 cf --actor admin audit verify
finish
