-- Hostile workflow script (tests/e2e/robust_hostile.sh): gsub with a backtracking pattern and a callback
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_pattern_gsub", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local s = string.rep("a", 40000)
          s:gsub("a-a-a-a-a-a-a-b", function() end)
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
