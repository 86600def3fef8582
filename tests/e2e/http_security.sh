#!/bin/bash
# The security of caseflowd's API, through a real server on 127.0.0.1:
# every /v1 route of docs/openapi.yaml without a token (401 with
# WWW-Authenticate), with a revoked token, an expired one (the service
# restarted later on the test clock) and a disabled user's (401, each
# refusal audited as auth.refused); the wrong role (403 naming the rule,
# audited); an administrator changing facts (403); reads without a reason
# (400 naming reason); an oversized body (413), malformed JSON (400), the
# wrong content type (415); CR, LF and NUL in headers, over-long headers and
# request lines; ../, %2F and %00 in ids; slow clients that send half a
# request (timed out while others are served); repeated bad tokens from one
# address (429 with Retry-After); and CASEFLOW_NOW refused on a store on
# the system clock. After every refusal the store holds what it held (a
# refusal may add an audit record of itself, nothing else), every answer
# validates against docs/openapi.yaml, and the chain verifies at the end.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/http_lib.sh"

if [ ! -f "$POLIT" ]; then
    echo "1..0 # SKIP $POLIT does not exist yet"
    exit 77
fi

applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
granted='{"authority":"OCDA","reference":"OCDA-2026-0001","urgent":false}'
resolved='{"name":"Test Subscriber One","address":{"line1":"1 Example Street","town":"Exampleton","postcode":"ZZ1 1ZZ"},"address_type":"installation","provider_reference":"ISP-REF-0001"}'
high_checks='{"occupants":[{"name":"Test Occupant Two","dob":"1975-05-05"}],"prior_history":true,"registered_sex_offender":false,"children_in_household":true,"access_to_children_at_work":false,"distribution_signs":true,"address_corroborated":true}'
WHY=(-H "X-Caseflow-Reason: e2e security")

# ---- CASEFLOW_NOW on a store on the system clock: refused ------------------------------------
SYSTEM_STORE=$(store_for system)
(unset CASEFLOW_NOW; cf --store "$SYSTEM_STORE" --actor admin init >/dev/null) ||
    { echo "Bail out! cannot make a store on the system clock"; exit 99; }
CASEFLOW_NOW=2026-10-01T08:00:00Z timeout 20 "$CASEFLOWD" --store "$SYSTEM_STORE" \
    --listen "127.0.0.1:$(free_port)" >"$OUT" 2>"$ERR" </dev/null
assert_eq 64 "$?" "caseflowd refuses CASEFLOW_NOW on a store on the system clock"
assert_contains "$ERR" "CASEFLOW_NOW" "the refusal names CASEFLOW_NOW"
assert_eq 1 "$(wc -l <"$ERR")" "in one line"

# ---- the store: the team, tokens, a case waiting for authorisation, a MASH task --------------
export CASEFLOW_NOW=$E2E_EPOCH # 1 October 2026, 08:00
http_setup_store
if ! cf --actor admin user add gone1 --role officer >/dev/null ||
    ! cf --actor admin user add dual1 --role officer,authoriser >/dev/null; then
    echo "Bail out! cannot add users"
    exit 99
fi
http_token gone1 >/dev/null
http_token dual1 >/dev/null
http_token officer2 --expires 2026-10-02T08:00:00Z --note "expires on 2 October" >/dev/null
EXPIRING=${TOKEN[officer2]}
C1=$(new_case E2E-SEC-ONE)
G=$(new_case E2E-SEC-MASH polit 192.0.2.10 A)
if ! cf --actor officer1 act "$G" authorisation.applied --data "$applied" >/dev/null ||
    ! cf --actor authoriser1 act "$G" authorisation.granted --data "$granted" >/dev/null ||
    ! cf --actor analyst1 act "$G" subscriber.resolved --data "$resolved" >/dev/null ||
    ! cf --actor analyst1 act "$G" checks.completed --data "$high_checks" >/dev/null; then
    echo "Bail out! cannot prepare the MASH case"
    exit 99
fi
TASK=$(store_sql "SELECT seq FROM tasks WHERE case_id = '$G'")
GRANT="/v1/cases/$C1/events/authorisation.granted"
cfd_start --max-body 64K --connection-timeout 2

# Failed authentications are counted per address, and ten in a minute
# block the address: requests with a credential that may fail come from
# addresses of their own (127.0.0.2, ...). Where loopback has only
# 127.0.0.1, bad credentials are tried on three routes only, and the
# service is restarted before the count could reach ten.
ADDR_N=0
next_addr() {
    ADDR_N=$((ADDR_N + 1))
    SRC_ADDR="127.0.$((ADDR_N / 250)).$((ADDR_N % 250 + 2))"
}
if [ "$(curl -s --max-time 5 --interface 127.0.0.2 -o /dev/null -w '%{http_code}' "$U/healthz")" \
    = 200 ]; then
    ALIASES=yes
