-- Hostile workflow script (tests/e2e/robust_hostile.sh): gsub over an 8 MiB subject with a match at every byte, in a loop
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_gsub_many", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local s = string.rep(string.rep("a", 1024), 8192)
          for i = 1, 1e9 do s:gsub("a", "b") end
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
