-- Hostile workflow script (tests/e2e/robust_hostile.sh): an endless loop at load time
-- expect: deploy=70 check=65
while true do end
return workflow {
  name = "hostile_load_endless", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          return nil
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
