-- A complete synthetic workflow exercising every part of the DSL.
local policy = require("policy")
local util = require("lib.util")

return workflow {
  name = "polit",
  version = 3,
  initial = "intake",
  config = { region = "west", limits = { 1, 2, 3 }, nested = { deep = { ok = true } } },
  assets = { "letters/warning.txt" },
  states = {
    intake = {
      step = "referral",
      config = { sources = { "NCA-CEOP" }, max = 5, ratio = 0.5, empty = {} },
      roles = { "officer", "analyst" },
      deadline = { days = 1, hours = 2 },
      on = {
        accepted = "assessment",
        rejected = "closed",
      },
    },
    assessment = {
      step = "assessment",
      roles = { "supervisor" },
      on = {
        approved = function(case, event)
          if policy.visit_eligible(case) then return "visit" end
          return "closed"
        end,
        ["assessment.review"] = {
          to = function(case) return util.pick(case) end,
          targets = { "visit", "closed" },
          roles = { "authoriser" },
          four_eyes = "approved",
        },
        hold = { to = "monitoring", system = true },
      },
    },
    visit = { on = { done = "monitoring" } },
    monitoring = {
      step = "monitoring",
      timer = { days = 365, event = "monitoring.expired" },
      on = { ["monitoring.expired"] = "closed", repeat_referral = "assessment" },
    },
    closed = { final = true },
  },
}
