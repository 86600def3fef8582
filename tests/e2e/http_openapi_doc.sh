#!/bin/bash
# docs/openapi.yaml is a valid OpenAPI 3.1 document (every $ref resolves,
# every schema is valid Draft 2020-12) that documents exactly the operations
# of engine/ops/ops.c, and the validator the HTTP tests use refuses what the
# document does not say.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
V="$CASEFLOW_SRCDIR/tests/e2e/http_openapi.py"
SPEC="$CASEFLOW_SRCDIR/docs/openapi.yaml"
if ! "$PY" -c 'import yaml, jsonschema' 2>/dev/null; then
    echo "1..0 # SKIP python3-yaml and python3-jsonschema are needed"
    exit 77
fi
expect_ok() { # expect_ok WHAT ARGS...: the validator exits 0
    local what=$1
    shift
    if "$PY" "$V" "$SPEC" "$@" >"$OUT" 2>&1; then ok "$what"; else not_ok "$what: $(cat "$OUT")"; fi
}
expect_refused() { # expect_refused WHAT ARGS...: the validator exits 1
    local what=$1
    shift
    "$PY" "$V" "$SPEC" "$@" >"$OUT" 2>&1
    if [ $? = 1 ]; then ok "$what"; else not_ok "$what: $(cat "$OUT")"; fi
}
expect_ok "the document is valid and matches the operations table" \
    --check "$CASEFLOW_SRCDIR/engine/ops/ops.c"
printf '{"items":[],"next":null}\n' >"$E2E_TMP/page.json"
printf '{"items":[{"id":"CF-000001"}],"next":null}\n' >"$E2E_TMP/short.json"
printf '{"type":"urn:caseflow:problem:invalid","title":"invalid input","status":422,"detail":"x","code":"CF_EINVALID","field":null}\n' >"$E2E_TMP/problem.json"
expect_ok "an empty page of cases" GET /v1/cases 200 "$E2E_TMP/page.json"
expect_refused "a case without its required members" GET /v1/cases 200 "$E2E_TMP/short.json"
expect_ok "a problem for a refused event" POST /v1/cases/CF-000001/events/x 422 "$E2E_TMP/problem.json"
expect_refused "a status the route does not document" GET /v1/cases 418 "$E2E_TMP/problem.json"
expect_refused "JSON where text is documented" GET /v1/cases 200 "$E2E_TMP/page.json" text/html
finish
