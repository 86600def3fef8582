#!/bin/bash
# `report --format html` (issue 9, item 7): one self-contained page (no
# script, nothing fetched) with the report's tables and four SVG bar charts
# (cases by state and monthly intake split by version, routes entered,
# deadlines met and missed by grade), the same bytes for the same store and
# clock, every text from the store HTML-escaped (a grade and an outcome
# carrying markup), the refusals (exit 64, 74) leaving the store as it was;
# and the page rendered by a real headless browser (Debian's chromium): a
# screenshot kept as a test artifact in the build tree
# (tests/artifacts/report.png) and the DOM it built checked. Without
# chromium the browser part is skipped, as cli_versions.sh does without
# Graphviz, unless CF_TEST_REQUIRE names chromium (scripts/test sets it):
# then it fails. CF_CHROMIUM names another browser binary (a missing one
# shows both behaviours).
# shellcheck disable=SC2119 # setup_store takes an optional path, not our arguments
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

export CASEFLOW_NOW=2026-10-05T10:00:00Z
setup_store
R=(--actor supervisor1 --reason e2e)
applied='{"necessity":"identify the subscriber behind the upload","proportionality":"no less intrusive means"}'
granted='{"authority":"OCDA","reference":"OCDA-2026-0001","urgent":false}'
resolved='{"name":"Test Subscriber One","address":{"line1":"1 Example Street","town":"Exampleton","postcode":"ZZ1 1ZZ"},"address_type":"installation","provider_reference":"ISP-REF-0001"}'
low_checks='{"occupants":[{"name":"Test Occupant One","dob":"1980-01-01"}],"prior_history":false,"registered_sex_offender":false,"children_in_household":false,"access_to_children_at_work":false,"distribution_signs":false,"address_corroborated":true}'
visited='{"advice_given":true,"letter_issued":true,"security_advice":true,"signposted":true}'

# walk ID STEPS: take the case STEPS steps down the visit route
# (1 subscriber, 2 checks, 3 assessment, 4 visit, 5 monitoring).
walk() {
    local id=$1 n=$2
    { [ "$n" -lt 1 ] || { cf --actor officer1 act "$id" authorisation.applied --data "$applied" &&
        cf --actor authoriser1 act "$id" authorisation.granted --data "$granted"; }; } &&
        { [ "$n" -lt 2 ] || cf --actor analyst1 act "$id" subscriber.resolved --data "$resolved"; } &&
        { [ "$n" -lt 3 ] || cf --actor analyst1 act "$id" checks.completed --data "$low_checks"; } &&
        { [ "$n" -lt 4 ] || cf --actor supervisor1 act "$id" assessment.approved --data '{}'; } &&
        { [ "$n" -lt 5 ] || cf --actor officer1 act "$id" visit.completed --data "$visited"; }
}

# October, version 1: cases in five states.
i=0
for n in 0 1 2 3 4 5 5; do
    i=$((i + 1))
    id=$(new_case "HTML-OCT-$i" polit "203.0.113.$((10 + i))")
    walk "$id" "$n" >/dev/null || not_ok "an October case takes $n steps"
done
# November, version 2 (a shorter monitoring period): three more.
export CASEFLOW_NOW=2026-11-10T10:00:00Z
WF2="$E2E_TMP/wf2"
cp -r "$CASEFLOW_SRCDIR/workflows" "$WF2"
chmod -R u+w "$WF2"
sed -i 's/^local monitoring_days = 365/local monitoring_days = 180/' "$WF2/polit.lua"
expect_exit 0 cf --actor admin --reason "e2e: version 2" workflow deploy --yes "$WF2/polit.lua"
for n in 0 3 4; do
    id=$(new_case "HTML-NOV-$n" polit "198.51.100.$((10 + n))")
    walk "$id" "$n" >/dev/null || not_ok "a November case takes $n steps"
done
export CASEFLOW_NOW=2026-12-01T10:00:00Z
expect_exit 0 cf "${R[@]}" --json report
assert_jq "$OUT" '(.by_version | keys) == ["1", "2"] and (.by_state | length) >= 5' \
    "the store: cases in several states on two versions"
assert_jq "$OUT" '.by_month == {"2026-10": {"cases": 7, "by_version": {"1": 7}},
    "2026-11": {"cases": 3, "by_version": {"2": 3}}}' "report --json: monthly intake by version"
assert_jq "$OUT" '.as_of == "2026-12-01T10:00:00Z"' "report --json: as_of is the engine clock"

