/*
 * refer: intake of one referral (a JSON object, perhaps over many lines) or
 * of many (JSON lines), through the referral.create operation. Here, bulk
 * intake commits in batches (REFER_BATCH referrals first, then batches
 * growing to REFER_BATCH_MAX) and prints each line's result once its batch
 * is durable; through caseflowd (--server), the same lines go as NDJSON
 * requests of REFER_BATCH lines, each answered once the service has made
 * them durable. Either way a bad line is reported with its
 * line number in the input and the others go on; a failure that would
 * refuse every line alike (the store, the actor, the workflow) stops.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "cli.h"
#include "progress.h"

/* Referrals in the first store transaction of bulk intake, or sent per
 * request through caseflowd; and the most text one request carries (well
 * under the service's default body limit of 4 MiB). */
#define REFER_BATCH 1000
#define REFER_BYTES (1024 * 1024)

/* Every later batch of bulk intake holds up to REFER_BATCH_MAX: the first
 * results are durable (and printed) as soon as before, while a long run
 * commits ten times less often. Fewer commits write each index page touched
 * by many referrals (random file hashes and accounts) once per batch instead
 * of once per 1000, and fsync less often; the WAL grows to about 30 MiB
 * during a batch (7 before). The results waiting for their commit are kept
 * compact (struct pending), so memory stays bounded by the batch, not the
 * input. */
#define REFER_BATCH_MAX 10000

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

/* Results of a batch not yet durable: for each, its id and its state (or
 * none: "state": null, when the caller may not be told it), one after the
 * other in text, and whether it was created. */
struct pending {
    char *text; /* "id\0state\0" per result; the state empty when none */
    size_t len, cap;
    unsigned char *flags; /* per result: 1 created, 2 has a state */
    size_t n, nmax;
};

/* Bulk intake state: results wait here until their batch commits; through
 * caseflowd, the lines wait here until their request is sent. */
struct bulk {
    struct cli *c;
    json_t *args;           /* the operation's arguments, the same for every line */
    struct pending pending; /* results not yet durable */
    size_t batch;           /* the size of the open batch (local intake) */
    bool open;              /* a batch is open */
    int status;      /* exit status of the first failure, 0 if none */
    char *text;      /* remote: the NDJSON body of the next request */
    size_t len, cap;
    unsigned long lines[REFER_BATCH]; /* remote: input line of each body line */
    size_t nlines;
};

/* The referral.create operation on one referral (borrowed), with args
 * (borrowed; NULL: made here): *out (new) {id, state, created}. */
static int refer_op(struct cli *c, json_t *args, const json_t *ref, json_t **out,
                    cf_error *err)
{
    json_t *own = args ? NULL : op_args("workflow", c->workflow, NULL);
    struct op_req r = OP_REQ("referral.create");
    r.args = args ? args : own;
    r.body = ref;
    int rc = op_call(c, &r, out, NULL, err);
    json_decref(own);
    return rc;
}

/* Keep result r ({id, state, created}, borrowed) until its batch commits.
 * 0, or -1 when out of memory. */
static int pending_add(struct pending *p, const json_t *r)
{
    const char *id = json_string_value(json_object_get(r, "id"));
    const char *state = json_string_value(json_object_get(r, "state"));
    size_t il = id ? strlen(id) : 0, sl = state ? strlen(state) : 0;
    if (p->n == p->nmax) {
        size_t nmax = p->nmax ? p->nmax * 2 : 1024;
        unsigned char *more = realloc(p->flags, nmax);
        if (!more)
            return -1;
        p->flags = more;
        p->nmax = nmax;
    }
    if (p->len + il + sl + 2 > p->cap) {
        size_t cap = p->cap ? p->cap : 65536;
        while (cap < p->len + il + sl + 2)
            cap *= 2;
        char *more = realloc(p->text, cap);
        if (!more)
            return -1;
        p->text = more;
        p->cap = cap;
    }
    memcpy(p->text + p->len, id ? id : "", il + 1);
    p->len += il + 1;
    memcpy(p->text + p->len, state ? state : "", sl + 1);
    p->len += sl + 1;
    p->flags[p->n++] = (unsigned char)((json_is_true(json_object_get(r, "created")) ? 1 : 0) |
                                       (state ? 2 : 0));
    return 0;
}

