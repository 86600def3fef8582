-- Hostile workflow script (tests/e2e/robust_hostile.sh): a very long string.rep
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_string_rep", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local s = string.rep("x", 1 << 40)
          return #s > 0 and "done"
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
