/*
 * What a transition function's source says, for `workflow check`: the
 * literal states it returns and the event data fields it reads. The
 * function is found through the debug info (its chunk and line range), its
 * source among the workflow's modules, and the text is read with a small
 * Lua lexer that knows comments, short and long strings and block nesting,
 * so that the returns of functions nested inside it are not taken for its
 * own. Whatever the scan cannot decide (`return policy.pick(case)`) is
 * reported as not literal; the engine still checks every result at run
 * time against the declared targets.
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wf.h"

#define GUARD_DEPTH_MAX 200

enum { TK_EOF, TK_NAME, TK_STRING, TK_NUMBER, TK_OTHER };

typedef struct token {
    int kind;
    const char *s; /* TK_STRING: the contents */
    size_t len;
    int line;
    bool escaped; /* TK_STRING with a backslash: its value is not s */
} token;

typedef struct lexer {
    const char *p, *end;
    int line;
} lexer;

/* Length of a long bracket opening at p ("[[", "[==["), or 0; *level set. */
static size_t long_open(const lexer *x, const char *p, int *level)
{
    const char *q = p + 1;
    if (p >= x->end || *p != '[')
        return 0;
    while (q < x->end && *q == '=')
        q++;
    if (q >= x->end || *q != '[')
        return 0;
    *level = (int)(q - p - 1);
    return (size_t)(q - p + 1);
}

/* Skip to the close of a long bracket of level; the contents' bounds. */
static void long_body(lexer *x, int level, const char **start, size_t *len)
{
    *start = x->p;
    while (x->p < x->end) {
        if (*x->p == ']') {
            const char *q = x->p + 1;
            int n = 0;
            while (q < x->end && *q == '=') {
                q++;
                n++;
            }
            if (n == level && q < x->end && *q == ']') {
                *len = (size_t)(x->p - *start);
                x->p = q + 1;
                return;
            }
        }
        if (*x->p == '\n')
            x->line++;
        x->p++;
    }
    *len = (size_t)(x->p - *start);
}

static token next(lexer *x)
{
    token t = {.kind = TK_EOF};
    for (;;) {
        while (x->p < x->end && isspace((unsigned char)*x->p)) {
            if (*x->p == '\n')
                x->line++;
            x->p++;
        }
        if (x->end - x->p >= 2 && x->p[0] == '-' && x->p[1] == '-') {
            int level;
            size_t open;
            x->p += 2;
            if ((open = long_open(x, x->p, &level)) > 0) {
                const char *s;
                size_t n;
                x->p += open;
                long_body(x, level, &s, &n);
            } else {
                while (x->p < x->end && *x->p != '\n')
                    x->p++;
            }
            continue;
        }
        break;
    }
    t.line = x->line;
    if (x->p >= x->end)
        return t;
    const char *p = x->p;
    unsigned char ch = (unsigned char)*p;
    int level;
    size_t open;
    if (isalpha(ch) || ch == '_') {
        while (x->p < x->end && (isalnum((unsigned char)*x->p) || *x->p == '_'))
            x->p++;
        t.kind = TK_NAME;
    } else if (isdigit(ch) || (ch == '.' && p + 1 < x->end && isdigit((unsigned char)p[1]))) {
        while (x->p < x->end &&
               (isalnum((unsigned char)*x->p) || *x->p == '.' || *x->p == '_' ||
                ((*x->p == '+' || *x->p == '-') && strchr("eEpP", x->p[-1]))))
            x->p++;
        t.kind = TK_NUMBER;
    } else if (ch == '"' || ch == '\'') {
        x->p++;
        t.kind = TK_STRING;
        t.s = x->p;
        while (x->p < x->end && *x->p != (char)ch && *x->p != '\n') {
            if (*x->p == '\\') {
                t.escaped = true;
                if (x->p + 1 < x->end && x->p[1] == '\n')
                    x->line++;
                x->p++;
            }
            if (x->p < x->end)
                x->p++;
        }
        t.len = (size_t)(x->p - t.s);
        if (x->p < x->end)
            x->p++;
        return t;
    } else if ((open = long_open(x, p, &level)) > 0) {
        x->p += open;
        if (x->p < x->end && *x->p == '\n') { /* a first newline is skipped */
            x->line++;
            x->p++;
        }
        t.kind = TK_STRING;
        long_body(x, level, &t.s, &t.len);
        return t;
    } else {
        x->p++;
        if (ch == '.')
            while (x->p < x->end && *x->p == '.' && x->p - p < 3)
                x->p++;
        t.kind = TK_OTHER;
    }
    t.s = p;
    t.len = (size_t)(x->p - p);
    return t;
}

