/*
 * case.pole: a case as POLE data (People, Objects, Locations, Events and the
 * links between them), the shape a force's records management system takes
 * in. It is built from the case and its history through the public API only,
 * from the data paths the shipped step plugins record (docs/pole.md maps each
 * member): the subscriber and the occupants are people; IP events, online
 * accounts, file hashes, seized devices and the warning letter are objects;
 * the installation address is the location; the history is the events. What
 * the case does not hold is left out, never guessed, and an object never
 * carries more than its listed members: a file is its hash and category,
 * whatever else a referral sent with it, and no letter text or image
 * content ever leaves this way.
 */
#include <stdio.h>
#include <string.h>

#include "ops_internal.h"

/* The POLE document being built. Arrays are owned; the counters number the
 * ids ("person-1", "object-3"); oom records a failed allocation so the
 * builders need not check each one. */
typedef struct pole {
    json_t *people, *objects, *locations, *events, *links;
    unsigned persons, things, places;
    int oom;
} pole;

/* ---- small helpers ---------------------------------------------------------------- */

/* The member key of obj when it is a non-empty string (borrowed), else NULL. */
static const char *str_of(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && s[0] ? s : NULL;
}

/* obj[path] for a dotted path of object members (borrowed), or NULL. */
static const json_t *get_path(const json_t *obj, const char *path)
{
    char name[64];
    while (obj && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof name)
            return NULL;
        memcpy(name, path, n);
        name[n] = '\0';
        obj = json_object_get(obj, name);
        path += n + (path[n] == '.');
    }
    return obj;
}

/* Set dst[key] to value (stolen); a NULL value marks the build failed. */
static void put(pole *p, json_t *dst, const char *key, json_t *value)
{
    if (!value || json_object_set_new(dst, key, value) < 0)
        p->oom = 1;
}

/* Copy src[skey] to dst[dkey] when it is a non-empty string. */
static void put_str(pole *p, json_t *dst, const char *dkey, const json_t *src, const char *skey)
{
    const char *s = str_of(src, skey);
    if (s)
        put(p, dst, dkey, json_string(s));
}

/* Copy src[skey] to dst[dkey] when it is an integer. */
static void put_int(pole *p, json_t *dst, const char *dkey, const json_t *src, const char *skey)
{
    const json_t *v = json_object_get(src, skey);
    if (json_is_integer(v))
        put(p, dst, dkey, json_integer(json_integer_value(v)));
}

/* Copy src[skey] to dst[dkey] when it is a boolean. */
static void put_bool(pole *p, json_t *dst, const char *dkey, const json_t *src, const char *skey)
{
    const json_t *v = json_object_get(src, skey);
    if (json_is_boolean(v))
        put(p, dst, dkey, json_boolean(json_is_true(v)));
}

/* Append item (stolen) to array. */
static void append(pole *p, json_t *array, json_t *item)
{
    if (!item || json_array_append_new(array, item) < 0)
        p->oom = 1;
}

/* A new entity {id: "<prefix>-<n>", type?} appended to array; borrowed, or
 * NULL when out of memory. *counter numbers the prefix's entities. */
static json_t *entity(pole *p, json_t *array, const char *prefix, unsigned *counter,
                      const char *type)
{
    char id[48];
    json_t *e = json_object();
    snprintf(id, sizeof id, "%s-%u", prefix, ++*counter);
    if (!e) {
        p->oom = 1;
        return NULL;
    }
    put(p, e, "id", json_string(id));
    if (type)
        put(p, e, "type", json_string(type));
    append(p, array, e);
    return p->oom ? NULL : e;
}

static const char *id_of(const json_t *entity)
{
    return json_string_value(json_object_get(entity, "id"));
}

/* A link {from, to, type}; either end NULL (absent) makes none. */
static void link_to(pole *p, const char *from, const char *to, const char *type)
{
    if (from && to)
        append(p, p->links, json_pack("{s:s, s:s, s:s}", "from", from, "to", to, "type", type));
}

/* ---- events ------------------------------------------------------------------------ */

/* Members of an event's data that become people, objects or locations,
 * and so are links rather than details. */
static const char *const mapped_members[] = {"name", "address", "occupants", "devices", NULL};

