/*
 * string.find, string.match, string.gmatch and string.gsub as workflows see
 * them, written for the sandbox from the Lua 5.4 manual (section 6.4.1 and
 * the descriptions of the four functions). A match runs in C, where Lua's
 * instruction hook never fires, and a pattern that backtracks (".-.-.-x",
 * twenty "a*" before a "b") over a few kilobytes can take minutes: so this
 * matcher counts its work as it does it (every try of a pattern item at a
 * subject position, every byte a scan or a back-reference compares, every
 * byte copied into a result) and charges it to the call's budget in
 * batches, each of which also reads the clock, and it bounds its recursion
 * so that a pattern of thousands of items fails cleanly rather than running
 * off the C stack. A pattern is first translated into a small program
 * (literal bytes gathered into runs, sets and classes into bitmaps); a
 * malformed part becomes an item that raises when a match reaches it, the
 * moment Lua itself reports such a pattern.
 */
#include "config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <ctype.h>

#include "wf.h"

/* The most captures a pattern may have. */
#define MAX_CAPTURES 32
/* Backtracking points one match may hold open at once, each a C stack
 * frame; Lua's matcher gives up at the same depth, so patterns that work
 * there work here. */
#define MAX_NESTING 200
/* Work is counted in sixteenths of a budget unit, so that a byte scanned
 * (1/WF_SCAN_BYTES of a unit) and a byte copied (1/WF_ALLOC_BYTES) are
 * whole numbers. */
#define SIXTEENTHS 16
#define COST_STEP (WF_STEP_UNITS * SIXTEENTHS)
#define COST_SCAN (SIXTEENTHS / WF_SCAN_BYTES)
#define COST_COPY (SIXTEENTHS / WF_ALLOC_BYTES)
#define COST_VALUE (WF_ELEMENT_UNITS * SIXTEENTHS)
/* Units charged at once: reading the clock at every step would cost more
 * than the steps; a batch is a few microseconds of matching. */
#define BATCH_UNITS 2048
/* Programs of patterns this small live on the C stack: no garbage for the
 * common short pattern called in a loop. */
#define LOCAL_ITEMS 48
#define LOCAL_SETS 8
#define LOCAL_POOL 256

_Static_assert(SIXTEENTHS % WF_SCAN_BYTES == 0 &&
                   SIXTEENTHS % WF_ALLOC_BYTES == 0,
               "costs per byte must be whole sixteenths of a unit");

/* ---- the meter ------------------------------------------------------- */

typedef struct meter {
    lua_State *L;
    size_t owed; /* sixteenths of a unit done but not charged yet */
} meter;

static void settle(meter *mt)
{
    size_t units = mt->owed / SIXTEENTHS;
    mt->owed %= SIXTEENTHS;
    if (units > 0)
        wf_charge(mt->L, units);
}

static inline void owe(meter *mt, size_t sixteenths)
{
    mt->owed += sixteenths;
    if (mt->owed >= (size_t)BATCH_UNITS * SIXTEENTHS)
        settle(mt);
}

/* ---- programs ---------------------------------------------------------- */

enum item_op {
    IT_CHAR,     /* one byte of a class, perhaps repeated */
    IT_TEXT,     /* literal bytes of the pool */
    IT_OPEN,     /* a capture starts */
    IT_CLOSE,    /* the innermost open capture ends */
    IT_POSITION, /* "()" */
    IT_BALANCE,  /* %bxy */
    IT_FRONTIER, /* %f[set] */
    IT_BACKREF,  /* %1 to %9 */
    IT_END,      /* '$' at the end of the pattern */
    IT_ERROR,    /* the pattern is malformed from here */
    IT_ACCEPT,
};

enum char_kind { CK_BYTE, CK_ANY, CK_SET };

enum repeat { RP_ONE, RP_OPTIONAL, RP_GREEDY0, RP_GREEDY1, RP_LAZY };

enum capture_kind { CAP_UNCLOSED, CAP_STRING, CAP_POSITION };

enum pattern_error {
    PE_PERCENT_AT_END,
    PE_SET_UNCLOSED,
    PE_BALANCE_ARGS,
    PE_FRONTIER_SET,
    PE_TOO_MANY,
    PE_STRAY_CLOSE,
    PE_BAD_BACKREF,
};

typedef struct pitem {
    uint8_t op, kind, rep;
    uint8_t a, b;     /* the byte; %b's delimiters; a capture; an error
                       * and the digit it names */
    uint32_t at, len; /* a set; a text's place in the pool, its length */
} pitem;

typedef uint8_t byteset[32];

