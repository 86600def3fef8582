-- Hostile workflow script (tests/e2e/robust_hostile.sh): calling workflow{} from inside a transition
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_load_workflow_twice", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          workflow { name = "other" }
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
