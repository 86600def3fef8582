#!/bin/bash
# The plugin SDK as installed (issue 10, items 1 and 2): `make install
# DESTDIR=` from this build tree into a temporary directory, then work as an
# out-of-tree author would, with nothing but pkg-config:
#   - caseflow.pc and caseflow-plugin.pc are installed and found;
#   - pluginsdir is the directory the installed engine searches, abi and
#     util_version are the headers' numbers;
#   - --cflags --libs build a plugin that uses plugin-util.h (warning-free,
#     exporting only its descriptor) and a program that embeds libcaseflow;
#   - the installed engine loads that plugin and runs its cfp_ calls, and the
#     installed shipped modules take their helpers from the installed
#     libcaseflow-plugin-util.so.1, not from the build tree;
#   - the test harness (issue 10, item 4): plugin-test.h,
#     libcaseflow-plugin-test.so.1 (cfpt_ only) and caseflow-plugin-test.pc
#     are installed, and a test program built with `pkg-config --cflags
#     --libs caseflow-plugin-test` runs that plugin on the fake host and in
#     the runner's in-memory engine.
# A make check test rather than installcheck, so it runs in every make check
# and in make distcheck's; it installs into its own DESTDIR only (about a
# minute), never into the configured prefix.
. "$(dirname "$0")/lib.sh"

if ! command -v pkg-config >/dev/null 2>&1 || ! command -v readelf >/dev/null 2>&1; then
    echo "SKIP: pkg-config and readelf are needed"
    exit 77
fi
MAKE=${CASEFLOW_MAKE:-make}
CC=${CASEFLOW_CC:-cc}
D=$E2E_TMP/destdir
T=$E2E_TMP/author
mkdir -p "$T/plug"

# ---- install --------------------------------------------------------------------
if ! $MAKE -C "$CASEFLOW_BUILDDIR" install DESTDIR="$D" >"$E2E_TMP/install.log" 2>&1; then
    not_ok "make install DESTDIR=$D"
    tail -30 "$E2E_TMP/install.log" | sed 's/^/#   /'
    finish
fi
ok "make install DESTDIR=\$tmp"

pcfile=$(find "$D" -name caseflow-plugin.pc -path '*/pkgconfig/*' | head -1)
if [ -z "$pcfile" ] || [ ! -f "$(dirname "$pcfile")/caseflow.pc" ]; then
    not_ok "caseflow.pc and caseflow-plugin.pc installed into \$libdir/pkgconfig"
    finish
fi
ok "caseflow.pc and caseflow-plugin.pc installed"
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pcfile")
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
# The .pc files name the configured prefix; under a DESTDIR the sysroot
# variable makes -I and -L point into it (pluginsdir is asked without it:
# it is where the engine looks, not where this test staged the files).
pcs() { PKG_CONFIG_SYSROOT_DIR=$D pkg-config "$@"; }

libdir=$(pkg-config --variable=libdir caseflow-plugin)
includedir=$(pkg-config --variable=includedir caseflow-plugin)
pluginsdir=$(pkg-config --variable=pluginsdir caseflow-plugin)
assert_eq "$pluginsdir" "$(pkg-config --variable=pluginsdir caseflow)" \
    "caseflow.pc and caseflow-plugin.pc agree on pluginsdir"
assert_eq "$(dirname "$pcfile")" "$D$libdir/pkgconfig" "the .pc files are in \$libdir/pkgconfig"
case $libdir$includedir$pluginsdir in
*'${'*) not_ok "pkg-config expanded every directory: $libdir $includedir $pluginsdir" ;;
*) ok "pkg-config expands libdir, includedir and pluginsdir" ;;
esac

# ---- versions ---------------------------------------------------------------------
hdr=$CASEFLOW_SRCDIR/include/caseflow
define() { awk -v n="$2" '$1 == "#define" && $2 == n { gsub(/"/, "", $3); print $3 }' "$1"; }
assert_eq "$(define "$hdr/plugin.h" CF_PLUGIN_ABI_MAJOR).$(define "$hdr/plugin.h" CF_PLUGIN_ABI_MINOR)" \
    "$(pkg-config --variable=abi caseflow-plugin)" "abi is plugin.h's CF_PLUGIN_ABI_MAJOR.MINOR"