typedef struct pprog {
    pitem *items;
    byteset *sets;
    unsigned char *pool;
    uint32_t nitems, nsets, npool;
    int ncap;
    int lead;       /* the byte every match starts with, or -1 */
    bool anchored;  /* a leading '^' */
    uint8_t capkind[MAX_CAPTURES];
} pprog;

typedef struct prog_space {
    pprog head;
    pitem items[LOCAL_ITEMS];
    byteset sets[LOCAL_SETS];
    unsigned char pool[LOCAL_POOL];
} prog_space;

static inline bool set_has(const uint8_t *set, unsigned char ch)
{
    return (set[ch >> 3] >> (ch & 7)) & 1;
}

static inline void set_add(uint8_t *set, unsigned char ch)
{
    set[ch >> 3] |= (uint8_t)(1u << (ch & 7));
}

/* The letter (lower case) of a class such as %a or %S, or 0. ASCII only:
 * whatever the locale, %é is the byte itself. */
static int class_letter(unsigned char ch)
{
    int l = (ch >= 'A' && ch <= 'Z') ? ch + ('a' - 'A') : ch;
    return (l != 0 && strchr("acdglpsuwxz", l) != NULL) ? l : 0;
}

static bool in_class(int letter, int ch)
{
    switch (letter) {
    case 'a': return isalpha(ch) != 0;
    case 'c': return iscntrl(ch) != 0;
    case 'd': return isdigit(ch) != 0;
    case 'g': return isgraph(ch) != 0;
    case 'l': return islower(ch) != 0;
    case 'p': return ispunct(ch) != 0;
    case 's': return isspace(ch) != 0;
    case 'u': return isupper(ch) != 0;
    case 'w': return isalnum(ch) != 0;
    case 'x': return isxdigit(ch) != 0;
    case 'z': return ch == 0; /* still honoured by Lua 5.4 */
    }
    return false;
}

/* ---- translating a pattern ------------------------------------------------ */

/* Both passes run the same code: the first (prog NULL) only counts what
 * the second writes, so the program is allocated once at its exact size. */
typedef struct compiler {
    const unsigned char *p;
    size_t plen;
    pprog *prog;
    meter *mt;
    uint32_t nitems, nsets, npool;
    int ncap;
    int open[MAX_CAPTURES], nopen;
    uint8_t capkind[MAX_CAPTURES];
    int32_t class_set[2][26]; /* a class's set when already made, or -1 */
    bool in_text;             /* the last item is a text that may grow */
    pitem scratch;            /* what the counting pass writes to */
} compiler;

static void compiler_init(compiler *c, const char *p, size_t plen, pprog *prog,
                          meter *mt)
{
    memset(c, 0, sizeof *c);
    c->p = (const unsigned char *)p;
    c->plen = plen;
    c->prog = prog;
    c->mt = mt;
    memset(c->class_set, 0xff, sizeof c->class_set);
}

static pitem *emit(compiler *c, enum item_op op)
{
    uint32_t k = c->nitems++;
    pitem *it = c->prog != NULL ? &c->prog->items[k] : &c->scratch;
    memset(it, 0, sizeof *it);
    it->op = (uint8_t)op;
    c->in_text = false;
    return it;
}

static void emit_error(compiler *c, enum pattern_error e, unsigned char digit)
{
    pitem *it = emit(c, IT_ERROR);
    it->a = (uint8_t)e;
    it->b = digit;
}

static void append_text(compiler *c, unsigned char ch)
{
    if (!c->in_text) {
        pitem *it = emit(c, IT_TEXT);
        it->at = c->npool;
        c->in_text = true;
    }
    if (c->prog != NULL) {
        c->prog->items[c->nitems - 1].len++;
        c->prog->pool[c->npool] = ch;
    }
    c->npool++;
}

/* A new empty set; NULL while counting. */
static uint8_t *new_set(compiler *c, uint32_t *slot)
{
    *slot = c->nsets++;
    if (c->prog == NULL)
        return NULL;
    uint8_t *set = c->prog->sets[*slot];
    memset(set, 0, sizeof(byteset));
    return set;
}

static void add_class(compiler *c, uint8_t *set, int letter, bool complement)
{
    if (set == NULL)
        return;
    owe(c->mt, 256 * COST_SCAN);
    for (int ch = 0; ch < 256; ch++)
        if (in_class(letter, ch) != complement)
            set_add(set, (unsigned char)ch);
}

/* %x inside a set: a class, or the byte x itself. */
static void add_escape(compiler *c, uint8_t *set, unsigned char ch)
{
    int letter = class_letter(ch);
    if (letter != 0)
        add_class(c, set, letter, ch != letter);
    else if (set != NULL)
        set_add(set, ch);
}

