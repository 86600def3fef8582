#!/bin/bash
# Pinned plugins (issue 10, item 5): deploy pins each plugin's version and
# SHA-256; another build of the same plugin is refused (exit 69, both
# hashes, the repin command) and writes nothing; workflow repin is an
# administrator's, with a reason, audited, and says when there is nothing to
# change; audit verify passes and finds a pin edited in the store. The store
# policy plugin_path is the search path when neither --plugins nor
# CASEFLOW_PLUGIN_PATH is given (relative directories refused). A plugin
# needed only by another state never blocks an act.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_bare_store

# Two builds of test plugin "good" (tests/loader.am builds good.c twice) and
# plugin "oldname", copied into a directory of their own.
B="$CASEFLOW_BUILDDIR/tests/plugins"
BUILD1="$B/.libs/good.so"
BUILD2="$B/rebuilt/.libs/good.so"
for f in "$BUILD1" "$BUILD2" "$B/.libs/oldname.so"; do
    [ -f "$f" ] || { echo "Bail out! no $f (make check builds it)"; exit 99; }
done
SHA1=$(sha256sum "$BUILD1" | cut -c1-64)
SHA2=$(sha256sum "$BUILD2" | cut -c1-64)
[ "$SHA1" != "$SHA2" ] || { echo "Bail out! the two builds of good are the same file"; exit 99; }
P="$E2E_TMP/plugins"
mkdir -p "$P"
cp "$BUILD1" "$P/good.so"
cp "$B/.libs/oldname.so" "$P/oldname.so"
export CASEFLOW_PLUGIN_PATH="$P"

# intake runs "good"; review runs "oldname" (another plugin, another state).
WF="$E2E_TMP/pinflow.lua"
cat >"$WF" <<'EOF'
return workflow {
  name = "pinflow", version = 1, initial = "intake",
  states = {
    intake = {
      step = "good", roles = { "officer" },
      on = { submit = "intake", update = "review" },
    },
    review = {
      step = "oldname", roles = { "officer" },
      timer = { days = 1, event = "expired" },
      on = { expired = { to = "closed", system = true } },
    },
    closed = { final = true },
  },
}
EOF

expect_exit 0 cf workflow repin --help
assert_contains "$OUT" "usage: caseflow workflow repin NAME VERSION --reason R" "repin --help"
expect_exit 0 cf policy set --help
assert_contains "$OUT" "plugin_path DIR[:DIR...]" "policy set --help names plugin_path"

# ---- deploy pins ----------------------------------------------------------------------
expect_exit 0 cf --actor admin --reason "e2e: pins" --json workflow deploy --yes "$WF"
assert_jq "$OUT" '.plugins.good.version == "1.2.3" and .plugins.oldname.version == "0.1"' \
    "deploy reports the pinned versions"
assert_eq "$SHA1" "$(jq -r .plugins.good.sha256 "$OUT")" "deploy pins build 1's SHA-256"
assert_eq "{\"good\":{\"sha256\":\"$SHA1\",\"version\":\"1.2.3\"},\"oldname\":{\"sha256\":\"$(sha256sum "$P/oldname.so" | cut -c1-64)\",\"version\":\"0.1\"}}" \
    "$(store_sql "SELECT value FROM policies WHERE key='workflow.pins:pinflow@1'")" \
    "the pins are the store policy workflow.pins:pinflow@1"
expect_exit 0 cf --actor admin audit verify

ref() { referral "$1" | cf --actor officer1 refer --workflow pinflow --json; }
A=$(ref PIN-A | jq -r .id)
C=$(ref PIN-C | jq -r .id)
[ -n "$A" ] && [ "$A" != null ] || { echo "Bail out! cannot refer on pinflow"; exit 99; }
expect_exit 0 cf --actor officer1 act "$A" submit

# ---- another build is refused ----------------------------------------------------------
cp "$BUILD2" "$P/good.so"
snapshot before_swap
expect_exit 69 cf --actor officer1 act "$A" submit
assert_contains "$ERR" "plugin \"good\" is not the build pinned for workflow pinflow v1" \
    "the refusal names plugin, workflow and version"
