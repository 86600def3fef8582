# Shared set-up of the HTTP end-to-end tests (http_api.sh, http_security.sh),
# sourced after lib.sh: a store made with the command (the team, polit
# deployed, a test clock) and a bearer token per user; one caseflowd on
# 127.0.0.1 on a free port, bounded by timeout and stopped with SIGTERM on
# the way out; curl requests whose answers are kept, to be checked against
# docs/openapi.yaml at the end (http_openapi.py --each); and a picture of
# what the store holds, to show that a refusal changed nothing.
# Needs curl and /usr/bin/python3 with python3-yaml and python3-jsonschema.
# shellcheck shell=bash

CASEFLOWD=${CASEFLOWD_BIN:-$CASEFLOW_BUILDDIR/caseflowd}
PY=/usr/bin/python3
SPEC="$CASEFLOW_SRCDIR/docs/openapi.yaml"
OPENAPI_CHECK="$CASEFLOW_SRCDIR/tests/e2e/http_openapi.py"

if [ ! -x "$CASEFLOWD" ]; then
    echo "Bail out! no caseflowd at $CASEFLOWD"
    exit 99
fi
if ! command -v curl >/dev/null 2>&1 || [ ! -x "$PY" ] ||
    ! "$PY" -c 'import yaml, jsonschema' 2>/dev/null; then
    echo "1..0 # SKIP needs curl and /usr/bin/python3 with python3-yaml and python3-jsonschema"
    exit 77
fi
# Everything is on loopback: no proxy in between.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

CFD_PID=
CFD_LOG="$E2E_TMP/caseflowd.log"
HTTP_BG=() # background helpers of a test, stopped on the way out
RESP="$E2E_TMP/responses"
OPENAPI_LIST="$E2E_TMP/openapi.list"
mkdir -p "$RESP"
: >"$OPENAPI_LIST"
HTTP_N=0

# On the way out, whatever happened: the helpers go, caseflowd gets SIGTERM
# (timeout passes it on) and, if it is still there 5 s later, SIGKILL; the
# temporary directory goes too, unless E2E_KEEP is set (to look at it).
http_cleanup() {
    local p
    for p in "${HTTP_BG[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    if [ -n "$CFD_PID" ]; then
        kill -TERM "$CFD_PID" 2>/dev/null
        for _ in $(seq 50); do
            kill -0 "$CFD_PID" 2>/dev/null || break
            sleep 0.1
        done
        pkill -KILL -P "$CFD_PID" 2>/dev/null
        kill -KILL "$CFD_PID" 2>/dev/null
    fi
    wait 2>/dev/null
    if [ -n "${E2E_KEEP:-}" ]; then
        echo "# kept $E2E_TMP"
    else
        rm -rf "$E2E_TMP"
    fi
}
trap http_cleanup EXIT

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1]); s.close()'
}

# ---- the store and the tokens ----------------------------------------------------------------

declare -A TOKEN

# http_token USER [ARGS...]: a new bearer token for USER (by the
# administrator), kept in TOKEN[USER] (so not in a subshell) and printed.
http_token() {
    local user=$1 t
    shift
    t=$(cf --actor admin token create "$user" "$@" | tail -n 1)
    case "$t" in
    cft_*) ;;
    *)
        echo "Bail out! cannot create a token for $user"
        exit 99
        ;;
    esac
    TOKEN[$user]=$t
    printf '%s\n' "$t"
}

# http_setup_store: setup_store (lib.sh) and a token for each of analyst1,
# officer1, supervisor1, authoriser1 and admin.
http_setup_store() {
    setup_store
    local u
    for u in analyst1 officer1 supervisor1 authoriser1 admin; do
        http_token "$u" >/dev/null
    done
}

