-- Hostile workflow script (tests/e2e/robust_hostile.sh): string.dump and load of its binary chunk
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_string_dump", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local f = load(string.dump(function() return "done" end))
          return f()
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