assert_eq "$(define "$hdr/plugin-util.h" CFP_UTIL_VERSION_STRING)" \
    "$(pkg-config --variable=util_version caseflow-plugin)" \
    "util_version is plugin-util.h's CFP_UTIL_VERSION_STRING"
assert_eq "caseflow $(pkg-config --modversion caseflow)" "$("$CASEFLOW_BIN" --version)" \
    "caseflow.pc's version is the command's"

# ---- what was installed where -------------------------------------------------------
for h in caseflow.h plugin.h plugin-util.h plugin-test.h; do
    if [ -f "$D$includedir/caseflow/$h" ]; then ok "installed caseflow/$h"; else not_ok "installed caseflow/$h"; fi
done
util_so=$D$libdir/libcaseflow-plugin-util.so.1
if [ -f "$util_so" ]; then ok "installed libcaseflow-plugin-util.so.1"; else not_ok "installed libcaseflow-plugin-util.so.1"; fi
others=$(nm -D --defined-only -P "$util_so" 2>/dev/null | awk '$1 !~ /^cfp_/ { print $1 }' | grep -v '^$' || true)
assert_eq "" "$others" "the installed helper library exports only cfp_"
test_so=$D$libdir/libcaseflow-plugin-test.so.1
if [ -f "$test_so" ]; then ok "installed libcaseflow-plugin-test.so.1"; else not_ok "installed libcaseflow-plugin-test.so.1"; fi
others=$(nm -D --defined-only -P "$test_so" 2>/dev/null | awk '$1 !~ /^cfpt_/ { print $1 }' | grep -v '^$' || true)
assert_eq "" "$others" "the installed test harness library exports only cfpt_"
if [ -f "$PKG_CONFIG_PATH/caseflow-plugin-test.pc" ]; then
    ok "installed caseflow-plugin-test.pc"
    assert_eq "$(define "$hdr/plugin-test.h" CFPT_VERSION_STRING)" \
        "$(pkg-config --variable=harness_version caseflow-plugin-test)" \
        "harness_version is plugin-test.h's CFPT_VERSION_STRING"
else
    not_ok "installed caseflow-plugin-test.pc"
fi
missing=
for dir in "$CASEFLOW_SRCDIR"/plugins/*/; do
    name=$(basename "$dir")
    [ -f "$dir/$name.c" ] || continue
    [ -f "$D$pluginsdir/$name.so" ] || missing="$missing $name"
done
assert_eq "" "$missing" "every shipped plugin is installed in pluginsdir"
installed_bin=$(find "$D" -path '*/bin/caseflow' -type f | head -1)

# ---- pluginsdir is where the installed engine looks ------------------------------------
cat >"$T/absent.lua" <<'EOF'
return workflow {
  name = "sdk_absent", version = 1, initial = "start",
  states = {
    start = { step = "sdk_absent_plugin", on = { done = "done" } },
    done = { final = true },
  },
}
EOF
(unset CASEFLOW_PLUGIN_PATH && cd "$T" && "$installed_bin" --json workflow check absent.lua >"$OUT" 2>"$ERR")
if jq -r '.[0].message' "$OUT" | grep -qxF "state 'start': step plugin 'sdk_absent_plugin': plugin \"sdk_absent_plugin\" not found in $pluginsdir"; then
    ok "the installed engine's plugin directory is pluginsdir ($pluginsdir)"
else
    not_ok "the installed engine's plugin directory is not $pluginsdir: $(head -c 300 "$OUT")"
fi

# ---- an out-of-tree plugin, built with pkg-config only ------------------------------------
cat >"$T/sdkdemo.c" <<'EOF'
/* An out-of-tree plugin: note events are validated and stamped. */
#include <stdio.h>

#include <caseflow/plugin.h>
#include <caseflow/plugin-util.h>

