-- Hostile workflow script (tests/e2e/robust_hostile.sh): math and tonumber on a number written as 8 MiB of digits, in a loop
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_number_string_loop", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local d = string.rep(string.rep("1", 1024), 8192)
          for i = 1, 1e9 do local r = tonumber(d) + math.floor(d) end
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
