#!/bin/bash
# caseflow plugin new NAME [--dir D] (issue 10, item 3): the files it writes,
# that the plugin and its test compile for awkward names, that the plugin
# built against this tree runs its workflow.lua in a store, and bad input: a
# name the loader or C cannot take (64), a directory that exists and is not
# empty or is a file (65), one that cannot be written (74); nothing is
# written on error. The round trip through an installed tree (make, make
# check, make install, deploy) is in sdk_install.sh.
. "$(dirname "$0")/lib.sh"

CC=${CASEFLOW_CC:-cc}
W=$E2E_TMP/work
mkdir -p "$W"
files="triage.c Makefile test_triage.c workflow.lua README.md"
# in_w CMD...: CMD in $W (not in a subshell: the counts must add up).
in_w() {
    local back=$PWD rc
    cd "$W" || return
    "$@"
    rc=$?
    cd "$back" || return
    return $rc
}
# listing DIR: every path under DIR with its content's hash.
listing() { (cd "$1" && find . -print0 | sort -z | xargs -0 -r md5sum 2>/dev/null; find . | sort); }

# ---- the skeleton ----------------------------------------------------------------
in_w expect_exit 0 "$CASEFLOW_BIN" plugin new triage
assert_eq "$(printf '%s\n' $files | sort)" "$(ls -A "$W/triage" | sort)" \
    "default directory ./NAME with NAME.c, Makefile, test_NAME.c, workflow.lua, README.md"
assert_eq 5 "$(find "$W/triage" -type f | wc -l)" "five files and nothing else"
assert_contains "$OUT" "wrote triage/triage.c" "it says what it wrote"
assert_contains "$W/triage/triage.c" "CF_PLUGIN_DEFINE(triage," "NAME.c defines the descriptor with the name once"
if grep -q '\.name *=' "$W/triage/triage.c"; then
    not_ok "NAME.c writes the name twice (.name =)"
else
    ok "NAME.c has no .name = (the macro fills it)"