# ---- the page -------------------------------------------------------------------
PAGE="$E2E_TMP/report.html"
expect_exit 0 cf "${R[@]}" report --format html --output "$PAGE"
assert_eq 0 "$(wc -c <"$OUT")" "--output: nothing on standard output"
assert_eq "<!DOCTYPE html>" "$(head -1 "$PAGE")" "an HTML document"
assert_contains "$PAGE" "<title>caseflow report: polit</title>" "the page has a title"
assert_contains "$PAGE" "<h1>Case report: workflow polit</h1>" "the page has a heading"
assert_eq 4 "$(grep -c '<svg ' "$PAGE")" "four charts"
assert_eq 4 "$(grep -c '<svg [^>]*role="img"[^>]*aria-labelledby=' "$PAGE")" \
    "each chart is an image labelled by its title and description"
for t in "Cases by state" "Routes entered" "Response deadlines by grade" "Monthly intake"; do
    assert_contains "$PAGE" "-h\">$t" "chart heading: $t"
done
assert_contains "$PAGE" '<title id="by-state-t">Cases by state</title>' "a chart's SVG title"
assert_contains "$PAGE" 'class="figure">2 (v1 1, v2 1)</text>' \
    "a bar's figure beside it, split by version"
assert_contains "$PAGE" '<th scope="col">State</th>' "tables have column headers"
assert_contains "$PAGE" '<th scope="row">monitoring</th>' "tables have row headers"
assert_contains "$PAGE" '<th scope="row">2026-11</th><td>3</td><td>v2: 3</td>' \
    "the monthly intake table"
if grep -qiE '<script|<link|<img|<iframe|src=|href=|@import|url\(|https?:' \
    <(grep -v 'xmlns="http://www.w3.org/2000/svg"' "$PAGE"); then
    not_ok "self-contained: no script, nothing fetched"
    grep -niE '<script|<link|<img|<iframe|src=|href=|@import|url\(|https?:' "$PAGE" | head -5
else
    ok "self-contained: no script, nothing fetched"
fi
expect_exit 0 cf "${R[@]}" report --format html
assert_eq "" "$(cmp "$OUT" "$PAGE" 2>&1)" "standard output: the same page, the same bytes"
cp "$OUT" "$E2E_TMP/again.html"
for run in 2 3 4; do # the flags come from Lua tables: their order changes from run to run
    cf "${R[@]}" report --format html --output "$E2E_TMP/again$run.html"
    assert_eq "" "$(cmp "$PAGE" "$E2E_TMP/again$run.html" 2>&1)" \
        "deterministic: the same store and clock (run $run)"
done
expect_exit 0 cf "${R[@]}" report --format html --version 2 --output "$E2E_TMP/v2.html"
assert_contains "$E2E_TMP/v2.html" "<dd>version 2 only</dd>" "--version 2: the page says so"
assert_eq 0 "$(grep -c 'HTML-OCT' "$PAGE")" "no case reference in the page"
expect_exit 0 cf "${R[@]}" report --format text
assert_contains "$OUT" "caseflow report: workflow polit" "--format text: the text report"
if ls "$E2E_TMP"/report.html.* >/dev/null 2>&1; then
    not_ok "no temporary file left"
else
    ok "no temporary file left"
fi

# ---- refusals: the store as it was ---------------------------------------------------
snapshot refused
expect_exit 64 cf "${R[@]}" report --format pdf
assert_contains "$ERR" "--format" "a bad format names --format"
expect_exit 64 cf "${R[@]}" --json report --format html
expect_exit 64 cf "${R[@]}" report --output "$E2E_TMP/x.html"
assert_contains "$ERR" "--output" "--output without html names --output"
expect_exit 64 cf --actor supervisor1 report --format html --output "$E2E_TMP/x.html"
expect_exit 74 cf "${R[@]}" report --format html --output "$E2E_TMP/nosuch/x.html"
assert_contains "$ERR" "nosuch/x.html" "an unwritable --output is named"
expect_exit 69 cf "${R[@]}" report --format html --version 9 --output "$E2E_TMP/x.html"
assert_eq "no" "$(test -e "$E2E_TMP/x.html" && echo yes || echo no)" "a refused report writes no file"
assert_unchanged refused "refused html reports"

# ---- markup from the store comes out escaped -----------------------------------------
# The flow test workflow groups deadlines by data.grade, and the "good"
# plugin copies what an event sets into the case data: a grade and an
# outcome carrying markup reach the report's rows.
expect_exit 0 cf --actor admin --reason "e2e: flow" workflow deploy --yes \
    "$CASEFLOW_SRCDIR/tests/data/engine/flow.lua"
