/*
 * Workflow test scenarios (docs/workflows.md, "Workflow tests"), shared by
 * scenario_parse.c (reading and checking a scenario file) and scenario.c
 * (running one against an in-memory store).
 */
#ifndef CF_SCENARIO_H
#define CF_SCENARIO_H

#include "internal.h"

/* The engine's own administrator in a scenario's store. */
#define CF_SCENARIO_ADMIN "workflow.test"
/* The case a scenario's top-level referral makes. */
#define CF_SCENARIO_MAIN "main"

/*
 * Check scenario (borrowed, as read from file `file`) against the format
 * and normalise it into a new document (*out, new reference): times as
 * Unix seconds (members "start" and each step's "at", expected "deadline"
 * and timer "due"), defaults filled in ("name", "users", each step's
 * "case"), steps numbered from 1 ("n"). dir is the file's directory, for
 * the workflow path (NULL: "."). CF_EINVALID names the bad field by its
 * path ("steps[3].expect.state") in err->field and "FILE: PATH: problem"
 * in the message.
 */
int cf_scenario_normalise(const char *file, const char *dir, const json_t *scenario,
                          json_t **out, cf_error *err);

#endif /* CF_SCENARIO_H */