/* The set of a class item such as %d or %W, made once per pattern. */
static uint32_t class_bitmap(compiler *c, unsigned char ch)
{
    int letter = class_letter(ch);
    bool complement = ch != letter;
    int32_t *known = &c->class_set[complement][letter - 'a'];
    if (*known >= 0)
        return (uint32_t)*known;
    uint32_t slot;
    add_class(c, new_set(c, &slot), letter, complement);
    *known = (int32_t)slot;
    return slot;
}

/* The set whose '[' is at i into a new bitmap; *next is just past its ']'.
 * False when the set never closes. */
static bool parse_set(compiler *c, size_t i, uint32_t *slot, size_t *next)
{
    const unsigned char *p = c->p;
    size_t n = c->plen, body = i + 1;
    bool complement = body < n && p[body] == '^';
    if (complement)
        body++;
    /* The first byte belongs to the set even when it is ']'; "%]" is an
     * escaped ']'. */
    size_t close = body;
    for (;;) {
        if (close >= n)
            return false;
        close += p[close] == '%' ? 2 : 1;
        if (close >= n)
            return false;
        if (p[close] == ']')
            break;
    }
    uint8_t *set = new_set(c, slot);
    *next = close + 1;
    if (set == NULL)
        return true;
    for (size_t q = body; q < close;) {
        unsigned char ch = p[q];
        if (ch == '%') {
            /* q + 1 <= close: at worst the escape takes the ']' */
            add_escape(c, set, p[q + 1]);
            q += 2;
        } else if (q + 2 < close && p[q + 1] == '-') {
            owe(c->mt, (size_t)256 * COST_SCAN);
            for (unsigned v = ch; v <= p[q + 2]; v++)
                set_add(set, (unsigned char)v);
            q += 3;
        } else {
            set_add(set, ch);
            q++;
        }
    }
    if (complement)
        for (size_t b = 0; b < sizeof(byteset); b++)
            set[b] = (uint8_t)~set[b];
    return true;
}

/* The class item at i ('.', %x, [set] or a byte) and its quantifier. False
 * after emitting an error. */
static bool compile_class(compiler *c, size_t *at)
{
    const unsigned char *p = c->p;
    size_t i = *at, next;
    uint8_t kind = CK_BYTE, byte = 0;
    uint32_t set = 0;

    switch (p[i]) {
    case '.':
        kind = CK_ANY;
        next = i + 1;
        break;
    case '%': /* the caller made sure a byte follows */
        if (class_letter(p[i + 1]) != 0) {
            kind = CK_SET;
            set = class_bitmap(c, p[i + 1]);
        } else {
            byte = p[i + 1];
        }
        next = i + 2;
        break;
    case '[':
        if (!parse_set(c, i, &set, &next)) {
            emit_error(c, PE_SET_UNCLOSED, 0);
            return false;
        }
        kind = CK_SET;
        break;
    default:
        byte = p[i];
        next = i + 1;
        break;
    }

    uint8_t rep = RP_ONE;
    if (next < c->plen) {
        switch (p[next]) {
        case '*': rep = RP_GREEDY0; break;
        case '+': rep = RP_GREEDY1; break;
        case '-': rep = RP_LAZY; break;
        case '?': rep = RP_OPTIONAL; break;
        }
        if (rep != RP_ONE)
            next++;
    }
    *at = next;
    if (rep == RP_ONE && kind == CK_BYTE) {
        append_text(c, byte);
        return true;
    }
    pitem *it = emit(c, IT_CHAR);
    it->kind = kind;
    it->rep = rep;
    it->a = byte;
    it->at = set;
    return true;
}

/* An item starting with '%' other than a class: %b, %f or a
 * back-reference. False when it is none of them (a class follows) or after
 * emitting an error (*stop). */
static bool compile_escape(compiler *c, size_t *at, bool *stop)
{
    const unsigned char *p = c->p;
    size_t i = *at, n = c->plen;
    unsigned char e = p[i + 1];
    pitem *it;

    if (e == 'b') {
        if (i + 3 >= n) {
            emit_error(c, PE_BALANCE_ARGS, 0);
            *stop = true;
            return true;
        }
        it = emit(c, IT_BALANCE);
        it->a = p[i + 2];
        it->b = p[i + 3];
        *at = i + 4;
        return true;
    }
    if (e == 'f') {
        uint32_t set;
        if (i + 2 >= n || p[i + 2] != '[') {
            emit_error(c, PE_FRONTIER_SET, 0);
            *stop = true;
        } else if (!parse_set(c, i + 2, &set, at)) {
            emit_error(c, PE_SET_UNCLOSED, 0);
            *stop = true;
        } else {
            emit(c, IT_FRONTIER)->at = set;
        }
        return true;
    }
    if (e >= '0' && e <= '9') {
        /* Only a capture already closed (or a position) can be matched
         * again; %0 is never one. */
        int id = e - '1';
        if (id < 0 || id >= c->ncap || c->capkind[id] == CAP_UNCLOSED) {
            emit_error(c, PE_BAD_BACKREF, e);
            *stop = true;
            return true;
        }
        emit(c, IT_BACKREF)->a = (uint8_t)id;
        *at = i + 2;
        return true;
    }
    return false;
}

