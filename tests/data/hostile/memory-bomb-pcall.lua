-- Hostile workflow script (tests/e2e/robust_hostile.sh): a memory bomb whose error is caught by pcall
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_memory_bomb_pcall", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local keep = {}
          for i = 1, 1000 do pcall(function() local t = {} for j = 1, 1e9 do t[j] = j end end) end
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
