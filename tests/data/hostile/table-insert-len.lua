-- Hostile workflow script (tests/e2e/robust_hostile.sh): table.insert into a table whose __len lies
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_table_insert_len", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local t = setmetatable({}, { __len = function() return math.maxinteger end })
          table.insert(t, 1, "x")
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
