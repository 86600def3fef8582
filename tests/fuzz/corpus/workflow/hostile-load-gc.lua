-- Hostile workflow script (tests/e2e/robust_hostile.sh): setmetatable with __gc at load time
-- expect: deploy=65 check=65
setmetatable({}, { __gc = function() os.exit(1) end })
return workflow {
  name = "hostile_load_gc", version = 1, initial = "intake",
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