else
    ALIASES=no
    echo "# loopback has no 127.0.0.2: bad credentials are tried on three routes only"
fi
# restart_if_no_aliases: a fresh count of failures where all comes from 127.0.0.1.
restart_if_no_aliases() {
    if [ "$ALIASES" = no ]; then
        cfd_stop
        cfd_start --max-body 64K --connection-timeout 2
    fi
}

# The /v1 routes that need a user, from the API document, as "METHOD PATH
# BODY" with the ids of this store (BODY: yes when the route takes one).
"$PY" - "$SPEC" "$C1" "$TASK" >"$E2E_TMP/routes" <<'EOF'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
ids = {"/v1/cases/": sys.argv[2], "/v1/tasks/": sys.argv[3], "/v1/tokens/": "0123456789ab",
       "/v1/webhooks/": "1"}
for path, item in doc["paths"].items():
    for method in ("get", "post", "put", "patch", "delete"):
        op = item.get(method)
        if not op or not path.startswith("/v1/") or op.get("security") == []:
            continue
        concrete = path.replace("{event}", "authorisation.applied")
        for prefix, value in ids.items():
            if concrete.startswith(prefix):
                concrete = concrete.replace("{id}", value)
        print(method.upper(), concrete, "yes" if "requestBody" in op else "no")
EOF
mapfile -t ROUTES <"$E2E_TMP/routes"
if [ "${#ROUTES[@]}" -ge 20 ]; then
    ok "${#ROUTES[@]} routes need a user"
else
    not_ok "the API document lists the routes that need a user (${#ROUTES[@]})"
fi
BAD_ROUTES=("${ROUTES[@]}")
[ "$ALIASES" = no ] && BAD_ROUTES=("${ROUTES[@]:0:3}")

auth_refusals() {
    store_sql "SELECT count(*) FROM audit WHERE action = 'auth.refused'"
}

# refused_on_every_route WHAT CREDENTIAL AUDITED [CURL ARGS...]: every
# route answers 401 (CF_EDENIED, with WWW-Authenticate: Bearer) to a
# request with CURL ARGS, and nothing changes. CREDENTIAL: "none" (no
# attempt to count) or "bad" (a failed attempt, from an address of its
# own); AUDITED: yes when each refusal adds one auth.refused record (the
# token is known), no when nothing at all is recorded. ROUTE_LIMIT, when
# set, tries that many routes only.
refused_on_every_route() {
    local what=$1 credential=$2 audited=$3 route method path body extra before head refusals n=0
    shift 3
    local list=("${ROUTES[@]}")
    [ "$credential" = bad ] && list=("${BAD_ROUTES[@]}")
    [ -n "${ROUTE_LIMIT:-}" ] && list=("${list[@]:0:$ROUTE_LIMIT}")
    before=$(store_state)
    head=$(audit_head)
    refusals=$(auth_refusals)
    for route in "${list[@]}"; do
        read -r method path body <<<"$route"
        extra=()
        [ "$body" = yes ] && extra=("${JSON[@]}" --data-binary '{}')
        [ "$credential" = bad ] && [ "$ALIASES" = yes ] && next_addr
        n=$((n + 1))
        expect_problem 401 CF_EDENIED - "$what: $method $path" "$method" "$path" - \
            "${WHY[@]}" "$@" "${extra[@]}" &&
            { header_has 'WWW-Authenticate: Bearer' ||
                not_ok "$what: $method $path: no WWW-Authenticate: Bearer"; }
    done
    SRC_ADDR=
    assert_eq "$before" "$(store_state)" "$what: the store is unchanged ($n routes)"
    if [ "$audited" = yes ]; then
        assert_eq "$((refusals + n))" \
            "$(auth_refusals)" \
            "$what: each refusal is audited (auth.refused)"
    else
        assert_eq "$head" "$(audit_head)" "$what: nothing is audited (no user is known)"
    fi
}

# ---- no token, revoked, disabled user, expired -----------------------------------------------
refused_on_every_route "no token" none no
ROUTE_LIMIT=3 refused_on_every_route "not a bearer token" bad no -H "Authorization: Basic YTpi"
restart_if_no_aliases

expect 200 "the token that will expire works before it does" GET "/v1/cases/$C1" officer2 \
    "${WHY[@]}"
expect 201 "the administrator makes a token over HTTP" POST /v1/tokens admin "${JSON[@]}" \
    --data-binary '{"user": "analyst1", "note": "to be revoked"}'
REVOKED=$(jq -r .token "$BODY")
REVOKED_ID=$(jq -r .id "$BODY")
TOKEN[revoked]=$REVOKED
expect 200 "it works" GET "/v1/cases/$C1" revoked "${WHY[@]}"
expect 200 "the administrator revokes it" DELETE "/v1/tokens/$REVOKED_ID" admin
refused_on_every_route "a revoked token" bad yes -H "Authorization: Bearer $REVOKED"

