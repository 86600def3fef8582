/*
 * Inside the operations table: the run functions of every operation (one
 * op_<group>.c per group, ops.c holds the table that names them) and the
 * small helpers they share. Operations reach the engine through the public
 * API (caseflow.h) only, never open or commit a transaction (the front end
 * wraps CF_OP_WRITE operations), and name the parameter at fault in
 * err->field. Every run function has the signature of cf_op.run: *out a new
 * reference on success; on failure a CF_E* code, err filled and *out NULL.
 */
#ifndef CF_OPS_INTERNAL_H
#define CF_OPS_INTERNAL_H

#include <stdarg.h>

#include "ops.h"

/* op_referral.c */
int cf_op_referral_create(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
/* op_case.c */
int cf_op_case_list(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_case_get(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_case_history(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_case_act(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
/* op_pole.c */
int cf_op_case_pole(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
/* op_task.c */
int cf_op_task_list(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_task_claim(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_task_complete(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
/* op_read.c: the feed, the report, the workflow list */
int cf_op_feed_read(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_report_get(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_workflow_list(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
/* op_deploy.c */
int cf_op_workflow_deploy(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_workflow_activate(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_workflow_repin(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_workflow_simulate(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
/* op_migrate.c */
int cf_op_workflow_migrate(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
/* op_token.c */
int cf_op_token_create(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_token_list(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_token_revoke(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
/* op_webhook.c */
int cf_op_webhook_add(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_webhook_list(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_webhook_remove(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
int cf_op_webhook_redeliver(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);
/* op_retention.c */
int cf_op_retention_dispose_due(const cf_op_ctx *ctx, json_t **out, int *status, cf_error *err);

/* ---- args.c: shared by the operations --------------------------------- */

/* Fill err (may be NULL) with code, field and a printf message; returns
 * code. */
int cf_op_fail(cf_error *err, int code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A required string parameter: CF_EUSAGE naming it when missing (or null),
 * CF_EINVALID when not a string. *out borrowed from args. */
int cf_op_arg_need(const json_t *args, const char *name, const char **out, cf_error *err);
/* A required positive integer parameter (a JSON integer or its decimal
 * text, as a path segment gives it): CF_EUSAGE when missing, CF_EINVALID
 * when not a positive integer. */
int cf_op_arg_id(const json_t *args, const char *name, int64_t *out, cf_error *err);
/* A page size: 0 when missing (the engine's default), else 1-1000. */
int cf_op_arg_limit(const json_t *args, int64_t *out, cf_error *err);
/* Our own words for JSON that did not parse (never the input's). */
const char *cf_op_json_problem(const json_error_t *jerr);

#endif
