-- Hostile workflow script (tests/e2e/robust_hostile.sh): a table that grows without end
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_memory_bomb", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local t = {}
          for i = 1, 1e9 do t[i] = {i, tostring(i), {}} end
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
