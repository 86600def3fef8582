/*
 * Cases: refer takes in one referral or many (bulk intake of JSON lines,
 * committed in batches, each line's result printed once its batch is
 * durable); show, list and history read cases (audited reads); act records a
 * person's action or a system's result; tick fires the timers that are due.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "cli.h"

/* Referrals committed per store transaction in bulk intake. */
#define REFER_BATCH 1000

/* One referral's result line: "CF-000001  authorisation  created". */
static void print_referral(const struct cli *c, const json_t *out)
{
    if (c->json) {
        print_json(out, true);
        return;
    }
    char b1[64], b2[64];
    outf("%s  %-13s  %s\n", jtext(out, "id", b1, sizeof b1), jtext(out, "state", b2, sizeof b2),
         json_is_false(json_object_get(out, "created")) ? "existing" : "created");
}

/* Bulk intake state: results wait here until their batch commits. */
struct bulk {
    struct cli *c;
    json_t *pending; /* array of results not yet durable */
    bool open;       /* a batch is open */
    int status;      /* exit status of the first failure, 0 if none */
};

static void bulk_failed(struct bulk *b, int status)
{
    if (!b->status)
        b->status = status;
}

/* Commit the open batch, then (and only then) print its results. Returns
 * 0, or an exit status when the run cannot go on. */
static int bulk_commit(struct bulk *b)
{
    cf_error err;
    size_t i;
    json_t *r;
    if (!b->open)
        return 0;
    b->open = false;
    int rc = cf_batch_commit(b->c->engine, &err);
    if (rc < 0) {
        cf_batch_rollback(b->c->engine);
        json_array_clear(b->pending);
        return fail(rc, &err);
    }
    json_array_foreach(b->pending, i, r)
        print_referral(b->c, r);
    json_array_clear(b->pending);
    return check_stdout();
}

/* One JSON line of bulk intake. Returns 0 to go on, or an exit status when
 * the run must stop (the store or the actor fails every line alike). */
