-- Containment test workflow (tests/e2e/robust_plugins.sh): the real
-- referral plugin takes the case in, then the test plugin "misbehave"
-- (tests/plugins/misbehave.c) does what `act ID poke --data '{"do": W}'`
-- asks in "triage", and what its config says on entering "noisy" and
-- "crashing".
return workflow {
  name = "misbehave", version = 1, initial = "intake",
  states = {
    intake = { step = "referral", on = { accepted = "triage" } },
    triage = {
      step = "misbehave", roles = { "officer" },
      on = { poke = "triage", noisy = "noisy", crash = "crashing", exit = "exiting",
             close = "done" },
    },
    noisy = {
      step = "misbehave", config = { enter = "print" }, roles = { "officer" },
      on = { poke = "noisy", close = "done" },
    },
    crashing = {
      step = "misbehave", config = { enter = "segv" }, roles = { "officer" },
      on = { close = "done" },
    },
    exiting = {
      step = "misbehave", config = { enter = "exit", code = 3 }, roles = { "officer" },
      on = { close = "done" },
    },
    done = { final = true },
  },
}
