# The skeleton round trip (issue 10, item 3), sourced by sdk_install.sh once
# it has installed this build into the staged prefix $D (its variables: D,
# E2E_TMP, libdir, pluginsdir, installed_bin, PKG_CONFIG_PATH, and
# LD_LIBRARY_PATH with the staged libdir). As a plugin author would, with
# only the installed tree and pkg-config: the installed `caseflow plugin new`,
# then `make`, `make check` (the generated cmocka test on the installed
# harness), `make install`, then a fresh store where the generated
# workflow.lua deploys with that module, a case is referred and acted
# through it, and `audit verify` passes.
#  - as root (the tests' user in CI): make install into the (staged) prefix's
#    pluginsdir, the one pkg-config names;
#  - as an unprivileged user (nobody, through setpriv) in a directory it
#    owns: make install DESTDIR=, the way a package is built. Skipped only
#    when this test does not run as root.
# A file of its own so that it merges apart from the other SDK checks.

SK_NAME=sdk_triage
SK_PC_TEST=$PKG_CONFIG_PATH/caseflow-plugin-test.pc

# sk_run LOG CMD...: run CMD as the current round's user, output to LOG;
# its exit status.
sk_run() {
    local log=$1
    shift
    ${SK_AS[@]+"${SK_AS[@]}"} "$@" >"$log" 2>&1 </dev/null
}

# sk_step WHAT CMD...: CMD must succeed; else not ok with its output's tail.
sk_step() {
    local what=$1 log=$SK_DIR/step.log
    shift
    if sk_run "$log" "$@"; then
        ok "$SK_WHO: $what"
        return 0
    fi
    not_ok "$SK_WHO: $what (exit $?)"
    tail -15 "$log" | sed 's/^/#   /'
    return 1
}

# make as the author runs it: not with the MAKEFLAGS of the make running
# the tests (followed by the variables to set, then make).
SK_MAKE=(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL)