static int sdkdemo_init(const cf_host *host, const json_t *config, void **state,
                        char *err, size_t errlen)
{
    static const char *const settings[] = {"greeting", NULL};
    const char *greeting = "hello";

    (void)host;
    *state = NULL;
    if (cfp_util_version() < CFP_UTIL_VERSION_MAKE(1, 0, 0)) {
        snprintf(err, errlen, "needs libcaseflow-plugin-util 1.0");
        return CF_PLUGIN_FAILED;
    }
    if (cfp_config_keys(config, settings, err, errlen) < 0 ||
        cfp_config_string(config, "greeting", &greeting, err, errlen) < 0)
        return CF_PLUGIN_FAILED;
    return CF_PLUGIN_OK;
}

static int sdkdemo_handle(const cf_host *host, void *state, cf_step *step,
                          const char *event, const json_t *input)
{
    static const char *const fields[] = {"note", NULL};
    const char *note;

    (void)state;
    (void)event;
    if (cfp_known_fields(host, step, input, "", fields) < 0 ||
        cfp_line(host, step, input, "", "note", CFP_LINE_MAX, true, &note) < 0)
        return CF_PLUGIN_FAILED;
    return cfp_set(host, step, "note",
                   cfp_stamp(host, step, json_pack("{s:s}", "text", note)));
}

static const char *const sdkdemo_accepts[] = {"note", NULL};

CF_PLUGIN_DEFINE(sdkdemo, .version = "0.1.0",
                 .summary = "SDK round-trip test plugin",
                 .accepts = sdkdemo_accepts,
                 .init = sdkdemo_init, .handle = sdkdemo_handle);
EOF
# shellcheck disable=SC2046 # pkg-config's output is a word list
if $CC -std=c11 -Wall -Wextra -Werror -fPIC -shared -fvisibility=hidden \
    $(pcs --cflags caseflow-plugin) "$T/sdkdemo.c" -o "$T/plug/sdkdemo.so" \
    $(pcs --libs caseflow-plugin) -Wl,-rpath,"$libdir" >"$ERR" 2>&1; then
    ok "cc \$(pkg-config --cflags caseflow-plugin) ... \$(pkg-config --libs caseflow-plugin) builds a plugin"
else
    not_ok "building a plugin with pkg-config"
    show_output
    finish
fi
assert_eq "sdkdemo_LTX_caseflow_plugin" "$(nm -D --defined-only -P "$T/plug/sdkdemo.so" | awk '{ print $1 }')" \
    "the plugin exports only its descriptor"
if readelf -d "$T/plug/sdkdemo.so" | grep -q 'NEEDED.*\[libcaseflow-plugin-util\.so\.1\]'; then
    ok "the plugin links libcaseflow-plugin-util.so.1"
else
    not_ok "the plugin does not link libcaseflow-plugin-util.so.1"
fi

# The installed engine loads it (the helper library from the staged libdir).
export LD_LIBRARY_PATH="$D$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
expect_exit 0 "$installed_bin" --json plugin info "$T/plug/sdkdemo.so"
assert_jq "$OUT" '.name == "sdkdemo" and .version == "0.1.0" and .abi == "'"$(pkg-config --variable=abi caseflow-plugin)"'"' \
    "plugin info: name from CF_PLUGIN_DEFINE, version, abi"

cat >"$T/demo.lua" <<'EOF'
return workflow {
  name = "sdk_demo", version = 1, initial = "noting",
  states = {
    noting = { step = "sdkdemo", roles = { "officer" }, config = { greeting = "hi" },
               on = { note = "done" } },
    done = { final = true },
  },
}
EOF
sed 's/greeting = "hi"/colour = "red"/' "$T/demo.lua" >"$T/badconf.lua"
export CASEFLOW_PLUGIN_PATH="$T/plug"
expect_exit 0 "$installed_bin" workflow check "$T/demo.lua"
"$installed_bin" --json workflow check "$T/badconf.lua" >"$OUT" 2>"$ERR"
assert_jq "$OUT" 'any(.[]; .rule == "plugin-init" and (.message | contains("unknown setting '"'colour'"'")))' \
    "init's cfp_config_keys runs from the installed library: unknown setting 'colour'"

