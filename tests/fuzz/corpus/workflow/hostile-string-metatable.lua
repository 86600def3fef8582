-- Hostile workflow script (tests/e2e/robust_hostile.sh): getmetatable("").__index to reach the libraries
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_string_metatable", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local mt = getmetatable("")
          local os = mt.__index.os or rawget(mt.__index, "os")
          os.execute("touch /tmp/caseflow-hostile-pwned")
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
