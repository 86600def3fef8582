#!/bin/sh
# Export lists: every plugin module exports exactly its descriptor
# (<module>_LTX_caseflow_plugin) and nothing else, and libcaseflow.so exports
# only cf_ symbols that include/caseflow/caseflow.h declares. Anything more
# is ABI that nobody meant to promise.
set -eu

builddir=${CASEFLOW_BUILDDIR:-.}
srcdir=${CASEFLOW_SRCDIR:-$(dirname "$0")/../..}
header=$srcdir/include/caseflow/caseflow.h

if ! command -v nm >/dev/null 2>&1; then
    echo "SKIP: nm not found"
    exit 77
fi

failed=0
bad() {
    echo "FAIL: $*"
    failed=1
}

# Defined dynamic symbols of $1, one per line, without version suffixes.
exports() {
    nm -D --defined-only -P "$1" | awk '{ print $1 }' | sed 's/@.*//' | sort -u
}

# ---- plugin modules -------------------------------------------------------
modules=0
for so in "$builddir"/plugins/*/.libs/*.so "$builddir"/tests/plugins/.libs/good.so; do
    [ -f "$so" ] || continue
    modules=$((modules + 1))
    syms=$(exports "$so")
    n=$(printf '%s\n' "$syms" | grep -c '_LTX_caseflow_plugin$' || true)
    if [ "$n" -ne 1 ]; then
        bad "$so exports $n symbols ending in _LTX_caseflow_plugin, want 1"
    fi
    others=$(printf '%s\n' "$syms" | grep -v '_LTX_caseflow_plugin$' | grep -v '^$' || true)
    if [ -n "$others" ]; then
        bad "$so exports more than its descriptor:" $others
    fi
    # libltdl looks the descriptor up under the module's file name.
    module=$(basename "$so" .so)
    if ! printf '%s\n' "$syms" | grep -qx "${module}_LTX_caseflow_plugin"; then
        bad "$so does not export ${module}_LTX_caseflow_plugin"
    fi
done
if [ "$modules" -eq 0 ]; then
    bad "no plugin modules found under $builddir/plugins/*/.libs or $builddir/tests/plugins/.libs (build them with make check)"
fi

# ---- the public library -----------------------------------------------------
lib=$builddir/.libs/libcaseflow.so
if [ -f "$lib" ]; then
    syms=$(exports "$lib")
    public=0
    for sym in $syms; do
        case $sym in
        cf_*) ;;
        *) bad "libcaseflow.so exports $sym, which is not cf_"; continue ;;
        esac
        public=$((public + 1))
        if ! grep -Eq "(^|[^A-Za-z0-9_])$sym[[:space:]]*\(" "$header"; then
            bad "libcaseflow.so exports $sym, which caseflow.h does not declare"
        fi
    done
    if [ "$public" -eq 0 ]; then
        bad "libcaseflow.so exports no cf_ symbols at all"
    fi
else
    echo "note: $lib not built (static-only build?); library exports not checked"
fi

if [ "$failed" -ne 0 ]; then
    exit 1
fi
echo "ok: $modules plugin modules and libcaseflow.so export what they should"
