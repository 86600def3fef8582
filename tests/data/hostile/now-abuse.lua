-- Hostile workflow script (tests/e2e/robust_hostile.sh): now() to see the OS clock
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_now_abuse", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          if now() ~= 1793700000 then return "done" end
          error("the engine clock, as it should be")
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
