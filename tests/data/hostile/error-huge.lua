-- Hostile workflow script (tests/e2e/robust_hostile.sh): an error message of many megabytes
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_error_huge", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          error(string.rep("e", 8 * 1024 * 1024))
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
