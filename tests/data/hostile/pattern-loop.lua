-- Hostile workflow script (tests/e2e/robust_hostile.sh): a backtracking pattern the old cost estimate allowed, in a loop
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_pattern_loop", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local s = string.rep("a", 400)
          for i = 1, 1e9 do s:find(".-.-b") end
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
