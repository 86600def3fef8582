-- Hostile workflow script (tests/e2e/robust_hostile.sh): collectgarbage
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_collectgarbage", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          collectgarbage("stop")
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
