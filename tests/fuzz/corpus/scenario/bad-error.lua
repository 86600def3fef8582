local x = nil
return { start = "2026-11-03T10:00:00Z", steps = { { tick = x.y } } }
