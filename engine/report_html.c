/*
 * The management report (report.c) as one HTML page, for a supervisor who
 * would rather look than read: the report's tables, and horizontal bar
 * charts of cases by state, routes entered, response deadlines met and
 * missed by grade and monthly intake, split by version where the report
 * splits. The page is self-contained (inline CSS and SVG, no script,
 * nothing fetched), every text that comes from the report (state, grade,
 * outcome, workflow names: the store's and so the users') is HTML-escaped,
 * and it is made from the report alone: the same report gives the same
 * bytes. Each chart has a <title> and <desc> for screen readers, and every
 * bar its figure as text beside it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAXPARTS 6 /* stacked parts of one bar; more versions share the last */

/* s as HTML text or attribute value: & < > " ' as references, control
 * characters (C0 but tab and newline, DEL, C1) as U+FFFD. */
static void esc(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            if ((*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7f) {
                fputs("\xef\xbf\xbd", f);
            } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
                fputs("\xef\xbf\xbd", f);
                p++;
            } else {
                fputc(*p, f);
            }
        }
    }
}

/* At most max characters of s, escaped, with an ellipsis when cut. */
static void esc_short(FILE *f, const char *s, size_t max)
{
    size_t chars = 0, cut = 0;
    for (size_t i = 0; s[i]; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80 && chars++ == max - 1)
            cut = i;
    if (chars <= max) {
        esc(f, s);
        return;
    }
    char *head = strndup(s, cut);
    esc(f, head ? head : "");
    free(head);
    fputs("\xe2\x80\xa6", f);
}

static json_int_t num(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* A report member's text: a string, a number, or "none". */
static const char *text_of(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v))
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, size, "%.1f", json_real_value(v));
    else
        snprintf(buf, size, "none");
    return buf;
}

/* ---- charts ---------------------------------------------------------------- */

struct row {
    const char *label;
    json_int_t part[MAXPARTS];
    char note[160];
};

struct chart {
    const char *id, *title;
    const char *parts[MAXPARTS]; /* the legend; one part: none */
    const char *colour[MAXPARTS];
    size_t nparts, nrows;
    struct row *rows;
};

static const char *const palette[MAXPARTS] = {"#1f5f99", "#d9822b", "#3d8b3d",
                                              "#7a4f9e", "#8c5a3c", "#c0487f"};

enum { WIDTH = 820, LABEL_W = 200, BAR_W = 460, ROW_H = 26, TOP = 8, LEGEND_H = 28 };

static json_int_t row_total(const struct chart *c, const struct row *r)
{
    json_int_t t = 0;
    for (size_t p = 0; p < c->nparts; p++)
        t += r->part[p];
    return t;
}

/* One chart as a figure with an inline SVG, or a line saying there is
 * nothing to draw. */
static void chart(FILE *f, const struct chart *c)
{
    fprintf(f, "<section aria-labelledby=\"%s-h\">\n<h2 id=\"%s-h\">", c->id, c->id);
    esc(f, c->title);
    fputs("</h2>\n", f);
    if (!c->nrows) {
        fputs("<p class=\"none\">None.</p>\n</section>\n", f);
        return;
    }
    json_int_t max = 1;
    for (size_t i = 0; i < c->nrows; i++)
        if (row_total(c, &c->rows[i]) > max)
            max = row_total(c, &c->rows[i]);
    int legend = c->nparts > 1 ? LEGEND_H : 0;
    int height = TOP + (int)c->nrows * ROW_H + legend + 4;
    fprintf(f,
            "<figure>\n<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\""
            " width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" aria-labelledby=\"%s-t %s-d\">\n"
            "<title id=\"%s-t\">",
            WIDTH, height, WIDTH, height, c->id, c->id, c->id);
    esc(f, c->title);
    fprintf(f, "</title>\n<desc id=\"%s-d\">", c->id);
    for (size_t i = 0; i < c->nrows; i++) {
        fputs(i ? "; " : "", f);
        esc(f, c->rows[i].label);
        fputs(": ", f);
        esc(f, c->rows[i].note);
    }
    fputs("</desc>\n", f);
    for (size_t i = 0; i < c->nrows; i++) {
        const struct row *r = &c->rows[i];
        int y = TOP + (int)i * ROW_H;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"label\">",
                LABEL_W - 8, y + 17);
        esc_short(f, r->label, 28);
        fputs("</text>\n", f);
        json_int_t sum = 0;
        int x = LABEL_W;
        for (size_t p = 0; p < c->nparts; p++) {
            if (r->part[p] <= 0)
                continue;
            sum += r->part[p];
            int end = LABEL_W + (int)(sum * BAR_W / max);
            int w = end - x < 1 ? 1 : end - x;
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"18\" fill=\"%s\">"
                       "<title>", x, y + 4, w, c->colour[p]);
            esc(f, r->label);
            if (c->nparts > 1) {
                fputs(", ", f);
                esc(f, c->parts[p]);
            }
            fprintf(f, ": %lld</title></rect>\n", (long long)r->part[p]);
            x += w;
        }
        fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"figure\">", x + 6, y + 17);
        esc(f, r->note);
        fputs("</text>\n", f);
    }
    if (legend) {
        int y = TOP + (int)c->nrows * ROW_H + 8, x = LABEL_W;
        for (size_t p = 0; p < c->nparts; p++) {
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" fill=\"%s\"/>"
                       "<text x=\"%d\" y=\"%d\" class=\"legend\">",
                    x, y, c->colour[p], x + 18, y + 12);
            esc(f, c->parts[p]);
            fputs("</text>\n", f);
            x += 28 + 8 * (int)strlen(c->parts[p]);
        }
    }
    fputs("</svg>\n</figure>\n</section>\n", f);
}

