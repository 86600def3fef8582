/*
 * The warning step: a transient state that produces the warning letter given
 * at a visit. It renders the template bundled with the workflow version (so
 * the letter a case received can always be traced to the exact text the
 * force approved), filling {{placeholders}} from the case, and keeps the
 * rendered text, its SHA-256 and the template's SHA-256 at data.letter. Then
 * it emits "produced" and the case moves on to monitoring. A template with a
 * placeholder this step does not know, or a case without the facts to fill
 * one, refuses the visit rather than print a letter with a gap in it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caseflow/plugin.h"
#include "caseflow/plugin-util.h"

struct warning_conf {
    const char *template;  /* asset name */
    const char *helpline;  /* the support service signposted */
    const char *force;     /* the force's name in the letter */
    json_t *config;        /* owns the strings above */
};

/* A growing output buffer. */
struct buf {
    char *data;
    size_t len, cap;
    bool oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

/* Everything a placeholder can be filled with, gathered before rendering. */
struct facts {
    const char *case_id, *name, *helpline, *force, *officer;
    char date[32];
    char address[512];
};

static int gather(const cf_host *host, cf_step *step,
                  const struct warning_conf *conf, struct facts *f)
{
    const char *line1 = cfp_get_string(host, step, "subscriber.address.line1");
    const char *line2 = cfp_get_string(host, step, "subscriber.address.line2");
    const char *town = cfp_get_string(host, step, "subscriber.address.town");
    const char *pc = cfp_get_string(host, step, "subscriber.address.postcode");

    f->case_id = host->case_id(step);
    f->name = cfp_get_string(host, step, "subscriber.name");
    f->helpline = conf->helpline;
    f->force = conf->force;
    f->officer = host->actor(step);
    cfp_long_date(host->now(step), f->date);
    if (line1 == NULL || town == NULL || pc == NULL || f->name == NULL)
        return host->fail(step, "subscriber",
                          "no resolved subscriber to address the letter to");
    if (line2 != NULL)
        snprintf(f->address, sizeof f->address, "%s, %s, %s, %s", line1, line2,
                 town, pc);
    else
        snprintf(f->address, sizeof f->address, "%s, %s, %s", line1, town, pc);
    return 0;
}

static const char *lookup(const struct facts *f, const char *name, size_t n)
{
    static const char *const names[] = {"case_id", "reference", "name",
                                        "address", "date", "helpline",
                                        "force", "officer"};
    const char *values[] = {f->case_id, f->case_id, f->name, f->address,
                            f->date, f->helpline, f->force, f->officer};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i]) == n && strncmp(names[i], name, n) == 0)
            return values[i];
    return NULL;
}

/* Render text into b; fails naming the first placeholder it cannot fill. */
static int render(const cf_host *host, cf_step *step, const char *asset,
                  const char *text, const struct facts *f, struct buf *b)
{
    const char *p = text, *open, *close, *value;

    while ((open = strstr(p, "{{")) != NULL) {
        put(b, p, (size_t)(open - p));
        close = strstr(open + 2, "}}");
        if (close == NULL)
            return host->fail(step, asset, "unterminated placeholder");
        value = lookup(f, open + 2, (size_t)(close - open - 2));
        if (value == NULL)
            return host->fail(step, asset, "unknown placeholder {{%.*s}}",
                              (int)(close - open - 2), open + 2);
        put(b, value, strlen(value));
        p = close + 2;
    }
    put(b, p, strlen(p));
    return b->oom ? host->fail(step, asset, "out of memory") : 0;
}

static int warning_enter(const cf_host *host, void *state, cf_step *step)
{
    const struct warning_conf *conf = state;
    const char *text;
    size_t len;
    char digest[65], template_digest[65];
    struct facts f;
    struct buf b = {NULL, 0, 0, false};
    json_t *letter;

    if (host->asset(step, conf->template, &text, &len) != 0)
        return host->fail(step, conf->template,
                          "letter template missing from the workflow");
    if (gather(host, step, conf, &f) < 0 ||
        render(host, step, conf->template, text, &f, &b) < 0) {
        free(b.data);
        return CF_PLUGIN_FAILED;
    }
    host->sha256_hex(text, len, template_digest);
    host->sha256_hex(b.data, b.len, digest);
    letter = json_pack("{s:s, s:s, s:o, s:s, s:s}", "text", b.data, "sha256",
                       digest, "issued_at", cfp_now_string(host, step),
                       "template", conf->template, "template_sha256",
                       template_digest);
    free(b.data);
    if (cfp_set(host, step, "letter", letter) < 0)
        return CF_PLUGIN_FAILED;
    return host->emit(step, "produced");
}

static int warning_init(const cf_host *host, const json_t *config, void **state,
                        char *err, size_t errlen)
{
    static const char *const settings[] = {"template", "helpline", "force", NULL};
    struct warning_conf *c = calloc(1, sizeof *c);

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->template = "letters/warning.txt";
    c->helpline = "Stop It Now";
    c->force = "the police";
    if (cfp_config_keys(config, settings, err, errlen) < 0 ||
        cfp_config_string(config, "template", &c->template, err, errlen) < 0 ||
        cfp_config_string(config, "helpline", &c->helpline, err, errlen) < 0 ||
        cfp_config_string(config, "force", &c->force, err, errlen) < 0) {
        free(c);
        return -1;
    }
    /* The strings point into config: keep it alive as long as they are. */
    c->config = json_incref((json_t *)config);
    *state = c;
    return 0;
}

static void warning_fini(void *state)
{
    struct warning_conf *c = state;

    if (c == NULL)
        return;
    json_decref(c->config);
    free(c);
}

static const char *const warning_accepts[] = {NULL};
static const char *const warning_emits[] = {"produced", NULL};

CF_PLUGIN_DEFINE(warning, .version = "1.0.0",
                 .summary = "render the warning letter from the workflow's "
                            "template; keep its text and SHA-256",
                 .accepts = warning_accepts, .emits = warning_emits,
                 .init = warning_init, .enter = warning_enter,
                 .fini = warning_fini);