assert_contains "$ERR" "expected version 1.2.3 sha256 $SHA1" "the refusal gives the pinned hash"
assert_contains "$ERR" "found version 1.2.4-rebuilt sha256 $SHA2" "the refusal gives the found hash"
assert_contains "$ERR" "caseflow workflow repin pinflow 1 --reason R" \
    "the refusal gives the repin command"
referral PIN-B >"$E2E_TMP/b.json"
expect_exit_in 69 "$E2E_TMP/b.json" cf --actor officer1 refer --workflow pinflow
assert_unchanged before_swap "another build refused"
# Deploying the same file again changes nothing, and says which builds the
# version is pinned to, not which it found now.
expect_exit 0 cf --actor admin --reason "e2e" workflow deploy --yes --json "$WF"
assert_jq "$OUT" ".created == false and .plugins.good.sha256 == \"$SHA1\"" \
    "an unchanged redeploy reports the pinned build, not the one found"
assert_unchanged before_swap "an unchanged redeploy"

# ---- repin ------------------------------------------------------------------------------
expect_exit 77 cf --actor officer1 --reason "e2e" workflow repin pinflow 1
expect_exit 64 cf --actor admin workflow repin pinflow 1
assert_contains "$ERR" "--reason" "repin without a reason names --reason"
expect_exit 64 cf --actor admin --reason "e2e" workflow repin pinflow one
expect_exit 69 cf --actor admin --reason "e2e" workflow repin pinflow 7
assert_unchanged before_swap "refused repins"
expect_exit 0 cf --actor admin --reason "e2e: rebuilt good accepted" workflow repin pinflow 1
assert_contains "$OUT" "repinned pinflow version 1: plugin good version 1.2.3 (sha256 $SHA1) -> version 1.2.4-rebuilt (sha256 $SHA2)" \
    "repin prints the old and new version and hash"
assert_eq 1 "$(wc -l <"$OUT")" "only the changed plugin is listed"
assert_eq 1 "$(store_sql "SELECT count(*) FROM audit WHERE action='workflow.repin' AND justification='e2e: rebuilt good accepted'")" \
    "one workflow.repin record with the reason"
assert_jq <(store_sql "SELECT r.payload FROM records r JOIN audit a ON a.seq=r.seq WHERE a.action='workflow.repin'") \
    ".workflow == \"pinflow\" and .version == 1 and .changes == [{\"plugin\":\"good\",\"old_version\":\"1.2.3\",\"old_sha256\":\"$SHA1\",\"new_version\":\"1.2.4-rebuilt\",\"new_sha256\":\"$SHA2\"}]" \
    "the repin record keeps what changed"
expect_exit 0 cf --actor officer1 act "$A" submit
snapshot after_repin
expect_exit 0 cf --actor admin --reason "e2e: again" --json workflow repin pinflow 1
assert_jq "$OUT" '.changed == false and .changes == []' "nothing to change: changed false"
expect_exit 0 cf --actor admin --reason "e2e: again" workflow repin pinflow 1
assert_contains "$OUT" "nothing to change" "nothing to change is said"
assert_unchanged after_repin "a repin with nothing to change writes nothing"
expect_exit 0 cf --actor admin audit verify

# ---- plugin_path as a store policy -------------------------------------------------------
unset CASEFLOW_PLUGIN_PATH
snapshot before_policy
expect_exit 65 cf --actor admin policy set plugin_path "plugins"
assert_contains "$ERR" "absolute path" "a relative directory is refused naming the rule"
expect_exit 65 cf --actor admin policy set plugin_path "/opt/x:rel/y"
assert_contains "$ERR" '"rel/y" is not' "the refusal names the relative directory"
expect_exit 65 cf --actor admin policy set plugin_path "/opt/x::/opt/y"
assert_unchanged before_policy "refused plugin_path values"
expect_exit 69 cf --actor officer1 act "$A" submit
assert_contains "$ERR" 'needs plugin "good"' "without a path the plugin is not found"
expect_exit 0 cf --actor admin policy set plugin_path "/nonexistent/caseflow-e2e:$P"
expect_exit 0 cf --actor officer1 act "$A" submit
expect_exit 0 cf --actor admin --json policy show
assert_jq "$OUT" ".plugin_path == \"/nonexistent/caseflow-e2e:$P\"" "policy show lists plugin_path"
# --plugins and the environment still override the policy.
mkdir -p "$E2E_TMP/empty"
expect_exit 69 cf --actor officer1 --plugins "$E2E_TMP/empty" act "$A" submit
CASEFLOW_PLUGIN_PATH="$E2E_TMP/empty" expect_exit 69 cf --actor officer1 act "$A" submit
expect_exit 0 cf --actor admin audit verify

