-- Hostile workflow script (tests/e2e/robust_hostile.sh): an error object whose __tostring loops
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_error_tostring", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          error(setmetatable({}, { __tostring = function() while true do end end }))
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
