/*
 * The caseflow command: the command-line contract of DESIGN.md on top of the
 * public embedding API (caseflow.h) and nothing else. One table lists every
 * command with its handler and usage; one option parser serves them all
 * (global options may stand before or after the command words); the
 * environment fills in what the options leave out; the command named by the
 * first words runs with the engine opened as the options say. Its handlers
 * live in cmd_*.c, one file per command group (see cli.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* ---- options ----------------------------------------------------------- */

enum opt_id {
    O_STORE, O_ACTOR, O_REASON, O_PLUGINS, O_JSON, O_HELP, O_VERSION,
    O_ROLE, O_STATE, O_LIMIT, O_DATA, O_REVISION, O_WORKFLOW,
    O_SIGNING_KEY, O_SINCE, O_OUTPUT, O_FILE, O_KEY, O_CHAIN_ONLY, O_UNTIL,
    O_TEST_CLOCK, O_KEY_DIR, O_OS_USER, O_ANCHOR, O_ANCHORS,
    O_SERVER, O_TOKEN_FILE, O_AFTER, O_GRADE, O_OVERDUE, O_DEADLINE_BEFORE,
    O_UPDATED_SINCE, O_OPEN_TASKS, O_IDEMPOTENCY_KEY, O_EXPIRES, O_NOTE, O_OPEN, O_DONE,
    O_KIND, O_CASE, O_ASSIGNEE, O_RESULT, O_RESULT_FILE, O_EVENTS, O_SECRET_FILE,
    O_YES, O_DRY_RUN, O_INACTIVE,
    O_TO, O_FROM, O_MAP, O_CASES, O_ALL, O_REQUEST, O_APPROVE, /* migrate */
    O_VERBOSE, O_LIVE, O_FORMAT, O_DUE, O_DIR,
};

static const struct optspec {
    const char *name;
    enum opt_id id;
    bool has_arg;
    uint64_t bit; /* 0 for global options */
} optspecs[] = {
    {"store", O_STORE, true, 0},
    {"actor", O_ACTOR, true, 0},
    {"reason", O_REASON, true, 0},
    {"plugins", O_PLUGINS, true, 0},
    {"json", O_JSON, false, 0},
    {"help", O_HELP, false, 0},
    {"version", O_VERSION, false, 0},
    {"verbose", O_VERBOSE, false, 0},
    {"live", O_LIVE, false, OPT_LIVE},
    {"due", O_DUE, false, OPT_DUE},
    {"role", O_ROLE, true, OPT_ROLE},
    {"state", O_STATE, true, OPT_STATE},
    {"limit", O_LIMIT, true, OPT_LIMIT},
    {"data", O_DATA, true, OPT_DATA},
    {"revision", O_REVISION, true, OPT_REVISION},
    {"workflow", O_WORKFLOW, true, OPT_WORKFLOW},
    {"signing-key", O_SIGNING_KEY, true, 0},
    {"since", O_SINCE, true, OPT_SINCE},
    {"output", O_OUTPUT, true, OPT_OUTPUT},
    {"format", O_FORMAT, true, OPT_FORMAT},
    {"file", O_FILE, true, OPT_FILE},
    {"key", O_KEY, true, OPT_KEY},
    {"chain-only", O_CHAIN_ONLY, false, OPT_CHAIN_ONLY},
    {"until", O_UNTIL, true, OPT_UNTIL},
    {"test-clock", O_TEST_CLOCK, false, OPT_TEST_CLOCK},
    {"key-dir", O_KEY_DIR, true, OPT_KEY_DIR},
    {"os-user", O_OS_USER, true, OPT_OS_USER},
    {"anchor", O_ANCHOR, true, OPT_ANCHOR},
    {"anchors", O_ANCHORS, true, OPT_ANCHORS},
    {"server", O_SERVER, true, OPT_SERVER},
    {"token-file", O_TOKEN_FILE, true, OPT_SERVER},
    {"after", O_AFTER, true, OPT_AFTER},
    {"grade", O_GRADE, true, OPT_QUERY},
    {"overdue", O_OVERDUE, false, OPT_QUERY},
    {"deadline-before", O_DEADLINE_BEFORE, true, OPT_QUERY},
    {"updated-since", O_UPDATED_SINCE, true, OPT_QUERY},
    {"open-tasks", O_OPEN_TASKS, false, OPT_QUERY},
    {"idempotency-key", O_IDEMPOTENCY_KEY, true, OPT_IDEM},
    {"expires", O_EXPIRES, true, OPT_TOKEN},
    {"note", O_NOTE, true, OPT_TOKEN},
    {"open", O_OPEN, false, OPT_TASKQ},
    {"done", O_DONE, false, OPT_TASKQ},
    {"kind", O_KIND, true, OPT_TASKQ},
    {"case", O_CASE, true, OPT_TASKQ},
    {"assignee", O_ASSIGNEE, true, OPT_TASKQ},
    {"result", O_RESULT, true, OPT_RESULT},
    {"result-file", O_RESULT_FILE, true, OPT_RESULT},
    {"events", O_EVENTS, true, OPT_WEBHOOK},
    {"secret-file", O_SECRET_FILE, true, OPT_WEBHOOK},
    {"yes", O_YES, false, OPT_DEPLOY},
    {"dry-run", O_DRY_RUN, false, OPT_DRY_RUN},
    {"inactive", O_INACTIVE, false, OPT_DEPLOY},
    {"to", O_TO, true, OPT_MIGRATE},
    {"from", O_FROM, true, OPT_MIGRATE},
    {"map", O_MAP, true, OPT_MIGRATE},
    {"cases", O_CASES, true, OPT_MIGRATE},
    {"all", O_ALL, false, OPT_MIGRATE},
    {"request", O_REQUEST, false, OPT_MIGRATE},
    {"approve", O_APPROVE, true, OPT_MIGRATE},
    {"dir", O_DIR, true, OPT_DIR},
};

