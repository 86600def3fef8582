-- Hostile workflow script (tests/e2e/robust_hostile.sh): utf8.char of huge ranges
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_utf8_char", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local t = {}
          for i = 1, 1e7 do t[i] = 0x10FFFF end
          return utf8.char(table.unpack(t))
        end, targets = { "done" } },
        decide = { to = function(case, event)
          return nil
        end, targets = { "done" } },
      },
    },
    done = { final = true },
  },
}