# store_state: what a refusal must not change (cases, their revisions, the
# history, the feed, tasks, tokens, idempotency keys, webhooks).
# The same SQL on both backends (store_sql): the tasks one a row each, in
# order (PostgreSQL has no group_concat, SQLite 3.40 no string_agg), the
# revoked tokens counted with a CASE (PostgreSQL sums no booleans).
store_state() {
    store_sql "SELECT count(*) FROM cases; SELECT max(seq) FROM events;
        SELECT coalesce(sum(revision), 0) FROM cases; SELECT max(seq) FROM notifications;
        SELECT count(*) FROM tasks;
        SELECT status || ':' || coalesce(assignee, '-') FROM tasks ORDER BY seq;
        SELECT count(*), sum(CASE WHEN revoked_at > 0 THEN 1 ELSE 0 END) FROM tokens;
        SELECT count(*) FROM idempotency;
        SELECT count(*) FROM webhooks; SELECT count(*) FROM workflows;" 2>&1 | tr '\n' ' '
}

# audit_head: the newest audit record's seq.
audit_head() {
    store_sql "SELECT coalesce(max(seq), 0) FROM audit"
}

# ---- caseflowd -------------------------------------------------------------------------------

# The bound on one caseflowd's life (a stray one must not outlive the test).
# On PostgreSQL intake is many times slower (a statement is a round trip to
# the server: http_api's 10,000 referrals take minutes), so the bound is too.
CFD_BOUND=300
is_pg_store "$CASEFLOW_STORE" && CFD_BOUND=1500

# cfd_start [ARGS...]: start caseflowd on the store, on a new free port of
# 127.0.0.1 (no timers unless ARGS say otherwise), bounded by timeout, and
# wait until /readyz answers 200. Sets CFD_PID, PORT and U (the base URL).
# A port taken by someone else in between (exit 71) is tried again.
cfd_start() {
    local try
    for try in 1 2 3; do
        PORT=$(free_port)
        U="http://127.0.0.1:$PORT"
        timeout "$CFD_BOUND" "$CASEFLOWD" --store "$CASEFLOW_STORE" --listen "127.0.0.1:$PORT" \
            --tick-interval 0 "$@" >/dev/null 2>>"$CFD_LOG" </dev/null &
        CFD_PID=$!
        for _ in $(seq 200); do
            if [ "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "$U/readyz")" = 200 ]; then
                return 0
            fi
            kill -0 "$CFD_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill -0 "$CFD_PID" 2>/dev/null && break # up, but not ready: cleanup stops it
        wait "$CFD_PID"
        [ $? = 71 ] || break
        echo "# port $PORT was taken (try $try)"
        CFD_PID=
    done
    echo "Bail out! caseflowd did not become ready: $(tail -c 500 "$CFD_LOG")"
    exit 99
}

# cfd_stop: SIGTERM; returns caseflowd's exit status.
cfd_stop() {
    local rc
    kill -TERM "$CFD_PID"
    wait "$CFD_PID"
    rc=$?
    CFD_PID=
    return $rc
}

# ---- requests --------------------------------------------------------------------------------

# http METHOD PATH WHO [CURL ARGS...]: one request to caseflowd, as WHO (a
# user with a token in TOKEN, or "-" for none). Sets STATUS, BODY and HDRS
# (files of this answer), CTYPE; sent from the address SRC_ADDR when it is
# set (one of 127.0.0.0/8: failed attempts are counted per address). The
# answer joins the list checked against the API document, unless
# NO_OPENAPI is set (an answer from outside caseflowd's handlers, e.g.
# libmicrohttpd's own).
http() {
    local method=$1 path=$2 who=$3 auth=()
    shift 3
    HTTP_N=$((HTTP_N + 1))
    # Named by the shell's pid too: a request made in a subshell must not
    # reuse the number of one made after it in the main shell.
    BODY="$RESP/$HTTP_N.$BASHPID.body"
    HDRS="$RESP/$HTTP_N.$BASHPID.hdrs"
    if [ "$who" != - ]; then
        auth=(-H "Authorization: Bearer ${TOKEN[$who]}")
    fi
    if [ -n "${SRC_ADDR:-}" ]; then
        auth+=(--interface "$SRC_ADDR")
    fi
    STATUS=$(curl -s --max-time "${HTTP_MAX_TIME:-20}" -X "$method" -o "$BODY" -D "$HDRS" -w '%{http_code}' \
        "${auth[@]}" "$@" "$U$path")
    local line
    CTYPE=
    if [ -f "$HDRS" ]; then
        while IFS= read -r line; do # without a process: requests are many
            line=${line%$'\r'}
            case "${line,,}" in
            content-type:*) CTYPE=${line#*:} CTYPE=${CTYPE# } ;;
            esac
        done <"$HDRS"
    fi
    if [ -z "${NO_OPENAPI:-}" ] && [ "$STATUS" != 000 ]; then
        printf '%s %s %s %s %s\n' "$method" "${path%%\?*}" "$STATUS" "$BODY" "$CTYPE" \
            >>"$OPENAPI_LIST"
    fi
}