static int bulk_line(struct bulk *b, const char *text, size_t len,
                     unsigned long lineno)
{
    cf_error err;
    json_error_t jerr;
    unsigned long nl;
    size_t col;
    if (find_nul(text, len, lineno, &nl, &col)) {
        say("line %lu: invalid JSON: a NUL byte (column %zu)", lineno, col);
        bulk_failed(b, EXIT_DATAERR);
        return 0;
    }
    json_t *ref = json_loadb(text, len, JSON_IN_FLAGS, &jerr), *out = NULL;
    if (!ref) {
        say("line %lu: invalid JSON: %s (column %d)", lineno, parse_problem(&jerr),
            jerr.column);
        bulk_failed(b, EXIT_DATAERR);
        return 0;
    }
    if (!json_is_object(ref)) {
        json_decref(ref);
        say("line %lu: referral is not a JSON object", lineno);
        bulk_failed(b, EXIT_DATAERR);
        return 0;
    }
    if (!b->open) {
        int rc = cf_batch_begin(b->c->engine, &err);
        if (rc < 0) {
            json_decref(ref);
            return fail(rc, &err);
        }
        b->open = true;
    }
    int rc = cf_refer(b->c->engine, b->c->workflow, ref, &out, &err);
    json_decref(ref);
    if (rc < 0) {
        int status = fail_line(lineno, rc, &err);
        bulk_failed(b, status);
        /* A bad referral spoils only itself; anything else (store, actor,
         * workflow) would fail every line: keep what is in, then stop. */
        if (rc == CF_EINVALID || rc == CF_ECONFLICT)
            return 0;
        int st = bulk_commit(b);
        return st ? st : status;
    }
    json_array_append_new(b->pending, out);
    if (json_array_size(b->pending) >= REFER_BATCH)
        return bulk_commit(b);
    return 0;
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* A line that is, on its own, one JSON object. */
static bool object_line(const char *s, size_t len)
{
    json_t *v = json_loadb(s, len, JSON_IN_FLAGS, NULL);
    bool ok = json_is_object(v);
    json_decref(v);
    return ok;
}

/* Input of refer: a line reader that remembers line numbers. */
struct input {
    FILE *f;
    const char *name;
    char *line;
    size_t cap;
    ssize_t len;
    unsigned long lineno;
};

/* Next non-blank line into in->line, without its line end; false at the
 * end (or on a read error). */
static bool next_line(struct input *in)
{
    while ((in->len = getline(&in->line, &in->cap, in->f)) >= 0) {
        in->lineno++;
        while (in->len > 0 && (in->line[in->len - 1] == '\n' ||
                               in->line[in->len - 1] == '\r'))
            in->line[--in->len] = '\0';
        if (!blank(in->line, (size_t)in->len))
            return true;
    }
    return false;
}

/* A single referral (the whole input is one object). */
static int refer_one(struct cli *c, const char *text, size_t len,
                     unsigned long first_line)
{
    cf_error err;
    json_error_t jerr;
    json_t *out = NULL;
    unsigned long nl;
    size_t col;
    if (find_nul(text, len, first_line, &nl, &col)) {
        say("invalid JSON: a NUL byte (line %lu, column %zu)", nl, col);
        return EXIT_DATAERR;
    }
    json_t *ref = json_loadb(text, len, JSON_IN_FLAGS, &jerr);
    if (!ref) {
        say("invalid JSON: %s (line %lu, column %d)", parse_problem(&jerr),
            first_line + (unsigned long)jerr.line - 1, jerr.column);
        return EXIT_DATAERR;
    }
    if (!json_is_object(ref)) {
        json_decref(ref);
        say("referral is not a JSON object");
        return EXIT_DATAERR;
    }
    int rc = cf_refer(c->engine, c->workflow, ref, &out, &err);
    json_decref(ref);
    if (rc < 0)
        return fail(rc, &err);
    print_referral(c, out);
    json_decref(out);
    return 0;
}

/*
 * The input after a first line that is the start of a JSON value: either one
 * object over many lines (pretty-printed), read whole; or JSON lines whose
 * first line is broken, which shows when the second line is an object on
 * its own. In that case *lines_mode is set, in->line holds that second line
 * and nothing is done yet; otherwise the return value is the exit status.
 */
static int refer_document(struct cli *c, struct input *in, bool *lines_mode)
{
    char *doc = NULL;
    size_t size = 0;
    unsigned long first = in->lineno, at = in->lineno;
    FILE *mem = open_memstream(&doc, &size);
    if (!mem) {
        say("out of memory");
        return 70;
    }
    fwrite(in->line, 1, (size_t)in->len, mem);
    while (next_line(in)) {
        if (at == first && object_line(in->line, (size_t)in->len)) {
            fclose(mem);
            free(doc);
            *lines_mode = true;
            return 0;
        }
        /* blank lines kept, so that jansson's line numbers are the input's */
        for (; at < in->lineno; at++)
            fputc('\n', mem);
        fwrite(in->line, 1, (size_t)in->len, mem);
    }
    if (ferror(in->f)) {
        fclose(mem);
        free(doc);
        say("cannot read %s: %s", in->name, strerror(errno));
        return EXIT_IOERR;
    }
    if (fclose(mem) != 0 || !doc) {
        free(doc);
        say("out of memory");
        return 70;
    }
    int st = refer_one(c, doc, size, first);
    free(doc);
    return st;
}

/* JSON lines: first (line first_no) was read before the line in in->line;
 * both are taken, then the rest of the input. */
static int refer_lines(struct cli *c, struct input *in, const char *first,
                       size_t first_len, unsigned long first_no)
{
    struct bulk b = {.c = c, .pending = json_array()};
    int st = bulk_line(&b, first, first_len, first_no);
    if (!st)
        st = bulk_line(&b, in->line, (size_t)in->len, in->lineno);
    while (!st && next_line(in))
        st = bulk_line(&b, in->line, (size_t)in->len, in->lineno);
    if (!st && ferror(in->f)) {
        say("cannot read %s: %s", in->name, strerror(errno));
        st = EXIT_IOERR;
        bulk_failed(&b, st);
    }
    if (!st)
        st = bulk_commit(&b);
    else if (b.open) /* stopping on an error: keep what was accepted */
        bulk_commit(&b);
    json_decref(b.pending);
    return b.status ? b.status : st;
}

/*
 * Decide what the input is from its first lines: a first line that is the
 * start of a value but not a whole one begins a pretty-printed document;
 * a first line that stands alone is one referral when nothing follows it,
 * else the first of JSON lines.
 */
static int refer_stream(struct cli *c, struct input *in)
{
    if (!next_line(in)) {
        if (ferror(in->f)) {
            say("cannot read %s: %s", in->name, strerror(errno));
            return EXIT_IOERR;
        }
        say("no referral in %s", in->name);
        return EXIT_DATAERR;
    }
    /* A copy with its length: a line may hold NUL bytes, which JSON
     * refuses and which must not cut the line short. */
    size_t first_len = (size_t)in->len;
    unsigned long first_no = in->lineno;
    char *first = malloc(first_len + 1);
    if (!first) {
        say("out of memory");
        return 70;
    }
    memcpy(first, in->line, first_len + 1);
    json_error_t jerr;
    json_t *v = json_loadb(first, first_len, JSON_IN_FLAGS, &jerr);
    bool partial = !v && json_error_code(&jerr) ==
                             json_error_premature_end_of_input;
    json_decref(v);
    int st;
    if (partial) {
        bool lines_mode = false;
        st = refer_document(c, in, &lines_mode);
        if (lines_mode)
            st = refer_lines(c, in, first, first_len, first_no);
    } else if (next_line(in)) {
        st = refer_lines(c, in, first, first_len, first_no);
    } else if (ferror(in->f)) {
        say("cannot read %s: %s", in->name, strerror(errno));
        st = EXIT_IOERR;
    } else {
        st = refer_one(c, first, first_len, first_no);
    }
    free(first);
    return st;
}

int cmd_refer(struct cli *c)
{
    struct input in = {.f = stdin, .name = "standard input"};
    const char *file = c->nargs ? c->args[0] : "-";
    if (strcmp(file, "-") != 0) {
        in.f = fopen(file, "r");
        in.name = file;
        if (!in.f) {
            say("cannot open %s: %s", file, strerror(errno));
            return EXIT_NOINPUT;
        }
    }
    int st = open_engine(c, false);
    if (!st)
        st = refer_stream(c, &in);
    free(in.line);
    if (in.f != stdin)
        fclose(in.f);
    return st;
}

static void print_case(const json_t *cs)
{
    char b[512];
    const json_t *v;
    size_t i;
    outf("id          %s\n", jtext(cs, "id", b, sizeof b));
    outf("workflow    %s\n", workflow_text(cs, b, sizeof b));
    outf("state       %s\n", jtext(cs, "state", b, sizeof b));
    outf("revision    %s\n", jtext(cs, "revision", b, sizeof b));
    outf("created     %s\n", jtext(cs, "created_at", b, sizeof b));
    outf("updated     %s\n", jtext(cs, "updated_at", b, sizeof b));
    if (json_object_get(cs, "deadline_at"))
        outf("deadline    %s\n", jtext(cs, "deadline_at", b, sizeof b));
    json_array_foreach(json_object_get(cs, "tasks"), i, v) {
        char *s = json_dumps(v, JSON_COMPACT);
        outf("task        %s\n", s ? s : "?");
        free(s);
    }
    json_array_foreach(json_object_get(cs, "timers"), i, v) {
        char *s = json_dumps(v, JSON_COMPACT);
        outf("timer       %s\n", s ? s : "?");
        free(s);
    }
    /* Indented JSON: its strings' C0 controls are escaped by jansson, the
     * rest (DEL, C1) by out_block. */
    char *data = json_dumps(json_object_get(cs, "data"), JSON_INDENT(2) | JSON_ENCODE_ANY);
    outf("data        ");
    out_block(data);
    outf("\n");
    free(data);
}

int cmd_show(struct cli *c)
{
    cf_error err;
    json_t *cs = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_case_get(c->engine, c->args[0], &cs, &err);
    if (rc < 0)
        return fail(rc, &err);
    return print_result(c, cs, false, print_case);
}

static void print_cases(const json_t *list)
{
    const json_t *cs;
    size_t i;
    struct table t;
    table_init(&t, 4);
    table_add(&t, (const char *[]){"ID", "STATE", "WORKFLOW", "UPDATED"});
    json_array_foreach(list, i, cs) {
        char b1[64], b2[64], b3[96], b4[64];
        table_add(&t, (const char *[]){jtext(cs, "id", b1, sizeof b1),
                                       jtext(cs, "state", b2, sizeof b2),
                                       workflow_text(cs, b3, sizeof b3),
                                       jtext(cs, "updated_at", b4, sizeof b4)});
    }
    table_print_free(&t);
}

int cmd_list(struct cli *c)
{
    cf_error err;
    json_t *list = NULL;
    int64_t limit = 0;
    if (c->limit && !parse_count("limit", c->limit, &limit))
        return EXIT_USAGE;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_case_list(c->engine, c->state, (size_t)limit, &list, &err);
    if (rc < 0)
        return fail(rc, &err);
    return print_result(c, list, false, print_cases);
}

static void print_history(const json_t *hist)
{
    const json_t *e;
    size_t i;
    struct table t;
    table_init(&t, 6);
    table_add(&t, (const char *[]){"SEQ", "AT", "ACTOR", "EVENT", "FROM", "TO"});
    json_array_foreach(hist, i, e) {
        char b1[32], b2[64], b3[64], b4[64], b5[160], b6[64], b7[64];
        snprintf(b5, sizeof b5, "%s (%s)", jtext(e, "actor", b3, sizeof b3),
                 jtext(e, "role", b4, sizeof b4));
        table_add(&t, (const char *[]){jtext(e, "seq", b1, sizeof b1),
                                       jtext(e, "at", b2, sizeof b2), b5,
                                       jtext(e, "event", b3, sizeof b3),
                                       jtext(e, "from", b6, sizeof b6),
                                       jtext(e, "to", b7, sizeof b7)});
    }
    table_print_free(&t);
}

int cmd_history(struct cli *c)
{
    cf_error err;
    json_t *hist = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_case_history(c->engine, c->args[0], &hist, &err);
    if (rc < 0)
        return fail(rc, &err);
    return print_result(c, hist, false, print_history);
}

static void print_acted(const json_t *out)
{
    char b1[64], b2[64], b3[64], b4[32];
    outf("%s  %s -> %s  (revision %s)\n", jtext(out, "id", b1, sizeof b1),
         jtext(out, "previous_state", b2, sizeof b2), jtext(out, "state", b3, sizeof b3),
         jtext(out, "revision", b4, sizeof b4));
}

int cmd_act(struct cli *c)
{
    cf_error err;
    json_t *data = NULL, *out = NULL;
    int64_t revision = -1;
    if (c->revision && !parse_count("revision", c->revision, &revision))
        return EXIT_USAGE;
    if (c->data) {
        int st = load_data(c->data, &data);
        if (st)
            return st;
    }
    int rc = open_engine(c, false);
    if (rc) {
        json_decref(data);
        return rc;
    }
    rc = cf_act(c->engine, c->args[0], c->args[1], data, revision, &out, &err);
    json_decref(data);
    if (rc < 0)
        return fail(rc, &err);
    if (!out && !c->json)
        return 0;
    return print_result(c, out ? out : json_object(), true, print_acted);
}

/* Each timer fired ("CF-000001  expired  closed", or "refused: " and why),
 * then how many fired. */
static void print_fired(const json_t *fired)
{
    const json_t *f;
    size_t i, n = 0;
    json_array_foreach(fired, i, f) {
        char b1[64], b2[64], b3[512];
        bool failed = json_object_get(f, "error") != NULL;
        n += !failed;
        outf("%s  %s  %s%s\n", jtext(f, "id", b1, sizeof b1), jtext(f, "event", b2, sizeof b2),
             failed ? "refused: " : "",
             failed ? jtext(f, "error", b3, sizeof b3) : jtext(f, "state", b3, sizeof b3));
    }
    outf("%zu timer%s fired\n", n, n == 1 ? "" : "s");
}

int cmd_tick(struct cli *c)
{
    cf_error err;
    json_t *fired = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_tick(c->engine, &fired, &err);
    /* A refused timer still leaves the others' results to print. */
    if (!fired) {
        if (rc < 0)
            return fail(rc, &err);
        fired = json_array();
    }
    print_result(c, fired, false, print_fired);
    return rc < 0 ? fail(rc, &err) : 0;
}
