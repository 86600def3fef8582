local broken = require("broken")
return workflow { name = "modfail", version = 1, initial = "a", states = { a = { final = true } } }
