return workflow {
  name = "syntax",
  version = 1,
  initial = "a"
  states = { a = { final = true } },
}
