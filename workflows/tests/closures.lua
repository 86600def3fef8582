-- Cases that close early, each with its outcome: the authoriser refuses the
-- communications-data application; the provider finds no subscriber. A
-- closed case takes no further event.
local p = require("_polit")

return {
  name = "closures: authorisation refused, no trace",
  workflow = "../polit.lua",
  start = "2026-11-03T10:00:00Z",
  users = p.users,
  referral = p.referral("SCN-CLOSE-1"),
  steps = {
    { at = "+1h", as = "officer1", act = "authorisation.applied", data = p.applied },
    { as = "officer1", act = "authorisation.refused", data = { reason = "x" },
      refused = { exit = 77 } },
    { as = "authoriser1", act = "authorisation.refused", data = { reason = "not proportionate" },
      expect = { state = "closed", outcome = "authorisation_refused", timers = {} } },
    { as = "officer1", act = "authorisation.applied", data = p.applied,
      refused = { exit = 65 } },
    { at = "+1d", as = "analyst1", refer = p.referral("SCN-CLOSE-2"), case = "no_trace" },
    { case = "no_trace", as = "officer1", act = "authorisation.applied", data = p.applied },
    { case = "no_trace", as = "authoriser1", act = "authorisation.granted", data = p.granted },
    { case = "no_trace", as = "supervisor1", act = "subscriber.no_trace",
      data = { reason = "address not allocated at that time" }, refused = { exit = 77 } },
    { case = "no_trace", as = "analyst1", act = "subscriber.no_trace",
      data = { reason = "address not allocated at that time" },
      expect = { state = "closed", outcome = "no_trace" } },
  },
}