/* Print the results kept, as print_referral prints them, and forget them. */
static void pending_print(const struct cli *c, struct pending *p)
{
    const char *t = p->text;
    for (size_t i = 0; i < p->n; i++) {
        const char *id = t, *state = id + strlen(id) + 1;
        t = state + strlen(state) + 1;
        bool created = p->flags[i] & 1, has_state = p->flags[i] & 2;
        json_t *r = json_pack("{s:s, s:s?, s:b}", "id", id, "state", has_state ? state : NULL,
                              "created", created);
        if (r)
            print_referral(c, r);
        json_decref(r);
    }
    p->n = p->len = 0;
}

static void pending_clear(struct pending *p)
{
    p->n = p->len = 0;
}

static void bulk_failed(struct bulk *b, int status)
{
    if (!b->status)
        b->status = status;
}

/* Commit the open batch, then (and only then) print its results. The next
 * batches hold up to REFER_BATCH_MAX. Returns 0, or an exit status when the
 * run cannot go on. */
static int bulk_commit(struct bulk *b)
{
    cf_error err;
    if (!b->open)
        return 0;
    b->open = false;
    int rc = cf_batch_commit(b->c->engine, &err);
    if (rc < 0) {
        cf_batch_rollback(b->c->engine);
        pending_clear(&b->pending);
        return fail(rc, &err);
    }
    pending_print(b->c, &b->pending);
    b->batch = REFER_BATCH_MAX;
    return check_stdout();
}

/* One line of a batch's answer through caseflowd: its result printed, or
 * its refusal reported with its line number in the input. Returns 0, or
 * the exit status of a failure that was not the line's fault: the service
 * stopped the batch at that line and took in none of the lines after it. */
static int bulk_result(struct bulk *b, const json_t *res)
{
    json_int_t line = json_integer_value(json_object_get(res, "line"));
    unsigned long lineno = line >= 1 && (size_t)line <= b->nlines ? b->lines[line - 1] : 0;
    const json_t *e = json_object_get(res, "error");
    if (e) {
        cf_error err;
        memset(&err, 0, sizeof err);
        err.code = remote_code(json_string_value(json_object_get(e, "code")),
                               (long)json_integer_value(json_object_get(e, "status")));
        snprintf(err.message, sizeof err.message, "%s",
                 json_is_string(json_object_get(e, "message"))
                     ? json_string_value(json_object_get(e, "message"))
                     : cf_strerror(err.code));
        int status = fail_line(lineno, err.code, &err);
        bulk_failed(b, status);
        return err.code == CF_EINVALID || err.code == CF_ECONFLICT ? 0 : status;
    }
    json_t *r = json_pack("{s:O?, s:O?, s:O?}", "id", json_object_get(res, "id"), "state",
                          json_object_get(res, "state"), "created",
                          json_object_get(res, "created"));
    print_referral(b->c, r);
    json_decref(r);
    return 0;
}

/* Send the lines waiting (through caseflowd) as one NDJSON request, then
 * print what became of each. Returns 0, or an exit status when the run
 * cannot go on. */
static int bulk_send(struct bulk *b)
{
    cf_error err;
    json_t *out = NULL, *res;
    size_t i;
    if (!b->nlines)
        return 0;
    json_t *args = op_args("workflow", b->c->workflow, NULL);
    struct op_req r = OP_REQ("referral.create");
    r.args = args;
    r.body_text = b->text;
    r.body_len = b->len;
    int rc = op_call(b->c, &r, &out, NULL, &err);
    json_decref(args);
    unsigned long first = b->lines[0];
    if (rc < 0) {
        b->nlines = b->len = 0;
        int status = fail_line(first, rc, &err);
        bulk_failed(b, status);
        return status;
    }
    int stop = 0;
    json_array_foreach(json_object_get(out, "results"), i, res)
        if ((stop = bulk_result(b, res)) != 0)
            break; /* as in bulk intake here: the run stops at that line */
    json_decref(out);
    b->nlines = b->len = 0;
    int st = check_stdout();
    return stop ? stop : st;
}

