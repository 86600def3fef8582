/*
 * The subscriber step: the result of the communications-data request. A
 * resolved subscriber is recorded with the installation address, which is
 * where the equipment is; a billing address is refused because it has sent
 * officers to people who had nothing to do with the connection. The address
 * becomes a correlation key (postcode without spaces + folded first line), so
 * a later referral that resolves to the same door meets this case. No trace
 * closes the case with outcome no_trace.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "caseflow/plugin.h"
#include "caseflow/plugin-util.h"

static const char *const address_types[] = {"installation", "billing", NULL};

/* UK postcode shape, spaces removed: outward code (letter first, 2-4
 * characters) and inward code (digit, letter, letter). */
static bool postcode_shape(const char *pc)
{
    size_t n = strlen(pc);

    if (n < 5 || n > 7 || !isalpha((unsigned char)pc[0]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)pc[i]))
            return false;
    return isdigit((unsigned char)pc[n - 3]) && isalpha((unsigned char)pc[n - 2]) &&
           isalpha((unsigned char)pc[n - 1]);
}

/* Upper-case, spaces dropped: "zz1 1aa" -> "ZZ11AA". */
static void postcode_compact(const char *in, char *out, size_t n)
{
    size_t len = 0;

    for (; *in != '\0' && len + 1 < n; in++)
        if (!isspace((unsigned char)*in))
            out[len++] = (char)toupper((unsigned char)*in);
    out[len] = '\0';
}

/* "ZZ11AA" -> "ZZ1 1AA", the form letters are addressed with. */
static void postcode_display(const char *compact, char out[16])
{
    size_t n = strlen(compact);

    snprintf(out, 16, "%.*s %s", (int)(n - 3), compact, compact + n - 3);
}

static int address(const cf_host *host, cf_step *step, const json_t *in,
                   json_t **out)
{
    static const char *const fields[] = {"line1", "line2", "town", "postcode",
                                         NULL};
    const json_t *addr;
    const char *line1, *line2, *town, *postcode;
    char compact[16], display[16], folded[CFP_LINE_MAX], key[CFP_LINE_MAX + 16];

    if (cfp_object(host, step, in, "", "address", true, &addr) < 0 ||
        cfp_known_fields(host, step, addr, "address", fields) < 0 ||
        cfp_line(host, step, addr, "address", "line1", 128, true, &line1) < 0 ||
        cfp_line(host, step, addr, "address", "line2", 128, false, &line2) < 0 ||
        cfp_line(host, step, addr, "address", "town", 64, true, &town) < 0 ||
        cfp_line(host, step, addr, "address", "postcode", 12, true, &postcode) < 0)
        return CF_PLUGIN_FAILED;
    postcode_compact(postcode, compact, sizeof compact);
    if (!postcode_shape(compact))
        return host->fail(step, "address.postcode", "not a UK postcode");
    postcode_display(compact, display);
    if (cfp_fold(line1, true, folded, sizeof folded) == 0)
        return host->fail(step, "address.line1", "has no letters or digits");
    snprintf(key, sizeof key, "%s|%s", compact, folded);
    if (host->key(step, "address", key) != 0)
        return host->fail(step, "address", "correlation key refused");
    *out = json_pack("{s:s, s:s, s:s, s:s}", "line1", line1, "town", town,
                     "postcode", display, "key", key);
    if (*out != NULL && line2 != NULL)
        json_object_set_new(*out, "line2", json_string(line2));
    return 0;
}

static int resolved(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const fields[] = {"name", "address", "address_type",
                                         "provider_reference", NULL};
    const char *name, *type, *provider_ref;
    json_t *addr = NULL, *sub;

    if (cfp_known_fields(host, step, in, "", fields) < 0 ||
        cfp_line(host, step, in, "", "name", 128, true, &name) < 0 ||
        cfp_choice(host, step, in, "", "address_type", address_types, true,
                   &type) < 0)
        return CF_PLUGIN_FAILED;
    if (strcmp(type, "billing") == 0)
        return host->fail(step, "address_type",
                          "a billing address does not locate the equipment; "
                          "obtain the installation address");
    if (cfp_line(host, step, in, "", "provider_reference", 128, true,
                 &provider_ref) < 0 ||
        address(host, step, in, &addr) < 0)
        return CF_PLUGIN_FAILED;
    sub = json_pack("{s:s, s:o, s:s, s:s}", "name", name, "address", addr,
                    "address_type", type, "provider_reference", provider_ref);
    return cfp_set(host, step, "subscriber", cfp_stamp(host, step, sub));
}

static int no_trace(const cf_host *host, cf_step *step, const json_t *in)
{
    static const char *const fields[] = {"reason", NULL};
    const char *reason;
    json_t *rec;

    if (cfp_known_fields(host, step, in, "", fields) < 0 ||
        cfp_text(host, step, in, "", "reason", CFP_TEXT_MAX, true, &reason) < 0)
        return CF_PLUGIN_FAILED;
    rec = cfp_stamp(host, step, json_pack("{s:s}", "reason", reason));
    if (cfp_set(host, step, "subscriber_no_trace", rec) < 0)
        return CF_PLUGIN_FAILED;
    return cfp_set(host, step, "outcome", json_string("no_trace"));
}

static int subscriber_handle(const cf_host *host, void *state, cf_step *step,
                             const char *event, const json_t *input)
{
    if (strcmp(event, "subscriber.resolved") == 0)
        return resolved(host, step, input);
    if (strcmp(event, "subscriber.no_trace") == 0)
        return no_trace(host, step, input);
    return host->fail(step, event, "not handled by the subscriber step");
}

static int subscriber_init(const cf_host *host, const json_t *config,
                           void **state, char *err, size_t errlen)
{
    static const char *const settings[] = {NULL};

    return cfp_config_keys(config, settings, err, errlen);
}

static const char *const subscriber_accepts[] = {"subscriber.resolved",
                                                 "subscriber.no_trace", NULL};
static const char *const subscriber_emits[] = {NULL};

CF_PLUGIN_DEFINE(subscriber, .version = "1.0.0",
                 .summary = "record the resolved subscriber (installation "
                            "address only) and add the address key",
                 .accepts = subscriber_accepts, .emits = subscriber_emits,
                 .init = subscriber_init, .handle = subscriber_handle);
