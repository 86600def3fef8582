-- Hostile workflow script (tests/e2e/robust_hostile.sh): require of ../x
-- expect: deploy=65 check=65
local x = require("../x")
return workflow {
  name = "hostile_load_require_parent", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          return nil
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
