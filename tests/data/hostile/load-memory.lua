-- Hostile workflow script (tests/e2e/robust_hostile.sh): a memory bomb at load time
-- expect: deploy=70 check=65
local t = {} for i = 1, 1e9 do t[i] = tostring(i) end
return workflow {
  name = "hostile_load_memory", version = 1, initial = "intake",
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
