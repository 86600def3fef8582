/*
 * The fake host of libcaseflow-plugin-test (plugin-test.h): calls a step
 * plugin's callbacks as engine/machine.c does, against an in-memory case,
 * and keeps every effect the call asked for where a test can read it. The
 * engine's rules apply: handle() only for an accepted event, an emit only
 * of a declared outcome, and a failed call (negative result, or
 * host->fail) leaves the case as it was and drops its effects.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptest-internal.h"

/* As the engine's step keeps them (engine/machine.c struct cf_step). */
#define FIELD_MAX 96
#define MESSAGE_MAX 320
#define EVENT_MAX 128

struct cf_step {
    cfpt_host *h;
};

struct cfpt_host {
    cf_step step;
    cf_host table;
    const cf_plugin *plugin;
    void *pstate;
    bool inited;
    char *state;
    char *case_id;
    char *actor; /* NULL: nobody */
    int64_t now;
    json_t *data;
    json_t *assets; /* name -> string */
    /* the effects of the last call */
    int result;
    char emitted[EVENT_MAX]; /* "" for none */
    bool failed;
    size_t failures; /* host->fail calls since the effects were cleared */
    char field[FIELD_MAX];
    char message[MESSAGE_MAX];
    int64_t deadline;
    json_t *tasks, *timers, *keys, *notifications, *logs;
};