/* The event's data less the mapped members: a new object, or NULL when
 * nothing is left (or the data is not an object). */
static json_t *event_details(const json_t *data)
{
    if (!json_is_object(data))
        return NULL;
    json_t *d = json_deep_copy(data);
    for (size_t i = 0; d && mapped_members[i]; i++)
        json_object_del(d, mapped_members[i]);
    if (d && json_object_size(d) == 0) {
        json_decref(d);
        d = NULL;
    }
    return d;
}

/* Write "event-<seq>" for history entry h into buf; false when h has no
 * usable seq. */
static int event_id(const json_t *h, char buf[32])
{
    const json_t *seq = json_object_get(h, "seq");
    if (!json_is_integer(seq) || json_integer_value(seq) < 1)
        return 0;
    snprintf(buf, 32, "event-%lld", (long long)json_integer_value(seq));
    return 1;
}

/* One history entry as a POLE event. */
static void add_event(pole *p, const json_t *h)
{
    char id[32];
    if (!event_id(h, id))
        return;
    json_t *e = json_object();
    if (!e) {
        p->oom = 1;
        return;
    }
    put(p, e, "id", json_string(id));
    put_int(p, e, "seq", h, "seq");
    put_str(p, e, "at", h, "at");
    put_str(p, e, "event", h, "event");
    put_str(p, e, "actor", h, "actor");
    put_str(p, e, "role", h, "role");
    put_str(p, e, "from", h, "from");
    put_str(p, e, "to", h, "to");
    put_str(p, e, "outcome", h, "outcome");
    json_t *details = event_details(json_object_get(h, "data"));
    if (details)
        put(p, e, "details", details);
    append(p, p->events, e);
}

/* The id (into buf) of the latest history event whose data holds member, or
 * NULL: the event that recorded what member became. */
static const char *event_holding(const json_t *history, const char *member, char buf[32])
{
    for (size_t i = json_array_size(history); i-- > 0;) {
        const json_t *h = json_array_get(history, i);
        if (json_object_get(json_object_get(h, "data"), member) && event_id(h, buf))
            return buf;
    }
    return NULL;
}

/* The id (into buf) of the case's first event (the one with no state
 * before it: the referral received), or NULL. */
static const char *creation_event(const json_t *history, char buf[32])
{
    const json_t *h = json_array_get(history, 0);
    if (h && !str_of(h, "from") && event_id(h, buf))
        return buf;
    return NULL;
}

/* ---- people and the location ---------------------------------------------------------- */

/* The installation address (data.subscriber.address) as location-1, or
 * NULL when the case has none. Borrowed. */
static json_t *add_address(pole *p, const json_t *subscriber)
{
    const json_t *addr = json_object_get(subscriber, "address");
    if (!json_is_object(addr) || !str_of(addr, "line1"))
        return NULL;
    json_t *l = entity(p, p->locations, "location", &p->places, "address");
    if (!l)
        return NULL;
    put_str(p, l, "role", subscriber, "address_type");
    put_str(p, l, "line1", addr, "line1");
    put_str(p, l, "line2", addr, "line2");
    put_str(p, l, "town", addr, "town");
    put_str(p, l, "postcode", addr, "postcode");
    return l;
}

/* The subscriber (data.subscriber.name), or NULL. Borrowed. */
static json_t *add_subscriber(pole *p, const json_t *subscriber)
{
    if (!str_of(subscriber, "name"))
        return NULL;
    json_t *s = entity(p, p->people, "person", &p->persons, NULL);
    if (!s)
        return NULL;
    put(p, s, "role", json_string("subscriber"));
    put_str(p, s, "name", subscriber, "name");
    return s;
}

/* The household occupants the checks found (data.checks.occupants). */
static void add_occupants(pole *p, const json_t *data, const char *place, const char *seen)
{
    const json_t *list = get_path(data, "checks.occupants");
    size_t i;
    const json_t *o;
    json_array_foreach(list, i, o)
    {
        if (!str_of(o, "name"))
            continue;
        json_t *person = entity(p, p->people, "person", &p->persons, NULL);
        if (!person)
            return;
        put(p, person, "role", json_string("occupant"));
        put_str(p, person, "name", o, "name");
        put_str(p, person, "date_of_birth", o, "dob");
        link_to(p, id_of(person), place, "occupant_of");
        link_to(p, id_of(person), seen, "identified_in");
    }
}