/* ---- opening the store -------------------------------------------------- */

/* Open the engine on --store with --plugins and --signing-key, set its
 * clock (CASEFLOW_NOW) and actor; create the store when create. 0, or an
 * exit status after a message. */
int open_engine_mode(struct cli *c, bool create, bool readonly)
{
    cf_open_options opts;
    cf_error err;
    memset(&opts, 0, sizeof opts);
    opts.plugin_path = c->plugins;
    opts.key_path = c->signing_key;
    opts.create = create;
    opts.readonly = readonly;
    int rc = cf_engine_open(c->store, &opts, &c->engine, &err);
    if (rc < 0)
        return fail(rc, &err);
    if (c->have_now && cf_engine_set_clock(c->engine, c->now) != 0) {
        say("CASEFLOW_NOW is honoured only on a store made with caseflow init "
            "--test-clock; this store runs on the system clock (unset CASEFLOW_NOW)");
        return EXIT_USAGE;
    }
    if (c->actor)
        cf_engine_set_actor(c->engine, c->actor, c->reason);
    return 0;
}

int open_engine(struct cli *c, bool create)
{
    return open_engine_mode(c, create, false);
}

/* ---- the command table -------------------------------------------------- */

static const struct command commands[] = {
    {"init", NULL, cmd_init, 0, 0, OPT_TEST_CLOCK | OPT_KEY_DIR | OPT_OS_USER,
     "[--key-dir DIR] [--os-user LOGIN] [--test-clock]",
     "Create the store (idempotent); --actor becomes its first administrator (bound to "
     "the OS account LOGIN with --os-user). The audit signing key pair is made apart "
     "from the store, in DIR (default <store>.keys/, 0700); in production keep it under "
     "another account or a mounted secret. --test-clock makes a store whose clock "
     "CASEFLOW_NOW may set (tests, demos, simulations; recorded in the chain)."},
    {"user", "add", cmd_user_add, 1, 1, OPT_ROLE | OPT_OS_USER,
     "NAME --role ROLE[,ROLE...]... [--os-user LOGIN]...",
     "Add a user with roles: analyst, officer, supervisor, authoriser, "
     "administrator; --os-user binds it to operating-system accounts."},
    {"user", "list", cmd_user_list, 0, 0, 0, "",
     "List users, their roles and the OS accounts they are bound to."},
    {"user", "disable", cmd_user_disable, 1, 1, 0, "NAME", "Disable a user."},
    {"user", "bind", cmd_user_bind, 2, 2, 0, "NAME LOGIN",
     "Bind a user to an OS account (a login name or a uid): only processes running as "
     "one of its accounts may act as it."},
    {"user", "unbind", cmd_user_unbind, 2, 2, 0, "NAME LOGIN",
     "Remove a user's binding to an OS account."},
    {"workflow", "deploy", cmd_workflow_deploy, 1, 1, OPT_DEPLOY | OPT_DRY_RUN,
     "FILE|NAME --reason R [--yes] [--dry-run] [--inactive]",
     "Deploy the workflow in FILE (or the installed workflow NAME, e.g. polit) as a new "
     "version (a source deployed before: that version again) and make it the active one "
     "new referrals start on (--inactive: keep the active version). Needs --reason; prints "
     "the changes against the active version and asks for confirmation on a terminal "
     "(--yes: do not ask; not on a terminal --yes is required). --dry-run checks it and "
     "prints the changes and the summary of a replay of the recorded cases through it "
     "(workflow simulate), deploying nothing (its one write: that replay's audited read)."},
    {"workflow", "list", cmd_workflow_list, 0, 0, 0, "",
     "List deployed workflow versions: the active one (new referrals start on it) marked, "
     "each version's open cases, and whether its plugins are pinned (PINNED no: deployed "
     "before pins existed; workflow repin pins them)."},
    {"workflow", "diff", cmd_workflow_diff, 3, 3, 0, "NAME V1 V2|FILE",
     "What changes from version V1 of workflow NAME to version V2, or to the workflow in "
     "FILE (bundled as deploy would; nothing written): states, transitions, roles, timers, "
     "deadlines, plugins and settings added, removed and changed, then the source diff."},
    {"workflow", "activate", cmd_workflow_activate, 2, 2, 0, "NAME VERSION --reason R",
     "Make deployed VERSION of workflow NAME the one new referrals start on (administrator; "
     "audited). Rolling back is activating the earlier version: no new version is made."},
    {"workflow", "repin", cmd_workflow_repin, 2, 2, 0, "NAME VERSION --reason R",
     "Accept the plugin builds found now for deployed VERSION of workflow NAME "
     "(administrator; audited): deploy pins each plugin's version and SHA-256, and a "
     "command that finds another build refuses the states using it (exit 69) until this "
     "is run. Prints each plugin's old and new version and hash; nothing to change: "
     "writes nothing."},
    {"workflow", "check", cmd_workflow_check, 1, 1, OPT_LIVE, "FILE [--live]",
     "Lint FILE without deploying it: prints file:line: rule: message for "
     "each finding; exit 65 when there are any. Needs no store. With --live, "
     "also the timers of open cases in the store (--store) that FILE's workflow "
     "would not take (rule live-timer; an audited read, with --reason)."},
    {"workflow", "test", cmd_workflow_test, 1, (size_t)-1, OPT_WORKFLOW,
     "DIR|FILE... [--workflow FILE] [--plugins PATH] [--json] [--verbose]",
     "Run workflow test scenarios (.lua or .json files; a DIR: its *.lua and *.json "
     "files but _helpers) in a store in memory with the real plugins: one line per "
     "scenario, 'ok NAME' or 'FAIL NAME: step N: ...', then 'N passed, N failed'; exit 0 "
     "when all pass, 1 when any fails, 65 for a file that is not a valid scenario. "
     "--workflow FILE runs every scenario on FILE instead of its own workflow. "
     "No store is opened (docs/workflows.md, \"Workflow tests\")."},
    {"refer", NULL, cmd_refer, 0, 1, OPT_WORKFLOW | OPT_SERVER, "[--workflow NAME] [FILE|-]",
     "Take in one referral (a JSON object) or many (JSON lines) from FILE or "
     "standard input; prints each case's id, state and whether it was created. "
     "A rejected line is reported with its number and the others go on."},
    {"show", NULL, cmd_show, 1, 1, OPT_SERVER, "ID",
     "Show a case. A read of case data: audited with its --reason."},
    {"list", NULL, cmd_list, 0, 0,
     OPT_STATE | OPT_LIMIT | OPT_WORKFLOW | OPT_QUERY | OPT_WFVERSION | OPT_AFTER | OPT_SERVER,
     "[--state STATE] [--workflow NAME[@VERSION]] [--version N] [--grade GRADE] [--overdue] "
     "[--deadline-before TIME] [--updated-since TIME] [--open-tasks] [--limit N] "
     "[--after CURSOR]",
     "List cases, in intake order, with filters: their state, workflow and version "
     "(--workflow NAME@VERSION or --version N), "
     "grade, response deadline passed (--overdue) or before a time, updated since a "
     "time (TIME: RFC 3339, a date YYYY-MM-DD or Unix seconds), with open tasks. "
     "Without --after, every case (or the first --limit N); with --after, one page "
     "of --limit N (1-1000, default 100) after the cursor (\"\" for the first page): "
     "--json prints {items, next}, else the table and, on standard error, the next "
     "cursor. Audited with its --reason."},
    {"history", NULL, cmd_history, 1, 1, OPT_SERVER, "ID",
     "Show a case's full history. Audited with its --reason."},
    {"act", NULL, cmd_act, 2, 2, OPT_DATA | OPT_REVISION | OPT_IDEM | OPT_SERVER,
     "ID EVENT [--data JSON|@FILE|@-] [--revision N] [--idempotency-key KEY]",
     "Record an action or a result on a case; with --revision, only if the "
     "case is still at revision N (else exit 75). --data @FILE reads a regular "
     "file of your own of at most 1 MiB; @- reads standard input. With "
     "--idempotency-key (1-128 printable ASCII characters) a retry is safe: the same "
     "key, event and data again prints the first result (replayed) and changes "
     "nothing; the same key with anything else is exit 65."},
    {"tick", NULL, cmd_tick, 0, 0, 0, "",
     "Fire every timer due by the engine clock (CASEFLOW_NOW in tests)."},
    {"workflow", "migrate", cmd_workflow_migrate, 0, (size_t)-1,
     OPT_MIGRATE | OPT_DRY_RUN | OPT_SERVER,
     "NAME --to VERSION [--from V] [--map OLD=NEW]... (--cases ID... | --all) [--dry-run] "
     "[--request] --reason TEXT | --approve ID --reason TEXT",
     "Move open cases of workflow NAME to deployed version VERSION (administrator): each "
     "keeps its state or the one --map gives, its timers recomputed under the new version "
     "from when it entered its state, its deadline moved to the new deadline_days; no "
     "guard or step runs. --dry-run prints the plan and moves nothing. With the policy "
     "migrate_four_eyes=true, --request records the migration and another administrator "
     "runs it with --approve ID."},
    {"workflow", "simulate", cmd_workflow_simulate, 1, (size_t)-1, OPT_MIGRATE | OPT_SINCE,
     "FILE [--cases ID...] [--since DATE] [--json]",
     "Replay every recorded case of the workflow FILE names (or the cases given, or those "
     "referred since DATE: YYYY-MM-DD or RFC 3339) through the workflow in FILE, in memory, "
     "with the real plugins: each referral, act, timer and repeat referral at its recorded "
     "time as its recorded actor. Prints each case where FILE diverges from what was "
     "recorded (state, route, outcome, grade, deadline, timer, or an event it would refuse, "
     "with the refusal), then how many cases replayed, are unchanged, change route and are "
     "now refused, by state. Administrator; a read of case data (needs --reason, audited); "
     "writes nothing else. Exit 66: no such FILE or case; 65: FILE is not a valid workflow."},
    {"workflow", "graph", cmd_workflow_graph, 1, 1, OPT_WFVERSION | OPT_FORMAT | OPT_OUTPUT,
     "NAME [--version N] | FILE  [--format dot|svg|png] [--output FILE]",
     "Draw deployed workflow NAME (its active version, or version N) or the workflow in "
     "FILE (a path, or a name ending in .lua) before it is deployed: states with their "
     "steps, roles, timers and deadlines, transitions with their events and roles. DOT "
     "text by default; svg and png run Graphviz's dot (exit 69 when it is not installed). "
     "--output writes to FILE instead of standard output."},
    {"report", NULL, cmd_report, 0, 0,
     OPT_SINCE | OPT_WORKFLOW | OPT_WFVERSION | OPT_SERVER | OPT_FORMAT | OPT_OUTPUT,
     "[--since DATE] [--workflow NAME[@VERSION]] [--version N] [--format text|html] "
     "[--output FILE]",
     "Cases by state, by version and outcome, routes taken and how many came back, "
     "escalations, median days to visit and warrant, deadlines met and missed by grade, "
     "monthly intake; each case counted by its own version's report settings. --workflow "
     "NAME@VERSION or --version N: only that version's cases. --format html writes one "
     "self-contained web page (tables and bar charts, no script, nothing fetched) to "
     "standard output or --output FILE. Audited with its --reason."},
    {"audit", "verify", cmd_audit_verify, 0, 0,
     OPT_KEY | OPT_FILE | OPT_CHAIN_ONLY | OPT_ANCHORS,
     "[--key PUB] [--file EXPORT] [--anchors LOG] [--chain-only]",
     "Verify the audit chain, its rules (time, actors, checkpoints), its signed "
     "checkpoints, the schema and every audited table against it (exit 65 at the first "
     "break, naming it). --key pins the public key; --file verifies an export without "
     "any store; --anchors checks that every head in the anchor log is still in the "
     "store (none cut off, no older copy put back); --chain-only checks the chain, its "
     "rules and its signed checkpoints but not the tables (faster: a store's tables are "
     "most of what verify reads)."},
    {"audit", "checkpoint", cmd_audit_checkpoint, 0, 0, OPT_ANCHOR, "[--anchor LOG]",
     "Verify the records since the last checkpoint and sign the chain's head now "
     "(administrator; needs the signing key); --anchor also appends the signed head to "
     "the anchor log LOG, kept away from the store."},
    {"audit", "export", cmd_audit_export, 0, 0, OPT_SINCE | OPT_OUTPUT,
     "[--since SEQ] [--output FILE]",
     "Write audit records (and checkpoints) as JSON lines with the public key, for an "
     "inspector (administrator; audited as a disclosure)."},
    {"store", "copy", cmd_store_copy, 2, 2, OPT_KEY_DIR, "FROM TO [--key-dir DIR]",
     "Copy the store FROM (a file or a postgresql:// URI) into a new store TO on either "
     "backend: a file that does not exist, or a database without a caseflow schema. FROM "
     "is verified first; every table is copied byte for byte in one transaction (nothing "
     "is left at TO if it fails or is killed); a store.copy record signed with the store's "
     "key ends the copy's chain; then TO is verified. Administrator, with the signing key. "
     "--key-dir copies the key pair into DIR and records it there (default: where FROM "
     "records it). Exit 65: FROM does not verify, or TO exists; 66: no FROM; 69: TO's "
     "server cannot be reached."},
    {"retention", "due", cmd_retention_due, 0, 0, 0, "",
     "List closed cases whose retention review date has come (administrator; a read "
     "of case data: needs --reason and is audited)."},
    {"retention", "keep", cmd_retention_keep, 1, 1, OPT_UNTIL, "ID [--until DATE]",
     "Record a decision to keep a case and set its next review (needs --reason)."},
    {"retention", "hold", cmd_retention_hold, 1, 1, 0, "ID",
     "Place a legal hold on a case: it cannot be disposed of (needs --reason)."},
    {"retention", "release", cmd_retention_release, 1, 1, 0, "ID",
     "Lift a legal hold (needs --reason)."},
    {"retention", "dispose", cmd_retention_dispose, 0, 1, OPT_DUE, "ID | --due",
     "Erase a closed case's personal data and history payloads, keeping their digests "
     "(needs --reason; not under legal hold; review due); --due: every case `retention "
     "due` lists, passing over those under legal hold."},
    {"store", "grant", cmd_store_grant, 1, 1, 0, "ROLE",
     "PostgreSQL store: give the login role ROLE exactly the privileges caseflow's "
     "commands and caseflowd need (no UPDATE or DELETE of the audit chain, no CREATE), "
     "revoking anything else it held on the store (administrator, connected as the "
     "schema's owner; idempotent; recorded in the audit chain). docs/postgres.md, "
     "\"Roles and grants\". A SQLite store: exit 64."},
    {"policy", "show", cmd_policy_show, 0, 0, 0, "", "Show the store's policies."},
    {"policy", "set", cmd_policy_set, 2, 2, 0, "KEY VALUE",
     "Set a store policy (administrator; audited): require_reason true|false, "
     "checkpoint_interval N (0: off), anchor /PATH (\"\": none), require_os_user "
     "true|false, workflow_budget_ms N, common_key_limit N, migrate_four_eyes true|false, "
     "plugin_path DIR[:DIR...] (absolute directories searched for plugins by every "
     "command and caseflowd unless --plugins or CASEFLOW_PLUGIN_PATH is given; \"\": none), "
     "plugin_call_ms N (10-600000: one plugin call's wall time; default 5000)."},
    {"task", "list", cmd_task_list, 0, 0, OPT_TASKQ | OPT_LIMIT | OPT_AFTER | OPT_SERVER,
     "[--open|--done] [--kind KIND] [--case ID] [--assignee USER] [--limit N] "
     "[--after ID]",
     "List tasks cases opened (a MASH referral...), oldest first. Without --after, "
     "every task (or the first --limit N); with --after, one page after that task id. "
     "A read: audited with its --reason."},
    {"task", "claim", cmd_task_claim, 1, 1, OPT_SERVER, "ID",
     "Claim an open task (a user holding its role, or a supervisor); audited."},
    {"task", "complete", cmd_task_complete, 1, 1, OPT_RESULT | OPT_SERVER,
     "ID [--result JSON|@FILE|@- | --result-file FILE]",
     "Complete a task with a result (a JSON object); it is closed for good. Audited."},
    {"feed", NULL, cmd_feed, 0, 0, OPT_AFTER | OPT_LIMIT | OPT_SERVER,
     "[--after SEQ] [--limit N]",
     "Domain events (CloudEvents) in commit order after SEQ, --limit N at a time (1-1000, "
     "default 100): --json prints {events, next}, else one line per event and, after a "
     "full page, the next --after on standard error. A read: audited with its --reason."},
    {"token", "create", cmd_token_create, 1, 1, OPT_TOKEN,
     "USER [--expires RFC3339|DAYSd] [--note TEXT]",
     "Create a bearer token for caseflowd that acts as USER with USER's roles "
     "(administrator; audited). The token is printed once, on the last line, and "
     "never again: the store keeps only its hash."},
    {"token", "list", cmd_token_list, 0, 0, 0, "",
     "List tokens: id, user, note, expiry, revocation, last use (never the token)."},
    {"token", "revoke", cmd_token_revoke, 1, 1, 0, "ID",
     "Revoke a token (administrator; audited)."},
    {"webhook", "add", cmd_webhook_add, 1, 1, OPT_WEBHOOK,
     "URL --events TYPES --secret-file FILE",
     "Post domain events of TYPES (comma-separated: case.escalated,task.opened; a "
     "prefix case.*; or *) to URL (http or https), signed with HMAC-SHA256 under the "
     "secret in FILE (at least 16 bytes, a file others cannot read). Administrator; "
     "audited; caseflowd delivers."},
    {"webhook", "list", cmd_webhook_list, 0, 0, 0, "",
     "List webhooks and their delivery state (failing, pending, dead letters)."},
    {"webhook", "remove", cmd_webhook_remove, 1, 1, 0, "ID",
     "Remove a webhook (administrator; audited)."},
    {"webhook", "redeliver", cmd_webhook_redeliver, 1, 1, 0, "ID",
     "Queue a webhook's dead letters again (administrator; audited)."},
    {"plugin", "list", cmd_plugin_list, 0, 0, 0, "",
     "List the step plugins found on the search path."},
    {"plugin", "info", cmd_plugin_info, 1, 1, 0, "FILE",
     "Show the descriptor of the plugin module in FILE."},
    {"plugin", "new", cmd_plugin_new, 1, 1, OPT_DIR, "NAME [--dir D]",
     "Start a step plugin: write NAME.c (a working plugin using plugin.h and the helper "
     "library), a Makefile (make, make check, make install into pkg-config's pluginsdir or "
     "a DESTDIR), a test using the plugin test harness, workflow.lua using the plugin and a "
     "README into D (default ./NAME; it must not exist or be empty). NAME: 1 to 59 "
     "characters of a-z, 0-9 and _, starting with a letter. Needs no store; nothing is "
     "written on error (65: D is not empty, 74: it cannot be written)."},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const char global_help[] =
    "Global options (before or after the command words):\n"
    "  --store PATH    the store: a file, or a postgresql:// URI (env\n"
    "                  CASEFLOW_STORE; default ./caseflow.db)\n"
    "  --actor NAME    who acts (env CASEFLOW_ACTOR)\n"
    "  --reason TEXT   justification logged with reads and changes "
    "(env CASEFLOW_REASON)\n"
    "  --plugins PATH  colon-separated plugin directories searched first "
    "(env CASEFLOW_PLUGIN_PATH;\n"
    "                  without either: the store's plugin_path policy)\n"
    "  --signing-key PATH  the audit signing key (env CASEFLOW_KEY; default\n"
    "                  <store>.keys/<store name>.key, or where init put it)\n"
    "  --server SOCKET|URL  run refer, show, list, history, act, report, task and\n"
    "                  feed through caseflowd: its Unix socket (you act as the user\n"
    "                  bound to your OS account) or its http(s) URL (with a token\n"
    "                  from CASEFLOW_TOKEN or --token-file FILE); the service, not\n"
    "                  --actor, knows who acts; env CASEFLOW_SERVER\n"
    "  --json          machine output\n"
    "  --verbose       after a failure, its detail too (a workflow function's Lua\n"
    "                  traceback) on standard error\n"
    "  --help          this help; after a command, that command's help\n"
    "  --version       print the version\n"
    "Environment: CASEFLOW_NOW (RFC 3339) sets the engine clock, on a store made\n"
    "with init --test-clock only (exit 64 elsewhere).\n"
    "Exit status: 0 ok, 64 usage, 65 invalid input, 66 no such case or file,\n"
    "69 plugin or workflow missing, 70 internal, 74 store I/O, 75 conflict "
    "(retry),\n77 not permitted.\n";

static void print_synopsis(FILE *f, const struct command *cmd)
{
    fprintf(f, "caseflow %s%s%s%s%s\n", cmd->name, cmd->sub ? " " : "",
            cmd->sub ? cmd->sub : "", cmd->usage[0] ? " " : "", cmd->usage);
}

static void help_all(void)
{
    fputs("usage: caseflow [OPTIONS] COMMAND [ARGS]\n"
          "A case workflow engine: referrals in, decisions out, every change "
          "audited.\n\nCommands:\n",
          stdout);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        fputs("  ", stdout);
        print_synopsis(stdout, &commands[i]);
    }
    fputc('\n', stdout);
    fputs(global_help, stdout);
}