F=$(referral HTML-FLOW-1 | cf --actor analyst1 refer --json --workflow flow | jq -r .id)
# shellcheck disable=SC2016 # the markup is literal
hostile='{"set":{"grade":"<script>alert(1)</script>&\"q\"'"'"'","outcome":"<img src=x onerror=alert(2)>"}}'
expect_exit 0 cf --actor officer1 act "$F" submit --data "$hostile"
expect_exit 0 cf "${R[@]}" report --workflow flow --format html --output "$E2E_TMP/flow.html"
assert_contains "$E2E_TMP/flow.html" '<th scope="row">&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;q&quot;&#39;</th>' \
    "a grade with markup: escaped in the table"
assert_contains "$E2E_TMP/flow.html" '<title>&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;q&quot;&#39;, not yet due: 1</title>' \
    "a grade with markup: escaped in the chart"
assert_contains "$E2E_TMP/flow.html" '<th scope="row">&lt;img src=x onerror=alert(2)&gt;</th>' \
    "an outcome with markup: escaped"
assert_eq 0 "$(grep -c '<script\|<img' "$E2E_TMP/flow.html")" "no markup from the store comes through"
expect_exit 0 cf --actor admin audit verify

# ---- a real browser -------------------------------------------------------------------
required=no
case " ${CF_TEST_REQUIRE:-} " in *" chromium "*) required=yes ;; esac
BROWSER=$(command -v "${CF_CHROMIUM:-chromium}" || true) # CF_CHROMIUM: another browser binary
if [ -z "$BROWSER" ]; then
    if [ "$required" = yes ]; then
        not_ok "chromium is not installed (scripts/setup installs it; CF_TEST_REQUIRE needs it)"
    else
        ok "# SKIP rendering in a browser: chromium is not installed (apt-get install chromium)"
    fi
    finish
fi
# chromium [ARGS...]: headless, as root too (--no-sandbox), a profile of
# its own, bounded in time.
chromium_run() {
    HOME="$E2E_TMP/home" timeout 120 "$BROWSER" --headless --no-sandbox --disable-gpu \
        --no-first-run --disable-extensions --disable-dev-shm-usage \
        --user-data-dir="$E2E_TMP/chromium" "$@" 2>>"$E2E_TMP/chromium.log"
}
mkdir -p "$E2E_TMP/home"
SHOT="$E2E_TMP/report.png"
chromium_run --screenshot="$SHOT" --window-size=1200,2000 "file://$PAGE" >/dev/null
st=$?
assert_eq 0 "$st" "chromium renders the page (exit status)"
if [ -s "$SHOT" ]; then
    assert_eq 89504e470d0a1a0a "$(head -c 8 "$SHOT" | od -An -tx1 | tr -d ' \n')" \
        "the screenshot is a PNG"
    size=$(wc -c <"$SHOT")
    if [ "$size" -gt 20000 ]; then
        ok "the screenshot is not blank ($size bytes)"
    else
        not_ok "the screenshot is too small to hold the page ($size bytes)"
    fi
    assert_eq "000004b0000007d0" "$(od -An -tx1 -j16 -N8 "$SHOT" | tr -d ' \n')" \
        "the screenshot is 1200x2000"
    ART="$CASEFLOW_BUILDDIR/tests/artifacts"
    if mkdir -p "$ART" && cp "$SHOT" "$ART/report.png" && cp "$PAGE" "$ART/report.html"; then
        ok "screenshot kept: $(cd "$ART" && pwd)/report.png"
    else
        not_ok "cannot keep the screenshot in $ART"
    fi
else
    not_ok "chromium wrote no screenshot"
    tail -5 "$E2E_TMP/chromium.log" | sed 's/^/#   /'
fi
chromium_run --dump-dom "file://$PAGE" >"$E2E_TMP/dom.html"
assert_eq 0 "$?" "chromium dumps the DOM"
assert_eq 4 "$(grep -o '<svg ' "$E2E_TMP/dom.html" | wc -l)" "the browser's DOM holds four charts"
assert_eq 5 "$(grep -o '<h2 ' "$E2E_TMP/dom.html" | wc -l)" "the browser's DOM holds five sections"
assert_contains "$E2E_TMP/dom.html" '<h1>Case report: workflow polit</h1>' "the browser's DOM: the heading"
assert_eq 9 "$(grep -o '<table>' "$E2E_TMP/dom.html" | wc -l)" "the browser's DOM: nine tables"
chromium_run --dump-dom "file://$E2E_TMP/flow.html" >"$E2E_TMP/flowdom.html"
assert_eq 0 "$(grep -c '<script\|<img' "$E2E_TMP/flowdom.html")" \
    "the browser parses no element out of the store's markup"
assert_contains "$E2E_TMP/flowdom.html" '&lt;script&gt;alert(1)&lt;/script&gt;' \
    "the browser shows the markup as text"
finish
