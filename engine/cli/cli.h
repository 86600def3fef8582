/*
 * The caseflow command, shared declarations. The command is a client of the
 * public embedding API (caseflow.h) and nothing else; its files are:
 * main.c (main, options, environment, dispatch, help and the command
 * table), output.c (every byte the command prints: messages, machine output,
 * tables), input.c (what users hand the command: --data, counts, dates), and
 * one cmd_<group>.c per command group with that group's handlers. A handler
 * is a small function that opens the engine, calls the API, prints human
 * text or --json machine output on stdout and returns a sysexits status.
 * Where an operation of the shared table (engine/ops/ops.h) exists, the
 * handler runs it through ops_call.c rather than calling the API itself:
 * caseflowd runs the same operation, and with --server (remote.c) the
 * command sends it there and prints the answer with the same code.
 * Handlers print only through output.c, which escapes what they print.
 */
#ifndef CASEFLOW_CLI_H
#define CASEFLOW_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "caseflow/caseflow.h"

/* sysexits.h statuses the command itself produces. */
enum {
    EXIT_USAGE = 64,
    EXIT_DATAERR = 65,
    EXIT_NOINPUT = 66,
    EXIT_IOERR = 74,
};

/* Flags for json_loads of anything a user hands us. */
#define JSON_IN_FLAGS JSON_REJECT_DUPLICATES

/* Command-specific options; global ones have no bit. Macros, not an enum:
 * `opts` has 64 bits (the first 32 all in use), and an enum constant must
 * fit an int. */
#define OPT_ROLE       (1u << 0)
#define OPT_STATE      (1u << 1)
#define OPT_LIMIT      (1u << 2)
#define OPT_DATA       (1u << 3)
#define OPT_REVISION   (1u << 4)
#define OPT_WORKFLOW   (1u << 5)
#define OPT_SINCE      (1u << 6)
#define OPT_OUTPUT     (1u << 7)
#define OPT_FILE       (1u << 8)
#define OPT_KEY        (1u << 9)
#define OPT_CHAIN_ONLY (1u << 10)
#define OPT_UNTIL      (1u << 11)
#define OPT_TEST_CLOCK (1u << 12)
#define OPT_KEY_DIR    (1u << 13)
#define OPT_OS_USER    (1u << 14)
#define OPT_ANCHOR     (1u << 15)
#define OPT_ANCHORS    (1u << 16)
#define OPT_SERVER     (1u << 17) /* --server, --token-file: may run through caseflowd */
#define OPT_AFTER      (1u << 18) /* a page from a cursor */
#define OPT_QUERY      (1u << 19) /* list's filters: --grade --overdue --version N ... */
#define OPT_TASKQ      (1u << 20) /* task list's filters: --open --done --kind ... */
#define OPT_TOKEN      (1u << 21) /* --expires, --note */
#define OPT_RESULT     (1u << 22) /* --result, --result-file */
#define OPT_WEBHOOK    (1u << 23) /* --events, --secret-file */
#define OPT_IDEM       (1u << 24) /* --idempotency-key */
#define OPT_DEPLOY     (1u << 25) /* --yes, --inactive */
#define OPT_MIGRATE    (1u << 26) /* workflow migrate: --to --from --map --cases --all ... */
#define OPT_DRY_RUN    (1u << 27) /* --dry-run (deploy, migrate) */
#define OPT_LIVE       (1u << 28) /* workflow check --live */
#define OPT_WFVERSION  (1u << 29) /* --version N (a workflow version, not the program's) */
#define OPT_FORMAT     (1u << 30) /* --format */
#define OPT_DUE        (1u << 31) /* retention dispose --due */
#define OPT_DIR        (UINT64_C(1) << 32) /* plugin new --dir */

struct command;

