/*
 * The management report: cases by state and outcome, routes taken and how
 * many came back, escalations, flags, median days from referral, and
 * response deadlines met and missed by grade (an audited read); as text,
 * --json, or with --format html one self-contained page of tables and bar
 * charts (cf_report_html).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void print_counts(const char *title, const json_t *o)
{
    const char *k;
    json_t *v;
    outf("%s\n", title);
    if (!json_object_size(o))
        outf("  (none)\n");
    json_object_foreach((json_t *)o, k, v) {
        char b[64];
        outf("  %-28s %s\n", k, jtext(o, k, b, sizeof b));
    }
}

static void print_report(const json_t *r)
{
    const char *k;
    json_t *v;
    char b1[64], b2[64], b3[64];
    outf("caseflow report: workflow %s, %s%s, since %s\n", jtext(r, "workflow", b1, sizeof b1),
         json_is_integer(json_object_get(r, "version")) ? "version " : "every version",
         json_is_integer(json_object_get(r, "version")) ? jtext(r, "version", b3, sizeof b3)
                                                          : "",
         jtext(r, "since", b2, sizeof b2));
    outf("\n");
    print_counts("Cases by state", json_object_get(r, "by_state"));
    outf("Cases by version (and state)\n");
    if (!json_object_size(json_object_get(r, "by_version")))
        outf("  (none)\n");
    json_object_foreach(json_object_get(r, "by_version"), k, v) {
        const char *sk;
        json_t *sv;
        outf("  v%-27s %s\n", k, jtext(v, "cases", b1, sizeof b1));
        json_object_foreach(json_object_get(v, "by_state"), sk, sv)
            outf("    %-26s %s\n", sk, jtext(json_object_get(v, "by_state"), sk, b2, sizeof b2));
    }
    print_counts("Closed cases by outcome", json_object_get(r, "by_outcome"));
    outf("Routes entered (cases; of which came back with a repeat referral)\n");
    json_object_foreach(json_object_get(r, "routes"), k, v)
        outf("  %-28s %s  (came back: %s)\n", k, jtext(v, "cases", b1, sizeof b1),
             jtext(v, "came_back", b2, sizeof b2));
    print_counts("Escalations by the state they came from", json_object_get(r, "escalations"));
    print_counts("Flags", json_object_get(r, "flags"));
    outf("Days from referral (median)\n");
    json_object_foreach(json_object_get(r, "days_from_referral"), k, v)
        outf("  %-28s %s days over %s cases\n", k, jtext(v, "median_days", b1, sizeof b1),
             jtext(v, "cases", b2, sizeof b2));
    outf("Response deadlines by grade (met / missed / cases)\n");
    json_object_foreach(json_object_get(r, "deadlines"), k, v)
        outf("  %-28s %s / %s / %s\n", k, jtext(v, "met", b1, sizeof b1),
             jtext(v, "missed", b2, sizeof b2), jtext(v, "cases", b3, sizeof b3));
    const json_t *kept = json_object_get(r, "timers_kept");
    if (kept) {
        size_t i;
        outf("Timers no transition takes (kept by tick): %s, %s due\n",
             jtext(kept, "timers", b1, sizeof b1), jtext(kept, "due", b2, sizeof b2));
        json_array_foreach(json_object_get(kept, "by"), i, v) {
            char b4[64], b5[64];
            outf("  v%s %s %s: %s (%s due)\n", jtext(v, "version", b1, sizeof b1),
                 jtext(v, "state", b2, sizeof b2), jtext(v, "event", b3, sizeof b3),
                 jtext(v, "timers", b4, sizeof b4), jtext(v, "due", b5, sizeof b5));
        }
    }
}

/* --output FILE of --format html: written to a temporary file beside it,
 * created before the report is read (an unwritable place is exit 74 with
 * nothing read), and renamed over FILE once complete. */
struct html_out {
    char *tmp; /* FILE.XXXXXX, or NULL: standard output */
    FILE *f;
};

static int html_open(struct cli *c, struct html_out *o)
{
    o->tmp = NULL;
    o->f = NULL;
    if (!c->output)
        return 0;
    size_t n = strlen(c->output) + 8;
    o->tmp = malloc(n);
    if (!o->tmp) {
        say("out of memory");
        return EXIT_IOERR;
    }
    snprintf(o->tmp, n, "%s.XXXXXX", c->output);
    int fd = mkstemp(o->tmp);
    if (fd >= 0) {
        mode_t mask = umask(0);
        umask(mask);
        if (fchmod(fd, 0666 & ~mask) != 0 || !(o->f = fdopen(fd, "w"))) {
            close(fd);
            unlink(o->tmp);
            fd = -1;
        }
    }
    if (fd < 0) {
        say("--output: cannot write %s: %s", c->output, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        return EXIT_IOERR;
    }
    return 0;
}

/* Drop the temporary file (when the report failed). */
static void html_abandon(struct html_out *o)
{
    if (o->f) {
        fclose(o->f);
        unlink(o->tmp);
    }
    free(o->tmp);
    o->tmp = NULL;
    o->f = NULL;
}

/* Render r (taken) as one HTML page (cf_report_html) on standard output or
 * into --output FILE. */
static int write_html(struct cli *c, struct html_out *o, json_t *r)
{
    cf_error err;
    char *html = NULL;
    int rc = cf_report_html(r, &html, &err);
    json_decref(r);
    if (rc) {
        html_abandon(o);
        return fail(rc, &err);
    }
    if (!o->f) {
        out_block(html);
        free(html);
        return check_stdout();
    }
    bool ok = fputs(html, o->f) >= 0;
    int saved = errno;
    if (fclose(o->f) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    o->f = NULL;
    free(html);
    if (ok && rename(o->tmp, c->output) != 0) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        unlink(o->tmp);
        say("--output: cannot write %s: %s", c->output, strerror(saved));
    }
    free(o->tmp);
    o->tmp = NULL;
    return ok ? 0 : EXIT_IOERR;
}

/* The report.get operation, here or through caseflowd. */
int cmd_report(struct cli *c)
{
    json_t *r = NULL;
    int64_t since = 0;
    bool html = false;
    if (c->format) {
        if (strcmp(c->format, "html") == 0)
            html = true;
        else if (strcmp(c->format, "text") != 0)
            return usage_error("--format: text or html, not '%s'", c->format);
    }
    if (html && c->json)
        return usage_error("--json: not with --format html");
    if (c->output && !html)
        return usage_error("--output: only with --format html");
    if (c->since && !parse_since(c->since, &since))
        return EXIT_USAGE;
    struct html_out hout = {NULL, NULL};
    int st = ops_open(c);
    if (st || (html && (st = html_open(c, &hout))))
        return st;
    json_t *args = op_args("workflow", c->workflow, "version", c->wf_version, NULL);
    if (since)
        json_object_set_new(args, "since", json_integer(since));
    struct op_req req = OP_REQ("report.get");
    req.args = args;
    st = op_run(c, &req, &r);
    json_decref(args);
    if (st) {
        html_abandon(&hout);
        return st;
    }
    return html ? write_html(c, &hout, r) : print_result(c, r, false, print_report);
}
