-- Hostile workflow script (tests/e2e/robust_hostile.sh): table.sort with a C function as comparator (no hook runs), in a loop
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_sort_comparator", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local t = {}
          for i = 1, 30000 do t[i] = (i * 7919) % 30011 end
          for i = 1, 1e9 do table.sort(t, rawequal) end
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
