-- Monitoring and escalation (DOMAIN.md 7): after a warning the address is
-- watched; a further report linked to the same person (the same online
-- account) or the same address escalates the case: an officer task, a
-- one-day response deadline, and the enforcement route. A file hash alone
-- never escalates (it names the material, not a person).
local p = require("_polit")
local account = { { provider = "example-mail", id = "user.one" } }

return {
  name = "escalation: a warned address comes back",
  workflow = "../polit.lua",
  start = "2026-11-03T10:00:00Z",
  users = p.users,
  referral = p.referral("SCN-ESC-1", { accounts = account, hash = string.rep("ab", 16) }),
  steps = p.steps(
    p.to_assessment("+1h"),
    {
      { at = "+2h", as = "supervisor1", act = "assessment.approved",
        expect = { state = "visit" } },
      { at = "+3d", as = "officer1", act = "visit.completed", data = p.visited,
        expect = { state = "monitoring",
                   timers = { { event = "monitoring.expired", due = "+368d" } } } },
      { as = "officer1", act = "repeat_referral", refused = { exit = 77 } },
      -- the same image seen elsewhere: linked, but no escalation
      { at = "+30d", as = "analyst1", case = "same_hash",
        refer = p.referral("SCN-ESC-HASH", { hash = string.rep("ab", 16) }),
        expect = { case = "main", state = "monitoring" } },
      -- the same account again: the warned case escalates at once
      { at = "+40d", as = "analyst1", case = "same_account",
        refer = p.referral("SCN-ESC-2", { accounts = account }),
        expect = { case = "main", state = "enforcement", deadline = "+41d",
                   timers = {}, tasks = { { kind = "escalation", role = "officer",
                                            status = "open" } },
                   data = { ["escalation.from"] = "monitoring" } } },
      { case = "same_account", expect = { state = "authorisation" } },
    }
  ),
}