/* ---- objects ---------------------------------------------------------------------------- */

/* The referral's IP events (data.ip_events, as the intake step normalised
 * them); each was reported with the referral and, once the subscriber is
 * resolved, resolved to that subscriber. */
static void add_ip_events(pole *p, const json_t *data, const char *reported,
                          const char *subscriber)
{
    size_t i;
    const json_t *ev;
    json_array_foreach(json_object_get(data, "ip_events"), i, ev)
    {
        if (!str_of(ev, "ip"))
            continue;
        json_t *o = entity(p, p->objects, "object", &p->things, "ip_event");
        if (!o)
            return;
        put_str(p, o, "ip", ev, "ip");
        put_int(p, o, "family", ev, "family");
        put_int(p, o, "port", ev, "port");
        put_str(p, o, "activity", ev, "type");
        put_str(p, o, "at", ev, "at");
        put_str(p, o, "at_utc", ev, "at_utc");
        put_int(p, o, "offset_minutes", ev, "offset_minutes");
        put_bool(p, o, "proxy", ev, "proxy");
        link_to(p, id_of(o), reported, "reported_in");
        link_to(p, id_of(o), subscriber, "resolved_to");
    }
}

/* The online accounts the referral named (data.referral.accounts). */
static void add_accounts(pole *p, const json_t *data, const char *reported)
{
    size_t i;
    const json_t *a;
    json_array_foreach(get_path(data, "referral.accounts"), i, a)
    {
        if (!str_of(a, "provider") || !str_of(a, "id"))
            continue;
        json_t *o = entity(p, p->objects, "object", &p->things, "online_account");
        if (!o)
            return;
        put_str(p, o, "provider", a, "provider");
        put_str(p, o, "account", a, "id");
        link_to(p, id_of(o), reported, "reported_in");
    }
}

/* The files the referral named (data.referral.files): hash and category
 * only. Never anything else a referral carried with a file. */
static void add_files(pole *p, const json_t *data, const char *reported)
{
    size_t i;
    const json_t *f;
    json_array_foreach(get_path(data, "referral.files"), i, f)
    {
        if (!str_of(f, "hash_type") || !str_of(f, "hash"))
            continue;
        json_t *o = entity(p, p->objects, "object", &p->things, "file_hash");
        if (!o)
            return;
        put_str(p, o, "hash_type", f, "hash_type");
        put_str(p, o, "hash", f, "hash");
        put_str(p, o, "category", f, "category");
        link_to(p, id_of(o), reported, "reported_in");
    }
}

/* The devices seized when the warrant was executed (data.execution.devices),
 * by exhibit number. */
static void add_devices(pole *p, const json_t *data, const char *seized)
{
    size_t i;
    const json_t *d;
    json_array_foreach(get_path(data, "execution.devices"), i, d)
    {
        if (!str_of(d, "exhibit"))
            continue;
        json_t *o = entity(p, p->objects, "object", &p->things, "device");
        if (!o)
            return;
        put_str(p, o, "exhibit", d, "exhibit");
        put_str(p, o, "device_type", d, "type");
        put_str(p, o, "description", d, "description");
        link_to(p, id_of(o), seized, "seized_in");
    }
}

/* The warning letter (data.letter): what identifies it, never its text. */
static void add_letter(pole *p, const json_t *data, const char *subscriber)
{
    const json_t *letter = json_object_get(data, "letter");
    if (!json_is_object(letter) || !str_of(letter, "sha256"))
        return;
    json_t *o = entity(p, p->objects, "object", &p->things, "document");
    if (!o)
        return;
    put(p, o, "kind", json_string("warning_letter"));
    put_str(p, o, "sha256", letter, "sha256");
    put_str(p, o, "issued_at", letter, "issued_at");
    put_str(p, o, "template", letter, "template");
    put_str(p, o, "template_sha256", letter, "template_sha256");
    link_to(p, id_of(o), subscriber, "addressed_to");
}

