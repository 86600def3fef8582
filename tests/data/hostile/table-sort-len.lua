-- Hostile workflow script (tests/e2e/robust_hostile.sh): table.sort over a __len that lies
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_table_sort_len", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local t = setmetatable({}, { __len = function() return 1 << 50 end })
          table.sort(t)
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
