-- Test workflow for the engine's unit tests, driven by the test-only "good"
-- plugin (tests/plugins/good.c), whose input decides what it does.
return workflow {
  name = "flowfail", version = 1, initial = "start",
  states = {
    start = {
      step = "good", config = { emit = "next", set = { intake = true } },
      on = { next = "waiting" },
    },
    waiting = {
      step = "failinit", roles = { "officer" },
      timer = { days = 2, event = "expired" },
      on = {
        submit = "waiting",
        update = { to = "review", roles = { "analyst" } },
        approve = { to = "done", roles = { "supervisor" }, four_eyes = "submit" },
        decide = {
          to = function(case, event)
            if case.data.loop then while true do end end
            if case.data.score and case.data.score > 5 then return "review" end
            return nil
          end,
          targets = { "review" },
        },
        reject = {
          to = function(case)
            if case.data.explode then error("boom") end
            return "done"
          end,
          targets = { "done" },
        },
        expired = { to = "done", system = true },
      },
    },
    review = {
      step = "good", roles = { "officer" },
      on = { submit = "waiting" },
    },
    done = { final = true },
  },
}