# Through the installed engine: a refused note names the field and changes
# nothing; an accepted one is stamped by cfp_stamp with the engine's clock.
CASEFLOW_BIN=$installed_bin
setup_bare_store "$T/store.db"
expect_exit 0 cf --actor admin --reason "sdk test" workflow deploy --yes "$T/demo.lua"
id=$(printf '{"source":"SDK","reference":"SDK-1"}\n' | cf --actor analyst1 refer --json --workflow sdk_demo | jq -r .id)
assert_eq "noting" "$(case_field "$id" .state)" "a case waits in the plugin's state"
snapshot before
expect_exit 65 cf --actor officer1 --reason test act "$id" note --data '{"note": "a\tb"}'
assert_contains "$ERR" "note: contains control characters" "cfp_line's refusal reaches the caller"
assert_unchanged before "a refused note changes nothing"
expect_exit 0 cf --actor officer1 --reason test act "$id" note --data '{"note": "called at the door"}'
assert_eq "done|called at the door|officer1|$CASEFLOW_NOW" \
    "$(case_field "$id" '[.state, .data.note.text, .data.note.by, .data.note.at] | join("|")')" \
    "the note is recorded and stamped through the installed helper library"
expect_exit 0 cf audit verify

# ---- the installed shipped modules --------------------------------------------------
referral_so=$D$pluginsdir/referral.so
if readelf -d "$referral_so" | grep -q 'NEEDED.*\[libcaseflow-plugin-util\.so\.1\]'; then
    ok "the installed referral.so links libcaseflow-plugin-util.so.1"
else
    not_ok "the installed referral.so does not link libcaseflow-plugin-util.so.1"
fi
runpath=$(readelf -d "$referral_so" | sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]/\1/p')
builddir_abs=$(cd "$CASEFLOW_BUILDDIR" && pwd)
assert_eq "$libdir" "$runpath" \
    "the installed referral.so's run path is libdir only (not the build tree $builddir_abs)"
if readelf -d "$CASEFLOW_BUILDDIR/plugins/referral/.libs/referral.so" |
    grep -q "R[UN]*PATH.*\[$builddir_abs/.libs:"; then
    ok "the uninstalled referral.so looks in the build tree first"
else
    not_ok "the uninstalled referral.so does not look in the build tree first"
fi
if ldd "$referral_so" | grep -qF "libcaseflow-plugin-util.so.1 => $D$libdir/libcaseflow-plugin-util.so.1"; then
    ok "ldd: referral.so resolves the helper library in the installed libdir"
else
    not_ok "ldd: referral.so resolves the helper library elsewhere: $(ldd "$referral_so" | grep caseflow)"
fi
expect_exit 0 "$installed_bin" --json plugin info "$referral_so"
assert_jq "$OUT" '.name == "referral"' "the installed engine loads the installed referral.so"

# ---- the skeleton: plugin new, make, make check, make install, deploy ----------------
. "$(dirname "$0")/sdk_skeleton.sh"

# ---- embedding: caseflow.pc ----------------------------------------------------------
cat >"$T/embed.c" <<'EOF'
#include <stdio.h>

#include <caseflow/caseflow.h>

int main(void)
{
    printf("caseflow %s\n", cf_version());
    return 0;
}
EOF
# shellcheck disable=SC2046 # pkg-config's output is a word list
if $CC -std=c11 -Wall -Wextra -Werror $(pcs --cflags caseflow) "$T/embed.c" -o "$T/embed" \
    $(pcs --libs caseflow) >"$ERR" 2>&1; then
    ok "cc \$(pkg-config --cflags --libs caseflow) builds a program that embeds libcaseflow"
    expect_exit 0 "$T/embed"
    assert_eq "caseflow $(pkg-config --modversion caseflow)" "$(cat "$OUT")" \
        "it runs against the installed libcaseflow"
