return workflow {
  name = "fuzzstr", version = 2, initial = "a",
  config = { list = { 1, 2, 3 }, nested = { x = { y = "z" } } },
  states = {
    a = { step = "good", roles = { "officer" }, timer = { days = 1, hours = 2, event = "go" },
      deadline = { minutes = 30 },
      on = { go = function(case, event)
        local s = string.rep("ab", 10, ",")
        local t = {}
        for w in s:gmatch("[^,]+") do t[#t + 1] = w:upper() end
        table.sort(t)
        if #t == 10 and utf8.len("\u{e9}t\u{e9}") == 3 and math.floor(now() / 86400) > 0 then
          return "b"
        end
        return nil
      end } },
    b = { final = true },
  },
}
