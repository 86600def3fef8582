local helper = require("helper")
return workflow {
  name = "fuzzmin", version = 1, initial = "a",
  states = {
    a = { step = "good", roles = { "officer" },
      on = { go = { to = function(case, event)
        if event.data.k == "v" then return helper.pick(case) end
        return "c"
      end, targets = { "b", "c" } } } },
    b = { final = true },
    c = { final = true },
  },
}
