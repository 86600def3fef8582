-- Hostile workflow script (tests/e2e/robust_hostile.sh): require of etc.passwd inside the directory (absent)
-- expect: deploy=65 check=65
local x = require("etc.passwd")
return workflow {
  name = "hostile_load_require_missing", version = 1, initial = "intake",
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
