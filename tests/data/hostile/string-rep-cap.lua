-- Hostile workflow script (tests/e2e/robust_hostile.sh): string.rep just under the memory cap, in a loop (minutes of C without the hook)
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_string_rep_cap", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          for i = 1, 1e9 do local s = string.rep("x", 15 << 20) end
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