static void compile(compiler *c, size_t i)
{
    const unsigned char *p = c->p;
    size_t n = c->plen;

    owe(c->mt, n * COST_SCAN);
    while (i < n) {
        pitem *it;
        bool stop = false;
        switch (p[i]) {
        case '(':
            if (c->ncap == MAX_CAPTURES) {
                emit_error(c, PE_TOO_MANY, 0);
                return;
            }
            if (i + 1 < n && p[i + 1] == ')') {
                c->capkind[c->ncap] = CAP_POSITION;
                emit(c, IT_POSITION)->a = (uint8_t)c->ncap++;
                i += 2;
                continue;
            }
            c->capkind[c->ncap] = CAP_UNCLOSED;
            c->open[c->nopen++] = c->ncap;
            emit(c, IT_OPEN)->a = (uint8_t)c->ncap++;
            i++;
            continue;
        case ')':
            if (c->nopen == 0) {
                emit_error(c, PE_STRAY_CLOSE, 0);
                return;
            }
            it = emit(c, IT_CLOSE);
            it->a = (uint8_t)c->open[--c->nopen];
            c->capkind[it->a] = CAP_STRING;
            i++;
            continue;
        case '$':
            if (i + 1 == n) {
                emit(c, IT_END);
                i++;
                continue;
            }
            break;
        case '%':
            if (i + 1 == n) {
                emit_error(c, PE_PERCENT_AT_END, 0);
                return;
            }
            if (compile_escape(c, &i, &stop)) {
                if (stop)
                    return;
                continue;
            }
            break;
        }
        if (!compile_class(c, &i))
            return;
    }
    emit(c, IT_ACCEPT);
}

/* The byte a match must start with, when the program says so: the search
 * then skips to it with memchr instead of trying every position. */
static int lead_byte(const pprog *g)
{
    for (uint32_t k = 0; k < g->nitems; k++) {
        const pitem *it = &g->items[k];
        switch (it->op) {
        case IT_OPEN:
        case IT_POSITION:
            continue;
        case IT_TEXT:
            return g->pool[it->at];
        case IT_CHAR:
            if (it->kind == CK_BYTE &&
                (it->rep == RP_ONE || it->rep == RP_GREEDY1))
                return it->a;
            return -1;
        default:
            return -1;
        }
    }
    return -1;
}

/* Translate pattern p. With space, a program that fits lives there;
 * otherwise it is a new userdata pushed on the stack (header included, so
 * that a gmatch iterator can keep it). A leading '^' anchors unless
 * anchors is false. */
static const pprog *translate(meter *mt, const char *p, size_t plen,
                              bool anchors, prog_space *space)
{
    lua_State *L = mt->L;
    compiler c;
    bool anchored = anchors && plen > 0 && p[0] == '^';
    size_t from = anchored ? 1 : 0;

    if (plen >= UINT32_MAX)
        luaL_error(L, "pattern too long");
    compiler_init(&c, p, plen, NULL, mt);
    compile(&c, from);

    pprog *g;
    if (space != NULL && c.nitems <= LOCAL_ITEMS && c.nsets <= LOCAL_SETS &&
        c.npool <= LOCAL_POOL) {
        g = &space->head;
        g->items = space->items;
        g->sets = space->sets;
        g->pool = space->pool;
    } else {
        size_t size = sizeof(pprog) + (size_t)c.nitems * sizeof(pitem) +
                      (size_t)c.nsets * sizeof(byteset) + c.npool;
        wf_check_memory(L, size, "pattern");
        unsigned char *block = lua_newuserdatauv(L, size, 0);
        g = (pprog *)block;
        block += sizeof(pprog);
        g->items = (pitem *)block;
        block += (size_t)c.nitems * sizeof(pitem);
        g->sets = (byteset *)block;
        block += (size_t)c.nsets * sizeof(byteset);
        g->pool = block;
    }
    g->nitems = c.nitems;
    g->nsets = c.nsets;
    g->npool = c.npool;
    g->anchored = anchored;

    compiler_init(&c, p, plen, g, mt);
    compile(&c, from);
    g->ncap = c.ncap;
    memcpy(g->capkind, c.capkind, sizeof g->capkind);
    g->lead = anchored ? -1 : lead_byte(g);
    return g;
}