/* The versions of the report's by_version (a borrowed list of their keys,
 * at most MAXPARTS, the last standing for the rest) as chart parts. */
static size_t version_parts(const json_t *rep, const char **keys, const char **names,
                            char labels[][24], const char **colour)
{
    const char *k;
    json_t *v;
    size_t n = 0;
    json_object_foreach((json_t *)json_object_get(rep, "by_version"), k, v)
    {
        (void)v;
        if (n == MAXPARTS) {
            snprintf(labels[MAXPARTS - 1], 24, "later versions");
            continue;
        }
        keys[n] = k;
        snprintf(labels[n], 24, "v%s", k);
        names[n] = labels[n];
        colour[n] = palette[n];
        n++;
    }
    return n;
}

/* The part of version key vk among keys (the last when it is past them). */
static size_t part_of(const char **keys, size_t n, const char *vk)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i], vk) == 0)
            return i;
    return n ? n - 1 : 0;
}

/* The note "N (v1 3, v2 4)" of a bar split by version. */
static void version_note(char *note, size_t size, const struct row *r, const char **names,
                         size_t n)
{
    json_int_t t = 0;
    for (size_t p = 0; p < n; p++)
        t += r->part[p];
    int o = snprintf(note, size, "%lld", (long long)t);
    if (n < 2)
        return;
    for (size_t p = 0; p < n && o > 0 && (size_t)o < size; p++)
        o += snprintf(note + o, size - (size_t)o, "%s%s %lld", p ? ", " : " (", names[p],
                      (long long)r->part[p]);
    if (o > 0 && (size_t)o < size)
        snprintf(note + o, size - (size_t)o, ")");
}

static struct row *rows_for(size_t n)
{
    return calloc(n ? n : 1, sizeof(struct row));
}

/* Cases by state, each bar split by version. */
static int chart_states(FILE *f, const json_t *rep)
{
    const char *keys[MAXPARTS], *k, *vk;
    char labels[MAXPARTS][24];
    struct chart c = {.id = "by-state", .title = "Cases by state"};
    size_t nv = version_parts(rep, keys, c.parts, labels, c.colour);
    const json_t *bs = json_object_get(rep, "by_state"), *bv = json_object_get(rep, "by_version");
    json_t *v, *b;
    c.nparts = nv ? nv : 1;
    c.rows = rows_for(json_object_size(bs));
    if (!c.rows)
        return -1;
    json_object_foreach((json_t *)bs, k, v)
    {
        struct row *r = &c.rows[c.nrows++];
        r->label = k;
        if (nv == 0) {
            c.colour[0] = palette[0];
            r->part[0] = json_integer_value(v);
        }
        json_object_foreach((json_t *)bv, vk, b)
            r->part[part_of(keys, nv, vk)] += num(json_object_get(b, "by_state"), k);
        version_note(r->note, sizeof r->note, r, c.parts, nv);
    }
    chart(f, &c);
    free(c.rows);
    return 0;
}