else
    not_ok "building a program with pkg-config caseflow"
    show_output
fi

# ---- testing a plugin: caseflow-plugin-test.pc ------------------------------------------
# The out-of-tree plugin above, tested as its author would: one callback on
# the fake host, then the module from $T/plug in the runner's engine.
cat >"$T/sdkdemo_test.c" <<'EOF'
#include <stdio.h>
#include <string.h>

#include <caseflow/plugin-test.h>

extern const cf_plugin sdkdemo_LTX_caseflow_plugin;

static const char *str(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : "(none)";
}

int main(int argc, char **argv)
{
    cfpt_engine_options o = {0};
    char err[256], id[64], state[64];
    cf_error e;
    cfpt_host *h;
    cfpt_engine *r;
    json_t *c;

    if (argc != 3)
        return 64;
    h = cfpt_host_new(&sdkdemo_LTX_caseflow_plugin, "noting", "{\"greeting\": \"hi\"}",
                      err, sizeof err);
    if (!h) {
        fprintf(stderr, "host: %s\n", err);
        return 1;
    }
    cfpt_set_actor(h, "officer1");
    if (cfpt_handle(h, "note", "{\"note\": \"a\\tb\"}") != CF_PLUGIN_FAILED ||
        strcmp(cfpt_failure_field(h), "note") != 0 || cfpt_get(h, "note") != NULL) {
        fprintf(stderr, "a bad note was not refused\n");
        return 2;
    }
    if (cfpt_handle(h, "note", "{\"note\": \"at the door\"}") != CF_PLUGIN_OK)
        return 3;
    printf("host %s|%s|%s\n", str(cfpt_get(h, "note.text")), str(cfpt_get(h, "note.by")),
           str(cfpt_get(h, "note.at")));
    cfpt_host_free(h);

    o.plugin_path = argv[1];
    o.workflow_file = argv[2];
    r = cfpt_engine_new(&o, &e);
    if (!r) {
        fprintf(stderr, "runner: %s\n", e.message);
        return 4;
    }
    if (cfpt_engine_refer(r, NULL, "{\"source\": \"SDK\", \"reference\": \"SDK-1\"}", id, &e) ||
        cfpt_engine_act(r, "officer", id, "note", "{\"note\": \"on the phone\"}", &e)) {
        fprintf(stderr, "runner: %s\n", e.message);
        return 5;
    }
    c = cfpt_engine_case(r, id);
    printf("engine %s %s|%s %s\n", cfpt_engine_state(r, id, state, sizeof state),
           str(cfpt_path(c, "data.note.text")), str(cfpt_path(c, "data.note.by")),
           cfpt_version());
    json_decref(c);
    cfpt_engine_free(r);
    return 0;
}
EOF
# shellcheck disable=SC2046 # pkg-config's output is a word list
if $CC -std=c11 -Wall -Wextra -Werror $(pcs --cflags caseflow-plugin-test) \
    "$T/sdkdemo_test.c" "$T/sdkdemo.c" -o "$T/sdkdemo_test" \
    $(pcs --libs caseflow-plugin-test) >"$ERR" 2>&1; then
    ok "cc \$(pkg-config --cflags --libs caseflow-plugin-test) builds a plugin's test"
    if readelf -d "$T/sdkdemo_test" | grep -q 'NEEDED.*\[libcaseflow-plugin-test\.so\.1\]'; then
        ok "the test links libcaseflow-plugin-test.so.1"
    else
        not_ok "the test does not link libcaseflow-plugin-test.so.1"
    fi
    expect_exit 0 "$T/sdkdemo_test" "$T/plug" "$T/demo.lua"
    assert_eq "host at the door|officer1|2026-01-01T00:00:00Z
engine done on the phone|officer $(pkg-config --variable=harness_version caseflow-plugin-test)" \
        "$(cat "$OUT")" "it runs the plugin on the installed fake host and runner"
else
    not_ok "building a plugin's test with pkg-config caseflow-plugin-test"
    show_output
fi

finish
