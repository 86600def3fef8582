/*
 * A unified diff of two texts, line by line, for `workflow diff`: Myers'
 * greedy shortest edit script on the lines between the common prefix and
 * suffix, then hunks with three lines of context. No external diff runs.
 * Past MAX_EDITS edits (huge rewrites) the middle is shown as removed whole
 * and added whole: still a correct diff, only not the shortest. The search
 * keeps about MAX_EDITS^2 positions (8 MB at most).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "internal.h"

#define MAX_EDITS 1000
#define CONTEXT 3

typedef struct line {
    const char *p;
    size_t len;
} line;

/* The lines of text (a final line without '\n' counts); *n their count. */
static line *split(const char *text, size_t *n)
{
    size_t cap = 1;
    for (const char *s = text; *s; s++)
        cap += *s == '\n';
    line *v = malloc(cap * sizeof *v);
    *n = 0;
    if (!v)
        return NULL;
    const char *s = text;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s) : strlen(s);
        v[(*n)++] = (line){s, len};
        s += len + (nl != NULL);
    }
    return v;
}

static bool same(const line *a, const line *b)
{
    return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* One step of the edit script: ' ' keep, '-' a's line, '+' b's line. */
typedef struct op {
    char kind;
    size_t ai, bi; /* positions in a and b before this op */
} op;

typedef struct script {
    op *v;
    size_t n, cap;
} script;

static int push(script *s, char kind, size_t ai, size_t bi)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        op *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (op){kind, ai, bi};
    return 0;
}

/*
 * The edit script of a[0..n) against b[0..m) (Myers 1986, the greedy
 * forward search keeping each round's furthest reaching paths, then the
 * path traced back). Appends to s in reverse order; -1 on OOM, 1 when more
 * than MAX_EDITS edits are needed.
 */
static int myers(const line *a, size_t n, const line *b, size_t m, size_t a0, size_t b0,
                 script *s)
{
    long N = (long)n, M = (long)m, max = N + M;
    if (max > MAX_EDITS)
        max = MAX_EDITS;
    /* Round d keeps V[k] for k in -d..d: d*d + ... entries in all. */
    long **V = calloc((size_t)max + 1, sizeof *V);
    if (!V)
        return -1;
    long dfound = -1;
    for (long d = 0; d <= max && dfound < 0; d++) {
        V[d] = malloc((size_t)(2 * d + 1) * sizeof **V);
        if (!V[d])
            goto oom;
        for (long k = -d; k <= d; k += 2) {
            long x;
            if (d == 0)
                x = 0;
            else if (k == -d || (k != d && V[d - 1][k - 1 + d - 1] < V[d - 1][k + 1 + d - 1]))
                x = V[d - 1][k + 1 + d - 1]; /* down: insert from b */
            else
                x = V[d - 1][k - 1 + d - 1] + 1; /* right: delete from a */
            long y = x - k;
            while (x < N && y < M && same(&a[x], &b[y]))
                x++, y++;
            V[d][k + d] = x;
            if (x >= N && y >= M) {
                dfound = d;
                break;
            }
        }
    }
    int rc = 0;
    if (dfound < 0) {
        rc = 1;
    } else {
        long x = N, y = M;
        for (long d = dfound; d > 0 && !rc; d--) {
            const long *P = V[d - 1] + (d - 1); /* P[k]: round d-1's x on diagonal k */
            long k = x - y;
            bool down = k == -d || (k != d && P[k - 1] < P[k + 1]);
            long pk = down ? k + 1 : k - 1, px = P[pk], py = px - pk;
            long mx = down ? px : px + 1; /* where this round's edit ended */
            while (x > mx && !rc) {
                x--, y--;
                rc = push(s, ' ', a0 + (size_t)x, b0 + (size_t)y);
            }
            if (!rc)
                rc = down ? push(s, '+', a0 + (size_t)px, b0 + (size_t)py)
                          : push(s, '-', a0 + (size_t)px, b0 + (size_t)py);
            x = px;
            y = py;
        }
        while (x > 0 && !rc) {
            x--, y--;
            rc = push(s, ' ', a0 + (size_t)x, b0 + (size_t)y);
        }
    }
    for (long d = 0; d <= max; d++)
        free(V[d]);
    free(V);
    return rc;
oom:
    for (long d = 0; d <= max; d++)
        free(V[d]);
    free(V);
    return -1;
}