static int chart_routes(FILE *f, const json_t *rep)
{
    const json_t *routes = json_object_get(rep, "routes");
    struct chart c = {.id = "routes", .title = "Routes entered", .nparts = 1,
                      .colour = {palette[0]}};
    const char *k;
    json_t *v;
    c.rows = rows_for(json_object_size(routes));
    if (!c.rows)
        return -1;
    json_object_foreach((json_t *)routes, k, v)
    {
        struct row *r = &c.rows[c.nrows++];
        r->label = k;
        r->part[0] = num(v, "cases");
        snprintf(r->note, sizeof r->note, "%lld (came back: %lld)", (long long)r->part[0],
                 (long long)num(v, "came_back"));
    }
    chart(f, &c);
    free(c.rows);
    return 0;
}

static int chart_deadlines(FILE *f, const json_t *rep)
{
    const json_t *dl = json_object_get(rep, "deadlines");
    struct chart c = {.id = "deadlines",
                      .title = "Response deadlines by grade",
                      .parts = {"met", "missed", "not yet due"},
                      .colour = {"#3d8b3d", "#c0392b", "#a8a8a8"},
                      .nparts = 3};
    const char *k;
    json_t *v;
    c.rows = rows_for(json_object_size(dl));
    if (!c.rows)
        return -1;
    json_object_foreach((json_t *)dl, k, v)
    {
        struct row *r = &c.rows[c.nrows++];
        json_int_t open = num(v, "cases") - num(v, "met") - num(v, "missed");
        r->label = k;
        r->part[0] = num(v, "met");
        r->part[1] = num(v, "missed");
        r->part[2] = open > 0 ? open : 0;
        snprintf(r->note, sizeof r->note, "met %lld, missed %lld, of %lld",
                 (long long)num(v, "met"), (long long)num(v, "missed"),
                 (long long)num(v, "cases"));
    }
    chart(f, &c);
    free(c.rows);
    return 0;
}

static int chart_months(FILE *f, const json_t *rep)
{
    const char *keys[MAXPARTS], *k, *vk;
    char labels[MAXPARTS][24];
    const json_t *bm = json_object_get(rep, "by_month");
    struct chart c = {.id = "intake", .title = "Monthly intake (cases referred, by month)"};
    size_t nv = version_parts(rep, keys, c.parts, labels, c.colour);
    json_t *v, *n;
    c.nparts = nv ? nv : 1;
    c.colour[0] = palette[0];
    c.rows = rows_for(json_object_size(bm));
    if (!c.rows)
        return -1;
    json_object_foreach((json_t *)bm, k, v)
    {
        struct row *r = &c.rows[c.nrows++];
        r->label = k;
        json_object_foreach(json_object_get(v, "by_version"), vk, n)
            r->part[part_of(keys, nv, vk)] += json_integer_value(n);
        version_note(r->note, sizeof r->note, r, c.parts, nv);
    }
    chart(f, &c);
    free(c.rows);
    return 0;
}

/* ---- tables ---------------------------------------------------------------- */

static void th_col(FILE *f, const char *s)
{
    fputs("<th scope=\"col\">", f);
    esc(f, s);
    fputs("</th>", f);
}

static void th_row(FILE *f, const char *s)
{
    fputs("<tr><th scope=\"row\">", f);
    esc(f, s);
    fputs("</th>", f);
}

static void td(FILE *f, const json_t *v)
{
    char b[64];
    fputs("<td>", f);
    esc(f, text_of(v, b, sizeof b));
    fputs("</td>", f);
}

static void table_open(FILE *f, const char *caption, const char *const *cols)
{
    fputs("<table>\n<caption>", f);
    esc(f, caption);
    fputs("</caption>\n<thead><tr>", f);
    for (; *cols; cols++)
        th_col(f, *cols);
    fputs("</tr></thead>\n<tbody>\n", f);
}

static void table_close(FILE *f, bool empty, size_t ncols)
{
    if (empty)
        fprintf(f, "<tr><td class=\"none\" colspan=\"%zu\">None.</td></tr>\n", ncols);
    fputs("</tbody>\n</table>\n", f);
}