# ---- lazy loading: a plugin needed only by another state ----------------------------------
expect_exit 0 cf --actor officer1 act "$C" update
assert_eq review "$(case_field "$C" .state)" "case C is in review"
mv "$P/oldname.so" "$P/oldname.so.away"
snapshot before_lazy
expect_exit 0 cf --actor officer1 act "$A" submit
ok "an act in intake works while review's plugin is missing"
snapshot after_lazy
expect_exit 69 cf --actor officer1 act "$C" expired
assert_contains "$ERR" 'needs plugin "oldname"' "acting in review names its missing plugin"
expect_exit 69 cf --actor officer1 act "$A" update
assert_contains "$ERR" 'needs plugin "oldname"' "entering review names its missing plugin"
assert_unchanged after_lazy "refused acts in the state whose plugin is missing"
# deploy, activate and repin still need every plugin
expect_exit 69 cf --actor admin --reason "e2e" workflow deploy --yes "$WF"
expect_exit 69 cf --actor admin --reason "e2e" workflow activate pinflow 1
assert_contains "$ERR" 'needs plugin "oldname"' "activate names the missing plugin"
expect_exit 69 cf --actor admin --reason "e2e" workflow repin pinflow 1
assert_unchanged after_lazy "deploy, activate and repin refused"
mv "$P/oldname.so.away" "$P/oldname.so"

# ---- a long workflow name: its pins key is the name's hash ---------------------------------
LONG=pinflow_with_a_name_long_enough_that_its_pins_key_would_not_fit_an_action
sed "s/name = \"pinflow\"/name = \"$LONG\"/" "$WF" >"$E2E_TMP/long.lua"
expect_exit 0 cf --actor admin --reason "e2e: long name" workflow deploy --yes "$E2E_TMP/long.lua"
assert_eq 1 "$(store_sql "SELECT count(*) FROM policies WHERE key LIKE 'workflow.pins:sha256:%@1'")" \
    "a long name's pins are kept under its hash"
referral PIN-LONG >"$E2E_TMP/long.json"
expect_exit_in 0 "$E2E_TMP/long.json" cf --actor officer1 refer --workflow "$LONG"

# ---- an intruder's edit of a pin -------------------------------------------------------
expect_exit 0 cf --actor admin audit verify
cp "$BUILD1" "$P/good.so"
store_tamper "UPDATE policies SET value=replace(value, '$SHA2', '$SHA1') WHERE key='workflow.pins:pinflow@1'"
expect_exit 65 cf --actor admin audit verify
assert_contains "$ERR" "workflow.pins:pinflow@1" "verify names the edited pin"
expect_exit 65 cf --actor officer1 act "$A" submit
# ... and of a pin deleted: verify and the engine both find it
store_tamper "UPDATE policies SET value=replace(value, '$SHA1', '$SHA2') WHERE key='workflow.pins:pinflow@1'"
expect_exit 0 cf --actor admin audit verify
store_tamper "DELETE FROM policies WHERE key='workflow.pins:pinflow@1'"
expect_exit 65 cf --actor admin audit verify
expect_exit 65 cf --actor officer1 act "$A" submit