static void help_command(const struct command *cmd)
{
    fputs("usage: ", stdout);
    print_synopsis(stdout, cmd);
    printf("%s\n\n", cmd->summary);
    fputs(global_help, stdout);
}

/* Help for a group ("caseflow user --help"): its subcommands. */
static void help_group(const char *name)
{
    printf("usage: caseflow %s SUBCOMMAND [ARGS]\n\nSubcommands:\n", name);
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) {
            fputs("  ", stdout);
            print_synopsis(stdout, &commands[i]);
            printf("      %s\n", commands[i].summary);
        }
    fputc('\n', stdout);
    fputs(global_help, stdout);
}

static bool is_group(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].sub && strcmp(commands[i].name, name) == 0)
            return true;
    return false;
}

/* The command named by the first words; NULL after a usage message. */
static const struct command *find_command(struct cli *c, int *status)
{
    const char *name = c->words[0];
    const char *sub = c->nwords > 1 ? c->words[1] : NULL;
    *status = 0;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const struct command *cmd = &commands[i];
        if (strcmp(cmd->name, name) != 0)
            continue;
        if (!cmd->sub)
            return cmd;
        if (sub && strcmp(cmd->sub, sub) == 0)
            return cmd;
    }
    if (!is_group(name))
        *status = usage_error("unknown command '%s'", name);
    else if (c->help)
        *status = -1; /* group help, printed by the caller */
    else if (!sub)
        *status = usage_error("'%s' needs a subcommand", name);
    else
        *status = usage_error("unknown command '%s %s'", name, sub);
    return NULL;
}

