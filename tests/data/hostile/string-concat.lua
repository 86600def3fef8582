-- Hostile workflow script (tests/e2e/robust_hostile.sh): doubling a string until memory runs out
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_string_concat", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local s = "x"
          while true do s = s .. s end
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
