-- Guards whose literal results break live cases; each on a known line.
local function pick(case, event)
  local function label() return "not a result" end -- nested: not the guard's
  if case.data.a then return "visti" end            -- line 4: not a state
  if case.data.b then return "closed" end           -- line 5: not among targets
  if case.data.c then return [[visit]] end          -- fine
  return nil
end

return workflow {
  name = "guard",
  version = 1,
  initial = "start",
  states = {
    start = {
      on = {
        go = { to = pick, targets = { "visit" } },
        wait = { to = function(case) if case.data.x then return nil end end,
                 targets = { "visit" } },                                   -- line 18: no-result
        any = { to = function(case) return case.data.next end },            -- line 20: no-targets
      },
    },
    visit = { on = { done = "closed" } },
    closed = { final = true },
  },
}
