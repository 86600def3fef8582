-- Hostile workflow script (tests/e2e/robust_hostile.sh): an endless loop
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_endless_loop", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          while true do end
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
