#!/bin/bash
# The manual pages (issue 10, item 8): each page in man/ formats without a
# single warning from man --warnings; caseflow(1) names every command
# `caseflow --help` lists and nothing else, with each command's options in
# its entry (tests/e2e/docs_commands.py --man, the parser docs_commands.sh
# uses); caseflowd(8) names every option of `caseflowd --help`. Then both
# checks are shown to fail on pages that are wrong. Needs the man command
# (Debian package man-db); skipped, saying so, without it.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

if ! command -v man >/dev/null 2>&1; then
    echo "# SKIP: no man command (apt-get install man-db); the manual pages are not checked"
    exit 77
fi

MANDIR="$CASEFLOW_SRCDIR/man"
PAGES="caseflow.1 caseflowd.8 caseflow-plugin.7 caseflow-workflow.5"
CHECK="$CASEFLOW_SRCDIR/tests/e2e/docs_commands.py"
CASEFLOWD=${CASEFLOWD_BIN:-$CASEFLOW_BUILDDIR/caseflowd}

# man_warnings PAGE: format PAGE as a reader's terminal would, keeping only
# what groff and man say on standard error.
man_warnings() {
    LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l "$1" \
        >/dev/null 2>"$E2E_TMP/man.stderr"
    cat "$E2E_TMP/man.stderr"
}

for p in $PAGES; do
    if [ ! -f "$MANDIR/$p" ]; then
        not_ok "man/$p does not exist"
        continue
    fi
    warnings=$(man_warnings "$MANDIR/$p")
    if [ -z "$warnings" ]; then
        ok "man/$p formats without warnings"
    else
        not_ok "man/$p: man --warnings says:"
        printf '%s\n' "$warnings" | head -20 | sed 's/^/#   /'
    fi
    # The page's name and section are those of its file name.
    name=${p%.*} section=${p##*.}
    head_line=$(grep -m1 '^\.TH ' "$MANDIR/$p")
    upper=$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')
    case "$head_line" in
    ".TH $upper $section "*) ok "man/$p: .TH names $upper($section)" ;;
    *) not_ok "man/$p: .TH does not name $upper($section): $head_line" ;;
    esac
done

# Every page is installed by make install (Makefile.am lists it).
for p in $PAGES; do
    if grep -q "man/$p" "$CASEFLOW_SRCDIR/Makefile.am"; then
        ok "Makefile.am installs man/$p"
    else
        not_ok "Makefile.am does not install man/$p"
    fi
done

# ---- caseflow(1) against caseflow --help ----------------------------------------
if python3 "$CHECK" --man "$CASEFLOW_BIN" "$MANDIR/caseflow.1" >"$OUT" 2>"$ERR"; then
    ok "caseflow(1) and caseflow --help name the same commands: $(tail -1 "$OUT")"
else
    not_ok "caseflow(1) and caseflow --help disagree"
    grep -v '^ok' "$OUT" "$ERR" | sed 's/^/#   /'
fi

# ---- caseflowd(8) against caseflowd --help --------------------------------------
if [ -x "$CASEFLOWD" ]; then
    missing=""
    for o in $("$CASEFLOWD" --help | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
        sed 's/\\-/-/g; s/\\f[BIRP]//g' "$MANDIR/caseflowd.8" | grep -qE -- "$o([^a-z0-9-]|$)" ||
            missing="$missing $o"
    done
    if [ -z "$missing" ]; then
        ok "caseflowd(8) names every option of caseflowd --help"
    else
        not_ok "caseflowd(8) lacks:$missing"
    fi
else
    not_ok "no caseflowd at $CASEFLOWD"
fi

# ---- caseflow-plugin(7) against the headers --------------------------------------
# Every cfp_/cfpt_ function and CF_/CFP_/CFPT_ macro the page names is
# declared in the installed headers, so the page cannot describe an API that
# is not there.
HDRS="$CASEFLOW_SRCDIR/include/caseflow"
unknown=""
for sym in $(sed 's/\\f[BIRP]//g; s/\\-/-/g' "$MANDIR/caseflow-plugin.7" |
    grep -oE '\b(cfpt?_[a-z_]+|CF_PLUGIN_[A-Z_]+|CFPT?_[A-Z_]+)\b' | sort -u); do
    grep -qE "\\b$sym\\b" "$HDRS/plugin.h" "$HDRS/plugin-util.h" "$HDRS/plugin-test.h" ||
        unknown="$unknown $sym"
done
if [ -z "$unknown" ]; then
    ok "caseflow-plugin(7) names only functions and macros the headers declare"
else
    not_ok "caseflow-plugin(7) names what no header declares:$unknown"
fi

# ---- the checks can fail ---------------------------------------------------------
# A page with an unknown macro and a bad escape: man must say so.
printf '.TH BROKEN 1\n.SH NAME\nbroken \\- a test\n.XQ nonsense\n\\[nosuchglyph]\n' \
    >"$E2E_TMP/broken.1"
if [ -n "$(man_warnings "$E2E_TMP/broken.1")" ]; then
    ok "man --warnings reports a page with an unknown macro"
else
    not_ok "man --warnings is silent about an unknown macro: the warning check cannot fail"
fi
# caseflow(1) without its tick entry, with an invented command and without
# an option of act.
awk '/^\.TP$/ { tp = NR } /^\.B tick$/ && NR == tp + 1 { skip = 2 }
     skip > 0 { skip--; next } { print }' "$MANDIR/caseflow.1" |
    sed 's/idempotency\\-key/idempotency\\-token/g' >"$E2E_TMP/caseflow.1"
printf '.SH COMMANDS\n.TP\n\\fBcase frobnicate\\fR \\fIID\\fR\nInvented.\n' >>"$E2E_TMP/caseflow.1"
python3 "$CHECK" --man "$CASEFLOW_BIN" "$E2E_TMP/caseflow.1" >"$OUT" 2>"$ERR"
assert_eq 1 "$?" "the checker fails on a caseflow(1) that disagrees"
# shellcheck disable=SC2016 # the backquotes are the checker's words
for want in '`caseflow tick` is not in' '`caseflow act`: --idempotency-key not in its entry' \
    'names `caseflow case frobnicate`, which caseflow --help does not list'; do
    if grep -qF -- "$want" "$OUT"; then
        ok "the checker says: $want"
    else
        not_ok "the checker does not say: $want"
        grep 'not ok' "$OUT" | head | sed 's/^/#   /'
    fi
done
finish