/* ---- matching ------------------------------------------------------------- */

typedef struct matcher {
    meter mt;
    const pprog *prog;
    const char *subj, *end;
    int depth;
    struct {
        const char *from, *to;
    } cap[MAX_CAPTURES];
} matcher;

static void matcher_init(matcher *m, lua_State *L, const char *s, size_t len)
{
    m->mt.L = L;
    m->mt.owed = 0;
    m->prog = NULL;
    m->subj = s;
    m->end = s + len;
    m->depth = 0;
}

static int pattern_error(lua_State *L, const pitem *it)
{
    switch (it->a) {
    case PE_PERCENT_AT_END:
        return luaL_error(L, "malformed pattern (ends with '%%')");
    case PE_SET_UNCLOSED:
        return luaL_error(L, "malformed pattern (missing ']')");
    case PE_BALANCE_ARGS:
        return luaL_error(L, "malformed pattern (missing arguments to '%%b')");
    case PE_FRONTIER_SET:
        return luaL_error(L, "missing '[' after '%%f' in pattern");
    case PE_TOO_MANY:
        return luaL_error(L, "too many captures");
    case PE_STRAY_CLOSE:
        return luaL_error(L, "invalid pattern capture");
    default:
        return luaL_error(L, "invalid capture index %%%c in pattern", it->b);
    }
}

static inline bool accepts(const matcher *m, const pitem *it, const char *s)
{
    if (s >= m->end)
        return false;
    unsigned char ch = (unsigned char)*s;
    switch (it->kind) {
    case CK_BYTE:
        return ch == it->a;
    case CK_ANY:
        return true;
    default:
        return set_has(m->prog->sets[it->at], ch);
    }
}

/* How many bytes from s on the class of it accepts. */
static size_t span(matcher *m, const pitem *it, const char *s)
{
    if (it->kind == CK_ANY) {
        owe(&m->mt, (size_t)(m->end - s) * COST_SCAN);
        return (size_t)(m->end - s);
    }
    const char *t = s;
    while (accepts(m, it, t)) {
        owe(&m->mt, COST_SCAN);
        t++;
    }
    return (size_t)(t - s);
}

static const char *match_text(matcher *m, const pitem *it, const char *s)
{
    const char *text = (const char *)m->prog->pool + it->at;
    if ((size_t)(m->end - s) < it->len)
        return NULL;
    for (uint32_t i = 0; i < it->len; i++) {
        owe(&m->mt, COST_SCAN);
        if (s[i] != text[i])
            return NULL;
    }
    return s + it->len;
}

static const char *match_balance(matcher *m, const pitem *it, const char *s)
{
    if (s >= m->end || (unsigned char)*s != it->a)
        return NULL;
    size_t open = 1;
    for (const char *t = s + 1; t < m->end; t++) {
        owe(&m->mt, COST_SCAN);
        unsigned char ch = (unsigned char)*t;
        /* The closer first: with equal delimiters the next one closes. */
        if (ch == it->b) {
            if (--open == 0)
                return t + 1;
        } else if (ch == it->a) {
            open++;
        }
    }
    return NULL;
}

/* The subject's ends count as the byte '\0'. */
static bool at_frontier(const matcher *m, const pitem *it, const char *s)
{
    const uint8_t *set = m->prog->sets[it->at];
    unsigned char before = s > m->subj ? (unsigned char)s[-1] : 0;
    unsigned char after = s < m->end ? (unsigned char)*s : 0;
    return !set_has(set, before) && set_has(set, after);
}

/* A position capture is no text: matching it again always fails. */
static const char *match_backref(matcher *m, const pitem *it, const char *s)
{
    if (m->prog->capkind[it->a] != CAP_STRING)
        return NULL;
    const char *from = m->cap[it->a].from;
    size_t len = (size_t)(m->cap[it->a].to - from);
    if ((size_t)(m->end - s) < len)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        owe(&m->mt, COST_SCAN);
        if (s[i] != from[i])
            return NULL;
    }
    return s + len;
}

static const char *run(matcher *m, const char *s, uint32_t k);

/* Try the rest of the program from item k at s, one frame deeper. */
static const char *descend(matcher *m, const char *s, uint32_t k)
{
    if (++m->depth >= MAX_NESTING)
        luaL_error(m->mt.L, "pattern too complex");
    const char *r = run(m, s, k);
    m->depth--;
    return r;
}

/* The shortest run of the class of item k that lets the rest match. */
static const char *match_lazy(matcher *m, const char *s, uint32_t k)
{
    const pitem *it = &m->prog->items[k];
    for (;;) {
        const char *r = descend(m, s, k + 1);
        if (r != NULL)
            return r;
        owe(&m->mt, COST_SCAN);
        if (!accepts(m, it, s))
            return NULL;
        s++;
    }
}

