/*
 * The referral step: the intake state's plugin. On entering, it validates the
 * referral the engine stored at data.referral against contract version 1
 * (DESIGN.md), keeps every IP event's time exactly as sent and adds its UTC
 * normalisation beside it (a wrong time-zone conversion has sent officers to
 * the wrong door), summarises the severity categories for grading and the
 * route decision, adds the correlation keys that can link this case to
 * others (account and file hash; never a bare IP, which belongs to someone
 * else at another time) and emits "accepted". Any refusal names the field,
 * and the engine then creates no case at all.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "caseflow/plugin.h"
#include "caseflow/plugin-util.h"

/* Per-state settings from polit.lua. */
struct referral_conf {
    bool allow_unknown_fields; /* accept (and keep) members outside the contract */
    size_t max_items;          /* longest ip_events / accounts / files array */
};

/* Category tallies for data.intake. */
struct tally {
    json_int_t a, b, c, ungraded;
};

static const char *const top_fields[] = {
    "source", "reference", "received_at", "priority", "ip_events", "accounts",
    "files", "frequency", "counts", "graded_by", NULL};
static const char *const ip_fields[] = {"ip", "port", "type", "at", "proxy", NULL};
static const char *const account_fields[] = {"provider", "id", NULL};
static const char *const file_fields[] = {"hash_type", "hash", "category",
                                          NULL};
static const char *const count_fields[] = {"A", "B", "C", NULL};
static const char *const frequencies[] = {"once", "occasional", "frequent",
                                          NULL};
static const char *const categories[] = {"A", "B", "C", NULL};

/* Hash types and the hex length of their values. PhotoDNA hashes are 144
 * bytes. */
static const struct {
    const char *name;
    size_t hexlen;
} hash_types[] = {{"md5", 32}, {"sha1", 40}, {"sha256", 64}, {"photodna", 288}};
static const char *const hash_type_names[] = {"md5", "sha1", "sha256",
                                              "photodna", NULL};

static int check_fields(const cf_host *host, cf_step *step,
                        const struct referral_conf *conf, const json_t *obj,
                        const char *prefix, const char *const *allowed)
{
    if (conf->allow_unknown_fields)
        return 0;
    return cfp_known_fields(host, step, obj, prefix, allowed);
}

/* An array member that must hold 1..max (or 0..max) objects. */
static int object_array(const cf_host *host, cf_step *step,
                        const struct referral_conf *conf, const json_t *ref,
                        const char *key, bool required, const json_t **out)
{
    const json_t *arr;
    size_t i;
    json_t *item;
    char field[CFP_FIELD_MAX];

    if (cfp_array(host, step, ref, "", key, required, &arr) < 0)
        return CF_PLUGIN_FAILED;
    *out = arr;
    if (arr == NULL)
        return 0;
    if (required && json_array_size(arr) == 0)
        return host->fail(step, key, "must not be empty");
    if (json_array_size(arr) > conf->max_items)
        return host->fail(step, key, "more than %zu entries", conf->max_items);
    json_array_foreach(arr, i, item) {
        if (!json_is_object(item)) {
            cfp_index(field, key, i);
            return host->fail(step, field, "must be an object");
        }
    }
    return 0;
}

/* The address in canonical text form and its family, or -1. */
static int parse_ip(const char *text, char out[INET6_ADDRSTRLEN])
{
    unsigned char buf[sizeof(struct in6_addr)];

    if (inet_pton(AF_INET, text, buf) == 1)
        return inet_ntop(AF_INET, buf, out, INET6_ADDRSTRLEN) ? 4 : -1;
    if (inet_pton(AF_INET6, text, buf) == 1)
        return inet_ntop(AF_INET6, buf, out, INET6_ADDRSTRLEN) ? 6 : -1;
    return -1;
}

