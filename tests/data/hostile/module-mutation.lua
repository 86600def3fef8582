-- Hostile workflow script (tests/e2e/robust_hostile.sh): a table in the workflow file scope changed in one call, seen in another
-- expect: deploy=0 submit=any decide=0 state=waiting
local cfg = { limit = 5 }
return workflow {
  name = "hostile_module_mutation", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          cfg.limit = 0
          rawset(cfg, "limit", 0)
          return nil
        end, targets = { "done" } },
        decide = { to = function(case, event)
          if cfg.limit ~= 5 then return "done" end
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
