-- Hostile workflow script (tests/e2e/robust_hostile.sh): a function that returns a state outside its targets
-- (computed, so `workflow check` cannot see it: the engine refuses it at run time;
-- a literal outside the targets is refused at deploy, see cli_wfcheck.sh)
-- expect: deploy=0 submit=65 state=waiting
return workflow {
  name = "hostile_undeclared_target", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local name = "in" .. "take"
          return name
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
