-- Tick test workflow (tests/e2e/robust_tick.sh): every case waits a day for
-- its timer, which closes it. A case an officer dooms waits in "doomed"
-- instead, where the same timer leads into "crashing", whose test plugin
-- "misbehave" (tests/plugins/misbehave.c) crashes the process on entry.
return workflow {
  name = "ticking", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "waiting" } },
    waiting = {
      roles = { "officer" }, timer = { days = 1, event = "expired" },
      on = { expired = { to = "done", system = true }, doom = "doomed" },
    },
    doomed = {
      roles = { "officer" }, timer = { days = 1, event = "expired" },
      on = { expired = { to = "crashing", system = true }, spare = "done" },
    },
    crashing = {
      step = "misbehave", config = { enter = "segv" }, roles = { "officer" },
      on = { close = "done" },
    },
    done = { final = true },
  },
}
