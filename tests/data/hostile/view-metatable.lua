-- Hostile workflow script (tests/e2e/robust_hostile.sh): the metatable of the case view
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_view_metatable", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local mt = getmetatable(case)
          local raw = mt.__index
          return raw and "done" or error("protected: " .. tostring(mt))
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