# ---- a version deployed before pins existed ----------------------------------------------
# The schema-3 fixture (tests/data/stores): polit v1, no pins. It runs as
# before, saying nothing on stderr; workflow list shows it unpinned; an
# administrator's repin pins the builds found.
export CASEFLOW_PLUGIN_PATH="$CASEFLOW_BUILDDIR/plugins"
export CASEFLOW_NOW=2030-01-01T10:00:00Z
FIX="$CASEFLOW_SRCDIR/tests/data/stores"
if on_sqlite "a version deployed before pins: the schema-3 fixture is a SQLite file; PostgreSQL stores start at schema 4, with pins"; then
    export CASEFLOW_STORE="$E2E_TMP/old/store-v3.db"
    mkdir -p "$E2E_TMP/old/store-v3.db.keys"
    chmod 700 "$E2E_TMP/old/store-v3.db.keys"
    gzip -dc "$FIX/store-v3.db.gz" >"$CASEFLOW_STORE"
    cp "$FIX/store-v3.db.key" "$FIX/store-v3.db.key.pub" "$E2E_TMP/old/store-v3.db.keys/"
    chmod 600 "$CASEFLOW_STORE" "$E2E_TMP/old/store-v3.db.keys/store-v3.db.key"
    expect_exit 0 cf --actor admin --json workflow list
    assert_jq "$OUT" '[.[] | select(.name == "polit")] | .[0].pinned == false' \
        "a version deployed before pins is listed unpinned"
    expect_exit 0 cf --actor admin workflow list
    assert_eq "no" "$(awk '$1 == "polit" && $2 == 1 {print $NF}' "$OUT")" "list (text): PINNED no"
    expect_exit 0 cf --actor officer1 task claim 1
    expect_exit 0 cf --actor admin --reason "e2e: pin after the upgrade" --json workflow repin polit 1
    assert_jq "$OUT" '.changed == true and (.changes | length) > 0 and
        all(.changes[]; .old_sha256 == null and (.new_sha256 | length) == 64)' \
        "repin of an unpinned version pins every plugin"
    expect_exit 0 cf --actor admin --json workflow list
    assert_jq "$OUT" '[.[] | select(.name == "polit")] | .[0].pinned == true' "now pinned"
    expect_exit 0 cf --actor admin --reason "e2e: again" workflow repin polit 1
    assert_contains "$OUT" "nothing to change" "a second repin changes nothing"
    expect_exit 0 cf --actor admin audit verify --key "$CASEFLOW_STORE.keys/store-v3.db.key.pub"
fi

# ---- a pinned plugin's file is hashed from the bytes that are mapped -------------------------
# Another build is refused by its hash before it is loaded: its ELF constructor
# (tests/plugins/marker/good.la writes $CASEFLOW_TEST_MARKER) never runs in the
# caseflow process. What is loaded is a private copy of exactly the bytes hashed,
# removed at once: nothing is left in $TMPDIR, and swapping the file meanwhile
# never makes another build run under the pin.
BUILD3="$B/marker/.libs/good.so"
[ -f "$BUILD3" ] || { echo "Bail out! no $BUILD3 (make check builds it)"; exit 99; }
SHA3=$(sha256sum "$BUILD3" | cut -c1-64)
export CASEFLOW_NOW=2026-11-03T10:00:00Z
mkdir -p "$E2E_TMP/race"
if [ "$E2E_BACKEND" = sqlite ]; then
    setup_bare_store "$E2E_TMP/race/caseflow.db"
else
    setup_bare_store "$(store_for race)"
fi
R="$E2E_TMP/race/plugins"
T="$E2E_TMP/race/tmp"
MARK="$E2E_TMP/race/marker"
mkdir -p "$R" "$T"
cp "$BUILD1" "$R/good.so"
cp "$B/.libs/oldname.so" "$R/oldname.so"
export CASEFLOW_PLUGIN_PATH="$R"
expect_exit 0 cf --actor admin --reason "e2e: race" workflow deploy --yes "$WF"
A=$(ref RACE-A | jq -r .id)
[ -n "$A" ] && [ "$A" != null ] || { echo "Bail out! cannot refer on pinflow"; exit 99; }

# The marker build's constructor does run when it is loaded (so the checks below
# can fail): plugin info loads it with no pin.
CASEFLOW_TEST_MARKER="$MARK" TMPDIR="$T" expect_exit 0 cf plugin info "$BUILD3"
[ -f "$MARK" ] && ok "loading the marker build runs its constructor" ||
    not_ok "loading the marker build runs its constructor"
rm -f "$MARK"
assert_eq "" "$(ls -A "$T")" "plugin info leaves no private copy in TMPDIR"

cp "$BUILD3" "$R/good.so"
snapshot before_marker
CASEFLOW_TEST_MARKER="$MARK" TMPDIR="$T" expect_exit 69 cf --actor officer1 act "$A" submit
assert_contains "$ERR" "expected version 1.2.3 sha256 $SHA1, found version 1.2.5-marker sha256 $SHA3 ($R/good.so)" \
    "the refusal names the found build, read without loading it"
[ ! -e "$MARK" ] && ok "a build refused by its pin never runs its constructor" ||
    not_ok "a build refused by its pin never runs its constructor"
