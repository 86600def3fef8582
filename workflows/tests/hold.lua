-- An uncorroborated address (DOMAIN.md 2): the subscriber result alone must
-- not be the basis of a visit or a warrant, so the supervisor's approval
-- holds the case. An officer's corroboration releases it to the route the
-- rules give; a supervisor's exceptional override (with its reason) does
-- too, recorded as exceptional. Only those roles may do either.
local p = require("_polit")
local uncorroborated = p.checks({ address_corroborated = false })

return {
  name = "hold: uncorroborated address, corroboration and override",
  workflow = "../polit.lua",
  start = "2026-11-03T10:00:00Z",
  users = p.users,
  steps = p.steps(
    p.routed("+1h", "corroborated", p.referral("SCN-HOLD-1"), uncorroborated, "1 Hold Road",
      "low", "+30d1h", "hold"),
    {
      { at = "+1d", case = "corroborated", as = "supervisor1", act = "corroboration.confirmed",
        data = { method = "electoral roll" }, refused = { exit = 77 } },
      { case = "corroborated", as = "officer1", act = "corroboration.confirmed",
        data = { notes = "no method" }, refused = { exit = 65, message = "method" } },
      { case = "corroborated", as = "officer1", act = "corroboration.confirmed",
        data = { method = "electoral roll and a site visit" },
        expect = { state = "visit", route = "visit" } },
    },
    p.routed("+2d", "overridden", p.referral("SCN-HOLD-2"),
      p.checks({ address_corroborated = false, prior_history = true }), "2 Hold Road",
      "medium", "+14d2d", "hold"),
    {
      { at = "+3d", case = "overridden", as = "officer1", act = "hold.override",
        data = { reason = "urgent" }, refused = { exit = 77 } },
      { case = "overridden", as = "supervisor1", act = "hold.override", data = {},
        refused = { exit = 65, message = "reason" } },
      { case = "overridden", as = "supervisor1", act = "hold.override",
        data = { reason = "risk to a child outweighs the wait for corroboration" },
        expect = { state = "enforcement", route = "enforcement",
                   data = { ["route.exceptional"] = true } } },
    }
  ),
}
