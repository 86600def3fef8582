-- Tick test workflow for the engine's unit tests: every case waits two days
-- for its timer, which closes it, unless its data says "refuse": then the
-- timer's transition refuses (a Lua error), and the timer stays.
return workflow {
  name = "tickflow", version = 1, initial = "start",
  states = {
    start = { step = "good", config = { emit = "next" }, on = { next = "waiting" } },
    waiting = {
      step = "good", roles = { "officer" },
      timer = { days = 2, event = "expired" },
      on = {
        submit = "waiting",
        expired = {
          to = function(case)
            if case.data.refuse then error("not this one") end
            return "done"
          end,
          targets = { "done" },
          system = true,
        },
      },
    },
    done = { final = true },
  },
}
