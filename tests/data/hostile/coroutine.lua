-- Hostile workflow script (tests/e2e/robust_hostile.sh): coroutines to escape the budget
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_coroutine", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local co = coroutine.wrap(function() while true do coroutine.yield() end end)
          for i = 1, 1e12 do co() end
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
