/* Unit tests for report_html.c: cf_report_html on reports made by hand —
 * every text escaped (markup, control characters, C1 controls), the charts
 * and tables there (or "None." without data), long labels cut in the chart
 * but whole in its tooltip, more versions than colours, the same report the
 * same bytes, and the refusal of what is not a report. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "caseflow/caseflow.h"

static char *render(const char *report_json)
{
    json_error_t jerr;
    json_t *r = json_loads(report_json, 0, &jerr);
    assert_non_null(r);
    char *html = NULL;
    cf_error err;
    assert_int_equal(cf_report_html(r, &html, &err), 0);
    assert_non_null(html);
    json_decref(r);
    return html;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void not_a_report(void **state)
{
    (void)state;
    char *html = (char *)"x";
    cf_error err;
    json_t *a = json_array();
    assert_int_equal(cf_report_html(a, &html, &err), CF_EINVALID);
    assert_null(html);
    assert_string_equal(err.field, "report");
    assert_int_equal(cf_report_html(NULL, &html, &err), CF_EINVALID);
    json_decref(a);
}

static void empty_report(void **state)
{
    (void)state;
    char *html = render("{\"workflow\": \"polit\", \"version\": 2}");
    assert_non_null(strstr(html, "<title>caseflow report: polit v2</title>"));
    assert_non_null(strstr(html, "<dd>version 2 only</dd>"));
    assert_int_equal(count(html, "<svg "), 0);
    assert_int_equal(count(html, "<p class=\"none\">None.</p>"), 4);
    assert_int_equal(count(html, "<table>"), 9);
    free(html);
}

static void everything_escaped(void **state)
{
    (void)state;
    /* markup, quotes, a control character, DEL and U+009B (a C1 control) */
    const char *rep =
        "{\"workflow\": \"w<i>\", \"as_of\": \"2026-11-01T00:00:00Z\","
        " \"by_state\": {\"s<b>&\\\"'\\u0001\\u007f\\u009bx\": 2},"
        " \"by_version\": {\"1\": {\"cases\": 2, \"by_state\": {\"s<b>&\\\"'\\u0001\\u007f\\u009bx\": 2}}},"
        " \"by_outcome\": {\"<script>alert(1)</script>\": 1},"
        " \"routes\": {\"r<\": {\"cases\": 1, \"came_back\": 0}},"
        " \"deadlines\": {\"<img src=x>\": {\"cases\": 3, \"met\": 1, \"missed\": 1}},"
        " \"by_month\": {\"2026-11\": {\"cases\": 2, \"by_version\": {\"1\": 2}}},"
        " \"timers_kept\": {\"timers\": 1, \"due\": 0, \"by\": [{\"version\": 1,"
        "   \"state\": \"<u>\", \"event\": \"e&\", \"timers\": 1, \"due\": 0}]}}";
    char *html = render(rep);
    assert_null(strstr(html, "<i>"));
    assert_null(strstr(html, "<b>"));
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<img"));
    assert_null(strstr(html, "<u>"));
    assert_null(strstr(html, "\x01"));
    assert_null(strstr(html, "\x7f"));
    assert_null(strstr(html, "\xc2\x9b"));
    assert_non_null(strstr(html, "<h1>Case report: workflow w&lt;i&gt;</h1>"));
    assert_non_null(
        strstr(html, "<th scope=\"row\">s&lt;b&gt;&amp;&quot;&#39;\xef\xbf\xbd\xef\xbf\xbd"
                     "\xef\xbf\xbdx</th>"));
    assert_non_null(strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_non_null(strstr(html, "<td>e&amp;</td>"));
    assert_non_null(strstr(html, "met 1, missed 1, of 3"));
    assert_int_equal(count(html, "<svg "), 4);
    assert_int_equal(count(html, "aria-labelledby=\"deadlines-t deadlines-d\""), 1);
    char *again = render(rep);
    assert_string_equal(html, again); /* the same report, the same bytes */
    free(again);
    free(html);
}

static void long_labels_and_many_versions(void **state)
{
    (void)state;
    char rep[4096];
    int n = snprintf(rep, sizeof rep, "{\"workflow\": \"w\", \"by_state\": {\"%s\": 8},"
                                      " \"by_version\": {",
                     "a_state_name_much_longer_than_a_chart_label_can_show");
    for (int v = 1; v <= 8; v++)
        n += snprintf(rep + n, sizeof rep - (size_t)n,
                      "%s\"%d\": {\"cases\": 1, \"by_state\": {\"%s\": 1}}", v > 1 ? ", " : "",
                      v, "a_state_name_much_longer_than_a_chart_label_can_show");
    snprintf(rep + n, sizeof rep - (size_t)n, "}}");
    char *html = render(rep);
    /* cut to 27 characters and an ellipsis in the chart, whole in its tooltip */
    assert_non_null(strstr(html, ">a_state_name_much_longer_th\xe2\x80\xa6</text>"));
    assert_non_null(strstr(html, "<title>a_state_name_much_longer_than_a_chart_label_can_show"
                                 ", v1: 1</title>"));
    /* six colours: the sixth bar part holds v6 to v8 */
    assert_non_null(strstr(html, ">later versions</text>"));
    assert_non_null(strstr(html, "later versions: 3</title>"));
    assert_non_null(strstr(html, "class=\"figure\">8 (v1 1, v2 1, v3 1, v4 1, v5 1, "
                                 "later versions 3)</text>"));
    free(html);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(not_a_report),
        cmocka_unit_test(empty_report),
        cmocka_unit_test(everything_escaped),
        cmocka_unit_test(long_labels_and_many_versions),
    };
    return cmocka_run_group_tests_name("report_html", tests, NULL, NULL);
}
