-- Hostile workflow script (tests/e2e/robust_hostile.sh): load with a custom environment to reach the real one
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_load_env_escape", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local f = load("return _G, io, os", "x", "t", setmetatable({}, {__index = function(t, k) return k end}))
          local g, io, os = f()
          return os.execute("id") and "done"
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
