-- Hostile workflow script (tests/e2e/robust_hostile.sh): changing globals and libraries in one call, seen in another
-- expect: deploy=0 submit=any decide=0 state=waiting
return workflow {
  name = "hostile_global_mutation", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          marker = true
          _G.marker2 = true
          string.marker = true
          math.pi = 3
          return nil
        end, targets = { "done" } },
        decide = { to = function(case, event)
          if marker or rawget(_G, "marker2") or string.marker or math.pi == 3 then return "done" end
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
