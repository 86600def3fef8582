-- The visit route (DOMAIN.md 5-7): a category C, once, no-history case
-- with a corroborated address grades low, the supervisor's approval sends
-- it to a visit, the officer leaves a warning letter, and the address is
-- watched for 365 days; no further report: closed, warned.
local p = require("_polit")

return {
  name = "visit route: warning letter, monitoring expires",
  workflow = "../polit.lua",
  start = "2026-11-03T10:00:00Z",
  users = p.users,
  referral = p.referral("SCN-VISIT-1"),
  steps = p.steps(
    { { expect = { state = "authorisation", deadline = false, timers = {} } } },
    p.to_assessment("+1h"),
    {
      { expect = { grade = "low", deadline = "+30d1h" } },
      { at = "+2d", as = "supervisor1", act = "assessment.approved",
        expect = { state = "visit", route = "visit" } },
      { at = "+5d", as = "officer1", act = "visit.no_answer",
        expect = { state = "visit" } },
      { at = "+6d", as = "officer1", act = "visit.completed", data = p.visited,
        expect = { state = "monitoring",
                   timers = { { event = "monitoring.expired", due = "+371d" } } } },
      { at = "+370d", tick = true, expect = { fired = {}, state = "monitoring" } },
      { at = "+371d", tick = true,
        expect = { fired = { "monitoring.expired" }, state = "closed",
                   outcome = "warned_no_further_reports", timers = {} } },
    }
  ),
}