expect 200 "gone1's token works" GET "/v1/cases/$C1" gone1 "${WHY[@]}"
cf --actor admin user disable gone1 >/dev/null || not_ok "user disable gone1"
refused_on_every_route "a disabled user's token" bad yes -H "Authorization: Bearer ${TOKEN[gone1]}"

# Two days later on the test clock: the service restarted follows it.
cfd_stop
assert_eq 0 "$?" "SIGTERM: caseflowd exits 0"
export CASEFLOW_NOW=2026-10-03T08:00:00Z
cfd_start --max-body 64K --connection-timeout 2
refused_on_every_route "an expired token" bad yes -H "Authorization: Bearer $EXPIRING"
restart_if_no_aliases
expect 200 "officer1's token still works" GET "/v1/cases/$C1" officer1 "${WHY[@]}"

# ---- the wrong role: 403 naming the rule, nothing changed, the refusal audited ---------------
"$PY" - "$CASEFLOW_SRCDIR/workflows" >"$E2E_TMP/bundle.json" <<'EOF'
import json, pathlib, sys
d = pathlib.Path(sys.argv[1])
files = {p.relative_to(d).as_posix(): p.read_text()
         for p in [d / "polit.lua", d / "policy.lua", d / "letters" / "warning.txt"]}
files["polit.lua"] += "\n-- e2e: a version nobody may deploy but an administrator\n"
print(json.dumps({"main": "polit.lua", "files": files}))
EOF
head -c 24 /dev/urandom | base64 >"$E2E_TMP/secret"
HOOK=$(jq -cn --arg secret "$(cat "$E2E_TMP/secret")" \
    '{url: "http://127.0.0.1:9/hook", events: ["*"], secret: $secret}')

