-- Hostile workflow script (tests/e2e/robust_hostile.sh): a function that returns a table, not a state name
-- expect: deploy=0 submit=65 state=waiting
return workflow {
  name = "hostile_bad_return", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          return { "done" }
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
