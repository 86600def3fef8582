-- A misspelt timer event: tick could never fire it (line 7).
return workflow {
  name = "timer",
  version = 1,
  initial = "monitoring",
  states = {
    monitoring = {
      timer = { days = 365, event = "monitoring.expird" },
      on = { ["monitoring.expired"] = { to = "closed", system = true } },
    },
    closed = { final = true },
  },
}