/* One IP event: validated, then appended to `events` in normalised form. */
static int ip_event(const cf_host *host, cf_step *step,
                    const struct referral_conf *conf, const json_t *ev,
                    size_t i, int64_t received, json_t *events)
{
    char prefix[CFP_FIELD_MAX], field[CFP_FIELD_MAX], canon[INET6_ADDRSTRLEN];
    char utc_text[32];
    const char *ip, *type, *at;
    json_int_t port = 0;
    bool has_port;
    int proxy, family, offset;
    int64_t utc;

    cfp_index(prefix, "ip_events", i);
    if (check_fields(host, step, conf, ev, prefix, ip_fields) < 0 ||
        cfp_line(host, step, ev, prefix, "ip", 64, true, &ip) < 0 ||
        cfp_int(host, step, ev, prefix, "port", 0, 65535, false, &port,
                &has_port) < 0 ||
        cfp_line(host, step, ev, prefix, "type", 32, false, &type) < 0 ||
        cfp_time(host, step, ev, prefix, "at", true, &at, &utc, &offset) < 0 ||
        cfp_bool(host, step, ev, prefix, "proxy", false, &proxy) < 0)
        return CF_PLUGIN_FAILED;
    cfp_field(field, prefix, "ip");
    family = parse_ip(ip, canon);
    if (family < 0)
        return host->fail(step, field, "not an IPv4 or IPv6 address");
    cfp_field(field, prefix, "at");
    /* An event cannot be reported before it happened: this catches the
     * wrong-year and wrong-zone mistakes that have misdirected raids. */
    if (utc > received)
        return host->fail(step, field, "after received_at");
    host->time_format(utc, utc_text);

    json_t *out = json_pack("{s:s, s:i, s:s, s:s, s:i, s:b}", "ip", canon,
                            "family", family, "at", at, "at_utc", utc_text,
                            "offset_minutes", offset, "proxy", proxy == 1);
    if (out == NULL)
        return host->fail(step, prefix, "out of memory");
    if (has_port)
        json_object_set_new(out, "port", json_integer(port));
    if (type != NULL)
        json_object_set_new(out, "type", json_string(type));
    json_array_append_new(events, out);
    return 0;
}

static int ip_events(const cf_host *host, cf_step *step,
                     const struct referral_conf *conf, const json_t *ref,
                     int64_t received)
{
    const json_t *arr;
    json_t *item, *events;
    size_t i;

    if (object_array(host, step, conf, ref, "ip_events", true, &arr) < 0)
        return CF_PLUGIN_FAILED;
    events = json_array();
    json_array_foreach(arr, i, item) {
        if (ip_event(host, step, conf, item, i, received, events) < 0) {
            json_decref(events);
            return CF_PLUGIN_FAILED;
        }
    }
    return cfp_set(host, step, "ip_events", events);
}

/* provider:id, lower-cased, so one account spelt two ways still meets. */
static int account_key(const cf_host *host, cf_step *step, const char *provider,
                       const char *id)
{
    char key[2 * CFP_LINE_MAX + 2], lower[sizeof key];

    snprintf(key, sizeof key, "%s:%s", provider, id);
    cfp_lower(key, lower, sizeof lower);
    return host->key(step, "account", lower);
}

static int accounts(const cf_host *host, cf_step *step,
                    const struct referral_conf *conf, const json_t *ref)
{
    const json_t *arr;
    json_t *item;
    size_t i;
    char prefix[CFP_FIELD_MAX];
    const char *provider, *id;

    if (object_array(host, step, conf, ref, "accounts", false, &arr) < 0)
        return CF_PLUGIN_FAILED;
    json_array_foreach(arr, i, item) {
        cfp_index(prefix, "accounts", i);
        if (check_fields(host, step, conf, item, prefix, account_fields) < 0 ||
            cfp_line(host, step, item, prefix, "provider", 128, true,
                     &provider) < 0 ||
            cfp_line(host, step, item, prefix, "id", CFP_LINE_MAX, true, &id) < 0)
            return CF_PLUGIN_FAILED;
        if (account_key(host, step, provider, id) != 0)
            return host->fail(step, prefix, "correlation key refused");
    }
    return 0;
}