char *cf_line_diff(const char *a_text, const char *b_text, const char *a_label,
                   const char *b_label)
{
    size_t n, m;
    line *a = split(a_text ? a_text : "", &n), *b = split(b_text ? b_text : "", &m);
    script s = {0};
    char *result = NULL;
    if (!a || !b)
        goto out;
    size_t pre = 0, suf = 0;
    while (pre < n && pre < m && same(&a[pre], &b[pre]))
        pre++;
    while (suf < n - pre && suf < m - pre && same(&a[n - 1 - suf], &b[m - 1 - suf]))
        suf++;
    /* built back to front: suffix, middle, prefix */
    int rc = 0;
    for (size_t i = 0; i < suf && !rc; i++)
        rc = push(&s, ' ', n - 1 - i, m - 1 - i);
    if (!rc) {
        size_t mark = s.n;
        rc = myers(a + pre, n - pre - suf, b + pre, m - pre - suf, pre, pre, &s);
        if (rc == 1) { /* too many edits: all of a's middle out, all of b's in */
            s.n = mark;
            rc = 0;
            for (size_t j = m - suf; j-- > pre && !rc;)
                rc = push(&s, '+', n - suf, j);
            for (size_t i = n - suf; i-- > pre && !rc;)
                rc = push(&s, '-', i, pre);
        }
    }
    for (size_t i = pre; i-- > 0 && !rc;)
        rc = push(&s, ' ', i, i);
    if (rc)
        goto out;
    /* forwards now */
    for (size_t i = 0, j = s.n ? s.n - 1 : 0; i < j; i++, j--) {
        op t = s.v[i];
        s.v[i] = s.v[j];
        s.v[j] = t;
    }
    cf_buf buf = {0};
    bool any = false;
    for (size_t i = 0; i < s.n; i++)
        any |= s.v[i].kind != ' ';
    if (!any) {
        result = strdup("");
        goto out;
    }
    char head[128];
    int hn;
    if (cf_buf_put(&buf, "--- ", 4) || cf_buf_put(&buf, a_label, strlen(a_label)) ||
        cf_buf_put(&buf, "\n+++ ", 5) || cf_buf_put(&buf, b_label, strlen(b_label)) ||
        cf_buf_put(&buf, "\n", 1))
        goto fail;
    size_t i = 0;
    while (i < s.n) {
        while (i < s.n && s.v[i].kind == ' ')
            i++;
        if (i == s.n)
            break;
        size_t start = i > CONTEXT ? i - CONTEXT : 0, end = i;
        /* extend while the next change is within 2*CONTEXT kept lines */
        for (;;) {
            while (end < s.n && s.v[end].kind != ' ')
                end++;
            size_t k = end;
            while (k < s.n && s.v[k].kind == ' ' && k - end < 2 * CONTEXT)
                k++;
            if (k < s.n && s.v[k].kind != ' ') {
                end = k;
                continue;
            }
            end = end + CONTEXT < s.n ? end + CONTEXT : s.n;
            break;
        }
        size_t al = 0, bl = 0;
        for (size_t k = start; k < end; k++) {
            al += s.v[k].kind != '+';
            bl += s.v[k].kind != '-';
        }
        size_t as = s.v[start].ai + (al ? 1 : 0), bs = s.v[start].bi + (bl ? 1 : 0);
        hn = snprintf(head, sizeof head, "@@ -%zu,%zu +%zu,%zu @@\n", as, al, bs, bl);
        if (cf_buf_put(&buf, head, (size_t)hn))
            goto fail;
        for (size_t k = start; k < end; k++) {
            const line *l = s.v[k].kind == '+' ? &b[s.v[k].bi] : &a[s.v[k].ai];
            char mark = s.v[k].kind;
            if (cf_buf_put(&buf, &mark, 1) || cf_buf_put(&buf, l->p, l->len) || cf_buf_put(&buf, "\n", 1))
                goto fail;
        }
        i = end;
    }
    if (cf_buf_put(&buf, "", 1))
        goto fail;
    result = buf.p;
    goto out;
fail:
    free(buf.p);
out:
    free(a);
    free(b);
    free(s.v);
    return result;
}
