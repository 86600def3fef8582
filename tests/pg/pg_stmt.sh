#!/bin/sh
# The statement layer over libpq (tests/unit/test_pg) against a real server:
# a throwaway cluster (tests/pg/cluster.sh) in a temporary directory, stopped
# and removed on the way out whatever happens. Skips (77) when no PostgreSQL
# server is installed. CF_PG_WRAPPER runs the program under a tool, e.g.
# CF_PG_WRAPPER='valgrind --error-exitcode=99 --leak-check=full'.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
builddir=${CASEFLOW_BUILDDIR:-.}
prog=$builddir/tests/unit/test_pg
[ -x "$prog" ] || { echo "pg_stmt.sh: $prog is not built" >&2; exit 99; }

dir=$(mktemp -d /tmp/cf-pg.XXXXXX)
trap 'sh "$here/cluster.sh" stop "$dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

t0=$(date +%s)
rc=0
out=$(sh "$here/cluster.sh" start "$dir") || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"
CASEFLOW_PG_URI=${out#CASEFLOW_PG_URI=}
export CASEFLOW_PG_URI
echo "cluster up in $(($(date +%s) - t0))s: $CASEFLOW_PG_URI"

# shellcheck disable=SC2086 # the wrapper is a command line
${CF_PG_WRAPPER:-} "$prog"
