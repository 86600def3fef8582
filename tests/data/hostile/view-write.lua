-- Hostile workflow script (tests/e2e/robust_hostile.sh): writing into the read-only case view
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_view_write", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          case.data.referral = nil
          case.state = "done"
          rawset(case, "state", "done")
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
