-- Hostile workflow script (tests/e2e/robust_hostile.sh): table.unpack of a huge range
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_table_unpack", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          return table.unpack({}, 1, 1e8)
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
