#!/bin/bash
# The command line itself: --help and --version on every command, usage
# errors (exit 64, one line, no store created), global options before and
# after the command words and from the environment, init's idempotence,
# CASEFLOW_NOW checked, workflow check without a store, and output that
# cannot be written (exit 74).
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

# ---- --help and --version on every command, without a store ---------------
commands=("" "init" "user add" "user list" "user disable" "workflow deploy"
    "workflow list" "workflow check" "workflow diff" "workflow activate" "refer" "show" "list" "history" "act"
    "tick" "audit verify" "plugin list" "plugin info"
    "user" "workflow" "audit" "plugin")
for words in "${commands[@]}"; do
    # shellcheck disable=SC2086 # the words are split on purpose
    expect_exit 0 cf $words --help
    assert_contains "$OUT" "usage: caseflow" "help of '$words' has a usage line"
    # shellcheck disable=SC2086
    expect_exit 0 cf $words --version
    assert_contains "$OUT" "caseflow " "version of '$words'"
done
expect_exit 0 cf -h
expect_exit 0 cf list --help --store "$E2E_TMP/nowhere.db"
assert_eq no "$(test -e "$E2E_TMP/nowhere.db" && echo yes || echo no)" \
    "--help opens no store"
cf --version --json >"$OUT"
assert_jq "$OUT" '.version | type == "string"' "--version --json"
ver=$(cf --version)
assert_contains "$OUT" "${ver#caseflow }" "--json version matches"

# ---- usage errors: 64, one line, no store created ------------------------
export CASEFLOW_STORE="$E2E_TMP/usage.db"
expect_exit 64 cf
expect_exit 64 cf bogus
expect_exit 64 cf --bogus list
expect_exit 64 cf list --bogus
expect_exit 64 cf -x list
expect_exit 64 cf list --json=yes
expect_exit 64 cf user
expect_exit 64 cf user frob
expect_exit 64 cf workflow
expect_exit 64 cf show
expect_exit 64 cf show CF-1 CF-2
expect_exit 64 cf history
expect_exit 64 cf act CF-1
expect_exit 64 cf act CF-1 ev extra
expect_exit 64 cf user add bob
expect_exit 64 cf --actor admin user add bob --role
expect_exit 64 cf user disable
expect_exit 64 cf workflow deploy
expect_exit 64 cf workflow check
expect_exit 64 cf plugin info
expect_exit 64 cf refer a.json b.json
expect_exit 64 cf list --limit many
expect_exit 64 cf list --limit -1
expect_exit 64 cf act CF-1 ev --revision x
expect_exit 64 cf act CF-1 ev --revision -2
expect_exit 64 cf show CF-1 --state closed
expect_exit 64 cf list --data '{}'
expect_exit 64 cf tick --role officer
expect_exit 64 cf --store
expect_exit 64 cf list --state
expect_exit 64 cf init
assert_contains "$ERR" "--actor" "init without an actor names --actor"
assert_eq no "$(test -e "$CASEFLOW_STORE" && echo yes || echo no)" \
    "usage errors create no store"

# ---- a store that does not exist: 66, and it is not created ---------------
expect_exit 66 cf list
expect_exit 66 cf --actor officer1 show CF-000001
expect_exit 66 cf --actor admin user list
assert_eq no "$(test -e "$CASEFLOW_STORE" && echo yes || echo no)" \
    "reading a missing store does not create it"

# ---- CASEFLOW_NOW -------------------------------------------------------------
for bad in "2026-11-02T09:15:00" "2026-11-02" "yesterday" "2026-13-01T00:00:00Z" \
    "2026-02-30T00:00:00Z" "2026-11-02T25:00:00Z" "2026-11-02T09:15:00+1:00"; do
    CASEFLOW_NOW=$bad expect_exit 64 cf list
    assert_contains "$ERR" "CASEFLOW_NOW" "bad CASEFLOW_NOW '$bad' is named"
done