static size_t hash_length(const char *type)
{
    for (size_t i = 0; i < sizeof hash_types / sizeof hash_types[0]; i++)
        if (strcmp(hash_types[i].name, type) == 0)
            return hash_types[i].hexlen;
    return 0;
}

static bool is_hex(const char *s)
{
    for (; *s != '\0'; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
              (*s >= 'A' && *s <= 'F')))
            return false;
    return true;
}

static void count_category(struct tally *t, const char *category)
{
    if (category == NULL)
        t->ungraded++;
    else if (strcmp(category, "A") == 0)
        t->a++;
    else if (strcmp(category, "B") == 0)
        t->b++;
    else
        t->c++;
}

static int file_entry(const cf_host *host, cf_step *step,
                      const struct referral_conf *conf, const json_t *item,
                      size_t i, struct tally *t)
{
    char prefix[CFP_FIELD_MAX], field[CFP_FIELD_MAX];
    char key[16 + 300], lower[sizeof key];
    const char *type, *hash, *category;
    size_t want;

    cfp_index(prefix, "files", i);
    if (check_fields(host, step, conf, item, prefix, file_fields) < 0 ||
        cfp_choice(host, step, item, prefix, "hash_type", hash_type_names, true,
                   &type) < 0 ||
        cfp_line(host, step, item, prefix, "hash", 300, true, &hash) < 0 ||
        cfp_choice(host, step, item, prefix, "category", categories, false,
                   &category) < 0)
        return CF_PLUGIN_FAILED;
    cfp_field(field, prefix, "hash");
    want = hash_length(type);
    if (!is_hex(hash))
        return host->fail(step, field, "not hexadecimal");
    if (strlen(hash) != want)
        return host->fail(step, field, "a %s hash has %zu hex digits", type,
                          want);
    count_category(t, category);
    snprintf(key, sizeof key, "%s:%s", type, hash);
    cfp_lower(key, lower, sizeof lower);
    if (host->key(step, "hash", lower) != 0)
        return host->fail(step, prefix, "correlation key refused");
    return 0;
}

static int files(const cf_host *host, cf_step *step,
                 const struct referral_conf *conf, const json_t *ref,
                 struct tally *t)
{
    const json_t *arr;
    json_t *item;
    size_t i;

    if (object_array(host, step, conf, ref, "files", false, &arr) < 0)
        return CF_PLUGIN_FAILED;
    json_array_foreach(arr, i, item)
        if (file_entry(host, step, conf, item, i, t) < 0)
            return CF_PLUGIN_FAILED;
    return 0;
}

/* Counts per category reported by the source, added to the files' grades. */
static int counts(const cf_host *host, cf_step *step,
                  const struct referral_conf *conf, const json_t *ref,
                  struct tally *t)
{
    const json_t *c;
    json_int_t n[3] = {0, 0, 0};
    bool present;

    if (cfp_object(host, step, ref, "", "counts", false, &c) < 0)
        return CF_PLUGIN_FAILED;
    if (c == NULL)
        return 0;
    if (check_fields(host, step, conf, c, "counts", count_fields) < 0)
        return CF_PLUGIN_FAILED;
    for (int i = 0; i < 3; i++)
        if (cfp_int(host, step, c, "counts", count_fields[i], 0, 100000000,
                    false, &n[i], &present) < 0)
            return CF_PLUGIN_FAILED;
    t->a += n[0];
    t->b += n[1];
    t->c += n[2];
    return 0;
}

static const char *highest(const struct tally *t)
{
    if (t->a > 0)
        return "A";
    if (t->b > 0)
        return "B";
    if (t->c > 0)
        return "C";
    return NULL;
}

