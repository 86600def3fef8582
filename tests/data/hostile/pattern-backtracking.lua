-- Hostile workflow script (tests/e2e/robust_hostile.sh): a pattern backtracking bomb
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_pattern_backtracking", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local s = string.rep("a", 50000)
          if s:find(".-.-.-.-.-.-.-.-.-.-b") then return "done" end
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