/* Where the program from item k matching at s ends, or NULL. Alternatives
 * recurse; the last one left at a point goes on in this frame, so the
 * depth is the number of backtracking points still open. Captures need no
 * undoing on failure: items run in order, so a later attempt rewrites
 * every capture it passes before anything reads it. */
static const char *run(matcher *m, const char *s, uint32_t k)
{
    for (;; k++) {
        const pitem *it = &m->prog->items[k];
        owe(&m->mt, COST_STEP);
        switch ((enum item_op)it->op) {
        case IT_ACCEPT:
            return s;
        case IT_END:
            if (s != m->end)
                return NULL;
            break;
        case IT_TEXT:
            s = match_text(m, it, s);
            if (s == NULL)
                return NULL;
            break;
        case IT_CHAR:
            switch (it->rep) {
            case RP_ONE:
                if (!accepts(m, it, s))
                    return NULL;
                s++;
                break;
            case RP_OPTIONAL:
                if (accepts(m, it, s)) {
                    const char *r = descend(m, s + 1, k + 1);
                    if (r != NULL)
                        return r;
                }
                break;
            case RP_LAZY:
                return match_lazy(m, s, k);
            default: {
                size_t least = it->rep == RP_GREEDY1 ? 1 : 0;
                size_t most = span(m, it, s);
                if (most < least)
                    return NULL;
                for (; most > least; most--) {
                    const char *r = descend(m, s + most, k + 1);
                    if (r != NULL)
                        return r;
                }
                s += least;
                break;
            }
            }
            break;
        case IT_OPEN:
        case IT_POSITION:
            m->cap[it->a].from = s;
            break;
        case IT_CLOSE:
            m->cap[it->a].to = s;
            break;
        case IT_BALANCE:
            s = match_balance(m, it, s);
            if (s == NULL)
                return NULL;
            break;
        case IT_FRONTIER:
            if (!at_frontier(m, it, s))
                return NULL;
            break;
        case IT_BACKREF:
            s = match_backref(m, it, s);
            if (s == NULL)
                return NULL;
            break;
        case IT_ERROR:
            pattern_error(m->mt.L, it);
            return NULL;
        }
    }
}

static const char *attempt(matcher *m, const char *from)
{
    m->depth = 0;
    return run(m, from, 0);
}

/* Move *from to the next place a match can start; false when none is
 * left. */
static bool skip_to_lead(matcher *m, const char **from)
{
    const char *f = *from;
    const char *q = memchr(f, m->prog->lead, (size_t)(m->end - f));
    owe(&m->mt, (size_t)((q != NULL ? q + 1 : m->end) - f) * COST_SCAN);
    if (q == NULL)
        return false;
    *from = q;
    return true;
}

/* ---- results -------------------------------------------------------------- */

static void push_text(matcher *m, const char *s, size_t len)
{
    owe(&m->mt, len * COST_COPY);
    lua_pushlstring(m->mt.L, s, len);
}

/* Capture i of the match s..e; when the pattern has none, capture 0 is the
 * whole match. */
static void push_capture(matcher *m, int i, const char *s, const char *e)
{
    lua_State *L = m->mt.L;
    if (i >= m->prog->ncap) {
        if (i == 0) {
            push_text(m, s, (size_t)(e - s));
            return;
        }
        luaL_error(L, "invalid capture index %%%d in replacement string",
                   i + 1);
        return;
    }
    switch (m->prog->capkind[i]) {
    case CAP_POSITION:
        lua_pushinteger(L, (lua_Integer)(m->cap[i].from - m->subj) + 1);
        return;
    case CAP_UNCLOSED:
        luaL_error(L, "unfinished capture");
        return;
    default:
        push_text(m, m->cap[i].from, (size_t)(m->cap[i].to - m->cap[i].from));
        return;
    }
}

/* Every capture, or the whole match when there are none and whole. */
static int push_captures(matcher *m, const char *s, const char *e, bool whole)
{
    int n = m->prog->ncap == 0 && whole ? 1 : m->prog->ncap;
    luaL_checkstack(m->mt.L, n, "too many captures");
    owe(&m->mt, (size_t)n * COST_VALUE);
    for (int i = 0; i < n; i++)
        push_capture(m, i, s, e);
    return n;
}

static int finish(matcher *m, int results)
{
    settle(&m->mt);
    return results;
}

/* ---- the functions ---------------------------------------------------- */

/* The 0-based offset a search starts at, from a 1-based init that counts
 * from the end when negative; past len when no search can start. */