/* ---- the case ------------------------------------------------------------------------ */

/* What the RMS files the POLE data under. */
static json_t *case_summary(pole *p, const json_t *kase)
{
    const json_t *data = json_object_get(kase, "data");
    json_t *c = json_object();
    if (!c) {
        p->oom = 1;
        return NULL;
    }
    put_str(p, c, "id", kase, "id");
    if (json_is_object(json_object_get(kase, "workflow")))
        put(p, c, "workflow", json_deep_copy(json_object_get(kase, "workflow")));
    put_str(p, c, "state", kase, "state");
    put_int(p, c, "revision", kase, "revision");
    put_str(p, c, "source", kase, "source");
    put_str(p, c, "reference", kase, "reference");
    put_str(p, c, "received_at", json_object_get(data, "intake"), "received_at_utc");
    put_str(p, c, "created_at", kase, "created_at");
    put_str(p, c, "updated_at", kase, "updated_at");
    put_str(p, c, "grade", json_object_get(data, "risk"), "grade");
    put_str(p, c, "deadline_at", kase, "deadline_at");
    put_str(p, c, "outcome", data, "outcome");
    const json_t *links = json_object_get(data, "links");
    json_t *related = json_array();
    size_t i;
    const json_t *v;
    json_array_foreach(links, i, v) if (json_string_value(v))
        append(p, related, json_string(json_string_value(v)));
    if (json_array_size(related) > 0)
        put(p, c, "related_cases", related);
    else
        json_decref(related);
    return c;
}

/* The whole document from the case and its history (both borrowed). */
static json_t *build(const json_t *kase, const json_t *history)
{
    pole p = {.people = json_array(), .objects = json_array(), .locations = json_array(),
              .events = json_array(), .links = json_array()};
    const json_t *data = json_object_get(kase, "data");
    const json_t *sub = json_object_get(data, "subscriber");
    char reported_buf[32], subscriber_buf[32], occupants_buf[32], seized_buf[32];
    const char *reported = creation_event(history, reported_buf);
    const char *resolved = event_holding(history, "address", subscriber_buf);
    size_t i;
    const json_t *h;

    json_t *summary = case_summary(&p, kase);
    json_array_foreach(history, i, h)
        add_event(&p, h);

    json_t *place = add_address(&p, sub);
    json_t *subscriber = add_subscriber(&p, sub);
    const char *place_id = place ? id_of(place) : NULL;
    const char *subscriber_id = subscriber ? id_of(subscriber) : NULL;
    link_to(&p, subscriber_id, place_id, "subscriber_at");
    link_to(&p, subscriber_id, resolved, "identified_in");
    link_to(&p, place_id, resolved, "identified_in");
    add_occupants(&p, data, place_id, event_holding(history, "occupants", occupants_buf));

    add_ip_events(&p, data, reported, subscriber_id);
    add_accounts(&p, data, reported);
    add_files(&p, data, reported);
    add_devices(&p, data, event_holding(history, "devices", seized_buf));
    add_letter(&p, data, subscriber_id);

    json_t *out = json_pack("{s:o*, s:o*, s:o*, s:o*, s:o*, s:o*}", "case", summary, "people",
                            p.people, "objects", p.objects, "locations", p.locations,
                            "events", p.events, "links", p.links);
    if (out && (p.oom || json_object_size(out) != 6)) {
        json_decref(out);
        out = NULL;
    }
    return out;
}

int cf_op_case_pole(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    const char *id;
    json_t *kase = NULL, *history = NULL;
    (void)status;
    *out = NULL;
    int rc = cf_op_arg_need(ctx->args, "id", &id, err);
    /* One read, one consultation record: the case with its history. */
    if (rc < 0 || (rc = cf_case_dossier(ctx->engine, id, &kase, err)) < 0)
        return rc;
    history = json_incref(json_object_get(kase, "history"));
    json_object_del(kase, "history");
    if (!json_is_array(history))
        rc = cf_op_fail(err, CF_EINTERNAL, "history", "history: not an array");
    else if (!(*out = build(kase, history)))
        rc = cf_op_fail(err, CF_ENOMEM, NULL, "out of memory");
    json_decref(kase);
    json_decref(history);
    return rc;
}
