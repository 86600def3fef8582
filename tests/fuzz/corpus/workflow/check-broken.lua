local M = {}

error("broken on purpose")
return M
