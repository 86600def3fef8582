-- Hostile workflow script (tests/e2e/robust_hostile.sh): load of a hand-made binary chunk
-- expect: deploy=0 submit=70 state=waiting
return workflow {
  name = "hostile_binary_chunk", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local f, e = load("\27LuaT\0\25\147\r\n\26\n\4\8\8xV\0\0\0\0\0\0\0\0\0\0\0(w@\1")
          if f then return f() end
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
