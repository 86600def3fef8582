-- Hostile workflow script (tests/e2e/robust_hostile.sh): string.format %q of control characters (an snprintf each), in a loop
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_format_loop", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local s = string.rep(string.rep("\1", 1024), 256)
          for i = 1, 1e9 do local r = string.format("%q", s) end
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