fi
assert_contains "$W/triage/triage.c" "#include <caseflow/plugin-util.h>" "NAME.c uses the helper library"
assert_contains "$W/triage/test_triage.c" "#include <caseflow/plugin-test.h>" "the test uses the harness"
assert_contains "$W/triage/workflow.lua" 'step = "triage"' "workflow.lua names the plugin"
assert_contains "$W/triage/Makefile" "pkg-config" "the Makefile uses pkg-config"
if grep -q '@NAME@' "$W"/triage/*; then not_ok "a @NAME@ was left"; else ok "every @NAME@ is replaced"; fi

mkdir "$W/empty"
expect_exit 0 "$CASEFLOW_BIN" --json plugin new case_notes --dir "$W/empty"
assert_jq "$OUT" '.name == "case_notes" and (.dir | endswith("/empty")) and
    (.files | sort) == (["case_notes.c", "Makefile", "test_case_notes.c", "workflow.lua", "README.md"] | sort)' \
    "--dir an existing empty directory; --json {name, dir, files}"
assert_eq 5 "$(find "$W/empty" -type f | wc -l)" "the files are in the --dir directory"
in_w expect_exit 0 "$CASEFLOW_BIN" plugin new slash --dir slash/
assert_contains "$OUT" "wrote slash/slash.c" "--dir D/ names the files D/NAME.c"

# ---- it compiles, whatever the name ------------------------------------------------
# C keywords and macros a compiler predefines are fine: the name is only
# ever pasted into longer identifiers.
if command -v "${CC%% *}" >/dev/null 2>&1; then
    bad=
    for n in int linux unix json errno a x$(printf 'y%.0s' $(seq 58)); do
        rm -rf "$W/c"
        "$CASEFLOW_BIN" plugin new "$n" --dir "$W/c" >/dev/null 2>&1 || { bad="$bad $n(new)"; continue; }
        for f in "$n.c" "test_$n.c"; do
            # shellcheck disable=SC2086 # CC may hold flags
            $CC -std=gnu11 -Wall -Wextra -Werror -fsyntax-only -I"$CASEFLOW_SRCDIR/include" \
                $(pkg-config --cflags jansson 2>/dev/null) "$W/c/$f" >"$ERR" 2>&1 || bad="$bad $f"
        done
    done
    assert_eq "" "$bad" "NAME.c and test_NAME.c compile warning-free for int, linux, unix, json, errno, a and a 59-character name"
else
    echo "# no C compiler: compile checks skipped"
fi

# ---- the plugin, built against this tree, runs its workflow ---------------------------
if command -v "${CC%% *}" >/dev/null 2>&1 && [ -e "$CASEFLOW_BUILDDIR/.libs/libcaseflow-plugin-util.so" ]; then
    mkdir -p "$W/plug"
    # shellcheck disable=SC2086
    if $CC -std=c11 -Wall -Wextra -Werror -fPIC -shared -I"$CASEFLOW_SRCDIR/include" \
        $(pkg-config --cflags jansson 2>/dev/null) "$W/triage/triage.c" -o "$W/plug/triage.so" \
        -L"$CASEFLOW_BUILDDIR/.libs" -lcaseflow-plugin-util >"$ERR" 2>&1; then
        ok "triage.c builds as a module against the tree"
        export LD_LIBRARY_PATH="$CASEFLOW_BUILDDIR/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        export CASEFLOW_PLUGIN_PATH="$W/plug"
        expect_exit 0 cf workflow check "$W/triage/workflow.lua"
        setup_bare_store
        expect_exit 0 cf --actor admin --reason "plugin new test" workflow deploy --yes "$W/triage/workflow.lua"
        id=$(printf '{"source":"TEST","reference":"PN-1"}\n' | cf --actor analyst1 refer --json --workflow triage_demo | jq -r .id)
        assert_eq "triage|officer|triage" "$(case_field "$id" '[.state, .tasks[0].role, .tasks[0].kind] | join("|")')" \
            "a referral enters the plugin's state, which opens a task for the configured role"
        snapshot before
        expect_exit 65 cf --actor officer1 --reason test act "$id" triage.done --data '{"notes": "none"}'
        assert_contains "$ERR" "triage.done rejected: summary: required" "a refusal names the field"
        expect_exit 77 cf --actor officer1 --reason test act "$id" triage.finished
        assert_unchanged before "refusals change nothing"
        expect_exit 0 cf --actor officer1 --reason test act "$id" triage.done --data '{"summary": "checked"}'
        assert_eq "triage_closed|checked|officer1" \
            "$(case_field "$id" '[.state, .data.triage.result.summary, .data.triage.result.by] | join("|")')" \
            "triage.done records the result and the plugin's outcome closes the case"
        expect_exit 0 cf audit verify
        unset LD_LIBRARY_PATH
    else
        not_ok "triage.c does not build against the tree"
        show_output
    fi
fi

# ---- bad input: nothing written ---------------------------------------------------------
before=$(listing "$W")
for name in Triage 1triage tri-age tri.age "" ../triage _triage x$(printf 'y%.0s' $(seq 59)); do
    in_w expect_exit 64 "$CASEFLOW_BIN" plugin new "$name"
    assert_contains "$ERR" "1 to 59 characters of a-z, 0-9 and _, starting with a letter" \
        "NAME '$name' is refused naming the rule"
done
expect_exit 64 cf plugin new
expect_exit 64 cf plugin new a b
expect_exit 64 cf plugin new a --dir ""
assert_eq "$before" "$(listing "$W")" "nothing written for a bad name"

# A directory that exists and is not empty, or a file: 65, nothing touched.
before=$(listing "$W")
in_w expect_exit 65 "$CASEFLOW_BIN" plugin new triage
assert_contains "$ERR" "triage exists and is not empty" "an existing ./NAME with files is refused"
mkdir "$W/other" && echo "keep me" >"$W/other/notes.txt"
before=$(listing "$W")
expect_exit 65 cf plugin new triage --dir "$W/other"
assert_contains "$ERR" "other exists and is not empty" "--dir a non-empty directory is refused"
mkdir "$W/hidden" && touch "$W/hidden/.keep"
before=$(listing "$W")
expect_exit 65 cf plugin new triage --dir "$W/hidden"
expect_exit 65 cf plugin new triage --dir "$W/other/notes.txt"
assert_contains "$ERR" "notes.txt exists and is not a directory" "--dir a file is refused"
assert_eq "$before" "$(listing "$W")" "nothing written or changed for an existing directory or file"
# An empty directory others may write into, or another user's: someone else
# could swap the Makefile before `make install` runs as root.
mkdir "$W/shared" && chmod 777 "$W/shared"
expect_exit 65 cf plugin new triage --dir "$W/shared"
assert_contains "$ERR" "shared is writable by others" "an empty directory writable by others is refused"
assert_eq "" "$(ls -A "$W/shared")" "nothing written into it"
if [ "$(id -u)" = 0 ]; then
    mkdir "$W/theirs" && chown nobody "$W/theirs"
    expect_exit 65 cf plugin new triage --dir "$W/theirs"
    assert_contains "$ERR" "theirs is another user's directory" "another user's empty directory is refused"
fi

# Cannot be written: 74, and what was made is gone again.
expect_exit 74 cf plugin new triage --dir "$W/other/notes.txt/sub"
assert_contains "$ERR" "notes.txt/sub" "a path through a file: 74 naming it"
expect_exit 74 cf plugin new triage --dir "$W/missing/sub"
assert_contains "$ERR" "cannot create directory $W/missing/sub: No such file or directory" \
    "a missing parent: 74 naming the directory"
# A file size limit even root cannot pass: the first file fails half-way
# (EFBIG; SIGXFSZ ignored so that write returns it).
small() { (trap '' XFSZ && ulimit -f 2 && exec "$CASEFLOW_BIN" "$@") >"$OUT" 2>"$ERR"; }
small plugin new triage --dir "$W/full"
assert_eq 74 "$?" "a write that fails: exit 74"
assert_contains "$ERR" "cannot write $W/full/triage.c: File too large" "a write that fails names the file"
mkdir "$W/full_empty"
small plugin new triage --dir "$W/full_empty"
assert_eq 74 "$?" "a write that fails in an existing empty directory: exit 74"
if [ -e "$W/full" ]; then not_ok "a failed write left $W/full"; else ok "a failed write leaves no directory"; fi
assert_eq "" "$(ls -A "$W/full_empty")" "a failed write into an empty directory leaves it empty"

# A directory the user may not write (as nobody when root: root writes anywhere).
mkdir -p "$W/ro" && chmod 555 "$W/ro"
as_user=()
if [ "$(id -u)" = 0 ]; then
    chmod 755 "$E2E_TMP" "$W"
    chown nobody "$W/ro" 2>/dev/null # theirs, so the write itself is what fails
    as_user=(setpriv --reuid="$(id -u nobody 2>/dev/null)" --regid="$(id -g nobody 2>/dev/null)" --clear-groups)
    if ! id nobody >/dev/null 2>&1 || ! command -v setpriv >/dev/null 2>&1 ||
        ! "${as_user[@]}" "$CASEFLOW_BIN" --version >/dev/null 2>&1; then
        echo "# nobody cannot run $CASEFLOW_BIN (no such user, no setpriv, or a private build tree)"
        as_user=(skip)
    fi
fi
if [ "${as_user[0]:-}" = skip ]; then
    echo "# unwritable directory skipped"
else
    expect_exit 74 "${as_user[@]}" "$CASEFLOW_BIN" plugin new triage --dir "$W/ro/triage"
    assert_contains "$ERR" "cannot create directory $W/ro/triage: Permission denied" \
        "an unwritable parent: 74 naming the directory"
    expect_exit 74 "${as_user[@]}" "$CASEFLOW_BIN" plugin new triage --dir "$W/ro"
    assert_contains "$ERR" "cannot write $W/ro/triage.c: Permission denied" \
        "an unwritable empty directory: 74 naming the file"
    assert_eq "" "$(ls -A "$W/ro")" "nothing written into it"
fi

finish
