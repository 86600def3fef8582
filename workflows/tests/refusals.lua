-- Refusals (DOMAIN.md "Roles", docs/polit.md "Events"): an event from a role
-- the state does not allow exits 77; an event the state has no transition
-- for exits 65; the authoriser must not be the applicant (four eyes, 77);
-- a billing address is refused (65); event data is checked field by field
-- (an unknown field, a wrong type, a missing field: 65); events the engine
-- raises are never a person's (77). Each refusal leaves the case as it was
-- (the runner checks its revision).
local p = require("_polit")

return {
  name = "refusals by role, state, four eyes and data",
  workflow = "../polit.lua",
  start = "2026-11-03T10:00:00Z",
  users = p.users,
  referral = p.referral("SCN-REF-1"),
  steps = {
    { at = "+1h", as = "analyst1", act = "authorisation.applied", data = p.applied,
      refused = { exit = 77, message = "needs role" } },
    { as = "officer1", act = "visit.completed", data = p.visited, refused = { exit = 65 } },
    { as = "officer1", act = "authorisation.applied",
      data = { necessity = "x", proportionality = "y", legal_bassis = "z" },
      refused = { exit = 65, message = "legal_bassis" } },
    { as = "officer1", act = "authorisation.applied",
      data = { necessity = 42, proportionality = "y" },
      refused = { exit = 65, message = "necessity" } },
    { as = "officer1", act = "authorisation.applied", data = { necessity = "x" },
      refused = { exit = 65, message = "proportionality" } },
    { as = "dual1", act = "authorisation.applied", data = p.applied,
      expect = { state = "authorisation" } },
    -- the applicant may not grant their own application, whatever roles they hold
    { as = "dual1", act = "authorisation.granted", data = p.granted, refused = { exit = 77 } },
    { as = "officer1", act = "authorisation.granted", data = p.granted, refused = { exit = 77 } },
    { as = "authoriser1", act = "authorisation.granted", data = p.granted,
      expect = { state = "subscriber" } },
    { as = "analyst1", act = "subscriber.resolved", data = p.billing,
      refused = { exit = 65, message = "billing" } },
    { as = "supervisor1", act = "subscriber.resolved", data = p.resolved(),
      refused = { exit = 77 } },
    { as = "officer1", act = "subscriber.resolved", data = p.resolved(),
      expect = { state = "checks" } },
    { as = "officer1", act = "checks.completed", data = p.checks(), refused = { exit = 77 } },
    { as = "analyst1", act = "checks.completed", data = p.checks(),
      expect = { state = "assessment" } },
    { as = "officer1", act = "assessment.approved", refused = { exit = 77 } },
    { as = "supervisor1", act = "assessment.approved", data = { override = 3 },
      refused = { exit = 65, message = "override" } },
    { as = "supervisor1", act = "assessment.approved", expect = { state = "visit" } },
    { as = "supervisor1", act = "visit.completed", data = p.visited, refused = { exit = 77 } },
    { as = "officer1", act = "visit.completed", data = { advice_given = true },
      refused = { exit = 65, message = "letter_issued" } },
    { as = "officer1", act = "monitoring.expired", refused = { exit = 65 } },
    { as = "officer1", act = "visit.completed", data = p.visited,
      expect = { state = "monitoring" } },
    { as = "officer1", act = "monitoring.expired", refused = { exit = 77 } },
    { as = "officer1", act = "no.such.event", refused = { exit = 65 } },
    { expect = { state = "monitoring" } },
  },
}
