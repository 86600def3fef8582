-- Hostile workflow script (tests/e2e/robust_hostile.sh): endless recursion
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_endless_recursion", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local function f(n) return f(n + 1) + 1 end
          return f(1)
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