# shellcheck disable=SC2034 # for the scripts that source this file
JSON=(-H "Content-Type: application/json")
# shellcheck disable=SC2034
NDJSON=(-H "Content-Type: application/x-ndjson")

# expect STATUS WHAT METHOD PATH WHO [CURL ARGS...]: the request answers STATUS.
expect() {
    local want=$1 what=$2
    shift 2
    http "$@"
    if [ "$STATUS" = "$want" ]; then
        ok "$what: $want"
    else
        not_ok "$what: expected $want, got $STATUS: $(head -c 300 "$BODY")"
        return 1
    fi
}

# expect_problem STATUS CODE FIELD WHAT METHOD PATH WHO [CURL ARGS...]: an
# RFC 9457 problem of that status and engine code, naming FIELD ("-": any).
expect_problem() {
    local status=$1 code=$2 field=$3 what=$4
    shift 4
    http "$@"
    if [ "$STATUS" != "$status" ]; then
        not_ok "$what: expected $status, got $STATUS: $(head -c 300 "$BODY")"
        return 1
    fi
    case "$CTYPE" in
    application/problem+json*) ;;
    *)
        not_ok "$what: $status is not application/problem+json ($CTYPE)"
        return 1
        ;;
    esac
    local named='' text filter
    filter=".status == $status and .code == \"$code\" and (.detail | type) == \"string\""
    [ "$field" != - ] && named=" ($field)" filter="$filter and .field == \"$field\""
    # The service writes compact JSON: look for the members in the text
    # first (without a process: requests are many), and ask jq only if not.
    IFS= read -r -d '' text <"$BODY"
    if [[ "$text" == *"\"status\":$status,"* && "$text" == *"\"code\":\"$code\""* &&
        "$text" == *'"detail":"'* && ("$field" == - || "$text" == *"\"field\":\"$field\""*) ]] ||
        jq -e "$filter" "$BODY" >/dev/null 2>&1; then
        ok "$what: $status $code$named"
    else
        not_ok "$what: $status but not $code naming '$field': $(head -c 300 "$BODY")"
        return 1
    fi
}

# header_has NAME-REGEX: the last answer carries that header (a line of $HDRS
# matching "^NAME-REGEX", case-insensitive).
header_has() {
    local line
    while IFS= read -r line; do
        [[ "${line,,}" =~ ^${1,,} ]] && return 0
    done <"$HDRS"
    return 1
}

# check_openapi: every answer kept validates against docs/openapi.yaml; on
# a failure, every failing answer is listed.
check_openapi() {
    local n
    n=$(wc -l <"$OPENAPI_LIST")
    if "$PY" "$OPENAPI_CHECK" "$SPEC" --each "$OPENAPI_LIST" >"$OUT" 2>"$ERR"; then
        ok "all $n answers validate against docs/openapi.yaml"
        return 0
    fi
    not_ok "answers validate against docs/openapi.yaml: $(head -n 1 "$OUT")"
    "$PY" -B - "$OPENAPI_CHECK" "$SPEC" "$OPENAPI_LIST" <<'EOF' | head -n 20 | sed 's/^/#   /'
import importlib.util, sys
spec_mod = importlib.util.spec_from_file_location("http_openapi", sys.argv[1])
m = importlib.util.module_from_spec(spec_mod)
spec_mod.loader.exec_module(m)
spec = m.Spec(sys.argv[2])
for line in open(sys.argv[3], encoding="utf-8"):
    f = line.split(None, 4)
    why = m._one(spec, f) if f else None
    if why:
        print("%s %s %s: %s" % (f[0], f[1], f[2], why))
EOF
}
