-- Hostile workflow script (tests/e2e/robust_hostile.sh): string.dump at load time
-- expect: deploy=65 check=65
local d = string.dump(print)
return workflow {
  name = "hostile_load_string_dump", version = 1, initial = "intake",
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
