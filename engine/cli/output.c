/*
 * Everything the caseflow command prints goes through here: the one-line
 * error messages on stderr ("caseflow: <message>", the exit status of their
 * code), human output, machine output (--json), the text of JSON members,
 * aligned tables, and the final check that stdout took it all (a closed pipe
 * or a full disk is an error too, 74, checked before exit).
 *
 * Text from users and from the store (names, ids, states, reasons, case
 * data, file names, engine messages that quote input) can hold terminal
 * escape sequences and line breaks. Human output and messages are therefore
 * written with every control character made visible: C0 controls, DEL, the
 * C1 controls U+0080-U+009F and bytes that are not UTF-8 become \n, \t,
 * \r, \xHH or \u00HH. A message is one line; a line of human output keeps
 * only its own final newline; indented JSON and DOT keep their newlines and
 * nothing else. Machine output is JSON, escaped by jansson; on a terminal it
 * is also pure ASCII, so no C1 control reaches one there either.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "progress.h"

/* ---- escaping ------------------------------------------------------------ */

/* Length of the well-formed UTF-8 sequence at s (of at most len bytes), its
 * code point in *cp; 0 when the bytes there are not UTF-8. */
static size_t utf8_seq(const unsigned char *s, size_t len, uint32_t *cp)
{
    unsigned char b = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b >= 0xc2 && b <= 0xdf) {
        n = 2;
        *cp = b & 0x1fu;
    } else if (b >= 0xe0 && b <= 0xef) {
        n = 3;
        *cp = b & 0x0fu;
        if (b == 0xe0)
            lo = 0xa0; /* no overlong forms */
        else if (b == 0xed)
            hi = 0x9f; /* no surrogates */
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4;
        *cp = b & 0x07u;
        if (b == 0xf0)
            lo = 0x90;
        else if (b == 0xf4)
            hi = 0x8f; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (len < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3fu);
    }
    return n;
}

/*
 * Write s (len bytes) into dst with its control characters made visible
 * (newlines kept when keep_newlines); dst NULL only counts. Returns the
 * length of the result, at most 4 * len.
 */
static size_t escape(char *dst, const char *s, size_t len, bool keep_newlines)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t out = 0, i = 0;
    char esc[8];
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_seq(p + i, len - i, &cp), elen;
        if (n == 0) /* not UTF-8: the byte */
            elen = (size_t)snprintf(esc, sizeof esc, "\\x%02x", p[i]);
        else if (cp == '\n' && keep_newlines)
            elen = 0;
        else if (cp == '\n')
            elen = (size_t)snprintf(esc, sizeof esc, "\\n");
        else if (cp == '\t')
            elen = (size_t)snprintf(esc, sizeof esc, "\\t");
        else if (cp == '\r')
            elen = (size_t)snprintf(esc, sizeof esc, "\\r");
        else if (cp < 0x20 || cp == 0x7f)
            elen = (size_t)snprintf(esc, sizeof esc, "\\x%02x", (unsigned)cp);
        else if (cp >= 0x80 && cp <= 0x9f)
            elen = (size_t)snprintf(esc, sizeof esc, "\\u%04x", (unsigned)cp);
        else
            elen = 0;
        if (elen == 0) { /* printable, or a newline kept: as it is */
            if (dst)
                memcpy(dst + out, s + i, n);
            out += n;
        } else {
            if (dst)
                memcpy(dst + out, esc, elen);
            out += elen;
        }
        i += n ? n : 1;
    }
    return out;
}

/* A new NUL-terminated escaped copy of s; NULL when out of memory. */
static char *escape_dup(const char *s, size_t len, bool keep_newlines)
{
    size_t n = escape(NULL, s, len, keep_newlines);
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    escape(d, s, len, keep_newlines);
    d[n] = '\0';
    return d;
}

/* Write s to f, escaped. When there is no memory for the escaped copy,
 * every byte that is not printable ASCII is written as '?'. */
static void put_escaped(FILE *f, const char *s, size_t len, bool keep_newlines)
{
    progress_hide(); /* a progress line on the terminal goes first */
    char *e = escape_dup(s, len, keep_newlines);
    if (e) {
        fputs(e, f);
        free(e);
        return;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        fputc((b >= 0x20 && b < 0x7f) || (b == '\n' && keep_newlines) ? b : '?', f);
    }
}

/*
 * printf into a new string (*heap, to be freed) or into the caller's stack
 * buffer when it fits; returns the text (truncated to the stack buffer when
 * there is no memory) and its length in *len.
 */
static const char *vformat(char *stack, size_t size, char **heap, size_t *len,
                           const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));

