-- The enforcement route (DOMAIN.md 8): a high-risk case gets a warrant,
-- which PACE allows to be executed within three months of issue; one not
-- executed lapses (the warrant.expired timer) and the case goes back to
-- enforcement for a new one. Executed: devices seized, forensics, and the
-- supervisor records the outcome.
local p = require("_polit")
local executed = {
  arrested = true, voluntary_interview = false,
  devices = { { exhibit = "EX-0001", type = "laptop" }, { exhibit = "EX-0002", type = "phone" } },
}

return {
  name = "enforcement: a lapsed warrant, execution, forensics, charge",
  workflow = "../polit.lua",
  start = "2026-11-03T10:00:00Z",
  users = p.users,
  referral = p.referral("SCN-ENF-1", { category = "A" }),
  steps = p.steps(
    p.to_assessment("+1h", p.checks({ prior_history = true, distribution_signs = true })),
    {
      { expect = { grade = "very_high", deadline = "+1d1h" } },
      { at = "+2h", as = "supervisor1", act = "assessment.approved",
        expect = { state = "enforcement", route = "enforcement", timers = {} } },
      { at = "+1d", as = "officer1", act = "warrant.issued",
        data = { court = "Exampleton Magistrates", issued_at = "2026-11-05T09:30:00Z" },
        refused = { exit = 65, message = "issued_at" } },
      { as = "officer1", act = "warrant.executed", data = executed,
        refused = { exit = 65, message = "does not take" } },
      { as = "officer1", act = "warrant.issued",
        data = { court = "Exampleton Magistrates", issued_at = "2026-11-04T09:30:00Z" },
        expect = { state = "warrant",
                   timers = { { event = "warrant.expired", due = "2027-02-04T09:30:00Z" } } } },
      { as = "officer1", act = "warrant.expired", refused = { exit = 77 } },
      -- very high: a response (the warrant executed) was due within a day
      { at = "+92d", tick = true, expect = { fired = { "deadline.missed" }, state = "warrant" } },
      { at = "+93d", tick = true,
        expect = { fired = { "warrant.expired" }, state = "enforcement", timers = {},
                   data = { ["warrant_lapses.1.issued_at"] = "2026-11-04T09:30:00Z" } } },
      { at = "+94d", as = "officer1", act = "warrant.issued",
        data = { court = "Exampleton Magistrates", issued_at = "2027-02-05T09:00:00Z" },
        expect = { state = "warrant" } },
      { at = "+95d", as = "officer1", act = "warrant.executed",
        data = { arrested = true, voluntary_interview = true, devices = {} },
        refused = { exit = 65, message = "voluntary_interview" } },
      { as = "officer1", act = "warrant.executed", data = executed,
        expect = { state = "forensics", timers = {} } },
      { at = "+200d", as = "officer1", act = "forensics.completed",
        data = { counts = { A = 3, B = 2, C = 14 } },
        expect = { state = "charging" } },
      { as = "officer1", act = "outcome.recorded", data = { outcome = "charged" },
        refused = { exit = 77 } },
      { as = "supervisor1", act = "outcome.recorded", data = { outcome = "charged" },
        expect = { state = "closed", outcome = "charged" } },
    }
  ),
}