static bool in_list(const char *const *list, const char *name)
{
    for (; list && name && *list; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Replace *slot with a copy of s (NULL allowed). 0 or -1. */
static int replace(char **slot, const char *s)
{
    char *c = dup_or_null(s);

    if (s && !c)
        return -1;
    free(*slot);
    *slot = c;
    return 0;
}

/* Append obj (stolen) to arr; 0 or CF_PLUGIN_FAILED. */
static int append(json_t *arr, json_t *obj)
{
    return obj && json_array_append_new(arr, obj) == 0 ? 0 : CF_PLUGIN_FAILED;
}

/* ---- the host table ---------------------------------------------------------- */

static const json_t *h_get(cf_step *s, const char *path)
{
    return cfpt_i_path_get(s->h->data, path ? path : "");
}

static int h_set(cf_step *s, const char *path, json_t *value)
{
    if (!path || !*path) {
        json_decref(value);
        return CF_PLUGIN_FAILED;
    }
    return cfpt_i_path_set(s->h->data, path, value) == 0 ? 0 : CF_PLUGIN_FAILED;
}

static int h_emit(cf_step *s, const char *event)
{
    snprintf(s->h->emitted, sizeof s->h->emitted, "%s", event ? event : "");
    return 0;
}

static int h_task(cf_step *s, const char *role, const char *kind, json_t *detail)
{
    if (!role || !kind) {
        json_decref(detail);
        return CF_PLUGIN_FAILED;
    }
    return append(s->h->tasks, json_pack("{s:s, s:s, s:o}", "role", role, "kind", kind,
                                         "detail", detail ? detail : json_null()));
}

static int h_timer(cf_step *s, const char *event, int64_t due)
{
    json_t *t;
    size_t i;

    if (!event)
        return CF_PLUGIN_FAILED;
    /* A later timer of the same event replaces the earlier one. */
    json_array_foreach(s->h->timers, i, t) {
        if (strcmp(json_string_value(json_object_get(t, "event")), event) == 0) {
            json_array_remove(s->h->timers, i);
            break;
        }
    }
    return append(s->h->timers, json_pack("{s:s, s:I}", "event", event, "due", (json_int_t)due));
}

static int h_deadline(cf_step *s, int64_t due)
{
    s->h->deadline = due > 0 ? due : 0;
    return 0;
}

static int h_key(cf_step *s, const char *kind, const char *value)
{
    if (!kind || !*kind || !value || !*value || strcmp(kind, "ip") == 0)
        return CF_PLUGIN_FAILED; /* a bare IP never identifies anyone */
    return append(s->h->keys, json_pack("{s:s, s:s}", "kind", kind, "value", value));
}

static int h_notify(cf_step *s, const char *channel, json_t *message)
{
    if (!channel) {
        json_decref(message);
        return CF_PLUGIN_FAILED;
    }
    return append(s->h->notifications, json_pack("{s:s, s:o}", "channel", channel, "message",
                                                 message ? message : json_object()));
}

static void h_log(cf_step *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int h_fail(cf_step *s, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void h_log(cf_step *s, int level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn"};
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    append(s->h->logs, json_pack("{s:s, s:s}", "level",
                                 names[level < 0 || level > 2 ? 2 : level], "message", line));
}

static int h_fail(cf_step *s, const char *field, const char *fmt, ...)
{
    va_list ap;

    s->h->failed = true;
    s->h->failures++;
    snprintf(s->h->field, sizeof s->h->field, "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(s->h->message, sizeof s->h->message, fmt, ap);
    va_end(ap);
    return CF_PLUGIN_FAILED;
}

static int64_t h_now(cf_step *s)
{
    return s->h->now;
}

static const char *h_case_id(cf_step *s)
{
    return s->h->case_id;
}

static const char *h_state(cf_step *s)
{
    return s->h->state;
}

static const char *h_actor(cf_step *s)
{
    return s->h->actor;
}

static int h_asset(cf_step *s, const char *name, const char **text, size_t *len)
{
    json_t *v = name ? json_object_get(s->h->assets, name) : NULL;

    if (!json_is_string(v))
        return CF_PLUGIN_FAILED;
    *text = json_string_value(v);
    if (len)
        *len = json_string_length(v);
    return 0;
}

static int h_time_parse(const char *text, int64_t *utc, int *off)
{
    return cfpt_i_time_parse(text, utc, off) == 0 ? 0 : CF_PLUGIN_FAILED;
}

static const cf_host host_table = {
    .abi = CF_PLUGIN_ABI,
    .size = sizeof(cf_host),
    .get = h_get,
    .set = h_set,
    .emit = h_emit,
    .task = h_task,
    .timer = h_timer,
    .deadline = h_deadline,
    .key = h_key,
    .notify = h_notify,
    .log = h_log,
    .fail = h_fail,
    .now = h_now,
    .case_id = h_case_id,
    .state = h_state,
    .actor = h_actor,
    .asset = h_asset,
    .sha256_hex = cfpt_i_sha256_hex,
    .time_parse = h_time_parse,
    .time_format = cfpt_i_time_format,
};

/* ---- effects ------------------------------------------------------------------ */

/* Empty the effect arrays (kept allocated). */
static void drop_effects(cfpt_host *h)
{
    json_array_clear(h->tasks);
    json_array_clear(h->timers);
    json_array_clear(h->keys);
    json_array_clear(h->notifications);
    h->emitted[0] = '\0';
    h->deadline = -1;
}

void cfpt_clear(cfpt_host *h)
{
    if (!h)
        return;
    drop_effects(h);
    json_array_clear(h->logs);
    h->result = 0;
    h->failed = false;
    h->failures = 0;
    h->field[0] = '\0';
    h->message[0] = '\0';
}

/* The harness's own failure (CFPT_*), with no field. */
__attribute__((format(printf, 3, 4)))
static int harness_fail(cfpt_host *h, int code, const char *fmt, ...)
{
    va_list ap;

    h->failed = true;
    h->field[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(h->message, sizeof h->message, fmt, ap);
    va_end(ap);
    h->result = code;
    return code;
}

/* ---- life -------------------------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool usable(const cf_plugin *p, char *err, size_t errlen)
{
    if (!p) {
        set_err(err, errlen, "no plugin descriptor");
        return false;
    }
    if (CF_PLUGIN_ABI_MAJOR_OF(p->abi) != CF_PLUGIN_ABI_MAJOR ||
        CF_PLUGIN_ABI_MINOR_OF(p->abi) > CF_PLUGIN_ABI_MINOR) {
        set_err(err, errlen, "plugin ABI %u.%u, the harness supports %d.0 to %d.%d",
                (unsigned)CF_PLUGIN_ABI_MAJOR_OF(p->abi), (unsigned)CF_PLUGIN_ABI_MINOR_OF(p->abi),
                CF_PLUGIN_ABI_MAJOR, CF_PLUGIN_ABI_MAJOR, CF_PLUGIN_ABI_MINOR);
        return false;
    }
    if (p->size < offsetof(cf_plugin, fini) + sizeof p->fini) {
        set_err(err, errlen, "plugin descriptor too small (%u bytes)", (unsigned)p->size);
        return false;
    }
    if (!p->name || !*p->name) {
        set_err(err, errlen, "plugin descriptor has no name");
        return false;
    }
    return true;
}

cfpt_host *cfpt_host_new(const cf_plugin *plugin, const char *state, const char *config,
                         char *err, size_t errlen)
{
    cfpt_host *h;
    json_t *cfg;

    if (err && errlen)
        err[0] = '\0';
    if (!usable(plugin, err, errlen))
        return NULL;
    cfg = cfpt_i_object(config);
    if (!cfg) {
        set_err(err, errlen, "%s: config is not a JSON object", plugin->name);
        return NULL;
    }
    h = calloc(1, sizeof *h);
    if (!h)
        goto nomem;
    h->step.h = h;
    h->table = host_table;
    h->plugin = plugin;
    h->now = CFPT_EPOCH;
    h->deadline = -1;
    h->state = strdup(state ? state : "test");
    h->case_id = strdup("CF-TEST-1");
    h->actor = strdup("officer");
    h->data = json_object();
    h->assets = json_object();
    h->tasks = json_array();
    h->timers = json_array();
    h->keys = json_array();
    h->notifications = json_array();
    h->logs = json_array();
    if (!h->state || !h->case_id || !h->actor || !h->data || !h->assets || !h->tasks ||
        !h->timers || !h->keys || !h->notifications || !h->logs)
        goto nomem;
    if (plugin->init) {
        char why[256] = ""; /* as large as the engine's */
        int rc = plugin->init(&h->table, cfg, &h->pstate, why, sizeof why);
        if (rc < 0) {
            set_err(err, errlen, "%s", why[0] ? why : "init failed");
            json_decref(cfg);
            if (plugin->fini) /* as the engine: fini also on a failed init */
                plugin->fini(h->pstate);
            h->pstate = NULL;
            cfpt_host_free(h);
            return NULL;
        }
    }
    h->inited = true;
    json_decref(cfg);
    return h;
nomem:
    set_err(err, errlen, "out of memory");
    json_decref(cfg);
    cfpt_host_free(h);
    return NULL;
}

void cfpt_host_free(cfpt_host *h)
{
    if (!h)
        return;
    if (h->inited && h->plugin->fini)
        h->plugin->fini(h->pstate);
    free(h->state);
    free(h->case_id);
    free(h->actor);
    json_decref(h->data);
    json_decref(h->assets);
    json_decref(h->tasks);
    json_decref(h->timers);
    json_decref(h->keys);
    json_decref(h->notifications);
    json_decref(h->logs);
    free(h);
}

/* ---- the case ------------------------------------------------------------------ */

int cfpt_set_data(cfpt_host *h, const char *json)
{
    json_t *d = json ? cfpt_i_object(json) : NULL;

    if (!h || !d)
        return -1;
    json_decref(h->data);
    h->data = d;
    return 0;
}

int cfpt_set(cfpt_host *h, const char *path, const char *json)
{
    json_t *v = NULL;

    if (!h || !path || !*path)
        return -1;
    if (json) {
        v = json_loads(json, JSON_DECODE_ANY, NULL);
        if (!v)
            return -1;
    }
    return cfpt_i_path_set(h->data, path, v);
}

void cfpt_set_now(cfpt_host *h, int64_t now)
{
    if (h)
        h->now = now;
}

int cfpt_set_actor(cfpt_host *h, const char *actor)
{
    return h ? replace(&h->actor, actor) : -1;
}

int cfpt_set_case_id(cfpt_host *h, const char *id)
{
    return h && id ? replace(&h->case_id, id) : -1;
}

int cfpt_add_asset(cfpt_host *h, const char *name, const char *text)
{
    if (!h || !name || !text)
        return -1;
    return json_object_set_new(h->assets, name, json_string(text)) == 0 ? 0 : -1;
}

/* ---- calls -------------------------------------------------------------------- */

/* Run one callback (enter when event is NULL) under the engine's rules. */
static int call(cfpt_host *h, const char *event, const json_t *input)
{
    json_t *before = json_deep_copy(h->data);
    int rc;

    if (!before)
        return harness_fail(h, CF_PLUGIN_FAILED, "out of memory");
    if (event)
        rc = h->plugin->handle(&h->table, h->pstate, &h->step, event, input);
    else
        rc = h->plugin->enter(&h->table, h->pstate, &h->step);
    h->result = rc;
    if (rc >= 0 && !h->failed && h->emitted[0] && !in_list(h->plugin->emits, h->emitted) &&
        !in_list(h->plugin->accepts, h->emitted)) {
        harness_fail(h, CFPT_CONTRACT, "%s emitted \"%s\", which it neither emits nor accepts",
                     h->plugin->name, h->emitted);
    } else if (rc < 0 && !h->failed) {
        /* The engine reports this as an internal error (exit 70). */
        h->failed = true;
        h->field[0] = '\0';
        snprintf(h->message, sizeof h->message,
                 "plugin \"%s\" failed in state \"%s\" (code %d) without a reason",
                 h->plugin->name, h->state, rc);
    } else if (rc >= 0 && h->failed) {
        h->result = CF_PLUGIN_FAILED; /* host->fail fails the call whatever it returns */
    }
    if (h->failed) {
        /* As the engine rolls the transition back. */
        json_decref(h->data);
        h->data = before;
        drop_effects(h);
    } else {
        json_decref(before);
    }
    return h->result;
}

int cfpt_enter(cfpt_host *h)
{
    if (!h)
        return CFPT_BAD_INPUT;
    cfpt_clear(h);
    if (!h->plugin->enter)
        return CF_PLUGIN_OK;
    return call(h, NULL, NULL);
}

int cfpt_handle(cfpt_host *h, const char *event, const char *input)
{
    json_t *in;
    int rc;

    if (!h)
        return CFPT_BAD_INPUT;
    cfpt_clear(h);
    if (!event || !in_list(h->plugin->accepts, event))
        return harness_fail(h, CFPT_NOT_ACCEPTED, "%s does not accept \"%s\"", h->plugin->name,
                            event ? event : "(null)");
    in = cfpt_i_object(input);
    if (!in)
        return harness_fail(h, CFPT_BAD_INPUT, "the input of \"%s\" is not a JSON object",
                            event);
    if (!h->plugin->handle) { /* the engine takes the event without the plugin */
        json_decref(in);
        return CF_PLUGIN_OK;
    }
    rc = call(h, event, in);
    json_decref(in);
    return rc;
}

const cf_host *cfpt_host_table(const cfpt_host *h)
{
    return h ? &h->table : NULL;
}

cf_step *cfpt_step(cfpt_host *h)
{
    return h ? &h->step : NULL;
}

/* ---- reading the case and the effects -------------------------------------------- */

const json_t *cfpt_data(const cfpt_host *h)
{
    return h ? h->data : NULL;
}

const json_t *cfpt_get(const cfpt_host *h, const char *path)
{
    return h && path ? cfpt_i_path_get(h->data, path) : NULL;
}

const char *cfpt_emitted(const cfpt_host *h)
{
    return h && h->emitted[0] ? h->emitted : NULL;
}

const char *cfpt_failure(const cfpt_host *h)
{
    return h && h->failed ? h->message : NULL;
}

const char *cfpt_failure_field(const cfpt_host *h)
{
    return h && h->failed && h->field[0] ? h->field : NULL;
}

size_t cfpt_failures(const cfpt_host *h)
{
    return h ? h->failures : 0;
}

const json_t *cfpt_tasks(const cfpt_host *h)
{
    return h ? h->tasks : NULL;
}

const json_t *cfpt_timers(const cfpt_host *h)
{
    return h ? h->timers : NULL;
}

const json_t *cfpt_keys(const cfpt_host *h)
{
    return h ? h->keys : NULL;
}

const json_t *cfpt_notifications(const cfpt_host *h)
{
    return h ? h->notifications : NULL;
}

const json_t *cfpt_logs(const cfpt_host *h)
{
    return h ? h->logs : NULL;
}

int64_t cfpt_deadline(const cfpt_host *h)
{
    return h ? h->deadline : -1;
}

json_t *cfpt_effects(const cfpt_host *h)
{
    json_t *failure;

    if (!h)
        return NULL;
    failure = h->failed ? json_pack("{s:s?, s:s}", "field", h->field[0] ? h->field : NULL,
                                    "message", h->message)
                        : json_null();
    if (!failure)
        return NULL;
    return json_pack("{s:i, s:s?, s:o, s:O, s:O, s:O, s:I, s:O, s:O, s:O}", "result", h->result,
                     "emitted", h->emitted[0] ? h->emitted : NULL, "failure", failure, "data",
                     h->data, "tasks", h->tasks, "timers", h->timers, "deadline",
                     (json_int_t)h->deadline, "keys", h->keys, "notifications",
                     h->notifications, "logs", h->logs);
}