static bool is(const token *t, const char *word)
{
    return (t->kind == TK_NAME || t->kind == TK_OTHER) && t->len == strlen(word) &&
           memcmp(t->s, word, t->len) == 0;
}

/* What may follow a return's expression: the end of its block. */
static bool block_end(const token *t)
{
    return t->kind == TK_EOF || is(t, "end") || is(t, "else") || is(t, "elseif") ||
           is(t, "until") || is(t, ";");
}

/* The source text of chunk (a chunk name without its '='), or NULL. */
static const char *chunk_source(wf_ctx *c, const char *chunk, size_t *len)
{
    if (c->file && c->src && strcmp(chunk, c->file) == 0) {
        *len = c->srclen;
        return c->src;
    }
    char name[WF_NAME_MAX + 8];
    size_t n = strlen(chunk);
    if (n < 5 || n >= sizeof name || strcmp(chunk + n - 4, ".lua") != 0)
        return NULL;
    memcpy(name, chunk, n - 4);
    name[n - 4] = '\0';
    for (char *p = name; *p; p++)
        if (*p == '/')
            *p = '.';
    json_t *s = json_object_get(c->modules, name);
    if (!json_is_string(s))
        return NULL;
    *len = json_string_length(s);
    return json_string_value(s);
}

/* The start of line `line` (1-based) in src. */
static const char *line_start(const char *src, const char *end, int line)
{
    const char *p = src;
    for (int l = 1; l < line && p < end; l++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            return end;
        p = nl + 1;
    }
    return p;
}

typedef struct scan {
    const char *evname; /* the second parameter, or NULL */
    int last;           /* lastlinedefined */
    json_t *returns, *reads;
    bool body_return;   /* a return at the body's own level */
} scan;

/* Record event.data.NAME / event.data["NAME"] starting after `event`. */
static void read_at(lexer *x, scan *sc, int line)
{
    lexer y = *x;
    token a = next(&y), b = next(&y), c = next(&y);
    if (!is(&a, ".") || b.kind != TK_NAME || !is(&b, "data"))
        return;
    const char *f = NULL;
    size_t n = 0;
    if (is(&c, ".")) {
        token d = next(&y);
        if (d.kind == TK_NAME) {
            f = d.s;
            n = d.len;
        }
    } else if (is(&c, "[")) {
        token d = next(&y), e = next(&y);
        if (d.kind == TK_STRING && !d.escaped && is(&e, "]")) {
            f = d.s;
            n = d.len;
        }
    }
    if (f == NULL || n == 0 || n > 64)
        return;
    json_array_append_new(sc->reads, json_pack("{s:i, s:s%}", "line", line, "field", f, n));
}

/* A return of the function's own body: literal or not. */
static void return_at(lexer *x, scan *sc, int line, bool body_level)
{
    lexer y = *x;
    token a = next(&y);
    json_t *value = NULL;
    bool literal = false;
    if (block_end(&a)) {
        literal = true; /* return: nil */
    } else if (a.kind == TK_STRING || is(&a, "nil")) {
        token b = next(&y);
        if (block_end(&b) && !(a.kind == TK_STRING && (a.escaped || a.len > WF_NAME_MAX))) {
            literal = true;
            if (a.kind == TK_STRING)
                value = json_stringn(a.s, a.len);
        }
    }
    if (body_level)
        sc->body_return = true;
    json_array_append_new(sc->returns, json_pack("{s:i, s:o, s:b}", "line", line, "value",
                                                 value ? value : json_null(), "literal",
                                                 literal));
}

