-- A repeat report linked by the resolved address escalates a case that is
-- still waiting for its visit: the second case's subscriber resolves to the
-- first case's installation address.
local p = require("_polit")

return {
  name = "escalation: the same address while a visit is pending",
  workflow = "../polit.lua",
  start = "2026-11-03T10:00:00Z",
  users = p.users,
  referral = p.referral("SCN-ESCA-1"),
  steps = p.steps(
    p.to_assessment("+1h", nil, nil, "7 Repeat Street"),
    {
      { at = "+2h", as = "supervisor1", act = "assessment.approved",
        expect = { state = "visit" } },
      { at = "+5d", as = "analyst1", case = "second", refer = p.referral("SCN-ESCA-2"),
        expect = { case = "main", state = "visit" } },
    },
    p.to_assessment("+6d", nil, "second", "7 Repeat Street"),
    {
      { expect = { state = "enforcement", deadline = "+7d",
                   data = { ["escalation.from"] = "visit" },
                   tasks = { { kind = "escalation", role = "officer" } } } },
      -- no visit once escalated
      { as = "officer1", act = "visit.completed", data = p.visited, refused = { exit = 65 } },
    }
  ),
}
