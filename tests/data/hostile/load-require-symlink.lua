-- Hostile workflow script (tests/e2e/robust_hostile.sh): require of a module that is a symlink out of the directory (made by the test)
-- expect: deploy=65 check=65
local x = require("outside")
return workflow {
  name = "hostile_load_require_symlink", version = 1, initial = "intake",
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