/* data.intake: what grading and the route decision need, in one place. */
static int summary(const cf_host *host, cf_step *step, const json_t *ref,
                   int64_t received, const struct tally *t, int priority,
                   const char *frequency)
{
    char utc[32];
    const char *top = highest(t);
    json_t *intake;

    host->time_format(received, utc);
    intake = json_pack(
        "{s:s, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:b}", "received_at_utc", utc,
        "ip_events", (json_int_t)json_array_size(json_object_get(ref, "ip_events")),
        "files", (json_int_t)json_array_size(json_object_get(ref, "files")),
        "categories", "A", t->a, "B", t->b, "C", t->c, "ungraded", t->ungraded,
        "priority", priority == 1);
    if (intake == NULL)
        return host->fail(step, "intake", "out of memory");
    json_object_set_new(intake, "highest_category",
                        top != NULL ? json_string(top) : json_null());
    json_object_set_new(intake, "frequency",
                        frequency != NULL ? json_string(frequency) : json_null());
    return cfp_set(host, step, "intake", intake);
}

static int referral_enter(const cf_host *host, void *state, cf_step *step)
{
    const struct referral_conf *conf = state;
    const json_t *ref = host->get(step, "referral");
    const char *s, *received_text, *frequency;
    int64_t received;
    int offset, priority;
    struct tally t = {0, 0, 0, 0};

    if (!json_is_object(ref))
        return host->fail(step, "referral", "must be a JSON object");
    if (check_fields(host, step, conf, ref, "", top_fields) < 0 ||
        cfp_line(host, step, ref, "", "source", 64, true, &s) < 0 ||
        cfp_line(host, step, ref, "", "reference", 128, true, &s) < 0 ||
        cfp_time(host, step, ref, "", "received_at", true, &received_text,
                 &received, &offset) < 0 ||
        cfp_bool(host, step, ref, "", "priority", false, &priority) < 0 ||
        cfp_choice(host, step, ref, "", "frequency", frequencies, false,
                   &frequency) < 0 ||
        cfp_line(host, step, ref, "", "graded_by", 128, false, &s) < 0 ||
        ip_events(host, step, conf, ref, received) < 0 ||
        accounts(host, step, conf, ref) < 0 ||
        files(host, step, conf, ref, &t) < 0 ||
        counts(host, step, conf, ref, &t) < 0 ||
        summary(host, step, ref, received, &t, priority, frequency) < 0)
        return CF_PLUGIN_FAILED;
    return host->emit(step, "accepted");
}

static int referral_init(const cf_host *host, const json_t *config,
                         void **state, char *err, size_t errlen)
{
    static const char *const settings[] = {"allow_unknown_fields", "max_items",
                                           NULL};
    struct referral_conf *conf;
    json_t *allow = json_object_get(config, "allow_unknown_fields");
    double max_items = 1000;

    if (cfp_config_keys(config, settings, err, errlen) < 0 ||
        cfp_config_number(config, "max_items", 1, 100000, &max_items, err,
                          errlen) < 0)
        return -1;
    if (allow != NULL && !json_is_boolean(allow)) {
        snprintf(err, errlen, "setting 'allow_unknown_fields' must be a boolean");
        return -1;
    }
    conf = calloc(1, sizeof *conf);
    if (conf == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    conf->allow_unknown_fields = json_is_true(allow);
    conf->max_items = (size_t)max_items;
    *state = conf;
    return 0;
}

static void referral_fini(void *state)
{
    free(state);
}

static const char *const referral_emits[] = {"accepted", NULL};
static const char *const referral_accepts[] = {NULL};

CF_PLUGIN_DEFINE(referral, .version = "1.0.0",
                 .summary = "validate a referral (contract v1), normalise its "
                            "times, add account and hash keys",
                 .accepts = referral_accepts, .emits = referral_emits,
                 .init = referral_init, .enter = referral_enter,
                 .fini = referral_fini);
