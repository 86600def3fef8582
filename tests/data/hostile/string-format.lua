-- Hostile workflow script (tests/e2e/robust_hostile.sh): string.format with absurd widths
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_string_format", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          return string.format("%99999999999d", 1)
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