/*
 * Walk the function whose `function` keyword the lexer just read: its
 * parameters, then its body to the matching `end`. False when the body does
 * not end on the line the debug info says (another function on that line).
 */
static bool walk(lexer *x, scan *sc)
{
    char stack[GUARD_DEPTH_MAX];
    int depth = 0, funcs = 1;
    token prev = {.kind = TK_OTHER, .s = "(", .len = 1};
    stack[depth++] = 'f';
    /* The name (a.b:c) and the parameter list hold no keywords. */
    token t;
    do
        t = next(x);
    while (t.kind != TK_EOF && !is(&t, ")"));
    for (;;) {
        t = next(x);
        if (t.kind == TK_EOF || depth >= GUARD_DEPTH_MAX)
            return false;
        if (t.kind == TK_NAME) {
            bool opener = is(&t, "function") || is(&t, "if") || is(&t, "do") ||
                          is(&t, "repeat");
            if (opener) {
                stack[depth++] = is(&t, "function") ? 'f' : 'b';
                funcs += is(&t, "function");
            } else if (is(&t, "end") || is(&t, "until")) {
                depth--;
                funcs -= stack[depth] == 'f';
                if (depth == 0)
                    return t.line == sc->last;
            } else if (is(&t, "return") && funcs == 1) {
                return_at(x, sc, t.line, depth == 1);
            } else if (sc->evname && is(&t, sc->evname) && !is(&prev, ".") &&
                       !is(&prev, ":")) {
                read_at(x, sc, t.line);
            }
        }
        prev = t;
    }
}

json_t *wf_guard_scan(lua_State *L, const cf_wf_transition *t)
{
    wf_ctx *c = wf_ctx_of(L);
    lua_Debug ar;
    if (t->fnref == LUA_NOREF || !lua_checkstack(L, 2))
        return NULL;
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->fnref);
    if (lua_type(L, -1) != LUA_TFUNCTION || lua_iscfunction(L, -1)) {
        lua_pop(L, 1);
        return NULL;
    }
    const char *ev = lua_getlocal(L, NULL, 2);
    char evname[WF_NAME_MAX + 1] = "";
    if (ev != NULL)
        snprintf(evname, sizeof evname, "%s", ev);
    if (!lua_getinfo(L, ">S", &ar) || ar.source == NULL || ar.source[0] != '=' ||
        ar.linedefined <= 0)
        return NULL;
    size_t len;
    const char *src = chunk_source(c, ar.source + 1, &len);
    if (src == NULL)
        return NULL;
    scan sc = {.evname = evname[0] ? evname : NULL, .last = ar.lastlinedefined};
    json_t *out = NULL;
    const char *end = src + len;
    lexer x = {.p = line_start(src, end, ar.linedefined), .end = end,
               .line = ar.linedefined};
    /* Try each `function` on the first line until one ends where it should. */
    for (;;) {
        token tk = next(&x);
        if (tk.kind == TK_EOF || tk.line > ar.linedefined)
            break;
        if (!is(&tk, "function"))
            continue;
        lexer y = x;
        sc.returns = json_array();
        sc.reads = json_array();
        sc.body_return = false;
        if (walk(&y, &sc)) {
            out = json_pack("{s:s, s:i, s:o, s:o, s:b}", "file", ar.source + 1, "line",
                            ar.linedefined, "returns", sc.returns, "reads", sc.reads,
                            "falls_off", !sc.body_return);
            break;
        }
        json_decref(sc.returns);
        json_decref(sc.reads);
    }
    return out;
}