# ---- init: idempotent; options anywhere; environment ----------------------
export CASEFLOW_STORE="$E2E_TMP/caseflow.db"
expect_exit 0 cf --actor admin init
assert_eq yes "$(test -s "$CASEFLOW_STORE" && echo yes || echo no)" "init creates the store"
snapshot init
expect_exit 0 cf --actor admin init
assert_unchanged init "a second init"
expect_exit 0 cf init --actor admin --json
assert_jq "$OUT" 'type == "object"' "init --json prints an object"
assert_unchanged init "a third init"
CASEFLOW_ACTOR="admin" expect_exit 0 cf init
expect_exit 0 cf --actor admin user add officer1 --role officer
expect_exit 0 cf user add analyst1 --role analyst,officer --actor admin
expect_exit 0 cf --actor admin user add super1 --role supervisor --role authoriser
CASEFLOW_ACTOR="admin" expect_exit 0 cf user list --json
assert_jq "$OUT" 'map(select(.name == "analyst1"))[0].roles | sort == ["analyst", "officer"]' \
    "comma-separated roles"
assert_jq "$OUT" 'map(select(.name == "super1"))[0].roles | sort == ["authoriser", "supervisor"]' \
    "repeated --role"
assert_jq "$OUT" 'map(select(.name == "admin"))[0].roles | index("administrator") != null' \
    "init made the actor an administrator"
# --store after the command words, and over the environment
CASEFLOW_STORE="$E2E_TMP/elsewhere.db" expect_exit 0 cf user list --store "$E2E_TMP/caseflow.db" --actor admin
assert_contains "$OUT" "officer1" "--store after the command words wins over CASEFLOW_STORE"
CASEFLOW_STORE="$E2E_TMP/caseflow.db" CASEFLOW_ACTOR=admin expect_exit 0 cf user list
assert_contains "$OUT" "analyst1" "store and actor from the environment"
# an existing user, an unknown role: invalid input; nothing changes
snapshot users
expect_exit 65 cf --actor admin user add officer1 --role officer
expect_exit 65 cf --actor admin user add someone --role wizard
assert_unchanged users "refused user add"
# only an administrator adds users
expect_exit 77 cf --actor officer1 user add someone --role officer
expect_exit 77 cf --actor stranger user add someone --role officer
assert_unchanged users "user add by a non-administrator"

# ---- workflow check: works without a store --------------------------------
export CASEFLOW_STORE="$E2E_TMP/none.db"
expect_exit 0 cf workflow check "$POLIT"
cat >"$E2E_TMP/undefined.lua" <<'EOF'
return workflow {
  name = "broken", version = 1, initial = "start",
  states = {
    start = { roles = { "officer" }, on = { go = "nowhere" } },
  },
}
EOF
expect_exit 65 cf workflow check "$E2E_TMP/undefined.lua"
if grep -Eq '^[^:]*undefined\.lua:[0-9]+: [a-z-]+: ' "$OUT"; then
    ok "findings are file:line: rule: message"
else
    not_ok "findings are file:line: rule: message: $(cat "$OUT")"
fi
assert_contains "$OUT" "nowhere" "the finding names the undefined state"
expect_exit 65 cf workflow check --json "$E2E_TMP/undefined.lua"
assert_jq "$OUT" 'type == "array" and length > 0 and (.[0] | has("file") and has("line") and has("rule") and has("message"))' \
    "workflow check --json prints findings"
printf 'return workflow {\n  name = "syntax",\n  states = {\n' >"$E2E_TMP/syntax.lua"
expect_exit 65 cf workflow check "$E2E_TMP/syntax.lua"
assert_contains "$OUT" "syntax.lua:" "a syntax error is reported with its file"
expect_exit 66 cf workflow check "$E2E_TMP/missing.lua"
assert_eq no "$(test -e "$CASEFLOW_STORE" && echo yes || echo no)" "workflow check creates no store"

# ---- output that cannot be written: 74 ---------------------------------------
export CASEFLOW_STORE="$E2E_TMP/caseflow.db"
if [ -w /dev/full ]; then
    for args in "--help" "--version" "--actor admin user list" \
        "--actor admin user list --json" "--actor officer1 --reason e2e list" "workflow check $POLIT"; do
        # shellcheck disable=SC2086
        cf $args >/dev/full 2>"$ERR"
        rc=$?
        assert_eq 74 "$rc" "exit 74 writing '$args' to /dev/full"
        assert_eq 1 "$(wc -l <"$ERR")" "one error line writing '$args' to /dev/full"
    done
else
    echo "# /dev/full is not available: output error tests skipped"
fi

finish