/* Everything one run of the command knows: options, words, the engine. */
struct cli {
    const char *store, *actor, *reason, *plugins;
    bool json, help, version, verbose, live;
    const char *state, *data, *workflow, *limit, *revision;
    const char *signing_key, *since, *output, *file, *key, *until;
    bool chain_only, test_clock;
    const char *key_dir, *anchor, *anchors;
    const char *key_dir_env; /* CASEFLOW_KEY_DIR: init of a new store only */
    const char *server, *token_file, *after, *grade, *deadline_before, *updated_since;
    const char *wf_version, *format, *idempotency_key, *expires, *note, *task_status, *kind;
    const char *case_id, *assignee, *result, *result_file, *events, *secret_file;
    bool overdue, open_tasks;
    bool yes, dry_run, inactive, due;
    const char *dir;    /* plugin new --dir */
    struct {            /* workflow migrate (cmd_migrate.c) */
        const char *to, *from, *approve;
        const char **maps, **cases; /* as given, NULL-terminated */
        size_t nmaps, ncases;
        bool all, dry_run, request;
    } mig;
    const char **roles; /* --role values as given (may hold commas) */
    size_t nroles;
    const char **os_users; /* --os-user values, NULL-terminated */
    size_t nos_users;
    uint64_t used;      /* OPT_* bits seen */
    const char **words; /* positional words, command words first */
    size_t nwords;
    const struct command *cmd;
    const char **args; /* the command's own arguments (after its words) */
    size_t nargs;
    bool have_now;
    int64_t now;
    cf_engine *engine;
    struct remote *remote; /* the connection to caseflowd (remote.c), or NULL */
};

/* One entry of the command table (main.c). */
struct command {
    const char *name, *sub;
    int (*run)(struct cli *);
    size_t min_args, max_args; /* after the command words */
    uint64_t opts;             /* OPT_* it accepts */
    const char *usage;         /* arguments, after "caseflow name [sub]" */
    const char *summary;
};

/* ---- main.c: the engine, opened as the options say ---------------------- */

int open_engine_mode(struct cli *c, bool create, bool readonly);
int open_engine(struct cli *c, bool create);

/* ---- ops_call.c: operations of the shared table, here or in caseflowd ---- */

/* One call of an operation (engine/ops/ops.h). Zero-initialise with
 * OP_REQ(name), then set what the operation takes. */
struct op_req {
    const char *name;        /* "case.get" */
    const json_t *args;      /* borrowed object of parameters, or NULL */
    const json_t *body;      /* borrowed, or NULL */
    const char *body_text;   /* an NDJSON batch, or NULL */
    size_t body_len;
    const char *idempotency_key;
    int64_t expect_revision; /* -1: none */
};
#define OP_REQ(op) ((struct op_req){.name = (op), .expect_revision = -1})

/* Whether this run goes through caseflowd (--server or CASEFLOW_SERVER). */
bool is_remote(const struct cli *c);
/* Get ready to run operations: open the store, or check the --server
 * settings. 0, or an exit status after a message. */
int ops_open(struct cli *c);
/* Run it. *out (new reference) on success; a CF_E* code with err filled
 * otherwise. *status (may be NULL): the HTTP status of a success. */
int op_call(struct cli *c, const struct op_req *r, json_t **out, int *status, cf_error *err);
/* op_call that reports a failure: 0, or its exit status after a message. */
int op_run(struct cli *c, const struct op_req *r, json_t **out);
/* An object of parameters: name, value pairs of strings ending with NULL;
 * a NULL value is left out. New reference. */
json_t *op_args(const char *name, ...);

/* ---- remote.c: the operations through caseflowd ------------------------- */

struct remote;
/* Run operation op through the server c->server (see op_call). */
int remote_call(struct cli *c, const struct op_req *r, json_t **out, int *status,
                cf_error *err);
/* Check the --server and credential settings before any request: 0, or an
 * exit status after a message. */
int remote_check(struct cli *c);
/* The CF_E* code a problem's "code" names, else the one for its HTTP
 * status. */
int remote_code(const char *name, long http_status);
void remote_close(struct cli *c);

/* ---- output.c ------------------------------------------------------------ */

void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A failure's detail (may be NULL: nothing), each line "caseflow: " and
 * the line, escaped like every message. */
void say_detail(const char *text);
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fail(int rc, const cf_error *err);
int fail_line(unsigned long line, int rc, const cf_error *err);
int check_stdout(void);

void outf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void out_block(const char *text);
void print_json(const json_t *v, bool compact);
int print_result(const struct cli *c, json_t *out, bool compact,
                 void (*print_human)(const json_t *));

/*
 * Machine output of an array too long to hold (every case of a store), an
 * element at a time, byte for byte as print_json prints the whole array
 * indented: json_seq_item for each element (borrowed), then json_seq_end
 * ("[]" when there was none). Start from struct json_seq s = {0}.
 */
struct json_seq {
    size_t n;
};
void json_seq_item(struct json_seq *s, const json_t *v);
void json_seq_end(struct json_seq *s);
const char *jtext(const json_t *obj, const char *key, char *buf, size_t size);
const char *workflow_text(const json_t *obj, char *buf, size_t size);
const char *join_strings(const json_t *obj, const char *key, char *buf,
                         size_t size);