/* ---- option parsing ------------------------------------------------------ */

static const struct optspec *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof optspecs / sizeof optspecs[0]; i++)
        if (strlen(optspecs[i].name) == len &&
            strncmp(optspecs[i].name, name, len) == 0)
            return &optspecs[i];
    return NULL;
}

static void set_opt(struct cli *c, const struct optspec *o, const char *val)
{
    switch (o->id) {
    case O_STORE: c->store = val; break;
    case O_ACTOR: c->actor = val; break;
    case O_REASON: c->reason = val; break;
    case O_PLUGINS: c->plugins = val; break;
    case O_JSON: c->json = true; break;
    case O_HELP: c->help = true; break;
    case O_VERSION: c->version = true; break;
    case O_ROLE: c->roles[c->nroles++] = val; break;
    case O_STATE: c->state = val; break;
    case O_LIMIT: c->limit = val; break;
    case O_DATA: c->data = val; break;
    case O_REVISION: c->revision = val; break;
    case O_WORKFLOW: c->workflow = val; break;
    case O_SIGNING_KEY: c->signing_key = val; break;
    case O_SINCE: c->since = val; break;
    case O_OUTPUT: c->output = val; break;
    case O_FORMAT: c->format = val; break;
    case O_FILE: c->file = val; break;
    case O_KEY: c->key = val; break;
    case O_CHAIN_ONLY: c->chain_only = true; break;
    case O_UNTIL: c->until = val; break;
    case O_TEST_CLOCK: c->test_clock = true; break;
    case O_KEY_DIR: c->key_dir = val; break;
    case O_OS_USER: c->os_users[c->nos_users++] = val; break;
    case O_ANCHOR: c->anchor = val; break;
    case O_ANCHORS: c->anchors = val; break;
    case O_SERVER: c->server = val; break;
    case O_TOKEN_FILE: c->token_file = val; break;
    case O_AFTER: c->after = val; break;
    case O_GRADE: c->grade = val; break;
    case O_OVERDUE: c->overdue = true; break;
    case O_DEADLINE_BEFORE: c->deadline_before = val; break;
    case O_UPDATED_SINCE: c->updated_since = val; break;
    case O_OPEN_TASKS: c->open_tasks = true; break;
    case O_IDEMPOTENCY_KEY: c->idempotency_key = val; break;
    case O_EXPIRES: c->expires = val; break;
    case O_NOTE: c->note = val; break;
    case O_OPEN: c->task_status = "open"; break;
    case O_DONE: c->task_status = "done"; break;
    case O_KIND: c->kind = val; break;
    case O_CASE: c->case_id = val; break;
    case O_ASSIGNEE: c->assignee = val; break;
    case O_RESULT: c->result = val; break;
    case O_RESULT_FILE: c->result_file = val; break;
    case O_EVENTS: c->events = val; break;
    case O_SECRET_FILE: c->secret_file = val; break;
    case O_YES: c->yes = true; break;
    case O_DRY_RUN: c->dry_run = c->mig.dry_run = true; break;
    case O_INACTIVE: c->inactive = true; break;
    case O_TO: c->mig.to = val; break;
    case O_FROM: c->mig.from = val; break;
    case O_MAP: c->mig.maps[c->mig.nmaps++] = val; break;
    case O_CASES: c->mig.cases[c->mig.ncases++] = val; break;
    case O_ALL: c->mig.all = true; break;
    case O_REQUEST: c->mig.request = true; break;
    case O_APPROVE: c->mig.approve = val; break;
    case O_VERBOSE: c->verbose = true; break;
    case O_LIVE: c->live = true; break;
    case O_DUE: c->due = true; break;
    case O_DIR: c->dir = val; break;
    }
    c->used |= o->bit;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* Split argv into options and words. Returns 0 or a usage status. */
static int parse_args(struct cli *c, int argc, char **argv)
{
    bool words_only = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (words_only || a[0] != '-' || strcmp(a, "-") == 0) {
            c->words[c->nwords++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            words_only = true;
            continue;
        }
        if (strcmp(a, "-h") == 0) {
            c->help = true;
            continue;
        }
        if (a[1] != '-')
            return usage_error("unknown option '%s'", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct optspec *o = find_opt(name, len);
        if (!o)
            return usage_error("unknown option '--%.*s'", (int)len, name);
        /* "--version N" is list's workflow version filter; a bare
         * --version prints the program's version, as everywhere. */
        const char *wfv = eq ? eq + 1 : i + 1 < argc ? argv[i + 1] : NULL;
        if (o->id == O_VERSION && wfv && all_digits(wfv)) {
            c->wf_version = wfv;
            c->used |= OPT_WFVERSION;
            i += !eq;
            continue;
        }
        const char *val = NULL;
        if (o->has_arg) {
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return usage_error("option --%s needs a value", o->name);
        } else if (eq) {
            return usage_error("option --%s takes no value", o->name);
        }
        set_opt(c, o, val);
    }
    return 0;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

static void apply_env(struct cli *c)
{
    if (!c->store)
        c->store = env("CASEFLOW_STORE");
    if (!c->actor)
        c->actor = env("CASEFLOW_ACTOR");
    if (!c->reason)
        c->reason = env("CASEFLOW_REASON");
    /* init only (no other command reads key_dir): where a new store's key
     * is made, which a PostgreSQL store needs. */
    if (!c->key_dir)
        c->key_dir_env = env("CASEFLOW_KEY_DIR");
    /* CASEFLOW_SERVER: for the commands that can run through caseflowd;
     * set in dispatch, once the command is known. */
    /* plugins: the library reads CASEFLOW_PLUGIN_PATH itself when NULL. */
}

/* The first command option not meant for cmd, or NULL. */
static const char *stray_option(const struct cli *c, const struct command *cmd)
{
    if ((c->used & OPT_WFVERSION) && !(cmd->opts & OPT_WFVERSION))
        return "version";
    for (size_t i = 0; i < sizeof optspecs / sizeof optspecs[0]; i++)
        if (optspecs[i].bit && (c->used & optspecs[i].bit) &&
            !(cmd->opts & optspecs[i].bit))
            return optspecs[i].name;
    return NULL;
}

static int print_version(const struct cli *c)
{
    if (c->json) {
        json_t *o = json_pack("{s:s}", "version", cf_version());
        print_json(o, true);
        json_decref(o);
    } else {
        printf("caseflow %s\n", cf_version());
    }
    return 0;
}

/* A reason is a justification recorded with reads and changes: text with
 * at least one character that is not white space. */
static bool says_something(const char *text)
{
    for (; *text; text++)
        if (!strchr(" \t\n\r\v\f", *text))
            return true;
    return false;
}

/* Pick the command, check its arguments, and run it. */
static int dispatch(struct cli *c)
{
    int st;
    if (c->version && !c->help) /* "caseflow anything --version" */
        return print_version(c);
    if (c->nwords == 0) {
        if (c->help) {
            help_all();
            return 0;
        }
        return usage_error("no command given");
    }
    c->cmd = find_command(c, &st);
    if (!c->cmd) {
        if (st == -1) {
            help_group(c->words[0]);
            return 0;
        }
        return st;
    }
    if (c->help) {
        help_command(c->cmd);
        return 0;
    }
    size_t nw = c->cmd->sub ? 2 : 1;
    c->args = c->words + nw;
    c->nargs = c->nwords - nw;
    if (!c->server && (c->cmd->opts & OPT_SERVER))
        c->server = env("CASEFLOW_SERVER");
    const char *stray = stray_option(c, c->cmd);
    if (stray)
        return usage_error("option --%s does not apply to '%s%s%s'", stray,
                           c->cmd->name, c->cmd->sub ? " " : "",
                           c->cmd->sub ? c->cmd->sub : "");
    if (c->nargs < c->cmd->min_args || c->nargs > c->cmd->max_args) {
        fputs(c->nargs < c->cmd->min_args
                  ? "caseflow: missing argument; usage: "
                  : "caseflow: too many arguments; usage: ",
              stderr);
        print_synopsis(stderr, c->cmd);
        return EXIT_USAGE;
    }
    if (c->reason && !says_something(c->reason)) {
        say("--reason: must say why (it is empty or only spaces)");
        return EXIT_USAGE;
    }
    const char *now = getenv("CASEFLOW_NOW");
    if (now && now[0]) {
        if (!parse_rfc3339(now, &c->now)) {
            say("CASEFLOW_NOW: not an RFC 3339 time with a zone: '%s'", now);
            return EXIT_USAGE;
        }
        c->have_now = true;
    }
    return c->cmd->run(c);
}

int main(int argc, char **argv)
{
    /* A plugin's printf must not land in the output a script parses: from
     * here on stdout is a stream of our own and descriptor 1 is stderr.
     * Without a descriptor to spare, the output goes on unprotected. */
    cf_protect_stdout(NULL);
    struct cli c;
    memset(&c, 0, sizeof c);
    c.words = calloc((size_t)argc + 1, sizeof *c.words);
    c.roles = calloc((size_t)argc + 1, sizeof *c.roles);
    c.os_users = calloc((size_t)argc + 1, sizeof *c.os_users);
    c.mig.maps = calloc((size_t)argc + 1, sizeof *c.mig.maps);
    c.mig.cases = calloc((size_t)argc + 1, sizeof *c.mig.cases);
    if (!c.words || !c.roles || !c.os_users || !c.mig.maps || !c.mig.cases) {
        say("out of memory");
        return 70;
    }
    int st = parse_args(&c, argc, argv);
    if (!st) {
        apply_env(&c);
        st = dispatch(&c);
    }
    if (st && c.verbose)
        say_detail(cf_engine_error_detail(c.engine));
    cf_engine_close(c.engine);
    remote_close(&c);
    free(c.words);
    free(c.roles);
    free(c.os_users);
    free(c.mig.maps);
    free(c.mig.cases);
    /* Output that never arrived is a failure: a command that succeeded
     * fails with 74 (one that failed has said why already). */
    if (!st)
        st = check_stdout();
    if (fclose(stdout) != 0 && !st) {
        say("cannot write output: %s", strerror(errno));
        st = EXIT_IOERR;
    }
    return st;
}

