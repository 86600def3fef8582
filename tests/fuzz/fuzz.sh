#!/bin/sh
# make fuzz: build the libFuzzer targets with clang against the engine
# sources (compiled here with the fuzzer's instrumentation, not the gcc-built
# libcaseflow-core), the step plugins as instrumented modules, and run each
# target for FUZZ_SECONDS (0: build only) on a copy of its seed corpus.
#
# Environment (set by the fuzz target of tests/robust.am): FUZZ_CC, SRCDIR,
# BUILDDIR, DEPS_CFLAGS, DEPS_LIBS, FUZZ_SECONDS, FUZZ_TARGETS, FUZZ_JOBS.
set -eu

: "${FUZZ_CC:=clang}"
: "${SRCDIR:?}" "${BUILDDIR:?}"
: "${FUZZ_SECONDS:=0}"
: "${FUZZ_TARGETS:=referral act workflow http scenario}"
: "${DEPS_CFLAGS:=}" "${DEPS_LIBS:=}"

if ! command -v "$FUZZ_CC" >/dev/null 2>&1; then
    echo "make fuzz: $FUZZ_CC not found (apt-get install clang libclang-rt-14-dev)" >&2
    exit 1
fi

OUT="$BUILDDIR/tests/fuzz/out"
OBJ="$OUT/obj"
PLUG="$OUT/plugins"
mkdir -p "$OBJ" "$PLUG"

# FUZZ_SAN_EXCLUDE: UBSan checks left out. Default nonnull-attribute, only
# while engine/workflow/dsl.c link_targets() calls qsort(NULL, 0, ...) for every
# state without transitions (a final state): that aborts every run at its
# first workflow load. Set FUZZ_SAN_EXCLUDE= (empty) to check it again.
FUZZ_SAN_EXCLUDE=${FUZZ_SAN_EXCLUDE-nonnull-attribute}
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
[ -n "$FUZZ_SAN_EXCLUDE" ] && SAN="$SAN -fno-sanitize=$FUZZ_SAN_EXCLUDE"
CFLAGS="-g -O1 -std=c11 $SAN -I$SRCDIR/include -I$SRCDIR/engine -I$BUILDDIR \
 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -DCF_PKGLIBDIR=\"$PLUG\" \
 -DCF_WORKFLOWDIR=\"$SRCDIR/workflows\" $DEPS_CFLAGS"

# compile SRC OBJ EXTRA...: only when SRC (or a header) is newer.
compile() {
    src=$1 obj=$2
    shift 2
    if [ -f "$obj" ] && [ "$obj" -nt "$src" ] &&
        [ -z "$(find "$SRCDIR/engine" "$SRCDIR/include" "$SRCDIR/plugins/common" "$SRCDIR/plugins/util" \
            "$SRCDIR/tests/fuzz" -name '*.h' -newer "$obj" 2>/dev/null)" ]; then
        return 0
    fi
    echo "  CC(fuzz) $src"
    $FUZZ_CC $CFLAGS "$@" -c "$src" -o "$obj"
}

# The engine and the operations table (fuzz_http), instrumented for coverage.
engine_objs=
for src in "$SRCDIR"/engine/*.c "$SRCDIR"/engine/workflow/*.c "$SRCDIR"/engine/ops/*.c; do
    dir=$(basename "$(dirname "$src")")
    o="$OBJ/${dir}_$(basename "$src" .c).o"
    compile "$src" "$o" -fsanitize=fuzzer-no-link
    engine_objs="$engine_objs $o"
done

# The step plugins, as instrumented modules on the fuzz targets' plugin path,
# each with the helper library (plugins/util) and the polit records compiled
# in, so the fuzz targets need no installed libcaseflow-plugin-util.
helpers="$SRCDIR/plugins/common/polit.c $(ls "$SRCDIR"/plugins/util/*.c)"
for dir in "$SRCDIR"/plugins/*/; do
    name=$(basename "$dir")
    [ -f "$dir/$name.c" ] || continue
    so="$PLUG/$name.so"
    stale=
    for h in $helpers; do
        [ "$so" -nt "$h" ] || stale=1
    done
    if [ -f "$so" ] && [ "$so" -nt "$dir/$name.c" ] && [ -z "$stale" ]; then
        continue
    fi
    echo "  CC(fuzz) plugin $name"
    # shellcheck disable=SC2086 # word lists
    $FUZZ_CC $CFLAGS -fsanitize=fuzzer-no-link -fPIC -shared \
        "$dir/$name.c" $helpers -o "$so" $DEPS_LIBS
done

for t in $FUZZ_TARGETS; do
    o="$OBJ/fuzz_$t.o"
    compile "$SRCDIR/tests/fuzz/fuzz_$t.c" "$o" -fsanitize=fuzzer-no-link \
        -DCF_FUZZ_SRCDIR="\"$SRCDIR\"" -DCF_FUZZ_PLUGINDIR="\"$PLUG\""
    echo "  LD(fuzz) $OUT/fuzz_$t"
    # shellcheck disable=SC2086 # word lists
    $FUZZ_CC $SAN -fsanitize=fuzzer "$o" $engine_objs -o "$OUT/fuzz_$t" $DEPS_LIBS -lltdl -lm -lpthread
done

[ "$FUZZ_SECONDS" -gt 0 ] 2>/dev/null || {
    echo "fuzz targets in $OUT (run: make fuzz FUZZ_SECONDS=60)"
    exit 0
}

# Run each target on a working copy of its corpus; new inputs stay in
# $OUT/corpus-<target> (merge the useful ones into tests/fuzz/corpus/ by hand:
# fuzz_<target> -merge=1 tests/fuzz/corpus/<target> out/corpus-<target>).
status=0
for t in $FUZZ_TARGETS; do
    work="$OUT/corpus-$t"
    mkdir -p "$work" "$OUT/crashes-$t"
    echo "== fuzz_$t for ${FUZZ_SECONDS}s"
    dict=
    [ -f "$SRCDIR/tests/fuzz/$t.dict" ] && dict="-dict=$SRCDIR/tests/fuzz/$t.dict"
    # shellcheck disable=SC2086
    if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        "$OUT/fuzz_$t" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
        -timeout=25 -rss_limit_mb=2048 -max_len=65536 $dict \
        -artifact_prefix="$OUT/crashes-$t/" "$work" "$SRCDIR/tests/fuzz/corpus/$t" \
        >"$OUT/fuzz_$t.log" 2>&1; then
        status=1
        echo "fuzz_$t FOUND A CRASH: see $OUT/fuzz_$t.log and $OUT/crashes-$t/"
    fi
    grep -E '^#[0-9]+ *(DONE|INITED)|stat::number_of_executed_units|stat::peak_rss' \
        "$OUT/fuzz_$t.log" | tail -4
    grep -E 'cov: ' "$OUT/fuzz_$t.log" | tail -1
done
exit $status
