-- Hostile workflow script (tests/e2e/robust_hostile.sh): load(..., "b") asking for binary mode
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_load_mode_b", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local f, e = load("return 'done'", "x", "b")
          if f then error("mode b was ignored and a text chunk loaded (harmless): " .. tostring(f())) end
          error(e)
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
