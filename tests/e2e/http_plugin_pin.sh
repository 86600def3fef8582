#!/bin/bash
# caseflowd and pinned plugins (issue 10, item 5): with neither --plugins nor
# CASEFLOW_PLUGIN_PATH it finds plugins on the store policy plugin_path; a
# build other than the pinned one is refused (503 CF_EMISSING naming both
# hashes); POST .../repin accepts it, and the running service then acts
# without a restart.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"

export CASEFLOW_NOW=2026-11-03T10:00:00Z
setup_bare_store
B="$CASEFLOW_BUILDDIR/tests/plugins"
P="$E2E_TMP/plugins"
mkdir -p "$P"
cp "$B/.libs/good.so" "$B/.libs/oldname.so" "$P/"
SHA1=$(sha256sum "$B/.libs/good.so" | cut -c1-64)
SHA2=$(sha256sum "$B/rebuilt/.libs/good.so" | cut -c1-64)
cat >"$E2E_TMP/pinflow.lua" <<'EOF'
return workflow {
  name = "pinflow", version = 1, initial = "intake",
  states = {
    intake = { step = "good", roles = { "officer" }, on = { submit = "intake", update = "closed" } },
    closed = { final = true },
  },
}
EOF
unset CASEFLOW_PLUGIN_PATH
expect_exit 0 cf --actor admin policy set plugin_path "$P"
expect_exit 0 cf --actor admin --reason "e2e" workflow deploy --yes "$E2E_TMP/pinflow.lua"
referral HTTP-PIN-A >"$E2E_TMP/a.json"
expect_exit_in 0 "$E2E_TMP/a.json" cf --actor officer1 refer --workflow pinflow
A=CF-000001
http_token officer1 >/dev/null
http_token admin >/dev/null

cp "$B/rebuilt/.libs/good.so" "$P/good.so"
cfd_start
BEFORE=$(store_state)
expect_problem 503 CF_EMISSING step "another build of good" POST "/v1/cases/$A/events/submit" \
    officer1 "${JSON[@]}" --data '{}'
assert_jq "$BODY" ".detail | contains(\"expected version 1.2.3 sha256 $SHA1\") and
    contains(\"found version 1.2.4-rebuilt sha256 $SHA2\")" "the problem names both builds"
assert_eq "$BEFORE" "$(store_state)" "the refusal changed nothing"
expect 200 "repin over HTTP" POST /v1/workflows/pinflow/versions/1/repin admin \
    -H "X-Caseflow-Reason: e2e: the rebuilt good"
assert_jq "$BODY" ".changed == true and .changes[0].new_sha256 == \"$SHA2\"" "the repin's changes"
expect 200 "the running service acts on the repinned build" POST "/v1/cases/$A/events/submit" \
    officer1 "${JSON[@]}" --data '{}'
cfd_stop
expect_exit 0 cf --actor admin audit verify
check_openapi
finish
