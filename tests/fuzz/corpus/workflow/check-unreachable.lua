return workflow {
  name = "unreach",
  version = 1,
  initial = "a",
  states = {
    a = { on = { go = "b" } },
    b = { final = true },
    c = { on = { go = "b" } },
  },
}