assert_unchanged before_marker "a build refused by its pin"
assert_eq "" "$(ls -A "$T")" "a refused act leaves nothing in TMPDIR"
cp "$BUILD1" "$R/good.so"
TMPDIR="$T" expect_exit 0 cf --actor officer1 act "$A" submit
assert_eq "$SHA1" "$(store_sql "SELECT plugin_sha256 FROM events WHERE case_id='$A' ORDER BY seq DESC LIMIT 1")" \
    "the act ran the pinned build and its history says so"
assert_eq "" "$(ls -A "$T")" "an act leaves no private copy in TMPDIR"

# A bounded race: a background swapper keeps exchanging good.so with the
# marker build (renameat2 RENAME_EXCHANGE in a loop, as the reviewer's
# reproduction did; a loop of mv where no compiler is at hand) while acts
# run. Each act either ran the pinned build (exit 0, and its event names
# SHA1 AND version 1.2.3: a hash taken from another file than the one mapped
# would record SHA1 with the marker's version) or was refused (69); and the
# marker build's constructor never ran.
cp "$BUILD3" "$R/.g3"
cat >"$E2E_TMP/race/swap.c" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif
/* swap A B SECONDS: exchange A and B until killed or SECONDS have passed. */
int main(int argc, char **argv)
{
    time_t end;
    if (argc != 4)
        return 64;
    end = time(NULL) + atol(argv[3]);
    for (long i = 0; i < 1000000000L && time(NULL) < end; i++)
        if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE) != 0) {
            perror("renameat2");
            return 1;
        }
    return 0;
}
EOF
if ${CASEFLOW_CC:-cc} -o "$E2E_TMP/race/swap" "$E2E_TMP/race/swap.c" 2>/dev/null; then
    "$E2E_TMP/race/swap" "$R/good.so" "$R/.g3" 120 &
else
    echo "# no C compiler: swapping with mv"
    (
        end=$((SECONDS + 120))
        while [ "$SECONDS" -lt "$end" ]; do
            mv -f "$R/good.so" "$R/.x" && mv -f "$R/.g3" "$R/good.so" && mv -f "$R/.x" "$R/.g3"
        done
    ) &
fi
SWAPPER=$!
runs=0 ran=0 refused=0 wrong=0 ctor=0 other=0
deadline=$((SECONDS + 90))
while [ "$runs" -lt 100 ] && [ "$SECONDS" -lt "$deadline" ]; do
    runs=$((runs + 1))
    CASEFLOW_TEST_MARKER="$MARK" TMPDIR="$T" cf --actor officer1 act "$A" submit \
        >/dev/null 2>"$E2E_TMP/race/err"
    rc=$?
    if [ -e "$MARK" ]; then
        ctor=$((ctor + 1))
        rm -f "$MARK"
    fi
    if [ "$rc" -eq 0 ]; then
        got=$(store_sql "SELECT plugin_sha256 || ' ' || plugin_version FROM events WHERE case_id='$A' ORDER BY seq DESC LIMIT 1")
        if [ "$got" = "$SHA1 1.2.3" ]; then ran=$((ran + 1)); else wrong=$((wrong + 1)); fi
    elif [ "$rc" -eq 69 ] && grep -q "is not the build pinned\|needs plugin" "$E2E_TMP/race/err"; then
        refused=$((refused + 1))
    else
        other=$((other + 1))
        echo "# run $runs: exit $rc: $(cat "$E2E_TMP/race/err")"
    fi
done
kill "$SWAPPER" 2>/dev/null
wait "$SWAPPER" 2>/dev/null
echo "# race: $runs acts: $ran ran the pinned build, $refused refused, $wrong ran another build, $ctor ran its constructor, $other other"
assert_eq 0 "$wrong" "no act under the swap race ran another build"
assert_eq 0 "$ctor" "the marker build's constructor never ran during the race"
assert_eq 0 "$other" "every act under the swap race exited 0 or 69"
[ "$ran" -gt 0 ] && ok "some acts ran during the race" || not_ok "some acts ran during the race"
assert_eq "" "$(ls -A "$T")" "the race leaves nothing in TMPDIR"
cp "$BUILD1" "$R/good.so"
expect_exit 0 cf --actor admin audit verify
finish
