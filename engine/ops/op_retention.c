/*
 * retention.dispose_due: dispose of every closed case whose retention review
 * is due (cf_retention_dispose_due), passing over those under legal hold,
 * as `caseflow retention dispose --due` does. An administrator's change,
 * with a reason; each case is disposed of in a transaction of its own, so a
 * case that fails is left as it was and the others go on: the answer is
 * then 207 with every case's status, as a batch of referrals is.
 */
#include "ops_internal.h"

int cf_op_retention_dispose_due(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err)
{
    *out = NULL;
    int rc = cf_retention_dispose_due(ctx->engine, out, err);
    if (rc < 0 && *out && json_integer_value(json_object_get(*out, "disposed")) +
                                  json_integer_value(json_object_get(*out, "held")) >
                              0) {
        /* Some went, some failed: report each, as a partial success. */
        if (status)
            *status = 207;
        return 0;
    }
    if (rc < 0) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}
