-- Hostile workflow script (tests/e2e/robust_hostile.sh): an endless loop whose budget error is caught by pcall
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_endless_loop_pcall", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          for i = 1, 100 do pcall(function() while true do end end) end
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
