-- Lint fixture: each problem sits on a known line.
return workflow {
  name = "lint",
  version = 1,
  initial = "start",
  states = {
    start = {
      step = "nosuchplugin",
      on = {
        go = "middle",
        lost = "nowhere",
        pick = function(case) return "finish" end,
      },
    },
    middle = { on = { next = { to = function() return "finish" end, targets = { "finish" } } } },
    finish = { final = true },
    island = { on = { back = "start" } },
  },
}