static size_t start_offset(lua_Integer init, size_t len)
{
    if (init > 0)
        return (lua_Unsigned)init - 1 > len ? len + 1 : (size_t)init - 1;
    if (init == 0 || init < -(lua_Integer)len)
        return 0;
    return len - (size_t)(-init);
}

/* Without any of these, string.find searches for the text itself (so a
 * lone ')' is no malformed pattern there), as Lua's does. */
static bool has_magic(meter *mt, const char *p, size_t len)
{
    owe(mt, len * COST_SCAN);
    for (size_t i = 0; i < len; i++)
        if (p[i] != '\0' && strchr("^$*+?.([%-", p[i]) != NULL)
            return true;
    return false;
}

static const char *search_text(meter *mt, const char *h, size_t hlen,
                               const char *needle, size_t nlen)
{
    if (nlen == 0)
        return h;
    if (nlen > hlen)
        return NULL;
    const char *last = h + (hlen - nlen);
    for (const char *at = h; at <= last; at++) {
        const char *q = memchr(at, needle[0], (size_t)(last - at) + 1);
        owe(mt, (size_t)((q != NULL ? q + 1 : last + 1) - at) * COST_SCAN);
        if (q == NULL)
            return NULL;
        size_t i = 1;
        while (i < nlen && q[i] == needle[i])
            i++;
        owe(mt, i * COST_SCAN);
        if (i == nlen)
            return q;
        at = q;
    }
    return NULL;
}

static int find_or_match(lua_State *L, bool find)
{
    size_t ls, lp;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_offset(luaL_optinteger(L, 3, 1), ls);
    matcher m;

    matcher_init(&m, L, s, ls);
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    if (find && (lua_toboolean(L, 4) || !has_magic(&m.mt, p, lp))) {
        const char *at = search_text(&m.mt, s + init, ls - init, p, lp);
        if (at == NULL) {
            luaL_pushfail(L);
            return finish(&m, 1);
        }
        lua_pushinteger(L, (lua_Integer)(at - s) + 1);
        lua_pushinteger(L, (lua_Integer)(at - s) + (lua_Integer)lp);
        return finish(&m, 2);
    }

    prog_space space;
    m.prog = translate(&m.mt, p, lp, true, &space);
    for (const char *from = s + init;; from++) {
        if (m.prog->lead >= 0 && !skip_to_lead(&m, &from))
            break;
        const char *e = attempt(&m, from);
        if (e != NULL) {
            if (!find)
                return finish(&m, push_captures(&m, from, e, true));
            lua_pushinteger(L, (lua_Integer)(from - s) + 1);
            lua_pushinteger(L, (lua_Integer)(e - s));
            return finish(&m, 2 + push_captures(&m, from, e, false));
        }
        if (m.prog->anchored || from >= m.end)
            break;
    }
    luaL_pushfail(L);
    return finish(&m, 1);
}

static int pat_find(lua_State *L)
{
    return find_or_match(L, true);
}

static int pat_match(lua_State *L)
{
    return find_or_match(L, false);
}

/* Upvalues: the subject, the pattern, its program, the offset the next
 * search starts at and the end of the last match (-1: none yet), so that
 * an empty match right where the last one ended is not taken again. */
static int gmatch_step(lua_State *L)
{
    size_t ls;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    lua_Integer pos = lua_tointeger(L, lua_upvalueindex(4));
    lua_Integer last = lua_tointeger(L, lua_upvalueindex(5));
    matcher m;

    matcher_init(&m, L, s, ls);
    m.prog = lua_touserdata(L, lua_upvalueindex(3));
    if (pos < 0 || (size_t)pos > ls)
        return 0;
    for (const char *from = s + pos;; from++) {
        if (m.prog->lead >= 0 && !skip_to_lead(&m, &from))
            break;
        const char *e = attempt(&m, from);
        if (e != NULL && e - s != last) {
            lua_pushinteger(L, (lua_Integer)(e - s));
            lua_pushvalue(L, -1);
            lua_replace(L, lua_upvalueindex(4));
            lua_replace(L, lua_upvalueindex(5));
            return finish(&m, push_captures(&m, from, e, true));
        }
        if (from >= m.end)
            break;
    }
    lua_pushinteger(L, (lua_Integer)ls + 1);
    lua_replace(L, lua_upvalueindex(4));
    return finish(&m, 0);
}

/* In gmatch a leading '^' is an ordinary byte: an anchor would stop the
 * iteration after one match. */