# sk_round WHO: the whole round trip as SK_AS in SK_DIR.
sk_round() {
    SK_WHO=$1
    local src=$SK_DIR/$SK_NAME id
    sk_step "caseflow plugin new $SK_NAME --dir DIR (the installed command)" \
        "$installed_bin" plugin new "$SK_NAME" --dir "$src" || return
    sk_step "make: the plugin builds with pkg-config" \
        "${SK_MAKE[@]}" PKG_CONFIG_SYSROOT_DIR="$D" make -C "$src" CC="$CC" || return
    if [ "$(nm -D --defined-only -P "$src/$SK_NAME.so" | awk '{ print $1 }')" = "${SK_NAME}_LTX_caseflow_plugin" ]; then
        ok "$SK_WHO: $SK_NAME.so exports only its descriptor"
    else
        not_ok "$SK_WHO: $SK_NAME.so exports: $(nm -D --defined-only -P "$src/$SK_NAME.so" | awk '{ print $1 }' | tr '\n' ' ')"
    fi
    if [ -f "$SK_PC_TEST" ]; then
        if sk_step "make check: the generated test passes on the installed harness" \
            "${SK_MAKE[@]}" PKG_CONFIG_SYSROOT_DIR="$D" make -C "$src" CC="$CC" check; then
            if grep -q '\[  PASSED  \] 5 test' "$SK_DIR/step.log"; then
                ok "$SK_WHO: make check ran the 5 tests (fake host and runner)"
            else
                not_ok "$SK_WHO: make check did not run 5 tests: $(grep -E 'PASSED|FAILED' "$SK_DIR/step.log")"
            fi
        fi
    else
        echo "# $SK_WHO: caseflow-plugin-test.pc is not installed (no harness in this tree): make check skipped"
    fi

    if [ "$SK_WHO" = root ]; then
        # The prefix's pluginsdir as pkg-config names it (staged: under $D).
        SK_PLUGINS=$D$pluginsdir
        sk_step "make install: into pkg-config's pluginsdir" \
            "${SK_MAKE[@]}" PKG_CONFIG_SYSROOT_DIR="$D" make -C "$src" install || return
    else
        # A package build: no sysroot, the real pluginsdir under DESTDIR.
        SK_PLUGINS=$SK_DIR/stage$pluginsdir
        sk_step "make install DESTDIR=: staged into DESTDIR\$pluginsdir" \
            "${SK_MAKE[@]}" PKG_CONFIG_SYSROOT_DIR= make -C "$src" install DESTDIR="$SK_DIR/stage" || return
    fi
    if [ -f "$SK_PLUGINS/$SK_NAME.so" ] && cmp -s "$src/$SK_NAME.so" "$SK_PLUGINS/$SK_NAME.so"; then
        ok "$SK_WHO: $SK_NAME.so installed in $SK_PLUGINS"
    else
        not_ok "$SK_WHO: $SK_NAME.so not installed in $SK_PLUGINS"
        return
    fi

    # The installed engine, a fresh store, the generated workflow.
    local cf=(env CASEFLOW_STORE="$SK_DIR/store.db" CASEFLOW_PLUGIN_PATH="$SK_PLUGINS" "$installed_bin")
    sk_step "caseflow init" "${cf[@]}" --actor admin init --test-clock || return
    sk_step "users" "${cf[@]}" --actor admin user add analyst1 --role analyst &&
        sk_step "users" "${cf[@]}" --actor admin user add officer1 --role officer || return
    sk_step "plugin info finds the installed module" "${cf[@]}" --json plugin info "$SK_PLUGINS/$SK_NAME.so"
    assert_jq "$SK_DIR/step.log" ".name == \"$SK_NAME\" and .version == \"0.1.0\"" \
        "$SK_WHO: plugin info: name and version from CF_PLUGIN_DEFINE"
    sk_step "workflow check workflow.lua" "${cf[@]}" workflow check "$src/workflow.lua" || return
    sk_step "workflow deploy workflow.lua (pluginsdir on the search path)" \
        "${cf[@]}" --actor admin --reason "skeleton round trip" workflow deploy --yes "$src/workflow.lua" || return
    printf '{"source":"SDK","reference":"SK-1"}\n' >"$SK_DIR/referral.json"
    sk_step "refer a case" "${cf[@]}" --actor analyst1 --json refer --workflow "${SK_NAME}_demo" "$SK_DIR/referral.json" || return
    id=$(jq -r .id "$SK_DIR/step.log")
    sk_run "$SK_DIR/refused.log" "${cf[@]}" --actor officer1 --reason test act "$id" "$SK_NAME.done" --data '{}'
    assert_eq "65|caseflow: $SK_NAME.done rejected: summary: required" \
        "$?|$(cat "$SK_DIR/refused.log")" "$SK_WHO: a refusal names the field (exit 65)"
    sk_step "act $SK_NAME.done" "${cf[@]}" --actor officer1 --reason test act "$id" "$SK_NAME.done" \
        --data '{"summary": "checked at the round trip"}' || return
    sk_step "show" "${cf[@]}" --actor officer1 --reason test --json show "$id"
    assert_jq "$SK_DIR/step.log" ".state == \"${SK_NAME}_closed\" and .data.$SK_NAME.result.by == \"officer1\"" \
        "$SK_WHO: the plugin recorded the result and its outcome closed the case"
    sk_step "audit verify" "${cf[@]}" audit verify
}

# ---- as root, or as whoever runs the tests ------------------------------------------
SK_AS=()
SK_DIR=$E2E_TMP/skeleton-root
mkdir -p "$SK_DIR"
sk_round "$(id -un)"

# ---- as an unprivileged user, with a DESTDIR ----------------------------------------------
if [ "$(id -u)" != 0 ]; then
    echo "# not root: the unprivileged round trip is skipped"
elif ! id nobody >/dev/null 2>&1 || ! command -v setpriv >/dev/null 2>&1; then
    not_ok "the unprivileged round trip needs the user nobody and setpriv"
else
    SK_AS=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups)
    SK_DIR=$E2E_TMP/skeleton-nobody
    chmod 755 "$E2E_TMP" # mktemp made it 0700: nobody reads the staged install
    mkdir -p "$SK_DIR" && chown nobody "$SK_DIR"
    if ! sk_run /dev/null test -r "$installed_bin" -a -x "$SK_DIR"; then
        not_ok "nobody cannot reach $E2E_TMP (TMPDIR's parents?)"
    else
        sk_round nobody
        owner=$(stat -c %U "$SK_DIR/stage$pluginsdir/$SK_NAME.so" 2>/dev/null)
        assert_eq nobody "$owner" "nobody: the staged module is nobody's"
    fi
    SK_AS=()
fi
