-- The workflow of tests/e2e/abi_compat.sh: one state whose step is the
-- "abi10" test plugin, built against the oldest supported plugin header.
return workflow {
  name = "abi10", version = 1, initial = "waiting",
  states = {
    waiting = {
      step = "abi10", roles = { "officer" },
      on = { submit = "waiting", done = "done" },
    },
    done = { final = true },
  },
}
