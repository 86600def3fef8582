-- The supervisor signs off the grade and the route, and may override the
-- route with a reason (DOMAIN.md 4): a medium case sent to a visit, a low
-- one to enforcement. An override without a reason is refused.
local p = require("_polit")

return {
  name = "supervisor's route override",
  workflow = "../polit.lua",
  start = "2026-11-03T10:00:00Z",
  users = p.users,
  steps = p.steps(
    { { at = "+1h", as = "analyst1", refer = p.referral("SCN-OVR-1"), case = "to_visit" } },
    p.to_assessment("+1h", p.checks({ children_in_household = true }), "to_visit", "1 Ovr Road"),
    {
      { case = "to_visit", expect = { grade = "medium" } },
      { case = "to_visit", as = "supervisor1", act = "assessment.approved",
        data = { override = "visit" }, refused = { exit = 65, message = "reason" } },
      { case = "to_visit", as = "analyst1", act = "assessment.approved",
        data = { override = "visit", reason = "x" }, refused = { exit = 77 } },
      { case = "to_visit", as = "supervisor1", act = "assessment.approved",
        data = { override = "visit", reason = "children are grown; joint visit with MASH" },
        expect = { state = "visit", route = "visit",
                   data = { ["route.override"] = "visit" } } },
    },
    { { at = "+2h", as = "analyst1", refer = p.referral("SCN-OVR-2"), case = "to_enforcement" } },
    p.to_assessment("+2h", p.checks(), "to_enforcement", "2 Ovr Road"),
    {
      { case = "to_enforcement", expect = { grade = "low" } },
      { case = "to_enforcement", as = "supervisor1", act = "assessment.approved",
        data = { override = "enforcement", reason = "intelligence not yet on the PNC" },
        expect = { state = "enforcement", route = "enforcement" } },
    }
  ),
}
