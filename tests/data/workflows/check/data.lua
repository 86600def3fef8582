-- Event data read but not declared.
local function after(case, event)
  if event.data.letter_isued == true then return "warning" end -- line 3
  return "monitoring"
end

return workflow {
  name = "data",
  version = 1,
  initial = "visit",
  states = {
    visit = {
      on = {
        completed = { to = after, targets = { "warning", "monitoring" },
                      data = { letter_issued = "boolean",
                               notes = { type = "string", required = false } } },
        again = { to = function(case, ev)
          if ev.data["urgent"] then return "warning" end  -- line 18: no data declared
          return nil
        end, targets = { "warning" } },
      },
    },
    warning = { on = { sent = "monitoring" } },
    monitoring = { final = true },
  },
}
