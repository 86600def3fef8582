-- Hostile workflow script (tests/e2e/robust_hostile.sh): an upvalue counter changed in one call, seen in another
-- expect: deploy=0 submit=any decide=0 state=waiting
local calls = 0
local seen = {}
return workflow {
  name = "hostile_upvalue_mutation", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          calls = calls + 1
          seen[#seen + 1] = case.id
          return nil
        end, targets = { "done" } },
        decide = { to = function(case, event)
          if calls > 0 or #seen > 0 then return "done" end
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