# forbidden FIELD WHAT METHOD PATH WHO [CURL ARGS...]: 403 naming FIELD (the
# rule), the store unchanged; whether the refusal left its audit record
# (action "refused", by the caller) is noted in UNAUDITED, checked once
# below.
UNAUDITED=()
FORBIDDEN_N=0
forbidden() {
    local field=$1 what=$2 before head n
    shift 2
    before=$(store_state)
    head=$(audit_head)
    expect_problem 403 CF_EDENIED "$field" "$what" "$@"
    assert_eq "$before" "$(store_state)" "$what: the store is unchanged"
    n=$(store_sql "SELECT count(*) FROM audit WHERE seq > $head
        AND action = 'refused' AND actor = '$3'")
    FORBIDDEN_N=$((FORBIDDEN_N + 1))
    [ "$n" -ge 1 ] || UNAUDITED+=("$what")
}
forbidden role "an analyst applies for authorisation (officers do)" \
    POST "/v1/cases/$C1/events/authorisation.applied" analyst1 "${JSON[@]}" --data-binary "$applied"
forbidden role "an analyst claims the MASH task (officers do)" POST "/v1/tasks/$TASK/claim" analyst1
forbidden role "an analyst completes it" POST "/v1/tasks/$TASK/complete" analyst1 "${JSON[@]}" \
    --data-binary '{"result": {"mash_reference": "MASH-2026-0001"}}'
forbidden role "a supervisor sends a referral (intake roles do)" POST /v1/referrals supervisor1 \
    "${JSON[@]}" --data-binary "$(referral E2E-SEC-SUPERVISOR)"
forbidden role "an officer lists the tokens" GET /v1/tokens officer1
forbidden role "an officer makes a token" POST /v1/tokens officer1 "${JSON[@]}" \
    --data-binary '{"user": "officer1"}'
forbidden role "an officer revokes a token" DELETE "/v1/tokens/$REVOKED_ID" officer1
forbidden role "an officer deploys a workflow" POST /v1/workflows officer1 "${JSON[@]}" \
    --data-binary @"$E2E_TMP/bundle.json"
forbidden role "an officer activates a workflow version" \
    POST /v1/workflows/polit/versions/1/activate officer1
forbidden role "an officer adds a webhook" POST /v1/webhooks officer1 "${JSON[@]}" \
    --data-binary "$HOOK"
forbidden role "an officer lists the webhooks" GET /v1/webhooks officer1
expect 200 "dual1 applies for authorisation" POST "/v1/cases/$C1/events/authorisation.applied" \
    dual1 "${JSON[@]}" --data-binary "$applied"
forbidden four_eyes "dual1 grants its own application (four eyes)" \
    POST "$GRANT" dual1 "${JSON[@]}" --data-binary "$granted"
# The issue's rule for bad input: "an audit record where a user is known".
if [ "${#UNAUDITED[@]}" = 0 ]; then
    ok "each of the $FORBIDDEN_N refusals of a known user is in the audit chain"
else
    not_ok "each refusal of a known user is in the audit chain: ${#UNAUDITED[@]} of $FORBIDDEN_N are not"
    printf '#   not audited: %s\n' "${UNAUDITED[@]}"
fi
# The four-eyes refusal is in the case's own history, naming the rule.
# (a JSON member: json_extract on SQLite, ->> on PostgreSQL)
if is_pg_store "$CASEFLOW_STORE"; then
    J_REFUSED="(r.payload::jsonb ->> 'refused')" J_FIELD="(r.payload::jsonb ->> 'field')"
else
    J_REFUSED="json_extract(r.payload, '\$.refused')" J_FIELD="json_extract(r.payload, '\$.field')"
fi
assert_eq "dual1 case.act four_eyes" "$(store_sql "SELECT a.actor || ' ' ||
    $J_REFUSED || ' ' || $J_FIELD FROM audit a
    JOIN records r ON r.seq = a.seq WHERE a.action = 'refused' AND a.case_id = '$C1'
    ORDER BY a.seq DESC LIMIT 1")" "the four-eyes refusal is in $C1's audit, naming the rule"

# only_refusals_since HEAD: the records after audit seq HEAD that are not
# refusals (a refused read is no consultation).
only_refusals_since() {
    store_sql "SELECT count(*) FROM audit WHERE seq > $1 AND action <> 'refused'"
}

# refused_since HEAD [N]: the refusal records after audit seq HEAD; waits
# (up to 5 s) for N of them: a body refused unread (413, 415) is answered
# first and recorded when its request completes.
refused_since() {
    local n i
    for i in $(seq 50); do
        n=$(store_sql "SELECT count(*) FROM audit WHERE seq > $1
            AND action = 'refused'")
        [ -z "${2:-}" ] || [ "$n" -ge "$2" ] && break
        sleep 0.1
    done
    echo "$n"
}

# ---- administrators do not change facts ------------------------------------------------------
before=$(store_state)
expect_problem 403 CF_EDENIED role "the administrator records an event" \
    POST "$GRANT" admin "${JSON[@]}" --data-binary "$granted"
expect_problem 403 CF_EDENIED role "the administrator sends a referral" POST /v1/referrals admin \
    "${JSON[@]}" --data-binary "$(referral E2E-SEC-ADMIN)"
expect_problem 403 CF_EDENIED role "the administrator claims a task" \
    POST "/v1/tasks/$TASK/claim" admin
expect_problem 403 CF_EDENIED role "the administrator completes a task" \
    POST "/v1/tasks/$TASK/complete" admin "${JSON[@]}" --data-binary '{"result": {}}'
assert_eq "$before" "$(store_state)" "the administrator changed nothing"

# ---- reads without a reason ------------------------------------------------------------------
before=$(store_state)
head=$(audit_head)
for path in /v1/cases "/v1/cases/$C1" "/v1/cases/$C1/history" "/v1/cases/$C1/pole" /v1/tasks \
    "/v1/feed?after=0" /v1/report; do
    expect_problem 400 CF_EUSAGE reason "a read without a reason: $path" GET "$path" supervisor1
done
assert_jq "$BODY" '.detail | test("X-Caseflow-Reason") and (test("--reason") | not)' \
    "the refusal says how to give a reason over HTTP, not the command's options"
expect_problem 400 CF_EUSAGE reason "a blank reason" GET "/v1/cases/$C1" supervisor1 \
    -H "X-Caseflow-Reason:   "
expect_problem 400 CF_EUSAGE reason "a blank reason parameter" GET "/v1/cases/$C1?reason=%20%09" \
    supervisor1
assert_eq "$before" "$(store_state)" "reads without a reason change nothing"
assert_eq 0 "$(only_refusals_since "$head")" "and are no consultation"
assert_eq 9 "$(refused_since "$head")" "each is recorded as refused"

# ---- bodies: too large, not JSON, not the right type -----------------------------------------
head -c 70000 /dev/zero | tr '\0' ' ' >"$E2E_TMP/big.json"
printf '{"pad": "%s"}' "$(head -c 70000 /dev/zero | tr '\0' x)" >"$E2E_TMP/big-object.json"
{
    referrals E2E-SEC-BIG 300
} >"$E2E_TMP/big.ndjson"
before=$(store_state)
head=$(audit_head)
expect_problem 413 CF_EINVALID body "a referral over --max-body" POST /v1/referrals analyst1 \
    "${JSON[@]}" --data-binary @"$E2E_TMP/big-object.json"
expect_problem 413 CF_EINVALID body "a batch over --max-body" POST /v1/referrals analyst1 \
    "${NDJSON[@]}" --data-binary @"$E2E_TMP/big.ndjson"
expect_problem 413 CF_EINVALID body "a chunked body over --max-body" POST /v1/referrals analyst1 \
    "${JSON[@]}" -H "Transfer-Encoding: chunked" --data-binary @"$E2E_TMP/big.json"
expect_problem 413 CF_EINVALID body "event data over --max-body" \
    POST "$GRANT" authoriser1 "${JSON[@]}" \
    --data-binary @"$E2E_TMP/big-object.json"
expect_problem 413 CF_EINVALID body "a task result over --max-body" \
    POST "/v1/tasks/$TASK/complete" officer1 "${JSON[@]}" --data-binary @"$E2E_TMP/big-object.json"
expect_problem 413 CF_EINVALID body "a workflow over --max-body" POST /v1/workflows admin \
    "${JSON[@]}" --data-binary @"$E2E_TMP/big-object.json"
assert_eq "$before" "$(store_state)" "bodies over --max-body change nothing"
assert_eq 6 "$(refused_since "$head" 6)" "each of the 6 is recorded as refused"

python3_deep() { "$PY" -c 'print("[" * 5000 + "]" * 5000)'; }
python3_deep >"$E2E_TMP/deep.json"
printf '{"necessity": "\377\376"}' >"$E2E_TMP/latin1.json"
before=$(store_state)
head=$(audit_head)
expect_problem 400 CF_EINVALID body "a referral that is not JSON" POST /v1/referrals analyst1 \
    "${JSON[@]}" --data-binary '{"source": "NCA-CEOP", "reference": '
assert_jq "$BODY" '.detail | test("line 1, column")' "the position is named"
expect_problem 400 CF_EINVALID body "event data that is not JSON" \
    POST "$GRANT" authoriser1 "${JSON[@]}" --data-binary "{authority: OCDA}"
expect_problem 400 CF_EINVALID body "a duplicate key" \
    POST "$GRANT" authoriser1 "${JSON[@]}" \
    --data-binary '{"authority": "OCDA", "authority": "other"}'
expect_problem 400 CF_EINVALID body "bytes that are not UTF-8" \
    POST "$GRANT" authoriser1 "${JSON[@]}" --data-binary @"$E2E_TMP/latin1.json"
expect_problem 400 CF_EINVALID body "JSON nested 5,000 deep" \
    POST "$GRANT" authoriser1 "${JSON[@]}" --data-binary @"$E2E_TMP/deep.json"
expect_problem 400 CF_EINVALID body "a task result that is not JSON" \
    POST "/v1/tasks/$TASK/complete" officer1 "${JSON[@]}" --data-binary '{"result": '
expect_problem 400 CF_EINVALID body "a token request that is not JSON" POST /v1/tokens admin \
    "${JSON[@]}" --data-binary 'user=officer1'
expect_problem 400 CF_EINVALID body "a webhook that is not JSON" POST /v1/webhooks admin \
    "${JSON[@]}" --data-binary '{"url": "http://127.0.0.1:9/"'
expect_problem 400 CF_EINVALID body "trailing garbage" POST /v1/referrals analyst1 "${JSON[@]}" \
    --data-binary "$(referral E2E-SEC-TRAILING) x"
assert_eq "$before" "$(store_state)" "malformed JSON changes nothing"
assert_eq 9 "$(refused_since "$head")" "each of the 9 is recorded as refused"

before=$(store_state)
head=$(audit_head)
expect_problem 415 CF_EINVALID - "a referral as text/plain" POST /v1/referrals analyst1 \
    -H "Content-Type: text/plain" --data-binary "$(referral E2E-SEC-TEXT)"
expect_problem 415 CF_EINVALID - "a referral as a form" POST /v1/referrals analyst1 \
    --data-urlencode "referral=$(referral E2E-SEC-FORM)"
expect_problem 415 CF_EINVALID - "a referral without a content type" POST /v1/referrals analyst1 \
    -H "Content-Type:" --data-binary "$(referral E2E-SEC-NONE)"
expect_problem 415 CF_EINVALID - "application/jsonx" POST /v1/referrals analyst1 \
    -H "Content-Type: application/jsonx" --data-binary "$(referral E2E-SEC-JSONX)"
expect_problem 415 CF_EINVALID - "event data as NDJSON (a batch is for referrals only)" \
    POST "$GRANT" authoriser1 "${NDJSON[@]}" --data-binary "$granted"
expect_problem 415 CF_EINVALID - "a body on a claim (it takes none)" POST "/v1/tasks/$TASK/claim" \
    officer1 "${JSON[@]}" --data-binary '{}'
expect_problem 415 CF_EINVALID - "a body on a read" GET /v1/cases supervisor1 "${WHY[@]}" \
    "${JSON[@]}" --data-binary '{"state": "closed"}'
assert_eq "$before" "$(store_state)" "the wrong content types change nothing"
assert_eq 7 "$(refused_since "$head" 7)" "each of the 7 is recorded as refused"
expect 200 "application/json; charset=utf-8 is JSON" POST /v1/referrals analyst1 \
    -H "Content-Type: application/json; charset=utf-8" --data-binary "$(referral E2E-SEC-ONE)"

# ---- headers: CR, LF and NUL; too long; too many ---------------------------------------------
# raw.py FILE [SRC]: send FILE's bytes as they are on a new connection and
# print the answer's status (000 when the server closed without one) and,
# on the next lines, its headers; read for at most 10 s.
cat >"$E2E_TMP/raw.py" <<'EOF'
import socket, sys
data = open(sys.argv[1], "rb").read()
s = socket.socket()
s.bind((sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1", 0))
s.settimeout(10)
s.connect(("127.0.0.1", int(sys.argv[2])))
try:
    s.sendall(data)
except OSError:
    pass
out = b""
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
except OSError:
    pass
head = out.split(b"\r\n\r\n", 1)[0].decode("latin-1")
lines = head.split("\r\n")
print(lines[0].split(" ")[1] if lines[0].startswith("HTTP/1.") else "000")
for line in lines[1:]:
    print(line)
EOF
# raw NAME: send $E2E_TMP/NAME.req; RAW_STATUS and $E2E_TMP/NAME.head.
raw() {
    timeout 20 "$PY" "$E2E_TMP/raw.py" "$E2E_TMP/$1.req" "$PORT" ${2:+"$2"} >"$E2E_TMP/$1.head"
    RAW_STATUS=$(head -n 1 "$E2E_TMP/$1.head")
}
# one_of WHAT STATUS...: RAW_STATUS is one of them.
one_of() {
    local what=$1 s
    shift
    for s in "$@"; do
        [ "$RAW_STATUS" = "$s" ] && { ok "$what: $RAW_STATUS"; return 0; }
    done
    not_ok "$what: $RAW_STATUS is not one of $*"
    return 1
}
SV=${TOKEN[supervisor1]}
before=$(store_state)
# A field value holding CR or NUL is refused, or the character never
# reaches the record (RFC 9110, 5.5: reject, or replace it with SP). The
# reason's bytes in upper-case hex: SQLite's hex(), PostgreSQL's encode.
HEX_JUSTIFICATION="hex(justification)"
is_pg_store "$CASEFLOW_STORE" &&
    HEX_JUSTIFICATION="upper(encode(convert_to(justification, 'UTF8'), 'hex'))"
reason_check() {
    local name=$1 want=$2 what=$3 got
    raw "$name"
    if [ "$RAW_STATUS" = 400 ]; then
        ok "$what: refused (400)"
        return
    fi
    got=$(store_sql "SELECT $HEX_JUSTIFICATION FROM audit
        WHERE action = 'consultation' AND justification LIKE 'e2e%' ORDER BY seq DESC LIMIT 1")
    if [ "$RAW_STATUS" = 200 ] && [ "$got" = "$want" ]; then
        ok "$what: taken with the character replaced by a space"
    else
        not_ok "$what: answered $RAW_STATUS and recorded the reason as hex $got" \
            "(want 400, or $want)"
    fi
}
# request NAME HEADERS...: $E2E_TMP/NAME.req, a GET of case C1 with these
# header lines (backslash escapes as printf %b takes them: \r, \n, \0).
request() {
    local name=$1 h
    shift
    {
        printf 'GET /v1/cases/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n' "$C1"
        for h in "$@"; do
            printf '%b\r\n' "$h"
        done
        printf 'Connection: close\r\n\r\n'
    } >"$E2E_TMP/$name.req"
}
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n' | tr a-f A-F; }
AUTH_SV="Authorization: Bearer $SV"
request cr "$AUTH_SV" 'X-Caseflow-Reason: e2e cr\rX-Forged: yes'
reason_check cr "$(hex 'e2e cr X-Forged: yes')" "a bare CR in a header value"
request nul "$AUTH_SV" 'X-Caseflow-Reason: e2e nul\0hidden'
# A known gap: libmicrohttpd 0.9.75 ends the value at the NUL even in its
# strict mode, so the service sees "e2e nul" and cannot tell.
reason_check_todo() {
    local before=$E2E_FAILED
    reason_check "$@" | sed '/^not ok/s/$/ # TODO libmicrohttpd cuts the value at a NUL/'
    E2E_FAILED=$before
}
reason_check_todo nul "$(hex 'e2e nul hidden')" "a NUL in a header value"
# A bare LF ends the line: whatever follows is a header of the client's own.
request lf "$AUTH_SV" 'X-Caseflow-Reason: e2e lf\nX-Forged: yes'
raw lf
one_of "a bare LF in a header value" 200 400
request fold "$AUTH_SV" 'X-Caseflow-Reason: e2e\r\n folded'
raw fold
one_of "an obsolete line folding" 400
request name "$AUTH_SV" 'X Bad Name: 1' 'X-Caseflow-Reason: e2e'
raw name
one_of "a header name with spaces (ignored, or refused)" 200 400
request long "$AUTH_SV" "X-Caseflow-Reason: $(head -c 100000 /dev/zero | tr '\0' r)"
raw long
one_of "a header of 100 KB" 431 400 413
mapfile -t many < <(seq -f 'X-Many-%g: 1' 3000)
request many "$AUTH_SV" "${many[@]}" 'X-Caseflow-Reason: e2e'
raw many
one_of "3,000 headers" 431 400 413
C1_SAVED=$C1
C1=$(head -c 100000 /dev/zero | tr '\0' C)
request uri "$AUTH_SV" 'X-Caseflow-Reason: e2e'
C1=$C1_SAVED
raw uri
one_of "a request line of 100 KB" 414 431 400
request authcr "$AUTH_SV\rX-Caseflow-Reason: e2e"
from=127.0.0.1
[ "$ALIASES" = yes ] && { next_addr; from=$SRC_ADDR; SRC_ADDR=; }
raw authcr "$from"
one_of "a CR inside the Authorization header" 400 401
assert_eq "$before" "$(store_state)" "header tricks change nothing"
expect 200 "the service still answers" GET "/v1/cases/$C1" supervisor1 "${WHY[@]}"
# Nothing of the request comes back as a header of the answer.
NO_OPENAPI=1 http GET "/v1/cases/%0D%0ASet-Cookie:%20e2e=1" supervisor1 "${WHY[@]}"
if header_has 'Set-Cookie'; then
    not_ok "CR LF in the path came back as a header"
else
    ok "CR LF in the path does not come back as a header ($STATUS)"
fi
before=$(store_state)
key200=$(head -c 200 /dev/zero | tr '\0' k)
expect_problem 422 CF_EINVALID idempotency_key "an Idempotency-Key of 200 characters" \
    POST "$GRANT" authoriser1 "${JSON[@]}" \
    -H "Idempotency-Key: $key200" --data-binary "$granted"
expect_problem 422 CF_EINVALID idempotency_key "an Idempotency-Key with a control character" \
    POST "$GRANT" authoriser1 "${JSON[@]}" \
    -H "Idempotency-Key: e2e$(printf '\001')key" --data-binary "$granted"
expect_problem 400 CF_EUSAGE If-Match "an If-Match that is not a quoted number" \
    POST "$GRANT" authoriser1 "${JSON[@]}" \
    -H 'If-Match: "1" OR 1=1' --data-binary "$granted"
assert_eq "$before" "$(store_state)" "bad Idempotency-Key and If-Match change nothing"

# ---- ids: ../, %2F, %00 ----------------------------------------------------------------------
before=$(store_state)
head=$(audit_head)
for p in "/v1/cases/../tokens" "/v1/cases/$C1/../../tokens" "/v1/cases/..%2Ftokens" \
    "/v1/cases/$C1%2F..%2F..%2Ftokens" "/v1/cases/$C1%00" "/v1/cases/$C1%00/history" \
    "/v1/cases/%00" "/v1/tokens%2F..%2Fcases"; do
    expect_problem 404 CF_ENOTFOUND path "no route: $p" GET "$p" supervisor1 --path-as-is \
        "${WHY[@]}"
done
for p in "/v1/cases/%2E%2E" "/v1/cases/%252F" "/v1/cases/..%5Ctokens" \
    "/v1/cases/$C1%27%20OR%20%271%27%3D%271" "/v1/cases/$C1%0D%0AX-Forged:%201" \
    "/v1/cases/%2E%2E/history"; do
    expect_problem 404 CF_ENOTFOUND - "no such case: $p" GET "$p" supervisor1 --path-as-is \
        "${WHY[@]}"
done
for p in "/v1/tasks/..%2F$TASK/claim" "/v1/tasks/$TASK%2F..%2F$TASK/claim" \
    "/v1/tasks/$TASK%00/claim" \
    "/v1/tasks/../tasks/$TASK/claim"; do
    expect_problem 404 CF_ENOTFOUND path "no route: POST $p" POST "$p" officer1 --path-as-is
done
for p in /v1/tasks/-1/claim "/v1/tasks/${TASK}x/claim" /v1/tasks/99999999999999999999999/claim; do
    expect_problem 422 CF_EINVALID id "not a task id: POST $p" POST "$p" officer1 --path-as-is
done
expect_problem 404 CF_ENOTFOUND - "a token id with ../" DELETE "/v1/tokens/..%2F..%2F$REVOKED_ID" \
    admin --path-as-is
expect_problem 404 CF_ENOTFOUND - "an event name with %2F" \
    POST "/v1/cases/$C1/events/authorisation%2Fgranted" authoriser1 --path-as-is "${JSON[@]}" \
    --data-binary "$granted"
assert_eq "$before" "$(store_state)" "ids with ../, %2F and %00 change nothing"
assert_eq 0 "$(only_refusals_since "$head")" "and read nothing"

# ---- slow clients ----------------------------------------------------------------------------
# Ten connections send half a request and wait; another sends its headers
# and part of a body. The service answers others meanwhile and closes the
# slow ones after --connection-timeout (2 s).
cat >"$E2E_TMP/slow.py" <<'EOF'
import socket, sys, time
port, token, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
conns = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=15)
    s.sendall(b"GET /v1/cases HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthor")
    conns.append(s)
s = socket.create_connection(("127.0.0.1", port), timeout=15)
body = b'{"source": "NCA-CEOP", "reference": "E2E-SEC-SLOW", '
s.sendall(b"POST /v1/referrals HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
          token.encode() + b"\r\nContent-Type: application/json\r\n"
          b"Content-Length: 400\r\n\r\n" + body)
conns.append(s)
open(sys.argv[4], "w").write("sent\n")
t0 = time.time()
closed = []
for c in conns:
    try:
        while c.recv(4096):
            pass
    except OSError:
        pass
    closed.append(time.time() - t0)
print("%.1f" % max(closed))
EOF
timeout 30 "$PY" "$E2E_TMP/slow.py" "$PORT" "${TOKEN[analyst1]}" 10 "$E2E_TMP/slow.sent" \
    >"$E2E_TMP/slow.out" 2>&1 &
SLOW_PID=$!
HTTP_BG+=("$SLOW_PID")
for _ in $(seq 50); do
    [ -e "$E2E_TMP/slow.sent" ] && break
    sleep 0.1
done
before=$(store_state)
t0=$(date +%s%N)
expect 200 "served while slow clients hang" GET "/v1/cases/$C1" supervisor1 "${WHY[@]}"
expect 201 "a referral while slow clients hang" POST /v1/referrals analyst1 "${JSON[@]}" \
    --data-binary "$(referral E2E-SEC-DURING-SLOW)"
t1=$(date +%s%N)
assert_eq yes "$([ $(((t1 - t0) / 1000000)) -lt 1500 ] && echo yes || echo no)" \
    "without waiting for them ($(((t1 - t0) / 1000000)) ms)"
wait "$SLOW_PID"
secs=$(tail -n 1 "$E2E_TMP/slow.out")
if awk -v s="$secs" 'BEGIN { exit !(s + 0 >= 1 && s + 0 <= 8) }'; then
    ok "the slow connections are closed by the service after its timeout (${secs} s)"
else
    not_ok "the slow connections are closed by the service after its timeout:" \
        "$(cat "$E2E_TMP/slow.out")"
fi
assert_eq 0 "$(store_sql "SELECT count(*) FROM cases
    WHERE reference = 'E2E-SEC-SLOW'")" \
    "the half-sent referral was not taken in"
expect 200 "and the service still answers" GET /healthz -

# ---- repeated bad tokens from one address: 429 -----------------------------------------------
# The last part: this address is blocked for the rest of its minute.
restart_if_no_aliases
BLOCKED=127.0.0.1
[ "$ALIASES" = yes ] && BLOCKED=127.1.0.1
before=$(store_state)
SRC_ADDR=$BLOCKED
for i in $(seq 10); do
    TOKEN[guess]="cft_$(printf 'e2e-guess-%02d' "$i" | md5sum | cut -c1-32)AAAAAAAAAAA"
    expect_problem 401 CF_EDENIED - "bad token $i from $BLOCKED" GET "/v1/cases/$C1" guess \
        "${WHY[@]}"
done
expect_problem 429 CF_EDENIED - "the eleventh attempt, with a good token" GET "/v1/cases/$C1" \
    supervisor1 "${WHY[@]}"
if header_has 'Retry-After: [0-9]'; then
    ok "429 says when to retry"
else
    not_ok "429 says when to retry: $(tr -d '\r' <"$HDRS" | tr '\n' ' ')"
fi
expect_problem 429 CF_EDENIED - "a referral from the blocked address" POST /v1/referrals analyst1 \
    "${JSON[@]}" --data-binary "$(referral E2E-SEC-BLOCKED)"
SRC_ADDR=
assert_eq "$before" "$(store_state)" "the blocked address changed nothing"
if [ "$ALIASES" = yes ]; then
    expect 200 "another address is not blocked" GET "/v1/cases/$C1" supervisor1 "${WHY[@]}"
fi

# ---- afterwards ------------------------------------------------------------------------------
check_openapi
cfd_stop
assert_eq 0 "$?" "SIGTERM: caseflowd exits 0"
expect_exit 0 cf --actor admin audit verify
finish