/* A table of {key: count}. */
static void counts_table(FILE *f, const char *caption, const char *what, const json_t *o)
{
    const char *k;
    json_t *v;
    table_open(f, caption, (const char *const[]){what, "Cases", NULL});
    json_object_foreach((json_t *)o, k, v)
    {
        th_row(f, k);
        td(f, v);
        fputs("</tr>\n", f);
    }
    table_close(f, !json_object_size(o), 2);
}

/* Cases by state with a column per version. */
static void states_table(FILE *f, const json_t *rep)
{
    const json_t *bs = json_object_get(rep, "by_state"), *bv = json_object_get(rep, "by_version");
    const char *k, *vk;
    json_t *v, *b;
    fputs("<table>\n<caption>Cases by state and version</caption>\n<thead><tr>", f);
    th_col(f, "State");
    th_col(f, "Cases");
    json_object_foreach((json_t *)bv, vk, b)
    {
        char h[40];
        snprintf(h, sizeof h, "v%s", vk);
        th_col(f, h);
    }
    fputs("</tr></thead>\n<tbody>\n", f);
    json_object_foreach((json_t *)bs, k, v)
    {
        th_row(f, k);
        td(f, v);
        json_object_foreach((json_t *)bv, vk, b)
        {
            json_t *n = json_object_get(json_object_get(b, "by_state"), k);
            json_t *zero = json_integer(0);
            td(f, n ? n : zero);
            json_decref(zero);
        }
        fputs("</tr>\n", f);
    }
    if (json_object_size(bs)) {
        fputs("<tr class=\"total\"><th scope=\"row\">All states</th>", f);
        json_int_t all = 0;
        json_object_foreach((json_t *)bs, k, v)
            all += json_integer_value(v);
        fprintf(f, "<td>%lld</td>", (long long)all);
        json_object_foreach((json_t *)bv, vk, b)
            fprintf(f, "<td>%lld</td>", (long long)num(b, "cases"));
        fputs("</tr>\n", f);
    }
    table_close(f, !json_object_size(bs), 2 + json_object_size(bv));
}

static void other_tables(FILE *f, const json_t *rep)
{
    const char *k;
    json_t *v;
    size_t i;
    counts_table(f, "Closed cases by outcome", "Outcome", json_object_get(rep, "by_outcome"));

    const json_t *routes = json_object_get(rep, "routes");
    table_open(f, "Routes entered", (const char *const[]){"Route", "Cases", "Came back", NULL});
    json_object_foreach((json_t *)routes, k, v)
    {
        th_row(f, k);
        td(f, json_object_get(v, "cases"));
        td(f, json_object_get(v, "came_back"));
        fputs("</tr>\n", f);
    }
    table_close(f, !json_object_size(routes), 3);

    counts_table(f, "Escalations by the state they came from", "From state",
                 json_object_get(rep, "escalations"));
    counts_table(f, "Flags", "Flag", json_object_get(rep, "flags"));

    const json_t *days = json_object_get(rep, "days_from_referral");
    table_open(f, "Days from referral (median)",
               (const char *const[]){"State", "Median days", "Cases", NULL});
    json_object_foreach((json_t *)days, k, v)
    {
        th_row(f, k);
        td(f, json_object_get(v, "median_days"));
        td(f, json_object_get(v, "cases"));
        fputs("</tr>\n", f);
    }
    table_close(f, !json_object_size(days), 3);

    const json_t *dl = json_object_get(rep, "deadlines");
    table_open(f, "Response deadlines by grade",
               (const char *const[]){"Grade", "Met", "Missed", "Cases", NULL});
    json_object_foreach((json_t *)dl, k, v)
    {
        th_row(f, k);
        td(f, json_object_get(v, "met"));
        td(f, json_object_get(v, "missed"));
        td(f, json_object_get(v, "cases"));
        fputs("</tr>\n", f);
    }
    table_close(f, !json_object_size(dl), 4);

    const json_t *bm = json_object_get(rep, "by_month");
    table_open(f, "Monthly intake", (const char *const[]){"Month", "Cases", "By version", NULL});
    json_object_foreach((json_t *)bm, k, v)
    {
        const char *vk;
        json_t *n;
        th_row(f, k);
        td(f, json_object_get(v, "cases"));
        fputs("<td>", f);
        int first = 1;
        json_object_foreach(json_object_get(v, "by_version"), vk, n)
        {
            fputs(first ? "v" : ", v", f);
            esc(f, vk);
            fprintf(f, ": %lld", (long long)json_integer_value(n));
            first = 0;
        }
        fputs("</td></tr>\n", f);
    }
    table_close(f, !json_object_size(bm), 3);

    const json_t *kept = json_object_get(rep, "timers_kept");
    const json_t *by = json_object_get(kept, "by");
    table_open(f, "Timers no transition takes (kept by tick)",
               (const char *const[]){"Version", "State", "Event", "Timers", "Due", NULL});
    json_array_foreach(by, i, v)
    {
        th_row(f, text_of(json_object_get(v, "version"), (char[32]){0}, 32));
        td(f, json_object_get(v, "state"));
        td(f, json_object_get(v, "event"));
        td(f, json_object_get(v, "timers"));
        td(f, json_object_get(v, "due"));
        fputs("</tr>\n", f);
    }
    table_close(f, !json_array_size(by), 5);
}

