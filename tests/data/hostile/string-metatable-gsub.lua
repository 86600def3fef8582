-- Hostile workflow script (tests/e2e/robust_hostile.sh): ("").gsub's environment through the string metatable
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_string_metatable_gsub", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local s = ("x")
          local lib = getmetatable(s) and getmetatable(s).__index
          if lib then lib.upper = function() return "done" end end
          error("no string metatable: " .. tostring(lib))
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
