-- Hostile workflow script (tests/e2e/robust_hostile.sh): table.concat of a huge array built by table.move
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_table_concat", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local t = table.move({1}, 1, 1 << 40, 2)
          return table.concat(t) and "done"
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