void print_pairs(const json_t *o);

/*
 * A small aligned table for human output: ncols columns per row, each cell
 * a copy of its text, printed with two spaces between columns and the last
 * column unpadded. table_flush prints the rows so far and lets them go,
 * keeping the widths (later rows are aligned to at least those): a long
 * table a part at a time. table_print_free prints the rest and frees it.
 */
struct table {
    size_t ncols, nrows, cap;
    char **cells;
    size_t width[8];
};

void table_init(struct table *t, size_t ncols);
void table_add(struct table *t, const char *const *row);
void table_flush(struct table *t);
void table_print_free(struct table *t);

/* ---- input.c ------------------------------------------------------------- */

bool parse_rfc3339(const char *s, int64_t *out);
const char *parse_problem(const json_error_t *jerr);
bool find_nul(const char *text, size_t len, unsigned long first_line,
              unsigned long *line, size_t *column);
int load_data(const char *text, json_t **out);
int load_json_option(const char *opt, const char *text, json_t **out);
int read_small_file(const char *opt, const char *path, size_t max, bool private_file,
                    char **buf, size_t *len);
bool parse_count(const char *opt, const char *text, int64_t *out);
bool parse_since(const char *text, int64_t *out);
bool positive_id(const char *text);

/* ---- the handlers, one file per group ------------------------------------ */

/* cmd_store.c */
int cmd_init(struct cli *c);
int cmd_user_add(struct cli *c);
int cmd_user_list(struct cli *c);
int cmd_user_disable(struct cli *c);
int cmd_user_bind(struct cli *c);
int cmd_user_unbind(struct cli *c);
int cmd_policy_show(struct cli *c);
int cmd_policy_set(struct cli *c);
int cmd_store_grant(struct cli *c); /* store grant ROLE (PostgreSQL roles) */
/* cmd_workflow.c */
int cmd_workflow_deploy(struct cli *c);
int cmd_workflow_list(struct cli *c);
int cmd_workflow_diff(struct cli *c);
int cmd_workflow_activate(struct cli *c);
int cmd_workflow_repin(struct cli *c);
int cmd_workflow_check(struct cli *c);
int cmd_workflow_graph(struct cli *c);
/* cmd_wftest.c */
int cmd_workflow_test(struct cli *c);
/* cmd_migrate.c */
int cmd_workflow_migrate(struct cli *c);
/* cmd_simulate.c: the command, and for deploy --dry-run the replay of file
 * (*out new; 0 or an exit status after a message) and its summary table. */
int cmd_workflow_simulate(struct cli *c);
int simulate_run(struct cli *c, const char *file, json_t **out);
void simulate_summary(const json_t *out);
/* cmd_case.c */
int cmd_show(struct cli *c);
int cmd_list(struct cli *c);
int cmd_history(struct cli *c);
int cmd_act(struct cli *c);
int cmd_tick(struct cli *c);
/* cmd_refer.c */
int cmd_refer(struct cli *c);
/* cmd_token.c */
int cmd_token_create(struct cli *c);
int cmd_token_list(struct cli *c);
int cmd_token_revoke(struct cli *c);
/* cmd_task.c */
int cmd_task_list(struct cli *c);
int cmd_task_claim(struct cli *c);
int cmd_task_complete(struct cli *c);
/* cmd_feed.c */
int cmd_feed(struct cli *c);
/* cmd_webhook.c */
int cmd_webhook_add(struct cli *c);
int cmd_webhook_list(struct cli *c);
int cmd_webhook_remove(struct cli *c);
int cmd_webhook_redeliver(struct cli *c);
/* cmd_copy.c */
int cmd_store_copy(struct cli *c);

/* cmd_audit.c */
int cmd_audit_verify(struct cli *c);
int cmd_audit_checkpoint(struct cli *c);
int cmd_audit_export(struct cli *c);
/* cmd_retention.c */
int cmd_retention_due(struct cli *c);
int cmd_retention_keep(struct cli *c);
int cmd_retention_hold(struct cli *c);
int cmd_retention_release(struct cli *c);
int cmd_retention_dispose(struct cli *c);
/* cmd_report.c */
int cmd_report(struct cli *c);
/* cmd_plugin.c */
int cmd_plugin_list(struct cli *c);
int cmd_plugin_info(struct cli *c);
int cmd_plugin_new(struct cli *c);

#endif