/* ---- the page -------------------------------------------------------------- */

static const char style[] =
    "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;margin:2em;"
    "color:#1a1a1a;background:#fff;max-width:60em}\n"
    "h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em}\n"
    "dl.meta{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}\n"
    "dl.meta dt{font-weight:bold}dl.meta dd{margin:0}\n"
    "figure{margin:0 0 1em 0}svg.chart{max-width:100%;height:auto}\n"
    "svg .label,svg .figure,svg .legend{font-size:13px;fill:#1a1a1a}\n"
    "table{border-collapse:collapse;margin:1em 0 1.5em 0;min-width:24em}\n"
    "caption{text-align:left;font-weight:bold;padding:.3em 0}\n"
    "th,td{border:1px solid #bbb;padding:.25em .6em;text-align:left}\n"
    "td{text-align:right;font-variant-numeric:tabular-nums}\n"
    "thead th{background:#eef2f6}tr.total{font-weight:bold}\n"
    "p.none,td.none{color:#555;text-align:left}\n";

static void page(FILE *f, const json_t *rep)
{
    char vb[32];
    const json_t *ver = json_object_get(rep, "version");
    const char *wf = json_string_value(json_object_get(rep, "workflow"));
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>caseflow report: ",
          f);
    esc(f, wf ? wf : "");
    if (json_is_integer(ver))
        fprintf(f, " v%lld", (long long)json_integer_value(ver));
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<main>\n<h1>"
               "Case report: workflow ", style);
    esc(f, wf ? wf : "");
    fputs("</h1>\n<dl class=\"meta\">\n<dt>Versions</dt><dd>", f);
    if (json_is_integer(ver))
        fprintf(f, "version %lld only", (long long)json_integer_value(ver));
    else
        fputs("every version", f);
    fputs("</dd>\n<dt>Cases referred since</dt><dd>", f);
    const json_t *since = json_object_get(rep, "since");
    esc(f, json_is_string(since) ? json_string_value(since) : "the beginning");
    fputs("</dd>\n<dt>As of</dt><dd>", f);
    esc(f, text_of(json_object_get(rep, "as_of"), vb, sizeof vb));
    const json_t *kept = json_object_get(rep, "timers_kept");
    fprintf(f, "</dd>\n<dt>Timers kept by tick</dt><dd>%lld (%lld due)</dd>\n</dl>\n",
            (long long)num(kept, "timers"), (long long)num(kept, "due"));
}

int cf_report_html(const json_t *report, char **out, cf_error *err)
{
    cf_err_clear(err);
    *out = NULL;
    if (!json_is_object(report))
        return cf_err_set(err, CF_EINVALID, "report", "report: not a report object");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    page(f, report);
    int bad = chart_states(f, report) || chart_routes(f, report) ||
              chart_deadlines(f, report) || chart_months(f, report);
    if (!bad) {
        fputs("<section aria-labelledby=\"tables-h\">\n<h2 id=\"tables-h\">Tables</h2>\n", f);
        states_table(f, report);
        other_tables(f, report);
        fputs("</section>\n</main>\n</body>\n</html>\n", f);
    }
    if (fclose(f) != 0 || bad) {
        free(buf);
        return cf_err_set(err, CF_ENOMEM, NULL, "out of memory");
    }
    *out = buf;
    return 0;
}
