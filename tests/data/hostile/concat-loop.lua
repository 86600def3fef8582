-- Hostile workflow script (tests/e2e/robust_hostile.sh): table.concat of a long table, in a loop
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_concat_loop", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local t = {}
          for i = 1, 100000 do t[i] = "ab" end
          for i = 1, 1e9 do local s = table.concat(t, ",") end
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