/* Make what is pending durable and print it, here or through caseflowd. */
static int bulk_flush(struct bulk *b)
{
    return is_remote(b->c) ? bulk_send(b) : bulk_commit(b);
}

/* Through caseflowd: the line (a JSON object already checked) joins the
 * next request. */
static int bulk_queue(struct bulk *b, const char *text, size_t len, unsigned long lineno)
{
    if (b->nlines > 0 && b->len + len + 1 > REFER_BYTES) {
        int st = bulk_send(b);
        if (st)
            return st;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *more = realloc(b->text, cap);
        if (!more) {
            say("out of memory");
            return 70;
        }
        b->text = more;
        b->cap = cap;
    }
    memcpy(b->text + b->len, text, len);
    b->len += len;
    b->text[b->len++] = '\n';
    b->lines[b->nlines++] = lineno;
    return b->nlines >= REFER_BATCH ? bulk_send(b) : 0;
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
    if (is_remote(b->c)) {
        json_decref(ref);
        return bulk_queue(b, text, len, lineno);
    }
    if (!b->open) {
        int rc = cf_batch_begin(b->c->engine, &err);
        if (rc < 0) {
            json_decref(ref);
            return fail(rc, &err);
        }
        b->open = true;
    }
    int rc = refer_op(b->c, b->args, ref, &out, &err);
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
    if (pending_add(&b->pending, out) != 0) {
        /* No room to keep its result: the batch is made durable now, and
         * this result printed after the others. */
        int st = bulk_commit(b);
        if (!st)
            print_referral(b->c, out);
        json_decref(out);
        return st ? st : check_stdout();
    }
    json_decref(out);
    if (b->pending.n >= b->batch)
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
    int rc = refer_op(c, NULL, ref, &out, &err);
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

/* The lines of a file of size bytes (0: not a file), estimated from the
 * done lines before the current position; -1 when not known. */
static int64_t estimate(FILE *f, off_t size, int64_t done)
{
    off_t pos = size > 0 ? ftello(f) : -1;
    if (pos <= 0)
        return -1;
    int64_t total = (int64_t)((double)done * (double)size / (double)pos + 0.5);
    return total < done ? done : total;
}

/* JSON lines: first (line first_no) was read before the line in in->line;
 * both are taken, then the rest of the input. */
static int refer_lines(struct cli *c, struct input *in, const char *first,
                       size_t first_len, unsigned long first_no)
{
    struct bulk b = {.c = c, .args = op_args("workflow", c->workflow, NULL),
                     .batch = REFER_BATCH};
    struct stat sb;
    off_t size = fstat(fileno(in->f), &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_size : 0;
    int64_t done = 2; /* first and the line after it */
    progress_begin("refer");
    int st = bulk_line(&b, first, first_len, first_no);
    if (!st)
        st = bulk_line(&b, in->line, (size_t)in->len, in->lineno);
    while (!st && next_line(in)) {
        /* the estimate asks the file position of the kernel: not per line */
        if (++done % 64 == 0)
            progress_update(done, estimate(in->f, size, done));
        st = bulk_line(&b, in->line, (size_t)in->len, in->lineno);
    }
    progress_end();
    if (!st && ferror(in->f)) {
        say("cannot read %s: %s", in->name, strerror(errno));
        st = EXIT_IOERR;
        bulk_failed(&b, st);
    }
    if (!st)
        st = bulk_flush(&b);
    else if (b.open) /* stopping on an error: keep what was accepted */
        bulk_commit(&b);
    else if (b.nlines) /* the same through caseflowd */
        bulk_send(&b);
    json_decref(b.args);
    free(b.pending.text);
    free(b.pending.flags);
    free(b.text);
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
    int st = ops_open(c);
    if (!st)
        st = refer_stream(c, &in);
    free(in.line);
    if (in.f != stdin)
        fclose(in.f);
    return st;
}

