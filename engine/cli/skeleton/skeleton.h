/*
 * The files `caseflow plugin new` writes (cmd_plugin.c), from the templates
 * in engine/cli/skeleton/ (NAME.tmpl), which the build turns into C
 * (skeleton_files.c, by embed.sh).
 */
#ifndef CASEFLOW_CLI_SKELETON_H
#define CASEFLOW_CLI_SKELETON_H

struct skeleton_file {
    const char *name;          /* as written, with @NAME@ for the plugin's name */
    const char *const *lines;  /* each with its newline, NULL-terminated; @NAME@ */
};

/* Every file, ending with {NULL, NULL}. */
extern const struct skeleton_file skeleton_files[];

#endif
