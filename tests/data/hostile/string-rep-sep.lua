-- Hostile workflow script (tests/e2e/robust_hostile.sh): string.rep with a separator, repeated concatenation
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_string_rep_sep", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local s = string.rep("ab", 1e6, string.rep("c", 1e3))
          s = s .. s .. s .. s
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
