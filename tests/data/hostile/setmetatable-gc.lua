-- Hostile workflow script (tests/e2e/robust_hostile.sh): setmetatable with __gc
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_setmetatable_gc", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          setmetatable({}, { __gc = function() while true do end end })
          return "done"
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
