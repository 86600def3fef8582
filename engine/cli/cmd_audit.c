/*
 * The audit trail: verify the chain, its signed checkpoints and the audited
 * tables (of a store, or of an export without any store); sign the chain's
 * head now; export records for an inspector.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "progress.h"

/* The result of a verification that passed; what is "chain" or "export". */
static void print_verified(const json_t *out, const char *what)
{
    char b1[32], b2[80], b3[32], b4[32], b5[32];
    outf("audit %s ok: %s records, head %s\n", what, jtext(out, "records", b1, sizeof b1),
         jtext(out, "head", b2, sizeof b2));
    outf("signed checkpoints: %s, last signed record %s, unsigned after it: %s\n",
         jtext(out, "checkpoints", b3, sizeof b3), jtext(out, "last_signed_seq", b4, sizeof b4),
         jtext(out, "unsigned_tail", b5, sizeof b5));
    const json_t *anchors = json_object_get(out, "anchors");
    if (anchors) {
        char a1[32], a2[32];
        outf("anchors hold: %s signed heads of this store checked, the latest record %s\n",
             jtext(anchors, "checked", a1, sizeof a1), jtext(anchors, "latest_seq", a2, sizeof a2));
    }
    if (json_object_get(out, "clock")) {
        char c1[32];
        outf("clock: %s\n", strcmp(jtext(out, "clock", c1, sizeof c1), "test") == 0
                                ? "test (set by CASEFLOW_NOW: not for real casework)"
                                : "system");
    }
    const json_t *tables = json_object_get(out, "tables");
    if (json_is_string(tables))
        outf("tables: %s against the chain (--chain-only)\n", json_string_value(tables));
    else if (tables) {
        char t1[32], t2[32], t3[32], t4[32];
        outf("tables match the chain: %s cases, %s history records, %s users, "
             "%s workflow versions\n",
             jtext(tables, "cases", t1, sizeof t1), jtext(tables, "events", t2, sizeof t2),
             jtext(tables, "users", t3, sizeof t3), jtext(tables, "workflows", t4, sizeof t4));
    }
}

int cmd_audit_verify(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    int rc;
    if (c->file && c->anchors)
        return usage_error("--anchors checks a store, not an export (give one or the other)");
    if (c->file) {
        /* An export, on any machine: no store involved. */
        rc = cf_audit_verify_file(c->file, c->key, &out, &err);
    } else {
        /* Verifying writes nothing: read-only, so archives on read-only
         * media verify too. */
        if ((rc = open_engine_mode(c, false, true)))
            return rc;
        cf_verify_options o = {.public_key_file = c->key, .anchors_file = c->anchors,
                               .flags = c->chain_only ? CF_VERIFY_CHAIN_ONLY : 0};
        cf_engine_set_progress(c->engine, progress_engine, NULL);
        rc = cf_audit_verify_opts(c->engine, &o, &out, &err);
        progress_end();
    }
    if (c->json && out)
        print_json(out, false);
    if (rc < 0) {
        json_decref(out);
        return fail(rc, &err);
    }
    if (!c->json)
        print_verified(out, c->file ? "export" : "chain");
    json_decref(out);
    return 0;
}

int cmd_audit_checkpoint(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_audit_checkpoint_with(c->engine, c->anchor, &out, &err);
    if (rc < 0)
        return fail(rc, &err);
    return print_result(c, out, false, print_pairs);
}

int cmd_audit_export(struct cli *c)
{
    cf_error err;
    json_t *out = NULL;
    int64_t since = 1;
    if (c->since && !parse_count("since", c->since, &since))
        return EXIT_USAGE;
    int rc = open_engine(c, false);
    if (rc)
        return rc;
    rc = cf_audit_export(c->engine, since, c->output, &out, &err);
    if (rc < 0)
        return fail(rc, &err);
    /* The records went to stdout when there is no --output: say nothing more. */
    if (c->output) {
        if (c->json)
            print_json(out, false);
        else
            outf("exported %s records from %s to %s\n",
                 jtext(out, "records", (char[32]){0}, 32), jtext(out, "since", (char[32]){0}, 32),
                 c->output);
    }
    json_decref(out);
    return 0;
}

