#!/bin/sh
# Export lists: every plugin module exports exactly its descriptor
# (<module>_LTX_caseflow_plugin) and nothing else, libcaseflow.so exports
# only cf_ symbols that include/caseflow/caseflow.h declares, and
# libcaseflow-plugin-util.so only the cfp_ functions plugin-util.h declares,
# libcaseflow-plugin-test.so only the cfpt_ functions plugin-test.h declares.
# Anything more is ABI that nobody meant to promise. The shipped modules take
# the cfp_ helpers from that library, never from a private copy.
set -eu

builddir=${CASEFLOW_BUILDDIR:-.}
srcdir=${CASEFLOW_SRCDIR:-$(dirname "$0")/../..}
header=$srcdir/include/caseflow/caseflow.h
util_header=$srcdir/include/caseflow/plugin-util.h
test_header=$srcdir/include/caseflow/plugin-test.h

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
    # A shipped module defines no cfp_ function, even a local one: it links
    # libcaseflow-plugin-util instead of compiling the helpers in.
    case $so in
    */tests/plugins/*) ;;
    *)
        copies=$(nm --defined-only -P "$so" 2>/dev/null | awk '$1 ~ /^cfp_/ { print $1 }')
        if [ -n "$copies" ]; then
            bad "$so has its own copy of helpers:" $copies
        fi
        if uses=$(nm -D --undefined-only -P "$so" | awk '$1 ~ /^cfp_/' | grep -c .) &&
            [ "$uses" -gt 0 ] &&
            ! readelf -d "$so" | grep -q 'NEEDED.*\[libcaseflow-plugin-util\.so\.'; then
            bad "$so uses cfp_ helpers but does not link libcaseflow-plugin-util"
        fi
        ;;
    esac
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

# ---- the plugin helper library ------------------------------------------------
lib=$builddir/.libs/libcaseflow-plugin-util.so
if [ -f "$lib" ]; then
    syms=$(exports "$lib")
    public=0
    for sym in $syms; do
        case $sym in
        cfp_*) ;;
        *) bad "libcaseflow-plugin-util.so exports $sym, which is not cfp_"; continue ;;
        esac
        public=$((public + 1))
        if ! grep -Eq "(^|[^A-Za-z0-9_])$sym[[:space:]]*\(" "$util_header"; then
            bad "libcaseflow-plugin-util.so exports $sym, which plugin-util.h does not declare"
        fi
    done
    # ... and every function the header declares is there.
    for sym in $(sed -n 's/^[a-z_0-9 ]*[ *]\(cfp_[a-z_0-9]*\)(.*/\1/p' "$util_header"); do
        printf '%s\n' "$syms" | grep -qx "$sym" ||
            bad "plugin-util.h declares $sym, which libcaseflow-plugin-util.so does not export"
    done
    if [ "$public" -eq 0 ]; then
        bad "libcaseflow-plugin-util.so exports no cfp_ symbols at all"
    fi
else
    echo "note: $lib not built (static-only build?); helper library exports not checked"
fi

# ---- the plugin test harness ---------------------------------------------------
lib=$builddir/.libs/libcaseflow-plugin-test.so
if [ -f "$lib" ]; then
    syms=$(exports "$lib")
    public=0
    for sym in $syms; do
        case $sym in
        cfpt_*) ;;
        *) bad "libcaseflow-plugin-test.so exports $sym, which is not cfpt_"; continue ;;
        esac
        public=$((public + 1))
        if ! grep -Eq "(^|[^A-Za-z0-9_])$sym[[:space:]]*\(" "$test_header"; then
            bad "libcaseflow-plugin-test.so exports $sym, which plugin-test.h does not declare"
        fi
    done
    for sym in $(sed -n 's/^[a-z_0-9 ]*[ *]\(cfpt_[a-z_0-9]*\)(.*/\1/p' "$test_header"); do
        printf '%s\n' "$syms" | grep -qx "$sym" ||
            bad "plugin-test.h declares $sym, which libcaseflow-plugin-test.so does not export"
    done
    if [ "$public" -eq 0 ]; then
        bad "libcaseflow-plugin-test.so exports no cfpt_ symbols at all"
    fi
else
    echo "note: $lib not built (static-only build?); harness library exports not checked"
fi

if [ "$failed" -ne 0 ]; then
    exit 1
fi
echo "ok: $modules plugin modules, libcaseflow.so, libcaseflow-plugin-util.so and libcaseflow-plugin-test.so export what they should"
