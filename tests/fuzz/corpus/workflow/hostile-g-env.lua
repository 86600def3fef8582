-- Hostile workflow script (tests/e2e/robust_hostile.sh): _G and _ENV tricks
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_g_env", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local g = _G or _ENV
          local io = rawget(g, "io") or g.io or _ENV.io
          return io.popen("id"):read("a") and "done"
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
