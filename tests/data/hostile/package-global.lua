-- Hostile workflow script (tests/e2e/robust_hostile.sh): package.loadlib and package.loaded
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_package_global", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local io = package.loaded.io or package.loadlib("libc.so.6", "system")
          return io and "done"
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