static const char *vformat(char *stack, size_t size, char **heap, size_t *len,
                           const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(stack, size, fmt, copy);
    va_end(copy);
    *heap = NULL;
    if (n < 0) {
        stack[0] = '\0';
        n = 0;
    }
    if ((size_t)n < size) {
        *len = (size_t)n;
        return stack;
    }
    *heap = malloc((size_t)n + 1);
    if (!*heap) {
        *len = size - 1;
        return stack;
    }
    vsnprintf(*heap, (size_t)n + 1, fmt, ap);
    *len = (size_t)n;
    return *heap;
}

/* One message on stderr: "caseflow: " and the escaped text, then tail. */
static void vsay(const char *tail, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void vsay(const char *tail, const char *fmt, va_list ap)
{
    char stack[512], *heap;
    size_t len;
    const char *text = vformat(stack, sizeof stack, &heap, &len, fmt, ap);
    progress_hide();
    fputs("caseflow: ", stderr);
    put_escaped(stderr, text, len, false);
    fputs(tail, stderr);
    free(heap);
}

/* ---- messages ---------------------------------------------------------- */

/* One line on stderr, "caseflow: ...". */
void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay("\n", fmt, ap);
    va_end(ap);
}

void say_detail(const char *text)
{
    while (text && *text) {
        const char *nl = strchr(text, '\n');
        int len = nl ? (int)(nl - text) : (int)strlen(text);
        bool tab = text[0] == '\t'; /* traceback lines start with one */
        say("%s%.*s", tab ? "  " : "", len - tab, text + tab);
        text = nl ? nl + 1 : NULL;
    }
}

int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(" (try 'caseflow --help')\n", fmt, ap);
    va_end(ap);
    return EXIT_USAGE;
}

/* Report an API failure and return its exit status. */
int fail(int rc, const cf_error *err)
{
    const char *msg = err && err->message[0] ? err->message : cf_strerror(rc);
    say("%s", msg);
    return cf_exit_code(rc);
}

/* Report an API failure for one input line of a bulk referral. */
int fail_line(unsigned long line, int rc, const cf_error *err)
{
    const char *msg = err && err->message[0] ? err->message : cf_strerror(rc);
    say("line %lu: %s", line, msg);
    return cf_exit_code(rc);
}

/* ---- human output -------------------------------------------------------- */

/* A line (or part of one) of human output on stdout: everything escaped
 * but a final newline. */
void outf(const char *fmt, ...)
{
    char stack[512], *heap;
    size_t len;
    va_list ap;
    va_start(ap, fmt);
    const char *text = vformat(stack, sizeof stack, &heap, &len, fmt, ap);
    va_end(ap);
    bool nl = len > 0 && text[len - 1] == '\n';
    put_escaped(stdout, text, len - nl, false);
    if (nl)
        fputc('\n', stdout);
    free(heap);
}

/* Text of many lines (indented JSON, DOT) on stdout: escaped but for its
 * newlines. NULL prints nothing. */
void out_block(const char *text)
{
    if (text)
        put_escaped(stdout, text, strlen(text), true);
}

/* ---- machine output ------------------------------------------------------ */

/* json_dump_callback sink for a terminal: DEL, the one control character
 * jansson leaves raw even in ASCII output, as its JSON escape. */
static int dump_tty(const char *buf, size_t size, void *data)
{
    FILE *f = data;
    size_t i = 0;
    while (i < size) {
        const char *del = memchr(buf + i, 0x7f, size - i);
        size_t run = del ? (size_t)(del - (buf + i)) : size - i;
        if (run && fwrite(buf + i, 1, run, f) != run)
            return -1;
        i += run;
        if (del) {
            if (fputs("\\u007f", f) < 0)
                return -1;
            i++;
        }
    }
    return 0;
}

/* Machine output: one JSON value on its own line(s). On a terminal, all
 * of it ASCII, so that no control character reaches the terminal raw. */
void print_json(const json_t *v, bool compact)
{
    progress_hide();
    size_t flags = JSON_ENCODE_ANY | (compact ? JSON_COMPACT : JSON_INDENT(2));
    if (isatty(fileno(stdout)))
        json_dump_callback(v, dump_tty, stdout, flags | JSON_ENSURE_ASCII);
    else
        json_dumpf(v, stdout, flags);
    fputc('\n', stdout);
}

/* json_dump_callback sink for one element of an array printed by
 * json_seq_item: each line indented one level more (jansson escapes the
 * newlines inside strings, so every raw newline is its layout's). */
struct seq_sink {
    FILE *f;
    bool tty;
};

