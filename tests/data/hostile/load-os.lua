-- Hostile workflow script (tests/e2e/robust_hostile.sh): os at load time
-- expect: deploy=65 check=65
os.execute("touch /tmp/caseflow-hostile-pwned")
return workflow {
  name = "hostile_load_os", version = 1, initial = "intake",
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
