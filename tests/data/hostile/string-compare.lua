-- Hostile workflow script (tests/e2e/robust_hostile.sh): comparing strings of NULs (one strcoll per byte, one VM instruction each): only the watchdog stops it
-- expect: deploy=0 submit=70 state=waiting
-- Built while loading, which has its own budget; 6 MiB each.
local Z = string.rep(string.rep("\0", 1024), 6144)
local Z2 = string.rep(string.rep("\0", 1024), 6144)
return workflow {
  name = "hostile_string_compare", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      on = {
        submit = { to = function(case, event)
          local n = 0
          for i = 1, 1e9 do if Z < Z2 then n = n + 1 end end
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