static int dump_nested(const char *buf, size_t size, void *data)
{
    const struct seq_sink *k = data;
    size_t i = 0;
    while (i < size) {
        const char *nl = memchr(buf + i, '\n', size - i);
        size_t run = nl ? (size_t)(nl - (buf + i)) + 1 : size - i;
        if (k->tty ? dump_tty(buf + i, run, k->f) != 0 : fwrite(buf + i, 1, run, k->f) != run)
            return -1;
        if (nl && fputs("  ", k->f) < 0)
            return -1;
        i += run;
    }
    return 0;
}

void json_seq_item(struct json_seq *s, const json_t *v)
{
    progress_hide();
    bool tty = isatty(fileno(stdout));
    struct seq_sink k = {stdout, tty};
    fputs(s->n++ ? ",\n  " : "[\n  ", stdout);
    json_dump_callback(v, dump_nested, &k,
                       JSON_ENCODE_ANY | JSON_INDENT(2) | (tty ? JSON_ENSURE_ASCII : 0));
}

void json_seq_end(struct json_seq *s)
{
    progress_hide();
    fputs(s->n ? "\n]\n" : "[]\n", stdout);
}

/* An API result: --json as it is, else human text by print_human. Takes the
 * reference to out. Returns 0 (the exit status of a success). */
int print_result(const struct cli *c, json_t *out, bool compact,
                 void (*print_human)(const json_t *))
{
    if (c->json)
        print_json(out, compact);
    else
        print_human(out);
    json_decref(out);
    return 0;
}

/* ---- the text of JSON members ------------------------------------------- */

/* Text of member key of obj for human output: strings as they are, numbers
 * and booleans spelled out, null or absent as "-". buf holds what is not a
 * string already. The text is raw: print it with outf, say or a table. */
const char *jtext(const json_t *obj, const char *key, char *buf,
                  size_t size)
{
    const json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (!v || json_is_null(v))
        return "-";
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, size, "%g", json_real_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "yes" : "no";
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(buf, size, "%s", s ? s : "?");
    free(s);
    return buf;
}

/* "name vN" for a workflow member that is an object {name, version}, the
 * string itself when it is a string. */
const char *workflow_text(const json_t *obj, char *buf, size_t size)
{
    const json_t *wf = json_object_get(obj, "workflow");
    if (json_is_object(wf)) {
        char n[32];
        snprintf(buf, size, "%s v%s",
                 json_string_value(json_object_get(wf, "name"))
                     ? json_string_value(json_object_get(wf, "name"))
                     : "?",
                 jtext(wf, "version", n, sizeof n));
        return buf;
    }
    return jtext(obj, "workflow", buf, size);
}

/* Strings of array member key joined with ", ". */
const char *join_strings(const json_t *obj, const char *key, char *buf,
                         size_t size)
{
    const json_t *arr = json_object_get(obj, key);
    size_t i, used = 0;
    const json_t *v;
    buf[0] = '\0';
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return "-";
    json_array_foreach(arr, i, v) {
        const char *s = json_is_string(v) ? json_string_value(v) : "?";
        int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", s);
        if (n < 0 || (size_t)n >= size - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* ---- tables -------------------------------------------------------------- */

void table_init(struct table *t, size_t ncols)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
}

void table_add(struct table *t, const char *const *row)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 64;
        char **cells = realloc(t->cells, cap * t->ncols * sizeof *cells);
        if (!cells)
            return; /* out of memory: the row is left out */
        t->cells = cells;
        t->cap = cap;
    }
    for (size_t c = 0; c < t->ncols; c++) {
        const char *text = row[c] ? row[c] : "-";
        char *s = escape_dup(text, strlen(text), false);
        size_t len = s ? strlen(s) : 0;
        t->cells[t->nrows * t->ncols + c] = s;
        if (len > t->width[c])
            t->width[c] = len;
    }
    t->nrows++;
}

void table_flush(struct table *t)
{
    progress_hide();
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c + 1 < t->ncols)
                printf("%-*s  ", (int)t->width[c], s ? s : "");
            else
                printf("%s\n", s ? s : "");
            free(t->cells[r * t->ncols + c]);
        }
    }
    t->nrows = 0;
}

void table_print_free(struct table *t)
{
    table_flush(t);
    free(t->cells);
    t->cells = NULL;
    t->cap = 0;
}

/* Print a flat object as "key  value" lines (human output of small results). */
void print_pairs(const json_t *o)
{
    const char *k;
    json_t *v;
    char b[1024];
    json_object_foreach((json_t *)o, k, v) outf("%-16s %s\n", k, jtext(o, k, b, sizeof b));
}

/* Stdout must still take what we print; 74 when it does not. */
int check_stdout(void)
{
    if (fflush(stdout) != 0 || ferror(stdout)) {
        say("cannot write output: %s", strerror(errno ? errno : EIO));
        return EXIT_IOERR;
    }
    return 0;
}