static int pat_gmatch(lua_State *L)
{
    size_t ls, lp;
    luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_offset(luaL_optinteger(L, 3, 1), ls);
    meter mt = {L, 0};

    lua_settop(L, 2);
    translate(&mt, p, lp, false, NULL);
    lua_pushinteger(L, (lua_Integer)init);
    lua_pushinteger(L, -1);
    lua_pushcclosure(L, gmatch_step, 5);
    settle(&mt);
    return 1;
}

/* The replacement string for the match s..e: "%0" the match, "%1".."%9"
 * captures, "%%" a '%'. */
static void add_template(matcher *m, luaL_Buffer *b, const char *r, size_t lr,
                         const char *s, const char *e)
{
    lua_State *L = m->mt.L;
    const char *rend = r + lr;
    owe(&m->mt, lr * COST_SCAN);
    while (r < rend) {
        const char *pc = memchr(r, '%', (size_t)(rend - r));
        if (pc == NULL) {
            owe(&m->mt, (size_t)(rend - r) * COST_COPY);
            luaL_addlstring(b, r, (size_t)(rend - r));
            return;
        }
        owe(&m->mt, (size_t)(pc - r) * COST_COPY);
        luaL_addlstring(b, r, (size_t)(pc - r));
        unsigned char d = pc + 1 < rend ? (unsigned char)pc[1] : 0;
        if (d == '%') {
            luaL_addchar(b, '%');
        } else if (d == '0') {
            owe(&m->mt, (size_t)(e - s) * COST_COPY);
            luaL_addlstring(b, s, (size_t)(e - s));
        } else if (d >= '1' && d <= '9') {
            push_capture(m, d - '1', s, e);
            luaL_addvalue(b);
        } else {
            luaL_error(L, "invalid use of '%%' in replacement string");
            return;
        }
        r = pc + 2;
    }
}

/* What a table or a function gives for the match s..e: false or nil keep
 * the match; a string or a number replaces it. */
static void add_computed(matcher *m, luaL_Buffer *b, int rtype, const char *s,
                         const char *e)
{
    lua_State *L = m->mt.L;
    if (rtype == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        int n = push_captures(m, s, e, true);
        lua_call(L, n, 1);
    } else {
        push_capture(m, 0, s, e);
        lua_gettable(L, 3);
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        owe(&m->mt, (size_t)(e - s) * COST_COPY);
        luaL_addlstring(b, s, (size_t)(e - s));
        return;
    }
    if (!lua_isstring(L, -1)) {
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
        return;
    }
    owe(&m->mt, lua_rawlen(L, -1) * COST_COPY);
    luaL_addvalue(b);
}

static int pat_gsub(lua_State *L)
{
    size_t ls, lp, lr = 0;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int rtype = lua_type(L, 3);
    lua_Integer most = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
    luaL_argexpected(L, rtype == LUA_TNUMBER || rtype == LUA_TSTRING ||
                            rtype == LUA_TFUNCTION || rtype == LUA_TTABLE,
                     3, "string/function/table");
    const char *r = NULL;
    if (rtype == LUA_TNUMBER || rtype == LUA_TSTRING)
        r = lua_tolstring(L, 3, &lr);

    matcher m;
    prog_space space;
    luaL_Buffer b;
    matcher_init(&m, L, s, ls);
    m.prog = translate(&m.mt, p, lp, true, &space);
    luaL_buffinit(L, &b);

    const char *src = s, *kept = s, *last = NULL;
    lua_Integer count = 0;
    while (count < most) {
        if (m.prog->lead >= 0 && !skip_to_lead(&m, &src)) {
            src = m.end;
            break;
        }
        const char *e = attempt(&m, src);
        if (e != NULL && e != last) {
            count++;
            owe(&m.mt, (size_t)(src - kept) * COST_COPY);
            luaL_addlstring(&b, kept, (size_t)(src - kept));
            if (r != NULL)
                add_template(&m, &b, r, lr, src, e);
            else
                add_computed(&m, &b, rtype, src, e);
            src = kept = last = e;
        } else if (src < m.end) {
            src++;
        } else {
            break;
        }
        if (m.prog->anchored)
            break;
    }
    owe(&m.mt, (size_t)(m.end - kept) * COST_COPY);
    luaL_addlstring(&b, kept, (size_t)(m.end - kept));
    luaL_pushresult(&b);
    lua_pushinteger(L, count);
    return finish(&m, 2);
}

void wf_open_patterns(lua_State *L, int strlib)
{
    static const luaL_Reg fns[] = {
        {"find", pat_find},
        {"match", pat_match},
        {"gmatch", pat_gmatch},
        {"gsub", pat_gsub},
        {NULL, NULL},
    };
    strlib = lua_absindex(L, strlib);
    for (const luaL_Reg *f = fns; f->name != NULL; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, strlib, f->name);
    }
}
